/*
 * t_held.c -- held.c, which events are a message held back at a relay:
 * a queue id counts once per host and relay however often it is
 * deferred; the same id at another relay or host is another message; a
 * held-back line without an id counts, a refusal without one does not;
 * successes and server-side events never; after HELD_MAX other
 * messages the oldest is forgotten and counts again.
 */

#include "../../daemon/held.c"

#include "check.h"

static struct sw_event
ev_client(enum sw_kind kind, const char *host, const char *relay,
    const char *queue)
{
	struct sw_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.dir = SW_DIR_CLIENT;
	snprintf(ev.host, sizeof(ev.host), "%s", host);
	snprintf(ev.relay, sizeof(ev.relay), "%s", relay);
	snprintf(ev.queue, sizeof(ev.queue), "%s", queue);
	return ev;
}

static void
t_once(void)
{
	struct sw_held	*h = held_new();
	struct sw_event	 ev;

	ev = ev_client(SW_EV_FAILURE, "mx1", "smtp.gmail.com", "8C1D311E0B7");
	CHECK_INT(held_is_new(h, &ev), 1);
	CHECK_INT(held_is_new(h, &ev), 0);	/* another recipient */
	ev.kind = SW_EV_AFFECTED;		/* retried, suspended */
	CHECK_INT(held_is_new(h, &ev), 0);
	ev = ev_client(SW_EV_FAILURE, "mx1", "smtp.office365.com",
	    "8C1D311E0B7");
	CHECK_INT(held_is_new(h, &ev), 1);
	ev = ev_client(SW_EV_FAILURE, "mx2", "smtp.gmail.com", "8C1D311E0B7");
	CHECK_INT(held_is_new(h, &ev), 1);
	ev = ev_client(SW_EV_AFFECTED, "mx1", "smtp.gmail.com", "");
	CHECK_INT(held_is_new(h, &ev), 1);
	CHECK_INT(held_is_new(h, &ev), 1);	/* no id: each line */
	ev = ev_client(SW_EV_FAILURE, "mx1", "smtp.gmail.com", "");
	CHECK_INT(held_is_new(h, &ev), 0);	/* a refusal, no message */
	ev = ev_client(SW_EV_SUCCESS, "mx1", "smtp.gmail.com", "9D2E411E0C2");
	CHECK_INT(held_is_new(h, &ev), 0);
	ev = ev_client(SW_EV_FAILURE, "mx1", "smtp.gmail.com", "9D2E411E0C2");
	CHECK_INT(held_is_new(h, &ev), 1);
	ev.dir = SW_DIR_SERVER;
	snprintf(ev.queue, sizeof(ev.queue), "AAAA");
	CHECK_INT(held_is_new(h, &ev), 0);
	held_free(h);
}

static void
t_forget(void)
{
	struct sw_held	*h = held_new();
	struct sw_event	 ev;
	char		 q[32];
	int		 i, fresh = 0;

	for (i = 0; i <= HELD_MAX; i++) {
		snprintf(q, sizeof(q), "Q%08X", i);
		ev = ev_client(SW_EV_FAILURE, "mx1", "relay.example", q);
		fresh += held_is_new(h, &ev);
		if (i == 600)		/* room as needed, not HELD_MAX's */
			CHECK_INT(h->cap, 1024);
	}
	CHECK_INT(fresh, HELD_MAX + 1);
	CHECK_INT(h->n, HELD_MAX);
	CHECK_INT(h->cap, HELD_MAX);
	/* Q0 was forgotten; the others are all still known. */
	for (i = HELD_MAX; i >= 1; i--) {
		snprintf(q, sizeof(q), "Q%08X", i);
		ev = ev_client(SW_EV_AFFECTED, "mx1", "relay.example", q);
		if (held_is_new(h, &ev))
			break;
	}
	CHECK_INT(i, 0);
	ev = ev_client(SW_EV_AFFECTED, "mx1", "relay.example", "Q00000000");
	CHECK_INT(held_is_new(h, &ev), 1);
	held_free(h);
}

int
main(void)
{
	t_once();
	t_forget();
	return check_done();
}
