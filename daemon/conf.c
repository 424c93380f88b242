/*
 * conf.c -- read smtpwatch.conf into struct sw_conf.  One directive per
 * line, '#' starts a comment line, every error is reported as file:line
 * and rejects the file.  Without a file the built-in defaults apply:
 * the shipped rules, then the local drop-ins.
 */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define SW_DATABASE_DEFAULT	"/var/lib/smtpwatch/smtpwatch.db"
#define SW_CONTROL_DEFAULT	"/run/smtpwatch/control.sock"
#define DAY			86400L

static struct sw_conf *
conf_defaults(const char *path)
{
	struct sw_conf	*c;

	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->database = xstrdup(SW_DATABASE_DEFAULT);
	c->control = xstrdup(SW_CONTROL_DEFAULT);
	c->journal = SW_JOURNAL_AUTO;
	c->alert.fleet = -1;
	c->startat = SW_START_END;
	c->batch_ms = 250;
	c->batch_events = 10000;
	c->poll_ms = 2000;
	c->store.retention = 90 * DAY;
	c->store.bucket_width = 60;
	c->store.bucket_retention = 2 * DAY;
	c->store.limit = 256LL << 20;
	c->store.share = 50;
	c->match.exim_syslog_dup = 1;
	c->jit = 1;
	c->alert_exec_ms = 30000;
	c->alert_exec_max = 4;
	c->relay_check = 1;
	c->alert.account_threshold = 5;
	c->alert.account_window = 60 * 60;
	c->alert.spray_threshold = 5;
	c->alert.spray_window = 15 * 60;
	c->alert.backend_threshold = 1;
	c->alert.backend_window = 5 * 60;
	c->alert.distributed = 3;
	c->alert.realert = 60 * 60;
	c->alert.quiet = 60 * 60;
	c->alert.attribution = 10;
	c->alert.group_ipv4 = SW_GROUP_IPV4;
	c->alert.group_ipv6 = SW_GROUP_IPV6;
	c->alert.client_incidents = SW_CLIENT_INCIDENTS;
	c->alert.alerts_per_minute = SW_ALERTS_PER_MINUTE;
	return c;
}

static int
conf_yesno(const char *v, int *dst)
{
	if (strcmp(v, "yes") == 0)
		*dst = 1;
	else if (strcmp(v, "no") == 0)
		*dst = 0;
	else
		return -1;
	return 0;
}

/* journal yes | no | auto */
static const char *
conf_journal(struct sw_conf *c, const char *v)
{
	if (strcmp(v, "auto") == 0)
		c->journal = SW_JOURNAL_AUTO;
	else if (strcmp(v, "yes") == 0)
		c->journal = SW_JOURNAL_YES;
	else if (strcmp(v, "no") == 0)
		c->journal = SW_JOURNAL_NO;
	else
		return "journal must be auto, yes or no";
	return NULL;
}

/* Replaces the string *dst with a copy of v. */
static const char *
conf_string(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
	return NULL;
}

/*
 * alert-exec PROGRAM [ARG ...]: split on blanks, no shell and no
 * quoting; the program by its absolute path.
 */
static const char *
conf_exec(struct sw_conf *c, const char *v)
{
	char	*copy, *w, *save = NULL;

	if (v[0] != '/')
		return "alert-exec needs the program's absolute path";
	strv_free(c->alert_exec, c->nalert_exec);
	c->alert_exec = NULL;
	c->nalert_exec = 0;
	copy = xstrdup(v);
	for (w = strtok_r(copy, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save)) {
		if (c->nalert_exec == 32) {
			free(copy);
			return "alert-exec takes at most 31 arguments";
		}
		strv_push(&c->alert_exec, &c->nalert_exec, w);
	}
	free(copy);
	return NULL;
}

/* A duration in milliseconds between lo and hi ("250ms", "2s", "1m"). */
static const char *
conf_ms(long *dst, const char *v, long lo, long hi)
{
	long	 ms;

	if (duration_parse_ms(v, &ms) == -1)
		return "not a duration (like 250ms, 10s, 5m, 1h, 7d)";
	if (ms < lo || ms > hi)
		return "duration out of range";
	*dst = ms;
	return NULL;
}

