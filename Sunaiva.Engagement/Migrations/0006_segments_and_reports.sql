-- Smart re-engagement: each user's activity as events report it, the segments they are in (kept as events arrive,
-- never rebuilt in bulk), and the hours at which they open mail.
CREATE TABLE IF NOT EXISTS user_engagement (
    user_id         text PRIMARY KEY,
    last_active_at  timestamptz,
    week_start      date,               -- the Monday (UTC) of the week this_week counts
    this_week       int NOT NULL DEFAULT 0,
    last_week       int NOT NULL DEFAULT 0,
    week_before     int NOT NULL DEFAULT 0,
    open_hours      int[] NOT NULL DEFAULT array_fill(0, ARRAY[24]),  -- first opens per UTC hour
    opens_counted   int NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS segment_members (
    segment    text NOT NULL,
    user_id    text NOT NULL,
    entered_at timestamptz NOT NULL,
    PRIMARY KEY (segment, user_id)
);
CREATE INDEX IF NOT EXISTS segment_members_user ON segment_members (user_id);

-- Every entry into and exit from a segment (the campaigns act on entries; the bench reads the lag from it).
CREATE TABLE IF NOT EXISTS segment_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment     text NOT NULL,
    user_id     text NOT NULL,
    change      text NOT NULL,          -- entered | left
    at          timestamptz NOT NULL,   -- when it became true (the event's time)
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Influencer performance: a read model of Billing's events (signups by referral code, conversions, commissions,
-- clawbacks, payouts), and which user an influencer's referral code belongs to (learned from payout events).
CREATE TABLE IF NOT EXISTS referred_users (
    user_id       text PRIMARY KEY,
    referral_code text NOT NULL,
    signed_up_at  timestamptz NOT NULL,
    converted_at  timestamptz,
    canceled_at   timestamptz
);
CREATE INDEX IF NOT EXISTS referred_users_code ON referred_users (referral_code);

CREATE TABLE IF NOT EXISTS influencer_ledger (
    key           text PRIMARY KEY,     -- the fact's own id: a replayed event adds nothing
    referral_code text NOT NULL,
    kind          text NOT NULL,        -- commission | clawback | payout
    amount_usd    bigint NOT NULL,      -- cents, positive
    period        text NOT NULL,        -- YYYY-MM it counts in
    at            timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS influencer_ledger_code ON influencer_ledger (referral_code, period);

CREATE TABLE IF NOT EXISTS influencers (
    referral_code text PRIMARY KEY,
    influencer_id text NOT NULL,
    user_id       text NOT NULL
);
