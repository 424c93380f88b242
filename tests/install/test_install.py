#!/usr/bin/env python3
"""tests/install/test_install.py -- `make install` and `make uninstall`
into a temporary DESTDIR, and what systemd's own tools say of the result.

    layout      every file at its path of DESIGN.md section 2, with its
                mode; the installed daemon accepts the installed
                configuration and rules; the installed smtpwatchctl
                check-rules passes the installed corpus; a shipped rules
                file of an earlier release is removed; a second install
                keeps an edited configuration; PREFIX reaches the unit's
                ExecStart=
    systemd     systemd-analyze verify passes on the unit; systemd-analyze
                security --offline=true rates it 1.5 or lower and the
                README quotes the score it gives; systemd-sysusers and
                systemd-tmpfiles make the user and directories;
                journalctl --update-catalog reads every MESSAGE_ID
    uninstall   removes what install put there, keeps the database and an
                edited configuration, and removes an unedited one
"""

import os
import re
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))

from harness import ROOT, TIMEOUT, eq, fail, registry, run_tests  # noqa: E402

TESTS, GROUPS, test = registry()

RULES = sorted(f for f in os.listdir(os.path.join(ROOT, 'rules')) if f.endswith('.rules'))
FILES = {
    'usr/sbin/smtpwatchd': 0o755,
    'usr/bin/smtpwatchctl': 0o755,
    'etc/smtpwatch/smtpwatch.conf': 0o644,
    'usr/share/man/man5/smtpwatch.conf.5': 0o644,
    'usr/share/man/man5/smtpwatch.rules.5': 0o644,
    'usr/share/man/man8/smtpwatchd.8': 0o644,
    'usr/share/man/man8/smtpwatchctl.8': 0o644,
    'usr/lib/systemd/system/smtpwatchd.service': 0o644,
    'usr/lib/systemd/system/smtpwatch-metrics.service': 0o644,
    'usr/lib/systemd/system/smtpwatch-metrics.timer': 0o644,
    'usr/lib/sysusers.d/smtpwatch.conf': 0o644,
    'usr/lib/tmpfiles.d/smtpwatch.conf': 0o644,
    'usr/lib/systemd/catalog/smtpwatch.catalog': 0o644,
    'usr/share/bash-completion/completions/smtpwatchctl': 0o644,
}
FILES.update({'usr/share/smtpwatch/rules/' + r: 0o644 for r in RULES})
CORPUS = sorted(f for f in os.listdir(os.path.join(ROOT, 'tests/corpus')) if f.endswith('.txt'))
FILES.update({'usr/share/smtpwatch/corpus/' + c: 0o644 for c in CORPUS})
FILES.update({'usr/share/smtpwatch/notify/mail': 0o755,
              'usr/share/smtpwatch/notify/webhook': 0o755,
              'usr/share/smtpwatch/fail2ban/filter.d/smtpwatch.conf': 0o644,
              'usr/share/smtpwatch/fail2ban/jail.d/smtpwatch.conf': 0o644})
UNIT = 'usr/lib/systemd/system/smtpwatchd.service'
METRICS_UNIT = 'usr/lib/systemd/system/smtpwatch-metrics.service'
METRICS_TIMER = 'usr/lib/systemd/system/smtpwatch-metrics.timer'
CONF = 'etc/smtpwatch/smtpwatch.conf'


def run(argv, ok=0, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT * 4, **kw)
    if r.returncode != ok:
        fail('%s: exit %d, not %d\n%s%s' % (' '.join(argv), r.returncode, ok,
                                            r.stdout[-3000:], r.stderr[-3000:]))
    return r.stdout + r.stderr


def make(*args):
    return run(['make', '--no-print-directory', '-C', ROOT] + list(args))


def install(dest, *args):
    return make('install', 'DESTDIR=' + dest, *args)


def files(dest):
    """path -> mode of every file (not directory) under dest."""
    out = {}
    for d, _, names in os.walk(dest):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, dest)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def unit_for_verify(w, dest, unit=UNIT):
    """The installed unit with its commands inside DESTDIR, so that
    systemd-analyze verify finds the binary it names."""
    with open(os.path.join(dest, unit)) as f:
        text = f.read()
    path = w.path(os.path.basename(unit))
    with open(path, 'w') as f:
        f.write(text.replace('/usr/sbin/smtpwatchd', os.path.join(dest, 'usr/sbin/smtpwatchd'))
                .replace('/usr/bin/smtpwatchctl', os.path.join(dest, 'usr/bin/smtpwatchctl')))
    return path


