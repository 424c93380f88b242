/*
 * corpus.c -- run an annotated corpus against a rule set: every case of
 * a file goes through a fresh joiner and matcher, exactly as a log line
 * would, and its events must be the ones written under it.  The shipped
 * rules are tested this way (tests/corpus/, with smtpwatchctl check-rules
 * in make check), and a postmaster tests a local rule the same way.  The
 * format, also in smtpwatch.rules(5):
 *
 *	# comment
 *	@ now 2026-11-30T00:00:00Z        the time the cases after it are
 *	                                  read at (the year of classic stamps)
 *	> a log line (raw bytes)          several > lines form one case
 *	= KIND DIRECTION MTA key=value... one line per expected event
 *	                                  (repeat=N: it counts N times)
 *	-                                 the case yields no event
 *	? reason                          a known gap: reported, not failed
 *
 * Every record of every case also goes through every extract pattern with
 * PCRE2's interpreter (what runs under MemoryDenyWriteExecute=yes) and
 * the daemon's match and depth limits: a pattern that reaches one on any
 * line, matched or not, fails the case, for a limit reached is no event,
 * a failure uncounted.  So the work a hostile line can cost is bounded,
 * and measured without a clock.
 */

#define PCRE2_CODE_UNIT_WIDTH	8

#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpwatch.h"

#define MAXLINES	32		/* > lines of one case */
#define MAXEVENTS	32		/* = lines of one case */

struct tcase {
	const char	*file;
	unsigned int	 line;		/* of its first > */
	char		*in[MAXLINES];
	size_t		 inlen[MAXLINES];
	size_t		 nin;
	char		*want[MAXEVENTS];	/* "= ..." bodies */
	size_t		 nwant;
	int		 none;		/* "-" */
	char		*todo;		/* "? ..." */
};

/* What one case produced. */
struct got {
	const struct sw_rules	*rs;
	pcre2_match_context	*mc;	/* the daemon's limits */
	const char		*slow;	/* the first rule that reached one */
	int			 slowrc;
	struct sw_matcher	*m;
	struct sw_event		 ev[MAXEVENTS];
	size_t			 n;
};

/* A run over files: where to say what, and the totals. */
struct corpus_run {
	const struct sw_rules		*rs;
	const struct sw_matchopt	*opt;
	time_t				 now;	/* the year of classic stamps */
	FILE				*out;
	struct corpus_totals		*t;
};

/* Every pattern on rec, interpreted, under the daemon's limits. */
static void
corpus_bounded(struct got *g, const struct sw_record *rec)
{
	const struct sw_extract	*x;
	pcre2_match_data	*md;
	size_t			 i;
	int			 rc;

	for (i = 0; i < g->rs->nextracts && g->slow == NULL; i++) {
		x = &g->rs->extracts[i];
		md = pcre2_match_data_create_from_pattern(x->re, NULL);
		if (md == NULL)
			fatalx("pcre2: out of memory");
		rc = pcre2_match(x->re, (PCRE2_SPTR)rec->text, rec->len, 0,
		    PCRE2_NO_JIT, md, g->mc);
		pcre2_match_data_free(md);
		if (rc == PCRE2_ERROR_MATCHLIMIT ||
		    rc == PCRE2_ERROR_DEPTHLIMIT ||
		    rc == PCRE2_ERROR_HEAPLIMIT) {
			g->slow = x->id;
			g->slowrc = rc;
		}
	}
}

static void
corpus_record(void *arg, const struct sw_record *rec)
{
	struct got	*g = arg;
	struct sw_event	 ev;

	corpus_bounded(g, rec);
	if (match_record(g->m, rec, &ev) != SW_MATCH_EVENT)
		return;
	if (g->n < MAXEVENTS)
		g->ev[g->n++] = ev;
}

/*
 * Reads a bare or "quoted" value at *pp into buf; returns its length.
 * In quotes, \xNN is a byte, \t and \n as in C, \ before anything else
 * that character.
 */
