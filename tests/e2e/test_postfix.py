"""test_postfix.py -- smtpwatchd against a real Postfix 3.7 with Dovecot 2.3
SASL, real SMTP clients (swaks), and a relay that refuses our credentials.

    python3 tests/e2e/test_postfix.py        (as root; `make tests` first)

Nothing is installed on the host: Debian's postfix and dovecot-core are
fetched with `apt-get download` into build/e2e-debs/ (once; `apt-get
update` first if apt has no lists) and unpacked there with `dpkg -x`;
contrib/deps installs only the libraries they link.  A host running
Exim, or its own Postfix, keeps it as it is.

Run as root, it makes sure journald answers (harness.ensure_journald),
then runs itself again inside `unshare --net --mount --uts --fork`: a
network namespace where only lo exists (127.0.0.1/8 plus 127.0.0.2..9),
so no packet of Postfix, Dovecot, swaks or the responder leaves the
machine, and a private mount namespace where the unpacked packages are
laid over /usr, /etc and /var with overlay file systems (their upper
layers in a tmpfs: what Postfix writes goes there), the users postfix,
dovecot and dovenull and the group postdrop are added to those layers'
/etc/passwd and /etc/group, and /etc/hosts names smtp.gmail.com
127.0.0.2, /etc/resolv.conf is empty (no DNS).  The host name there is
mx1.  Dovecot's base_dir and state_dir live in the test's temporary
directory.  When the namespace process ends its mounts are gone;
everything it started is stopped by pid before that.

Inside: Postfix (no chroot, no TLS, no error sleeps or rate limits)
with smtpd_sasl_type = dovecot, writing maillog_file through postlogd;
Dovecot with a passwd-file of test users and auth_verbose, logging into
the same file with a time stamp format that makes its lines syslog-
shaped ("Nov 28 04:35:02 mx1 dovecot: auth: ..."), as they are in a
Debian /var/log/mail.log; responder.py on 127.0.0.2:587 playing Gmail;
and build/smtpwatchd following the file, with a temporary database.
swaks drives the AUTH attempts; the database, the journal and
`smtpwatchctl status` must tell exactly what the test did.
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (CTL, ROOT, RULES, TIMEOUT, Daemon, Failure, Journal, Workdir,  # noqa: E402
                     account_failures, address_failures, ensure_journald, eq, fail,
                     jtext, query, relay_counts, relay_rows)
from test_alerts import GMAIL_DIAG, diag_fields  # noqa: E402

RESPONDER = os.path.join(HERE, 'responder.py')
GMAIL_IP = '127.0.0.2'
RELAY_ACCOUNT = 'alerts@example.com'
RELAY_GOOD = 'app-password-16ch'
USERS = {'alice@lab.example': 'alice-pw', 'bob@lab.example': 'bob-pw',
         'carol@lab.example': 'carol-pw'}
DEBS = os.path.join(ROOT, 'build', 'e2e-debs')
MTA_PACKAGES = ('postfix', 'dovecot-core')
# Laid over the host's directories in the namespace, the package's first.
LAYERS = ('usr', 'etc', 'var')
# Users and groups the packages' maintainer scripts would have made.
USERS_ADDED = (('postfix', '/var/spool/postfix'), ('dovecot', '/usr/lib/dovecot'),
               ('dovenull', '/nonexistent'))


def fetch_debs(name, packages):
    """build/e2e-debs/NAME: the packages downloaded and unpacked once
    (outside the namespace: apt needs the network); a file there lists
    them, so that another list unpacks again."""
    tree = os.path.join(DEBS, name)
    stamp = os.path.join(tree, '.smtpwatch-packages')
    want = ' '.join(packages) + '\n'
    if read(stamp) == want:
        return tree
    os.makedirs(DEBS, exist_ok=True)
    for p in packages:
        for d in glob.glob(os.path.join(DEBS, p + '_*.deb')):
            os.unlink(d)
    get = ['apt-get', 'download', '-q', '-o', 'APT::Sandbox::User=root'] + list(packages)
    if subprocess.run(get, cwd=DEBS).returncode != 0:
        subprocess.run(['apt-get', 'update', '-qq'], check=True)
        subprocess.run(get, cwd=DEBS, check=True)
    shutil.rmtree(tree, ignore_errors=True)
    for p in packages:
        deb = glob.glob(os.path.join(DEBS, p + '_*.deb'))
        if len(deb) != 1:
            raise SystemExit('%s: apt-get download left %s' % (sys.argv[0], deb))
        subprocess.run(['dpkg', '-x', deb[0], tree], check=True)
    for d in LAYERS:
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    with open(stamp, 'w') as f:
        f.write(want)
    return tree


def free_id(start=990):
    """An id below start that no line of /etc/passwd or /etc/group uses."""
    used = set()
    for f in ('/etc/passwd', '/etc/group'):
        with open(f) as fp:
            used |= {int(l.split(':')[2]) for l in fp if l.count(':') >= 3}
    i = start
    while i in used:
        i -= 1
    return i


def add_user(name, home, group=None):
    """Appends a system user (and its group) to /etc/passwd and
    /etc/group: in the namespace, where /etc is an overlay."""
    uid = free_id()
    with open('/etc/group', 'a') as f:
        f.write('%s:x:%d:\n' % (group or name, uid))
    if group is None:
        with open('/etc/passwd', 'a') as f:
            f.write('%s:x:%d:%d::%s:/usr/sbin/nologin\n' % (name, uid, uid, home))
    return uid


def run(argv, ok=(0,), **kw):
    """Runs argv to its end; fails unless its status is in ok."""
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=TIMEOUT, **kw)
    out = r.stdout.decode('utf-8', 'replace')
    if r.returncode not in ok:
        fail('%s: exit %d:\n%s' % (' '.join(argv), r.returncode, out[-3000:]))
    return out


DAEMONS = []                    # their notify sockets are drained by poll()


def poll(pred, what, timeout=None, detail=None):
    """Polls pred() every 50 ms until it is true; fails after a deadline."""
    deadline = time.monotonic() + (timeout or TIMEOUT)
    while True:
        for d in DAEMONS:
            d._drain()
        r = pred()
        if r:
            return r
        if time.monotonic() > deadline:
            fail('timed out after %gs waiting for %s%s' % (
                timeout or TIMEOUT, what, '\n' + detail() if detail else ''))
        time.sleep(0.05)


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return ''


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours counts as gone.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def stop_pid(pid, what):
    """SIGTERM, then waits (with a deadline) until pid is gone; SIGKILL
    when it does not go."""
    if pid is None or not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + TIMEOUT
    while pid_alive(pid):
        if time.monotonic() > deadline:
            print('%s (pid %d) ignored SIGTERM: SIGKILL' % (what, pid))
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------------------
# The namespace and the mail servers
# ---------------------------------------------------------------------------

class Lab:
    """Postfix, Dovecot and the responder in this (private) namespace."""

    def __init__(self, w, tree=None):
        self.w = w
        self.tree = tree
        self.log = w.path('mail.log')
        self.users = w.path('users')
        self.procs = []         # Popen objects we started, stopped by pid
        self.postfix_pid = None
        self.dovecot = None
        self.responder = None

    def loopback(self):
        """The namespace's part common to every mail server: private
        mounts, lo with 127.0.0.2..9, host name mx1, smtp.gmail.com in
        /etc/hosts, no DNS."""
        run(['mount', '--make-rprivate', '/'])
        run(['ip', 'link', 'set', 'lo', 'up'])
        for i in range(2, 10):
            run(['ip', 'addr', 'add', '127.0.0.%d/8' % i, 'dev', 'lo'])
        run(['hostname', 'mx1'])
        # The temporary directory is 0700; the mail servers' users must
        # reach the files in it.
        os.chmod(self.w.dir, 0o755)
        self.file('hosts', '127.0.0.1 localhost\n127.0.1.1 mx1.lab.example mx1\n'
                  '%s smtp.gmail.com\n' % GMAIL_IP)
        self.file('resolv.conf', '')
        run(['mount', '--bind', self.w.path('hosts'), '/etc/hosts'])
        run(['mount', '--bind', self.w.path('resolv.conf'), '/etc/resolv.conf'])

    def overlay(self):
        """The unpacked packages over /usr, /etc and /var, writes going
        to a tmpfs: in this mount namespace only."""
        run(['mount', '--make-rprivate', '/'])
        top = self.w.path('layers')
        os.mkdir(top)
        run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'smtpwatch-e2e', top])
        for d in LAYERS:
            up, work = os.path.join(top, d), os.path.join(top, d + '.work')
            os.mkdir(up)
            os.mkdir(work)
            run(['mount', '-t', 'overlay', 'smtpwatch-e2e', '-o',
                 'lowerdir=%s:/%s,upperdir=%s,workdir=%s' % (
                     os.path.join(self.tree, d), d, up, work), '/' + d])

    def namespace(self):
        """What the packages' maintainer scripts would have done, in the
        overlays: users, master.cf, the queue and data directories."""
        self.overlay()
        self.loopback()
        add_user('postdrop', None, group='postdrop')
        for name, home in USERS_ADDED:
            add_user(name, home)
        shutil.copy('/usr/share/postfix/master.cf.dist', '/etc/postfix/master.cf')
        shutil.copy('/usr/share/postfix/dynamicmaps.cf', '/etc/postfix/dynamicmaps.cf')
        for d in ('/var/spool/postfix', '/var/lib/postfix'):
            os.makedirs(d, exist_ok=True)
        run(['chown', 'postfix:postfix', '/var/lib/postfix'])
        with open('/etc/mailname', 'w') as f:
            f.write('mx1.lab.example\n')

    def file(self, name, text, mode=0o644):
        p = self.w.path(name)
        with open(p, 'w') as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def postfix_conf(self):
        main = {
            'compatibility_level': '3.6',
            'myhostname': 'mx1.lab.example', 'mydomain': 'lab.example',
            'myorigin': 'lab.example', 'mydestination': '',
            'inet_interfaces': '127.0.0.1', 'inet_protocols': 'ipv4',
            'mynetworks': '127.0.0.1/32',
            'alias_maps': '', 'alias_database': '', 'local_recipient_maps': '',
            'biff': 'no', 'readme_directory': 'no',
            'maillog_file': self.log, 'maillog_file_prefixes': self.w.dir,
            # The server: Dovecot SASL, no TLS, nothing that slows a burst.
            'smtpd_sasl_auth_enable': 'yes', 'smtpd_sasl_type': 'dovecot',
            'smtpd_sasl_path': 'private/auth',
            'smtpd_sasl_security_options': 'noanonymous',
            'smtpd_tls_security_level': 'none',
            'smtpd_relay_restrictions': 'permit_sasl_authenticated, reject_unauth_destination',
            'smtpd_error_sleep_time': '0', 'smtpd_soft_error_limit': '1000',
            'smtpd_hard_error_limit': '1000', 'smtpd_client_auth_rate_limit': '0',
            'smtpd_client_connection_rate_limit': '0', 'smtpd_client_message_rate_limit': '0',
            # The client: Gmail as the smarthost, found in /etc/hosts.
            'relayhost': '[smtp.gmail.com]:587',
            'smtp_host_lookup': 'native', 'smtp_dns_support_level': 'disabled',
            'smtp_sasl_auth_enable': 'yes',
            'smtp_sasl_password_maps': 'texthash:/etc/postfix/sasl_passwd',
            'smtp_sasl_security_options': 'noanonymous',
            'smtp_tls_security_level': 'none',
            # Mail of the successful logins goes nowhere.
            'transport_maps': 'texthash:/etc/postfix/transport',
        }
        with open('/etc/postfix/main.cf', 'w') as f:
            f.write('# written by tests/e2e/test_postfix.py\n')
            for k, v in main.items():
                f.write('%s = %s\n' % (k, v))
        with open('/etc/postfix/transport', 'w') as f:
            f.write('sink.lab.example discard:\n')
        self.relay_password('wrong-password')
        run(['postconf', '-F', '*/*/chroot = n'])

    def relay_password(self, password):
        with open('/etc/postfix/sasl_passwd', 'w') as f:
            f.write('[smtp.gmail.com]:587 %s:%s\n' % (RELAY_ACCOUNT, password))
        os.chmod('/etc/postfix/sasl_passwd', 0o600)

    def dovecot_conf(self):
        run(['install', '-d', '-m', '0755', self.w.path('dovecot-run'), self.w.path('dovecot-state')])
        self.file('users', ''.join('%s:{PLAIN}%s::::::\n' % kv for kv in USERS.items()))
        # log_timestamp is a strftime format: the syslog host and tag are
        # literal text in it, so the lines look like rsyslog's.
        conf = '''# written by tests/e2e/test_postfix.py
protocols = none
base_dir = %(w)s/dovecot-run
state_dir = %(w)s/dovecot-state
log_path = %(log)s
log_timestamp = "%%b %%e %%H:%%M:%%S mx1 dovecot: "
auth_verbose = yes
auth_failure_delay = 0
auth_mechanisms = plain login
disable_plaintext_auth = no
ssl = no
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(users)s
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=/nonexistent
}
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
''' % {'w': self.w.dir, 'log': self.log, 'users': self.users}
        with open('/etc/dovecot/dovecot.conf', 'w') as f:
            f.write(conf)

    def start(self):
        open(self.log, 'ab').close()
        self.postfix_conf()
        self.dovecot_conf()
        run(['postfix', 'check'])
        run(['postfix', 'start'])
        self.postfix_pid = poll(lambda: pidfile('/var/spool/postfix/pid/master.pid'),
                                'the Postfix master pid file')
        self.dovecot = subprocess.Popen(['dovecot', '-F', '-c', '/etc/dovecot/dovecot.conf'],
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(self.dovecot)
        poll(lambda: os.path.exists('/var/spool/postfix/private/auth') or
             self.dovecot.poll() is not None, 'Dovecot\'s auth socket')
        if self.dovecot.poll() is not None:
            fail('dovecot exited with status %d\n%s' % (self.dovecot.returncode,
                                                        read(self.log)[-2000:]))
        self.start_responder()

    def start_responder(self):
        """responder.py on smtp.gmail.com:587, until it listens."""
        ready = self.w.path('responder.ready')
        self.responder_out = self.w.path('responder.out')
        with open(self.responder_out, 'wb') as out:
            self.responder = subprocess.Popen(
                [sys.executable, RESPONDER, GMAIL_IP, '587', RELAY_ACCOUNT, RELAY_GOOD, ready],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.procs.append(self.responder)
        poll(lambda: os.path.exists(ready) or self.responder.poll() is not None,
             'the responder to listen')
        if self.responder.poll() is not None:
            fail('responder.py exited: %s' % read(self.responder_out))

    def stop(self):
        """Postfix's master (its children follow it), then what we
        started (Dovecot, the responder, Exim): each by its pid."""
        stop_pid(self.postfix_pid, 'postfix master')
        for p in reversed(self.procs):
            if p.poll() is None:
                stop_pid(p.pid, p.args[0])
            p.wait()

    def swaks(self, user, password, addr, mech='PLAIN', to=None):
        """One SMTP session from addr: AUTH as user; with to, a message.
        Returns swaks's transcript."""
        argv = ['swaks', '--server', '127.0.0.1', '--port', '25', '--local-interface', addr,
                '--ehlo', 'client.lab.example', '--auth', mech, '--auth-user', user,
                '--auth-password', password, '--timeout', '%d' % TIMEOUT]
        if to:
            argv += ['--from', user, '--to', to]
            ok = (0,)
        else:
            argv += ['--quit-after', 'AUTH']
            ok = (28,)          # swaks: authentication failed
        return run(argv, ok=ok)

    def lines(self, needle):
        return [l for l in read(self.log).splitlines() if needle in l]


# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------

def start_daemon(w, lab):
    d = Daemon(w, [lab.log], asan=False, batch_interval=None,
               extra_conf='control %s\nrelay smtp.gmail.com as %s' % (
                   w.path('control.sock'), RELAY_ACCOUNT))
    d.start()
    DAEMONS.append(d)
    return d, Journal(d)


def scenario_server(lab, failed_line='authentication failed',
                    login_line='sasl_method=LOGIN, sasl_username=alice@lab.example'):
    """The AUTH attempts; returns the failures expected per account and
    per address, once the server logged failed_line for each failure and
    login_line for the login."""
    want_acc, want_addr = {}, {}

    def failed(user, addr):
        want_acc[user.encode()] = want_acc.get(user.encode(), 0) + 1
        want_addr[addr] = want_addr.get(addr, 0) + 1

    # Wrong password for an existing user, then an unknown user: PLAIN and LOGIN.
    for mech in ('PLAIN', 'LOGIN'):
        lab.swaks('alice@lab.example', 'not-alice-pw', '127.0.0.3', mech)
        failed('alice@lab.example', '127.0.0.3')
        lab.swaks('nosuchuser@lab.example', 'whatever', '127.0.0.4', mech)
        failed('nosuchuser@lab.example', '127.0.0.4')
    # A correct login, with a message (to the discard transport).
    lab.swaks('alice@lab.example', USERS['alice@lab.example'], '127.0.0.3', 'LOGIN',
              to='someone@sink.lab.example')
    # A burst from one address: more than account-threshold (5).
    for i in range(7):
        lab.swaks('carol@lab.example', 'old-carol-pw', '127.0.0.5', 'PLAIN')
        failed('carol@lab.example', '127.0.0.5')
    # The same account from several addresses.
    for a in ('127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'):
        lab.swaks('bob@lab.example', 'not-bob-pw', a, 'LOGIN')
        failed('bob@lab.example', a)
    n = sum(want_addr.values())
    poll(lambda: len(lab.lines(failed_line)) >= n,
         '%d AUTH failure lines' % n, detail=lambda: read(lab.log)[-3000:])
    poll(lambda: lab.lines(login_line), 'the successful login line',
         detail=lambda: read(lab.log)[-3000:])
    return want_acc, want_addr


