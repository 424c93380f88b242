/*
 * t_corpus.c -- run the annotated corpus: every case of tests/corpus/NAME.txt
 * goes through a fresh joiner and matcher, exactly as a log line would,
 * and its events must be the ones written under it.  The format:
 *
 *	> a log line (raw bytes)          several > lines form one case
 *	= KIND DIRECTION MTA key=value... one line per expected event
 *	-                                 the case yields no event
 *	? reason                          a known gap: reported, not failed
 *
 * Every record of every case also goes through every extract pattern with
 * PCRE2's interpreter (what runs under MemoryDenyWriteExecute=yes) and
 * the daemon's match and depth limits: a pattern that reaches one on any
 * line, matched or not, fails the case, for a limit reached is no event,
 * a failure uncounted.  So the work a hostile line can cost is bounded,
 * and measured without a clock.  (The JIT path is the matcher's own,
 * whose events the case checks.)
 *
 * Usage: t_corpus RULESDIR FILE...
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH	8
#include <pcre2.h>

#include "../../daemon/smtpwatch.h"

#define STRICT_LIMIT	SW_MATCH_LIMIT
#define STRICT_DEPTH	SW_DEPTH_LIMIT

#define MAXLINES	32
#define MAXEVENTS	32

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

struct got {
	const struct sw_rules	*rs;
	pcre2_match_context	*mc;	/* STRICT_LIMIT, STRICT_DEPTH */
	const char		*slow;	/* the first rule that reached it */
	int			 slowrc;
	struct sw_matcher	*m;
	struct sw_event		 ev[MAXEVENTS];
	size_t			 n;
};

static int	 passed, failed, todo;

/* Every pattern on rec, interpreted, under the strict limits. */
static void
bounded(struct got *g, const struct sw_record *rec)
{
	const struct sw_extract	*x;
	pcre2_match_data	*md;
	size_t			 i;
	int			 rc;

	for (i = 0; i < g->rs->nextracts && g->slow == NULL; i++) {
		x = &g->rs->extracts[i];
		md = pcre2_match_data_create_from_pattern(x->re, NULL);
		rc = pcre2_match(x->re, (PCRE2_SPTR)rec->text, rec->len, 0,
		    PCRE2_NO_JIT, md, g->mc);
		pcre2_match_data_free(md);
		if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
		    rc == PCRE2_ERROR_HEAPLIMIT) {
			g->slow = x->id;
			g->slowrc = rc;
		}
	}
}

static void
on_record(void *arg, const struct sw_record *rec)
{
	struct got	*g = arg;
	struct sw_event	 ev;

	bounded(g, rec);
	if (match_record(g->m, rec, &ev) != SW_MATCH_EVENT)
		return;
	if (g->n < MAXEVENTS)
		g->ev[g->n++] = ev;
}

