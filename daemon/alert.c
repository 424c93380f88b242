/*
 * alert.c -- one journal entry per alert.  incident.c decides that an
 * incident deserves an entry; this file words it: a MESSAGE a person
 * understands at a glance (what, how often, when in local time, the
 * cause and the best fix, each cut to its first sentence), and the
 * SMTPWATCH_* fields a machine filters on, the full cause, every fix and
 * dead end among them, the times in ISO 8601 UTC.  An entry about lines
 * read late (caught_up) says "caught up: " first, carries
 * SMTPWATCH_CAUGHT_UP=1 and a priority one step lower.  Each
 * kind has its MESSAGE_ID, explained in contrib/systemd/smtpwatch.catalog
 * (journalctl -x).  Text typed by whoever connected (accounts, replies,
 * relay names) is escaped the same way in MESSAGE and in the fields, and
 * cut to a bounded length.  Without a journal socket the same words go to
 * stderr.
 */

#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "smtpwatch.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"
#define SHOWN_MAX	96	/* attacker text shown in MESSAGE */
#define FIELD_MAX	2048	/* one field, escaped */
#define FIELDS_MAX	64
#define TEXT_MAX	(64 * 1024)	/* all fields of one entry */

/* Per kind: its name, MESSAGE_ID and priority.  The catalog agrees. */
static const struct {
	const char	*name;
	const char	*id;
	int		 priority;
} kinds[SW_AL_NKINDS] = {
	[SW_AL_RELAY_REJECTED] =
	    { "relay-rejected", "1dba1267824944538f21b7ba225eff75", LOG_ERR },
	[SW_AL_RELAY_RECOVERED] =
	    { "relay-recovered", "0079238c8c6b4f99b09418fabfa5c19b",
	    LOG_NOTICE },
	[SW_AL_ACCOUNT_FAILING] =
	    { "account-failing", "062d20d0590d42c7bb2d98b35610120a",
	    LOG_WARNING },
	[SW_AL_ADDRESS_SPRAYING] =
	    { "address-spraying", "89387e59c2f14d63b80f93a944514213",
	    LOG_WARNING },
	[SW_AL_ACCOUNT_RECOVERED] =
	    { "account-recovered", "94c5a1f8941a432e84e2db33959867ce",
	    LOG_INFO },
	[SW_AL_BACKEND_DOWN] =
	    { "auth-backend-down", "0bf3b06192a54cf694d29fdc5ca702bc",
	    LOG_ERR },
	[SW_AL_BACKEND_RECOVERED] =
	    { "auth-backend-recovered", "5e170bf621924de0a60fde69333cc904",
	    LOG_NOTICE },
};

/* The entry being built: fields in one buffer, iovecs into it. */
struct entry {
	char		 text[TEXT_MAX];
	size_t		 used;
	struct iovec	 iov[FIELDS_MAX];
	size_t		 n;
	int		 priority;
};

const char *
alert_kind_name(enum sw_alert_kind k)
{
	return k < SW_AL_NKINDS ? kinds[k].name : "unknown";
}

const char *
alert_kind_id(enum sw_alert_kind k)
{
	return k < SW_AL_NKINDS ? kinds[k].id : NULL;
}

/* Bytes str_vis() needs for all of s. */
static size_t
vis_len(const char *s, size_t len)
{
	size_t		 i, n = 0;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		n += c == '\\' ? 2 : c >= 0x20 && c < 0x7f ? 1 : 4;
	}
	return n;
}

/* Escaped s, at most max bytes shown; "..." ends a text cut short. */
static void
alert_vis(char *dst, size_t size, const char *s, size_t len, size_t max)
{
	size_t	 lim = size < max + 1 ? size : max + 1;
	size_t	 n;

	n = str_vis(dst, lim, s, len);
	if (n < vis_len(s, len) && lim > 4) {
		if (n > lim - 4)
			n = lim - 4;
		memcpy(dst + n, "...", 4);
	}
}

