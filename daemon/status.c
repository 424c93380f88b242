/*
 * status.c -- smtpwatchctl status: what the daemon says on its control
 * socket (when it answers) joined with what its database holds
 * (read-only: open incidents, the accounts and addresses failing in the
 * last 24 h, the relays, failures per hour, its size, what was folded
 * to keep it under its limit, the last expiry).  status prints it for
 * a person, or with --json for a script, and exits with a code for
 * monitoring; metrics.c asks the daemon, lists the relays and reads the
 * storage the same way (status_ask, status_relays, status_store_read).
 * Every string from the database or the daemon is escaped on output.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "smtpwatch.h"

#define TOP_N		5		/* rows of the top lists */
#define STATUS_SHOWN	20		/* open incidents, but relays and
					   back ends, shown without -v */
#define DIAG_IDS	5		/* incidents named per diagnosis */
#define DAY		86400

struct st_ctx {
	const struct status_opt	*o;
	sqlite3			*db;
	FILE			*fp;	/* the report, until it is whole */
	int			 bold;	/* headings: a terminal, no NO_COLOR */
	int			 utf8;	/* the sparkline's blocks */
};

static int	 st_steperr(sqlite3 *, sqlite3_stmt *);
static char	*st_vis(sqlite3_stmt *, int);
static void	 st_heading(struct st_ctx *, const char *);
static void	 st_daemon(struct st_ctx *, const struct ctl_status *);
static void	 st_sources(struct st_ctx *, const struct ctl_status *);
static int	 st_incidents(struct st_ctx *, int *);
static int	 st_top(struct st_ctx *, const char *, const char *,
		    const char *);
static int	 st_relays(struct st_ctx *);
static int	 st_hourly(struct st_ctx *, long long *);
static void	 st_store(struct st_ctx *, const struct sw_storage *);
static void	 st_spark(struct st_ctx *, const long long *);

