#!/bin/sh
# tests/deb/test_deb.sh -- the Debian package, built and installed the way
# a postmaster would: `make deb` in a copy of the tree without .git
# (build/deb/src; the package is written beside it, in build/deb/), lintian
# with no error and no warning, then, in a Debian 12 minbase root made by
# debootstrap under build/deb/root (the way piuparts does it; nothing is
# installed on the host), `apt-get install ./smtpwatch_*.deb`: the files,
# the user, the conffile, the state directory, the enabled unit and
# `smtpwatchd -n` with the installed configuration; then remove (the
# edited configuration and the database stay) and purge (both go).
# The root is made once and kept; its mounts (proc, dev) live in a
# private mount namespace.  Needs root and Debian's package registry.
# The last line is `deb: N passed, M failed`.
set -u
cd "$(dirname "$0")/../.."
top=$(pwd)
work=$top/build/deb
root=$work/root
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok    $1"; }
no() { fail=$((fail + 1)); echo "FAIL  $1"; }
check() {
	what=$1
	shift
	if "$@" >"$work/last.out" 2>&1; then ok "$what"; else
		no "$what"
		sed 's/^/      /' "$work/last.out" | tail -n 20
	fi
}
finish() {
	echo "deb: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}

if [ "$(id -u)" -ne 0 ]; then
	echo "test_deb.sh: must run as root (debootstrap, chroot)" >&2
	no "root"
	finish
fi

# -- the package, from a tree without .git ---------------------------------
rm -rf "$work/src" "$work"/smtpwatch*_* "$work/last.out"
mkdir -p "$work/src"
if git rev-parse --git-dir >/dev/null 2>&1; then
	# What git would commit now: tracked files and new ones not ignored.
	git ls-files -z --cached --others --exclude-standard |
	    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
	    tar --null -T - -cf - | tar -C "$work/src" -xf -
else
	tar --exclude=./build -cf - . | tar -C "$work/src" -xf -
fi
check "the copy has no .git" test ! -e "$work/src/.git"
check "make deb" make -C "$work/src" deb
deb=$(ls "$work"/smtpwatch_*_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
check "the package is written beside the tree" test -n "$deb"
[ -n "$deb" ] || finish
check "lintian: no error, no warning" \
    lintian --fail-on error,warning "$work"/smtpwatch_*.changes
check "the package holds the unit, sysusers, tmpfiles, catalog, man pages, completion, rules, fail2ban jail" \
    sh -c "dpkg-deb -c '$deb' | awk '{print \$6}' >'$work/contents' &&
	for f in ./usr/sbin/smtpwatchd ./usr/bin/smtpwatchctl \
	    ./lib/systemd/system/smtpwatchd.service \
	    ./usr/lib/sysusers.d/smtpwatch.conf ./usr/lib/tmpfiles.d/smtpwatch.conf \
	    ./usr/lib/systemd/catalog/smtpwatch.catalog \
	    ./usr/share/man/man8/smtpwatchd.8.gz ./usr/share/man/man5/smtpwatch.conf.5.gz \
	    ./usr/share/bash-completion/completions/smtpwatchctl \
	    ./usr/share/smtpwatch/rules/10-postfix.rules ./etc/smtpwatch/smtpwatch.conf \
	    ./usr/share/smtpwatch/fail2ban/jail.d/smtpwatch.conf \
	    ./usr/share/smtpwatch/fail2ban/filter.d/smtpwatch.conf; do
		grep -qxF \"\$f\" '$work/contents' || { echo \"missing \$f\"; exit 1; }
	done"

# -- a Debian 12 root to install it in --------------------------------------
if [ ! -x "$root/usr/bin/apt-get" ]; then
	rm -rf "$root"
	mirror=$(sed -n 's/^URIs: *//p; s/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*\) .*/\2/p' \
	    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	    grep -v security | head -n 1)
	check "debootstrap --variant=minbase bookworm (${mirror:-no mirror})" \
	    debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}"
	[ -x "$root/usr/bin/apt-get" ] || finish
	# Nothing starts in the root: no init, and a policy-rc.d that refuses.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
fi
cp "$deb" "$root/tmp/"
pkg=/tmp/$(basename "$deb")

# in_root CMD: CMD (a shell command) in the root, with /proc and /dev
# mounted in a mount namespace of its own.
in_root() {
	unshare --mount --fork sh -c '
		mount --make-rprivate / &&
		mount -t proc proc "$0/proc" &&
		mount --bind /dev "$0/dev" &&
		exec chroot "$0" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 sh -c "$1"' "$root" "$1"
}

check "apt-get install ./$(basename "$deb") in the root" \
    in_root "apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkg"
check "the files are installed" in_root '
	for f in /usr/sbin/smtpwatchd /usr/bin/smtpwatchctl /lib/systemd/system/smtpwatchd.service \
	    /usr/share/smtpwatch/rules/10-postfix.rules /usr/share/man/man8/smtpwatchctl.8.gz; do
		test -e "$f" || { echo "missing $f"; exit 1; }
	done'
check "the user smtpwatch exists (systemd-sysusers)" in_root 'getent passwd smtpwatch'
check "/var/lib/smtpwatch belongs to smtpwatch (systemd-tmpfiles)" \
    in_root 'test "$(stat -c %U /var/lib/smtpwatch)" = smtpwatch'
check "the configuration is a conffile" \
    in_root 'grep -qx /etc/smtpwatch/smtpwatch.conf /var/lib/dpkg/info/smtpwatch.conffiles'
check "the unit is enabled, the metrics timer is not" in_root '
	test -L /etc/systemd/system/multi-user.target.wants/smtpwatchd.service &&
	! test -e /etc/systemd/system/timers.target.wants/smtpwatch-metrics.timer'
check "smtpwatchd -n accepts the installed configuration" \
    in_root 'smtpwatchd -n 2>&1 | tee /dev/stderr | grep -q "configuration OK: 2 logs"'
check "smtpwatchctl check-rules passes on the installed corpus" \
    in_root 'smtpwatchctl check-rules >/dev/null'

# -- remove keeps the edited configuration and the database; purge does not
in_root 'echo "# edited" >>/etc/smtpwatch/smtpwatch.conf && echo data >/var/lib/smtpwatch/smtpwatch.db'
check "apt-get remove" in_root 'apt-get remove -y -qq smtpwatch'
check "after remove: no program, the configuration and the database kept" in_root '
	! test -e /usr/sbin/smtpwatchd && grep -q "^# edited" /etc/smtpwatch/smtpwatch.conf &&
	test -s /var/lib/smtpwatch/smtpwatch.db'
check "apt-get purge" in_root 'apt-get purge -y -qq smtpwatch'
check "after purge: no configuration, no database, no package state" in_root '
	! test -e /etc/smtpwatch && ! test -e /var/lib/smtpwatch &&
	! dpkg -s smtpwatch >/dev/null 2>&1'
finish
