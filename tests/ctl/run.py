#!/usr/bin/env python3
"""tests/ctl/run.py -- golden tests of smtpwatchctl's listings.

A fixed corpus, tests/ctl/mail.log (RFC 3339 stamps of 2025-06-17, two
hosts, both directions) plus one line built here whose account holds an
ESC and a CR, is fed to the real daemon (build/smtpwatchd, `start-at
beginning`, a temporary directory).  When its checkpoint stands at the
end of the file (harness.py's wait_caught_up, woken by the daemon's
NOTIFY messages) the daemon is stopped, and each command below runs
with SMTPWATCH_NOW fixed at 2025-06-17T10:20:00Z.  Its standard output
is diffed against tests/ctl/golden/NAME.out; --json output is also
parsed with json.loads.  Then: the attacker-typed account reaches no
output as control bytes (text: \\x1b and \\x0d; JSON: \\u001b, decoded
back to the bytes), the database file is unchanged by the readers, and
the error cases exit as documented.

Usage: python3 tests/ctl/run.py
Regenerate the golden files after an intended change of the output:
    UPDATE_GOLDEN=1 python3 tests/ctl/run.py
then read `git diff tests/ctl/golden` before committing them.
"""

import calendar
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import CTL, RULES, Daemon, Workdir, fail  # noqa: E402

GOLDEN = os.path.join(HERE, 'golden')
NOW = calendar.timegm((2025, 6, 17, 10, 20, 0))
HOSTILE = b'\x1b[31mevil\rname'


def failure_line(minute, addr, account):
    return (b'2025-06-17T09:%02d:00+00:00 mx1 postfix/smtpd[3600]: warning: '
            b'unknown[%s]: SASL LOGIN authentication failed: '
            b'UGFzc3dvcmQ6, sasl_username=%s\n' % (minute, addr, account))


# Names in other scripts: UTF-8 (shown as it is), the same name in
# Latin-1 (not UTF-8: \xfc), a client typing the text of that escape
# (a backslash doubled), and wide characters (two columns each).
UTF8 = 'j\u00fcrgen@example.de'.encode()
LATIN1 = b'j\xfcrgen@example.de'
TYPED = b'j\\xfcrgen@example.de'
WIDE = '\u7530\u4e2d@example.jp'.encode()
HOSTILE_LINE = (failure_line(31, b'203.0.113.5', HOSTILE) +
                failure_line(32, b'203.0.113.6', UTF8) +
                failure_line(33, b'203.0.113.7', LATIN1) +
                failure_line(34, b'203.0.113.8', TYPED) +
                failure_line(35, b'203.0.113.9', WIDE))

# name -> argv after the options; golden/NAME.out is its stdout.
CASES = [
    ('accounts', ['accounts']),
    ('accounts-json', ['accounts', '--json']),
    ('accounts-since', ['accounts', '--since', '50m']),
    ('accounts-since-json', ['accounts', '--since', '50m', '--json']),
    ('accounts-client', ['accounts', '--direction', 'client']),
    ('accounts-server-since', ['accounts', '--direction', 'server', '--since', '90m']),
    ('addresses', ['addresses']),
    ('addresses-json', ['addresses', '--json']),
    ('addresses-since', ['addresses', '--since', '1h']),
    ('relays', ['relays']),
    ('relays-json', ['relays', '--json']),
    ('incidents', ['incidents']),
    ('incidents-json', ['incidents', '--json']),
    ('incidents-open', ['incidents', '--open']),
    ('incidents-open-json', ['--json', 'incidents', '--open']),
    ('show-account', ['show', 'admin@example.org']),
    ('show-account-json', ['show', '--json', 'admin@example.org']),
    ('show-account-closed', ['show', 'bob@example.org']),
    ('show-address', ['show', '192.0.2.200']),
    ('show-address-json', ['show', '192.0.2.200', '--json']),
    ('show-relay', ['show', 'smtp.gmail.com']),
    ('show-relay-json', ['show', '--json', 'smtp.gmail.com']),
    ('show-hostile', ['show', '\\x1b[31mevil\\x0dname']),
    ('show-hostile-json', ['show', '--json', '\\x1b[31mevil\\x0dname']),
]

