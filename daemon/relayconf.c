/*
 * relayconf.c -- the relays (smarthosts) the MTA is configured to use,
 * read through the MTA's own tools so that what we read is what the MTA
 * reads: Postfix's postconf (defaults, $name expansion, main.cf of the
 * -c directory) and postmap -q for the credential, the very lookup the
 * SMTP client makes; Exim's update-exim4.conf.conf and passwd.client on
 * Debian, with exim -bP to see that Exim is there.  The tools' paths can
 * be overridden in the environment (SMTPWATCH_POSTCONF, SMTPWATCH_POSTMAP,
 * SMTPWATCH_EXIM, SMTPWATCH_POSTFIX_DIR, SMTPWATCH_EXIM_DIR), for tests
 * and unusual installations.  The password read is a secret: it is kept
 * in memory only, never put in an argument vector, and wiped on free.
 */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpwatch.h"

#define TOOL_MS		15000		/* a postconf or postmap call */
#define TOOL_DAEMON_MS	3000		/* ... made by smtpwatchd's loop */

static const char *const pf_names[PF_NPARAMS] = {
	[PF_RELAYHOST] = "relayhost",
	[PF_SENDER_RELAY] = "sender_dependent_relayhost_maps",
	[PF_TRANSPORT] = "transport_maps",
	[PF_SASL_ENABLE] = "smtp_sasl_auth_enable",
	[PF_SASL_MAPS] = "smtp_sasl_password_maps",
	[PF_SASL_SECOPT] = "smtp_sasl_security_options",
	[PF_SASL_TLS_SECOPT] = "smtp_sasl_tls_security_options",
	[PF_SASL_FILTER] = "smtp_sasl_mechanism_filter",
	[PF_TLS_LEVEL] = "smtp_tls_security_level",
	[PF_SOFT_BOUNCE] = "smtp_sasl_auth_soft_bounce",
	[PF_TLS_CAFILE] = "smtp_tls_CAfile",
	[PF_TLS_CAPATH] = "smtp_tls_CApath",
	[PF_WRAPPER] = "smtp_tls_wrappermode",
	[PF_HELO] = "smtp_helo_name",
};

static const char *
env_or(const char *name, const char *dflt)
{
	const char	*v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : dflt;
}

/* Splits a Postfix list (commas, blanks) into *v; returns the count. */
int
relayconf_map_split(const char *s, char ***v, size_t *n)
{
	char	*copy = xstrdup(s), *p, *save = NULL;

	*v = NULL;
	*n = 0;
	for (p = strtok_r(copy, ", \t\n", &save); p != NULL;
	    p = strtok_r(NULL, ", \t\n", &save))
		strv_push(v, n, p);
	free(copy);
	return (int)*n;
}

/* Postfix's parameters, through postconf -x -h; -1 when it fails. */
static int
pf_params(struct relayconf *rc)
{
	const char	*argv[6 + PF_NPARAMS];
	char		*out, *p, *save;
	size_t	 len;
	int	 i, a = 0, st;

	argv[a++] = rc->postconf;
	if (rc->confdir != NULL) {
		argv[a++] = "-c";
		argv[a++] = rc->confdir;
	}
	argv[a++] = "-x";
	argv[a++] = "-h";
	for (i = 0; i < PF_NPARAMS; i++)
		argv[a++] = pf_names[i];
	argv[a] = NULL;
	if ((st = spawn_read(argv, relayconf_tool_ms(rc), &out, &len)) != 0) {
		if (st > 0)
			log_warnx("%s exited %d: cannot read Postfix's "
			    "configuration", rc->postconf, st);
		spawn_wipe(out, len);
		return -1;
	}
	for (i = 0, save = out; i < PF_NPARAMS; i++) {
		p = strsep(&save, "\n");	/* an empty value: an empty line */
		rc->param[i] = xstrdup(p != NULL ? p : "");
	}
	spawn_wipe(out, len);
	return 0;
}

