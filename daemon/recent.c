/*
 * recent.c -- the events a source counted lately, by the identity of
 * their records, so that another source carrying the same lines (the
 * journal and the file rsyslog writes from it) can tell which of its
 * own records were counted already.  smtpwatchd.c hands the journal's
 * set over to a log that appears, and the logs' sets over to the journal
 * when they are gone (journal auto); with both read (journal yes) each
 * source drops the records whose copy the other one counted.
 *
 * An identity is a hash of the first label of the host, the program tag,
 * the pid and the message: what the journal's entry and the syslog
 * daemon's line have in common.  Their times may differ by a second or
 * more (rsyslog stamps a line when it receives it), so a record matches
 * an entry of the same identity up to SW_RECENT_SLACK seconds apart, and
 * each entry matches once: a line logged three times is three entries.
 *
 * The set is a ring of at most SW_RECENT_MAX entries (grown as needed),
 * of at most SW_RECENT_HOLD seconds before the newest record read,
 * indexed by hash.  It knows how far back it is whole: every event
 * counted after `from' is in it (or was matched), and `newest' is the
 * time of the last record the source read, event or not.
 * recent_handover() decides with both what it cannot look up.  The set
 * is saved with the source's checkpoint (feed.c), its last RECENT_KEEP
 * seconds, so that a kill -9 around a switch still counts each line once.
 */

#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define RECENT_BUCKETS	4096		/* a power of 2 */
#define RECENT_FIRST	256		/* slots at first, doubled when full */
#define RECENT_TEXT	4096		/* message bytes in the identity */
#define RECENT_KEEP	(2 * SW_RECENT_SLACK)	/* seconds saved */
#define RECENT_MAGIC	"SWR1"

struct recent_slot {
	uint64_t	 id;		/* 0: matched, out of the index */
	time_t		 when;
	int32_t		 next;		/* in the bucket's chain, or -1 */
};

struct sw_recent {
	struct recent_slot	*slot;	/* cap of them, a ring */
	size_t			 cap;
	int32_t			 bucket[RECENT_BUCKETS];
	size_t			 head;	/* the oldest slot */
	size_t			 n;
	time_t			 from;	/* whole for events after this */
	time_t			 newest;	/* the last record read */
};

static int32_t *
recent_chain(struct sw_recent *r, uint64_t id)
{
	return &r->bucket[id & (RECENT_BUCKETS - 1)];
}

/* Takes slot i out of its bucket's chain. */
static void
recent_unlink(struct sw_recent *r, int32_t i)
{
	int32_t	*p = recent_chain(r, r->slot[i].id);

	while (*p != -1 && *p != i)
		p = &r->slot[*p].next;
	if (*p == i)
		*p = r->slot[i].next;
	r->slot[i].id = 0;
}

/* Drops the oldest entry; unmatched, the set is whole after it only. */
static void
recent_evict(struct sw_recent *r)
{
	struct recent_slot	*s = &r->slot[r->head];

	if (s->id != 0) {
		if (s->when > r->from)
			r->from = s->when;
		recent_unlink(r, (int32_t)r->head);
	}
	r->head = (r->head + 1) % r->cap;
	r->n--;
}

/* Links slot i, just filled, into its bucket's chain. */
static void
recent_link(struct sw_recent *r, size_t i)
{
	int32_t	*p = recent_chain(r, r->slot[i].id);

	r->slot[i].next = *p;
	*p = (int32_t)i;
}

/* Doubles the ring (up to SW_RECENT_MAX), its matched entries dropped. */
static void
recent_grow(struct sw_recent *r)
{
	struct recent_slot	*old = r->slot;
	size_t			 k, n = r->n, head = r->head, cap = r->cap;

	r->cap = cap * 2 < SW_RECENT_MAX ? cap * 2 : SW_RECENT_MAX;
	r->slot = xcalloc(r->cap, sizeof(*r->slot));
	memset(r->bucket, 0xff, sizeof(r->bucket));	/* all -1 */
	r->head = r->n = 0;
	for (k = 0; k < n; k++) {
		if (old[(head + k) % cap].id == 0)
			continue;
		r->slot[r->n] = old[(head + k) % cap];
		recent_link(r, r->n++);
	}
	free(old);
}

static void
recent_insert(struct sw_recent *r, uint64_t id, time_t when)
{
	size_t		 i;

	if (r->n == r->cap && r->cap < SW_RECENT_MAX)
		recent_grow(r);
	if (r->n == r->cap)
		recent_evict(r);
	i = (r->head + r->n++) % r->cap;
	r->slot[i].id = id;
	r->slot[i].when = when;
	recent_link(r, i);
}

