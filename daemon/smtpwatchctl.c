/*
 * smtpwatchctl.c -- the command line.  A sorted table of commands, each
 * a function with the options it takes; the options are parsed once,
 * before and after the command, and an option a command does not take,
 * a value it cannot use or an argument too many is a usage error that
 * names them (exit 3).  `smtpwatchctl CMD --help` prints one command's
 * usage, made from the same table, so it cannot disagree with what the
 * command accepts.  scan and explain read logs; the listings read the
 * database (ctldb.c); status and metrics ask the daemon too (status.c);
 * reset and reload go to the daemon (ctlsock.c); check-relay reads the
 * MTA's configuration (relayconf.c), checks it (relaycheck.c) and with
 * --live logs in at the relay (relaylive.c).
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpwatch.h"

/* The options: common ones (-f, --rules, --help) and the commands'. */
enum opt {
	O_DIRECTION, O_DRY_RUN, O_EVENTS, O_FAILING, O_FORMAT, O_HOST,
	O_JOURNAL, O_JSON, O_LIVE, O_MISSED, O_NO_PROGRESS, O_OPEN, O_OUTPUT,
	O_SINCE, O_UNTIL, O_VERBOSE, O_NCMDOPTS,
	O_RULES = O_NCMDOPTS, O_HELP, O_VERSION, O_CONFIG, O_NOPTS
};
#define OPT(o)	(1u << (o))

static const struct option longopts[] = {	/* indexed by enum opt */
	[O_DIRECTION] =	{ "direction",	required_argument,	NULL, 0 },
	[O_DRY_RUN] =	{ "dry-run",	no_argument,		NULL, 0 },
	[O_EVENTS] =	{ "events",	no_argument,		NULL, 0 },
	[O_FAILING] =	{ "failing",	no_argument,		NULL, 0 },
	[O_FORMAT] =	{ "format",	required_argument,	NULL, 0 },
	[O_HOST] =	{ "host",	required_argument,	NULL, 0 },
	[O_JOURNAL] =	{ "journal",	no_argument,		NULL, 0 },
	[O_JSON] =	{ "json",	no_argument,		NULL, 0 },
	[O_LIVE] =	{ "live",	no_argument,		NULL, 0 },
	[O_MISSED] =	{ "missed",	no_argument,		NULL, 0 },
	[O_NO_PROGRESS] = { "no-progress", no_argument,		NULL, 0 },
	[O_OPEN] =	{ "open",	no_argument,		NULL, 0 },
	[O_OUTPUT] =	{ "output",	required_argument,	NULL, 0 },
	[O_SINCE] =	{ "since",	required_argument,	NULL, 0 },
	[O_UNTIL] =	{ "until",	required_argument,	NULL, 0 },
	[O_VERBOSE] =	{ "verbose",	no_argument,		NULL, 0 },
	[O_RULES] =	{ "rules",	required_argument,	NULL, 0 },
	[O_HELP] =	{ "help",	no_argument,		NULL, 0 },
	[O_VERSION] =	{ "version",	no_argument,		NULL, 0 },
	[O_CONFIG] =	{ NULL,		0,			NULL, 0 }	/* -f */
};

/* The value an option's usage shows, or NULL for a flag. */
static const char *const optargs[O_NOPTS] = {
	[O_DIRECTION] = "server|client",
	[O_FORMAT] = "plain|nft",
	[O_HOST] = "HOST",
	[O_OUTPUT] = "FILE",
	[O_SINCE] = "TIME",
	[O_UNTIL] = "TIME",
	[O_CONFIG] = "CONFIG",
	[O_RULES] = "DIR",
};

struct ctl {
	const char		*conffile;
	int			 conf_given;
	char		       **rules;	/* --rules, replacing the config's */
	size_t			 nrules;
	unsigned int		 given;	/* OPT() of each option given */
	const char		*arg[O_NCMDOPTS];	/* their values */
	time_t			 now;		/* ctldb_now() */
	time_t			 since, until;	/* 0: not given */
	struct sw_conf		*conf;
	struct sw_rules		*rs;
	struct sw_matcher	*m;	/* explain */
};

