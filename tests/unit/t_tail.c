/*
 * t_tail.c -- following log files on real files in a temporary
 * directory: every callback is recorded as a line of text ("B name off"
 * for begin, "L start-next text" for a line, "M name" moved, "E" end,
 * "D" drained) and compared with the exact sequence wanted.  Files are
 * named in the record by the label given when the test created them,
 * found by inode, so a renamed file keeps its name.
 *
 * inotify queues an event inside the system call that causes it, so
 * once the tests' own writes return, everything is queued: settle()
 * reads and runs until the descriptor has nothing more (poll(2) with a
 * zero timeout); expect() waits with poll(2) only as a failure guard.
 * Races between tail.c's own system calls are made to happen on cue
 * through three seams (fstat, statx, pread: see hook).
 *
 * Cases: reading from the end or the start, partial lines, drained(),
 * the fingerprint growing with the file; rename + create with the old
 * file written after the rename, also after its end was seen and once
 * the new file has data; rotated twice before a look; names shifted,
 * or the file at the path rotated, while the directory is read; an
 * empty new file taken once the old one is quiet; delete + recreate;
 * copytruncate with the copy found (among an older copy and look-alikes,
 * also when the file grew past the offset before the look, or was
 * renamed too, or changed between the look and the read, or was begun
 * empty), the truncated file left empty, no copy; a missing path, a
 * missing directory, a directory replaced; a symbolic link, its target
 * rotated and copied, the link retargeted; several logs; one file under
 * four paths, read once, the paths parting and one handed the file the
 * other left; a 200 KB line
 * with NUL bytes and invalid UTF-8; a tiny budget; a 1 MB backlog; the
 * inotify watch limit and no inotify at all (in a user namespace); a
 * queue overflow; resuming from a checkpoint in each case (same file,
 * renamed with rotations after it, through a link, truncated with or
 * without a copy, copied then renamed, taken while empty, missing).
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <unistd.h>

static int	 t_fstat(int, struct stat *);
static int	 t_statx(int, const char *, int, unsigned int,
		    struct statx *);
static ssize_t	 t_pread(int, void *, size_t, off_t);
#define fstat(fd, sb)	t_fstat(fd, sb)		/* seams: see hook */
#define statx(d, p, fl, m, sx)	t_statx(d, p, fl, m, sx)
#define pread(fd, b, n, o)	t_pread(fd, b, n, o)
#include "../../daemon/tail.c"
#undef fstat
#undef statx
#undef pread

#include <sys/wait.h>

#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <time.h>

#include "check.h"

#define MAXLABEL	128

/* What the callbacks of one source saw. */
struct rec {
	char		*s;		/* the record, one line per call */
	size_t		 len, cap;
	int		 drained;	/* record drained() too */
	unsigned long	 nlines;
	uint64_t	 next;		/* after the last line */
	struct sw_fileid id;		/* of the last begin() or moved() */
};

static struct {
	uint64_t	 dev, ino;
	char		 name[32];
} labels[MAXLABEL];
static size_t	 nlabels;
static char	 tmp[64];
static size_t	 budget = 1 << 20;
static unsigned long	 runs, moreruns;	/* tails_run calls, returning 1 */
static char	 errpath[PATH_MAX];
static int	 errsave = -1;

/* Writes s to fd from a hook, which must not fail quietly. */
static void
wr_hook(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		perror("hook");
}

/*
 * When set, tail.c's fstat() of the file hook.tail is to read next
 * first appends hook.data through hook.fd: the writer's last words to
 * the old file, between the read that found its end and the look that
 * finds the new file has data.
 */
static struct {
	const struct sw_tail	*tail;
	int			 fd;
	const char		*data;
	char			 from[PATH_MAX], to[PATH_MAX];
	char			 made[PATH_MAX];	/* created after */
	const struct sw_tail	*rtail;		/* t_pread(): whose read */
	off_t			 at;		/* ... at this offset */
	void			(*act)(void);
} hook;

static void	 label(const char *, const char *);

static int
t_fstat(int fd, struct stat *sb)
{
	if (hook.tail != NULL && fd == hook.tail->next.fd) {
		if (write(hook.fd, hook.data, strlen(hook.data)) == -1)
			perror("hook");
		hook.tail = NULL;
	}
	return fstat(fd, sb);
}

/*
 * When hook.from is set, tail.c's first statx() of a name in a
 * directory first renames hook.from to hook.to: a rotation shifting
 * names while readdir(3) runs.
 */
static int
t_statx(int dfd, const char *path, int flags, unsigned int mask,
    struct statx *sx)
{
	int	 fd;

	if (hook.from[0] != '\0' && path[0] != '\0') {
		if (rename(hook.from, hook.to) == -1)
			perror("hook");
		hook.from[0] = '\0';
		if (hook.made[0] != '\0' && (fd = open(hook.made,
		    O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1) {
			wr_hook(fd, "m1\n");
			close(fd);
			label(hook.made, "h");
		}
		hook.made[0] = '\0';
	}
	return statx(dfd, path, flags, mask, sx);
}

/*
 * When hook.act is set, tail.c's read of hook.rtail's file at offset
 * hook.at first runs it: the file changes between a look and a read.
 */
static ssize_t
t_pread(int fd, void *b, size_t n, off_t o)
{
	void	(*act)(void) = hook.act;

	if (act != NULL && fd == hook.rtail->cur.fd && o == hook.at) {
		hook.act = NULL;
		act();
	}
	return pread(fd, b, n, o);
}

static const char	*P(const char *, ...)
			    __attribute__((format(printf, 1, 2)));
static void		 rec_add(struct rec *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));

/* A path in the temporary directory; eight of them live at a time. */
static const char *
P(const char *fmt, ...)
{
	static char	 buf[8][PATH_MAX];
	static int	 i;
	char		 rel[1024];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmp, rel);
	return buf[i];
}

/* Names the file at path in records from now on. */
static void
label(const char *path, const char *name)
{
	struct stat	 st;

	if (stat(path, &st) == -1 || nlabels == MAXLABEL) {
		fprintf(stderr, "label %s: %s\n", path, strerror(errno));
		exit(2);
	}
	labels[nlabels].dev = (uint64_t)st.st_dev;
	labels[nlabels].ino = (uint64_t)st.st_ino;
	snprintf(labels[nlabels++].name, sizeof(labels[0].name), "%s", name);
}

static const char *
label_of(const struct sw_fileid *id)
{
	size_t	 i;

	for (i = nlabels; i > 0; i--)
		if (labels[i - 1].dev == id->dev && labels[i - 1].ino == id->ino)
			return labels[i - 1].name;
	return "?";
}

static void
rec_add(struct rec *r, const char *fmt, ...)
{
	va_list	 ap;
	char	 b[256];
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (r->len + (size_t)n + 1 > r->cap) {
		r->cap = (r->len + (size_t)n + 1) * 2;
		r->s = xreallocarray(r->s, r->cap, 1);
	}
	memcpy(r->s + r->len, b, (size_t)n + 1);
	r->len += (size_t)n;
}

static void
rec_clear(struct rec *r)
{
	free(r->s);
	r->s = NULL;
	r->len = r->cap = 0;
}

/* The record's text, "" when empty. */
static const char *
rec_s(const struct rec *r)
{
	return r->s != NULL ? r->s : "";
}

static int
printable(const char *p, size_t n)
{
	size_t	 i;

	if (n > 40)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

static void
on_line(void *arg, const char *p, size_t n, int cut, uint64_t start,
    uint64_t next)
{
	struct rec	*r = arg;

	r->nlines++;
	r->next = next;
	if (printable(p, n) && !cut)
		rec_add(r, "L %llu-%llu %.*s\n", (unsigned long long)start,
		    (unsigned long long)next, (int)n, p);
	else
		rec_add(r, "L %llu-%llu %zu%s #%016llx\n",
		    (unsigned long long)start, (unsigned long long)next, n,
		    cut ? "c" : "", (unsigned long long)fnv64(FNV64_INIT, p, n));
}

static void
on_begin(void *arg, const struct sw_fileid *id, uint64_t off)
{
	struct rec	*r = arg;

	r->id = *id;
	rec_add(r, "B %s %llu\n", label_of(id), (unsigned long long)off);
}

static void
on_moved(void *arg, const struct sw_fileid *id)
{
	struct rec	*r = arg;

	r->id = *id;
	rec_add(r, "M %s\n", label_of(id));
}

static void
on_end(void *arg)
{
	rec_add(arg, "E\n");
}

static void
on_drained(void *arg)
{
	struct rec	*r = arg;

	if (r->drained)
		rec_add(r, "D\n");
}

static const struct sw_tail_cb	 cb = {
	on_line, on_begin, on_moved, on_end, on_drained, NULL
};

/* Runs until nothing is left to read, counting the calls. */
static void
run_all(struct sw_tails *ts)
{
	int	 more;

	do {
		more = tails_run(ts, budget);
		runs++;
		moreruns += more;
	} while (more);
}

/* Handles every queued event and reads all there is. */
static void
settle(struct sw_tails *ts)
{
	struct pollfd	 pfd;

	pfd.fd = tails_fd(ts);
	pfd.events = POLLIN;
	do {
		tails_inotify(ts);
		run_all(ts);
	} while (pfd.fd != -1 && poll(&pfd, 1, 0) > 0);
}

/* Waits (poll(2), 2 s at most) until r holds want; checks it. */
static int
expect(struct sw_tails *ts, struct rec *r, const char *want, int line)
{
	struct pollfd	 pfd;

	pfd.fd = tails_fd(ts);
	pfd.events = POLLIN;
	for (;;) {
		settle(ts);
		if (strcmp(rec_s(r), want) == 0)
			break;
		if (pfd.fd == -1 || poll(&pfd, 1, 2000) <= 0)
			break;
	}
	if (strcmp(rec_s(r), want) != 0)
		fprintf(stderr, "t_tail.c:%d: the record was:\n", line);
	return CHECK_STR(rec_s(r), want);
}
#define EXPECT(ts, r, want)	expect(ts, r, want, __LINE__)

/* Writes n bytes to fd, all of them. */
static void
wr(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n) {
		perror("write");
		exit(2);
	}
}

