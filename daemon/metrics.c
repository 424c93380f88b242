/*
 * metrics.c -- smtpwatchctl metrics: the Prometheus text exposition
 * format, for node_exporter's textfile collector.  A counter comes from
 * the running daemon's status reply (wire.c) and only goes up while that
 * daemon runs; it starts again at 0 with the daemon, which rate() and
 * increase() take for a reset.  Counters are printed only when the
 * daemon answered.  What the database holds goes down after a reset or
 * an expiry: it is a gauge, named for what it is (smtpwatch_stored_*),
 * and so are the states (open incidents, failing relays, back ends
 * down) and the times.  No label comes from a diagnosis, whose series
 * would move; relays are bounded to RELAY_SERIES series.
 *
 * A label value is written once, by fput_json(): well-formed UTF-8 as
 * it is, " and \ escaped with a backslash, every other byte as the text
 * \xNN (its backslash escaped), which is valid in the exposition format
 * as it is in JSON.  Nothing is written unless all of it could be read;
 * --output replaces its file atomically (metrics_output()).
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "smtpwatch.h"

#define RELAY_SERIES	100		/* relays with series, failing first */

struct mx {
	FILE		*fp;		/* the exposition, until it is whole */
	sqlite3		*db;
};

static void	 mx_head(FILE *, const char *, const char *, const char *);
static void	 mx_label(FILE *, const char *, const char *, size_t);
static void	 mx_column(FILE *, const char *, sqlite3_stmt *, int);
static int	 mx_steperr(sqlite3 *, sqlite3_stmt *);
static int	 mx_query(struct mx *, const char *, const char *,
		    const char *const *, int, const char *);
static int	 mx_stored(struct mx *);
static int	 mx_relays(struct mx *);
static int	 mx_storage(struct mx *, long long);
static void	 mx_daemon(struct mx *, const struct ctl_status *);
static void	 mx_counters(struct mx *, const struct ctl_status *);
static int	 metrics_write(int, const char *, size_t);
static int	 metrics_output(const char *, const char *, size_t);

