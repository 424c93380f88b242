/*
 * store.c -- the SQLite database.  store_event() sums events in memory,
 * per row they will change (a server-side account, a relay, an
 * account's address, a client address, a bucket of windowed counts);
 * store_incident() keeps the latest copy of each incident incident.c
 * changed.  store_commit() writes the whole batch and every source's
 * checkpoint in one transaction, or nothing.  On failure the batch
 * stays as it was for the next try, so a checkpoint never runs ahead of
 * the counts of the lines before it: each event is counted exactly
 * once.  The schema is built from the migrations in sql/, compiled in
 * as sql.h; the connection enforces its foreign keys.
 *
 * Time is the log's: store_expire() deletes by the newest log time
 * committed, never by the machine's clock, keeps what the backlog read
 * at start wrote (until store_caught_up()), and refuses to delete more
 * than a share of the rows when the log's time jumped ahead of the
 * clock.  It also rolls buckets older than bucket-rollup (two hours by
 * default) up into hourly ones.
 * After a commit that leaves the file over three quarters of its size
 * limit, the rows least worth keeping are folded into a row per client
 * network (store_fold()).  A commit finds the file deleted under it
 * (store_file_check()) and writes it anew from the open connection.
 * The daemon commits with store_write() and leaves what follows a
 * commit (roll-up, folding, the WAL's checkpoint: store_tidy()) until
 * it wrote the batch's alerts; its WAL is checkpointed by a thread of
 * its own (ckpt.c), never in the loop.
 */

#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "smtpwatch.h"
#include "sql.h"

#define BUSY_MS		50	/* in the loop: fail fast, the daemon retries */
#define OPEN_BUSY_MS	5000	/* at start: nothing to retry from */
#define TAB_MIN		1024	/* hash slots, a power of two */
#define TAB_KEEP	65536	/* after a commit, a bigger table shrinks */
#define INC_KEEP	256	/* the same for the incidents' array */
#define BATCH_BYTES	(1536 * 1024)	/* store_full() */
#define CHUNK_SIZE	(256 * 1024)
#define ALIGN		_Alignof(max_align_t)
/* type, sub, then at most three length-prefixed fields and a time. */
#define KEY_MAX		(2 + 3 * 2 + 2 * SW_NAME_MAX + SW_ACCOUNT_MAX + 8)
#define HELD_TEXT	(SW_HELD_MAX * 21 + 1)
#define APPLICATION_ID	0x534d5457	/* "SMTW": PRAGMA application_id */
#define DEV_VERSIONS	3	/* user_version of the builds before 0.1 */
#define WAL_HEADER	32	/* bytes before the WAL's first frame */
#define WAL_FRAME_HEADER 24	/* bytes before each frame's page */
#define WAL_PAGES	4000	/* frames in the WAL before a checkpoint: a
				   storm's commit writes about 1000, and a
				   page written by several commits is copied
				   into the file once (storm-1m: 7.3..7.8 s
				   with 1000, 6.3..6.4 s with 4000) */
#define CACHE_PRAGMA	"PRAGMA cache_size = -1024"	/* KiB: see store_wal() */
#define ROLLUP_WIDTH	3600	/* older buckets: bucket_rollup */
#define JUMP_SLACK	86400	/* the log's time may run that far ahead
				   of the clock before it counts as a jump */
#define FOLD_AGE	3600	/* folded first: rows quiet that long */
#define FOLD_MAXF	(1L << 20)	/* failures of a row folded at most */

/* What an aggregate of the batch updates. */
enum agg_type {
	AGG_SUBJECT,		/* accounts (server) or relays (client):
				   host, subject; sub = direction */
	AGG_PAIR,		/* account_addrs: host, account, addr */
	AGG_ADDR,		/* addresses: host, addr */
	AGG_BUCKET,		/* buckets: host, key, start; sub = scope */
	AGG_NTYPES
};

enum scope {
	SCOPE_ACCOUNT,
	SCOPE_ADDR,
	SCOPE_RELAY
};

static const char *const scope_names[] = { "account", "addr", "relay" };
	/* and 'fold', written only by store_fold() */
static const char *const dir_names[] = { "server", "client" };
static const char *const inc_kind_names[SW_INC_NKINDS] = {
	"relay", "account", "address", "backend"
};

/* Text held in the arena; cap grows by doubling. */
struct text {
	char		*p;
	size_t		 len, cap;
};

/* Subjects and addresses: the latest failure or trouble event. */
struct detail {
	int		 set;		/* one was seen */
	time_t		 when;
	const char	*diag;		/* interned, or NULL */
	struct text	 reply;
	struct text	 addr, mech;	/* subjects */
	struct text	 account;	/* addresses: the last known one */
	int		 known;		/* ... account holds one */
};

/*
 * One key of the batch and its deltas, as much as its table keeps: a
 * bucket its failures and messages held back (struct agg alone), a pair
 * of account and address its successes and times too (struct pair), a
 * subject or an address every count and its latest failure (struct
 * full).  Each is allocated to its type's size with its key right after
 * it (agg_key()): a storm's batch is four fifths pairs and buckets,
 * which took 150 bytes each when every aggregate had every field.
 */
struct agg {
	struct agg	*next;		/* in its hash chain */
	struct agg	*all;		/* in the list of its type */
	uint64_t	 hash;
	uint64_t	 failures;	/* events of kind SW_EV_FAILURE */
	uint64_t	 held;		/* messages held back (SW_EVF_HELD) */
	uint32_t	 keylen;
	unsigned char	 type;		/* enum agg_type */
};

struct pair {
	struct agg	 a;
	uint64_t	 successes;
	time_t		 first_seen, last_seen;	/* any event */
	struct full	*owner;		/* the pair's account */
};

struct full {
	struct pair	 p;		/* p.owner unused */
	uint64_t	 affected, trouble;	/* events of those kinds */
	time_t		 first_fail, last_fail, last_success;
	sqlite3_int64	 id;		/* an account's row, once known */
	struct detail	 d;
};

struct chunk {
	struct chunk	*next;
	size_t		 size, used;
	max_align_t	 data[];
};

/* A string of an event, its length and FNV hash. */
struct field {
	const char	*p;
	size_t		 len;
	uint64_t	 h;
};

/* The fields of one event the keys are made of. */
struct evf {
	struct field	 host, account, addr, subject;
	int		 known;		/* the account is */
	const char	*diag;
	size_t		 replylen, mechlen;
};

struct key {
	unsigned char	 buf[KEY_MAX];
	size_t		 len;
	uint64_t	 h;
};

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_ACCOUNT,
	ST_RELAY,
	ST_RELAY_SEEN,
	ST_ACCOUNT_ID,
	ST_PAIR,
	ST_ADDR,
	ST_ADDR_SEEN,
	ST_BUCKET,
	ST_INC_NEW,
	ST_INC_UPDATE,
	ST_INC_CLOSE,
	ST_INC_OPEN,
	ST_INC_MAXID,
	ST_PAIR_OK,
	ST_ADDR_OK,
	ST_CP_SAVE,
	ST_CP_LOAD,
	ST_SINCE,
	ST_EXP_ACCOUNTS,
	ST_EXP_PAIRS,
	ST_EXP_ADDRS,
	ST_EXP_RELAYS,
	ST_EXP_INCIDENTS,
	ST_EXP_BUCKETS,
	ST_EXP_FOLDS,
	ST_META_GET,
	ST_META_SET,
	ST_RESET_PAIRS,
	ST_RESET_ACCOUNTS,
	ST_RESET_ADDRS,
	ST_RESET_RELAYS,
	ST_RESET_BUCKETS,
	ST_RESET_INCIDENTS,
	ST_RESET_FOLDS,
	ST_N
};

/*
 * A parameter's index by its name, as the binders pass it: always the
 * same string constant, so the pointer is the key.  Looking names up in
 * SQLite on every bind was 4 % of a storm's catch-up.  A statement's
 * binders name its parameters in the same order every time, so the
 * entry after the last one found is tried first (stmt_param).
 */
#define PINDEX_MAX	24
struct pindex {
	const char	*name;
	int		 idx;
};

/*
 * An incident of the batch: sw_incident's numbers, and its text copied
 * into the arena, NUL-terminated (the subject: subjectlen bytes and a
 * NUL).  A storm's batch holds a copy of each open incident: 1.9 KB
 * each as a struct sw_incident, 3.7 MB for storm-1m's.
 */
struct incrow {
	int64_t		 id;
	enum sw_inc_kind kind;
	const char	*host, *subject;
	size_t		 subjectlen;
	time_t		 opened, last, closed, since, last_alert, login_last;
	uint64_t	 failures, messages, reported;
	uint32_t	 alerts, addresses, accounts, logins;
	const char	*close_reason, *diagnosis, *addr, *reply, *hosts;
	const char	*login_addr;
};

struct sw_store {
	sqlite3		*db;
	char		*path;
	struct sw_storeopt opt;
	sqlite3_stmt	*stmt[ST_N];
	struct pindex	 pidx[ST_N][PINDEX_MAX];	/* names bound so far */
	enum stmt	 curi;
	size_t		 pnext;		/* its pidx entry likely bound next */
	sqlite3_stmt	*cur;		/* being bound, see stmt_begin() */
	int		 berr;		/* first bind error */
	char		 err[256];	/* the last SQLite error */
	int		 failing;	/* commits fail: logged once */
	int		 noaddrindex;	/* in memory: see store_db() */

	/* The batch. */
	struct agg	**tab;
	size_t		 tabsize, nagg;
	struct agg	*list[AGG_NTYPES];
	struct agg	**sorted;	/* apply_list()'s, in key order */
	size_t		 sortcap;
	struct chunk	*arena;
	size_t		 arenabytes;	/* its chunks' sizes */
	size_t		 nevents;
	struct incrow	*inc;		/* by ascending id */
	size_t		 ninc, inccap;
	struct sw_checkpoint *pos;
	size_t		 npos, poscap;

	/* Diagnosis ids, interned: the batch outlives no rules, but
	   owning them costs nothing. */
	char		**diags;
	size_t		 ndiags;
	const struct sw_diagnosis *dlast;
	const char	*dlastid;

	/* The host of the last event: nearly always the same one. */
	char		 host[SW_NAME_MAX];
	struct field	 hostf;

	/* Log times: the batch's events, the newest committed, and the
	   backlog read since store_open() until store_caught_up(). */
	time_t		 bmin, bmax;
	time_t		 newest;
	time_t		 runlo, runhi;	/* runhi 0: nothing yet */
	time_t		 rolled;	/* buckets before it are hourly */
	int		 live;
	int		 refused;	/* an expiry was refused: said */

	/* The file: path, its WAL and shared memory as opened. */
	struct stat	 ids[3];
	int		 known[3];	/* ids[i] was taken */
	int		 replaced;	/* path names another file: said */
	int		 lost;		/* it is gone, not written anew: said */
	int		 isnew;		/* made by this store_open() */
	int		 walpages;	/* frames in the WAL: store_walhook() */
	struct sw_ckpt	*ckpt;		/* the checkpointer, or NULL */
	unsigned long	 ckseen, ckruns;	/* its failures counted below,
					   its checkpoints seen */
	unsigned long	 ckfailed;	/* checkpoints failed, every thread
					   and the store's own */
	unsigned long	 ckrun;		/* of them, since the last success */
	int		 untidy;	/* committed since store_tidy() */
	long long	 pagesize;
	int		 over;		/* cannot fold under the limit: said */
	long long	 floor;		/* the size a fold could not go under */
	unsigned long	 folds;		/* store_fold() runs */
};

static void	 store_file_check(struct sw_store *);
static void	 store_bound(struct sw_store *);
static void	 store_vacuum(struct sw_store *);
static int	 store_exec(struct sw_store *, const char *, const char *);
static int	 stmt_int(struct sw_store *, int64_t *);
static int	 expire_rollup(struct sw_store *, time_t);
static time_t	 rollup_before(const struct sw_store *, time_t);

/*
 * Pieces of the upserts, the batch's value of column c named x c:
 * "excluded." c in an upsert, ":" c (its parameter) in an UPDATE.
 * NEWER: the batch holds the latest failure or trouble event, so the
 * last_* columns take its values.  FIRST, LAST: the earlier or later
 * time, either may be NULL.  ADD: counts add up.
 */
#define NEWER_(x) x "last_event >= coalesce(last_event, " x "last_event)"
#define LATEST_(c, x) c " = CASE WHEN " NEWER_(x) " THEN " x c		\
		    " ELSE " c " END"
#define FIRST_(c, x) c " = coalesce(min(" c ", " x c "), " c ", " x c ")"
#define LAST_(c, x) c " = coalesce(max(" c ", " x c "), " c ", " x c ")"
#define ADD_(c, x) c " = " c " + " x c
#define NEWER	NEWER_("excluded.")
#define LATEST(c) LATEST_(c, "excluded.")
#define FIRST(c) FIRST_(c, "excluded.")
#define LAST(c)	LAST_(c, "excluded.")
#define ADD(c)	ADD_(c, "excluded.")
/* What an incident's later saves change. */
#define INC_SET	"last = :last, failures = :failures, messages = :messages, " \
	"reported = :reported, alerts = :alerts, last_alert = :last_alert, " \
	"addresses = :addresses, accounts = :accounts, "		     \
	"diagnosis = :diagnosis, last_addr = :last_addr, "		     \
	"last_reply = :last_reply, hosts = :hosts, logins = :logins, "	     \
	"login_last = :login_last, login_addr = :login_addr"

/* What a relay's or an address's batch changes in its row. */
#define RELAY_SET(x)							\
	ADD_("failures", x) ", " ADD_("successes", x) ", "		\
	ADD_("affected", x) ", " ADD_("trouble", x) ", "		\
	FIRST_("first_failure", x) ", " LAST_("last_failure", x) ", "	\
	LAST_("last_success", x) ", " LAST_("last_seen", x) ", "	\
	LATEST_("last_addr", x) ", " LATEST_("last_reply", x) ", "	\
	LATEST_("last_diagnosis", x) ", " LAST_("last_event", x)
#define ADDR_SET(x)							\
	ADD_("failures", x) ", " ADD_("successes", x) ", "		\
	ADD_("trouble", x) ", " FIRST_("first_failure", x) ", "		\
	LAST_("last_failure", x) ", " LAST_("last_success", x) ", "	\
	LAST_("last_seen", x) ", "					\
	"last_account = CASE WHEN " NEWER_(x) " THEN "			\
	"coalesce(" x "last_account, last_account) "			\
	"ELSE last_account END, "					\
	LATEST_("last_reply", x) ", " LATEST_("last_diagnosis", x) ", "	\
	LAST_("last_event", x)

