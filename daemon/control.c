/*
 * control.c -- the control socket: a Unix stream socket smtpwatchctl
 * talks to.  One request per connection, one line
 * "1 COMMAND[ ARG[<TAB>ARG ...]]\n" of at most CTL_LINE_MAX bytes; the
 * reply is payload lines and a last line "ok" or "error: REASON", then
 * the daemon closes the connection.  Each ARG comes escaped as
 * str_vis() writes (\\ and \xNN; so never a raw tab) and is decoded
 * here.  Who may do what is decided from the peer's credentials
 * (SO_PEERCRED): reading for root, the daemon's user and its group;
 * changes for root and the daemon's user.
 *
 * A client never stalls the loop: sockets are non-blocking, at most
 * CTL_CLIENTS are served at once, and one that sends no complete line,
 * or does not read its reply, within CTL_TIMEOUT seconds is dropped.
 * No peer can keep the others out by holding connections (ctl_admit):
 * peers other than root and the daemon's user take at most CTL_CLIENTS
 * - CTL_KEPT of them, so root's status is always answered; and when the
 * slots a peer may take are taken, the oldest idle connection of the
 * uid holding the most is dropped for it, if that uid holds more than
 * the peer's own; else the peer is told it is busy.  The commands
 * themselves are smtpwatchd.c's: it hands a table of them to
 * control_open().
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "smtpwatch.h"

#define CTL_LINE_MAX	1024	/* a request, its newline included */
#define CTL_CLIENTS	16	/* served at once */
#define CTL_KEPT	1	/* of them kept for root and our user */
#define CTL_TIMEOUT	5.0	/* seconds to send a line, to read a reply */
#define CTL_BACKLOG	32
#define CTL_MODE	0660

struct ctl_client {
	struct sw_control	*ctl;
	struct ctl_client	*prev, *next;
	int			 fd;
	ev_io			 io_w;
	ev_timer		 time_w;
	uid_t			 uid;		/* the peer's, from SO_PEERCRED */
	gid_t			 gid;
	pid_t			 pid;
	int			 member;	/* in the daemon's group */
	int			 privileged;	/* root or the daemon's user */
	unsigned long long	 seq;		/* accepted as the seq-th */
	char			 in[CTL_LINE_MAX];
	size_t			 inlen;
	char			*out;		/* the reply, being written */
	size_t			 outlen, outoff;
};

struct sw_control {
	struct ev_loop		*loop;
	char			*path;
	int			 fd;
	dev_t			 dev;		/* the socket file we made */
	ino_t			 ino;
	ev_io			 accept_w;
	const struct sw_ctl_cmd	*cmds;
	size_t			 ncmds;
	void			*arg;
	struct ctl_client	*clients;
	size_t			 nclients;
	size_t			 nothers;	/* clients not privileged */
	unsigned long long	 seq;		/* clients accepted so far */
};

static void	ctl_read_cb(struct ev_loop *, ev_io *, int);
static void	ctl_write_cb(struct ev_loop *, ev_io *, int);
static void	ctl_timeout_cb(struct ev_loop *, ev_timer *, int);

/* The address of path; -1 when it does not fit. */
static int
ctl_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -1;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/*
 * Is a daemon listening at path?  1: yes (or it cannot be told: the
 * file is not a socket), 0: a stale socket or nothing there, -1 on an
 * error, logged.
 */
static int
ctl_live(const char *path, const struct sockaddr_un *sun)
{
	struct stat	 sb;
	int		 fd, rc;

	if (lstat(path, &sb) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("control socket %s", path);
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		log_warnx("control socket %s: exists and is not a socket",
		    path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("control socket %s: socket", path);
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (rc == -1 && (errno == ECONNREFUSED || errno == ENOENT))
		rc = 0;			/* nobody listens: stale */
	else if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS)
		rc = 1;			/* a backlog that is full is live */
	else {
		log_warn("control socket %s: connect", path);
		rc = -1;
	}
	close(fd);
	return rc;
}

/*
 * Binds and listens at path, mode CTL_MODE.  Returns the descriptor,
 * or -1 after logging why; -2 when the directory is missing.
 */
static int
ctl_bind(struct sw_control *ctl, const struct sockaddr_un *sun)
{
	struct stat	 sb;
	mode_t		 old;
	int		 fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("control socket %s: socket", ctl->path);
		return -1;
	}
	old = umask(0777 & ~CTL_MODE);
	rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	umask(old);
	if (rc == -1) {
		rc = errno == ENOENT ? -2 : -1;
		if (rc == -2)
			log_warnx("control socket %s: no such directory: "
			    "running without a control socket", ctl->path);
		else
			log_warn("control socket %s: bind", ctl->path);
		close(fd);
		return rc;
	}
	if (chmod(ctl->path, CTL_MODE) == -1 || lstat(ctl->path, &sb) == -1 ||
	    listen(fd, CTL_BACKLOG) == -1) {
		log_warn("control socket %s", ctl->path);
		(void)unlink(ctl->path);
		close(fd);
		return -1;
	}
	ctl->dev = sb.st_dev;
	ctl->ino = sb.st_ino;
	return fd;
}

