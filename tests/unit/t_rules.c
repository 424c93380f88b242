/*
 * t_rules.c -- the rules loader: a good set loads whole; drop-in files
 * replace by name and are read in name order across directories; every
 * error rejects the set and is reported as file:line; then the diagnosis
 * lookups.  Rules files are written into a mkdtemp(3) directory.
 */

#include "../../daemon/rules.c"

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "check.h"

static char	 base[] = "/tmp/t_rules.XXXXXX";
static char	 errbuf[16384];		/* what the last load() logged */
static unsigned int	 ndirs;		/* for fresh directory names */

/* A fresh directory under base; returns its path (static storage). */
static const char *
newdir(void)
{
	static char	 paths[64][256];
	char		*p = paths[ndirs % 64];

	snprintf(p, 256, "%s/d%u", base, ndirs++);
	if (mkdir(p, 0700) == -1)
		fatal("mkdir %s", p);
	return p;
}

static void
writef(const char *dir, const char *name, const char *text)
{
	char	 path[512];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs(text, fp);
	if (fclose(fp) != 0)
		fatal("%s", path);
}

/* rules_load() with stderr caught in errbuf. */
static int
load(const char *const *dirs, size_t n, struct sw_rules **rs)
{
	char	 path[512];
	int	 fd, saved, rc;
	ssize_t	 r;

	snprintf(path, sizeof(path), "%s/stderr", base);
	fflush(stderr);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (saved = dup(STDERR_FILENO)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		fatal("stderr");
	*rs = NULL;
	rc = rules_load((char *const *)(uintptr_t)dirs, n, rs);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	if (lseek(fd, 0, SEEK_SET) == -1 ||
	    (r = read(fd, errbuf, sizeof(errbuf) - 1)) == -1)
		fatal("read");
	errbuf[r] = '\0';
	close(fd);
	return rc;
}

/* Loads a directory holding one file, 10-a.rules, with text. */
static int
load1(const char *text, struct sw_rules **rs)
{
	const char	*d = newdir();

	writef(d, "10-a.rules", text);
	return load(&d, 1, rs);
}

static int
logged(const char *needle)
{
	if (strstr(errbuf, needle) != NULL)
		return 1;
	fprintf(stderr, "\twanted \"%s\" in:\n%s", needle, errbuf);
	return 0;
}

/* text fails to load, and the log says needle. */
#define CHECK_BAD(text, needle) do {					\
	struct sw_rules	*rs_;						\
	CHECK_INT(load1((text), &rs_), -1);				\
	CHECK(rs_ == NULL);						\
	CHECK(logged(needle));						\
} while (0)

/* An extract entry's required keys, after its header. */
#define XKEYS	"program = postfix/smtpd\ndirection = server\n" \
		"event = failure\npattern = ^x\n"
#define DKEYS	"summary = s\ncause = c\nfix = 50% f\n"

static const char	 good[] =
	"# 10-a.rules: a good file\n"					/* 1 */
	"\n"								/* 2 */
	"[extract pf-fail]\n"						/* 3 */
	"program   = postfix*/smtpd  postfix/submission/smtpd\n"	/* 4 */
	"direction = server\n"						/* 5 */
	"event     = failure\n"						/* 6 */
	"literal   = SASL\n"						/* 7 */
	"literal   = authentication failed\n"				/* 8 */
	"pattern   = ^warning: (?<name>[^\\s\\[\\]]++)\\[(?<addr>[0-9a-f.:]++)\\]:  \n"
	"            SASL (?<mech>\\S++) authentication failed"
	"(?:, sasl_username=(?<account>.*+))?$\n"			/* 10 */
	"twice     = no\n"
	"\n"
	"[extract ex-fail]\n"						/* 13 */
	"program   = exim*\n"
	"mta       = exim\n"
	"direction = server\n"
	"event     = failure\n"
	"twice     = yes\n"
	"pattern   = ^(?<mech>\\S+) authenticator failed for "
	"\\[(?<addr>[0-9.]+)\\]: (?<reply>535 .*)$\n"
	"\n"
	"[extract lookalike]\n"						/* 21 */
	"program   = postfix*/smtpd\n"
	"direction = server\n"
	"event     = none\n"
	"pattern   = ^lost connection after AUTH from\n"
	"\n"
	"[diagnosis d-one]\n"						/* 27 */
	"direction = client\n"
	"event     = failure\n"
	"reply     = ^535[- ]5\\.7\\.8\\b\n"
	"summary   = Bad credentials # not a comment\n"
	"cause     = The first part\n"
	"  # an indented comment, not part of the value\n"
	"\tand the second   \n"
	"      part.\n"
	"fix       = 95% Use an app password.\n"
	"fix       = 80%Check the user name\n"
	"dead-end  = 70%   Re-entering the same credentials.\n"
	"affects   = all # versions\n"
	"see       = https://example.org/x#y\n";

