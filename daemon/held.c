/*
 * held.c -- which events are a message held back at a relay.  When a
 * relay refuses our credentials, each message for it is deferred (and
 * deferred again at every retry) or bounced: the postmaster wants the
 * number of messages, not of log lines.  A client-side event with a
 * queue id is a message held back the first time its queue id is seen
 * for its host and relay; a held-back line that names no message counts
 * by itself.  count.c asks here once per event and marks it
 * (SW_EVF_HELD), so the store's totals, its buckets and the incident
 * engine count the same messages.
 *
 * The last HELD_MAX messages are remembered, in a table of their hashes
 * (open addressing, linear probing, twice as many slots) and a ring in
 * arrival order that says which to forget next.  A message deferred
 * again after HELD_MAX others, or after a restart, counts again.  Both
 * start small and double as messages come (HELD_MAX takes 1.5 MB).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define HELD_MAX	(1 << 16)	/* messages remembered, a power of 2 */
#define HELD_FIRST	512		/* ... room for at first */

struct sw_held {
	uint64_t	*slot;		/* 2 * cap hashes; 0: free */
	uint64_t	*ring;		/* cap hashes, oldest at next once
					   full, in order until then */
	size_t		 cap;		/* HELD_FIRST, doubling to HELD_MAX */
	size_t		 n, next;
};

struct sw_held *
held_new(void)
{
	return xcalloc(1, sizeof(struct sw_held));
}

void
held_free(struct sw_held *h)
{
	if (h == NULL)
		return;
	free(h->slot);
	free(h->ring);
	free(h);
}

/* The slot of v: where it is, or the free one where it would go. */
static size_t
held_slot(const struct sw_held *h, uint64_t v)
{
	return hash64_slot(h->slot, 2 * h->cap, v);
}

/* Room for twice as many messages (HELD_FIRST at first). */
static void
held_grow(struct sw_held *h)
{
	uint64_t	*old = h->slot;
	size_t		 cap = h->cap;

	h->cap = cap == 0 ? HELD_FIRST : 2 * cap;
	h->ring = xreallocarray(h->ring, h->cap, sizeof(*h->ring));
	h->slot = xcalloc(2 * h->cap, sizeof(*h->slot));
	hash64_move(h->slot, 2 * h->cap, old, 2 * cap);
	free(old);
}

/* Takes v out, moving back the entries of its run that probed past it. */
static void
held_forget(struct sw_held *h, uint64_t v)
{
	size_t		 mask = 2 * h->cap - 1, i = held_slot(h, v), j;
	uint64_t	 w;

	if (h->slot[i] == 0)
		return;
	h->slot[i] = 0;
	for (j = (i + 1) & mask; h->slot[j] != 0; j = (j + 1) & mask) {
		w = h->slot[j];
		h->slot[j] = 0;
		h->slot[held_slot(h, w)] = w;
	}
}

/*
 * 1 when ev holds back a message not held back before at its relay, and
 * from now on it has been; 0 for any other event.
 */
int
held_is_new(struct sw_held *h, const struct sw_event *ev)
{
	size_t		 len;
	const char	*relay = sw_subject(ev, &len);	/* as store.c keys it */
	uint64_t	 v;

	if (ev->dir != SW_DIR_CLIENT || ev->kind == SW_EV_SUCCESS ||
	    ev->kind == SW_EV_ATTRIBUTION)
		return 0;
	if (ev->queue[0] == '\0')
		return ev->kind == SW_EV_AFFECTED;
	if (h->slot == NULL)
		held_grow(h);
	v = fnv64(FNV64_INIT, ev->host, strlen(ev->host) + 1);
	v = fnv64(fnv64(v, relay, len), "", 1);	/* and its NUL */
	v = fnv64(v, ev->queue, strnlen(ev->queue, sizeof(ev->queue)));
	v |= 1;				/* never 0, a free slot */
	if (h->slot[held_slot(h, v)] == v)
		return 0;
	if (h->n == HELD_MAX)
		held_forget(h, h->ring[h->next]);
	else {
		if (h->n == h->cap)
			held_grow(h);
		h->n++;
	}
	h->slot[held_slot(h, v)] = v;
	h->ring[h->next] = v;
	h->next = (h->next + 1) % HELD_MAX;
	return 1;
}
