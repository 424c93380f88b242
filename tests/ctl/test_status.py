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

The metrics group checks every exposition with `promtool check metrics`
(its parser and linter), from Debian's package prometheus, fetched once
into build/promtool with `apt-get download` and `dpkg -x`, never
installed; when it cannot be fetched the tests fail.

When the daemon does not create its control socket (no control.c yet),
the tests that need it print "SKIP: daemon has no control socket yet"
and pass; they never fake the daemon.
"""

import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (CTL, ROOT, RULES, TIMEOUT, Daemon, append, epoch, eq, fail,  # noqa: E402
                     pf_fail, pf_relay_fail, pf_relay_sent, query, rules_diagnoses,
                     run_tests, stamp, vis)

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
    if not re.search(r'\nstorage\n  size       [0-9.]+ MB of database-limit 256.0 MB\n'
                     r'  folded     none\n  retention  (not run yet|last run .*, by the log '
                     r'time 2026-11-28T04:01:00Z)\n$', out):
        fail('no storage section as expected at the end:\n%s' % out)
    rc, out, err = ctl(d, 'status', '--json', code=0)
    j = json.loads(out)
    eq((j['daemon']['pid'], j['daemon']['version'], j['incidents'], j['exit']),
       (d.pid, '0.1', [], 0), 'pid, version, incidents, exit')
    eq([(s['path'], s['open'], s['offset'], s['lag_bytes'], s['lag_seconds'])
        for s in j['sources']], [(log, True, os.path.getsize(log), 0, 0)], 'sources')
    eq(j['top_accounts'], [{'host': 'mx1', 'account': 'alice@example.com',
                            'account_hex': b'alice@example.com'.hex(), 'failures': 1}],
       'top accounts')
    # the expiry after the backlog ran before the failure, or with it
    eq((j['storage']['limit'], j['storage']['folded']['accounts'], j['storage']['refused'],
        (j['storage']['expired'] or {}).get('log', 1795838460)),
       (256 << 20, 0, None, 1795838460), 'storage')
    d.term()


@test('status')
def incident(w):
    """An open incident: exit 1, its kind, escaped subject, failures, and
    the summary and best fix of its diagnosis from the rules."""
    d = daemon(w, ALERTS)
    start(d)
    append(d.logs[0], busy_log())
    d.wait_caught_up()
    inc = query(d.db, "SELECT * FROM incident_list WHERE state = 'open' "
                "ORDER BY kind NOT IN ('relay', 'backend'), opened, id")
    if not any(i['kind'] == 'account' for i in inc):
        fail('no open account incident in the database: %r' % inc)
    diags = rules_diagnoses()
    rc, out, err = ctl(d, 'status', code=1)
    no_control_bytes(out, 'status')
    lines = out.splitlines()
    for i in inc:
        subj = i['subject'] if isinstance(i['subject'], bytes) else i['subject'].encode()
        head = '  #%d %s %s on mx1, since ' % (i['id'], i['kind'], vis(subj, ascii=True))
        mine = [l for l in lines if l.startswith(head)]
        if len(mine) != 1 or not mine[0].endswith(' [%s]' % i['diagnosis']):
            fail('incident %d: not one line %r...[%s]:\n%s' % (
                i['id'], head, i['diagnosis'], out))
        dg = diags.get(i['diagnosis'])
        if dg is None:
            fail('incident %d: diagnosis %r not in the rules' % (i['id'], i['diagnosis']))
    # each diagnosis once, with the incidents it explains and its best fix
    for dgid in set(i['diagnosis'] for i in inc):
        dg = diags[dgid]
        ids = ', '.join('#%d' % i['id'] for i in inc if i['diagnosis'] == dgid)
        want = '  %s (%s): %s\n    fix (works %d%%): %s\n' % (
            dgid, ids, dg['summary'], dg['fix'][0][0], dg['fix'][0][1])
        if out.count(want) != 1:
            fail('diagnosis %s: want once\n%s\nin\n%s' % (dgid, want, out))
        if out.count(dg['fix'][0][1]) != 1:
            fail('the fix of %s is shown %d times' % (dgid, out.count(dg['fix'][0][1])))
    if '%d failures from 1 address' % 6 not in out:
        fail('the account incident does not count 6 failures from 1 address:\n%s' % out)
    if vis(HOSTILE) not in out:
        fail('the hostile account is not shown escaped as %s' % vis(HOSTILE))
    # --json
    rc, out, err = ctl(d, 'status', '--json', code=1)
    j = json.loads(out)
    eq(list(j), ['daemon', 'daemon_error', 'sources', 'incidents', 'top_accounts',
                 'top_addresses', 'relays', 'storage', 'hourly', 'now', 'exit'], 'keys')
    eq(sorted(j['daemon']), sorted(['version', 'pid', 'started', 'uptime', 'rules', 'database',
                                    'batch', 'committed', 'lines', 'events', 'batches',
                                    'commit_errors', 'checkpoint_errors',
                                    'checkpoint_failing', 'alerts',
                                    'incidents', 'summarising',
                                    'folded_entries', 'folded_incidents']), 'daemon keys')
    eq(j['daemon']['incidents'], len(inc), 'daemon: open incidents in the engine')
    eq((j['daemon']['summarising'], j['daemon']['folded_entries'],
        j['daemon']['folded_incidents']), (False, 0, 0), 'daemon: nothing folded')
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
    if vis(HOSTILE) not in [x['account'] for x in j['top_accounts']]:
        fail('the hostile account is not shown as %r: %r' % (vis(HOSTILE), j['top_accounts']))
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
PROMTOOL_DEBS = os.path.join(ROOT, 'build', 'promtool')
# Counters: the daemon's, since it started; each only goes up while it runs.
COUNTERS = ('smtpwatch_lines_read_total', 'smtpwatch_events_total',
            'smtpwatch_alerts_total', 'smtpwatch_batches_total',
            'smtpwatch_commit_errors_total', 'smtpwatch_checkpoint_errors_total',
            'smtpwatch_failures_total',
            'smtpwatch_successes_total', 'smtpwatch_incidents_opened_total',
            'smtpwatch_alerts_folded_total', 'smtpwatch_incidents_folded_total')
# Gauges printed only when the daemon answered.
DAEMON_GAUGES = ('smtpwatch_daemon_start_time_seconds', 'smtpwatch_summarising',
                 'smtpwatch_checkpoint_failing',
                 'smtpwatch_last_commit_timestamp_seconds',
                 'smtpwatch_source_lag_bytes', 'smtpwatch_source_lag_seconds')
# Gauges from the database, printed whether or not the daemon answered.
DB_GAUGES = ('smtpwatch_up', 'smtpwatch_build_info', 'smtpwatch_stored_failures',
             'smtpwatch_stored_accounts', 'smtpwatch_stored_addresses',
             'smtpwatch_stored_relays', 'smtpwatch_open_incidents',
             'smtpwatch_backend_down', 'smtpwatch_newest_event_timestamp_seconds',
             'smtpwatch_relay_failing', 'smtpwatch_relay_messages_held_back',
             'smtpwatch_relay_series_omitted', 'smtpwatch_database_bytes',
             'smtpwatch_database_limit_bytes', 'smtpwatch_folded',
             'smtpwatch_retention_refused')
KINDS = ('relay', 'account', 'address', 'backend')


def parse_metrics(text):
    """{name: {'help', 'type', 'samples': {frozenset(labels): value}}},
    failing on any line that is not HELP, TYPE or a sample, on a sample
    without HELP and TYPE before it, on a family whose samples are not
    together, and on a label set given twice."""
    out = {}
    last = None
    for n, line in enumerate(text.split('\n')[:-1], 1):
        if line.startswith('# HELP ') or line.startswith('# TYPE '):
            name, rest = line[7:].split(' ', 1)
            if name in out and out[name]['samples']:
                fail('metrics line %d: %s again after its samples' % (n, name))
            out.setdefault(name, {'samples': {}})[line[2:6].lower()] = rest
            last = name
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
        if name != last:
            fail('metrics line %d: a sample of %s among those of %s' % (n, name, last))
        key = frozenset(labels.items())
        if key in out[name]['samples']:
            fail('metrics line %d: %s has the labels %r twice' % (n, name, labels))
        out[name]['samples'][key] = float(m.group(4))
    if not text.endswith('\n'):
        fail('metrics do not end with a newline')
    for name, v in out.items():
        if not name.startswith('smtpwatch_'):
            fail('metric %s is not smtpwatch_*' % name)
        if v.get('type') not in ('counter', 'gauge') or not v.get('help'):
            fail('metric %s: TYPE %r HELP %r' % (name, v.get('type'), v.get('help')))
        if (v['type'] == 'counter') != name.endswith('_total'):
            fail('metric %s is a %s: only counters end in _total' % (name, v['type']))
        for k in v['samples']:
            if 'diagnosis' in dict(k):
                fail('metric %s has a diagnosis label, whose series would move' % name)
    return out


def samples(m, name, label=None):
    """The samples of name as {label value: value} (label None: the
    only label, or {(): value} without labels)."""
    out = {}
    for k, v in m[name]['samples'].items():
        d = dict(k)
        if label is None and len(d) <= 1:
            out[next(iter(d.values())) if d else ()] = v
        else:
            out[tuple(d[x] for x in label) if isinstance(label, tuple) else d[label]] = v
    return out


def fetch_promtool():
    """build/promtool/usr/bin/promtool: Debian's package prometheus,
    downloaded with `apt-get download` and unpacked with `dpkg -x` (as
    tests/e2e/test_exim.py fetches Exim), once; never installed.  A
    download that cannot be made fails the test: promtool is what says
    the exposition is valid."""
    tool = os.path.join(PROMTOOL_DEBS, 'usr', 'bin', 'promtool')
    if os.access(tool, os.X_OK):
        return tool
    os.makedirs(PROMTOOL_DEBS, exist_ok=True)
    for d in glob.glob(os.path.join(PROMTOOL_DEBS, 'prometheus_*.deb')):
        os.unlink(d)
    get = ['apt-get', 'download', '-q', '-o', 'APT::Sandbox::User=root', 'prometheus']
    if subprocess.run(get, cwd=PROMTOOL_DEBS).returncode != 0:
        subprocess.run(['apt-get', 'update', '-qq'])
        if subprocess.run(get, cwd=PROMTOOL_DEBS).returncode != 0:
            fail('promtool: `apt-get download prometheus` failed (network, apt sources?); '
                 'the exposition cannot be checked without it')
    deb = glob.glob(os.path.join(PROMTOOL_DEBS, 'prometheus_*.deb'))
    if len(deb) != 1:
        fail('promtool: apt-get download left %s' % deb)
    r = subprocess.run(['dpkg', '-x', deb[0], PROMTOOL_DEBS])
    if r.returncode != 0 or not os.access(tool, os.X_OK):
        fail('promtool: dpkg -x %s gave no %s' % (deb[0], tool))
    os.unlink(deb[0])
    return tool


def promtool(text, what):
    """promtool check metrics on text: its parser and its linter."""
    r = subprocess.run([fetch_promtool(), 'check', 'metrics'], input=text.encode('utf-8'),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
    if r.returncode != 0:
        fail('%s: promtool check metrics exits %d:\n%s\n--- the exposition:\n%s' % (
            what, r.returncode, r.stdout.decode('utf-8', 'replace'), text))


def metrics(d, what):
    """smtpwatchctl metrics: parsed, and checked by promtool."""
    rc, out, err = ctl(d, 'metrics', code=0)
    no_control_bytes(out, what)
    promtool(out, what)
    return out, parse_metrics(out)


def shown(data):
    """What str_vis() and fput_json() show of bytes (util.c): well-formed
    UTF-8 as it is, but for the C1 and bidirectional controls; a
    backslash doubled; every other byte \\xNN."""
    data = data if isinstance(data, bytes) else data.encode('utf-8', 'surrogateescape')
    hidden = set(range(0x80, 0xa0)) | {0x200e, 0x200f, 0x061c} | \
        set(range(0x2028, 0x202f)) | set(range(0x2066, 0x206a))
    out, i = [], 0
    while i < len(data):
        c = data[i]
        if c == 0x5c:
            out.append('\\\\')
            i += 1
            continue
        if 0x20 <= c < 0x7f:
            out.append(chr(c))
            i += 1
            continue
        k = 2 if 0xc2 <= c < 0xe0 else 3 if 0xe0 <= c < 0xf0 else 4 if 0xf0 <= c < 0xf5 else 0
        try:
            ch = data[i:i + k].decode('utf-8') if k else None
        except UnicodeDecodeError:
            ch = None
        if ch is not None and len(ch) == 1 and ord(ch) not in hidden:
            out.append(ch)
            i += k
        else:
            out.append('\\x%02x' % c)
            i += 1
    return ''.join(out)


def label_text(data):
    """data as a label value in the exposition: shown(), then \\ and "
    escaped by the format."""
    return shown(data).replace('\\', '\\\\').replace('"', '\\"')


def relay_sent(queue, rcpt, sec, relay):
    """pf_relay_sent with an RFC 3339 stamp (the relay's login worked)."""
    return pf_relay_sent(queue, rcpt, sec, relay=relay).replace(
        stamp(sec).encode(), stamp(sec, rfc3339=True).encode(), 1)


def db_gauges(d):
    """What the gauges of the database should say, from its views."""
    q = lambda sql: query(d.db, sql)  # noqa: E731
    hosts = {r['host'] for r in q('SELECT host FROM account_totals UNION '
                                  'SELECT host FROM address_totals')}
    down = {r['host'] for r in q("SELECT host FROM incident_list WHERE kind = 'backend' "
                                 "AND state = 'open'")}
    return {
        'smtpwatch_stored_failures': {
            (r['host'], r['direction']): r['n'] for r in q(
                'SELECT host, direction, sum(failures) AS n FROM account_totals '
                'GROUP BY host, direction')},
        'smtpwatch_stored_accounts': {r['host']: r['n'] for r in q(
            "SELECT host, count(*) AS n FROM account_totals WHERE direction = 'server' "
            "GROUP BY host")},
        'smtpwatch_stored_addresses': {r['host']: r['n'] for r in q(
            'SELECT host, count(*) AS n FROM address_totals GROUP BY host')},
        'smtpwatch_stored_relays': {r['host']: r['n'] for r in q(
            'SELECT host, count(*) AS n FROM relay_totals GROUP BY host')},
        'smtpwatch_open_incidents': dict({k: 0 for k in KINDS}, **{r['kind']: r['n'] for r in q(
            "SELECT kind, count(*) AS n FROM incident_list WHERE state = 'open' "
            "GROUP BY kind")}),
        'smtpwatch_backend_down': {h: int(h in down) for h in hosts | down},
        'smtpwatch_newest_event_timestamp_seconds': {r['host']: r['t'] for r in q(
            'SELECT host, max(last_seen) AS t FROM (SELECT host, last_seen FROM accounts '
            'UNION ALL SELECT host, last_seen FROM addresses UNION ALL '
            'SELECT host, last_seen FROM relays) GROUP BY host')},
    }


def check_db_gauges(d, m):
    labels = {'smtpwatch_stored_failures': ('host', 'direction')}
    for name, want in db_gauges(d).items():
        got = samples(m, name, labels.get(name))
        eq(got, {(tuple(shown(x) for x in k) if isinstance(k, tuple) else
                  shown(k) if k != () else k): v for k, v in want.items()}, name)


def check_relays(d, m, series=100):
    """The relay gauges say what `smtpwatchctl relays --json` says of the
    same database: failing = state failing, held back = held_back; the
    failing relays first, then by failures, at most series of them."""
    rc, out, err = ctl(d, 'relays', '--json', code=0)
    rows = json.loads(out)
    order = sorted(rows, key=lambda r: (r['state'] != 'failing', -r['failures'],
                                        r['relay'], r['host']))
    shown_rows = order[:series]
    eq(samples(m, 'smtpwatch_relay_failing', ('host', 'relay')),
       {(r['host'], r['relay']): int(r['state'] == 'failing') for r in shown_rows},
       'smtpwatch_relay_failing = the state of relays --json')
    eq(samples(m, 'smtpwatch_relay_messages_held_back', ('host', 'relay')),
       {(r['host'], r['relay']): r['held_back'] for r in shown_rows},
       'smtpwatch_relay_messages_held_back = the held_back of relays --json')
    eq(samples(m, 'smtpwatch_relay_series_omitted'), {(): max(0, len(rows) - series)},
       'smtpwatch_relay_series_omitted')
    return rows


@test('metrics')
def exposition(w):
    """Every line parses, every metric has HELP and TYPE, promtool accepts
    it; the gauges are the database's, the counters the daemon's, none
    has a diagnosis label; a path with a quote and a backslash is escaped
    once in its label.  With the daemon stopped: smtpwatch_up 0, the same
    gauges of the database, and no counter at all."""
    log = w.path('ma"il\\x.log')
    d = daemon(w, ALERTS, log=log)
    start(d)
    lost = 'Connection lost to authentication server'
    lines = busy_log() + pf_fail(None, '198.51.100.7', 3900, reason=lost, host='mx2',
                                 rfc3339=True)
    append(log, lines)
    d.wait_caught_up()
    out, m = metrics(d, 'metrics')
    after = int(time.time())
    eq(sorted(m), sorted(COUNTERS + DAEMON_GAUGES + DB_GAUGES), 'the metrics')
    check_db_gauges(d, m)
    eq(samples(m, 'smtpwatch_backend_down'), {'mx1': 0, 'mx2': 1}, 'smtpwatch_backend_down')
    eq(samples(m, 'smtpwatch_up'), {(): 1}, 'smtpwatch_up')
    eq(m['smtpwatch_build_info']['samples'], {frozenset({'version': '0.1'}.items()): 1},
       'smtpwatch_build_info')
    eq(samples(m, 'smtpwatch_lines_read_total'), {(): lines.count(b'\n')}, 'lines read')
    eq(samples(m, 'smtpwatch_events_total'), {(): 10}, 'events')
    eq(samples(m, 'smtpwatch_failures_total'), {'server': 8, 'client': 1},
       'failures counted (6 + 1 + 1 server, 1 relay)')
    eq(samples(m, 'smtpwatch_successes_total'), {'server': 0, 'client': 0}, 'successes')
    opened = {r['kind']: r['n'] for r in query(
        d.db, 'SELECT kind, count(*) AS n FROM incident_list GROUP BY kind')}
    eq(samples(m, 'smtpwatch_incidents_opened_total'), {k: opened.get(k, 0) for k in KINDS},
       'incidents opened = the incidents of the database (all opened by this daemon)')
    if opened.get('account', 0) < 1 or opened.get('relay', 0) != 1 or opened.get('backend') != 1:
        fail('not an account, a relay and a back-end incident: %r' % opened)
    eq(samples(m, 'smtpwatch_commit_errors_total'), {(): 0}, 'commit errors')
    eq(samples(m, 'smtpwatch_checkpoint_errors_total'), {(): 0}, 'checkpoint errors')
    eq(samples(m, 'smtpwatch_checkpoint_failing'), {(): 0}, 'checkpoints failing')
    for name in ('smtpwatch_batches_total', 'smtpwatch_alerts_total'):
        if samples(m, name)[()] < 1:
            fail('%s: %r' % (name, m[name]['samples']))
    rc, sj, err = ctl(d, 'status', '--json')
    daemon_json = json.loads(sj)['daemon']
    eq(samples(m, 'smtpwatch_daemon_start_time_seconds'), {(): daemon_json['started']},
       'start time = status --json started')
    t = samples(m, 'smtpwatch_last_commit_timestamp_seconds')[()]
    if not daemon_json['started'] <= t <= after:
        fail('last commit %r: not between the start %d and now %d' % (
            t, daemon_json['started'], after))
    for name in ('smtpwatch_source_lag_bytes', 'smtpwatch_source_lag_seconds'):
        eq(samples(m, name), {shown(log): 0}, name)
    if '{path="%s"}' % label_text(log) not in out:
        fail('the path label is not escaped once as the format says:\n%s' % out)
    eq(samples(m, 'smtpwatch_relay_failing', ('host', 'relay')),
       {('mx1', 'smtp.gmail.com'): 1}, 'the failing relay')
    check_relays(d, m)
    size = query(d.db, 'SELECT (SELECT page_count FROM pragma_page_count) * '
                 '(SELECT page_size FROM pragma_page_size) AS n')[0]['n']
    eq(m['smtpwatch_database_bytes']['samples'], {frozenset(): size}, 'database bytes')
    eq(m['smtpwatch_database_limit_bytes']['samples'], {frozenset(): 256 << 20},
       'database-limit (the default)')
    eq({dict(k)['kind']: v for k, v in m['smtpwatch_folded']['samples'].items()},
       {'account': 0, 'address': 0, 'account_address': 0}, 'nothing folded')
    eq(m['smtpwatch_retention_refused']['samples'], {frozenset(): 0}, 'retention refused')
    eq(m['smtpwatch_summarising']['samples'], {frozenset(): 0}, 'not summarising')
    for name in ('smtpwatch_alerts_folded_total', 'smtpwatch_incidents_folded_total'):
        eq(m[name]['samples'], {frozenset(): 0}, name)
    d.term()
    out2, m2 = metrics(d, 'metrics, daemon stopped')
    eq(samples(m2, 'smtpwatch_up'), {(): 0}, 'smtpwatch_up, daemon stopped')
    eq(sorted(m2), sorted(DB_GAUGES), 'the metrics without the daemon')
    for name in DB_GAUGES[1:]:
        eq(m2[name]['samples'], m[name]['samples'], name + ', daemon stopped')


def counters(m):
    return {(name, k): v for name in COUNTERS for k, v in m[name]['samples'].items()}


def not_down(m1, m2, what):
    """Every counter sample of m1 is in m2 and not lower."""
    c1, c2 = counters(m1), counters(m2)
    eq(sorted(c2), sorted(c1), '%s: the counter series' % what)
    down = {k: (v, c2[k]) for k, v in c1.items() if c2[k] < v}
    if down:
        fail('%s: counters went down: %r' % (what, down))


@test('metrics')
def monotonic(w):
    """The counters never go down while the daemon runs: not after a reset
    (which lowers smtpwatch_stored_failures, a gauge), not after a reload
    (incidents opened by the engine it replaced are kept); new failures
    raise them by exactly their number."""
    d = daemon(w, ALERTS)
    start(d)
    append(d.logs[0], busy_log())
    d.wait_caught_up()
    out, m1 = metrics(d, 'before the reset')
    eq(samples(m1, 'smtpwatch_failures_total')['server'], 8, 'server failures')
    eq(samples(m1, 'smtpwatch_incidents_opened_total')['account'], 1, 'account incidents')
    ctl(d, 'reset', 'admin@example.org', code=0)
    out, m2 = metrics(d, 'after the reset')
    not_down(m1, m2, 'after the reset')
    eq(samples(m2, 'smtpwatch_failures_total'), samples(m1, 'smtpwatch_failures_total'),
       'failures counted, across the reset')
    sf = ('mx1', 'server')
    eq(samples(m2, 'smtpwatch_stored_failures', ('host', 'direction'))[sf],
       samples(m1, 'smtpwatch_stored_failures', ('host', 'direction'))[sf] - 6,
       'the stored failures (a gauge) after the reset of 6')
    check_db_gauges(d, m2)
    ctl(d, 'reload', code=0)
    out, m3 = metrics(d, 'after the reload')
    not_down(m2, m3, 'after the reload')
    eq(samples(m3, 'smtpwatch_incidents_opened_total'),
       samples(m2, 'smtpwatch_incidents_opened_total'), 'incidents opened, across the reload')
    append(d.logs[0], fails('admin@example.org', 4, '203.0.113.77', 4000))
    d.wait_caught_up()
    out, m4 = metrics(d, 'after 4 more failures')
    not_down(m3, m4, 'after 4 more failures')
    eq(samples(m4, 'smtpwatch_failures_total')['server'],
       samples(m3, 'smtpwatch_failures_total')['server'] + 4, 'server failures + 4')
    eq(samples(m4, 'smtpwatch_incidents_opened_total')['account'],
       samples(m3, 'smtpwatch_incidents_opened_total')['account'] + 1,
       'the account incident opened again')
    eq(samples(m4, 'smtpwatch_lines_read_total')[()],
       samples(m3, 'smtpwatch_lines_read_total')[()] + 4, 'lines read + 4')
    d.term()


@test('metrics')
def relays(w):
    """smtpwatch_relay_failing and smtpwatch_relay_messages_held_back
    equal what `relays --json` shows of the same database; at most 100
    relays have series, the failing ones first even when others have
    more failures; smtpwatch_relay_series_omitted counts the rest."""
    d = daemon(w)
    log = d.logs[0]
    start(d)
    lines = b''
    for i in range(100):            # two refusals each, then mail goes through
        relay = 'ok%03d.relay.example' % i
        lines += pf_relay_fail('1%04dA' % i, 'a@example.net', i, relay=relay, rfc3339=True)
        lines += pf_relay_fail('2%04dB' % i, 'b@example.net', i, relay=relay, rfc3339=True)
        lines += relay_sent('1%04dA' % i, 'a@example.net', 600 + i, relay)
    for i in range(5):              # one refusal, more mail held back
        relay = 'bad%d.relay.example' % i
        lines += pf_relay_fail('3%04dC' % i, 'c@example.net', 900 + i, relay=relay,
                               rfc3339=True)
        for k in range(i):
            lines += pf_relay_fail('4%03d%dD' % (i, k), 'd@example.net', 950 + i, relay=relay,
                                   cached=True, rfc3339=True)
    append(log, lines)
    d.wait_caught_up()
    out, m = metrics(d, 'metrics')
    rows = check_relays(d, m)
    eq(len(rows), 105, 'relays in relays --json')
    eq(sorted(r['relay'] for r in rows if r['state'] == 'failing'),
       ['bad%d.relay.example' % i for i in range(5)], 'the failing relays')
    got = samples(m, 'smtpwatch_relay_failing', ('host', 'relay'))
    eq(sum(got.values()), 5, 'failing relays among the series (all five, fewer failures)')
    eq(samples(m, 'smtpwatch_relay_series_omitted'), {(): 5}, 'relays left out')
    held = samples(m, 'smtpwatch_relay_messages_held_back', ('host', 'relay'))
    if not any(v > 0 for v in held.values()):
        fail('no relay holds messages back: %r' % held)
    # The daemon stopped: the same gauges from the database alone.
    d.term()
    out, m2 = metrics(d, 'metrics, daemon stopped')
    check_relays(d, m2)


@test('metrics')
def hostile(w):
    """Host and relay names with bytes that are not UTF-8, a backslash, a
    quote, a newline (written into the database: no log line holds one)
    and UTF-8 (jürgen): each label value is the shown text (util.c),
    escaped once; the exposition is UTF-8 and promtool accepts it; the
    relay labels equal the names relays --json shows."""
    host = b'mx-j\xc3\xbcrgen\\"\xfe'
    relay = b'smtp.j\xc3\xbcrgen\\"q\xff\xc3(.example'
    log = w.path('j\u00fcrgen "q" \\.log')
    d = daemon(w, log=log)
    start(d)
    lost = 'Connection lost to authentication server'
    append(log, fails('j\u00fcrgen@example.de', 2, '203.0.113.9', 0).replace(b' mx1 ', b' ' + host + b' ') +
           pf_relay_fail('5A1B2C3D4E', 'x@example.net', 60, relay=relay, rfc3339=True) +
           pf_fail(None, '198.51.100.7', 90, reason=lost, host=host, rfc3339=True))
    d.wait_caught_up()
    out, m = metrics(d, 'metrics')
    for raw in (host, relay, log.encode()):
        if label_text(raw) not in out:
            fail('%r is not in the exposition as %s:\n%s' % (raw, label_text(raw), out))
    if 'j\u00fcrgen' not in out or '\\\\xfe' not in out or '\\\\xff' not in out:
        fail('UTF-8 is not kept, or a stray byte not shown as \\\\xNN:\n%s' % out)
    eq(samples(m, 'smtpwatch_backend_down'), {shown(host): 1, 'mx1': 0},
       'the back end of the hostile host, and of the relay\'s')
    eq(samples(m, 'smtpwatch_stored_accounts'), {shown(host): 1}, 'accounts of the hostile host')
    eq(samples(m, 'smtpwatch_relay_failing', ('host', 'relay')), {('mx1', shown(relay)): 1},
       'the hostile relay')
    eq(samples(m, 'smtpwatch_source_lag_bytes'), {shown(log): 0}, 'the path')
    check_relays(d, m)
    check_db_gauges(d, m)
    d.term()
    # A newline and the rest, in names only the database can hold.
    nl = b'nl\nrelay "q" \\ j\xc3\xbcrgen \xc2\x85 \xe2\x80\xae \x1b[31m'
    con = sqlite3.connect(d.db)
    con.execute('INSERT INTO relays (host, relay, failures, affected, last_seen) '
                'VALUES (CAST(?1 AS TEXT), CAST(?1 AS TEXT), 1, 2, 1795838400)', (nl,))
    con.commit()
    con.close()
    out, m = metrics(d, 'metrics with a newline')
    if label_text(nl) not in out or '\\\\x0a' not in out:
        fail('the name with a newline is not %s in:\n%s' % (label_text(nl), out))
    eq(samples(m, 'smtpwatch_relay_messages_held_back', ('host', 'relay'))[
        (shown(nl), shown(nl))], 2, 'the relay with a newline')
    check_relays(d, m)


@test('metrics')
def output(w):
    """--output FILE: the same text as standard output, mode 0644 whatever
    the umask, no temporary file left, the old file replaced by a rename
    (a reader holding it open keeps the old text); on an error nothing is
    replaced and nothing is left behind."""
    d = daemon(w, ALERTS)
    append(d.logs[0], busy_log())
    d.start()
    d.wait_caught_up()
    d.term()                        # stopped: the text is the same each time
    outdir = w.path('textfile')
    os.mkdir(outdir)
    prom = os.path.join(outdir, 'smtpwatch.prom')
    with open(prom, 'w') as f:
        f.write('old\n')
    old = open(prom)
    ino = os.stat(prom).st_ino
    mask = os.umask(0o077)
    try:
        rc, out, err = ctl(d, 'metrics', '--output', prom, code=0)
    finally:
        os.umask(mask)
    eq((out, err), ('', ''), 'stdout and stderr with --output')
    rc, want, err = ctl(d, 'metrics', code=0)
    with open(prom) as f:
        eq(f.read(), want, 'the file (the text of standard output)')
    promtool(want, '--output')
    eq(os.listdir(outdir), ['smtpwatch.prom'], 'the directory after --output')
    st = os.stat(prom)
    eq(oct(st.st_mode & 0o7777), oct(0o644), 'mode, umask 077')
    if st.st_ino == ino:
        fail('the file was written in place, not renamed over the old one')
    eq(old.read(), 'old\n', 'the old file, as its reader sees it')
    old.close()
    # Errors: the database missing, the directory missing, FILE a directory.
    ino = st.st_ino
    gone = w.path('gone.conf')
    with open(gone, 'w') as f:
        f.write('database %s\ncontrol %s\n' % (w.path('missing.db'), d.control))
    r = subprocess.run([CTL, '-f', gone, '--rules', RULES, 'metrics', '--output', prom],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    eq(r.returncode, 3, 'exit status without a database')
    eq((os.stat(prom).st_ino, open(prom).read(), sorted(os.listdir(outdir))),
       (ino, want, ['smtpwatch.prom']), 'the file and its directory after the failure')
    rc, out, err = ctl(d, 'metrics', '--output', w.path('nodir', 'smtpwatch.prom'), code=3)
    if 'nodir' not in err or os.path.exists(w.path('nodir')):
        fail('a missing directory: stderr %r' % err)
    sub = os.path.join(outdir, 'sub.prom')
    os.mkdir(sub)
    rc, out, err = ctl(d, 'metrics', '--output', sub, code=3)
    eq((sorted(os.listdir(outdir)), os.listdir(sub)), (['smtpwatch.prom', 'sub.prom'], []),
       'a directory as FILE: left alone, no temporary file')
    # A name without a directory writes in the current one.
    r = subprocess.run([CTL, '-f', d.conf, '--rules', RULES, 'metrics', '--output', 'rel.prom'],
                       cwd=outdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    eq((r.returncode, open(os.path.join(outdir, 'rel.prom')).read()), (0, want),
       '--output rel.prom in the current directory')


@test('status')
def many(w):
    """30 open account incidents and a relay refusal after them: status
    shows 20 lines, the relay among them, says how many more there are,
    and gives the brute-force fix once; --verbose shows all 31 and the
    causes; --json has all of them."""
    d = daemon(w, ALERTS)
    start(d)
    log = b''.join(fails('user%02d@example.org' % i, 3, '203.0.113.%d' % (10 + i), i * 10)
                   for i in range(30))
    append(d.logs[0], log + pf_relay_fail('4F1A211E0A1', 'x@example.net', 400,
                                          rfc3339=True))
    d.wait_caught_up()
    inc = query(d.db, "SELECT id, kind FROM incident_list WHERE state = 'open'")
    eq(sorted(set(i['kind'] for i in inc)), ['account', 'relay'], 'kinds open')
    eq(len(inc), 31, 'open incidents')
    rc, out, err = ctl(d, 'status', code=1)
    lines = [l for l in out.splitlines() if re.match(r'  #\d+ ', l)]
    eq(len(lines), 20, 'incident lines without --verbose')
    if not lines[0].startswith('  #31 relay smtp.gmail.com on mx1, since '):
        fail('the relay incident is not first: %r' % lines[0])
    if '  ... and 11 more (status --verbose, or smtpwatchctl incidents --open)' not in out:
        fail('no "and 11 more" line:\n%s' % out)
    fix = rules_diagnoses()['server/brute-force']['fix'][0][1]
    eq(out.count(fix), 1, 'the brute-force fix shown')
    if 'server/brute-force (#1, #2, #3, #4, #5 and 25 more): ' not in out:
        fail('the brute-force diagnosis does not name its 30 incidents:\n%s' % out)
    if len(out.splitlines()) > 70:
        fail('status is %d lines long with 31 incidents' % len(out.splitlines()))
    rc, out, err = ctl(d, 'status', '--verbose', code=1)
    eq(len([l for l in out.splitlines() if re.match(r'  #\d+ ', l)]), 31,
       'incident lines with --verbose')
    if 'cause: ' not in out or 'and 11 more' in out:
        fail('--verbose: no cause, or still cut:\n%s' % out)
    rc, out, err = ctl(d, 'status', '--json', code=1)
    eq(len(json.loads(out)['incidents']), 31, 'incidents in --json')
    d.term()


@test('status')
def denied(w):
    """A user who may read neither the socket nor the database is told
    what to do (the group of the database's directory, or sudo), not
    SQLite's "unable to open database file"; exit 3."""
    d = daemon(w, ALERTS)
    start(d)
    append(d.logs[0], busy_log())
    d.wait_caught_up()
    # the configuration readable by all, as /etc/smtpwatch's is
    pub = w.path('pub')
    os.mkdir(pub, 0o755)
    conf = os.path.join(pub, 'smtpwatch.conf')
    with open(d.conf) as f, open(conf, 'w') as g:
        g.write(f.read())
    os.chmod(conf, 0o644)
    os.chown(w.dir, 0, 8)               # group mail, which nobody is not in
    os.chmod(w.dir, 0o751)
    e = dict(os.environ, SMTPWATCH_NOW=str(NOW), LC_ALL='C', TZ='UTC')
    r = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                        CTL, '-f', conf, '--rules', RULES, 'status'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       timeout=TIMEOUT)
    out, err = r.stdout.decode(), r.stderr.decode()
    eq(r.returncode, 3, 'exit status of status for nobody')
    if 'unable to open database file' in err or 'what follows' in out:
        fail('status for nobody:\nstdout %s\nstderr %s' % (out, err))
    if ('permission denied' not in err or 'group mail' not in err or
            'sudo adduser nobody mail' not in err or 'use sudo' not in err):
        fail('status for nobody does not say what to do: %r' % err)
    d.term()


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
    rc, out, err = ctl(d, 'reset', '--dry-run', 'admin@example.org', code=0)
    eq(out, 'reset admin@example.org: would delete 1 account, 1 address of an account, '
       '1 time bucket; would close 1 open incident (--dry-run: nothing changed)\n',
       'reset --dry-run')
    rc, out, err = ctl(d, 'reset', '--host', 'mx2', 'admin@example.org', code=1)
    eq(out, 'reset admin@example.org on host mx2: nothing matched: no account, address, '
       'relay or open incident of that name\n', 'reset on another host')
    rc, out, err = ctl(d, 'reset', 'admin@example.org', '--host', 'mx1', code=0)
    eq(out, 'reset admin@example.org on host mx1: deleted 1 account, 1 address of an '
       'account, 1 time bucket; closed 1 open incident\n', 'reset')
    rc, out, err = ctl(d, 'reset', 'admin@example.org', code=1)
    if 'nothing matched' not in out:
        fail('a second reset: %r' % out)
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
    eq(out, 'smtpwatchd reloaded its configuration and rules\n', 'reload stdout')
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
