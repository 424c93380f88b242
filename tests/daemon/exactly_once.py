#!/usr/bin/env python3
"""exactly_once.py -- every AUTH failure that reached the log is counted
exactly once by smtpwatchd, through rotations, partial lines and kill -9.

Usage: python3 tests/daemon/exactly_once.py [SEED]
       (or SMTPWATCH_SEED=N; the default seed is fixed, so runs repeat)

A 300 000-line mixed Postfix/Exim corpus with hostile lines is generated
with ../shared/bench/gen-maillog (seed 11) together with its truth file.
The real daemon (build/smtpwatchd, start-at beginning) follows an empty
log while the corpus is appended in bursts of random sizes, most cut at a
line end, some in the middle of a line.  Between bursts the log is
sometimes rotated the logrotate way (mail.log.N shifted up; rename +
create, or copytruncate: copy to mail.log.1, truncate), and the daemon is
killed with SIGKILL at least 20 times: right after a burst, right after a
rotation, while catching up, or when idle; it sometimes stays down for a
few bursts.  Rules that keep the truth reachable: a rotation never splits
a line (the line is finished first, as syslog would), and a copytruncate
only happens once the daemon has caught up since the previous rotation
and has committed a position in the live file past its start (lines no
reader ever saw, copied and truncated away, are lost by the nature of
copytruncate: nothing tells which copy holds them); renames need no such
care, the daemon finishes them by inode.  Awaiting the daemon means: its
checkpoint names the file the log path leads to and stands at its end,
or before a last line still without its newline.

At the end the database must equal, exactly:
  truth accounts[] (exact bytes)    account_totals direction server
  truth client_ips[]                address_totals failures
  truth relays[]                    the failures and affected events of
                                    smtpwatchctl scan's events of the
                                    corpus (smtpwatch counts a Postfix
                                    `SASL [CACHED]` line as affected, the
                                    generator as a failure), whose
                                    failures relay_totals must have
  server_failures_without_account   address failures - account failures
and, as a second oracle, smtpwatchctl scan of the whole corpus per
account, address and relay failure, and the messages held back at each
relay as harness.relay_oracle() counts them from its events.
"""

import json
import os
import random
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (BIN, SHARED, Daemon, DBError, Failure, Workdir,  # noqa: E402
                     account_failures, address_failures, canon_ip, checkpoints,
                     ctl_events, eq, fail, relay_counts, relay_oracle)

GEN = os.path.join(SHARED, 'bench', 'gen-maillog')
LINES = 300000
KILLS = 30                      # planned; at least 20 must happen
DEFAULT_SEED = 20261128


def oracle(path):
    """Counts from smtpwatchctl scan's events: accounts, addresses, and
    per relay [failures, messages held back, affected events]."""
    acc, ips = {}, {}
    events = ctl_events(path)
    for e in events:
        k, dr = e.get('kind'), e.get('direction')
        if dr == 'server' and k == 'failure':
            ip = canon_ip(e['addr'])
            ips[ip] = ips.get(ip, 0) + 1
            if e.get('account_hex') is not None:
                a = bytes.fromhex(e['account_hex'])
                acc[a] = acc.get(a, 0) + 1
    return acc, ips, relay_oracle(events)


