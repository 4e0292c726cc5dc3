-- Learned scoring: what became of a lead (outcomes), the models learnt from them (as JSON, never pickled), and
-- which model scores leads (activations: the latest one not rolled back; none = the rule score).

-- Every outcome recorded, never overwritten: the latest per lead (by `at`, then id) is the lead's outcome. A lead
-- merged away carries its outcomes to its survivor (lead_id moves; recorded_lead_id keeps the id it was given).
CREATE TABLE IF NOT EXISTS lead_outcomes (
    id                bigserial PRIMARY KEY,
    lead_id           bigint NOT NULL REFERENCES leads (id),
    recorded_lead_id  bigint NOT NULL,
    outcome           text NOT NULL CHECK (outcome IN ('won', 'lost', 'contacted', 'bad_data')),
    at                timestamptz NOT NULL DEFAULT now(),
    note              text,
    source            text NOT NULL,                  -- cli, csv:<file name>, api:<token name>
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS lead_outcomes_lead ON lead_outcomes (lead_id, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS lead_outcomes_recorded ON lead_outcomes (recorded_at);

-- A trained model: its coefficients and scaler (body), its held-out metrics beside the rule score's, the training
-- window and counts. status: `trained` (by `model train`), `refused` (a retrain whose held-out AUC was worse than
-- the active model's), `retrained` (a retrain that was activated).
CREATE TABLE IF NOT EXISTS score_models (
    id           bigserial PRIMARY KEY,
    body         jsonb NOT NULL,
    metrics      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'trained' CHECK (status IN ('trained', 'refused', 'retrained')),
    trigger      text NOT NULL DEFAULT 'cli',           -- cli or maintenance
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Activations, newest last. The model scoring leads is that of the newest activation not rolled back
-- (model_id NULL: the rule score). `model rollback` marks the newest one rolled back.
CREATE TABLE IF NOT EXISTS score_model_activations (
    id            bigserial PRIMARY KEY,
    model_id      bigint REFERENCES score_models (id),
    reason        text NOT NULL,
    activated_at  timestamptz NOT NULL DEFAULT now(),
    rolled_back_at timestamptz
);
CREATE INDEX IF NOT EXISTS score_model_activations_live ON score_model_activations (id DESC)
    WHERE rolled_back_at IS NULL;

-- The same outcome given twice for a lead at the same time (a CRM export imported again) is recorded once.
CREATE UNIQUE INDEX IF NOT EXISTS lead_outcomes_once ON lead_outcomes (recorded_lead_id, outcome, at);
