#!/usr/bin/env python3
"""test_daemon.py -- integration tests of smtpwatchd: the real daemon on
real log files and a real SQLite database (see harness.py for how it is
driven and awaited).

Usage: python3 tests/daemon/test_daemon.py [TEST|GROUP ...]
Groups: basic, rotation, resume, inotify, faults, reload, repeat,
aliases (default: all).
Run from anywhere; the binaries come from `make tests`.  Every test but
those that say otherwise runs build/asan/smtpwatchd, so a leak makes its
exit status after SIGTERM non-zero and fails the test.
"""

import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ASAN_BIN, BIN, CTL, ROOT, RULES, Daemon, address_failures,  # noqa: E402
                     address_rows, account_failures, account_rows, append, canon_ip,
                     checkpoints, ctl_events, epoch, eq, fail, noise, pf_fail,
                     pf_relay_fail, relay_counts, relay_rows, run_daemon, run_tests,
                     query, stamp, to_epoch)

TESTS = {}
GROUPS = {}


def test(group):
    def reg(fn):
        name = fn.__name__.replace('_', '-')
        TESTS[name] = fn
        GROUPS.setdefault(group, []).append(name)
        return fn
    return reg


def fails(user, n, ip='203.0.113.5', sec=0):
    """n failures of user from ip, one second apart."""
    return b''.join(pf_fail(user, ip, sec + i) for i in range(n))


def touch(path):
    open(path, 'ab').close()


def asan_daemon(w, logs, **kw):
    kw.setdefault('asan', True)
    return Daemon(w, logs, **kw)


def barrier(d, side):
    """A line on the side log, awaited: the daemon has handled every
    inotify event queued before it (one inotify descriptor, in order)."""
    append(side, noise(0))
    d.wait_caught_up([side])


# ===========================================================================
# basic
# ===========================================================================

@test('basic')
def basic(w):
    """Server failures for one account from two addresses, one without an
    account, a Gmail relay rejection with a further recipient and a
    [CACHED] line, one success: the exact rows of the three views, the
    checkpoint, a STATUS line; a restart counts nothing again."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log], batch_interval=None)      # default batch-interval
    d.start()
    data = (noise(1, 0) +
            pf_fail('alice@example.com', '203.0.113.5', 21, rfc3339=True) +
            pf_fail('alice@example.com', '203.0.113.5', 25, rfc3339=True) +
            b'Nov 28 04:00:25 mx1 postfix/smtpd[1234]: lost connection after AUTH from unknown[203.0.113.5]\n' +
            pf_fail('alice@example.com', '198.51.100.23', 62, pid=1240, mech='PLAIN',
                    name='mail.example.net', reason='(reason unavailable)',
                    service='submission/smtpd', rfc3339=True) +
            pf_fail(None, '192.0.2.77', 120, pid=1250, rfc3339=True) +
            b'Nov 28 04:02:01 mx1 postfix/smtpd[1250]: disconnect from unknown[192.0.2.77] ehlo=1 auth=0/1 quit=1 commands=2/3\n' +
            pf_relay_fail('8C1D311E0B7', 'ops@partner.example', 600, rfc3339=True) +
            pf_relay_fail('8C1D311E0B7', 'ceo@partner.example', 600, rfc3339=True) +
            pf_relay_fail('9D2E411E0C2', 'news@list.example', 640, pid=3106, cached=True,
                          rfc3339=True) +
            b'2026-11-28T04:11:40+00:00 mx1 postfix/submission/smtpd[2811]: 4F1A211E0A1: '
            b'client=mail.example.net[198.51.100.23], sasl_method=PLAIN, sasl_username=alice@example.com\n')
    append(log, data)
    d.wait_caught_up()

    acc = account_rows(d.db, 'server')
    eq(sorted(acc), [('mx1', b'alice@example.com')], 'account_totals server keys')
    a = acc[('mx1', b'alice@example.com')]
    got = {k: a[k] for k in ('failures', 'successes', 'affected', 'trouble', 'last_addr',
                             'last_reply', 'addresses')}
    got.update({k: to_epoch(a[k]) for k in ('first_failure', 'last_failure', 'last_success')})
    eq(got, {'failures': 3, 'successes': 1, 'affected': 0, 'trouble': 0,
             'first_failure': epoch(21), 'last_failure': epoch(62), 'last_success': epoch(700),
             'last_addr': '198.51.100.23', 'last_reply': '(reason unavailable)', 'addresses': 2},
       'account_totals row of alice@example.com')

    # The relay is the account of direction client.
    cl = account_rows(d.db, 'client')
    eq(sorted(cl), [('mx1', b'smtp.gmail.com')], 'account_totals client keys')
    c = cl[('mx1', b'smtp.gmail.com')]
    eq((c['failures'], c['affected'], to_epoch(c['last_failure'])), (1, 2, epoch(600)),
       'account_totals client row (failures, affected, last_failure)')

    ad = address_rows(d.db)
    got = {k[1]: (r['failures'], to_epoch(r['first_failure']), to_epoch(r['last_failure']),
                  r['last_account'], r['accounts']) for k, r in ad.items() if r['failures']}
    eq(got, {'203.0.113.5': (2, epoch(21), epoch(25), b'alice@example.com', 1),
             '198.51.100.23': (1, epoch(62), epoch(62), b'alice@example.com', 1),
             '192.0.2.77': (1, epoch(120), epoch(120), None, 0)},
       'address_totals (failures, first, last, last_account, accounts)')
    eq(sorted(k for k in ad if k[0] != 'mx1'), [], 'address_totals hosts other than mx1')

    rel = relay_rows(d.db)
    eq(sorted(rel), [('mx1', 'smtp.gmail.com')], 'relay_totals keys')
    r = rel[('mx1', 'smtp.gmail.com')]
    got = {k: r[k] for k in ('failures', 'affected', 'successes', 'trouble', 'last_addr',
                             'last_diagnosis')}
    got.update({k: to_epoch(r[k]) for k in ('first_failure', 'last_failure', 'last_success')})
    eq(got, {'failures': 1, 'affected': 2, 'successes': 0, 'trouble': 0,
             'last_addr': '142.250.102.108', 'last_diagnosis': 'gmail/535-5.7.8-bad-credentials',
             'first_failure': epoch(600), 'last_failure': epoch(600), 'last_success': None},
       'relay_totals row of smtp.gmail.com')
    if not (r['last_reply'] or '').startswith('535-5.7.8 Username and Password not accepted'):
        fail('relay_totals last_reply: %r' % r['last_reply'])
    if 'gsmtp' in r['last_reply'] or 'a1-20020a170906b00ab2f9fd1e3f1sm1234567ejb' in r['last_reply']:
        fail('relay_totals last_reply keeps the provider noise: %r' % r['last_reply'])
    eq(r['state'], 'failing', 'relay_totals state')

    cps = checkpoints(d.db)
    eq(sorted(cps), [log], 'checkpoint sources')
    cp = cps[log]
    st = os.stat(log)
    m64 = 0xffffffffffffffff
    eq((cp['dev'] & m64, cp['ino'] & m64, cp['offset'], cp['done']),
       (st.st_dev, st.st_ino, len(data), len(data)), 'checkpoint (dev, ino, offset, done)')
    d.wait_msg('STATUS')                # sent after the commit
    status = [v for k, v in d.msgs if k == 'STATUS']
    if 'lag' not in status[-1]:
        fail('no lag in the STATUS line: %r' % status)
    d.term()

    # A clean restart reads nothing again.
    before = (account_failures(d.db), address_failures(d.db), relay_counts(d.db))
    d.start()
    append(log, noise(2))
    d.wait_caught_up()
    eq((account_failures(d.db), address_failures(d.db), relay_counts(d.db)), before,
       'counts after a restart')
    d.term()


@test('basic')
def db_mode(w):
    """Started with umask 0, the daemon still creates its database and
    the -wal and -shm files without access for others or group write."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    old = os.umask(0)
    try:
        d.start()
    finally:
        os.umask(old)
    append(log, fails('alice@example.com', 1))
    d.wait_caught_up()
    for f in (d.db, d.db + '-wal', d.db + '-shm'):
        if os.path.exists(f) and os.stat(f).st_mode & 0o027:
            fail('%s: mode %o with umask 0' % (f, os.stat(f).st_mode & 0o777))
    if not os.path.exists(d.db + '-wal'):
        fail('no -wal file to check')
    d.term()


