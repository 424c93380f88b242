#!/usr/bin/env python3
"""tests/daemon/test_journal.py -- the systemd journal as a source.

    live       a real journald (started when nothing answers): entries
               written with `logger --journald` and systemd-cat under
               Postfix and Exim identifiers are counted (others are not, nor
               an identifier that is not a plain name), the relay refusal is
               alerted; across journalctl --rotate, a restart and kill -9
               the counts go on exactly from the cursor
    exactly    a gen-maillog corpus made into journal export streams and
               written by systemd-journal-remote into a directory in
               bursts, the daemon (journal-directory) killed -9 between
               and during them: the totals equal the generator's truth
    fleet      three hosts' corpora in one journal-remote directory: the
               counts per host equal each host's truth, and the fleet's
               their sum
    attack     one account failing on three hosts is one fleet incident
               (none per host below the threshold), named in the journal
               and by smtpwatchctl status with its hosts
    hostile    a NUL in the host name or identifier: skipped; an empty or
               non-numeric pid: left out
    vacuum     the entry the checkpoint names is gone (the journal file
               replaced): the daemon says so, with the time span that may
               be lost, and reads on from the first entry after it
    scan       smtpwatchctl scan --journal gives the report scan FILE gives
               for the same lines, and --since leaves the older ones out

The switch between the journal and a log that carries the same lines
(group switch; each line goes to the live journal and, once "rsyslog is
installed", to the log file as rsyslog writes it from the journal):

    to-file    journal auto, no log: the journal is read; the log appears
               while the daemon is killed -9 (the switch at the start,
               then killed again once it is committed), and while it
               runs: the log takes over, every failure counted once;
               then journal yes: the retired journal read from its end
    to-journal journal auto, the log read: it is removed while the
               daemon is killed -9 (the switch at the start, killed again
               once committed; a reload): the journal takes over from the
               last line of the log, lines only in the journal counted,
               the others once; the log comes back and takes over again,
               and goes again while it runs
    both       journal yes with the log: a line in both is counted once
               (repeats of one line too), a line in one of them once, one
               warning naming both; a backlog in both after kill -9
    switches   rounds of random steps: failures, rsyslog installed or
               removed, kill -9 at random moments; each counted once
"""

import datetime
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import (CTL, RULES, TIMEOUT, Daemon, Journal, account_failures,  # noqa: E402
                     account_rows, address_failures, canon_ip, ctl_events, ensure_journald,
                     eq, fail, journal_send, query, relay_counts, relay_oracle, registry,
                     run_tests)

SHARED = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'shared'))
GEN = os.path.join(SHARED, 'bench', 'gen-maillog')
REMOTE = '/lib/systemd/systemd-journal-remote'
BOOT = uuid.UUID(int=0x0123456789abcdef0123456789abcdef).hex

TESTS, GROUPS, test = registry()


# ---------------------------------------------------------------------------
# Journal export streams from syslog lines
# ---------------------------------------------------------------------------

LINE = re.compile(rb'^(\S+) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)$', re.S)


def export(lines, mono=[0]):
    """The entries of syslog lines (RFC 3339 stamps) in the journal export
    format; MESSAGE in the binary form, so any byte goes through."""
    out = bytearray()
    for line in lines:
        m = LINE.match(line)
        if not m:
            fail('not a syslog line: %r' % line[:200])
        ts = datetime.datetime.fromisoformat(m.group(1).decode())
        mono[0] += 1
        out += b'__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n' % (
            int(ts.timestamp() * 1000000), mono[0], BOOT.encode())
        out += b'_HOSTNAME=%s\nSYSLOG_IDENTIFIER=%s\n' % (m.group(2), m.group(3))
        if m.group(4):
            out += b'SYSLOG_PID=%s\n' % m.group(4)
        msg = m.group(5)
        out += b'MESSAGE\n' + struct.pack('<Q', len(msg)) + msg + b'\n\n'
    return bytes(out)


def remote_write(path, lines):
    """Appends the lines' entries to the journal file path, as
    systemd-journal-remote writes what hosts upload."""
    r = subprocess.run([REMOTE, '--output=' + path, '-'], input=export(lines),
                       capture_output=True, timeout=TIMEOUT)
    if r.returncode != 0:
        fail('systemd-journal-remote: exit %d: %s' % (r.returncode, r.stderr.decode()[-2000:]))


