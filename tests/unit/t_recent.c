/*
 * t_recent.c -- recent.c, the events a source counted lately: a journal
 * entry and rsyslog's line of it have one identity, and nothing else
 * does; an entry matches once, within the slack, oldest first; the ring
 * grows; the set knows how far back it is whole, through evictions by
 * number and by age; the hand-over's three answers, a set that lost its
 * last seconds counting rather than losing; merging; and the bytes a
 * checkpoint carries (its last seconds), damaged ones refused.
 */

#include "../../daemon/recent.c"

#include "check.h"

#define T0	1795838909		/* 2026-11-28T04:08:29Z */

/* The record of a whole line, as join.c makes it of one line. */
static uint64_t
line_id(const char *line)
{
	struct sw_clock		 ck;
	struct sw_record	 rec;

	clock_init(&ck, T0);
	memset(&rec, 0, sizeof(rec));
	if (parse_line(&ck, line, strlen(line), &rec.env) != 1)
		fatalx("parse_line: %s", line);
	rec.text = rec.env.msg;
	rec.len = rec.env.msglen;
	return recent_id(&rec);
}

static void
t_identity(void)
{
	const char	*msg = "warning: unknown[203.0.113.5]: SASL LOGIN "
	    "authentication failed: UGFzc3dvcmQ6, sasl_username=a@example.com";
	char		 j[512], f[512], other[512];
	uint64_t	 id;

	/* journal.c's line and rsyslog's, with an FQDN */
	snprintf(j, sizeof(j), "2026-11-28T04:08:29+00:00 mx1 "
	    "postfix/smtpd[4242]: %s", msg);
	snprintf(f, sizeof(f), "Nov 28 04:08:30 mx1.example.com "
	    "postfix/smtpd[4242]: %s", msg);
	id = line_id(j);
	CHECK(id != 0);
	CHECK_INT(line_id(f), id);
	snprintf(other, sizeof(other), "Nov 28 04:08:30 mx1 "
	    "postfix/smtpd[4243]: %s", msg);
	CHECK(line_id(other) != id);			/* another pid */
	snprintf(other, sizeof(other), "Nov 28 04:08:30 mx2 "
	    "postfix/smtpd[4242]: %s", msg);
	CHECK(line_id(other) != id);			/* another host */
	snprintf(other, sizeof(other), "Nov 28 04:08:30 mx1 "
	    "postfix/submission/smtpd[4242]: %s", msg);
	CHECK(line_id(other) != id);			/* another tag */
	snprintf(other, sizeof(other), "Nov 28 04:08:30 mx1 "
	    "postfix/smtpd[4242]: %s.", msg);
	CHECK(line_id(other) != id);			/* another text */
}

static void
t_take(void)
{
	struct sw_recent	*r = recent_new();

	recent_add(r, 7, T0);
	recent_add(r, 7, T0);			/* the same line twice */
	recent_add(r, 8, T0 + 1);
	CHECK_INT(recent_count(r), 3);
	CHECK_INT(recent_newest(r), T0 + 1);
	CHECK(!recent_take(r, 9, T0));		/* another identity */
	CHECK(!recent_take(r, 7, T0 + SW_RECENT_SLACK + 1));	/* too late */
	CHECK(!recent_take(r, 7, T0 - SW_RECENT_SLACK - 1));	/* too early */
	CHECK(recent_take(r, 7, T0 + SW_RECENT_SLACK));
	CHECK(recent_take(r, 7, T0 - SW_RECENT_SLACK));
	CHECK(!recent_take(r, 7, T0));		/* each entry once */
	CHECK_INT(recent_count(r), 1);
	CHECK(recent_take(r, 8, T0));
	CHECK_INT(recent_count(r), 0);
	/* identity 0 stands for 1, never for "matched" */
	recent_add(r, 0, T0);
	CHECK(recent_take(r, 1, T0));
	recent_free(r);
}

/* The oldest of the entries that match is taken first. */
static void
t_oldest(void)
{
	struct sw_recent	*r = recent_new();

	recent_add(r, 5, T0);
	recent_add(r, 5, T0 + 8);
	CHECK(recent_take(r, 5, T0 + 4));	/* both within the slack */
	CHECK(!recent_take(r, 5, T0 - 3));	/* the one at T0 went */
	CHECK(recent_take(r, 5, T0 + 8));
	recent_free(r);
}