@test('layout')
def layout(w):
    dest = w.path('root')
    # 60-local.rules was shipped until the name went to the postmaster.
    os.makedirs(os.path.join(dest, 'usr/share/smtpwatch/rules'))
    with open(os.path.join(dest, 'usr/share/smtpwatch/rules/60-local.rules'), 'w') as f:
        f.write('[diagnosis local/auth-not-advertised]\n')
    install(dest)
    eq(files(dest), FILES, 'the files install writes, with their modes')
    out = run([os.path.join(dest, 'usr/bin/smtpwatchctl'), '-f', os.path.join(dest, CONF),
               '--rules', os.path.join(dest, 'usr/share/smtpwatch/rules'), 'check-rules',
               os.path.join(dest, 'usr/share/smtpwatch/corpus')])
    if not re.search(r'check-rules: [1-9]\d* passed, 0 failed', out):
        fail('check-rules on the installed corpus said:\n' + out)
    out = run([os.path.join(dest, 'usr/sbin/smtpwatchd'), '-n', '-f', os.path.join(dest, CONF),
               '--rules', os.path.join(dest, 'usr/share/smtpwatch/rules')])
    if not re.search(r'configuration OK: 2 logs, \d+ extract and \d+ diagnosis entries '
                     r'from %d rules files' % len(RULES), out):
        fail('the installed daemon on the installed configuration said:\n' + out)
    # Every directive of the shipped configuration, uncommented, is valid.
    with open(os.path.join(dest, CONF)) as f:
        every = re.sub(r'(?m)^#([a-z])', r'\1', f.read())
    with open(w.path('every.conf'), 'w') as f:
        f.write(every)
    run([os.path.join(dest, 'usr/sbin/smtpwatchd'), '-n', '-f', w.path('every.conf'),
         '--rules', os.path.join(dest, 'usr/share/smtpwatch/rules')])
    with open(os.path.join(dest, UNIT)) as f:
        unit = f.read()
    eq(re.findall(r'(?m)^Exec(?:Start|StartPre)=(\S+)', unit),
       ['/usr/sbin/smtpwatchd', '/usr/sbin/smtpwatchd'], 'the unit\'s commands')
    with open(os.path.join(dest, METRICS_UNIT)) as f:
        eq(re.findall(r'(?m)^ExecStart=(.*)$', f.read()),
           ['/usr/bin/smtpwatchctl metrics --output '
            '/var/lib/prometheus/node-exporter/smtpwatch.prom'], 'the metrics unit\'s command')
    # An edited configuration survives a second install.
    with open(os.path.join(dest, CONF), 'a') as f:
        f.write('log /var/log/exim4/mainlog\n')
    out = install(dest)
    if 'kept %s' % os.path.join(dest, CONF) not in out:
        fail('the second install does not say it kept the configuration:\n' + out)
    with open(os.path.join(dest, CONF)) as f:
        if not f.read().endswith('log /var/log/exim4/mainlog\n'):
            fail('the second install overwrote the edited configuration')
    # PREFIX, in a build directory of its own (the paths are compiled in).
    dest2 = w.path('local')
    install(dest2, 'PREFIX=/usr/local', 'B=' + w.path('build-local'))
    with open(os.path.join(dest2, 'usr/local/lib/systemd/system/smtpwatchd.service')) as f:
        if 'ExecStart=/usr/local/sbin/smtpwatchd\n' not in f.read():
            fail('PREFIX=/usr/local: the unit does not start /usr/local/sbin/smtpwatchd')
    with open(os.path.join(dest2, 'usr/local/lib/systemd/system/smtpwatch-metrics.service')) as f:
        if 'ExecStart=/usr/local/bin/smtpwatchctl metrics' not in f.read():
            fail('PREFIX=/usr/local: the metrics unit does not start /usr/local/bin/smtpwatchctl')
    out = run(['strings', os.path.join(dest2, 'usr/local/sbin/smtpwatchd')])
    if '/usr/local/share/smtpwatch/rules' not in out:
        fail('PREFIX=/usr/local: the daemon does not look in /usr/local/share/smtpwatch/rules')


