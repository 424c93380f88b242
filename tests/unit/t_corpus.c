/*
 * t_corpus.c -- corpus.c, the runner behind smtpwatchctl check-rules
 * (which make check runs on tests/corpus): a case that holds passes; a
 * wrong kind, field or count fails and is said as FILE:LINE with what was
 * wanted and what came; a "?" case is a known gap, counted apart; "@ now"
 * sets the year of classic stamps, and a malformed one fails; a pattern
 * that reaches the daemon's limits fails its case; a file that cannot be
 * read is an error.  Corpora are written into a mkdtemp(3) directory.
 *
 * Usage: t_corpus RULESDIR
 */

#include "../../daemon/corpus.c"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char	 base[] = "/tmp/t_corpus.XXXXXX";
static char	*said;			/* what the last run wrote */
static size_t	 saidlen;

static const char fail_line[] = "> Nov 28 04:35:04 mx1 postfix/smtpd[29503]: "
    "warning: unknown[127.0.1.11]: SASL PLAIN authentication failed: "
    "(reason unavailable), sasl_username=alice@lab.example\n";

/* Writes text to base/name and runs it; returns corpus_file()'s value. */
static int
run(const struct sw_rules *rs, const char *name, const char *text,
    struct corpus_totals *t)
{
	static const struct sw_matchopt	 opt = { 1, NULL };
	char				 path[256];
	FILE				*fp, *out;
	int				 rc;

	snprintf(path, sizeof(path), "%s/%s", base, name);
	if (text != NULL) {
		if ((fp = fopen(path, "w")) == NULL)
			fatal("%s", path);
		fputs(text, fp);
		fclose(fp);
	}
	free(said);
	if ((out = open_memstream(&said, &saidlen)) == NULL)
		fatal("open_memstream");
	memset(t, 0, sizeof(*t));
	rc = corpus_file(rs, &opt, check_utc(2026, 11, 18, 0, 0, 0), path,
	    out, t);
	fclose(out);
	return rc;
}

static void
test_verdicts(const struct sw_rules *rs)
{
	struct corpus_totals	 t;
	char			 text[2048];

	snprintf(text, sizeof(text), "# ok\n%s= failure server postfix "
	    "addr=127.0.1.11 account=alice@lab.example mech=PLAIN "
	    "time=2026-11-28T04:35:04Z\n", fail_line);
	CHECK_INT(run(rs, "ok.txt", text, &t), 0);
	CHECK_INT(t.passed, 1);
	CHECK_INT(t.failed, 0);
	CHECK_INT(saidlen, 0);

	snprintf(text, sizeof(text), "\n%s= failure server postfix "
	    "account=bob\n", fail_line);
	run(rs, "field.txt", text, &t);
	CHECK_INT(t.failed, 1);
	CHECK(strstr(said, "/field.txt:2: event 1: account: want \"bob\", "
	    "got \"alice@lab.example\" (rule postfix-smtpd-sasl-failed)") !=
	    NULL);

	snprintf(text, sizeof(text), "%s= success server postfix\n", fail_line);
	run(rs, "kind.txt", text, &t);
	CHECK_INT(t.failed, 1);
	CHECK(strstr(said, "kind.txt:1: event 1: want success server "
	    "postfix, got failure server postfix") != NULL);

	snprintf(text, sizeof(text), "%s-\n%s\n", fail_line, fail_line);
	run(rs, "none.txt", text, &t);
	CHECK_INT(t.failed, 2);
	CHECK(strstr(said, "none.txt:1: want no event, got failure server") !=
	    NULL);
	CHECK(strstr(said, "none.txt:3: case has no expectation") != NULL);

	snprintf(text, sizeof(text), "%s= failure server postfix bogus=1\n",
	    fail_line);
	run(rs, "key.txt", text, &t);
	CHECK_INT(t.failed, 1);
	CHECK(strstr(said, "key.txt:1: bad key \"bogus\"") != NULL);
}