static void
mx_head(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name="value": len bytes of s, escaped once (fput_json()). */
static void
mx_label(FILE *fp, const char *name, const char *s, size_t len)
{
	fprintf(fp, "%s=", name);
	fput_json(fp, s != NULL ? s : "", s != NULL ? len : 0);
}

/* name="value" of column i of st: its bytes, NULL as "". */
static void
mx_column(FILE *fp, const char *name, sqlite3_stmt *st, int i)
{
	mx_label(fp, name, sqlite3_column_blob(st, i),
	    (size_t)sqlite3_column_bytes(st, i));
}

/* Logs a failed step and finalizes; returns -1. */
static int
mx_steperr(sqlite3 *db, sqlite3_stmt *st)
{
	log_warnx("database %s: %s", sqlite3_db_filename(db, "main"),
	    sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return -1;
}

/*
 * The gauge name from sql: each row is a sample whose first nlabels
 * columns are the values of the labels named in labels, and whose last
 * column is its value.  Returns 0, or -1 after logging.
 */
static int
mx_query(struct mx *m, const char *name, const char *help,
    const char *const *labels, int nlabels, const char *sql)
{
	sqlite3_stmt	*st;
	int		 rc, i;

	if ((st = ctldb_prepare(m->db, sql)) == NULL)
		return -1;
	mx_head(m->fp, name, "gauge", help);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fputs(name, m->fp);
		for (i = 0; i < nlabels; i++) {
			fputc(i == 0 ? '{' : ',', m->fp);
			mx_column(m->fp, labels[i], st, i);
		}
		fprintf(m->fp, "%s %lld\n", nlabels > 0 ? "}" : "",
		    (long long)sqlite3_column_int64(st, nlabels));
	}
	if (rc != SQLITE_DONE)
		return mx_steperr(m->db, st);
	sqlite3_finalize(st);
	return 0;
}

/*
 * The gauges of what the database holds: totals that reset and expiry
 * lower, open incidents, back ends down, the newest event's log time.
 */
static int
mx_stored(struct mx *m)
{
	static const char *const host[] = { "host" };
	static const char *const hostdir[] = { "host", "direction" };
	static const char *const kind[] = { "kind" };

	if (mx_query(m, "smtpwatch_stored_failures", "Failures the database "
	    "holds, by syslog host and direction (server: accounts failing "
	    "against us; client: relays refusing us); reset and retention "
	    "lower it.", hostdir, 2, "SELECT host, direction, sum(failures) "
	    "FROM account_totals GROUP BY host, direction "
	    "ORDER BY host, direction") == -1)
		return -1;
	if (mx_query(m, "smtpwatch_stored_accounts", "Server-side accounts "
	    "the database holds, by syslog host.", host, 1, "SELECT host, "
	    "count(*) FROM account_totals WHERE direction = 'server' "
	    "GROUP BY host ORDER BY host") == -1)
		return -1;
	if (mx_query(m, "smtpwatch_stored_addresses", "Client addresses the "
	    "database holds, by syslog host.", host, 1, "SELECT host, "
	    "count(*) FROM address_totals GROUP BY host ORDER BY host") == -1)
		return -1;
	if (mx_query(m, "smtpwatch_stored_relays", "Relays the database "
	    "holds, by syslog host.", host, 1, "SELECT host, count(*) "
	    "FROM relay_totals GROUP BY host ORDER BY host") == -1)
		return -1;
	if (mx_query(m, "smtpwatch_open_incidents", "Incidents open in the "
	    "database, by kind.", kind, 1, "SELECT column1, (SELECT count(*) "
	    "FROM incident_list i WHERE i.kind = column1 AND "
	    "i.state = 'open') FROM (VALUES ('relay'), ('account'), "
	    "('address'), ('backend'))") == -1)
		return -1;
	if (mx_query(m, "smtpwatch_backend_down", "1 while a back-end "
	    "incident is open for the syslog host (its SASL back end "
	    "failing), else 0.", host, 1, "SELECT h.host, EXISTS (SELECT 1 "
	    "FROM incident_list i WHERE i.kind = 'backend' AND "
	    "i.state = 'open' AND i.host = h.host) FROM (SELECT host FROM "
	    "account_totals UNION SELECT host FROM address_totals UNION "
	    "SELECT host FROM incident_list WHERE kind = 'backend') h "
	    "ORDER BY h.host") == -1)
		return -1;
	/* last_seen: the log time of a row's latest event of any kind */
	return mx_query(m, "smtpwatch_newest_event_timestamp_seconds",
	    "Log time of the newest event the database holds, by syslog "
	    "host (unix seconds).", host, 1, "SELECT host, max(last_seen) "
	    "FROM (SELECT host, last_seen FROM accounts UNION ALL "
	    "SELECT host, last_seen FROM addresses UNION ALL "
	    "SELECT host, last_seen FROM relays) GROUP BY host ORDER BY host");
}

/*
 * The relays as status lists them (status_relays()), the failing ones
 * first: whether each is failing now and the messages it held back, for
 * the first RELAY_SERIES of them; how many more there are.
 */
static int
mx_relays(struct mx *m)
{
	sqlite3_stmt	*st;
	FILE		*held;
	char		*buf = NULL;
	size_t		 bufsize = 0;
	const char	*state;
	long long	 n = 0;
	int		 rc;

	if ((st = status_relays(m->db)) == NULL)
		return -1;
	if ((held = open_memstream(&buf, &bufsize)) == NULL)
		fatal("open_memstream");
	mx_head(m->fp, "smtpwatch_relay_failing", "gauge", "1 while a relay "
	    "incident is open for the relay (state failing in the relays "
	    "listing), else 0.");
	mx_head(held, "smtpwatch_relay_messages_held_back", "gauge",
	    "Messages the relay's refusals held back, as the relays listing "
	    "counts them.");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ >= RELAY_SERIES)
			continue;
		state = (const char *)sqlite3_column_text(st, 2);
		fputs("smtpwatch_relay_failing{", m->fp);
		mx_column(m->fp, "host", st, 0);
		fputc(',', m->fp);
		mx_column(m->fp, "relay", st, 1);
		fprintf(m->fp, "} %d\n", state != NULL &&
		    strcmp(state, "failing") == 0);
		fputs("smtpwatch_relay_messages_held_back{", held);
		mx_column(held, "host", st, 0);
		fputc(',', held);
		mx_column(held, "relay", st, 1);
		fprintf(held, "} %lld\n", (long long)sqlite3_column_int64(st,
		    4));
	}
	if (fclose(held) != 0)
		fatal("open_memstream");
	fwrite(buf, 1, bufsize, m->fp);
	free(buf);
	if (rc != SQLITE_DONE)
		return mx_steperr(m->db, st);
	sqlite3_finalize(st);
	fprintf(m->fp, "# HELP smtpwatch_relay_series_omitted Relays left "
	    "out of the smtpwatch_relay_* series, which show %d, the failing "
	    "ones first.\n# TYPE smtpwatch_relay_series_omitted gauge\n",
	    RELAY_SERIES);
	fprintf(m->fp, "smtpwatch_relay_series_omitted %lld\n",
	    n > RELAY_SERIES ? n - RELAY_SERIES : 0);
	return 0;
}

