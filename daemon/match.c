/*
 * match.c -- turn one record into at most one event.  Rules are tried in
 * order: the program glob (cached per tag), then every literal with
 * memmem(3), and only then the PCRE2 pattern under match and depth
 * limits.  The named groups are copied, bounded, into the fixed-size
 * event, so matching never allocates.  The matcher also keeps the little
 * state that turns repeats into what they are: Exim's syslog copy of a
 * line it just wrote, and the recipients of one failed delivery attempt.
 * A record of rsyslog's "message repeated N times" is matched once and
 * stands for N events (Exim's copies among them taken out).
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <arpa/inet.h>

#include <fnmatch.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define TAG_CACHE	32		/* distinct program tags remembered */
#define DUP_SLOTS	16		/* Exim processes remembered */
#define ATTEMPT_SLOTS	16		/* delivery processes remembered */

struct tag_entry {
	char		 tag[SW_TAG_MAX + 1];	/* + NUL */
	size_t		 len;
	unsigned char	*ok;		/* per extract: program matches */
};

struct dup_slot {
	pid_t		 pid;
	uint64_t	 hash;		/* of host and text */
	int		 open;		/* a copy may follow */
};

struct sw_matcher {
	const struct sw_rules	*rs;
	struct sw_matchopt	 opt;
	pcre2_match_data	*md;
	pcre2_match_data	*dmd;	/* for diagnoses */
	struct sw_diagmemo	*memo;	/* their recent answers */
	struct tag_entry	 tags[TAG_CACHE];
	unsigned int		 ntags, nexttag;
	struct dup_slot		 dups[DUP_SLOTS];
	unsigned int		 nextdup;
	struct attempt {		/* last client failure, per process */
		pid_t		 pid;
		time_t		 when;
		enum sw_kind	 kind;	/* failure or trouble */
		char		 queue[SW_QUEUE_MAX];
		char		 relay[SW_NAME_MAX];
		char		 addr[SW_ADDR_MAX];
		char		 host[SW_NAME_MAX];
	}			 attempts[ATTEMPT_SLOTS];
	unsigned int		 nextattempt;
};

struct sw_matcher *
matcher_new(const struct sw_rules *rs, const struct sw_matchopt *opt)
{
	struct sw_matcher	*m;
	size_t			 i;

	m = xcalloc(1, sizeof(*m));
	m->rs = rs;
	if (opt != NULL)
		m->opt = *opt;
	m->md = pcre2_match_data_create(32, NULL);
	m->dmd = pcre2_match_data_create(1, NULL);
	if (m->md == NULL || m->dmd == NULL)
		fatalx("pcre2: out of memory");
	m->memo = diagmemo_new();
	for (i = 0; i < TAG_CACHE; i++)
		m->tags[i].ok = xcalloc(rs->nextracts, 1);
	return m;
}

void
matcher_free(struct sw_matcher *m)
{
	size_t	 i;

	if (m == NULL)
		return;
	for (i = 0; i < TAG_CACHE; i++)
		free(m->tags[i].ok);
	pcre2_match_data_free(m->md);
	pcre2_match_data_free(m->dmd);
	diagmemo_free(m->memo);
	free(m);
}

/* For the tag, which extracts' program globs match: cached. */
static const unsigned char *
match_programs(struct sw_matcher *m, const char *tag, size_t len)
{
	struct tag_entry	*t;
	const struct sw_extract	*x;
	unsigned int		 i;
	size_t			 j;

	for (i = 0; i < m->ntags; i++) {
		t = &m->tags[i];
		if (t->len == len && memcmp(t->tag, tag, len) == 0)
			return t->ok;
	}
	t = &m->tags[m->nexttag];
	m->nexttag = (m->nexttag + 1) % TAG_CACHE;
	if (m->ntags < TAG_CACHE)
		m->ntags++;
	memcpy(t->tag, tag, len);
	t->tag[len] = '\0';
	t->len = len;
	for (i = 0; i < m->rs->nextracts; i++) {
		x = &m->rs->extracts[i];
		t->ok[i] = 0;
		for (j = 0; j < x->nprograms && !t->ok[i]; j++)
			t->ok[i] = fnmatch(x->programs[j], t->tag, 0) == 0;
	}
	return t->ok;
}

/*
 * 1 when literal s (its length and rare byte in l) occurs in rec:
 * memchr(3) on the rare byte, then memcmp(3) around it.  For needles of
 * a few bytes in lines of a few hundred this beats memmem(3), whose
 * set-up cost is paid on every call.
 */
