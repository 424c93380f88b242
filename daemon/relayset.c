/*
 * relayset.c -- the relays smtpwatch watches, per host: those with a
 * client-side failure, a message held back or AUTH trouble.  A delivery
 * (a client-side success: Postfix's status=sent, Exim's => with A=)
 * counts only through a watched relay; the others are mail handed to
 * some MX, not a login of ours that could recover.  The set is exactly
 * the relays the store has a row for (store.c makes no relay row of
 * successes alone), kept in log order by the matcher, so that scan and
 * the daemon, one batch size or another, count the same deliveries.
 * smtpwatchd fills it from its database at start and after retention.
 *
 * Lookups are by host and relay (the event's subject, sw_subject());
 * relayset_maybe() tells the matcher, before it runs a delivery rule's
 * pattern, whether any watched relay's name occurs in the line at all:
 * on a host whose relays never failed, deliveries cost a memmem of the
 * rule's literal and nothing more.  The set holds at most RELAYSET_MAX
 * entries; a fuller one watches every relay (each delivery counts, as
 * before the set existed), said once.
 */

#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define RELAYSET_MAX	1024		/* host, relay pairs */
#define RELAYSET_SLOTS	2048		/* a power of 2, twice the max */
#define RELAYSET_NAMES	8		/* names memmem'ed by _maybe */

struct relayset_entry {
	uint64_t	 h;
	char		*key;		/* host NUL relay */
	size_t		 hlen, rlen;
};

struct sw_relayset {
	struct relayset_entry	*slot;	/* RELAYSET_SLOTS, open addressing */
	size_t			 n;
	int			 full;	/* watches everything */
	struct {
		char		*p;	/* points into an entry's key */
		size_t		 len;
	}			 names[RELAYSET_NAMES];
	size_t			 nnames;
	int			 many;	/* more distinct names than that */
};

struct sw_relayset *
relayset_new(void)
{
	struct sw_relayset	*s;

	s = xcalloc(1, sizeof(*s));
	s->slot = xcalloc(RELAYSET_SLOTS, sizeof(*s->slot));
	return s;
}

/* Empties the set: it watches nothing. */
void
relayset_clear(struct sw_relayset *s)
{
	size_t	 i;

	for (i = 0; i < RELAYSET_SLOTS; i++)
		free(s->slot[i].key);
	memset(s->slot, 0, RELAYSET_SLOTS * sizeof(*s->slot));
	s->n = s->nnames = 0;
	s->full = s->many = 0;
}

void
relayset_free(struct sw_relayset *s)
{
	if (s == NULL)
		return;
	relayset_clear(s);
	free(s->slot);
	free(s);
}

static uint64_t
relayset_hash(const char *host, size_t hlen, const char *relay, size_t rlen)
{
	uint64_t	 h;

	h = fnv64(FNV64_INIT, host, hlen);
	h = fnv64(h ^ 0xff, relay, rlen);
	return h == 0 ? 1 : h;
}

/* The slot of (host, relay), or the empty slot where it would go. */
static struct relayset_entry *
relayset_slot(const struct sw_relayset *s, uint64_t h, const char *host,
    size_t hlen, const char *relay, size_t rlen)
{
	struct relayset_entry	*e;
	size_t			 i;

	for (i = h & (RELAYSET_SLOTS - 1);; i = (i + 1) & (RELAYSET_SLOTS - 1)) {
		e = &s->slot[i];
		if (e->key == NULL)
			return e;
		if (e->h == h && e->hlen == hlen && e->rlen == rlen &&
		    memcmp(e->key, host, hlen) == 0 &&
		    memcmp(e->key + hlen + 1, relay, rlen) == 0)
			return e;
	}
}

/* Keeps the relay's name for relayset_maybe(), once per distinct name. */
static void
relayset_name(struct sw_relayset *s, char *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < s->nnames; i++)
		if (s->names[i].len == len && memcmp(s->names[i].p, p, len) == 0)
			return;
	if (s->nnames == RELAYSET_NAMES) {
		s->many = 1;
		return;
	}
	s->names[s->nnames].p = p;
	s->names[s->nnames].len = len;
	s->nnames++;
}

/* Watches relay on host from now on. */
void
relayset_add(struct sw_relayset *s, const char *host, size_t hlen,
    const char *relay, size_t rlen)
{
	struct relayset_entry	*e;
	uint64_t		 h;

	if (s->full || rlen == 0)
		return;
	h = relayset_hash(host, hlen, relay, rlen);
	e = relayset_slot(s, h, host, hlen, relay, rlen);
	if (e->key != NULL)
		return;
	if (s->n == RELAYSET_MAX) {
		s->full = 1;
		log_warnx("more than %d relays failed AUTH: every delivery now "
		    "counts as a relay success, whatever its relay",
		    RELAYSET_MAX);
		return;
	}
	e->h = h;
	e->hlen = hlen;
	e->rlen = rlen;
	e->key = xmalloc(hlen + 1 + rlen + 1);
	memcpy(e->key, host, hlen);
	e->key[hlen] = '\0';
	memcpy(e->key + hlen + 1, relay, rlen);
	e->key[hlen + 1 + rlen] = '\0';
	s->n++;
	relayset_name(s, e->key + hlen + 1, rlen);
}

/* 1 when relay on host is watched. */
int
relayset_has(const struct sw_relayset *s, const char *host, size_t hlen,
    const char *relay, size_t rlen)
{
	if (s->full)
		return 1;
	if (s->n == 0)
		return 0;
	return relayset_slot(s, relayset_hash(host, hlen, relay, rlen), host,
	    hlen, relay, rlen)->key != NULL;
}

/*
 * 0 when no watched relay's name occurs in text, so that no delivery in
 * it can count; 1 when one may.
 */
int
relayset_maybe(const struct sw_relayset *s, const char *text, size_t len)
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
 * The matcher's part, for each event in log order: a client-side
 * failure, held-back message or trouble watches its relay (as it makes
 * the store's row); returns 0 for a client-side
 * success through a relay not watched (no event), else 1.
 */
int
relayset_event(struct sw_relayset *s, const struct sw_event *ev)
{
	const char	*subj;
	size_t		 slen, hlen;

	if (ev->dir != SW_DIR_CLIENT)
		return 1;
	subj = sw_subject(ev, &slen);
	hlen = strnlen(ev->host, sizeof(ev->host));
	switch (ev->kind) {
	case SW_EV_FAILURE:
	case SW_EV_AFFECTED:
	case SW_EV_TROUBLE:
		relayset_add(s, ev->host, hlen, subj, slen);
		return 1;
	case SW_EV_SUCCESS:
		return relayset_has(s, ev->host, hlen, subj, slen);
	default:
		return 1;
	}
}

/* Relays watched (RELAYSET_MAX and more when full). */
size_t
relayset_count(const struct sw_relayset *s)
{
	return s->full ? s->n + 1 : s->n;
}
