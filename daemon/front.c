/*
 * front.c -- the front end: which lines of a read buffer need reading at
 * all.  One Vectorscan database per rules load holds a literal of every
 * rule (each rule's literals must all occur for it to match, so any one
 * of them is a necessary condition: the longest is taken), the words
 * that make an unmatched line "about AUTH" (match_mentions_auth), and
 * the shapes join.c must see whatever they say: rsyslog's "message
 * repeated", an Exim syslog part prefix "[1\2] " (an Exim mainlog stamp
 * at the start of a line, an entry continuation lines may follow, is
 * told by feed.c with parse_may_hold(): a pattern anchored at line
 * starts would double the cost of the pass).  They are all literals,
 * compiled by Vectorscan's literal compiler: the part prefix is found
 * by what must come before it, the tag's ":" and a "[" and a digit
 * (parse_exim_msg() reads a prefix only there), not by a pattern, whose
 * compiler took 5 ms more at each rules load and left 2 MB more of the
 * library's pages in memory.
 * A literal that holds another is left out, the other reporting its
 * rules too: Vectorscan reports every occurrence of every literal, and
 * a storm's failure line held six (front_collapse()).
 * One pass over the buffer finds them all; a line with none of them can
 * match no rule and is counted without its envelope being parsed.  A
 * line with some is read, and the rules whose literal it lacks are
 * passed over by the matcher (front_skip's *miss, sw_record.miss).
 *
 * A line passed over still has its stamp read (join_stamp), so that year
 * inference, the newest time seen and the warning about a day its year
 * lacks are what they would be had every line been read: the stamp costs
 * little, the rules' tests are what the front end saves.  A line that
 * began in an earlier buffer, or that was cut, is always read: a literal
 * split across two reads is never missed.  Rules that only say what to ignore
 * (event = none) need no literal here: a look-alike is counted as one
 * only when it mentions AUTH (scan's coverage), whose words are here.
 * One byte in a hundred is a candidate in a typical Postfix log.
 * Without Vectorscan (make VECTORSCAN=no) front_new() returns NULL and
 * every line is read, with identical results.
 */

#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#ifdef SW_VECTORSCAN
#include <hs.h>

/*
 * A literal found: the stream offset of its last byte, and the rules it
 * reports (bit i for the rule extracts[i]).  Its line is the one that
 * holds that byte; front_skip() finds it there.
 */
struct front_found {
	uint64_t	 at;
	uint64_t	 hit;
};

/*
 * The database of one rules load and its scratch space, compiled when
 * the first feed needs it and shared by every feed of those rules (the
 * program is single-threaded): check-rules makes a feed per case.
 */
struct sw_frontdb {
	int		 tried;		/* compiled, or failed to */
	hs_database_t	*db;
	hs_scratch_t	*scratch;
	uint64_t	*bit;		/* per literal id: its rule's bit, or 0 */
	uint64_t	 rules;		/* the bits of every rule with one */
};

struct sw_front {
	hs_database_t	*db;
	hs_scratch_t	*scratch;
	const uint64_t	*bit;		/* the database's */
	uint64_t	 rules;
	uint64_t	 lo, hi;	/* the chunk: [lo, hi) in the stream */
	struct front_found *v;
	size_t		 n, size, next;	/* found, room, lookup cursor */
	int		 unsorted;
};

/*
 * The words the missed-AUTH check needs and the shapes join.c needs,
 * besides the rules.  An Exim syslog part prefix "[1\2] " begins the
 * message, right after the tag's ":" and at most one blank (parse_tag),
 * so one of the last twenty comes before any.
 */
static const char *const front_fixed[] = {
	"uthenticat", "AUTH", "SASL", "sasl", "535 ", "535-",
	"message repeated ",
	":[0", ":[1", ":[2", ":[3", ":[4", ":[5", ":[6", ":[7", ":[8", ":[9",
	": [0", ": [1", ": [2", ": [3", ": [4", ": [5", ": [6", ": [7",
	": [8", ": [9",
	NULL
};

/* The longest of the rule's literals: all must occur, one suffices here. */
static const char *
front_anchor(const struct sw_extract *x)
{
	const char	*best = NULL;
	size_t		 i;

	for (i = 0; i < x->nliterals; i++)
		if (best == NULL || strlen(x->literals[i]) > strlen(best))
			best = x->literals[i];
	return best;
}

/* Adds the literal s (a C string), reporting bit b. */
static void
front_add(const char **lit, size_t *len, uint64_t *bit, size_t *n,
    const char *s, uint64_t b)
{
	lit[*n] = s;
	len[*n] = strlen(s);
	bit[*n] = b;
	(*n)++;
}

/*
 * The shortest literal found within literal i (the first of those of
 * the same length, an earlier one when equal to it), or i when none is.
 */
