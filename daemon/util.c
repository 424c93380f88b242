/*
 * util.c -- allocation that never returns NULL (exit beats half-working),
 * string vectors, durations, and the two escapers every printer of
 * attacker-typed text goes through: str_vis() for terminals and
 * fput_json() for JSON; str_unvis() reads str_vis() text back.
 */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * Writes s (len bytes, any bytes) into dst as printable ASCII: \\ for
 * a backslash, \xNN for control (tab and newline too), DEL and
 * non-ASCII bytes.  Returns the length
 * written, without the NUL; the output is cut to fit dstsize.
 */
size_t
str_vis(char *dst, size_t dstsize, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0;
	unsigned char		 c;
	char			 tmp[4];
	size_t			 tn;

	if (dstsize == 0)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		tn = 0;
		if (c == '\\') {
			tmp[tn++] = '\\';
			tmp[tn++] = '\\';
		} else if (c >= 0x20 && c < 0x7f) {
			tmp[tn++] = (char)c;
		} else {
			tmp[tn++] = '\\';
			tmp[tn++] = 'x';
			tmp[tn++] = hex[c >> 4];
			tmp[tn++] = hex[c & 0xf];
		}
		if (o + tn >= dstsize)
			break;
		memcpy(dst + o, tmp, tn);
		o += tn;
	}
	dst[o] = '\0';
	return o;
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
 * Writes s as a JSON string, quotes included.  Bytes that are not
 * printable ASCII become \u00XX, one per byte, so the output is valid
 * JSON whatever the input; the exact bytes travel in *_hex fields.
 */
void
fput_json(FILE *fp, const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	putc('"', fp);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			putc('\\', fp);
			putc(c, fp);
		} else if (c >= 0x20 && c < 0x7f)
			putc(c, fp);
		else
			fprintf(fp, "\\u%04x", c);
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

/* FNV-1a, 64 bits: file fingerprints and hash tables. */
uint64_t
fnv64(uint64_t h, const void *v, size_t n)
{
	const unsigned char	*p = v;

	while (n-- > 0)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
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