static void
test_good(void)
{
	struct sw_rules			*rs;
	const struct sw_extract		*x;
	const struct sw_diagnosis	*d;
	const char			*dir = newdir();

	writef(dir, "10-a.rules", good);
	if (!CHECK_INT(load(&dir, 1, &rs), 0))
		return;
	CHECK_STR(errbuf, "");
	CHECK_INT(rs->nfiles, 1);
	CHECK_INT(rs->nextracts, 3);
	CHECK_INT(rs->ndiagnoses, 1);
	CHECK(rs->mc != NULL);

	x = &rs->extracts[0];
	CHECK_STR(x->id, "pf-fail");
	CHECK(x->file == rs->files[0]);
	CHECK_INT(x->line, 3);
	CHECK_INT(x->nprograms, 2);
	CHECK_STR(x->programs[0], "postfix*/smtpd");
	CHECK_STR(x->programs[1], "postfix/submission/smtpd");
	CHECK_INT(x->nliterals, 2);
	CHECK_STR(x->literals[0], "SASL");
	CHECK_STR(x->literals[1], "authentication failed");
	CHECK_STR(x->pattern, "^warning: (?<name>[^\\s\\[\\]]++)\\[(?<addr>"
	    "[0-9a-f.:]++)\\]: SASL (?<mech>\\S++) authentication failed"
	    "(?:, sasl_username=(?<account>.*+))?$");
	CHECK(x->re != NULL);
	CHECK_INT(x->dir, SW_DIR_SERVER);
	CHECK_INT(x->kind, SW_EV_FAILURE);
	CHECK_INT(x->twice, 0);
	CHECK_INT(x->mta_set, 0);
	CHECK_INT(x->ignore, 0);
	CHECK_INT(x->cap[SW_CAP_NAME], 1);
	CHECK_INT(x->cap[SW_CAP_ADDR], 2);
	CHECK_INT(x->cap[SW_CAP_MECH], 3);
	CHECK_INT(x->cap[SW_CAP_ACCOUNT], 4);
	CHECK_INT(x->cap[SW_CAP_REPLY], 0);
	CHECK_INT(x->cap[SW_CAP_RELAY], 0);
	CHECK_INT(x->cap[SW_CAP_QUEUE], 0);

	x = &rs->extracts[1];
	CHECK_STR(x->id, "ex-fail");
	CHECK_INT(x->line, 13);
	CHECK_INT(x->mta, SW_MTA_EXIM);
	CHECK_INT(x->mta_set, 1);
	CHECK_INT(x->twice, 1);
	CHECK_INT(x->nliterals, 0);
	CHECK_INT(x->cap[SW_CAP_REPLY], 3);

	x = &rs->extracts[2];
	CHECK_STR(x->id, "lookalike");
	CHECK_INT(x->line, 21);
	CHECK_INT(x->ignore, 1);
	CHECK_INT(x->dir, SW_DIR_SERVER);

	d = &rs->diagnoses[0];
	CHECK_STR(d->id, "d-one");
	CHECK_INT(d->line, 27);
	CHECK(d->file == rs->files[0]);
	CHECK_INT(d->dir, SW_DIR_CLIENT);
	CHECK_INT(d->kind, SW_EV_FAILURE);
	CHECK_INT(d->mta, -1);
	CHECK(d->reply_re != NULL);
	CHECK(d->relay_re == NULL);
	CHECK(d->behaviour == NULL);
	CHECK_STR(d->summary, "Bad credentials # not a comment");
	CHECK_STR(d->cause, "The first part and the second part.");
	CHECK_INT(d->nfixes, 2);
	CHECK_INT(d->fixes[0].percent, 95);
	CHECK_STR(d->fixes[0].text, "Use an app password.");
	CHECK_INT(d->fixes[1].percent, 80);
	CHECK_STR(d->fixes[1].text, "Check the user name");
	CHECK_INT(d->ndeadends, 1);
	CHECK_INT(d->deadends[0].percent, 70);
	CHECK_STR(d->deadends[0].text, "Re-entering the same credentials.");
	CHECK_STR(d->affects, "all # versions");
	CHECK_STR(d->see, "https://example.org/x#y");
	rules_free(rs);

	/* The interpreter only, when asked. */
	rules_nojit = 1;
	if (CHECK_INT(load(&dir, 1, &rs), 0)) {
		CHECK_INT(rs->jit, 0);
		CHECK_INT(rs->nextracts, 3);
		rules_free(rs);
	}
	rules_nojit = 0;
	rules_free(NULL);

	CHECK_STR(kind_name(SW_EV_FAILURE), "failure");
	CHECK_STR(kind_name(SW_EV_TROUBLE), "trouble");
	CHECK_STR(kind_name(SW_EV_NKINDS), "?");
	CHECK_STR(dir_name(SW_DIR_SERVER), "server");
	CHECK_STR(dir_name(SW_DIR_CLIENT), "client");
	CHECK_STR(cap_name(SW_CAP_ADDR), "addr");
	CHECK_STR(cap_name(SW_CAP_QUEUE), "queue");
	CHECK_STR(cap_name(SW_CAP_N), "?");
}

