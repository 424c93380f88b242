#!/usr/bin/env python3
"""test_alerts.py -- smtpwatchd's alerts as they arrive in the systemd
journal: the real daemon on a real log file, a real journald (started
here when its socket is missing), the entries read back with
`journalctl --follow -o json _PID=...` (harness.Journal).

Usage: python3 tests/daemon/test_alerts.py [TEST|GROUP ...]
Groups: relay, server, storm, incidents, attack, commit, safety, catalog,
hostile (default: all).

Times are the log lines' own (harness.stamp(sec), Nov 28 04:00:00 +
sec), so a scenario writes lines with chosen times; every threshold is
crossed well inside its window.  Those times are days before the tests
run: every entry of those scenarios is caught up (SMTPWATCH_CAUGHT_UP=1,
its priority one step lower, MESSAGE led by "caught up: "); the
caught-up group writes lines stamped with the time of writing too.  An absent entry is checked after
Journal.sync(), the barrier that puts every entry sent before it in the
list.  Expected diagnosis texts come from rules/*.rules, the kinds and
MESSAGE_IDs from the specification (and daemon/alert.c, checked against
the catalog).  Every daemon is build/asan/smtpwatchd: an ASan report
kills it (the wait fails) and a leak makes its exit status after
SIGTERM non-zero.  Nothing here writes to the system's catalog.
"""

import json
import os
import re
import sqlite3
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (BIN, CTL, JOURNALCTL, ROOT, RULES, TIMEOUT, Daemon, Journal, Workdir,  # noqa: E402
                     account_failures, address_failures, address_rows, append,
                     checkpoints, dovecot_fail, outbox, epoch, eq, fail, jshow, jtext, pf_fail,
                     pf_relay_fail, pf_relay_sent, pf_success, query, rules_diagnoses,
                     run_daemon, run_tests, stamp, vis)

TESTS = {}
GROUPS = {}


def test(group):
    def reg(fn):
        name = fn.__name__.replace('_', '-')
        TESTS[name] = fn
        GROUPS.setdefault(group, []).append(name)
        return fn
    return reg


# The specification: kind -> (MESSAGE_ID, PRIORITY).
KINDS = {
    'relay-rejected': ('1dba1267824944538f21b7ba225eff75', 3),
    'relay-recovered': ('0079238c8c6b4f99b09418fabfa5c19b', 5),
    'account-failing': ('062d20d0590d42c7bb2d98b35610120a', 4),
    'address-spraying': ('89387e59c2f14d63b80f93a944514213', 4),
    'account-recovered': ('94c5a1f8941a432e84e2db33959867ce', 6),
    'auth-backend-down': ('0bf3b06192a54cf694d29fdc5ca702bc', 3),
    'auth-backend-recovered': ('5e170bf621924de0a60fde69333cc904', 5),
    'alerts-folded': ('068d4380a9f542e1848cbb05288c3821', 4),
    'summarising': ('2747d77f1de04479829c1357766ab998', 4),
    'address-hostile': ('22cea61603ba45d4ab8db71e898296bd', 6),
}

# Every directive of alerting, set: the tests do not depend on defaults.
CONF = '\n'.join([
    'account-threshold 5', 'account-window 15m',
    'spray-threshold 5', 'spray-window 15m',
    'backend-threshold 3', 'backend-window 5m',
    'distributed-addresses 3', 'realert 30m', 'quiet 1h',
    'attribution-window 10s'])

GMAIL_DIAG = 'gmail/535-5.7.8-bad-credentials'
DIAG = rules_diagnoses()

# daemon/incident.c's LIVE_SKEW: lines more than this behind the wall
# clock are caught up.  Lines of stamp(sec) are when the tests run after
# Nov 28 2026 (the year of classic stamps is inferred from the clock).
LIVE_SKEW = 300
OLD = time.time() - epoch(0) > LIVE_SKEW + 86400
CAUGHT = 'caught up: ' if OLD else ''


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def start(w, extra='', asan=True, **kw):
    """An ASan daemon on w/mail.log with CONF and extra, and its Journal."""
    log = w.path('mail.log')
    open(log, 'ab').close()
    d = Daemon(w, [log], extra_conf=CONF + '\n' + extra, asan=asan, **kw)
    d.start()
    return d, Journal(d), log


def feed(d, j, log, data, timeout=None):
    """Appends data, waits until the daemon has read and committed it
    and written its alerts (they are written after the commit, and the
    daemon's outbox is emptied after that: harness wait_caught_up), then
    for the journal to hold them; returns every entry of the run."""
    append(log, data)
    d.wait_caught_up(timeout=timeout)
    return j.sync()


def fails(user, ips, secs, **kw):
    """One failure of user per time in secs, from ips (one address, or a
    list used in turn)."""
    ips = [ips] if isinstance(ips, str) else ips
    return b''.join(pf_fail(user, ips[i % len(ips)], s, **kw) for i, s in enumerate(secs))


def first_sentence(s):
    """alert.c's first_sentence(): up to the first '.' that ends the text
    or is followed by a blank."""
    i = 0
    while True:
        p = s.find('.', i)
        if p < 0:
            return s
        if p + 1 == len(s) or s[p + 1] == ' ':
            return s[:p]
        i = p + 1


def diag_fields(did):
    """The SMTPWATCH_ fields of the diagnosis did, from the rules' text."""
    d = DIAG.get(did)
    if d is None:
        fail('no [diagnosis %s] in the rules' % did)
    f = {'SMTPWATCH_DIAGNOSIS': did}
    if 'summary' in d:
        f['SMTPWATCH_SUMMARY'] = d['summary']
    if 'cause' in d:
        f['SMTPWATCH_ROOT_CAUSE'] = d['cause']
    for i, (pct, text) in enumerate(d['fix']):
        name = 'SMTPWATCH_FIX' if i == 0 else 'SMTPWATCH_FIX_%d' % (i + 1)
        f[name] = text
        f[name + '_RATE'] = str(pct)
    for i, (pct, text) in enumerate(d['dead-end']):
        name = 'SMTPWATCH_DEAD_END_%d' % (i + 1)
        f[name] = text
        f[name + '_RATE'] = str(pct)
    return f


def cause_fix(did):
    """' Cause: <first sentence>. Fix: <first sentence>.' as MESSAGE ends."""
    d = DIAG[did]
    return ' Cause: %s. Fix: %s.' % (first_sentence(d['cause']), first_sentence(d['fix'][0][1]))


def iso(sec):
    """stamp(sec) as SMTPWATCH_FIRST and _LAST write it: ISO 8601, UTC."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch(sec)))


def span(first, last):
    """SMTPWATCH_FIRST and SMTPWATCH_LAST of failures at first .. last."""
    return dict(SMTPWATCH_FIRST=iso(first), SMTPWATCH_LAST=iso(last))


def when_at(first, last=None):
    """alert.c's when_text() in UTC for the epoch times first .. last."""
    def t(sec, fmt):
        return time.strftime(fmt, time.gmtime(sec))
    if last is None or last <= first:
        return 'at %s UTC' % t(first, '%Y-%m-%d %H:%M:%S')
    if t(first, '%F') != t(last, '%F'):
        return 'between %s and %s UTC' % (t(first, '%Y-%m-%d %H:%M:%S'),
                                          t(last, '%Y-%m-%d %H:%M:%S'))
    return 'between %s and %s UTC' % (t(first, '%Y-%m-%d %H:%M:%S'), t(last, '%H:%M:%S'))


def when(first, last=None):
    """when_at() for stamp(first) .. stamp(last)."""
    return when_at(epoch(first), None if last is None else epoch(last))


def at(line, t):
    """A line built for stamp(0), restamped at the epoch time t (RFC 3339,
    UTC), for lines of any date: a backlog of the last hours, or now."""
    head = stamp(0).encode()
    if not line.startswith(head):
        fail('at(): %r does not start with %r' % (line[:40], head))
    return time.strftime('%Y-%m-%dT%H:%M:%S+00:00', time.gmtime(t)).encode() + line[len(head):]


def lowered(prio):
    """The priority of a caught-up entry: one step lower, not below info."""
    return min(prio + 1, 6) if OLD else prio


def check(e, kind, want, what):
    """e is an entry of kind: its MESSAGE_ID, PRIORITY (want may say
    another; by default the kind's, lowered when caught up),
    SYSLOG_IDENTIFIER, SMTPWATCH_CAUGHT_UP (by default 1 for the old
    lines of stamp()) and exactly the SMTPWATCH_ fields of want with
    their values (None: absent).  MESSAGE is checked when in want, with
    "caught up: " before it when caught up."""
    mid, prio = KINDS[kind]
    want = dict(want)
    want.setdefault('SMTPWATCH_CAUGHT_UP', '1' if OLD else None)
    if 'MESSAGE' in want:
        want['MESSAGE'] = (CAUGHT if want['SMTPWATCH_CAUGHT_UP'] else '') + want['MESSAGE']
    want.setdefault('PRIORITY', str(lowered(prio) if want['SMTPWATCH_CAUGHT_UP'] else prio))
    want = {k: v for k, v in want.items() if v is not None}
    for k in ('SMTPWATCH_WINDOW', 'SMTPWATCH_DURATION'):
        if k in want:           # the same span for a person
            want.setdefault(k + '_TEXT', span_text(int(want[k])))
    want.setdefault('MESSAGE_ID', mid)
    want.setdefault('SYSLOG_IDENTIFIER', 'smtpwatchd')
    want['SMTPWATCH_KIND'] = kind
    got = {k: jtext(v) for k, v in e.items()
           if k.startswith('SMTPWATCH_') or k in ('PRIORITY', 'MESSAGE_ID', 'SYSLOG_IDENTIFIER')}
    if 'MESSAGE' in want:
        got['MESSAGE'] = jtext(e.get('MESSAGE'))
    eq(got, want, what)


def span_text(secs):
    """util.c's span_text(), written again: the largest unit, and the
    next one down when not 0."""
    units = [(86400, 'day'), (3600, 'hour'), (60, 'minute'), (1, 'second')]
    i = 0
    while i < 3 and secs < units[i][0]:
        i += 1
    v = secs // units[i][0]
    out = '%d %s%s' % (v, units[i][1], '' if v == 1 else 's')
    if i < 3:
        w = secs % units[i][0] // units[i + 1][0]
        if w:
            out += ' %d %s%s' % (w, units[i + 1][1], '' if w == 1 else 's')
    return out


def one(entries, what):
    if len(entries) != 1:
        fail('%s: %d entries, want 1:\n%s' % (what, len(entries), '\n'.join(
            '  %s' % jtext(e.get('MESSAGE')) for e in entries)))
    return entries[0]


def incidents(d, kind=None):
    rows = query(d.db, 'SELECT * FROM incident_list ORDER BY id')
    return [r for r in rows if kind is None or r['kind'] == kind]


def subject(r):
    """incident_list.subject as bytes (query() hands back text)."""
    s = r['subject']
    return s if isinstance(s, bytes) else s.encode('utf-8', 'surrogateescape')


def no_control(s):
    return not re.search(r'[\x00-\x1f\x7f]', s)


# ===========================================================================
# relay
# ===========================================================================

