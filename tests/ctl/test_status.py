#!/usr/bin/env python3
"""test_status.py -- smtpwatchctl status, metrics, reset and reload
against the real daemon (build/smtpwatchd with a `control` directive in a
temporary directory) and its real database.

The log lines carry RFC 3339 stamps of 2026-11-28 (harness.stamp) and
smtpwatchctl runs with SMTPWATCH_NOW fixed two hours after the first of
them, so "the last 24 h" and the hourly sparkline are reproducible.
Every wait is on the daemon's NOTIFY messages (harness.py); nothing
sleeps.

Usage: python3 tests/ctl/test_status.py [TEST|GROUP ...]
Groups: status, metrics, changes (default: all).

When the daemon does not create its control socket (no control.c yet),
the tests that need it print "SKIP: daemon has no control socket yet"
and pass; they never fake the daemon.
"""

import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (CTL, RULES, TIMEOUT, Daemon, append, epoch, eq, fail,  # noqa: E402
                     pf_fail, pf_relay_fail, query, rules_diagnoses, run_tests, vis)

TESTS = {}
GROUPS = {}
NOW = epoch(2 * 3600)           # 06:00 on the day of the log lines
ALERTS = 'account-threshold 3\naccount-window 15m\nquiet 2h\n'  # the busy log spans 63 min: its incidents stay open
SKIP = 'SKIP: daemon has no control socket yet'


class Skip(Exception):
    pass


def test(group):
    def reg(fn):
        name = group + '-' + fn.__name__.replace('_', '-')

        def run(w):
            try:
                fn(w)
            except Skip:
                print('%s: %s' % (name, SKIP))
        TESTS[name] = run
        GROUPS.setdefault(group, []).append(name)
        return fn
    return reg


def daemon(w, extra='', log=None):
    """A daemon on w/mail.log (or log) with its control socket in w."""
    log = log or w.path('mail.log')
    open(log, 'ab').close()
    sock = w.path('control.sock')
    d = Daemon(w, [log], extra_conf=('control %s\n' % sock) + extra)
    d.control = sock
    return d


def start(d):
    """Starts d; Skip when it made no control socket (READY=1 comes
    after control_open(), so the socket exists by then if ever)."""
    d.start()
    if not os.path.exists(d.control):
        d.term()
        raise Skip()


def ctl(d, *args, env=None, code=None):
    """Runs smtpwatchctl -f d.conf ARGS; (exit status, stdout, stderr).
    With code, fails unless it exits with that status."""
    e = dict(os.environ)
    e.pop('NO_COLOR', None)
    e.update({'SMTPWATCH_NOW': str(NOW), 'LC_ALL': 'C', 'TZ': 'UTC'})
    e.update(env or {})
    argv = [CTL, '-f', d.conf, '--rules', RULES] + list(args)
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=e, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        fail('%s did not finish within %gs' % (' '.join(argv), TIMEOUT))
    out, err = r.stdout.decode('utf-8'), r.stderr.decode('utf-8')
    if code is not None and r.returncode != code:
        fail('smtpwatchctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s' % (
            ' '.join(args), r.returncode, code, out[-3000:], err[-2000:]))
    return r.returncode, out, err


def no_control_bytes(text, what):
    bad = [c for c in text if (ord(c) < 0x20 and c != '\n') or ord(c) == 0x7f]
    if bad:
        fail('%s holds control bytes %r' % (what, sorted(set(bad))))


def fails(user, n, ip='203.0.113.5', sec=0):
    return b''.join(pf_fail(user, ip, sec + i, rfc3339=True) for i in range(n))