struct command {
	const char	*name;
	int		 minargs, maxargs;	/* -1: any number */
	unsigned int	 opts;		/* OPT() of the options it takes */
	int		 (*fn)(struct ctl *, int, char **);
	const char	*args;		/* its arguments, for the usage */
	const char	*what;		/* one line for --help */
	int		 usage_rc;	/* its usage errors' exit status */
};

static int	cmd_accounts(struct ctl *, int, char **);
static int	cmd_addresses(struct ctl *, int, char **);
static int	cmd_check_relay(struct ctl *, int, char **);
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

/* What the listings take: a window, a host, JSON. */
#define LISTING	(OPT(O_HOST) | OPT(O_JSON) | OPT(O_SINCE) | OPT(O_UNTIL))

static const struct command commands[] = {	/* sorted */
	{ "accounts",	0, 0, LISTING | OPT(O_DIRECTION), cmd_accounts, "",
	    "Accounts failing AUTH, ours at relays and clients' at us", 3 },
	{ "addresses",	0, 0, LISTING | OPT(O_FAILING) | OPT(O_FORMAT),
	    cmd_addresses, "",
	    "Client addresses failing AUTH", 3 },
	{ "check-relay", 0, 1, OPT(O_LIVE), cmd_check_relay, "[RELAY]",
	    "Check our login at the relays in the MTA's configuration; "
	    "--live tries it", 2 },
	{ "check-rules", 0, -1, 0, cmd_check_rules, "[FILE | DIR ...]",
	    "Run the annotated corpus against the rules", 3 },
	{ "explain",	0, -1, 0, cmd_explain, "[LINE ...]",
	    "How each log line is read, matched and diagnosed", 3 },
	{ "incidents",	0, 0, LISTING | OPT(O_OPEN), cmd_incidents, "",
	    "Incidents, newest first", 3 },
	{ "metrics",	0, 0, OPT(O_OUTPUT), cmd_metrics, "",
	    "The Prometheus text exposition, for node_exporter", 3 },
	{ "relays",	0, 0, LISTING, cmd_relays, "",
	    "Our credentials at the relays (smarthosts)", 3 },
	{ "reload",	0, 0, 0, cmd_reload, "",
	    "Have smtpwatchd read its configuration and rules again", 3 },
	{ "reset",	1, 1, OPT(O_DRY_RUN) | OPT(O_HOST), cmd_reset,
	    "SUBJECT", "Forget an account, address or relay", 3 },
	{ "scan",	0, -1, OPT(O_EVENTS) | OPT(O_JOURNAL) | OPT(O_JSON) |
	    OPT(O_MISSED) | OPT(O_NO_PROGRESS) | OPT(O_SINCE) | OPT(O_UNTIL),
	    cmd_scan, "[FILE ...]", "Count the failures in existing logs", 3 },
	{ "show",	1, 1, OPT(O_HOST) | OPT(O_JSON), cmd_show, "SUBJECT",
	    "Everything about one account, address or relay", 3 },
	{ "status",	0, 0, OPT(O_JSON) | OPT(O_VERBOSE), cmd_status, "",
	    "What smtpwatchd is doing and what is wrong now", 3 },
};

/* "  [--json] [--since TIME]": the options of mask, in name order. */
static void
usage_opts(FILE *fp, unsigned int mask)
{
	int	 o;

	for (o = 0; o < O_NOPTS; o++) {
		if (!(mask & OPT(o)))
			continue;
		fprintf(fp, " [--%s%s%s]", longopts[o].name,
		    optargs[o] != NULL ? " " : "",
		    optargs[o] != NULL ? optargs[o] : "");
	}
}

/* One command's usage line. */
static void
usage_command(FILE *fp, const struct command *cmd)
{
	fprintf(fp, "smtpwatchctl %s", cmd->name);
	usage_opts(fp, cmd->opts);
	fprintf(fp, "%s%s\n", cmd->args[0] != '\0' ? " " : "", cmd->args);
}

