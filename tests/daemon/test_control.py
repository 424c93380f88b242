#!/usr/bin/env python3
"""test_control.py -- the daemon's side of the control socket: the
status payload, reset, reload, permissions from the peer's credentials,
bad requests, the bounds on clients, the stale socket and a second
daemon.  The requests are written by hand here, byte for byte, so these
tests do not depend on smtpwatchctl.

Usage: python3 tests/daemon/test_control.py [TEST|GROUP ...]
Groups: status, reset, reload, perms, requests, bounds, socket (default:
all).  Every test runs build/asan/smtpwatchd, so a leak makes its exit
status after SIGTERM non-zero and fails the test.  The permission test
needs root (it connects as uid 65534).
"""

import glob
import os
import re
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (RULES, TIMEOUT, Daemon, account_failures, address_failures,  # noqa: E402
                     append, eq, fail, noise, pf_fail, pf_relay_fail, pf_relay_sent,
                     query, run_tests, vis)

TESTS = {}
GROUPS = {}

ALERTS = 'account-threshold 3\naccount-window 15m\nquiet 1h'


def test(group):
    def reg(fn):
        name = group + '-' + fn.__name__.replace('_', '-')
        TESTS[name] = fn
        GROUPS.setdefault(group, []).append(name)
        return fn
    return reg


def daemon(w, extra='', log=None, **kw):
    """An ASan daemon on w/mail.log with its control socket in w."""
    log = log or w.path('mail.log')
    open(log, 'ab').close()
    sock = w.path('control.sock')
    d = Daemon(w, [log], extra_conf=('control %s\n' % sock) + extra, asan=True, **kw)
    d.control = sock
    return d


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    return s


def read_all(s):
    """Everything up to the daemon's close."""
    data = b''
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break               # after the reply: our unread bytes
        if not b:
            break
        data += b
    return data


def request(path, req):
    """Sends req (bytes, sent as is), returns (payload lines, last line)."""
    s = connect(path)
    try:
        s.sendall(req)
        data = read_all(s)
    finally:
        s.close()
    return split(data, req)


def split(data, req=b''):
    if not data.endswith(b'\n'):
        fail('reply to %r does not end with a newline: %r' % (req[:60], data[-200:]))
    lines = data.decode('utf-8').split('\n')[:-1]
    last = lines.pop()
    if last != 'ok' and not last.startswith('error: '):
        fail('reply to %r ends with %r, not ok or error' % (req[:60], last))
    return lines, last


def ok(path, req):
    lines, last = request(path, req)
    eq(last, 'ok', 'the last line of the reply to %r' % req[:60])
    return lines


def status(d):
    """The status payload: key -> fields (lists of str); 'counter' and
    'source' -> lists."""
    out = {'counter': {}, 'source': []}
    for line in ok(d.control, b'1 status\n'):
        f = line.split('\t')
        if f[0] == 'counter':
            out['counter'][f[1]] = int(f[2])
        elif f[0] == 'source':
            out['source'].append(f[1:])
        else:
            out[f[0]] = f[1:]
    return out


def client_successes(d):
    """The status counter of client-side successes (the deliveries
    counted): "counter TAB successes TAB SERVER TAB CLIENT"."""
    for line in ok(d.control, b'1 status\n'):
        f = line.split('\t')
        if f[:2] == ['counter', 'successes']:
            return int(f[3])
    fail('no successes counter in the status payload')


def fails(user, n, ip='203.0.113.5', sec=0):
    return b''.join(pf_fail(user, ip, sec + i) for i in range(n))


# ===========================================================================
# status
# ===========================================================================

