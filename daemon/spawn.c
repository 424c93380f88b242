/*
 * spawn.c -- run one of the MTA's own tools (postconf, postmap, exim)
 * and take what it writes on its standard output.  The program is
 * started with posix_spawn(3), never through a shell, with its
 * arguments as given; its standard input is /dev/null, its standard
 * error ours.  A program that runs past the deadline is killed.  What
 * it writes may be a secret (postmap -q prints the password): the
 * buffer is wiped before it is freed.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpwatch.h"

extern char	**environ;

#define SPAWN_OUT_MAX	(4 * 1024 * 1024)	/* postconf -n is far less */

static char	*spawn_grow(char *, size_t, size_t);

/* Milliseconds on the monotonic clock. */
static long long
spawn_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts argv with its output on a pipe; *fd is the reading end. */
static int
spawn_start(const char *const argv[], pid_t *pid, int *fd)
{
	posix_spawn_file_actions_t	 fa;
	char				**v = NULL;
	size_t				 n = 0;
	int				 p[2], rc;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("pipe");
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	while (argv[n] != NULL)		/* a copy, as char *const [] */
		strv_push(&v, &n, argv[n]);
	strv_push(&v, &n, "");		/* room for the NULL at the end */
	free(v[--n]);
	v[n] = NULL;
	rc = posix_spawnp(pid, v[0], &fa, NULL, v, environ);
	strv_free(v, n);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		log_warnx("%s: %s", argv[0], strerror(rc));
		close(p[0]);
		return -1;
	}
	*fd = p[0];
	return 0;
}

/* Reads fd to its end into *buf (*len bytes) until the deadline. */
static int
spawn_drain(int fd, long long deadline, char **buf, size_t *len)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	size_t		 cap = 0;
	ssize_t		 n;
	long long	 left;
	int		 ready;

	for (;;) {
		if ((left = deadline - spawn_now()) <= 0)
			return -1;
		if ((ready = poll(&pfd, 1, (int)left)) == -1 && errno == EINTR)
			continue;
		if (ready <= 0)
			return -1;		/* the deadline, or poll failed */
		if (cap - *len < 4096) {
			if (cap >= SPAWN_OUT_MAX)
				return -1;
			cap = cap == 0 ? 8192 : cap * 2;
			*buf = spawn_grow(*buf, *len, cap);
		}
		n = read(fd, *buf + *len, cap - *len - 1);
		if (n == 0)
			return 0;
		if (n > 0)
			*len += (size_t)n;
		else if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

/*
 * A larger copy of buf (len bytes used), the old one wiped and freed:
 * what a tool writes may hold a password.
 */
static char *
spawn_grow(char *buf, size_t len, size_t cap)
{
	char	*n = xmalloc(cap);

	if (len > 0)
		memcpy(n, buf, len);
	spawn_wipe(buf, len);
	return n;
}

/* Wipes and frees buf, len bytes of which were used. */
void
spawn_wipe(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	explicit_bzero(buf, len);
	free(buf);
}

/*
 * Runs argv (argv[0] a path, or a name looked up in PATH) for at most
 * timeout_ms.  Returns its exit status (0-255), with its standard
 * output NUL-terminated in *out (the caller frees it with spawn_wipe,
 * *outlen bytes); or -1 when it could not be started, ran too long or
 * was killed by a signal, logged, *out NULL.
 */
int
spawn_read(const char *const argv[], int timeout_ms, char **out, size_t *outlen)
{
	pid_t	 pid;
	int	 fd, st, rc;

	*out = NULL;
	*outlen = 0;
	if (spawn_start(argv, &pid, &fd) == -1)
		return -1;
	rc = spawn_drain(fd, spawn_now() + timeout_ms, out, outlen);
	close(fd);
	if (rc == -1)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (rc == -1 || !WIFEXITED(st)) {
		log_warnx("%s: %s", argv[0], rc == -1 ? "did not finish in "
		    "time, killed" : "killed by a signal");
		spawn_wipe(*out, *outlen);
		*out = NULL;
		*outlen = 0;
		return -1;
	}
	if (*out == NULL)
		*out = xcalloc(1, 1);
	(*out)[*outlen] = '\0';
	return WEXITSTATUS(st);
}
