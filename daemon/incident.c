/*
 * incident.c -- the alert engine.  It sees every event in log order and
 * keeps two things: tracks, the recent failures of one account, client
 * address or back end (counts in a sliding window, the addresses an
 * account failed from and whether they ever logged in, the rhythm), and
 * incidents, the open runs of trouble that deserve an alert.
 *
 *   relay      a relay refused our login: opens at the first refusal,
 *              closes at the next delivery through it;
 *   account    account-threshold failures in account-window: opens with
 *              a diagnosis from the track (stale device, brute force,
 *              distributed brute force), closes when an address that was
 *              failing it logs in (the stale device was fixed, or the
 *              attacker got in) or when quiet.  Incidents follow the
 *              attack, not the owner: a login from any other address is
 *              recorded on the incident (logins, login_addr) and closes
 *              nothing;
 *   address    one address failing on spray-threshold accounts in
 *              spray-window (password spraying); closes when quiet;
 *   backend    backend-threshold "back end down" troubles in
 *              backend-window; closes at a login or when quiet.
 *
 * An incident's entries are bounded, whatever realert says: the first
 * goes out at once; later failures are told at most once per hour of
 * log time (FOLLOWUP_MIN, or realert when longer), as a count since the
 * previous entry; an escalation of an account's diagnosis (stale device,
 * brute force, distributed: at most twice) is told at once and starts
 * the hour over; and one entry tells the close (a login, or quiet time
 * when failures went untold).  An incident spanning H hours of log
 * writes at most 1 + H + 2 + 1 entries.  Times are the log lines' own,
 * so a backlog read at start counts like it happened; each entry says
 * when its failures happened (first, last), and one written about lines
 * older than the live window (LIVE_SKEW behind the wall clock: a backlog
 * caught up at start) is marked caught_up, so that Friday's brute force
 * read on Monday does not page anyone as if it happened now.
 *
 * Client addresses are grouped by network (group-ipv4, group-ipv6: an
 * IPv4 address and an IPv6 /64 by default): a network failing on
 * spray-threshold accounts is one address incident whose subject names
 * it ("2001:db8:1:2::/64") and which counts its addresses, and an
 * account failing from many addresses of one network is a brute force
 * from that network, not a distributed one.
 *
 * An attacker must not be able to silence an alert.  Relay incidents and
 * back-end incidents (few: bounded by the relays and hosts) have
 * INFRA_MAX places each of their own; client incidents (account, address) compete for
 * client-incidents places, and when those are full the one whose last
 * failure is the oldest is folded: closed ("folded"), its untold
 * failures told in the minute's summary, and the engine says once that
 * it is summarising (SW_AL_SUMMARISING).  Client-side entries are
 * budgeted, alerts-per-minute in a minute of log time (the engine's
 * latest); past it an entry is folded into the summary that ends the
 * minute (SW_AL_ALERTS_FOLDED: counts by kind, the top subjects).  A
 * folded entry is no entry of its incident (alerts does not count it,
 * REPEAT numbers only its own), but its failures count as told
 * (reported, last_alert): the next entry of the incident follows the
 * usual hour.  Relay and back-end entries, and a possible compromise,
 * are never folded.  Like everything else here, the budget is a
 * function of the events and their times, so scan folds the same.
 *
 * Memory is bounded: tracks live in a hash with an LRU list and at most
 * TRACK_MAX of them (the least recently failing one goes first);
 * windows are counted in NSLOT slots, whatever the threshold; the sets
 * of queue ids, accounts and addresses of an incident (valset.c, their
 * values held once in the engine's dictionary) stop growing at 65536
 * and count on.  Incidents are written by store.c with the batch
 * (engine_save) and reloaded from it at start.
 *
 * For a firewall (hostile-entries), an address failing a brute force,
 * a distributed one or a spray, and no account ever logged in from, is
 * told once in a separate entry (SW_AL_ADDRESS_HOSTILE) whose MESSAGE
 * starts with the address and holds no text a client typed: a filter
 * such as fail2ban's reads MESSAGE alone.  Told again after HOSTILE_AGAIN
 * of log time when it goes on; at most hostile-entries a minute, the
 * rest named in the daemon's log; never for lines caught up late.
 */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpwatch.h"

#define TRACK_MAX	4096	/* tracks kept */
#define INFRA_MAX	1000	/* open relay, and back-end, incidents */
#define TRACK_NETADDRS	256	/* addresses a network's track remembers */
#define NSLOT		16	/* window slots */
#define RHYTHM		8	/* failure times kept for the rhythm */
#define LIVE_SKEW	300	/* wall clock this close to the logs: live */
#define SWEEP		60	/* log seconds between closing quiet ones */
#define FOLLOWUP_MIN	3600	/* log seconds from an entry to a follow-up */
#define HASH_MIN	256
#define GOOD_MAX	4096	/* recent logins remembered */
#define HOSTILE_MAX	65536	/* hostile addresses told, remembered */
#define HOSTILE_AGAIN	3600	/* log seconds before one is told again */

enum tkind {
	T_ACCOUNT,
	T_ADDRESS,
	T_BACKEND
};

/*
 * Failures in a sliding window: NSLOT slots of width w.  A slot's
 * earliest failure is kept from its start, idx * w: windows are at most
 * 7 days, so it fits in 32 bits (and 64 bytes a track are saved).
 */
struct window {
	long		 w;
	long		 idx[NSLOT];
	uint32_t	 count[NSLOT];
	int32_t		 first[NSLOT];	/* the earliest failure of the
					   slot, from idx * w */
};

/* One address an account failed from. */
struct from {
	uint64_t	 h;
	uint64_t	 net;		/* hash of its network (engine_group) */
	time_t		 last;
	int		 good;		/* logged in before: -1 unknown */
	char		 addr[SW_ADDR_MAX];
};

/* One account an address failed on. */
struct tried {
	uint64_t	 h;
	time_t		 first, last;	/* of its failures in the window */
	uint32_t	 failures;
};

struct track {
	struct track	*hnext;
	struct track	*older, *newer;
	uint64_t	 hash;
	enum tkind	 kind;
	uint32_t	 ntimes;
	time_t		 last;
	struct window	 win;
	time_t		*times;		/* account: the latest RHYTHM
					   failures, made at its first */
	struct from	*from;		/* account: nfrom, grown to at most
					   SW_TRACK_ADDRS; else NULL (a
					   storm's address tracks are most
					   of them, an attack's accounts fail
					   from one address) */
	size_t		 nfrom;
	struct tried	*tried;		/* address: spray-threshold slots */
	size_t		 ntried;
	char		*hosts;		/* fleet: the hosts it failed on */
	struct sw_set	*addrs;		/* a network's: its addresses */
	size_t		 keylen;
	char		 key[];		/* host NUL subject */
};

/*
 * An incident's fields, named as in struct sw_incident, with its long
 * text allocated to its length: sw_incident's fixed-size text took 1.7
 * KB an incident, and up to client-incidents are open in an attack.
 * inc_export() makes the sw_incident alert.c and store.c take.
 */
struct incfields {
	int64_t		 id;
	enum sw_inc_kind kind;
	char		*host;		/* never NULL */
	char		*subject;	/* subjectlen bytes and a NUL */
	size_t		 subjectlen;
	time_t		 opened, last, closed, since;
	char		 close_reason[16];
	uint64_t	 failures, messages, reported;
	uint32_t	 alerts;
	time_t		 last_alert;
	uint32_t	 addresses, accounts, logins;
	time_t		 login_last;
	char		 login_addr[SW_ADDR_MAX];
	char		*diagnosis;	/* never NULL */
	char		 addr[SW_ADDR_MAX];
	char		*reply;		/* NULL: none */
	char		*hosts;		/* a fleet's: SW_HOSTS_MAX bytes; or
					   NULL */
};

struct inc {
	struct incfields s;
	struct inc	*hnext;
	struct inc	*prev, *next;	/* every incident not yet freed */
	struct inc	*colder, *hotter;	/* open client incidents, by
					   their latest failure */
	uint64_t	 hash;
	int		 dirty;		/* changed since engine_save */
	int		 rank;		/* account: diagnosis severity */
	int		 loaded;	/* from the store: sets start empty */
	struct sw_set	 seen;		/* relay: queue ids; address: accounts;
					   account: the addresses failing it */
	struct sw_set	 addrs;		/* a network's address incident: its
					   addresses; account: the networks
					   of more than one address */
	uint32_t	 ownnets;	/* account: addresses in seen that are
					   their own network (not in addrs) */
};

struct sw_engine {
	const struct sw_rules		*rs;
	const struct sw_alertopt	*opt;
	struct sw_store			*store;
	sw_alert_cb	 send;		/* NULL: silent */
	void		*arg;		/* send's */
	time_t		(*wall)(time_t *);	/* the wall clock: time(3) */
	time_t		 now;		/* the latest log time seen */
	time_t		 sweep;		/* quiet ones close at this log time */
	int64_t		 nextid;
	struct track   **ttab;
	size_t		 ttabsize, ntracks;
	struct track	*lru_old, *lru_new;
	struct inc     **itab;
	size_t		 itabsize, nopen;
	struct inc	*incs;		/* open ones, and closed ones unsaved */
	struct inc	*coldest, *hottest;	/* open client incidents */
	size_t		 nclients;	/* open account and address ones */
	size_t		 nkind[SW_INC_NKINDS];	/* open, by kind */
	unsigned long	 alerts;	/* entries written */
	unsigned long	 folded_entries, folded_incidents;
	int		 summarising;	/* client-incidents were reached */
	struct sw_fold	 fold;		/* the minute of log time at hand */
	int		 full[SW_INC_NKINDS];	/* INFRA_MAX was reached: logged */
	unsigned long	 opened[SW_INC_NKINDS];	/* here, not loaded */
	uint64_t	 good[GOOD_MAX];	/* logins not yet committed */
	size_t		 goodnext;
	struct sw_dict	 dict;		/* the values of every set */
	struct sw_set	 hostile;	/* hostile addresses told lately */
	time_t		 hostile_since;	/* ... since this log time */
	time_t		 hostile_minute;	/* the budget's minute */
	unsigned long	 hostile_sent, hostile_untold;	/* ... in it */
	const char	*evhost;	/* the host of the event at hand */
	struct sw_event	 fleet;		/* it, with SW_FLEET_HOST */
};

static int	inc_quiet(struct sw_engine *, struct inc *);
static void	inc_fold(struct sw_engine *, struct inc *);
static void	engine_quiet(struct sw_engine *);
static void	engine_summarising(struct sw_engine *);
static void	engine_summarised(struct sw_engine *);