@test('basic')
def start_at_end(w):
    """start-at end (the default): lines already in a never-seen file are
    not counted, later ones are, and lines written while the daemon is
    down are counted at the next start (the file has a checkpoint)."""
    log = w.path('mail.log')
    append(log, fails('bob@example.com', 2) + noise(1))
    d = asan_daemon(w, [log], start_at=None)
    d.start()
    d.wait_caught_up()
    eq(account_failures(d.db), {}, 'accounts after start on a file with old lines')
    append(log, fails('bob@example.com', 1) + fails('carol@example.com', 1, '198.51.100.7'))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'bob@example.com': 1, b'carol@example.com': 1}, 'accounts')
    d.term()
    append(log, fails('dave@example.com', 1))
    d.start()
    d.wait_caught_up()
    eq(account_failures(d.db), {b'bob@example.com': 1, b'carol@example.com': 1,
                                b'dave@example.com': 1}, 'accounts after a restart')
    d.term()


@test('basic')
def check_config(w):
    """-n: a configuration with every directive is OK (exit 0, stdout
    "configuration OK"), does not create the database; each bad line is
    reported as CONF:LINE: with exit 1."""
    conf = w.path('good.conf')
    db = w.path('never.db')
    with open(conf, 'w') as f:
        f.write('# every directive\n'
                'log %s\nlog %s\ndatabase %s\nrules %s\ncontrol %s\n'
                'start-at beginning\nbatch-interval 250ms\nbatch-events 10000\n'
                'retention 90d\nbucket-width 1m\nbucket-retention 2d\nbucket-rollup 6h\n'
                'poll-interval 2s\n'
                'exim-syslog-duplication no\n\n   # indented comment\n' % (
                    w.path('a.log'), w.path('b.log'), db, RULES, w.path('control.sock')))
    for binary in (BIN, ASAN_BIN):
        rc, out, err = run_daemon([binary, '-n', '-f', conf])
        if rc != 0 or not out.startswith('configuration OK'):
            fail('%s -n on a good config: exit %d\nstdout: %s\nstderr: %s' % (binary, rc, out, err))
    if os.path.exists(db):
        fail('-n created the database %s' % db)
    bad = ['frobnicate yes', 'start-at middle', 'batch-interval 10x', 'batch-events many',
           'retention forever', 'bucket-width soon', 'bucket-rollup 10m', 'poll-interval -1s',
           'exim-syslog-duplication maybe', 'log', 'database']
    for b in bad:
        conf = w.path('bad.conf')
        with open(conf, 'w') as f:
            f.write('# line 1\ndatabase %s\n%s\nlog %s\n' % (db, b, w.path('a.log')))
        rc, out, err = run_daemon([BIN, '-n', '-f', conf, '--rules', RULES])
        if rc != 1 or '%s:3:' % conf not in err or 'configuration OK' in out:
            fail('-n with line 3 %r: exit %d, want 1 and "%s:3:" on stderr\nstdout: %s\nstderr: %s'
                 % (b, rc, conf, out, err))
    rc, out, err = run_daemon([BIN, '-n', '-f', w.path('missing.conf'), '--rules', RULES])
    if rc != 1 or 'missing.conf' not in err:
        fail('-n -f on a missing file: exit %d, stderr %r' % (rc, err))
    # The alert engine reads an account-window of minute buckets back at
    # start: bucket-rollup set shorter is refused; unset, it follows.
    for extra, want in (('account-window 3h\nbucket-rollup 2h\n', 1),
                        ('account-window 3h\n', 0)):
        conf = w.path('rollup.conf')
        with open(conf, 'w') as f:
            f.write('database %s\nlog %s\n%s' % (db, w.path('a.log'), extra))
        rc, out, err = run_daemon([BIN, '-n', '-f', conf, '--rules', RULES])
        said = 'bucket-rollup is shorter than account-window' in err
        if rc != want or said != (want == 1):
            fail('-n with %r: exit %d, want %d\nstderr: %s' % (extra, rc, want, err))


# ===========================================================================
# rotation
# ===========================================================================

@test('rotation')
def rename_create(w):
    """logrotate's rename + create: the old file, still written through
    syslog's open descriptor after the rename (even once the new empty
    file exists), is finished; the new one is read from its start;
    twice over; nothing counted twice."""
    log, side = w.path('mail.log'), w.path('side.log')
    touch(log)
    touch(side)
    d = asan_daemon(w, [log, side])
    d.start()
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    syslog = open(log, 'ab', buffering=0)            # syslog's descriptor
    os.rename(log, log + '.1')
    syslog.write(fails('alice@example.com', 1, sec=10))
    touch(log)                                       # create 0640 ...
    barrier(d, side)                                 # the daemon saw the new empty file
    syslog.write(fails('alice@example.com', 1, sec=20))   # ... syslog not yet told
    barrier(d, side)
    syslog.close()                                   # HUP: syslog reopens
    append(log, fails('bob@example.com', 2, '198.51.100.9'))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 4, b'bob@example.com': 2}, 'accounts')
    # Again, quickly, without awaiting anything in between.
    syslog = open(log, 'ab', buffering=0)
    os.rename(log + '.1', log + '.2')
    os.rename(log, log + '.1')
    syslog.write(fails('bob@example.com', 1, '198.51.100.9', sec=30))
    touch(log)
    syslog.close()
    append(log, fails('carol@example.com', 1, '198.51.100.10'))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 4, b'bob@example.com': 3,
                                b'carol@example.com': 1}, 'accounts after the second rotation')
    eq(address_failures(d.db), {'203.0.113.5': 4, '198.51.100.9': 3, '198.51.100.10': 1},
       'addresses')
    d.term()


