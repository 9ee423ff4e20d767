"""CloudWatch core: queries per resource, batches within the API limit, answers -> samples, thresholds."""

from datetime import UTC, datetime, timedelta

from ems.collectors.aws_discovery import Resource
from ems.collectors.aws_metrics import DEFAULT_RULES, MAX_QUERIES, batches, queries, samples, threshold_events
from ems.collectors.snmp_thresholds import Thresholds


def res(kind: str, ident: str, state: str = "running", lb_type: str | None = None) -> Resource:
    return Resource(
        kind, ident, f"aws:{kind}:{ident}", "eu-west-1", state, {"attributes": {"lb_type": lb_type}}
    )


def test_one_query_per_metric_of_running_instances_databases_and_application_lbs():
    found = [
        res("ec2", "i-1"),
        res("ec2", "i-2", "stopped"),
        res("rds", "orders", "available"),
        res("elb", "app/web/1", "active", "application"),
        res("elb", "net/tcp/2", "active", "network"),
        res("subnet", "subnet-1"),
    ]
    qs, index = queries(found, 60)
    dims = {q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for q in qs}
    assert dims == {"i-1", "orders", "app/web/1"}
    names = {index[q["Id"]][1].metric for q in qs}
    assert {
        "CPUUtilization",
        "NetworkIn",
        "DatabaseConnections",
        "FreeableMemory",
        "TargetResponseTime",
    } <= names
    assert {"HTTPCode_ELB_5XX_Count", "EBSReadBytes"} <= names
    assert len({q["Id"] for q in qs}) == len(qs) and all(q["MetricStat"]["Period"] == 60 for q in qs)


def test_batches_stay_within_500_queries():
    qs, _ = queries([res("ec2", f"i-{n}") for n in range(200)], 60)
    sizes = [len(b) for b in batches(qs)]
    assert sum(sizes) == len(qs) == 1200 and max(sizes) == MAX_QUERIES and len(sizes) == 3


def test_samples_take_the_newest_point_and_convert_units():
    vm, lb = res("ec2", "i-1"), res("elb", "app/web/1", "active", "application")
    qs, index = queries([vm, lb], 60)
    by_metric = {index[q["Id"]][1].metric: q["Id"] for q in qs}
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    results = [
        {
            "Id": by_metric["CPUUtilization"],
            "Timestamps": [t0, t0 + timedelta(minutes=1)],
            "Values": [10.0, 42.5],
        },
        {"Id": by_metric["NetworkIn"], "Timestamps": [t0], "Values": [600.0]},  # bytes per 60 s -> 80 b/s
        {"Id": by_metric["TargetResponseTime"], "Timestamps": [t0], "Values": [0.25]},
        {"Id": by_metric["RequestCount"], "Timestamps": [], "Values": []},
    ]
    out = samples(results, index, 60)
    got = {(a, s.name): s.value for a, batch in out.items() for s in batch}
    assert got == {
        (vm.asset_id, "cpu_util_pct"): 42.5,
        (vm.asset_id, "net_in_bps"): 80.0,
        (lb.asset_id, "lb_latency_ms"): 250.0,
    }
    assert next(s.at for s in out[vm.asset_id] if s.name == "cpu_util_pct") == t0 + timedelta(minutes=1)


def test_thresholds_raise_and_clear_including_below_rules_for_free_memory():
    from ems.schemas.observation import MetricSample

    t = Thresholds(list(DEFAULT_RULES))
    low = [MetricSample(name="freeable_memory_bytes", value=32 * 1024**2)]
    events = threshold_events(t, "ast_db", "rds", (), low, 0.0)
    assert [(e.event, e.severity) for e in events] == [("Threshold freeable_memory_bytes", "critical")]
    back = [MetricSample(name="freeable_memory_bytes", value=1024**3)]
    assert [e.severity for e in threshold_events(t, "ast_db", "rds", (), back, 60.0)] == ["ok"]


def test_redact_removes_configured_secrets_and_url_passwords(monkeypatch):
    from ems.collectors.aws_client import redact

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok-123456")
    text = redact("failed http://ops:pw@host:1/ with s3cr3t-value and tok-123456")
    assert text == "failed http://***@host:1/ with *** and ***"
