/*
 * smtpwatchctl.c -- the command line.  A sorted table of commands, each
 * a function; options common to all come first.  Today: `scan`, the
 * offline analysis of existing logs, and `explain`, which shows how one
 * line is read, which rule takes it, and what its diagnosis says.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpwatch.h"

struct ctl {
	const char		*conffile;
	int			 conf_given;
	char		       **rules;	/* --rules, replacing the config's */
	size_t			 nrules;
	int			 json, events, missed, progress, journal;
	const char		*since, *direction;	/* the listings */
	int			 open;			/* incidents */
	struct sw_conf		*conf;
	struct sw_rules		*rs;
	struct sw_matcher	*m;	/* explain */
};

struct command {
	const char	*name;
	int		 minargs;
	int		 (*fn)(struct ctl *, int, char **);
	const char	*usage;
};

static int	cmd_accounts(struct ctl *, int, char **);
static int	cmd_addresses(struct ctl *, int, char **);
static int	cmd_check_rules(struct ctl *, int, char **);
static int	cmd_explain(struct ctl *, int, char **);
static int	cmd_incidents(struct ctl *, int, char **);
static int	cmd_metrics(struct ctl *, int, char **);
static int	cmd_relays(struct ctl *, int, char **);
static int	cmd_reload(struct ctl *, int, char **);
static int	cmd_reset(struct ctl *, int, char **);
static int	cmd_show(struct ctl *, int, char **);
static int	cmd_scan(struct ctl *, int, char **);
static int	cmd_status(struct ctl *, int, char **);

static const struct command commands[] = {	/* sorted */
	{ "accounts",	0, cmd_accounts,
	    "accounts [--direction server|client] [--json] "
	    "[--since DURATION]" },
	{ "addresses",	0, cmd_addresses,
	    "addresses [--json] [--since DURATION]" },
	{ "check-rules", 0, cmd_check_rules, "check-rules [FILE | DIR ...]" },
	{ "explain",	0, cmd_explain,	"explain [LINE ...]" },
	{ "incidents",	0, cmd_incidents, "incidents [--json] [--open]" },
	{ "metrics",	0, cmd_metrics,	"metrics" },
	{ "relays",	0, cmd_relays,	"relays [--json]" },
	{ "reload",	0, cmd_reload,	"reload" },
	{ "reset",	1, cmd_reset,	"reset SUBJECT" },
	{ "scan",	0, cmd_scan,
	    "scan [--events] [--json] [--missed] [--no-progress] FILE ...\n"
	    "       smtpwatchctl scan --journal [--since DURATION] [--events] "
	    "[--json] [--missed]" },
	{ "show",	1, cmd_show,	"show [--json] SUBJECT" },
	{ "status",	0, cmd_status,	"status [--json]" },
};

static void __attribute__((noreturn))
usage(int rc)
{
	FILE	*fp = rc == 0 ? stdout : stderr;
	size_t	 i;

	fprintf(fp, "usage: smtpwatchctl [-f CONFIG] [--rules DIR] "
	    "COMMAND [ARG ...]\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "       smtpwatchctl %s\n", commands[i].usage);
	fprintf(fp, "       smtpwatchctl --version\n");
	exit(rc);
}

/* Loads the configuration and the rules the options name. */
static int
ctl_load(struct ctl *c)
{
	if (conf_load(c->conffile, c->conf_given, &c->conf) == -1)
		return -1;
	if (c->nrules > 0)
		return rules_load(c->rules, c->nrules, &c->rs);
	return rules_load(c->conf->rules, c->conf->nrules, &c->rs);
}

/*
 * The options of the database views (ctldb.c); -1 after saying what is
 * wrong with them.
 */
static int
ctl_dbopt(struct ctl *c, struct ctldb_opt *o)
{
	memset(o, 0, sizeof(*o));
	o->database = c->conf->database;
	o->rs = c->rs;
	o->now = ctldb_now();
	o->json = c->json;
	o->open = c->open;
	o->direction = c->direction;
	if (c->since != NULL && (duration_parse(c->since, &o->since) == -1 ||
	    o->since == 0)) {
		log_warnx("--since %s: not a duration such as 90m, 12h or 7d",
		    c->since);
		return -1;
	}
	if (c->direction != NULL && strcmp(c->direction, "server") != 0 &&
	    strcmp(c->direction, "client") != 0) {
		log_warnx("--direction %s: server or client", c->direction);
		return -1;
	}
	return 0;
}

static int
cmd_accounts(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	(void)argv;
	if (argc > 0)
		usage(3);
	return ctl_dbopt(c, &o) == -1 ? 3 : ctldb_accounts(&o);
}

static int
cmd_addresses(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	(void)argv;
	if (argc > 0)
		usage(3);
	return ctl_dbopt(c, &o) == -1 ? 3 : ctldb_addresses(&o);
}

static int
cmd_incidents(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	(void)argv;
	if (argc > 0)
		usage(3);
	return ctl_dbopt(c, &o) == -1 ? 3 : ctldb_incidents(&o);
}

static int
cmd_relays(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	(void)argv;
	if (argc > 0)
		usage(3);
	return ctl_dbopt(c, &o) == -1 ? 3 : ctldb_relays(&o);
}

static int
cmd_show(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	if (argc != 1)
		usage(3);
	return ctl_dbopt(c, &o) == -1 ? 3 : ctldb_show(&o, argv[0]);
}

/* status and metrics: the daemon's socket and its database (status.c). */
static void
ctl_statusopt(struct ctl *c, struct status_opt *o)
{
	memset(o, 0, sizeof(*o));
	o->database = c->conf->database;
	o->control = c->conf->control;
	o->rs = c->rs;
	o->now = ctldb_now();
	o->json = c->json;
}

static int
cmd_metrics(struct ctl *c, int argc, char **argv)
{
	struct status_opt	 o;

	(void)argv;
	if (argc > 0)
		usage(3);
	ctl_statusopt(c, &o);
	return status_metrics(&o);
}

static int
cmd_reload(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 0)
		usage(3);
	return ctlsock_command(c->conf->control, "reload", NULL);
}

