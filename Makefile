# smtpwatch -- plain GNU make.  `make` builds build/smtpwatchd and
# build/smtpwatchctl; `make check` runs every test; `make run` shows the
# demo.  Both install missing Debian packages first (see contrib/deps).

PREFIX	?= /usr
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
DATADIR	?= $(PREFIX)/share/smtpwatch
SYSCONFDIR ?= /etc/smtpwatch

CC	?= cc
CFLAGS	?= -O2 -g
WARNINGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Wcast-qual -Wformat=2 -Wno-format-nonliteral -Werror
PKGS	 = libpcre2-8 sqlite3 libsystemd
# Recursive (=) so pkg-config runs after `deps` has installed it.
SW_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) \
	   -DSW_DATADIR='"$(DATADIR)"' -DSW_SYSCONFDIR='"$(SYSCONFDIR)"' \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
SW_LDLIBS = -lev $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SAN	 = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all

B	 = build
CORE	 = log util lines parse join rules match conf
CTL	 = $(CORE) scan ctldb ctlsock status smtpwatchctl
DAEMON	 = $(CORE) tail store notify feed attrib incident alert control smtpwatchd
UNITS	 = t_parse t_rules t_match t_corpus t_lines t_feed t_attrib
# Unit tests of the daemon's own files: they link what they need.
DUNITS	 = t_tail t_store t_incident

CORE_O	 = $(CORE:%=$(B)/%.o)
HDRS	 = daemon/smtpwatch.h

all: $(B)/smtpwatchd $(B)/smtpwatchctl

$(B)/%.o: daemon/%.c $(HDRS) | $(B)
	$(CC) $(SW_CFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/asan/%.o: daemon/%.c $(HDRS) | $(B)
	@mkdir -p $(B)/asan
	$(CC) $(SW_CFLAGS) $(CFLAGS) $(SAN) -c -o $@ $<

$(B)/smtpwatchctl: $(CTL:%=$(B)/%.o)
	$(CC) $(CFLAGS) -o $@ $^ $(SW_LDLIBS)

$(B)/smtpwatchd: $(DAEMON:%=$(B)/%.o)
	$(CC) $(CFLAGS) -o $@ $^ $(SW_LDLIBS)

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

# The migrations in sql/ are compiled into store.c.
$(B)/sql.h: sql/*.sql contrib/embed-sql | $(B)
	sh contrib/embed-sql sql/*.sql >$@.tmp && mv $@.tmp $@

$(B)/store.o $(B)/asan/store.o: $(B)/sql.h
$(B)/store.o $(B)/asan/store.o: SW_CFLAGS += -I$(B)

$(B)/t_tail: tests/unit/t_tail.c daemon/tail.c tests/unit/check.h $(CORE_O) $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(CORE_O) $(SW_LDLIBS)

$(B)/t_store: tests/unit/t_store.c daemon/store.c tests/unit/check.h $(CORE_O) $(B)/sql.h $(HDRS)
	$(CC) $(SW_CFLAGS) -I$(B) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(CORE_O) $(SW_LDLIBS)

# The engine on a real store; alert_send() is the test's own.
$(B)/t_incident: tests/unit/t_incident.c daemon/incident.c tests/unit/check.h $(CORE_O) $(B)/store.o $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(CORE_O) $(B)/store.o $(SW_LDLIBS)

$(B)/asan/t_incident: tests/unit/t_incident.c daemon/incident.c tests/unit/check.h $(CORE:%=$(B)/asan/%.o) $(B)/asan/store.o $(HDRS)
	$(CC) $(SW_CFLAGS) $(CFLAGS) $(SAN) -Wno-missing-prototypes -o $@ $< \
	    $(CORE:%=$(B)/asan/%.o) $(B)/asan/store.o $(SW_LDLIBS)

$(B)/asan/smtpwatchd: $(DAEMON:%=$(B)/asan/%.o)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(SW_LDLIBS)

tests: all $(UNITS:%=$(B)/%) $(UNITS:%=$(B)/asan/%) $(B)/asan/smtpwatchctl \
	$(DUNITS:%=$(B)/%) $(B)/asan/t_incident $(B)/asan/smtpwatchd

deps:
	@sh contrib/deps build

check:
	@sh contrib/deps check
	@$(MAKE) --no-print-directory tests
	@sh tests/run-tests

run:
	@sh contrib/deps build
	@$(MAKE) --no-print-directory all
	@sh tests/demo

lint:
	mandoc -Tlint -Wwarning man/*.[0-9]

clean:
	rm -rf $(B)

.PHONY: all tests deps check run lint clean