/* Logs a failed step and finalizes; returns -1. */
static int
st_steperr(sqlite3 *db, sqlite3_stmt *st)
{
	log_warnx("database %s: %s", sqlite3_db_filename(db, "main"),
	    sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return -1;
}

/* Column i escaped with str_vis(), allocated; "-" when NULL or empty. */
static char *
st_vis(sqlite3_stmt *st, int i)
{
	char	*s = out_vis_column(st, i);

	if (s != NULL && *s != '\0')
		return s;
	free(s);
	return xstrdup("-");
}

/* A heading of the report; bold when the report goes to a terminal. */
static void
st_heading(struct st_ctx *c, const char *s)
{
	fprintf(c->fp, "\n%s%s%s\n", c->bold ? "\033[1m" : "", s,
	    c->bold ? "\033[0m" : "");
}

/*
 * Asks the daemon on path for its status.  Returns CTLSOCK_OK with st
 * filled (wire_status_free() it), or another CTLSOCK_* with what
 * went wrong in why.
 */
int
status_ask(const char *path, struct ctl_status *st, char *why,
    size_t whysize)
{
	struct ctl_reply	 r;
	int			 rc;

	memset(st, 0, sizeof(*st));
	rc = ctlsock_request(path, "status", NULL, 0, &r);
	if (rc == CTLSOCK_OK && ctlsock_status(&r, st) == -1) {
		wire_status_free(st);
		snprintf(r.reason, sizeof(r.reason), "%.200s: the status "
		    "reply lacks the version or pid", path);
		rc = CTLSOCK_FAIL;
	}
	if (rc == CTLSOCK_ERROR)
		snprintf(why, whysize, "%.200s: %s", path, r.reason);
	else
		snprintf(why, whysize, "%s", r.reason);
	ctlsock_free(&r);
	return rc;
}

/* The daemon's part, text or the JSON value of "daemon". */
static void
st_daemon(struct st_ctx *c, const struct ctl_status *st)
{
	FILE		*fp = c->fp;
	time_t		 wall = time(NULL);
	char		 a[32], n[5][48];

	if (c->o->json) {
		fprintf(fp, "{\"version\":");
		fput_json(fp, st->version, strlen(st->version));
		fprintf(fp, ",\"pid\":%ld,\"started\":%lld,\"uptime\":%lld,"
		    "\"rules\":{\"files\":%llu,\"extracts\":%llu,"
		    "\"diagnoses\":%llu},\"database\":", st->pid,
		    (long long)st->started, (long long)(wall - st->started),
		    st->rules_files, st->rules_extracts, st->rules_diagnoses);
		fput_json(fp, st->database.p, st->database.len);
		fprintf(fp, ",\"batch\":%llu,\"committed\":", st->batch);
		if (st->committed == 0)
			fputs("null", fp);
		else
			fprintf(fp, "%lld", (long long)st->committed);
		fprintf(fp, ",\"lines\":%llu,\"events\":%llu,\"batches\":%llu,"
		    "\"commit_errors\":%llu,\"checkpoint_errors\":%llu,"
		    "\"checkpoint_failing\":%s,"
		    "\"alerts\":%llu,\"incidents\":%llu,"
		    "\"summarising\":%s,\"folded_entries\":%llu,"
		    "\"folded_incidents\":%llu}",
		    st->lines, st->events, st->batches, st->commit_errors,
		    st->checkpoint_errors,
		    st->checkpoint_failing ? "true" : "false", st->alerts,
		    st->incidents, st->summarising ? "true" : "false",
		    st->folded_entries, st->folded_incidents);
		return;
	}
	out_span(a, sizeof(a), (long long)(wall - st->started));
	fprintf(fp, "smtpwatchd %s is running, pid %ld, up %s\n", st->version,
	    st->pid, a);
	fprintf(fp, "  rules      %s, %llu extract and %llu diagnosis "
	    "entries\n", out_count(n[0], sizeof(n[0]),
	    (long long)st->rules_files, "file", "files"), st->rules_extracts,
	    st->rules_diagnoses);
	fputs("  database   ", fp);
	fput_vis(fp, st->database.p != NULL ? st->database.p : "",
	    st->database.len);
	if (st->committed == 0)
		fputs("\n  committed  nothing yet", fp);
	else {
		out_ago(a, sizeof(a), st->committed, wall);
		fprintf(fp, "\n  committed  %s", a);
	}
	fprintf(fp, ", %llu event%s waiting\n", st->batch,
	    st->batch == 1 ? "" : "s");
	fprintf(fp, "  counted    %s, %s, %s, %s, %s\n",
	    out_count(n[0], sizeof(n[0]), (long long)st->lines, "line",
	    "lines"),
	    out_count(n[1], sizeof(n[1]), (long long)st->events, "event",
	    "events"),
	    out_count(n[2], sizeof(n[2]), (long long)st->batches, "batch",
	    "batches"),
	    out_count(n[3], sizeof(n[3]), (long long)st->commit_errors,
	    "commit error", "commit errors"),
	    out_count(n[4], sizeof(n[4]), (long long)st->alerts, "alert",
	    "alerts"));
	if (st->checkpoint_errors > 0)
		fprintf(fp, "  wal        %s of the WAL failed, %s\n",
		    out_count(n[0], sizeof(n[0]),
		    (long long)st->checkpoint_errors, "checkpoint",
		    "checkpoints"), st->checkpoint_failing ?
		    "failing now: it grows until one succeeds (see the "
		    "daemon's log)" : "copied into the database again since");
	if (st->summarising || st->folded_entries > 0 ||
	    st->folded_incidents > 0)
		fprintf(fp, "  folded     %s%llu incident%s and %llu alert%s "
		    "folded into summaries\n", st->summarising ?
		    "summarising now: " : "", st->folded_incidents,
		    st->folded_incidents == 1 ? "" : "s", st->folded_entries,
		    st->folded_entries == 1 ? "" : "s");
}

/* The daemon's sources: text, or the JSON array of "sources". */
static void
st_sources(struct st_ctx *c, const struct ctl_status *st)
{
	static const struct out_col cols[] = {
		{ "PATH", NULL, OUT_TEXT }, { "STATE", NULL, OUT_TEXT },
		{ "OFFSET", NULL, OUT_NUM }, { "LAG-BYTES", NULL, OUT_NUM },
		{ "LAG", NULL, OUT_NUM }, { "ROTATIONS", NULL, OUT_NUM },
		{ "LINES", NULL, OUT_NUM }, { "WATCH", NULL, OUT_TEXT }
	};
	const struct ctl_source	*s;
	struct out_table	 t;
	char			 buf[64], *p;
	size_t			 i;

	if (c->o->json) {
		fputc('[', c->fp);
		for (i = 0; i < st->nsources; i++) {
			s = &st->sources[i];
			fprintf(c->fp, "%s{\"path\":", i > 0 ? "," : "");
			fput_json(c->fp, s->path.p, s->path.len);
			fputs(",\"path_hex\":", c->fp);
			out_json_hex(c->fp, s->path.p, s->path.len);
			fprintf(c->fp, ",\"open\":%s,\"offset\":%llu,"
			    "\"size\":%llu,\"lag_bytes\":%llu,"
			    "\"lag_seconds\":%llu,\"rotations\":%llu,"
			    "\"lines\":%llu,\"polled\":%s,\"active\":%s}",
			    s->open ? "true" : "false", s->offset, s->size,
			    s->lag_bytes, s->lag_seconds, s->rotations,
			    s->lines, s->polled ? "true" : "false",
			    s->standby ? "false" : "true");
		}
		fputc(']', c->fp);
		return;
	}
	st_heading(c, "sources");
	out_table_init(&t, cols, 8);
	for (i = 0; i < st->nsources; i++) {
		s = &st->sources[i];
		p = xmalloc(s->path.len * 4 + 1);
		str_vis(p, s->path.len * 4 + 1, s->path.p, s->path.len);
		out_table_add(&t, p);
		out_table_add(&t, xstrdup(s->standby ? "standby" : s->open ?
		    "open" : "missing"));
		out_table_num(&t, 0, (long long)s->offset);
		out_table_num(&t, 0, (long long)s->lag_bytes);
		out_span(buf, sizeof(buf), (long long)s->lag_seconds);
		out_table_add(&t, xstrdup(buf));
		out_table_num(&t, 0, (long long)s->rotations);
		out_table_num(&t, 0, (long long)s->lines);
		out_table_add(&t, xstrdup(s->polled ? "stat" : "inotify"));
	}
	out_table_print(&t, c->fp, "  ", "none");
}

/* A diagnosis of the open incidents, and which incidents have it. */
struct st_diag {
	char		*id;
	long long	 first[DIAG_IDS];	/* the first incidents' ids */
	size_t		 n;			/* incidents with it */
};

/* Notes that incident inc has diagnosis id (any bytes, from the rows). */
static void
st_diag_add(struct st_diag **v, size_t *n, const char *id, long long inc)
{
	size_t	 i;

	for (i = 0; i < *n && strcmp((*v)[i].id, id) != 0; i++)
		continue;
	if (i == *n) {
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		memset(&(*v)[i], 0, sizeof(**v));
		(*v)[i].id = xstrdup(id);
		(*n)++;
	}
	if ((*v)[i].n < DIAG_IDS)
		(*v)[i].first[(*v)[i].n] = inc;
	(*v)[i].n++;
}

/*
 * What to do: each diagnosis of the open incidents once, with the
 * incidents it explains, its summary and best fix; --verbose adds the
 * cause, every fix and the dead ends.
 */
static void
st_diag_print(struct st_ctx *c, struct st_diag *v, size_t n)
{
	const struct sw_diagnosis	*d;
	size_t				 i, j;

	if (n == 0)
		return;
	st_heading(c, "what to do");
	for (i = 0; i < n; i++) {
		fputs("  ", c->fp);
		fput_vis(c->fp, v[i].id, strlen(v[i].id));
		for (j = 0; j < v[i].n && j < DIAG_IDS; j++)
			fprintf(c->fp, "%s#%lld", j == 0 ? " (" : ", ",
			    v[i].first[j]);
		if (v[i].n > DIAG_IDS)
			fprintf(c->fp, " and %zu more", v[i].n - DIAG_IDS);
		fputs(")", c->fp);
		if ((d = rules_find(c->o->rs, v[i].id)) == NULL)
			fputs(": not in the rules loaded\n", c->fp);
		else if (c->o->verbose) {
			fputs(":\n", c->fp);
			diag_print(c->fp, d, "    ", 1);
		} else {
			fprintf(c->fp, ": %s\n", d->summary);
			if (d->nfixes > 0)
				fprintf(c->fp, "    fix (works %d%%): %s\n",
				    d->fixes[0].percent, d->fixes[0].text);
		}
		free(v[i].id);
	}
	free(v);
}

/* One open incident as one line of text: the current row of st. */
static void
st_incident_line(struct st_ctx *c, sqlite3_stmt *st)
{
	FILE		*fp = c->fp;
	const char	*kind = (const char *)sqlite3_column_text(st, 2);
	char		 a[32], *s;
	long long	 failures = sqlite3_column_int64(st, 6), other;

	if (kind == NULL)
		kind = "-";
	fprintf(fp, "  #%lld %s ", (long long)sqlite3_column_int64(st, 0),
	    kind);
	s = st_vis(st, 3);
	fputs(s, fp);
	free(s);
	if (sqlite3_column_bytes(st, 13) > 0) {
		s = st_vis(st, 13);
		fprintf(fp, " on hosts %s", s);
		free(s);
	} else if (sqlite3_column_bytes(st, 1) > 0 &&
	    strcmp(kind, "backend") != 0) {
		s = st_vis(st, 1);
		fprintf(fp, " on %s", s);
		free(s);
	}
	out_ago(a, sizeof(a), (time_t)sqlite3_column_int64(st, 4), c->o->now);
	fprintf(fp, ", since %s: %lld %s", a, failures,
	    strcmp(kind, "backend") == 0 ? (failures == 1 ? "trouble event" :
	    "trouble events") : failures == 1 ? "failure" : "failures");
	if (strcmp(kind, "relay") == 0) {
		other = sqlite3_column_int64(st, 7);
		fprintf(fp, ", %lld message%s held back", other,
		    other == 1 ? "" : "s");
	} else if (strcmp(kind, "account") == 0) {
		other = sqlite3_column_int64(st, 8);
		fprintf(fp, " from %lld address%s", other,
		    other == 1 ? "" : "es");
	} else if (strcmp(kind, "address") == 0) {
		other = sqlite3_column_int64(st, 9);
		fprintf(fp, " on %lld account%s", other,
		    other == 1 ? "" : "s");
	}
	if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
		fputs(" [", fp);
		s = st_vis(st, 10);
		fputs(s, fp);
		free(s);
		fputc(']', fp);
	}
	fputc('\n', fp);
}

