"""test_relay.py -- smtpwatchctl check-relay against a real Postfix 3.7
configuration, and check-relay --live against a local relay with STARTTLS.

    python3 tests/e2e/test_relay.py static|live|exim [--asan]   (as root; `make` first)

The Postfix of test_postfix.py (Debian's package, fetched with apt-get
download and unpacked under build/e2e-debs/, never installed) is laid
over /usr, /etc and /var in a private mount namespace by the same code
(Lab, imported), so the real postconf and postmap answer check-relay;
Postfix itself is never started, nothing of the host's /etc is touched.

static: a correct configuration gives exit 0; then each finding is made
by breaking that configuration the way postmasters do, must be reported
(exit 1) with its fix, and -- where the fix is a command -- running that
very command must make check-relay pass again.  A configuration that
cannot be read exits 3.

live: in `unshare --net` (lo only, no DNS), responder.py plays Gmail on
smtp.gmail.com:587 with STARTTLS and a certificate the test makes with
openssl; check-relay --live must log in (exit 0), report Gmail's and
Microsoft 365's refusals with smtpwatch's diagnosis, a failed certificate
check, a refused connection, a name that does not resolve, and a
mechanism filter that leaves nothing; never send MAIL; never print the
password (in clear or in base64).

exim: Debian's exim4-base, exim4-config and exim4-daemon-light, fetched
and laid over the same way, configured by update-exim4.conf for a
smarthost: passwd.client patterns that match and one that does not, a
file readable by all, an app password with spaces, a user name that is
not an address (fixed by their own fix commands where they have one);
--live through Debian's certificate check (tls_verify_hosts = *), which
fails until the test's CA is named, then a login and Gmail's 535.

--asan runs build/asan/smtpwatchctl
(`make tests` builds it), whose ASan/UBSan reports fail the run.
"""

import base64
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'daemon'))
sys.path.insert(0, HERE)

from harness import (ASAN_OPTIONS, CTL, ROOT, RULES, TIMEOUT, UBSAN_OPTIONS,  # noqa: E402
                     fail)
from test_postfix import (GMAIL_IP, MTA_PACKAGES, RESPONDER, Lab, add_user,  # noqa: E402
                          fetch_debs, in_lab, lab_refused, poll, read, run,
                          run_step, stop_pid)

BIN = [CTL]                     # build/asan/smtpwatchctl with --asan
USER = 'alerts@example.com'
GOOD = 'kfjq wzpt hmrx ubne'.replace(' ', '')     # an app password, 16 letters
BAD = 'Wrong-Secret-4711'
MAP = 'hash:/etc/postfix/sasl_passwd'


def main_cf(**over):
    """The good configuration: Gmail as relayhost, SASL, TLS encrypt."""
    conf = {
        'compatibility_level': '3.6', 'myhostname': 'mx1.lab.example',
        'mydestination': '', 'inet_protocols': 'ipv4',
        'alias_maps': '', 'alias_database': '',
        'relayhost': '[smtp.gmail.com]:587',
        'smtp_sasl_auth_enable': 'yes', 'smtp_sasl_password_maps': MAP,
        'smtp_sasl_security_options': 'noanonymous',
        'smtp_tls_security_level': 'encrypt',
    }
    conf.update(over)
    with open('/etc/postfix/main.cf', 'w') as f:
        for k, v in conf.items():
            f.write('%s = %s\n' % (k, v))


def passwd(lines, mode=0o600, compile_=True):
    """/etc/postfix/sasl_passwd with lines, compiled by postmap."""
    with open('/etc/postfix/sasl_passwd', 'w') as f:
        f.write(''.join(l + '\n' for l in lines))
    os.chmod('/etc/postfix/sasl_passwd', mode)
    if os.path.exists('/etc/postfix/sasl_passwd.db'):
        os.unlink('/etc/postfix/sasl_passwd.db')
    if compile_:
        run(['postmap', MAP])
        os.chmod('/etc/postfix/sasl_passwd.db', mode)


def good(password=GOOD, **over):
    main_cf(**over)
    passwd(['[smtp.gmail.com]:587 %s:%s' % (USER, password)])


def secrets(password):
    """The password and the forms a client sends it in."""
    return [password, base64.b64encode(('\0%s\0%s' % (USER, password)).encode()).decode(),
            base64.b64encode(('%s\0%s\0%s' % (USER, USER, password)).encode()).decode(),
            base64.b64encode(password.encode()).decode()]


