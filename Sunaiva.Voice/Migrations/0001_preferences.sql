CREATE TABLE voice_preferences (
    user_id    text PRIMARY KEY,
    voice_id   text NOT NULL,
    language   text NOT NULL,
    updated_at timestamptz NOT NULL
);
