/*
 * t_lines.c -- the line splitter: the same lines come out of a stream
 * however it is chunked; CR LF is stripped; an overlong line is cut to
 * SW_LINE_MAX and flagged, and the line after it is whole; a last line
 * without its newline comes out of lines_finish(); NUL bytes are data.
 * Each chunk is fed from an exactly sized heap copy, so the ASan build
 * catches a read past it.
 */

#include "../../daemon/lines.c"

#include <stdio.h>

#include "check.h"

#define MAXOUT	64

struct out {
	char	*p[MAXOUT];
	size_t	 len[MAXOUT];
	int	 cut[MAXOUT];
	size_t	 n;
	size_t	 toolong;	/* lines handed on longer than the bound */
};

/* The expected lines of the stream built by stream_build(). */
struct want {
	const char	*p;
	size_t		 len;
	int		 cut;
};

static void
on_line(void *arg, const char *p, size_t len, int cut)
{
	struct out	*o = arg;

	if (len > SW_LINE_MAX)
		o->toolong++;
	if (o->n == MAXOUT)
		return;
	o->p[o->n] = xmalloc(len);
	memcpy(o->p[o->n], p, len);
	o->len[o->n] = len;
	o->cut[o->n] = cut;
	o->n++;
}

static void
out_free(struct out *o)
{
	size_t	 i;

	for (i = 0; i < o->n; i++)
		free(o->p[i]);
	memset(o, 0, sizeof(*o));
}

/* Feeds buf in one chunk from a heap copy of exactly n bytes. */
static void
feed(struct sw_lines *ls, const char *buf, size_t n)
{
	char	*c;

	c = xmalloc(n);
	memcpy(c, buf, n);
	lines_feed(ls, c, n);
	free(c);
}

/* Splits s (n bytes) in chunks of the sizes next() returns. */
static void
split(const char *s, size_t n, size_t (*next)(void), struct out *o,
    int finish)
{
	struct sw_lines	 ls;
	size_t		 off, k;

	memset(o, 0, sizeof(*o));
	lines_init(&ls, on_line, o);
	for (off = 0; off < n; off += k) {
		k = next();
		if (k > n - off)
			k = n - off;
		feed(&ls, s + off, k);
	}
	if (finish)
		lines_finish(&ls);
	lines_free(&ls);
}

static unsigned int	 seed;
static size_t		 fixed;

static size_t
next_fixed(void)
{
	return fixed;
}

/* Mostly small chunks, some around the bound, a few huge. */
static size_t
next_random(void)
{
	seed = seed * 1103515245 + 12345;
	switch ((seed >> 16) % 4) {
	case 0:
		return 1 + (seed >> 8) % 7;
	case 1:
		return 1 + (seed >> 4) % 200;
	case 2:
		return SW_LINE_MAX - 3 + (seed >> 4) % 7;
	default:
		return 1 + (seed >> 4) % (3 * SW_LINE_MAX);
	}
}

/* 1 when o holds exactly the lines of w. */
static int
same(const struct out *o, const struct want *w, size_t nw)
{
	size_t	 i;

	if (o->n != nw || o->toolong != 0)
		return 0;
	for (i = 0; i < nw; i++)
		if (o->len[i] != w[i].len || o->cut[i] != w[i].cut ||
		    memcmp(o->p[i], w[i].p, w[i].len) != 0)
			return 0;
	return 1;
}

/* Appends n bytes to the stream. */
static void
put(char **s, size_t *len, const void *p, size_t n)
{
	*s = xreallocarray(*s, *len + n, 1);
	memcpy(*s + *len, p, n);
	*len += n;
}

static void
test_chunkings(void)
{
	static const size_t	 sizes[] = { 1, 2, 3, 7, 64, 4096, 65535,
	    65536, 65537, 131072 };
	struct want	 w[16];
	struct out	 o;
	char		*s = NULL, *lx, *ly, *lz;
	size_t		 n = 0, nw = 0, i, bad;

	/* Lines of exactly the bound, one over it, and far over it. */
	lx = xmalloc(SW_LINE_MAX + 5000);
	ly = xmalloc(SW_LINE_MAX + 5000);
	lz = xmalloc(SW_LINE_MAX + 5000);
	for (i = 0; i < SW_LINE_MAX + 5000; i++) {
		lx[i] = (char)('a' + i % 26);
		ly[i] = (char)('A' + i % 26);
		lz[i] = (char)('0' + i % 10);
	}

#define LINE(str, nl) do {						\
	put(&s, &n, str, sizeof(str) - 1);				\
	put(&s, &n, nl, sizeof(nl) - 1);				\
	w[nw].p = str;							\
	w[nw].len = sizeof(str) - 1;					\
	w[nw++].cut = 0;						\
} while (0)
	LINE("Nov 28 04:08:29 mx1 postfix/smtpd[1]: first", "\n");
	LINE("", "\n");
	LINE("crlf line", "\r\n");
	LINE("", "\r\n");
	LINE("a\0NUL\0inside", "\n");
	LINE("a lone \r inside", "\n");
	LINE("\x01\xff binary", "\n");

	put(&s, &n, lx, SW_LINE_MAX);		/* exactly the bound */
	put(&s, &n, "\n", 1);
	w[nw].p = lx, w[nw].len = SW_LINE_MAX, w[nw++].cut = 0;
	LINE("after exact", "\n");
	put(&s, &n, ly, SW_LINE_MAX + 1);	/* one byte over */
	put(&s, &n, "\n", 1);
	w[nw].p = ly, w[nw].len = SW_LINE_MAX, w[nw++].cut = 1;
	LINE("after one over", "\n");
	put(&s, &n, lz, SW_LINE_MAX + 5000);	/* far over, with CR LF */
	put(&s, &n, "\r\n", 2);
	w[nw].p = lz, w[nw].len = SW_LINE_MAX, w[nw++].cut = 1;
	LINE("after far over", "\r\n");
	LINE("last", "");			/* no newline */