/* ------------------------------------------------------------ clients */

/*
 * Closes fd.  Input left unread would make the peer's read after our
 * reply fail (ECONNRESET) instead of ending: a little is dropped first.
 */
static void
ctl_fd_close(int fd)
{
	char	 buf[CTL_LINE_MAX];
	int	 i;

	for (i = 0; i < 8 && read(fd, buf, sizeof(buf)) > 0; i++)
		continue;
	close(fd);
}

static void
ctl_client_close(struct ctl_client *c)
{
	struct sw_control	*ctl = c->ctl;

	ev_io_stop(ctl->loop, &c->io_w);
	ev_timer_stop(ctl->loop, &c->time_w);
	ctl_fd_close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ctl->nclients--;
	if (!c->privileged)
		ctl->nothers--;
	free(c->out);
	free(c);
}

/* Writes what it can of the reply; closes the client once it is out. */
static void
ctl_flush(struct ctl_client *c)
{
	ssize_t	 n;

	while (c->outoff < c->outlen) {
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;		/* ctl_write_cb() goes on */
		if (n <= 0) {
			log_debug("control: pid %ld: write: %s", (long)c->pid,
			    n == -1 ? strerror(errno) : "nothing written");
			break;
		}
		c->outoff += (size_t)n;
	}
	ctl_client_close(c);
}

/* Sends the reply out (payload, then the last line) and closes. */
static void
ctl_reply(struct ctl_client *c, const char *payload, size_t len,
    const char *err)
{
	struct sw_control	*ctl = c->ctl;
	size_t			 tail;

	tail = err == NULL ? 3 : strlen("error: ") + strlen(err) + 1;
	c->out = xmalloc(len + tail + 1);
	memcpy(c->out, payload, len);
	if (err == NULL)
		snprintf(c->out + len, tail + 1, "ok\n");
	else
		snprintf(c->out + len, tail + 1, "error: %s\n", err);
	c->outlen = len + tail;
	c->outoff = 0;
	ev_io_stop(ctl->loop, &c->io_w);
	ev_io_init(&c->io_w, ctl_write_cb, c->fd, EV_WRITE);
	c->io_w.data = c;
	ev_io_start(ctl->loop, &c->io_w);
	ev_timer_stop(ctl->loop, &c->time_w);
	ev_timer_set(&c->time_w, CTL_TIMEOUT, 0.);
	ev_timer_start(ctl->loop, &c->time_w);
	ctl_flush(c);
}

/* 1 when uid is a member of group gid by the group file. */
static int
ctl_listed(uid_t uid, gid_t gid)
{
	struct passwd	*pw;
	struct group	*gr;
	char		**m;

	if ((pw = getpwuid(uid)) == NULL || (gr = getgrgid(gid)) == NULL)
		return 0;
	for (m = gr->gr_mem; m != NULL && *m != NULL; m++)
		if (strcmp(*m, pw->pw_name) == 0)
			return 1;
	return 0;
}

/*
 * 1 when the peer on fd is in the daemon's group: its primary group, one
 * of the supplementary groups it runs with (SO_PEERGROUPS, Linux 4.13),
 * or, where the kernel cannot tell, a member by the group file.
 */
static int
ctl_member(int fd, uid_t uid, gid_t gid)
{
	gid_t		 groups[256];
	socklen_t	 len = sizeof(groups);
	size_t		 i;

	if (gid == getegid())
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		for (i = 0; i < len / sizeof(groups[0]); i++)
			if (groups[i] == getegid())
				return 1;
		return 0;
	}
	return ctl_listed(uid, getegid());
}

