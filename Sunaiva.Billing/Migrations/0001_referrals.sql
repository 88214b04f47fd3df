-- Which influencer brought a user. Fixed once set: the first code wins.
CREATE TABLE referral_attributions (
    user_id       text PRIMARY KEY,
    referral_code text NOT NULL,
    source        text NOT NULL,
    attributed_at timestamptz NOT NULL
);
CREATE INDEX referral_attributions_code ON referral_attributions (referral_code);
