"""AWS discovery core: API answers (DescribeInstances, DescribeDBInstances, ELBv2) -> `Resource`s with facts
and dependency edges, and the discovery observations the asset registry consumes. Pure: no I/O.

Identity: `aws:ec2:<instance-id>`, `aws:ec2:<subnet-id>`, `aws:ec2:<vpc-id>` (AWS ids are unique), the
ARN for RDS and load balancers (`aws:<arn>`), `service:<name>` for the tag `business_service` (the
business service asset the API's service graph reads), `aws:region:<account>:<region>` for a region.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ems.schemas.identity import asset_id_for
from ems.schemas.observation import DiscoveryBody, Observation

SOURCE = "cloud"
SERVICE_TAG = "business_service"


@dataclass
class Resource:
    """One discovered thing: its kind (ec2, rds, elb, subnet, vpc, service), state, facts and edges."""

    kind: str
    ident: str  # the AWS id the metrics' dimensions use (instance id, DB identifier, LB dimension)
    natural_key: str
    region: str
    state: str
    facts: dict[str, Any]
    edges: list[dict[str, str]] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # status check -> ok / impaired / ...
    targets: dict[str, str] = field(default_factory=dict)  # LB target "id:port" -> "state (Reason)"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def asset_id(self) -> str:
        return asset_id_for(self.natural_key)


def key_of(ident: str) -> str:
    """Natural key of an EC2 id (instance, subnet, VPC) or an ARN."""
    return f"aws:{ident}" if ident.startswith("arn:") else f"aws:ec2:{ident}"


def region_key(account: str, region: str) -> str:
    return f"aws:region:{account or 'default'}:{region}"


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or [] if "Key" in t}


def _edge(kind: str, ident_or_key: str, **attrs: str) -> dict[str, str]:
    key = ident_or_key if ident_or_key.startswith(("aws:", "service:")) else key_of(ident_or_key)
    return {"type": kind, "target": asset_id_for(key), **{k: str(v) for k, v in attrs.items()}}


def _resource(
    kind: str,
    ident: str,
    key: str,
    region: str,
    state: str,
    name: str,
    type_: str,
    attributes: dict[str, Any],
    tags: dict[str, str],
    addresses: Iterable[str | None] = (),
) -> Resource:
    """A resource with the common facts; `member_of` its business service when tagged."""
    edges = []
    service = tags.get(SERVICE_TAG, "").strip()
    if service:
        edges.append(_edge("member_of", f"service:{service.lower()}", service=service))
    facts = {
        "natural_key": key,
        "name": name,
        "type": type_,
        "vendor": "AWS",
        "model": attributes.get("instance_type") or attributes.get("class") or attributes.get("lb_type"),
        "addresses": [a for a in addresses if a],
        "location": region,
        "attributes": {
            "cloud": "aws",
            "region": region,
            "kind": kind,
            "state": state,
            **attributes,
            "tags": tags,
        },
    }
    return Resource(kind, ident, key, region, state, facts, edges, tags=tags)


def ec2_resources(region: str, reservations: list[dict], statuses: list[dict]) -> list[Resource]:
    """Instances (+ their subnets and VPCs) from DescribeInstances pages and DescribeInstanceStatus."""
    checks = {
        s["InstanceId"]: {
            "system": s.get("SystemStatus", {}).get("Status", "unknown"),
            "instance": s.get("InstanceStatus", {}).get("Status", "unknown"),
        }
        for s in statuses
        if "InstanceId" in s
    }
    out: list[Resource] = []
    nets: dict[str, Resource] = {}
    for reservation in reservations:
        for i in reservation.get("Instances", []):
            iid, tags = i["InstanceId"], _tags(i.get("Tags"))
            state = i.get("State", {}).get("Name", "unknown")
            subnet, vpc = i.get("SubnetId"), i.get("VpcId")
            attrs = {
                "instance_id": iid,
                "instance_type": i.get("InstanceType"),
                "availability_zone": i.get("Placement", {}).get("AvailabilityZone"),
                "vpc_id": vpc,
                "subnet_id": subnet,
                "security_groups": [g.get("GroupId") for g in i.get("SecurityGroups", [])],
                "image_id": i.get("ImageId"),
                "owner_id": reservation.get("OwnerId"),
                "launch_time": str(i.get("LaunchTime", "")),
            }
            addresses = [i.get("PrivateIpAddress"), i.get("PublicIpAddress")]
            r = _resource(
                "ec2", iid, key_of(iid), region, state, tags.get("Name") or iid, "vm", attrs, tags, addresses
            )
            if subnet:
                r.edges.append(_edge("depends_on", subnet))
                nets.setdefault(subnet, _network("subnet", subnet, region, vpc))
            if vpc:
                nets.setdefault(vpc, _network("vpc", vpc, region, None))
            r.checks = checks.get(iid, {})
            out.append(r)
    return out + list(nets.values())


def _network(kind: str, ident: str, region: str, vpc: str | None) -> Resource:
    r = _resource(kind, ident, key_of(ident), region, "available", ident, kind, {f"{kind}_id": ident}, {})
    if vpc:
        r.edges.append(_edge("depends_on", vpc))
    return r


def rds_resources(region: str, instances: list[dict]) -> list[Resource]:
    """DB instances from DescribeDBInstances pages."""
    out = []
    for d in instances:
        ident, arn = d["DBInstanceIdentifier"], d.get("DBInstanceArn") or d["DBInstanceIdentifier"]
        tags = _tags(d.get("TagList"))
        group = d.get("DBSubnetGroup") or {}
        attrs = {
            "db_identifier": ident,
            "engine": d.get("Engine"),
            "engine_version": d.get("EngineVersion"),
            "class": d.get("DBInstanceClass"),
            "multi_az": bool(d.get("MultiAZ")),
            "allocated_storage_gb": d.get("AllocatedStorage"),
            "storage_type": d.get("StorageType"),
            "availability_zone": d.get("AvailabilityZone"),
            "vpc_id": group.get("VpcId"),
        }
        endpoint = (d.get("Endpoint") or {}).get("Address")
        status = d.get("DBInstanceStatus", "unknown")
        r = _resource("rds", ident, key_of(arn), region, status, ident, "database", attrs, tags, [endpoint])
        if group.get("VpcId"):
            r.edges.append(_edge("depends_on", group["VpcId"]))
        out.append(r)
    return out


def lb_dimension(arn: str) -> str:
    """CloudWatch's LoadBalancer dimension: the ARN after `loadbalancer/` (app/<name>/<id>)."""
    return arn.split(":loadbalancer/", 1)[-1]


