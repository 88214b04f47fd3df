-- Search plans every query for its own values (FileSearch.CreateDataSource), and planning it cost 1.2-2.1 ms of a
-- 5-8 ms search on bench/Sunaiva.Bench.Files' 1,000,000 files: a profile of the planner had most of it in pg_trgm making
-- trigrams of the name column's statistics, since the estimates of `name ILIKE '%text%'` and `text <% name` evaluate the
-- pattern on each of its most common values and histogram entries (100 of each by default). With 10, fewer than the
-- 100 entries those estimators need before they use a histogram, they fall back to pg_trgm's and LIKE's own estimates:
-- planning 0.7-1.0 ms, the same plans for words, typos and phrases, and a two-letter text (`ab`, which no trigram can
-- find) 32 ms instead of 92 ms (2026-11-30). Names are nearly all distinct, so the statistics had little to tell anyway.
ALTER TABLE files ALTER COLUMN name SET STATISTICS 10;
ANALYZE files (name);
