-- Usage ledger: one row per attempt at an outbound provider (kernel metering), written in batches off the request path.
CREATE TABLE IF NOT EXISTS usage_ledger (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL,
    service      text NOT NULL,
    capability   text NOT NULL,
    provider     text NOT NULL,
    operation    text NOT NULL,
    unit         text NOT NULL,
    units        numeric(20, 6) NOT NULL,
    cost_usd     numeric(20, 10) NOT NULL,
    duration_ms  double precision NOT NULL,
    outcome      text NOT NULL,
    user_id      text,
    error        text
);
CREATE INDEX IF NOT EXISTS usage_ledger_at ON usage_ledger (at);
CREATE INDEX IF NOT EXISTS usage_ledger_provider_at ON usage_ledger (provider, capability, at);
CREATE INDEX IF NOT EXISTS usage_ledger_user_at ON usage_ledger (user_id, at) WHERE user_id IS NOT NULL;

-- Shared-cache hits and misses of provider answers, so ops see what the cache saves.
CREATE TABLE IF NOT EXISTS cache_ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    capability  text NOT NULL,
    provider    text NOT NULL,
    hit         boolean NOT NULL,
    saved_usd   numeric(20, 10) NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_ledger_at ON cache_ledger (at);