@test('relay')
def gmail_relay(w):
    """Gmail refuses our credentials: one relay-rejected entry at the first
    failure with every field and the Gmail diagnosis of the rules; more
    failures, a second recipient and a [CACHED] line within realert add
    to it without an entry, and so does one past realert (30 min) but
    within the hour; a failure an hour after the first entry is one
    repeat with the failures since; a delivery through the relay is
    relay-recovered and closes the incident (success)."""
    d, j, log = start(w, 'relay smtp.gmail.com as alerts@example.com')
    es = feed(d, j, log, pf_relay_fail('A1A1A1A1A1', 'ops@partner.example', 0))
    inc = incidents(d, 'relay')
    eq(len(inc), 1, 'relay incidents after the first failure')
    iid = inc[0]['id']
    reply = inc[0]['last_reply'] or ''
    if not reply.startswith('535-5.7.8 Username and Password not accepted'):
        fail('incident last_reply: %r' % reply)
    e = one(j.all('relay-rejected'), 'relay-rejected entries after the first failure')
    eq(len(es), 1, 'entries after the first failure')
    check(e, 'relay-rejected', dict(
        diag_fields(GMAIL_DIAG),
        MESSAGE='relay smtp.gmail.com rejected our credentials for alerts@example.com '
                '(535 5.7.8) %s; 1 message waiting.' % when(0) + cause_fix(GMAIL_DIAG),
        SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1', SMTPWATCH_RELAY='smtp.gmail.com',
        SMTPWATCH_ACCOUNT='alerts@example.com', SMTPWATCH_MESSAGES='1',
        SMTPWATCH_ADDR='142.250.102.108', SMTPWATCH_REPLY=reply, SMTPWATCH_COUNT='1',
        SMTPWATCH_TOTAL='1', SMTPWATCH_OPENED=str(epoch(0)), SMTPWATCH_REPEAT='0',
        SMTPWATCH_STATE='open', **span(0, 0)), 'the relay-rejected entry')

    # Within realert (30 min): a failure, its second recipient, a
    # [CACHED] deferral of another message, one more failure.
    es = feed(d, j, log, pf_relay_fail('B2B2B2B2B2', 'a@partner.example', 300) +
              pf_relay_fail('B2B2B2B2B2', 'b@partner.example', 300) +
              pf_relay_fail('C3C3C3C3C3', 'news@list.example', 600, pid=3106, cached=True) +
              pf_relay_fail('D4D4D4D4D4', 'c@partner.example', 900))
    eq(len(es), 1, 'entries after more failures within realert')
    r = incidents(d, 'relay')[0]
    eq((r['failures'], r['messages'], r['alerts'], r['state']), (3, 4, 1, 'open'),
       'relay incident (failures, messages, alerts, state) within realert')

    # Past realert but within the hour: nothing yet.
    es = feed(d, j, log, pf_relay_fail('E5E5E5E5E5', 'd@partner.example', 2000))
    eq(len(es), 1, 'entries after a failure past realert, within the hour')
    # An hour after the first entry: one repeat, the 4 failures since.
    es = feed(d, j, log, pf_relay_fail('G7G7G7G7G7', 'f@partner.example', 3600))
    e = one(j.all('relay-rejected', repeat=1), 'repeat entries')
    eq(len(es), 2, 'entries after a failure an hour after the first entry')
    check(e, 'relay-rejected', dict(
        diag_fields(GMAIL_DIAG),
        SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1', SMTPWATCH_RELAY='smtp.gmail.com',
        SMTPWATCH_ACCOUNT='alerts@example.com', SMTPWATCH_MESSAGES='6',
        SMTPWATCH_ADDR='142.250.102.108', SMTPWATCH_REPLY=reply, SMTPWATCH_COUNT='4',
        SMTPWATCH_TOTAL='5', SMTPWATCH_OPENED=str(epoch(0)), SMTPWATCH_REPEAT='1',
        SMTPWATCH_STATE='open', **span(300, 3600)), 'the repeat entry')
    msg = jtext(e['MESSAGE'])
    want = (CAUGHT + 'relay smtp.gmail.com still refuses our login for alerts@example.com: '
            '4 more failures %s (5 in all); 6 messages waiting.' % when(300, 3600))
    if not msg.startswith(want):
        fail('repeat MESSAGE: %r, want it to start with %r' % (msg, want))

    # Mail goes through: recovered after 3700 s, 6 messages delayed.
    es = feed(d, j, log, pf_relay_sent('F6F6F6F6F6', 'e@partner.example', 3700))
    e = one(j.all('relay-recovered'), 'relay-recovered entries')
    eq(len(es), 3, 'entries after the delivery')
    check(e, 'relay-recovered', dict(
        MESSAGE='relay smtp.gmail.com accepts our login for alerts@example.com again '
                'at 2026-11-28 05:01:40 UTC, after 1 h 1 min: 6 messages were delayed, '
                '5 failures %s.' % when(0, 3600),
        SMTPWATCH_DIAGNOSIS=GMAIL_DIAG,
        SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1', SMTPWATCH_RELAY='smtp.gmail.com',
        SMTPWATCH_ACCOUNT='alerts@example.com', SMTPWATCH_MESSAGES='6',
        SMTPWATCH_ADDR='142.250.102.108', SMTPWATCH_REPLY=reply, SMTPWATCH_COUNT='0',
        SMTPWATCH_TOTAL='5', SMTPWATCH_OPENED=str(epoch(0)), SMTPWATCH_REPEAT='2',
        SMTPWATCH_STATE='closed', SMTPWATCH_DURATION='3700', **span(0, 3600)),
        'the relay-recovered entry')
    d.term()
    r = incidents(d, 'relay')
    eq(len(r), 1, 'relay incidents at the end')
    r = r[0]
    eq({k: r[k] for k in ('host', 'direction', 'opened', 'last', 'closed', 'close_reason',
                          'failures', 'messages', 'reported', 'alerts', 'last_alert',
                          'diagnosis', 'last_addr', 'state')},
       {'host': 'mx1', 'direction': 'client', 'opened': epoch(0), 'last': epoch(3600),
        'closed': epoch(3700), 'close_reason': 'success', 'failures': 5, 'messages': 6,
        'reported': 5, 'alerts': 3, 'last_alert': epoch(3700), 'diagnosis': GMAIL_DIAG,
        'last_addr': '142.250.102.108', 'state': 'closed'}, 'the relay incident row')
    eq(subject(r), b'smtp.gmail.com', 'the relay incident subject')


def exim_relay_fail(sec, queue, pid):
    return (b'%s mx1 exim[%d]: 2026-11-28 %s %s plain_client authenticator failed '
            b'H=smtp.sendgrid.net [2001:db8:5::69] 535 Authentication failed: Bad username / '
            b'password\n') % (stamp(sec).encode(), pid, stamp(sec)[7:].encode(), queue)


@test('relay')
def exim_relay(w):
    """Exim's "authenticator failed H=smtp.sendgrid.net", no relay name
    configured: relay-rejected without "for NAME", SMTPWATCH_ACCOUNT the
    relay, SendGrid's diagnosis; a second failure within realert writes
    nothing; Exim's delivery through the relay (=> ... A=plain) closes it."""
    did = 'sendgrid/535-bad-username-password'
    d, j, log = start(w, 'relay smtp.gmail.com as alerts@example.com')
    es = feed(d, j, log, exim_relay_fail(0, b'1rLmNp-000000001r1-2BcD', 31010))
    e = one(es, 'entries after the first failure')
    iid = incident_of(d, 'relay', b'smtp.sendgrid.net')['id']
    reply = '535 Authentication failed: Bad username / password'
    check(e, 'relay-rejected', dict(
        diag_fields(did),
        MESSAGE='relay smtp.sendgrid.net rejected our credentials (535) %s; '
                '1 message waiting.' % when(0) + cause_fix(did),
        SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1', SMTPWATCH_RELAY='smtp.sendgrid.net',
        SMTPWATCH_ACCOUNT='smtp.sendgrid.net', SMTPWATCH_MESSAGES='1',
        SMTPWATCH_ADDR='2001:db8:5::69', SMTPWATCH_REPLY=reply, SMTPWATCH_COUNT='1',
        SMTPWATCH_TOTAL='1', SMTPWATCH_OPENED=str(epoch(0)), SMTPWATCH_REPEAT='0',
        SMTPWATCH_STATE='open', **span(0, 0)), 'the Exim relay-rejected entry')
    es = feed(d, j, log, exim_relay_fail(60, b'1rLmNq-000000001r2-3CdE', 31011))
    eq(len(es), 1, 'entries after a second failure within realert')
    es = feed(d, j, log, b'%s mx1 exim[31020]: 2026-11-28 %s 1rLmNr-000000001r3-4DeF => '
              b'bob@example.com R=smarthost T=remote_smtp_smarthost H=smtp.sendgrid.net '
              b'[2001:db8:5::69]:587 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes A=plain '
              b'C="250 Ok: queued as abc"\n' % (stamp(120).encode(), stamp(120)[7:].encode()))
    e = one(j.all('relay-recovered'), 'relay-recovered entries')
    eq((e['SMTPWATCH_RELAY'], e['SMTPWATCH_DURATION'], e['SMTPWATCH_MESSAGES'],
        e['SMTPWATCH_TOTAL'], e['SMTPWATCH_COUNT'], e['SMTPWATCH_STATE']),
       ('smtp.sendgrid.net', '120', '2', '2', '1', 'closed'),
       'relay-recovered (RELAY, DURATION, MESSAGES, TOTAL, COUNT, STATE)')
    if ' for ' in e['MESSAGE']:
        fail('relay-recovered MESSAGE names a credential: %r' % e['MESSAGE'])
    eq(incident_of(d, 'relay', b'smtp.sendgrid.net')['close_reason'], 'success', 'close_reason')
    d.term()


# ===========================================================================
# server
# ===========================================================================

def account_want(iid, account, addr, count, total, opened, repeat, did, first, last,
                 addresses=1, state='open', reply='UGFzc3dvcmQ6', **more):
    """The fields of an account's entry; first, last: the failures it tells."""
    f = dict(diag_fields(did), SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1',
             SMTPWATCH_ACCOUNT=account, SMTPWATCH_ADDR=addr, SMTPWATCH_ADDRESSES=str(addresses),
             SMTPWATCH_REPLY=reply, SMTPWATCH_COUNT=str(count), SMTPWATCH_TOTAL=str(total),
             SMTPWATCH_OPENED=str(epoch(opened)), SMTPWATCH_REPEAT=str(repeat),
             SMTPWATCH_STATE=state, SMTPWATCH_WINDOW='900', SMTPWATCH_THRESHOLD='5',
             **span(first, last))
    f.update(more)
    return f


def incident_of(d, kind, subj):
    rows = [r for r in incidents(d, kind) if subject(r) == subj]
    if len(rows) != 1:
        fail('%d %s incidents for %r, want 1: %s' % (len(rows), kind, subj, rows))
    return rows[0]