def corpus(w, name, host, seed, n, hostile='0'):
    """gen-maillog lines (RFC 3339, mixed Postfix and Exim) and the truth;
    hostile: the share of lines with attacker-made user names."""
    path, truth = w.path(name + '.log'), w.path(name + '.truth.json')
    subprocess.run([sys.executable, GEN, '-f', 'mixed', '-t', 'rfc3339', '-n', str(n),
                    '-s', str(seed), '--hostname', host, '--hostile-rate', hostile,
                    '-o', path, '--truth', truth], check=True, capture_output=True)
    with open(path, 'rb') as f:
        lines = [l.rstrip(b'\n') for l in f]
    with open(truth) as f:
        return lines, json.load(f)


def want(truth):
    return ({bytes.fromhex(x['hex']): x['failures'] for x in truth['accounts']},
            {canon_ip(x['ip']): x['failures'] for x in truth['client_ips']},
            {x['relay']: x['failures'] for x in truth['relays']})


def check_truth(db, truth, what, lines, host=None):
    """The database against the generator's truth: accounts, addresses,
    and relays, whose failures and affected events (the truth counts a
    [CACHED] line as a failure, smtpwatch as affected) are checked on
    the events of scan, and the messages held back against
    harness.relay_oracle() of those events."""
    acc, ips, rel = want(truth)
    with tempfile.NamedTemporaryFile() as f:
        f.write(b''.join(l + b'\n' for l in lines))
        f.flush()
        orc = relay_oracle(ctl_events(f.name), host)
    eq({k: v[0] + v[2] for k, v in orc.items() if v[0] + v[2]}, rel,
       '%s: scan\'s relay failures and affected events vs the truth' % what)
    if host is None:
        got_acc, got_ip = account_failures(db), address_failures(db)
        got_rel = {k: tuple(v) for k, v in relay_counts(db).items()}
    else:
        got_acc = {a: r['failures'] for (h, a), r in account_rows(db).items()
                   if h == host and r['failures']}
        got_ip = {}
        for r in query(db, 'SELECT addr, failures FROM address_totals WHERE host = ? '
                           'AND failures > 0', (host,)):
            got_ip[canon_ip(r['addr'])] = r['failures']
        got_rel = {r['relay']: (r['failures'], r['affected']) for r in query(
            db, 'SELECT relay, failures, affected FROM relay_totals WHERE host = ?', (host,))
            if r['failures'] + r['affected']}
    eq(got_acc, acc, '%s: failures per account' % what)
    eq(got_ip, ips, '%s: failures per address' % what)
    eq(got_rel, {k: (v[0], v[1]) for k, v in orc.items() if v[0] + v[1]},
       '%s: relay failures and messages held back' % what)


def jdaemon(w, extra, **kw):
    return Daemon(w, [], extra_conf=extra, asan=True, **kw)


def last_cursor(jdir):
    out = subprocess.run(['journalctl', '-D', jdir, '-n', '1', '-o', 'json', '--no-pager'],
                         capture_output=True, check=True, timeout=TIMEOUT).stdout
    return json.loads(out)['__CURSOR'] if out.strip() else None


def wait_journal(d, jdir):
    """Waits until the checkpoint stands after the directory's last entry
    with nothing held."""
    source = 'journal:' + jdir
    last = last_cursor(jdir)

    def there():
        cp = d.checkpoint(source)
        return (cp is not None and cp['cursor'] == last and
                cp['offset'] == cp['cursor_seq'] + 1)
    d._wait(there, 'the checkpoint of %s at its last entry' % source,
            detail=lambda: '%s\nlast entry %s' % (d.checkpoint(source), last))


# ---------------------------------------------------------------------------
# The live journal
# ---------------------------------------------------------------------------

def logger(ident, msg, pid=None):
    fields = 'SYSLOG_IDENTIFIER=%s\nMESSAGE=%s\n' % (ident, msg)
    if pid is not None:
        fields += 'SYSLOG_PID=%d\n' % pid
    subprocess.run(['logger', '--journald'], input=fields.encode(), check=True)


def pf_fail(user, ip):
    return ('warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, '
            'sasl_username=%s' % (ip, user))


def exim_fail(user, ip):
    return ('plain_server authenticator failed for (client.example) [%s]: '
            '535 Incorrect authentication data (set_id=%s)' % (ip, user))


RELAY_FAIL = ('4F1A211E0B2: to=<ops@partner.example>, relay=smtp.gmail.com[142.250.102.108]:587, '
              'delay=0.41, delays=0.02/0.01/0.38/0, dsn=4.7.8, status=deferred (SASL '
              'authentication failed; server smtp.gmail.com[142.250.102.108] said: 535-5.7.8 '
              'Username and Password not accepted. For more information, go to 535 5.7.8  '
              'https://support.google.com/mail/?p=BadCredentials a1-20020a170906b00ab2f9fd1e3f1sm'
              '1234567ejb.12 - gsmtp)')


