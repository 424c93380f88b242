/*
 * fuzz_rules.c -- the rules loader (rules.c) on one rules file of any
 * bytes, written to a directory of its own and loaded as the daemon
 * loads a rules directory.  It loads, or it is rejected with file:line;
 * it never crashes or leaks.  PCRE2's JIT is off: compiling is not what
 * is under test.
 */

#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char	 dir[] = "/tmp/smtpwatch-fuzz-rules.XXXXXX";
static char	 file[sizeof(dir) + 32];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_rules: mkdtemp");
		exit(1);
	}
	snprintf(file, sizeof(file), "%s/10-fuzz.rules", dir);
	rules_nojit = 1;
	fuzz_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_rules	*rs = NULL;
	char		*dirs[1] = { dir };

	fuzz_write(file, data, size);
	if (rules_load(dirs, 1, &rs) == 0) {
		FUZZ_CHECK(rs != NULL);
		rules_free(rs);
	} else
		FUZZ_CHECK(rs == NULL);
	return 0;
}
