/*
 * fuzz_front.c -- the front end (front.c) changes nothing but speed: the
 * input is a log read twice through a feed on the shipped rules, once
 * with the front end (which passes over the lines in which Vectorscan
 * finds no literal) and once without it (SMTPWATCH_FRONT=no, every line
 * parsed and matched), in reads of a size the input's first two bytes
 * pick, as scan reads a file.  The events, each with every field, what
 * each record came to as scan counts it and the feed's counts, written
 * out as text, must be the same both times (both are printed when they
 * are not).  Built without
 * Vectorscan both runs read every line, and it checks only that they
 * agree.  The rules come from SW_FUZZ_RULES (default: rules/ of the tree).
 */

#include <stdarg.h>
#include <string.h>

#include "fuzz.h"

static struct sw_rules	*rules;

/* What a run yields, written out field by field. */
struct out {
	char	*p;
	size_t	 len, cap;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rules = fuzz_load_rules("fuzz_front");
	fuzz_quiet();
	return 0;
}

static void
out_add(struct out *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = 2 * (o->len + n);
		if ((o->p = realloc(o->p, o->cap)) == NULL)
			abort();
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

/* Text at the end of the output. */
static void
out_printf(struct out *o, const char *fmt, ...)
{
	char	 buf[256];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		abort();
	out_add(o, buf, (size_t)n);
}

/*
 * A field, as the program prints client text (str_vis), after its
 * length in bytes: "ab" "c" differs from "a" "bc".
 */
static void
out_str(struct out *o, const char *s, size_t n)
{
	size_t	 len = str_vis_len(s, n);
	char	*v;

	if ((v = malloc(len + 1)) == NULL)
		abort();
	str_vis(v, len + 1, s, n);
	out_printf(o, " %zu:", n);
	out_add(o, v, len);
	free(v);
}

static void
on_event(void *arg, const struct sw_event *ev)
{
	struct out	*o = arg;

	out_printf(o, "event %lld kind %d dir %d mta %d flags %u repeat %u "
	    "pid %ld rule %s diag %s", (long long)ev->when, ev->kind, ev->dir,
	    ev->mta, ev->flags, ev->repeat, (long)ev->pid, ev->rule->id,
	    ev->diag != NULL ? ev->diag->id : "-");
	out_str(o, ev->host, strnlen(ev->host, sizeof(ev->host)));
	out_str(o, ev->account, ev->accountlen);
	out_str(o, ev->addr, strnlen(ev->addr, sizeof(ev->addr)));
	out_str(o, ev->name, strnlen(ev->name, sizeof(ev->name)));
	out_str(o, ev->relay, strnlen(ev->relay, sizeof(ev->relay)));
	out_str(o, ev->mech, strnlen(ev->mech, sizeof(ev->mech)));
	out_str(o, ev->reply, strnlen(ev->reply, sizeof(ev->reply)));
	out_str(o, ev->queue, strnlen(ev->queue, sizeof(ev->queue)));
	out_add(o, "\n", 1);
}

/*
 * What each record came to, as scan counts it (scan_note): a look-alike
 * (event = none) or an unmatched line that does not mention AUTH is
 * nothing to it, as is a line the front end passed over (rec NULL).
 */
static void
on_note(void *arg, const struct sw_record *rec, int result,
    const struct sw_event *ev)
{
	struct out	*o = arg;

	(void)ev;
	if (rec == NULL || (rec->cut == 0 && rec->env.repeat == 0 &&
	    (result == SW_MATCH_NONE || result == SW_MATCH_IGNORED) &&
	    !match_mentions_auth(rec))) {
		out_printf(o, "record quiet\n");
		return;
	}
	out_printf(o, "record %lu lines %u cut %d repeat %u: %d",
	    rec->lineno, rec->nlines, rec->cut, rec->env.repeat, result);
	out_str(o, rec->text, rec->len);
	out_add(o, "\n", 1);
}

/* scan's way: each read is shown to the feed, then split into lines. */
struct reader {
	struct sw_feed	*feed;
	struct sw_lines	*ls;
};

static void
on_line(void *arg, const char *p, size_t n, int cut)
{
	struct reader	*r = arg;

	feed_tail_cb.line(r->feed, p, n, cut, r->ls->start, r->ls->next);
}

static void
run(const uint8_t *data, size_t size, size_t chunk, int front,
    struct out *o)
{
	static const struct sw_fileid	 fid = { 1, 42, 0, 0 };
	struct sw_matchopt		 opt = { 1, NULL };
	struct sw_feed_stat		 st;
	struct sw_lines			 ls;
	struct reader			 r;
	size_t				 at, n;

	if (!front)
		setenv("SMTPWATCH_FRONT", "no", 1);
	r.feed = feed_new("fuzz", rules, &opt, NULL, on_event, o);
	unsetenv("SMTPWATCH_FRONT");
	r.ls = &ls;
	feed_notes(r.feed, on_note, o);
	feed_reference(r.feed, 1795910400);
	feed_tail_cb.begin(r.feed, &fid, 0);
	lines_init(&ls, on_line, &r);
	for (at = 0; at < size; at += n) {
		n = size - at < chunk ? size - at : chunk;
		feed_tail_cb.chunk(r.feed, (const char *)data + at, n, ls.off);
		lines_feed(&ls, (const char *)data + at, n);
	}
	lines_finish(&ls);
	lines_free(&ls);
	feed_tail_cb.end(r.feed);
	memset(&st, 0, sizeof(st));
	feed_stat(r.feed, &st);
	out_printf(o, "lines %llu records %llu events %llu dups %llu cut %llu "
	    "newest %lld\n", st.lines, st.records, st.events, st.dups, st.cut,
	    (long long)st.newest);
	feed_free(r.feed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out	 with, without;
	size_t		 chunk;

	if (size < 2)
		return 0;
	chunk = 1 + ((size_t)data[0] << 8 | data[1]) % 4096;
	memset(&with, 0, sizeof(with));
	memset(&without, 0, sizeof(without));
	run(data + 2, size - 2, chunk, 1, &with);
	run(data + 2, size - 2, chunk, 0, &without);
	if (with.len != without.len ||
	    memcmp(with.p, without.p, with.len) != 0) {
		fprintf(stderr, "with the front end:\n%.*s\nwithout:\n%.*s\n",
		    (int)with.len, with.p, (int)without.len, without.p);
		FUZZ_CHECK(!"the same with and without the front end");
	}
	free(with.p);
	free(without.p);
	return 0;
}
