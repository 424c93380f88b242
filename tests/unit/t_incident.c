/*
 * t_incident.c -- the alert engine's decisions, event by event: when an
 * incident opens, what it is diagnosed as, when an entry is written and
 * what it counts, when it closes.  The engine runs on the shipped rules
 * and a real SQLite store in a temporary directory; the journal is the
 * one thing replaced: the engine is given record() as the function that
 * sends, so the decisions are checked exactly (tests/daemon/test_alerts.py
 * checks the entries a real journald receives).
 *
 * Usage: t_incident RULESDIR
 */

#include "../../daemon/incident.c"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"

#define T0	1795860000	/* 2026-11-28 10:00:00 UTC */
#define MAXSEEN	4096

/* An entry as record() got it. */
struct seen {
	enum sw_alert_kind	 kind;
	enum sw_inc_kind	 inckind;
	char			 subject[SW_ACCOUNT_MAX];
	char			 diag[SW_NAME_MAX];
	char			 credential[SW_NAME_MAX];
	uint64_t		 count, total, messages;
	uint32_t		 addresses, accounts, logins;
	char			 login_addr[SW_ADDR_MAX];
	time_t			 when, first, last;
	int			 caught_up;
	unsigned int		 repeat;
	long			 period;
	int			 compromise, closing;
	time_t			 opened;
	int64_t			 id;
	uint32_t		 networks;
	char			 network[SW_NET_MAX];
	struct sw_fold		 fold;		/* a summary's */
};

static struct seen	 seen[MAXSEEN];
static size_t		 nseen;
static time_t		 wall_now;	/* test_wall()'s time */
static struct sw_rules	*rs;
static char		 dir[64];

static void
record(void *arg, const struct sw_alert *a)
{
	struct seen	*s;

	(void)arg;
	if (nseen == MAXSEEN)
		return;
	s = &seen[nseen++];
	memset(s, 0, sizeof(*s));
	s->kind = a->kind;
	if (a->fold != NULL) {		/* a summary: no incident */
		s->fold = *a->fold;
		s->when = a->when;
		s->first = a->first;
		s->last = a->last;
		s->caught_up = a->caught_up;
		return;
	}
	s->inckind = a->inc->kind;
	memcpy(s->subject, a->inc->subject, a->inc->subjectlen);
	if (a->diag != NULL)
		snprintf(s->diag, sizeof(s->diag), "%s", a->diag->id);
	if (a->credential != NULL)
		snprintf(s->credential, sizeof(s->credential), "%s",
		    a->credential);
	s->count = a->count;
	s->total = a->inc->failures;
	s->messages = a->inc->messages;
	s->addresses = a->inc->addresses;
	s->accounts = a->inc->accounts;
	s->logins = a->inc->logins;
	memcpy(s->login_addr, a->inc->login_addr, sizeof(s->login_addr));
	s->when = a->when;
	s->first = a->first;
	s->last = a->last;
	s->caught_up = a->caught_up;
	s->repeat = a->repeat;
	s->period = a->period;
	s->compromise = a->compromise;
	s->closing = a->closing;
	s->opened = a->inc->opened;
	s->id = a->inc->id;
	s->networks = a->networks;
	snprintf(s->network, sizeof(s->network), "%s", a->network);
}

/* The engine's wall clock, set by the test. */
static time_t
test_wall(time_t *t)
{
	if (t != NULL)
		*t = wall_now;
	return wall_now;
}

static const struct sw_diagnosis *
diag(const char *id)
{
	size_t	 i;

	for (i = 0; i < rs->ndiagnoses; i++)
		if (strcmp(rs->diagnoses[i].id, id) == 0)
			return &rs->diagnoses[i];
	fprintf(stderr, "no diagnosis %s in the rules\n", id);
	exit(2);
}

static struct sw_event
ev_server(enum sw_kind kind, const char *account, const char *addr,
    time_t when)
{
	struct sw_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.when = when;
	ev.kind = kind;
	ev.dir = SW_DIR_SERVER;
	ev.mta = SW_MTA_POSTFIX;
	snprintf(ev.host, sizeof(ev.host), "mx1");
	if (account != NULL) {
		ev.accountlen = strlen(account);
		memcpy(ev.account, account, ev.accountlen);
		ev.flags |= SW_EVF_ACCOUNT;
	}
	snprintf(ev.addr, sizeof(ev.addr), "%s", addr);
	snprintf(ev.reply, sizeof(ev.reply), "authentication failure");
	return ev;
}

static struct sw_event
ev_relay(enum sw_kind kind, const char *queue, time_t when)
{
	struct sw_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.when = when;
	ev.kind = kind;
	ev.dir = SW_DIR_CLIENT;
	ev.mta = SW_MTA_POSTFIX;
	snprintf(ev.host, sizeof(ev.host), "mx1");
	snprintf(ev.relay, sizeof(ev.relay), "smtp.gmail.com");
	snprintf(ev.addr, sizeof(ev.addr), "142.250.102.108");
	snprintf(ev.queue, sizeof(ev.queue), "%s", queue);
	if (kind == SW_EV_FAILURE) {
		snprintf(ev.reply, sizeof(ev.reply), "535-5.7.8 Username and "
		    "Password not accepted. https://support.google.com/mail/"
		    "?p=BadCredentials");
		ev.diag = diag("gmail/535-5.7.8-bad-credentials");
	}
	return ev;
}

/* Messages held back at relays, marked as count.c marks them. */
static struct sw_held	*held;

/* An event as count.c hands it on: marked held.c's way, store, engine. */
static void
feed(struct sw_engine *e, struct sw_store *st, const struct sw_event *ev)
{
	struct sw_event	 m = *ev;

	if (held == NULL)
		held = held_new();
	if (held_is_new(held, &m))
		m.flags |= SW_EVF_HELD;
	store_event(st, &m);
	engine_event(e, &m);
}

static void
fail_n(struct sw_engine *e, struct sw_store *st, const char *account,
    const char *addr, time_t t0, int n, int every)
{
	struct sw_event	 ev;
	int		 i;

	for (i = 0; i < n; i++) {
		ev = ev_server(SW_EV_FAILURE, account, addr, t0 + i * every);
		feed(e, st, &ev);
	}
}

/* Counts in refs (by id) the sets holding each id of s. */
static void
set_tally(uint32_t *refs, const struct sw_set *s)
{
	size_t		 pos = 0, n = 0;
	uint32_t	 id;

	while ((id = set_next(s, &pos)) != 0) {
		refs[id]++;
		n++;
	}
	CHECK_INT(n, s->n);
}

/*
 * The engine's dictionary holds the values of its sets and nothing
 * else, each with the number of sets holding it; then it is freed.
 */
static void
engine_done(struct sw_engine *e)
{
	const struct sw_dict	*d = &e->dict;
	const struct inc	*in;
	const struct track	*t;
	uint32_t		*refs, id;
	size_t			 live = 0;

	refs = xcalloc((size_t)d->nids + 1, sizeof(*refs));
	set_tally(refs, &e->hostile);
	for (in = e->incs; in != NULL; in = in->next) {
		set_tally(refs, &in->seen);
		set_tally(refs, &in->addrs);
	}
	for (t = e->lru_old; t != NULL; t = t->newer)
		if (t->addrs != NULL)
			set_tally(refs, t->addrs);
	for (id = 1; id < d->nids; id++)
		if (dict_find(d, d->val[id]) == id) {
			live++;
			CHECK(refs[id] > 0);
			CHECK_INT(refs[id], d->refs[id]);
		} else
			CHECK_INT(refs[id], 0);
	CHECK_INT(live, d->n);
	free(refs);
	engine_free(e);
}

static struct sw_store *
store_new(const char *name)
{
	struct sw_storeopt	 opt = { 0, 60, 86400, 0, 0, 0, 0, 0 };
	struct sw_store		*st;
	char			 path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (store_open(path, &opt, &st) == -1) {
		fprintf(stderr, "%s: cannot open\n", path);
		exit(2);
	}
	return st;
}

static void
opt_defaults(struct sw_alertopt *o)
{
	memset(o, 0, sizeof(*o));
	o->account_threshold = 5;
	o->account_window = 3600;
	o->spray_threshold = 5;
	o->spray_window = 900;
	o->backend_threshold = 1;
	o->backend_window = 300;
	o->distributed = 3;
	o->realert = 1800;
	o->quiet = 3600;
	o->attribution = 10;
}

/* The row of incident id in the database file name, as a|b|c|...| */
static void
row_of(const char *name, int64_t id, char *buf, size_t size)
{
	sqlite3		*db;
	sqlite3_stmt	*q;
	char		 path[128];
	int		 i, n;
	size_t		 used = 0;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK || sqlite3_prepare_v2(db, "SELECT * FROM incident_list "
	    "WHERE id = ?", -1, &q, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return;
	}
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		n = sqlite3_column_count(q);
		for (i = 0; i < n && used < size; i++)
			used += (size_t)snprintf(buf + used, size - used, "%s|",
			    sqlite3_column_text(q, i) != NULL ?
			    (const char *)sqlite3_column_text(q, i) : "NULL");
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
}

