-- Enrichment: canonical leads merged from raw leads, their match keys, values with provenance, scores per job,
-- provider results, job enrichment progress and the webhook delivery log.

-- What normalization made of each raw lead (rejected values and why), written once with normalized_at.
ALTER TABLE raw_leads ADD COLUMN normalization jsonb;

-- Enrichment progress of a job, recomputed from the data (never incremented), and its end.
ALTER TABLE scrape_jobs
    ADD COLUMN normalized        integer NOT NULL DEFAULT 0,
    ADD COLUMN scored            integer NOT NULL DEFAULT 0,
    ADD COLUMN invalid_phones    integer NOT NULL DEFAULT 0,
    ADD COLUMN invalid_emails    integer NOT NULL DEFAULT 0,
    ADD COLUMN enriched_at       timestamptz,
    ADD COLUMN enrich_error      text,
    ADD COLUMN enrich_error_kind text;

-- The canonical, merged company. A lead merged into another stays as a tombstone pointing at it
-- (merged_into, always one hop: merges repoint older tombstones), so old ids still resolve.
CREATE TABLE leads (
    id                bigserial PRIMARY KEY,
    merged_into       bigint REFERENCES leads (id),
    company_name      text,
    legal_form        text,
    domain            text,
    website           text,
    emails            text[] NOT NULL DEFAULT '{}',
    phones            text[] NOT NULL DEFAULT '{}',
    address           text,
    city              text,
    region            text,
    postal_code       text,
    country           text,
    contact_name      text,
    description       text,
    categories        text[] NOT NULL DEFAULT '{}',
    socials           jsonb NOT NULL DEFAULT '{}'::jsonb,
    revision          integer NOT NULL DEFAULT 1,
    -- The latest score computed for this lead (whichever job asked); per-job scores are in lead_scores.
    score             smallint CHECK (score BETWEEN 0 AND 100),
    segment           text CHECK (segment IN ('hot', 'warm', 'cold')),
    score_components  jsonb,
    score_job_id      uuid,
    scored_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (merged_into IS NULL OR merged_into <> id)
);

CREATE INDEX leads_live_score_idx ON leads (score DESC, id) WHERE merged_into IS NULL;
CREATE INDEX leads_merged_idx ON leads (merged_into) WHERE merged_into IS NOT NULL;

-- Match keys: a registrable domain, an e-mail address or an E.164 phone belongs to exactly one lead. The
-- primary key is what makes two workers merging the same company at once end with one lead.
CREATE TABLE lead_keys (
    kind         text NOT NULL CHECK (kind IN ('domain', 'email', 'phone')),
    value        text NOT NULL,
    lead_id      bigint NOT NULL REFERENCES leads (id),
    raw_lead_id  bigint REFERENCES raw_leads (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);

CREATE INDEX lead_keys_lead_idx ON lead_keys (lead_id);

-- Every normalized raw lead belongs to exactly one lead.
CREATE TABLE lead_sources (
    raw_lead_id  bigint PRIMARY KEY REFERENCES raw_leads (id),
    lead_id      bigint NOT NULL REFERENCES leads (id),
    linked_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX lead_sources_lead_idx ON lead_sources (lead_id);

-- Every value of a lead with where it came from: a raw lead (and the page it was found on) or a provider.
CREATE TABLE lead_values (
    id           bigserial PRIMARY KEY,
    lead_id      bigint NOT NULL REFERENCES leads (id),
    field        text NOT NULL,
    value        text NOT NULL,
    detail       jsonb,
    raw_lead_id  bigint REFERENCES raw_leads (id),
    provider     text,
    source_url   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((raw_lead_id IS NULL) <> (provider IS NULL)),
    UNIQUE NULLS NOT DISTINCT (lead_id, field, value, raw_lead_id, provider)
);

-- Leads that share a key but were not merged because their registrable domains differ: for review.
CREATE TABLE lead_conflicts (
    lead_id        bigint NOT NULL REFERENCES leads (id),
    other_lead_id  bigint NOT NULL REFERENCES leads (id),
    kind           text NOT NULL,
    value          text NOT NULL,
    raw_lead_id    bigint REFERENCES raw_leads (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_id, other_lead_id, kind, value),
    CHECK (lead_id <> other_lead_id)
);

CREATE INDEX lead_conflicts_other_idx ON lead_conflicts (other_lead_id);

-- A lead's score for a job: the job's keywords, industry and geography are part of the score.
CREATE TABLE lead_scores (
    lead_id        bigint NOT NULL REFERENCES leads (id),
    job_id         uuid NOT NULL REFERENCES scrape_jobs (id) ON DELETE CASCADE,
    score          smallint NOT NULL CHECK (score BETWEEN 0 AND 100),
    segment        text NOT NULL CHECK (segment IN ('hot', 'warm', 'cold')),
    components     jsonb NOT NULL,
    lead_revision  integer NOT NULL,
    scored_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_id, job_id)
);

CREATE INDEX lead_scores_job_idx ON lead_scores (job_id, score DESC);

-- What the HTTP enrichment provider answered for a lead (at most one row per lead and provider).
CREATE TABLE lead_enrichments (
    lead_id     bigint NOT NULL REFERENCES leads (id),
    provider    text NOT NULL,
    status      text NOT NULL CHECK (status IN ('ok', 'empty', 'failed')),
    endpoint    text NOT NULL,
    fields      jsonb,
    error       text,
    attempts    integer NOT NULL DEFAULT 0,
    fetched_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_id, provider)
);

-- One row per webhook event (job.completed, job.failed, job.cancelled, job.enriched): the event id is the
-- dedupe key that makes redelivered notify messages send nothing twice.
CREATE TABLE webhook_deliveries (
    event_id          text PRIMARY KEY,
    job_id            uuid NOT NULL REFERENCES scrape_jobs (id) ON DELETE CASCADE,
    event             text NOT NULL,
    url               text NOT NULL,
    payload           jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'dead')),
    attempts          integer NOT NULL DEFAULT 0,
    last_status_code  integer,
    last_error        text,
    lease_until       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz
);

CREATE INDEX webhook_deliveries_job_idx ON webhook_deliveries (job_id);

-- Every POST of every event.
CREATE TABLE webhook_attempts (
    event_id     text NOT NULL REFERENCES webhook_deliveries (event_id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    status_code  integer,
    error        text,
    duration_ms  integer,
    PRIMARY KEY (event_id, attempt)
);
