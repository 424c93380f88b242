/*
 * check.h -- the unit test harness: a few macros that print file:line on
 * failure and count, and check_done() for the exit status.  No
 * allocation; include it once per test program, after the module.
 *
 *	CHECK(expr)			expr is true
 *	CHECK_INT(a, b)			a == b, as long long
 *	CHECK_STR(a, b)			strcmp(a, b) == 0; NULL equals only NULL
 *	CHECK_MEM(a, alen, b, blen)	the same bytes, any bytes
 *	return check_done();		"t_NAME: N checks, M failed"
 */

#ifndef CHECK_H
#define CHECK_H

#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static unsigned long	 check_count, check_failed;

#define CHECK(e)							\
	check_true(!!(e), #e, __FILE__, __LINE__)
#define CHECK_INT(a, b)							\
	check_int((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_STR(a, b)							\
	check_mem((a), (a) != NULL ? strlen(a) : 0,			\
	    (b), (b) != NULL ? strlen(b) : 0, #a, #b, __FILE__, __LINE__)
#define CHECK_MEM(a, alen, b, blen)					\
	check_mem((a), (alen), (b), (blen), #a, #b, __FILE__, __LINE__)

/* Prints at most 200 bytes of s, escaped, in quotes. */
static inline void
check_put(const char *s, size_t len)
{
	size_t	 i;

	if (s == NULL) {
		fputs("NULL", stderr);
		return;
	}
	fputc('"', stderr);
	for (i = 0; i < len && i < 200; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fprintf(stderr, "\\%c", s[i]);
		else if (s[i] >= 0x20 && s[i] < 0x7f)
			fputc(s[i], stderr);
		else
			fprintf(stderr, "\\x%02x", (unsigned char)s[i]);
	}
	fputc('"', stderr);
	if (len > 200)
		fprintf(stderr, "... (%zu bytes)", len);
}

static inline int
check_true(int ok, const char *expr, const char *file, int line)
{
	check_count++;
	if (!ok) {
		check_failed++;
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
	}
	return ok;
}

static inline int
check_int(long long a, long long b, const char *ea, const char *eb,
    const char *file, int line)
{
	check_count++;
	if (a != b) {
		check_failed++;
		fprintf(stderr, "%s:%d: CHECK failed: %s == %s: %lld != %lld\n",
		    file, line, ea, eb, a, b);
	}
	return a == b;
}

static inline int
check_mem(const char *a, size_t alen, const char *b, size_t blen,
    const char *ea, const char *eb, const char *file, int line)
{
	int	 ok;

	check_count++;
	if (a == NULL || b == NULL)
		ok = a == b;
	else
		ok = alen == blen && memcmp(a, b, alen) == 0;
	if (!ok) {
		check_failed++;
		fprintf(stderr, "%s:%d: CHECK failed: %s == %s\n\tgot  ",
		    file, line, ea, eb);
		check_put(a, alen);
		fputs("\n\twant ", stderr);
		check_put(b, blen);
		fputc('\n', stderr);
	}
	return ok;
}

/* Prints the tally; returns the exit status for main(). */
static inline int
check_done(void)
{
	printf("%s: %lu checks, %lu failed\n", program_invocation_short_name,
	    check_count, check_failed);
	return check_failed == 0 ? 0 : 1;
}

/* The time_t of a UTC date, for expected timestamps. */
static inline time_t
check_utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm	 tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return timegm(&tm);
}

/* nftw(3) callback removing a test's temporary tree, depth first. */
static inline int
check_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

#endif /* CHECK_H */