/* Appends NAME=value (value of len bytes, taken as given). */
static void
entry_add(struct entry *e, const char *name, const char *v, size_t len)
{
	size_t	 nl = strlen(name);
	char	*p;

	if (e->n == FIELDS_MAX || e->used + nl + 1 + len > sizeof(e->text))
		return;
	p = e->text + e->used;
	memcpy(p, name, nl);
	p[nl] = '=';
	memcpy(p + nl + 1, v, len);
	e->iov[e->n].iov_base = p;
	e->iov[e->n].iov_len = nl + 1 + len;
	e->n++;
	e->used += nl + 1 + len;
}

static void
entry_str(struct entry *e, const char *name, const char *v)
{
	if (v != NULL && *v != '\0')
		entry_add(e, name, v, strlen(v));
}

/* Attacker-typed text: escaped and bounded. */
static void
entry_vis(struct entry *e, const char *name, const char *v, size_t len)
{
	char	 buf[FIELD_MAX];

	if (len == 0)
		return;
	alert_vis(buf, sizeof(buf), v, len, sizeof(buf) - 1);
	entry_str(e, name, buf);
}

static void
entry_num(struct entry *e, const char *name, uint64_t v)
{
	char	 buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	entry_str(e, name, buf);
}

/* A time as ISO 8601 in UTC, to the second: 2026-11-28T04:00:04Z. */
static void
entry_time(struct entry *e, const char *name, time_t t)
{
	struct tm	 tm;
	char		 buf[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return;
	entry_str(e, name, buf);
}

/* The first sentence of s, at most size - 1 bytes. */
static void
first_sentence(char *dst, size_t size, const char *s)
{
	const char	*p = s;
	size_t		 n;

	while ((p = strchr(p, '.')) != NULL && p[1] != '\0' && p[1] != ' ')
		p++;
	n = p != NULL ? (size_t)(p - s) : strlen(s);
	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* "535 5.7.8" from a reply, or "" when it has no code. */
static void
reply_code(char *dst, size_t size, const char *reply)
{
	const char	*p = reply;
	size_t		 n = 0;

	dst[0] = '\0';
	if (strlen(p) < 3 || p[0] < '2' || p[0] > '5' ||
	    strspn(p, "0123456789") != 3)
		return;
	n = 3;
	if ((p[3] == ' ' || p[3] == '-') && p[4] >= '2' && p[4] <= '5' &&
	    p[5] == '.')
		n = 4 + strspn(p + 4, "0123456789.");
	if (n >= size)
		return;
	memcpy(dst, p, n);
	dst[n] = '\0';
	if (n > 3)
		dst[3] = ' ';
}

/* "42 s", "5 min", "2 h 14 min", "3 d 2 h" */
void
alert_duration(char *dst, size_t size, long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(dst, size, "%ld s", secs);
	else if (secs < 3600)
		snprintf(dst, size, "%ld min", secs / 60);
	else if (secs < 86400)
		snprintf(dst, size, secs % 3600 >= 60 ? "%ld h %ld min" :
		    "%ld h", secs / 3600, secs % 3600 / 60);
	else
		snprintf(dst, size, secs % 86400 >= 3600 ? "%ld d %ld h" :
		    "%ld d", secs / 86400, secs % 86400 / 3600);
}

/* " in 12 s": the time the first entry's failures took. */
static void
alert_span(char *dst, size_t size, const struct sw_alert *a)
{
	char	 d[24];

	if (a->when <= a->inc->opened) {
		snprintf(dst, size, " within a second");
		return;
	}
	alert_duration(d, sizeof(d), (long)(a->when - a->inc->opened));
	snprintf(dst, size, " in %s", d);
}

/* "2026-11-28 04:00:04 UTC": t in local time, with the zone. */
static void
time_text(char *dst, size_t size, time_t t)
{
	struct tm	 tm;

	localtime_r(&t, &tm);
	if (strftime(dst, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		dst[0] = '\0';
}

/*
 * When the entry's failures happened, local time: "at 2026-11-28
 * 04:00:04 UTC", or "between 2026-11-28 04:00:00 and 04:00:04 UTC" (the
 * date and zone said once when both times share them).
 */
static void
when_text(char *dst, size_t size, const struct sw_alert *a)
{
	struct tm	 f, l;
	char		 first[64], last[64];
	int		 zone, day;

	if (a->last <= a->first) {
		time_text(last, sizeof(last), a->last);
		snprintf(dst, size, "at %s", last);
		return;
	}
	localtime_r(&a->first, &f);
	localtime_r(&a->last, &l);
	zone = f.tm_gmtoff == l.tm_gmtoff && f.tm_isdst == l.tm_isdst;
	day = zone && f.tm_year == l.tm_year && f.tm_yday == l.tm_yday;
	if (zone)
		strftime(first, sizeof(first), "%Y-%m-%d %H:%M:%S", &f);
	else
		time_text(first, sizeof(first), a->first);
	if (day)
		strftime(last, sizeof(last), "%H:%M:%S %Z", &l);
	else
		time_text(last, sizeof(last), a->last);
	snprintf(dst, size, "between %s and %s", first, last);
}

/*
 * "; meanwhile a login from ADDR ..." when the account logged in from
 * addresses that were not failing it while the incident was open.
 */
static void
logins_text(char *dst, size_t size, const struct sw_incident *inc)
{
	char	 addr[SW_ADDR_MAX * 2], at[64];

	dst[0] = '\0';
	if (inc->kind != SW_INC_ACCOUNT || inc->logins == 0)
		return;
	alert_vis(addr, sizeof(addr), inc->login_addr,
	    strlen(inc->login_addr), SW_ADDR_MAX);
	time_text(at, sizeof(at), inc->login_last);
	if (inc->logins == 1)
		snprintf(dst, size, "; meanwhile a login from %s, not a "
		    "failing address, at %s", addr, at);
	else
		snprintf(dst, size, "; meanwhile %u logins from addresses not "
		    "failing it, the latest from %s at %s", inc->logins, addr,
		    at);
}

/* The subject of the incident as shown: escaped, bounded. */
static void
subject_text(char *dst, size_t size, const struct sw_incident *inc)
{
	alert_vis(dst, size, inc->subject, inc->subjectlen, SHOWN_MAX);
}

/* "N more failures between ... (T in all)" for repeats. */
static void
repeat_text(char *dst, size_t size, const struct sw_alert *a)
{
	char	 when[160];

	when_text(when, sizeof(when), a);
	snprintf(dst, size, "%" PRIu64 " more failure%s %s "
	    "(%" PRIu64 " in all)", a->count, a->count == 1 ? "" : "s", when,
	    a->inc->failures);
}

/* What happened, the first part of MESSAGE. */
static void
what_relay(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + 8], cred[SHOWN_MAX + 16], code[32];
	char	 rep[224], tail[64], when[160];

	subject_text(subj, sizeof(subj), inc);
	cred[0] = '\0';
	if (a->credential != NULL)
		snprintf(cred, sizeof(cred), " for %s", a->credential);
	reply_code(code, sizeof(code), inc->reply);
	when_text(when, sizeof(when), a);
	snprintf(tail, sizeof(tail), "%" PRIu64 " message%s waiting",
	    inc->messages, inc->messages == 1 ? "" : "s");
	if (a->repeat) {
		repeat_text(rep, sizeof(rep), a);
		snprintf(dst, size, "relay %s still refuses our login%s: %s; "
		    "%s", subj, cred, rep, tail);
	} else if (a->trouble)
		snprintf(dst, size, "cannot log in to relay %s%s%s%s%s %s; %s",
		    subj, cred, code[0] ? " (" : "", code, code[0] ? ")" : "",
		    when, tail);
	else
		snprintf(dst, size, "relay %s rejected our credentials%s%s%s%s"
		    " %s; %s", subj, cred, code[0] ? " (" : "", code,
		    code[0] ? ")" : "", when, tail);
}

static void
what_relay_recovered(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + 8], dur[32], cred[SHOWN_MAX + 16];
	char	 at[64], when[160];

	subject_text(subj, sizeof(subj), inc);
	cred[0] = '\0';
	if (a->credential != NULL)
		snprintf(cred, sizeof(cred), " for %s", a->credential);
	alert_duration(dur, sizeof(dur), (long)(a->when - inc->opened));
	time_text(at, sizeof(at), a->when);
	when_text(when, sizeof(when), a);
	snprintf(dst, size, "relay %s accepts our login%s again at %s, after "
	    "%s: %" PRIu64 " message%s delayed, %" PRIu64 " failure%s %s",
	    subj, cred, at, dur, inc->messages,
	    inc->messages == 1 ? " was" : "s were", inc->failures,
	    inc->failures == 1 ? "" : "s", when);
}

/* " on hosts mx1 mx2" for a fleet incident, else "". */
static void
hosts_text(char *dst, size_t size, const struct sw_incident *inc)
{
	char	 v[SW_HOSTS_MAX * 4];

	dst[0] = '\0';
	if (inc->hosts[0] == '\0')
		return;
	alert_vis(v, sizeof(v), inc->hosts, strlen(inc->hosts), SW_HOSTS_MAX);
	snprintf(dst, size, " on hosts %s", v);
}

static void
what_account(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + 8], win[48], addr[SW_ADDR_MAX * 2];
	char	 from[SW_ADDR_MAX * 2 + 64], rep[224], rhythm[64];
	char	 on[SW_HOSTS_MAX * 4 + 16], logins[SW_ADDR_MAX * 2 + 160];
	char	 when[160];

	subject_text(subj, sizeof(subj), inc);
	hosts_text(on, sizeof(on), inc);
	logins_text(logins, sizeof(logins), inc);
	alert_vis(addr, sizeof(addr), inc->addr, strlen(inc->addr),
	    SW_ADDR_MAX);
	if (inc->addresses <= 1)
		snprintf(from, sizeof(from), "from %s", addr);
	else
		snprintf(from, sizeof(from), "from %u addresses (last %s)",
		    inc->addresses, addr);
	rhythm[0] = '\0';
	if (a->period > 0) {
		alert_duration(win, sizeof(win), a->period);
		snprintf(rhythm, sizeof(rhythm), " every %s", win);
	}
	if (a->repeat) {
		repeat_text(rep, sizeof(rep), a);
		snprintf(dst, size, "account %s still failing AUTH%s %s%s: %s%s",
		    subj, on, from, rhythm, rep, logins);
		return;
	}
	alert_span(win, sizeof(win), a);
	when_text(when, sizeof(when), a);
	snprintf(dst, size, "account %s failed AUTH%s %" PRIu64 " times%s "
	    "%s%s %s%s", subj, on, a->count, win, from, rhythm, when, logins);
}

static void
what_address(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + 8], win[48], rep[224], when[160];
	char	 on[SW_HOSTS_MAX * 4 + 16];

	subject_text(subj, sizeof(subj), inc);
	hosts_text(on, sizeof(on), inc);
	if (a->repeat) {
		repeat_text(rep, sizeof(rep), a);
		snprintf(dst, size, "address %s still failing AUTH on many "
		    "accounts%s: %s", subj, on, rep);
		return;
	}
	alert_span(win, sizeof(win), a);
	when_text(when, sizeof(when), a);
	snprintf(dst, size, "address %s failed AUTH on %u accounts%s%s "
	    "(%" PRIu64 " failures) %s", subj, inc->accounts, on, win, a->count,
	    when);
}

