#!/usr/bin/env python3
"""truth.py -- compare `smtpwatchctl scan --events --json` with gen-maillog's truth.

Usage: tests/truth.py NAME LOG TRUTH EVENTS
  NAME    label for the output (e.g. mixed)
  LOG     the log gen-maillog wrote
  TRUTH   its truth JSON
  EVENTS  the JSON lines smtpwatchctl printed for LOG

Called by tests/truth.sh; Python 3 standard library only.  Exit 0 when
everything agrees, 1 on any difference, 2 on a usage or input error.

What is compared (events with "dup": true are Exim syslog copies and are
left out, as they are not counted):

* accounts: server-side failures per account, on the exact bytes
  (event account_hex against truth accounts[].hex);
* client_ips: server-side failures per client address (both sides
  normalised with the ipaddress module);
* relays: client-side failures per relay host name, where the Postfix
  `SASL [CACHED] authentication failed` lines are counted by smtpwatch as
  `affected`, not `failure`, by design: the credentials were not even
  tried, the line is a consequence of a failure already counted.  The
  generator counts them as failures, so truth relays[] is compared with
  failure + affected-on-a-[CACHED]-line per relay, and separately every
  [CACHED] line must have yielded exactly one `affected` event (both
  numbers printed);
* server_failures_without_account: server-side failures whose account is
  null (no sasl_username=, sasl_username=(unavailable), no set_id=);
* per line: the lines the reference parser ../shared/bench/check-truth
  recognises must carry the matching event (address, account bytes,
  relay), and no other line may carry a failure (decoys, successes).  The
  first differences are printed with the log line.

Postfix client deferrals: the generator counts every deferral line as one
failure.  Each line has its own queue id, so smtpwatch's client-side
de-duplication (same queue id, pid and second -> `affected`) never applies
and each counts once; the number of such lines is printed as a note.
"""
import importlib.util
import ipaddress
import json
import os
import re
import sys
from collections import Counter
from importlib.machinery import SourceFileLoader

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, '..', '..', 'shared'))
CACHED = re.compile(rb'\(SASL \[CACHED\] authentication failed; ')
SHOW = 5


