/*
 * smtpwatchd.c -- the daemon's main(): options, configuration, the libev
 * loop and its watchers, and the wiring of the stages.  tail.c reads the
 * logs, feed.c turns their lines into events, count.c counts each (the
 * same way smtpwatchctl scan does), and store.c commits them in batches
 * together with each source's checkpoint.
 *
 * The loop: the inotify descriptor wakes tails_inotify(); an idle watcher
 * reads in bounded slices while data is waiting, so a backlog never
 * starves the signals and timers; a batch is committed when the input is
 * drained, when it holds batch-events events, or batch-interval after
 * its first event; an alert commits it at once, except in a backlog
 * (sw_event).  A failed commit keeps the batch and stops reading
 * until a retry succeeds: the logs themselves hold what comes next.
 * Alerts are written after the batch that decided them is committed,
 * never before (sw_commit): the engine hands them to an outbox that is
 * committed with the batch.
 *
 * control.c serves the control socket; the commands it hands on (status,
 * reset, reload) are answered here, between two turns of the loop.
 *
 * The sources (conf_sources()): with journal auto the system journal is
 * read only while none of the logs exists.  A log that begins while the
 * journal is read takes over (sw_to_files): the journal is read to its
 * end and stops, the log is read from its start, skipping the events
 * the journal counted (feed_handover, recent.c).  When every log has
 * been gone for GONE_POLLS poll intervals the journal takes over again
 * (sw_to_journal), from just before the last line read from them.  With
 * journal yes both are read and a line in both counts once (feed_peers),
 * both kept within PACE seconds of each other while catching up.
 */

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "smtpwatch.h"

#define READ_SLICE	(256 * 1024)	/* bytes read per loop iteration */
#define JOURNAL_SLICE	1024		/* journal entries per iteration */
#define RETRY_MIN	1.0		/* seconds before a failed commit ... */
#define RETRY_MAX	30.0		/* ... is tried again, doubling */
#define EXPIRE_EVERY	3600.0		/* retention runs hourly */
#define STOP_TRIES	5		/* commits tried on the way out */
#define GONE_POLLS	3		/* poll intervals every log is gone */
#define PACE		(SW_RECENT_HOLD / 2)	/* seconds one source may
					   read ahead of the other */

struct smtpwatch {
	struct ev_loop		*loop;
	const char		*conffile;
	int			 given;		/* -f was given */
	char		       **rules;		/* --rules, overriding conf */
	size_t			 nrules;
	struct sw_conf		*conf;
	struct sw_rules		*rs;
	struct sw_store		*store;
	struct sw_count		*count;		/* attribution, store, engine */
	struct sw_engine	*engine;	/* count's */
	struct sw_outbox	*outbox;	/* its entries, until committed */
	struct sw_tails		*tails;
	struct sw_feed	       **feeds;
	struct sw_tail	       **tailv;	/* the tail of each feed */
	size_t			 nfeeds;
	struct sw_journal	*journal;	/* NULL: not read */
	struct sw_feed		*jfeed;		/* the journal's feed */
	time_t			 jcaught;	/* the journal had no backlog */
	enum sw_srcmode		 mode;		/* conf_sources() */
	int			 opening;	/* sw_sources_open() runs */
	double			 gone;		/* ev_now() since no log exists;
					   -1: no journal to read */
	int			 fmore, jmore;	/* the last slice left data */
	ev_io			 inotify_w, journal_w;
	ev_idle			 read_w;
	ev_timer		 batch_w, poll_w, retry_w, dog_w, tick_w;
	ev_signal		 term_w, int_w, hup_w;
	struct sw_control	*ctl;		/* NULL: no control socket */
	struct sw_hook		*hook;		/* alert-exec */
	struct sw_relaynote	*relaynote;	/* relay-check; made at need */
	time_t			*caughtat;	/* each feed: last had no lag */
	time_t			 started;	/* wall clock */
	time_t			 committed;	/* the last commit that wrote */
	unsigned long long	 batches, commit_errors;
	unsigned long long	 lines, events;	/* of sources closed (reload) */
	unsigned long		 alerts;	/* of engines freed (reload) */
	unsigned long		 folded_entries, folded_incidents;	/* ... */
	unsigned long long	 failures[SW_DIR_NDIRS];	/* since start */
	unsigned long long	 successes[SW_DIR_NDIRS];
	unsigned long long	 opened[SW_INC_NKINDS];	/* of engines freed */
	int			 failing;	/* the last commit failed */
	double			 retry;		/* seconds until the next try */
	time_t			 expired;	/* last retention run */
	long long		 today;		/* failures since midnight */
	time_t			 midnight;
	long long		 uncommitted;	/* failures in the batch */
	int			 backlog;	/* the last slice left data */
};

static void	sw_start_reading(struct smtpwatch *);
static void	sw_file_begins(void *, struct sw_feed *);
static void	sw_gone_check(struct smtpwatch *);

/* The usage: on stdout for --help (exit 0), else on stderr (exit 1). */
static void __attribute__((noreturn))
usage(int rc)
{
	fprintf(rc == 0 ? stdout : stderr, "usage: smtpwatchd [-dn] "
	    "[-f CONFIG] [--rules DIR]\n       smtpwatchd --help | --version\n");
	exit(rc);
}

/* Loads the configuration and the rules; 0, or -1 after reporting. */
static int
sw_load(struct smtpwatch *sw, struct sw_conf **confp, struct sw_rules **rsp)
{
	struct sw_conf	*conf;
	int		 rc;

	if (conf_load(sw->conffile, sw->given, &conf) == -1)
		return -1;
	rules_nojit = !conf->jit;
	conf->store.ckthread = 1;	/* the loop never waits for fsync */
	rc = sw->nrules > 0 ? rules_load(sw->rules, sw->nrules, rsp) :
	    rules_load(conf->rules, conf->nrules, rsp);
	if (rc == -1) {
		conf_free(conf);
		return -1;
	}
	rules_log_replaced(*rsp);
	*confp = conf;
	return 0;
}

/*
 * The engine decided an entry: it waits in the outbox for the commit.
 * A relay's refusal on this host carries what its MTA's configuration
 * shows (relay-check).
 */
static void
sw_alert(void *arg, const struct sw_alert *a)
{
	struct smtpwatch	*sw = arg;
	struct sw_alert		 b;

	if (a->kind != SW_AL_RELAY_REJECTED || !sw->conf->relay_check) {
		outbox_add(sw->outbox, a);
		return;
	}
	if (sw->relaynote == NULL)
		sw->relaynote = relaynote_new();
	b = *a;
	b.local = relaynote_find(sw->relaynote, a->inc->host,
	    a->inc->subject, a->inc->subjectlen);
	outbox_add(sw->outbox, &b);
}

/*
 * feed.c calls this for every event.  An alert decided for it makes the
 * batch commit at once, and the alert is written right after.  Not in a
 * backlog: there a storm alerts in every slice, and a commit per slice
 * was 60 % of the catch-up's time; the batch then commits when full or
 * batch-interval after its first event, and its alerts wait until then.
 */
