-- 003-journal.sql -- where the journal source stands, and fleet incidents.
--
-- The systemd journal is read as a source like a log file; its
-- checkpoint row (source 'journal', or 'journal:DIRECTORY') keeps offset,
-- done and held as numbers of entries since the entry named by cursor:
--     cursor      the journal cursor of the last entry read at the commit
--                 (sd_journal_get_cursor(3)), NULL for a file;
--     cursor_seq  that entry's number in the same count as offset, done
--                 and held, so that reading resumes cursor_seq + 1 -
--                 offset entries before the one after it.
-- dev, ino, fplen and fphash are 0 for the journal.

ALTER TABLE checkpoints ADD COLUMN cursor TEXT;
ALTER TABLE checkpoints ADD COLUMN cursor_seq INTEGER;

-- A fleet (several hosts' journals, read together): an account or a
-- client address failing on several hosts is one incident, whose host is
-- '*'; hosts names the hosts it was seen on, blank-separated ("..." at
-- the end when more did not fit), and is NULL for the incidents of one
-- host.  incident_list gains it.
ALTER TABLE incidents ADD COLUMN hosts TEXT;

DROP VIEW incident_list;
CREATE VIEW incident_list AS
SELECT id, host, kind, direction, subject, opened, last, closed,
    close_reason, failures, messages, reported, alerts, last_alert,
    addresses, accounts, diagnosis, last_addr, last_reply,
    CASE WHEN closed IS NULL THEN 'open' ELSE 'closed' END AS state,
    hosts
FROM incidents;