/* Column col (0 = id) of incident id in the file name, "" when none. */
static const char *
col_of(const char *name, int64_t id, int col)
{
	static char	 row[1024];
	char		*p = row, *bar;

	row_of(name, id, row, sizeof(row));
	while (col-- > 0 && (bar = strchr(p, '|')) != NULL)
		p = bar + 1;
	if ((bar = strchr(p, '|')) != NULL)
		*bar = '\0';
	return p;
}

/* A login of account from addr at when, committed by an engine of its own. */
static void
login_before(struct sw_store *st, const struct sw_alertopt *o,
    const char *account, const char *addr, time_t when)
{
	struct sw_engine	*e = engine_new(rs, o, st, record, NULL);
	struct sw_event		 ev;

	ev = ev_server(SW_EV_SUCCESS, account, addr, when);
	feed(e, st, &ev);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	engine_done(e);
}

/*
 * A window's slots keep their earliest failure from the slot's start:
 * window_first() gives the times added, to the second, for a window of
 * 7 days (the longest a configuration takes) and before 1970 too, in
 * 32 bits a slot.
 */
static void
test_window(void)
{
	static const long	 secs[] = { 60, 3600, 7 * 86400 };
	static const time_t	 base[] = { T0, -86400 * 400L, 4102444800 };
	struct window		 w;
	time_t			 t;
	size_t			 i, j;

	for (i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
		for (j = 0; j < sizeof(base) / sizeof(base[0]); j++) {
			window_init(&w, secs[i]);
			t = base[j] + secs[i] / 2 + 7;
			window_add(&w, t + 3, 1);
			window_add(&w, t, 2);
			window_add(&w, t + 1, 1);
			CHECK_INT(window_count(&w, t + 3, secs[i]), 4);
			CHECK_INT(window_first(&w, t + 3, secs[i]), t);
			window_add(&w, t + secs[i] / 2, 1);
			CHECK_INT(window_count(&w, t + secs[i] / 2, secs[i]),
			    5);
			CHECK_INT(window_first(&w, t + secs[i] / 2, secs[i]),
			    t);
			/* a window later, those slots no longer count */
			CHECK_INT(window_count(&w, t + 3 * secs[i], secs[i]),
			    0);
			CHECK_INT(window_first(&w, t + 3 * secs[i], secs[i]),
			    t + 3 * secs[i]);
		}
	CHECK_INT(sizeof(w.first), NSLOT * sizeof(int32_t));
}

/* Below the threshold nothing; at it one entry, then quiet. */
static void
test_threshold(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("threshold.db");
	struct sw_engine	*e;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "bob@example.com", "203.0.113.5", T0, 4, 10);
	CHECK_INT(nseen, 0);
	fail_n(e, st, "bob@example.com", "203.0.113.5", T0 + 40, 1, 10);
	CHECK_INT(nseen, 1);
	CHECK_INT(seen[0].kind, SW_AL_ACCOUNT_FAILING);
	CHECK_INT(seen[0].count, 5);
	CHECK_INT(seen[0].repeat, 0);
	CHECK_STR(seen[0].diag, "server/brute-force");
	CHECK_INT(seen[0].period, 10);
	CHECK_INT(seen[0].addresses, 1);
	fail_n(e, st, "bob@example.com", "203.0.113.5", T0 + 50, 20, 10);
	CHECK_INT(nseen, 1);
	CHECK_INT(engine_open(e), 1);
	CHECK_INT(seen[0].opened, T0);
	/* opened at the first failure counted, past the rhythm's memory */
	o.account_threshold = 10;
	fail_n(e, st, "cleo@example.com", "203.0.113.6", T0 + 100, 10, 1);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].opened, T0 + 100);
	CHECK_INT(seen[1].count, 10);
	engine_done(e);
	store_close(st);
}

/*
 * Repeats: one an hour whatever realert (here 30 min) says, the counts
 * of all entries add up.  The owner logging in from elsewhere closes
 * nothing: the entry that closes the incident, when quiet, tells the
 * rest and the login.  A realert longer than an hour spaces them more.
 */
static void
test_storm(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("storm.db");
	struct sw_engine	*e;
	struct sw_event		 ev;
	uint64_t		 sum = 0;
	size_t			 i;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	/* 7200 failures, one a second: two hours */
	fail_n(e, st, "carl@example.com", "198.51.100.9", T0, 7200, 1);
	ev = ev_server(SW_EV_SUCCESS, "carl@example.com", "192.0.2.1",
	    T0 + 7300);
	feed(e, st, &ev);
	/* first at the 5th, then an hour after it */
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].when, T0 + 3604);
	CHECK_INT(engine_open(e), 1);
	fail_n(e, st, "other@example.com", "198.51.100.10", T0 + 7300 + 3600,
	    1, 1);
	CHECK_INT(engine_tick(e, 0), 1);
	CHECK_INT(nseen, 3);
	for (i = 0; i < nseen; i++) {
		sum += seen[i].count;
		CHECK_INT(seen[i].kind, SW_AL_ACCOUNT_FAILING);
		CHECK_INT(seen[i].repeat, i);
	}
	CHECK_INT(seen[2].closing, 1);
	CHECK_INT(seen[2].logins, 1);
	CHECK_STR(seen[2].login_addr, "192.0.2.1");
	CHECK_INT(seen[1].count, 3600);
	CHECK_INT(sum, 7200);
	CHECK_INT(seen[2].total, 7200);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(engine_open(e), 0);
	/* realert 3 h: none in two hours */
	o.realert = 3 * 3600;
	nseen = 0;
	fail_n(e, st, "cora@example.com", "198.51.100.11", T0 + 20000, 7200,
	    1);
	CHECK_INT(nseen, 1);
	engine_done(e);
	store_close(st);
}

/* A device that logged in before, failing at a steady rhythm. */
static void
test_stale_device(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("stale.db");
	struct sw_engine	*e;
	struct sw_event		 ev;

	opt_defaults(&o);
	/* the login is committed by one daemon ... */
	e = engine_new(rs, &o, st, record, NULL);
	ev = ev_server(SW_EV_SUCCESS, "carol@example.org", "198.51.100.23",
	    T0 - 86400);
	feed(e, st, &ev);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	engine_done(e);
	/* ... the failures come to the next one */
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "carol@example.org", "198.51.100.23", T0, 5, 300);
	CHECK_INT(nseen, 1);
	CHECK_STR(seen[0].diag, "server/stale-device");
	CHECK_INT(seen[0].period, 300);
	/* the same, from a login in the same batch */
	ev = ev_server(SW_EV_SUCCESS, "dan@example.org", "192.0.2.44", T0);
	feed(e, st, &ev);
	fail_n(e, st, "dan@example.org", "192.0.2.44", T0 + 60, 5, 600);
	CHECK_INT(nseen, 2);
	CHECK_STR(seen[1].diag, "server/stale-device");
	/* a login from the device closes it, no compromise */
	ev = ev_server(SW_EV_SUCCESS, "carol@example.org", "198.51.100.23",
	    T0 + 3000);
	feed(e, st, &ev);
	CHECK_INT(nseen, 3);
	CHECK_INT(seen[2].kind, SW_AL_ACCOUNT_RECOVERED);
	CHECK_INT(seen[2].compromise, 0);
	engine_done(e);
	store_close(st);
}

/* One address, then three: brute force escalates to distributed. */
static void
test_escalation(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("escalate.db");
	struct sw_engine	*e;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "admin@example.org", "203.0.113.77", T0, 5, 3);
	CHECK_INT(nseen, 1);
	CHECK_STR(seen[0].diag, "server/brute-force");
	fail_n(e, st, "admin@example.org", "203.0.113.78", T0 + 20, 1, 1);
	CHECK_INT(nseen, 1);
	fail_n(e, st, "admin@example.org", "203.0.113.79", T0 + 21, 1, 1);
	CHECK_INT(nseen, 2);
	CHECK_STR(seen[1].diag, "server/distributed-brute-force");
	CHECK_INT(seen[1].repeat, 1);
	CHECK_INT(seen[1].count, 2);
	CHECK_INT(seen[1].addresses, 3);
	/* no way back down: what failed within the hour is told in the
	 * follow-up an hour after the last entry, still distributed */
	fail_n(e, st, "admin@example.org", "203.0.113.77", T0 + 2000, 5, 3);
	CHECK_INT(nseen, 2);
	fail_n(e, st, "admin@example.org", "203.0.113.77", T0 + 3700, 1, 1);
	CHECK_INT(nseen, 3);
	CHECK_STR(seen[2].diag, "server/distributed-brute-force");
	CHECK_INT(seen[2].count, 6);
	/* quiet for the quiet time by the logs' clock: the next failure is
	 * a new incident, whether or not a tick came in between */
	fail_n(e, st, "admin@example.org", "203.0.113.77", T0 + 8000, 5, 3);
	CHECK_INT(nseen, 4);
	CHECK_STR(seen[3].diag, "server/brute-force");
	CHECK_INT(seen[3].repeat, 0);
	engine_done(e);
	store_close(st);
}

/*
 * An account's track keeps a slot per address it failed from, made as
 * addresses come: one for an account failing from one address (most of
 * an attack's), at most SW_TRACK_ADDRS, then the oldest is used again.
 * Only an account's track has the times of its latest failures.
 */
