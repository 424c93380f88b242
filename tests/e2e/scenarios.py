"""scenarios.py -- the one list of end-to-end scenarios, shared by every
mail server the tests run: Debian 12's Postfix 3.7 + Dovecot 2.3 and
Exim 4.96 (test_postfix.py, test_exim.py: `make check`) and Debian
testing's (test_next.py: `make check-next`).  A scenario does something
to the mail server through a lab and writes down what smtpwatch must
count for it; judge() compares that with what `smtpwatchctl scan --json`
read from a log the server wrote.  Since every runner plays the same
scenarios and is judged the same way, a difference between two runs is
a difference between mail server versions, not between tests.

A lab (test_postfix.Lab, test_exim.EximLab, test_next's) offers:
    swaks(user, password, addr, mech, to=None)   one AUTH (and a message)
    submit(rcpt)          a message from RELAY_ACCOUNT, delivered at once
    relay_password(pw)    smtp.gmail.com's password; flush() retries the queue
    lines(needle)         lines of the log the waits read
    failed_mark, login_mark    a server failure's and a login's needles
    deferred(rcpt), delivered(rcpt), closed(addr)   what the log says
The relays (responder.py) answer on RESPONDERS' addresses, named in
/etc/hosts; ROUTES says which recipient domain goes through which name.
Each scenario uses client addresses and relay names of its own, so its
expectations can be checked apart from the others'.
"""

import base64
import json
import os
import socket

from harness import TIMEOUT, fail
from test_alerts import GMAIL_DIAG

RELAY_ACCOUNT = 'alerts@example.com'
RELAY_GOOD = 'app-password-16ch'
USERS = {'alice@lab.example': 'alice-pw', 'bob@lab.example': 'bob-pw',
         'carol@lab.example': 'carol-pw', 'dave@lab.example': 'dave-pw'}
M365_DIAG = 'microsoft365/535-5.7.139-smtp-auth-disabled-tenant'
# (name, address, reply style, the password it accepts): responder.py.
# A name listed twice has two addresses, tried in this order.
RESPONDERS = (('smtp.gmail.com', '127.0.0.2', 'gmail', RELAY_GOOD),
              ('smtp.office365.com', '127.0.0.12', 'm365', 'not-ours'),
              ('smtp.pair.example', '127.0.0.13', 'gmail', 'not-ours'),
              ('smtp.pair.example', '127.0.0.14', 'gmail', RELAY_GOOD),
              ('smtp.pair-bad.example', '127.0.0.15', 'gmail', 'not-ours'),
              ('smtp.pair-bad.example', '127.0.0.16', 'gmail', 'not-ours'))
# Recipient domain -> relay name; everything else goes to smtp.gmail.com.
ROUTES = (('m365.example', 'smtp.office365.com'),
          ('pair.example', 'smtp.pair.example'),
          ('pairbad.example', 'smtp.pair-bad.example'))


def hosts_lines():
    """/etc/hosts lines naming the relays (a name twice: two addresses)."""
    return ''.join('%s %s\n' % (ip, name) for name, ip, _, _ in RESPONDERS)


def poll_lab(lab, pred, what):
    from test_postfix import poll, read
    return poll(pred, what, detail=lambda: read(lab.log)[-3000:])


class Expect:
    """What smtpwatch must count for one scenario: server failures per
    account and per address, trouble per address, logins per account,
    and per relay (failures, held back, successes, state, diagnosis)."""

    def __init__(self, name, what):
        self.name, self.what = name, what
        self.accounts, self.addrs, self.trouble, self.logins = {}, {}, {}, {}
        self.relays = {}

    def failed(self, user, addr):
        self.accounts[user] = self.accounts.get(user, 0) + 1
        self.addrs[addr] = self.addrs.get(addr, 0) + 1


# ---------------------------------------------------------------------------
# The scenarios, in the order they run
# ---------------------------------------------------------------------------