/* The current row of st as a JSON object of the "incidents" array. */
static void
st_incident_json(struct st_ctx *c, sqlite3_stmt *st, int n)
{
	static const char *const keys[] = { "id", "host", "kind", "subject",
	    "opened", "last", "failures", "held_back", "addresses",
	    "accounts", NULL, "last_addr", "last_reply", "hosts" };
	const struct sw_diagnosis	*d;
	FILE				*fp = c->fp;
	const char			*id;
	size_t				 i;

	fputs(n > 0 ? ",{" : "{", fp);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i] == NULL || (i == 13 &&
		    sqlite3_column_type(st, 13) == SQLITE_NULL))
			continue;	/* the diagnosis; a fleet's hosts */
		fprintf(fp, "%s\"%s\":", i > 0 ? "," : "", keys[i]);
		out_json_column(fp, st, (int)i);
		if (i == 3 || i == 12) {
			fprintf(fp, ",\"%s_hex\":", keys[i]);
			out_json_hex_column(fp, st, (int)i);
		}
	}
	id = (const char *)sqlite3_column_text(st, 10);
	d = rules_find(c->o->rs, id);
	fputs(",\"diagnosis\":", fp);
	if (id == NULL) {
		fputs("null}", fp);
		return;
	}
	fputs("{\"id\":", fp);
	fput_json(fp, id, strlen(id));
	fputs(",\"summary\":", fp);
	fput_json(fp, d != NULL ? d->summary : NULL,
	    d != NULL ? strlen(d->summary) : 0);
	fputs(",\"fix\":", fp);
	if (d != NULL && d->nfixes > 0) {
		fput_json(fp, d->fixes[0].text, strlen(d->fixes[0].text));
		fprintf(fp, ",\"fix_works\":%d}}", d->fixes[0].percent);
	} else
		fputs("null,\"fix_works\":null}}", fp);
}

