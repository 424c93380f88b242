"""test_fault.py -- smtpwatchd when things break around it.

Two groups.  `inject` runs build/fault/smtpwatchd, the ASan daemon linked
with tests/fault/fault.c: its calls of pread, read, inotify_add_watch,
sqlite3_step, sd_journal_sendv and malloc fail on a countdown (SW_FAULT),
and each test walks that countdown through the run.  `real` breaks real
things: a full tmpfs under the database, the journal socket gone and
back, the log's directory removed and made again, SIGSTOP/SIGCONT in a
storm.  Every test ends the same way: the daemon survived, or exited 1
with a message and ran again; no sanitizer report, no leak; and the
counts in the database equal the truth, nothing lost, nothing doubled.

The `real` group mounts: run it as root in a mount namespace of its own
(tests/run-tests does: unshare --mount --propagation private).

Usage: python3 tests/fault/test_fault.py [TEST|GROUP ...]
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (ROOT, Daemon, Journal, account_failures, append,  # noqa: E402
                     ensure_journald, eq, fail, pf_fail, pf_relay_fail, run_tests)
from test_alerts import ctl_status  # noqa: E402
from test_daemon import bulk, fails, merge, touch  # noqa: E402
from test_storage import ctl  # noqa: E402

FAULT_BIN = os.path.join(ROOT, 'build', 'fault', 'smtpwatchd')
TESTS = {}
GROUPS = {'inject': [], 'real': []}


def test(group):
    def reg(fn):
        TESTS[fn.__name__] = fn
        GROUPS[group].append(fn.__name__)
        return fn
    return reg


def fault_daemon(w, logs, spec, name, **kw):
    """The fault-injection daemon, SW_FAULT=spec ('' for none)."""
    d = Daemon(w, logs, binary=FAULT_BIN, name=name, **kw)
    d.asan = True
    d.extra_env = {'SW_FAULT': spec}
    return d


def calls(d, call, since=0):
    """How often the last run called call, from fault.c's exit report."""
    m = re.findall(r'fault: %s calls (\d+) failed (\d+)' % re.escape(call), d.err_text(since))
    if not m:
        fail('%s: no fault report for %s\n%s' % (d.name, call, d.tail()))
    return int(m[-1][0]), int(m[-1][1])


