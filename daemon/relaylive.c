/*
 * relaylive.c -- check-relay --live: log in to the relay with the
 * credential the MTA would send, the way the MTA would (STARTTLS and
 * certificate checks as its TLS level says, its mechanism filter), and
 * print the relay's exact answers, then the diagnosis smtpwatch's rules
 * give for the answer to AUTH (rules_diagnose(), as for an alert).
 *
 * libcurl does the SMTP, STARTTLS and SASL: a transfer that uploads
 * nothing and names no recipient sends EHLO, STARTTLS, EHLO, AUTH, the
 * custom command (NOOP here) and QUIT -- never MAIL FROM, never RCPT.
 * Its debug callback hands us each line sent and received: what we
 * print.  Every line we send from AUTH on, up to the relay's final
 * answer, is shown as ******** (it carries the password in base64);
 * what the relay says is escaped, since it is remote-controlled text.
 *
 * libcurl is loaded here, with dlopen(3), and only for --live:
 * smtpwatchctl does not link it, so that every other command starts
 * without its forty libraries (2.7 % of a 1M-line scan was the dynamic
 * linker; 6 MB of RSS).  Without it, --live says which package to add.
 */

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "smtpwatch.h"

#define LIVE_CONNECT_S	15		/* connect and TLS handshake */
#define LIVE_TOTAL_S	60		/* the whole dialogue */
#define LIVE_MASK	"********"

/* Debian's libcurl4 (t_relay tries another name too). */
static const char *live_libcurl = "libcurl.so.4";

