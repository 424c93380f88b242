"""test_next.py -- the scenarios of scenarios.py against the mail servers
of Debian testing (the next release): `make check-next` (not `make
check`: it needs the network to build its root, and a release that has
not frozen changes under it).

    python3 tests/e2e/test_next.py [root|postfix|exim]   (as root; `make tests` first)

The root: build/next/root, a `debootstrap --variant=minbase testing`
with postfix, dovecot-core, rsyslog, swaks and libsasl2-modules
installed inside it (apt-get in a chroot, /proc mounted in a private
mount namespace, a policy-rc.d refusing every service start: no daemon
starts then), and exim4-daemon-light unpacked with `dpkg -x` into
/opt/exim4 (Exim and Postfix conflict) with its libraries installed.
It is built once into build/next/root.tmp and renamed when complete; a
root whose stamp (.smtpwatch-next) lists today's packages is reused.
Nothing is installed on the host.  Testing's Release file may be older
than its Valid-Until says this machine's clock allows: apt in the root
does not check that date (a test root, not a system kept up to date).

Each run then enters `unshare --net --mount --uts --fork` (only lo, as
in test_postfix.py: no packet leaves, no DNS) and lays an overlay over
the root whose upper layer is a tmpfs: every run starts from the root
as installed, and the cached root is never written.  /proc, a /dev of
its own (null, zero, random, urandom bound in: rsyslog makes /dev/log
there, not on the host), /run and /tmp are mounted in it.  The mail
servers run chrooted there; the responders (responder.py), swaks and
smtpwatch run here, outside the root, reading the logs in it:

  postfix  Postfix 3.x + Dovecot 2.4 logging through rsyslog ($Repeated-
           MsgReduction on) to /var/log/mail.log (classic time stamps) and
           /var/log/mail-rfc3339.log (RSYSLOG_FileFormat); Postfix through
           /var/spool/postfix/dev/log (Debian's rsyslog.d/postfix.conf,
           bound over /dev/log for it), as a chrooted smtpd logs (Debian
           12's default; testing's Postfix 3.10.6 stopped chrooting, an
           upgraded master.cf keeps it), Dovecot through /dev/log:
           rsyslog folds repeated lines per socket, so each daemon's
           repeats fold even when the other logs in between;
  exim     Exim 4.x writing its own mainlog and, through the same rsyslog,
           the two syslog files.

Every log is read with `smtpwatchctl scan --json` and judged against
each scenario's expectations, and each syslog file must have
server-repeated's failures folded into "message repeated N times"; the
verdicts, versions and folded lines go to
the file $SMTPWATCH_MATRIX names (matrix.py makes the README's table
from them and from the Debian 12 runs'), the logs to build/next/logs/.
"""

import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import ROOT, fail  # noqa: E402
import scenarios  # noqa: E402
from test_exim import EximLab  # noqa: E402
from test_postfix import (Lab, in_lab, judge_log, lab_refused, poll, read,  # noqa: E402
                          run, run_step)

NEXT = os.path.join(ROOT, 'build', 'next')
CHROOT = os.path.join(NEXT, 'root')
MIRROR = 'http://deb.debian.org/debian'
SUITE = 'testing'
PACKAGES = ('postfix', 'dovecot-core', 'rsyslog', 'swaks', 'libsasl2-modules')
EXIM = '/opt/exim4/usr/sbin/exim4'
STAMP = '.smtpwatch-next'
SYSLOGS = ('/var/log/mail.log', '/var/log/mail-rfc3339.log')
SYSLOG_NAMES = tuple(os.path.basename(p) for p in SYSLOGS)
# Debian's rsyslog.d/postfix.conf: a socket in Postfix's chroot.
POSTFIX_LOG = '/var/spool/postfix/dev/log'


# ---------------------------------------------------------------------------
# The root, built once
# ---------------------------------------------------------------------------

def in_root(root, script):
    """Runs the shell script chrooted in root, /proc mounted there in a
    private mount namespace (maintainer scripts want it)."""
    subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-ec',
                    'mount -t proc proc "$1/proc"; chroot "$1" sh -ec "$2"', 'in_root',
                    root, script], check=True)


def stamp_text():
    return 'suite %s\npackages %s\nexim exim4-daemon-light\n' % (SUITE, ' '.join(PACKAGES))


