#!/usr/bin/env python3
"""front_same.py -- the front end (daemon/front.c, Vectorscan) changes
nothing but speed.

Usage: tests/front_same.py CTL CTL_NOVS RULESDIR

CTL is smtpwatchctl with the front end, CTL_NOVS the same sources built
with `make VECTORSCAN=no` (every line parsed and matched).  Each log below
is scanned by both as `scan --json`, `scan --events` and `scan --missed`,
each twice: with the front end on, and with SMTPWATCH_FRONT=no (which
turns it off at run time); standard output and standard error must be the
same bytes in all four runs.  The logs: every corpus of real shapes
(tests/corpus/*.txt, their `> ` lines), gen-maillog's Postfix, Exim
mainlog, mixed and RFC 3339 logs (large enough to cross the 1 MiB reads
of scan many times), and lines written to trip a line-skipping front end:
an Exim entry whose continuation line alone says 535, an Exim syslog
series whose second part alone does, rsyslog's repeats, a year turning
over and a day its year lacks among skipped lines, CR LF endings, a line
longer than smtpwatch keeps, a NUL byte, a literal split by a line the
size of scan's read buffer.  Every run sees the clock stopped at the
same moment (faketime -f: the hour the test began), so that the "ago"
columns, counted from the clock, cannot differ by a day boundary passed
between or during runs of different lengths.
Python 3 standard library only.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, '..', 'shared', 'bench', 'gen-maillog')
# The clock every scan sees, stopped (UTC): this hour's start.
CLOCK = time.strftime('%Y-%m-%d %H:00:00', time.gmtime())

PF = b'Nov 28 04:%02d:%02d mx1 postfix/smtpd[%d]: '
FAIL = (b'warning: unknown[192.0.2.%d]: SASL LOGIN authentication failed: '
        b'UGFzc3dvcmQ6, sasl_username=user%d@example.com')
NOISE = b'connect from mail.example.net[198.51.100.%d]'


def pf(i, msg):
    return PF % ((i // 60) % 60, i % 60, 1000 + i % 50) + msg + b'\n'


def tricky():
    """Lines a front end that skips lines could get wrong."""
    out = []
    # Exim mainlog: the 535 only on a continuation line.
    out.append(b'2026-11-28 04:00:00 1abcde-000001-AB ** x@example.com '
               b'R=smarthost T=remote_smtp H=smtp.example.net [192.0.2.7]: '
               b'SMTP error from remote mail server after pipelined AUTH:\n'
               b'  535 5.7.8 Authentication credentials invalid\n')
    out.append(b'2026-11-28 04:00:01 plain authenticator failed for (x) '
               b'[203.0.113.5]: 535 Incorrect authentication data '
               b'(set_id=bob)\n')
    # Exim through syslog: a series whose second part alone says 535,
    # after a line of noise (nothing held: the first part is read only
    # for its prefix).
    out.append(pf(2, NOISE % 3))
    out.append(b'Nov 28 04:00:02 mx1 exim[77]: [1\\2] 2026-11-28 04:00:02 '
               b'1abcde-000002-AB ** y@example.com R=smarthost '
               b'T=remote_smtp H=smtp.example.net [192.0.2.8]: SMTP error\n')
    out.append(b'Nov 28 04:00:02 mx1 exim[77]: [2\\2]  from remote mail '
               b'server after AUTH PLAIN: 535 5.7.8 bad credentials\n')
    # ... and whose continuation lines say nothing a rule looks for, but
    # belong to the entry all the same (join.c holds it meanwhile).
    out.append(b'2026-11-28 04:00:02 1abcde-000003-AB ** z@example.com '
               b'R=smarthost T=remote_smtp H=smtp.example.net [192.0.2.9]: '
               b'SMTP error from remote mail server after AUTH PLAIN:\n'
               b'  535-5.7.8 Username and Password not accepted.\n'
               b'  5.7.8 Learn more at https://support.example.com/x\n')
    out.append(b'Nov 28 04:00:02 mx1 exim[78]: [1\\2] 2026-11-28 04:00:02 '
               b'1abcde-000004-AB ** w@example.com R=smarthost '
               b'T=remote_smtp H=smtp.example.net [192.0.2.10]: SMTP error '
               b'from remote mail server after AUTH PLAIN: 535-5.7.8 x\n')
    out.append(b'Nov 28 04:00:02 mx1 exim[78]: [2\\2]  5.7.8 tail of the '
               b'reply\n')
    # The front end finds a part by the tag's ":" before it: series after
    # "exim:" with no blank, after a tag without a pid, in twelve parts,
    # and under a host after an ISO stamp, each first part saying nothing
    # a rule looks for, the last the 535.
    for k, head in enumerate((b'Nov 28 04:00:03 mx1 exim[79]:',
                              b'Nov 28 04:00:03 mx1 exim: ',
                              b'2026-11-28T04:00:03+00:00 mx1 exim[80]: ',
                              b'2026-11-28 04:00:03 mx1 exim[81]: ')):
        n = 12 if k == 2 else 2
        out.append(pf(2, NOISE % 4))
        out.append(head + b'[1\\%d] 2026-11-28 04:00:03 1abcde-00001%d-AB '
                   b'** v@example.com R=smarthost T=remote_smtp '
                   b'H=smtp.example.net [192.0.2.11]: SMTP error\n' % (n, k))
        for part in range(2, n):
            out.append(head + b'[%d\\%d]  part %d\n' % (part, n, part))
        out.append(head + b'[%d/%d]  from remote mail server after AUTH '
                   b'PLAIN: 535 5.7.8 bad credentials %d\n' % (n, n, k))
    # rsyslog's repeats, of an AUTH line and of noise.
    out.append(pf(3, FAIL % (9, 9)))
    out.append(pf(4, b'message repeated 7 times: [ ' + FAIL % (9, 9) + b']'))
    out.append(pf(5, b'message repeated 3 times: [ ' + NOISE % 1 + b']'))
    # A turn of the year and a day 2027 lacks, among skipped lines.
    for k in range(5):
        out.append(b'Dec 31 23:59:5%d mx1 postfix/qmgr[9]: noise %d\n' % (k, k))
    out.append(b'Jan  1 00:00:01 mx1 postfix/qmgr[9]: noise\n')
    out.append(b'Feb 29 00:00:01 mx1 postfix/qmgr[9]: no such day\n')
    out.append(b'Jan  1 00:00:02 mx1 postfix/smtpd[9]: ' + FAIL % (10, 10) + b'\n')
    # CR LF, a NUL byte, a line longer than kept (its literal past the cut).
    out.append(pf(6, FAIL % (11, 11))[:-1] + b'\r\n')
    out.append(pf(7, b'connect from \0nul[198.51.100.2]'))
    out.append(pf(8, b'x' * 70000 + FAIL % (12, 12)))
    out.append(pf(9, FAIL % (13, 13)))
    # Noise, then a line as long as scan's read buffer (1 MiB), so that
    # the literal of the line after it is split across two reads.
    for k in range(200):
        out.append(pf(10 + k, NOISE % (k % 250)))
    data = b''.join(out)
    pad = (1 << 20) - len(data) - 60
    data += pf(300, b'y' * max(pad, 10))
    data += pf(301, FAIL % (14, 14))
    for k in range(50):
        data += pf(302 + k, FAIL % (15 + k % 3, k) if k % 7 == 0 else NOISE % k)
    return data


def corpus():
    lines = []
    d = os.path.join(ROOT, 'tests', 'corpus')
    for n in sorted(os.listdir(d)):
        if n.endswith('.txt'):
            with open(os.path.join(d, n), 'rb') as f:
                lines += [l[2:] for l in f.read().split(b'\n')
                          if l.startswith(b'> ')]
    return b'\n'.join(lines) + b'\n'


def write_logs(tmp, more=()):
    """The logs above, and gen-maillog's (with more: (name, its
    arguments)), written in tmp: {name: path}."""
    logs = {}
    for name, data in (('corpus', corpus()), ('tricky', tricky())):
        logs[name] = os.path.join(tmp, name + '.log')
        with open(logs[name], 'wb') as f:
            f.write(data)
    for name, args in (('postfix', ['-f', 'postfix', '-n', '200000', '-s', '3']),
                       ('exim', ['-f', 'exim', '--exim-log', 'mainlog', '-n', '50000', '-s', '4']),
                       ('mixed', ['-f', 'mixed', '-n', '100000', '-s', '5',
                                  '--hostile-rate', '0.01']),
                       ('rfc3339', ['-f', 'mixed', '-t', 'rfc3339', '-n', '50000', '-s', '6'])
                       ) + tuple(more):
        logs[name] = os.path.join(tmp, name + '.log')
        subprocess.run([sys.executable, GEN] + args + ['-o', logs[name]],
                       check=True, capture_output=True)
    return logs


def run(ctl, rules, args, path, front):
    env = dict(os.environ, TZ='UTC')
    if not front:
        env['SMTPWATCH_FRONT'] = 'no'
    p = subprocess.run(['faketime', '-f', CLOCK, ctl, '--rules', rules, 'scan', '--no-progress'] +
                       args + [path], capture_output=True, env=env)
    return p.returncode, p.stdout, p.stderr


def main(argv):
    if len(argv) != 3:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    ctl, novs, rules = argv
    tmp = tempfile.mkdtemp(prefix='smtpwatch-front.')
    logs = write_logs(tmp)
    passed = failed = 0
    for name, path in logs.items():
        for args in (['--json'], ['--events'], ['--missed']):
            want = run(novs, rules, args, path, True)
            for what, got in (('with the front end', run(ctl, rules, args, path, True)),
                              ('SMTPWATCH_FRONT=no', run(ctl, rules, args, path, False))):
                if got == want:
                    passed += 1
                    continue
                failed += 1
                print('FAIL  %s scan %s: %s differs from VECTORSCAN=no (exit %s/%s, '
                      '%d/%d bytes out, stderr %r / %r)' % (
                          name, ' '.join(args), what, got[0], want[0], len(got[1]),
                          len(want[1]), got[2][-300:], want[2][-300:]))
                a, b = got[1].split(b'\n'), want[1].split(b'\n')
                for i, (x, y) in enumerate(zip(a, b)):
                    if x != y:
                        print('      first difference, line %d:\n      %r\n      %r' % (
                            i + 1, x[:300], y[:300]))
                        break
            if want[0] != 0 and args != ['--missed']:
                failed += 1
                print('FAIL  %s scan %s: exit %s: %r' % (name, ' '.join(args), want[0],
                                                        want[2][-300:]))
    shutil.rmtree(tmp)
    print('front end: %d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
