/*
 * t_store.c -- the SQLite store, on real files in a temporary directory:
 * the schema version and application id of a new file and of a reopened
 * one, the columns of the views; counts per account, address and relay
 * read back through the views, accounts of any bytes kept exact;
 * client-side events in relays alone, shown by account_totals with the
 * same numbers; the foreign key of account_addrs enforced, retention
 * and reset leaving no orphan; incidents written whole by id, in id
 * order, read back with SQL and store_incidents_open(); an account's
 * successful addresses, each pair under its account's id (also after a
 * failed commit); the WAL copied into the file every WAL_PAGES frames;
 * checkpoints round trip; a commit that cannot
 * write (another writer, a failing statement) leaves the database and
 * the batch as they were, and the next one writes it all exactly once;
 * damaged and newer files, those of the development builds before 0.1
 * and other programs' are refused untouched, saying why; expiry and
 * windowed counts.  Issue 18: expiry by the newest log time (never the
 * clock), the backlog read at start kept, the share limit after a jump
 * of the log's time, buckets rolled up into hours, the size limit and
 * its folding (sw_net() too), the file deleted under an open store.
 */

#include "../../daemon/store.c"

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "check.h"

#define DAY	86400
#define WAL_BATCH	200	/* failures a commit of the WAL tests */

static char	 tmpdir[] = "/tmp/t_store.XXXXXX";
static const struct sw_storeopt	 opt = { 90 * DAY, 60, 2 * DAY, 0, 0, 0, 0, 0 };
static const struct sw_diagnosis	 diag_pw = { .id = "wrong-password" };
static const struct sw_diagnosis	 diag_relay = { .id = "relay-auth" };
static const time_t	 T0 = 1764300000;	/* 2025-11-28 03:20 UTC */

/* A path in the temporary directory (static: one at a time). */
static const char *
path(const char *name)
{
	static char	 buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

/* Opens name in the temporary directory; NULL (and a failed check) if not. */
static struct sw_store *
open_ok(const char *name, const struct sw_storeopt *o)
{
	struct sw_store	*st = NULL;

	CHECK_INT(store_open(path(name), o, &st), 0);
	return st;
}

/* A server-side event; account NULL when the line named none. */
static struct sw_event
sev(enum sw_kind kind, const char *account, size_t len, const char *addr,
    time_t when)
{
	struct sw_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.dir = SW_DIR_SERVER;
	ev.when = when;
	snprintf(ev.host, sizeof(ev.host), "mx1");
	if (account != NULL) {
		memcpy(ev.account, account, len);
		ev.accountlen = len;
		ev.flags |= SW_EVF_ACCOUNT;
	}
	snprintf(ev.addr, sizeof(ev.addr), "%s", addr);
	snprintf(ev.mech, sizeof(ev.mech), "PLAIN");
	snprintf(ev.reply, sizeof(ev.reply), "535 5.7.8 %s at %lld",
	    kind == SW_EV_TROUBLE ? "trouble" : "failed", (long long)when);
	if (kind == SW_EV_FAILURE)
		ev.diag = &diag_pw;
	return ev;
}

/* A client-side event for relay. */
static struct sw_event
cev(enum sw_kind kind, const char *relay, time_t when)
{
	struct sw_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.dir = SW_DIR_CLIENT;
	ev.when = when;
	snprintf(ev.host, sizeof(ev.host), "mx1");
	snprintf(ev.relay, sizeof(ev.relay), "%s", relay);
	snprintf(ev.addr, sizeof(ev.addr), "192.0.2.25");
	snprintf(ev.reply, sizeof(ev.reply), "535 relay says no %lld",
	    (long long)when);
	if (kind == SW_EV_FAILURE)
		ev.diag = &diag_relay;
	if (kind == SW_EV_AFFECTED)	/* a message held back (held.c) */
		ev.flags |= SW_EVF_HELD;
	return ev;
}

/* store_event() of an event built by sev() or cev(). */
static void
put(struct sw_store *st, struct sw_event ev)
{
	store_event(st, &ev);
}

/*
 * The first column of the first row of sql as an integer, -1 when there
 * is no row; ?1 is bound to blob (len bytes) when blob is not NULL.
 */
static long long
qint(sqlite3 *db, const char *sql, const void *blob, size_t len)
{
	sqlite3_stmt	*s;
	long long	 v = -1;

	if (!CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK)) {
		fprintf(stderr, "\t%s: %s\n", sql, sqlite3_errmsg(db));
		return -2;
	}
	if (blob != NULL)
		sqlite3_bind_blob(s, 1, blob, (int)len, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_type(s, 0) == SQLITE_NULL ? -3 :
		    sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* The same for a text result, copied into buf ("" for NULL, "-" none). */
static const char *
qstr(sqlite3 *db, const char *sql, const void *blob, size_t len)
{
	static char	 buf[1024];
	sqlite3_stmt	*s;
	const char	*p;

	snprintf(buf, sizeof(buf), "-");
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "\t%s: %s\n", sql, sqlite3_errmsg(db));
		return buf;
	}
	if (blob != NULL)
		sqlite3_bind_blob(s, 1, blob, (int)len, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		p = (const char *)sqlite3_column_text(s, 0);
		snprintf(buf, sizeof(buf), "%s", p != NULL ? p : "");
	}
	sqlite3_finalize(s);
	return buf;
}

#define ACC(col) "SELECT " col " FROM account_totals WHERE host = 'mx1' " \
		    "AND direction = 'server' AND account = ?1"
#define ADDR(col, a) "SELECT " col " FROM address_totals WHERE addr = '" a "'"
#define RELAY(col, r) "SELECT " col " FROM relay_totals WHERE relay = '" r "'"

/* The columns of view, in order, blank-separated. */
static const char *
view_columns(sqlite3 *db, const char *view)
{
	char	 sql[128];

	snprintf(sql, sizeof(sql), "SELECT group_concat(name, ' ') FROM "
	    "(SELECT name FROM pragma_table_info('%s') ORDER BY cid)", view);
	return qstr(db, sql, NULL, 0);
}

/*
 * The views are the stable interface (sql/001-initial.sql): their
 * columns, in order.
 */
static void
check_views(sqlite3 *db)
{
	CHECK_STR(view_columns(db, "account_totals"), "host direction "
	    "account failures successes affected trouble first_failure "
	    "last_failure last_success last_addr last_reply last_diagnosis "
	    "addresses folded network");
	CHECK_STR(view_columns(db, "address_totals"), "host addr failures "
	    "successes trouble first_failure last_failure last_success "
	    "last_account accounts folded");
	CHECK_STR(view_columns(db, "relay_totals"), "host relay failures "
	    "affected successes trouble first_failure last_failure "
	    "last_success last_addr last_reply last_diagnosis state");
	CHECK_STR(view_columns(db, "incident_list"), "id host kind direction "
	    "subject opened last closed close_reason failures messages "
	    "reported alerts last_alert addresses accounts diagnosis "
	    "last_addr last_reply state hosts logins login_last login_addr");
}

/* A new file gets the latest schema; reopening changes nothing. */
/*
 * store_reset() of the C string subj on host (NULL: all), or a dry run:
 * the rows it found, incidents aside; -1 on an error.
 */
static long long
reset(struct sw_store *st, const char *subj, const char *host, int dry)
{
	struct sw_reset	 r;
	long long	 n = 0;
	int		 i;

	memset(&r, 0, sizeof(r));
	r.subject = subj;
	r.len = strlen(subj);
	r.host = host;
	r.dry_run = dry;
	if (store_reset(st, &r) == -1)
		return -1;
	for (i = 0; i < SW_RS_N; i++)
		if (i != SW_RS_INCIDENTS)
			n += r.n[i];
	return n;
}

static void
test_fresh(void)
{
	struct sw_store	*st;
	long long	 objects;

	if ((st = open_ok("fresh.db", &opt)) == NULL)
		return;
	CHECK_INT(qint(st->db, "PRAGMA user_version", NULL, 0), SQL_VERSION);
	CHECK_INT(qint(st->db, "PRAGMA application_id", NULL, 0),
	    APPLICATION_ID);
	CHECK_INT(qint(st->db, "PRAGMA foreign_keys", NULL, 0), 1);
	CHECK_STR(qstr(st->db, "PRAGMA journal_mode", NULL, 0), "wal");
	CHECK_INT(qint(st->db, "PRAGMA cache_size", NULL, 0), -1024);
	check_views(st->db);
	objects = qint(st->db, "SELECT count(*) FROM sqlite_schema", NULL, 0);
	CHECK(objects > 10);
	CHECK_INT(store_batched(st), 0);
	CHECK_INT(store_commit(st), 0);		/* empty: nothing to do */
	store_close(st);
	if ((st = open_ok("fresh.db", &opt)) == NULL)
		return;
	CHECK_INT(qint(st->db, "PRAGMA user_version", NULL, 0), SQL_VERSION);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM sqlite_schema", NULL, 0),
	    objects);
	store_close(st);
}

/* Server and client counts through the views. */
static void
test_counts(void)
{
	static const char	 nul[] = { 'b', 'o', '\0', 'b' };
	static const char	 evil[] = "x'); DROP TABLE accounts; --\"\\";
	struct sw_store		*st;
	sqlite3			*db;

	if ((st = open_ok("counts.db", &opt)) == NULL)
		return;
	db = st->db;
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.1", T0));
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.1", T0 + 1));
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.2", T0 + 3));
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.1", T0 + 2));
	put(st, sev(SW_EV_SUCCESS, "alice", 5, "198.51.100.1", T0 + 4));
	put(st, sev(SW_EV_FAILURE, NULL, 0, "198.51.100.3", T0 + 5));
	put(st, sev(SW_EV_FAILURE, nul, sizeof(nul), "198.51.100.1", T0 + 6));
	put(st, sev(SW_EV_FAILURE, evil, strlen(evil), "198.51.100.4",
	    T0 + 7));
	put(st, sev(SW_EV_TROUBLE, NULL, 0, "198.51.100.5", T0 + 8));
	put(st, sev(SW_EV_SUCCESS, "carol", 5, "198.51.100.9", T0 + 9));
	put(st, sev(SW_EV_ATTRIBUTION, "alice", 5, "198.51.100.1", T0 + 9));
	put(st, cev(SW_EV_FAILURE, "smtp.relay.example", T0 + 10));
	put(st, cev(SW_EV_AFFECTED, "smtp.relay.example", T0 + 11));
	put(st, cev(SW_EV_AFFECTED, "smtp.relay.example", T0 + 11));
	put(st, cev(SW_EV_FAILURE, "smtp.relay.example", T0 + 12));
	put(st, cev(SW_EV_AFFECTED, "smtp.relay.example", T0 + 13));
	put(st, cev(SW_EV_SUCCESS, "mx.elsewhere.example", T0 + 14));
	CHECK_INT(store_batched(st), 16);	/* the attribution is not */
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts", NULL, 0), 0);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_batched(st), 0);

	CHECK_INT(qint(db, ACC("failures"), "alice", 5), 4);
	CHECK_INT(qint(db, ACC("successes"), "alice", 5), 1);
	CHECK_INT(qint(db, ACC("addresses"), "alice", 5), 2);
	CHECK_INT(qint(db, ACC("first_failure"), "alice", 5), T0);
	CHECK_INT(qint(db, ACC("last_failure"), "alice", 5), T0 + 3);
	CHECK_INT(qint(db, ACC("last_success"), "alice", 5), T0 + 4);
	CHECK_STR(qstr(db, ACC("last_addr"), "alice", 5), "198.51.100.2");
	CHECK_STR(qstr(db, ACC("last_reply"), "alice", 5),
	    "535 5.7.8 failed at 1764300003");
	CHECK_STR(qstr(db, ACC("last_diagnosis"), "alice", 5),
	    "wrong-password");
	CHECK_INT(qint(db, ACC("failures"), "carol", 5), 0);
	CHECK_INT(qint(db, ACC("successes"), "carol", 5), 1);
	CHECK_INT(qint(db, ACC("failures"), nul, sizeof(nul)), 1);
	CHECK_INT(qint(db, ACC("failures"), "bo", 2), -1);
	CHECK_INT(qint(db, ACC("failures"), evil, strlen(evil)), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts WHERE "
	    "direction = 'server'", NULL, 0), 4);
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts WHERE account = ?1 "
	    "AND typeof(account) = 'blob'", nul, sizeof(nul)), 1);

	CHECK_INT(qint(db, ADDR("failures", "198.51.100.1"), NULL, 0), 4);
	CHECK_INT(qint(db, ADDR("successes", "198.51.100.1"), NULL, 0), 1);
	CHECK_INT(qint(db, ADDR("accounts", "198.51.100.1"), NULL, 0), 2);
	CHECK_INT(qint(db, "SELECT length(last_account) FROM address_totals "
	    "WHERE addr = '198.51.100.1'", NULL, 0), 4);
	CHECK_INT(qint(db, ADDR("failures", "198.51.100.3"), NULL, 0), 1);
	CHECK_INT(qint(db, ADDR("accounts", "198.51.100.3"), NULL, 0), 0);
	CHECK_INT(qint(db, ADDR("last_account", "198.51.100.3"), NULL, 0), -3);
	CHECK_INT(qint(db, ADDR("trouble", "198.51.100.5"), NULL, 0), 1);
	CHECK_INT(qint(db, ADDR("failures", "198.51.100.5"), NULL, 0), 0);
	CHECK_INT(qint(db, ADDR("failures", "198.51.100.9"), NULL, 0), -1);

	CHECK_INT(qint(db, RELAY("failures", "smtp.relay.example"), NULL, 0),
	    2);
	CHECK_INT(qint(db, RELAY("affected", "smtp.relay.example"), NULL, 0),
	    3);
	CHECK_STR(qstr(db, RELAY("state", "smtp.relay.example"), NULL, 0),
	    "ok");			/* incidents come from incident.c */
	CHECK_INT(qint(db, "SELECT count(*) FROM incidents", NULL, 0), 0);
	CHECK_STR(qstr(db, RELAY("last_addr", "smtp.relay.example"), NULL, 0),
	    "192.0.2.25");
	CHECK_STR(qstr(db, RELAY("last_diagnosis", "smtp.relay.example"),
	    NULL, 0), "relay-auth");
	CHECK_INT(qint(db, RELAY("count(*)", "mx.elsewhere.example"), NULL,
	    0), 0);
	CHECK_INT(qint(db, "SELECT affected FROM account_totals WHERE "
	    "direction = 'client' AND account = ?1", "smtp.relay.example",
	    18), 3);
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts WHERE "
	    "direction = 'client'", NULL, 0), 0);	/* relays only */
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts", NULL, 0), 4);
	CHECK_INT(store_failures_since(st, T0), 9);

	/* A second batch adds to the same rows. */
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.7", T0 + 100));
	put(st, sev(SW_EV_SUCCESS, NULL, 0, "198.51.100.3", T0 + 101));
	put(st, cev(SW_EV_SUCCESS, "smtp.relay.example", T0 + 102));
	put(st, sev(SW_EV_FAILURE, NULL, 0, "198.51.100.1", T0 + 103));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(db, ADDR("failures", "198.51.100.1"), NULL, 0), 5);
	CHECK_INT(qint(db, "SELECT length(last_account) FROM address_totals "
	    "WHERE addr = '198.51.100.1'", NULL, 0), 4);	/* last known */
	CHECK_INT(qint(db, ACC("failures"), "alice", 5), 5);
	CHECK_INT(qint(db, ACC("addresses"), "alice", 5), 3);
	CHECK_STR(qstr(db, ACC("last_addr"), "alice", 5), "198.51.100.7");
	CHECK_INT(qint(db, ADDR("successes", "198.51.100.3"), NULL, 0), 1);
	CHECK_INT(qint(db, ADDR("last_success", "198.51.100.3"), NULL, 0),
	    T0 + 101);
	CHECK_INT(qint(db, RELAY("successes", "smtp.relay.example"), NULL, 0),
	    1);
	CHECK_STR(qstr(db, RELAY("state", "smtp.relay.example"), NULL, 0),
	    "ok");
	CHECK_INT(store_failures_since(st, T0), 11);
	CHECK_INT(store_failures_since(st, T0 + 100), 2);
	store_close(st);
}

