"""Inhibition rules with Alertmanager's semantics: a firing source alert mutes matching target alerts.

A rule has source matchers, target matchers and `equal` field names. A target is inhibited when some
other firing alert matches the source matchers, the target matches the target matchers, and every
field in `equal` has the same value on both (a field missing on both counts as equal, as in
Alertmanager; list fields compare as sets). As in Alertmanager:

- an alert never inhibits itself;
- an alert that matches both sides of a rule is inhibited only by sources that do not also match the
  target side, so two such alerts cannot mute each other;
- an inhibited alert still inhibits others (A mutes B and B mutes C: both B and C are muted while
  A fires).

Which alerts fire at the event time is the caller's input; alerts whose `status` is resolved, closed or
expired are not sources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ems.noise.errors import RuleError
from ems.noise.matchers import Fields, Matcher, MatcherError, as_matchers, check_name, matches_all, values_of

NOT_FIRING = frozenset({"resolved", "closed", "expired"})


@dataclass(frozen=True)
class InhibitRule:
    """`source` mutes `target` when the `equal` fields agree; matchers may be given in text form."""

    id: str
    source: tuple[Matcher, ...] | str
    target: tuple[Matcher, ...] | str
    equal: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.id:
            raise RuleError("id", "is empty")
        for side in ("source", "target"):
            matchers = as_matchers(getattr(self, side))
            if not matchers:
                raise MatcherError("", f"an inhibition rule needs at least one {side} matcher", field=side)
            object.__setattr__(self, side, matchers)
        try:
            object.__setattr__(self, "equal", tuple(check_name(n) for n in self.equal))
        except MatcherError as exc:
            raise MatcherError(exc.matcher, exc.reason, field="equal") from None

    def agree(self, source: Fields, target: Fields) -> bool:
        return all(set(values_of(source, n)) == set(values_of(target, n)) for n in self.equal)


@dataclass(frozen=True)
class Inhibition:
    """Why a target is muted: the rule and the source alert's id."""

    rule_id: str
    source_id: str


def _id(fields: Fields) -> str:
    return str(fields.get("alert_id") or fields.get("fingerprint") or "")


def inhibited(rules: Sequence[InhibitRule], alerts: Sequence[Fields]) -> dict[str, list[Inhibition]]:
    """Target alert id -> what inhibits it (sorted), for every inhibited alert among `alerts`.

    Alerts are identified by `alert_id` (or `fingerprint`); each needs one.
    """
    for fields in alerts:
        if not _id(fields):
            raise RuleError("alert_id", "an alert given for inhibition has no alert_id or fingerprint")
    firing = [a for a in alerts if a.get("status") not in NOT_FIRING]
    out: dict[str, list[Inhibition]] = {}
    for rule in rules:
        sources = [s for s in firing if matches_all(rule.source, s)]  # type: ignore[arg-type]
        if not sources:
            continue
        for target in alerts:
            if not matches_all(rule.target, target):  # type: ignore[arg-type]
                continue
            two_sided = matches_all(rule.source, target)  # type: ignore[arg-type]
            for source in sources:
                if _id(source) == _id(target) or not rule.agree(source, target):
                    continue
                if two_sided and matches_all(rule.target, source):  # type: ignore[arg-type]
                    continue
                out.setdefault(_id(target), []).append(Inhibition(rule.id, _id(source)))
    return {k: sorted(v, key=lambda i: (i.rule_id, i.source_id)) for k, v in sorted(out.items())}


def inhibitions_of(rules: Sequence[InhibitRule], alert: Fields, firing: Sequence[Fields]) -> list[Inhibition]:
    """What inhibits `alert` given the other current alerts `firing` (it may be among them)."""
    others: Mapping[str, Fields] = {_id(a): a for a in firing}
    return inhibited(rules, [*(a for k, a in others.items() if k != _id(alert)), alert]).get(_id(alert), [])
