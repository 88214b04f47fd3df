-- Every event id the conversation backend sent, with the user it named: a retry is recognised, a re-used id refused.
CREATE TABLE internal_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    user_id     text NOT NULL,
    received_at timestamptz NOT NULL
);
