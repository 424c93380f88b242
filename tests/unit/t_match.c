/*
 * t_match.c -- the matcher: what is copied into an event and what is not
 * (unknown accounts, bad addresses, overlong fields), Exim's octal
 * escapes, the two kinds of repeat it collapses (Exim's syslog copy of a
 * line, the recipients of one failed delivery attempt), reply cleaning,
 * look-alikes, and the match limit.  Records come from join.c, exactly
 * as the daemon makes them; the rules are written to a temporary
 * directory.
 */

#include "../../daemon/match.c"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static const char	 rules_text[] =
	"[extract pf-lookalike]\n"
	"program   = postfix*/smtpd\n"
	"direction = server\n"
	"event     = none\n"
	"literal   = lost connection after AUTH\n"
	"pattern   = ^lost connection after AUTH from (?<name>[^\\s\\[\\]]++)"
	"\\[(?<addr>[0-9A-Fa-f:.]++)\\]\n"
	"\n"
	/* DESIGN.md section 5, with the groups the matcher copies. */
	"[extract pf-server-failed]\n"
	"program   = postfix*/smtpd\n"
	"direction = server\n"
	"event     = failure\n"
	"literal   = SASL\n"
	"pattern   = ^warning: (?<name>[^[\\s]*)\\[(?<addr>[0-9A-Fa-f:.]+)\\]"
	"(?::\\d+)?: SASL (?<mech>[-\\w]+) authentication failed: "
	"(?<reply>.*?)(?:, sasl_username=(?<account>.*))?$\n"
	"\n"
	"[extract pf-client-failed]\n"
	"program   = postfix*/smtp\n"
	"direction = client\n"
	"event     = failure\n"
	"literal   = (SASL authentication failed; server\n"
	"pattern   = ^(?<queue>[0-9A-Za-z]{5,32}+): to=<[^<>]*+>, "
	"relay=(?<relay>[^\\s\\[\\],]++)\\[(?<addr>[0-9A-Fa-f:.]++)\\]:\\d++,"
	"(?: [a-z_]++=[^\\s,]*+,)*+ status=deferred \\(SASL authentication "
	"failed; server \\k<relay>\\[\\k<addr>\\] said: (?<reply>.*)\\)$\n"
	"\n"
	"[extract ex-server-failed]\n"
	"program   = exim*\n"
	"mta       = exim\n"
	"direction = server\n"
	"event     = failure\n"
	"twice     = yes\n"
	"literal   = authenticator failed for\n"
	"pattern   = ^(?<mech>[^\\s:]{1,64}+) authenticator failed for "
	"(?:(?<name>[^\\s()\\[\\]]{1,255}+) )?(?:\\([^()]{0,255}+\\) )?"
	"\\[(?<addr>[0-9A-Fa-f:.]{2,45}+)\\](?::\\d{1,5}+)?: "
	"(?<reply>535 Incorrect authentication data)"
	"(?: \\(set_id=(?<account>.*)\\))?$\n"
	"\n"
	/* Exactly 64 characters: the longest tag parse.c takes. */
	"[extract long-tag]\n"
	"program   = ????????????????????????????????"
	"????????????????????????????????\n"
	"direction = server\n"
	"event     = failure\n"
	"pattern   = ^tagtest from (?<addr>\\S++)$\n"
	"\n"
	"[extract slow]\n"
	"program   = slowtag\n"
	"direction = server\n"
	"event     = failure\n"
	"pattern   = ^(?:\\w+\\s?)*$\n"
	"\n"
	"[diagnosis d-535]\n"
	"direction = client\n"
	"reply     = ^535[- ]5\\.7\\.8\\b\n"
	"summary   = s\n"
	"cause     = c\n"
	"fix       = 50% f\n";

#define NRES	16

struct res {
	int		 rc;
	struct sw_event	 ev;
};

static struct res		 R[NRES];
static size_t			 NR;
static struct sw_matcher	*M;
static struct sw_join		*J;
static char			 base[] = "/tmp/t_match.XXXXXX";

static void
on_record(void *arg, const struct sw_record *rec)
{
	(void)arg;
	if (NR < NRES) {
		memset(&R[NR].ev, 0xa5, sizeof(R[NR].ev));
		R[NR].rc = match_record(M, rec, &R[NR].ev);
		if (R[NR].rc == SW_MATCH_NONE)
			R[NR].ev.rule = NULL;
	}
	NR++;
}