/* Every statement, prepared once by store_open(). */
static const char *const stmt_sql[ST_N] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_ACCOUNT] =
	    "INSERT INTO accounts (host, direction, account, failures, "
	    "successes, affected, trouble, first_failure, last_failure, "
	    "last_success, last_seen, last_event, last_addr, last_reply, "
	    "last_diagnosis, last_mech) "
	    "VALUES (:host, :dir, :subject, :failures, :successes, :affected, "
	    ":trouble, :first_failure, :last_failure, :last_success, "
	    ":last_seen, :last_event, :last_addr, :last_reply, "
	    ":last_diagnosis, :last_mech) "
	    "ON CONFLICT (host, direction, account) DO UPDATE SET "
	    ADD("failures") ", " ADD("successes") ", " ADD("affected") ", "
	    ADD("trouble") ", " FIRST("first_failure") ", "
	    LAST("last_failure") ", " LAST("last_success") ", "
	    LAST("last_seen") ", " LATEST("last_addr") ", "
	    LATEST("last_reply") ", " LATEST("last_diagnosis") ", "
	    LATEST("last_mech") ", " LAST("last_event"),
	[ST_RELAY] =
	    "INSERT INTO relays (host, relay, failures, affected, successes, "
	    "trouble, first_failure, last_failure, last_success, last_seen, "
	    "last_event, last_addr, last_reply, last_diagnosis) "
	    "VALUES (:host, :relay, :failures, :affected, :successes, "
	    ":trouble, :first_failure, :last_failure, :last_success, "
	    ":last_seen, :last_event, :last_addr, :last_reply, "
	    ":last_diagnosis) "
	    "ON CONFLICT (host, relay) DO UPDATE SET " RELAY_SET("excluded."),
	/* Deliveries alone make no row: they only add to one. */
	[ST_RELAY_SEEN] =
	    "UPDATE relays SET " RELAY_SET(":") " "
	    "WHERE host = :host AND relay = :relay",
	/* An account's id, when its upsert did not insert it: apply_pair. */
	[ST_ACCOUNT_ID] =
	    "SELECT id FROM accounts WHERE host = :host AND "
	    "direction = 'server' AND account = :account",
	/*
	 * By the account's id, not a subquery on accounts by name (two
	 * fifths of the upsert); one row from VALUES, not INSERT ...
	 * SELECT: SQLite opens a statement journal for the latter, a third
	 * of the upsert's cost.
	 */
	[ST_PAIR] =
	    "INSERT INTO account_addrs (account_id, addr, "
	    "failures, successes, first_seen, last_seen) "
	    "VALUES (:account_id, :addr, "
	    ":failures, :successes, :first_seen, :last_seen) "
	    "ON CONFLICT (account_id, addr) DO UPDATE SET "
	    ADD("failures") ", " ADD("successes") ", " FIRST("first_seen")
	    ", " LAST("last_seen"),
	[ST_ADDR] =
	    "INSERT INTO addresses (host, addr, failures, successes, "
	    "trouble, first_failure, last_failure, last_success, last_seen, "
	    "last_event, last_account, last_reply, last_diagnosis) "
	    "VALUES (:host, :addr, :failures, :successes, :trouble, "
	    ":first_failure, :last_failure, :last_success, :last_seen, "
	    ":last_event, :last_account, :last_reply, :last_diagnosis) "
	    "ON CONFLICT (host, addr) DO UPDATE SET " ADDR_SET("excluded."),
	/* Logins alone make no row: they only add to one. */
	[ST_ADDR_SEEN] =
	    "UPDATE addresses SET " ADDR_SET(":") " "
	    "WHERE host = :host AND addr = :addr",
	[ST_BUCKET] =
	    "INSERT INTO buckets (scope, host, key, start, failures, "
	    "affected) VALUES (:scope, :host, :key, :start, :failures, "
	    ":affected) ON CONFLICT (start, scope, host, key) DO UPDATE SET "
	    ADD("failures") ", " ADD("affected"),
	/* Incidents: an open one's counts and texts (its host, kind,
	   subject and opening never change); closing it touches the index
	   of open incidents too, so only a closing update names closed.  A
	   row not yet in the table is inserted. */
	[ST_INC_NEW] =
	    "INSERT INTO incidents (id, host, kind, direction, subject, "
	    "opened, last, closed, close_reason, failures, messages, "
	    "reported, alerts, last_alert, addresses, accounts, diagnosis, "
	    "last_addr, last_reply, hosts, logins, login_last, login_addr) "
	    "VALUES (:id, :host, :kind, :dir, "
	    ":subject, :opened, :last, :closed, :close_reason, :failures, "
	    ":messages, :reported, :alerts, :last_alert, :addresses, "
	    ":accounts, :diagnosis, :last_addr, :last_reply, :hosts, "
	    ":logins, :login_last, :login_addr)",
	[ST_INC_UPDATE] = "UPDATE incidents SET " INC_SET " WHERE id = :id",
	[ST_INC_CLOSE] = "UPDATE incidents SET closed = :closed, "
	    "close_reason = :close_reason, " INC_SET " WHERE id = :id",
	[ST_INC_OPEN] =
	    "SELECT id, kind, host, subject, opened, last, close_reason, "
	    "failures, messages, reported, alerts, last_alert, addresses, "
	    "accounts, diagnosis, last_addr, last_reply, hosts, logins, "
	    "login_last, login_addr FROM incidents "
	    "WHERE closed IS NULL ORDER BY id",
	[ST_INC_MAXID] = "SELECT coalesce(max(id), 0) FROM incidents",
	[ST_PAIR_OK] =
	    "SELECT EXISTS (SELECT 1 FROM accounts a JOIN account_addrs p "
	    "ON p.account_id = a.id WHERE (a.host = :host OR :host = '*') AND "
	    "a.direction = 'server' AND a.account = :account AND "
	    "p.addr = :addr AND p.successes > 0)",
	[ST_ADDR_OK] =
	    "SELECT EXISTS (SELECT 1 FROM addresses WHERE host = :host AND "
	    "addr = :addr AND successes > 0) OR (:host = '*' AND EXISTS "
	    "(SELECT 1 FROM addresses WHERE addr = :addr AND successes > 0))",
	[ST_CP_SAVE] =
	    "INSERT INTO checkpoints (source, dev, ino, fplen, fphash, "
	    "offset, done, held, state, updated, cursor, cursor_seq) VALUES "
	    "(:source, :dev, :ino, :fplen, :fphash, :offset, :done, :held, "
	    ":state, :updated, :cursor, :cursor_seq) "
	    "ON CONFLICT (source) DO UPDATE SET dev = excluded.dev, "
	    "ino = excluded.ino, fplen = excluded.fplen, "
	    "fphash = excluded.fphash, offset = excluded.offset, "
	    "done = excluded.done, held = excluded.held, "
	    "state = excluded.state, updated = excluded.updated, "
	    "cursor = excluded.cursor, cursor_seq = excluded.cursor_seq",
	[ST_CP_LOAD] =
	    "SELECT dev, ino, fplen, fphash, offset, done, held, state, "
	    "updated, cursor, cursor_seq FROM checkpoints "
	    "WHERE source = :source",
	[ST_SINCE] =
	    "SELECT coalesce(sum(failures), 0) FROM buckets "
	    "WHERE start >= :start AND scope IN ('addr', 'relay')",
	/* store_expire(): what the backlog wrote, [:lo, :hi], stays.  An
	   account's addresses first (the cascade would not count them). */
	[ST_EXP_PAIRS] = "DELETE FROM account_addrs WHERE last_seen < :cut "
	    "AND NOT last_seen BETWEEN :lo AND :hi",
	[ST_EXP_ACCOUNTS] = "DELETE FROM accounts WHERE last_seen < :cut "
	    "AND NOT last_seen BETWEEN :lo AND :hi",
	[ST_EXP_ADDRS] = "DELETE FROM addresses WHERE last_seen < :cut "
	    "AND NOT last_seen BETWEEN :lo AND :hi",
	[ST_EXP_RELAYS] = "DELETE FROM relays WHERE last_seen < :cut "
	    "AND NOT last_seen BETWEEN :lo AND :hi",
	[ST_EXP_INCIDENTS] = "DELETE FROM incidents WHERE closed < :cut "
	    "AND NOT last BETWEEN :lo AND :hi",
	[ST_EXP_BUCKETS] = "DELETE FROM buckets WHERE start < :cut "
	    "AND NOT start BETWEEN :lo AND :hi",
	[ST_EXP_FOLDS] = "DELETE FROM folds WHERE last_seen < :cut "
	    "AND NOT last_seen BETWEEN :lo AND :hi",
	[ST_META_GET] = "SELECT value FROM meta WHERE name = :name",
	[ST_META_SET] = "INSERT INTO meta (name, value) VALUES (:name, :value) "
	    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	/* store_reset(): accounts and keys are BLOBs, the others TEXT;
	   :host NULL for every host.  An account's addresses are deleted
	   before it, to be counted; in the order of enum sw_reset_what. */
	[ST_RESET_PAIRS] =
	    "DELETE FROM account_addrs WHERE account_id IN "
	    "(SELECT id FROM accounts WHERE account = :subject "
	    "AND coalesce(:host, host) = host)",
	[ST_RESET_ACCOUNTS] = "DELETE FROM accounts WHERE account = :subject "
	    "AND coalesce(:host, host) = host",
	[ST_RESET_ADDRS] = "DELETE FROM addresses WHERE addr = :text "
	    "AND coalesce(:host, host) = host",
	[ST_RESET_RELAYS] = "DELETE FROM relays WHERE relay = :text "
	    "AND coalesce(:host, host) = host",
	[ST_RESET_BUCKETS] = "DELETE FROM buckets WHERE key = :subject "
	    "AND coalesce(:host, host) = host",
	[ST_RESET_INCIDENTS] =
	    "UPDATE incidents SET closed = last, close_reason = 'reset' "
	    "WHERE closed IS NULL AND subject = :subject "
	    "AND coalesce(:host, host) = host",
	[ST_RESET_FOLDS] = "DELETE FROM folds WHERE network = :text "
	    "AND coalesce(:host, host) = host",
};

/* uint64 to the int64 SQLite stores, bit for bit. */
static sqlite3_int64
u64_to_db(uint64_t v)
{
	return v <= (uint64_t)INT64_MAX ? (sqlite3_int64)v :
	    -(sqlite3_int64)(UINT64_MAX - v) - 1;
}

/* The inverse of u64_to_db(). */
static uint64_t
u64_from_db(sqlite3_int64 v)
{
	return v >= 0 ? (uint64_t)v : UINT64_MAX - (uint64_t)(-(v + 1));
}

/*
 * Statements: stmt_begin() picks one, the bind_*() helpers fill the
 * parameters it names (a name it lacks is skipped: statements share
 * binders) and stmt_run() steps and resets it.  Pointers are bound
 * SQLITE_STATIC: stmt_run() clears them before they can dangle.
 */
static void
stmt_begin(struct sw_store *st, enum stmt i)
{
	st->cur = st->stmt[i];
	st->curi = i;
	st->pnext = 0;
	st->berr = SQLITE_OK;
}

/* The index of parameter name in the current statement, 0 when none. */
static int
stmt_param(struct sw_store *st, const char *name)
{
	struct pindex	*v = st->pidx[st->curi];
	size_t		 i = st->pnext;

	if (i >= PINDEX_MAX || v[i].name != name)
		for (i = 0; i < PINDEX_MAX && v[i].name != NULL &&
		    v[i].name != name; i++)
			continue;
	if (i == PINDEX_MAX)
		return sqlite3_bind_parameter_index(st->cur, name);
	st->pnext = i + 1;
	if (v[i].name == NULL) {
		v[i].name = name;
		v[i].idx = sqlite3_bind_parameter_index(st->cur, name);
	}
	return v[i].idx;
}

/* Keeps the first bind error, for stmt_run() to report. */
static void
bind_rc(struct sw_store *st, int rc)
{
	if (rc != SQLITE_OK && st->berr == SQLITE_OK)
		st->berr = rc;
}

/* Text of len bytes, or NULL when p is NULL. */
static void
bind_text(struct sw_store *st, const char *name, const char *p, size_t len)
{
	int	 i;

	if ((i = stmt_param(st, name)) == 0)
		return;
	if (p == NULL)
		bind_rc(st, sqlite3_bind_null(st->cur, i));
	else
		bind_rc(st, sqlite3_bind_text64(st->cur, i, p, len,
		    SQLITE_STATIC, SQLITE_UTF8));
}

/* A C string, or NULL. */
static void
bind_str(struct sw_store *st, const char *name, const char *s)
{
	bind_text(st, name, s, s != NULL ? strlen(s) : 0);
}

/* Exact bytes (an account), or NULL when p is NULL. */
static void
bind_blob(struct sw_store *st, const char *name, const void *p, size_t len)
{
	int	 i;

	if ((i = stmt_param(st, name)) == 0)
		return;
	if (p == NULL)
		bind_rc(st, sqlite3_bind_null(st->cur, i));
	else
		bind_rc(st, sqlite3_bind_blob64(st->cur, i, p, len,
		    SQLITE_STATIC));
}

/* An integer. */
static void
bind_int(struct sw_store *st, const char *name, sqlite3_int64 v)
{
	int	 i;

	if ((i = stmt_param(st, name)) != 0)
		bind_rc(st, sqlite3_bind_int64(st->cur, i, v));
}

/* A time, or NULL when there is none (set is 0). */
static void
bind_time(struct sw_store *st, const char *name, int set, time_t t)
{
	int	 i;

	if (set) {
		bind_int(st, name, (sqlite3_int64)t);
		return;
	}
	if ((i = stmt_param(st, name)) != 0)
		bind_rc(st, sqlite3_bind_null(st->cur, i));
}

