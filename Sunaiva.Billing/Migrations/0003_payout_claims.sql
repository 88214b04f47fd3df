-- A payout row is claimed (short lease) before its transfer is asked for, outside any transaction; attempts > 0 means
-- an earlier attempt reached Stripe or may have, so the next try first looks the transfer up at Stripe (transfer_group).
ALTER TABLE payouts ADD COLUMN claimed_until timestamptz;
ALTER TABLE payouts ADD COLUMN attempted_at timestamptz;