/*
 * Runs lines (NULL-terminated) through the joiner, from exactly sized
 * heap copies, with m; returns the number of records.
 */
static size_t
run(struct sw_matcher *m, int cut, const char *first, ...)
{
	va_list		 ap;
	const char	*s;
	char		*buf;
	size_t		 len;

	NR = 0;
	M = m;
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *)) {
		len = strlen(s);
		buf = xmalloc(len);
		memcpy(buf, s, len);
		join_line(J, buf, len, cut);
		join_flush(J);
		free(buf);
	}
	va_end(ap);
	return NR;
}

/* The result of a single line; R[0].ev holds its event. */
static int
one(struct sw_matcher *m, const char *line)
{
	return run(m, 0, line, (const char *)NULL) == 1 ? R[0].rc : -1;
}

static const char *
rule_id(const struct sw_event *ev)
{
	return ev->rule != NULL ? ev->rule->id : "(none)";
}

static const struct sw_extract *
extract_named(const struct sw_rules *rs, const char *id)
{
	size_t	 i;

	for (i = 0; i < rs->nextracts; i++)
		if (strcmp(rs->extracts[i].id, id) == 0)
			return &rs->extracts[i];
	fatalx("no extract %s", id);
}

#define PF	"Nov 28 04:08:29 mx1 postfix/smtpd[4242]: warning: "
#define EX	"Nov 28 04:08:29 mx1 exim[1234]: dovecot_login authenticator " \
		"failed for (x) [192.0.2.7]: 535 Incorrect authentication data"