/*
 * The open incidents: relay and back-end ones first (always all of
 * them), then the others oldest first, one line each, at most
 * STATUS_SHOWN lines in all without --verbose; then what to do, each
 * diagnosis once.  JSON: every one of them.  *n counts them.  Returns
 * 0, or -1 after logging.
 */
static int
st_incidents(struct st_ctx *c, int *n)
{
	sqlite3_stmt	*st;
	struct st_diag	*diags = NULL;
	size_t		 ndiags = 0;
	const char	*kind, *id;
	int		 rc, shown = 0, urgent;

	st = ctldb_prepare(c->db, "SELECT id, host, kind, subject, opened, "
	    "last, failures, messages, addresses, accounts, diagnosis, "
	    "last_addr, last_reply, hosts FROM incident_list "
	    "WHERE state = 'open' "
	    "ORDER BY kind NOT IN ('relay', 'backend'), opened, id");
	if (st == NULL)
		return -1;
	*n = 0;
	if (c->o->json)
		fputc('[', c->fp);
	else
		st_heading(c, "open incidents");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (c->o->json) {
			st_incident_json(c, st, (*n)++);
			continue;
		}
		(*n)++;
		kind = (const char *)sqlite3_column_text(st, 2);
		urgent = kind != NULL && (strcmp(kind, "relay") == 0 ||
		    strcmp(kind, "backend") == 0);
		if ((id = (const char *)sqlite3_column_text(st, 10)) != NULL)
			st_diag_add(&diags, &ndiags, id,
			    sqlite3_column_int64(st, 0));
		if (!urgent && !c->o->verbose && shown >= STATUS_SHOWN)
			continue;
		st_incident_line(c, st);
		shown++;
	}
	if (rc != SQLITE_DONE) {
		st_diag_print(c, diags, ndiags);
		return st_steperr(c->db, st);
	}
	sqlite3_finalize(st);
	if (c->o->json)
		fputc(']', c->fp);
	else if (*n == 0)
		fputs("  none\n", c->fp);
	else if (shown < *n)
		fprintf(c->fp, "  ... and %d more (status --verbose, or "
		    "smtpwatchctl incidents --open)\n", *n - shown);
	if (!c->o->json)
		st_diag_print(c, diags, ndiags);
	return 0;
}