@test('status')
def payload(w):
    """A log of 3 noise lines and 4 failures, read to its end: every
    field of the payload against what is known of it."""
    t0 = int(time.time())
    d = daemon(w)
    log = d.logs[0]
    d.start()
    append(log, noise(1) + fails('alice@example.com', 4) + noise(2, 9) + noise(3, 10))
    d.wait_caught_up()
    st = status(d)
    t1 = int(time.time())
    eq(st['version'], ['0.1'], 'version')
    eq(st['pid'], [str(d.pid)], 'pid')
    started = int(st['started'][0])
    if not t0 - 1 <= started <= t1:
        fail('started %d, not between %d and %d' % (started, t0, t1))
    nfiles = len(glob.glob(os.path.join(RULES, '*.rules')))
    eq(st['rules'][0], str(nfiles), 'rules files')
    if int(st['rules'][1]) < 10 or int(st['rules'][2]) < 10:
        fail('rules: %s extract and %s diagnosis entries' % (st['rules'][1], st['rules'][2]))
    eq(st['database'], [vis(d.db)], 'database')
    eq(st['batch'], ['0'], 'events not committed')
    committed = int(st['committed'][0])
    if not started <= committed <= t1:
        fail('committed %d, not between %d and %d' % (committed, started, t1))
    c = st['counter']
    eq((c['lines'], c['events'], c['commit_errors'], c['alerts']), (7, 4, 0, 0),
       'counters lines, events, commit_errors, alerts')
    if c['batches'] < 1:
        fail('counter batches %d, want > 0' % c['batches'])
    eq(st['incidents'], ['0'], 'open incidents')
    size = os.path.getsize(log)
    eq(st['source'], [[vis(log), '1', str(size), str(size), '0', '0', '0', '7', '0',
                       'active']],
       'the source line (path open offset size lag lagsec rotations lines polled role)')
    d.term()


@test('status')
def escaped(w):
    """A path with a tab and a non-ASCII byte is shown escaped (str_vis);
    a missing log: not open, no lag."""
    log = w.path('ma\til\xe9.log')
    gone = w.path('missing.log')
    d = daemon(w, log=log)
    d.logs.append(gone)
    d.write_conf()
    d.start()
    append(log, noise(1))
    d.wait_caught_up([log])
    st = status(d)
    eq([s[0] for s in st['source']], [vis(log), vis(gone)], 'escaped paths')
    if '\t' in vis(log) or '\\x09' not in vis(log):
        fail('vis() left the tab: %r' % vis(log))
    eq(st['source'][1][1:6], ['0', '0', '0', '0', '0'], 'the missing log: open offset size lag lagsec')
    d.term()


# ===========================================================================
# reset
# ===========================================================================

def resets(lines):
    """A reset's payload: what -> number, as smtpwatchd writes it."""
    out = {}
    for line in lines:
        f = line.split('\t')
        if len(f) != 3 or f[0] != 'reset':
            fail('not a reset line: %r' % line)
        out[f[1]] = int(f[2])
    want = {'addresses-of-accounts', 'accounts', 'addresses', 'relays', 'buckets',
            'incidents', 'folds', 'dry-run'}
    if set(out) != want:
        fail('reset payload names %s, not %s' % (sorted(out), sorted(want)))
    return out


def subject_rows(db, subj):
    """Rows that name subj, table by table."""
    return {
        'accounts': query(db, 'SELECT count(*) AS n FROM accounts WHERE account = ?',
                          (subj,))[0]['n'],
        'account_addrs': query(db, 'SELECT count(*) AS n FROM account_addrs WHERE account_id IN '
                               '(SELECT id FROM accounts WHERE account = ?)', (subj,))[0]['n'],
        'buckets': query(db, 'SELECT count(*) AS n FROM buckets WHERE key = ?', (subj,))[0]['n'],
        'open incidents': query(db, "SELECT count(*) AS n FROM incident_list WHERE "
                                "subject = ? AND state = 'open'", (subj,))[0]['n'],
    }


@test('reset')
def relay(w):
    """smtp.gmail.com rejects us, then a delivery through it counts
    (counter successes, client side: 1); reset smtp.gmail.com deletes
    its row, and the next delivery through it counts no more, as after
    a restart."""
    d = daemon(w)
    log = d.logs[0]
    d.start()
    append(log, pf_relay_fail('5B2C3D4E5F', 'x@example.net', 0) +
           pf_relay_sent('5B2C3D4E5F', 'x@example.net', 10))
    d.wait_caught_up()
    eq(client_successes(d), 1, 'deliveries counted before the reset')
    got = resets(ok(d.control, b'1 reset smtp.gmail.com\n'))
    eq(got['relays'], 1, 'relays reset')
    append(log, pf_relay_sent('6C3D4E5F60', 'y@example.net', 20))
    d.wait_caught_up()
    eq(client_successes(d), 1, 'deliveries counted after the reset')
    eq(query(d.db, 'SELECT count(*) AS n FROM relays')[0]['n'], 0, 'relay rows')
    d.term()


