/*
 * relaycheck.c -- the static checks of check-relay: the local causes of
 * a relay's 535 and of "no mechanism available" that can be seen in the
 * MTA's configuration (relayconf.c read it) without talking to the
 * relay.  Each finding has a code (the man page lists them), what is
 * wrong, and the exact command that fixes it.  No finding and no fix
 * ever shows the password: a fix that must change it is an editor's.
 */

#include <sys/stat.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

struct finding {
	char		*code;
	char		*text;
	char		*fix;
};

struct relayfind {
	struct finding	*v;
	size_t		 n;
};

/* Providers whose user name is the full mail address. */
static const char *const full_address[] = {
	"gmail.com", "googlemail.com", "google.com", "office365.com",
	"outlook.com", "hotmail.com", "live.com", "yahoo.com", "aol.com",
	"zoho.com", "zoho.eu", "mail.me.com", "icloud.com", "gmx.net",
	"gmx.com", "fastmail.com", NULL
};

/* What the big providers offer after STARTTLS, for the filter check. */
static const struct {
	const char	*domain, *mechs;
} offers[] = {
	{ "gmail.com",		"LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN "
	    "OAUTHBEARER XOAUTH" },
	{ "office365.com",	"LOGIN XOAUTH2" },
	{ NULL,			NULL }
};

struct relayfind *
relaycheck_new(void)
{
	return xcalloc(1, sizeof(struct relayfind));
}

void
relaycheck_free(struct relayfind *f)
{
	size_t	 i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++) {
		free(f->v[i].code);
		free(f->v[i].text);
		free(f->v[i].fix);
	}
	free(f->v);
	free(f);
}

/* Adds a finding: its code, its fix (NULL: none), what is wrong. */
void
relaycheck_add(struct relayfind *f, const char *code, const char *fix,
    const char *fmt, ...)
{
	struct finding	*x;
	va_list		 ap;

	f->v = xreallocarray(f->v, f->n + 1, sizeof(*f->v));
	x = &f->v[f->n++];
	x->code = xstrdup(code);
	x->fix = fix != NULL ? xstrdup(fix) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&x->text, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
}

/*
 * s as it is when it holds no control character, else escaped: a fix is
 * a command to copy, whose backslashes must stay single.  A fix holds
 * only the MTA's configuration and words checked to be mechanism names.
 */
static void
put_text(FILE *fp, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			break;
	if (*p == '\0')
		fputs(s, fp);
	else
		fput_vis(fp, s, strlen(s));
}

size_t
relaycheck_count(const struct relayfind *f)
{
	return f != NULL ? f->n : 0;
}

/* The i-th finding: its code, what is wrong, its fix (NULL: none). */
void
relaycheck_get(const struct relayfind *f, size_t i, const char **code,
    const char **text, const char **fix)
{
	*code = f->v[i].code;
	*text = f->v[i].text;
	*fix = f->v[i].fix;
}

/* Prints the findings; returns how many there are. */
size_t
relaycheck_print(const struct relayfind *f, FILE *fp)
{
	size_t	 i;

	for (i = 0; i < f->n; i++) {
		fprintf(fp, "  finding %s: ", f->v[i].code);
		fput_vis(fp, f->v[i].text, strlen(f->v[i].text));
		fputc('\n', fp);
		if (f->v[i].fix == NULL)
			continue;
		fputs("    fix: ", fp);
		put_text(fp, f->v[i].fix);
		fputc('\n', fp);
	}
	return f->n;
}

/* "name = value" of a Postfix parameter, "(empty)" for none. */
static void
describe_param(const struct relayconf *rc, enum pf_param p, FILE *fp)
{
	fprintf(fp, "  %-31s %s\n", relayconf_param_name(p),
	    rc->param[p][0] != '\0' ? rc->param[p] : "(empty)");
}

/*
 * What the configuration says: of the MTA (r NULL), or of relay r, its
 * credential (user name, never the password) and TLS.
 */
