/*
 * scan.c -- smtpwatchctl scan: existing logs (files, standard input, the
 * journal) read the daemon's way and counted the daemon's way.  The lines
 * of each file go through a feed (join.c, match.c) as a tail's would, and
 * every event through count.c (attribution, store, incident engine) into
 * a database kept in memory; the report is what the listings of ctldb.c
 * print from it.  So scan shows the relays, accounts, addresses and
 * incidents, field for field, that smtpwatchctl accounts, addresses,
 * relays and incidents show once a daemon has read the same lines into a
 * new database.  Alerts are counted on the incidents but sent nowhere.
 * The events are counted in a second thread (evq.c), in the order of
 * the lines, while this one reads and matches on; the end of each
 * source is a mark among them, where the batch is written as it is
 * without that thread (SMTPWATCH_SCAN_THREAD=no).
 * What is scan's own is the coverage of the reading: lines, records,
 * events by kind, Exim's syslog copies, known look-alikes, lines about
 * AUTH that no rule read, lines cut, rsyslog's "message repeated N times"
 * lines and the records they stand for (each counted, and printed by
 * --events, N times).  With --events the events are
 * printed as they are matched, and nothing is counted.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpwatch.h"

/*
 * Events summed in memory before they are written: the batch holds one
 * sum per row it changes, so a big one costs memory only for distinct
 * rows, and fewer statements; nothing here needs a commit to be durable.
 */
#define SCAN_BATCH	(1 << 20)

struct scan {
	const struct sw_rules	*rs;
	const struct sw_conf	*conf;
	struct sw_storeopt	 storeopt;
	struct sw_matchopt	 match;	/* conf's, with the relays watched */
	struct sw_relayset	*relays;	/* with --events: no count */
	unsigned int		 flags;
	FILE			*out;
	struct sw_store		*store;	/* in memory; NULL with --events */
	struct sw_count		*count;
	struct sw_evq		*evq;	/* the thread counting; NULL: this */
	struct sw_feed		*feed;	/* of the source being read */
	const char		*file;
	unsigned long long	 lines, records, dups, ignored, missed, cut;
	unsigned long long	 elsewhere;	/* deliveries, relay not watched */
	unsigned long long	 outside;	/* events outside the window */
	time_t			 since, until;	/* the window; 0: open */
	unsigned long long	 repeats, repeated;	/* rsyslog's "message
					   repeated N times" lines, their Ns */
	unsigned long long	 kinds[SW_EV_NKINDS];
	unsigned long long	 bytes, total;	/* progress */
	const struct sw_lines	*ls;	/* the file's lines: their offsets */
	time_t			 shown;
	int			 files;
	int			 failed;	/* the store could not write */
};

static void	scan_count(void *, const struct sw_event *);
static void	scan_mark(void *);

/*
 * One malloc arena for both threads.  glibc gives the counting thread an
 * arena of its own, where the database in memory, the engine and the
 * batch grow, and the reading thread's keeps what the report makes at
 * the end: storm-10m's scan peaked at 86.7 MB of RSS with two, 75.2 MB
 * with one (74.7 MB in one thread), in the same time.  The reading thread
 * allocates next to nothing while the other counts.
 */
static void
scan_malloc_setup(void)
{
#ifdef __GLIBC__
	(void)mallopt(M_ARENA_MAX, 1);
#endif
}

/*
 * A scan printing to out, with the rules rs and the options of conf
 * (both must outlive it).  NULL when the database in memory cannot be
 * made (said).
 */
