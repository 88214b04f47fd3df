-- One durable work model for the whole service: events from other services, webhook deliveries,
-- background jobs, scheduled and delayed work. A row is claimed by a lease (no lock is held while it
-- runs), completed, retried with back-off, or dead-lettered; replay puts a dead row back.
CREATE TABLE IF NOT EXISTS work_items (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    key           text NOT NULL UNIQUE,
    partition_key text,
    payload       text NOT NULL,
    status        text NOT NULL DEFAULT 'pending',
    attempts      int NOT NULL DEFAULT 0,
    max_attempts  int NOT NULL,
    run_at        timestamptz NOT NULL,
    lease_owner   text,
    lease_until   timestamptz,
    last_error    text,
    traceparent   text,
    created_at    timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX IF NOT EXISTS work_items_due ON work_items (run_at, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS work_items_dead ON work_items (kind, finished_at) WHERE status = 'dead';
CREATE INDEX IF NOT EXISTS work_items_partition ON work_items (partition_key) WHERE status = 'pending' AND partition_key IS NOT NULL;

-- At most one item of a partition (a Stripe customer, a user) runs at a time: a lease row per partition,
-- taken with an upsert so two claimers racing for the same partition are serialized by Postgres.
CREATE TABLE IF NOT EXISTS work_partitions (
    key         text PRIMARY KEY,
    item_id     bigint NOT NULL,
    lease_until timestamptz NOT NULL
);

-- Events carry the W3C trace context of the request that caused them.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text;
-- The relay leases rows instead of locking them while it talks to Redis.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS relay_lease_until timestamptz;

-- Which Redis data set the relay last published into: a different epoch means Redis lost its data.
CREATE TABLE IF NOT EXISTS event_relay_state (
    stream text PRIMARY KEY,
    epoch  text NOT NULL
);

-- Webhook deliveries of every provider, stored once as received (the work item processes them).
CREATE TABLE IF NOT EXISTS webhook_inbox (
    provider       text NOT NULL,
    id             text NOT NULL,
    type           text NOT NULL,
    object_id      text,
    account        text,
    api_version    text,
    created        timestamptz,
    payload        text NOT NULL,
    payload_sha256 text NOT NULL,
    source         text NOT NULL,
    received_at    timestamptz NOT NULL,
    conflicts      int NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, id)
);