@test('rotation')
def copytruncate(w):
    """copytruncate: caught up; then with lines the daemon had not read
    when the copy was made (it is stopped): they are found in the copy
    beside the log by its first bytes; then with the truncated log grown
    past the old offset before the daemon looks (the first bytes differ)."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    shutil.copyfile(log, log + '.1')
    os.truncate(log, 0)
    append(log, fails('bob@example.com', 1, '198.51.100.9'))
    d.wait_caught_up()
    want = {b'alice@example.com': 2, b'bob@example.com': 1}
    eq(account_failures(d.db), want, 'accounts after a copytruncate')

    d.stop()
    append(log, fails('alice@example.com', 1, sec=5))     # unread
    os.rename(log + '.1', log + '.2')
    shutil.copyfile(log, log + '.1')
    os.truncate(log, 0)
    append(log, fails('bob@example.com', 1, '198.51.100.9', sec=6))
    d.cont()
    d.wait_caught_up()
    want = {b'alice@example.com': 3, b'bob@example.com': 2}
    eq(account_failures(d.db), want, 'accounts after a copytruncate with unread lines')

    d.stop()
    append(log, fails('carol@example.com', 1, '198.51.100.10'))   # unread
    old = os.path.getsize(log)
    os.rename(log + '.2', log + '.3')
    os.rename(log + '.1', log + '.2')
    shutil.copyfile(log, log + '.1')
    os.truncate(log, 0)
    grown = fails('dave@example.com', 10, '198.51.100.11', sec=100)
    assert len(grown) > old
    append(log, grown)
    d.cont()
    d.wait_caught_up()
    want.update({b'carol@example.com': 1, b'dave@example.com': 10})
    eq(account_failures(d.db), want, 'accounts after a copytruncate whose log grew past the offset')
    d.term()


@test('rotation')
def copytruncate_backlog(w):
    """copytruncate while the daemon is reading a backlog (stopped in the
    middle of it), the log rewritten past the position read but short of
    its old size: the rest of the backlog comes from the copy, the new
    lines from the log's start, each once."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails('first@example.com', 1))
    d.wait_caught_up()
    old, want = bulk(60000, 1)
    want = merge(want, {b'first@example.com': 1})
    mark = len(d.msgs)
    append(log, old)
    d.wait_msg('STATUS', since=mark)          # it is reading the backlog
    d.stop()
    shutil.copyfile(log, log + '.1')
    os.truncate(log, 0)
    new, more = bulk(30000, 2, start_sec=5000)
    new = new.replace(b'sasl_username=user', b'sasl_username=new-')
    append(log, new)
    d.cont()
    d.wait_caught_up()
    want = merge(want, {k.replace(b'user', b'new-'): v for k, v in more.items()})
    eq(account_failures(d.db), want, 'accounts (user*: the backlog, new-*: after the truncation)')
    d.term()


@test('rotation')
def copytruncate_then_rename(w):
    """copytruncate, then lines, then rename + create, all before the
    daemon looks (it is stopped): the copy is found for the lines it had
    not read, the renamed file is read from its start, then the new one;
    with fewer new lines than the old offset, and with more."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    want = {}
    for rnd, grow in enumerate((2, 20)):
        append(log, fails('alice@example.com', 5, sec=rnd * 100))
        want = merge(want, {b'alice@example.com': 5})
        d.wait_caught_up()
        d.stop()
        for n in range(rnd * 2, 0, -1):
            os.rename('%s.%d' % (log, n), '%s.%d' % (log, n + 1))
        shutil.copyfile(log, log + '.1')          # copytruncate ...
        os.truncate(log, 0)
        append(log, fails('bob@example.com', grow, '198.51.100.9', sec=rnd * 100 + 10))
        os.rename(log + '.1', log + '.2')         # ... then rename + create
        os.rename(log, log + '.1')
        append(log, fails('carol@example.com', 1, '198.51.100.10', sec=rnd * 100 + 50))
        want = merge(want, {b'bob@example.com': grow, b'carol@example.com': 1})
        d.cont()
        d.wait_caught_up()
        eq(account_failures(d.db), want, 'accounts (round %d: %d new lines)' % (rnd, grow))
    d.term()


@test('rotation')
def delete_recreate(w):
    """The log is deleted and created anew: the new one is read from its
    start; lines written just before the delete, not yet read (the
    daemon is stopped), are read from the descriptor it holds."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails('alice@example.com', 1))
    d.wait_caught_up()
    os.unlink(log)
    append(log, fails('bob@example.com', 1, '198.51.100.9'))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 1, b'bob@example.com': 1}, 'accounts')
    d.stop()
    append(log, fails('carol@example.com', 1, '198.51.100.10'))
    os.unlink(log)
    append(log, fails('dave@example.com', 2, '198.51.100.11'))
    d.cont()
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 1, b'bob@example.com': 1,
                                b'carol@example.com': 1, b'dave@example.com': 2},
       'accounts after a delete of a file with unread lines')
    d.term()


@test('rotation')
def missing_log(w):
    """A log that does not exist at start (start-at end, the default):
    the daemon starts; the file, once created, is read from its start."""
    log = w.path('mail.log')
    d = asan_daemon(w, [log], start_at=None)
    d.start()
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2}, 'accounts')
    d.term()
    d.start()
    append(log, fails('alice@example.com', 1, sec=9))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 3}, 'accounts after a restart')
    d.term()


@test('rotation')
def missing_dir(w):
    """The log's directory, two levels of it, appears after the start."""
    top = w.path('var')
    log = os.path.join(top, 'log', 'mail', 'mail.log')
    d = asan_daemon(w, [log], start_at=None, extra_conf='poll-interval 100ms')
    d.start()
    os.makedirs(os.path.dirname(log))
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2}, 'accounts')
    # The directory goes away and comes back.
    shutil.rmtree(top)
    os.makedirs(os.path.dirname(log))
    append(log, fails('bob@example.com', 1, '198.51.100.9'))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2, b'bob@example.com': 1},
       'accounts after the directory was recreated')
    d.term()


@test('rotation')
def symlink(w):
    """The configured path is a symbolic link: its target is followed,
    through a rename rotation of the target behind the link and through
    the link being pointed at another file."""
    real = w.path('real')
    os.mkdir(real)
    cur = os.path.join(real, 'current')
    touch(cur)
    link = w.path('mail.log')
    os.symlink(cur, link)
    d = asan_daemon(w, [link])
    d.start()
    append(cur, fails('alice@example.com', 1))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 1}, 'accounts')
    os.rename(cur, cur + '.1')
    append(cur, fails('bob@example.com', 1, '198.51.100.9'))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 1, b'bob@example.com': 1},
       'accounts after the target was rotated')
    other = os.path.join(real, 'other')
    append(other, fails('carol@example.com', 1, '198.51.100.10'))
    os.symlink(other, link + '.new')
    os.rename(link + '.new', link)
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 1, b'bob@example.com': 1,
                                b'carol@example.com': 1}, 'accounts after the link moved')
    d.term()