/* A duration in whole seconds between lo and hi. */
static const char *
conf_secs(long *dst, const char *v, long lo, long hi)
{
	long	 secs;

	if (duration_parse(v, &secs) == -1)
		return "not a duration (like 10s, 5m, 1h, 7d)";
	if (secs < lo || secs > hi)
		return "duration out of range";
	*dst = secs;
	return NULL;
}

static const char *
conf_count(size_t *dst, const char *v, unsigned long lo, unsigned long hi)
{
	char		*end;
	unsigned long	 n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0 ||
	    n < lo || n > hi)
		return "not a number in range";
	*dst = n;
	return NULL;
}

static const char *
conf_startat(struct sw_conf *c, const char *v)
{
	if (strcmp(v, "end") == 0)
		c->startat = SW_START_END;
	else if (strcmp(v, "beginning") == 0)
		c->startat = SW_START_BEGINNING;
	else
		return "start-at must be end or beginning";
	return NULL;
}

/* A size in bytes, K, M or G (powers of 1024): 0, or from 1M to 1T. */
static const char *
conf_size(long long *dst, const char *v)
{
	char		*end;
	unsigned long long n;
	int		 shift = 0;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (!isdigit((unsigned char)*v) || errno != 0)
		return "not a size (like 256M, 1G)";
	switch (*end) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case '\0':
		break;
	default:
		return "not a size (like 256M, 1G)";
	}
	if (shift > 0 && end[1] != '\0')
		return "not a size (like 256M, 1G)";
	if (n > (1ULL << 40) >> shift ||
	    (n != 0 && n << shift < (1ULL << 20)))
		return "size out of range (0, or 1M to 1024G)";
	*dst = (long long)(n << shift);
	return NULL;
}

/* A share in percent, 1 to 100, the sign optional: "50%". */
static const char *
conf_percent(int *dst, const char *v)
{
	char		*end;
	unsigned long	 n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || errno != 0 ||
	    (*end != '\0' && strcmp(end, "%") != 0) || n < 1 || n > 100)
		return "not a share from 1% to 100%";
	*dst = (int)n;
	return NULL;
}

/* A whole number between lo and hi, into a long. */
static const char *
conf_long(long *dst, const char *v, long lo, long hi)
{
	size_t		 n;
	const char	*err;

	if ((err = conf_count(&n, v, (unsigned long)lo, (unsigned long)hi)) !=
	    NULL)
		return err;
	*dst = (long)n;
	return NULL;
}

/* ignore-network ADDR[/BITS]: IPv4 or IPv6. */
static const char *
conf_cidr(struct sw_alertopt *a, const char *v)
{
	struct sw_cidr	 n;
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long	 bits;

	if (strlen(v) >= sizeof(buf))
		return "not an address or network";
	strcpy(buf, v);
	memset(&n, 0, sizeof(n));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, n.addr) == 1) {
		n.family = AF_INET;
		n.bits = 32;
	} else if (inet_pton(AF_INET6, buf, n.addr) == 1) {
		n.family = AF_INET6;
		n.bits = 128;
	} else
		return "not an address or network (like 192.0.2.0/24)";
	if (slash != NULL) {
		errno = 0;
		bits = strtoul(slash, &end, 10);
		if (!isdigit((unsigned char)*slash) || *end != '\0' ||
		    errno != 0 || bits > n.bits)
			return "bad prefix length";
		n.bits = (unsigned int)bits;
	}
	a->ignore_nets = xreallocarray(a->ignore_nets, a->nignore_nets + 1,
	    sizeof(*a->ignore_nets));
	a->ignore_nets[a->nignore_nets++] = n;
	return NULL;
}

