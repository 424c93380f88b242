/*
 * t_feed.c -- the exactly-once property of feed.c, without a file or a
 * database: the lines of every corpus file under tests/corpus make one
 * stream; it is read once straight through, and then, for every line k,
 * read up to k, checkpointed (as a commit would), dropped (as kill -9
 * does) and resumed from the checkpoint in a fresh feed.  The events of
 * the two halves must be exactly the events of the straight read: held
 * Exim entries and syslog part series, Exim's syslog copies and the
 * recipients of one delivery attempt are neither lost nor doubled across
 * the restart.  Also with a drain before the checkpoint, with two
 * restarts, and with a matcher state from another version.
 *
 * Then two sources of the same lines, as the journal and rsyslog's file
 * carry them (the file's stamps a second later on odd lines, one line
 * logged three times): a hand-over from the journal to the file at every
 * line, the file starting at several lines before it, with a kill -9 of
 * either feed around it; from the file to the journal, read from 10 s
 * before the file's last line; both read with each other as peers, in
 * turns.  Every time each line is counted once.
 *
 * Usage: t_feed RULESDIR CORPUS...
 */

#include "../../daemon/feed.c"

#include <stdio.h>

#include "check.h"

#define MAXLINES	4096

struct stream {
	char		*buf;		/* the lines, each with its newline */
	size_t		 len;
	uint64_t	 start[MAXLINES + 1];	/* offsets; start[n] = len */
	size_t		 n;
};

/* The events seen, as one text line each. */
struct seen {
	char		*text;
	size_t		 len, cap;
	unsigned long	 n;
};

static void
seen_event(void *arg, const struct sw_event *ev)
{
	struct seen	*s = arg;
	char		 line[2048];
	int		 n;

	n = snprintf(line, sizeof(line), "%s %s %.*s|%s|%s|%s|%lld|%x\n",
	    kind_name(ev->kind), dir_name(ev->dir), (int)ev->accountlen,
	    ev->account, ev->addr, ev->relay, ev->queue,
	    (long long)ev->when, ev->flags);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (s->len + (size_t)n + 1 > s->cap) {
		s->cap = (s->len + (size_t)n + 1) * 2;
		s->text = xreallocarray(s->text, s->cap, 1);
	}
	memcpy(s->text + s->len, line, (size_t)n);
	s->len += (size_t)n;
	s->text[s->len] = '\0';
	s->n++;
}

static void
stream_add(struct stream *st, const char *line, size_t n)
{
	if (st->n == MAXLINES)
		fatalx("more than %d corpus lines", MAXLINES);
	st->buf = xreallocarray(st->buf, st->len + n + 1, 1);
	st->start[st->n++] = st->len;
	memcpy(st->buf + st->len, line, n);
	st->len += n;
	st->buf[st->len++] = '\n';
	st->start[st->n] = st->len;
}

/* The "> " lines of a corpus file, in order. */
static void
stream_load(struct stream *st, const char *path)
{
	FILE	*fp;
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if ((fp = fopen(path, "r")) == NULL)
		fatal("%s", path);
	while ((n = getline(&line, &cap, fp)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n >= 2 && line[0] == '>' && line[1] == ' ')
			stream_add(st, line + 2, (size_t)n - 2);
	}
	free(line);
	fclose(fp);
}

static const struct sw_fileid	 fid = { 1, 42, 0, 0 };

/* Lines from..to-1 into f, as tail.c would hand them on. */
static void
feed_lines(struct sw_feed *f, const struct stream *st, size_t from,
    size_t to)
{
	size_t		 i;
	uint64_t	 a, b;

	for (i = from; i < to; i++) {
		a = st->start[i];
		b = st->start[i + 1];
		feed_tail_cb.line(f, st->buf + a, (size_t)(b - a - 1), 0, a, b);
	}
}

/* The line that starts at offset off. */
static size_t
line_at(const struct stream *st, uint64_t off)
{
	size_t	 i;

	for (i = 0; i <= st->n; i++)
		if (st->start[i] == off)
			return i;
	fatalx("offset %llu is not a line start", (unsigned long long)off);
}

/*
 * Reads lines up to k, checkpoints into cp, frees the feed: a kill -9
 * right after the commit.  drain calls drained() first, as the daemon
 * does when it has read everything.
 */
static void
run_until(const struct sw_rules *rs, const struct sw_checkpoint *from,
    const struct stream *st, size_t k, int drain, struct seen *s,
    struct sw_checkpoint *cp)
{
	struct sw_matchopt	 opt = { 1, NULL };
	struct sw_feed		*f;
	size_t			 first = 0;

	f = feed_new("t", rs, &opt, from, seen_event, s);
	if (from != NULL)
		first = line_at(st, from->offset);
	feed_tail_cb.begin(f, &fid, st->start[first]);
	feed_lines(f, st, first, k);
	if (drain)
		feed_tail_cb.drained(f);
	memset(cp, 0, sizeof(*cp));
	CHECK_INT(feed_checkpoint(f, cp), 0);
	feed_free(f);
}