/*
 * 1 when account_totals has, for every relay, a client-side row of the
 * same host, name (as a BLOB) and numbers, addresses 0, and no other
 * client-side row.
 */
static int
client_rows_match(sqlite3 *db)
{
	long long	 relays, same, client;

	relays = qint(db, "SELECT count(*) FROM relay_totals", NULL, 0);
	client = qint(db, "SELECT count(*) FROM account_totals WHERE "
	    "direction = 'client'", NULL, 0);
	same = qint(db, "SELECT count(*) FROM account_totals a JOIN "
	    "relay_totals r ON a.host = r.host AND "
	    "a.account = CAST(r.relay AS BLOB) WHERE a.direction = 'client' "
	    "AND typeof(a.account) = 'blob' AND a.failures = r.failures "
	    "AND a.successes = r.successes AND a.affected = r.affected "
	    "AND a.trouble = r.trouble "
	    "AND a.first_failure IS r.first_failure "
	    "AND a.last_failure IS r.last_failure "
	    "AND a.last_success IS r.last_success "
	    "AND a.last_addr IS r.last_addr AND a.last_reply IS r.last_reply "
	    "AND a.last_diagnosis IS r.last_diagnosis AND a.addresses = 0",
	    NULL, 0);
	return CHECK(relays > 0) && CHECK_INT(client, relays) &&
	    CHECK_INT(same, relays);
}

/*
 * A second connection to the file name, which evaluates the schema's
 * CHECKs (the store's does not: store_prepare()).
 */
static sqlite3 *
other_open(const char *name)
{
	sqlite3	*db = NULL;

	CHECK_INT(sqlite3_open_v2(path(name), &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	return db;
}

/*
 * Client-side events (us logging in to relays) are written to relays
 * alone; account_totals shows each relay as a client-side account with
 * the same numbers, and keeps its columns.  A success alone makes no
 * row on either side of the view.
 */
static void
test_client_rows(void)
{
	struct sw_store	*st;
	sqlite3		*db, *other;

	if ((st = open_ok("client.db", &opt)) == NULL)
		return;
	db = st->db;
	put(st, cev(SW_EV_FAILURE, "smtp.relay.example", T0));
	put(st, cev(SW_EV_AFFECTED, "smtp.relay.example", T0 + 1));
	put(st, cev(SW_EV_TROUBLE, "smtp.relay.example", T0 + 2));
	put(st, cev(SW_EV_SUCCESS, "smtp.relay.example", T0 + 3));
	put(st, cev(SW_EV_FAILURE, "other.relay.example", T0 + 4));
	put(st, cev(SW_EV_SUCCESS, "only.sent.example", T0 + 5));
	put(st, sev(SW_EV_FAILURE, "smtp.relay.example", 18, "192.0.2.9",
	    T0 + 6));			/* a server-side account, same name */
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts", NULL, 0), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM relays", NULL, 0), 2);
	client_rows_match(db);
	CHECK_INT(qint(db, "SELECT failures FROM account_totals WHERE "
	    "direction = 'client' AND account = ?1", "smtp.relay.example", 18),
	    1);
	CHECK_INT(qint(db, "SELECT affected + 10 * trouble + 100 * successes "
	    "FROM account_totals WHERE direction = 'client' AND account = ?1",
	    "smtp.relay.example", 18), 111);
	CHECK_STR(qstr(db, "SELECT last_reply FROM account_totals WHERE "
	    "direction = 'client' AND account = ?1", "smtp.relay.example", 18),
	    "535 relay says no 1764300002");	/* the trouble, latest */
	CHECK_INT(qint(db, "SELECT count(*) FROM account_totals WHERE "
	    "account = ?1", "only.sent.example", 17), 0);
	CHECK_INT(qint(db, ACC("failures"), "smtp.relay.example", 18), 1);
	check_views(db);
	/* the table takes no client row (a connection that checks) */
	other = other_open("client.db");
	CHECK_INT(sqlite3_exec(other, "INSERT INTO accounts (host, direction, "
	    "account, last_seen) VALUES ('mx1', 'client', x'00', 0)", NULL,
	    NULL, NULL), SQLITE_CONSTRAINT);
	sqlite3_close(other);

	/* a second batch adds to the same rows; a reset leaves none */
	put(st, cev(SW_EV_FAILURE, "smtp.relay.example", T0 + 60));
	put(st, cev(SW_EV_AFFECTED, "smtp.relay.example", T0 + 61));
	CHECK_INT(store_commit(st), 0);
	client_rows_match(db);
	CHECK_INT(qint(db, "SELECT failures * 10 + affected FROM "
	    "account_totals WHERE direction = 'client' AND account = ?1",
	    "smtp.relay.example", 18), 22);
	CHECK_INT(reset(st, "other.relay.example", NULL, 0), 2);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_totals WHERE "
	    "account = ?1", "other.relay.example", 19), 0);
	client_rows_match(db);
	store_close(st);
}

/*
 * The foreign key of account_addrs is enforced on the store's
 * connection: an address of no account is refused; an account deleted
 * (retention, reset, or by hand) takes its addresses with it.  Neither
 * retention nor reset leaves an orphan; reset counts the addresses it
 * deleted.
 */