static void
test_dropin(void)
{
	struct sw_rules	*rs;
	const char	*d[3];
	char		 notdir[512];
	size_t		 n;

	d[0] = newdir();
	d[1] = newdir();
	writef(d[0], "10-a.rules", "[extract a1]\n" XKEYS);
	writef(d[0], "30-c.rules", "[extract c]\n" XKEYS);
	writef(d[1], "10-a.rules", "[extract a2]\n" XKEYS);
	writef(d[1], "20-b.rules", "[extract b]\n" XKEYS);
	/* Not rules files: all would fail to load. */
	writef(d[0], ".hidden.rules", "junk\n");
	writef(d[0], ".rules", "junk\n");
	writef(d[1], "40-d.rules~", "junk\n");
	writef(d[1], "40-d.rules.dpkg-old", "junk\n");
	writef(d[1], "README", "junk\n");

	if (CHECK_INT(load(d, 2, &rs), 0)) {
		CHECK_INT(rs->nfiles, 3);
		n = strlen(d[1]);
		CHECK(strncmp(rs->files[0], d[1], n) == 0);
		CHECK_STR(rs->files[0] + n, "/10-a.rules");
		CHECK(strncmp(rs->files[1], d[1], n) == 0);
		CHECK_STR(rs->files[1] + n, "/20-b.rules");
		n = strlen(d[0]);
		CHECK(strncmp(rs->files[2], d[0], n) == 0);
		CHECK_STR(rs->files[2] + n, "/30-c.rules");
		CHECK_INT(rs->nextracts, 3);
		CHECK_STR(rs->extracts[0].id, "a2");
		CHECK_STR(rs->extracts[1].id, "b");
		CHECK_STR(rs->extracts[2].id, "c");
		CHECK(rs->extracts[1].file == rs->files[1]);
		/* The replacement is kept, to be said at every load. */
		CHECK_INT(rs->nreplaced, 1);
		CHECK_INT(rs->nreplacing, 1);
		CHECK(strncmp(rs->replaced[0], d[0], strlen(d[0])) == 0);
		CHECK_STR(rs->replaced[0] + strlen(d[0]), "/10-a.rules");
		CHECK_STR(rs->replacing[0], rs->files[0]);
		rules_free(rs);
	}

	/* The same directory twice replaces nothing. */
	d[2] = d[1];
	if (CHECK_INT(load(d + 1, 2, &rs), 0)) {
		CHECK_INT(rs->nfiles, 2);
		CHECK_INT(rs->nreplaced, 0);
		rules_free(rs);
	}

	/* The other way round, the first directory's file wins. */
	d[2] = d[0];
	if (CHECK_INT(load(d + 1, 2, &rs), 0)) {
		CHECK_INT(rs->nextracts, 3);
		CHECK_STR(rs->extracts[0].id, "a1");
		CHECK_STR(rs->extracts[1].id, "b");
		CHECK_STR(rs->extracts[2].id, "c");
		rules_free(rs);
	}

	/* A replaced file's errors do not count. */
	writef(d[0], "20-b.rules", "junk\n");
	if (CHECK_INT(load(d, 2, &rs), 0))
		rules_free(rs);
	CHECK_INT(load(d + 1, 2, &rs), -1);
	CHECK(logged("20-b.rules:1: expected \"key = value\""));

	/* A missing directory is skipped ... */
	d[0] = newdir();
	writef(d[0], "10-a.rules", "[extract a]\n" XKEYS);
	d[1] = "/nonexistent/smtpwatch/rules.d";
	if (CHECK_INT(load(d, 2, &rs), 0)) {
		CHECK_INT(rs->nfiles, 1);
		rules_free(rs);
	}
	CHECK_INT(load(d + 1, 1, &rs), -1);
	CHECK(logged("no *.rules files"));

	/* ... but no rules files at all is an error. */
	d[0] = newdir();
	writef(d[0], "README", "[extract a]\n" XKEYS);
	CHECK_INT(load(d, 1, &rs), -1);
	CHECK(rs == NULL);
	CHECK(logged("no *.rules files"));
	CHECK_INT(load(d, 2, &rs), -1);

	/* A file where a directory should be. */
	d[0] = newdir();
	writef(d[0], "10-a.rules", "[extract a]\n" XKEYS);
	snprintf(notdir, sizeof(notdir), "%s/10-a.rules", d[0]);
	d[1] = notdir;
	CHECK_INT(load(d, 2, &rs), -1);
	CHECK(logged("rules: "));

	/* Only diagnoses: nothing to match with. */
	CHECK_BAD("[diagnosis d]\nreply = x\n" DKEYS, "no extract entries");
}

