-- 003-journal.sql -- where the journal source stands.
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