static int
cmd_reset(struct ctl *c, int argc, char **argv)
{
	if (argc != 1)
		usage(3);
	return ctlsock_command(c->conf->control, "reset", argv[0]);
}

static int
cmd_status(struct ctl *c, int argc, char **argv)
{
	struct status_opt	 o;

	(void)argv;
	if (argc > 0)
		usage(3);
	ctl_statusopt(c, &o);
	return status_print(&o);
}

/* --since for scan --journal: microseconds of the realtime clock, or 0. */
static int
scan_since(const struct ctl *c, uint64_t *usec)
{
	long	 d;

	*usec = 0;
	if (c->since == NULL)
		return 0;
	if (duration_parse(c->since, &d) == -1 || d <= 0) {
		log_warnx("--since %s: not a duration such as 90m, 12h or 7d",
		    c->since);
		return -1;
	}
	*usec = (uint64_t)(time(NULL) - d) * 1000000;
	return 0;
}

static int
cmd_scan(struct ctl *c, int argc, char **argv)
{
	struct scan	*s;
	unsigned int	 flags = 0;
	uint64_t	 since = 0;
	int		 i, rc = 0;

	if (c->events)
		flags |= SCAN_EVENTS;
	if (c->json)
		flags |= SCAN_JSON;
	if (c->missed)
		flags |= SCAN_MISSED;
	if (c->progress && isatty(STDERR_FILENO))
		flags |= SCAN_PROGRESS;
	if (argc == 0 && !c->journal) {
		log_warnx("scan: a FILE, - for standard input, or --journal");
		return 3;
	}
	if (c->journal && scan_since(c, &since) == -1)
		return 3;
	if ((s = scan_new(c->rs, c->conf, flags, stdout)) == NULL)
		return 3;
	for (i = 0; i < argc; i++)
		if (scan_path(s, argv[i]) == -1)
			rc = 3;
	if (c->journal && scan_journal(s, c->conf->journal_dir, since) == -1)
		rc = 3;
	if (!c->events && (c->json ? scan_report_json(s) :
	    scan_report(s)) != 0)
		rc = 3;
	scan_free(s);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("stdout");
		rc = 3;
	}
	return rc;
}

/* 1 when name ends in ".txt" and does not begin with a dot. */
static int
corpus_name(const char *name)
{
	size_t	 n = strlen(name);

	return n > 4 && name[0] != '.' && strcmp(name + n - 4, ".txt") == 0;
}

/* The corpus files of directory dir, in name order, onto v. */
static int
corpus_dir(const char *dir, char ***v, size_t *n)
{
	struct dirent	**de;
	char		 path[4096];
	int		 i, nde;

	if ((nde = scandir(dir, &de, NULL, alphasort)) == -1) {
		log_warn("%s", dir);
		return -1;
	}
	for (i = 0; i < nde; i++) {
		if (corpus_name(de[i]->d_name)) {
			snprintf(path, sizeof(path), "%s/%s", dir,
			    de[i]->d_name);
			strv_push(v, n, path);
		}
		free(de[i]);
	}
	free(de);
	return 0;
}

