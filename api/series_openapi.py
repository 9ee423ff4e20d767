"""OpenAPI paths of the metric query endpoints (`ems.api.series`), merged into `/openapi.json`."""

from __future__ import annotations

from typing import Any

from ems.api.series import MAX_POINTS, MAX_RAW_RANGE, MAX_TOP

_ERROR = {
    "description": "bad parameter: unknown parameter or step, bad time, from not before to, n out of range",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_TIME = "ISO-8601 (no zone = UTC) or Unix seconds"


def _q(name: str, description: str, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_LABEL = {
    "name": "label.{key}",
    "in": "query",
    "description": "only series whose labels include key=value, e.g. label.interface=eth0 (repeatable keys)",
    "schema": {"type": "string"},
}
_RANGE = [
    _q("from", f"start (inclusive), {_TIME}; default: to - 1 h"),
    _q("to", f"end (exclusive), {_TIME}; default: now"),
]

METRIC_SERIES_PATHS: dict[str, Any] = {
    "/api/v1/metrics/series": {
        "get": {
            "summary": "Time series of one metric of one asset, one entry per label set",
            "description": (
                "Without `step`: the raw samples (range at most "
                f"{MAX_RAW_RANGE}). With `step`: per step bucket (aligned to UTC midnight) avg, min, max "
                "and count, read from the coarsest rollup (1h, 5m, 1m) whose width divides the step, else "
                f"from the raw samples; at most {MAX_POINTS} points per series. `resolution` says which."
            ),
            "parameters": [
                _q("asset", "asset id", required=True),
                _q("name", "metric name", required=True),
                *_RANGE,
                _q("step", "bucket width: a whole number of s, m, h or d", pattern="^[1-9][0-9]*[smhd]$"),
                _LABEL,
            ],
            "responses": {
                "200": {"description": "asset, name, from, to, step, resolution, series[{labels, points}]"},
                "400": _ERROR,
            },
        }
    },
    "/api/v1/metrics/latest": {
        "get": {
            "summary": "The latest sample of every series of an asset",
            "parameters": [_q("asset", "asset id", required=True), _q("name", "metric name"), _LABEL],
            "responses": {"200": {"description": "asset, series[{name, labels, ts, value}]"}, "400": _ERROR},
        }
    },
    "/api/v1/metrics/top": {
        "get": {
            "summary": "The assets with the highest avg or max of a metric over a range",
            "description": (
                "Read from the coarsest rollup whose buckets tile [from, to) exactly (align from and to "
                "to whole hours to use the hourly rollup), else from the raw samples."
            ),
            "parameters": [
                _q("name", "metric name", required=True),
                {
                    "name": "n",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": 10},
                },
                *_RANGE,
                _q("agg", "rank by", enum=["avg", "max"], default="avg"),
                _LABEL,
            ],
            "responses": {
                "200": {
                    "description": "name, agg, from, to, resolution, assets[{asset_id, avg, max, count}]"
                },
                "400": _ERROR,
            },
        }
    },
}
