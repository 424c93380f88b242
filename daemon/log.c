/*
 * log.c -- operator diagnostics: log_warn() adds strerror(errno),
 * log_warnx() does not, fatal() and fatalx() exit.  Messages go to
 * stderr prefixed with the program name; the daemon's journal output
 * arrives with the daemon itself.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

static const char	*log_name = "smtpwatch";
static int		 log_verbose;

static void	log_vwrite(const char *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

/* Sets the prefix and whether log_debug() prints. */
void
log_init(const char *name, int verbose)
{
	log_name = name;
	log_verbose = verbose;
}

static void
log_vwrite(const char *err, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", log_name);
	vfprintf(stderr, fmt, ap);
	if (err != NULL)
		fprintf(stderr, ": %s", err);
	fputc('\n', stderr);
}

void
log_warn(const char *fmt, ...)
{
	va_list		 ap;
	const char	*err = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(err, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list		 ap;
	const char	*err = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(err, fmt, ap);
	va_end(ap);
	exit(3);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(NULL, fmt, ap);
	va_end(ap);
	exit(3);
}