@test('live')
def live(w):
    ensure_journald()
    tag = uuid.uuid4().hex[:8]
    alice, bob = 'alice-%s@example.com' % tag, 'bob-%s@example.com' % tag
    d = jdaemon(w, 'journal yes\nstart-at end\ncontrol %s' % w.path('control.sock'),
                start_at=None)
    d.start()
    j = Journal(d)
    logger('postfix/submission/smtpd', pf_fail(alice, '203.0.113.5'), 4242)
    logger('exim4', exim_fail(bob, '198.51.100.7'), 4343)
    logger('postfix/smtp', RELAY_FAIL, 4444)
    # Not mail programs, or not a plain name: never counted.
    logger('sshd', pf_fail(alice, '192.0.2.1'))
    logger('postfix/smtpd x', pf_fail(alice, '192.0.2.2'))
    subprocess.run(['systemd-cat', '-t', 'postfix/smtpd'],
                   input=(pf_fail(bob, '198.51.100.8') + '\n').encode(), check=True)
    wanted = {alice.encode(): 1, bob.encode(): 2}
    d.wait_until(lambda: account_failures(d.db) == wanted, 'the journal entries counted')
    j.wait_kind('relay-rejected')
    eq(relay_counts(d.db), {'smtp.gmail.com': (1, 1)}, 'relays (failures, held back)')
    # journald rotates its files: the reader follows into the new one.
    subprocess.run(['journalctl', '--rotate'], check=True, capture_output=True,
                   timeout=TIMEOUT)
    logger('postfix/submission/smtpd', pf_fail(alice, '203.0.113.5'), 4242)
    wanted[alice.encode()] = 2
    d.wait_until(lambda: account_failures(d.db) == wanted, 'the entry after a rotation')
    # A restart goes on from the cursor.
    d.term()
    logger('postfix/submission/smtpd', pf_fail(alice, '203.0.113.5'), 4242)
    d.start()
    logger('postfix/submission/smtpd', pf_fail(alice, '203.0.113.5'), 4242)
    wanted[alice.encode()] = 4
    d.wait_until(lambda: account_failures(d.db) == wanted, 'the entries around the restart')
    # kill -9 after a commit, with more written while it is down.
    d.kill9()
    for i in range(3):      # three processes: not Exim's syslog copies
        logger('exim4', exim_fail(bob, '198.51.100.7'), 4350 + i)
    d.start()
    wanted[bob.encode()] = 5
    d.wait_until(lambda: account_failures(d.db) == wanted, 'the entries after kill -9')
    logger('postfix/submission/smtpd', pf_fail(alice, '203.0.113.5'), 4242)
    wanted[alice.encode()] = 5
    d.wait_until(lambda: account_failures(d.db) == wanted, 'the entry after the restart')
    eq(account_failures(d.db), wanted, 'failures per account, at the end')
    out = subprocess.run([CTL, '--rules', RULES, '-f', d.conf, 'status'],
                         capture_output=True, text=True, timeout=TIMEOUT).stdout
    if not re.search(r'(?m)^  journal +open ', out):
        fail('smtpwatchctl status shows no journal source:\n' + out)
    d.term()


# ---------------------------------------------------------------------------
# A journal directory (systemd-journal-remote)
# ---------------------------------------------------------------------------

@test('exactly')
def exactly(w):
    lines, truth = corpus(w, 'mx1', 'mx1', 31, 40000, hostile='0.005')
    jdir = w.path('remote')
    os.mkdir(jdir)
    out = os.path.join(jdir, 'remote-mx1.journal')
    d = jdaemon(w, 'journal-directory %s\nbatch-events 500' % jdir, start_at='beginning')
    rng = random.Random(7)
    pos, kills = 0, 0
    d.start()
    while pos < len(lines):
        n = rng.randint(500, 6000)
        remote_write(out, lines[pos:pos + n])
        pos += n
        if rng.random() < 0.6:
            if rng.random() < 0.5:      # during the catch-up, or once caught up
                d.wait_until(lambda: d.checkpoint('journal:' + jdir) is not None,
                             'a first checkpoint')
            else:
                wait_journal(d, jdir)
            d.kill9()
            kills += 1
            if rng.random() < 0.5 and pos < len(lines):     # written while down
                n = rng.randint(100, 2000)
                remote_write(out, lines[pos:pos + n])
                pos += n
            d.start()
    wait_journal(d, jdir)
    print('exactly: %d lines in bursts, %d kill -9' % (len(lines), kills))
    check_truth(d.db, truth, 'journal directory vs truth', lines)
    d.term()


