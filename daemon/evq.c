/*
 * evq.c -- events handed from one thread to another, in order: scan
 * reads and matches the lines in its own thread while a second one
 * counts what they say (attribution, the engine, the store in memory),
 * each on one of the machine's cores.  Every event is packed into a
 * block (its numbers, then only the bytes its strings hold: an event of
 * a storm is about 200 bytes, not the 1.7 KB of struct sw_event), and a
 * full block goes to the counting thread, which unpacks the events and
 * hands them on one by one, in the order they were put.  A mark put
 * between two events is handed on between them too (scan commits there,
 * at the end of each source, as it does without the thread).  The
 * blocks are few and reused: a reader ahead of the counting waits for a
 * free one, so memory is bounded whatever the log.
 *
 * Nothing but the queue is shared: the thread that puts owns the feed
 * and the matcher, the one that takes owns whatever its callbacks touch,
 * until evq_end() has joined it.  Without a thread (evq_new() could not
 * start one, or SMTPWATCH_SCAN_THREAD=no) the caller counts in its own.
 */

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define EVQ_BLOCK	(128 * 1024)	/* bytes of a block */
#define EVQ_NBLOCKS	4		/* blocks: one filled, one read, two
					   waiting */

enum evq_tag {
	TAG_EVENT,
	TAG_MARK
};

#define EVQ_NSTR	8		/* strings of an event (evq_strs) */

/* What an event is packed as, before its strings' bytes. */
struct evq_head {
	time_t				 when;
	const struct sw_extract		*rule;
	const struct sw_diagnosis	*diag;
	size_t				 accountlen;
	pid_t				 pid;
	enum sw_kind			 kind;
	enum sw_dir			 dir;
	enum sw_mta			 mta;
	unsigned int			 flags, repeat;
	uint16_t			 len[EVQ_NSTR];
};

struct evq_block {
	size_t		 used;
	unsigned char	 buf[EVQ_BLOCK];
};

struct sw_evq {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 filled;	/* to the counting thread */
	pthread_cond_t	 freed;		/* to the reading thread */
	struct evq_block *full[EVQ_NBLOCKS];	/* a ring, oldest first */
	size_t		 head, nfull;
	struct evq_block *spare[EVQ_NBLOCKS];
	size_t		 nspare;
	struct evq_block *cur;		/* being filled */
	int		 done;		/* no more blocks come */
	sw_evq_event_cb	 event;
	sw_evq_mark_cb	 mark;
	void		*arg;
	struct sw_event	 ev;		/* the counting thread's */
};

/* The strings of an event, in the order they are packed, and their sizes. */
#define EVQ_STR(f)	{ offsetof(struct sw_event, f), \
			  sizeof(((struct sw_event *)NULL)->f) }
static const struct {
	size_t	 off, size;
} evq_strs[EVQ_NSTR] = {
	EVQ_STR(host), EVQ_STR(account), EVQ_STR(addr), EVQ_STR(name),
	EVQ_STR(relay), EVQ_STR(mech), EVQ_STR(reply), EVQ_STR(queue)
};

/*
 * The bytes of string i of ev that are packed: up to its NUL, and an
 * account's accountlen bytes (Exim's escapes can decode to a NUL).
 */
static size_t
evq_len(const struct sw_event *ev, int i)
{
	size_t	 size = evq_strs[i].size, n;

	n = strnlen((const char *)ev + evq_strs[i].off, size - 1);
	if (evq_strs[i].off == offsetof(struct sw_event, account) &&
	    ev->accountlen > n && ev->accountlen < size)
		n = ev->accountlen;
	return n;
}

/* Queues b for the counting thread; called with q->mu held. */
static void
evq_queue(struct sw_evq *q, struct evq_block *b)
{
	q->full[(q->head + q->nfull) % EVQ_NBLOCKS] = b;
	q->nfull++;
	pthread_cond_signal(&q->filled);
}

/* Hands the block being filled to the counting thread; takes a free one. */
static void
evq_push(struct sw_evq *q)
{
	pthread_mutex_lock(&q->mu);
	evq_queue(q, q->cur);
	while (q->nspare == 0)
		pthread_cond_wait(&q->freed, &q->mu);
	q->cur = q->spare[--q->nspare];
	pthread_mutex_unlock(&q->mu);
	q->cur->used = 0;
}

/* Room for n more bytes in the block being filled; their start. */
static unsigned char *
evq_room(struct sw_evq *q, size_t n)
{
	unsigned char	*p;

	if (q->cur->used + n > EVQ_BLOCK)
		evq_push(q);
	p = q->cur->buf + q->cur->used;
	q->cur->used += n;
	return p;
}

