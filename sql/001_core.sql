-- Scrape jobs, their state machine audit trail, and the raw leads they found.

CREATE TABLE scrape_jobs (
    id            uuid PRIMARY KEY,
    user_id       text,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'retrying', 'completed', 'failed', 'cancelled')),
    criteria      jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempts      integer NOT NULL DEFAULT 0,
    worker        text,
    error         text,
    error_kind    text,
    pages         integer NOT NULL DEFAULT 0,
    found         integer NOT NULL DEFAULT 0,
    new           integer NOT NULL DEFAULT 0,
    duplicates    integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    heartbeat_at  timestamptz,
    completed_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX scrape_jobs_status_idx ON scrape_jobs (status, updated_at);
CREATE INDEX scrape_jobs_created_idx ON scrape_jobs (created_at);
CREATE INDEX scrape_jobs_user_idx ON scrape_jobs (user_id, created_at) WHERE user_id IS NOT NULL;

-- Every status change and every new attempt, written by a trigger so that no code path can skip it.
CREATE TABLE job_events (
    id           bigserial PRIMARY KEY,
    job_id       uuid NOT NULL REFERENCES scrape_jobs (id) ON DELETE CASCADE,
    from_status  text,
    to_status    text NOT NULL,
    attempts     integer NOT NULL,
    worker       text,
    error        text,
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX job_events_job_idx ON job_events (job_id, id);

CREATE FUNCTION record_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_events (job_id, from_status, to_status, attempts, worker, error)
    VALUES (NEW.id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
            NEW.status, NEW.attempts, NEW.worker, NEW.error);
    RETURN NULL;
END
$$;

CREATE TRIGGER scrape_jobs_event_insert AFTER INSERT ON scrape_jobs
    FOR EACH ROW EXECUTE FUNCTION record_job_event();

CREATE TRIGGER scrape_jobs_event_update AFTER UPDATE OF status, attempts ON scrape_jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.attempts IS DISTINCT FROM NEW.attempts)
    EXECUTE FUNCTION record_job_event();

-- One row per distinct extracted record; content_hash is SHA-256 of its canonical identity JSON.
CREATE TABLE raw_leads (
    id             bigserial PRIMARY KEY,
    content_hash   bytea NOT NULL UNIQUE CHECK (octet_length(content_hash) = 32),
    source_type    text NOT NULL,
    source_url     text,
    record         jsonb NOT NULL,
    first_job_id   uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    normalized_at  timestamptz
);

CREATE INDEX raw_leads_unnormalized_idx ON raw_leads (id) WHERE normalized_at IS NULL;

-- Every lead a job found, new or not, so that a job's export is complete.
CREATE TABLE scrape_job_leads (
    job_id       uuid NOT NULL REFERENCES scrape_jobs (id) ON DELETE CASCADE,
    raw_lead_id  bigint NOT NULL REFERENCES raw_leads (id),
    is_new       boolean NOT NULL,
    PRIMARY KEY (job_id, raw_lead_id)
);

CREATE INDEX scrape_job_leads_lead_idx ON scrape_job_leads (raw_lead_id);
