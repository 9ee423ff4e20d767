-- Tenants (Alerta's customer) on the read models: the tenant of each event, alert and asset (NULL: no
-- tenant, seen only by users and keys bound to no tenant). Every API read of a user or key bound to a
-- tenant adds `tenant = <its tenant>` (api/tenancy.py), so the indexes lead with the tenant and then
-- follow the default sort of each list (alerts: 005's last_seen/alert_id keyset; events: occurred_at;
-- assets: name). Rows without a tenant are left out of them: untenanted readers use the older indexes.

ALTER TABLE events ADD COLUMN tenant text;
ALTER TABLE alerts ADD COLUMN tenant text;
ALTER TABLE assets ADD COLUMN tenant text;

CREATE INDEX events_tenant ON events (tenant, occurred_at DESC, event_id DESC) WHERE tenant IS NOT NULL;
CREATE INDEX alerts_tenant ON alerts (tenant, last_seen, alert_id) WHERE tenant IS NOT NULL;
CREATE INDEX alerts_tenant_status ON alerts (tenant, status, severity) WHERE tenant IS NOT NULL;
CREATE INDEX assets_tenant ON assets (tenant, name, asset_id) WHERE tenant IS NOT NULL;
