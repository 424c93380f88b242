/*
 * ctlsock.c -- smtpwatchctl's side of the control socket: connect, send
 * one request line "1 COMMAND[ ARG]\n" (ARG escaped as str_vis() writes
 * it, so any byte can travel), read the payload lines and the last line,
 * "ok" or "error: REASON", all within CTLSOCK_TIMEOUT seconds.  Also the
 * parsing of the status payload and the commands that only pass a
 * request on (reset, reload).
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpwatch.h"

#define CTLSOCK_LINE_MAX	1024		/* a request, with its newline */
#define CTLSOCK_REPLY_MAX	(16 << 20)	/* bytes of a reply kept */

static int	 ctlsock_wait(int, short, const struct timespec *);
static int	 ctlsock_split(char *, size_t, struct ctl_reply *);
static unsigned long long field_num(char **, size_t, size_t);

/*
 * Waits until fd is ready for events or the deadline (CLOCK_MONOTONIC)
 * passes.  Returns 0 when ready, -1 with errno ETIMEDOUT or poll's.
 */
static int
ctlsock_wait(int fd, short events, const struct timespec *deadline)
{
	struct pollfd	 pfd;
	struct timespec	 now;
	long long	 ms;
	int		 n;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
		    (deadline->tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms > 60000 ? 60000 : (int)ms);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 1)
			return 0;
	}
}

/*
 * Splits a whole reply (NUL-terminated at len) into r->lines and the
 * last line.  Returns CTLSOCK_OK, CTLSOCK_ERROR with the daemon's reason
 * in r->reason, or CTLSOCK_FAIL when the reply is not one.
 */
static int
ctlsock_split(char *buf, size_t len, struct ctl_reply *r)
{
	char	*p, *nl, *last;

	if (len == 0 || buf[len - 1] != '\n') {
		snprintf(r->reason, sizeof(r->reason), "%s",
		    len == 0 ? "no reply" : "the reply ended early");
		return CTLSOCK_FAIL;
	}
	buf[len - 1] = '\0';
	last = strrchr(buf, '\n');
	last = last == NULL ? buf : last + 1;
	for (p = buf; p < last; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		r->lines = xreallocarray(r->lines, r->nlines + 1,
		    sizeof(*r->lines));
		r->lines[r->nlines++] = xstrdup(p);
	}
	if (strcmp(last, "ok") == 0)
		return CTLSOCK_OK;
	if (strncmp(last, "error: ", 7) == 0) {
		str_vis(r->reason, sizeof(r->reason), last + 7,
		    strlen(last + 7));
		return CTLSOCK_ERROR;
	}
	snprintf(r->reason, sizeof(r->reason), "the reply does not end "
	    "with ok or error");
	return CTLSOCK_FAIL;
}

/*
 * Why connect() to the socket at path failed, in r->reason.  A socket
 * that may not be opened says who may: the daemon may well be running.
 */
static void
ctlsock_why(struct ctl_reply *r, const char *path, int err)
{
	if (err == EAGAIN)
		snprintf(r->reason, sizeof(r->reason), "%.200s: the daemon "
		    "is not accepting connections", path);
	else if (err == EACCES || err == EPERM)
		snprintf(r->reason, sizeof(r->reason), "%.200s: %s (root, "
		    "the daemon's user and its group may ask)", path,
		    strerror(err));
	else
		snprintf(r->reason, sizeof(r->reason), "%.200s: %s", path,
		    strerror(err));
}

/*
 * Sends command (with arg of arglen bytes unless arg is NULL) to the
 * daemon on the socket path and reads its reply into r (ctlsock_free()
 * it whatever the outcome).  Returns CTLSOCK_OK; CTLSOCK_ERROR when the
 * daemon said error (its reason in r->reason); CTLSOCK_DOWN when no
 * daemon could be reached (r->reason: "PATH: strerror"); CTLSOCK_FAIL
 * when the request could not be made or no whole reply came in time
 * (r->reason says why).  Logs nothing.
 */
