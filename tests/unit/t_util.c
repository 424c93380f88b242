/*
 * t_util.c -- util.c's escapers, the one way attacker-typed text is
 * shown: well-formed UTF-8 passes through str_vis() and fput_json()
 * unchanged; control characters, DEL, C1 and bidirectional controls,
 * overlong forms, surrogates and stray bytes come out as \xNN; a
 * backslash is doubled so that no typed text shows like an escape;
 * str_unvis() gives the bytes back; ASCII-only output for a terminal
 * that is not UTF-8; the output cut to fit, never inside a character.
 * And time_parse(), the --since and --until of the command line.
 */

#include "../../daemon/util.c"

#include "check.h"

/* str_vis() of the C string s, in a static buffer. */
static const char *
vis(const char *s)
{
	static char	 buf[1024];

	str_vis(buf, sizeof(buf), s, strlen(s));
	return buf;
}

/* fput_json() of the C string s, in a static buffer. */
static const char *
json(const char *s)
{
	static char	 buf[1024];
	FILE		*fp;

	if ((fp = fmemopen(buf, sizeof(buf), "w")) == NULL)
		fatal("fmemopen");
	fput_json(fp, s, strlen(s));
	fclose(fp);
	return buf;
}

static void
t_utf8(void)
{
	uint32_t	 cp = 0;

	CHECK_INT(utf8_char("\xc3\xbc", 2, &cp), 2);
	CHECK_INT(cp, 0xfc);
	CHECK_INT(utf8_char("\xe2\x82\xac", 3, &cp), 3);
	CHECK_INT(cp, 0x20ac);
	CHECK_INT(utf8_char("\xf0\x9f\x93\xa7", 4, &cp), 4);
	CHECK_INT(cp, 0x1f4e7);
	CHECK_INT(utf8_char("\xc3\xbc", 1, &cp), 0);	/* cut short */
	CHECK_INT(utf8_char("\xc0\xaf", 2, &cp), 0);	/* overlong / */
	CHECK_INT(utf8_char("\xe0\x80\xaf", 3, &cp), 0);
	CHECK_INT(utf8_char("\xed\xa0\x80", 3, &cp), 0);	/* surrogate */
	CHECK_INT(utf8_char("\xf4\x90\x80\x80", 4, &cp), 0);	/* > 10FFFF */
	CHECK_INT(utf8_char("\xbc", 1, &cp), 0);	/* continuation */
	CHECK_INT(utf8_char("a", 1, &cp), 0);		/* ASCII is not 2+ */
}

static void
t_vis(void)
{
	CHECK_STR(vis("j\xc3\xbcrgen@example.de"), "j\xc3\xbcrgen@example.de");
	CHECK_STR(vis("\xe7\x94\xb0\xe4\xb8\xad"), "\xe7\x94\xb0\xe4\xb8\xad");
	CHECK_STR(vis("j\xfcrgen"), "j\\xfcrgen");	/* Latin-1 */
	CHECK_STR(vis("\xff\xfe"), "\\xff\\xfe");
	CHECK_STR(vis("a\\xfc"), "a\\\\xfc");		/* typed, not a byte */
	CHECK_STR(vis("\x1b[31mred"), "\\x1b[31mred");
	CHECK_STR(vis("a\tb\nc\x7f"), "a\\x09b\\x0ac\\x7f");
	CHECK_STR(vis("\xc2\x9b" "31m"), "\\xc2\\x9b31m");	/* C1 CSI */
	CHECK_STR(vis("x\xe2\x80\xaey"), "x\\xe2\\x80\\xaey");	/* RLO */
	CHECK_STR(vis("x\xe2\x80\xa8y"), "x\\xe2\\x80\\xa8y");	/* LS */
	CHECK_STR(vis("\xc3"), "\\xc3");
	CHECK_STR(vis("\xc0\xaf"), "\\xc0\\xaf");
	str_vis_ascii(1);
	CHECK_STR(vis("j\xc3\xbcrgen"), "j\\xc3\\xbcrgen");
	str_vis_ascii(0);
}

static void
t_vis_cut(void)
{
	char	 buf[8];

	/* "ab" + a 3-byte character does not fit in 4 bytes and a NUL. */
	CHECK_INT(str_vis(buf, 5, "ab\xe2\x82\xac", 5), 2);
	CHECK_STR(buf, "ab");
	CHECK_INT(str_vis(buf, 6, "ab\xe2\x82\xac", 5), 5);
	CHECK_INT(str_vis(buf, 4, "a\x01", 2), 1);
	CHECK_STR(buf, "a");
	CHECK_INT(str_vis(buf, 0, "a", 1), 0);
}

static void
t_lengths(void)
{
	const char	*e = "ab\xe2\x82\xac";

	CHECK_INT(str_vis_len("j\xc3\xbc\\\x01", 5), 1 + 2 + 2 + 4);
	CHECK_INT(utf8_cut(e, 5, 4), 2);
	CHECK_INT(utf8_cut(e, 5, 5), 5);
	CHECK_INT(utf8_cut(e, 5, 9), 5);
	CHECK_INT(utf8_cut("a\xff\xfe" "b", 4, 3), 3);	/* stray bytes cut */
}