@test('reset')
def account(w):
    """alice fails 5 times (an incident), bob twice, caf\\xc3\\xa9 once.
    reset alice: her rows and buckets go, her incident closes 'reset',
    bob's counts stay; 2 new failures of hers count from zero and open
    no incident (the engine forgot the 5).  The escaped subject of a
    non-ASCII account is decoded."""
    alice, bob, cafe = b'alice@example.com', b'bob@example.com', b'caf\xc3\xa9@example.com'
    d = daemon(w, ALERTS)
    log = d.logs[0]
    d.start()
    append(log, fails(alice, 5) + fails(bob, 2, '198.51.100.7', 10) +
           fails(cafe, 1, '198.51.100.8', 20))
    d.wait_caught_up()
    eq(account_failures(d.db), {alice: 5, bob: 2, cafe: 1}, 'accounts before')
    before = subject_rows(d.db, alice)
    eq(before['open incidents'], 1, 'open incidents of alice before the reset')
    if before['buckets'] < 1 or before['accounts'] != 1 or before['account_addrs'] != 1:
        fail('rows of alice before the reset: %s' % before)
    addrs = address_failures(d.db)
    # a dry run, and another host: nothing changes
    dry = resets(ok(d.control, b'1 reset alice@example.com\tdry-run\n'))
    eq(dry['dry-run'], 1, 'a dry run says so')
    eq(subject_rows(d.db, alice), before, 'rows of alice after a dry run')
    other = resets(ok(d.control, b'1 reset alice@example.com\thost=mx9\n'))
    eq(sum(other.values()), 0, 'reset on a host alice is not on')
    eq(subject_rows(d.db, alice), before, 'rows of alice after a reset on mx9')
    got = resets(ok(d.control, b'1 reset alice@example.com\thost=mx1\n'))
    eq(got, dict(dry, **{'dry-run': 0}), 'the reset does what the dry run said')
    eq((got['accounts'], got['addresses-of-accounts'], got['buckets'], got['incidents']),
       (before['accounts'], before['account_addrs'], before['buckets'],
        before['open incidents']), 'payload: what was deleted and closed')
    eq(subject_rows(d.db, alice), {'accounts': 0, 'account_addrs': 0, 'buckets': 0,
                                   'open incidents': 0}, 'rows of alice after the reset')
    rows = query(d.db, 'SELECT state, close_reason, closed, last FROM incident_list '
                 'WHERE subject = ?', (alice,))
    eq([(r['state'], r['close_reason'], r['closed'] == r['last']) for r in rows],
       [('closed', 'reset', True)], 'alice\'s incident')
    eq(account_failures(d.db), {bob: 2, cafe: 1}, 'accounts after the reset')
    eq(address_failures(d.db), addrs, 'addresses after resetting an account')
    eq(status(d)['incidents'], ['0'], 'open incidents in the engine')
    # a vis-escaped subject
    got = resets(ok(d.control, b'1 reset ' + vis(cafe).encode() + b'\n'))
    eq((got['accounts'], got['addresses-of-accounts'], got['buckets']), (1, 1, 1),
       'reset of caf\\xc3\\xa9 (account, address pair, bucket)')
    eq(account_failures(d.db), {bob: 2}, 'accounts after the second reset')
    # counting again from zero, in the database and in the engine
    append(log, fails(alice, 2, sec=60))
    d.wait_caught_up()
    eq(account_failures(d.db), {alice: 2, bob: 2}, 'accounts after new failures')
    eq(subject_rows(d.db, alice)['open incidents'], 0,
       'open incidents of alice after 2 new failures (threshold 3)')
    eq(status(d)['incidents'], ['0'], 'open incidents in the engine')
    # an address and a relay name; nothing known: 0
    ok(d.control, b'1 reset 198.51.100.7\n')
    if '198.51.100.7' in address_failures(d.db):
        fail('address 198.51.100.7 still there after its reset')
    eq(sum(resets(ok(d.control, b'1 reset nobody@example.com\n')).values()), 0,
       'reset of an unknown subject')
    for req in (b'1 reset\n', b'1 reset \n'):
        eq(request(d.control, req), ([], 'error: reset needs a subject'), repr(req))
    for req in (b'1 reset x\tfrob\n', b'1 reset x\thost=\n'):
        eq(request(d.control, req), ([], 'error: reset: malformed argument'), repr(req))
    eq(request(d.control, b'1 reset a\tdry-run\tdry-run\tdry-run\n'),
       ([], 'error: too many arguments'), 'four arguments')
    d.term()


