/*
 * t_relayset.c -- relayset.c, the relays whose deliveries count: a
 * client-side failure, held-back message or trouble watches its relay on
 * its host (by relay name, else host name, else address); a delivery
 * counts only through a watched relay of the same host; relayset_maybe
 * finds a watched name anywhere in a line, and answers yes once there
 * are too many names to search; past RELAYSET_MAX relays every relay is
 * watched; relayset_clear forgets them all.
 */

#include "../../daemon/relayset.c"

#include "check.h"

static struct sw_event
ev_client(enum sw_kind kind, const char *host, const char *relay)
{
	struct sw_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.dir = SW_DIR_CLIENT;
	snprintf(ev.host, sizeof(ev.host), "%s", host);
	snprintf(ev.relay, sizeof(ev.relay), "%s", relay);
	return ev;
}

#define HAS(s, h, r)	relayset_has(s, h, strlen(h), r, strlen(r))
#define MAYBE(s, t)	relayset_maybe(s, t, strlen(t))

static void
t_watch(void)
{
	struct sw_relayset	*s = relayset_new();
	struct sw_event		 ev;

	CHECK_INT(HAS(s, "mx1", "smtp.gmail.com"), 0);
	CHECK_INT(MAYBE(s, "relay=smtp.gmail.com[142.250.1.108]:587"), 0);
	/* A delivery before any failure does not count, nor watches. */
	ev = ev_client(SW_EV_SUCCESS, "mx1", "smtp.gmail.com");
	CHECK_INT(relayset_event(s, &ev), 0);
	CHECK_INT(HAS(s, "mx1", "smtp.gmail.com"), 0);
	/* The failure watches it on mx1, and then deliveries count. */
	ev.kind = SW_EV_FAILURE;
	CHECK_INT(relayset_event(s, &ev), 1);
	ev.kind = SW_EV_SUCCESS;
	CHECK_INT(relayset_event(s, &ev), 1);
	CHECK_INT(HAS(s, "mx1", "smtp.gmail.com"), 1);
	CHECK_INT(HAS(s, "mx2", "smtp.gmail.com"), 0);
	CHECK_INT(HAS(s, "mx1", "smtp.gmail.co"), 0);
	CHECK_INT(HAS(s, "mx1", "smtp.gmail.com."), 0);
	CHECK_INT(MAYBE(s, "to=<a@b>, relay=smtp.gmail.com[142.250.1.108]:587"),
	    1);
	CHECK_INT(MAYBE(s, "to=<a@b>, relay=mx.example.org[192.0.2.1]:25"), 0);
	/* Held back and trouble watch too; a server success passes. */
	ev = ev_client(SW_EV_AFFECTED, "mx1", "smtp.office365.com");
	CHECK_INT(relayset_event(s, &ev), 1);
	ev = ev_client(SW_EV_TROUBLE, "mx1", "smtp.sendgrid.net");
	CHECK_INT(relayset_event(s, &ev), 1);
	CHECK_INT(HAS(s, "mx1", "smtp.office365.com"), 1);
	CHECK_INT(HAS(s, "mx1", "smtp.sendgrid.net"), 1);
	ev = ev_client(SW_EV_SUCCESS, "mx1", "");
	ev.dir = SW_DIR_SERVER;
	CHECK_INT(relayset_event(s, &ev), 1);
	/* No relay name: the host name, else the address. */
	ev = ev_client(SW_EV_FAILURE, "mx1", "");
	snprintf(ev.addr, sizeof(ev.addr), "192.0.2.25");
	CHECK_INT(relayset_event(s, &ev), 1);
	CHECK_INT(HAS(s, "mx1", "192.0.2.25"), 1);
	/* Held back with no relay at all: nothing to watch. */
	ev = ev_client(SW_EV_AFFECTED, "mx1", "");
	CHECK_INT(relayset_event(s, &ev), 1);
	CHECK_INT(relayset_count(s), 4);
	relayset_clear(s);
	CHECK_INT(relayset_count(s), 0);
	CHECK_INT(HAS(s, "mx1", "smtp.gmail.com"), 0);
	CHECK_INT(MAYBE(s, "relay=smtp.gmail.com[142.250.1.108]:587"), 0);
	relayset_free(s);
}

