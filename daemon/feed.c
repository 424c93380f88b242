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
 *
 * Where two sources carry the same lines (the journal and the file the
 * syslog daemon writes from it), a feed remembers the events it counted
 * lately (recent.c).  After a hand-over it skips the events the source
 * before it counted (feed_handover); with both read, it drops an event
 * whose copy a peer counted (feed_peers).  Both sets go into the
 * checkpoint with the matcher's state.
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
	struct sw_front		*fe;	/* lines that need no reading */
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
	struct sw_recent	*mine;	/* events counted lately, or NULL */
	struct sw_recent	*given;	/* hand-over: the source before's */
	struct sw_feed	       **peers;	/* read too, with the same lines */
	size_t			 npeers;
	int			 retired;	/* stopped by a hand-over */
	int			 warned;	/* a peer's copy was logged */
	int			 baddate;	/* a stamp naming no day, logged */
	int			 capped;	/* a repeat count cut, logged */
	void			(*hook)(void *, struct sw_feed *);
	void			*hookarg;	/* ... when a file begins */
	struct sw_feed_stat	 st;
};

static void	feed_record(void *, const struct sw_record *);

/*
 * The state a checkpoint carries: "SWF3", the year and month join.c's
 * clock has inferred (so that classic stamps get the same year after a
 * restart), flags (FEED_RETIRED), then four parts, each its length
 * and its bytes: the matcher's memory of repeats, the events counted
 * lately and the set handed over (each of these two may be empty), and
 * the clock's times (its newest classic stamp, its last valid stamp: two
 * int64).  "SWF2" (the first three parts) and "SWF1" (the year and
 * month, then the matcher's state) are still read.
 */
#define FEED_MAGIC	"SWF3"
#define FEED_MAGIC2	"SWF2"
#define FEED_MAGIC1	"SWF1"
#define FEED_HDR	(4 + 2 * sizeof(int))
#define FEED_RETIRED	0x01		/* stopped by a hand-over */

/* Appends a part (its length, then its n bytes) at *p; frees part. */
static unsigned char *
feed_part_put(unsigned char *p, unsigned char *part, size_t n)
{
	uint32_t	 len = (uint32_t)n;

	memcpy(p, &len, sizeof(len));
	if (n > 0)
		memcpy(p + sizeof(len), part, n);
	free(part);
	return p + sizeof(len) + n;
}

static size_t
feed_state_save(const struct sw_feed *f, unsigned char **out)
{
	unsigned char	*m, *r = NULL, *g = NULL, *buf, *p;
	size_t		 nm, nr = 0, ng = 0;
	uint32_t	 flags = f->retired ? FEED_RETIRED : 0;
	int		 ym[2];
	time_t		 newest, last;
	int64_t		*t;

	join_clock_get(f->j, &ym[0], &ym[1], &newest, &last);
	nm = match_state_save(f->m, &m);
	if (f->mine != NULL)
		nr = recent_save(f->mine, &r);
	if (f->given != NULL)
		ng = recent_save(f->given, &g);
	t = xcalloc(2, sizeof(*t));
	t[0] = newest;
	t[1] = last;
	buf = xmalloc(FEED_HDR + 5 * sizeof(uint32_t) + nm + nr + ng +
	    2 * sizeof(*t));
	memcpy(buf, FEED_MAGIC, 4);
	memcpy(buf + 4, ym, sizeof(ym));
	memcpy(buf + FEED_HDR, &flags, sizeof(flags));
	p = buf + FEED_HDR + sizeof(flags);
	p = feed_part_put(p, m, nm);
	p = feed_part_put(p, r, nr);
	p = feed_part_put(p, g, ng);
	p = feed_part_put(p, (unsigned char *)t, 2 * sizeof(*t));
	*out = buf;
	return (size_t)(p - buf);
}

/* Reads a part at *p (before end): its bytes and length, or NULL. */
static const unsigned char *
feed_part_get(const unsigned char **p, const unsigned char *end, size_t *n)
{
	const unsigned char	*part;
	uint32_t		 len;

	if (*p == NULL || (size_t)(end - *p) < sizeof(len)) {
		*p = NULL;
		return NULL;
	}
	memcpy(&len, *p, sizeof(len));
	part = *p + sizeof(len);
	if ((size_t)(end - part) < len) {
		*p = NULL;
		return NULL;
	}
	*p = part + len;
	*n = len;
	return part;
}

