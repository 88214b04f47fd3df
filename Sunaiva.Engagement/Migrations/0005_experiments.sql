-- A/B tests of campaign steps: which experiment and phase a message belongs to, and each experiment's decision.
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS experiment text;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS experiment_phase text;
CREATE INDEX IF NOT EXISTS sent_emails_experiment ON sent_emails (experiment, variant) WHERE experiment IS NOT NULL;

CREATE TABLE IF NOT EXISTS experiments (
    id           text PRIMARY KEY,
    winner       text,
    confidence   float8,
    decided_at   timestamptz,
    evaluated_at timestamptz
);
