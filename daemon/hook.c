/*
 * hook.c -- the program run on each alert (alert-exec), the way smartd
 * runs `-M exec` and ZFS's event daemon its zedlets: once per journal
 * entry, after the entry is written, with the entry's fields in its
 * environment (SMTPWATCH_KIND, SMTPWATCH_RELAY, SMTPWATCH_ACCOUNT ...,
 * MESSAGE as SMTPWATCH_MESSAGE), never through a shell.  Values that a
 * client typed are escaped as everywhere else (str_vis: UTF-8 kept,
 * control bytes as \xNN).  At most alert-exec-max programs run at once,
 * the others wait in a bounded queue; one that runs past
 * alert-exec-timeout gets SIGTERM, and SIGKILL 5 s later, with its
 * process group.  Its exit status and what it wrote (the first 2 KB) are
 * logged; the daemon never waits for it.  A program that fails loses
 * nothing: the journal entry stands.  The entries a crash kept from being
 * written are written at the next start without the program (outbox.c's
 * loaded ones): it may have run for them already, and runs at most once.
 * It does not run for address-hostile entries: those are for a
 * firewall (fail2ban reads them from the journal), not for a person.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "smtpwatch.h"

#define HOOK_QUEUE	256		/* alerts waiting for a slot */
#define HOOK_OUT	2048		/* output kept per run */
#define HOOK_VALUE	4096		/* an environment value, escaped */
#define HOOK_ENV	80		/* environment entries */
#define HOOK_KILL	5.0		/* seconds from SIGTERM to SIGKILL */

struct hook_job {
	char		**env;		/* NULL-terminated, owned */
	char		 *kind;		/* for the messages */
};

struct hook_run {
	struct sw_hook	*h;
	pid_t		 pid;
	int		 fd;		/* its stdout and stderr, or -1 */
	int		 status;	/* waitpid's, once it exited */
	int		 exited, killed;
	char		*kind;
	char		 out[HOOK_OUT];
	size_t		 outlen, lost;
	ev_child	 child_w;
	ev_io		 io_w;
	ev_timer	 time_w;
};

struct sw_hook {
	struct ev_loop	*loop;
	char		**argv;		/* NULL: no alert-exec */
	double		 timeout;
	size_t		 max;
	struct hook_job	 q[HOOK_QUEUE];
	size_t		 qhead, qlen;
	struct hook_run	**run;
	size_t		 nrun;
	unsigned long long dropped, dropped_said;
	time_t		 said;		/* the last "dropped" message */
};

static void	hook_next(struct sw_hook *);