@test('fleet')
def fleet(w):
    jdir = w.path('remote')
    os.mkdir(jdir)
    truths, corpora = {}, {}
    for i, host in enumerate(('mx1', 'mx2', 'mx3')):
        lines, truths[host] = corpus(w, host, host, 40 + i, 6000)
        corpora[host] = lines
        remote_write(os.path.join(jdir, 'remote-%s.journal' % host), lines)
    d = jdaemon(w, 'journal-directory %s' % jdir, start_at='beginning')
    d.start()
    wait_journal(d, jdir)
    for host, truth in truths.items():
        check_truth(d.db, truth, 'host %s' % host, corpora[host], host=host)
    # Fleet-wide: every host's failures, summed.
    total = {}
    for truth in truths.values():
        for a, n in want(truth)[0].items():
            total[a] = total.get(a, 0) + n
    eq(account_failures(d.db), total, 'failures per account across the fleet')
    hosts = {r['host'] for r in query(d.db, 'SELECT DISTINCT host FROM account_totals')}
    eq(hosts, {'mx1', 'mx2', 'mx3'}, 'hosts of the accounts')
    d.term()


@test('attack')
def attack(w):
    """One account attacked on three hosts, two failures on each, with the
    threshold at five: one fleet incident (host '*', hosts mx1 mx2 mx3)
    and one account-failing entry; with fleet no, none."""
    jdir = w.path('remote')
    os.mkdir(jdir)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    for i, host in enumerate(('mx1', 'mx2', 'mx3')):
        lines = []
        for k in range(2):
            ts = (now - datetime.timedelta(seconds=60 - 10 * i - k)).isoformat()
            lines.append(('%s %s postfix/submission/smtpd[%d]: warning: unknown[198.51.100.%d]: '
                          'SASL LOGIN authentication failed: UGFzc3dvcmQ6, '
                          'sasl_username=victim@example.com' % (ts, host, 100 + k, 10 * i + k)
                          ).encode())
        remote_write(os.path.join(jdir, 'remote-%s.journal' % host), lines)
    for fleet, want in (('no', 0), ('yes', 1)):
        d = jdaemon(w, 'journal-directory %s\nfleet %s\ncontrol %s' % (
            jdir, fleet, w.path('control-%s.sock' % fleet)), start_at='beginning',
            name='fleet-' + fleet)
        d.start()
        j = Journal(d)
        wait_journal(d, jdir)
        eq({h: r['failures'] for (h, a), r in account_rows(d.db).items()},
           {'mx1': 2, 'mx2': 2, 'mx3': 2}, 'fleet %s: failures per host' % fleet)
        got = [e for e in j.sync() if e.get('SMTPWATCH_KIND') == 'account-failing']
        eq(len(got), want, 'fleet %s: account-failing entries' % fleet)
        rows = query(d.db, "SELECT host, hosts, failures FROM incidents WHERE kind = 'account'")
        if fleet == 'no':
            eq(rows, [], 'fleet no: account incidents')
            d.term()
            continue
        eq([(r['host'], r['hosts'], r['failures']) for r in rows], [('*', 'mx1 mx2 mx3', 6)],
           'fleet yes: the account incident (host, hosts, failures)')
        eq((got[0].get('SMTPWATCH_HOST'), got[0].get('SMTPWATCH_HOSTS')), ('*', 'mx1 mx2 mx3'),
           'the entry\'s host fields')
        if 'on hosts mx1 mx2 mx3' not in got[0].get('MESSAGE', ''):
            fail('the entry does not name the hosts: %r' % got[0].get('MESSAGE'))
        out = subprocess.run([CTL, '--rules', RULES, '-f', d.conf, 'status'],
                             capture_output=True, text=True, timeout=TIMEOUT).stdout
        if 'account victim@example.com on hosts mx1 mx2 mx3' not in out:
            fail('smtpwatchctl status does not show the fleet incident:\n' + out)
        d.term()


def entry(fields):
    """One export-format entry: the __ fields as text, as the format
    wants them, the others in the binary form, so any byte goes through."""
    out = bytearray()
    for k, v in fields:
        if k.startswith(b'__'):
            out += k + b'=' + v + b'\n'
        else:
            out += k + b'\n' + struct.pack('<Q', len(v)) + v + b'\n'
    return bytes(out) + b'\n'