def points(n, k=10):
    """About k countdown values spread over 1..n, the first three always."""
    return sorted(set([1, 2, 3] + [1 + i * max(n - 1, 1) // (k - 1) for i in range(k)]))


def no_sanitizer(d, since=0):
    text = d.err_text(since)
    for bad in ('AddressSanitizer', 'LeakSanitizer', 'runtime error:', 'UndefinedBehavior'):
        if bad in text:
            fail('%s: %s in its stderr\n%s' % (d.name, bad, d.tail(80)))


def survive_or_exit(d, what):
    """Starts d: it reaches READY=1, or exits 1 with a message of its own
    (smtpwatchd: ...); returns True when it runs."""
    mark = d.err_mark()
    d.start(wait=False)

    def settled():
        return ('READY', '1') in d.msgs[d.mark:] or not d.running()
    d._wait(settled, 'READY=1 or an exit', allow_exit=True)
    if d.running():
        return True
    rc = d.wait_exit()
    no_sanitizer(d, mark)
    said = [l for l in d.err_text(mark).splitlines()
            if l.startswith('smtpwatchd: ') and 'fault:' not in l]
    if rc != 1 or not said:
        fail('%s: %s: exit status %s (want 1 with a message)\n%s' % (d.name, what, rc, d.tail()))
    return False


def walk(w, call, error, count, data, want, conf=''):
    """The log written first, then for each countdown value a new
    database: the fault on calls AFTER..AFTER+count-1; the daemon runs
    to the end of the log (started once more without the fault when it
    had exited), its counts equal want."""
    log = w.path('mail.log')
    with open(log, 'wb') as f:
        f.write(data)
    d = fault_daemon(w, [log], '', 'count', extra_conf=conf)
    d.start()
    d.wait_caught_up()
    d.term()
    n, _ = calls(d, call)
    if n == 0:
        fail('%s is never called on this run' % call)
    for after in points(n, 8):
        spec = '%s:%s:%d:%d' % (call, error, after, count)
        d = fault_daemon(w, [log], spec, '%s-%s-%d' % (call, error, after), extra_conf=conf)
        if not survive_or_exit(d, spec):
            d.extra_env = {'SW_FAULT': ''}
            d.start()
        d.wait_caught_up(timeout=120)
        eq(account_failures(d.db), want, 'accounts with %s' % spec)
        d.term()
        no_sanitizer(d)


def relay_alert(d, log, i, relay):
    """A relay-rejected line for relay (its own incident: alerts at once)."""
    append(log, pf_relay_fail('4F1A%06X' % i, 'ops@partner.example', sec=i,
                              relay=relay, relay_ip='192.0.2.%d' % (i + 1)))
    d.wait_caught_up()


def alerts_where(d, j, relays):
    """(relays alerted in the journal, relays alerted on stderr), sorted."""
    j.sync()
    journal = sorted(e['SMTPWATCH_RELAY'] for e in j.entries
                     if e.get('SMTPWATCH_KIND') == 'relay-rejected')
    text = d.err_text()
    stderr = sorted(r for r in relays
                    if re.search(r'relay-rejected: .*\b%s\b' % re.escape(r), text))
    return journal, stderr


# ============================================================== inject

@test('inject')
def step_busy(w):
    """sqlite3_step says SQLITE_BUSY three times, at each point of a run."""
    data, want = bulk(2000, 1)
    walk(w, 'sqlite3_step', 'BUSY', 3, data, want)


@test('inject')
def step_full(w):
    """sqlite3_step says SQLITE_FULL (a full disk) three times."""
    data, want = bulk(2000, 2)
    walk(w, 'sqlite3_step', 'FULL', 3, data, want)


@test('inject')
def step_ioerr(w):
    """sqlite3_step says SQLITE_IOERR three times."""
    data, want = bulk(2000, 3)
    walk(w, 'sqlite3_step', 'IOERR', 3, data, want)


@test('inject')
def pread_eio(w):
    """pread (the log, its fingerprint) fails with EIO twice; polling
    every 100 ms tries again."""
    data, want = bulk(4000, 4)
    walk(w, 'pread', 'EIO', 2, data, want, conf='poll-interval 100ms')


@test('inject')
def read_eio(w):
    """read (the inotify descriptor) fails with EIO, at each of the first
    calls: lines written afterwards are still all counted (polling, or the
    next event)."""
    for after in (1, 2, 3, 5):
        log = w.path('mail-%d.log' % after)
        touch(log)
        d = fault_daemon(w, [log], 'read:EIO:%d:1' % after, 'read-%d' % after,
                         extra_conf='poll-interval 100ms')
        d.start()
        want = {}
        for seed in range(3):
            data, got = bulk(1500, 10 + seed)
            want = merge(want, got)
            append(log, data)
            d.wait_caught_up(timeout=60)
        eq(account_failures(d.db), want, 'accounts with read failing at call %d' % after)
        d.term()
        no_sanitizer(d)


@test('inject')
def watch_enospc(w):
    """inotify_add_watch fails with ENOSPC (the watch limit): for every
    call, then for one at each point; the daemon polls and counts all."""
    for spec in ('inotify_add_watch:ENOSPC:1:0', 'inotify_add_watch:ENOSPC:1:1',
                 'inotify_add_watch:ENOSPC:2:1'):
        log = w.path('m-%s.log' % spec.replace(':', '-'))
        touch(log)
        d = fault_daemon(w, [log], spec, spec.replace(':', '-'),
                         extra_conf='poll-interval 100ms')
        d.start()
        data, want = bulk(2000, 20)
        append(log, data)
        d.wait_caught_up(timeout=60)
        eq(account_failures(d.db), want, 'accounts with %s' % spec)
        d.term()
        no_sanitizer(d)


@test('inject')
def journal_refuses(w):
    """sd_journal_sendv fails for the 2nd to 4th alert: those go to
    stderr (journald's stream under systemd), the others to the journal;
    each relay's alert is written exactly once, one way or the other."""
    ensure_journald()
    log = w.path('mail.log')
    touch(log)
    d = fault_daemon(w, [log], 'sd_journal_sendv:ECONNREFUSED:2:3', 'refuses')
    d.start()
    j = Journal(d)
    relays = ['relay%d.example' % i for i in range(8)]
    for i, r in enumerate(relays):
        relay_alert(d, log, i, r)
    journal, stderr = alerts_where(d, j, relays)
    eq(len(stderr), 3, 'alerts written to stderr while the journal refused them')
    eq(sorted(journal + stderr), sorted(relays), 'every alert once, journal or stderr')
    if 'alerts go to stderr' not in d.err_text():
        fail('no warning that alerts go to stderr\n%s' % d.tail())
    d.term()
    no_sanitizer(d)


@test('inject')
def malloc_at_load(w):
    """malloc fails at each of its calls while the configuration and the
    rules load (smtpwatchd -n): exit 3 saying "Cannot allocate memory"
    (or 1 with "out of memory" from a library), or 0 where the
    allocation was not needed; never a crash or a leak report."""
    conf = w.path('n.conf')
    with open(conf, 'w') as f:
        f.write('log %s\ndatabase %s\njournal no\n' % (w.path('x.log'), w.path('x.db')))
    argv = [FAULT_BIN, '-n', '-f', conf, '--rules', os.path.join(ROOT, 'rules')]
    env = dict(os.environ, SW_FAULT='')
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    m = re.search(r'fault: malloc calls (\d+)', p.stderr)
    if p.returncode != 0 or not m:
        fail('smtpwatchd -n without faults: exit %d\n%s' % (p.returncode, p.stderr))
    n = int(m.group(1))
    failed_once = 0
    # Every one of the first 100 (configuration, the first rules file),
    # then 60 spread over the rest: all of them take half a minute.
    for after in sorted(set(range(1, min(n, 100) + 1)) | set(points(n, 60))):
        env['SW_FAULT'] = 'malloc:ENOMEM:%d:1' % after
        p = subprocess.run(argv, env=env, capture_output=True, text=True)
        for bad in ('AddressSanitizer', 'LeakSanitizer', 'runtime error:'):
            if bad in p.stderr:
                fail('malloc failing at call %d of %d: %s\n%s' % (after, n, bad, p.stderr[-3000:]))
        if (p.returncode == 3 and 'Cannot allocate memory' in p.stderr) or \
                (p.returncode == 1 and 'out of memory' in p.stderr):
            failed_once += 1
        elif p.returncode != 0:
            fail('malloc failing at call %d of %d: exit %d without saying memory ran out\n%s' % (
                after, n, p.returncode, p.stderr[-2000:]))
    if failed_once == 0:
        fail('no malloc failure was noticed in %d calls' % n)


@test('inject')
def checkpoint_fails(w):
    """The checkpointer's first two checkpoints fail (SQLITE_IOERR), with
    database-limit 1M (a checkpoint every 32 frames): the daemon says so
    while it runs, once, then that the WAL is copied again when the third
    succeeds; status (text and JSON) and the metrics count the two and
    say the WAL is copied again; at stop it sums them up; every count is
    in the database.  Then every checkpoint fails: status and the
    metrics say they fail now."""
    log = w.path('mail.log')
    touch(log)
    conf = 'database-limit 1M\ncontrol %s' % w.path('control.sock')
    d = fault_daemon(w, [log], 'sqlite3_wal_checkpoint_v2:IOERR:1:2', 'ckfail',
                     extra_conf=conf)
    d.start()
    want = {}
    for i in range(200):
        want = merge(want, checkpoint_round(d, log, i))
        if 'copied into the database again' in d.err_text():
            break
    text = d.err_text()
    warned = re.findall(r'the WAL cannot be copied into the database \(([^)]*)\): '
                        r'it grows until a checkpoint succeeds', text)
    eq(len(warned), 1, 'warnings that checkpoints fail, while running\n' + d.tail())
    if 'disk I/O error' not in warned[0]:
        fail('the warning does not say why: %r' % warned[0])
    if not re.search(r'the WAL is copied into the database again, after 2 failed '
                     r'checkpoints', text):
        fail('no word that checkpoints succeed again after 2 failures\n' + d.tail())
    if text.index('cannot be copied') > text.index('copied into the database again'):
        fail('the recovery said before the failure\n' + d.tail())
    checkpoint_status(d, 2, False)
    d.term()
    no_sanitizer(d)
    if not re.search(r'2 of \d+ checkpoints of the WAL failed, the last with: disk I/O error',
                     d.err_text()):
        fail('no sum of the failed checkpoints at stop\n' + d.tail())
    eq(calls(d, 'sqlite3_wal_checkpoint_v2')[1], 2, 'checkpoints failed by the fault')
    eq(account_failures(d.db), want, 'accounts')

    d.extra_env = {'SW_FAULT': 'sqlite3_wal_checkpoint_v2:IOERR:1:0'}
    mark = d.err_mark()
    d.start()
    for i in range(200, 400):
        want = merge(want, checkpoint_round(d, log, i))
        if 'cannot be copied' in d.err_text(mark):
            break
    checkpoint_status(d, None, True)
    d.term()
    no_sanitizer(d)
    if 'copied into the database again' in d.err_text(mark):
        fail('checkpoints said to succeed while every one fails\n' + d.tail())
    eq(account_failures(d.db), want, 'accounts, every checkpoint failing')


def checkpoint_round(d, log, i):
    """400 lines appended and read (within stamp()'s day); their
    {account: failures}."""
    data, got = bulk(400, 100 + i, accounts=400, start_sec=i % 40 * 400)
    append(log, data)
    d.wait_caught_up()
    return got


def checkpoint_status(d, failed, failing):
    """status (text and JSON) and the metrics say failed checkpoints
    failed (None: at least one) and whether they fail now."""
    j = json.loads(ctl_status(d, '--json'))['daemon']
    n = j['checkpoint_errors']
    if (failed is None and n < 1) or (failed is not None and n != failed):
        fail('status --json checkpoint_errors %d, want %s' % (n, failed or 'some'))
    eq(j['checkpoint_failing'], failing, 'status --json checkpoint_failing')
    out = ctl_status(d)
    tail = ('failing now: it grows until one succeeds' if failing else
            'copied into the database again since')
    rx = r'^  wal +%d checkpoints? of the WAL failed, %s' % (n, re.escape(tail))
    if not re.search(rx, out, re.M):
        fail('status does not say %d checkpoints failed, %s:\n%s' % (n, tail, out))
    rc, m, err = ctl(d, 'metrics')
    eq(rc, 0, 'smtpwatchctl metrics exit status\n' + err)
    for line in ('smtpwatch_checkpoint_errors_total %d' % n,
                 'smtpwatch_checkpoint_failing %d' % failing):
        if not re.search(r'^%s$' % line, m, re.M):
            fail('metrics without %r:\n%s' % (line, m[-2000:]))


# ================================================================ real

def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'smtpwatch-test',
                    path], check=True)


def umount(path):
    """Lazily: a daemon of a failed test may still hold it open."""
    subprocess.run(['umount', '-l', path], check=False)


def private_mounts():
    """The real tests mount: only in a mount namespace of their own."""
    with open('/proc/self/mountinfo') as f:
        own = f.read()
    with open('/proc/1/mountinfo') as f:
        init = f.read()
    if os.getuid() != 0 or own == init:
        fail('the real group mounts tmpfs: run it as root under '
             'unshare --mount --propagation private (as tests/run-tests does)')


@test('real')
def tmpfs_full(w):
    """The database on a 16 MB tmpfs that a filler file has all but used
    up: writes fail with "database or disk is full", the daemon keeps its
    batch; the filler goes, everything is counted once and the database
    passes quick_check."""
    private_mounts()
    fs = w.path('fs')
    mount_tmpfs(fs, '16m')
    try:
        log = w.path('mail.log')
        touch(log)
        d = fault_daemon(w, [log], '', 'full', database=os.path.join(fs, 'db'))
        d.start()
        append(log, fails(b'alice@example.com', 2))
        d.wait_caught_up()
        filler = os.path.join(fs, 'filler')
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b'\0' * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        mark = d.err_mark()
        data = b''.join(pf_fail_n(i) for i in range(8000))
        append(log, data)
        d.wait_stderr('full', since=mark, timeout=60)
        os.unlink(filler)
        d.wait_caught_up(timeout=120)
        want = {b'u%05d@example.com' % i: 1 for i in range(8000)}
        want[b'alice@example.com'] = 2
        eq(account_failures(d.db), want, 'accounts once the disk has room again')
        d.term()
        no_sanitizer(d)
        c = sqlite3.connect(d.db)
        eq(c.execute('PRAGMA quick_check').fetchone()[0], 'ok', 'quick_check')
        c.close()
    finally:
        umount(fs)


def pf_fail_n(i):
    """A failure of account i, from an address of its own."""
    return pf_fail(b'u%05d@example.com' % i, '10.%d.%d.%d' % (i >> 16, (i >> 8) & 255, i & 255),
                   i % 3000)


@test('real')
def journal_gone(w):
    """journald's socket disappears (an empty tmpfs over
    /run/systemd/journal) and comes back: alerts go to stderr meanwhile,
    then to the journal again; none is lost or written twice."""
    private_mounts()
    ensure_journald()
    log = w.path('mail.log')
    touch(log)
    d = fault_daemon(w, [log], '', 'gone')
    d.start()
    j = Journal(d)
    relays = ['relay%d.example' % i for i in range(9)]
    for i in range(3):
        relay_alert(d, log, i, relays[i])
    mount_tmpfs('/run/systemd/journal', '64k')
    try:
        for i in range(3, 6):
            relay_alert(d, log, i, relays[i])
    finally:
        umount('/run/systemd/journal')
    for i in range(6, 9):
        relay_alert(d, log, i, relays[i])
    journal, stderr = alerts_where(d, j, relays)
    eq(stderr, relays[3:6], 'alerts on stderr while the socket was gone')
    eq(journal, sorted(relays[:3] + relays[6:]), 'alerts in the journal')
    d.term()
    no_sanitizer(d)


@test('real')
def log_dir_recreated(w):
    """The log's directory is removed with the log in it, and made again
    with a new log: the new one is read from its start, and the old
    lines are not counted twice."""
    sub = w.path('var', 'log')
    os.makedirs(sub)
    log = os.path.join(sub, 'mail.log')
    touch(log)
    d = fault_daemon(w, [log], '', 'dir', extra_conf='poll-interval 100ms')
    d.start()
    append(log, fails(b'alice@example.com', 3))
    d.wait_caught_up()
    shutil.rmtree(w.path('var'))
    os.makedirs(sub)
    append(log, fails(b'bob@example.com', 2, ip='198.51.100.7'))
    d.wait_caught_up(timeout=60)
    eq(account_failures(d.db), {b'alice@example.com': 3, b'bob@example.com': 2},
       'accounts after the directory came back')
    d.term()
    no_sanitizer(d)


@test('real')
def stop_cont_storm(w):
    """SIGSTOP and SIGCONT, five times, while a storm is written and
    read: every failure counted once."""
    log = w.path('mail.log')
    touch(log)
    d = fault_daemon(w, [log], '', 'stopcont')
    d.start()
    want = {}
    for seed in range(5):
        data, got = bulk(20000, 30 + seed, accounts=400)
        want = merge(want, got)
        half = len(data) // 2
        half = data.index(b'\n', half) + 1
        append(log, data[:half])
        d.signal(signal.SIGSTOP)
        append(log, data[half:])
        d.signal(signal.SIGCONT)
    d.wait_caught_up(timeout=120)
    eq(account_failures(d.db), want, 'accounts after SIGSTOP/SIGCONT')
    d.term()
    no_sanitizer(d)


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