def server_auth(lab, ex):
    """Wrong passwords and unknown users (PLAIN, LOGIN), a login with a
    message, a burst from one address, one account from four addresses."""
    for mech in ('PLAIN', 'LOGIN'):
        lab.swaks('alice@lab.example', 'not-alice-pw', '127.0.0.3', mech)
        ex.failed('alice@lab.example', '127.0.0.3')
        lab.swaks('nosuchuser@lab.example', 'whatever', '127.0.0.4', mech)
        ex.failed('nosuchuser@lab.example', '127.0.0.4')
    lab.swaks('alice@lab.example', USERS['alice@lab.example'], '127.0.0.3', 'LOGIN',
              to='someone@sink.lab.example')
    ex.logins['alice@lab.example'] = 1
    for _ in range(7):
        lab.swaks('carol@lab.example', 'old-carol-pw', '127.0.0.5', 'PLAIN')
        ex.failed('carol@lab.example', '127.0.0.5')
    for a in ('127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'):
        lab.swaks('bob@lab.example', 'not-bob-pw', a, 'LOGIN')
        ex.failed('bob@lab.example', a)
    n = sum(ex.addrs.values())
    poll_lab(lab, lambda: len(lab.lines(lab.failed_mark)) >= n, '%d AUTH failure lines' % n)
    poll_lab(lab, lambda: lab.lines(lab.login_mark), 'the successful login line')


# User names a client controls, made to move the address or the account
# of a parser that splits on them (Dovecot writes "auth(USER,ADDR,...)",
# Postfix ", sasl_username=USER", Exim "(set_id=USER)").
HOSTILE = (('x,6.6.6.6', '127.0.0.22'), ('x) (y,7.7.7.7', '127.0.0.23'),
           ('x, sasl_username=root', '127.0.0.24'), ('?', '127.0.0.25'))


def server_hostile_names(lab, ex):
    """AUTH PLAIN with the user names of HOSTILE, each from its own
    address: each a failure of that name from that address."""
    for user, addr in HOSTILE:
        lab.swaks(user, 'whatever', addr, 'PLAIN')
        ex.failed(user, addr)
    for _, addr in HOSTILE:
        poll_lab(lab, lambda: lab.closed(addr), 'the end of the session from %s' % addr)


def smtp_raw(addr, commands):
    """One SMTP session from addr to 127.0.0.1:25: EHLO, commands (each
    awaits its whole reply), QUIT.  Returns the replies' first lines."""
    s = socket.create_connection(('127.0.0.1', 25), timeout=TIMEOUT, source_address=(addr, 0))
    f = s.makefile('rb')

    def reply():
        while True:
            line = f.readline(4096)
            if not line:
                fail('smtp_raw: %s: connection closed by the server' % addr)
            if line[3:4] != b'-':
                return line.decode('ascii', 'replace').rstrip()

    try:
        got = [reply()]
        for c in ['EHLO client.lab.example'] + commands + ['QUIT']:
            s.sendall(c.encode() + b'\r\n')
            got.append(reply())
        return got
    finally:
        f.close()
        s.close()


def server_malformed(lab, ex):
    """AUTH PLAIN with an initial response that is not base64."""
    r = smtp_raw('127.0.0.20', ['AUTH PLAIN !!not=base64!!'])
    if not r[2].startswith('5'):
        fail('malformed AUTH: the server answered %r' % r[2])
    ex.trouble['127.0.0.20'] = 1
    poll_lab(lab, lambda: lab.closed('127.0.0.20'), 'the end of the malformed session')


def server_cancelled(lab, ex):
    """AUTH LOGIN cancelled by the client with "*"."""
    r = smtp_raw('127.0.0.21', ['AUTH LOGIN', '*'])
    if not r[2].startswith('334') or not r[3].startswith('501'):
        fail('cancelled AUTH: the server answered %r' % r[2:4])
    ex.trouble['127.0.0.21'] = 1
    poll_lab(lab, lambda: lab.closed('127.0.0.21'), 'the end of the cancelled session')


# One session, the same wrong AUTH PLAIN REPEATS times: the server logs
# the same line each time from the same process, which an rsyslog with
# $RepeatedMsgReduction on writes once, then "message repeated N-1
# times: [...]" (test_next.py checks that it did; Postfix logs there
# through a socket of its own, as on Debian 12, since rsyslog folds per
# socket and Dovecot's lines would come in between on /dev/log).
REPEATED_ADDR = '127.0.0.30'
REPEATED_USER = 'dave@lab.example'
REPEATS = 3


