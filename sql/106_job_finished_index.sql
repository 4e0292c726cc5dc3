-- The dashboard's charts count the jobs finished per minute (hour) and per quarter hour (day) by status. With
-- status in the index on completed_at, that count reads the index alone instead of fetching every finished job
-- of the window from the table (a busy day: tens of thousands of rows). The new index does all the old one did
-- (`jobs stats` reads the same completed_at ranges), so the old one goes.
CREATE INDEX scrape_jobs_finished_idx ON scrape_jobs (completed_at) INCLUDE (status) WHERE completed_at IS NOT NULL;
DROP INDEX IF EXISTS scrape_jobs_completed_idx;
