#!/usr/bin/env python3
"""tests/sandbox/test_sandbox.py -- the daemon as the installed unit runs
it, where systemd is not PID 1 to run it: an unprivileged user with the
unit's supplementary groups, no capabilities, no_new_privs, and the
unit's own system call filter, address families and
MemoryDenyWriteExecute= applied by build/seccomp-run.

The allow-list is made from contrib/systemd/smtpwatchd.service.in: its
SystemCallFilter= lines, expanded by `systemd-analyze syscall-filter`,
so the test follows the unit when either changes.  Where the unit answers
a forbidden call with EPERM, seccomp-run kills the process: a call the
daemon needs shows here as a death by SIGSYS.

    service   as user nobody with group adm: a root:adm 0640 log is
              followed with inotify only (poll-interval 1h) across a
              rotation, a relay-rejected alert reaches journald, a reload
              and smtpwatchctl status go through, PCRE2 falls back to the
              interpreter, SIGTERM exits 0
    journal   as user nobody with group systemd-journal: journal files
              written by systemd-journal-remote are read, as they grow;
              without the group, the daemon says it cannot read them
    denied    as user nobody without adm: the daemon says which log it
              may not read and why, counts the other, and reads the first
              once its mode allows
    metrics   smtpwatch-metrics.service as its unit runs it: root without
              a capability, the daemon's group, the unit's filter; it
              asks the sandboxed daemon, reads its database and writes
              a root-owned directory; in another group it reads nothing

Runs as root (it changes user); needs libseccomp (contrib/deps check).
"""

import grp
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (BIN, CTL, ROOT, RULES, TIMEOUT, Daemon, Journal,  # noqa: E402
                     account_failures, append, eq, fail, pf_fail,
                     pf_relay_fail, registry, run_tests)
from test_journal import remote_write  # noqa: E402

SECCOMP_RUN = os.path.join(ROOT, 'build', 'seccomp-run')
UNIT = os.path.join(ROOT, 'contrib', 'systemd', 'smtpwatchd.service.in')
METRICS_UNIT = os.path.join(ROOT, 'contrib', 'systemd', 'smtpwatch-metrics.service.in')
NOBODY = 65534

TESTS, GROUPS, test = registry()