struct scan *
scan_new(const struct sw_rules *rs, const struct sw_conf *conf,
    unsigned int flags, FILE *out)
{
	struct scan	*s;

	s = xcalloc(1, sizeof(*s));
	s->rs = rs;
	s->conf = conf;
	s->flags = flags;
	s->out = out;
	s->match = conf->match;
	if (flags & SCAN_EVENTS) {
		s->relays = relayset_new();
		s->match.relays = s->relays;
		return s;
	}
	/*
	 * The windowed buckets serve only the listings' --since and status,
	 * which scan's report does not read (its --since and --until choose
	 * the lines counted): none are made.  A day each still cost the
	 * first 100k lines of attack-1000000 (random accounts) 15 % of their
	 * instructions.  Every total and incident is the daemon's.
	 */
	s->storeopt = conf->store;
	s->storeopt.nobuckets = 1;
	if (store_open(SW_STORE_MEMORY, &s->storeopt, &s->store) == -1) {
		free(s);
		return NULL;
	}
	s->count = count_new(rs, &conf->alert, s->store, NULL, NULL);
	s->match.relays = count_relays(s->count);
	scan_malloc_setup();
	s->evq = evq_new(scan_count, scan_mark, s);
	return s;
}

void
scan_free(struct scan *s)
{
	if (s == NULL)
		return;
	evq_end(s->evq);
	feed_free(s->feed);
	count_free(s->count);
	store_close(s->store);
	relayset_free(s->relays);
	free(s);
}

/* ,"name_hex":"76616c7565" -- its bytes, or null for an empty value. */
static void
scan_json_hex(FILE *fp, const char *name, const char *v)
{
	fprintf(fp, ",\"%s_hex\":", name);
	out_json_hex(fp, *v != '\0' ? v : NULL, strlen(v));
}

/* One event as one JSON object on one line: a stable interface. */
void
event_print_json(FILE *fp, const char *file, unsigned long line,
    const struct sw_event *ev)
{
	char	 t[32];

	fputs("{\"file\":", fp);
	fput_json(fp, file, strlen(file));
	fprintf(fp, ",\"line\":%lu,\"time\":", line);
	out_utc(t, sizeof(t), ev->when);
	fput_json(fp, t, strlen(t));
	fputs(",\"host\":", fp);
	fput_json(fp, ev->host, strlen(ev->host));
	fprintf(fp, ",\"kind\":\"%s\",\"direction\":\"%s\",\"mta\":\"%s\","
	    "\"rule\":", kind_name(ev->kind), dir_name(ev->dir),
	    mta_name(ev->mta));
	fput_json(fp, ev->rule->id, strlen(ev->rule->id));
	fputs(",\"account\":", fp);
	if (ev->flags & SW_EVF_ACCOUNT) {
		fput_json(fp, ev->account, ev->accountlen);
		fputs(",\"account_hex\":", fp);
		out_json_hex(fp, ev->account, ev->accountlen);
	} else
		fputs("null,\"account_hex\":null", fp);
	scan_json_str(fp, "addr", ev->addr);
	scan_json_str(fp, "name", ev->name);
	scan_json_hex(fp, "name", ev->name);
	scan_json_str(fp, "relay", ev->relay);
	scan_json_hex(fp, "relay", ev->relay);
	scan_json_str(fp, "mech", ev->mech);
	scan_json_str(fp, "reply", ev->reply);
	scan_json_hex(fp, "reply", ev->reply);
	scan_json_str(fp, "queue", ev->queue);
	scan_json_str(fp, "diagnosis", ev->diag != NULL ? ev->diag->id : "");
	fprintf(fp, ",\"pid\":%ld,\"dup\":%s,\"cut\":%s}\n", (long)ev->pid,
	    (ev->flags & SW_EVF_DUP) ? "true" : "false",
	    (ev->flags & SW_EVF_CUT) ? "true" : "false");
}

/* ,"name":"value" -- or null for an empty value. */
void
scan_json_str(FILE *fp, const char *name, const char *v)
{
	fprintf(fp, ",\"%s\":", name);
	if (*v == '\0')
		fputs("null", fp);
	else
		fput_json(fp, v, strlen(v));
}

