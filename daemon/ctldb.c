/*
 * ctldb.c -- smtpwatchctl's read-only views of the database: accounts,
 * addresses, relays, incidents and show.  The database is opened
 * read-only (a file: URI with mode=ro) and only the views of sql/ and
 * the buckets and account_addrs tables are read; nothing is written.
 * Every string in it was typed by someone else: text output escapes it
 * with str_vis(), JSON output with fput_json().
 */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "smtpwatch.h"

static int	 listing(const struct ctldb_opt *, const char *,
		    const struct out_col *, size_t);
static int	 step_error(sqlite3 *, sqlite3_stmt *);

/*
 * The current time: $SMTPWATCH_NOW (unix seconds) when set, for
 * reproducible output, else the clock.  A malformed value is reported
 * and the clock used.
 */
time_t
ctldb_now(void)
{
	const char	*s = getenv("SMTPWATCH_NOW");
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0')
		return time(NULL);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0) {
		log_warnx("SMTPWATCH_NOW=%s is not unix seconds; "
		    "using the clock", s);
		return time(NULL);
	}
	return (time_t)v;
}

/*
 * The database may not be read by this user: say what to do about it,
 * naming the group of its directory (the daemon's group, smtpwatch).
 */
static void
ctldb_denied(const char *path)
{
	struct stat	 sb;
	struct group	*gr;
	struct passwd	*pw;
	char		*dir = xstrdup(path);
	const char	*group = "smtpwatch", *user = "$USER";

	if (stat(dirname(dir), &sb) == 0 && (gr = getgrgid(sb.st_gid)) !=
	    NULL && sb.st_gid != 0)
		group = gr->gr_name;
	if ((pw = getpwuid(getuid())) != NULL)
		user = pw->pw_name;
	log_warnx("database %s: permission denied: its readers are root and "
	    "group %s; add yourself to the group (sudo adduser %s %s, then "
	    "log in again) or use sudo", path, group, user, group);
	free(dir);
}

/*
 * Opens path read-only through a file: URI (mode=ro), percent-encoding
 * what a URI would read otherwise.  Without a -wal file beside it (no
 * daemon runs, or it closed cleanly and the file holds everything) it
 * is also opened immutable=1: SQLite would otherwise create the -wal
 * and -shm files, owned by whoever runs smtpwatchctl, which a daemon
 * running as another user could not write.  Returns NULL after logging.
 */
