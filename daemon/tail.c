/*
 * tail.c -- follow log files by path, through every kind of rotation, and
 * hand on their lines with exact byte offsets in the file being read.
 * inotify says when to look: each file being read and the directory of
 * each path (shared between paths) are watched; a path that cannot be
 * watched is looked at by tails_poll() only.  A look re-stats the path.
 * When it names another file (rename + create, delete + recreate, a
 * retargeted symbolic link) the old file, still readable through its
 * descriptor, is read until the new one has data (or the old one has
 * been quiet for a while), then any rotated sibling written in between,
 * oldest first, then the new file.  When the file shrank or its first
 * bytes changed (copytruncate) the rest is read from the copy beside it,
 * found by those first bytes, then the file from 0; the first bytes are
 * checked again after every read, as the file may change between a look
 * and a read.  A checkpoint resumes the same way.  Reading is bounded by
 * a budget per call so that a backlog never starves the caller's loop.
 * Nothing here knows libev or mail.
 *
 * One file under several paths (a symbolic link, a linked directory, a
 * "../" path) is read once, by device and inode: the path that begins
 * it first reads it, and a path that comes to a file another one reads
 * becomes its alias (tail_follow), reading nothing and opening nothing,
 * while its path names the file that one reads or will read next (mid
 * rotation).  A path that then names another file goes on by itself:
 * from the start of a file nobody reads, or, when it still names the
 * file its reader leaves for another, from where that reader stopped
 * (tail_handoff).  Each set of names is said once (tails_alias_warn).
 */

#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpwatch.h"

#define TAIL_CHUNK	(64 * 1024)	/* bytes per read */
#define TAIL_EVBUF	(16 * 1024)	/* inotify events per read */
#define TAIL_LINKS	40		/* symbolic links followed at most */
#define TAIL_DONE	8		/* finished files remembered */
#define TAIL_SCANS	5		/* directory scans until two agree */
#define TAIL_QUIET	5000		/* ms a renamed file is quiet before
					   an empty new one is taken */

#define TAIL_FILE_MASK	(IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF |		\
			    IN_DELETE_SELF | IN_CLOSE_WRITE)
#define TAIL_DIR_MASK	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |	\
			    IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF |	\
			    IN_ONLYDIR)

/* Warnings given once per source. */
#define TW_LIMIT	0x01		/* the inotify watch limit */
#define TW_WATCH	0x02		/* another inotify_add_watch error */
#define TW_OPEN		0x04		/* the path cannot be opened */
#define TW_READ		0x08		/* a read error */
#define TW_ALIAS	0x10		/* another path's alias, said */

/* One open file: the current one, or the one to read after it. */
struct tail_file {
	int			 fd;		/* -1 when none */
	struct sw_fileid	 id;
	uint64_t		 off;		/* the next byte to read */
	uint64_t		 size;		/* at the last look */
	int			 complete;	/* written no more: a copy or
						   a rotated sibling */
	long long		 emptyat;	/* ns, wall: first seen empty,
						   while its fplen is 0 */
};

/* How recent a file is: mtime, then birth time (0 when unknown). */
struct tail_age {
	long long		 m, b;
};

/* An inotify watch and the number of uses of it (by sources, fields). */
struct tail_watch {
	int			 wd;
	unsigned int		 refs;
};

/* What tail_scan() looks for in a directory. */
struct tail_pick {
	const char		*prefix;	/* rotated names of it, or NULL */
	int			 byino;		/* only dev, ino */
	uint64_t		 dev, ino;
	uint64_t		 xdev[3], xino[3];	/* excluded files */
	size_t			 nx;
	const struct sw_fileid	*fp;		/* first bytes must match */
	const struct sw_fileid	*done;		/* files not to take again */
	size_t			 ndone;
	uint64_t		 minsize;
	int			 useafter;	/* only files newer than after */
	struct tail_age		 after;
	int			 usebefore;	/* ... and not written after before */
	struct tail_age		 before;	/* (mtime only: a tie may be a
						   copy and its original) */
	int			 newest;	/* the newest match, else oldest */
	int			 found;
	struct tail_age		 age;		/* of the match */
	uint64_t		 fdev, fino;	/* ... which is this file */
	char			 path[PATH_MAX];
};

struct sw_tail {
	struct sw_tails		*ts;
	char			*path;		/* as configured */
	char			*dir, *base;	/* of path */
	char			*rdir, *rbase;	/* of the file path resolves to */
	void			*arg;
	struct tail_file	 cur;		/* being read */
	struct tail_file	 next;		/* read once cur is finished */
	struct tail_file	 after;		/* the original of the copy being
						   read: read after it, and
						   after other copies between */
	struct sw_lines		 ls;
	int			 dw, rdw;	/* watches on dir and rdir */
	uint64_t		 dwino, rdwino;	/* ... which are these */
	int			 fwd;		/* ... on cur */
	int			 lwd;		/* ... on the file at path */
	uint64_t		 lwdino;	/* ... which is this one */
	int			 marked;	/* look again before reading */
	int			 readable;	/* read on until EOF */
	int			 notlive;	/* path names another file */
	int			 confirm;	/* EOF with next set: read once
						   more, then switch */
	int			 fresh;		/* data or begin since drained */
	uint64_t		 lastdata;	/* ms: data or begin, last */
	uint64_t		 nextat;	/* ms: next was found */
	int			 startend;	/* the first file from its end */
	int			 polled;	/* a watch is missing */
	struct sw_tail		*alias;		/* reads our path's file: we
						   read nothing, open nothing */
	unsigned int		 warned;	/* TW_* */
	struct sw_fileid	 done[TAIL_DONE];	/* the files finished
							   last */
	size_t			 ndone;
	unsigned long		 rotations;
	unsigned long long	 bytes, lines;
};

struct sw_tails {
	struct sw_tail_cb	 cb;
	int			 fd;		/* inotify, or -1 */
	struct sw_tail	       **v;
	size_t			 n;
	struct tail_watch	*w;
	size_t			 nw;
	size_t			 rr;		/* the source read first */
	char			*buf;		/* TAIL_CHUNK bytes */
	uint64_t		 quiet;		/* TAIL_QUIET */
};

static void	tail_look(struct sw_tail *);

