/*
 * fuzz_parse.c -- the envelope parser (parse.c) on one line of any
 * bytes: whatever it finds (host, tag, message) lies inside the line,
 * the part numbers of an Exim series are in range, a pid is not
 * negative, a repeat count is within its bound.  (Exim's mainlog has no tag: the parser names it "exim".)
 */

#include <string.h>

#include "fuzz.h"

static int
inside(const char *p, size_t n, const uint8_t *buf, size_t len)
{
	const char	*b = (const char *)buf;

	return p == NULL ? n == 0 : p >= b && p + n <= b + len;
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
	free(copy);
	return 0;
}
