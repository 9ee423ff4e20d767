"""Incidents on `ems.incidents`, keyed by incident id: the correlation stage's decisions.

An incident groups alert **episodes**: an episode of an alert starts when it opens (or reopens) and
ends when it resolves, is closed or expires, so an alert that fails again in another fault can join
another incident. Each `IncidentChanged` carries the incident's header after the change and the
memberships that changed in it (a member that joined, left, ended or brought new events), so the
records of one incident, folded in order, give all of its members; `seq` orders the decisions of
the whole stage (a member moving from one incident to another is a later `seq` in the second).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ems.schemas.alert import AlertStatus
from ems.schemas.envelope import Record
from ems.schemas.limits import Count, EventId, Finite, Name, Offset, Positive, Tag, Text, Time
from ems.schemas.observation import Severity, Tenant

IncidentStatus = Literal["open", "resolved", "merged"]
# Why a member is in its incident: the evidence that related it to another member (`linked_to`).
MemberReason = Literal["seed", "same_alert", "topology", "unreachable", "rule", "dbscan"]
# How it arrived: decided on its own start, moved with its incident's merge, or moved by a split.
Arrival = Literal["decision", "merge", "split"]
ChangeKind = Literal["opened", "grew", "updated", "merged", "absorbed", "split", "resolved", "reopened"]
EVENT_IDS_KEPT = 50  # per member: the ids of its last events (older ones: by fingerprint and time)
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Member(_Model):
    """One alert episode in one incident, as of the incident version that last changed it."""

    alert_id: Text(128, 1)
    fingerprint: Text(128, 1)
    episode: Positive = Field(description="The alert version at which this episode opened")
    asset_id: Text(128) | None = None
    source: Name
    event: Name
    resource: Text(256)
    title: Text(1024) = ""
    severity: Severity
    environment: Text(64) = ""
    tenant: Tenant | None = None
    service: list[Name] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    status: AlertStatus = Field(description="The alert's status as last seen")
    opened_at: Time = Field(description="The episode's start (event time)")
    since: Time | None = Field(None, description="For a flapping alert: when its first episode started")
    ended_at: Time | None = Field(None, description="When it resolved, was closed or expired")
    joined_at: Time
    left_at: Time | None = Field(None, description="When it moved to another incident (merge or split)")
    reason: MemberReason
    arrival: Arrival = "decision"
    linked_to: Text(128) | None = Field(None, description="alert_id of the member it was related to")
    detail: Text(512) = Field("", description="The evidence, e.g. '1 hop (connected_to) to core-1'")
    event_ids: Annotated[list[EventId], Field(max_length=EVENT_IDS_KEPT)] = Field(
        default_factory=list, description="Ids of the last events it brought (Alerta's lastReceiveId)"
    )
    event_count: Count = Field(0, description="Events the alert received during this episode")
    alert_version: Positive = Field(description="The highest alert version applied")
    impact: Finite = Field(0.0, ge=0, le=100, description="This alert's own business impact, 0-100")
    revenue_per_hour: Finite = Field(0.0, ge=0)
    version: Positive = Field(description="The incident version that last changed this membership")


class Service(_Model):
    """A business service the incident reaches through the dependency graph."""

    asset_id: Text(128)
    name: Text(512)
    revenue_per_hour: Finite = Field(0.0, ge=0)
    users_served: Count = 0


class Impact(_Model):
    """Business impact: the score and its components (each 0-1, with its weight), so a person sees why."""

    score: Finite = Field(ge=0, le=100)
    revenue_per_hour: Finite = Field(0.0, ge=0, description="Revenue at risk per hour")
    users: Count = 0
    services: list[Service] = Field(default_factory=list)
    blast_radius: Count = Field(0, description="Assets affected: members and what depends on them")
    criticality: Annotated[int, Field(ge=0, le=5)] = 0
    severity: Severity = "indeterminate"
    duration_s: Count = 0
    components: dict[Text(32), Share] = Field(default_factory=dict)
    weights: dict[Text(32), Share] = Field(default_factory=dict)


class RootCause(_Model):
    """The topology root where one is evident: the member whose asset the others depend on or sit behind."""

    alert_id: Text(128, 1)
    asset_id: Text(128, 1)
    explains: Count = Field(description="Other member assets it explains")
    of: Count = Field(description="Other member assets")
    evidence: Text(256)


class RankedCandidate(_Model):
    """One candidate of the root-cause ranking: an asset, its first alert (none: implied by topology)."""

    asset_id: Text(128, 1)
    name: Text(512)
    alert_id: Text(128) | None = None
    event: Name | None = None
    probability: Share = Field(description="The model's probability that it is the root cause")


class Contribution(_Model):
    """A feature's value for the verdict and how much it moved the probability (path contributions)."""

    feature: Text(32, 1)
    value: Finite
    contribution: Finite