CONTROL = re.compile(rb'[\x00-\x09\x0b-\x1f\x7f]')


def ctl(conf, args, env_extra=None):
    env = dict(os.environ, SMTPWATCH_NOW=str(NOW), TZ='UTC', NO_COLOR='1',
               LC_ALL='C.UTF-8')
    env.update(env_extra or {})
    return subprocess.run([CTL, '-f', conf, '--rules', RULES] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def jq(query, data):
    """The values jq prints for query on data (bytes), one per line."""
    r = subprocess.run(['jq', '-c', query], input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        fail('jq %s: %s' % (query, r.stderr.decode('utf-8', 'replace')))
    return [json.loads(l) for l in r.stdout.splitlines()]


def fields(line):
    """(start, end) display columns of each field of a table line."""
    out, col, prev = [], 0, ' '
    for ch in line + ' ':
        if ch != ' ' and prev == ' ':
            out.append([col, col])
        if ch != ' ':
            out[-1][1] = col + (2 if unicodedata.east_asian_width(ch) in 'WF' else 1)
        col += 2 if unicodedata.east_asian_width(ch) in 'WF' else 1
        prev = ch
    return out


def check_names(conf, outs, check):
    """UTF-8 names as they are; the others distinct, by jq and by eye."""
    data = outs.get('accounts-json', b'[]')
    got = jq('.[] | select(.account == "j\u00fcrgen@example.de") | .account_hex', data)
    check('utf8-jq', got == [UTF8.hex()])
    got = jq('.[] | select(.account_hex == "%s") | .account' % LATIN1.hex(), data)
    check('latin1-jq', got == ['j\\xfcrgen@example.de'])
    got = jq('.[] | select(.account_hex == "%s") | .account' % TYPED.hex(), data)
    check('typed-jq', got == ['j\\\\xfcrgen@example.de'])
    check('utf8-json-raw', UTF8 in data and b'\\u00' not in data)
    # Text: UTF-8 under a UTF-8 locale, escaped under another.
    r = ctl(conf, ['accounts'], {'LC_ALL': 'C.UTF-8'})
    text = r.stdout.decode('utf-8')
    check('utf8-text', UTF8.decode() in text and 'j\\xfcrgen' in text and
          'j\\\\xfcrgen' in text and WIDE.decode() in text)
    # HOST, DIRECTION, ACCOUNT start where their headings do; FAILURES,
    # a number, ends where its heading does.
    cols = [fields(l) for l in text.splitlines() if l.strip()]
    lined = [[c[0][0], c[1][0], c[2][0], c[3][1]] for c in cols]
    check('utf8-aligned', all(c == lined[0] for c in lined))
    if not all(c == lined[0] for c in lined):
        print(text)
    r = ctl(conf, ['accounts'], {'LC_ALL': 'C'})
    check('ascii-text', r.returncode == 0 and
          b'j\\xc3\\xbcrgen@example.de' in r.stdout and
          max(r.stdout) < 0x80)
    # show and reset name them as the listings show them.
    for name, raw in ((UTF8, UTF8), (b'j\\xfcrgen@example.de', LATIN1),
                      (b'j\\\\xfcrgen@example.de', TYPED)):
        r = ctl(conf, ['show', '--json', name.decode('utf-8')])
        got = json.loads(r.stdout or b'{}').get('subject_hex') if r.returncode == 0 else None
        check('show-%s' % raw.hex()[:8], got == raw.hex())


def main():
    update = bool(os.environ.get('UPDATE_GOLDEN'))
    failed = []
    with Workdir('ctl') as w:
        log = w.path('mail.log')
        with open(os.path.join(HERE, 'mail.log'), 'rb') as f:
            corpus = f.read()
        with open(log, 'wb') as f:
            f.write(corpus + HOSTILE_LINE)
        d = Daemon(w, [log], extra_conf='control %s' % w.path('control.sock'))
        d.start()
        d.wait_caught_up()
        d.term()
        files = sorted(os.listdir(w.dir))
        before = digest(d.db)
        if any(n.endswith('-wal') for n in files):
            fail('the daemon left a -wal file after a clean exit: %s' % files)

        outs = {}
        for name, args in CASES:
            r = ctl(d.conf, args)
            if r.returncode != 0:
                failed.append(name)
                print('FAIL  %s: exit %d: %s' % (name, r.returncode,
                                                r.stderr.decode('utf-8', 'replace')))
                continue
            outs[name] = r.stdout
            if name.endswith('-json'):
                try:
                    json.loads(r.stdout)
                except ValueError as e:
                    failed.append(name)
                    print('FAIL  %s: not JSON: %s' % (name, e))
                    continue
            if CONTROL.search(r.stdout):
                failed.append(name)
                print('FAIL  %s: a control byte in the output' % name)
                continue
            gold = os.path.join(GOLDEN, name + '.out')
            if update:
                with open(gold, 'wb') as f:
                    f.write(r.stdout)
                print('wrote %s' % os.path.relpath(gold))
                continue
            want = open(gold, 'rb').read() if os.path.exists(gold) else b''
            if r.stdout != want:
                failed.append(name)
                t = w.path(name + '.got')
                with open(t, 'wb') as f:
                    f.write(r.stdout)
                diff = subprocess.run(['diff', '-u', gold, t], stdout=subprocess.PIPE)
                print('FAIL  %s: differs from %s\n%s' % (
                    name, os.path.relpath(gold), diff.stdout.decode('utf-8', 'replace')))
            else:
                print('ok    %s' % name)

        # The hostile account: escaped in text, exact in JSON.
        def check(what, cond):
            if not cond:
                failed.append(what)
                print('FAIL  %s' % what)
            else:
                print('ok    %s' % what)

        check('hostile-text', b'\\x1b[31mevil\\x0dname' in outs.get('accounts', b''))
        rows = json.loads(outs.get('accounts-json', b'[]'))
        hit = [r for r in rows if r['account_hex'] == HOSTILE.hex()]
        check('hostile-json', len(hit) == 1 and
              hit[0]['account'] == '\\x1b[31mevil\\x0dname')
        check_names(d.conf, outs, check)
        show = json.loads(outs.get('show-hostile-json', b'{}'))
        check('hostile-show', show.get('subject_hex') == HOSTILE.hex() and
              len(show.get('accounts', [])) == 1)

        # Errors: nothing named so, a bad option value, a missing database.
        r = ctl(d.conf, ['show', 'nobody@example.org'])
        check('show-missing', r.returncode == 1 and r.stdout == b'' and
              b'no account, address or relay nobody@example.org' in r.stderr)
        r = ctl(d.conf, ['show', '--json', 'nobody@example.org'])
        check('show-missing-json', r.returncode == 1 and r.stdout == b'')
        r = ctl(d.conf, ['accounts', '--direction', 'sideways'])
        check('bad-direction', r.returncode == 3 and b'--direction' in r.stderr)
        r = ctl(d.conf, ['accounts', '--since', 'soon'])
        check('bad-since', r.returncode == 3 and b'--since' in r.stderr)
        r = ctl(d.conf, ['relays', 'extra'])
        check('extra-argument', r.returncode == 3 and b'usage:' in r.stderr)
        r = ctl(d.conf, ['incidents', '--json'], {'SMTPWATCH_NOW': 'x'})
        check('bad-now', r.returncode == 0 and b'SMTPWATCH_NOW' in r.stderr)
        gone = w.path('gone.conf')
        with open(gone, 'w') as f:
            f.write('database %s\n' % w.path('missing.db'))
        r = ctl(gone, ['accounts'])
        check('missing-database', r.returncode == 3 and b'missing.db' in r.stderr and
              not os.path.exists(w.path('missing.db')))

        # Readers never write.
        after = sorted(n for n in os.listdir(w.dir) if not n.endswith('.got') and n != 'gone.conf')
        check('read-only', digest(d.db) == before and after == files)
        if after != files:
            print('      files before: %s\n      files after: %s' % (files, after))
        # With the daemon running (its -wal beside the database), the same.
        d.start()
        r = ctl(d.conf, ['accounts'])
        check('daemon-running', r.returncode == 0 and r.stdout == outs.get('accounts'))
        d.term()

    print('%d failed%s' % (len(failed), ': ' + ' '.join(failed) if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