/* Every command's usage: on stdout for --help (0), else stderr (3). */
static void __attribute__((noreturn))
usage(int rc)
{
	FILE	*fp = rc == 0 ? stdout : stderr;
	size_t	 i;

	fprintf(fp, "usage: smtpwatchctl [-f CONFIG] [--rules DIR] "
	    "COMMAND [OPTION ...] [ARG ...]\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		fputs("       ", fp);
		usage_command(fp, &commands[i]);
	}
	fprintf(fp, "       smtpwatchctl --version\n"
	    "smtpwatchctl COMMAND --help describes one command.\n");
	exit(rc);
}

/*
 * A usage error of cmd: what is wrong, then cmd's usage; exits 3 (2 for
 * check-relay, whose 3 says the MTA's configuration cannot be read).
 */
static void __attribute__((noreturn, format(printf, 2, 3)))
usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "smtpwatchctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: ", stderr);
	usage_command(stderr, cmd);
	exit(cmd->usage_rc);
}

/* smtpwatchctl CMD --help: its usage and what it does, exit 0. */
static void __attribute__((noreturn))
usage_help(const struct command *cmd)
{
	fputs("usage: ", stdout);
	usage_command(stdout, cmd);
	printf("%s.\nCommon options: [-f CONFIG] [--rules DIR]; "
	    "see smtpwatchctl(8).\n", cmd->what);
	exit(0);
}

/* A usage error before the command is known: exits 3. */
static void __attribute__((noreturn, format(printf, 1, 2)))
ctl_fatal(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "smtpwatchctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nsmtpwatchctl --help shows the usage.\n", stderr);
	exit(3);
}

/*
 * Loads the configuration and the rules the options name, compiled as
 * the daemon compiles them (pcre-jit no: for the interpreter alone).
 */
static int
ctl_load(struct ctl *c)
{
	if (conf_load(c->conffile, c->conf_given, &c->conf) == -1)
		return -1;
	rules_nojit = !c->conf->jit;
	if (c->nrules > 0)
		return rules_load(c->rules, c->nrules, &c->rs);
	return rules_load(c->conf->rules, c->conf->nrules, &c->rs);
}

/* The options of the database views (ctldb.c). */
static void
ctl_dbopt(const struct ctl *c, struct ctldb_opt *o)
{
	memset(o, 0, sizeof(*o));
	o->database = c->conf->database;
	o->rs = c->rs;
	o->now = c->now;
	o->json = (c->given & OPT(O_JSON)) != 0;
	o->open = (c->given & OPT(O_OPEN)) != 0;
	o->direction = c->arg[O_DIRECTION];
	o->host = c->arg[O_HOST];
	o->since = c->since;
	o->until = c->until;
}

static int
cmd_accounts(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	(void)argc;
	(void)argv;
	ctl_dbopt(c, &o);
	return ctldb_accounts(&o);
}

static int
cmd_addresses(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;
	const char		*f = c->arg[O_FORMAT];

	(void)argc;
	(void)argv;
	ctl_dbopt(c, &o);
	o.failing = (c->given & OPT(O_FAILING)) != 0;
	if (f != NULL)		/* opt_check() allowed these two */
		o.format = strcmp(f, "nft") == 0 ? CTLDB_FMT_NFT :
		    CTLDB_FMT_PLAIN;
	return ctldb_addresses(&o);
}

static int
cmd_incidents(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	(void)argc;
	(void)argv;
	ctl_dbopt(c, &o);
	return ctldb_incidents(&o);
}

static int
cmd_relays(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	(void)argc;
	(void)argv;
	ctl_dbopt(c, &o);
	return ctldb_relays(&o);
}

static int
cmd_show(struct ctl *c, int argc, char **argv)
{
	struct ctldb_opt	 o;

	(void)argc;
	ctl_dbopt(c, &o);
	return ctldb_show(&o, argv[0]);
}

