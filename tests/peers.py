#!/usr/bin/env python3
"""peers.py -- smtpwatch against the annotated test data of other tools.

Usage: tests/peers.py [-v] [-j N] [--only PREFIX] CTL RULESDIR

CTL is the smtpwatchctl binary (e.g. build/smtpwatchctl); every case is run
as `CTL scan --events --json --rules RULESDIR -` with the case's log lines
on standard input.  The peer data is read from ../shared/corpus/peers,
relative to the repository root (CI puts a copy of shared/ beside the
clone).  Python 3 standard library only.

Peers read (provenance: ../shared/corpus/peers/SOURCES.md):

* fail2ban/{postfix,exim,dovecot}: `# failJSON: {...}` applies to the very
  next physical line (fail2ban's samplestestcase.py reads it with
  next(logFile)).  A log line not directly preceded by a failJSON would be
  an error for fail2ban; here it is joined to the case before it as a
  continuation line.  `# filterOptions:` switches the fail2ban filter modes
  of the following cases: the same line can appear under several modes
  with opposite expectations (e.g. `Invalid authentication mechanism` is
  match:false in mode auth, match:true in mode aggressive); each occurrence
  is its own case and the case id names the line in the file.  "time" is
  not compared (classic stamps carry no year); "constraint" cases are
  skipped (they are Python expressions over fail2ban's internals; none in
  these files).  fail2ban/sendmail-auth is not read: smtpwatch does not
  read sendmail.
* sshguard/tests.txt: triplets (log line, `SERVICE ADDR KIND DANGER` or
  `*`, `M` or `X`).  `X` cases (known sshguard failures) are taken with
  their expectation all the same.
* crowdsec/*: the .log plus parser.assert (s01-parse results, one per log
  line in order, cross-checked on the asserted message) or scenario.assert
  (the overflow's sources; an overflow's Events[k] is mapped to the k-th
  log line when it has exactly one event per line).  A line is
  "match: true" when CrowdSec labels it an authentication failure
  (postfix `message_failure`, exim `log_type == exim_failed_auth`, dovecot
  `dovecot_login_result == auth_failed`, or any line of an overflow of a
  brute-force scenario); expected address = asserted source_ip, expected
  user = asserted username / dovecot_user / target_user of an auth failure.

Envelopes (envelope()).  smtpwatch reads syslog files (classic or RFC 3339
stamps), Exim's mainlog and the journal, and needs the program tag to know
the MTA (a line without an envelope is a continuation line to it).  Some
peer lines carry the very message the program logs under an envelope that
is none of these: sshguard's bare messages, fail2ban's text rendering of a
journal entry (`host prog[pid]: msg`, no stamp), Dovecot's own log_path
lines (`Jan 29 13:54:06 auth-worker(22401): Info: ...`), daemontools
multilog (`@4000... prog: msg`) and metalog (`Oct 14 19:45:05 [exim] msg`).
Those auth lines are fed under a synthetic syslog envelope with the message
byte for byte unchanged (bare sshguard messages by service code: 260 ->
postfix/smtpd, 240 -> Exim mainlog stamp, 210 -> dovecot); -v shows it per
case and the summary counts them.  Lines that look like a syslog or Exim
mainlog line are fed exactly as they are, so a stamp smtpwatch fails to
parse there is reported.

Scope.  Each case is classified by its content (classify()): "auth" cases
are SMTP AUTH results and their known look-alikes (Postfix SASL failures,
`lost connection after AUTH`, `disconnect ... auth=N/M`, Exim authenticator
failures, Exim `SMTP protocol error in "AUTH ..."`, Dovecot passdb/PAM
results and Dovecot submission-login failures).  Everything else is "not
auth" with a reason (RBL/policy rejects, postscreen, pipelining, IMAP/POP3
logins, other servers ...).  Rules:

* auth, match:true  -> an event of kind failure (Dovecot lines: attribution
  or failure) with the same address (`host`), and the same account where
  the peer names the user (compared as bytes).
* auth, match:false -> no such event.
* not auth          -> no failure event (a false positive fails the case).
* a case in DIFFERENCES is not compared with the peer but with smtpwatch's
  documented behaviour (the first element of the entry): `trouble` = a
  trouble event for that address, `none` = no event at all, `no-failure` =
  no failure event, `unchecked` = the peer's line is not a real log line
  (placeholder text), any outcome is accepted.  It is reported as a
  documented difference when smtpwatch behaves as documented and fails
  otherwise (including when it now agrees with the peer: the table would
  be stale, or a double count has crept in).
* a line the peer gives no verdict on is skipped (none at present).

Isolation: every case runs in its own scan process (a few hundred
processes, about a second), so matcher state (Exim duplicate collapse,
client-side queue de-duplication, year inference) never leaks between
cases.  Output: one line per failing case, `DIFF` lines for documented
differences, a summary per peer, and the last line `peers: N passed, M
failed` (passed = agreeing auth cases + documented differences behaving as
documented + clean not-auth cases).  Exit 1 on any failure, 2 on usage
errors.
"""
import argparse
import concurrent.futures
import ipaddress
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, '..', '..', 'shared'))
PEERS = os.path.join(SHARED, 'corpus', 'peers')

