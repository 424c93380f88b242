#!/usr/bin/env python3
"""test_cli.py -- the command lines of smtpwatchctl and smtpwatchd, as a
postmaster meets them: what each command accepts and refuses, --help,
the man pages' synopses against the programs, --since/--until, and
smtpwatch.conf's comments.

Groups:
  options  every option of smtpwatchctl against every command: the ones
           its usage shows are taken, every other one is a usage error
           naming the option and the command (exit 3); an option given
           twice; an unknown command or option is named
  help     smtpwatchctl --help, CMD --help, smtpwatchd --help/--version
  man      every option in the SYNOPSIS (and in the .It heading) of each
           command in smtpwatchctl(8) is one the command takes, and every
           option it takes is there; the same for smtpwatchd(8); the
           exit statuses the pages give are the programs'
  window   --since/--until on the listings of a real daemon's database
           and on scan FILE, durations, dates and yesterday: the same
           failures in both, and those of the window only
  conf     a comment after a value in smtpwatch.conf

Usage: python3 tests/ctl/test_cli.py [TEST|GROUP ...]
"""

import json
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import (BIN, CTL, RULES, TIMEOUT, Daemon, append, epoch, eq, fail,  # noqa: E402
                     pf_fail, pf_success, run_tests)

TESTS = {}
GROUPS = {}

# Every option of smtpwatchctl's commands, with a value where it takes one.
OPTIONS = {
    'direction': ['server'], 'dry-run': [], 'events': [], 'failing': [],
    'format': ['plain'], 'host': ['mx1'],
    'journal': [], 'json': [], 'missed': [], 'no-progress': [], 'open': [],
    'output': ['OUT'], 'since': ['1h'], 'until': ['now'], 'verbose': [],
}
# The arguments a command needs besides its options.
ARGS = {'reset': ['nobody@example.org'], 'show': ['nobody@example.org'],
        'scan': ['/dev/null']}


def test(group):
    def reg(fn):
        name = group + '-' + fn.__name__.replace('_', '-')
        TESTS[name] = fn
        GROUPS.setdefault(group, []).append(name)
        return fn
    return reg


