"""harness.py -- run the real smtpwatchd on real files and a real database.

Python 3 standard library only.  The tests beside this file import it:

    with Workdir() as w:
        d = Daemon(w, [w.path('mail.log')], asan=True)
        d.start()                  # waits for READY=1
        append(w.path('mail.log'), pf_fail(b'alice@example.com', '203.0.113.5'))
        d.wait_caught_up()         # every checkpoint at the end of its file
        eq(account_failures(d.db), {b'alice@example.com': 1}, 'accounts')
        d.term()                   # SIGTERM, exit status 0 (ASan: no leak)

How the harness awaits the daemon without sleeping: the daemon is started
with $NOTIFY_SOCKET pointing at a datagram socket bound here, and its
stderr goes through a pipe read by a thread.  Every wait selects on that
socket, that pipe (through a wake-up pipe) and a pidfd of the daemon, and
re-checks its condition (the database, the stderr text, the messages)
each time one of them speaks.  A STATUS= line follows every committed
batch, so a database condition is re-checked after every commit.  Each
wait has a timeout (TIMEOUT seconds, $SMTPWATCH_TEST_TIMEOUT) that only
guards against a hang: it fails the test with what was expected, what was
found and the tail of the daemon's stderr.

Alerts are read back from the systemd journal with Journal(daemon)
(journalctl --follow -o json _PID=..., journald started when its socket
is missing); Journal.sync() is the barrier before checking an absence.

Every process started here is killed by pid when its test ends, fails or
the interpreter exits (a journald started here too); every
temporary directory is removed (kept when $SMTPWATCH_KEEP is set, for a
post mortem).
"""

import atexit
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
SHARED = os.path.normpath(os.path.join(ROOT, '..', 'shared'))
BIN = os.path.join(ROOT, 'build', 'smtpwatchd')
ASAN_BIN = os.path.join(ROOT, 'build', 'asan', 'smtpwatchd')
CTL = os.path.join(ROOT, 'build', 'smtpwatchctl')
RULES = os.path.join(ROOT, 'rules')
TIMEOUT = float(os.environ.get('SMTPWATCH_TEST_TIMEOUT', '30'))
ASAN_OPTIONS = 'detect_leaks=1:abort_on_error=0'
UBSAN_OPTIONS = 'print_stacktrace=1:halt_on_error=1'

_live = set()                   # Daemon objects with a running process
_followers = set()              # Journal objects with a running journalctl


class Failure(AssertionError):
    """A test failed: the message says what differed."""


def fail(msg):
    raise Failure(msg)


def _cleanup():
    for d in list(_live):
        d.kill9(quiet=True)
    for j in list(_followers):
        j.close()
    stop_journald()


atexit.register(_cleanup)


def _on_signal(signum, frame):
    # Ctrl-C or a TERM from make: atexit still stops the daemons.
    raise SystemExit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_s, _on_signal)


# ---------------------------------------------------------------------------
# Comparisons that say what differed
# ---------------------------------------------------------------------------

def show(v, limit=200):
    """A readable, bounded rendering of bytes, strings and containers."""
    if isinstance(v, bytes):
        s = repr(v)
    else:
        s = repr(v)
    return s if len(s) <= limit else s[:limit] + '...(%d chars)' % len(s)


def eq(got, want, what):
    """Asserts got == want; for dicts, lists the keys that differ."""
    if got == want:
        return
    if isinstance(got, dict) and isinstance(want, dict):
        lines = ['%s differ:' % what]
        for k in sorted(set(got) | set(want), key=repr):
            g, w = got.get(k, '<absent>'), want.get(k, '<absent>')
            if g != w:
                lines.append('  %s: got %s, want %s' % (show(k, 120), show(g), show(w)))
        fail('\n'.join(lines[:40]) + ('\n  ...' if len(lines) > 40 else ''))
    fail('%s: got %s, want %s' % (what, show(got, 2000), show(want, 2000)))


def canon_ip(s):
    try:
        return str(ipaddress.ip_address(s))
    except (ValueError, TypeError):
        return s


def fnv64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


# ---------------------------------------------------------------------------
# Temporary directories
# ---------------------------------------------------------------------------

