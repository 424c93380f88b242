/*
 * scan.c -- offline analysis of existing mail logs: every file goes
 * through lines.c, join.c and match.c exactly as the daemon's sources
 * will, and the events are summed per relay, per account and per client
 * address into a report that names each problem, its diagnosis and the
 * best fix.  Nothing is stored; `--events` prints the events themselves.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpwatch.h"

#define SET_MAX		64		/* distinct members remembered */
#define QUEUE_MAX	4096		/* distinct queue ids per relay */
#define THRESHOLD	5		/* failures before a diagnosis */
#define TOP		20		/* rows per table */

/* A small set of byte strings; counts stop growing at its cap. */
struct set {
	char	       **v;
	size_t		*len;
	size_t		 n, cap;
	int		 more;		/* members were left out */
};

/* The sums for one relay, account or address. */
struct agg {
	char			*key;
	size_t			 keylen;
	unsigned long		 n[SW_EV_NKINDS];
	time_t			 first, last;
	char			 reply[SW_REPLY_MAX];
	char			 addr[SW_ADDR_MAX];
	const struct sw_diagnosis *diag;
	struct set		 peers;	/* addresses, or accounts */
	struct set		 good;	/* addresses that succeeded */
	struct set		 queues;	/* messages held back */
	struct agg		*next;
};

struct table {
	struct agg	**bucket;
	size_t		 nbucket, n;
};

struct scan {
	const struct sw_rules	*rs;
	struct sw_matcher	*m;
	unsigned int		 flags;
	FILE			*out;
	const char		*file;	/* being read */
	struct sw_join		*j;	/* of that file */
	struct table		 relays, accounts, addrs, trouble;
	unsigned long		 records, lines, nkind[SW_EV_NKINDS];
	unsigned long		 ignored, dups, missed, cut, noaccount;
	unsigned long long	 bytes, total;	/* progress */
	time_t			 shown;
	int			 files;
};

static void	scan_record(void *, const struct sw_record *);

struct scan *
scan_new(const struct sw_rules *rs, const struct sw_matchopt *opt,
    unsigned int flags, FILE *out)
{
	struct scan	*s;

	s = xcalloc(1, sizeof(*s));
	s->rs = rs;
	s->m = matcher_new(rs, opt);
	s->flags = flags;
	s->out = out;
	return s;
}

static void
set_free(struct set *st)
{
	strv_free(st->v, st->n);
	free(st->len);
}

static void
table_free(struct table *t)
{
	struct agg	*a, *next;
	size_t		 i;

	for (i = 0; i < t->nbucket; i++)
		for (a = t->bucket[i]; a != NULL; a = next) {
			next = a->next;
			set_free(&a->peers);
			set_free(&a->good);
			set_free(&a->queues);
			free(a->key);
			free(a);
		}
	free(t->bucket);
}

void
scan_free(struct scan *s)
{
	if (s == NULL)
		return;
	matcher_free(s->m);
	table_free(&s->relays);
	table_free(&s->accounts);
	table_free(&s->addrs);
	table_free(&s->trouble);
	free(s);
}

/* Adds a member; returns 1 when it was new. */
static int
set_add(struct set *st, size_t max, const char *k, size_t n)
{
	size_t	 i;

	for (i = 0; i < st->n; i++)
		if (st->len[i] == n && memcmp(st->v[i], k, n) == 0)
			return 0;
	if (st->n == max) {
		st->more = 1;
		return 0;
	}
	if (st->n == st->cap) {
		st->cap = st->cap == 0 ? 4 : st->cap * 2;
		st->v = xreallocarray(st->v, st->cap, sizeof(*st->v));
		st->len = xreallocarray(st->len, st->cap, sizeof(*st->len));
	}
	st->v[st->n] = xstrndup(k, n);
	st->len[st->n++] = n;
	return 1;
}

static int
set_has(const struct set *st, const char *k, size_t n)
{
	size_t	 i;

	for (i = 0; i < st->n; i++)
		if (st->len[i] == n && memcmp(st->v[i], k, n) == 0)
			return 1;
	return 0;
}

