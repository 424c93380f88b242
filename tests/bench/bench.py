#!/usr/bin/env python3
"""tests/bench/bench.py -- `make bench`: how fast and how lean smtpwatch is,
measured and written to BENCHMARKS.md.  Nothing here asserts a time.

Corpora (../shared/bench/gen-maillog, fixed seeds, in build/bench/, made
once and kept out of git):
    postfix-1m    1M Postfix lines, 2 % failures           (-s 1)
    storm-1m      1M Postfix lines, 50 % failures          (-s 2 -r 0.5)
    mixed-1m      1M mixed Postfix/Exim, RFC 3339 stamps   (-s 3)
    postfix-10m   10M Postfix lines, 2 % failures          (-s 4; BENCH_LARGE=0 skips)

Figures, each the median of several runs with the spread (min..max):
    scan          smtpwatchctl scan: lines/s, MB/s, the ratio to
                  LC_ALL=C grep -cF 'authentication failed' on the same
                  file, and its peak RSS
    interpreter   the same scan with pcre-jit no (the unit forbids JIT)
    per-line      the same scan with SMTPWATCH_FRONT=no: every line parsed
                  and matched, as a build without Vectorscan does
    one thread    the same scan with SMTPWATCH_SCAN_THREAD=no: the events
                  counted in the thread that reads the lines
    catch-up      smtpwatchd, start-at beginning, from its start until the
                  checkpoint stands at the end of the file: lines/s, peak
                  RSS (VmHWM), private memory then (RssAnon) and its peak
                  during the catch-up (read every 5 ms), database size;
                  on postfix-1m and storm-1m also with pcre-jit no, as
                  the unit runs it (MemoryDenyWriteExecute=yes)
    latency       a relay-rejected line appended to a followed log until
                  its entry is in the journal (__REALTIME_TIMESTAMP, as
                  journald received it): p50, p99 over BENCH_APPENDS (1000),
                  one every 5 ms
    peers         with PEERS=1: fail2ban-regex (postfix[mode=auth]) and
                  sshguard's sshg-parser on postfix-1m
    attack        issue 18: BENCH_ATTACK (1M) failures, each a random user
                  name from a random address of one IPv6 /64, read by
                  smtpwatchd with the default database-limit (256M) and with
                  none: the database's size (largest at a commit, at the
                  end), the accounts folded, the catch-up time

`bench.py --report` writes BENCHMARKS.md again from build/bench/results.json.
Run as root when journald must be started (the harness does it) or peers
installed (contrib/deps peers).
"""

import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (BIN, CTL, ROOT, RULES, Daemon, Journal, Workdir,  # noqa: E402
                     append, ensure_journald, pf_relay_fail)

GEN = os.path.normpath(os.path.join(ROOT, '..', 'shared', 'bench', 'gen-maillog'))
DIR = os.path.join(ROOT, 'build', 'bench')
OUT = os.path.join(ROOT, 'BENCHMARKS.md')
RUNS = int(os.environ.get('BENCH_RUNS', '5'))
APPENDS = int(os.environ.get('BENCH_APPENDS', '1000'))

# The storms lie in the past, so that retention has them to delete.
STORM_START = '2026-10-01T00:00:00'
CORPORA = [
    ('postfix-1m', ['-n', '1000000', '-s', '1']),
    ('storm-1m', ['-n', '1000000', '-s', '2', '-r', '0.5', '--start', STORM_START]),
    ('mixed-1m', ['-f', 'mixed', '-t', 'rfc3339', '-n', '1000000', '-s', '3']),
]
if os.environ.get('BENCH_LARGE', '1') != '0':
    CORPORA.append(('postfix-10m', ['-n', '10000000', '-s', '4']))
    CORPORA.append(('storm-10m', ['-n', '10000000', '-s', '5', '-r', '0.5',
                                  '--start', STORM_START]))
CATCHUP_RUNS = int(os.environ.get('BENCH_CATCHUP_RUNS', '3'))
# How often the private memory is read during a catch-up (AnonPeak).
SAMPLE_S = 0.005
ATTACK = int(os.environ.get('BENCH_ATTACK', '1000000'))


def corpus(name, args):
    path = os.path.join(DIR, name + '.log')
    if not os.path.exists(path):
        os.makedirs(DIR, exist_ok=True)
        print('bench: generating %s' % name, flush=True)
        subprocess.run([sys.executable, GEN] + args + ['-o', path + '.tmp',
                       '--truth', path + '.truth.json'], check=True,
                       stdout=subprocess.DEVNULL)
        os.rename(path + '.tmp', path)
    with open(path, 'rb') as f:
        lines = sum(buf.count(b'\n') for buf in iter(lambda: f.read(1 << 24), b''))
    return path, lines, os.path.getsize(path)


def timed(argv, stdin=None):
    """Runs argv once: (seconds, peak RSS in KiB).  The RSS is GNU time's
    %M: wait4's ru_maxrss of a child forked from this Python would count
    the interpreter's pages from before the exec."""
    rssfile = os.path.join(DIR, 'rss')
    argv = ['/usr/bin/time', '-f', '%M', '-o', rssfile] + argv
    t0 = time.perf_counter()
    # A pipe, not /dev/null: GNU grep stops at the first match when its
    # output is /dev/null.
    p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    while p.stdout.read(1 << 16):
        pass
    p.stdout.close()
    p.wait()
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise SystemExit('bench: %s: exit %d' % (' '.join(argv), p.returncode))
    with open(rssfile) as f:
        return dt, int(f.read().split()[-1])


def median(argv, runs=RUNS, stdin_path=None):
    """(median s, min s, max s, max RSS KiB) over runs."""
    ts, rss = [], 0
    for _ in range(runs):
        f = open(stdin_path, 'rb') if stdin_path else None
        try:
            dt, r = timed(argv, stdin=f)
        finally:
            if f:
                f.close()
        ts.append(dt)
        rss = max(rss, r)
    return statistics.median(ts), min(ts), max(ts), rss


def scan_figures(path, lines, size, runs, conf=None, front=True, thread=True):
    argv = [CTL, '--rules', RULES] + (['-f', conf] if conf else []) + \
        ['scan', '--no-progress', path]
    if not front:
        argv = ['env', 'SMTPWATCH_FRONT=no'] + argv
    if not thread:
        argv = ['env', 'SMTPWATCH_SCAN_THREAD=no'] + argv
    return median(argv, runs)


def grep_figures(path, runs):
    return median(['env', 'LC_ALL=C', 'grep', '-cF', 'authentication failed', path], runs)


def memory(pid):
    """(VmHWM KiB, RssAnon KiB) of a running process, from
    /proc/PID/status."""
    with open('/proc/%d/status' % pid) as f:
        st = {l.split(':')[0]: l.split()[1] for l in f if len(l.split()) > 1}
    return int(st['VmHWM']), int(st['RssAnon'])


