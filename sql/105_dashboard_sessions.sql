-- The dashboard's sign-in sessions: a browser signs in with an API token once and then holds a random session id
-- in an HttpOnly cookie. Only the SHA-256 of that id is kept (as with tokens); the session dies with its token
-- (revoked: the lookup joins api_tokens; deleted: cascade) and at expires_at.
CREATE TABLE dashboard_sessions (
    id_hash     bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    token_name  text NOT NULL REFERENCES api_tokens (name) ON DELETE CASCADE ON UPDATE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);