@test('hostile')
def hostile(w):
    """Envelope fields the journal holds as bytes: a host name or an
    identifier with a NUL in it is skipped (it would cut the envelope
    short), a pid that is empty or not digits is left out; the message
    keeps its bytes."""
    jdir = w.path('remote')
    os.mkdir(jdir)
    msg = (b'warning: unknown[203.0.113.%d]: SASL LOGIN authentication failed: '
           b'UGFzc3dvcmQ6, sasl_username=%s')
    usec = int(datetime.datetime(2026, 11, 28, 4, tzinfo=datetime.timezone.utc).timestamp()
               * 1000000)
    cases = [  # (host, identifier, pid, user): counted when the user starts with ok
        (b'mx1\0evil', b'postfix/smtpd', b'42', b'nul-host@example.com'),
        (b'mx1', b'postfix/smtpd\0x', b'42', b'nul-tag@example.com'),
        (b'mx1', b'postfix/smtpd', b'', b'ok-empty-pid@example.com'),
        (b'mx1', b'postfix/smtpd', b'4x2', b'ok-bad-pid@example.com'),
        (b'mx1', b'postfix/smtpd', b'42', b'ok-plain@example.com'),
    ]
    data = b''
    for i, (host, ident, pid, user) in enumerate(cases):
        data += entry([(b'__REALTIME_TIMESTAMP', b'%d' % (usec + i)),
                       (b'__MONOTONIC_TIMESTAMP', b'%d' % (i + 1)),
                       (b'_BOOT_ID', BOOT.encode()), (b'_HOSTNAME', host),
                       (b'SYSLOG_IDENTIFIER', ident), (b'SYSLOG_PID', pid),
                       (b'MESSAGE', msg % (i + 1, user))])
    r = subprocess.run([REMOTE, '--output=' + os.path.join(jdir, 'remote-mx1.journal'), '-'],
                       input=data, capture_output=True, timeout=TIMEOUT)
    if r.returncode != 0:
        fail('systemd-journal-remote: %s' % r.stderr.decode()[-2000:])
    d = jdaemon(w, 'journal-directory %s' % jdir, start_at='beginning')
    d.start()
    wait_journal(d, jdir)
    eq(account_failures(d.db), {u: 1 for (_, _, _, u) in cases if u.startswith(b'ok')},
       'failures per account')
    eq({h for (h, a) in account_rows(d.db)}, {'mx1'}, 'hosts')
    d.term()


@test('vacuum')
def vacuum(w):
    lines, _ = corpus(w, 'mx1', 'mx1', 50, 4000)
    jdir = w.path('remote')
    os.mkdir(jdir)
    out = os.path.join(jdir, 'remote-mx1.journal')
    remote_write(out, lines[:2000])
    d = jdaemon(w, 'journal-directory %s' % jdir, start_at='beginning')
    d.start()
    wait_journal(d, jdir)
    before = sum(account_failures(d.db).values())
    d.term()
    # The file is vacuumed away; a new one starts well after its end.
    os.unlink(out)
    later = []
    for l in lines[2000:]:
        m = LINE.match(l)
        ts = datetime.datetime.fromisoformat(m.group(1).decode()) + datetime.timedelta(hours=1)
        later.append(ts.isoformat().encode() + l[len(m.group(1)):])
    remote_write(out, later)
    mark = d.err_mark()
    d.start()
    d.wait_stderr(r'journal:%s: the entry read last \(\S+\) is no longer in the journal '
                  r'\(vacuumed or rotated away\): reading on from the first entry after it, '
                  r'of \S+; entries of the \d+ s between may have been lost' % re.escape(jdir),
                  since=mark)
    wait_journal(d, jdir)
    after = sum(account_failures(d.db).values())
    want_after = sum(1 for e in scan_events(w, later) if e['kind'] == 'failure' and
                     e['direction'] == 'server' and e.get('account_hex') is not None)
    eq(after - before, want_after, 'failures counted from the new file')
    d.term()


def scan_events(w, lines):
    path = w.path('scan-%d.log' % len(lines))
    with open(path, 'wb') as f:
        f.write(b'\n'.join(lines) + b'\n')
    out = subprocess.run([CTL, '--rules', RULES, 'scan', '--events', '--json', path],
                         capture_output=True, check=True, timeout=TIMEOUT).stdout
    return [json.loads(l) for l in out.splitlines()]