/*
 * The database's size against database-limit (limit, 0: none), what
 * was folded to stay under it, and a refused expiry (status_store_read()).
 */
static int
mx_storage(struct mx *m, long long limit)
{
	static const char *const folds[] = { "account", "address",
	    "account_address" };
	struct sw_storage	 sto;
	FILE			*fp = m->fp;
	size_t			 i;

	if (status_store_read(m->db, &sto) == -1)
		return -1;
	mx_head(fp, "smtpwatch_database_bytes", "gauge",
	    "Size of the database (page_count * page_size).");
	fprintf(fp, "smtpwatch_database_bytes %lld\n", sto.bytes);
	mx_head(fp, "smtpwatch_database_limit_bytes", "gauge",
	    "database-limit of the configuration read (0: none).");
	fprintf(fp, "smtpwatch_database_limit_bytes %lld\n", limit);
	mx_head(fp, "smtpwatch_folded", "gauge",
	    "Accounts, client addresses and addresses of accounts folded "
	    "into a row per client network to keep the database under "
	    "database-limit.");
	for (i = 0; i < 3; i++)
		fprintf(fp, "smtpwatch_folded{kind=\"%s\"} %lld\n", folds[i],
		    sto.members[i]);
	mx_head(fp, "smtpwatch_retention_refused", "gauge",
	    "1 when the last expiry was refused: the log's time jumped "
	    "ahead of the clock (smtpwatchd(8), Retention).");
	fprintf(fp, "smtpwatch_retention_refused %d\n", sto.refused_wall > 0);
	return 0;
}

