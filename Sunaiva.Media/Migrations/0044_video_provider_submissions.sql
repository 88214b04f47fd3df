-- When a render was sent to the video provider (HeyGen), recorded before the call: HeyGen takes no idempotency key, so a
-- render whose job id was not recorded (the commit after HeyGen's answer failed) must not be sent again, or HeyGen makes
-- and bills a second video. Its job is adopted from HeyGen's webhook by callback_id (our video id) instead.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS provider_submitted_at timestamptz;