/* The libcurl functions --live calls, once loaded. */
static struct {
	void		*dl;
	int		 failed;	/* said once, not again per relay */
	CURLcode	(*global_init)(long);
	void		(*global_cleanup)(void);
	CURL		*(*easy_init)(void);
	CURLcode	(*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode	(*easy_perform)(CURL *);
	CURLcode	(*easy_getinfo)(CURL *, CURLINFO, ...);
	void		(*easy_cleanup)(CURL *);
	const char	*(*easy_strerror)(CURLcode);
} lc;

/* Sets the function pointer at fp to libcurl's name; -1 when missing. */
static int
live_sym(void *fp, const char *name)
{
	void	*p = dlsym(lc.dl, name);

	if (p == NULL) {
		log_warnx("%s has no %s: %s", live_libcurl, name, dlerror());
		return -1;
	}
	memcpy(fp, &p, sizeof(p));	/* POSIX: the same size */
	return 0;
}

/* Loads libcurl once; 0, or -1 having said (once) what to install. */
static int
live_load(void)
{
	if (lc.dl != NULL)
		return 0;
	if (lc.failed)
		return -1;
	lc.failed = 1;
	if ((lc.dl = dlopen(live_libcurl, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_warnx("check-relay --live needs libcurl (%s; on Debian: "
		    "apt install libcurl4): %s", live_libcurl, dlerror());
		return -1;
	}
	if (live_sym(&lc.global_init, "curl_global_init") == -1 ||
	    live_sym(&lc.global_cleanup, "curl_global_cleanup") == -1 ||
	    live_sym(&lc.easy_init, "curl_easy_init") == -1 ||
	    live_sym(&lc.easy_setopt, "curl_easy_setopt") == -1 ||
	    live_sym(&lc.easy_perform, "curl_easy_perform") == -1 ||
	    live_sym(&lc.easy_getinfo, "curl_easy_getinfo") == -1 ||
	    live_sym(&lc.easy_cleanup, "curl_easy_cleanup") == -1 ||
	    live_sym(&lc.easy_strerror, "curl_easy_strerror") == -1) {
		dlclose(lc.dl);
		lc.dl = NULL;
		return -1;
	}
	lc.failed = 0;
	return 0;
}

/* What the dialogue has said so far. */
struct live {
	FILE		*fp;
	int		 in_auth;	/* AUTH sent, final answer not yet */
	int		 auth_sent;
	int		 auth_ok;	/* 235 */
	char		 offered[256];	/* the last EHLO's AUTH mechanisms */
	char		 answer[SW_REPLY_MAX];	/* the relay's answer to AUTH */
};

/*
 * The mechanisms of an EHLO line "250-AUTH PLAIN LOGIN", kept: only
 * words that can be mechanism names (a fix command quotes them), one
 * blank between each.
 */
static void
live_ehlo(struct live *l, const char *s, size_t n)
{
	size_t	 i, o = 0, w;

	if (n < 9 || strncmp(s, "250", 3) != 0 ||
	    strncasecmp(s + 4, "AUTH", 4) != 0 || (s[8] != ' ' && s[8] != '='))
		return;
	for (i = 9; i < n; i += w) {
		for (w = 0; i + w < n && (isalnum((unsigned char)s[i + w]) ||
		    s[i + w] == '-' || s[i + w] == '_'); w++)
			;
		if (w > 0 && w <= 20 && o + w + 2 < sizeof(l->offered)) {
			if (o > 0)
				l->offered[o++] = ' ';
			memcpy(l->offered + o, s + i, w);
			o += w;
		}
		w = w > 0 ? w : 1;
	}
	l->offered[o] = '\0';
}

/* A line of the relay's answer to AUTH, added to l->answer. */
static void
live_answer(struct live *l, const char *s, size_t n)
{
	size_t	 have = strlen(l->answer), k;

	if (n >= 3 && strncmp(s, "334", 3) == 0)
		return;			/* a challenge, not the answer */
	if (have > 0 && have < sizeof(l->answer) - 1)
		l->answer[have++] = ' ';
	k = n < sizeof(l->answer) - 1 - have ? n : sizeof(l->answer) - 1 -
	    have;
	memcpy(l->answer + have, s, k);
	l->answer[have + k] = '\0';
	if (n >= 4 && s[3] == ' ') {	/* the last line of the reply */
		l->in_auth = 0;
		l->auth_ok = strncmp(s, "235", 3) == 0;
	}
}

/* One line from the relay: printed escaped, and understood. */
static void
live_in(struct live *l, const char *s, size_t n)
{
	fputs("  < ", l->fp);
	fput_vis(l->fp, s, n);
	fputc('\n', l->fp);
	live_ehlo(l, s, n);
	if (l->in_auth)
		live_answer(l, s, n);
}

/* One line to the relay: from AUTH to its answer, masked. */
static void
live_out(struct live *l, const char *s, size_t n)
{
	size_t	 verb;

	if (n >= 5 && strncasecmp(s, "AUTH ", 5) == 0) {
		l->in_auth = l->auth_sent = 1;
		l->answer[0] = '\0';
		verb = 5 + strcspn(s + 5, " ");
		verb = verb < n ? verb : n;
		fprintf(l->fp, "  > %.*s%s\n", (int)verb, s,
		    verb < n ? " " LIVE_MASK : "");
	} else if (l->in_auth)
		fprintf(l->fp, "  > %s\n", LIVE_MASK);
	else {
		fputs("  > ", l->fp);
		fput_vis(l->fp, s, n);
		fputc('\n', l->fp);
	}
}

/* libcurl's informational lines worth showing: the connection, TLS. */
static void
live_text(struct live *l, const char *s, size_t n)
{
	static const char *const shown[] = {
		"Connected to", "SSL connection using", "Server certificate",
		" subject:", " issuer:", "SSL certificate verify", NULL
	};
	size_t	 i;

	for (i = 0; shown[i] != NULL; i++)
		if (n >= strlen(shown[i]) && strncmp(s, shown[i],
		    strlen(shown[i])) == 0)
			break;
	if (shown[i] == NULL)
		return;
	fputs("  * ", l->fp);
	fput_vis(l->fp, s, n);
	fputc('\n', l->fp);
}

/* CURLOPT_DEBUGFUNCTION: each line of the dialogue. */
static int
live_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	struct live	*l = arg;
	size_t		 n;

	(void)h;
	while (size > 0) {
		n = 0;
		while (n < size && data[n] != '\n')
			n++;
		if (type == CURLINFO_HEADER_IN || type == CURLINFO_HEADER_OUT ||
		    type == CURLINFO_TEXT) {
			size_t	 len = n > 0 && data[n - 1] == '\r' ? n - 1 : n;

			if (type == CURLINFO_HEADER_IN)
				live_in(l, data, len);
			else if (type == CURLINFO_HEADER_OUT)
				live_out(l, data, len);
			else
				live_text(l, data, len);
		}
		n = n < size ? n + 1 : n;
		data += n;
		size -= n;
	}
	return 0;
}

/* CURLOPT_WRITEFUNCTION: the answer to NOOP was printed already. */
static size_t
live_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/*
 * AUTH=... for libcurl: the mechanisms of Postfix's filter it knows, so
 * that it chooses among those as Postfix would; "" for no filter.
 */
static void
live_mechs(const struct relayconf *rc, char *opt, size_t size)
{
	static const char *const known[] = {
		"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "NTLM", "XOAUTH2",
		"OAUTHBEARER", "EXTERNAL", "GSSAPI", NULL
	};
	char	**v;
	size_t	 n, i, j, o = 0;

	opt[0] = '\0';
	if (rc->mta != SW_MTA_POSTFIX || rc->param[PF_SASL_FILTER][0] == '\0')
		return;
	relayconf_map_split(rc->param[PF_SASL_FILTER], &v, &n);
	for (i = 0; i < n; i++)
		for (j = 0; known[j] != NULL; j++)
			if (strcasecmp(v[i], known[j]) == 0 && o < size)
				o += (size_t)snprintf(opt + o, size - o,
				    "%sAUTH=%s", o > 0 ? ";" : "", known[j]);
	strv_free(v, n);
	if (o == 0)			/* none libcurl does: a filter it */
		snprintf(opt, size, "AUTH=EXTERNAL");	/* cannot meet */
}

/* The transfer's options: where, who, and TLS as the MTA does it. */
static void
live_setopt(CURL *h, const struct relayconf *rc, const struct relay *r,
    struct live *l, char *errbuf)
{
	char		 url[1024], mechs[256];
	const char	*helo = rc->mta == SW_MTA_POSTFIX ?
	    rc->param[PF_HELO] : "";	/* Exim: libcurl's host name */

	int		 v6 = strchr(r->host, ':') != NULL;

	snprintf(url, sizeof(url), "%s://%s%s%s:%s/%s", rc->wrapper ||
	    strcmp(r->port, "465") == 0 ? "smtps" : "smtp", v6 ? "[" : "",
	    r->host, v6 ? "]" : "", r->port, helo);
	lc.easy_setopt(h, CURLOPT_URL, url);
	lc.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	lc.easy_setopt(h, CURLOPT_USERNAME, r->user);
	lc.easy_setopt(h, CURLOPT_PASSWORD, r->password);
	live_mechs(rc, mechs, sizeof(mechs));
	if (mechs[0] != '\0')
		lc.easy_setopt(h, CURLOPT_LOGIN_OPTIONS, mechs);
	lc.easy_setopt(h, CURLOPT_CUSTOMREQUEST, "NOOP");
	lc.easy_setopt(h, CURLOPT_USE_SSL, r->tls == RELAY_TLS_NONE ?
	    (long)CURLUSESSL_NONE : r->tls == RELAY_TLS_MAY ?
	    (long)CURLUSESSL_TRY : (long)CURLUSESSL_ALL);
	lc.easy_setopt(h, CURLOPT_SSL_VERIFYPEER,
	    r->tls == RELAY_TLS_VERIFY ? 1L : 0L);
	lc.easy_setopt(h, CURLOPT_SSL_VERIFYHOST,
	    r->tls == RELAY_TLS_VERIFY ? 2L : 0L);
	if (rc->cafile != NULL)
		lc.easy_setopt(h, CURLOPT_CAINFO, rc->cafile);
	if (rc->capath != NULL)
		lc.easy_setopt(h, CURLOPT_CAPATH, rc->capath);
	lc.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)LIVE_CONNECT_S);
	lc.easy_setopt(h, CURLOPT_TIMEOUT, (long)LIVE_TOTAL_S);
	lc.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	lc.easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	lc.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	lc.easy_setopt(h, CURLOPT_WRITEFUNCTION, live_discard);
	lc.easy_setopt(h, CURLOPT_VERBOSE, 1L);
	lc.easy_setopt(h, CURLOPT_DEBUGFUNCTION, live_debug);
	lc.easy_setopt(h, CURLOPT_DEBUGDATA, l);
}