static void
test_track_from(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("trackfrom.db");
	struct sw_engine	*e;
	struct track		*t;
	char			 addr[32];
	int			 i;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	fail_n(e, st, "one@example.org", "203.0.113.1", T0, 3, 1);
	t = track_find(e, T_ACCOUNT, "mx1", "one@example.org", 15);
	CHECK(t != NULL);
	CHECK_INT(t->nfrom, 1);
	for (i = 2; i <= SW_TRACK_ADDRS + 2; i++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", i);
		fail_n(e, st, "one@example.org", addr, T0 + 3 + i, 1, 1);
		CHECK_INT(t->nfrom, i <= SW_TRACK_ADDRS ? (size_t)i :
		    SW_TRACK_ADDRS);
	}
	/* .1 and .2, the oldest, gave their slots to .9 and .10 */
	CHECK_STR(t->from[0].addr, "203.0.113.9");
	CHECK_STR(t->from[1].addr, "203.0.113.10");
	CHECK_INT(track_addresses(t, e->now, o.account_window),
	    SW_TRACK_ADDRS);
	/* the rhythm's times are an account's, an address has none */
	CHECK(t->times != NULL);
	t = track_find(e, T_ADDRESS, "mx1", "203.0.113.1", 11);
	CHECK(t != NULL && t->times == NULL);
	engine_done(e);
	store_close(st);
}

/* One address on many accounts: one spraying incident, no others. */
static void
test_spraying(void)
{
	static const char *const accts[] = { "a@x.org", "b@x.org", "c@x.org",
	    "d@x.org", "e@x.org", "f@x.org" };
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("spray.db");
	struct sw_engine	*e;
	size_t			 i;
	int			 round;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	for (i = 0; i < 4; i++)
		fail_n(e, st, accts[i], "192.0.2.200", T0 + (time_t)i, 1, 1);
	CHECK_INT(nseen, 0);
	fail_n(e, st, accts[4], "192.0.2.200", T0 + 4, 1, 1);
	CHECK_INT(nseen, 1);
	CHECK_INT(seen[0].kind, SW_AL_ADDRESS_SPRAYING);
	CHECK_STR(seen[0].subject, "192.0.2.200");
	CHECK_STR(seen[0].diag, "server/password-spraying");
	CHECK_INT(seen[0].accounts, 5);
	CHECK_INT(seen[0].count, 5);
	CHECK_INT(seen[0].opened, T0);
	/* every account now reaches 5 failures, all from the sprayer */
	for (round = 0; round < 5; round++)
		for (i = 0; i < 6; i++)
			fail_n(e, st, accts[i], "192.0.2.200",
			    T0 + 10 + round * 10 + (time_t)i, 1, 1);
	CHECK_INT(nseen, 1);
	CHECK_INT(engine_open(e), 1);
	engine_done(e);
	store_close(st);
}

/*
 * A relay: first refusal at once; messages by queue id, each once
 * however often it is deferred (held.c); recovery.
 */
static void
test_relay(void)
{
	struct sw_alertopt	 o;
	struct sw_relayname	 rn = { "*.GMAIL.com", "alerts@example.com" };
	struct sw_store		*st = store_new("relay.db");
	struct sw_engine	*e;
	struct sw_event		 ev;

	opt_defaults(&o);
	o.relays = &rn;
	o.nrelays = 1;
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E051", T0);
	feed(e, st, &ev);
	CHECK_INT(nseen, 1);
	CHECK_INT(seen[0].kind, SW_AL_RELAY_REJECTED);
	CHECK_STR(seen[0].diag, "gmail/535-5.7.8-bad-credentials");
	CHECK_STR(seen[0].credential, "alerts@example.com");
	CHECK_INT(seen[0].messages, 1);
	ev = ev_relay(SW_EV_AFFECTED, "5A6EE11E052", T0 + 1);
	feed(e, st, &ev);
	ev = ev_relay(SW_EV_AFFECTED, "5A6EE11E051", T0 + 2);
	feed(e, st, &ev);
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E052", T0 + 600);
	feed(e, st, &ev);
	CHECK_INT(nseen, 1);
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E053", T0 + 2000);
	feed(e, st, &ev);
	CHECK_INT(nseen, 1);	/* realert (30 min) is less than the hour */
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E054", T0 + 3600);
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].repeat, 1);
	CHECK_INT(seen[1].count, 3);
	CHECK_INT(seen[1].messages, 4);
	ev = ev_relay(SW_EV_SUCCESS, "5A6EE11E051", T0 + 3700);
	feed(e, st, &ev);
	CHECK_INT(nseen, 3);
	CHECK_INT(seen[2].kind, SW_AL_RELAY_RECOVERED);
	CHECK_INT(seen[2].total, 4);
	CHECK_INT(seen[2].count, 0);
	/* a later success is just mail */
	feed(e, st, &ev);
	CHECK_INT(nseen, 3);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	engine_done(e);
	store_close(st);
}

/* The back end: at the first refusal; a login closes it. */
static void
test_backend(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("backend.db");
	struct sw_engine	*e;
	struct sw_event		 ev;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	ev = ev_server(SW_EV_TROUBLE, "dave@example.org", "2001:db8:7::15",
	    T0);
	ev.diag = diag("server/backend-down");
	feed(e, st, &ev);
	CHECK_INT(nseen, 1);
	CHECK_INT(seen[0].kind, SW_AL_BACKEND_DOWN);
	CHECK_STR(seen[0].subject, "mx1");
	ev.when += 5;
	feed(e, st, &ev);
	CHECK_INT(nseen, 1);
	ev = ev_server(SW_EV_SUCCESS, "erin@example.org", "192.0.2.5",
	    T0 + 30);
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].kind, SW_AL_BACKEND_RECOVERED);
	CHECK_INT(seen[1].count, 1);

	/* other trouble is not the back end */
	ev = ev_server(SW_EV_TROUBLE, "x", "192.0.2.6", T0 + 40);
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	/* with a threshold of 3: opened at the first of the three */
	o.backend_threshold = 3;
	ev = ev_server(SW_EV_TROUBLE, "dave@example.org", "2001:db8:7::15",
	    T0 + 1000);
	ev.diag = diag("server/backend-down");
	feed(e, st, &ev);
	ev.when += 10;
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	ev.when += 10;
	feed(e, st, &ev);
	CHECK_INT(nseen, 3);
	CHECK_INT(seen[2].opened, T0 + 1000);
	CHECK_INT(seen[2].count, 3);
	engine_done(e);
	store_close(st);
}

/* Quiet: closed when time moves on; a last entry tells the rest. */
static void
test_quiet(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("quiet.db");
	struct sw_engine	*e;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "fred@example.org", "203.0.113.9", T0, 8, 2);
	CHECK_INT(nseen, 1);
	CHECK_INT(engine_tick(e, 0), 1);	/* dirty: to be saved */
	engine_save(e);
	CHECK_INT(engine_tick(e, 0), 0);
	fail_n(e, st, "gina@example.org", "203.0.113.10", T0 + 3700, 1, 1);
	CHECK_INT(engine_tick(e, 0), 1);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].closing, 1);
	CHECK_INT(seen[1].count, 3);
	CHECK_INT(engine_open(e), 0);
	/* the wall clock moves time only when the logs are current */
	fail_n(e, st, "hank@example.org", "203.0.113.11", T0 + 4000, 5, 1);
	CHECK_INT(engine_open(e), 1);
	CHECK_INT(engine_tick(e, T0 + 4004 + 86400), 1);
	CHECK_INT(engine_open(e), 1);
	engine_tick(e, T0 + 4004 + 200);
	CHECK_INT(engine_open(e), 1);
	engine_tick(e, T0 + 4004 + 3700);
	CHECK_INT(engine_open(e), 1);	/* 3700 s past the logs: not live */
	engine_done(e);
	store_close(st);
}

/* A login from the address that was guessing: compromise. */
static void
test_compromise(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("compromise.db");
	struct sw_engine	*e;
	struct sw_event		 ev;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "ivan@example.org", "198.51.100.66", T0, 6, 1);
	ev = ev_server(SW_EV_SUCCESS, "ivan@example.org", "198.51.100.66",
	    T0 + 10);
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].kind, SW_AL_ACCOUNT_RECOVERED);
	CHECK_INT(seen[1].compromise, 1);
	CHECK_INT(seen[1].count, 1);
	/* a login resets the window: 4 + 4 failures are no incident */
	fail_n(e, st, "judy@example.org", "198.51.100.67", T0 + 20, 4, 1);
	ev = ev_server(SW_EV_SUCCESS, "judy@example.org", "192.0.2.8",
	    T0 + 30);
	feed(e, st, &ev);
	fail_n(e, st, "judy@example.org", "198.51.100.67", T0 + 40, 4, 1);
	CHECK_INT(nseen, 2);
	engine_done(e);
	store_close(st);
}

/* Ignored accounts and networks: counted, never alerted. */
static void
test_ignore(void)
{
	struct sw_alertopt	 o;
	struct sw_cidr		 nets[2];
	char			*globs[1] = { "nagios*@example.org" };
	struct sw_store		*st = store_new("ignore.db");
	struct sw_engine	*e;

	opt_defaults(&o);
	memset(nets, 0, sizeof(nets));
	nets[0].family = AF_INET;
	inet_pton(AF_INET, "192.0.2.0", nets[0].addr);
	nets[0].bits = 23;
	nets[1].family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::", nets[1].addr);
	nets[1].bits = 32;
	o.ignore_nets = nets;
	o.nignore_nets = 2;
	o.ignore_accounts = globs;
	o.nignore_accounts = 1;
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "kim@example.org", "192.0.3.250", T0, 6, 1);
	fail_n(e, st, "kim@example.org", "2001:db8:ffff::1", T0, 6, 1);
	fail_n(e, st, "nagios-probe@example.org", "203.0.113.1", T0, 6, 1);
	CHECK_INT(nseen, 0);
	fail_n(e, st, "kim@example.org", "192.0.4.1", T0 + 10, 6, 1);
	CHECK_INT(nseen, 1);
	engine_done(e);
	store_close(st);
}