/* A set loaded from a part, or NULL when the part is empty or damaged. */
static struct sw_recent *
feed_recent_load(const unsigned char *part, size_t n)
{
	struct sw_recent	*r;

	if (part == NULL || n == 0)
		return NULL;
	r = recent_new();
	if (recent_load(r, part, n) == -1) {
		recent_free(r);
		return NULL;
	}
	return r;
}

static int
feed_state_load(struct sw_feed *f, const struct sw_checkpoint *cp)
{
	const unsigned char	*p, *end, *m, *r, *g, *c = NULL;
	size_t			 nm = 0, nr = 0, ng = 0, nc = 0;
	uint32_t		 flags;
	int			 ym[2];
	int64_t			 t[2] = { 0, 0 };

	if (cp->statelen < FEED_HDR)
		return -1;
	end = cp->state + cp->statelen;
	if (memcmp(cp->state, FEED_MAGIC1, 4) == 0) {
		m = cp->state + FEED_HDR;
		nm = cp->statelen - FEED_HDR;
		r = g = NULL;
		flags = 0;
	} else if ((memcmp(cp->state, FEED_MAGIC, 4) == 0 ||
	    memcmp(cp->state, FEED_MAGIC2, 4) == 0) &&
	    cp->statelen >= FEED_HDR + sizeof(flags)) {
		memcpy(&flags, cp->state + FEED_HDR, sizeof(flags));
		p = cp->state + FEED_HDR + sizeof(flags);
		m = feed_part_get(&p, end, &nm);
		r = feed_part_get(&p, end, &nr);
		g = feed_part_get(&p, end, &ng);
		if (memcmp(cp->state, FEED_MAGIC, 4) == 0)
			c = feed_part_get(&p, end, &nc);
		if (p != end || (c != NULL && nc != sizeof(t)))
			return -1;
	} else
		return -1;
	if (match_state_load(f->m, m, nm) == -1)
		return -1;
	memcpy(ym, cp->state + 4, sizeof(ym));
	if (c != NULL)
		memcpy(t, c, sizeof(t));
	join_clock_set(f->j, ym[0], ym[1], (time_t)t[0], (time_t)t[1]);
	f->retired = (flags & FEED_RETIRED) != 0;
	f->mine = feed_recent_load(r, nr);
	f->given = feed_recent_load(g, ng);
	return 0;
}

/* Whether the checkpoint is of a source stopped by a hand-over. */
int
feed_cp_retired(const struct sw_checkpoint *cp)
{
	uint32_t	 flags;

	if (cp == NULL || cp->statelen < FEED_HDR + sizeof(flags) ||
	    (memcmp(cp->state, FEED_MAGIC, 4) != 0 &&
	    memcmp(cp->state, FEED_MAGIC2, 4) != 0))
		return 0;
	memcpy(&flags, cp->state + FEED_HDR, sizeof(flags));
	return (flags & FEED_RETIRED) != 0;
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
	f->fe = front_new(rs);
	f->j = join_new(0, feed_record, f);	/* the year: as of now */
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
	front_free(f->fe);
	checkpoint_clear(&f->cp);
	recent_free(f->mine);
	recent_free(f->given);
	free(f->peers);
	free(f->source);
	free(f);
}

/*
 * Keeps the events counted from now on (recent.c), for another source to
 * skip.  A feed resumed from a checkpoint that kept none (another
 * version, or another configuration) knows nothing of what it counted
 * before that commit; a retired one handed its events over.
 */
void
feed_keep(struct sw_feed *f)
{
	if (f->mine != NULL)
		return;
	f->mine = recent_new();
	if (f->resumed && !f->retired)
		recent_forget(f->mine, f->cp.updated);
}

/* The events counted lately, or NULL when they are not kept. */
const struct sw_recent *
feed_recent(const struct sw_feed *f)
{
	return f->mine;
}

/*
 * f takes over from the source whose events are given: those of its
 * events that source counted are skipped (recent_handover) until one is
 * later than all that source read.  They are f's own from now on, for
 * a hand-over back.  A feed not resuming a checkpoint takes that
 * source's memory of repeats too (matcher, when not NULL): a repeat of a
 * line the other counted is then one.
 */
