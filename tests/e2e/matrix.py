"""matrix.py -- the compatibility table of `make check-next`: reads the
verdicts the end-to-end runs wrote ($SMTPWATCH_MATRIX files of
test_postfix.py, test_exim.py and test_next.py: versions, and per log
read, each scenario ok or what differed), prints the versions and the
table, and writes the table into the README between its two marker
lines.  Exits 1 when a run is missing or a scenario was not counted as
expected in some log.

    python3 tests/e2e/matrix.py README DEBIAN12-POSTFIX DEBIAN12-EXIM NEXT-POSTFIX NEXT-EXIM
"""

import json
import re
import sys
import time

BEGIN = '[compatibility table: written by make check-next, from here]'
END = '[compatibility table: to here]'
FOLD = re.compile(r' message repeated (\d+) times: ')


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print('matrix.py: %s: %s' % (path, e), file=sys.stderr)
        return None


def verdict(run):
    """'every scenario counted as expected (LOGS)' or what was not."""
    if run is None:
        return False, 'not run'
    bad = []
    for log, rows in run['logs']:
        for name, _, probs in rows:
            bad += ['%s, %s: %s' % (log, name, p) for p in probs]
    logs = ', '.join(log for log, _ in run['logs'])
    if not bad:
        return True, 'every scenario counted as expected (%s)' % logs
    return False, '; '.join(bad)


def cell(run, scenario):
    if run is None:
        return '-'
    found = [ps for _, rows in run['logs'] for name, _, ps in rows if name == scenario]
    if not found:
        return '-'
    return 'ok' if not any(found) else 'NOT AS EXPECTED'


def folds(runs):
    """What rsyslog made of server-repeated in the testing runs' syslog
    files: (whether it folded in each, lines saying in how many files a
    "message repeated N times" stands for its failures, then each file's
    Ns, one run a line)."""
    files, folded, out = 0, 0, []
    for r in runs:
        each = []
        for log, lines in sorted((r or {}).get('folded', {}).items()):
            ns = [m.group(1) for m in (FOLD.search(l) for l in lines) if m]
            files, folded = files + 1, folded + bool(ns)
            each.append('%s %s' % (log, ' '.join('N=' + n for n in ns) or 'none'))
        if each:
            out.append('  %s: %s' % (r['runner'], ', '.join(each)))
    if not files:
        return False, ['server-repeated not run']
    return folded == files, ['server-repeated folded in %d of %d files:' % (folded, files)] + out


def table(runs):
    """The README's text: versions with a verdict each, then scenarios."""
    d12p, d12e, nxp, nxe = runs
    v = lambda r, k: (r or {}).get('versions', {}).get(k, '?')  # noqa: E731
    out = ['Last run %s.  "Debian 12" is what `make check` runs, "testing" is'
           % time.strftime('%Y-%m-%d'),
           'Debian testing as `make check-next` found it; both play the same',
           'scenarios (tests/e2e/scenarios.py).', '']
    rows = [('Postfix', v(d12p, 'Postfix'), d12p, v(nxp, 'Postfix'), nxp),
            ('Dovecot', v(d12p, 'Dovecot'), d12p, v(nxp, 'Dovecot'), nxp),
            ('Exim', v(d12e, 'Exim'), d12e, v(nxe, 'Exim'), nxe)]
    ok = True
    for name, a, ra, b, rb in rows:
        ga, ta = verdict(ra)
        gb, tb = verdict(rb)
        ok = ok and ga and gb
        out.append('  %-8s Debian 12 %-9s %s' % (name, a, ta))
        out.append('  %-8s testing   %-9s %s' % ('', b, tb))
    out.append('  %-8s testing   %-9s the syslog of the testing runs ($RepeatedMsgReduction on):'
               % ('rsyslog', v(nxp, 'rsyslog')))
    gf, tf = folds([nxp, nxe])
    ok = ok and gf
    out += ['  %-8s           %-9s %s' % ('', '', f) for f in tf]
    out.append('')
    names = []
    for r in runs:
        for _, rows in (r or {}).get('logs', []):
            names += [n for n, _, _ in rows if n not in names]
    heads = ('Postfix ' + v(d12p, 'Postfix'), 'Postfix ' + v(nxp, 'Postfix'),
             'Exim ' + v(d12e, 'Exim'), 'Exim ' + v(nxe, 'Exim'))
    out.append('  %-18s %-16s %-16s %-16s %s' % (('SCENARIO',) + heads))
    for n in names:
        cells = tuple(cell(r, n) for r in (d12p, nxp, d12e, nxe))    # as heads
        out.append(('  %-18s %-16s %-16s %-16s %s' % ((n,) + cells)).rstrip())
    return ok, out


def write_readme(path, lines):
    with open(path) as f:
        text = f.read()
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        print('matrix.py: %s has no marker lines' % path, file=sys.stderr)
        return False
    text = text[:i] + BEGIN + '\n' + '\n'.join(lines) + '\n' + text[j:]
    with open(path, 'w') as f:
        f.write(text)
    return True


def main(argv):
    if len(argv) != 6:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    runs = [load(p) for p in argv[2:6]]
    for r in runs:
        if r:
            print('%-8s %s' % (r['runner'], ', '.join('%s %s' % kv for kv in r['versions'].items())))
    ok, lines = table(runs)
    print('\n'.join(lines))
    if not write_readme(argv[1], lines):
        return 1
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