void
relaycheck_describe(const struct relayconf *rc, const struct relay *r,
    FILE *fp)
{
	static const char *const tls[] = {
		[RELAY_TLS_NONE] = "none",
		[RELAY_TLS_MAY] = "may (STARTTLS when offered, not verified)",
		[RELAY_TLS_ENCRYPT] = "encrypt (not verified)",
		[RELAY_TLS_VERIFY] = "verify",
	};
	int	 p;

	if (r == NULL && rc->mta == SW_MTA_POSTFIX) {
		fprintf(fp, "postfix (%s)\n", rc->postconf);
		for (p = PF_SASL_ENABLE; p < PF_TLS_CAFILE; p++)
			describe_param(rc, (enum pf_param)p, fp);
	} else if (r == NULL)
		fprintf(fp, "exim (%s, %s)\n", rc->exim, rc->passwd_client);
	if (r == NULL) {
		if (rc->nrelays == 0)
			fprintf(fp, "  no relay configured: mail goes to each "
			    "domain's MX\n");
		return;
	}
	fprintf(fp, "\nrelay %s (%s)\n", r->nexthop, r->from);
	if (r->user != NULL) {
		fprintf(fp, "  credential: user ");
		fput_vis(fp, r->user, strlen(r->user));
		fprintf(fp, ", password ******** (%s, key %s)\n", r->map,
		    r->key != NULL ? r->key : r->nearkey);
	} else
		fprintf(fp, "  credential: none found\n");
	fprintf(fp, "  tls: %s%s\n", rc->wrapper ? "from the first byte, " :
	    "", tls[r->tls]);
}

/* 1 when host is domain or ends in ".domain". */
static int
host_in(const char *host, const char *domain)
{
	size_t	 h = strlen(host), d = strlen(domain);

	if (h == d)
		return strcasecmp(host, domain) == 0;
	return h > d && host[h - d - 1] == '.' &&
	    strcasecmp(host + h - d, domain) == 0;
}

/* 1 when word occurs in the Postfix list s (case-insensitively). */
static int
list_has(const char *s, const char *word)
{
	char	**v;
	size_t	 n, i;
	int	 found = 0;

	relayconf_map_split(s, &v, &n);
	for (i = 0; i < n && !found; i++)
		found = strcasecmp(v[i], word) == 0;
	strv_free(v, n);
	return found;
}

/* s with the characters of a basic regular expression escaped. */
static void
bre_escape(const char *s, char *dst, size_t size)
{
	size_t	 o = 0;

	for (; *s != '\0' && o + 3 < size; s++) {
		if (strchr(".[]*^$\\/", *s) != NULL)
			dst[o++] = '\\';
		dst[o++] = *s;
	}
	dst[o] = '\0';
}

/*
 * Checks each file of one map: compiled and not older than its source
 * (postmap run after the edit), readable by root alone.
 */
static void
check_map_files(const char *map, struct relayfind *f)
{
	struct stat	 src, db;
	const char	*ext, *file = relayconf_map_file(map, &ext);
	char		 compiled[4096], fix[8300];
	int		 have_db;

	if (file == NULL || stat(file, &src) == -1)
		return;
	snprintf(compiled, sizeof(compiled), "%s%s", file, ext);
	have_db = ext[0] != '\0' && stat(compiled, &db) == 0;
	snprintf(fix, sizeof(fix), "postmap %s", map);
	if (ext[0] != '\0' && !have_db)
		relaycheck_add(f, "map-not-compiled", fix, "%s does not "
		    "exist: postmap was never run on %s", compiled, file);
	else if (have_db && (db.st_mtim.tv_sec < src.st_mtim.tv_sec ||
	    (db.st_mtim.tv_sec == src.st_mtim.tv_sec &&
	    db.st_mtim.tv_nsec < src.st_mtim.tv_nsec)))
		relaycheck_add(f, "map-stale", fix, "%s is older than %s: "
		    "postmap was not run after the last edit, Postfix still "
		    "uses the old credentials", compiled, file);
	if ((src.st_mode & S_IROTH) || (have_db && (db.st_mode & S_IROTH))) {
		snprintf(fix, sizeof(fix), "chmod 600 %s%s%s", file,
		    have_db ? " " : "", have_db ? compiled : "");
		relaycheck_add(f, "map-readable", fix, "%s%s%s readable by "
		    "every user: the relay password is exposed", file,
		    have_db ? " or " : " is", have_db ? compiled : "");
	}
}