/* The wall clock as file timestamps have it (coarse), in nanoseconds. */
static long long
wall_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Milliseconds on the monotonic clock. */
static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* An empty slot. */
static void
file_init(struct tail_file *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

/* Closes f, if open, and empties the slot. */
static void
file_close(struct tail_file *f)
{
	if (f->fd != -1)
		close(f->fd);
	file_init(f);
}

/* 1 when st describes the file f has open. */
static int
file_is(const struct tail_file *f, const struct stat *st)
{
	return f->fd != -1 && f->id.dev == (uint64_t)st->st_dev &&
	    f->id.ino == (uint64_t)st->st_ino;
}

/*
 * Sets id to the hash of the first min(size, SW_FP_MAX) bytes of fd;
 * an empty file is known by when it was seen so.
 */
static void
file_fp(struct tail_file *f)
{
	char	 b[SW_FP_MAX];
	ssize_t	 n;

	if ((n = pread(f->fd, b, sizeof(b), 0)) < 0)
		n = 0;
	f->id.fplen = (uint32_t)n;
	f->id.fphash = fnv64(FNV64_INIT, b, (size_t)n);
	if (n == 0)
		f->emptyat = wall_ns();
}

/*
 * Checks that the first bytes of f are still those fingerprinted, and
 * extends the fingerprint while the file is shorter than SW_FP_MAX.
 * Returns 0, or -1 when they changed (the id is left as it was).
 */
static int
file_fp_check(struct tail_file *f)
{
	char	 b[SW_FP_MAX];
	ssize_t	 n;

	if ((n = pread(f->fd, b, sizeof(b), 0)) < 0)
		return 0;		/* unknown: not a truncation */
	if ((size_t)n < f->id.fplen ||
	    fnv64(FNV64_INIT, b, f->id.fplen) != f->id.fphash)
		return -1;
	if ((size_t)n > f->id.fplen) {
		f->id.fphash = fnv64(f->id.fphash, b + f->id.fplen,
		    (size_t)n - f->id.fplen);
		f->id.fplen = (uint32_t)n;
	}
	return 0;
}

/* 1 when the first id->fplen bytes of fd hash to id->fphash. */
static int
fp_match(int fd, const struct sw_fileid *id)
{
	char	 b[SW_FP_MAX];

	if (id->fplen > SW_FP_MAX ||
	    pread(fd, b, id->fplen, 0) != (ssize_t)id->fplen)
		return 0;
	return fnv64(FNV64_INIT, b, id->fplen) == id->fphash;
}

/* Extends f's fingerprint with bytes just read at off, where they fit. */
static void
file_fp_grow(struct tail_file *f, const char *b, size_t n, uint64_t off)
{
	uint64_t	 end;

	if (f->id.fplen >= SW_FP_MAX || off > f->id.fplen ||
	    off + n <= f->id.fplen)
		return;
	end = off + n < SW_FP_MAX ? off + n : SW_FP_MAX;
	f->id.fphash = fnv64(f->id.fphash, b + (f->id.fplen - off),
	    (size_t)(end - f->id.fplen));
	f->id.fplen = (uint32_t)end;
}

/*
 * Opens the regular file at path for reading (never blocking on a FIFO)
 * and fingerprints it.  Returns 0, or -1 with errno set.
 */
static int
file_open(struct tail_file *f, const char *path)
{
	struct stat	 st;

	file_init(f);
	if ((f->fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) == -1)
		return -1;
	if (fstat(f->fd, &st) == -1)
		st.st_mode = 0;
	if (!S_ISREG(st.st_mode)) {
		file_close(f);
		errno = EINVAL;
		return -1;
	}
	f->id.dev = (uint64_t)st.st_dev;
	f->id.ino = (uint64_t)st.st_ino;
	f->size = (uint64_t)st.st_size;
	file_fp(f);
	return 0;
}

/* The offset after the last newline of f, 0 when it has none. */
static uint64_t
file_lastline(const struct tail_file *f)
{
	char	 b[4096];
	uint64_t end = f->size;
	size_t	 n, i;

	while (end > 0) {
		n = end < sizeof(b) ? (size_t)end : sizeof(b);
		if (pread(f->fd, b, n, (off_t)(end - n)) != (ssize_t)n)
			return 0;
		for (i = n; i > 0; i--)
			if (b[i - 1] == '\n')
				return end - n + i;
		end -= n;
	}
	return 0;
}

/* The age of a statx result. */
static struct tail_age
age_of(const struct statx *sx)
{
	struct tail_age	 a;

	a.m = (long long)sx->stx_mtime.tv_sec * 1000000000LL +
	    sx->stx_mtime.tv_nsec;
	a.b = 0;
	if (sx->stx_mask & STATX_BTIME)
		a.b = (long long)sx->stx_btime.tv_sec * 1000000000LL +
		    sx->stx_btime.tv_nsec;
	return a;
}

/* 1 when a is newer than b: written later, or as late but born later. */
static int
age_newer(const struct tail_age *a, const struct tail_age *b)
{
	if (a->m != b->m)
		return a->m > b->m;
	return a->b != 0 && b->b != 0 && a->b > b->b;
}

/* Adds a use of an inotify watch on path; returns its wd or -1 (errno). */
static int
watch_add(struct sw_tails *ts, const char *path, uint32_t mask)
{
	size_t	 i;
	int	 wd;

	if (ts->fd == -1) {
		errno = ENOSYS;
		return -1;
	}
	if ((wd = inotify_add_watch(ts->fd, path, mask)) == -1)
		return -1;
	for (i = 0; i < ts->nw; i++)
		if (ts->w[i].wd == wd) {
			ts->w[i].refs++;
			return wd;
		}
	ts->w = xreallocarray(ts->w, ts->nw + 1, sizeof(*ts->w));
	ts->w[ts->nw].wd = wd;
	ts->w[ts->nw++].refs = 1;
	return wd;
}

/* Drops a use of wd; the last one removes the watch. */
static void
watch_drop(struct sw_tails *ts, int wd)
{
	size_t	 i;

	for (i = 0; i < ts->nw; i++) {
		if (ts->w[i].wd != wd)
			continue;
		if (--ts->w[i].refs == 0) {
			(void)inotify_rm_watch(ts->fd, wd);
			ts->w[i] = ts->w[--ts->nw];
		}
		return;
	}
}

/* Drops the use *wd of a source holds, if any. */
static void
tail_unwatch(struct sw_tail *t, int *wd)
{
	if (*wd != -1)
		watch_drop(t->ts, *wd);
	*wd = -1;
}

/* The kernel removed wd: every source using it looks again. */
static void
watch_gone(struct sw_tails *ts, int wd)
{
	struct sw_tail	*t;
	size_t		 i;

	for (i = 0; i < ts->nw; i++)
		if (ts->w[i].wd == wd) {
			ts->w[i] = ts->w[--ts->nw];
			break;
		}
	for (i = 0; i < ts->n; i++) {
		t = ts->v[i];
		if (t->dw == wd || t->rdw == wd || t->fwd == wd ||
		    t->lwd == wd)
			t->marked = 1;
		if (t->dw == wd)
			t->dw = -1;
		if (t->rdw == wd)
			t->rdw = -1;
		if (t->fwd == wd)
			t->fwd = -1;
		if (t->lwd == wd)
			t->lwd = -1;
	}
}

/* Splits path into a directory ("." when none) and a base name. */
static void
path_split(const char *path, char **dir, char **base)
{
	const char	*s;

	if ((s = strrchr(path, '/')) == NULL) {
		*dir = xstrdup(".");
		*base = xstrdup(path);
	} else {
		*dir = s == path ? xstrdup("/") :
		    xstrndup(path, (size_t)(s - path));
		*base = xstrdup(s + 1);
	}
}

/* The path path names after following symbolic links (it may not exist). */
static char *
path_resolve(const char *path)
{
	struct stat	 st;
	char		 buf[PATH_MAX], *p, *q, *dir, *base;
	ssize_t		 n;
	int		 i;

	p = xstrdup(path);
	for (i = 0; i < TAIL_LINKS; i++) {
		if (lstat(p, &st) == -1 || !S_ISLNK(st.st_mode) ||
		    (n = readlink(p, buf, sizeof(buf) - 1)) <= 0)
			break;
		buf[n] = '\0';
		if (buf[0] == '/')
			q = xstrdup(buf);
		else {
			path_split(p, &dir, &base);
			q = xmalloc(strlen(dir) + strlen(buf) + 2);
			sprintf(q, "%s/%s", dir, buf);
			free(dir);
			free(base);
		}
		free(p);
		p = q;
	}
	return p;
}

/*
 * Sets rdir and rbase to where the path leads now; the watch on the old
 * rdir goes when it changed.
 */
static void
tail_resolve(struct sw_tail *t)
{
	char	*r, *dir, *base;

	r = path_resolve(t->path);
	path_split(r, &dir, &base);
	free(r);
	if (t->rdir == NULL || strcmp(dir, t->rdir) != 0) {
		tail_unwatch(t, &t->rdw);
		free(t->rdir);
		t->rdir = dir;
	} else
		free(dir);
	free(t->rbase);
	t->rbase = base;
}

/*
 * Makes sure *wd watches path.  Returns 0, or 1 when it cannot: the
 * source is then polled (the watch limit is reported once).
 */
static int
tail_watch_one(struct sw_tail *t, int *wd, const char *path, uint32_t mask)
{
	if (*wd != -1)
		return 0;
	if ((*wd = watch_add(t->ts, path, mask)) != -1)
		return 0;
	if (errno == ENOSPC && !(t->warned & TW_LIMIT)) {
		t->warned |= TW_LIMIT;
		log_warnx("inotify watch limit reached "
		    "(fs.inotify.max_user_watches): watching %s by polling "
		    "every few seconds", t->path);
	} else if (errno != ENOSPC && errno != ENOENT && errno != ENOSYS &&
	    errno != ENOTDIR && errno != EACCES && !(t->warned & TW_WATCH)) {
		/* EACCES: tail_denied() says why the file may not be read. */
		t->warned |= TW_WATCH;
		log_warn("%s: inotify_add_watch %s", t->path, path);
	}
	return 1;
}

/* Watches the file being read, through its descriptor if /proc allows. */
static int
tail_watch_cur(struct sw_tail *t, const struct stat *pst)
{
	char	 p[64];

	if (t->cur.fd == -1 || t->cur.complete || t->fwd != -1)
		return 0;
	(void)snprintf(p, sizeof(p), "/proc/self/fd/%d", t->cur.fd);
	if ((t->fwd = watch_add(t->ts, p, TAIL_FILE_MASK)) != -1)
		return 0;
	if (errno == ENOENT && pst != NULL && file_is(&t->cur, pst))
		return tail_watch_one(t, &t->fwd, t->path, TAIL_FILE_MASK);
	return tail_watch_one(t, &t->fwd, p, TAIL_FILE_MASK);
}

/* Watches the file at path when it is not the one being read. */
static int
tail_watch_path(struct sw_tail *t, const struct stat *pst)
{
	if (pst == NULL || file_is(&t->cur, pst)) {
		tail_unwatch(t, &t->lwd);
		return 0;
	}
	if (t->lwd != -1 && t->lwdino != (uint64_t)pst->st_ino)
		tail_unwatch(t, &t->lwd);
	t->lwdino = (uint64_t)pst->st_ino;
	return tail_watch_one(t, &t->lwd, t->path, TAIL_FILE_MASK);
}

/*
 * Makes sure *wd watches the directory dir.  A watched directory that
 * was removed while a file in it is still open sends no IN_DELETE_SELF
 * until that file is closed: when check is set the watch is compared
 * with what dir names now.  Returns 0, or 1 when dir is not watched.
 */
static int
tail_watch_dir(struct sw_tail *t, int *wd, uint64_t *ino, const char *dir,
    int check)
{
	struct stat	 st;
	int		 there;

	if (*wd != -1 && !check)
		return 0;
	there = stat(dir, &st) == 0;
	if (*wd != -1 && (!there || (uint64_t)st.st_ino != *ino))
		tail_unwatch(t, wd);
	if (*wd != -1)
		return 0;
	if (tail_watch_one(t, wd, dir, TAIL_DIR_MASK) == 1)
		return 1;
	*ino = there ? (uint64_t)st.st_ino : 0;
	return 0;
}

/* Sets up whatever watch is missing; pst is the path's stat or NULL. */
static void
tail_watch(struct sw_tail *t, const struct stat *pst)
{
	int	 lost = 0, check;

	check = pst == NULL || !file_is(&t->cur, pst);
	lost |= tail_watch_dir(t, &t->dw, &t->dwino, t->dir, check);
	lost |= tail_watch_dir(t, &t->rdw, &t->rdwino, t->rdir, check);
	lost |= tail_watch_cur(t, pst);
	lost |= tail_watch_path(t, pst);
	if (t->polled && !lost && (t->warned & TW_LIMIT))
		log_info("%s: watched by inotify again", t->path);
	t->polled = lost;
}

/*
 * 1 when name is a rotated, uncompressed sibling of base: base, then
 * '.', '-' or '_' and a digit (mail.log.1, mail.log-20261128).
 */
static int
tail_rotated(const char *name, const char *base)
{
	static const char *const zips[] = { ".gz", ".xz", ".bz2", ".zst",
	    ".lz4", ".lzma", ".Z" };
	size_t	 n = strlen(base), len = strlen(name), i, z;

	if (strncmp(name, base, n) != 0 || name[n] == '\0' ||
	    strchr(".-_", name[n]) == NULL ||
	    !isdigit((unsigned char)name[n + 1]))
		return 0;
	for (i = 0; i < sizeof(zips) / sizeof(zips[0]); i++) {
		z = strlen(zips[i]);
		if (len > z && strcmp(name + len - z, zips[i]) == 0)
			return 0;
	}
	return 1;
}

/* 1 when dev, ino may be a file pk must not take again. */
static int
pick_done(const struct tail_pick *pk, uint64_t dev, uint64_t ino)
{
	size_t	 i;

	for (i = 0; i < pk->ndone; i++)
		if (dev == pk->done[i].dev && ino == pk->done[i].ino)
			return 1;
	return 0;
}

/*
 * 1 when the file at path passes pk's tests; sets *age.  A file that
 * was finished is known by its first bytes too: an inode number is
 * reused once its file is deleted.
 */
static int
pick_test(const struct tail_pick *pk, const char *path, const char *name,
    struct tail_age *age, uint64_t *fdev, uint64_t *fino)
{
	struct statx	 sx;
	uint64_t	 dev, ino;
	size_t		 i;
	int		 fd, ok;

	if (pk->prefix != NULL && !tail_rotated(name, pk->prefix))
		return 0;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW,
	    STATX_BASIC_STATS | STATX_BTIME, &sx) == -1 ||
	    !S_ISREG(sx.stx_mode) || sx.stx_size < pk->minsize)
		return 0;
	*fdev = dev = (uint64_t)makedev(sx.stx_dev_major, sx.stx_dev_minor);
	*fino = ino = sx.stx_ino;
	if (pk->byino && (dev != pk->dev || ino != pk->ino))
		return 0;
	for (i = 0; i < pk->nx; i++)
		if (dev == pk->xdev[i] && ino == pk->xino[i])
			return 0;
	*age = age_of(&sx);
	if ((pk->useafter && !age_newer(age, &pk->after)) ||
	    (pk->usebefore && age->m > pk->before.m))
		return 0;
	if (pk->found && age_newer(age, &pk->age) != pk->newest)
		return 0;
	if (pk->fp == NULL && !pick_done(pk, dev, ino))
		return 1;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return 0;
	ok = pk->fp == NULL || fp_match(fd, pk->fp);
	for (i = 0; ok && i < pk->ndone; i++)
		if (dev == pk->done[i].dev && ino == pk->done[i].ino &&
		    fp_match(fd, &pk->done[i]))
			ok = 0;
	close(fd);
	return ok;
}