def run(argv, env=None, binary=CTL):
    e = dict(os.environ, LC_ALL='C.UTF-8', TZ='UTC')
    e.update(env or {})
    try:
        r = subprocess.run([binary] + argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=e, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        fail('%s %s did not finish within %gs' % (binary, ' '.join(argv), TIMEOUT))
    return r.returncode, r.stdout.decode('utf-8'), r.stderr.decode('utf-8')


def usage_options(line):
    """The options of one usage line: {'json', 'since', ...}."""
    return set(re.findall(r'\[--([a-z-]+)', line))


def commands():
    """command -> its options, from smtpwatchctl --help."""
    rc, out, err = run(['--help'])
    eq(rc, 0, 'smtpwatchctl --help exit status')
    cmds = {}
    for line in out.splitlines():
        m = re.match(r'\s*(?:usage: )?smtpwatchctl ([a-z][a-z-]*)(.*)$', line)
        if m and not line.strip().startswith('usage:'):
            cmds[m.group(1)] = usage_options(m.group(2))
    if len(cmds) < 12:
        fail('smtpwatchctl --help lists %d commands:\n%s' % (len(cmds), out))
    return cmds


def conf(w):
    """A configuration whose database, socket and journal are all absent."""
    path = w.path('smtpwatch.conf')
    os.mkdir(w.path('journal'))
    with open(path, 'w') as f:
        f.write('database %s\ncontrol %s\njournal-directory %s\n' % (
            w.path('none.db'), w.path('none.sock'), w.path('journal')))
    return path


# ===========================================================================
# options
# ===========================================================================

# A usage error's exit status, when not 3.
USAGE_RC = {'check-relay': 2}


@test('options')
def matrix(w):
    """Each command takes the options of its usage and refuses the
    others, by name, with its usage, exit 3 (check-relay: 2, as issue 22
    asks; its 3 says the MTA's configuration cannot be read); never
    silently."""
    cf = conf(w)
    checked = 0
    for cmd, opts in sorted(commands().items()):
        for opt, val in sorted(OPTIONS.items()):
            val = [w.path('out.prom') if v == 'OUT' else v for v in val]
            argv = ['-f', cf, '--rules', RULES, cmd, '--' + opt] + val + ARGS.get(cmd, [])
            rc, out, err = run(argv)
            refused = '%s does not take --%s' % (cmd, opt)
            if opt in opts:
                if refused in err or 'usage:' in err:
                    fail('%s refuses --%s, which its usage shows: %s' % (cmd, opt, err))
            else:
                want = USAGE_RC.get(cmd, 3)
                if rc != want or refused not in err or 'usage: smtpwatchctl %s' % cmd not in err:
                    fail('smtpwatchctl %s: exit %d, stderr %r; want exit %d and %r' % (
                        ' '.join(argv[4:]), rc, err, want, refused))
                if out:
                    fail('%s --%s: refused, but printed %r' % (cmd, opt, out[:200]))
            checked += 1
    eq(checked >= 12 * len(OPTIONS), True, 'combinations checked')


@test('options')
def arguments(w):
    """Arguments too many or missing, options twice, unknown options and
    commands, bad values: usage errors that say what is wrong, exit 3."""
    cf = conf(w)
    cases = [
        (['accounts', 'extra'], 'accounts takes no arguments'),
        (['reset'], 'reset needs SUBJECT'),
        (['show', 'a', 'b'], 'show takes one argument'),
        (['accounts', '--json', '--json'], '--json given twice'),
        (['incidents', '--frob'], 'unknown option --frob'),
        (['--frob', 'incidents'], 'unknown option --frob'),
        (['bogus'], 'unknown command "bogus"'),
        (['accounts', '--direction', 'up'], '--direction up: server or client'),
        (['accounts', '--since', 'soon'], '--since soon: not a time'),
        (['relays', '--until', '2026-13-01'], '--until 2026-13-01: not a time'),
        (['incidents', '--since', '1h', '--until', '2h'], 'is not before --until'),
        (['accounts', '--host', ''], '--host needs a host name'),
        (['accounts', '--since'], '--since needs a value'),
        (['--version', 'status'], '--version goes alone'),
        (['addresses', '--format', 'csv'], '--format csv: plain or nft'),
        (['addresses', '--format', 'nft', '--json'], '--format and --json exclude each other'),
        (['check-relay', 'a', 'b'], 'check-relay takes one argument'),
        (['check-relay', '--live', '--live'], '--live given twice'),
    ]
    for args, want in cases:
        rc, out, err = run(['-f', cf, '--rules', RULES] + args)
        code = USAGE_RC.get(args[0], 3)
        if rc != code or want not in err or out:
            fail('smtpwatchctl %s: exit %d, stdout %r, stderr %r; want exit %d and %r' % (
                ' '.join(args), rc, out, err, code, want))
    # a subject that starts with a dash, after --
    rc, out, err = run(['-f', cf, '--rules', RULES, 'show', '--', '-x'])
    eq((rc, 'unknown option' in err), (3, False), 'show -- -x (no database)')


# ===========================================================================
# help
# ===========================================================================

@test('help')
def usage(w):
    """--help and CMD --help on stdout, exit 0; smtpwatchd's too."""
    cmds = commands()
    for cmd, opts in cmds.items():
        rc, out, err = run([cmd, '--help'])
        first = out.splitlines()[0] if out else ''
        if rc != 0 or not first.startswith('usage: smtpwatchctl %s' % cmd) or err:
            fail('%s --help: exit %d, stdout %r, stderr %r' % (cmd, rc, out, err))
        eq(usage_options(first), opts, '%s --help options' % cmd)
    rc, out, err = run(['--version'])
    if rc != 0 or not re.match(r'smtpwatchctl \d', out):
        fail('smtpwatchctl --version: %d %r' % (rc, out))
    rc, out, err = run([], binary=CTL)
    if rc != 3 or 'usage: smtpwatchctl' not in err:
        fail('smtpwatchctl alone: exit %d, stderr %r' % (rc, err))
    rc, out, err = run(['--help'], binary=BIN)
    if rc != 0 or not out.startswith('usage: smtpwatchd') or err:
        fail('smtpwatchd --help: exit %d, stdout %r, stderr %r' % (rc, out, err))
    rc, out, err = run(['--version'], binary=BIN)
    if rc != 0 or not re.match(r'smtpwatchd \d', out):
        fail('smtpwatchd --version: %d %r' % (rc, out))
    for args in (['--frob'], ['extra']):
        rc, out, err = run(args, binary=BIN)
        if rc != 1 or 'usage: smtpwatchd' not in err:
            fail('smtpwatchd %s: exit %d, stderr %r' % (args, rc, err))


# ===========================================================================
# man
# ===========================================================================

def man_synopsis(page):
    """name -> set of long and short options, per .Nm block of the
    SYNOPSIS of man/PAGE: the command (.Cm) names the block, '' the
    program itself."""
    text = open(os.path.join(ROOT, 'man', page)).read()
    syn = text[text.index('.Sh SYNOPSIS'):text.index('.Sh DESCRIPTION')]
    out = {}
    for block in syn.split('\n.Nm')[1:]:
        m = re.search(r'^\.Cm ([a-z-]+)', block, re.M)
        name = m.group(1) if m else ''
        opts = out.setdefault(name, set())
        for fl in re.findall(r'Fl (-?[A-Za-z-]+)', block):
            if fl.startswith('-'):
                opts.add(fl[1:])
            else:
                opts.update(fl)        # .Fl dn: -d and -n
    return out, text


@test('man')
def synopsis(w):
    """smtpwatchctl(8): each command's synopsis and its .It heading show
    exactly the options the command takes; smtpwatchd(8) the options
    smtpwatchd takes."""
    cmds = commands()
    syn, text = man_synopsis('smtpwatchctl.8')
    for cmd, opts in cmds.items():
        if cmd not in syn:
            fail('smtpwatchctl(8) has no synopsis of %s' % cmd)
        eq(syn[cmd], opts, 'smtpwatchctl(8) SYNOPSIS of %s' % cmd)
        heads = re.findall(r'^\.It Cm %s\b(.*)$' % re.escape(cmd), text, re.M)
        if not heads:
            fail('smtpwatchctl(8) describes no %s' % cmd)
        shown = set()
        for h in heads:
            shown.update(re.findall(r'Fl -([a-z-]+)', h))
        eq(shown, opts, 'smtpwatchctl(8) .It Cm %s' % cmd)
    if not {'f', 'rules', 'help', 'version'} <= syn.get('', set()):
        fail('smtpwatchctl(8) SYNOPSIS lacks the common options: %r' % syn.get(''))
    dsyn, dtext = man_synopsis('smtpwatchd.8')
    rc, out, err = run(['--help'], binary=BIN)
    have = set()
    for line in out.splitlines():
        for grp in re.findall(r'\[-([a-z]+)\]', line):
            have.update(grp)
        have.update(re.findall(r'-([a-z])\s', line + ' '))
        have.update(re.findall(r'--([a-z-]+)', line))
    eq(dsyn[''], have, 'smtpwatchd(8) SYNOPSIS against smtpwatchd --help')


@test('man')
def exit_status(w):
    """The EXIT STATUS sections give the usage errors' statuses the
    programs use: 3 for smtpwatchctl, 1 for smtpwatchd."""
    text = open(os.path.join(ROOT, 'man', 'smtpwatchctl.8')).read()
    sect = text[text.index('.Sh EXIT STATUS'):text.index('.Sh EXAMPLES')]
    if 'exits 0 on success and 3 on an error: a usage error' not in sect:
        fail('smtpwatchctl(8) EXIT STATUS does not say a usage error is 3')
    rc, out, err = run(['accounts', '--open'])
    eq(rc, 3, 'smtpwatchctl usage error')
    rc, out, err = run(['reset', '--host', 'x', 'y', '-f', '/nonexistent'])
    eq(rc, 3, 'smtpwatchctl with a missing -f file')
    text = open(os.path.join(ROOT, 'man', 'smtpwatchd.8')).read()
    sect = text[text.index('.Sh EXIT STATUS'):]
    if 'It exits 1 on a usage error' not in sect:
        fail('smtpwatchd(8) EXIT STATUS does not say a usage error is 1')
    rc, out, err = run(['-x'], binary=BIN)
    eq(rc, 1, 'smtpwatchd usage error')


@test('man')
def rendering(w):
    """Every page, through groff (what man shows on Debian) and mandoc:
    no "BSD" where the project is meant, no quote inside a quote."""
    for page in sorted(os.listdir(os.path.join(ROOT, 'man'))):
        path = os.path.join(ROOT, 'man', page)
        for argv in (['groff', '-mandoc', '-Tutf8', '-P-c', '-P-b', '-P-u', path],
                     ['mandoc', '-Tutf8', path]):
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, MANWIDTH='80'))
            text = re.sub('.\b', '', r.stdout.decode('utf-8'))
            if r.returncode != 0 or not text:
                fail('%s: exit %d %s' % (' '.join(argv), r.returncode, r.stderr[-300:]))
            if 'BSD' in text:
                fail('%s shows BSD: %r' % (' '.join(argv[:-1] + [page]),
                                          [l for l in text.splitlines() if 'BSD' in l]))
            depth = 0               # a quote may wrap onto the next line
            for n, line in enumerate(text.splitlines(), 1):
                for ch in line:
                    depth += {'\u2018': 1, '\u2019': -1}.get(ch, 0)
                    if depth > 1 or depth < 0:
                        fail('%s line %d: a quote in a quote: %r' % (page, n, line))