static void
t_unvis(void)
{
	static const char *const in[] = { "j\xc3\xbcrgen", "j\xfcrgen",
	    "a\\xfc", "\\\\", "\x1b[0m\n", "\xc2\x9b\xe2\x80\xae" };
	char	 buf[256], *back;
	size_t	 i, n, len;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		n = str_vis(buf, sizeof(buf), in[i], strlen(in[i]));
		back = str_unvis(buf, n, &len);
		CHECK_MEM(back, len, in[i], strlen(in[i]));
		free(back);
	}
}

static void
t_json(void)
{
	CHECK_STR(json("j\xc3\xbcrgen@example.de"),
	    "\"j\xc3\xbcrgen@example.de\"");
	CHECK_STR(json("j\xfcrgen"), "\"j\\\\xfcrgen\"");
	CHECK_STR(json("a\\xfc"), "\"a\\\\\\\\xfc\"");
	CHECK_STR(json("say \"hi\""), "\"say \\\"hi\\\"\"");
	CHECK_STR(json("\x1b]0;x\x07"), "\"\\\\x1b]0;x\\\\x07\"");
	CHECK_STR(json("\xe2\x80\xa8"), "\"\\\\xe2\\\\x80\\\\xa8\"");
	/* The locale does not change JSON: it is UTF-8. */
	str_vis_ascii(1);
	CHECK_STR(json("\xc3\xbc"), "\"\xc3\xbc\"");
	str_vis_ascii(0);
	{
		FILE	*fp;
		char	 buf[16];

		fp = fmemopen(buf, sizeof(buf), "w");
		fput_json(fp, NULL, 0);
		fclose(fp);
		CHECK_STR(buf, "null");
	}
}

static void
t_time(void)
{
	const time_t	 now = 1796538600;	/* 2026-12-06T06:30:00Z */
	time_t		 t = 0;

	setenv("TZ", "UTC", 1);
	tzset();
	CHECK_INT(time_parse("2026-12-01", now, &t), 0);
	CHECK_INT(t, 1796083200);
	CHECK_INT(time_parse("2026-12-01T10:00", now, &t), 0);
	CHECK_INT(t, 1796119200);
	CHECK_INT(time_parse("2026-12-01 10:00:30", now, &t), 0);
	CHECK_INT(t, 1796119230);
	CHECK_INT(time_parse("2026-12-01T10:00:30Z", now, &t), 0);
	CHECK_INT(t, 1796119230);
	CHECK_INT(time_parse("yesterday", now, &t), 0);
	CHECK_INT(t, 1796428800);
	CHECK_INT(time_parse("today", now, &t), 0);
	CHECK_INT(t, 1796515200);
	CHECK_INT(time_parse("now", now, &t), 0);
	CHECK_INT(t, now);
	CHECK_INT(time_parse("90m", now, &t), 0);
	CHECK_INT(t, now - 5400);
	CHECK_INT(time_parse("7d", now, &t), 0);
	CHECK_INT(t, now - 7 * 86400);
	CHECK_INT(time_parse("2026-13-01", now, &t), -1);
	CHECK_INT(time_parse("2026-12-01T25:00", now, &t), -1);
	CHECK_INT(time_parse("2026-12-01T10", now, &t), -1);
	CHECK_INT(time_parse("2026-12-01x", now, &t), -1);
	CHECK_INT(time_parse("1 hour", now, &t), -1);
	CHECK_INT(time_parse("", now, &t), -1);
	/* Local time: midnight in Berlin is 23:00 UTC in winter. */
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	CHECK_INT(time_parse("2026-12-01", now, &t), 0);
	CHECK_INT(t, 1796083200 - 3600);
	CHECK_INT(time_parse("2026-12-01Z", now, &t), 0);
	CHECK_INT(t, 1796083200);
	setenv("TZ", "UTC", 1);
	tzset();
}

static void
t_span(void)
{
	static const struct { long long s; const char *want; } c[] = {
		{ 0, "0 seconds" }, { 1, "1 second" }, { 59, "59 seconds" },
		{ 60, "1 minute" }, { 90, "1 minute 30 seconds" },
		{ 900, "15 minutes" }, { 3600, "1 hour" }, { 3660, "1 hour 1 minute" },
		{ 7200, "2 hours" }, { 3601, "1 hour" }, { 86400, "1 day" },
		{ 93600, "1 day 2 hours" }, { 86460, "1 day" },
		{ 2592000, "30 days" }, { -5, "0 seconds" },
	};
	char	 buf[64];
	size_t	 i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		span_text(buf, sizeof(buf), c[i].s);
		CHECK_STR(buf, c[i].want);
	}
	span_text(buf, 5, 93600);		/* cut, terminated */
	CHECK_INT(strlen(buf) < 5, 1);
}

/* str_copy() leaves what snprintf(dst, size, "%s", s) leaves, at every size. */
static void
t_copy(void)
{
	static const char *const srcs[] = { "", "a", "203.0.113.9",
	    "2001:db8:1:2:cd1e:a660:b247:245f", "\xc3\xa9t\xc3\xa9" };
	char	 a[40], b[40];
	size_t	 i, size;

	for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
		for (size = 0; size <= sizeof(a); size++) {
			memset(a, 'x', sizeof(a));
			memset(b, 'x', sizeof(b));
			str_copy(a, size, srcs[i]);
			snprintf(b, size, "%s", srcs[i]);
			CHECK(memcmp(a, b, sizeof(a)) == 0);
		}
}

int
main(void)
{
	t_utf8();
	t_vis();
	t_vis_cut();
	t_lengths();
	t_unvis();
	t_json();
	t_time();
	t_span();
	t_copy();
	return check_done();
}