/* Looks through dir for the file pk describes; keeps the best match. */
static void
tail_scan(struct tail_pick *pk, const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct tail_age	 age;
	uint64_t	 dev, ino;
	char		 path[PATH_MAX];
	int		 n;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    !pick_test(pk, path, de->d_name, &age, &dev, &ino))
			continue;
		memcpy(pk->path, path, (size_t)n + 1);
		pk->age = age;
		pk->fdev = dev;
		pk->fino = ino;
		pk->found = 1;
	}
	closedir(d);
}

/* Opens what pk found and checks it again.  Returns 0 or -1. */
static int
pick_open(const struct tail_pick *pk, struct tail_file *f)
{
	if (!pk->found || file_open(f, pk->path) == -1)
		return -1;
	if (f->id.dev != pk->fdev || f->id.ino != pk->fino ||
	    f->size < pk->minsize || (pk->fp != NULL && !fp_match(f->fd,
	    pk->fp))) {
		file_close(f);
		return -1;
	}
	return 0;
}

/* One search of dir, then of dir2 unless NULL or something was found. */
static void
pick_scan(struct tail_pick *pk, const char *dir, const char *dir2)
{
	tail_scan(pk, dir);
	if (!pk->found && dir2 != NULL && strcmp(dir, dir2) != 0)
		tail_scan(pk, dir2);
}

