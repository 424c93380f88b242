#!/usr/bin/env python3
"""scan_thread.py -- scan counting in a second thread (daemon/evq.c)
changes nothing but speed, and the two threads share nothing unguarded.

Usage: tests/scan_thread.py CTL RULESDIR

1. Each log below is scanned as `scan`, `scan --json` and `scan --missed`
   twice: with the thread, and with SMTPWATCH_SCAN_THREAD=no (counted in
   the thread that reads); standard output, standard error and the exit
   status must be the same.  The logs: every corpus of real shapes and
   the lines written to trip a line-skipping reader (front_same.py's),
   gen-maillog's Postfix, Exim mainlog, mixed and RFC 3339 logs, and a
   storm (half the lines failures: the counting thread is the slower
   one, and the reader waits for free blocks).  Then all of them in one
   scan, with standard input among them (each source's end is a mark in
   the queue, where scan commits), with and without --since and --until.
2. The storm's first lines under valgrind's DRD: a second thread is
   made and joined, and DRD finds no data race.
3. The same under memcheck, with `pcre-jit no` (which smtpwatchctl must
   honour, or memcheck cannot follow the JIT's code): no error, no
   definite or indirect leak.
Every run sees the clock stopped at the hour the test began: faketime,
or under valgrind (DRD finds faketime's own clock racing with itself)
SMTPWATCH_NOW, for the report's "ago" columns.
Python 3 standard library, faketime and valgrind.
"""

import calendar
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_same  # noqa: E402  (its logs and its clock)

CLOCK = front_same.CLOCK
# gen-maillog's logs begin at 00:00 of Nov 28 and run for 17 to 66 minutes.
WINDOW = ['--since', '2026-11-28 00:05', '--until', '2026-11-28 00:12']


def run(ctl, rules, args, paths, thread, stdin=None, conf='/dev/null', wrap=None):
    """(exit, stdout, stderr) of a scan.  Under faketime's clock; or,
    with wrap (a valgrind command, or [] for none), SMTPWATCH_NOW's."""
    env = dict(os.environ, TZ='UTC')
    env.pop('SMTPWATCH_SCAN_THREAD', None)
    if not thread:
        env['SMTPWATCH_SCAN_THREAD'] = 'no'
    argv = [ctl, '-f', conf, '--rules', rules, 'scan', '--no-progress'] + args + paths
    if wrap is not None:    # faketime's clock is not thread-safe: DRD says so
        env['SMTPWATCH_NOW'] = str(int(calendar.timegm(time.strptime(CLOCK,
                                                                     '%Y-%m-%d %H:%M:%S'))))
        argv = list(wrap) + argv
    else:
        argv = ['faketime', '-f', CLOCK] + argv
    with open(stdin if stdin else os.devnull, 'rb') as f:
        p = subprocess.run(argv, stdin=f, capture_output=True, env=env)
    return p.returncode, p.stdout, p.stderr


def compare(what, got, want):
    """1 when the threaded run got what the single thread did."""
    if got == want:
        return 1
    print('FAIL  %s: with the thread (exit %s, %d bytes out, stderr %r) against '
          'without (exit %s, %d bytes out, stderr %r)' % (
              what, got[0], len(got[1]), got[2][-300:], want[0], len(want[1]),
              want[2][-300:]))
    for i, (x, y) in enumerate(zip(got[1].split(b'\n'), want[1].split(b'\n'))):
        if x != y:
            print('      first difference, line %d:\n      %r\n      %r' % (
                i + 1, x[:300], y[:300]))
            break
    return 0


def same(ctl, rules, paths):
    """Part 1: (passed, failed)."""
    passed = failed = 0
    cases = []
    for name, path in paths.items():
        for args in ([], ['--json'], ['--missed']):
            cases.append(('%s scan %s' % (name, ' '.join(args)), args, [path], None))
    every = [paths[n] for n in sorted(paths) if n != 'postfix']
    for args in ([], ['--json'], WINDOW):
        cases.append(('all the logs and standard input, scan %s' % ' '.join(args),
                      args, every[:3] + ['-'] + every[3:], paths['postfix']))
    for what, args, files, stdin in cases:
        want = run(ctl, rules, args, files, False, stdin)
        got = run(ctl, rules, args, files, True, stdin)
        if compare(what, got, want):
            passed += 1
        else:
            failed += 1
        if want[0] != 0 and '--missed' not in args:
            failed += 1
            print('FAIL  %s: exit %s: %r' % (what, want[0], want[2][-300:]))
        if args == WINDOW and not windowed(want[1]):
            failed += 1
            print('FAIL  %s: the window counts no failure, or leaves none out: %r' % (
                what, want[1][:200] + b' ... ' + want[1][-200:]))
    return passed, failed


def windowed(report):
    """1 when a text report counted failures and left events outside
    its window: a window that takes all or nothing tests nothing."""
    inside = re.search(rb'lines, (\d+) failures', report)
    outside = re.search(rb'Window: (\d+) events outside', report)
    return bool(inside and outside and int(inside.group(1)) > 0 and
                int(outside.group(1)) > 0)


def checked(ctl, rules, tmp, storm):
    """Parts 2 and 3: (passed, failed)."""
    sample = os.path.join(tmp, 'sample.log')
    with open(storm, 'rb') as f, open(sample, 'wb') as g:
        g.writelines(l for i, l in zip(range(20000), f))
    conf = os.path.join(tmp, 'nojit.conf')
    with open(conf, 'w') as f:
        f.write('pcre-jit no\n')
    want = run(ctl, rules, [], [sample], False, conf=conf, wrap=[])
    passed = failed = 0
    drd = ['valgrind', '--tool=drd', '--trace-fork-join=yes', '--error-exitcode=9', '-q']
    mc = ['valgrind', '-q', '--error-exitcode=9', '--leak-check=full',
          '--errors-for-leak-kinds=definite,indirect',
          '--show-leak-kinds=definite,indirect']
    for what, wrap in (('DRD', drd), ('memcheck', mc)):
        got = run(ctl, rules, [], [sample], True, conf=conf, wrap=wrap)
        ok = got[0] == 0 and got[1] == want[1]
        if what == 'DRD':
            err = got[2].decode('utf-8', 'replace')
            ok = ok and 'drd_post_thread_create created = 2' in err and \
                'joiner = 1, joinee = 2' in err
        if ok:
            passed += 1
            continue
        failed += 1
        print('FAIL  the storm\'s first 20000 lines under %s: exit %s, report %s, '
              'stderr:\n%s' % (what, got[0], 'the same' if got[1] == want[1] else
                               'different', got[2].decode('utf-8', 'replace')[-3000:]))
    return passed, failed


def main(argv):
    if len(argv) != 2:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    ctl, rules = argv
    tmp = tempfile.mkdtemp(prefix='smtpwatch-thread.')
    try:
        paths = front_same.write_logs(tmp, [('storm', ['-f', 'postfix', '-n', '200000',
                                                        '-s', '2', '-r', '0.5'])])
        p1, f1 = same(ctl, rules, paths)
        p2, f2 = checked(ctl, rules, tmp, paths['storm'])
    finally:
        shutil.rmtree(tmp)
    print('scan thread: %d passed, %d failed' % (p1 + p2, f1 + f2))
    return 1 if f1 + f2 else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