/* Appends s to path, creating it. */
static void
put(const char *path, const char *s)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644)) == -1) {
		perror(path);
		exit(2);
	}
	wr(fd, s, strlen(s));
	close(fd);
}

/* Creates path anew with s and labels it. */
static void
mk(const char *path, const char *s, const char *name)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_TRUNC | O_CREAT, 0644)) == -1) {
		perror(path);
		exit(2);
	}
	wr(fd, s, strlen(s));
	close(fd);
	label(path, name);
}

/* A writer's descriptor, as syslog holds it. */
static int
writer(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_APPEND)) == -1) {
		perror(path);
		exit(2);
	}
	return fd;
}

/* Copies from to a new file to, as copytruncate does, and labels it. */
static void
copy(const char *from, const char *to, const char *name)
{
	char	 b[4096];
	ssize_t	 n;
	int	 in, out;

	if ((in = open(from, O_RDONLY)) == -1 ||
	    (out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1) {
		perror(from);
		exit(2);
	}
	while ((n = read(in, b, sizeof(b))) > 0)
		wr(out, b, (size_t)n);
	close(in);
	close(out);
	label(to, name);
}

/* Sets the mtime of path to ago seconds before now. */
static void
age(const char *path, int ago)
{
	struct timespec	 ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= ago;
	ts[1] = ts[0];
	if (utimensat(AT_FDCWD, path, ts, 0) == -1) {
		perror(path);
		exit(2);
	}
}

static void
mkdir_p(const char *path)
{
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		perror(path);
		exit(2);
	}
}

