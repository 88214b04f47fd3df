-- A disconnection's pending revoke at Google: the grant's token (still protected with Data Protection, copied as is from
-- drive_connections) is kept only until Google confirms the revoke (DriveRevokeWork), then deleted.
CREATE TABLE drive_revocations (
    id          text PRIMARY KEY,
    user_id     text NOT NULL,
    token       text NOT NULL,                       -- protected
    created_at  timestamptz NOT NULL
);
CREATE INDEX drive_revocations_user ON drive_revocations (user_id);
