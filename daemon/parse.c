/*
 * parse.c -- split the syslog envelope off one physical line: timestamp,
 * host, program tag, pid, message.  Understands classic BSD stamps (the
 * year inferred, the Dec->Jan turn followed), RFC 3339 stamps with
 * fractions and offsets, Exim's native mainlog stamps, an optional <PRI>,
 * and the doubled headers that relaying through a second syslog adds.
 * Nothing here allocates; every pointer in struct sw_line borrows the line.
 *
 * The year of a classic stamp (clock_year): a log is read forward in
 * time, and nothing in it is placed after the month following the
 * reference (the wall clock for the daemon, a file's mtime for scan).
 * The first line takes the reference's year, or the year before when
 * its month is later than the reference's next.  A later line in the
 * month of the newest line read stays in its year; in another month it
 * stays in that year unless that puts it more than CLOCK_SLACK before
 * the newest line (then the year turned, unless the next year is after
 * the reference: a line out of order) or after the reference (then it
 * is from before the turn).  Lines placed before the newest move
 * nothing.  A stamp whose day its year does not have (Feb 29 of 2027,
 * Apr 31) is not moved to another day: the line keeps its envelope but
 * takes the time of the line before it, and says so (baddate).
 *
 * rsyslog's $RepeatedMsgReduction (on in Ubuntu's default rsyslog.conf)
 * writes, instead of the 2nd to (N+1)th of identical lines of one
 * program, process and host, "message repeated N times: [ MSG]" under
 * that program's tag, with the time of the last of them, MSG cut to
 * 800 bytes (parse_repeat).  The envelope then says MSG and N: the
 * record stands for N records of MSG.  No client can make Postfix,
 * Exim or Dovecot start a message with those words; a local user
 * writing to syslog can, so N is bounded by SW_REPEAT_MAX.
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smtpwatch.h"

static const char	*parse_classic(struct sw_clock *, const char *,
			    const char *, time_t *, int *);
static const char	*parse_rfc3339(struct sw_clock *, const char *,
			    const char *, time_t *, int *);
static const char	*parse_eximstamp(struct sw_clock *, const char *,
			    const char *, time_t *, int *);
static const char	*parse_header(struct sw_clock *, const char *,
			    const char *, struct sw_line *);
static const char	*parse_tag(const char *, const char *,
			    struct sw_line *);
static void		 parse_repeat(struct sw_line *);
static void		 parse_exim_msg(struct sw_clock *, struct sw_line *);
static int		 parse_envelope(struct sw_clock *, const char *, size_t,
			    struct sw_line *);
static int		 num(const char *, int);

#define CLOCK_SLACK	86400		/* seconds a line may step back: out
					   of order, not the next year */

static const char	 months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* isdigit(3) without the locale's table: 0 to 9 in every locale. */
#define is_digit(c)	((unsigned int)(unsigned char)(c) - '0' < 10u)

/*
 * Starts year inference at the reference ref: a file's mtime (scan), a
 * fixed time (the corpus), or 0: the wall clock whenever a line needs it
 * (the daemon, which runs for years).
 */
void
clock_init(struct sw_clock *c, time_t ref)
{
	memset(c, 0, sizeof(*c));
	c->ref = ref;
	c->year = 1970;
	c->month = -1;
	c->minute = -1;
}

/*
 * Resumes year inference where a checkpoint left it: the newest classic
 * stamp was at newest, in month (0-11) of year (newest 0: unknown, taken
 * as the month's start), and the last valid stamp at last (0: none).  A
 * month out of range (-1, or the encoding of an older version) means no
 * classic stamp was read yet.
 */
void
clock_resume(struct sw_clock *c, int year, int month, time_t newest,
    time_t last)
{
	struct tm	 tm;

	c->minute = -1;
	c->memolen = 0;
	c->last = last;
	if (month < 0 || month > 11 || year < 1970 || year > 9999) {
		c->month = -1;
		return;
	}
	c->year = year;
	c->month = month;
	c->newest = newest;
	if (newest != 0)
		return;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month;
	tm.tm_mday = 1;
	tm.tm_isdst = -1;
	c->newest = mktime(&tm);
}

