"""Collector configuration: targets (hosts, CIDR ranges), credentials per device or subnet, schedules.

Loaded from a YAML or JSON file (`EMS_SNMP_CONFIG_FILE`) or built from CLI flags. Secrets are
`SecretStr`: they never appear in logs, reprs or error messages.

    credentials:
      lab-v2: {version: "2c", community: public}
      core-v3: {version: "3", user: ops, auth_proto: sha256, auth_key: "…", priv_proto: aes, priv_key: "…"}
    subnets: [{cidr: 10.1.0.0/16, credential: core-v3}]
    targets:
      - {host: 10.1.2.3, port: 161, credential: lab-v2, device_class: core, tags: [dc1]}
      - {host: 10.9.0.0/28}            # a range: every address is probed (bounded concurrency)
    intervals: {core: 30, default: 60}
    thresholds: [{metric: cpu_util_pct, warning: 70, critical: 90, tag: dc1}]
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ems.collectors.snmp_thresholds import ThresholdRule

AuthProto = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProto = Literal["none", "des", "3des", "aes", "aes128", "aes192", "aes256"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Credential(_Model):
    """How to talk to an agent: v2c community, or a v3 USM user (noAuthNoPriv / authNoPriv / authPriv)."""

    version: Literal["1", "2c", "3"] = "2c"
    community: SecretStr = SecretStr("public")
    user: str = ""
    auth_proto: AuthProto = "none"
    auth_key: SecretStr | None = None
    priv_proto: PrivProto = "none"
    priv_key: SecretStr | None = None
    context: str = Field("", description="SNMPv3 contextName")

    @model_validator(mode="after")
    def _check_v3(self) -> Credential:
        if self.version != "3":
            return self
        if not self.user:
            raise ValueError("an SNMPv3 credential needs a user")
        if self.auth_proto != "none" and (self.auth_key is None or len(self.auth_key) < 8):
            raise ValueError("the v3 auth key must be at least 8 characters")
        if self.priv_proto != "none":
            if self.auth_proto == "none":
                raise ValueError("SNMPv3 privacy needs authentication (authPriv)")
            if self.priv_key is None or len(self.priv_key) < 8:
                raise ValueError("the v3 privacy key must be at least 8 characters")
        return self

    @property
    def level(self) -> str:
        """noAuthNoPriv, authNoPriv or authPriv (v3), else the community version."""
        if self.version != "3":
            return f"v{self.version}"
        if self.priv_proto != "none":
            return "authPriv"
        return "authNoPriv" if self.auth_proto != "none" else "noAuthNoPriv"


class Subnet(_Model):
    """A credential (and class) for every device in a CIDR range."""

    cidr: str
    credential: str
    device_class: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Subnet:
        ipaddress.ip_network(self.cidr, strict=False)
        return self


class Target(_Model):
    """A device (`host`) or a range (`host` in CIDR form) to discover and poll."""

    host: str = Field(min_length=1)
    port: int = Field(161, ge=1, le=65535)
    credential: str | None = None
    device_class: str | None = None
    tags: list[str] = Field(default_factory=list)


class Device(_Model):
    """One concrete address to poll, with its resolved credential."""

    host: str
    port: int = 161
    credential: Credential = Credential()
    device_class: str = "default"
    tags: tuple[str, ...] = ()
    from_range: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class CollectorConfig(_Model):
    """Everything the scheduled collector needs besides the Kafka settings."""

    credentials: dict[str, Credential] = Field(default_factory=lambda: {"default": Credential()})
    subnets: list[Subnet] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    intervals: dict[str, float] = Field(default_factory=dict, description="Poll interval (s) per class")
    default_interval: float = Field(60.0, gt=0)
    jitter: float = Field(0.1, ge=0, le=1, description="Random spread of each poll, fraction of interval")
    discovery_interval: float = Field(3600.0, gt=0)
    concurrency: int = Field(100, ge=1)
    timeout: float = Field(1.0, gt=0)
    retries: int = Field(3, ge=0)
    max_range_hosts: int = Field(4096, ge=1)
    thresholds: list[ThresholdRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_refs(self) -> CollectorConfig:
        names = set(self.credentials)
        for ref in [t.credential for t in self.targets] + [s.credential for s in self.subnets]:
            if ref is not None and ref not in names:
                raise ValueError(f"unknown credential {ref!r}; defined: {', '.join(sorted(names))}")
        return self

    def interval_for(self, device_class: str) -> float:
        return self.intervals.get(device_class, self.intervals.get("default", self.default_interval))

    def devices(self) -> list[Device]:
        """Expand targets (ranges included) into devices with credentials resolved."""
        seen: dict[tuple[str, int], Device] = {}
        for target in self.targets:
            for host in _hosts(target.host, self.max_range_hosts):
                subnet = self._subnet_of(host)
                name = target.credential or (subnet.credential if subnet else None) or "default"
                cred = self.credentials.get(name) or Credential()
                cls = target.device_class or (subnet.device_class if subnet else None) or "default"
                seen.setdefault(
                    (host, target.port),
                    Device(
                        host=host,
                        port=target.port,
                        credential=cred,
                        device_class=cls,
                        tags=tuple(target.tags),
                        from_range="/" in target.host,
                    ),
                )
        return list(seen.values())

    def _subnet_of(self, host: str) -> Subnet | None:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        best = None
        for subnet in self.subnets:
            net = ipaddress.ip_network(subnet.cidr, strict=False)
            if ip in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, subnet)
        return best[1] if best else None


def _hosts(spec: str, limit: int) -> list[str]:
    if "/" not in spec:
        return [spec]
    net = ipaddress.ip_network(spec, strict=False)
    if net.num_addresses > limit:
        raise ValueError(
            f"range {spec} holds {net.num_addresses} addresses, more than max_range_hosts={limit}"
        )
    hosts = [str(ip) for ip in net.hosts()]
    return hosts or [str(net.network_address)]


def parse_target(spec: str) -> tuple[str, int]:
    """`host`, `host:port` or `[v6]:port` -> (host, port)."""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, int(rest.lstrip(":") or 161)
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return host, int(port)
    return spec, 161


def load_config(path: str | Path) -> CollectorConfig:
    """Read a YAML (.yaml/.yml) or JSON config file; raises ValueError with the reason."""
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    return CollectorConfig.model_validate(data)