static void
sw_event(void *arg, const struct sw_event *evp)
{
	struct smtpwatch	*sw = arg;
	size_t			 queued = outbox_count(sw->outbox);

	count_event(sw->count, evp);
	if (evp->kind == SW_EV_FAILURE)
		sw->uncommitted++;
	if (evp->kind == SW_EV_FAILURE && evp->dir < SW_DIR_NDIRS)
		sw->failures[evp->dir]++;
	else if (evp->kind == SW_EV_SUCCESS && evp->dir < SW_DIR_NDIRS)
		sw->successes[evp->dir]++;
	if (outbox_count(sw->outbox) != queued && !sw->backlog) {
		ev_timer_stop(sw->loop, &sw->batch_w);
		ev_timer_set(&sw->batch_w, 0., 0.);
		ev_timer_start(sw->loop, &sw->batch_w);
	} else if (!ev_is_active(&sw->batch_w)) {
		ev_timer_set(&sw->batch_w, sw->conf->batch_ms / 1000.0, 0.);
		ev_timer_start(sw->loop, &sw->batch_w);
	}
}

/* Local midnight of today, for "failures today". */
static time_t
sw_midnight(time_t now)
{
	struct tm	 tm;

	localtime_r(&now, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

/* The STATUS= line: files, lag, failures today. */
static void
sw_status(struct smtpwatch *sw)
{
	struct sw_tail_stat	 ts;
	unsigned long long	 lag = 0;
	size_t			 i, open = 0;

	for (i = 0; i < sw->nfeeds; i++) {
		tail_stat(sw->tailv[i], &ts);
		if (ts.open)
			open++;
		if (ts.size > ts.offset && tail_alias(sw->tailv[i]) == NULL)
			lag += ts.size - ts.offset;	/* an alias's is its
							   reader's */
	}
	notify_status("%zu of %zu logs open%s%s, lag %llu B, %lld failures "
	    "today", open, sw->nfeeds, tails_polled(sw->tails) > 0 ?
	    " (some polled)" : "", sw->journal != NULL ? ", the journal" : "",
	    lag, sw->today);
}

/*
 * The fingerprint grows with a file that was short when opened: take the
 * tail's current one when it is still the same file.
 */
static void
sw_fingerprint(const struct sw_tail *t, struct sw_checkpoint *cp)
{
	struct sw_fileid	 id;

	if (t != NULL && tail_fileid(t, &id) == 0 && id.dev == cp->id.dev &&
	    id.ino == cp->id.ino && id.fplen > cp->id.fplen)
		cp->id = id;
}

/*
 * Adds each feed's position to the batch, where it moved.  A log that
 * is another's alias (one file under several paths, tail.c) stands
 * where that one does: its position is that one's, under its own name,
 * so that it resumes there, also when that one is no longer configured.
 */
static void
sw_positions(struct smtpwatch *sw)
{
	struct sw_checkpoint	 cp;
	struct sw_feed		*r;
	size_t			 i;

	for (i = 0; i < sw->nfeeds; i++) {
		if (tail_alias(sw->tailv[i]) != NULL ||
		    !feed_changed(sw->feeds[i]))
			continue;
		memset(&cp, 0, sizeof(cp));
		if (feed_checkpoint(sw->feeds[i], &cp) == 0) {
			sw_fingerprint(sw->tailv[i], &cp);
			store_position(sw->store, &cp);
		}
		checkpoint_clear(&cp);
	}
	for (i = 0; i < sw->nfeeds; i++) {	/* after their readers' */
		if ((r = tail_alias(sw->tailv[i])) == NULL)
			continue;
		memset(&cp, 0, sizeof(cp));
		if (feed_checkpoint(r, &cp) == 0) {
			free(cp.source);
			cp.source = xstrdup(feed_source(sw->feeds[i]));
			sw_fingerprint(sw->tailv[i], &cp);
			store_position(sw->store, &cp);
		}
		checkpoint_clear(&cp);
	}
	if (sw->jfeed == NULL || !feed_changed(sw->jfeed))
		return;
	memset(&cp, 0, sizeof(cp));
	if (feed_checkpoint(sw->jfeed, &cp) == 0) {
		journal_position(sw->journal, &cp);
		store_position(sw->store, &cp);
	}
	checkpoint_clear(&cp);
}

/*
 * Retention, when nothing is batched: once the backlog read at start is
 * read (the store keeps what it wrote: store_caught_up()), then hourly.
 * The store expires by the log's time; the clock only paces it.  Then
 * the memory a backlog or a storm used and freed goes back to the
 * system (glibc keeps it otherwise: storm-1m's catch-up left 26.7 MB of
 * private memory, 19.1 MB with this).
 */
static void
sw_expire(struct smtpwatch *sw, time_t now)
{
	if (!ev_is_active(&sw->read_w) && store_caught_up(sw->store))
		sw->expired = 0;
	if ((now - sw->expired < EXPIRE_EVERY && now >= sw->expired) ||
	    store_batched(sw->store) > 0)
		return;
	sw->expired = now;
	(void)store_expire(sw->store, now);
	if (sw->count != NULL)
		count_watch(sw->count);	/* relays retention removed */
	store_shrink(sw->store);
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

static void
sw_counted(struct smtpwatch *sw, time_t now)
{
	if (now >= sw->midnight + 86400 || now < sw->midnight) {
		sw->midnight = sw_midnight(now);
		sw->today = store_failures_since(sw->store, sw->midnight);
		if (sw->today < 0)
			sw->today = 0;
	} else
		sw->today += sw->uncommitted;
	sw->uncommitted = 0;
}

/*
 * Commits the batch with every source's position and the alerts not
 * yet written (the outbox's row).  On failure the batch stays, reading
 * stops and a retry is scheduled; returns 0 or -1.
 */
static int
sw_commit_batch(struct smtpwatch *sw)
{
	struct sw_checkpoint	 cp;
	time_t			 now = time(NULL);
	int			 pending;

	ev_timer_stop(sw->loop, &sw->batch_w);
	sw_positions(sw);
	if (outbox_position(sw->outbox, &cp)) {
		store_position(sw->store, &cp);
		checkpoint_clear(&cp);
	}
	engine_save(sw->engine);
	pending = store_pending(sw->store);
	if (store_write(sw->store) == -1) {
		sw->commit_errors++;
		if (!sw->failing)
			sw->retry = RETRY_MIN;
		else if ((sw->retry *= 2) > RETRY_MAX)
			sw->retry = RETRY_MAX;
		sw->failing = 1;
		ev_idle_stop(sw->loop, &sw->read_w);
		ev_timer_set(&sw->retry_w, sw->retry, 0.);
		ev_timer_start(sw->loop, &sw->retry_w);
		return -1;
	}
	outbox_committed(sw->outbox);
	if (pending) {
		sw->batches++;
		sw->committed = now;
	}
	sw_counted(sw, now);
	if (sw->failing) {
		sw->failing = 0;
		sw_start_reading(sw);
	}
	sw_status(sw);
	return 0;
}

/*
 * Commits the batch, then writes the alerts it decided, then commits
 * again to say so (the outbox's row emptied).  A failed commit writes
 * nothing: the batch and its alerts wait for the retry.  A crash
 * between the writing and the second commit writes those alerts again
 * at the next start, a crash before the writing writes them then: an
 * alert is written after its batch is committed, and never lost.
 * What may take a while comes after the alerts: the store's roll-up,
 * folding and checkpoint (store_tidy()), then retention (sw_expire()).
 * Returns 0, or -1 when the batch was not committed.
 */
static void
sw_hook(void *arg, const struct iovec *iov, size_t n)
{
	struct smtpwatch	*sw = arg;

	hook_alert(sw->hook, iov, n);
}

static int
sw_commit(struct smtpwatch *sw)
{
	if (sw_commit_batch(sw) == -1)
		return -1;
	if (outbox_send(sw->outbox, sw_hook, sw) > 0)
		(void)sw_commit_batch(sw);	/* or by the retry */
	store_tidy(sw->store);
	sw_expire(sw, time(NULL));
	return 0;
}

/* Notes the time of each source that has nothing left to read. */
static void
sw_caught_up(struct smtpwatch *sw, time_t now)
{
	struct sw_tail_stat	 ts;
	size_t			 i;

	for (i = 0; i < sw->nfeeds; i++) {
		tail_stat(sw->tailv[i], &ts);
		if (!ts.open || ts.offset >= ts.size)
			sw->caughtat[i] = now;
	}
}

/*
 * Both read, both behind: the one more than PACE seconds ahead of the
 * other (by the time of the lines read) waits, so that each finds the
 * other's copies of its lines among the events recent.c remembers.
 */
static void
sw_pace(struct smtpwatch *sw, int *holdf, int *holdj)
{
	struct sw_feed_stat	 fs;
	time_t			 ft = 0;
	size_t			 i;

	*holdf = *holdj = 0;
	if (sw->mode != SW_SRC_BOTH || sw->jfeed == NULL || !sw->fmore ||
	    !sw->jmore)
		return;
	for (i = 0; i < sw->nfeeds; i++) {
		feed_stat(sw->feeds[i], &fs);
		if (fs.newest > ft)
			ft = fs.newest;
	}
	feed_stat(sw->jfeed, &fs);
	if (ft == 0 || fs.newest == 0)
		return;
	*holdf = ft > fs.newest + PACE;
	*holdj = fs.newest > ft + PACE;
}

/* Reads a slice; commits when drained or when the batch is full. */
static void
read_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct smtpwatch	*sw = w->data;
	int			 more, holdf, holdj;

	(void)revents;
	if (sw->failing) {
		ev_idle_stop(loop, w);
		return;
	}
	sw_pace(sw, &holdf, &holdj);
	if (!holdf)
		sw->fmore = tails_run(sw->tails, READ_SLICE);
	if (sw->journal == NULL)
		sw->jmore = 0;
	else if (!holdj && !(sw->jmore = journal_run(sw->journal,
	    JOURNAL_SLICE)))
		sw->jcaught = time(NULL);
	more = sw->fmore || sw->jmore;
	sw_caught_up(sw, time(NULL));
	sw->backlog = more;
	if (!more) {
		ev_idle_stop(loop, w);
		/* read to the end: what is quiet closes now, as in scan */
		(void)engine_tick(sw->engine, time(NULL));
	}
	if (!more || store_full(sw->store, sw->conf->batch_events))
		(void)sw_commit(sw);
}

static void
sw_start_reading(struct smtpwatch *sw)
{
	if (!sw->failing)
		ev_idle_start(sw->loop, &sw->read_w);
}

static void
inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtpwatch	*sw = w->data;

	(void)loop;
	(void)revents;
	tails_inotify(sw->tails);
	sw_start_reading(sw);
}

static void
journal_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtpwatch	*sw = w->data;

	(void)loop;
	(void)revents;
	journal_process(sw->journal);
	sw_start_reading(sw);
}