/* Reads a bare or "quoted" value at *pp into buf; returns its length. */
static size_t
read_value(const char **pp, char *buf, size_t size)
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
event_value(const struct sw_event *ev, const char *key, const char **v,
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

/* Compares one event with one "= ..." line; prints the first mismatch. */
static int
event_check(const struct tcase *c, const struct sw_event *ev,
    const char *want, size_t idx)
{
	char		 word[3][32], key[32], val[SW_LINE_MAX];
	const char	*p = want, *v;
	size_t		 n, vn;
	int		 i, k;

	if (sscanf(p, "%31s %31s %31s%n", word[0], word[1], word[2], &k) != 3) {
		printf("%s:%u: bad expectation \"%s\"\n", c->file, c->line, want);
		return -1;
	}
	if (strcmp(word[0], kind_name(ev->kind)) != 0 ||
	    strcmp(word[1], dir_name(ev->dir)) != 0 ||
	    strcmp(word[2], mta_name(ev->mta)) != 0) {
		printf("%s:%u: event %zu: want %s %s %s, got %s %s %s "
		    "(rule %s)\n", c->file, c->line, idx + 1, word[0], word[1],
		    word[2], kind_name(ev->kind), dir_name(ev->dir),
		    mta_name(ev->mta), ev->rule->id);
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
		if (*p++ != '=' || event_value(ev, key, &v, &vn) == -1) {
			printf("%s:%u: bad key \"%s\"\n", c->file, c->line, key);
			return -1;
		}
		n = read_value(&p, val, sizeof(val));
		if (n != vn || memcmp(v, val, n) != 0) {
			printf("%s:%u: event %zu: %s: want \"", c->file,
			    c->line, idx + 1, key);
			fput_vis(stdout, val, n);
			printf("\", got \"");
			fput_vis(stdout, v, vn);
			printf("\" (rule %s)\n", ev->rule->id);
			return -1;
		}
	}
	return 0;
}

/* Runs one case; returns 0 when it holds. */
static int
case_run(const struct sw_rules *rs, const struct tcase *c)
{
	static const struct sw_matchopt	 opt = { 1 };
	struct got			 g;
	struct sw_join			*j;
	size_t				 i;
	int				 bad = 0;

	memset(&g, 0, sizeof(g));
	g.rs = rs;
	if ((g.mc = pcre2_match_context_create(NULL)) == NULL)
		fatalx("pcre2_match_context_create");
	pcre2_set_match_limit(g.mc, STRICT_LIMIT);
	pcre2_set_depth_limit(g.mc, STRICT_DEPTH);
	g.m = matcher_new(rs, &opt);
	j = join_new(1795000000, on_record, &g);	/* Nov 2026 */
	for (i = 0; i < c->nin; i++)
		join_line(j, c->in[i], c->inlen[i], 0);
	join_flush(j);
	join_free(j);
	matcher_free(g.m);
	pcre2_match_context_free(g.mc);
	if (g.slow != NULL) {
		printf("%s:%u: rule %s reached the daemon's %s limit "
		    "(%d)\n", c->file, c->line, g.slow,
		    g.slowrc == PCRE2_ERROR_MATCHLIMIT ? "match" : "depth",
		    g.slowrc == PCRE2_ERROR_MATCHLIMIT ? STRICT_LIMIT :
		    STRICT_DEPTH);
		return -1;
	}
	if (c->none && g.n > 0) {
		printf("%s:%u: want no event, got %s %s (rule %s)\n", c->file,
		    c->line, kind_name(g.ev[0].kind), dir_name(g.ev[0].dir),
		    g.ev[0].rule->id);
		return -1;
	}
	if (!c->none && g.n != c->nwant) {
		printf("%s:%u: want %zu events, got %zu%s%s\n", c->file,
		    c->line, c->nwant, g.n, g.n > 0 ? ", first by rule " : "",
		    g.n > 0 ? g.ev[0].rule->id : "");
		return -1;
	}
	for (i = 0; i < g.n && !bad; i++)
		bad = event_check(c, &g.ev[i], c->want[i], i);
	return bad;
}

static void
case_clear(struct tcase *c)
{
	size_t	 i;

	for (i = 0; i < c->nin; i++)
		free(c->in[i]);
	for (i = 0; i < c->nwant; i++)
		free(c->want[i]);
	free(c->todo);
	memset(c, 0, sizeof(*c));
}

/* Runs the case read so far, if any, and forgets it. */
static void
case_end(const struct sw_rules *rs, struct tcase *c, const char *file)
{
	int	 rc;

	if (c->nin == 0)
		return;
	c->file = file;
	if (!c->none && c->nwant == 0) {
		printf("%s:%u: case has no expectation\n", file, c->line);
		failed++;
	} else if ((rc = case_run(rs, c)) == 0) {
		passed++;
		if (c->todo != NULL)
			printf("%s:%u: note: TODO case passes now: %s\n",
			    file, c->line, c->todo);
	} else if (c->todo != NULL) {
		printf("%s:%u: TODO: %s\n", file, c->line, c->todo);
		todo++;
	} else
		failed++;
	case_clear(c);
}

static void
corpus_file(const struct sw_rules *rs, const char *path)
{
	struct tcase	 c;
	FILE		*fp;
	char		*buf = NULL;
	size_t		 cap = 0, n;
	ssize_t		 len;
	unsigned int	 line = 0;
	int		 expecting = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		perror(path);
		failed++;
		return;
	}
	memset(&c, 0, sizeof(c));
	while ((len = getline(&buf, &cap, fp)) != -1) {
		line++;
		n = (size_t)len;
		if (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		if (n >= 1 && buf[0] == '>') {
			if (expecting) {
				case_end(rs, &c, path);
				expecting = 0;
			}
			if (c.nin == 0)
				c.line = line;
			if (c.nin < MAXLINES) {
				/* Raw bytes, NUL included. */
				c.inlen[c.nin] = n < 2 ? 0 : n - 2;
				c.in[c.nin] = xmalloc(c.inlen[c.nin] + 1);
				memcpy(c.in[c.nin], buf + 2 - (n < 2),
				    c.inlen[c.nin]);
				c.in[c.nin][c.inlen[c.nin]] = '\0';
				c.nin++;
			}
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
	case_end(rs, &c, path);
	free(buf);
	fclose(fp);
}

int
main(int argc, char *argv[])
{
	struct sw_rules	*rs;
	int		 i;

	if (argc < 3) {
		fprintf(stderr, "usage: t_corpus RULESDIR FILE ...\n");
		return 2;
	}
	setenv("TZ", "UTC", 1);
	tzset();
	log_init("t_corpus", 0);
	if (rules_load(&argv[1], 1, &rs) == -1)
		return 1;
	for (i = 2; i < argc; i++)
		corpus_file(rs, argv[i]);
	rules_free(rs);
	printf("corpus: %d passed, %d failed, %d todo\n", passed, failed,
	    todo);
	return failed > 0;
}
