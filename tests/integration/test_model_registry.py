"""The root-cause model registry on real Kafka and PostgreSQL (docs/rca.md "Model registry"): the
correlate stage ranks with the shipped model; `ems retrain --log --publish` publishes a model trained
on a couple of scenarios and the running stage ranks the next incidents with it, without a restart;
`ems model rollback` returns to the shipped model, and a second rollback is refused. Alerts keep
flowing all along: every one is projected, nothing is dead-lettered. Then a root cause corrected over
the API is learned by the online model (docs/rca.md "Online model"): the next similar incident's
verdict shows its part, and so does one after the stage restarts (the rows it learned, recorded in
its own output, learned again: the command is not read again).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from ems.drills.pipeline import child_pids
from ems.ml.rca.rank import default_ranker
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import EventBody, Observation
from tests.integration.harness import Pipeline, send, wait_for

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
PHASE = timedelta(hours=2)  # each phase's fault far from the others' (and the flow an hour apart)
SHIPPED = default_ranker().version
NEW = "it-registry-2"


def aid(name: str) -> str:
    return asset_id_for(f"reg:{name}")


def create(name: str, kind: str, links=(), **fields) -> Command:
    deps = [{"type": t, "target": aid(x)} for t, x in links]
    args = {"name": name, "type": kind, "dependencies": deps, **fields}
    return Command(name="asset.create", target=aid(name), actor="test", args=args)


def topology() -> list[Command]:
    """A poller behind a WAN router; five sites of a switch with two servers behind it."""
    out = [create("wan", "router"), create("noc", "server", [("connected_to", "wan")], tags=["poller"])]
    for s in range(5):
        out.append(create(f"s{s}-sw", "switch", [("connected_to", "wan")]))
        out += [create(f"s{s}-srv{j}", "server", [("connected_to", f"s{s}-sw")]) for j in range(2)]
    return out


def alert(at: datetime, name: str, event: str = "Device Unreachable", severity: str = "critical") -> dict:
    obs = Observation(
        event_id=f"reg-{name}-{event}-{at.isoformat()}",
        source="nms",
        asset_id=aid(name),
        occurred_at=at,
        body=EventBody(event=event, severity=severity, resource=name, title=f"{name} {event}"),
    )
    return obs.model_dump(mode="json")


def post(pipeline: Pipeline, items: list[dict]) -> None:
    with pipeline.client() as c:
        r = c.post("/api/v1/events", json=items)
        assert r.status_code == 202, r.text


class Flow(threading.Thread):
    """Alerts posted every 0.2 s on assets of their own, an hour after the current phase's fault."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__(daemon=True)
        self.pipeline, self.base, self.sent, self.error = pipeline, T0, 0, None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                at = self.base + timedelta(hours=1, seconds=self.sent)
                post(self.pipeline, [alert(at, f"flow-{self.sent}", "High CPU", "major")])
                self.sent += 1
                time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def ranked_by(pipeline: Pipeline, site: int, at: datetime) -> tuple[str, dict]:
    """Post the site's switch and servers down; the incident's id and verdict."""
    post(
        pipeline,
        [alert(at, f"s{site}-sw")]
        + [alert(at + timedelta(seconds=2 + j), f"s{site}-srv{j}") for j in range(2)],
    )

    def ranked() -> dict | None:
        pipeline.check_alive()
        with pipeline.client() as c:
            found = c.get("/api/v1/incidents", params={"rca_asset_id": aid(f"s{site}-sw")}).json()[
                "incidents"
            ]
            if not found or found[0]["alerts"] < 3:
                return None
            iid = found[0]["incident_id"]
            return iid, c.get(f"/api/v1/incidents/{iid}").json()["rca"]

    return wait_for(ranked, 90, f"site {site}'s incident ranked")


def live_is(pipeline: Pipeline, version: str) -> dict | None:
    with pipeline.client() as c:
        r = c.get("/api/v1/models")
    assert r.status_code == 200, r.text
    return r.json() if r.json()["live"]["version"] == version else None


