/*
 * journal.c -- the systemd journal as a source of mail log lines, for
 * smtpwatchd and for `smtpwatchctl scan --journal`.
 *
 * Entries are read through sd-journal(3), from the local system journal
 * or from a directory (what systemd-journal-remote collects from other
 * hosts).  Only the mail programs' entries are kept, chosen by
 * SYSLOG_IDENTIFIER: postfix and any postfix-NAME instance with its
 * service ("postfix/smtpd", "postfix-out/smtp"), exim, exim4, dovecot and
 * saslauthd; never by unit, which Debian's postfix@-.service defeats.
 * Each entry is handed on as the line rsyslog would have written, built
 * from the journal's own fields: __REALTIME_TIMESTAMP (RFC 3339, UTC),
 * _HOSTNAME, SYSLOG_IDENTIFIER, SYSLOG_PID or _PID, then MESSAGE.  The
 * host name, identifier and pid must be plain names and digits, so no
 * field can shift the envelope the parser reads; MESSAGE keeps its bytes
 * (newlines become blanks), bounded like any line.  The parser, the
 * joiner and the rules are then the same as for log files.
 *
 * Positions are entry numbers counted from the entry a checkpoint's
 * cursor names: the feed's offsets are these numbers.  A resume seeks
 * the cursor and steps back to the first entry not counted; a cursor the
 * journal no longer has (vacuumed, rotated away) is replaced by the
 * first entry after its time, and the gap is reported.
 */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "smtpwatch.h"

struct sw_journal {
	sd_journal		*j;
	char			*name;		/* "journal" or "journal:DIR" */
	const struct sw_tail_cb	*cb;
	void			*arg;
	uint64_t		 seq;		/* number of the next entry */
	int			 pending;	/* on an entry not read yet */
	int			 current;	/* on an entry (read or not) */
	int			 warned;	/* a read error was reported */
	int			 drained;	/* drained() said since the last entry */
	struct sw_journal_stat	 st;
	char			*line;		/* JOURNAL_LINE bytes */
};

#define JOURNAL_LINE	(SW_LINE_MAX + 1024)	/* room for the envelope */

/*
 * A journal directory (and the per-machine directories in it) that the
 * daemon may not read makes sd-journal see nothing, silently: say which,
 * once, at open.  Returns the number of directories refused.
 */
static int
journal_access(const char *dir)
{
	char		 sub[PATH_MAX];
	struct dirent	*e;
	DIR		*d;
	int		 bad = 0;

	if ((d = opendir(dir)) == NULL) {
		if (errno == EACCES || errno == EPERM) {
			log_warnx("%s: cannot read: %s: the journal there is "
			    "not read; give the daemon group systemd-journal "
			    "(SupplementaryGroups=systemd-journal; the shipped "
			    "unit has it)", dir, strerror(errno));
			return 1;
		}
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || e->d_type != DT_DIR ||
		    (size_t)snprintf(sub, sizeof(sub), "%s/%s", dir,
		    e->d_name) >= sizeof(sub))
			continue;
		if (access(sub, R_OK | X_OK) == -1 && errno == EACCES) {
			log_warnx("%s: cannot read: %s: the journal there is "
			    "not read; give the daemon group systemd-journal",
			    sub, strerror(errno));
			bad++;
		}
	}
	closedir(d);
	return bad;
}

/*
 * Opens the system journal (dir NULL: this machine's system and kernel
 * entries) or the journal files in dir.  Returns 0, or -1 after
 * reporting.
 */
int
journal_open(const char *dir, struct sw_journal **out)
{
	struct sw_journal	*jr;
	int			 r, denied;

	jr = xcalloc(1, sizeof(*jr));
	if (dir != NULL)
		denied = journal_access(dir);
	else
		denied = journal_access("/var/log/journal") +
		    journal_access("/run/log/journal");
	if (dir == NULL)
		r = sd_journal_open(&jr->j, SD_JOURNAL_LOCAL_ONLY |
		    SD_JOURNAL_SYSTEM);
	else
		r = sd_journal_open_directory(&jr->j, dir, 0);
	if (r < 0) {
		if (!denied)
			log_warnx("journal%s%s: cannot open: %s", dir ? " " : "",
			    dir ? dir : "", strerror(-r));
		free(jr);
		return -1;
	}
	/* Before the first read, so that inotify watches are in place. */
	if ((r = sd_journal_get_fd(jr->j)) < 0) {
		log_warnx("journal: no descriptor to wait on: %s", strerror(-r));
		sd_journal_close(jr->j);
		free(jr);
		return -1;
	}
	(void)sd_journal_set_data_threshold(jr->j, SW_LINE_MAX + 16);
	jr->name = journal_source(dir);
	jr->st.source = jr->name;
	jr->line = xmalloc(JOURNAL_LINE);
	*out = jr;
	return 0;
}

