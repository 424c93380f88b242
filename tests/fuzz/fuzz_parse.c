/*
 * fuzz_parse.c -- the envelope parser (parse.c) on one line of any
 * bytes: whatever it finds (host, tag, message) lies inside the line,
 * the part numbers of an Exim series are in range, a pid is not
 * negative, a repeat count is within its bound.  (Exim's mainlog has no tag: the parser names it "exim".)
 * Then the input as two lines, split at its first newline: the second
 * line's time, bad-day flag and clock are the same from parse_stamp()
 * as from parse_line(), the first read by parse_line() (stamp_same).
 */

#include <string.h>

#include "fuzz.h"

static int
inside(const char *p, size_t n, const uint8_t *buf, size_t len)
{
	const char	*b = (const char *)buf;

	return p == NULL ? n == 0 : p >= b && p + n <= b + len;
}

static void
stamp_same(const char *p, size_t size)
{
	struct sw_clock	 a, b;
	struct sw_line	 l;
	const char	*nl = memchr(p, '\n', size);
	size_t		 n1, n2;
	time_t		 t;
	int		 bad;

	if (nl == NULL)
		return;
	n1 = (size_t)(nl - p);
	n2 = size - n1 - 1;
	clock_init(&a, 1795910400);
	clock_init(&b, 1795910400);
	(void)parse_line(&a, p, n1, &l);
	(void)parse_line(&b, p, n1, &l);
	(void)parse_line(&a, nl + 1, n2, &l);
	t = parse_stamp(&b, nl + 1, n2, &bad);
	FUZZ_CHECK(t == l.when && bad == l.baddate);
	FUZZ_CHECK(a.year == b.year && a.month == b.month &&
	    a.newest == b.newest && a.last == b.last);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_clock	 c;
	struct sw_line	 l;
	uint8_t		*copy;

	fuzz_quiet();
	/* An exact copy, so that ASan sees a read past the line's end. */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	clock_init(&c, 1795910400);	/* 2026-11-28 */
	memset(&l, 0, sizeof(l));
	(void)parse_line(&c, (const char *)copy, size, &l);
	FUZZ_CHECK(inside(l.host, l.hostlen, copy, size));
	/* Exim's own mainlog has no tag: the parser says "exim". */
	FUZZ_CHECK(inside(l.tag, l.taglen, copy, size) ||
	    (l.fmt == SW_FMT_EXIM && l.taglen == 4 &&
	    memcmp(l.tag, "exim", 4) == 0));
	FUZZ_CHECK(inside(l.msg, l.msglen, copy, size));
	FUZZ_CHECK(l.part >= 0 && l.part <= l.parts && l.parts <= 99);
	FUZZ_CHECK(l.pid >= 0);
	FUZZ_CHECK(l.repeat <= SW_REPEAT_MAX);
	FUZZ_CHECK(!l.repcapped || l.repeat == SW_REPEAT_MAX);
	stamp_same((const char *)copy, size);
	free(copy);
	return 0;
}
