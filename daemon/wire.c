/*
 * wire.c -- the status reply of the control socket, line by line: what
 * smtpwatchd writes and what smtpwatchctl reads, both from the one table
 * of fields below, so that the writer and the reader cannot drift apart.
 * A line is a key (and for counters a name), then tab-separated values:
 * numbers in decimal, text escaped with str_vis() (a path may hold any
 * byte).  A reader skips the lines it does not know, so a newer daemon
 * may say more; a line with too few values leaves the rest 0.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

enum wtype {
	W_NONE,
	W_TEXT,			/* char[SW_VERSION_MAX], printable */
	W_VIS,			/* struct sw_text: any bytes */
	W_U64,			/* unsigned long long */
	W_LONG,			/* long */
	W_TIME,			/* time_t */
	W_INT,			/* int (a flag) */
	W_STANDBY		/* int: "standby" when set, else "active" */
};

struct wval {
	enum wtype	 type;
	size_t		 off;
};

#define WMAX	10		/* values of a line at most */

struct wline {
	const char	*key;
	const char	*name;		/* counter lines: the counter's name */
	struct wval	 v[WMAX];
};

#define S(f)	offsetof(struct ctl_status, f)
#define C(f)	offsetof(struct ctl_source, f)

static const struct wline status_lines[] = {
	{ "version", NULL, { { W_TEXT, S(version) } } },
	{ "pid", NULL, { { W_LONG, S(pid) } } },
	{ "started", NULL, { { W_TIME, S(started) } } },
	{ "rules", NULL, { { W_U64, S(rules_files) },
	    { W_U64, S(rules_extracts) }, { W_U64, S(rules_diagnoses) } } },
	{ "database", NULL, { { W_VIS, S(database) } } },
	{ "batch", NULL, { { W_U64, S(batch) } } },
	{ "committed", NULL, { { W_TIME, S(committed) } } },
	{ "counter", "lines", { { W_U64, S(lines) } } },
	{ "counter", "events", { { W_U64, S(events) } } },
	{ "counter", "batches", { { W_U64, S(batches) } } },
	{ "counter", "commit_errors", { { W_U64, S(commit_errors) } } },
	{ "counter", "checkpoint_errors", { { W_U64,
	    S(checkpoint_errors) } } },
	{ "counter", "alerts", { { W_U64, S(alerts) } } },
	{ "counter", "folded_entries", { { W_U64, S(folded_entries) } } },
	{ "counter", "folded_incidents", { { W_U64, S(folded_incidents) } } },
	{ "incidents", NULL, { { W_U64, S(incidents) } } },
	{ "summarising", NULL, { { W_INT, S(summarising) } } },
	{ "checkpoint_failing", NULL, { { W_INT, S(checkpoint_failing) } } },
	/* by direction: server, client; by kind: relay, account, address,
	   backend (the order of enum sw_dir and enum sw_inc_kind) */
	{ "counter", "failures", { { W_U64, S(failures[SW_DIR_SERVER]) },
	    { W_U64, S(failures[SW_DIR_CLIENT]) } } },
	{ "counter", "successes", { { W_U64, S(successes[SW_DIR_SERVER]) },
	    { W_U64, S(successes[SW_DIR_CLIENT]) } } },
	{ "counter", "incidents_opened", { { W_U64, S(opened[SW_INC_RELAY]) },
	    { W_U64, S(opened[SW_INC_ACCOUNT]) },
	    { W_U64, S(opened[SW_INC_ADDRESS]) },
	    { W_U64, S(opened[SW_INC_BACKEND]) } } },
};

/* One per source, in the order the daemon reads them. */
static const struct wline source_line = {
	"source", NULL, { { W_VIS, C(path) }, { W_INT, C(open) },
	{ W_U64, C(offset) }, { W_U64, C(size) }, { W_U64, C(lag_bytes) },
	{ W_U64, C(lag_seconds) }, { W_U64, C(rotations) },
	{ W_U64, C(lines) }, { W_INT, C(polled) }, { W_STANDBY, C(standby) } }
};

/* The value v of the struct at base, as the line writes it. */
static void
wire_put(FILE *fp, const struct wval *v, const void *base)
{
	const char		*p = (const char *)base + v->off;
	const struct sw_text	*t = (const void *)p;

	fputc('\t', fp);
	switch (v->type) {
	case W_TEXT:
		fput_vis(fp, p, strnlen(p, SW_VERSION_MAX));
		break;
	case W_VIS:
		fput_vis(fp, t->p != NULL ? t->p : "", t->len);
		break;
	case W_U64:
		fprintf(fp, "%llu", *(const unsigned long long *)
		    (const void *)p);
		break;
	case W_LONG:
		fprintf(fp, "%ld", *(const long *)(const void *)p);
		break;
	case W_TIME:
		fprintf(fp, "%lld", (long long)*(const time_t *)
		    (const void *)p);
		break;
	case W_INT:
		fprintf(fp, "%d", *(const int *)(const void *)p);
		break;
	case W_STANDBY:
		fputs(*(const int *)(const void *)p ? "standby" : "active", fp);
		break;
	case W_NONE:
	default:
		break;
	}
}

