"""Health: are the servers reachable, and is every pipeline stage alive and keeping up.

`/health/live` says only that this API process answers (for a process supervisor). `/health` and
`/health/ready` add the truth about the pipeline, from the stage heartbeats workers publish in Redis
(`ems.streams.heartbeat`): they answer 503 with the reasons when a server is unreachable or when a
stage the pipeline runs

- has no live worker (its heartbeats stopped: killed, hung, or stopped and not restarted),
- is paused on a transient failure (e.g. PostgreSQL unreachable) or failing (restarting after an
  unexpected error), with the reason the stage reported,
- is stuck: records wait on its input but it made no progress for `stuck_after` seconds,
- is in a crash loop: its process was restarted `CRASH_LOOP` times recently and has not yet run
  for a minute.
The expected stages are those that reported within `health_forget_after` seconds, plus
`health_expected_stages`. Each stage's report names the kinds of its problems (`kinds`: one of
`PROBLEM_KINDS`), which the self-monitor (`ems.agents.selfmon`) turns into alerts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ems.settings import Settings
from ems.streams.stage_status import FAILING, PAUSED, STOPPED
from ems.supervise import CRASH_LOOP, STABLE_RUN

Check = Callable[[], Awaitable[Any]]
GONE, PAUSED_OR_FAILING, STOPPED_KIND, STUCK, CRASH_LOOP_KIND = (
    "gone",
    "paused",
    "stopped",
    "stuck",
    "crash_loop",
)
PROBLEM_KINDS = (GONE, PAUSED_OR_FAILING, STOPPED_KIND, STUCK, CRASH_LOOP_KIND)


async def probe(check: Check, timeout: float = 2.0) -> dict[str, Any]:
    """Run one check with a timeout; report ok + latency, or the error."""
    start = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout)
    except Exception as exc:  # any failure is a health result, not a crash
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__,
        }
    return {"ok": True, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}


async def health_report(checks: dict[str, Check], timeout: float = 2.0) -> dict[str, Any]:
    """Run every check concurrently: name -> `probe` result."""
    results = await asyncio.gather(*(probe(c, timeout) for c in checks.values()))
    return dict(zip(checks, results, strict=True))


# what /health shows of each live instance (restarts: of the stage inside its process, after a failure)
INSTANCE_FIELDS = ("instance", "state", "reason", "lag", "records", "dead_letters", "skipped", "restarts")


def judge_stages(
    seen: Mapping[str, float], instances: list[dict[str, Any]], now: float, settings: Settings
) -> tuple[dict[str, Any], list[str]]:
    """(per-stage report, problems) from the heartbeats; no problems means the pipeline is healthy."""
    expected = {s for s, t in seen.items() if now - t <= settings.health_forget_after}
    expected |= set(settings.health_expected_stages)
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for inst in instances:
        by_stage.setdefault(inst["stage"], []).append(inst)
    report: dict[str, Any] = {}
    problems: list[str] = []
    for stage in sorted(expected | set(by_stage)):
        live = by_stage.get(stage, [])
        found: list[tuple[str, str]] = []
        if not live:
            last = seen.get(stage)
            when = f"last heartbeat {now - last:.0f} s ago" if last else "never reported"
            found.append((GONE, f"{stage}: no live worker ({when})"))
        for inst in live:
            found.extend(_instance_problems(stage, inst, now, settings))
        lags = [i["lag"] for i in live if i.get("lag") is not None]
        waiting = [now - (i.get("last_progress") or i.get("since") or now) for i in live if i.get("lag")]
        report[stage] = {
            "ok": not found,
            "kinds": sorted({kind for kind, _ in found}),
            "instances": [
                {k: inst.get(k) for k in INSTANCE_FIELDS}
                | {"last_progress_s": _age(inst.get("last_progress"), now)}
                for inst in live
            ],
            "lag": sum(lags) if lags else None,
            # seconds its longest-waiting worker has had records waiting without progress (0: none)
            "stalled_s": round(max(waiting, default=0.0), 1) if live else None,
        }
        if found:
            report[stage]["problems"] = [text for _, text in found]
        problems.extend(text for _, text in found)
    return report, problems


def _instance_problems(
    stage: str, inst: dict[str, Any], now: float, settings: Settings
) -> list[tuple[str, str]]:
    """(kind, text) of each problem of one live instance."""
    where = f"{stage} ({inst.get('instance')})"
    out = []
    state = inst.get("state")
    if state in (PAUSED, FAILING):
        out.append(
            (PAUSED_OR_FAILING, f"{where}: {state} for {now - inst['since']:.0f} s: {inst.get('reason')}")
        )
    elif state == STOPPED:
        out.append((STOPPED_KIND, f"{where}: stopped"))
    lag = inst.get("lag") or 0
    moved = inst.get("last_progress") or inst.get("since") or now
    if lag > 0 and now - moved > settings.stuck_after:
        out.append((STUCK, f"{where}: stuck: {lag} records waiting and no progress for {now - moved:.0f} s"))
    restarts = inst.get("process_restarts") or 0
    if restarts >= CRASH_LOOP and now - (inst.get("process_started") or 0) < STABLE_RUN:
        out.append(
            (
                CRASH_LOOP_KIND,
                f"{where}: crash loop: its process was restarted {restarts} times recently "
                f"(last exit code {inst.get('last_exit')})",
            )
        )
    return out


def _age(at: float | None, now: float) -> float | None:
    return None if at is None else round(now - at, 1)
