/*
 * fuzz_conf.c -- the configuration loader (conf.c) on one file of any
 * bytes: it loads, or it is rejected with file:line; never a crash, a
 * leak or a value outside its documented range.
 */

#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char	 path[] = "/tmp/smtpwatch-fuzz-conf.XXXXXX";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int	 fd;

	(void)argc;
	(void)argv;
	if ((fd = mkstemp(path)) == -1) {
		perror("fuzz_conf: mkstemp");
		exit(1);
	}
	close(fd);
	fuzz_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_conf	*c = NULL;

	fuzz_write(path, data, size);
	if (conf_load(path, 1, &c) == 0) {
		FUZZ_CHECK(c != NULL);
		FUZZ_CHECK(c->batch_events >= 1 && c->batch_events <= 1000000);
		FUZZ_CHECK(c->batch_ms > 0);
		FUZZ_CHECK(c->store.retention >= 0);
		conf_free(c);
	}
	return 0;
}
