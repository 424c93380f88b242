/*
 * notify.c -- tell systemd how the daemon is doing, through sd_notify(3):
 * READY=1 once the sources are open, the rules compiled and the database
 * checked; one STATUS= line after each batch; RELOADING=1 and READY=1
 * around a reload; STOPPING=1 on the way out; WATCHDOG=1 from a timer.
 * Without $NOTIFY_SOCKET every call does nothing, so the daemon runs the
 * same by hand.
 */

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "smtpwatch.h"

void
notify_ready(void)
{
	sd_notify(0, "READY=1");
}

/* Reloading needs the monotonic clock: systemd matches it to SIGHUP. */
void
notify_reloading(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void
notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

/* One line for `systemctl status`. */
void
notify_status(const char *fmt, ...)
{
	char	 buf[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
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