def ctl(args, want, password=GOOD, env=None):
    """smtpwatchctl check-relay ARGS: its exit status must be want, and
    the password must be nowhere in what it printed.  Returns stdout."""
    e = dict(os.environ, ASAN_OPTIONS=ASAN_OPTIONS, UBSAN_OPTIONS=UBSAN_OPTIONS)
    e.update(env or {})
    r = subprocess.run([BIN[0], '-f', '/dev/null', '--rules', RULES, 'check-relay'] + args,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT * 3,
                       env=e)
    out, err = r.stdout.decode('utf-8', 'replace'), r.stderr.decode('utf-8', 'replace')
    print('--- check-relay %s: exit %d\n%s%s' % (' '.join(args), r.returncode, out, err))
    if r.returncode != want:
        fail('check-relay %s: exit %d, not %d' % (' '.join(args), r.returncode, want))
    if 'Sanitizer' in err or 'runtime error' in err:
        fail('check-relay %s: a sanitizer report:\n%s' % (' '.join(args), err))
    for s in secrets(password):
        if s in out or s in err:
            fail('check-relay %s printed the password (%r)' % (' '.join(args), s))
    return out


def has(out, *needles):
    for n in needles:
        if n not in out:
            fail('check-relay does not say %r' % n)


def fix_of(out, code):
    """The fix printed under finding code."""
    lines = out.splitlines()
    for i, l in enumerate(lines):
        if l.strip().startswith('finding %s:' % code):
            if i + 1 < len(lines) and lines[i + 1].strip().startswith('fix: '):
                return lines[i + 1].strip()[5:]
            fail('finding %s has no fix' % code)
    fail('no finding %s in:\n%s' % (code, out))


def finding_fixed(code, args=(), password=GOOD, reload_ok=True):
    """check-relay reports code (exit 1); its fix, run by sh (postfix
    reload: Postfix is not running here, so left out), makes it pass."""
    out = ctl(list(args), 1, password)
    fix = fix_of(out, code)
    if reload_ok:
        fix = fix.replace(' && postfix reload', '')
    run(['sh', '-c', fix])
    out = ctl(list(args), 0, password)
    has(out, '0 findings')


# ---------------------------------------------------------------------------
# static
# ---------------------------------------------------------------------------

def static_clean():
    good()
    out = ctl([], 0)
    has(out, 'relay [smtp.gmail.com]:587 (relayhost)', 'credential: user %s' % USER,
        'password ********', '1 relay, 0 findings')


def static_fixable():
    """Each finding whose fix is a command: reported, then fixed by it."""
    good(smtp_sasl_auth_enable='no')
    finding_fixed('sasl-disabled')
    main_cf()
    passwd(['smtp.gmail.com:587 %s:%s' % (USER, GOOD)])
    finding_fixed('key-mismatch')
    passwd(['[smtp.gmail.com] %s:%s' % (USER, GOOD)])
    finding_fixed('key-mismatch')
    good()
    with open('/etc/postfix/sasl_passwd', 'a') as f:
        f.write('# edited, postmap not run\n')
    t = time.time() - 60        # the map compiled a minute before the edit
    os.utime('/etc/postfix/sasl_passwd.db', (t, t))
    finding_fixed('map-stale')
    main_cf()
    passwd(['[smtp.gmail.com]:587 %s:%s' % (USER, GOOD)], compile_=False)
    finding_fixed('map-not-compiled')
    good()
    os.chmod('/etc/postfix/sasl_passwd.db', 0o644)
    finding_fixed('map-readable')
    good(password='kfjq wzpt hmrx ubne')
    finding_fixed('app-password-spaces', password='kfjq wzpt hmrx ubne')
    v = run(['postmap', '-q', '[smtp.gmail.com]:587', MAP]).strip()
    if v != '%s:%s' % (USER, GOOD):
        fail('the app-password-spaces fix left %r' % v)
    good(smtp_sasl_security_options='noplaintext, noanonymous', smtp_tls_security_level='may')
    finding_fixed('plaintext-forbidden')
    good(smtp_sasl_tls_security_options='noplaintext, noanonymous')
    finding_fixed('plaintext-forbidden')
    good(smtp_sasl_mechanism_filter='cram-md5')
    finding_fixed('mechanism-filter')


