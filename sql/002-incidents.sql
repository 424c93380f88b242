-- 002-incidents.sql -- incidents as the alert engine (incident.c) keeps
-- them, written by smtpwatchd with each batch.
--
-- The incidents of 001 (a run of failures per account or relay that the
-- store derived itself, closed by a success) are dropped, not converted:
-- no release wrote them.  relay_totals is made again, column for column
-- as in 001, on the new table.
--
-- An incident is an open run of trouble for one subject: opened when its
-- alert threshold is reached (a relay: at its first refusal), closed by
-- a success or by quiet time.  At most one is open per (host, kind,
-- subject); a subject may have any number of closed ones.  Times are
-- INTEGER unix seconds (UTC) of the log lines, not of the clock.
--
-- incident_list: one row per incident, open or closed.
--     id (assigned by smtpwatchd, rising),
--     host (the syslog host, '' when none was logged),
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
--     state ('open' or 'closed')
--
-- relay_totals.state is 'failing' while an incident of kind 'relay' is
-- open for the relay (subject = CAST(relay AS BLOB)), else 'ok'.
-- Closed incidents are deleted after the retention time.

DROP VIEW relay_totals;
DROP INDEX incidents_open;
DROP TABLE incidents;

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
	last_reply	TEXT		-- NULL when ""
);
CREATE UNIQUE INDEX incidents_open ON incidents (host, kind, subject)
    WHERE closed IS NULL;

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
    CASE WHEN closed IS NULL THEN 'open' ELSE 'closed' END AS state
FROM incidents;