# Deliberate differences: case id -> (what smtpwatch does instead, why).
# The case id is PEER:LINE, LINE being the log line's number in the file.
DIFFERENCES = {
    # -- fail2ban/postfix --------------------------------------------------
    'fail2ban/postfix:152': ('trouble',
        'mode aggressive only: `Invalid authentication mechanism` means the client '
        'asked for a mechanism the server does not offer; no credentials were '
        'checked, so smtpwatch reports trouble (mechanism not offered, DESIGN.md '
        'section 3), as fail2ban itself does in mode auth (line 147)'),
    'fail2ban/postfix:167': ('none',
        'mode ddos: `disconnect ... auth=0/1` is the session summary of a failure '
        'already counted from its `SASL ... authentication failed` line; counting '
        'it again would double-count (DESIGN.md section 4, double-count traps)'),
    'fail2ban/postfix:169': ('none',
        'mode ddos: `disconnect ... auth=0/1` (service smtp-25/smtpd) is a session '
        'summary, not a second failure (double-count trap)'),
    'fail2ban/postfix:171': ('none',
        'mode ddos: `disconnect ... auth=0/1` is a session summary, not a second '
        'failure (double-count trap)'),
    'fail2ban/postfix:181': ('none',
        'mode ddos: `disconnect ... auth=0/1` after `lost connection after AUTH`: '
        'fail2ban counts the disconnect instead of the lost connection, smtpwatch '
        'counts neither (the failure itself is the SASL line)'),
    # -- fail2ban/exim ------------------------------------------------------
    'fail2ban/exim:74': ('no-failure',
        'mode more/aggressive: `AUTH command used when not advertised` -- the client '
        'sent AUTH where the server does not offer it; no credentials were checked, '
        'so it is no credential failure (trouble or nothing, never an attack count)'),
    'fail2ban/exim:76': ('no-failure',
        '`AUTH command used when not advertised` (with an initial response): no '
        'credentials were checked'),
    'fail2ban/exim:78': ('no-failure', '`AUTH command used when not advertised`: no credentials checked'),
    'fail2ban/exim:93': ('trouble',
        '`LOGIN authentication mechanism not supported`: mechanism not offered, '
        'no credentials checked -- trouble by design (DESIGN.md section 3)'),
    'fail2ban/exim:102': ('no-failure', '`AUTH command used when not advertised`: no credentials checked'),
    'fail2ban/exim:110': ('no-failure',
        '`AUTH command used when not advertised` (lower-case AUTH): no credentials checked'),
    'fail2ban/exim:112': ('no-failure',
        '`AUTH command used when not advertised` (mixed-case AUTH): no credentials checked'),
    'fail2ban/exim:114': ('no-failure',
        '`AUTH command used when not advertised` with an injected H= in the quoted '
        'command: no credentials checked'),
    'fail2ban/exim:6': ('none',
        "logwatch summary, not an Exim line: `: 1 Time(s)` is appended by logwatch; Exim's "
        'line ends with the reply (or the set_id), and smtpwatch anchors there (the '
        "set_id account runs to the line's final `)`), so foreign text appended is no match"),
    'fail2ban/exim:12': ('none', 'logwatch summary suffix `: 1 Time(s)`, not an Exim line'),
    'fail2ban/exim:14': ('none', 'logwatch summary suffix `: 1 Time(s)`, not an Exim line'),
    # -- fail2ban/dovecot ---------------------------------------------------
    'fail2ban/dovecot:35': ('none',
        'logwatch summary suffix `: 2 Time(s)` appended to the Dovecot line (see '
        'fail2ban/exim:6); the line without it is the Dovecot 1.x form '
        '`dovecot: auth(default): pam(user,ip): ...`'),
    # -- sshguard -------------------------------------------------------------
    'sshguard:236': ('unchecked',
        'sshguard placeholder text, not a log line: `for XYZ [ip]:port I=XYZ :` '
        '(Exim writes `I=[ip]:port:`); either outcome is accepted'),
    'sshguard:239': ('unchecked', 'sshguard placeholder text (`I=XYZ :`), not a log line'),
    'sshguard:246': ('no-failure', '`AUTH command used when not advertised`: no credentials checked'),
    'sshguard:249': ('no-failure', '`AUTH command used when not advertised`: no credentials checked'),
    'sshguard:252': ('trouble', '`LOGIN authentication mechanism not supported`: mechanism not offered'),
    'sshguard:255': ('trouble', '`LOGIN authentication mechanism not supported`: mechanism not offered'),
    'sshguard:258': ('no-failure', '`AUTH command used when not advertised`: no credentials checked'),
    'sshguard:261': ('no-failure', '`AUTH command used when not advertised`: no credentials checked'),
    'sshguard:264': ('no-failure', '`AUTH command used when not advertised`: no credentials checked'),
    'sshguard:342': ('none',
        '`lost connection after AUTH` follows the SASL failure line that is counted; '
        'counting it too would double-count (DESIGN.md section 4)'),
    'sshguard:345': ('none', '`lost connection after AUTH`: double-count trap'),
    'sshguard:368': ('none', '`lost connection after AUTH`: double-count trap'),
}