def static_other():
    """Findings fixed by an editor, the relays of transport_maps and of
    sender_dependent_relayhost_maps, a relay named, and a configuration
    that cannot be read."""
    main_cf()
    passwd(['[smtp.gmail.com]:587 alerts:%s' % GOOD])
    out = ctl([], 1)
    has(out, 'finding user-not-address', 'sensible-editor /etc/postfix/sasl_passwd && '
        'postmap %s' % MAP)
    good(smtp_sasl_password_maps='')
    has(ctl([], 1), 'finding no-password-maps')
    good(transport_maps='hash:/etc/postfix/transport')
    with open('/etc/postfix/transport', 'w') as f:
        f.write('partner.example smtp:[smtp.office365.com]:587\nlocal.example local:\n')
    run(['postmap', 'hash:/etc/postfix/transport'])
    out = ctl([], 1)
    has(out, 'relay [smtp.office365.com]:587 (transport_maps)', '2 relays, 1 finding',
        'finding no-credential: no credential for [smtp.office365.com]:587')
    out = ctl(['[smtp.gmail.com]:587'], 0)
    has(out, 'relay [smtp.gmail.com]:587 (the command line)', '1 relay, 0 findings')
    good(sender_dependent_relayhost_maps='hash:/etc/postfix/sender_relay')
    with open('/etc/postfix/sender_relay', 'w') as f:
        f.write('@partner.example [smtp.sendgrid.net]:587\n')
    run(['postmap', 'hash:/etc/postfix/sender_relay'])
    out = ctl([], 1)
    has(out, 'relay [smtp.sendgrid.net]:587 (sender_dependent_relayhost_maps)',
        '2 relays, 1 finding', 'finding no-credential: no credential for [smtp.sendgrid.net]:587')
    ctl([], 3, env={'SMTPWATCH_POSTFIX_DIR': '/nonexistent'})
    ctl([], 3, env={'SMTPWATCH_POSTCONF': '/nonexistent', 'SMTPWATCH_EXIM': '/nonexistent'})
    ctl(['--json'], 2)      # a usage error: an option check-relay does not take


# ---------------------------------------------------------------------------
# live
# ---------------------------------------------------------------------------

class Relay:
    """responder.py with STARTTLS on addr:587 until stop()."""

    def __init__(self, w, cert, key, addr=GMAIL_IP, bad='gmail-535'):
        self.out = w.path('responder-%s.out' % bad)
        ready = w.path('responder.ready')
        if os.path.exists(ready):
            os.unlink(ready)
        with open(self.out, 'wb') as o:
            self.p = subprocess.Popen(
                [sys.executable, RESPONDER, addr, '587', USER, GOOD, ready,
                 '--tls', cert, key, '--bad', bad],
                stdin=subprocess.DEVNULL, stdout=o, stderr=subprocess.STDOUT,
                start_new_session=True)
        poll(lambda: os.path.exists(ready) or self.p.poll() is not None, 'the responder')
        if self.p.poll() is not None:
            fail('responder.py exited: %s' % read(self.out))

    def commands(self):
        """The commands it received since the last call."""
        c = [l.split()[1] for l in read(self.out).splitlines() if l.startswith('command ')]
        seen, self.seen = getattr(self, 'seen', 0), len(c)
        return c[seen:]

    def stop(self):
        stop_pid(self.p.pid, 'responder.py')
        self.p.wait()


def make_cert(w):
    cert, key = w.path('relay.crt'), w.path('relay.key')
    run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
         '-subj', '/CN=smtp.gmail.com', '-addext',
         'subjectAltName=DNS:smtp.gmail.com,DNS:smtp.office365.com',
         '-keyout', key, '-out', cert])
    return cert, key