class Workdir:
    """A temporary directory for one test; stops its daemons on exit."""

    def __init__(self, name='t'):
        self.dir = tempfile.mkdtemp(prefix='smtpwatchd-%s.' % name,
                                    dir=os.environ.get('TMPDIR') or '/tmp')
        self.daemons = []
        self.others = []        # more things to close(), e.g. Journal

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        for o in self.others:
            o.close()
        for d in self.daemons:
            d.kill9(quiet=True)
            d.close()
        if os.environ.get('SMTPWATCH_KEEP'):
            print('kept %s' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Log lines (shapes from tests/corpus/postfix.txt and tests/demo.log)
# ---------------------------------------------------------------------------

def _b(s):
    return s if isinstance(s, bytes) else s.encode('utf-8', 'surrogateescape')


def stamp(sec=0, rfc3339=False):
    """A syslog time stamp, sec seconds after Nov 28 04:00:00 (2026)."""
    h, m, s = 4 + sec // 3600, sec // 60 % 60, sec % 60
    if rfc3339:
        return '2026-11-28T%02d:%02d:%02d+00:00' % (h, m, s)
    return 'Nov 28 %02d:%02d:%02d' % (h, m, s)


def pf_fail(user, ip, sec=0, pid=1234, mech='LOGIN', name='unknown',
            reason='UGFzc3dvcmQ6', service='smtpd', host='mx1', rfc3339=False):
    """A Postfix server-side AUTH failure; user None: no sasl_username."""
    line = b'%s %s postfix/%s[%d]: warning: %s[%s]: SASL %s authentication failed: %s' % (
        _b(stamp(sec, rfc3339)), _b(host), _b(service), pid, _b(name), _b(ip), _b(mech), _b(reason))
    if user is not None:
        line += b', sasl_username=' + _b(user)
    return line + b'\n'


def pf_success(user, ip, sec=0, pid=1234, queue='4F1A211E0A1'):
    return b'%s mx1 postfix/submission/smtpd[%d]: %s: client=unknown[%s], sasl_method=PLAIN, sasl_username=%s\n' % (
        _b(stamp(sec)), pid, _b(queue), _b(ip), _b(user))


GMAIL_REPLY = (b'535-5.7.8 Username and Password not accepted. For more information, go to'
               b'\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials '
               b'a1-20020a170906b00ab2f9fd1e3f1sm1234567ejb.12 - gsmtp').replace(b'\n', b' ')


def pf_relay_fail(queue, rcpt, sec=0, pid=3105, cached=False, rfc3339=False,
                  relay='smtp.gmail.com', relay_ip='142.250.102.108'):
    """A Postfix client-side deferral: the relay rejected our credentials."""
    return (b'%s mx1 postfix/smtp[%d]: %s: to=<%s>, relay=%s[%s]:587, delay=0.41, '
            b'delays=0.02/0.01/0.38/0, dsn=4.7.8, status=deferred (SASL %sauthentication failed; '
            b'server %s[%s] said: %s)\n') % (
        _b(stamp(sec, rfc3339)), pid, _b(queue), _b(rcpt), _b(relay), _b(relay_ip),
        b'[CACHED] ' if cached else b'', _b(relay), _b(relay_ip), GMAIL_REPLY)


def noise(n, sec=0):
    """An ordinary line that is no event."""
    return b'%s mx1 postfix/smtpd[%d]: connect from unknown[192.0.2.%d]\n' % (
        _b(stamp(sec)), 5000 + n, n % 250 + 1)


def pf_relay_sent(queue, rcpt, sec=0, pid=3107, relay='smtp.gmail.com',
                  relay_ip='142.250.102.108'):
    """A Postfix delivery through a relay (status=sent): our login worked."""
    return (b'%s mx1 postfix/smtp[%d]: %s: to=<%s>, relay=%s[%s]:587, delay=1.2, '
            b'delays=0.01/0/0.5/0.7, dsn=2.0.0, status=sent (250 2.0.0 OK  1764306600 '
            b'd2-20020a1709063442b00a2f9fd1e3f1sm1234567ejb.12 - gsmtp)\n') % (
        _b(stamp(sec)), pid, _b(queue), _b(rcpt), _b(relay), _b(relay_ip))


def dovecot_fail(user, ip, sec=0, host='mx1', passdb='passwd-file',
                 reason='Password mismatch'):
    """Dovecot's auth line naming the account of an attempt (the
    attribution of a Postfix failure logged without sasl_username)."""
    return b'%s %s dovecot: auth: %s(%s,%s): %s\n' % (
        _b(stamp(sec)), _b(host), _b(passdb), _b(user), _b(ip), _b(reason))


def append(path, data):
    """Appends bytes to path (created when missing), as syslog would."""
    with open(path, 'ab') as f:
        f.write(data)


# ---------------------------------------------------------------------------
# The database, read-only
# ---------------------------------------------------------------------------

BYTES_COLUMNS = ('account', 'last_account')


class DBError(Exception):
    pass


def query(db, sql, args=()):
    """Rows of sql as dicts; account columns as bytes, other text as str."""
    if not os.path.exists(db):
        raise DBError('%s does not exist' % db)
    try:
        con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=5)
    except sqlite3.Error as e:
        raise DBError('%s: %s' % (db, e))
    try:
        con.text_factory = bytes
        cur = con.execute(sql, args)
        cols = [c[0] for c in cur.description]
        out = []
        for r in cur.fetchall():
            row = {}
            for c, v in zip(cols, r):
                if isinstance(v, bytes) and c not in BYTES_COLUMNS:
                    v = v.decode('utf-8', 'surrogateescape')
                elif isinstance(v, str) and c in BYTES_COLUMNS:
                    v = v.encode('utf-8', 'surrogateescape')
                row[c] = v
            out.append(row)
        return out
    except sqlite3.Error as e:
        raise DBError('%s: %s: %s' % (db, sql, e))
    finally:
        con.close()


OUTBOX = 'smtpwatchd:alerts'        # daemon/smtpwatch.h SW_OUTBOX_SOURCE


def checkpoints(db):
    """source -> row: the sources' checkpoints (not the daemon's outbox)."""
    return {r['source']: r for r in query(db, 'SELECT * FROM checkpoints')
            if r['source'] != OUTBOX}


def outbox(db):
    """How many alerts the daemon committed and has not said written:
    the row OUTBOX of table checkpoints keeps them (offset: how many)
    with the batch that decided them, until the commit after they were
    written; 0 when there is none."""
    rows = query(db, 'SELECT offset FROM checkpoints WHERE source = ?', (OUTBOX,))
    return rows[0]['offset'] if rows else 0


def account_rows(db, direction='server'):
    """(host, account bytes) -> row of account_totals."""
    return {(r['host'], r['account']): r for r in query(
        db, 'SELECT * FROM account_totals WHERE direction = ?', (direction,))}


def account_failures(db, direction='server'):
    """account bytes -> failures (all hosts), accounts with failures only."""
    out = {}
    for r in query(db, 'SELECT account, failures FROM account_totals WHERE direction = ?',
                   (direction,)):
        if r['failures']:
            out[r['account']] = out.get(r['account'], 0) + r['failures']
    return out


def address_rows(db):
    return {(r['host'], canon_ip(r['addr'])): r for r in query(db, 'SELECT * FROM address_totals')}


def address_failures(db):
    out = {}
    for r in query(db, 'SELECT addr, failures FROM address_totals'):
        if r['failures']:
            k = canon_ip(r['addr'])
            out[k] = out.get(k, 0) + r['failures']
    return out