/*
 * The TOP_N keys of the buckets of scope with the most failures in the
 * 24 h before now; name is the JSON key of the key ("account", "addr").
 */
static int
st_top(struct st_ctx *c, const char *scope, const char *name,
    const char *title)
{
	const struct out_col cols[] = { { "HOST", NULL, OUT_TEXT },
	    { strcmp(name, "addr") == 0 ? "ADDRESS" : "ACCOUNT", NULL,
	    OUT_TEXT }, { "FAILURES", NULL, OUT_NUM } };
	sqlite3_stmt	*st;
	struct out_table t;
	int		 rc, n = 0;

	st = ctldb_prepare(c->db, "SELECT host, key, sum(failures) AS f "
	    "FROM buckets WHERE scope = ?1 AND start >= ?2 AND start <= ?3 "
	    "AND length(key) > 0 GROUP BY host, key HAVING f > 0 "
	    "ORDER BY f DESC, key, host LIMIT ?4");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)c->o->now - DAY);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)c->o->now);
	sqlite3_bind_int(st, 4, TOP_N);
	if (c->o->json)
		fputc('[', c->fp);
	else {
		st_heading(c, title);
		out_table_init(&t, cols, 3);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (c->o->json) {
			fprintf(c->fp, "%s{\"host\":", n > 0 ? "," : "");
			out_json_column(c->fp, st, 0);
			fprintf(c->fp, ",\"%s\":", name);
			out_json_column(c->fp, st, 1);
			if (strcmp(name, "account") == 0) {
				fputs(",\"account_hex\":", c->fp);
				out_json_hex_column(c->fp, st, 1);
			}
			fprintf(c->fp, ",\"failures\":%lld}",
			    (long long)sqlite3_column_int64(st, 2));
		} else {
			out_table_add(&t, st_vis(st, 0));
			out_table_add(&t, st_vis(st, 1));
			out_table_num(&t, 0, sqlite3_column_int64(st, 2));
		}
		n++;
	}
	if (c->o->json)
		fputc(']', c->fp);
	else
		out_table_print(&t, c->fp, "  ", "none");
	if (rc != SQLITE_DONE)
		return st_steperr(c->db, st);
	sqlite3_finalize(st);
	return 0;
}

/*
 * The relays as status and metrics show them, from relay_totals, the
 * view the relays listing reads (state: failing while a relay incident
 * is open; held_back: the messages held back): the failing ones first,
 * then by failures.  Columns: host, relay, state, failures, held_back,
 * last_failure, last_success, last_diagnosis.  NULL after logging.
 */
sqlite3_stmt *
status_relays(sqlite3 *db)
{
	return ctldb_prepare(db, "SELECT host, relay, state, failures, "
	    "affected AS held_back, last_failure, last_success, "
	    "last_diagnosis "
	    "FROM relay_totals ORDER BY state = 'failing' DESC, "
	    "failures DESC, relay, host");
}

