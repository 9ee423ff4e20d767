"""CloudWatch core: resources -> GetMetricData queries (in batches within the API's limit), answers ->
metric samples per asset, samples -> threshold events. Pure (the caller passes the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ems.collectors.aws_discovery import Resource
from ems.collectors.snmp_thresholds import ThresholdRule, Thresholds
from ems.schemas.observation import EventBody, MetricSample

MAX_QUERIES = 500  # GetMetricData: at most 500 MetricDataQuery structures per call
GIB = 1024**3


@dataclass(frozen=True)
class Spec:
    """One CloudWatch metric of a kind of resource and the sample it becomes."""

    namespace: str
    metric: str
    stat: str
    sample: str
    scale: float = 1.0  # multiply the value by this...
    per_second: bool = False  # ...then divide by the period (Sum over the period -> a rate)


DIMENSION = {"ec2": "InstanceId", "rds": "DBInstanceIdentifier", "elb": "LoadBalancer"}
SPECS: dict[str, tuple[Spec, ...]] = {
    "ec2": (
        Spec("AWS/EC2", "CPUUtilization", "Average", "cpu_util_pct"),
        Spec("AWS/EC2", "NetworkIn", "Sum", "net_in_bps", 8, True),
        Spec("AWS/EC2", "NetworkOut", "Sum", "net_out_bps", 8, True),
        Spec("AWS/EC2", "EBSReadBytes", "Sum", "disk_read_bytes_ps", 1, True),
        Spec("AWS/EC2", "EBSWriteBytes", "Sum", "disk_write_bytes_ps", 1, True),
        Spec("AWS/EC2", "StatusCheckFailed", "Maximum", "status_check_failed"),
    ),
    "rds": (
        Spec("AWS/RDS", "CPUUtilization", "Average", "cpu_util_pct"),
        Spec("AWS/RDS", "DatabaseConnections", "Average", "db_connections"),
        Spec("AWS/RDS", "FreeableMemory", "Average", "freeable_memory_bytes"),
        Spec("AWS/RDS", "FreeStorageSpace", "Average", "free_storage_bytes"),
    ),
    "elb": (
        Spec("AWS/ApplicationELB", "TargetResponseTime", "Average", "lb_latency_ms", 1000),
        Spec("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum", "lb_5xx_count"),
        Spec("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", "target_5xx_count"),
        Spec("AWS/ApplicationELB", "RequestCount", "Sum", "lb_requests"),
    ),
}

DEFAULT_RULES: tuple[ThresholdRule, ...] = (
    ThresholdRule(metric="cpu_util_pct", warning=85, critical=95, hysteresis=5, for_seconds=120),
    ThresholdRule(metric="lb_latency_ms", warning=1000, critical=3000, hysteresis=100, for_seconds=120),
    ThresholdRule(metric="lb_5xx_count", warning=10, critical=100, hysteresis=2),
    ThresholdRule(metric="freeable_memory_bytes", warning=256 * 1024**2, critical=64 * 1024**2, below=True),
    ThresholdRule(metric="free_storage_bytes", warning=2 * GIB, critical=GIB // 2, below=True),
)

Index = dict[str, tuple[str, Spec]]  # query id -> (asset id, spec)


def queries(resources: list[Resource], period: int) -> tuple[list[dict[str, Any]], Index]:
    """One MetricDataQuery per (resource, metric); ids q0, q1... (running EC2, any RDS, application LBs)."""
    out: list[dict[str, Any]] = []
    index: Index = {}
    for r in resources:
        if r.kind not in SPECS or (r.kind == "ec2" and r.state != "running"):
            continue
        if r.kind == "elb" and r.facts["attributes"].get("lb_type") not in (None, "application"):
            continue
        for spec in SPECS[r.kind]:
            qid = f"q{len(out)}"
            metric = {
                "Namespace": spec.namespace,
                "MetricName": spec.metric,
                "Dimensions": [{"Name": DIMENSION[r.kind], "Value": r.ident}],
            }
            out.append({"Id": qid, "MetricStat": {"Metric": metric, "Period": period, "Stat": spec.stat}})
            index[qid] = (r.asset_id, spec)
    return out, index


def batches(items: list[dict[str, Any]], size: int = MAX_QUERIES) -> list[list[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def samples(results: list[dict[str, Any]], index: Index, period: int) -> dict[str, list[MetricSample]]:
    """The newest datapoint of every answered query -> samples per asset (queries without data: none)."""
    out: dict[str, list[MetricSample]] = {}
    for res in results:
        if res.get("Id") not in index or not res.get("Values"):
            continue
        asset, spec = index[res["Id"]]
        newest = max(range(len(res["Values"])), key=lambda i: res["Timestamps"][i])
        value = float(res["Values"][newest]) * spec.scale
        if spec.per_second:
            value /= period
        at: datetime = res["Timestamps"][newest]
        out.setdefault(asset, []).append(MetricSample(name=spec.sample, value=round(value, 6), at=at))
    return out


def threshold_events(
    thresholds: Thresholds,
    asset: str,
    kind: str,
    tags: tuple[str, ...],
    batch: list[MetricSample],
    now: float,
) -> list[EventBody]:
    """`Threshold <metric>` raise / clear events for level changes (class = the resource kind)."""
    events = []
    for s in batch:
        breach = thresholds.observe(asset, s.name, s.labels, s.value, now, tags, kind)
        if breach is None:
            continue
        text = (
            f"{s.name}={s.value:g} (threshold {breach.threshold:g})" if breach.threshold is not None else ""
        )
        events.append(
            EventBody(
                event=f"Threshold {s.name}",
                severity=breach.severity,
                title=f"{s.name} {breach.severity}",
                text=text or f"{s.name}={s.value:g} back to normal",
                value=f"{s.value:g}",
                attributes={"metric": s.name, "cloud": "aws", "kind": kind},
            )
        )
    return events
