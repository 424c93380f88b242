-- 001-initial.sql -- the schema of the smtpwatch database.
--
-- smtpwatchd is the only writer.  It applies sql/NNN-*.sql in order, one
-- transaction each, sets PRAGMA user_version to the number of the last
-- one, and gives a new file PRAGMA application_id 1397576791
-- (0x534d5457, "SMTW").  Development builds before 0.1 had three
-- migrations of their own, folded into this one file before the first
-- release: the files they made (application_id 0, user_version 1 to 3)
-- cannot be upgraded and are refused; move such a file away and
-- smtpwatchd makes a new one.  Nothing was released, so no conversion
-- is offered.  A new file is made with PRAGMA auto_vacuum = INCREMENTAL
-- (it can only be set before the first table): what retention and
-- folding delete is given back to the file system by smtpwatchd's
-- PRAGMA incremental_vacuum.
--
-- Scripts and smtpwatchctl read the views below: they are the stable
-- interface, kept column for column by every later migration (columns
-- may be added at the end).  The tables may change.
--
-- Times are INTEGER unix seconds (UTC), taken from the log lines, not
-- from the clock.  host is the syslog host of the line, '' when it had
-- none.  direction is 'server' (clients authenticating to us) or
-- 'client' (us authenticating to a relay).  Accounts are BLOBs holding
-- the exact bytes logged (any byte, NUL included): CAST(account AS
-- TEXT) to print, and escape what you print, it was typed by whoever
-- connected.  The last_* columns describe the latest failure or trouble
-- event (by its time), not successes; last_diagnosis is the id of a
-- [diagnosis] entry of the rules, or NULL.
--
-- account_totals: one row per account and direction.  Server side: the
--   accounts named in failed or successful logins (table accounts);
--   client side: the relays we log in to, one row for each row of
--   relay_totals, with the same numbers (account holds the relay's
--   name, as a BLOB).
--     host, direction, account,
--     failures, successes, affected (client: messages held back by the
--     failures), trouble (AUTH failed, not for the credentials),
--     first_failure, last_failure, last_success,
--     last_addr (client address, or the relay's address),
--     last_reply, last_diagnosis,
--     addresses (distinct client addresses that failed for the account;
--     always 0 client side, where the only address is the relay's own:
--     see last_addr; an address folded into its network's row counts
--     once per address folded),
--     folded (0 for an account; else the row sums accounts folded
--     when the database reached its size limit: see folds below),
--     network (NULL for an account; for folded accounts their client
--     network, such as 2001:db8:1:2::/64 or 192.0.2.0/24, '' when none
--     was logged)
--   A row of folded accounts has account NULL, successes, affected and
--   trouble 0, last_success, last_addr, last_reply, last_diagnosis and
--   addresses NULL; its failures, first_failure and last_failure are
--   those of the accounts folded into it.  Summed over its rows,
--   account_totals gives every failure ever counted and not expired.
--
-- address_totals: one row per server-side client address that failed
--   or had trouble (a success alone does not create a row).
--     host, addr, failures, successes, trouble,
--     first_failure, last_failure, last_success,
--     last_account (the latest account tried from it, NULL if none was
--     ever logged), accounts (distinct accounts that failed from it and
--     were not folded),
--     folded (0 for an address; else the row sums client addresses of
--     one network folded when the database reached its size limit, and
--     addr is the network, such as 2001:db8:1:2::/64: successes and
--     trouble 0, last_success, last_account and accounts NULL)
--
-- relay_totals: one row per relay we failed to log in to (a relay we
--   only ever delivered to successfully has none).
--     host, relay, failures, affected, successes, trouble,
--     first_failure, last_failure, last_success,
--     last_addr, last_reply, last_diagnosis,
--     state ('failing' while an incident of kind 'relay' is open for the
--     relay, subject = CAST(relay AS BLOB); else 'ok')
--
-- incident_list: one row per incident, open or closed.  An incident is
--   an open run of trouble for one subject: opened when its alert
--   threshold is reached (a relay: at its first refusal), closed by a
--   success or by quiet time.  At most one is open per (host, kind,
--   subject); a subject may have any number of closed ones.  Closed
--   incidents are deleted after the retention time.
--     id (assigned by smtpwatchd, rising),
--     host (the syslog host, '' when none was logged; '*' for a fleet
--     incident, see hosts),
--     kind ('relay': a relay refuses our credentials; 'account': an
--     account fails AUTH against us; 'address': one client address fails
--     on many accounts; 'backend': our SASL back end is failing),
--     direction ('client' for relay, else 'server'),
--     subject (BLOB: the relay's name, the account's exact bytes, the
--     client address, or the host for backend.  An account was typed by
--     whoever connected and may hold any byte, NUL included: CAST it AS
--     TEXT to print, and escape what you print),
--     opened (the first failure counted in it), last (its latest failure,
--     or held-back message), closed (NULL while open),
--     close_reason ('success', 'quiet' or 'reset'; NULL while open),
--     failures (failures; backend: trouble events), messages (relay:
--     messages held back), reported (failures told in journal entries so
--     far), alerts (journal entries written), last_alert (log time of the
--     latest entry, NULL before the first),
--     addresses (account: distinct client addresses failing),
--     accounts (address: distinct accounts failing),
--     diagnosis (id of a [diagnosis] entry of the rules, or NULL),
--     last_addr (the latest failing address, or NULL),
--     last_reply (the latest reply or reason, or NULL; attacker-typed on
--     the server side: escape it),
--     state ('open' or 'closed'),
--     hosts (a fleet, several hosts' journals read together: an account
--     or a client address failing on several hosts is one incident, of
--     host '*', and hosts names the hosts it was seen on, blank-separated,
--     "..." at the end when more did not fit; NULL for the incidents of
--     one host),
--     logins (account: logins while it was open from addresses that were
--     not failing it -- the owner, elsewhere: recorded, they do not close
--     an attack), login_last (the log time of the latest, NULL when
--     none), login_addr (its address, NULL when none)
--
-- Tables, for the curious: accounts (server side only), account_addrs,
-- addresses, relays (every client-side count), buckets (failures per
-- minute or so, for windowed counts; per hour after bucket-rollup),
-- incidents, checkpoints (where each source was read to, written in the
-- same transaction as the counts it covers), folds (accounts and
-- addresses folded into a row per client network), meta (smtpwatchd's
-- own notes: the last expiry and the last one refused).
--
-- Folding: when the file passes three quarters of its size limit
-- (database-limit), smtpwatchd folds the rows least worth keeping: the
-- server-side accounts and the client addresses that failed once and
-- never succeeded (then twice, four times ... when that is not
-- enough), grouped by host and client network (/64 and /24, then
-- wider), into one row of folds per network and kind; an account's
-- addresses that failed once into one account_addrs row per network
-- (addr the network, folded how many).  Their buckets go with them:
-- a folded address's under the network as key, a folded account's
-- under scope 'fold'.  Counts stay exact: no failure is lost, only
-- which account or address of the network it was.

-- Server-side accounts.  Client-side events (us logging in to a relay)
-- are counted in relays alone; direction stays, always 'server', so
-- that a reader may join this table by the direction of account_totals.
CREATE TABLE accounts (
	id		INTEGER PRIMARY KEY,
	host		TEXT NOT NULL,
	direction	TEXT NOT NULL DEFAULT 'server'
			    CHECK (direction = 'server'),
	account		BLOB NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	successes	INTEGER NOT NULL DEFAULT 0,
	affected	INTEGER NOT NULL DEFAULT 0,
	trouble		INTEGER NOT NULL DEFAULT 0,
	first_failure	INTEGER,
	last_failure	INTEGER,
	last_success	INTEGER,
	last_seen	INTEGER NOT NULL,	-- any event: retention
	last_event	INTEGER,		-- the event last_* describe
	last_addr	TEXT,
	last_reply	TEXT,
	last_diagnosis	TEXT,
	last_mech	TEXT,
	UNIQUE (host, direction, account)
);

-- The addresses an account failed or succeeded from.  The foreign key
-- is enforced: smtpwatchd turns PRAGMA foreign_keys on for its
-- connection, so no address outlives its account (retention and reset
-- delete accounts; their addresses go with them).
-- A row with folded > 0 holds that many addresses of the network addr
-- (see Folding above), each of which failed once.
CREATE TABLE account_addrs (
	account_id	INTEGER NOT NULL
			    REFERENCES accounts (id) ON DELETE CASCADE,
	addr		TEXT NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	successes	INTEGER NOT NULL DEFAULT 0,
	first_seen	INTEGER NOT NULL,
	last_seen	INTEGER NOT NULL,
	folded		INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, addr)
);
CREATE INDEX account_addrs_addr ON account_addrs (addr);

