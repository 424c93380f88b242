"""responder.py -- a minimal SMTP server standing in for smtp.gmail.com.

The end-to-end tests (tests/e2e/scenarios.py) relay mail through it,
inside their private network namespace.  It offers AUTH PLAIN and LOGIN
with no TLS, and answers AUTH the way Gmail does when the credentials are
wrong (the multi-line 535-5.7.8 reply of /work/shared/corpus/REAL-SHAPES.md),
or with STYLE m365 the way Microsoft 365 does for a tenant with SMTP AUTH
disabled (535 5.7.139), until the client sends the user and password it
was started with; then 235, and it accepts the message (250 with a
Gmail-like queue note).

    python3 responder.py ADDR PORT USER PASSWORD READYFILE [--tls CERT KEY] [--bad ANSWER | gmail | m365]

READYFILE is created once the socket listens (the test awaits it).  One
line per AUTH outcome goes to stdout: "auth ok USER" or "auth bad USER",
and "message" per accepted message, so the test can await them; and
"command VERB" for each command, so a test can tell which were sent.
With --tls it offers STARTTLS with that certificate and offers AUTH only
after it, as Gmail does.  --bad names the answer to wrong credentials:
gmail-535 (the default), gmail-534 (app password required), gmail-454
(too many login attempts), m365-tenant (535 5.7.139, SMTP AUTH disabled
for the tenant).  Python 3 standard library only; one connection at a
time is enough.
"""

import base64
import socket
import ssl
import sys

GMAIL_535 = (b'535-5.7.8 Username and Password not accepted. For more information, go to\r\n'
             b'535 5.7.8  https://support.google.com/mail/?p=BadCredentials '
             b'a1-20020a170906b00ab2f9fd1e3f1sm1234567ejb.12 - gsmtp\r\n')
M365_535 = (b'535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled '
            b'for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. '
            b'[SN4PR0501CA0054.namprd05.prod.outlook.com 2026-11-28T04:10:00.000Z '
            b'08DD0C1A2B3C4D5E]\r\n')
REJECT = {'gmail': GMAIL_535, 'm365': M365_535}

BAD = {
    'gmail-535': GMAIL_535,
    'gmail-534': (b'534-5.7.9 Application-specific password required. For more information, go to\r\n'
                  b'534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor '
                  b'd2-20020a1709063442b00a2f9fd1e3f1sm7654321ejb.99 - gsmtp\r\n'),
    'gmail-454': (b'454 4.7.0 Too many login attempts, please try again later. '
                  b'd2-20020a1709063442b00a2f9fd1e3f1sm1234567ejb.12 - gsmtp\r\n'),
    'm365-tenant': (b'535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is '
                    b'disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more '
                    b'information. [SN4PR0601CA0005.namprd06.prod.outlook.com 2026-11-28T11:21:54.123Z '
                    b'08DB8C7E5C1A2B3C]\r\n'),
}


def b64(data):
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return None