/*
 * The file of an indexed or text map ("hash:/etc/postfix/sasl_passwd"),
 * and in *ext the suffix postmap gives its compiled form ("" for text
 * maps); NULL when map is not one (a database, a proxy).
 */
const char *
relayconf_map_file(const char *map, const char **ext)
{
	static const struct {
		const char	*type, *ext;
	} types[] = {
		{ "hash:", ".db" }, { "btree:", ".db" }, { "lmdb:", ".lmdb" },
		{ "cdb:", ".cdb" }, { "texthash:", "" }, { NULL, NULL }
	};
	size_t	 i, n;

	for (i = 0; types[i].type != NULL; i++) {
		n = strlen(types[i].type);
		if (strncmp(map, types[i].type, n) == 0 && map[n] == '/') {
			*ext = types[i].ext;
			return map + n;
		}
	}
	return NULL;
}

/* postmap [-c dir] opt arg map: its status, *out its output. */
static int
pf_postmap(const struct relayconf *rc, const char *opt, const char *arg,
    const char *map, char **out, size_t *len)
{
	const char	*argv[8];
	int	 a = 0;

	argv[a++] = rc->postmap;
	if (rc->confdir != NULL) {
		argv[a++] = "-c";
		argv[a++] = rc->confdir;
	}
	argv[a++] = opt;
	if (arg != NULL)
		argv[a++] = arg;
	argv[a++] = map;
	argv[a] = NULL;
	return spawn_read(argv, relayconf_tool_ms(rc), out, len);
}

/* The port of a service name or number, "25" when none. */
static void
relay_port(const char *s, char *port, size_t size)
{
	if (s == NULL || *s == '\0')
		s = "25";
	else if (strcmp(s, "submission") == 0)
		s = "587";
	else if (strcmp(s, "smtps") == 0 || strcmp(s, "submissions") == 0)
		s = "465";
	else if (strcmp(s, "smtp") == 0)
		s = "25";
	snprintf(port, size, "%s", s);
}

/* Adds nexthop ([host]:port, host:port, host) unless it is there. */
void
relayconf_add(struct relayconf *rc, const char *nexthop, const char *from)
{
	struct relay	*r;
	const char	*h = nexthop, *end, *colon;
	size_t		 i;

	for (i = 0; i < rc->nrelays; i++)
		if (strcmp(rc->relays[i].nexthop, nexthop) == 0)
			return;
	rc->relays = xreallocarray(rc->relays, rc->nrelays + 1,
	    sizeof(*r));
	r = &rc->relays[rc->nrelays++];
	memset(r, 0, sizeof(*r));
	r->nexthop = xstrdup(nexthop);
	r->from = from;
	if (*h == '[' && (end = strchr(h, ']')) != NULL) {
		r->host = strndup(h + 1, (size_t)(end - h - 1));
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strrchr(h, ':');
		r->host = colon != NULL ? strndup(h, (size_t)(colon - h)) :
		    xstrdup(h);
	}
	if (r->host == NULL)
		fatal("strndup");
	relay_port(colon != NULL ? colon + 1 : NULL, r->port,
	    sizeof(r->port));
}

/* The nexthop of a transport_maps value: "smtp:[h]:587" -> "[h]:587". */
static const char *
pf_transport_nexthop(const char *value)
{
	const char	*c = strchr(value, ':');

	if (c == NULL || c[1] == '\0')
		return NULL;
	if (strncmp(value, "smtp:", 5) != 0 &&
	    strncmp(value, "relay:", 6) != 0)
		return NULL;
	return c + 1;
}