@test('server')
def stale_device(w):
    """carol logged in from 192.0.2.10 in an earlier run (in the database
    only); after a restart that address fails every 60 s: account-failing,
    server/stale-device, RHYTHM=60, no "brute" in MESSAGE; carol logs in:
    account-recovered, priority 6, no COMPROMISE.  dan, who logged in
    from 192.0.2.11 earlier in this run's log, failing every 120 s from
    there: stale-device too."""
    d, j, log = start(w)
    feed(d, j, log, pf_success('carol@example.com', '192.0.2.10', 0))
    d.term()
    d.start()
    j = Journal(d)
    did = 'server/stale-device'
    es = feed(d, j, log, fails('carol@example.com', '192.0.2.10', range(600, 841, 60)))
    e = one(es, 'entries after 5 failures every 60 s')
    iid = incident_of(d, 'account', b'carol@example.com')['id']
    check(e, 'account-failing', account_want(iid, 'carol@example.com', '192.0.2.10', 5, 5,
                                             600, 0, did, 600, 840, SMTPWATCH_RHYTHM='60'),
          'the stale-device entry')
    msg = jtext(e['MESSAGE'])
    for part in ('account carol@example.com failed AUTH 5 times in 4 min from 192.0.2.10 '
                 'every 60 s %s: ' % when(600, 840) + DIAG[did]['summary'] + '.',
                 cause_fix(did)):
        if part not in msg:
            fail('stale-device MESSAGE %r lacks %r' % (msg, part))
    if 'brute' in msg.lower():
        fail('stale-device MESSAGE speaks of brute force: %r' % msg)

    es = feed(d, j, log, pf_success('carol@example.com', '192.0.2.10', 900))
    e = one(j.all('account-recovered'), 'account-recovered entries')
    eq(len(es), 2, 'entries after the login')
    check(e, 'account-recovered', dict(
        MESSAGE='account carol@example.com logged in from 192.0.2.10 at '
                '2026-11-28 04:15:00 UTC after 5 failures %s; incident closed.'
                % when(600, 840),
        SMTPWATCH_DIAGNOSIS=did, SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1',
        SMTPWATCH_ACCOUNT='carol@example.com', SMTPWATCH_ADDR='192.0.2.10',
        SMTPWATCH_ADDRESSES='1', SMTPWATCH_REPLY='UGFzc3dvcmQ6', SMTPWATCH_COUNT='0',
        SMTPWATCH_TOTAL='5', SMTPWATCH_OPENED=str(epoch(600)), SMTPWATCH_REPEAT='1',
        SMTPWATCH_STATE='closed', SMTPWATCH_DURATION='300', **span(600, 840)),
        'the account-recovered entry')
    r = incident_of(d, 'account', b'carol@example.com')
    eq((r['state'], r['close_reason'], r['closed'], r['failures'], r['alerts'], r['diagnosis']),
       ('closed', 'success', epoch(900), 5, 2, did), 'carol\'s incident row')

    # In this run's own log: a login, then the same address failing.
    es = feed(d, j, log, pf_success('dan@example.com', '192.0.2.11', 1000) +
              fails('dan@example.com', '192.0.2.11', range(1100, 1581, 120)))
    e = one(j.all('account-failing', account='dan@example.com'), 'dan\'s entries')
    iid = incident_of(d, 'account', b'dan@example.com')['id']
    check(e, 'account-failing', account_want(iid, 'dan@example.com', '192.0.2.11', 5, 5,
                                             1100, 0, did, 1100, 1580, SMTPWATCH_RHYTHM='120'),
          'dan\'s stale-device entry')
    if 'every 2 min' not in jtext(e['MESSAGE']):
        fail('dan\'s MESSAGE lacks "every 2 min": %r' % jtext(e['MESSAGE']))
    d.term()


@test('server')
def brute_force(w):
    """dave: 8 failures from one new address, a second apart: one
    account-failing entry at the 5th (server/brute-force, no rhythm);
    erin: 5 failures from 3 addresses: server/distributed-brute-force;
    frank: brute force from one address, then two more addresses within
    realert: an immediate entry with the distributed diagnosis."""
    d, j, log = start(w)
    bf, dbf = 'server/brute-force', 'server/distributed-brute-force'
    es = feed(d, j, log, fails('dave@example.com', '203.0.113.50', range(0, 8)))
    e = one(es, 'entries after dave\'s 8 failures')
    iid = incident_of(d, 'account', b'dave@example.com')['id']
    check(e, 'account-failing', account_want(iid, 'dave@example.com', '203.0.113.50', 5, 5,
                                             0, 0, bf, 0, 4), 'dave\'s entry')
    want = CAUGHT + 'account dave@example.com failed AUTH 5 times in 4 s from 203.0.113.50 ' \
        'between 2026-11-28 04:00:00 and 04:00:04 UTC: ' + DIAG[bf]['summary'] + '.' + cause_fix(bf)
    eq(jtext(e['MESSAGE']), want, 'dave\'s MESSAGE')

    ips = ['198.51.100.1', '198.51.100.2', '198.51.100.3']
    es = feed(d, j, log, fails('erin@example.com', ips, range(100, 105)))
    e = one(j.all('account-failing', account='erin@example.com'), 'erin\'s entries')
    eq(len(es), 2, 'entries after erin\'s failures')
    iid = incident_of(d, 'account', b'erin@example.com')['id']
    check(e, 'account-failing', account_want(iid, 'erin@example.com', '198.51.100.2', 5, 5,
                                             100, 0, dbf, 100, 104, addresses=3),
          'erin\'s entry')
    msg = jtext(e['MESSAGE'])
    for part in ('from 3 addresses (last 198.51.100.2)', DIAG[dbf]['summary'], cause_fix(dbf)):
        if part not in msg:
            fail('erin\'s MESSAGE %r lacks %r' % (msg, part))

    es = feed(d, j, log, fails('frank@example.com', '203.0.113.60', range(200, 206)))
    e = one(j.all('account-failing', account='frank@example.com'), 'frank\'s entries')
    iid = incident_of(d, 'account', b'frank@example.com')['id']
    check(e, 'account-failing', account_want(iid, 'frank@example.com', '203.0.113.60', 5, 5,
                                             200, 0, bf, 200, 204), 'frank\'s first entry')
    es = feed(d, j, log, pf_fail('frank@example.com', '198.51.100.11', 210))
    eq(len(j.all('account-failing', account='frank@example.com')), 1,
       'frank\'s entries with 2 addresses')
    es = feed(d, j, log, pf_fail('frank@example.com', '198.51.100.12', 211))
    e = one(j.all('account-failing', account='frank@example.com', repeat=1),
            'frank\'s escalation entries')
    check(e, 'account-failing', account_want(iid, 'frank@example.com', '198.51.100.12', 3, 8,
                                             200, 1, dbf, 205, 211, addresses=3),
          'frank\'s escalation entry')
    if DIAG[dbf]['summary'] not in jtext(e['MESSAGE']):
        fail('the escalation MESSAGE does not name the new diagnosis: %r' % jtext(e['MESSAGE']))
    es = feed(d, j, log, pf_fail('frank@example.com', '198.51.100.13', 212))
    eq(len(j.all('account-failing', account='frank@example.com')), 2,
       'frank\'s entries after one more failure within realert')
    r = incident_of(d, 'account', b'frank@example.com')
    eq((r['failures'], r['alerts'], r['reported'], r['diagnosis'], r['state']),
       (9, 2, 8, dbf, 'open'), 'frank\'s incident (failures, alerts, reported, diagnosis, state)')

    # A stale device, then an address that never logged in: brute force, at once.
    feed(d, j, log, pf_success('liz@example.com', '192.0.2.12', 300) +
         fails('liz@example.com', '192.0.2.12', range(400, 641, 60)))
    e = one(j.all('account-failing', account='liz@example.com'), 'liz\'s entries')
    eq(e['SMTPWATCH_DIAGNOSIS'], 'server/stale-device', 'liz\'s first diagnosis')
    feed(d, j, log, pf_fail('liz@example.com', '203.0.113.61', 650))
    e = one(j.all('account-failing', account='liz@example.com', repeat=1),
            'liz\'s escalation entries')
    iid = incident_of(d, 'account', b'liz@example.com')['id']
    check(e, 'account-failing', account_want(iid, 'liz@example.com', '203.0.113.61', 1, 6,
                                             400, 1, bf, 650, 650, addresses=2),
          'liz\'s escalation entry')
    d.term()


@test('server')
def spraying(w):
    """One address, 6 accounts x 1 failure: one address-spraying entry
    (5 accounts at the 5th); 4 more rounds bring every account to 5
    failures, all from the sprayer: no account-failing; u1 then fails from
    a second address: u1's incident opens (not all its addresses spray)."""
    d, j, log = start(w)
    users = ['u%d@example.com' % i for i in range(1, 7)]
    rounds = [b''.join(pf_fail(u, '203.0.113.77', r * 6 + i) for i, u in enumerate(users))
              for r in range(5)]
    es = feed(d, j, log, rounds[0])
    e = one(es, 'entries after one round')
    iid = incident_of(d, 'address', b'203.0.113.77')['id']
    check(e, 'address-spraying', dict(
        diag_fields('server/password-spraying'), SMTPWATCH_INCIDENT=str(iid),
        SMTPWATCH_HOST='mx1', SMTPWATCH_ADDR='203.0.113.77', SMTPWATCH_ACCOUNTS='5',
        SMTPWATCH_REPLY='UGFzc3dvcmQ6', SMTPWATCH_COUNT='5', SMTPWATCH_TOTAL='5',
        SMTPWATCH_OPENED=str(epoch(0)), SMTPWATCH_REPEAT='0', SMTPWATCH_STATE='open',
        SMTPWATCH_WINDOW='900', SMTPWATCH_THRESHOLD='5', **span(0, 4)),
        'the address-spraying entry')
    if not jtext(e['MESSAGE']).startswith(CAUGHT + 'address 203.0.113.77 failed AUTH on 5 '
                                          'accounts in 4 s (5 failures) ' + when(0, 4) + ':'):
        fail('address-spraying MESSAGE: %r' % jtext(e['MESSAGE']))
    es = feed(d, j, log, b''.join(rounds[1:]))
    eq([e['SMTPWATCH_KIND'] for e in es], ['address-spraying'],
       'entries after 5 failures of every account from the sprayer')
    eq(account_failures(d.db), {u.encode(): 5 for u in users}, 'account failures')
    r = incident_of(d, 'address', b'203.0.113.77')
    eq((r['failures'], r['accounts'], r['alerts']), (30, 6, 1),
       'spray incident (failures, accounts, alerts)')
    eq(incidents(d, 'account'), [], 'account incidents')
    es = feed(d, j, log, pf_fail(users[0], '192.0.2.99', 40))
    e = one(j.all('account-failing'), 'account-failing entries after u1 fails elsewhere')
    eq((e['SMTPWATCH_ACCOUNT'], e['SMTPWATCH_COUNT'], e['SMTPWATCH_ADDRESSES'],
        e['SMTPWATCH_DIAGNOSIS']), (users[0], '6', '2', 'server/brute-force'),
       'u1\'s entry (account, count, addresses, diagnosis)')
    d.term()


@test('server')
def backend_down(w):
    """Two "Connection lost to authentication server" do not alert; the
    third within 5 min is auth-backend-down (priority 3, subject the
    host); a login on the host is auth-backend-recovered."""
    d, j, log = start(w)
    lost = 'Connection lost to authentication server'
    did = 'server/backend-down'
    es = feed(d, j, log, pf_fail(None, '203.0.113.1', 0, reason=lost) +
              pf_fail(None, '203.0.113.2', 10, reason=lost))
    eq(es, [], 'entries after two back-end failures')
    es = feed(d, j, log, pf_fail(None, '203.0.113.3', 20, reason=lost))
    e = one(es, 'entries after three back-end failures')
    r = incident_of(d, 'backend', b'mx1')
    iid = r['id']
    check(e, 'auth-backend-down', dict(
        diag_fields(did), SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1',
        SMTPWATCH_ADDR='203.0.113.3', SMTPWATCH_REPLY=lost, SMTPWATCH_COUNT='3',
        SMTPWATCH_TOTAL='3', SMTPWATCH_OPENED=str(epoch(0)), SMTPWATCH_REPEAT='0',
        SMTPWATCH_STATE='open', SMTPWATCH_WINDOW='300', SMTPWATCH_THRESHOLD='3',
        **span(0, 20)), 'the auth-backend-down entry')
    msg = jtext(e['MESSAGE'])
    if not msg.startswith(CAUGHT + 'SASL back end on mx1 failing: 3 clients refused in 20 s (%s) %s'
                          % (lost, when(0, 20))) or \
            cause_fix(did) not in msg:
        fail('auth-backend-down MESSAGE: %r' % msg)
    es = feed(d, j, log, pf_success('bob@example.com', '192.0.2.5', 60))
    e = one(j.all('auth-backend-recovered'), 'auth-backend-recovered entries')
    check(e, 'auth-backend-recovered', dict(
        SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1', SMTPWATCH_ADDR='192.0.2.5',
        SMTPWATCH_REPLY=lost, SMTPWATCH_COUNT='0', SMTPWATCH_TOTAL='3',
        SMTPWATCH_OPENED=str(epoch(0)), SMTPWATCH_REPEAT='1', SMTPWATCH_STATE='closed',
        SMTPWATCH_DURATION='60', SMTPWATCH_DIAGNOSIS=did, **span(0, 20)),
        'the auth-backend-recovered entry')
    r = incident_of(d, 'backend', b'mx1')
    eq((r['state'], r['close_reason'], r['failures'], r['alerts']), ('closed', 'success', 3, 2),
       'the back-end incident row')
    d.term()


