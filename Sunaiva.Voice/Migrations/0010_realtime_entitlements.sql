-- Plans of users' subscriptions, mirrored from Billing's subscription.activated / subscription.canceled events.
CREATE TABLE voice_subscriptions (
    subscription_id text PRIMARY KEY,
    user_id         text NOT NULL,
    plan            text,
    status          text NOT NULL,
    active          boolean NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX voice_subscriptions_user ON voice_subscriptions (user_id) WHERE active;

-- Cloud realtime minutes: one row per minted client secret. reserved_seconds is taken when the key is minted; used_seconds
-- replaces it once the session reports its real length; released rows (the mint failed) count nothing.
CREATE TABLE voice_realtime_usage (
    session_id       text PRIMARY KEY,
    user_id          text NOT NULL,
    day              date NOT NULL,
    reserved_seconds integer NOT NULL,
    used_seconds     integer,
    released         boolean NOT NULL DEFAULT false,
    voice_id         text NOT NULL,
    model            text NOT NULL,
    created_at       timestamptz NOT NULL,
    reported_at      timestamptz
);
CREATE INDEX voice_realtime_usage_user_day ON voice_realtime_usage (user_id, day);
