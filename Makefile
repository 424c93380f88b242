# smtpwatch -- plain GNU make.  `make` builds build/smtpwatchd and
# build/smtpwatchctl; `make check` runs every test; `make run` shows the
# demo.  Both install missing Debian packages first (see contrib/deps).

PREFIX	?= /usr
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
DATADIR	?= $(PREFIX)/share/smtpwatch
SYSCONFDIR ?= /etc/smtpwatch
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
CATALOGDIR ?= $(PREFIX)/lib/systemd/catalog
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
STATEDIR ?= /var/lib/smtpwatch

CC	?= cc
CFLAGS	?= -O2 -g
WARNINGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Wcast-qual -Wformat=2 -Wno-format-nonliteral -Werror
PKGS	 = libpcre2-8 sqlite3 libsystemd
# The front end (daemon/front.c) uses Vectorscan where Debian has it;
# VECTORSCAN=no builds the per-line path alone (same results, slower).
VECTORSCAN ?= $(shell pkg-config --exists libhs 2>/dev/null && echo yes || echo no)
VS_CFLAGS = $(if $(filter yes,$(VECTORSCAN)),-DSW_VECTORSCAN $(shell pkg-config --cflags libhs 2>/dev/null))
VS_LIBS	 = $(if $(filter yes,$(VECTORSCAN)),$(shell pkg-config --libs libhs 2>/dev/null))
# GCC on x86 copies a string of bounded length (a capture into an
# event's field) with `rep movsq`, whose start costs more than the copy:
# the C library's memcpy is faster there (a storm's scan 5 %).  Other
# compilers and machines do not take the option, and are left alone;
# only the programs' objects take it, not the tests' or the fuzzers'.
STRINGOPS := $(shell $(CC) -mstringop-strategy=libcall -E -x c /dev/null \
	   >/dev/null 2>&1 && echo -mstringop-strategy=libcall)
# Recursive (=) so pkg-config runs after `deps` has installed it.
SW_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARNINGS) \
	   -DSW_DATADIR='"$(DATADIR)"' -DSW_SYSCONFDIR='"$(SYSCONFDIR)"' \
	   $(shell pkg-config --cflags $(PKGS) libcurl 2>/dev/null) $(VS_CFLAGS)
SW_LDLIBS = -pthread -lev $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(VS_LIBS)
# check-relay --live loads libcurl with dlopen (daemon/relaylive.c): its
# headers (pkg-config's cflags above) are needed to build, the library
# only to run --live; nothing links it.
SAN	 = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all

B	 = build
CORE	 = log util lines parse join rules match front conf corpus wire recent \
	   held relayset valset ckpt
CTL	 = $(CORE) journal store feed attrib incident alert count out evq scan \
	   ctldb ctlsock status metrics spawn relayconf relayexim relaycheck \
	   relaylive smtpwatchctl
DAEMON	 = $(CORE) tail journal store notify hook feed attrib incident alert count \
	   spawn relayconf relayexim relaycheck relaynote control smtpwatchd
UNITS	 = t_parse t_rules t_match t_corpus t_lines t_feed t_attrib t_recent \
	   t_util t_held t_relayset t_front
# Unit tests of the daemon's own files: they link what they need.
DUNITS	 = t_tail t_store t_incident

CORE_O	 = $(CORE:%=$(B)/%.o)
HDRS	 = daemon/smtpwatch.h

all: $(B)/smtpwatchd $(B)/smtpwatchctl

# The installation paths are compiled in: objects are rebuilt when they change.
$(B)/paths: FORCE | $(B)
	@echo '$(DATADIR) $(SYSCONFDIR) vectorscan=$(VECTORSCAN)' | cmp -s - $@ || \
	    echo '$(DATADIR) $(SYSCONFDIR) vectorscan=$(VECTORSCAN)' >$@