static void
table_grow(struct table *t)
{
	struct agg	**old = t->bucket, *a, *next;
	size_t		  i, oldn = t->nbucket, h;

	t->nbucket = oldn == 0 ? 64 : oldn * 2;
	t->bucket = xcalloc(t->nbucket, sizeof(*t->bucket));
	for (i = 0; i < oldn; i++)
		for (a = old[i]; a != NULL; a = next) {
			next = a->next;
			h = fnv64(FNV64_INIT, a->key, a->keylen) % t->nbucket;
			a->next = t->bucket[h];
			t->bucket[h] = a;
		}
	free(old);
}

/* The aggregate for key, created on first use. */
static struct agg *
table_get(struct table *t, const char *k, size_t n)
{
	struct agg	*a;
	size_t		 h;

	if (t->n >= t->nbucket)
		table_grow(t);
	h = fnv64(FNV64_INIT, k, n) % t->nbucket;
	for (a = t->bucket[h]; a != NULL; a = a->next)
		if (a->keylen == n && memcmp(a->key, k, n) == 0)
			return a;
	a = xcalloc(1, sizeof(*a));
	a->key = xstrndup(k, n);
	a->keylen = n;
	a->next = t->bucket[h];
	t->bucket[h] = a;
	t->n++;
	return a;
}

static void
agg_add(struct agg *a, const struct sw_event *ev)
{
	a->n[ev->kind]++;
	if (a->first == 0 || (ev->when != 0 && ev->when < a->first))
		a->first = ev->when;
	if (ev->when > a->last)
		a->last = ev->when;
	if (ev->kind == SW_EV_FAILURE || ev->kind == SW_EV_TROUBLE) {
		memcpy(a->reply, ev->reply, sizeof(a->reply));
		if (ev->diag != NULL)
			a->diag = ev->diag;
	}
}

/* Sums one event into the tables its direction and kind concern. */
static void
scan_sum(struct scan *s, const struct sw_event *ev)
{
	struct agg	*a;
	const char	*relay;

	s->nkind[ev->kind]++;
	if (ev->kind == SW_EV_TROUBLE) {
		a = table_get(&s->trouble, ev->rule->id, strlen(ev->rule->id));
		agg_add(a, ev);
		return;
	}
	if (ev->dir == SW_DIR_CLIENT) {
		relay = ev->relay[0] != '\0' ? ev->relay : ev->addr;
		a = table_get(&s->relays, relay, strlen(relay));
		agg_add(a, ev);
		if (ev->addr[0] != '\0')
			memcpy(a->addr, ev->addr, sizeof(a->addr));
		if (ev->queue[0] != '\0' && ev->kind != SW_EV_SUCCESS)
			set_add(&a->queues, QUEUE_MAX, ev->queue,
			    strlen(ev->queue));
		return;
	}
	if (ev->kind != SW_EV_FAILURE && ev->kind != SW_EV_SUCCESS)
		return;
	if (ev->flags & SW_EVF_ACCOUNT) {
		a = table_get(&s->accounts, ev->account, ev->accountlen);
		agg_add(a, ev);
		if (ev->kind == SW_EV_SUCCESS)
			set_add(&a->good, SET_MAX, ev->addr, strlen(ev->addr));
		else
			set_add(&a->peers, SET_MAX, ev->addr, strlen(ev->addr));
	} else if (ev->kind == SW_EV_FAILURE)
		s->noaccount++;
	if (ev->addr[0] == '\0')
		return;
	a = table_get(&s->addrs, ev->addr, strlen(ev->addr));
	agg_add(a, ev);
	if (ev->kind == SW_EV_FAILURE && (ev->flags & SW_EVF_ACCOUNT))
		set_add(&a->peers, SET_MAX, ev->account, ev->accountlen);
}

