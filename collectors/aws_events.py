"""AWS state core: each round's resources -> raise/clear events on transitions. Pure (no I/O, no clock).

A resource's problems are derived from its state (EC2 state and status checks, RDS status, ELBv2 state
and target health). A problem that appears is raised, one that disappears is cleared (severity `ok`,
same event and resource), a resource that is no longer listed in a region that answered has its open
problems cleared. Transitional states (pending, modifying, backing-up...) keep the previous problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ems.collectors.aws_discovery import SERVICE_TAG, Resource
from ems.schemas.observation import EventBody

EC2_STOPPED = {"stopping", "stopped", "shutting-down", "terminated"}
EC2_TRANSITIONAL = {"pending"}
RDS_FAILED = {
    "failed",
    "inaccessible-encryption-credentials",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-parameters",
    "incompatible-restore",
    "restore-error",
}
RDS_OK = {"available"}
LB_OK = {"active"}
# Target health that means the target serves no traffic: failing checks, or a registered instance that
# is not running (`unused (Target.InvalidState)`); `unused` for other reasons (no listener) is not.
TARGET_DOWN = ("unhealthy", "unavailable", "unused (Target.InvalidState)")

Problem = tuple[str, str]  # (event, resource label; "" = the asset itself)
Found = dict[Problem, tuple[str, str]]  # problem -> (severity, value)


def problems(r: Resource, previous: Found) -> Found:
    """What is wrong with one resource now (transitional states keep `previous`)."""
    out: Found = {}
    if r.kind == "ec2":
        if r.state in EC2_TRANSITIONAL:
            out.update({p: v for p, v in previous.items() if p[0] == "Instance Stopped"})
        elif r.state in EC2_STOPPED:
            out[("Instance Stopped", "")] = ("critical", r.state)
        for check, status in sorted(r.checks.items()):
            if status == "impaired":
                out[("Status Check Failed", check)] = ("major", status)
    elif r.kind == "rds":
        if r.state in RDS_FAILED:
            out[("DB Instance Failed", "")] = ("critical", r.state)
        elif r.state == "storage-full":
            out[("DB Storage Full", "")] = ("critical", r.state)
        elif r.state in ("stopped", "stopping"):
            out[("DB Instance Stopped", "")] = ("major", r.state)
        elif r.state not in RDS_OK:
            out.update(previous)
    elif r.kind == "elb":
        if r.state == "failed":
            out[("Load Balancer Failed", "")] = ("critical", r.state)
        elif r.state == "active_impaired":
            out[("Load Balancer Failed", "")] = ("major", r.state)
        elif r.state not in LB_OK:
            out.update({p: v for p, v in previous.items() if p[0] == "Load Balancer Failed"})
        for target, health in r.targets.items():
            if health.startswith(TARGET_DOWN):
                out[("Target Unhealthy", target)] = ("major", health)
    return out


def event(r: Resource | None, problem: Problem, severity: str, value: str, text: str = "") -> EventBody:
    name, label = problem
    what = f"{name}: {label}" if label else name
    attrs = {"cloud": "aws"}
    service: list[str] = []
    if r is not None:
        attrs.update(region=r.region, kind=r.kind, id=r.ident, state=r.state)
        if r.tags.get(SERVICE_TAG, "").strip():
            service = [r.tags[SERVICE_TAG].strip()]
    return EventBody(
        event=name,
        severity=severity,
        resource=label or None,
        title=what if severity != "ok" else f"{what} cleared",
        text=text or (f"{r.kind} {r.ident} {value}" if r is not None else value),
        value=value,
        service=service,
        attributes=attrs,
    )


@dataclass
class Tracker:
    """Open problems per asset and which assets each scope (account, region) listed last time."""

    open: dict[str, Found] = field(default_factory=dict)
    listed: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    failing: dict[tuple[str, str], str] = field(default_factory=dict)  # scope -> region asset id

    def step(self, scope: tuple[str, str], resources: list[Resource]) -> list[tuple[str, EventBody]]:
        """Events of one scope's round: raises, clears, clears of resources no longer listed."""
        out: list[tuple[str, EventBody]] = []
        now: set[str] = set()
        for r in resources:
            asset = r.asset_id
            now.add(asset)
            before = self.open.get(asset, {})
            found = problems(r, before)
            for p, (severity, value) in found.items():
                if before.get(p, ("", ""))[0] != severity:
                    out.append((asset, event(r, p, severity, value)))
            for p in before:
                if p not in found:
                    out.append((asset, event(r, p, "ok", r.state)))
            self.open[asset] = found
        for asset in self.listed.get(scope, set()) - now:
            for p in self.open.pop(asset, {}):
                out.append((asset, event(None, p, "ok", "gone", "no longer listed by the AWS API")))
        self.listed[scope] = now
        return out

    def region_failed(self, scope: tuple[str, str], asset: str, reason: str) -> list[tuple[str, EventBody]]:
        """A region or account that did not answer: one `Cloud Collection Failed` until it answers."""
        if scope in self.failing:
            return []
        self.failing[scope] = asset
        return [(asset, event(None, ("Cloud Collection Failed", ""), "major", "failed", reason))]

    def region_ok(self, scope: tuple[str, str]) -> list[tuple[str, EventBody]]:
        asset = self.failing.pop(scope, None)
        if asset is None:
            return []
        return [
            (asset, event(None, ("Cloud Collection Failed", ""), "ok", "ok", "the AWS API answers again"))
        ]
