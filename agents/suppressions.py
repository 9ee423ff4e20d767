"""The suppression stage's pure core: applies silence and window commands to the set it keeps, in event time.

`Suppressions.apply(command, source, offset)` validates the command again with the noise core (the API
did first) and either refuses it with the reason (the worker dead-letters it), skips it (a redelivery:
its position is below the one recorded, or a command id applied before to the same silence or
window: the ticket stage appends a change's window commands again with the same ids after a crash)
or returns the `SuppressionChanged` it makes:
- `silence.create`: a new silence (matchers, [starts_at, ends_at), comment; the actor is its creator);
- `silence.expire`: ends it at the command's event time (`ems.noise.silences.expire`);
- `window.create`, `window.update` (the parts given replaced, the result validated whole),
  `window.cancel` (ends it at the command's event time; a cancelled window is not updated again).
No wall clock is read here: every time is the command's `occurred_at`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ems.noise.errors import RuleError
from ems.noise.silences import expire
from ems.schemas.command import Command
from ems.schemas.suppression import (
    BadSuppressionCommand,
    SilenceArgs,
    SilenceSnapshot,
    SuppressionBatch,
    SuppressionChanged,
    WindowArgs,
    WindowSnapshot,
    WindowUpdateArgs,
    parse_suppression_args,
)

# Command ids remembered per silence or window. A copy of an applied command (appended again with its
# id, at a later position) is skipped while fewer than this many other commands were applied to the
# same target in between; the ids kept grow with the targets kept, not with the commands applied.
RECENT_CAUSES = 32


@dataclass(frozen=True)
class Outcome:
    change: SuppressionChanged | None = None
    refused: str | None = None  # why the command was not applied
    skipped: bool = False  # a redelivered command, applied before


class Suppressions:
    """The silences and windows by id, and the command positions."""

    def __init__(self) -> None:
        self.silences: dict[str, SilenceSnapshot] = {}
        self.windows: dict[str, WindowSnapshot] = {}
        self.positions: dict[str, int] = {}  # "commands:<partition>" -> next offset to apply
        # ("silence" | "window", id) -> the ids of the last RECENT_CAUSES commands applied to it
        self.causes: dict[tuple[str, str], list[str]] = {}

    def restore(self, batches: Iterable[SuppressionBatch]) -> None:
        """The state after the published batches, folded in order."""
        for batch in batches:
            for change in batch.changes:
                self._keep(change)
            self.positions.update(batch.positions)

    def batch(self, changes: list[SuppressionChanged]) -> SuppressionBatch:
        return SuppressionBatch(changes=changes, positions=dict(self.positions))

    def seen(self, source: str, offset: int) -> bool:
        """Record the position of a command; False when it was applied before (a redelivery)."""
        if offset < self.positions.get(source, 0):
            return False
        self.positions[source] = offset + 1
        return True

    def apply(self, command: Command, source: str, offset: int) -> Outcome:
        """Apply one `silence.*` / `window.*` command read at `source` and `offset`."""
        if not self.seen(source, offset) or self.applied(command):
            return Outcome(skipped=True)
        try:
            args = parse_suppression_args(command.name, command.args)
            change = getattr(self, "_" + command.name.replace(".", "_"))(command, args)
        except BadSuppressionCommand as exc:
            return Outcome(refused=str(exc))
        except RuleError as exc:
            return Outcome(refused=f"{command.name}: {exc}")
        self._keep(change)
        return Outcome(change)

    def applied(self, command: Command) -> bool:
        """Whether a command with this id was applied to its target already (among its recent ones)."""
        return command.event_id in self.causes.get((command.domain, command.target), ())

    # -- silences ----------------------------------------------------------------------------------
    def _silence_create(self, command: Command, args: SilenceArgs) -> SuppressionChanged:
        if command.target in self.silences:
            raise BadSuppressionCommand(f"silence.create: silence {command.target!r} exists already")
        args.rule(command.target, command.actor)
        at = command.occurred_at
        snap = SilenceSnapshot(
            **args.model_dump(),
            silence_id=command.target,
            created_by=command.actor,
            created_at=at,
            updated_at=at,
            version=1,
        )
        return self._changed("created", command, silence=snap)

    def _silence_expire(self, command: Command, args: object) -> SuppressionChanged:
        old = self._silence(command)
        if old.expired_at is not None:
            raise BadSuppressionCommand(f"silence.expire: {old.silence_id} was expired already")
        at = max(command.occurred_at, old.updated_at)
        rule = expire(old.rule(old.silence_id, old.created_by), at)
        snap = _next(old, expired_at=rule.expired_at, updated_at=at)
        return self._changed("expired", command, silence=snap)

    # -- windows -----------------------------------------------------------------------------------
    def _window_create(self, command: Command, args: WindowArgs) -> SuppressionChanged:
        if command.target in self.windows:
            raise BadSuppressionCommand(f"window.create: window {command.target!r} exists already")
        args.rule(command.target, command.actor)
        at = command.occurred_at
        snap = WindowSnapshot(
            **args.model_dump(),
            window_id=command.target,
            created_by=command.actor,
            created_at=at,
            updated_at=at,
            version=1,
        )
        return self._changed("created", command, window=snap)

    def _window_update(self, command: Command, args: WindowUpdateArgs) -> SuppressionChanged:
        old = self._window(command)
        given = args.model_dump(exclude_none=True)
        if not given:
            raise BadSuppressionCommand("window.update: give title, scope, schedule or mode")
        at = max(command.occurred_at, old.updated_at)
        snap = WindowSnapshot.model_validate(
            {**old.model_dump(), **given, "updated_at": at, "version": old.version + 1}
        )
        snap.rule(snap.window_id, snap.created_by)
        return self._changed("updated", command, window=snap)

    def _window_cancel(self, command: Command, args: object) -> SuppressionChanged:
        old = self._window(command)
        at = max(command.occurred_at, old.updated_at)
        return self._changed("cancelled", command, window=_next(old, cancelled_at=at, updated_at=at))

    # -- shared ------------------------------------------------------------------------------------
    def _silence(self, command: Command) -> SilenceSnapshot:
        found = self.silences.get(command.target)
        if found is None:
            raise BadSuppressionCommand(f"{command.name}: no silence {command.target!r}")
        return found

    def _window(self, command: Command) -> WindowSnapshot:
        found = self.windows.get(command.target)
        if found is None:
            raise BadSuppressionCommand(f"{command.name}: no window {command.target!r}")
        if found.cancelled_at is not None:
            raise BadSuppressionCommand(f"{command.name}: {found.window_id} was cancelled already")
        return found

    def _keep(self, change: SuppressionChanged) -> None:
        if change.silence is not None:
            self.silences[change.silence.silence_id] = change.silence
            target = ("silence", change.silence.silence_id)
        else:
            self.windows[change.window.window_id] = change.window
            target = ("window", change.window.window_id)
        self.causes[target] = [*self.causes.get(target, ()), change.cause][-RECENT_CAUSES:]

    def _changed(self, kind: str, command: Command, **snapshot) -> SuppressionChanged:
        snap = next(iter(snapshot.values()))
        ident = getattr(snap, "silence_id", None) or snap.window_id
        return SuppressionChanged(
            event_id=f"{ident}:{snap.version}",
            occurred_at=snap.updated_at,
            kind=kind,
            actor=command.actor,
            cause=command.event_id,
            reason=command.reason,
            **snapshot,
        )


def _next(snap, **update):
    """The snapshot with `update` applied and its version raised, validated again."""
    return type(snap).model_validate({**snap.model_dump(), **update, "version": snap.version + 1})