/* Account diagnoses by severity: an incident only escalates. */
static const char *const behaviours[] = {
	"stale-device", "brute-force", "distributed-brute-force"
};

/* ------------------------------------------------------------- windows */

static void
window_init(struct window *w, long secs)
{
	memset(w, 0, sizeof(*w));
	w->w = (secs + NSLOT - 2) / (NSLOT - 1);
	if (w->w < 1)
		w->w = 1;
}

static long
window_idx(const struct window *w, time_t t)
{
	return (long)(t / w->w);
}

static void
window_add(struct window *w, time_t t, uint32_t n)
{
	long	 i = window_idx(w, t);
	size_t	 s = (size_t)i % NSLOT;
	int32_t	 off = (int32_t)(t - (time_t)i * w->w);	/* |off| < w */

	if (w->idx[s] != i) {
		w->idx[s] = i;
		w->count[s] = 0;
		w->first[s] = off;
	}
	if (off < w->first[s])
		w->first[s] = off;
	w->count[s] += n;
}

/* Failures from now - secs (to a slot's width) to now. */
static uint64_t
window_count(const struct window *w, time_t now, long secs)
{
	long		 lo = window_idx(w, now - secs), hi = window_idx(w, now);
	uint64_t	 n = 0;
	size_t		 s;

	for (s = 0; s < NSLOT; s++)
		if (w->idx[s] >= lo && w->idx[s] <= hi)
			n += w->count[s];
	return n;
}

/* The earliest failure that window_count() counts, or now. */
static time_t
window_first(const struct window *w, time_t now, long secs)
{
	long	 lo = window_idx(w, now - secs), hi = window_idx(w, now);
	time_t	 first = now;
	size_t	 s;

	for (s = 0; s < NSLOT; s++)
		if (w->idx[s] >= lo && w->idx[s] <= hi && w->count[s] > 0 &&
		    (time_t)w->idx[s] * w->w + w->first[s] < first)
			first = (time_t)w->idx[s] * w->w + w->first[s];
	return first;
}

/* ---------------------------------------------------------------- keys */

static uint64_t
key_hash(int kind, const char *host, const char *subj, size_t len)
{
	uint64_t	 h;

	h = hash_mem(HASH_SEED ^ (uint64_t)kind, host, strlen(host));
	return hash_mem(h, subj, len);
}

static int
key_same(const char *key, size_t keylen, const char *host, const char *subj,
    size_t len)
{
	size_t	 hl = strlen(host) + 1;

	return keylen == hl + len && memcmp(key, host, hl) == 0 &&
	    memcmp(key + hl, subj, len) == 0;
}

/* ------------------------------------------------------------ networks */

/* 1 when the 16 bytes are an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
static int
net_mapped(const unsigned char *a)
{
	static const unsigned char pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	return memcmp(a, pre, sizeof(pre)) == 0;
}

/* Writes the decimal n at p; returns the byte after it. */
static char *
net_digits(char *p, unsigned int n)
{
	if (n >= 100)
		*p++ = (char)('0' + n / 100);
	if (n >= 10)
		*p++ = (char)('0' + n / 10 % 10);
	*p++ = (char)('0' + n % 10);
	return p;
}

/*
 * The fast paths' answer: the len bytes of text at s into out, and rc;
 * -2 when out is too small for them, for the general path to cut them as
 * snprintf does.
 */
static int
net_put(char *out, size_t size, const char *s, size_t len, int rc)
{
	if (len >= size)
		return -2;
	memcpy(out, s, len);
	out[len] = '\0';
	return rc;
}

/*
 * engine_group() for a dotted quad q (the text addr, read by addr_quad),
 * without inet_pton, inet_ntop or stdio: a storm groups an address or
 * two for every failure.  The same text and answer as the general path;
 * -2 when out is too small for it.
 */
static int
net_group4(const unsigned char q[4], long bits, const char *addr,
    char *out, size_t size)
{
	char	 buf[sizeof("255.255.255.255/32")], *p = buf;
	int	 i;

	if (bits >= 32)
		return net_put(out, size, addr, strlen(addr), 0);
	for (i = 0; i < 4; i++) {
		if (i > 0)
			*p++ = '.';
		if (i * 8 >= bits)
			*p++ = '0';
		else if (i * 8 + 8 > bits)
			p = net_digits(p,
			    q[i] & (0xffu << (8 - (bits - i * 8))) & 0xffu);
		else
			p = net_digits(p, q[i]);
	}
	*p++ = '/';
	p = net_digits(p, (unsigned int)bits);
	return net_put(out, size, buf, (size_t)(p - buf), 1);
}

/*
 * engine_group() for an IPv6 network a of at most 96 bits, without
 * inet_ntop or stdio: inet_ntop's text (RFC 5952: the first longest run
 * of two or more zero words written "::", the others in lowercase hex
 * without leading zeros) and "/bits"; -2 when out is too small for it.
 * Its last two words are zero, so inet_ntop's dotted forms (::a.b.c.d,
 * ::ffff:a.b.c.d) cannot arise; -2 for a longer prefix too, which the
 * general path writes.  inet_ntop and snprintf took 4k instructions an
 * address, a storm's engine groups one for every failure.
 */
static int
net_group6(const unsigned char a[16], long bits, char *out, size_t size)
{
	static const char	 hex[] = "0123456789abcdef";
	char			 buf[sizeof("ffff:ffff:ffff:ffff:ffff:ffff::/96")];
	char			*p = buf;
	unsigned int		 w[8];
	int			 i, sh, base = -1, len = 0, cur = 0, run = 0;

	if (bits > 96)
		return -2;
	for (i = 0; i < 8; i++) {
		w[i] = (unsigned int)a[2 * i] << 8 | a[2 * i + 1];
		if (w[i] != 0)
			run = 0;
		else if (run++ == 0)
			cur = i;
		if (run > len && run >= 2) {
			base = cur;
			len = run;
		}
	}
	for (i = 0; i < 8; i++) {
		if (base != -1 && i >= base && i < base + len) {
			if (i == base)
				*p++ = ':';
			continue;
		}
		if (i > 0)
			*p++ = ':';
		for (sh = 12; sh > 0 && w[i] >> sh == 0; sh -= 4)
			continue;
		for (; sh >= 0; sh -= 4)
			*p++ = hex[w[i] >> sh & 15];
	}
	if (base != -1 && base + len == 8)
		*p++ = ':';
	*p++ = '/';
	p = net_digits(p, (unsigned int)bits);
	return net_put(out, size, buf, (size_t)(p - buf), 1);
}

/*
 * The client network of addr, as incidents name it: addr itself when
 * the configured prefix covers the whole address (an IPv4 address by
 * default), else the network and its prefix length, "2001:db8:1:2::/64"
 * (an IPv4-mapped address is grouped as IPv4, "198.51.100.0/24").
 * Returns 1 for a network, 0 for the address itself, -1 when addr is
 * not an address (it is copied as it is).
 */
int
engine_group(const struct sw_alertopt *opt, const char *addr, char *out,
    size_t size)
{
	unsigned char	 a[16];
	char		 text[INET6_ADDRSTRLEN];
	long		 bits;
	int		 fam, len, i;

	bits = opt->group_ipv4 > 0 ? opt->group_ipv4 : SW_GROUP_IPV4;
	if (addr_quad(addr, a) && (i = net_group4(a, bits, addr, out,
	    size)) != -2)
		return i;
	str_copy(out, size, addr);
	if (inet_pton(AF_INET, addr, a) == 1) {
		fam = AF_INET;
		len = 4;
	} else if (inet_pton(AF_INET6, addr, a) != 1)
		return -1;
	else if (net_mapped(a)) {
		memmove(a, a + 12, 4);
		fam = AF_INET;
		len = 4;
	} else {
		fam = AF_INET6;
		len = 16;
	}
	if (fam == AF_INET)
		bits = opt->group_ipv4 > 0 ? opt->group_ipv4 : SW_GROUP_IPV4;
	else
		bits = opt->group_ipv6 > 0 ? opt->group_ipv6 : SW_GROUP_IPV6;
	if (bits >= len * 8)
		return 0;
	for (i = 0; i < len; i++) {
		if (i * 8 >= bits)
			a[i] = 0;
		else if (i * 8 + 8 > bits)
			a[i] &= (unsigned char)(0xff << (8 - (bits - i * 8)));
	}
	if (fam == AF_INET6 && (i = net_group6(a, bits, out, size)) != -2)
		return i;
	if (inet_ntop(fam, a, text, sizeof(text)) == NULL)
		return -1;
	snprintf(out, size, "%s/%ld", text, bits);
	return 1;
}

static uint64_t
addr_hash(const char *addr)
{
	return hash_mem(HASH_SEED, addr, strlen(addr));
}

/* -------------------------------------------------------------- tracks */

static void
lru_unlink(struct sw_engine *e, struct track *t)
{
	if (t->older != NULL)
		t->older->newer = t->newer;
	else
		e->lru_old = t->newer;
	if (t->newer != NULL)
		t->newer->older = t->older;
	else
		e->lru_new = t->older;
	t->older = t->newer = NULL;
}

static void
lru_push(struct sw_engine *e, struct track *t)
{
	t->older = e->lru_new;
	t->newer = NULL;
	if (e->lru_new != NULL)
		e->lru_new->newer = t;
	else
		e->lru_old = t;
	e->lru_new = t;
}

static void
track_free(struct sw_engine *e, struct track *t)
{
	struct track	**pp;

	for (pp = &e->ttab[t->hash & (e->ttabsize - 1)]; *pp != t;
	    pp = &(*pp)->hnext)
		continue;
	*pp = t->hnext;
	lru_unlink(e, t);
	free(t->from);
	free(t->times);
	free(t->tried);
	free(t->hosts);
	if (t->addrs != NULL)
		set_free(&e->dict, t->addrs);
	free(t->addrs);
	free(t);
	e->ntracks--;
}

static void
track_grow(struct sw_engine *e)
{
	struct track	**old = e->ttab, *t, *next;
	size_t		 i, oldsize = e->ttabsize;

	e->ttabsize = oldsize == 0 ? HASH_MIN : oldsize * 2;
	e->ttab = xcalloc(e->ttabsize, sizeof(*e->ttab));
	for (i = 0; i < oldsize; i++)
		for (t = old[i]; t != NULL; t = next) {
			next = t->hnext;
			t->hnext = e->ttab[t->hash & (e->ttabsize - 1)];
			e->ttab[t->hash & (e->ttabsize - 1)] = t;
		}
	free(old);
}

static long
track_window(const struct sw_engine *e, enum tkind kind)
{
	switch (kind) {
	case T_ACCOUNT:
		return e->opt->account_window;
	case T_ADDRESS:
		return e->opt->spray_window;
	default:
		return e->opt->backend_window;
	}
}