static int
match_lit(const struct sw_record *rec, const char *s,
    const struct sw_literal *l)
{
	const char	*p, *end;

	if (l->len == 0)
		return 1;
	if (rec->len < l->len)
		return 0;
	p = rec->text + l->rare;
	end = rec->text + rec->len - (l->len - l->rare) + 1;
	while (p < end && (p = memchr(p, s[l->rare], (size_t)(end - p)))) {
		if (memcmp(p - l->rare, s, l->len) == 0)
			return 1;
		p++;
	}
	return 0;
}

static int
match_literals(const struct sw_extract *x, const struct sw_record *rec)
{
	size_t	 i;

	for (i = 0; i < x->nliterals; i++)
		if (!match_lit(rec, x->literals[i], &x->lits[i]))
			return 0;
	return 1;
}

/* Copies group g into dst (size n); returns its length, cut to fit. */
static size_t
cap_copy(struct sw_matcher *m, int g, char *dst, size_t n,
    const struct sw_record *rec, unsigned int *flags)
{
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(m->md);
	size_t		 a, b, len;

	dst[0] = '\0';
	if (g <= 0 || (uint32_t)g >= pcre2_get_ovector_count(m->md))
		return 0;
	a = ov[2 * g];
	b = ov[2 * g + 1];
	if (a == PCRE2_UNSET || b < a)
		return 0;
	len = b - a;
	if (len >= n) {
		len = n - 1;
		*flags |= SW_EVF_CUT;
	}
	memcpy(dst, rec->text + a, len);
	dst[len] = '\0';
	return len;
}

/*
 * Decodes in place what Exim's string_printing() made of the bytes of a
 * name that are not printable: \ooo, and \n \r \b \v \f \t.  A
 * backslash is printable and left alone by Exim, so a name typed with a
 * literal "\303" reads like one with the byte: the log cannot tell them
 * apart.  Returns the new length.
 */