static void
hook_argv_free(char **v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Takes the configuration's alert-exec (argv NULL: none) for what comes. */
void
hook_configure(struct sw_hook *h, const struct sw_conf *c)
{
	size_t	 i;

	hook_argv_free(h->argv);
	h->argv = NULL;
	if (c->alert_exec != NULL) {
		h->argv = xcalloc(c->nalert_exec + 1, sizeof(*h->argv));
		for (i = 0; i < c->nalert_exec; i++)
			h->argv[i] = xstrdup(c->alert_exec[i]);
	}
	h->timeout = c->alert_exec_ms / 1000.0;
	h->max = c->alert_exec_max;
}

struct sw_hook *
hook_new(struct ev_loop *loop, const struct sw_conf *c)
{
	struct sw_hook	*h;

	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	hook_configure(h, c);
	return h;
}

static void
hook_job_clear(struct hook_job *j)
{
	hook_argv_free(j->env);
	free(j->kind);
	j->env = NULL;
	j->kind = NULL;
}

/* prefix, the n bytes of name, '=', value: allocated. */
static char *
hook_join(const char *prefix, const char *name, size_t n, const char *value)
{
	size_t	 p = strlen(prefix), v = strlen(value);
	char	*s;

	s = xmalloc(p + n + 1 + v + 1);
	memcpy(s, prefix, p);
	memcpy(s + p, name, n);
	s[p + n] = '=';
	memcpy(s + p + n + 1, value, v + 1);
	return s;
}

/* 1 when s holds no control byte (and no NUL). */
static int
hook_printable(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * "NAME=value", or NULL when the field is not passed.  Every value but
 * MESSAGE (escaped when it was built) is escaped here: the journal's
 * fields carry a client's bytes as they are.
 */
static char *
hook_var(const char *field, size_t len, char **kind)
{
	static char	 v[HOOK_VALUE];
	const char	*eq = memchr(field, '=', len);
	const char	*prefix = "";
	size_t		 nlen;

	if (eq == NULL)
		return NULL;
	nlen = (size_t)(eq - field);
	if ((nlen == 7 && memcmp(field, "MESSAGE", 7) == 0) ||
	    (nlen == 10 && memcmp(field, "MESSAGE_ID", 10) == 0) ||
	    (nlen == 8 && memcmp(field, "PRIORITY", 8) == 0))
		prefix = "SMTPWATCH_";
	else if (nlen <= 10 || memcmp(field, "SMTPWATCH_", 10) != 0)
		return NULL;	/* the journal's own fields: not passed */
	if (nlen == 7 && hook_printable(eq + 1, len - nlen - 1)) {
		/* MESSAGE: made of escaped parts already (alert.c) */
		snprintf(v, sizeof(v), "%.*s", (int)(len - nlen - 1), eq + 1);
	} else
		str_vis(v, sizeof(v), eq + 1, len - nlen - 1);
	if (nlen == 14 && memcmp(field, "SMTPWATCH_KIND", 14) == 0 &&
	    *kind == NULL)
		*kind = xstrdup(v);
	return hook_join(prefix, field, nlen, v);
}

/* 1 when the entry is an address-hostile one (for a firewall). */
static int
hook_hostile(const struct iovec *iov, size_t n)
{
	static const char	 k[] = "SMTPWATCH_KIND=address-hostile";
	size_t			 i;

	for (i = 0; i < n; i++)
		if (iov[i].iov_len == sizeof(k) - 1 &&
		    memcmp(iov[i].iov_base, k, sizeof(k) - 1) == 0)
			return 1;
	return 0;
}

/*
 * One written entry (its fields, NAME=value each): the program runs for
 * it now, or when a slot is free; when HOOK_QUEUE wait already, it is
 * dropped, counted and said (once a minute).
 */
void
hook_alert(struct sw_hook *h, const struct iovec *iov, size_t n)
{
	struct hook_job	*j;
	size_t		 i, k = 0;
	char		*v;
	time_t		 now;

	if (h == NULL || h->argv == NULL || hook_hostile(iov, n))
		return;
	if (h->qlen == HOOK_QUEUE) {
		h->dropped++;
		now = time(NULL);
		if (now - h->said >= 60) {
			log_warnx("alert-exec: %llu alerts not passed to %s: "
			    "%d already wait (the journal has them)",
			    h->dropped - h->dropped_said, h->argv[0],
			    HOOK_QUEUE);
			h->said = now;
			h->dropped_said = h->dropped;
		}
		return;
	}
	j = &h->q[(h->qhead + h->qlen++) % HOOK_QUEUE];
	j->env = xcalloc(HOOK_ENV + 3, sizeof(*j->env));
	j->env[k++] = xstrdup("PATH=/usr/local/sbin:/usr/local/bin:"
	    "/usr/sbin:/usr/bin:/sbin:/bin");
	j->env[k++] = xstrdup("LC_ALL=C.UTF-8");
	for (i = 0; i < n && k < HOOK_ENV + 2; i++)
		if ((v = hook_var(iov[i].iov_base, iov[i].iov_len,
		    &j->kind)) != NULL)
			j->env[k++] = v;
	if (j->kind == NULL)
		j->kind = xstrdup("alert");
	hook_next(h);
}

/* Logs how a run ended, frees it and starts the next job. */
static void
hook_done(struct hook_run *r)
{
	struct sw_hook	*h = r->h;
	size_t		 i;
	int		 code = -1;
	char		 out[4 * HOOK_OUT + 1];
	const char	*sep = r->outlen > 0 ? ": " : "";
	const char	*prog = h->argv != NULL ? h->argv[0] : "the program";

	while (r->outlen > 0 && (r->out[r->outlen - 1] == '\n' ||
	    r->out[r->outlen - 1] == ' '))
		r->outlen--;
	str_vis(out, sizeof(out), r->out, r->outlen);
	if (WIFEXITED(r->status))
		code = WEXITSTATUS(r->status);
	if (r->killed)
		log_warnx("alert-exec: %s (%s alert): killed after %.0f s%s%s",
		    prog, r->kind, h->timeout, sep, out);
	else if (code != 0)
		log_warnx("alert-exec: %s (%s alert): %s %d%s%s%s", prog,
		    r->kind, code >= 0 ? "exit" : "signal",
		    code >= 0 ? code : WTERMSIG(r->status), sep, out,
		    r->lost > 0 ? " [output cut]" : "");
	else
		log_info("alert-exec: %s (%s alert): done%s%s", prog, r->kind,
		    sep, out);
	for (i = 0; i < h->nrun; i++)
		if (h->run[i] == r) {
			h->run[i] = h->run[--h->nrun];
			break;
		}
	free(r->kind);
	free(r);
	hook_next(h);
}

/* Done when the program has exited and its output is read to the end. */
static void
hook_check(struct hook_run *r)
{
	if (r->exited && r->fd == -1) {
		ev_timer_stop(r->h->loop, &r->time_w);
		hook_done(r);
	}
}

static void
hook_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hook_run	*r = w->data;
	char		 buf[4096];
	ssize_t		 n;
	size_t		 k;

	(void)revents;
	if ((n = read(r->fd, buf, sizeof(buf))) == -1 &&
	    (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		k = (size_t)n < HOOK_OUT - r->outlen ? (size_t)n :
		    HOOK_OUT - r->outlen;
		memcpy(r->out + r->outlen, buf, k);
		r->outlen += k;
		r->lost += (size_t)n - k;
		return;
	}
	ev_io_stop(loop, w);
	close(r->fd);
	r->fd = -1;
	hook_check(r);
}

static void
hook_exited(struct ev_loop *loop, ev_child *w, int revents)
{
	struct hook_run	*r = w->data;

	(void)revents;
	ev_child_stop(loop, w);
	r->status = w->rstatus;
	r->exited = 1;
	hook_check(r);
}

/* Past the timeout: SIGTERM to its group, then SIGKILL. */
static void
hook_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hook_run	*r = w->data;

	(void)revents;
	if (r->exited) {	/* a child of it holds the output open */
		if (r->fd != -1) {
			ev_io_stop(loop, &r->io_w);
			close(r->fd);
			r->fd = -1;
		}
		hook_check(r);
		return;
	}
	(void)kill(-r->pid, r->killed ? SIGKILL : SIGTERM);
	r->killed = 1;
	ev_timer_set(w, HOOK_KILL, 0.);
	ev_timer_start(loop, w);
}

/* Spawns the program for job j: its own process group, no descriptor
 * of the daemon's but /dev/null and the output pipe. */
static int
hook_spawn(struct sw_hook *h, struct hook_job *j, pid_t *pid, int *fd)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 none, all;
	int				 p[2], rc;

	if (pipe2(p, O_CLOEXEC) == -1)
		return errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(pid, h->argv[0], &fa, &at, h->argv, j->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		return rc;
	}
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	*fd = p[0];
	return 0;
}