class Run:
    def __init__(self, w, data, seed):
        self.w = w
        self.data = data
        self.rng = random.Random(seed)
        self.logdir = w.path('log')
        os.mkdir(self.logdir)
        self.log = os.path.join(self.logdir, 'mail.log')
        open(self.log, 'wb').close()
        self.d = Daemon(w, [self.log], binary=BIN, start_at='beginning',
                        batch_interval='100ms')
        self.pos = 0                    # bytes of the corpus written
        self.nrot = 0                   # files beside the log: mail.log.1 ...
        self.rotated = False            # a rotation since the last caught-up
        self.stats = dict(bursts=0, midline=0, renames=0, copytruncates=0, kills=0,
                          kills_lagging=0, kills_after_rotation=0, kills_catching_up=0,
                          kills_idle=0, down_bursts=0, waits=0)

    # -- the log ------------------------------------------------------------

    def write(self, end):
        with open(self.log, 'ab') as f:
            f.write(self.data[self.pos:end])
        self.pos = end

    def midline(self):
        return self.pos > 0 and self.data[self.pos - 1] != 0x0a

    def finish_line(self):
        """Syslog never splits a line across files."""
        if self.midline():
            self.write(self.data.index(b'\n', self.pos) + 1)

    def shift(self):
        """mail.log.N -> mail.log.N+1, from the oldest: mail.log.1 is free."""
        for n in range(self.nrot, 0, -1):
            os.rename('%s.%d' % (self.log, n), '%s.%d' % (self.log, n + 1))
        self.nrot += 1

    def rename(self):
        self.finish_line()
        self.shift()
        os.rename(self.log, self.log + '.1')
        open(self.log, 'wb').close()
        self.stats['renames'] += 1
        self.rotated = True

    def copytruncate(self):
        self.finish_line()
        self.shift()
        shutil.copyfile(self.log, self.log + '.1')
        os.truncate(self.log, 0)
        self.stats['copytruncates'] += 1
        self.rotated = True

    def knows_live(self):
        """The committed checkpoint is in the live file, past its start:
        the daemon has seen its first bytes."""
        try:
            cp = checkpoints(self.d.db).get(self.log)
        except DBError:
            return False
        return (cp is not None and cp['offset'] > 0 and
                cp['ino'] & 0xffffffffffffffff == os.stat(self.log).st_ino)

    def can_copytruncate(self):
        """Only once caught up since the last rotation, and once the
        daemon has committed a position in the live file (a copy of
        lines no reader ever saw, the file's first included, is beyond
        anyone's reach): wait for both when the daemon runs; when it is
        down, not now."""
        if os.path.getsize(self.log) == 0:
            return False
        if self.rotated:
            if not self.d.running():
                return False
            self.caught_up()
        if not self.knows_live():
            if not self.d.running():
                return False
            self.finish_line()
            self.d.wait_until(self.knows_live, 'a checkpoint in the live log past its start',
                              timeout=120)
        return True

    # -- the daemon ---------------------------------------------------------

    def caught_up(self):
        """Waits for the daemon to read everything, up to the start of a
        last line still without its newline."""
        part = 0
        if self.midline():
            part = self.pos - (self.data.rindex(b'\n', 0, self.pos) + 1)
        self.d.wait_caught_up(timeout=120, partial={self.log: part})
        self.rotated = False
        self.stats['waits'] += 1

    def kill(self, why):
        self.d.kill9()
        self.stats['kills'] += 1
        self.stats['kills_' + why] += 1

    # -- the run ------------------------------------------------------------

    def bursts(self):
        """Burst ends: mostly small and medium, a few large; about one in
        six in the middle of a line."""
        ends, pos, n = [], 0, len(self.data)
        r = self.rng
        while pos < n:
            x = r.random()
            size = (r.randint(100, 8000) if x < 0.45 else
                    r.randint(20000, 400000) if x < 0.9 else r.randint(800000, 2500000))
            end = min(n, pos + size)
            if end < n and r.random() >= 0.17:
                end = self.data.index(b'\n', end) + 1
            ends.append(end)
            pos = end
        return ends

    def go(self):
        r = self.rng
        ends = self.bursts()
        kills = {}
        situations = ['lagging', 'after_rotation', 'catching_up', 'idle']
        for i in r.sample(range(len(ends) - 1), min(KILLS, len(ends) - 1)):
            kills[i] = r.choice(situations)
        self.d.start()
        down = 0
        for i, end in enumerate(ends):
            mark = len(self.d.msgs)
            self.write(end)
            self.stats['bursts'] += 1
            if self.midline():
                self.stats['midline'] += 1
            if not self.d.running():
                self.stats['down_bursts'] += 1
            why = kills.get(i)
            x = r.random()
            if why == 'after_rotation' or x < 0.12:
                if (x < 0.05 or why == 'after_rotation' and x < 0.4) and self.can_copytruncate():
                    self.copytruncate()
                else:
                    self.rename()
            elif x < 0.25 and self.d.running():
                self.caught_up()
            if why and self.d.running():
                if why == 'catching_up':
                    self.d.wait_msg('STATUS', since=mark)
                elif why == 'idle':
                    self.caught_up()
                self.kill(why)
                down = r.choice((0, 0, 0, 1, 1, 2, 3))     # bursts to stay down
            if not self.d.running():
                if down <= 0:
                    self.d.start()
                down -= 1
        if not self.d.running():
            self.d.start()
        self.caught_up()
        if self.stats['kills'] < 20:
            fail('test bug: only %d kills' % self.stats['kills'])