def scenario_relay(lab, d, j):
    """A message through smtp.gmail.com: refused, then after the fix, sent."""
    msg = b'From: alerts@example.com\nTo: ops@partner.example\nSubject: e2e\n\nhello\n'
    subprocess.run(['sendmail', '-f', RELAY_ACCOUNT, 'ops@partner.example'], input=msg,
                   check=True, timeout=TIMEOUT)
    poll(lambda: lab.lines('status=deferred (SASL authentication failed'),
         'the deferral by smtp.gmail.com', detail=lambda: read(lab.log)[-3000:])
    e = j.wait_kind('relay-rejected')[0]
    d.wait_caught_up()
    # One message, deferred: one failure, one message held back.
    eq(relay_counts(d.db), {'smtp.gmail.com': (1, 1)},
       'relay (failures, messages held back) after the deferral')
    lab.relay_password(RELAY_GOOD)
    run(['postfix', 'reload'])
    run(['postqueue', '-f'])
    poll(lambda: lab.lines('relay=smtp.gmail.com[%s]:587' % GMAIL_IP) and
         [l for l in lab.lines('status=sent') if 'smtp.gmail.com' in l],
         'the delivery through smtp.gmail.com', detail=lambda: read(lab.log)[-3000:])
    r = j.wait_kind('relay-recovered')[0]
    return e, r