/* Drops the entries older than SW_RECENT_HOLD before the newest record. */
static void
recent_expire(struct sw_recent *r)
{
	while (r->n > 0 &&
	    r->slot[r->head].when < r->newest - SW_RECENT_HOLD)
		recent_evict(r);
}

/* An empty set that knows every event (none was counted before). */
struct sw_recent *
recent_new(void)
{
	struct sw_recent	*r;

	r = xcalloc(1, sizeof(*r));
	r->cap = RECENT_FIRST;
	r->slot = xcalloc(r->cap, sizeof(*r->slot));
	memset(r->bucket, 0xff, sizeof(r->bucket));	/* all -1 */
	return r;
}

void
recent_free(struct sw_recent *r)
{
	if (r == NULL)
		return;
	free(r->slot);
	free(r);
}

struct sw_recent *
recent_copy(const struct sw_recent *r)
{
	struct sw_recent	*c;

	c = xmalloc(sizeof(*c));
	memcpy(c, r, sizeof(*c));
	c->slot = xreallocarray(NULL, r->cap, sizeof(*r->slot));
	memcpy(c->slot, r->slot, r->cap * sizeof(*r->slot));
	return c;
}

/*
 * The source counted events before the set was made, up to time t (a
 * checkpoint of an earlier version, which kept no set): the set is whole
 * only after t.
 */
void
recent_forget(struct sw_recent *r, time_t t)
{
	if (t > r->from)
		r->from = t;
	if (t > r->newest)
		r->newest = t;
	recent_expire(r);
}

/* The identity of a record: host (first label), tag, pid, message. */
uint64_t
recent_id(const struct sw_record *rec)
{
	const struct sw_line	*e = &rec->env;
	const char		*dot;
	size_t			 hl = e->hostlen;
	uint64_t		 h = FNV64_INIT;
	int64_t			 pid = e->pid;

	if (e->host != NULL && (dot = memchr(e->host, '.', hl)) != NULL)
		hl = (size_t)(dot - e->host);
	if (e->host != NULL)
		h = fnv64(h, e->host, hl);
	h = fnv64(h, "", 1);
	if (e->tag != NULL)
		h = fnv64(h, e->tag, e->taglen);
	h = fnv64(h, "", 1);
	h = fnv64(h, &pid, sizeof(pid));
	h = fnv64(h, rec->text, rec->len < RECENT_TEXT ? rec->len :
	    RECENT_TEXT);
	return h != 0 ? h : 1;
}

/* The source read a record of time when (0: the record had none). */
void
recent_read(struct sw_recent *r, time_t when)
{
	if (when > r->newest) {
		r->newest = when;
		recent_expire(r);
	}
}

/* The source counted an event of identity id and time when. */
void
recent_add(struct sw_recent *r, uint64_t id, time_t when)
{
	recent_read(r, when);
	recent_insert(r, id != 0 ? id : 1, when);
	recent_expire(r);
}

/*
 * Looks for an unmatched entry of identity id within SW_RECENT_SLACK
 * seconds of when: the oldest one is matched (taken out) and 1
 * returned; 0 when there is none.
 */
int
recent_take(struct sw_recent *r, uint64_t id, time_t when)
{
	struct recent_slot	*s;
	int32_t			 i, best = -1;
	size_t			 age, bestage = 0;

	if (id == 0)
		id = 1;
	for (i = *recent_chain(r, id); i != -1; i = s->next) {
		s = &r->slot[i];
		if (s->id != id || s->when > when + SW_RECENT_SLACK ||
		    s->when < when - SW_RECENT_SLACK)
			continue;
		age = ((size_t)i + r->cap - r->head) % r->cap;
		if (best == -1 || age < bestage) {
			best = i;
			bestage = age;
		}
	}
	if (best == -1)
		return 0;
	recent_unlink(r, best);
	return 1;
}

/*
 * During a hand-over, an event (id, when) of the source that took over
 * from the one whose set r is: RECENT_SKIP when that one counted it
 * (matched) or may have (from before the set is whole, and not after
 * the last record it read), RECENT_COUNT when it did not, RECENT_PAST
 * when it is later than anything that one read: counted, and so is
 * everything after it.  A set that lost entries of its last seconds (a
 * storm of more than SW_RECENT_MAX events) counts rather than loses a
 * line after its last one.
 */