KIND_FAILURE = ('failure',)
KIND_DOVECOT = ('attribution', 'failure')


def fold(b):
    """bytes -> str without losing a byte (raw bytes as surrogates)."""
    return b.decode('utf-8', 'surrogateescape')


def show(b, limit=300):
    """A log line, printable and bounded."""
    s = b.decode('utf-8', 'backslashreplace')
    s = ''.join(c if c.isprintable() else '\\x%02x' % ord(c) if ord(c) < 256 else c for c in s)
    return s if len(s) <= limit else s[:limit] + '...'


def same_addr(a, b):
    if a is None or b is None:
        return False
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()


# --------------------------------------------------------------------------
# Scope: which lines are about SMTP AUTH.
# --------------------------------------------------------------------------
AUTH = [
    (r'\bSASL [\w-]+ authentication (?:failed|aborted)\b', KIND_FAILURE, 'Postfix smtpd SASL failure'),
    (r'\(SASL (?:\[CACHED\] )?authentication failed;', KIND_FAILURE, 'Postfix smtp client SASL failure'),
    (r'\bwarning: SASL authentication failure: ', KIND_FAILURE, 'Postfix SASL library warning'),
    (r'\bAUTH command rate limit exceeded\b', KIND_FAILURE, 'Postfix AUTH rate limit'),
    (r'\blost connection after AUTH\b', KIND_FAILURE, 'Postfix `lost connection after AUTH` (look-alike)'),
    (r'\bdisconnect from \S+ .*\bauth=\d+/\d+', KIND_FAILURE,
     'Postfix session summary with auth= (look-alike)'),
    (r'\bauthenticator failed for\b', KIND_FAILURE, 'Exim server authenticator failure'),
    (r'\bauthenticator failed H=', KIND_FAILURE, 'Exim client authenticator failure'),
    (r'(?i)\bSMTP protocol error in "auth\b', KIND_FAILURE, 'Exim AUTH protocol error (look-alike)'),
    (r'\bSMTP error from remote mail server after AUTH\b', KIND_FAILURE, 'Exim client AUTH 4xx'),
    (r'\b(?:pam|passwd-file|passwd|shadow|sql|ldap|checkpassword|bsdauth|lua|oauth2|static|vpopmail)'
     r'\([^()\s]*,[0-9A-Fa-f.:]+(?:,[^()]*)?\): ', KIND_DOVECOT, 'Dovecot passdb result'),
    (r'\bauth\([^()]*,[0-9A-Fa-f.:]+,[^()]*\)<[^>]*>: .*(?:Password mismatch|unknown user)',
     KIND_DOVECOT, 'Dovecot 2.4 passdb result'),
    (r'\bpam_unix\(dovecot:auth\): authentication failure', KIND_DOVECOT, 'PAM failure for Dovecot auth'),
    (r'\bsubmission-login: .*\bauth failed\b', KIND_DOVECOT, 'Dovecot SMTP submission login failure'),
]
AUTH = [(re.compile(p), k, w) for p, k, w in AUTH]