/*
 * check-rules: every case of the corpus files (a directory stands for
 * its *.txt files; none named: the corpus shipped with the rules) runs
 * against the rule set, in UTC, so a corpus gives the same verdict on
 * every machine.  0 all hold, 1 a case failed, 3 a file unreadable.
 */
static int
cmd_check_rules(struct ctl *c, int argc, char **argv)
{
	struct corpus_totals	 t = { 0, 0, 0 };
	struct stat		 st;
	char			**files = NULL;
	size_t			 nfiles = 0, i;
	int			 rc = 0;

	if (argc == 0 && corpus_dir(SW_DATADIR "/corpus", &files,
	    &nfiles) == -1)
		return 3;
	for (i = 0; i < (size_t)argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (corpus_dir(argv[i], &files, &nfiles) == -1)
				rc = 3;
		} else
			strv_push(&files, &nfiles, argv[i]);
	}
	rules_log_replaced(c->rs);
	for (i = 0; i < nfiles; i++)
		if (corpus_file(c->rs, &c->conf->match, time(NULL), files[i],
		    stdout, &t) == -1)
			rc = 3;
	strv_free(files, nfiles);
	printf("check-rules: %u passed, %u failed, %u todo (%zu rules "
	    "files)\n", t.passed, t.failed, t.todo, c->rs->nfiles);
	if (rc == 0 && t.failed > 0)
		rc = 1;
	return rc;
}

static void
explain_capture(void *arg, const char *name, const char *v, size_t n)
{
	FILE	*fp = arg;

	fprintf(fp, "  %-10s ", name);
	fput_vis(fp, v, n);
	fputc('\n', fp);
}

/* Why each rule that could have taken rec did not. */
static void
explain_miss(struct ctl *c, const struct sw_record *rec, FILE *fp)
{
	const struct sw_extract	*x;
	char			 tag[SW_TAG_MAX + 1];
	size_t			 i, j;
	int			 prog, tried = 0;

	fprintf(fp, "rule:      none matched\n");
	if (rec->env.tag == NULL) {
		fprintf(fp, "  the line has no syslog envelope, and every "
		    "rule needs a program\n");
		return;
	}
	memcpy(tag, rec->env.tag, rec->env.taglen);
	tag[rec->env.taglen] = '\0';
	for (i = 0; i < c->rs->nextracts; i++) {
		x = &c->rs->extracts[i];
		for (j = 0, prog = 0; j < x->nprograms && !prog; j++)
			prog = fnmatch(x->programs[j], tag, 0) == 0;
		if (!prog)
			continue;
		tried++;
		for (j = 0; j < x->nliterals; j++)
			if (memmem(rec->text, rec->len, x->literals[j],
			    strlen(x->literals[j])) == NULL)
				break;
		fprintf(fp, "  %-36s ", x->id);
		if (j < x->nliterals)
			fprintf(fp, "literal \"%s\" absent\n", x->literals[j]);
		else
			fprintf(fp, "pattern did not match\n");
	}
	if (tried == 0)
		fprintf(fp, "  no rule is for program \"%s\"\n", tag);
}

static void
explain_envelope(const struct sw_record *rec, FILE *fp)
{
	static const char *const fmts[] = {
		"none", "classic syslog", "RFC 3339 syslog", "Exim mainlog"
	};
	const struct sw_line	*l = &rec->env;
	char			 t[32];
	struct tm		 tm;

	fprintf(fp, "envelope:  %s", fmts[l->fmt]);
	if (l->when != 0 && gmtime_r(&l->when, &tm) != NULL) {
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(fp, ", time %s", t);
	}
	if (l->hostlen > 0) {
		fputs(", host ", fp);
		fput_vis(fp, l->host, l->hostlen);
	}
	if (l->tag != NULL) {
		fputs(", program ", fp);
		fput_vis(fp, l->tag, l->taglen);
	}
	if (l->pid != 0)
		fprintf(fp, ", pid %ld", (long)l->pid);
	fprintf(fp, ", mta %s", mta_name(l->mta));
	if (rec->nlines > 1)
		fprintf(fp, ", %u lines joined", rec->nlines);
	if (rec->cut)
		fprintf(fp, ", cut at %d bytes", SW_LINE_MAX);
	fputs("\nmessage:   ", fp);
	fput_vis(fp, rec->text, rec->len);
	fputc('\n', fp);
}