static void
wire_line(FILE *fp, const struct wline *l, const void *base)
{
	size_t	 i;

	fputs(l->key, fp);
	if (l->name != NULL)
		fprintf(fp, "\t%s", l->name);
	for (i = 0; i < WMAX && l->v[i].type != W_NONE; i++)
		wire_put(fp, &l->v[i], base);
	fputc('\n', fp);
}

/* The reply to "status", every line of it. */
void
wire_status_write(FILE *fp, const struct ctl_status *st)
{
	size_t	 i;

	for (i = 0; i < sizeof(status_lines) / sizeof(status_lines[0]); i++)
		wire_line(fp, &status_lines[i], st);
	for (i = 0; i < st->nsources; i++)
		wire_line(fp, &source_line, &st->sources[i]);
}

/* Text f into the value v of the struct at base. */
static void
wire_get(const struct wval *v, void *base, const char *f)
{
	char		*p = (char *)base + v->off, *s;
	struct sw_text	*t = (void *)p;
	size_t		 n;

	switch (v->type) {
	case W_TEXT:
		s = str_unvis(f, strlen(f), &n);
		snprintf(p, SW_VERSION_MAX, "%.*s", (int)n, s);
		free(s);
		break;
	case W_VIS:
		free(t->p);
		t->p = str_unvis(f, strlen(f), &t->len);
		break;
	case W_U64:
		*(unsigned long long *)(void *)p = strtoull(f, NULL, 10);
		break;
	case W_LONG:
		*(long *)(void *)p = strtol(f, NULL, 10);
		break;
	case W_TIME:
		*(time_t *)(void *)p = (time_t)strtoll(f, NULL, 10);
		break;
	case W_INT:
		*(int *)(void *)p = (int)strtol(f, NULL, 10);
		break;
	case W_STANDBY:
		*(int *)(void *)p = strcmp(f, "standby") == 0;
		break;
	case W_NONE:
	default:
		break;
	}
}

/* The values f[0 .. nf) of a line described by l, into base. */
static void
wire_values(const struct wline *l, void *base, char **f, size_t nf)
{
	size_t	 i;

	for (i = 0; i < WMAX && l->v[i].type != W_NONE && i < nf; i++)
		wire_get(&l->v[i], base, f[i]);
}

/* Splits line at its tabs, in place, into at most max fields. */
static size_t
wire_split(char *line, char **f, size_t max)
{
	size_t	 n = 0;
	char	*p = line;

	while (n < max) {
		f[n++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	return n;
}

/* One line of the reply into st. */
static void
wire_read(const char *text, struct ctl_status *st)
{
	const struct wline	*l;
	char			*line, *f[WMAX + 2];
	size_t			 i, nf, skip;

	line = xstrdup(text);
	nf = wire_split(line, f, WMAX + 2);
	if (strcmp(f[0], source_line.key) == 0) {
		st->sources = xreallocarray(st->sources, st->nsources + 1,
		    sizeof(*st->sources));
		memset(&st->sources[st->nsources], 0, sizeof(*st->sources));
		wire_values(&source_line, &st->sources[st->nsources++], f + 1,
		    nf - 1);
	}
	for (i = 0; i < sizeof(status_lines) / sizeof(status_lines[0]); i++) {
		l = &status_lines[i];
		skip = l->name != NULL ? 2 : 1;
		if (strcmp(f[0], l->key) != 0 || nf < skip ||
		    (l->name != NULL && strcmp(f[1], l->name) != 0))
			continue;
		wire_values(l, st, f + skip, nf - skip);
	}
	free(line);
}

/*
 * Reads the n lines of a status reply into st (wire_status_free() it).
 * Returns 0, or -1 when the reply lacks the version or the pid.
 */
int
wire_status_read(char *const *lines, size_t n, struct ctl_status *st)
{
	size_t	 i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < n; i++)
		wire_read(lines[i], st);
	return st->version[0] == '\0' || st->pid == 0 ? -1 : 0;
}

void
wire_status_free(struct ctl_status *st)
{
	size_t	 i;

	for (i = 0; i < st->nsources; i++)
		free(st->sources[i].path.p);
	free(st->sources);
	free(st->database.p);
	memset(st, 0, sizeof(*st));
}