/*
 * Searches for pk and opens the match.  readdir(3) may miss a file
 * renamed while it runs (logrotate shifting mail.log.N), so a result
 * counts once two scans in a row agree.  Returns 0 with f open, or -1.
 */
static int
pick_find(const struct tail_pick *pk, const char *dir, const char *dir2,
    struct tail_file *f)
{
	struct tail_pick	 a, b;
	int			 i;

	for (i = 0; i < TAIL_SCANS; i++) {
		a = b = *pk;
		pick_scan(&a, dir, dir2);
		pick_scan(&b, dir, dir2);
		if (a.found != b.found || (a.found && (a.fdev != b.fdev ||
		    a.fino != b.fino)))
			continue;
		if (!a.found)
			return -1;
		if (pick_open(&a, f) == 0)
			return 0;
	}
	return -1;
}

/* A search that any regular file passes. */
static void
pick_init(struct tail_pick *pk)
{
	memset(pk, 0, sizeof(*pk));
}

/* Leaves the file dev, ino out of the search (three at most). */
static void
pick_exclude(struct tail_pick *pk, uint64_t dev, uint64_t ino)
{
	if (pk->nx < 3) {
		pk->xdev[pk->nx] = dev;
		pk->xino[pk->nx++] = ino;
	}
}

/*
 * The copy copytruncate made of the file id (read up to min): a rotated
 * sibling, not that file, at least min bytes long, with the same first
 * bytes; the newest if several.  Returns 0 with f open, or -1.
 */
static int
tail_copy(const struct sw_tail *t, const struct sw_fileid *id, uint64_t min,
    struct tail_file *f)
{
	struct tail_pick	 pk;

	pick_init(&pk);
	pk.prefix = t->rbase;
	pick_exclude(&pk, id->dev, id->ino);
	pk.fp = id;
	pk.minsize = min;
	pk.newest = 1;
	if (pick_find(&pk, t->rdir, NULL, f) == -1)
		return -1;
	f->complete = 1;
	return 0;
}

/*
 * The file of a checkpoint, whatever it holds now: at the path, under a
 * rotated name, or under any name beside the path or its target when
 * its first bytes still match.  Returns 0 with f open, or -1.
 */
static int
tail_inode(const struct sw_tail *t, const struct sw_fileid *id,
    struct tail_file *f)
{
	struct tail_pick	 pk;

	if (file_open(f, t->path) == 0) {
		if (f->id.dev == id->dev && f->id.ino == id->ino)
			return 0;
		file_close(f);
	}
	pick_init(&pk);
	pk.byino = 1;
	pk.dev = id->dev;
	pk.ino = id->ino;
	pk.prefix = t->rbase;
	if (pick_find(&pk, t->rdir, NULL, f) == 0)
		return 0;
	pk.prefix = NULL;
	pk.fp = id;
	return pick_find(&pk, t->dir, t->rdir, f);
}

/*
 * The file x (open) was empty at the time since (ns) and nothing of it
 * was read: a rotated sibling written since then, and not after x, is
 * a copy copytruncate made of it (one written after x follows it).
 * Files finished before are not taken.  Returns 0 with the oldest such
 * open, or -1.
 */
static int
tail_copy_since(const struct sw_tail *t, long long since,
    const struct tail_file *x, struct tail_file *f)
{
	struct tail_pick	 pk;
	struct statx		 sx;

	if (statx(x->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME,
	    &sx) == -1)
		return -1;
	pick_init(&pk);
	pk.prefix = t->rbase;
	pick_exclude(&pk, x->id.dev, x->id.ino);
	pk.minsize = 1;
	pk.useafter = 1;
	pk.after.m = since - 1;
	pk.usebefore = 1;
	pk.before = age_of(&sx);
	pk.done = t->done;
	pk.ndone = t->ndone;
	if (pick_find(&pk, t->rdir, NULL, f) == -1)
		return -1;
	f->complete = 1;
	return 0;
}

/*
 * The oldest rotated sibling newer than the file being read, not empty,
 * other than it and the file at the path (live, or NULL), and not one
 * it finished before.  They were written after it: rotations it missed.
 * While a copy is read, only files up to its original (t->after) count:
 * other copies made before the original was written again.  Returns 0
 * with f open, or -1.
 */
static int
tail_sibling(const struct sw_tail *t, const struct sw_fileid *live,
    struct tail_file *f)
{
	struct tail_pick	 pk;
	struct statx		 sx;