/* Identities of one bucket: each found, each taken out alone. */
static void
t_buckets(void)
{
	struct sw_recent	*r = recent_new();
	uint64_t		 i;

	for (i = 1; i <= 20; i++)
		recent_add(r, i * RECENT_BUCKETS + 3, T0);
	CHECK(recent_take(r, 10 * RECENT_BUCKETS + 3, T0));
	CHECK(!recent_take(r, 10 * RECENT_BUCKETS + 3, T0));
	for (i = 1; i <= 20; i++)
		if (i != 10)
			CHECK(recent_take(r, i * RECENT_BUCKETS + 3, T0));
	CHECK_INT(recent_count(r), 0);
	recent_free(r);
}

/* The ring grows from a few hundred slots, matched entries dropped. */
static void
t_grow(void)
{
	struct sw_recent	*r = recent_new();
	uint64_t		 i;

	for (i = 1; i <= 3000; i++) {
		recent_add(r, i, T0 + (time_t)(i / 100));
		if (i % 3 == 0)
			CHECK(recent_take(r, i, T0 + (time_t)(i / 100)));
	}
	CHECK_INT(recent_count(r), 2000);
	CHECK_INT(r->from, 0);
	for (i = 1; i <= 3000; i++)
		CHECK_INT(recent_take(r, i, T0 + (time_t)(i / 100)),
		    i % 3 != 0);
	CHECK_INT(recent_count(r), 0);
	recent_free(r);
}

/* Evicted unmatched entries move the bound; matched ones do not. */
static void
t_evict(void)
{
	struct sw_recent	*r = recent_new();
	uint64_t		 i;

	CHECK_INT(recent_handover(r, 1, T0 - 100), RECENT_PAST);
	for (i = 0; i < SW_RECENT_MAX; i++)
		recent_add(r, 100 + i, T0);
	CHECK(recent_take(r, 100, T0));		/* the oldest, matched */
	recent_add(r, 99, T0 + 1);		/* evicts it: bound stays */
	CHECK_INT(r->from, 0);
	recent_add(r, 98, T0 + 2);		/* evicts 101: bound T0 */
	CHECK_INT(r->from, T0);
	CHECK_INT(recent_count(r), SW_RECENT_MAX);
	CHECK(!recent_take(r, 101, T0));
	CHECK(recent_take(r, 98, T0 + 2));
	recent_free(r);

	/* by age: a record SW_RECENT_HOLD s later */
	r = recent_new();
	recent_add(r, 1, T0);
	recent_add(r, 2, T0 + 5);
	recent_read(r, T0 + SW_RECENT_HOLD + 1);
	CHECK_INT(recent_count(r), 1);
	CHECK_INT(r->from, T0);
	CHECK_INT(recent_newest(r), T0 + SW_RECENT_HOLD + 1);
	recent_read(r, T0);			/* an older one: no change */
	CHECK_INT(recent_newest(r), T0 + SW_RECENT_HOLD + 1);
	recent_free(r);
}

/*
 * The hand-over: a matched event was counted; an unmatched one after
 * the bound was not; one before it may have been; one later than all
 * the source read is past.
 */
static void
t_handover(void)
{
	struct sw_recent	*r = recent_new();

	recent_forget(r, T0);			/* counted before, unknown */
	recent_add(r, 1, T0 + 20);
	recent_add(r, 2, T0 + 30);
	recent_read(r, T0 + 40);		/* a record, no event */
	CHECK_INT(recent_handover(r, 1, T0 + 21), RECENT_SKIP);
	CHECK_INT(recent_handover(r, 1, T0 + 21), RECENT_COUNT);
	CHECK_INT(recent_handover(r, 3, T0 + 25), RECENT_COUNT);
	CHECK_INT(recent_handover(r, 3, T0 + SW_RECENT_SLACK), RECENT_SKIP);
	CHECK_INT(recent_handover(r, 3, T0 - 1000), RECENT_SKIP);
	CHECK_INT(recent_handover(r, 2, T0 + 40 + SW_RECENT_SLACK),
	    RECENT_COUNT);			/* too far from its entry */
	CHECK_INT(recent_handover(r, 2, T0 + 35), RECENT_SKIP);
	CHECK_INT(recent_handover(r, 3, T0 + 41 + SW_RECENT_SLACK),
	    RECENT_PAST);
	recent_free(r);

	/* whole only since its last record (a storm): later is counted */
	r = recent_new();
	recent_forget(r, T0 + 40);
	CHECK_INT(recent_handover(r, 3, T0 + 40), RECENT_SKIP);
	CHECK_INT(recent_handover(r, 3, T0 + 41), RECENT_COUNT);
	CHECK_INT(recent_handover(r, 3, T0 + 40 + SW_RECENT_SLACK),
	    RECENT_COUNT);
	recent_free(r);

	/* a source that never counted anything: everything is new */
	r = recent_new();
	recent_read(r, T0);
	CHECK_INT(recent_handover(r, 3, T0 - 1000), RECENT_COUNT);
	CHECK_INT(recent_handover(r, 3, T0), RECENT_COUNT);
	recent_free(r);
}

