"""The worker's garbage-collector settings: EMS_GC_THRESHOLD and EMS_GC_FREEZE reach the collector."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from ems.settings import Settings
from ems.streams.gc_tuning import tune_gc
from ems.worker import _run_bulk_alone

PYTHON_DEFAULT = gc.get_threshold()


@pytest.fixture(autouse=True)
def restored_gc() -> Iterator[None]:
    """Each test starts from Python's collector and leaves it so."""
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()
    gc.set_threshold(*PYTHON_DEFAULT)


def test_defaults_raise_the_thresholds_and_freeze_the_heap() -> None:
    tune_gc(Settings())
    assert gc.get_threshold() == (50_000, 20, 50)
    assert gc.get_freeze_count() > 1000  # at least the imported modules' objects


def test_freeze_false_and_no_threshold_leave_the_collector_untouched() -> None:
    tune_gc(Settings(gc_freeze=False, gc_threshold=[]))
    assert gc.get_threshold() == PYTHON_DEFAULT
    assert gc.get_freeze_count() == 0


def test_each_setting_applies_alone() -> None:
    tune_gc(Settings(gc_freeze=False, gc_threshold=[10_000]))
    assert gc.get_threshold() == (10_000, *PYTHON_DEFAULT[1:])
    assert gc.get_freeze_count() == 0
    tune_gc(Settings(gc_freeze=True, gc_threshold=[]))
    assert gc.get_threshold() == (10_000, *PYTHON_DEFAULT[1:])
    assert gc.get_freeze_count() > 0


def test_settings_refuse_thresholds_the_collector_would_misread() -> None:
    with pytest.raises(ValueError, match="gc_threshold"):
        Settings(gc_threshold=[0])  # 0 would switch automatic collection off
    with pytest.raises(ValueError, match="gc_threshold"):
        Settings(gc_threshold=[1, 2, 3, 4])


class _Heartbeat:
    async def run(self) -> None:
        return None

    def stop(self) -> None:
        return None


def test_a_worker_without_faust_tunes_its_collector_once_started() -> None:
    settings = Settings(worker_web_port=0, gc_threshold=[12_345, 6, 7])
    asyncio.run(_run_bulk_alone([], _Heartbeat(), settings))  # no stages: returns at once
    assert gc.get_threshold() == (12_345, 6, 7)
    assert gc.get_freeze_count() > 0
