/*
 * util.c -- allocation that never returns NULL (exit beats half-working),
 * string vectors, durations, tables of 64-bit hashes, and the two
 * escapers every printer of attacker-typed text goes through: str_vis()
 * for terminals and the journal, fput_json() for JSON, both keeping
 * well-formed UTF-8 and showing everything else as \xNN; str_unvis()
 * reads str_vis() text back.
 */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpwatch.h"

void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		fatal("malloc");
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		fatal("calloc");
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		fatal("reallocarray");
	}
	if ((p = realloc(old, n * size == 0 ? 1 : n * size)) == NULL)
		fatal("realloc");
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * Copies s into dst of size bytes, cut to fit and NUL-terminated, as
 * snprintf(dst, size, "%s", s) does without stdio's cost (a storm copies
 * an address for every failure).
 */
void
str_copy(char *dst, size_t size, const char *s)
{
	size_t	 n;

	if (size == 0)
		return;
	n = strnlen(s, size - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Appends a copy of s to the vector *v of *n strings. */
void
strv_push(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

void
strv_free(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* 1 once str_vis_ascii() asked for ASCII only (a terminal not in UTF-8). */
static int	 vis_ascii;

/*
 * smtpwatchctl calls this with 1 when the locale's character set is not
 * UTF-8: str_vis() then escapes every byte that is not printable ASCII.
 */
void
str_vis_ascii(int ascii)
{
	vis_ascii = ascii;
}

/* 1 unless str_vis_ascii(1) was called: the terminal shows UTF-8. */
int
str_vis_utf8(void)
{
	return !vis_ascii;
}

/*
 * The length (2 to 4) of the well-formed UTF-8 sequence at s, at most n
 * bytes, and its code point in *cp; 0 when s does not start one
 * (overlong forms, surrogates and code points past U+10FFFF included).
 */
size_t
utf8_char(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 k, i;
	uint32_t		 c, min;

	if (n == 0 || u[0] < 0xc2 || u[0] > 0xf4)
		return 0;
	k = u[0] < 0xe0 ? 2 : u[0] < 0xf0 ? 3 : 4;
	min = k == 2 ? 0x80 : k == 3 ? 0x800 : 0x10000;
	c = u[0] & (0x7f >> k);
	if (k > n)
		return 0;
	for (i = 1; i < k; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (u[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return k;
}

/*
 * 1 for a code point that may be shown as it is: not a C1 control, and
 * none of the invisible characters that reorder or break a line on a
 * terminal (bidirectional controls, U+2028 and U+2029).
 */
static int
vis_shown(uint32_t cp)
{
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	if (cp == 0x200e || cp == 0x200f || cp == 0x061c)
		return 0;
	if (cp >= 0x2028 && cp <= 0x202e)
		return 0;
	if (cp >= 0x2066 && cp <= 0x2069)
		return 0;
	return 1;
}

/* Bytes at s (len > 0) str_vis() keeps as they are: 0 to escape s[0]. */
static size_t
vis_keep(const char *s, size_t len, int ascii)
{
	unsigned char	 c = (unsigned char)*s;
	uint32_t	 cp;
	size_t		 k;

	if (c >= 0x20 && c < 0x7f)
		return c == '\\' ? 0 : 1;
	if (c < 0x80 || ascii)
		return 0;
	if ((k = utf8_char(s, len, &cp)) == 0 || !vis_shown(cp))
		return 0;
	return k;
}

/*
 * Writes s (len bytes, any bytes) into dst so that it can be shown and
 * read back: well-formed UTF-8 as it is (printable ASCII only after
 * str_vis_ascii(1)), \\ for a backslash, and \xNN for every other byte:
 * control characters (tab and newline too), DEL, C1 controls,
 * bidirectional controls and bytes that are not UTF-8.  A client cannot
 * type text that shows the same: its own backslash is doubled.  Returns
 * the length written, without the NUL; the output is cut to fit
 * dstsize, never inside a character.
 */
size_t
str_vis(char *dst, size_t dstsize, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0, k, tn;
	unsigned char		 c;
	char			 tmp[4];

	if (dstsize == 0)
		return 0;
	for (i = 0; i < len; i += k) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {	/* vis_keep()'s 1 */
			if (o + 1 >= dstsize)
				break;
			dst[o++] = (char)c;
			k = 1;
			continue;
		}
		if ((k = vis_keep(s + i, len - i, vis_ascii)) > 0) {
			memcpy(tmp, s + i, k);
			tn = k;
		} else if (c == '\\') {
			tmp[0] = tmp[1] = '\\';
			tn = 2;
			k = 1;
		} else {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 0xf];
			tn = 4;
			k = 1;
		}
		if (o + tn >= dstsize)
			break;
		memcpy(dst + o, tmp, tn);
		o += tn;
	}
	dst[o] = '\0';
	return o;
}

/* The length str_vis() writes for all of s, given room. */
size_t
str_vis_len(const char *s, size_t len)
{
	size_t	 i, k, n = 0;

	for (i = 0; i < len; i += k) {
		if ((k = vis_keep(s + i, len - i, vis_ascii)) > 0)
			n += k;
		else {
			n += s[i] == '\\' ? 2 : 4;
			k = 1;
		}
	}
	return n;
}

/*
 * The length of s's first n bytes or fewer that ends on a character:
 * where well-formed UTF-8 may be cut.
 */
size_t
utf8_cut(const char *s, size_t len, size_t n)
{
	size_t		 i, k;
	uint32_t	 cp;

	if (n >= len)
		return len;
	for (i = 0; i < n; i += k)
		if ((k = utf8_char(s + i, len - i, &cp)) == 0)
			k = 1;
		else if (i + k > n)
			break;
	return i < n ? i : n;
}

/*
 * str_vis() text back to its bytes: \\ is a backslash, \xNN a byte, any
 * other backslash stands for itself.  Allocated, NUL-terminated; *len
 * its length without the NUL.
 */
char *
str_unvis(const char *s, size_t n, size_t *len)
{
	char		*d = xmalloc(n + 1), *o = d;
	const char	*end = s + n;
	unsigned int	 b;

	while (s < end) {
		if (s[0] == '\\' && s + 1 < end && s[1] == '\\') {
			*o++ = '\\';
			s += 2;
		} else if (s[0] == '\\' && s + 3 < end && s[1] == 'x' &&
		    isxdigit((unsigned char)s[2]) &&
		    isxdigit((unsigned char)s[3]) &&
		    sscanf(s + 2, "%2x", &b) == 1) {
			*o++ = (char)b;
			s += 4;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	*len = (size_t)(o - d);
	return d;
}

/* str_vis() straight to a stream, without a length bound. */
void
fput_vis(FILE *fp, const char *s, size_t len)
{
	char	 buf[256];
	size_t	 i, chunk;

	for (i = 0; i < len; i += chunk) {
		chunk = len - i > 60 ? 60 : len - i;
		str_vis(buf, sizeof(buf), s + i, chunk);
		fputs(buf, fp);
	}
}

/*
 * Writes s as a JSON string, quotes included: the text str_vis() shows
 * (well-formed UTF-8 as it is, whatever the locale), so a JSON reader
 * gets what a terminal shows; the exact bytes travel in NAME_hex fields.
 * NULL is null.
 */
void
fput_json(FILE *fp, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, k;
	unsigned char		 c;

	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	putc('"', fp);
	for (i = 0; i < len; i += k) {
		c = (unsigned char)s[i];
		if ((k = vis_keep(s + i, len - i, 0)) > 0) {
			if (c == '"')
				putc('\\', fp);
			fwrite(s + i, 1, k, fp);
			continue;
		}
		k = 1;
		if (c == '\\')
			fputs("\\\\\\\\", fp);
		else
			fprintf(fp, "\\\\x%c%c", hex[c >> 4], hex[c & 0xf]);
	}
	putc('"', fp);
}

/*
 * Parses "90", "90s", "10m", "1h", "7d" into seconds.  Returns 0, or -1
 * for anything else (the caller reports file:line).
 */
int
duration_parse(const char *s, long *secs)
{
	char	*end;
	long	 n, mult = 1;

	errno = 0;
	n = strtol(s, &end, 10);
	if (end == s || errno != 0 || n < 0)
		return -1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (n > LONG_MAX / mult)
		return -1;
	*secs = n * mult;
	return 0;
}

/* Like duration_parse() in milliseconds; also takes "250ms". */
int
duration_parse_ms(const char *s, long *ms)
{
	char	*end;
	long	 n, secs;

	errno = 0;
	n = strtol(s, &end, 10);
	if (end != s && errno == 0 && n >= 0 && strcmp(end, "ms") == 0) {
		*ms = n;
		return 0;
	}
	if (duration_parse(s, &secs) == -1 || secs > LONG_MAX / 1000)
		return -1;
	*ms = secs * 1000;
	return 0;
}

/* Midnight, local time, of the day holding t, days later (or earlier). */
static time_t
time_midnight(time_t t, int days)
{
	struct tm	 tm;

	if (localtime_r(&t, &tm) == NULL)
		return (time_t)-1;
	tm.tm_mday += days;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

/*
 * "2026-12-01", "2026-12-01T10:00", "2026-12-01 10:00:30", in local
 * time, or with a trailing Z in UTC.  Returns 0, or -1.
 */
static int
time_absolute(const char *s, time_t *t)
{
	struct tm	 tm;
	const char	*p;
	int		 utc = 0;

	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%d", &tm)) == NULL)
		return -1;
	if (*p == 'T' || *p == ' ') {
		if ((p = strptime(p + 1, "%H:%M", &tm)) == NULL)
			return -1;
		if (*p == ':' && (p = strptime(p + 1, "%S", &tm)) == NULL)
			return -1;
	}
	if (*p == 'Z') {
		utc = 1;
		p++;
	}
	if (*p != '\0')
		return -1;
	tm.tm_isdst = -1;
	*t = utc ? timegm(&tm) : mktime(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

/*
 * A point in time as the listings' --since and --until take it: a
 * duration before now ("90m", "12h", "7d"), a date or a date and time
 * ("2026-12-01", "2026-12-01T10:00"; local time, UTC with a trailing
 * Z), or "now", "today", "yesterday" (midnight, local time).  Returns
 * 0, or -1 for anything else.
 */
int
time_parse(const char *s, time_t now, time_t *t)
{
	long	 d;

	if (strcmp(s, "now") == 0)
		*t = now;
	else if (strcmp(s, "today") == 0)
		*t = time_midnight(now, 0);
	else if (strcmp(s, "yesterday") == 0)
		*t = time_midnight(now, -1);
	else if (duration_parse(s, &d) == 0)
		*t = now - d;
	else
		return time_absolute(s, t);
	return *t == (time_t)-1 ? -1 : 0;
}

/*
 * A span of seconds for a person: its largest unit, and the next one
 * down when it is not 0: "1 hour", "15 minutes", "1 day 2 hours",
 * "1 minute 30 seconds", "0 seconds".
 */
void
span_text(char *buf, size_t size, long long secs)
{
	static const struct { long long n; const char *one, *many; } u[] = {
		{ 86400, "day", "days" }, { 3600, "hour", "hours" },
		{ 60, "minute", "minutes" }, { 1, "second", "seconds" },
	};
	size_t		 i = 0;
	long long	 v, w = 0;
	int		 n;

	if (size == 0)
		return;
	if (secs < 0)
		secs = 0;
	while (i + 1 < sizeof(u) / sizeof(u[0]) && secs < u[i].n)
		i++;
	v = secs / u[i].n;
	if (i + 1 < sizeof(u) / sizeof(u[0]))
		w = secs % u[i].n / u[i + 1].n;
	n = snprintf(buf, size, "%lld %s", v, v == 1 ? u[i].one : u[i].many);
	if (w > 0 && n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " %lld %s", w,
		    w == 1 ? u[i + 1].one : u[i + 1].many);
}

/*
 * A dotted quad exactly as inet_pton(AF_INET) takes it: four decimal
 * parts of 0 to 255 without a leading zero.  0 for anything else, which
 * the caller leaves to inet_pton: this is the fast way for the common
 * case (a storm checks and groups an address or two for every failure).
 */
int
addr_quad(const char *s, unsigned char a[4])
{
	unsigned int	 v;
	int		 i, n;

	for (i = 0; i < 4; i++, s++) {
		for (v = 0, n = 0; *s >= '0' && *s <= '9'; s++, n++) {
			if (n > 0 && v == 0)
				return 0;
			if ((v = v * 10 + (unsigned int)(*s - '0')) > 255)
				return 0;
		}
		if (n == 0 || *s != (i < 3 ? '.' : '\0'))
			return 0;
		a[i] = (unsigned char)v;
	}
	return 1;
}

/* FNV-1a, 64 bits: what is saved (file fingerprints, record identities). */
uint64_t
fnv64(uint64_t h, const void *v, size_t n)
{
	const unsigned char	*p = v;

	while (n-- > 0)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

/*
 * A hash of n bytes for the tables that live in memory only (the batch's
 * keys, the incident engine's incidents, tracks and sets): a word of
 * eight bytes a step where fnv64() takes a byte, each step a multiply
 * and a shift, and a final mix so that the low bits, which pick a slot,
 * depend on every byte.  Calls chain (the seed is the hash so far), and
 * the length is mixed in at each, so that ("ab", "c") and ("a", "bc")
 * differ.  Never saved: its values may change from one build to the
 * next, fnv64()'s may not.  A storm's scan spent 5 % of its instructions
 * in fnv64() on names and addresses.
 */
uint64_t
hash_mem(uint64_t h, const void *v, size_t n)
{
	const unsigned char	*p = v;
	uint64_t		 w;
	size_t			 i;

	h ^= (uint64_t)n * 0x9e3779b97f4a7c15ULL;
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, sizeof(w));
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	for (w = 0, i = 0; i < n; i++)
		w |= (uint64_t)p[i] << (8 * i);
	h = (h ^ w) * 0x94d049bb133111ebULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ h >> 32;
}

/*
 * Tables of distinct 64-bit hashes (held.c's messages held back), open
 * addressing with linear probing, 0 a free slot, cap a power of 2: the
 * slot of v in tab, where it is or the free one it would take.
 */
size_t
hash64_slot(const uint64_t *tab, size_t cap, uint64_t v)
{
	size_t	 i;

	for (i = (size_t)v & (cap - 1); tab[i] != 0 && tab[i] != v;
	    i = (i + 1) & (cap - 1))
		continue;
	return i;
}

/* Every value of from (fromcap slots) into to (tocap slots, zeroed). */
void
hash64_move(uint64_t *to, size_t tocap, const uint64_t *from,
    size_t fromcap)
{
	size_t	 i;

	for (i = 0; i < fromcap; i++)
		if (from[i] != 0)
			to[hash64_slot(to, tocap, from[i])] = from[i];
}

/*
 * What a client-side event is about, as the store keys its relay row and
 * relayset.c watches it: the relay's name, else the host name, else its
 * address; *len is set (0 for none).
 */
const char *
sw_subject(const struct sw_event *ev, size_t *len)
{
	const char	*p;
	size_t		 max;

	if (ev->relay[0] != '\0') {
		p = ev->relay;
		max = sizeof(ev->relay);
	} else if (ev->name[0] != '\0') {
		p = ev->name;
		max = sizeof(ev->name);
	} else {
		p = ev->addr;
		max = sizeof(ev->addr);
	}
	*len = strnlen(p, max);
	return p;
}

void
checkpoint_clear(struct sw_checkpoint *cp)
{
	free(cp->source);
	free(cp->state);
	free(cp->cursor);
	memset(cp, 0, sizeof(*cp));
}

/* Deep copy; dst must be clear or hold a checkpoint (it is freed). */
void
checkpoint_copy(struct sw_checkpoint *dst, const struct sw_checkpoint *src)
{
	if (dst == src)
		return;
	checkpoint_clear(dst);
	*dst = *src;
	dst->source = src->source != NULL ? xstrdup(src->source) : NULL;
	dst->cursor = src->cursor != NULL ? xstrdup(src->cursor) : NULL;
	dst->state = NULL;
	if (src->statelen > 0) {
		dst->state = xmalloc(src->statelen);
		memcpy(dst->state, src->state, src->statelen);
	}
}
