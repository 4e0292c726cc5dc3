-- `leadworker jobs stats --since` reads the jobs that finished in a window; without an index on
-- completed_at that is a scan of the whole table, which grows by every job ever run.
CREATE INDEX scrape_jobs_completed_idx ON scrape_jobs (completed_at) WHERE completed_at IS NOT NULL;