def build_root():
    """build/next/root, built unless a complete one is there.  Returns the
    seconds spent (0 when reused)."""
    if read(os.path.join(CHROOT, STAMP)) == stamp_text():
        print('check-next: reusing %s' % CHROOT)
        return 0
    t0 = time.monotonic()
    tmp = CHROOT + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(CHROOT, ignore_errors=True)
    os.makedirs(NEXT, exist_ok=True)
    subprocess.run(['debootstrap', '--variant=minbase', SUITE, tmp, MIRROR], check=True)
    with open(os.path.join(tmp, 'etc/apt/apt.conf.d/99smtpwatch-next'), 'w') as f:
        f.write('# tests/e2e/test_next.py: testing\'s Release may be older than '
                'Valid-Until allows\nAcquire::Check-Valid-Until "false";\n')
    with open(os.path.join(tmp, 'usr/sbin/policy-rc.d'), 'w') as f:
        f.write('#!/bin/sh\n# tests/e2e/test_next.py: no service starts here\nexit 101\n')
    os.chmod(os.path.join(tmp, 'usr/sbin/policy-rc.d'), 0o755)
    in_root(tmp, '''
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends %s >/dev/null
cd /tmp
apt-get download -q exim4-daemon-light
dpkg -x exim4-daemon-light_*.deb /opt/exim4
libs=$(apt-cache depends exim4-daemon-light | sed -n "s/^ *Depends: \\(lib[^ <>]*\\)$/\\1/p")
apt-get install -y -qq --no-install-recommends $libs >/dev/null
rm -f exim4-daemon-light_*.deb
apt-get clean
''' % ' '.join(PACKAGES))
    with open(os.path.join(tmp, STAMP), 'w') as f:
        f.write(stamp_text())
    os.rename(tmp, CHROOT)
    return time.monotonic() - t0


# ---------------------------------------------------------------------------
# Inside the namespace: the root as an overlay, rsyslog, the labs
# ---------------------------------------------------------------------------

def enter(w):
    """The overlay of the cached root at w/root, with what a chroot needs;
    returns its path."""
    run(['mount', '--make-rprivate', '/'])
    top, r = w.path('layer'), w.path('root')
    os.mkdir(top)
    os.mkdir(r)
    run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'smtpwatch-next', top])
    for d in ('upper', 'work'):
        os.mkdir(os.path.join(top, d))
    run(['mount', '-t', 'overlay', 'smtpwatch-next', '-o', 'lowerdir=%s,upperdir=%s,workdir=%s' % (
        CHROOT, os.path.join(top, 'upper'), os.path.join(top, 'work')), r])
    run(['mount', '-t', 'proc', 'proc', r + '/proc'])
    run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'smtpwatch-dev', r + '/dev'])
    for n in ('null', 'zero', 'random', 'urandom'):
        open(r + '/dev/' + n, 'w').close()
        run(['mount', '--bind', '/dev/' + n, r + '/dev/' + n])
    run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'smtpwatch-run', r + '/run'])
    run(['mount', '-t', 'tmpfs', '-o', 'mode=1777', 'smtpwatch-tmp', r + '/tmp'])
    os.makedirs(r + '/srv/e2e', exist_ok=True)
    os.chmod(r + '/srv/e2e', 0o755)
    return r


def leave(r):
    subprocess.run(['umount', '-R', '-l', r], check=False)


# $RepeatedMsgReduction is read when imuxsock's input is made: before
# module(load=...), or it has no effect (rsyslog 8.2608).
RSYSLOG_CONF = '''# written by tests/e2e/test_next.py
$RepeatedMsgReduction on
module(load="imuxsock")
$AddUnixListenSocket %s
mail.* /var/log/mail.log;RSYSLOG_TraditionalFileFormat
mail.* /var/log/mail-rfc3339.log;RSYSLOG_FileFormat
''' % POSTFIX_LOG