/* plaintext mechanisms forbidden when TLS is off or optional. */
static void
check_plaintext(const struct relayconf *rc, struct relayfind *f)
{
	const char	*level = rc->param[PF_TLS_LEVEL];
	int		 tls = rc->wrapper || strcmp(level, "encrypt") == 0 ||
	    strcmp(level, "verify") == 0 || strcmp(level, "secure") == 0;
	const char	*fix = "postconf -e smtp_tls_security_level=encrypt "
	    "smtp_sasl_security_options=noanonymous "
	    "smtp_sasl_tls_security_options=noanonymous && postfix reload";

	if (!tls && list_has(rc->param[PF_SASL_SECOPT], "noplaintext"))
		relaycheck_add(f, "plaintext-forbidden", fix,
		    "smtp_sasl_security_options = %s while "
		    "smtp_tls_security_level = %s: PLAIN and LOGIN, often all "
		    "a relay offers, are refused without TLS (\"no mechanism "
		    "available\")", rc->param[PF_SASL_SECOPT],
		    level[0] != '\0' ? level : "(empty)");
	else if (list_has(rc->param[PF_SASL_TLS_SECOPT], "noplaintext"))
		relaycheck_add(f, "plaintext-forbidden", fix,
		    "smtp_sasl_tls_security_options = %s: PLAIN and LOGIN, "
		    "often all a relay offers, are refused even over TLS "
		    "(\"no mechanism available\")",
		    rc->param[PF_SASL_TLS_SECOPT]);
}

/* passwd.client readable by root and Exim's group alone. */
static void
check_exim_file(const struct relayconf *rc, struct relayfind *f)
{
	struct stat	 st;
	char		 fix[8300];

	if (stat(rc->passwd_client, &st) == -1 || !(st.st_mode & S_IROTH))
		return;
	snprintf(fix, sizeof(fix), "chown root:Debian-exim %s && chmod 640 "
	    "%s", rc->passwd_client, rc->passwd_client);
	relaycheck_add(f, "map-readable", fix, "%s is readable by every "
	    "user: the relay password is exposed", rc->passwd_client);
}

/* No passwd.client line whose pattern matches the smarthost's name. */
static void
check_exim_pattern(const struct relayconf *rc, const struct relay *r,
    struct relayfind *f)
{
	char	 fix[8300];

	if (r->key != NULL)
		return;
	snprintf(fix, sizeof(fix), "sensible-editor %s, and write the line "
	    "as %s:LOGIN:PASSWORD (or *.DOMAIN:LOGIN:PASSWORD)",
	    rc->passwd_client, r->host);
	if (r->nearkey != NULL)
		relaycheck_add(f, "exim-pattern", fix, "no line of %s matches "
		    "the smarthost %s (Exim looks up the host name, not the "
		    "port); its patterns: %s", rc->passwd_client, r->host,
		    r->nearkey);
	else
		relaycheck_add(f, "no-credential", fix, "%s has no line for "
		    "the smarthost %s", rc->passwd_client, r->host);
}

/* The checks of the configuration as a whole. */
void
relaycheck_conf(const struct relayconf *rc, struct relayfind *f)
{
	char	**maps;
	size_t	 n, i;

	if (rc->mta == SW_MTA_EXIM) {
		check_exim_file(rc, f);
		return;
	}
	if (strcasecmp(rc->param[PF_SASL_ENABLE], "yes") != 0)
		relaycheck_add(f, "sasl-disabled", "postconf -e "
		    "smtp_sasl_auth_enable=yes && postfix reload",
		    "smtp_sasl_auth_enable = %s: Postfix's SMTP client does "
		    "not log in to relays", rc->param[PF_SASL_ENABLE]);
	if (rc->param[PF_SASL_MAPS][0] == '\0')
		relaycheck_add(f, "no-password-maps", "postconf -e "
		    "smtp_sasl_password_maps=hash:/etc/postfix/sasl_passwd && "
		    "postfix reload", "smtp_sasl_password_maps is empty: "
		    "Postfix has no credential for any relay");
	relayconf_map_split(rc->param[PF_SASL_MAPS], &maps, &n);
	for (i = 0; i < n; i++)
		check_map_files(maps[i], f);
	strv_free(maps, n);
	check_plaintext(rc, f);
}