/* Reads from the checkpoint to the end of the stream. */
static void
run_rest(const struct sw_rules *rs, const struct sw_checkpoint *cp,
    const struct stream *st, struct seen *s)
{
	struct sw_matchopt	 opt = { 1, NULL };
	struct sw_feed		*f;
	size_t			 first;

	f = feed_new("t", rs, &opt, cp, seen_event, s);
	first = cp != NULL ? line_at(st, cp->offset) : 0;
	feed_tail_cb.begin(f, &fid, st->start[first]);
	feed_lines(f, st, first, st->n);
	feed_tail_cb.end(f);
	feed_free(f);
}

/* One restart after line k; 1 when the events are the straight ones. */
static int
restart_once(const struct sw_rules *rs, const struct stream *st,
    const struct seen *want, size_t k, int drain)
{
	struct sw_checkpoint	 cp;
	struct seen		 s = { NULL, 0, 0, 0 };
	int			 same;

	run_until(rs, NULL, st, k, drain, &s, &cp);
	run_rest(rs, &cp, st, &s);
	same = s.len == want->len && memcmp(s.text, want->text, s.len) == 0;
	if (!same) {
		fprintf(stderr, "restart after line %zu (drain %d): %lu events, "
		    "want %lu; checkpoint offset %llu done %llu held %zu\n",
		    k, drain, s.n, want->n, (unsigned long long)cp.offset,
		    (unsigned long long)cp.done, cp.nheld);
		if (getenv("T_FEED_DIFF") != NULL) {
			fprintf(stderr, "GOT\n%sWANT\n%s", s.text, want->text);
			exit(1);
		}
	}
	checkpoint_clear(&cp);
	free(s.text);
	return same;
}

/* Two restarts, after line k and again after line k2 of the replay. */
static int
restart_twice(const struct sw_rules *rs, const struct stream *st,
    const struct seen *want, size_t k, size_t k2)
{
	struct sw_checkpoint	 cp, cp2;
	struct seen		 s = { NULL, 0, 0, 0 };
	int			 same;

	run_until(rs, NULL, st, k, 0, &s, &cp);
	if (k2 < line_at(st, cp.offset))
		k2 = line_at(st, cp.offset);
	if (k2 > st->n)			/* k near the end: no line k2 */
		k2 = st->n;
	run_until(rs, &cp, st, k2, 0, &s, &cp2);
	run_rest(rs, &cp2, st, &s);
	same = s.len == want->len && memcmp(s.text, want->text, s.len) == 0;
	if (!same)
		fprintf(stderr, "restarts after lines %zu and %zu: %lu events, "
		    "want %lu\n", k, k2, s.n, want->n);
	checkpoint_clear(&cp);
	checkpoint_clear(&cp2);
	free(s.text);
	return same;
}

/* The held records make the checkpoint go back, and only then. */
static void
test_held(const struct sw_rules *rs)
{
	struct stream		 st;
	struct sw_checkpoint	 cp;
	struct seen		 s = { NULL, 0, 0, 0 };

	memset(&st, 0, sizeof(st));
	stream_add(&st, "2026-11-28 04:38:38 1xXACs-000849-2S plain "
	    "authenticator failed H=127.0.0.101 [127.0.0.101] 535-5.7.8 "
	    "Username and Password not accepted.", 107);
	stream_add(&st, "535 5.7.8  https://support.google.com/mail/"
	    "?p=BadCredentials - gsmtp", 68);
	run_until(rs, NULL, &st, 2, 0, &s, &cp);
	CHECK_INT(cp.offset, 0);		/* the entry is held */
	CHECK_INT(cp.done, st.len);
	CHECK_INT(cp.nheld, 1);
	CHECK_INT(s.n, 0);
	checkpoint_clear(&cp);
	run_until(rs, NULL, &st, 2, 1, &s, &cp);
	CHECK_INT(cp.offset, st.len);		/* drained: handed on */
	CHECK_INT(cp.nheld, 0);
	CHECK_INT(s.n, 1);
	CHECK(cp.statelen > 4);
	checkpoint_clear(&cp);
	free(s.text);
	free(st.buf);
}

/* A state blob from elsewhere is refused; the feed still works. */
static void
test_foreign_state(const struct sw_rules *rs, const struct stream *st)
{
	struct sw_checkpoint	 cp;
	struct seen		 s = { NULL, 0, 0, 0 };

	memset(&cp, 0, sizeof(cp));
	cp.source = xstrdup("t");
	cp.id = fid;
	cp.state = (unsigned char *)xstrdup("SWM9 not a state");
	cp.statelen = 16;
	run_rest(rs, &cp, st, &s);
	CHECK(s.n > 0);
	checkpoint_clear(&cp);
	free(s.text);
}