def hourly_from_db(db):
    """Failures per hour over the 24 h before NOW, from the buckets."""
    h = [0] * 24
    lo = NOW - 86400
    for r in query(db, "SELECT start, failures FROM buckets WHERE scope IN ('addr', 'relay') "
                   "AND start >= ? AND start <= ?", (lo, NOW)):
        h[min((r['start'] - lo) // 3600, 23)] += r['failures']
    return h


def top_from_db(db, scope):
    rows = query(db, "SELECT host, key, sum(failures) AS f FROM buckets WHERE scope = ? "
                 "AND start >= ? AND start <= ? AND length(key) > 0 GROUP BY host, key "
                 "HAVING f > 0 ORDER BY f DESC, key, host LIMIT 5", (scope, NOW - 86400, NOW))
    return [(r['host'], r['key'] if isinstance(r['key'], bytes) else r['key'].encode(), r['f'])
            for r in rows]


# The log of most tests: a brute force on one account (an incident with
# threshold 3), two accounts failing once, and a relay refusing us.
HOSTILE = b'\x1b[31mevil\rname'


def busy_log():
    return (fails('admin@example.org', 6, '203.0.113.77', 0) +
            fails('carol@example.org', 1, '198.51.100.23', 1800) +
            fails(HOSTILE, 1, '203.0.113.5', 3700) +
            pf_relay_fail('4F1A211E0A1', 'x@example.net', 3800, rfc3339=True))


# ===========================================================================
# status
# ===========================================================================

@test('status')
def down(w):
    """No daemon: the not-running line, the report from the database, exit
    2; the same after a kill -9 leaves a stale socket behind."""
    d = daemon(w, ALERTS)
    append(d.logs[0], busy_log())
    start(d)
    d.wait_caught_up()
    d.term()
    for how in ('stopped', 'killed'):
        if how == 'killed':
            d.start()
            d.wait_caught_up()
            d.kill9()
        rc, out, err = ctl(d, 'status', code=2)
        first = out.splitlines()[0]
        m = re.match(r'smtpwatchd is not running \(control socket (.*): (.*)\)$', first)
        if m is None or m.group(1) != d.control:
            fail('%s: first line %r, want "smtpwatchd is not running (control socket %s: ...)"'
                 % (how, first, d.control))
        for want in ('open incidents', 'admin@example.org', 'smtp.gmail.com',
                     'failures per hour'):
            if want not in out:
                fail('%s: %r missing from the report:\n%s' % (how, want, out))
        rc, out, err = ctl(d, 'status', '--json', code=2)
        j = json.loads(out)
        eq((j['daemon'], j['sources'], j['exit']), (None, [], 2), how + ': daemon, sources, exit')
        if d.control not in j['daemon_error']:
            fail('%s: daemon_error %r does not name the socket' % (how, j['daemon_error']))
        for cmd in (['reload'], ['reset', 'admin@example.org']):
            rc, out, err = ctl(d, *cmd, code=2)
            if 'smtpwatchd is not running' not in err or out:
                fail('%s: %s: stdout %r stderr %r' % (how, cmd[0], out, err))
        rc, out, err = ctl(d, 'metrics', code=0)
        if 'smtpwatch_up 0\n' not in out or 'smtpwatch_lines_read_total' in out:
            fail('%s: metrics without a daemon:\n%s' % (how, out))


@test('status')
def quiet(w):
    """The daemon up, one failure and no incident: exit 0; its version,
    pid and the source caught up."""
    d = daemon(w)
    log = d.logs[0]
    start(d)
    append(log, fails('alice@example.com', 1, '203.0.113.9', 60))
    d.wait_caught_up()
    rc, out, err = ctl(d, 'status', code=0)
    no_control_bytes(out, 'status')
    if not out.startswith('smtpwatchd 0.1 is running, pid %d, up ' % d.pid):
        fail('first line: %r' % out.splitlines()[0])
    if not re.search(r'\n  %s +open +%d +0 +0 s +0 +1 +(inotify|stat)\n' % (
            re.escape(vis(log)), os.path.getsize(log)), out):
        fail('no source line for %s caught up:\n%s' % (log, out))
    if '\nopen incidents\n  none\n' not in out:
        fail('open incidents are not "none":\n%s' % out)
    rc, out, err = ctl(d, 'status', '--json', code=0)
    j = json.loads(out)
    eq((j['daemon']['pid'], j['daemon']['version'], j['incidents'], j['exit']),
       (d.pid, '0.1', [], 0), 'pid, version, incidents, exit')
    eq([(s['path'], s['open'], s['offset'], s['lag_bytes'], s['lag_seconds'])
        for s in j['sources']], [(log, True, os.path.getsize(log), 0, 0)], 'sources')
    eq(j['top_accounts'], [{'host': 'mx1', 'account': 'alice@example.com',
                            'account_hex': b'alice@example.com'.hex(), 'failures': 1}],
       'top accounts')
    d.term()


@test('status')
def incident(w):
    """An open incident: exit 1, its kind, escaped subject, failures, and
    the summary and best fix of its diagnosis from the rules."""
    d = daemon(w, ALERTS)
    start(d)
    append(d.logs[0], busy_log())
    d.wait_caught_up()
    inc = query(d.db, "SELECT * FROM incident_list WHERE state = 'open' ORDER BY opened, id")
    if not any(i['kind'] == 'account' for i in inc):
        fail('no open account incident in the database: %r' % inc)
    diags = rules_diagnoses()
    rc, out, err = ctl(d, 'status', code=1)
    no_control_bytes(out, 'status')
    for i in inc:
        subj = i['subject'] if isinstance(i['subject'], bytes) else i['subject'].encode()
        head = '  #%d %s %s on mx1, since ' % (i['id'], i['kind'], vis(subj))
        if head not in out:
            fail('incident %d: %r missing:\n%s' % (i['id'], head, out))
        dg = diags.get(i['diagnosis'])
        if dg is None:
            fail('incident %d: diagnosis %r not in the rules' % (i['id'], i['diagnosis']))
        want = '    diagnosis  %s: %s\n    best fix   %s (works %d%%)\n' % (
            i['diagnosis'], dg['summary'], dg['fix'][0][1], dg['fix'][0][0])
        if want not in out:
            fail('incident %d: diagnosis and fix missing, want\n%s\nin\n%s' % (i['id'], want, out))
    if '%d failures from 1 address' % 6 not in out:
        fail('the account incident does not count 6 failures from 1 address:\n%s' % out)
    if vis(HOSTILE) not in out:
        fail('the hostile account is not shown escaped as %s' % vis(HOSTILE))
    # --json
    rc, out, err = ctl(d, 'status', '--json', code=1)
    j = json.loads(out)
    eq(list(j), ['daemon', 'daemon_error', 'sources', 'incidents', 'top_accounts',
                 'top_addresses', 'relays', 'hourly', 'now', 'exit'], 'keys')
    eq(sorted(j['daemon']), sorted(['version', 'pid', 'started', 'uptime', 'rules', 'database',
                                    'batch', 'committed', 'lines', 'events', 'batches',
                                    'commit_errors', 'alerts', 'incidents']), 'daemon keys')
    eq(j['daemon']['incidents'], len(inc), 'daemon: open incidents in the engine')
    eq(j['exit'], 1, 'exit')
    eq([(x['id'], x['kind'], bytes.fromhex(x['subject_hex']), x['failures'],
         x['diagnosis']['id'], x['diagnosis']['summary'], x['diagnosis']['fix'])
        for x in j['incidents']],
       [(i['id'], i['kind'], i['subject'] if isinstance(i['subject'], bytes)
         else i['subject'].encode(), i['failures'], i['diagnosis'],
         diags[i['diagnosis']]['summary'], diags[i['diagnosis']]['fix'][0][1]) for i in inc],
       'incidents')
    eq([(x['host'], bytes.fromhex(x['account_hex']), x['failures']) for x in j['top_accounts']],
       top_from_db(d.db, 'account'), 'top accounts')
    if HOSTILE.decode() not in [x['account'] for x in j['top_accounts']]:
        fail('the hostile account does not decode back to its bytes: %r' % j['top_accounts'])
    eq([(x['host'], x['addr'].encode(), x['failures']) for x in j['top_addresses']],
       top_from_db(d.db, 'addr'), 'top addresses')
    eq([(r['relay'], r['state'], r['failures']) for r in j['relays']],
       [('smtp.gmail.com', 'failing', 1)], 'relays')
    eq(j['hourly'], hourly_from_db(d.db), 'hourly (the buckets)')
    eq(sum(j['hourly']), 9, 'failures in the 24 h')
    d.term()


@test('status')
def sparkline(w):
    """The sparkline: blocks in a UTF-8 locale, the ASCII ramp otherwise,
    each hour's level from the buckets, and the total."""
    d = daemon(w)
    log = d.logs[0]
    # failures at 04:00 (8), 04:30 (1), 05:10 (2): hours 22 and 23
    append(log, fails('a@example.org', 8, '203.0.113.1', 0) +
           fails('b@example.org', 1, '203.0.113.2', 1800) +
           fails('c@example.org', 2, '203.0.113.3', 4200))
    d.start()
    d.wait_caught_up()
    d.term()
    h = hourly_from_db(d.db)
    eq(sum(h), 11, 'failures in the buckets')
    mx = max(h)
    levels = [0 if mx == 0 else (v * 7 + mx - 1) // mx for v in h]
    for env, ramp in (({'LC_ALL': 'C.UTF-8'}, '\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588'),
                      ({'LC_ALL': 'C'}, ' .:-=+*#')):
        rc, out, err = ctl(d, 'status', env=env, code=2)
        want = '  [%s]  11 failures, at most %d in an hour\n' % (
            ''.join(ramp[l] for l in levels), mx)
        if want not in out:
            fail('%s: want the sparkline %r in\n%s' % (env, want, out))
    rc, out, err = ctl(d, 'status', '--json', code=2)
    eq(json.loads(out)['hourly'], h, 'hourly')


# ===========================================================================
# metrics
# ===========================================================================

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9]+(\.[0-9]+)?)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_metrics(text):
    """{name: {'help', 'type', 'samples': {frozenset(labels): value}}},
    failing on any line that is not HELP, TYPE or a sample."""
    out = {}
    for n, line in enumerate(text.split('\n')[:-1], 1):
        if line.startswith('# HELP ') or line.startswith('# TYPE '):
            name, rest = line[7:].split(' ', 1)
            out.setdefault(name, {'samples': {}})[line[2:6].lower()] = rest
            continue
        m = SAMPLE.match(line)
        if m is None:
            fail('metrics line %d is no sample: %r' % (n, line))
        labels = {}
        if m.group(3):
            pos = 0
            for lm in LABEL.finditer(m.group(3)):
                if lm.start() != pos:
                    break
                v = re.sub(r'\\(.)', lambda x: '\n' if x.group(1) == 'n' else x.group(1),
                           lm.group(2))
                labels[lm.group(1)] = v
                pos = lm.end()
            if pos != len(m.group(3)):
                fail('metrics line %d: labels do not parse: %r' % (n, line))
        name = m.group(1)
        if name not in out or 'type' not in out[name] or 'help' not in out[name]:
            fail('metrics line %d: %s has no HELP and TYPE before it' % (n, name))
        out[name]['samples'][frozenset(labels.items())] = float(m.group(4))
    if not text.endswith('\n'):
        fail('metrics do not end with a newline')
    for name, v in out.items():
        if not name.startswith('smtpwatch_'):
            fail('metric %s is not smtpwatch_*' % name)
        if v.get('type') not in ('counter', 'gauge') or not v.get('help'):
            fail('metric %s: TYPE %r HELP %r' % (name, v.get('type'), v.get('help')))
    return out


@test('metrics')
def exposition(w):
    """Every line parses, every metric has HELP and TYPE, the values are
    the database's and the daemon's; a path with a quote and a backslash
    is escaped in its label."""
    log = w.path('ma"il\\x.log')
    d = daemon(w, ALERTS, log=log)
    start(d)
    append(log, busy_log())
    d.wait_caught_up()
    rc, out, err = ctl(d, 'metrics', code=0)
    no_control_bytes(out, 'metrics')
    m = parse_metrics(out)
    want = {}
    for r in query(d.db, "SELECT host, 'server' AS dir, coalesce(last_diagnosis, '') AS diag, "
                   "failures FROM account_totals WHERE direction = 'server' UNION ALL "
                   "SELECT host, 'client', coalesce(last_diagnosis, ''), failures "
                   "FROM relay_totals"):
        k = frozenset({'host': r['host'], 'direction': r['dir'], 'diagnosis': r['diag']}.items())
        want[k] = want.get(k, 0) + r['failures']
    eq(m['smtpwatch_failures_total']['samples'], want, 'smtpwatch_failures_total')
    if not any(dict(k)['diagnosis'] == 'gmail/535-5.7.8-bad-credentials' for k in want):
        fail('no client-side diagnosis label in %r' % want)
    opened = {r['kind']: r['n'] for r in query(
        d.db, "SELECT kind, count(*) AS n FROM incident_list WHERE state = 'open' GROUP BY kind")}
    eq({dict(k)['kind']: v for k, v in m['smtpwatch_open_incidents']['samples'].items()},
       {k: opened.get(k, 0) for k in ('relay', 'account', 'address', 'backend')},
       'smtpwatch_open_incidents')
    eq(m['smtpwatch_up']['samples'], {frozenset(): 1}, 'smtpwatch_up')
    nlines = busy_log().count(b'\n')
    eq(m['smtpwatch_lines_read_total']['samples'], {frozenset(): nlines}, 'lines read')
    eq(m['smtpwatch_events_total']['samples'], {frozenset(): 9}, 'events')
    eq(m['smtpwatch_commit_errors_total']['samples'], {frozenset(): 0}, 'commit errors')
    for name in ('smtpwatch_batches_total', 'smtpwatch_alerts_total'):
        if list(m[name]['samples'].values())[0] < 1:
            fail('%s: %r' % (name, m[name]['samples']))
        eq(m[name]['type'], 'counter', name + ' TYPE')
    for name in ('smtpwatch_source_lag_bytes', 'smtpwatch_source_lag_seconds'):
        eq(m[name]['samples'], {frozenset({'path': vis(log)}.items()): 0}, name)
    if '{path="%s"}' % vis(log).replace('\\', '\\\\').replace('"', '\\"') not in out:
        fail('the path label is not escaped as the format says:\n%s' % out)
    d.term()
    rc, out2, err = ctl(d, 'metrics', code=0)
    m2 = parse_metrics(out2)
    eq(m2['smtpwatch_up']['samples'], {frozenset(): 0}, 'smtpwatch_up, daemon stopped')
    eq(m2['smtpwatch_failures_total']['samples'], want, 'failures, daemon stopped')


@test('metrics')
def no_database(w):
    """A database that does not exist: exit 3, nothing on stdout."""
    d = daemon(w)
    rc, out, err = ctl(d, 'metrics', code=3)
    eq(out, '', 'stdout')
    rc, out, err = ctl(d, 'status', code=3)
    if 'database' not in err:
        fail('status: the error does not name the database: %r' % err)


# ===========================================================================
# reset and reload, through the daemon
# ===========================================================================

@test('changes')
def reset(w):
    """reset SUBJECT: the daemon's payload, the rows gone; an account
    with an ESC named as the listings print it; an empty subject is the
    daemon's error, exit 3."""
    d = daemon(w, ALERTS)
    start(d)
    append(d.logs[0], busy_log())
    d.wait_caught_up()
    before = query(d.db, "SELECT count(*) AS n FROM accounts WHERE account = ?",
                   (b'admin@example.org',))[0]['n']
    eq(before, 1, 'admin@example.org rows before')
    rc, out, err = ctl(d, 'reset', 'admin@example.org', code=0)
    m = re.match(r'reset\t(\d+)\n$', out)
    if m is None or int(m.group(1)) < 2:
        fail('reset payload %r' % out)
    eq(query(d.db, "SELECT count(*) AS n FROM accounts WHERE account = ?",
             (b'admin@example.org',))[0]['n'], 0, 'admin@example.org rows after')
    eq(query(d.db, "SELECT count(*) AS n FROM incident_list WHERE subject = ? "
             "AND state = 'open'", (b'admin@example.org',))[0]['n'], 0, 'its open incidents')
    rc, out, err = ctl(d, 'status', '--json', code=1)
    if any(x['subject'] == 'admin@example.org' for x in json.loads(out)['incidents']):
        fail('status still shows the reset incident')
    # the hostile account, as `accounts` prints it
    rc, out, err = ctl(d, 'reset', vis(HOSTILE), code=0)
    eq(query(d.db, "SELECT count(*) AS n FROM accounts WHERE account = ?", (HOSTILE,))[0]['n'],
       0, 'the hostile account after its reset')
    rc, out, err = ctl(d, 'reset', '', code=3)
    if 'reset needs a subject' not in err or out:
        fail('empty subject: stdout %r stderr %r' % (out, err))
    d.term()


@test('changes')
def reload(w):
    """reload: ok and exit 0; a broken configuration is the daemon's
    error with its file:line, exit 3, and the daemon carries on."""
    d = daemon(w)
    start(d)
    rc, out, err = ctl(d, 'reload', code=0)
    eq(out, '', 'reload stdout')
    good = open(d.conf).read()
    with open(d.conf, 'a') as f:
        f.write('no-such-directive 1\n')
    nlines = good.count('\n') + 1
    rc, out, err = ctl(d, 'reload', code=3)
    if '%s:%d' % (d.conf, nlines) not in err:
        fail('reload error does not name %s:%d: %r' % (d.conf, nlines, err))
    with open(d.conf, 'w') as f:
        f.write(good)
    rc, out, err = ctl(d, 'status', code=0)
    if 'is running, pid %d' % d.pid not in out:
        fail('the daemon is not running after the failed reload:\n%s' % out)
    d.term()


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
