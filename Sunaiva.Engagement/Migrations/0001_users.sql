-- Users as the conversation backend reports them; Engagement needs them to write to people.
CREATE TABLE users (
    id             text PRIMARY KEY,
    email          text NOT NULL,
    name           text,
    language       text,
    country        text,
    goals          jsonb NOT NULL DEFAULT '[]',
    voice          text,
    referral_code  text,
    signed_up_at   timestamptz NOT NULL,
    last_active_at timestamptz
);

-- Every email sent, once per (user, kind): a redelivered event does not mail twice.
CREATE TABLE sent_emails (
    id         text PRIMARY KEY,
    user_id    text NOT NULL,
    kind       text NOT NULL,
    recipient  text NOT NULL,
    subject    text NOT NULL,
    sent_at    timestamptz NOT NULL,
    UNIQUE (user_id, kind)
);