	if (statx(t->cur.fd, "", AT_EMPTY_PATH,
	    STATX_BASIC_STATS | STATX_BTIME, &sx) == -1)
		return -1;
	pick_init(&pk);
	pk.prefix = t->rbase;
	pick_exclude(&pk, t->cur.id.dev, t->cur.id.ino);
	if (live != NULL)
		pick_exclude(&pk, live->dev, live->ino);
	pk.minsize = 1;
	pk.useafter = 1;
	pk.after = age_of(&sx);
	pk.done = t->done;
	pk.ndone = t->ndone;
	if (t->after.fd != -1 && statx(t->after.fd, "", AT_EMPTY_PATH,
	    STATX_BASIC_STATS | STATX_BTIME, &sx) == 0) {
		pick_exclude(&pk, t->after.id.dev, t->after.id.ino);
		pk.usebefore = 1;
		pk.before = age_of(&sx);
	}
	if (pick_find(&pk, t->rdir, NULL, f) == -1)
		return -1;
	f->complete = 1;
	return 0;
}

/* lines.c hands on one line: pass it on with its offsets. */
static void
tail_line(void *arg, const char *p, size_t n, int cut)
{
	struct sw_tail	*t = arg;

	t->lines++;
	t->ts->cb.line(t->arg, p, n, cut, t->ls.start, t->ls.next);
}

/* The tail other than t that reads the file dev, ino, or NULL. */
static struct sw_tail *
tail_reading(const struct sw_tail *t, uint64_t dev, uint64_t ino)
{
	struct sw_tail	*u;
	size_t		 i;

	for (i = 0; i < t->ts->n; i++) {
		u = t->ts->v[i];
		if (u != t && u->alias == NULL && u->cur.fd != -1 &&
		    u->cur.id.dev == dev && u->cur.id.ino == ino)
			return u;
	}
	return NULL;
}

/*
 * The tail other than t that reads the file st describes, or will: its
 * path names it while it finishes the file before (a rotation).  NULL
 * when none does.
 */
static struct sw_tail *
tail_reader(const struct sw_tail *t, const struct stat *st)
{
	struct sw_tail	*u;
	struct stat	 ust;
	size_t		 i;

	if ((u = tail_reading(t, (uint64_t)st->st_dev,
	    (uint64_t)st->st_ino)) != NULL)
		return u;
	for (i = 0; i < t->ts->n; i++) {
		u = t->ts->v[i];
		if (u != t && u->alias == NULL && u->cur.fd != -1 &&
		    stat(u->path, &ust) == 0 && ust.st_dev == st->st_dev &&
		    ust.st_ino == st->st_ino)
			return u;
	}
	return NULL;
}

/*
 * t becomes an alias of r, which reads the file f (open, or not) that
 * t was to begin: t closes its files, and so do the aliases t had.
 */
static void
tail_follow(struct sw_tail *t, struct sw_tail *r, struct tail_file *f)
{
	size_t	 i;

	if (f != NULL && f->fd != t->cur.fd)
		file_close(f);
	tail_unwatch(t, &t->fwd);
	tail_unwatch(t, &t->lwd);
	file_close(&t->cur);
	file_close(&t->next);
	file_close(&t->after);
	lines_reset(&t->ls, 0);
	t->alias = r;
	t->readable = 0;
	t->notlive = t->confirm = 0;
	for (i = 0; i < t->ts->n; i++)
		if (t->ts->v[i]->alias == t)
			t->ts->v[i]->alias = r;
}

/*
 * f (open, f->off set) becomes the file being read; begin() is called.
 * When another tail reads that file, t becomes its alias instead.
 */
static void
tail_begin(struct sw_tail *t, struct tail_file *f)
{
	struct sw_tail	*r;

	if ((r = tail_reading(t, f->id.dev, f->id.ino)) != NULL) {
		tail_follow(t, r, f);
		return;
	}
	tail_unwatch(t, &t->fwd);
	if (t->cur.fd != f->fd)
		file_close(&t->cur);
	t->cur = *f;
	if (t->cur.size < t->cur.off)
		t->cur.size = t->cur.off;
	lines_reset(&t->ls, t->cur.off);
	t->fresh = 1;
	t->confirm = 0;
	t->lastdata = now_ms();
	t->ts->cb.begin(t->arg, &t->cur.id, t->cur.off);
}

/*
 * t leaves the file it read for another: an alias of t whose path still
 * names that file reads it on, from where t stopped (the others of them
 * become its aliases).
 */
static void
tail_handoff(struct sw_tail *t)
{
	struct sw_tail	*u, *heir = NULL;
	struct stat	 st;
	size_t		 i;

	for (i = 0; i < t->ts->n; i++) {
		u = t->ts->v[i];
		if (u->alias != t || stat(u->path, &st) == -1 ||
		    !file_is(&t->cur, &st))
			continue;
		if (heir != NULL) {
			u->alias = heir;
			continue;
		}
		heir = u;
		u->alias = NULL;
		u->cur = t->cur;		/* the descriptor moves */
		file_init(&t->cur);
		lines_reset(&u->ls, u->cur.off);
		u->fresh = 1;
		u->confirm = u->notlive = 0;
		u->lastdata = now_ms();
		u->marked = u->readable = 1;
		log_info("%s: %s goes on to another file: the file they both "
		    "named is read on through %s alone, from where it stood",
		    u->path, t->path, u->path);
		t->ts->cb.begin(u->arg, &u->cur.id, u->cur.off);
	}
}

/* The current file is finished: its last partial line, end(), next. */
static void
tail_advance(struct sw_tail *t)
{
	struct tail_file	 f = t->next;

	file_init(&t->next);
	lines_finish(&t->ls);
	t->ts->cb.end(t->arg);
	t->done[t->ndone++ % TAIL_DONE] = t->cur.id;
	if (t->ndone == 2 * TAIL_DONE)
		t->ndone = TAIL_DONE;
	t->notlive = 1;			/* tail_find_next() checks */
	t->rotations++;
	tail_handoff(t);
	tail_begin(t, &f);
}

static void
tail_username(uid_t uid, char *buf, size_t size)
{
	struct passwd	*pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%lu", (unsigned long)uid);
}

static void
tail_groupname(gid_t gid, char *buf, size_t size)
{
	struct group	*gr = getgrgid(gid);

	if (gr != NULL)
		snprintf(buf, size, "%s", gr->gr_name);
	else
		snprintf(buf, size, "%lu", (unsigned long)gid);
}

/*
 * Why a log may not be read, said once: who owns it, who we are, and
 * what usually fixes it (Debian's logs are root:adm 0640).  glibc's
 * group_member() counts the supplementary groups.
 */
static void
tail_denied(const struct sw_tail *t, int err)
{
	struct stat	 st;
	char		 me[64], owner[64], group[64];

	tail_username(geteuid(), me, sizeof(me));
	if (stat(t->path, &st) == -1) {
		log_warnx("%s: cannot read: %s: a directory on its way may not "
		    "be searched by user %s; the other logs are watched",
		    t->path, strerror(err), me);
		return;
	}
	tail_username(st.st_uid, owner, sizeof(owner));
	tail_groupname(st.st_gid, group, sizeof(group));
	log_warnx("%s: cannot read: %s: the file is %s:%s mode %04o and "
	    "smtpwatchd runs as user %s, %s group %s; add the group to the "
	    "service (SupplementaryGroups=%s; the shipped unit has adm) or "
	    "make the file readable; the other logs are watched, this one "
	    "once it may be read", t->path, strerror(err), owner, group,
	    (unsigned)(st.st_mode & 07777), me,
	    group_member(st.st_gid) ? "in" : "not in", group, group);
}

