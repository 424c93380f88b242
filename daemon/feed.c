/*
 * feed.c -- one log source's way from lines to events: the lines that
 * tail.c hands on go through join.c and match.c, and each event to the
 * daemon's callback.  A feed also knows where it stands, so that a
 * checkpoint can say exactly which records were counted.
 *
 * A checkpoint is (file, offset, done, held[], matcher state): reading
 * resumes at offset; records that start before done were counted, except
 * those starting at a held[] offset, which join.c still held at the
 * commit (an Exim entry waiting for its continuation lines, a syslog
 * part series).  On resume, the records before done are rebuilt to
 * restore join.c, but only the held ones reach the matcher again.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpwatch.h"

#define FEED_IDLE	1		/* seconds before held records go */

struct sw_feed {
	char			*source;
	const struct sw_rules	*rs;
	struct sw_join		*j;
	struct sw_matcher	*m;
	sw_event_cb		 cb;
	void			*arg;
	sw_note_cb		 note;	/* every record, for scan; or NULL */
	void			*notearg;
	struct sw_fileid	 id;	/* the file being read */
	int			 open;	/* begin() seen */
	int			 changed;	/* position moved since taken */
	uint64_t		 next;	/* after the last line given to join */
	time_t			 last;	/* when the last line came */
	struct sw_checkpoint	 cp;	/* resumed from, while replaying */
	int			 resumed;	/* cp is set, first begin() due */
	int			 replay;	/* records before cp.done are skipped */
	struct sw_feed_stat	 st;
};

static void	feed_record(void *, const struct sw_record *);

/*
 * The state a checkpoint carries: "SWF1", the year and month join.c's
 * clock has inferred (so that classic stamps get the same year after a
 * restart), then the matcher's memory of repeats.
 */
#define FEED_MAGIC	"SWF1"
#define FEED_HDR	(4 + 2 * sizeof(int))

static size_t
feed_state_save(const struct sw_feed *f, unsigned char **out)
{
	unsigned char	*m, *buf;
	size_t		 n;
	int		 ym[2];

	join_clock_get(f->j, &ym[0], &ym[1]);
	n = match_state_save(f->m, &m);
	buf = xmalloc(FEED_HDR + n);
	memcpy(buf, FEED_MAGIC, 4);
	memcpy(buf + 4, ym, sizeof(ym));
	memcpy(buf + FEED_HDR, m, n);
	free(m);
	*out = buf;
	return FEED_HDR + n;
}

static int
feed_state_load(struct sw_feed *f, const struct sw_checkpoint *cp)
{
	int	 ym[2];

	if (cp->statelen < FEED_HDR || memcmp(cp->state, FEED_MAGIC, 4) != 0)
		return -1;
	if (match_state_load(f->m, cp->state + FEED_HDR,
	    cp->statelen - FEED_HDR) == -1)
		return -1;
	memcpy(ym, cp->state + 4, sizeof(ym));
	join_clock_set(f->j, ym[0], ym[1]);
	return 0;
}

/*
 * A feed for source; cp is its committed checkpoint or NULL.  The
 * matcher's memory of repeats is restored from cp.
 */
struct sw_feed *
feed_new(const char *source, const struct sw_rules *rs,
    const struct sw_matchopt *opt, const struct sw_checkpoint *cp,
    sw_event_cb cb, void *arg)
{
	struct sw_feed	*f;

	f = xcalloc(1, sizeof(*f));
	f->source = xstrdup(source);
	f->rs = rs;
	f->m = matcher_new(rs, opt);
	f->j = join_new(time(NULL), feed_record, f);
	f->cb = cb;
	f->arg = arg;
	if (cp != NULL) {
		checkpoint_copy(&f->cp, cp);
		f->resumed = 1;
		if (cp->statelen > 0 && feed_state_load(f, cp) == -1)
			log_info("%s: the saved matcher state is from another "
			    "version: repeats of earlier lines may count once "
			    "more", source);
	}
	return f;
}

void
feed_free(struct sw_feed *f)
{
	if (f == NULL)
		return;
	join_free(f->j);
	matcher_free(f->m);
	checkpoint_clear(&f->cp);
	free(f->source);
	free(f);
}

/* While replaying: 1 when the record was counted before the restart. */
static int
feed_counted(const struct sw_feed *f, const struct sw_record *rec)
{
	size_t	 i;

	if (!f->replay || rec->pos >= f->cp.done)
		return 0;
	for (i = 0; i < f->cp.nheld; i++)
		if (f->cp.held[i] == rec->pos)
			return 0;
	return 1;
}

static void
feed_record(void *arg, const struct sw_record *rec)
{
	struct sw_feed	*f = arg;
	struct sw_event	 ev;
	int		 rc;

	f->st.records++;
	if (feed_counted(f, rec)) {
		f->st.replayed++;
		return;
	}
	switch ((rc = match_record(f->m, rec, &ev))) {
	case SW_MATCH_EVENT:
		f->st.events++;
		f->cb(f->arg, &ev);
		break;
	case SW_MATCH_DUP:
		f->st.dups++;
		break;
	default:
		break;
	}
	if (f->note != NULL)
		f->note(f->notearg, rec, rc, &ev);
}