/* The checkpoint key of a journal: "journal", or "journal:DIR". */
char *
journal_source(const char *dir)
{
	char	*s;
	size_t	 n;

	if (dir == NULL)
		return xstrdup("journal");
	n = strlen(dir) + 9;
	s = xmalloc(n);
	snprintf(s, n, "journal:%s", dir);
	return s;
}

void
journal_free(struct sw_journal *jr)
{
	if (jr == NULL)
		return;
	sd_journal_close(jr->j);
	free(jr->name);
	free(jr->line);
	free(jr);
}

int
journal_fd(struct sw_journal *jr)
{
	return sd_journal_get_fd(jr->j);
}

/* After the descriptor became readable: lets sd-journal see new files. */
void
journal_process(struct sw_journal *jr)
{
	(void)sd_journal_process(jr->j);
}

/* The realtime of the entry a cursor names ("...;t=HEX;..."), or 0. */
static uint64_t
journal_cursor_time(const char *cursor)
{
	const char	*p;

	for (p = cursor; p != NULL && *p != '\0'; p = strchr(p, ';')) {
		if (*p == ';')
			p++;
		if (p[0] == 't' && p[1] == '=')
			return strtoull(p + 2, NULL, 16);
	}
	return 0;
}

static void
journal_stamp(uint64_t usec, char *buf, size_t size)
{
	struct tm	 tm;
	time_t		 t = (time_t)(usec / 1000000);

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

/*
 * Resumes from cp: on the first entry not counted (its number cp->offset),
 * or after the cursor's entry.  Returns 0, or -1 when the cursor's entry
 * is gone (then positioned on the first entry after its time).
 */
static int
journal_resume(struct sw_journal *jr, const struct sw_checkpoint *cp)
{
	uint64_t	 back, t, first = 0;
	char		 a[32], b[32];
	int		 r;

	if (sd_journal_seek_cursor(jr->j, cp->cursor) == 0 &&
	    sd_journal_next(jr->j) > 0 &&
	    sd_journal_test_cursor(jr->j, cp->cursor) > 0) {
		jr->current = 1;
		if (cp->offset > cp->cursorseq) {
			jr->seq = cp->cursorseq + 1;
			return 0;
		}
		back = cp->cursorseq - cp->offset;
		r = back > 0 ? sd_journal_previous_skip(jr->j, back) : 0;
		jr->seq = cp->cursorseq - (r > 0 ? (uint64_t)r : 0);
		jr->pending = 1;
		return 0;
	}
	t = journal_cursor_time(cp->cursor);
	(void)sd_journal_seek_realtime_usec(jr->j, t + 1);
	if (sd_journal_next(jr->j) > 0) {
		jr->current = jr->pending = 1;
		(void)sd_journal_get_realtime_usec(jr->j, &first);
	}
	jr->seq = cp->cursorseq + 1;
	journal_stamp(t, a, sizeof(a));
	journal_stamp(first, b, sizeof(b));
	if (first == 0)
		log_warnx("%s: the entry read last (%s) is no longer in the "
		    "journal (vacuumed or rotated away), nor any after it: "
		    "reading what comes next", jr->name, a);
	else
		log_warnx("%s: the entry read last (%s) is no longer in the "
		    "journal (vacuumed or rotated away): reading on from the "
		    "first entry after it, of %s; entries of the %" PRIu64
		    " s between may have been lost", jr->name, a, b,
		    (first - t) / 1000000);
	return -1;
}

/*
 * Positions the journal and announces it to cb: from cp when it names a
 * cursor, else at since (microseconds, when not 0), the end (atend) or
 * the beginning.
 */
void
journal_start(struct sw_journal *jr, const struct sw_checkpoint *cp,
    int atend, uint64_t since, const struct sw_tail_cb *cb, void *arg)
{
	struct sw_fileid	 none;

	jr->cb = cb;
	jr->arg = arg;
	memset(&none, 0, sizeof(none));
	if (cp != NULL && cp->cursor != NULL) {
		(void)journal_resume(jr, cp);
	} else if (since > 0) {
		(void)sd_journal_seek_realtime_usec(jr->j, since);
	} else if (atend) {
		(void)sd_journal_seek_tail(jr->j);
		if (sd_journal_previous(jr->j) > 0) {
			jr->current = 1;
			jr->seq = 1;		/* the last entry is number 0 */
		}
	} else
		(void)sd_journal_seek_head(jr->j);
	jr->cb->begin(jr->arg, &none, jr->seq);
}

/*
 * A plain name: letters, digits and ._-/@ (1 to 255 bytes).  A NUL is
 * never one (strchr(3) would find the string's own terminator).
 */
static int
journal_plain(const char *p, size_t n)
{
	size_t	 i;

	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') ||
		    (p[i] != '\0' && strchr("._-/@", p[i]) != NULL)))
			return 0;
	return 1;
}