/* Opens the path for the first time, or after it was missing. */
static void
tail_first(struct sw_tail *t)
{
	struct tail_file	 f;

	if (file_open(&f, t->path) == -1) {
		if (errno != ENOENT && !(t->warned & TW_OPEN)) {
			t->warned |= TW_OPEN;
			if (errno == EACCES || errno == EPERM)
				tail_denied(t, errno);
			else
				log_warn("%s: open", t->path);
		}
		return;
	}
	if (t->warned & TW_OPEN)
		log_info("%s: readable now", t->path);
	t->warned &= ~TW_OPEN;
	f.off = t->startend ? file_lastline(&f) : 0;
	t->startend = 0;
	tail_begin(t, &f);
}

/*
 * The stream goes on in the copy c, at the same offset; the file it was
 * copied from is read after it, from 0.
 */
static void
tail_to_copy(struct sw_tail *t, struct tail_file *c)
{
	t->ts->cb.moved(t->arg, &c->id);
	tail_unwatch(t, &t->fwd);
	c->off = t->cur.off;
	file_close(&t->next);		/* found again after this one */
	file_close(&t->after);
	t->after = t->cur;
	t->after.off = 0;
	file_fp(&t->after);
	t->cur = *c;
	t->confirm = 0;
}

/*
 * The file being read shrank or its first bytes changed: copytruncate
 * (perhaps followed by a rename).  The rest is read from the copy
 * beside it, at the same offsets, then the file from 0; without a copy,
 * the file from 0 at once.
 */
static void
tail_truncated(struct sw_tail *t)
{
	struct tail_file	 c;

	if (tail_copy(t, &t->cur.id, t->cur.off, &c) == 0) {
		log_debug("%s: truncated: reading the rest from its copy",
		    t->path);
		tail_to_copy(t, &c);
		return;
	}
	log_warnx("%s: truncated below the read position; no copy beside "
	    "it: some lines may be lost", t->path);
	lines_finish(&t->ls);
	t->ts->cb.end(t->arg);
	t->rotations++;
	file_fp(&t->cur);
	t->cur.off = 0;
	lines_reset(&t->ls, 0);
	t->fresh = 1;
	t->confirm = 0;
	t->ts->cb.begin(t->arg, &t->cur.id, 0);
}

/*
 * Was the file being read truncated (whether the path names it or not)?
 * When nothing of it is known yet (begun empty), was it copied first?
 */
static void
tail_check(struct sw_tail *t)
{
	struct stat	 st;

	struct tail_file	 c;

	if (fstat(t->cur.fd, &st) == -1)
		return;
	t->cur.size = (uint64_t)st.st_size;
	if (t->cur.off == 0 && t->cur.id.fplen == 0) {
		/*
		 * Nothing known of it: copied since it was first seen
		 * empty?  (Empty again now says nothing of what came and
		 * went in between.)
		 */
		if (t->cur.size > 0 &&
		    tail_copy_since(t, t->cur.emptyat, &t->cur, &c) == 0)
			tail_to_copy(t, &c);
		return;
	}
	if (t->cur.size >= t->cur.off && file_fp_check(&t->cur) == 0)
		return;
	tail_truncated(t);
}

/*
 * An alias looks at its path: while it names nothing, or the file
 * another tail reads or will read next, it stays an alias (of that
 * tail); else it goes on by itself, from the start of that file.  Only
 * the directories are watched: the reader watches the file.
 */
static void
tail_alias_look(struct sw_tail *t)
{
	struct sw_tail	*r;
	struct stat	 st;
	int		 lost = 0;

	tail_resolve(t);
	tail_unwatch(t, &t->lwd);
	lost |= tail_watch_dir(t, &t->dw, &t->dwino, t->dir, 1);
	lost |= tail_watch_dir(t, &t->rdw, &t->rdwino, t->rdir, 1);
	t->polled = lost;
	t->readable = 0;
	if (stat(t->path, &st) == -1 || !S_ISREG(st.st_mode))
		return;
	if ((r = tail_reader(t, &st)) != NULL) {
		t->alias = r;
		return;
	}
	log_info("%s: no longer the same file as %s: read by itself, from "
	    "its start", t->path, t->alias->path);
	t->alias = NULL;
	t->startend = 0;
	tail_first(t);
	if (t->alias == NULL)
		tail_watch(t, t->cur.fd != -1 ? &st : NULL);
	t->readable = t->cur.fd != -1;
}

/*
 * Re-stats the path after an event (or a poll): opens it when it was
 * missing, notes when it names another file, checks for truncation,
 * and sets up the watches.
 */
static void
tail_look(struct sw_tail *t)
{
	struct stat	 st;
	int		 live;

	if (t->alias != NULL) {
		tail_alias_look(t);
		return;
	}
	tail_resolve(t);
	live = stat(t->path, &st) == 0;
	if (live && !S_ISREG(st.st_mode)) {
		if (!(t->warned & TW_OPEN))
			log_warnx("%s: not a regular file", t->path);
		t->warned |= TW_OPEN;
		live = 0;
	}
	if (t->cur.fd == -1) {
		if (live)
			tail_first(t);
		if (t->alias != NULL) {		/* another tail reads it */
			tail_alias_look(t);
			return;
		}
	} else if (!t->cur.complete) {
		t->notlive = !live || !file_is(&t->cur, &st);
		if (!t->notlive)
			file_close(&t->next);	/* renamed back */
		tail_check(t);
	}
	tail_watch(t, live ? &st : NULL);
	t->readable = t->cur.fd != -1;
}

/*
 * At the end of a file that the path no longer names, or of a copy:
 * finds what to read next, a rotated sibling written after it, else the
 * file at the path.  The path is opened before the siblings are looked
 * for: a file rotated away before is a sibling then, one rotated away
 * after is the one held.  Returns 0 with t->next open, or -1 to wait.
 */
static int
tail_find_next(struct sw_tail *t)
{
	struct tail_file	 live;
	int			 haslive;

	if (!t->cur.complete && !t->notlive)
		return -1;
	haslive = file_open(&live, t->path) == 0;
	if (haslive && live.id.dev == t->cur.id.dev &&
	    live.id.ino == t->cur.id.ino) {
		file_close(&live);
		t->notlive = 0;
		return -1;
	}
	t->nextat = now_ms();
	if (tail_sibling(t, haslive ? &live.id : NULL, &t->next) == 0 ||
	    t->after.fd != -1) {
		if (t->next.fd == -1) {
			t->next = t->after;
			file_init(&t->after);
		}
		file_close(&live);
		return 0;
	}
	if (!haslive)
		return -1;
	t->next = live;
	return 0;
}

/*
 * 1 when the next file may begin: it is complete, or it has data, or
 * the current one has been quiet for a while since the next one was
 * found (a poll comes to look).  A writer may append to a renamed file
 * until it reopens; and a file begun empty gives a checkpoint that
 * knows nothing of its content.  An empty next file that the path no
 * longer names is dropped.
 */
