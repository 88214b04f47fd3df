-- The email outbox: a message is rendered once into its row (in the transaction of the event that caused it),
-- then sent by durable work outside any transaction, and marked sent in a second short transaction.
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS mime text;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'sent';
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS queued_at timestamptz;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS last_error text;
ALTER TABLE sent_emails ALTER COLUMN sent_at DROP NOT NULL;