/* Where to edit the credential of r: the file, and what follows. */
static void
fix_edit(const struct relay *r, const char *then, char *fix, size_t size)
{
	const char	*ext, *file = relayconf_map_file(r->map, &ext);

	snprintf(fix, size, "sensible-editor %s%s%s", file != NULL ? file :
	    r->map, then[0] != '\0' ? " && " : "", then);
}

/* No credential, or one under a key Postfix does not look up. */
static void
check_key(const struct relayconf *rc, const struct relay *r,
    struct relayfind *f)
{
	const char	*ext, *file;
	char		 esc[1024], fix[4096], **maps;
	size_t		 n;

	if (r->key != NULL || rc->param[PF_SASL_MAPS][0] == '\0')
		return;
	if (r->nearkey == NULL) {
		relayconf_map_split(rc->param[PF_SASL_MAPS], &maps, &n);
		file = relayconf_map_file(maps[0], &ext);
		snprintf(fix, sizeof(fix), "sensible-editor %s && postmap %s",
		    file != NULL ? file : maps[0], maps[0]);
		relaycheck_add(f, "no-credential", file != NULL ? fix : NULL,
		    "no credential for %s in %s (looked up: %s, %s); add the "
		    "line \"%s USER:PASSWORD\"", r->nexthop,
		    rc->param[PF_SASL_MAPS], r->host, r->nexthop, r->nexthop);
		strv_free(maps, n);
		return;
	}
	file = relayconf_map_file(r->map, &ext);
	bre_escape(r->nearkey, esc, sizeof(esc));
	snprintf(fix, sizeof(fix), "sed -i 's/^%s\\([[:space:]]\\)/%s\\1/' "
	    "%s && postmap %s", esc, r->nexthop, file != NULL ? file :
	    r->map, r->map);
	relaycheck_add(f, "key-mismatch", fix, "the credential in %s is "
	    "under the key %s, but Postfix looks up %s and %s (brackets and "
	    "port must be written as in the nexthop)", r->map, r->nearkey,
	    r->host, r->nexthop);
}

/* A Gmail app password written as Google shows it: four groups of 4. */
static int
app_password_spaced(const char *pw)
{
	size_t	 i, letters = 0, spaces = 0;

	for (i = 0; pw[i] != '\0'; i++) {
		if (pw[i] == ' ')
			spaces++;
		else if (islower((unsigned char)pw[i]))
			letters++;
		else
			return 0;
	}
	return letters == 16 && spaces > 0;
}

/*
 * The sed(1) command that takes the spaces out of r's app password in
 * its file, matching the line by its key: the password is not in it.
 */
static void
fix_app_password(const struct relayconf *rc, const struct relay *r,
    char *fix, size_t size)
{
	static const char	 groups[] = "\\([a-z]\\{4\\}\\) *"
	    "\\([a-z]\\{4\\}\\) *\\([a-z]\\{4\\}\\) *\\([a-z]\\{4\\}\\)"
	    "[[:space:]]*$/\\1\\2\\3\\4\\5/'";
	const char		*ext, *file = relayconf_map_file(r->map, &ext);
	char			 esc[1024];

	bre_escape(r->key, esc, sizeof(esc));
	if (rc->mta == SW_MTA_EXIM)
		snprintf(fix, size, "sed -i 's/^\\(%s:[^:]*:\\)%s %s", esc,
		    groups, r->map);
	else
		snprintf(fix, size, "sed -i 's/^\\(%s[[:space:]]\\{1,\\}"
		    "[^:]*:\\)%s %s && postmap %s", esc, groups,
		    file != NULL ? file : r->map, r->map);
}

