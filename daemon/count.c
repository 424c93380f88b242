/*
 * count.c -- the one way an event is counted, by smtpwatchd and by
 * smtpwatchctl scan alike: a server-side failure without an account
 * takes the account a SASL back end named for it (attrib.c), then the
 * event is summed into the store (store.c) and seen by the incident
 * engine (incident.c), which opens, tells and closes incidents.  The
 * daemon's store is its database; scan's is an in-memory one that the
 * same listings then read.  Committing, and when, is the caller's: the
 * daemon batches by size and time, scan commits per slice of lines.
 * Before them, held.c marks the events that are a message held back at
 * a relay (SW_EVF_HELD), so that both count the same messages.
 */

#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

struct sw_count {
	struct sw_attrib	*attrib;
	struct sw_store		*store;
	struct sw_engine	*engine;
	long			 attribution;	/* seconds, alert options */
	unsigned long long	 kinds[SW_EV_NKINDS];
	unsigned long long	 held;		/* messages held back */
	struct sw_held		*seen;
	struct sw_relayset	*relays;	/* whose deliveries count */
};

/*
 * A counter on st: an engine for rules rs and alert options opt (both
 * must outlive it), which hands its entries to send(arg, alert) (NULL:
 * counted on the incidents, sent nowhere).
 */
struct sw_count *
count_new(const struct sw_rules *rs, const struct sw_alertopt *opt,
    struct sw_store *st, sw_alert_cb send, void *arg)
{
	struct sw_count	*c;

	c = xcalloc(1, sizeof(*c));
	c->attrib = attrib_new();
	c->seen = held_new();
	c->store = st;
	c->engine = engine_new(rs, opt, st, send, arg);
	c->attribution = opt->attribution;
	c->relays = relayset_new();
	count_watch(c);
	return c;
}

/*
 * The relays whose deliveries count, for the matcher (struct
 * sw_matchopt): it keeps them in log order.
 */
struct sw_relayset *
count_relays(const struct sw_count *c)
{
	return c->relays;
}

/*
 * Sets the relays watched to those the committed store has, as at the
 * start (after a retention run removed some).  The batch must be empty.
 */
void
count_watch(struct sw_count *c)
{
	relayset_clear(c->relays);
	(void)store_relays(c->store, c->relays);
}

/* Frees the counter and its engine; the store is the caller's. */
void
count_free(struct sw_count *c)
{
	if (c == NULL)
		return;
	engine_free(c->engine);
	attrib_free(c->attrib);
	held_free(c->seen);
	relayset_free(c->relays);
	free(c);
}

/* One event, in log order. */
void
count_event(struct sw_count *c, const struct sw_event *evp)
{
	struct sw_event	 ev;

	if (evp->dir == SW_DIR_SERVER && (evp->kind == SW_EV_ATTRIBUTION ||
	    (evp->kind == SW_EV_FAILURE && !(evp->flags & SW_EVF_ACCOUNT)))) {
		ev = *evp;
		(void)attrib_event(c->attrib, c->attribution, &ev);
		evp = &ev;
	}
	if (evp->kind < SW_EV_NKINDS)
		c->kinds[evp->kind]++;
	if (held_is_new(c->seen, evp)) {
		if (evp != &ev) {
			ev = *evp;
			evp = &ev;
		}
		ev.flags |= SW_EVF_HELD;
		c->held++;
	}
	store_event(c->store, evp);
	engine_event(c->engine, evp);
}

/*
 * Commits what was counted: the engine's changed incidents, then the
 * store's batch (with the positions the caller added).  Returns 0, or
 * -1 when the store could not write (the batch stays for a retry).
 */
int
count_commit(struct sw_count *c)
{
	engine_save(c->engine);
	return store_commit(c->store);
}

struct sw_engine *
count_engine(const struct sw_count *c)
{
	return c->engine;
}

/* Messages held back at relays counted so far. */
unsigned long long
count_held(const struct sw_count *c)
{
	return c->held;
}

/* Events of kind k counted so far. */
unsigned long long
count_kind(const struct sw_count *c, enum sw_kind k)
{
	return k < SW_EV_NKINDS ? c->kinds[k] : 0;
}