CREATE TABLE addresses (
	host		TEXT NOT NULL,
	addr		TEXT NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	successes	INTEGER NOT NULL DEFAULT 0,
	trouble		INTEGER NOT NULL DEFAULT 0,
	first_failure	INTEGER,
	last_failure	INTEGER,
	last_success	INTEGER,
	last_seen	INTEGER NOT NULL,
	last_event	INTEGER,
	last_account	BLOB,
	last_reply	TEXT,
	last_diagnosis	TEXT,
	PRIMARY KEY (host, addr)
);

CREATE TABLE relays (
	host		TEXT NOT NULL,
	relay		TEXT NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	affected	INTEGER NOT NULL DEFAULT 0,
	successes	INTEGER NOT NULL DEFAULT 0,
	trouble		INTEGER NOT NULL DEFAULT 0,
	first_failure	INTEGER,
	last_failure	INTEGER,
	last_success	INTEGER,
	last_seen	INTEGER NOT NULL,
	last_event	INTEGER,
	last_addr	TEXT,
	last_reply	TEXT,
	last_diagnosis	TEXT,
	PRIMARY KEY (host, relay)
);

-- Windowed counts: start = time - time % bucket-width.  Server failures
-- count under 'addr' (key = the address, '' when not logged) and, when
-- the account is known, 'account'; client failures and affected
-- messages under 'relay'.  Each failure is in exactly one of 'addr' and
-- 'relay'.  Buckets older than bucket-rollup (by the newest log time;
-- two hours by default) are rolled up into one per hour, start = time -
-- time % 3600, with the same sums.  Folding (above) moves a folded
-- address's buckets to its network (key = '2001:db8:1:2::/64', still
-- 'addr') and a folded account's to scope 'fold' (key = its network).
CREATE TABLE buckets (
	scope		TEXT NOT NULL CHECK (scope IN ('account', 'addr', 'relay',
			    'fold')),
	host		TEXT NOT NULL,
	key		BLOB NOT NULL,
	start		INTEGER NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	affected	INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (scope, host, key, start)
) WITHOUT ROWID;
CREATE INDEX buckets_start ON buckets (start);

