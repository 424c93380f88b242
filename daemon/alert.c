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
 *
 * Entries are not written when incident.c decides them: each is built
 * at once (its incident changes) and kept in an outbox, which the
 * daemon commits with the batch that decided them and writes only once
 * that commit succeeded (see the outbox below).  Two more kinds are no
 * incident's: the summary of a minute's folded entries and incidents
 * (alerts-folded), and the notice that client incidents are being
 * folded to make room (summarising).  One more is for a firewall
 * (address-hostile): its MESSAGE is the address and words of ours only,
 * as fail2ban reads nothing else of an entry.
 */

#include <sys/stat.h>
#include <sys/uio.h>

#include <ctype.h>
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
#define FIELD_MAX	2048	/* one attacker-typed field */
#define FIELDS_MAX	64
#define TEXT_MAX	(64 * 1024)	/* all fields of one entry */
#define LOCAL_MAX	8	/* local findings of a relay entry */

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
	[SW_AL_ALERTS_FOLDED] =
	    { "alerts-folded", "068d4380a9f542e1848cbb05288c3821",
	    LOG_WARNING },
	[SW_AL_SUMMARISING] =
	    { "summarising", "2747d77f1de04479829c1357766ab998",
	    LOG_WARNING },
	[SW_AL_ADDRESS_HOSTILE] =
	    { "address-hostile", "22cea61603ba45d4ab8db71e898296bd",
	    LOG_INFO },
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