static void
test_fkeys(void)
{
	struct sw_storeopt	 o = opt;
	struct sw_store		*st;
	sqlite3			*db;
	time_t			 now = T0 + 200 * DAY;

	if ((st = open_ok("fkeys.db", &opt)) == NULL)
		return;
	db = st->db;
	CHECK_INT(qint(db, "PRAGMA foreign_keys", NULL, 0), 1);
	CHECK_INT(sqlite3_exec(db, "INSERT INTO account_addrs (account_id, "
	    "addr, first_seen, last_seen) VALUES (99, '192.0.2.1', 0, 0)",
	    NULL, NULL, NULL), SQLITE_CONSTRAINT);

	/* reset: the account, its 2 addresses (deleted first, counted)
	   and its bucket of scope 'account' */
	put(st, sev(SW_EV_FAILURE, "gina", 4, "192.0.2.1", T0));
	put(st, sev(SW_EV_FAILURE, "gina", 4, "192.0.2.2", T0));
	put(st, sev(SW_EV_FAILURE, "hugo", 4, "192.0.2.1", T0));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_addrs", NULL, 0), 3);
	/* a dry run counts the same and deletes nothing; another host
	   has none of it */
	CHECK_INT(reset(st, "gina", NULL, 1), 1 + 2 + 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_addrs", NULL, 0), 3);
	CHECK_INT(reset(st, "gina", "mx9", 0), 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_addrs", NULL, 0), 3);
	CHECK_INT(reset(st, "gina", NULL, 0), 1 + 2 + 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_addrs", NULL, 0), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM pragma_foreign_key_check",
	    NULL, 0), 0);
	CHECK_INT(qint(db, ADDR("accounts", "192.0.2.1"), NULL, 0), 1);

	/* by hand: the addresses go with the account */
	CHECK_INT(sqlite3_exec(db, "DELETE FROM accounts WHERE account = "
	    "CAST('hugo' AS BLOB)", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_addrs", NULL, 0), 0);

	/*
	 * Retention: an account quiet for long takes with it an address
	 * row that is not (the store keeps them in step; here one is
	 * made newer by hand), which the addresses' own retention keeps.
	 * Past the backlog, which retention would keep.
	 */
	CHECK_INT(store_caught_up(st), 1);
	put(st, sev(SW_EV_FAILURE, "ivan", 4, "192.0.2.3", now - 100 * DAY));
	put(st, sev(SW_EV_FAILURE, "judy", 4, "192.0.2.4", now - DAY));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(sqlite3_exec(db, "UPDATE account_addrs SET last_seen = "
	    "last_seen + 99 * 86400 WHERE addr = '192.0.2.3'", NULL, NULL,
	    NULL), SQLITE_OK);
	CHECK_INT(store_expire(st, now), 0);
	CHECK_INT(qint(db, ACC("failures"), "ivan", 4), -1);
	CHECK_INT(qint(db, ACC("failures"), "judy", 4), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_addrs", NULL, 0), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM pragma_foreign_key_check",
	    NULL, 0), 0);
	store_close(st);

	/* reopened: still enforced (a pragma of the connection) */
	o.retention = 0;
	if ((st = open_ok("fkeys.db", &o)) == NULL)
		return;
	CHECK_INT(qint(st->db, "PRAGMA foreign_keys", NULL, 0), 1);
	CHECK_INT(sqlite3_exec(st->db, "DELETE FROM accounts", NULL, NULL,
	    NULL), SQLITE_OK);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM account_addrs", NULL, 0),
	    0);
	store_close(st);
}

/* An incident with every field set; values differ from field to field. */
static void
inc_fill(struct sw_incident *inc, int64_t id, enum sw_inc_kind kind,
    const char *subject, size_t len, time_t opened)
{
	memset(inc, 0, sizeof(*inc));
	inc->id = id;
	inc->kind = kind;
	snprintf(inc->host, sizeof(inc->host), "mx1");
	memcpy(inc->subject, subject, len);
	inc->subjectlen = len;
	inc->opened = opened;
	inc->last = opened + 5;
	inc->failures = 1000 + (uint64_t)id;
	inc->messages = 2000 + (uint64_t)id;
	inc->reported = 3000 + (uint64_t)id;
	inc->alerts = 40 + (uint32_t)id;
	inc->last_alert = opened + 3;
	inc->addresses = 50 + (uint32_t)id;
	inc->accounts = 60 + (uint32_t)id;
	snprintf(inc->diagnosis, sizeof(inc->diagnosis), "diag-%lld",
	    (long long)id);
	snprintf(inc->addr, sizeof(inc->addr), "2001:db8::%lld",
	    (long long)id);
	snprintf(inc->reply, sizeof(inc->reply), "535 no %lld",
	    (long long)id);
	inc->logins = 70 + (uint32_t)id;
	inc->login_last = opened + 4;
	snprintf(inc->login_addr, sizeof(inc->login_addr), "192.0.2.%lld",
	    (long long)id);
}

/* Every field of a and b is the same. */
static void
inc_same(const struct sw_incident *a, const struct sw_incident *b)
{
	CHECK_INT(a->id, b->id);
	CHECK_INT(a->kind, b->kind);
	CHECK_STR(a->host, b->host);
	CHECK_MEM(a->subject, a->subjectlen, b->subject, b->subjectlen);
	CHECK_INT(a->opened, b->opened);
	CHECK_INT(a->last, b->last);
	CHECK_INT(a->closed, b->closed);
	CHECK_STR(a->close_reason, b->close_reason);
	CHECK(a->failures == b->failures);
	CHECK(a->messages == b->messages);
	CHECK(a->reported == b->reported);
	CHECK_INT(a->alerts, b->alerts);
	CHECK_INT(a->last_alert, b->last_alert);
	CHECK_INT(a->addresses, b->addresses);
	CHECK_INT(a->accounts, b->accounts);
	CHECK_STR(a->diagnosis, b->diagnosis);
	CHECK_STR(a->addr, b->addr);
	CHECK_STR(a->reply, b->reply);
	CHECK_INT(a->logins, b->logins);
	CHECK_INT(a->login_last, b->login_last);
	CHECK_STR(a->login_addr, b->login_addr);
}

#define GOT_MAX	8

/* What store_incidents_open() handed on. */
struct got {
	struct sw_incident	 v[GOT_MAX];
	int			 n;
};

/* store_incidents_open() callback: keeps a copy. */
static void
got_inc(void *arg, const struct sw_incident *inc)
{
	struct got	*g = arg;

	if (g->n < GOT_MAX)
		g->v[g->n] = *inc;
	g->n++;
}

#define INC(col, id) "SELECT " col " FROM incidents WHERE id = " #id
#define INCL(col, id) "SELECT " col " FROM incident_list WHERE id = " #id

/*
 * Incidents written whole, with no event in the batch, and read back
 * with SQL and store_incidents_open(); a subject of any bytes.
 */
static void
test_incidents(void)
{
	static const char	 subj[] = { 'e', 'v', '\0', '\xff', 'e' };
	static struct got	 got;
	struct sw_store		*st;
	sqlite3			*db;
	struct sw_incident	 a, b, c, d;
	int			 i;

	if ((st = open_ok("incidents.db", &opt)) == NULL)
		return;
	db = st->db;
	CHECK_INT(store_incident_maxid(st), 0);
	inc_fill(&a, 1, SW_INC_ACCOUNT, subj, sizeof(subj), T0);
	inc_fill(&b, 2, SW_INC_RELAY, "relay.example", 13, T0 + 10);
	b.diagnosis[0] = b.addr[0] = b.reply[0] = '\0';
	b.last_alert = 0;
	inc_fill(&c, 3, SW_INC_BACKEND, "mx1", 3, T0 + 20);
	c.closed = T0 + 50;
	snprintf(c.close_reason, sizeof(c.close_reason), "quiet");
	inc_fill(&d, 4, SW_INC_ADDRESS, "203.0.113.9", 11, T0 + 30);
	store_incident(st, &d);
	store_incident(st, &a);
	store_incident(st, &c);
	store_incident(st, &b);
	CHECK_INT(st->ninc, 4);
	for (i = 1; i < 4; i++)
		CHECK(st->inc[i - 1].id < st->inc[i].id);
	CHECK_INT(store_batched(st), 0);
	CHECK_INT(store_incident_maxid(st), 4);		/* the batch's */
	CHECK_INT(qint(db, "SELECT count(*) FROM incidents", NULL, 0), 0);
	CHECK_INT(store_commit(st), 0);			/* no events */
	CHECK_INT(st->ninc, 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM incidents", NULL, 0), 4);

	CHECK_STR(qstr(db, INC("host", 1), NULL, 0), "mx1");
	CHECK_STR(qstr(db, INC("kind", 1), NULL, 0), "account");
	CHECK_STR(qstr(db, INC("direction", 1), NULL, 0), "server");
	CHECK_STR(qstr(db, INC("typeof(subject)", 1), NULL, 0), "blob");
	CHECK_INT(qint(db, "SELECT id FROM incidents WHERE subject = ?1",
	    subj, sizeof(subj)), 1);
	CHECK_INT(qint(db, INC("opened", 1), NULL, 0), T0);
	CHECK_INT(qint(db, INC("last", 1), NULL, 0), T0 + 5);
	CHECK_INT(qint(db, INC("closed", 1), NULL, 0), -3);
	CHECK_INT(qint(db, INC("close_reason", 1), NULL, 0), -3);
	CHECK_INT(qint(db, INC("failures", 1), NULL, 0), 1001);
	CHECK_INT(qint(db, INC("messages", 1), NULL, 0), 2001);
	CHECK_INT(qint(db, INC("reported", 1), NULL, 0), 3001);
	CHECK_INT(qint(db, INC("alerts", 1), NULL, 0), 41);
	CHECK_INT(qint(db, INC("last_alert", 1), NULL, 0), T0 + 3);
	CHECK_INT(qint(db, INC("addresses", 1), NULL, 0), 51);
	CHECK_INT(qint(db, INC("accounts", 1), NULL, 0), 61);
	CHECK_STR(qstr(db, INC("diagnosis", 1), NULL, 0), "diag-1");
	CHECK_STR(qstr(db, INC("last_addr", 1), NULL, 0), "2001:db8::1");
	CHECK_STR(qstr(db, INC("last_reply", 1), NULL, 0), "535 no 1");
	CHECK_INT(qint(db, INC("logins", 1), NULL, 0), 71);
	CHECK_INT(qint(db, INC("login_last", 1), NULL, 0), T0 + 4);
	CHECK_STR(qstr(db, INC("login_addr", 1), NULL, 0), "192.0.2.1");
	CHECK_STR(qstr(db, INC("kind", 2), NULL, 0), "relay");
	CHECK_STR(qstr(db, INC("direction", 2), NULL, 0), "client");
	CHECK_INT(qint(db, INC("last_alert", 2), NULL, 0), -3);
	CHECK_INT(qint(db, INC("diagnosis", 2), NULL, 0), -3);
	CHECK_INT(qint(db, INC("last_addr", 2), NULL, 0), -3);
	CHECK_INT(qint(db, INC("last_reply", 2), NULL, 0), -3);
	CHECK_STR(qstr(db, INC("kind", 3), NULL, 0), "backend");
	CHECK_STR(qstr(db, INC("direction", 3), NULL, 0), "server");
	CHECK_INT(qint(db, INC("closed", 3), NULL, 0), T0 + 50);
	CHECK_STR(qstr(db, INC("close_reason", 3), NULL, 0), "quiet");
	CHECK_STR(qstr(db, INC("kind", 4), NULL, 0), "address");

	CHECK_STR(qstr(db, INCL("state", 1), NULL, 0), "open");
	CHECK_STR(qstr(db, INCL("state", 3), NULL, 0), "closed");
	CHECK_STR(qstr(db, INCL("typeof(subject)", 1), NULL, 0), "blob");
	CHECK_INT(qint(db, "SELECT id FROM incident_list WHERE subject = ?1",
	    subj, sizeof(subj)), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM incident_list WHERE "
	    "state = 'open'", NULL, 0), 3);
	store_close(st);

	if ((st = open_ok("incidents.db", &opt)) == NULL)
		return;
	CHECK_INT(store_incident_maxid(st), 4);
	CHECK_INT(store_incidents_open(st, got_inc, &got), 3);
	if (CHECK_INT(got.n, 3)) {
		inc_same(&got.v[0], &a);
		inc_same(&got.v[1], &b);
		inc_same(&got.v[2], &d);
		CHECK_INT(got.v[0].subjectlen, 5);
		CHECK_INT(got.v[0].subject[5], '\0');
	}
	store_close(st);
}

/* The same id stored over and over within a batch: one row, the last. */
static void
test_incident_replace(void)
{
	struct sw_store		*st;
	struct sw_incident	 a, b;
	int			 i;

	if ((st = open_ok("replace.db", &opt)) == NULL)
		return;
	inc_fill(&a, 5, SW_INC_ACCOUNT, "storm", 5, T0);
	inc_fill(&b, 6, SW_INC_ADDRESS, "192.0.2.66", 10, T0);
	for (i = 1; i <= 200000; i++) {
		a.failures = (uint64_t)i;
		a.last = T0 + i;
		store_incident(st, &a);
		if (i % 1000 == 0) {
			b.accounts = (uint32_t)i;
			store_incident(st, &b);
		}
	}
	CHECK_INT(st->ninc, 2);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM incidents", NULL, 0), 2);
	CHECK_INT(qint(st->db, INC("failures", 5), NULL, 0), 200000);
	CHECK_INT(qint(st->db, INC("last", 5), NULL, 0), T0 + 200000);
	CHECK_INT(qint(st->db, INC("accounts", 6), NULL, 0), 200000);

	/* A later batch updates the open row: its counts, still open. */
	a.failures = 200001;
	a.last = T0 + 200001;
	store_incident(st, &a);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(st->db, INC("failures", 5), NULL, 0), 200001);
	CHECK_INT(qint(st->db, INC("last", 5), NULL, 0), T0 + 200001);
	CHECK_INT(qint(st->db, INC("closed", 5), NULL, 0), -3);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM incidents INDEXED BY "
	    "incidents_open WHERE closed IS NULL", NULL, 0), 2);

	/* And closes it in place. */
	a.closed = T0 + 300000;
	snprintf(a.close_reason, sizeof(a.close_reason), "reset");
	a.diagnosis[0] = '\0';
	store_incident(st, &a);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM incidents", NULL, 0), 2);
	CHECK_INT(qint(st->db, INC("closed", 5), NULL, 0), T0 + 300000);
	CHECK_STR(qstr(st->db, INC("close_reason", 5), NULL, 0), "reset");
	CHECK_INT(qint(st->db, INC("diagnosis", 5), NULL, 0), -3);
	CHECK_INT(qint(st->db, INC("failures", 5), NULL, 0), 200001);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM incidents INDEXED BY "
	    "incidents_open WHERE closed IS NULL", NULL, 0), 1);
	store_close(st);
}

/*
 * One incident closed and the next opened for the same subject in one
 * batch, handed over newest first: written by id, so it works.  Two
 * open at once cannot be, and the failed batch stays whole.
 */
static void
test_incident_order(void)
{
	struct sw_store		*st;
	struct sw_incident	 a, b, c;

	if ((st = open_ok("order.db", &opt)) == NULL)
		return;
	inc_fill(&a, 1, SW_INC_ACCOUNT, "gina", 4, T0);
	store_incident(st, &a);
	CHECK_INT(store_commit(st), 0);
	inc_fill(&b, 2, SW_INC_ACCOUNT, "gina", 4, T0 + 100);
	store_incident(st, &b);
	a.closed = T0 + 50;
	snprintf(a.close_reason, sizeof(a.close_reason), "success");
	store_incident(st, &a);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(st->db, INC("closed", 1), NULL, 0), T0 + 50);
	CHECK_STR(qstr(st->db, INC("close_reason", 1), NULL, 0), "success");
	CHECK_INT(qint(st->db, INC("closed", 2), NULL, 0), -3);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM incidents WHERE "
	    "subject = ?1 AND closed IS NULL", "gina", 4), 1);

	inc_fill(&c, 3, SW_INC_ACCOUNT, "gina", 4, T0 + 200);
	store_incident(st, &c);		/* 2 is still open */
	CHECK_INT(store_commit(st), -1);
	CHECK_INT(st->ninc, 1);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM incidents", NULL, 0), 2);
	CHECK_INT(store_incident_maxid(st), 3);	/* not to be reused */
	b.closed = T0 + 150;
	snprintf(b.close_reason, sizeof(b.close_reason), "quiet");
	store_incident(st, &b);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM incidents", NULL, 0), 3);
	CHECK_INT(qint(st->db, INC("closed", 3), NULL, 0), -3);
	CHECK_STR(qstr(st->db, INC("close_reason", 2), NULL, 0), "quiet");
	store_close(st);
}