class Syslog:
    """rsyslogd chrooted in the lab's root: /dev/log there, mail.* to the
    two files of SYSLOGS."""

    def start(self):
        with open(self.host('/etc/rsyslog.conf'), 'w') as f:
            f.write(RSYSLOG_CONF)
        for p in SYSLOGS:
            open(self.host(p), 'ab').close()
        self.rsyslog = subprocess.Popen(self.cmd(['rsyslogd', '-n', '-f', '/etc/rsyslog.conf',
                                                  '-i', '/run/rsyslogd.pid']),
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(self.rsyslog)
        poll(lambda: (os.path.exists(self.host('/dev/log')) and
                      os.path.exists(self.host(POSTFIX_LOG))) or self.rsyslog.poll() is not None,
             'rsyslogd\'s /dev/log and %s' % POSTFIX_LOG)
        if self.rsyslog.poll() is not None:
            fail('rsyslogd exited with status %d' % self.rsyslog.returncode)
        super().start()

    def rsyslog_version(self):
        return run(self.cmd(['rsyslogd', '-v'])).split()[1]

    def logs(self):
        """[(name, path here)] of the logs to judge, waits first."""
        return [(os.path.basename(p), self.host(p)) for p in SYSLOGS]


DOVECOT24 = '''# written by tests/e2e/test_next.py (Dovecot 2.4 syntax)
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
protocols {
}
base_dir = %(d)s/dovecot-run
state_dir = %(d)s/dovecot-state
auth_verbose = yes
auth_failure_delay = 0
auth_mechanisms = plain login
auth_allow_cleartext = yes
ssl = no
default_internal_user = dovecot
default_login_user = dovenull
passdb passwd-file {
  passwd_file_path = %(d)s/users
}
userdb static {
  fields {
    uid = 65534
    gid = 65534
    home = /nonexistent
  }
}
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
'''


class NextPostfix(Syslog, Lab):
    """Postfix and Dovecot from the root, both through syslog."""

    def __init__(self, w, root):
        Lab.__init__(self, w, root=root)
        self.log = self.host(SYSLOGS[0])

    def namespace(self):
        self.loopback()

    def main_extra(self):
        return {'maillog_file': None, 'maillog_file_prefixes': None}

    def postfix_start(self):
        """postfix start with /dev/log bound to POSTFIX_LOG in a mount
        namespace of its own, which the master and its children keep:
        Postfix logs through a socket of its own, as a chrooted smtpd
        does (Debian 12), and Dovecot's lines (on /dev/log) do not come
        between its own in rsyslog's repeated-message reduction, which
        is per socket."""
        run(['unshare', '--mount', '--propagation', 'private', 'sh', '-ec',
             'mount --bind "$1$2" "$1/dev/log"; exec chroot "$1" postfix start',
             'postfix-start', self.root, POSTFIX_LOG])

    def dovecot_conf(self):
        for d in ('dovecot-run', 'dovecot-state'):
            os.mkdir(self.host(self.dir + '/' + d), 0o755)
        self.file('users', ''.join('%s:{PLAIN}%s::::::\n' % kv
                                   for kv in scenarios.USERS.items()))
        with open(self.host('/etc/dovecot/dovecot.conf'), 'w') as f:
            f.write(DOVECOT24 % {'d': self.dir})


class NextExim(Syslog, EximLab):
    """Exim from the root: its own mainlog and syslog."""

    def __init__(self, w, root):
        EximLab.__init__(self, w, EXIM, root=root)

    def namespace(self):
        self.loopback()
        uid = 900
        with open(self.host('/etc/passwd'), 'a') as f:
            f.write('Debian-exim:x:%d:%d::%s:/usr/sbin/nologin\n' % (uid, uid, self.spool))
        with open(self.host('/etc/group'), 'a') as f:
            f.write('Debian-exim:x:%d:\n' % uid)
        self.dirs(uid)

    def log_file_path(self):
        return 'syslog : ' + self.logdir + '/%slog'

    def logs(self):
        return [('mainlog', self.log)] + Syslog.logs(self)


def e2e_next(w, which):
    r = enter(w)
    lab = (NextPostfix if which == 'postfix' else NextExim)(w, r)
    try:
        lab.namespace()
        lab.start()
        expects = scenarios.run(lab)
        done, folds = [], {}
        for name, path in lab.logs():
            # The last scenario's deferral, in every log, before reading it.
            poll(lambda: [l for l in read(path).splitlines()
                          if 'pairbad.example' in l and ('status=deferred' in l or ' == ' in l)],
                 'the last deferral in %s' % name)
            print('--- %s:\n%s' % (name, read(path)))
            # Kept for a look (and to cite in tests/corpus).
            os.makedirs(os.path.join(NEXT, 'logs'), exist_ok=True)
            shutil.copy(path, os.path.join(NEXT, 'logs', '%s-%s' % (which, name)))
            done.append((name, judge_log(lab, expects, path, '%s: scan %s' % (which, name))))
            if name in SYSLOG_NAMES:
                folds[name] = scenarios.folded(read(path))
                print('--- %s: folded by rsyslog:\n%s' % (name, '\n'.join(folds[name])))
        versions = lab.versions()
        versions['rsyslog'] = lab.rsyslog_version()
        scenarios.record(which, versions, done, folds)
        for _, rows in done:
            scenarios.must(rows)
        # server-repeated proves nothing unless rsyslog really folded it.
        for name, lines in sorted(folds.items()):
            if not lines:
                fail('%s: rsyslog wrote no "message repeated" line for %s (server-repeated)'
                     % (name, scenarios.REPEATED_ADDR))
    finally:
        lab.stop()
        leave(r)


def inside(which):
    return run_step('e2e-next-' + which, e2e_next, which)


def main(argv):
    if '--inside' in argv:
        return inside(argv[argv.index('--inside') + 1])
    refused = lab_refused('test_next.py', ('debootstrap', 'swaks', 'unshare', 'ip'),
                          'chroot, namespaces')
    if refused:
        return refused
    what = argv[0] if argv else 'root'
    if what == 'root':
        t = build_root()
        print('check-next: root %s (%.0fs)' % ('built' if t else 'reused', t))
        return 0
    if read(os.path.join(CHROOT, STAMP)) != stamp_text():
        print('test_next.py: no complete %s: run `%s root` first' % (CHROOT, sys.argv[0]),
              file=sys.stderr)
        return 1
    return in_lab(__file__, what)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