class AnonPeak(threading.Thread):
    """The largest RssAnon of a process seen while it runs, read from
    /proc every SAMPLE_S seconds: a sample, not the kernel's own peak
    (there is no VmHWM for private memory), which a peak shorter than
    the period may pass between two readings."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()
        self.start()

    def run(self):
        while not self.done.wait(SAMPLE_S):
            try:
                self.peak = max(self.peak, memory(self.pid)[1])
            except OSError:
                return

    def stop(self):
        self.done.set()
        self.join()
        return self.peak


def catch_up_once(w, name, path, run, extra_conf=''):
    """smtpwatchd from start to the checkpoint at the end of path, into
    a new database: (s, VmHWM KiB, RssAnon KiB, the daemon, RssAnon's
    sampled peak KiB).  The figures but the peak are taken after the
    expiry that follows the catch-up (not timed): it rolls the buckets
    older than bucket-rollup into hours."""
    d = Daemon(w, [path], asan=False, binary=BIN, start_at='beginning',
               batch_interval=None, name='bench-%s-%d' % (name, run),
               extra_conf=extra_conf)
    mark = d.err_mark()
    t0 = time.perf_counter()
    d.start()
    sampler = AnonPeak(d.pid)
    d.wait_caught_up(timeout=3600)
    dt = time.perf_counter() - t0
    peak = sampler.stop()
    d.wait_stderr(r'expired \d+ rows', since=mark, timeout=600)
    hwm, anon = memory(d.pid)
    d.term()
    return dt, hwm, anon, d, peak


def at_rest(w):
    """smtpwatchd on an empty log, after its first expiry: (VmHWM KiB,
    RssAnon KiB), the memory of a daemon with nothing to do."""
    log = w.path('rest.log')
    open(log, 'w').close()
    d = Daemon(w, [log], asan=False, binary=BIN, name='bench-rest')
    mark = d.err_mark()
    d.start()
    d.wait_caught_up()
    d.wait_stderr(r'(the|no) backlog read at start', since=mark)
    rest = memory(d.pid)
    d.term()
    return rest


def db_remove(db):
    """Removes a database and its WAL and shared memory, for the next run."""
    for suffix in ('', '-wal', '-shm'):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)


def catch_up(w, name, path, lines):
    """(median s, min s, max s, max VmHWM KiB, database bytes, database
    bytes after retention or None, max RssAnon KiB, max sampled peak
    RssAnon KiB).  Each run starts on a new database; the last one is
    kept, and for a storm, retention then runs on it."""
    runs = CATCHUP_RUNS if lines <= 1000000 else 1
    ts, hwm, anon, peak = [], 0, 0, 0
    for run in range(runs):
        dt, h, a, d, p = catch_up_once(w, name, path, run)
        ts.append(dt)
        hwm = max(hwm, h)
        anon = max(anon, a)
        peak = max(peak, p)
        if run < runs - 1:
            db_remove(d.db)
    size = os.path.getsize(d.db)
    after = retention(d) if name.startswith('storm') else None
    return statistics.median(ts), min(ts), max(ts), hwm, size, after, anon, peak


def catch_up_interp(w, name, path):
    """(median s, min s, max s) of the catch-up with pcre-jit no, as the
    unit runs it (MemoryDenyWriteExecute=yes leaves PCRE2 no JIT), each
    run on a new database."""
    ts = []
    for run in range(CATCHUP_RUNS):
        dt, _, _, d, _ = catch_up_once(w, name + '-interp', path, run, 'pcre-jit no')
        ts.append(dt)
        db_remove(d.db)
    return statistics.median(ts), min(ts), max(ts)


def db_in_use(db):
    """Bytes of the database's pages that hold data (not on the free list)."""
    import sqlite3
    c = sqlite3.connect('file:%s?mode=ro' % db, uri=True)
    try:
        page = c.execute('PRAGMA page_size').fetchone()[0]
        count = c.execute('PRAGMA page_count').fetchone()[0]
        free = c.execute('PRAGMA freelist_count').fetchone()[0]
    finally:
        c.close()
    return (count - free) * page


def retention(d):
    """The daemon again on its database with retention and
    bucket-retention 1h: retention goes by the log's time, so every row,
    bucket and closed incident quiet for an hour before the storm's last
    line goes.  (file bytes, bytes in use) once it logged the expiry."""
    d.extra_conf = 'retention 1h\nbucket-retention 1h\nretention-limit 100%'
    d.write_conf()
    mark = d.err_mark()
    d.start()
    d.wait_stderr(r'expired \d+ rows', since=mark, timeout=600)
    d.term()
    return os.path.getsize(d.db), db_in_use(d.db)


def attack_log(n):
    """BENCH_ATTACK failures, each a random user name from a random address
    of 2001:db8:1:2::/64, four a second from 2026-11-28 (made once)."""
    import random
    path = os.path.join(DIR, 'attack-%d.log' % n)
    if os.path.exists(path):
        return path
    os.makedirs(DIR, exist_ok=True)
    print('bench: generating %s' % os.path.basename(path), flush=True)
    r = random.Random(18)
    t0 = 1795824000                     # 2026-11-28T00:00:00Z
    with open(path + '.tmp', 'w') as f:
        for i in range(n):
            t = time.gmtime(t0 + i // 4)
            f.write('%04d-%02d-%02dT%02d:%02d:%02d+00:00 mx1 postfix/smtpd[1234]: warning: '
                    'unknown[2001:db8:1:2:%x:%x:%x:%x]: SASL LOGIN authentication failed: '
                    'UGFzc3dvcmQ6, sasl_username=r%010x@example.org\n' % (
                        t[:6] + tuple(r.randrange(1, 65536) for _ in range(4)) +
                        (r.randrange(1 << 40),)))
    os.rename(path + '.tmp', path)
    return path


def attack_once(w, path, limit):
    """smtpwatchd on the attack log with database-limit limit: (s, largest
    file at a commit, file at the end, accounts folded, folds said)."""
    d = Daemon(w, [path], asan=False, binary=BIN, start_at='beginning',
               batch_interval=None, name='bench-attack-%s' % limit,
               extra_conf='database-limit %s' % limit)
    largest = [0]

    def caught_up():
        try:
            largest[0] = max(largest[0], os.path.getsize(d.db))
        except FileNotFoundError:
            pass
        return d.caught_up()
    t0 = time.perf_counter()
    d.start()
    d._wait(caught_up, 'the end of the attack log', timeout=7200)
    dt = time.perf_counter() - t0
    d.signal(signal.SIGTERM)            # its expiry and checkpoint may take
    d.wait_exit(timeout=3600)           # longer than the harness waits
    import sqlite3
    c = sqlite3.connect('file:%s?mode=ro' % d.db, uri=True)
    try:
        folded = c.execute("SELECT coalesce(sum(folded), 0) FROM account_totals").fetchone()[0]
    finally:
        c.close()
    folds = d.err_text().count(' folded ')
    return dt, largest[0], os.path.getsize(d.db), folded, folds


def attack(w):
    path = attack_log(ATTACK)
    out = {}
    for limit in ('256M', '0'):
        print('bench: attack, database-limit %s' % limit, flush=True)
        out[limit] = attack_once(w, path, limit)
    return os.path.getsize(path), out


def latency(w):
    """Append -> journal entry: one relay-rejected line every 5 ms, each for
    a relay of its own (so each opens an incident and alerts at once),
    matched to its entry by SMTPWATCH_RELAY afterwards."""
    ensure_journald()
    log = w.path('live.log')
    open(log, 'wb').close()
    d = Daemon(w, [log], asan=False, binary=BIN, start_at='end', batch_interval=None,
               name='bench-live')
    d.start()
    j = Journal(d)
    sent = {}
    for i in range(APPENDS):
        relay = 'relay%d.example' % i
        line = pf_relay_fail('4F1A2%06X' % i, 'ops@partner.example',
                             relay=relay, relay_ip='192.0.2.%d' % (i % 250 + 1))
        sent[relay] = time.time()
        append(log, line)
        time.sleep(0.005)
    got = j.wait_kind('relay-rejected', n=APPENDS, timeout=300)
    d.term()
    lat = sorted(int(e['__REALTIME_TIMESTAMP']) / 1e6 - sent[e['SMTPWATCH_RELAY']]
                 for e in got)
    return (lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], len(lat),
            lat[-1])