static void
what_account_recovered(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + 8], at[64], addr[SW_ADDR_MAX * 2];
	char	 logins[SW_ADDR_MAX * 2 + 160], when[160];
	size_t	 n;

	subject_text(subj, sizeof(subj), inc);
	logins_text(logins, sizeof(logins), inc);
	alert_vis(addr, sizeof(addr), a->addr != NULL ? a->addr : "",
	    a->addr != NULL ? strlen(a->addr) : 0, SW_ADDR_MAX);
	time_text(at, sizeof(at), a->when);
	when_text(when, sizeof(when), a);
	if (a->compromise)
		snprintf(dst, size, "account %s logged in from %s at %s, an "
		    "address that was failing it, after %" PRIu64 " failures "
		    "%s: if that was not its owner, the password is known to "
		    "an attacker; change it and check the account",
		    subj, addr[0] ? addr : "an unknown address", at,
		    inc->failures, when);
	else
		snprintf(dst, size, "account %s logged in%s%s at %s after "
		    "%" PRIu64 " failure%s %s; incident closed", subj,
		    addr[0] ? " from " : "", addr, at, inc->failures,
		    inc->failures == 1 ? "" : "s", when);
	n = strlen(dst);
	snprintf(dst + n, size - n, "%s", logins);
}

static void
what_backend(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + 8], win[48], rep[224], reply[SHOWN_MAX + 8];
	char	 when[160];

	subject_text(subj, sizeof(subj), inc);
	alert_vis(reply, sizeof(reply), inc->reply, strlen(inc->reply),
	    SHOWN_MAX);
	if (a->repeat) {
		repeat_text(rep, sizeof(rep), a);
		snprintf(dst, size, "SASL back end%s%s still failing: %s",
		    subj[0] ? " on " : "", subj, rep);
		return;
	}
	alert_span(win, sizeof(win), a);
	when_text(when, sizeof(when), a);
	snprintf(dst, size, "SASL back end%s%s failing: %" PRIu64 " client%s "
	    "refused%s (%s) %s", subj[0] ? " on " : "", subj, a->count,
	    a->count == 1 ? "" : "s", a->count == 1 ? "" : win, reply, when);
}

