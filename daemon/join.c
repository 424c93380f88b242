/*
 * join.c -- turn physical lines into records.  Most lines are records on
 * their own and pass straight through without a copy.  Exim writes a
 * multi-line SMTP reply as continuation lines: in its mainlog a line
 * without a timestamp, through syslog a "[1\2] ... [2/2] ..." series from
 * one process.  Those are held here, joined with one blank, and handed on
 * when complete (a mainlog entry is complete when the next entry starts,
 * or at join_flush()).  A record of rsyslog's "message repeated N times"
 * has the repeated message as its text and N in env.repeat (parse.c).
 */

#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define JOIN_SLOTS	8		/* syslog series open at once */

struct join_slot {
	int		 used;
	pid_t		 pid;
	int		 next;		/* part expected next */
	char		*buf;		/* copy of the first line + parts */
	size_t		 len;
	struct sw_record rec;
};

struct sw_join {
	struct sw_clock	 clock;
	sw_record_cb	 cb;
	void		*arg;
	unsigned long	 lineno;
	uint64_t	 pos;		/* offset of the next line (join_at) */
	uint64_t	 miss;		/* its rules known not to match */
	struct join_slot mainlog;	/* an Exim mainlog entry */
	struct join_slot parts[JOIN_SLOTS];
	size_t		 nheld;		/* slots used: join_held() */
};

static void	slot_start(struct sw_join *, struct join_slot *,
		    const char *, size_t, int);
static void	slot_append(struct join_slot *, const char *, size_t, int);
static void	slot_emit(struct sw_join *, struct join_slot *);

/*
 * A joiner handing records to cb(arg, rec); classic stamps take their
 * year as of ref (0: the wall clock at each line that needs it).
 */
struct sw_join *
join_new(time_t ref, sw_record_cb cb, void *arg)
{
	struct sw_join	*j;

	j = xcalloc(1, sizeof(*j));
	clock_init(&j->clock, ref);
	j->cb = cb;
	j->arg = arg;
	return j;
}

void
join_free(struct sw_join *j)
{
	size_t	 i;

	if (j == NULL)
		return;
	free(j->mainlog.buf);
	for (i = 0; i < JOIN_SLOTS; i++)
		free(j->parts[i].buf);
	free(j);
}

/* Copies the first line into the slot and parses its envelope there. */
static void
slot_start(struct sw_join *j, struct join_slot *s, const char *line,
    size_t len, int cut)
{
	if (s->buf == NULL)
		s->buf = xmalloc(SW_LINE_MAX + 1);
	if (len > SW_LINE_MAX) {
		len = SW_LINE_MAX;
		cut = 1;
	}
	memcpy(s->buf, line, len);
	s->buf[len] = '\0';
	s->len = len;
	j->nheld += !s->used;
	s->used = 1;
	memset(&s->rec, 0, sizeof(s->rec));
	parse_line(&j->clock, s->buf, len, &s->rec.env);
	s->rec.lineno = j->lineno;
	s->rec.pos = j->pos;
	s->rec.nlines = 1;
	s->rec.cut = cut || s->rec.env.repcut;
	s->pid = s->rec.env.pid;
	s->next = s->rec.env.part + 1;
}

/* Appends a continuation; the message stays contiguous to the end. */
static void
slot_append(struct join_slot *s, const char *text, size_t len, int cut)
{
	size_t	 room = SW_LINE_MAX - s->len;

	if (room == 0 || len + 1 > room) {
		s->rec.cut = 1;
		len = room > 0 ? room - 1 : 0;
		if (room == 0)
			return;
	}
	s->buf[s->len++] = ' ';
	memcpy(s->buf + s->len, text, len);
	s->len += len;
	s->buf[s->len] = '\0';
	s->rec.env.msglen += len + 1;
	s->rec.nlines++;
	s->rec.cut |= cut;
	s->next++;
}

static void
slot_emit(struct sw_join *j, struct join_slot *s)
{
	if (!s->used)
		return;
	s->used = 0;
	j->nheld--;
	s->rec.text = s->rec.env.msg;
	s->rec.len = s->rec.env.msglen;
	j->cb(j->arg, &s->rec);
}

/* The open syslog series of pid on the same host, or NULL. */
static struct join_slot *
join_find(struct sw_join *j, const struct sw_line *l)
{
	struct join_slot	*s;
	size_t			 i;

	for (i = 0; i < JOIN_SLOTS; i++) {
		s = &j->parts[i];
		if (s->used && s->pid == l->pid &&
		    s->rec.env.hostlen == l->hostlen &&
		    memcmp(s->rec.env.host, l->host, l->hostlen) == 0)
			return s;
	}
	return NULL;
}

