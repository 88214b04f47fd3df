-- Webhook payloads larger than about 2 KB (a Stripe subscription event is about 7 KB as delivered) are compressed when
-- stored, and the inbox writes every delivery before it is acknowledged. Postgres's defaults (pglz, and the compressed
-- value moved to the TOAST table) cost 77-90 µs of Postgres per 7 KB row; lz4 kept in the row 22 µs, the table the same
-- size (20,000 inserts of such an event in psql on this project's 2-core machine, 2026-12-02; docs/billing.md
-- "Deliveries the size Stripe sends").
-- Storage MAIN keeps a value in its row unless the row cannot fit its page otherwise. Every text column has it: with the
-- payload alone, Postgres made the row small by moving the next values out instead (the payload's SHA-256, one TOAST
-- insert per delivery). Rows stored before keep how they were stored; a Postgres built without lz4 keeps pglz.
ALTER TABLE webhook_inbox
    ALTER COLUMN provider SET STORAGE MAIN,
    ALTER COLUMN id SET STORAGE MAIN,
    ALTER COLUMN type SET STORAGE MAIN,
    ALTER COLUMN object_id SET STORAGE MAIN,
    ALTER COLUMN account SET STORAGE MAIN,
    ALTER COLUMN api_version SET STORAGE MAIN,
    ALTER COLUMN payload SET STORAGE MAIN,
    ALTER COLUMN payload_sha256 SET STORAGE MAIN,
    ALTER COLUMN source SET STORAGE MAIN;
DO $$
BEGIN
    ALTER TABLE webhook_inbox ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available in this Postgres build; webhook payloads stay compressed with pglz';
END
$$;