static void
what_backend_recovered(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + 8], dur[32], at[64], when[160];

	subject_text(subj, sizeof(subj), inc);
	alert_duration(dur, sizeof(dur), (long)(a->when - inc->opened));
	time_text(at, sizeof(at), a->when);
	when_text(when, sizeof(when), a);
	snprintf(dst, size, "SASL back end%s%s answers again: a client logged "
	    "in at %s after %s of failures (%" PRIu64 " refused %s)",
	    subj[0] ? " on " : "", subj, at, dur, inc->failures, when);
}

/*
 * MESSAGE: what happened and when, then "Cause: ... Fix: ..." when
 * diagnosed; led by "caught up: " when it happened a while ago.
 */
static void
alert_message(char *dst, size_t size, const struct sw_alert *a)
{
	char	 buf[1024], cause[512], fix[512], name[96];
	char	*what = buf;
	size_t	 n;

	if (a->caught_up)
		what += snprintf(buf, sizeof(buf), "caught up: ");
	n = sizeof(buf) - (size_t)(what - buf);
	switch (a->kind) {
	case SW_AL_RELAY_REJECTED:
		what_relay(what, n, a);
		break;
	case SW_AL_RELAY_RECOVERED:
		what_relay_recovered(what, n, a);
		break;
	case SW_AL_ACCOUNT_FAILING:
		what_account(what, n, a);
		break;
	case SW_AL_ADDRESS_SPRAYING:
		what_address(what, n, a);
		break;
	case SW_AL_ACCOUNT_RECOVERED:
		what_account_recovered(what, n, a);
		break;
	case SW_AL_BACKEND_DOWN:
		what_backend(what, n, a);
		break;
	default:
		what_backend_recovered(what, n, a);
		break;
	}
	if (a->closing) {
		n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, "; quiet since %s, "
		    "incident closed", a->quiet_since);
	}
	if (a->diag == NULL || a->kind == SW_AL_RELAY_RECOVERED ||
	    a->kind == SW_AL_BACKEND_RECOVERED ||
	    (a->kind == SW_AL_ACCOUNT_RECOVERED && !a->compromise)) {
		snprintf(dst, size, "%s.", buf);
		return;
	}
	name[0] = '\0';
	if (a->kind != SW_AL_RELAY_REJECTED && a->diag->summary != NULL)
		first_sentence(name, sizeof(name), a->diag->summary);
	first_sentence(cause, sizeof(cause), a->diag->cause != NULL ?
	    a->diag->cause : "");
	first_sentence(fix, sizeof(fix), a->diag->nfixes > 0 ?
	    a->diag->fixes[0].text : "");
	snprintf(dst, size, "%s%s%s.%s%s%s%s%s", buf, name[0] ? ": " : "",
	    name, cause[0] ? " Cause: " : "", cause, cause[0] ? "." : "",
	    fix[0] ? " Fix: " : "", fix);
	if (fix[0] && (n = strlen(dst)) + 1 < size && dst[n - 1] != '.')
		memcpy(dst + n, ".", 2);
}

