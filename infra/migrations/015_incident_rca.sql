-- The model's root-cause ranking of an incident (IncidentChanged v2 `incident.rca`, docs/rca.md):
-- the verdict with its model version, confidence, top-3 candidates and explanation. `rca_asset_id`
-- filters incidents by the asset the model names; the topology root stays in root_asset_id.

ALTER TABLE incidents ADD COLUMN rca jsonb;
ALTER TABLE incidents ADD COLUMN rca_asset_id text;
CREATE INDEX incidents_rca_asset ON incidents (rca_asset_id, updated_at);