#undef LINE

	/* All at once, and fixed sizes around the bound. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fixed = sizes[i];
		split(s, n, next_fixed, &o, 1);
		if (!CHECK(same(&o, w, nw)))
			fprintf(stderr, "\tchunks of %zu: %zu lines\n",
			    sizes[i], o.n);
		out_free(&o);
	}
	fixed = n;
	split(s, n, next_fixed, &o, 1);
	CHECK(same(&o, w, nw));
	CHECK_INT(o.n, nw);
	CHECK_MEM(o.p[2], o.len[2], "crlf line", 9);
	CHECK_INT(o.len[3], 0);
	CHECK_MEM(o.p[4], o.len[4], "a\0NUL\0inside", 12);
	CHECK_INT(o.cut[9], 1);
	CHECK_INT(o.len[9], SW_LINE_MAX);
	CHECK_MEM(o.p[10], o.len[10], "after one over", 14);
	CHECK_INT(o.cut[10], 0);
	CHECK_MEM(o.p[nw - 1], o.len[nw - 1], "last", 4);
	out_free(&o);

	/* Random chunk sizes, fixed seeds. */
	bad = 0;
	for (seed = 1; seed < 40; seed++) {
		split(s, n, next_random, &o, 1);
		bad += !same(&o, w, nw);
		out_free(&o);
	}
	CHECK_INT(bad, 0);

	/* Without lines_finish() the partial last line stays held. */
	fixed = 5;
	split(s, n, next_fixed, &o, 0);
	CHECK(same(&o, w, nw - 1));
	out_free(&o);

	free(s);
	s = NULL;
	n = 0;

	/* Byte by byte: a smaller stream, same rules. */
	nw = 0;
#define LINE(str, nl) do {						\
	put(&s, &n, str, sizeof(str) - 1);				\
	put(&s, &n, nl, sizeof(nl) - 1);				\
	w[nw].p = str;							\
	w[nw].len = sizeof(str) - 1;					\
	w[nw++].cut = 0;						\
} while (0)
	LINE("one", "\r\n");
	LINE("\0", "\n");
	put(&s, &n, ly, SW_LINE_MAX + 3);
	put(&s, &n, "\n", 1);
	w[nw].p = ly, w[nw].len = SW_LINE_MAX, w[nw++].cut = 1;
	LINE("two", "\n");
	LINE("three\r", "");		/* the CR of a last line goes too */
	w[nw - 1].len--;
#undef LINE
	fixed = 1;
	split(s, n, next_fixed, &o, 1);
	CHECK(same(&o, w, nw));
	CHECK_INT(o.n, nw);
	out_free(&o);
	fixed = n;
	split(s, n, next_fixed, &o, 1);
	CHECK(same(&o, w, nw));
	out_free(&o);

	free(s);
	free(lx);
	free(ly);
	free(lz);
}

static void
test_edges(void)
{
	struct sw_lines	 ls;
	struct out	 o;
	char		*big;

	/* Nothing in, nothing out; a newline alone is one empty line. */
	memset(&o, 0, sizeof(o));
	lines_init(&ls, on_line, &o);
	lines_finish(&ls);
	CHECK_INT(o.n, 0);
	feed(&ls, "\n", 1);
	CHECK_INT(o.n, 1);
	CHECK_INT(o.len[0], 0);
	CHECK_INT(o.cut[0], 0);
	lines_finish(&ls);
	CHECK_INT(o.n, 1);

	/* CR and LF split across chunks. */
	feed(&ls, "ab\r", 3);
	CHECK_INT(o.n, 1);
	feed(&ls, "\ncd", 3);
	CHECK_INT(o.n, 2);
	CHECK_MEM(o.p[1], o.len[1], "ab", 2);
	lines_finish(&ls);
	CHECK_INT(o.n, 3);
	CHECK_MEM(o.p[2], o.len[2], "cd", 2);
	lines_finish(&ls);		/* twice: nothing more */
	CHECK_INT(o.n, 3);

	/* An overlong last line without a newline: cut at finish. */
	big = xmalloc(SW_LINE_MAX + 10);
	memset(big, 'x', SW_LINE_MAX + 10);
	feed(&ls, big, SW_LINE_MAX + 10);
	CHECK_INT(o.n, 3);
	feed(&ls, big, 10);
	lines_finish(&ls);
	CHECK_INT(o.n, 4);
	CHECK_INT(o.len[3], SW_LINE_MAX);
	CHECK_INT(o.cut[3], 1);
	/* The state is clean again. */
	feed(&ls, "ok\n", 3);
	CHECK_INT(o.n, 5);
	CHECK_MEM(o.p[4], o.len[4], "ok", 2);
	CHECK_INT(o.cut[4], 0);
	lines_free(&ls);
	lines_free(&ls);		/* idempotent */
	free(big);
	out_free(&o);
}

int
main(void)
{
	test_chunkings();
	test_edges();
	return check_done();
}