/* The diagnosis: id, summary, cause, every fix and dead end. */
static void
entry_diagnosis(struct entry *e, const struct sw_diagnosis *dg)
{
	char	 name[48];
	size_t	 i;

	if (dg == NULL)
		return;
	entry_str(e, "SMTPWATCH_DIAGNOSIS", dg->id);
	entry_str(e, "SMTPWATCH_SUMMARY", dg->summary);
	entry_str(e, "SMTPWATCH_ROOT_CAUSE", dg->cause);
	for (i = 0; i < dg->nfixes; i++) {
		if (i == 0)
			snprintf(name, sizeof(name), "SMTPWATCH_FIX");
		else
			snprintf(name, sizeof(name), "SMTPWATCH_FIX_%zu", i + 1);
		entry_str(e, name, dg->fixes[i].text);
		strncat(name, "_RATE", sizeof(name) - strlen(name) - 1);
		entry_num(e, name, (uint64_t)dg->fixes[i].percent);
	}
	for (i = 0; i < dg->ndeadends; i++) {
		snprintf(name, sizeof(name), "SMTPWATCH_DEAD_END_%zu", i + 1);
		entry_str(e, name, dg->deadends[i].text);
		strncat(name, "_RATE", sizeof(name) - strlen(name) - 1);
		entry_num(e, name, (uint64_t)dg->deadends[i].percent);
	}
}

