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
 * rule's literal and nothing more.  With Vectorscan the names are one
 * database, compiled again when a name is added (at most RELAYSET_NAMES
 * times) and run over the line once: a memmem per name was 6 % of a
 * scan of a Postfix log, whose every delivery is asked about.  The set
 * holds at most RELAYSET_MAX entries; a fuller one watches every relay
 * (each delivery counts, as before the set existed), said once.
 */

#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#ifdef SW_VECTORSCAN
#include <hs.h>
#endif

#define RELAYSET_MAX	1024		/* host, relay pairs */
#define RELAYSET_SLOTS	2048		/* a power of 2, twice the max */
#define RELAYSET_FIRST	16		/* slots at first, doubled to that */
#define RELAYSET_NAMES	8		/* names memmem'ed by _maybe */

struct relayset_entry {
	uint64_t	 h;
	char		*key;		/* host NUL relay */
	size_t		 hlen, rlen;
};

struct sw_relayset {
	struct relayset_entry	*slot;	/* cap, open addressing, at most half
					   full (64 KiB at RELAYSET_SLOTS) */
	size_t			 n, cap;
	int			 full;	/* watches everything */
	struct {
		char		*p;	/* points into an entry's key */
		size_t		 len;
	}			 names[RELAYSET_NAMES];
	size_t			 nnames;
	int			 many;	/* more distinct names than that */
#ifdef SW_VECTORSCAN
	hs_database_t		*db;	/* the names, when compiled */
	hs_scratch_t		*scratch;
	size_t			 dbnames;	/* how many it holds */
#endif
};

struct sw_relayset *
relayset_new(void)
{
	struct sw_relayset	*s;

	s = xcalloc(1, sizeof(*s));
	s->cap = RELAYSET_FIRST;
	s->slot = xcalloc(s->cap, sizeof(*s->slot));
	return s;
}

/* Empties the set: it watches nothing. */
void
relayset_clear(struct sw_relayset *s)
{
	size_t	 i;

	for (i = 0; i < s->cap; i++)
		free(s->slot[i].key);
	memset(s->slot, 0, s->cap * sizeof(*s->slot));
	s->n = s->nnames = 0;
	s->full = s->many = 0;
#ifdef SW_VECTORSCAN
	hs_free_database(s->db);
	s->db = NULL;
	s->dbnames = 0;
#endif
}

void
relayset_free(struct sw_relayset *s)
{
	if (s == NULL)
		return;
	relayset_clear(s);
#ifdef SW_VECTORSCAN
	hs_free_scratch(s->scratch);
#endif
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

	for (i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		e = &s->slot[i];
		if (e->key == NULL)
			return e;
		if (e->h == h && e->hlen == hlen && e->rlen == rlen &&
		    memcmp(e->key, host, hlen) == 0 &&
		    memcmp(e->key + hlen + 1, relay, rlen) == 0)
			return e;
	}
}

/* Twice the slots, every entry moved over (names point into keys). */
static void
relayset_grow(struct sw_relayset *s)
{
	struct relayset_entry	*old = s->slot, *e;
	size_t			 i, cap = s->cap;

	s->cap = cap * 2;
	s->slot = xcalloc(s->cap, sizeof(*s->slot));
	for (i = 0; i < cap; i++)
		if (old[i].key != NULL) {
			e = relayset_slot(s, old[i].h, old[i].key, old[i].hlen,
			    old[i].key + old[i].hlen + 1, old[i].rlen);
			*e = old[i];
		}
	free(old);
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
	if ((s->n + 1) * 2 > s->cap) {
		relayset_grow(s);
		e = relayset_slot(s, h, host, hlen, relay, rlen);
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

#ifdef SW_VECTORSCAN
/*
 * The names as one database, compiled again when names were added since;
 * -1 (said why, at debug level) when it cannot be: memmem does the work,
 * until the next name.
 */
static int
relayset_compile(struct sw_relayset *s)
{
	hs_compile_error_t	*err = NULL;
	const char		*pat[RELAYSET_NAMES];
	size_t			 lens[RELAYSET_NAMES], i;

	if (s->dbnames == s->nnames)
		return s->db != NULL ? 0 : -1;
	hs_free_database(s->db);
	s->db = NULL;
	s->dbnames = s->nnames;
	for (i = 0; i < s->nnames; i++) {
		pat[i] = s->names[i].p;
		lens[i] = s->names[i].len;
	}
	if (hs_compile_lit_multi(pat, NULL, NULL, lens,
	    (unsigned int)s->nnames, HS_MODE_BLOCK, NULL, &s->db, &err) !=
	    HS_SUCCESS) {
		log_debug("relay names by memmem: vectorscan: %s",
		    err != NULL && err->message != NULL ? err->message : "?");
		hs_free_compile_error(err);
		s->db = NULL;
		return -1;
	}
	if (hs_alloc_scratch(s->db, &s->scratch) != HS_SUCCESS) {
		hs_free_database(s->db);
		s->db = NULL;
		return -1;
	}
	return 0;
}

/* A name was found: the scan can stop. */
static int
relayset_found(unsigned int id, unsigned long long from,
    unsigned long long to, unsigned int flags, void *ctx)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	(void)ctx;
	return 1;
}
#endif

/*
 * 0 when no watched relay's name occurs in text, so that no delivery in
 * it can count; 1 when one may.
 */
int
relayset_maybe(struct sw_relayset *s, const char *text, size_t len)
{
	size_t	 i;

	if (s->full || s->many)
		return 1;
	if (s->nnames == 0)
		return 0;
#ifdef SW_VECTORSCAN
	if (len <= UINT32_MAX && relayset_compile(s) == 0)
		switch (hs_scan(s->db, text, (unsigned int)len, 0, s->scratch,
		    relayset_found, NULL)) {
		case HS_SUCCESS:
			return 0;
		case HS_SCAN_TERMINATED:
			return 1;
		default:
			break;		/* memmem tells */
		}
#endif
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