/* Open incidents are saved and picked up by the next engine. */
static void
test_restart(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("restart.db");
	struct sw_engine	*e;
	struct sw_event		 ev;
	int64_t			 id;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "liz@example.org", "203.0.113.50", T0, 5, 1);
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E061", T0);
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	engine_done(e);
	e = engine_new(rs, &o, st, record, NULL);
	CHECK_INT(engine_open(e), 2);
	fail_n(e, st, "liz@example.org", "203.0.113.50", T0 + 10, 1, 1);
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E062", T0 + 10);
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	fail_n(e, st, "liz@example.org", "203.0.113.50", T0 + 1900, 1, 1);
	CHECK_INT(nseen, 2);
	fail_n(e, st, "liz@example.org", "203.0.113.50", T0 + 3700, 1, 1);
	CHECK_INT(nseen, 3);
	CHECK_INT(seen[2].repeat, 1);
	CHECK_INT(seen[2].count, 3);
	CHECK_INT(seen[2].total, 8);
	id = e->nextid;
	CHECK_INT(id, 3);
	engine_done(e);
	store_close(st);
}

/* Windows survive a restart, from the buckets; not past a login. */
static void
test_refill(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("refill.db");
	struct sw_engine	*e;
	struct sw_event		 ev;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "mia@example.org", "203.0.113.60", T0, 3, 10);
	fail_n(e, st, "ned@example.org", "203.0.113.61", T0, 3, 10);
	ev = ev_server(SW_EV_SUCCESS, "ned@example.org", "192.0.2.61",
	    T0 + 100);
	feed(e, st, &ev);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	engine_done(e);
	e = engine_new(rs, &o, st, record, NULL);
	fail_n(e, st, "mia@example.org", "203.0.113.60", T0 + 200, 2, 10);
	CHECK_INT(nseen, 1);
	CHECK_STR(seen[0].subject, "mia@example.org");
	CHECK_INT(seen[0].count, 5);
	fail_n(e, st, "ned@example.org", "203.0.113.61", T0 + 200, 4, 10);
	CHECK_INT(nseen, 1);
	engine_done(e);
	store_close(st);
}

/*
 * A silent engine (no send function, as smtpwatchctl scan makes it)
 * sends nothing and records everything as one that sends: the same
 * incident rows, alerts and reported counts included.
 */
static void
test_silent(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st[2];
	struct sw_engine	*e[2];
	struct sw_event		 ev;
	char			 row[2][1024];
	size_t			 i;

	opt_defaults(&o);
	st[0] = store_new("loud.db");
	st[1] = store_new("silent.db");
	e[0] = engine_new(rs, &o, st[0], record, NULL);
	e[1] = engine_new(rs, &o, st[1], NULL, NULL);
	nseen = 0;
	for (i = 0; i < 2; i++) {
		held_free(held);	/* each stream marked afresh */
		held = NULL;
		fail_n(e[i], st[i], "sid@example.org", "203.0.113.70", T0,
		    4000, 1);
		ev = ev_relay(SW_EV_FAILURE, "5A6EE11E071", T0);
		feed(e[i], st[i], &ev);
		ev = ev_server(SW_EV_SUCCESS, "sid@example.org",
		    "203.0.113.70", T0 + 4000);
		feed(e[i], st[i], &ev);
		engine_save(e[i]);
		CHECK_INT(store_commit(st[i]), 0);
		if (i == 0)
			CHECK(nseen > 2);
	}
	CHECK_INT(engine_alerts(e[1]), nseen);
	CHECK_INT(engine_alerts(e[0]), nseen);
	for (i = 0; i < 2; i++) {
		engine_free(e[i]);
		store_close(st[i]);
	}
	for (i = 1; i <= 2; i++) {
		row_of("loud.db", (int64_t)i, row[0], sizeof(row[0]));
		row_of("silent.db", (int64_t)i, row[1], sizeof(row[1]));
		CHECK(row[0][0] != '\0');
		CHECK_STR(row[1], row[0]);
	}
}

/*
 * Incidents follow the attack, not the owner.  A distributed brute force
 * with the owner logging in from its usual address in between: one
 * incident, which records the logins and stays open; a login from one
 * of the attacking addresses closes it (success) as a compromise.
 */
static void
test_owner_login(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("owner.db");
	struct sw_engine	*e;
	struct sw_event		 ev;
	char			 addr[32];
	int			 i;

	opt_defaults(&o);
	login_before(st, &o, "olga@example.org", "192.0.2.50", T0 - 86400);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	for (i = 0; i < 60; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%d", 1 + i % 10);
		fail_n(e, st, "olga@example.org", addr, T0 + i * 10, 1, 1);
		if (i % 20 == 10) {
			ev = ev_server(SW_EV_SUCCESS, "olga@example.org",
			    "192.0.2.50", T0 + i * 10 + 5);
			feed(e, st, &ev);
		}
	}
	CHECK_INT(nseen, 1);
	CHECK_STR(seen[0].diag, "server/distributed-brute-force");
	CHECK_INT(engine_open(e), 1);
	CHECK_INT(e->incs->s.logins, 3);
	CHECK_STR(e->incs->s.login_addr, "192.0.2.50");
	CHECK_INT(e->incs->s.login_last, T0 + 505);
	CHECK_INT(e->incs->s.addresses, 10);
	CHECK_INT(e->incs->s.failures, 60);
	/* an address of the attack gets in */
	ev = ev_server(SW_EV_SUCCESS, "olga@example.org", "198.51.100.3",
	    T0 + 700);
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].kind, SW_AL_ACCOUNT_RECOVERED);
	CHECK_INT(seen[1].compromise, 1);
	CHECK_INT(seen[1].logins, 3);
	CHECK_INT(engine_open(e), 0);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(col_of("owner.db", 1, 8), "success");
	engine_done(e);
	store_close(st);
}

/*
 * A stale device: two addresses that logged in before, failing with an
 * old password.  The owner's login from a third address closes nothing;
 * the device's own login (the password fixed on it) closes the incident
 * with close_reason success and no compromise.
 */
static void
test_stale_fixed(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("fixed.db");
	struct sw_engine	*e;
	struct sw_event		 ev;

	opt_defaults(&o);
	login_before(st, &o, "pia@example.org", "192.0.2.60", T0 - 86400);
	login_before(st, &o, "pia@example.org", "192.0.2.62", T0 - 86000);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	fail_n(e, st, "pia@example.org", "192.0.2.60", T0, 3, 300);
	fail_n(e, st, "pia@example.org", "192.0.2.62", T0 + 150, 3, 300);
	CHECK_INT(nseen, 1);
	CHECK_STR(seen[0].diag, "server/stale-device");
	CHECK_INT(seen[0].addresses, 2);
	ev = ev_server(SW_EV_SUCCESS, "pia@example.org", "192.0.2.61",
	    T0 + 1000);
	feed(e, st, &ev);
	CHECK_INT(nseen, 1);
	CHECK_INT(engine_open(e), 1);
	fail_n(e, st, "pia@example.org", "192.0.2.60", T0 + 1200, 1, 1);
	ev = ev_server(SW_EV_SUCCESS, "pia@example.org", "192.0.2.62",
	    T0 + 1300);
	feed(e, st, &ev);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].kind, SW_AL_ACCOUNT_RECOVERED);
	CHECK_INT(seen[1].compromise, 0);
	CHECK_INT(seen[1].logins, 1);
	CHECK_STR(seen[1].login_addr, "192.0.2.61");
	CHECK_INT(seen[1].total, 7);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(col_of("fixed.db", 1, 8), "success");
	CHECK_STR(col_of("fixed.db", 1, 16), "server/stale-device");
	engine_done(e);
	store_close(st);
}

/*
 * The reproduced bug: one account attacked from 61 addresses over two
 * hours, its owner logging in from its usual address every 20 minutes.
 * With realert at its least (1 min): one incident, its first entry,
 * then at most one an hour of log time, and the entry that closes it
 * when quiet; their counts add up to every failure.
 */