/* The incident's own fields. */
static void
entry_incident(struct entry *e, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	const char	*subjfield;

	entry_num(e, "SMTPWATCH_INCIDENT", (uint64_t)inc->id);
	entry_vis(e, "SMTPWATCH_HOST", inc->host, strlen(inc->host));
	if (inc->hosts[0] != '\0')
		entry_vis(e, "SMTPWATCH_HOSTS", inc->hosts, strlen(inc->hosts));
	switch (inc->kind) {
	case SW_INC_RELAY:
		subjfield = "SMTPWATCH_RELAY";
		if (a->credential != NULL)
			entry_vis(e, "SMTPWATCH_ACCOUNT", a->credential,
			    strlen(a->credential));
		else
			entry_vis(e, "SMTPWATCH_ACCOUNT", inc->subject,
			    inc->subjectlen);
		entry_num(e, "SMTPWATCH_MESSAGES", inc->messages);
		break;
	case SW_INC_ACCOUNT:
		subjfield = "SMTPWATCH_ACCOUNT";
		entry_num(e, "SMTPWATCH_ADDRESSES", inc->addresses);
		if (inc->logins == 0)
			break;
		entry_num(e, "SMTPWATCH_LOGINS", inc->logins);
		entry_vis(e, "SMTPWATCH_LOGIN_ADDR", inc->login_addr,
		    strlen(inc->login_addr));
		entry_time(e, "SMTPWATCH_LOGIN_TIME", inc->login_last);
		break;
	case SW_INC_ADDRESS:
		subjfield = "SMTPWATCH_ADDR";
		entry_num(e, "SMTPWATCH_ACCOUNTS", inc->accounts);
		break;
	default:
		subjfield = NULL;
		break;
	}
	if (subjfield != NULL)
		entry_vis(e, subjfield, inc->subject, inc->subjectlen);
	if (inc->kind != SW_INC_ADDRESS) {
		if (a->addr != NULL)
			entry_vis(e, "SMTPWATCH_ADDR", a->addr,
			    strlen(a->addr));
		else
			entry_vis(e, "SMTPWATCH_ADDR", inc->addr,
			    strlen(inc->addr));
	}
	entry_vis(e, "SMTPWATCH_REPLY", inc->reply, strlen(inc->reply));
	entry_num(e, "SMTPWATCH_COUNT", a->count);
	entry_num(e, "SMTPWATCH_TOTAL", inc->failures);
	if (a->window > 0)
		entry_num(e, "SMTPWATCH_WINDOW", (uint64_t)a->window);
	if (a->threshold > 0)
		entry_num(e, "SMTPWATCH_THRESHOLD", (uint64_t)a->threshold);
	entry_num(e, "SMTPWATCH_OPENED", (uint64_t)inc->opened);
	entry_time(e, "SMTPWATCH_FIRST", a->first);
	entry_time(e, "SMTPWATCH_LAST", a->last);
	if (a->caught_up)
		entry_str(e, "SMTPWATCH_CAUGHT_UP", "1");
	entry_num(e, "SMTPWATCH_REPEAT", a->repeat);
	if (inc->closed != 0 || a->closing) {
		entry_num(e, "SMTPWATCH_DURATION",
		    (uint64_t)(a->when > inc->opened ? a->when - inc->opened :
		    0));
		entry_str(e, "SMTPWATCH_STATE", "closed");
	} else
		entry_str(e, "SMTPWATCH_STATE", "open");
	if (a->period > 0)
		entry_num(e, "SMTPWATCH_RHYTHM", (uint64_t)a->period);
	if (a->compromise)
		entry_str(e, "SMTPWATCH_COMPROMISE", "yes");
}

