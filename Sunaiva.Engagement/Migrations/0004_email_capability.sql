-- Templates, categories and tracking of every message; suppressions and preferences; activity for the welcome series.
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS template text;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS language text;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS category text NOT NULL DEFAULT 'transactional';
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS variant text;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS opens int NOT NULL DEFAULT 0;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS clicks int NOT NULL DEFAULT 0;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS first_opened_at timestamptz;
ALTER TABLE sent_emails ADD COLUMN IF NOT EXISTS first_clicked_at timestamptz;

-- An address that must not receive a category ('*': nothing at all: hard bounces, complaints).
CREATE TABLE IF NOT EXISTS email_suppressions (
    address    text NOT NULL,
    category   text NOT NULL,
    reason     text NOT NULL,
    user_id    text,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (address, category)
);

-- What a user did that the welcome series asks for (one row per user and activity, first time kept).
CREATE TABLE IF NOT EXISTS user_activity (
    user_id     text NOT NULL,
    activity    text NOT NULL,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    occurrences int NOT NULL DEFAULT 1,
    PRIMARY KEY (user_id, activity)
);

-- Onboarding videos made for a user (video.ready), linked from the welcome emails.
CREATE TABLE IF NOT EXISTS user_videos (
    user_id    text NOT NULL,
    video_id   text NOT NULL,
    kind       text NOT NULL,
    url        text NOT NULL,
    ready_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, video_id)
);

-- Each step of a user's welcome series and what became of it (queued, skipped: why).
CREATE TABLE IF NOT EXISTS welcome_steps (
    user_id    text NOT NULL,
    step       int NOT NULL,
    template   text NOT NULL,
    due_at     timestamptz NOT NULL,
    outcome    text,
    decided_at timestamptz,
    PRIMARY KEY (user_id, step)
);