@test('rotation')
def several_logs(w):
    """Three logs in two directories, interleaved, one rotated by rename,
    one by copytruncate: each counted exactly, one checkpoint each."""
    os.mkdir(w.path('a'))
    os.mkdir(w.path('b'))
    logs = [w.path('a', 'mail.log'), w.path('a', 'mail.err'), w.path('b', 'mail.log')]
    for p in logs:
        touch(p)
    d = asan_daemon(w, logs)
    d.start()
    users = [b'a1@example.com', b'a2@example.com', b'b1@example.com']
    want = {}
    for rnd in range(6):
        for i, p in enumerate(logs):
            n = 1 + (rnd + i) % 3
            append(p, fails(users[i], n, '198.51.100.%d' % (i + 1), sec=rnd * 10))
            want[users[i]] = want.get(users[i], 0) + n
        if rnd == 2:
            os.rename(logs[2], logs[2] + '.1')
            touch(logs[2])
        if rnd == 4:
            d.wait_caught_up()
            shutil.copyfile(logs[0], logs[0] + '.1')
            os.truncate(logs[0], 0)
    d.wait_caught_up()
    eq(account_failures(d.db), want, 'accounts')
    eq(sorted(checkpoints(d.db)), sorted(logs), 'checkpoint sources')
    d.term()


@test('rotation')
def partial_line(w):
    """A line without its newline is held: not counted (not even as a
    shorter account name) while the checkpoint stands before it, also
    across a kill -9; counted once its rest arrives."""
    log, side = w.path('mail.log'), w.path('side.log')
    touch(log)
    touch(side)
    d = asan_daemon(w, [log, side])
    d.start()
    first = fails('alice@example.com', 1)
    second = pf_fail('alice@example.com', '203.0.113.5', 1)
    cut = second.index(b'sasl_username=al') + len(b'sasl_username=al')
    append(log, first + second[:cut])
    d.wait_offset(log, len(first))
    eq(account_failures(d.db), {b'alice@example.com': 1}, 'accounts with half a line')
    d.kill9()
    d.start()
    barrier(d, side)                    # the daemon has read the log again
    d.wait_offset(log, len(first))
    eq(account_failures(d.db), {b'alice@example.com': 1}, 'accounts after restart, half a line')
    append(log, second[cut:])
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2}, 'accounts once the line is whole')
    d.term()


@test('rotation')
def hostile(w):
    """A 200 KB line (also arriving in two pieces), NUL bytes inside
    lines, an account of invalid UTF-8: the daemon lives on, the account
    row has the exact bytes, the counts equal smtpwatchctl scan's on the
    same file, and later lines count."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    big = b'Nov 28 04:00:01 mx1 postfix/cleanup[9]: 1A2B3C: warning: header Subject: ' + \
        b'A' * 200000 + b'\n'
    bigfail = pf_fail('long@example.com', '203.0.113.90', 2, reason='x' * 200000)
    data = (big + bigfail +
            pf_fail(b'\xff\xfeadmin@example.com', '203.0.113.91', 3) +
            pf_fail('nul\x00inside@example.com', '203.0.113.92', 4) +
            b'Nov 28 04:00:05 mx1 postfix/smtpd[9]: conn\x00ect from unknown[192.0.2.1]\n' +
            pf_fail('m\udcfcller@example.de', '203.0.113.93', 6))
    append(log, data)
    d.wait_caught_up()
    # The long line again, in two pieces with a commit in between.
    line = fails('carol@example.com', 1, '198.51.100.8')
    append(log, line + big[:100000])
    d.wait_offset(log, os.path.getsize(log) - 100000)
    append(log, big[100000:])
    append(log, fails('after@example.com', 2, '198.51.100.50', sec=7))
    d.wait_caught_up()

    acc = account_failures(d.db)
    for k in (b'\xff\xfeadmin@example.com', b'm\xfcller@example.de', b'after@example.com',
              b'carol@example.com'):
        if acc.get(k) != (2 if k == b'after@example.com' else 1):
            fail('account %r: %r failures; all accounts: %r' % (k, acc.get(k), acc))
    rows = account_rows(d.db)
    if not isinstance(rows[('mx1', b'\xff\xfeadmin@example.com')]['account'], bytes):
        fail('the account column is not a BLOB')
    # The same file through smtpwatchctl scan: same counts.
    want_acc, want_ip = {}, {}
    for e in ctl_events(log):
        if e['kind'] == 'failure' and e['direction'] == 'server':
            ip = canon_ip(e['addr'])
            want_ip[ip] = want_ip.get(ip, 0) + 1
            if e['account_hex'] is not None:
                a = bytes.fromhex(e['account_hex'])
                want_acc[a] = want_acc.get(a, 0) + 1
    eq(acc, want_acc, 'accounts (daemon vs smtpwatchctl scan)')
    eq(address_failures(d.db), want_ip, 'addresses (daemon vs smtpwatchctl scan)')
    d.term()


# ===========================================================================
# repeat: rsyslog's "message repeated N times: [ ...]" (issue 18, finding 5)
# ===========================================================================

def repeated(line, n, sec=None):
    """rsyslog's line for n more copies of line (a syslog line with its
    newline): its envelope (with the stamp of sec when given), then
    'message repeated N times: [ MSG]', MSG with rsyslog's blank."""
    head, msg = line.rstrip(b'\n').split(b']: ', 1)
    if sec is not None:
        head = stamp(sec).encode() + head[15:]
    return b'%s]: message repeated %d times: [ %s]\n' % (head, n, msg)


EXIM_FAIL = (b'Nov 28 04:38:33 mx1 exim[31005]: 2026-11-28 04:38:33 plain_server '
             b'authenticator failed for (client11.example) [127.0.3.11]: 535 Incorrect '
             b'authentication data (set_id=dave@exim.lab.example)\n')


