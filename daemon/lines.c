/*
 * lines.c -- split a byte stream, arriving in chunks of any size, into
 * lines.  Whole lines inside a chunk are handed on without a copy; only a
 * line that spans chunks is buffered.  A line longer than SW_LINE_MAX is
 * handed on cut to that length, flagged, and the rest of it dropped.  Any
 * bytes are accepted; a CR before the newline is removed.  During each
 * callback ls->start and ls->next hold the stream offsets of the line
 * and of the byte after its newline, which is what a checkpoint needs.
 */

#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

void
lines_init(struct sw_lines *ls, sw_line_cb cb, void *arg)
{
	memset(ls, 0, sizeof(*ls));
	ls->cb = cb;
	ls->arg = arg;
}

/* Starts over at stream offset off, dropping any partial line. */
void
lines_reset(struct sw_lines *ls, uint64_t off)
{
	ls->len = 0;
	ls->cut = 0;
	ls->held = 0;
	ls->off = off;
}

void
lines_free(struct sw_lines *ls)
{
	free(ls->buf);
	ls->buf = NULL;
	ls->len = 0;
}

static void
lines_emit(struct sw_lines *ls, const char *p, size_t n, int cut)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	ls->cb(ls->arg, p, n, cut);
}

/* Adds n bytes to the partial line, up to the bound. */
static void
lines_keep(struct sw_lines *ls, const char *p, size_t n)
{
	if (ls->buf == NULL)
		ls->buf = xmalloc(SW_LINE_MAX + 1);
	ls->held += n;
	if (n > SW_LINE_MAX - ls->len) {
		n = SW_LINE_MAX - ls->len;
		ls->cut = 1;
	}
	memcpy(ls->buf + ls->len, p, n);
	ls->len += n;
}

/* Takes the next chunk of the stream; calls back once per whole line. */
void
lines_feed(struct sw_lines *ls, const char *p, size_t n)
{
	const char	*nl, *end = p + n;
	size_t		 len;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			lines_keep(ls, p, (size_t)(end - p));
			ls->off += (uint64_t)(end - p);
			return;
		}
		len = (size_t)(nl - p);
		ls->off += len + 1;
		ls->next = ls->off;
		ls->start = ls->off - len - 1 - ls->held;
		if (ls->held == 0) {
			if (len > SW_LINE_MAX)
				lines_emit(ls, p, SW_LINE_MAX, 1);
			else
				lines_emit(ls, p, len, 0);
		} else {
			lines_keep(ls, p, len);
			lines_emit(ls, ls->buf, ls->len, ls->cut);
			ls->len = 0;
			ls->cut = 0;
			ls->held = 0;
		}
		p = nl + 1;
	}
}

/* End of stream: a last line without its newline is handed on. */
void
lines_finish(struct sw_lines *ls)
{
	if (ls->held > 0) {
		ls->start = ls->off - ls->held;
		ls->next = ls->off;
		lines_emit(ls, ls->buf, ls->len, ls->cut);
	}
	ls->len = 0;
	ls->cut = 0;
	ls->held = 0;
}

/* Offset of the first byte not yet handed on in a whole line. */
uint64_t
lines_pending(const struct sw_lines *ls)
{
	return ls->off - ls->held;
}