/* Every value of each map of list (postmap -s), as relays from from. */
static void
pf_map_relays(struct relayconf *rc, const char *list, const char *from,
    int transport)
{
	char		**maps, *out, *line, *save = NULL, *v;
	const char	*nh;
	size_t		 n, i, len;

	relayconf_map_split(list, &maps, &n);
	for (i = 0; i < n; i++) {
		if (pf_postmap(rc, "-s", NULL, maps[i], &out, &len) != 0) {
			spawn_wipe(out, len);
			continue;
		}
		for (line = strtok_r(out, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			v = line + strcspn(line, " \t");
			v += strspn(v, " \t");
			nh = transport ? pf_transport_nexthop(v) : v;
			if (nh != NULL && *nh != '\0')
				relayconf_add(rc, nh, from);
		}
		spawn_wipe(out, len);
	}
	strv_free(maps, n);
}

/* Looks key up in each password map: 1 found (the relay takes it). */
static int
pf_lookup(const struct relayconf *rc, struct relay *r, const char *key)
{
	char	**maps, *out, *colon;
	size_t	 n, i, len;
	int	 found = 0;

	relayconf_map_split(rc->param[PF_SASL_MAPS], &maps, &n);
	for (i = 0; i < n && !found; i++) {
		if (pf_postmap(rc, "-q", key, maps[i], &out, &len) != 0) {
			spawn_wipe(out, len);
			continue;
		}
		out[strcspn(out, "\n")] = '\0';
		found = 1;
		r->map = xstrdup(maps[i]);
		r->key = xstrdup(key);
		if ((colon = strchr(out, ':')) != NULL)
			*colon++ = '\0';
		r->user = xstrdup(out);
		r->password = xstrdup(colon != NULL ? colon : "");
		spawn_wipe(out, len);
	}
	strv_free(maps, n);
	return found;
}

/*
 * The credential of r as Postfix's SMTP client finds it: under the host
 * name, then under the nexthop exactly as written.  Failing both, the
 * keys a postmaster may have written instead ([host], host:port,
 * [host]:port) are tried, to name the one that does not match.
 */
static void
pf_credential(const struct relayconf *rc, struct relay *r)
{
	char	 alt[4][512];
	size_t	 i;

	if (*rc->param[PF_SASL_MAPS] == '\0')
		return;
	if (pf_lookup(rc, r, r->host) || pf_lookup(rc, r, r->nexthop))
		return;
	snprintf(alt[0], sizeof(alt[0]), "[%s]:%s", r->host, r->port);
	snprintf(alt[1], sizeof(alt[1]), "%s:%s", r->host, r->port);
	snprintf(alt[2], sizeof(alt[2]), "[%s]", r->host);
	snprintf(alt[3], sizeof(alt[3]), "[%s]:%s", r->host,
	    strcmp(r->port, "587") == 0 ? "submission" : "587");
	for (i = 0; i < 4; i++) {
		if (strcmp(alt[i], r->nexthop) == 0)
			continue;
		if (pf_lookup(rc, r, alt[i])) {
			r->nearkey = r->key;	/* it is not what Postfix */
			r->key = NULL;		/* will look up */
			return;
		}
	}
}

/* How smtp_tls_security_level has Postfix treat the relay's TLS. */
static int
pf_tls(const char *level)
{
	if (strcmp(level, "may") == 0 || strcmp(level, "dane") == 0)
		return RELAY_TLS_MAY;
	if (strcmp(level, "encrypt") == 0 || strcmp(level, "fingerprint") == 0)
		return RELAY_TLS_ENCRYPT;	/* fingerprints: not checked */
	if (strcmp(level, "verify") == 0 || strcmp(level, "secure") == 0)
		return RELAY_TLS_VERIFY;
	return RELAY_TLS_NONE;
}

static int
pf_load(struct relayconf *rc, const char *only)
{
	char	**hosts;
	size_t	 n, i;

	if (pf_params(rc) == -1)
		return -1;
	if (only != NULL)
		relayconf_add(rc, only, "the command line");
	else {
		relayconf_map_split(rc->param[PF_RELAYHOST], &hosts, &n);
		for (i = 0; i < n; i++)
			relayconf_add(rc, hosts[i], "relayhost");
		strv_free(hosts, n);
		pf_map_relays(rc, rc->param[PF_SENDER_RELAY],
		    "sender_dependent_relayhost_maps", 0);
		pf_map_relays(rc, rc->param[PF_TRANSPORT], "transport_maps", 1);
	}
	for (i = 0; i < rc->nrelays; i++) {
		rc->relays[i].tls = pf_tls(rc->param[PF_TLS_LEVEL]);
		if (rc->secrets)
			pf_credential(rc, &rc->relays[i]);
	}
	if (*rc->param[PF_TLS_CAFILE] != '\0')
		rc->cafile = xstrdup(rc->param[PF_TLS_CAFILE]);
	if (*rc->param[PF_TLS_CAPATH] != '\0')
		rc->capath = xstrdup(rc->param[PF_TLS_CAPATH]);
	rc->wrapper = strcmp(rc->param[PF_WRAPPER], "yes") == 0;
	return 0;
}

/* 1 when prog can be run: a path that is executable, or found in PATH. */
static int
tool_present(const char *prog)
{
	char	 path[4096], *dirs, *d, *save = NULL;
	int	 ok = 0;

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0;
	dirs = xstrdup(env_or("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
	for (d = strtok_r(dirs, ":", &save); d != NULL && !ok;
	    d = strtok_r(NULL, ":", &save)) {
		snprintf(path, sizeof(path), "%s/%s", d, prog);
		ok = access(path, X_OK) == 0;
	}
	free(dirs);
	return ok;
}

/* The name of Postfix's parameter p. */
const char *
relayconf_param_name(enum pf_param p)
{
	return pf_names[p];
}

/*
 * How long one of the MTA's tools may take: smtpwatchd (no secrets) waits
 * for it in its loop, smtpwatchctl can wait longer.
 */
int
relayconf_tool_ms(const struct relayconf *rc)
{
	return rc->secrets ? TOOL_MS : TOOL_DAEMON_MS;
}

/*
 * Reads the configuration of the MTA present (Postfix first, then Exim):
 * the relay only (as a nexthop) or every relay configured, and with
 * secrets, the credential of each (else no credential map is read: the
 * daemon's own checks).  0, or -1 when no MTA's configuration can be
 * read (logged).
 */
int
relayconf_load(const char *only, int secrets, struct relayconf **rcp)
{
	struct relayconf	*rc = xcalloc(1, sizeof(*rc));
	int			 r;

	rc->secrets = secrets;
	rc->postconf = env_or("SMTPWATCH_POSTCONF", "/usr/sbin/postconf");
	rc->postmap = env_or("SMTPWATCH_POSTMAP", "/usr/sbin/postmap");
	rc->exim = env_or("SMTPWATCH_EXIM", "/usr/sbin/exim");
	if (tool_present(rc->postconf)) {
		rc->mta = SW_MTA_POSTFIX;
		rc->confdir = getenv("SMTPWATCH_POSTFIX_DIR");
		r = pf_load(rc, only);
	} else if (tool_present(rc->exim)) {
		rc->mta = SW_MTA_EXIM;
		rc->confdir = env_or("SMTPWATCH_EXIM_DIR", "/etc/exim4");
		r = exim_load(rc, only);
	} else {
		log_warnx("neither Postfix (%s) nor Exim (%s) is installed",
		    rc->postconf, rc->exim);
		r = -1;
	}
	if (r == -1) {
		relayconf_free(rc);
		return -1;
	}
	*rcp = rc;
	return 0;
}

static void
relay_free(struct relay *r)
{
	free(r->nexthop);
	free(r->host);
	free(r->map);
	free(r->key);
	free(r->nearkey);
	free(r->user);
	if (r->password != NULL)
		spawn_wipe(r->password, strlen(r->password));
}

void
relayconf_free(struct relayconf *rc)
{
	size_t	 i;

	if (rc == NULL)
		return;
	for (i = 0; i < rc->nrelays; i++)
		relay_free(&rc->relays[i]);
	free(rc->relays);
	for (i = 0; i < PF_NPARAMS; i++)
		free(rc->param[i]);
	free(rc->passwd_client);
	free(rc->cafile);
	free(rc->capath);
	free(rc);
}