$(B)/%.o: daemon/%.c $(HDRS) $(B)/paths | $(B)
	$(CC) $(SW_CFLAGS) $(STRINGOPS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/asan/%.o: daemon/%.c $(HDRS) $(B)/paths | $(B)
	@mkdir -p $(B)/asan
	$(CC) $(SW_CFLAGS) $(CFLAGS) $(SAN) -c -o $@ $<

$(B)/smtpwatchctl: $(CTL:%=$(B)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(SW_LDLIBS)

$(B)/smtpwatchd: $(DAEMON:%=$(B)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(SW_LDLIBS)

$(B)/asan/smtpwatchctl: $(CTL:%=$(B)/asan/%.o)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(SW_LDLIBS)

# Unit tests include the module they test, to reach its statics.
$(B)/t_%: tests/unit/t_%.c tests/unit/check.h $(CORE_O) $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(filter-out $(B)/$*.o,$(CORE_O)) $(SW_LDLIBS)

$(B)/asan/t_%: tests/unit/t_%.c tests/unit/check.h $(CORE:%=$(B)/asan/%.o) $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) $(SAN) -Wno-missing-prototypes -o $@ $< \
	    $(filter-out $(B)/asan/$*.o,$(CORE:%=$(B)/asan/%.o)) $(SW_LDLIBS)

$(B):
	@mkdir -p $(B)

# The migrations in sql/ are compiled into store.c; sql.list makes sql.h
# again when a file is removed, which its time stamps cannot tell.
$(B)/sql.list: FORCE | $(B)
	@echo sql/*.sql | cmp -s - $@ || echo sql/*.sql >$@

$(B)/sql.h: sql/*.sql $(B)/sql.list contrib/embed-sql | $(B)
	sh contrib/embed-sql sql/*.sql >$@.tmp && mv $@.tmp $@

$(B)/store.o $(B)/asan/store.o: $(B)/sql.h
$(B)/store.o $(B)/asan/store.o: SW_CFLAGS += -I$(B)

$(B)/t_tail: tests/unit/t_tail.c daemon/tail.c tests/unit/check.h $(CORE_O) $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(CORE_O) $(SW_LDLIBS)

$(B)/t_store: tests/unit/t_store.c daemon/store.c tests/unit/check.h $(CORE_O) $(B)/sql.h $(HDRS)
	$(CC) $(SW_CFLAGS) -I$(B) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(CORE_O) $(SW_LDLIBS)

# The engine on a real store; the test passes its own sender, no alert.o.
$(B)/t_incident: tests/unit/t_incident.c daemon/incident.c tests/unit/check.h $(CORE_O) $(B)/store.o $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(CORE_O) $(B)/store.o $(SW_LDLIBS)

$(B)/asan/t_incident: tests/unit/t_incident.c daemon/incident.c tests/unit/check.h $(CORE:%=$(B)/asan/%.o) $(B)/asan/store.o $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) $(SAN) -Wno-missing-prototypes -o $@ $< \
	    $(CORE:%=$(B)/asan/%.o) $(B)/asan/store.o $(SW_LDLIBS)

# check-relay's files, tested together; the rest of smtpwatchctl linked.
RELAY	 = spawn relayconf relayexim relaycheck relaylive relaynote
RELAY_LINK = $(filter-out $(RELAY) smtpwatchctl,$(CTL))

$(B)/t_relay: tests/unit/t_relay.c $(RELAY:%=daemon/%.c) tests/unit/check.h $(RELAY_LINK:%=$(B)/%.o) $(B)/sql.h $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(RELAY_LINK:%=$(B)/%.o) $(SW_LDLIBS)

$(B)/asan/t_relay: tests/unit/t_relay.c $(RELAY:%=daemon/%.c) tests/unit/check.h $(RELAY_LINK:%=$(B)/asan/%.o) $(B)/sql.h $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) $(SAN) -Wno-missing-prototypes -o $@ $< \
	    $(RELAY_LINK:%=$(B)/asan/%.o) $(SW_LDLIBS)

$(B)/asan/smtpwatchd: $(DAEMON:%=$(B)/asan/%.o)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(SW_LDLIBS)

# The unit's system call filter, where systemd cannot apply it: tests/sandbox/.
$(B)/seccomp-run: tests/sandbox/seccomp-run.c | $(B)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) -o $@ $< -lseccomp

# The per-line build, without the front end: make check compares the two.
novs:
	@$(MAKE) --no-print-directory B=$(B)/novs VECTORSCAN=no $(B)/novs/smtpwatchctl

# The unit tests and the sandbox's helper alone: `make check` builds them
# with clang too (clang-build), as it builds the programs.
units: $(UNITS:%=$(B)/%) $(DUNITS:%=$(B)/%) $(B)/t_relay $(B)/seccomp-run

tests: all novs $(UNITS:%=$(B)/%) $(UNITS:%=$(B)/asan/%) $(B)/asan/smtpwatchctl \
	$(DUNITS:%=$(B)/%) $(B)/asan/t_incident $(B)/asan/smtpwatchd \
	$(B)/t_relay $(B)/asan/t_relay \
	$(B)/seccomp-run $(B)/fault/smtpwatchd fuzz-build

# The daemon with fault injection (tests/fault/fault.c): its own calls
# of these functions go through the wrappers, which fail on countdown.
WRAP	 = pread read inotify_add_watch sqlite3_step \
	   sqlite3_wal_checkpoint_v2 sd_journal_sendv_with_location malloc

$(B)/fault/fault.o: tests/fault/fault.c | $(B)
	@mkdir -p $(B)/fault
	$(CC) $(SW_CFLAGS) $(CFLAGS) $(SAN) -c -o $@ $<

$(B)/fault/smtpwatchd: $(DAEMON:%=$(B)/asan/%.o) $(B)/fault/fault.o
	$(CC) $(CFLAGS) $(SAN) $(WRAP:%=-Wl,--wrap=%) -o $@ $^ $(SW_LDLIBS)

# libFuzzer targets (tests/fuzz/): clang, with the objects under test
# built again with its coverage and the sanitizers.
FUZZCC	?= clang
FUZZ	 = fuzz_parse fuzz_lines fuzz_match fuzz_front fuzz_rules fuzz_conf \
	   fuzz_control
FUZZ_O	 = $(CORE) control feed
FZFLAGS	 = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all
FUZZ_TIME ?= 60

$(B)/fuzz/%.o: daemon/%.c $(HDRS) $(B)/paths | $(B)
	@mkdir -p $(B)/fuzz
	$(FUZZCC) $(SW_CFLAGS) $(FZFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_O:%=$(B)/fuzz/%.o)
	$(FUZZCC) $(SW_CFLAGS) $(FZFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_O:%=$(B)/fuzz/%.o) $(SW_LDLIBS)

fuzz-build: $(FUZZ:%=$(B)/fuzz/%)

# make fuzz [FUZZ_TIME=seconds]: each target that long; see tests/fuzz/run.
fuzz: fuzz-build
	@sh tests/fuzz/run -t $(FUZZ_TIME)

deps:
	@sh contrib/deps build

check:
	@sh contrib/deps check
	@$(MAKE) --no-print-directory tests
	@sh tests/run-tests

# The end-to-end scenarios against Debian testing's Postfix, Dovecot and
# Exim too (a debootstrap root under build/next/, built once), and the
# README's compatibility table: tests/e2e/test_next.py.  Not in make check.
check-next:
	@sh contrib/deps check
	@$(MAKE) --no-print-directory all
	@sh tests/run-tests next

# Measures and writes BENCHMARKS.md; PEERS=1 adds fail2ban and sshguard.
bench:
	@sh contrib/deps bench
	@$(MAKE) --no-print-directory all
	@PEERS=$(PEERS) python3 tests/bench/bench.py

run:
	@sh contrib/deps build
	@$(MAKE) --no-print-directory all
	@sh tests/demo

# Install: every path under $(DESTDIR).  The configuration is written
# only where none exists; uninstall removes it only while it is still the
# shipped one, and never the database.  Installing into / also loads the
# catalog, creates the user and the directories.
RULES	 = $(wildcard rules/*.rules)
# Shipped rules files of earlier releases, removed on install: a stale
# copy would be read beside its successor (60-local.rules is now
# 60-relay-trouble.rules; the name is left to the postmaster's rules.d).
OLDRULES = 60-local.rules
CORPUS	 = $(wildcard tests/corpus/*.txt)
MAN5	 = smtpwatch.conf.5 smtpwatch.rules.5
MAN8	 = smtpwatchd.8 smtpwatchctl.8

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(DATADIR)/rules $(DESTDIR)$(DATADIR)/corpus \
	    $(DESTDIR)$(SYSCONFDIR)/rules.d \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(CATALOGDIR) \
	    $(DESTDIR)$(COMPLETIONDIR)
	install -m 755 $(B)/smtpwatchd $(DESTDIR)$(SBINDIR)/smtpwatchd
	install -m 755 $(B)/smtpwatchctl $(DESTDIR)$(BINDIR)/smtpwatchctl
	rm -f $(OLDRULES:%=$(DESTDIR)$(DATADIR)/rules/%)
	install -m 644 $(RULES) $(DESTDIR)$(DATADIR)/rules/
	install -m 644 $(CORPUS) $(DESTDIR)$(DATADIR)/corpus/
	install -d $(DESTDIR)$(DATADIR)/notify
	install -m 755 contrib/notify/mail contrib/notify/webhook \
	    $(DESTDIR)$(DATADIR)/notify/
	install -d $(DESTDIR)$(DATADIR)/fail2ban/filter.d \
	    $(DESTDIR)$(DATADIR)/fail2ban/jail.d
	install -m 644 contrib/fail2ban/filter.d/smtpwatch.conf \
	    $(DESTDIR)$(DATADIR)/fail2ban/filter.d/
	install -m 644 contrib/fail2ban/jail.d/smtpwatch.conf \
	    $(DESTDIR)$(DATADIR)/fail2ban/jail.d/
	install -m 644 $(MAN5:%=man/%) $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(MAN8:%=man/%) $(DESTDIR)$(MANDIR)/man8/
	sed 's|@SBINDIR@|$(SBINDIR)|g' contrib/systemd/smtpwatchd.service.in \
	    >$(DESTDIR)$(UNITDIR)/smtpwatchd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/smtpwatchd.service
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/systemd/smtpwatch-metrics.service.in \
	    >$(DESTDIR)$(UNITDIR)/smtpwatch-metrics.service
	chmod 644 $(DESTDIR)$(UNITDIR)/smtpwatch-metrics.service
	install -m 644 contrib/systemd/smtpwatch-metrics.timer $(DESTDIR)$(UNITDIR)/
	install -m 644 contrib/systemd/smtpwatch.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/smtpwatch.conf
	install -m 644 contrib/systemd/smtpwatch.tmpfiles \
	    $(DESTDIR)$(TMPFILESDIR)/smtpwatch.conf
	install -m 644 contrib/systemd/smtpwatch.catalog $(DESTDIR)$(CATALOGDIR)/
	install -m 644 contrib/bash-completion/smtpwatchctl $(DESTDIR)$(COMPLETIONDIR)/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/smtpwatch.conf ]; then \
	    echo "kept $(DESTDIR)$(SYSCONFDIR)/smtpwatch.conf (contrib/smtpwatch.conf is the new default)"; \
	else \
	    echo "install -m 644 contrib/smtpwatch.conf $(DESTDIR)$(SYSCONFDIR)/smtpwatch.conf"; \
	    install -m 644 contrib/smtpwatch.conf $(DESTDIR)$(SYSCONFDIR)/smtpwatch.conf; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ]; then \
	    set -x; \
	    journalctl --update-catalog; \
	    systemd-sysusers $(SYSUSERSDIR)/smtpwatch.conf; \
	    systemd-tmpfiles --create $(TMPFILESDIR)/smtpwatch.conf; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/smtpwatchd $(DESTDIR)$(BINDIR)/smtpwatchctl
	rm -f $(RULES:rules/%=$(DESTDIR)$(DATADIR)/rules/%)
	rm -f $(CORPUS:tests/corpus/%=$(DESTDIR)$(DATADIR)/corpus/%)
	rm -f $(DESTDIR)$(DATADIR)/notify/mail $(DESTDIR)$(DATADIR)/notify/webhook
	rm -f $(DESTDIR)$(DATADIR)/fail2ban/filter.d/smtpwatch.conf \
	    $(DESTDIR)$(DATADIR)/fail2ban/jail.d/smtpwatch.conf
	-rmdir $(DESTDIR)$(DATADIR)/rules $(DESTDIR)$(DATADIR)/corpus \
	    $(DESTDIR)$(DATADIR)/notify $(DESTDIR)$(DATADIR)/fail2ban/filter.d \
	    $(DESTDIR)$(DATADIR)/fail2ban/jail.d $(DESTDIR)$(DATADIR)/fail2ban \
	    $(DESTDIR)$(DATADIR)
	rm -f $(MAN5:%=$(DESTDIR)$(MANDIR)/man5/%) $(MAN8:%=$(DESTDIR)$(MANDIR)/man8/%)
	rm -f $(DESTDIR)$(UNITDIR)/smtpwatchd.service \
	    $(DESTDIR)$(UNITDIR)/smtpwatch-metrics.service \
	    $(DESTDIR)$(UNITDIR)/smtpwatch-metrics.timer
	rm -f $(DESTDIR)$(SYSUSERSDIR)/smtpwatch.conf $(DESTDIR)$(TMPFILESDIR)/smtpwatch.conf
	rm -f $(DESTDIR)$(CATALOGDIR)/smtpwatch.catalog
	rm -f $(DESTDIR)$(COMPLETIONDIR)/smtpwatchctl
	@if cmp -s contrib/smtpwatch.conf $(DESTDIR)$(SYSCONFDIR)/smtpwatch.conf; then \
	    rm -f $(DESTDIR)$(SYSCONFDIR)/smtpwatch.conf; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/smtpwatch.conf ]; then \
	    echo "kept $(DESTDIR)$(SYSCONFDIR)/smtpwatch.conf (changed)"; \
	fi
	-rmdir $(DESTDIR)$(SYSCONFDIR)/rules.d $(DESTDIR)$(SYSCONFDIR) 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ]; then \
	    journalctl --update-catalog; \
	fi
	@echo "kept the database: $(DESTDIR)$(STATEDIR)"

lint:
	mandoc -Tlint -Wwarning man/*.[0-9]

clean:
	rm -rf $(B)

# The Debian package (debian/), built as dpkg-buildpackage does: the .deb
# is written beside the tree.  Works in an exported tree without .git.
deb:
	@sh contrib/deps deb
	dpkg-buildpackage -us -uc -b

.PHONY: all deb novs tests units deps check check-next run bench install uninstall lint clean fuzz fuzz-build FORCE