/* status and metrics: the daemon's socket and its database (status.c). */
static void
ctl_statusopt(const struct ctl *c, struct status_opt *o)
{
	memset(o, 0, sizeof(*o));
	o->database = c->conf->database;
	o->control = c->conf->control;
	o->rs = c->rs;
	o->now = c->now;
	o->json = (c->given & OPT(O_JSON)) != 0;
	o->verbose = (c->given & OPT(O_VERBOSE)) != 0;
	o->output = c->arg[O_OUTPUT];
	o->limit = c->conf->store.limit;
}

static int
cmd_metrics(struct ctl *c, int argc, char **argv)
{
	struct status_opt	 o;

	(void)argc;
	(void)argv;
	ctl_statusopt(c, &o);
	return status_metrics(&o);
}

static int
cmd_reload(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return ctlsock_reload(c->conf->control);
}

static int
cmd_reset(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	return ctlsock_reset(c->conf->control, argv[0], c->arg[O_HOST],
	    (c->given & OPT(O_DRY_RUN)) != 0);
}

static int
cmd_status(struct ctl *c, int argc, char **argv)
{
	struct status_opt	 o;

	(void)argc;
	(void)argv;
	ctl_statusopt(c, &o);
	return status_print(&o);
}

static int
cmd_scan(struct ctl *c, int argc, char **argv)
{
	struct scan	*s;
	unsigned int	 flags = 0;
	int		 i, rc = 0, journal = (c->given & OPT(O_JOURNAL)) != 0;

	if (c->given & OPT(O_EVENTS))
		flags |= SCAN_EVENTS;
	if (c->given & OPT(O_JSON))
		flags |= SCAN_JSON;
	if (c->given & OPT(O_MISSED))
		flags |= SCAN_MISSED;
	if (!(c->given & OPT(O_NO_PROGRESS)) && isatty(STDERR_FILENO))
		flags |= SCAN_PROGRESS;
	if (argc == 0 && !journal) {
		log_warnx("scan: a FILE, - for standard input, or --journal");
		return 3;
	}
	if ((s = scan_new(c->rs, c->conf, flags, stdout)) == NULL)
		return 3;
	scan_window(s, c->since, c->until);
	for (i = 0; i < argc; i++)
		if (scan_path(s, argv[i]) == -1)
			rc = 3;
	if (journal && scan_journal(s, c->conf->journal_dir,
	    (uint64_t)c->since * 1000000) == -1)
		rc = 3;
	if (!(flags & SCAN_EVENTS) && ((flags & SCAN_JSON) ?
	    scan_report_json(s) : scan_report(s)) != 0)
		rc = 3;
	scan_free(s);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("stdout");
		rc = 3;
	}
	return rc;
}

/*
 * check-relay: the MTA's relays (or the one given) and the credential
 * it sends each, checked (relaycheck.c), and with --live tried at the
 * relay (relaylive.c).  0 nothing found (and the logins succeeded),
 * 1 a finding, 3 the MTA's configuration cannot be read.
 */
