/*
 * t_parse.c -- the syslog envelope: classic stamps and the year they
 * belong to, RFC 3339 and Exim stamps, <PRI>, doubled headers, Exim's
 * part prefix, program tags, and garbage that must parse as nothing.
 * Every line is parsed from an exactly sized heap copy, so the ASan
 * build catches a read past its end.
 */

#include "../../daemon/parse.c"

#include <stdlib.h>

#include "check.h"

static char		*scratch;
static struct sw_line	 L;

/* Parses len bytes of s from a heap copy of exactly that size. */
static int
parse(struct sw_clock *c, const char *s, size_t len)
{
	free(scratch);
	scratch = xmalloc(len);
	memcpy(scratch, s, len);
	return parse_line(c, scratch, len, &L);
}

#define P(c, s)			parse((c), (s), strlen(s))
#define CHECK_SPAN(p, n, s)	CHECK_MEM((p), (n), (s), strlen(s))

/* The message of L is the rest of the line, to its last byte. */
static int
msg_ends_line(size_t len)
{
	return L.msg >= scratch && L.msg + L.msglen == scratch + len;
}

static void
test_classic(void)
{
	struct sw_clock	 c;

	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 postfix/smtpd[4242]: warning: x"),
	    1);
	CHECK_INT(L.fmt, SW_FMT_CLASSIC);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_SPAN(L.host, L.hostlen, "mx1");
	CHECK_SPAN(L.tag, L.taglen, "postfix/smtpd");
	CHECK_INT(L.pid, 4242);
	CHECK_INT(L.mta, SW_MTA_POSTFIX);
	CHECK_SPAN(L.msg, L.msglen, "warning: x");
	CHECK_INT(L.part, 0);
	CHECK_INT(L.parts, 0);

	/* Seconds within the cached minute, then the next minutes. */
	CHECK_INT(P(&c, "Nov 28 04:08:30 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 30));
	CHECK_INT(P(&c, "Nov 28 04:09:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 9, 0));
	CHECK_INT(P(&c, "Nov 28 04:08:59 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 59));
	CHECK_INT(P(&c, "Nov 28 05:08:59 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 5, 8, 59));

	/* Single-digit days: padded, and the unpadded form. */
	CHECK_INT(P(&c, "Nov  8 04:08:29 mx1 postfix/smtpd[1]: hi"), 1);
	CHECK_INT(L.fmt, SW_FMT_CLASSIC);
	CHECK_INT(L.when, check_utc(2026, 11, 8, 4, 8, 29));
	CHECK_SPAN(L.host, L.hostlen, "mx1");
	CHECK_SPAN(L.msg, L.msglen, "hi");
	CHECK_INT(P(&c, "Nov 8 04:08:29 mx1 postfix/smtpd[1]: hi"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 8, 4, 8, 29));
	CHECK_SPAN(L.host, L.hostlen, "mx1");

	/* A header without a tag: the message follows the host. */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 no tag here"), 1);
	CHECK_INT(L.fmt, SW_FMT_CLASSIC);
	CHECK(L.tag == NULL);
	CHECK_INT(L.mta, SW_MTA_UNKNOWN);
	CHECK_SPAN(L.msg, L.msglen, "no tag here");

	/* Not stamps. */
	CHECK_INT(P(&c, "Nov 28 4:08:29 mx1 a: b"), 0);
	CHECK_INT(P(&c, "Foo 28 04:08:29 mx1 a: b"), 0);
	CHECK_INT(P(&c, "nov 28 04:08:29 mx1 a: b"), 0);
	CHECK_INT(P(&c, "Nov 00 04:08:29 mx1 a: b"), 0);
	CHECK_INT(P(&c, "Nov 32 04:08:29 mx1 a: b"), 0);
	CHECK_INT(P(&c, "Nov 28 04.08.29 mx1 a: b"), 0);
	CHECK_INT(P(&c, "Nov 28 04:08:29"), 0);
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1"), 0);
	CHECK_INT(L.fmt, SW_FMT_NONE);
	CHECK_INT(L.when, 0);
}

static void
test_year(void)
{
	struct sw_clock	 c;

	/* Reference in Nov 2026. */
	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));

	/* An earlier month of the same year. */
	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "Jan  5 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 1, 5, 10, 0, 0));

	/* A Dec line read in Jan 2027 is from Dec 2026. */
	clock_init(&c, check_utc(2027, 1, 10, 12, 0, 0));
	CHECK_INT(P(&c, "Dec 30 18:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 30, 18, 0, 0));

	/* Months ahead of the reference are last year's. */
	clock_init(&c, check_utc(2027, 1, 15, 0, 0, 0));
	CHECK_INT(P(&c, "Mar  3 01:02:03 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 3, 3, 1, 2, 3));

	/* The Dec -> Jan turn within one clock. */
	clock_init(&c, check_utc(2026, 12, 31, 23, 59, 59));
	CHECK_INT(P(&c, "Dec 31 23:59:59 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 31, 23, 59, 59));
	CHECK_INT(P(&c, "Jan  1 00:00:01 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 1, 1, 0, 0, 1));
	CHECK_INT(L.when - check_utc(2026, 12, 31, 23, 59, 59), 2);
	CHECK_INT(P(&c, "Jan  1 00:00:02 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 1, 1, 0, 0, 2));
	/* A straggler from before the turn, then on again. */
	CHECK_INT(P(&c, "Dec 31 23:59:58 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 31, 23, 59, 58));
	CHECK_INT(P(&c, "Jan  1 00:00:03 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 1, 1, 0, 0, 3));

	/* Started just after the turn on a file that spans it. */
	clock_init(&c, check_utc(2027, 1, 1, 0, 0, 30));
	CHECK_INT(P(&c, "Dec 31 23:59:59 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 31, 23, 59, 59));
	CHECK_INT(P(&c, "Jan  1 00:00:01 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 1, 1, 0, 0, 1));
}

/*
 * Issue 18, finding 10: the year of classic stamps at the turns a log
 * really takes.  A log is read forward in time, and no line is placed
 * after the month following the reference (the wall clock for the
 * daemon, a file's mtime for scan).
 */
static void
test_year_turns(void)
{
	struct sw_clock	 c;

	/*
	 * Dec 31 -> Jan 1 into 2027, which has no Feb 29: that line keeps
	 * the time of the line before it and is flagged, never 2027-03-01.
	 * The clock is not moved by it: Mar 1 is still 2027.
	 */
	clock_init(&c, check_utc(2027, 3, 10, 12, 0, 0));
	CHECK_INT(P(&c, "Dec 31 23:59:59 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 31, 23, 59, 59));
	CHECK_INT(P(&c, "Jan  1 00:00:01 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 1, 1, 0, 0, 1));
	CHECK_INT(P(&c, "Feb 28 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 2, 28, 10, 0, 0));
	CHECK_INT(P(&c, "Feb 29 10:00:00 mx1 a: b"), 1);
	CHECK(L.when != check_utc(2027, 3, 1, 10, 0, 0));
	CHECK_INT(L.when, check_utc(2027, 2, 28, 10, 0, 0));
	CHECK_INT(L.baddate, 1);
	CHECK_SPAN(L.tag, L.taglen, "a");
	CHECK_SPAN(L.msg, L.msglen, "b");
	CHECK_INT(P(&c, "Mar  1 00:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 3, 1, 0, 0, 0));
	CHECK_INT(L.baddate, 0);

	/* In a leap year Feb 29 is a day like another. */
	clock_init(&c, check_utc(2028, 3, 10, 12, 0, 0));
	CHECK_INT(P(&c, "Feb 29 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2028, 2, 29, 10, 0, 0));
	CHECK_INT(L.baddate, 0);

	/* Other days no month has: the line before's time, or the reference. */
	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "Apr 31 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(L.baddate, 1);
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_INT(P(&c, "Feb 30 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_INT(L.baddate, 1);
	CHECK_INT(P(&c, "2026-02-29T10:00:00Z mx1 a: b"), 1);
	CHECK_INT(L.fmt, SW_FMT_RFC3339);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_INT(L.baddate, 1);
	CHECK_INT(P(&c, "2026-06-31 10:00:00 [1] x"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_INT(L.baddate, 1);
	CHECK_INT(P(&c, "2028-02-29T10:00:00Z mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2028, 2, 29, 10, 0, 0));
	CHECK_INT(L.baddate, 0);
	/* Times no day has are no stamps at all. */
	CHECK_INT(P(&c, "Nov 28 24:00:00 mx1 a: b"), 0);
	CHECK_INT(P(&c, "Nov 28 23:60:00 mx1 a: b"), 0);
	CHECK_INT(P(&c, "Nov 28 23:59:61 mx1 a: b"), 0);
	CHECK_INT(P(&c, "2026-13-01T10:00:00Z mx1 a: b"), 0);
	CHECK_INT(P(&c, "2026-11-32T10:00:00Z mx1 a: b"), 0);
	CHECK_INT(P(&c, "2026-11-28T25:00:00Z mx1 a: b"), 0);

	/*
	 * A gap of more than six months forward within a year: Jan, then
	 * Aug of the same year, never of the year before.
	 */
	clock_init(&c, check_utc(2027, 9, 15, 0, 0, 0));
	CHECK_INT(P(&c, "Jan  5 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 1, 5, 10, 0, 0));
	CHECK_INT(P(&c, "Aug 10 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 8, 10, 10, 0, 0));
	CHECK_INT(P(&c, "Aug 10 10:00:01 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 8, 10, 10, 0, 1));

	/* ... and across the turn: Aug, then Apr of the next year. */
	clock_init(&c, check_utc(2027, 4, 20, 0, 0, 0));
	CHECK_INT(P(&c, "Aug 10 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 8, 10, 10, 0, 0));
	CHECK_INT(P(&c, "Apr  2 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 4, 2, 10, 0, 0));
	CHECK_INT(P(&c, "Apr  2 10:00:01 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 4, 2, 10, 0, 1));

	/* Dec, then Oct of the next year (ten months on). */
	clock_init(&c, check_utc(2027, 10, 20, 0, 0, 0));
	CHECK_INT(P(&c, "Dec 20 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 20, 10, 0, 0));
	CHECK_INT(P(&c, "Oct  1 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 10, 1, 10, 0, 0));

	/*
	 * A line out of order by more than a day, whose next year would be
	 * after the reference: this year, and the clock stays where it is.
	 */
	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "Nov  3 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 3, 10, 0, 0));
	CHECK_INT(P(&c, "Oct 30 09:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 10, 30, 9, 0, 0));
	CHECK_INT(P(&c, "Nov  3 10:00:05 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 3, 10, 0, 5));

	/*
	 * A line from a host whose clock runs a week ahead, read at the turn
	 * (Jan 3 among Dec 27 lines): this year's, and the Dec lines after
	 * it stay in Dec, not in the Dec of the year before.
	 */
	clock_init(&c, check_utc(2026, 12, 27, 12, 0, 0));
	CHECK_INT(P(&c, "Dec 27 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 27, 10, 0, 0));
	CHECK_INT(P(&c, "Jan  3 10:00:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 1, 3, 10, 0, 0));
	CHECK_INT(P(&c, "Dec 27 10:00:01 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 27, 10, 0, 1));
}

/* Where a checkpoint left the clock, and the wall clock as reference. */
static void
test_year_resume(void)
{
	struct sw_clock	 c;
	struct tm	 tm;
	time_t		 now;
	char		 line[64];

	/* Resumed in Dec 2026, read in Jan 2027: on from Dec, then Jan. */
	clock_init(&c, check_utc(2027, 1, 2, 0, 0, 0));
	clock_resume(&c, 2026, 11, 0, 0);
	CHECK_INT(P(&c, "Nov 30 23:59:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 30, 23, 59, 0));
	CHECK_INT(P(&c, "Dec 31 23:59:59 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 31, 23, 59, 59));
	CHECK_INT(P(&c, "Jan  1 00:00:01 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2027, 1, 1, 0, 0, 1));

	/* An older version's "not yet seen" (-1 - the month): the reference. */
	clock_init(&c, check_utc(2027, 1, 2, 0, 0, 0));
	clock_resume(&c, 2026, -11, 0, 0);
	CHECK_INT(P(&c, "Dec 31 23:59:59 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 31, 23, 59, 59));

	/* Reference 0: the wall clock; this month is this year's. */
	clock_init(&c, 0);
	now = time(NULL);
	gmtime_r(&now, &tm);
	snprintf(line, sizeof(line), "%.3s %2d 00:00:00 mx1 a: b",
	    months + 3 * tm.tm_mon, tm.tm_mday);
	CHECK_INT(P(&c, line), 1);
	CHECK_INT(L.when, check_utc(tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, 0, 0, 0));
}

/* rsyslog's "message repeated N times: [ MSG]" (issue 18, finding 5). */
static void
test_repeat(void)
{
	static const char *const nots[] = {
		"Nov 28 04:08:29 mx1 a[1]: message repeated 0 times: [ b]",
		"Nov 28 04:08:29 mx1 a[1]: message repeated 4 times: [ b",
		"Nov 28 04:08:29 mx1 a[1]: message repeated times: [ b]",
		"Nov 28 04:08:29 mx1 a[1]: message repeated 4 times [ b]",
		"Nov 28 04:08:29 mx1 a[1]: last message repeated 4 times",
		"Nov 28 04:08:29 mx1 a[1]: x message repeated 4 times: [ b]",
		"Nov 28 04:08:29 mx1 message repeated 4 times: [ b]",
		"message repeated 4 times: [ b]",
	};
	struct sw_clock	 c;
	char		*big;
	size_t		 n;

	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "Nov 28 04:35:44 mx1 postfix/smtpd[29503]: message "
	    "repeated 40 times: [ warning: x, sasl_username=admin]"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 35, 44));
	CHECK_SPAN(L.tag, L.taglen, "postfix/smtpd");
	CHECK_INT(L.pid, 29503);
	CHECK_INT(L.repeat, 40);
	CHECK_INT(L.repcapped, 0);
	CHECK_INT(L.repcut, 0);
	CHECK_SPAN(L.msg, L.msglen, "warning: x, sasl_username=admin");

	/* Without rsyslog's blank; a "]" inside; the last "]" ends it. */
	CHECK_INT(P(&c, "2026-11-28T04:35:44+00:00 mx1 dovecot: message "
	    "repeated 2 times: [auth: x]y]]"), 1);
	CHECK_INT(L.repeat, 2);
	CHECK_SPAN(L.msg, L.msglen, "auth: x]y]");

	/* Exim's part prefix and own stamp are read inside. */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 exim[7]: message repeated 3 "
	    "times: [ [1\\2] 2026-11-28 04:08:29 [7] H=(x) [192.0.2.1] a]"),
	    1);
	CHECK_INT(L.repeat, 3);
	CHECK_INT(L.part, 1);
	CHECK_INT(L.parts, 2);
	CHECK_SPAN(L.msg, L.msglen, "H=(x) [192.0.2.1] a");

	/* Counts above SW_REPEAT_MAX, of any length, are cut and said. */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 a[1]: message repeated "
	    "2147483647 times: [ b]"), 1);
	CHECK_INT(L.repeat, SW_REPEAT_MAX);
	CHECK_INT(L.repcapped, 1);
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 a[1]: message repeated "
	    "99999999999999999999999999999999999999999 times: [ b]"), 1);
	CHECK_INT(L.repeat, SW_REPEAT_MAX);
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 a[1]: message repeated 1000 "
	    "times: [ b]"), 1);
	CHECK_INT(L.repeat, 1000);
	CHECK_INT(L.repcapped, 0);

	/* A message of rsyslog's 800 bytes may have been cut. */
	big = xmalloc(1024);
	n = (size_t)snprintf(big, 1024, "Nov 28 04:08:29 mx1 a[1]: message "
	    "repeated 2 times: [");
	memset(big + n, 'x', 800);
	big[n + 800] = ']';
	CHECK_INT(parse(&c, big, n + 801), 1);
	CHECK_INT(L.repeat, 2);
	CHECK_INT(L.repcut, 1);
	CHECK_INT(L.msglen, 800);
	CHECK_INT(parse(&c, big, n + 799), 1);	/* no "]": not rsyslog's */
	CHECK_INT(L.repeat, 0);
	free(big);

	/* Not rsyslog's: the message is left as it is. */
	for (n = 0; n < sizeof(nots) / sizeof(nots[0]); n++) {
		P(&c, nots[n]);
		CHECK_INT(L.repeat, 0);
		CHECK(msg_ends_line(strlen(nots[n])));
	}
}

static void
test_rfc3339(void)
{
	struct sw_clock	 c;

	/* The clock's year plays no part. */
	clock_init(&c, check_utc(2020, 6, 1, 0, 0, 0));
	CHECK_INT(P(&c, "2026-11-28T04:35:04.423343+00:00 mx1 "
	    "postfix/smtpd[77]: connect from x"), 1);
	CHECK_INT(L.fmt, SW_FMT_RFC3339);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 35, 4));
	CHECK_SPAN(L.host, L.hostlen, "mx1");
	CHECK_SPAN(L.tag, L.taglen, "postfix/smtpd");
	CHECK_INT(L.pid, 77);
	CHECK_SPAN(L.msg, L.msglen, "connect from x");

	CHECK_INT(P(&c, "2026-11-28T04:35:04.423343+01:00 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 3, 35, 4));
	CHECK_INT(P(&c, "2026-11-28T04:35:04-05:30 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 10, 5, 4));
	CHECK_INT(P(&c, "2026-11-28T04:35:04+0100 mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 3, 35, 4));
	CHECK_INT(P(&c, "2026-11-28T04:35:04Z mx1 a: b"), 1);
	CHECK_INT(L.fmt, SW_FMT_RFC3339);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 35, 4));
	CHECK_INT(P(&c, "2026-11-28T04:35:04.5Z mx1 a: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 35, 4));
	CHECK_SPAN(L.msg, L.msglen, "b");

	/* No offset, no host, a bad offset: no envelope. */
	CHECK_INT(P(&c, "2026-11-28T04:35:04 mx1 a: b"), 0);
	CHECK_INT(P(&c, "2026-11-28T04:35:04.1+01:00"), 0);
	CHECK_INT(P(&c, "2026-11-28T04:35:04+1:00 mx1 a: b"), 0);
	CHECK_INT(L.fmt, SW_FMT_NONE);

	/* ISO stamps with a blank, as some syslogs write them. */
	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "2026-11-28 04:08:29 mx1 postfix/smtpd[7]: hi"), 1);
	CHECK_INT(L.fmt, SW_FMT_RFC3339);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_SPAN(L.host, L.hostlen, "mx1");
	CHECK_SPAN(L.tag, L.taglen, "postfix/smtpd");
	CHECK_INT(L.pid, 7);
	CHECK_SPAN(L.msg, L.msglen, "hi");
}

static void
test_exim_mainlog(void)
{
	struct sw_clock	 c;

	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "2026-11-28 04:08:29 [1234] 1xXAD1-00084a-2n <= "
	    "a@example.org H=(x) [192.0.2.1] P=esmtpa A=plain:bob"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_SPAN(L.tag, L.taglen, "exim");
	CHECK_INT(L.mta, SW_MTA_EXIM);
	CHECK_INT(L.pid, 1234);
	CHECK(L.host == NULL);
	CHECK_INT(L.hostlen, 0);
	CHECK_SPAN(L.msg, L.msglen, "1xXAD1-00084a-2n <= a@example.org "
	    "H=(x) [192.0.2.1] P=esmtpa A=plain:bob");

	/* Without [pid]. */
	CHECK_INT(P(&c, "2026-11-28 04:08:29 dovecot_login authenticator "
	    "failed for (x) [192.0.2.1]: 535 Incorrect authentication data "
	    "(set_id=bob)"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_INT(L.pid, 0);
	CHECK_SPAN(L.msg, L.msglen, "dovecot_login authenticator failed "
	    "for (x) [192.0.2.1]: 535 Incorrect authentication data "
	    "(set_id=bob)");

	/* With a message id and no pid. */
	CHECK_INT(P(&c, "2026-11-28 04:08:30 1xXAD1-00084a-2n ** "
	    "bob@example.org R=smarthost T=remote_smtp: SMTP error"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 30));
	CHECK_SPAN(L.msg, L.msglen, "1xXAD1-00084a-2n ** bob@example.org "
	    "R=smarthost T=remote_smtp: SMTP error");
	CHECK_INT(P(&c, "2026-11-28 04:08:31 1xXAD1-00084a-2n Completed"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_SPAN(L.msg, L.msglen, "1xXAD1-00084a-2n Completed");

	/*
	 * A message id then "Word:" is still Exim, not an ISO-stamp syslog
	 * line from host 1xXAD1-00084a-2n with tag DKIM.
	 */
	CHECK_INT(P(&c, "2026-11-28 04:08:29 1xXAD1-00084a-2n DKIM: "
	    "d=example.com s=sel [verification succeeded]"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_INT(L.mta, SW_MTA_EXIM);
	CHECK_SPAN(L.msg, L.msglen, "1xXAD1-00084a-2n DKIM: d=example.com "
	    "s=sel [verification succeeded]");
	CHECK_INT(P(&c, "2026-11-28 04:08:29 1rLmNo-000000001r0-1AbC DKIM: "
	    "d=example.com"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);

	/* log_selector +millisec, and the offset of +tz. */
	CHECK_INT(P(&c, "2026-11-28 04:08:29.123 [1] x"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_INT(L.pid, 1);
	CHECK_SPAN(L.msg, L.msglen, "x");
	CHECK_INT(P(&c, "2026-11-28 04:08:29 +0100 [1234] 1xXAD1-00084a-2n "
	    "Completed"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 3, 8, 29));
	CHECK_INT(L.pid, 1234);
	CHECK_SPAN(L.msg, L.msglen, "1xXAD1-00084a-2n Completed");
	CHECK_INT(P(&c, "2026-11-28 04:08:29 -0500 msg"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 9, 8, 29));
	CHECK_SPAN(L.msg, L.msglen, "msg");

	/* "[pid]" without the blank after it stays in the message. */
	CHECK_INT(P(&c, "2026-11-28 04:08:29 [12]x"), 1);
	CHECK_INT(L.pid, 0);
	CHECK_SPAN(L.msg, L.msglen, "[12]x");
}

static void
test_exim_syslog(void)
{
	struct sw_clock	 c;

	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 exim[1234]: [1\\2] 2026-11-28 "
	    "04:08:29 [1234] H=(x) [192.0.2.1] rejected AUTH"), 1);
	CHECK_INT(L.fmt, SW_FMT_CLASSIC);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_SPAN(L.tag, L.taglen, "exim");
	CHECK_INT(L.mta, SW_MTA_EXIM);
	CHECK_INT(L.pid, 1234);
	CHECK_INT(L.part, 1);
	CHECK_INT(L.parts, 2);
	CHECK_SPAN(L.msg, L.msglen, "H=(x) [192.0.2.1] rejected AUTH");

	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 exim[1234]: [2/2] the rest"), 1);
	CHECK_INT(L.part, 2);
	CHECK_INT(L.parts, 2);
	CHECK_SPAN(L.msg, L.msglen, "the rest");

	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 exim[1234]: [10\\12] x"), 1);
	CHECK_INT(L.part, 10);
	CHECK_INT(L.parts, 12);
	CHECK_SPAN(L.msg, L.msglen, "x");

	/* Only the inner stamp: stripped, the syslog stamp kept. */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 exim4[99]: 2026-11-28 04:08:00 "
	    "plain_server authenticator failed for (x) [192.0.2.1]"), 1);
	CHECK_SPAN(L.tag, L.taglen, "exim4");
	CHECK_INT(L.mta, SW_MTA_EXIM);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_INT(L.part, 0);
	CHECK_SPAN(L.msg, L.msglen, "plain_server authenticator failed for "
	    "(x) [192.0.2.1]");

	/* Not part prefixes. */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 exim[1]: [3\\2] x"), 1);
	CHECK_INT(L.part, 0);
	CHECK_INT(L.parts, 0);
	CHECK_SPAN(L.msg, L.msglen, "[3\\2] x");
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 exim[1]: [1-2] x"), 1);
	CHECK_INT(L.part, 0);
	CHECK_SPAN(L.msg, L.msglen, "[1-2] x");
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 exim[1]: [1\\2]x"), 1);
	CHECK_INT(L.part, 0);

	/* Through an ISO-stamp syslog. */
	CHECK_INT(P(&c, "2026-11-28 04:08:29 mx1 exim[5]: [1\\3] 2026-11-28 "
	    "04:08:29 [5] first"), 1);
	CHECK_INT(L.fmt, SW_FMT_RFC3339);
	CHECK_INT(L.part, 1);
	CHECK_INT(L.parts, 3);
	CHECK_INT(L.pid, 5);
	CHECK_SPAN(L.msg, L.msglen, "first");

	/* Not Exim: its part prefix is left alone. */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 postfix/smtpd[1]: [1\\2] x"), 1);
	CHECK_INT(L.part, 0);
	CHECK_SPAN(L.msg, L.msglen, "[1\\2] x");
}

static void
test_prefixes(void)
{
	struct sw_clock	 c;

	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_INT(P(&c, "Nov 28 04:08:29 collector Nov 28 04:08:29 mx1 "
	    "postfix/smtpd[1]: msg"), 1);
	CHECK_INT(L.fmt, SW_FMT_CLASSIC);
	CHECK_SPAN(L.host, L.hostlen, "mx1");
	CHECK_SPAN(L.tag, L.taglen, "postfix/smtpd");
	CHECK_INT(L.pid, 1);
	CHECK_INT(L.mta, SW_MTA_POSTFIX);
	CHECK_SPAN(L.msg, L.msglen, "msg");

	CHECK_INT(P(&c, "2026-11-28T04:08:29+00:00 collector Nov 28 04:08:29 "
	    "mx1 postfix/smtpd[2]: msg"), 1);
	CHECK_SPAN(L.host, L.hostlen, "mx1");
	CHECK_SPAN(L.tag, L.taglen, "postfix/smtpd");
	CHECK_INT(L.pid, 2);
	CHECK_SPAN(L.msg, L.msglen, "msg");

	CHECK_INT(P(&c, "<22>Nov 28 04:08:29 mx1 postfix/smtpd[3]: msg"), 1);
	CHECK_INT(L.fmt, SW_FMT_CLASSIC);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_SPAN(L.host, L.hostlen, "mx1");
	CHECK_SPAN(L.tag, L.taglen, "postfix/smtpd");
	CHECK_INT(L.pid, 3);
	CHECK_SPAN(L.msg, L.msglen, "msg");
	CHECK_INT(P(&c, "<13>1 2026-11-28T04:08:29Z mx1 postfix/smtpd[4]: m"),
	    1);
	CHECK_INT(L.fmt, SW_FMT_RFC3339);
	CHECK_INT(L.pid, 4);
	CHECK_INT(P(&c, "<13>2026-11-28 04:08:29 [9] x"), 1);
	CHECK_INT(L.fmt, SW_FMT_EXIM);
	CHECK_INT(L.pid, 9);
	CHECK_INT(P(&c, "<x>Nov 28 04:08:29 mx1 a: b"), 0);
	CHECK_INT(P(&c, "<>Nov 28 04:08:29 mx1 a: b"), 0);
	CHECK_INT(P(&c, "<12345>Nov 28 04:08:29 mx1 a: b"), 0);

	/*
	 * Once a tag is found the rest is the message, whatever it looks
	 * like: text that starts with a stamp (a local "logger", a relayed
	 * line quoted in a message) must neither replace the envelope nor
	 * move the clock.
	 */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 logger[5]: Nov 28 04:08:29 fake "
	    "postfix/smtpd[1]: warning: x"), 1);
	CHECK_SPAN(L.host, L.hostlen, "mx1");
	CHECK_SPAN(L.tag, L.taglen, "logger");
	CHECK_INT(L.pid, 5);
	CHECK_INT(L.mta, SW_MTA_UNKNOWN);
	CHECK_SPAN(L.msg, L.msglen, "Nov 28 04:08:29 fake postfix/smtpd[1]: "
	    "warning: x");
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 dovecot: Nov 28 05:00:00 x"), 1);
	CHECK_INT(L.when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_SPAN(L.tag, L.taglen, "dovecot");
	CHECK_SPAN(L.msg, L.msglen, "Nov 28 05:00:00 x");
	clock_init(&c, check_utc(2026, 12, 31, 12, 0, 0));
	CHECK_INT(P(&c, "Dec 31 23:00:00 mx1 a[1]: Jan  1 00:00:00 x y: z"),
	    1);
	CHECK_INT(P(&c, "Dec 31 23:00:01 mx1 a[1]: b"), 1);
	CHECK_INT(L.when, check_utc(2026, 12, 31, 23, 0, 1));
}

static void
test_tags(void)
{
	static const struct {
		const char	*line;
		const char	*tag;
		pid_t		 pid;
		enum sw_mta	 mta;
		const char	*msg;
	} t[] = {
		{ "Nov 28 04:08:29 mx1 postfix/smtpd[10]: m",
		    "postfix/smtpd", 10, SW_MTA_POSTFIX, "m" },
		{ "Nov 28 04:08:29 mx1 postfix/submission/smtpd[11]: m",
		    "postfix/submission/smtpd", 11, SW_MTA_POSTFIX, "m" },
		{ "Nov 28 04:08:29 mx1 postfix/smtps/smtpd[12]: m",
		    "postfix/smtps/smtpd", 12, SW_MTA_POSTFIX, "m" },
		{ "Nov 28 04:08:29 mx1 postfix-out/smtp[13]: 4F3A2: to=<a@b>",
		    "postfix-out/smtp", 13, SW_MTA_POSTFIX, "4F3A2: to=<a@b>" },
		{ "Nov 28 04:08:29 mx1 postfix/error[14]: m",
		    "postfix/error", 14, SW_MTA_POSTFIX, "m" },
		{ "Nov 28 04:08:29 mx1 exim[15]: m",
		    "exim", 15, SW_MTA_EXIM, "m" },
		{ "Nov 28 04:08:29 mx1 exim4[16]: m",
		    "exim4", 16, SW_MTA_EXIM, "m" },
		{ "Nov 28 04:08:29 mx1 dovecot: auth: Error: x",
		    "dovecot", 0, SW_MTA_DOVECOT, "auth: Error: x" },
		{ "Nov 28 04:08:29 mx1 dovecot[17]: imap-login: m",
		    "dovecot", 17, SW_MTA_DOVECOT, "imap-login: m" },
		{ "Nov 28 04:08:29 mx1 saslauthd[123]: do_auth : auth failure",
		    "saslauthd", 123, SW_MTA_SASLAUTHD, "do_auth : auth failure" },
		{ "Nov 28 04:08:29 mx1 sshd[18]: m",
		    "sshd", 18, SW_MTA_UNKNOWN, "m" },
		{ "Nov 28 04:08:29 mx1 kernel: [ 1.0] m",
		    "kernel", 0, SW_MTA_UNKNOWN, "[ 1.0] m" },
		{ "Nov 28 04:08:29 mx1 postfix/smtpd[19]:",
		    "postfix/smtpd", 19, SW_MTA_POSTFIX, "" },
		{ "Nov 28 04:08:29 mx1 postfix/smtpd[20]:nospace",
		    "postfix/smtpd", 20, SW_MTA_POSTFIX, "nospace" },
	};
	struct sw_clock	 c;
	size_t		 i;

	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!CHECK_INT(P(&c, t[i].line), 1))
			continue;
		CHECK_INT(L.fmt, SW_FMT_CLASSIC);
		CHECK_SPAN(L.host, L.hostlen, "mx1");
		CHECK_SPAN(L.tag, L.taglen, t[i].tag);
		CHECK_INT(L.pid, t[i].pid);
		CHECK_INT(L.mta, t[i].mta);
		CHECK_SPAN(L.msg, L.msglen, t[i].msg);
	}

	/* Malformed tags: the header stands, the tag does not. */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 postfix/smtpd[12x]: m"), 1);
	CHECK(L.tag == NULL);
	CHECK_SPAN(L.msg, L.msglen, "postfix/smtpd[12x]: m");
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 postfix/smtpd[12] m"), 1);
	CHECK(L.tag == NULL);
	CHECK_INT(L.pid, 0);
	/* A tag up to SW_TAG_MAX bytes, not more. */
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "[1]: m"), 1);
	CHECK_INT(L.taglen, SW_TAG_MAX);
	CHECK_INT(P(&c, "Nov 28 04:08:29 mx1 "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "[1]: m"), 1);
	CHECK(L.tag == NULL);
}

static void
test_parse_mta(void)
{
	CHECK_INT(parse_mta("postfix/smtpd", 13), SW_MTA_POSTFIX);
	CHECK_INT(parse_mta("postfix/submission/smtpd", 24), SW_MTA_POSTFIX);
	CHECK_INT(parse_mta("postfix/smtps/smtpd", 19), SW_MTA_POSTFIX);
	CHECK_INT(parse_mta("postfix-out/smtp", 16), SW_MTA_POSTFIX);
	CHECK_INT(parse_mta("postfix/error", 13), SW_MTA_POSTFIX);
	CHECK_INT(parse_mta("exim", 4), SW_MTA_EXIM);
	CHECK_INT(parse_mta("exim4", 5), SW_MTA_EXIM);
	CHECK_INT(parse_mta("dovecot", 7), SW_MTA_DOVECOT);
	CHECK_INT(parse_mta("saslauthd", 9), SW_MTA_SASLAUTHD);
	CHECK_INT(parse_mta("sshd", 4), SW_MTA_UNKNOWN);
	CHECK_INT(parse_mta("", 0), SW_MTA_UNKNOWN);
	/* The length counts, not the NUL. */
	CHECK_INT(parse_mta("postfix/smtpd", 6), SW_MTA_UNKNOWN);
	CHECK_INT(parse_mta("exim4", 3), SW_MTA_UNKNOWN);
	CHECK_INT(parse_mta("dovecot", 6), SW_MTA_UNKNOWN);
	CHECK_INT(parse_mta("saslauthd", 8), SW_MTA_UNKNOWN);

	CHECK_STR(mta_name(SW_MTA_POSTFIX), "postfix");
	CHECK_STR(mta_name(SW_MTA_EXIM), "exim");
	CHECK_STR(mta_name(SW_MTA_DOVECOT), "dovecot");
	CHECK_STR(mta_name(SW_MTA_SASLAUTHD), "saslauthd");
	CHECK_STR(mta_name(SW_MTA_UNKNOWN), "unknown");
	CHECK_STR(mta_name(SW_MTA_NMTAS), "unknown");
}

/* No envelope: the whole line is the message. */
static void
check_none(struct sw_clock *c, const char *s, size_t len)
{
	CHECK_INT(parse(c, s, len), 0);
	CHECK_INT(L.fmt, SW_FMT_NONE);
	CHECK_INT(L.when, 0);
	CHECK(L.tag == NULL);
	CHECK(L.host == NULL);
	CHECK_INT(L.mta, SW_MTA_UNKNOWN);
	CHECK(L.msg == scratch);
	CHECK_INT(L.msglen, len);
}

/* A literal or array, NUL bytes included. */
#define CHECK_NONE(c, s)	check_none((c), (s), sizeof(s) - 1)

static void
test_garbage(void)
{
	static const char	 bin[] = "\x00\xff\x01<\x80>\x1b[31m\x00Nov\x00";
	static const char *const lines[] = {
		"Nov 28 04:08:29 mx1 postfix/smtpd[4242]: warning: x",
		"Nov  8 04:08:29 collector Nov  8 04:08:29 mx1 a[1]: b",
		"<22>2026-11-28T04:35:04.423343+01:00 mx1 dovecot: auth: x",
		"2026-11-28 04:08:29 +0100 [1234] 1xXAD1-00084a-2n Completed",
		("2026-11-28 04:08:29 mx1 exim[5]: [1\\3] 2026-11-28 "
		    "04:08:29 [5] x"),
		"Nov 28 04:08:29 mx1 exim[1234]: [12\\13] x",
	};
	struct sw_clock	 c;
	char		*big;
	size_t		 i, n, len;
	unsigned int	 bad, seed;
	int		 rc;
	char		 line[96];

	clock_init(&c, check_utc(2026, 11, 28, 12, 0, 0));
	CHECK_NONE(&c, "");
	CHECK_NONE(&c, " ");
	CHECK_NONE(&c, "                                   ");
	CHECK_NONE(&c, "Nov 28 04:0");
	CHECK_NONE(&c, "Nov 28 04:08:2");
	CHECK_NONE(&c, "2026-11-28T04:3");
	CHECK_NONE(&c, "2026-11-28 04:08:2");
	CHECK_NONE(&c, bin);
	CHECK_NONE(&c, "<13>");
	CHECK_NONE(&c, "[1\\2] x");
	CHECK_NONE(&c, "continuation of an Exim reply");

	big = xmalloc(SW_LINE_MAX);
	memset(big, 'A', SW_LINE_MAX);
	check_none(&c, big, SW_LINE_MAX);
	memcpy(big, "Nov 28 04:08:29 ", 16);
	CHECK_INT(parse(&c, big, SW_LINE_MAX), 0);
	memcpy(big, "Nov 28 04:08:29 mx1 a: ", 23);
	CHECK_INT(parse(&c, big, SW_LINE_MAX), 1);
	CHECK_INT(L.msglen, SW_LINE_MAX - 23);
	free(big);

	/* Every prefix of good lines: no read past the end, sane results. */
	bad = 0;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		len = strlen(lines[i]);
		for (n = 0; n <= len; n++) {
			rc = parse(&c, lines[i], n);
			if ((rc == 0) != (L.fmt == SW_FMT_NONE) ||
			    !msg_ends_line(n) ||
			    (rc == 0 && L.msg != scratch))
				bad++;
		}
	}
	CHECK_INT(bad, 0);

	/* Random lines of envelope-ish bytes, fixed seed. */
	bad = 0;
	seed = 1;
	for (i = 0; i < 20000; i++) {
		static const char alpha[] = "0123456789 :-T+Z.[]<>/\\NovDec"
		    "exim\x80\x00";
		len = 1 + (seed = seed * 1103515245 + 12345) % sizeof(line);
		for (n = 0; n < len; n++) {
			seed = seed * 1103515245 + 12345;
			line[n] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		if (i % 3 == 0 && len > 20)
			memcpy(line, "Nov 28 04:08:29 ", 16);
		else if (i % 3 == 1 && len > 25)
			memcpy(line, "2026-11-28 04:08:29 ", 20);
		rc = parse(&c, line, len);
		if ((rc == 0) != (L.fmt == SW_FMT_NONE) || !msg_ends_line(len) ||
		    L.taglen > SW_TAG_MAX || (L.parts != 0 &&
		    (L.part < 1 || L.part > L.parts)))
			bad++;
	}
	CHECK_INT(bad, 0);
}

/*
 * parse_stamp() gives every line the time, bad-day flag and clock that
 * parse_line() gives it, however the two are interleaved (the front end
 * passes over some lines and reads others): a sequence with repeated
 * stamps whose lines lack a host or a tag, doubled headers behind one,
 * a year's turn and stragglers across it, a day the year lacks, <PRI>,
 * RFC 3339 and Exim stamps, run by parse_line() alone and, with several
 * seeds, by either at random.
 */
static void
test_stamp(void)
{
	static const char *const lines[] = {
		"Dec 31 23:59:58 mx1 postfix/smtpd[1]: a",
		"Dec 31 23:59:58 mx1 postfix/smtpd[2]: b",
		"Dec 31 23:59:58 mx1 no tag here",
		"Dec 31 23:59:58 mx1",
		"Dec 31 23:59:58 ",
		"Dec 31 23:59:58 mx1 postfix/smtpd[3]: c",
		"Dec 31 23:59:58 relay Dec 31 23:59:59 mx1 postfix/qmgr: d",
		"Dec 31 23:59:58 mx1 postfix/qmgr: d2",
		"Dec 31 23:59:58 relay 2027-01-01T00:00:03+00:00 mx1 x: d3",
		"Dec 31 23:59:58 mx1 x: d4",
		"Dec 31 23:59:58 relay Mar 1 00:00:09 mx1 x: d5",
		"Dec 31 23:59:58 mx1 x: d6",
		"Dec 31 23:59:58 relay May no stamp",
		"Dec 31 23:59:58 relay 12 no stamp",
		"Dec 31 23:59:58 relay Nov 28 04:08:29",
		"Dec 31 23:59:58 mx1 ",
		"Dec 31 23:59:58 mx1 postfix/qmgr: e",
		"Dec 31 23:59:59 mx1 x: f",
		"Jan  1 00:00:00 mx1 x: g",
		"Jan  1 00:00:00 mx1 x: h",
		"Dec 31 23:59:57 mx1 x: straggler",
		"Dec 31 23:59:57 mx1 x: straggler again",
		"Jan  1 00:00:00 mx1 x: i",
		"Jan 1 00:00:01 mx1 x: unpadded",
		"Jan 1 00:00:01 mx1 x: unpadded again",
		"<13>Jan  1 00:00:01 mx1 x: pri",
		"<13>Jan  1 00:00:01 mx1 x: pri again",
		"Feb 29 10:00:00 mx1 x: no such day in 2027",
		"Feb 29 10:00:00 mx1 x: nor here",
		"Jan  1 00:00:02 mx1 x: j",
		"2027-01-01T00:00:03+00:00 mx1 x: rfc",
		"Jan  1 00:00:02 mx1 x: k",
		"2027-01-01 00:00:04 1abc-000001-AB <= a@b",
		"Jan  1 00:00:02 mx1 exim[5]: 2027-01-01 00:09:00 inner",
		"Jan  1 00:00:02 mx1 exim[5]: 2027-01-01 00:09:00 inner again",
		"Jan  1 00:00:02mx1 x: glued",
		"Jan  1 00:00:02 mx1 x: l",
		"",
		"Jan  1 00:00:02 mx1 x: m",
	};
	const size_t	 n = sizeof(lines) / sizeof(lines[0]);
	struct sw_clock	 a, b;
	size_t		 i, k;
	unsigned int	 seed, x;
	time_t		 t;
	int		 bad, skipped = 0;

	for (seed = 0; seed < 64; seed++) {
		clock_init(&a, check_utc(2027, 1, 1, 12, 0, 0));
		clock_init(&b, check_utc(2027, 1, 1, 12, 0, 0));
		for (k = 0, x = seed; k < 3; k++) {
			for (i = 0; i < n; i++) {
				P(&a, lines[i]);
				x = x * 1103515245u + 12345u;
				if (seed > 0 && (x >> 16) & 1) {
					P(&b, lines[i]);
					continue;
				}
				skipped += b.memolen > 0 && strncmp(scratch,
				    b.memo, b.memolen) == 0;
				t = parse_stamp(&b, scratch, strlen(lines[i]),
				    &bad);
				if (!CHECK_INT(t, L.when) ||
				    !CHECK_INT(bad, L.baddate))
					fprintf(stderr, "seed %u, line %zu\n",
					    seed, i);
			}
			CHECK_INT(a.year, b.year);
			CHECK_INT(a.month, b.month);
			CHECK_INT(a.newest, b.newest);
			CHECK_INT(a.last, b.last);
		}
	}
	CHECK(skipped > 0);
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();

	test_classic();
	test_year();
	test_year_turns();
	test_year_resume();
	test_repeat();
	test_rfc3339();
	test_exim_mainlog();
	test_exim_syslog();
	test_prefixes();
	test_tags();
	test_parse_mta();
	test_garbage();
	test_stamp();
	free(scratch);
	return check_done();
}