/* relay_totals.state: 'failing' only for an open relay incident. */
static void
test_relay_state(void)
{
	struct sw_store		*st;
	struct sw_incident	 inc;
	const char		*r = "relay.example";

	if ((st = open_ok("relaystate.db", &opt)) == NULL)
		return;
	put(st, cev(SW_EV_FAILURE, r, T0));
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(qstr(st->db, RELAY("state", "relay.example"), NULL, 0),
	    "ok");
	inc_fill(&inc, 1, SW_INC_RELAY, r, strlen(r), T0);
	snprintf(inc.host, sizeof(inc.host), "mx2");	/* another host */
	store_incident(st, &inc);
	inc_fill(&inc, 2, SW_INC_ACCOUNT, r, strlen(r), T0);
	store_incident(st, &inc);			/* another kind */
	inc_fill(&inc, 3, SW_INC_RELAY, r, strlen(r) - 1, T0);
	store_incident(st, &inc);			/* another relay */
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(qstr(st->db, RELAY("state", "relay.example"), NULL, 0),
	    "ok");
	inc_fill(&inc, 4, SW_INC_RELAY, r, strlen(r), T0);
	store_incident(st, &inc);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(qstr(st->db, RELAY("state", "relay.example"), NULL, 0),
	    "failing");
	inc.closed = T0 + 60;
	snprintf(inc.close_reason, sizeof(inc.close_reason), "success");
	store_incident(st, &inc);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(qstr(st->db, RELAY("state", "relay.example"), NULL, 0),
	    "ok");
	store_close(st);
}

/* store_pair_succeeded(): committed server-side successes only. */
static void
test_pair(void)
{
	static const char	 nul[] = { 'b', 'o', '\0', 'b' };
	struct sw_store		*st;

	if ((st = open_ok("pair.db", &opt)) == NULL)
		return;
	put(st, sev(SW_EV_SUCCESS, "alice", 5, "198.51.100.1", T0));
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.2", T0 + 1));
	put(st, sev(SW_EV_SUCCESS, "bob", 3, "198.51.100.3", T0 + 2));
	put(st, sev(SW_EV_SUCCESS, nul, sizeof(nul), "198.51.100.4", T0 + 3));
	put(st, cev(SW_EV_FAILURE, "carol", T0 + 4));
	put(st, cev(SW_EV_SUCCESS, "carol", T0 + 5));
	CHECK_INT(store_pair_succeeded(st, "mx1", "alice", 5, "198.51.100.1"),
	    0);				/* not committed yet */
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_pair_succeeded(st, "mx1", "alice", 5, "198.51.100.1"),
	    1);
	CHECK_INT(store_pair_succeeded(st, "mx1", "alice", 5, "198.51.100.2"),
	    0);				/* failed only */
	CHECK_INT(store_pair_succeeded(st, "mx1", "alice", 5, "198.51.100.3"),
	    0);				/* bob's */
	CHECK_INT(store_pair_succeeded(st, "mx1", "bob", 3, "198.51.100.3"),
	    1);
	CHECK_INT(store_pair_succeeded(st, "mx2", "alice", 5, "198.51.100.1"),
	    0);				/* another host */
	CHECK_INT(store_pair_succeeded(st, "mx1", "alic", 4, "198.51.100.1"),
	    0);
	CHECK_INT(store_pair_succeeded(st, "mx1", nul, sizeof(nul),
	    "198.51.100.4"), 1);
	CHECK_INT(store_pair_succeeded(st, "mx1", nul, 2, "198.51.100.4"), 0);
	/* Client-side events make no account, so no address of one. */
	CHECK_INT(store_pair_succeeded(st, "mx1", "carol", 5, "192.0.2.25"),
	    0);				/* client side */
	CHECK_INT(qint(st->db, "SELECT count(*) FROM accounts WHERE account = "
	    "CAST('carol' AS BLOB)", NULL, 0), 0);
	store_close(st);
}

/* 1 when a step of sql's query plan says what (a substring). */
static int
plan_uses(sqlite3 *db, const char *sql, const char *what)
{
	sqlite3_stmt	*s;
	char		 q[512];
	const char	*d;
	int		 found = 0;

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	if (!CHECK_INT(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK))
		return -1;
	while (sqlite3_step(s) == SQLITE_ROW)
		if ((d = (const char *)sqlite3_column_text(s, 3)) != NULL &&
		    strstr(d, what) != NULL)
			found = 1;
	sqlite3_finalize(s);
	return found;
}

/*
 * scan's database in memory is loaded without the index of pairs by
 * address, and without checking foreign keys (nothing is deleted from
 * it); store_db(), which its listings read through, makes the index
 * first, and address_totals counts the same with it as a file does.
 * scan makes no windowed buckets either (nobuckets): the totals stay.
 */
static void
test_memory(void)
{
	struct sw_store		*st = NULL;
	struct sw_storeopt	 o = opt;
	sqlite3			*db;
	static const char idx[] = "SELECT count(*) FROM sqlite_schema WHERE "
	    "name = 'account_addrs_addr'";

	o.nobuckets = 1;
	CHECK_INT(store_open(SW_STORE_MEMORY, &o, &st), 0);
	if (st == NULL)
		return;
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.1", T0));
	put(st, sev(SW_EV_FAILURE, "bob", 3, "198.51.100.1", T0 + 1));
	put(st, sev(SW_EV_SUCCESS, "bob", 3, "198.51.100.2", T0 + 2));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(st->db, idx, NULL, 0), 0);
	CHECK_INT(qint(st->db, "PRAGMA foreign_keys", NULL, 0), 0);
	put(st, sev(SW_EV_FAILURE, "carol", 5, "198.51.100.1", T0 + 3));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_pair_succeeded(st, "mx1", "bob", 3, "198.51.100.2"),
	    1);
	db = store_db(st);
	CHECK_INT(qint(db, idx, NULL, 0), 1);
	CHECK_INT(qint(db, "SELECT accounts FROM address_totals WHERE "
	    "addr = '198.51.100.1'", NULL, 0), 3);
	CHECK_INT(plan_uses(db, "SELECT * FROM address_totals",
	    "USING COVERING INDEX account_addrs_addr"), 1);
	CHECK_INT(store_db(st) == db, 1);
	put(st, sev(SW_EV_FAILURE, "dave", 4, "198.51.100.1", T0 + 4));
	CHECK_INT(store_commit(st), 0);		/* the index kept up */
	CHECK_INT(qint(db, "SELECT accounts FROM address_totals WHERE "
	    "addr = '198.51.100.1'", NULL, 0), 4);
	CHECK_INT(qint(db, "SELECT failures FROM address_totals WHERE "
	    "addr = '198.51.100.1'", NULL, 0), 4);
	CHECK_INT(qint(db, ACC("failures"), "bob", 3), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM buckets", NULL, 0), 0);
	store_close(st);
}

/* Every pair as "account addr failures successes;", in that order. */
static const char *
pair_rows(sqlite3 *db)
{
	return qstr(db, "SELECT group_concat(r, ';') FROM (SELECT "
	    "CAST(a.account AS TEXT) || ' ' || p.addr || ' ' || p.failures || "
	    "' ' || p.successes AS r FROM account_addrs p JOIN accounts a ON "
	    "a.id = p.account_id ORDER BY 1)", NULL, 0);
}

/*
 * A pair goes to its account's row by id: the id of an account the
 * batch inserts (kept from its upsert), of one it updates (read once),
 * and after a commit that failed, that of the row the retry inserts,
 * not the one the failed commit had (another writer took that id).
 */
static void
test_pair_ids(void)
{
	struct sw_store	*st;
	sqlite3		*other;

	if ((st = open_ok("pairid.db", &opt)) == NULL)
		return;
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.1", T0));
	put(st, sev(SW_EV_SUCCESS, "bob", 3, "198.51.100.2", T0 + 1));
	CHECK_INT(store_commit(st), 0);
	put(st, sev(SW_EV_FAILURE, "bob", 3, "198.51.100.1", T0 + 2));
	put(st, sev(SW_EV_FAILURE, "carol", 5, "198.51.100.1", T0 + 3));
	put(st, sev(SW_EV_FAILURE, "alice", 5, "198.51.100.1", T0 + 4));
	put(st, sev(SW_EV_SUCCESS, "alice", 5, "198.51.100.3", T0 + 5));
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(pair_rows(st->db), "alice 198.51.100.1 2 0;"
	    "alice 198.51.100.3 0 1;bob 198.51.100.1 1 0;"
	    "bob 198.51.100.2 0 1;carol 198.51.100.1 1 0");

	CHECK_INT(sqlite3_open(path("pairid.db"), &other), SQLITE_OK);
	CHECK_INT(sqlite3_exec(other, "CREATE TRIGGER disk_full BEFORE "
	    "INSERT ON account_addrs BEGIN SELECT RAISE(ABORT, 'disk full'); "
	    "END", NULL, NULL, NULL), SQLITE_OK);
	put(st, sev(SW_EV_FAILURE, "dave", 4, "198.51.100.4", T0 + 6));
	put(st, sev(SW_EV_FAILURE, "erin", 4, "198.51.100.4", T0 + 7));
	CHECK_INT(store_commit(st), -1);
	CHECK_INT(sqlite3_exec(other, "DROP TRIGGER disk_full; "
	    "INSERT INTO accounts (host, account, last_seen) VALUES "
	    "('mx9', CAST('mallory' AS BLOB), 1)", NULL, NULL, NULL),
	    SQLITE_OK);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(pair_rows(st->db), "alice 198.51.100.1 2 0;"
	    "alice 198.51.100.3 0 1;bob 198.51.100.1 1 0;"
	    "bob 198.51.100.2 0 1;carol 198.51.100.1 1 0;"
	    "dave 198.51.100.4 1 0;erin 198.51.100.4 1 0");
	sqlite3_close(other);
	store_close(st);
}

/* Batch i of the WAL tests: 200 failures of new accounts, committed. */
static int
wal_batch(struct sw_store *st, int i)
{
	char	 name[32], addr[32];
	int	 k;

	for (k = 0; k < WAL_BATCH; k++) {
		snprintf(name, sizeof(name), "u%d-%d@example.com", i, k);
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", i % 250, k,
		    (i + k) % 250);
		put(st, sev(SW_EV_FAILURE, name, strlen(name), addr,
		    T0 + i * 60 + k % 60));
	}
	return CHECK_INT(store_commit(st), 0);
}

/*
 * The WAL is copied into the file once it holds WAL_PAGES frames, not
 * before three quarters of them (a page several commits write goes into
 * the file once), and never holds more than that after a commit.
 */
static void
test_wal(void)
{
	struct sw_store	*st;
	int		 i, most = 0, copied = 0;

	if ((st = open_ok("wal.db", &opt)) == NULL)
		return;
	for (i = 0; i < 1000 && !copied; i++) {
		if (!wal_batch(st, i))
			break;
		if (st->walpages == 0 && i > 0)
			copied = 1;
		else if (st->walpages > most)
			most = st->walpages;
	}
	CHECK(copied);
	CHECK(most < WAL_PAGES);
	CHECK(most >= WAL_PAGES / 4 * 3);
	store_close(st);
}

/*
 * The daemon's checkpointer (ckpt.c): asked once the WAL holds
 * WAL_PAGES frames, not before; its thread copies them into the file
 * (waited for here, where the loop goes on), and the first commit after
 * starts the WAL again.  Closing, the store's connection is the last
 * and removes the WAL; the file holds every count.
 */
static void
test_wal_thread(void)
{
	struct sw_storeopt	 o = opt;
	struct sw_store		*st;
	sqlite3			*db;
	struct stat		 sb;
	struct sw_ckpt_stat	 cs;
	int			 i, most = 0, asked = 0, copied = 0, failing;

	o.ckthread = 1;
	if ((st = open_ok("walt.db", &o)) == NULL)
		return;
	CHECK(st->ckpt != NULL);
	for (i = 0; i < 1000 && !copied; i++) {
		if (!wal_batch(st, i))
			break;
		if (asked && st->walpages < WAL_PAGES / 4)
			copied = 1;
		else if (st->walpages >= WAL_PAGES) {
			asked = 1;
			ckpt_wait(st->ckpt);
		} else if (st->walpages > most)
			most = st->walpages;
		if (!asked && st->ckpt != NULL) {	/* not before */
			ckpt_stat(st->ckpt, &cs);
			if (!CHECK_INT(cs.runs, 0))
				break;
		}
	}
	CHECK(copied);
	CHECK(most >= WAL_PAGES / 4 * 3);
	memset(&cs, 0, sizeof(cs));
	cs.failed = 1;
	if (st->ckpt != NULL)
		ckpt_stat(st->ckpt, &cs);
	CHECK(cs.runs >= 1);
	CHECK_INT(cs.failed, 0);
	failing = 1;
	CHECK_INT(store_checkpoint_errors(st, &failing), 0);
	CHECK_INT(failing, 0);
	store_close(st);
	CHECK(stat(path("walt.db-wal"), &sb) == -1 && errno == ENOENT);
	db = other_open("walt.db");
	CHECK_INT(qint(db, "SELECT sum(failures) FROM account_totals", NULL,
	    0), i * WAL_BATCH);
	CHECK_STR(qstr(db, "PRAGMA quick_check", NULL, 0), "ok");
	sqlite3_close(db);
}

