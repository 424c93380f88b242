#!/bin/sh
# tests/truth.sh CTL RULESDIR -- smtpwatch's counts against gen-maillog's truth.
#
# Generates three corpora with ../shared/bench/gen-maillog (shared/ sits
# beside the repository) into a temporary directory, runs
#   CTL scan --events --json --rules RULESDIR FILE
# on each and compares the events with the truth file (tests/truth.py:
# per account on the exact bytes, per client address, per relay,
# server failures without an account, [CACHED] lines as `affected`, and
# line by line against the reference parser check-truth).
#   mixed    -f mixed -n 100000 -s 7 (both MTAs, hostile lines included)
#   exim     -f exim --exim-log mainlog -n 50000 -s 8
#   rfc3339  -f postfix -t rfc3339 -n 50000 -s 9
# One check per corpus; the last line is `truth: N passed, M failed`.
# POSIX sh (run as `sh tests/truth.sh`).
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 CTL RULESDIR" >&2
	exit 2
fi
ctl=$1
rules=$2
here=$(cd "$(dirname "$0")" && pwd)
shared=$here/../../shared
gen=$shared/bench/gen-maillog
if [ ! -f "$gen" ]; then
	echo "truth.sh: $gen: not found (shared/ must be beside the repository)" >&2
	echo "truth: 0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smtpwatch-truth.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' HUP INT PIPE TERM

pass=0
fail=0

# check NAME GEN-ARGS...: generate, scan, compare.
check() {
	name=$1
	shift
	log=$tmp/$name.log
	if ! python3 "$gen" "$@" -o "$log" --truth "$log.truth.json" 2>"$tmp/$name.gen"; then
		sed "s/^/    /" "$tmp/$name.gen"
		echo "truth/$name: gen-maillog $* failed"
		fail=$((fail + 1))
		return
	fi
	if ! "$ctl" scan --events --json --rules "$rules" "$log" \
	    >"$tmp/$name.events" 2>"$tmp/$name.err"; then
		echo "truth/$name: $ctl scan failed:"
		sed 's/^/    /' "$tmp/$name.err" | head -n 20
		fail=$((fail + 1))
		return
	fi
	if python3 "$here/truth.py" "$name" "$log" "$log.truth.json" \
	    "$tmp/$name.events"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
	rm -f "$log" "$tmp/$name.events"
}

check mixed -f mixed -n 100000 -s 7
check exim -f exim --exim-log mainlog -n 50000 -s 8
check rfc3339 -f postfix -t rfc3339 -n 50000 -s 9

echo "truth: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