/* 1 when the peer may run cmd. */
static int
ctl_allowed(const struct ctl_client *c, const struct sw_ctl_cmd *cmd)
{
	if (c->uid == 0 || c->uid == geteuid())
		return 1;
	if (cmd->change)
		return 0;
	return c->member;
}

static int
ctl_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Decodes str_vis()'s escapes of s (len bytes) in place: \\ and \xNN.
 * Returns the decoded length, or -1 on a broken escape.
 */
static ssize_t
ctl_unvis(char *s, size_t len)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] != '\\') {
			s[o++] = s[i];
			continue;
		}
		if (i + 1 < len && s[i + 1] == '\\') {
			s[o++] = '\\';
			i++;
		} else if (i + 3 < len && s[i + 1] == 'x' &&
		    (hi = ctl_hex((unsigned char)s[i + 2])) != -1 &&
		    (lo = ctl_hex((unsigned char)s[i + 3])) != -1) {
			s[o++] = (char)(hi << 4 | lo);
			i += 3;
		} else
			return -1;
	}
	return (ssize_t)o;
}

/*
 * Runs one command through the daemon's table; the payload it writes
 * goes out before the last line.
 */
static void
ctl_run(struct ctl_client *c, const struct sw_ctl_cmd *cmd,
    const struct sw_ctl_arg *args, size_t nargs)
{
	char	 err[256];
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;
	int	 rc;

	if ((fp = open_memstream(&buf, &len)) == NULL) {
		log_warn("control: open_memstream");
		ctl_reply(c, "", 0, "out of memory");
		return;
	}
	err[0] = '\0';
	rc = cmd->fn(c->ctl->arg, args, nargs, fp, err, sizeof(err));
	if (fclose(fp) != 0) {
		log_warn("control: %s: the reply", cmd->name);
		rc = -1;
		snprintf(err, sizeof(err), "out of memory");
	}
	if (rc == -1 && err[0] == '\0')
		snprintf(err, sizeof(err), "%s failed", cmd->name);
	ctl_reply(c, rc == -1 ? "" : buf, rc == -1 ? 0 : len,
	    rc == -1 ? err : NULL);
	free(buf);
}

/*
 * The arguments of a request, s (len bytes, after the command's name
 * and its space): tab-separated, each decoded in place into args.
 * Returns the reason they are refused, or NULL.
 */
static const char *
ctl_args(char *s, size_t len, size_t max, struct sw_ctl_arg *args,
    size_t *nargs)
{
	char	*tab;
	size_t	 flen;
	ssize_t	 n;

	for (;;) {
		if (*nargs == max)
			return "too many arguments";
		tab = memchr(s, '\t', len);
		flen = tab != NULL ? (size_t)(tab - s) : len;
		if ((n = ctl_unvis(s, flen)) == -1)
			return "malformed request";
		args[*nargs].p = s;
		args[*nargs].len = (size_t)n;
		(*nargs)++;
		if (tab == NULL)
			return NULL;
		len -= flen + 1;
		s = tab + 1;
	}
}

/*
 * Parses one request line (len bytes, without its newline, decoded in
 * place): "1 NAME[ SP ARG[ TAB ARG ...]]", each ARG in str_vis() form.
 * Returns NULL and sets *cmd and its arguments (args, SW_CTL_ARGS of
 * them at most; *nargs), or the reason the request is refused.  Every
 * byte comes from the client.
 */
const char *
control_parse(char *line, size_t len, const struct sw_ctl_cmd *cmds,
    size_t ncmds, const struct sw_ctl_cmd **cmd, struct sw_ctl_arg *args,
    size_t *nargs)
{
	char		*sp, *name, *arg = NULL;
	size_t		 i, vlen, nlen, alen = 0;

	*cmd = NULL;
	*nargs = 0;
	for (vlen = 0; vlen < len && line[vlen] >= '0' && line[vlen] <= '9';
	    vlen++)
		continue;
	if (vlen == 0 || vlen + 1 >= len || line[vlen] != ' ')
		return "malformed request";
	if (vlen != 1 || line[0] != '1')
		return "unsupported protocol version";
	name = line + vlen + 1;
	nlen = len - vlen - 1;
	if ((sp = memchr(name, ' ', nlen)) != NULL) {
		arg = sp + 1;
		alen = nlen - (size_t)(arg - name);
		nlen = (size_t)(sp - name);
	}
	for (i = 0; i < ncmds; i++)
		if (strlen(cmds[i].name) == nlen &&
		    memcmp(cmds[i].name, name, nlen) == 0)
			*cmd = &cmds[i];
	if (*cmd == NULL)
		return "unknown command";
	if (arg == NULL)
		return NULL;
	if ((*cmd)->args == 0)
		return "malformed request";
	return ctl_args(arg, alen, (*cmd)->args < SW_CTL_ARGS ?
	    (size_t)(*cmd)->args : SW_CTL_ARGS, args, nargs);
}