def e2e_postfix(w, tree):
    lab = Lab(w, tree)
    lab.namespace()
    d = None
    try:
        lab.start()
        d, j = start_daemon(w, lab)
        want_acc, want_addr = scenario_server(lab)
        e, r = scenario_relay(lab, d, j)
        d.wait_caught_up()
        j.sync()
        print('--- the mail log the daemon read:\n' + read(lab.log))
        check_counts(d, want_acc, want_addr)
        check_alerts(j, e, r)
        check_status(w, d)
        d.term()
    finally:
        if d is not None and d.running():
            d.kill9(quiet=True)
        lab.stop()


def check_counts(d, want_acc, want_addr):
    eq(account_failures(d.db), want_acc, 'failures per account')
    eq(address_failures(d.db), want_addr, 'failures per address')
    eq({k: (r['failures'], r['affected'], r['successes'], r['state'], r['last_diagnosis'])
        for k, r in relay_rows(d.db).items()},
       {('mx1', 'smtp.gmail.com'): (1, 1, 1, 'ok', GMAIL_DIAG)},
       'relay (failures, held back, successes, state, diagnosis) after the fix')
    ok = query(d.db, "SELECT account, successes FROM account_totals "
                     "WHERE direction = 'server' AND successes > 0")
    eq({r['account']: r['successes'] for r in ok}, {b'alice@lab.example': 1},
       'successful logins per account')


