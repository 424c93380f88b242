/*
 * status.c -- smtpwatchctl status and metrics: what the daemon says on
 * its control socket (when it answers) joined with what its database
 * holds (read-only: open incidents, the accounts and addresses failing
 * in the last 24 h, the relays, failures per hour).  status prints it
 * for a person, or with --json for a script, and exits with a code for
 * monitoring; metrics prints it in Prometheus' text exposition format.
 * Every string from the database or the daemon is escaped on output.
 */


#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "smtpwatch.h"

#define TOP_N		5		/* rows of the top lists */
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
static void	 st_spark(struct st_ctx *, const long long *);
static int	 st_daemon_ask(const char *, struct ctl_status *, char *,
		    size_t);
static void	 prom_label(FILE *, const char *, size_t);
static void	 prom_head(FILE *, const char *, const char *, const char *);

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
static int
st_daemon_ask(const char *path, struct ctl_status *st, char *why,
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
	char		 a[32];

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
		    "\"commit_errors\":%llu,\"alerts\":%llu,\"incidents\":%llu}",
		    st->lines, st->events, st->batches, st->commit_errors,
		    st->alerts, st->incidents);
		return;
	}
	out_span(a, sizeof(a), (long long)(wall - st->started));
	fprintf(fp, "smtpwatchd %s is running, pid %ld, up %s\n", st->version,
	    st->pid, a);
	fprintf(fp, "  rules      %llu files, %llu extract and %llu diagnosis "
	    "entries\n", st->rules_files, st->rules_extracts,
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
	fprintf(fp, "  counted    %llu lines, %llu events, %llu batches, "
	    "%llu commit errors, %llu alerts\n", st->lines, st->events,
	    st->batches, st->commit_errors, st->alerts);
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

/*
 * The open incidents, oldest first, each with the summary and best fix
 * of its diagnosis; *n counts them.  Returns 0, or -1 after logging.
 */
static int
st_incidents(struct st_ctx *c, int *n)
{
	const struct sw_diagnosis	*d;
	sqlite3_stmt			*st;
	FILE				*fp = c->fp;
	const char			*id, *kind;
	char				 a[32], *s;
	long long			 failures, other;
	int				 rc;

	st = ctldb_prepare(c->db, "SELECT id, host, kind, subject, opened, "
	    "last, failures, messages, addresses, accounts, diagnosis, "
	    "last_addr, last_reply, hosts FROM incident_list "
	    "WHERE state = 'open' ORDER BY opened, id");
	if (st == NULL)
		return -1;
	*n = 0;
	if (c->o->json)
		fputc('[', fp);
	else
		st_heading(c, "open incidents");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		id = (const char *)sqlite3_column_text(st, 10);
		d = rules_find(c->o->rs, id);
		if (c->o->json) {
			fprintf(fp, "%s{\"id\":%lld,\"host\":", *n > 0 ?
			    "," : "", (long long)sqlite3_column_int64(st, 0));
			out_json_column(fp, st, 1);
			fputs(",\"kind\":", fp);
			out_json_column(fp, st, 2);
			fputs(",\"subject\":", fp);
			out_json_column(fp, st, 3);
			fputs(",\"subject_hex\":", fp);
			out_json_hex_column(fp, st, 3);
			fputs(",\"opened\":", fp);
			out_json_column(fp, st, 4);
			fputs(",\"last\":", fp);
			out_json_column(fp, st, 5);
			fputs(",\"failures\":", fp);
			out_json_column(fp, st, 6);
			fputs(",\"messages\":", fp);
			out_json_column(fp, st, 7);
			fputs(",\"addresses\":", fp);
			out_json_column(fp, st, 8);
			fputs(",\"accounts\":", fp);
			out_json_column(fp, st, 9);
			fputs(",\"last_addr\":", fp);
			out_json_column(fp, st, 11);
			fputs(",\"last_reply\":", fp);
			out_json_column(fp, st, 12);
			if (sqlite3_column_type(st, 13) != SQLITE_NULL) {
				fputs(",\"hosts\":", fp);	/* a fleet's */
				out_json_column(fp, st, 13);
			}
			fputs(",\"diagnosis\":", fp);
			if (id == NULL)
				fputs("null", fp);
			else {
				fputs("{\"id\":", fp);
				fput_json(fp, id, strlen(id));
				fputs(",\"summary\":", fp);
				fput_json(fp, d != NULL ? d->summary : NULL,
				    d != NULL ? strlen(d->summary) : 0);
				fputs(",\"fix\":", fp);
				if (d != NULL && d->nfixes > 0) {
					fput_json(fp, d->fixes[0].text,
					    strlen(d->fixes[0].text));
					fprintf(fp, ",\"fix_works\":%d}",
					    d->fixes[0].percent);
				} else
					fputs("null,\"fix_works\":null}", fp);
			}
			fputc('}', fp);
			(*n)++;
			continue;
		}
		kind = (const char *)sqlite3_column_text(st, 2);
		failures = sqlite3_column_int64(st, 6);
		fprintf(fp, "  #%lld %s ", (long long)sqlite3_column_int64(st,
		    0), kind != NULL ? kind : "-");
		s = st_vis(st, 3);
		fputs(s, fp);
		free(s);
		if (sqlite3_column_bytes(st, 13) > 0) {
			s = st_vis(st, 13);
			fprintf(fp, " on hosts %s", s);
			free(s);
		} else if (sqlite3_column_bytes(st, 1) > 0) {
			s = st_vis(st, 1);
			fprintf(fp, " on %s", s);
			free(s);
		}
		out_ago(a, sizeof(a), (time_t)sqlite3_column_int64(st, 4),
		    c->o->now);
		fprintf(fp, ", since %s: %lld %s", a, failures,
		    kind != NULL && strcmp(kind, "backend") == 0 ?
		    (failures == 1 ? "trouble event" : "trouble events") :
		    failures == 1 ? "failure" : "failures");
		if (kind != NULL && strcmp(kind, "relay") == 0) {
			other = sqlite3_column_int64(st, 7);
			fprintf(fp, ", %lld message%s held back", other,
			    other == 1 ? "" : "s");
		} else if (kind != NULL && strcmp(kind, "account") == 0) {
			other = sqlite3_column_int64(st, 8);
			fprintf(fp, " from %lld address%s", other,
			    other == 1 ? "" : "es");
		} else if (kind != NULL && strcmp(kind, "address") == 0) {
			other = sqlite3_column_int64(st, 9);
			fprintf(fp, " on %lld account%s", other,
			    other == 1 ? "" : "s");
		}
		fputc('\n', fp);
		if (id != NULL) {
			fputs("    diagnosis  ", fp);
			fput_vis(fp, id, strlen(id));
			if (d != NULL)
				fprintf(fp, ": %s\n", d->summary);
			else
				fputs(" (not in the rules loaded)\n", fp);
			if (d != NULL && d->nfixes > 0)
				fprintf(fp, "    best fix   %s (works %d%%)\n",
				    d->fixes[0].text, d->fixes[0].percent);
		}
		(*n)++;
	}
	if (rc != SQLITE_DONE)
		return st_steperr(c->db, st);
	sqlite3_finalize(st);
	if (c->o->json)
		fputc(']', fp);
	else if (*n == 0)
		fputs("  none\n", fp);
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

/* relay_totals: the failing relays first, then by failures. */
static int
st_relays(struct st_ctx *c)
{
	static const struct out_col cols[] = {
		{ "HOST", "host", OUT_TEXT }, { "RELAY", "relay", OUT_TEXT },
		{ "STATE", "state", OUT_TEXT },
		{ "FAILURES", "failures", OUT_NUM },
		{ "AFFECTED", "affected", OUT_NUM },
		{ "LAST-FAILURE", "last_failure", OUT_AGO },
		{ "LAST-SUCCESS", "last_success", OUT_AGO }
	};
	static const char *const keys[] = { "host", "relay", "state",
	    "failures", "affected", "last_failure", "last_success",
	    "last_diagnosis" };
	sqlite3_stmt	*st;
	struct out_table t;
	int		 rc, i, n = 0;

	st = ctldb_prepare(c->db, "SELECT host, relay, state, failures, "
	    "affected, last_failure, last_success, last_diagnosis "
	    "FROM relay_totals ORDER BY state = 'failing' DESC, "
	    "failures DESC, relay, host");
	if (st == NULL)
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
	char			 why[512], *buf = NULL;
	size_t			 bufsize = 0;
	long long		 h[24];
	int			 up, rc, nopen = 0, i;
	const char		*cs;

	memset(&c, 0, sizeof(c));
	c.o = o;
	c.bold = !o->json && isatty(STDOUT_FILENO) &&
	    getenv("NO_COLOR") == NULL;
	if (setlocale(LC_CTYPE, "") != NULL &&
	    (cs = nl_langinfo(CODESET)) != NULL &&
	    (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0))
		c.utf8 = 1;
	setlocale(LC_CTYPE, "C");

	rc = st_daemon_ask(o->control, &ds, why, sizeof(why));
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
		fputs("  what follows is from the database alone\n", c.fp);
	}
	wire_status_free(&ds);

	rc = 0;
	if ((c.db = ctldb_open(o->database)) == NULL)
		rc = 3;
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
	sqlite3_close(c.db);
	if (rc == 0)
		rc = !up ? 2 : nopen > 0 ? 1 : 0;
	if (rc != 3 && o->json) {
		fputs(",\"hourly\":[", c.fp);
		for (i = 0; i < 24; i++)
			fprintf(c.fp, "%s%lld", i > 0 ? "," : "", h[i]);
		fprintf(c.fp, "],\"now\":%lld,\"exit\":%d}\n",
		    (long long)o->now, rc);
	} else if (rc != 3)
		st_spark(&c, h);
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

/*
 * A label value in the exposition format: the str_vis() text of the
 * bytes (printable ASCII, so valid UTF-8), then \ " and newline escaped
 * as the format wants, quotes included.
 */
static void
prom_label(FILE *fp, const char *s, size_t len)
{
	char	*v = xmalloc(len * 4 + 1), *p;

	str_vis(v, len * 4 + 1, s != NULL ? s : "", len);
	fputc('"', fp);
	for (p = v; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', fp);
		if (*p == '\n')
			fputs("\\n", fp);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
	free(v);
}

static void
prom_head(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * metrics: the Prometheus text exposition format, for node_exporter's
 * textfile collector.  Nothing is printed unless all of it could be
 * read.  Returns 0, or 3 on an error (the database).
 */
int
status_metrics(const struct status_opt *o)
{
	static const char *const kinds[] = { "relay", "account", "address",
	    "backend" };
	static const char *const counters[][2] = {
	    { "lines_read", "Log lines read since smtpwatchd started." },
	    { "events", "Authentication events found in them." },
	    { "batches", "Batches committed to the database." },
	    { "commit_errors", "Commits that failed (the batch is kept "
		"and retried)." },
	    { "alerts", "Journal entries written about incidents." },
	};
	struct ctl_status	 ds;
	sqlite3			*db;
	sqlite3_stmt		*st = NULL;
	FILE			*fp;
	char			 why[512], *buf = NULL;
	size_t			 bufsize = 0, i;
	unsigned long long	 v;
	long long		 open[4] = { 0, 0, 0, 0 };
	int			 up, rc = 0, src;
	const char		*k;

	src = st_daemon_ask(o->control, &ds, why, sizeof(why));
	up = src == CTLSOCK_OK;
	if (src == CTLSOCK_ERROR || src == CTLSOCK_FAIL)
		log_warnx("control socket %s", why);
	if ((db = ctldb_open(o->database)) == NULL) {
		wire_status_free(&ds);
		return 3;
	}
	if ((fp = open_memstream(&buf, &bufsize)) == NULL)
		fatal("open_memstream");

	prom_head(fp, "smtpwatch_up", "gauge",
	    "1 when smtpwatchd answered on its control socket, else 0.");
	fprintf(fp, "smtpwatch_up %d\n", up);

	prom_head(fp, "smtpwatch_failures_total", "counter",
	    "Authentication failures stored, by syslog host, direction "
	    "(server: accounts failing against us; client: relays refusing "
	    "us) and the diagnosis of the latest failure (\"\" when none).");
	st = ctldb_prepare(db, "SELECT host, 'server', "
	    "coalesce(last_diagnosis, ''), sum(failures) FROM account_totals "
	    "WHERE direction = 'server' GROUP BY 1, 3 UNION ALL "
	    "SELECT host, 'client', coalesce(last_diagnosis, ''), "
	    "sum(failures) FROM relay_totals GROUP BY 1, 3 ORDER BY 1, 2, 3");
	if (st == NULL)
		rc = 3;
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		fputs("smtpwatch_failures_total{host=", fp);
		prom_label(fp, sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0));
		fprintf(fp, ",direction=\"%s\",diagnosis=",
		    sqlite3_column_text(st, 1));
		prom_label(fp, sqlite3_column_blob(st, 2),
		    (size_t)sqlite3_column_bytes(st, 2));
		fprintf(fp, "} %lld\n", (long long)sqlite3_column_int64(st, 3));
	}
	if (rc == 0 && src != SQLITE_DONE) {
		st_steperr(db, st);
		rc = 3;
	} else if (rc == 0)
		sqlite3_finalize(st);

	if (rc == 0) {
		st = ctldb_prepare(db, "SELECT kind, count(*) FROM incident_list "
		    "WHERE state = 'open' GROUP BY kind");
		if (st == NULL)
			rc = 3;
	}
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		k = (const char *)sqlite3_column_text(st, 0);
		for (i = 0; i < 4; i++)
			if (k != NULL && strcmp(k, kinds[i]) == 0)
				open[i] = sqlite3_column_int64(st, 1);
	}
	if (rc == 0 && src != SQLITE_DONE) {
		st_steperr(db, st);
		rc = 3;
	} else if (rc == 0)
		sqlite3_finalize(st);
	sqlite3_close(db);
	prom_head(fp, "smtpwatch_open_incidents", "gauge",
	    "Incidents open in the database, by kind.");
	for (i = 0; i < 4; i++)
		fprintf(fp, "smtpwatch_open_incidents{kind=\"%s\"} %lld\n",
		    kinds[i], open[i]);

	for (i = 0; up && i < sizeof(counters) / sizeof(counters[0]); i++) {
		char	 name[64];

		snprintf(name, sizeof(name), "smtpwatch_%s_total",
		    counters[i][0]);
		prom_head(fp, name, "counter", counters[i][1]);
		v = i == 0 ? ds.lines : i == 1 ? ds.events : i == 2 ?
		    ds.batches : i == 3 ? ds.commit_errors : ds.alerts;
		fprintf(fp, "%s %llu\n", name, v);
	}
	if (up && ds.nsources > 0) {
		prom_head(fp, "smtpwatch_source_lag_bytes", "gauge",
		    "Bytes of each log not read yet.");
		for (i = 0; i < ds.nsources; i++) {
			fputs("smtpwatch_source_lag_bytes{path=", fp);
			prom_label(fp, ds.sources[i].path.p,
			    ds.sources[i].path.len);
			fprintf(fp, "} %llu\n", ds.sources[i].lag_bytes);
		}
		prom_head(fp, "smtpwatch_source_lag_seconds", "gauge",
		    "Seconds since each log last had nothing left to read "
		    "(0: caught up).");
		for (i = 0; i < ds.nsources; i++) {
			fputs("smtpwatch_source_lag_seconds{path=", fp);
			prom_label(fp, ds.sources[i].path.p,
			    ds.sources[i].path.len);
			fprintf(fp, "} %llu\n", ds.sources[i].lag_seconds);
		}
	}
	wire_status_free(&ds);
	if (fclose(fp) != 0)
		fatal("open_memstream");
	if (rc == 0)
		fwrite(buf, 1, bufsize, stdout);
	free(buf);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("stdout");
		rc = 3;
	}
	return rc;
}