-- Incidents as the alert engine (incident.c) keeps them, written by
-- smtpwatchd with each batch; see incident_list above.
CREATE TABLE incidents (
	id		INTEGER PRIMARY KEY,	-- assigned by the daemon
	host		TEXT NOT NULL,
	kind		TEXT NOT NULL CHECK (kind IN ('relay', 'account',
			    'address', 'backend')),
	direction	TEXT NOT NULL CHECK (direction IN ('server', 'client')),
					-- relay: client, others server
	subject		BLOB NOT NULL,	-- account bytes, client address,
					-- relay name, or the host (backend)
	opened		INTEGER NOT NULL,
	last		INTEGER NOT NULL,
	closed		INTEGER,
	close_reason	TEXT,		-- success, quiet, reset
	failures	INTEGER NOT NULL DEFAULT 0,
	messages	INTEGER NOT NULL DEFAULT 0,
	reported	INTEGER NOT NULL DEFAULT 0,
	alerts		INTEGER NOT NULL DEFAULT 0,
	last_alert	INTEGER,
	addresses	INTEGER NOT NULL DEFAULT 0,
	accounts	INTEGER NOT NULL DEFAULT 0,
	diagnosis	TEXT,		-- NULL when ""
	last_addr	TEXT,		-- NULL when ""
	last_reply	TEXT,		-- NULL when ""
	hosts		TEXT,		-- fleet incidents (host '*') only
	logins		INTEGER NOT NULL DEFAULT 0,
	login_last	INTEGER,
	login_addr	TEXT		-- NULL when ""
);
CREATE UNIQUE INDEX incidents_open ON incidents (host, kind, subject)
    WHERE closed IS NULL;

-- Where each source stands; see struct sw_checkpoint.  dev, ino and
-- fphash are uint64 stored as int64; held is a space-separated list of
-- decimal offsets.  The systemd journal is read as a source like a log
-- file; its row (source 'journal', or 'journal:DIRECTORY') keeps offset,
-- done and held as numbers of entries since the entry named by cursor:
--     cursor      the journal cursor of the last entry read at the commit
--                 (sd_journal_get_cursor(3)), NULL for a file;
--     cursor_seq  that entry's number in the same count as offset, done
--                 and held, so that reading resumes cursor_seq + 1 -
--                 offset entries before the one after it.
-- dev, ino, fplen and fphash are 0 for the journal.
CREATE TABLE checkpoints (
	source		TEXT PRIMARY KEY,
	dev		INTEGER NOT NULL,
	ino		INTEGER NOT NULL,
	fplen		INTEGER NOT NULL,
	fphash		INTEGER NOT NULL,
	offset		INTEGER NOT NULL,
	done		INTEGER NOT NULL,
	held		TEXT NOT NULL DEFAULT '',
	state		BLOB,
	updated		INTEGER NOT NULL,
	cursor		TEXT,
	cursor_seq	INTEGER
);