static int
tail_next_ready(struct sw_tail *t)
{
	struct stat	 st;
	uint64_t	 since;

	since = t->lastdata > t->nextat ? t->lastdata : t->nextat;
	if (t->next.complete || now_ms() - since >= t->ts->quiet ||
	    (fstat(t->next.fd, &st) == 0 && st.st_size > 0))
		return 1;
	if (stat(t->path, &st) == -1 || !file_is(&t->next, &st))
		file_close(&t->next);
	return 0;
}

/*
 * A read found the end of the current file.  Returns 1 when reading goes
 * on (once more in it, or in the next file), 0 to wait for an event.
 */
static int
tail_eof(struct sw_tail *t)
{
	if ((t->next.fd == -1 && tail_find_next(t) == -1) ||
	    !tail_next_ready(t)) {
		if (t->fresh && t->ls.held == 0) {
			t->fresh = 0;
			t->ts->cb.drained(t->arg);
		}
		return 0;
	}
	if (!t->confirm) {
		t->confirm = 1;		/* what was written before we saw */
		return 1;		/* the next file had data */
	}
	tail_advance(t);
	return 1;
}

/* Hands on n bytes just read at the current offset. */
static void
tail_feed(struct sw_tail *t, const char *b, size_t n)
{
	file_fp_grow(&t->cur, b, n, t->cur.off);
	t->cur.off += n;
	if (t->cur.size < t->cur.off)
		t->cur.size = t->cur.off;
	t->bytes += n;
	t->fresh = 1;
	t->confirm = 0;
	t->lastdata = now_ms();
	if (t->ts->cb.chunk != NULL)
		t->ts->cb.chunk(t->arg, b, n, t->ls.off);
	lines_feed(&t->ls, b, n);
}

/*
 * After a read: 0 when what was read is still the content of the file
 * being read (its first bytes are those fingerprinted; when it was begun
 * empty, no copy was made of it since), else -1 after switching to its
 * copy or its start.
 */
static int
tail_verify(struct sw_tail *t)
{
	struct tail_file	 c;

	if (t->cur.complete)
		return 0;
	if (t->cur.off == 0 && t->cur.id.fplen == 0) {
		if (tail_copy_since(t, t->cur.emptyat, &t->cur, &c) == -1)
			return 0;
		tail_to_copy(t, &c);
		return -1;
	}
	if (file_fp_check(&t->cur) == 0)
		return 0;
	tail_truncated(t);
	return -1;
}

/*
 * Reads at most left bytes, across file switches.  A file may be
 * truncated and written again between a look and a read: its first
 * bytes are checked after each read, and a chunk read from the new
 * content is dropped (the copy has the old).  Returns the number read;
 * t->readable stays set when left ran out before an end.
 */
static size_t
tail_read(struct sw_tail *t, size_t left)
{
	size_t	 used = 0, want;
	ssize_t	 n;

	while (t->cur.fd != -1 && used < left) {
		want = left - used < TAIL_CHUNK ? left - used : TAIL_CHUNK;
		n = pread(t->cur.fd, t->ts->buf, want, (off_t)t->cur.off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			if (!(t->warned & TW_READ))
				log_warn("%s: read", t->path);
			t->warned |= TW_READ;
			break;
		}
		if (n > 0 && tail_verify(t) == -1)
			continue;		/* the chunk may be new data */
		if (n > 0) {
			t->warned &= ~TW_READ;
			tail_feed(t, t->ts->buf, (size_t)n);
			used += (size_t)n;
		} else if (tail_eof(t) == 0)
			break;
	}
	if (used < left)
		t->readable = 0;
	return used;
}

/* x is read after the copy t begun, unless t is an alias. */
static void
tail_after(struct sw_tail *t, struct tail_file *x)
{
	if (t->alias != NULL)
		file_close(x);
	else
		t->after = *x;
}

/*
 * Resumes from a committed checkpoint: its file, under whatever name,
 * at the offset when it is whole (unless it was empty then and copies
 * were made since); else the copy a copytruncate left, at the offset;
 * else the truncated file from 0.  What followed is found at the end of
 * each (tail_find_next).  Lost ground is reported.
 */
static void
tail_resume(struct sw_tail *t, const struct sw_checkpoint *cp)
{
	struct tail_file	 x, f;

	if (tail_inode(t, &cp->id, &x) == 0 && x.size >= cp->offset &&
	    fp_match(x.fd, &cp->id)) {
		if (cp->id.fplen == 0 && cp->offset == 0 && cp->updated > 0 &&
		    tail_copy_since(t, (long long)cp->updated * 1000000000LL,
		    &x, &f) == 0) {
			tail_begin(t, &f);
			tail_after(t, &x);
			return;
		}
		x.off = cp->offset;
		tail_begin(t, &x);
		return;
	}
	if (tail_copy(t, &cp->id, cp->offset, &f) == 0) {
		f.off = cp->offset;
		tail_begin(t, &f);
		if (x.fd != -1)
			x.off = 0;
		tail_after(t, &x);	/* fd -1 when it is gone */
		return;
	}
	if (x.fd != -1) {
		log_warnx("%s: truncated below the read position; no copy "
		    "beside it: some lines may be lost", t->path);
		tail_begin(t, &x);
		return;
	}
	log_warnx("%s: the file read before (inode %llu) is gone: lines "
	    "written to it after the checkpoint may be lost", t->path,
	    (unsigned long long)cp->id.ino);
	if (file_open(&f, t->path) == 0)
		tail_begin(t, &f);
}

/*
 * A set of followed paths sharing one inotify instance; without one,
 * every path is polled.
 */