int
ctlsock_request(const char *path, const char *command, const char *arg,
    size_t arglen, struct ctl_reply *r)
{
	struct sockaddr_un	 sun;
	struct timespec		 deadline;
	char			 req[CTLSOCK_LINE_MAX + 1];
	char			*buf = NULL, vis[CTLSOCK_LINE_MAX * 4 + 1];
	size_t			 len, off, size = 0, used = 0;
	ssize_t			 n;
	int			 fd, rc;

	memset(r, 0, sizeof(*r));
	if (arg != NULL && arglen * 4 >= sizeof(vis)) {
		snprintf(r->reason, sizeof(r->reason), "the argument is too "
		    "long");
		return CTLSOCK_FAIL;
	}
	if (arg != NULL)
		str_vis(vis, sizeof(vis), arg, arglen);
	n = snprintf(req, sizeof(req), "1 %s%s%s\n", command,
	    arg != NULL ? " " : "", arg != NULL ? vis : "");
	if (n < 0 || (size_t)n > CTLSOCK_LINE_MAX) {
		snprintf(r->reason, sizeof(r->reason), "the request is "
		    "longer than %d bytes", CTLSOCK_LINE_MAX);
		return CTLSOCK_FAIL;
	}
	len = (size_t)n;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(r->reason, sizeof(r->reason), "%.200s: the path is "
		    "too long for a socket", path);
		return CTLSOCK_FAIL;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		snprintf(r->reason, sizeof(r->reason), "socket: %s",
		    strerror(errno));
		return CTLSOCK_FAIL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		rc = errno;
		ctlsock_why(r, path, rc);
		close(fd);
		return rc == ENOENT || rc == ECONNREFUSED || rc == ENOTDIR ?
		    CTLSOCK_DOWN : CTLSOCK_FAIL;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += CTLSOCK_TIMEOUT;

	for (off = 0; off < len; ) {
		n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (ctlsock_wait(fd, POLLOUT, &deadline) == -1)
				goto fail;
			continue;
		}
		if (n == -1)	/* EPIPE: it answered and closed (busy) */
			break;
		off += (size_t)n;
	}
	for (;;) {
		if (size - used < 4096) {
			size = size == 0 ? 8192 : size * 2;
			buf = xreallocarray(buf, size, 1);
		}
		n = read(fd, buf + used, size - used - 1);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (ctlsock_wait(fd, POLLIN, &deadline) == -1)
				goto fail;
			continue;
		}
		if (n == -1 && errno == ECONNRESET && used > 0)
			break;		/* it closed with our bytes unread */
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > CTLSOCK_REPLY_MAX) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	if (buf == NULL)
		buf = xstrdup("");
	buf[used] = '\0';
	rc = ctlsock_split(buf, used, r);
	free(buf);
	return rc;

fail:
	snprintf(r->reason, sizeof(r->reason), "%.200s: %s", path,
	    errno == ETIMEDOUT ? "no reply within the time allowed" :
	    strerror(errno));
	close(fd);
	free(buf);
	return CTLSOCK_FAIL;
}

void
ctlsock_free(struct ctl_reply *r)
{
	strv_free(r->lines, r->nlines);
	r->lines = NULL;
	r->nlines = 0;
}

/* Field i of the TAB-separated fields f as a number; 0 when absent. */
static unsigned long long
field_num(char **f, size_t nf, size_t i)
{
	return i < nf ? strtoull(f[i], NULL, 10) : 0;
}

/*
 * Parses the payload of a status reply into st (ctlsock_status_free()
 * it).  Unknown lines are skipped, so a newer daemon may say more.
 * Returns 0, or -1 when the payload lacks the version and pid lines.
 */
