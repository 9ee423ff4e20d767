"""The integration endpoints are documented in /openapi.json with self-contained request schemas."""

from __future__ import annotations

import json

from ems.api.openapi import openapi_spec


def test_integration_paths_in_the_spec() -> None:
    paths = openapi_spec()["paths"]
    for path in ("/api/v1/integrations/alertmanager", "/api/alert", "/api/heartbeat", "/v2/enqueue"):
        schema = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema["properties"] and "$ref" not in json.dumps(schema), path
    am = paths["/api/v1/integrations/alertmanager"]["post"]["requestBody"]["content"]["application/json"]
    assert am["schema"]["properties"]["alerts"]["items"]["properties"]["status"]["enum"] == [
        "firing",
        "resolved",
    ]
    assert "/api/v1/integrations/pagerduty" in paths and "/api/alerts" in paths and "/api/config" in paths
    assert "/api/v1/events" in paths  # merged, not replaced