@test('repeat')
def repeated_lines(w):
    """A failure, then rsyslog's "message repeated 40 times" of it: 41
    failures of the account and of the address, an incident of 41.
    Exim's mainlog and rejectlog copies of 3 failures in one second, as
    rsyslog writes them (the line, then "message repeated 5 times"): 3.
    Two lines with N above 1000: 1000 each, one warning.  scan of the
    same log: the same totals, and the repeats in its coverage."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log], extra_conf='account-threshold 20\naccount-window 1h\n')
    d.start()
    first = pf_fail('admin', '192.0.2.1', 0, pid=29503)
    append(log, first + repeated(first, 40, sec=40) + noise(1, 41))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'admin': 41}, 'accounts after 1 + 40')
    eq(address_failures(d.db), {'192.0.2.1': 41}, 'addresses after 1 + 40')
    rows = query(d.db, "SELECT kind, failures FROM incident_list WHERE subject = ?",
                 (b'admin',))
    eq([(r['kind'], r['failures']) for r in rows], [('account', 41)],
       'the incident of admin (threshold 20)')
    append(log, EXIM_FAIL + repeated(EXIM_FAIL, 5))
    d.wait_caught_up()
    eq(account_failures(d.db).get(b'dave@exim.lab.example'), 3,
       'Exim: 3 failures written twice each, as 1 line + 5 repeats')
    mark = d.err_mark()
    big = repeated(pf_fail('bob', '192.0.2.2', 60), 2147483647)
    append(log, big + big)
    d.wait_caught_up()
    eq(account_failures(d.db).get(b'bob'), 2000, 'two lines of 2147483647 repeats')
    warned = re.findall(r'with N above 1000: counted 1000 times', d.err_text(mark))
    eq(len(warned), 1, 'warnings of a repeat count above 1000')
    d.term()
    r = subprocess.run([CTL, '-f', '/dev/null', '--rules', RULES, 'scan', '--json',
                        '--no-progress', log], capture_output=True)
    eq(r.returncode, 0, 'exit status of scan')
    got = json.loads(r.stdout)
    eq((got['events']['failure'], got['coverage']['repeats'],
        got['coverage']['repeated'], got['coverage']['exim_copies']),
       (41 + 3 + 2000, 4, 40 + 5 + 2 * 1000, 3),
       'scan: failures, repeat lines, the records they stand for, Exim copies')


# ===========================================================================
# aliases: one file under several paths (issue 18, finding 7)
# ===========================================================================

@test('aliases')
def one_file_four_paths(w):
    """One log configured as itself, a symbolic link to it, a path
    through a linked directory and a "../" path: each failure counted
    once (not 4 times), one warning naming the three other paths, a
    checkpoint for each path at the end of the file.  A rename rotation:
    once.  kill -9 and a restart: nothing counted again, new lines once.
    The link pointed at another log: that log counted, once.  The log's
    own path dropped from the configuration: the linked-directory path
    resumes where it stood, nothing counted again."""
    logs = w.path('logs')
    os.makedirs(os.path.join(logs, 'sub'))
    real = os.path.join(logs, 'mail.log')
    touch(real)
    link, ldir = w.path('link.log'), w.path('dir')
    os.symlink(real, link)
    os.symlink(logs, ldir)
    paths = [real, link, os.path.join(ldir, 'mail.log'),
             os.path.join(logs, 'sub', '..', 'mail.log')]
    d = asan_daemon(w, paths)
    d.start()
    append(real, fails('alice@example.com', 5))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 5}, 'accounts: 5 failures, 4 paths')
    # The warning is said at start; stderr is read by a thread of the
    # harness, which may not have it yet.
    d.wait_stderr(r'is also configured as')
    warned = re.findall(r'.*is also configured as.*', d.err_text())
    eq(len(warned), 1, 'warnings of the other paths')
    for p in paths[1:]:
        if p not in warned[0]:
            fail('the warning does not name %s: %s' % (p, warned[0]))
    eq(sorted(checkpoints(d.db)), sorted(paths), 'checkpoint sources')

    w1 = open(real, 'ab')
    os.rename(real, real + '.1')
    w1.write(fails('alice@example.com', 1, sec=10))
    w1.close()
    append(real, fails('bob@example.com', 2, '198.51.100.9', sec=20))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 6, b'bob@example.com': 2},
       'accounts after a rename rotation')

    d.kill9()
    append(real, fails('bob@example.com', 1, '198.51.100.9', sec=30))
    d.start()
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 6, b'bob@example.com': 3},
       'accounts after kill -9 and a restart')

    other = os.path.join(logs, 'other.log')
    append(other, fails('carol@example.com', 2, '198.51.100.10', sec=40))
    os.symlink(other, link + '.new')
    os.rename(link + '.new', link)
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 6, b'bob@example.com': 3,
                                b'carol@example.com': 2}, 'accounts after the link moved')
    d.term()

    d.logs = paths[2:]
    d.write_conf()
    append(real, fails('dave@example.com', 1, '198.51.100.11', sec=50))
    d.start()
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 6, b'bob@example.com': 3,
                                b'carol@example.com': 2, b'dave@example.com': 1},
       'accounts with the log\'s own path no longer configured')
    d.term()


# ===========================================================================
# resume after kill -9
# ===========================================================================

def bulk(n, seed, accounts=50, start_sec=0):
    """n lines, about one in five a failure; returns (bytes, {account:
    failures})."""
    r = random.Random(seed)
    out, want = [], {}
    for i in range(n):
        if r.random() < 0.2:
            u = b'user%d@example.com' % r.randrange(accounts)
            out.append(pf_fail(u, '203.0.113.%d' % r.randrange(1, 250), start_sec + i % 3000,
                               pid=1000 + i % 50))
            want[u] = want.get(u, 0) + 1
        else:
            out.append(noise(i, start_sec + i % 3000))
    return b''.join(out), want


def merge(a, b):
    c = dict(a)
    for k, v in b.items():
        c[k] = c.get(k, 0) + v
    return c


@test('resume')
def resume_same_file(w):
    """kill -9, lines appended while down, restart: counted once; kill -9
    right after a large append (the batch not committed) and while
    catching up (after its first STATUS): still exact."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    d.kill9()
    append(log, fails('alice@example.com', 1, sec=3) + fails('bob@example.com', 1, '198.51.100.9'))
    d.start()
    d.wait_caught_up()
    want = {b'alice@example.com': 3, b'bob@example.com': 1}
    eq(account_failures(d.db), want, 'accounts after kill -9')
    for seed in range(3):
        data, got = bulk(30000, seed)
        want = merge(want, got)
        mark = len(d.msgs)
        append(log, data)
        if seed == 1:
            d.wait_msg('STATUS', since=mark)      # killed while catching up
        d.kill9()
        d.start()
        d.wait_caught_up()
        eq(account_failures(d.db), want, 'accounts after kill -9 in a backlog (round %d)' % seed)
    d.term()


@test('resume')
def resume_renamed(w):
    """kill -9; the log gets more lines, is renamed and a new one created
    while the daemon is down: the old file is finished (found beside the
    log by its inode), the new one read from its start."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    d.kill9()
    append(log, fails('alice@example.com', 1, sec=5))
    os.rename(log, log + '.1')
    append(log, fails('bob@example.com', 2, '198.51.100.9'))
    d.start()
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 3, b'bob@example.com': 2},
       'accounts after a rename while down')
    d.term()


@test('resume')
def resume_copytruncated(w):
    """kill -9; the log gets more lines, is copied beside itself and
    truncated, then written again while the daemon is down, past the
    checkpoint's offset (the log was empty when the daemon opened it:
    its first bytes came later), then less than the offset, then past
    it again: the unread lines are found in the copy, the new ones read
    from the start."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    want = {}
    for rnd, (user, n) in enumerate(((b'carol@example.com', 40), (b'bob@example.com', 1),
                                     (b'dave@example.com', 40))):
        append(log, fails('alice@example.com', 2, sec=rnd * 10))
        want = merge(want, {b'alice@example.com': 2})
        d.wait_caught_up()
        d.kill9()
        append(log, fails('alice@example.com', 1, sec=rnd * 10 + 5))
        want = merge(want, {b'alice@example.com': 1})
        if os.path.exists(log + '.1'):
            os.rename(log + '.1', log + '.2')
        shutil.copyfile(log, log + '.1')
        old = os.path.getsize(log)
        os.truncate(log, 0)
        data = fails(user, n, '198.51.100.9', sec=100)
        if n > 1 and len(data) <= old:
            fail('test bug: the new content must outgrow the old offset')
        append(log, data)
        want = merge(want, {user: n})
        d.start()
        d.wait_caught_up()
        eq(account_failures(d.db), want, 'accounts after copytruncate while down (round %d)' % rnd)
    d.term()