/* The daemon's gauges: when it started, its last commit, each source. */
static void
mx_daemon(struct mx *m, const struct ctl_status *ds)
{
	FILE	*fp = m->fp;
	size_t	 i;

	mx_head(fp, "smtpwatch_daemon_start_time_seconds", "gauge",
	    "When smtpwatchd started (unix seconds).");
	fprintf(fp, "smtpwatch_daemon_start_time_seconds %lld\n",
	    (long long)ds->started);
	if (ds->committed != 0) {
		mx_head(fp, "smtpwatch_last_commit_timestamp_seconds", "gauge",
		    "When smtpwatchd last committed a batch to the database "
		    "(unix seconds).");
		fprintf(fp, "smtpwatch_last_commit_timestamp_seconds %lld\n",
		    (long long)ds->committed);
	}
	mx_head(fp, "smtpwatch_summarising", "gauge",
	    "1 while client-incidents is reached and client incidents are "
	    "folded into summaries.");
	fprintf(fp, "smtpwatch_summarising %d\n", ds->summarising != 0);
	mx_head(fp, "smtpwatch_checkpoint_failing", "gauge",
	    "1 while checkpoints of the WAL fail (it grows until one "
	    "succeeds).");
	fprintf(fp, "smtpwatch_checkpoint_failing %d\n",
	    ds->checkpoint_failing != 0);
	if (ds->nsources == 0)
		return;
	mx_head(fp, "smtpwatch_source_lag_bytes", "gauge",
	    "Bytes of each log not read yet.");
	for (i = 0; i < ds->nsources; i++) {
		fputs("smtpwatch_source_lag_bytes{", fp);
		mx_label(fp, "path", ds->sources[i].path.p,
		    ds->sources[i].path.len);
		fprintf(fp, "} %llu\n", ds->sources[i].lag_bytes);
	}
	mx_head(fp, "smtpwatch_source_lag_seconds", "gauge",
	    "Seconds since each source last had nothing left to read "
	    "(0: caught up).");
	for (i = 0; i < ds->nsources; i++) {
		fputs("smtpwatch_source_lag_seconds{", fp);
		mx_label(fp, "path", ds->sources[i].path.p,
		    ds->sources[i].path.len);
		fprintf(fp, "} %llu\n", ds->sources[i].lag_seconds);
	}
}

/* The daemon's counters, since it started. */
static void
mx_counters(struct mx *m, const struct ctl_status *ds)
{
	static const char *const dirs[] = { "server", "client" };
	static const char *const kinds[] = { "relay", "account", "address",
	    "backend" };
	static const struct {
		const char	*name, *help;
		size_t		 off;
	} plain[] = {
	    { "lines_read", "Log lines read.",
		offsetof(struct ctl_status, lines) },
	    { "events", "Authentication events found in them.",
		offsetof(struct ctl_status, events) },
	    { "alerts", "Journal entries written about incidents.",
		offsetof(struct ctl_status, alerts) },
	    { "batches", "Batches committed to the database.",
		offsetof(struct ctl_status, batches) },
	    { "commit_errors", "Commits that failed (the batch is kept and "
		"retried).", offsetof(struct ctl_status, commit_errors) },
	    { "checkpoint_errors", "Checkpoints of the WAL that failed (it "
		"grows until one succeeds).",
		offsetof(struct ctl_status, checkpoint_errors) },
	    { "alerts_folded", "Journal entries folded into a minute's "
		"summary (alerts-per-minute).",
		offsetof(struct ctl_status, folded_entries) },
	    { "incidents_folded", "Client incidents closed to make room "
		"(client-incidents).",
		offsetof(struct ctl_status, folded_incidents) },
	};
	FILE	*fp = m->fp;
	size_t	 i;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		fprintf(fp, "# HELP smtpwatch_%s_total %s\n# TYPE "
		    "smtpwatch_%s_total counter\nsmtpwatch_%s_total %llu\n",
		    plain[i].name, plain[i].help, plain[i].name, plain[i].name,
		    *(const unsigned long long *)(const void *)
		    ((const char *)ds + plain[i].off));
	}
	mx_head(fp, "smtpwatch_failures_total", "counter", "Authentication "
	    "failures counted, by direction (server: accounts failing "
	    "against us; client: relays refusing us).");
	for (i = 0; i < SW_DIR_NDIRS; i++)
		fprintf(fp, "smtpwatch_failures_total{direction=\"%s\"} %llu\n",
		    dirs[i], ds->failures[i]);
	mx_head(fp, "smtpwatch_successes_total", "counter", "Successful "
	    "logins counted, by direction (client: deliveries through a "
	    "relay).");
	for (i = 0; i < SW_DIR_NDIRS; i++)
		fprintf(fp, "smtpwatch_successes_total{direction=\"%s\"} "
		    "%llu\n", dirs[i], ds->successes[i]);
	mx_head(fp, "smtpwatch_incidents_opened_total", "counter",
	    "Incidents opened, by kind.");
	for (i = 0; i < SW_INC_NKINDS; i++)
		fprintf(fp, "smtpwatch_incidents_opened_total{kind=\"%s\"} "
		    "%llu\n", kinds[i], ds->opened[i]);
}

