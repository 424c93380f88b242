/*
 * fuzz.h -- what the libFuzzer targets share: the entry point's
 * prototype, a check that aborts (so that libFuzzer keeps the input) and
 * a way to keep the daemon's log lines out of the fuzzer's output,
 * fuzz_load_rules() for the targets that run the shipped rules, and
 * fuzz_write() for the targets whose code under test reads a file.
 * Each target is one file, built by `make fuzz` with clang's
 * -fsanitize=fuzzer,address,undefined and linked with the objects under
 * test; tests/fuzz/README says how to run them and add regressions.
 */

#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../daemon/smtpwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* An invariant of the code under test does not hold: abort, keep it. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);	\
		abort();						\
	}								\
} while (0)

/* The daemon's log lines would drown the fuzzer's own. */
static inline void
fuzz_quiet(void)
{
	log_mute(1);
}

/*
 * The rules of SW_FUZZ_RULES (default: rules/ of the tree, the fuzzer
 * run from its top), or exit: target names the fuzzer in the message.
 */
static inline struct sw_rules *
fuzz_load_rules(const char *target)
{
	static char	 tree[] = "rules";
	struct sw_rules	*rs;
	char		*dirs[1];
	char		*d = getenv("SW_FUZZ_RULES");

	dirs[0] = d != NULL ? d : tree;
	if (rules_load(dirs, 1, &rs) == -1) {
		fprintf(stderr, "%s: cannot load the rules in %s (run from "
		    "the top of the tree, or set SW_FUZZ_RULES)\n", target,
		    dirs[0]);
		exit(1);
	}
	return rs;
}

/* Writes the input to path, as a file the code under test will read. */
static inline void
fuzz_write(const char *path, const uint8_t *data, size_t size)
{
	FILE	*fp;

	if ((fp = fopen(path, "w")) == NULL)
		abort();
	if (size > 0 && fwrite(data, size, 1, fp) != 1)
		abort();
	if (fclose(fp) != 0)
		abort();
}

#endif