static void
test_errors(void)
{
	struct sw_rules	*rs;
	const char	*d;

	CHECK_BAD("[extract a]\nprogram = p\nfoo = bar\ndirection = server\n"
	    "event = failure\npattern = ^x\n",
	    "10-a.rules:3: unknown key \"foo\" in extract entry");
	CHECK_BAD("[extract a]\nprogram = p\ndirection = server\n"
	    "event = failure\n",
	    "10-a.rules:1: extract a: missing \"pattern\"");
	CHECK_BAD("[extract a]\ndirection = server\nevent = failure\n"
	    "pattern = ^x\n",
	    "10-a.rules:1: extract a: missing \"program\"");
	CHECK_BAD("[extract a]\nprogram = p\nevent = failure\npattern = ^x\n",
	    "10-a.rules:1: extract a: missing \"direction\"");
	CHECK_BAD("[extract a]\nprogram = p\ndirection = server\npattern = ^x\n",
	    "10-a.rules:1: extract a: missing \"event\"");
	CHECK_BAD("[extract a]\nprogram = p\ndirection = inbound\n"
	    "event = failure\npattern = ^x\n",
	    "10-a.rules:3: direction must be server or client");
	CHECK_BAD("[extract a]\nprogram = p\nevent = failed\n"
	    "direction = server\npattern = ^x\n",
	    "10-a.rules:3: event must be");
	CHECK_BAD("[extract a]\nprogram = p\npattern = ^(x\n"
	    "direction = server\nevent = failure\n",
	    "10-a.rules:3: pattern: ");
	CHECK_BAD("[extract a]\nprogram = p\nmta = unknown\n"
	    "direction = server\nevent = failure\npattern = ^x\n",
	    "10-a.rules:3: mta must be");
	CHECK_BAD("[extract a]\nprogram = p\ntwice = maybe\n"
	    "direction = server\nevent = failure\npattern = ^x\n",
	    "10-a.rules:3: twice must be yes or no");
	CHECK_BAD("[extract a]\n" XKEYS "pattern = ^y\n",
	    "10-a.rules:6: \"pattern\" given twice");
	CHECK_BAD("[extract a]\nprogram =\n" XKEYS,
	    "10-a.rules:2: program: empty value");
	CHECK_BAD("[extract a]\nprogram: p\n" XKEYS,
	    "10-a.rules:2: expected \"key = value\"");
	CHECK_BAD("[extract a]\nProgram = p\n" XKEYS,
	    "10-a.rules:2: expected \"key = value\"");

	/* Keys outside of entries, continuations without keys. */
	CHECK_BAD("program = p\n[extract a]\n" XKEYS,
	    "10-a.rules:1: \"program\" outside of an entry");
	CHECK_BAD("[extract a]\n  program = p\n" XKEYS,
	    "10-a.rules:2: continuation line without a key");
	CHECK_BAD("# comment\n\tmore\n[extract a]\n" XKEYS,
	    "10-a.rules:2: continuation line without a key");

	/* Headers. */
	CHECK_BAD("[extract]\n" XKEYS "[extract b]\n" XKEYS,
	    "10-a.rules:1: bad id \"\"");
	CHECK_BAD("[extract a b]\n" XKEYS, "10-a.rules:1: bad id \"a b\"");
	CHECK_BAD("[extract a;b]\n" XKEYS, "10-a.rules:1: bad id");
	CHECK_BAD("[extract b]\n" XKEYS "[foo x]\n" XKEYS,
	    "10-a.rules:6: unknown entry type \"foo\"");
	CHECK_BAD("[extract a] x\n" XKEYS,
	    "10-a.rules:1: entry header must read");
	CHECK_BAD("[extract a\n" XKEYS, "10-a.rules:1: entry header must read");

	/* Diagnoses. */
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n"
	    "summary = s\ncause = c\nfix = often do X\n",
	    "10-a.rules:10: fix must read \"NN% text\"");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n" DKEYS
	    "fix = 101% more than all\n", "10-a.rules:11: fix must read");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n" DKEYS
	    "fix = 95%\n", "10-a.rules:11: fix must read");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n" DKEYS
	    "dead-end = -5% x\n", "10-a.rules:11: dead-end must read");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\ndirection = client\n"
	    DKEYS, "10-a.rules:6: diagnosis d: needs \"reply\", \"relay\", "
	    "\"rule\" or \"behaviour\"");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n"
	    "cause = c\nfix = 50% f\n",
	    "10-a.rules:6: diagnosis d: missing \"summary\"");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n"
	    "summary = s\nfix = 50% f\n",
	    "10-a.rules:6: diagnosis d: missing \"cause\"");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n"
	    "summary = s\ncause = c\n",
	    "10-a.rules:6: diagnosis d: missing \"fix\"");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nrelay = (\n" DKEYS,
	    "10-a.rules:7: relay: ");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\nreply = y\n"
	    DKEYS, "10-a.rules:8: \"reply\" given twice");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n"
	    "event = none\n" DKEYS, "10-a.rules:8: event must be");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nreply = x\n"
	    "pattern = y\n" DKEYS,
	    "10-a.rules:8: unknown key \"pattern\" in diagnosis entry");

	/* Duplicate ids: in one file, across files, across kinds. */
	CHECK_BAD("[extract a]\n" XKEYS "[extract a]\n" XKEYS,
	    "10-a.rules:6: duplicate id \"a\"");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis a]\nreply = x\n" DKEYS,
	    "10-a.rules:6: duplicate id \"a\"");
	d = newdir();
	writef(d, "10-a.rules", "[extract a]\n" XKEYS);
	writef(d, "20-b.rules", "# b\n[extract a]\n" XKEYS);
	CHECK_INT(load(&d, 1, &rs), -1);
	CHECK(logged("20-b.rules:2: duplicate id \"a\" (first at "));
	CHECK(logged("10-a.rules:1)"));

	/* An error in one file rejects them all; every error is told. */
	d = newdir();
	writef(d, "10-a.rules", "[extract a]\n" XKEYS);
	writef(d, "20-b.rules", "[extract b]\n" XKEYS "bogus = 1\n"
	    "[extract c]\nprogram = p\ndirection = up\n");
	CHECK_INT(load(&d, 1, &rs), -1);
	CHECK(rs == NULL);
	CHECK(logged("20-b.rules:6: unknown key \"bogus\""));
	CHECK(logged("20-b.rules:9: direction must be"));
	CHECK(strstr(errbuf, "10-a.rules:") == NULL);

	/* A NUL byte in a rules file. */
	{
		static const char nul[] = "[extract a]\n" XKEYS "literal = x\0y\n";
		FILE	*fp;
		char	 path[512];

		d = newdir();
		snprintf(path, sizeof(path), "%s/10-a.rules", d);
		if ((fp = fopen(path, "w")) == NULL)
			fatal("%s", path);
		fwrite(nul, 1, sizeof(nul) - 1, fp);
		fclose(fp);
		CHECK_INT(load(&d, 1, &rs), -1);
		CHECK(logged("10-a.rules:6: NUL byte"));
	}
}