/* relay GLOB as NAME */
static const char *
conf_relay(struct sw_alertopt *a, char *v)
{
	struct sw_relayname	 r;
	char			*as, *name;

	if ((as = strstr(v, " as ")) == NULL)
		return "expected: relay HOST as NAME";
	name = as + 4;
	while (as > v && isspace((unsigned char)as[-1]))
		as--;
	*as = '\0';
	while (isspace((unsigned char)*name))
		name++;
	if (*v == '\0' || *name == '\0' || strpbrk(v, " \t") != NULL)
		return "expected: relay HOST as NAME";
	r.glob = xstrdup(v);
	r.name = xstrdup(name);
	a->relays = xreallocarray(a->relays, a->nrelays + 1,
	    sizeof(*a->relays));
	a->relays[a->nrelays++] = r;
	return NULL;
}

/* hostile-entries no | yes | N (a minute). */
static const char *
conf_hostile(struct sw_alertopt *a, const char *v)
{
	int	 yes;

	if (conf_yesno(v, &yes) == 0) {
		a->hostile = yes ? SW_HOSTILE_PER_MINUTE : 0;
		return NULL;
	}
	if (conf_long(&a->hostile, v, 1, 10000) != NULL)
		return "expected: yes, no or a number from 1 to 10000";
	return NULL;
}

/* The directives of alerting; NULL with *known = 0 when not one. */
static const char *
conf_alert(struct sw_alertopt *a, const char *word, char *val, int *known)
{
	*known = 1;
	if (strcmp(word, "account-threshold") == 0)
		return conf_long(&a->account_threshold, val, 1, 100000);
	if (strcmp(word, "account-window") == 0)
		return conf_secs(&a->account_window, val, 1, 7 * DAY);
	if (strcmp(word, "spray-threshold") == 0)
		return conf_long(&a->spray_threshold, val, 2, 10000);
	if (strcmp(word, "spray-window") == 0)
		return conf_secs(&a->spray_window, val, 1, 7 * DAY);
	if (strcmp(word, "backend-threshold") == 0)
		return conf_long(&a->backend_threshold, val, 1, 100000);
	if (strcmp(word, "backend-window") == 0)
		return conf_secs(&a->backend_window, val, 1, 7 * DAY);
	if (strcmp(word, "distributed-addresses") == 0)
		return conf_long(&a->distributed, val, 2, 8);
	if (strcmp(word, "realert") == 0)
		return conf_secs(&a->realert, val, 60, 30 * DAY);
	if (strcmp(word, "quiet") == 0)
		return conf_secs(&a->quiet, val, 60, 30 * DAY);
	if (strcmp(word, "attribution-window") == 0)
		return conf_secs(&a->attribution, val, 0, 300);
	if (strcmp(word, "group-ipv4") == 0)
		return conf_long(&a->group_ipv4, val, 8, 32);
	if (strcmp(word, "group-ipv6") == 0)
		return conf_long(&a->group_ipv6, val, 16, 128);
	if (strcmp(word, "client-incidents") == 0)
		return conf_long(&a->client_incidents, val, 10, 1000000);
	if (strcmp(word, "alerts-per-minute") == 0)
		return conf_long(&a->alerts_per_minute, val, 1, 1000);
	if (strcmp(word, "hostile-entries") == 0)
		return conf_hostile(a, val);
	if (strcmp(word, "ignore-account") == 0) {
		strv_push(&a->ignore_accounts, &a->nignore_accounts, val);
		return NULL;
	}
	if (strcmp(word, "ignore-network") == 0)
		return conf_cidr(a, val);
	if (strcmp(word, "relay") == 0)
		return conf_relay(a, val);
	*known = 0;
	return NULL;
}