@test('server')
def attribution(w):
    """Postfix failures without a user name, each after Dovecot's line for
    the same address: account-failing for the Dovecot-named account, and
    the counts in the database; a failure with no Dovecot line counts for
    its address only; one Dovecot line names one failure (two failures);
    a Dovecot line older than attribution-window names none."""
    d, j, log = start(w)
    data = b''
    for k in range(5):
        data += dovecot_fail('alice@example.com', '203.0.113.5', 20 * k)
        data += pf_fail(None, '203.0.113.5', 20 * k + 1)
    es = feed(d, j, log, data)
    e = one(es, 'entries after 5 attributed failures')
    iid = incident_of(d, 'account', b'alice@example.com')['id']
    check(e, 'account-failing', account_want(iid, 'alice@example.com', '203.0.113.5', 5, 5,
                                             1, 0, 'server/brute-force', 1, 81,
                                             SMTPWATCH_RHYTHM='20'),
          'the entry for the attributed account')
    es = feed(d, j, log, pf_fail(None, '198.51.100.20', 200) +
              dovecot_fail('bob@example.com', '203.0.113.9', 300) +
              pf_fail(None, '203.0.113.9', 301) + pf_fail(None, '203.0.113.9', 302) +
              dovecot_fail('carol@example.com', '203.0.113.10', 400) +
              pf_fail(None, '203.0.113.10', 415))
    eq(len(es), 1, 'entries after the unpaired failures')
    eq(account_failures(d.db), {b'alice@example.com': 5, b'bob@example.com': 1},
       'account failures')
    eq(address_failures(d.db), {'203.0.113.5': 5, '198.51.100.20': 1, '203.0.113.9': 2,
                                '203.0.113.10': 1}, 'address failures')
    ad = address_rows(d.db)
    got = {k[1]: (r['accounts'], r['last_account']) for k, r in ad.items() if r['failures']}
    eq(got, {'203.0.113.5': (1, b'alice@example.com'), '198.51.100.20': (0, None),
             '203.0.113.9': (1, b'bob@example.com'), '203.0.113.10': (0, None)},
       'address_totals (accounts, last_account)')
    d.term()


@test('server')
def compromise(w):
    """Brute force from 198.51.100.66 on grace, then grace logs in from
    198.51.100.66: account-recovered with priority 4 and
    SMTPWATCH_COMPROMISE=yes, the diagnosis in full."""
    d, j, log = start(w)
    es = feed(d, j, log, fails('grace@example.com', '198.51.100.66', range(0, 6)))
    e = one(es, 'entries after the brute force')
    eq(e['SMTPWATCH_DIAGNOSIS'], 'server/brute-force', 'diagnosis')
    iid = e['SMTPWATCH_INCIDENT']
    feed(d, j, log, pf_success('grace@example.com', '198.51.100.66', 60))
    e = one(j.all('account-recovered'), 'account-recovered entries')
    check(e, 'account-recovered', account_want(
        iid, 'grace@example.com', '198.51.100.66', 1, 6, 0, 1, 'server/brute-force', 0, 5,
        state='closed', PRIORITY='4', SMTPWATCH_COMPROMISE='yes', SMTPWATCH_DURATION='60',
        SMTPWATCH_WINDOW=None, SMTPWATCH_THRESHOLD=None), 'the compromise entry')
    msg = jtext(e['MESSAGE'])
    if 'logged in from 198.51.100.66 at 2026-11-28 04:01:00 UTC, an address that was ' \
            'failing it, after 6 failures %s: ' % when(0, 5) not in msg:
        fail('compromise MESSAGE: %r' % msg)
    d.term()


@test('server')
def quiet(w):
    """quiet 1h in log time: hal's incident has a failure not yet told,
    ike's has none; an event 1 h 23 min later closes both (close_reason
    quiet): one closing entry for hal (STATE=closed, COUNT=1), none for
    ike."""
    d, j, log = start(w)
    es = feed(d, j, log, fails('hal@example.com', '203.0.113.20', range(0, 6)) +
              fails('ike@example.com', '203.0.113.21', range(10, 15)))
    eq(sorted(e['SMTPWATCH_ACCOUNT'] for e in es), ['hal@example.com', 'ike@example.com'],
       'accounts of the first entries')
    hal = incident_of(d, 'account', b'hal@example.com')['id']
    append(log, pf_success('other@example.com', '192.0.2.30', 5000))
    e = one(j.wait_kind('account-failing', state='closed'), 'closing entries')
    d.wait_until(lambda: all(r['state'] == 'closed' for r in incidents(d, 'account')),
                 'both account incidents closed')
    es = j.sync()
    eq(len(es), 3, 'entries in all')
    check(e, 'account-failing', account_want(
        hal, 'hal@example.com', '203.0.113.20', 1, 6, 0, 1, 'server/brute-force', 5, 5,
        state='closed', SMTPWATCH_DURATION='5'), 'hal\'s closing entry')
    msg = jtext(e['MESSAGE'])
    if 'quiet since 04:00, incident closed' not in msg or \
            '1 more failure %s (6 in all)' % when(5) not in msg:
        fail('closing MESSAGE: %r' % msg)
    got = {subject(r): (r['close_reason'], r['closed'], r['alerts'], r['reported'])
           for r in incidents(d, 'account')}
    eq(got, {b'hal@example.com': ('quiet', epoch(5), 2, 6),
             b'ike@example.com': ('quiet', epoch(14), 1, 5)},
       'incidents (close_reason, closed, alerts, reported)')
    d.term()


@test('server')
def opened_account(w):
    """SMTPWATCH_OPENED and "in N s" are the time of the first failure
    counted in the incident (incident_list.opened, sql/001), with
    account-threshold 10 too (more failures than the rhythm keeps)."""
    d, j, log = start(w, 'account-threshold 10')
    e = one(feed(d, j, log, fails('pat@example.com', '203.0.113.5', range(0, 10))),
            'entries after 10 failures')
    eq((e['SMTPWATCH_COUNT'], e['SMTPWATCH_OPENED']), ('10', str(epoch(0))),
       'pat\'s entry (COUNT, OPENED)')
    if 'failed AUTH 10 times in 9 s' not in e['MESSAGE']:
        fail('pat\'s MESSAGE: %r' % e['MESSAGE'])
    d.term()


@test('server')
def opened_spray(w):
    """The same for a spray whose first account failed twice, the first
    time 100 s before the others: opened then, "in 105 s"."""
    d, j, log = start(w)
    data = (pf_fail('u1@example.com', '198.51.100.9', 100) +
            pf_fail('u1@example.com', '198.51.100.9', 200) +
            b''.join(pf_fail('u%d@example.com' % i, '198.51.100.9', 200 + i) for i in range(2, 6)))
    feed(d, j, log, data)
    e = one(j.all('address-spraying'), 'address-spraying entries')
    eq((e['SMTPWATCH_COUNT'], e['SMTPWATCH_OPENED']), ('6', str(epoch(100))),
       'the spray entry (COUNT, OPENED)')
    if 'failed AUTH on 5 accounts in 105 s (6 failures)' not in e['MESSAGE']:
        fail('the spray MESSAGE: %r' % e['MESSAGE'])
    d.term()


@test('server')
def restart(w):
    """An open incident survives a restart: failures within the hour after
    it write nothing, the first one an hour after the first entry one
    repeat (REPEAT=1) with every failure since the first entry."""
    d, j, log = start(w)
    es = feed(d, j, log, fails('dave@example.com', '203.0.113.50', range(0, 5)))
    iid = one(es, 'entries before the restart')['SMTPWATCH_INCIDENT']
    d.term()
    d.start()
    j = Journal(d)
    es = feed(d, j, log, fails('dave@example.com', '203.0.113.50', range(100, 103)))
    eq(es, [], 'entries after the restart within realert')
    es = feed(d, j, log, pf_fail('dave@example.com', '203.0.113.50', 2000))
    eq(es, [], 'entries after the restart past realert, within the hour')
    es = feed(d, j, log, pf_fail('dave@example.com', '203.0.113.50', 3700))
    e = one(es, 'entries an hour after the first')
    check(e, 'account-failing', account_want(
        iid, 'dave@example.com', '203.0.113.50', 5, 10, 0, 1, 'server/brute-force', 100,
        3700),
        'the repeat after the restart')
    d.term()


# ===========================================================================
# storm
# ===========================================================================

STORM = 100000
STORM_SPAN = 3 * 3600