sqlite3 *
ctldb_open(const char *path)
{
	static const char	 hex[] = "0123456789ABCDEF";
	sqlite3			*db = NULL;
	struct stat		 sb;
	char			*uri, *o, *wal;
	const unsigned char	*p;
	int			 rc, immutable;

	if (stat(path, &sb) == -1 || access(path, R_OK) == -1) {
		if (errno == EACCES)
			ctldb_denied(path);
		else
			log_warn("database %s", path);
		return NULL;
	}
	wal = xmalloc(strlen(path) + sizeof("-wal"));
	sprintf(wal, "%s-wal", path);
	immutable = stat(wal, &sb) == -1 && errno == ENOENT;
	free(wal);
	uri = xmalloc(strlen(path) * 3 + sizeof("file:?mode=ro&immutable=1"));
	o = uri;
	o += sprintf(o, "file:");
	for (p = (const unsigned char *)path; *p != '\0'; p++) {
		if (*p == '%' || *p == '?' || *p == '#' || *p <= 0x20 ||
		    *p >= 0x7f) {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 0xf];
		} else
			*o++ = (char)*p;
	}
	strcpy(o, immutable ? "?mode=ro&immutable=1" : "?mode=ro");
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
	    SQLITE_OPEN_NOMUTEX, NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		log_warnx("database %s: %s", path, db != NULL ?
		    sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* A statement, or NULL after logging (an old or foreign database). */
sqlite3_stmt *
ctldb_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt	*st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("database %s: %s", sqlite3_db_filename(db, "main"),
		    sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Logs a failed step; returns 3, the exit status. */
static int
step_error(sqlite3 *db, sqlite3_stmt *st)
{
	log_warnx("database %s: %s", sqlite3_db_filename(db, "main"),
	    sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return 3;
}

static void
json_row(FILE *fp, sqlite3_stmt *st)
{
	fputc('{', fp);
	out_json_fields(fp, st);
	fputc('}', fp);
}

/*
 * The database of o: its open connection (scan's, in memory), or the
 * file opened read-only; *own says to close it.  NULL after logging.
 */
static sqlite3 *
ctldb_db(const struct ctldb_opt *o, int *own)
{
	*own = o->db == NULL;
	return o->db != NULL ? o->db : ctldb_open(o->database);
}

/* Where o prints: its stream, else standard output. */
static FILE *
ctldb_out(const struct ctldb_opt *o)
{
	return o->out != NULL ? o->out : stdout;
}

/* Binds parameter name of st to the text s, or to NULL. */
static void
bind_opt(sqlite3_stmt *st, const char *name, const char *s)
{
	int	 i;

	if ((i = sqlite3_bind_parameter_index(st, name)) > 0 && s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Binds parameter name of st to the time t, or to NULL when it is 0. */
static void
bind_time(sqlite3_stmt *st, const char *name, time_t t)
{
	int	 i;

	if ((i = sqlite3_bind_parameter_index(st, name)) > 0 && t != 0)
		sqlite3_bind_int64(st, i, (sqlite3_int64)t);
}

/*
 * The options of a listing as the parameters its SQL names: :since and
 * :until (the window, NULL when open), :direction, :host (NULL: all),
 * :open (1: open incidents only).
 */
static void
listing_bind(const struct ctldb_opt *o, sqlite3_stmt *st)
{
	int	 i;

	bind_time(st, ":since", o->since);
	bind_time(st, ":until", o->until);
	bind_opt(st, ":direction", o->direction);
	bind_opt(st, ":host", o->host);
	if ((i = sqlite3_bind_parameter_index(st, ":open")) > 0)
		sqlite3_bind_int(st, i, o->open);
	if ((i = sqlite3_bind_parameter_index(st, ":failing")) > 0)
		sqlite3_bind_int(st, i, o->failing);
}

/*
 * sql prepared on o's database with listing_bind()'s parameters; *db
 * and *own as ctldb_db() sets them.  NULL after logging (the database
 * closed when it was opened here).
 */
static sqlite3_stmt *
listing_stmt(const struct ctldb_opt *o, const char *sql, sqlite3 **db,
    int *own)
{
	sqlite3_stmt	*st;

	if ((*db = ctldb_db(o, own)) == NULL)
		return NULL;
	if ((st = ctldb_prepare(*db, sql)) == NULL) {
		if (*own)
			sqlite3_close(*db);
		return NULL;
	}
	listing_bind(o, st);
	return st;
}

/*
 * Runs sql (its parameters: listing_bind()'s) and prints its rows as
 * the table cols, or with --json as one array of objects.  Returns the
 * exit status: 0, or 3.
 */
static int
listing(const struct ctldb_opt *o, const char *sql,
    const struct out_col *cols, size_t ncols)
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	struct out_table t;
	FILE		*fp = ctldb_out(o);
	int		 rc, n = 0, own;

	if ((st = listing_stmt(o, sql, &db, &own)) == NULL)
		return 3;
	if (o->json)
		fputc('[', fp);
	else
		out_table_init(&t, cols, ncols);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (o->json) {
			if (n > 0)
				fputc(',', fp);
			fputs("\n", fp);
			json_row(fp, st);
		} else
			out_table_row(&t, st, o->now);
		n++;
	}
	if (rc != SQLITE_DONE) {
		if (!o->json)
			out_table_free(&t);
		rc = step_error(db, st);
		if (own)
			sqlite3_close(db);
		return rc;
	}
	if (o->json)
		fputs(n > 0 ? "\n]\n" : "]\n", fp);
	else
		out_table_print(&t, fp, o->indent != NULL ? o->indent : "",
		    o->empty);
	sqlite3_finalize(st);
	if (own)
		sqlite3_close(db);
	return 0;
}

/* No --since, no --until. */
#define NO_WINDOW	"(:since IS NULL AND :until IS NULL)"

/*
 * The sums of the buckets that start within the window :since to
 * :until, one row w per scope, host and key, joined to a listing's row
 * by scope, host and key (SQL expressions of the row); no rows without
 * a window.  The buckets are keyed by time first (sql/003): the window
 * is one range of them, read once for the whole listing.
 */
#define WINDOW_JOIN(scope, host, key) \
	"LEFT JOIN (SELECT scope, host, key, sum(failures) AS failures, " \
	"sum(affected) AS affected FROM buckets " \
	"WHERE NOT " NO_WINDOW " AND start >= coalesce(:since, 0) " \
	"AND (:until IS NULL OR start < :until) " \
	"GROUP BY scope, host, key) w ON w.scope = " scope " " \
	"AND w.host = " host " AND w.key = CAST(" key " AS BLOB) "
/* A row's column in the window: the total without one. */
#define WINDOWED(col, total) \
	"CASE WHEN " NO_WINDOW " THEN " total " " \
	"ELSE coalesce(w." col ", 0) END"

/*
 * accounts: account_totals, most failures first.  With --since or
 * --until the failures are those of the buckets that start within the
 * window (scope 'account' server side, 'relay' client side, 'fold' for
 * a row of accounts folded into their network), and accounts without
 * any are left out.  A row of folded accounts shows as "[N folded from
 * NET]".
 */
int
ctldb_accounts(const struct ctldb_opt *o)
{
	static const struct out_col cols[] = {
		{ "HOST",		"host",			OUT_TEXT },
		{ "DIRECTION",		"direction",		OUT_TEXT },
		{ "ACCOUNT",		"_account",		OUT_TEXT },
		{ "FAILURES",		"failures",		OUT_NUM },
		{ "SUCCESSES",		"successes",		OUT_NUM },
		{ "ADDRESSES",		"addresses",		OUT_NUM },
		{ "LAST-FAILURE",	"last_failure",		OUT_AGO },
		{ "LAST-DIAGNOSIS",	"last_diagnosis",	OUT_TEXT },
	};
	/* a row of folded accounts: account NULL, its buckets 'fold' */
	static const char sql[] =
	    "SELECT * FROM (SELECT a.host, a.direction, a.account, "
	    WINDOWED("failures", "a.failures") " AS failures, "
	    "a.successes, a.affected AS held_back, a.trouble, a.addresses, "
	    "a.first_failure, a.last_failure, a.last_success, a.last_addr, "
	    "a.last_reply, a.last_diagnosis, a.folded, a.network, "
	    "CASE WHEN a.folded > 0 THEN printf('[%d folded from %s]', "
	    "a.folded, CASE a.network WHEN '' THEN 'no address' "
	    "ELSE a.network END) ELSE a.account END AS _account "
	    "FROM account_totals a "
	    WINDOW_JOIN("CASE WHEN a.folded > 0 THEN 'fold' "
		"WHEN a.direction = 'server' THEN 'account' ELSE 'relay' END",
		"a.host", "coalesce(a.account, a.network)")
	    "WHERE coalesce(:direction, a.direction) = "
	    "a.direction AND coalesce(:host, a.host) = a.host) "
	    "WHERE " NO_WINDOW " OR failures > 0 "
	    "ORDER BY failures DESC, account, host, direction";

	return listing(o, sql, cols, sizeof(cols) / sizeof(cols[0]));
}

/*
 * 1 when s is an address or network as the daemon stores them (digits,
 * hex, ':', '.', one '/'): only such text reaches a firewall's input.
 */
static int
addr_plain(const char *s)
{
	size_t	 n = strspn(s, "0123456789abcdefABCDEF:./");

	return n > 0 && s[n] == '\0' && strchr(s, '/') == strrchr(s, '/');
}

/* The elements of one nft set, those of family 4 or 6, on one line. */
static int
nft_set(FILE *fp, sqlite3_stmt *st, int six)
{
	const char	*a;
	int		 rc, n = 0;

	sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a = (const char *)sqlite3_column_text(st, 1);
		if (a == NULL || !addr_plain(a) ||
		    (strchr(a, ':') != NULL) != six)
			continue;
		if (n++ == 0)
			fprintf(fp, "add element inet smtpwatch failing%d { %s",
			    six ? 6 : 4, a);
		else
			fprintf(fp, ", %s", a);
	}
	if (n > 0)
		fputs(" }\n", fp);
	return rc;
}

/*
 * --format plain: one address or network a line; nft: the input of
 * `nft -f`, the IPv4 ones in set failing4, the IPv6 ones in failing6
 * of table inet smtpwatch.  Returns the exit status.
 */
static int
addresses_plain(const struct ctldb_opt *o, const char *sql)
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	FILE		*fp = ctldb_out(o);
	const char	*a;
	int		 rc, own;

	if ((st = listing_stmt(o, sql, &db, &own)) == NULL)
		return 3;
	if (o->format == CTLDB_FMT_NFT) {
		if ((rc = nft_set(fp, st, 0)) == SQLITE_DONE)
			rc = nft_set(fp, st, 1);
	} else
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if ((a = (const char *)sqlite3_column_text(st, 1)) !=
			    NULL && addr_plain(a))
				fprintf(fp, "%s\n", a);
	rc = rc == SQLITE_DONE ? 0 : step_error(db, st);
	if (rc == 0)
		sqlite3_finalize(st);
	if (own)
		sqlite3_close(db);
	return rc;
}

/*
 * addresses: address_totals; the window as for accounts (scope 'addr').
 * --failing: only those no account ever logged in from (a user's own
 * device or network is not an attacker's).
 */
int
ctldb_addresses(const struct ctldb_opt *o)
{
	static const struct out_col cols[] = {
		{ "HOST",		"host",			OUT_TEXT },
		{ "ADDRESS",		"addr",			OUT_TEXT },
		{ "FAILURES",		"failures",		OUT_NUM },
		{ "ACCOUNTS",		"accounts",		OUT_NUM },
		{ "LAST-ACCOUNT",	"last_account",		OUT_TEXT },
		{ "LAST-FAILURE",	"last_failure",		OUT_AGO },
	};
	static const char sql[] =
	    "SELECT * FROM (SELECT d.host, d.addr, "
	    WINDOWED("failures", "d.failures") " AS failures, "
	    "d.successes, d.trouble, d.accounts, d.last_account, "
	    "d.first_failure, d.last_failure, d.last_success, d.folded "
	    "FROM address_totals d "
	    WINDOW_JOIN("'addr'", "d.host", "d.addr")
	    "WHERE coalesce(:host, d.host) = d.host) "
	    "WHERE (" NO_WINDOW " OR failures > 0) AND "
	    "(:failing = 0 OR (failures > 0 AND successes = 0)) "
	    "ORDER BY failures DESC, addr, host";

	if (o->format != CTLDB_FMT_TABLE)
		return addresses_plain(o, sql);
	return listing(o, sql, cols, sizeof(cols) / sizeof(cols[0]));
}

/*
 * relays: relay_totals, most failures first; the window as for
 * accounts (scope 'relay'), for failures and messages held back.
 */
int
ctldb_relays(const struct ctldb_opt *o)
{
	static const struct out_col cols[] = {
		{ "HOST",		"host",			OUT_TEXT },
		{ "RELAY",		"relay",		OUT_TEXT },
		{ "STATE",		"state",		OUT_TEXT },
		{ "FAILURES",		"failures",		OUT_NUM },
		{ "HELD-BACK",		"held_back",		OUT_NUM },
		{ "LAST-FAILURE",	"last_failure",		OUT_AGO },
		{ "LAST-SUCCESS",	"last_success",		OUT_AGO },
		{ "LAST-DIAGNOSIS",	"last_diagnosis",	OUT_TEXT },
	};
	static const char sql[] =
	    "SELECT * FROM (SELECT r.host, r.relay, r.state, "
	    WINDOWED("failures", "r.failures") " AS failures, "
	    WINDOWED("affected", "r.affected") " AS held_back, r.successes, "
	    "r.trouble, r.first_failure, r.last_failure, r.last_success, "
	    "r.last_addr, r.last_reply, r.last_diagnosis FROM relay_totals r "
	    WINDOW_JOIN("'relay'", "r.host", "r.relay")
	    "WHERE coalesce(:host, r.host) = r.host) "
	    "WHERE " NO_WINDOW " OR failures + held_back > 0 "
	    "ORDER BY failures DESC, relay, host";

	return listing(o, sql, cols, sizeof(cols) / sizeof(cols[0]));
}

static const struct out_col incident_cols[] = {
	{ "ID",			"id",			OUT_NUM },
	{ "KIND",		"kind",			OUT_TEXT },
	{ "SUBJECT",		"subject",		OUT_TEXT },
	{ "STATE",		"state",		OUT_TEXT },
	{ "OPENED",		"opened",		OUT_AGO },
	{ "LAST",		"last",			OUT_AGO },
	{ "FAILURES",		"failures",		OUT_NUM },
	{ "ALERTS",		"alerts",		OUT_NUM },
	{ "DIAGNOSIS",		"diagnosis",		OUT_TEXT },
	{ "CLOSE-REASON",	"close_reason",		OUT_TEXT },
};

#define INCIDENT_COLUMNS \
	"id, host, kind, direction, subject, state, opened, last, closed, " \
	"close_reason, failures, messages AS held_back, reported, alerts, " \
	"last_alert, " \
	"addresses, accounts, diagnosis, last_addr, last_reply, hosts, " \
	"logins, login_last, login_addr"

/*
 * incidents: incident_list, newest first; --open: open ones only; a
 * window: those with failures in it (opened before its end, last
 * failure after its start).
 */
int
ctldb_incidents(const struct ctldb_opt *o)
{
	static const char sql[] =
	    "SELECT " INCIDENT_COLUMNS " FROM incident_list "
	    "WHERE (:open = 0 OR closed IS NULL) "
	    "AND coalesce(:host, host) = host "
	    "AND last >= coalesce(:since, 0) "
	    "AND (:until IS NULL OR opened < :until) "
	    "ORDER BY opened DESC, id DESC";

	return listing(o, sql, incident_cols,
	    sizeof(incident_cols) / sizeof(incident_cols[0]));
}

/*
 * The diagnosis of every incident that has one, newest first: the
 * incident, then the diagnosis's summary, cause and best fix (scan's
 * report).  Returns the exit status: 0, or 3.
 */
int
ctldb_diagnoses(const struct ctldb_opt *o)
{
	const struct sw_diagnosis	*d;
	sqlite3				*db;
	sqlite3_stmt			*st;
	FILE				*fp = ctldb_out(o);
	const char			*id;
	char				*subj;
	int				 rc, own;

	if ((db = ctldb_db(o, &own)) == NULL)
		return 3;
	st = ctldb_prepare(db, "SELECT id, kind, subject, diagnosis FROM "
	    "incident_list WHERE diagnosis IS NOT NULL "
	    "ORDER BY opened DESC, id DESC");
	while (st != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		id = (const char *)sqlite3_column_text(st, 3);
		if ((d = rules_find(o->rs, id)) == NULL)
			continue;
		subj = out_vis_column(st, 2);
		fprintf(fp, "\n  #%lld %s %s: %s\n",
		    (long long)sqlite3_column_int64(st, 0),
		    sqlite3_column_text(st, 1), subj != NULL ? subj : "-", id);
		free(subj);
		diag_print(fp, d, "    ", 0);
	}
	rc = st == NULL ? 3 : rc != SQLITE_DONE ? step_error(db, st) : 0;
	if (rc == 0)
		sqlite3_finalize(st);
	if (own)
		sqlite3_close(db);
	return rc;
}

/*
 * show: the rows of one kind for the subject.  Every query yields
 * helper columns (named from '_', left out of the output): _scope and
 * _key of its buckets, _dir, and _diag, the diagnosis to explain (the
 * row's last one, else that of its newest incident).  sub lists, per
 * row, the addresses of an account or the accounts of an address
 * (?1 host, ?2 direction, ?3 _key).
 */
struct section {
	const char		*label;		/* text: "account" */
	const char		*name;		/* JSON: "accounts" */
	const char		*subject;	/* column of the subject */
	const char		*sql;		/* :subject, a BLOB; :host */
	const char		*subname;	/* JSON: "by_address" */
	const char		*subsql;
	const struct out_col	*subcols;
	size_t			 nsubcols;
};

static const struct out_col byaddr_cols[] = {
	{ "ADDRESS",		"addr",			OUT_TEXT },
	{ "FAILURES",		"failures",		OUT_NUM },
	{ "SUCCESSES",		"successes",		OUT_NUM },
	{ "FIRST-SEEN",		"first_seen",		OUT_AGO },
	{ "LAST-SEEN",		"last_seen",		OUT_AGO },
};

static const struct out_col byaccount_cols[] = {
	{ "ACCOUNT",		"account",		OUT_TEXT },
	{ "FAILURES",		"failures",		OUT_NUM },
	{ "SUCCESSES",		"successes",		OUT_NUM },
	{ "FIRST-SEEN",		"first_seen",		OUT_AGO },
	{ "LAST-SEEN",		"last_seen",		OUT_AGO },
};

#define LAST_INCIDENT_DIAG(host, subj, kind) \
	"(SELECT i.diagnosis FROM incident_list i WHERE i.host = " host \
	" AND i.subject = CAST(" subj " AS BLOB) AND " kind \
	" AND i.diagnosis IS NOT NULL ORDER BY i.opened DESC, i.id DESC " \
	"LIMIT 1)"

static const struct section sections[] = {
	{ "account", "accounts", "account",
	    "SELECT a.host, a.direction, a.account, a.failures, a.successes, "
	    "a.affected AS held_back, a.trouble, a.addresses, a.first_failure, "
	    "a.last_failure, a.last_success, a.last_addr, a.last_reply, "
	    "a.last_diagnosis, CASE a.direction WHEN 'server' THEN 'account' "
	    "ELSE 'relay' END AS _scope, a.account AS _key, "
	    "a.direction AS _dir, coalesce(a.last_diagnosis, "
	    LAST_INCIDENT_DIAG("a.host", "a.account",
		"i.direction = a.direction") ") AS _diag "
	    "FROM account_totals a WHERE CAST(a.account AS BLOB) = :subject "
	    "AND coalesce(:host, a.host) = a.host ORDER BY a.host, a.direction",
	    "by_address",
	    "SELECT p.addr, p.failures, p.successes, p.first_seen, "
	    "p.last_seen FROM account_addrs p JOIN accounts a "
	    "ON a.id = p.account_id WHERE a.host = ?1 AND a.direction = ?2 "
	    "AND a.account = ?3 ORDER BY p.failures DESC, p.addr",
	    byaddr_cols, sizeof(byaddr_cols) / sizeof(byaddr_cols[0]) },
	{ "address", "addresses", "addr",
	    "SELECT d.host, d.addr, d.failures, d.successes, d.trouble, "
	    "d.accounts, d.last_account, d.first_failure, d.last_failure, "
	    "d.last_success, 'addr' AS _scope, d.addr AS _key, NULL AS _dir, "
	    LAST_INCIDENT_DIAG("d.host", "d.addr", "i.kind = 'address'")
	    " AS _diag FROM address_totals d "
	    "WHERE d.addr = CAST(:subject AS TEXT) "
	    "AND coalesce(:host, d.host) = d.host ORDER BY d.host",
	    "by_account",
	    "SELECT a.account, p.failures, p.successes, p.first_seen, "
	    "p.last_seen FROM account_addrs p JOIN accounts a "
	    "ON a.id = p.account_id WHERE a.host = ?1 "
	    "AND coalesce(?2, 'server') = a.direction AND p.addr = ?3 "
	    "ORDER BY p.failures DESC, a.account",
	    byaccount_cols,
	    sizeof(byaccount_cols) / sizeof(byaccount_cols[0]) },
	{ "relay", "relays", "relay",
	    "SELECT r.host, r.relay, r.state, r.failures, "
	    "r.affected AS held_back, "
	    "r.successes, r.trouble, r.first_failure, r.last_failure, "
	    "r.last_success, r.last_addr, r.last_reply, r.last_diagnosis, "
	    "'relay' AS _scope, r.relay AS _key, NULL AS _dir, "
	    "coalesce(r.last_diagnosis, "
	    LAST_INCIDENT_DIAG("r.host", "r.relay", "i.kind = 'relay'")
	    ") AS _diag FROM relay_totals r "
	    "WHERE r.relay = CAST(:subject AS TEXT) "
	    "AND coalesce(:host, r.host) = r.host ORDER BY r.host",
	    NULL, NULL, NULL, 0 },
};

static int
is_time(const char *name)
{
	static const char *const names[] = {
		"first_failure", "last_failure", "last_success", "opened",
		"last", "closed", "last_alert", "first_seen", "last_seen"
	};
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* Failures per hour of the 24 h before now, oldest first. */
static int
show_hourly(sqlite3 *db, sqlite3_stmt *row, time_t now, long long h[24])
{
	sqlite3_stmt	*st;
	long long	 lo = (long long)now - 86400, i;
	int		 rc;

	memset(h, 0, 24 * sizeof(h[0]));
	st = ctldb_prepare(db, "SELECT start, failures FROM buckets "
	    "WHERE scope = ?1 AND host = ?2 AND key = CAST(?3 AS BLOB) "
	    "AND start >= ?4 AND start <= ?5");
	if (st == NULL)
		return -1;
	sqlite3_bind_value(st, 1, sqlite3_column_value(row,
	    out_column(row, "_scope")));
	sqlite3_bind_value(st, 2, sqlite3_column_value(row,
	    out_column(row, "host")));
	sqlite3_bind_value(st, 3, sqlite3_column_value(row,
	    out_column(row, "_key")));
	sqlite3_bind_int64(st, 4, lo);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		i = (sqlite3_column_int64(st, 0) - lo) / 3600;
		h[i > 23 ? 23 : i] += sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE) {
		step_error(db, st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* The diagnosis of _diag: id, summary and best fix. */
static void
show_diag(const struct ctldb_opt *o, sqlite3_stmt *row, FILE *fp)
{
	const struct sw_diagnosis	*d;
	const char			*id;
	int				 c = out_column(row, "_diag");

	id = (const char *)sqlite3_column_text(row, c);
	d = rules_find(o->rs, id);
	if (o->json) {
		fputs(",\"diagnosis\":", fp);
		if (id == NULL) {
			fputs("null", fp);
			return;
		}
		fputs("{\"id\":", fp);
		fput_json(fp, id, strlen(id));
		fputs(",\"summary\":", fp);
		fput_json(fp, d != NULL ? d->summary : NULL,
		    d != NULL ? strlen(d->summary) : 0);
		fputs(",\"fix\":", fp);
		if (d != NULL && d->nfixes > 0) {
			fput_json(fp, d->fixes[0].text,
			    strlen(d->fixes[0].text));
			fprintf(fp, ",\"fix_works\":%d}", d->fixes[0].percent);
		} else
			fputs("null,\"fix_works\":null}", fp);
		return;
	}
	if (id == NULL)
		return;
	fputs("  diagnosis       ", fp);
	fput_vis(fp, id, strlen(id));
	if (d == NULL) {
		fputs(" (not in the rules loaded)\n", fp);
		return;
	}
	fprintf(fp, ": %s\n", d->summary);
	if (d->nfixes > 0)
		fprintf(fp, "  best fix        %s (works %d%%)\n",
		    d->fixes[0].text, d->fixes[0].percent);
}

/* The current row of a section as "  key  value" lines. */
static void
show_fields(sqlite3_stmt *row, time_t now, FILE *fp)
{
	const char	*name;
	char		 a[64], b[64], *s;
	int		 i, n = sqlite3_column_count(row);

	for (i = 0; i < n; i++) {
		name = sqlite3_column_name(row, i);
		if (name[0] == '_')
			continue;
		fprintf(fp, "  %-15s ", name);
		if (sqlite3_column_type(row, i) == SQLITE_NULL)
			fputs("-", fp);
		else if (sqlite3_column_type(row, i) == SQLITE_INTEGER &&
		    is_time(name)) {
			time_t t = (time_t)sqlite3_column_int64(row, i);

			out_utc(a, sizeof(a), t);
			out_ago(b, sizeof(b), t, now);
			fprintf(fp, "%s (%s)", a, b);
		} else if (sqlite3_column_type(row, i) == SQLITE_INTEGER)
			fprintf(fp, "%lld",
			    (long long)sqlite3_column_int64(row, i));
		else {
			s = out_vis_column(row, i);
			fputs(*s != '\0' ? s : "-", fp);
			free(s);
		}
		fputc('\n', fp);
	}
}

/* The addresses of an account, or the accounts of an address. */
static int
show_sub(const struct ctldb_opt *o, sqlite3 *db, const struct section *sc,
    sqlite3_stmt *row, FILE *fp)
{
	sqlite3_stmt	*st;
	struct out_table t;
	int		 rc, n = 0;

	if ((st = ctldb_prepare(db, sc->subsql)) == NULL)
		return -1;
	sqlite3_bind_value(st, 1, sqlite3_column_value(row,
	    out_column(row, "host")));
	sqlite3_bind_value(st, 2, sqlite3_column_value(row,
	    out_column(row, "_dir")));
	sqlite3_bind_value(st, 3, sqlite3_column_value(row,
	    out_column(row, "_key")));
	if (o->json)
		fprintf(fp, ",\"%s\":[", sc->subname);
	else
		out_table_init(&t, sc->subcols, sc->nsubcols);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (o->json) {
			if (n > 0)
				fputc(',', fp);
			json_row(fp, st);
		} else
			out_table_row(&t, st, o->now);
		n++;
	}
	if (o->json)
		fputc(']', fp);
	else if (n > 0)
		out_table_print(&t, fp, "  ", NULL);
	else
		out_table_free(&t);
	if (rc != SQLITE_DONE) {
		step_error(db, st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* The rows of one section; *found counts them.  -1 on an error. */
static int
show_section(const struct ctldb_opt *o, sqlite3 *db,
    const struct section *sc, const char *subject, size_t len, int *found,
    FILE *fp)
{
	sqlite3_stmt	*st;
	long long	 h[24];
	char		*s;
	int		 rc, i, n = 0;

	if ((st = ctldb_prepare(db, sc->sql)) == NULL)
		return -1;
	sqlite3_bind_blob64(st, sqlite3_bind_parameter_index(st, ":subject"),
	    subject, len, SQLITE_STATIC);
	bind_opt(st, ":host", o->host);
	if (o->json)
		fprintf(fp, ",\n\"%s\":[", sc->name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (o->json) {
			fputs(n > 0 ? ",\n{" : "\n{", fp);
			out_json_fields(fp, st);
		} else {
			s = out_vis_column(st, out_column(st, sc->subject));
			fprintf(fp, "%s%s %s\n", *found > 0 ? "\n" : "",
			    sc->label, s);
			free(s);
			show_fields(st, o->now, fp);
		}
		show_diag(o, st, fp);
		if (show_hourly(db, st, o->now, h) == -1) {
			sqlite3_finalize(st);
			return -1;
		}
		if (o->json) {
			fputs(",\"hourly\":[", fp);
			for (i = 0; i < 24; i++)
				fprintf(fp, "%s%lld", i > 0 ? "," : "", h[i]);
			fputc(']', fp);
		} else {
			fputs("  hourly          ", fp);
			for (i = 0; i < 24; i++)
				fprintf(fp, "%s%lld", i > 0 ? " " : "", h[i]);
			fputs("\n", fp);
		}
		if (sc->subsql != NULL && show_sub(o, db, sc, st, fp) == -1) {
			sqlite3_finalize(st);
			return -1;
		}
		if (o->json)
			fputc('}', fp);
		n++;
		(*found)++;
	}
	if (o->json)
		fputs(n > 0 ? "\n]" : "]", fp);
	if (rc != SQLITE_DONE) {
		step_error(db, st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* The incidents of the subject, any kind and host, newest first. */
static int
show_incidents(const struct ctldb_opt *o, sqlite3 *db, const char *subject,
    size_t len, int *found, FILE *fp)
{
	sqlite3_stmt	*st;
	struct out_table t;
	int		 rc, n = 0;

	st = ctldb_prepare(db, "SELECT " INCIDENT_COLUMNS " FROM incident_list "
	    "WHERE CAST(subject AS BLOB) = ?1 AND coalesce(?2, host) = host "
	    "ORDER BY opened DESC, id DESC");
	if (st == NULL)
		return -1;
	sqlite3_bind_blob64(st, 1, subject, len, SQLITE_STATIC);
	if (o->host != NULL)
		sqlite3_bind_text(st, 2, o->host, -1, SQLITE_STATIC);
	if (o->json)
		fputs(",\n\"incidents\":[", fp);
	else
		out_table_init(&t, incident_cols,
		    sizeof(incident_cols) / sizeof(incident_cols[0]));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (o->json) {
			fputs(n > 0 ? ",\n" : "\n", fp);
			json_row(fp, st);
		} else
			out_table_row(&t, st, o->now);
		n++;
	}
	if (o->json)
		fputs(n > 0 ? "\n]" : "]", fp);
	else if (n > 0) {
		fprintf(fp, "%sincidents\n", *found > 0 ? "\n" : "");
		out_table_print(&t, fp, "  ", NULL);
	} else
		out_table_free(&t);
	*found += n;
	if (rc != SQLITE_DONE) {
		step_error(db, st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/*
 * show SUBJECT: every account, address and relay named exactly SUBJECT,
 * on any host, each with its totals, its diagnosis, its failures per
 * hour over the last 24 h and (accounts and addresses) the other side
 * of account_addrs; then its incidents.  Returns 0, 1 when nothing is
 * named SUBJECT, or 3 on an error.
 */
int
ctldb_show(const struct ctldb_opt *o, const char *arg)
{
	sqlite3		*db;
	FILE		*fp;
	char		*buf = NULL, *subject;
	size_t		 i, bufsize = 0, len;
	int		 found = 0, rc = 0;

	subject = str_unvis(arg, strlen(arg), &len);

	if ((db = ctldb_open(o->database)) == NULL)
		return 3;
	/* Nothing is printed until it is known that something matched. */
	if ((fp = open_memstream(&buf, &bufsize)) == NULL)
		fatal("open_memstream");
	if (o->json) {
		fputs("{\"subject\":", fp);
		fput_json(fp, subject, len);
		fputs(",\"subject_hex\":\"", fp);
		for (i = 0; i < len; i++)
			fprintf(fp, "%02x", (unsigned char)subject[i]);
		fputc('"', fp);
	}
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]) && rc == 0;
	    i++)
		if (show_section(o, db, &sections[i], subject, len, &found,
		    fp) == -1)
			rc = 3;
	if (rc == 0 && show_incidents(o, db, subject, len, &found, fp) == -1)
		rc = 3;
	if (o->json)
		fputs("}\n", fp);
	if (fclose(fp) != 0)
		fatal("open_memstream");
	sqlite3_close(db);
	if (rc == 0 && found == 0) {
		char	*s = xmalloc(len * 4 + 1);

		str_vis(s, len * 4 + 1, subject, len);
		log_warnx("no account, address or relay %s", s);
		free(s);
		rc = 1;
	}
	if (rc == 0)
		fwrite(buf, 1, bufsize, stdout);
	free(buf);
	free(subject);
	return rc;
}
