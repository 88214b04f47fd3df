-- Search's GIN indexes take new entries directly instead of through a pending list (fastupdate off). With the default
-- (on), entries wait in an unsorted list of up to 4 MB (gin_pending_list_limit) until it is merged, and every index scan
-- reads that whole list, whoever's rows it holds: on bench/Sunaiva.Bench.Files' 1,000,000 files, 4,947 recent rows in
-- the lists (201 pages of the trigram index, 52 of the text index) cost each search 1.5-2 ms per index scan for a word
-- found nowhere (0.08-0.2 ms with the lists merged), and the search SQL's p50 went from 8.7 to 6.3 ms and its p95 from
-- 13.5 to 10.9 ms once they were off. An insert now updates the index itself: a few dozen entries for a file's name,
-- its text's words when extraction indexes it (background work).
ALTER INDEX files_search SET (fastupdate = off);
ALTER INDEX files_name_trgm SET (fastupdate = off);
-- Turning it off does not merge what is already pending.
SELECT gin_clean_pending_list('files_search'::regclass);
SELECT gin_clean_pending_list('files_name_trgm'::regclass);