void
feed_handover(struct sw_feed *f, const struct sw_recent *given,
    const struct sw_feed *matcher)
{
	unsigned char	*m;
	size_t		 n;

	recent_free(f->given);
	f->given = recent_copy(given);
	if (f->mine != NULL)
		recent_merge(f->mine, given);
	if (matcher != NULL && !f->resumed && !f->open) {
		n = match_state_save(matcher->m, &m);
		(void)match_state_load(f->m, m, n);
		free(m);
	}
	f->changed = 1;
}

/* The time handed over from (its newest record), 0 when none is. */
time_t
feed_handover_time(const struct sw_feed *f)
{
	return f->given != NULL ? recent_newest(f->given) : 0;
}

/*
 * Both read: an event whose copy one of the peers counted is dropped
 * (and so is the peer's, when the peer reads it second).  Borrowed.
 */
void
feed_peers(struct sw_feed *f, struct sw_feed *const *peers, size_t n)
{
	free(f->peers);
	f->peers = xcalloc(n > 0 ? n : 1, sizeof(*f->peers));
	memcpy(f->peers, peers, n * sizeof(*peers));
	f->npeers = n;
}

/* cb(arg, f) is called when a file begins, before its first line. */
void
feed_on_begin(struct sw_feed *f, void (*cb)(void *, struct sw_feed *),
    void *arg)
{
	f->hook = cb;
	f->hookarg = arg;
}

/*
 * The feed stops: its next checkpoint says so, without the events it
 * counted (they went to the source taking over).  A file it begins
 * later is a new one: nothing of it is replayed as counted.
 */
void
feed_retire(struct sw_feed *f)
{
	f->retired = 1;
	f->resumed = 0;
	recent_free(f->mine);
	f->mine = NULL;
	recent_free(f->given);
	f->given = NULL;
	f->changed = 1;
}

int
feed_retired(const struct sw_feed *f)
{
	return f->retired;
}

