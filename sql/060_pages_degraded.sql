-- Pages of a job that needed rendering (script) and did not get it: no browser installed, or the render
-- failed. A job with such pages completes with what the static fetch gave, and says so here (issue #11).
ALTER TABLE scrape_jobs ADD COLUMN IF NOT EXISTS pages_degraded integer NOT NULL DEFAULT 0;