static const char	 diag_a[] =
	"[extract a]\n" XKEYS
	"[diagnosis d-one]\n"
	"direction = client\n"
	"event     = failure\n"
	"reply     = ^535[- ]5\\.7\\.8\\b\n" DKEYS;

static const char	 diag_b[] =
	"[diagnosis d-google]\n"
	"relay     = \\.google\\.com$\n"
	"reply     = ^535\n" DKEYS
	"[diagnosis d-behav]\n"
	"behaviour = brute-force\n" DKEYS
	"[diagnosis d-any]\n"
	"reply     = ^535\n" DKEYS
	"[diagnosis d-exim]\n"
	"mta       = exim\n"
	"reply     = ^435\n" DKEYS
	"[diagnosis d-trouble]\n"
	"direction = server\n"
	"event     = trouble\n"
	"reply     = .\n" DKEYS
	"[diagnosis d-addr]\n"
	"relay     = ^192\\.0\\.2\\.99$\n"
	"reply     = ^454\n" DKEYS
	"[diagnosis d-behav2]\n"
	"behaviour = brute-force\n" DKEYS
	"[diagnosis d-spray]\n"
	"behaviour = password-spraying\n" DKEYS;

/*
 * test_diagnose()'s memo: it remembers the cases before, and the relay
 * cases there differ from one another in the relay alone.
 */
