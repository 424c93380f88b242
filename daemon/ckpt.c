/*
 * ckpt.c -- the daemon's WAL checkpointer: a thread of its own, with a
 * connection of its own to the database, that copies the WAL into the
 * file when the store asks (store_checkpoint()), while the event loop
 * goes on.  A checkpoint must first make the WAL durable: fdatasync()
 * of up to WAL_PAGES frames (16 MiB) written since the last one, which
 * took 14 to 18 ms here, every few hundred alerts; done in the loop,
 * it held back the alerts of the lines that came meanwhile (append ->
 * journal entry: 18, 13.6, 8.6 and 3.5 ms for the four lines after the
 * one whose commit checkpointed).
 *
 * Before SQLite's checkpoint the thread writes the WAL's dirty pages out
 * and waits for them (sync_file_range(2)), so that SQLite's own
 * fdatasync() finds little left to do: with fdatasync() alone, the
 * loop's next write to the WAL waited for it (5 to 8 ms, the line after
 * the one whose commit asked), with this it does not.
 *
 * SQLite allows this: in WAL mode a passive checkpoint by one
 * connection copies the frames committed before it began while another
 * connection goes on committing after them, and the next commit after
 * a checkpoint that copied every frame starts the WAL again from its
 * beginning.  Each connection is used by one thread only (the store's
 * by the loop, this one by its thread), so both are opened
 * SQLITE_OPEN_NOMUTEX; SQLite's own structures they share (the file's
 * locks, the WAL's index) are guarded by SQLite, which Debian builds
 * thread-safe.
 *
 * The loop asks with ckpt_request(), which never waits: while a
 * checkpoint runs, asking again does nothing (the next commit asks
 * again if the WAL is still long).  ckpt_wait() waits until none runs
 * or is asked for, before the store's own connection checkpoints
 * (folding, which truncates the WAL); ckpt_stop() joins the thread and
 * closes its connection, before the store closes its own, so that the
 * store's is the last and removes the WAL.  The thread blocks every
 * signal: the loop's watchers take them.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "smtpwatch.h"

#define CKPT_STACK	(256 * 1024)	/* SQLite's checkpoint needs little */
#define CKPT_BUSY_MS	5000		/* opening the WAL, at start */

struct sw_ckpt {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 wake;		/* to the thread: asked, or stop */
	pthread_cond_t	 idle;		/* to the loop: none runs */
	sqlite3		*db;
	int		 walfd;		/* the WAL, for sync_file_range() */
	long		 pagesize;	/* the system's */
	long long	 upto;		/* the WAL's bytes when asked */
	int		 asked;		/* a checkpoint asked for */
	int		 busy;		/* one running */
	int		 stop;
	unsigned long	 runs;		/* checkpoints run */
	unsigned long	 failed;	/* of them, failed */
	int		 failing;	/* the last one failed */
	char		 err[128];	/* why the last failed one did */
};

/*
 * Writes the WAL out, up to the page its frames ended on when the
 * checkpoint was asked for, and waits: not that page, which the loop's
 * next commit writes to (a frame is its page and 24 bytes; after the
 * WAL started again, somewhere in the file) and would wait for while it
 * is being written.
 */
static void
ckpt_flush(struct sw_ckpt *c, long long upto)
{
#ifdef SYNC_FILE_RANGE_WRITE
	struct stat	 sb;
	long long	 end;

	if (c->walfd == -1 || fstat(c->walfd, &sb) == -1)
		return;
	end = upto < sb.st_size ? upto : sb.st_size;
	end -= end % c->pagesize;
	if (end > 0)
		(void)sync_file_range(c->walfd, 0, end,
		    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
		    SYNC_FILE_RANGE_WAIT_AFTER);
#else
	(void)c;
	(void)upto;
#endif
}

/*
 * Runs one passive checkpoint, the WAL written out first; the result is
 * counted, for the store to say (store_ckpt_poll()).  SQLITE_BUSY is
 * not a failure: another process checkpoints the same WAL.
 */
static void
ckpt_run(struct sw_ckpt *c, long long upto)
{
	int	 rc;

	ckpt_flush(c, upto);
	rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->runs++;
	c->failing = rc != SQLITE_OK && rc != SQLITE_BUSY;
	if (c->failing) {
		c->failed++;
		snprintf(c->err, sizeof(c->err), "%s", sqlite3_errstr(rc));
	}
	pthread_mutex_unlock(&c->mu);
}

