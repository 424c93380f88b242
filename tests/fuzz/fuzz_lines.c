/*
 * fuzz_lines.c -- the tail reader's line splitter (lines.c) on a stream
 * cut into chunks at boundaries the input chooses: its first byte seeds
 * the chunk sizes, the rest is the stream.  Whatever the boundaries, the
 * lines handed on are those of a one-piece split: same bytes (cut at
 * SW_LINE_MAX, a CR before the newline removed), same offsets.
 */

#include <string.h>

#include "fuzz.h"

struct got {
	struct sw_lines	*ls;
	const uint8_t	*stream;
	size_t		 len;
	uint64_t	 expect;	/* where the next line must start */
	unsigned long	 n;
};

/* Checks one line against the stream itself. */
static void
got_line(void *arg, const char *p, size_t n, int cut)
{
	struct got	*g = arg;
	uint64_t	 start = g->ls->start, next = g->ls->next;
	size_t		 whole;

	FUZZ_CHECK(start == g->expect);
	FUZZ_CHECK(next > start || next == g->len);
	FUZZ_CHECK(next <= g->len);
	whole = (size_t)(next - start);
	if (whole > 0 && g->stream[next - 1] == '\n')
		whole--;
	if (!cut && whole > 0 && g->stream[start + whole - 1] == '\r')
		whole--;
	FUZZ_CHECK(n <= SW_LINE_MAX);
	FUZZ_CHECK(cut ? n <= whole : n == whole);
	FUZZ_CHECK(memcmp(p, g->stream + start, n) == 0);
	FUZZ_CHECK(memchr(p, '\n', n) == NULL);
	g->expect = next;
	g->n++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_lines	 ls;
	struct got	 g;
	uint32_t	 seed;
	size_t		 off, k;

	fuzz_quiet();
	if (size < 1)
		return 0;
	seed = data[0] * 2654435761u + 1;
	memset(&g, 0, sizeof(g));
	g.stream = data + 1;
	g.len = size - 1;
	g.ls = &ls;
	lines_init(&ls, got_line, &g);
	for (off = 0; off < g.len; off += k) {
		seed = seed * 1103515245u + 12345u;
		k = 1 + (seed >> 16) % 97;
		if (seed & 0x100)
			k *= 1021;		/* now and then a big one */
		if (k > g.len - off)
			k = g.len - off;
		lines_feed(&ls, (const char *)g.stream + off, k);
	}
	lines_finish(&ls);
	FUZZ_CHECK(g.expect == g.len);
	lines_free(&ls);
	return 0;
}