static void
rm_rf(const char *path)
{
	nftw(path, check_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Sends stderr to a file until err_end(), which returns what came. */
static void
err_begin(void)
{
	int	 fd;

	fflush(stderr);
	errsave = dup(STDERR_FILENO);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static char *
err_end(void)
{
	char	*s;
	FILE	*fp;
	long	 n;

	fflush(stderr);
	dup2(errsave, STDERR_FILENO);
	close(errsave);
	fp = fopen(errpath, "r");
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	s = xcalloc(1, (size_t)n + 1);
	if (fread(s, 1, (size_t)n, fp) != (size_t)n)
		s[0] = '\0';
	fclose(fp);
	return s;
}

/* The number of times needle occurs in s. */
static int
count(const char *s, const char *needle)
{
	int	 n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

/* The checkpoint of source t as it stands. */
static void
checkpoint(const struct sw_tail *t, struct sw_checkpoint *cp)
{
	struct sw_tail_stat	 st;

	memset(cp, 0, sizeof(*cp));
	CHECK_INT(tail_fileid(t, &cp->id), 0);
	tail_stat(t, &st);
	cp->offset = st.offset;
}

/* From the end: no half line; from the start; partial lines; ids. */
static void
test_basic(void)
{
	struct sw_tails		*ts;
	struct sw_tail		*ta, *tb;
	struct sw_tail_stat	 st;
	struct sw_fileid	 id;
	struct rec		 ra, rb;
	char			 big[2000];

	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	ra.drained = rb.drained = 1;
	mkdir_p(P("basic"));
	mk(P("basic/a.log"), "one\ntwo\npart", "a");
	mk(P("basic/b.log"), "one\ntwo\npart", "b");
	ts = tails_new(&cb);
	CHECK(tails_fd(ts) != -1);
	ta = tail_add(ts, P("basic/a.log"), &ra, NULL, 1);
	tb = tail_add(ts, P("basic/b.log"), &rb, NULL, 0);
	/* begin() comes at once; reading waits for tails_run(). */
	CHECK_STR(rec_s(&ra), "B a 8\n");
	CHECK_STR(rec_s(&rb), "B b 0\n");
	EXPECT(ts, &ra, "B a 8\n");		/* "part" held: no drained */
	EXPECT(ts, &rb, "B b 0\nL 0-4 one\nL 4-8 two\n");
	put(P("basic/a.log"), "ial\nthree\n");
	put(P("basic/b.log"), "\n");
	EXPECT(ts, &ra, "B a 8\nL 8-16 partial\nL 16-22 three\nD\n");
	EXPECT(ts, &rb, "B b 0\nL 0-4 one\nL 4-8 two\nL 8-13 part\nD\n");
	put(P("basic/b.log"), "x");
	put(P("basic/b.log"), "y\n");
	EXPECT(ts, &rb, "B b 0\nL 0-4 one\nL 4-8 two\nL 8-13 part\nD\n"
	    "L 13-16 xy\nD\n");
	CHECK_INT(tails_polled(ts), 0);
	/* A look with nothing new: no callback at all. */
	tails_poll(ts);
	settle(ts);
	CHECK_STR(rec_s(&ra), "B a 8\nL 8-16 partial\nL 16-22 three\nD\n");
	CHECK_STR(rec_s(&rb), "B b 0\nL 0-4 one\nL 4-8 two\nL 8-13 part\n"
	    "D\nL 13-16 xy\nD\n");

	/* The fingerprint covers the first bytes and grows with the file. */
	CHECK_INT(tail_fileid(ta, &id), 0);
	CHECK_INT(id.fplen, 22);
	CHECK(id.fphash == fnv64(FNV64_INIT, "one\ntwo\npartial\nthree\n",
	    22));
	CHECK_INT(ra.id.fplen, 12);		/* as begin() saw it */
	memset(big, 'z', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	put(P("basic/a.log"), big);		/* no newline: not read */
	CHECK_INT(tail_fileid(ta, &id), 0);
	CHECK_INT(id.fplen, SW_FP_MAX);
	CHECK(id.fphash == fnv64(fnv64(FNV64_INIT,
	    "one\ntwo\npartial\nthree\n", 22), big, SW_FP_MAX - 22));
	tail_stat(ta, &st);
	CHECK_STR(st.path, P("basic/a.log"));
	CHECK_INT(st.open, 1);
	CHECK_INT(st.offset, 22);
	CHECK_INT(st.lines, 2);
	CHECK_INT(st.bytes, 14);
	CHECK_INT(st.polled, 0);
	CHECK_INT(st.rotations, 0);
	tail_stat(tb, &st);
	CHECK_INT(st.offset, 16);
	CHECK_INT(st.size, 16);
	tails_free(ts);
	rec_clear(&ra);
	rec_clear(&rb);
}

/*
 * logrotate's rename + create while syslog writes on through its old
 * descriptor: the old file is read until the new one has data; its
 * partial last line is handed on before end().
 */
static void
test_rename(void)
{
	struct sw_tails	*ts;
	struct sw_tail	*t;
	struct sw_tail_stat st;
	struct rec	 r;
	int		 w;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("ren"));
	mk(P("ren/a.log"), "a1\n", "a");
	ts = tails_new(&cb);
	t = tail_add(ts, P("ren/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\n");
	w = writer(P("ren/a.log"));
	CHECK(rename(P("ren/a.log"), P("ren/a.log.1")) == 0);
	wr(w, "a2\n", 3);
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\nL 3-6 a2\n");
	mk(P("ren/a.log"), "", "b");		/* created, still empty */
	wr(w, "a3\n", 3);
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\nL 3-6 a2\nL 6-9 a3\n");
	wr(w, "a4-", 3);
	/* Its last words come after the read that found the end. */
	hook.tail = t;
	hook.fd = w;
	hook.data = "partial";
	put(P("ren/a.log"), "b1\n");		/* syslog reopened */
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\nL 3-6 a2\nL 6-9 a3\n"
	    "L 9-19 a4-partial\nE\nB b 0\nL 0-3 b1\n");
	CHECK(hook.tail == NULL);		/* it did come then */
	close(w);
	tail_stat(t, &st);
	CHECK_INT(st.rotations, 1);
	CHECK_INT(st.offset, 3);

	/*
	 * Rotated twice before a look: the file in between, newer than the
	 * one being read, is read before the new one.
	 */
	rec_clear(&r);
	age(P("ren/a.log.1"), 40);		/* as it would be */
	put(P("ren/a.log"), "b2\n");
	CHECK(rename(P("ren/a.log"), P("ren/a.log-1")) == 0);
	age(P("ren/a.log-1"), 20);
	mk(P("ren/a.log"), "c1\n", "c");
	age(P("ren/a.log"), 10);
	CHECK(rename(P("ren/a.log"), P("ren/a.log-2")) == 0);
	mk(P("ren/a.log"), "d1\n", "d");
	EXPECT(ts, &r, "L 3-6 b2\nE\nB c 0\nL 0-3 c1\nE\nB d 0\nL 0-3 d1\n");

	/*
	 * Again, with the names shifted while the directory is read: the
	 * first scan misses the file in between, a second one finds it.
	 */
	rec_clear(&r);
	put(P("ren/a.log"), "d2\n");
	CHECK(rename(P("ren/a.log"), P("ren/a.log-3")) == 0);
	age(P("ren/a.log-3"), 8);
	mk(P("ren/a.log-4"), "e1\n", "e");
	age(P("ren/a.log-4"), 4);
	mk(P("ren/a.log"), "f1\n", "f");
	snprintf(hook.from, sizeof(hook.from), "%s", P("ren/a.log-4"));
	snprintf(hook.to, sizeof(hook.to), "%s", P("ren/a.log-5"));
	EXPECT(ts, &r, "L 3-6 d2\nE\nB e 0\nL 0-3 e1\nE\nB f 0\nL 0-3 f1\n");
	CHECK(hook.from[0] == '\0');

	/*
	 * The file at the path is rotated while the siblings are looked
	 * for: the one opened first is read, then the new one.
	 */
	rec_clear(&r);
	put(P("ren/a.log"), "f2\n");
	CHECK(rename(P("ren/a.log"), P("ren/a.log-6")) == 0);
	age(P("ren/a.log-6"), 2);
	mk(P("ren/a.log"), "g1\n", "g");
	snprintf(hook.from, sizeof(hook.from), "%s", P("ren/a.log"));
	snprintf(hook.to, sizeof(hook.to), "%s", P("ren/a.log-7"));
	snprintf(hook.made, sizeof(hook.made), "%s", P("ren/a.log"));
	EXPECT(ts, &r, "L 3-6 f2\nE\nB g 0\nL 0-3 g1\nE\nB h 0\nL 0-3 m1\n");
	CHECK(hook.from[0] == '\0');
	tails_free(ts);
	rec_clear(&r);
}

/*
 * Renamed, and the new file stays empty: once the renamed one has been
 * quiet long enough, a poll takes the empty one (so that a checkpoint
 * names the file at the path).  The wait is shortened to none here.
 */
static void
test_rename_quiet(void)
{
	struct sw_tails	*ts;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	r.drained = 1;
	mkdir_p(P("rq"));
	mk(P("rq/a.log"), "a1\n", "a");
	ts = tails_new(&cb);
	CHECK_INT(ts->quiet, 5000);
	tail_add(ts, P("rq/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\nD\n");
	CHECK(rename(P("rq/a.log"), P("rq/a.log.1")) == 0);
	mk(P("rq/a.log"), "", "b");
	tails_poll(ts);
	settle(ts);
	CHECK_STR(rec_s(&r), "B a 0\nL 0-3 a1\nD\n");	/* not yet */
	ts->quiet = 0;
	tails_poll(ts);
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\nD\nE\nB b 0\nD\n");
	put(P("rq/a.log"), "b1\n");
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\nD\nE\nB b 0\nD\nL 0-3 b1\nD\n");
	tails_free(ts);
	rec_clear(&r);
}

/* Deleted and created anew: the deleted file is read to its end first. */
static void
test_delete(void)
{
	struct sw_tails	*ts;
	struct rec	 r;
	int		 w;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("del"));
	mk(P("del/a.log"), "x1\n", "a");
	ts = tails_new(&cb);
	tail_add(ts, P("del/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 x1\n");
	w = writer(P("del/a.log"));
	CHECK(unlink(P("del/a.log")) == 0);
	wr(w, "x2\n", 3);
	EXPECT(ts, &r, "B a 0\nL 0-3 x1\nL 3-6 x2\n");
	wr(w, "x3\n", 3);			/* unread when it goes */
	close(w);
	mk(P("del/a.log"), "y1\n", "b");
	EXPECT(ts, &r, "B a 0\nL 0-3 x1\nL 3-6 x2\nL 6-9 x3\nE\nB b 0\n"
	    "L 0-3 y1\n");
	tails_free(ts);
	rec_clear(&r);
}

/*
 * copytruncate: unread lines, and a partial line begun in the file, are
 * read from the copy at the same offsets; compressed look-alikes and
 * older copies are passed over.  Then a copy made after the file grew
 * past the read position: caught by its first bytes.
 */
static void
test_copytruncate(void)
{
	struct sw_tails	*ts;
	struct sw_tail	*t;
	struct sw_tail_stat st;
	struct rec	 r;
	char		 grown[128], want[128];

	memset(&r, 0, sizeof(r));
	mkdir_p(P("ct"));
	mk(P("ct/a.log"), "c1\nc2\n", "a");
	ts = tails_new(&cb);
	t = tail_add(ts, P("ct/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 c1\nL 3-6 c2\n");
	put(P("ct/a.log"), "c3-par");		/* held by lines.c */
	settle(ts);
	put(P("ct/a.log"), "t\nc4\n");
	copy(P("ct/a.log"), P("ct/a.log.3"), "copy0");	/* an older copy */
	age(P("ct/a.log.3"), 60);
	put(P("ct/a.log"), "c5-no-newline");
	copy(P("ct/a.log"), P("ct/a.log.1"), "copy1");
	copy(P("ct/a.log"), P("ct/a.log.1.gz"), "gz");
	copy(P("ct/a.log"), P("ct/a.log.old"), "old");
	CHECK(truncate(P("ct/a.log"), 0) == 0);
	put(P("ct/a.log"), "n1\n");
	EXPECT(ts, &r, "B a 0\nL 0-3 c1\nL 3-6 c2\nM copy1\nL 6-14 c3-part\n"
	    "L 14-17 c4\nL 17-30 c5-no-newline\nE\nB a 0\nL 0-3 n1\n");

	/* Grown past the offset before the look: the first bytes differ. */
	rec_clear(&r);
	put(P("ct/a.log"), "n2\n");
	CHECK(rename(P("ct/a.log.1"), P("ct/a.log.2")) == 0);
	copy(P("ct/a.log"), P("ct/a.log.1"), "copy2");
	CHECK(truncate(P("ct/a.log"), 0) == 0);
	memset(grown, 'g', sizeof(grown));
	grown[sizeof(grown) - 2] = '\n';
	grown[sizeof(grown) - 1] = '\0';
	put(P("ct/a.log"), grown);
	snprintf(want, sizeof(want), "M copy2\nL 3-6 n2\nE\nB a 0\n"
	    "L 0-127 126 #%016llx\n",
	    (unsigned long long)fnv64(FNV64_INIT, grown, 126));
	EXPECT(ts, &r, want);
	tail_stat(t, &st);
	CHECK_INT(st.rotations, 2);
	tails_free(ts);
	rec_clear(&r);
}

/* Sets the mtime of to to that of from, to the nanosecond. */
static void
same_age(const char *from, const char *to)
{
	struct stat	 st;
	struct timespec	 ts[2];

	if (stat(from, &st) == -1) {
		perror(from);
		exit(2);
	}
	ts[0] = ts[1] = st.st_mtim;
	if (utimensat(AT_FDCWD, to, ts, 0) == -1) {
		perror(to);
		exit(2);
	}
}

/*
 * Copied, truncated, written and renamed between two looks: the rest
 * from the copy, the truncated file from 0, then the new one.  The copy
 * is as old as the file (coarse timestamps) and born later, so only the
 * memory of finished files keeps it from being read twice.
 */
static void
test_copy_rename(void)
{
	struct sw_tails	*ts;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("cr"));
	mk(P("cr/a.log"), "a1\n", "a");
	ts = tails_new(&cb);
	tail_add(ts, P("cr/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\n");
	put(P("cr/a.log"), "a2\n");
	copy(P("cr/a.log"), P("cr/a.log.2"), "copy");
	CHECK(truncate(P("cr/a.log"), 0) == 0);
	put(P("cr/a.log"), "t1\n");
	CHECK(rename(P("cr/a.log"), P("cr/a.log.1")) == 0);
	mk(P("cr/a.log"), "n1\n", "new");
	same_age(P("cr/a.log.1"), P("cr/a.log.2"));
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\nM copy\nL 3-6 a2\nE\nB a 0\n"
	    "L 0-3 t1\nE\nB new 0\nL 0-3 n1\n");
	tails_free(ts);
	rec_clear(&r);
}

/*
 * The copy is read, the truncated file stays empty: it is begun only
 * once it has data or the copy has been quiet for a while (a poll).
 */
static void
test_copy_empty(void)
{
	struct sw_tails	*ts;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("ce"));
	mk(P("ce/a.log"), "x1\n", "a");
	ts = tails_new(&cb);
	tail_add(ts, P("ce/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 x1\n");
	put(P("ce/a.log"), "x2\n");
	copy(P("ce/a.log"), P("ce/a.log.1"), "copy");
	CHECK(truncate(P("ce/a.log"), 0) == 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 x1\nM copy\nL 3-6 x2\n");
	tails_poll(ts);
	settle(ts);
	CHECK_STR(rec_s(&r), "B a 0\nL 0-3 x1\nM copy\nL 3-6 x2\n");
	ts->quiet = 0;
	tails_poll(ts);
	EXPECT(ts, &r, "B a 0\nL 0-3 x1\nM copy\nL 3-6 x2\nE\nB a 0\n");
	put(P("ce/a.log"), "y1\n");
	EXPECT(ts, &r, "B a 0\nL 0-3 x1\nM copy\nL 3-6 x2\nE\nB a 0\n"
	    "L 0-3 y1\n");
	tails_free(ts);
	rec_clear(&r);
}

/*
 * Begun empty (nothing known of it), then written, copied, truncated
 * and written again before the next look: the copy first.
 */
static void
test_copy_unseen(void)
{
	struct sw_tails	*ts;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("cu"));
	mk(P("cu/a.log"), "", "a");
	ts = tails_new(&cb);
	tail_add(ts, P("cu/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\n");
	put(P("cu/a.log"), "w1\nw2\n");
	copy(P("cu/a.log"), P("cu/a.log.1"), "copy");
	CHECK(truncate(P("cu/a.log"), 0) == 0);
	put(P("cu/a.log"), "n1\n");
	EXPECT(ts, &r, "B a 0\nM copy\nL 0-3 w1\nL 3-6 w2\nE\nB a 0\n"
	    "L 0-3 n1\n");
	tails_free(ts);
	rec_clear(&r);

	/* Seen empty again in between: still the copy first. */
	mk(P("cu/b.log"), "", "b");
	ts = tails_new(&cb);
	tail_add(ts, P("cu/b.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B b 0\n");
	put(P("cu/b.log"), "w1\n");
	copy(P("cu/b.log"), P("cu/b.log.1"), "copyb");
	CHECK(truncate(P("cu/b.log"), 0) == 0);
	EXPECT(ts, &r, "B b 0\n");
	put(P("cu/b.log"), "n1\n");
	EXPECT(ts, &r, "B b 0\nM copyb\nL 0-3 w1\nE\nB b 0\nL 0-3 n1\n");
	tails_free(ts);
	rec_clear(&r);
}

static const char	*race_dir;

/* copytruncate, and the file written past the old offset at once. */
static void
race_copytruncate(void)
{
	copy(P("%s/a.log", race_dir), P("%s/a.log.1", race_dir), "copy");
	if (truncate(P("%s/a.log", race_dir), 0) == -1)
		perror("truncate");
	put(P("%s/a.log", race_dir), "n1 the new content, longer\n");
}

/* Written, then copytruncate, then written again, at once. */
static void
race_fill_copytruncate(void)
{
	put(P("%s/a.log", race_dir), "w1\n");
	race_copytruncate();
}

/*
 * Copied, truncated and written past the offset between the look that
 * found data and the read: what was read is the new content, dropped;
 * the rest comes from the copy, the new content from 0, exactly once.
 */
static void
test_copy_race(void)
{
	struct sw_tails	*ts;
	struct sw_tail	*t;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	race_dir = "rc";
	mkdir_p(P("rc"));
	mk(P("rc/a.log"), "a1\n", "a");
	ts = tails_new(&cb);
	t = tail_add(ts, P("rc/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\n");
	hook.rtail = t;
	hook.at = 3;
	hook.act = race_copytruncate;
	put(P("rc/a.log"), "a2\n");
	EXPECT(ts, &r, "B a 0\nL 0-3 a1\nM copy\nL 3-6 a2\nE\nB a 0\n"
	    "L 0-27 n1 the new content, longer\n");
	CHECK(hook.act == NULL);
	tails_free(ts);
	rec_clear(&r);

	/* The same to a file begun empty: no first bytes to compare. */
	race_dir = "rc2";
	mkdir_p(P("rc2"));
	mk(P("rc2/a.log"), "", "a");
	ts = tails_new(&cb);
	t = tail_add(ts, P("rc2/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\n");
	hook.rtail = t;
	hook.at = 0;
	hook.act = race_fill_copytruncate;
	put(P("rc2/a.log"), "w0\n");
	EXPECT(ts, &r, "B a 0\nM copy\nL 0-3 w0\nL 3-6 w1\nE\nB a 0\n"
	    "L 0-27 n1 the new content, longer\n");
	CHECK(hook.act == NULL);
	tails_free(ts);
	rec_clear(&r);
}

/* Truncated with no copy beside it: said so; the file from 0. */
static void
test_truncate_nocopy(void)
{
	struct sw_tails	*ts;
	struct rec	 r;
	char		*err;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("tr"));
	mk(P("tr/a.log"), "l1\nl2\nl3-part", "a");
	ts = tails_new(&cb);
	tail_add(ts, P("tr/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 l1\nL 3-6 l2\n");
	CHECK(truncate(P("tr/a.log"), 0) == 0);
	put(P("tr/a.log"), "m1\n");
	err_begin();
	settle(ts);
	err = err_end();
	CHECK_INT(count(err, "tr/a.log: truncated below the read position; "
	    "no copy beside it: some lines may be lost"), 1);
	free(err);
	EXPECT(ts, &r, "B a 0\nL 0-3 l1\nL 3-6 l2\nL 6-13 l3-part\nE\nB a 0\n"
	    "L 0-3 m1\n");
	tails_free(ts);
	rec_clear(&r);
}

/*
 * A path that does not exist yet, in an existing directory (inotify)
 * and in a directory that does not exist yet (polled until it does,
 * then inotify); that directory replaced by another.
 */
static void
test_missing(void)
{
	struct sw_tails	*ts;
	struct sw_tail	*tm, *td;
	struct sw_tail_stat st;
	struct rec	 rm, rd;
	int		 w;

	memset(&rm, 0, sizeof(rm));
	memset(&rd, 0, sizeof(rd));
	mkdir_p(P("mis"));
	ts = tails_new(&cb);
	err_begin();
	tm = tail_add(ts, P("mis/a.log"), &rm, NULL, 1);
	td = tail_add(ts, P("mis/d1/d2/b.log"), &rd, NULL, 1);
	free(err_end());
	settle(ts);
	CHECK_STR(rec_s(&rm), "");
	CHECK_INT(tails_polled(ts), 1);
	tail_stat(td, &st);
	CHECK_INT(st.polled, 1);
	CHECK_INT(st.open, 0);
	tail_stat(tm, &st);
	CHECK_INT(st.polled, 0);
	mk(P("mis/a.log"), "f1\n", "a");	/* from 0: it is new */
	EXPECT(ts, &rm, "B a 0\nL 0-3 f1\n");

	mkdir_p(P("mis/d1"));
	mkdir_p(P("mis/d1/d2"));
	mk(P("mis/d1/d2/b.log"), "g1\n", "b");
	settle(ts);
	CHECK_STR(rec_s(&rd), "");		/* no watch there yet */
	tails_poll(ts);
	EXPECT(ts, &rd, "B b 0\nL 0-3 g1\n");
	CHECK_INT(tails_polled(ts), 0);
	/* Watched now: a rotation there needs no poll. */
	w = writer(P("mis/d1/d2/b.log"));
	CHECK(rename(P("mis/d1/d2/b.log"), P("mis/d1/d2/b.log.1")) == 0);
	wr(w, "g2\n", 3);
	close(w);
	mk(P("mis/d1/d2/b.log"), "h1\n", "c");
	EXPECT(ts, &rd, "B b 0\nL 0-3 g1\nL 3-6 g2\nE\nB c 0\nL 0-3 h1\n");

	/* The directory goes, with the file; another comes. */
	rec_clear(&rd);
	rm_rf(P("mis/d1"));
	settle(ts);
	CHECK_INT(tails_polled(ts), 1);
	mkdir_p(P("mis/d1"));
	mkdir_p(P("mis/d1/d2"));
	mk(P("mis/d1/d2/b.log"), "i1\n", "d");
	tails_poll(ts);
	EXPECT(ts, &rd, "E\nB d 0\nL 0-3 i1\n");
	CHECK_INT(tails_polled(ts), 0);
	CHECK_STR(rec_s(&rm), "B a 0\nL 0-3 f1\n");
	tails_free(ts);
	rec_clear(&rm);
	rec_clear(&rd);
}

/*
 * A symbolic link (relative) to the log: followed; the target rotated
 * in its own directory; the link pointed at another file.
 */
static void
test_symlink(void)
{
	struct sw_tails	*ts;
	struct rec	 r;
	int		 w;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("sym"));
	mkdir_p(P("sym/real"));
	mk(P("sym/real/current"), "s1\n", "cur");
	CHECK(symlink("real/current", P("sym/mail.log")) == 0);
	ts = tails_new(&cb);
	tail_add(ts, P("sym/mail.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B cur 0\nL 0-3 s1\n");
	CHECK_INT(ts->nw, 3);		/* sym, sym/real, the file */
	w = writer(P("sym/real/current"));
	CHECK(rename(P("sym/real/current"), P("sym/real/current.1")) == 0);
	wr(w, "s2\n", 3);
	close(w);
	mk(P("sym/real/current"), "t1\n", "cur2");
	EXPECT(ts, &r, "B cur 0\nL 0-3 s1\nL 3-6 s2\nE\nB cur2 0\nL 0-3 t1\n");
	/* Copytruncate of the target: the copy is beside the target. */
	put(P("sym/real/current"), "t2\n");
	copy(P("sym/real/current"), P("sym/real/current.2"), "copy");
	CHECK(truncate(P("sym/real/current"), 0) == 0);
	put(P("sym/real/current"), "u1\n");
	EXPECT(ts, &r, "B cur 0\nL 0-3 s1\nL 3-6 s2\nE\nB cur2 0\nL 0-3 t1\n"
	    "M copy\nL 3-6 t2\nE\nB cur2 0\nL 0-3 u1\n");
	/* The link retargeted. */
	rec_clear(&r);
	mkdir_p(P("sym/elsewhere"));
	mk(P("sym/elsewhere/other"), "o1\n", "other");
	CHECK(symlink("elsewhere/other", P("sym/mail.log.new")) == 0);
	CHECK(rename(P("sym/mail.log.new"), P("sym/mail.log")) == 0);
	EXPECT(ts, &r, "E\nB other 0\nL 0-3 o1\n");
	put(P("sym/elsewhere/other"), "o2\n");
	EXPECT(ts, &r, "E\nB other 0\nL 0-3 o1\nL 3-6 o2\n");
	CHECK_INT(ts->nw, 3);		/* sym, sym/elsewhere, the file */
	tails_free(ts);
	rec_clear(&r);
}

/*
 * One file under four paths (the file, a link to it, a path through a
 * linked directory, a "../" path): read once, through the first, and
 * said once, naming the others; also after a rename rotation.  The link
 * retargeted: it reads its new file by itself, from its start.  A link
 * configured first and retargeted while the second path still names
 * the file it read: that path reads on from where the link stopped.
 */
static void
test_aliases(void)
{
	struct sw_tails	*ts;
	struct rec	 r[4];
	const char	*rel[4] = { "ali/logs/mail.log", "ali/link.log",
	    "ali/dir/mail.log", "ali/logs/sub/../mail.log" };
	char		*err;
	int		 i, w;

	memset(r, 0, sizeof(r));
	mkdir_p(P("ali"));
	mkdir_p(P("ali/logs"));
	mkdir_p(P("ali/logs/sub"));
	mk(P("ali/logs/mail.log"), "a1\n", "m");
	CHECK(symlink("logs/mail.log", P("ali/link.log")) == 0);
	CHECK(symlink("logs", P("ali/dir")) == 0);
	err_begin();
	ts = tails_new(&cb);
	for (i = 0; i < 4; i++)
		tail_add(ts, P("%s", rel[i]), &r[i], NULL, 0);
	EXPECT(ts, &r[0], "B m 0\nL 0-3 a1\n");
	err = err_end();
	CHECK_INT(count(err, "is also configured as"), 1);
	for (i = 1; i < 4; i++) {
		CHECK(strstr(err, P("%s", rel[i])) != NULL);
		CHECK_STR(rec_s(&r[i]), "");
	}
	free(err);
	put(P("ali/logs/mail.log"), "a2\n");
	EXPECT(ts, &r[0], "B m 0\nL 0-3 a1\nL 3-6 a2\n");
	w = writer(P("ali/logs/mail.log"));
	CHECK(rename(P("ali/logs/mail.log"), P("ali/logs/mail.log.1")) == 0);
	wr(w, "a3\n", 3);
	close(w);
	mk(P("ali/logs/mail.log"), "b1\n", "m2");
	EXPECT(ts, &r[0], "B m 0\nL 0-3 a1\nL 3-6 a2\nL 6-9 a3\nE\n"
	    "B m2 0\nL 0-3 b1\n");
	for (i = 1; i < 4; i++)
		CHECK_STR(rec_s(&r[i]), "");

	/* The link retargeted: by itself, from the start. */
	mk(P("ali/logs/other"), "o1\n", "other");
	CHECK(symlink("logs/other", P("ali/link.new")) == 0);
	err_begin();
	CHECK(rename(P("ali/link.new"), P("ali/link.log")) == 0);
	EXPECT(ts, &r[1], "B other 0\nL 0-3 o1\n");
	put(P("ali/logs/mail.log"), "b2\n");
	EXPECT(ts, &r[0], "B m 0\nL 0-3 a1\nL 3-6 a2\nL 6-9 a3\nE\n"
	    "B m2 0\nL 0-3 b1\nL 3-6 b2\n");
	free(err_end());
	CHECK_STR(rec_s(&r[1]), "B other 0\nL 0-3 o1\n");
	CHECK_STR(rec_s(&r[2]), "");
	CHECK_STR(rec_s(&r[3]), "");
	tails_free(ts);
	for (i = 0; i < 4; i++)
		rec_clear(&r[i]);

	/* The reader's path moves on; the alias's still names the file. */
	mk(P("ali/logs/x.log"), "x1\n", "x");
	CHECK(symlink("logs/x.log", P("ali/cur.log")) == 0);
	err_begin();
	ts = tails_new(&cb);
	tail_add(ts, P("ali/cur.log"), &r[0], NULL, 0);
	tail_add(ts, P("ali/logs/x.log"), &r[1], NULL, 0);
	EXPECT(ts, &r[0], "B x 0\nL 0-3 x1\n");
	mk(P("ali/logs/y.log"), "y1\n", "y");
	CHECK(symlink("logs/y.log", P("ali/cur.new")) == 0);
	CHECK(rename(P("ali/cur.new"), P("ali/cur.log")) == 0);
	EXPECT(ts, &r[0], "B x 0\nL 0-3 x1\nE\nB y 0\nL 0-3 y1\n");
	EXPECT(ts, &r[1], "B x 3\n");
	put(P("ali/logs/x.log"), "x2\n");
	EXPECT(ts, &r[1], "B x 3\nL 3-6 x2\n");
	put(P("ali/logs/y.log"), "y2\n");
	EXPECT(ts, &r[0], "B x 0\nL 0-3 x1\nE\nB y 0\nL 0-3 y1\nL 3-6 y2\n");
	CHECK_STR(rec_s(&r[1]), "B x 3\nL 3-6 x2\n");
	err = err_end();
	CHECK_INT(count(err, "is also configured as"), 1);
	CHECK_INT(count(err, "is read on through"), 1);
	free(err);
	tails_free(ts);
	rec_clear(&r[0]);
	rec_clear(&r[1]);
}

/* Three logs in two directories: independent; directory watches shared. */
static void
test_several(void)
{
	struct sw_tails	*ts;
	struct rec	 r[3];
	const char	*name[3] = { "sev/a/one.log", "sev/a/two.log",
	    "sev/b/one.log" };
	char		 line[64], want[3][4096];
	size_t		 i, k, wl[3] = { 0, 0, 0 };
	uint64_t	 off[3] = { 0, 0, 0 };
	int		 n;

	memset(r, 0, sizeof(r));
	mkdir_p(P("sev"));
	mkdir_p(P("sev/a"));
	mkdir_p(P("sev/b"));
	ts = tails_new(&cb);
	for (i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "f%zu", i);
		mk(P("%s", name[i]), "", line);
		tail_add(ts, P("%s", name[i]), &r[i], NULL, 0);
		wl[i] = (size_t)snprintf(want[i], sizeof(want[i]),
		    "B f%zu 0\n", i);
	}
	CHECK_INT(ts->nw, 5);
	for (k = 0; k < 12; k++)
		for (i = 0; i < 3; i++) {
			if ((k + i) % 2 == 0)
				continue;
			n = snprintf(line, sizeof(line), "log%zu line%zu\n", i,
			    k);
			put(P("%s", name[i]), line);
			wl[i] += (size_t)snprintf(want[i] + wl[i],
			    sizeof(want[i]) - wl[i], "L %llu-%llu %.*s\n",
			    (unsigned long long)off[i],
			    (unsigned long long)(off[i] + (uint64_t)n), n - 1,
			    line);
			off[i] += (uint64_t)n;
			if (k == 5 && i == 1)
				settle(ts);
		}
	for (i = 0; i < 3; i++)
		EXPECT(ts, &r[i], want[i]);
	/* One of them rotated: the others see nothing of it. */
	CHECK(rename(P("sev/a/one.log"), P("sev/a/one.log.1")) == 0);
	mk(P("sev/a/one.log"), "new\n", "g");
	wl[0] += (size_t)snprintf(want[0] + wl[0], sizeof(want[0]) - wl[0],
	    "E\nB g 0\nL 0-4 new\n");
	for (i = 0; i < 3; i++)
		EXPECT(ts, &r[i], want[i]);
	tails_free(ts);
	for (i = 0; i < 3; i++)
		rec_clear(&r[i]);
}

/* A 200 KB line with NUL bytes and invalid UTF-8: offsets stay exact. */
static void
test_long(void)
{
	struct sw_tails	*ts;
	struct rec	 r, r2;
	char		*big, want[512];
	size_t		 n = 200000, i;
	int		 fd;

	memset(&r, 0, sizeof(r));
	memset(&r2, 0, sizeof(r2));
	mkdir_p(P("long"));
	big = xmalloc(n);
	for (i = 0; i < n; i++)
		big[i] = (char)(i % 7 == 0 ? '\0' : i % 5 == 0 ? '\xff' : 'a');
	fd = open(P("long/a.log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	wr(fd, "s\n", 2);
	wr(fd, big, n);
	wr(fd, "\nafter\n\xfe\xc3(\0x\n", 14);
	close(fd);
	label(P("long/a.log"), "a");
	snprintf(want, sizeof(want), "B a 0\nL 0-2 s\nL 2-200003 65536c "
	    "#%016llx\nL 200003-200009 after\nL 200009-200015 5 #%016llx\n",
	    (unsigned long long)fnv64(FNV64_INIT, big, SW_LINE_MAX),
	    (unsigned long long)fnv64(FNV64_INIT, "\xfe\xc3(\0x", 5));
	ts = tails_new(&cb);
	tail_add(ts, P("long/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, want);
	tails_free(ts);

	/* In pieces, with looks in between, and a tiny budget. */
	fd = open(P("long/b.log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	label(P("long/b.log"), "a");
	ts = tails_new(&cb);
	tail_add(ts, P("long/b.log"), &r2, NULL, 0);
	budget = 100;
	wr(fd, "s\n", 2);
	wr(fd, big, 100000);
	settle(ts);
	wr(fd, big + 100000, n - 100000);
	settle(ts);
	wr(fd, "\nafter\n\xfe\xc3(\0x\n", 14);
	EXPECT(ts, &r2, want);
	budget = 1 << 20;
	close(fd);
	tails_free(ts);
	free(big);
	rec_clear(&r);
	rec_clear(&r2);
}

/* Fills path with about size bytes of lines of varied length. */
static void
fill(const char *path, size_t size)
{
	char	 line[300];
	size_t	 len = 0, k = 0;
	int	 fd, n;
	FILE	*fp;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fp = fdopen(fd, "w");
	while (len < size) {
		n = snprintf(line, sizeof(line), "%zu %.*s\n", k,
		    (int)(k * 7919 % 250), "lorem ipsum dolor sit amet, "
		    "consectetur adipiscing elit, sed do eiusmod tempor "
		    "incididunt ut labore et dolore magna aliqua. Ut enim ad "
		    "minim veniam, quis nostrud exercitation ullamco laboris "
		    "nisi ut aliquip ex ea commodo consequat. Duis aute irure "
		    "dolor in reprehenderit in voluptate velit esse cillum");
		fputs(line, fp);
		len += (size_t)n;
		k++;
	}
	fclose(fp);
}

/*
 * A 1 MB backlog: with a budget of 64 KiB it takes many calls, each
 * returning 1 but the last; a budget of 100 bytes gives the very same
 * record; two backlogs share the budget.
 */
static void
test_budget(void)
{
	struct sw_tails	*ts;
	struct rec	 r1, r2, r3, r4;
	struct stat	 st;

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	memset(&r3, 0, sizeof(r3));
	memset(&r4, 0, sizeof(r4));
	r1.drained = r2.drained = 1;
	mkdir_p(P("bud"));
	fill(P("bud/a.log"), 1 << 20);
	label(P("bud/a.log"), "a");
	stat(P("bud/a.log"), &st);

	ts = tails_new(&cb);
	tail_add(ts, P("bud/a.log"), &r1, NULL, 0);
	budget = 64 * 1024;
	runs = moreruns = 0;
	settle(ts);
	CHECK(moreruns >= 16);
	CHECK_INT(runs, moreruns + 1);
	CHECK_INT(r1.next, st.st_size);
	tails_free(ts);

	ts = tails_new(&cb);
	tail_add(ts, P("bud/a.log"), &r2, NULL, 0);
	budget = 100;
	settle(ts);
	CHECK(r1.nlines > 5000);
	CHECK_INT(r2.nlines, r1.nlines);
	CHECK(r1.len == r2.len && memcmp(r1.s, r2.s, r1.len) == 0);
	CHECK(count(r2.s, "D\n") == 1);
	tails_free(ts);

	/* Two backlogs: both move on in every call. */
	fill(P("bud/b.log"), 1 << 20);
	label(P("bud/b.log"), "b");
	ts = tails_new(&cb);
	tail_add(ts, P("bud/a.log"), &r3, NULL, 0);
	tail_add(ts, P("bud/b.log"), &r4, NULL, 0);
	budget = 64 * 1024;
	CHECK_INT(tails_run(ts, budget), 1);
	CHECK_INT(tails_run(ts, budget), 1);
	CHECK(r3.nlines > 0 && r4.nlines > 0);
	settle(ts);
	CHECK_INT(r3.nlines, r1.nlines);
	CHECK_INT(r4.nlines, r1.nlines);
	budget = 1 << 20;
	tails_free(ts);
	rec_clear(&r1);
	rec_clear(&r2);
	rec_clear(&r3);
	rec_clear(&r4);
}

/* Writes s to a /proc file; 0 or -1. */
static int
proc_write(const char *path, const char *s)
{
	int	 fd, rc;

	if ((fd = open(path, O_WRONLY)) == -1)
		return -1;
	rc = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return rc;
}

/*
 * In a new user namespace with max_inotify_watches 2; 0 when entered.
 * The inotify instance must be made after this to count against it.
 */
static int
userns_limit(void)
{
	char	 map[64];
	uid_t	 uid = geteuid();
	gid_t	 gid = getegid();

	if (unshare(CLONE_NEWUSER) == -1)
		return -1;
	(void)proc_write("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned int)uid);
	if (proc_write("/proc/self/uid_map", map) == -1)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned int)gid);
	if (proc_write("/proc/self/gid_map", map) == -1)
		return -1;
	return proc_write("/proc/sys/user/max_inotify_watches", "2\n");
}

/* The child of test_limit(): returns its exit status. */
static int
limit_child(void)
{
	struct sw_tails	*ts;
	struct rec	 ra, rb;
	char		*err;

	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	check_failed = 0;
	mk(P("lim/a.log"), "a1\n", "a");
	mk(P("lim/b.log"), "b1\n", "b");
	ts = tails_new(&cb);
	err_begin();
	tail_add(ts, P("lim/a.log"), &ra, NULL, 0);	/* dir + file: 2 */
	tail_add(ts, P("lim/b.log"), &rb, NULL, 0);	/* no room */
	settle(ts);
	put(P("lim/b.log"), "b2\n");
	settle(ts);
	tails_poll(ts);
	settle(ts);
	tails_poll(ts);
	settle(ts);
	err = err_end();
	CHECK_INT(count(err, "inotify watch limit reached "
	    "(fs.inotify.max_user_watches): watching "), 1);
	CHECK_INT(count(err, "lim/b.log by polling every few seconds"), 1);
	free(err);
	CHECK_INT(tails_polled(ts), 1);
	CHECK_STR(rec_s(&rb), "B b 0\nL 0-3 b1\nL 3-6 b2\n");
	put(P("lim/a.log"), "a2\n");
	EXPECT(ts, &ra, "B a 0\nL 0-3 a1\nL 3-6 a2\n");

	/* No inotify instance at all: every source polled. */
	rec_clear(&ra);
	rec_clear(&rb);
	if (proc_write("/proc/sys/user/max_inotify_instances", "1\n") == 0) {
		struct sw_tails	*ts2;

		err_begin();
		ts2 = tails_new(&cb);
		tail_add(ts2, P("lim/a.log"), &ra, NULL, 1);
		tail_add(ts2, P("lim/c.log"), &rb, NULL, 1);
		err = err_end();
		CHECK_INT(count(err, "inotify_init1: every log is polled"), 1);
		free(err);
		CHECK_INT(tails_fd(ts2), -1);
		CHECK_INT(tails_polled(ts2), 2);
		settle(ts2);
		put(P("lim/a.log"), "a3\n");
		mk(P("lim/c.log"), "c1\n", "c");
		settle(ts2);			/* nothing tells it */
		CHECK_STR(rec_s(&ra), "B a 6\n");
		CHECK_STR(rec_s(&rb), "");
		tails_poll(ts2);
		settle(ts2);
		CHECK_STR(rec_s(&ra), "B a 6\nL 6-9 a3\n");
		CHECK_STR(rec_s(&rb), "B c 0\nL 0-3 c1\n");
		tails_free(ts2);
	} else
		printf("t_tail: the no-inotify case skipped\n");
	tails_free(ts);
	rec_clear(&ra);
	rec_clear(&rb);
	return check_failed == 0 ? 0 : 1;
}

/*
 * The inotify watch limit: in a child in its own user namespace where
 * only two watches are allowed, the second log is polled and said so
 * once.  Skipped where user namespaces are not available.
 */
static void
test_limit(void)
{
	pid_t	 pid;
	int	 status, p[2];
	char	 c = 0;

	mkdir_p(P("lim"));
	if (pipe(p) == -1)
		return;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0) {
		close(p[0]);
		if (userns_limit() == -1) {
			c = 's';
			wr(p[1], &c, 1);
			_exit(0);
		}
		c = 'r';
		wr(p[1], &c, 1);
		exit(limit_child());	/* LeakSanitizer checks it too */
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		c = 0;
	close(p[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (c == 's')
		printf("t_tail: the watch limit case skipped: no user "
		    "namespace here\n");
	CHECK(c == 's' || c == 'r');
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* /proc/sys/fs/inotify/max_queued_events, or 0. */
static long
max_queued(void)
{
	FILE	*fp;
	long	 n = 0;

	if ((fp = fopen("/proc/sys/fs/inotify/max_queued_events", "r")) ==
	    NULL)
		return 0;
	if (fscanf(fp, "%ld", &n) != 1)
		n = 0;
	fclose(fp);
	return n;
}

/*
 * IN_Q_OVERFLOW: two logs fill the queue; the events of a rotation of a
 * third are dropped: the overflow alone makes every file be looked at,
 * and nothing is lost.
 */
static void
test_overflow(void)
{
	struct sw_tails	*ts;
	struct rec	 ra, rc, re;
	char		*err, want[64];
	long		 i, n = max_queued() / 2 + 64;
	int		 wc, we, w;

	if (n > 200000 || n < 64) {
		printf("t_tail: the overflow case skipped: max_queued_events "
		    "%ld\n", max_queued());
		return;
	}
	memset(&ra, 0, sizeof(ra));
	memset(&rc, 0, sizeof(rc));
	memset(&re, 0, sizeof(re));
	mkdir_p(P("ovf"));
	mk(P("ovf/a.log"), "a1\n", "a");
	mk(P("ovf/c.log"), "", "c");
	mk(P("ovf/e.log"), "", "e");
	ts = tails_new(&cb);
	tail_add(ts, P("ovf/a.log"), &ra, NULL, 0);
	tail_add(ts, P("ovf/c.log"), &rc, NULL, 0);
	tail_add(ts, P("ovf/e.log"), &re, NULL, 0);
	EXPECT(ts, &ra, "B a 0\nL 0-3 a1\n");
	wc = writer(P("ovf/c.log"));
	we = writer(P("ovf/e.log"));
	for (i = 0; i < n; i++) {
		wr(wc, "c\n", 2);
		wr(we, "e\n", 2);
	}
	close(wc);
	close(we);
	w = writer(P("ovf/a.log"));
	CHECK(rename(P("ovf/a.log"), P("ovf/a.log.1")) == 0);
	wr(w, "a2\n", 3);
	close(w);
	mk(P("ovf/a.log"), "n1\n", "n");
	err_begin();
	settle(ts);
	err = err_end();
	CHECK_INT(count(err, "inotify queue overflowed: checking every file"),
	    1);
	free(err);
	CHECK_STR(rec_s(&ra), "B a 0\nL 0-3 a1\nL 3-6 a2\nE\nB n 0\n"
	    "L 0-3 n1\n");
	CHECK_INT(rc.nlines, n);
	CHECK_INT(re.nlines, n);
	CHECK_INT(re.next, 2 * n);
	snprintf(want, sizeof(want), "L %ld-%ld c\n", 2 * n - 2, 2 * n);
	CHECK(rc.s != NULL && strcmp(rc.s + rc.len - strlen(want), want) == 0);
	tails_free(ts);
	rec_clear(&ra);
	rec_clear(&rc);
	rec_clear(&re);
}

/*
 * Reads dir/a.log, made of "r1\nr2\n", to its end and returns the
 * checkpoint there.
 */
static void
resume_setup(const char *dir, struct sw_checkpoint *cp)
{
	struct sw_tails	*ts;
	struct sw_tail	*t;
	struct rec	 r;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("%s", dir));
	mk(P("%s/a.log", dir), "r1\nr2\n", "a");
	ts = tails_new(&cb);
	t = tail_add(ts, P("%s/a.log", dir), &r, NULL, 1);
	EXPECT(ts, &r, "B a 6\n");
	checkpoint(t, cp);
	CHECK_INT(cp->offset, 6);
	CHECK_INT(cp->id.fplen, 6);
	tails_free(ts);
	rec_clear(&r);
}

/* Resumes dir/a.log from cp; the record should be want. */
static void
resume_check(const char *dir, const struct sw_checkpoint *cp,
    const char *want, const char *warning, int line)
{
	struct sw_tails	*ts;
	struct rec	 r;
	char		*err;

	memset(&r, 0, sizeof(r));
	r.drained = 1;
	ts = tails_new(&cb);
	err_begin();
	tail_add(ts, P("%s/a.log", dir), &r, cp, 1);
	settle(ts);
	err = err_end();
	if (!CHECK_INT(count(err, warning != NULL ? warning : "smtpwatch:"),
	    warning != NULL ? 1 : 0))
		fprintf(stderr, "t_tail.c:%d: stderr was: %s\n", line, err);
	free(err);
	expect(ts, &r, want, line);
	tails_free(ts);
	rec_clear(&r);
}

/* (a) the same file, grown: from the offset; also from mid-file. */
static void
test_resume_same(void)
{
	struct sw_checkpoint	 cp;

	resume_setup("res-a", &cp);
	put(P("res-a/a.log"), "r3\n");
	resume_check("res-a", &cp, "B a 6\nL 6-9 r3\nD\n", NULL, __LINE__);
	cp.offset = 3;
	resume_check("res-a", &cp, "B a 3\nL 3-6 r2\nL 6-9 r3\nD\n", NULL,
	    __LINE__);
}

/*
 * (b) renamed while down, rotated again: the file by its inode, then the
 * rotated siblings newer than it, oldest first, then the live one;
 * compressed and older siblings are passed over.  Then a checkpoint
 * whose file is gone.
 */
static void
test_resume_renamed(void)
{
	struct sw_checkpoint	 cp;

	resume_setup("res-b", &cp);
	put(P("res-b/a.log"), "r3\n");
	mk(P("res-b/a.log.5"), "old\n", "older");
	age(P("res-b/a.log.5"), 60);
	CHECK(rename(P("res-b/a.log"), P("res-b/a.log.3")) == 0);
	age(P("res-b/a.log.3"), 30);
	mk(P("res-b/a.log.2"), "b1\n", "b");
	age(P("res-b/a.log.2"), 20);
	mk(P("res-b/a.log.1.gz"), "zz\n", "gz");
	age(P("res-b/a.log.1.gz"), 15);
	mk(P("res-b/a.log.1"), "c1\n", "c");
	age(P("res-b/a.log.1"), 10);
	mk(P("res-b/a.log"), "l1\n", "live");
	resume_check("res-b", &cp, "B a 6\nL 6-9 r3\nE\nB b 0\nL 0-3 b1\nE\n"
	    "B c 0\nL 0-3 c1\nE\nB live 0\nL 0-3 l1\nD\n", NULL, __LINE__);

	/* The old file is gone. */
	resume_setup("res-b2", &cp);
	CHECK(unlink(P("res-b2/a.log")) == 0);
	mk(P("res-b2/a.log"), "l1\n", "live");
	cp.id.ino++;				/* surely not the new one */
	resume_check("res-b2", &cp, "B live 0\nL 0-3 l1\nD\n",
	    "is gone: lines written to it after the checkpoint may be lost",
	    __LINE__);
}

/*
 * (b) through a symbolic link: the old file is looked for in the
 * target's directory, where it was rotated.
 */
static void
test_resume_link(void)
{
	struct sw_checkpoint	 cp;
	struct sw_tails		*ts;
	struct sw_tail		*t;
	struct rec		 r;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("res-l"));
	mkdir_p(P("res-l/real"));
	mk(P("res-l/real/cur"), "r1\nr2\n", "a");
	CHECK(symlink("real/cur", P("res-l/a.log")) == 0);
	ts = tails_new(&cb);
	t = tail_add(ts, P("res-l/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\nL 0-3 r1\nL 3-6 r2\n");
	checkpoint(t, &cp);
	tails_free(ts);
	rec_clear(&r);
	put(P("res-l/real/cur"), "r3\n");
	CHECK(rename(P("res-l/real/cur"), P("res-l/real/cur.1")) == 0);
	mk(P("res-l/real/cur"), "n1\n", "new");
	resume_check("res-l", &cp, "B a 6\nL 6-9 r3\nE\nB new 0\nL 0-3 n1\n"
	    "D\n", NULL, __LINE__);
}

/* (c) truncated while down: from the copy at the offset, or warned. */
static void
test_resume_truncated(void)
{
	struct sw_checkpoint	 cp;

	resume_setup("res-c", &cp);
	put(P("res-c/a.log"), "r3\n");
	copy(P("res-c/a.log"), P("res-c/a.log.1"), "copy");
	CHECK(truncate(P("res-c/a.log"), 0) == 0);
	put(P("res-c/a.log"), "n1\nn2 longer than the old file\n");
	resume_check("res-c", &cp, "B copy 6\nL 6-9 r3\nE\nB a 0\nL 0-3 n1\n"
	    "L 3-31 n2 longer than the old file\nD\n", NULL, __LINE__);

	/* Copied, truncated, written, renamed: copy, the file, the new one. */
	resume_setup("res-c3", &cp);
	put(P("res-c3/a.log"), "r3\n");
	copy(P("res-c3/a.log"), P("res-c3/a.log.2"), "copy");
	age(P("res-c3/a.log.2"), 20);
	CHECK(truncate(P("res-c3/a.log"), 0) == 0);
	put(P("res-c3/a.log"), "t1\n");
	CHECK(rename(P("res-c3/a.log"), P("res-c3/a.log.1")) == 0);
	age(P("res-c3/a.log.1"), 10);
	mk(P("res-c3/a.log"), "n1\n", "new");
	resume_check("res-c3", &cp, "B copy 6\nL 6-9 r3\nE\nB a 0\nL 0-3 t1\n"
	    "E\nB new 0\nL 0-3 n1\nD\n", NULL, __LINE__);

	/* The same without a copy: said so; the file from 0, then on. */
	resume_setup("res-c4", &cp);
	CHECK(truncate(P("res-c4/a.log"), 0) == 0);
	put(P("res-c4/a.log"), "t1\n");
	CHECK(rename(P("res-c4/a.log"), P("res-c4/a.log.1")) == 0);
	age(P("res-c4/a.log.1"), 10);
	mk(P("res-c4/a.log"), "n1\n", "new");
	resume_check("res-c4", &cp, "B a 0\nL 0-3 t1\nE\nB new 0\nL 0-3 n1\n"
	    "D\n", "truncated below the read position; no copy beside it",
	    __LINE__);

	resume_setup("res-c2", &cp);
	CHECK(truncate(P("res-c2/a.log"), 0) == 0);
	put(P("res-c2/a.log"), "n1\n");
	resume_check("res-c2", &cp, "B a 0\nL 0-3 n1\nD\n",
	    "truncated below the read position; no copy beside it", __LINE__);
}

/*
 * (c) with a checkpoint taken while the file was empty (nothing known of
 * its content): the copies written since the commit are read first; a
 * sibling older than the commit is not.
 */
static void
test_resume_empty(void)
{
	struct sw_checkpoint	 cp;
	struct sw_tails		*ts;
	struct sw_tail		*t;
	struct rec		 r;

	memset(&r, 0, sizeof(r));
	mkdir_p(P("res-e"));
	mk(P("res-e/a.log.2"), "old\n", "older");
	mk(P("res-e/a.log"), "", "a");
	ts = tails_new(&cb);
	t = tail_add(ts, P("res-e/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\n");
	checkpoint(t, &cp);
	cp.updated = time(NULL);		/* as feed.c stamps a commit */
	CHECK_INT(cp.id.fplen, 0);
	tails_free(ts);
	rec_clear(&r);
	age(P("res-e/a.log.2"), 10);
	put(P("res-e/a.log"), "w1\nw2\n");
	copy(P("res-e/a.log"), P("res-e/a.log.1"), "copy");
	CHECK(truncate(P("res-e/a.log"), 0) == 0);
	put(P("res-e/a.log"), "n1\n");
	resume_check("res-e", &cp, "B copy 0\nL 0-3 w1\nL 3-6 w2\nE\nB a 0\n"
	    "L 0-3 n1\nD\n", NULL, __LINE__);
	/* Nothing copied since: the file itself. */
	cp.updated = time(NULL) + 60;
	resume_check("res-e", &cp, "B a 0\nL 0-3 n1\nD\n", NULL, __LINE__);

	/* Copied, truncated, written and renamed since: all three. */
	mkdir_p(P("res-e2"));
	mk(P("res-e2/a.log"), "", "a");
	ts = tails_new(&cb);
	t = tail_add(ts, P("res-e2/a.log"), &r, NULL, 0);
	EXPECT(ts, &r, "B a 0\n");
	checkpoint(t, &cp);
	cp.updated = time(NULL);
	tails_free(ts);
	rec_clear(&r);
	put(P("res-e2/a.log"), "w1\n");
	copy(P("res-e2/a.log"), P("res-e2/a.log.2"), "copy");
	CHECK(truncate(P("res-e2/a.log"), 0) == 0);
	put(P("res-e2/a.log"), "t1\n");
	CHECK(rename(P("res-e2/a.log"), P("res-e2/a.log.1")) == 0);
	mk(P("res-e2/a.log"), "n1\n", "new");
	resume_check("res-e2", &cp, "B copy 0\nL 0-3 w1\nE\nB a 0\nL 0-3 t1\n"
	    "E\nB new 0\nL 0-3 n1\nD\n", NULL, __LINE__);
}

/* (d) the path missing: the old file finished first, then waited for. */
static void
test_resume_missing(void)
{
	struct sw_checkpoint	 cp;
	struct sw_tails		*ts;
	struct rec		 r;
	char			*err;

	resume_setup("res-d", &cp);
	put(P("res-d/a.log"), "r3\n");
	CHECK(rename(P("res-d/a.log"), P("res-d/a.log.1")) == 0);
	memset(&r, 0, sizeof(r));
	r.drained = 1;
	ts = tails_new(&cb);
	err_begin();
	tail_add(ts, P("res-d/a.log"), &r, &cp, 1);
	err = err_end();
	free(err);
	EXPECT(ts, &r, "B a 6\nL 6-9 r3\nD\n");
	mk(P("res-d/a.log"), "n1\n", "new");
	EXPECT(ts, &r, "B a 6\nL 6-9 r3\nD\nE\nB new 0\nL 0-3 n1\nD\n");
	tails_free(ts);
	rec_clear(&r);

	/* Missing, and the old file gone too: said so; the new one from 0. */
	resume_setup("res-d2", &cp);
	CHECK(unlink(P("res-d2/a.log")) == 0);
	memset(&r, 0, sizeof(r));
	ts = tails_new(&cb);
	err_begin();
	tail_add(ts, P("res-d2/a.log"), &r, &cp, 1);
	settle(ts);
	err = err_end();
	CHECK_INT(count(err, "is gone"), 1);
	free(err);
	CHECK_STR(rec_s(&r), "");
	mk(P("res-d2/a.log"), "n1\n", "new");
	EXPECT(ts, &r, "B new 0\nL 0-3 n1\n");
	tails_free(ts);
	rec_clear(&r);
}

int
main(void)
{
	char	 tmpl[] = "/tmp/t_tail.XXXXXX";

	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(tmp, sizeof(tmp), "%s", tmpl);
	snprintf(errpath, sizeof(errpath), "%s/stderr", tmp);
	test_basic();
	test_rename();
	test_rename_quiet();
	test_delete();
	test_copytruncate();
	test_copy_rename();
	test_copy_empty();
	test_copy_unseen();
	test_copy_race();
	test_truncate_nocopy();
	test_missing();
	test_symlink();
	test_several();
	test_aliases();
	test_long();
	test_budget();
	test_limit();
	test_overflow();
	test_resume_same();
	test_resume_renamed();
	test_resume_link();
	test_resume_truncated();
	test_resume_empty();
	test_resume_missing();
	rm_rf(tmp);
	return check_done();
}