def relay_rows(db):
    return {(r['host'], r['relay']): r for r in query(db, 'SELECT * FROM relay_totals')}


def relay_counts(db):
    """relay -> (failures, affected), relays with either only."""
    out = {}
    for r in query(db, 'SELECT relay, failures, affected FROM relay_totals'):
        f, a = out.get(r['relay'], (0, 0))
        f, a = f + (r['failures'] or 0), a + (r['affected'] or 0)
        if f or a:
            out[r['relay']] = (f, a)
    return out


def total_server_failures(db):
    return sum(address_failures(db).values())


def to_epoch(v):
    """A stored time (epoch seconds, or ISO 8601 text) as epoch seconds."""
    if v is None or isinstance(v, (int, float)):
        return v
    import datetime
    s = v.strip().replace(' ', 'T')
    if s.endswith('Z'):
        s = s[:-1] + '+00:00'
    try:
        d = datetime.datetime.fromisoformat(s)
    except ValueError:
        return v
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp())


def epoch(sec):
    """The epoch seconds of stamp(sec) (Nov 28 2026, UTC)."""
    import calendar
    return calendar.timegm((2026, 11, 28, 4, 0, 0)) + sec


# ---------------------------------------------------------------------------
# smtpwatchctl as an oracle
# ---------------------------------------------------------------------------