/* The track of (kind, host, subject), whose key_hash() is h; or NULL. */
static struct track *
track_lookup(const struct sw_engine *e, enum tkind kind, const char *host,
    const char *subj, size_t len, uint64_t h)
{
	struct track	*t;

	for (t = e->ttab[h & (e->ttabsize - 1)]; t != NULL; t = t->hnext)
		if (t->hash == h && t->kind == kind &&
		    key_same(t->key, t->keylen, host, subj, len))
			return t;
	return NULL;
}

static struct track *
track_find(const struct sw_engine *e, enum tkind kind, const char *host,
    const char *subj, size_t len)
{
	return track_lookup(e, kind, host, subj, len,
	    key_hash(kind, host, subj, len));
}

/* The track of (kind, host, subject), made when new; the newest now. */
static struct track *
track_get(struct sw_engine *e, enum tkind kind, const char *host,
    const char *subj, size_t len, time_t when)
{
	struct track	*t;
	uint64_t	 h = key_hash(kind, host, subj, len);
	size_t		 hl = strlen(host) + 1;

	if ((t = track_lookup(e, kind, host, subj, len, h)) == NULL) {
		if (e->ntracks >= TRACK_MAX)
			track_free(e, e->lru_old);
		if (e->ntracks >= e->ttabsize)
			track_grow(e);
		t = xcalloc(1, sizeof(*t) + hl + len);
		t->hash = h;
		t->kind = kind;
		t->keylen = hl + len;
		memcpy(t->key, host, hl);
		memcpy(t->key + hl, subj, len);
		window_init(&t->win, track_window(e, kind));
		if (kind == T_ADDRESS)
			t->tried = xcalloc((size_t)e->opt->spray_threshold,
			    sizeof(*t->tried));
		t->hnext = e->ttab[h & (e->ttabsize - 1)];
		e->ttab[h & (e->ttabsize - 1)] = t;
		e->ntracks++;
	} else
		lru_unlink(e, t);
	lru_push(e, t);
	if (when > t->last)
		t->last = when;
	return t;
}

/*
 * The account's slot for addr: found, else the first empty one, a new
 * one (the slots grow from 1 to SW_TRACK_ADDRS: most accounts fail
 * from one address), or the oldest one reused.
 */
static struct from *
track_from(const struct sw_engine *e, struct track *t, const char *addr,
    time_t when)
{
	uint64_t	 h = hash_mem(HASH_SEED, addr, strlen(addr));
	struct from	*f, *old = NULL;
	char		 net[SW_NET_MAX];
	size_t		 i;

	for (i = 0; i < t->nfrom; i++) {
		f = &t->from[i];
		if (f->last != 0 && f->h == h && strcmp(f->addr, addr) == 0)
			goto found;
		if (old == NULL || f->last < old->last)
			old = f;
	}
	if ((old == NULL || old->last != 0) && t->nfrom < SW_TRACK_ADDRS) {
		t->from = xreallocarray(t->from, t->nfrom + 1,
		    sizeof(*t->from));
		old = &t->from[t->nfrom++];
		memset(old, 0, sizeof(*old));
	}
	f = old;
	f->h = h;
	f->good = -1;
	str_copy(f->addr, sizeof(f->addr), addr);
	/* Grouped once, here: not for every failure after (a fifth of a
	 * distributed storm's engine time was inet_pton and snprintf). */
	(void)engine_group(e->opt, addr, net, sizeof(net));
	f->net = hash_mem(HASH_SEED, net, strlen(net));
found:
	if (when > f->last)
		f->last = when;
	return f;
}

/* Distinct addresses the account failed from in its window. */
static uint32_t
track_addresses(const struct track *t, time_t now, long window)
{
	uint32_t	 n = 0;
	size_t		 i;

	for (i = 0; i < t->nfrom; i++)
		if (t->from[i].last != 0 && t->from[i].last >= now - window)
			n++;
	return n;
}

/* The period of the latest failures when steady, else 0. */
static long
track_rhythm(const struct track *t)
{
	time_t	 d, lo = 0, hi = 0, sum = 0;
	size_t	 i, n = t->ntimes < RHYTHM ? t->ntimes : RHYTHM;

	if (n < 4)
		return 0;
	for (i = 1; i < n; i++) {
		d = t->times[(t->ntimes - i) % RHYTHM] -
		    t->times[(t->ntimes - i - 1) % RHYTHM];
		if (i == 1 || d < lo)
			lo = d;
		if (i == 1 || d > hi)
			hi = d;
		sum += d;
	}
	sum /= (time_t)(n - 1);
	if (sum < 2 || hi - lo > (sum / 4 > 2 ? sum / 4 : 2))
		return 0;
	return (long)sum;
}

/*
 * A login to the account: the failures before it no longer count
 * towards a threshold (the user knows the password), and its address
 * is a good one.
 */
static void
track_forget(struct track *t, const char *addr)
{
	size_t	 i;

	memset(t->win.idx, 0, sizeof(t->win.idx));
	memset(t->win.count, 0, sizeof(t->win.count));
	t->ntimes = 0;
	for (i = 0; i < t->nfrom; i++) {
		if (t->from[i].last != 0 && strcmp(t->from[i].addr, addr) == 0)
			t->from[i].good = 1;
		else
			t->from[i].last = 0;
	}
}

/* Drops tracks idle for longer than any window. */
static void
track_expire(struct sw_engine *e)
{
	long	 w = e->opt->account_window;

	if (e->opt->spray_window > w)
		w = e->opt->spray_window;
	if (e->opt->backend_window > w)
		w = e->opt->backend_window;
	while (e->lru_old != NULL && e->lru_old->last < e->now - w)
		track_free(e, e->lru_old);
}

/* ----------------------------------------------------------- incidents */

/* Account and address incidents: the clients', who may be attackers. */
static int
inc_client(enum sw_inc_kind kind)
{
	return kind == SW_INC_ACCOUNT || kind == SW_INC_ADDRESS;
}

static size_t
engine_capacity(const struct sw_engine *e)
{
	return e->opt->client_incidents > 0 ?
	    (size_t)e->opt->client_incidents : SW_CLIENT_INCIDENTS;
}

/* An open client incident leaves the list by latest failure. */
static void
cold_unlink(struct sw_engine *e, struct inc *in)
{
	if (in->colder != NULL)
		in->colder->hotter = in->hotter;
	else
		e->coldest = in->hotter;
	if (in->hotter != NULL)
		in->hotter->colder = in->colder;
	else
		e->hottest = in->colder;
	in->colder = in->hotter = NULL;
}

/* ... and joins it at its hot end: it failed last. */
static void
cold_push(struct sw_engine *e, struct inc *in)
{
	in->colder = e->hottest;
	in->hotter = NULL;
	if (e->hottest != NULL)
		e->hottest->hotter = in;
	else
		e->coldest = in;
	e->hottest = in;
}

static void
inc_link(struct sw_engine *e, struct inc *in)
{
	size_t	 b;

	if (e->nopen >= e->itabsize) {
		struct inc	**old = e->itab, *p, *next;
		size_t		 i, oldsize = e->itabsize;

		e->itabsize = oldsize == 0 ? HASH_MIN : oldsize * 2;
		e->itab = xcalloc(e->itabsize, sizeof(*e->itab));
		for (i = 0; i < oldsize; i++)
			for (p = old[i]; p != NULL; p = next) {
				next = p->hnext;
				b = p->hash & (e->itabsize - 1);
				p->hnext = e->itab[b];
				e->itab[b] = p;
			}
		free(old);
	}
	b = in->hash & (e->itabsize - 1);
	in->hnext = e->itab[b];
	e->itab[b] = in;
	e->nopen++;
	e->nkind[in->s.kind]++;
	if (inc_client(in->s.kind)) {
		e->nclients++;
		cold_push(e, in);
	}
	in->next = e->incs;
	in->prev = NULL;
	if (e->incs != NULL)
		e->incs->prev = in;
	e->incs = in;
}

static struct inc *
inc_find(struct sw_engine *e, enum sw_inc_kind kind, const char *host,
    const char *subj, size_t len)
{
	struct inc	*in;
	uint64_t	 h;

	if (e->itabsize == 0)
		return NULL;
	h = key_hash(kind, host, subj, len);
	for (in = e->itab[h & (e->itabsize - 1)]; in != NULL; in = in->hnext)
		if (in->hash == h && in->s.kind == kind &&
		    in->s.subjectlen == len && strcmp(in->s.host, host) == 0 &&
		    memcmp(in->s.subject, subj, len) == 0)
			return inc_quiet(e, in) ? NULL : in;
	return NULL;
}

/*
 * Room for a new incident of kind.  A client incident always gets it:
 * past client-incidents open, the one that failed least recently is
 * folded.  A relay or back-end one, never folded, gets none past
 * INFRA_MAX of its kind (logged once).  Returns 0, or -1 when there is
 * none.
 */
static int
inc_room(struct sw_engine *e, enum sw_inc_kind kind)
{
	if (inc_client(kind)) {
		if (e->nclients >= engine_capacity(e))
			engine_summarising(e);
		while (e->nclients >= engine_capacity(e) && e->coldest != NULL)
			inc_fold(e, e->coldest);
		return 0;
	}
	if (e->nkind[kind] >= INFRA_MAX) {
		if (!e->full[kind] && e->send != NULL)
			log_warnx("%d %s incidents open: no new one is opened "
			    "until some close", INFRA_MAX, kind == SW_INC_RELAY ?
			    "relay" : "back-end");
		e->full[kind] = 1;
		return -1;
	}
	e->full[kind] = 0;
	return 0;
}

/* ---------------------------------------------------- incident text */

/*
 * *p becomes the len bytes at s and a NUL, unless it holds that string
 * already (a storm's replies are one text: no allocation per failure).
 */
static void
text_set(char **p, const char *s, size_t len)
{
	if (*p != NULL && strnlen(*p, len + 1) == len &&
	    memcmp(*p, s, len) == 0)
		return;
	free(*p);
	*p = xmalloc(len + 1);
	memcpy(*p, s, len);
	(*p)[len] = '\0';
}

/* The same for a string, cut at size - 1 bytes as sw_incident's is. */
static void
text_str(char **p, const char *s, size_t size)
{
	text_set(p, s, strnlen(s, size - 1));
}

static void
inc_text_free(struct inc *in)
{
	free(in->s.host);
	free(in->s.subject);
	free(in->s.diagnosis);
	free(in->s.reply);
	free(in->s.hosts);
}