/* The relays: text, or the JSON array of "relays". */
static int
st_relays(struct st_ctx *c)
{
	static const struct out_col cols[] = {
		{ "HOST", "host", OUT_TEXT }, { "RELAY", "relay", OUT_TEXT },
		{ "STATE", "state", OUT_TEXT },
		{ "FAILURES", "failures", OUT_NUM },
		{ "HELD-BACK", "held_back", OUT_NUM },
		{ "LAST-FAILURE", "last_failure", OUT_AGO },
		{ "LAST-SUCCESS", "last_success", OUT_AGO }
	};
	static const char *const keys[] = { "host", "relay", "state",
	    "failures", "held_back", "last_failure", "last_success",
	    "last_diagnosis" };
	sqlite3_stmt	*st;
	struct out_table t;
	int		 rc, i, n = 0;

	if ((st = status_relays(c->db)) == NULL)
		return -1;
	if (c->o->json)
		fputc('[', c->fp);
	else {
		st_heading(c, "relays");
		out_table_init(&t, cols, 7);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (c->o->json) {
			fputs(n > 0 ? ",{" : "{", c->fp);
			for (i = 0; i < 8; i++) {
				fprintf(c->fp, "%s\"%s\":", i > 0 ? "," : "",
				    keys[i]);
				out_json_column(c->fp, st, i);
				if (i == 1) {
					fputs(",\"relay_hex\":", c->fp);
					out_json_hex_column(c->fp, st, i);
				}
			}
			fputc('}', c->fp);
			n++;
			continue;
		}
		out_table_row(&t, st, c->o->now);
		n++;
	}
	if (c->o->json)
		fputc(']', c->fp);
	else
		out_table_print(&t, c->fp, "  ", "none");
	if (rc != SQLITE_DONE)
		return st_steperr(c->db, st);
	sqlite3_finalize(st);
	return 0;
}

/*
 * Failures per hour over the 24 h before now, oldest first: the buckets
 * of scopes 'addr' and 'relay' (each failure is in exactly one) that
 * start in [now - 24 h, now]; hour i holds those starting in
 * [now - 24 h + i h, now - 24 h + (i + 1) h), the last one also now.
 */
static int
st_hourly(struct st_ctx *c, long long *h)
{
	sqlite3_stmt	*st;
	long long	 lo = (long long)c->o->now - DAY, i;
	int		 rc;

	memset(h, 0, 24 * sizeof(*h));
	st = ctldb_prepare(c->db, "SELECT start, sum(failures) FROM buckets "
	    "WHERE scope IN ('addr', 'relay') AND start >= ?1 "
	    "AND start <= ?2 GROUP BY start");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)c->o->now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		i = (sqlite3_column_int64(st, 0) - lo) / 3600;
		h[i > 23 ? 23 : i] += sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		return st_steperr(c->db, st);
	sqlite3_finalize(st);
	return 0;
}