/* Puts ev after the events put before it. */
void
evq_put(struct sw_evq *q, const struct sw_event *ev)
{
	struct evq_head	 h;
	unsigned char	*p;
	size_t		 n = 1 + sizeof(h);
	int		 i;

	memset(&h, 0, sizeof(h));
	h.when = ev->when;
	h.rule = ev->rule;
	h.diag = ev->diag;
	h.accountlen = ev->accountlen;
	h.pid = ev->pid;
	h.kind = ev->kind;
	h.dir = ev->dir;
	h.mta = ev->mta;
	h.flags = ev->flags;
	h.repeat = ev->repeat;
	for (i = 0; i < EVQ_NSTR; i++)
		n += h.len[i] = (uint16_t)evq_len(ev, i);
	p = evq_room(q, n);
	*p++ = TAG_EVENT;
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	for (i = 0; i < EVQ_NSTR; i++) {
		memcpy(p, (const char *)ev + evq_strs[i].off, h.len[i]);
		p += h.len[i];
	}
}

/* Puts a mark: the mark callback runs after the events put before it. */
void
evq_mark(struct sw_evq *q)
{
	*evq_room(q, 1) = TAG_MARK;
}

/* Unpacks the event at p into q->ev; returns the bytes it took. */
static size_t
evq_unpack(struct sw_evq *q, const unsigned char *p)
{
	struct sw_event	*ev = &q->ev;
	struct evq_head	 h;
	size_t		 n = sizeof(h);
	char		*s;
	int		 i;

	memcpy(&h, p, sizeof(h));
	ev->when = h.when;
	ev->rule = h.rule;
	ev->diag = h.diag;
	ev->accountlen = h.accountlen;
	ev->pid = h.pid;
	ev->kind = h.kind;
	ev->dir = h.dir;
	ev->mta = h.mta;
	ev->flags = h.flags;
	ev->repeat = h.repeat;
	for (i = 0; i < EVQ_NSTR; i++) {
		s = (char *)ev + evq_strs[i].off;
		memcpy(s, p + n, h.len[i]);
		s[h.len[i]] = '\0';
		n += h.len[i];
	}
	return n;
}

/* Hands on what block b holds, in order. */
static void
evq_drain(struct sw_evq *q, const struct evq_block *b)
{
	size_t	 off = 0;

	while (off < b->used)
		if (b->buf[off++] == TAG_MARK)
			q->mark(q->arg);
		else {
			off += evq_unpack(q, b->buf + off);
			q->event(q->arg, &q->ev);
		}
}

/* The counting thread: blocks in the order they were filled. */
static void *
evq_main(void *arg)
{
	struct sw_evq		*q = arg;
	struct evq_block	*b;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (q->nfull == 0 && !q->done)
			pthread_cond_wait(&q->filled, &q->mu);
		if (q->nfull == 0) {
			pthread_mutex_unlock(&q->mu);
			return NULL;
		}
		b = q->full[q->head];
		q->head = (q->head + 1) % EVQ_NBLOCKS;
		q->nfull--;
		pthread_mutex_unlock(&q->mu);
		evq_drain(q, b);
		pthread_mutex_lock(&q->mu);
		q->spare[q->nspare++] = b;
		pthread_cond_signal(&q->freed);
		pthread_mutex_unlock(&q->mu);
	}
}

/* Frees q's blocks and locks; its thread is joined or never ran. */
static void
evq_free(struct sw_evq *q)
{
	size_t	 i;

	for (i = 0; i < q->nspare; i++)
		free(q->spare[i]);
	free(q->cur);
	pthread_cond_destroy(&q->freed);
	pthread_cond_destroy(&q->filled);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/*
 * A queue whose events go to event(arg, ev) and marks to mark(arg) in a
 * thread of its own (signals stay with the caller's).  NULL when the
 * thread cannot be started, or SMTPWATCH_SCAN_THREAD is "no": the
 * caller then calls them itself.
 */
struct sw_evq *
evq_new(sw_evq_event_cb event, sw_evq_mark_cb mark, void *arg)
{
	struct sw_evq	*q;
	const char	*env = getenv("SMTPWATCH_SCAN_THREAD");
	sigset_t	 all, old;
	int		 rc;

	if (env != NULL && strcmp(env, "no") == 0)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->event = event;
	q->mark = mark;
	q->arg = arg;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->filled, NULL);
	pthread_cond_init(&q->freed, NULL);
	q->cur = xmalloc(sizeof(*q->cur));
	q->cur->used = 0;
	while (q->nspare < EVQ_NBLOCKS - 1)
		q->spare[q->nspare++] = xmalloc(sizeof(*q->cur));
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&q->thread, NULL, evq_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_debug("scan: no thread to count in (%s)", strerror(rc));
		evq_free(q);
		return NULL;
	}
	return q;
}

/*
 * Hands on what is left, waits until every event and mark was handed
 * on, and frees q.
 */
void
evq_end(struct sw_evq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	if (q->cur->used > 0) {
		evq_queue(q, q->cur);
		q->cur = NULL;
	}
	q->done = 1;
	pthread_cond_signal(&q->filled);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	evq_free(q);
}