static void
t_names(void)
{
	struct sw_relayset	*s = relayset_new();
	char			 r[64];
	int			 i;

	/* The same name on several hosts is searched once. */
	for (i = 0; i < RELAYSET_NAMES + 4; i++) {
		snprintf(r, sizeof(r), "mx%d", i);
		relayset_add(s, r, strlen(r), "relay.example", 13);
	}
	CHECK_INT(s->nnames, 1);
	CHECK_INT(MAYBE(s, "relay=other.example[192.0.2.1]:25"), 0);
	for (i = 0; i < RELAYSET_NAMES; i++) {
		snprintf(r, sizeof(r), "relay%d.example", i);
		relayset_add(s, "mx1", 3, r, strlen(r));
	}
	CHECK_INT(s->many, 1);		/* nine names: no longer searched */
	CHECK_INT(MAYBE(s, "relay=other.example[192.0.2.1]:25"), 1);
	CHECK_INT(HAS(s, "mx1", "other.example"), 0);
	relayset_free(s);
}

static void
t_full(void)
{
	struct sw_relayset	*s = relayset_new();
	char			 r[64];
	int			 i;

	CHECK_INT(s->cap, RELAYSET_FIRST);	/* small while few watched */
	for (i = 0; i < RELAYSET_MAX; i++) {
		snprintf(r, sizeof(r), "relay%d.example", i);
		relayset_add(s, "mx1", 3, r, strlen(r));
		CHECK(s->n * 2 <= s->cap && s->cap <= RELAYSET_SLOTS);
	}
	CHECK_INT(s->cap, RELAYSET_SLOTS);
	CHECK_INT(relayset_count(s), RELAYSET_MAX);
	for (i = 0; i < RELAYSET_MAX; i++) {	/* each found after growing */
		snprintf(r, sizeof(r), "relay%d.example", i);
		CHECK_INT(HAS(s, "mx1", r), 1);
	}
	CHECK_INT(HAS(s, "mx1", "relay7.example"), 1);
	CHECK_INT(HAS(s, "mx1", "never.example"), 0);
	relayset_add(s, "mx1", 3, "one-more.example", 16);
	CHECK_INT(relayset_count(s), RELAYSET_MAX + 1);
	CHECK_INT(HAS(s, "mx1", "never.example"), 1);	/* all watched */
	CHECK_INT(MAYBE(s, "relay=never.example[192.0.2.1]:25"), 1);
	relayset_clear(s);
	CHECK_INT(HAS(s, "mx1", "never.example"), 0);
	relayset_free(s);
}

/* 1 when one of the set's names occurs in text: memmem, name by name. */
static int
maybe_oracle(const struct sw_relayset *s, const char *text, size_t len)
{
	size_t	 i;

	if (s->full || s->many)
		return 1;
	for (i = 0; i < s->nnames; i++)
		if (memmem(text, len, s->names[i].p, s->names[i].len) != NULL)
			return 1;
	return 0;
}

/*
 * relayset_maybe (one Vectorscan database of the names, when built with
 * it) says what memmem says, name by name: random names of 1 to 12 bytes
 * over a four-letter alphabet, and the bytes 0 and 255, added one by one
 * (the database compiled again each time), on random texts of up to 300
 * bytes of the same alphabet, then cleared.
 */
static void
t_maybe(void)
{
	static const char	 abc[] = "ab.\0\377";
	struct sw_relayset	*s = relayset_new();
	char			 name[12], text[300];
	uint32_t		 x = 7;
	size_t			 i, j, k, len, yes = 0, no = 0;
	int			 round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < RELAYSET_NAMES; i++) {
			x = x * 1103515245u + 12345u;
			len = 1 + (x >> 16) % sizeof(name);
			for (j = 0; j < len; j++) {
				x = x * 1103515245u + 12345u;
				name[j] = abc[(x >> 16) % 5];
			}
			if (len < 3)
				name[0] = 'z';	/* short ones seldom occur */
			relayset_add(s, "mx1", 3, name, len);
			for (k = 0; k < 200; k++) {
				x = x * 1103515245u + 12345u;
				len = (x >> 16) % sizeof(text);
				for (j = 0; j < len; j++) {
					x = x * 1103515245u + 12345u;
					text[j] = abc[(x >> 16) % 5];
				}
				j = (size_t)maybe_oracle(s, text, len);
				CHECK_INT(relayset_maybe(s, text, len), (int)j);
				yes += j;
				no += !j;
			}
		}
		relayset_clear(s);
		CHECK_INT(relayset_maybe(s, "ab.", 3), 0);
	}
	CHECK(yes > 100 && no > 100);
	relayset_free(s);
}

int
main(void)
{
	log_init("t_relayset", 0);
	t_watch();
	t_names();
	t_full();
	t_maybe();
	return check_done();
}