/* The diagnosis smtpwatch's rules give for answer, printed. */
static void
live_diagnose(const struct relayconf *rc, const struct relay *r,
    const struct sw_rules *rs, const char *answer, FILE *fp)
{
	const struct sw_diagnosis	*d;
	struct sw_event			 ev;

	memset(&ev, 0, sizeof(ev));
	ev.dir = SW_DIR_CLIENT;
	ev.kind = answer[0] == '4' ? SW_EV_TROUBLE : SW_EV_FAILURE;
	ev.mta = rc->mta;
	snprintf(ev.relay, sizeof(ev.relay), "%s", r->host);
	snprintf(ev.reply, sizeof(ev.reply), "%s", answer);
	match_reply_clean(ev.reply);
	if (rs == NULL || (d = rules_diagnose(rs, &ev, NULL)) == NULL) {
		fprintf(fp, "  diagnosis: none of the rules applies\n");
		return;
	}
	fprintf(fp, "  diagnosis: %s (%s:%u)\n", d->id, d->file, d->line);
	diag_print(fp, d, "    ", 1);
}

/* The finding for what libcurl returned; 0 when the login succeeded. */
static int
live_result(const struct relayconf *rc, const struct relay *r,
    const struct sw_rules *rs, struct live *l, CURLcode cc,
    const char *errbuf, int oserr, struct relayfind *f)
{
	const char	*why = errbuf[0] != '\0' ? errbuf : lc.easy_strerror(cc);

	if (l->offered[0] != '\0')
		relaycheck_filter(rc, "the relay offers", l->offered, f);
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		relaycheck_add(f, "live-dns", NULL, "cannot resolve %s: the "
		    "name is not found (DNS: check the name, /etc/resolv.conf "
		    "and the resolver)", r->host);
		return 1;
	case CURLE_COULDNT_CONNECT:
		relaycheck_add(f, "live-connect", NULL, "cannot connect to %s "
		    "port %s: %s", r->host, r->port, oserr != 0 ?
		    strerror(oserr) : why);
		return 1;
	case CURLE_OPERATION_TIMEDOUT:
		relaycheck_add(f, "live-timeout", NULL, "no answer from %s port "
		    "%s in time: %s", r->host, r->port, why);
		return 1;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_USE_SSL_FAILED:
		relaycheck_add(f, "live-tls", NULL, "TLS with %s failed: %s",
		    r->host, why);
		return 1;
	case CURLE_OK:
	case CURLE_LOGIN_DENIED:
		break;
	default:
		relaycheck_add(f, "live-error", NULL, "%s: %s", r->host, why);
		return 1;
	}
	if (l->auth_ok)
		return 0;
	if (!l->auth_sent)
		snprintf(l->answer, sizeof(l->answer), "%s", l->offered[0] ?
		    "no mechanism available" :
		    "server did not advertise AUTH support");
	if (l->auth_sent)
		relaycheck_add(f, "live-auth", NULL, "the relay refused the "
		    "login: %s", l->answer);
	else
		relaycheck_add(f, "live-auth", NULL, "no login was tried: %s",
		    l->offered[0] != '\0' ? "no mechanism the relay offers is "
		    "allowed (the MTA logs \"no mechanism available\")" :
		    "the relay offers no AUTH");
	live_diagnose(rc, r, rs, l->answer, l->fp);
	return 1;
}

