-- Transactional outbox: events are written in the same transaction as the change they describe,
-- then relayed to the Redis stream.
CREATE TABLE IF NOT EXISTS outbox (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    payload      jsonb NOT NULL,
    occurred_at  timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (occurred_at) WHERE published_at IS NULL;

-- Idempotent consumption: a row per handled event, written in the handler's transaction.
CREATE TABLE IF NOT EXISTS processed_events (
    event_id   text PRIMARY KEY,
    type       text NOT NULL,
    handled_at timestamptz NOT NULL
);