/* 1 to 10 decimal digits: a pid. */
static int
journal_digits(const char *p, size_t n)
{
	size_t	 i;

	if (n == 0 || n > 10)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* One field's value (after "NAME="), or NULL. */
static const char *
journal_field(sd_journal *j, const char *name, size_t *n)
{
	const void	*d;
	size_t		 l, k = strlen(name);

	if (sd_journal_get_data(j, name, &d, &l) < 0 || l <= k ||
	    ((const char *)d)[k] != '=')
		return NULL;
	*n = l - k - 1;
	return (const char *)d + k + 1;
}

/* Whether SYSLOG_IDENTIFIER is one of the mail programs. */
int
journal_wanted(const char *id, size_t n)
{
	static const char *const	 names[] = {
		"exim", "exim4", "dovecot", "saslauthd"
	};
	size_t				 i;

	if (n >= 7 && memcmp(id, "postfix", 7) == 0 &&
	    (n == 7 || id[7] == '/' || id[7] == '-'))
		return 1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && memcmp(id, names[i], n) == 0)
			return 1;
	return 0;
}

/*
 * The current entry as a syslog line in jr->line; its length, or 0 when
 * it is not a mail program's or its envelope fields are not plain.
 */
static size_t
journal_format(struct sw_journal *jr, int *cut)
{
	const char	*id, *host, *pid, *msg;
	size_t		 nid, nhost, npid = 0, nmsg, o, i;
	uint64_t	 usec;
	char		 stamp[32];

	if ((id = journal_field(jr->j, "SYSLOG_IDENTIFIER", &nid)) == NULL ||
	    !journal_wanted(id, nid))
		return 0;
	jr->st.entries++;
	if ((host = journal_field(jr->j, "_HOSTNAME", &nhost)) == NULL ||
	    !journal_plain(host, nhost) || !journal_plain(id, nid) ||
	    (msg = journal_field(jr->j, "MESSAGE", &nmsg)) == NULL ||
	    sd_journal_get_realtime_usec(jr->j, &usec) < 0) {
		jr->st.skipped++;
		return 0;
	}
	if ((pid = journal_field(jr->j, "SYSLOG_PID", &npid)) == NULL)
		pid = journal_field(jr->j, "_PID", &npid);
	if (pid != NULL && !journal_digits(pid, npid))
		pid = NULL;		/* digits only, or no pid at all */
	journal_stamp(usec, stamp, sizeof(stamp));
	o = (size_t)snprintf(jr->line, JOURNAL_LINE, "%s %.*s %.*s", stamp,
	    (int)nhost, host, (int)nid, id);
	if (pid != NULL)
		o += (size_t)snprintf(jr->line + o, JOURNAL_LINE - o, "[%.*s]",
		    (int)npid, pid);
	jr->line[o++] = ':';
	jr->line[o++] = ' ';
	*cut = o + nmsg > SW_LINE_MAX;	/* bounded as a file's line is */
	if (*cut)
		nmsg = SW_LINE_MAX - o;
	for (i = 0; i < nmsg; i++)
		jr->line[o++] = msg[i] == '\n' || msg[i] == '\r' ? ' ' : msg[i];
	jr->st.last = (time_t)(usec / 1000000);
	return o;
}

/*
 * Reads at most max entries and hands on the mail programs' lines.
 * Returns 1 when more may follow at once, 0 when the journal has no more
 * for now (cb->drained() said once).
 */
int
journal_run(struct sw_journal *jr, size_t max)
{
	size_t	 i, n;
	int	 r, cut;

	for (i = 0; i < max; i++) {
		if (jr->pending)
			jr->pending = 0;
		else if ((r = sd_journal_next(jr->j)) <= 0) {
			if (r < 0 && !jr->warned) {
				jr->warned = 1;
				log_warnx("%s: read: %s", jr->name, strerror(-r));
			}
			if (!jr->drained) {
				jr->drained = 1;
				jr->cb->drained(jr->arg);
			}
			return 0;
		}
		jr->current = 1;
		jr->drained = 0;
		if ((n = journal_format(jr, &cut)) > 0) {
			jr->st.lines++;
			jr->cb->line(jr->arg, jr->line, n, cut, jr->seq,
			    jr->seq + 1);
		}
		jr->seq++;
	}
	return 1;
}

/*
 * Adds the journal's position to cp (the feed filled the rest): the
 * cursor of the entry it stands on and that entry's number.
 */
void
journal_position(struct sw_journal *jr, struct sw_checkpoint *cp)
{
	char	*c;

	if (!jr->current || sd_journal_get_cursor(jr->j, &c) < 0)
		return;
	free(cp->cursor);
	cp->cursor = xstrdup(c);
	free(c);
	cp->cursorseq = jr->pending ? jr->seq : jr->seq - 1;
}

void
journal_stat(const struct sw_journal *jr, struct sw_journal_stat *st)
{
	*st = jr->st;
	st->seq = jr->seq;
}