static int
cmd_check_relay(struct ctl *c, int argc, char **argv)
{
	struct relayconf	*rc;
	struct relayfind	*f;
	size_t			 i, n;
	int			 live = (c->given & OPT(O_LIVE)) != 0, ret = 0;

	if (geteuid() != 0)
		log_warnx("check-relay: not root, the credentials may not "
		    "be readable");
	if (relayconf_load(argc > 0 ? argv[0] : NULL, 1, &rc) == -1)
		return 3;
	f = relaycheck_new();
	relaycheck_conf(rc, f);
	relaycheck_describe(rc, NULL, stdout);
	n = relaycheck_print(f, stdout);
	relaycheck_free(f);
	for (i = 0; i < rc->nrelays; i++) {
		f = relaycheck_new();
		relaycheck_describe(rc, &rc->relays[i], stdout);
		relaycheck_relay(rc, &rc->relays[i], f);
		if (live && relaylive_login(rc, &rc->relays[i], c->rs, f) == -1)
			ret = 3;
		n += relaycheck_print(f, stdout);
		relaycheck_free(f);
	}
	printf("check-relay: %zu relay%s, %zu finding%s\n", rc->nrelays,
	    rc->nrelays == 1 ? "" : "s", n, n == 1 ? "" : "s");
	relayconf_free(rc);
	if (ret == 0 && n > 0)
		ret = 1;
	return ret;
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
		if (ev.dir == SW_DIR_CLIENT && ev.kind == SW_EV_SUCCESS)
			fprintf(fp, "counted:   only when this relay failed "
			    "AUTH on this host before (a relay watched)\n");
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

/*
 * Text output keeps UTF-8 only for a terminal that shows it: the
 * locale's character set says.  LC_CTYPE is C.UTF-8 from then on, for
 * the width of what is shown, whatever the user's locale.
 */
static void
ctl_locale(void)
{
	const char	*cs;

	if (setlocale(LC_CTYPE, "") == NULL)
		str_vis_ascii(1);
	else if ((cs = nl_langinfo(CODESET)) == NULL || strcmp(cs, "UTF-8") != 0)
		str_vis_ascii(1);
	setlocale(LC_CTYPE, "C.UTF-8");
}

/* A usage error: of cmd when it is known. */
#define opt_error(cmd, ...) do {					\
	if ((cmd) != NULL)						\
		usage_error((cmd), __VA_ARGS__);			\
	ctl_fatal(__VA_ARGS__);						\
} while (0)

/*
 * Records option o (its value v) as given; a repeated one is an error,
 * but --rules, which adds a directory each time.
 */
static void
opt_record(struct ctl *c, const struct command *cmd, int o, const char *v)
{
	if (o == O_RULES) {
		strv_push(&c->rules, &c->nrules, v);
		return;
	}
	if (o == O_CONFIG) {
		if (c->conf_given)
			opt_error(cmd, "-f given twice");
		c->conffile = v;
		c->conf_given = 1;
		return;
	}
	if (c->given & OPT(o))
		opt_error(cmd, "--%s given twice", longopts[o].name);
	c->given |= OPT(o);
	if (o < O_NCMDOPTS)
		c->arg[o] = v;
}

/*
 * Options from argv[1] on: before the command (cmd NULL) up to the
 * first argument that is not one, the command; after it (cmd), all of
 * them, the arguments left at the end.  Returns the index of the first
 * argument.
 */
static int
opt_parse(struct ctl *c, const struct command *cmd, int argc, char **argv)
{
	int	 ch, idx;

	optind = 0;			/* glibc: start afresh */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, cmd == NULL ? "+:f:h" : ":f:h",
	    longopts, &idx)) != -1) {
		switch (ch) {
		case 0:
			opt_record(c, cmd, idx, optarg);
			break;
		case 'f':
			opt_record(c, cmd, O_CONFIG, optarg);
			break;
		case 'h':
			opt_record(c, cmd, O_HELP, NULL);
			break;
		case ':':
			opt_error(cmd, "%s needs a value", argv[optind - 1]);
		default:
			if (optopt != 0)
				opt_error(cmd, "unknown option -%c", optopt);
			opt_error(cmd, "unknown option %s", argv[optind - 1]);
		}
	}
	return optind;
}

/* The command called name, or a usage error that names it. */
static const struct command *
cmd_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	fprintf(stderr, "smtpwatchctl: unknown command \"");
	fput_vis(stderr, name, strlen(name));
	fprintf(stderr, "\"; the commands are:");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, " %s", commands[i].name);
	fprintf(stderr, "\nsmtpwatchctl --help shows their usage.\n");
	exit(3);
}

/* A time option's value, or a usage error of cmd. */
static time_t
opt_time(const struct ctl *c, const struct command *cmd, int o)
{
	time_t	 t;

	if (time_parse(c->arg[o], c->now, &t) == -1)
		usage_error(cmd, "--%s %s: not a time; give a duration before "
		    "now (90m, 12h, 7d), a date (2026-12-01), a date and "
		    "time (2026-12-01T10:00), today or yesterday",
		    longopts[o].name, c->arg[o]);
	return t;
}