/* in as the sw_incident alert.c and store.c take, in *out. */
static const struct sw_incident *
inc_export(const struct inc *in, struct sw_incident *to)
{
	const struct incfields	*from = &in->s;

	memset(to, 0, sizeof(*to));
	SW_INC_NUMBERS(SW_INC_COPY)
	str_copy(to->host, sizeof(to->host), from->host);
	memcpy(to->subject, from->subject, from->subjectlen);
	memcpy(to->close_reason, from->close_reason, sizeof(to->close_reason));
	memcpy(to->login_addr, from->login_addr, sizeof(to->login_addr));
	str_copy(to->diagnosis, sizeof(to->diagnosis), from->diagnosis);
	memcpy(to->addr, from->addr, sizeof(to->addr));
	if (from->reply != NULL)
		str_copy(to->reply, sizeof(to->reply), from->reply);
	if (from->hosts != NULL)
		memcpy(to->hosts, from->hosts, sizeof(to->hosts));
	return to;
}

/* The fields of in from the sw_incident s the store read back. */
static void
inc_import(struct inc *in, const struct sw_incident *from)
{
	struct incfields	*to = &in->s;

	SW_INC_NUMBERS(SW_INC_COPY)
	text_str(&to->host, from->host, sizeof(from->host));
	text_set(&to->subject, from->subject, from->subjectlen);
	memcpy(to->close_reason, from->close_reason, sizeof(to->close_reason));
	memcpy(to->login_addr, from->login_addr, sizeof(to->login_addr));
	text_str(&to->diagnosis, from->diagnosis, sizeof(from->diagnosis));
	memcpy(to->addr, from->addr, sizeof(to->addr));
	if (from->reply[0] != '\0')
		text_str(&to->reply, from->reply, sizeof(from->reply));
	if (strcmp(from->host, SW_FLEET_HOST) == 0) {
		to->hosts = xcalloc(1, SW_HOSTS_MAX);
		memcpy(to->hosts, from->hosts, SW_HOSTS_MAX);
	}
}

/* A new open incident; NULL when no room can be made for it. */
static struct inc *
inc_open(struct sw_engine *e, enum sw_inc_kind kind, const char *host,
    const char *subj, size_t len, time_t when)
{
	struct inc	*in;

	if (inc_room(e, kind) == -1)
		return NULL;
	in = xcalloc(1, sizeof(*in));
	in->s.id = e->nextid++;
	in->s.kind = kind;
	text_str(&in->s.host, host, SW_NAME_MAX);
	if (len >= SW_ACCOUNT_MAX)
		len = SW_ACCOUNT_MAX - 1;
	text_set(&in->s.subject, subj, len);
	in->s.subjectlen = len;
	text_str(&in->s.diagnosis, "", 1);
	if (strcmp(host, SW_FLEET_HOST) == 0)
		in->s.hosts = xcalloc(1, SW_HOSTS_MAX);
	in->s.opened = in->s.last = in->s.since = when;
	in->hash = key_hash(kind, in->s.host, in->s.subject, len);
	in->dirty = 1;
	inc_link(e, in);
	e->opened[kind]++;
	return in;
}

/* Closes in: out of the hash, kept in the list until saved. */
static void
inc_close(struct sw_engine *e, struct inc *in, time_t when,
    const char *reason)
{
	struct inc	**pp;

	for (pp = &e->itab[in->hash & (e->itabsize - 1)]; *pp != in;
	    pp = &(*pp)->hnext)
		continue;
	*pp = in->hnext;
	e->nopen--;
	e->nkind[in->s.kind]--;
	if (inc_client(in->s.kind)) {
		cold_unlink(e, in);
		e->nclients--;
		engine_summarised(e);
	}
	in->s.closed = when > in->s.last ? when : in->s.last;
	snprintf(in->s.close_reason, sizeof(in->s.close_reason), "%s", reason);
	in->dirty = 1;
	set_free(&e->dict, &in->seen);
	set_free(&e->dict, &in->addrs);
}

static void
inc_unlink(struct sw_engine *e, struct inc *in)
{
	if (in->prev != NULL)
		in->prev->next = in->next;
	else
		e->incs = in->next;
	if (in->next != NULL)
		in->next->prev = in->prev;
	set_free(&e->dict, &in->seen);
	set_free(&e->dict, &in->addrs);
	inc_text_free(in);
	free(in);
}

/*
 * Adds host to h, SW_HOSTS_MAX bytes of blank-separated names, once;
 * "..." ends it when the next one does not fit.
 */
static void
hosts_add(char *h, const char *host)
{
	size_t	 n = strlen(h), k = strlen(host), i;

	if (k == 0)
		return;
	for (i = 0; i < n; i += strcspn(h + i, " ") + 1)
		if (strncmp(h + i, host, k) == 0 &&
		    (h[i + k] == ' ' || h[i + k] == '\0'))
			return;
	if (n >= 3 && strcmp(h + n - 3, "...") == 0)
		return;
	if (n + k + 6 < SW_HOSTS_MAX)
		snprintf(h + n, SW_HOSTS_MAX - n, "%s%s", n ? " " : "", host);
	else
		snprintf(h + n, SW_HOSTS_MAX - n, "%s...", n ? " " : "");
}

/* A fleet incident's hosts: those of its track, then of each event. */
static void
inc_host(struct inc *in, const char *host)
{
	if (in->s.hosts != NULL)
		hosts_add(in->s.hosts, host);
}

/* A fleet track notes the host of the event at hand. */
static void
track_host(struct sw_engine *e, struct track *t)
{
	if (e->evhost == NULL || strcmp(t->key, SW_FLEET_HOST) != 0)
		return;
	if (t->hosts == NULL)
		t->hosts = xcalloc(1, SW_HOSTS_MAX);
	hosts_add(t->hosts, e->evhost);
}

/* A fleet incident opened from a track starts with the track's hosts. */
static void
inc_hosts_from(struct inc *in, const struct track *t)
{
	if (t->hosts != NULL && in->s.hosts != NULL)
		memcpy(in->s.hosts, t->hosts, SW_HOSTS_MAX);
}

/* The latest failure's details. */
static void
inc_note(struct sw_engine *e, struct inc *in, const struct sw_event *ev,
    const char *diag)
{
	inc_host(in, e->evhost != NULL ? e->evhost : ev->host);
	if (ev->when > in->s.last)
		in->s.last = ev->when;
	if (in->s.since == 0 || ev->when < in->s.since)
		in->s.since = ev->when;
	if (ev->addr[0] != '\0')
		memcpy(in->s.addr, ev->addr, sizeof(in->s.addr));
	if (ev->reply[0] != '\0')
		text_str(&in->s.reply, ev->reply, SW_REPLY_MAX);
	if (diag != NULL)
		text_str(&in->s.diagnosis, diag, SW_NAME_MAX);
	in->dirty = 1;
	if (inc_client(in->s.kind) && e->hottest != in) {
		cold_unlink(e, in);
		cold_push(e, in);
	}
}

/* ------------------------------------------------------------- alerting */

/* The name configured for a relay's credential, or NULL. */
static const char *
engine_credential(const struct sw_engine *e, const struct inc *in)
{
	char	 name[SW_ACCOUNT_MAX];
	size_t	 i;

	if (in->s.kind != SW_INC_RELAY)
		return NULL;
	memcpy(name, in->s.subject, in->s.subjectlen);
	name[in->s.subjectlen] = '\0';
	for (i = 0; i < e->opt->nrelays; i++)
		if (fnmatch(e->opt->relays[i].glob, name, FNM_CASEFOLD) == 0)
			return e->opt->relays[i].name;
	return NULL;
}

static enum sw_alert_kind
engine_kind(const struct inc *in)
{
	switch (in->s.kind) {
	case SW_INC_RELAY:
		return SW_AL_RELAY_REJECTED;
	case SW_INC_ACCOUNT:
		return SW_AL_ACCOUNT_FAILING;
	case SW_INC_ADDRESS:
		return SW_AL_ADDRESS_SPRAYING;
	default:
		return SW_AL_BACKEND_DOWN;
	}
}

static void
engine_window(const struct sw_engine *e, const struct inc *in,
    struct sw_alert *a)
{
	switch (in->s.kind) {
	case SW_INC_ACCOUNT:
		a->window = e->opt->account_window;
		a->threshold = e->opt->account_threshold;
		break;
	case SW_INC_ADDRESS:
		a->window = e->opt->spray_window;
		a->threshold = e->opt->spray_threshold;
		break;
	case SW_INC_BACKEND:
		a->window = e->opt->backend_window;
		a->threshold = e->opt->backend_threshold;
		break;
	default:
		break;
	}
}

/*
 * When the failures an entry tells happened: those since the previous
 * entry (after a restart, which forgets since: from that entry's time);
 * an entry that closes on a success tells the whole incident's.
 */
static void
engine_span(const struct inc *in, struct sw_alert *a)
{
	switch (a->kind) {
	case SW_AL_RELAY_RECOVERED:
	case SW_AL_ACCOUNT_RECOVERED:
	case SW_AL_BACKEND_RECOVERED:
		a->first = in->s.opened;
		break;
	default:
		if (in->s.since != 0)
			a->first = in->s.since;
		else if (in->s.last_alert != 0)
			a->first = in->s.last_alert;
		else
			a->first = in->s.opened;
		break;
	}
	a->last = in->s.last;
}

/* Hands an entry to the sender (none: a silent engine) and counts it. */
static void
engine_send(struct sw_engine *e, const struct sw_alert *a)
{
	if (e->send != NULL)
		e->send(e->arg, a);
	e->alerts++;
}

/* 1 when an entry about log time t is caught up (a backlog read late). */
static int
engine_caught_up(const struct sw_engine *e, time_t t)
{
	return e->wall(NULL) - t > LIVE_SKEW;
}

/*
 * The summary of the minute at hand, when anything was folded in it:
 * one entry (SW_AL_ALERTS_FOLDED), never folded itself; the minute's
 * folded counts start over (its budget does not).
 */
static void
engine_summary(struct sw_engine *e)
{
	struct sw_fold	*f = &e->fold;
	struct sw_alert	 a;

	if (f->entries == 0 && f->incidents == 0)
		return;
	f->capacity = engine_capacity(e);
	f->open = e->nclients;
	memset(&a, 0, sizeof(a));
	a.kind = SW_AL_ALERTS_FOLDED;
	a.when = f->minute + 59 > e->now ? e->now : f->minute + 59;
	a.first = f->first;
	a.last = f->last;
	a.caught_up = engine_caught_up(e, a.when);
	a.fold = f;
	engine_send(e, &a);
	f->entries = f->incidents = 0;
	f->failures = 0;
	f->first = f->last = 0;
	f->ntop = 0;
	memset(f->kinds, 0, sizeof(f->kinds));
}