PEER_PACKAGES = ('fail2ban', 'sshguard')


def peer_tree():
    """fail2ban and sshguard fetched with apt-get download and unpacked
    under build/e2e-debs/peers (never installed: both are daemons)."""
    sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
    from test_postfix import fetch_debs
    return fetch_debs('peers', PEER_PACKAGES)


def peers(path, lines):
    out = {}
    if os.environ.get('PEERS') != '1':
        return out
    tree = peer_tree()
    pypath = os.path.join(tree, 'usr', 'lib', 'python3', 'dist-packages')
    m = median(['env', 'PYTHONPATH=' + pypath, '/usr/bin/python3',
                os.path.join(tree, 'usr', 'bin', 'fail2ban-regex'),
                '--config', os.path.join(tree, 'etc', 'fail2ban'), path,
                'postfix[mode=auth]'], 1)
    out['fail2ban-regex postfix[mode=auth]'] = m
    parser = os.path.join(tree, 'usr', 'libexec', 'sshguard', 'sshg-parser')
    if os.path.exists(parser):
        out['sshguard sshg-parser'] = median([parser], 1, stdin_path=path)
    return out


def version(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return '?'


def pkg_version(pkg):
    """The version of the .deb of pkg that peer_tree() unpacked."""
    import glob
    debs = glob.glob(os.path.join(ROOT, 'build', 'e2e-debs', pkg + '_*.deb'))
    return debs[0].split('_')[1] if len(debs) == 1 else '?'


def machine():
    model = '?'
    with open('/proc/cpuinfo') as f:
        for l in f:
            if l.startswith('model name'):
                model = l.split(':', 1)[1].strip()
                break
    return '%s, %d cores, %s' % (model, os.cpu_count(), platform.platform())


def rate(n, s):
    return '%.2fM' % (n / s / 1e6) if s > 0 else '-'


def main():
    results = {'scan': {}, 'interp': {}, 'perline': {}, 'onethread': {}, 'grep': {},
               'catchup': {}, 'catchup_interp': {}}
    sizes = {}
    with Workdir('bench') as w:
        conf = w.path('nojit.conf')
        with open(conf, 'w') as f:
            f.write('pcre-jit no\n')
        for name, args in CORPORA:
            path, lines, size = corpus(name, args)
            sizes[name] = (lines, size)
            runs = RUNS if lines <= 1000000 else 3
            print('bench: %s: scan, grep, interpreter' % name, flush=True)
            results['scan'][name] = scan_figures(path, lines, size, runs)
            results['grep'][name] = grep_figures(path, runs)
            if name == 'postfix-1m':
                results['interp'][name] = scan_figures(path, lines, size, runs, conf)
            if lines <= 1000000:
                results['perline'][name] = scan_figures(path, lines, size, runs,
                                                        front=False)
                results['onethread'][name] = scan_figures(path, lines, size, runs,
                                                          thread=False)
            print('bench: %s: daemon catch-up' % name, flush=True)
            results['catchup'][name] = catch_up(w, name, path, lines)
            if name in ('postfix-1m', 'storm-1m'):
                results['catchup_interp'][name] = catch_up_interp(w, name, path)
        if ATTACK > 0:
            results['attack'] = attack(w)
        print('bench: latency over %d appends' % APPENDS, flush=True)
        results['latency'] = latency(w)
        results['rest'] = at_rest(w)
        results['peers'] = peers(os.path.join(DIR, 'postfix-1m.log'), sizes['postfix-1m'][0])
    write(results, sizes)
    print('bench: written to %s' % OUT)


LATENCY_PROSE = (
    'Each of these lines opens an incident and alerts at once: its batch is '
    'committed, the alert written, the outbox\'s row emptied by a second commit.  '
    'About every 250 alerts the WAL reaches 4000 frames and is checkpointed.  '
    'Until 2026-12-07 (seventh session) the checkpoint ran in the event loop, '
    'and its fdatasync() of 16 MB of WAL (14 to 18 ms here) held back the four '
    'lines after the one whose commit checkpointed (17.7..20.7, 13, 8 and 3 ms).  '
    'Since then a thread of its own checkpoints (daemon/ckpt.c), having written '
    'the WAL out with sync_file_range(2) up to the page the loop appends to '
    '(with that page too, the loop\'s next write waited 5 to 8 ms for it), and '
    'no line stands out after a checkpoint.  Five runs of each side by side '
    '(ba9c7c2 against e227ce1): p99 0.73..1.67 ms against 0.68..0.93 ms, the '
    'largest delay 17.7..20.7 ms against 1.8..4.4 ms, on lines no checkpoint '
    'was near: what is left of the tail is this VM.',
)


def database_target(r):
    """The storm database after catch-up (and its expiry) and after
    retention: the target is about storm-10m; without it (BENCH_LARGE=0)
    storm-1m stands in, and the row says so."""
    name = 'storm-10m' if 'storm-10m' in r['catchup'] else 'storm-1m'
    if name not in r['catchup']:
        return []
    c = r['catchup'][name]
    db, ret = c[4], c[5]
    label = 'database, %s, after catch-up / after retention' % name
    if name != 'storm-10m':
        label += ' (the target is storm-10m\'s; BENCH_LARGE=0)'
    return [(label, '<= 40 MB / <= 2 MB',
             '%.1f MB / %s' % (db / 1e6, '%.1f MB' % (ret[0] / 1e6) if ret else '-'),
             db <= 40e6 and bool(ret) and ret[0] <= 2e6)]


def targets(r, sizes):
    """The issue's targets beside the figures, met or not, said plainly."""
    s, g = r['scan']['postfix-1m'], r['grep']['postfix-1m']
    rows = [('scan, 2 % failures: time vs grep -cF', 'at most 2x',
             '%.1fx' % (s[0] / g[0]), s[0] / g[0] <= 2)]
    if 'storm-1m' in r['scan']:
        st = r['scan']['storm-1m']
        n = sizes['storm-1m'][0]
        rows.append(('scan, 50 % storm', '>= 3M lines/s', rate(n, st[0]) + ' lines/s',
                     n / st[0] >= 3e6))
    c = r['catchup']['postfix-1m']
    n = sizes['postfix-1m'][0]
    rows.append(('daemon catch-up, normal', '>= 5M lines/s', rate(n, c[0]) + ' lines/s',
                 n / c[0] >= 5e6))
    if 'storm-1m' in r['catchup']:
        c = r['catchup']['storm-1m']
        n = sizes['storm-1m'][0]
        rows.append(('daemon catch-up, storm', '>= 1M lines/s', rate(n, c[0]) + ' lines/s',
                     n / c[0] >= 1e6))
    rows += database_target(r)
    # p50 from issue 8; p99 "stays <= 1 ms" from issue 20 (issue 8 had 10)
    p50, p99 = r['latency'][:2]
    rows.append(('append -> journal entry', 'p50 <= 2 ms, p99 <= 1 ms',
                 'p50 %.1f ms, p99 %.2f ms' % (p50 * 1000, p99 * 1000),
                 p50 <= 0.002 and p99 <= 0.001))
    hwm = [v[3] for v in r['catchup'].values()]
    rows.append(('daemon peak RSS', '<= 8 MB, flat in file size',
                 '%.1f..%.1f MB' % (min(hwm) / 1024, max(hwm) / 1024), max(hwm) <= 8 * 1024))
    if r.get('rest'):
        rows.append(('daemon private memory (RssAnon) at rest', '<= 2 MB',
                     '%.1f MB (VmHWM %.1f MB)' % (r['rest'][1] / 1024, r['rest'][0] / 1024),
                     r['rest'][1] <= 2 * 1024))
    anon = {n: v[6] for n, v in r['catchup'].items() if len(v) > 6}
    if anon:
        worst = max(anon.values())
        rows.append(('daemon private memory (RssAnon) after catch-up', '<= 8 MB in a storm',
                     '%.1f..%.1f MB' % (min(anon.values()) / 1024, worst / 1024),
                     worst <= 8 * 1024))
    peak = {n: v[7] for n, v in r['catchup'].items() if len(v) > 7}
    if peak:
        worst = max(peak.values())
        rows.append(('daemon private memory (RssAnon) during catch-up, peak read every 5 ms',
                     '<= 8 MB in a storm',
                     '%.1f..%.1f MB' % (min(peak.values()) / 1024, worst / 1024),
                     worst <= 8 * 1024))
    if r['interp']:
        i = r['interp']['postfix-1m']
        rows.append(('interpreter vs JIT', 'within 1.5x', '%.2fx' % (i[0] / s[0]),
                     i[0] / s[0] <= 1.5))
    L = ['', '## Targets', '', '| figure | target | measured | met |', '|---|---|---|---|']
    for what, want, got, ok in rows:
        L.append('| %s | %s | %s | %s |' % (what, want, got, 'yes' if ok else '**no**'))
    L += ['', 'Where a target is not met, what holds it back (perf on this machine):', '',
          '- **scan**: the front end (daemon/front.c: one Vectorscan pass over each '
          'read buffer, about 12 % of the scan\'s time, as long as grep) passes over '
          'four lines in five of a Postfix log; each of those still has its time read '
          '(so that year inference, the newest time and the bad-date warning stay '
          'exact), from the line before\'s stamp when it starts with the same bytes '
          'and a host follows whose message cannot begin a relay\'s header '
          '(parse_stamp: 4 % of the instructions, callgrind on postfix-1m; 10 % '
          'while it read each line\'s tag).  A line read carries the rules whose '
          'literal the pass found in it, and the matcher passes over the others '
          '(matching 16 % -> 13 %).  A `status=sent` delivery reaches the '
          'relay-success pattern only when a relay that failed AUTH on that host is '
          'named in it (relayset.c: the others are mail to MX hosts, not counted; '
          'the watched names are one Vectorscan database, 3 %).  Every event goes '
          'through the daemon\'s engine (5 %) and an in-memory SQLite store (19 %, '
          'written once at the end), since scan and the daemon count one way; the '
          'report is 7 % (every account and address listed, each address with its '
          'number of accounts).  Instructions of the whole scan, callgrind: 2.39G '
          'at the start of 2026-12-07\'s second session, 1.99G at its end.  '
          'Since 2026-12-07 (sixth session) scan\'s database in memory makes no '
          'windowed buckets (its report reads none), is loaded without the index '
          'of account x address pairs by address and without checking foreign '
          'keys (nothing is deleted from it), and makes that index at once, '
          'holding each pair\'s failures, before its report reads it: the first '
          '300k lines of postfix-1m 706.0M -> 643.4M instructions with a faster '
          'hash for the tables in memory, the report\'s tables grown by doubling '
          'and str_vis() copying printable ASCII at once; the first 100k lines of '
          'attack-1000000 (a report of 200k rows) 19.0G -> 13.1G.  The '
          'per-line figure above is the same binary with '
          'SMTPWATCH_FRONT=no; figures on this shared VM vary by a fifth from run '
          'to run.  Since 2026-12-08 (ninth session) the events are counted in a '
          'second thread (daemon/evq.c); in a Postfix log of 2 % failures that '
          'thread has little to do, and the reading thread is the scan '
          '(postfix-1m, five alternating runs: 0.27 -> 0.25 s).  Since '
          '2026-12-08 (tenth session) the front end compiles only the literals '
          'that hold no other (front_collapse(): 73 -> 37 with rules/), each '
          'reporting the rules of those that hold it too: Vectorscan reports every '
          'occurrence of every literal, and a storm\'s failure line held six '
          '(perf: Vectorscan had been a quarter of a storm scan\'s reading '
          'thread); an Exim arrival\'s and relay delivery\'s literal for the front '
          'end is A= instead of <= and => (mixed-1m: 161 lines hold it, against '
          '80k each); and GCC on x86 builds the programs with '
          '-mstringop-strategy=libcall (it copied a capture into an event\'s '
          'field with rep movsq, 5 % of a storm scan\'s samples).  Callgrind, '
          'one thread: postfix-1m\'s first 300k lines 634M -> 595M instructions, '
          'mixed-1m\'s 1237M -> 1015M, storm-1m\'s first 200k 2.00G -> 1.87G.  '
          'Then a literal found is kept by the offset of its last byte, and the '
          'line that holds it is found as the lines are split, not by searching '
          'for the newlines around it; and a table\'s padding is written a run of '
          'blanks at a time (a storm\'s report pads its accounts to some 100 '
          'columns): 595M -> 587M, 1.87G -> 1.85G.  What is left of a Postfix '
          'scan\'s instructions (callgrind, one thread, the first 300k lines): '
          'the deliveries (status=sent, 12 % of the lines) 16 % (the same scan '
          'without their rule: 594M -> 497M; each is parsed and asks relayset.c '
          'whether a watched relay is named in it, an hs_scan() of about 840 '
          'instructions, 4 %), the final commit of scan\'s batch 15 % and the '
          'report 14 %, both after the reading.',
          '- **storm scan**: half the lines are failures and all of them candidates '
          '(callgrind, the first 200k lines of storm-1m, 2.56G instructions at the '
          'start of 2026-12-07\'s sixth session, 2.16G at its end): SQLite '
          '24 % (the account x address pairs 18 %, 15k instructions each), matching '
          '19 % (PCRE2 12 %: a failure may pass a rule\'s literals and fail its '
          'pattern before the next rule matches; until 2026-12-07\'s seventh '
          'session every Postfix failure line ran the trouble rule\'s pattern '
          'first, which failed on its reply: the failure rule now comes first and '
          'leaves the trouble rule exactly its replies, 2.16G -> 2.06G), the '
          'engine 14 %, the report 13 %, '
          'the front end 12 %, the batch 6 %.  What the sixth session took off: '
          'FNV-1a on every name and address for the tables in memory (5 %: a hash '
          'of eight bytes a step, hash_mem(), and a track\'s key hashed once), the '
          'pairs\' index by address kept up at each upsert and their foreign key '
          '(the index made once for the report instead, 7 %), the buckets, IPv6 '
          'networks written by inet_ntop and snprintf.  Each event makes about '
          'five aggregates in the batch, has its address grouped into its network '
          '(a dotted quad read and written without inet_pton or stdio), and is '
          'diagnosed from the matcher\'s memo of its last 32 kinds of event '
          '(direction, kind, rule, reply: a storm\'s failures share a reply), 3 %.  '
          'Since 2026-12-08 (ninth session) reading and matching run in one thread '
          'and counting (attribution, the engine, the store in memory) in a second '
          '(daemon/evq.c: the events packed into four blocks of 128 KiB, about 200 '
          'bytes an event instead of struct sw_event\'s 1.7 KB): of the first 200k '
          'lines\' 2.06G instructions about 0.87G are the reading thread\'s, 0.80G '
          'the counting thread\'s, and 0.32G the report\'s, which waits for both '
          '(perf on storm-1m: the counting thread 45 % of the samples, the reading '
          'one 55 % with the report).  storm-1m side by side, five alternating runs: '
          'a median of 1.29 -> 0.94 s.  What is left is one core\'s worth of each '
          'half and the report on one: 3M lines/s would take each of them four '
          'times faster.  With pcre-jit no (the interpreter, as under '
          'MemoryDenyWriteExecute=yes) a storm\'s failure pattern costs about 6.5k '
          'instructions a line instead of 1.5k, 0.4 to 0.6 us (a quarter of which '
          'is the interpreter\'s start, about 900 instructions for `^warning: ` '
          'alone).  Since 2026-12-08 (tenth session, see scan) the reading thread '
          'is the faster (storm-1m side by side, five alternating runs: 0.80 -> '
          '0.66 s): perf finds it done at three fifths of the run, the counting '
          'thread then writing its one batch (the sort of some 580k aggregates, '
          'the pairs\' upserts) and the report running alone (the index of pairs '
          'by address a third of it): two fifths of a storm scan are that serial '
          'tail, which smaller batches, written while the reading goes on, made '
          'slower (see the ninth session\'s note).',
          '- **catch-up**: the scan\'s work (the front end skips the same lines), '
          'then the batch\'s aggregation, the alert engine and the SQLite commits '
          '(callgrind, the daemon on the first 200k lines of storm-1m, 4.69G '
          'instructions: commits 63 %, of which the account x address pairs 23 %, '
          'the buckets 13 %, the addresses 9 %, the incidents 7 %, the accounts '
          '6 %, each statement 10k to 16k instructions, 2.4k of them SQLite\'s '
          'set-up and halt; reading and matching the lines 26 %, the engine '
          '9 %).  A storm\'s events are nearly all distinct keys (storm-1m: '
          '551k events, 579k keys), so aggregating a batch saves little; its rows '
          'are written in their tables\' key order, each B-tree page once a batch, '
          'into schema version 3 (no second B-tree for buckets or for account '
          'addresses).  With every write skipped (schema 1) the storm '
          'catch-up took 3.2 s instead of 14.8 s: buckets about 4.5 s, account x '
          'address pairs 4.2 s, incidents 1.5 s, addresses 1 s.  Buckets are '
          'minutes for two hours only (bucket-rollup), rolled into hours as soon '
          'as a commit passes a whole hour, which keeps their B-tree small; a '
          'storm still writes a minute bucket per account and address each minute. '
          'A cap on the pairs per account is not built: an address spraying '
          'accounts already at the cap would show no accounts in `addresses`, the '
          'one view that tells a spray.  The store\'s connection skips the schema\'s '
          'CHECK constraints (quick_check verifies them at each start): SQLite built '
          'each one\'s IN list into a temporary B-tree at every upsert (callgrind, '
          'the first 300k lines of storm-1m: 18.6G instructions with the CHECKs, '
          '13.0G without them, 10.9G once accounts, relays and addresses were '
          'upserted from VALUES and deliveries only UPDATE).  The account x '
          'address pairs are upserted from one row of VALUES too: INSERT ... SELECT '
          'made SQLite open a statement journal at every upsert, a third of its cost '
          '(storm scan, 200k lines: 3.66G -> 3.38G instructions); and by their '
          'account\'s id, kept from its upsert or read once a batch, not a subquery '
          'by name (2.75G -> 2.59G).  Written in the order of their key (the '
          'account\'s id, not its name) the first 3M lines of storm-10m caught up '
          'no faster (27.0..28.3 s against 27.4..30.6 s): not built.  A storm\'s '
          'commit writes about 1000 pages to the WAL, its random keys touching most '
          'of the file (storm-1m: 1.2 GB written for a 12.7 MB database, 0.6 GB of '
          'it the buckets\', 0.5 GB the pairs\'); the WAL is copied into the file '
          'every 4000 frames since 2026-12-07, not after nearly every commit as with '
          '1000 (storm-1m: 7.3..7.8 s -> 6.3..6.4 s, 0.96 GB written; the first 3M '
          'lines of storm-10m 26.2 -> 22.6 s).  A quarter to a third of a storm\'s '
          'catch-up is still system time (those 3M lines: 6.5 s of 22.6 s), SQLite '
          'reading pages its 2 MB cache no longer holds and writing the WAL; a '
          '16 MB cache reads a third as much but writes as much.  Schema version '
          '3 (2026-12-07) keys the buckets by their start first: a batch\'s '
          'buckets are one run of pages at the end of their B-tree, not spread '
          'over all of it (storm-1m: 896 -> 463 MB written, 1.65 -> 0.89 GB '
          'read, 5.05/5.24 -> 4.54/4.12 s side by side); the listings\' windows '
          'sum the window\'s buckets once, grouped by key, and the rare reads of '
          'one key\'s buckets (show, folding, reset) scan those of their time.  '
          'An incident already written is saved by an UPDATE of what changed, '
          'which leaves the index of open incidents alone (28.6k -> 13.0k '
          'instructions a save; storm-1m 4.58..5.50 -> 4.34..4.68 s).  The pairs '
          'are now the largest part: random over their whole table in a storm; '
          'client addresses as a table WITHOUT ROWID were slower (16k -> 18.6k '
          'instructions an upsert: a wide row is deleted and inserted again), '
          'not built.  SQLite keeps no memory statistics since 2026-12-07 '
          '(fifth session: each of its allocations took a mutex for them, 7 % '
          'of a pair\'s upsert, 17.0k -> 15.8k instructions); what is left of '
          'an upsert is SQLite\'s own (the pair\'s index by address 4.9k, its '
          'foreign key 1.8k, some nine allocations).  Over storm-1m the store '
          'ran 34k subject, 257k pair, 77k address and 241k bucket statements '
          'in 145 commits for 500k failures: the pairs and the minute buckets, '
          'each nearly always a new key, are 82 % of them.  Larger batches '
          '(8 MiB and 40,000 events) wrote 170 MB instead of 461 MB and took '
          'about a tenth less CPU, for 9.0 MB of private memory after the '
          'catch-up instead of 7.2: not built.  Since 2026-12-07 (sixth '
          'session) each aggregate of the batch takes what its table keeps (a '
          'bucket 48 bytes before its key instead of 152, a pair 80): 2 MiB then '
          'held 10,000 events of storm-1m instead of 7,200, 50 commits instead '
          'of 72, 352 MB written instead of 460 and a tenth faster, but a peak '
          'of private memory 0.5 MB higher; the batch is 1.5 MiB instead, as '
          'many events as before, for a peak 0.6 MB lower in the same time.  '
          'Since 2026-12-07 (seventh session) the WAL is checkpointed by a '
          'thread of its own (daemon/ckpt.c, see the latency), which on these '
          'two cores overlaps the catch-up: storm-1m side by side, seven runs '
          'each on a busy VM, a median of 4.46 -> 3.76 s (3.79..5.63 -> '
          '3.49..5.10 s), the same private memory at its peak.  A '
          'WAL of 8000 frames instead of 4000 wrote another 8 % less, no '
          'faster (three runs each): not built.  Since 2026-12-08 (eighth '
          'session) SQLite\'s page cache is 1 MiB, not 2: storm-1m reads 1043 MB '
          'instead of 926 from the file system\'s cache (29k more reads of 4 '
          'KiB, some 60 ms), a few percent at most in the noise of this VM '
          '(medians of six alternating runs: 3.51 -> 3.45 s of CPU with the '
          'cache set by the environment, 3.87 -> 3.98 s with the build), '
          'postfix-1m the same (ten runs each), storm-10m 57.4 -> 52.5 s (a run '
          'each).  store_write() takes 51 % of storm-1m\'s catch-up (1.70 of '
          '3.32 s, 140 commits) and about 30 % of postfix-1m\'s (0.12 of 0.41 '
          's): a thread committing while the loop reads on could at best reach '
          'about 0.59M and 3.4M lines/s, short of both targets, for a second '
          'batch and outbox in flight: not built.',
          '- **database**: a storm\'s account x address pairs are the rest of the '
          'file (storm-10m: 25 MB of its 38 MB, one row per account and address '
          'that failed it, with an index by address), and they stay while the '
          'storm goes on: retention deletes rows quiet for `retention`.  After '
          'retention what is left is the storm\'s last hour, which `retention 1h` '
          'and `bucket-retention 1h` must keep (storm-1m: 60 minutes of buckets, '
          '41k rows and 2.5 MB; 28k account x address pairs, 2.5 MB with their '
          'index): 2 MB would take fewer rows for an hour of storm, not a better '
          'expiry.',
          '- **RSS**: VmHWM counts the shared libraries\' pages (libc, SQLite, '
          'PCRE2, libsystemd, Vectorscan); RssAnon, the private memory, is the '
          'figure the target is about: SQLite\'s page cache, a batch of up to '
          '10,000 events or 1.5 MiB of counts, the Vectorscan database and scratch, '
          'and in a storm the open incidents (at most 10,000 client ones, 440 '
          'bytes each and their text, allocated to its length) with the sets that '
          'count their distinct addresses and accounts exactly, the tracks (at '
          'most 4096: 376 bytes, an account\'s slots of addresses made as they '
          'come, 96 bytes each, and the times of its latest failures) and the '
          'messages held back (up to 65,536, 1.5 MB), '
          'less what each expiry gives back: SQLite\'s unused cached pages '
          '(sqlite3_db_release_memory), the batch\'s chunk and hash table, and '
          'glibc\'s free memory (malloc_trim).  Since 2026-12-07 (fourth session) '
          'the sets hold 32-bit ids of values kept once in a dictionary they '
          'share (valset.c), as a bitmap of ids when that is smaller: a storm\'s '
          'incidents hold the same few thousand addresses and accounts over and '
          'over (storm-10m: 620k values of some 3000), and held them as tables of '
          '8-byte hashes at 16 to 32 bytes a value, the IPv4 ones of an account '
          'twice (as its addresses and its networks).  RssAnon after catch-up, '
          'storm-1m / storm-10m: 11.7 / 23.8 MB -> 10.3 / 18.4 (an address that '
          'is its own network counted, not held again) -> 9.0 / 13.2 (the '
          'dictionary) -> 8.3 / 8.8 (bitmaps) -> 7.9 / 8.4 (the batch\'s chunk '
          'and table given back) -> 7.6 / 8.1 MB (a track 504 -> 376 bytes: a '
          'window slot\'s first failure in 32 bits from its start, the rhythm\'s '
          'times an account\'s only), cu.py side by side; alerts and scan output '
          'identical.  Where '
          'no value is shared (the attack: one /64\'s 65,536 random accounts and '
          'addresses) the dictionary costs more than the sets save (2.1 -> 3.7 '
          'MB for those two sets, massif), which an account track\'s slots made '
          'as addresses come make up for (3.1 -> 0.4 MB for 4096 tracks of '
          'accounts failing from one address).  What is left after storm-1m\'s '
          'catch-up and expiry (massif, a detailed snapshot through vgdb: 6.4 MB '
          'of heap before the track change): the tracks (2.0 MB), the messages '
          'held back (1.6 MB), the open incidents (0.7 MB and their text), their '
          'sets (0.6 MB), SQLite (0.5 MB).  At rest what is left is '
          'the heap of the rules, the prepared statements and SQLite\'s schema '
          '(0.8 MB in use, massif) and PCRE2\'s JIT code (0.36 MB): 1900 KiB '
          'since the attribution ring (90 KiB) and the watched relays\' table '
          '(64 KiB), both calloc\'d and touched at start, are made when first '
          'needed; it was 2036..2096 KiB from one run to the next before, on '
          'the target (2072..2076 -> 1900 KiB side by side, 2026-12-07).  Since '
          '2026-12-07 (fifth session) the front end\'s database is literals only '
          '(hs_compile_lit_multi: an Exim syslog part prefix found by the tag\'s '
          '":" and "[" and a digit before it, not by a pattern): Vectorscan\'s '
          'pattern compiler had touched 2 MB more of the library and its heap '
          'at each rules load (at rest VmHWM 14.1 -> 10.3 MB, RssAnon 1900 -> '
          '1780 KiB).  During a catch-up the private memory is larger than after '
          'it: at its peak (massif, the first 200k lines of storm-1m: 11 MB of '
          'heap) a batch\'s chunk (2.4 MB), SQLite (3.0 MB: its 2 MB page cache), '
          'the tracks (1.4 MB), the alerts the batch decided and their copy in '
          'the outbox\'s row (0.65 MB each), the incidents; and glibc\'s free '
          'memory between blocks.  glibc\'s mmap threshold is fixed at 128 KiB '
          'since then (it rose to the largest mapped block freed, and a storm\'s '
          'large blocks then came from the heap): storm-1m\'s peak 14.2..14.5 -> '
          '12.2..12.4 MB, storm-10m\'s 15.3 -> 13.2 MB, in the same time.  Since '
          '2026-12-07 (sixth session) the batch\'s aggregates take what their '
          'table keeps and the batch 1.5 MiB (see catch-up): storm-1m\'s peak '
          '12.4..12.5 -> 11.6..12.0 MB, postfix-1m\'s 8.2 -> 7.9 MB, in the same '
          'time.  Since 2026-12-07 (seventh session) the daemon holds a second '
          'connection, its checkpointer\'s (daemon/ckpt.c): with SQLite\'s '
          'defaults it took 132 KiB at rest (its lookaside, and a block of 20 '
          'pages of cache SQLite allocates at a connection\'s first read); '
          'without its lookaside and with no such block for any connection '
          '(SQLITE_CONFIG_PAGECACHE 0) the daemon at rest holds what it held '
          'before (1764 KiB side by side).  Since 2026-12-08 (eighth session) '
          'SQLite\'s page cache is 1 MiB (see catch-up): storm-1m\'s peak '
          '11.6..12.1 -> 10.6..11.1 MB, storm-10m\'s 12.7 -> 11.6 MB; 500 KiB '
          'took 0.3 MB more off for 4 % more CPU.  Right '
          'after a storm\'s catch-up, before the expiry gives memory back, the '
          'daemon holds about 9 MB (the tracks, the messages held back, the '
          'incidents, the cache and the batch\'s chunk); the peak adds some 2 '
          'MB of a commit\'s alerts, their row and SQLite\'s record of it, '
          'which an outbox row moved instead of copied did not visibly lower '
          '(with no alerts at all the peak was 0.95 MB lower).  The batch and '
          'SQLite\'s cache buy the catch-up\'s speed; with the engine\'s state '
          'they are what stands between that peak and 8 MB.']
    return L


def commands():
    """What was run, to reproduce any figure by hand."""
    L = ['', '## Commands', '',
         'Corpora, in build/bench/ (`GEN` is ../shared/bench/gen-maillog):', '']
    for name, args in CORPORA:
        L.append('- %s: `GEN %s -o %s.log`' % (name, ' '.join(args), name))
    L += ['',
          '- scan: `smtpwatchctl --rules rules scan --no-progress FILE`; the '
          'interpreter: the same with `-f CONF`, CONF holding `pcre-jit no`',
          "- grep: `LC_ALL=C grep -cF 'authentication failed' FILE`, its output "
          'read through a pipe (GNU grep stops at the first match when its output '
          'is /dev/null)',
          '- each under `/usr/bin/time -f %M` for the peak RSS',
          '- catch-up: `smtpwatchd -d -f CONF` with `database DB`, `log FILE`, '
          '`start-at beginning`, `retention 0`, `journal no`, timed from its start '
          'until the checkpoint in DB stands at the end of FILE; the peak RSS is '
          'its VmHWM then',
          '- latency: the same daemon with `start-at end` on an empty log; a '
          'relay-rejected line appended every 5 ms, each for a relay of its own; '
          "each entry's `__REALTIME_TIMESTAMP` minus the time of its append",
          "- peers (unpacked under build/e2e-debs/peers, not installed): "
          "`fail2ban-regex FILE 'postfix[mode=auth]'`, `sshg-parser < FILE`"]
    return L


def write(r, sizes):
    L = []
    L.append('# BENCHMARKS')
    L.append('')
    L.append('Written by `make bench` (tests/bench/bench.py) on %s.' % time.strftime('%Y-%m-%d'))
    L.append('Machine: %s.  %s; %s; SQLite %s.' % (
        machine(), version([CTL, '--version']), version(['gcc', '--version']),
        version(['sqlite3', '--version']).split()[0]))
    L.append('Times are medians of %d runs (3 for 10M lines), min..max beside; the '
             'files are in the page cache.' % RUNS)
    L.append('')
    L.append('## smtpwatchctl scan')
    L.append('')
    L.append('| corpus | lines | MB | scan s (min..max) | lines/s | MB/s | grep -cF s | scan/grep | peak RSS |')
    L.append('|---|---:|---:|---|---:|---:|---:|---:|---:|')
    for name, (lines, size) in sizes.items():
        s, g = r['scan'][name], r['grep'][name]
        L.append('| %s | %d | %.0f | %.3f (%.3f..%.3f) | %s | %.0f | %.3f | %.1f | %.1f MB |' % (
            name, lines, size / 1e6, s[0], s[1], s[2], rate(lines, s[0]), size / 1e6 / s[0],
            g[0], s[0] / g[0], s[3] / 1024))
    if r['interp']:
        s, i = r['scan']['postfix-1m'], r['interp']['postfix-1m']
        L.append('')
        L.append('PCRE2 interpreter (pcre-jit no, as under MemoryDenyWriteExecute=yes) on '
                 'postfix-1m: %.3f s against %.3f s with JIT (%.2f times).  Until '
                 '2026-12-08 (ninth session) smtpwatchctl compiled its rules with JIT '
                 'whatever pcre-jit said, and this figure compared JIT with JIT '
                 '(1.04 times, 2026-12-08\'s first run).' % (i[0], s[0], i[0] / s[0]))
    if r.get('perline'):
        L.append('')
        L.append('Without the front end (SMTPWATCH_FRONT=no: every line parsed and '
                 'matched, as a build without Vectorscan does): ' + '; '.join(
                     '%s %.3f s against %.3f s (%.2f times)' % (
                         n, p[0], r['scan'][n][0], p[0] / r['scan'][n][0])
                     for n, p in r['perline'].items()) + '.')
    if r.get('onethread'):
        L.append('')
        L.append('Counting in the thread that reads (SMTPWATCH_SCAN_THREAD=no; since '
                 '2026-12-08, ninth session, scan counts in a second thread, '
                 'daemon/evq.c): ' + '; '.join(
                     '%s %.3f s against %.3f s (%.2f times)' % (
                         n, p[0], r['scan'][n][0], p[0] / r['scan'][n][0])
                     for n, p in r['onethread'].items()) + '.')
    L.append('')
    L.append('## smtpwatchd catch-up (start-at beginning, into SQLite)')
    L.append('')
    L.append('Median of %d runs for 1M lines (one for 10M), each into a new database.  '
             'Private memory (RssAnon): after the catch-up and the expiry that follows it; '
             'its peak: the largest of its readings every %d ms during the catch-up (a '
             'sample: the kernel keeps no peak of private memory).'
             % (CATCHUP_RUNS, SAMPLE_S * 1000))
    L.append('')
    L.append('| corpus | s (min..max) | lines/s | peak RSS | private (RssAnon) | private, peak | database |')
    L.append('|---|---|---:|---:|---:|---:|---:|')
    after = []
    for name, (lines, size) in sizes.items():
        c = r['catchup'][name]
        dt, lo, hi, hwm, db, ret = c[:6]
        anon = '%.1f MB' % (c[6] / 1024) if len(c) > 6 else '-'
        peak = '%.1f MB' % (c[7] / 1024) if len(c) > 7 else '-'
        L.append('| %s | %.2f (%.2f..%.2f) | %s | %.1f MB | %s | %s | %.1f MB |' % (
            name, dt, lo, hi, rate(lines, dt), hwm / 1024, anon, peak, db / 1e6))
        if ret:
            after.append('%s: %.1f MB, of which %.1f MB in use' % (name, ret[0] / 1e6,
                                                                 ret[1] / 1e6))
    if after:
        L.append('')
        L.append('After retention (the daemon restarted with `retention 1h`, '
                 '`bucket-retention 1h` and `retention-limit 100%` on the storm databases: '
                 'every row quiet for an hour before the last line goes, by the log\'s time): '
                 + '; '.join(after) + '.  The freed pages go back to the file system '
                 '(auto_vacuum = INCREMENTAL).')
    if r.get('catchup_interp'):
        L.append('')
        L.append('With `pcre-jit no`, as the unit runs the daemon (MemoryDenyWriteExecute=yes '
                 'leaves PCRE2 its interpreter; the figures above are with JIT): ' + '; '.join(
                     '%s %.2f s (%.2f..%.2f) against %.2f s, %s lines/s (%.2f times)' % (
                         n, c[0], c[1], c[2], r['catchup'][n][0], rate(sizes[n][0], c[0]),
                         c[0] / r['catchup'][n][0])
                     for n, c in r['catchup_interp'].items()) + '.')
    if r.get('attack'):
        logsize, a = r['attack']
        L.append('')
        L.append('## Attack: random user names over IPv6 (issue 18)')
        L.append('')
        L.append('%d failures (a %.0f MB log), each a random user name from a random '
                 'address of one /64, read at start.' % (ATTACK, logsize / 1e6))
        L.append('')
        L.append('| database-limit | s | largest file at a commit | file at the end | '
                 'accounts folded | folds |')
        L.append('|---|---:|---:|---:|---:|---:|')
        for limit, (dt, big, end, folded, folds) in a.items():
            L.append('| %s | %.1f | %.1f MB | %.1f MB | %d | %d |' % (
                limit if limit != '0' else 'none', dt, big / 1e6, end / 1e6, folded, folds))
    p50, p99, n = r['latency'][:3]
    L.append('')
    L.append('## Append to journal entry')
    L.append('')
    L.append('relay-rejected, %d appends one after the other: p50 %.2f ms, p99 %.2f ms%s.' % (
        n, p50 * 1000, p99 * 1000,
        ', max %.1f ms' % (r['latency'][3] * 1000) if len(r['latency']) > 3 else ''))
    L.append('')
    L.append(' '.join(LATENCY_PROSE))
    if r['peers']:
        L.append('')
        L.append('## Peers on postfix-1m')
        L.append('')
        L.append('Debian packages: fail2ban %s, sshguard %s; one run each.' % (
            pkg_version('fail2ban'), pkg_version('sshguard')))
        L.append('')
        L.append('| tool | s | lines/s |')
        L.append('|---|---:|---:|')
        lines = sizes['postfix-1m'][0]
        for k, v in r['peers'].items():
            L.append('| %s | %.2f | %s |' % (k, v[0], rate(lines, v[0])))
    L += targets(r, sizes)
    L += commands()
    L.append('')
    with open(OUT, 'w') as f:
        f.write('\n'.join(L))
    with open(os.path.join(DIR, 'results.json'), 'w') as f:
        json.dump({'results': {k: v for k, v in r.items()}, 'sizes': sizes}, f, indent=1)


if __name__ == '__main__':
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    if sys.argv[1:] == ['--report']:     # BENCHMARKS.md again from results.json
        with open(os.path.join(DIR, 'results.json')) as f:
            js = json.load(f)
        write(js['results'], {k: tuple(v) for k, v in js['sizes'].items()})
    else:
        main()