# ===========================================================================
# reload
# ===========================================================================

@test('reload')
def reply(w):
    """reload replies ok after RELOADING=1 and READY=1; with a broken
    config: error with CONF:LINE, and the daemon counts on."""
    d = daemon(w)
    log = d.logs[0]
    d.start()
    mark = len(d.msgs)
    eq(ok(d.control, b'1 reload\n'), [], 'payload of reload')
    d._drain()
    m = d.msgs[mark:]
    if ('RELOADING', '1') not in m or ('READY', '1') not in m[m.index(('RELOADING', '1')):]:
        fail('no RELOADING=1 then READY=1 before the reply: %s' % m)
    good = d.conf_text()
    d.write_conf(good + 'frobnicate yes\n')
    lines, last = request(d.control, b'1 reload\n')
    want = 'error: %s:%d: ' % (vis(d.conf), good.count('\n') + 1)
    if lines or not last.startswith(want):
        fail('reply to reload with a broken config: %r %r, want %r...' % (lines, last, want))
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 2}, 'accounts after the failed reload')
    eq(status(d)['pid'], [str(d.pid)], 'status after the failed reload')
    d.write_conf(good)
    ok(d.control, b'1 reload\n')
    eq(status(d)['counter']['lines'], 2, 'lines counted across reloads')
    d.term()


@test('reload')
def database(w):
    """reload with a database that is no SQLite file: the reply is
    error: FILE: the database is damaged..., after RELOADING=1 and
    READY=1; the file is left as it was, the daemon counts on in the
    running database; with the database put back: ok."""
    d = daemon(w)
    log = d.logs[0]
    d.start()
    append(log, fails('alice@example.com', 1))
    d.wait_caught_up()
    junk = w.path('junk.db')
    with open(junk, 'wb') as f:
        f.write(bytes(range(256)) * 64)
    good = d.conf_text()
    d.write_conf(good.replace('database %s\n' % d.db, 'database %s\n' % junk))
    mark = len(d.msgs)
    lines, last = request(d.control, b'1 reload\n')
    want = 'error: %s: the database is damaged (file is not a database)' % vis(junk)
    if lines or not last.startswith(want):
        fail('reply to reload with a junk database: %r %r, want %r...' % (lines, last, want))
    d._drain()
    m = d.msgs[mark:]
    if ('RELOADING', '1') not in m or ('READY', '1') not in m[m.index(('RELOADING', '1')):]:
        fail('no RELOADING=1 then READY=1 before the reply: %s' % m)
    with open(junk, 'rb') as f:
        eq(f.read(), bytes(range(256)) * 64, 'the junk file after the reload')
    append(log, fails('alice@example.com', 2, sec=3))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 3}, 'accounts after the failed reload')
    eq(status(d)['database'], [vis(d.db)], 'the database in status')
    d.write_conf(good)
    ok(d.control, b'1 reload\n')
    d.term()


# ===========================================================================
# permissions
# ===========================================================================

def as_user(path, req, uid, gid, groups=()):
    """The reply to req (str, without its newline) from a child process
    of uid and gid with the supplementary groups given (none by
    default), or 'EACCES' when it cannot connect.  A fork, not an exec: the interpreter may not be readable
    by uid.  The child only makes system calls and leaves by _exit."""
    r, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(TIMEOUT)
            try:
                s.connect(path)
            except PermissionError:
                os.write(wr, b'EACCES\n')
                os._exit(0)
            s.sendall(req.encode() + b'\n')
            while True:
                b = s.recv(65536)
                if not b:
                    break
                os.write(wr, b)
        except BaseException as e:
            os.write(wr, ('child: %r\n' % e).encode())
            code = 1
        os._exit(code)
    os.close(wr)
    out = b''
    with os.fdopen(r, 'rb') as f:
        out = f.read()
    _, st = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(st) != 0:
        fail('the client as uid %d gid %d: %s' % (uid, gid, out.decode('ascii', 'replace')))
    return out.decode('ascii')