/* Keeps the message of a failure for the one log line about it. */
static void
store_error(struct sw_store *st, int rc, int fromdb)
{
	snprintf(st->err, sizeof(st->err), "%s",
	    fromdb ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
}

/*
 * Steps the current statement to its end (or first row) and resets it.
 * Returns 0, or -1 with the error kept in st->err.
 */
static int
stmt_run(struct sw_store *st)
{
	int	 rc;

	if (st->berr != SQLITE_OK) {
		rc = st->berr;
		store_error(st, rc, 0);
	} else if ((rc = sqlite3_step(st->cur)) != SQLITE_DONE &&
	    rc != SQLITE_ROW)
		store_error(st, rc, 1);
	sqlite3_reset(st->cur);
	sqlite3_clear_bindings(st->cur);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Steps the current statement to its first row and resets it; *v is
 * that row's first column.  Returns 1, 0 when there is no row, or -1
 * with the error kept in st->err.
 */
static int
stmt_row(struct sw_store *st, int64_t *v)
{
	int	 rc;

	if ((rc = st->berr) != SQLITE_OK)
		store_error(st, rc, 0);
	else if ((rc = sqlite3_step(st->cur)) == SQLITE_ROW)
		*v = sqlite3_column_int64(st->cur, 0);
	else if (rc != SQLITE_DONE)
		store_error(st, rc, 1);
	sqlite3_reset(st->cur);
	sqlite3_clear_bindings(st->cur);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Runs a statement without parameters: BEGIN, COMMIT, ROLLBACK. */
static int
stmt_simple(struct sw_store *st, enum stmt i)
{
	stmt_begin(st, i);
	return stmt_run(st);
}

/*
 * The arena holds the batch's aggregates and texts; it is emptied at
 * once after a commit.  Blocks are aligned like malloc's.
 */
static void *
arena_alloc(struct sw_store *st, size_t n)
{
	struct chunk	*c = st->arena;
	size_t		 size;
	void		*p;

	n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (c == NULL || c->size - c->used < n) {
		size = n > CHUNK_SIZE ? n : CHUNK_SIZE;
		c = xmalloc(offsetof(struct chunk, data) + size);
		c->size = size;
		c->used = 0;
		c->next = st->arena;
		st->arena = c;
		st->arenabytes += size;
	}
	p = (unsigned char *)c->data + c->used;
	c->used += n;
	return p;
}

/* Frees every chunk but one, which is kept for the next batch. */
static void
arena_reset(struct sw_store *st, int all)
{
	struct chunk	*c, *next;

	if (st->arena == NULL)
		return;
	for (c = st->arena->next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	st->arena->next = NULL;
	st->arena->used = 0;
	st->arenabytes = st->arena->size;
	if (all) {
		free(st->arena);
		st->arena = NULL;
		st->arenabytes = 0;
	}
}

/* Copies s into t, growing t in the arena when it is too small. */
static void
text_set(struct sw_store *st, struct text *t, const char *s, size_t len)
{
	size_t	 cap;

	if (len > t->cap || t->p == NULL) {
		cap = t->cap * 2 > len ? t->cap * 2 : len;
		if (cap < 16)
			cap = 16;
		t->p = arena_alloc(st, cap);
		t->cap = cap;
	}
	memcpy(t->p, s, len);
	t->len = len;
}

/* The id of a diagnosis, owned by the store; NULL for none. */
static const char *
store_diag(struct sw_store *st, const struct sw_diagnosis *dg)
{
	size_t	 i;

	if (dg == NULL || dg->id == NULL)
		return NULL;
	if (dg == st->dlast && strcmp(st->dlastid, dg->id) == 0)
		return st->dlastid;
	for (i = 0; i < st->ndiags; i++)
		if (strcmp(st->diags[i], dg->id) == 0)
			break;
	if (i == st->ndiags)
		strv_push(&st->diags, &st->ndiags, dg->id);
	st->dlast = dg;
	st->dlastid = st->diags[i];
	return st->dlastid;
}

/* A string of at most max bytes, and its hash. */
static void
field_set(struct field *f, const char *s, size_t max)
{
	f->p = s;
	f->len = strnlen(s, max);
	f->h = hash_mem(HASH_SEED, s, f->len);
}

/* The host field of ev; its hash is kept from the event before. */
static void
store_host(struct sw_store *st, const struct sw_event *ev, struct field *f)
{
	size_t	 len = strnlen(ev->host, sizeof(ev->host));

	if (st->hostf.p == NULL || len != st->hostf.len ||
	    memcmp(st->host, ev->host, len) != 0) {
		memcpy(st->host, ev->host, len);
		field_set(&st->hostf, st->host, len);
	}
	*f = st->hostf;
	f->p = ev->host;
}

/*
 * A key is its type and sub (direction or scope), then each field as a
 * 16-bit little-endian length and its bytes, then for buckets the start
 * time.  The hash mixes the fields' own hashes, so each string of an
 * event is hashed once however many keys it is part of.
 */
static void
key_start(struct key *k, enum agg_type type, int sub)
{
	k->buf[0] = (unsigned char)type;
	k->buf[1] = (unsigned char)sub;
	k->len = 2;
	k->h = HASH_SEED ^ ((uint64_t)type << 8 | (uint64_t)sub);
}

/* Appends a field to k. */
static void
key_add(struct key *k, const struct field *f)
{
	k->buf[k->len++] = (unsigned char)(f->len & 0xff);
	k->buf[k->len++] = (unsigned char)(f->len >> 8);
	memcpy(k->buf + k->len, f->p, f->len);
	k->len += f->len;
	k->h = (k->h ^ f->h) * 0x9e3779b97f4a7c15ULL;
	k->h ^= k->h >> 29;
}

/* Appends a bucket's start time to k, last. */
static void
key_time(struct key *k, time_t t)
{
	int64_t	 v = (int64_t)t;

	memcpy(k->buf + k->len, &v, sizeof(v));
	k->len += sizeof(v);
	k->h = (k->h ^ (uint64_t)v) * 0x9e3779b97f4a7c15ULL;
	k->h ^= k->h >> 29;
}

/* Bytes of an aggregate of each type, its key after them. */
static const size_t agg_size[AGG_NTYPES] = {
	[AGG_SUBJECT] = sizeof(struct full),
	[AGG_PAIR] = sizeof(struct pair),
	[AGG_ADDR] = sizeof(struct full),
	[AGG_BUCKET] = sizeof(struct agg)
};

/* The key of a (see key_start()). */
static const unsigned char *
agg_key(const struct agg *a)
{
	return (const unsigned char *)a + agg_size[a->type];
}

/* A subject or an address: every count. */
static struct full *
agg_full(struct agg *a)
{
	if (a->type != AGG_SUBJECT && a->type != AGG_ADDR)
		fatalx("store: aggregate of type %d is not full", a->type);
	return (struct full *)a;
}

/* Field i of a's key (0 is the host). */
static void
key_field(const struct agg *a, int i, struct field *f)
{
	const unsigned char	*p = agg_key(a) + 2;
	size_t			 len;

	for (;;) {
		len = (size_t)p[0] | (size_t)p[1] << 8;
		if (i-- == 0)
			break;
		p += 2 + len;
	}
	f->p = (const char *)(p + 2);
	f->len = len;
	f->h = 0;
}

/* The start time of a bucket aggregate. */
static time_t
key_start_time(const struct agg *a)
{
	int64_t	 v;

	memcpy(&v, agg_key(a) + a->keylen - sizeof(v), sizeof(v));
	return (time_t)v;
}

/* The slot of hash h in a table of size (a power of two) slots. */
static size_t
tab_slot(uint64_t h, size_t size)
{
	return (size_t)(h ^ h >> 32) & (size - 1);
}

/* Doubles the hash table. */
static void
tab_grow(struct sw_store *st)
{
	struct agg	**tab, *a, *next;
	size_t		 i, size = st->tabsize * 2, s;

	tab = xcalloc(size, sizeof(*tab));
	for (i = 0; i < st->tabsize; i++)
		for (a = st->tab[i]; a != NULL; a = next) {
			next = a->next;
			s = tab_slot(a->hash, size);
			a->next = tab[s];
			tab[s] = a;
		}
	free(st->tab);
	st->tab = tab;
	st->tabsize = size;
}

/* A new aggregate for k, first seen at when. */
static struct agg *
agg_new(struct sw_store *st, const struct key *k, time_t when)
{
	struct agg	*a;
	size_t		 s, size = agg_size[k->buf[0]];

	a = arena_alloc(st, size + k->len);
	memset(a, 0, size);
	a->hash = k->h;
	a->keylen = (uint32_t)k->len;
	a->type = k->buf[0];
	memcpy((unsigned char *)a + size, k->buf, k->len);
	if (a->type != AGG_BUCKET)
		((struct pair *)a)->first_seen =
		    ((struct pair *)a)->last_seen = when;
	a->all = st->list[a->type];
	st->list[a->type] = a;
	s = tab_slot(k->h, st->tabsize);
	a->next = st->tab[s];
	st->tab[s] = a;
	if (++st->nagg > st->tabsize)
		tab_grow(st);
	return a;
}

/* The aggregate of k, made when new. */
static struct agg *
batch_get(struct sw_store *st, const struct key *k, time_t when)
{
	struct agg	*a;

	for (a = st->tab[tab_slot(k->h, st->tabsize)]; a != NULL; a = a->next)
		if (a->hash == k->h && a->keylen == k->len &&
		    memcmp(agg_key(a), k->buf, k->len) == 0)
			return a;
	return agg_new(st, k, when);
}

/* A subject's or an address's part of agg_count(): kinds and times. */
static void
full_count(struct full *f, const struct sw_event *ev)
{
	time_t	 t = ev->when;

	switch (ev->kind) {
	case SW_EV_FAILURE:
		if (f->p.a.failures == 0 || t < f->first_fail)
			f->first_fail = t;
		if (f->p.a.failures == 0 || t > f->last_fail)
			f->last_fail = t;
		break;
	case SW_EV_SUCCESS:
		if (f->p.successes == 0 || t > f->last_success)
			f->last_success = t;
		break;
	case SW_EV_AFFECTED:
		f->affected++;
		break;
	case SW_EV_TROUBLE:
		f->trouble++;
		break;
	default:
		break;
	}
}

/* A pair's part of agg_count() (and a subject's or address's). */
static void
pair_count(struct pair *p, const struct sw_event *ev)
{
	time_t	 t = ev->when;

	if (p->a.type != AGG_PAIR)
		full_count((struct full *)p, ev);
	if (ev->kind == SW_EV_SUCCESS)
		p->successes++;
	if (t < p->first_seen)
		p->first_seen = t;
	if (t > p->last_seen)
		p->last_seen = t;
}

/* Counts ev into a, as much as its type keeps. */
static void
agg_count(struct agg *a, const struct sw_event *ev)
{
	if (a->type != AGG_BUCKET)
		pair_count((struct pair *)a, ev);
	if (ev->kind == SW_EV_FAILURE)
		a->failures++;
	if (ev->flags & SW_EVF_HELD)
		a->held++;
}

/* 1 when an event at when is the latest of d, which it then describes. */
static int
detail_newer(struct detail *d, time_t when)
{
	if (d->set && when < d->when)
		return 0;
	d->set = 1;
	d->when = when;
	return 1;
}

/* An account (server) or relay (client): counts and details. */
static void
subject_event(struct sw_store *st, struct agg *a, const struct sw_event *ev,
    const struct evf *f)
{
	struct detail	*d = &agg_full(a)->d;

	agg_count(a, ev);
	if ((ev->kind == SW_EV_FAILURE || ev->kind == SW_EV_TROUBLE) &&
	    detail_newer(d, ev->when)) {
		d->diag = f->diag;
		text_set(st, &d->reply, ev->reply, f->replylen);
		text_set(st, &d->addr, f->addr.p, f->addr.len);
		text_set(st, &d->mech, ev->mech, f->mechlen);
	}
}

/* A server-side client address. */
static void
address_event(struct sw_store *st, struct agg *a, const struct sw_event *ev,
    const struct evf *f)
{
	struct detail	*d = &agg_full(a)->d;

	agg_count(a, ev);
	if ((ev->kind == SW_EV_FAILURE || ev->kind == SW_EV_TROUBLE) &&
	    detail_newer(d, ev->when)) {
		d->diag = f->diag;
		text_set(st, &d->reply, ev->reply, f->replylen);
		if (f->known) {
			text_set(st, &d->account, f->account.p,
			    f->account.len);
			d->known = 1;
		}
	}
}

/* The start of the bucket holding t. */
static time_t
bucket_start(const struct sw_store *st, time_t t)
{
	long	 w = st->opt.bucket_width > 0 ? st->opt.bucket_width : 60;
	time_t	 r = t % w;

	return r < 0 ? t - r - w : t - r;
}

/*
 * Adds ev to the bucket of (scope, key) holding its time; none in a
 * store whose windowed counts nobody reads (scan's).
 */
static void
bucket_event(struct sw_store *st, const struct sw_event *ev,
    const struct evf *f, enum scope scope, const struct field *kf)
{
	struct key	 k;

	if (st->opt.nobuckets)
		return;
	key_start(&k, AGG_BUCKET, scope);
	key_add(&k, &f->host);
	key_add(&k, kf);
	key_time(&k, bucket_start(st, ev->when));
	agg_count(batch_get(st, &k, ev->when), ev);
}

/*
 * Clients logging in to us: the account (when known), the pair of
 * account and address, the address (when logged), the buckets.
 */
static void
store_event_server(struct sw_store *st, const struct sw_event *ev,
    const struct evf *f)
{
	struct key	 k;
	struct agg	*owner = NULL, *pair;

	if (f->known) {
		key_start(&k, AGG_SUBJECT, SW_DIR_SERVER);
		key_add(&k, &f->host);
		key_add(&k, &f->account);
		owner = batch_get(st, &k, ev->when);
		subject_event(st, owner, ev, f);
	}
	if (f->addr.len > 0 && owner != NULL && (ev->kind == SW_EV_FAILURE ||
	    ev->kind == SW_EV_SUCCESS)) {
		key_start(&k, AGG_PAIR, 0);
		key_add(&k, &f->host);
		key_add(&k, &f->account);
		key_add(&k, &f->addr);
		pair = batch_get(st, &k, ev->when);
		((struct pair *)pair)->owner = agg_full(owner);
		agg_count(pair, ev);
	}
	if (f->addr.len > 0 && ev->kind != SW_EV_AFFECTED) {
		key_start(&k, AGG_ADDR, 0);
		key_add(&k, &f->host);
		key_add(&k, &f->addr);
		address_event(st, batch_get(st, &k, ev->when), ev, f);
	}
	if (ev->kind == SW_EV_FAILURE) {
		bucket_event(st, ev, f, SCOPE_ADDR, &f->addr);
		if (f->known)
			bucket_event(st, ev, f, SCOPE_ACCOUNT, &f->account);
	}
}

/* Us logging in to a relay: the relay (relays only), the buckets. */
static void
store_event_client(struct sw_store *st, const struct sw_event *ev,
    const struct evf *f)
{
	struct key	 k;

	key_start(&k, AGG_SUBJECT, SW_DIR_CLIENT);
	key_add(&k, &f->host);
	key_add(&k, &f->subject);
	subject_event(st, batch_get(st, &k, ev->when), ev, f);
	if (ev->kind == SW_EV_FAILURE || ev->kind == SW_EV_AFFECTED)
		bucket_event(st, ev, f, SCOPE_RELAY, &f->subject);
}

/*
 * Adds one event to the batch; nothing is written before store_commit().
 * Allocates only for keys new to the batch (and texts longer than any
 * before for the same key).  Attributions are not counted yet.
 */
void
store_event(struct sw_store *st, const struct sw_event *ev)
{
	struct evf	 f;

	switch (ev->kind) {
	case SW_EV_FAILURE:
	case SW_EV_SUCCESS:
	case SW_EV_AFFECTED:
	case SW_EV_TROUBLE:
		break;
	default:
		return;
	}
	store_host(st, ev, &f.host);
	field_set(&f.addr, ev->addr, sizeof(ev->addr));
	f.known = (ev->flags & SW_EVF_ACCOUNT) != 0;
	f.account.p = ev->account;
	f.account.len = ev->accountlen < sizeof(ev->account) ?
	    ev->accountlen : sizeof(ev->account);
	f.account.h = hash_mem(HASH_SEED, f.account.p, f.account.len);
	f.diag = store_diag(st, ev->diag);
	f.replylen = strnlen(ev->reply, sizeof(ev->reply));
	f.mechlen = strnlen(ev->mech, sizeof(ev->mech));
	if (ev->dir == SW_DIR_CLIENT) {
		f.subject.p = sw_subject(ev, &f.subject.len);
		f.subject.h = hash_mem(HASH_SEED, f.subject.p, f.subject.len);
		/* A held-back message of no known relay (its failure line
		 * was before the start, or lost) has no row to count in. */
		if (f.subject.len == 0 && ev->kind == SW_EV_AFFECTED)
			return;
		store_event_client(st, ev, &f);
	} else
		store_event_server(st, ev, &f);
	if (st->nevents == 0 || ev->when < st->bmin)
		st->bmin = ev->when;
	if (st->nevents == 0 || ev->when > st->bmax)
		st->bmax = ev->when;
	st->nevents++;
}

/*
 * Records where source cp->source stands, to be written with the batch;
 * replaces a position recorded earlier in the same batch.
 */
void
store_position(struct sw_store *st, const struct sw_checkpoint *cp)
{
	size_t	 i;

	for (i = 0; i < st->npos; i++)
		if (strcmp(st->pos[i].source, cp->source) == 0)
			break;
	if (i == st->npos) {
		if (st->npos == st->poscap) {
			st->poscap = st->poscap == 0 ? 4 : st->poscap * 2;
			st->pos = xreallocarray(st->pos, st->poscap,
			    sizeof(*st->pos));
		}
		memset(&st->pos[st->npos++], 0, sizeof(*st->pos));
	}
	checkpoint_copy(&st->pos[i], cp);
}

/*
 * The slot of id among the batch's incidents: where it is, or where it
 * goes to keep them by ascending id.  New ids mostly come last.
 */
static size_t
inc_slot(const struct sw_store *st, int64_t id)
{
	size_t	 lo = 0, hi = st->ninc, mid;

	if (hi > 0 && st->inc[hi - 1].id < id)
		return hi;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (st->inc[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The len bytes at s and a NUL, in the batch's arena. */
static const char *
arena_text(struct sw_store *st, const char *s, size_t len)
{
	char	*p = arena_alloc(st, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* A field of sw_incident: a C string cut at its size. */
#define INC_TEXT(st, inc, f) \
	arena_text((st), (inc)->f, strnlen((inc)->f, sizeof((inc)->f)))

static void
incrow_fill(struct sw_store *st, struct incrow *to,
    const struct sw_incident *from)
{
	SW_INC_NUMBERS(SW_INC_COPY)
	if (to->subjectlen > sizeof(from->subject))
		to->subjectlen = sizeof(from->subject);
	to->host = INC_TEXT(st, from, host);
	to->subject = arena_text(st, from->subject, to->subjectlen);
	to->close_reason = INC_TEXT(st, from, close_reason);
	to->diagnosis = INC_TEXT(st, from, diagnosis);
	to->addr = INC_TEXT(st, from, addr);
	to->reply = INC_TEXT(st, from, reply);
	to->hosts = INC_TEXT(st, from, hosts);
	to->login_addr = INC_TEXT(st, from, login_addr);
}

/*
 * Copies *inc into the batch, to be written by store_commit(); replaces
 * the copy of the same id taken earlier in the batch, so it may be
 * called after every change.  Allocates only for an id new to the
 * batch.  An id below 1 or an unknown kind is a bug of the caller.
 */
void
store_incident(struct sw_store *st, const struct sw_incident *inc)
{
	size_t	 i;

	if (inc->id <= 0 || (unsigned int)inc->kind >= SW_INC_NKINDS)
		fatalx("store_incident: id %lld, kind %d", (long long)inc->id,
		    (int)inc->kind);
	i = inc_slot(st, inc->id);
	if (i == st->ninc || st->inc[i].id != inc->id) {
		if (st->ninc == st->inccap) {
			st->inccap = st->inccap == 0 ? 16 : st->inccap * 2;
			st->inc = xreallocarray(st->inc, st->inccap,
			    sizeof(*st->inc));
		}
		memmove(&st->inc[i + 1], &st->inc[i],
		    (st->ninc - i) * sizeof(*st->inc));
		st->ninc++;
	}
	incrow_fill(st, &st->inc[i], inc);
}

/* Events in the batch, for the daemon's batch limit; not incidents. */
size_t
store_batched(const struct sw_store *st)
{
	return st->nevents;
}

/*
 * 1 when the daemon's batch should be committed: it holds events
 * events, or its aggregates and texts take BATCH_BYTES (a batch of
 * failures from many accounts and addresses makes several keys per
 * event).  postfix-1m's catch-up: peak RSS 26.0 -> 22.9 MB, in the same
 * time; 1 MiB made storm-1m's 50 % slower.  2 MiB until aggregates were
 * allocated to their type's size (struct agg): 1.5 MiB then holds as
 * many events as 2 MiB did, for storm-1m's peak of private memory
 * 12.4..12.5 -> 11.6..12.0 MB in the same time (2 MiB: 10,000 events, a
 * tenth faster, 12.8..13.1 MB).  scan keeps its large batches: its
 * memory is the command's, and fewer commits are faster.
 */
int
store_full(const struct sw_store *st, size_t events)
{
	return st->nevents >= events || st->arenabytes +
	    st->tabsize * sizeof(*st->tab) >= BATCH_BYTES;
}

/* Drops the incidents of the batch; a big array is given back. */
static void
incidents_clear(struct sw_store *st, int all)
{
	if (all || st->inccap > INC_KEEP) {
		free(st->inc);
		st->inc = NULL;
		st->inccap = 0;
	}
	st->ninc = 0;
}

/*
 * Empties the batch: after a commit keeping a chunk and a table of up
 * to TAB_KEEP slots for the next batch (BATCH_KEEP), at an expiry with
 * nothing batched giving back what a storm grew (BATCH_SHRINK), or to
 * close (BATCH_FREE).
 */
enum batch_keep { BATCH_KEEP, BATCH_SHRINK, BATCH_FREE };

static void
batch_clear(struct sw_store *st, enum batch_keep how)
{
	size_t	 i;

	if (how == BATCH_FREE || st->tabsize > (how == BATCH_KEEP ?
	    TAB_KEEP : TAB_MIN)) {
		free(st->tab);
		st->tab = NULL;
		free(st->sorted);	/* as large: kept as long */
		st->sorted = NULL;
		st->sortcap = 0;
	}
	if (how != BATCH_FREE) {
		if (st->tab == NULL) {
			st->tabsize = TAB_MIN;
			st->tab = xcalloc(st->tabsize, sizeof(*st->tab));
		} else
			memset(st->tab, 0, st->tabsize * sizeof(*st->tab));
	}
	arena_reset(st, how != BATCH_KEEP);
	memset(st->list, 0, sizeof(st->list));
	st->nagg = st->nevents = 0;
	for (i = 0; i < st->npos; i++)
		checkpoint_clear(&st->pos[i]);
	st->npos = 0;
	incidents_clear(st, how != BATCH_KEEP);
}

/* Counts and first/last times of a, for any statement. */
static void
bind_counts(struct sw_store *st, const struct agg *a)
{
	const struct pair	*p = (const struct pair *)a;
	const struct full	*f = (const struct full *)a;

	bind_int(st, ":failures", (sqlite3_int64)a->failures);
	bind_int(st, ":affected", (sqlite3_int64)a->held);
	if (a->type == AGG_BUCKET)
		return;
	bind_int(st, ":successes", (sqlite3_int64)p->successes);
	bind_time(st, ":first_seen", 1, p->first_seen);
	bind_time(st, ":last_seen", 1, p->last_seen);
	if (a->type == AGG_PAIR)
		return;
	bind_int(st, ":trouble", (sqlite3_int64)f->trouble);
	bind_time(st, ":first_failure", a->failures > 0, f->first_fail);
	bind_time(st, ":last_failure", a->failures > 0, f->last_fail);
	bind_time(st, ":last_success", p->successes > 0, f->last_success);
}

/* The latest failure or trouble event of a subject or address. */
static void
bind_detail(struct sw_store *st, const struct detail *d)
{
	bind_time(st, ":last_event", d->set, d->when);
	bind_str(st, ":last_diagnosis", d->set ? d->diag : NULL);
	bind_text(st, ":last_reply", d->set ? d->reply.p : NULL,
	    d->reply.len);
	bind_text(st, ":last_addr", d->set ? d->addr.p : NULL, d->addr.len);
	bind_text(st, ":last_mech", d->set ? d->mech.p : NULL, d->mech.len);
	bind_blob(st, ":last_account", d->known ? d->account.p : NULL,
	    d->account.len);
}

/* Host, direction and subject of a subject aggregate. */
static void
bind_subject(struct sw_store *st, const struct agg *a)
{
	struct field	 host, subj;

	key_field(a, 0, &host);
	key_field(a, 1, &subj);
	bind_text(st, ":host", host.p, host.len);
	bind_str(st, ":dir", dir_names[agg_key(a)[1]]);
	bind_blob(st, ":subject", subj.p, subj.len);
	bind_text(st, ":relay", subj.p, subj.len);
}

/*
 * A server-side account, or client side a relay; account_totals shows
 * relays as client-side accounts.  Accounts are made by any event,
 * relays not by successes alone.  An account the upsert inserts has its
 * id kept for its pairs (a->id; 0 when it was updated instead): the
 * last insert's rowid is set to 0 first, and an update leaves it.
 */
static int
apply_subject(struct sw_store *st, struct agg *a)
{
	struct full	*f = agg_full(a);
	int		 client = agg_key(a)[1] == SW_DIR_CLIENT;
	int		 create = a->failures + f->affected + f->trouble > 0;

	stmt_begin(st, !client ? ST_ACCOUNT : create ? ST_RELAY :
	    ST_RELAY_SEEN);
	bind_subject(st, a);
	bind_counts(st, a);
	bind_detail(st, &f->d);
	sqlite3_set_last_insert_rowid(st->db, 0);
	if (stmt_run(st) == -1)
		return -1;
	f->id = client ? 0 : sqlite3_last_insert_rowid(st->db);
	return 0;
}

/*
 * The id of a pair's account, written just before by apply_subject():
 * kept there when it inserted the row, else read once and kept for the
 * account's other pairs (they follow each other, in key order).  0 when
 * the account has no row, -1 on error.
 */
static sqlite3_int64
pair_account(struct sw_store *st, struct full *owner)
{
	struct field	 host, account;
	int64_t		 id;
	int		 rc;

	if (owner->id != 0)
		return owner->id;
	key_field(&owner->p.a, 0, &host);
	key_field(&owner->p.a, 1, &account);
	stmt_begin(st, ST_ACCOUNT_ID);
	bind_text(st, ":host", host.p, host.len);
	bind_blob(st, ":account", account.p, account.len);
	if ((rc = stmt_row(st, &id)) == 1)
		owner->id = id;
	return rc == -1 ? -1 : owner->id;
}

/* An account's address; none when the account has no row. */
static int
apply_pair(struct sw_store *st, struct agg *a)
{
	struct field	 addr;
	sqlite3_int64	 id;

	if ((id = pair_account(st, ((struct pair *)a)->owner)) <= 0)
		return (int)id;
	key_field(a, 2, &addr);
	stmt_begin(st, ST_PAIR);
	bind_int(st, ":account_id", id);
	bind_text(st, ":addr", addr.p, addr.len);
	bind_counts(st, a);
	return stmt_run(st);
}

/* A client address: made by failures and trouble, not successes. */
static int
apply_addr(struct sw_store *st, struct agg *a)
{
	struct full	*f = agg_full(a);
	struct field	 host, addr;

	key_field(a, 0, &host);
	key_field(a, 1, &addr);
	stmt_begin(st, a->failures + f->trouble > 0 ? ST_ADDR : ST_ADDR_SEEN);
	bind_text(st, ":host", host.p, host.len);
	bind_text(st, ":addr", addr.p, addr.len);
	bind_counts(st, a);
	bind_detail(st, &f->d);
	return stmt_run(st);
}

/* Windowed counts. */
static int
apply_bucket(struct sw_store *st, struct agg *a)
{
	struct field	 host, key;

	key_field(a, 0, &host);
	key_field(a, 1, &key);
	stmt_begin(st, ST_BUCKET);
	bind_str(st, ":scope", scope_names[agg_key(a)[1]]);
	bind_text(st, ":host", host.p, host.len);
	bind_blob(st, ":key", key.p, key.len);
	bind_time(st, ":start", 1, key_start_time(a));
	bind_counts(st, a);
	return stmt_run(st);
}

/* A C string, NULL when empty. */
static void
bind_nonempty(struct sw_store *st, const char *name, const char *s)
{
	size_t	 len = strlen(s);

	bind_text(st, name, len > 0 ? s : NULL, len);
}

/*
 * Runs statement i with inc's values bound to the parameters it names.
 * Returns 0, or -1 with the error in st->err.
 */
static int
inc_bind(struct sw_store *st, enum stmt i, const struct incrow *inc)
{
	enum sw_dir	 dir = inc->kind == SW_INC_RELAY ? SW_DIR_CLIENT :
			    SW_DIR_SERVER;

	stmt_begin(st, i);
	bind_int(st, ":id", inc->id);
	bind_text(st, ":host", inc->host, strlen(inc->host));
	bind_str(st, ":kind", inc_kind_names[inc->kind]);
	bind_str(st, ":dir", dir_names[dir]);
	bind_blob(st, ":subject", inc->subject, inc->subjectlen);
	bind_time(st, ":opened", 1, inc->opened);
	bind_time(st, ":last", 1, inc->last);
	bind_time(st, ":closed", inc->closed != 0, inc->closed);
	bind_nonempty(st, ":close_reason", inc->close_reason);
	bind_int(st, ":failures", (sqlite3_int64)inc->failures);
	bind_int(st, ":messages", (sqlite3_int64)inc->messages);
	bind_int(st, ":reported", (sqlite3_int64)inc->reported);
	bind_int(st, ":alerts", inc->alerts);
	bind_time(st, ":last_alert", inc->last_alert != 0, inc->last_alert);
	bind_int(st, ":addresses", inc->addresses);
	bind_int(st, ":accounts", inc->accounts);
	bind_nonempty(st, ":diagnosis", inc->diagnosis);
	bind_nonempty(st, ":last_addr", inc->addr);
	bind_nonempty(st, ":last_reply", inc->reply);
	bind_nonempty(st, ":hosts", inc->hosts);
	bind_int(st, ":logins", inc->logins);
	bind_time(st, ":login_last", inc->login_last != 0, inc->login_last);
	bind_nonempty(st, ":login_addr", inc->login_addr);
	return stmt_run(st);
}

/*
 * An incident of the batch: its row updated, or inserted when the
 * table has none of its id yet.
 */
static int
apply_incident(struct sw_store *st, const struct incrow *inc)
{
	if (inc_bind(st, inc->closed != 0 ? ST_INC_CLOSE : ST_INC_UPDATE,
	    inc) == -1)
		return -1;
	if (sqlite3_changes(st->db) > 0)
		return 0;
	return inc_bind(st, ST_INC_NEW, inc);
}

/*
 * The batch's incidents by ascending id: one closed and a newer one
 * opened for the same subject are written in that order, as the
 * unique index of open incidents wants.
 */
static int
apply_incidents(struct sw_store *st)
{
	size_t	 i;

	for (i = 0; i < st->ninc; i++)
		if (apply_incident(st, &st->inc[i]) == -1)
			return -1;
	return 0;
}

/* held[] as space-separated decimal offsets. */
static void
held_format(char *buf, size_t size, const struct sw_checkpoint *cp)
{
	size_t	 i, n = cp->nheld < SW_HELD_MAX ? cp->nheld : SW_HELD_MAX;
	size_t	 o = 0;

	buf[0] = '\0';
	for (i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%" PRIu64,
		    i > 0 ? " " : "", cp->held[i]);
}

/* One source's checkpoint; updated is the time of the commit. */
static int
apply_position(struct sw_store *st, const struct sw_checkpoint *cp,
    time_t now)
{
	char	 held[HELD_TEXT];

	held_format(held, sizeof(held), cp);
	stmt_begin(st, ST_CP_SAVE);
	bind_str(st, ":source", cp->source);
	bind_int(st, ":dev", u64_to_db(cp->id.dev));
	bind_int(st, ":ino", u64_to_db(cp->id.ino));
	bind_int(st, ":fplen", cp->id.fplen);
	bind_int(st, ":fphash", u64_to_db(cp->id.fphash));
	bind_int(st, ":offset", u64_to_db(cp->offset));
	bind_int(st, ":done", u64_to_db(cp->done));
	bind_str(st, ":held", held);
	bind_blob(st, ":state", cp->statelen > 0 ? cp->state : NULL,
	    cp->statelen);
	bind_time(st, ":updated", 1, now);
	bind_str(st, ":cursor", cp->cursor);
	bind_int(st, ":cursor_seq", u64_to_db(cp->cursorseq));
	return stmt_run(st);
}

/*
 * Two aggregates of one type in the order of their table's key: a
 * bucket's start first, then sub (scope), then each field as SQLite's
 * BINARY collation compares it.  Rows written in that order are near
 * each other in the B-tree: a storm's batch touches each page once.
 */
static int
agg_cmp(const void *x, const void *y)
{
	static const int	 nfields[AGG_NTYPES] = { 2, 3, 2, 2 };
	const struct agg	*a = *(const struct agg *const *)x;
	const struct agg	*b = *(const struct agg *const *)y;
	const unsigned char	*ka = agg_key(a), *kb = agg_key(b);
	const unsigned char	*p = ka + 2, *q = kb + 2;
	size_t			 la, lb;
	int			 i, c;
	time_t			 ta, tb;

	if (a->type == AGG_BUCKET) {
		ta = key_start_time(a);
		tb = key_start_time(b);
		if (ta != tb)
			return ta < tb ? -1 : 1;
	}
	if (ka[1] != kb[1])
		return ka[1] < kb[1] ? -1 : 1;
	for (i = 0; i < nfields[a->type]; i++) {
		la = (size_t)p[0] | (size_t)p[1] << 8;
		lb = (size_t)q[0] | (size_t)q[1] << 8;
		if ((c = memcmp(p + 2, q + 2, la < lb ? la : lb)) != 0)
			return c;
		if (la != lb)
			return la < lb ? -1 : 1;
		p += 2 + la;
		q += 2 + lb;
	}
	return 0;
}

/* Every aggregate of one type, by fn, in the order of the table's key. */
static int
apply_list(struct sw_store *st, enum agg_type type,
    int (*fn)(struct sw_store *, struct agg *))
{
	struct agg	*a;
	size_t		 i, n = 0;

	for (a = st->list[type]; a != NULL; a = a->all) {
		if (n == st->sortcap) {
			st->sortcap = st->sortcap > 0 ? 2 * st->sortcap : 1024;
			st->sorted = xreallocarray(st->sorted, st->sortcap,
			    sizeof(*st->sorted));
		}
		st->sorted[n++] = a;
	}
	if (n == 0)
		return 0;
	qsort(st->sorted, n, sizeof(*st->sorted), agg_cmp);
	for (i = 0; i < n; i++)
		if (fn(st, st->sorted[i]) == -1)
			return -1;
	return 0;
}

/* The whole batch in one transaction; the batch itself is not changed. */
static int
store_apply(struct sw_store *st)
{
	time_t	 now = time(NULL);
	size_t	 i;

	if (stmt_simple(st, ST_BEGIN) == -1 ||
	    apply_list(st, AGG_SUBJECT, apply_subject) == -1 ||
	    apply_list(st, AGG_PAIR, apply_pair) == -1 ||
	    apply_list(st, AGG_ADDR, apply_addr) == -1 ||
	    apply_list(st, AGG_BUCKET, apply_bucket) == -1 ||
	    apply_incidents(st) == -1)
		return -1;
	for (i = 0; i < st->npos; i++)
		if (apply_position(st, &st->pos[i], now) == -1)
			return -1;
	return stmt_simple(st, ST_COMMIT);
}

/* Rolls back what a failed transaction left open. */
static void
store_rollback(struct sw_store *st)
{
	char	 err[sizeof(st->err)];

	if (sqlite3_get_autocommit(st->db))
		return;
	memcpy(err, st->err, sizeof(err));
	if (stmt_simple(st, ST_ROLLBACK) == -1)
		log_warnx("%s: rollback: %s", st->path, st->err);
	memcpy(st->err, err, sizeof(err));
}

/*
 * The log times of a committed batch: the newest, and while the backlog
 * is read, its span.
 */
static void
store_committed(struct sw_store *st)
{
	if (st->nevents == 0)
		return;
	if (st->bmax > st->newest)
		st->newest = st->bmax;
	if (st->live)
		return;
	if (st->runhi == 0 || st->bmin < st->runlo)
		st->runlo = st->bmin;
	if (st->bmax > st->runhi)
		st->runhi = st->bmax;
}

/*
 * Rolls the buckets before the hour before up into hours, in a
 * transaction of its own.  Returns 0, or -1 having said why (nothing is
 * lost: the minute buckets stay).
 */
static int
rollup_run(struct sw_store *st, time_t before)
{
	if (stmt_simple(st, ST_BEGIN) == 0 && expire_rollup(st, before) == 0 &&
	    stmt_simple(st, ST_COMMIT) == 0)
		return 0;
	store_rollback(st);
	log_warnx("%s: cannot roll the buckets up into hours (%s)", st->path,
	    st->err);
	return -1;
}

/*
 * Rolls the buckets that passed bucket-rollup into hours as soon as a
 * commit moves the newest log time past a whole hour: in a storm or a
 * long backlog the minute buckets are most of the file, and smaller
 * B-trees are faster to write.  After the batch's transaction; a
 * failure is tried again at the next hour.
 */
static void
store_rollup(struct sw_store *st)
{
	time_t	 before = rollup_before(st, st->newest);

	if (before <= st->rolled || st->opt.bucket_width >= ROLLUP_WIDTH ||
	    st->opt.nobuckets)
		return;
	st->rolled = before;
	(void)rollup_run(st, before);
}

/*
 * Writes the batch and the positions in one transaction.  Returns 0 and
 * empties the batch; or -1, having written nothing and kept the batch
 * whole for the next call.  A run of failures is logged once.  A file
 * deleted under the store is first written anew (store_file_check()).
 * What follows a commit is store_tidy()'s: the daemon writes the
 * alerts the batch decided first.
 */
int
store_write(struct sw_store *st)
{
	if (!store_pending(st))
		return 0;
	store_file_check(st);
	if (store_apply(st) == -1) {
		store_rollback(st);
		if (!st->failing)
			log_warnx("%s: cannot write (%s): holding %zu events "
			    "and %zu incidents, retrying", st->path, st->err,
			    st->nevents, st->ninc);
		st->failing = 1;
		return -1;
	}
	log_debug("%s: committed %zu events, %zu keys, %zu incidents, "
	    "%zu positions", st->path, st->nevents, st->nagg, st->ninc,
	    st->npos);
	store_committed(st);
	batch_clear(st, BATCH_KEEP);
	if (st->failing)
		log_info("%s: writable again", st->path);
	st->failing = 0;
	st->untidy = 1;
	return 0;
}

/*
 * After the commits since the last call, if any: buckets rolled up into
 * hours when the log's time passed a whole hour, a file over three
 * quarters of its limit folded (store_fold()), the WAL checkpointed
 * every WAL_PAGES frames.  Each may take a while (the fold seconds, the
 * checkpoint in the loop an fdatasync()).
 */
void
store_tidy(struct sw_store *st)
{
	if (!st->untidy)
		return;
	st->untidy = 0;
	store_rollup(st);
	store_bound(st);
}

/* store_write(), then store_tidy(). */
int
store_commit(struct sw_store *st)
{
	if (store_write(st) == -1)
		return -1;
	store_tidy(st);
	return 0;
}

/* Splits the held column back into cp->held[]; -1 when it is not one. */
static int
held_parse(const char *s, struct sw_checkpoint *cp)
{
	char			*end;
	unsigned long long	 v;

	cp->nheld = 0;
	while (*s != '\0') {
		if (*s == ' ') {
			s++;
			continue;
		}
		if (*s < '0' || *s > '9' || cp->nheld == SW_HELD_MAX)
			return -1;
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno != 0)
			return -1;
		cp->held[cp->nheld++] = v;
		s = end;
	}
	return 0;
}

/* Fills cp from the row ST_CP_LOAD stands on; -1 when it is damaged. */
static int
load_row(sqlite3_stmt *s, const char *source, struct sw_checkpoint *cp)
{
	const unsigned char	*held;
	const void		*state;
	int			 n;

	memset(cp, 0, sizeof(*cp));
	cp->id.dev = u64_from_db(sqlite3_column_int64(s, 0));
	cp->id.ino = u64_from_db(sqlite3_column_int64(s, 1));
	cp->id.fplen = (uint32_t)sqlite3_column_int64(s, 2);
	cp->id.fphash = u64_from_db(sqlite3_column_int64(s, 3));
	cp->offset = u64_from_db(sqlite3_column_int64(s, 4));
	cp->done = u64_from_db(sqlite3_column_int64(s, 5));
	held = sqlite3_column_text(s, 6);
	if (held_parse(held != NULL ? (const char *)held : "", cp) == -1)
		return -1;
	state = sqlite3_column_blob(s, 7);
	if ((n = sqlite3_column_bytes(s, 7)) > 0 && state != NULL) {
		cp->state = xmalloc((size_t)n);
		memcpy(cp->state, state, (size_t)n);
		cp->statelen = (size_t)n;
	}
	cp->updated = (time_t)sqlite3_column_int64(s, 8);
	if (sqlite3_column_type(s, 9) == SQLITE_TEXT)
		cp->cursor = xstrdup((const char *)sqlite3_column_text(s, 9));
	cp->cursorseq = u64_from_db(sqlite3_column_int64(s, 10));
	cp->source = xstrdup(source);
	return 0;
}

/*
 * The committed checkpoint of source.  Returns 1 with cp filled (the
 * caller clears it), 0 when there is none, -1 on error (logged).
 */
int
store_load(struct sw_store *st, const char *source, struct sw_checkpoint *cp)
{
	int	 rc, ret = 0;

	memset(cp, 0, sizeof(*cp));
	stmt_begin(st, ST_CP_LOAD);
	bind_str(st, ":source", source);
	if (st->berr != SQLITE_OK)
		rc = st->berr;
	else
		rc = sqlite3_step(st->cur);
	if (rc == SQLITE_ROW) {
		ret = 1;
		if (load_row(st->cur, source, cp) == -1) {
			log_warnx("%s: the checkpoint of %s is damaged",
			    st->path, source);
			checkpoint_clear(cp);
			ret = -1;
		}
	} else if (rc != SQLITE_DONE) {
		log_warnx("%s: cannot read the checkpoint of %s (%s)",
		    st->path, source, sqlite3_errmsg(st->db));
		ret = -1;
	}
	sqlite3_reset(st->cur);
	sqlite3_clear_bindings(st->cur);
	return ret;
}

/* A time as UTC text, for the log: "2026-11-28 04:00:00". */
static void
store_stamp(time_t t, char *buf, size_t size)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL)
		snprintf(buf, size, "%lld", (long long)t);
	else
		strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The integer of the first row of sql, 64 bits; -1 when none. */
static int
store_int64(struct sw_store *st, const char *sql, int64_t *v)
{
	sqlite3_stmt	*s = NULL;
	int		 rc = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		*v = sqlite3_column_int64(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/* meta: the value of name, or def when there is none (or on error). */
static int64_t
meta_get(struct sw_store *st, const char *name, int64_t def)
{
	int64_t	 v;

	stmt_begin(st, ST_META_GET);
	bind_str(st, ":name", name);
	return stmt_int(st, &v) == 0 ? v : def;
}

static int
meta_set(struct sw_store *st, const char *name, int64_t v)
{
	stmt_begin(st, ST_META_SET);
	bind_str(st, ":name", name);
	bind_int(st, ":value", v);
	return stmt_run(st);
}

/* What store_expire() goes by. */
struct expiry {
	time_t		 newest;	/* the log time it goes by */
	time_t		 wall;		/* the clock, to tell a jump */
	time_t		 lo, hi;	/* rows the backlog wrote stay */
	time_t		 blo;		/* ... and their buckets */
	int		 jump;		/* the log's time ran ahead */
	long long	 rows, gone;	/* rows before, rows deleted */
};

/* Runs one expiry statement: rows before cut go, but not the backlog's. */
static int
expire_run(struct sw_store *st, enum stmt i, time_t cut,
    const struct expiry *x)
{
	stmt_begin(st, i);
	bind_time(st, ":cut", 1, cut);
	bind_int(st, ":lo", i == ST_EXP_BUCKETS ? x->blo : x->lo);
	bind_int(st, ":hi", x->hi);
	return stmt_run(st);
}

/*
 * 1 when the newest log time moved further since the last expiry that
 * ran than the clock did, by more than JUMP_SLACK (or when there was
 * none): a wrong year or clock, or a backlog after a stop.  The clock
 * never decides what goes, only whether the share limit applies.
 */
static int
expire_jump(struct sw_store *st, time_t newest, time_t wall)
{
	int64_t	 log = meta_get(st, "expire_log", -1);
	int64_t	 w = meta_get(st, "expire_wall", -1);

	if (log < 0 || w < 0)
		return 1;
	return (int64_t)newest - log > (int64_t)wall - w + JUMP_SLACK;
}

/* Rows in the tables expiry deletes from; -1 on error. */
static long long
expire_rows(struct sw_store *st)
{
	int64_t	 n;

	if (store_int64(st, "SELECT (SELECT count(*) FROM accounts) + "
	    "(SELECT count(*) FROM account_addrs) + "
	    "(SELECT count(*) FROM addresses) + "
	    "(SELECT count(*) FROM relays) + "
	    "(SELECT count(*) FROM incidents) + "
	    "(SELECT count(*) FROM buckets) + "
	    "(SELECT count(*) FROM folds)", &n) == -1)
		return -1;
	return n;
}

/*
 * Buckets that start before `before` (a whole hour) become one per
 * hour and key, with the same sums; the current transaction's.
 * Returns 0, or -1 with the error in st->err.
 */
static int
expire_rollup(struct sw_store *st, time_t before)
{
	char	*sql, *err = NULL;
	int	 rc;

	if (st->opt.bucket_width >= ROLLUP_WIDTH)
		return 0;
	sql = sqlite3_mprintf(
	    "INSERT INTO buckets (scope, host, key, start, failures, "
	    "affected) SELECT scope, host, key, start - start %% %d AS h, "
	    "sum(failures), sum(affected) FROM buckets WHERE start < %lld "
	    "AND start %% %d != 0 GROUP BY scope, host, key, h "
	    "ON CONFLICT (start, scope, host, key) DO UPDATE SET "
	    ADD("failures") ", " ADD("affected") "; "
	    "DELETE FROM buckets WHERE start < %lld AND start %% %d != 0",
	    ROLLUP_WIDTH, (long long)before, ROLLUP_WIDTH, (long long)before,
	    ROLLUP_WIDTH);
	if ((rc = sqlite3_exec(st->db, sql, NULL, NULL, &err)) != SQLITE_OK)
		snprintf(st->err, sizeof(st->err), "%s", err != NULL ? err :
		    sqlite3_errstr(rc));
	sqlite3_free(err);
	sqlite3_free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* The hour before which buckets are rolled up: bucket-rollup before newest. */
static time_t
rollup_before(const struct sw_store *st, time_t newest)
{
	time_t	 t = newest - (st->opt.bucket_rollup > 0 ?
		    st->opt.bucket_rollup : SW_BUCKET_ROLLUP);

	return t - t % ROLLUP_WIDTH;
}

/* The notes of an expiry that ran; the current transaction's. */
static int
expire_note(struct sw_store *st, const struct expiry *x)
{
	if (meta_set(st, "expire_log", x->newest) == -1 ||
	    meta_set(st, "expire_wall", x->wall) == -1 ||
	    meta_set(st, "refused_wall", 0) == -1)
		return -1;
	return 0;
}

/*
 * The deletions and the rollup of store_expire(), in one transaction.
 * Returns 0, 1 when the share limit refused them (rolled back), -1 on
 * error (st->err; the transaction is left for store_rollback()).
 */
static int
expire_apply(struct sw_store *st, struct expiry *x)
{
	time_t	 cut = x->newest - st->opt.retention;
	time_t	 bcut = x->newest - st->opt.bucket_retention;
	int	 changes, limit = st->opt.share > 0 && st->opt.share < 100;

	if (stmt_simple(st, ST_BEGIN) == -1)
		return -1;
	if (x->jump && limit && (x->rows = expire_rows(st)) == -1) {
		store_error(st, SQLITE_ERROR, 1);
		return -1;
	}
	changes = sqlite3_total_changes(st->db);
	if (st->opt.retention > 0 &&
	    (expire_run(st, ST_EXP_PAIRS, cut, x) == -1 ||
	    expire_run(st, ST_EXP_ACCOUNTS, cut, x) == -1 ||
	    expire_run(st, ST_EXP_ADDRS, cut, x) == -1 ||
	    expire_run(st, ST_EXP_RELAYS, cut, x) == -1 ||
	    expire_run(st, ST_EXP_INCIDENTS, cut, x) == -1 ||
	    expire_run(st, ST_EXP_FOLDS, cut, x) == -1))
		return -1;
	if (st->opt.bucket_retention > 0 &&
	    expire_run(st, ST_EXP_BUCKETS, bcut, x) == -1)
		return -1;
	x->gone = sqlite3_total_changes(st->db) - changes;
	if (x->jump && limit && x->gone > 0 &&
	    x->gone * 100 > (long long)st->opt.share * x->rows) {
		if (stmt_simple(st, ST_ROLLBACK) == -1)
			return -1;
		return 1;
	}
	if (expire_rollup(st, rollup_before(st, x->newest)) == -1)
		return -1;
	if (expire_note(st, x) == -1)
		return -1;
	return stmt_simple(st, ST_COMMIT);
}

/* Notes a refused expiry, for status, and says so once. */
static void
expire_refused(struct sw_store *st, const struct expiry *x)
{
	char	 newest[32], last[32];
	int64_t	 log = meta_get(st, "expire_log", 0);

	if (stmt_simple(st, ST_BEGIN) == -1 ||
	    meta_set(st, "refused_wall", x->wall) == -1 ||
	    meta_set(st, "refused_log", x->newest) == -1 ||
	    meta_set(st, "refused_rows", x->gone) == -1 ||
	    meta_set(st, "refused_total", x->rows) == -1 ||
	    stmt_simple(st, ST_COMMIT) == -1)
		store_rollback(st);
	if (st->refused)
		return;
	st->refused = 1;
	store_stamp(x->newest, newest, sizeof(newest));
	if (log > 0)
		store_stamp((time_t)log, last, sizeof(last));
	else
		snprintf(last, sizeof(last), "none yet");
	log_warnx("%s: retention refused: it would delete %lld of the %lld "
	    "rows (more than retention-limit %d%%), by the newest log time "
	    "%s, which ran ahead of the clock since the last expiry (log "
	    "time %s): a wrong year or clock?  Nothing expires until the "
	    "clock catches up; if the log's time is right, set "
	    "retention-limit 100%% and reload", st->path, x->gone, x->rows,
	    st->opt.share, newest, last);
}

/*
 * Retention, by the newest log time committed (never the machine's
 * clock): rows quiet for retention before it, incidents closed before
 * then, folds, and buckets older than bucket-retention are deleted,
 * except what the backlog read at start wrote (rows, incidents and
 * buckets of its log times), which stays while this store is open.  When
 * the log's time ran ahead of wall, the clock, by more than it could
 * (expire_jump()), an expiry that would delete more than
 * retention-limit percent of the rows is refused: noted for status,
 * said once, nothing deleted.  Buckets older than bucket-rollup are
 * rolled up into hourly ones; the space freed goes back to the file
 * system.
 * Called with an empty batch, in its own transaction.  Returns 0 (also
 * when refused) or -1 (logged; nothing deleted).
 */
int
store_expire(struct sw_store *st, time_t wall)
{
	struct expiry	 x;
	int		 rc;

	if (st->newest == 0)
		return 0;			/* nothing counted yet */
	memset(&x, 0, sizeof(x));
	x.newest = st->newest;
	x.wall = wall;
	x.lo = 1;				/* an empty span */
	if (st->runhi > 0) {
		x.lo = st->runlo;
		x.hi = st->runhi;
		x.blo = bucket_start(st, x.lo);
		x.blo -= x.blo % ROLLUP_WIDTH;
	} else
		x.blo = x.lo;
	x.jump = expire_jump(st, x.newest, wall);
	if ((rc = expire_apply(st, &x)) == -1) {
		store_rollback(st);
		log_warnx("%s: cannot delete old rows (%s)", st->path, st->err);
		return -1;
	}
	if (rc == 1) {
		expire_refused(st, &x);
		return 0;
	}
	if (st->refused)
		log_info("%s: retention runs again", st->path);
	st->refused = 0;
	log_debug("%s: expired %lld rows by the log time %lld%s", st->path,
	    x.gone, (long long)x.newest, x.jump ? " (a jump)" : "");
	store_vacuum(st);
	return 0;
}

/*
 * The backlog read at start is read: rows it wrote are kept by
 * store_expire() until the store is closed, later ones are not.
 * Returns 1 the first time, then 0.
 */
int
store_caught_up(struct sw_store *st)
{
	char	 lo[32], hi[32];

	if (st->live)
		return 0;
	st->live = 1;
	if (st->runhi == 0) {
		log_debug("%s: no backlog read at start", st->path);
		return 1;
	}
	store_stamp(st->runlo, lo, sizeof(lo));
	store_stamp(st->runhi, hi, sizeof(hi));
	log_debug("%s: the backlog read at start spans %s to %s: kept by "
	    "retention while running", st->path, lo, hi);
	return 1;
}

/*
 * The deletions of store_reset(), in one transaction, each counted in
 * r; committed, or with dry_run rolled back.
 */
static int
reset_apply(struct sw_store *st, struct sw_reset *r)
{
	enum stmt	 i;

	if (stmt_simple(st, ST_BEGIN) == -1)
		return -1;
	for (i = ST_RESET_PAIRS; i <= ST_RESET_FOLDS; i++) {
		stmt_begin(st, i);
		bind_blob(st, ":subject", r->subject, r->len);
		bind_text(st, ":text", r->subject, r->len);
		bind_str(st, ":host", r->host);
		if (stmt_run(st) == -1)
			return -1;
		r->n[i - ST_RESET_PAIRS] = sqlite3_changes(st->db);
	}
	if (r->dry_run) {
		store_rollback(st);
		return 0;
	}
	return stmt_simple(st, ST_COMMIT);
}

/*
 * Forgets r->subject: an account, a client address or a relay, on
 * r->host or every host.  Deletes its rows (an account's addresses with
 * it) and its buckets, and closes its open incidents with close_reason
 * 'reset' at the time of their last failure, in one transaction of its
 * own; with r->dry_run, counts the same and changes nothing.  Called
 * with an empty batch (the daemon commits first): it commits nothing
 * else.  Returns 0 with r->n counting what it found, or -1 (logged;
 * nothing changed).
 */
int
store_reset(struct sw_store *st, struct sw_reset *r)
{
	memset(r->n, 0, sizeof(r->n));
	if (st->nevents > 0 || st->ninc > 0) {
		log_warnx("%s: reset with %zu events and %zu incidents not "
		    "committed", st->path, st->nevents, st->ninc);
		return -1;
	}
	if (reset_apply(st, r) == -1) {
		store_rollback(st);
		log_warnx("%s: cannot reset (%s)", st->path, st->err);
		return -1;
	}
	return 0;
}

/* 1 when the batch holds anything to write (events, positions, incidents). */
int
store_pending(const struct sw_store *st)
{
	return st->nevents > 0 || st->npos > 0 || st->ninc > 0;
}

/*
 * Committed failures, server and client, since t (from the start of the
 * bucket holding t).  Returns the count, or -1 on error (logged).
 */
long long
store_failures_since(struct sw_store *st, time_t t)
{
	long long	 n = -1;
	int		 rc;

	stmt_begin(st, ST_SINCE);
	bind_time(st, ":start", 1, bucket_start(st, t));
	if ((rc = st->berr) == SQLITE_OK)
		rc = sqlite3_step(st->cur);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int64(st->cur, 0);
	else
		log_warnx("%s: cannot count failures (%s)", st->path,
		    sqlite3_errmsg(st->db));
	sqlite3_reset(st->cur);
	sqlite3_clear_bindings(st->cur);
	return n;
}

/*
 * Steps the current statement to its one row and resets it; *v is its
 * first column.  Returns 0, or -1 with the error kept in st->err (no
 * row is one).
 */
static int
stmt_int(struct sw_store *st, int64_t *v)
{
	int	 rc = stmt_row(st, v);

	if (rc == 0)
		store_error(st, SQLITE_DONE, 0);
	return rc == 1 ? 0 : -1;
}

/* Text column col into dst of size bytes, cut and NUL-terminated. */
static void
column_copy(sqlite3_stmt *s, int col, char *dst, size_t size)
{
	const unsigned char	*p = sqlite3_column_text(s, col);
	size_t			 n = (size_t)sqlite3_column_bytes(s, col);

	if (p == NULL)
		n = 0;
	else if (n >= size)
		n = size - 1;
	if (n > 0)
		memcpy(dst, p, n);
	dst[n] = '\0';
}

/*
 * Fills inc from the row ST_INC_OPEN stands on.  The subject keeps up
 * to sizeof(inc->subject) bytes, NUL-terminated when there is room.
 * Returns -1 when the kind is none of ours.
 */
static int
inc_row(sqlite3_stmt *s, struct sw_incident *inc)
{
	const char	*kind = (const char *)sqlite3_column_text(s, 1);
	const void	*subj = sqlite3_column_blob(s, 3);
	size_t		 n = (size_t)sqlite3_column_bytes(s, 3);
	int		 k;

	memset(inc, 0, sizeof(*inc));
	inc->id = sqlite3_column_int64(s, 0);
	for (k = 0; k < SW_INC_NKINDS; k++)
		if (kind != NULL && strcmp(kind, inc_kind_names[k]) == 0)
			break;
	if (k == SW_INC_NKINDS)
		return -1;
	inc->kind = (enum sw_inc_kind)k;
	column_copy(s, 2, inc->host, sizeof(inc->host));
	inc->subjectlen = n < sizeof(inc->subject) ? n : sizeof(inc->subject);
	if (subj != NULL)
		memcpy(inc->subject, subj, inc->subjectlen);
	inc->opened = (time_t)sqlite3_column_int64(s, 4);
	inc->last = (time_t)sqlite3_column_int64(s, 5);
	column_copy(s, 6, inc->close_reason, sizeof(inc->close_reason));
	inc->failures = (uint64_t)sqlite3_column_int64(s, 7);
	inc->messages = (uint64_t)sqlite3_column_int64(s, 8);
	inc->reported = (uint64_t)sqlite3_column_int64(s, 9);
	inc->alerts = (uint32_t)sqlite3_column_int64(s, 10);
	inc->last_alert = (time_t)sqlite3_column_int64(s, 11);	/* NULL: 0 */
	inc->addresses = (uint32_t)sqlite3_column_int64(s, 12);
	inc->accounts = (uint32_t)sqlite3_column_int64(s, 13);
	column_copy(s, 14, inc->diagnosis, sizeof(inc->diagnosis));
	column_copy(s, 15, inc->addr, sizeof(inc->addr));
	column_copy(s, 16, inc->reply, sizeof(inc->reply));
	column_copy(s, 17, inc->hosts, sizeof(inc->hosts));
	inc->logins = (uint32_t)sqlite3_column_int64(s, 18);
	inc->login_last = (time_t)sqlite3_column_int64(s, 19);	/* NULL: 0 */
	column_copy(s, 20, inc->login_addr, sizeof(inc->login_addr));
	return 0;
}

/*
 * Every committed open incident, by ascending id, into *out (the caller
 * frees it).  Returns how many, or -1 on error (logged; *out is NULL).
 */
static int
incidents_read(struct sw_store *st, struct sw_incident **out)
{
	struct sw_incident	*v = NULL;
	size_t			 n = 0, cap = 0;
	int			 rc;

	stmt_begin(st, ST_INC_OPEN);
	while ((rc = sqlite3_step(st->cur)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		if (inc_row(st->cur, &v[n]) == -1) {
			log_warnx("%s: incident %lld has an unknown kind",
			    st->path, (long long)sqlite3_column_int64(st->cur,
			    0));
			break;
		}
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		log_warnx("%s: cannot read the open incidents (%s)",
		    st->path, sqlite3_errmsg(st->db));
	sqlite3_reset(st->cur);
	if (rc != SQLITE_DONE) {
		free(v);
		v = NULL;
	}
	*out = v;
	return rc == SQLITE_DONE ? (int)n : -1;
}

/*
 * Calls cb(arg, inc) for each committed open incident, by ascending id,
 * once they are all read: cb may call the store.  Returns how many, or
 * -1 on error (logged; cb was not called).
 */
int
store_incidents_open(struct sw_store *st,
    void (*cb)(void *, const struct sw_incident *), void *arg)
{
	struct sw_incident	*v;
	int			 i, n;

	if ((n = incidents_read(st, &v)) == -1)
		return -1;
	for (i = 0; i < n; i++)
		cb(arg, &v[i]);
	free(v);
	return n;
}

/*
 * The highest incident id, committed or in the batch (after a failed
 * commit), so that a new one never reuses it; 0 when there is none.
 * Returns -1 on error (logged).
 */
int64_t
store_incident_maxid(struct sw_store *st)
{
	int64_t	 max;

	stmt_begin(st, ST_INC_MAXID);
	if (stmt_int(st, &max) == -1) {
		log_warnx("%s: cannot read the incident ids (%s)", st->path,
		    st->err);
		return -1;
	}
	if (st->ninc > 0 && st->inc[st->ninc - 1].id > max)
		max = st->inc[st->ninc - 1].id;
	return max;
}

/*
 * The failures of server accounts per bucket in the last window seconds
 * of the buckets and after the account's last login, oldest first:
 * cb(arg, host, account, len, start, failures), so that the alert
 * engine's windows survive a restart.
 * Returns the rows, or -1 on error (logged).
 */
int
store_recent(struct sw_store *st, long window,
    void (*cb)(void *, const char *, const char *, size_t, time_t, long),
    void *arg)
{
	static const char sql[] =
	    "SELECT host, key, start, failures FROM buckets b "
	    "WHERE scope = 'account' AND failures > 0 AND start >= "
	    "(SELECT max(start) FROM buckets WHERE scope = 'account') - ?1 "
	    "AND start > coalesce((SELECT last_success FROM accounts a "
	    "WHERE a.host = b.host AND a.direction = 'server' AND "
	    "a.account = b.key), 0) ORDER BY start";
	sqlite3_stmt	*s;
	int		 rc, n = 0;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		log_warnx("%s: cannot read recent failures (%s)", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	sqlite3_bind_int64(s, 1, window);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cb(arg, (const char *)sqlite3_column_text(s, 0),
		    sqlite3_column_blob(s, 1),
		    (size_t)sqlite3_column_bytes(s, 1),
		    (time_t)sqlite3_column_int64(s, 2),
		    (long)sqlite3_column_int64(s, 3));
		n++;
	}
	if (rc != SQLITE_DONE) {
		log_warnx("%s: cannot read recent failures (%s)", st->path,
		    sqlite3_errmsg(st->db));
		n = -1;
	}
	sqlite3_finalize(s);
	return n;
}

/*
 * Puts every relay of the committed database in rs (relayset.c): those
 * whose deliveries count.  Returns how many, or -1 on error.
 */
int
store_relays(struct sw_store *st, struct sw_relayset *rs)
{
	static const char sql[] = "SELECT host, relay FROM relays";
	sqlite3_stmt	*s;
	int		 rc, n = 0;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		log_warnx("%s: cannot read the relays (%s)", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		relayset_add(rs, (const char *)sqlite3_column_text(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0),
		    (const char *)sqlite3_column_text(s, 1),
		    (size_t)sqlite3_column_bytes(s, 1));
		n++;
	}
	if (rc != SQLITE_DONE) {
		log_warnx("%s: cannot read the relays (%s)", st->path,
		    sqlite3_errmsg(st->db));
		n = -1;
	}
	sqlite3_finalize(s);
	return n;
}

/*
 * 1 when the committed database has a success of the server-side
 * account (host, account of len bytes) from addr, else 0; -1 on error
 * (logged).
 */
int
store_pair_succeeded(struct sw_store *st, const char *host,
    const char *account, size_t len, const char *addr)
{
	int64_t	 v;

	stmt_begin(st, ST_PAIR_OK);
	bind_str(st, ":host", host);
	bind_blob(st, ":account", account, len);
	bind_str(st, ":addr", addr);
	if (stmt_int(st, &v) == -1) {
		log_warnx("%s: cannot look up an account's address (%s)",
		    st->path, st->err);
		return -1;
	}
	return v != 0;
}

/*
 * 1 when the committed database has a success of any account from addr
 * on host ('*': any), else 0; -1 on error (logged).
 */
int
store_addr_succeeded(struct sw_store *st, const char *host, const char *addr)
{
	int64_t	 v;

	stmt_begin(st, ST_ADDR_OK);
	bind_str(st, ":host", host);
	bind_str(st, ":addr", addr);
	if (stmt_int(st, &v) == -1) {
		log_warnx("%s: cannot look up an address (%s)", st->path,
		    st->err);
		return -1;
	}
	return v != 0;
}

/* Runs sql, which has no parameters; logs "PATH: what (error)". */
static int
store_exec(struct sw_store *st, const char *sql, const char *what)
{
	char	*err = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	log_warnx("%s: %s (%s)", st->path, what,
	    err != NULL ? err : sqlite3_errmsg(st->db));
	sqlite3_free(err);
	return -1;
}

/* 1 when the directory path would be created in is missing. */
static int
store_nodir(const char *path)
{
	struct stat	 sb;
	char		*dir, *slash;
	int		 missing;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		return 0;
	}
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	missing = stat(dir, &sb) == -1 && errno == ENOENT;
	free(dir);
	return missing;
}

/* Opens (or creates) the file; not the directory it is in. */
static int
store_connect(struct sw_store *st)
{
	int	 rc;

	rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		return sqlite3_busy_timeout(st->db, OPEN_BUSY_MS) ==
		    SQLITE_OK ? 0 : -1;
	if (store_nodir(st->path))
		log_warnx("%s: cannot create the database: its directory "
		    "does not exist (smtpwatchd creates the file, not the "
		    "directory)", st->path);
	else
		log_warnx("%s: cannot open the database (%s)", st->path,
		    st->db != NULL ? sqlite3_errmsg(st->db) :
		    sqlite3_errstr(rc));
	return -1;
}

/*
 * "damaged" for a file SQLite finds broken, else "cannot read"; msg is
 * cut to one line of a sane length.
 */
static void
store_damaged(struct sw_store *st, int rc, const char *msg)
{
	char	 line[200];
	size_t	 i;

	snprintf(line, sizeof(line), "%s", msg);
	for (i = 0; line[i] != '\0'; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	rc &= 0xff;
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
		log_warnx("%s: the database is damaged (%s); smtpwatchd will "
		    "not start over on its own: stop it, move the file aside "
		    "or recover it with `sqlite3 %s .recover`, then start "
		    "again", st->path, line, st->path);
	else
		log_warnx("%s: cannot read the database (%s)", st->path, line);
}

/* The integer the first row of sql holds; -1 when there is none. */
static int
store_pragma(struct sw_store *st, const char *sql, int *v)
{
	sqlite3_stmt	*s = NULL;
	int		 rc = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		*v = sqlite3_column_int(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/* PRAGMA quick_check: a damaged file is refused, as it was found. */
static int
store_check(struct sw_store *st)
{
	sqlite3_stmt	*s = NULL;
	const char	*res;
	int		 rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		res = (const char *)sqlite3_column_text(s, 0);
		if (res == NULL || strcmp(res, "ok") != 0)
			store_damaged(st, SQLITE_CORRUPT,
			    res != NULL ? res : "?");
		else
			rc = SQLITE_OK;
	} else
		store_damaged(st, rc, sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	return rc == SQLITE_OK ? 0 : -1;
}

/*
 * Whose file it is, and of which schema.  Used: one of ours (its
 * application_id) of this schema version or an older one, or a new
 * empty file.  Refused before anything is written to it, saying why: a
 * file of a newer smtpwatchd; one of a development build before 0.1
 * (application_id 0, user_version 1 to DEV_VERSIONS), whose migrations
 * were folded into sql/001-initial.sql and cannot be applied to it;
 * anything else, another program's.
 */
static int
store_owner(struct sw_store *st)
{
	int	 app, v, objects;

	if (store_pragma(st, "PRAGMA application_id", &app) == -1 ||
	    store_pragma(st, "PRAGMA user_version", &v) == -1 ||
	    store_pragma(st, "SELECT count(*) FROM sqlite_master",
	    &objects) == -1) {
		log_warnx("%s: cannot read the schema version (%s)", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	if (app == APPLICATION_ID && v >= 0 && v <= SQL_VERSION)
		return 0;
	if (app == 0 && v == 0 && objects == 0) {
		st->isnew = 1;
		return 0;
	}
	if (app == APPLICATION_ID)
		log_warnx("%s: schema version %d is newer than this smtpwatchd "
		    "(%d): upgrade smtpwatch or point `database` elsewhere",
		    st->path, v, SQL_VERSION);
	else if (app == 0 && v >= 1 && v <= DEV_VERSIONS)
		log_warnx("%s: made by a development build of smtpwatch "
		    "before 0.1 (schema version %d), whose database cannot be "
		    "upgraded: move the file away and smtpwatchd makes a new "
		    "one (nothing was released, so there is nothing to "
		    "convert)", st->path, v);
	else
		log_warnx("%s: not an smtpwatch database (application_id %d, "
		    "schema version %d): point `database` elsewhere",
		    st->path, app, v);
	return -1;
}

/* Foreign keys enforced on this connection: see account_addrs. */
static int
store_fkeys(struct sw_store *st)
{
	int	 on = 0;

	if (store_exec(st, "PRAGMA foreign_keys = ON",
	    "cannot enforce foreign keys") == -1)
		return -1;
	if (store_pragma(st, "PRAGMA foreign_keys", &on) == -1 || on != 1) {
		log_warnx("%s: this SQLite cannot enforce foreign keys",
		    st->path);
		return -1;
	}
	return 0;
}

/*
 * WAL (readers never block the daemon) and its usual durability; an
 * in-memory database (":memory:", smtpwatchctl scan's) has neither.  A
 * new file is made with auto_vacuum = INCREMENTAL first, so that
 * store_vacuum() can give deleted rows' pages back.  The page cache is
 * 1 MiB, not SQLite's 2: a storm's commit touches more pages than
 * either holds, and the second MiB only spared re-reading some of them
 * from the file system's cache (storm-1m: 926 MB read instead of 1043,
 * a few percent of the time at most) while it was a MiB of the private
 * memory's peak (11.6..12.1 -> 10.6..11.1 MB).
 */
static int
store_wal(struct sw_store *st)
{
	sqlite3_stmt	*s = NULL;
	const char	*mode = NULL;
	int		 ok;

	if (strcmp(st->path, SW_STORE_MEMORY) == 0)
		return 0;
	/* a new file only: after the first table it cannot be set */
	if (st->isnew && store_exec(st, "PRAGMA auto_vacuum = INCREMENTAL",
	    "cannot set auto_vacuum") == -1)
		return -1;

	ok = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW;
	if (ok)
		mode = (const char *)sqlite3_column_text(s, 0);
	if (!ok)
		log_warnx("%s: cannot set WAL mode (%s)", st->path,
		    sqlite3_errmsg(st->db));
	else if (mode == NULL || strcmp(mode, "wal") != 0)
		log_warnx("%s: journal mode is %s, not wal: readers will "
		    "block writes", st->path, mode != NULL ? mode : "?");
	sqlite3_finalize(s);
	if (!ok)
		return -1;
	if (store_exec(st, "PRAGMA synchronous = NORMAL",
	    "cannot set synchronous = NORMAL") == -1)
		return -1;
	return store_exec(st, CACHE_PRAGMA, "cannot set the cache size");
}

/*
 * Brings the schema from version v to v + 1, in one transaction; the
 * first one also marks the file as smtpwatch's (application_id).
 */
static int
store_migrate_one(struct sw_store *st, int v)
{
	char	 sql[64], app[64];

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
	snprintf(app, sizeof(app), "PRAGMA application_id = %d",
	    APPLICATION_ID);
	if (store_exec(st, sql_migrations[v], "cannot upgrade the schema") ==
	    -1 || store_exec(st, sql, "cannot set the schema version") == -1 ||
	    (v == 0 && store_exec(st, app, "cannot set the application id") ==
	    -1) || store_exec(st, "COMMIT", "cannot commit the schema") == -1)
		return -1;
	return 0;
}

/* Says what store_migrate() did, from version from to SQL_VERSION. */
static void
store_migrated(struct sw_store *st, int from)
{
	if (strcmp(st->path, SW_STORE_MEMORY) == 0)
		return;			/* scan's: says nothing */
	if (from == 0)
		log_info("%s: new database, schema version %d", st->path,
		    SQL_VERSION);
	else if (from < SQL_VERSION)
		log_info("%s: schema upgraded from version %d to %d",
		    st->path, from, SQL_VERSION);
}

/* Applies the migrations the file lacks, each in its transaction. */
static int
store_migrate(struct sw_store *st)
{
	int	 v = -1, from = -1;

	for (;;) {
		if (store_exec(st, "BEGIN IMMEDIATE", "cannot lock") == -1)
			return -1;
		if (store_pragma(st, "PRAGMA user_version", &v) == -1 ||
		    v < 0 || v > SQL_VERSION) {
			log_warnx("%s: unexpected schema version %d", st->path,
			    v);
			break;
		}
		if (from == -1)
			from = v;
		if (v == SQL_VERSION) {
			store_migrated(st, from);
			return store_exec(st, "COMMIT", "cannot commit");
		}
		if (store_migrate_one(st, v) == -1)
			break;
	}
	if (!sqlite3_get_autocommit(st->db))
		(void)store_exec(st, "ROLLBACK", "cannot roll back");
	return -1;
}

/*
 * Prepares every statement; then the short busy timeout of the loop.
 * Its writes skip the schema's CHECKs from now on (the migrations, run
 * before, did not): this connection writes scope, kind and direction
 * only from scope_names, inc_kind_names and dir_names, and SQLite builds
 * an ephemeral table for a CHECK's IN list at every execution: 30 % of
 * the instructions of a storm's catch-up (callgrind).  The CHECKs stay
 * in the schema for any other writer, and PRAGMA quick_check verifies
 * them (store_check() at each start of smtpwatchd; t_store).
 */
static int
store_prepare(struct sw_store *st)
{
	int	 i;

	if (store_exec(st, "PRAGMA ignore_check_constraints = ON",
	    "cannot set ignore_check_constraints") == -1)
		return -1;
	for (i = 0; i < ST_N; i++)
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) !=
		    SQLITE_OK) {
			log_warnx("%s: cannot prepare statement %d (%s)",
			    st->path, i, sqlite3_errmsg(st->db));
			return -1;
		}
	return sqlite3_busy_timeout(st->db, BUSY_MS) == SQLITE_OK ? 0 : -1;
}

/* ------------------------------------------------------------ size */

/* sw_net(addr, v4bits, v6bits): its network as text, '' when not one. */
static void
sql_net(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char		 buf[SW_ADDR_MAX], out[INET6_ADDRSTRLEN + 8];
	unsigned char	 a[16];
	const char	*s = (const char *)sqlite3_value_text(argv[0]);
	char		*p;
	int		 bits, have = 128, af = AF_INET6, i, len;

	(void)argc;
	if (s == NULL || strlen(s) >= sizeof(buf)) {
		sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
		return;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	if ((p = strchr(buf, '/')) != NULL) {
		*p++ = '\0';
		have = atoi(p);
	}
	if ((p = strchr(buf, '%')) != NULL)
		*p = '\0';
	if (inet_pton(AF_INET, buf, a) == 1) {
		af = AF_INET;
		if (have > 32)
			have = 32;
	} else if (inet_pton(AF_INET6, buf, a) == 1 &&
	    memcmp(a, "\0\0\0\0\0\0\0\0\0\0\377\377", 12) == 0) {
		memmove(a, a + 12, 4);		/* ::ffff:192.0.2.1 */
		af = AF_INET;
		have = have >= 96 ? have - 96 : 0;
	} else if (inet_pton(AF_INET6, buf, a) != 1) {
		sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
		return;
	}
	bits = sqlite3_value_int(argv[af == AF_INET ? 1 : 2]);
	if (bits > have)
		bits = have;
	if (bits < 0)
		bits = 0;
	for (i = 0; i < (af == AF_INET ? 4 : 16); i++)
		if (i * 8 >= bits)
			a[i] = 0;
		else if (i * 8 + 8 > bits)
			a[i] &= (unsigned char)(0xff << (8 - (bits - i * 8)));
	inet_ntop(af, a, out, sizeof(out));
	len = (int)strlen(out);
	snprintf(out + len, sizeof(out) - (size_t)len, "/%d", bits);
	sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

/* The file's size as SQLite sees it: page_count * page_size; -1. */
static long long
store_size(struct sw_store *st)
{
	int64_t	 pages;

	if (store_int64(st, "PRAGMA page_count", &pages) == -1)
		return -1;
	return (long long)pages * st->pagesize;
}

/* sqlite3_wal_hook(): frames in the WAL after a commit. */
static int
store_walhook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sw_store	*st = arg;

	(void)db;
	(void)name;
	st->walpages = pages;
	return SQLITE_OK;
}

/*
 * Says when checkpoints start failing (n more failed, the last one
 * failed when failing; err says why) and when one succeeds again: the
 * WAL grows meanwhile, since every commit asks again.  Once a run, not
 * at each: a full disk fails them all.
 */
static void
store_ckpt_note(struct sw_store *st, unsigned long n, int failing,
    const char *err)
{
	if (n > 0 && st->ckrun == 0)
		log_warnx("%s: the WAL cannot be copied into the database "
		    "(%s): it grows until a checkpoint succeeds", st->path,
		    err);
	st->ckfailed += n;
	st->ckrun += n;
	if (!failing && st->ckrun > 0) {
		log_info("%s: the WAL is copied into the database again, "
		    "after %lu failed checkpoint%s", st->path, st->ckrun,
		    st->ckrun == 1 ? "" : "s");
		st->ckrun = 0;
	}
}

/* What the checkpointer did since the last look, said. */
static void
store_ckpt_poll(struct sw_store *st)
{
	struct sw_ckpt_stat	 cs;

	if (st->ckpt == NULL)
		return;
	ckpt_stat(st->ckpt, &cs);
	if (cs.runs > st->ckruns)	/* each failure is a run */
		store_ckpt_note(st, cs.failed - st->ckseen, cs.failing,
		    cs.err);
	st->ckseen = cs.failed;
	st->ckruns = cs.runs;
}

/*
 * The checkpoints that failed since the store was opened; *failing
 * says whether the last one did (the WAL grows until one succeeds).
 */
unsigned long
store_checkpoint_errors(struct sw_store *st, int *failing)
{
	store_ckpt_poll(st);
	*failing = st->ckrun > 0;
	return st->ckfailed;
}

/*
 * Copies the WAL into the file: every WAL_PAGES frames (16 MiB of 4 KiB
 * pages; an eighth of the limit when that is less), after the folding
 * (never before it, so the file never holds what is folded); truncate
 * also empties it.  With a checkpointer (the daemon's) its thread
 * copies them while the loop goes on, and the WAL starts again at the
 * first commit after it copied every frame; a truncation waits for it,
 * then checkpoints here.
 */
static void
store_checkpoint(struct sw_store *st, int truncate)
{
	long long	 max = WAL_PAGES;
	int		 rc;

	store_ckpt_poll(st);	/* what the thread did since */
	/* a small limit: the WAL at most an eighth of it */
	if (st->opt.limit > 0 && st->opt.limit / 8 / st->pagesize < max)
		max = st->opt.limit / 8 / st->pagesize;
	if (strcmp(st->path, SW_STORE_MEMORY) == 0 ||
	    (!truncate && st->walpages < max))
		return;
	if (st->ckpt != NULL && !truncate) {
		ckpt_request(st->ckpt, WAL_HEADER + st->walpages *
		    (WAL_FRAME_HEADER + st->pagesize));
		return;
	}
	if (st->ckpt != NULL)
		ckpt_wait(st->ckpt);
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, truncate ?
	    SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE, NULL,
	    NULL);
	if (rc == SQLITE_OK)
		st->walpages = 0;
	if (rc != SQLITE_BUSY)
		store_ckpt_note(st, rc != SQLITE_OK, rc != SQLITE_OK,
		    sqlite3_errstr(rc));
}

/*
 * Gives back the memory of the page cache's unused pages, which the
 * next commit reads again from the file system's cache, and when
 * nothing is batched the batch's chunk and hash table as a storm left
 * them (up to 256 KiB and 512 KiB): at each expiry, before
 * malloc_trim().
 */
void
store_shrink(struct sw_store *st)
{
	if (!store_pending(st))	/* no events: no aggregates either */
		batch_clear(st, BATCH_SHRINK);
	(void)sqlite3_db_release_memory(st->db);
}

/* Gives the pages freed back to the file system (auto_vacuum). */
static void
store_vacuum(struct sw_store *st)
{
	(void)store_exec(st, "PRAGMA incremental_vacuum",
	    "cannot give free pages back");
	store_checkpoint(st, 0);
}

/*
 * What a pass of store_fold() takes: rows of at most ?3 failures and no
 * success, quiet before ?4, folded into their network of ?1 (IPv4) or
 * ?2 (IPv6) bits at the log time ?5.
 */
#define FOLD_ACCOUNT(p)	p "direction = 'server' AND " p "successes = 0 "  \
	"AND " p "trouble = 0 AND " p "affected = 0 AND " p "failures "	   \
	"BETWEEN 1 AND ?3 AND " p "last_seen < ?4"
#define FOLD_ADDR(p)	p "successes = 0 AND " p "trouble = 0 AND " p	   \
	"failures BETWEEN 1 AND ?3 AND " p "last_seen < ?4 AND instr(" p   \
	"addr, '/') = 0 AND sw_net(" p "addr, ?1, ?2) != ''"
#define FOLD_PAIR	"successes = 0 AND folded = 0 AND failures BETWEEN " \
	"1 AND ?3 AND last_seen < ?4 AND instr(addr, '/') = 0 AND "	   \
	"sw_net(addr, ?1, ?2) != ''"
#define FOLD_SUM	" ON CONFLICT (host, kind, network) DO UPDATE SET "   \
	ADD("members") ", " ADD("failures") ", " FIRST("first_failure")	   \
	", " LAST("last_failure") ", " LAST("last_seen") ", "		   \
	LAST("last_fold")
#define FOLD_BSUM	" ON CONFLICT (start, scope, host, key) DO UPDATE "   \
	"SET " ADD("failures") ", " ADD("affected")
#define FOLD_PSUM	" ON CONFLICT (account_id, addr) DO UPDATE SET "     \
	ADD("failures") ", " ADD("successes") ", " ADD("folded") ", "	   \
	FIRST("first_seen") ", " LAST("last_seen")
#define FOLD_BNET	"CAST(sw_net(CAST(key AS TEXT), ?1, ?2) AS BLOB)"

/* The statements of a pass; those marked count what they fold. */
static const struct {
	const char	*sql;
	int		 count;		/* n[count - 1] += its changes */
} fold_sql[] = {
	/* Rows folded before, into the wider networks of this pass. */
	{ "INSERT INTO folds (host, kind, network, members, failures, "
	    "first_failure, last_failure, last_seen, last_fold) "
	    "SELECT host, kind, sw_net(network, ?1, ?2) AS net, sum(members), "
	    "sum(failures), min(first_failure), max(last_failure), "
	    "max(last_seen), max(last_fold) FROM folds WHERE network != '' "
	    "AND sw_net(network, ?1, ?2) != network GROUP BY host, kind, net"
	    FOLD_SUM, 0 },
	{ "DELETE FROM folds WHERE network != '' AND "
	    "sw_net(network, ?1, ?2) != network", 0 },
	{ "INSERT INTO buckets (scope, host, key, start, failures, affected) "
	    "SELECT scope, host, " FOLD_BNET " AS net, start, sum(failures), "
	    "sum(affected) FROM buckets WHERE scope IN ('addr', 'fold') AND "
	    "instr(key, '/') > 0 AND " FOLD_BNET " != key "
	    "GROUP BY scope, host, net, start" FOLD_BSUM, 0 },
	{ "DELETE FROM buckets WHERE scope IN ('addr', 'fold') AND "
	    "instr(key, '/') > 0 AND " FOLD_BNET " != key", 0 },
	{ "INSERT INTO account_addrs (account_id, addr, failures, successes, "
	    "first_seen, last_seen, folded) SELECT account_id, "
	    "sw_net(addr, ?1, ?2) AS net, sum(failures), sum(successes), "
	    "min(first_seen), max(last_seen), sum(folded) FROM account_addrs "
	    "WHERE folded > 0 AND sw_net(addr, ?1, ?2) != addr "
	    "GROUP BY account_id, net" FOLD_PSUM, 0 },
	{ "DELETE FROM account_addrs WHERE folded > 0 AND "
	    "sw_net(addr, ?1, ?2) != addr", 0 },
	/* Server-side accounts, by the network of their last failure;
	   their buckets under scope 'fold', their addresses go with them. */
	{ "INSERT INTO folds (host, kind, network, members, failures, "
	    "first_failure, last_failure, last_seen, last_fold) "
	    "SELECT host, 'account', sw_net(last_addr, ?1, ?2) AS net, "
	    "count(*), sum(failures), min(first_failure), max(last_failure), "
	    "max(last_seen), ?5 FROM accounts WHERE " FOLD_ACCOUNT("")
	    " GROUP BY host, net" FOLD_SUM, 0 },
	{ "INSERT INTO buckets (scope, host, key, start, failures, affected) "
	    "SELECT 'fold', b.host, CAST(sw_net(a.last_addr, ?1, ?2) AS BLOB) "
	    "AS net, b.start, sum(b.failures), sum(b.affected) "
	    "FROM buckets b CROSS JOIN accounts a ON a.host = b.host AND "
	    "a.direction = 'server' AND a.account = b.key "
	    "WHERE b.scope = 'account' AND " FOLD_ACCOUNT("a.")
	    " GROUP BY b.host, net, b.start" FOLD_BSUM, 0 },
	{ "DELETE FROM buckets WHERE scope = 'account' AND (host, key) IN "
	    "(SELECT host, account FROM accounts WHERE " FOLD_ACCOUNT("")
	    ")", 0 },
	{ "DELETE FROM accounts WHERE " FOLD_ACCOUNT(""), 1 },
	/* Client addresses; their buckets under the network. */
	{ "INSERT INTO folds (host, kind, network, members, failures, "
	    "first_failure, last_failure, last_seen, last_fold) "
	    "SELECT host, 'address', sw_net(addr, ?1, ?2) AS net, count(*), "
	    "sum(failures), min(first_failure), max(last_failure), "
	    "max(last_seen), ?5 FROM addresses WHERE " FOLD_ADDR("")
	    " GROUP BY host, net" FOLD_SUM, 0 },
	{ "INSERT INTO buckets (scope, host, key, start, failures, affected) "
	    "SELECT 'addr', b.host, CAST(sw_net(d.addr, ?1, ?2) AS BLOB) AS "
	    "net, b.start, sum(b.failures), sum(b.affected) FROM buckets b "
	    "CROSS JOIN addresses d ON d.host = b.host AND "
	    "d.addr = CAST(b.key AS TEXT) WHERE b.scope = 'addr' AND "
	    FOLD_ADDR("d.") " GROUP BY b.host, net, b.start" FOLD_BSUM, 0 },
	{ "DELETE FROM buckets WHERE scope = 'addr' AND (host, key) IN "
	    "(SELECT host, CAST(addr AS BLOB) FROM addresses WHERE "
	    FOLD_ADDR("") ")", 0 },
	{ "DELETE FROM addresses WHERE " FOLD_ADDR(""), 2 },
	/* The addresses of the accounts kept, per account and network. */
	{ "INSERT INTO account_addrs (account_id, addr, failures, successes, "
	    "first_seen, last_seen, folded) SELECT account_id, "
	    "sw_net(addr, ?1, ?2) AS net, sum(failures), 0, min(first_seen), "
	    "max(last_seen), count(*) FROM account_addrs WHERE " FOLD_PAIR
	    " GROUP BY account_id, net" FOLD_PSUM, 0 },
	{ "DELETE FROM account_addrs WHERE " FOLD_PAIR, 3 },
};

/* One statement of fold_sql with the pass's parameters p[0 .. 5). */
static int
fold_run(struct sw_store *st, const char *sql, const sqlite3_int64 *p)
{
	sqlite3_stmt	*s = NULL;
	int		 i, rc;

	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) ==
	    SQLITE_OK) {
		for (i = 0; i < 5 && i < sqlite3_bind_parameter_count(s); i++)
			sqlite3_bind_int64(s, i + 1, p[i]);
		rc = sqlite3_step(s);
	}
	if (rc != SQLITE_DONE)
		store_error(st, rc, 1);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * One pass of store_fold(), in one transaction: widens what was folded
 * to networks of b4 / b6 bits, then folds there the accounts, client
 * addresses and account addresses of at most maxf failures, no success,
 * quiet before age.  n[] counts what it folded (accounts, addresses,
 * account addresses).  Returns 0, or -1 after logging (nothing folded).
 */
static int
fold_pass(struct sw_store *st, int b4, int b6, long maxf, time_t age,
    long long *n)
{
	sqlite3_int64	 p[5];
	long long	 add[3] = { 0, 0, 0 };
	size_t		 i;
	int		 c;

	p[0] = b4;
	p[1] = b6;
	p[2] = maxf;
	p[3] = age;
	p[4] = st->newest;
	if (stmt_simple(st, ST_BEGIN) == -1)
		goto fail;
	for (i = 0; i < sizeof(fold_sql) / sizeof(fold_sql[0]); i++) {
		if (fold_run(st, fold_sql[i].sql, p) == -1)
			goto fail;
		if ((c = fold_sql[i].count) > 0)
			add[c - 1] += sqlite3_changes(st->db);
	}
	if (stmt_simple(st, ST_COMMIT) == -1)
		goto fail;
	for (i = 0; i < 3; i++)
		n[i] += add[i];
	return 0;
fail:
	store_rollback(st);
	log_warnx("%s: cannot fold (%s)", st->path, st->err);
	return -1;
}

/*
 * The size, with the pages freed given back first.  The WAL is emptied
 * before and after: a pass and the vacuum each rewrite much of the
 * file, and would pile up in it.
 */
static long long
fold_size(struct sw_store *st)
{
	store_checkpoint(st, 1);
	(void)store_exec(st, "PRAGMA incremental_vacuum",
	    "cannot give free pages back");
	store_checkpoint(st, 1);
	return store_size(st);
}

/*
 * The file is over three quarters of its limit: the rows least worth
 * keeping are folded until it is under half, in passes, the size taken
 * after each: buckets older than bucket-rollup rolled up into hours;
 * accounts and client addresses that failed once, never succeeded,
 * quiet for an hour, into their /64 or /24; then whatever their age;
 * then into /48 and /16, /32 and /8, and all of a family (/0); then
 * those of at most 2, 4 ... failures.  Every failure stays counted, in
 * its network's row (see sql/001-initial.sql).  Said once per call; a
 * file that cannot get under its limit is said once until it does.
 */
static void
store_fold(struct sw_store *st, long long size)
{
	static const int nets[][2] = { { 24, 64 }, { 16, 48 }, { 8, 32 },
	    { 0, 0 } };
	long long	 n[3] = { 0, 0, 0 }, now = size;
	long long	 low = st->opt.limit / 2;
	time_t		 age = st->newest - FOLD_AGE;
	long		 maxf = 1;
	int		 g = 0, pass;

	st->folds++;
	if (rollup_run(st, rollup_before(st, st->newest)) == 0)
		now = fold_size(st);
	for (pass = 0; now > low; pass++) {
		if (pass == 1)
			age = (time_t)INT64_MAX;
		else if (pass > 1 && g < 3)
			g++;
		else if (pass > 1 && maxf < FOLD_MAXF)
			maxf *= 2;
		else if (pass > 1)
			break;
		if (fold_pass(st, nets[g][0], nets[g][1], maxf, age, n) == -1)
			break;
		if ((now = fold_size(st)) == -1)
			break;
	}
	log_info("%s: %.1f MB, over three quarters of database-limit %.1f MB: "
	    "folded %lld accounts, %lld client addresses and %lld addresses "
	    "of accounts of at most %ld failure%s and no success into rows "
	    "per client network (/%d, /%d); now %.1f MB", st->path,
	    size / 1048576.0, st->opt.limit / 1048576.0, n[0], n[1], n[2],
	    maxf, maxf == 1 ? "" : "s", nets[g][0], nets[g][1],
	    now / 1048576.0);
	st->floor = now > low ? now : 0;
	if (now > st->opt.limit && !st->over)
		log_warnx("%s: %.1f MB, over database-limit %.1f MB with nothing "
		    "left to fold (rows with successes, relays, incidents)",
		    st->path, now / 1048576.0, st->opt.limit / 1048576.0);
	st->over = now > st->opt.limit;
}

/*
 * After a commit: folds when the file is over three quarters of its
 * limit, and checkpoints the WAL.  After a fold that could not get the
 * file under half its limit, the next waits until it grew by a
 * sixteenth of the limit: most of what is there cannot be folded.
 */
static void
store_bound(struct sw_store *st)
{
	long long	 size, high = st->opt.limit / 4 * 3;

	if (st->floor + st->opt.limit / 16 > high)
		high = st->floor + st->opt.limit / 16;
	if (st->opt.limit > 0 && strcmp(st->path, SW_STORE_MEMORY) != 0 &&
	    (size = store_size(st)) > high)
		store_fold(st, size);
	else
		store_checkpoint(st, 0);
}

/* ------------------------------------------------------------ the file */

/* The path of the file (i 0), of its WAL (1) or shared memory (2). */
static void
store_side(const struct sw_store *st, int i, char *buf, size_t size)
{
	static const char *const ext[] = { "", "-wal", "-shm" };

	snprintf(buf, size, "%s%s", st->path, ext[i]);
}

/* Takes the identity of the file, its WAL and shared memory. */
static void
store_ids(struct sw_store *st)
{
	char	 p[4096];
	int	 i;

	for (i = 0; i < 3; i++) {
		store_side(st, i, p, sizeof(p));
		st->known[i] = stat(p, &st->ids[i]) == 0;
	}
}

/* fsync(2) of the directory of path, for a rename in it. */
static void
store_syncdir(const char *path)
{
	char	*dir = xstrdup(path), *slash;
	int	 fd;

	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, strlen(dir) + 1, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * Copies the open database into the new file tmp: 0 with *pages set, or
 * -1 with *pages 0 (st->err says why).
 */
static int
store_copy(struct sw_store *st, const char *tmp, int *pages)
{
	sqlite3		*dst = NULL;
	sqlite3_backup	*b;
	int		 rc;

	(void)unlink(tmp);
	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		if ((b = sqlite3_backup_init(dst, "main", st->db, "main")) ==
		    NULL)
			rc = sqlite3_errcode(dst);
		else {
			rc = sqlite3_backup_step(b, -1);
			*pages = sqlite3_backup_pagecount(b);
			if (sqlite3_backup_finish(b) != SQLITE_OK ||
			    rc == SQLITE_DONE)
				rc = sqlite3_errcode(dst);
		}
	}
	snprintf(st->err, sizeof(st->err), "%s", dst != NULL ?
	    sqlite3_errmsg(dst) : sqlite3_errstr(rc));
	sqlite3_close(dst);
	if (rc == SQLITE_OK)
		return 0;
	(void)unlink(tmp);
	*pages = 0;
	return -1;
}

static int	 store_attach(struct sw_store *, int);
static void	 store_ckpt_stop(struct sw_store *);

/*
 * The file (which 0), its WAL (1) or shared memory (2) was deleted
 * under the open connection, which still holds every committed count
 * and position: they are copied to a new file (the backup API), which
 * takes the path by rename(2), and the store goes on with it.  Said
 * once; on failure the store keeps writing to the deleted file, said
 * once too, and tries again at the next commit.
 */
static void
store_recreate(struct sw_store *st, int which)
{
	static const char *const what[] = { "the database file", "its WAL",
	    "its shared-memory file" };
	sqlite3		*old = st->db;
	sqlite3_stmt	*ostmt[ST_N];
	char		 tmp[4096];
	int		 i, pages = 0, on = 1;

	store_ckpt_stop(st);	/* on the old file; store_attach()
				   starts one on the new */
	snprintf(tmp, sizeof(tmp), "%s.new", st->path);
	if (store_copy(st, tmp, &pages) == 0 &&
	    rename(tmp, st->path) == -1) {
		snprintf(st->err, sizeof(st->err), "rename: %s",
		    strerror(errno));
		(void)unlink(tmp);
		pages = -1;
	}
	if (pages <= 0) {
		if (!st->lost)
			log_warnx("%s: %s was deleted while smtpwatchd had it "
			    "open, and cannot be written anew (%s): counting "
			    "on in the deleted file, whose counts and positions "
			    "are lost at the next start unless it can be "
			    "written at a later commit", st->path, what[which],
			    st->err);
		st->lost = 1;
		return;
	}
	store_syncdir(st->path);
	memcpy(ostmt, st->stmt, sizeof(ostmt));
	memset(st->stmt, 0, sizeof(st->stmt));
	st->db = NULL;
	if (store_attach(st, 0) == -1) {
		for (i = 0; i < ST_N; i++)
			sqlite3_finalize(st->stmt[i]);
		sqlite3_close(st->db);
		st->db = old;
		memcpy(st->stmt, ostmt, sizeof(ostmt));
		if (!st->lost)
			log_warnx("%s: %s was deleted while smtpwatchd had it "
			    "open; written anew, it cannot be opened: counting "
			    "on in the deleted file", st->path, what[which]);
		st->lost = 1;
		return;
	}
	/* The old connection must not remove the new files' names. */
	(void)sqlite3_file_control(old, "main", SQLITE_FCNTL_PERSIST_WAL, &on);
	for (i = 0; i < ST_N; i++)
		sqlite3_finalize(ostmt[i]);
	sqlite3_close(old);
	log_warnx("%s: %s was deleted while smtpwatchd had it open: the "
	    "database is written anew from the open connection, with every "
	    "count and position committed (%d pages), and used from now on",
	    st->path, what[which], pages);
	st->lost = 0;
}

/*
 * Before a commit: the file at the path, its WAL and shared memory are
 * still those opened.  One deleted (or, the WAL or shared memory,
 * replaced) is written anew: store_recreate().  Another file put at
 * the path is not touched: said once, the store writes on to its own.
 */
static void
store_file_check(struct sw_store *st)
{
	struct stat	 sb;
	char		 p[4096];
	int		 i, on = 1;

	if (strcmp(st->path, SW_STORE_MEMORY) == 0)
		return;
	for (i = 0; i < 3; i++) {
		if (!st->known[i])
			continue;
		store_side(st, i, p, sizeof(p));
		if (stat(p, &sb) == -1) {
			if (errno != ENOENT)
				continue;
			store_recreate(st, i);
			return;
		}
		if (sb.st_dev == st->ids[i].st_dev &&
		    sb.st_ino == st->ids[i].st_ino) {
			if (i == 0)
				st->replaced = 0;
			continue;
		}
		if (i > 0) {
			store_recreate(st, i);
			return;
		}
		if (!st->replaced) {
			log_warnx("%s: another file was put at the path of the "
			    "database while smtpwatchd had it open: left as it "
			    "is; counting on in the open one, no longer at that "
			    "path, until a reload or restart opens the new one",
			    st->path);
			/* closing, it must not remove the new one's WAL */
			(void)sqlite3_file_control(st->db, "main",
			    SQLITE_FCNTL_PERSIST_WAL, &on);
		}
		st->replaced = 1;
		return;
	}
}

/*
 * scan's database in memory is read once, by its report, after every
 * line was counted: it is loaded without the index of account_addrs by
 * address, which only the listings read (address_totals' accounts) and
 * store_db() makes, in one pass, before they do.  Kept up upsert by
 * upsert it was a third of a pair's cost; made at once it costs half as
 * much (callgrind, scan of the first 300k lines of postfix-1m).  Nor
 * does it check its foreign keys: nothing is ever deleted from it (no
 * retention, reset or folding in scan), so the only check left was that
 * a new pair's account exists, which apply_pair() took its id from (a
 * sixth of what remained of a pair's upsert).
 */
static int
store_memory(struct sw_store *st)
{
	if (store_exec(st, "DROP INDEX account_addrs_addr; "
	    "PRAGMA foreign_keys = OFF",
	    "cannot set the database in memory up") == -1)
		return -1;
	st->noaddrindex = 1;
	return 0;
}

/*
 * The checkpointer of a store that asks for one (opt.ckthread), on the
 * file just connected to.  Without it (said) the store checkpoints in
 * the loop, as it can.
 */
static void
store_ckpt(struct sw_store *st)
{
	char	 err[256];

	if (!st->opt.ckthread || st->ckpt != NULL)
		return;
	if ((st->ckpt = ckpt_start(st->path, err, sizeof(err))) == NULL)
		log_warnx("%s: cannot checkpoint in a thread of its own (%s): "
		    "checkpointing between events", st->path, err);
}

/* Stops the checkpointer, saying what it did. */
static void
store_ckpt_stop(struct sw_store *st)
{
	struct sw_ckpt_stat	 cs;

	if (st->ckpt == NULL)
		return;
	ckpt_wait(st->ckpt);	/* the last one counted too */
	store_ckpt_poll(st);
	ckpt_stat(st->ckpt, &cs);
	if (cs.failed > 0)
		log_warnx("%s: %lu of %lu checkpoints of the WAL failed, the "
		    "last with: %s", st->path, cs.failed, cs.runs, cs.err);
	else
		log_debug("%s: the WAL checkpointed %lu times by its thread",
		    st->path, cs.runs);
	ckpt_stop(st->ckpt);
	st->ckpt = NULL;
	st->ckseen = st->ckruns = 0;	/* a new thread counts from 0 */
}

/*
 * What a store needs beyond its statements: the sw_net() function of
 * store_fold(), the page size, and for a file the WAL hook (the store
 * checkpoints itself: store_checkpoint()), the WAL's size once
 * checkpointed, and the identity of its files.
 */
static int
store_extras(struct sw_store *st)
{
	int64_t	 v;
	char	 sql[64];

	if (sqlite3_create_function(st->db, "sw_net", 3, SQLITE_UTF8 |
	    SQLITE_DETERMINISTIC, NULL, sql_net, NULL, NULL) != SQLITE_OK ||
	    store_int64(st, "PRAGMA page_size", &v) == -1) {
		log_warnx("%s: cannot set the connection up (%s)", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	st->pagesize = v;
	if (strcmp(st->path, SW_STORE_MEMORY) == 0)
		return store_memory(st);
	sqlite3_wal_hook(st->db, store_walhook, st);
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %lld",
	    st->opt.limit > 0 ? st->opt.limit / 8 : 64LL << 20);
	if (store_int64(st, sql, &v) == -1)
		log_warnx("%s: cannot limit the WAL's size (%s)", st->path,
		    sqlite3_errmsg(st->db));
	store_ids(st);
	store_ckpt(st);
	return 0;
}

/*
 * Connects st to its path: checks the file (with check), its owner and
 * schema, WAL, foreign keys, statements and extras.  Returns 0, or -1
 * after logging, st->db (maybe NULL) and st->stmt[] left for the caller
 * to close.
 */
static int
store_attach(struct sw_store *st, int check)
{
	if (store_connect(st) == -1 || (check && store_check(st) == -1) ||
	    store_owner(st) == -1 || store_wal(st) == -1 ||
	    store_fkeys(st) == -1 || store_migrate(st) == -1 ||
	    store_prepare(st) == -1 || store_extras(st) == -1)
		return -1;
	return 0;
}

/* The newest log time of the rows, for store_expire(); 0 when none. */
static int
store_newest(struct sw_store *st)
{
	int64_t	 v;

	if (store_int64(st, "SELECT max(coalesce((SELECT max(last_seen) "
	    "FROM accounts), 0), coalesce((SELECT max(last_seen) FROM "
	    "addresses), 0), coalesce((SELECT max(last_seen) FROM relays), "
	    "0), coalesce((SELECT max(last_seen) FROM folds), 0))", &v) ==
	    -1) {
		log_warnx("%s: cannot read the newest log time (%s)", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	st->newest = (time_t)v;
	return 0;
}

/*
 * SQLite's settings for the whole process, called before its first use
 * (later, SQLite refuses them and keeps its defaults: the same results,
 * a little slower).  No memory statistics: smtpwatch reads none, and
 * keeping them took a mutex at each of SQLite's allocations, 7 % of an
 * upsert (1.2k of 17k instructions, callgrind).  No page cache
 * allocated in one block of 20 pages when a connection first reads
 * (88 KiB, which sqlite3_db_release_memory() cannot give back): each
 * page is allocated when needed.  Connections are opened
 * SQLITE_OPEN_NOMUTEX: each is used by one thread only (the daemon's
 * checkpointer has its own: ckpt.c).
 */
void
store_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
}

/*
 * Opens the database at path, creating the file (not its directory),
 * checks it, upgrades its schema, enforces its foreign keys and
 * prepares every statement; path SW_STORE_MEMORY is a database in
 * memory, gone at store_close().  Returns 0 with *out set, or -1 after
 * logging why; a damaged file, or one of a newer schema, of a
 * development build before 0.1 or of another program, is left as it
 * was.
 */
int
store_open(const char *path, const struct sw_storeopt *opt,
    struct sw_store **out)
{
	struct sw_store	*st;

	*out = NULL;
	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	st->opt = *opt;
	if (store_attach(st, 1) == -1 || store_newest(st) == -1) {
		store_close(st);
		return -1;
	}
	batch_clear(st, BATCH_KEEP);
	*out = st;
	return 0;
}

/*
 * The connection, for readers in the same process (scan's listings),
 * with every index of the schema (store_memory()).  The one it makes
 * holds each pair's failures too, which a file's cannot afford to keep
 * up: address_totals then counts an address's accounts without reading
 * the pairs themselves (storm-1m's first 200k lines: 2332.5M -> 2291.0M
 * instructions).
 */
sqlite3 *
store_db(struct sw_store *st)
{
	if (st->noaddrindex && store_exec(st, "CREATE INDEX "
	    "account_addrs_addr ON account_addrs (addr, failures)",
	    "cannot index the addresses of accounts") == 0)
		st->noaddrindex = 0;
	return st->db;
}

/*
 * Takes the retention and bucket options of a reloaded configuration,
 * for an open store that stays in use.  Called with an empty batch:
 * events batched under another bucket width would be counted in the
 * wrong bucket.
 */
void
store_configure(struct sw_store *st, const struct sw_storeopt *opt)
{
	st->opt = *opt;
}

/* Finalizes and closes; a batch not committed is dropped. */
void
store_close(struct sw_store *st)
{
	int	 i;

	if (st == NULL)
		return;
	store_ckpt_stop(st);	/* the store's connection closes last */
	batch_clear(st, BATCH_FREE);
	free(st->pos);
	strv_free(st->diags, st->ndiags);
	for (i = 0; i < ST_N; i++)
		sqlite3_finalize(st->stmt[i]);
	if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
		log_warnx("%s: close: %s", st->path, sqlite3_errmsg(st->db));
	free(st->path);
	free(st);
}