/* The readers report an SQLite error as -1. */
static void
test_read_errors(void)
{
	struct sw_store	*st;
	static struct got	 got;

	if ((st = open_ok("broken.db", &opt)) == NULL)
		return;
	CHECK_INT(store_incidents_open(st, got_inc, &got), 0);
	CHECK_INT(sqlite3_exec(st->db, "DROP VIEW incident_list; "
	    "DROP VIEW relay_totals; DROP TABLE incidents; "
	    "DROP VIEW account_totals; DROP VIEW address_totals; "
	    "DROP TABLE account_addrs", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(store_incidents_open(st, got_inc, &got), -1);
	CHECK_INT(got.n, 0);
	CHECK_INT(store_incident_maxid(st), -1);
	CHECK_INT(store_pair_succeeded(st, "mx1", "alice", 5, "192.0.2.1"),
	    -1);
	store_close(st);
}

/* A checkpoint with every field set, from seed. */
static void
cp_fill(struct sw_checkpoint *cp, const char *source, uint64_t seed)
{
	size_t	 i;

	memset(cp, 0, sizeof(*cp));
	cp->source = xstrdup(source);
	cp->id.dev = 0x8000000000000001ULL + seed;
	cp->id.ino = UINT64_MAX - seed;
	cp->id.fplen = (uint32_t)(SW_FP_MAX - seed);
	cp->id.fphash = 0xcbf29ce484222325ULL ^ seed;
	cp->offset = 1000000 + seed;
	cp->done = 999000 + seed;
	cp->nheld = 3;
	for (i = 0; i < cp->nheld; i++)
		cp->held[i] = 998000 + seed + i * 17;
	cp->statelen = 40;
	cp->state = xmalloc(cp->statelen);
	for (i = 0; i < cp->statelen; i++)
		cp->state[i] = (unsigned char)(i * 7 + seed);
	cp->state[3] = '\0';
}

/* Every field but updated (set by the commit) is the same. */
static void
cp_same(const struct sw_checkpoint *a, const struct sw_checkpoint *b)
{
	size_t	 i;

	CHECK_STR(a->source, b->source);
	CHECK(a->id.dev == b->id.dev);
	CHECK(a->id.ino == b->id.ino);
	CHECK_INT(a->id.fplen, b->id.fplen);
	CHECK(a->id.fphash == b->id.fphash);
	CHECK(a->offset == b->offset);
	CHECK(a->done == b->done);
	if (CHECK_INT(a->nheld, b->nheld))
		for (i = 0; i < a->nheld; i++)
			CHECK(a->held[i] == b->held[i]);
	CHECK_MEM((const char *)a->state, a->statelen,
	    (const char *)b->state, b->statelen);
}

/* store_position() -> store_commit() -> store_load(), two sources. */
static void
test_checkpoints(void)
{
	struct sw_store		*st;
	struct sw_checkpoint	 a, b, got;
	time_t			 before = time(NULL);

	if ((st = open_ok("cp.db", &opt)) == NULL)
		return;
	CHECK_INT(store_load(st, "/var/log/mail.log", &got), 0);
	cp_fill(&a, "/var/log/mail.log", 1);
	cp_fill(&b, "/var/log/exim4/mainlog", 2);
	store_position(st, &b);
	b.offset++;
	b.nheld = 0;
	store_position(st, &a);
	store_position(st, &b);		/* replaces the first */
	CHECK_INT(st->npos, 2);
	CHECK_INT(store_batched(st), 0);
	CHECK_INT(store_commit(st), 0);		/* positions alone */
	store_close(st);
	if ((st = open_ok("cp.db", &opt)) == NULL)
		goto out;
	CHECK_INT(store_load(st, "/var/log/mail.log", &got), 1);
	cp_same(&got, &a);
	CHECK(got.updated >= before && got.updated <= time(NULL));
	checkpoint_clear(&got);
	CHECK_INT(store_load(st, "/var/log/exim4/mainlog", &got), 1);
	cp_same(&got, &b);
	checkpoint_clear(&got);

	/* An empty state and held[] come back empty. */
	free(a.state);
	a.state = NULL;
	a.statelen = 0;
	a.nheld = 0;
	store_position(st, &a);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_load(st, "/var/log/mail.log", &got), 1);
	cp_same(&got, &a);
	CHECK(got.state == NULL);
	checkpoint_clear(&got);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM checkpoints", NULL, 0),
	    2);

	/* The journal's cursor and its entry number; a file has none. */
	CHECK_INT(store_load(st, "/var/log/exim4/mainlog", &got), 1);
	CHECK(got.cursor == NULL);
	checkpoint_clear(&got);
	checkpoint_clear(&b);
	cp_fill(&b, "journal", 3);
	b.cursor = xstrdup("s=0123;i=2a;b=77;m=1;t=5f;x=9");
	b.cursorseq = 42;
	store_position(st, &b);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_load(st, "journal", &got), 1);
	cp_same(&got, &b);
	CHECK_STR(got.cursor, "s=0123;i=2a;b=77;m=1;t=5f;x=9");
	CHECK_INT(got.cursorseq, 42);
	checkpoint_clear(&got);
	store_close(st);
out:
	checkpoint_clear(&a);
	checkpoint_clear(&b);
}

/*
 * The batch of test_busy() and test_midfail(): 3 failures, the relay's
 * incident with off failures, 1 position.
 */
static void
busy_batch(struct sw_store *st, struct sw_checkpoint *cp, uint64_t off)
{
	struct sw_incident	 inc;

	put(st, sev(SW_EV_FAILURE, "erin", 4, "192.0.2.7", T0));
	put(st, sev(SW_EV_FAILURE, "erin", 4, "192.0.2.7", T0 + 1));
	put(st, cev(SW_EV_FAILURE, "relay.busy", T0 + 2));
	inc_fill(&inc, 1, SW_INC_RELAY, "relay.busy", 10, T0);
	inc.failures = off;
	store_incident(st, &inc);
	cp->offset = off;
	store_position(st, cp);
}

/* What busy_batch() wrote, n times, and the offset committed. */
static void
busy_check(sqlite3 *db, int n, long long off)
{
	CHECK_INT(qint(db, ACC("failures"), "erin", 4), n ? 2 * n : -1);
	CHECK_INT(qint(db, ADDR("failures", "192.0.2.7"), NULL, 0),
	    n ? 2 * n : -1);
	CHECK_INT(qint(db, RELAY("failures", "relay.busy"), NULL, 0),
	    n ? n : -1);
	CHECK_INT(qint(db, "SELECT coalesce(sum(failures), 0) FROM buckets",
	    NULL, 0), 5 * n);		/* addr, account, relay */
	CHECK_INT(qint(db, "SELECT count(*) FROM incidents", NULL, 0),
	    n ? 1 : 0);
	CHECK_INT(qint(db, "SELECT failures FROM incidents WHERE id = 1",
	    NULL, 0), n ? off : -1);
	CHECK_STR(qstr(db, RELAY("state", "relay.busy"), NULL, 0),
	    n ? "failing" : "-");
	CHECK_INT(qint(db, "SELECT offset FROM checkpoints", NULL, 0), off);
}

/*
 * Another connection holds the write lock: the commit fails, nothing is
 * written, the batch stays; once released, it is all written once.
 */