static size_t
decode_exim(char *s, size_t len)
{
	static const char	 letters[] = "nrbvft";
	static const char	 bytes[] = "\n\r\b\v\f\t";
	const char		*l;
	size_t			 i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' &&
		    s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
		    s[i + 3] >= '0' && s[i + 3] <= '7') {
			s[o++] = (char)((s[i + 1] - '0') * 64 +
			    (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else if (s[i] == '\\' && i + 1 < len && s[i + 1] != '\0' &&
		    (l = strchr(letters, s[i + 1])) != NULL) {
			s[o++] = bytes[l - letters];
			i++;
		} else
			s[o++] = s[i];
	}
	s[o] = '\0';
	return o;
}

/* 1 when s is an IPv4 or IPv6 address (an IPv6 zone is allowed). */
static int
addr_valid(const char *s)
{
	unsigned char	 buf[sizeof(struct in6_addr)];
	char		 tmp[SW_ADDR_MAX];
	const char	*pct;

	if (addr_quad(s, buf) || inet_pton(AF_INET, s, buf) == 1)
		return 1;
	if ((pct = strchr(s, '%')) != NULL) {
		if ((size_t)(pct - s) >= sizeof(tmp))
			return 0;
		memcpy(tmp, s, (size_t)(pct - s));
		tmp[pct - s] = '\0';
		s = tmp;
	}
	return inet_pton(AF_INET6, s, buf) == 1;
}

/*
 * Strips what providers add to a reply that says nothing about the
 * failure: Postfix's '?' between the lines of a multi-line reply, the
 * "<id> - gsmtp" tail of Google, the "[server timestamp id]" of
 * Microsoft.  check-relay --live cleans the relay's answer with it too.
 */
void
match_reply_clean(char *r)
{
	size_t	 i, o = 0, len;
	char	*p;

	for (i = 0; r[i] != '\0'; i++) {
		if (r[i] == '?' && r[i + 1] >= '2' && r[i + 1] <= '5' &&
		    strspn(r + i + 1, "0123456789") == 3 &&
		    (r[i + 4] == ' ' || r[i + 4] == '-'))
			r[i] = ' ';
		if (r[i] == ' ' && o > 0 && r[o - 1] == ' ')
			continue;
		r[o++] = r[i];
	}
	r[o] = '\0';
	len = o;
	if (len > 8 && strcmp(r + len - 8, " - gsmtp") == 0) {
		r[len - 8] = '\0';
		if ((p = strrchr(r, ' ')) != NULL)
			*p = '\0';
	}
	if ((p = strrchr(r, '[')) != NULL && p > r && p[-1] == ' ' &&
	    r[strlen(r) - 1] == ']' && (strstr(p, ".outlook.com") != NULL ||
	    strstr(p, ".prod.") != NULL))
		p[-1] = '\0';
}

/* Fills ev from the groups of rule x that matched rec. */
static int
match_fill(struct sw_matcher *m, const struct sw_extract *x,
    const struct sw_record *rec, struct sw_event *ev)
{
	const struct sw_line	*l = &rec->env;
	size_t			 n;

	memset(ev, 0, offsetof(struct sw_event, host));
	ev->when = l->when;
	ev->kind = x->kind;
	ev->dir = x->dir;
	ev->mta = x->mta_set ? x->mta : l->mta;
	ev->rule = x;
	ev->pid = l->pid;
	ev->flags = rec->cut ? SW_EVF_CUT : 0;
	n = l->hostlen < sizeof(ev->host) ? l->hostlen : sizeof(ev->host) - 1;
	memcpy(ev->host, l->host != NULL ? l->host : "", n);
	ev->host[n] = '\0';
	cap_copy(m, x->cap[SW_CAP_ADDR], ev->addr, sizeof(ev->addr), rec,
	    &ev->flags);
	if (ev->addr[0] != '\0' && !addr_valid(ev->addr))
		return -1;
	cap_copy(m, x->cap[SW_CAP_NAME], ev->name, sizeof(ev->name), rec,
	    &ev->flags);
	cap_copy(m, x->cap[SW_CAP_RELAY], ev->relay, sizeof(ev->relay), rec,
	    &ev->flags);
	cap_copy(m, x->cap[SW_CAP_MECH], ev->mech, sizeof(ev->mech), rec,
	    &ev->flags);
	cap_copy(m, x->cap[SW_CAP_REPLY], ev->reply, sizeof(ev->reply), rec,
	    &ev->flags);
	cap_copy(m, x->cap[SW_CAP_QUEUE], ev->queue, sizeof(ev->queue), rec,
	    &ev->flags);
	n = cap_copy(m, x->cap[SW_CAP_ACCOUNT], ev->account,
	    sizeof(ev->account), rec, &ev->flags);
	if (ev->mta == SW_MTA_EXIM)
		n = decode_exim(ev->account, n);
	ev->accountlen = n;
	if (n > 0 && strcmp(ev->account, "(unavailable)") != 0)
		ev->flags |= SW_EVF_ACCOUNT;
	else
		ev->account[0] = '\0', ev->accountlen = 0;
	if (ev->dir == SW_DIR_CLIENT)
		match_reply_clean(ev->reply);
	return 0;
}

/*
 * Exim via syslog writes reject-log lines twice: of the n copies of rec
 * (n > 1 for rsyslog's "message repeated"), returns how many are
 * failures, the others being the copies that pair with the one before
 * (1, 0, 1, 0 ... after a line that is not, 0, 1, 0 ... after one).
 */
static unsigned int
match_twice(struct sw_matcher *m, const struct sw_record *rec,
    unsigned int n)
{
	struct dup_slot	*s = NULL;
	uint64_t	 h;
	unsigned int	 i;

	h = fnv64(FNV64_INIT, rec->env.host, rec->env.hostlen);
	h = fnv64(h, "\n", 1);
	h = fnv64(h, rec->text, rec->len);
	for (i = 0; i < DUP_SLOTS; i++)
		if (m->dups[i].pid == rec->env.pid && m->dups[i].hash != 0)
			s = &m->dups[i];
	if (s != NULL && s->open && s->hash == h) {
		s->open = n % 2 == 0;	/* the copies pair off after it */
		return n / 2;
	}
	if (s == NULL) {
		s = &m->dups[m->nextdup];
		m->nextdup = (m->nextdup + 1) % DUP_SLOTS;
	}
	s->pid = rec->env.pid;
	s->hash = h;
	s->open = n % 2 == 1;
	return (n + 1) / 2;
}

/*
 * A recipient line that does not name the relay (Exim's "== RCPT ...
 * defer (-42): authentication required ...", written by the delivery
 * process while its transport child wrote the failure) takes the relay
 * and address of the latest failure for the same message on the host.
 */
static void
match_relay_of(struct sw_matcher *m, struct sw_event *ev)
{
	struct attempt	*a = NULL;
	unsigned int	 i;

	for (i = 0; i < ATTEMPT_SLOTS; i++)
		if (m->attempts[i].queue[0] != '\0' &&
		    strcmp(m->attempts[i].queue, ev->queue) == 0 &&
		    strcmp(m->attempts[i].host, ev->host) == 0 &&
		    (a == NULL || m->attempts[i].when > a->when))
			a = &m->attempts[i];
	if (a == NULL)
		return;
	memcpy(ev->relay, a->relay, sizeof(ev->relay));
	if (ev->addr[0] == '\0')
		memcpy(ev->addr, a->addr, sizeof(ev->addr));
}

/*
 * Recipients of one failed delivery attempt (same process, queue id,
 * relay, relay address, kind and second) make one failure, or one
 * trouble; the others are affected, as are Exim's further authenticators
 * of the same attempt.  A relay name with several addresses rejects
 * once per address tried (Postfix logs all but the last without a
 * recipient): each address is a rejection of its own.  Several delivery
 * processes interleave, so the last attempt of each is kept.
 */
static void
match_attempt(struct sw_matcher *m, struct sw_event *ev)
{
	struct attempt	*a = NULL;
	unsigned int	 i;

	if (ev->kind == SW_EV_AFFECTED && ev->dir == SW_DIR_CLIENT &&
	    ev->relay[0] == '\0' && ev->queue[0] != '\0') {
		match_relay_of(m, ev);
		return;
	}
	if ((ev->kind != SW_EV_FAILURE && ev->kind != SW_EV_TROUBLE) ||
	    ev->dir != SW_DIR_CLIENT || ev->queue[0] == '\0')
		return;
	for (i = 0; i < ATTEMPT_SLOTS && a == NULL; i++)
		if (m->attempts[i].queue[0] != '\0' &&
		    m->attempts[i].pid == ev->pid &&
		    strcmp(m->attempts[i].host, ev->host) == 0)
			a = &m->attempts[i];
	if (a != NULL && a->when == ev->when && a->kind == ev->kind &&
	    strcmp(a->queue, ev->queue) == 0 &&
	    strcmp(a->relay, ev->relay) == 0 &&
	    strcmp(a->addr, ev->addr) == 0) {
		ev->kind = SW_EV_AFFECTED;
		ev->flags |= SW_EVF_DUP;
		return;
	}
	if (a == NULL) {
		a = &m->attempts[m->nextattempt];
		m->nextattempt = (m->nextattempt + 1) % ATTEMPT_SLOTS;
	}
	a->pid = ev->pid;
	a->when = ev->when;
	a->kind = ev->kind;
	memcpy(a->queue, ev->queue, sizeof(a->queue));
	memcpy(a->relay, ev->relay, sizeof(a->relay));
	memcpy(a->addr, ev->addr, sizeof(a->addr));
	memcpy(a->host, ev->host, sizeof(a->host));
}

/* Runs rule x on rec; 1 matched, 0 not (a limit hit counts as not). */
static int
match_run(struct sw_matcher *m, const struct sw_extract *x,
    const struct sw_record *rec)
{
	int	 rc;

	rc = pcre2_match(x->re, (PCRE2_SPTR)rec->text, rec->len, 0, 0,
	    m->md, m->rs->mc);
	if (rc >= 0)
		return 1;
	if (rc != PCRE2_ERROR_NOMATCH)
		log_debug("rule %s: pcre2 error %d at line %lu", x->id, rc,
		    rec->lineno);
	return 0;
}

/*
 * 1 when rule x yields deliveries (client-side successes) and none in
 * rec can count: no relay watched (relayset.c) is named in it.  The
 * pattern is not run then.
 */
static int
match_unwatched(const struct sw_matcher *m, const struct sw_extract *x,
    const struct sw_record *rec)
{
	return m->opt.relays != NULL && x->dir == SW_DIR_CLIENT &&
	    x->kind == SW_EV_SUCCESS &&
	    !relayset_maybe(m->opt.relays, rec->text, rec->len);
}

/*
 * Matches rec against the rules.  Returns SW_MATCH_EVENT with *ev set,
 * ev->repeat the number of events it stands for (1, or up to the N of
 * rsyslog's "message repeated N times"), SW_MATCH_DUP (every copy was
 * Exim's), SW_MATCH_IGNORED or SW_MATCH_ELSEWHERE (a delivery through
 * a relay not watched) with ev->rule set, or SW_MATCH_NONE.  With a
 * relay set, each event updates it in log order.  The rules in rec->miss
 * are passed over: the front end found none of their literals.
 */
int
match_record(struct sw_matcher *m, const struct sw_record *rec,
    struct sw_event *ev)
{
	const struct sw_extract	*x;
	const unsigned char	*ok;
	size_t			 i;
	unsigned int		 n = rec->env.repeat > 0 ? rec->env.repeat : 1;

	if (rec->env.tag == NULL)
		return SW_MATCH_NONE;
	ok = match_programs(m, rec->env.tag, rec->env.taglen);
	for (i = 0; i < m->rs->nextracts; i++) {
		x = &m->rs->extracts[i];
		if (!ok[i] || (i < 64 && (rec->miss >> i & 1)) ||
		    !match_literals(x, rec))
			continue;
		if (match_unwatched(m, x, rec)) {
			ev->rule = x;
			return SW_MATCH_ELSEWHERE;
		}
		if (!match_run(m, x, rec))
			continue;
		if (x->ignore) {
			ev->rule = x;
			return SW_MATCH_IGNORED;
		}
		if (match_fill(m, x, rec, ev) == -1)
			return SW_MATCH_NONE;	/* not an address: no event */
		if (x->twice && m->opt.exim_syslog_dup &&
		    rec->env.fmt != SW_FMT_EXIM &&
		    (n = match_twice(m, rec, n)) == 0) {
			ev->flags |= SW_EVF_DUP;
			return SW_MATCH_DUP;
		}
		ev->repeat = n;
		match_attempt(m, ev);
		if (m->opt.relays != NULL && !relayset_event(m->opt.relays, ev))
			return SW_MATCH_ELSEWHERE;
		ev->diag = rules_diagnose_memo(m->rs, ev, m->dmd, m->memo);
		return SW_MATCH_EVENT;
	}
	return SW_MATCH_NONE;
}

/*
 * Runs rule x on rec again and calls cb(arg, name, value, len) for each
 * named group that took part, in name order (PCRE2 keeps its name table sorted).  Returns the number of
 * groups reported, or -1 when the rule does not match.
 */
int
match_captures(const struct sw_rules *rs, const struct sw_extract *x,
    const struct sw_record *rec, sw_capture_cb cb, void *arg)
{
	pcre2_match_data	*md;
	PCRE2_SPTR		 tab;
	PCRE2_SIZE		*ov;
	uint32_t		 n, size, i;
	int			 g, count = 0;

	md = pcre2_match_data_create_from_pattern(x->re, NULL);
	if (md == NULL)
		fatalx("pcre2: out of memory");
	if (pcre2_match(x->re, (PCRE2_SPTR)rec->text, rec->len, 0, 0, md,
	    rs->mc) < 0) {
		pcre2_match_data_free(md);
		return -1;
	}
	ov = pcre2_get_ovector_pointer(md);
	pcre2_pattern_info(x->re, PCRE2_INFO_NAMECOUNT, &n);
	pcre2_pattern_info(x->re, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(x->re, PCRE2_INFO_NAMETABLE, &tab);
	for (i = 0; i < n; i++, tab += size) {
		g = (tab[0] << 8) | tab[1];
		if (ov[2 * g] == PCRE2_UNSET)
			continue;
		cb(arg, (const char *)tab + 2, rec->text + ov[2 * g],
		    ov[2 * g + 1] - ov[2 * g]);
		count++;
	}
	pcre2_match_data_free(md);
	return count;
}

/* 1 when an unmatched record still looks like it is about AUTH. */
int
match_mentions_auth(const struct sw_record *rec)
{
	static const char *const words[] = {
		"uthenticat", "AUTH", "SASL", "sasl", "535 ", "535-", NULL
	};
	static struct sw_literal lits[6];	/* set at the first call */
	static int		 ready;
	size_t			 i;

	for (i = 0; !ready && words[i] != NULL; i++)
		rules_literal(words[i], &lits[i]);
	ready = 1;
	for (i = 0; words[i] != NULL; i++)
		if (match_lit(rec, words[i], &lits[i]))
			return 1;
	return 0;
}

/*
 * The matcher's memory of repeats (Exim syslog copies, the recipients of
 * one delivery attempt) as bytes, so a checkpoint can carry it: after a
 * restart a repeat of a line counted before the restart is still
 * recognised.  Format: "SWM3", then each dup slot (pid, hash, open) and
 * each attempt slot (pid, time, kind, then queue, relay, address and host
 * as strings with their NUL), then the two ring positions; integers
 * as the host has them (the blob never leaves the machine).
 */
#define STATE_MAGIC	"SWM3"

static unsigned char *
state_put(unsigned char *p, const void *v, size_t n)
{
	memcpy(p, v, n);
	return p + n;
}

static unsigned char *
state_puts(unsigned char *p, const char *s)
{
	return state_put(p, s, strlen(s) + 1);
}

/* Sets *out to a malloc'ed blob; returns its length. */
size_t
match_state_save(const struct sw_matcher *m, unsigned char **out)
{
	const struct attempt	*a;
	unsigned char		*buf, *p;
	unsigned int		 i;

	buf = xmalloc(4 + sizeof(m->dups) + sizeof(m->attempts) + 8 +
	    ATTEMPT_SLOTS);
	p = state_put(buf, STATE_MAGIC, 4);
	for (i = 0; i < DUP_SLOTS; i++) {
		p = state_put(p, &m->dups[i].pid, sizeof(pid_t));
		p = state_put(p, &m->dups[i].hash, sizeof(uint64_t));
		*p++ = (unsigned char)m->dups[i].open;
	}
	for (i = 0; i < ATTEMPT_SLOTS; i++) {
		a = &m->attempts[i];
		p = state_put(p, &a->pid, sizeof(pid_t));
		p = state_put(p, &a->when, sizeof(time_t));
		*p++ = (unsigned char)a->kind;
		p = state_puts(p, a->queue);
		p = state_puts(p, a->relay);
		p = state_puts(p, a->addr);
		p = state_puts(p, a->host);
	}
	*p++ = (unsigned char)m->nextdup;
	*p++ = (unsigned char)m->nextattempt;
	*out = buf;
	return (size_t)(p - buf);
}

/* Reads n bytes, or a string bounded by max; NULL when short. */
static const unsigned char *
state_get(const unsigned char *p, const unsigned char *end, void *v, size_t n)
{
	if (p == NULL || (size_t)(end - p) < n)
		return NULL;
	memcpy(v, p, n);
	return p + n;
}

static const unsigned char *
state_gets(const unsigned char *p, const unsigned char *end, char *s,
    size_t max)
{
	const unsigned char	*nul;

	if (p == NULL || (nul = memchr(p, '\0', (size_t)(end - p))) == NULL ||
	    (size_t)(nul - p) >= max)
		return NULL;
	memcpy(s, p, (size_t)(nul - p) + 1);
	return nul + 1;
}

/*
 * Restores what match_state_save() wrote.  Returns 0, or -1 when the
 * blob is not one (another version): the matcher is then left fresh.
 */
int
match_state_load(struct sw_matcher *m, const unsigned char *buf, size_t n)
{
	const unsigned char	*p = buf, *end = buf + n;
	struct dup_slot		 dups[DUP_SLOTS];
	struct attempt		 att[ATTEMPT_SLOTS];
	unsigned char		 open = 0, kind = 0, next[2] = { 0, 0 };
	unsigned int		 i;

	memset(dups, 0, sizeof(dups));
	memset(att, 0, sizeof(att));
	if (n < 4 || memcmp(buf, STATE_MAGIC, 4) != 0)
		return -1;
	p += 4;
	for (i = 0; i < DUP_SLOTS; i++) {
		p = state_get(p, end, &dups[i].pid, sizeof(pid_t));
		p = state_get(p, end, &dups[i].hash, sizeof(uint64_t));
		p = state_get(p, end, &open, 1);
		dups[i].open = open;
	}
	for (i = 0; i < ATTEMPT_SLOTS; i++) {
		p = state_get(p, end, &att[i].pid, sizeof(pid_t));
		p = state_get(p, end, &att[i].when, sizeof(time_t));
		p = state_get(p, end, &kind, 1);
		att[i].kind = kind == SW_EV_TROUBLE ? SW_EV_TROUBLE :
		    SW_EV_FAILURE;
		p = state_gets(p, end, att[i].queue, sizeof(att[i].queue));
		p = state_gets(p, end, att[i].relay, sizeof(att[i].relay));
		p = state_gets(p, end, att[i].addr, sizeof(att[i].addr));
		p = state_gets(p, end, att[i].host, sizeof(att[i].host));
	}
	p = state_get(p, end, next, 2);
	if (p != end || next[0] >= DUP_SLOTS || next[1] >= ATTEMPT_SLOTS)
		return -1;
	memcpy(m->dups, dups, sizeof(dups));
	memcpy(m->attempts, att, sizeof(att));
	m->nextdup = next[0];
	m->nextattempt = next[1];
	return 0;
}