@test('perms')
def peers(w):
    """The socket is mode 0660.  uid 65534 in the daemon's group (by its
    gid, or by a supplementary group it runs with and that the group
    file does not list: SO_PEERGROUPS): status works, reset and reload
    are refused; uid 65534 in its own group cannot connect at all; root
    may reset."""
    if os.geteuid() != 0:
        print('skipped: needs root')
        return
    os.chmod(w.dir, 0o711)
    d = daemon(w)
    log = d.logs[0]
    d.start()
    append(log, fails('alice@example.com', 2))
    d.wait_caught_up()
    st = os.stat(d.control)
    eq(oct(st.st_mode & 0o7777), oct(0o660), 'mode of the socket')
    gid = os.getegid()
    out = as_user(d.control, '1 status', 65534, gid)
    if not out.endswith('ok\n') or '\npid\t%d\n' % d.pid not in out:
        fail('status as uid 65534 gid %d: %r' % (gid, out[-300:]))
    for req in ('1 reset alice@example.com', '1 reload'):
        eq(as_user(d.control, req, 65534, gid), 'error: permission denied\n',
           '%s as uid 65534 gid %d' % (req, gid))
    eq(account_failures(d.db), {b'alice@example.com': 2}, 'accounts after the refused reset')
    out = as_user(d.control, '1 status', 65534, 65534, [gid])
    if not out.endswith('ok\n'):
        fail('status as uid 65534 with supplementary group %d: %r' % (gid, out[-300:]))
    eq(as_user(d.control, '1 reload', 65534, 65534, [gid]), 'error: permission denied\n',
       'reload as uid 65534 with supplementary group %d' % gid)
    eq(as_user(d.control, '1 status', 65534, 65534), 'EACCES\n', 'uid 65534 gid 65534')
    eq(ok(d.control, b'1 reset alice@example.com\n')[0].split('\t')[0], 'reset', 'root')
    eq(account_failures(d.db), {}, 'accounts after root\'s reset')
    d.wait_stderr('reset refused to uid 65534')
    d.term()


# ===========================================================================
# bad requests
# ===========================================================================

@test('requests')
def bad(w):
    """Each bad request gets its error line, and the daemon carries on."""
    d = daemon(w)
    d.start()
    cases = [
        (b'hello\n', 'error: malformed request'),
        (b'\n', 'error: malformed request'),
        (b'1\n', 'error: malformed request'),
        (b'1 \n', 'error: malformed request'),
        (b'status\n', 'error: malformed request'),
        (b'2 status\n', 'error: unsupported protocol version'),
        (b'10 status\n', 'error: unsupported protocol version'),
        (b'1 frobnicate\n', 'error: unknown command'),
        (b'1 STATUS\n', 'error: unknown command'),
        (b'1 status now\n', 'error: malformed request'),
        (b'1 reset bad\\q\n', 'error: malformed request'),
        (b'1 reset bad\\x4\n', 'error: malformed request'),
        (b'1 status' + b' ' * 1015 + b'\n', 'error: malformed request'),   # 1024 bytes
        (b'1 status' + b'x' * 1991 + b'\n', 'error: request too long'),    # 2000 bytes
        (b'1 status' + b'x' * 1016 + b'\n', 'error: request too long'),    # 1025 bytes
    ]
    for req, want in cases:
        eq(request(d.control, req), ([], want), 'reply to %r (%d bytes)' % (req[:40], len(req)))
        eq(status(d)['pid'], [str(d.pid)], 'status after %r' % req[:40])
    # not a line: the client ends its side without a newline
    s = connect(d.control)
    s.sendall(b'1 status')
    s.shutdown(socket.SHUT_WR)
    eq(split(read_all(s)), ([], 'error: malformed request'), 'a request without its newline')
    s.close()
    # in pieces, the rest of the connection ignored
    s = connect(d.control)
    s.sendall(b'1 st')
    s.sendall(b'atus\n1 reset x\n')
    lines, last = split(read_all(s))
    eq((lines[0], last), ('version\t0.1', 'ok'), 'a request in two pieces')
    s.close()
    # a client that goes away at once
    connect(d.control).close()
    eq(status(d)['pid'], [str(d.pid)], 'status at the end')
    d.term()