/* One request line (without its newline): check, find, run. */
static void
ctl_request(struct ctl_client *c, char *line, size_t len)
{
	const struct sw_ctl_cmd	*cmd;
	struct sw_ctl_arg	 args[SW_CTL_ARGS];
	const char		*err;
	size_t			 nargs;

	err = control_parse(line, len, c->ctl->cmds, c->ctl->ncmds, &cmd,
	    args, &nargs);
	if (cmd != NULL && !ctl_allowed(c, cmd)) {	/* before its arg */
		log_info("control: %s refused to uid %lu (pid %ld)", cmd->name,
		    (unsigned long)c->uid, (long)c->pid);
		ctl_reply(c, "", 0, "permission denied");
		return;
	}
	if (err != NULL) {
		ctl_reply(c, "", 0, err);
		return;
	}
	log_debug("control: %s from uid %lu (pid %ld)", cmd->name,
	    (unsigned long)c->uid, (long)c->pid);
	ctl_run(c, cmd, args, nargs);
}

static void
ctl_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client	*c = w->data;
	char			*nl;
	ssize_t			 n;

	(void)loop;
	(void)revents;
	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n == -1) {
		log_debug("control: pid %ld: read: %s", (long)c->pid,
		    strerror(errno));
		ctl_client_close(c);
		return;
	}
	if (n == 0) {			/* the end, without a newline */
		if (c->inlen == 0)
			ctl_client_close(c);
		else
			ctl_reply(c, "", 0, "malformed request");
		return;
	}
	c->inlen += (size_t)n;
	if ((nl = memchr(c->in, '\n', c->inlen)) != NULL)
		ctl_request(c, c->in, (size_t)(nl - c->in));
	else if (c->inlen == sizeof(c->in))
		ctl_reply(c, "", 0, "request too long");
}

static void
ctl_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	ctl_flush(w->data);
}

static void
ctl_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl_client	*c = w->data;

	(void)loop;
	(void)revents;
	log_debug("control: pid %ld: no %s in %gs: dropped", (long)c->pid,
	    c->out == NULL ? "request" : "read of the reply", CTL_TIMEOUT);
	ctl_client_close(c);
}

/* Says "error: busy" on fd, a client's or one not taken. */
static void
ctl_busy(int fd)
{
	static const char	 busy[] = "error: busy\n";

	if (write(fd, busy, sizeof(busy) - 1) == -1)
		log_debug("control: busy: %s", strerror(errno));
}

/* The connections uid holds. */
static size_t
ctl_held(const struct sw_control *ctl, uid_t uid)
{
	const struct ctl_client	*c;
	size_t			 n = 0;

	for (c = ctl->clients; c != NULL; c = c->next)
		n += c->uid == uid;
	return n;
}

/*
 * Whether a peer of uid may take a slot (privileged: root or our user).
 * While the slots it may take are not all taken, yes; else the oldest
 * idle connection (no reply being written) of the uid holding the most
 * is dropped, told it is busy, when that uid holds more than uid does.
 * Returns 1 when a slot is free for the peer, 0 when it is busy.
 */
static int
ctl_admit(struct sw_control *ctl, uid_t uid, int privileged)
{
	struct ctl_client	*c, *victim = NULL;
	size_t			 n, most = 0;

	if (ctl->nclients < CTL_CLIENTS &&
	    (privileged || ctl->nothers < CTL_CLIENTS - CTL_KEPT))
		return 1;
	for (c = ctl->clients; c != NULL; c = c->next) {
		if (c->out != NULL)
			continue;
		n = ctl_held(ctl, c->uid);
		if (n > most || (n == most && c->seq < victim->seq)) {
			most = n;
			victim = c;
		}
	}
	if (victim == NULL || most <= ctl_held(ctl, uid))
		return 0;
	log_debug("control: uid %lu holds %zu connections: its oldest idle "
	    "one (pid %ld) makes room for uid %lu", (unsigned long)victim->uid,
	    most, (long)victim->pid, (unsigned long)uid);
	ctl_busy(victim->fd);
	ctl_client_close(victim);
	return 1;
}

