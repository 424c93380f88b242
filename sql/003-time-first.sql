-- Schema version 3: buckets keyed by time first (issue 20).
--
-- A batch's buckets are those of its last few minutes.  Keyed by scope,
-- host and key first they were spread over the whole B-tree, and a
-- storm's commit wrote most of its pages again (storm-1m's catch-up:
-- 896 MB written for a 12.7 MB file).  Keyed by start first they are
-- one run of pages at the B-tree's end: 464 MB.  Retention, the
-- roll-up into hours, status's hourly totals and the engine's read-back
-- at start read a range of times instead of every bucket; the listings'
-- windows sum the buckets of the window once, grouped by key, and join
-- the sums to the rows; one account's or address's buckets (show, fold,
-- reset) are found by reading the buckets of the time asked for, or
-- all of them: no second B-tree is written with every bucket to spare
-- those rare reads a scan.
CREATE TABLE buckets_new (
	scope		TEXT NOT NULL CHECK (scope IN ('account', 'addr', 'relay',
			    'fold')),
	host		TEXT NOT NULL,
	key		BLOB NOT NULL,
	start		INTEGER NOT NULL,
	failures	INTEGER NOT NULL DEFAULT 0,
	affected	INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (start, scope, host, key)
) WITHOUT ROWID;
INSERT INTO buckets_new (scope, host, key, start, failures, affected)
SELECT scope, host, key, start, failures, affected FROM buckets
ORDER BY start, scope, host, key;
DROP TABLE buckets;
ALTER TABLE buckets_new RENAME TO buckets;