# ===========================================================================
# bounds
# ===========================================================================

@test('bounds')
def busy(w):
    """16 idle clients are held; the 17th is told it is busy; once the 16
    are served, a status works."""
    d = daemon(w)
    d.start()
    idle = [connect(d.control) for _ in range(16)]
    s = connect(d.control)
    eq(read_all(s), b'error: busy\n', 'the 17th client')
    s.close()
    for s in idle:
        s.sendall(b'1 status\n')
        eq(split(read_all(s))[1], 'ok', 'an idle client, served')
        s.close()
    eq(status(d)['pid'], [str(d.pid)], 'status after the 16')
    d.term()


class Hog:
    """A child of uid and gid holding connections to the control socket,
    sending nothing: a member of the daemon's group keeping the slots
    busy.  It is driven through pipes, one command a line: 'connect N'
    opens N more, then asks for a status on one more and reads the reply
    (ok or busy): the daemon takes connections in order, so by then each
    of the N is held or was refused (it reads "error: busy"); it answers
    'held K', the connections it holds.  'report' answers, for each one
    held, oldest first, what it has read so far ('-' for nothing,
    'busy', 'eof'), and ends the child."""

    def __init__(self, path, uid, gid):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            code = 0
            try:
                os.close(w1)
                os.close(r2)
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                self._child(path, os.fdopen(r1, 'r'), w2)
            except BaseException as e:
                os.write(w2, ('child: %r\n' % e).encode())
                code = 1
            os._exit(code)
        os.close(r1)
        os.close(w2)
        self.to = os.fdopen(w1, 'w')
        self.frm = os.fdopen(r2, 'r')

    @staticmethod
    def _child(path, cmds, out):
        held = []
        for line in cmds:
            words = line.split()
            if words[0] == 'connect':
                new = []
                for _ in range(int(words[1])):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(TIMEOUT)
                    s.connect(path)
                    new.append(s)
                # The daemon takes connections in order: once a later
                # request has its reply (ok, or busy), each of these was
                # held or refused.
                b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                b.settimeout(TIMEOUT)
                b.connect(path)
                try:            # refused, it may be closed before
                    b.sendall(b'1 status\n')
                    while b.recv(65536):
                        pass
                except (BrokenPipeError, ConnectionResetError):
                    pass
                b.close()
                for s in new:
                    s.setblocking(False)
                    try:
                        got = s.recv(64)
                    except BlockingIOError:
                        held.append(s)
                        continue
                    s.close()
                    if got != b'error: busy\n':
                        raise RuntimeError('a connection got %r' % got)
                n = 0
                for s in held:          # those dropped since read busy
                    try:
                        s.recv(64, socket.MSG_PEEK)
                    except BlockingIOError:
                        n += 1
                os.write(out, b'held %d\n' % n)
            elif words[0] == 'report':
                fates = []
                for s in held:
                    try:
                        got = s.recv(64)
                    except BlockingIOError:
                        got = None
                    fates.append('-' if got is None else 'busy' if got == b'error: busy\n'
                                 else 'eof' if got == b'' else repr(got))
                os.write(out, (' '.join(fates) + '\n').encode())
                return

    def ask(self, cmd):
        self.to.write(cmd + '\n')
        self.to.flush()
        line = self.frm.readline()
        if not line or line.startswith('child:'):
            fail('the hog child: %r' % line)
        return line.split()

    def close(self):
        self.to.close()
        self.frm.close()
        os.waitpid(self.pid, 0)


