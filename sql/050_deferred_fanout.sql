-- A completed job whose enrichment fan-out waits here, not in the broker, because no process consumed
-- leads.normalize when it completed (scrape-only workers, or enrichment workers not started yet). Workers
-- running the normalize stage publish it when they start and every maintenance interval.
ALTER TABLE scrape_jobs ADD COLUMN IF NOT EXISTS fanout_deferred boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS scrape_jobs_fanout_deferred_idx ON scrape_jobs (id) WHERE fanout_deferred;
