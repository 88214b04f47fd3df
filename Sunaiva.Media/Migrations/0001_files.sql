CREATE TABLE files (
    id              text PRIMARY KEY,
    user_id         text NOT NULL,
    name            text NOT NULL,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    object_key      text NOT NULL,
    source          text NOT NULL,
    idempotency_key text,
    created_at      timestamptz NOT NULL
);
CREATE INDEX files_user ON files (user_id, created_at DESC);
CREATE UNIQUE INDEX files_idempotency ON files (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