def check_alerts(j, e, r):
    want = diag_fields(GMAIL_DIAG)
    got = {k: jtext(e.get(k)) for k in want}
    eq(got, want, 'the diagnosis fields of relay-rejected')
    eq((jtext(e.get('SMTPWATCH_RELAY')), jtext(e.get('SMTPWATCH_ACCOUNT')),
        jtext(e.get('SMTPWATCH_ADDR'))), ('smtp.gmail.com', RELAY_ACCOUNT, GMAIL_IP),
       'relay-rejected relay, account, address')
    eq(jtext(r.get('SMTPWATCH_INCIDENT')), jtext(e.get('SMTPWATCH_INCIDENT')),
       'relay-recovered closes the relay-rejected incident')
    af = j.all('account-failing')
    eq(sorted(jtext(x.get('SMTPWATCH_ACCOUNT')) for x in af), ['carol@lab.example'],
       'account-failing entries (accounts)')
    print('journal:\n' + j.summary())


def check_status(w, d):
    """smtpwatchctl status from the running daemon: exit 1 (an incident
    is open: carol's), the incident, the accounts and the relay."""
    conf = d.conf
    text = run([CTL, '--rules', RULES, '-f', conf, 'status'], ok=(1,))
    print('--- smtpwatchctl status:\n' + text)
    for s in ('is running, pid %d' % d.pid, '#1 account carol@lab.example on mx1',
              'server/brute-force', 'carol@lab.example              7',
              'bob@lab.example                4', '127.0.0.5         7'):
        if s not in text:
            fail('smtpwatchctl status does not say %r:\n%s' % (s, text))
    if not re.search(r'mx1 +smtp\.gmail\.com +ok +1 +1 ', text):
        fail('smtpwatchctl status: no relay line "smtp.gmail.com ok 1 1" (failures, '
             'held back):\n%s' % text)
    out = run([CTL, '--rules', RULES, '-f', conf, 'status', '--json'], ok=(1,))
    js = json.loads(out)
    print('--- smtpwatchctl status --json:\n' + json.dumps(js, indent=1)[:3000])
    flat = json.dumps(js)
    for s in ('carol@lab.example', 'smtp.gmail.com', 'server/brute-force'):
        if s not in flat:
            fail('smtpwatchctl status --json does not mention %s:\n%s' % (s, out[:3000]))


