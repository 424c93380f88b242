#!/usr/bin/env python3
"""test_storage.py -- the database under bad clocks and under attack
(issue 18, findings 3, 4, 6 and the retention half of 10): retention by
the log's time, the backlog kept, the share limit against a wrong year,
the size limit and its folding, hourly buckets, a database deleted under
the running daemon.  The real daemon on real files and a real database.

Usage: python3 tests/daemon/test_storage.py [TEST|GROUP ...]
Groups: clock, backlog, wrong-year, limit, deleted, rollup (default:
all).  The clock is moved with libfaketime (Debian package faketime),
preloaded by env(1), which execs: the faketime program forks, and a
SIGTERM to it would not reach the daemon.  FAKETIME=+100d, or a time
stamp file the test rewrites (the daemon then sees its clock jump; its
next commit runs the hourly expiry).  Nothing sleeps: every wait is on
the daemon's NOTIFY messages and stderr (harness.py).
"""

import calendar
import glob
import ipaddress
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (BIN, CTL, RULES, Daemon, account_failures, address_failures,  # noqa: E402
                     append, checkpoints, eq, fail, pf_fail, query, run_tests)

TESTS = {}
GROUPS = {}
DAY = 86400
EXPIRED = r'expired (\d+) rows'


def test(group):
    def reg(fn):
        TESTS[group] = fn
        GROUPS.setdefault(group, []).append(group)
        return fn
    return reg


def utc(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s))


def line(t, user, ip, host='mx1'):
    """A Postfix AUTH failure at epoch t, RFC 3339 stamp (no year to infer)."""
    stamp = '%04d-%02d-%02dT%02d:%02d:%02d+00:00' % tuple(time.gmtime(t)[:6])
    return ('%s %s postfix/smtpd[1234]: warning: unknown[%s]: SASL LOGIN authentication '
            'failed: UGFzc3dvcmQ6, sasl_username=%s\n' % (stamp, host, ip, user)).encode()


def libfaketime():
    libs = sorted(glob.glob('/usr/lib/*/faketime/libfaketime.so.1'))
    if not libs or not shutil.which('faketime'):
        fail('libfaketime is missing: apt-get install faketime (contrib/deps check)')
    return libs[0]


class Clock:
    """The daemon's clock, moved by the test: libfaketime reads the
    offset from a file at every call (FAKETIME_NO_CACHE)."""

    def __init__(self, w, d):
        self.path = w.path('faketime')
        self.set(0)
        d.extra_env.update({'LD_PRELOAD': libfaketime(), 'FAKETIME_TIMESTAMP_FILE': self.path,
                            'FAKETIME_NO_CACHE': '1'})

    def set(self, seconds):
        with open(self.path + '.tmp', 'w') as f:
            f.write('%+ds\n' % seconds)
        os.rename(self.path + '.tmp', self.path)


def expiries(d, since=0):
    return [int(n) for n in re.findall(EXPIRED, d.err_text(since))]


def wait_expiry(d, since):
    """Waits for an expiry logged after since; returns the rows it deleted."""
    d.wait_stderr(EXPIRED, since=since)
    return expiries(d, since)[0]


def totals(db):
    return (account_failures(db), address_failures(db),
            query(db, 'SELECT count(*) AS n FROM incidents')[0]['n'])