NOT_AUTH = [
    (r'\b(?:imap|pop3|managesieve)-login: ', 'Dovecot IMAP/POP3/ManageSieve login, not SMTP'),
    (r'\bsm-mta\[|\bsendmail\[|\bsm-acceptingconnections\[|Relaying denied\. IP name lookup failed',
     'sendmail, not an MTA smtpwatch reads'),
    (r'^\d{4}-\d\d-\d\dT[^,\s]*,[^,]*,', 'Microsoft Exchange protocol log, not Postfix/Exim'),
    (r'\bsmtp event=failed-command\b', 'OpenSMTPD, not an MTA smtpwatch reads'),
    (r'\bbadlogin: |\bFAIL LOGIN\b|\bLogin failed user=', 'IMAP server (Cyrus/UW/Courier), not SMTP'),
    (r'\bpostgrey\[', 'greylisting (postgrey)'),
    (r'\bblocked using\b|\bDNSBL rank\b|is in an RBL', 'RBL/DNSBL rejection, not authentication'),
    (r'\breject: |\brejected RCPT\b|\bmilter-reject: |\bsender verify fail', 'SMTP policy rejection '
     '(HELO/sender/recipient/relay), not authentication'),
    (r'improper command pipelining', 'pipelining violation, not authentication'),
    (r'\bPREGREET\b|\bHANGUP after\b|\bCOMMAND (?:TIME|COUNT) LIMIT\b|\bpostscreen\[',
     'postscreen connection test, not authentication'),
    (r'\blost connection after\b|\bnon-SMTP command\b', 'connection-level abuse, not authentication'),
    (r'\btoo many (?:errors|syntax or protocol errors|nonmail commands|unrecognized commands)\b',
     'protocol errors, not authentication'),
    (r'\bno MAIL in SMTP connection\b', 'session without MAIL, not authentication'),
    (r'\bclosed by DROP in ACL\b|\bdropped by \'\w+\' ACL\b|\btemporarily rejected connection\b',
     'ACL drop, not authentication'),
    (r'\bsynchronization error\b', 'SMTP synchronization error, not authentication'),
    (r'does not resolve to address|no host name found|no IP address found',
     'DNS mismatch, not authentication'),
    (r'rate limit exceeded', 'connection/message rate limit, not authentication'),
]
NOT_AUTH = [(re.compile(p), w) for p, w in NOT_AUTH]


def classify(line):
    """-> ('auth', kinds, what) or ('not-auth', None, reason)."""
    s = fold(line)
    for rx, kinds, what in AUTH:
        if rx.search(s):
            return 'auth', kinds, what
    for rx, why in NOT_AUTH:
        if rx.search(s):
            return 'not-auth', None, why
    return 'not-auth', None, 'not an SMTP AUTH line'


class Case:
    def __init__(self, peer, lineno, lines, match, host=None, user=None, desc=None, note=None):
        self.peer = peer
        self.cid = '%s:%d' % (peer, lineno)
        self.lines = lines          # list of bytes, without newline
        self.match = match          # True, False, or None (no expectation)
        self.host = host
        self.user = user            # str or None
        self.desc = desc
        self.note = note
        self.skip = None
        self.scope, self.kinds, self.what = classify(lines[0])
        self.adapted = None
        # Outcome
        self.status = None          # 'agree', 'diff', 'fail', 'notauth', 'skip'
        self.why = ''


    def feed(self, service=None, journal=False):
        """Give the lines a syslog envelope where they have none smtpwatch reads."""
        out = []
        for l in self.lines:
            l2, why = envelope(l, journal=journal, service=service, bare=self.scope == 'auth')
            if why:
                self.adapted = why
            out.append(l2)
        self.lines = out


# --------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------
FAILJSON = re.compile(rb'^#+ ?(failJSON|filterOptions|fileOptions|addFILE):(.+)$')