@test('resume')
def resume_deleted(w):
    """kill -9; the log is deleted and created anew while down; then
    deleted and not recreated: the daemon starts, and counts the file
    once it comes back."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    d.kill9()
    os.unlink(log)
    append(log, fails('bob@example.com', 1, '198.51.100.9'))
    d.start()
    d.wait_caught_up()
    want = {b'alice@example.com': 2, b'bob@example.com': 1}
    eq(account_failures(d.db), want, 'accounts after delete + create while down')
    d.kill9()
    os.unlink(log)
    d.start()
    append(log, fails('carol@example.com', 1, '198.51.100.10'))
    d.wait_caught_up()
    eq(account_failures(d.db), merge(want, {b'carol@example.com': 1}),
       'accounts after a delete while down and a create after the start')
    d.term()


# ===========================================================================
# inotify: overflow and the watch limit
# ===========================================================================

@test('inotify')
def inotify_overflow(w):
    """The daemon is stopped while more files than the inotify queue holds
    are created beside the log, the log is appended to and rotated: it
    says so on stderr and the counts are exact."""
    try:
        with open('/proc/sys/fs/inotify/max_queued_events') as f:
            limit = int(f.read())
    except (OSError, ValueError):
        limit = 16384
    logdir = w.path('logs')
    os.mkdir(logdir)
    log = os.path.join(logdir, 'mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails('alice@example.com', 1))
    d.wait_caught_up()
    mark = d.err_mark()
    d.stop()
    for i in range(limit + 4000):
        os.close(os.open(os.path.join(logdir, 'junk.%06d' % i), os.O_CREAT | os.O_WRONLY, 0o644))
    append(log, fails('alice@example.com', 1, sec=5))
    os.rename(log, log + '.1')
    append(log, fails('bob@example.com', 1, '198.51.100.9'))
    d.cont()
    d.wait_stderr('inotify queue overflowed', since=mark)
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2, b'bob@example.com': 1},
       'accounts after the overflow')
    append(log, fails('bob@example.com', 1, '198.51.100.9', sec=9))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2, b'bob@example.com': 2},
       'accounts after the overflow, later lines')
    d.term()


WATCH_LIMIT_WRAP = ['unshare', '-U', '-r', 'sh', '-c',
                    'echo 1 > /proc/sys/user/max_inotify_watches && exec "$@"', 'sh']


@test('inotify')
def watch_limit(w):
    """One inotify watch allowed (a user namespace's limit): the daemon
    says "inotify watch limit reached", polls, and counts two logs in two
    directories exactly, through a rotation."""
    r = subprocess.run(WATCH_LIMIT_WRAP + ['true'], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if r.returncode != 0:
        print('SKIP watch-limit: unshare -U -r cannot set the limit here: %s' %
              r.stdout.decode('utf-8', 'replace').strip())
        return
    os.mkdir(w.path('a'))
    os.mkdir(w.path('b'))
    la, lb = w.path('a', 'mail.log'), w.path('b', 'mail.log')
    touch(la)
    touch(lb)
    d = asan_daemon(w, [la, lb], wrap=WATCH_LIMIT_WRAP, extra_conf='poll-interval 100ms')
    d.start()
    d.wait_stderr('inotify watch limit reached')
    append(la, fails('a1@example.com', 2))
    append(lb, fails('b1@example.com', 1, '198.51.100.9'))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'a1@example.com': 2, b'b1@example.com': 1}, 'accounts')
    os.rename(lb, lb + '.1')
    append(lb, fails('b1@example.com', 2, '198.51.100.9', sec=5))
    append(la, fails('a1@example.com', 1, sec=5))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'a1@example.com': 3, b'b1@example.com': 3},
       'accounts after a rotation, polled')
    d.term()


# ===========================================================================
# faults
# ===========================================================================

def failure_lines_before(data, offset):
    """How many failure lines of data end at or before offset."""
    n, pos = 0, 0
    for line in data.splitlines(keepends=True):
        pos += len(line)
        if pos > offset:
            break
        if b'authentication failed' in line:
            n += 1
    return n


@test('faults')
def db_locked(w):
    """Another writer holds BEGIN IMMEDIATE: the daemon says so, counts and
    checkpoint stay; once released, everything is counted once.  Then the
    same with a kill -9 while it is locked."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails('alice@example.com', 1))
    d.wait_caught_up()
    want = {b'alice@example.com': 1}
    for rnd in range(2):
        cp0 = d.checkpoint(log)
        acc0 = account_failures(d.db)
        con = sqlite3.connect(d.db, timeout=0, isolation_level=None)
        con.execute('BEGIN IMMEDIATE')
        mark = d.err_mark()
        append(log, fails('alice@example.com', 2, sec=10) + fails('bob@example.com', 1, '198.51.100.9'))
        want = merge(want, {b'alice@example.com': 2, b'bob@example.com': 1})
        d.wait_stderr(r'(?i)locked|busy', since=mark)
        eq(account_failures(d.db), acc0, 'accounts while the database is locked')
        cp = d.checkpoint(log)
        eq((cp['ino'], cp['offset']), (cp0['ino'], cp0['offset']),
           'checkpoint (ino, offset) while the database is locked')
        if rnd == 1:
            d.kill9()
        con.execute('ROLLBACK')
        con.close()
        if rnd == 1:
            d.start()
        d.wait_caught_up()
        eq(account_failures(d.db), want, 'accounts once the lock is released (round %d)' % rnd)
    d.term()


@test('faults')
def disk_full(w):
    """A file size limit (prlimit --fsize) makes every database write fail
    like a full disk: the daemon says "cannot write", keeps its batch,
    its checkpoint never passes what is committed; without the limit it
    counts everything once.  SIGXFSZ does not kill it."""
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    head = fails('alice@example.com', 1)
    append(log, head)
    d.wait_caught_up()
    size = sum(os.path.getsize(d.db + s) for s in ('', '-wal') if os.path.exists(d.db + s))
    # The soft limit only: raising a hard limit again needs CAP_SYS_RESOURCE.
    subprocess.run(['prlimit', '--pid', str(d.pid), '--fsize=%d:' % size], check=True)
    mark = d.err_mark()
    lines = [pf_fail(b'u%05d@example.com' % i, '10.%d.%d.%d' % (i >> 16, (i >> 8) & 255, i & 255),
                     i % 3000) for i in range(12000)]
    data = b''.join(lines)
    append(log, data)
    d.wait_stderr('cannot write', since=mark)
    # What is committed is exactly what lies before the checkpoint.
    cp = d.checkpoint(log)
    acc = account_failures(d.db)
    n = sum(acc.values())
    want = 1 + failure_lines_before(data, cp['offset'] - len(head))
    if n != want:
        fail('while writes fail: %d failures committed, but %d lines before the '
             'checkpoint offset %d' % (n, want, cp['offset']))
    if cp['offset'] >= len(head) + len(data):
        fail('the checkpoint reached the end while writes fail')
    subprocess.run(['prlimit', '--pid', str(d.pid), '--fsize=unlimited:'], check=True)
    d.wait_caught_up(timeout=90)
    acc = account_failures(d.db)
    want = {b"u%05d@example.com" % i: 1 for i in range(12000)}
    want[b'alice@example.com'] = 1
    eq(acc, want, 'accounts once writes succeed')
    d.term()


def valid_db(w, name):
    """A database the daemon wrote and closed cleanly."""
    log = w.path('%s.log' % name)
    touch(log)
    d = asan_daemon(w, [log], name=name)
    d.start()
    append(log, fails('alice@example.com', 1))
    d.wait_caught_up()
    d.term()
    return d


def refuses(d, what, regexes):
    """Starts d on a database it must refuse: exit 1 before READY=1, the
    path and each regex on stderr, the file unchanged."""
    with open(d.db, 'rb') as f:
        before = f.read()
    mark = d.err_mark()
    d.start(wait=False)
    rc = d.wait_exit()
    err = d.err_text(mark)
    if rc != 1:
        fail('%s: exit status %s, want 1\n%s' % (what, rc, d.tail()))
    if ('READY', '1') in d.msgs[d.mark:]:
        fail('%s: READY=1 was sent' % what)
    if d.db not in err:
        fail('%s: stderr does not name %s:\n%s' % (what, d.db, err))
    for rx in regexes:
        if not re.search(rx, err):
            fail('%s: stderr does not match %r:\n%s' % (what, rx, err))
    with open(d.db, 'rb') as f:
        if f.read() != before:
            fail('%s: the database file was changed' % what)


@test('faults')
def corrupt_db(w):
    """A database whose pages after the first are garbage, and a file of
    random bytes: the daemon refuses to start (exit 1), names the path
    and says how to recover, and leaves the file as it was."""
    d = valid_db(w, 'pages')
    con = sqlite3.connect(d.db, isolation_level=None)     # everything in the main file
    con.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    con.close()
    with open(d.db, 'r+b') as f:
        head = f.read(100)
        pagesize = int.from_bytes(head[16:18], 'big')
        pagesize = 65536 if pagesize == 1 else pagesize
        f.seek(0, 2)
        size = f.tell()
        if size <= pagesize:
            fail('test bug: the database has a single page')
        f.seek(pagesize)
        f.write(random.Random(1).randbytes(size - pagesize))
    refuses(d, 'garbage pages', [r'(?i)recover'])
    d = valid_db(w, 'random')
    with open(d.db, 'wb') as f:
        f.write(random.Random(2).randbytes(65536))
    refuses(d, 'random bytes', [r'(?i)recover'])


@test('faults')
def newer_schema(w):
    """PRAGMA user_version above what the binary knows: refused, "newer"."""
    d = valid_db(w, 'newer')
    con = sqlite3.connect(d.db, isolation_level=None)
    con.execute('PRAGMA user_version = 999')
    con.close()
    refuses(d, 'user_version 999', [r'newer'])


@test('faults')
def dev_schema(w):
    """A database of a development build before 0.1 (no application id,
    user_version 2 or 3, as its migrations left it): refused, saying
    what it is and to move it away; started once moved, on a new file."""
    for v in (2, 3):
        d = valid_db(w, 'dev%d' % v)
        con = sqlite3.connect(d.db, isolation_level=None)
        con.execute('PRAGMA application_id = 0')
        con.execute('PRAGMA user_version = %d' % v)
        con.close()
        refuses(d, 'user_version %d without application_id' % v,
                [r'development build of smtpwatch before 0\.1 \(schema version %d\)' % v,
                 r'move the file away'])
    os.rename(d.db, d.db + '.old')
    d.start()
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 1}, 'accounts in the new file')
    d.term()