# ===========================================================================
# window
# ===========================================================================

def window_log():
    """Failures of alice at 04:00, 04:30, 05:10 and 23:59 (hours after
    the harness's 2026-11-28T04:00Z), of bob at 04:31, of a relay none."""
    return (pf_fail('alice@example.org', '203.0.113.5', 0, rfc3339=True) +
            pf_fail('alice@example.org', '203.0.113.5', 1800, rfc3339=True) +
            pf_fail('bob@example.org', '203.0.113.6', 1860, rfc3339=True) +
            pf_fail('alice@example.org', '203.0.113.7', 4200, rfc3339=True) +
            pf_fail('alice@example.org', '203.0.113.7', 71940, rfc3339=True))


def failures(rows):
    return {r['account']: r['failures'] for r in rows}


@test('window')
def listings(w):
    """accounts, addresses, incidents and relays with --since/--until
    give the failures of the window; scan FILE gives the same."""
    log = w.path('mail.log')
    with open(log, 'wb') as f:
        f.write(window_log())
    # Minute buckets for the whole log (20 hours), so that the windows
    # are exact to the minute, as scan's; bucket-rollup's whole hours are
    # test_storage.py rollup's.
    d = Daemon(w, [log], extra_conf='bucket-rollup 1d')
    d.start()
    d.wait_caught_up()
    d.term()
    now = {'SMTPWATCH_NOW': str(epoch(86400 + 3600))}      # 2026-11-29T05:00Z
    cases = [
        ([], {'alice@example.org': 4, 'bob@example.org': 1}),
        (['--since', '2026-11-28T04:30'], {'alice@example.org': 3, 'bob@example.org': 1}),
        (['--since', '2026-11-28T04:30', '--until', '2026-11-28T05:00'],
         {'alice@example.org': 1, 'bob@example.org': 1}),
        (['--until', '2026-11-28T04:30Z'], {'alice@example.org': 1}),
        (['--since', 'yesterday', '--until', 'today'],
         {'alice@example.org': 4, 'bob@example.org': 1}),
        (['--since', 'today'], {}),
        (['--since', '23h'], {'alice@example.org': 1}),
        (['--since', '2026-11-28', '--until', '2026-11-28T05:00'],
         {'alice@example.org': 2, 'bob@example.org': 1}),
    ]
    for args, want in cases:
        rc, out, err = run(['-f', d.conf, '--rules', RULES, 'accounts', '--json'] + args,
                           env=now)
        eq(rc, 0, 'accounts %s: exit status (%s)' % (args, err))
        eq(failures(json.loads(out)), want, 'accounts %s' % ' '.join(args))
        rc, out, err = run(['-f', d.conf, '--rules', RULES, 'scan', '--json',
                            '--no-progress'] + args + [log], env=now)
        eq(rc, 0, 'scan %s: exit status (%s)' % (args, err))
        rep = json.loads(out)
        eq(failures(rep['accounts']), want, 'scan %s' % ' '.join(args))
        eq(rep['events']['failure'], sum(want.values()), 'scan %s: failures' % args)
        if args:
            eq(rep['coverage']['outside'], 5 - sum(want.values()),
               'scan %s: events outside' % args)
    # addresses and --host
    rc, out, err = run(['-f', d.conf, '--rules', RULES, 'addresses', '--json', '--since',
                        '2026-11-28T05:00', '--until', '2026-11-28T06:00'], env=now)
    eq({r['addr']: r['failures'] for r in json.loads(out)}, {'203.0.113.7': 1},
       'addresses in a window')
    rc, out, err = run(['-f', d.conf, '--rules', RULES, 'accounts', '--json', '--host', 'mx2'], env=now)
    eq(json.loads(out), [], 'accounts --host mx2')
    rc, out, err = run(['-f', d.conf, '--rules', RULES, 'accounts', '--json', '--host', 'mx1'], env=now)
    eq(len(json.loads(out)), 2, 'accounts --host mx1')
    # incidents: none before the first failure
    rc, out, err = run(['-f', d.conf, '--rules', RULES, 'incidents', '--json', '--until', '2026-11-28T03:00'],
                       env=now)
    eq(json.loads(out), [], 'incidents before any failure')