/* The thread: waits to be asked, checkpoints, until told to stop. */
static void *
ckpt_main(void *arg)
{
	struct sw_ckpt	*c = arg;
	long long	 upto;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->asked && !c->stop)
			pthread_cond_wait(&c->wake, &c->mu);
		if (c->stop)
			break;
		c->asked = 0;
		c->busy = 1;
		upto = c->upto;
		pthread_mutex_unlock(&c->mu);
		ckpt_run(c, upto);
		pthread_mutex_lock(&c->mu);
		c->busy = 0;	/* nothing was asked meanwhile: see
				   ckpt_request() */
		pthread_cond_broadcast(&c->idle);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/*
 * The thread's connection: no lookaside memory (a checkpoint copies
 * frames from the WAL to the file without it), the WAL opened at once
 * by PRAGMA schema_version, which reads the file's header, not the
 * schema.  With SQLite's defaults the connection took 132 KiB of
 * private memory at rest: the lookaside, and the 20 pages of cache
 * SQLite allocates at once, which store_setup() turns off.  Returns it,
 * or NULL with err set.
 */
static sqlite3 *
ckpt_connect(const char *path, char *err, size_t errlen)
{
	sqlite3	*db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0, 0) !=
	    SQLITE_OK || sqlite3_busy_timeout(db, CKPT_BUSY_MS) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA schema_version", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s", db != NULL ? sqlite3_errmsg(db) :
		    "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/*
 * The WAL the connection opened, by its name: -1 when it cannot be
 * opened (the checkpoint then syncs it all itself).
 */
static int
ckpt_walfd(const char *path)
{
	char	 wal[4096];

	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) >= sizeof(wal))
		return -1;
	return open(wal, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

/* Frees c, whose thread is not running. */
static void
ckpt_free(struct sw_ckpt *c)
{
	pthread_cond_destroy(&c->idle);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->mu);
	if (c->walfd != -1)
		close(c->walfd);
	sqlite3_close(c->db);
	free(c);
}

/* Starts c's thread with every signal blocked; 0, or an errno. */
static int
ckpt_spawn(struct sw_ckpt *c)
{
	pthread_attr_t	 at;
	sigset_t	 all, old;
	int		 rc;

	sigfillset(&all);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, CKPT_STACK);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->thread, &at, ckpt_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	return rc;
}

/*
 * A checkpointer for the database at path, in WAL mode.  Returns it, or
 * NULL with err set (the store then checkpoints in the loop, as
 * before).
 */
struct sw_ckpt *
ckpt_start(const char *path, char *err, size_t errlen)
{
	struct sw_ckpt	*c;
	int		 rc;

	c = xcalloc(1, sizeof(*c));
	if ((c->db = ckpt_connect(path, err, errlen)) == NULL) {
		free(c);
		return NULL;
	}
	c->walfd = ckpt_walfd(path);
	if ((c->pagesize = sysconf(_SC_PAGESIZE)) <= 0)
		c->pagesize = 4096;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->wake, NULL);
	pthread_cond_init(&c->idle, NULL);
	if ((rc = ckpt_spawn(c)) != 0) {
		snprintf(err, errlen, "cannot start a thread: %s",
		    strerror(rc));
		ckpt_free(c);
		return NULL;
	}
	return c;
}

/*
 * Asks for a checkpoint of a WAL whose frames end at byte upto; nothing
 * when one is asked for or runs.
 */
void
ckpt_request(struct sw_ckpt *c, long long upto)
{
	pthread_mutex_lock(&c->mu);
	if (!c->asked && !c->busy) {
		c->asked = 1;
		c->upto = upto;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->mu);
}

/* Waits until no checkpoint runs or is asked for. */
void
ckpt_wait(struct sw_ckpt *c)
{
	pthread_mutex_lock(&c->mu);
	while (c->asked || c->busy)
		pthread_cond_wait(&c->idle, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

/*
 * The checkpoints run so far, of them those that failed, whether the
 * last one did, and why the last failed one did.
 */
void
ckpt_stat(struct sw_ckpt *c, struct sw_ckpt_stat *cs)
{
	pthread_mutex_lock(&c->mu);
	cs->runs = c->runs;
	cs->failed = c->failed;
	cs->failing = c->failing;
	snprintf(cs->err, sizeof(cs->err), "%s", c->err);
	pthread_mutex_unlock(&c->mu);
}

/* Stops the thread after the checkpoint it runs, and closes. */
void
ckpt_stop(struct sw_ckpt *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	ckpt_free(c);
}