/*
 * Also hands every record counted, with what the matcher made of it
 * (SW_MATCH_*; ev is set for SW_MATCH_EVENT), to note: scan's coverage,
 * --events and --missed.
 */
void
feed_notes(struct sw_feed *f, sw_note_cb note, void *arg)
{
	f->note = note;
	f->notearg = arg;
}

/* Classic stamps take the year of ref from now on (scan: a file's mtime). */
void
feed_reference(struct sw_feed *f, time_t ref)
{
	join_reference(f->j, ref);
}

static void
feed_line(void *arg, const char *p, size_t n, int cut, uint64_t start,
    uint64_t next)
{
	struct sw_feed	*f = arg;

	f->st.lines++;
	if (cut)
		f->st.cut++;
	join_at(f->j, start);
	join_line(f->j, p, n, cut);
	f->next = next;
	f->last = time(NULL);
	f->changed = 1;
	if (f->replay && next >= f->cp.done && join_held(f->j, NULL, 0) == 0)
		f->replay = 0;
}

/*
 * A file begins.  The first one after a resume continues the checkpoint
 * when it starts at its offset: then the records before done are known.
 */
static void
feed_begin(void *arg, const struct sw_fileid *id, uint64_t offset)
{
	struct sw_feed	*f = arg;

	f->id = *id;
	f->open = 1;
	f->next = offset;
	f->changed = 1;
	f->replay = 0;
	if (f->resumed && offset == f->cp.offset && (offset > 0 ||
	    (id->dev == f->cp.id.dev && id->ino == f->cp.id.ino)))
		f->replay = f->cp.done > offset;
	f->resumed = 0;
	if (!f->replay)
		checkpoint_clear(&f->cp);
}

/* The stream goes on in a copy (copytruncate): same offsets. */
static void
feed_moved(void *arg, const struct sw_fileid *id)
{
	struct sw_feed	*f = arg;

	f->id = *id;
	f->changed = 1;
}

static void
feed_end(void *arg)
{
	struct sw_feed	*f = arg;

	join_flush(f->j);
	f->replay = 0;
	f->resumed = 0;
	checkpoint_clear(&f->cp);
	f->changed = 1;
	f->st.files++;
}

static void
feed_drained(void *arg)
{
	struct sw_feed	*f = arg;

	join_flush_entry(f->j);
}

const struct sw_tail_cb feed_tail_cb = {
	feed_line, feed_begin, feed_moved, feed_end, feed_drained
};

/* Records held longer than FEED_IDLE seconds are handed on as they are. */
void
feed_idle(struct sw_feed *f, time_t now)
{
	if (f->open && now - f->last >= FEED_IDLE &&
	    join_held(f->j, NULL, 0) > 0)
		join_flush(f->j);
}

/* Adds v to the set held[] unless it is there. */
static void
held_add(struct sw_checkpoint *cp, uint64_t v)
{
	size_t	 i;

	for (i = 0; i < cp->nheld; i++)
		if (cp->held[i] == v)
			return;
	if (cp->nheld < SW_HELD_MAX)
		cp->held[cp->nheld++] = v;
}

/*
 * Where the feed stands, for the next commit; cp must be clear.  While
 * replaying, the records before the old done that were not held stay
 * counted, and the old held ones not reached yet stay held.  Returns 0,
 * or -1 when no file has been opened yet.
 */
int
feed_checkpoint(struct sw_feed *f, struct sw_checkpoint *cp)
{
	uint64_t	 held[SW_HELD_MAX];
	size_t		 i, n;

	if (!f->open && f->cp.source == NULL)
		return -1;
	cp->source = xstrdup(f->source);
	cp->id = f->id;
	cp->done = f->next;
	n = join_held(f->j, held, SW_HELD_MAX);
	for (i = 0; i < n; i++)
		held_add(cp, held[i]);
	if (f->replay) {
		if (f->cp.done > cp->done)
			cp->done = f->cp.done;
		for (i = 0; i < f->cp.nheld; i++)
			if (f->cp.held[i] >= f->next)
				held_add(cp, f->cp.held[i]);
	}
	cp->offset = f->next;
	for (i = 0; i < cp->nheld; i++)
		if (cp->held[i] < cp->offset)
			cp->offset = cp->held[i];
	cp->statelen = feed_state_save(f, &cp->state);
	cp->updated = time(NULL);
	f->changed = 0;
	return 0;
}

int
feed_changed(const struct sw_feed *f)
{
	return f->changed;
}

const char *
feed_source(const struct sw_feed *f)
{
	return f->source;
}

void
feed_stat(const struct sw_feed *f, struct sw_feed_stat *st)
{
	*st = f->st;
}