static void
test_fields(struct sw_matcher *m)
{
	struct sw_event	*ev = &R[0].ev;
	char		 line[1024];

	CHECK_INT(one(m, "Nov 28 04:08:29 mx1 postfix/submission/smtpd[4242]: "
	    "warning: c.example.net[203.0.113.9]:587: SASL LOGIN "
	    "authentication failed: UGFzc3dvcmQ6, "
	    "sasl_username=alice@example.org"), SW_MATCH_EVENT);
	CHECK_STR(rule_id(ev), "pf-server-failed");
	CHECK_INT(ev->kind, SW_EV_FAILURE);
	CHECK_INT(ev->dir, SW_DIR_SERVER);
	CHECK_INT(ev->mta, SW_MTA_POSTFIX);
	CHECK_INT(ev->flags, SW_EVF_ACCOUNT);
	CHECK_INT(ev->when, check_utc(2026, 11, 28, 4, 8, 29));
	CHECK_INT(ev->pid, 4242);
	CHECK_STR(ev->host, "mx1");
	CHECK_STR(ev->addr, "203.0.113.9");
	CHECK_STR(ev->name, "c.example.net");
	CHECK_STR(ev->mech, "LOGIN");
	CHECK_STR(ev->reply, "UGFzc3dvcmQ6");
	CHECK_STR(ev->account, "alice@example.org");
	CHECK_INT(ev->accountlen, 17);
	CHECK_STR(ev->relay, "");
	CHECK_STR(ev->queue, "");
	CHECK(ev->diag == NULL);

	/* IPv6, no account logged. */
	CHECK_INT(one(m, PF "unknown[2001:db8::1]: SASL PLAIN authentication "
	    "failed: authentication failure"), SW_MATCH_EVENT);
	CHECK_STR(ev->addr, "2001:db8::1");
	CHECK_STR(ev->name, "unknown");
	CHECK_STR(ev->reply, "authentication failure");
	CHECK_INT(ev->flags, 0);
	CHECK_STR(ev->account, "");
	CHECK_INT(ev->accountlen, 0);

	/* "(unavailable)" and empty: no account. */
	CHECK_INT(one(m, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "failed: (reason unavailable), sasl_username=(unavailable)"),
	    SW_MATCH_EVENT);
	CHECK_INT(ev->flags & SW_EVF_ACCOUNT, 0);
	CHECK_STR(ev->account, "");
	CHECK_INT(ev->accountlen, 0);
	CHECK_STR(ev->reply, "(reason unavailable)");
	CHECK_INT(one(m, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "failed: x, sasl_username="), SW_MATCH_EVENT);
	CHECK_INT(ev->flags & SW_EVF_ACCOUNT, 0);
	CHECK_INT(ev->accountlen, 0);
	/* Only the exact string means unknown. */
	CHECK_INT(one(m, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "failed: x, sasl_username=(unavailable)x"), SW_MATCH_EVENT);
	CHECK_INT(ev->flags & SW_EVF_ACCOUNT, SW_EVF_ACCOUNT);
	CHECK_STR(ev->account, "(unavailable)x");

	/* An injected ", sasl_username=" is part of the account. */
	CHECK_INT(one(m, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "failed: authentication failure, sasl_username=alice, "
	    "sasl_username=root"), SW_MATCH_EVENT);
	CHECK_STR(ev->account, "alice, sasl_username=root");
	CHECK_INT(ev->accountlen, 25);
	CHECK_STR(ev->reply, "authentication failure");
	CHECK_INT(ev->flags, SW_EVF_ACCOUNT);

	/* Octal escapes are Exim's: a Postfix account keeps them. */
	CHECK_INT(one(m, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "failed: x, sasl_username=j\\303\\274rgen"), SW_MATCH_EVENT);
	CHECK_STR(ev->account, "j\\303\\274rgen");
	CHECK_INT(ev->accountlen, 13);

	/* Not an address: no event, and the next line is fine. */
	CHECK_INT(one(m, PF "unknown[999.1.1.1]: SASL LOGIN authentication "
	    "failed: x"), SW_MATCH_NONE);
	CHECK_INT(one(m, PF "unknown[1.2.3]: SASL LOGIN authentication "
	    "failed: x"), SW_MATCH_NONE);
	CHECK_INT(one(m, PF "unknown[:::]: SASL LOGIN authentication "
	    "failed: x"), SW_MATCH_NONE);
	CHECK_INT(one(m, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "failed: x"), SW_MATCH_EVENT);

	/* An overlong account is cut and flagged. */
	snprintf(line, sizeof(line), PF "unknown[192.0.2.1]: SASL LOGIN "
	    "authentication failed: x, sasl_username=%0400d", 7);
	CHECK_INT(one(m, line), SW_MATCH_EVENT);
	CHECK_INT(ev->accountlen, SW_ACCOUNT_MAX - 1);
	CHECK_INT(strlen(ev->account), SW_ACCOUNT_MAX - 1);
	CHECK_INT(ev->account[0], '0');
	CHECK_INT(ev->flags, SW_EVF_ACCOUNT | SW_EVF_CUT);
	/* ... so is a long mechanism name. */
	snprintf(line, sizeof(line), PF "unknown[192.0.2.1]: SASL %040d "
	    "authentication failed: x", 5);
	CHECK_INT(one(m, line), SW_MATCH_EVENT);
	CHECK_INT(strlen(ev->mech), SW_MECH_MAX - 1);
	CHECK_INT(ev->flags, SW_EVF_CUT);

	/* A line the reader cut: the event says so. */
	CHECK_INT(run(m, 1, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "failed: x", (const char *)NULL), 1);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[0].ev.flags, SW_EVF_CUT);

	/* Look-alikes, other programs, no tag. */
	CHECK_INT(one(m, "Nov 28 04:08:29 mx1 postfix/smtpd[5]: lost "
	    "connection after AUTH from unknown[192.0.2.1]"), SW_MATCH_IGNORED);
	CHECK_STR(rule_id(ev), "pf-lookalike");
	CHECK_INT(one(m, "Nov 28 04:08:29 mx1 postfix/smtp[5]: warning: "
	    "unknown[192.0.2.1]: SASL LOGIN authentication failed: x"),
	    SW_MATCH_NONE);
	CHECK_INT(one(m, "Nov 28 04:08:29 mx1 sshd[5]: warning: "
	    "unknown[192.0.2.1]: SASL LOGIN authentication failed: x"),
	    SW_MATCH_NONE);
	CHECK_INT(one(m, "warning: unknown[192.0.2.1]: SASL LOGIN "
	    "authentication failed: x"), SW_MATCH_NONE);
	CHECK_INT(one(m, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "aborted"), SW_MATCH_NONE);

	/* A tag of SW_TAG_MAX bytes is matched as itself. */
	CHECK_INT(one(m, "Nov 28 04:08:29 mx1 "
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"
	    "[9]: tagtest from 192.0.2.9"), SW_MATCH_EVENT);
	CHECK_STR(rule_id(ev), "long-tag");
	CHECK_STR(ev->addr, "192.0.2.9");
}