def load_reference():
    path = os.path.join(SHARED, 'bench', 'check-truth')
    sys.dont_write_bytecode = True      # shared/ is not ours to write to
    loader = SourceFileLoader('check_truth', path)
    spec = importlib.util.spec_from_loader('check_truth', loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def canon(ip):
    try:
        return str(ipaddress.ip_address(ip))
    except (ValueError, TypeError):
        return ip


def show(b, limit=240):
    if isinstance(b, str):
        b = b.encode('utf-8', 'surrogateescape')
    s = b.decode('utf-8', 'backslashreplace')
    s = ''.join(c if c.isprintable() else '\\x%02x' % ord(c) for c in s)
    return s if len(s) <= limit else s[:limit] + '...'


def acc_bytes(ev):
    h = ev.get('account_hex')
    return None if h is None else bytes.fromhex(h)


def reference_lines(ref, lines):
    """line number -> ('server', ip, account-bytes-or-None) | ('client', relay, cached)"""
    want = {}
    for n, line in enumerate(lines, 1):
        if b'authentic' not in line:
            continue
        m = ref.PF_SERVER.match(line)
        if m:
            rest = m.group(2)
            i = rest.find(ref.SASL_USER)
            u = rest[i + len(ref.SASL_USER):] if i >= 0 else None
            if u == b'(unavailable)':
                u = None
            want[n] = ('server', canon(m.group(1).decode()), u)
            continue
        m = ref.PF_CLIENT.match(line)
        if m:
            want[n] = ('client', m.group(1).decode(), bool(CACHED.search(line)))
            continue
        m = ref.EX_SERVER.match(line)
        if m:
            want[n] = ('server', canon(m.group(1).decode()), m.group(2))
            continue
        m = ref.EX_CLIENT.match(line)
        if m:
            want[n] = ('client', m.group(1).decode(), False)
    return want


def evdesc(evs):
    if not evs:
        return 'no event'
    return ', '.join('%s/%s(rule=%s addr=%s account=%s relay=%s)' % (
        e.get('kind'), e.get('direction'), e.get('rule'), e.get('addr'),
        'null' if acc_bytes(e) is None else show(acc_bytes(e), 60), e.get('relay')) for e in evs)


def compare(label, got, want, keyshow=str):
    same = got == want
    print('  %-32s %s  smtpwatch=%d truth=%d (keys %d/%d)' % (
        label, 'OK  ' if same else 'DIFF', sum(got.values()), sum(want.values()), len(got), len(want)))
    if not same:
        diff = sorted(((k, got.get(k, 0), want.get(k, 0)) for k in set(got) | set(want)
                       if got.get(k, 0) != want.get(k, 0)), key=lambda x: -abs(x[1] - x[2]))
        for k, g, w in diff[:SHOW]:
            print('      %s: smtpwatch=%d truth=%d' % (keyshow(k), g, w))
        if len(diff) > SHOW:
            print('      ... %d more keys differ' % (len(diff) - SHOW))
    return same


def main():
    if len(sys.argv) != 5:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    name, logp, truthp, evp = sys.argv[1:]
    try:
        truth = json.load(open(truthp))
        with open(logp, 'rb') as f:
            lines = f.read().split(b'\n')
        if lines and lines[-1] == b'':
            lines.pop()
        events = []
        with open(evp, 'rb') as f:
            for n, l in enumerate(f, 1):
                if l.strip():
                    events.append(json.loads(l))
    except (OSError, ValueError) as e:
        print('truth/%s: %s' % (name, e))
        return 2
    ok = True
    print('truth/%s: %d lines, %d events (%s)' % (name, len(lines), len(events), ', '.join(
        '%s %d' % kv for kv in sorted(Counter(e.get('kind') for e in events).items()))))
    dups = [e for e in events if e.get('dup')]
    events = [e for e in events if not e.get('dup')]
    if dups:
        print('  note: %d events flagged dup (Exim syslog copies) left out' % len(dups))
    at = {}
    for e in events:
        at.setdefault(e.get('line'), []).append(e)

    cached_lines = [n for n, l in enumerate(lines, 1) if CACHED.search(l)]
    cached_set = set(cached_lines)

    acc, ips, rel = Counter(), Counter(), Counter()
    noacc = 0
    n_rule_cached = 0
    for e in events:
        kind, d = e.get('kind'), e.get('direction')
        if 'cached' in (e.get('rule') or '').lower():
            n_rule_cached += 1
        if kind == 'failure' and d == 'server':
            ips[canon(e.get('addr'))] += 1
            a = acc_bytes(e)
            if a is None:
                noacc += 1
            else:
                acc[a] += 1
        elif d == 'client' and (kind == 'failure' or (kind == 'affected' and e.get('line') in cached_set)):
            rel[e.get('relay') or e.get('name') or e.get('addr')] += 1

    want_acc = {bytes.fromhex(x['hex']): x['failures'] for x in truth['accounts']}
    want_ip = {canon(x['ip']): x['failures'] for x in truth['client_ips']}
    want_rel = {x['relay']: x['failures'] for x in truth['relays']}
    ok &= compare('accounts (server failures)', dict(acc), want_acc, lambda k: show(k, 80))
    ok &= compare('client_ips (server failures)', dict(ips), want_ip)
    ok &= compare('relays (failure + CACHED affected)', dict(rel), want_rel)
    same = noacc == truth['server_failures_without_account']
    ok &= same
    print('  %-32s %s  smtpwatch=%d truth=%d' % (
        'server_failures_without_account', 'OK  ' if same else 'DIFF',
        noacc, truth['server_failures_without_account']))

    # Every [CACHED] line must be `affected`, exactly once.
    cached_aff = sum(1 for n in cached_lines if [e.get('kind') for e in at.get(n, [])] == ['affected'])
    same = cached_aff == len(cached_lines)
    ok &= same
    print('  %-32s %s  [CACHED] lines=%d, of them affected=%d; events with "cached" in the rule id=%d' % (
        'CACHED lines are affected', 'OK  ' if same else 'DIFF', len(cached_lines), cached_aff,
        n_rule_cached))
    if not same:
        bad = [n for n in cached_lines if [e.get('kind') for e in at.get(n, [])] != ['affected']]
        for n in bad[:SHOW]:
            print('      line %d: %s | %s' % (n, evdesc(at.get(n, [])), show(lines[n - 1])))

    # Per line, against the reference parser.
    try:
        ref = load_reference()
    except (OSError, SyntaxError, ImportError) as e:
        print('  per-line check skipped: cannot load check-truth: %s' % e)
        ref = None
    if ref is not None:
        want = reference_lines(ref, lines)
        bad = []
        for n in sorted(set(want) | set(at)):
            evs = at.get(n, [])
            w = want.get(n)
            if w is None:
                f = [e for e in evs if e.get('kind') == 'failure']
                if f:
                    bad.append((n, 'no failure expected, got %s' % evdesc(f)))
                continue
            if w[0] == 'server':
                hit = [e for e in evs if e.get('kind') == 'failure' and e.get('direction') == 'server'
                       and canon(e.get('addr')) == w[1] and acc_bytes(e) == w[2]]
                if len(hit) != 1 or len(evs) != 1:
                    bad.append((n, 'expected server failure addr=%s account=%s, got %s' % (
                        w[1], 'null' if w[2] is None else show(w[2], 60), evdesc(evs))))
            else:
                k = 'affected' if w[2] else 'failure'
                hit = [e for e in evs if e.get('kind') == k and e.get('direction') == 'client'
                       and (e.get('relay') or e.get('name') or e.get('addr')) == w[1]]
                if len(hit) != 1 or len(evs) != 1:
                    bad.append((n, 'expected client %s relay=%s, got %s' % (k, w[1], evdesc(evs))))
        same = not bad
        ok &= same
        print('  %-32s %s  %d reference lines, %d lines differ' % (
            'per line (check-truth regexes)', 'OK  ' if same else 'DIFF', len(want), len(bad)))
        for n, why in bad[:SHOW]:
            print('      line %d: %s | %s' % (n, why, show(lines[n - 1])))

        # Note (b): client deferrals, one queue id each.
        defer = [n for n, w in want.items() if w[0] == 'client' and b'status=deferred' in lines[n - 1]]
        keys = set()
        for n in defer:
            m = re.search(rb'\[(\d+)\]: ([0-9A-Za-z]+): to=', lines[n - 1])
            if m:
                keys.add((m.group(1), m.group(2), lines[n - 1][:15]))
        print('  note: %d Postfix client deferral lines, %d distinct (pid, queue id, second): each has its '
              'own queue id, so smtpwatch\'s recipient de-duplication does not apply and each counts once, '
              'as in the generator' % (len(defer), len(keys)))

    k = truth.get('failures_by_kind', {})
    print('  truth failures_by_kind: %s; hostile: %s' % (
        ', '.join('%s=%d' % kv for kv in sorted(k.items())),
        ', '.join('%s=%d' % kv for kv in sorted(truth.get('hostile', {}).items()))))
    print('truth/%s: %s' % (name, 'PASS' if ok else 'FAIL'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