static struct sw_diagmemo	*memo;

/*
 * The diagnosis's id, from rules_diagnose(); rules_diagnose_memo() must
 * say the same, asked twice (the second answer from its memo).
 */
static const char *
diagnose(const struct sw_rules *rs, enum sw_dir dir, enum sw_kind kind,
    enum sw_mta mta, const char *relay, const char *addr, const char *reply)
{
	struct sw_event			 ev;
	const struct sw_diagnosis	*d;
	int				 i;

	memset(&ev, 0, sizeof(ev));
	ev.dir = dir;
	ev.kind = kind;
	ev.mta = mta;
	snprintf(ev.relay, sizeof(ev.relay), "%s", relay);
	snprintf(ev.addr, sizeof(ev.addr), "%s", addr);
	snprintf(ev.reply, sizeof(ev.reply), "%s", reply);
	d = rules_diagnose(rs, &ev, NULL);
	for (i = 0; memo != NULL && i < 2; i++)
		CHECK(rules_diagnose_memo(rs, &ev, NULL, memo) == d);
	return d != NULL ? d->id : "(none)";
}

static void
test_diagnose(void)
{
	struct sw_rules			*rs;
	const struct sw_diagnosis	*d;
	pcre2_match_data		*md;
	struct sw_event			 ev;
	const char			*dir = newdir();

	writef(dir, "10-a.rules", diag_a);
	writef(dir, "20-b.rules", diag_b);
	if (!CHECK_INT(load(&dir, 1, &rs), 0))
		return;
	CHECK_INT(rs->ndiagnoses, 9);
	memo = diagmemo_new();

	/* File order: 10-a's entry before 20-b's more specific one. */
	CHECK_STR(diagnose(rs, SW_DIR_CLIENT, SW_EV_FAILURE, SW_MTA_POSTFIX,
	    "smtp.google.com", "192.0.2.1", "535 5.7.8 Username and Password "
	    "not accepted"), "d-one");
	/* Direction and event must hold. */
	CHECK_STR(diagnose(rs, SW_DIR_CLIENT, SW_EV_TROUBLE, SW_MTA_POSTFIX,
	    "smtp.google.com", "192.0.2.1", "535 5.7.8 x"), "d-google");
	CHECK_STR(diagnose(rs, SW_DIR_SERVER, SW_EV_FAILURE, SW_MTA_POSTFIX,
	    "", "192.0.2.1", "535 5.7.8 x"), "d-any");
	/* The relay is case-insensitive; the reply is not. */
	CHECK_STR(diagnose(rs, SW_DIR_CLIENT, SW_EV_FAILURE, SW_MTA_POSTFIX,
	    "SMTP.GOOGLE.COM", "192.0.2.1", "535 5.7.1 y"), "d-google");
	CHECK_STR(diagnose(rs, SW_DIR_CLIENT, SW_EV_FAILURE, SW_MTA_POSTFIX,
	    "smtp.example.net", "192.0.2.1", "535 5.7.1 y"), "d-any");
	/* The mta condition, before a looser entry. */
	CHECK_STR(diagnose(rs, SW_DIR_SERVER, SW_EV_TROUBLE, SW_MTA_EXIM,
	    "", "192.0.2.1", "435 Unable to authenticate at present"),
	    "d-exim");
	CHECK_STR(diagnose(rs, SW_DIR_SERVER, SW_EV_TROUBLE, SW_MTA_POSTFIX,
	    "", "192.0.2.1", "435 Unable to authenticate at present"),
	    "d-trouble");
	CHECK_STR(diagnose(rs, SW_DIR_CLIENT, SW_EV_TROUBLE, SW_MTA_POSTFIX,
	    "", "192.0.2.1", "435 Unable to authenticate at present"),
	    "(none)");
	/* No relay name: the relay condition applies to the address. */
	CHECK_STR(diagnose(rs, SW_DIR_CLIENT, SW_EV_TROUBLE, SW_MTA_POSTFIX,
	    "", "192.0.2.99", "454 4.7.0 Temporary authentication failure"),
	    "d-addr");
	CHECK_STR(diagnose(rs, SW_DIR_CLIENT, SW_EV_TROUBLE, SW_MTA_POSTFIX,
	    "mx.example.net", "192.0.2.99", "454 4.7.0 x"), "(none)");
	/* Behaviour-only entries are never picked by a line. */
	CHECK_STR(diagnose(rs, SW_DIR_SERVER, SW_EV_SUCCESS, SW_MTA_POSTFIX,
	    "", "", ""), "(none)");

	/* With the caller's match data. */
	md = pcre2_match_data_create(1, NULL);
	memset(&ev, 0, sizeof(ev));
	ev.dir = SW_DIR_CLIENT;
	ev.kind = SW_EV_FAILURE;
	strcpy(ev.reply, "535-5.7.8 x");
	d = rules_diagnose(rs, &ev, md);
	CHECK(d != NULL && strcmp(d->id, "d-one") == 0);
	pcre2_match_data_free(md);

	/* By behaviour name: the first entry with it. */
	d = rules_behaviour(rs, "brute-force");
	CHECK(d != NULL && strcmp(d->id, "d-behav") == 0);
	d = rules_behaviour(rs, "password-spraying");
	CHECK(d != NULL && strcmp(d->id, "d-spray") == 0);
	CHECK(rules_behaviour(rs, "brute") == NULL);
	CHECK(rules_behaviour(rs, "") == NULL);
	diagmemo_free(memo);
	memo = NULL;
	rules_free(rs);
}