def syscall_groups():
    """@group -> [members] as this systemd defines them."""
    out = subprocess.run(['systemd-analyze', 'syscall-filter', '--no-pager'],
                         capture_output=True, text=True, check=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith('@'):
            cur = line.strip()
            groups[cur] = []
        elif cur and line.startswith('    ') and not line.strip().startswith('#'):
            groups[cur].append(line.strip())
        elif not line.strip():
            cur = None
    return groups


def expand(name, groups):
    if not name.startswith('@'):
        return {name}
    if name not in groups:
        fail('%s: no such system call group in this systemd' % name)
    out = set()
    for m in groups[name]:
        out |= expand(m, groups)
    return out


def unit_allowed(unit=UNIT):
    """The system calls the unit's SystemCallFilter= lines permit."""
    groups = syscall_groups()
    allow, deny = set(), set()
    with open(unit) as f:
        for line in f:
            m = re.match(r'SystemCallFilter=(~?)(.*)$', line.strip())
            if not m:
                continue
            names = set()
            for n in m.group(2).split():
                names |= expand(n, groups)
            (deny if m.group(1) else allow).update(names)
    if not allow:
        fail('%s: no SystemCallFilter= allow-list' % unit)
    return sorted(allow - deny)


def sandbox_wrap(w, groups):
    """argv prefix: user nobody with these supplementary groups, no
    capabilities, no_new_privs, the unit's filter."""
    path = w.path('allowed-syscalls')
    with open(path, 'w') as f:
        f.write('\n'.join(unit_allowed()) + '\n')
    gids = [str(grp.getgrnam(g).gr_gid) for g in groups]
    return (['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY] +
            (['--groups=' + ','.join(gids)] if gids else ['--clear-groups']) +
            ['--inh-caps=-all', '--bounding-set=-all', '--no-new-privs',
             SECCOMP_RUN, path])


def sandboxed(w, logs, groups, extra=''):
    """A plain-build daemon in the sandbox; its database and control
    socket in a directory of its own (the unit's StateDirectory= and
    RuntimeDirectory=), the notify socket writable by it."""
    os.chmod(w.dir, 0o755)
    state = w.path('state')
    os.mkdir(state, 0o750)
    os.chown(state, NOBODY, NOBODY)
    sock = os.path.join(state, 'control.sock')
    d = Daemon(w, logs, asan=False, binary=BIN, database=os.path.join(state, 'sw.db'),
               extra_conf='control %s\n%s' % (sock, extra), start_at='beginning',
               wrap=sandbox_wrap(w, groups))
    os.chmod(d.sockpath, 0o666)
    d.control = sock
    return d


def adm_log(path, data=b''):
    """A log as Debian's rsyslog leaves it: root:adm 0640."""
    with open(path, 'wb') as f:
        f.write(data)
    os.chown(path, 0, grp.getgrnam('adm').gr_gid)
    os.chmod(path, 0o640)


def fails(user, n, ip, sec=0):
    return b''.join(pf_fail(user, ip, sec=sec + i) for i in range(n))


@test('service')
def service(w):
    log = w.path('mail.log')
    adm_log(log, fails('alice@example.com', 2, '203.0.113.5'))
    # database-limit 1M: the WAL is checkpointed every 32 frames, by the
    # checkpointer's thread (daemon/ckpt.c), under the filter too.
    d = sandboxed(w, [log], ['adm', 'systemd-journal'],
                  extra='poll-interval 1h\ndatabase-limit 1M')
    d.start()
    j = Journal(d)
    d.wait_caught_up()
    d.wait_stderr(re.escape('patterns interpreted'))
    # inotify alone (the poll timer is an hour away): an append, then a
    # rename-and-create rotation.
    append(log, fails('bob@example.com', 3, '198.51.100.7', sec=10))
    append(log, pf_relay_fail('4F1A211E0B2', 'ops@partner.example', sec=20))
    d.wait_caught_up()
    os.rename(log, log + '.1')
    adm_log(log, fails('carol@example.com', 1, '192.0.2.9', sec=30))
    d.wait_until(lambda: account_failures(d.db).get(b'carol@example.com') == 1,
                 'the line of the new file after the rotation')
    eq(account_failures(d.db), {b'alice@example.com': 2, b'bob@example.com': 3,
                                b'carol@example.com': 1}, 'failures per account')
    e = j.wait_kind('relay-rejected')[0]
    eq(e.get('SMTPWATCH_RELAY'), 'smtp.gmail.com', 'relay of the journal entry')
    d.hup()
    out = subprocess.run([CTL, '--rules', RULES, '-f', d.conf, 'status'],
                         capture_output=True, text=True, timeout=TIMEOUT)
    if 'is running, pid %d' % d.pid not in out.stdout:
        fail('smtpwatchctl status does not see the sandboxed daemon:\n%s%s'
             % (out.stdout, out.stderr))
    eq(os.stat(d.db).st_uid, NOBODY, 'owner of the database')
    d.term()
    m = re.search(r'the WAL checkpointed (\d+) times by its thread', d.err_text())
    if m is None or int(m.group(1)) < 1:
        fail('no checkpoint by the checkpointer\'s thread:\n%s' % d.tail())
    for bad in ('inotify', 'Operation not permitted', 'Bad system call'):
        if bad in d.err_text():
            fail('the sandboxed daemon said %r:\n%s' % (bad, d.tail()))


@test('journal')
def journal(w):
    """Journal files readable through group systemd-journal, as on a
    collector (root:systemd-journal 0750, files 0640), written by
    systemd-journal-remote: counted at start and as they grow (sd-journal's
    inotify and mmap under the filter).  Without the group, the daemon
    says it cannot read them."""
    jgid = grp.getgrnam('systemd-journal').gr_gid
    jdir = w.path('remote')
    os.mkdir(jdir, 0o750)
    os.chown(jdir, 0, jgid)
    out = os.path.join(jdir, 'remote-mx1.journal')
    users = ['sandbox-%d@example.com' % i for i in range(3)]
    lines = [(b'2026-11-28T04:0%d:00+00:00 mx1 postfix/submission/smtpd[%d]: warning: '
              b'unknown[203.0.113.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, '
              b'sasl_username=%s') % (i, 4000 + i, u.encode()) for i, u in enumerate(users)]
    remote_write(out, lines[:2])
    os.chown(out, 0, jgid)
    os.chmod(out, 0o640)
    d = sandboxed(w, [], ['systemd-journal'], extra='journal-directory %s' % jdir)
    d.start()
    d.wait_until(lambda: account_failures(d.db) == {u.encode(): 1 for u in users[:2]},
                 'the journal entries counted')
    remote_write(out, lines[2:])
    d.wait_until(lambda: account_failures(d.db) == {u.encode(): 1 for u in users},
                 'the entry appended to the journal file')
    d.term()
    for bad in ('cannot read', 'Operation not permitted', 'Bad system call'):
        if bad in d.err_text():
            fail('the sandboxed daemon said %r:\n%s' % (bad, d.tail()))
    # Without the group.
    d2 = Daemon(w, [], asan=False, binary=BIN, name='nogroup',
                database=os.path.join(w.path('state'), 'nogroup.db'),
                extra_conf='journal-directory %s' % jdir, start_at='beginning',
                wrap=sandbox_wrap(w, []))
    os.chmod(d2.sockpath, 0o666)
    d2.start()
    d2.wait_stderr(re.escape('%s: cannot read: Permission denied: the journal there is '
                             'not read; give the daemon group systemd-journal' % jdir))
    d2.term()


@test('denied')
def denied(w):
    ok, closed = w.path('ok.log'), w.path('closed.log')
    with open(ok, 'wb') as f:
        f.write(fails('alice@example.com', 2, '203.0.113.5'))
    os.chmod(ok, 0o644)
    adm_log(closed, fails('bob@example.com', 3, '198.51.100.7'))
    d = sandboxed(w, [ok, closed], [], extra='poll-interval 100ms')
    d.start()
    d.wait_stderr(re.escape(
        '%s: cannot read: Permission denied: the file is root:adm mode 0640 and '
        'smtpwatchd runs as user nobody, not in group adm; add the group to the '
        'service (SupplementaryGroups=adm' % closed))
    d.wait_caught_up(logs=[ok])
    eq(account_failures(d.db), {b'alice@example.com': 2}, 'failures while one log is closed')
    append(ok, fails('alice@example.com', 1, '203.0.113.5', sec=10))
    d.wait_until(lambda: account_failures(d.db).get(b'alice@example.com') == 3,
                 'the readable log followed on')
    os.chmod(closed, 0o644)
    d.wait_stderr(re.escape('%s: readable now' % closed))
    d.wait_until(lambda: account_failures(d.db).get(b'bob@example.com') == 3,
                 'the log once readable')
    if d.err_text().count('%s: cannot read' % closed) != 1:
        fail('the denial was not said exactly once:\n%s' % d.tail())
    d.term()


def unit_settings(unit):
    """key -> [values] of the unit's KEY=VALUE lines."""
    out = {}
    with open(unit) as f:
        for line in f:
            m = re.match(r'([A-Za-z]+)=(.*)$', line.strip())
            if m:
                out.setdefault(m.group(1), []).append(m.group(2))
    return out


@test('metrics')
def metrics(w):
    """smtpwatch-metrics.service where systemd cannot run it: uid 0 with
    no capability (CapabilityBoundingSet= empty), primary group the
    daemon's (Group=smtpwatch; here nogroup, the sandboxed daemon's),
    no_new_privs and the unit's system call filter.  The daemon runs as
    nobody with its directory 0750 and database 0640 (UMask=0027); the
    node exporter's directory is root:root 0755 as Debian ships it.  The
    metrics are written with the daemon's counters; in another group
    nothing can be read: exit 3, the file left as it was."""
    unit = unit_settings(METRICS_UNIT)
    eq((unit.get('User'), unit.get('Group'), unit.get('CapabilityBoundingSet'),
        unit.get('NoNewPrivileges')), (['root'], ['smtpwatch'], [''], ['yes']),
       'the identity the unit gives the service')
    log = w.path('mail.log')
    with open(log, 'wb') as f:
        f.write(fails('alice@example.com', 3, '203.0.113.5'))
    os.chmod(log, 0o644)
    d = sandboxed(w, [log], [])
    d.start()
    d.wait_caught_up()
    for p in (d.db, d.db + '-wal', d.db + '-shm'):
        if os.path.exists(p):
            os.chmod(p, 0o640)
    textdir = w.path('node-exporter')
    os.mkdir(textdir, 0o755)
    prom = os.path.join(textdir, 'smtpwatch.prom')
    allowed = w.path('metrics-syscalls')
    # SQLite run by root fchown()s the -wal and -shm files it opens to
    # the database's owner, ignoring a failure.  The unit answers EPERM
    # (fchown is in @privileged), where seccomp-run would kill; without
    # CAP_CHOWN the kernel answers EPERM too, so it is let through here.
    with open(allowed, 'w') as f:
        f.write('\n'.join(unit_allowed(METRICS_UNIT) + ['fchown']) + '\n')

    def run_as(gid):
        argv = ['setpriv', '--reuid=0', '--regid=%d' % gid, '--clear-groups',
                '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs',
                SECCOMP_RUN, allowed, CTL, '-f', d.conf, '--rules', RULES,
                'metrics', '--output', prom]
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)

    r = run_as(NOBODY)
    if r.returncode != 0:
        fail('the metrics service as root without capabilities, group nogroup: exit %d\n%s'
             % (r.returncode, r.stderr))
    with open(prom) as f:
        text = f.read()
    for want in ('smtpwatch_up 1\n', 'smtpwatch_failures_total{direction="server"} 3\n',
                 'smtpwatch_stored_failures{host="mx1",direction="server"} 3\n'):
        if want not in text:
            fail('%r not in the metrics written:\n%s' % (want, text))
    st = os.stat(prom)
    eq((st.st_uid, oct(st.st_mode & 0o7777)), (0, oct(0o644)), 'owner and mode of the file')
    r = run_as(NOBODY - 1)
    eq(r.returncode, 3, 'exit status in a group that is not the daemon\'s')
    if 'Permission denied' not in r.stderr:
        fail('in another group: no "Permission denied" in %r' % r.stderr)
    with open(prom) as f:
        eq(f.read(), text, 'the file after the failure')
    eq(os.listdir(textdir), ['smtpwatch.prom'], 'the directory after the failure')
    d.term()


if __name__ == '__main__':
    if os.geteuid() != 0:
        print('test_sandbox.py: must run as root (it changes user)', file=sys.stderr)
        sys.exit(1)
    if not os.access(SECCOMP_RUN, os.X_OK):
        print('test_sandbox.py: %s is not built (make tests)' % SECCOMP_RUN, file=sys.stderr)
        sys.exit(1)
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