def server_repeated(lab, ex):
    """One session sending the same wrong AUTH PLAIN REPEATS times: each
    a failure, whether the log has the line REPEATS times or folded."""
    plain = base64.b64encode(b'\0%s\0not-dave-pw' % REPEATED_USER.encode()).decode()
    r = smtp_raw(REPEATED_ADDR, ['AUTH PLAIN ' + plain] * REPEATS)
    if [x[:3] for x in r[2:2 + REPEATS]] != ['535'] * REPEATS:
        fail('repeated AUTH: the server answered %r' % r[2:2 + REPEATS])
    for _ in range(REPEATS):
        ex.failed(REPEATED_USER, REPEATED_ADDR)
    poll_lab(lab, lambda: lab.closed(REPEATED_ADDR), 'the end of the repeated session')


def folded(text):
    """The lines of a syslog text in which rsyslog folded server_repeated's
    failures into "message repeated N times: [...]"."""
    return [l for l in text.splitlines()
            if ' message repeated ' in l and '[%s]' % REPEATED_ADDR in l]


def relay_gmail(lab, ex):
    """A message through smtp.gmail.com refused (Gmail's 535-5.7.8),
    then, after the password is fixed, sent."""
    lab.submit('ops@partner.example')
    poll_lab(lab, lambda: lab.deferred('ops@partner.example'), 'the deferral by smtp.gmail.com')
    lab.relay_password(RELAY_GOOD)
    lab.flush()
    poll_lab(lab, lambda: lab.delivered('ops@partner.example'),
             'the delivery through smtp.gmail.com')
    ex.relays['smtp.gmail.com'] = (1, 1, 1, 'ok', GMAIL_DIAG)


def relay_m365(lab, ex):
    """A message refused by a Microsoft-365-like relay (535 5.7.139)."""
    lab.submit('ops@m365.example')
    poll_lab(lab, lambda: lab.deferred('ops@m365.example'), 'the deferral by smtp.office365.com')
    ex.relays['smtp.office365.com'] = (1, 1, 0, 'failing', M365_DIAG)


def relay_pair_accept(lab, ex):
    """A relay name with two addresses: the first rejects AUTH, the
    second accepts and takes the message.  The first address's 535 is a
    failure of the relay (the MTA logs it: Postfix 3.7 as "QUEUEID: SASL
    authentication failed; server NAME[ADDR] said: ..."), the message was
    held back by it, and the delivery through the second ends the
    incident."""
    lab.submit('ops@pair.example')
    poll_lab(lab, lambda: lab.delivered('ops@pair.example'),
             'the delivery through smtp.pair.example\'s second address')
    ex.relays['smtp.pair.example'] = (1, 1, 1, 'ok', GMAIL_DIAG)


def relay_pair_reject(lab, ex):
    """A relay name with two addresses that both reject AUTH: one
    delivery attempt, two failures (one 535 per address), one message
    held back."""
    lab.submit('ops@pairbad.example')
    poll_lab(lab, lambda: lab.deferred('ops@pairbad.example'),
             'the deferral by smtp.pair-bad.example')
    ex.relays['smtp.pair-bad.example'] = (2, 1, 0, 'failing', GMAIL_DIAG)


SCENARIOS = ((server_auth, 'server-auth', 'AUTH failures and a login (PLAIN, LOGIN)'),
             (server_hostile_names, 'server-names', 'user names with , ( ) sasl_username= ?'),
             (server_malformed, 'server-malformed', 'AUTH PLAIN, not base64'),
             (server_cancelled, 'server-cancelled', 'AUTH LOGIN cancelled with *'),
             (server_repeated, 'server-repeated',
              'one session, the same wrong AUTH PLAIN %d times' % REPEATS),
             (relay_gmail, 'relay-gmail', 'Gmail-like 535-5.7.8, then recovery'),
             (relay_m365, 'relay-m365', 'Microsoft-365-like 535 5.7.139'),
             (relay_pair_accept, 'relay-pair-accept', 'two addresses: rejects, accepts'),
             (relay_pair_reject, 'relay-pair-reject', 'two addresses: both reject'))


def run(lab):
    """Plays every scenario on lab; returns their Expects, in order."""
    out = []
    for fn, name, what in SCENARIOS:
        ex = Expect(name, what)
        fn(lab, ex)
        out.append(ex)
    return out