/* One event as one readable, escaped line. */
static void
event_print_text(FILE *fp, const char *file, unsigned long line,
    const struct sw_event *ev)
{
	char	 t[32];

	out_utc(t, sizeof(t), ev->when);
	fprintf(fp, "%s:%lu: %s %s %s", file, line, t, kind_name(ev->kind),
	    dir_name(ev->dir));
	if (ev->flags & SW_EVF_ACCOUNT) {
		fputs(" account=", fp);
		fput_vis(fp, ev->account, ev->accountlen);
	}
	if (ev->addr[0] != '\0')
		fprintf(fp, " addr=%s", ev->addr);
	if (ev->relay[0] != '\0') {
		fputs(" relay=", fp);
		fput_vis(fp, ev->relay, strlen(ev->relay));
	}
	fprintf(fp, " rule=%s", ev->rule->id);
	if (ev->diag != NULL)
		fprintf(fp, " diagnosis=%s", ev->diag->id);
	fputc('\n', fp);
}

static void
scan_progress(struct scan *s)
{
	time_t	 now = time(NULL);

	if (!(s->flags & SCAN_PROGRESS) || now == s->shown || s->total == 0)
		return;
	s->shown = now;
	fprintf(stderr, "\r%s: %3llu%% %llu lines", s->file,
	    s->bytes * 100 / s->total, s->lines);
}

/* A record about AUTH that no rule took; on stderr when stdout is JSON. */
static void
scan_missed(struct scan *s, const struct sw_record *rec)
{
	FILE	*fp = (s->flags & SCAN_JSON) ? stderr : s->out;

	fprintf(fp, "%s:%lu: missed: ", s->file, rec->lineno);
	fput_vis(fp, rec->text, rec->len);
	fputc('\n', fp);
}

/* Commits what was counted; a store that cannot write is said once. */
static void
scan_commit(struct scan *s)
{
	if (s->count == NULL || s->failed)
		return;
	if (count_commit(s->count) == -1)
		s->failed = 1;
}

/* Counts one event; a full batch is written. */
static void
scan_count(void *arg, const struct sw_event *ev)
{
	struct scan	*s = arg;

	count_event(s->count, ev);
	if (store_batched(s->store) >= SCAN_BATCH)
		scan_commit(s);
}

/* The end of a source, among its events: what it counted is written. */
static void
scan_mark(void *arg)
{
	scan_commit(arg);
}

/*
 * Only the events of the logs' time from since up to until (0: no
 * bound) are counted and shown: --since and --until.
 */
void
scan_window(struct scan *s, time_t since, time_t until)
{
	s->since = since;
	s->until = until;
}

/* 1 when ev is outside the window. */
static int
scan_outside(const struct scan *s, const struct sw_event *ev)
{
	return (s->since != 0 && ev->when < s->since) ||
	    (s->until != 0 && ev->when >= s->until);
}

/*
 * feed.c hands every event here: counted the daemon's way, by the
 * thread of s->evq when there is one.
 */
static void
scan_event(void *arg, const struct sw_event *ev)
{
	struct scan	*s = arg;

	if (scan_outside(s, ev)) {
		s->outside++;
		return;
	}
	if (ev->kind < SW_EV_NKINDS)
		s->kinds[ev->kind]++;
	if (s->count == NULL)
		return;
	if (s->evq != NULL)
		evq_put(s->evq, ev);
	else
		scan_count(s, ev);
}

/* ... and every record: the coverage, --events and --missed. */
static void
scan_note(void *arg, const struct sw_record *rec, int rc,
    const struct sw_event *ev)
{
	struct scan	*s = arg;
	unsigned int	 i;

	s->records++;
	if (rec == NULL)	/* passed over by the front end: no rule's */
		return;
	if (rec->cut)
		s->cut++;
	if (rec->env.repeat > 0) {
		s->repeats++;
		s->repeated += rec->env.repeat;
	}
	switch (rc) {
	case SW_MATCH_EVENT:		/* printed as often as counted */
		if (rec->env.repeat > ev->repeat)	/* Exim's copies */
			s->dups += rec->env.repeat - ev->repeat;
		if (scan_outside(s, ev))
			break;
		for (i = 0; i < ev->repeat && (s->flags & SCAN_EVENTS); i++)
			if (s->flags & SCAN_JSON)
				event_print_json(s->out, s->file, rec->lineno,
				    ev);
			else
				event_print_text(s->out, s->file, rec->lineno,
				    ev);
		break;
	case SW_MATCH_DUP:
		s->dups += rec->env.repeat > 0 ? rec->env.repeat : 1;
		break;
	case SW_MATCH_IGNORED:		/* a look-alike of an AUTH line */
		if (match_mentions_auth(rec))
			s->ignored++;
		break;
	case SW_MATCH_ELSEWHERE:
		s->elsewhere += rec->env.repeat > 0 ? rec->env.repeat : 1;
		break;
	case SW_MATCH_NONE:
	default:
		if (!match_mentions_auth(rec))
			break;
		s->missed++;
		if (s->flags & SCAN_MISSED)
			scan_missed(s, rec);
		break;
	}
}