/*
 * Two sources of the same lines.  HO_LINES failures one second apart,
 * from a day ago (so that the classic stamps get this year); lines 20 to
 * 22 are one line logged three times.
 */
#define HO_LINES	48

static time_t	 ho_base;

/* Line i: the journal's (RFC 3339) or rsyslog's (classic, later). */
static void
ho_line(struct stream *st, size_t i, int file)
{
	char		 buf[512], stamp[64];
	size_t		 n = i >= 20 && i <= 22 ? 20 : i;
	time_t		 t = ho_base + (time_t)i + (file && i % 2);
	struct tm	 tm;
	int		 len;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), file ? "%b %e %H:%M:%S" :
	    "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	len = snprintf(buf, sizeof(buf), "%s mx1 postfix/smtpd[%zu]: "
	    "warning: unknown[203.0.113.%zu]: SASL LOGIN authentication "
	    "failed: UGFzc3dvcmQ6, sasl_username=u%zu@example.com", stamp,
	    4000 + n, n, n);
	stream_add(st, buf, (size_t)len);
}

/* Lines from..to-1 of one source. */
static void
ho_stream(struct stream *st, size_t from, size_t to, int file)
{
	size_t	 i;

	memset(st, 0, sizeof(*st));
	for (i = from; i < to; i++)
		ho_line(st, i, file);
}

/* A feed that keeps its events, begun at line first of st. */
static struct sw_feed *
ho_feed(const struct sw_rules *rs, const char *name,
    const struct sw_checkpoint *cp, struct seen *s)
{
	static const struct sw_matchopt	 opt = { 1, NULL };
	struct sw_feed			*f;

	f = feed_new(name, rs, &opt, cp, seen_event, s);
	feed_keep(f);
	return f;
}

/* Reads lines first..to-1 of st into f, begun at first. */
static void
ho_read(struct sw_feed *f, const struct stream *st, size_t first, size_t to)
{
	feed_tail_cb.begin(f, &fid, st->start[first]);
	feed_lines(f, st, first, to);
	feed_tail_cb.drained(f);
}

/* A checkpoint of f, then f freed: a kill -9 after a commit. */
static void
ho_kill(struct sw_feed *f, struct sw_checkpoint *cp)
{
	memset(cp, 0, sizeof(*cp));
	CHECK_INT(feed_checkpoint(f, cp), 0);
	feed_free(f);
}

/*
 * The journal reads lines 0..k-1 (killed at k1), then the file, which
 * rsyslog began at line m, takes over (killed at p of its lines).
 * Returns the events counted.
 */
static unsigned long
ho_to_file(const struct sw_rules *rs, size_t k, size_t k1, size_t m,
    size_t p)
{
	struct stream		 js, fs;
	struct sw_checkpoint	 cp;
	struct sw_feed		*j, *f;
	struct seen		 s = { NULL, 0, 0, 0 };

	ho_stream(&js, 0, HO_LINES, 0);
	ho_stream(&fs, m, HO_LINES, 1);
	j = ho_feed(rs, "journal", NULL, &s);
	ho_read(j, &js, 0, k1);
	ho_kill(j, &cp);
	j = ho_feed(rs, "journal", &cp, &s);
	ho_read(j, &js, line_at(&js, cp.offset), k);
	checkpoint_clear(&cp);
	feed_flush(j);
	f = ho_feed(rs, "log", NULL, &s);
	feed_handover(f, feed_recent(j), j);
	feed_retire(j);
	feed_free(j);
	ho_read(f, &fs, 0, p);
	ho_kill(f, &cp);
	f = ho_feed(rs, "log", &cp, &s);
	ho_read(f, &fs, line_at(&fs, cp.offset), fs.n);
	checkpoint_clear(&cp);
	feed_free(f);
	free(js.buf);
	free(fs.buf);
	free(s.text);
	return s.n;
}

/*
 * The file reads lines 0..k-1, then is gone; the journal takes over from
 * 10 s before the file's last line.  Returns the events counted.
 */
static unsigned long
ho_to_journal(const struct sw_rules *rs, size_t k)
{
	struct stream		 js, fs;
	struct sw_feed		*j, *f;
	struct seen		 s = { NULL, 0, 0, 0 };
	struct sw_feed_stat	 st;
	size_t			 q = 0;

	ho_stream(&js, 0, HO_LINES, 0);
	ho_stream(&fs, 0, HO_LINES, 1);
	f = ho_feed(rs, "log", NULL, &s);
	ho_read(f, &fs, 0, k);
	feed_stat(f, &st);
	j = ho_feed(rs, "journal", NULL, &s);
	feed_handover(j, feed_recent(f), f);
	feed_free(f);
	while (q < HO_LINES && st.newest > 0 &&
	    ho_base + (time_t)q < st.newest - SW_RECENT_SLACK)
		q++;
	ho_read(j, &js, q, HO_LINES);
	feed_free(j);
	free(js.buf);
	free(fs.buf);
	free(s.text);
	return s.n;
}