# ===========================================================================
# reload
# ===========================================================================

CUSTOM_RULE = b'''# 65-custom.rules -- written by tests/daemon/test_daemon.py
[extract custom-app-auth-failed]
program   = customapp
direction = server
event     = failure
literal   = login failed
pattern   = ^login failed for (?<account>\\S{1,100}+) from (?<addr>[0-9A-Fa-f:.]{2,45}+)$
'''
BROKEN_TAIL = b'''
[extract broken]
program   = postfix*/smtpd
direction = sideways
'''


def custom(user, ip, sec=0):
    return b'%s mx1 customapp[77]: login failed for %s from %s\n' % (
        stamp(sec).encode(), user, ip.encode())


@test('reload')
def reload_rules(w):
    """SIGHUP with a broken rules file: file:line on stderr, "keeping the
    running configuration", counting goes on with the old rules; fixed,
    SIGHUP again: READY=1 and the new rule counts; nothing twice."""
    rules = w.path('rules')
    os.mkdir(rules)
    for f in sorted(os.listdir(RULES)):
        if f.endswith('.rules'):
            shutil.copy(os.path.join(RULES, f), rules)
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log], rules=None, extra_conf='rules %s' % rules)
    d.start()
    append(log, fails('alice@example.com', 1) + custom(b'zed@example.com', '192.0.2.99'))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 1}, 'accounts before the reload')

    path = os.path.join(rules, '65-custom.rules')
    with open(path, 'wb') as f:
        f.write(CUSTOM_RULE + BROKEN_TAIL)
    broken_line = (CUSTOM_RULE + BROKEN_TAIL).count(b'\n')      # direction = sideways
    mark = d.hup()
    d.wait_stderr(r'65-custom\.rules:%d:' % broken_line, since=mark)
    d.wait_stderr('keeping the running configuration', since=mark)
    append(log, fails('alice@example.com', 1, sec=5) + custom(b'zed@example.com', '192.0.2.99', 5))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2}, 'accounts after the failed reload')

    with open(path, 'wb') as f:
        f.write(CUSTOM_RULE)
    mark = d.hup()
    append(log, fails('alice@example.com', 1, sec=9) + custom(b'zed@example.com', '192.0.2.99', 9))
    d.wait_caught_up()
    err = d.err_text(mark)
    if 'keeping' in err or '65-custom.rules:' in err:
        fail('reload with good rules complained:\n%s' % err)
    eq(account_failures(d.db), {b'alice@example.com': 3, b'zed@example.com': 1},
       'accounts after the good reload')
    d.term()