static size_t
corpus_value(const char **pp, char *buf, size_t size)
{
	const char	*p = *pp;
	size_t		 n = 0;
	unsigned int	 x;

	if (*p != '"') {
		while (*p != '\0' && !isspace((unsigned char)*p) && n + 1 < size)
			buf[n++] = *p++;
		*pp = p;
		return n;
	}
	for (p++; *p != '\0' && *p != '"' && n + 1 < size; p++) {
		if (*p != '\\' || p[1] == '\0') {
			buf[n++] = *p;
			continue;
		}
		p++;
		if (*p == 'x' && sscanf(p + 1, "%2x", &x) == 1) {
			buf[n++] = (char)x;
			p += 2;
		} else if (*p == 't')
			buf[n++] = '\t';
		else if (*p == 'n')
			buf[n++] = '\n';
		else
			buf[n++] = *p;
	}
	*pp = *p == '"' ? p + 1 : p;
	return n;
}

/* The event's value for key, as bytes; -1 for an unknown key. */
static int
corpus_field(const struct sw_event *ev, const char *key, const char **v,
    size_t *n)
{
	static char	 t[32];
	struct tm	 tm;

	*v = NULL;
	if (strcmp(key, "account") == 0) {
		if (!(ev->flags & SW_EVF_ACCOUNT))
			*v = "(none)";
		else {
			*v = ev->account;
			*n = ev->accountlen;
			return 0;
		}
	} else if (strcmp(key, "addr") == 0)
		*v = ev->addr;
	else if (strcmp(key, "relay") == 0)
		*v = ev->relay;
	else if (strcmp(key, "name") == 0)
		*v = ev->name;
	else if (strcmp(key, "mech") == 0)
		*v = ev->mech;
	else if (strcmp(key, "reply") == 0)
		*v = ev->reply;
	else if (strcmp(key, "queue") == 0)
		*v = ev->queue;
	else if (strcmp(key, "host") == 0)
		*v = ev->host;
	else if (strcmp(key, "rule") == 0)
		*v = ev->rule->id;
	else if (strcmp(key, "diagnosis") == 0)
		*v = ev->diag != NULL ? ev->diag->id : "(none)";
	else if (strcmp(key, "repeat") == 0) {
		snprintf(t, sizeof(t), "%u", ev->repeat);
		*v = t;
	}
	else if (strcmp(key, "time") == 0) {
		t[0] = '\0';
		if (ev->when != 0 && gmtime_r(&ev->when, &tm) != NULL)
			strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
		*v = t;
	} else
		return -1;
	*n = strlen(*v);
	return 0;
}

/* "FILE:LINE: " for a message about case c. */
static void
corpus_where(FILE *out, const struct tcase *c)
{
	fput_vis(out, c->file, strlen(c->file));
	fprintf(out, ":%u: ", c->line);
}

/* Compares one event with one "= ..." line; says the first mismatch. */
static int
corpus_check(const struct corpus_run *r, const struct tcase *c,
    const struct sw_event *ev, const char *want, size_t idx)
{
	char		 word[3][32], key[32], val[SW_LINE_MAX];
	const char	*p = want, *v;
	size_t		 n, vn;
	int		 i, k;

	if (sscanf(p, "%31s %31s %31s%n", word[0], word[1], word[2], &k) != 3) {
		corpus_where(r->out, c);
		fprintf(r->out, "bad expectation \"");
		fput_vis(r->out, want, strlen(want));
		fprintf(r->out, "\": want KIND DIRECTION MTA key=value...\n");
		return -1;
	}
	if (strcmp(word[0], kind_name(ev->kind)) != 0 ||
	    strcmp(word[1], dir_name(ev->dir)) != 0 ||
	    strcmp(word[2], mta_name(ev->mta)) != 0) {
		corpus_where(r->out, c);
		fprintf(r->out, "event %zu: want %s %s %s, got %s %s %s "
		    "(rule %s)\n", idx + 1, word[0], word[1], word[2],
		    kind_name(ev->kind), dir_name(ev->dir), mta_name(ev->mta),
		    ev->rule->id);
		return -1;
	}
	for (p += k; *p != '\0';) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		for (i = 0; *p != '=' && *p != '\0' && i < 31; )
			key[i++] = *p++;
		key[i] = '\0';
		if (*p++ != '=' || corpus_field(ev, key, &v, &vn) == -1) {
			corpus_where(r->out, c);
			fprintf(r->out, "bad key \"");
			fput_vis(r->out, key, strlen(key));
			fprintf(r->out, "\" (account, addr, diagnosis, host, "
			    "mech, name, queue, relay, repeat, reply, rule, "
			    "time)\n");
			return -1;
		}
		n = corpus_value(&p, val, sizeof(val));
		if (n != vn || memcmp(v, val, n) != 0) {
			corpus_where(r->out, c);
			fprintf(r->out, "event %zu: %s: want \"", idx + 1, key);
			fput_vis(r->out, val, n);
			fprintf(r->out, "\", got \"");
			fput_vis(r->out, v, vn);
			fprintf(r->out, "\" (rule %s)\n", ev->rule->id);
			return -1;
		}
	}
	return 0;
}