# ---------------------------------------------------------------------------
# Judging what smtpwatch read
# ---------------------------------------------------------------------------

def view(scan):
    """The counts of one `smtpwatchctl scan --json` report, keyed as an
    Expect keys them (hosts summed: Exim's own log names none)."""
    v = {'accounts': {}, 'addrs': {}, 'trouble': {}, 'logins': {}, 'relays': {},
         'missed': scan['coverage']['missed']}
    for a in scan['accounts']:
        if a['direction'] != 'server':
            continue
        v['accounts'][a['account']] = v['accounts'].get(a['account'], 0) + a['failures']
        if a['successes']:
            v['logins'][a['account']] = v['logins'].get(a['account'], 0) + a['successes']
    for a in scan['addresses']:
        if a['failures']:
            v['addrs'][a['addr']] = v['addrs'].get(a['addr'], 0) + a['failures']
        if a['trouble']:
            v['trouble'][a['addr']] = v['trouble'].get(a['addr'], 0) + a['trouble']
    for r in scan['relays']:
        v['relays'][r['relay']] = (r['failures'], r['held_back'], r['successes'],
                                   r['state'], r['last_diagnosis'])
    return v


def judge(v, expects):
    """[(name, what, problems)] for each scenario: problems is a list of
    differences between what it expected and view v (empty: as expected).
    A scenario owns its keys: its addresses, accounts and relays; the
    addresses and relays no scenario names must not count at all."""
    rows = []
    seen = {'addrs': set(), 'trouble': set(), 'relays': set()}
    for ex in expects:
        probs = []
        for kind in ('accounts', 'addrs', 'trouble', 'logins', 'relays'):
            want = getattr(ex, kind)
            for k, w in sorted(want.items()):
                g = v[kind].get(k, 0 if kind != 'relays' else None)
                if g != w:
                    probs.append('%s %s: read %s, expected %s' % (kind, k, g, w))
            if kind in seen:
                seen[kind] |= set(want)
        rows.append((ex.name, ex.what, probs))
    extra = []
    if v['missed']:
        extra.append('%d lines about AUTH read by no rule (smtpwatchctl scan --missed)'
                     % v['missed'])
    for kind in ('addrs', 'trouble', 'relays'):
        for k in sorted(set(v[kind]) - seen[kind]):
            extra.append('%s %s: read %s, expected nothing' % (kind, k, v[kind][k]))
    if extra:
        rows.append(('unexpected', 'counts no scenario asked for', extra))
    return rows


def report(rows, title):
    """Prints the verdicts; returns the number of scenarios not as expected."""
    bad = 0
    print('--- %s' % title)
    for name, what, probs in rows:
        print('%-5s %-18s %s' % ('ok' if not probs else 'FAIL', name, what))
        for p in probs:
            print('        ' + p)
        bad += bool(probs)
    return bad


def must(rows):
    """Fails the test unless every scenario was counted as expected."""
    bad = [r for r in rows if r[2]]
    if bad:
        fail('scenarios not counted as expected:\n' + '\n'.join(
            '  %s: %s' % (n, '; '.join(p)) for n, _, p in bad))


def merged(expects):
    """One Expect: the sums of all of them (the daemon sees every scenario)."""
    m = Expect('all', 'every scenario')
    for ex in expects:
        for kind in ('accounts', 'addrs', 'trouble', 'logins'):
            d = getattr(m, kind)
            for k, v in getattr(ex, kind).items():
                d[k] = d.get(k, 0) + v
        m.relays.update(ex.relays)
    return m


def record(runner, versions, logs, folds=None):
    """With $SMTPWATCH_MATRIX set, writes runner's versions, its verdicts
    per log read ([(log name, judge() rows)]) and, for a syslog, the
    lines rsyslog folded ({log name: folded() lines}) to that file, as
    JSON, for tests/e2e/matrix.py."""
    path = os.environ.get('SMTPWATCH_MATRIX')
    if not path:
        return
    with open(path, 'w') as f:
        json.dump({'runner': runner, 'versions': versions,
                   'logs': [[name, rows] for name, rows in logs],
                   'folded': folds or {}}, f, indent=1)