static void
test_exim(const struct sw_rules *rs, struct sw_matcher *m)
{
	struct sw_matchopt	 opt;
	struct sw_matcher	*m0;
	struct sw_event		*ev = &R[0].ev;

	/* Octal escapes decoded to bytes. */
	CHECK_INT(one(m, "Nov 28 04:08:29 mx1 exim[77]: dovecot_login "
	    "authenticator failed for (x) [192.0.2.7]: 535 Incorrect "
	    "authentication data (set_id=j\\303\\274rgen)"), SW_MATCH_EVENT);
	CHECK_STR(rule_id(ev), "ex-server-failed");
	CHECK_INT(ev->mta, SW_MTA_EXIM);
	CHECK_MEM(ev->account, ev->accountlen, "j\xc3\xbcrgen", 7);
	CHECK_INT(ev->account[7], '\0');
	CHECK_INT(ev->flags, SW_EVF_ACCOUNT);
	CHECK_STR(ev->addr, "192.0.2.7");
	CHECK_STR(ev->mech, "dovecot_login");
	CHECK_STR(ev->reply, "535 Incorrect authentication data");
	CHECK_INT(ev->pid, 77);
	CHECK_INT(one(m, "Nov 28 04:08:29 mx1 exim[78]: x authenticator "
	    "failed for [192.0.2.7]: 535 Incorrect authentication data "
	    "(set_id=a\\000b\\400\\30)"), SW_MATCH_EVENT);
	CHECK_MEM(ev->account, ev->accountlen, "a\0b\\400\\30", 10);

	/* Exim via syslog: a line and its copy from one pid. */
	CHECK_INT(run(m, 0, EX " (set_id=bob)", EX " (set_id=bob)",
	    (const char *)NULL), 2);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].rc, SW_MATCH_DUP);
	CHECK_INT(R[1].ev.flags & SW_EVF_DUP, SW_EVF_DUP);
	CHECK_STR(R[1].ev.account, "bob");
	CHECK_INT(run(m, 0, EX " (set_id=eve)", EX " (set_id=eve)",
	    EX " (set_id=eve)", EX " (set_id=eve)", (const char *)NULL), 4);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].rc, SW_MATCH_DUP);
	CHECK_INT(R[2].rc, SW_MATCH_EVENT);
	CHECK_INT(R[3].rc, SW_MATCH_DUP);
	CHECK_INT(R[2].ev.flags & SW_EVF_DUP, 0);
	/* A different line in between is no copy. */
	CHECK_INT(run(m, 0, EX " (set_id=x1)", EX " (set_id=x2)",
	    EX " (set_id=x1)", (const char *)NULL), 3);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].rc, SW_MATCH_EVENT);
	CHECK_INT(R[2].rc, SW_MATCH_EVENT);
	/* The same line from two processes: two events. */
	CHECK_INT(run(m, 0, EX " (set_id=carol)",
	    "Nov 28 04:08:29 mx1 exim[1235]: dovecot_login authenticator "
	    "failed for (x) [192.0.2.7]: 535 Incorrect authentication data "
	    "(set_id=carol)", (const char *)NULL), 2);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].rc, SW_MATCH_EVENT);
	/* ... or two hosts. */
	CHECK_INT(run(m, 0, EX " (set_id=dan)",
	    "Nov 28 04:08:29 mx2 exim[1234]: dovecot_login authenticator "
	    "failed for (x) [192.0.2.7]: 535 Incorrect authentication data "
	    "(set_id=dan)", (const char *)NULL), 2);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].rc, SW_MATCH_EVENT);
	/* The mainlog has no copies: both lines count. */
	CHECK_INT(run(m, 0, "2026-11-28 04:08:29 [1234] dovecot_login "
	    "authenticator failed for (x) [192.0.2.7]: 535 Incorrect "
	    "authentication data (set_id=bob)", "2026-11-28 04:08:29 [1234] "
	    "dovecot_login authenticator failed for (x) [192.0.2.7]: 535 "
	    "Incorrect authentication data (set_id=bob)", (const char *)NULL),
	    2);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].ev.pid, 1234);
	CHECK_STR(R[1].ev.host, "");

	/* exim-syslog-duplication no: every line counts. */
	opt.exim_syslog_dup = 0;
	opt.relays = NULL;
	m0 = matcher_new(rs, &opt);
	CHECK_INT(run(m0, 0, EX " (set_id=bob)", EX " (set_id=bob)",
	    (const char *)NULL), 2);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].rc, SW_MATCH_EVENT);
	CHECK_INT(R[1].ev.flags & SW_EVF_DUP, 0);
	matcher_free(m0);
	m0 = matcher_new(rs, NULL);
	CHECK_INT(run(m0, 0, EX " (set_id=bob)", EX " (set_id=bob)",
	    (const char *)NULL), 2);
	CHECK_INT(R[1].rc, SW_MATCH_EVENT);
	matcher_free(m0);
}

