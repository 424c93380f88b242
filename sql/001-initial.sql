-- 001-initial.sql -- the first schema of the smtpwatch database.
--
-- smtpwatchd is the only writer; it applies sql/NNN-*.sql in order, one
-- transaction each, and sets PRAGMA user_version to the number of the
-- last one.  Scripts and smtpwatchctl read the views below: they are the
-- stable interface, kept column for column by every later migration
-- (columns may be added at the end).  The tables may change.
--
-- Times are INTEGER unix seconds (UTC), taken from the log lines.
-- host is the syslog host of the line, '' when it had none.  direction
-- is 'server' (clients authenticating to us) or 'client' (us
-- authenticating to a relay).  Accounts are BLOBs holding the exact
-- bytes logged (any byte, NUL included): CAST(account AS TEXT) to print,
-- and escape what you print, it was typed by whoever connected.  The
-- last_* columns describe the latest failure or trouble event (by its
-- time), not successes; last_diagnosis is the id of a [diagnosis] entry
-- of the rules, or NULL.
--
-- account_totals: one row per account and direction.  Server side:
--   accounts named in failed or successful logins; client side: the
--   relays we log in to, by host name (account holds the name).
--     host, direction, account,
--     failures, successes, affected (client: messages held back by the
--     failures), trouble (AUTH failed, not for the credentials),
--     first_failure, last_failure, last_success,
--     last_addr (client address, or the relay's address),
--     last_reply, last_diagnosis,
--     addresses (distinct client addresses that failed for the account)
--
-- address_totals: one row per server-side client address that failed
--   or had trouble (a success alone does not create a row).
--     host, addr, failures, successes, trouble,
--     first_failure, last_failure, last_success,
--     last_account (the latest account tried from it, NULL if none was
--     ever logged), accounts (distinct accounts that failed from it)
--
-- relay_totals: one row per relay we failed to log in to (a relay we
--   only ever delivered to successfully has none).
--     host, relay, failures, affected, successes, trouble,
--     first_failure, last_failure, last_success,
--     last_addr, last_reply, last_diagnosis,
--     state ('failing' while an incident is open, else 'ok'; see 002)
--
-- Tables, for the curious: incidents (replaced by 002, see there),
-- buckets (failures per minute or so, for windowed counts), checkpoints
-- (where each log was read to, written in the same transaction as the
-- counts it covers).

CREATE TABLE accounts (
	id		INTEGER PRIMARY KEY,
	host		TEXT NOT NULL,
	direction	TEXT NOT NULL CHECK (direction IN ('server', 'client')),
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

-- Server side: the addresses an account failed or succeeded from.
CREATE TABLE account_addrs (
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	addr		TEXT NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	successes	INTEGER NOT NULL DEFAULT 0,
	first_seen	INTEGER NOT NULL,
	last_seen	INTEGER NOT NULL,
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
-- 'relay'.
CREATE TABLE buckets (
	scope		TEXT NOT NULL CHECK (scope IN ('account', 'addr', 'relay')),
	host		TEXT NOT NULL,
	key		BLOB NOT NULL,
	start		INTEGER NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	affected	INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (scope, host, key, start)
) WITHOUT ROWID;
CREATE INDEX buckets_start ON buckets (start);

-- Replaced by 002-incidents.sql.
CREATE TABLE incidents (
	id		INTEGER PRIMARY KEY,
	host		TEXT NOT NULL,
	direction	TEXT NOT NULL CHECK (direction IN ('server', 'client')),
	subject		BLOB NOT NULL,
	opened		INTEGER NOT NULL,
	last		INTEGER NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	affected	INTEGER NOT NULL DEFAULT 0,
	diagnosis	TEXT,
	last_reply	TEXT,
	closed		INTEGER,
	close_reason	TEXT
);
CREATE UNIQUE INDEX incidents_open ON incidents (host, direction, subject)
    WHERE closed IS NULL;

-- Where each source stands; see struct sw_checkpoint.  dev, ino and
-- fphash are uint64 stored as int64; held is a space-separated list of
-- decimal offsets.
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
	updated		INTEGER NOT NULL
);

CREATE VIEW account_totals AS
SELECT a.host, a.direction, a.account, a.failures, a.successes,
    a.affected, a.trouble, a.first_failure, a.last_failure, a.last_success,
    a.last_addr, a.last_reply, a.last_diagnosis,
    (SELECT count(*) FROM account_addrs p
	WHERE p.account_id = a.id AND p.failures > 0) AS addresses
FROM accounts a;

CREATE VIEW address_totals AS
SELECT d.host, d.addr, d.failures, d.successes, d.trouble,
    d.first_failure, d.last_failure, d.last_success, d.last_account,
    (SELECT count(*) FROM account_addrs p JOIN accounts a
	ON a.id = p.account_id
	WHERE p.addr = d.addr AND a.host = d.host AND p.failures > 0)
	AS accounts
FROM addresses d;

CREATE VIEW relay_totals AS
SELECT r.host, r.relay, r.failures, r.affected, r.successes, r.trouble,
    r.first_failure, r.last_failure, r.last_success, r.last_addr,
    r.last_reply, r.last_diagnosis,
    CASE WHEN EXISTS (SELECT 1 FROM incidents i
	WHERE i.host = r.host AND i.direction = 'client'
	AND i.subject = CAST(r.relay AS BLOB) AND i.closed IS NULL)
    THEN 'failing' ELSE 'ok' END AS state
FROM relays r;
