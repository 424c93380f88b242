/*
 * conf.c -- read smtpwatch.conf into struct sw_conf.  One directive per
 * line, '#' starts a comment line, every error is reported as file:line
 * and rejects the file.  Without a file the built-in defaults apply:
 * the shipped rules, then the local drop-ins.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

#define SW_DATABASE_DEFAULT	"/var/lib/smtpwatch/smtpwatch.db"

static struct sw_conf *
conf_defaults(const char *path)
{
	struct sw_conf	*c;

	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->database = xstrdup(SW_DATABASE_DEFAULT);
	c->match.exim_syslog_dup = 1;
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

/* Applies "word value"; returns an error message or NULL. */
static const char *
conf_directive(struct sw_conf *c, const char *word, const char *val)
{
	if (*val == '\0')
		return "missing value";
	if (strcmp(word, "rules") == 0)
		strv_push(&c->rules, &c->nrules, val);
	else if (strcmp(word, "log") == 0)
		strv_push(&c->logs, &c->nlogs, val);
	else if (strcmp(word, "database") == 0) {
		free(c->database);
		c->database = xstrdup(val);
	} else if (strcmp(word, "exim-syslog-duplication") == 0) {
		if (conf_yesno(val, &c->match.exim_syslog_dup) == -1)
			return "exim-syslog-duplication must be yes or no";
	} else
		return "unknown directive";
	return NULL;
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
		if ((err = conf_directive(c, w, s)) != NULL) {
			log_warnx("%s:%u: %s: %s", c->path, line, w, err);
			errors++;
		}
	}
	free(buf);
	return errors;
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
		if (conf_read(c, fp) > 0) {
			fclose(fp);
			conf_free(c);
			return -1;
		}
		fclose(fp);
	}
	if (c->nrules == 0) {
		strv_push(&c->rules, &c->nrules, SW_RULES_SHIPPED);
		strv_push(&c->rules, &c->nrules, SW_RULES_LOCAL);
	}
	*out = c;
	return 0;
}

void
conf_free(struct sw_conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	strv_free(c->rules, c->nrules);
	strv_free(c->logs, c->nlogs);
	free(c->database);
	free(c);
}