/* Feeds the case's lines through a fresh joiner and matcher into g. */
static void
corpus_feed(const struct corpus_run *r, const struct tcase *c,
    struct got *g)
{
	struct sw_join	*j;
	size_t		 i;

	memset(g, 0, sizeof(*g));
	g->rs = r->rs;
	if ((g->mc = pcre2_match_context_create(NULL)) == NULL)
		fatalx("pcre2: out of memory");
	pcre2_set_match_limit(g->mc, SW_MATCH_LIMIT);
	pcre2_set_depth_limit(g->mc, SW_DEPTH_LIMIT);
	g->m = matcher_new(r->rs, r->opt);
	j = join_new(r->now, corpus_record, g);
	for (i = 0; i < c->nin; i++)
		join_line(j, c->in[i], c->inlen[i], 0);
	join_flush(j);
	join_free(j);
	matcher_free(g->m);
	pcre2_match_context_free(g->mc);
}

/* Runs one case; returns 0 when it holds, after saying why not. */
static int
corpus_case(const struct corpus_run *r, const struct tcase *c)
{
	struct got	 g;
	size_t		 i;
	int		 bad = 0;

	corpus_feed(r, c, &g);
	if (g.slow != NULL) {
		corpus_where(r->out, c);
		fprintf(r->out, "rule %s reached the daemon's %s limit (%d)\n",
		    g.slow, g.slowrc == PCRE2_ERROR_MATCHLIMIT ? "match" :
		    "depth", g.slowrc == PCRE2_ERROR_MATCHLIMIT ?
		    SW_MATCH_LIMIT : SW_DEPTH_LIMIT);
		return -1;
	}
	if (c->none && g.n > 0) {
		corpus_where(r->out, c);
		fprintf(r->out, "want no event, got %s %s (rule %s)\n",
		    kind_name(g.ev[0].kind), dir_name(g.ev[0].dir),
		    g.ev[0].rule->id);
		return -1;
	}
	if (!c->none && g.n != c->nwant) {
		corpus_where(r->out, c);
		fprintf(r->out, "want %zu event%s, got %zu%s%s\n", c->nwant,
		    c->nwant == 1 ? "" : "s", g.n,
		    g.n > 0 ? ", first by rule " : "",
		    g.n > 0 ? g.ev[0].rule->id : "");
		return -1;
	}
	for (i = 0; i < g.n && !bad; i++)
		bad = corpus_check(r, c, &g.ev[i], c->want[i], i);
	return bad;
}

static void
corpus_clear(struct tcase *c)
{
	size_t	 i;

	for (i = 0; i < c->nin; i++)
		free(c->in[i]);
	for (i = 0; i < c->nwant; i++)
		free(c->want[i]);
	free(c->todo);
	memset(c, 0, sizeof(*c));
}

