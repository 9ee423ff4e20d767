"""Thin asyncio SNMP client over pysnmp 7: GET and multi-column GETBULK walks with own retries.

Values come back as plain Python: int (Integer/Counter/Gauge/TimeTicks), bytes (OctetString),
str (OID, IpAddress) or None (noSuchObject / noSuchInstance / endOfMibView). Errors are exceptions:
`SnmpTimeout` (no answer after all retries: down, wrong community or wrong v3 context), `SnmpAuthError`
(v3 unknown user / wrong digest / undecryptable), `SnmpError` (anything else the agent reports).
Retries are counted here rather than inside pysnmp so each poll can report its packet loss.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pysnmp.hlapi.v3arch import asyncio as hl
from pysnmp.proto import errind, rfc1902, rfc1905

from ems.collectors.snmp_config import Credential, Device

_AUTH = {
    "none": hl.USM_AUTH_NONE,
    "md5": hl.USM_AUTH_HMAC96_MD5,
    "sha": hl.USM_AUTH_HMAC96_SHA,
    "sha224": hl.USM_AUTH_HMAC128_SHA224,
    "sha256": hl.USM_AUTH_HMAC192_SHA256,
    "sha384": hl.USM_AUTH_HMAC256_SHA384,
    "sha512": hl.USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    "none": hl.USM_PRIV_NONE,
    "des": hl.USM_PRIV_CBC56_DES,
    "3des": hl.USM_PRIV_CBC168_3DES,
    "aes": hl.USM_PRIV_CFB128_AES,
    "aes128": hl.USM_PRIV_CFB128_AES,
    "aes192": hl.USM_PRIV_CFB192_AES,
    "aes256": hl.USM_PRIV_CFB256_AES,
}
_MISSING = (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)
_AUTH_ERRORS = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.UnknownSecurityName,
)


class SnmpError(Exception):
    """The agent answered with an error, or the request could not be made."""


class SnmpTimeout(SnmpError):
    """No answer after every retry."""


class SnmpAuthError(SnmpError):
    """The agent rejected our SNMPv3 credentials (unknown user, wrong key or protocol)."""


def to_python(value: Any) -> Any:
    """A pysnmp value as int, bytes, str or None (missing)."""
    if isinstance(value, _MISSING):
        return None
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in value.asOctets())
    if isinstance(value, rfc1902.ObjectIdentifier):
        return str(value)
    if isinstance(value, rfc1902.OctetString):
        return value.asOctets()
    if isinstance(value, rfc1902.Integer32 | rfc1902.Unsigned32 | rfc1902.Counter64) or hasattr(
        value, "__int__"
    ):
        return int(value)
    return str(value)


@dataclass
class Stats:
    """Requests and timeouts of one device poll, and the last successful round trip."""

    requests: int = 0
    timeouts: int = 0
    latency_ms: float = 0.0

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.timeouts / self.requests if self.requests else 0.0


@dataclass
class Session:
    """A device's auth data and transport, created once and reused for every request."""

    device: Device
    auth: Any
    context: Any
    transport: Any
    stats: Stats = field(default_factory=Stats)


def auth_data(cred: Credential, fallback_context: str = "") -> tuple[Any, Any]:
    """pysnmp auth and context objects for a credential (secrets are read here and only here)."""
    if cred.version != "3":
        auth = hl.CommunityData(cred.community.get_secret_value(), mpModel=0 if cred.version == "1" else 1)
        return auth, hl.ContextData()
    auth = hl.UsmUserData(
        cred.user,
        authKey=cred.auth_key.get_secret_value() if cred.auth_key else None,
        privKey=cred.priv_key.get_secret_value() if cred.priv_key else None,
        authProtocol=_AUTH[cred.auth_proto],
        privProtocol=_PRIV[cred.priv_proto],
    )
    return auth, hl.ContextData(contextName=cred.context or fallback_context)


class SnmpClient:
    """One pysnmp engine (per event loop) shared by every device session."""

    def __init__(self, timeout: float = 1.0, retries: int = 3) -> None:
        self.engine = hl.SnmpEngine()
        self.timeout = timeout
        self.retries = retries

    async def session(self, device: Device) -> Session:
        auth, context = auth_data(device.credential)
        transport = await hl.UdpTransportTarget.create(
            (device.host, device.port), timeout=self.timeout, retries=0
        )
        return Session(device, auth, context, transport)

    async def _request(self, session: Session, call, *args: Any) -> list[tuple[str, Any]]:
        for _attempt in range(self.retries + 1):
            session.stats.requests += 1
            started = time.perf_counter()
            ei, es, ex, vbs = await call(
                self.engine, session.auth, session.transport, session.context, *args, lookupMib=False
            )
            if isinstance(ei, errind.RequestTimedOut):
                session.stats.timeouts += 1
                continue
            if ei is not None:
                if isinstance(ei, _AUTH_ERRORS):
                    raise SnmpAuthError(f"{session.device.address}: SNMPv3 credentials rejected ({ei})")
                raise SnmpError(f"{session.device.address}: {ei}")
            if int(es):
                where = vbs[int(ex) - 1][0] if ex and int(ex) <= len(vbs) else "?"
                raise SnmpError(f"{session.device.address}: {es.prettyPrint()} at {where}")
            session.stats.latency_ms = (time.perf_counter() - started) * 1000
            return [(str(oid), to_python(val)) for oid, val in vbs]
        raise SnmpTimeout(
            f"{session.device.address}: no answer after {self.retries} retries "
            f"(device down, wrong community or wrong v3 context)"
        )

    async def get(self, session: Session, oids: list[str]) -> dict[str, Any]:
        """GET the given instance OIDs; missing ones map to None."""
        objs = [hl.ObjectType(hl.ObjectIdentity(oid)) for oid in oids]
        return dict(await self._request(session, hl.get_cmd, *objs))

    async def walk(
        self,
        session: Session,
        roots: list[str],
        scalars: tuple[str, ...] = (),
        max_repetitions: int = 25,
        max_rounds: int = 200,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """GETBULK-walk several subtrees in parallel: ({root: {index suffix: value}}, {scalar: value}).

        `scalars` ride along as non-repeaters in the first PDU (GETNEXT semantics: pass `sysUpTime`,
        get `sysUpTime.0`), so a poll of sysUpTime + every interface counter is one round trip.
        """
        result: dict[str, dict[str, Any]] = {root: {} for root in roots}
        values: dict[str, Any] = {}
        cursor: dict[str, str | None] = {root: root for root in roots}
        lead = list(scalars)
        for _ in range(max_rounds):
            active = [root for root in roots if cursor[root] is not None]
            if not active and not lead:
                break
            reps = max(1, min(max_repetitions, 400 // max(1, len(active))))
            objs = [hl.ObjectType(hl.ObjectIdentity(oid)) for oid in lead + [cursor[r] for r in active]]
            vbs = await self._request(session, hl.bulk_cmd, len(lead), reps if active else 0, *objs)
            for scalar, (oid, value) in zip(lead, vbs[: len(lead)], strict=False):
                values[scalar] = value if oid.startswith(scalar + ".") else None
            vbs, lead = vbs[len(lead) :], []
            last: dict[str, Any] = {root: None for root in active}
            for i, (oid, value) in enumerate(vbs):
                root = active[i % len(active)]
                if last[root] is False:
                    continue
                prefix = root + "."
                if not oid.startswith(prefix) or value is None:
                    last[root] = False  # left the subtree, or endOfMibView
                    continue
                result[root][oid[len(prefix) :]] = value
                last[root] = oid
            for root in active:
                cursor[root] = None if last[root] is False else (last[root] or cursor[root])
        return result, values