/* One more client, if ctl_admit() finds it room; else it is busy. */
static void
ctl_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sw_control	*ctl = w->data;
	struct ctl_client	*c;
	struct ucred		 cred;
	socklen_t		 len = sizeof(cred);
	int			 fd, privileged;

	(void)revents;
	if ((fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED)
			log_warn("control socket %s: accept", ctl->path);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control socket %s: SO_PEERCRED", ctl->path);
		close(fd);
		return;
	}
	privileged = cred.uid == 0 || cred.uid == geteuid();
	if (!ctl_admit(ctl, cred.uid, privileged)) {
		ctl_busy(fd);
		ctl_fd_close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	c->fd = fd;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->privileged = privileged;
	c->seq = ctl->seq++;
	c->member = ctl_member(fd, cred.uid, cred.gid);
	ev_io_init(&c->io_w, ctl_read_cb, fd, EV_READ);
	ev_timer_init(&c->time_w, ctl_timeout_cb, CTL_TIMEOUT, 0.);
	c->io_w.data = c->time_w.data = c;
	ev_io_start(loop, &c->io_w);
	ev_timer_start(loop, &c->time_w);
	c->next = ctl->clients;
	if (c->next != NULL)
		c->next->prev = c;
	ctl->clients = c;
	ctl->nclients++;
	if (!privileged)
		ctl->nothers++;
}

/* ------------------------------------------------------------- socket */

/*
 * Listens at path, answering the ncmds commands of cmds (which must
 * outlive the socket) with arg.  A socket left at path by a daemon that
 * is gone is replaced; one a live daemon listens on is not.  Returns 0
 * with *out set (NULL when the directory is missing: a warning, and no
 * control socket), or -1 after logging why: the daemon exits.
 */
int
control_open(const char *path, struct ev_loop *loop,
    const struct sw_ctl_cmd *cmds, size_t ncmds, void *arg,
    struct sw_control **out)
{
	struct sw_control	*ctl;
	struct sockaddr_un	 sun;
	int			 rc;

	*out = NULL;
	if (ctl_addr(path, &sun) == -1) {
		log_warnx("control socket %s: the path is too long", path);
		return -1;
	}
	if ((rc = ctl_live(path, &sun)) == 1) {
		log_warnx("control socket %s: another smtpwatchd is running",
		    path);
		return -1;
	}
	if (rc == -1)
		return -1;
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("control socket %s: unlink", path);
		return -1;
	}
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->loop = loop;
	ctl->path = xstrdup(path);
	ctl->cmds = cmds;
	ctl->ncmds = ncmds;
	ctl->arg = arg;
	if ((ctl->fd = ctl_bind(ctl, &sun)) < 0) {
		rc = ctl->fd == -2 ? 0 : -1;
		free(ctl->path);
		free(ctl);
		return rc;
	}
	ev_io_init(&ctl->accept_w, ctl_accept_cb, ctl->fd, EV_READ);
	ctl->accept_w.data = ctl;
	ev_io_start(loop, &ctl->accept_w);
	log_debug("control socket %s: listening", path);
	*out = ctl;
	return 0;
}

/* The path listened at, NULL when none. */
const char *
control_path(const struct sw_control *ctl)
{
	return ctl != NULL ? ctl->path : NULL;
}

/*
 * Drops every client, stops listening and removes the socket file when
 * it is still the one made here.  NULL is a no-op.
 */
void
control_close(struct sw_control *ctl)
{
	struct stat	 sb;

	if (ctl == NULL)
		return;
	while (ctl->clients != NULL)
		ctl_client_close(ctl->clients);
	ev_io_stop(ctl->loop, &ctl->accept_w);
	close(ctl->fd);
	if (lstat(ctl->path, &sb) == 0 && sb.st_dev == ctl->dev &&
	    sb.st_ino == ctl->ino && unlink(ctl->path) == -1)
		log_warn("control socket %s: unlink", ctl->path);
	free(ctl->path);
	free(ctl);
}
