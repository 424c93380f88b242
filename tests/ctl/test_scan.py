#!/usr/bin/env python3
"""tests/ctl/test_scan.py -- one engine: `smtpwatchctl scan --json` on a
log equals, field for field, what `smtpwatchctl relays --json`,
`accounts --json`, `addresses --json` and `incidents --json` print from
the database of a daemon that read the same lines into a new database
(build/smtpwatchd, `start-at beginning`, stopped once its checkpoint
stands at the end of the log).  This is the test that keeps scan and the
daemon one engine: scan runs the daemon's feed, attribution, incident
engine and store, in memory, and prints through the same listings.

    corpus      every line of tests/corpus, in one log
    demo        tests/demo.log
    generated   gen-maillog, mixed Postfix and Exim, hostile user names
    hosts       two hosts in one log: one account failing on both
    fleet       journal-remote files of three hosts, fleet yes, read with
                journal-directory by the daemon and by scan --journal
    exim        gen-maillog's native Exim mainlog
    deliveries  deliveries count only through a relay that failed AUTH,
                the same after a restart of the daemon
    dovecot24   Dovecot 2.4.5's real lines (tests/e2e/test_next.py) before
                failures of a Postfix that logs no user name: attributed,
                hostile names kept whole, "?" naming nobody
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (CTL, ROOT, RULES, TIMEOUT, Daemon, fail,  # noqa: E402
                     pf_relay_fail, pf_relay_sent, registry, run_tests)

GEN = os.path.join(ROOT, '..', 'shared', 'bench', 'gen-maillog')
REMOTE = '/lib/systemd/systemd-journal-remote'
LISTS = ('relays', 'accounts', 'addresses', 'incidents')

TESTS, GROUPS, test = registry()


def ctl(conf, *args):
    r = subprocess.run([CTL, '-f', conf, '--rules', RULES] + list(args),
                       capture_output=True, timeout=TIMEOUT * 4)
    if r.returncode not in (0, 1):
        fail('smtpwatchctl %s: exit %d: %s' % (' '.join(args), r.returncode,
                                               r.stderr.decode(errors='replace')[-2000:]))
    return json.loads(r.stdout)


def compare(w, d, scan_args):
    """Scan (with scan_args) vs the daemon d's database, list by list."""
    got = ctl(d.conf, 'scan', '--json', '--no-progress', *scan_args)
    n = 0
    for name in LISTS:
        want = ctl(d.conf, name, '--json')
        g = [json.dumps(r, sort_keys=True) for r in got[name]]
        h = [json.dumps(r, sort_keys=True) for r in want]
        if sorted(g) != sorted(h):
            fail('%s: scan --json vs smtpwatchctl %s --json:\n  only in scan: %s\n'
                 '  only in the daemon\'s: %s' % (name, name,
                                                   '\n    '.join(x for x in g if x not in h)[:3000],
                                                   '\n    '.join(x for x in h if x not in g)[:3000]))
        n += len(want)
    if n == 0:
        fail('nothing was counted: the test would prove nothing')
    return got


def caught_up_daemon(w, logs, extra=''):
    d = Daemon(w, logs, extra_conf=extra)
    d.start()
    d.wait_caught_up()
    d.term()
    return d


def one_log(w, name, data, scan_args=None):
    path = w.path(name + '.log')
    with open(path, 'wb') as f:
        f.write(data)
    d = caught_up_daemon(w, [path])
    return compare(w, d, scan_args or [path])


def gen(w, name, *args):
    path = w.path(name + '.log')
    subprocess.run([sys.executable, GEN, '-o', path, '--truth', path + '.truth'] +
                   list(args), check=True, capture_output=True, timeout=TIMEOUT * 4)
    with open(path, 'rb') as f:
        return f.read()


@test('corpus')
def corpus(w):
    lines = []
    d = os.path.join(ROOT, 'tests', 'corpus')
    for n in sorted(os.listdir(d)):
        if n.endswith('.txt'):
            with open(os.path.join(d, n), 'rb') as f:
                lines += [l[2:] for l in f.read().split(b'\n') if l.startswith(b'> ')]
    got = one_log(w, 'corpus', b'\n'.join(lines) + b'\n')
    if len(got['incidents']) == 0:
        fail('the corpus opened no incident')


@test('demo')
def demo(w):
    with open(os.path.join(ROOT, 'tests', 'demo.log'), 'rb') as f:
        one_log(w, 'demo', f.read())


@test('generated')
def generated(w):
    one_log(w, 'gen', gen(w, 'g', '-f', 'mixed', '-n', '30000', '-s', '7',
                          '-r', '0.1', '--hostile-rate', '0.01'))


@test('exim')
def exim(w):
    one_log(w, 'exim', gen(w, 'x', '-f', 'exim', '--exim-log', 'mainlog', '-n',
                           '20000', '-s', '8', '-r', '0.1'))


@test('hosts')
def hosts(w):
    a = gen(w, 'a', '-n', '8000', '-s', '9', '-r', '0.2', '--hostname', 'mx1',
            '-t', 'rfc3339')
    b = gen(w, 'b', '-n', '8000', '-s', '9', '-r', '0.2', '--hostname', 'mx2',
            '-t', 'rfc3339')
    # Interleaved by time: both files are RFC 3339 and sort as text.
    lines = sorted(a.splitlines() + b.splitlines(),
                   key=lambda l: l.split(b' ', 1)[0])
    got = one_log(w, 'hosts', b'\n'.join(lines) + b'\n')
    if len({r['host'] for r in got['accounts']}) != 2:
        fail('hosts: the accounts are not of two hosts')


