-- Every worker process registers itself and refreshes its row while it runs (leadworker workers, GET /api/v1/workers).
CREATE TABLE worker_processes (
    id            text PRIMARY KEY,          -- host:pid:started (a pid is reused; the start time makes it unique)
    host          text NOT NULL,
    pid           integer NOT NULL,
    version       text NOT NULL,
    stages        text[] NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz,
    in_flight     integer NOT NULL DEFAULT 0,
    handled       bigint NOT NULL DEFAULT 0
);

CREATE INDEX worker_processes_seen_idx ON worker_processes (last_seen_at DESC);
