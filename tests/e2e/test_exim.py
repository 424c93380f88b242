"""test_exim.py -- smtpwatchd against a real Exim 4.96, beside the
Postfix the machine has: the scenarios of scenarios.py, read from
Exim's own mainlog.

    python3 tests/e2e/test_exim.py           (as root; `make tests` first)

Debian's exim4-daemon-light cannot be installed next to Postfix (both
are the mail-transport-agent), so the test fetches it with `apt-get
download` into build/e2e-debs/ (once; `apt-get update` first if apt has
no lists) and unpacks it with `dpkg -x`: nothing is installed, and its
one library Postfix does not bring, libidn12, comes from contrib/deps.
Exim runs from there with its own configuration (-C), spool and log
directory in the test's temporary directory, and exim_path pointing at
the unpacked binary for its re-executions.

Like test_postfix.py it then runs itself again inside `unshare --net
--mount --uts --fork`: only lo (with 127.0.0.2..9), /etc/hosts naming
smtp.gmail.com 127.0.0.2 (and the other relays of
scenarios.RESPONDERS), an empty /etc/resolv.conf, host name mx1.  The
Debian build looks its user up as "Debian-exim", which the host has no
reason to have: copies of /etc/passwd and /etc/group with that user are
bound over the originals in the private mount namespace only.

Inside: Exim listening on 127.0.0.1:25 with plaintext PLAIN and LOGIN
authenticators checking a file of test users, routing mail for
sink.lab.example to :blackhole:, the domains of scenarios.ROUTES to their
relays and everything else through smtp.gmail.com:587 (responder.py),
with hosts_require_auth; swaks and scenarios.smtp_raw drive the AUTH
attempts, `exim -odi` submits the relayed messages, and after the
credentials are fixed `exim -qff` delivers Gmail's.  build/smtpwatchd
follows mainlog; `smtpwatchctl scan` of mainlog must count each scenario
as it expects, and the database, the journal and `smtpwatchctl status`
must tell exactly what the test did.
"""

import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (CTL, RULES, TIMEOUT, Daemon, Journal,  # noqa: E402
                     ensure_journald, fail)
import scenarios  # noqa: E402
from scenarios import RELAY_ACCOUNT, RELAY_GOOD, ROUTES, USERS  # noqa: E402
from test_postfix import (DAEMONS, Lab, check_alerts, check_counts,  # noqa: E402
                          fetch_debs, free_id, in_lab, judge_log, lab_refused,
                          poll, read, run, run_step, status_counts)

PACKAGE = 'exim4-daemon-light'
EXIM_USER = 'Debian-exim'


def fetch_exim():
    """build/e2e-debs/exim4/usr/sbin/exim4 (test_postfix.fetch_debs)."""
    return os.path.join(fetch_debs('exim4', (PACKAGE,)), 'usr', 'sbin', 'exim4')