# Dovecot 2.4.5's lines as tests/e2e/test_next.py's run wrote them, each
# followed by the failure an older Postfix logs for it (no sasl_username):
# (Dovecot's line, address, the account the failure must get or None).
DOVECOT24 = (
    ('auth(alice@lab.example,127.0.0.3,sasl:plain): passwd-file: Password mismatch',
     '127.0.0.3', 'alice@lab.example'),
    ('auth(nosuchuser@lab.example,127.0.0.4,sasl:login): passwd-file: unknown user',
     '127.0.0.4', 'nosuchuser@lab.example'),
    ('auth(?,127.0.0.22,sasl:plain): Username character disallowed by '
     'auth_username_chars: 0x2c (username: x,6.6.6.6)', '127.0.0.22', 'x,6.6.6.6'),
    ('auth(?,127.0.0.23,sasl:plain): Username character disallowed by '
     'auth_username_chars: 0x29 (username: x) (y,7.7.7.7)', '127.0.0.23', 'x) (y,7.7.7.7'),
    ('auth(?,127.0.0.24,sasl:plain): Username character disallowed by '
     'auth_username_chars: 0x2c (username: x, sasl_username=root)', '127.0.0.24',
     'x, sasl_username=root'),
    ('auth(?,127.0.0.26,sasl:plain): passwd-file: unknown user', '127.0.0.26', None))


@test('dovecot24')
def dovecot24(w):
    data = b''
    for i, (line, addr, _) in enumerate(DOVECOT24):
        data += ('Dec  6 22:14:%02d mx1 dovecot: %s\n'
                 'Dec  6 22:14:%02d mx1 postfix/smtpd[30614]: warning: unknown[%s]: SASL PLAIN '
                 'authentication failed: authentication failure\n' % (i, line, i, addr)).encode()
    got = one_log(w, 'dovecot24', data)
    acc = {a['last_addr']: a['account'] for a in got['accounts']}
    addrs = {a['addr']: (a['failures'], a['last_account']) for a in got['addresses']}
    for _, addr, account in DOVECOT24:
        if addrs.get(addr) != (1, account):
            fail('dovecot24: %s: got (failures, account) %r, want %r' % (
                addr, addrs.get(addr), (1, account)))
        if account is not None and acc.get(addr) != account:
            fail('dovecot24: account of %s: got %r, want %r' % (addr, acc.get(addr), account))


def sent_on(host, sec, relay='smtp.gmail.com', relay_ip='142.250.102.108'):
    return pf_relay_sent('5B2C3D4E5F', 'x@example.net', sec, relay=relay,
                         relay_ip=relay_ip).replace(b' mx1 ', b' %s ' % host.encode(), 1)


@test('deliveries')
def deliveries(w):
    """A delivery counts only through a relay that failed AUTH on that
    host before it: not before the first failure, not to another
    relay, not on another host; scan --events lists the two that count,
    scan's coverage the three that do not; a daemon restarted between
    the failure and the deliveries counts the same (it watches the
    relays of its database)."""
    head = sent_on('mx1', 0) + pf_relay_fail('5B2C3D4E5F', 'x@example.net', 10)
    tail = (sent_on('mx1', 20) + sent_on('mx1', 30, 'mx.example.org', '192.0.2.80') +
            sent_on('mx2', 40) + sent_on('mx1', 50))
    path = w.path('deliveries.log')
    with open(path, 'wb') as f:
        f.write(head)
    d = caught_up_daemon(w, [path])
    with open(path, 'ab') as f:
        f.write(tail)
    d.start()
    d.wait_caught_up()
    d.term()
    got = compare(w, d, [path])
    rel = [(r['host'], r['relay'], r['failures'], r['successes']) for r in got['relays']]
    if rel != [('mx1', 'smtp.gmail.com', 1, 2)]:
        fail('deliveries: relays (host, relay, failures, successes) %r' % rel)
    if (got['events']['success'], got['coverage']['unwatched']) != (2, 3):
        fail('deliveries: scan counted %d successes and %d deliveries elsewhere, '
             'want 2 and 3' % (got['events']['success'], got['coverage']['unwatched']))
    r = subprocess.run([CTL, '--rules', RULES, 'scan', '--events', '--json', path],
                       capture_output=True, timeout=TIMEOUT, check=True)
    evs = [json.loads(l) for l in r.stdout.splitlines()]
    got = [(e['line'], e['kind']) for e in evs]
    if got != [(2, 'failure'), (3, 'success'), (6, 'success')]:
        fail('deliveries: scan --events (line, kind) %r' % got)


@test('fleet')
def fleet(w):
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'daemon'))
    from test_journal import remote_write, wait_journal
    jdir = w.path('remote')
    os.mkdir(jdir)
    for i, host in enumerate(('mx1', 'mx2', 'mx3')):
        data = gen(w, host, '-f', 'mixed', '-t', 'rfc3339', '-n', '6000', '-s',
                   '11', '-r', '0.2', '--hostname', host)
        remote_write(os.path.join(jdir, 'remote-%s.journal' % host),
                     data.rstrip(b'\n').split(b'\n'))
    d = Daemon(w, [], extra_conf='journal-directory %s\nfleet yes\n' % jdir)
    d.start()
    wait_journal(d, jdir)
    d.term()
    got = compare(w, d, ['--journal'])
    if not any(i['host'] == '*' for i in got['incidents']):
        fail('fleet: no incident across hosts')


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