#define CL(...)		CLH_("mx1", __VA_ARGS__)
#define CLH(...)	CLH_(__VA_ARGS__)
#define CLH_(host, pid, sec, queue, rcpt, relay, addr, reply)		\
	"Nov 28 04:08:" sec " " host " postfix/smtp[" pid "]: " queue ": to=<" \
	rcpt ">, relay=" relay "[" addr "]:587, delay=1.2, "		\
	"delays=0.1/0/1/0, dsn=4.7.8, status=deferred (SASL authentication " \
	"failed; server " relay "[" addr "] said: " reply ")"
#define GMAIL	"smtp.gmail.com", "142.250.1.108"
#define GREPLY	"535-5.7.8 Username and Password not accepted. Learn more " \
		"at?535 5.7.8  https://support.google.com/mail/" \
		"?p=BadCredentials a640c23a62f3a-a9e4f0b6c8bsm1234567866b.28 " \
		"- gsmtp"
#define GCLEAN	"535-5.7.8 Username and Password not accepted. Learn more " \
		"at 535 5.7.8 https://support.google.com/mail/?p=BadCredentials"

static void
test_client(struct sw_matcher *m)
{
	struct sw_event	*ev = &R[0].ev;

	CHECK_INT(one(m, CL("2222", "29", "4F3A21234", "bob@example.org",
	    GMAIL, GREPLY)), SW_MATCH_EVENT);
	CHECK_STR(rule_id(ev), "pf-client-failed");
	CHECK_INT(ev->kind, SW_EV_FAILURE);
	CHECK_INT(ev->dir, SW_DIR_CLIENT);
	CHECK_INT(ev->flags, 0);
	CHECK_STR(ev->queue, "4F3A21234");
	CHECK_STR(ev->relay, "smtp.gmail.com");
	CHECK_STR(ev->addr, "142.250.1.108");
	CHECK_STR(ev->reply, GCLEAN);
	CHECK(ev->diag != NULL && strcmp(ev->diag->id, "d-535") == 0);

	/* Other recipients of the same attempt. */
	CHECK_INT(run(m, 0,
	    CL("2222", "29", "4F3A21234", "carol@example.org", GMAIL, GREPLY),
	    CL("2222", "29", "4F3A21234", "dave@example.org", GMAIL, GREPLY),
	    (const char *)NULL), 2);
	CHECK_INT(R[0].rc, SW_MATCH_EVENT);
	CHECK_INT(R[0].ev.kind, SW_EV_AFFECTED);
	CHECK_INT(R[0].ev.flags & SW_EVF_DUP, SW_EVF_DUP);
	CHECK_INT(R[1].ev.kind, SW_EV_AFFECTED);
	/* The next second is the next attempt. */
	CHECK_INT(run(m, 0,
	    CL("2222", "30", "4F3A21234", "bob@example.org", GMAIL, GREPLY),
	    CL("2222", "30", "4F3A21234", "carol@example.org", GMAIL, GREPLY),
	    (const char *)NULL), 2);
	CHECK_INT(R[0].ev.kind, SW_EV_FAILURE);
	CHECK_INT(R[0].ev.flags & SW_EVF_DUP, 0);
	CHECK_INT(R[1].ev.kind, SW_EV_AFFECTED);
	/* Another queue id, another process, another relay. */
	CHECK_INT(run(m, 0,
	    CL("2222", "30", "9B1C05678", "bob@example.org", GMAIL, GREPLY),
	    CL("3333", "30", "9B1C05678", "bob@example.org", GMAIL, GREPLY),
	    CL("2222", "30", "9B1C05678", "eve@example.org", GMAIL, GREPLY),
	    CL("2222", "30", "9B1C05678", "eve@example.org",
		"smtp.office365.com", "52.96.1.2", "535 5.7.3 x"),
	    (const char *)NULL), 4);
	CHECK_INT(R[0].ev.kind, SW_EV_FAILURE);
	CHECK_INT(R[1].ev.kind, SW_EV_FAILURE);
	CHECK_INT(R[2].ev.kind, SW_EV_AFFECTED);
	CHECK_INT(R[3].ev.kind, SW_EV_FAILURE);
	CHECK(R[3].ev.diag == NULL);
	/* The same pid on another host is another process. */
	CHECK_INT(run(m, 0,
	    CL("5555", "32", "7D2E09ABC", "bob@example.org", GMAIL, GREPLY),
	    CLH("mx2", "5555", "32", "7D2E09ABC", "bob@example.org", GMAIL,
		GREPLY),
	    CLH("mx2", "5555", "32", "7D2E09ABC", "eve@example.org", GMAIL,
		GREPLY),
	    (const char *)NULL), 3);
	CHECK_INT(R[0].ev.kind, SW_EV_FAILURE);
	CHECK_INT(R[1].ev.kind, SW_EV_FAILURE);
	CHECK_STR(R[1].ev.host, "mx2");
	CHECK_INT(R[2].ev.kind, SW_EV_AFFECTED);

	/* Microsoft's server stamp goes. */
	CHECK_INT(one(m, CL("4444", "31", "AB12CD34EF", "x@example.org",
	    "smtp.office365.com", "52.96.1.2", "535 5.7.139 Authentication "
	    "unsuccessful, the user credentials were incorrect. "
	    "[SN4PR0601CA0012.namprd06.prod.outlook.com 2026-11-28T04:08:31."
	    "000Z 08DD0F2A1B2C3D4E]")), SW_MATCH_EVENT);
	CHECK_STR(ev->reply, "535 5.7.139 Authentication unsuccessful, the "
	    "user credentials were incorrect.");

	/* Server-side reasons are kept as they are. */
	CHECK_INT(one(m, PF "unknown[192.0.2.1]: SASL LOGIN authentication "
	    "failed: a?535 b  c - gsmtp"), SW_MATCH_EVENT);
	CHECK_STR(ev->reply, "a?535 b  c - gsmtp");
}