def ctl(d, *args, now=None):
    env = dict(os.environ)
    if now is not None:
        env['SMTPWATCH_NOW'] = str(now)
    r = subprocess.run([CTL, '--rules', RULES, '-f', d.conf] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return r.returncode, r.stdout.decode('utf-8', 'replace'), r.stderr.decode('utf-8', 'replace')


# ===========================================================================
# A clock 100 days ahead: retention goes by the log's time
# ===========================================================================

@test('clock')
def clock_jump(w):
    """Failures counted with the right clock; the daemon started again
    with its clock 100 days ahead (libfaketime, +100d): the expiry at its
    start, after its backlog and later ones delete nothing, since the
    log's time has not moved.  (The machine's clock used to be the
    reference: every account, address and incident went at once.)"""
    log = w.path('mail.log')
    data = b''.join(pf_fail('user%d@example.org' % (i % 5), '203.0.113.%d' % (i % 4 + 1), i)
                    for i in range(20))
    append(log, data)
    d = Daemon(w, [log], binary=BIN, extra_conf='retention 90d\naccount-threshold 3')
    d.start()
    d.wait_caught_up()
    before = totals(d.db)
    eq(sum(before[0].values()), 20, 'failures counted')
    if before[2] == 0:
        fail('no incident to keep (account-threshold 3)')
    d.term()
    d.wrap = ['env', 'LD_PRELOAD=' + libfaketime(), 'FAKETIME=+100d']
    mark = d.err_mark()
    d.start()
    append(log, pf_fail('late@example.org', '203.0.113.9', 60))
    d.wait_caught_up()
    d.wait_stderr(EXPIRED, since=mark)
    eq(sum(expiries(d, mark)), 0, 'rows expired under a clock 100 days ahead')
    after = totals(d.db)
    want = dict(before[0])
    want[b'late@example.org'] = 1
    eq(after[0], want, 'accounts after the jump')
    eq(sum(after[1].values()), 21, 'address failures after the jump')
    eq(after[2], before[2], 'incidents after the jump')
    updated = checkpoints(d.db)[log]['updated']
    if updated < time.time() + 99 * DAY:
        fail('the daemon did not run 100 days ahead: checkpoint written at %d' % updated)
    d.term()
    d.wrap = []
    d.start()
    d.wait_caught_up()
    eq(totals(d.db)[0], want, 'accounts with the clock right again')
    d.term()


# ===========================================================================
# A backlog longer than the retention, read at start
# ===========================================================================

@test('backlog')
def backlog(w):
    """A log of 200 days (2026-01-01 to 2026-07-20), retention 90d, read
    at start: nothing of it goes while this run lasts, neither at the
    expiry after the backlog nor at the hourly one (the daemon's clock
    moved 2 hours on), though 110 days of it are older than the newest
    line less the retention.  The next run expires by the log's time:
    what is older than 90 days before the newest line goes, the rest
    stays."""
    log = w.path('mail.log')
    t0 = utc(2026, 1, 1, 12)
    data = b''
    want = {}
    for day in range(0, 201, 5):
        u = 'day%03d@example.org' % day
        data += line(t0 + day * DAY, u, '198.51.100.%d' % (day % 200 + 1))
        want[u.encode()] = 1
    append(log, data)
    newest = t0 + 200 * DAY
    d = Daemon(w, [log], binary=BIN, extra_conf='retention 90d')
    clock = Clock(w, d)
    mark = d.err_mark()
    d.start()
    d.wait_caught_up()
    gone = wait_expiry(d, mark)
    eq(gone, 0, 'rows expired after the backlog')
    eq(account_failures(d.db), want, 'accounts after the backlog')
    mark = d.err_mark()      # before the clock moves: any commit may expire
    clock.set(2 * 3600)
    append(log, line(newest + 60, 'live@example.org', '198.51.100.250'))
    d.wait_caught_up()
    eq(wait_expiry(d, mark), 0, 'rows expired by the hourly expiry of the same run')
    want[b'live@example.org'] = 1
    eq(account_failures(d.db), want, 'accounts after the hourly expiry')
    d.term()
    # the next run: not its backlog any more
    mark = d.err_mark()
    d.start()
    d.wait_caught_up()
    wait_expiry(d, mark)
    cut = newest + 60 - 90 * DAY
    kept = {u: n for u, n in want.items()
            if u == b'live@example.org' or t0 + int(u[3:6]) * DAY >= cut}
    eq(account_failures(d.db), kept, 'accounts a run later (older than 90 days before the '
       'newest line gone)')
    d.term()


# ===========================================================================
# A line a year in the future (a wrong year)
# ===========================================================================

@test('wrong-year')
def wrong_year(w):
    """Counts of 2026-11-28; then, in a later run, a line dated a year
    ahead (the wrong year a classic stamp can get).  The hourly expiry
    (the clock moved 2 hours on) would delete every row but those of the
    future line: refused, said once, noted for status and metrics;
    nothing deleted, not even at the next hourly one."""
    log = w.path('mail.log')
    t = utc(2026, 11, 28, 4)
    data = b''.join(line(t + i * 60, 'user%d@example.org' % i, '203.0.113.%d' % (i + 1))
                    for i in range(10))
    append(log, data)
    sock = w.path('control.sock')
    d = Daemon(w, [log], binary=BIN, extra_conf='retention 90d\ncontrol %s' % sock)
    d.start()
    d.wait_caught_up()
    before = account_failures(d.db)
    d.term()
    clock = Clock(w, d)
    mark = d.err_mark()
    d.start()
    d.wait_caught_up()
    # live: the line below is not part of a backlog read at start
    d.wait_stderr(r'(the|no) backlog read at start', since=mark)
    append(log, line(t + 365 * DAY, 'future@example.org', '203.0.113.99'))
    d.wait_caught_up()
    for hours in (2, 4):
        mark = d.err_mark()  # before the clock moves: any commit may expire
        clock.set(hours * 3600)
        append(log, line(t + 3600 + hours, 'now%d@example.org' % hours, '203.0.113.100'))
        d.wait_caught_up()
        if hours == 2:
            d.wait_stderr(r'retention refused: it would delete \d+ of the \d+ rows', since=mark)
        else:
            d.wait_until(lambda: query(d.db, "SELECT value FROM meta WHERE name = "
                                       "'refused_wall'")[0]['value'] > first,
                         'the second refusal noted')
        first = query(d.db, "SELECT value FROM meta WHERE name = 'refused_wall'")[0]['value']
    n = len(re.findall(r'retention refused', d.err_text()))
    eq(n, 1, 'refusals said')
    want = dict(before)
    want.update({b'future@example.org': 1, b'now2@example.org': 1, b'now4@example.org': 1})
    eq(account_failures(d.db), want, 'accounts after two refused expiries')
    rc, out, err = ctl(d, 'status', '--json')
    j = json.loads(out)
    refused = j['storage']['refused']
    if refused is None or refused['rows'] < len(before):
        fail('status --json storage.refused: %r' % refused)
    rc, out, err = ctl(d, 'metrics')
    if 'smtpwatch_retention_refused 1\n' not in out:
        fail('metrics without smtpwatch_retention_refused 1:\n%s' % out)
    d.term()


# ===========================================================================
# Many random accounts over IPv6 against a small size limit
# ===========================================================================

LIMIT = 4 << 20
ATTACK = 20000


def attack(n, seed=18, net='2001:db8:1:2'):
    """n failures, each a random account from a random address of net::/64."""
    r = random.Random(seed)
    t = utc(2026, 11, 28, 0)
    out = []
    for i in range(n):
        ip = '%s:%x:%x:%x:%x' % ((net,) + tuple(r.randrange(1, 65536) for _ in range(4)))
        out.append(line(t + i // 4, 'r%010x@example.org' % r.randrange(1 << 40), ip))
    return b''.join(out)


def in_net(addr, net):
    try:
        if '/' in addr:
            return ipaddress.ip_network(addr).subnet_of(net)
        return ipaddress.ip_address(addr) in net
    except (ValueError, TypeError):
        return False


@test('limit')
def size_limit(w):
    """20,000 failures, each of a random account from a random address of
    one /64, read at start with database-limit 4M: the file stays under
    4 MB at every commit (the unbounded database is about 16 MB), every
    failure is counted, in the /64 exactly 20,000; accounts and
    addresses that failed once are folded into the /64's rows, said in
    the log, shown by status and metrics."""
    log = w.path('mail.log')
    append(log, attack(ATTACK))
    d = Daemon(w, [log], asan=True, batch_interval='250ms',
               extra_conf='database-limit 4M\nbatch-events 500\ncontrol %s\n' %
               w.path('control.sock'))
    sizes = []

    def under():
        for p in (d.db, d.db + '-wal'):
            try:
                sizes.append((p, os.path.getsize(p)))
            except FileNotFoundError:
                pass
        return d.caught_up()
    d.start()
    d._wait(under, 'the checkpoint at the end of the attack', timeout=300)
    # A fold runs just after the commit that calls for it, in the same
    # turn of the event loop: the commit with the last checkpoint can be
    # seen before its fold.  A request answered means that turn is over.
    rc, out, err = ctl(d, 'status')
    if not re.match(r'smtpwatchd \S+ is running, pid %d,' % d.pid, out):
        fail('status did not reach the daemon: %s%s' % (out, err))
    over = [(p, s) for p, s in sizes if not p.endswith('-wal') and s > LIMIT]
    if over:
        fail('the database file went over database-limit (%d bytes): %s' % (LIMIT, over[:5]))
    wal = max([s for p, s in sizes if p.endswith('-wal')] or [0])
    if wal > LIMIT:
        fail('the WAL grew to %d bytes, over the limit' % wal)
    net = ipaddress.ip_network('2001:db8:1:2::/64')
    addr = query(d.db, 'SELECT addr, failures, folded FROM address_totals')
    eq(sum(r['failures'] for r in addr if in_net(r['addr'], net)), ATTACK,
       'failures of the /64 (address_totals)')
    acc = query(d.db, "SELECT account, failures, folded, network FROM account_totals "
                "WHERE direction = 'server'")
    eq(sum(r['failures'] for r in acc), ATTACK, 'failures (account_totals)')
    folded = sum(r['folded'] for r in acc)
    eq(folded + sum(1 for r in acc if r['folded'] == 0), ATTACK,
       'accounts folded plus accounts kept')
    if folded < ATTACK // 2:
        fail('only %d accounts folded' % folded)
    eq(sorted({r['network'] for r in acc if r['folded']}), ['2001:db8:1:2::/64'],
       'networks of the folded accounts')
    d.wait_stderr(r'folded \d+ accounts, \d+ client addresses')
    b = query(d.db, "SELECT coalesce(sum(failures), 0) AS n FROM buckets WHERE scope = 'addr'")
    eq(b[0]['n'], ATTACK, "failures in the buckets of scope 'addr'")
    b = query(d.db, "SELECT coalesce(sum(failures), 0) AS n FROM buckets "
              "WHERE scope IN ('account', 'fold')")
    eq(b[0]['n'], ATTACK, "failures in the buckets of scope 'account' and 'fold'")
    rc, out, err = ctl(d, 'metrics')
    m = dict(re.findall(r'^(smtpwatch_\w+(?:\{[^}]*\})?) (\d+)$', out, re.M))
    if int(m.get('smtpwatch_database_bytes', LIMIT + 1)) > LIMIT:
        fail('metrics: smtpwatch_database_bytes %s' % m.get('smtpwatch_database_bytes'))
    eq(int(m.get('smtpwatch_database_limit_bytes', 0)), LIMIT, 'metrics: the limit')
    eq(int(m.get('smtpwatch_folded{kind="account"}', -1)), folded, 'metrics: accounts folded')
    rc, out, err = ctl(d, 'status', '--json')
    s = json.loads(out)['storage']
    eq((s['limit'], s['folded']['accounts']), (LIMIT, folded), 'status: limit, accounts folded')
    rc, out, err = ctl(d, 'accounts')
    if '[%d folded from 2001:db8:1:2::/64]' % folded not in out:
        fail('accounts does not show the folded row:\n%s' % out[:2000])
    # A window holding every bucket: the same failures, the folded row's
    # from its buckets of scope 'fold', the others' from 'account'.
    rc, out, err = ctl(d, 'accounts', '--since', '2000-01-01T00:00:00', '--json')
    win = {(r['account'], r['network']): r['failures'] for r in json.loads(out)
           if r['direction'] == 'server'}
    eq(win, {(r['account'].decode() if isinstance(r['account'], bytes) else r['account'],
               r['network']): r['failures'] for r in acc},
       'accounts --since before the first bucket: the totals')
    d.term()
    if os.path.getsize(d.db) > LIMIT:
        fail('the database file is %d bytes after the stop' % os.path.getsize(d.db))
    print('      %d failures: file at most %d bytes, WAL at most %d, %d bytes after the stop; '
          '%d accounts folded' % (ATTACK, max(s for p, s in sizes if p == d.db), wal,
                                  os.path.getsize(d.db), folded))


# ===========================================================================
# The database deleted under the running daemon
# ===========================================================================

@test('deleted')
def deleted(w):
    """rm smtpwatch.db smtpwatch.db-wal smtpwatch.db-shm while the daemon
    runs: its next commit finds the file gone, says so once, and writes
    it anew from its open connection; the counts and positions of
    before and after are in it, and a restart reads nothing twice.  The
    same with only the WAL and shared memory deleted."""
    log = w.path('mail.log')
    a = b''.join(pf_fail('a%d@example.org' % (i % 3), '192.0.2.%d' % (i % 5 + 1), i)
                 for i in range(10))
    append(log, a)
    d = Daemon(w, [log], asan=True)
    d.start()
    d.wait_caught_up()
    eq(sum(account_failures(d.db).values()), 10, 'failures before')
    rounds = (('', '-wal', '-shm'), ('-wal', '-shm'))
    n = 10
    for k, suffixes in enumerate(rounds):
        mark = d.err_mark()
        for s in suffixes:
            os.unlink(d.db + s)
        b = b''.join(pf_fail('b%d@example.org' % i, '198.51.100.%d' % (k + 1), 100 * (k + 1) + i)
                     for i in range(5))
        append(log, b)
        n += 5
        d.wait_caught_up()
        d.wait_stderr(r'was deleted while smtpwatchd had it open: the database is written '
                      r'anew', since=mark)
        eq(len(re.findall(r'was deleted while', d.err_text(mark))), 1, 'times said')
        eq(sum(account_failures(d.db).values()), n, 'failures after round %d' % (k + 1))
        for s in ('', '-wal', '-shm'):
            if not os.path.exists(d.db + s):
                fail('%s is missing after round %d' % (d.db + s, k + 1))
    want = account_failures(d.db)
    cp = checkpoints(d.db)[log]
    d.term()
    d.start()
    d.wait_caught_up()
    eq(account_failures(d.db), want, 'accounts after a restart')
    eq(checkpoints(d.db)[log]['offset'], cp['offset'], 'position after a restart')
    append(log, pf_fail('c@example.org', '192.0.2.77', 900))
    d.wait_caught_up()
    want[b'c@example.org'] = 1
    eq(account_failures(d.db), want, 'accounts after one more line')
    d.term()


# ===========================================================================
# Buckets rolled up into hours after bucket-rollup (2 hours by default)
# ===========================================================================

@test('rollup')
def rollup(w):
    """Failures on 2026-11-26 10:05 to 10:50, on 2026-11-28 01:10 and
    01:40, and on 2026-11-28 04:00 to 05:00 (minute buckets): after the
    backlog the expiry rolls the buckets older than bucket-rollup, two
    hours by default, before the newest line (05:00) into one per hour
    with the same sums; `accounts --since` over both days and `status`
    (the 24 h before 06:00) give what the minute buckets gave."""
    log = w.path('mail.log')
    old = utc(2026, 11, 26, 10, 5)
    mid = utc(2026, 11, 28, 1, 10)
    new = utc(2026, 11, 28, 4)
    data = b''
    want_old, want_mid, want_new = {}, {}, {}
    for i in range(10):
        u = 'acct%d@example.org' % (i % 3)
        data += line(old + i * 5 * 60, u, '203.0.113.%d' % (i % 2 + 1))
        want_old[u.encode()] = want_old.get(u.encode(), 0) + 1
    for i in range(2):
        u = 'acct%d@example.org' % (i + 1)
        data += line(mid + i * 30 * 60, u, '203.0.113.9')
        want_mid[u.encode()] = 1
    for i in range(7):
        u = 'acct%d@example.org' % (i % 4)
        data += line(new + i * 10 * 60, u, '203.0.113.%d' % (i % 3 + 1))
        want_new[u.encode()] = want_new.get(u.encode(), 0) + 1
    append(log, data)
    d = Daemon(w, [log], asan=True, extra_conf='retention 90d\nbucket-retention 7d')
    mark = d.err_mark()
    d.start()
    d.wait_caught_up()
    wait_expiry(d, mark)
    cut = new + 3600 - 2 * 3600
    rows = query(d.db, 'SELECT scope, key, start, failures FROM buckets')
    odd = [r for r in rows if r['start'] < cut and r['start'] % 3600 != 0]
    if odd:
        fail('buckets older than two hours not rolled up into hours: %r' % odd[:5])
    hourly = [r for r in rows if r['start'] < cut]
    eq(sorted({r['start'] for r in hourly}), [utc(2026, 11, 26, 10), utc(2026, 11, 28, 1)],
       'hours of 2026-11-26 and 2026-11-28')
    got = {}
    for r in hourly:
        if r['scope'] == 'account':
            k = r['key'] if isinstance(r['key'], bytes) else r['key'].encode()
            got[k] = got.get(k, 0) + r['failures']
    eq(got, {u: want_old.get(u, 0) + want_mid.get(u, 0) for u in set(want_old) | set(want_mid)},
       'failures per account in the hourly buckets')
    eq(sum(r['failures'] for r in hourly if r['scope'] == 'addr'), 12,
       "failures in the hourly buckets of scope 'addr'")
    for u, n in want_mid.items():
        want_new[u] = want_new.get(u, 0) + n
    recent = [r for r in rows if r['start'] >= cut]
    if not recent or any(r['start'] % 60 for r in recent) or \
            len({r['start'] for r in recent}) != 7:
        fail('the minute buckets of 2026-11-28 changed: %r' % recent)
    now = utc(2026, 11, 28, 6)
    total = {u: want_old.get(u, 0) + want_new.get(u, 0) for u in set(want_old) | set(want_new)}
    for since, want in (('3d', total), ('1d', want_new)):
        rc, out, err = ctl(d, 'accounts', '--since', since, '--json', now=now)
        got = {r['account'].encode(): r['failures'] for r in json.loads(out)}
        eq(got, want, 'accounts --since %s' % since)
    rc, out, err = ctl(d, 'status', '--json', now=now)
    j = json.loads(out)
    eq(sum(j['hourly']), 9, 'status: failures in the 24 h')
    eq({x['account'].encode(): x['failures'] for x in j['top_accounts']},
       dict(sorted(want_new.items(), key=lambda kv: (-kv[1], kv[0]))[:5]),
       'status: top accounts')
    d.term()


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
