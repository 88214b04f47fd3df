-- Webhook payloads larger than about 2 KB (a Stripe subscription event is about 7 KB as delivered) are compressed when
-- stored, and the inbox writes every delivery before it is acknowledged. Postgres's defaults (pglz, and the compressed
-- value moved to the TOAST table) cost 77-90 µs of Postgres per 7 KB row; lz4 kept in the row (storage MAIN: moved out
-- only when a row cannot fit its page otherwise) 22 µs, the table the same size (20,000 inserts of such an event in
-- psql on this project's 2-core machine, 2026-12-02; docs/billing.md "Deliveries the size Stripe sends"). Rows stored
-- before keep how they were stored; a Postgres built without lz4 keeps pglz.
ALTER TABLE webhook_inbox ALTER COLUMN payload SET STORAGE MAIN;
DO $$
BEGIN
    ALTER TABLE webhook_inbox ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available in this Postgres build; webhook payloads stay compressed with pglz';
END
$$;
