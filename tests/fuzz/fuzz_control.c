/*
 * fuzz_control.c -- the control socket's request parser (control.c's
 * control_parse) on one request line of any bytes.  A request it takes
 * names a command of the table and, written back in str_vis() form and
 * parsed again, gives the same command and the same argument bytes.
 */

#include <string.h>

#include "fuzz.h"

static int
fn(void *arg, const char *a, size_t n, FILE *fp, char *err, size_t esize)
{
	(void)arg, (void)a, (void)n, (void)fp, (void)err, (void)esize;
	return 0;
}

static const struct sw_ctl_cmd cmds[] = {
	{ "status", 0, 0, fn },
	{ "show", 0, 1, fn },
	{ "reset", 1, 1, fn },
	{ "reload", 1, 0, fn },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sw_ctl_cmd	*cmd, *cmd2;
	const char		*err;
	char			*line, *arg, *arg2, *again;
	size_t			 alen, alen2, n;

	fuzz_quiet();
	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	err = control_parse(line, size, cmds, NCMDS, &cmd, &arg, &alen);
	if (err != NULL) {
		free(line);
		return 0;
	}
	FUZZ_CHECK(cmd >= cmds && cmd < cmds + NCMDS);
	FUZZ_CHECK(alen <= size);
	FUZZ_CHECK(cmd->arg || alen == 0);
	/* Back to the wire form, and once more through the parser. */
	n = strlen(cmd->name) + 4 * alen + 8;
	if ((again = malloc(n)) == NULL)
		abort();
	n = (size_t)snprintf(again, n, "1 %s", cmd->name);
	if (cmd->arg && alen > 0) {
		again[n++] = ' ';
		n += str_vis(again + n, 4 * alen + 1, arg, alen);
	}
	err = control_parse(again, n, cmds, NCMDS, &cmd2, &arg2, &alen2);
	FUZZ_CHECK(err == NULL);
	FUZZ_CHECK(cmd2 == cmd);
	FUZZ_CHECK(alen2 == alen);
	FUZZ_CHECK(alen == 0 || memcmp(arg2, arg, alen) == 0);
	free(again);
	free(line);
	return 0;
}
