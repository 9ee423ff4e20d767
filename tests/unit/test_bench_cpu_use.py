"""The benchmarks' CPU accounting: /proc stat lines parsed, differences split by role."""

from __future__ import annotations

import os

from ems.bench.cpu_use import TICKS, CpuUse, Proc, by_role, parse_stat


def stat_line(pid: int, comm: str, pgid: int, utime: int, stime: int) -> str:
    rest = ["S", "1", str(pgid), "0", "0", "-1", "4194560", "0", "0", "0", "0", str(utime), str(stime)]
    return f"{pid} ({comm}) " + " ".join(rest + ["0"] * 39)


def test_a_stat_line_gives_the_name_group_and_ticks_even_with_spaces_and_parentheses() -> None:
    assert parse_stat(stat_line(7, "java", 7, 120, 30)) == Proc("java", 7, 150)
    assert parse_stat(stat_line(8, "a (b) c", 3, 1, 2)) == Proc("a (b) c", 3, 3)


def test_the_difference_is_split_by_group_then_by_server_name() -> None:
    before = {1: Proc("python", 1, 100), 2: Proc("java", 2, 1_000), 3: Proc("postgres", 3, 50)}
    after = {
        1: Proc("python", 1, 100 + TICKS),  # a worker: one second
        2: Proc("java", 2, 1_000 + 2 * TICKS),  # Kafka: two seconds
        3: Proc("postgres", 3, 50 + TICKS // 2),
        4: Proc("postgres", 3, TICKS // 2),  # a backend started within the phase counts from zero
        5: Proc("bash", 5, TICKS),
    }
    assert by_role(before, after, {1: "worker"}) == {
        "worker": 1.0,
        "kafka": 2.0,
        "postgresql": 1.0,
        "other": 1.0,
    }


def test_a_pid_reused_by_another_command_counts_from_zero() -> None:
    assert by_role({9: Proc("java", 9, 10 * TICKS)}, {9: Proc("sh", 9, TICKS)}, {}) == {"other": 1.0}


def test_the_phase_of_this_process_is_seen_and_reported_per_item() -> None:
    use = CpuUse({os.getpgid(0): "bench"})
    use.start()
    deadline = os.times().elapsed + 0.3
    while os.times().elapsed < deadline:  # spin: CPU, not sleep
        pass
    use.stop()
    per = use.per_item(1_000)
    assert per["bench"] >= 150  # 0.3 s of CPU over 1,000 items, less the clock tick's rounding
    assert per["total"] == sum(v for k, v in per.items() if k != "total")
    assert list(per)[0] == "bench"