/* join.c hands each record of an explain session here. */
static void
explain_record(void *arg, const struct sw_record *rec)
{
	struct ctl	*c = arg;
	struct sw_event	 ev;
	FILE		*fp = stdout;
	int		 rc;

	fprintf(fp, "line %lu\n", rec->lineno);
	explain_envelope(rec, fp);
	rc = match_record(c->m, rec, &ev);
	if (rc == SW_MATCH_NONE) {
		explain_miss(c, rec, fp);
		fputc('\n', fp);
		return;
	}
	fprintf(fp, "rule:      %s (%s:%u)\n", ev.rule->id, ev.rule->file,
	    ev.rule->line);
	match_captures(c->rs, ev.rule, rec, explain_capture, fp);
	if (rc == SW_MATCH_IGNORED)
		fprintf(fp, "event:     none (a known look-alike)\n");
	else if (rc == SW_MATCH_DUP)
		fprintf(fp, "event:     none (Exim's syslog copy of the line "
		    "before; see exim-syslog-duplication)\n");
	else {
		fputs("event:     ", fp);
		event_print_json(fp, "-", rec->lineno, &ev);
		if (ev.diag != NULL) {
			fprintf(fp, "diagnosis: %s (%s:%u)\n", ev.diag->id,
			    ev.diag->file, ev.diag->line);
			diag_print(fp, ev.diag, "  ", 1);
		}
		else if (ev.dir == SW_DIR_SERVER && ev.kind == SW_EV_FAILURE)
			fprintf(fp, "diagnosis: from behaviour over time "
			    "(stale-device, brute-force, "
			    "distributed-brute-force, password-spraying)\n");
		else
			fprintf(fp, "diagnosis: none applies\n");
	}
	fputc('\n', fp);
}

static void
explain_line(void *arg, const char *line, size_t len, int cut)
{
	join_line(arg, line, len, cut);
}

static int
cmd_explain(struct ctl *c, int argc, char **argv)
{
	struct sw_join	*j;
	struct sw_lines	 ls;
	char		 buf[65536];
	ssize_t		 n;
	int		 i;

	c->m = matcher_new(c->rs, &c->conf->match);
	j = join_new(time(NULL), explain_record, c);
	for (i = 0; i < argc; i++)
		join_line(j, argv[i], strlen(argv[i]), 0);
	if (argc == 0) {
		lines_init(&ls, explain_line, j);
		while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
			lines_feed(&ls, buf, (size_t)n);
		lines_finish(&ls);
		lines_free(&ls);
	}
	join_flush(j);
	join_free(j);
	matcher_free(c->m);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "direction",	required_argument,	NULL, 'D' },
		{ "events",	no_argument,		NULL, 'E' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "journal",	no_argument,		NULL, 'j' },
		{ "json",	no_argument,		NULL, 'J' },
		{ "missed",	no_argument,		NULL, 'M' },
		{ "no-progress", no_argument,		NULL, 'P' },
		{ "open",	no_argument,		NULL, 'O' },
		{ "rules",	required_argument,	NULL, 'R' },
		{ "since",	required_argument,	NULL, 'S' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	struct ctl		 c;
	const struct command	*cmd = NULL;
	size_t			 i;
	int			 ch, rc;

	memset(&c, 0, sizeof(c));
	c.conffile = SW_CONF_DEFAULT;
	c.progress = 1;
	log_init("smtpwatchctl", 0);
	while ((ch = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'D':
			c.direction = optarg;
			break;
		case 'E':
			c.events = 1;
			break;
		case 'f':
			c.conffile = optarg;
			c.conf_given = 1;
			break;
		case 'J':
			c.json = 1;
			break;
		case 'j':
			c.journal = 1;
			break;
		case 'M':
			c.missed = 1;
			break;
		case 'O':
			c.open = 1;
			break;
		case 'P':
			c.progress = 0;
			break;
		case 'R':
			strv_push(&c.rules, &c.nrules, optarg);
			break;
		case 'S':
			c.since = optarg;
			break;
		case 'V':
			printf("smtpwatchctl %s\n", SW_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(3);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(3);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL || argc - 1 < cmd->minargs)
		usage(3);
	if (cmd->fn == cmd_check_rules) {
		setenv("TZ", "UTC", 1);
		tzset();
	}
	if (ctl_load(&c) == -1)
		rc = 3;
	else
		rc = cmd->fn(&c, argc - 1, argv + 1);
	rules_free(c.rs);
	conf_free(c.conf);
	strv_free(c.rules, c.nrules);
	return rc;
}
