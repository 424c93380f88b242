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
 * The request line "1 COMMAND[ ARG[<TAB>ARG ...]]\n" into req (size
 * bytes), each ARG in str_vis() form.  Returns its length, or 0 when it
 * does not fit (r->reason says so).
 */
static size_t
ctlsock_line(char *req, size_t size, const char *command,
    const struct sw_ctl_arg *args, size_t nargs, struct ctl_reply *r)
{
	size_t	 i, n;

	n = (size_t)snprintf(req, size, "1 %s", command);
	for (i = 0; i < nargs && n < size; i++) {
		req[n++] = i == 0 ? ' ' : '\t';
		if (args[i].len * 4 >= size - n) {
			n = size;
			break;
		}
		n += str_vis(req + n, size - n, args[i].p, args[i].len);
	}
	if (n + 1 >= size) {
		snprintf(r->reason, sizeof(r->reason), "the request is "
		    "longer than %d bytes", CTLSOCK_LINE_MAX);
		return 0;
	}
	req[n++] = '\n';
	req[n] = '\0';
	return n;
}

/*
 * Sends command with its nargs arguments (any bytes) to the daemon on
 * the socket path and reads its reply into r (ctlsock_free() it
 * whatever the outcome).  Returns CTLSOCK_OK; CTLSOCK_ERROR when the
 * daemon said error (its reason in r->reason); CTLSOCK_DOWN when no
 * daemon could be reached (r->reason: "PATH: strerror"); CTLSOCK_FAIL
 * when the request could not be made or no whole reply came in time
 * (r->reason says why).  Logs nothing.
 */