static size_t
front_within(const char **lit, const size_t *len, size_t n, size_t i)
{
	size_t	 j, best = i;

	for (j = 0; j < n; j++)
		if (j != i && (len[j] < len[best] ||
		    (len[j] == len[best] && j < best)) &&
		    memmem(lit[i], len[i], lit[j], len[j]) != NULL)
			best = j;
	return best;
}

/*
 * Keeps only the literals that hold no other, each reporting the rules
 * of those that hold it: a line with "authentication failed:" has
 * "uthenticat" too, and Vectorscan reports every literal found, each
 * occurrence at a cost (a storm's failure line held six).  The matcher
 * then tries a few more rules on a line read, each ruled out by its own
 * literals first.  Returns how many are kept, in the same order.
 */
static size_t
front_collapse(const char **lit, size_t *len, uint64_t *bit, size_t n)
{
	size_t	 i, k = 0, *to = xcalloc(n, sizeof(*to));

	for (i = 0; i < n; i++)		/* the shortest holds no other */
		to[i] = front_within(lit, len, n, i);
	for (i = 0; i < n; i++)
		if (to[i] != i)
			bit[to[i]] |= bit[i];
	for (i = 0; i < n; i++)
		if (to[i] == i) {
			lit[k] = lit[i];
			len[k] = len[i];
			bit[k++] = bit[i];
		}
	free(to);
	return k;
}

/*
 * Compiles the literals; NULL (said why) when it cannot.  A rule's
 * literal reports the rule's bit (*bit, per literal id): the first 64
 * rules have one (*rules), any other is never ruled out.
 */
static hs_database_t *
front_compile(const struct sw_rules *rs, uint64_t **bit, uint64_t *rules)
{
	hs_database_t		*db = NULL;
	hs_compile_error_t	*err = NULL;
	const char		**lit, *a;
	size_t			*len, i, n = 0, all;
	uint64_t		 b;
	size_t			 max = rs->nextracts +
				     sizeof(front_fixed) / sizeof(front_fixed[0]);
	unsigned int		*ids;

	lit = xcalloc(max, sizeof(*lit));
	len = xcalloc(max, sizeof(*len));
	ids = xcalloc(max, sizeof(*ids));
	*bit = xcalloc(max, sizeof(**bit));
	*rules = 0;
	for (i = 0; front_fixed[i] != NULL; i++)
		front_add(lit, len, *bit, &n, front_fixed[i], 0);
	for (i = 0; i < rs->nextracts; i++) {
		if (rs->extracts[i].ignore)
			continue;
		if ((a = front_anchor(&rs->extracts[i])) == NULL) {
			log_debug("front end off: rule %s has no literal",
			    rs->extracts[i].id);
			goto out;
		}
		b = i < 64 ? (uint64_t)1 << i : 0;
		front_add(lit, len, *bit, &n, a, b);
		*rules |= b;
	}
	all = n;
	n = front_collapse(lit, len, *bit, all);
	log_debug("front end: %zu literals of %zu", n, all);
	for (i = 0; i < n; i++)
		ids[i] = (unsigned int)i;
	if (hs_compile_lit_multi(lit, NULL, ids, len, (unsigned int)n,
	    HS_MODE_BLOCK, NULL, &db, &err) != HS_SUCCESS) {
		log_warnx("front end off (every line is read): vectorscan: %s",
		    err != NULL && err->message != NULL ? err->message : "?");
		hs_free_compile_error(err);
		db = NULL;
	}
out:
	free(lit);
	free(len);
	free(ids);
	return db;
}

struct sw_frontdb *
frontdb_new(void)
{
	return xcalloc(1, sizeof(struct sw_frontdb));
}

void
frontdb_free(struct sw_frontdb *fd)
{
	if (fd == NULL)
		return;
	hs_free_scratch(fd->scratch);
	hs_free_database(fd->db);
	free(fd->bit);
	free(fd);
}

/* The rules' database, compiled at the first call; 0, or -1 without. */
static int
frontdb_get(const struct sw_rules *rs)
{
	struct sw_frontdb	*fd = rs->front;

	if (fd == NULL)
		return -1;
	if (!fd->tried) {
		fd->tried = 1;
		if ((fd->db = front_compile(rs, &fd->bit, &fd->rules)) !=
		    NULL &&
		    hs_alloc_scratch(fd->db, &fd->scratch) != HS_SUCCESS) {
			log_warnx("front end off (every line is read): "
			    "vectorscan: no scratch space");
			hs_free_database(fd->db);
			fd->db = NULL;
		}
	}
	return fd->db != NULL ? 0 : -1;
}

