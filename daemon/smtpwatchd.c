/*
 * smtpwatchd.c -- the daemon's main(): options, configuration, rules.
 * Live tailing, the store and the alerts arrive with the issues that
 * build them; today `smtpwatchd -n` checks a configuration and its rules
 * the way the running daemon will load them.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpwatch.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: smtpwatchd [-dn] [-f CONFIG] [--rules DIR]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "rules",	required_argument,	NULL, 'R' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*conffile = SW_CONF_DEFAULT;
	struct sw_conf	*conf;
	struct sw_rules	*rs;
	char	       **rules = NULL;
	size_t		 nrules = 0;
	int		 ch, checkonly = 0, given = 0, rc;

	log_init("smtpwatchd", 0);
	while ((ch = getopt_long(argc, argv, "df:n", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			log_init("smtpwatchd", 1);
			break;
		case 'f':
			conffile = optarg;
			given = 1;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'R':
			strv_push(&rules, &nrules, optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (conf_load(conffile, given, &conf) == -1)
		return 1;
	rc = nrules > 0 ? rules_load(rules, nrules, &rs) :
	    rules_load(conf->rules, conf->nrules, &rs);
	strv_free(rules, nrules);
	if (rc == -1) {
		conf_free(conf);
		return 1;
	}
	if (checkonly)
		printf("configuration OK: %zu extract and %zu diagnosis "
		    "entries from %zu rules files\n", rs->nextracts,
		    rs->ndiagnoses, rs->nfiles);
	else
		log_warnx("live tailing is not built yet: use -n, or "
		    "smtpwatchctl scan");
	rules_free(rs);
	conf_free(conf);
	return checkonly ? 0 : 1;
}