static void
test_busy(void)
{
	struct sw_store		*st;
	struct sw_checkpoint	 cp;
	sqlite3			*other;

	if ((st = open_ok("busy.db", &opt)) == NULL)
		return;
	cp_fill(&cp, "/var/log/mail.log", 3);
	busy_batch(st, &cp, 100);
	CHECK_INT(store_commit(st), 0);
	busy_check(st->db, 1, 100);

	busy_batch(st, &cp, 200);
	CHECK_INT(sqlite3_open(path("busy.db"), &other), SQLITE_OK);
	CHECK_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	CHECK_INT(store_commit(st), -1);
	CHECK_INT(store_commit(st), -1);	/* logged once */
	CHECK_INT(store_batched(st), 3);
	CHECK_INT(st->ninc, 1);
	CHECK(sqlite3_get_autocommit(st->db));
	busy_check(st->db, 1, 100);
	CHECK_INT(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(store_commit(st), 0);		/* "writable again" */
	CHECK_INT(store_batched(st), 0);
	busy_check(st->db, 2, 200);
	CHECK_INT(store_commit(st), 0);
	busy_check(st->db, 2, 200);
	busy_check(other, 2, 200);
	sqlite3_close(other);
	checkpoint_clear(&cp);
	store_close(st);
}

/*
 * A statement fails half-way through the transaction (a trigger on
 * table stands for a full disk): everything is rolled back, then, once
 * the trigger is gone, written once.
 */
static void
test_midfail(const char *table)
{
	struct sw_store		*st;
	struct sw_checkpoint	 cp;
	sqlite3			*other;
	char			 sql[512];

	if ((st = open_ok("midfail.db", &opt)) == NULL)
		return;
	cp_fill(&cp, "/var/log/mail.log", 4);
	busy_batch(st, &cp, 100);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(sqlite3_open(path("midfail.db"), &other), SQLITE_OK);
	snprintf(sql, sizeof(sql), "CREATE TRIGGER disk_full BEFORE INSERT "
	    "ON %s BEGIN SELECT RAISE(ABORT, 'disk full'); END; "
	    "CREATE TRIGGER disk_full2 BEFORE UPDATE ON %s BEGIN "
	    "SELECT RAISE(ABORT, 'disk full'); END", table, table);
	CHECK_INT(sqlite3_exec(other, sql, NULL, NULL, NULL), SQLITE_OK);
	busy_batch(st, &cp, 300);
	CHECK_INT(store_commit(st), -1);
	CHECK(strstr(st->err, "disk full") != NULL);
	CHECK(sqlite3_get_autocommit(st->db));
	CHECK_INT(store_batched(st), 3);
	CHECK_INT(st->ninc, 1);
	busy_check(st->db, 1, 100);
	CHECK_INT(sqlite3_exec(other, "DROP TRIGGER disk_full; "
	    "DROP TRIGGER disk_full2", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(store_commit(st), 0);
	busy_check(st->db, 2, 300);
	sqlite3_close(other);
	checkpoint_clear(&cp);
	store_close(st);
	unlink(path("midfail.db"));
}

/* Reads a whole file into *buf; returns its size, or -1. */
static ssize_t
slurp(const char *p, char **buf)
{
	struct stat	 sb;
	ssize_t		 n;
	int		 fd;

	*buf = NULL;
	if ((fd = open(p, O_RDONLY)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return -1;
	}
	*buf = xmalloc((size_t)sb.st_size);
	n = read(fd, *buf, (size_t)sb.st_size);
	close(fd);
	return n;
}

/* store_open() refuses p, which stays byte for byte as it was. */
static void
refused_untouched(const char *name)
{
	struct sw_store	*st = NULL;
	char		*before, *after, wal[300];
	ssize_t		 nb, na;

	nb = slurp(path(name), &before);
	CHECK(nb > 0);
	CHECK_INT(store_open(path(name), &opt, &st), -1);
	CHECK(st == NULL);
	na = slurp(path(name), &after);
	CHECK_MEM(before, (size_t)nb, after, (size_t)na);
	snprintf(wal, sizeof(wal), "%s-wal", path(name));
	CHECK(access(wal, F_OK) == -1);
	free(before);
	free(after);
}

/* The same, and the first warning names the file and holds what. */
static void
refused_saying(const char *name, const char *what)
{
	char	 msg[512], file[256];

	snprintf(file, sizeof(file), "%s", path(name));
	log_capture(msg, sizeof(msg));
	refused_untouched(name);
	log_capture(NULL, 0);
	if (!CHECK(strncmp(msg, file, strlen(file)) == 0 &&
	    strstr(msg, what) != NULL))
		fprintf(stderr, "\t%s: want \"%s: ...%s...\"\n", msg, file,
		    what);
}

/* A file made by sql, as another program or an older build would. */
static void
make_db(const char *name, const char *sql)
{
	sqlite3	*db;

	CHECK_INT(sqlite3_open(path(name), &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * The databases of the development builds before 0.1 (no application
 * id, schema versions 1 to 3: their migrations were folded into one)
 * are refused untouched, saying to move the file away; so are other
 * programs' files, with or without an application id of their own.  A
 * new empty file is taken.
 */
static void
test_old_builds(void)
{
	struct sw_store	*st;
	char		 sql[256], name[32];
	int		 v;

	for (v = 1; v <= 3; v++) {
		snprintf(name, sizeof(name), "dev%d.db", v);
		snprintf(sql, sizeof(sql), "CREATE TABLE accounts (id INTEGER "
		    "PRIMARY KEY, account BLOB); INSERT INTO accounts VALUES "
		    "(1, x'61'); PRAGMA user_version = %d", v);
		make_db(name, sql);
		refused_saying(name, "development build of smtpwatch before "
		    "0.1");
		refused_saying(name, "move the file away");
	}
	make_db("other.db", "PRAGMA application_id = 42; CREATE TABLE t (x)");
	refused_saying("other.db", "not an smtpwatch database");
	make_db("plain.db", "CREATE TABLE t (x)");	/* version 0, no id */
	refused_saying("plain.db", "not an smtpwatch database");
	make_db("later.db", "PRAGMA user_version = 7; CREATE TABLE t (x)");
	refused_saying("later.db", "not an smtpwatch database");
	make_db("empty.db", "PRAGMA user_version = 0");
	if ((st = open_ok("empty.db", &opt)) == NULL)
		return;
	CHECK_INT(qint(st->db, "PRAGMA application_id", NULL, 0),
	    APPLICATION_ID);
	store_close(st);
}

/*
 * A database of schema version 1 (the first release) is upgraded in
 * place: its rows stay, the views read them as before, buckets_start is
 * gone and account_addrs is a table WITHOUT ROWID (sql/002-lean.sql),
 * and the buckets are keyed by time first (sql/003-time-first.sql).
 */
static void
test_upgrade(void)
{
	struct sw_store	*st;
	sqlite3		*db;
	char		 sql[128];

	CHECK_INT(sqlite3_open(path("v1.db"), &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, sql_migrations[0], NULL, NULL, NULL),
	    SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = 1; PRAGMA "
	    "application_id = %d", APPLICATION_ID);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "INSERT INTO accounts (id, host, account, "
	    "failures, last_seen) VALUES (7, 'mx1', x'616c696365', 3, 100); "
	    "INSERT INTO account_addrs VALUES (7, '192.0.2.1', 2, 0, 90, 100, "
	    "0), (7, '192.0.2.2', 1, 0, 95, 95, 0); INSERT INTO addresses "
	    "(host, addr, failures, last_seen) VALUES ('mx1', '192.0.2.1', 2, "
	    "100); INSERT INTO buckets VALUES ('addr', 'mx1', "
	    "CAST('192.0.2.1' AS BLOB), 60, 2, 0), ('account', 'mx1', "
	    "x'616c696365', 120, 3, 1)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if ((st = open_ok("v1.db", &opt)) == NULL)
		return;
	CHECK_INT(qint(st->db, "PRAGMA user_version", NULL, 0), SQL_VERSION);
	CHECK_INT(qint(st->db, "SELECT addresses FROM account_totals WHERE "
	    "account = x'616c696365'", NULL, 0), 2);
	CHECK_INT(qint(st->db, "SELECT accounts FROM address_totals WHERE "
	    "addr = '192.0.2.1'", NULL, 0), 1);
	CHECK_INT(qint(st->db, "SELECT sum(failures) FROM buckets", NULL, 0),
	    5);
	CHECK_INT(qint(st->db, "SELECT affected FROM buckets WHERE scope = "
	    "'account' AND host = 'mx1' AND key = x'616c696365' AND start = "
	    "120", NULL, 0), 1);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'buckets' AND sql LIKE "
	    "'%PRIMARY KEY (start, scope, host, key)%'", NULL, 0), 1);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'buckets_start'", NULL, 0), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'account_addrs' AND sql LIKE '%WITHOUT ROWID'", NULL, 0),
	    1);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM pragma_foreign_key_check",
	    NULL, 0), 0);
	/* The cascade still holds: an account's addresses go with it. */
	CHECK_INT(sqlite3_exec(st->db, "DELETE FROM accounts WHERE id = 7",
	    NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM account_addrs", NULL, 0),
	    0);
	store_close(st);
}

/*
 * The batch is full at batch-events events, or sooner when its counts
 * take BATCH_BYTES: failures of distinct accounts from distinct
 * addresses make several keys each.  After the commit it is empty.
 */
static void
test_full(void)
{
	struct sw_store	*st;
	char		 acct[32], addr[64];
	size_t		 n;

	if ((st = open_ok("full.db", &opt)) == NULL)
		return;
	CHECK_INT(store_full(st, 5), 0);
	for (n = 0; n < 5; n++)
		put(st, sev(SW_EV_FAILURE, "one", 3, "192.0.2.1", T0));
	CHECK_INT(store_full(st, 5), 1);	/* events */
	CHECK_INT(store_commit(st), 0);
	for (n = 0; n < 1000000 && !store_full(st, SIZE_MAX); n++) {
		snprintf(acct, sizeof(acct), "u%zu", n);
		snprintf(addr, sizeof(addr), "2001:db8::%zx:%zx", n >> 16,
		    n & 0xffff);
		put(st, sev(SW_EV_FAILURE, acct, strlen(acct), addr,
		    T0 + (time_t)n));
	}
	CHECK(n > 1000 && n < 100000);		/* bytes, long before */
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_full(st, SIZE_MAX), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM accounts", NULL, 0),
	    (long long)n + 1);
	/* the commit kept a chunk and the grown table for the next batch;
	   with nothing batched, shrinking gives them back */
	CHECK(st->arena != NULL && st->tabsize > TAB_MIN);
	put(st, sev(SW_EV_FAILURE, "one", 3, "192.0.2.1", T0 + 1));
	store_shrink(st);			/* a batch: kept */
	CHECK(st->arena != NULL && st->nagg > 0);
	CHECK_INT(store_commit(st), 0);
	store_shrink(st);
	CHECK(st->arena == NULL && st->sorted == NULL);
	CHECK_INT(st->tabsize, TAB_MIN);
	put(st, sev(SW_EV_FAILURE, "one", 3, "192.0.2.1", T0 + 2));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(st->db, "SELECT failures FROM accounts WHERE "
	    "account = ?", "one", 3), 7);
	store_close(st);
}

/* Writes n bytes of b to p. */
static void
spew(const char *p, const char *b, size_t n, off_t at)
{
	int	 fd;

	fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd != -1 && pwrite(fd, b, n, at) == (ssize_t)n);
	close(fd);
}

/* Garbage, a damaged database, a newer schema, a missing directory. */
static void
test_refuse(void)
{
	struct sw_store	*st = NULL;
	sqlite3		*db;
	char		 junk[8192], sql[128];
	size_t		 i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	spew(path("junk.db"), junk, sizeof(junk), 0);
	refused_untouched("junk.db");

	if ((st = open_ok("damaged.db", &opt)) == NULL)
		return;
	for (i = 0; i < 200; i++)
		put(st, sev(SW_EV_FAILURE, "frank", 5, "192.0.2.1", T0 +
		    (time_t)i * 60));
	CHECK_INT(store_commit(st), 0);
	store_close(st);
	spew(path("damaged.db"), junk, 4096, 4096);	/* page 2 */
	refused_untouched("damaged.db");

	CHECK_INT(sqlite3_open(path("newer.db"), &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "CREATE TABLE t (x); PRAGMA user_version "
	    "= %d; PRAGMA application_id = %d", SQL_VERSION + 1,
	    APPLICATION_ID);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	refused_saying("newer.db", "is newer than this smtpwatchd");

	CHECK_INT(store_open(path("nodir/x.db"), &opt, &st), -1);
	CHECK(access(path("nodir"), F_OK) == -1);
}

/* Retention: old rows go, recent ones stay; 0 keeps everything. */
static void
test_expire(void)
{
	struct sw_storeopt	 keep = { 0, 60, 0, 2 * DAY, 0, 0, 0, 0 }, o = opt;
	struct sw_store		*st;
	sqlite3			*db;
	time_t			 now = T0 + 200 * DAY;
	time_t			 old = now - 100 * DAY, recent = now - DAY;
	struct sw_incident	 inc;

	o.bucket_rollup = 2 * DAY;	/* the windows below stay exact */

	if ((st = open_ok("expire.db", &o)) == NULL)
		return;
	db = st->db;
	inc_fill(&inc, 1, SW_INC_ACCOUNT, "old", 3, old);
	inc.closed = old + 1;
	store_incident(st, &inc);
	inc_fill(&inc, 2, SW_INC_ACCOUNT, "old", 3, old + 2);
	inc.closed = recent;
	store_incident(st, &inc);
	inc_fill(&inc, 3, SW_INC_RELAY, "old.relay", 9, old);
	store_incident(st, &inc);		/* open: kept */
	put(st, sev(SW_EV_FAILURE, "old", 3, "192.0.2.1", old));
	put(st, sev(SW_EV_SUCCESS, "old", 3, "192.0.2.1", old + 1));
	put(st, sev(SW_EV_FAILURE, "new", 3, "192.0.2.2", old));
	put(st, sev(SW_EV_FAILURE, "new", 3, "192.0.2.1", recent));
	put(st, cev(SW_EV_FAILURE, "old.relay", old));
	put(st, cev(SW_EV_FAILURE, "new.relay", recent));
	put(st, cev(SW_EV_FAILURE, "new.relay", now - 60));
	CHECK_INT(store_commit(st), 0);
	store_close(st);

	/* Keep forever. */
	if ((st = open_ok("expire.db", &keep)) == NULL)
		return;
	CHECK_INT(store_expire(st, now), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM accounts", NULL, 0), 2);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM relays", NULL, 0), 2);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM buckets", NULL, 0), 9);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM incidents", NULL, 0), 3);
	store_close(st);

	if ((st = open_ok("expire.db", &o)) == NULL)
		return;
	db = st->db;
	CHECK_INT(store_expire(st, now), 0);
	CHECK_INT(qint(db, ACC("failures"), "old", 3), -1);
	CHECK_INT(qint(db, ACC("failures"), "new", 3), 2);
	CHECK_INT(qint(db, ACC("addresses"), "new", 3), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_addrs", NULL, 0), 1);
	CHECK_INT(qint(db, ADDR("failures", "192.0.2.1"), NULL, 0), 2);
	CHECK_INT(qint(db, ADDR("failures", "192.0.2.2"), NULL, 0), -1);
	CHECK_INT(qint(db, RELAY("failures", "old.relay"), NULL, 0), -1);
	CHECK_INT(qint(db, RELAY("failures", "new.relay"), NULL, 0), 2);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_totals WHERE "
	    "direction = 'client'", NULL, 0), 1);	/* new.relay */
	CHECK_INT(qint(db, "SELECT count(*) FROM incidents", NULL, 0), 2);
	CHECK_INT(qint(db, "SELECT count(*) FROM incidents WHERE id = 1",
	    NULL, 0), 0);		/* closed 100 days ago */
	CHECK_INT(store_incident_maxid(st), 3);
	CHECK_INT(qint(db, "SELECT count(*) FROM buckets", NULL, 0), 4);
	CHECK_INT(store_failures_since(st, now - DAY), 3);
	CHECK_INT(store_failures_since(st, now - 120), 1);
	CHECK_INT(store_failures_since(st, 0), 3);
	store_close(st);
}


/* The value of a meta note, -1 when none. */
static long long
meta(sqlite3 *db, const char *name)
{
	char	 sql[128];

	snprintf(sql, sizeof(sql), "SELECT value FROM meta WHERE name = '%s'",
	    name);
	return qint(db, sql, NULL, 0);
}

/*
 * Retention goes by the newest log time committed, whatever the clock
 * says; what the backlog read at start wrote stays while the store is
 * open (store_caught_up() ends the backlog), and goes in a later run.
 */