@test('scan')
def scan(w):
    lines, _ = corpus(w, 'mx1', 'mx1', 60, 5000)
    jdir = w.path('remote')
    os.mkdir(jdir)
    remote_write(os.path.join(jdir, 'remote-mx1.journal'), lines)
    conf = w.path('scan.conf')
    with open(conf, 'w') as f:
        f.write('journal-directory %s\n' % jdir)
    path = w.path('mx1.log')

    def report(*args):
        r = subprocess.run([CTL, '--rules', RULES, '-f', conf, 'scan', '--json'] + list(args),
                           capture_output=True, timeout=TIMEOUT)
        if r.returncode != 0:
            fail('smtpwatchctl scan %s: exit %d: %s' % (' '.join(args), r.returncode,
                                                      r.stderr.decode()))
        js = json.loads(r.stdout)
        js.pop('files', None)
        return js
    got, exp = report('--journal'), report(path)
    if sum(got['events'].values()) == 0:
        fail('scan --journal found no events')
    eq(got, exp, 'scan --journal report vs scan FILE')
    # The corpus is of 2026-11-28: --since 1m leaves all of it out.
    recent = report('--journal', '--since', '1m')
    eq((recent['lines'], sum(recent['events'].values())), (0, 0),
       'scan --journal --since 1m (lines, events)')


# ---------------------------------------------------------------------------
# The switch between the journal and a log with the same lines
# ---------------------------------------------------------------------------

HOST = socket.gethostname()
SWITCH_CONF = 'journal %s\nstart-at end\npoll-interval 200ms\ncontrol %s'


class Mta:
    """A Postfix logging failures of one account: each line goes to the
    live journal (journald's native socket) and, while `file` is set, to
    that log as rsyslog writes it from the journal (classic stamp of when
    it is written, this host, tag[pid]).  `want` counts the failures
    logged, each once."""

    def __init__(self, tag):
        self.tag = tag
        self.account = 'sw-%s@example.com' % tag
        self.want = 0
        self.n = 0
        self.barriers = 0

    def message(self, n, user=None):
        return pf_fail(user or self.account, '203.0.113.%d' % (n % 250 + 1))

    def to_journal(self, msg, pid):
        journal_send({'SYSLOG_IDENTIFIER': 'postfix/smtpd', 'SYSLOG_PID': str(pid),
                      'MESSAGE': msg})

    def to_file(self, path, msg, pid):
        stamp = time.strftime('%b %e %H:%M:%S', time.gmtime())
        with open(path, 'ab') as f:
            f.write(('%s %s postfix/smtpd[%d]: %s\n' % (stamp, HOST, pid, msg)).encode())

    def fail(self, journal=True, file=None, repeat=1, same=None):
        """Logs one failure (repeat times the same line); returns
        (message, pid) for a copy written later."""
        self.n += 1
        n = same if same is not None else self.n
        msg, pid = self.message(n), 20000 + n
        for _ in range(repeat):
            if journal:
                self.to_journal(msg, pid)
            if file:
                self.to_file(file, msg, pid)
            self.want += 1
        return msg, pid

    def barrier(self, d, journal=True, file=None):
        """A failure of another account, logged last, and waited for: the
        lines logged before it in the same source were read by then."""
        self.barriers += 1
        user = 'barrier%d-%s@example.com' % (self.barriers, self.tag)
        msg, pid = self.message(0, user), 29000 + self.barriers
        if journal:
            self.to_journal(msg, pid)
        if file:
            self.to_file(file, msg, pid)
        d.wait_until(lambda: account_failures(d.db).get(user.encode()) == 1,
                     'barrier %d counted' % self.barriers)

    def barrier_each(self, d, file):
        """With journal yes both sources are read, and a barrier in both
        counts from the one that reads it first while the other may be
        behind (a loaded machine, once in seven runs): a barrier of its
        own in each, each waited for."""
        self.barrier(d, journal=False, file=file)
        self.barrier(d)

    def check(self, d, what):
        got = account_failures(d.db)
        eq(got.get(self.account.encode(), 0), self.want, '%s: failures of %s' % (
            what, self.account))
        barriers = {a: n for a, n in got.items() if a.startswith(b'barrier') and
                    a.endswith(self.tag.encode() + b'@example.com')}
        eq(sorted(set(barriers.values())), [1] if barriers else [],
           '%s: each barrier counted once' % what)


def switch_daemon(w, mode, log, name='smtpwatchd'):
    return Daemon(w, [log], extra_conf=SWITCH_CONF % (mode, w.path(name + '.sock')),
                  asan=True, start_at=None, name=name)


def status_states(d):
    """PATH -> STATE of smtpwatchctl status."""
    out = subprocess.run([CTL, '--rules', RULES, '-f', d.conf, 'status', '--json'],
                         capture_output=True, text=True, timeout=TIMEOUT).stdout
    return {s['path']: 'active' if s['active'] else 'standby' for s in
            json.loads(out)['sources']}


def count_since(d, regex, mark):
    return len(re.findall(regex, d.err_text(mark)))


