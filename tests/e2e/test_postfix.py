"""test_postfix.py -- smtpwatchd against a real Postfix 3.7 with Dovecot 2.3
SASL, real SMTP clients (swaks), and relays that refuse our credentials:
the scenarios of scenarios.py, plus the daemon's alerts and status.

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
127.0.0.2 (and the other relays of scenarios.RESPONDERS),
/etc/resolv.conf is empty (no DNS).  The host name there is
mx1.  Dovecot's base_dir and state_dir live in the test's temporary
directory.  When the namespace process ends its mounts are gone;
everything it started is stopped by pid before that.

Inside: Postfix (no chroot, no TLS, no error sleeps or rate limits)
with smtpd_sasl_type = dovecot, writing maillog_file through postlogd;
Dovecot with a passwd-file of test users and auth_verbose, logging into
the same file with a time stamp format that makes its lines syslog-
shaped ("Nov 28 04:35:02 mx1 dovecot: auth: ..."), as they are in a
Debian /var/log/mail.log; responder.py on 127.0.0.2:587 playing Gmail;
(and the other relays) and build/smtpwatchd following the file, with a
temporary database.  swaks and scenarios.smtp_raw drive the AUTH
attempts; `smtpwatchctl scan` of the log must count each scenario as it
expects, and the daemon's database, the journal and `smtpwatchctl
status` must tell exactly what the test did.

With $SMTPWATCH_MATRIX set to a file name, the scenarios' verdicts and
the versions are written there as JSON (`make check-next` reads them for
the README's table).
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
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (CTL, ROOT, RULES, TIMEOUT, Daemon, Failure, Journal, Workdir,  # noqa: E402
                     account_failures, address_failures, ensure_journald, eq, fail,
                     jtext, query, relay_rows)
from test_alerts import GMAIL_DIAG, diag_fields  # noqa: E402
import scenarios  # noqa: E402
from scenarios import RELAY_ACCOUNT, RELAY_GOOD, RESPONDERS, ROUTES, USERS  # noqa: E402

RESPONDER = os.path.join(HERE, 'responder.py')
GMAIL_IP = '127.0.0.2'
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

    failed_mark = 'authentication failed'
    login_mark = 'sasl_method=LOGIN, sasl_username=alice@lab.example'

    def __init__(self, w, tree=None, root=''):
        self.w = w
        self.tree = tree
        # root: the directory the mail servers run chrooted in
        # (test_next.py), '' here.  self.dir is the work directory as the
        # servers see it; self.host(p) is where a path p of theirs is.
        self.root = root
        self.dir = '/srv/e2e' if root else w.dir
        self.log = self.host(self.dir + '/mail.log')
        self.users = self.dir + '/users'
        self.procs = []         # Popen objects we started, stopped by pid
        self.postfix_pid = None
        self.dovecot = None
        self.responders = []

    def host(self, path):
        """Where the servers' path is, seen from here."""
        return self.root + path

    def cmd(self, argv):
        """argv run in the servers' root."""
        return ['chroot', self.root] + argv if self.root else argv

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
        hosts = self.file('hosts', '127.0.0.1 localhost\n127.0.1.1 mx1.lab.example mx1\n' +
                          scenarios.hosts_lines())
        resolv = self.file('resolv.conf', '')
        run(['mount', '--bind', hosts, self.host('/etc/hosts')])
        run(['mount', '--bind', resolv, self.host('/etc/resolv.conf')])

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
        """Writes the work directory's file name (self.dir/name for the
        servers); returns its path here."""
        p = self.host(os.path.join(self.dir, name))
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
            'maillog_file': self.dir + '/mail.log', 'maillog_file_prefixes': self.dir,
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
            # A name's addresses in /etc/hosts' order; no retry but ours.
            'smtp_randomize_addresses': 'no', 'queue_run_delay': '1h',
            'minimal_backoff_time': '1h', 'maximal_backoff_time': '2h',
            # Mail of the successful logins goes nowhere.
            'transport_maps': 'texthash:/etc/postfix/transport',
        }
        main.update(self.main_extra())
        with open(self.host('/etc/postfix/main.cf'), 'w') as f:
            f.write('# written by tests/e2e/test_postfix.py\n')
            for k, v in main.items():
                if v is not None:
                    f.write('%s = %s\n' % (k, v))
        with open(self.host('/etc/postfix/transport'), 'w') as f:
            f.write('sink.lab.example discard:\n')
            for domain, relay in ROUTES:
                f.write('%s smtp:[%s]:587\n' % (domain, relay))
        # readable by all, as a careless edit leaves it: smtpwatchd's
        # relay-rejected entry names it (relay-check, relaynote.c)
        self.relay_password('wrong-password', 0o644)
        run(self.cmd(['postconf', '-F', '*/*/chroot = n']))

    def main_extra(self):
        """main.cf settings a subclass changes (None: left out)."""
        return {}

    def relay_password(self, password, mode=0o600):
        """smtp.gmail.com's password; the other relays get the good one
        (which only smtp.pair.example's second address accepts)."""
        p = self.host('/etc/postfix/sasl_passwd')
        with open(p, 'w') as f:
            f.write('[smtp.gmail.com]:587 %s:%s\n' % (RELAY_ACCOUNT, password))
            for _, relay in ROUTES:
                f.write('[%s]:587 %s:%s\n' % (relay, RELAY_ACCOUNT, RELAY_GOOD))
        os.chmod(p, mode)

    def submit(self, rcpt):
        msg = ('From: %s\nTo: %s\nSubject: e2e\n\nhello\n' % (RELAY_ACCOUNT, rcpt)).encode()
        subprocess.run(self.cmd(['sendmail', '-f', RELAY_ACCOUNT, rcpt]), input=msg,
                       check=True, timeout=TIMEOUT)

    def flush(self):
        run(self.cmd(['postfix', 'reload']))
        run(self.cmd(['postqueue', '-f']))

    def deferred(self, rcpt):
        return [l for l in self.lines('to=<%s>' % rcpt) if 'status=deferred' in l]

    def delivered(self, rcpt):
        return [l for l in self.lines('to=<%s>' % rcpt) if 'status=sent' in l]

    def closed(self, addr):
        return self.lines('disconnect from unknown[%s]' % addr)

    def dovecot_conf(self):
        run(['install', '-d', '-m', '0755', self.host(self.dir + '/dovecot-run'),
             self.host(self.dir + '/dovecot-state')])
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
        with open(self.host('/etc/dovecot/dovecot.conf'), 'w') as f:
            f.write(conf)

    def start(self):
        open(self.log, 'ab').close()
        self.postfix_conf()
        self.dovecot_conf()
        run(self.cmd(['postfix', 'check']))
        self.postfix_start()
        self.postfix_pid = poll(lambda: pidfile(self.host('/var/spool/postfix/pid/master.pid')),
                                'the Postfix master pid file')
        self.dovecot = subprocess.Popen(self.cmd(['dovecot', '-F', '-c', '/etc/dovecot/dovecot.conf']),
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(self.dovecot)
        poll(lambda: os.path.exists(self.host('/var/spool/postfix/private/auth')) or
             self.dovecot.poll() is not None, 'Dovecot\'s auth socket')
        if self.dovecot.poll() is not None:
            fail('dovecot exited with status %d\n%s' % (self.dovecot.returncode,
                                                        read(self.log)[-2000:]))
        self.start_responders()

    def start_responders(self):
        """responder.py on each relay address of scenarios.RESPONDERS,
        port 587, until each listens (run from here: no chroot needed)."""
        for i, (name, ip, style, password) in enumerate(RESPONDERS):
            ready = self.w.path('responder%d.ready' % i)
            out_path = self.w.path('responder%d.out' % i)
            with open(out_path, 'wb') as out:
                p = subprocess.Popen(
                    [sys.executable, RESPONDER, ip, '587', RELAY_ACCOUNT, password, ready, style],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True)
            self.procs.append(p)
            self.responders.append(p)
            poll(lambda: os.path.exists(ready) or p.poll() is not None,
                 'the responder for %s (%s) to listen' % (name, ip))
            if p.poll() is not None:
                fail('responder.py %s exited: %s' % (ip, read(out_path)))

    def stop(self):
        """Postfix's master (its children follow it), then what we
        started (Dovecot, the responder, Exim): each by its pid."""
        stop_pid(self.postfix_pid, 'postfix master')
        for p in reversed(self.procs):
            if p.poll() is None:
                stop_pid(p.pid, p.args[0])
            p.wait()

    def postfix_start(self):
        run(self.cmd(['postfix', 'start']))

    def swaks(self, user, password, addr, mech='PLAIN', to=None):
        """One SMTP session from addr: AUTH as user; with to, a message.
        Returns swaks's transcript."""
        argv = self.swaks_argv() + ['--server', '127.0.0.1', '--port', '25', '--local-interface', addr,
                '--ehlo', 'client.lab.example', '--auth', mech, '--auth-user', user,
                '--auth-password', password, '--timeout', '%d' % TIMEOUT]
        if to:
            argv += ['--from', user, '--to', to]
            ok = (0,)
        else:
            argv += ['--quit-after', 'AUTH']
            ok = (28,)          # swaks: authentication failed
        return run(argv, ok=ok)

    def versions(self):
        """{'Postfix': '3.7.11', 'Dovecot': '2.3.19.1'} as the binaries say."""
        pf = run(self.cmd(['postconf', '-h', 'mail_version'])).strip()
        dv = run(self.cmd(['dovecot', '--version'])).split()[0]
        return {'Postfix': pf, 'Dovecot': dv}

    def swaks_argv(self):
        return ['swaks']

    def lines(self, needle):
        return [l for l in read(self.log).splitlines() if needle in l]


# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------

def start_daemon(w, lab):
    """The ASan daemon: its relay-check runs the lab's real postconf, and
    a leak or an error there fails the run."""
    d = Daemon(w, [lab.log], asan=True, batch_interval=None,
               extra_conf='control %s\nrelay smtp.gmail.com as %s' % (
                   w.path('control.sock'), RELAY_ACCOUNT))
    d.start()
    DAEMONS.append(d)
    return d, Journal(d)


def judge_log(lab, expects, path=None, title=None):
    """`smtpwatchctl scan --json` of the log (or path): each scenario must
    have been counted as it expected.  Returns the verdict rows, after
    printing them."""
    path = path or lab.log
    out = run([CTL, '-f', '/dev/null', '--rules', RULES, 'scan', '--json', '--no-progress', path])
    rows = scenarios.judge(scenarios.view(json.loads(out)), expects)
    scenarios.report(rows, title or 'scan %s' % os.path.basename(path))
    return rows


def e2e_postfix(w, tree):
    lab = Lab(w, tree)
    lab.namespace()
    d = None
    try:
        lab.start()
        d, j = start_daemon(w, lab)
        expects = scenarios.run(lab)
        d.wait_caught_up()
        j.sync()
        print('--- the mail log the daemon read:\n' + read(lab.log))
        rows = judge_log(lab, expects)
        scenarios.record('postfix', lab.versions(), [(os.path.basename(lab.log), rows)])
        scenarios.must(rows)
        check_counts(d, expects)
        check_alerts(j, expects, local=('map-readable', 'chmod 600 /etc/postfix/sasl_passwd'))
        check_status(w, d)
        d.term()
    finally:
        if d is not None and d.running():
            d.kill9(quiet=True)
        lab.stop()


def check_counts(d, expects):
    """The daemon's database: the sums of what the scenarios expected."""
    want = scenarios.merged(expects)
    eq(account_failures(d.db), {k.encode(): v for k, v in want.accounts.items()},
       'failures per account')
    eq(address_failures(d.db), want.addrs, 'failures per address')
    eq({k[1]: (r['failures'], r['affected'], r['successes'], r['state'], r['last_diagnosis'])
        for k, r in relay_rows(d.db).items()}, want.relays,
       'relays (failures, held back, successes, state, diagnosis)')
    ok = query(d.db, "SELECT account, successes FROM account_totals "
                     "WHERE direction = 'server' AND successes > 0")
    eq({r['account']: r['successes'] for r in ok},
       {k.encode(): v for k, v in want.logins.items()}, 'successful logins per account')


def check_alerts(j, expects, local=None):
    """relay-rejected once per relay that failed, with Gmail's diagnosis
    for smtp.gmail.com and, when local is (code, fix), the first local
    finding of the MTA's configuration (in fields and after "Here: " in
    MESSAGE); relay-recovered for each that then delivered (closing
    smtp.gmail.com's incident); account-failing for carol alone."""
    want = scenarios.merged(expects)
    failing = sorted(k for k, v in want.relays.items() if v[0] > 0)
    rej = j.all('relay-rejected')
    eq(sorted(jtext(x.get('SMTPWATCH_RELAY')) for x in rej), failing,
       'relay-rejected entries (relays)')
    e = [x for x in rej if jtext(x.get('SMTPWATCH_RELAY')) == 'smtp.gmail.com'][0]
    dw = diag_fields(GMAIL_DIAG)
    eq({k: jtext(e.get(k)) for k in dw}, dw, 'the diagnosis fields of relay-rejected')
    eq((jtext(e.get('SMTPWATCH_ACCOUNT')), jtext(e.get('SMTPWATCH_ADDR'))),
       (RELAY_ACCOUNT, GMAIL_IP), 'relay-rejected account, address (smtp.gmail.com)')
    if local is not None:
        eq((jtext(e.get('SMTPWATCH_LOCAL_CODE_1')), jtext(e.get('SMTPWATCH_LOCAL_FIX_1'))), local,
           'relay-rejected: the local finding (code, fix)')
        if ' Here: ' not in jtext(e['MESSAGE']) or local[1] not in jtext(e['MESSAGE']):
            fail('relay-rejected MESSAGE without the local finding: %r' % jtext(e['MESSAGE']))
    rec = j.all('relay-recovered')
    eq(sorted(jtext(r.get('SMTPWATCH_RELAY')) for r in rec),
       sorted(k for k, v in want.relays.items() if v[0] > 0 and v[3] == 'ok'),
       'relay-recovered entries (relays that failed, then delivered)')
    eq([jtext(r.get('SMTPWATCH_INCIDENT')) for r in rec
        if jtext(r.get('SMTPWATCH_RELAY')) == 'smtp.gmail.com'],
       [jtext(e.get('SMTPWATCH_INCIDENT'))],
       'relay-recovered closes smtp.gmail.com\'s relay-rejected incident')
    af = j.all('account-failing')
    eq(sorted(jtext(x.get('SMTPWATCH_ACCOUNT')) for x in af), ['carol@lab.example'],
       'account-failing entries (accounts)')
    print('journal:\n' + j.summary())


def status_counts(text, *pairs):
    """Fails unless status's text has a row "NAME   N" for each pair
    (the column widths follow the longest name listed)."""
    for name, n in pairs:
        if not re.search(r'(?m)\s%s +%d$' % (re.escape(name), n), text):
            fail('smtpwatchctl status has no row "%s %d":\n%s' % (name, n, text))


def check_status(w, d):
    """smtpwatchctl status from the running daemon: exit 1 (an incident
    is open: carol's), the incident, the accounts and the relay."""
    conf = d.conf
    text = run([CTL, '--rules', RULES, '-f', conf, 'status'], ok=(1,))
    print('--- smtpwatchctl status:\n' + text)
    for s in ('is running, pid %d' % d.pid, '#1 account carol@lab.example on mx1',
              'server/brute-force'):
        if s not in text:
            fail('smtpwatchctl status does not say %r:\n%s' % (s, text))
    status_counts(text, ('carol@lab.example', 7), ('bob@lab.example', 4), ('127.0.0.5', 7))
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


def run_step(name, fn, *args):
    """fn(w, *args) in a Workdir of its own; prints "ok NAME (Ns)", or
    "FAIL NAME (Ns)" and the reason; returns the exit status."""
    t0 = time.monotonic()
    w = Workdir(name)
    try:
        fn(w, *args)
    except Failure as e:
        print('FAIL  %s (%.1fs)\n%s' % (name, time.monotonic() - t0, e))
        return 1
    finally:
        w.close()
    print('ok    %s (%.1fs)' % (name, time.monotonic() - t0))
    return 0


def inside(tree):
    return run_step('e2e-postfix', e2e_postfix, tree)


def lab_refused(name, tools, why='network and mount namespaces'):
    """Why the end-to-end test file name cannot make its lab here (not
    root, a tool missing), said on stderr: 1; else None."""
    if os.geteuid() != 0:
        print('%s: must run as root (%s)' % (name, why), file=sys.stderr)
        return 1
    for p in tools:
        if shutil.which(p) is None:
            print('%s: %s is not installed (contrib/deps check)' % (name, p),
                  file=sys.stderr)
            return 1
    return None


def in_lab(path, *args):
    """Runs the test file at path again, with --inside and args, in
    network, mount and UTS namespaces of its own (only lo: nothing
    leaves the machine; its mounts private); its exit status."""
    return subprocess.run(['unshare', '--net', '--mount', '--uts', '--fork',
                           '--propagation', 'private', sys.executable,
                           os.path.abspath(path), '--inside'] + list(args)).returncode


def main(argv):
    if '--inside' in argv:
        return inside(argv[argv.index('--inside') + 1])
    refused = lab_refused('test_postfix.py', ('swaks', 'unshare', 'ip', 'apt-get', 'dpkg'))
    if refused:
        return refused
    tree = fetch_debs('mta', MTA_PACKAGES)
    # journald outside the namespaces: its socket is a path, which works
    # from another network namespace; the harness stops it at exit if it
    # started it.
    ensure_journald()
    return in_lab(__file__, tree)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