/* All n bytes at buf to fd; 0, or -1 with errno set. */
static int
metrics_write(int fd, const char *buf, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(fd, buf, n)) == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Replaces path with the n bytes at buf: they are written to a
 * temporary file in the same directory (".NAME.XXXXXX": the textfile
 * collector reads *.prom files only), made mode 0644, fsync(2)ed and
 * renamed over path; then the directory is fsync(2)ed.  Returns 0, or
 * -1 after logging, with path as it was and no temporary file left.
 */
static int
metrics_output(const char *path, const char *buf, size_t n)
{
	const char	*base = strrchr(path, '/');
	char		*tmp, *dir;
	size_t		 dlen;
	int		 fd, dfd, rc = -1;

	base = base != NULL ? base + 1 : path;
	dlen = (size_t)(base - path);
	dir = dlen == 0 ? xstrdup(".") : xstrndup(path, dlen);
	tmp = xmalloc(dlen + strlen(base) + sizeof("..XXXXXX"));
	sprintf(tmp, "%.*s.%s.XXXXXX", (int)dlen, path, base);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		log_warn("--output %s", path);
		goto out;
	}
	if (metrics_write(fd, buf, n) == -1 || fchmod(fd, 0644) == -1 ||
	    fsync(fd) == -1) {
		log_warn("--output %s", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		log_warn("--output %s", path);
		unlink(tmp);
		goto out;
	}
	rc = 0;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		if (fsync(dfd) == -1 && errno != EINVAL)
			log_warn("--output %s: fsync of its directory", path);
		close(dfd);
	}
out:
	free(tmp);
	free(dir);
	return rc;
}

/*
 * metrics: the daemon (when it answers) and the database, to standard
 * output or atomically into o->output.  Nothing is written unless all
 * of it could be read.  Returns 0, or 3 on an error (the database, the
 * output).
 */
int
status_metrics(const struct status_opt *o)
{
	struct mx		 m;
	struct ctl_status	 ds;
	char			 why[512], *buf = NULL;
	size_t			 bufsize = 0;
	int			 up, rc = 0, src;

	memset(&m, 0, sizeof(m));
	src = status_ask(o->control, &ds, why, sizeof(why));
	up = src == CTLSOCK_OK;
	if (src == CTLSOCK_ERROR || src == CTLSOCK_FAIL)
		log_warnx("control socket %s", why);
	if ((m.db = ctldb_open(o->database)) == NULL) {
		wire_status_free(&ds);
		return 3;
	}
	if ((m.fp = open_memstream(&buf, &bufsize)) == NULL)
		fatal("open_memstream");
	mx_head(m.fp, "smtpwatch_up", "gauge",
	    "1 when smtpwatchd answered on its control socket, else 0.");
	fprintf(m.fp, "smtpwatch_up %d\n", up);
	mx_head(m.fp, "smtpwatch_build_info", "gauge",
	    "The version of smtpwatchctl, which wrote these metrics.");
	fprintf(m.fp, "smtpwatch_build_info{version=\"%s\"} 1\n", SW_VERSION);
	if (mx_stored(&m) == -1 || mx_relays(&m) == -1 ||
	    mx_storage(&m, o->limit) == -1)
		rc = 3;
	sqlite3_close(m.db);
	if (up) {
		mx_daemon(&m, &ds);
		mx_counters(&m, &ds);
	}
	wire_status_free(&ds);
	if (fclose(m.fp) != 0)
		fatal("open_memstream");
	if (rc == 0 && o->output != NULL) {
		if (metrics_output(o->output, buf, bufsize) == -1)
			rc = 3;
	} else if (rc == 0)
		fwrite(buf, 1, bufsize, stdout);
	free(buf);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("stdout");
		rc = 3;
	}
	return rc;
}