def ctl_events(path, rules=RULES):
    """The events `smtpwatchctl scan --events --json` finds in path."""
    r = subprocess.run([CTL, '--rules', rules, 'scan', '--events', '--json', path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        fail('%s scan %s: exit %d: %s' % (CTL, path, r.returncode,
                                         r.stderr.decode('utf-8', 'replace')[-2000:]))
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def relay_oracle(events, host=None):
    """From scan events (ctl_events): relay -> [failures, held back,
    affected events], written again here from held.c's definition: a
    client-side event other than a success names a message held back the
    first time its host, relay and queue id come together; a held-back
    line without a queue id counts by itself."""
    out, seen = {}, set()
    for e in events:
        if e.get('direction') != 'client' or (host and e.get('host') != host):
            continue
        k = e.get('kind')
        if k not in ('failure', 'affected', 'trouble'):
            continue
        relay = e.get('relay') or e.get('name') or e.get('addr') or ''
        c = out.setdefault(relay, [0, 0, 0])
        if k == 'failure':
            c[0] += 1
        if k == 'affected':
            c[2] += 1
        q = e.get('queue')
        if not q:
            c[1] += k == 'affected'
        elif (e.get('host'), relay, q) not in seen:
            seen.add((e.get('host'), relay, q))
            c[1] += 1
    return out


# ---------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------

class Daemon:
    """One smtpwatchd configuration, started and stopped as often as needed.

    logs       the log paths, written into the config as given; they are
               the checkpoint sources wait_caught_up() looks at
    extra_conf more directives, one a line
    binary     build/smtpwatchd (default) or, with asan=True, the ASan one
    rules      passed as --rules (None: none, the config's rules apply)
    start_at   'beginning', 'end' or None (the default: no directive)
    wrap       argv prefix, e.g. unshare ... sh -c 'exec "$@"' sh
    """

    def __init__(self, work, logs, extra_conf='', binary=None, asan=False,
                 rules=RULES, start_at='beginning', batch_interval='20ms',
                 database=None, wrap=None, name='smtpwatchd'):
        self.work = work
        self.name = name
        self.logs = list(logs)
        self.binary = binary or (ASAN_BIN if asan else BIN)
        self.asan = self.binary == ASAN_BIN or '/asan/' in self.binary
        self.rules = rules
        self.extra_env = {}     # more environment, e.g. SW_FAULT
        self.db = database or work.path('%s.db' % name)
        self.conf = work.path('%s.conf' % name)
        self.errpath = work.path('%s.stderr' % name)
        self.wrap = list(wrap or [])
        self.start_at = start_at
        self.batch_interval = batch_interval
        self.extra_conf = extra_conf
        self.write_conf()
        self.sockpath = work.path('%s.notify' % name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sockpath)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.msgs = []          # (key, value) from $NOTIFY_SOCKET, in order
        self.err = bytearray()  # all stderr, every run
        self.errlock = threading.Lock()
        self.proc = None
        self.pidfd = None
        self.reader = None
        self.starts = 0
        self.run_err = 0        # offset in self.err where this run began
        work.daemons.append(self)

    # -- configuration ------------------------------------------------------

    def conf_text(self):
        lines = ['# written by tests/daemon/harness.py', 'database %s' % self.db]
        lines += ['log %s' % p for p in self.logs]
        if self.start_at:
            lines.append('start-at %s' % self.start_at)
        if self.batch_interval:
            lines.append('batch-interval %s' % self.batch_interval)
        # The lines' own times decide retention: keep them whatever the
        # date the tests run on.
        lines.append('retention 0')
        # Only the logs of the test: never the machine's journal, unless
        # the test asks for it.
        if not re.search(r'(?m)^journal', self.extra_conf or ''):
            lines.append('journal no')
        if self.extra_conf:
            lines.append(self.extra_conf.rstrip('\n'))
        return '\n'.join(lines) + '\n'

    def write_conf(self, text=None):
        with open(self.conf, 'w') as f:
            f.write(self.conf_text() if text is None else text)

    # -- process ------------------------------------------------------------

    def argv(self):
        a = [self.binary, '-d', '-f', self.conf]
        if self.rules is not None:
            a += ['--rules', self.rules]
        return self.wrap + a

    def start(self, wait=True):
        """Starts the daemon; with wait, until READY=1."""
        if self.proc is not None:
            fail('%s: started twice' % self.name)
        if not os.access(self.binary, os.X_OK):
            fail('%s: not built (make tests)' % self.binary)
        self._drain()
        self.mark = len(self.msgs)
        env = dict(os.environ)
        env.update(self.extra_env)
        env['NOTIFY_SOCKET'] = self.sockpath
        env['ASAN_OPTIONS'] = ASAN_OPTIONS
        env['UBSAN_OPTIONS'] = UBSAN_OPTIONS
        env.setdefault('TZ', 'UTC')
        with self.errlock:
            if self.err and not self.err.endswith(b'\n'):
                self.err += b'\n'          # a kill -9 cut a line short
            self.run_err = len(self.err)
            self.err += b'--- start %d: %s\n' % (self.starts + 1, ' '.join(self.argv()).encode())
        self.started_wall = time.time()     # for Journal: --since
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env, cwd=ROOT, start_new_session=True)
        _live.add(self)
        self.starts += 1
        try:
            self.pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.reader = threading.Thread(target=self._read_stderr, args=(self.proc.stderr,),
                                       daemon=True)
        self.reader.start()
        if wait:
            self.wait_ready()
        return self

    def _read_stderr(self, pipe):
        with open(self.errpath, 'ab') as log:
            while True:
                try:
                    b = os.read(pipe.fileno(), 65536)
                except OSError:
                    b = b''
                if not b:
                    break
                log.write(b)
                log.flush()
                with self.errlock:
                    self.err += b
                try:
                    os.write(self.wake_w, b'x')
                except BlockingIOError:
                    pass
        try:
            os.write(self.wake_w, b'x')
        except BlockingIOError:
            pass

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _reaped(self):
        rc = self.proc.returncode
        if self.reader:
            self.reader.join(10)
        self.proc.stderr.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.proc = None
        _live.discard(self)
        self._drain()
        return rc

    def kill9(self, quiet=False):
        """SIGKILL (a crash, or cleanup); returns when it is reaped."""
        if self.proc is None:
            if not quiet:
                fail('%s: kill9 without a running daemon' % self.name)
            return None
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        return self._reaped()

    def signal(self, sig):
        if not self.running():
            fail('%s: no running daemon to send %s to%s' % (
                self.name, signal.Signals(sig).name, self.exit_note()))
        os.kill(self.proc.pid, sig)

    def stop(self):
        self.signal(signal.SIGSTOP)

    def cont(self):
        self.signal(signal.SIGCONT)

    def wait_exit(self, timeout=None):
        """Waits for the daemon to exit by itself; returns its status."""
        self._wait(lambda: self.proc.poll() is not None, 'the daemon to exit',
                   timeout, allow_exit=True)
        self.proc.wait()
        return self._reaped()

    def term(self, expect=0):
        """SIGTERM; the daemon says STOPPING=1 and exits with expect."""
        mark = len(self.msgs)
        self.signal(signal.SIGTERM)
        rc = self.wait_exit()
        if rc != expect:
            fail('%s: exit status %s after SIGTERM, want %s%s\n%s' % (
                self.name, rc, expect,
                ' (ASan/LeakSanitizer reports exit 23 on a leak)' if self.asan else '',
                self.tail()))
        if ('STOPPING', '1') not in self.msgs[mark:]:
            fail('%s: no STOPPING=1 after SIGTERM; messages: %s' % (self.name, self.msgs[mark:]))
        return rc

    def hup(self):
        """SIGHUP; waits for RELOADING=1 then READY=1.  Returns the offset
        of stderr before the signal, for wait_stderr(since=)."""
        mark = len(self.msgs)
        with self.errlock:
            emark = len(self.err)
        self.signal(signal.SIGHUP)

        def reloaded():
            m = self.msgs[mark:]
            if ('RELOADING', '1') not in m:
                return False
            return ('READY', '1') in m[m.index(('RELOADING', '1')):]
        self._wait(reloaded, 'RELOADING=1 then READY=1 after SIGHUP')
        return emark

    # -- waiting ------------------------------------------------------------

    def _drain(self):
        while True:
            try:
                b = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            for kv in b.decode('utf-8', 'replace').split('\n'):
                if kv:
                    k, _, v = kv.partition('=')
                    self.msgs.append((k, v))
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _wait(self, pred, what, timeout=None, allow_exit=False, detail=None):
        """Waits until pred() is true, woken by the daemon's messages,
        stderr or exit.  detail() says what was found, on a timeout."""
        deadline = time.monotonic() + (timeout or TIMEOUT)
        while True:
            self._drain()
            r = pred()
            if r:
                return r
            if not allow_exit and not self.running():
                fail('%s: the daemon is gone (%s) while waiting for %s%s\n%s' % (
                    self.name, 'not started' if self.proc is None else
                    'exit status %s' % self.proc.returncode, what,
                    '\n' + detail() if detail else '', self.tail()))
            left = deadline - time.monotonic()
            if left <= 0:
                fail('%s: timed out after %gs waiting for %s%s\nlast notify messages: %s\n%s' % (
                    self.name, timeout or TIMEOUT, what, '\n' + detail() if detail else '',
                    self.msgs[-5:], self.tail()))
            fds = [self.sock, self.wake_r]
            if self.pidfd is not None:
                fds.append(self.pidfd)
            # Without a pidfd, look at the process once a second.
            select.select(fds, [], [], left if self.pidfd is not None else min(left, 1.0))

    def wait_until(self, pred, what, timeout=None):
        """Waits until pred() is true, re-checked whenever the daemon
        speaks (a STATUS= follows every commit)."""
        def safe():
            try:
                return pred()
            except DBError:
                return False
        return self._wait(safe, what, timeout)

    def wait_ready(self):
        mark = self.mark

        def ready():
            return ('READY', '1') in self.msgs[mark:]
        self._wait(ready, 'READY=1')

    def wait_msg(self, key, value=None, since=0):
        def seen():
            return any(k == key and (value is None or v == value) for k, v in self.msgs[since:])
        self._wait(seen, '%s=%s' % (key, value or '*'))

    def err_text(self, since=0):
        with self.errlock:
            return self.err[since:].decode('utf-8', 'replace')

    def err_mark(self):
        with self.errlock:
            return len(self.err)

    def wait_stderr(self, regex, since=0, timeout=None):
        """Waits for stderr (from offset since) to match regex."""
        rx = re.compile(regex)
        self._wait(lambda: rx.search(self.err_text(since)), 'stderr matching %r' % regex, timeout)

    def tail(self, n=40):
        lines = self.err_text().splitlines()[-n:]
        return 'stderr of %s (last %d lines, all in %s):\n%s' % (
            self.name, len(lines), self.errpath, '\n'.join('  | ' + l for l in lines))

    def exit_note(self):
        if self.proc is not None and self.proc.poll() is not None:
            return ' (it exited with status %s)' % self.proc.returncode
        return ''

    # -- the database -------------------------------------------------------

    def positions(self, logs=None, partial=None):
        """Where each log stands: ([problems], detail text).  partial:
        log -> length of a last line without its newline, which the
        checkpoint must stand before.  The alerts of what was committed
        are written after the commit, then a second commit empties the
        daemon's outbox (the row OUTBOX of checkpoints, offset: the
        alerts it holds): caught up means that one is empty too."""
        try:
            cps = checkpoints(self.db)
            waiting = outbox(self.db)
        except DBError as e:
            return ['database: %s' % e], str(e)
        bad, detail = [], []
        if waiting:
            bad.append('%d alerts committed, not yet written' % waiting)
        for p in logs or self.logs:
            cp = cps.get(p)
            try:
                st = os.stat(p)
            except FileNotFoundError:
                detail.append('%s: no such file; checkpoint %s' % (p, _cpshow(cp)))
                continue
            detail.append('%s: dev %d ino %d size %d; checkpoint %s' % (
                p, st.st_dev, st.st_ino, st.st_size, _cpshow(cp)))
            if cp is None:
                bad.append('%s: no checkpoint row' % p)
                continue
            if (cp['dev'] or 0) & 0xffffffffffffffff != st.st_dev or \
               (cp['ino'] or 0) & 0xffffffffffffffff != st.st_ino:
                # Rename + create: the old file is read until the new one
                # gets its first line.  Caught up when that is the old one,
                # beside the log, read to its end.
                old = st.st_size == 0 and _beside(p, cp)
                if old and cp['offset'] == old.st_size:
                    detail.append('  (the new file is empty; the old one is read to its end)')
                    continue
                bad.append('%s: checkpoint names another file%s' % (
                    p, ' (%s bytes beside the log)' % old.st_size if old else ''))
                continue
            want = st.st_size - (partial or {}).get(p, 0)
            if cp['offset'] != want:
                bad.append('%s: offset %s, want %d' % (p, cp['offset'], want))
                continue
            fplen = cp.get('fplen') or 0
            if fplen > 0 and cp.get('fphash') is not None:
                with open(p, 'rb') as f:
                    head = f.read(fplen)
                if len(head) < fplen or fnv64(head) != cp['fphash'] & 0xffffffffffffffff:
                    bad.append('%s: the first %d bytes are not those of the checkpoint' % (p, fplen))
        return bad, '\n'.join(detail)

    def caught_up(self, logs=None, partial=None):
        return not self.positions(logs, partial)[0]

    def wait_caught_up(self, logs=None, timeout=None, partial=None):
        """Waits until, for every log (or those given), the checkpoint
        names the file the path leads to and stands at its end (before
        its partial last line, for the logs in partial).  A path that
        does not exist is not waited for."""
        def detail():
            bad, text = self.positions(logs, partial)
            return '\n'.join(bad) + '\n' + text
        self._wait(lambda: self.caught_up(logs, partial),
                   'the checkpoints to reach the end of %s' % ', '.join(logs or self.logs),
                   timeout, detail=detail)

    def wait_offset(self, log, offset, timeout=None):
        """Waits until log's checkpoint names its current file at offset."""
        def there():
            try:
                cp = checkpoints(self.db).get(log)
            except DBError:
                return False
            st = os.stat(log)
            return (cp is not None and cp['ino'] & 0xffffffffffffffff == st.st_ino and
                    cp['offset'] == offset)
        self._wait(there, 'the checkpoint of %s at offset %d' % (log, offset), timeout,
                   detail=lambda: self.positions([log])[1])

    def checkpoint(self, log):
        return checkpoints(self.db).get(log)

    def close(self):
        if self.proc is not None:
            self.kill9(quiet=True)
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.sock.close()


def _beside(path, cp):
    """The stat of the file cp names, in the directory of path (of its
    target, for a symbolic link), or None."""
    d = os.path.dirname(os.path.realpath(path))
    try:
        names = os.listdir(d)
    except OSError:
        return None
    for n in names:
        try:
            st = os.stat(os.path.join(d, n))
        except OSError:
            continue
        if st.st_ino == cp['ino'] & 0xffffffffffffffff and \
           st.st_dev == cp['dev'] & 0xffffffffffffffff:
            return st
    return None


def _cpshow(cp):
    if cp is None:
        return 'none'
    return 'dev %s ino %s offset %s done %s fplen %s held %s' % (
        cp.get('dev'), cp.get('ino'), cp.get('offset'), cp.get('done'), cp.get('fplen'),
        show(cp.get('held'), 60))


def run_daemon(args, timeout=None, env=None):
    """Runs smtpwatchd with args to its end; (status, stdout, stderr)."""
    e = dict(os.environ)
    e['ASAN_OPTIONS'] = ASAN_OPTIONS
    e.update(env or {})
    try:
        r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout or TIMEOUT, env=e, cwd=ROOT)
    except subprocess.TimeoutExpired:
        fail('%s did not finish within %gs' % (' '.join(args), timeout or TIMEOUT))
    return r.returncode, r.stdout.decode('utf-8', 'replace'), r.stderr.decode('utf-8', 'replace')