@test('storm')
def storm(w):
    """100000 failures of one account from one address over 3 h of log
    time (realert 30 min), then a login from elsewhere, under ASan: the
    first entry at the 5th failure, one repeat an hour after the previous
    entry (3600, 7200 s: realert is less than the hour); the login from
    another address closes nothing; a line an hour later closes the
    incident (quiet) with an entry that tells the rest and the login: 4
    entries whose COUNTs sum to 100000; incidents.failures = 100000."""
    d, j, log = start(w)
    user = b'storm@example.com'
    data = b''.join(pf_fail(user, '203.0.113.66', i * STORM_SPAN // STORM, pid=4000 + i % 100)
                    for i in range(STORM))
    data += pf_success(user, '192.0.2.44', STORM_SPAN + 100)
    feed(d, j, log, data, timeout=300)
    eq(incident_of(d, 'account', user)['state'], 'open', 'the incident after the login')
    append(log, pf_success('other@example.com', '192.0.2.45', STORM_SPAN + 3800))
    j.wait_kind('account-failing', state='closed')
    es = j.all(account=user.decode())
    eq([(e['SMTPWATCH_KIND'], e['SMTPWATCH_REPEAT']) for e in es],
       [('account-failing', str(i)) for i in range(4)], 'entries (kind, repeat)')
    counts = [int(e['SMTPWATCH_COUNT']) for e in es]
    eq(sum(counts), STORM, 'the sum of SMTPWATCH_COUNT (counts %s)' % counts)
    eq(counts[0], 5, 'the first entry\'s COUNT')
    eq([int(e['SMTPWATCH_TOTAL']) for e in es][-1], STORM, 'the last entry\'s TOTAL')
    eq((es[-1]['SMTPWATCH_STATE'], es[-1].get('SMTPWATCH_LOGINS'),
        es[-1].get('SMTPWATCH_LOGIN_ADDR')), ('closed', '1', '192.0.2.44'),
       'the closing entry (STATE, LOGINS, LOGIN_ADDR)')
    last = (STORM - 1) * STORM_SPAN // STORM
    d.wait_until(lambda: incident_of(d, 'account', user)['state'] == 'closed',
                 'the incident closed in the database')
    r = incident_of(d, 'account', user)
    eq((r['failures'], r['reported'], r['alerts'], r['close_reason'], r['last_alert']),
       (STORM, STORM, 4, 'quiet', epoch(last)),
       'the incident (failures, reported, alerts, close_reason, last_alert)')
    eq(account_failures(d.db), {user: STORM}, 'account failures')
    d.term()


# ===========================================================================
# incidents: their lifecycle, their bound, their times
# ===========================================================================

def epoch_of(iso_text):
    """The epoch seconds of an ISO 8601 UTC time as alert.c writes it."""
    import calendar
    return calendar.timegm(time.strptime(iso_text, '%Y-%m-%dT%H:%M:%SZ'))


@test('incidents')
def attack61(w):
    """The reproduced bug: one account attacked from 61 addresses over two
    hours (240 failures, one every 30 s), its owner logging in from its
    usual address every 20 min (6 logins; it logged in before the
    attack).  One incident, whose entries are bounded whatever realert
    (30 min here) says: the first at the 5th failure, one follow-up an
    hour later, and the entry that closes it when quiet, which tells the
    owner's logins; no entry for a login, no other incident; the COUNTs
    add up to 240."""
    d, j, log = start(w)
    user, owner = 'victim@example.com', '192.0.2.10'
    data = pf_success(user, owner, 0)
    for k in range(240):
        data += pf_fail(user, '203.0.113.%d' % (100 + k % 61), 60 + 30 * k, pid=5000 + k)
        if k % 40 == 20:
            data += pf_success(user, owner, 60 + 30 * k + 10, pid=6000 + k)
    feed(d, j, log, data)
    eq(len(incidents(d, 'account')), 1, 'account incidents during the attack')
    eq(incidents(d, 'account')[0]['state'], 'open', 'the incident after the attack')
    last = 60 + 30 * 239
    append(log, pf_success('other@example.com', '192.0.2.30', last + 3700))
    j.wait_kind('account-failing', state='closed')
    es = j.sync()
    dbf = 'server/distributed-brute-force'
    eq([(e['SMTPWATCH_KIND'], e['SMTPWATCH_REPEAT'], e['SMTPWATCH_STATE']) for e in es],
       [('account-failing', '0', 'open'), ('account-failing', '1', 'open'),
        ('account-failing', '2', 'closed')], 'entries (kind, repeat, state)')
    iid = incident_of(d, 'account', user.encode())['id']
    check(es[0], 'account-failing', account_want(
        iid, user, '203.0.113.104', 5, 5, 60, 0, dbf, 60, 180, addresses=5,
        SMTPWATCH_RHYTHM='30'), 'the first entry')
    check(es[1], 'account-failing', account_want(
        iid, user, '203.0.113.102', 120, 125, 60, 1, dbf, 210, 3780, addresses=61,
        SMTPWATCH_RHYTHM='30', SMTPWATCH_LOGINS='3', SMTPWATCH_LOGIN_ADDR=owner, SMTPWATCH_LOGIN_TIME=iso(60 + 30 * 100 + 10)),
        'the follow-up an hour later')
    check(es[2], 'account-failing', account_want(
        iid, user, '203.0.113.156', 115, 240, 60, 2, dbf, 3810, last, addresses=61,
        state='closed', SMTPWATCH_DURATION=str(last - 60), SMTPWATCH_LOGINS='6',
        SMTPWATCH_LOGIN_ADDR=owner, SMTPWATCH_LOGIN_TIME=iso(60 + 30 * 220 + 10)),
        'the closing entry')
    for e, prev in zip(es[1:], es):
        gap = epoch_of(e['SMTPWATCH_LAST']) - epoch_of(prev['SMTPWATCH_LAST'])
        if e['SMTPWATCH_STATE'] == 'open' and gap < 3600:
            fail('a follow-up %d s after the previous entry' % gap)
    msg = jtext(es[2]['MESSAGE'])
    want = ('; meanwhile 6 logins from addresses not failing it, the latest from %s at '
            '2026-11-28 05:51:10 UTC; quiet since 06:00, incident closed' % owner)
    if want not in msg or '115 more failures %s (240 in all)' % when(3810, last) not in msg:
        fail('the closing MESSAGE: %r' % msg)
    r = incident_of(d, 'account', user.encode())
    eq((r['failures'], r['reported'], r['alerts'], r['addresses'], r['close_reason']),
       (240, 240, 3, 61, 'quiet'),
       'the incident (failures, reported, alerts, addresses, close_reason)')
    eq(len(incidents(d)), 1, 'incidents in all')
    d.term()


@test('incidents')
def stale_fixed(w):
    """A stale device: a phone that logged in before from two addresses
    (Wi-Fi and mobile) fails at a steady rhythm with an old password:
    server/stale-device.  Its owner logs in from the desktop: no entry,
    the incident stays open.  The phone, given the new password, logs in
    from one of its addresses: account-recovered, close_reason success,
    no compromise, the desktop's login told."""
    d, j, log = start(w)
    user, wifi, mobile, desk = 'nina@example.com', '192.0.2.40', '198.51.100.40', '192.0.2.41'
    feed(d, j, log, pf_success(user, wifi, 0) + pf_success(user, mobile, 10))
    es = feed(d, j, log, fails(user, [wifi, mobile], range(300, 541, 60)))
    e = one(es, 'entries after the stale device\'s failures')
    did = 'server/stale-device'
    iid = incident_of(d, 'account', user.encode())['id']
    check(e, 'account-failing', account_want(iid, user, wifi, 5, 5, 300, 0, did, 300, 540,
                                             addresses=2, SMTPWATCH_RHYTHM='60'),
          'the stale-device entry')
    es = feed(d, j, log, pf_success(user, desk, 600) + pf_fail(user, mobile, 660))
    eq(len(es), 1, 'entries after the owner\'s login from the desktop')
    eq(incident_of(d, 'account', user.encode())['state'], 'open', 'the incident after it')
    es = feed(d, j, log, pf_success(user, mobile, 720))
    e = one(j.all('account-recovered'), 'account-recovered entries')
    check(e, 'account-recovered', dict(
        MESSAGE='account %s logged in from %s at 2026-11-28 04:12:00 UTC after 6 failures '
                '%s; incident closed; meanwhile a login from %s, not a failing address, '
                'at 2026-11-28 04:10:00 UTC.' % (user, mobile, when(300, 660), desk),
        SMTPWATCH_DIAGNOSIS=did, SMTPWATCH_INCIDENT=str(iid), SMTPWATCH_HOST='mx1',
        SMTPWATCH_ACCOUNT=user, SMTPWATCH_ADDR=mobile, SMTPWATCH_ADDRESSES='2',
        SMTPWATCH_REPLY='UGFzc3dvcmQ6', SMTPWATCH_COUNT='1', SMTPWATCH_TOTAL='6',
        SMTPWATCH_OPENED=str(epoch(300)), SMTPWATCH_REPEAT='1', SMTPWATCH_STATE='closed',
        SMTPWATCH_DURATION='420', SMTPWATCH_LOGINS='1', SMTPWATCH_LOGIN_ADDR=desk,
        SMTPWATCH_LOGIN_TIME=iso(600), **span(300, 660)), 'the account-recovered entry')
    r = incident_of(d, 'account', user.encode())
    eq((r['state'], r['close_reason'], r['closed'], r['failures'], r['alerts']),
       ('closed', 'success', epoch(720), 6, 2), 'the incident row')
    d.term()


@test('incidents')
def backlog(w):
    """Two hours of log, ending 10 min ago, caught up at start: a relay
    refusal, a brute force and its follow-up an hour later, the relay
    recovered.  Every entry carries the failures' own times (FIRST,
    LAST, and in MESSAGE) and the caught-up marker (SMTPWATCH_CAUGHT_UP=1,
    "caught up: ", priority one step lower).  Then lines appended while
    the daemon runs, stamped now: their entry is live, without the
    marker, at the kind's priority."""
    now = int(time.time())
    t0 = now - 2 * 3600 - 600
    log = w.path('mail.log')
    # the follow-up an hour after the first entry, told before the
    # incident is quiet for the quiet time (1 h) by the logs' clock
    brute = [t0 + 100 + i for i in range(5)] + [t0 + 2000, t0 + 3710]
    data = at(pf_relay_fail('A1A1A1A1A1', 'ops@partner.example'), t0)
    data += b''.join(at(pf_fail('bob@example.com', '203.0.113.50'), t) for t in brute)
    data += at(pf_relay_sent('B2B2B2B2B2', 'ops@partner.example'), t0 + 7200)
    append(log, data)
    d, j, log = start(w, 'relay smtp.gmail.com as alerts@example.com')
    d.wait_caught_up()
    es = j.sync()
    got = [(e['SMTPWATCH_KIND'], e['SMTPWATCH_FIRST'], e['SMTPWATCH_LAST'], e['PRIORITY'],
            e.get('SMTPWATCH_CAUGHT_UP')) for e in es]

    def z(t):
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))
    eq(got, [('relay-rejected', z(t0), z(t0), '4', '1'),
             ('account-failing', z(t0 + 100), z(t0 + 104), '5', '1'),
             ('account-failing', z(t0 + 2000), z(t0 + 3710), '5', '1'),
             ('relay-recovered', z(t0), z(t0), '6', '1')],
       'the backlog\'s entries (kind, FIRST, LAST, PRIORITY, CAUGHT_UP)')
    spans = [when_at(t0), when_at(t0 + 100, t0 + 104), when_at(t0 + 2000, t0 + 3710),
             when_at(t0)]
    for e, sp in zip(es, spans):
        msg = jtext(e['MESSAGE'])
        if not msg.startswith('caught up: ') or ' %s' % sp not in msg:
            fail('a caught-up MESSAGE without "caught up: " or %r: %r' % (sp, msg))
    live = int(time.time())
    es = feed(d, j, log, b''.join(at(pf_fail('carl@example.com', '198.51.100.7'), live - 4 + i)
                                  for i in range(5)))
    e = one(j.all('account-failing', account='carl@example.com'), 'carl\'s entries')
    eq((e['SMTPWATCH_FIRST'], e['SMTPWATCH_LAST'], e['PRIORITY'], e.get('SMTPWATCH_CAUGHT_UP')),
       (z(live - 4), z(live), '4', None), 'the live entry (FIRST, LAST, PRIORITY, CAUGHT_UP)')
    msg = jtext(e['MESSAGE'])
    if not msg.startswith('account carl@example.com failed AUTH 5 times in 4 s from '
                          '198.51.100.7 %s: ' % when_at(live - 4, live)):
        fail('the live MESSAGE: %r' % msg)
    d.term()


# ===========================================================================
# attack: issue 18, findings 1 and 2 -- an attack must not silence an
# alert, nor flood the journal
# ===========================================================================

FAULT_BIN = os.path.join(ROOT, 'build', 'fault', 'smtpwatchd')


def ctl_status(d, *args):
    """smtpwatchctl status [ARGS] of d (its control socket in the conf)."""
    r = subprocess.run([CTL, '-f', d.conf, '--rules', RULES, 'status'] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
                       env=dict(os.environ, LC_ALL='C', TZ='UTC'))
    if r.returncode not in (0, 1):
        fail('smtpwatchctl status %s: exit %d\n%s%s' % (' '.join(args), r.returncode,
                                                       r.stdout.decode()[-2000:],
                                                       r.stderr.decode()[-2000:]))
    return r.stdout.decode()


def minute_of(e):
    """The minute of log time an entry is about: its latest failure's."""
    return e.get('SMTPWATCH_MINUTE', e.get('SMTPWATCH_LAST', ''))[:16]


def client_entries_per_minute(es):
    """minute -> entries about account and address incidents."""
    out = {}
    for e in es:
        if e['SMTPWATCH_KIND'] in ('account-failing', 'address-spraying', 'account-recovered'):
            out[minute_of(e)] = out.get(minute_of(e), 0) + 1
    return out


