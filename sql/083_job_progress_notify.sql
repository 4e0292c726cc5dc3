-- Enrichment progress for the live stream (GET /api/v1/events): a change of a job's normalized / scored counts
-- or its enriched_at is announced on channel leadworker_job_progress with the figures (a small JSON object).
CREATE FUNCTION notify_job_progress() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('leadworker_job_progress', json_build_object(
        'job_id', NEW.id, 'found', NEW.found, 'normalized', NEW.normalized, 'scored', NEW.scored,
        'invalid_phones', NEW.invalid_phones, 'invalid_emails', NEW.invalid_emails,
        'enriched_at', NEW.enriched_at)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER scrape_jobs_progress_notify AFTER UPDATE OF normalized, scored, enriched_at ON scrape_jobs
    FOR EACH ROW
    WHEN (OLD.normalized IS DISTINCT FROM NEW.normalized OR OLD.scored IS DISTINCT FROM NEW.scored
          OR OLD.enriched_at IS DISTINCT FROM NEW.enriched_at)
    EXECUTE FUNCTION notify_job_progress();