/* Escaped s, at most max bytes shown; "..." ends a text cut short. */
static void
alert_vis(char *dst, size_t size, const char *s, size_t len, size_t max)
{
	size_t	 lim = size < max + 1 ? size : max + 1;
	size_t	 n;

	n = str_vis(dst, lim, s, len);
	if (n < str_vis_len(s, len) && lim > 4) {
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

/*
 * Attacker-typed text: its exact bytes, which journald keeps whatever
 * they are (journalctl FIELD=value finds them), at most FIELD_MAX of
 * them, cut on a character.
 */
static void
entry_bytes(struct entry *e, const char *name, const char *v, size_t len)
{
	if (len > 0)
		entry_add(e, name, v, utf8_cut(v, len, FIELD_MAX));
}

static void
entry_num(struct entry *e, const char *name, uint64_t v)
{
	char	 buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	entry_str(e, name, buf);
}

/* A span of seconds as a person reads it: "1 hour", "15 minutes". */
static void
entry_span(struct entry *e, const char *name, long long secs)
{
	char	 buf[64];

	span_text(buf, sizeof(buf), secs);
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

/*
 * "hostile address 203.0.113.7: brute-force, incident 12": the address
 * first, then nothing a client typed (a filter reads MESSAGE alone).
 */
static void
hostile_message(char *dst, size_t size, const struct sw_alert *a)
{
	snprintf(dst, size, "hostile address %s: %s, incident %" PRId64,
	    a->addr, a->diag != NULL ? a->diag->id : "attack", a->inc->id);
}

/* An address-hostile entry's fields: no attacker-typed text either. */
static void
entry_hostile(struct entry *e, const struct sw_alert *a)
{
	entry_str(e, "SMTPWATCH_ADDR", a->addr);
	entry_bytes(e, "SMTPWATCH_HOST", a->inc->host, strlen(a->inc->host));
	entry_num(e, "SMTPWATCH_INCIDENT", (uint64_t)a->inc->id);
	entry_str(e, "SMTPWATCH_INCIDENT_KIND",
	    a->inc->kind == SW_INC_ADDRESS ? "address" : "account");
	if (a->diag != NULL)
		entry_str(e, "SMTPWATCH_DIAGNOSIS", a->diag->id);
	entry_time(e, "SMTPWATCH_LAST", a->last);
}

/*
 * " Here: smtp_sasl_password_maps ... is older ...; run: postmap ...":
 * the first local finding (relaynote.c), after the provider's advice.
 */
static void
local_message(char *dst, size_t size, const struct relayfind *f)
{
	const char	*code, *text, *fix;
	char		 t[512], x[512];
	size_t		 n = strlen(dst);

	if (relaycheck_count(f) == 0)
		return;
	relaycheck_get(f, 0, &code, &text, &fix);
	alert_vis(t, sizeof(t), text, strlen(text), sizeof(t) - 1);
	if (fix != NULL)
		alert_vis(x, sizeof(x), fix, strlen(fix), sizeof(x) - 1);
	snprintf(dst + n, size - n, " Here: %s%s%s.", t, fix != NULL ?
	    "; run: " : "", fix != NULL ? x : "");
}

/* The local findings' fields: code, what is wrong, its fix. */
static void
entry_local(struct entry *e, const struct relayfind *f)
{
	const char	*code, *text, *fix;
	char		 name[48];
	size_t		 i, n = relaycheck_count(f);

	if (n == 0)
		return;
	entry_num(e, "SMTPWATCH_LOCAL_FINDINGS", n);
	for (i = 0; i < n && i < LOCAL_MAX; i++) {
		relaycheck_get(f, i, &code, &text, &fix);
		snprintf(name, sizeof(name), "SMTPWATCH_LOCAL_CODE_%zu", i + 1);
		entry_str(e, name, code);
		snprintf(name, sizeof(name), "SMTPWATCH_LOCAL_FINDING_%zu",
		    i + 1);
		entry_bytes(e, name, text, strlen(text));
		if (fix == NULL)
			continue;
		snprintf(name, sizeof(name), "SMTPWATCH_LOCAL_FIX_%zu", i + 1);
		entry_bytes(e, name, fix, strlen(fix));
	}
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
	char	 from[SW_ADDR_MAX * 2 + SW_NET_MAX + 64], rep[224], rhythm[64];
	char	 on[SW_HOSTS_MAX * 4 + 16], logins[SW_ADDR_MAX * 2 + 160];
	char	 when[160];

	subject_text(subj, sizeof(subj), inc);
	hosts_text(on, sizeof(on), inc);
	logins_text(logins, sizeof(logins), inc);
	alert_vis(addr, sizeof(addr), inc->addr, strlen(inc->addr),
	    SW_ADDR_MAX);
	if (inc->addresses <= 1)
		snprintf(from, sizeof(from), "from %s", addr);
	else if (a->networks == 1 && a->network[0] != '\0')
		snprintf(from, sizeof(from), "from %u addresses in %s (last "
		    "%s)", inc->addresses, a->network, addr);
	else if (a->networks > 1)
		snprintf(from, sizeof(from), "from %u addresses in %u networks "
		    "(last %s)", inc->addresses, a->networks, addr);
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

/*
 * "address 203.0.113.7", or for a network's incident "network
 * 2001:db8:1:2::/64 (40 addresses, last 2001:db8:1:2::9)".
 */
static void
address_text(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + 8], addr[SW_ADDR_MAX * 2];

	subject_text(subj, sizeof(subj), inc);
	if (a->network[0] == '\0') {
		snprintf(dst, size, "address %s", subj);
		return;
	}
	alert_vis(addr, sizeof(addr), inc->addr, strlen(inc->addr),
	    SW_ADDR_MAX);
	snprintf(dst, size, "network %s (%u address%s, last %s)", subj,
	    inc->addresses, inc->addresses == 1 ? "" : "es", addr);
}

static void
what_address(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_incident *inc = a->inc;
	char	 subj[SHOWN_MAX + SW_ADDR_MAX * 2 + 64], win[48], rep[224];
	char	 on[SW_HOSTS_MAX * 4 + 16], when[160];

	address_text(subj, sizeof(subj), a);
	hosts_text(on, sizeof(on), inc);
	if (a->repeat) {
		repeat_text(rep, sizeof(rep), a);
		snprintf(dst, size, "%s still failing AUTH on many "
		    "accounts%s: %s", subj, on, rep);
		return;
	}
	alert_span(win, sizeof(win), a);
	when_text(when, sizeof(when), a);
	snprintf(dst, size, "%s failed AUTH on %u accounts%s%s "
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

/* "2026-11-28 04:00 UTC": the minute t in local time, with the zone. */
static void
minute_text(char *dst, size_t size, time_t t)
{
	struct tm	 tm;

	localtime_r(&t, &tm);
	if (strftime(dst, size, "%Y-%m-%d %H:%M %Z", &tm) == 0)
		dst[0] = '\0';
}

static const char *
inc_kind_name(enum sw_inc_kind k)
{
	switch (k) {
	case SW_INC_RELAY:
		return "relay";
	case SW_INC_ACCOUNT:
		return "account";
	case SW_INC_ADDRESS:
		return "address";
	default:
		return "backend";
	}
}

/* "900 address-spraying, 300 account-failing": the folded entries. */
static void
fold_kinds_text(char *dst, size_t size, const struct sw_fold *f)
{
	size_t	 k, n = 0;

	dst[0] = '\0';
	for (k = 0; k < SW_AL_NKINDS && n < size; k++)
		if (f->kinds[k] > 0)
			n += (size_t)snprintf(dst + n, size - n, "%s%lu %s",
			    n > 0 ? ", " : "", f->kinds[k], kinds[k].name);
}

/* "address 203.0.113.7 (3000), account bob (12)": the top subjects. */
static void
fold_top_text(char *dst, size_t size, const struct sw_fold *f)
{
	char	 subj[SHOWN_MAX + 8];
	size_t	 i, n = 0;

	dst[0] = '\0';
	for (i = 0; i < f->ntop && n < size; i++) {
		alert_vis(subj, sizeof(subj), f->top[i].subject,
		    f->top[i].subjectlen, SHOWN_MAX);
		n += (size_t)snprintf(dst + n, size - n, "%s%s %s (%" PRIu64
		    ")", n > 0 ? ", " : "", f->top[i].kind == SW_INC_ADDRESS &&
		    memchr(f->top[i].subject, '/', f->top[i].subjectlen) !=
		    NULL ? "network" : inc_kind_name(f->top[i].kind), subj,
		    f->top[i].failures);
	}
}

/*
 * A minute's summary: "alerts folded in the minute of 2026-11-28 04:00
 * UTC: 1200 client entries past 60 a minute (...); 40 incidents folded
 * to make room (10000 open at most); 5200 failures between ... and ...;
 * most: network 2001:db8:1:2::/64 (3000), ..."
 */
static void
what_folded(char *dst, size_t size, const struct sw_alert *a)
{
	const struct sw_fold	*f = a->fold;
	char	 minute[48], k[256], top[SW_FOLD_TOP * (SHOWN_MAX + 40)];
	char	 when[160];
	size_t	 n;

	minute_text(minute, sizeof(minute), f->minute);
	fold_kinds_text(k, sizeof(k), f);
	fold_top_text(top, sizeof(top), f);
	when_text(when, sizeof(when), a);
	n = (size_t)snprintf(dst, size, "alerts folded in the minute of %s",
	    minute);
	if (f->entries > 0 && n < size)
		n += (size_t)snprintf(dst + n, size - n, ": %lu client "
		    "entr%s past %lu a minute (%s)", f->entries,
		    f->entries == 1 ? "y" : "ies", f->budget, k);
	if (f->incidents > 0 && n < size)
		n += (size_t)snprintf(dst + n, size - n, "%s%lu incident%s "
		    "folded to make room (%lu open at most)", f->entries > 0 ?
		    "; " : ": ", f->incidents, f->incidents == 1 ? "" : "s",
		    f->capacity);
	if (f->failures > 0 && n < size)
		n += (size_t)snprintf(dst + n, size - n, "; %" PRIu64
		    " failure%s %s", f->failures, f->failures == 1 ? "" : "s",
		    when);
	if (top[0] != '\0' && n < size)
		snprintf(dst + n, size - n, "; most: %s", top);
}

static void
what_summarising(char *dst, size_t size, const struct sw_alert *a)
{
	snprintf(dst, size, "%lu client incidents open, the most kept "
	    "(client-incidents): from now on the one whose latest failure is "
	    "the oldest is folded into the minute's summary to make room; "
	    "relay and back-end incidents are never folded",
	    a->fold->open);
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

	if (a->kind == SW_AL_ADDRESS_HOSTILE) {
		hostile_message(dst, size, a);
		return;
	}
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
	case SW_AL_ALERTS_FOLDED:
		what_folded(what, n, a);
		break;
	case SW_AL_SUMMARISING:
		what_summarising(what, n, a);
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
	if (a->kind == SW_AL_RELAY_REJECTED)
		local_message(dst, size, a->local);
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
	entry_bytes(e, "SMTPWATCH_HOST", inc->host, strlen(inc->host));
	if (inc->hosts[0] != '\0')
		entry_bytes(e, "SMTPWATCH_HOSTS", inc->hosts, strlen(inc->hosts));
	switch (inc->kind) {
	case SW_INC_RELAY:
		subjfield = "SMTPWATCH_RELAY";
		if (a->credential != NULL)
			entry_bytes(e, "SMTPWATCH_ACCOUNT", a->credential,
			    strlen(a->credential));
		else
			entry_bytes(e, "SMTPWATCH_ACCOUNT", inc->subject,
			    inc->subjectlen);
		entry_num(e, "SMTPWATCH_MESSAGES", inc->messages);
		break;
	case SW_INC_ACCOUNT:
		subjfield = "SMTPWATCH_ACCOUNT";
		entry_num(e, "SMTPWATCH_ADDRESSES", inc->addresses);
		if (a->networks > 0)
			entry_num(e, "SMTPWATCH_NETWORKS", a->networks);
		entry_str(e, "SMTPWATCH_NETWORK", a->network);
		if (inc->logins == 0)
			break;
		entry_num(e, "SMTPWATCH_LOGINS", inc->logins);
		entry_bytes(e, "SMTPWATCH_LOGIN_ADDR", inc->login_addr,
		    strlen(inc->login_addr));
		entry_time(e, "SMTPWATCH_LOGIN_TIME", inc->login_last);
		break;
	case SW_INC_ADDRESS:
		subjfield = "SMTPWATCH_ADDR";
		entry_num(e, "SMTPWATCH_ACCOUNTS", inc->accounts);
		if (a->network[0] == '\0')
			break;
		entry_str(e, "SMTPWATCH_NETWORK", a->network);
		entry_num(e, "SMTPWATCH_ADDRESSES", inc->addresses);
		entry_bytes(e, "SMTPWATCH_LAST_ADDR", inc->addr,
		    strlen(inc->addr));
		break;
	default:
		subjfield = NULL;
		break;
	}
	if (subjfield != NULL)
		entry_bytes(e, subjfield, inc->subject, inc->subjectlen);
	if (inc->kind != SW_INC_ADDRESS) {
		if (a->addr != NULL)
			entry_bytes(e, "SMTPWATCH_ADDR", a->addr,
			    strlen(a->addr));
		else
			entry_bytes(e, "SMTPWATCH_ADDR", inc->addr,
			    strlen(inc->addr));
	}
	entry_bytes(e, "SMTPWATCH_REPLY", inc->reply, strlen(inc->reply));
	entry_num(e, "SMTPWATCH_COUNT", a->count);
	entry_num(e, "SMTPWATCH_TOTAL", inc->failures);
	if (a->window > 0) {
		entry_num(e, "SMTPWATCH_WINDOW", (uint64_t)a->window);
		entry_span(e, "SMTPWATCH_WINDOW_TEXT", a->window);
	}
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
		entry_span(e, "SMTPWATCH_DURATION_TEXT",
		    a->when > inc->opened ? a->when - inc->opened : 0);
		entry_str(e, "SMTPWATCH_STATE", "closed");
	} else
		entry_str(e, "SMTPWATCH_STATE", "open");
	if (a->period > 0)
		entry_num(e, "SMTPWATCH_RHYTHM", (uint64_t)a->period);
	if (a->compromise)
		entry_str(e, "SMTPWATCH_COMPROMISE", "yes");
}

/* A summary's own fields: what was folded, in which minute. */
static void
entry_fold(struct entry *e, const struct sw_alert *a)
{
	const struct sw_fold	*f = a->fold;
	char			 name[64], v[FIELD_MAX];
	size_t			 i, k;

	entry_num(e, "SMTPWATCH_CAPACITY", f->capacity);
	entry_num(e, "SMTPWATCH_OPEN", f->open);
	entry_num(e, "SMTPWATCH_BUDGET", f->budget);
	if (a->first != 0)	/* none when no failure was told */
		entry_time(e, "SMTPWATCH_FIRST", a->first);
	if (a->last != 0)
		entry_time(e, "SMTPWATCH_LAST", a->last);
	if (a->caught_up)
		entry_str(e, "SMTPWATCH_CAUGHT_UP", "1");
	if (a->kind != SW_AL_ALERTS_FOLDED)
		return;
	entry_time(e, "SMTPWATCH_MINUTE", f->minute);
	entry_num(e, "SMTPWATCH_SENT", f->sent);
	entry_num(e, "SMTPWATCH_FOLDED", f->entries);
	entry_num(e, "SMTPWATCH_FOLDED_INCIDENTS", f->incidents);
	entry_num(e, "SMTPWATCH_COUNT", f->failures);
	for (k = 0; k < SW_AL_NKINDS; k++) {
		if (f->kinds[k] == 0)
			continue;
		snprintf(name, sizeof(name), "SMTPWATCH_FOLDED_%s",
		    kinds[k].name);
		for (i = 0; name[i] != '\0'; i++)
			name[i] = name[i] == '-' ? '_' : (char)toupper(
			    (unsigned char)name[i]);
		entry_num(e, name, f->kinds[k]);
	}
	for (i = 0; i < f->ntop; i++) {
		snprintf(name, sizeof(name), "SMTPWATCH_TOP_%zu", i + 1);
		k = (size_t)snprintf(v, sizeof(v), "%lld %s %" PRIu64 " ",
		    (long long)f->top[i].id, inc_kind_name(f->top[i].kind),
		    f->top[i].failures);
		alert_vis(v + k, sizeof(v) - k, f->top[i].subject,
		    f->top[i].subjectlen, SHOWN_MAX);
		entry_str(e, name, v);
	}
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
	if (a->fold != NULL) {
		entry_fold(e, a);
		return;
	}
	if (a->kind == SW_AL_ADDRESS_HOSTILE) {
		entry_hostile(e, a);
		return;
	}
	entry_incident(e, a);
	if (a->kind == SW_AL_RELAY_REJECTED)
		entry_local(e, a->local);
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
alert_stderr(const char *kind, const char *msg, size_t len)
{
	fprintf(stderr, "smtpwatchd: %s: %.*s\n", kind, (int)len, msg);
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
 * Writes one entry, its n fields: to the journal when its socket
 * exists, else (or when the journal refuses it) its MESSAGE to stderr
 * as "smtpwatchd: KIND: MESSAGE".  Returns 1 when the journal took it.
 */
static int
entry_write(const struct iovec *iov, size_t n)
{
	static int	 warned;
	const char	*kind = "alert", *msg = "";
	char		 k[64];
	size_t		 i, len, msglen = 0;
	int		 rc;

	if (alert_journal()) {
		rc = sd_journal_sendv(iov, (int)n);
		if (rc >= 0) {
			warned = 0;
			return 1;
		}
		if (!warned)
			log_warnx("journal: %s: alerts go to stderr",
			    strerror(-rc));
		warned = 1;
	}
	for (i = 0; i < n; i++) {
		len = iov[i].iov_len;
		if (len > 8 && memcmp(iov[i].iov_base, "MESSAGE=", 8) == 0) {
			msg = (const char *)iov[i].iov_base + 8;
			msglen = len - 8;
		} else if (len > 15 && len - 15 < sizeof(k) &&
		    memcmp(iov[i].iov_base, "SMTPWATCH_KIND=", 15) == 0) {
			memcpy(k, (const char *)iov[i].iov_base + 15, len - 15);
			k[len - 15] = '\0';
			kind = k;
		}
	}
	alert_stderr(kind, msg, msglen);
	return 0;
}

/* ---------------------------------------------------------- the outbox */

/*
 * The entries decided but not yet written, each as it will be written:
 * its fields, each a 4-byte little-endian length and the bytes of
 * NAME=value.  Saved in a checkpoint row's state, each entry is led by
 * its own length the same way.  The daemon writes
 * them only after the batch that decided them is committed, with them
 * in it: an entry is never written for a batch a crash or a failed
 * commit undoes, and one a crash kept from being written is written at
 * the next start.  stored says that the committed copy holds entries.
 */
struct sw_outbox {
	unsigned char	**v;
	size_t		*len;
	size_t		 n, cap;
	size_t		 loaded;	/* the first ones: from the database */
	int		 stored;
};

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

struct sw_outbox *
outbox_new(void)
{
	return xcalloc(1, sizeof(struct sw_outbox));
}

static void
outbox_clear(struct sw_outbox *ob)
{
	size_t	 i;

	for (i = 0; i < ob->n; i++)
		free(ob->v[i]);
	ob->n = 0;
	ob->loaded = 0;
}

void
outbox_free(struct sw_outbox *ob)
{
	if (ob == NULL)
		return;
	outbox_clear(ob);
	free(ob->v);
	free(ob->len);
	free(ob);
}

/* Takes an entry of len bytes (allocated) at the end. */
static void
outbox_push(struct sw_outbox *ob, unsigned char *p, size_t len)
{
	if (ob->n == ob->cap) {
		ob->cap = ob->cap == 0 ? 16 : ob->cap * 2;
		ob->v = xreallocarray(ob->v, ob->cap, sizeof(*ob->v));
		ob->len = xreallocarray(ob->len, ob->cap, sizeof(*ob->len));
	}
	ob->v[ob->n] = p;
	ob->len[ob->n++] = len;
}

/* The entry for a, built now (its incident changes), to write later. */
void
outbox_add(struct sw_outbox *ob, const struct sw_alert *a)
{
	static struct entry	 e;
	char			 msg[4096];
	unsigned char		*p;
	size_t			 i, len = 0;

	alert_build(&e, a, msg, sizeof(msg));
	for (i = 0; i < e.n; i++)
		len += 4 + e.iov[i].iov_len;
	p = xmalloc(len);
	for (len = 0, i = 0; i < e.n; i++) {
		put32(p + len, (uint32_t)e.iov[i].iov_len);
		memcpy(p + len + 4, e.iov[i].iov_base, e.iov[i].iov_len);
		len += 4 + e.iov[i].iov_len;
	}
	outbox_push(ob, p, len);
}

size_t
outbox_count(const struct sw_outbox *ob)
{
	return ob->n;
}

/* The fields of an entry into iov; their number, 0 when it is damaged. */
static size_t
outbox_fields(const unsigned char *p, size_t len, struct iovec *iov)
{
	size_t	 n = 0, off = 0, flen;

	while (off < len) {
		if (n == FIELDS_MAX || len - off < 4)
			return 0;
		flen = get32(p + off);
		if (flen > len - off - 4)
			return 0;
		iov[n].iov_base = (void *)(uintptr_t)(p + off + 4);
		iov[n++].iov_len = flen;
		off += 4 + flen;
	}
	return n;
}

/*
 * The checkpoint row that keeps the entries with the batch, when it
 * must be written: entries wait, or the committed row still holds some.
 * Returns 1 with cp filled (checkpoint_clear() it), else 0.
 */
int
outbox_position(const struct sw_outbox *ob, struct sw_checkpoint *cp)
{
	size_t	 i, len = 0;

	memset(cp, 0, sizeof(*cp));
	if (ob->n == 0 && !ob->stored)
		return 0;
	cp->source = xstrdup(SW_OUTBOX_SOURCE);
	cp->offset = ob->n;
	cp->done = ob->n;
	for (i = 0; i < ob->n; i++)
		len += 4 + ob->len[i];
	if (len == 0)
		return 1;
	cp->state = xmalloc(len);
	cp->statelen = len;
	for (len = 0, i = 0; i < ob->n; i++) {
		put32(cp->state + len, (uint32_t)ob->len[i]);
		memcpy(cp->state + len + 4, ob->v[i], ob->len[i]);
		len += 4 + ob->len[i];
	}
	return 1;
}

/* The batch with outbox_position()'s row was committed. */
void
outbox_committed(struct sw_outbox *ob)
{
	ob->stored = ob->n > 0;
}

/*
 * Writes every entry, oldest first, and forgets them; the committed
 * row still holds them until the next commit.  cb (when not NULL) is
 * called for each entry this run decided, after it is written: not for
 * those outbox_load() took, which a run before may have passed on.
 * Returns how many were written.
 */
size_t
outbox_send(struct sw_outbox *ob, sw_outbox_cb cb, void *arg)
{
	struct iovec	 iov[FIELDS_MAX];
	size_t		 i, n, sent = ob->n;

	for (i = 0; i < ob->n; i++)
		if ((n = outbox_fields(ob->v[i], ob->len[i], iov)) > 0) {
			(void)entry_write(iov, n);
			if (cb != NULL && i >= ob->loaded)
				cb(arg, iov, n);
		}
	outbox_clear(ob);
	return sent;
}

/*
 * The entries a committed row holds (a crash kept them from being
 * written, or came before the next commit said they were): queued, to
 * be written after the next commit.  Returns how many, or -1 when the
 * row is damaged (what could be read is queued, and logged).
 */
int
outbox_load(struct sw_outbox *ob, const struct sw_checkpoint *cp)
{
	struct iovec	 iov[FIELDS_MAX];
	unsigned char	*p;
	size_t		 off = 0, len;
	int		 n = 0;

	while (off < cp->statelen) {
		if (cp->statelen - off < 4 ||
		    (len = get32(cp->state + off)) > cp->statelen - off - 4 ||
		    outbox_fields(cp->state + off + 4, len, iov) == 0) {
			log_warnx("%s: the alerts not yet written are damaged: "
			    "%d of them are written", SW_OUTBOX_SOURCE, n);
			ob->stored = 1;
			return -1;
		}
		p = xmalloc(len);
		memcpy(p, cp->state + off + 4, len);
		outbox_push(ob, p, len);
		ob->loaded = ob->n;
		off += 4 + len;
		n++;
	}
	if (n > 0 || cp->statelen > 0)
		ob->stored = 1;
	return n;
}