/* "2026-11-28T04:35:04Z", or "" for no time. */
static const char *
fmt_time(time_t t, char *buf, size_t n)
{
	struct tm	 tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		return "";
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void
json_field(FILE *fp, const char *name, const char *v, size_t n)
{
	fprintf(fp, ",\"%s\":", name);
	if (n == 0)
		fputs("null", fp);
	else
		fput_json(fp, v, n);
}

static void
json_str(FILE *fp, const char *name, const char *v)
{
	json_field(fp, name, v, strlen(v));
}

/* One event as one JSON object on one line: a stable interface. */
void
event_print_json(FILE *fp, const char *file, unsigned long line,
    const struct sw_event *ev)
{
	char	 t[32];
	size_t	 i;

	fputs("{\"file\":", fp);
	fput_json(fp, file, strlen(file));
	fprintf(fp, ",\"line\":%lu", line);
	json_str(fp, "time", fmt_time(ev->when, t, sizeof(t)));
	json_str(fp, "host", ev->host);
	fprintf(fp, ",\"kind\":\"%s\",\"direction\":\"%s\",\"mta\":\"%s\"",
	    kind_name(ev->kind), dir_name(ev->dir), mta_name(ev->mta));
	json_str(fp, "rule", ev->rule->id);
	if (ev->flags & SW_EVF_ACCOUNT) {
		fputs(",\"account\":", fp);
		fput_json(fp, ev->account, ev->accountlen);
		fputs(",\"account_hex\":\"", fp);
		for (i = 0; i < ev->accountlen; i++)
			fprintf(fp, "%02x", (unsigned char)ev->account[i]);
		fputc('"', fp);
	} else
		fputs(",\"account\":null,\"account_hex\":null", fp);
	json_str(fp, "addr", ev->addr);
	json_str(fp, "name", ev->name);
	json_str(fp, "relay", ev->relay);
	json_str(fp, "mech", ev->mech);
	json_str(fp, "reply", ev->reply);
	json_str(fp, "queue", ev->queue);
	json_str(fp, "diagnosis", ev->diag != NULL ? ev->diag->id : "");
	fprintf(fp, ",\"pid\":%ld,\"dup\":%s,\"cut\":%s}\n", (long)ev->pid,
	    (ev->flags & SW_EVF_DUP) ? "true" : "false",
	    (ev->flags & SW_EVF_CUT) ? "true" : "false");
}

/* One event as one readable, escaped line. */
static void
event_print_text(FILE *fp, const char *file, unsigned long line,
    const struct sw_event *ev)
{
	char	 t[32];

	fprintf(fp, "%s:%lu: %s %s %s", file, line, fmt_time(ev->when, t,
	    sizeof(t)), kind_name(ev->kind), dir_name(ev->dir));
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
	fprintf(stderr, "\r%s: %3llu%% %lu lines", s->file,
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

/* join.c hands every record here. */
static void
scan_record(void *arg, const struct sw_record *rec)
{
	struct scan	*s = arg;
	struct sw_event	 ev;
	int		 rc;

	s->records++;
	if (rec->cut)
		s->cut++;
	rc = match_record(s->m, rec, &ev);
	switch (rc) {
	case SW_MATCH_EVENT:
		scan_sum(s, &ev);
		if ((s->flags & SCAN_EVENTS) && (s->flags & SCAN_JSON))
			event_print_json(s->out, s->file, rec->lineno, &ev);
		else if (s->flags & SCAN_EVENTS)
			event_print_text(s->out, s->file, rec->lineno, &ev);
		break;
	case SW_MATCH_DUP:
		s->dups++;
		break;
	case SW_MATCH_IGNORED:
		s->ignored++;
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

static void
scan_line(void *arg, const char *line, size_t len, int cut)
{
	struct scan	*s = arg;

	s->lines++;
	join_line(s->j, line, len, cut);
}

/*
 * Reads one file ("-" for standard input) to its end.  Returns 0, or
 * -1 after reporting an error; what was read before it still counts.
 */
int
scan_path(struct scan *s, const char *path)
{
	static char	 buf[1 << 20];
	struct sw_lines	 ls;
	struct stat	 st;
	ssize_t		 n;
	int		 fd, rc = 0;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
	if (fd == -1 || fstat(fd, &st) == -1) {
		log_warn("%s", path);
		return -1;
	}
	s->file = path;
	s->files++;
	s->bytes = 0;
	s->total = S_ISREG(st.st_mode) ? (unsigned long long)st.st_size : 0;
	s->j = join_new(S_ISREG(st.st_mode) ? st.st_mtime : time(NULL),
	    scan_record, s);
	lines_init(&ls, scan_line, s);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s", path);
			rc = -1;
			break;
		}
		s->bytes += (unsigned long long)n;
		lines_feed(&ls, buf, (size_t)n);
		scan_progress(s);
	}
	lines_finish(&ls);
	join_flush(s->j);
	lines_free(&ls);
	join_free(s->j);
	s->j = NULL;
	if (fd != STDIN_FILENO)
		close(fd);
	if ((s->flags & SCAN_PROGRESS) && s->total > 0)
		fputs("\r\033[K", stderr);
	return rc;
}

static void
scan_jline(void *arg, const char *p, size_t n, int cut, uint64_t start,
    uint64_t next)
{
	(void)start;
	(void)next;
	scan_line(arg, p, n, cut);
}

static void
scan_jbegin(void *arg, const struct sw_fileid *id, uint64_t off)
{
	(void)arg;
	(void)id;
	(void)off;
}

static void
scan_jnone(void *arg)
{
	(void)arg;
}

static const struct sw_tail_cb scan_journal_cb = {
	scan_jline, scan_jbegin, NULL, scan_jnone, scan_jnone
};

/*
 * Reads the journal (the system journal, or the files in dir) from since
 * (microseconds; 0: its beginning) to its present end.  Returns 0, or -1
 * when it cannot be opened (reported).
 */
int
scan_journal(struct scan *s, const char *dir, uint64_t since)
{
	struct sw_journal	*jr;
	struct sw_journal_stat	 st;

	if (journal_open(dir, &jr) == -1)
		return -1;
	journal_stat(jr, &st);
	s->file = st.source;
	s->files++;
	s->bytes = s->total = 0;
	s->j = join_new(time(NULL), scan_record, s);
	journal_start(jr, NULL, 0, since, &scan_journal_cb, s);
	while (journal_run(jr, 4096))
		;
	join_flush(s->j);
	join_free(s->j);
	s->j = NULL;
	s->file = "journal";
	journal_free(jr);
	return 0;
}

/* Aggregates of t, most failures first. */
static struct agg **
table_sorted(const struct table *t, int (*cmp)(const void *, const void *))
{
	struct agg	**v, *a;
	size_t		  i, n = 0;

	v = xcalloc(t->n + 1, sizeof(*v));
	for (i = 0; i < t->nbucket; i++)
		for (a = t->bucket[i]; a != NULL; a = a->next)
			v[n++] = a;
	qsort(v, n, sizeof(*v), cmp);
	return v;
}

static int
by_failures(const void *x, const void *y)
{
	const struct agg	*a = *(struct agg *const *)x;
	const struct agg	*b = *(struct agg *const *)y;
	unsigned long		 fa = a->n[SW_EV_FAILURE] + a->n[SW_EV_TROUBLE];
	unsigned long		 fb = b->n[SW_EV_FAILURE] + b->n[SW_EV_TROUBLE];

	if (fa != fb)
		return fa < fb ? 1 : -1;
	if (a->keylen != b->keylen)
		return a->keylen < b->keylen ? -1 : 1;
	return memcmp(a->key, b->key, a->keylen);
}

/* Server side: what the history of an account says is going on. */
static const char *
account_behaviour(const struct agg *a)
{
	size_t	 i, known = 0;

	if (a->n[SW_EV_FAILURE] == 0)
		return NULL;
	for (i = 0; i < a->peers.n; i++)
		known += set_has(&a->good, a->peers.v[i], a->peers.len[i]);
	if (known > 0 && known == a->peers.n && a->peers.n <= 2)
		return "stale-device";
	if (a->peers.n >= THRESHOLD)
		return "distributed-brute-force";
	if (a->n[SW_EV_FAILURE] >= THRESHOLD)
		return "brute-force";
	return NULL;
}

static const char *
addr_behaviour(const struct agg *a)
{
	if (a->peers.n >= THRESHOLD)
		return "password-spraying";
	if (a->n[SW_EV_FAILURE] >= THRESHOLD && a->n[SW_EV_SUCCESS] == 0)
		return "brute-force";
	return NULL;
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

static void
diag_note(FILE *fp, const struct sw_diagnosis *d, int full)
{
	fprintf(fp, "    diagnosis: %s\n", d->id);
	diag_print(fp, d, "      ", full);
}

static void
report_relays(struct scan *s, FILE *fp)
{
	struct agg	**v;
	size_t		  i;
	char		  t1[32], t2[32];

	v = table_sorted(&s->relays, by_failures);
	if (s->relays.n > 0 && v[0]->n[SW_EV_FAILURE] +
	    v[0]->n[SW_EV_AFFECTED] > 0)
		fprintf(fp, "\nRelays: our credentials, rejected by the "
		    "smarthost\n");
	for (i = 0; i < s->relays.n; i++) {
		if (v[i]->n[SW_EV_FAILURE] + v[i]->n[SW_EV_AFFECTED] == 0)
			continue;	/* a relay that only delivered */
		fputs("  ", fp);
		fput_vis(fp, v[i]->key, v[i]->keylen);
		if (v[i]->addr[0] != '\0' && strcmp(v[i]->addr, v[i]->key))
			fprintf(fp, " [%s]", v[i]->addr);
		fprintf(fp, ": %lu failures, %zu%s messages held back, "
		    "%lu sent", v[i]->n[SW_EV_FAILURE], v[i]->queues.n,
		    v[i]->queues.more ? "+" : "", v[i]->n[SW_EV_SUCCESS]);
		if (v[i]->n[SW_EV_FAILURE] > 0)
			fprintf(fp, ", %s .. %s", fmt_time(v[i]->first, t1,
			    sizeof(t1)), fmt_time(v[i]->last, t2, sizeof(t2)));
		fputc('\n', fp);
		if (v[i]->reply[0] != '\0') {
			fputs("    reply: ", fp);
			fput_vis(fp, v[i]->reply, strlen(v[i]->reply));
			fputc('\n', fp);
		}
		if (v[i]->diag != NULL)
			diag_note(fp, v[i]->diag, i < 3);
	}
	free(v);
}

/* Prints the diagnosis of a behaviour once per report. */
static void
behaviour_note(struct scan *s, FILE *fp, const char *b, const char **seen,
    size_t *nseen)
{
	const struct sw_diagnosis	*d;
	size_t				 i;

	for (i = 0; i < *nseen; i++)
		if (strcmp(seen[i], b) == 0)
			return;
	seen[(*nseen)++] = b;
	if ((d = rules_behaviour(s->rs, b)) != NULL)
		diag_note(fp, d, 0);
}

static void
report_table(struct scan *s, FILE *fp, const struct table *t,
    const char *title, const char *(*behaviour)(const struct agg *),
    const char *peers)
{
	struct agg	**v;
	const char	 *b, *seen[8];
	size_t		  i, nseen = 0;
	char		  t1[32];

	if (t->n == 0)
		return;
	fprintf(fp, "\n%s\n  %-40s %8s %8s %8s  %-20s  %s\n", title, "",
	    "FAILURES", peers, "SUCCESS", "LAST", "BEHAVIOUR");
	v = table_sorted(t, by_failures);
	for (i = 0; i < t->n && i < TOP; i++) {
		b = behaviour(v[i]);
		fputs("  ", fp);
		fput_vis(fp, v[i]->key, v[i]->keylen > 40 ? 40 : v[i]->keylen);
		fprintf(fp, "%*s %8lu %7zu%s %8lu  %-20s  %s\n",
		    v[i]->keylen < 40 ? (int)(40 - v[i]->keylen) : 0, "",
		    v[i]->n[SW_EV_FAILURE], v[i]->peers.n,
		    v[i]->peers.more ? "+" : " ", v[i]->n[SW_EV_SUCCESS],
		    fmt_time(v[i]->last, t1, sizeof(t1)), b != NULL ? b : "-");
	}
	if (t->n > TOP)
		fprintf(fp, "  ... and %zu more\n", t->n - TOP);
	for (i = 0; i < t->n && i < TOP && nseen < 8; i++)
		if ((b = behaviour(v[i])) != NULL)
			behaviour_note(s, fp, b, seen, &nseen);
	free(v);
}

static void
report_trouble(struct scan *s, FILE *fp)
{
	struct agg	**v;
	size_t		  i;

	if (s->trouble.n == 0)
		return;
	fprintf(fp, "\nTrouble: AUTH failed for reasons other than the "
	    "credentials\n");
	v = table_sorted(&s->trouble, by_failures);
	for (i = 0; i < s->trouble.n; i++) {
		fprintf(fp, "  %s: %lu times, last reply: ", v[i]->key,
		    v[i]->n[SW_EV_TROUBLE]);
		fput_vis(fp, v[i]->reply, strlen(v[i]->reply));
		fputc('\n', fp);
		if (v[i]->diag != NULL)
			diag_note(fp, v[i]->diag, 0);
	}
	free(v);
}

/* The human report of everything scanned. */
void
scan_report(struct scan *s)
{
	FILE	*fp = s->out;

	fprintf(fp, "smtpwatch scan: %d file%s, %lu lines, %lu failures, "
	    "%lu affected, %lu trouble, %lu successes, %lu attributions\n",
	    s->files, s->files == 1 ? "" : "s", s->lines,
	    s->nkind[SW_EV_FAILURE], s->nkind[SW_EV_AFFECTED],
	    s->nkind[SW_EV_TROUBLE], s->nkind[SW_EV_SUCCESS],
	    s->nkind[SW_EV_ATTRIBUTION]);
	report_relays(s, fp);
	report_table(s, fp, &s->accounts, "Accounts failing AUTH against us",
	    account_behaviour, "ADDRS");
	if (s->noaccount > 0)
		fprintf(fp, "  (%lu failures named no account: counted per "
		    "address below)\n", s->noaccount);
	report_table(s, fp, &s->addrs, "Client addresses failing AUTH",
	    addr_behaviour, "ACCOUNTS");
	report_trouble(s, fp);
	fprintf(fp, "\nCoverage: %lu records, %lu events, %lu Exim syslog "
	    "copies, %lu known look-alikes, %lu missed (about AUTH, no rule "
	    "matched%s), %lu lines cut at %d bytes\n", s->records,
	    s->nkind[SW_EV_FAILURE] + s->nkind[SW_EV_SUCCESS] +
	    s->nkind[SW_EV_AFFECTED] + s->nkind[SW_EV_ATTRIBUTION] +
	    s->nkind[SW_EV_TROUBLE], s->dups, s->ignored, s->missed,
	    s->missed > 0 && !(s->flags & SCAN_MISSED) ? "; --missed lists "
	    "them" : "", s->cut, SW_LINE_MAX);
}

static void
json_aggs(FILE *fp, const char *name, const struct table *t,
    const char *(*behaviour)(const struct agg *))
{
	struct agg	**v;
	const char	 *b;
	char		  t1[32], t2[32];
	size_t		  i;

	fprintf(fp, ",\"%s\":[", name);
	v = table_sorted(t, by_failures);
	for (i = 0; i < t->n; i++) {
		fputs(i == 0 ? "{\"key\":" : ",{\"key\":", fp);
		fput_json(fp, v[i]->key, v[i]->keylen);
		fprintf(fp, ",\"failures\":%lu,\"affected\":%lu,\"trouble\":%lu,"
		    "\"successes\":%lu,\"distinct\":%zu,\"messages\":%zu",
		    v[i]->n[SW_EV_FAILURE], v[i]->n[SW_EV_AFFECTED],
		    v[i]->n[SW_EV_TROUBLE], v[i]->n[SW_EV_SUCCESS],
		    v[i]->peers.n, v[i]->queues.n);
		json_str(fp, "first", fmt_time(v[i]->first, t1, sizeof(t1)));
		json_str(fp, "last", fmt_time(v[i]->last, t2, sizeof(t2)));
		json_str(fp, "reply", v[i]->reply);
		json_str(fp, "diagnosis", v[i]->diag != NULL ?
		    v[i]->diag->id : "");
		b = behaviour != NULL ? behaviour(v[i]) : NULL;
		json_str(fp, "behaviour", b != NULL ? b : "");
		fputc('}', fp);
	}
	fputc(']', fp);
	free(v);
}

/* The report as one JSON object. */
void
scan_report_json(struct scan *s)
{
	FILE	*fp = s->out;
	int	 k;

	fprintf(fp, "{\"files\":%d,\"lines\":%lu,\"records\":%lu,"
	    "\"events\":{", s->files, s->lines, s->records);
	for (k = 0; k < SW_EV_NKINDS; k++)
		fprintf(fp, "%s\"%s\":%lu", k ? "," : "",
		    kind_name((enum sw_kind)k), s->nkind[k]);
	fprintf(fp, "},\"failures_without_account\":%lu", s->noaccount);
	json_aggs(fp, "relays", &s->relays, NULL);
	json_aggs(fp, "accounts", &s->accounts, account_behaviour);
	json_aggs(fp, "addresses", &s->addrs, addr_behaviour);
	json_aggs(fp, "trouble", &s->trouble, NULL);
	fprintf(fp, ",\"coverage\":{\"exim_copies\":%lu,\"ignored\":%lu,"
	    "\"missed\":%lu,\"cut\":%lu}}\n", s->dups, s->ignored, s->missed,
	    s->cut);
}