/* Applies "word value"; returns an error message or NULL. */
static const char *
conf_directive(struct sw_conf *c, const char *word, char *val)
{
	const char	*err;
	int		 known;

	if (*val == '\0')
		return "missing value";
	if ((err = conf_alert(&c->alert, word, val, &known)) != NULL ||
	    known)
		return err;
	if (strcmp(word, "rules") == 0)
		strv_push(&c->rules, &c->nrules, val);
	else if (strcmp(word, "log") == 0)
		strv_push(&c->logs, &c->nlogs, val);
	else if (strcmp(word, "database") == 0)
		return conf_string(&c->database, val);
	else if (strcmp(word, "control") == 0)
		return conf_string(&c->control, val);
	else if (strcmp(word, "journal") == 0)
		return conf_journal(c, val);
	else if (strcmp(word, "fleet") == 0) {
		if (conf_yesno(val, &c->alert.fleet) == -1)
			return "fleet must be yes or no";
	} else if (strcmp(word, "journal-directory") == 0)
		return conf_string(&c->journal_dir, val);
	else if (strcmp(word, "start-at") == 0)
		return conf_startat(c, val);
	else if (strcmp(word, "batch-interval") == 0)
		return conf_ms(&c->batch_ms, val, 1, 60000);
	else if (strcmp(word, "batch-events") == 0)
		return conf_count(&c->batch_events, val, 1, 1000000);
	else if (strcmp(word, "poll-interval") == 0)
		return conf_ms(&c->poll_ms, val, 100, 3600000);
	else if (strcmp(word, "retention") == 0)
		return conf_secs(&c->store.retention, val, 0, 3650 * DAY);
	else if (strcmp(word, "bucket-width") == 0)
		return conf_secs(&c->store.bucket_width, val, 1, DAY);
	else if (strcmp(word, "bucket-retention") == 0)
		return conf_secs(&c->store.bucket_retention, val, 60,
		    3650 * DAY);
	else if (strcmp(word, "bucket-rollup") == 0)
		return conf_secs(&c->store.bucket_rollup, val, 3600,
		    3650 * DAY);
	else if (strcmp(word, "retention-limit") == 0)
		return conf_percent(&c->store.share, val);
	else if (strcmp(word, "database-limit") == 0)
		return conf_size(&c->store.limit, val);
	else if (strcmp(word, "alert-exec") == 0)
		return conf_exec(c, val);
	else if (strcmp(word, "alert-exec-timeout") == 0)
		return conf_ms(&c->alert_exec_ms, val, 1000, 3600000);
	else if (strcmp(word, "alert-exec-max") == 0)
		return conf_count(&c->alert_exec_max, val, 1, 64);
	else if (strcmp(word, "pcre-jit") == 0) {
		if (conf_yesno(val, &c->jit) == -1)
			return "pcre-jit must be yes or no";
	} else if (strcmp(word, "relay-check") == 0) {
		if (conf_yesno(val, &c->relay_check) == -1)
			return "relay-check must be yes or no";
	} else if (strcmp(word, "exim-syslog-duplication") == 0) {
		if (conf_yesno(val, &c->match.exim_syslog_dup) == -1)
			return "exim-syslog-duplication must be yes or no";
	} else
		return "unknown directive";
	return NULL;
}

/*
 * Cuts a comment off the value s: a '#' at its start or after a blank
 * begins one ("retention 30d  # a month"); one inside a word does not.
 */