/*
 * The budget counts entries by the minute of the engine's log time (the
 * latest seen): when it moves on, the last minute's summary is written
 * and the new minute starts with its whole budget.
 */
static void
engine_minute(struct sw_engine *e)
{
	time_t	 m = e->now - e->now % 60;

	if (m == e->fold.minute)
		return;
	engine_summary(e);
	e->fold.minute = m;
	e->fold.sent = 0;
	e->fold.budget = e->opt->alerts_per_minute > 0 ?
	    (unsigned long)e->opt->alerts_per_minute : SW_ALERTS_PER_MINUTE;
}

/* Counts failures of in into the minute's summary and its top subjects. */
static void
fold_note(struct sw_fold *f, const struct inc *in, uint64_t failures,
    time_t first, time_t last)
{
	struct sw_fold_top	 tmp;
	size_t			 i;

	f->failures += failures;
	if (first != 0 && (f->first == 0 || first < f->first))
		f->first = first;
	if (last > f->last)
		f->last = last;
	for (i = 0; i < f->ntop && f->top[i].id != in->s.id; i++)
		continue;
	if (i == f->ntop) {
		if (f->ntop < SW_FOLD_TOP)
			f->ntop++;
		else if (f->top[SW_FOLD_TOP - 1].failures >= failures)
			return;
		i = f->ntop - 1;
		memset(&f->top[i], 0, sizeof(f->top[i]));
		f->top[i].id = in->s.id;
		f->top[i].kind = in->s.kind;
		memcpy(f->top[i].subject, in->s.subject, in->s.subjectlen);
		f->top[i].subjectlen = in->s.subjectlen;
	}
	f->top[i].failures += failures;
	for (; i > 0 && f->top[i].failures > f->top[i - 1].failures; i--) {
		tmp = f->top[i];
		f->top[i] = f->top[i - 1];
		f->top[i - 1] = tmp;
	}
}

/* The incident's failures are told: by its own entry or a summary. */
static void
inc_told(struct inc *in, time_t when)
{
	in->s.reported = in->s.failures;
	in->s.since = 0;
	in->s.last_alert = when;
	in->dirty = 1;
}

/*
 * 1 when the entry a about in may be written: relay and back-end
 * entries and a possible compromise always, client-side ones while the
 * minute's budget lasts.
 */
static int
engine_budget(struct sw_engine *e, const struct inc *in,
    const struct sw_alert *a)
{
	if (!inc_client(in->s.kind) || a->compromise)
		return 1;
	engine_minute(e);
	if (e->fold.sent >= e->fold.budget)
		return 0;
	e->fold.sent++;
	return 1;
}

/*
 * Makes room: in, the open client incident whose latest failure is the
 * oldest, closes ("folded") without an entry of its own; its untold
 * failures are told in the minute's summary.
 */
static void
inc_fold(struct sw_engine *e, struct inc *in)
{
	engine_minute(e);
	e->fold.incidents++;
	e->folded_incidents++;
	fold_note(&e->fold, in, in->s.failures - in->s.reported,
	    in->s.since != 0 ? in->s.since : in->s.opened, in->s.last);
	inc_told(in, e->now);
	inc_close(e, in, in->s.last, "folded");
}

/*
 * client-incidents are open and one more is wanted: folding starts, told
 * once in an entry (and logged) until fewer than three quarters of them
 * are open again.
 */
static void
engine_summarising(struct sw_engine *e)
{
	struct sw_fold	 f;
	struct sw_alert	 a;

	if (e->summarising)
		return;
	e->summarising = 1;
	if (e->send != NULL)
		log_warnx("%zu client incidents open: the least active are "
		    "folded into summaries from now on", e->nclients);
	memset(&f, 0, sizeof(f));
	f.minute = e->now - e->now % 60;
	f.capacity = engine_capacity(e);
	f.open = e->nclients;
	f.budget = e->fold.budget;
	memset(&a, 0, sizeof(a));
	a.kind = SW_AL_SUMMARISING;
	a.when = a.first = a.last = e->now;
	a.caught_up = engine_caught_up(e, e->now);
	a.fold = &f;
	engine_send(e, &a);
}

static void
engine_summarised(struct sw_engine *e)
{
	if (!e->summarising || e->nclients >= engine_capacity(e) * 3 / 4)
		return;
	e->summarising = 0;
	if (e->send != NULL)
		log_info("%zu client incidents open: no longer summarising",
		    e->nclients);
}

/*
 * The networks of an entry: for an account incident, how many distinct
 * client networks its addresses are in when grouping made them fewer
 * (and the network when one), for an address incident its network.
 * Not known for an incident loaded from the store.
 */
static void
engine_net(const struct sw_engine *e, const struct inc *in,
    struct sw_alert *a)
{
	size_t	 n;

	if (in->s.kind == SW_INC_ADDRESS && strchr(in->s.subject, '/') != NULL)
		snprintf(a->network, sizeof(a->network), "%.*s",
		    (int)in->s.subjectlen, in->s.subject);
	if (in->s.kind != SW_INC_ACCOUNT || in->loaded)
		return;
	n = set_count(&in->addrs) + in->ownnets;
	if (n == 0 || n >= in->s.addresses)
		return;
	a->networks = (uint32_t)n;
	if (n == 1)
		(void)engine_group(e->opt, in->s.addr, a->network,
		    sizeof(a->network));
}

/*
 * Writes an entry for in and counts its failures as told; a silent
 * engine (no send function) counts and records it all the same.  An
 * entry is caught up when the log time it is about (the event's; for a
 * close by quiet time, the engine's) is more than LIVE_SKEW behind the
 * wall clock.  A client-side entry past the minute's budget is folded
 * into the minute's summary instead: its failures are told there, and
 * it is no entry of the incident's (alerts, REPEAT).
 */
static void
engine_alert(struct sw_engine *e, struct inc *in, struct sw_alert *a)
{
	time_t			 t = a->closing ? e->now : a->when;
	struct sw_incident	 view;

	a->inc = inc_export(in, &view);
	engine_span(in, a);
	a->caught_up = engine_caught_up(e, t);
	if (!engine_budget(e, in, a)) {
		e->fold.entries++;
		e->fold.kinds[a->kind]++;
		e->folded_entries++;
		fold_note(&e->fold, in, a->count, a->first, a->last);
		inc_told(in, a->when);
		return;
	}
	if (a->diag == NULL)
		a->diag = rules_find(e->rs, in->s.diagnosis);
	if (a->credential == NULL)
		a->credential = engine_credential(e, in);
	engine_net(e, in, a);
	a->repeat = in->s.alerts;
	engine_send(e, a);
	in->s.alerts++;
	inc_told(in, a->when);
}

/*
 * The entry for an open incident's news: first or escalation (now), or
 * a follow-up, at most once per FOLLOWUP_MIN (realert when longer).
 */
static void
engine_tell(struct sw_engine *e, struct inc *in, time_t when, long period,
    int now)
{
	struct sw_alert	 a;
	long		 every = e->opt->realert > FOLLOWUP_MIN ?
			    e->opt->realert : FOLLOWUP_MIN;

	if (!now && (in->s.failures <= in->s.reported ||
	    when - in->s.last_alert < every))
		return;
	memset(&a, 0, sizeof(a));
	a.kind = engine_kind(in);
	a.when = when;
	a.count = in->s.failures - in->s.reported;
	a.period = period;
	engine_window(e, in, &a);
	engine_alert(e, in, &a);
}

/* ------------------------------------------------------ the relay side */

/* One more message held back: count.c says which events are one. */
static void
relay_message(struct inc *in, const struct sw_event *ev)
{
	if (ev->flags & SW_EVF_HELD)
		in->s.messages++;
}

static void
relay_failure(struct sw_engine *e, const struct sw_event *ev,
    const char *subj)
{
	struct inc	*in;
	struct sw_alert	 a;

	in = inc_find(e, SW_INC_RELAY, ev->host, subj, strlen(subj));
	if (in == NULL) {
		in = inc_open(e, SW_INC_RELAY, ev->host, subj, strlen(subj),
		    ev->when);
		if (in == NULL)
			return;
		in->s.failures = 1;
		relay_message(in, ev);
		inc_note(e, in, ev, ev->diag != NULL ? ev->diag->id : NULL);
		memset(&a, 0, sizeof(a));
		a.kind = SW_AL_RELAY_REJECTED;
		a.when = ev->when;
		a.count = 1;
		a.addr = ev->addr;
		a.trouble = ev->kind == SW_EV_TROUBLE;
		engine_alert(e, in, &a);
		return;
	}
	in->s.failures++;
	relay_message(in, ev);
	inc_note(e, in, ev, ev->diag != NULL ? ev->diag->id : NULL);
	engine_tell(e, in, ev->when, 0, 0);
}

static void
relay_event(struct sw_engine *e, const struct sw_event *ev)
{
	size_t		 len;
	const char	*subj = sw_subject(ev, &len);	/* as store.c keys it */
	struct inc	*in;
	struct sw_alert	 a;

	switch (ev->kind) {
	case SW_EV_FAILURE:
	case SW_EV_TROUBLE:
		relay_failure(e, ev, subj);
		return;
	case SW_EV_AFFECTED:
		in = inc_find(e, SW_INC_RELAY, ev->host, subj, len);
		if (in != NULL) {
			relay_message(in, ev);
			if (ev->when > in->s.last)
				in->s.last = ev->when;
			in->dirty = 1;
		}
		return;
	case SW_EV_SUCCESS:
		in = inc_find(e, SW_INC_RELAY, ev->host, subj, len);
		if (in == NULL)
			return;
		inc_close(e, in, ev->when, "success");
		memset(&a, 0, sizeof(a));
		a.kind = SW_AL_RELAY_RECOVERED;
		a.when = ev->when;
		a.count = in->s.failures - in->s.reported;
		a.addr = ev->addr;
		engine_alert(e, in, &a);
		return;
	default:
		return;
	}
}

/* ----------------------------------------------------- the server side */