class Session:
    """One SMTP connection: a line reader and the command loop."""

    def __init__(self, conn, user, password, tls=None, bad=GMAIL_535):
        self.conn = conn
        self.f = conn.makefile('rb')
        self.user = user
        self.password = password
        self.authed = False
        self.tls = tls          # an ssl.SSLContext, until STARTTLS
        self.bad = bad

    def starttls(self):
        self.send(b'220 2.0.0 Ready to start TLS\r\n')
        self.conn = self.tls.wrap_socket(self.conn, server_side=True)
        self.f = self.conn.makefile('rb')
        self.tls = None

    def ehlo(self):
        if self.tls is not None:
            self.send(b'250-smtp.gmail.com at your service\r\n250-SIZE 35882577\r\n'
                      b'250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n')
        else:
            self.send(b'250-smtp.gmail.com at your service\r\n250-SIZE 35882577\r\n'
                      b'250-8BITMIME\r\n250-AUTH LOGIN PLAIN\r\n250 ENHANCEDSTATUSCODES\r\n')

    def send(self, data):
        self.conn.sendall(data)

    def line(self):
        b = self.f.readline(4096)
        if not b:
            return None
        return b.rstrip(b'\r\n')

    def auth_done(self, user, password):
        ok = user == self.user and password == self.password
        print('auth %s %s' % ('ok' if ok else 'bad', user.decode('utf-8', 'replace')),
              flush=True)
        if ok:
            self.authed = True
            self.send(b'235 2.7.0 Accepted\r\n')
        else:
            self.send(self.bad)

    def auth(self, args):
        parts = args.split()
        mech = parts[0].upper() if parts else b''
        if mech == b'PLAIN':
            if len(parts) > 1:
                resp = parts[1]
            else:
                self.send(b'334 \r\n')
                resp = self.line()
            raw = b64(resp or b'')
            if raw is None or raw.count(b'\0') != 2:
                self.send(b'501 5.5.2 Cannot Decode response\r\n')
                return
            _, user, password = raw.split(b'\0')
            self.auth_done(user, password)
        elif mech == b'LOGIN':
            if len(parts) > 1:
                user = b64(parts[1])
            else:
                self.send(b'334 VXNlcm5hbWU6\r\n')
                user = b64(self.line() or b'')
            self.send(b'334 UGFzc3dvcmQ6\r\n')
            password = b64(self.line() or b'')
            if user is None or password is None:
                self.send(b'501 5.5.2 Cannot Decode response\r\n')
                return
            self.auth_done(user, password)
        else:
            self.send(b'504 5.7.4 Unrecognized authentication type\r\n')

    def data(self):
        self.send(b'354 Go ahead\r\n')
        while True:
            b = self.line()
            if b is None or b == b'.':
                break
        print('message', flush=True)
        self.send(b'250 2.0.0 OK  1764306600 d2-20020a1709063442b00a2f9fd1e3f1sm1234567ejb.12'
                  b' - gsmtp\r\n')

    def run(self):
        self.send(b'220 smtp.gmail.com ESMTP a1-20020a170906b00ab2f9fd1e3f1sm1234567ejb.12 - gsmtp\r\n')
        while True:
            b = self.line()
            if b is None:
                return
            verb, _, args = b.partition(b' ')
            verb = verb.upper()
            print('command %s' % verb.decode('ascii', 'replace'), flush=True)
            if verb in (b'EHLO', b'HELO'):
                self.ehlo()
            elif verb == b'STARTTLS' and self.tls is not None:
                self.starttls()
            elif verb == b'AUTH' and self.tls is not None:
                self.send(b'530 5.7.0 Must issue a STARTTLS command first.\r\n')
            elif verb == b'AUTH':
                self.auth(args)
            elif verb == b'MAIL':
                if self.authed:
                    self.send(b'250 2.1.0 OK\r\n')
                else:
                    self.send(b'530-5.7.0 Authentication Required.\r\n530 5.7.0 Learn more\r\n')
            elif verb == b'RCPT':
                self.send(b'250 2.1.5 OK\r\n')
            elif verb == b'DATA':
                self.data()
            elif verb == b'RSET' or verb == b'NOOP':
                self.send(b'250 2.0.0 OK\r\n')
            elif verb == b'QUIT':
                self.send(b'221 2.0.0 closing connection\r\n')
                return
            else:
                self.send(b'502 5.5.1 Unrecognized command.\r\n')


def main(argv):
    addr, port, user, password, ready = argv[1:6]
    opts, tls, bad = argv[6:], None, GMAIL_535
    while opts:
        if opts[0] == '--tls':
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(opts[1], opts[2])
            opts = opts[3:]
        elif opts[0] == '--bad':
            bad = BAD[opts[1]]
            opts = opts[2:]
        elif opts[0] in REJECT:
            bad = REJECT[opts[0]]
            opts = opts[1:]
        else:
            raise SystemExit('responder.py: unknown option %s' % opts[0])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(16)
    open(ready, 'w').close()
    while True:
        conn, _ = s.accept()
        try:
            Session(conn, user.encode(), password.encode(), tls, bad).run()
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


if __name__ == '__main__':
    main(sys.argv)