# ---------------------------------------------------------------------------
# The systemd journal: alerts as journald stores them
# ---------------------------------------------------------------------------

JOURNAL_SOCKET = '/run/systemd/journal/socket'
JOURNALD = '/lib/systemd/systemd-journald'
JOURNALCTL = 'journalctl'
MARK_FIELD = 'SMTPWATCHTEST_MARK'   # the barrier entries of Journal.sync()
MARK_AGAIN = 5.0                    # sync() sends its barrier again so often
REFOLLOW_WAIT = 10.0                # wait() follows again once, for so long


_journald = None                # the journald this process started, if any


def journald_alive():
    """True when something answers on journald's socket: a socket file
    left by a journald that is gone refuses the connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(JOURNAL_SOCKET)
        return True
    except OSError:
        return False
    finally:
        s.close()


def ensure_journald(timeout=None):
    """Starts systemd-journald (its own session, standard descriptors on
    /dev/null) when nothing answers on its socket, and waits until it
    answers.  journald replaces a stale socket file itself.  Returns True
    when it started one, which is stopped by pid when this process exits.
    journald says nothing when ready, so the socket is polled, with a
    deadline."""
    global _journald
    if journald_alive():
        return False
    if not os.access(JOURNALD, os.X_OK):
        fail('nothing answers on %s and there is no %s to start' % (
            JOURNAL_SOCKET, JOURNALD))
    with open(os.devnull, 'r+b') as null:
        p = subprocess.Popen([JOURNALD], stdin=null, stdout=null, stderr=null,
                             start_new_session=True, close_fds=True)
    _journald = p
    deadline = time.monotonic() + (timeout or TIMEOUT)
    while not journald_alive():
        if p.poll() is not None:
            fail('%s exited with status %s before %s answered' % (
                JOURNALD, p.returncode, JOURNAL_SOCKET))
        if time.monotonic() > deadline:
            fail('%s did not answer on %s within %gs' % (JOURNALD, JOURNAL_SOCKET,
                                                        timeout or TIMEOUT))
        time.sleep(0.02)
    return True


def stop_journald():
    """Stops the journald ensure_journald() started (TERM, by pid): it
    flushes and closes its files on the way out."""
    global _journald
    p, _journald = _journald, None
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def journal_send(fields):
    """Writes one entry (a dict of str) to journald's native socket."""
    data = b''.join(b'%s=%s\n' % (_b(k), _b(v)) for k, v in fields.items())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(data, JOURNAL_SOCKET)
    finally:
        s.close()


