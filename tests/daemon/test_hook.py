#!/usr/bin/env python3
"""test_hook.py -- alert-exec: the program smtpwatchd runs on each alert
(daemon/hook.c), with the real ASan daemon and a real journald.

    env       a relay rejected by Gmail and a brute force against an account
              whose name carries an escape: the program runs once per
              journal entry, with its arguments, a clean environment (PATH,
              LC_ALL and the entry's fields only: SMTPWATCH_KIND,
              SMTPWATCH_RELAY, SMTPWATCH_DIAGNOSIS, SMTPWATCH_MESSAGE ...),
              the account escaped (no raw ESC byte), nothing of the daemon's
              own environment; `done` is logged.
    fail      a program that writes to stderr and exits 3: the daemon logs
              the status and the words; the journal entry stands.
    timeout   with alert-exec-max 1 and alert-exec-timeout 1s, a program
              that hangs is killed (logged), and the next alert's program,
              which waited for the slot, runs then.
    reload    a reload that drops alert-exec: the next alert runs nothing.

    python3 tests/daemon/test_hook.py [TEST|GROUP ...]
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Daemon, Journal, append, eq, fail, pf_fail,  # noqa: E402
                     pf_relay_fail, run_tests)

TESTS = {}
GROUPS = {}

CONF = 'account-threshold 5\naccount-window 15m\nrealert 30m\n'

# Records its arguments and environment in DIR/run-N, N counting up.
RECORD = r'''#!/bin/sh
dir=$(dirname "$0")
n=$(ls "$dir" | grep -c '^run-')
{ printf 'ARGS=%s\n' "$*"; env | LC_ALL=C sort; } >"$dir/run-$n.tmp"
mv "$dir/run-$n.tmp" "$dir/run-$n"
'''

FAIL = '#!/bin/sh\necho "boom: the mail relay is down" >&2\nexit 3\n'

# The first run hangs; the others record as RECORD does.
HANG = r'''#!/bin/sh
dir=$(dirname "$0")
if mkdir "$dir/hung" 2>/dev/null; then exec sleep 600; fi
{ printf 'ARGS=%s\n' "$*"; env | LC_ALL=C sort; } >"$dir/run-late"
'''


def test(group):
    def reg(fn):
        name = group
        TESTS[name] = fn
        GROUPS.setdefault(group, []).append(name)
        return fn
    return reg


def program(w, text):
    d = w.path('prog')
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, 'alert.sh')
    with open(p, 'w') as f:
        f.write(text)
    os.chmod(p, 0o755)
    return p, d


def records(d, name=None):
    """The environments recorded, as dicts, in run order."""
    names = [name] if name else sorted((n for n in os.listdir(d) if n.startswith('run-')
                                        and not n.endswith('.tmp')), key=lambda n: int(n[4:]))
    out = []
    for n in names:
        with open(os.path.join(d, n), 'rb') as f:
            raw = f.read()
        if b'\x1b' in raw:
            fail('a raw ESC byte reached the program\'s environment: %r' % raw[:300])
        env = {}
        for line in raw.decode('utf-8').split('\n'):
            if '=' in line:
                k, v = line.split('=', 1)
                env[k] = v
        out.append(env)
    return out


def start(w, extra):
    log = w.path('mail.log')
    open(log, 'ab').close()
    d = Daemon(w, [log], extra_conf=CONF + extra, asan=True)
    d.start()
    return d, Journal(d), log


@test('env')
def env(w):
    prog, pd = program(w, RECORD)
    d, j, log = start(w, 'alert-exec %s first --second\n' % prog)
    append(log, pf_relay_fail('1A2B3C4D5E', 'ops@example.com', 0))
    j.wait_kind('relay-rejected')
    d.wait_stderr(r'alert-exec: \S+alert\.sh \(relay-rejected alert\): done')
    evil = 'mallory\x1b[31m@example.org'
    append(log, b''.join(pf_fail(evil, '203.0.113.9', 10 + k, pid=700 + k) for k in range(5)))
    es = j.wait_kind('account-failing')
    d.wait_stderr(r'alert-exec: \S+ \(account-failing alert\): done')
    rs = records(pd)
    eq(len(rs), 2, 'programs run (one per entry)')
    r = rs[0]
    eq(r['ARGS'], 'first --second', 'the arguments')
    extra = sorted(k for k in r if not k.startswith('SMTPWATCH_') and
                   k not in ('ARGS', 'PATH', 'LC_ALL', 'PWD', 'SHLVL', '_'))
    eq(extra, [], 'variables besides PATH, LC_ALL and the fields')
    rel = j.all(kind='relay-rejected')[0]
    eq((r['SMTPWATCH_KIND'], r['SMTPWATCH_RELAY'], r['SMTPWATCH_DIAGNOSIS'],
        r['SMTPWATCH_MESSAGE'], r['SMTPWATCH_MESSAGE_ID']),
       ('relay-rejected', 'smtp.gmail.com', 'gmail/535-5.7.8-bad-credentials',
        rel['MESSAGE'], rel['MESSAGE_ID']),
       'the relay alert\'s KIND, RELAY, DIAGNOSIS, MESSAGE, MESSAGE_ID')
    if not r.get('SMTPWATCH_FIX'):
        fail('no SMTPWATCH_FIX in %s' % sorted(r))
    a = rs[1]
    eq((a['SMTPWATCH_KIND'], a['SMTPWATCH_ACCOUNT'], a['SMTPWATCH_INCIDENT']),
       ('account-failing', 'mallory\\x1b[31m@example.org', es[0]['SMTPWATCH_INCIDENT']),
       'the account alert (the name escaped as everywhere)')
    d.term()


@test('fail')
def failing(w):
    prog, pd = program(w, FAIL)
    d, j, log = start(w, 'alert-exec %s\n' % prog)
    append(log, pf_relay_fail('1A2B3C4D5E', 'ops@example.com', 0))
    j.wait_kind('relay-rejected')
    d.wait_stderr(r'alert-exec: \S+alert\.sh \(relay-rejected alert\): exit 3: '
                  r'boom: the mail relay is down')
    eq(len(j.all(kind='relay-rejected')), 1, 'the journal entry stands')
    d.term()


@test('timeout')
def timeout(w):
    prog, pd = program(w, HANG)
    d, j, log = start(w, 'alert-exec %s\nalert-exec-max 1\nalert-exec-timeout 1s\n' % prog)
    append(log, pf_relay_fail('1A2B3C4D5E', 'ops@example.com', 0))
    j.wait_kind('relay-rejected')
    append(log, b''.join(pf_fail('carol@example.org', '203.0.113.9', 10 + k, pid=700 + k)
                         for k in range(5)))
    j.wait_kind('account-failing')
    d.wait_stderr(r'alert-exec: \S+ \(relay-rejected alert\): killed after 1 s')
    d.wait_stderr(r'alert-exec: \S+ \(account-failing alert\): done')
    eq(records(pd, 'run-late')[0]['SMTPWATCH_KIND'], 'account-failing',
       'the alert that waited for the slot')
    text = d.err_text()
    if text.index('killed after') > text.index('(account-failing alert): done'):
        fail('the waiting alert ran before the hung one was killed:\n' + text[-2000:])
    d.term()


@test('reload')
def reload(w):
    prog, pd = program(w, RECORD)
    d, j, log = start(w, 'alert-exec %s\n' % prog)
    append(log, pf_relay_fail('1A2B3C4D5E', 'ops@example.com', 0))
    d.wait_stderr(r'\(relay-rejected alert\): done')
    with open(d.conf) as f:
        text = f.read()
    with open(d.conf, 'w') as f:
        f.write(text.replace('alert-exec ', '#alert-exec '))
    mark = d.hup()
    d.wait_stderr(r'reloaded', since=mark)
    append(log, b''.join(pf_fail('carol@example.org', '203.0.113.9', 10 + k, pid=700 + k)
                         for k in range(5)))
    j.wait_kind('account-failing')
    d.wait_caught_up()
    j.sync()
    eq(len(records(pd)), 1, 'programs run: the one before the reload')
    d.term()


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
