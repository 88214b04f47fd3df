-- Stripe's inbox moves to the shared webhook inbox (webhook_inbox + work_items, created by the messaging library's
-- migrations, which run before the service's). Stored events keep their state; the old table becomes a view of the
-- new ones with the same columns, for reports and tools that read it.
INSERT INTO webhook_inbox (provider, id, type, object_id, account, api_version, created, payload, payload_sha256, source, received_at)
SELECT 'stripe', id, type, object_id, account, api_version, created, payload, encode(sha256(convert_to(payload, 'UTF8')), 'hex'), source, received_at
FROM stripe_events
ON CONFLICT DO NOTHING;

INSERT INTO work_items (kind, key, partition_key, payload, status, attempts, max_attempts, run_at, last_error, created_at, finished_at)
SELECT 'webhook:stripe', 'webhook:stripe:' || id, 'stripe:' || COALESCE(object_id, id), id, status, attempts, 85, next_attempt_at, last_error, received_at, processed_at
FROM stripe_events
ON CONFLICT (key) DO NOTHING;

DROP TABLE stripe_events;

CREATE VIEW stripe_events AS
SELECT i.id, i.type, i.api_version, i.account, i.object_id, i.created, i.payload, i.source,
       w.status, w.attempts, w.run_at AS next_attempt_at, w.last_error, i.received_at, w.finished_at AS processed_at, i.conflicts
FROM webhook_inbox i
JOIN work_items w ON w.key = 'webhook:stripe:' || i.id
WHERE i.provider = 'stripe';