# ===========================================================================
# firewall: addresses --failing --format plain|nft
# ===========================================================================

@test('firewall')
def failing(w):
    """A brute force from 203.0.113.5, a spray from 2001:db8::66 and a
    network folded or not, and bob's own phone at 198.51.100.7, from which
    bob logged in before its password went stale: --failing leaves the
    phone out; --format plain prints one address a line, nft the input of
    nft -f, IPv4 and IPv6 in their sets; the table and JSON filter alike."""
    log = w.path('mail.log')
    data = pf_success('bob@example.org', '198.51.100.7', 0)
    for k in range(6):
        data += pf_fail('alice@example.org', '203.0.113.5', 60 + k)
        data += pf_fail('user%d@example.org' % k, '2001:db8::66', 120 + k)
        data += pf_fail('bob@example.org', '198.51.100.7', 180 + k)
    with open(log, 'wb') as f:
        f.write(data)
    d = Daemon(w, [log])
    d.start()
    d.wait_caught_up()
    d.term()
    base = ['-f', d.conf, '--rules', RULES, 'addresses']
    rc, out, err = run(base + ['--format', 'plain'])
    eq((rc, sorted(out.split())), (0, ['198.51.100.7', '2001:db8::66', '203.0.113.5']),
       'addresses --format plain')
    rc, out, err = run(base + ['--failing', '--format', 'plain'])
    eq((rc, out), (0, '2001:db8::66\n203.0.113.5\n'), 'addresses --failing --format plain '
       '(most failures first, then by address)')
    rc, out, err = run(base + ['--failing', '--format', 'nft'])
    eq((rc, out), (0, 'add element inet smtpwatch failing4 { 203.0.113.5 }\n'
                      'add element inet smtpwatch failing6 { 2001:db8::66 }\n'),
       'addresses --failing --format nft')
    rc, out, err = run(base + ['--failing', '--json'])
    eq(sorted(r['addr'] for r in json.loads(out)), ['2001:db8::66', '203.0.113.5'],
       'addresses --failing --json')
    rc, out, err = run(base + ['--failing'])
    if rc != 0 or '203.0.113.5' not in out or '198.51.100.7' in out:
        fail('addresses --failing (table): exit %d:\n%s%s' % (rc, out, err))
    rc, out, err = run(base + ['--failing', '--format', 'nft', '--since', '2026-12-31'])
    eq((rc, out), (0, ''), 'addresses --failing --format nft with nothing in the window')
    nft_apply(w, base)


