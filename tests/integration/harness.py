"""The one module of shared test helpers: the pipeline harness (`ems.drills.pipeline`, which the
failure drills use too) and the helpers several test files need."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from ems.drills.pipeline import Pipeline, wait_for
from ems.process_group import die_with_parent
from ems.schemas.deadletter import DeadLetter
from ems.schemas.envelope import Record
from ems.schemas.observation import Observation
from ems.streams.codecs import decode, encode
from ems.streams.kafka import make_producer

__all__ = ["Pipeline", "wait_for"]

ASSET_STAGES = "assets,projections"  # no Faust stage needed for assets: starts fast on both stacks


# -- records in and out of Kafka -----------------------------------------------------------------
def produce(pipeline: Pipeline, observations: list[dict], pace: float) -> None:
    """Append observations to the raw topic in chunks of 500, `pace` seconds apart."""

    async def main() -> None:
        producer = make_producer(pipeline.settings)
        await producer.start()
        try:
            topic = pipeline.settings.topic("observations.raw")
            for i in range(0, len(observations), 500):
                for item in observations[i : i + 500]:
                    obs = Observation(
                        source=item["source"],
                        asset_id=item["asset_id"],
                        occurred_at=item["occurred_at"],
                        body={
                            "kind": "event",
                            "event": item["event"],
                            "severity": item["severity"],
                            "title": item["title"],
                        },
                    )
                    await producer.send(topic, key=obs.key.encode(), value=encode(obs))
                await producer.flush()
                await asyncio.sleep(pace)
        finally:
            await producer.stop()

    asyncio.run(main())


def send(pipeline: Pipeline, topic: str, records: list[Record]) -> None:
    """Append records (keyed by their partition key) and wait for the acks."""

    async def main() -> None:
        producer = make_producer(pipeline.settings)
        await producer.start()
        try:
            for record in records:
                await producer.send(
                    pipeline.settings.topic(topic), key=record.key.encode(), value=encode(record)
                )
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(main())


def dead_letters(pipeline: Pipeline) -> list[DeadLetter]:
    """Every record on the dead-letter topic so far."""
    return [decode(raw, DeadLetter) for raw in pipeline.read_topic("deadletter", raw=True)]


class NoLetters:
    """The batches here are valid: a dead letter would be a failure."""

    count = 0

    async def reject(self, reason: str, record: object) -> None:
        raise AssertionError(f"unexpected dead letter: {reason}")


# -- a regular install (test_install.py, test_demo.py) -------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
# What `git clone` would not bring, or what a build must not see (a stale build/ hides a missing package).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", ".ems-*"
)
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


def run_checked(cmd: list[str], **kwargs: object) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def clean_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the variables that could put the checkout (or another venv) on sys.path."""
    return {k: v for k, v in env.items() if k not in _LEAKY}


def build_wheel(folder: Path) -> Path:
    """Copy the checkout's sources into `folder`/src and build the project's wheel from there."""
    src, dist = folder / "src", folder / "dist"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    run_checked([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), str(src)])
    (wheel,) = dist.glob("*.whl")
    return wheel


def install_venv(folder: Path, requirement: str) -> Path:
    """A new virtualenv in `folder` with `requirement` (a wheel path, extras allowed); its bin/."""
    run_checked([sys.executable, "-m", "venv", "--without-pip", str(folder)])
    python = folder / "bin" / "python"
    run_checked(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", requirement],
        env=clean_env(os.environ),
    )
    where = run_checked(
        [str(python), "-c", "import ems.cli; print(ems.cli.__file__)"], cwd=folder, env=clean_env(os.environ)
    )
    assert Path(where.strip()).is_relative_to(folder), f"ems imported from {where.strip()}, not {folder}"
    return folder / "bin"


class WheelPipeline(Pipeline):
    """A :class:`Pipeline` whose `ems` processes run from another virtualenv's bin/, in `cwd`."""

    def __init__(self, servers: dict[str, str], logs: Path, bindir: Path, cwd: Path) -> None:
        super().__init__(servers, logs)
        self.bindir, self.cwd = bindir, cwd

    def start(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.logs / f"{self.name}-{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [str(self.bindir / "ems"), *args],
                env=clean_env(self.env),
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.procs[name] = proc
        return proc