/* A feed for the next source, named source in messages. */
static struct sw_feed *
scan_feed(struct scan *s, const char *source)
{
	s->feed = feed_new(source, s->rs, &s->match, NULL, scan_event,
	    s);
	feed_notes(s->feed, scan_note, s);
	s->file = source;
	s->files++;
	return s->feed;
}

/* The source is read: its last records go, what it counted is written. */
static void
scan_feed_end(struct scan *s)
{
	feed_tail_cb.end(s->feed);
	feed_free(s->feed);
	s->feed = NULL;
	if (s->evq != NULL)
		evq_mark(s->evq);
	else
		scan_commit(s);
}

static void
scan_line(void *arg, const char *line, size_t len, int cut)
{
	struct scan	*s = arg;

	s->lines++;
	feed_tail_cb.line(s->feed, line, len, cut, s->ls->start, s->ls->next);
}

/*
 * Reads one file ("-" for standard input) to its end.  Returns 0, or
 * -1 after reporting an error; what was read before it still counts.
 */
int
scan_path(struct scan *s, const char *path)
{
	static char		 buf[1 << 20];
	struct sw_lines		 ls;
	struct sw_fileid	 id;
	struct stat		 st;
	ssize_t			 n;
	int			 fd, rc = 0;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
	if (fd == -1 || fstat(fd, &st) == -1) {
		log_warn("%s", path);
		return -1;
	}
	scan_feed(s, path);
	s->bytes = 0;
	s->total = S_ISREG(st.st_mode) ? (unsigned long long)st.st_size : 0;
	feed_reference(s->feed, S_ISREG(st.st_mode) ? st.st_mtime :
	    time(NULL));
	memset(&id, 0, sizeof(id));
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	feed_tail_cb.begin(s->feed, &id, 0);
	lines_init(&ls, scan_line, s);
	s->ls = &ls;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s", path);
			rc = -1;
			break;
		}
		s->bytes += (unsigned long long)n;
		feed_tail_cb.chunk(s->feed, buf, (size_t)n, ls.off);
		lines_feed(&ls, buf, (size_t)n);
		scan_progress(s);
	}
	lines_finish(&ls);
	lines_free(&ls);
	s->ls = NULL;
	scan_feed_end(s);
	if (fd != STDIN_FILENO)
		close(fd);
	if ((s->flags & SCAN_PROGRESS) && s->total > 0)
		fputs("\r\033[K", stderr);
	return rc;
}

/*
 * Reads the journal (the system journal, or the files in dir) from since
 * (microseconds; 0: its beginning) to its present end, through the
 * feed the daemon's journal source uses.  Returns 0, or -1 when it
 * cannot be opened (reported).
 */
int
scan_journal(struct scan *s, const char *dir, uint64_t since)
{
	struct sw_journal	*jr;
	struct sw_journal_stat	 st;

	if (journal_open(dir, &jr) == -1)
		return -1;
	journal_stat(jr, &st);
	scan_feed(s, st.source);
	s->bytes = s->total = 0;
	journal_start(jr, NULL, 0, since, &feed_tail_cb, s->feed);
	while (journal_run(jr, 4096))
		;
	journal_stat(jr, &st);
	s->lines += st.lines;
	scan_feed_end(s);
	s->file = "journal";
	journal_free(jr);
	return 0;
}

