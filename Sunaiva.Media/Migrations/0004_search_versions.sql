-- The version of each user's vault that search results are cached under (SearchCache): every change to the user's
-- files (upload, indexing, delete) bumps it in the change's own commit, so no cached result can outlive a change and an
-- upload needs no separate round trip to Redis.
CREATE TABLE search_versions (
    user_id text PRIMARY KEY,
    version bigint NOT NULL
);
