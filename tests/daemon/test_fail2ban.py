#!/usr/bin/env python3
"""test_fail2ban.py -- contrib/fail2ban with the real fail2ban: its jail
reads smtpwatchd's address-hostile entries from a real journald and bans
with its own nftables action, in a network namespace of the test's own
(`unshare --net`: only lo; the nft sets live and die with it).

fail2ban (and python3-systemd, its journal reader) are fetched with
apt-get download and unpacked under build/e2e-debs/fail2ban, never
installed: the host's own fail2ban, if any, is not touched.  The
configuration is a copy of the package's, without its sshd jail, with
contrib/fail2ban's filter and jail, its socket, pid file and database
(in memory) in the test's directory.  A filter.d/smtpwatch.local adds
the daemon's _PID to the filter's journalmatch: the journal holds other
runs' entries of the last hour (findtime), which the jail reads at start.

    ban       a real smtpwatchd (hostile-entries yes) started, then fail2ban;
              then the daemon reads test_alerts.py's hostile scenario, stamped now:
              `nft list set inet f2b-table addr-set-smtpwatch` comes to
              hold exactly the attacking addresses (brute force, spray,
              distributed, the brute force beside a user's own address),
              never the stale device's address, the user's own address,
              nor the address an attacker typed into a user name
              ("x from 192.0.2.99", in an account-failing entry).

    python3 tests/daemon/test_fail2ban.py        (as root)
"""

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
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))

from harness import ROOT, TIMEOUT, eq, fail, registry, run_tests_netns  # noqa: E402
from test_alerts import HOSTILE, feed, hostile_lines, start  # noqa: E402

CONTRIB = os.path.join(ROOT, 'contrib', 'fail2ban')
PACKAGES = ('fail2ban', 'python3-systemd')
TREE = os.path.join(ROOT, 'build', 'e2e-debs', 'fail2ban')
NFT_SET = ['nft', 'list', 'set', 'inet', 'f2b-table', 'addr-set-smtpwatch']
# Never banned: the stale device's and erin's own address, and the one
# typed into a user name.
INNOCENT = ('198.51.100.20', '198.51.100.70', '192.0.2.99')
TESTS, GROUPS, test = registry()


def f2b_conf(w, pid):
    """The package's configuration, with contrib/fail2ban, our paths and
    the entries of the daemon pid only."""
    conf = w.path('fail2ban')
    shutil.copytree(os.path.join(TREE, 'etc', 'fail2ban'), conf)
    os.unlink(os.path.join(conf, 'jail.d', 'defaults-debian.conf'))
    for d in ('filter.d', 'jail.d'):
        shutil.copy(os.path.join(CONTRIB, d, 'smtpwatch.conf'), os.path.join(conf, d))
    with open(os.path.join(conf, 'fail2ban.local'), 'w') as f:
        f.write('[DEFAULT]\ndbfile = :memory:\n')
    with open(os.path.join(CONTRIB, 'filter.d', 'smtpwatch.conf')) as f:
        match = re.search(r'^journalmatch = (.*)$', f.read(), re.M).group(1)
    with open(os.path.join(conf, 'filter.d', 'smtpwatch.local'), 'w') as f:
        f.write('[Definition]\njournalmatch = %s _PID=%d\n' % (match, pid))
    return conf


class Fail2ban:
    """fail2ban-server in the foreground, stopped by pid."""

    def __init__(self, w, pid):
        self.sock = w.path('f2b.sock')
        self.err = open(w.path('f2b.stderr'), 'wb+')
        self.env = dict(os.environ, PYTHONPATH=os.path.join(TREE, 'usr', 'lib', 'python3',
                                                             'dist-packages'))
        self.proc = subprocess.Popen(
            ['/usr/bin/python3', os.path.join(TREE, 'usr', 'bin', 'fail2ban-server'), '-f', '-x',
             '-c', f2b_conf(w, pid), '-s', self.sock, '-p', w.path('f2b.pid'),
             '--logtarget', 'stderr', '--loglevel', 'INFO'],
            stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err, env=self.env)
        w.others.append(self)

    def log(self):
        self.err.seek(0)
        return self.err.read().decode('utf-8', 'replace')

    def wait_for(self, pred, what):
        """Waits until pred() holds, re-checked as fail2ban works."""
        end = time.monotonic() + TIMEOUT
        while not pred():
            if self.proc.poll() is not None:
                fail('fail2ban-server exited (%d) waiting for %s:\n%s' % (
                    self.proc.returncode, what, self.log()[-3000:]))
            if time.monotonic() > end:
                fail('no %s in %d s; fail2ban said:\n%s' % (what, TIMEOUT, self.log()[-3000:]))
            time.sleep(0.05)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def banned():
    """The addresses in fail2ban's nft set (none before its first ban)."""
    r = subprocess.run(NFT_SET, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return set()
    m = re.search(r'elements = \{([^}]*)\}', r.stdout.decode())
    return set(a.strip() for a in m.group(1).split(',')) if m else set()


@test('ban')
def ban(w):
    d, j, log = start(w, 'hostile-entries yes', asan=False)
    f = Fail2ban(w, d.pid)
    f.wait_for(lambda: "Jail 'smtpwatch' started" in f.log(), "\"Jail 'smtpwatch' started\"")
    feed(d, j, log, hostile_lines(int(time.time())))
    want = set(HOSTILE)
    f.wait_for(lambda: want <= banned(), 'bans of %s' % sorted(want))
    eq(sorted(banned()), sorted(want), 'the addresses in nft set addr-set-smtpwatch')
    for a in INNOCENT:
        if a in f.log():
            fail('fail2ban mentions %s:\n%s' % (a, f.log()[-3000:]))
    d.term()


def fetch():
    """fail2ban and python3-systemd, unpacked under TREE (outside the
    namespace: apt needs the network)."""
    from test_postfix import fetch_debs
    if fetch_debs('fail2ban', PACKAGES) != TREE:
        fail('fetch_debs: not %s' % TREE)


def main(argv):
    return run_tests_netns(__file__, TESTS, GROUPS, argv, before=fetch)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