class Blend(_Model):
    """How the verdict's probability was made: the forest's and the online model's, blended."""

    forest: Share = Field(description="The forest's probability for the named asset")
    online: Share = Field(description="The online model's (learned from operator feedback)")
    weight: Share = Field(description="The online part's weight: labels / (labels + k)")
    labels: Count = Field(description="Feedback labels the online model has learned")


class Ranking(_Model):
    """The root cause as the model ranks it, with the model version, top-3 and its explanation."""

    model: Text(64, 1) = Field(description="The model version that decided (a replay gives the same)")
    asset_id: Text(128, 1)
    name: Text(512)
    alert_id: Text(128) | None = Field(None, description="Its first alert; none when it never alerted")
    event: Name | None = None
    confidence: Share = Field(description="The model's probability that it is the root cause")
    candidates: list[RankedCandidate] = Field(default_factory=list, max_length=3)
    explanation: Text(512)
    reasons: list[Text(32, 1)] = Field(
        default_factory=list, max_length=3, description="The pieces of evidence the explanation names"
    )
    evidence: list[Contribution] = Field(
        default_factory=list, max_length=8, description="The features that moved its probability most"
    )
    blend: Blend | None = Field(
        None, description="The forest and online parts of `confidence`; none before any feedback is learned"
    )


class IncidentState(_Model):
    """The incident's header after a change."""

    incident_id: Text(64, 1)
    tenant: Tenant | None = Field(None, description="The tenant of its alerts (never mixed); none: shared")
    status: IncidentStatus
    title: Text(1024)
    severity: Severity
    opened_at: Time
    updated_at: Time
    resolved_at: Time | None = None
    merged_into: Text(64) | None = None
    members_total: Count = Field(description="Memberships ever held, moved ones included")
    members_open: Count = Field(description="Current members whose episode has not ended")
    alerts: Count = Field(description="Current members (episodes)")
    assets: list[Text(128)] = Field(default_factory=list, description="Assets of the current members")
    root_cause: RootCause | None = None
    rca: Ranking | None = Field(None, description="The model's root-cause ranking (v2 on)")
    impact: Impact
    version: Positive
    seq: Offset = Field(description="The stage's decision counter: orders decisions across incidents")


class IncidentChanged(Record):
    """One decision about one incident: its header after it, and the memberships it changed."""

    TYPE: ClassVar[str] = "incident_changed"
    VERSION: ClassVar[int] = 2  # v2: `incident.rca`

    incident: IncidentState
    kind: ChangeKind
    reason: Text(1024) = Field("", description="What happened, for the timeline")
    members: list[Member] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return self.incident.incident_id


class LabelRow(_Model):
    """One candidate's feature values, as the online model learned them."""

    asset_id: Text(128, 1)
    values: list[Finite] = Field(max_length=64)


class LearnedLabel(_Model):
    """One operator feedback command (`incident.root_cause`) as the online root-cause model took it:
    the rows it learned (the incident's candidates, then the same without the root's own alerts), or
    why it was skipped. A rebuild learns these rows again in order: the model it gets is the live one."""

    command: Text(128, 1) = Field(description="The command's event id")
    partition: Offset = Field(description="Its position on the commands topic")
    offset: Offset
    incident_id: Text(128)
    asset_id: Text(128) | None = None
    skipped: Text(512) | None = Field(None, description="Why it was not learned; none when it was")
    groups: list[list[LabelRow]] = Field(default_factory=list, max_length=2)


class IncidentBatch(Record):
    """The decisions of one correlation step, published as one record (all or nothing), with the input
    positions they include: the stage restarts from its own output (state and positions) alone."""

    TYPE: ClassVar[str] = "incident_batch"
    VERSION: ClassVar[int] = 3  # v2: changes of v2; v3: the online model's labels

    changes: list[IncidentChanged] = Field(default_factory=list)
    positions: dict[Text(300), Offset] = Field(
        default_factory=dict, description="'topic:partition' -> next input offset after this step"
    )
    labels: list[LearnedLabel] = Field(
        default_factory=list, description="The feedback the online model took in this step, in order"
    )
    seq: Offset = Field(0, description="The stage's decision counter after this step")

    @property
    def key(self) -> str:
        return "correlation"