def read_fail2ban(name):
    path = os.path.join(PEERS, 'fail2ban', name)
    peer = 'fail2ban/' + name
    cases = []
    modes = '{}'
    with open(path, 'rb') as f:
        raw = f.read().split(b'\n')
    if raw and raw[-1] == b'':
        raw.pop()
    i = 0
    last = None
    while i < len(raw):
        line = raw[i].rstrip(b'\r')
        m = FAILJSON.match(line)
        if m:
            kind = m.group(1).decode()
            data = json.loads(m.group(2).decode('utf-8'))
            if kind in ('filterOptions', 'fileOptions'):
                modes = json.dumps(data, sort_keys=True)
                i += 1
                continue
            if kind == 'addFILE':
                i += 1
                continue
            # failJSON: applies to the next physical line.
            i += 1
            if i >= len(raw):
                break
            log = raw[i].rstrip(b'\r')
            c = Case(peer, i + 1, [log], bool(data.get('match', False)),
                     host=data.get('host'), user=data.get('user'), desc=data.get('desc'),
                     note='fail2ban options %s' % modes)
            c.journal = '"journal"' in modes
            if data.get('constraint'):
                c.skip = 'constraint %r not evaluated' % data['constraint']
            cases.append(c)
            last = c
            i += 1
            continue
        if line.startswith(b'#') or not line.strip():
            last = None if not line.strip() else last
            i += 1
            continue
        # A log line without its own failJSON: continuation of the case above.
        if last is not None:
            last.lines.append(line)
        i += 1
    for c in cases:
        c.feed(journal=c.journal)
    return cases


# Envelopes.  smtpwatch reads syslog files (classic or RFC 3339 stamps),
# Exim's mainlog and the journal.  The peers also carry lines whose envelope
# is none of these although the message is the one the program logs; such a
# line is fed with a synthetic syslog envelope, its message byte for byte
# unchanged, and the case says so (`envelope:` in -v output).  Lines that do
# look like a syslog or mainlog file line are fed exactly as they are.
TS = rb'(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)'
DOVECOT_OWN = re.compile(rb'^(' + TS + rb') ((?:auth|auth-worker|imap-login|pop3-login|submission-login|'
                         rb'managesieve-login|lmtp|imap|pop3|submission|managesieve|master)'
                         rb'(?:\([^)]*\))?(?:<[^>]*>)?: .*)$')
TAI64N = re.compile(rb'^@[0-9a-f]{24} (.*)$')
METALOG = re.compile(rb'^([A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d) \[([\w/-]+)\] (.*)$')
JOURNAL = re.compile(rb'^(\S+) ([\w/.-]+(?:\[\d+\])?): (.*)$')
HEADER = re.compile(rb'^(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d \S+ [^\s:]+(?:\[\d+\])?: '
                    rb'|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* \S+ [^\s:]+(?:\[\d+\])?: '
                    rb'|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? )')
STAMP = b'Jan  1 00:00:00 '
BARE = {  # bare messages (sshguard) by service code, else by what the line is
    'postfix': STAMP + b'peers-test postfix/smtpd[1]: ',
    'exim': b'2000-01-01 00:00:00 ',
    'dovecot': STAMP + b'peers-test dovecot: ',
}


def envelope(line, journal=False, service=None, bare=True):
    """-> (line to feed, None or a note on the synthetic envelope)"""
    if journal:
        m = JOURNAL.match(line)
        if m:
            return (STAMP + line, "fail2ban's journal rendering `host prog[pid]: msg` fed as syslog "
                    "(smtpwatch reads the journal's fields, not this text)")
    m = DOVECOT_OWN.match(line)
    if m:
        ts = m.group(1) + b' ' if m.group(1)[:1].isalpha() else STAMP
        return (ts + b'peers-test dovecot: ' + m.group(2),
                "Dovecot's own log_path line fed as Dovecot's syslog line")
    m = TAI64N.match(line)
    if m:
        return STAMP + b'peers-test ' + m.group(1), 'daemontools multilog (TAI64N) line fed as syslog'
    m = METALOG.match(line)
    if m:
        return (m.group(1) + b' peers-test ' + m.group(2) + b': ' + m.group(3),
                'metalog `[prog]` line fed as syslog')
    if HEADER.match(line) or not bare:
        return line, None
    if service is None:
        s = fold(line)
        service = ('exim' if re.search(r'authenticator failed|SMTP protocol error in', s) else
                   'dovecot' if re.search(r'-login: |dovecot|\bauth(?:-worker)?\(', s) else 'postfix')
    return BARE[service] + line, 'bare message fed under a synthetic %s envelope' % service


