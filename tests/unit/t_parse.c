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
		"2026-11-28 04:08:29 mx1 exim[5]: [1\\3] 2026-11-28 "
		    "04:08:29 [5] x",
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

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();

	test_classic();
	test_year();
	test_rfc3339();
	test_exim_mainlog();
	test_exim_syslog();
	test_prefixes();
	test_tags();
	test_parse_mta();
	test_garbage();
	free(scratch);
	return check_done();
}
