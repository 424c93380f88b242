/*
 * t_relay.c -- check-relay's pieces that need no MTA: nexthops parsed
 * ([host]:port, service names, Exim's host::port lists, transport_maps
 * values), Exim's passwd.client patterns, the escaping of a key for a
 * sed(1) fix, the Gmail app password with spaces, the mechanism filter
 * check, spawn_read's statuses and deadline, and --live's transcript:
 * everything sent from AUTH to the relay's final answer masked, the
 * relay's text escaped, its AUTH mechanisms kept only as words;
 * libcurl loaded by --live alone, and a missing one said once; and
 * relaynote.c's choice of the relays it looks at: this host's only.
 */

#include "../../daemon/spawn.c"
#include "../../daemon/relayconf.c"
#include "../../daemon/relayexim.c"
#include "../../daemon/relaycheck.c"
#include "../../daemon/relaylive.c"
#include "../../daemon/relaynote.c"

#include "check.h"

static void
t_nexthops(void)
{
	struct relayconf	 rc;

	memset(&rc, 0, sizeof(rc));
	relayconf_add(&rc, "[smtp.gmail.com]:587", "relayhost");
	relayconf_add(&rc, "smtp.office365.com:submission", "relayhost");
	relayconf_add(&rc, "[mail.example.net]", "relayhost");
	relayconf_add(&rc, "[smtp.gmail.com]:587", "transport_maps");
	CHECK_INT(rc.nrelays, 3);
	CHECK_STR(rc.relays[0].host, "smtp.gmail.com");
	CHECK_STR(rc.relays[0].port, "587");
	CHECK_STR(rc.relays[0].from, "relayhost");
	CHECK_STR(rc.relays[1].host, "smtp.office365.com");
	CHECK_STR(rc.relays[1].port, "587");
	CHECK_STR(rc.relays[2].host, "mail.example.net");
	CHECK_STR(rc.relays[2].port, "25");
	exim_smarthosts(&rc, "smtp.a.example::465:smtp.b.example");
	CHECK_INT(rc.nrelays, 5);
	CHECK_STR(rc.relays[3].host, "smtp.a.example");
	CHECK_STR(rc.relays[3].port, "465");
	CHECK_STR(rc.relays[4].nexthop, "smtp.b.example");
	CHECK_STR(rc.relays[4].port, "25");
	CHECK_STR(pf_transport_nexthop("smtp:[smtp.gmail.com]:587"),
	    "[smtp.gmail.com]:587");
	CHECK_STR(pf_transport_nexthop("relay:mx.example"), "mx.example");
	CHECK(pf_transport_nexthop("local:") == NULL);
	CHECK(pf_transport_nexthop("error:no mail here") == NULL);
	CHECK(pf_transport_nexthop("smtp:") == NULL);
	while (rc.nrelays > 0)
		relay_free(&rc.relays[--rc.nrelays]);
	free(rc.relays);
}

static void
t_patterns(void)
{
	const char	*ext;

	CHECK(exim_match("smtp.gmail.com", "SMTP.gmail.com"));
	CHECK(exim_match("*.gmail.com", "smtp.gmail.com"));
	CHECK(!exim_match("*.gmail.com", "gmail.com.evil.example"));
	CHECK(exim_match("*", "smtp.gmail.com"));
	CHECK(!exim_match("gmail.com", "smtp.gmail.com"));
	CHECK(exim_match("^smtp\\.(gmail|googlemail)\\.com$",
	    "smtp.googlemail.com"));
	CHECK(!exim_match("^[unclosed", "smtp.gmail.com"));
	CHECK_STR(relayconf_map_file("hash:/etc/postfix/sasl_passwd", &ext),
	    "/etc/postfix/sasl_passwd");
	CHECK_STR(ext, ".db");
	CHECK_STR(relayconf_map_file("lmdb:/etc/postfix/p", &ext),
	    "/etc/postfix/p");
	CHECK_STR(ext, ".lmdb");
	CHECK_STR(relayconf_map_file("texthash:/etc/postfix/p", &ext),
	    "/etc/postfix/p");
	CHECK_STR(ext, "");
	CHECK(relayconf_map_file("proxy:mysql:/etc/postfix/m.cf", &ext) ==
	    NULL);
}