static void
test_todo(const struct sw_rules *rs)
{
	struct corpus_totals	 t;
	char			 text[2048];

	snprintf(text, sizeof(text), "%s? not read yet\n= success server "
	    "postfix\n%s? fixed since\n= failure server postfix\n", fail_line,
	    fail_line);
	run(rs, "todo.txt", text, &t);
	CHECK_INT(t.todo, 1);
	CHECK_INT(t.passed, 1);
	CHECK_INT(t.failed, 0);
	CHECK(strstr(said, "todo.txt:1: TODO: not read yet") != NULL);
	CHECK(strstr(said, "todo.txt:4: note: TODO case passes now: fixed "
	    "since") != NULL);
}

/* "@ now" moves the year of a classic stamp; a bad one fails. */
static void
test_now(const struct sw_rules *rs)
{
	struct corpus_totals	 t;
	char			 text[4096];

	snprintf(text, sizeof(text), "%s= failure server postfix "
	    "time=2026-11-28T04:35:04Z\n@ now 2031-12-01T00:00:00Z\n%s"
	    "= failure server postfix time=2031-11-28T04:35:04Z\n"
	    "@ now 2031-12-01\n", fail_line, fail_line);
	run(rs, "now.txt", text, &t);
	CHECK_INT(t.passed, 2);
	CHECK_INT(t.failed, 1);
	CHECK(strstr(said, "now.txt:6: directive must read \"@ now "
	    "YYYY-MM-DDTHH:MM:SSZ\"") != NULL);
}

/* A pattern that backtracks without bound fails the case it slows. */
static void
test_limit(const char *shipped)
{
	struct sw_rules		*rs;
	struct corpus_totals	 t;
	char			 dir[256], path[300], text[8192];
	const char		*dirs[2] = { shipped, dir };
	FILE			*fp;
	size_t			 n;

	snprintf(dir, sizeof(dir), "%s/local", base);
	snprintf(path, sizeof(path), "%s/05-slow.rules", dir);
	if (mkdir(dir, 0700) == -1 || (fp = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs("[extract local-slow]\nprogram = postfix*/smtpd\n"
	    "direction = server\nevent = failure\n"
	    "pattern = ^warning: (?:a|a?)+$\n", fp);
	fclose(fp);
	CHECK_INT(rules_load((char *const *)(uintptr_t)dirs, 2, &rs), 0);
	n = (size_t)snprintf(text, sizeof(text), "> Nov 28 04:35:04 mx1 "
	    "postfix/smtpd[1]: warning: ");
	memset(text + n, 'a', 40);
	snprintf(text + n + 40, sizeof(text) - n - 40, "b\n-\n");
	run(rs, "slow.txt", text, &t);
	CHECK_INT(t.failed, 1);
	CHECK(strstr(said, "slow.txt:1: rule local-slow reached the daemon's "
	    "match limit") != NULL);
	rules_free(rs);
}

static void
test_unreadable(const struct sw_rules *rs)
{
	struct corpus_totals	 t;

	log_mute(1);
	CHECK_INT(run(rs, "absent.txt", NULL, &t), -1);
	log_mute(0);
	CHECK_INT(t.failed, 1);
}

int
main(int argc, char *argv[])
{
	struct sw_rules	*rs;

	if (argc != 2) {
		fprintf(stderr, "usage: t_corpus RULESDIR\n");
		return 2;
	}
	setenv("TZ", "UTC", 1);
	tzset();
	log_init("t_corpus", 0);
	if (mkdtemp(base) == NULL)
		fatal("mkdtemp");
	if (rules_load(&argv[1], 1, &rs) == -1)
		return 1;
	test_verdicts(rs);
	test_todo(rs);
	test_now(rs);
	test_limit(argv[1]);
	test_unreadable(rs);
	rules_free(rs);
	free(said);
	nftw(base, check_rm, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