static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpwatch	*sw = w->data;

	(void)loop;
	(void)revents;
	tails_poll(sw->tails);
	sw_gone_check(sw);
	sw_start_reading(sw);
}

static void
batch_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	(void)sw_commit(w->data);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	(void)sw_commit(w->data);
}

static void
dog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	notify_watchdog();
}

/* Once a second: records held too long by join.c are handed on. */
static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtpwatch	*sw = w->data;
	time_t			 now = time(NULL);
	size_t			 i;

	(void)loop;
	(void)revents;
	for (i = 0; i < sw->nfeeds; i++)
		feed_idle(sw->feeds[i], now);
	if (sw->jfeed != NULL)
		feed_idle(sw->jfeed, now);
	sw_caught_up(sw, now);
	/*
	 * The wall clock moves alert time on only when nothing is waiting.
	 * Alerts a tick decided (a minute's summary) are committed soon;
	 * while commits fail, the retry does it.
	 */
	if ((engine_tick(sw->engine, ev_is_active(&sw->read_w) ? 0 : now) ||
	    (outbox_count(sw->outbox) > 0 && !sw->failing)) &&
	    !ev_is_active(&sw->batch_w)) {
		ev_timer_set(&sw->batch_w, 0., 0.);
		ev_timer_start(sw->loop, &sw->batch_w);
	}
}