static void
t_checks(void)
{
	struct relayconf	 rc;
	struct relayfind	*f;
	char			 esc[64];

	bre_escape("[smtp.gmail.com]:587", esc, sizeof(esc));
	CHECK_STR(esc, "\\[smtp\\.gmail\\.com\\]:587");
	CHECK(app_password_spaced("kfjq wzpt hmrx ubne"));
	CHECK(!app_password_spaced("kfjqwzpthmrxubne"));
	CHECK(!app_password_spaced("Kfjq wzpt hmrx ubne"));
	CHECK(!app_password_spaced("correct horse battery"));
	CHECK(host_in("smtp.gmail.com", "gmail.com"));
	CHECK(!host_in("notgmail.com", "gmail.com"));
	memset(&rc, 0, sizeof(rc));
	rc.mta = SW_MTA_POSTFIX;
	rc.param[PF_SASL_FILTER] = xstrdup("cram-md5, digest-md5");
	f = relaycheck_new();
	relaycheck_filter(&rc, "the relay offers", "PLAIN LOGIN", f);
	CHECK_INT(f->n, 1);
	CHECK_STR(f->v[0].fix, "postconf -e 'smtp_sasl_mechanism_filter="
	    "plain, login' && postfix reload");
	relaycheck_filter(&rc, "the relay offers", "PLAIN LOGIN", f);
	CHECK_INT(f->n, 1);		/* said once */
	relaycheck_free(f);
	f = relaycheck_new();
	relaycheck_filter(&rc, "the relay offers", "CRAM-MD5 PLAIN", f);
	CHECK_INT(f->n, 0);
	relaycheck_free(f);
	free(rc.param[PF_SASL_FILTER]);
}

static void
t_spawn(void)
{
	const char	*echo[] = { "/bin/echo", "a b", NULL };
	const char	*no[] = { "/bin/false", NULL };
	const char	*none[] = { "/nonexistent/postconf", NULL };
	const char	*slow[] = { "/bin/sleep", "10", NULL };
	char		*out;
	size_t		 len;

	log_mute(1);
	CHECK_INT(spawn_read(echo, 5000, &out, &len), 0);
	CHECK_STR(out, "a b\n");
	spawn_wipe(out, len);
	CHECK_INT(spawn_read(no, 5000, &out, &len), 1);
	spawn_wipe(out, len);
	CHECK_INT(spawn_read(none, 5000, &out, &len), -1);
	CHECK(out == NULL);
	CHECK_INT(spawn_read(slow, 100, &out, &len), -1);	/* killed */
	CHECK(out == NULL);
	log_mute(0);
}

/* The transcript of a dialogue fed to live_debug line by line. */
static void
t_transcript(void)
{
	struct live	 l;
	char		*buf = NULL;
	size_t		 len = 0;
	static const struct {
		curl_infotype	 type;
		const char	*data;
	} d[] = {
		{ CURLINFO_HEADER_IN, "250-AUTH PLAIN LOGIN X';rm\r\n" },
		{ CURLINFO_HEADER_OUT, "AUTH PLAIN AGFsZXJ0cwBzZWNyZXQ=\r\n" },
		{ CURLINFO_HEADER_IN, "334 \r\n" },
		{ CURLINFO_HEADER_OUT, "c2VjcmV0\r\n" },
		{ CURLINFO_HEADER_IN, "535-5.7.8 Username and\r\n" },
		{ CURLINFO_HEADER_IN, "535 5.7.8 \x1b[31mnot accepted\r\n" },
		{ CURLINFO_HEADER_OUT, "QUIT\r\n" },
	};
	size_t		 i;

	memset(&l, 0, sizeof(l));
	CHECK((l.fp = open_memstream(&buf, &len)) != NULL);
	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		live_debug(NULL, d[i].type, (char *)(uintptr_t)d[i].data,
		    strlen(d[i].data), &l);
	fclose(l.fp);
	CHECK(strstr(buf, "AGFsZXJ0cwBzZWNyZXQ=") == NULL);
	CHECK(strstr(buf, "c2VjcmV0") == NULL);
	CHECK(strstr(buf, "  > AUTH PLAIN ********\n") != NULL);
	CHECK(strstr(buf, "  > ********\n") != NULL);
	CHECK(strstr(buf, "\x1b") == NULL);
	CHECK(strstr(buf, "  > QUIT\n") != NULL);
	CHECK_STR(l.offered, "PLAIN LOGIN X rm");
	CHECK_STR(l.answer, "535-5.7.8 Username and 535 5.7.8 "
	    "\x1b[31mnot accepted");
	CHECK(!l.auth_ok && l.auth_sent && !l.in_auth);
	free(buf);
}

