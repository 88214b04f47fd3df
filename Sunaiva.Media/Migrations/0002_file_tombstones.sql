-- A deleted file is a tombstone until its object is gone from storage: hidden at once, removed by FileCleanup.
ALTER TABLE files ADD COLUMN deleted_at timestamptz;
ALTER TABLE files ADD COLUMN cleanup_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN cleanup_after timestamptz;
CREATE INDEX files_tombstones ON files (cleanup_after) WHERE deleted_at IS NOT NULL;