def read_sshguard():
    path = os.path.join(PEERS, 'sshguard', 'tests.txt')
    with open(path, 'rb') as f:
        raw = f.read().split(b'\n')
    cases = []
    body = [(n + 1, l) for n, l in enumerate(raw) if l.strip() and not l.startswith(b'#')]
    for k in range(0, len(body) - 2, 3):
        (ln, log), (_, want), (_, flag) = body[k], body[k + 1], body[k + 2]
        want = want.decode().split()
        if want == ['*']:
            match, host, svc = False, None, None
        else:
            svc, host = want[0], want[1]
            match = True
        note = 'sshguard %s%s' % (' '.join(want),
                                  ' (X: known sshguard failure)' if flag.startswith(b'X') else '')
        c = Case('sshguard', ln, [log], match, host=host, note=note)
        svc = {'260': 'postfix', '240': 'exim', '210': 'dovecot'}.get(want[0])
        c.feed(svc)
        cases.append(c)
    return cases


ASSERT_PARSE = re.compile(r'^results\["s01-parse"\]\["([^"]+)"\]\[(\d+)\]\.'
                          r'(?:Evt\.(Parsed|Meta)\["([^"]+)"\]|(Success)) == (.*)$')
ASSERT_SRC = re.compile(r'^"([^"]+)" in results\[(\d+)\]\.Overflow\.GetSources\(\)$')
ASSERT_EVT = re.compile(r'^results\[(\d+)\]\.Overflow\.Alert\.Events\[(\d+)\]\.GetMeta\("(\w+)"\) == (.*)$')
ASSERT_SCEN = re.compile(r'^results\[(\d+)\]\.Overflow\.Alert\.GetScenario\(\) == "([^"]*)"$')


def go_string(v):
    v = v.strip()
    if v in ('true', 'false'):
        return v == 'true'
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        try:
            return json.loads(v)
        except ValueError:
            return v[1:-1].replace('\\"', '"').replace('\\\\', '\\')
    return v


def read_crowdsec(d):
    base = os.path.join(PEERS, 'crowdsec', d)
    logs = [f for f in sorted(os.listdir(base)) if f.endswith('.log')]
    peer = 'crowdsec/' + d
    with open(os.path.join(base, logs[0]), 'rb') as f:
        raw = f.read().split(b'\n')
    lines = [(n + 1, l.rstrip(b'\r')) for n, l in enumerate(raw) if l.strip()]
    cases = []
    if os.path.exists(os.path.join(base, 'parser.assert')):
        res = {}
        with open(os.path.join(base, 'parser.assert'), encoding='utf-8') as f:
            for a in f:
                m = ASSERT_PARSE.match(a.rstrip('\n'))
                if not m:
                    continue
                idx = int(m.group(2))
                r = res.setdefault(idx, {'Parsed': {}, 'Meta': {}, 'Success': None})
                if m.group(5):
                    r['Success'] = go_string(m.group(6))
                else:
                    r[m.group(3)][m.group(4)] = go_string(m.group(6))
        for idx, (ln, log) in enumerate(lines):
            r = res.get(idx)
            text = fold(log)
            if r is not None and 'message' in r['Parsed'] and r['Parsed']['message'] not in text:
                r = next((x for x in res.values() if x['Parsed'].get('message') and
                          x['Parsed']['message'] in text), None)
            if r is None:
                cases.append(Case(peer, ln, [log], None, note='no parser assertion for this line'))
                continue
            p, mt = r['Parsed'], r['Meta']
            host = (mt.get('source_ip') or p.get('remote_addr') or p.get('source_ip')
                    or p.get('dovecot_remote_ip'))
            user = None
            if mt.get('log_type') == 'exim_failed_auth':
                match, user = True, mt.get('username') or p.get('target_user')
            elif mt.get('dovecot_login_result') == 'auth_failed':
                match, user = True, p.get('dovecot_user') or None
            elif 'message_failure' in p:
                match = True
            else:
                match = False
            note = 'crowdsec parse: log_type=%s%s' % (
                mt.get('log_type'),
                ' result=%s' % mt['dovecot_login_result'] if 'dovecot_login_result' in mt else '')
            cases.append(Case(peer, ln, [log], match if r['Success'] is not False else False,
                              host=host, user=user, note=note))
    else:
        sources, events, scen = {}, {}, {}
        with open(os.path.join(base, 'scenario.assert'), encoding='utf-8') as f:
            for a in f:
                a = a.rstrip('\n')
                m = ASSERT_SRC.match(a)
                if m:
                    sources.setdefault(int(m.group(2)), set()).add(m.group(1))
                    continue
                m = ASSERT_EVT.match(a)
                if m:
                    ev = events.setdefault(int(m.group(1)), {}).setdefault(int(m.group(2)), {})
                    ev[m.group(3)] = go_string(m.group(4))
                    continue
                m = ASSERT_SCEN.match(a)
                if m:
                    scen[int(m.group(1))] = m.group(2)
        allsrc = set().union(*sources.values()) if sources else set()
        per_line = {}
        for o, evs in events.items():
            if len(evs) == len(lines):
                for k, ev in evs.items():
                    ln, log = lines[k]
                    if ev.get('source_ip') and ev['source_ip'] in fold(log):
                        per_line.setdefault(k, ev)
        for k, (ln, log) in enumerate(lines):
            text = fold(log)
            ev = per_line.get(k, {})
            host = ev.get('source_ip')
            if host is None:
                hits = [s for s in allsrc if '[%s]' % s in text or '[%s]:' % s in text]
                host = hits[0] if len(hits) == 1 else None
            user = ev.get('username') if ev.get('log_type') == 'exim_failed_auth' else None
            note = 'crowdsec scenario %s' % ', '.join(sorted(set(scen.values())))
            cases.append(Case(peer, ln, [log], True if host in allsrc else None,
                              host=host, user=user, note=note))
    for c in cases:
        c.feed()
    return cases