int
ctlsock_request(const char *path, const char *command,
    const struct sw_ctl_arg *args, size_t nargs, struct ctl_reply *r)
{
	struct sockaddr_un	 sun;
	struct timespec		 deadline;
	char			 req[CTLSOCK_LINE_MAX + 1];
	char			*buf = NULL;
	size_t			 len, off, size = 0, used = 0;
	ssize_t			 n;
	int			 fd, rc;

	memset(r, 0, sizeof(*r));
	if ((len = ctlsock_line(req, sizeof(req), command, args, nargs,
	    r)) == 0)
		return CTLSOCK_FAIL;

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

/*
 * Parses the payload of a status reply into st (wire_status_free() it);
 * wire.c knows its lines.  Returns 0, or -1 when the payload lacks the
 * version and pid lines.
 */
int
ctlsock_status(const struct ctl_reply *r, struct ctl_status *st)
{
	return wire_status_read(r->lines, r->nlines, st);
}

/*
 * The exit status of a request that did not come back ok, said on
 * standard error: 2 when no daemon answers, 3 otherwise.
 */
static int
ctlsock_failed(int rc, const char *command, const struct ctl_reply *r)
{
	switch (rc) {
	case CTLSOCK_ERROR:
		log_warnx("%s: %s", command, r->reason);
		return 3;
	case CTLSOCK_DOWN:
		log_warnx("smtpwatchd is not running (control socket %s)",
		    r->reason);
		return 2;
	case CTLSOCK_FAIL:
	default:
		log_warnx("%s: control socket %s", command, r->reason);
		return 3;
	}
}

/*
 * reload: the daemon reads its configuration and rules again.  Returns
 * the exit status: 0 ok, 2 when no daemon answers, 3 on an error (said).
 */
int
ctlsock_reload(const char *path)
{
	struct ctl_reply	 r;
	int			 rc;

	if ((rc = ctlsock_request(path, "reload", NULL, 0, &r)) == CTLSOCK_OK)
		printf("smtpwatchd reloaded its configuration and rules\n");
	else
		rc = ctlsock_failed(rc, "reload", &r);
	ctlsock_free(&r);
	return rc;
}

/* "1 account" or "2 accounts", after sep, when n is not 0. */
static void
reset_count(FILE *fp, const char **sep, long long n, const char *one,
    const char *many)
{
	if (n == 0)
		return;
	fprintf(fp, "%s%lld %s", *sep, n, n == 1 ? one : many);
	*sep = ", ";
}

/*
 * What a reset found, in words, from the reply's "reset TAB WHAT TAB N"
 * lines (n in smtpwatchd's order).  Returns 1 when nothing matched.
 */
static int
reset_print(FILE *fp, const char *shown, const char *host,
    const long long n[SW_RS_N], int dry)
{
	const char	*sep = "";
	int		 i, any = 0;

	for (i = 0; i < SW_RS_N; i++)
		any |= n[i] != 0;
	if (!any) {
		fprintf(fp, "reset %s%s%s: nothing matched: no account, "
		    "address, relay or open incident of that name\n", shown,
		    host != NULL ? " on host " : "", host != NULL ? host : "");
		return 1;
	}
	fprintf(fp, "reset %s%s%s: %s ", shown, host != NULL ? " on host " :
	    "", host != NULL ? host : "", dry ? "would delete" : "deleted");
	reset_count(fp, &sep, n[SW_RS_ACCOUNTS], "account", "accounts");
	reset_count(fp, &sep, n[SW_RS_PAIRS], "address of an account",
	    "addresses of accounts");
	reset_count(fp, &sep, n[SW_RS_ADDRS], "client address",
	    "client addresses");
	reset_count(fp, &sep, n[SW_RS_RELAYS], "relay", "relays");
	reset_count(fp, &sep, n[SW_RS_BUCKETS], "time bucket",
	    "time buckets");
	reset_count(fp, &sep, n[SW_RS_FOLDS], "row of a folded network",
	    "rows of folded networks");
	if (*sep == '\0')
		fputs("no rows", fp);
	if (n[SW_RS_INCIDENTS] > 0)
		fprintf(fp, "; %s %lld open incident%s", dry ? "would close" :
		    "closed", n[SW_RS_INCIDENTS],
		    n[SW_RS_INCIDENTS] == 1 ? "" : "s");
	fprintf(fp, "%s\n", dry ? " (--dry-run: nothing changed)" : "");
	return 0;
}

/* The counts of a reset reply into n; -1 when a line is missing. */
static int
reset_parse(const struct ctl_reply *r, long long n[SW_RS_N], int *dry)
{
	static const char *const what[SW_RS_N] = { "addresses-of-accounts",
	    "accounts", "addresses", "relays", "buckets", "incidents", "folds" };
	char		 name[32];
	long long	 v;
	size_t		 i;
	int		 j, seen = 0;

	*dry = -1;
	for (i = 0; i < r->nlines; i++) {
		if (sscanf(r->lines[i], "reset\t%31[a-z-]\t%lld", name,
		    &v) != 2)
			continue;
		if (strcmp(name, "dry-run") == 0)
			*dry = v != 0;
		for (j = 0; j < SW_RS_N; j++)
			if (strcmp(name, what[j]) == 0) {
				n[j] = v;
				seen |= 1 << j;
			}
	}
	return seen == (1 << SW_RS_N) - 1 && *dry != -1 ? 0 : -1;
}

/*
 * reset SUBJECT (written as the listings print it: \xNN a byte, \\ a
 * backslash, UTF-8 as it is) on host (NULL: every host), or with dry
 * only what it would do.  Says what was deleted in words.  Returns the
 * exit status: 0, 1 when nothing matched, 2 when no daemon answers, 3
 * on an error (said on standard error).
 */
int
ctlsock_reset(const char *path, const char *subject, const char *host,
    int dry)
{
	struct sw_ctl_arg	 a[3];
	struct ctl_reply	 r;
	long long		 n[SW_RS_N];
	char			*subj, *hostarg = NULL, *shown;
	size_t			 len, na = 1;
	int			 rc, rdry;

	subj = str_unvis(subject, strlen(subject), &len);
	a[0].p = subj;
	a[0].len = len;
	if (host != NULL) {
		hostarg = xmalloc(strlen(host) + 6);
		snprintf(hostarg, strlen(host) + 6, "host=%s", host);
		a[na].p = hostarg;
		a[na++].len = strlen(hostarg);
	}
	if (dry) {
		a[na].p = "dry-run";
		a[na++].len = 7;
	}
	rc = ctlsock_request(path, "reset", a, na, &r);
	shown = xmalloc(len * 4 + 1);
	str_vis(shown, len * 4 + 1, subj, len);
	if (rc != CTLSOCK_OK)
		rc = ctlsock_failed(rc, "reset", &r);
	else if (reset_parse(&r, n, &rdry) == -1) {
		log_warnx("reset: the daemon's reply is not understood");
		rc = 3;
	} else
		rc = reset_print(stdout, shown, host, n, rdry);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("stdout");
		rc = 3;
	}
	ctlsock_free(&r);
	free(shown);
	free(hostarg);
	free(subj);
	return rc;
}
