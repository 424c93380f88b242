#!/usr/bin/env python3
"""test_notify.py -- the shipped alert-exec programs (contrib/notify/) run
by the real daemon against local sinks, inside a network namespace of
their own (`unshare --net`: only lo; nothing leaves the machine).

    mail      contrib/notify/mail with --sendmail a stand-in that keeps its
              arguments and its input: a relay rejected by Gmail makes one
              message to the address given, its Subject naming the kind and
              the relay, its body the journal entry's MESSAGE and the fix;
              run again for the same relay within --every, it skips.
    webhook   contrib/notify/webhook posting to an HTTP server on
              127.0.0.1: a brute force against an account whose name holds
              a quote and a backslash arrives as JSON that parses, its text
              the entry's MESSAGE (escaped as the daemon escapes names) and
              the fix; --format ntfy posts the text with a Title header.

    python3 tests/daemon/test_notify.py        (as root)
"""

import http.server
import json
import os
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import (ROOT, append, ensure_journald, eq, fail, pf_fail,  # noqa: E402
                     pf_relay_fail, run_tests_netns)
from test_hook import start  # noqa: E402

NOTIFY = os.path.join(ROOT, 'contrib', 'notify')
TESTS = {}
GROUPS = {}

STANDIN = r'''#!/bin/sh
dir=$(dirname "$0")
printf '%s\n' "$*" >"$dir/sendmail.args"
cat >"$dir/sendmail.msg"
'''


def test(name):
    def reg(fn):
        TESTS[name] = fn
        GROUPS.setdefault(name, []).append(name)
        return fn
    return reg


@test('mail')
def mail(w):
    sm = w.path('sendmail')
    with open(sm, 'w') as f:
        f.write(STANDIN)
    os.chmod(sm, 0o755)
    state = w.path('state')
    argv = [os.path.join(NOTIFY, 'mail'), '--sendmail', sm, '--state', state,
            '--from', 'smtpwatch@mx1.example', 'ops@example.org']
    d, j, log = start(w, 'alert-exec %s\n' % ' '.join(argv))
    append(log, pf_relay_fail('1A2B3C4D5E', 'ops@example.com', 0))
    e = j.wait_kind('relay-rejected')[0]
    d.wait_stderr(r'\(relay-rejected alert\): done')
    with open(w.path('sendmail.args')) as f:
        eq(f.read(), '-i -- ops@example.org\n', 'the sendmail arguments')
    with open(w.path('sendmail.msg')) as f:
        msg = f.read()
    head, _, body = msg.partition('\n\n')
    for want in ('From: smtpwatch@mx1.example', 'To: ops@example.org',
                 'Subject: [smtpwatch] relay-rejected smtp.gmail.com',
                 'Content-Type: text/plain; charset=UTF-8'):
        if want not in head.split('\n'):
            fail('no %r in the headers:\n%s' % (want, head))
    if ' '.join(e['MESSAGE'].split()) not in ' '.join(body.split()) or \
            'SMTPWATCH_FIX=' + e['SMTPWATCH_FIX'] not in body:
        fail('the body lacks the MESSAGE or the fix:\n%s\n(MESSAGE %r)' % (body, e['MESSAGE']))
    d.term()
    # Again for the same relay within --every: skipped, nothing sent.
    os.unlink(w.path('sendmail.msg'))
    env = {'PATH': os.environ['PATH'], 'SMTPWATCH_KIND': 'relay-rejected',
           'SMTPWATCH_RELAY': 'smtp.gmail.com', 'SMTPWATCH_MESSAGE': 'again'}
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    eq((r.returncode, 'skipped' in r.stdout, os.path.exists(w.path('sendmail.msg'))),
       (0, True, False), 'a second alert for the relay within --every (%r)' % r.stdout)


class Sink(http.server.BaseHTTPRequestHandler):
    """Keeps each request's path, headers and body."""
    got = []

    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        Sink.got.append((self.path, dict(self.headers), self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *args):
        pass


@test('webhook')
def webhook(w):
    srv = http.server.HTTPServer(('127.0.0.1', 0), Sink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = 'http://127.0.0.1:%d' % srv.server_address[1]
    hook = os.path.join(NOTIFY, 'webhook')
    d, j, log = start(w, 'alert-exec %s --state %s %s/slack\n' % (hook, w.path('state'), url))
    user = 'o"hara\\x@example.org'
    append(log, b''.join(pf_fail(user, '203.0.113.9', k, pid=700 + k) for k in range(5)))
    e = j.wait_kind('account-failing')[0]
    d.wait_stderr(r'\(account-failing alert\): done')
    d.term()
    eq(len(Sink.got), 1, 'posts')
    path, headers, body = Sink.got[0]
    eq((path, headers.get('Content-Type')), ('/slack', 'application/json'), 'the post')
    try:
        text = json.loads(body)['text']
    except ValueError as x:
        fail('the post is not JSON (%s): %r' % (x, body))
    eq(text, 'smtpwatch on %s: %s' % (os.uname().nodename, e['MESSAGE']),
       'the text: the host and the MESSAGE (its cause and fix with it)')
    if 'o"hara\\\\x@example.org' not in text:
        fail('the account is not as the daemon escapes it: %r' % text)
    # ntfy: the text as the body, a Title.
    env = {'PATH': os.environ['PATH'], 'SMTPWATCH_KIND': 'relay-rejected',
           'SMTPWATCH_RELAY': 'smtp.gmail.com', 'SMTPWATCH_MESSAGE': 'Gmail said no.'}
    r = subprocess.run([hook, '--format', 'ntfy', '--state', w.path('state'), url + '/topic'],
                       env=env, capture_output=True, text=True)
    eq(r.returncode, 0, 'webhook --format ntfy (%s)' % r.stderr)
    path, headers, body = Sink.got[1]
    eq((path, headers.get('Title'), body.decode().endswith(': Gmail said no.')),
       ('/topic', 'smtpwatch relay-rejected smtp.gmail.com', True), 'the ntfy post')
    srv.shutdown()


def main(argv):
    # journald started outside: its socket is a path
    return run_tests_netns(__file__, TESTS, GROUPS, argv, before=ensure_journald)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