/* What a provider needs of the user name and the password. */
static void
check_provider(const struct relayconf *rc, const struct relay *r,
    struct relayfind *f)
{
	char		 fix[4096], esc[1024];
	size_t		 i;

	for (i = 0; full_address[i] != NULL; i++)
		if (host_in(r->host, full_address[i]))
			break;
	if (full_address[i] != NULL && strchr(r->user, '@') == NULL) {
		snprintf(esc, sizeof(esc), "postmap %s", r->map);
		fix_edit(r, rc->mta == SW_MTA_POSTFIX ? esc : "", fix,
		    sizeof(fix));
		relaycheck_add(f, "user-not-address", fix, "the user name "
		    "\"%s\" for %s is not a full mail address, which %s "
		    "requires (user@domain)", r->user, r->nexthop,
		    full_address[i]);
	}
	if (host_in(r->host, "sendgrid.net") && strcmp(r->user, "apikey") != 0)
		relaycheck_add(f, "sendgrid-user", NULL, "the user name for "
		    "SendGrid is the word \"apikey\", the password the API "
		    "key; \"%s\" is refused with 535", r->user);
	if ((host_in(r->host, "gmail.com") || host_in(r->host,
	    "googlemail.com") || host_in(r->host, "google.com")) &&
	    app_password_spaced(r->password)) {
		fix_app_password(rc, r, fix, sizeof(fix));
		relaycheck_add(f, "app-password-spaces", fix, "the Gmail app "
		    "password for %s is written with the spaces Google shows "
		    "between its groups of four letters; the password is the "
		    "16 letters alone", r->nexthop);
	}
}

/* The mechanism filter against what r's provider is known to offer. */
void
relaycheck_offers(const struct relayconf *rc, const struct relay *r,
    struct relayfind *f)
{
	char	 who[300];
	size_t	 i;

	for (i = 0; offers[i].domain != NULL; i++) {
		if (!host_in(r->host, offers[i].domain))
			continue;
		snprintf(who, sizeof(who), "%s is known to offer",
		    offers[i].domain);
		relaycheck_filter(rc, who, offers[i].mechs, f);
	}
}

/* The checks of one relay's credential. */
void
relaycheck_relay(const struct relayconf *rc, const struct relay *r,
    struct relayfind *f)
{
	relaycheck_offers(rc, r, f);
	if (rc->mta == SW_MTA_EXIM)
		check_exim_pattern(rc, r, f);
	else
		check_key(rc, r, f);
	if (r->key == NULL || r->user == NULL)
		return;
	check_provider(rc, r, f);
}

/*
 * A mechanism filter that leaves nothing of what the relay offers
 * (offered: the words of its EHLO AUTH line; who: who says so).
 */
void
relaycheck_filter(const struct relayconf *rc, const char *who,
    const char *offered, struct relayfind *f)
{
	const char	*filter = rc->param[PF_SASL_FILTER];
	char		**v, fix[1024];
	size_t		 n, i;
	int		 left = 0;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].code, "mechanism-filter") == 0)
			return;		/* said once is enough */
	if (rc->mta != SW_MTA_POSTFIX || filter == NULL || filter[0] == '\0' ||
	    strchr(filter, ':') != NULL || strchr(filter, '/') != NULL)
		return;
	relayconf_map_split(offered, &v, &n);
	for (i = 0; i < n && !left; i++)
		left = list_has(filter, v[i]);
	strv_free(v, n);
	if (left)
		return;
	snprintf(fix, sizeof(fix), "postconf -e 'smtp_sasl_mechanism_filter="
	    "%s' && postfix reload", list_has(offered, "PLAIN") &&
	    list_has(offered, "LOGIN") ? "plain, login" : offered);
	relaycheck_add(f, "mechanism-filter", fix, "smtp_sasl_mechanism_filter"
	    " = %s leaves none of the mechanisms %s (%s): \"no mechanism "
	    "available\"", filter, who, offered);
}