# --------------------------------------------------------------------------
# Running and judging
# --------------------------------------------------------------------------
def run_scan(ctl, rules, lines):
    data = b''.join(l + b'\n' for l in lines)
    try:
        p = subprocess.run([ctl, 'scan', '--events', '--json', '--rules', rules, '-'],
                           input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    if p.returncode != 0:
        return None, 'scan exited %d: %s' % (p.returncode, fold(p.stderr).strip()[:300])
    evs = []
    for l in p.stdout.splitlines():
        if not l.strip():
            continue
        try:
            ev = json.loads(l)
        except ValueError:
            return None, 'scan printed a line that is not JSON: %s' % show(l)
        if not ev.get('dup'):
            evs.append(ev)
    return evs, None


def ev_account(ev):
    h = ev.get('account_hex')
    return None if h is None else bytes.fromhex(h)


def describe(evs):
    if not evs:
        return 'no event'
    out = []
    for ev in evs:
        acc = ev_account(ev)
        out.append('%s(rule=%s addr=%s account=%s)' % (
            ev.get('kind'), ev.get('rule'), ev.get('addr'),
            'null' if acc is None else show(acc, 60)))
    return ', '.join(out)


def wanted(c, evs):
    """Does the output hold the event the peer expects?  -> (bool, text)"""
    exp = '%s%s%s' % ('/'.join(c.kinds), ' addr=%s' % c.host if c.host else '',
                      ' account=%s' % c.user if c.user is not None else '')
    cand = [e for e in evs if e.get('kind') in c.kinds]
    for e in cand:
        if c.host and not same_addr(e.get('addr'), c.host):
            continue
        if c.user is not None and ev_account(e) != c.user.encode('utf-8'):
            continue
        return True, exp
    return False, exp


def judge(c, evs):
    if c.scope != 'auth':
        bad = [e for e in evs if e.get('kind') == 'failure']
        if bad:
            return 'fail', 'not auth (%s) but smtpwatch counts a failure: %s' % (c.what, describe(bad))
        return 'notauth', c.what
    if c.cid in DIFFERENCES:
        want, reason = DIFFERENCES[c.cid]
        if want == 'unchecked':
            if c.match is not None and peer_agrees(c, evs):
                return 'agree', ''
            return 'diff', '%s [smtpwatch: %s]' % (reason, describe(evs))
        if want == 'none':
            ok = not evs
        elif want == 'no-failure':
            ok = not any(e.get('kind') == 'failure' for e in evs)
        else:
            ok = any(e.get('kind') == want and
                     (not c.host or not e.get('addr') or same_addr(e.get('addr'), c.host))
                     for e in evs)
        if ok:
            return 'diff', '%s [smtpwatch: %s]' % (reason, describe(evs))
        return 'fail', 'documented as %s (%s) but smtpwatch gives %s' % (want, reason, describe(evs))
    if c.match is None:
        return 'skip', 'the peer gives no verdict for this line'
    if peer_agrees(c, evs):
        return 'agree', ''
    if c.match:
        return 'fail', 'peer: match, expected %s; smtpwatch: %s' % (wanted(c, evs)[1], describe(evs))
    return 'fail', 'peer: no match (%s); smtpwatch: %s' % (
        c.desc or c.what, describe([e for e in evs if e.get('kind') in c.kinds]))


def peer_agrees(c, evs):
    if c.match:
        return wanted(c, evs)[0]
    return not any(e.get('kind') in c.kinds for e in evs)


def main():
    ap = argparse.ArgumentParser(description='smtpwatch against fail2ban, sshguard and CrowdSec test data')
    ap.add_argument('ctl')
    ap.add_argument('rules')
    ap.add_argument('-v', '--verbose', action='store_true', help='list every case')
    ap.add_argument('-j', '--jobs', type=int, default=os.cpu_count() or 4)
    ap.add_argument('--only', help='run only the cases whose id starts with this')
    a = ap.parse_args()
    if not os.path.isdir(PEERS):
        print('peers.py: %s: no peer corpus (shared/ must be beside the repository)' % PEERS, file=sys.stderr)
        print('peers: 0 passed, 1 failed')
        return 2

    cases = []
    for n in ('postfix', 'exim', 'dovecot'):
        cases += read_fail2ban(n)
    cases += read_sshguard()
    for d in sorted(os.listdir(os.path.join(PEERS, 'crowdsec'))):
        cases += read_crowdsec(d)
    if a.only:
        cases = [c for c in cases if c.cid.startswith(a.only)]
    ids = set(c.cid for c in cases)
    stale = sorted(k for k in DIFFERENCES if k not in ids and not a.only)
    for k in stale:
        print('peers.py: DIFFERENCES names %s, which is no case' % k, file=sys.stderr)

    # One scan first: when the binary or the rules are broken, say it once.
    _, err = run_scan(a.ctl, a.rules, [])
    if err:
        print('peers.py: %s' % err)
        n = sum(1 for c in cases if c.scope == 'auth')
        print('peers: 0 passed, %d failed' % n)
        return 1

    def work(c):
        if c.skip:
            return c, None, None
        return (c,) + run_scan(a.ctl, a.rules, c.lines)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        results = list(ex.map(work, cases))

    passed = failed = 0
    summary = {}
    for c, evs, err in results:
        s = summary.setdefault(c.peer, dict.fromkeys(
            ('auth', 'agree', 'diff', 'fail', 'skip', 'notauth', 'fp', 'env'), 0))
        if c.skip:
            c.status, c.why = 'skip', c.skip
        elif err:
            c.status, c.why = 'fail', err
        else:
            c.status, c.why = judge(c, evs)
        if c.scope == 'auth':
            s['auth'] += 1
            s[c.status] += 1
            s['env'] += c.adapted is not None
        else:
            s['notauth'] += 1
            s['fp'] += c.status == 'fail'
        if c.status in ('agree', 'diff', 'notauth'):
            passed += 1
        elif c.status == 'fail':
            failed += 1
        line = ' / '.join(show(l) for l in c.lines)
        if c.status == 'fail':
            print('FAIL %s: %s | %s' % (c.cid, c.why, line))
        elif c.status == 'diff':
            print('DIFF %s: %s' % (c.cid, c.why))
        elif a.verbose:
            print('%-4s %s: [%s] peer match=%s host=%s user=%s; %s%s | %s' % (
                c.status.upper()[:4], c.cid, c.what, c.match, c.host, c.user, c.note or '',
                '; envelope: ' + c.adapted if c.adapted else '', line))
    print()
    for peer, s in summary.items():
        extra = ''
        if s['fail']:
            extra += ', %d disagree' % s['fail']
        if s['skip']:
            extra += ', %d skipped' % s['skip']
        print('%s: %d/%d auth cases agree, %d documented differences%s, %d not auth%s%s' % (
            peer, s['agree'], s['auth'], s['diff'], extra, s['notauth'],
            ' (%d of them counted as failures)' % s['fp'] if s['fp'] else '',
            ' [%d auth cases fed with a synthetic envelope]' % s['env'] if s['env'] else ''))
    print('peers: %d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