/* A "[k\n]" part of an Exim syslog series. */
static void
join_part(struct sw_join *j, const char *line, size_t len, int cut,
    const struct sw_line *l)
{
	struct join_slot	*s;
	size_t			 i;

	s = join_find(j, l);
	if (s != NULL && l->part != s->next) {
		slot_emit(j, s);	/* a series broken off: hand it on */
		s = NULL;
	}
	if (s == NULL) {
		for (i = 0; i < JOIN_SLOTS && j->parts[i].used; i++)
			continue;
		if (i == JOIN_SLOTS) {
			slot_emit(j, &j->parts[0]);
			i = 0;
		}
		s = &j->parts[i];
		slot_start(j, s, line, len, cut);
	} else
		slot_append(s, l->msg, l->msglen, cut);
	if (s->rec.env.part >= s->rec.env.parts ||
	    s->next > s->rec.env.parts)
		slot_emit(j, s);
}

/* Hands one record on without a copy. */
static void
join_pass(struct sw_join *j, int cut, const struct sw_line *l,
    uint64_t miss)
{
	struct sw_record	 rec;

	memset(&rec, 0, sizeof(rec));
	rec.miss = miss;
	rec.env = *l;
	rec.text = l->msg;
	rec.len = l->msglen;
	rec.lineno = j->lineno;
	rec.pos = j->pos;
	rec.nlines = 1;
	rec.cut = cut || l->repcut;
	j->cb(j->arg, &rec);
}

/*
 * Takes one physical line (no newline; cut is set when the reader had
 * to cut it).  Calls the record callback zero or more times.
 */
void
join_line(struct sw_join *j, const char *line, size_t len, int cut)
{
	struct sw_line	 l;
	uint64_t	 miss = j->miss;

	j->miss = 0;
	j->lineno++;
	if (len > SW_LINE_MAX) {
		len = SW_LINE_MAX;
		cut = 1;
	}
	parse_line(&j->clock, line, len, &l);
	if (l.fmt == SW_FMT_NONE && j->mainlog.used) {
		slot_append(&j->mainlog, line, len, cut);
		return;
	}
	slot_emit(j, &j->mainlog);
	if (l.fmt == SW_FMT_EXIM) {
		slot_start(j, &j->mainlog, line, len, cut);
		return;
	}
	if (l.parts > 1) {
		join_part(j, line, len, cut, &l);
		return;
	}
	join_pass(j, cut, &l, miss);
}

/*
 * A line the front end passed over while nothing is held: it counts
 * (the next record's line number), and so does its stamp (year
 * inference, the newest time).  Returns its time; *bad is set when the
 * stamp names a day its year lacks.
 */
time_t
join_stamp(struct sw_join *j, const char *line, size_t len, int *bad)
{
	j->lineno++;
	if (len > SW_LINE_MAX)
		len = SW_LINE_MAX;
	return parse_stamp(&j->clock, line, len, bad);
}

/* Hands on every record still held: at end of input, or when idle. */
void
join_flush(struct sw_join *j)
{
	size_t	 i;

	slot_emit(j, &j->mainlog);
	for (i = 0; i < JOIN_SLOTS; i++)
		slot_emit(j, &j->parts[i]);
}

/* Sets the byte offset of the line join_line() takes next. */
void
join_at(struct sw_join *j, uint64_t pos)
{
	j->pos = pos;
}

/*
 * The rules the line join_line() takes next cannot match (front_skip),
 * for its record when the line is one by itself; a record joined from
 * several lines has none.
 */
void
join_miss(struct sw_join *j, uint64_t miss)
{
	j->miss = miss;
}

/*
 * The offsets of the records still held, in no particular order, at
 * most max of them into pos (which may be NULL when max is 0); returns
 * how many are held.  A checkpoint must not pass them.
 */
size_t
join_held(const struct sw_join *j, uint64_t *pos, size_t max)
{
	size_t	 i, n = 0;

	if (j->nheld == 0)
		return 0;		/* every line of a Postfix log */
	if (j->mainlog.used && n++ < max)
		pos[n - 1] = j->mainlog.rec.pos;
	for (i = 0; i < JOIN_SLOTS; i++)
		if (j->parts[i].used && n++ < max)
			pos[n - 1] = j->parts[i].rec.pos;
	return n;
}

/*
 * Hands on a held Exim mainlog entry: Exim writes an entry and its
 * continuation lines in one write(2), so once the reader has drained the
 * file the entry is whole.  Syslog part series stay held.
 */
void
join_flush_entry(struct sw_join *j)
{
	slot_emit(j, &j->mainlog);
}

/*
 * The year inference of classic stamps, for a checkpoint to carry: the
 * year, month and time of the newest classic stamp, and the time of the
 * last valid stamp (clock_resume()).
 */
void
join_clock_get(const struct sw_join *j, int *year, int *month,
    time_t *newest, time_t *last)
{
	*year = j->clock.year;
	*month = j->clock.month;
	*newest = j->clock.newest;
	*last = j->clock.last;
}

/* Year inference starts again at ref (a file's mtime, for scan; 0: now). */
void
join_reference(struct sw_join *j, time_t ref)
{
	clock_init(&j->clock, ref);
}

void
join_clock_set(struct sw_join *j, int year, int month, time_t newest,
    time_t last)
{
	clock_resume(&j->clock, year, month, newest, last);
}