/* The reference: fixed, or the wall clock. */
static time_t
clock_ref(const struct sw_clock *c)
{
	return c->ref != 0 ? c->ref : time(NULL);
}

/* The time of a stamp naming no real day: the line before's. */
static time_t
clock_bad(const struct sw_clock *c)
{
	return c->last != 0 ? c->last : clock_ref(c);
}

/* Days in month mon (0-11) of year. */
static int
days_in(int year, int mon)
{
	static const int	 days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (mon == 1 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
		return 29;
	return days[mon];
}

/* The stamp (month, day, time) in year, its day cut to the month's. */
static time_t
clock_at(const struct tm *stamp, int year)
{
	struct tm	 tm = *stamp;

	tm.tm_year = year - 1900;
	if (tm.tm_mday > days_in(year, tm.tm_mon))
		tm.tm_mday = days_in(year, tm.tm_mon);
	tm.tm_isdst = -1;
	return mktime(&tm);
}

/* No line is placed at or after this: the reference's month after next. */
static time_t
clock_future(const struct sw_clock *c)
{
	struct tm	 tm;
	time_t		 ref = clock_ref(c);

	if (localtime_r(&ref, &tm) == NULL)
		return ref;
	tm.tm_mon += 2;
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

/* Returns n digits at p as a number, or -1. */
static int
num(const char *p, int n)
{
	int	 v = 0;

	while (n-- > 0) {
		if (!is_digit(*p))
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	return v;
}

/*
 * The year of a classic stamp (its month, day and time in *stamp), as
 * the comment at the top says.  Moves nothing: clock_classic() does.
 */
static int
clock_year(const struct sw_clock *c, const struct tm *stamp)
{
	struct tm	 tm;
	time_t		 t, ref;
	int		 y;

	if (c->month < 0) {
		ref = clock_ref(c);
		if (localtime_r(&ref, &tm) == NULL)
			return 1970;
		y = tm.tm_year + 1900;
		if (stamp->tm_mon > tm.tm_mon + 1)
			y--;		/* the future: last year's log */
		return y;
	}
	if (stamp->tm_mon == c->month)
		return c->year;
	y = c->year;
	t = clock_at(stamp, y);
	if (t >= c->newest - CLOCK_SLACK) {
		if (t > c->newest && t >= clock_future(c))
			y--;		/* Jan -> Dec: from before the turn */
	} else if (clock_at(stamp, y + 1) < clock_future(c))
		y++;			/* Dec -> Jan, or a gap across it */
	return y;
}

/*
 * Local time to time_t.  Lines come in order, many per minute, so the
 * start of the last minute is kept and mktime(3) runs once a minute.
 */
static time_t
clock_local(struct sw_clock *c, struct tm *tm)
{
	long long	 key;
	int		 sec = tm->tm_sec;

	key = ((((long long)tm->tm_year * 12 + tm->tm_mon) * 32 +
	    tm->tm_mday) * 24 + tm->tm_hour) * 60 + tm->tm_min;
	if (key != c->minute) {
		tm->tm_sec = 0;
		c->base = mktime(tm);
		c->minute = key;
	}
	return c->base + sec;
}

/*
 * The time of a classic stamp (month, day and time in *tm); the newest
 * line moves the clock.  A day its year lacks sets *bad.
 */
static time_t
clock_classic(struct sw_clock *c, struct tm *tm, int *bad)
{
	time_t	 t;
	int	 y;

	y = clock_year(c, tm);
	if (tm->tm_mday > days_in(y, tm->tm_mon)) {
		*bad = 1;
		return clock_bad(c);
	}
	tm->tm_year = y - 1900;
	tm->tm_isdst = -1;
	t = clock_local(c, tm);
	if (c->month < 0 || t > c->newest) {
		c->year = y;
		c->month = tm->tm_mon;
		c->newest = t;
	}
	return t;
}

/* mon (0-11) when the three bytes at p name it, else -1. */
static int
month_is(const char *p, int mon)
{
	return memcmp(p, months + 3 * mon, 3) == 0 ? mon : -1;
}

/* The month (0-11) named by the three bytes at p, or -1. */
static int
parse_month(const char *p)
{
	switch (p[0]) {
	case 'J':
		return month_is(p, p[1] == 'a' ? 0 : p[2] == 'n' ? 5 : 6);
	case 'F':
		return month_is(p, 1);
	case 'M':
		return month_is(p, p[2] == 'r' ? 2 : 4);
	case 'A':
		return month_is(p, p[1] == 'p' ? 3 : 7);
	case 'S':
		return month_is(p, 8);
	case 'O':
		return month_is(p, 9);
	case 'N':
		return month_is(p, 10);
	case 'D':
		return month_is(p, 11);
	default:
		return -1;
	}
}

/*
 * "Nov 28 04:08:29 ", also "Nov  8" and the unpadded "Nov 8" some
 * syslogs write: returns the byte after the blank, or NULL.  *bad is set
 * when the year inferred has no such day.
 */
static const char *
parse_classic(struct sw_clock *c, const char *p, const char *end,
    time_t *when, int *bad)
{
	const char	*q;
	struct tm	 tm;
	int		 mon, day;

	if (end - p < 15 || p[3] != ' ' || (mon = parse_month(p)) < 0)
		return NULL;
	q = p + 4;
	if (*q == ' ')
		q++;
	if ((day = num(q, 1)) < 0)
		return NULL;
	if (q[1] != ' ') {
		if ((day = num(q, 2)) < 0)
			return NULL;
		q++;
	}
	q += 2;				/* the day's last digit, a blank */
	if (end - q < 9 || q[2] != ':' || q[5] != ':' || q[8] != ' ')
		return NULL;
	memset(&tm, 0, sizeof(tm));
	if (day < 1 || day > 31 || (tm.tm_hour = num(q, 2)) < 0 ||
	    tm.tm_hour > 23 || (tm.tm_min = num(q + 3, 2)) < 0 ||
	    tm.tm_min > 59 || (tm.tm_sec = num(q + 6, 2)) < 0 ||
	    tm.tm_sec > 60)
		return NULL;
	tm.tm_mday = day;
	tm.tm_mon = mon;
	*bad = 0;
	*when = clock_classic(c, &tm, bad);
	return q + 9;
}

/* Parses "+01:00", "-0530" or "Z"; returns the byte after, or NULL. */
static const char *
parse_offset(const char *p, const char *end, long *off)
{
	int	 h, m, sign;

	*off = 0;
	if (p < end && *p == 'Z')
		return p + 1;
	if (end - p < 5 || (*p != '+' && *p != '-'))
		return NULL;
	sign = *p == '-' ? -1 : 1;
	if ((h = num(p + 1, 2)) < 0)
		return NULL;
	p += 3;
	if (*p == ':')
		p++;
	if (end - p < 2 || (m = num(p, 2)) < 0)
		return NULL;
	*off = sign * (h * 3600L + m * 60L);
	return p + 2;
}

/*
 * "YYYY-MM-DD?HH:MM:SS[.fraction]" into tm, ? being sep; returns the
 * byte after it, or NULL.  The caller made sure of 19 bytes.  *bad is
 * set when the month has no such day (Feb 29 of 2027, Jun 31).
 */
static const char *
parse_ymdhms(const char *p, const char *end, char sep, struct tm *tm,
    int *bad)
{
	if (p[4] != '-' || p[7] != '-' || p[10] != sep || p[13] != ':' ||
	    p[16] != ':')
		return NULL;
	memset(tm, 0, sizeof(*tm));
	if ((tm->tm_year = num(p, 4)) < 0 || (tm->tm_mon = num(p + 5, 2)) < 1 ||
	    tm->tm_mon > 12 || (tm->tm_mday = num(p + 8, 2)) < 1 ||
	    tm->tm_mday > 31 || (tm->tm_hour = num(p + 11, 2)) < 0 ||
	    tm->tm_hour > 23 || (tm->tm_min = num(p + 14, 2)) < 0 ||
	    tm->tm_min > 59 || (tm->tm_sec = num(p + 17, 2)) < 0 ||
	    tm->tm_sec > 60)
		return NULL;
	*bad = tm->tm_mday > days_in(tm->tm_year, tm->tm_mon - 1);
	tm->tm_year -= 1900;
	tm->tm_mon -= 1;
	tm->tm_isdst = -1;
	p += 19;
	if (p < end && *p == '.')
		for (p++; p < end && is_digit(*p); p++)
			continue;
	return p;
}

/*
 * "2026-11-28T04:08:29.123+00:00 ": returns the byte after the blank.
 * A day the month lacks sets *bad and takes the line before's time.
 */
static const char *
parse_rfc3339(struct sw_clock *c, const char *p, const char *end,
    time_t *when, int *bad)
{
	struct tm	 tm;
	long		 off;
	int		 b;

	if (end - p < 21 || (p = parse_ymdhms(p, end, 'T', &tm, &b)) == NULL)
		return NULL;
	if ((p = parse_offset(p, end, &off)) == NULL || p >= end || *p != ' ')
		return NULL;
	*bad = b;
	*when = b ? clock_bad(c) : timegm(&tm) - off;
	return p + 1;
}

/*
 * Exim's "2026-11-28 04:08:29[.123][ +0100] ": local time unless offset.
 * A day the month lacks sets *bad and takes the line before's time.
 */
static const char *
parse_eximstamp(struct sw_clock *c, const char *p, const char *end,
    time_t *when, int *bad)
{
	struct tm	 tm;
	const char	*q;
	long		 off;
	int		 b;

	if (end - p < 20 || (p = parse_ymdhms(p, end, ' ', &tm, &b)) == NULL)
		return NULL;
	if (p >= end || *p != ' ')
		return NULL;
	p++;
	*bad = b;
	if ((q = parse_offset(p, end, &off)) != NULL && q < end && *q == ' ' &&
	    *p != 'Z') {
		*when = b ? clock_bad(c) : timegm(&tm) - off;
		return q + 1;
	}
	*when = b ? clock_bad(c) : clock_local(c, &tm);
	return p;
}

/* "tag[pid]: " or "tag: "; returns the message start or NULL. */
static const char *
parse_tag(const char *p, const char *end, struct sw_line *l)
{
	static const unsigned char	 stop[256] = {
		[' '] = 1, [':'] = 1, ['['] = 1
	};
	const char			*t = p;
	size_t				 n;
	long				 pid = 0;

	while (p < end && !stop[(unsigned char)*p])
		p++;
	if (p == t || p >= end || p - t > SW_TAG_MAX)
		return NULL;
	n = (size_t)(p - t);
	if (*p == '[') {
		for (p++; p < end && is_digit(*p); p++)
			if (pid < 100000000)
				pid = pid * 10 + (*p - '0');
		if (p >= end || *p != ']')
			return NULL;
		p++;
	}
	if (p >= end || *p != ':')
		return NULL;
	p++;
	if (p < end && *p == ' ')
		p++;
	l->tag = t;
	l->taglen = n;
	l->pid = (pid_t)pid;
	return p;
}

/* A syslog header at p: stamp, host, tag.  Returns the message or NULL. */
static const char *
parse_header(struct sw_clock *c, const char *p, const char *end,
    struct sw_line *l)
{
	const char	*q, *h;
	enum sw_format	 fmt = SW_FMT_CLASSIC;

	l->baddate = 0;
	if ((q = parse_classic(c, p, end, &l->when, &l->baddate)) == NULL) {
		if ((q = parse_rfc3339(c, p, end, &l->when, &l->baddate)) ==
		    NULL)
			return NULL;
		fmt = SW_FMT_RFC3339;
	}
	for (h = q; q < end && *q != ' '; q++)
		continue;
	if (q == h || q >= end)
		return NULL;
	l->fmt = fmt;
	l->host = h;
	l->hostlen = (size_t)(q - h);
	q++;
	l->tag = NULL;
	l->taglen = 0;
	l->pid = 0;
	if ((h = parse_tag(q, end, l)) == NULL)
		return q;		/* no tag: the message follows the host */
	return h;
}

/* Exim's "[1234] " after its stamp: sets *pid, returns what follows. */
static const char *
parse_pid(const char *p, const char *end, pid_t *pid)
{
	const char	*q;
	long		 n = 0;

	if (end - p < 3 || *p != '[')
		return p;
	for (q = p + 1; q < end && is_digit(*q) && n < 99999999;
	    q++)
		n = n * 10 + (*q - '0');
	if (q == p + 1 || q + 1 >= end || q[0] != ']' || q[1] != ' ')
		return p;
	*pid = (pid_t)n;
	return q + 2;
}

/*
 * rsyslog's "message repeated N times: [ MSG]" (its ratelimit.c writes
 * " message repeated %d times: [%.800s]" of a MSG that has its leading
 * blank): the message becomes MSG, l->repeat N.  Anything else, even
 * N of 0, is left as it is.
 */
static void
parse_repeat(struct sw_line *l)
{
	static const char	 pre[] = "message repeated ", mid[] = " times: [";
	const char		*p = l->msg, *end = l->msg + l->msglen, *q;
	unsigned long		 n = 0;

	if (l->msglen < sizeof(pre) - 1 + 1 + sizeof(mid) - 1 + 1 ||
	    memcmp(p, pre, sizeof(pre) - 1) != 0 || end[-1] != ']')
		return;
	for (q = p + sizeof(pre) - 1; q < end && is_digit(*q);
	    q++)
		if (n <= SW_REPEAT_MAX)		/* saturated: any length */
			n = n * 10 + (unsigned long)(*q - '0');
	if (q == p + sizeof(pre) - 1 || n == 0 ||
	    (size_t)(end - q) < sizeof(mid) - 1 + 1 ||
	    memcmp(q, mid, sizeof(mid) - 1) != 0)
		return;
	q += sizeof(mid) - 1;
	l->repcut = end - 1 - q >= SW_REPEAT_CUT;
	if (q < end - 1 && *q == ' ')
		q++;
	l->repeat = n > SW_REPEAT_MAX ? SW_REPEAT_MAX : (unsigned int)n;
	l->repcapped = n > SW_REPEAT_MAX;
	l->msg = q;
	l->msglen = (size_t)(end - 1 - q);
}

/* Exim under syslog: "[1\2] " part prefix, then its own stamp and pid. */
static void
parse_exim_msg(struct sw_clock *c, struct sw_line *l)
{
	const char	*p = l->msg, *end = l->msg + l->msglen, *q;
	time_t		 t;
	pid_t		 pid;
	int		 a, b, bad;

	if (end - p >= 6 && p[0] == '[' && is_digit(p[1])) {
		/* Saturated at 1000: only 1 to 99 are parts, and a line
		 * of digits must not overflow (found by fuzz_parse). */
		for (q = p + 1, a = 0; q < end && is_digit(*q); q++)
			a = a < 1000 ? a * 10 + (*q - '0') : 1000;
		if (q < end && (*q == '\\' || *q == '/')) {
			for (q++, b = 0; q < end && is_digit(*q);
			    q++)
				b = b < 1000 ? b * 10 + (*q - '0') : 1000;
			if (q + 1 < end && q[0] == ']' && q[1] == ' ' &&
			    a >= 1 && a <= b && b <= 99) {
				l->part = a;
				l->parts = b;
				p = q + 2;
			}
		}
	}
	if ((q = parse_eximstamp(c, p, end, &t, &bad)) != NULL)
		p = q;		/* its own stamp: the envelope's counts */
	p = parse_pid(p, end, &pid);	/* log_selector +pid */
	l->msglen -= (size_t)(p - l->msg);
	l->msg = p;
}

/* The mta a program tag belongs to. */
enum sw_mta
parse_mta(const char *tag, size_t len)
{
	if (len >= 7 && memcmp(tag, "postfix", 7) == 0)
		return SW_MTA_POSTFIX;
	if (len >= 4 && memcmp(tag, "exim", 4) == 0)
		return SW_MTA_EXIM;
	if (len >= 7 && memcmp(tag, "dovecot", 7) == 0)
		return SW_MTA_DOVECOT;
	if (len >= 9 && memcmp(tag, "saslauthd", 9) == 0)
		return SW_MTA_SASLAUTHD;
	return SW_MTA_UNKNOWN;
}

const char *
mta_name(enum sw_mta m)
{
	switch (m) {
	case SW_MTA_POSTFIX:
		return "postfix";
	case SW_MTA_EXIM:
		return "exim";
	case SW_MTA_DOVECOT:
		return "dovecot";
	case SW_MTA_SASLAUTHD:
		return "saslauthd";
	case SW_MTA_UNKNOWN:
	case SW_MTA_NMTAS:
	default:
		return "unknown";
	}
}

/* 1 when [p, end) is an Exim message id: 6-6-2 (4.96) or 6-11-4 (4.97+). */
static int
exim_msgid(const char *p, const char *end)
{
	size_t	 n = (size_t)(end - p), i;

	if (n != 16 && n != 23)
		return 0;
	for (i = 0; i < n; i++)
		if (i == 6 || i == n - (n == 16 ? 3 : 5)) {
			if (p[i] != '-')
				return 0;
		} else if (!isalnum((unsigned char)p[i]))
			return 0;
	return 1;
}

/*
 * After an Exim-style stamp, "host tag[pid]: " means a syslog that writes
 * ISO stamps with a blank; Exim's own messages never start that way.
 */
static int
parse_isohost(const char *p, const char *end, struct sw_line *l)
{
	const char	*h = p, *msg;

	while (p < end && *p != ' ') {
		if (strchr("=<>()[]:", *p) != NULL)
			return 0;
		p++;
	}
	if (p == h || p >= end || exim_msgid(h, p))
		return 0;
	if ((msg = parse_tag(p + 1, end, l)) == NULL)
		return 0;
	l->host = h;
	l->hostlen = (size_t)(p - h);
	l->msg = msg;
	l->msglen = (size_t)(end - msg);
	return 1;
}

/* Strips "<13>" or "<13>1 " from the front. */
static const char *
skip_pri(const char *p, const char *end)
{
	const char	*q;

	if (p >= end || *p != '<')
		return p;
	for (q = p + 1; q < end && q - p <= 4 && is_digit(*q); q++)
		continue;
	if (q == p + 1 || q >= end || *q != '>')
		return p;
	q++;
	if (end - q >= 2 && q[0] == '1' && q[1] == ' ')
		q += 2;
	return q;
}

/* An envelope was found: a valid stamp is the line before's for the next. */
static int
parse_found(struct sw_clock *c, const struct sw_line *l)
{
	if (!l->baddate)
		c->last = l->when;
	return 1;
}

/*
 * 1 when the line may start an Exim mainlog entry ("2026-11-28 04:08:29"
 * after an optional "<13>"), which continuation lines may follow: cheap,
 * and true of every line parse_line() finds SW_FMT_EXIM (and of a few
 * more).
 */
int
parse_may_hold(const char *buf, size_t len)
{
	const char	*p = skip_pri(buf, buf + len);

	return buf + len - p >= 20 && p[4] == '-' && p[7] == '-' &&
	    p[10] == ' ';
}

/*
 * Keeps the stamp of the line just parsed for parse_stamp() when it is
 * a plain classic one, "Nov 28 04:08:29 " at the very start, followed
 * by a host and a tag, names a real day and is in the clock's month (the
 * newest line's): a line that starts with the same bytes and has a host
 * and a tag has the same time, its year being the clock's, and reading
 * it would move the clock nowhere (its time is the newest or older).
 * Any line parsed replaces the memo; clock_resume() clears it.
 */
static void
parse_memo(struct sw_clock *c, const char *buf, const struct sw_line *l)
{
	size_t	 n = l->host != NULL ? (size_t)(l->host - buf) : 0;

	c->memolen = 0;
	if (l->fmt != SW_FMT_CLASSIC || l->tag == NULL || l->baddate ||
	    n < 15 || n > sizeof(c->memo) || l->host > l->tag ||
	    parse_month(buf) != c->month)
		return;
	memcpy(c->memo, buf, n);
	c->memolen = n;
	c->memowhen = l->when;
}

/*
 * The bytes a stamp begins with: a month's (parse_classic) or a digit
 * (parse_rfc3339).  Only a message after the host that begins with one
 * may be a relay's header, whose time the line would take instead.
 */
static const unsigned char may_stamp[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['J'] = 1, ['F'] = 1, ['M'] = 1, ['A'] = 1, ['S'] = 1,
	['O'] = 1, ['N'] = 1, ['D'] = 1
};

/*
 * The time of the line buf (len bytes) and *bad, as parse_line() gives
 * them, with the same effect on the clock.  A line passed over by the
 * front end needs nothing else: when its stamp is the line before's and
 * a host follows, the line has the memo's time unless a relay's header
 * follows the host instead of a tag (parse_envelope), which only a
 * message beginning like a stamp and not with a tag can be (parse_memo).
 */
time_t
parse_stamp(struct sw_clock *c, const char *buf, size_t len, int *bad)
{
	struct sw_line	 l;
	const char	*end = buf + len, *q, *h;

	if (c->memolen > 0 && len > c->memolen &&
	    memcmp(buf, c->memo, c->memolen) == 0) {
		for (h = q = buf + c->memolen; q < end && *q != ' '; q++)
			continue;
		if (q > h && q < end && (++q == end || !may_stamp[(unsigned
		    char)*q] || parse_tag(q, end, &l) != NULL)) {
			*bad = 0;
			return c->memowhen;
		}
	}
	parse_line(c, buf, len, &l);
	*bad = l.baddate;
	return l.when;
}

/*
 * Fills l from the line buf (len bytes, no newline).  Returns 1 when an
 * envelope was found, 0 when the whole line is the message (SW_FMT_NONE).
 */
int
parse_line(struct sw_clock *c, const char *buf, size_t len, struct sw_line *l)
{
	int	 found;

	found = parse_envelope(c, buf, len, l);
	parse_memo(c, buf, l);
	return found;
}

/* parse_line() but for the memo. */
static int
parse_envelope(struct sw_clock *c, const char *buf, size_t len,
    struct sw_line *l)
{
	const char	*p, *end = buf + len, *q;
	struct sw_line	 h;
	int		 depth;

	memset(l, 0, sizeof(*l));
	l->msg = buf;
	l->msglen = len;
	p = skip_pri(buf, end);
	if ((q = parse_eximstamp(c, p, end, &l->when, &l->baddate)) != NULL &&
	    parse_isohost(q, end, l)) {
		l->fmt = SW_FMT_RFC3339;	/* "2026-11-28 04:08:29 host tag:" */
		l->mta = parse_mta(l->tag, l->taglen);
		parse_repeat(l);
		if (l->mta == SW_MTA_EXIM)
			parse_exim_msg(c, l);
		return parse_found(c, l);
	}
	if (q != NULL) {
		l->fmt = SW_FMT_EXIM;
		l->tag = "exim";
		l->taglen = 4;
		l->mta = SW_MTA_EXIM;
		l->msg = parse_pid(q, end, &l->pid);
		l->msglen = (size_t)(end - l->msg);
		return parse_found(c, l);
	}
	/* "stamp host stamp host tag: ": a relay's header before the tag. */
	for (depth = 0; depth < 3 && l->tag == NULL; depth++) {
		h = *l;
		if ((q = parse_header(c, p, end, &h)) == NULL)
			break;
		*l = h;
		l->msg = p = q;
		l->msglen = (size_t)(end - q);
	}
	if (l->fmt == SW_FMT_NONE) {
		l->when = 0;
		l->baddate = 0;
		return 0;
	}
	if (l->tag != NULL) {
		l->mta = parse_mta(l->tag, l->taglen);
		parse_repeat(l);
		if (l->mta == SW_MTA_EXIM)
			parse_exim_msg(c, l);
	}
	return parse_found(c, l);
}