static void
test_attack61(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("attack61.db");
	struct sw_engine	*e;
	struct sw_event		 ev;
	char			 addr[32];
	uint64_t		 sum = 0;
	size_t			 i;
	int			 k;

	opt_defaults(&o);
	o.realert = 60;
	login_before(st, &o, "victim@example.org", "192.0.2.10", T0 - 86400);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	for (k = 0; k < 240; k++) {	/* one every 30 s */
		snprintf(addr, sizeof(addr), "203.0.113.%d", 100 + k % 61);
		fail_n(e, st, "victim@example.org", addr, T0 + k * 30, 1, 1);
		if (k % 40 == 20) {
			ev = ev_server(SW_EV_SUCCESS, "victim@example.org",
			    "192.0.2.10", T0 + k * 30 + 10);
			feed(e, st, &ev);
		}
	}
	fail_n(e, st, "other@example.org", "198.51.100.1", T0 + 7200 + 3600,
	    1, 1);
	CHECK_INT(engine_tick(e, 0), 1);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	CHECK_INT(e->nextid, 2);	/* one incident */
	CHECK_INT(engine_open(e), 0);
	CHECK(nseen >= 2 && nseen <= 1 + 2 + 1);
	for (i = 0; i < nseen; i++) {
		CHECK_INT(seen[i].kind, SW_AL_ACCOUNT_FAILING);
		CHECK_INT(seen[i].repeat, i);
		CHECK_STR(seen[i].diag, "server/distributed-brute-force");
		if (i > 0 && !seen[i].closing)
			CHECK(seen[i].when - seen[i - 1].when >= 3600);
		sum += seen[i].count;
	}
	CHECK_INT(seen[0].count, 5);
	CHECK_INT(seen[nseen - 1].closing, 1);
	CHECK_INT(seen[nseen - 1].logins, 6);
	CHECK_INT(seen[nseen - 1].addresses, 61);
	CHECK_INT(sum, 240);
	CHECK_STR(col_of("attack61.db", 1, 8), "quiet");
	CHECK_STR(col_of("attack61.db", 1, 9), "240");
	engine_done(e);
	store_close(st);
}

/*
 * Each entry tells when its failures happened: the first entry from the
 * first failure counted, a follow-up from the first one since the
 * previous entry, a recovery the whole incident.  An entry about lines
 * more than LIVE_SKEW behind the wall clock is caught up; a close by
 * quiet time is live when the wall clock moved the engine's time on.
 */
static void
test_times(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("times.db");
	struct sw_engine	*e;
	struct sw_event		 ev;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	e->wall = test_wall;
	nseen = 0;
	/* live: the wall clock a few seconds after the lines */
	wall_now = T0 + 10;
	fail_n(e, st, "tom@example.org", "203.0.113.80", T0, 5, 2);
	CHECK_INT(nseen, 1);
	CHECK_INT(seen[0].first, T0);
	CHECK_INT(seen[0].last, T0 + 8);
	CHECK_INT(seen[0].caught_up, 0);
	/* a follow-up an hour on, read with the wall clock a day later */
	wall_now = T0 + 86400;
	fail_n(e, st, "tom@example.org", "203.0.113.80", T0 + 1000, 3, 100);
	fail_n(e, st, "tom@example.org", "203.0.113.80", T0 + 3700, 1, 1);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].count, 4);
	CHECK_INT(seen[1].first, T0 + 1000);
	CHECK_INT(seen[1].last, T0 + 3700);
	CHECK_INT(seen[1].caught_up, 1);
	/* the fixed device, LIVE_SKEW behind the clock: still live */
	wall_now = T0 + 3800 + LIVE_SKEW;
	ev = ev_server(SW_EV_SUCCESS, "tom@example.org", "203.0.113.80",
	    T0 + 3800);
	feed(e, st, &ev);
	CHECK_INT(nseen, 3);
	CHECK_INT(seen[2].kind, SW_AL_ACCOUNT_RECOVERED);
	CHECK_INT(seen[2].first, T0);
	CHECK_INT(seen[2].last, T0 + 3700);
	CHECK_INT(seen[2].caught_up, 0);
	/* quiet: closed by the wall clock of a live engine: not caught up */
	fail_n(e, st, "una@example.org", "203.0.113.81", T0 + 4000, 6, 1);
	CHECK_INT(nseen, 4);
	CHECK_INT(seen[3].caught_up, 0);
	for (wall_now = T0 + 4005 + 60; wall_now <= T0 + 4005 + 3600;
	    wall_now += 60)
		(void)engine_tick(e, wall_now);	/* the daemon's ticks */
	CHECK_INT(nseen, 5);
	CHECK_INT(seen[4].closing, 1);
	CHECK_INT(seen[4].first, T0 + 4005);
	CHECK_INT(seen[4].last, T0 + 4005);
	CHECK_INT(seen[4].caught_up, 0);
	/* ... and by a later line of a backlog: caught up */
	fail_n(e, st, "vic@example.org", "203.0.113.82", T0 + 9000, 6, 1);
	wall_now = T0 + 86400 * 3;
	fail_n(e, st, "wes@example.org", "203.0.113.83", T0 + 9000 + 3700, 1,
	    1);
	CHECK_INT(engine_tick(e, 0), 1);
	CHECK_INT(nseen, 7);
	CHECK_INT(seen[6].closing, 1);
	CHECK_INT(seen[6].caught_up, 1);
	engine_done(e);
	store_close(st);
}

/* Client-side entries of each minute of log time (incident entries). */
static size_t
per_minute_max(void)
{
	size_t		 i, n = 0, most = 0;
	time_t		 m = -1;

	for (i = 0; i < nseen; i++) {
		if (seen[i].kind == SW_AL_ALERTS_FOLDED ||
		    seen[i].kind == SW_AL_SUMMARISING ||
		    seen[i].inckind == SW_INC_RELAY ||
		    seen[i].inckind == SW_INC_BACKEND)
			continue;
		if (seen[i].when / 60 != m) {
			m = seen[i].when / 60;
			n = 0;
		}
		if (++n > most)
			most = n;
	}
	return most;
}

static size_t
seen_kind(enum sw_alert_kind k)
{
	size_t	 i, n = 0;

	for (i = 0; i < nseen; i++)
		if (seen[i].kind == k)
			n++;
	return n;
}

/*
 * Issue 18, finding 1: the table of open incidents filled by an attack
 * silenced every new alert.  10050 client addresses (as many networks)
 * each try 5 accounts within 50 minutes: with the 5 accounts' own
 * incidents (their first failures came from addresses not yet
 * spraying), more than the 10000 client incidents kept (the default):
 * the 55 least active are folded, the
 * engine says once that it summarises, and a relay's refusal and a
 * back end's trouble that come next are alerted at once.  The entries
 * of the attack are at most alerts-per-minute (60) a minute.  Back ends
 * of 1000 more hosts fill the back ends' room, not the relays'.
 */
static void
test_exhaustion(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("exhaust.db");
	struct sw_engine	*e;
	struct sw_engine_stat	 es;
	struct sw_event		 ev;
	char			 addr[32], acct[32];
	int			 k, j;
	time_t			 t = T0;

	opt_defaults(&o);
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	for (k = 0; k < 10050; k++)
		for (j = 0; j < 5; j++) {
			snprintf(addr, sizeof(addr), "10.%d.%d.%d", k >> 16,
			    (k >> 8) & 255, k & 255);
			snprintf(acct, sizeof(acct), "u%d@example.org", j);
			t = T0 + (k * 5 + j) / 17;
			fail_n(e, st, acct, addr, t, 1, 1);
		}
	engine_stat(e, &es);
	CHECK_INT(es.clients, 10000);
	CHECK_INT(es.folded_incidents, 55);	/* 5 accounts opened too */
	CHECK_INT(es.summarising, 1);
	CHECK_INT(seen_kind(SW_AL_SUMMARISING), 1);
	CHECK(per_minute_max() <= 60);
	CHECK(seen_kind(SW_AL_ALERTS_FOLDED) >= 40);
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E0F1", t);
	feed(e, st, &ev);
	CHECK_INT(seen[nseen - 1].kind, SW_AL_RELAY_REJECTED);
	CHECK_STR(seen[nseen - 1].subject, "smtp.gmail.com");
	ev = ev_server(SW_EV_TROUBLE, "x@example.org", "192.0.2.9", t);
	ev.diag = diag("server/backend-down");
	feed(e, st, &ev);
	CHECK_INT(seen[nseen - 1].kind, SW_AL_BACKEND_DOWN);
	/* back ends of 1000 hosts (forged lines, say) fill their own room,
	 * not the relays' */
	for (k = 1; k <= 1000; k++) {
		ev = ev_server(SW_EV_TROUBLE, "x@example.org", "192.0.2.9", t);
		snprintf(ev.host, sizeof(ev.host), "h%d", k);
		ev.diag = diag("server/backend-down");
		feed(e, st, &ev);
	}
	engine_stat(e, &es);
	CHECK_INT(e->nkind[SW_INC_BACKEND], 1000);
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E0F3", t);
	snprintf(ev.relay, sizeof(ev.relay), "smtp.office365.com");
	feed(e, st, &ev);
	CHECK_INT(seen[nseen - 1].kind, SW_AL_RELAY_REJECTED);
	CHECK_STR(seen[nseen - 1].subject, "smtp.office365.com");
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(col_of("exhaust.db", 1, 8), "folded");
	engine_done(e);
	store_close(st);
}

/*
 * One network: 400 addresses of 2001:db8:1:2::/64 each try the same 5
 * accounts (the reported attack, smaller): one address incident named
 * by the network, counting its 400 addresses, no account incident; its
 * one entry names the network.  With group-ipv4 24 an IPv4 /24 is one
 * network the same way, IPv4-mapped addresses too.  An account failing
 * from 3 addresses of one /64 is a brute force from that network, not a
 * distributed one, and its entry says so.
 */