@test('attack')
def exhaustion(w):
    """Finding 1 of issue 18: filling the table of open incidents
    silenced every new alert.  client-incidents 50: 120 client addresses
    (as many networks) each fail on the same 5 accounts in 86 s, 125
    client incidents with the accounts' own; then Gmail refuses our
    login.  Its relay-rejected entry is written with that batch, Gmail's
    diagnosis in it; 75 incidents were folded (close reason folded, the
    ones whose latest failure is the oldest), 50 are open; one summarising
    entry; status says "summarising now: 75 incidents" and --json
    summarising true, folded_incidents 75; smtpwatchctl relays shows the
    relay failing; no minute has more than 60 client entries."""
    sock = w.path('control.sock')
    d, j, log = start(w, 'relay smtp.gmail.com as alerts@example.com\n'
                         'client-incidents 50\ncontrol %s' % sock)
    lines = [pf_fail('u%d@example.com' % a, '10.1.%d.%d' % (k >> 8, k & 255), (k * 5 + a) // 7,
                     pid=7000 + k)
             for k in range(120) for a in range(5)]
    es = feed(d, j, log, b''.join(lines) + pf_relay_fail('A1A1A1A1A1', 'ops@partner.example', 90))
    e = one(j.all('relay-rejected'), 'relay-rejected entries after the attack')
    eq((e['SMTPWATCH_RELAY'], e['SMTPWATCH_ACCOUNT'], e['SMTPWATCH_DIAGNOSIS'], e['SMTPWATCH_COUNT']),
       ('smtp.gmail.com', 'alerts@example.com', GMAIL_DIAG, '1'),
       'the relay-rejected entry (RELAY, ACCOUNT, DIAGNOSIS, COUNT)')
    rows = incidents(d)
    client = [r for r in rows if r['kind'] in ('account', 'address')]
    eq(len(client), 125, 'client incidents opened')
    folded = [r for r in client if r['close_reason'] == 'folded']
    eq((len(folded), len([r for r in client if r['state'] == 'open'])), (75, 50),
       'client incidents (folded, open)')
    if max(r['last'] for r in folded) > min(r['last'] for r in client if r['state'] == 'open'):
        fail('an incident was folded while one whose latest failure is older stayed open')
    s = one(j.all('summarising'), 'summarising entries')
    eq((s['SMTPWATCH_CAPACITY'], s['SMTPWATCH_OPEN']), ('50', '50'),
       'the summarising entry (CAPACITY, OPEN)')
    eq(incident_of(d, 'relay', b'smtp.gmail.com')['state'], 'open', 'the relay incident')
    st = json.loads(ctl_status(d, '--json'))['daemon']
    eq((st['summarising'], st['folded_incidents'], st['incidents']), (True, 75, 51),
       'status --json (summarising, folded_incidents, incidents)')
    text = ctl_status(d)
    if '  folded     summarising now: 75 incidents and ' not in text:
        fail('status does not say it summarises:\n%s' % text)
    r = subprocess.run([CTL, '-f', d.conf, '--rules', RULES, 'relays', '--json'],
                       capture_output=True, timeout=TIMEOUT)
    eq([(x['relay'], x['state']) for x in json.loads(r.stdout)], [('smtp.gmail.com', 'failing')],
       'smtpwatchctl relays (relay, state)')
    most = max(client_entries_per_minute(es).values())
    if most > 60:
        fail('%d client entries in one minute, want at most 60' % most)
    d.term()


@test('attack')
def network64(w):
    """The reported attack, smaller: 2000 addresses of one IPv6 /64 each
    fail on the same 5 accounts, 10000 failures in 5 minutes of log time.
    One address incident, its subject 2001:db8:1:2::/64, 2000 addresses,
    5 accounts, 10000 failures; no account incident; one entry (ADDR and
    NETWORK the /64).  Then a botnet, alerts-per-minute 20: 150 IPv4
    addresses (as many networks) each fail on 5 accounts of their own in
    the minute from 04:10: 20 address-spraying entries in that minute,
    and when the next one begins one alerts-folded entry telling the 130
    others (FOLDED 130, FOLDED_ADDRESS_SPRAYING 130, COUNT 650, 5 top
    subjects); the 130 incidents have alerts 0 and reported 5.  No minute
    has more than 20 client entries, nor more than 21 entries."""
    d, j, log = start(w, 'alerts-per-minute 20')
    lines = [pf_fail('v%d@example.com' % a, '2001:db8:1:2::%x' % (k + 1), (k * 5 + a) // 34,
                     pid=7000 + k % 1000)
             for k in range(2000) for a in range(5)]
    es = feed(d, j, log, b''.join(lines))
    e = one(es, 'entries after 10000 failures from one /64')
    eq((e['SMTPWATCH_KIND'], e['SMTPWATCH_ADDR'], e['SMTPWATCH_NETWORK'], e['SMTPWATCH_ACCOUNTS'],
        e['SMTPWATCH_LAST_ADDR']),
       ('address-spraying', '2001:db8:1:2::/64', '2001:db8:1:2::/64', '5', '2001:db8:1:2::1'),
       'the entry (KIND, ADDR, NETWORK, ACCOUNTS, LAST_ADDR)')
    if not jtext(e['MESSAGE']).startswith(CAUGHT + 'network 2001:db8:1:2::/64 (1 address, last '
                                          '2001:db8:1:2::1) failed AUTH on 5 accounts'):
        fail('the network\'s MESSAGE: %r' % jtext(e['MESSAGE']))
    r = incident_of(d, 'address', b'2001:db8:1:2::/64')
    eq((r['addresses'], r['accounts'], r['failures'], r['alerts'], r['last_addr']),
       (2000, 5, 10000, 1, '2001:db8:1:2::7d0'),
       'the /64\'s incident (addresses, accounts, failures, alerts, last_addr)')
    eq(len(incidents(d)), 1, 'incidents')

    bot = [pf_fail('b%dx%d@example.com' % (k, a), '192.0.%d.%d' % (k // 100, k % 100 + 1),
                   600 + (k * 5 + a) // 13, pid=8000 + k)
           for k in range(150) for a in range(5)]
    es = feed(d, j, log, b''.join(bot) + pf_success('bob@example.com', '198.51.100.2', 700))
    spray = [x for x in es if x['SMTPWATCH_KIND'] == 'address-spraying']
    eq(len(spray), 21, 'address-spraying entries (the /64\'s and 20 of the botnet\'s)')
    f = one(j.all('alerts-folded'), 'alerts-folded entries')
    eq((f['SMTPWATCH_MINUTE'], f['SMTPWATCH_BUDGET'], f['SMTPWATCH_SENT'], f['SMTPWATCH_FOLDED'],
        f['SMTPWATCH_FOLDED_ADDRESS_SPRAYING'], f['SMTPWATCH_FOLDED_INCIDENTS'], f['SMTPWATCH_COUNT']),
       (iso(600)[:17] + '00Z', '20', '20', '130', '130', '0', '650'),
       'the summary (MINUTE, BUDGET, SENT, FOLDED, FOLDED_ADDRESS_SPRAYING, FOLDED_INCIDENTS, '
       'COUNT)')
    eq(sorted(k for k in f if k.startswith('SMTPWATCH_TOP_')),
       ['SMTPWATCH_TOP_%d' % i for i in range(1, 6)], 'the top subjects')
    if 'alerts folded in the minute of 2026-11-28 04:10 UTC: 130 client entries past 20 a ' \
            'minute (130 address-spraying)' not in jtext(f['MESSAGE']):
        fail('the summary\'s MESSAGE: %r' % jtext(f['MESSAGE']))
    rows = [r for r in incidents(d, 'address') if r['subject'] != '2001:db8:1:2::/64']
    eq(len(rows), 150, 'the botnet\'s incidents')
    eq(sorted(set((r['alerts'], r['reported']) for r in rows)), [(0, 5), (1, 5)],
       'the botnet\'s incidents (alerts, reported)')
    eq(len([r for r in rows if r['alerts'] == 0]), 130, 'incidents whose entry was folded')
    per = client_entries_per_minute(j.all())
    if max(per.values()) > 20:
        fail('client entries per minute: %s, want at most 20' % per)
    every = {}
    for x in j.all():
        every[minute_of(x)] = every.get(minute_of(x), 0) + 1
    if max(every.values()) > 21:
        fail('entries per minute: %s, want at most 21' % every)
    d.term()


# ===========================================================================
# commit: issue 18, finding 8 -- an alert is written after its batch is
# committed, never lost, written twice only in the documented case
# ===========================================================================

def alert_key(e):
    return (e['SMTPWATCH_KIND'], e.get('SMTPWATCH_INCIDENT'), e.get('SMTPWATCH_REPEAT'))


@test('commit')
def locked_kill(w):
    """Finding 8: alerts were written before their batch committed, so a
    kill -9 while the database was locked wrote them again.  Another
    connection holds BEGIN IMMEDIATE; Gmail refuses our login and dave
    fails 5 times: the daemon says the database is locked and writes no
    entry (the batch is not committed); kill -9, the lock released, a
    new start reads the lines again: one relay-rejected and one
    account-failing entry in all, each once."""
    d, j, log = start(w, 'relay smtp.gmail.com as alerts@example.com')
    feed(d, j, log, pf_success('bob@example.com', '192.0.2.21', 0))
    con = sqlite3.connect(d.db, timeout=0, isolation_level=None)
    try:
        con.execute('BEGIN IMMEDIATE')
        mark = d.err_mark()
        append(log, pf_relay_fail('A1A1A1A1A1', 'ops@partner.example', 10) +
               fails('dave@example.com', '203.0.113.50', range(20, 25)))
        d.wait_stderr(r'(?i)locked|busy', since=mark)
        eq(j.sync(), [], 'entries while the batch that decided them is not committed')
        d.kill9()
    finally:
        con.execute('ROLLBACK')
        con.close()
    d.start()
    j2 = Journal(d)
    d.wait_caught_up()
    es = j2.sync()
    eq(sorted(alert_key(e) for e in j.sync() + es),
       [('account-failing', '2', '0'), ('relay-rejected', '1', '0')],
       'the entries of both runs (KIND, INCIDENT, REPEAT)')
    d.term()


@test('commit')
def send_kill(w):
    """The exact bound after a kill -9 between a commit and the writing
    of its alerts (build/fault/smtpwatchd, SW_FAULT=sd_journal_sendv:KILL:N:
    SIGKILL at the Nth entry written).  N=1: killed before any of the
    batch's 2 entries is written, after the batch was committed with
    them (the log's checkpoint at its end, the outbox row holding 2):
    the next start writes both, once.  N=2: the first entry written,
    killed at the second: the next start writes both, so the first
    twice, byte for byte (the same INCIDENT and REPEAT), the second once.
    An alert is never lost; one is written twice only when a kill -9
    comes after it was written and before the commit that follows."""
    lost = 'Connection lost to authentication server'
    for n, data in ((1, pf_relay_fail('A1A1A1A1A1', 'ops@partner.example', 10) +
                     fails('dave@example.com', '203.0.113.50', range(20, 25))),
                    (2, fails('erin@example.com', '203.0.113.60', range(100, 105)) +
                     b''.join(pf_fail(None, '203.0.113.%d' % i, 110 + i, reason=lost)
                              for i in range(3)))):
        log = w.path('mail.log')
        open(log, 'ab').close()
        d = Daemon(w, [log], binary=FAULT_BIN, name='fault%d' % n,
                   extra_conf=CONF + '\nrelay smtp.gmail.com as alerts@example.com',
                   database=w.path('smtpwatchd.db'))
        d.asan = True
        d.extra_env = {'SW_FAULT': 'sd_journal_sendv:KILL:%d' % n}
        d.start()
        j = Journal(d)
        append(log, data)
        d.wait_exit()
        eq((checkpoints(d.db)[log]['offset'], outbox(d.db)), (os.path.getsize(log), 2),
           'round %d: after the kill, the log\'s checkpoint and the alerts the outbox holds' % n)
        first = j.sync()
        eq(len(first), n - 1, 'round %d: entries written before the kill' % n)
        d2 = Daemon(w, [log], asan=True, name='run%d' % n, extra_conf=CONF +
                    '\nrelay smtp.gmail.com as alerts@example.com', database=w.path('smtpwatchd.db'))
        d2.start()
        j2 = Journal(d2)
        d2.wait_caught_up()
        es = j2.sync()
        d2.wait_stderr('2 alerts decided before the last stop may not have been written')
        eq(len(es), 2, 'round %d: entries written at the next start' % n)
        for e in first:
            same = [x for x in es if alert_key(x) == alert_key(e)]
            eq([x['MESSAGE'] for x in same], [e['MESSAGE']],
               'round %d: the entry written before the kill, written again' % n)
        eq(outbox(d2.db), 0, 'round %d: the outbox after the start' % n)
        d2.term()


# ===========================================================================
# safety
# ===========================================================================

def field_bytes(v):
    """A journal field as journalctl -o json gives it: a string when it is
    printable UTF-8, else an array of its bytes."""
    if isinstance(v, str):
        return v.encode('utf-8')
    if isinstance(v, list) and all(isinstance(b, int) for b in v):
        return bytes(v)
    fail('not a journal field value: %r' % (v,))


def entries_where(d, field, value):
    """The entries of d's run that journalctl FIELD=VALUE finds (the match
    is on the exact bytes)."""
    r = subprocess.run([JOURNALCTL, '--all', '--output=json', '--no-pager',
                        '--since=@%d' % (int(d.started_wall) - 1),
                        '%s=%s' % (field, value), '_PID=%d' % d.pid],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, LC_ALL='C.UTF-8'))
    if r.returncode != 0:
        fail('journalctl %s=%s: %s' % (field, value, r.stderr.decode('utf-8', 'replace')))
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


@test('safety')
def escaping(w):
    """Account names in the journal, under ASan.  MESSAGE shows them as
    the listings do: UTF-8 as it is, ESC and CR (and Latin-1's 0xfc) as
    \\xNN, a typed backslash doubled, no control byte ever.  The fields
    carry the exact bytes: journalctl SMTPWATCH_ACCOUNT=j\u00fcrgen@...
    finds the entry, a field with control bytes is a byte array (as
    journalctl shows binary fields).  A 250-byte name of control bytes is
    cut in MESSAGE, bounded in the field."""
    d, j, log = start(w)
    evil = b'\x1b[31mro\rot\x1b[0m'
    es = feed(d, j, log, fails(evil, '203.0.113.99', range(0, 5)))
    e = one(es, 'entries for the escaped account')
    r = incident_of(d, 'account', evil)
    if not isinstance(e['MESSAGE'], str) or not no_control(e['MESSAGE']):
        fail('MESSAGE is not printable text: %r' % e['MESSAGE'])
    eq(field_bytes(e['SMTPWATCH_ACCOUNT']), evil, 'SMTPWATCH_ACCOUNT, exact bytes')
    shown = vis(evil)
    if '\\x1b' not in e['MESSAGE'] or 'account %s failed AUTH' % shown not in e['MESSAGE']:
        fail('MESSAGE does not show the account escaped: %r' % e['MESSAGE'])
    eq(r['failures'], 5, 'the incident\'s failures')

    # UTF-8 as it is, and found by journalctl FIELD=value; Latin-1 and a
    # typed escape distinct from it and from each other.
    names = ['j\u00fcrgen@example.de'.encode(), b'j\xfcrgen@example.de',
             b'j\\xfcrgen@example.de']
    es = feed(d, j, log, b''.join(fails(n, '203.0.113.%d' % (90 + i), range(10 + 10 * i, 15 + 10 * i))
                                  for i, n in enumerate(names)))
    got = {}
    for n in names:
        e = one(j.all('account-failing', incident=incident_of(d, 'account', n)['id']),
                'entries for %r' % n)
        eq(field_bytes(e['SMTPWATCH_ACCOUNT']), n, 'SMTPWATCH_ACCOUNT of %r' % n)
        if 'account %s failed AUTH' % vis(n) not in e['MESSAGE']:
            fail('MESSAGE does not show %r as %r: %r' % (n, vis(n), e['MESSAGE']))
        got[n] = e['MESSAGE']
    if len(set(got.values())) != 3 or 'j\u00fcrgen@example.de' not in got[names[0]]:
        fail('the three names are not shown distinctly: %r' % got)
    found = entries_where(d, 'SMTPWATCH_ACCOUNT', 'j\u00fcrgen@example.de')
    eq([field_bytes(x['SMTPWATCH_ACCOUNT']) for x in found], [names[0]],
       'journalctl SMTPWATCH_ACCOUNT=j\u00fcrgen@example.de')
    eq(entries_where(d, 'SMTPWATCH_ACCOUNT', 'j\\xfcrgen@example.de')[0]['SMTPWATCH_ACCOUNT'],
       'j\\xfcrgen@example.de', 'the typed escape, found as typed')

    # Exim writes ESC as \\033 in set_id; the account is the real byte.
    # (One process each: a line repeated by one Exim process is its
    # syslog_duplication copy.)
    exim = b''.join(b'%s mx1 exim[%d]: plain authenticator failed for (h) [203.0.113.6]: 535 '
                    b'Incorrect authentication data (set_id=\\033[31mevil\033[0m\r)\n'
                    % (stamp(50 + i).encode(), 200 + i) for i in range(5))
    es = feed(d, j, log, exim)
    evil = b'\x1b[31mevil\x1b[0m\r'
    e = one(j.all('account-failing', incident=incident_of(d, 'account', evil)['id']),
            'entries for the Exim account')
    if not no_control(e['MESSAGE']) or vis(evil) not in e['MESSAGE']:
        fail('MESSAGE of the Exim account: %r' % e['MESSAGE'])
    eq(field_bytes(e['SMTPWATCH_ACCOUNT']), evil, 'SMTPWATCH_ACCOUNT of the Exim account')

    long_name = b'\x07' * 250
    es = feed(d, j, log, fails(long_name, '203.0.113.98', range(100, 105)))
    e = one(j.all('account-failing', incident=incident_of(d, 'account', long_name)['id']),
            'entries for the long account')
    if not isinstance(e['MESSAGE'], str) or not no_control(e['MESSAGE']):
        fail('MESSAGE is not printable text: %r' % e['MESSAGE'])
    m = re.match(r'(?:caught up: )?account (\S*) failed AUTH', e['MESSAGE'])
    if not m or len(m.group(1)) > 96 or not m.group(1).endswith('...') or \
            not m.group(1).startswith('\\x07\\x07'):
        fail('MESSAGE shows the long account unbounded or uncut: %r' % e['MESSAGE'])
    acc = field_bytes(e['SMTPWATCH_ACCOUNT'])
    eq(acc, long_name, 'SMTPWATCH_ACCOUNT of the long account (under 2048 bytes: whole)')
    d.term()


@test('safety')
def ignored(w):
    """ignore-account and ignore-network (IPv4 and IPv6): failures that
    would alert do not, their counts are stored; a control account alerts."""
    d, j, log = start(w, 'ignore-account nagios-*@example.com\n'
                         'ignore-network 192.0.2.0/24\n'
                         'ignore-network 2001:db8:1::/48')
    data = (fails('nagios-probe@example.com', '203.0.113.30', range(0, 6)) +
            fails('henry@example.com', '192.0.2.77', range(10, 16)) +
            fails('ivan@example.com', '2001:db8:1::5', range(20, 26)) +
            b''.join(pf_fail('s%d@example.com' % i, '192.0.2.78', 30 + i) for i in range(6)) +
            fails('judy@example.com', '203.0.113.31', range(40, 46)))
    es = feed(d, j, log, data)
    e = one(es, 'entries')
    eq((e['SMTPWATCH_KIND'], e['SMTPWATCH_ACCOUNT']), ('account-failing', 'judy@example.com'),
       'the one entry (kind, account)')
    want = {b'nagios-probe@example.com': 6, b'henry@example.com': 6, b'ivan@example.com': 6,
            b'judy@example.com': 6}
    want.update({b's%d@example.com' % i: 1 for i in range(6)})
    eq(account_failures(d.db), want, 'account failures')
    eq(address_failures(d.db), {'203.0.113.30': 6, '192.0.2.77': 6, '2001:db8:1::5': 6,
                                '192.0.2.78': 6, '203.0.113.31': 6}, 'address failures')
    eq([(r['kind'], subject(r)) for r in incidents(d)], [('account', b'judy@example.com')],
       'incidents')
    d.term()


NO_JOURNAL = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
              'mount -t tmpfs -o size=64k tmpfs /run/systemd/journal && exec "$@"', 'sh']