/* The sparkline of h and its total. */
static void
st_spark(struct st_ctx *c, const long long *h)
{
	static const char *const blocks[8] = { "\u2581", "\u2582", "\u2583",
	    "\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ramp[] = " .:-=+*#";
	long long	 max = 0, total = 0;
	int		 i, level;

	for (i = 0; i < 24; i++) {
		total += h[i];
		if (h[i] > max)
			max = h[i];
	}
	st_heading(c, "failures per hour, last 24 h (oldest first)");
	fputs("  [", c->fp);
	for (i = 0; i < 24; i++) {
		/* 0 is the lowest; any failure at least the next one up */
		level = max == 0 ? 0 : (int)((h[i] * 7 + max - 1) / max);
		if (c->utf8)
			fputs(blocks[level], c->fp);
		else
			fputc(ramp[level], c->fp);
	}
	fprintf(c->fp, "]  %lld failure%s, at most %lld in an hour\n", total,
	    total == 1 ? "" : "s", max);
}

/*
 * The size of db (page_count * page_size), its folds and meta notes.
 * Returns 0, or -1 after logging.
 */
int
status_store_read(sqlite3 *db, struct sw_storage *s)
{
	sqlite3_stmt	*st;
	const char	*name;
	long long	 v;
	int		 rc, i;

	memset(s, 0, sizeof(*s));
	s->expire_wall = s->expire_log = -1;
	st = ctldb_prepare(db, "SELECT (SELECT page_count FROM "
	    "pragma_page_count) * (SELECT page_size FROM pragma_page_size), "
	    "(SELECT coalesce(max(last_fold), 0) FROM folds)");
	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return st_steperr(db, st);
	s->bytes = sqlite3_column_int64(st, 0);
	s->last_fold = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = ctldb_prepare(db, "SELECT 0, count(*), coalesce(sum(members), 0) "
	    "FROM folds WHERE kind = 'account' UNION ALL "
	    "SELECT 1, count(*), coalesce(sum(members), 0) FROM folds "
	    "WHERE kind = 'address' UNION ALL "
	    "SELECT 2, count(*), coalesce(sum(folded), 0) FROM account_addrs "
	    "WHERE folded > 0");
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		i = sqlite3_column_int(st, 0);
		s->rows[i] = sqlite3_column_int64(st, 1);
		s->members[i] = sqlite3_column_int64(st, 2);
	}
	if (rc != SQLITE_DONE)
		return st_steperr(db, st);
	sqlite3_finalize(st);
	if ((st = ctldb_prepare(db, "SELECT name, value FROM meta")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		v = sqlite3_column_int64(st, 1);
		if (name == NULL)
			continue;
		if (strcmp(name, "expire_wall") == 0)
			s->expire_wall = v;
		else if (strcmp(name, "expire_log") == 0)
			s->expire_log = v;
		else if (strcmp(name, "refused_wall") == 0)
			s->refused_wall = v;
		else if (strcmp(name, "refused_log") == 0)
			s->refused_log = v;
		else if (strcmp(name, "refused_rows") == 0)
			s->refused_rows = v;
		else if (strcmp(name, "refused_total") == 0)
			s->refused_total = v;
	}
	if (rc != SQLITE_DONE)
		return st_steperr(db, st);
	sqlite3_finalize(st);
	return 0;
}

/* Bytes as MB with one decimal. */
static void
st_mb(char *buf, size_t size, long long bytes)
{
	snprintf(buf, size, "%.1f MB", bytes / 1048576.0);
}

/* The database's size, folds and expiry: text, or the JSON "storage". */
static void
st_store(struct st_ctx *c, const struct sw_storage *s)
{
	static const char *const names[] = { "accounts", "addresses",
	    "account_addresses" };
	FILE	*fp = c->fp;
	char	 a[32], b[32], n[3][48];
	int	 i;

	if (c->o->json) {
		fprintf(fp, "{\"bytes\":%lld,\"limit\":%lld,\"folded\":{",
		    s->bytes, c->o->limit);
		for (i = 0; i < 3; i++)
			fprintf(fp, "\"%s\":%lld,\"%s_rows\":%lld,", names[i],
			    s->members[i], names[i], s->rows[i]);
		if (s->last_fold > 0)
			fprintf(fp, "\"last\":%lld},\"expired\":", s->last_fold);
		else
			fputs("\"last\":null},\"expired\":", fp);
		if (s->expire_wall < 0)
			fputs("null", fp);
		else
			fprintf(fp, "{\"wall\":%lld,\"log\":%lld}",
			    s->expire_wall, s->expire_log);
		fputs(",\"refused\":", fp);
		if (s->refused_wall <= 0)
			fputs("null}", fp);
		else
			fprintf(fp, "{\"wall\":%lld,\"log\":%lld,\"rows\":%lld,"
			    "\"total\":%lld}}", s->refused_wall, s->refused_log,
			    s->refused_rows, s->refused_total);
		return;
	}
	st_heading(c, "storage");
	st_mb(a, sizeof(a), s->bytes);
	if (c->o->limit > 0) {
		st_mb(b, sizeof(b), c->o->limit);
		fprintf(fp, "  size       %s of database-limit %s\n", a, b);
	} else
		fprintf(fp, "  size       %s, no database-limit\n", a);
	if (s->rows[0] + s->rows[1] + s->rows[2] == 0)
		fputs("  folded     none\n", fp);
	else {
		out_ago(a, sizeof(a), (time_t)s->last_fold, c->o->now);
		fprintf(fp, "  folded     %s, %s, %s into %lld, %lld, %lld "
		    "network rows; the last %s\n",
		    out_count(n[0], sizeof(n[0]), s->members[0], "account",
		    "accounts"),
		    out_count(n[1], sizeof(n[1]), s->members[1],
		    "client address", "client addresses"),
		    out_count(n[2], sizeof(n[2]), s->members[2],
		    "address of accounts", "addresses of accounts"),
		    s->rows[0], s->rows[1], s->rows[2], a);
	}
	if (s->expire_wall < 0)
		fputs("  retention  not run yet\n", fp);
	else {
		out_ago(a, sizeof(a), (time_t)s->expire_wall, c->o->now);
		out_utc(b, sizeof(b), (time_t)s->expire_log);
		fprintf(fp, "  retention  last run %s, by the log time %s\n", a,
		    b);
	}
	if (s->refused_wall > 0) {
		out_ago(a, sizeof(a), (time_t)s->refused_wall, c->o->now);
		out_utc(b, sizeof(b), (time_t)s->refused_log);
		fprintf(fp, "  refused    %s: by the log time %s it would have "
		    "deleted %lld of %lld rows (see smtpwatchd(8), Retention)\n",
		    a, b, s->refused_rows, s->refused_total);
	}
}

/*
 * status: the daemon (when it answers on its control socket) and the
 * database.  Returns the exit status: 3 on an error; else 2 when the
 * daemon did not answer, 1 when incidents are open, 0 when all is
 * quiet.
 */
int
status_print(const struct status_opt *o)
{
	struct st_ctx		 c;
	struct ctl_status	 ds;
	struct sw_storage		 sto;
	char			 why[512], *buf = NULL;
	size_t			 bufsize = 0;
	long long		 h[24];
	int			 up, rc, nopen = 0, i;

	memset(&c, 0, sizeof(c));
	memset(&sto, 0, sizeof(sto));
	c.o = o;
	c.bold = !o->json && isatty(STDOUT_FILENO) &&
	    getenv("NO_COLOR") == NULL;
	c.utf8 = str_vis_utf8();

	rc = status_ask(o->control, &ds, why, sizeof(why));
	up = rc == CTLSOCK_OK;

	if ((c.fp = open_memstream(&buf, &bufsize)) == NULL)
		fatal("open_memstream");
	if (o->json) {
		fputs("{\"daemon\":", c.fp);
		if (up)
			st_daemon(&c, &ds);
		else
			fputs("null", c.fp);
		fputs(",\"daemon_error\":", c.fp);
		if (up)
			fputs("null", c.fp);
		else
			fput_json(c.fp, why, strlen(why));
		fputs(",\"sources\":", c.fp);
		st_sources(&c, &ds);
	} else if (up) {
		st_daemon(&c, &ds);
		st_sources(&c, &ds);
	} else {
		fprintf(c.fp, "smtpwatchd is %s (control socket %s)\n",
		    rc == CTLSOCK_DOWN ? "not running" : "not answering", why);
	}
	wire_status_free(&ds);

	rc = 0;
	if ((c.db = ctldb_open(o->database)) == NULL)
		rc = 3;
	else if (!up && !o->json)
		fputs("  what follows is from the database alone\n", c.fp);
	if (rc == 0 && o->json)
		fputs(",\"incidents\":", c.fp);
	if (rc == 0 && st_incidents(&c, &nopen) == -1)
		rc = 3;
	if (rc == 0 && o->json)
		fputs(",\"top_accounts\":", c.fp);
	if (rc == 0 && st_top(&c, "account", "account",
	    "failing accounts, last 24 h") == -1)
		rc = 3;
	if (rc == 0 && o->json)
		fputs(",\"top_addresses\":", c.fp);
	if (rc == 0 && st_top(&c, "addr", "addr",
	    "failing client addresses, last 24 h") == -1)
		rc = 3;
	if (rc == 0 && o->json)
		fputs(",\"relays\":", c.fp);
	if (rc == 0 && st_relays(&c) == -1)
		rc = 3;
	if (rc == 0 && st_hourly(&c, h) == -1)
		rc = 3;
	if (rc == 0 && status_store_read(c.db, &sto) == -1)
		rc = 3;
	sqlite3_close(c.db);
	if (rc == 0)
		rc = !up ? 2 : nopen > 0 ? 1 : 0;
	if (rc != 3 && o->json) {
		fputs(",\"storage\":", c.fp);
		st_store(&c, &sto);
		fputs(",\"hourly\":[", c.fp);
		for (i = 0; i < 24; i++)
			fprintf(c.fp, "%s%lld", i > 0 ? "," : "", h[i]);
		fprintf(c.fp, "],\"now\":%lld,\"exit\":%d}\n",
		    (long long)o->now, rc);
	} else if (rc != 3) {
		st_spark(&c, h);
		st_store(&c, &sto);
	}
	if (fclose(c.fp) != 0)
		fatal("open_memstream");
	/* text: the daemon's part even when the database fails */
	if (rc != 3 || !o->json)
		fwrite(buf, 1, bufsize, stdout);
	free(buf);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("stdout");
		rc = 3;
	}
	return rc;
}
