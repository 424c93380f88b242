/*
 * log.c -- operator diagnostics: log_warn() adds strerror(errno),
 * log_warnx() does not, fatal() and fatalx() exit.  Messages go to
 * stderr prefixed with the program name.  When stderr is the journal
 * (systemd sets $JOURNAL_STREAM) each line starts with its syslog
 * priority, "<4>", which journald takes as the entry's priority.
 */

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpwatch.h"

static const char	*log_name = "smtpwatch";
static int		 log_verbose;
static int		 log_journal;	/* stderr is the journal */
static int		 log_muted;	/* log_mute(): nothing is written */
static char		*log_keep;	/* log_capture(): the first warning */
static size_t		 log_keepsize;

static void	log_vwrite(int, const char *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

/* 1 when stderr is the stream $JOURNAL_STREAM names ("dev:ino"). */
static int
log_is_journal(void)
{
	const char		*s = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;

	if (s == NULL || sscanf(s, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Sets the prefix and whether log_debug() prints. */
void
log_init(const char *name, int verbose)
{
	log_name = name;
	log_verbose = verbose;
	log_journal = log_is_journal();
}

/*
 * Keeps the text of the next warning (or fatal) in buf, cut to size,
 * until log_capture(NULL, 0): the control socket tells a client why a
 * reload failed.  buf must stay valid until then.
 */
void
log_capture(char *buf, size_t size)
{
	log_keep = size > 0 ? buf : NULL;
	log_keepsize = size;
	if (log_keep != NULL)
		log_keep[0] = '\0';
}

/* With on set, nothing is written: the fuzzers' inputs are all wrong. */
void
log_mute(int on)
{
	log_muted = on;
}

static void
log_vwrite(int prio, const char *err, const char *fmt, va_list ap)
{
	va_list	 aq;
	size_t	 n;

	if (log_keep != NULL && prio <= 4 && log_keep[0] == '\0') {
		va_copy(aq, ap);
		vsnprintf(log_keep, log_keepsize, fmt, aq);
		va_end(aq);
		n = strlen(log_keep);
		if (err != NULL && n < log_keepsize)
			snprintf(log_keep + n, log_keepsize - n, ": %s", err);
	}
	if (log_muted)
		return;
	if (log_journal)
		fprintf(stderr, "<%d>", prio);
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
	log_vwrite(4, err, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(4, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(6, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(7, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list		 ap;
	const char	*err = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(3, err, fmt, ap);
	va_end(ap);
	exit(3);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(3, NULL, fmt, ap);
	va_end(ap);
	exit(3);
}