/* A time as the journal's lines have it (UTC), for the switch messages. */
static void
sw_stamp(time_t t, char *buf, size_t size)
{
	struct tm	 tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, size, "none");
	else
		strftime(buf, size, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

/* Whether one of the logs exists (journal auto reads them then). */
static int
sw_logs_exist(const struct smtpwatch *sw)
{
	struct stat	 st;
	size_t		 i;

	for (i = 0; i < sw->conf->nlogs; i++)
		if (stat(sw->conf->logs[i], &st) == 0)
			return 1;
	return 0;
}

/*
 * Opens the journal and its feed.  Without since, it resumes from its
 * committed checkpoint (from its end when that is of a journal retired
 * by a hand-over: the logs counted what came after); with since (a
 * hand-over from the logs), it is read from SW_RECENT_SLACK seconds
 * before since, skipping the events given (which may be NULL) and taking
 * matcher's memory of repeats.  A journal that cannot be opened is
 * reported and left out; returns -1 only when the store cannot say.
 */
static int
sw_journal_open(struct smtpwatch *sw, const struct sw_recent *given,
    const struct sw_feed *matcher, time_t since)
{
	struct sw_checkpoint	 cp;
	const struct sw_checkpoint *from = NULL;
	char			*source;
	uint64_t		 usec = 0;
	int			 rc, atend;

	if (journal_open(sw->conf->journal_dir, &sw->journal) == -1)
		return 0;
	source = journal_source(sw->conf->journal_dir);
	memset(&cp, 0, sizeof(cp));
	if ((rc = store_load(sw->store, source, &cp)) == -1) {
		free(source);
		journal_free(sw->journal);
		sw->journal = NULL;
		return -1;
	}
	atend = sw->conf->startat == SW_START_END;
	if (rc == 1 && feed_cp_retired(&cp))
		atend = 1;
	else if (rc == 1 && since == 0)
		from = &cp;
	sw->jfeed = feed_new(source, sw->rs, &sw->conf->match, from, sw_event,
	    sw);
	if (sw->mode != SW_SRC_JOURNAL)
		feed_keep(sw->jfeed);
	if (given != NULL)
		feed_handover(sw->jfeed, given, matcher);
	if (from != NULL && from->cursor == NULL)	/* a hand-over, */
		since = feed_handover_time(sw->jfeed);	/* nothing read */
	if (since > SW_RECENT_SLACK)
		usec = (uint64_t)(since - SW_RECENT_SLACK) * 1000000;
	journal_start(sw->journal, from, atend, usec, &feed_tail_cb,
	    sw->jfeed);
	checkpoint_clear(&cp);
	free(source);
	sw->jcaught = time(NULL);
	sw->jmore = 1;
	ev_io_set(&sw->journal_w, journal_fd(sw->journal), EV_READ);
	ev_io_start(sw->loop, &sw->journal_w);
	return 0;
}

/*
 * Closes the journal and its feed, their counters kept.  retire: it
 * stopped for a log, and its checkpoint says so, to be committed with
 * the log's first.
 */
static void
sw_journal_close(struct smtpwatch *sw, int retire)
{
	struct sw_checkpoint	 cp;
	struct sw_feed_stat	 fs;
	struct sw_journal_stat	 js;

	if (sw->jfeed == NULL)
		return;
	if (retire) {
		feed_retire(sw->jfeed);
		memset(&cp, 0, sizeof(cp));
		if (feed_checkpoint(sw->jfeed, &cp) == 0) {
			journal_position(sw->journal, &cp);
			store_position(sw->store, &cp);
		}
		checkpoint_clear(&cp);
	}
	feed_stat(sw->jfeed, &fs);
	journal_stat(sw->journal, &js);
	sw->lines += js.lines;
	sw->events += fs.events;
	ev_io_stop(sw->loop, &sw->journal_w);
	journal_free(sw->journal);
	feed_free(sw->jfeed);
	sw->journal = NULL;
	sw->jfeed = NULL;
	sw->jmore = 0;
}

/*
 * A feed for every log, resuming from its committed checkpoint, loaded
 * into cps (NULL: fresh feeds, no checkpoint).  Returns 0, or -1 when
 * the store cannot say.
 */
static int
sw_feeds_new(struct smtpwatch *sw, struct sw_checkpoint *cps)
{
	struct sw_feed	*f;
	const char	*path;
	size_t		 i, n = sw->conf->nlogs;
	int		 rc = 0;

	sw->feeds = xcalloc(n > 0 ? n : 1, sizeof(*sw->feeds));
	sw->tailv = xcalloc(n > 0 ? n : 1, sizeof(*sw->tailv));
	sw->caughtat = xcalloc(n > 0 ? n : 1, sizeof(*sw->caughtat));
	for (i = 0; i < n; i++) {
		path = sw->conf->logs[i];
		if (cps != NULL &&
		    (rc = store_load(sw->store, path, &cps[i])) == -1)
			return -1;
		f = feed_new(path, sw->rs, &sw->conf->match, rc == 1 ?
		    &cps[i] : NULL, sw_event, sw);
		if (sw->mode == SW_SRC_BOTH || sw->mode == SW_SRC_SWITCH)
			feed_keep(f);
		if (sw->mode == SW_SRC_SWITCH)
			feed_on_begin(f, sw_file_begins, sw);
		sw->feeds[sw->nfeeds++] = f;
	}
	return 0;
}

/*
 * A tail for every log: from its checkpoint in cps when it is not one of
 * a log retired by a hand-over, else from its end when fromend and it
 * exists, else from its start.
 */
static void
sw_tails_open(struct smtpwatch *sw, const struct sw_checkpoint *cps,
    int fromend)
{
	const struct sw_checkpoint	*cp;
	size_t				 i;

	sw->tails = tails_new(&feed_tail_cb);
	for (i = 0; i < sw->nfeeds; i++) {
		cp = cps != NULL && cps[i].source != NULL &&
		    !feed_cp_retired(&cps[i]) ? &cps[i] : NULL;
		sw->caughtat[i] = time(NULL);
		sw->tailv[i] = tail_add(sw->tails, sw->conf->logs[i],
		    sw->feeds[i], cp, fromend);
	}
	sw->fmore = 1;
	if (tails_fd(sw->tails) != -1) {
		ev_io_set(&sw->inotify_w, tails_fd(sw->tails), EV_READ);
		ev_io_start(sw->loop, &sw->inotify_w);
	}
}

/* Frees the tails and the feeds of the logs, their counters kept. */
static void
sw_tails_close(struct smtpwatch *sw)
{
	struct sw_tail_stat	 ts;
	struct sw_feed_stat	 fs;
	size_t			 i;

	for (i = 0; i < sw->nfeeds; i++) {	/* the counters run on */
		if (sw->tailv[i] != NULL) {
			tail_stat(sw->tailv[i], &ts);
			sw->lines += ts.lines;
		}
		feed_stat(sw->feeds[i], &fs);
		sw->events += fs.events;
	}
	ev_io_stop(sw->loop, &sw->inotify_w);
	tails_free(sw->tails);
	sw->tails = NULL;
	for (i = 0; i < sw->nfeeds; i++)
		feed_free(sw->feeds[i]);
	free(sw->feeds);
	free(sw->tailv);
	free(sw->caughtat);
	sw->feeds = NULL;
	sw->tailv = NULL;
	sw->caughtat = NULL;
	sw->nfeeds = 0;
	sw->fmore = 0;
}

/*
 * The log's feed stops for the journal; its checkpoint says so, to be
 * committed with the journal's first.
 */
static void
sw_feed_retire(struct smtpwatch *sw, size_t i)
{
	struct sw_checkpoint	 cp;

	if (feed_retired(sw->feeds[i]))
		return;
	feed_retire(sw->feeds[i]);
	memset(&cp, 0, sizeof(cp));
	if (feed_checkpoint(sw->feeds[i], &cp) == 0) {
		sw_fingerprint(sw->tailv[i], &cp);
		store_position(sw->store, &cp);
	}
	checkpoint_clear(&cp);
}

/*
 * journal auto: the logs are read, and every one is gone.  The journal
 * takes over: it is read from just before the last line read from the
 * logs, skipping the events they counted, and their feeds are retired.
 * since: where the journal begins when the logs read nothing.  Returns
 * 0 (sw->journal NULL when the journal cannot be read: nothing changed),
 * or -1 when the store cannot say.
 */
static int
sw_to_journal(struct smtpwatch *sw, time_t since)
{
	struct sw_recent	*given = recent_new();
	const struct sw_feed	*matcher = NULL;
	struct sw_feed_stat	 fs;
	char			 stamp[32];
	time_t			 newest = 0;
	size_t			 i;
	int			 rc, any;

	for (i = 0; i < sw->nfeeds; i++) {
		if (feed_retired(sw->feeds[i]) ||
		    feed_recent(sw->feeds[i]) == NULL)
			continue;
		feed_flush(sw->feeds[i]);
		recent_merge(given, feed_recent(sw->feeds[i]));
		feed_stat(sw->feeds[i], &fs);
		if (matcher == NULL || fs.newest > newest) {
			matcher = sw->feeds[i];
			newest = fs.newest;
		}
	}
	if ((any = recent_newest(given) > 0))
		since = recent_newest(given);
	rc = sw_journal_open(sw, any ? given : NULL, matcher, since);
	recent_free(given);
	if (rc == -1 || sw->journal == NULL)
		return rc;
	for (i = 0; i < sw->nfeeds; i++)
		sw_feed_retire(sw, i);
	sw_stamp(since, stamp, sizeof(stamp));
	log_info("sources: every log is gone (%s%s, removed and not back "
	    "within %d poll intervals): reading the journal instead "
	    "(journal auto), from %d s before %s%s; a line counted from the "
	    "logs is not counted again; to wait for the logs instead, set "
	    "journal no", sw->conf->logs[0], sw->conf->nlogs > 1 ? " ..." : "",
	    GONE_POLLS, SW_RECENT_SLACK, stamp, any ?
	    ", the last line read from them" : "");
	return 0;
}

/*
 * journal auto, the journal being read: a log begins (it appeared, or
 * exists at start) and takes over.  The journal is read to its end and
 * stops; every log skips the events it counted (feed_handover).
 */
static void
sw_to_files(struct smtpwatch *sw, const char *path)
{
	const struct sw_recent	*counted;
	char			 stamp[32], what[128];
	size_t			 i;

	journal_process(sw->journal);
	while (journal_run(sw->journal, JOURNAL_SLICE))
		continue;
	feed_flush(sw->jfeed);
	counted = feed_recent(sw->jfeed);
	for (i = 0; i < sw->nfeeds; i++)
		feed_handover(sw->feeds[i], counted, sw->jfeed);
	sw_stamp(recent_newest(counted), stamp, sizeof(stamp));
	if (recent_newest(counted) > 0)
		snprintf(what, sizeof(what), "a line counted from the journal "
		    "(the last of %s) is not counted again", stamp);
	else
		snprintf(what, sizeof(what), "the journal gave no line");
	log_info("sources: %s %s: reading the logs instead of the journal "
	    "(journal auto), each from its start; %s; to read the journal "
	    "only, remove the log directives (journal yes reads both)", path,
	    sw->opening ? "exists" : "appeared", what);
	sw_journal_close(sw, 1);
}

/* feed.c: a log begins (journal auto). */
static void
sw_file_begins(void *arg, struct sw_feed *f)
{
	struct smtpwatch	*sw = arg;

	if (sw->journal != NULL)
		sw_to_files(sw, feed_source(f));
}

/*
 * At every poll, journal auto with the logs read: when every log has
 * been gone for GONE_POLLS intervals (removed, not rotated), the journal
 * takes over; their tails and feeds start again, waiting for them.
 */
static void
sw_gone_check(struct smtpwatch *sw)
{
	double	 now = ev_now(sw->loop);

	if (sw->mode != SW_SRC_SWITCH || sw->journal != NULL)
		return;
	if (sw_logs_exist(sw)) {
		sw->gone = 0;
		return;
	}
	if (sw->gone == 0)
		sw->gone = now;
	if (sw->gone < 0 ||
	    now - sw->gone < GONE_POLLS * sw->conf->poll_ms / 1000.0)
		return;
	while (tails_run(sw->tails, READ_SLICE))	/* what they still */
		continue;				/* hold */
	if (sw_to_journal(sw, time(NULL)) == -1 || sw->journal == NULL) {
		sw->gone = -1;		/* until a log exists again */
		return;
	}
	sw->gone = 0;
	sw_tails_close(sw);
	(void)sw_feeds_new(sw, NULL);
	sw_tails_open(sw, NULL, 0);
}

/*
 * journal auto, at start.  A log exists: the logs are read; when the
 * journal was being read at the last stop, it is read on to its end
 * first and hands over to the first log that begins (sw_to_files).
 * None exists: the journal is read, and takes over from the logs when
 * they were being read at the last stop.  Returns 0, or -1 when the
 * store cannot say.
 */
static int
sw_switch_open(struct smtpwatch *sw, struct sw_checkpoint *cps)
{
	struct sw_checkpoint	 jcp;
	char			*source;
	time_t			 since = 0;
	size_t			 i;
	int			 rc, active = 0;

	if (!sw_logs_exist(sw)) {
		for (i = 0; i < sw->nfeeds; i++) {
			if (cps[i].source == NULL || feed_retired(sw->feeds[i]))
				continue;
			active = 1;
			if (cps[i].updated > since)
				since = cps[i].updated;
		}
		rc = active ? sw_to_journal(sw, since) :
		    sw_journal_open(sw, NULL, NULL, 0);
		sw_tails_open(sw, sw->journal != NULL ? NULL : cps, 0);
		return rc;
	}
	source = journal_source(NULL);
	rc = store_load(sw->store, source, &jcp);
	free(source);
	if (rc == -1)
		return -1;
	active = rc == 1 && !feed_cp_retired(&jcp);
	checkpoint_clear(&jcp);
	if (active && sw_journal_open(sw, NULL, NULL, 0) == -1)
		return -1;
	sw_tails_open(sw, cps, sw->journal == NULL &&
	    sw->conf->startat == SW_START_END);
	return 0;
}

/* Both read: each source drops the events the other counted. */
static void
sw_peers(struct smtpwatch *sw)
{
	size_t	 i;

	if (sw->mode != SW_SRC_BOTH || sw->jfeed == NULL)
		return;
	feed_peers(sw->jfeed, sw->feeds, sw->nfeeds);
	for (i = 0; i < sw->nfeeds; i++)
		feed_peers(sw->feeds[i], &sw->jfeed, 1);
}

/*
 * Opens a feed and a tail for every log, each resuming from its
 * committed checkpoint, and the journal as conf_sources() says.  Returns
 * 0, or -1 when the store cannot say.
 */
static int
sw_sources_open(struct smtpwatch *sw)
{
	struct sw_checkpoint	*cps;
	size_t			 i, n = sw->conf->nlogs;
	int			 rc = 0;

	sw->mode = conf_sources(sw->conf);
	sw->gone = 0;
	sw->opening = 1;
	cps = xcalloc(n > 0 ? n : 1, sizeof(*cps));
	if (sw_feeds_new(sw, cps) == -1)
		rc = -1;
	else if (sw->mode == SW_SRC_SWITCH)
		rc = sw_switch_open(sw, cps);
	else if (sw->mode != SW_SRC_FILES &&
	    sw_journal_open(sw, NULL, NULL, 0) == -1)
		rc = -1;
	else {
		sw_tails_open(sw, cps, sw->conf->startat == SW_START_END);
		sw_peers(sw);
	}
	for (i = 0; i < n; i++)
		checkpoint_clear(&cps[i]);
	free(cps);
	sw->opening = 0;
	if (rc == -1)
		return -1;
	ev_timer_set(&sw->poll_w, sw->conf->poll_ms / 1000.0,
	    sw->conf->poll_ms / 1000.0);
	ev_timer_start(sw->loop, &sw->poll_w);
	sw_start_reading(sw);
	return 0;
}

static void
sw_sources_close(struct smtpwatch *sw)
{
	sw_journal_close(sw, 0);
	ev_timer_stop(sw->loop, &sw->poll_w);
	ev_idle_stop(sw->loop, &sw->read_w);
	sw_tails_close(sw);
}

/* Closes the sources and the counter; the store stays open. */
static void
sw_stop(struct smtpwatch *sw)
{
	struct sw_engine_stat	 es;
	int			 k;

	sw_sources_close(sw);
	if (sw->engine != NULL) {
		engine_stat(sw->engine, &es);
		sw->alerts += es.alerts;
		sw->folded_entries += es.folded_entries;
		sw->folded_incidents += es.folded_incidents;
		for (k = 0; k < SW_INC_NKINDS; k++)
			sw->opened[k] += es.opened[k];
	}
	count_free(sw->count);
	sw->count = NULL;
	sw->engine = NULL;
	sw->conf->match.relays = NULL;
}

/*
 * The alerts a crash kept from being written (or from being said
 * written), from a store opened anew: written after the next commit.
 */
static void
sw_outbox_load(struct smtpwatch *sw)
{
	struct sw_checkpoint	 cp;
	int			 n;

	if (store_load(sw->store, SW_OUTBOX_SOURCE, &cp) != 1)
		return;
	if ((n = outbox_load(sw->outbox, &cp)) > 0)
		log_info("%d alerts decided before the last stop may not have "
		    "been written: writing them now", n);
	checkpoint_clear(&cp);
}

/*
 * Starts the alert engine and the sources on sw->store, with sw->conf
 * and sw->rs: each source resumes from its committed checkpoint; a
 * store opened anew (fresh) gives its alerts not yet written too.
 * Returns 0, or -1 after reporting, with the engine and sources closed
 * again (the store is the caller's).
 */
static int
sw_start(struct smtpwatch *sw, int fresh)
{
	if (fresh)
		sw_outbox_load(sw);
	sw->count = count_new(sw->rs, &sw->conf->alert, sw->store,
	    sw_alert, sw);
	sw->engine = count_engine(sw->count);
	sw->conf->match.relays = count_relays(sw->count);
	sw->midnight = 0;
	sw_counted(sw, time(NULL));
	if (sw_sources_open(sw) == -1) {
		sw_stop(sw);
		return -1;
	}
	(void)sw_commit(sw);	/* a position now, before any kill -9 */
	return 0;
}

/* Opens the database, then the sources; 0 or -1 after reporting. */
static int
sw_open(struct smtpwatch *sw)
{
	if (store_open(sw->conf->database, &sw->conf->store, &sw->store) ==
	    -1)
		return -1;
	if (sw_start(sw, 1) == -1) {
		store_close(sw->store);
		sw->store = NULL;
		return -1;
	}
	return 0;
}

static void
sw_close(struct smtpwatch *sw)
{
	sw_stop(sw);
	store_close(sw->store);
	sw->store = NULL;
}

/*
 * 1 when path names the file of the running database: the same string,
 * or the same inode under another name.  A reload then keeps the open
 * store instead of opening the file a second time.
 */
static int
sw_same_database(const struct smtpwatch *sw, const char *path)
{
	struct stat	 a, b;

	if (strcmp(sw->conf->database, path) == 0)
		return 1;
	return stat(sw->conf->database, &a) == 0 && stat(path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * The store of the new configuration: the running one when the path
 * names the same file (with the new options), else the new file opened
 * and checked.  Returns 0 with *out set, or -1 after store_open()
 * reported why (its first warning is what err captures).
 */
static int
sw_reload_store(struct smtpwatch *sw, const struct sw_conf *conf,
    struct sw_store **out)
{
	if (sw_same_database(sw, conf->database)) {
		*out = sw->store;
		return 0;
	}
	return store_open(conf->database, &conf->store, out);
}

/*
 * Puts conf, rs and st in place of the running ones and starts on
 * them; what they replace is freed on success, and put back and started
 * again on failure (exit when even that fails: nothing would run).
 */
static int
sw_switch(struct smtpwatch *sw, struct sw_conf *conf, struct sw_rules *rs,
    struct sw_store *st)
{
	struct sw_conf	*oconf = sw->conf;
	struct sw_rules	*ors = sw->rs;
	struct sw_store	*ost = sw->store;

	sw_stop(sw);
	sw->conf = conf;
	sw->rs = rs;
	sw->store = st;
	store_configure(st, &conf->store);
	if (sw_start(sw, st != ost) == 0) {
		if (ost != st)
			store_close(ost);
		rules_free(ors);
		conf_free(oconf);
		return 0;
	}
	if (st != ost)
		store_close(st);
	rules_free(rs);
	conf_free(conf);
	sw->conf = oconf;
	sw->rs = ors;
	sw->store = ost;
	store_configure(ost, &oconf->store);
	if (sw_start(sw, 0) == -1)
		fatalx("reload: cannot start again on the running "
		    "configuration");
	return -1;
}

/*
 * SIGHUP and the control socket's reload.  The new configuration and
 * rules are loaded, the batch is committed, and the new database is
 * opened and checked (the running one is kept when the path names the
 * same file) before anything running is let go; only then are the
 * sources closed and reopened from their checkpoints, exactly as at
 * start.  Any failure keeps the running configuration, rules and
 * database.  Returns 0, or -1 with the reason in err (the first warning
 * of the loading, e.g. the config's file:line message).
 */
static int
sw_reload(struct smtpwatch *sw, char *err, size_t errsize)
{
	struct sw_conf		*conf;
	struct sw_rules		*rs;
	struct sw_store		*st = NULL;
	int			 rc;

	notify_reloading();
	log_info("reloading %s", sw->conffile);
	log_capture(err, errsize);
	rc = sw_load(sw, &conf, &rs);
	log_capture(NULL, 0);
	if (rc == -1) {
		log_warnx("reload failed: keeping the running configuration");
		if (err[0] == '\0')
			snprintf(err, errsize, "the configuration does not "
			    "load");
		notify_ready();
		return -1;
	}
	engine_flush(sw->engine);	/* the minute's summary: now */
	if (sw_commit(sw) == -1) {
		log_warnx("reload postponed: the batch is not committed; "
		    "keeping the running configuration");
		snprintf(err, errsize, "the database is not writable: "
		    "keeping the running configuration");
		rules_free(rs);
		conf_free(conf);
		notify_ready();
		return -1;
	}
	log_capture(err, errsize);
	if ((rc = sw_reload_store(sw, conf, &st)) == -1) {
		rules_free(rs);
		conf_free(conf);
	} else
		rc = sw_switch(sw, conf, rs, st);
	log_capture(NULL, 0);
	if (rc == -1) {
		log_warnx("reload failed: keeping the running configuration, "
		    "rules and database %s", sw->conf->database);
		if (err[0] == '\0')
			snprintf(err, errsize, "the new database cannot be "
			    "used: keeping the running configuration");
		notify_ready();
		return -1;
	}
	if (sw->ctl != NULL && strcmp(sw->conf->control,
	    control_path(sw->ctl)) != 0)
		log_warnx("control socket %s: the new path %s takes effect at "
		    "the next start", control_path(sw->ctl), sw->conf->control);
	hook_configure(sw->hook, sw->conf);
	log_info("reloaded: %zu logs, %zu extract and %zu diagnosis entries",
	    sw->nfeeds, sw->rs->nextracts, sw->rs->ndiagnoses);
	notify_ready();
	return 0;
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	char	 err[256];

	(void)loop;
	(void)revents;
	(void)sw_reload(w->data, err, sizeof(err));
}

/* ------------------------------------------------- control socket */

/* One source as the status reply says it. */
static void
sw_source(struct ctl_status *cs, const char *path, int open,
    uint64_t offset, uint64_t size, long long lag, unsigned long rot,
    unsigned long long lines, int polled, int standby)
{
	struct ctl_source	*src;

	cs->sources = xreallocarray(cs->sources, cs->nsources + 1,
	    sizeof(*cs->sources));
	src = &cs->sources[cs->nsources++];
	memset(src, 0, sizeof(*src));
	src->path.p = xstrdup(path);
	src->path.len = strlen(path);
	src->open = open;
	src->offset = offset;
	src->size = size;
	src->lag_bytes = open && size > offset ? size - offset : 0;
	src->lag_seconds = lag < 0 ? 0 : (unsigned long long)lag;
	src->rotations = rot;
	src->lines = lines;
	src->polled = polled;
	src->standby = standby;
}

/*
 * status: the daemon, its counters and every source (journal offsets
 * count entries), as wire.c writes them for smtpwatchctl status.
 */
static int
ctl_status(void *arg, const struct sw_ctl_arg *a, size_t na, FILE *fp,
    char *err, size_t errsize)
{
	struct smtpwatch	*sw = arg;
	struct ctl_status	 cs;
	struct sw_tail_stat	 ts;
	struct sw_feed_stat	 fs;
	struct sw_journal_stat	 js;
	struct sw_engine_stat	 es;
	time_t			 now = time(NULL);
	size_t			 i;

	(void)a;
	(void)na;
	(void)err;
	(void)errsize;
	memset(&cs, 0, sizeof(cs));
	cs.lines = sw->lines;
	cs.events = sw->events;
	sw_caught_up(sw, now);
	for (i = 0; i < sw->nfeeds; i++) {
		tail_stat(sw->tailv[i], &ts);
		feed_stat(sw->feeds[i], &fs);
		cs.lines += ts.lines;
		cs.events += fs.events;
		sw_source(&cs, ts.path, ts.open, ts.offset, ts.size,
		    (long long)(now - sw->caughtat[i]), ts.rotations,
		    ts.lines, ts.polled, sw->mode == SW_SRC_SWITCH &&
		    sw->journal != NULL);
	}
	if (sw->journal != NULL) {
		journal_stat(sw->journal, &js);
		feed_stat(sw->jfeed, &fs);
		cs.lines += js.lines;
		cs.events += fs.events;
		sw_source(&cs, js.source, 1, js.seq, js.seq,
		    (long long)(now - sw->jcaught), 0, js.lines, 0, 0);
	} else if (sw->mode == SW_SRC_SWITCH)	/* read if the logs go */
		sw_source(&cs, "journal", 0, 0, 0, 0, 0, 0, 0, 1);
	snprintf(cs.version, sizeof(cs.version), "%s", SW_VERSION);
	cs.pid = (long)getpid();
	cs.started = sw->started;
	cs.rules_files = sw->rs->nfiles;
	cs.rules_extracts = sw->rs->nextracts;
	cs.rules_diagnoses = sw->rs->ndiagnoses;
	cs.database.p = xstrdup(sw->conf->database);
	cs.database.len = strlen(cs.database.p);
	cs.batch = store_batched(sw->store);
	cs.committed = sw->committed;
	cs.batches = sw->batches;
	cs.commit_errors = sw->commit_errors;
	cs.checkpoint_errors = store_checkpoint_errors(sw->store,
	    &cs.checkpoint_failing);
	engine_stat(sw->engine, &es);
	cs.alerts = sw->alerts + es.alerts;
	cs.incidents = es.open;
	cs.folded_entries = sw->folded_entries + es.folded_entries;
	cs.folded_incidents = sw->folded_incidents + es.folded_incidents;
	cs.summarising = es.summarising;
	memcpy(cs.failures, sw->failures, sizeof(cs.failures));
	memcpy(cs.successes, sw->successes, sizeof(cs.successes));
	for (i = 0; i < SW_INC_NKINDS; i++)
		cs.opened[i] = sw->opened[i] + es.opened[i];
	wire_status_write(fp, &cs);
	wire_status_free(&cs);
	return 0;
}

/*
 * The arguments of reset: SUBJECT, then "host=HOST" and "dry-run" in
 * any order.  Returns 0, or -1 with the reason in err.
 */
static int
ctl_reset_args(const struct sw_ctl_arg *a, size_t na, struct sw_reset *r,
    char *host, size_t hostsize, char *err, size_t errsize)
{
	size_t	 i;

	memset(r, 0, sizeof(*r));
	if (na == 0 || a[0].len == 0) {
		snprintf(err, errsize, "reset needs a subject");
		return -1;
	}
	r->subject = a[0].p;
	r->len = a[0].len;
	for (i = 1; i < na; i++) {
		if (a[i].len == 7 && memcmp(a[i].p, "dry-run", 7) == 0)
			r->dry_run = 1;
		else if (a[i].len > 5 && a[i].len - 5 < hostsize &&
		    memcmp(a[i].p, "host=", 5) == 0 &&
		    memchr(a[i].p, '\0', a[i].len) == NULL) {
			memcpy(host, a[i].p + 5, a[i].len - 5);
			host[a[i].len - 5] = '\0';
			r->host = host;
		} else {
			snprintf(err, errsize, "reset: malformed argument");
			return -1;
		}
	}
	return 0;
}

/*
 * reset SUBJECT [host=HOST] [dry-run]: the batch is committed first, so
 * that nothing counted before the reset is written after it; then the
 * store deletes the subject's rows and closes its incidents, the engine
 * forgets it, and the incidents it closed are committed; a relay reset
 * is no longer watched (its deliveries count no more).  A dry run
 * counts the same rows and changes nothing.  The payload: one line
 * "reset TAB WHAT TAB N" for each kind of row (store.c's order), then
 * "reset TAB dry-run TAB 0|1".
 */
static int
ctl_reset(void *arg, const struct sw_ctl_arg *a, size_t na, FILE *fp,
    char *err, size_t errsize)
{
	static const char *const what[SW_RS_N] = { "addresses-of-accounts",
	    "accounts", "addresses", "relays", "buckets", "incidents", "folds" };
	struct smtpwatch	*sw = arg;
	struct sw_reset		 r;
	char			 shown[SW_ACCOUNT_MAX * 4], host[SW_NAME_MAX];
	int			 i, inc = 0;

	if (ctl_reset_args(a, na, &r, host, sizeof(host), err, errsize) == -1)
		return -1;
	if (sw_commit(sw) == -1) {
		snprintf(err, errsize, "the database is not writable: "
		    "try again later");
		return -1;
	}
	if (store_reset(sw->store, &r) == -1) {
		snprintf(err, errsize, "the database could not be changed");
		return -1;
	}
	if (!r.dry_run) {
		inc = engine_reset(sw->engine, r.subject, r.len, r.host);
		sw->midnight = 0;	/* failures today: counted again */
		(void)sw_commit(sw);	/* or by the retry */
		if (r.n[SW_RS_RELAYS] > 0)
			count_watch(sw->count);	/* its deliveries: no more */
		str_vis(shown, sizeof(shown), r.subject, r.len);
		log_info("reset %s%s%s: %lld accounts, %lld addresses, "
		    "%lld relays deleted, %lld incidents closed (%d open in "
		    "the engine)", shown, r.host != NULL ? " on " : "",
		    r.host != NULL ? r.host : "", r.n[SW_RS_ACCOUNTS],
		    r.n[SW_RS_ADDRS], r.n[SW_RS_RELAYS],
		    r.n[SW_RS_INCIDENTS], inc);
	}
	for (i = 0; i < SW_RS_N; i++)
		fprintf(fp, "reset\t%s\t%lld\n", what[i], r.n[i]);
	fprintf(fp, "reset\tdry-run\t%d\n", r.dry_run);
	return 0;
}

static int
ctl_reload(void *arg, const struct sw_ctl_arg *a, size_t na, FILE *fp,
    char *err, size_t errsize)
{
	(void)a;
	(void)na;
	(void)fp;
	return sw_reload(arg, err, errsize);
}

/* What the control socket answers; control.c checks who may ask. */
static const struct sw_ctl_cmd ctl_cmds[] = {
	{ "reload",	1, 0, ctl_reload },
	{ "reset",	1, 3, ctl_reset },
	{ "status",	0, 0, ctl_status },
};

/* SIGTERM, SIGINT: commit what was read, and leave. */
static void
term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct smtpwatch	*sw = w->data;
	int			 i;

	(void)revents;
	notify_stopping();
	log_info("stopping on signal %d", w->signum);
	engine_flush(sw->engine);	/* the minute's summary: now */
	for (i = 0; i < STOP_TRIES && sw_commit(sw) == -1; i++)
		usleep(200000);
	if (i == STOP_TRIES)
		log_warnx("%zu events not committed: they will be read again "
		    "at the next start", store_batched(sw->store));
	ev_break(loop, EVBREAK_ALL);
}

static void
sw_watchers(struct smtpwatch *sw)
{
	double	 dog;

	ev_io_init(&sw->inotify_w, inotify_cb, -1, EV_READ);
	ev_io_init(&sw->journal_w, journal_cb, -1, EV_READ);
	ev_idle_init(&sw->read_w, read_cb);
	ev_timer_init(&sw->batch_w, batch_cb, 0., 0.);
	ev_timer_init(&sw->poll_w, poll_cb, 0., 0.);
	ev_timer_init(&sw->retry_w, retry_cb, 0., 0.);
	ev_timer_init(&sw->dog_w, dog_cb, 0., 0.);
	ev_timer_init(&sw->tick_w, tick_cb, 1., 1.);
	ev_signal_init(&sw->term_w, term_cb, SIGTERM);
	ev_signal_init(&sw->int_w, term_cb, SIGINT);
	ev_signal_init(&sw->hup_w, hup_cb, SIGHUP);
	sw->inotify_w.data = sw->read_w.data = sw->batch_w.data = sw;
	sw->journal_w.data = sw;
	sw->poll_w.data = sw->retry_w.data = sw->dog_w.data = sw;
	sw->tick_w.data = sw->term_w.data = sw->int_w.data = sw;
	sw->hup_w.data = sw;
	ev_timer_start(sw->loop, &sw->tick_w);
	ev_signal_start(sw->loop, &sw->term_w);
	ev_signal_start(sw->loop, &sw->int_w);
	ev_signal_start(sw->loop, &sw->hup_w);
	if ((dog = notify_watchdog_interval()) > 0) {
		ev_timer_set(&sw->dog_w, dog / 2, dog / 2);
		ev_timer_start(sw->loop, &sw->dog_w);
	}
}

/*
 * glibc raises its mmap threshold to the size of any mapped block freed
 * (up to 32 MiB); after that a storm's large blocks (the outbox's row of
 * a batch's alerts, the batch's table and sorting array, SQLite's) come
 * from the heap, and the holes they leave between smaller blocks stay
 * private memory until an expiry's malloc_trim().  Set, the threshold
 * stays at its initial 128 KiB: blocks as large are mapped and given back
 * when freed.  storm-1m's catch-up peaked at 14.4 MB of private memory,
 * 12.2 to 12.6 MB with this, in the same time.
 */
static void
sw_malloc_setup(void)
{
#ifdef __GLIBC__
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL, 'h' },
		{ "rules",	required_argument,	NULL, 'R' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	struct smtpwatch	 sw;
	int			 ch, checkonly = 0;

	sw_malloc_setup();
	store_setup();
	memset(&sw, 0, sizeof(sw));
	sw.conffile = SW_CONF_DEFAULT;
	sw.outbox = outbox_new();
	/* The database names accounts and addresses: never for others. */
	umask(umask(0) | S_IWGRP | S_IRWXO);
	log_init("smtpwatchd", 0);
	while ((ch = getopt_long(argc, argv, "df:hn", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			log_init("smtpwatchd", 1);
			break;
		case 'f':
			sw.conffile = optarg;
			sw.given = 1;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'R':
			strv_push(&sw.rules, &sw.nrules, optarg);
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("smtpwatchd %s\n", SW_VERSION);
			return 0;
		default:
			usage(1);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "smtpwatchd: takes no arguments: %s\n",
		    argv[optind]);
		usage(1);
	}
	if (sw_load(&sw, &sw.conf, &sw.rs) == -1)
		return 1;
	if (checkonly) {
		printf("configuration OK: %zu logs, %zu extract and %zu "
		    "diagnosis entries from %zu rules files\n", sw.conf->nlogs,
		    sw.rs->nextracts, sw.rs->ndiagnoses, sw.rs->nfiles);
		rules_free(sw.rs);
		conf_free(sw.conf);
		strv_free(sw.rules, sw.nrules);
		outbox_free(sw.outbox);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a file size limit is an error */
	if (sw.conf->nlogs == 0)
		log_warnx("%s: no log directive: there is nothing to follow",
		    sw.conffile);
	sw.loop = ev_default_loop(EVFLAG_AUTO);
	sw.started = time(NULL);
	sw.hook = hook_new(sw.loop, sw.conf);
	sw_watchers(&sw);
	/* before the database: a second daemon must not touch it */
	if (control_open(sw.conf->control, sw.loop, ctl_cmds,
	    sizeof(ctl_cmds) / sizeof(ctl_cmds[0]), &sw, &sw.ctl) == -1 ||
	    sw_open(&sw) == -1) {
		control_close(sw.ctl);
		hook_free(sw.hook);
		ev_loop_destroy(sw.loop);
		rules_free(sw.rs);
		conf_free(sw.conf);
		strv_free(sw.rules, sw.nrules);
		outbox_free(sw.outbox);
		return 1;
	}
	log_info("started: %zu logs%s, database %s, patterns %s", sw.nfeeds,
	    sw.journal != NULL ? " and the journal" : "", sw.conf->database, sw.rs->jit ? "JIT-compiled" :
	    "interpreted (no JIT: pcre-jit no, or no executable memory)");
	notify_ready();
	ev_run(sw.loop, 0);
	control_close(sw.ctl);
	sw_close(&sw);
	hook_free(sw.hook);
	relaynote_free(sw.relaynote);
	rules_free(sw.rs);
	conf_free(sw.conf);
	strv_free(sw.rules, sw.nrules);
	outbox_free(sw.outbox);
	ev_loop_destroy(sw.loop);
	log_info("stopped");
	return 0;
}
