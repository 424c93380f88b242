/*
 * relaynote.c -- the local findings a relay-rejected alert carries.  When
 * a relay refuses our login the cause is often here: postmap not run
 * after the password was changed, SASL not enabled for the client, a
 * mechanism filter that leaves nothing the relay offers, a map others
 * may read.  smtpwatchd runs unprivileged and never reads a credential:
 * these are the checks of relaycheck.c that need none (the MTA's
 * settings through its own tools, the maps' times and modes).  They are
 * made for this host's relays only (a fleet's other hosts have their own
 * configuration), at most once a minute per relay name (each is a few
 * runs of postconf), and not for an hour after the MTA's configuration
 * could not be read.  smtpwatchctl check-relay makes them all, with the
 * credential's own, and --live tries the login.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpwatch.h"

#define NOTE_TTL	60	/* seconds a relay's findings are kept */
#define NOTE_FAIL_TTL	3600	/* ... no configuration is retried */
#define NOTE_MAX	16	/* relay names kept */

struct note {
	char			*relay;
	struct relayfind	*f;
	time_t			 at;
};

struct sw_relaynote {
	struct note	 v[NOTE_MAX];
	time_t		 failed;	/* the configuration could not be read */
	char		 host[256];	/* this host's name, its first label */
};

/* The first label of name, in dst. */
static void
relaynote_label(char *dst, size_t size, const char *name)
{
	size_t	 n = strcspn(name, ".");

	if (n >= size)
		n = size - 1;
	memcpy(dst, name, n);
	dst[n] = '\0';
}

struct sw_relaynote *
relaynote_new(void)
{
	struct sw_relaynote	*rn = xcalloc(1, sizeof(*rn));
	char			 name[256];

	if (gethostname(name, sizeof(name)) == -1)
		name[0] = '\0';
	name[sizeof(name) - 1] = '\0';
	relaynote_label(rn->host, sizeof(rn->host), name);
	return rn;
}

static void
note_clear(struct note *x)
{
	free(x->relay);
	relaycheck_free(x->f);
	memset(x, 0, sizeof(*x));
}

void
relaynote_free(struct sw_relaynote *rn)
{
	size_t	 i;

	if (rn == NULL)
		return;
	for (i = 0; i < NOTE_MAX; i++)
		note_clear(&rn->v[i]);
	free(rn);
}

/* The findings for relay, made now; NULL when the MTA cannot say. */
static struct relayfind *
relaynote_make(const char *relay)
{
	struct relayconf	*rc;
	struct relayfind	*f;
	size_t			 i;

	if (relayconf_load(relay, 0, &rc) == -1)
		return NULL;
	f = relaycheck_new();
	relaycheck_conf(rc, f);
	for (i = 0; i < rc->nrelays; i++)
		relaycheck_offers(rc, &rc->relays[i], f);
	relayconf_free(rc);
	return f;
}

/*
 * The local findings about relay (len bytes), which refused our login on
 * host; NULL when host is not this one or the MTA's configuration cannot
 * be read.  Valid until the next call.
 */
const struct relayfind *
relaynote_find(struct sw_relaynote *rn, const char *host, const char *relay,
    size_t len)
{
	struct note	*x, *old = &rn->v[0];
	char		 label[256], *name;
	time_t		 now = time(NULL);
	size_t		 i;

	relaynote_label(label, sizeof(label), host);
	if (rn->host[0] == '\0' || strcmp(label, rn->host) != 0 ||
	    memchr(relay, '\0', len) != NULL ||
	    (rn->failed != 0 && now - rn->failed < NOTE_FAIL_TTL))
		return NULL;
	for (i = 0; i < NOTE_MAX; i++) {
		x = &rn->v[i];
		if (x->relay != NULL && strlen(x->relay) == len &&
		    memcmp(x->relay, relay, len) == 0) {
			if (now - x->at < NOTE_TTL)
				return x->f;
			old = x;	/* made again, in its place */
			break;
		}
		if (x->at < old->at)
			old = x;
	}
	name = xstrndup(relay, len);
	note_clear(old);
	if ((old->f = relaynote_make(name)) == NULL) {
		rn->failed = now;
		free(name);
		return NULL;
	}
	old->relay = name;
	old->at = now;
	return old->f;
}