/* match_reply_clean(in) gives want; failures name the caller's line. */
#define clean(in, want)	clean_at((in), (want), __LINE__)

static void
clean_at(const char *in, const char *want, int line)
{
	char	 buf[SW_REPLY_MAX];

	snprintf(buf, sizeof(buf), "%s", in);
	match_reply_clean(buf);
	check_mem(buf, strlen(buf), want, strlen(want), "match_reply_clean(in)",
	    "want", __FILE__, line);
}

static void
test_helpers(void)
{
	char	 buf[64];
	size_t	 n;

	clean(GREPLY, GCLEAN);
	clean("a?535-5.7.8 b", "a 535-5.7.8 b");
	clean("a?421 b", "a 421 b");
	clean("a?621 b", "a?621 b");
	clean("a?4211 b", "a?4211 b");
	clean("what?no", "what?no");
	clean("a?53 b", "a?53 b");
	clean("a?5355 b", "a?5355 b");
	clean("a  b   c", "a b c");
	clean("535 x 123abc - gsmtp", "535 x");
	clean("535 x - gsmtp.", "535 x - gsmtp.");
	clean("535 5.7.139 Authentication unsuccessful [SN4PR.namprd06.prod."
	    "outlook.com 2026-11-28T04:08:31.000Z 08DD]",
	    "535 5.7.139 Authentication unsuccessful");
	clean("535 5.7.3 x [AM0PR.eurprd04.prod.exchangelabs.com]",
	    "535 5.7.3 x");
	clean("535 x [not microsoft]", "535 x [not microsoft]");
	clean("[BN1.prod.outlook.com]", "[BN1.prod.outlook.com]");
	clean("535 x [a.outlook.com] tail", "535 x [a.outlook.com] tail");
	clean("", "");
	clean("?", "?");
	clean("?535", "?535");

	memcpy(buf, "j\\303\\274rgen", 14);
	n = decode_exim(buf, 13);
	CHECK_MEM(buf, n, "j\xc3\xbcrgen", 7);
	memcpy(buf, "\\101\\102", 9);
	n = decode_exim(buf, 8);
	CHECK_MEM(buf, n, "AB", 2);
	memcpy(buf, "\\400\\08\\1", 10);
	n = decode_exim(buf, 9);
	CHECK_MEM(buf, n, "\\400\\08\\1", 9);
	/* string_printing()'s letters (Exim test/log/3403: set_id=userx\n) */
	memcpy(buf, "userx\\n\\t\\r\\b\\v\\f", 18);
	n = decode_exim(buf, 17);
	CHECK_MEM(buf, n, "userx\n\t\r\b\v\f", 11);
	/* a backslash before anything else, or last, stays */
	memcpy(buf, "a\\\\z\\q\\", 8);
	n = decode_exim(buf, 7);
	CHECK_MEM(buf, n, "a\\\\z\\q\\", 7);

	CHECK_INT(addr_valid("192.0.2.1"), 1);
	CHECK_INT(addr_valid("2001:db8::1"), 1);
	CHECK_INT(addr_valid("::ffff:192.0.2.1"), 1);
	CHECK_INT(addr_valid("fe80::1%eth0"), 1);
	CHECK_INT(addr_valid("999.1.1.1"), 0);
	CHECK_INT(addr_valid("1.2.3"), 0);
	CHECK_INT(addr_valid("01.2.3.4"), 0);
	CHECK_INT(addr_valid(""), 0);
	CHECK_INT(addr_valid("%eth0"), 0);
	CHECK_INT(addr_valid("fe80:0000:0000:0000:0000:0000:0000:0000:0000:"
	    "0000:0000:0001%eth0"), 0);
}

