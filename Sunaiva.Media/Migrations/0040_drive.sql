-- Google Drive: one connection per user (tokens protected with ASP.NET Data Protection), single-use OAuth states,
-- the Drive files each user imported (and where they are in the vault), and an audit trail of Drive access.
CREATE TABLE drive_connections (
    user_id              text PRIMARY KEY,
    status               text NOT NULL,              -- connected | reconsent
    scopes               text NOT NULL,
    email                text,
    access_token         text NOT NULL,              -- protected
    refresh_token        text,                       -- protected
    access_expires_at    timestamptz NOT NULL,
    page_token           text,
    channel_id           text,
    channel_resource_id  text,
    channel_expires_at   timestamptz,
    throttle_streak      integer NOT NULL DEFAULT 0,
    sync_schedule        text,                       -- the live chain of scheduled syncs; older chains stop
    last_sync_at         timestamptz,
    connected_at         timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE UNIQUE INDEX drive_connections_channel ON drive_connections (channel_id) WHERE channel_id IS NOT NULL;

CREATE TABLE drive_oauth_states (
    nonce          text PRIMARY KEY,
    user_id        text NOT NULL,
    code_verifier  text NOT NULL,                    -- protected
    scopes         text NOT NULL,
    redirect_uri   text NOT NULL,
    expires_at     timestamptz NOT NULL,
    consumed_at    timestamptz
);
CREATE INDEX drive_oauth_states_expiry ON drive_oauth_states (expires_at);

CREATE TABLE drive_imports (
    user_id        text NOT NULL,
    drive_file_id  text NOT NULL,
    status         text NOT NULL,                    -- queued | imported | removed | skipped
    reason         text,
    vault_file_id  text,
    name           text,
    mime_type      text,
    drive_version  text,
    md5            text,
    requested_at   timestamptz NOT NULL,
    imported_at    timestamptz,
    removed_at     timestamptz,
    PRIMARY KEY (user_id, drive_file_id)
);

CREATE TABLE drive_audit (
    id             bigserial PRIMARY KEY,
    user_id        text NOT NULL,
    action         text NOT NULL,                    -- connected | imported | reimported | removed | disconnected | ...
    drive_file_id  text,
    vault_file_id  text,
    at             timestamptz NOT NULL
);
CREATE INDEX drive_audit_user ON drive_audit (user_id, at DESC);