static void
test_logtime(void)
{
	struct sw_store	*st;
	sqlite3		*db;
	time_t		 old = T0 - 200 * DAY;

	if ((st = open_ok("logtime.db", &opt)) == NULL)
		return;
	db = st->db;
	CHECK_INT(store_expire(st, T0), 0);	/* nothing counted: a no-op */
	CHECK_INT(meta(db, "expire_log"), -1);
	put(st, sev(SW_EV_FAILURE, "old", 3, "192.0.2.1", old));
	put(st, sev(SW_EV_FAILURE, "new", 3, "192.0.2.2", T0));
	CHECK_INT(store_commit(st), 0);		/* the backlog */
	CHECK_INT(store_expire(st, T0 + 1000 * DAY), 0);	/* clock ahead */
	CHECK_INT(qint(db, ACC("failures"), "old", 3), 1);
	CHECK_INT(meta(db, "expire_log"), T0);
	CHECK_INT(store_caught_up(st), 1);
	CHECK_INT(store_caught_up(st), 0);
	put(st, sev(SW_EV_FAILURE, "live", 4, "192.0.2.3", T0 + 10 * DAY));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_expire(st, T0 + 10 * DAY), 0);
	CHECK_INT(qint(db, ACC("failures"), "old", 3), 1);	/* backlog's */
	store_close(st);

	/* a later run: by the newest log time, the clock far behind */
	if ((st = open_ok("logtime.db", &opt)) == NULL)
		return;
	db = st->db;
	CHECK_INT(st->newest, T0 + 10 * DAY);
	CHECK_INT(store_expire(st, T0 - 1000 * DAY), 0);
	CHECK_INT(qint(db, ACC("failures"), "old", 3), -1);
	CHECK_INT(qint(db, ADDR("failures", "192.0.2.1"), NULL, 0), -1);
	CHECK_INT(qint(db, ACC("failures"), "new", 3), 1);
	CHECK_INT(qint(db, ACC("failures"), "live", 4), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM buckets WHERE start < "
	    "1764300000 - 2 * 86400", NULL, 0), 0);
	store_close(st);
}

/*
 * The log's time jumps a year ahead (a wrong year) while the clock moves
 * an hour: an expiry deleting more than the share limit is refused,
 * noted, said once; nothing goes.  Once the clock has moved as far, or
 * with a limit of 100%, it runs.
 */
static void
test_jump(void)
{
	struct sw_storeopt	 o = opt;
	struct sw_store		*st;
	sqlite3			*db;
	char			 said[512], name[16];
	time_t			 wall = T0 + 3600;
	int			 i;

	o.share = 50;
	if ((st = open_ok("jump.db", &o)) == NULL)
		return;
	db = st->db;
	store_caught_up(st);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		put(st, sev(SW_EV_FAILURE, name, strlen(name), "192.0.2.9",
		    T0 + i));
	}
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_expire(st, wall), 0);	/* the reference */
	CHECK_INT(meta(db, "expire_wall"), wall);
	put(st, sev(SW_EV_FAILURE, "future", 6, "192.0.2.10", T0 + 365 * DAY));
	CHECK_INT(store_commit(st), 0);
	log_capture(said, sizeof(said));
	CHECK_INT(store_expire(st, wall + 3600), 0);
	log_capture(NULL, 0);
	CHECK(strstr(said, "retention refused: it would delete") != NULL);
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts", NULL, 0), 11);
	CHECK_INT(meta(db, "refused_wall"), wall + 3600);
	CHECK_INT(meta(db, "refused_log"), T0 + 365 * DAY);
	CHECK(meta(db, "refused_rows") > meta(db, "refused_total") / 2);
	log_capture(said, sizeof(said));
	CHECK_INT(store_expire(st, wall + 7200), 0);	/* said once */
	log_capture(NULL, 0);
	CHECK_STR(said, "");
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts", NULL, 0), 11);
	CHECK_INT(meta(db, "expire_log"), T0 + 9);	/* not moved on */

	/* the clock caught up: a year of the log is a year */
	CHECK_INT(store_expire(st, wall + 366 * DAY), 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM accounts", NULL, 0), 1);
	CHECK_INT(meta(db, "refused_wall"), 0);
	CHECK_INT(meta(db, "expire_log"), T0 + 365 * DAY);
	store_close(st);

	/* retention-limit 100%: no limit */
	o.share = 100;
	if ((st = open_ok("jump100.db", &o)) == NULL)
		return;
	store_caught_up(st);
	put(st, sev(SW_EV_FAILURE, "a", 1, "192.0.2.1", T0));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_expire(st, wall), 0);
	put(st, sev(SW_EV_FAILURE, "b", 1, "192.0.2.2", T0 + 365 * DAY));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_expire(st, wall + 60), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM accounts", NULL, 0), 1);
	store_close(st);
}

/*
 * Buckets older than bucket-rollup before the newest log time become one
 * per hour with the same sums; newer ones stay per minute.
 */
static void
test_rollup(void)
{
	struct sw_storeopt	 o = opt;
	struct sw_store		*st;
	sqlite3			*db;
	time_t			 day1 = T0 - T0 % 3600 - 2 * DAY;
	char			 sql[160];
	int			 i;

	o.bucket_retention = 7 * DAY;
	if ((st = open_ok("rollup.db", &o)) == NULL)
		return;
	db = st->db;
	store_caught_up(st);
	for (i = 0; i < 12; i++)		/* 00:00 to 00:55, 01:00 */
		put(st, sev(SW_EV_FAILURE, i % 2 ? "odd" : "even", i % 2 ? 3 : 4,
		    "192.0.2.1", day1 + 300 * i + (i == 11 ? 300 : 0)));
	put(st, cev(SW_EV_FAILURE, "relay.example", day1 + 120));
	put(st, cev(SW_EV_AFFECTED, "relay.example", day1 + 180));
	put(st, sev(SW_EV_FAILURE, "now", 3, "192.0.2.2", T0));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM buckets WHERE start < ?1",
	    NULL, 0), 0);
	CHECK_INT(store_failures_since(st, day1), 14);
	CHECK_INT(store_expire(st, T0), 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM buckets WHERE start % 3600 "
	    "!= 0 AND start < 1764300000 - 86400", NULL, 0), 0);
	CHECK_INT(qint(db, "SELECT count(DISTINCT start) FROM buckets WHERE "
	    "start < 1764300000 - 86400", NULL, 0), 2);
	snprintf(sql, sizeof(sql), "SELECT failures FROM buckets WHERE "
	    "scope = 'account' AND key = ?1 AND start = %lld",
	    (long long)day1);
	CHECK_INT(qint(db, sql, "even", 4), 6);
	CHECK_INT(qint(db, "SELECT sum(failures) FROM buckets WHERE scope = "
	    "'account' AND key = ?1", "odd", 3), 6);
	CHECK_INT(qint(db, "SELECT affected FROM buckets WHERE scope = "
	    "'relay'", NULL, 0), 1);
	CHECK_INT(store_failures_since(st, day1), 14);
	CHECK_INT(store_failures_since(st, T0 - 60), 1);
	CHECK_INT(qint(db, "SELECT count(*) FROM buckets WHERE start >= "
	    "1764300000 - 86400 AND start % 60 = 0", NULL, 0), 2);
	store_close(st);
}

/*
 * bucket-rollup: buckets stay bucket-width wide that long before the
 * newest log time, two hours by default, then become hourly.
 */
static void
test_rollup_age(void)
{
	struct sw_storeopt	 o = opt;
	struct sw_store		*st;
	time_t			 hour = T0 - T0 % 3600;	/* 03:00; T0 03:20 */

	o.bucket_retention = 7 * DAY;
	o.bucket_rollup = 3 * DAY;
	if ((st = open_ok("rollup-3d.db", &o)) == NULL)
		return;
	store_caught_up(st);
	put(st, sev(SW_EV_FAILURE, "old", 3, "192.0.2.1",
	    hour - 2 * DAY + 600));
	put(st, sev(SW_EV_FAILURE, "now", 3, "192.0.2.2", T0));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(store_expire(st, T0), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM buckets WHERE "
	    "start % 3600 = 600", NULL, 0), 2);	/* younger than 3 days */
	store_close(st);

	o.bucket_rollup = 0;				/* 2 hours */
	if ((st = open_ok("rollup-2h.db", &o)) == NULL)
		return;
	store_caught_up(st);
	put(st, sev(SW_EV_FAILURE, "old", 3, "192.0.2.1",
	    hour - 3 * 3600 + 600));
	put(st, sev(SW_EV_FAILURE, "old", 3, "192.0.2.1",
	    hour - 3 * 3600 + 900));
	put(st, sev(SW_EV_FAILURE, "new", 3, "192.0.2.2",
	    hour - 3600 + 600));
	put(st, sev(SW_EV_FAILURE, "now", 3, "192.0.2.2", T0));
	CHECK_INT(store_commit(st), 0);		/* rolls up: a new hour */
	CHECK_INT(qint(st->db, "SELECT count(*) FROM buckets WHERE "
	    "start % 3600 != 0 AND start < 1764300000 - 1200 - 7200", NULL,
	    0), 0);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM buckets WHERE "
	    "start % 3600 = 900", NULL, 0), 0);	/* 00:15 */
	CHECK_INT(store_expire(st, T0), 0);
	CHECK_INT(qint(st->db, "SELECT sum(failures) FROM buckets WHERE "
	    "scope = 'account' AND start % 3600 = 0", NULL, 0), 2);
	CHECK_INT(qint(st->db, "SELECT count(*) FROM buckets WHERE "
	    "start % 3600 = 0", NULL, 0), 2);	/* 00:00: old, its addr */
	CHECK_INT(qint(st->db, "SELECT count(*) FROM buckets WHERE "
	    "start % 3600 = 600", NULL, 0), 2);	/* 02:10: new, its addr */
	CHECK_INT(store_failures_since(st, hour - 3 * 3600), 4);
	store_close(st);
}

/* sw_net() of store_fold(): an address or network to its network. */
static void
test_net(void)
{
	struct sw_store	*st;
	sqlite3		*db;

	if ((st = open_ok("net.db", &opt)) == NULL)
		return;
	db = st->db;
#define NET(a, b4, b6) qstr(db, "SELECT sw_net(" a ", " #b4 ", " #b6 ")", \
	    NULL, 0)
	CHECK_STR(NET("'2001:db8:1:2:3:4:5:6'", 24, 64), "2001:db8:1:2::/64");
	CHECK_STR(NET("'192.0.2.77'", 24, 64), "192.0.2.0/24");
	CHECK_STR(NET("'::ffff:192.0.2.77'", 16, 48), "192.0.0.0/16");
	CHECK_STR(NET("'2001:db8:1:2::/64'", 24, 48), "2001:db8:1::/48");
	CHECK_STR(NET("'2001:db8:1::/48'", 24, 64), "2001:db8:1::/48");
	CHECK_STR(NET("'fe80::1%eth0'", 24, 64), "fe80::/64");
	CHECK_STR(NET("'10.1.2.3'", 0, 0), "0.0.0.0/0");
	CHECK_STR(NET("'2001:db8::1'", 0, 0), "::/0");
	CHECK_STR(NET("'unknown'", 24, 64), "");
	CHECK_STR(NET("''", 24, 64), "");
	CHECK_STR(NET("NULL", 24, 64), "");
#undef NET
	store_close(st);
}

/*
 * database-limit 768K (small enough that a fold comes after the IPv4
 * part too): an account failing once from each of 1000 random
 * addresses of one /64, then 4000 accounts failing once from random
 * addresses of another /64 and 1000 from 250 addresses of an IPv4 /24,
 * an account that logged in, committed in batches of 250.
 * The file stays under its limit; every failure is counted, per network
 * exactly; the accounts and addresses that failed once are folded into
 * their networks' rows with their buckets; the addresses of the account
 * kept are folded into one row per network, still counted; the account
 * that logged in is kept.
 */
