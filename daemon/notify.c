/*
 * notify.c -- tell systemd how the daemon is doing, through sd_notify(3):
 * READY=1 once the sources are open, the rules compiled and the database
 * checked; one STATUS= line after each batch; RELOADING=1 and READY=1
 * around a reload; STOPPING=1 on the way out; WATCHDOG=1 from a timer.
 * Without $NOTIFY_SOCKET every call does nothing, so the daemon runs the
 * same by hand.  STATUS= lines go out without blocking: while the
 * manager's queue is full one is dropped, never the loop stalled; READY,
 * RELOADING, STOPPING and WATCHDOG wait for room, as sd_notify(3) does,
 * since the manager must not miss them.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "smtpwatch.h"

/* $NOTIFY_SOCKET as an address: a path, or "@name" for the abstract space. */
static int
notify_addr(struct sockaddr_un *sun, socklen_t *len)
{
	const char	*e = getenv("NOTIFY_SOCKET");
	size_t		 n;

	if (e == NULL || (e[0] != '/' && e[0] != '@'))
		return -1;
	n = strlen(e);
	if (n >= sizeof(sun->sun_path))
		return -1;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, e, n);
	if (e[0] == '@')
		sun->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 0;
}

/* One datagram to $NOTIFY_SOCKET; with wait 0, dropped when no room. */
static void
notify_send(const char *msg, int wait)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	int			 fd, saved = errno;

	if (notify_addr(&sun, &len) == -1)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	while (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL |
	    (wait ? 0 : MSG_DONTWAIT), (struct sockaddr *)&sun, len) == -1 &&
	    errno == EINTR)
		continue;
	close(fd);
	errno = saved;
}

void
notify_ready(void)
{
	notify_send("READY=1", 1);
}

/* Reloading needs the monotonic clock: systemd matches it to SIGHUP. */
void
notify_reloading(void)
{
	struct timespec	 ts;
	char		 buf[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify_send(buf, 1);
}

void
notify_stopping(void)
{
	notify_send("STOPPING=1", 1);
}

void
notify_watchdog(void)
{
	notify_send("WATCHDOG=1", 1);
}

/* One line for `systemctl status`. */
void
notify_status(const char *fmt, ...)
{
	char	 buf[256];
	va_list	 ap;

	memcpy(buf, "STATUS=", 7);
	va_start(ap, fmt);
	vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
	va_end(ap);
	notify_send(buf, 0);
}

/*
 * The watchdog interval systemd asked for, in seconds, or 0 when none:
 * the daemon pings at half of it.
 */
double
notify_watchdog_interval(void)
{
	uint64_t	 usec;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return (double)usec / 1e6;
}