/* Keeps the first bits of the n bytes at a, zeroes the others. */
static void
ref_mask(unsigned char *a, int n, long bits)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (i * 8 >= bits)
			a[i] = 0;
		else if (i * 8 + 8 > bits)
			a[i] &= (unsigned char)(0xff << (8 - (bits - i * 8)));
}

/* The IPv4 network of addr as inet_pton and inet_ntop make it. */
static void
ref_group4(const char *addr, long bits, char *out, size_t size)
{
	unsigned char	 a[4];
	char		 text[INET_ADDRSTRLEN];

	CHECK_INT(inet_pton(AF_INET, addr, a), 1);
	ref_mask(a, 4, bits);
	inet_ntop(AF_INET, a, text, sizeof(text));
	snprintf(out, size, "%s/%ld", text, bits);
}

/*
 * engine_group()'s way for dotted quads (addr_quad, net_group4) takes
 * exactly what inet_pton(AF_INET) takes and writes what inet_ntop
 * writes, at every prefix length group-ipv4 allows.
 */
static void
test_group4(void)
{
	static const char *const bad[] = { "", "1.2.3", "1.2.3.4.",
	    "1.2.3.4 ", " 1.2.3.4", "01.2.3.4", "1.2.3.04", "1.2.3.00",
	    "256.1.1.1", "1.2.3.256", "1..2.3", "1.2.3.4/24", "1.2.3.-4",
	    "1.2.3.4x", "0x1.2.3.4", "1.2.3.99999999999", ".1.2.3",
	    "1.2.3.4.5", "::1", "::ffff:1.2.3.4", "unknown" };
	struct sw_alertopt	 o;
	unsigned char		 q[4], a[16];
	char			 addr[32], want[SW_NET_MAX], net[SW_NET_MAX];
	size_t			 i;
	uint32_t		 x = 12345;
	long			 bits;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(addr_quad(bad[i], q), inet_pton(AF_INET, bad[i], a));
	opt_defaults(&o);
	for (i = 0; i < 2000; i++) {
		x = x * 1103515245u + 12345u;
		snprintf(addr, sizeof(addr), "%u.%u.%u.%u", i < 2 ? 0 :
		    x >> 24, i < 2 ? 0 : (x >> 16) & 255, (x >> 8) & 255,
		    i == 1 ? 255 : x & 255);
		if (!CHECK_INT(addr_quad(addr, q), 1) ||
		    !CHECK_INT(inet_pton(AF_INET, addr, a), 1))
			continue;
		CHECK(memcmp(q, a, 4) == 0);
		for (bits = 8; bits <= 31; bits++) {
			o.group_ipv4 = bits;
			ref_group4(addr, bits, want, sizeof(want));
			CHECK_INT(engine_group(&o, addr, net, sizeof(net)), 1);
			CHECK_STR(net, want);
		}
		o.group_ipv4 = 32;
		CHECK_INT(engine_group(&o, addr, net, sizeof(net)), 0);
		CHECK_STR(net, addr);
	}
	/* Too small for the network: cut as snprintf cuts. */
	o.group_ipv4 = 24;
	CHECK_INT(engine_group(&o, "203.0.113.9", net, 8), 1);
	CHECK_STR(net, "203.0.1");
	o.group_ipv4 = 32;
	CHECK_INT(engine_group(&o, "203.0.113.9", net, 8), 0);
	CHECK_STR(net, "203.0.1");
}

/* The IPv6 network of a (16 bytes) as inet_ntop and snprintf write it. */
static void
ref_group6(const unsigned char *addr, long bits, char *out, size_t size)
{
	unsigned char	 a[16];
	char		 text[INET6_ADDRSTRLEN], full[SW_NET_MAX];
	size_t		 n;

	memcpy(a, addr, sizeof(a));
	ref_mask(a, 16, bits);
	inet_ntop(AF_INET6, a, text, sizeof(text));
	snprintf(full, sizeof(full), "%s/%ld", text, bits);
	n = strlen(full) < size ? strlen(full) : size - 1;	/* as snprintf */
	memcpy(out, full, n);
	out[n] = '\0';
}

/*
 * engine_group()'s way for IPv6 networks (net_group6) writes what
 * inet_ntop and snprintf write, at every prefix length group-ipv6
 * allows: random addresses whose words are often zero, so that runs of
 * zeros of every length and place are compressed, or not, as inet_ntop
 * does; and cut as snprintf cuts when out is small.
 */
static void
test_group6(void)
{
	struct sw_alertopt	 o;
	unsigned char		 a[16];
	char			 addr[INET6_ADDRSTRLEN], want[SW_NET_MAX];
	char			 net[SW_NET_MAX];
	size_t			 i, size;
	uint32_t		 x = 4321;
	int			 k;
	long			 bits;

	opt_defaults(&o);
	for (i = 0; i < 3000; i++) {
		for (k = 0; k < 8; k++) {
			x = x * 1103515245u + 12345u;
			a[2 * k] = (x >> 16) % 3 == 0 ? 0 : (unsigned char)(x >> 24);
			a[2 * k + 1] = (x >> 16) % 3 == 0 ? 0 :
			    (x >> 20) % 4 == 0 ? (unsigned char)(x >> 8) & 15 :
			    (unsigned char)(x >> 8);
		}
		if (i < 2)
			memset(a, i == 0 ? 0 : 0xff, sizeof(a));
		if (inet_ntop(AF_INET6, a, addr, sizeof(addr)) == NULL ||
		    strchr(addr, '.') != NULL)
			continue;	/* ::a.b.c.d: not a network here */
		for (bits = 1; bits <= 128; bits++) {
			o.group_ipv6 = bits;
			ref_group6(a, bits, want, sizeof(want));
			CHECK_INT(engine_group(&o, addr, net, sizeof(net)),
			    bits < 128 ? 1 : 0);
			CHECK_STR(net, bits < 128 ? want : addr);
		}
		o.group_ipv6 = 64;
		for (size = 1; size < 24; size += 5) {
			ref_group6(a, 64, want, size);
			CHECK_INT(engine_group(&o, addr, net, size), 1);
			CHECK_STR(net, want);
		}
	}
}

static void
test_network(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("network.db");
	struct sw_engine	*e;
	struct sw_engine_stat	 es;
	struct inc		*in;
	char			 addr[64], acct[32], net[SW_NET_MAX];
	int			 k, j;

	opt_defaults(&o);
	CHECK_INT(engine_group(&o, "2001:db8:1:2:aa::1", net, sizeof(net)), 1);
	CHECK_STR(net, "2001:db8:1:2::/64");
	CHECK_INT(engine_group(&o, "203.0.113.9", net, sizeof(net)), 0);
	CHECK_STR(net, "203.0.113.9");
	CHECK_INT(engine_group(&o, "unknown", net, sizeof(net)), -1);
	o.group_ipv4 = 24;
	o.group_ipv6 = 48;
	CHECK_INT(engine_group(&o, "203.0.113.9", net, sizeof(net)), 1);
	CHECK_STR(net, "203.0.113.0/24");
	CHECK_INT(engine_group(&o, "::ffff:198.51.100.77", net, sizeof(net)),
	    1);
	CHECK_STR(net, "198.51.100.0/24");
	CHECK_INT(engine_group(&o, "2001:db8:1:2:aa::1", net, sizeof(net)), 1);
	CHECK_STR(net, "2001:db8:1::/48");
	o.group_ipv4 = 0;
	o.group_ipv6 = 0;

	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	for (k = 0; k < 400; k++)
		for (j = 0; j < 5; j++) {
			snprintf(addr, sizeof(addr), "2001:db8:1:2::%x", k + 1);
			snprintf(acct, sizeof(acct), "v%d@example.org", j);
			fail_n(e, st, acct, addr, T0 + (k * 5 + j) / 10, 1, 1);
		}
	engine_stat(e, &es);
	CHECK_INT(es.open, 1);
	CHECK_INT(nseen, 1);
	CHECK_INT(seen[0].kind, SW_AL_ADDRESS_SPRAYING);
	CHECK_STR(seen[0].subject, "2001:db8:1:2::/64");
	CHECK_STR(seen[0].network, "2001:db8:1:2::/64");
	CHECK_INT(seen[0].accounts, 5);
	CHECK_INT(e->incs->s.addresses, 400);
	CHECK_INT(e->incs->s.accounts, 5);
	CHECK_INT(e->incs->s.failures, 2000);
	CHECK_STR(e->incs->s.addr, "2001:db8:1:2::190");

	/* three addresses of another /64 on one account: one network */
	fail_n(e, st, "ada@example.org", "2001:db8:9:9::1", T0 + 300, 2, 1);
	fail_n(e, st, "ada@example.org", "2001:db8:9:9::2", T0 + 302, 2, 1);
	fail_n(e, st, "ada@example.org", "2001:db8:9:9::3", T0 + 304, 1, 1);
	CHECK_INT(nseen, 2);
	CHECK_INT(seen[1].kind, SW_AL_ACCOUNT_FAILING);
	CHECK_STR(seen[1].diag, "server/brute-force");
	CHECK_INT(seen[1].addresses, 3);
	CHECK_INT(seen[1].networks, 1);
	CHECK_STR(seen[1].network, "2001:db8:9:9::/64");
	/* ... and from two more networks it is distributed */
	fail_n(e, st, "ada@example.org", "2001:db8:7:7::1", T0 + 305, 1, 1);
	fail_n(e, st, "ada@example.org", "198.51.100.4", T0 + 306, 1, 1);
	CHECK_INT(nseen, 3);
	CHECK_STR(seen[2].diag, "server/distributed-brute-force");
	CHECK_INT(seen[2].networks, 3);
	CHECK_STR(seen[2].network, "");
	/* the two /64s are held as networks, the IPv4 address that is its
	   own network only counted: its hash is in the addresses already */
	in = inc_find(e, SW_INC_ACCOUNT, "mx1", "ada@example.org", 15);
	CHECK(in != NULL);
	CHECK_INT(set_count(&in->seen), 5);
	CHECK_INT(set_count(&in->addrs), 2);
	CHECK_INT(in->ownnets, 1);
	/* an address seen again is no new network */
	fail_n(e, st, "ada@example.org", "198.51.100.4", T0 + 307, 1, 1);
	CHECK_INT(in->ownnets, 1);
	CHECK_INT(in->s.addresses, 5);
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	engine_done(e);

	/* group-ipv4 24: a /24 of sprayers is one incident */
	o.group_ipv4 = 24;
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	for (k = 0; k < 5; k++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", 10 + k);
		snprintf(acct, sizeof(acct), "w%d@example.org", k);
		fail_n(e, st, acct, addr, T0 + 400 + k, 1, 1);
	}
	fail_n(e, st, "w9@example.org", "::ffff:203.0.113.99", T0 + 410, 1, 1);
	CHECK_INT(nseen, 1);
	CHECK_STR(seen[0].subject, "203.0.113.0/24");
	engine_stat(e, &es);
	CHECK_INT(es.open, 3);		/* the /64 and ada's from before */
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(col_of("network.db", 1, 14), "400");	/* addresses */
	CHECK_STR(col_of("network.db", 3, 4), "203.0.113.0/24");
	CHECK_STR(col_of("network.db", 3, 14), "6");	/* addresses */
	CHECK_STR(col_of("network.db", 3, 15), "6");	/* accounts */
	engine_done(e);
	store_close(st);
}