/* Starts waiting jobs while slots are free. */
static void
hook_next(struct sw_hook *h)
{
	struct hook_job	*j;
	struct hook_run	*r;
	pid_t		 pid;
	int		 fd, rc;

	while (h->qlen > 0 && h->nrun < h->max && h->argv != NULL) {
		j = &h->q[h->qhead];
		h->qhead = (h->qhead + 1) % HOOK_QUEUE;
		h->qlen--;
		if ((rc = hook_spawn(h, j, &pid, &fd)) != 0) {
			log_warnx("alert-exec: %s (%s alert): %s", h->argv[0],
			    j->kind, strerror(rc));
			hook_job_clear(j);
			continue;
		}
		r = xcalloc(1, sizeof(*r));
		r->h = h;
		r->pid = pid;
		r->fd = fd;
		r->kind = j->kind;
		j->kind = NULL;
		hook_job_clear(j);
		ev_child_init(&r->child_w, hook_exited, pid, 0);
		ev_io_init(&r->io_w, hook_read, fd, EV_READ);
		ev_timer_init(&r->time_w, hook_timeout, h->timeout, 0.);
		r->child_w.data = r->io_w.data = r->time_w.data = r;
		ev_child_start(h->loop, &r->child_w);
		ev_io_start(h->loop, &r->io_w);
		ev_timer_start(h->loop, &r->time_w);
		h->run = xreallocarray(h->run, h->nrun + 1, sizeof(*h->run));
		h->run[h->nrun++] = r;
	}
}

/*
 * The daemon stops: the programs still running get SIGTERM (they are
 * not waited for), the waiting alerts are dropped (the journal has
 * them).
 */
void
hook_free(struct sw_hook *h)
{
	struct hook_run	*r;
	size_t		 i;

	if (h == NULL)
		return;
	for (i = 0; i < h->nrun; i++) {
		r = h->run[i];
		(void)kill(-r->pid, SIGTERM);
		ev_child_stop(h->loop, &r->child_w);
		ev_timer_stop(h->loop, &r->time_w);
		if (r->fd != -1) {
			ev_io_stop(h->loop, &r->io_w);
			close(r->fd);
		}
		free(r->kind);
		free(r);
	}
	if (h->nrun > 0 || h->qlen > 0)
		log_info("alert-exec: stopping: %zu programs sent SIGTERM, "
		    "%zu alerts not passed on", h->nrun, h->qlen);
	while (h->qlen > 0) {
		hook_job_clear(&h->q[h->qhead]);
		h->qhead = (h->qhead + 1) % HOOK_QUEUE;
		h->qlen--;
	}
	free(h->run);
	hook_argv_free(h->argv);
	free(h);
}