/* 1 when addr fell in an ignored network. */
static int
engine_ignored_addr(const struct sw_engine *e, const char *addr)
{
	unsigned char		 a[16];
	const struct sw_cidr	*n;
	size_t			 i;
	unsigned int		 full, rest;
	int			 fam;

	if (e->opt->nignore_nets == 0 || *addr == '\0')
		return 0;
	if (inet_pton(AF_INET, addr, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		fam = AF_INET6;
	else
		return 0;
	for (i = 0; i < e->opt->nignore_nets; i++) {
		n = &e->opt->ignore_nets[i];
		if (n->family != fam)
			continue;
		full = n->bits / 8;
		rest = n->bits % 8;
		if (memcmp(a, n->addr, full) != 0)
			continue;
		if (rest == 0 || ((a[full] ^ n->addr[full]) &
		    (0xff << (8 - rest))) == 0)
			return 1;
	}
	return 0;
}

static int
engine_ignored(const struct sw_engine *e, const struct sw_event *ev)
{
	size_t	 i;

	if (engine_ignored_addr(e, ev->addr))
		return 1;
	if (!(ev->flags & SW_EVF_ACCOUNT))
		return 0;
	for (i = 0; i < e->opt->nignore_accounts; i++)
		if (fnmatch(e->opt->ignore_accounts[i], ev->account, 0) == 0)
			return 1;
	return 0;
}

static uint64_t
good_hash(const char *host, const char *acct, size_t len, const char *addr)
{
	uint64_t	 h;

	h = hash_mem(HASH_SEED, host, strlen(host));
	if (acct != NULL)
		h = hash_mem(h, acct, len);
	else
		h ^= 0x5a;		/* any account */
	return hash_mem(h ^ 0xff, addr, strlen(addr));
}

/* A login, remembered until it is surely committed. */
static void
good_add(struct sw_engine *e, const struct sw_event *ev)
{
	uint64_t	 h = good_hash(ev->host, ev->account, ev->accountlen,
			    ev->addr);

	if (e->good[(e->goodnext + GOOD_MAX - 1) % GOOD_MAX] == h)
		return;
	e->good[e->goodnext] = h;
	e->good[(e->goodnext + 1) % GOOD_MAX] = good_hash(ev->host, NULL, 0,
	    ev->addr);
	e->goodnext = (e->goodnext + 2) % GOOD_MAX;
}

static int
good_recent(const struct sw_engine *e, uint64_t h)
{
	size_t	 i;

	for (i = 0; i < GOOD_MAX; i++)
		if (e->good[i] == h)
			return 1;
	return 0;
}

/*
 * 1 when addr logged in to the account before: lately (in memory), or
 * ever (in the database); 0 when not, -1 when the database cannot say.
 */
static int
pair_good(struct sw_engine *e, const char *host, const char *acct,
    size_t len, const char *addr)
{
	if (good_recent(e, good_hash(host, acct, len, addr)))
		return 1;
	return store_pair_succeeded(e->store, host, acct, len, addr);
}

/* pair_good() of an address the account failed from, kept in f. */
static int
account_good(struct sw_engine *e, const struct track *t, struct from *f)
{
	const char	*host = t->key, *acct = t->key + strlen(t->key) + 1;
	size_t		 len = t->keylen - strlen(t->key) - 1;
	int		 rc;

	if (f->good == -1) {
		rc = pair_good(e, host, acct, len, f->addr);
		f->good = rc == 1;
		if (rc == -1)
			return 0;	/* asked again next time */
	}
	return f->good;
}

/*
 * Distinct client networks (engine_group) of the addresses the account
 * failed from in its window: addresses of one network are one attacker.
 */
static uint32_t
track_networks(const struct track *t, time_t now, long window)
{
	uint64_t	 nets[SW_TRACK_ADDRS];
	uint32_t	 n = 0, j;
	size_t		 i;

	for (i = 0; i < t->nfrom; i++) {
		if (t->from[i].last == 0 || t->from[i].last < now - window)
			continue;
		nets[n] = t->from[i].net;
		for (j = 0; j < n && nets[j] != nets[n]; j++)
			continue;
		if (j == n)
			n++;
	}
	return n;
}

/*
 * The behaviour of the account's failures in its window: 0, 1, 2.  It
 * is distributed from distributed-addresses networks on.
 */
static int
account_rank(struct sw_engine *e, struct track *t)
{
	time_t		 lo = e->now - e->opt->account_window;
	uint32_t	 n = track_addresses(t, e->now, e->opt->account_window);
	size_t		 i;

	if (n >= (uint32_t)e->opt->distributed &&
	    track_networks(t, e->now, e->opt->account_window) >=
	    (uint32_t)e->opt->distributed)
		return 2;
	if (n == 0)
		return 1;	/* no address: nothing says it is a device */
	for (i = 0; i < t->nfrom; i++)
		if (t->from[i].last != 0 && t->from[i].last >= lo &&
		    !account_good(e, t, &t->from[i]))
			return 1;
	return 0;
}

/* 1 when every address failing the account is in an open sprayer. */
static int
account_sprayed(struct sw_engine *e, const struct track *t,
    const char *host)
{
	time_t	 lo = e->now - e->opt->account_window;
	char	 net[SW_NET_MAX];
	size_t	 i;
	int	 any = 0;

	for (i = 0; i < t->nfrom; i++) {
		if (t->from[i].last == 0 || t->from[i].last < lo)
			continue;
		(void)engine_group(e->opt, t->from[i].addr, net, sizeof(net));
		if (inc_find(e, SW_INC_ADDRESS, host, net, strlen(net)) ==
		    NULL)
			return 0;
		any = 1;
	}
	return any;
}

/* The diagnosis the rules give a behaviour, "" when none. */
static void
inc_behaviour(struct sw_engine *e, struct inc *in, const char *name)
{
	const struct sw_diagnosis *dg = rules_behaviour(e->rs, name);

	text_str(&in->s.diagnosis, dg != NULL ? dg->id : "", SW_NAME_MAX);
}

static void
account_diagnose(struct sw_engine *e, struct inc *in, int rank)
{
	in->rank = rank;
	inc_behaviour(e, in, behaviours[rank]);
}

/*
 * The address of f failed the account's incident: one of its
 * addresses, counted in addresses (never less than a stored incident
 * had: after a restart the set starts empty), and its network (grouped
 * once, by track_from).  An address that is its own network (IPv4 by
 * default) is counted in ownnets when new to seen, not held a second
 * time in addrs: a storm's account incidents held each address twice.
 */
static void
account_address(struct sw_engine *e, struct inc *in,
    const struct from *f)
{
	size_t	 was;
	uint32_t n;

	if (f == NULL)
		return;
	was = set_count(&in->seen);
	(void)set_add(&e->dict, &in->seen, f->h);
	n = (uint32_t)set_count(&in->seen);
	if (n > in->s.addresses)
		in->s.addresses = n;
	if (f->net != f->h)
		(void)set_add(&e->dict, &in->addrs, f->net);
	else if (n > was)
		in->ownnets++;
}

/*
 * 1 when addr failed the account's incident: one of the addresses seen
 * since it opened (those of the window before it included), or, after
 * a restart, the latest one stored.
 */
static int
account_failing(const struct sw_engine *e, const struct inc *in,
    const char *addr)
{
	return strcmp(in->s.addr, addr) == 0 || set_has(&e->dict, &in->seen,
	    hash_mem(HASH_SEED, addr, strlen(addr)));
}

/* ---------------------------------------------- hostile, for a firewall */

/*
 * 1 when the budget of the minute of log time at hand has room for one
 * more hostile entry; the minute before, if it dropped some, is logged.
 */
static int
hostile_budget(struct sw_engine *e)
{
	time_t	 minute = e->now - e->now % 60;

	if (minute != e->hostile_minute) {
		if (e->hostile_untold > 0)
			log_warnx("hostile-entries: %lu hostile addresses not "
			    "told in the minute from %lld (at most %ld); "
			    "smtpwatchctl addresses --failing lists them",
			    e->hostile_untold, (long long)e->hostile_minute,
			    e->opt->hostile);
		e->hostile_minute = minute;
		e->hostile_sent = e->hostile_untold = 0;
	}
	if (e->hostile_sent >= (unsigned long)e->opt->hostile) {
		e->hostile_untold++;
		return 0;
	}
	e->hostile_sent++;
	return 1;
}

/*
 * 1 when addr was told as hostile on host lately (HOSTILE_AGAIN of log
 * time: then the set starts over); its key in *h.
 */
static int
hostile_told(struct sw_engine *e, const char *host, const char *addr,
    uint64_t *h)
{
	if (e->now - e->hostile_since >= HOSTILE_AGAIN) {
		set_free(&e->dict, &e->hostile);
		e->hostile.max = HOSTILE_MAX;
		e->hostile_since = e->now;
	}
	*h = good_hash(host, NULL, 0, addr);
	return set_has(&e->dict, &e->hostile, *h);
}

/* 1 when some account logged in from addr on host, lately or ever. */
static int
hostile_good(struct sw_engine *e, const char *host, const char *addr)
{
	if (good_recent(e, good_hash(host, NULL, 0, addr)))
		return 1;
	return store_addr_succeeded(e->store, host, addr) != 0;
}

/*
 * 1 when addr, failing in the incident of an attack, may be told for a
 * firewall (hostile-entries): an address, not told in the last
 * HOSTILE_AGAIN, on a line that is not late; its key in *h.  The cheap
 * checks, made before any that asks the database.
 */
static int
hostile_wanted(struct sw_engine *e, struct inc *in, const char *addr,
    time_t when, uint64_t *h)
{
	unsigned char	 bin[sizeof(struct in6_addr)];

	if (e->opt->hostile <= 0 || e->send == NULL ||
	    engine_caught_up(e, when))
		return 0;
	if (inet_pton(strchr(addr, ':') != NULL ? AF_INET6 : AF_INET, addr,
	    bin) != 1)
		return 0;
	return !hostile_told(e, in->s.host, addr, h);
}

/*
 * Tells addr (key h) as hostile, unless some account logged in from it
 * or the minute's budget is spent.
 */
static void
hostile_send(struct sw_engine *e, struct inc *in, const char *addr,
    time_t when, uint64_t h)
{
	struct sw_alert		 a;
	struct sw_incident	 view;

	if (hostile_good(e, in->s.host, addr) || !hostile_budget(e))
		return;
	(void)set_add(&e->dict, &e->hostile, h);
	memset(&a, 0, sizeof(a));
	a.kind = SW_AL_ADDRESS_HOSTILE;
	a.inc = inc_export(in, &view);
	a.addr = addr;
	a.when = a.first = a.last = when;
	a.diag = rules_find(e->rs, in->s.diagnosis);
	e->send(e->arg, &a);
}

/*
 * f failed the account's incident: hostile when the incident is an
 * attack (not a stale device) and f never logged in to the account.
 */
static void
account_hostile(struct sw_engine *e, struct track *t, struct inc *in,
    struct from *f)
{
	uint64_t	 h;

	if (in->rank >= 1 && hostile_wanted(e, in, f->addr, f->last, &h) &&
	    !account_good(e, t, f))
		hostile_send(e, in, f->addr, f->last, h);
}

/* ev's address failed the address incident in: hostile (a spray). */
static void
address_hostile(struct sw_engine *e, struct inc *in,
    const struct sw_event *ev)
{
	uint64_t	 h;

	if (hostile_wanted(e, in, ev->addr, ev->when, &h))
		hostile_send(e, in, ev->addr, ev->when, h);
}

static void
account_failure(struct sw_engine *e, const struct sw_event *ev)
{
	struct track	*t;
	struct inc	*in;
	struct from	*f = NULL;
	uint64_t	 n;
	size_t		 i;
	int		 rank;

	t = track_get(e, T_ACCOUNT, ev->host, ev->account, ev->accountlen,
	    ev->when);
	track_host(e, t);
	window_add(&t->win, ev->when, 1);
	if (t->times == NULL)
		t->times = xcalloc(RHYTHM, sizeof(*t->times));
	t->times[t->ntimes++ % RHYTHM] = ev->when;
	if (t->ntimes >= 2 * RHYTHM)
		t->ntimes -= RHYTHM;
	if (ev->addr[0] != '\0')
		f = track_from(e, t, ev->addr, ev->when);
	in = inc_find(e, SW_INC_ACCOUNT, ev->host, ev->account,
	    ev->accountlen);
	if (in != NULL) {
		in->s.failures++;
		inc_note(e, in, ev, NULL);
		account_address(e, in, f);
		rank = account_rank(e, t);
		if (rank > in->rank) {
			account_diagnose(e, in, rank);
			engine_tell(e, in, ev->when, track_rhythm(t), 1);
		} else
			engine_tell(e, in, ev->when, track_rhythm(t), 0);
		if (f != NULL)
			account_hostile(e, t, in, f);
		return;
	}
	n = window_count(&t->win, e->now, e->opt->account_window);
	if (n < (uint64_t)e->opt->account_threshold ||
	    account_sprayed(e, t, ev->host))
		return;
	in = inc_open(e, SW_INC_ACCOUNT, ev->host, ev->account,
	    ev->accountlen, window_first(&t->win, e->now,
	    e->opt->account_window));
	if (in == NULL)
		return;
	inc_hosts_from(in, t);
	in->s.failures = n;
	inc_note(e, in, ev, NULL);
	for (i = 0; i < t->nfrom; i++)
		if (t->from[i].last != 0 &&
		    t->from[i].last >= e->now - e->opt->account_window)
			account_address(e, in, &t->from[i]);
	account_diagnose(e, in, account_rank(e, t));
	engine_tell(e, in, ev->when, track_rhythm(t), 1);
	for (i = 0; i < t->nfrom; i++)
		if (t->from[i].last != 0 &&
		    t->from[i].last >= e->now - e->opt->account_window)
			account_hostile(e, t, in, &t->from[i]);
}

/* The address's slot for an account; 1 when new in the window. */
static int
address_tried(struct sw_engine *e, struct track *t, const struct sw_event *ev)
{
	uint64_t	 h = hash_mem(HASH_SEED, ev->account, ev->accountlen);
	time_t		 lo = ev->when - e->opt->spray_window;
	struct tried	*old = NULL, *p;
	size_t		 i;

	for (i = 0; i < t->ntried; i++) {
		p = &t->tried[i];
		if (p->h == h) {
			if (p->last < lo) {
				p->failures = 0;
				p->first = ev->when;
			}
			p->last = ev->when > p->last ? ev->when : p->last;
			p->failures++;
			return 0;
		}
		if (old == NULL || p->last < old->last)
			old = p;
	}
	if (t->ntried < (size_t)e->opt->spray_threshold)
		p = &t->tried[t->ntried++];
	else if (old != NULL && old->last < lo)
		p = old;
	else
		p = old;	/* all fresh: the oldest makes room */
	p->h = h;
	p->first = p->last = ev->when;
	p->failures = 1;
	return 1;
}

/* A network's track remembers some of its addresses, for its incident. */
static void
track_addr(struct sw_engine *e, struct track *t, const char *addr)
{
	if (t->addrs == NULL) {
		t->addrs = xcalloc(1, sizeof(*t->addrs));
		t->addrs->max = TRACK_NETADDRS;
	}
	(void)set_add(&e->dict, t->addrs, addr_hash(addr));
}

/* addr of a network failed its incident: counted in addresses. */
static void
address_addr(struct sw_engine *e, struct inc *in, const char *addr)
{
	uint32_t	 n;

	(void)set_add(&e->dict, &in->addrs, addr_hash(addr));
	n = (uint32_t)set_count(&in->addrs);
	if (n > in->s.addresses)
		in->s.addresses = n;
}

/*
 * A failure from a client address, for its network's track and
 * incident (engine_group: by default, an IPv4 address is its own
 * network, an IPv6 address is in its /64).  A network's incident counts
 * its addresses; an address's own, 0.
 */
static void
address_failure(struct sw_engine *e, const struct sw_event *ev)
{
	struct track	*t;
	struct inc	*in;
	time_t		 lo = e->now - e->opt->spray_window, first;
	uint64_t	 failures = 0;
	uint32_t	 accounts = 0;
	size_t		 i;
	char		 net[SW_NET_MAX];
	int		 grouped;

	grouped = engine_group(e->opt, ev->addr, net, sizeof(net)) == 1;
	t = track_get(e, T_ADDRESS, ev->host, net, strlen(net), ev->when);
	track_host(e, t);
	if (grouped)
		track_addr(e, t, ev->addr);
	(void)address_tried(e, t, ev);
	in = inc_find(e, SW_INC_ADDRESS, ev->host, net, strlen(net));
	if (in != NULL) {
		in->s.failures++;
		if (set_add(&e->dict, &in->seen, hash_mem(HASH_SEED,
		    ev->account, ev->accountlen)))
			in->s.accounts++;
		if (grouped)
			address_addr(e, in, ev->addr);
		inc_note(e, in, ev, NULL);
		engine_tell(e, in, ev->when, 0, 0);
		address_hostile(e, in, ev);
		return;
	}
	first = ev->when;
	for (i = 0; i < t->ntried; i++)
		if (t->tried[i].last >= lo) {
			accounts++;
			failures += t->tried[i].failures;
			if (t->tried[i].first < first)
				first = t->tried[i].first;
		}
	if (accounts < (uint32_t)e->opt->spray_threshold)
		return;
	if ((in = inc_open(e, SW_INC_ADDRESS, ev->host, net, strlen(net),
	    first)) == NULL)
		return;
	inc_hosts_from(in, t);
	for (i = 0; i < t->ntried; i++)
		if (t->tried[i].last >= lo)
			(void)set_add(&e->dict, &in->seen, t->tried[i].h);
	if (grouped) {
		set_merge(&e->dict, &in->addrs, t->addrs);
		address_addr(e, in, ev->addr);
	}
	in->s.failures = failures;
	in->s.accounts = accounts;
	inc_note(e, in, ev, NULL);
	inc_behaviour(e, in, "password-spraying");
	engine_tell(e, in, ev->when, 0, 1);
	address_hostile(e, in, ev);
}

static void
backend_trouble(struct sw_engine *e, const struct sw_event *ev)
{
	struct track	*t;
	struct inc	*in;
	uint64_t	 n;

	t = track_get(e, T_BACKEND, ev->host, "", 0, ev->when);
	window_add(&t->win, ev->when, 1);
	in = inc_find(e, SW_INC_BACKEND, ev->host, ev->host, strlen(ev->host));
	if (in != NULL) {
		in->s.failures++;
		inc_note(e, in, ev, ev->diag->id);
		engine_tell(e, in, ev->when, 0, 0);
		return;
	}
	n = window_count(&t->win, e->now, e->opt->backend_window);
	if (n < (uint64_t)e->opt->backend_threshold)
		return;
	if ((in = inc_open(e, SW_INC_BACKEND, ev->host, ev->host,
	    strlen(ev->host), window_first(&t->win, e->now,
	    e->opt->backend_window))) == NULL)
		return;
	in->s.failures = n;
	inc_note(e, in, ev, ev->diag->id);
	engine_tell(e, in, ev->when, 0, 1);
}

/* A login: the host's back end answers again. */
static void
server_backend_success(struct sw_engine *e, const struct sw_event *ev)
{
	struct inc	*in;
	struct sw_alert	 a;

	if ((in = inc_find(e, SW_INC_BACKEND, ev->host, ev->host,
	    strlen(ev->host))) == NULL)
		return;
	inc_close(e, in, ev->when, "success");
	memset(&a, 0, sizeof(a));
	a.kind = SW_AL_BACKEND_RECOVERED;
	a.when = ev->when;
	a.count = in->s.failures - in->s.reported;
	a.addr = ev->addr;
	engine_alert(e, in, &a);
}

/*
 * A login from an address that is not failing the account's incident:
 * the owner, while the failures come from elsewhere.  Recorded on the
 * incident, told in its next entry; the incident stays open.
 */
static void
account_login(struct inc *in, const struct sw_event *ev)
{
	in->s.logins++;
	if (ev->when >= in->s.login_last) {
		in->s.login_last = ev->when;
		memcpy(in->s.login_addr, ev->addr, sizeof(in->s.login_addr));
	}
	in->dirty = 1;
}

/*
 * A login.  From an address that was failing the account's incident it
 * closes the incident (a fixed device); one that never logged in before
 * after a brute force is told as a compromise.  From another address it
 * is recorded and closes nothing.  Without an incident, the failures
 * counted so far start over.
 */
static void
server_success(struct sw_engine *e, const struct sw_event *ev)
{
	struct track	*t;
	struct inc	*in;
	struct sw_alert	 a;

	if (!(ev->flags & SW_EVF_ACCOUNT) || ev->addr[0] == '\0')
		return;
	t = track_find(e, T_ACCOUNT, ev->host, ev->account, ev->accountlen);
	in = inc_find(e, SW_INC_ACCOUNT, ev->host, ev->account,
	    ev->accountlen);
	if (in != NULL && !account_failing(e, in, ev->addr)) {
		good_add(e, ev);
		account_login(in, ev);
		return;
	}
	memset(&a, 0, sizeof(a));
	if (in != NULL && in->rank > 0 && pair_good(e, ev->host, ev->account,
	    ev->accountlen, ev->addr) != 1)
		a.compromise = 1;
	good_add(e, ev);
	if (t != NULL)
		track_forget(t, ev->addr);
	if (in == NULL)
		return;
	inc_close(e, in, ev->when, "success");
	a.kind = SW_AL_ACCOUNT_RECOVERED;
	a.when = ev->when;
	a.count = in->s.failures - in->s.reported;
	a.addr = ev->addr;
	engine_alert(e, in, &a);
}

/*
 * In a fleet, accounts and client addresses are followed across hosts:
 * their tracks and incidents take the host SW_FLEET_HOST, and the
 * incident keeps the hosts it was seen on.  Back ends stay per host.
 */
static void
server_event(struct sw_engine *e, const struct sw_event *ev)
{
	const struct sw_event	*acct = ev;

	if (engine_ignored(e, ev))
		return;
	if (e->opt->fleet && (ev->kind == SW_EV_FAILURE ||
	    ev->kind == SW_EV_SUCCESS)) {
		e->fleet = *ev;
		snprintf(e->fleet.host, sizeof(e->fleet.host), "%s",
		    SW_FLEET_HOST);
		acct = &e->fleet;
	}
	e->evhost = ev->host;
	switch (ev->kind) {
	case SW_EV_FAILURE:
		if (ev->flags & SW_EVF_ACCOUNT)
			account_failure(e, acct);
		if ((ev->flags & SW_EVF_ACCOUNT) && ev->addr[0] != '\0')
			address_failure(e, acct);
		break;
	case SW_EV_SUCCESS:
		server_backend_success(e, ev);
		server_success(e, acct);
		break;
	case SW_EV_TROUBLE:
		if (ev->diag != NULL && ev->diag->behaviour != NULL &&
		    strcmp(ev->diag->behaviour, "backend-down") == 0)
			backend_trouble(e, ev);
		break;
	default:
		break;
	}
	e->evhost = NULL;
}

/* ---------------------------------------------------------- the engine */

/*
 * Every event, in log order.  What the engine does depends on the events
 * and their times alone, never on when they are read: an incident quiet
 * by the logs' clock is closed when its subject is seen again, and all
 * quiet ones every SWEEP seconds of log time (engine_tick() only moves
 * time on when the logs are live), so the daemon and smtpwatchctl scan
 * make the same incidents of the same lines.
 */
void
engine_event(struct sw_engine *e, const struct sw_event *ev)
{
	if (ev->when > e->now)
		e->now = ev->when;
	engine_minute(e);
	if (e->now >= e->sweep) {
		engine_quiet(e);
		e->sweep = e->now + SWEEP;
	}
	if (ev->dir == SW_DIR_CLIENT)
		relay_event(e, ev);
	else
		server_event(e, ev);
}

/*
 * Closes in when it was quiet for the quiet time by the logs' clock,
 * with a summary when failures went untold; 1 when it did.
 */
static int
inc_quiet(struct sw_engine *e, struct inc *in)
{
	struct sw_alert	 a;
	struct tm	 tm;

	if (in->s.closed != 0 || in->s.kind == SW_INC_RELAY ||
	    e->now - in->s.last < e->opt->quiet)
		return 0;
	inc_close(e, in, in->s.last, "quiet");
	if (in->s.failures <= in->s.reported)
		return 1;
	memset(&a, 0, sizeof(a));
	a.kind = engine_kind(in);
	a.when = in->s.last;
	a.count = in->s.failures - in->s.reported;
	a.closing = 1;
	localtime_r(&in->s.last, &tm);
	strftime(a.quiet_since, sizeof(a.quiet_since), "%H:%M", &tm);
	engine_window(e, in, &a);
	engine_alert(e, in, &a);
	return 1;
}

/* Closes every incident that was quiet for the quiet time. */
static void
engine_quiet(struct sw_engine *e)
{
	struct inc	*in;

	for (in = e->incs; in != NULL; in = in->next)
		(void)inc_quiet(e, in);
}

/*
 * Once a second, and when the input is read to its end; 1 when
 * incidents changed (to be committed).  When the logs are current (their
 * latest time within LIVE_SKEW of the wall clock), the wall clock moves
 * time on, so quiet incidents close on a quiet server too; a backlog
 * keeps its own time, and then only what its own time makes quiet
 * closes (wall 0: the logs' time alone).
 */
int
engine_tick(struct sw_engine *e, time_t wall)
{
	struct inc	*in;

	if (wall > e->now && wall - e->now <= LIVE_SKEW)
		e->now = wall;
	engine_minute(e);
	engine_quiet(e);
	track_expire(e);
	for (in = e->incs; in != NULL; in = in->next)
		if (in->dirty)
			return 1;
	return 0;
}

/*
 * The summary of the minute at hand is written now, not when the logs'
 * time moves on: the daemon stops, or starts a new engine.
 */
void
engine_flush(struct sw_engine *e)
{
	engine_summary(e);
}

/* Hands every changed incident to the store, for the next commit. */
void
engine_save(struct sw_engine *e)
{
	struct inc		*in, *prev;
	struct sw_incident	 view;

	/*
	 * Oldest first: ids then ascend, and the store appends each one
	 * instead of moving the batch's array for it.
	 */
	for (in = e->incs; in != NULL && in->next != NULL; in = in->next)
		continue;
	for (; in != NULL; in = prev) {
		prev = in->prev;
		if (in->dirty)
			store_incident(e->store, inc_export(in, &view));
		in->dirty = 0;
		if (in->s.closed != 0)
			inc_unlink(e, in);
	}
}

/* The subject of track t: after the host and its NUL. */
static int
track_is(const struct track *t, const char *subj, size_t len,
    const char *host)
{
	size_t	 hl = strlen(t->key) + 1;

	if (host != NULL && t->kind != T_BACKEND && strcmp(t->key, host) != 0)
		return 0;

	if (t->kind == T_BACKEND)	/* keyed by the host alone */
		return hl - 1 == len && memcmp(t->key, subj, len) == 0;
	return t->keylen - hl == len && memcmp(t->key + hl, subj, len) == 0;
}

/*
 * What the other tracks remember of subject: the address an account
 * failed from, the account an address tried.
 */
static void
track_unmention(struct track *t, const char *subj, size_t len)
{
	uint64_t	 h = hash_mem(HASH_SEED, subj, len);
	size_t		 i;

	if (t->kind == T_ACCOUNT) {
		for (i = 0; i < t->nfrom; i++)
			if (t->from[i].last != 0 &&
			    strlen(t->from[i].addr) == len &&
			    memcmp(t->from[i].addr, subj, len) == 0)
				t->from[i].last = 0;
	} else if (t->kind == T_ADDRESS) {
		for (i = 0; i < t->ntried; )
			if (t->tried[i].h == h)
				t->tried[i] = t->tried[--t->ntried];
			else
				i++;
	}
}

/*
 * Forgets subject (len bytes), an account, address or relay name (or a
 * host: its back end), on host or every host (NULL): its tracks go, and
 * its open incidents close with close_reason "reset", without an entry,
 * at the time of their last failure; engine_save() hands them to the
 * store.  Returns the number of incidents closed.
 */
int
engine_reset(struct sw_engine *e, const char *subj, size_t len,
    const char *host)
{
	struct track	*t, *older;
	struct inc	*in;
	int		 n = 0;

	for (t = e->lru_new; t != NULL; t = older) {
		older = t->older;
		if (track_is(t, subj, len, host))
			track_free(e, t);
		else
			track_unmention(t, subj, len);
	}
	for (in = e->incs; in != NULL; in = in->next)
		if (in->s.closed == 0 && in->s.subjectlen == len &&
		    memcmp(in->s.subject, subj, len) == 0 &&
		    (host == NULL || strcmp(in->s.host, host) == 0)) {
			inc_close(e, in, in->s.last, "reset");
			n++;
		}
	return n;
}

static void
engine_load_one(void *arg, const struct sw_incident *s)
{
	struct sw_engine	*e = arg;
	struct inc		*in;

	in = xcalloc(1, sizeof(*in));
	inc_import(in, s);
	in->loaded = 1;
	in->hash = key_hash(s->kind, s->host, s->subject, s->subjectlen);
	for (in->rank = 2; in->rank > 0; in->rank--)
		if (rules_behaviour(e->rs, behaviours[in->rank]) != NULL &&
		    strcmp(rules_behaviour(e->rs, behaviours[in->rank])->id,
		    s->diagnosis) == 0)
			break;
	inc_link(e, in);
	if (s->last > e->now)
		e->now = s->last;
}

/* A bucket of an account's failures from before the start. */
static void
engine_load_recent(void *arg, const char *host, const char *account,
    size_t len, time_t start, long failures)
{
	struct sw_engine	*e = arg;
	struct track		*t;

	if (host == NULL || account == NULL || len >= SW_ACCOUNT_MAX ||
	    failures <= 0)
		return;
	t = track_get(e, T_ACCOUNT, host, account, len, start);
	window_add(&t->win, start, failures > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)failures);
	if (start > e->now)
		e->now = start;
}

/*
 * The engine, with the open incidents of the store, and the windows of
 * the accounts refilled from its per-bucket counts (the addresses and
 * the rhythm of those failures are not kept: they count towards the
 * threshold only).  Its options and
 * rules must outlive it (the daemon makes a new engine on reload).
 * send(arg, a) is handed each entry to write (the daemon queues it
 * until the batch is committed); NULL makes a silent engine, whose
 * incidents and counts are those of one that sends (smtpwatchctl scan).
 */
struct sw_engine *
engine_new(const struct sw_rules *rs, const struct sw_alertopt *opt,
    struct sw_store *st, sw_alert_cb send, void *arg)
{
	struct sw_engine	*e;
	int64_t			 max;
	int			 n;

	e = xcalloc(1, sizeof(*e));
	e->rs = rs;
	e->opt = opt;
	e->store = st;
	e->send = send;
	e->arg = arg;
	e->wall = time;
	track_grow(e);
	if ((max = store_incident_maxid(st)) < 0)
		max = 0;
	e->nextid = max + 1;
	if ((n = store_incidents_open(st, engine_load_one, e)) > 0)
		log_info("%d incidents open", n);
	(void)store_recent(st, opt->account_window, engine_load_recent, e);
	return e;
}

void
engine_free(struct sw_engine *e)
{
	struct inc	*in;

	if (e == NULL)
		return;
	while (e->lru_old != NULL)
		track_free(e, e->lru_old);
	while ((in = e->incs) != NULL)
		inc_unlink(e, in);
	set_free(&e->dict, &e->hostile);
	dict_free(&e->dict);
	free(e->ttab);
	free(e->itab);
	free(e);
}

size_t
engine_open(const struct sw_engine *e)
{
	return e->nopen;
}

unsigned long
engine_alerts(const struct sw_engine *e)
{
	return e->alerts;
}

void
engine_stat(const struct sw_engine *e, struct sw_engine_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->open = e->nopen;
	st->clients = e->nclients;
	st->alerts = e->alerts;
	st->folded_entries = e->folded_entries;
	st->folded_incidents = e->folded_incidents;
	st->summarising = e->summarising;
	memcpy(st->opened, e->opened, sizeof(st->opened));
}
