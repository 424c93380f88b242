/*
 * relayexim.c -- the relays of a Debian Exim, and their credentials, as
 * Debian's exim4-config sets them up: the smarthost list dc_smarthost of
 * update-exim4.conf.conf ("smtp.gmail.com::587"), and passwd.client,
 * whose lines "pattern:login:password" Exim looks up with the smarthost's
 * host name (nwildlsearch: the name itself, "*.domain", or a regular
 * expression "^...").  exim -bP shows the smarthost transport's TLS
 * settings (and that Exim's configuration can be read at all).
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "smtpwatch.h"


/* The value of key in update-exim4.conf.conf (quotes taken off), or NULL. */
static char *
exim_dc(const char *path, const char *key)
{
	FILE	*fp;
	char	 line[1024], *v = NULL, *p;
	size_t	 n = strlen(key);

	if ((fp = fopen(path, "r")) == NULL) {
		log_warn("%s", path);
		return NULL;
	}
	while (v == NULL && fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, key, n) != 0 || line[n] != '=')
			continue;
		p = line + n + 1;
		p[strcspn(p, "\n")] = '\0';
		if (*p == '\'' || *p == '"') {
			p++;
			if (*p != '\0' && (p[strlen(p) - 1] == '\'' ||
			    p[strlen(p) - 1] == '"'))
				p[strlen(p) - 1] = '\0';
		}
		v = xstrdup(p);
	}
	fclose(fp);
	return v;
}

/* 1 when pattern (a passwd.client key) matches host as Exim would. */
static int
exim_match(const char *pattern, const char *host)
{
	pcre2_code		*re;
	pcre2_match_data	*md;
	size_t			 hl = strlen(host), pl = strlen(pattern);
	int			 err, m;
	PCRE2_SIZE		 off;

	if (pattern[0] == '^') {
		re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
		    PCRE2_CASELESS, &err, &off, NULL);
		if (re == NULL)
			return 0;
		md = pcre2_match_data_create_from_pattern(re, NULL);
		m = pcre2_match(re, (PCRE2_SPTR)host, hl, 0, 0, md, NULL) >= 0;
		pcre2_match_data_free(md);
		pcre2_code_free(re);
		return m;
	}
	if (pattern[0] == '*')
		return hl >= pl - 1 && strcasecmp(host + hl - (pl - 1),
		    pattern + 1) == 0;
	return strcasecmp(pattern, host) == 0;
}

/*
 * The credential of r from passwd.client: the first line whose pattern
 * matches; else, in nearkey, the patterns there (for the finding).
 */
static void
exim_credential(const struct relayconf *rc, struct relay *r)
{
	FILE	*fp;
	char	 line[2048], *login, *pw, seen[512] = "";

	if ((fp = fopen(rc->passwd_client, "r")) == NULL)
		return;
	while (r->key == NULL && fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0' ||
		    (login = strchr(line, ':')) == NULL)
			continue;
		*login++ = '\0';
		if (!exim_match(line, r->host)) {
			snprintf(seen + strlen(seen), sizeof(seen) -
			    strlen(seen), "%s%.100s", seen[0] ? ", " : "",
			    line);		/* a pattern, never a password */
			continue;
		}
		if ((pw = strchr(login, ':')) != NULL)
			*pw++ = '\0';
		r->key = xstrdup(line);
		r->map = xstrdup(rc->passwd_client);
		r->user = xstrdup(login);
		r->password = xstrdup(pw != NULL ? pw : "");
	}
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	if (r->key == NULL && seen[0] != '\0')
		r->nearkey = xstrdup(seen);
}

/* The smarthosts of dc_smarthost: "h1::587:h2" is h1 port 587, h2. */
static void
exim_smarthosts(struct relayconf *rc, const char *list)
{
	char	*copy = xstrdup(list), *p = copy, *host, nexthop[600];

	while ((host = strsep(&p, ":")) != NULL) {
		if (*host == '\0')
			continue;
		if (p != NULL && *p == ':') {	/* host::port */
			p++;
			snprintf(nexthop, sizeof(nexthop), "%s:%s", host,
			    strsep(&p, ":"));
		} else
			snprintf(nexthop, sizeof(nexthop), "%s", host);
		relayconf_add(rc, nexthop, "dc_smarthost");
	}
	free(copy);
}

/*
 * The value of "\nname = value" in exim -bP's output, NULL when unset;
 * a copy.
 */
static char *
exim_option(const char *out, const char *name)
{
	char		 key[64];
	const char	*p;
	size_t		 n;

	snprintf(key, sizeof(key), "\n%s = ", name);
	if ((p = strstr(out, key)) == NULL)
		return NULL;
	p += strlen(key);
	if ((n = strcspn(p, "\n")) == 0)
		return NULL;
	return strndup(p, n);
}

/*
 * TLS of the smarthost transport, from exim -bP: required
 * (hosts_require_tls), verified (tls_verify_hosts, Debian's default *)
 * against tls_verify_certificates (a file or directory; "system" the
 * system's); else tried.  -1 when Exim fails.
 */
static int
exim_tls(struct relayconf *rc)
{
	const char	*argv[] = { rc->exim, "-bP", "transport",
	    "remote_smtp_smarthost", NULL };
	struct stat	 st;
	char		*out, *p;
	size_t		 len, i;
	int		 tls = RELAY_TLS_MAY, status;

	if ((status = spawn_read(argv, relayconf_tool_ms(rc), &out, &len)) != 0) {
		if (status > 0)
			log_warnx("%s -bP exited %d: cannot read Exim's "
			    "configuration", rc->exim, status);
		spawn_wipe(out, len);
		return -1;
	}
	if ((p = exim_option(out, "hosts_require_tls")) != NULL)
		tls = RELAY_TLS_ENCRYPT;
	free(p);
	if ((p = exim_option(out, "tls_verify_hosts")) != NULL)
		tls = RELAY_TLS_VERIFY;
	free(p);
	p = exim_option(out, "tls_verify_certificates");
	if (p != NULL && p[0] == '/' && stat(p, &st) == 0 &&
	    S_ISDIR(st.st_mode))
		rc->capath = p;
	else if (p != NULL && p[0] == '/')
		rc->cafile = p;
	else
		free(p);
	for (i = 0; i < rc->nrelays; i++)
		rc->relays[i].tls = tls;
	spawn_wipe(out, len);
	return 0;
}

/*
 * Reads Debian's Exim configuration under rc->confdir: the smarthosts
 * (or only, as given), their credentials.  0, or -1 (logged).
 */
int
exim_load(struct relayconf *rc, const char *only)
{
	char	 path[4096], *type, *hosts;
	size_t	 i;

	snprintf(path, sizeof(path), "%s/update-exim4.conf.conf", rc->confdir);
	if ((type = exim_dc(path, "dc_eximconfig_configtype")) == NULL)
		return -1;
	hosts = exim_dc(path, "dc_smarthost");
	if (only != NULL)
		relayconf_add(rc, only, "the command line");
	else if (hosts != NULL)
		exim_smarthosts(rc, hosts);
	free(hosts);
	if (rc->nrelays == 0)
		log_warnx("%s: dc_eximconfig_configtype='%s' and no "
		    "dc_smarthost: Exim uses no relay", path, type);
	free(type);
	snprintf(path, sizeof(path), "%s/passwd.client", rc->confdir);
	rc->passwd_client = xstrdup(path);
	for (i = 0; rc->secrets && i < rc->nrelays; i++)
		exim_credential(rc, &rc->relays[i]);
	return exim_tls(rc);
}