/*
 * Both read, peers: the file lags the journal by lag lines (negative:
 * leads).  Returns the events counted; *twice those dropped.
 */
static unsigned long
ho_both(const struct sw_rules *rs, int lag, unsigned long long *twice)
{
	struct stream		 js, fs;
	struct sw_feed		*j, *f;
	struct seen		 s = { NULL, 0, 0, 0 };
	struct sw_feed_stat	 a, b;
	char			 warned[512] = "";
	long			 i, ji, fi;

	log_capture(warned, sizeof(warned));	/* the first warning */
	log_mute(1);
	ho_stream(&js, 0, HO_LINES, 0);
	ho_stream(&fs, 0, HO_LINES, 1);
	j = ho_feed(rs, "journal", NULL, &s);
	f = ho_feed(rs, "log", NULL, &s);
	feed_peers(j, &f, 1);
	feed_peers(f, &j, 1);
	feed_tail_cb.begin(j, &fid, 0);
	feed_tail_cb.begin(f, &fid, 0);
	for (i = 0; i < HO_LINES + (lag < 0 ? -lag : lag); i++) {
		ji = lag >= 0 ? i : i + lag;
		fi = lag >= 0 ? i - lag : i;
		if (ji >= 0 && ji < HO_LINES)
			feed_lines(j, &js, (size_t)ji, (size_t)ji + 1);
		if (fi >= 0 && fi < HO_LINES)
			feed_lines(f, &fs, (size_t)fi, (size_t)fi + 1);
	}
	feed_tail_cb.drained(j);
	feed_tail_cb.drained(f);
	feed_stat(j, &a);
	feed_stat(f, &b);
	*twice = a.twice + b.twice;
	log_mute(0);
	log_capture(NULL, 0);
	CHECK(strstr(warned, "carry the same lines (journal yes)") != NULL);
	feed_free(j);
	feed_free(f);
	free(js.buf);
	free(fs.buf);
	free(s.text);
	return s.n;
}

static void
test_handover(const struct sw_rules *rs)
{
	unsigned long long	 twice;
	size_t			 k, m, bad = 0;
	int			 lag;

	ho_base = time(NULL) - 86400;
	for (k = 0; k <= HO_LINES; k++)
		for (m = 0; m <= k; m += 5)
			if (ho_to_file(rs, k, k / 2, m, (HO_LINES - m) / 3) !=
			    HO_LINES) {
				fprintf(stderr, "journal to file: k %zu "
				    "m %zu\n", k, m);
				bad++;
			}
	for (k = 0; k <= HO_LINES; k++)
		if (ho_to_journal(rs, k) != HO_LINES) {
			fprintf(stderr, "file to journal: k %zu\n", k);
			bad++;
		}
	for (lag = -5; lag <= 5; lag++) {
		if (ho_both(rs, lag, &twice) != HO_LINES || twice != HO_LINES) {
			fprintf(stderr, "both, lag %d: twice %llu\n", lag,
			    twice);
			bad++;
		}
	}
	CHECK_INT(bad, 0);
}

int
main(int argc, char *argv[])
{
	struct sw_rules		*rs;
	struct stream		 st;
	struct seen		 want = { NULL, 0, 0, 0 };
	size_t			 k, bad = 0;
	int			 i;

	if (argc < 3)
		fatalx("usage: t_feed RULESDIR CORPUS...");
	setenv("TZ", "UTC", 1);
	tzset();
	log_init("t_feed", 0);
	if (rules_load(&argv[1], 1, &rs) == -1)
		fatalx("rules_load %s", argv[1]);
	memset(&st, 0, sizeof(st));
	for (i = 2; i < argc; i++)
		stream_load(&st, argv[i]);
	CHECK(st.n > 100);
	run_rest(rs, NULL, &st, &want);
	CHECK(want.n > 100);
	for (k = 0; k <= st.n; k++) {
		if (!restart_once(rs, &st, &want, k, 0))
			bad++;
		if (!restart_once(rs, &st, &want, k, 1))
			bad++;
	}
	for (k = 0; k <= st.n; k += 7)
		if (!restart_twice(rs, &st, &want, k, k + 3))
			bad++;
	CHECK_INT(bad, 0);
	test_held(rs);
	test_foreign_state(rs, &st);
	test_handover(rs);
	printf("t_feed: %zu lines, %lu events, %zu restarts compared\n", st.n,
	    want.n, 2 * (st.n + 1) + st.n / 7 + 1);
	free(want.text);
	free(st.buf);
	rules_free(rs);
	return check_done();
}
