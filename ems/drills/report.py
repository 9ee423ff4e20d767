"""What a drill reports: per drill, records sent / accounted / duplicated / dead-lettered and the
recovery time, plus what was checked along the way (`checks`: name -> passed) and notes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ems.drills.audit import Accounting


@dataclass
class DrillReport:
    """The outcome of one drill. `ok` when everything accepted is accounted for exactly once, the
    rebuild equals the live read models and every check passed."""

    name: str
    sent: int = 0
    accounted: int = 0
    duplicated: int = 0
    dead_lettered: int = 0
    recovery_s: float | None = None
    rebuild_differences: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def take(self, accounting: Accounting, label: str = "client") -> None:
        """Fold an audit's accounting (of the client called `label`) into the report."""
        self.sent += accounting.sent
        self.accounted += accounting.accounted
        self.duplicated += accounting.duplicated
        late = self.details.get("late_appends", 0) + accounting.late_appends
        self.details[label] = {
            **accounting.details,
            "late_appends": accounting.late_appends,
            "unknown_landed": accounting.unknown_landed,
        }
        self.details["late_appends"] = late
        self.checks["no late append of a write answered appended=false"] = late == 0

    @property
    def failures(self) -> list[str]:
        out = [name for name, passed in self.checks.items() if not passed]
        if self.accounted != self.sent:
            out.append(f"{self.sent - self.accounted} accepted records not accounted for")
        if self.duplicated:
            out.append(f"{self.duplicated} duplicated")
        out += [f"rebuild differs: {d}" for d in self.rebuild_differences]
        return out

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "failures": self.failures}


def table(reports: list[DrillReport]) -> str:
    """The reports as a plain-text table (one line per drill), then the notes and failures."""
    head = f"{'drill':<28} {'sent':>7} {'accounted':>9} {'dup':>4} {'dead':>5} {'recovery':>9}  result"
    lines = [head, "-" * len(head)]
    for r in reports:
        rec = f"{r.recovery_s:.1f} s" if r.recovery_s is not None else "-"
        result = "ok" if r.ok else "FAILED"
        counts = f"{r.sent:>7} {r.accounted:>9} {r.duplicated:>4} {r.dead_lettered:>5}"
        lines.append(f"{r.name:<28} {counts} {rec:>9}  {result}")
    for r in reports:
        for note in r.notes:
            lines.append(f"{r.name}: {note}")
        for failure in r.failures:
            lines.append(f"{r.name}: FAILED: {failure}")
    return "\n".join(lines)
