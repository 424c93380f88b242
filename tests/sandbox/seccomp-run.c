/*
 * seccomp-run.c -- run a program under the system call filter of
 * smtpwatchd.service, where systemd is not there to apply it.
 *
 *	seccomp-run ALLOWED PROGRAM [ARG ...]
 *
 * ALLOWED names the permitted system calls, one per line: the test makes
 * it from the unit's SystemCallFilter= lines, expanded by
 * `systemd-analyze syscall-filter`.  Two filters are stacked, as systemd
 * stacks its own: the allow-list, whose default kills the process (where
 * the unit answers EPERM, so a call the daemon needs is a crash here,
 * not a silent failure), and the rules of RestrictAddressFamilies=AF_UNIX
 * (socket(2) of any other family fails with EAFNOSUPPORT) and
 * MemoryDenyWriteExecute=yes (writable and executable memory, or making
 * memory executable, fails with EPERM).  Calls of another architecture
 * kill the process (SystemCallArchitectures=native).  libseccomp sets
 * no_new_privs (NoNewPrivileges=yes) before loading them.
 */

#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

static void
die(const char *what, int rc)
{
	fprintf(stderr, "seccomp-run: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	exit(127);
}

/* The allow-list; names this libseccomp does not know are skipped. */
static void
load_allowed(const char *path)
{
	scmp_filter_ctx	 ctx;
	FILE		*fp;
	char		 name[128];
	int		 nr, rc, n = 0;

	if ((fp = fopen(path, "r")) == NULL)
		die(path, errno);
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		die("seccomp_init", ENOMEM);
	while (fscanf(fp, "%127s", name) == 1) {
		if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
			continue;
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
			die(name, rc);
		n++;
	}
	fclose(fp);
	if (n == 0)
		die("no system call allowed", EINVAL);
	if ((rc = seccomp_load(ctx)) < 0)
		die("seccomp_load", rc);
	seccomp_release(ctx);
}

static void
rule(scmp_filter_ctx ctx, int err, int nr, struct scmp_arg_cmp cmp)
{
	int	 rc;

	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 1, cmp)) < 0)
		die("seccomp_rule_add", rc);
}

/* RestrictAddressFamilies=AF_UNIX and MemoryDenyWriteExecute=yes. */
static void
load_restrictions(void)
{
	scmp_filter_ctx	 ctx;
	int		 rc;

	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
		die("seccomp_init", ENOMEM);
	rule(ctx, EAFNOSUPPORT, SCMP_SYS(socket),
	    SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
	rule(ctx, EAFNOSUPPORT, SCMP_SYS(socketpair),
	    SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
	rule(ctx, EPERM, SCMP_SYS(mmap), SCMP_A2(SCMP_CMP_MASKED_EQ,
	    PROT_EXEC | PROT_WRITE, PROT_EXEC | PROT_WRITE));
	rule(ctx, EPERM, SCMP_SYS(mprotect), SCMP_A2(SCMP_CMP_MASKED_EQ,
	    PROT_EXEC, PROT_EXEC));
	rule(ctx, EPERM, SCMP_SYS(pkey_mprotect), SCMP_A2(SCMP_CMP_MASKED_EQ,
	    PROT_EXEC, PROT_EXEC));
	rule(ctx, EPERM, SCMP_SYS(shmat), SCMP_A2(SCMP_CMP_MASKED_EQ,
	    SHM_EXEC, SHM_EXEC));
	if ((rc = seccomp_load(ctx)) < 0)
		die("seccomp_load", rc);
	seccomp_release(ctx);
}

int
main(int argc, char *argv[])
{
	if (argc < 3) {
		fprintf(stderr, "usage: seccomp-run ALLOWED PROGRAM [ARG ...]\n");
		return 127;
	}
	load_restrictions();
	load_allowed(argv[1]);
	execv(argv[2], argv + 2);
	die(argv[2], errno);
	return 127;
}
