-- Stripe customers of our users; one per user, created on first checkout.
CREATE TABLE billing_customers (
    user_id            text PRIMARY KEY,
    stripe_customer_id text NOT NULL UNIQUE,
    country            text,
    currency           text NOT NULL,
    referral_synced    boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL
);

-- Mirror of Stripe subscriptions, always rewritten from a fresh read of Stripe.
CREATE TABLE billing_subscriptions (
    stripe_subscription_id text PRIMARY KEY,
    stripe_customer_id     text NOT NULL,
    user_id                text,
    status                 text NOT NULL,
    price_id               text,
    plan                   text,
    currency               text,
    unit_amount            bigint,
    interval               text,
    current_period_end     timestamptz,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    grace_until            timestamptz,
    payment_failed_at      timestamptz,
    ended_at               timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
CREATE INDEX billing_subscriptions_user ON billing_subscriptions (user_id);
CREATE INDEX billing_subscriptions_customer ON billing_subscriptions (stripe_customer_id);

-- Failed payment attempts, for dunning and ops reports.
CREATE TABLE billing_payment_failures (
    invoice_id             text NOT NULL,
    attempt_count          int NOT NULL,
    stripe_subscription_id text,
    user_id                text,
    amount_due             bigint NOT NULL,
    currency               text NOT NULL,
    failed_at              timestamptz NOT NULL,
    recovered_at           timestamptz,
    PRIMARY KEY (invoice_id, attempt_count)
);

-- Webhook inbox: every verified delivery stored once, processed by the background processor.
CREATE TABLE stripe_events (
    id              text PRIMARY KEY,
    type            text NOT NULL,
    api_version     text,
    account         text,
    object_id       text,
    created         timestamptz NOT NULL,
    payload         text NOT NULL,
    source          text NOT NULL,
    status          text NOT NULL DEFAULT 'pending',
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    received_at     timestamptz NOT NULL,
    processed_at    timestamptz
);
CREATE INDEX stripe_events_due ON stripe_events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX stripe_events_dead ON stripe_events (received_at) WHERE status = 'dead';

-- Influencers and their Connect Express accounts.
CREATE TABLE influencers (
    id                text PRIMARY KEY,
    user_id           text NOT NULL UNIQUE,
    referral_code     text NOT NULL UNIQUE,
    stripe_account_id text UNIQUE,
    country           text NOT NULL,
    payouts_enabled   boolean NOT NULL DEFAULT false,
    disabled_reason   text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

-- Append-only commission ledger. Positive entries are earnings, negative ones clawbacks.
-- idempotency_key makes each fact (an invoice paid, a refund amount, a lost dispute) count once.
CREATE TABLE commission_entries (
    id               bigserial PRIMARY KEY,
    referral_code    text NOT NULL,
    kind             text NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    user_id          text,
    invoice_id       text,
    charge_id        text,
    currency         text NOT NULL,
    amount           bigint NOT NULL,
    amount_usd       bigint NOT NULL,
    rate             numeric(6,4) NOT NULL,
    available_at     timestamptz NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX commission_entries_code ON commission_entries (referral_code, available_at);
CREATE INDEX commission_entries_charge ON commission_entries (charge_id) WHERE charge_id IS NOT NULL;
CREATE FUNCTION commission_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'commission_entries is append-only: add a correcting entry instead';
END $$;
CREATE TRIGGER commission_entries_append_only BEFORE UPDATE OR DELETE ON commission_entries
    FOR EACH ROW EXECUTE FUNCTION commission_entries_append_only();

-- One payout decision per influencer and period: sent, pending (transfer in flight), failed, held, carried_over, reversed.
CREATE TABLE payouts (
    influencer_id      text NOT NULL REFERENCES influencers (id),
    period             text NOT NULL,
    status             text NOT NULL,
    amount_usd         bigint NOT NULL,
    reason             text,
    stripe_transfer_id text,
    idempotency_key    text NOT NULL,
    attempts           int NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (influencer_id, period)
);
CREATE INDEX payouts_status ON payouts (status);