@test('systemd')
def systemd(w):
    dest = w.path('root')
    install(dest)
    out = run(['systemd-analyze', 'verify', '--man=no', unit_for_verify(w, dest)])
    if out.strip():
        fail('systemd-analyze verify has something to say:\n' + out)
    out = run(['systemd-analyze', 'security', '--offline=true', '--no-pager',
               unit_for_verify(w, dest)])
    m = re.search(r'Overall exposure level for smtpwatchd\.service: (\d+\.\d+) (\w+)', out)
    if not m:
        fail('no exposure level in:\n' + out[-2000:])
    score = float(m.group(1))
    if score > 1.5:
        fail('exposure %.1f %s, more than 1.5:\n%s' % (score, m.group(2), out))
    with open(os.path.join(ROOT, 'README')) as f:
        readme = f.read()
    quoted = '%s %s' % (m.group(1), m.group(2))
    if 'systemd-analyze security' not in readme or quoted not in readme:
        fail('the README does not quote the score %r' % quoted)
    # The metrics service and its timer: verified together, rated, and
    # installed without being enabled.
    svc = unit_for_verify(w, dest, METRICS_UNIT)
    timer = w.path('smtpwatch-metrics.timer')
    with open(os.path.join(dest, METRICS_TIMER)) as f, open(timer, 'w') as t:
        t.write(f.read())
    out = run(['systemd-analyze', 'verify', '--man=no', svc, timer])
    if out.strip():
        fail('systemd-analyze verify has something to say of the metrics units:\n' + out)
    out = run(['systemd-analyze', 'security', '--offline=true', '--no-pager', svc])
    m = re.search(r'Overall exposure level for smtpwatch-metrics\.service: (\d+\.\d+)', out)
    if not m or float(m.group(1)) > 1.5:
        fail('the metrics service: exposure more than 1.5:\n' + out[-3000:])
    wants = [os.path.join(d, n) for d, _, ns in os.walk(dest) for n in ns if '.wants' in d]
    eq(wants, [], 'units enabled by make install')
    # The user, the group and the directories.
    run(['systemd-sysusers', '--root=' + dest])
    with open(os.path.join(dest, 'etc/passwd')) as f:
        users = {l.split(':')[0]: l.split(':') for l in f}
    if 'smtpwatch' not in users or users['smtpwatch'][5] != '/var/lib/smtpwatch':
        fail('systemd-sysusers made no user smtpwatch at home in /var/lib/smtpwatch')
    run(['systemd-tmpfiles', '--root=' + dest, '--create',
         os.path.join(dest, 'usr/lib/tmpfiles.d/smtpwatch.conf')])
    uid = int(users['smtpwatch'][2])
    for d, mode in (('var/lib/smtpwatch', 0o750), ('run/smtpwatch', 0o750),
                    ('etc/smtpwatch/rules.d', 0o755)):
        st = os.stat(os.path.join(dest, d))
        eq((oct(stat.S_IMODE(st.st_mode)), st.st_uid),
           (oct(mode), uid if d != 'etc/smtpwatch/rules.d' else 0), '%s: mode and owner' % d)
    # The catalog, as journalctl compiles it.
    run(['journalctl', '--root=' + dest, '--update-catalog'])
    listed = run(['journalctl', '--root=' + dest, '--list-catalog', '--no-pager'])
    with open(os.path.join(ROOT, 'contrib/systemd/smtpwatch.catalog')) as f:
        ids = re.findall(r'(?m)^-- ([0-9a-f]{32})', f.read())
    if not ids:
        fail('no MESSAGE_ID in the catalog')
    missing = [i for i in ids if i not in listed]
    eq(missing, [], 'MESSAGE_IDs journalctl --update-catalog did not take')
    # Bash completion loads and registers the command.
    out = run(['bash', '-c', 'source "$1" && complete -p smtpwatchctl', 'bash',
               os.path.join(dest, 'usr/share/bash-completion/completions/smtpwatchctl')])
    if 'smtpwatchctl' not in out:
        fail('the bash completion registers nothing:\n' + out)


@test('uninstall')
def uninstall(w):
    dest = w.path('root')
    install(dest)
    db = os.path.join(dest, 'var/lib/smtpwatch/smtpwatch.db')
    os.makedirs(os.path.dirname(db))
    with open(db, 'wb') as f:
        f.write(b'SQLite format 3\0')
    with open(os.path.join(dest, CONF), 'a') as f:
        f.write('account-threshold 10\n')
    out = make('uninstall', 'DESTDIR=' + dest)
    eq(sorted(files(dest)), ['etc/smtpwatch/smtpwatch.conf',
                             'var/lib/smtpwatch/smtpwatch.db'],
       'what uninstall leaves (the edited configuration, the database)')
    for s in ('kept %s (changed)' % os.path.join(dest, CONF),
              'kept the database: %s' % os.path.join(dest, 'var/lib/smtpwatch')):
        if s not in out:
            fail('uninstall does not say %r:\n%s' % (s, out))
    # An unedited configuration goes with the rest.
    dest2 = w.path('root2')
    install(dest2)
    make('uninstall', 'DESTDIR=' + dest2)
    eq(files(dest2), {}, 'what uninstall leaves after a fresh install')


if __name__ == '__main__':
    sys.exit(run_tests(TESTS, GROUPS, sys.argv[1:]))