int
ctlsock_status(const struct ctl_reply *r, struct ctl_status *st)
{
	struct ctl_source	*src;
	char			*line, *f[12], *p;
	size_t			 i, nf;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < r->nlines; i++) {
		line = xstrdup(r->lines[i]);
		for (nf = 0, p = line; nf < 12; nf++) {
			f[nf] = p;
			if ((p = strchr(p, '\t')) == NULL) {
				nf++;
				break;
			}
			*p++ = '\0';
		}
		if (strcmp(f[0], "version") == 0 && nf > 1)
			snprintf(st->version, sizeof(st->version), "%s", f[1]);
		else if (strcmp(f[0], "pid") == 0)
			st->pid = (long)field_num(f, nf, 1);
		else if (strcmp(f[0], "started") == 0)
			st->started = (time_t)field_num(f, nf, 1);
		else if (strcmp(f[0], "rules") == 0) {
			st->rules_files = field_num(f, nf, 1);
			st->rules_extracts = field_num(f, nf, 2);
			st->rules_diagnoses = field_num(f, nf, 3);
		} else if (strcmp(f[0], "database") == 0 && nf > 1) {
			free(st->database);
			st->database = str_unvis(f[1], strlen(f[1]),
			    &st->databaselen);
		} else if (strcmp(f[0], "batch") == 0)
			st->batch = field_num(f, nf, 1);
		else if (strcmp(f[0], "committed") == 0)
			st->committed = (time_t)field_num(f, nf, 1);
		else if (strcmp(f[0], "incidents") == 0)
			st->incidents = field_num(f, nf, 1);
		else if (strcmp(f[0], "counter") == 0 && nf > 2) {
			if (strcmp(f[1], "lines") == 0)
				st->lines = field_num(f, nf, 2);
			else if (strcmp(f[1], "events") == 0)
				st->events = field_num(f, nf, 2);
			else if (strcmp(f[1], "batches") == 0)
				st->batches = field_num(f, nf, 2);
			else if (strcmp(f[1], "commit_errors") == 0)
				st->commit_errors = field_num(f, nf, 2);
			else if (strcmp(f[1], "alerts") == 0)
				st->alerts = field_num(f, nf, 2);
		} else if (strcmp(f[0], "source") == 0 && nf >= 10) {
			st->sources = xreallocarray(st->sources,
			    st->nsources + 1, sizeof(*st->sources));
			src = &st->sources[st->nsources++];
			memset(src, 0, sizeof(*src));
			src->path = str_unvis(f[1], strlen(f[1]),
			    &src->pathlen);
			src->open = field_num(f, nf, 2) != 0;
			src->offset = field_num(f, nf, 3);
			src->size = field_num(f, nf, 4);
			src->lag_bytes = field_num(f, nf, 5);
			src->lag_seconds = field_num(f, nf, 6);
			src->rotations = field_num(f, nf, 7);
			src->lines = field_num(f, nf, 8);
			src->polled = field_num(f, nf, 9) != 0;
			src->standby = nf > 10 && strcmp(f[10], "standby") == 0;
		}
		free(line);
	}
	if (st->version[0] == '\0' || st->pid == 0)
		return -1;
	return 0;
}

void
ctlsock_status_free(struct ctl_status *st)
{
	size_t	 i;

	for (i = 0; i < st->nsources; i++)
		free(st->sources[i].path);
	free(st->sources);
	free(st->database);
	memset(st, 0, sizeof(*st));
}

/*
 * reset SUBJECT and reload: command (with arg, written as the listings
 * print it: \xNN a byte, \\ a backslash) goes to the daemon on path;
 * its payload is printed.  Returns the exit status: 0 ok, 2 when no
 * daemon answers, 3 on its error or ours (said on standard error).
 */
int
ctlsock_command(const char *path, const char *command, const char *arg)
{
	struct ctl_reply	 r;
	char			*subj = NULL;
	size_t			 i, len = 0;
	int			 rc;

	if (arg != NULL)
		subj = str_unvis(arg, strlen(arg), &len);
	rc = ctlsock_request(path, command, subj, len, &r);
	free(subj);
	switch (rc) {
	case CTLSOCK_OK:
		for (i = 0; i < r.nlines; i++)
			printf("%s\n", r.lines[i]);
		rc = 0;
		if (fflush(stdout) == EOF || ferror(stdout)) {
			log_warn("stdout");
			rc = 3;
		}
		break;
	case CTLSOCK_ERROR:
		log_warnx("%s: %s", command, r.reason);
		rc = 3;
		break;
	case CTLSOCK_DOWN:
		log_warnx("smtpwatchd is not running (control socket %s)",
		    r.reason);
		rc = 2;
		break;
	case CTLSOCK_FAIL:
	default:
		log_warnx("%s: control socket %s", command, r.reason);
		rc = 3;
		break;
	}
	ctlsock_free(&r);
	return rc;
}
