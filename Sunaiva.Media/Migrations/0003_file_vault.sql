-- File vault: sources (upload, drive), extraction state, per-file language, full-text and trigram search,
-- extracted text, a read audit trail, and the multipart uploads in flight (swept when orphaned by a crash).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

ALTER TABLE files ADD COLUMN source_id text;
ALTER TABLE files ADD COLUMN declared_type text;
ALTER TABLE files ADD COLUMN text_status text NOT NULL DEFAULT 'pending';
ALTER TABLE files ADD COLUMN language regconfig NOT NULL DEFAULT 'simple';
ALTER TABLE files ADD COLUMN search_vector tsvector;
ALTER TABLE files ADD COLUMN metadata jsonb;
ALTER TABLE files ADD COLUMN indexed_at timestamptz;

UPDATE files SET search_vector = setweight(to_tsvector('simple', name), 'A') WHERE search_vector IS NULL;

-- One live copy of the same bytes per user and source; a file of a remote source once per remote id.
CREATE UNIQUE INDEX files_user_sha ON files (user_id, source, sha256) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX files_source_id ON files (user_id, source, source_id) WHERE source_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX files_search ON files USING gin (user_id, search_vector) WHERE deleted_at IS NULL;
CREATE INDEX files_name_trgm ON files USING gin (user_id, name gin_trgm_ops) WHERE deleted_at IS NULL;

CREATE TABLE file_texts (
    file_id   text PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    user_id   text NOT NULL,
    body      text NOT NULL,
    truncated boolean NOT NULL
);

CREATE TABLE file_access_log (
    id      bigserial PRIMARY KEY,
    file_id text NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    action  text NOT NULL,
    detail  text,
    at      timestamptz NOT NULL
);
CREATE INDEX file_access_log_file ON file_access_log (file_id, at DESC, id DESC);

-- A multipart upload exists in storage from its start until its file row commits (same transaction as this
-- row's delete) or it is aborted. A row left behind by a crash is found by UploadSweeper after expires_at.
CREATE TABLE file_uploads (
    id            text PRIMARY KEY,
    user_id       text NOT NULL,
    storage_upload_id text NOT NULL,
    object_key    text NOT NULL,
    kind          text NOT NULL,
    name          text,
    declared_type text,
    size_bytes    bigint,
    part_size     bigint,
    idempotency_key text,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX file_uploads_expiry ON file_uploads (expires_at);