/*
 * Everything read: incidents quiet by the logs' own time close, as the
 * daemon's engine closes them once it has caught up, and the last batch
 * is written.  Returns 0, or -1 when the store failed.
 */
static int
scan_finish(struct scan *s)
{
	if (s->count == NULL)
		return 0;
	evq_end(s->evq);	/* every event counted */
	s->evq = NULL;
	if (engine_tick(count_engine(s->count), time(NULL)))
		scan_commit(s);
	scan_commit(s);
	if (s->failed)
		log_warnx("scan: the database in memory could not be written");
	return s->failed ? -1 : 0;
}

/*
 * A diagnosis for a person: summary, cause, fixes and dead ends, each
 * line led by indent.  Without full, only the best fix.
 */
void
diag_print(FILE *fp, const struct sw_diagnosis *d, const char *indent,
    int full)
{
	size_t	 i;

	fprintf(fp, "%s%s\n%scause: %s\n", indent, d->summary, indent,
	    d->cause);
	for (i = 0; i < d->nfixes && (full || i == 0); i++)
		fprintf(fp, "%sfix (works %d%%): %s\n", indent,
		    d->fixes[i].percent, d->fixes[i].text);
	for (i = 0; full && i < d->ndeadends; i++)
		fprintf(fp, "%sdead end (fails %d%%): %s\n", indent,
		    d->deadends[i].percent, d->deadends[i].text);
	if (full && d->affects != NULL)
		fprintf(fp, "%saffects: %s\n", indent, d->affects);
	if (full && d->see != NULL)
		fprintf(fp, "%ssee: %s\n", indent, d->see);
}

/* The listings' options, on scan's database, printing to its stream. */
static void
scan_opt(const struct scan *s, struct ctldb_opt *o, int json)
{
	memset(o, 0, sizeof(*o));
	o->db = store_db(s->store);
	o->out = s->out;
	o->indent = "  ";
	o->empty = "none";
	o->rs = s->rs;
	o->now = ctldb_now();
	o->json = json;
}

/* The line of totals that opens the text report. */
static void
scan_totals(const struct scan *s, FILE *fp)
{
	char	 b[7][64];

	fprintf(fp, "smtpwatch scan: %s, %s, %s, %s, %s, %s, %s\n",
	    out_count(b[0], sizeof(b[0]), s->files, "file", "files"),
	    out_count(b[1], sizeof(b[1]), (long long)s->lines, "line",
	    "lines"),
	    out_count(b[2], sizeof(b[2]), (long long)s->kinds[SW_EV_FAILURE],
	    "failure", "failures"),
	    out_count(b[3], sizeof(b[3]), (long long)count_held(s->count),
	    "message held back", "messages held back"),
	    out_count(b[4], sizeof(b[4]), (long long)s->kinds[SW_EV_TROUBLE],
	    "trouble event", "trouble events"),
	    out_count(b[5], sizeof(b[5]), (long long)s->kinds[SW_EV_SUCCESS],
	    "success", "successes"),
	    out_count(b[6], sizeof(b[6]),
	    (long long)s->kinds[SW_EV_ATTRIBUTION], "attribution",
	    "attributions"));
}

