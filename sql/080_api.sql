-- The HTTP API's tokens: only a SHA-256 of each token is kept; the token itself is shown once, when created.
CREATE TABLE api_tokens (
    name          text PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    scope         text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- Keyset pagination of GET /api/v1/jobs: newest first.
CREATE INDEX IF NOT EXISTS scrape_jobs_created_id_idx ON scrape_jobs (created_at DESC, id DESC);
