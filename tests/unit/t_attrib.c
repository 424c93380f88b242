/*
 * t_attrib.c -- pairing a failure the MTA logged without a user name
 * with the SASL back end's line for the same address: within the
 * window before it (or a second after), the oldest unused line first,
 * each line used once, per host and address; everything else untouched.
 */

#include "../../daemon/attrib.c"

#include <stdio.h>

#include "check.h"

#define T0	1795860000

static struct sw_event
ev_make(enum sw_kind kind, const char *host, const char *account,
    const char *addr, time_t when)
{
	struct sw_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.when = when;
	ev.kind = kind;
	ev.dir = SW_DIR_SERVER;
	snprintf(ev.host, sizeof(ev.host), "%s", host);
	snprintf(ev.addr, sizeof(ev.addr), "%s", addr);
	if (account != NULL) {
		ev.accountlen = strlen(account);
		memcpy(ev.account, account, ev.accountlen);
		ev.flags = SW_EVF_ACCOUNT;
	}
	return ev;
}

/* Feeds a back-end line. */
static void
said(struct sw_attrib *at, const char *host, const char *account,
    const char *addr, time_t when)
{
	struct sw_event	 ev = ev_make(SW_EV_ATTRIBUTION, host, account, addr,
			    when);

	CHECK_INT(attrib_event(at, 10, &ev), 0);
}

/*
 * A failure without account; returns the account it got, or "".
 * CHECK_STR evaluates its arguments more than once: call it through
 * FAILED(), which calls this once.
 */
static const char *
failed(struct sw_attrib *at, const char *host, const char *addr,
    time_t when)
{
	static struct sw_event	 ev;

	ev = ev_make(SW_EV_FAILURE, host, NULL, addr, when);
	if (attrib_event(at, 10, &ev) == 0) {
		CHECK_INT(ev.flags, 0);
		return "";
	}
	CHECK_INT(ev.flags, SW_EVF_ACCOUNT | SW_EVF_ATTRIB);
	CHECK_INT(ev.accountlen, strlen(ev.account));
	return ev.account;
}

#define FAILED(at, host, addr, when, want) do {			\
	const char *got_ = failed(at, host, addr, when);		\
	CHECK_STR(got_, want);						\
} while (0)

static void
test_pairs(void)
{
	struct sw_attrib	*at = attrib_new();
	struct sw_event		 ev;

	said(at, "mx1", "alice@example.com", "203.0.113.5", T0);
	said(at, "mx1", "bob@example.com", "203.0.113.5", T0 + 1);
	said(at, "mx1", "carol@example.com", "198.51.100.7", T0 + 1);
	/* oldest first, each once */
	FAILED(at, "mx1", "203.0.113.5", T0 + 2, "alice@example.com");
	FAILED(at, "mx1", "203.0.113.5", T0 + 3, "bob@example.com");
	FAILED(at, "mx1", "203.0.113.5", T0 + 3, "");
	/* another host's line is not this host's */
	FAILED(at, "mx2", "198.51.100.7", T0 + 3, "");
	/* too late: outside the window */
	FAILED(at, "mx1", "198.51.100.7", T0 + 12, "");
	/* a second early is fine (whole-second stamps), two are not */
	said(at, "mx1", "dave@example.com", "192.0.2.9", T0 + 21);
	FAILED(at, "mx1", "192.0.2.9", T0 + 19, "");
	FAILED(at, "mx1", "192.0.2.9", T0 + 20, "dave@example.com");
	/* a failure that names its account keeps it, uses nothing */
	said(at, "mx1", "erin@example.com", "192.0.2.10", T0 + 30);
	ev = ev_make(SW_EV_FAILURE, "mx1", "frank@example.com", "192.0.2.10",
	    T0 + 30);
	CHECK_INT(attrib_event(at, 10, &ev), 0);
	CHECK_STR(ev.account, "frank@example.com");
	FAILED(at, "mx1", "192.0.2.10", T0 + 31, "erin@example.com");
	/* client side and successes are not touched */
	said(at, "mx1", "gina@example.com", "192.0.2.11", T0 + 40);
	ev = ev_make(SW_EV_SUCCESS, "mx1", NULL, "192.0.2.11", T0 + 40);
	CHECK_INT(attrib_event(at, 10, &ev), 0);
	ev = ev_make(SW_EV_FAILURE, "mx1", NULL, "192.0.2.11", T0 + 40);
	ev.dir = SW_DIR_CLIENT;
	CHECK_INT(attrib_event(at, 10, &ev), 0);
	FAILED(at, "mx1", "192.0.2.11", T0 + 40, "gina@example.com");
	attrib_free(at);
}

/* A storm of back-end lines pushes the oldest out; memory is fixed. */
static void
test_ring(void)
{
	struct sw_attrib	*at = attrib_new();
	char			 acct[32];
	int			 i;

	/* the ring is made at the first back-end line, not before */
	FAILED(at, "mx1", "203.0.113.99", T0 - 1, "");
	CHECK(at->ring == NULL);
	said(at, "mx1", "first@example.com", "203.0.113.99", T0);
	CHECK(at->ring != NULL);
	for (i = 0; i < RING; i++) {
		snprintf(acct, sizeof(acct), "u%d@example.com", i);
		said(at, "mx1", acct, "203.0.113.1", T0 + 1);
	}
	FAILED(at, "mx1", "203.0.113.99", T0 + 2, "");
	FAILED(at, "mx1", "203.0.113.1", T0 + 2, "u0@example.com");
	/* a line without account or address is not remembered */
	said(at, "mx1", NULL, "203.0.113.7", T0 + 3);
	said(at, "mx1", "x@example.com", "", T0 + 3);
	FAILED(at, "mx1", "203.0.113.7", T0 + 3, "");
	attrib_free(at);
}

int
main(void)
{
	test_pairs();
	test_ring();
	return check_done();
}
