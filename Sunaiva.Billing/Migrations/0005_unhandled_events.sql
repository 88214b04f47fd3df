-- Deliveries of a type no handler takes are stored without a work item (WebhookInbox): the view keeps showing them,
-- as 'ignored' and processed when received, as before when their work item was finished as ignored.
CREATE OR REPLACE VIEW stripe_events AS
SELECT i.id, i.type, i.api_version, i.account, i.object_id, i.created, i.payload, i.source,
       COALESCE(w.status, 'ignored') AS status, COALESCE(w.attempts, 0) AS attempts, w.run_at AS next_attempt_at, w.last_error,
       i.received_at, COALESCE(w.finished_at, i.received_at) AS processed_at, i.conflicts
FROM webhook_inbox i
LEFT JOIN work_items w ON w.key = 'webhook:stripe:' || i.id
WHERE i.provider = 'stripe';
