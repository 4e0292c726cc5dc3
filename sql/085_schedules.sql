-- Schedules: recurring scrape jobs. The stage `schedule` fires a due schedule by inserting its fire time into
-- schedule_fires (unique per schedule and time) and creating the job row in the same transaction, so that a
-- fire time makes at most one job whichever instances race for it; the message is published after the commit
-- (a crash in between leaves a queued job that the stuck-job sweep publishes).
CREATE TABLE IF NOT EXISTS schedules (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    cron            text NOT NULL,
    time_zone       text NOT NULL DEFAULT 'UTC',
    template        jsonb NOT NULL,                  -- a ScrapeJob v1 without job_id
    enabled         boolean NOT NULL DEFAULT true,
    catch_up        text NOT NULL DEFAULT 'latest' CHECK (catch_up IN ('latest', 'skip', 'all')),
    overlap         text NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'allow')),
    jitter_seconds  integer NOT NULL DEFAULT 0 CHECK (jitter_seconds >= 0),
    next_fire_at    timestamptz,                     -- the next fire time of the expression
    due_at          timestamptz,                     -- next_fire_at plus its jitter: when the stage fires it
    last_fire_at    timestamptz,
    last_job_id     uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (due_at) WHERE enabled;

-- One row per fire time handled: `fired` (job_id is the job it made), `overlap` (skipped: the previous job was
-- still running), or a manual `run-now` (kind 'manual'). previous_job_id is the schedule's job before this one:
-- what `leads export --schedule NAME --new` compares with. No foreign key to scrape_jobs: retention deletes jobs,
-- the history of fires stays.
CREATE TABLE IF NOT EXISTS schedule_fires (
    schedule_id      bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_time        timestamptz NOT NULL,
    kind             text NOT NULL DEFAULT 'cron' CHECK (kind IN ('cron', 'manual')),
    result           text NOT NULL CHECK (result IN ('fired', 'overlap')),
    job_id           uuid,
    previous_job_id  uuid,
    worker           text,
    fired_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, fire_time)
);
CREATE INDEX IF NOT EXISTS schedule_fires_job ON schedule_fires (job_id) WHERE job_id IS NOT NULL;