class EximLab(Lab):
    """Exim and the responders in this (private) namespace; swaks, lines
    and the loopback set-up are test_postfix.py's."""

    failed_mark = 'authenticator failed for'
    login_mark = 'A=login_server:alice@lab.example'

    def __init__(self, w, exim, root=''):
        super().__init__(w, root=root)
        self.exim = exim
        self.logdir = self.dir + '/exim-log'
        self.log = self.host(self.logdir + '/mainlog')
        self.spool = self.dir + '/exim-spool'
        self.conf = self.dir + '/exim.conf'
        self.secret = self.dir + '/relay-secret'
        self.procs = []
        self.daemon = None

    def namespace(self):
        self.loopback()
        uid = free_id()
        with open('/etc/passwd') as f:
            self.file('passwd', f.read() + '%s:x:%d:%d::%s:/usr/sbin/nologin\n' % (
                EXIM_USER, uid, uid, self.spool))
        with open('/etc/group') as f:
            self.file('group', f.read() + '%s:x:%d:\n' % (EXIM_USER, uid))
        run(['mount', '--bind', self.w.path('passwd'), '/etc/passwd'])
        run(['mount', '--bind', self.w.path('group'), '/etc/group'])
        self.dirs(uid)

    def dirs(self, uid):
        """The log and spool directories, Exim's."""
        for d in (self.logdir, self.spool):
            os.mkdir(self.host(d), 0o750)
            os.chown(self.host(d), uid, uid)

    def config(self):
        self.file('exim-users', ''.join('%s: %s\n' % kv for kv in USERS.items()))
        routes = ''.join('%s %s::587 byname ; ' % r for r in ROUTES)
        self.relay_password('wrong-password')
        conf = r'''# written by tests/e2e/test_exim.py
exim_path = %(exim)s
primary_hostname = mx1.lab.example
qualify_domain = lab.example
spool_directory = %(spool)s
log_file_path = %(logpath)s
log_selector = +pid +smtp_connection
local_interfaces = 127.0.0.1
daemon_smtp_ports = 25
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
auth_advertise_hosts = *
smtp_accept_max_per_host = 0
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept authenticated = *
  accept hosts = :
  deny   message = relay not permitted

begin routers
sink:
  driver = redirect
  domains = sink.lab.example
  data = :blackhole:
smarthost:
  driver = manualroute
  route_list = %(routes)s* smtp.gmail.com::587 byname
  transport = remote_smtp_smarthost
  no_more

begin transports
remote_smtp_smarthost:
  driver = smtp
  hosts_require_auth = *
  hosts_avoid_tls = *

begin retry
* * F,2h,15m

begin authenticators
plain_server:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${lookup{$auth2}lsearch{%(users)s}{${if eq{$value}{$auth3}{yes}{no}}}{no}}
  server_set_id = $auth2
login_server:
  driver = plaintext
  public_name = LOGIN
  server_prompts = "Username:: : Password::"
  server_condition = ${lookup{$auth1}lsearch{%(users)s}{${if eq{$value}{$auth2}{yes}{no}}}{no}}
  server_set_id = $auth1
gmail_plain:
  driver = plaintext
  public_name = PLAIN
  client_send = ^%(account)s^${if eq{$host}{smtp.gmail.com}{${readfile{%(secret)s}{}}}{%(good)s}}
''' % {'exim': self.exim, 'spool': self.spool, 'logpath': self.log_file_path(),
       'routes': routes, 'good': RELAY_GOOD,
       'users': self.dir + '/exim-users', 'account': RELAY_ACCOUNT, 'secret': self.secret}
        self.file('exim.conf', conf)

    def log_file_path(self):
        """Exim's log_file_path: its own files (test_next.py adds syslog)."""
        return self.logdir + '/%slog'

    def relay_password(self, password):
        self.file('relay-secret', password, mode=0o644)

    def submit(self, rcpt):
        msg = ('From: %s\nTo: %s\nSubject: e2e\n\nhello\n' % (RELAY_ACCOUNT, rcpt)).encode()
        subprocess.run(self.cmd([self.exim, '-C', self.conf, '-odi', '-f', RELAY_ACCOUNT, rcpt]),
                       input=msg, check=True, timeout=TIMEOUT)

    def flush(self):
        run(self.cmd([self.exim, '-C', self.conf, '-qff']))

    def deferred(self, rcpt):
        return self.lines('== %s ' % rcpt)

    def delivered(self, rcpt):
        return self.lines('=> %s ' % rcpt)

    def closed(self, addr):
        return [l for l in self.lines('[%s]' % addr) if 'closed by QUIT' in l]

    def versions(self):
        """{'Exim': '4.96'} as the binary says."""
        m = re.search(r'Exim version (\S+)', run(self.cmd([self.exim, '-C', self.conf, '-bV'])))
        return {'Exim': m.group(1) if m else '?'}

    def start(self):
        self.config()
        run(self.cmd([self.exim, '-C', self.conf, '-bV']))
        self.daemon = subprocess.Popen(self.cmd([self.exim, '-C', self.conf, '-bdf', '-oX', '25']),
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(self.daemon)
        poll(lambda: self.lines('daemon started') or self.daemon.poll() is not None,
             'Exim\'s daemon to start', detail=lambda: read(self.log)[-2000:])
        if self.daemon.poll() is not None:
            fail('exim exited with status %d\n%s' % (self.daemon.returncode,
                                                     read(self.host(self.logdir + '/paniclog'))))
        self.start_responders()


def e2e_exim(w, exim):
    lab = EximLab(w, exim)
    lab.namespace()
    d = None
    try:
        lab.start()
        d = Daemon(w, [lab.log], asan=False, batch_interval=None,
                   extra_conf='control %s\nrelay smtp.gmail.com as %s' % (
                       w.path('control.sock'), RELAY_ACCOUNT))
        d.start()
        DAEMONS.append(d)
        j = Journal(d)
        expects = scenarios.run(lab)
        d.wait_caught_up()
        j.sync()
        print('--- the mainlog the daemon read:\n' + read(lab.log))
        rows = judge_log(lab, expects)
        scenarios.record('exim', lab.versions(), [(os.path.basename(lab.log), rows)])
        scenarios.must(rows)
        check_counts(d, expects)
        check_alerts(j, expects)
        check_status(d)
        d.term()
    finally:
        if d is not None and d.running():
            d.kill9(quiet=True)
        lab.stop()


def check_status(d):
    text = run([CTL, '--rules', RULES, '-f', d.conf, 'status'], ok=(1,))
    print('--- smtpwatchctl status:\n' + text)
    for s in ('is running, pid %d' % d.pid, 'account carol@lab.example',
              'server/brute-force'):
        if s not in text:
            fail('smtpwatchctl status does not say %r:\n%s' % (s, text))
    status_counts(text, ('carol@lab.example', 7), ('127.0.0.5', 7))
    if not re.search(r'smtp\.gmail\.com +ok +1 ', text):
        fail('smtpwatchctl status: no relay line "smtp.gmail.com ok 1":\n%s' % text)


def inside(exim):
    return run_step('e2e-exim', e2e_exim, exim)


def main(argv):
    if '--inside' in argv:
        return inside(argv[argv.index('--inside') + 1])
    refused = lab_refused('test_exim.py', ('swaks', 'unshare', 'ip', 'apt-get', 'dpkg'))
    if refused:
        return refused
    exim = fetch_exim()
    ensure_journald()
    return in_lab(__file__, exim)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