/* The pattern of the first extract entry once text has loaded. */
static const char *
expanded(const char *text, struct sw_rules **rs)
{
	if (!CHECK_INT(load1(text, rs), 0))
		return "";
	return (*rs)->extracts[0].pattern;
}

#define PIECE(name, pat)	"[piece " name "]\npattern = " pat "\n"
#define XHEAD	"[extract a]\nprogram = p\ndirection = server\n" \
		"event = failure\n"

static void
test_pieces(void)
{
	struct sw_rules		*rs;
	pcre2_match_data	*md;
	const char		*d[2], *p;

	/* A piece stands for its text; a later piece may use an earlier. */
	p = expanded(PIECE("ip", "[0-9.]{7,15}+")
	    PIECE("host_addr", "(?<name>\\S+)\\[(?<addr>%{ip})\\]")
	    XHEAD "pattern = ^from %{host_addr} at %{ip}$\n", &rs);
	CHECK_STR(p, "^from (?-x:(?<name>\\S+)\\[(?<addr>(?-x:[0-9.]{7,15}+))"
	    "\\]) at (?-x:[0-9.]{7,15}+)$");
	CHECK(rs->extracts[0].re != NULL);
	CHECK_INT(rs->extracts[0].cap[SW_CAP_ADDR], 2);
	rules_free(rs);

	/* A backslash keeps "%{" literal; an escaped backslash does not. */
	p = expanded(PIECE("x", "X") XHEAD
	    "pattern = ^a\\%{x} \\\\%{x}$\n", &rs);
	CHECK_STR(p, "^a\\%{x} \\\\(?-x:X)$");
	rules_free(rs);

	/* Pieces from another file, in name order; in reply and relay too. */
	d[0] = newdir();
	writef(d[0], "00-p.rules", PIECE("relay", "smtp\\.example\\.net"));
	writef(d[0], "10-a.rules", XHEAD "pattern = ^%{relay}\n"
	    "[diagnosis d]\nrelay = ^%{relay}$\nreply = ^%{relay}\n" DKEYS);
	if (CHECK_INT(load(d, 1, &rs), 0)) {
		CHECK_STR(rs->extracts[0].pattern,
		    "^(?-x:smtp\\.example\\.net)");
		CHECK_STR(diagnose(rs, SW_DIR_CLIENT, SW_EV_FAILURE,
		    SW_MTA_POSTFIX, "smtp.example.net", "", "smtp.example.net"),
		    "d");
		rules_free(rs);
	}

	/* A piece is an atom, and keeps its blanks under (?x). */
	if (CHECK_INT(load1(PIECE("two", "a b") XHEAD
	    "pattern = (?x) ^ %{two}{2} \\ c $\n", &rs), 0)) {
		md = pcre2_match_data_create(1, NULL);
		CHECK_INT(pcre2_match(rs->extracts[0].re,
		    (PCRE2_SPTR)"a ba b c", 8, 0, 0, md, NULL), 1);
		CHECK_INT(pcre2_match(rs->extracts[0].re,
		    (PCRE2_SPTR)"abab c", 6, 0, 0, md, NULL),
		    PCRE2_ERROR_NOMATCH);
		pcre2_match_data_free(md);
		rules_free(rs);
	}

	/* Errors: where the piece is used, or where it is written. */
	CHECK_BAD(XHEAD "pattern = ^%{nope}\n",
	    "10-a.rules:5: pattern: unknown piece %{nope} (a piece must be "
	    "defined before it is used)");
	CHECK_BAD(XHEAD "pattern = ^%{late}\n" PIECE("late", "x"),
	    "10-a.rules:5: pattern: unknown piece %{late}");
	CHECK_BAD(XHEAD "pattern = ^%{a b}\n",
	    "10-a.rules:5: pattern: \"%{\" must start a piece reference");
	CHECK_BAD(XHEAD "pattern = ^%{x\n", "must start a piece reference");
	CHECK_BAD(PIECE("x", "a") PIECE("x", "b") XHEAD "pattern = ^x\n",
	    "10-a.rules:3: duplicate piece \"x\" (first at ");
	CHECK_BAD(PIECE("a-b", "a") XHEAD "pattern = ^x\n",
	    "10-a.rules:1: bad piece name \"a-b\"");
	CHECK_BAD(PIECE("open", "(a") XHEAD "pattern = ^x\n",
	    "10-a.rules:2: pattern: missing closing parenthesis");
	CHECK_BAD("[piece p]\nliteral = a\n" XHEAD "pattern = ^x\n",
	    "10-a.rules:2: piece p: takes exactly one key, pattern");
	CHECK_BAD(PIECE("p", "a") "literal = b\n" XHEAD "pattern = ^x\n",
	    "10-a.rules:3: piece p: takes exactly one key");
	/* A compile error after expansion shows the text near it. */
	CHECK_BAD(PIECE("g", "(?<addr>a)") XHEAD
	    "pattern = ^%{g}%{g}$\n", "of the expanded pattern, near");
	/* Expansion is bounded. */
	CHECK_BAD(PIECE("a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	    PIECE("b", "%{a}%{a}%{a}%{a}%{a}%{a}%{a}%{a}%{a}%{a}")
	    PIECE("c", "%{b}%{b}%{b}%{b}%{b}%{b}%{b}%{b}%{b}%{b}")
	    PIECE("d", "%{c}%{c}%{c}%{c}%{c}%{c}%{c}%{c}%{c}%{c}"),
	    "10-a.rules:8: pattern: longer than 65536 bytes");
}

/* "rule": the diagnosis holds only for events of the extracts named. */
static void
test_rule_key(void)
{
	struct sw_rules	*rs;
	struct sw_event	 ev;
	const struct sw_diagnosis *d;

	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nrule = a b\n" DKEYS,
	    "10-a.rules:6: diagnosis d: no extract entry \"b\"");
	CHECK_BAD("[extract a]\n" XKEYS "[diagnosis d]\nrule = a\nrule = a\n"
	    DKEYS, "10-a.rules:8: \"rule\" given twice");
	if (!CHECK_INT(load1("[extract a]\n" XKEYS "[extract b]\n" XKEYS
	    "[diagnosis d]\nrule = b\n" DKEYS, &rs), 0))
		return;
	memset(&ev, 0, sizeof(ev));
	ev.dir = SW_DIR_SERVER;
	ev.kind = SW_EV_FAILURE;
	ev.rule = &rs->extracts[0];
	CHECK(rules_diagnose(rs, &ev, NULL) == NULL);
	ev.rule = &rs->extracts[1];
	d = rules_diagnose(rs, &ev, NULL);
	CHECK(d != NULL && strcmp(d->id, "d") == 0);
	rules_free(rs);
}

int
main(void)
{
	if (mkdtemp(base) == NULL)
		fatal("mkdtemp");
	test_good();
	test_dropin();
	test_errors();
	test_diagnose();
	test_pieces();
	test_rule_key();
	nftw(base, check_rm, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