struct sw_tails *
tails_new(const struct sw_tail_cb *cb)
{
	struct sw_tails	*ts;

	ts = xcalloc(1, sizeof(*ts));
	ts->cb = *cb;
	ts->buf = xmalloc(TAIL_CHUNK);
	ts->quiet = TAIL_QUIET;
	if ((ts->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		log_warn("inotify_init1: every log is polled");
	return ts;
}

/* Closes a source's files; its watches go with the inotify instance. */
static void
tail_free(struct sw_tail *t)
{
	file_close(&t->cur);
	file_close(&t->next);
	file_close(&t->after);
	lines_free(&t->ls);
	free(t->path);
	free(t->dir);
	free(t->base);
	free(t->rdir);
	free(t->rbase);
	free(t);
}

/* Closes every file and the inotify instance; NULL is a no-op. */
void
tails_free(struct sw_tails *ts)
{
	size_t	 i;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->n; i++)
		tail_free(ts->v[i]);
	if (ts->fd != -1)
		close(ts->fd);
	free(ts->v);
	free(ts->w);
	free(ts->buf);
	free(ts);
}

/* The descriptor to wait on for tails_inotify(), or -1. */
int
tails_fd(const struct sw_tails *ts)
{
	return ts->fd;
}

/*
 * Follows path; arg goes to every callback of it.  cp is its committed
 * checkpoint, or NULL: then a file there now is read from its last
 * line end when from_end is set, from 0 otherwise, and a file that
 * appears later from 0.  begin() is called once a file is open; the
 * data is read by tails_run().
 */
struct sw_tail *
tail_add(struct sw_tails *ts, const char *path, void *arg,
    const struct sw_checkpoint *cp, int from_end)
{
	struct sw_tail	*t;
	struct stat	 st;

	t = xcalloc(1, sizeof(*t));
	t->ts = ts;
	t->path = xstrdup(path);
	t->arg = arg;
	file_init(&t->cur);
	file_init(&t->next);
	file_init(&t->after);
	t->dw = t->rdw = t->fwd = t->lwd = -1;
	path_split(path, &t->dir, &t->base);
	lines_init(&t->ls, tail_line, t);
	tail_resolve(t);
	ts->v = xreallocarray(ts->v, ts->n + 1, sizeof(*ts->v));
	ts->v[ts->n++] = t;
	if (cp != NULL)
		tail_resume(t, cp);
	else
		t->startend = from_end && stat(path, &st) == 0;
	if (t->cur.fd == -1 && stat(path, &st) == -1 && errno == ENOENT)
		log_info("%s: does not exist yet: waiting for it", path);
	tail_look(t);
	return t;
}

/* Marks the sources a directory event concerns. */
static void
tail_dir_event(struct sw_tail *t, const struct inotify_event *ev)
{
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		if (t->dw == ev->wd)
			tail_unwatch(t, &t->dw);
		if (t->rdw == ev->wd)
			tail_unwatch(t, &t->rdw);
		t->marked = 1;
		return;
	}
	if (ev->len == 0)
		return;
	if ((t->dw == ev->wd && strcmp(ev->name, t->base) == 0) ||
	    (t->rdw == ev->wd && strcmp(ev->name, t->rbase) == 0))
		t->marked = 1;
}

/* Dispatches one inotify event to the sources it concerns. */
static void
tails_event(struct sw_tails *ts, const struct inotify_event *ev)
{
	struct sw_tail	*t;
	size_t		 i;

	if (ev->mask & IN_Q_OVERFLOW) {
		log_warnx("inotify queue overflowed: checking every file");
		tails_poll(ts);
		return;
	}
	if (ev->mask & IN_IGNORED) {
		watch_gone(ts, ev->wd);
		return;
	}
	for (i = 0; i < ts->n; i++) {
		t = ts->v[i];
		if (ev->wd == t->fwd || ev->wd == t->lwd)
			t->marked = 1;
		else if (ev->wd == t->dw || ev->wd == t->rdw)
			tail_dir_event(t, ev);
	}
}

/* Reads the pending inotify events and marks the sources to look at. */
void
tails_inotify(struct sw_tails *ts)
{
	_Alignas(struct inotify_event) char	 buf[TAIL_EVBUF];
	const struct inotify_event		*ev;
	ssize_t					 n;
	size_t					 i;

	if (ts->fd == -1)
		return;
	for (;;) {
		if ((n = read(ts->fd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warn("inotify read");
			return;
		}
		if (n == 0)
			return;
		for (i = 0; i + sizeof(*ev) <= (size_t)n;) {
			ev = (const struct inotify_event *)(buf + i);
			tails_event(ts, ev);
			i += sizeof(*ev) + ev->len;
		}
	}
}

/* Marks every source: the periodic look, the only one for polled ones. */
void
tails_poll(struct sw_tails *ts)
{
	size_t	 i;

	for (i = 0; i < ts->n; i++)
		ts->v[i]->marked = 1;
}

/*
 * Says once, for each file read under one path and also named by
 * others, which paths those are.
 */
static void
tails_alias_warn(struct sw_tails *ts)
{
	struct sw_tail	*r, *u;
	char		*names = NULL;
	size_t		 i, j, len = 0;
	FILE		*fp;

	for (i = 0; i < ts->n; i++) {
		r = ts->v[i];
		if (r->alias != NULL)
			continue;
		fp = NULL;
		for (j = 0; j < ts->n; j++) {
			u = ts->v[j];
			if (u->alias != r || (u->warned & TW_ALIAS))
				continue;
			u->warned |= TW_ALIAS;
			if (fp == NULL && (fp = open_memstream(&names,
			    &len)) == NULL)
				fatal("open_memstream");
			fprintf(fp, "%s%s", ftell(fp) > 0 ? ", " : "", u->path);
		}
		if (fp == NULL)
			continue;
		if (fclose(fp) != 0)
			fatal("open_memstream");
		log_warnx("%s is also configured as %s: one file (device "
		    "%u:%u, inode %llu), read once, through %s; its lines count "
		    "once; drop the other names from the configuration",
		    r->path, names, major((dev_t)r->cur.id.dev),
		    minor((dev_t)r->cur.id.dev),
		    (unsigned long long)r->cur.id.ino, r->path);
		free(names);
		names = NULL;
	}
}

/*
 * Looks at the marked sources and reads at most budget bytes in all,
 * starting after the source that used up the last budget.  Returns 1
 * when data is left for another call, 0 when every source has waited.
 */
int
tails_run(struct sw_tails *ts, size_t budget)
{
	struct sw_tail	*t;
	size_t		 k, i, first = ts->rr;
	int		 more = 0;

	if (budget == 0)
		budget = 1;
	for (k = 0; k < ts->n; k++) {
		i = (first + k) % ts->n;
		t = ts->v[i];
		if (t->marked) {
			t->marked = 0;
			tail_look(t);
		}
		if (!t->readable)
			continue;
		if (budget > 0)
			budget -= tail_read(t, budget);
		if (t->readable) {
			if (!more)
				ts->rr = (i + 1) % ts->n;
			more = 1;
		}
	}
	tails_alias_warn(ts);
	return more;
}

/* The number of sources lacking an inotify watch: polled. */
int
tails_polled(const struct sw_tails *ts)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < ts->n; i++)
		n += ts->v[i]->polled;
	return n;
}

/*
 * Where a source stands, for status lines.  An alias stands where the
 * tail reading its file does.
 */
void
tail_stat(const struct sw_tail *t, struct sw_tail_stat *st)
{
	const struct sw_tail	*r = t->alias != NULL ? t->alias : t;

	memset(st, 0, sizeof(*st));
	st->path = t->path;
	st->open = r->cur.fd != -1;
	st->offset = r->cur.off;
	st->size = r->cur.size;
	st->rotations = t->rotations;
	st->bytes = t->bytes;
	st->lines = t->lines;
	st->polled = t->polled;
}

/*
 * The identity of the file being read, its fingerprint taken over as
 * many of the first SW_FP_MAX bytes as it has now.  Returns 0, or -1
 * when no file is open.
 */
int
tail_fileid(const struct sw_tail *t, struct sw_fileid *id)
{
	struct tail_file	 f;

	if (t->alias != NULL)
		t = t->alias;
	if (t->cur.fd == -1)
		return -1;
	f = t->cur;
	if (f.id.fplen < SW_FP_MAX)
		(void)file_fp_check(&f);
	*id = f.id;
	return 0;
}

/*
 * The argument of the tail that reads t's file when t is its alias (one
 * file under several paths), else NULL: t's position is that tail's.
 */
void *
tail_alias(const struct sw_tail *t)
{
	return t->alias != NULL ? t->alias->arg : NULL;
}