def retired(d, source):
    """Whether the committed checkpoint of source says a hand-over
    stopped it (feed.c: "SWF3" or "SWF2", year and month, then the
    flags)."""
    cp = d.checkpoint(source)
    st = cp.get('state') if cp else None
    if isinstance(st, str):
        st = st.encode('utf-8', 'surrogateescape')
    return bool(st) and st[:4] in (b'SWF3', b'SWF2') and \
        int.from_bytes(st[12:16], sys.byteorder) & 1 == 1


TO_FILE = r'sources: %s (appeared|exists): reading the logs instead of the journal'
TO_JOURNAL = r'sources: every log is gone \(%s, removed and not back within 3 poll ' \
             r'intervals\): reading the journal instead'


@test('to-file')
def to_file(w):
    ensure_journald()
    m = Mta(uuid.uuid4().hex[:8])
    log = w.path('mail.log')
    d = switch_daemon(w, 'auto', log)
    d.start()
    eq(status_states(d), {log: 'standby', 'journal': 'active'}, 'sources before')
    for _ in range(4):                  # no rsyslog: the journal only
        m.fail()
    m.fail(repeat=3)                    # one line three times
    m.barrier(d)
    m.check(d, 'the journal alone')
    d.kill9()
    # While it is down: more in the journal, then rsyslog is installed.
    m.fail()
    m.fail()
    for _ in range(3):
        m.fail(file=log)
    mark = d.err_mark()
    d.start()                           # the switch, committed with READY
    d.wait_stderr(TO_FILE % re.escape(log), since=mark)
    if not retired(d, 'journal'):
        fail('the journal\'s checkpoint does not say it was retired')
    m.fail(file=log)
    d.kill9()                           # just after the switch
    m.fail(file=log)
    mark = d.err_mark()
    d.start()
    m.barrier(d, file=log)
    m.check(d, 'after the log appeared while down, kill -9 after the switch')
    eq(status_states(d), {log: 'active', 'journal': 'standby'}, 'sources after')
    # rsyslog lags: lines in the journal reach the log a little later.
    late = [m.fail() for _ in range(3)]
    for msg, pid in late:
        m.to_file(log, msg, pid)
    m.fail(file=log, repeat=2)
    m.barrier(d, file=log)
    m.check(d, 'lines written to the log after the journal')
    if count_since(d, TO_FILE % re.escape(log), mark) > 1:
        fail('the switch was logged more than once:\n' + d.err_text(mark))
    d.term()
    # journal yes now: the retired journal is read from its end, not
    # again from where it stopped.
    m.fail(file=log)
    d.extra_conf = SWITCH_CONF % ('yes', w.path('smtpwatchd.sock'))
    d.write_conf()
    d.start()
    m.fail(file=log)
    m.barrier(d, file=log)
    m.check(d, 'journal yes after the switch')
    d.term()
    # The same while the daemon runs: a fresh log directory, the journal
    # read, the log appears with lines the journal had.
    log2 = w.path('mail2.log')
    d2 = switch_daemon(w, 'auto', log2, name='second')
    d2.start()
    m.fail()
    m.barrier(d2)
    early = m.fail()
    with open(log2, 'ab'):
        pass
    m.to_file(log2, *early)             # counted from the journal already?
    m.fail(file=log2)
    mark = d2.err_mark()
    m.barrier(d2, file=log2)
    d2.wait_stderr(TO_FILE % re.escape(log2), since=0)
    eq(account_failures(d2.db).get(m.account.encode(), 0), 3,
       'the running daemon: failures of %s' % m.account)
    d2.term()