/*
 * Logs in to r as the MTA would, printing the dialogue on stdout.
 * Returns 0 when the login succeeded, 1 when not (a finding in f says
 * why: DNS, connection, TLS, or the relay's answer), -1 on an error of
 * our own (logged).
 */
int
relaylive_login(const struct relayconf *rc, const struct relay *r,
    const struct sw_rules *rs, struct relayfind *f)
{
	struct live	 l;
	char		 errbuf[CURL_ERROR_SIZE] = "";
	CURL		*h;
	CURLcode	 cc;
	long		 oserr;
	int		 ret;

	if (r->user == NULL || r->password == NULL) {
		relaycheck_add(f, "live-auth", NULL, "no login was tried: no "
		    "credential for %s", r->nexthop);
		return 1;
	}
	memset(&l, 0, sizeof(l));
	l.fp = stdout;
	if (live_load() == -1)
		return -1;
	if (lc.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (h = lc.easy_init()) == NULL) {
		log_warnx("libcurl cannot start");
		return -1;
	}
	live_setopt(h, rc, r, &l, errbuf);
	fprintf(stdout, "  live: %s port %s, user ", r->host, r->port);
	fput_vis(stdout, r->user, strlen(r->user));
	fprintf(stdout, ", password %s\n", LIVE_MASK);
	cc = lc.easy_perform(h);
	if (lc.easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr) != CURLE_OK)
		oserr = 0;
	lc.easy_cleanup(h);		/* sends QUIT, still printed */
	ret = live_result(rc, r, rs, &l, cc, errbuf, (int)oserr, f);
	if (ret == 0)
		fprintf(stdout, "  live: login accepted\n");
	lc.global_cleanup();
	return ret;
}