/*
 * Finding 2: alerts-per-minute 10.  100 accounts each fail 5 times from
 * their own address within one minute of log time: 10 entries, the 90
 * others folded, told by one summary when the next minute begins (90
 * account-failing entries, 450 failures, the top subjects).  A folded
 * entry is not its incident's (alerts 0) but its failures are told
 * (reported 5): the incident's next entry comes an hour later, as
 * REPEAT 0.  A relay's refusal in the spent minute is not folded.
 */
static void
test_budget(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("budget.db");
	struct sw_engine	*e;
	struct sw_engine_stat	 es;
	struct sw_event		 ev;
	char			 addr[32], acct[32];
	size_t			 i, n;
	int			 k;

	opt_defaults(&o);
	o.alerts_per_minute = 10;
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	for (k = 0; k < 100; k++) {
		snprintf(addr, sizeof(addr), "198.51.100.%d", k + 1);
		snprintf(acct, sizeof(acct), "x%03d@example.org", k);
		fail_n(e, st, acct, addr, T0 + k / 2, 5, 0);
	}
	CHECK_INT(nseen, 10);
	ev = ev_relay(SW_EV_FAILURE, "5A6EE11E0F2", T0 + 55);
	feed(e, st, &ev);
	CHECK_INT(nseen, 11);
	CHECK_INT(seen[10].kind, SW_AL_RELAY_REJECTED);
	engine_stat(e, &es);
	CHECK_INT(es.folded_entries, 90);
	/* the next minute: the summary of this one */
	fail_n(e, st, "late@example.org", "192.0.2.1", T0 + 60, 1, 1);
	CHECK_INT(nseen, 12);
	CHECK_INT(seen[11].kind, SW_AL_ALERTS_FOLDED);
	CHECK_INT(seen[11].fold.minute, T0);
	CHECK_INT(seen[11].fold.entries, 90);
	CHECK_INT(seen[11].fold.kinds[SW_AL_ACCOUNT_FAILING], 90);
	CHECK_INT(seen[11].fold.incidents, 0);
	CHECK_INT(seen[11].fold.failures, 450);
	CHECK_INT(seen[11].fold.sent, 10);
	CHECK_INT(seen[11].fold.budget, 10);
	CHECK_INT(seen[11].fold.ntop, SW_FOLD_TOP);
	CHECK_MEM(seen[11].fold.top[0].subject, seen[11].fold.top[0].subjectlen,
	    "x010@example.org", 16);
	CHECK_INT(seen[11].first, T0 + 5);
	CHECK_INT(seen[11].last, T0 + 49);
	/* a folded entry: alerts 0, reported 5 */
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(col_of("budget.db", 11, 11), "5");	/* reported */
	CHECK_STR(col_of("budget.db", 11, 12), "0");	/* alerts */
	CHECK_STR(col_of("budget.db", 1, 12), "1");
	/* its next failure an hour on: its own entry, REPEAT 0 */
	fail_n(e, st, "x010@example.org", "198.51.100.11", T0 + 3000, 1, 1);
	CHECK_INT(nseen, 12);
	fail_n(e, st, "x010@example.org", "198.51.100.11", T0 + 3610, 1, 1);
	CHECK_INT(nseen, 13);
	CHECK_STR(seen[12].subject, "x010@example.org");
	CHECK_INT(seen[12].repeat, 0);
	CHECK_INT(seen[12].count, 2);
	for (i = n = 0; i < nseen; i++)
		n += seen[i].kind == SW_AL_ACCOUNT_FAILING;
	CHECK_INT(n, 11);
	engine_done(e);
	store_close(st);
}

/*
 * client-incidents 20: 50 accounts each failing from an address of its
 * own, one a minute.
 * The 30 with the oldest latest failure are folded (close_reason
 * folded, their untold failures told in the minute's summary); the
 * engine tells once that it summarises, until fewer than 15 are open.
 */
static void
test_capacity(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st = store_new("capacity.db");
	struct sw_engine	*e;
	struct sw_engine_stat	 es;
	char			 addr[32], acct[32];
	size_t			 i, folded = 0;
	int			 k;

	opt_defaults(&o);
	o.client_incidents = 20;
	e = engine_new(rs, &o, st, record, NULL);
	nseen = 0;
	for (k = 0; k < 50; k++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", k + 1);
		snprintf(acct, sizeof(acct), "y%02d@example.org", k);
		fail_n(e, st, acct, addr, T0 + k * 60, 6, 1);
	}
	engine_stat(e, &es);
	CHECK_INT(es.clients, 20);
	CHECK_INT(es.folded_incidents, 30);
	CHECK_INT(es.summarising, 1);
	CHECK_INT(seen_kind(SW_AL_SUMMARISING), 1);
	CHECK_INT(seen_kind(SW_AL_ACCOUNT_FAILING), 50);
	for (i = 0; i < nseen; i++)
		if (seen[i].kind == SW_AL_ALERTS_FOLDED) {
			CHECK_INT(seen[i].fold.incidents, 1);
			CHECK_INT(seen[i].fold.failures, 1);
			CHECK_INT(seen[i].fold.entries, 0);
			folded++;
		}
	CHECK_INT(folded, 29);		/* the 30th: its minute goes on */
	engine_flush(e);
	CHECK_INT(seen_kind(SW_AL_ALERTS_FOLDED), 30);
	/* the oldest ones went first */
	engine_save(e);
	CHECK_INT(store_commit(st), 0);
	CHECK_STR(col_of("capacity.db", 1, 8), "folded");
	CHECK_STR(col_of("capacity.db", 30, 8), "folded");
	CHECK_STR(col_of("capacity.db", 31, 8), "NULL");
	CHECK_STR(col_of("capacity.db", 1, 11), "6");	/* reported */
	/* quiet: they close, summarising ends */
	fail_n(e, st, "z@example.org", "192.0.2.200", T0 + 49 * 60 + 3700, 1,
	    1);
	engine_stat(e, &es);
	CHECK_INT(es.clients, 0);
	CHECK_INT(es.summarising, 0);
	engine_done(e);
	store_close(st);
}

/*
 * A silent engine folds as one that sends: after the exhaustion and the
 * budget, every incident row is the same (scan == daemon).
 */
static void
test_silent_fold(void)
{
	struct sw_alertopt	 o;
	struct sw_store		*st[2];
	struct sw_engine	*e[2];
	char			 row[2][1024], addr[32], acct[32];
	size_t			 i;
	int			 k, j;

	opt_defaults(&o);
	o.client_incidents = 30;
	o.alerts_per_minute = 5;
	st[0] = store_new("foldloud.db");
	st[1] = store_new("foldsilent.db");
	e[0] = engine_new(rs, &o, st[0], record, NULL);
	e[1] = engine_new(rs, &o, st[1], NULL, NULL);
	nseen = 0;
	for (i = 0; i < 2; i++) {
		for (k = 0; k < 80; k++)
			for (j = 0; j < 5; j++) {
				snprintf(addr, sizeof(addr), "10.9.%d.%d",
				    k / 200, k % 200);
				snprintf(acct, sizeof(acct), "s%d@example.org",
				    (k + j) % 7);
				fail_n(e[i], st[i], acct, addr,
				    T0 + k * 5 + j, 1, 1);
			}
		engine_save(e[i]);
		CHECK_INT(store_commit(st[i]), 0);
	}
	CHECK_INT(engine_alerts(e[1]), engine_alerts(e[0]));
	CHECK(e[0]->folded_entries > 0);
	CHECK_INT(e[1]->folded_entries, e[0]->folded_entries);
	CHECK(e[0]->folded_incidents > 0);
	CHECK_INT(e[1]->folded_incidents, e[0]->folded_incidents);
	for (i = 0; i < 2; i++) {
		engine_free(e[i]);
		store_close(st[i]);
	}
	for (k = 1; k <= 100; k++) {
		row_of("foldloud.db", (int64_t)k, row[0], sizeof(row[0]));
		row_of("foldsilent.db", (int64_t)k, row[1], sizeof(row[1]));
		CHECK_STR(row[1], row[0]);
	}
	CHECK_STR(col_of("foldsilent.db", 1, 8), "folded");
}

