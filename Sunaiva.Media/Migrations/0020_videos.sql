-- Onboarding videos (docs/video.md). One row per user, kind and style: asking again for a style renders nothing new.
CREATE TABLE video_profiles (
    user_id     text PRIMARY KEY,
    name        text,
    goals       text[] NOT NULL DEFAULT '{}',
    language    text NOT NULL DEFAULT 'en',
    voice       text,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE videos (
    id               text PRIMARY KEY,
    user_id          text NOT NULL,
    kind             text NOT NULL,
    style            text NOT NULL,
    status           text NOT NULL,            -- queued, rendering, ready, failed
    progress         integer NOT NULL DEFAULT 0,
    provider         text,                     -- who made the served file: ffmpeg, heygen
    narration        text,                     -- speech, captions-only
    degraded         boolean NOT NULL DEFAULT false,
    better_version   boolean NOT NULL DEFAULT false,  -- a provider's video replaced the local one
    provider_job_id  text,                     -- HeyGen video id while (or after) it renders
    provider_status  text,                     -- pending, done, failed, abandoned
    object_prefix    text NOT NULL,
    revision         integer NOT NULL DEFAULT 0,
    duration_seconds double precision,
    bytes            bigint,
    cpu_seconds      double precision,
    error            text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    ready_at         timestamptz,
    UNIQUE (user_id, kind, style)
);
CREATE INDEX videos_user ON videos (user_id, created_at);
CREATE UNIQUE INDEX videos_provider_job ON videos (provider_job_id) WHERE provider_job_id IS NOT NULL;