static void
scan_coverage(const struct scan *s, FILE *fp)
{
	unsigned long long	 events = 0;
	char			 b[7][64];
	int			 k;

	for (k = 0; k < SW_EV_NKINDS; k++)
		events += s->kinds[k];
	fprintf(fp, "\nCoverage: %s, %s, %s, %s, %s not through a relay "
	    "that failed AUTH, %s missed (about AUTH, no rule matched%s), %s "
	    "cut at %d bytes\n",
	    out_count(b[0], sizeof(b[0]), (long long)s->records, "record",
	    "records"),
	    out_count(b[1], sizeof(b[1]), (long long)events, "event",
	    "events"),
	    out_count(b[2], sizeof(b[2]), (long long)s->dups,
	    "Exim syslog copy", "Exim syslog copies"),
	    out_count(b[3], sizeof(b[3]), (long long)s->ignored,
	    "known look-alike", "known look-alikes"),
	    out_count(b[6], sizeof(b[6]), (long long)s->elsewhere,
	    "delivery", "deliveries"),
	    out_count(b[4], sizeof(b[4]), (long long)s->missed, "line",
	    "lines"),
	    s->missed > 0 && !(s->flags & SCAN_MISSED) ?
	    "; --missed lists them" : "",
	    out_count(b[5], sizeof(b[5]), (long long)s->cut, "line", "lines"),
	    SW_LINE_MAX);
	if (s->since != 0 || s->until != 0)
		fprintf(fp, "Window: %s outside --since/--until, not counted\n",
		    out_count(b[0], sizeof(b[0]), (long long)s->outside,
		    "event", "events"));
	if (s->repeats > 0)
		fprintf(fp, "Repeats: %s \"message repeated\" standing for "
		    "%s\n", out_count(b[0], sizeof(b[0]),
		    (long long)s->repeats, "rsyslog line", "rsyslog lines"),
		    out_count(b[1], sizeof(b[1]), (long long)s->repeated,
		    "record", "records"));
}

/*
 * The human report: the totals, then the tables of smtpwatchctl relays,
 * accounts (server side; relays are the client side's), addresses and
 * incidents, each incident's diagnosis with its best fix, and the
 * coverage.  Returns 0, or 3 when the database could not be read.
 */
int
scan_report(struct scan *s)
{
	struct ctldb_opt	 o;
	FILE			*fp = s->out;
	int			 rc = 0;

	if (scan_finish(s) == -1)
		return 3;
	scan_opt(s, &o, 0);
	scan_totals(s, fp);
	out_heading(fp, "Relays: our credentials at the smarthosts");
	rc |= ctldb_relays(&o);
	out_heading(fp, "Accounts failing AUTH against us");
	o.direction = "server";
	rc |= ctldb_accounts(&o);
	out_heading(fp, "Client addresses failing AUTH");
	rc |= ctldb_addresses(&o);
	out_heading(fp, "Incidents");
	rc |= ctldb_incidents(&o);
	rc |= ctldb_diagnoses(&o);
	scan_coverage(s, fp);
	return rc != 0 ? 3 : 0;
}

/*
 * The report as one JSON object: the totals, then "relays",
 * "accounts", "addresses" and "incidents", each the array that
 * smtpwatchctl relays --json (and the others) print, and the coverage.
 * Returns 0, or 3 when the database could not be read.
 */
int
scan_report_json(struct scan *s)
{
	static const char *const names[] = {
		"relays", "accounts", "addresses", "incidents"
	};
	int		(*const lists[])(const struct ctldb_opt *) = {
		ctldb_relays, ctldb_accounts, ctldb_addresses, ctldb_incidents
	};
	struct ctldb_opt	 o;
	FILE			*fp = s->out;
	size_t			 i;
	int			 k, rc = 0;

	if (scan_finish(s) == -1)
		return 3;
	scan_opt(s, &o, 1);
	fprintf(fp, "{\"files\":%d,\"lines\":%llu,\"records\":%llu,"
	    "\"events\":{", s->files, s->lines, s->records);
	for (k = 0; k < SW_EV_NKINDS; k++)
		fprintf(fp, "%s\"%s\":%llu", k ? "," : "",
		    kind_name((enum sw_kind)k), s->kinds[k]);
	fputc('}', fp);
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		fprintf(fp, ",\"%s\":", names[i]);
		rc |= lists[i](&o);
	}
	fprintf(fp, ",\"coverage\":{\"exim_copies\":%llu,\"ignored\":%llu,"
	    "\"unwatched\":%llu,\"missed\":%llu,\"cut\":%llu,\"outside\":%llu,"
	    "\"repeats\":%llu,\"repeated\":%llu}}\n", s->dups, s->ignored,
	    s->elsewhere, s->missed, s->cut, s->outside, s->repeats,
	    s->repeated);
	return rc != 0 ? 3 : 0;
}