@test('safety')
def no_journal(w):
    """Without a journal socket (a tmpfs over /run/systemd/journal in a
    private mount namespace) the alert goes to stderr as "smtpwatchd:
    KIND: MESSAGE", and nothing of the daemon reaches the journal."""
    r = subprocess.run(NO_JOURNAL + ['test', '!', '-e', '/run/systemd/journal/socket'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        print('SKIP no-journal: cannot hide the journal socket here: %s' %
              r.stdout.decode('utf-8', 'replace').strip())
        return
    d, j, log = start(w, wrap=NO_JOURNAL)
    append(log, fails('kate@example.com', '203.0.113.40', range(0, 5)))
    d.wait_caught_up()
    d.wait_stderr(r'smtpwatchd: account-failing: %saccount kate@example\.com failed AUTH 5 '
                  r'times in 4 s from 203\.0\.113\.40 %s: One address is guessing passwords'
                  % (re.escape(CAUGHT), re.escape(when(0, 4))))
    eq(j.sync(), [], 'journal entries of the daemon without a journal socket')
    d.term()


@test('safety')
def config(w):
    """-n accepts every alerting directive and refuses bad values with
    CONF:LINE (realert and quiet below 60 s among them; prefix lengths,
    client-incidents and alerts-per-minute out of range)."""
    conf = w.path('good.conf')
    with open(conf, 'w') as f:
        f.write('database %s\nlog %s\n%s\nignore-account nagios-*\n'
                'ignore-network 192.0.2.0/24\nignore-network 2001:db8::/32\n'
                'ignore-network 198.51.100.7\nrelay smtp.gmail.com as alerts@example.com\n'
                'relay *.sendgrid.net   as   apikey\nrealert 60s\nquiet 1m\n'
                'attribution-window 0\ngroup-ipv4 24\ngroup-ipv6 56\n'
                'client-incidents 10\nalerts-per-minute 1000\n'
                % (w.path('db'), w.path('log'), CONF))
    rc, out, err = run_daemon([BIN, '-n', '-f', conf, '--rules', RULES])
    if rc != 0 or not out.startswith('configuration OK'):
        fail('-n on every alerting directive: exit %d\nstdout: %s\nstderr: %s' % (rc, out, err))
    bad = ['realert 59s', 'quiet 30s', 'account-threshold 0', 'account-threshold x',
           'spray-threshold 1', 'distributed-addresses 1', 'distributed-addresses 9',
           'account-window 0', 'backend-window forever', 'attribution-window 301s',
           'ignore-network 192.0.2.0/33', 'ignore-network example.com',
           'relay smtp.gmail.com', 'relay as x', 'ignore-account',
           'group-ipv4 7', 'group-ipv4 33', 'group-ipv6 15', 'group-ipv6 129', 'group-ipv6 /64',
           'client-incidents 9', 'client-incidents 1000001', 'alerts-per-minute 0',
           'alerts-per-minute 1001']
    for b in bad:
        with open(conf, 'w') as f:
            f.write('# line 1\ndatabase %s\n%s\nlog %s\n' % (w.path('db'), b, w.path('log')))
        rc, out, err = run_daemon([BIN, '-n', '-f', conf, '--rules', RULES])
        if rc != 1 or '%s:3:' % conf not in err:
            fail('-n with line 3 %r: exit %d, want 1 and "%s:3:" on stderr\nstderr: %s' % (
                b, rc, conf, err))


# ===========================================================================
# catalog
# ===========================================================================

CATALOG = os.path.join(ROOT, 'contrib', 'systemd', 'smtpwatch.catalog')
ALERT_C = os.path.join(ROOT, 'daemon', 'alert.c')
PRIORITIES = {'LOG_ERR': 3, 'LOG_WARNING': 4, 'LOG_NOTICE': 5, 'LOG_INFO': 6}


def alert_kinds():
    """alert.c's table: name -> (MESSAGE_ID, priority)."""
    with open(ALERT_C) as f:
        src = f.read()
    m = re.search(r'\} kinds\[SW_AL_NKINDS\] = \{(.*?)\n\};', src, re.S)
    if not m:
        fail('no kinds[SW_AL_NKINDS] table in %s' % ALERT_C)
    rows = re.findall(r'\[SW_AL_\w+\]\s*=\s*\{\s*"([^"]+)",\s*"([0-9a-f]{32})",\s*(LOG_\w+)\s*\}',
                      m.group(1))
    return {n: (i, PRIORITIES.get(p, p)) for n, i, p in rows}, src


def catalog_entries():
    """The catalog: id -> (subject template, whole text)."""
    with open(CATALOG) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r'^-- ([0-9a-f]{32})\n(.*?)(?=^-- [0-9a-f]{32}\n|\Z)', text, re.S | re.M):
        subj = re.search(r'^Subject: (.*)$', m.group(2), re.M)
        out[m.group(1)] = (subj.group(1) if subj else None, m.group(2))
    return out


@test('catalog')
def catalog_ids(w):
    """The catalog lists exactly the 10 MESSAGE_IDs of alert.c's table,
    which agrees with the specification's kinds, ids and priorities; every
    @SMTPWATCH_...@ of the catalog is a field alert.c writes."""
    kinds, src = alert_kinds()
    eq(kinds, KINDS, 'alert.c kinds (name -> (MESSAGE_ID, priority))')
    cat = catalog_entries()
    eq(sorted(cat), sorted(i for i, _ in kinds.values()), 'catalog MESSAGE_IDs')
    for i, (subj, _) in cat.items():
        if not subj:
            fail('catalog entry %s has no Subject:' % i)
    used = set()
    for _, text in cat.values():
        used |= set(re.findall(r'@([A-Za-z0-9_]+)@', text))
    if not {'SMTPWATCH_RELAY', 'SMTPWATCH_ACCOUNT', 'SMTPWATCH_ADDR'} <= used:
        fail('the catalog\'s fields were not found: %s' % sorted(used))
    written = set(re.findall(r'"(SMTPWATCH_[A-Z0-9_]+)"', src))
    numbered = re.findall(r'"(SMTPWATCH_[A-Z_]+)_%zu"', src)
    ok = set(written)
    if 'SMTPWATCH_FIX' in written and '_RATE' in src:
        ok.add('SMTPWATCH_FIX_RATE')
    bad = sorted(f for f in used if f not in ok and not any(
        re.fullmatch(r'%s_\d+(_RATE)?' % n, f) for n in numbered))
    eq(bad, [], 'catalog fields that alert.c does not write')


def catalog_db(w):
    """The catalog compiled into a database of its own (never the system's)."""
    root = w.path('root')
    os.makedirs(os.path.join(root, 'usr/lib/systemd/catalog'))
    shutil.copy(CATALOG, os.path.join(root, 'usr/lib/systemd/catalog'))
    r = subprocess.run(['journalctl', '--root=' + root, '--update-catalog'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = os.path.join(root, 'var/lib/systemd/catalog/database')
    if r.returncode != 0 or r.stderr.strip() or not os.path.exists(db):
        fail('journalctl --update-catalog: exit %d: %s' % (
            r.returncode, r.stderr.decode('utf-8', 'replace')))
    return db


# journalctl 252 reads the catalog from /var/lib/systemd/catalog/database
# whatever --root says: show it ours in a private mount namespace.
CATALOG_NS = ('mkdir -p /var/lib/systemd/catalog && '
              'mount -t tmpfs -o size=4m tmpfs /var/lib/systemd/catalog && '
              'cp "$1" /var/lib/systemd/catalog/database && shift && exec journalctl "$@"')


@test('catalog')
def catalog_render(w):
    """Entries of all 9 kinds from one run, shown by journalctl -x with the
    catalog (compiled with --update-catalog --root): each entry's Subject
    line is the catalog's with the entry's own fields substituted, and
    every field the catalog text uses is in the entry.  The last two
    kinds come of client-incidents 10 and alerts-per-minute 1: 12
    accounts failing in the minute from 12:00 fold 3 incidents (the
    summarising entry) and 11 entries (the summary, when the next
    minute begins)."""
    db = catalog_db(w)
    d, j, log = start(w, 'relay smtp.gmail.com as alerts@example.com\n'
                         'client-incidents 10\nalerts-per-minute 1')
    lost = 'Connection lost to authentication server'
    data = (pf_relay_fail('A1A1A1A1A1', 'ops@partner.example', 0) +
            pf_relay_sent('B2B2B2B2B2', 'ops@partner.example', 100) +
            fails('dave@example.com', '203.0.113.50', range(200, 205)) +
            pf_success('dave@example.com', '203.0.113.50', 300) +
            b''.join(pf_fail('u%d@example.com' % i, '203.0.113.77', 400 + i) for i in range(5)) +
            b''.join(pf_fail(None, '203.0.113.%d' % i, 500 + 10 * i, reason=lost)
                     for i in range(3)) +
            pf_success('bob@example.com', '192.0.2.21', 600) +
            b''.join(fails('c%02d@example.com' % k, '198.51.100.%d' % (k + 1), [720 + 4 * k] * 5)
                     for k in range(12)) +
            pf_success('bob@example.com', '192.0.2.21', 800))
    es = feed(d, j, log, data)
    eq(sorted(set(e['SMTPWATCH_KIND'] for e in es)), sorted(set(KINDS) - {'address-hostile'}),
       'kinds of the entries (address-hostile: the hostile group)')
    e = one(j.all('alerts-folded'), 'alerts-folded entries')
    eq((e['SMTPWATCH_FOLDED'], e['SMTPWATCH_FOLDED_INCIDENTS']), ('11', '3'),
       'the summary (FOLDED, FOLDED_INCIDENTS)')
    one(j.all('summarising'), 'summarising entries')
    d.term()
    catalog_shown(db, d, j, es)
    if 'Subject: Relay smtp.gmail.com refuses our login' not in catalog_shown.out:
        fail('no "Relay smtp.gmail.com refuses our login" in journalctl -x:\n%s'
             % catalog_shown.out[-3000:])


def catalog_shown(db, d, j, es):
    """journalctl -x shows each of es (d's entries) with the catalog db:
    its Subject line with the entry's own fields, and every field the
    catalog text uses is in the entry.  Keeps the output in .out."""
    r = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', CATALOG_NS,
                        'sh', db, '-x', '-o', 'short', '--no-pager', '--all',
                        '--since=@%d' % (int(d.started_wall) - 1), '_PID=%d' % j.pid],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode('utf-8', 'replace')
    if r.returncode != 0:
        fail('journalctl -x: exit %d: %s' % (r.returncode, r.stderr.decode('utf-8', 'replace')))
    cat = catalog_entries()
    for e in es:
        tmpl = cat[e['MESSAGE_ID']][0]
        want = re.sub(r'@([A-Za-z0-9_]+)@', lambda m: jtext(e.get(m.group(1), '@%s@' % m.group(1))),
                      tmpl)
        if 'Subject: ' + want not in out:
            fail('journalctl -x does not show "Subject: %s" for %s\n%s' % (
                want, e['SMTPWATCH_KIND'], out[-3000:]))
    # journalctl shows a missing field as its bare name
    for e in es:
        missing = sorted(set(re.findall(r'@([A-Za-z0-9_]+)@', cat[e['MESSAGE_ID']][1])) - set(e))
        eq(missing, [], 'fields the catalog shows for %s that its entry lacks'
           % e['SMTPWATCH_KIND'])
    catalog_shown.out = out



# ===========================================================================
# hostile: address-hostile entries, for a firewall (issue 21)
# ===========================================================================

HOSTILE_RX = re.compile(r'hostile address (\S+): (server/[a-z-]+), incident (\d+)')


def hostile_lines(now):
    """Live lines: bob logged in from 198.51.100.20 before failing from
    it (a stale device), alice brute-forced from 203.0.113.10, an
    account whose name says "from 192.0.2.99" brute-forced from
    203.0.113.40, 203.0.113.30 spraying five accounts, dave failing from
    203.0.113.51-53 (distributed), erin failing from her own
    198.51.100.70 (she logged in from it) and from 203.0.113.71 (a brute
    force: only .71 is hostile), each line one second apart."""
    ls = [pf_success('bob@example.com', '198.51.100.20')]
    ls += [pf_fail('bob@example.com', '198.51.100.20')] * 5
    ls += [pf_fail('alice@example.com', '203.0.113.10')] * 5
    ls += [pf_fail('x from 192.0.2.99', '203.0.113.40')] * 5
    ls += [pf_fail('u%d@example.com' % i, '203.0.113.30') for i in range(5)]
    ls += [pf_fail('dave@example.com', '203.0.113.5%d' % (i % 3 + 1)) for i in range(6)]
    ls += [pf_success('erin@example.com', '198.51.100.70')]
    ls += [pf_fail('erin@example.com', ('198.51.100.70', '203.0.113.71')[i % 2]) for i in range(6)]
    return b''.join(at(x, now - len(ls) + i) for i, x in enumerate(ls))


HOSTILE = {'203.0.113.10': 'server/brute-force', '203.0.113.40': 'server/brute-force',
           '203.0.113.30': 'server/password-spraying',
           '203.0.113.51': 'server/distributed-brute-force',
           '203.0.113.52': 'server/distributed-brute-force',
           '203.0.113.53': 'server/distributed-brute-force',
           '203.0.113.71': 'server/brute-force'}


@test('hostile')
def hostile_entries(w):
    """With hostile-entries yes, live lines: one address-hostile entry
    per attacking address (brute force, spray, distributed), none for the
    stale device's address (its account logged in from it) nor for the
    address a user name typed; MESSAGE is "hostile address ADDR: DIAG,
    incident N" and nothing else, ADDR is SMTPWATCH_ADDR, priority info;
    more failures from the same addresses within the hour add none;
    journalctl -x shows the catalog's text for them."""
    db = catalog_db(w)
    d, j, log = start(w, 'hostile-entries yes')
    es = feed(d, j, log, hostile_lines(int(time.time())))
    hs = j.all('address-hostile')
    got = {}
    for e in hs:
        m = HOSTILE_RX.fullmatch(jtext(e['MESSAGE']))
        if m is None or m.group(1) != e['SMTPWATCH_ADDR']:
            fail('an address-hostile MESSAGE: %r' % jtext(e['MESSAGE']))
        if e['PRIORITY'] != '6' or e.get('SMTPWATCH_INCIDENT') != m.group(3):
            fail('an address-hostile entry: %s' % jshow(e))
        if m.group(1) in got:
            fail('%s told twice' % m.group(1))
        got[m.group(1)] = m.group(2)
    eq(got, HOSTILE, 'the hostile addresses and their diagnoses')
    feed(d, j, log, b''.join(at(pf_fail('alice@example.com', '203.0.113.10'), int(time.time()))
                             for _ in range(3)))
    eq(len(j.all('address-hostile')), len(HOSTILE), 'address-hostile entries after more failures')
    d.term()
    catalog_shown(db, d, j, [e for e in es if e['SMTPWATCH_KIND'] == 'address-hostile'])


@test('hostile')
def hostile_none(w):
    """No address-hostile entry without hostile-entries (the default), nor
    with it for the same lines caught up (stamped Nov 28): the other
    alerts are the same."""
    d, j, log = start(w)
    es = feed(d, j, log, hostile_lines(int(time.time())))
    eq(j.all('address-hostile'), [], 'address-hostile entries without hostile-entries')
    if not j.all('account-failing'):
        fail('no account-failing entry at all: the scenario did not run')
    d.term()
    with Workdir('late') as w2:
        d, j, log = start(w2, 'hostile-entries yes')
        es = feed(d, j, log, hostile_lines(epoch(0) + 100))
        eq([e for e in es if e['SMTPWATCH_KIND'] == 'address-hostile'], [],
           'address-hostile entries for lines caught up')
        if not j.all('account-failing'):
            fail('no account-failing entry for the caught-up lines')
        d.term()


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