static void
conf_uncomment(char *s)
{
	char	*p;
	size_t	 n;

	for (p = s; (p = strchr(p, '#')) != NULL; p++)
		if (p == s || isspace((unsigned char)p[-1])) {
			*p = '\0';
			break;
		}
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* Reads fp; returns the number of errors reported. */
static int
conf_read(struct sw_conf *c, FILE *fp)
{
	char		*buf = NULL, *s, *w;
	size_t		 cap = 0, n;
	ssize_t		 len;
	unsigned int	 line = 0;
	int		 errors = 0;
	const char	*err;

	while ((len = getline(&buf, &cap, fp)) != -1) {
		line++;
		n = (size_t)len;
		while (n > 0 && isspace((unsigned char)buf[n - 1]))
			buf[--n] = '\0';
		for (s = buf; isspace((unsigned char)*s); s++)
			continue;
		if (*s == '\0' || *s == '#')
			continue;
		for (w = s; *s != '\0' && !isspace((unsigned char)*s); s++)
			continue;
		if (*s != '\0')
			*s++ = '\0';
		while (isspace((unsigned char)*s))
			s++;
		conf_uncomment(s);
		if ((err = conf_directive(c, w, s)) != NULL) {
			log_warnx("%s:%u: %s: %s", c->path, line, w, err);
			errors++;
		}
	}
	free(buf);
	return errors;
}

/*
 * The alert engine reads an account-window of minute buckets back at
 * start (store_recent()): bucket-rollup is never shorter.  Unset, it is
 * SW_BUCKET_ROLLUP or account-window, the longer; set shorter, an
 * error.
 */
static int
conf_rollup(struct sw_conf *c)
{
	long	 w = c->alert.account_window;

	if (c->store.bucket_rollup == 0)
		c->store.bucket_rollup = w > SW_BUCKET_ROLLUP ? w :
		    SW_BUCKET_ROLLUP;
	else if (c->store.bucket_rollup < w) {
		log_warnx("%s: bucket-rollup is shorter than account-window, "
		    "whose failures are read back from the buckets at start",
		    c->path);
		return -1;
	}
	return 0;
}

/* What no single line can say: relations between directives. */
static int
conf_check(struct sw_conf *c)
{
	size_t	 i, j;

	for (i = 0; i < c->nlogs; i++)
		for (j = i + 1; j < c->nlogs; j++)
			if (strcmp(c->logs[i], c->logs[j]) == 0) {
				log_warnx("%s: log %s is named twice", c->path,
				    c->logs[i]);
				return -1;
			}
	if (c->store.bucket_retention < c->store.bucket_width) {
		log_warnx("%s: bucket-retention is shorter than bucket-width",
		    c->path);
		return -1;
	}
	return conf_rollup(c);
}

/*
 * Loads the configuration at path.  A missing file is an error when
 * must_exist is set, else the defaults apply.  Returns 0 and sets *out,
 * or -1 after reporting.
 */
int
conf_load(const char *path, int must_exist, struct sw_conf **out)
{
	struct sw_conf	*c;
	FILE		*fp;

	c = conf_defaults(path);
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno != ENOENT || must_exist) {
			log_warn("%s", path);
			conf_free(c);
			return -1;
		}
	} else {
		if (conf_read(c, fp) > 0 || conf_check(c) == -1) {
			fclose(fp);
			conf_free(c);
			return -1;
		}
		fclose(fp);
	}
	if (c->alert.fleet == -1)	/* a collector's directory: a fleet */
		c->alert.fleet = c->journal_dir != NULL;
	if (c->nrules == 0) {
		strv_push(&c->rules, &c->nrules, SW_RULES_SHIPPED);
		strv_push(&c->rules, &c->nrules, SW_RULES_LOCAL);
	}
	*out = c;
	return 0;
}

/*
 * Which sources the daemon reads, and how together.  journal auto (the
 * default) with logs switches between the system journal and the logs:
 * the journal is read only while none of the logs exists (Debian 12
 * without rsyslog has no /var/log/mail.log); with journal-directory (a
 * collector's, not the journal the logs are written from) both are read.
 * Where both are read, a line that reaches both is counted once.
 */
enum sw_srcmode
conf_sources(const struct sw_conf *c)
{
	switch (c->journal) {
	case SW_JOURNAL_NO:
		return SW_SRC_FILES;
	case SW_JOURNAL_YES:
		return c->nlogs > 0 ? SW_SRC_BOTH : SW_SRC_JOURNAL;
	default:
		if (c->nlogs == 0)
			return SW_SRC_JOURNAL;
		return c->journal_dir != NULL ? SW_SRC_BOTH : SW_SRC_SWITCH;
	}
}

void
conf_free(struct sw_conf *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	free(c->path);
	strv_free(c->rules, c->nrules);
	strv_free(c->logs, c->nlogs);
	strv_free(c->alert_exec, c->nalert_exec);
	free(c->database);
	free(c->control);
	free(c->journal_dir);
	strv_free(c->alert.ignore_accounts, c->alert.nignore_accounts);
	free(c->alert.ignore_nets);
	for (i = 0; i < c->alert.nrelays; i++) {
		free(c->alert.relays[i].glob);
		free(c->alert.relays[i].name);
	}
	free(c->alert.relays);
	free(c);
}