def jtext(v):
    """A journal field from journalctl -o json as text: journalctl writes
    a value that is not printable UTF-8 as an array of byte values."""
    if isinstance(v, list):
        return bytes(v).decode('utf-8', 'surrogateescape')
    return v


def jshow(e):
    """One entry, short: kind, incident, repeat, count, message."""
    return '%s #%s r%s count=%s total=%s: %s' % (
        e.get('SMTPWATCH_KIND'), e.get('SMTPWATCH_INCIDENT'), e.get('SMTPWATCH_REPEAT'),
        e.get('SMTPWATCH_COUNT'), e.get('SMTPWATCH_TOTAL'), show(e.get('MESSAGE'), 160))


class Journal:
    """The journal entries of one run of a Daemon (by its pid, from just
    before its start), read as `journalctl --follow -o json` prints them.
    A thread reads journalctl's output; wait() re-checks its condition
    each time a line arrives, and sync() is the barrier that makes an
    absence meaningful:

        d.start()
        j = Journal(d)
        append(log, ...)
        d.wait_caught_up()         # every alert for those lines is sent
        got = j.sync()             # ... and now in j.entries
    """

    def __init__(self, daemon):
        if daemon.proc is None:
            fail('%s: Journal() before start()' % daemon.name)
        ensure_journald()
        self.daemon = daemon
        self.pid = daemon.pid
        self.token = uuid.uuid4().hex
        self.seq = 0
        self.entries = []       # the daemon's entries (dicts), in order
        self.marks = set()      # sync() barriers seen
        self.lock = threading.Lock()
        self.errtext = b''
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # pids wrap (pid_max may be 32768): only entries from this run
        since = int(daemon.started_wall) - 1
        self.matches = ['--since=@%d' % since, '_PID=%d' % self.pid, '+',
                        '%s=%s' % (MARK_FIELD, self.token)]
        self.argv = [JOURNALCTL, '--follow', '--all', '--output=json', '--no-pager',
                     '--lines=all'] + self.matches
        self.restarts = 0
        self._follow()
        _followers.add(self)
        daemon.work.others.append(self)

    def _follow(self):
        """Starts journalctl --follow and the threads that read it."""
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self.reader.start()
        self.errreader = threading.Thread(target=self._read_err, args=(self.proc,),
                                          daemon=True)
        self.errreader.start()

    def _refollow(self):
        """A new journalctl --follow that prints every entry again from
        the start: the entries and barriers seen so far are forgotten."""
        self._stop_follower()
        with self.lock:
            self.entries, self.marks = [], set()
        self.restarts += 1
        self._follow()

    def _wake(self):
        for fd in (self.wake_w, self.daemon.wake_w):
            try:
                os.write(fd, b'j')
            except OSError:
                pass

    def _read(self, proc):
        for line in proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if proc is not self.proc:
                    break
                if e.get(MARK_FIELD) == self.token:
                    self.marks.add(int(e.get('SMTPWATCHTEST_SEQ', 0)))
                else:
                    self.entries.append(e)
            self._wake()
        self._wake()

    def _read_err(self, proc):
        for line in proc.stderr:
            self.errtext += line

    def _drain(self):
        try:
            while os.read(self.wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def summary(self, entries=None):
        with self.lock:
            es = list(self.entries if entries is None else entries)
        if not es:
            return 'no entries of pid %d' % self.pid
        return '%d entries of pid %d:\n%s' % (len(es), self.pid,
                                              '\n'.join('  ' + jshow(e) for e in es))

    def wait(self, pred, what, timeout=None, soft=False):
        """Waits until pred() is true (called with the lock held), re-checked
        whenever journalctl prints a line; fails on a timeout, or when the
        daemon dies (unless it was stopped before) or journalctl does.
        soft: a timeout returns None instead."""
        deadline = time.monotonic() + (timeout or TIMEOUT)
        watch_pid = self.daemon.running() and self.daemon.pid == self.pid
        refollowed = False
        while True:
            self._drain()
            with self.lock:
                r = pred()
            if r:
                return r
            if time.monotonic() >= deadline and not soft and not refollowed \
                    and self.restarts < 3:
                # journalctl --follow can miss an entry journald holds
                # (seen in CI: sync() below, and once a relay-rejected
                # entry in alerts-notify): read everything again, once,
                # and give it REFOLLOW_WAIT more seconds.
                sys.stderr.write('harness: no %s from journalctl --follow after '
                                 '%gs: following again\n' % (what, timeout or TIMEOUT))
                self._refollow()
                refollowed = True
                deadline = time.monotonic() + REFOLLOW_WAIT
                continue
            if watch_pid and not self.daemon.running():
                fail('%s died (%s) while waiting for %s in the journal\n%s\n%s' % (
                    self.daemon.name, self.daemon.exit_note() or 'gone', what,
                    self.summary(), self.daemon.tail()))
            if self.proc.poll() is not None and not self.reader.is_alive():
                fail('journalctl exited with status %s while waiting for %s: %s\n%s' % (
                    self.proc.returncode, what, self.errtext.decode('utf-8', 'replace')[-1000:],
                    ' '.join(self.argv)))
            left = deadline - time.monotonic()
            if left <= 0 and soft:
                return None
            if left <= 0:
                fail('timed out after %gs waiting for %s in the journal\n'
                     'journalctl said: %s\n%s\n%s' % (
                         timeout or TIMEOUT, what,
                         self.errtext.decode('utf-8', 'replace')[-500:] or 'nothing',
                         self.summary(), self.daemon.tail()))
            fds = [self.wake_r]
            if watch_pid and self.daemon.pidfd is not None:
                fds.append(self.daemon.pidfd)
            select.select(fds, [], [], min(left, 1.0) if watch_pid and
                          self.daemon.pidfd is None else left)

    def sync(self, timeout=None):
        """The barrier: returns the entries, every one the daemon sent
        before this call among them.  journald handles the datagrams of
        its socket in order, so a marker entry sent now is stored after
        them; journalctl prints in that order."""
        self.seq += 1
        n = self.seq
        what = 'the barrier entry %d' % n
        deadline = time.monotonic() + (timeout or TIMEOUT)
        while True:
            self._mark(n)
            left = deadline - time.monotonic()
            if self.wait(lambda: n in self.marks, what, min(left, MARK_AGAIN), soft=True):
                return self.all()
            if self._stored(n) and self.restarts < 3:
                # journald has it and journalctl --follow did not print
                # it (seen once in CI): read everything again.
                sys.stderr.write('harness: journalctl --follow missed %s, which the '
                                 'journal holds: following again\n' % what)
                self._refollow()
                self.wait(lambda: n in self.marks, what, max(deadline - time.monotonic(), 1))
                return self.all()
            if left <= MARK_AGAIN:
                fail('%s is %s the journal after %gs (sent every %gs); journald %s\n%s' % (
                    what, 'in' if self._stored(n) else 'not in', timeout or TIMEOUT,
                    MARK_AGAIN, 'answers' if journald_alive() else 'does not answer',
                    self.summary()))

    def _mark(self, n):
        """Sends barrier n, again if need be: journald stores each
        datagram after those received before it, so any copy of barrier n
        follows every entry the daemon sent before sync()."""
        journal_send({'MESSAGE': 'smtpwatch test barrier %d' % n, 'PRIORITY': '7',
                      'SYSLOG_IDENTIFIER': 'smtpwatch-test', MARK_FIELD: self.token,
                      'SMTPWATCHTEST_SEQ': str(n)})

    def _stored(self, n):
        """Whether barrier n is in the journal, by a journalctl that
        does not follow."""
        r = subprocess.run([JOURNALCTL, '--all', '--output=cat', '--no-pager',
                            '%s=%s' % (MARK_FIELD, self.token), 'SMTPWATCHTEST_SEQ=%d' % n],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=TIMEOUT)
        return bool(r.stdout.strip())

    def all(self, kind=None, **fields):
        """The entries (of a kind, with these SMTPWATCH_ fields: incident=3
        means SMTPWATCH_INCIDENT=3), as they stand."""
        with self.lock:
            es = list(self.entries)
        if kind is not None:
            es = [e for e in es if e.get('SMTPWATCH_KIND') == kind]
        for k, v in fields.items():
            es = [e for e in es if e.get('SMTPWATCH_' + k.upper()) == str(v)]
        return es

    def wait_kind(self, kind, n=1, timeout=None, **fields):
        """Waits for at least n entries of kind (and fields); returns them."""
        def enough():
            es = [e for e in self.entries if e.get('SMTPWATCH_KIND') == kind and
                  all(e.get('SMTPWATCH_' + k.upper()) == str(v) for k, v in fields.items())]
            return es if len(es) >= n else None
        return self.wait(enough, '%d %s entr%s%s' % (
            n, kind, 'y' if n == 1 else 'ies',
            ' with ' + ', '.join('%s=%s' % kv for kv in fields.items()) if fields else ''),
            timeout)

    def _stop_follower(self):
        proc, self.proc = self.proc, None
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        proc.wait()
        self.reader.join(5)
        self.errreader.join(5)
        proc.stdout.close()
        proc.stderr.close()

    def close(self):
        if self.proc is not None:
            self._stop_follower()
            _followers.discard(self)
            for fd in (self.wake_r, self.wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass


def _vis_shown(cp):
    """A code point str_vis shows as it is (not C1, bidi or a separator)."""
    return not (0x80 <= cp <= 0x9f or cp in (0x61c, 0x200e, 0x200f) or
                0x2028 <= cp <= 0x202e or 0x2066 <= cp <= 0x2069)


def vis(data, ascii=False):
    """What smtpwatch shows of attacker-typed bytes (util.c str_vis),
    written again here from its definition: well-formed UTF-8 as it is
    (unless ascii, a terminal that is not UTF-8), \\\\ for a backslash,
    \\xNN for every other byte: control, DEL, C1 and bidi controls, bytes
    that are not UTF-8."""
    b, out, i = _b(data), [], 0
    while i < len(b):
        c = b[i]
        if c == 0x5c:
            out.append('\\\\')
            i += 1
            continue
        if 0x20 <= c < 0x7f:
            out.append(chr(c))
            i += 1
            continue
        if not ascii and c >= 0xc2:
            n = 2 if c < 0xe0 else 3 if c < 0xf0 else 4
            try:
                ch = b[i:i + n].decode('utf-8')
            except UnicodeDecodeError:
                ch = None
            if ch is not None and len(ch) == 1 and _vis_shown(ord(ch)):
                out.append(ch)
                i += n
                continue
        out.append('\\x%02x' % c)
        i += 1
    return ''.join(out)


def rules_diagnoses(rules=RULES):
    """Every [diagnosis ID] of the rules directory, read as rules.c reads
    it: id -> {key: value} (continuation lines joined with one blank),
    'fix' and 'dead-end' as lists of (percent, text)."""
    out = {}
    for name in sorted(os.listdir(rules)):
        if not name.endswith('.rules'):
            continue
        cur = None
        last = None
        with open(os.path.join(rules, name), encoding='utf-8') as f:
            for raw in f:
                line = raw.rstrip()
                s = line.lstrip(' \t')
                if not s or s.startswith('#'):
                    continue
                if s != line:                       # continuation
                    if cur is not None and last is not None:
                        if isinstance(cur[last], list):
                            p, t = cur[last][-1]
                            cur[last][-1] = (p, t + ' ' + s)
                        else:
                            cur[last] += ' ' + s
                    continue
                m = re.match(r'\[(\w+)\s+(\S+)\]', s)
                if m:
                    cur = {'id': m.group(2), 'fix': [], 'dead-end': []} \
                        if m.group(1) == 'diagnosis' else None
                    if cur is not None:
                        out[cur['id']] = cur
                    last = None
                    continue
                m = re.match(r'([a-z-]+)\s*=\s*(.*)', s)
                if cur is None or not m:
                    continue
                last = m.group(1)
                if last in ('fix', 'dead-end'):
                    pm = re.match(r'(\d+)%\s*(.*)', m.group(2))
                    cur[last].append((int(pm.group(1)), pm.group(2)))
                else:
                    cur[last] = m.group(2)
    return out


# ---------------------------------------------------------------------------
# A small runner: python3 FILE [TEST|GROUP ...]
# ---------------------------------------------------------------------------

def registry():
    """(TESTS, GROUPS, test) for a file whose groups are one test each:
    @test('name') registers the function as the test and group name."""
    tests, groups = {}, {}

    def test(group):
        def reg(fn):
            tests[group] = fn
            groups.setdefault(group, []).append(group)
            return fn
        return reg
    return tests, groups, test


def run_tests_netns(path, tests, groups, argv, before=None):
    """run_tests() in a network namespace of its own (`unshare --net`:
    only lo, nothing leaves the machine): as root, before() first, out
    here (fetching packages needs the network), then the file at path
    again, inside, with --inside."""
    if '--inside' in argv:
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        return run_tests(tests, groups, [a for a in argv if a != '--inside'])
    if os.geteuid() != 0:
        print('%s: must run as root (a network namespace)' % os.path.basename(path),
              file=sys.stderr)
        return 1
    if before is not None:
        before()
    return subprocess.run(['unshare', '--net', '--fork', sys.executable,
                           os.path.abspath(path), '--inside'] + argv).returncode


def run_tests(tests, groups, argv):
    """tests: name -> function(Workdir); groups: name -> [test names].
    Runs the named tests (or groups), each in its own Workdir; prints ok or
    FAIL with the reason; returns the exit status."""
    names = []
    for a in argv or list(tests):
        if a in groups:
            names += groups[a]
        elif a in tests:
            names.append(a)
        else:
            print('unknown test or group %r; tests: %s; groups: %s' % (
                a, ' '.join(tests), ' '.join(groups)), file=sys.stderr)
            return 2
    failed = []
    for n in names:
        t0 = time.monotonic()
        w = Workdir(n)
        try:
            tests[n](w)
        except Exception as e:
            failed.append(n)
            if isinstance(e, Failure):
                text = 'FAIL  %s\n%s' % (n, str(e))
            else:
                import traceback
                text = 'FAIL  %s (error)\n%s' % (n, traceback.format_exc())
            if 'stderr of ' not in text:
                for d in w.daemons:
                    text += '\n' + d.tail(15)
            print('\n      '.join(text.splitlines()))
        else:
            print('ok    %s (%.1fs)' % (n, time.monotonic() - t0))
        finally:
            w.close()
        sys.stdout.flush()
    print('%d passed, %d failed%s' % (len(names) - len(failed), len(failed),
                                      ': ' + ' '.join(failed) if failed else ''))
    return 1 if failed else 0