def elb_resources(
    region: str, balancers: list[dict], groups: list[dict], health: dict[str, list[dict]]
) -> list[Resource]:
    """ELBv2 load balancers; LB -> instance targets (depends_on) with the health of every target."""
    by_lb: dict[str, list[tuple[dict, dict]]] = {}
    for g in groups:
        for lb_arn in g.get("LoadBalancerArns", []):
            by_lb.setdefault(lb_arn, []).extend((g, t) for t in health.get(g["TargetGroupArn"], []))
    out = []
    for b in balancers:
        arn, name = b["LoadBalancerArn"], b.get("LoadBalancerName", "")
        attrs = {
            "lb_type": b.get("Type"),
            "scheme": b.get("Scheme"),
            "vpc_id": b.get("VpcId"),
            "availability_zones": [z.get("ZoneName") for z in b.get("AvailabilityZones", [])],
            "dns_name": b.get("DNSName"),
        }
        state = (b.get("State") or {}).get("Code", "unknown")
        r = _resource("elb", lb_dimension(arn), key_of(arn), region, state, name, "load_balancer", attrs, {})
        r.facts["addresses"] = [b["DNSName"]] if b.get("DNSName") else []
        if b.get("VpcId"):
            r.edges.append(_edge("depends_on", b["VpcId"]))
        for g, t in by_lb.get(arn, []):
            target = t.get("Target", {})
            tid, port = target.get("Id", ""), target.get("Port", "")
            th = t.get("TargetHealth") or {}
            health_state = th.get("State", "unknown")
            reason = th.get("Reason")
            r.targets[f"{tid}:{port}"] = f"{health_state} ({reason})" if reason else health_state
            if tid.startswith("i-") and not any(e.get("instance") == tid for e in r.edges):
                r.edges.append(
                    _edge("depends_on", tid, instance=tid, target_group=g.get("TargetGroupName", ""))
                )
        r.facts["attributes"]["targets"] = dict(sorted(r.targets.items()))
        out.append(r)
    return out


def services(resources: list[Resource]) -> list[Resource]:
    """One `service` asset per distinct `business_service` tag."""
    names = {r.tags[SERVICE_TAG].strip() for r in resources if r.tags.get(SERVICE_TAG, "").strip()}
    return [
        Resource(
            "service",
            n,
            f"service:{n.lower()}",
            "",
            "active",
            {
                "natural_key": f"service:{n.lower()}",
                "name": n,
                "type": "service",
                "attributes": {"cloud": "aws"},
            },
        )
        for n in sorted(names)
    ]


def observation(resource: Resource, tenant: str | None = None) -> Observation:
    """The discovery observation (source `cloud`) for the asset registry."""
    body = DiscoveryBody(facts=resource.facts, edges=resource.edges[:1024])
    return Observation(source=SOURCE, asset_id=resource.asset_id, tenant=tenant, body=body)