/* Builds the whole entry for a. */
static void
alert_build(struct entry *e, const struct sw_alert *a, char *msg,
    size_t msgsize)
{
	char	 prio[4];

	e->used = e->n = 0;
	e->priority = kinds[a->kind].priority;
	if (a->caught_up && e->priority < LOG_INFO)
		e->priority++;		/* err -> warning -> notice -> info */
	if (a->compromise)
		e->priority = LOG_WARNING;	/* caught up or not */
	alert_message(msg, msgsize, a);
	snprintf(prio, sizeof(prio), "%d", e->priority);
	entry_str(e, "MESSAGE", msg);
	entry_str(e, "MESSAGE_ID", kinds[a->kind].id);
	entry_str(e, "PRIORITY", prio);
	entry_str(e, "SYSLOG_IDENTIFIER", "smtpwatchd");
	entry_str(e, "SMTPWATCH_KIND", kinds[a->kind].name);
	entry_incident(e, a);
	if (a->diag != NULL && (a->compromise ||
	    (a->kind != SW_AL_ACCOUNT_RECOVERED &&
	    a->kind != SW_AL_RELAY_RECOVERED &&
	    a->kind != SW_AL_BACKEND_RECOVERED)))
		entry_diagnosis(e, a->diag);
	else if (a->diag != NULL)
		entry_str(e, "SMTPWATCH_DIAGNOSIS", a->diag->id);
}

/* Without a journal: the same words on stderr. */
static void
alert_stderr(const char *kind, const char *msg)
{
	fprintf(stderr, "smtpwatchd: %s: %s\n", kind, msg);
	fflush(stderr);
}

/* 1 when journald's socket is there: alerts go to the journal. */
static int
alert_journal(void)
{
	struct stat	 sb;

	return stat(JOURNAL_SOCKET, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

/*
 * Writes the entry for a: to the journal when its socket exists, else
 * (or when the journal refuses it) the MESSAGE to stderr with the
 * priority prefix log.c uses.  Returns 1 when the journal took it.
 */
int
alert_send(const struct sw_alert *a)
{
	static struct entry	 e;
	static int		 warned;
	char			 msg[4096];
	int			 rc;

	alert_build(&e, a, msg, sizeof(msg));
	if (alert_journal()) {
		rc = sd_journal_sendv(e.iov, (int)e.n);
		if (rc >= 0) {
			warned = 0;
			return 1;
		}
		if (!warned)
			log_warnx("journal: %s: alerts go to stderr",
			    strerror(-rc));
		warned = 1;
	}
	alert_stderr(kinds[a->kind].name, msg);
	return 0;
}