@test('bounds')
def slots(w):
    """uid 65534 in the daemon's group connects until refused: it holds
    15 of the 16 slots, the last being kept for root; root's status is
    answered.  uid 65533 of the group then gets its status answered too,
    by the hog's oldest idle connection being dropped (it reads "error:
    busy").  The hog connects twice again: it gets one slot back, no more,
    and root's status is still answered.  Each connection of the hog not
    dropped is still held at the end."""
    if os.geteuid() != 0:
        print('skipped: needs root')
        return
    os.chmod(w.dir, 0o711)
    d = daemon(w)
    d.start()
    gid = os.getegid()
    hog = Hog(d.control, 65534, gid)
    try:
        eq(hog.ask('connect 16'), ['held', '15'], 'connections the member holds')
        eq(status(d)['pid'], [str(d.pid)], 'root\'s status while the member holds 15')
        out = as_user(d.control, '1 status', 65533, gid)
        if not out.endswith('ok\n'):
            fail('status of another member (uid 65533): %r' % out[-300:])
        eq(hog.ask('connect 2'), ['held', '15'],
           'connections the member holds after connecting twice again')
        eq(status(d)['pid'], [str(d.pid)], 'root\'s status after the member reconnected')
        fates = hog.ask('report')
    finally:
        hog.close()
    if 'eof' in fates:
        fail('the hog\'s connections were dropped on the 5 s timeout before the test '
             'ended: it proves nothing (a loaded machine?): %s' % fates)
    eq(fates, ['busy'] + ['-'] * 15,
       'what the hog\'s connections read, oldest first (the dropped one, then those held)')
    d.term()


@test('bounds')
def timeout(w):
    """A client that sends nothing and one that sends half a line are
    dropped after 5 s; another is answered while they hang."""
    d = daemon(w)
    d.start()
    t0 = time.monotonic()
    mute = connect(d.control)
    half = connect(d.control)
    half.sendall(b'1 sta')
    eq(status(d)['pid'], [str(d.pid)], 'status while two clients hang')
    for s, what in ((mute, 'a mute client'), (half, 'half a line')):
        got = read_all(s)
        took = time.monotonic() - t0
        s.close()
        eq(got, b'', 'what %s got' % what)
        if not 4.5 <= took <= 5 + TIMEOUT:
            fail('%s was dropped after %.1fs, want 5s' % (what, took))
    d.term()


# ===========================================================================
# the socket file
# ===========================================================================

@test('socket')
def stale(w):
    """A socket file nobody listens on is replaced at start; the file is
    removed at exit."""
    d = daemon(w)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(d.control)
    s.close()
    try:
        connect(d.control)
        fail('the leftover socket accepts connections')
    except ConnectionRefusedError:
        pass
    d.start()
    eq(status(d)['pid'], [str(d.pid)], 'status through the replaced socket')
    if 'another smtpwatchd' in d.err_text():
        fail('a stale socket taken for a live daemon:\n%s' % d.tail())
    d.term()
    if os.path.lexists(d.control):
        fail('%s is left after the daemon stopped' % d.control)


@test('socket')
def second(w):
    """A second daemon with the same control path exits 1 with the
    message, before it opens its database; the first runs on."""
    d = daemon(w)
    d.start()
    d2 = Daemon(w, [w.path('other.log')], extra_conf='control %s' % d.control, asan=True,
                name='second')
    d2.start(wait=False)
    eq(d2.wait_exit(), 1, 'exit status of the second daemon')
    want = 'control socket %s: another smtpwatchd is running' % d.control
    if want not in d2.err_text():
        fail('the second daemon did not say %r\n%s' % (want, d2.tail()))
    if os.path.exists(d2.db):
        fail('the second daemon created its database %s' % d2.db)
    eq(status(d)['pid'], [str(d.pid)], 'status of the first daemon')
    d.term()


@test('socket')
def nodir(w):
    """A control path in a missing directory: a warning, and the daemon
    runs without a control socket."""
    log = w.path('mail.log')
    open(log, 'ab').close()
    path = w.path('missing', 'control.sock')
    d = Daemon(w, [log], extra_conf='control %s' % path, asan=True)
    d.start()
    d.wait_stderr(re.escape('control socket %s: no such directory' % path))
    append(log, fails('alice@example.com', 1))
    d.wait_caught_up()
    eq(account_failures(d.db), {b'alice@example.com': 1}, 'accounts')
    d.term()
    if os.path.lexists(path):
        fail('%s exists' % path)


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