-- Accounts and client addresses folded into a row per network (see
-- Folding above), per host and kind ('account' or 'address'); network
-- is '' for accounts whose address was not logged.  members: how many
-- were folded; failures: theirs; first_failure, last_failure,
-- last_seen: over them; last_fold: the newest log time when the last
-- ones were folded in.
CREATE TABLE folds (
	host		TEXT NOT NULL,
	kind		TEXT NOT NULL CHECK (kind IN ('account', 'address')),
	network		TEXT NOT NULL,
	members		INTEGER NOT NULL DEFAULT 0,
	failures	INTEGER NOT NULL DEFAULT 0,
	first_failure	INTEGER,
	last_failure	INTEGER,
	last_seen	INTEGER NOT NULL,
	last_fold	INTEGER NOT NULL,
	PRIMARY KEY (host, kind, network)
);

-- smtpwatchd's notes, one integer per name: expire_log and expire_wall,
-- the newest log time and the machine's clock at the last expiry that
-- ran; refused_wall, refused_log, refused_rows, refused_total, the
-- last expiry refused (0 once one runs again): when, by which log time,
-- and the rows it would have deleted of how many.
CREATE TABLE meta (
	name		TEXT PRIMARY KEY,
	value		INTEGER NOT NULL
) WITHOUT ROWID;

CREATE VIEW account_totals AS
SELECT a.host, a.direction, a.account, a.failures, a.successes,
    a.affected, a.trouble, a.first_failure, a.last_failure, a.last_success,
    a.last_addr, a.last_reply, a.last_diagnosis,
    (SELECT coalesce(sum(max(p.folded, 1)), 0) FROM account_addrs p
	WHERE p.account_id = a.id AND p.failures > 0) AS addresses,
    0 AS folded, NULL AS network
FROM accounts a
UNION ALL
SELECT r.host, 'client', CAST(r.relay AS BLOB), r.failures, r.successes,
    r.affected, r.trouble, r.first_failure, r.last_failure, r.last_success,
    r.last_addr, r.last_reply, r.last_diagnosis, 0, 0, NULL
FROM relays r
UNION ALL
SELECT f.host, 'server', NULL, f.failures, 0, 0, 0, f.first_failure,
    f.last_failure, NULL, NULL, NULL, NULL, NULL, f.members, f.network
FROM folds f WHERE f.kind = 'account';

CREATE VIEW address_totals AS
SELECT d.host, d.addr, d.failures, d.successes, d.trouble,
    d.first_failure, d.last_failure, d.last_success, d.last_account,
    (SELECT count(*) FROM account_addrs p JOIN accounts a
	ON a.id = p.account_id
	WHERE p.addr = d.addr AND a.host = d.host AND p.failures > 0)
	AS accounts,
    0 AS folded
FROM addresses d
UNION ALL
SELECT f.host, f.network, f.failures, 0, 0, f.first_failure,
    f.last_failure, NULL, NULL, NULL, f.members
FROM folds f WHERE f.kind = 'address';

CREATE VIEW relay_totals AS
SELECT r.host, r.relay, r.failures, r.affected, r.successes, r.trouble,
    r.first_failure, r.last_failure, r.last_success, r.last_addr,
    r.last_reply, r.last_diagnosis,
    CASE WHEN EXISTS (SELECT 1 FROM incidents i
	WHERE i.host = r.host AND i.kind = 'relay'
	AND i.subject = CAST(r.relay AS BLOB) AND i.closed IS NULL)
    THEN 'failing' ELSE 'ok' END AS state
FROM relays r;

CREATE VIEW incident_list AS
SELECT id, host, kind, direction, subject, opened, last, closed,
    close_reason, failures, messages, reported, alerts, last_alert,
    addresses, accounts, diagnosis, last_addr, last_reply,
    CASE WHEN closed IS NULL THEN 'open' ELSE 'closed' END AS state,
    hosts, logins, login_last, login_addr
FROM incidents;