def live_login(w, cert, key):
    """Accepted, then refused as Gmail and Microsoft 365 refuse."""
    good(smtp_tls_security_level='secure', smtp_tls_CAfile=cert)
    r = Relay(w, cert, key)
    try:
        out = ctl(['--live'], 0)
        has(out, '> STARTTLS', '> AUTH ', '< 235 2.7.0 Accepted', 'login accepted',
            '1 relay, 0 findings')
        cmds = r.commands()
        if 'STARTTLS' not in cmds or 'AUTH' not in cmds or 'MAIL' in cmds or 'RCPT' in cmds:
            fail('the relay saw %s: STARTTLS and AUTH, never MAIL or RCPT' % cmds)
        good(password=BAD, smtp_tls_security_level='secure', smtp_tls_CAfile=cert)
        out = ctl(['--live'], 1, password=BAD)
        has(out, '< 535-5.7.8 Username and Password not accepted',
            'diagnosis: gmail/535-5.7.8-bad-credentials', 'finding live-auth')
        if 'MAIL' in r.commands():
            fail('check-relay --live sent MAIL')
    finally:
        r.stop()
    for bad, diag in (('gmail-534', 'gmail/534-5.7.9-application-specific-password-required'),
                      ('gmail-454', 'gmail/454-4.7.0-too-many-login-attempts'),
                      ('m365-tenant', 'microsoft365/535-5.7.139-smtp-auth-disabled-tenant')):
        r = Relay(w, cert, key, bad=bad)
        try:
            has(ctl(['--live'], 1, password=BAD), 'diagnosis: ' + diag)
        finally:
            r.stop()


def live_failures(w, cert, key):
    """TLS verification, a refused connection, no DNS, no mechanism."""
    r = Relay(w, cert, key)
    try:
        good(smtp_tls_security_level='secure')       # the system's CAs
        has(ctl(['--live'], 1), 'finding live-tls: TLS with smtp.gmail.com failed')
        good(smtp_tls_security_level='encrypt')      # encrypt: no verification
        ctl(['--live'], 0)
        good(smtp_sasl_mechanism_filter='cram-md5, digest-md5')
        r.commands()
        out = ctl(['--live'], 1)
        has(out, 'finding mechanism-filter', 'diagnosis: local/sasl-no-mechanism-available')
        if 'AUTH' in r.commands():
            fail('check-relay --live sent AUTH with no mechanism in common')
    finally:
        r.stop()
    main_cf(relayhost='[smtp.gmail.com]:2525')
    passwd(['[smtp.gmail.com]:2525 %s:%s' % (USER, GOOD)])
    has(ctl(['--live'], 1), 'finding live-connect: cannot connect to smtp.gmail.com port 2525: '
        'Connection refused')
    main_cf(relayhost='[smtp.nowhere.example]:587')
    passwd(['[smtp.nowhere.example]:587 %s:%s' % (USER, GOOD)])
    has(ctl(['--live'], 1), 'finding live-dns: cannot resolve smtp.nowhere.example')


# ---------------------------------------------------------------------------
# exim
# ---------------------------------------------------------------------------

EXIM_PACKAGES = ('exim4-base', 'exim4-config', 'exim4-daemon-light')
EXIM_ENV = {'SMTPWATCH_POSTCONF': '/nonexistent'}     # Exim even beside a Postfix
PASSWD_CLIENT = '/etc/exim4/passwd.client'


def exim_setup(w, tree):
    """Debian's Exim over /usr, /etc and /var, configured as
    dpkg-reconfigure exim4-config would for a smarthost."""
    lab = Lab(w, tree)
    lab.overlay()
    lab.loopback()
    add_user('Debian-exim', '/var/spool/exim4')
    for d in ('/var/lib/exim4', '/var/spool/exim4', '/var/log/exim4'):
        os.makedirs(d, exist_ok=True)
    with open('/etc/mailname', 'w') as f:
        f.write('mx1.lab.example\n')
    with open('/etc/exim4/update-exim4.conf.conf', 'w') as f:
        f.write("dc_eximconfig_configtype='smarthost'\ndc_other_hostnames=''\n"
                "dc_local_interfaces='127.0.0.1'\ndc_readhost='lab.example'\n"
                "dc_relay_domains=''\ndc_minimaldns='false'\ndc_relay_nets=''\n"
                "dc_smarthost='smtp.gmail.com::587'\nCFILEMODE='644'\n"
                "dc_use_split_config='false'\ndc_hide_mailname='true'\n"
                "dc_mailname_in_oh='true'\ndc_localdelivery='mail_spool'\n")
    run(['update-exim4.conf'])


def client(line, mode=0o640):
    with open(PASSWD_CLIENT, 'w') as f:
        f.write('# written by tests/e2e/test_relay.py\n%s\n' % line)
    run(['chown', 'root:Debian-exim', PASSWD_CLIENT])
    os.chmod(PASSWD_CLIENT, mode)