def inside(tree):
    t0 = time.monotonic()
    w = Workdir('e2e')
    try:
        e2e_postfix(w, tree)
    except Failure as e:
        print('FAIL  e2e-postfix (%.1fs)\n%s' % (time.monotonic() - t0, e))
        return 1
    finally:
        w.close()
    print('ok    e2e-postfix (%.1fs)' % (time.monotonic() - t0))
    return 0


def main(argv):
    if '--inside' in argv:
        return inside(argv[argv.index('--inside') + 1])
    if os.geteuid() != 0:
        print('test_postfix.py: must run as root (network and mount namespaces)',
              file=sys.stderr)
        return 1
    for p in ('swaks', 'unshare', 'ip', 'apt-get', 'dpkg'):
        if shutil.which(p) is None:
            print('test_postfix.py: %s is not installed (contrib/deps check)' % p,
                  file=sys.stderr)
            return 1
    tree = fetch_debs('mta', MTA_PACKAGES)
    # journald outside the namespaces: its socket is a path, which works
    # from another network namespace; the harness stops it at exit if it
    # started it.
    ensure_journald()
    r = subprocess.run(['unshare', '--net', '--mount', '--uts', '--fork',
                        '--propagation', 'private', sys.executable,
                        os.path.abspath(__file__), '--inside', tree])
    return r.returncode


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
