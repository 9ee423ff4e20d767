"""Translators from formats other tools already speak into our observation schema (pure functions).

One module per format: `alertmanager` (Prometheus Alertmanager webhook v4), `alerta` (Alerta's alert
and heartbeat JSON), `pagerduty` (PagerDuty Events API v2). The HTTP adapters are in
`ems.api.integrations`; the field mappings are documented in docs/ingest.md.
"""