# The table and sets of smtpwatchctl(8)'s EXAMPLES, then its pipe.
NFT_SETUP = '''
nft add table inet smtpwatch
nft add set inet smtpwatch failing4 '{ type ipv4_addr; flags interval, timeout; timeout 1h; }'
nft add set inet smtpwatch failing6 '{ type ipv6_addr; flags interval, timeout; timeout 1h; }'
nft add chain inet smtpwatch input '{ type filter hook input priority 0; }'
nft add rule inet smtpwatch input ip saddr @failing4 tcp dport '{ 25, 465, 587 }' drop
nft add rule inet smtpwatch input ip6 saddr @failing6 tcp dport '{ 25, 465, 587 }' drop
"$0" "$@" --failing --format nft | nft -f -
nft list set inet smtpwatch failing4
nft list set inet smtpwatch failing6
'''


def nft_apply(w, base):
    """The man page's nftables example, in a network namespace of its own
    (as root, with nft): the sets hold the two attackers, not the phone."""
    nft = shutil.which('nft') or ('/usr/sbin/nft' if os.path.exists('/usr/sbin/nft') else None)
    if os.geteuid() != 0 or nft is None:
        print('      (nft applied: skipped, needs root and nft)')
        return
    env = dict(os.environ, PATH=os.path.dirname(nft) + ':' + os.environ.get('PATH', ''))
    r = subprocess.run(['unshare', '--net', 'sh', '-ec', NFT_SETUP, CTL] + base,
                       capture_output=True, timeout=TIMEOUT, env=env)
    out = r.stdout.decode('utf-8', 'replace')
    if r.returncode != 0 or '203.0.113.5' not in out or '2001:db8::66' not in out or \
            '198.51.100.7' in out:
        fail('the nft example: exit %d:\n%s%s' % (r.returncode, out,
                                                 r.stderr.decode('utf-8', 'replace')))


# ===========================================================================
# conf
# ===========================================================================

@test('conf')
def comments(w):
    """'retention 30d  # a month' is 30d; a # inside a word is not a
    comment; a directive with only a comment has no value."""
    cf = w.path('smtpwatch.conf')
    with open(cf, 'w') as f:
        f.write('retention 30d  # a month\nlog %s # the log\n' % w.path('mail#1.log'))
    rc, out, err = run(['-n', '-f', cf, '--rules', RULES], binary=BIN)
    if rc != 0 or 'configuration OK: 1 logs' not in out:
        fail('a comment after values: exit %d, %r %r' % (rc, out, err))
    with open(cf, 'w') as f:
        f.write('retention # none\n')
    rc, out, err = run(['-n', '-f', cf, '--rules', RULES], binary=BIN)
    if rc != 1 or '%s:1: retention' % cf not in err:
        fail('a value that is only a comment: exit %d, %r' % (rc, err))


def main():
    return run_tests(TESTS, GROUPS, sys.argv[1:])


if __name__ == '__main__':
    sys.exit(main())