static void
test_fold(int thread)
{
	struct sw_storeopt	 o = opt;
	struct sw_store		*st;
	sqlite3			*db;
	char			 acct[32], addr[64];
	unsigned int		 r = 18;
	long long		 size, max = 0;
	int			 i, n = 0;

	o.limit = 3 << 18;
	o.ckthread = thread;
	if ((st = open_ok(thread ? "fold-t.db" : "fold.db", &o)) == NULL)
		return;
	CHECK_INT(st->ckpt != NULL, thread);
	db = st->db;
	CHECK_INT(qint(db, "PRAGMA auto_vacuum", NULL, 0), 2);
	store_caught_up(st);
	put(st, sev(SW_EV_SUCCESS, "owner", 5, "2001:db8:1:2::5", T0));
	put(st, sev(SW_EV_FAILURE, "owner", 5, "2001:db8:1:2::5", T0));
	for (i = 0; i < 6000; i++) {
		r = r * 1103515245 + 12345;
		if (i < 1000)
			snprintf(addr, sizeof(addr), "2001:db8:9::%x:%x",
			    r >> 16, i);
		else if (i < 5000)
			snprintf(addr, sizeof(addr), "2001:db8:1:2:%x:%x::%x",
			    r >> 16, r & 0xffff, i);
		else
			snprintf(addr, sizeof(addr), "203.0.113.%d", i % 250);
		if (i < 1000)
			snprintf(acct, sizeof(acct), "admin");
		else
			snprintf(acct, sizeof(acct), "r%08x.%d", r, i);
		put(st, sev(SW_EV_FAILURE, acct, strlen(acct), addr,
		    T0 + i / 10));
		n++;
		if (i % 250 == 249) {
			CHECK_INT(store_commit(st), 0);
			size = (long long)qint(db, "PRAGMA page_count", NULL,
			    0) * st->pagesize;
			if (size > max)
				max = size;
		}
	}
	CHECK(max <= o.limit);
	CHECK_INT(qint(db, "SELECT sum(failures) FROM account_totals", NULL,
	    0), n + 1);
	CHECK_INT(qint(db, "SELECT sum(failures) FROM address_totals", NULL,
	    0), n + 1);
	CHECK_INT(qint(db, "SELECT sum(failures) FROM address_totals WHERE "
	    "addr LIKE '203.0.113.%'", NULL, 0), 1000);
	CHECK_INT(qint(db, "SELECT sum(failures) FROM buckets WHERE scope = "
	    "'addr'", NULL, 0), n + 1);
	CHECK_INT(qint(db, "SELECT sum(failures) FROM buckets WHERE scope IN "
	    "('account', 'fold')", NULL, 0), n + 1);
	CHECK(qint(db, "SELECT sum(members) FROM folds WHERE kind = "
	    "'account' AND network = '2001:db8:1:2::/64'", NULL, 0) > 1000);
	CHECK(qint(db, "SELECT count(*) FROM folds", NULL, 0) >= 2);
	CHECK_INT(qint(db, ACC("successes"), "owner", 5), 1);
	CHECK_INT(qint(db, ACC("failures"), "admin", 5), 1000);
	CHECK_INT(qint(db, ACC("addresses"), "admin", 5), 1000);
	CHECK_INT(qint(db, "SELECT folded FROM account_addrs WHERE addr = "
	    "'2001:db8:9::/64'", NULL, 0), 1000);
	CHECK_INT(qint(db, "SELECT count(*) FROM account_totals WHERE "
	    "account IS NULL AND folded = 0", NULL, 0), 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM pragma_foreign_key_check",
	    NULL, 0), 0);
	/* a folded address fails again: its own row, the sum exact */
	put(st, sev(SW_EV_FAILURE, "again", 5, "203.0.113.7", T0 + 900));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(db, "SELECT sum(failures) FROM address_totals WHERE "
	    "addr LIKE '203.0.113.%'", NULL, 0), 1001);
	/* reset of a network forgets its rows */
	CHECK(reset(st, "203.0.113.0/24", NULL, 0) > 0);
	CHECK_INT(qint(db, "SELECT count(*) FROM folds WHERE network = "
	    "'203.0.113.0/24'", NULL, 0), 0);
	store_close(st);
	db = other_open(thread ? "fold-t.db" : "fold.db");
	CHECK_STR(qstr(db, "PRAGMA quick_check", NULL, 0), "ok");
	sqlite3_close(db);
}

/*
 * The store's connection skips the schema's CHECKs (store_prepare());
 * what it writes satisfies them all the same: every scope (fold's in
 * test_fold), incident kind and direction.  PRAGMA quick_check finds a
 * row that does not.
 */
static void
test_checks(void)
{
	struct sw_store		*st;
	struct sw_incident	 inc;
	sqlite3			*other;
	int			 k;

	if ((st = open_ok("checks.db", &opt)) == NULL)
		return;
	put(st, sev(SW_EV_FAILURE, "acct", 4, "192.0.2.1", T0));
	put(st, sev(SW_EV_SUCCESS, "acct", 4, "192.0.2.1", T0 + 1));
	put(st, cev(SW_EV_FAILURE, "relay.example", T0));
	put(st, cev(SW_EV_AFFECTED, "relay.example", T0 + 1));
	for (k = 0; k < SW_INC_NKINDS; k++) {
		inc_fill(&inc, k + 1, (enum sw_inc_kind)k, "subject", 7, T0);
		store_incident(st, &inc);
	}
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(qint(st->db, "SELECT count(DISTINCT scope) FROM buckets",
	    NULL, 0), 3);
	CHECK_INT(qint(st->db, "SELECT count(DISTINCT kind) || "
	    "count(DISTINCT direction) FROM incidents", NULL, 0), 42);
	other = other_open("checks.db");
	CHECK_STR(qstr(other, "PRAGMA quick_check", NULL, 0), "ok");
	CHECK_INT(sqlite3_exec(st->db, "INSERT INTO buckets VALUES "
	    "('nonsense', '', x'00', 0, 1, 0)", NULL, NULL, NULL), SQLITE_OK);
	CHECK_STR(qstr(other, "PRAGMA quick_check", NULL, 0),
	    "CHECK constraint failed in buckets");
	sqlite3_close(other);
	store_close(st);
}


/*
 * database-limit 1M filled with accounts that logged in (never folded):
 * one fold finds nothing, says so once, and the next waits until the
 * file grew by a sixteenth of the limit instead of running at every
 * commit.
 */
static void
test_unfoldable(void)
{
	struct sw_storeopt	 o = opt;
	struct sw_store		*st;
	char			 acct[32], said[512];
	unsigned long		 folds;
	int			 i;

	o.limit = 1 << 20;
	if ((st = open_ok("unfoldable.db", &o)) == NULL)
		return;
	store_caught_up(st);
	log_capture(said, sizeof(said));
	for (i = 0; st->folds == 0 && i < 20000; i++) {
		snprintf(acct, sizeof(acct), "owner%d", i);
		put(st, sev(SW_EV_SUCCESS, acct, strlen(acct), "192.0.2.1", T0));
		put(st, sev(SW_EV_FAILURE, acct, strlen(acct), "192.0.2.1", T0));
		if (i % 100 == 99)
			CHECK_INT(store_commit(st), 0);
	}
	log_capture(NULL, 0);
	CHECK_INT(st->folds, 1);
	CHECK(st->floor > o.limit / 2);
	CHECK(strstr(said, "with nothing left to fold") == NULL ||
	    st->floor > o.limit);
	folds = st->folds;
	put(st, sev(SW_EV_FAILURE, "owner0", 6, "192.0.2.1", T0 + 1));
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(st->folds, folds);		/* not at every commit */
	CHECK_INT(qint(st->db, "SELECT count(*) FROM folds", NULL, 0), 0);
	CHECK_INT(qint(st->db, "SELECT sum(failures) FROM account_totals",
	    NULL, 0), i + 1);
	store_close(st);
}

/* The inode of path, 0 when it does not exist. */
static ino_t
inode(const char *p)
{
	struct stat	 sb;

	return stat(p, &sb) == 0 ? sb.st_ino : 0;
}

/*
 * The store's checkpointer copies the WAL of the file at the path: five
 * commits, a checkpoint asked for and waited for, and the commit after
 * it starts the WAL again (fewer frames than the five).
 */
static void
ckpt_copies(struct sw_store *st)
{
	struct sw_ckpt_stat	 cs0, cs;
	int			 i, before;

	if (!CHECK(st->ckpt != NULL))
		return;
	for (i = 0; i < 5; i++) {
		put(st, sev(SW_EV_FAILURE, "w", 1, "192.0.2.9", T0 + 9));
		CHECK_INT(store_commit(st), 0);
	}
	before = st->walpages;
	ckpt_stat(st->ckpt, &cs0);
	st->walpages = WAL_PAGES;
	store_checkpoint(st, 0);
	ckpt_wait(st->ckpt);
	ckpt_stat(st->ckpt, &cs);
	CHECK_INT(cs.runs, cs0.runs + 1);
	CHECK_INT(cs.failed, 0);
	put(st, sev(SW_EV_FAILURE, "w", 1, "192.0.2.9", T0 + 9));
	CHECK_INT(store_commit(st), 0);
	CHECK(st->walpages < before);
}

/*
 * The file (then the WAL and shared memory alone) deleted under an open
 * store: the next commit writes it anew from the connection, with every
 * count and position, and uses it; reopened, it holds them all.  A
 * file put at the path instead is left alone.
 */
static void
test_deleted(int thread)
{
	struct sw_storeopt	 o = opt;
	struct sw_store		*st;
	struct sw_checkpoint	 a, got;
	const char		*name = thread ? "gone-t.db" : "gone.db";
	char			 p[256], q[300], said[512];
	ino_t			 ino;
	int			 fd;

	o.ckthread = thread;
	if ((st = open_ok(name, &o)) == NULL)
		return;
	snprintf(p, sizeof(p), "%s", path(name));
	put(st, sev(SW_EV_FAILURE, "a", 1, "192.0.2.1", T0));
	cp_fill(&a, "/var/log/mail.log", 1);
	store_position(st, &a);
	CHECK_INT(store_commit(st), 0);
	ino = inode(p);
	CHECK_INT(unlink(p), 0);
	snprintf(q, sizeof(q), "%s-wal", p);
	CHECK_INT(unlink(q), 0);
	snprintf(q, sizeof(q), "%s-shm", p);
	CHECK_INT(unlink(q), 0);
	put(st, sev(SW_EV_FAILURE, "b", 1, "192.0.2.2", T0 + 1));
	a.offset += 100;
	store_position(st, &a);
	log_capture(said, sizeof(said));
	CHECK_INT(store_commit(st), 0);
	log_capture(NULL, 0);
	CHECK(strstr(said, "the database file was deleted while smtpwatchd "
	    "had it open: the database is written anew") != NULL);
	CHECK(inode(p) != 0 && inode(p) != ino);
	CHECK(st->known[0] && st->ids[0].st_ino == inode(p));
	CHECK_INT(qint(st->db, "SELECT sum(failures) FROM account_totals",
	    NULL, 0), 2);

	/* the WAL and shared memory alone */
	ino = inode(p);
	snprintf(q, sizeof(q), "%s-wal", p);
	CHECK_INT(unlink(q), 0);
	snprintf(q, sizeof(q), "%s-shm", p);
	CHECK_INT(unlink(q), 0);
	put(st, sev(SW_EV_FAILURE, "c", 1, "192.0.2.3", T0 + 2));
	CHECK_INT(store_commit(st), 0);
	CHECK(inode(p) != ino);
	CHECK(inode(q) != 0);			/* a new shared memory */
	if (thread)
		ckpt_copies(st);
	store_close(st);
	if ((st = open_ok(name, &opt)) == NULL)
		return;
	CHECK_INT(qint(st->db, "SELECT sum(failures) FROM account_totals",
	    NULL, 0), 3 + (thread ? 6 : 0));	/* ckpt_copies()' six */
	CHECK_INT(qint(st->db, "PRAGMA auto_vacuum", NULL, 0), 2);
	CHECK_INT(store_load(st, "/var/log/mail.log", &got), 1);
	CHECK_INT(got.offset, a.offset);
	checkpoint_clear(&got);

	/* another file at the path: left as it is */
	snprintf(q, sizeof(q), "%s", path("other.tmp"));
	CHECK((fd = open(q, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	CHECK_INT(write(fd, "not ours", 8), 8);
	close(fd);
	CHECK_INT(rename(q, p), 0);
	put(st, sev(SW_EV_FAILURE, "d", 1, "192.0.2.4", T0 + 3));
	log_capture(said, sizeof(said));
	CHECK_INT(store_commit(st), 0);
	log_capture(NULL, 0);
	CHECK(strstr(said, "another file was put at the path") != NULL);
	CHECK_INT(qint(st->db, "SELECT sum(failures) FROM account_totals",
	    NULL, 0), 4 + (thread ? 6 : 0));
	store_close(st);
	CHECK_INT(inode(p) != 0, 1);
	{
		struct stat	 sb;

		CHECK(stat(p, &sb) == 0 && sb.st_size == 8);
	}
	checkpoint_clear(&a);
}

int
main(void)
{
	log_init("t_store", 0);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_fresh();
	test_counts();
	test_client_rows();
	test_fkeys();
	test_incidents();
	test_incident_replace();
	test_incident_order();
	test_relay_state();
	test_pair();
	test_pair_ids();
	test_memory();
	test_wal();
	test_wal_thread();
	test_read_errors();
	test_checkpoints();
	test_busy();
	test_midfail("accounts");
	test_midfail("buckets");
	test_midfail("incidents");
	test_midfail("checkpoints");
	test_refuse();
	test_old_builds();
	test_upgrade();
	test_full();
	test_expire();
	test_logtime();
	test_jump();
	test_rollup();
	test_rollup_age();
	test_net();
	test_fold(0);
	test_fold(1);	/* truncations wait for the checkpointer */
	test_checks();
	test_unfoldable();
	test_deleted(0);
	test_deleted(1);	/* a checkpointer on the new file */
	nftw(tmpdir, check_rm, 8, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