/*
 * What the options given mean for cmd: an option it does not take, a
 * value it cannot use, or arguments it does not want are usage errors.
 */
static void
opt_check(struct ctl *c, const struct command *cmd, int argc)
{
	int	 o;

	for (o = 0; o < O_NCMDOPTS; o++)
		if ((c->given & OPT(o)) && !(cmd->opts & OPT(o)))
			usage_error(cmd, "%s does not take --%s", cmd->name,
			    longopts[o].name);
	if (argc < cmd->minargs)
		usage_error(cmd, "%s needs %s", cmd->name, cmd->args);
	if (cmd->maxargs != -1 && argc > cmd->maxargs)
		usage_error(cmd, "%s takes %s", cmd->name, cmd->maxargs == 0 ?
		    "no arguments" : "one argument");
	if (c->arg[O_DIRECTION] != NULL &&
	    strcmp(c->arg[O_DIRECTION], "server") != 0 &&
	    strcmp(c->arg[O_DIRECTION], "client") != 0)
		usage_error(cmd, "--direction %s: server or client",
		    c->arg[O_DIRECTION]);
	if (c->arg[O_HOST] != NULL && c->arg[O_HOST][0] == '\0')
		usage_error(cmd, "--host needs a host name");
	if (c->arg[O_FORMAT] != NULL && strcmp(c->arg[O_FORMAT], "plain") != 0 &&
	    strcmp(c->arg[O_FORMAT], "nft") != 0)
		usage_error(cmd, "--format %s: plain or nft", c->arg[O_FORMAT]);
	if (c->arg[O_FORMAT] != NULL && (c->given & OPT(O_JSON)))
		usage_error(cmd, "--format and --json exclude each other");
	if (c->given & OPT(O_SINCE))
		c->since = opt_time(c, cmd, O_SINCE);
	if (c->given & OPT(O_UNTIL))
		c->until = opt_time(c, cmd, O_UNTIL);
	if ((c->given & OPT(O_SINCE)) && (c->given & OPT(O_UNTIL)) &&
	    c->since >= c->until)
		usage_error(cmd, "--since %s is not before --until %s",
		    c->arg[O_SINCE], c->arg[O_UNTIL]);
}

int
main(int argc, char *argv[])
{
	struct ctl		 c;
	const struct command	*cmd;
	int			 n, rc;

	store_setup();
	memset(&c, 0, sizeof(c));
	c.conffile = SW_CONF_DEFAULT;
	log_init("smtpwatchctl", 0);
	ctl_locale();
	n = opt_parse(&c, NULL, argc, argv);
	if (n == argc) {
		if (c.given & OPT(O_VERSION)) {
			printf("smtpwatchctl %s\n", SW_VERSION);
			return 0;
		}
		usage((c.given & OPT(O_HELP)) ? 0 : 3);
	}
	if (c.given & (OPT(O_VERSION) | OPT(O_HELP)))
		ctl_fatal("--%s goes alone, or after the command for its "
		    "usage", (c.given & OPT(O_VERSION)) ? "version" : "help");
	cmd = cmd_find(argv[n]);
	argc -= n;
	argv += n;
	n = opt_parse(&c, cmd, argc, argv);
	if (c.given & OPT(O_HELP))
		usage_help(cmd);
	if (c.given & OPT(O_VERSION))
		usage_error(cmd, "--version goes alone");
	c.now = ctldb_now();
	argc -= n;
	argv += n;
	opt_check(&c, cmd, argc);
	if (cmd->fn == cmd_check_rules) {
		setenv("TZ", "UTC", 1);
		tzset();
	}
	if (ctl_load(&c) == -1)
		rc = 3;
	else
		rc = cmd->fn(&c, argc, argv);
	rules_free(c.rs);
	conf_free(c.conf);
	strv_free(c.rules, c.nrules);
	return rc;
}