def test_published_models_hot_swap_and_roll_back_while_alerts_flow(pipeline: Pipeline, tmp_path) -> None:
    pipeline.start_worker(stages="normalize,dedupe,projections,assets")
    pipeline.start_api()
    commands = topology()
    send(pipeline, "commands", commands)
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM assets") == len(commands), 60, "the assets")
    pipeline.start("correlate", "worker", "--stages", "correlate")  # reads the whole topology at start
    [stage_pid] = wait_for(lambda: child_pids(pipeline.procs["correlate"].pid), 30, "the correlate stage")
    flow = Flow(pipeline)
    flow.start()
    started = time.monotonic()

    assert ranked_by(pipeline, 0, T0)[1]["model"] == SHIPPED

    # A model trained on two scenarios, published: the running stage swaps to it.
    flow.base = T0 + PHASE
    trained = pipeline.run(
        "retrain", "--log", "--scenario-seeds", "1-2", "--held-out", "0", "--version", NEW,
        "--model-dir", str(tmp_path / "models"), "--publish",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert f"published {NEW} and made it live (was {SHIPPED})" in trained.stdout
    wait_for(lambda: f"-> {NEW}" in pipeline.log_tail("correlate", 400), 60, "the stage to swap models")
    assert ranked_by(pipeline, 1, T0 + PHASE)[1]["model"] == NEW
    listed = wait_for(lambda: live_is(pipeline, NEW), 30, "GET /api/v1/models to show the new model")
    assert listed["live"]["previous"] == [SHIPPED] and listed["live"]["reason"] == "publish"
    [published] = listed["models"]
    assert published["version"] == NEW and published["training"]["scenario_seeds"] == "1-2"
    assert published["metrics"]["candidates"] > 0

    # Rolled back: the shipped model ranks the next incident; nothing before it to roll back to.
    flow.base = T0 + 2 * PHASE
    rolled = pipeline.run("model", "rollback")
    assert rolled.returncode == 0 and f"{SHIPPED} is live (was {NEW})" in rolled.stdout, rolled.stderr
    wait_for(lambda: f"{NEW} -> {SHIPPED}" in pipeline.log_tail("correlate", 400), 60, "the swap back")
    site_2, rca = ranked_by(pipeline, 2, T0 + 2 * PHASE)
    assert rca["model"] == SHIPPED and rca["blend"] is None  # no feedback learned: the forest alone
    listed = wait_for(lambda: live_is(pipeline, SHIPPED), 30, "GET /api/v1/models to show the rollback")
    assert listed["live"]["shipped"] and listed["live"]["reason"] == "rollback"
    again = pipeline.run("model", "rollback")
    assert again.returncode == 2 and "no previous version" in again.stderr
    assert child_pids(pipeline.procs["correlate"].pid) == [stage_pid]  # never restarted

    flow.done.set()
    flow.join(10)
    assert flow.error is None and flow.sent > 10
    want = flow.sent + 9
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM alerts") == want, 60, f"{want} alerts projected")
    assert pipeline.dead_letters() == []
    print(f"\n{flow.sent} flow alerts; publish, swap and rollback in {time.monotonic() - started:.1f} s")

    # An operator corrects site 2's root to its first server: the online model learns it, and the next
    # similar incident's verdict shows the online part (the switch, what the operator said it was not,
    # below one half); a restarted stage learns the rows it recorded again and ranks the same way.
    started = time.monotonic()
    with pipeline.client() as c:
        body = {"asset_id": aid("s2-srv0"), "verdict": "correct"}
        r = c.post(f"/api/v1/incidents/{site_2}/root-cause", json=body)
        assert r.status_code == 202, r.text
    learned = f"feedback {r.json()['command_id']} on {site_2} (1 labels)"
    wait_for(lambda: learned in pipeline.log_tail("correlate", 400), 60, "the stage to learn the feedback")
    _, rca = ranked_by(pipeline, 3, T0 + 3 * PHASE)
    blend = rca["blend"]
    assert blend["labels"] == 1 and blend["weight"] == round(1 / 21, 4) and blend["online"] < 0.5
    assert rca["confidence"] == pytest.approx(
        (1 - blend["weight"]) * blend["forest"] + blend["weight"] * blend["online"], abs=2e-4
    )
    pipeline.kill("correlate")
    pipeline.restart("correlate")
    rebuilt = "online model: 1 labels learned, 0 skipped"
    wait_for(lambda: rebuilt in pipeline.log_tail("correlate", 400), 60, "the stage to rebuild")
    _, after = ranked_by(pipeline, 4, T0 + 4 * PHASE)
    assert after["blend"] == blend  # the same incident shape, the same state: nothing lost
    log = pipeline.log_path("correlate").read_text(errors="replace")
    assert log.count("online model learned feedback") == 1  # restored from the record, not relearned
    assert pipeline.dead_letters() == []
    print(f"feedback learned, restart and relearned in {time.monotonic() - started:.1f} s")