def exim_static():
    client('smtp.gmail.com:%s:%s' % (USER, GOOD))
    out = ctl([], 0, env=EXIM_ENV)
    has(out, 'relay smtp.gmail.com:587 (dc_smarthost)', 'credential: user %s' % USER,
        '1 relay, 0 findings')
    client('*.gmail.com:%s:%s' % (USER, GOOD))
    ctl([], 0, env=EXIM_ENV)
    client('gmail.com:%s:%s' % (USER, GOOD))
    has(ctl([], 1, env=EXIM_ENV), 'finding exim-pattern: no line of %s matches the '
        'smarthost smtp.gmail.com' % PASSWD_CLIENT)
    client('smtp.gmail.com:%s:%s' % (USER, GOOD), mode=0o644)
    out = ctl([], 1, env=EXIM_ENV)
    run(['sh', '-c', fix_of(out, 'map-readable')])
    ctl([], 0, env=EXIM_ENV)
    client('smtp.gmail.com:%s:kfjq wzpt hmrx ubne' % USER)
    out = ctl([], 1, password='kfjq wzpt hmrx ubne', env=EXIM_ENV)
    run(['sh', '-c', fix_of(out, 'app-password-spaces')])
    ctl([], 0, env=EXIM_ENV)
    if read(PASSWD_CLIENT).splitlines()[-1] != 'smtp.gmail.com:%s:%s' % (USER, GOOD):
        fail('the app-password-spaces fix left %r' % read(PASSWD_CLIENT))
    client('smtp.gmail.com:alerts:%s' % GOOD)
    has(ctl([], 1, env=EXIM_ENV), 'finding user-not-address')


def exim_live(w):
    """Debian's Exim verifies the smarthost's certificate (tls_verify_hosts
    = *) against the system's CAs: the test's is refused until
    REMOTE_SMTP_SMARTHOST_TLS_VERIFY_CERTIFICATES names it."""
    cert, key = make_cert(w)
    r = Relay(w, cert, key)
    try:
        client('smtp.gmail.com:%s:%s' % (USER, GOOD))
        has(ctl(['--live'], 1, env=EXIM_ENV), 'finding live-tls')
        with open('/etc/exim4/exim4.conf.localmacros', 'w') as f:
            f.write('REMOTE_SMTP_SMARTHOST_TLS_VERIFY_CERTIFICATES = %s\n' % cert)
        run(['update-exim4.conf'])
        has(ctl(['--live'], 0, env=EXIM_ENV), '> STARTTLS', 'login accepted')
        client('smtp.gmail.com:%s:%s' % (USER, BAD))
        has(ctl(['--live'], 1, password=BAD, env=EXIM_ENV),
            'diagnosis: gmail/535-5.7.8-bad-credentials')
        if 'MAIL' in r.commands():
            fail('check-relay --live sent MAIL')
    finally:
        r.stop()


# ---------------------------------------------------------------------------

def relay_mode(w, mode, tree):
    """One mode's tests: exim, static or live."""
    if mode == 'exim':
        exim_setup(w, tree)
        exim_static()
        exim_live(w)
        return
    Lab(w, tree).namespace()
    if mode == 'static':
        static_clean()
        static_fixable()
        static_other()
    elif mode == 'live':
        cert, key = make_cert(w)
        live_login(w, cert, key)
        live_failures(w, cert, key)


def inside(mode, tree, asan):
    if asan:
        BIN[0] = os.path.join(ROOT, 'build', 'asan', 'smtpwatchctl')
    return run_step('check-relay-%s%s' % (mode, '-asan' if asan else ''), relay_mode,
                    mode, tree)


def main(argv):
    if len(argv) >= 4 and argv[0] == '--inside':
        return inside(argv[1], argv[2], argv[3] == 'asan')
    asan = argv[1:] == ['--asan']
    if len(argv) not in (1, 2) or argv[0] not in ('static', 'live', 'exim') or \
            (len(argv) == 2 and not asan):
        print('usage: test_relay.py static|live|exim [--asan]', file=sys.stderr)
        return 2
    refused = lab_refused('test_relay.py', ())
    if refused:
        return refused
    if argv[0] == 'exim':
        tree = fetch_debs('exim-debian', EXIM_PACKAGES)
    else:
        tree = fetch_debs('mta', MTA_PACKAGES)
    return in_lab(__file__, argv[0], tree, 'asan' if asan else 'plain')


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