/* Hands on the records join.c holds: the source stops. */
void
feed_flush(struct sw_feed *f)
{
	join_flush(f->j);
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

/* Says once that a peer carries the same lines as f. */
static void
feed_warn_peer(struct sw_feed *f, struct sw_feed *p)
{
	if (!f->warned && !p->warned)
		log_warnx("%s and %s carry the same lines (journal yes): "
		    "a line read from both is counted once, from the first; "
		    "read one only: journal auto (the journal while none of "
		    "the logs exists) or journal no", p->source, f->source);
	f->warned = p->warned = 1;
}

/*
 * 1 when the event of rec was counted from another source: the one f
 * took over from (hand-over), or a peer.  A hand-over ends with the
 * first event later than all the source before read.
 */
static int
feed_other(struct sw_feed *f, const struct sw_event *ev, uint64_t id)
{
	size_t	 i;

	switch (f->given != NULL ? recent_handover(f->given, id, ev->when) :
	    RECENT_COUNT) {
	case RECENT_SKIP:
		f->st.handed++;
		return 1;
	case RECENT_PAST:
		log_debug("%s: hand-over done: %llu events counted before "
		    "were skipped", f->source, f->st.handed);
		recent_free(f->given);
		f->given = NULL;
		break;
	default:
		break;
	}
	for (i = 0; i < f->npeers; i++) {
		if (f->peers[i]->mine == NULL ||
		    !recent_take(f->peers[i]->mine, id, ev->when))
			continue;
		f->peers[i]->changed = 1;
		f->st.twice++;
		feed_warn_peer(f, f->peers[i]);
		return 1;
	}
	return 0;
}

/*
 * One event, ev->repeat times (rsyslog's "message repeated"): each time
 * counted, unless another source counted it.
 */
static void
feed_event(struct sw_feed *f, const struct sw_record *rec,
    const struct sw_event *ev)
{
	uint64_t	 id = 0;
	unsigned int	 i;
	int		 track;

	track = f->mine != NULL || f->given != NULL || f->npeers > 0;
	if (track)
		id = recent_id(rec);
	for (i = 0; i < ev->repeat || i == 0; i++) {
		if (track && feed_other(f, ev, id))
			continue;	/* in mine already, or the peer's */
		if (f->mine != NULL)
			recent_add(f->mine, id, ev->when);
		f->st.events++;
		f->cb(f->arg, ev);
	}
}

/* Says once per source that a repeat count was cut to SW_REPEAT_MAX. */
static void
feed_warn_capped(struct sw_feed *f, const struct sw_record *rec)
{
	if (f->capped)
		return;
	f->capped = 1;
	log_warnx("%s: offset %llu: \"message repeated N times\" with N above "
	    "%d: counted %d times (rsyslog writes such lines, and so can "
	    "anyone who may write to syslog); said once per log", f->source,
	    (unsigned long long)rec->pos, SW_REPEAT_MAX, SW_REPEAT_MAX);
}

/* Says once per source that a stamp (of the line at pos) named a day
 * its year lacks. */
static void
feed_warn_date(struct sw_feed *f, uint64_t pos, time_t when)
{
	struct tm	 tm;
	char		 t[32];

	if (f->baddate)
		return;
	f->baddate = 1;
	t[0] = '\0';
	if (gmtime_r(&when, &tm) != NULL)
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_warnx("%s: offset %llu: the stamp names a day its year does not "
	    "have (Feb 29 outside a leap year, Apr 31): the line is read "
	    "with the time of the line before, %s; said once per log",
	    f->source, (unsigned long long)pos, t);
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
	if (rec->env.baddate)
		feed_warn_date(f, rec->pos, rec->env.when);
	if (rec->env.repcapped)
		feed_warn_capped(f, rec);
	if (rec->env.when > f->st.newest)
		f->st.newest = rec->env.when;
	if (f->mine != NULL)
		recent_read(f->mine, rec->env.when);
	switch ((rc = match_record(f->m, rec, &ev))) {
	case SW_MATCH_EVENT:
		feed_event(f, rec, &ev);
		if (rec->env.repeat > ev.repeat)	/* Exim's copies */
			f->st.dups += rec->env.repeat - ev.repeat;
		break;
	case SW_MATCH_DUP:
		f->st.dups += rec->env.repeat > 0 ? rec->env.repeat : 1;
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

/*
 * A line the front end found nothing in, that does not start an Exim
 * mainlog entry, while join.c holds nothing: a record of its own that no
 * rule matches, counted without being matched; its stamp is read as the
 * record's would have been.
 */
static void
feed_skip(struct sw_feed *f, const char *p, size_t n, uint64_t start)
{
	time_t	 when;
	int	 bad;

	f->st.records++;
	when = join_stamp(f->j, p, n, &bad);
	if (bad)
		feed_warn_date(f, start, when);
	if (when > f->st.newest)
		f->st.newest = when;
	if (f->mine != NULL)
		recent_read(f->mine, when);
	if (f->note != NULL)
		f->note(f->notearg, NULL, SW_MATCH_NONE, NULL);
}

static void
feed_line(void *arg, const char *p, size_t n, int cut, uint64_t start,
    uint64_t next)
{
	struct sw_feed	*f = arg;
	uint64_t	 miss = 0;

	f->st.lines++;
	if (cut)
		f->st.cut++;
	if (!cut && front_skip(f->fe, start, next, &miss) &&
	    join_held(f->j, NULL, 0) == 0 && !parse_may_hold(p, n))
		feed_skip(f, p, n, start);
	else {
		join_at(f->j, start);
		join_miss(f->j, miss);
		join_line(f->j, p, n, cut);
	}
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

	if (f->hook != NULL)
		f->hook(f->hookarg, f);
	f->retired = 0;
	f->id = *id;
	f->open = 1;
	front_reset(f->fe);
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

/* A read buffer, before its lines: the front end looks through it. */
static void
feed_chunk(void *arg, const char *p, size_t n, uint64_t off)
{
	struct sw_feed	*f = arg;

	if (f->fe != NULL)
		front_chunk(f->fe, p, n, off);
}

const struct sw_tail_cb feed_tail_cb = {
	feed_line, feed_begin, feed_moved, feed_end, feed_drained, feed_chunk
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
	if (!f->open) {		/* nothing read: where the last one stood */
		cp->id = f->cp.id;
		cp->offset = f->cp.offset;
		cp->done = f->cp.done;
		memcpy(cp->held, f->cp.held, sizeof(cp->held));
		cp->nheld = f->cp.nheld;
		cp->statelen = feed_state_save(f, &cp->state);
		cp->updated = time(NULL);
		f->changed = 0;
		return 0;
	}
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