int
recent_handover(struct sw_recent *r, uint64_t id, time_t when)
{
	if (when > r->newest + SW_RECENT_SLACK)
		return RECENT_PAST;
	if (recent_take(r, id, when))
		return RECENT_SKIP;
	if (when > r->from + SW_RECENT_SLACK || when > r->newest)
		return RECENT_COUNT;
	return RECENT_SKIP;
}

/*
 * Adds the entries of src to dst (the sets of several logs handed over
 * to the journal together): whole after the later of their bounds.
 */
void
recent_merge(struct sw_recent *dst, const struct sw_recent *src)
{
	const struct recent_slot	*s;
	size_t				 k;

	if (src->from > dst->from)
		dst->from = src->from;
	if (src->newest > dst->newest)
		dst->newest = src->newest;
	for (k = 0; k < src->n; k++) {
		s = &src->slot[(src->head + k) % src->cap];
		if (s->id != 0)
			recent_insert(dst, s->id, s->when);
	}
	recent_expire(dst);
}

time_t
recent_newest(const struct sw_recent *r)
{
	return r->newest;
}

/* The entries not matched yet. */
size_t
recent_count(const struct sw_recent *r)
{
	size_t	 k, n = 0;

	for (k = 0; k < r->n; k++)
		n += r->slot[(r->head + k) % r->cap].id != 0;
	return n;
}

/*
 * As bytes, for a checkpoint: "SWR1", from, newest, the number of
 * entries, then each unmatched entry (identity, time) of the last
 * RECENT_KEEP seconds, oldest first (older ones move from); integers as
 * the host has them.  Sets *out; returns the length.
 */
size_t
recent_save(const struct sw_recent *r, unsigned char **out)
{
	const struct recent_slot	*s;
	unsigned char			*buf, *p;
	uint32_t			 n = 0;
	int64_t				 t, from = r->from;
	size_t				 k;

	for (k = 0; k < r->n; k++) {
		s = &r->slot[(r->head + k) % r->cap];
		if (s->id != 0 && s->when < r->newest - RECENT_KEEP) {
			if (s->when > from)
				from = s->when;
		} else if (s->id != 0)
			n++;
	}
	buf = xmalloc(4 + 2 * sizeof(t) + sizeof(n) +
	    (size_t)n * (sizeof(uint64_t) + sizeof(t)));
	memcpy(buf, RECENT_MAGIC, 4);
	p = buf + 4;
	memcpy(p, &from, sizeof(from));
	p += sizeof(from);
	t = r->newest;
	memcpy(p, &t, sizeof(t));
	p += sizeof(t);
	memcpy(p, &n, sizeof(n));
	p += sizeof(n);
	for (k = 0; k < r->n; k++) {
		s = &r->slot[(r->head + k) % r->cap];
		if (s->id == 0 || s->when < r->newest - RECENT_KEEP)
			continue;
		t = s->when;
		memcpy(p, &s->id, sizeof(s->id));
		memcpy(p + sizeof(s->id), &t, sizeof(t));
		p += sizeof(s->id) + sizeof(t);
	}
	*out = buf;
	return (size_t)(p - buf);
}

/*
 * Replaces r with what recent_save() wrote.  Returns 0, or -1 when the
 * bytes are not such a set (r is left as it was).
 */
int
recent_load(struct sw_recent *r, const unsigned char *buf, size_t len)
{
	struct sw_recent	*fresh;
	const unsigned char	*p = buf;
	int64_t			 from, newest, t;
	uint64_t		 id;
	uint32_t		 n, k;
	const size_t		 hdr = 4 + 2 * sizeof(t) + sizeof(n);

	if (len < hdr || memcmp(buf, RECENT_MAGIC, 4) != 0)
		return -1;
	memcpy(&from, p + 4, sizeof(from));
	memcpy(&newest, p + 4 + sizeof(from), sizeof(newest));
	memcpy(&n, p + 4 + 2 * sizeof(t), sizeof(n));
	if (n > SW_RECENT_MAX ||
	    len != hdr + (size_t)n * (sizeof(id) + sizeof(t)))
		return -1;
	fresh = recent_new();
	fresh->from = (time_t)from;
	fresh->newest = (time_t)newest;
	for (k = 0, p += hdr; k < n; k++, p += sizeof(id) + sizeof(t)) {
		memcpy(&id, p, sizeof(id));
		memcpy(&t, p + sizeof(id), sizeof(t));
		recent_insert(fresh, id != 0 ? id : 1, (time_t)t);
	}
	free(r->slot);
	memcpy(r, fresh, sizeof(*r));
	free(fresh);
	return 0;
}