struct caps {
	char	 names[SW_CAP_N * 2][16];
	char	 vals[SW_CAP_N * 2][64];
	int	 n;
};

static void
on_cap(void *arg, const char *name, const char *val, size_t len)
{
	struct caps	*c = arg;

	if (c->n < SW_CAP_N * 2) {
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", name);
		snprintf(c->vals[c->n], sizeof(c->vals[0]), "%.*s", (int)len,
		    val);
	}
	c->n++;
}

static const char *
cap_value(const struct caps *c, const char *name)
{
	int	 i;

	for (i = 0; i < c->n && i < SW_CAP_N * 2; i++)
		if (strcmp(c->names[i], name) == 0)
			return c->vals[i];
	return NULL;
}

static struct sw_record *
record(struct sw_record *rec, const char *text)
{
	memset(rec, 0, sizeof(*rec));
	rec->text = text;
	rec->len = strlen(text);
	return rec;
}

static void
test_misc(const struct sw_rules *rs, struct sw_matcher *m)
{
	const struct sw_extract	*x;
	struct sw_record	 rec;
	struct caps		 c;
	pcre2_match_data	*md;
	struct sw_rules		*rs1;
	struct sw_matcher	*m1;
	char			*line, tag[32];
	char			*dir = base;
	int			 rc, i, bad;

	/* Named groups, again, for explain. */
	x = extract_named(rs, "pf-server-failed");
	memset(&c, 0, sizeof(c));
	CHECK_INT(match_captures(rs, x, record(&rec, "warning: unknown"
	    "[192.0.2.1]: SASL LOGIN authentication failed: x, "
	    "sasl_username=bob"), on_cap, &c), 5);
	CHECK_STR(cap_value(&c, "addr"), "192.0.2.1");
	CHECK_STR(cap_value(&c, "account"), "bob");
	CHECK_STR(cap_value(&c, "reply"), "x");
	memset(&c, 0, sizeof(c));
	CHECK_INT(match_captures(rs, x, record(&rec, "warning: unknown"
	    "[192.0.2.1]: SASL LOGIN authentication failed: x"), on_cap, &c),
	    4);
	CHECK(cap_value(&c, "account") == NULL);
	CHECK_INT(match_captures(rs, x, record(&rec, "nothing"), on_cap, &c),
	    -1);

	/* Words that make an unmatched line worth a look. */
	CHECK_INT(match_mentions_auth(record(&rec, "SASL PLAIN "
	    "authentication failed")), 1);
	CHECK_INT(match_mentions_auth(record(&rec, "Authentication "
	    "unsuccessful")), 1);
	CHECK_INT(match_mentions_auth(record(&rec, "after AUTH from x")), 1);
	CHECK_INT(match_mentions_auth(record(&rec, "said: 535 x")), 1);
	CHECK_INT(match_mentions_auth(record(&rec, "said: 535-5.7.8")), 1);
	CHECK_INT(match_mentions_auth(record(&rec, "pam: sasl")), 1);
	CHECK_INT(match_mentions_auth(record(&rec, "connect from x[1.2.3.4]")),
	    0);
	CHECK_INT(match_mentions_auth(record(&rec, "said: 5350")), 0);
	CHECK_INT(match_mentions_auth(record(&rec, "")), 0);
	record(&rec, "xx SASL");
	rec.len = 5;
	CHECK_INT(match_mentions_auth(&rec), 0);

	/* More program tags than the cache holds. */
	bad = 0;
	for (i = 0; i < 3 * TAG_CACHE; i++) {
		snprintf(tag, sizeof(tag), "postfix%d/smtpd", i % (TAG_CACHE +
		    5));
		line = NULL;
		if (asprintf(&line, "Nov 28 04:08:29 mx1 %s[1]: warning: "
		    "unknown[192.0.2.1]: SASL LOGIN authentication failed: x",
		    tag) == -1)
			fatal("asprintf");
		if (one(m, line) != SW_MATCH_EVENT)
			bad++;
		free(line);
		if (one(m, "Nov 28 04:08:29 mx1 sshd[1]: warning: "
		    "unknown[192.0.2.1]: SASL LOGIN authentication failed: x") !=
		    SW_MATCH_NONE)
			bad++;
	}
	CHECK_INT(bad, 0);

	/* A pathological line: the limit stops the pattern, no event. */
	line = xmalloc(60 * 1024 + 64);
	i = snprintf(line, 64, "Nov 28 04:08:29 mx1 slowtag[1]: ");
	memset(line + i, 'a', 60 * 1024);
	strcpy(line + i + 60 * 1024, "!");
	CHECK_INT(one(m, line), SW_MATCH_NONE);
	x = extract_named(rs, "slow");
	md = pcre2_match_data_create_from_pattern(x->re, NULL);
	rc = pcre2_match(x->re, (PCRE2_SPTR)line + i, 60 * 1024 + 1, 0, 0, md,
	    rs->mc);
	CHECK(rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT);
	/* The same without the JIT. */
	rules_nojit = 1;
	rc = rules_load(&dir, 1, &rs1);
	rules_nojit = 0;
	if (CHECK_INT(rc, 0)) {
		CHECK_INT(rs1->jit, 0);
		m1 = matcher_new(rs1, NULL);
		CHECK_INT(one(m1, line), SW_MATCH_NONE);
		x = extract_named(rs1, "slow");
		rc = pcre2_match(x->re, (PCRE2_SPTR)line + i, 60 * 1024 + 1, 0,
		    0, md, rs1->mc);
		CHECK(rc == PCRE2_ERROR_MATCHLIMIT ||
		    rc == PCRE2_ERROR_DEPTHLIMIT ||
		    rc == PCRE2_ERROR_HEAPLIMIT);
		/* ... and a short line still matches. */
		CHECK_INT(one(m1, "Nov 28 04:08:29 mx1 slowtag[1]: a b c"),
		    SW_MATCH_EVENT);
		matcher_free(m1);
		rules_free(rs1);
	}
	pcre2_match_data_free(md);
	free(line);
	CHECK_INT(one(m, "Nov 28 04:08:29 mx1 slowtag[1]: a b c"),
	    SW_MATCH_EVENT);
}

int
main(void)
{
	struct sw_rules		*rs;
	struct sw_matcher	*m;
	struct sw_matchopt	 opt;
	char			 path[512];
	char			*dir = base;
	FILE			*fp;

	setenv("TZ", "UTC", 1);
	tzset();
	if (mkdtemp(base) == NULL)
		fatal("mkdtemp");
	snprintf(path, sizeof(path), "%s/10-m.rules", base);
	if ((fp = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs(rules_text, fp);
	fclose(fp);
	if (rules_load(&dir, 1, &rs) == -1)
		fatalx("rules_load");

	J = join_new(check_utc(2026, 11, 28, 12, 0, 0), on_record, NULL);
	opt.exim_syslog_dup = 1;
	opt.relays = NULL;
	m = matcher_new(rs, &opt);
	test_fields(m);
	test_exim(rs, m);
	test_client(m);
	test_helpers();
	test_misc(rs, m);
	matcher_free(m);
	join_free(J);
	rules_free(rs);
	nftw(base, check_rm, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
