/*
 * attrib.c -- names the account of a server-side failure the MTA logged
 * without one (Postfix before 3.7 wrote no sasl_username on failures;
 * some builds log "(unavailable)").  The SASL back end logs the same
 * attempt with the user name first -- Dovecot "auth: passwd-file(alice,
 * 203.0.113.5): Password mismatch", saslauthd, pam_unix -- and only then
 * answers the MTA, which logs its failure.  So a failure without an
 * account takes the oldest unused back-end line for the same host and
 * address from at most the attribution window before it (or a second
 * after: stamps have whole seconds), and each back-end line names one
 * failure at most.  A failure nothing pairs with still counts for its
 * address.  The memory is a ring of the latest back-end lines, made at
 * the first: a storm of them pushes out the oldest, never grows.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpwatch.h"

#define RING		256	/* back-end lines remembered */
#define SKEW		1	/* seconds a back-end line may come after */

struct said {
	time_t		 when;
	uint64_t	 where;		/* hash of host and address */
	int		 used;
	char		 addr[SW_ADDR_MAX];
	char		 account[SW_ACCOUNT_MAX];
	size_t		 accountlen;
};

struct sw_attrib {
	struct said	*ring;		/* RING, made at the first line */
	size_t		 next;		/* slot written next */
	size_t		 n;		/* slots in use */
};

struct sw_attrib *
attrib_new(void)
{
	return xcalloc(1, sizeof(struct sw_attrib));
}

void
attrib_free(struct sw_attrib *at)
{
	if (at != NULL)
		free(at->ring);
	free(at);
}

static uint64_t
attrib_where(const struct sw_event *ev)
{
	uint64_t	 h;

	h = fnv64(FNV64_INIT, ev->host, strnlen(ev->host, sizeof(ev->host)));
	return fnv64(h ^ 0xff, ev->addr, strnlen(ev->addr, sizeof(ev->addr)));
}

/* Remembers a back-end line that names an account for an address. */
static void
attrib_remember(struct sw_attrib *at, const struct sw_event *ev)
{
	struct said	*s;

	if (ev->addr[0] == '\0' || !(ev->flags & SW_EVF_ACCOUNT))
		return;
	if (at->ring == NULL)	/* 90 KiB most installations never use */
		at->ring = xcalloc(RING, sizeof(*at->ring));
	s = &at->ring[at->next];
	s->when = ev->when;
	s->where = attrib_where(ev);
	s->used = 0;
	memcpy(s->addr, ev->addr, sizeof(s->addr));
	s->accountlen = ev->accountlen < sizeof(s->account) ?
	    ev->accountlen : sizeof(s->account) - 1;
	memcpy(s->account, ev->account, s->accountlen);
	s->account[s->accountlen] = '\0';
	at->next = (at->next + 1) % RING;
	if (at->n < RING)
		at->n++;
}

/* The oldest unused line for ev's host and address in the window. */
static struct said *
attrib_find(struct sw_attrib *at, long window, const struct sw_event *ev)
{
	struct said	*s;
	uint64_t	 where = attrib_where(ev);
	size_t		 i, slot;

	for (i = 0; i < at->n; i++) {
		slot = (at->next + RING - at->n + i) % RING;
		s = &at->ring[slot];
		if (s->used || s->where != where ||
		    strcmp(s->addr, ev->addr) != 0)
			continue;
		if (s->when < ev->when - window || s->when > ev->when + SKEW)
			continue;
		return s;
	}
	return NULL;
}

/*
 * Sees every event in log order.  A failure against us without an
 * account gets one from a back-end line when one pairs: returns 1,
 * having set ev->account and the SW_EVF_ACCOUNT and SW_EVF_ATTRIB flags.
 */
int
attrib_event(struct sw_attrib *at, long window, struct sw_event *ev)
{
	struct said	*s;

	if (ev->dir != SW_DIR_SERVER)
		return 0;
	if (ev->kind == SW_EV_ATTRIBUTION) {
		attrib_remember(at, ev);
		return 0;
	}
	if (ev->kind != SW_EV_FAILURE || (ev->flags & SW_EVF_ACCOUNT) ||
	    ev->addr[0] == '\0' || (s = attrib_find(at, window, ev)) == NULL)
		return 0;
	s->used = 1;
	memcpy(ev->account, s->account, s->accountlen + 1);
	ev->accountlen = s->accountlen;
	ev->flags |= SW_EVF_ACCOUNT | SW_EVF_ATTRIB;
	return 1;
}