struct sw_front *
front_new(const struct sw_rules *rs)
{
	struct sw_front	*fe;

	if (getenv("SMTPWATCH_FRONT") != NULL &&
	    strcmp(getenv("SMTPWATCH_FRONT"), "no") == 0)
		return NULL;
	if (frontdb_get(rs) == -1)
		return NULL;
	fe = xcalloc(1, sizeof(*fe));
	fe->db = rs->front->db;
	fe->scratch = rs->front->scratch;
	fe->bit = rs->front->bit;
	fe->rules = rs->front->rules;
	return fe;
}

void
front_free(struct sw_front *fe)
{
	if (fe == NULL)
		return;
	free(fe->v);
	free(fe);
}

/* A literal found whose last byte is at stream offset at. */
static void
front_add_found(struct sw_front *fe, uint64_t at, uint64_t hit)
{
	struct front_found	*l = fe->n > 0 ? &fe->v[fe->n - 1] : NULL;

	if (l != NULL && l->at == at) {
		l->hit |= hit;
		return;
	}
	if (l != NULL && at < l->at)
		fe->unsorted = 1;
	if (fe->n == fe->size) {
		fe->size = fe->size ? 2 * fe->size : 64;
		fe->v = xreallocarray(fe->v, fe->size, sizeof(*fe->v));
	}
	fe->v[fe->n].at = at;
	fe->v[fe->n].hit = hit;
	fe->n++;
}

/*
 * A match ends at offset to: its line is read.  front_skip() finds that
 * line as the lines are split; searching here for the newlines before
 * and after the match cost two searches for each line found.
 */
static int
front_hit(unsigned int id, unsigned long long from, unsigned long long to,
    unsigned int flags, void *ctx)
{
	struct sw_front	*fe = ctx;

	(void)from;
	(void)flags;
	if (to > 0)
		front_add_found(fe, fe->lo + to - 1, fe->bit[id]);
	return 0;
}

static int
front_cmp(const void *a, const void *b)
{
	const struct front_found	*x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

/* Sorts the literals found by offset. */
static void
front_sort(struct sw_front *fe)
{
	qsort(fe->v, fe->n, sizeof(*fe->v), front_cmp);
	fe->unsorted = 0;
}

/*
 * Scans the n bytes at p, at stream offset off, before they are split
 * into lines; front_skip() then answers for the lines within them.
 */
void
front_chunk(struct sw_front *fe, const char *p, size_t n, uint64_t off)
{
	fe->n = fe->next = 0;
	fe->unsorted = 0;
	fe->lo = off;
	fe->hi = off + n;
	if (n == 0 || n > UINT32_MAX ||
	    hs_scan(fe->db, p, (unsigned int)n, 0, fe->scratch, front_hit,
	    fe) != HS_SUCCESS) {
		fe->hi = fe->lo;	/* nothing known: every line read */
		return;
	}
	if (fe->unsorted)
		front_sort(fe);
}

/*
 * 1 when the line [start, next) lies whole in the last chunk scanned and
 * nothing was found in it: no rule can match it.  *miss is then set to
 * the rules none of whose literals is in the line (bit i for the rule
 * extracts[i]: match_record() passes over them), to 0 when the line is
 * not known.  Lines are asked about in order.
 */
int
front_skip(struct sw_front *fe, uint64_t start, uint64_t next,
    uint64_t *miss)
{
	uint64_t	 hit = 0;
	size_t		 i;

	*miss = 0;
	if (fe == NULL || start < fe->lo || next > fe->hi)
		return 0;
	while (fe->next < fe->n && fe->v[fe->next].at < start)
		fe->next++;
	for (i = fe->next; i < fe->n && fe->v[i].at < next; i++)
		hit |= fe->v[i].hit;
	if (i > fe->next) {
		*miss = fe->rules & ~hit;
		return 0;
	}
	*miss = fe->rules;
	return 1;
}

/* Forgets the last chunk: a new file begins. */
void
front_reset(struct sw_front *fe)
{
	if (fe == NULL)
		return;
	fe->n = fe->next = 0;
	fe->lo = fe->hi = 0;
}

#else	/* !SW_VECTORSCAN: every line is read */

struct sw_frontdb *
frontdb_new(void)
{
	return NULL;
}

void
frontdb_free(struct sw_frontdb *fd)
{
	(void)fd;
}

struct sw_front *
front_new(const struct sw_rules *rs)
{
	(void)rs;
	return NULL;
}

void
front_free(struct sw_front *fe)
{
	(void)fe;
}

void
front_chunk(struct sw_front *fe, const char *p, size_t n, uint64_t off)
{
	(void)fe;
	(void)p;
	(void)n;
	(void)off;
}

int
front_skip(struct sw_front *fe, uint64_t start, uint64_t next,
    uint64_t *miss)
{
	(void)fe;
	(void)start;
	(void)next;
	*miss = 0;
	return 0;
}

void
front_reset(struct sw_front *fe)
{
	(void)fe;
}

#endif