/* Runs the case read so far, if any, counts it and forgets it. */
static void
corpus_end(const struct corpus_run *r, struct tcase *c, const char *file)
{
	int	 rc;

	if (c->nin == 0)
		return;
	c->file = file;
	if (!c->none && c->nwant == 0) {
		corpus_where(r->out, c);
		fprintf(r->out, "case has no expectation (=, - or ?)\n");
		r->t->failed++;
	} else if ((rc = corpus_case(r, c)) == 0) {
		r->t->passed++;
		if (c->todo != NULL) {
			corpus_where(r->out, c);
			fprintf(r->out, "note: TODO case passes now: %s\n",
			    c->todo);
		}
	} else if (c->todo != NULL) {
		corpus_where(r->out, c);
		fprintf(r->out, "TODO: %s\n", c->todo);
		r->t->todo++;
	} else
		r->t->failed++;
	corpus_clear(c);
}

/* A "> line" into the case being read: raw bytes, NUL included. */
static void
corpus_input(struct tcase *c, const char *buf, size_t n, unsigned int line)
{
	if (c->nin == 0)
		c->line = line;
	if (c->nin == MAXLINES)
		return;
	c->inlen[c->nin] = n < 2 ? 0 : n - 2;
	c->in[c->nin] = xmalloc(c->inlen[c->nin] + 1);
	memcpy(c->in[c->nin], buf + 2 - (n < 2), c->inlen[c->nin]);
	c->in[c->nin][c->inlen[c->nin]] = '\0';
	c->nin++;
}

/* "@ now TIME": the reference time of the cases after it; -1 if bad. */
static int
corpus_directive(struct corpus_run *r, const char *s, const char *path,
    unsigned int line)
{
	struct tm	 tm;
	char		 z;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "@ now %4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	    &z) == 7 && z == 'Z' && strlen(s) == 26) {
		tm.tm_year -= 1900;
		tm.tm_mon--;
		r->now = timegm(&tm);
		return 0;
	}
	fput_vis(r->out, path, strlen(path));
	fprintf(r->out, ":%u: directive must read \"@ now "
	    "YYYY-MM-DDTHH:MM:SSZ\"\n", line);
	r->t->failed++;
	return -1;
}

/*
 * Runs every case of the corpus file at path against rs, saying each
 * failure on out as FILE:LINE: and adding to *t.  now gives the year of
 * classic syslog time stamps until an "@ now" line says otherwise.
 * Returns 0, or -1 when the file cannot be read (said, and counted as a
 * failure).
 */
int
corpus_file(const struct sw_rules *rs, const struct sw_matchopt *opt,
    time_t now, const char *path, FILE *out, struct corpus_totals *t)
{
	struct corpus_run	 r = { rs, opt, now, out, t };
	struct tcase		 c;
	FILE			*fp;
	char			*buf = NULL;
	size_t			 cap = 0, n;
	ssize_t			 len;
	unsigned int		 line = 0;
	int			 expecting = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		log_warn("%s", path);
		t->failed++;
		return -1;
	}
	memset(&c, 0, sizeof(c));
	while ((len = getline(&buf, &cap, fp)) != -1) {
		line++;
		n = (size_t)len;
		if (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		if (n >= 1 && buf[0] == '>') {
			if (expecting) {
				corpus_end(&r, &c, path);
				expecting = 0;
			}
			corpus_input(&c, buf, n, line);
			continue;
		}
		if (n >= 1 && buf[0] == '@') {
			corpus_end(&r, &c, path);
			expecting = 0;
			corpus_directive(&r, buf, path, line);
			continue;
		}
		if (n >= 1 && buf[0] == '=' && c.nwant < MAXEVENTS)
			c.want[c.nwant++] = xstrdup(buf + (n > 1 ? 2 : 1));
		else if (n >= 1 && buf[0] == '-')
			c.none = 1;
		else if (n >= 1 && buf[0] == '?' && c.todo == NULL)
			c.todo = xstrdup(buf + (n > 1 ? 2 : 1));
		else
			continue;
		expecting = 1;
	}
	corpus_end(&r, &c, path);
	free(buf);
	fclose(fp);
	return 0;
}
