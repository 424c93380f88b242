-- Schema version 2: fewer B-trees to write per event (issue 20).
--
-- buckets_start indexed buckets by time alone; in a table WITHOUT ROWID
-- such an index holds the whole primary key again: it was as large as
-- the table (9.9 of storm-1m's 31.2 MB) and one more B-tree written per
-- bucket.  Retention, the roll-up and status's hourly totals read the
-- buckets in full instead; the listings' windows go by the primary key.
--
-- account_addrs becomes a table WITHOUT ROWID: its primary key is the
-- table, not a second B-tree beside it.  The views that read it are
-- made again around the copy; address_totals finds an address's
-- accounts through account_addrs_addr (CROSS JOIN fixes the order: the
-- planner, without statistics, walked every account of the host for
-- each address instead; 0.33 s for postfix-1m's 1544 addresses, now
-- 0.02 s).
DROP INDEX buckets_start;

DROP VIEW account_totals;
DROP VIEW address_totals;
CREATE TABLE account_addrs_new (
	account_id	INTEGER NOT NULL
			    REFERENCES accounts (id) ON DELETE CASCADE,
	addr		TEXT NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	successes	INTEGER NOT NULL DEFAULT 0,
	first_seen	INTEGER NOT NULL,
	last_seen	INTEGER NOT NULL,
	folded		INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, addr)
) WITHOUT ROWID;
INSERT INTO account_addrs_new (account_id, addr, failures, successes,
    first_seen, last_seen, folded)
SELECT account_id, addr, failures, successes, first_seen, last_seen, folded
FROM account_addrs;
DROP TABLE account_addrs;
ALTER TABLE account_addrs_new RENAME TO account_addrs;
CREATE INDEX account_addrs_addr ON account_addrs (addr);

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
    (SELECT count(*) FROM account_addrs p CROSS JOIN accounts a
	ON a.id = p.account_id
	WHERE p.addr = d.addr AND a.host = d.host AND p.failures > 0)
	AS accounts,
    0 AS folded
FROM addresses d
UNION ALL
SELECT f.host, f.network, f.failures, 0, 0, f.first_failure,
    f.last_failure, NULL, NULL, NULL, f.members
FROM folds f WHERE f.kind = 'address';
