/*
 * fuzz_control.c -- the control socket's request parser (control.c's
 * control_parse) on one request line of any bytes.  A request it takes
 * names a command of the table, with no more arguments than it takes,
 * and, written back in str_vis() form (arguments joined by tabs) and
 * parsed again, gives the same command and the same argument bytes.
 */

#include <string.h>

#include "fuzz.h"

static int
fn(void *arg, const struct sw_ctl_arg *a, size_t n, FILE *fp, char *err,
    size_t esize)
{
	(void)arg, (void)a, (void)n, (void)fp, (void)err, (void)esize;
	return 0;
}

static const struct sw_ctl_cmd cmds[] = {
	{ "status", 0, 0, fn },
	{ "show", 0, 1, fn },
	{ "reset", 1, 3, fn },
	{ "reload", 1, 0, fn },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sw_ctl_cmd	*cmd, *cmd2;
	struct sw_ctl_arg	 a[SW_CTL_ARGS], a2[SW_CTL_ARGS];
	const char		*err;
	char			*line, *again;
	size_t			 na, na2, n, i;

	fuzz_quiet();
	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	err = control_parse(line, size, cmds, NCMDS, &cmd, a, &na);
	if (err != NULL) {
		free(line);
		return 0;
	}
	FUZZ_CHECK(cmd >= cmds && cmd < cmds + NCMDS);
	FUZZ_CHECK(na <= (size_t)cmd->args);
	/* Back to the wire form, and once more through the parser. */
	n = strlen(cmd->name) + 4 * size + 8;
	if ((again = malloc(n)) == NULL)
		abort();
	n = (size_t)snprintf(again, n, "1 %s", cmd->name);
	for (i = 0; i < na; i++) {
		FUZZ_CHECK(a[i].len <= size);
		again[n++] = i == 0 ? ' ' : '\t';
		n += str_vis(again + n, 4 * a[i].len + 1, a[i].p, a[i].len);
	}
	err = control_parse(again, n, cmds, NCMDS, &cmd2, a2, &na2);
	FUZZ_CHECK(err == NULL);
	FUZZ_CHECK(cmd2 == cmd);
	FUZZ_CHECK(na2 == na);
	for (i = 0; i < na && i < na2; i++)
		FUZZ_CHECK(a2[i].len == a[i].len &&
		    memcmp(a2[i].p, a[i].p, a[i].len) == 0);
	free(again);
	free(line);
	return 0;
}