@test('to-journal')
def to_journal(w):
    ensure_journald()
    m = Mta(uuid.uuid4().hex[:8])
    log = w.path('mail.log')
    m.to_file(log, 'connect from unknown[192.0.2.1]', 1)
    d = switch_daemon(w, 'auto', log)
    d.start()
    eq(status_states(d), {log: 'active', 'journal': 'standby'}, 'sources before')
    for _ in range(3):
        m.fail(file=log)
    m.fail(file=log, repeat=2)
    m.barrier(d, file=log)
    m.check(d, 'the log alone')
    # rsyslog is removed: the last lines reach the journal, not the log.
    m.fail(file=log)
    m.fail()
    m.fail()
    os.unlink(log)
    d.kill9()                           # before the switch
    m.fail()
    mark = d.err_mark()
    d.start()                           # no log: the journal takes over
    d.wait_stderr(TO_JOURNAL % re.escape(log), since=mark)
    if not retired(d, log):
        fail('the log\'s checkpoint does not say it was retired')
    m.fail()
    d.kill9()                           # just after the switch
    m.fail()
    d.start()
    m.barrier(d)
    m.check(d, 'the log removed while down, kill -9 after the switch')
    eq(status_states(d), {log: 'standby', 'journal': 'active'}, 'sources after')
    d.hup()                             # a reload changes nothing
    m.fail()
    m.barrier(d)
    m.check(d, 'after a reload')
    # rsyslog comes back: the log takes over again.
    mark = d.err_mark()
    m.fail()
    m.barrier(d)
    for _ in range(2):
        m.fail(file=log)
    d.wait_stderr(TO_FILE % re.escape(log), since=mark)
    m.barrier(d, file=log)
    m.check(d, 'the log back')
    # ... and goes while the daemon runs.
    m.fail(file=log)
    os.unlink(log)
    m.fail()
    mark = d.err_mark()
    d.wait_stderr(TO_JOURNAL % re.escape(log), since=mark)
    m.fail()
    m.barrier(d)
    m.check(d, 'the log removed while running')
    d.term()


@test('both')
def both(w):
    ensure_journald()
    m = Mta(uuid.uuid4().hex[:8])
    log = w.path('mail.log')
    m.to_file(log, 'connect from unknown[192.0.2.1]', 1)
    d = switch_daemon(w, 'yes', log)
    d.start()
    eq(status_states(d), {log: 'active', 'journal': 'active'}, 'sources')
    for _ in range(3):
        m.fail(file=log)                # both, the journal first
    m.fail(repeat=3, file=log)          # one line three times, in both
    m.fail()                            # the journal only
    msg, pid = m.message(99), 20099     # the log first, then the journal
    m.to_file(log, msg, pid)
    m.barrier_each(d, log)
    m.to_journal(msg, pid)
    m.want += 1
    m.barrier_each(d, log)
    m.check(d, 'both')
    d.wait_stderr(r'(journal and %s|%s and journal) carry the same lines \(journal yes\): '
                  r'a line read from both is counted once' % (re.escape(log), re.escape(log)))
    d.kill9()
    for _ in range(300):                # a backlog in both
        m.fail(file=log)
    d.start()
    m.fail(file=log)
    msg, pid = m.fail(journal=False, file=log)      # the log only
    m.barrier_each(d, log)
    m.check(d, 'both, after kill -9')
    warnings = len(re.findall(r'carry the same lines', d.err_text(d.run_err)))
    if warnings > 1:
        fail('the warning was logged %d times in one run' % warnings)
    d.term()

@test('switches')
def switches(w):
    """Rounds of random steps: failures logged (to the journal, and to the
    log while rsyslog is there, some twice), rsyslog installed (it lags
    a few lines) or removed (until the journal took over), kill -9 at
    random moments with lines logged while the daemon is down."""
    ensure_journald()
    rng = random.Random(3)
    for rnd in range(3):
        m = Mta(uuid.uuid4().hex[:8])
        log = w.path('mail%d.log' % rnd)
        d = switch_daemon(w, 'auto', log, name='round%d' % rnd)
        d.start()
        infile, kills, switches = False, 0, 0
        for _ in range(10):
            for _ in range(rng.randint(5, 40)):
                m.fail(file=log if infile else None, repeat=rng.choice([1, 1, 1, 2]))
            r = rng.random()
            if r < 0.3:
                time.sleep(rng.random() * 0.05)     # a random moment
                d.kill9()
                kills += 1
                for _ in range(rng.randint(0, 15)):
                    m.fail(file=log if infile else None)
                d.start()
            elif r < 0.5 and not infile:
                m.barrier(d)            # journald stored what came before
                late = [m.fail() for _ in range(rng.randint(0, 8))]
                open(log, 'ab').close()
                for msg, pid in late:
                    m.to_file(log, msg, pid)
                infile = True
                switches += 1
            elif r < 0.65 and infile:
                m.fail(file=log)
                os.unlink(log)
                infile = False
                switches += 1
                d.wait_until(lambda: status_states(d).get('journal') == 'active',
                             'the journal to take over')
        m.barrier(d, file=log if infile else None)
        print('switches round %d: %d failures, %d switches, %d kill -9' % (
            rnd, m.want, switches, kills))
        m.check(d, 'round %d' % rnd)
        d.term()


GROUPS['switch'] = ['to-file', 'to-journal', 'both', 'switches']


if __name__ == '__main__':
    if not os.path.exists(REMOTE):
        print('test_journal.py: %s is missing (contrib/deps check)' % REMOTE, file=sys.stderr)
        sys.exit(1)
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