static void
t_merge(void)
{
	struct sw_recent	*a = recent_new(), *b = recent_new(), *c;

	recent_add(a, 1, T0);
	recent_add(a, 2, T0 + 1);
	CHECK(recent_take(a, 2, T0 + 1));	/* matched: not merged */
	recent_forget(b, T0 - 5);
	recent_add(b, 3, T0 + 2);
	c = recent_new();
	recent_merge(c, a);
	recent_merge(c, b);
	CHECK_INT(recent_count(c), 2);
	CHECK_INT(c->from, T0 - 5);
	CHECK_INT(recent_newest(c), T0 + 2);
	CHECK(recent_take(c, 1, T0));
	CHECK(!recent_take(c, 2, T0 + 1));
	CHECK(recent_take(c, 3, T0 + 2));
	CHECK_INT(recent_count(b), 1);		/* the sources keep theirs */
	recent_free(c);
	c = recent_copy(b);
	CHECK(recent_take(c, 3, T0 + 2));
	CHECK_INT(recent_count(b), 1);
	recent_free(a);
	recent_free(b);
	recent_free(c);
}

static void
t_bytes(void)
{
	struct sw_recent	*r = recent_new(), *l = recent_new();
	unsigned char		*buf;
	size_t			 n;
	uint64_t		 i;

	recent_forget(r, T0 - 3);
	for (i = 1; i <= 50; i++)
		recent_add(r, i, T0 + (time_t)(i % 7));
	recent_add(r, 7, T0);
	CHECK(recent_take(r, 5, T0 + 5));
	n = recent_save(r, &buf);
	CHECK(recent_load(l, buf, n) == 0);
	CHECK_INT(recent_count(l), 50);
	CHECK_INT(l->from, T0 - 3);
	CHECK_INT(recent_newest(l), T0 + 6);
	CHECK(!recent_take(l, 5, T0 + 5));
	CHECK(recent_take(l, 7, T0 + 0));
	CHECK(recent_take(l, 7, T0 + 0));	/* twice, as added */
	CHECK(recent_take(l, 50, T0 + 1));
	/* damaged: refused, the set left as it was */
	CHECK(recent_load(l, buf, n - 1) == -1);
	buf[0] = 'X';
	CHECK(recent_load(l, buf, n) == -1);
	CHECK(recent_load(l, buf, 3) == -1);
	CHECK_INT(recent_count(l), 47);
	free(buf);
	recent_free(r);
	/* only the last RECENT_KEEP seconds are saved; older ones move from */
	r = recent_new();
	recent_add(r, 1, T0);
	recent_add(r, 2, T0 + 1);
	CHECK(recent_take(r, 2, T0 + 1));	/* matched: moves nothing */
	recent_add(r, 3, T0 + 5 + RECENT_KEEP);
	n = recent_save(r, &buf);
	CHECK(recent_load(l, buf, n) == 0);
	CHECK_INT(recent_count(l), 1);
	CHECK_INT(l->from, T0);
	CHECK(recent_take(l, 3, T0 + 5 + RECENT_KEEP));
	free(buf);
	recent_free(r);
	r = recent_new();
	n = recent_save(r, &buf);		/* empty: the header only */
	CHECK_INT(n, 24);
	CHECK(recent_load(l, buf, n) == 0);
	CHECK_INT(recent_count(l), 0);
	CHECK_INT(recent_handover(l, 1, T0), RECENT_PAST);
	free(buf);
	recent_free(r);
	recent_free(l);
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	log_init("t_recent", 0);
	t_identity();
	t_take();
	t_oldest();
	t_buckets();
	t_grow();
	t_evict();
	t_handover();
	t_merge();
	t_bytes();
	return check_done();
}
