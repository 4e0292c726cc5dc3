-- Maintenance cleanup deletes raw leads nothing references any more; these indexes keep its NOT EXISTS
-- checks from scanning the provenance tables.
CREATE INDEX IF NOT EXISTS lead_values_raw_lead_idx ON lead_values (raw_lead_id) WHERE raw_lead_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS lead_keys_raw_lead_idx ON lead_keys (raw_lead_id) WHERE raw_lead_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS lead_conflicts_raw_lead_idx ON lead_conflicts (raw_lead_id) WHERE raw_lead_id IS NOT NULL;
