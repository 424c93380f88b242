/*
 * fault.c -- fault injection for build/fault/smtpwatchd.  The daemon is
 * linked with -Wl,--wrap for the calls below, so each of its own calls
 * comes here first; libraries keep calling the real functions.  The
 * environment picks the faults:
 *
 *	SW_FAULT="CALL:ERROR:AFTER[:COUNT],..."
 *
 * fails calls AFTER to AFTER+COUNT-1 (from 1; COUNT defaults to 1, 0
 * for every call from AFTER on) of CALL with ERROR, then lets them
 * through again: the fault clears.  CALL is pread, read,
 * inotify_add_watch, sqlite3_step, sqlite3_wal_checkpoint_v2,
 * sd_journal_sendv or malloc; ERROR an errno name (EIO, ENOSPC, ENOMEM,
 * ECONNREFUSED), for the two SQLite calls BUSY, FULL or IOERR, or KILL:
 * the daemon gets SIGKILL at that call, before it is made (a kill -9 at
 * an exact point).  At exit the calls made and failed are written to
 * stderr as "fault: CALL calls N failed M", so that a test knows how
 * far to walk the countdown.  The checkpointer's thread makes most
 * sqlite3_wal_checkpoint_v2 calls, the loop the others (folding), never
 * at the same time: the loop waits for the thread first (ckpt_wait()).
 */

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <sqlite3.h>

enum call { F_PREAD, F_READ, F_WATCH, F_STEP, F_CKPT, F_SEND, F_MALLOC,
    F_N };

static const char *const names[F_N] = {
	"pread", "read", "inotify_add_watch", "sqlite3_step",
	"sqlite3_wal_checkpoint_v2", "sd_journal_sendv", "malloc"
};

struct fault {
	int			 set;
	int			 err;	/* errno, or an SQLite code */
	unsigned long long	 after, count;
	unsigned long long	 calls, failed;
};

#define FAULT_KILL	(-1)		/* ERROR KILL: SIGKILL */

static struct fault	 faults[F_N];
static int		 ready;

ssize_t	__real_pread(int, void *, size_t, off_t);
ssize_t	__real_read(int, void *, size_t);
int	__real_inotify_add_watch(int, const char *, uint32_t);
int	__real_sqlite3_step(sqlite3_stmt *);
int	__real_sqlite3_wal_checkpoint_v2(sqlite3 *, const char *, int, int *,
	    int *);
int	__real_sd_journal_sendv_with_location(const char *, const char *,
	    const char *, const struct iovec *, int);
void   *__real_malloc(size_t);

ssize_t	__wrap_pread(int, void *, size_t, off_t);
ssize_t	__wrap_read(int, void *, size_t);
int	__wrap_inotify_add_watch(int, const char *, uint32_t);
int	__wrap_sqlite3_step(sqlite3_stmt *);
int	__wrap_sqlite3_wal_checkpoint_v2(sqlite3 *, const char *, int, int *,
	    int *);
int	__wrap_sd_journal_sendv_with_location(const char *, const char *,
	    const char *, const struct iovec *, int);
void   *__wrap_malloc(size_t);

static int
fault_errno(const char *s)
{
	static const struct { const char *name; int v; } tab[] = {
		{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "ENOMEM", ENOMEM },
		{ "ECONNREFUSED", ECONNREFUSED }, { "EAGAIN", EAGAIN },
		{ "EINTR", EINTR }, { "BUSY", SQLITE_BUSY },
		{ "FULL", SQLITE_FULL }, { "IOERR", SQLITE_IOERR },
	};
	size_t	 i;

	if (strcmp(s, "KILL") == 0)
		return FAULT_KILL;
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(tab[i].name, s) == 0)
			return tab[i].v;
	fprintf(stderr, "fault: unknown error %s\n", s);
	exit(2);
}

static void
fault_report(void)
{
	int	 i;

	for (i = 0; i < F_N; i++)
		if (faults[i].calls > 0 || faults[i].set)
			fprintf(stderr, "fault: %s calls %llu failed %llu\n",
			    names[i], faults[i].calls, faults[i].failed);
}

/* Reads SW_FAULT once; a spec it cannot read stops the daemon. */
static void
fault_init(void)
{
	char	 buf[512], *spec, *save, *f[4];
	int	 i, n;

	ready = 1;
	atexit(fault_report);
	if (getenv("SW_FAULT") == NULL)
		return;
	snprintf(buf, sizeof(buf), "%s", getenv("SW_FAULT"));
	for (spec = strtok_r(buf, ",", &save); spec != NULL;
	    spec = strtok_r(NULL, ",", &save)) {
		for (n = 0; n < 4 && (f[n] = strsep(&spec, ":")) != NULL; n++)
			continue;
		for (i = 0; i < F_N && n >= 3; i++)
			if (strcmp(names[i], f[0]) == 0)
				break;
		if (n < 3 || i == F_N) {
			fprintf(stderr, "fault: bad SW_FAULT\n");
			exit(2);
		}
		faults[i].set = 1;
		faults[i].err = fault_errno(f[1]);
		faults[i].after = strtoull(f[2], NULL, 10);
		faults[i].count = n == 4 ? strtoull(f[3], NULL, 10) : 1;
	}
}

/* Counts a call of c; 1 when it is to fail. */
static int
fault_hit(enum call c)
{
	struct fault	*f = &faults[c];
	unsigned long long n;

	if (!ready)
		fault_init();
	n = ++f->calls;
	if (!f->set || n < f->after ||
	    (f->count > 0 && n >= f->after + f->count))
		return 0;
	f->failed++;
	if (f->err == FAULT_KILL)
		raise(SIGKILL);
	return 1;
}

ssize_t
__wrap_pread(int fd, void *buf, size_t n, off_t off)
{
	if (fault_hit(F_PREAD)) {
		errno = faults[F_PREAD].err;
		return -1;
	}
	return __real_pread(fd, buf, n, off);
}

ssize_t
__wrap_read(int fd, void *buf, size_t n)
{
	if (fault_hit(F_READ)) {
		errno = faults[F_READ].err;
		return -1;
	}
	return __real_read(fd, buf, n);
}

int
__wrap_inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	if (fault_hit(F_WATCH)) {
		errno = faults[F_WATCH].err;
		return -1;
	}
	return __real_inotify_add_watch(fd, path, mask);
}

int
__wrap_sqlite3_step(sqlite3_stmt *s)
{
	if (fault_hit(F_STEP))
		return faults[F_STEP].err;
	return __real_sqlite3_step(s);
}

int
__wrap_sqlite3_wal_checkpoint_v2(sqlite3 *db, const char *name, int mode,
    int *log, int *done)
{
	if (fault_hit(F_CKPT))
		return faults[F_CKPT].err;
	return __real_sqlite3_wal_checkpoint_v2(db, name, mode, log, done);
}

/* sd-journal.h turns sd_journal_sendv() into this one. */
int
__wrap_sd_journal_sendv_with_location(const char *file, const char *line,
    const char *func, const struct iovec *iov, int n)
{
	if (fault_hit(F_SEND))
		return -faults[F_SEND].err;
	return __real_sd_journal_sendv_with_location(file, line, func, iov, n);
}

void *
__wrap_malloc(size_t n)
{
	if (fault_hit(F_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(n);
}