/*
 * The sets behind an incident's distinct addresses and accounts: each
 * value counts once, also once the set is full (it counts on what it
 * cannot hold); a table grows to at most three quarters full, a set is
 * a bitmap of ids when that is smaller.
 */
static void
test_set(void)
{
	struct sw_dict	 d;
	struct sw_set	 s, t, u;
	uint64_t	 v;
	int		 fresh = 0, again = 0;

	memset(&d, 0, sizeof(d));
	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	memset(&u, 0, sizeof(u));
	for (v = 1; v <= 10000; v++)
		fresh += set_add(&d, &s, v * 0x9e3779b97f4a7c15ULL);
	for (v = 1; v <= 10000; v++)
		again += set_add(&d, &s, v * 0x9e3779b97f4a7c15ULL);
	CHECK_INT(fresh, 10000);
	CHECK_INT(again, 0);
	CHECK_INT(set_count(&s), 10000);
	CHECK_INT(d.n, 10000);
	/* every id the dictionary made is in s: a bitmap, not a table of
	   16384 slots (64 KiB) */
	CHECK_INT(s.bits, 1);
	CHECK(s.cap / 8 <= 4096);
	CHECK_INT(set_add(&d, &s, 0), 1);
	CHECK_INT(set_add(&d, &s, 0), 0);
	CHECK_INT(set_count(&s), 10001);

	/* a second set of the same values holds their ids, not them */
	for (v = 1; v <= 10000; v += 2)
		CHECK_INT(set_add(&d, &t, v * 0x9e3779b97f4a7c15ULL), 1);
	CHECK_INT(d.n, 10000);
	CHECK_INT(set_has(&d, &t, 3 * 0x9e3779b97f4a7c15ULL), 1);
	CHECK_INT(set_has(&d, &t, 4 * 0x9e3779b97f4a7c15ULL), 0);
	CHECK_INT(set_has(&d, &t, 0), 0);
	/* freed, s gives back the values t does not hold, in any order
	   the dictionary's entries move back: each still found */
	set_free(&d, &s);
	CHECK_INT(d.n, 5000);
	for (v = 1; v <= 10000; v++)
		CHECK_INT(set_has(&d, &t, v * 0x9e3779b97f4a7c15ULL),
		    (int)(v % 2));
	CHECK_INT(set_count(&t), 5000);
	/* the ids given back are used again */
	for (v = 10001; v <= 15000; v++)
		CHECK_INT(set_add(&d, &s, v), 1);
	CHECK_INT(d.n, 10000);
	CHECK((size_t)d.nids <= 10001);

	/* a few ids in a large dictionary: a table */
	for (v = 1; v <= 20; v++)
		CHECK_INT(set_add(&d, &u, 20000 + v), 1);
	CHECK_INT(u.bits, 0);
	CHECK_INT(u.cap, 32);
	set_free(&d, &u);
	set_free(&d, &t);
	set_free(&d, &s);
	CHECK_INT(d.n, 0);
	CHECK(d.val == NULL && d.slot == NULL);	/* all given back */

	/* a small set's bitmap; an id far beyond it makes it a table */
	for (v = 1; v <= 3; v++)
		CHECK_INT(set_add(&d, &u, v), 1);
	CHECK_INT(u.bits, 1);
	CHECK_INT(u.cap, 32);
	for (v = 4; v <= 5000; v++)
		CHECK_INT(set_add(&d, &t, v), 1);
	CHECK_INT(set_add(&d, &u, 5000), 1);
	CHECK_INT(u.bits, 0);
	CHECK_INT(u.cap, 16);
	for (v = 1; v <= 5000; v++)
		CHECK_INT(set_has(&d, &u, v), v <= 3 || v == 5000);
	set_free(&d, &u);
	set_free(&d, &t);
	CHECK_INT(d.n, 0);

	s.max = 3;
	CHECK_INT(set_add(&d, &s, 11) + set_add(&d, &s, 12) +
	    set_add(&d, &s, 13), 3);
	CHECK_INT(set_add(&d, &s, 12), 0);	/* full: held, not new */
	CHECK_INT(set_add(&d, &s, 14), 1);	/* full: not held, new */
	CHECK_INT(set_has(&d, &s, 14), 0);
	CHECK_INT(dict_find(&d, 14), 0);	/* nor in the dictionary */
	CHECK_INT(set_count(&s), 3);
	CHECK_INT(d.n, 3);
	set_free(&d, &s);
	CHECK_INT(d.n, 0);
	dict_free(&d);
}

/*
 * Sets against a plain model: random adds, lookups and frees on eight
 * sets sharing a dictionary, over values from a small range and a large
 * one, two sets with a small max (tables, when the others made many
 * ids; the others bitmaps); the answers, counts and the dictionary's
 * values are those of the model's arrays.
 */
#define MODEL_SETS	8
#define MODEL_VALS	5000

static void
test_set_model(void)
{
	struct sw_dict	 d;
	struct sw_set	 s[MODEL_SETS];
	uint64_t	 val[MODEL_VALS];
	unsigned char	 in[MODEL_SETS][MODEL_VALS];
	size_t		 n[MODEL_SETS], max[MODEL_SETS], nheld, k;
	uint32_t	 x = 2026;
	int		 step, i, j, want, bits = 0, tables = 0;

	memset(&d, 0, sizeof(d));
	memset(s, 0, sizeof(s));
	memset(in, 0, sizeof(in));
	memset(n, 0, sizeof(n));
	for (j = 0; j < MODEL_VALS; j++)	/* a third of them shared */
		val[j] = j < 200 ? (uint64_t)j : 0x9e3779b97f4a7c15ULL * j;
	for (i = 0; i < MODEL_SETS; i++)
		max[i] = s[i].max = i >= 6 ? 40 : 0;
	for (step = 0; step < 200000; step++) {
		x = x * 1103515245u + 12345u;
		i = (int)(x >> 8) % MODEL_SETS;
		j = (int)(x >> 16) % (step % 50000 < 25000 ? 250 : MODEL_VALS);
		k = (x >> 4) % 512;
		if (k == 0) {
			set_free(&d, &s[i]);
			s[i].max = max[i];
			memset(in[i], 0, sizeof(in[i]));
			n[i] = 0;
		} else if (k < 160)
			CHECK_INT(set_has(&d, &s[i], val[j]), in[i][j]);
		else {
			want = !in[i][j];
			if (want && (max[i] == 0 || n[i] < max[i] ||
			    val[j] == 0)) {
				in[i][j] = 1;
				n[i]++;
			}
			CHECK_INT(set_add(&d, &s[i], val[j]), want);
		}
		CHECK_INT(set_count(&s[i]), n[i]);
		bits += s[i].bits;
		tables += s[i].cap > 0 && !s[i].bits;
	}
	/* the dictionary holds what some set holds (0 is a flag) */
	for (nheld = 0, j = 1; j < MODEL_VALS; j++) {
		for (i = 0, k = 0; i < MODEL_SETS; i++)
			k += in[i][j];
		nheld += k > 0;
		CHECK_INT(dict_find(&d, val[j]) != 0, k > 0);
	}
	CHECK_INT(d.n, nheld);
	CHECK(bits > 0 && tables > 0);		/* both were tried */
	for (i = 0; i < MODEL_SETS; i++)
		set_free(&d, &s[i]);
	CHECK_INT(d.n, 0);
	dict_free(&d);
}

int
main(int argc, char *argv[])
{
	char	*dirs[1];

	if (argc != 2) {
		fprintf(stderr, "usage: t_incident RULESDIR\n");
		return 2;
	}
	setenv("TZ", "UTC", 1);
	log_init("t_incident", 0);
	dirs[0] = argv[1];
	if (rules_load(dirs, 1, &rs) == -1)
		return 2;
	snprintf(dir, sizeof(dir), "/tmp/t_incident.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 2;
	test_set();
	test_set_model();
	test_window();
	test_threshold();
	test_storm();
	test_stale_device();
	test_escalation();
	test_track_from();
	test_spraying();
	test_relay();
	test_backend();
	test_quiet();
	test_compromise();
	test_ignore();
	test_restart();
	test_refill();
	test_silent();
	test_owner_login();
	test_stale_fixed();
	test_attack61();
	test_times();
	test_exhaustion();
	test_group4();
	test_group6();
	test_network();
	test_budget();
	test_capacity();
	test_silent_fold();
	rules_free(rs);
	nftw(dir, check_rm, 8, FTW_DEPTH | FTW_PHYS);
	held_free(held);
	return check_done();
}