@test('reload')
def reload_config(w):
    """SIGHUP with a bad directive: CONF:LINE:, the old configuration runs
    on; with a second log added: the new log is followed, the first one
    resumes from its checkpoint."""
    l1, l2 = w.path('one.log'), w.path('two.log')
    touch(l1)
    d = asan_daemon(w, [l1])
    d.start()
    append(l1, fails('alice@example.com', 1))
    d.wait_caught_up()
    good = d.conf_text()
    d.write_conf(good + 'frobnicate yes\n')
    bad_line = good.count('\n') + 1
    mark = d.hup()
    d.wait_stderr(re.escape('%s:%d:' % (d.conf, bad_line)), since=mark)
    d.wait_stderr('keeping the running configuration', since=mark)
    append(l1, fails('alice@example.com', 1, sec=3))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2}, 'accounts after the failed reload')
    d.logs.append(l2)
    d.write_conf()
    d.hup()
    append(l2, fails('bob@example.com', 1, '198.51.100.9'))
    append(l1, fails('alice@example.com', 1, sec=6))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 3, b'bob@example.com': 1},
       'accounts after adding a log')
    eq(sorted(checkpoints(d.db)), sorted([l1, l2]), 'checkpoint sources')
    d.term()


def db_fds(d, db):
    """How many descriptors of the daemon are open on the file db."""
    fds = '/proc/%d/fd' % d.pid
    n = 0
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) == db:
                n += 1
        except FileNotFoundError:
            pass                # closed while listed
    return n


def reloaded(d, mark, what):
    """Waits for the outcome of the reload begun at stderr offset mark;
    fails unless it is success."""
    d.wait_stderr(r'reloaded: |reload failed', since=mark)
    if 'reload failed' in d.err_text(mark):
        fail('%s: the reload failed:\n%s' % (what, d.err_text(mark)))


@test('reload')
def reload_database(w):
    """SIGHUP with a database in a directory that does not exist: the
    reason and "keeping the running configuration, rules and database"
    on stderr, READY=1 again, and the lines after it counted in the old
    database.  The same path while another connection holds the write
    lock: the reload succeeds, for the open database is kept (a second
    open would wait for the lock and fail), on its two descriptors (the
    store's connection and its checkpointer's, daemon/ckpt.c).  A new
    path that works: the daemon switches to it, reads the log from its
    start there (no checkpoint yet, start-at beginning) and lets the old
    file go."""
    alice, bob = b'alice@example.com', b'bob@example.com'
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    old = d.db
    d.start()
    append(log, fails(alice, 1))
    d.wait_caught_up()
    good = d.conf_text()

    missing = w.path('no-such-dir', 'new.db')
    d.write_conf(good.replace('database %s\n' % old, 'database %s\n' % missing))
    mark = d.hup()
    d.wait_stderr(re.escape(missing) + r': cannot create the database: its directory does '
                  r'not exist', since=mark)
    d.wait_stderr('reload failed: keeping the running configuration, rules and database %s'
                  % re.escape(old), since=mark)
    append(log, fails(alice, 2, sec=5))
    d.wait_caught_up()
    eq(account_failures(old), {alice: 3}, 'accounts in the old database after the failed reload')
    if os.path.exists(os.path.dirname(missing)):
        fail('the failed reload made %s' % os.path.dirname(missing))
    eq(db_fds(d, old), 2, 'descriptors on the old database')

    d.write_conf(good)
    lock = sqlite3.connect(old, isolation_level=None)
    try:
        lock.execute('BEGIN IMMEDIATE')
        reloaded(d, d.hup(), 'the same database, locked by another connection')
        eq(db_fds(d, old), 2, 'descriptors on the database after a reload that kept it')
        lock.execute('COMMIT')
    finally:
        lock.close()
    append(log, fails(alice, 1, sec=8))
    d.wait_caught_up()
    eq(account_failures(old), {alice: 4}, 'accounts after the reload that kept the database')

    new = w.path('second.db')
    d.write_conf(good.replace('database %s\n' % old, 'database %s\n' % new))
    reloaded(d, d.hup(), 'a new database')
    d.db = new
    append(log, fails(bob, 1, '198.51.100.9', sec=9))
    d.wait_caught_up()
    eq(account_failures(new), {alice: 4, bob: 1}, 'accounts in the new database')
    eq(account_failures(old), {alice: 4}, 'accounts in the old database after the switch')
    eq(db_fds(d, old), 0, 'descriptors on the old database after the switch')
    d.term()


@test('reload')
def reload_rollback(w):
    """A new database that opens but whose checkpoint of the log is
    damaged: the sources cannot start on it, so the daemon goes back to
    the running configuration, rules and database (the sources reopened
    from their checkpoints there), says so and counts on, nothing twice;
    the new file is let go."""
    alice = b'alice@example.com'
    log = w.path('mail.log')
    touch(log)
    d = asan_daemon(w, [log])
    d.start()
    append(log, fails(alice, 2))
    d.wait_caught_up()
    bad = w.path('bad.db')
    src = sqlite3.connect(d.db)
    dst = sqlite3.connect(bad)
    src.backup(dst)
    src.close()
    dst.execute("UPDATE checkpoints SET held = 'not offsets'")
    dst.commit()
    dst.close()
    good = d.conf_text()
    d.write_conf(good.replace('database %s\n' % d.db, 'database %s\n' % bad))
    mark = d.hup()
    d.wait_stderr(r'%s: the checkpoint of %s is damaged' % (re.escape(bad), re.escape(log)),
                  since=mark)
    d.wait_stderr('reload failed: keeping the running configuration, rules and database %s'
                  % re.escape(d.db), since=mark)
    append(log, fails(alice, 1, sec=5))
    d.wait_caught_up()
    eq(account_failures(d.db), {alice: 3}, 'accounts after the reload went back')
    eq(account_failures(bad), {alice: 2}, 'accounts in the damaged copy')
    eq(db_fds(d, bad), 0, 'descriptors on the damaged copy')
    d.term()


# ===========================================================================
# valgrind
# ===========================================================================

VALGRIND = ['valgrind', '-q', '--error-exitcode=9', '--leak-check=full',
            '--errors-for-leak-kinds=definite,indirect',
            '--show-leak-kinds=definite,indirect']


@test('valgrind')
def valgrind_run(w):
    """The plain build under valgrind: memcheck errors or a definite or
    indirect leak make it exit 9.  One run through the sample log (every
    alert kind, incidents opened and closed, each running alert-exec),
    a rotation, a reload, and the stop."""
    log = w.path('mail.log')
    with open(os.path.join(ROOT, 'tests', 'demo.log'), 'rb') as f:
        sample = f.read().splitlines(keepends=True)
    half = len(sample) // 2
    append(log, b''.join(sample[:half]))
    # valgrind cannot follow code PCRE2's JIT writes: the interpreter
    d = Daemon(w, [log], wrap=VALGRIND, extra_conf='pcre-jit no\nalert-exec /bin/true')
    d.start()
    d.wait_caught_up(timeout=120)
    os.rename(log, log + '.1')
    append(log, b''.join(sample[half:]))
    d.wait_caught_up(timeout=120)
    d.hup()
    append(log, fails('alice@example.com', 6, ip='203.0.113.200', sec=7200))
    d.wait_caught_up(timeout=120)
    d.wait_stderr(r'alert-exec: /bin/true \(\S+ alert\): done', timeout=120)
    rows = query(d.db, "SELECT DISTINCT kind FROM incidents")
    eq(sorted(r['kind'] for r in rows), ['account', 'address', 'backend', 'relay'],
       'incident kinds')
    d.term()


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