def main():
    seed = int(sys.argv[1] if len(sys.argv) > 1 else
               os.environ.get('SMTPWATCH_SEED', DEFAULT_SEED))
    print('exactly-once: seed %d (again: python3 tests/daemon/exactly_once.py %d)' % (seed, seed))
    sys.stdout.flush()
    if not os.path.exists(GEN):
        print('FAIL  %s: not found (shared/ must be beside the repository)' % GEN)
        return 1
    try:
        with Workdir('exactly-once') as w:
            corpus, truthp = w.path('corpus'), w.path('truth.json')
            subprocess.run([sys.executable, GEN, '-f', 'mixed', '-n', str(LINES), '-s', '11',
                            '--hostile-rate', '0.002', '-o', corpus, '--truth', truthp],
                           check=True)
            with open(corpus, 'rb') as f:
                data = f.read()
            with open(truthp) as f:
                truth = json.load(f)
            want_acc = {bytes.fromhex(x['hex']): x['failures'] for x in truth['accounts']}
            want_ip = {canon_ip(x['ip']): x['failures'] for x in truth['client_ips']}
            want_rel = {x['relay']: x['failures'] for x in truth['relays']}
            o_acc, o_ip, o_rel = oracle(corpus)
            o_sum = {k: v[0] + v[2] for k, v in o_rel.items() if v[0] + v[2]}
            if o_sum != want_rel:
                fail('smtpwatchctl scan: relay failures + affected %r differ from the truth %r: '
                     'see tests/truth.sh' % (o_sum, want_rel))
            eq(o_acc, want_acc, 'smtpwatchctl scan accounts vs truth (see tests/truth.sh)')
            eq(o_ip, want_ip, 'smtpwatchctl scan addresses vs truth (see tests/truth.sh)')
            os.unlink(corpus)

            run = Run(w, data, seed)
            try:
                run.go()
                d = run.d
                acc = account_failures(d.db, 'server')
                ips = address_failures(d.db)
                rel = relay_counts(d.db)
                eq(acc, want_acc, 'accounts: daemon vs truth')
                eq(ips, want_ip, 'client addresses: daemon vs truth')
                eq({k: f for k, (f, a) in rel.items() if f},
                   {k: v[0] for k, v in o_rel.items() if v[0]},
                   'relay failures: daemon vs smtpwatchctl scan')
                eq({k: a for k, (f, a) in rel.items() if a},
                   {k: v[1] for k, v in o_rel.items() if v[1]},
                   'messages held back: daemon vs the oracle')
                eq(sum(ips.values()) - sum(acc.values()), truth['server_failures_without_account'],
                   'server failures without an account')
                d.term()
            finally:
                s = run.stats
                print('exactly-once: %d lines, %d bytes in %d bursts (%d ending mid-line, %d while '
                      'down); %d rename and %d copytruncate rotations; %d kill -9 (%d lagging, %d '
                      'after a rotation, %d catching up, %d idle); %d waits for caught-up' % (
                          LINES, run.pos, s['bursts'], s['midline'], s['down_bursts'],
                          s['renames'], s['copytruncates'], s['kills'], s['kills_lagging'],
                          s['kills_after_rotation'], s['kills_catching_up'], s['kills_idle'],
                          s['waits']))
                print('exactly-once: truth %d failures (%s)' % (truth['failures_total'], ', '.join(
                    '%s %d' % kv for kv in sorted(truth['failures_by_kind'].items()))))
    except Failure as e:
        print('FAIL  exactly-once (seed %d)\n%s' % (seed, '\n'.join(
            '      ' + l for l in str(e).splitlines())))
        return 1
    print('ok    exactly-once')
    return 0


if __name__ == '__main__':
    sys.exit(main())