/*
 * relaynote_find: nothing for another host, a fleet's '*' or a relay
 * name holding a NUL; this host's relay with no MTA installed: nothing,
 * and the failure remembered.  (Its findings with a real Postfix:
 * tests/e2e/test_postfix.py.)
 */
static void
t_relaynote(void)
{
	struct sw_relaynote	*rn = relaynote_new();
	char			 name[256], host[300];

	CHECK(gethostname(name, sizeof(name)) == 0);
	name[sizeof(name) - 1] = '\0';
	snprintf(host, sizeof(host), "%s.example", name);
	CHECK(relaynote_find(rn, "not-this-host-x9", "smtp.gmail.com", 14) ==
	    NULL);
	CHECK(relaynote_find(rn, "*", "smtp.gmail.com", 14) == NULL);
	CHECK(rn->failed == 0);
	CHECK(relaynote_find(rn, host, "smtp.gmail.com\0x", 16) == NULL);
	CHECK(rn->failed == 0);
	setenv("SMTPWATCH_POSTCONF", "/nonexistent/postconf", 1);
	setenv("SMTPWATCH_EXIM", "/nonexistent/exim", 1);
	CHECK(relaynote_find(rn, host, "smtp.gmail.com", 14) == NULL);
	CHECK(rn->failed != 0);
	unsetenv("SMTPWATCH_POSTCONF");
	unsetenv("SMTPWATCH_EXIM");
	relaynote_free(rn);
}

/*
 * libcurl is loaded by --live alone: a library that is not there makes
 * relaylive_login fail (-1) without trying the relay, and is said and
 * tried once, not per relay; Debian's libcurl.so.4 loads, with every
 * function --live calls.
 */
static void
t_libcurl(void)
{
	struct relayconf	 rc;
	struct relay		 r;
	struct relayfind	*f = relaycheck_new();

	memset(&rc, 0, sizeof(rc));
	memset(&r, 0, sizeof(r));
	r.host = r.nexthop = (char *)(uintptr_t)"relay.invalid";
	snprintf(r.port, sizeof(r.port), "587");
	r.user = (char *)(uintptr_t)"alerts";
	r.password = (char *)(uintptr_t)"secret";
	live_libcurl = "libsmtpwatch-no-such-curl.so.4";
	CHECK_INT(relaylive_login(&rc, &r, NULL, f), -1);
	CHECK(lc.dl == NULL && lc.failed);
	CHECK_INT(relaylive_login(&rc, &r, NULL, f), -1);
	CHECK_INT(relaycheck_print(f, stdout), 0);	/* no finding */
	relaycheck_free(f);
	live_libcurl = "libcurl.so.4";
	lc.failed = 0;
	CHECK_INT(live_load(), 0);
	CHECK(lc.easy_init != NULL && lc.easy_setopt != NULL &&
	    lc.easy_strerror != NULL && lc.global_cleanup != NULL);
	CHECK_STR(lc.easy_strerror(CURLE_OK), "No error");
}

int
main(void)
{
	t_libcurl();
	t_nexthops();
	t_patterns();
	t_checks();
	t_spawn();
	t_transcript();
	t_relaynote();
	return check_done();
}
