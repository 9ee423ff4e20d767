"""The HTTP ingest benchmark's stream and its model of a sequential Alerta (ems.bench.alerta_stream)."""

from __future__ import annotations

from ems.bench.alerta_stream import CLEAR, AlertaAlert, Post, alerta_state, mismatches, shares, stream
from ems.bench.http_ingest import lanes


def test_the_stream_has_the_asked_mix() -> None:
    mix = shares(stream(20_000, "s", seed=7))
    assert abs(mix["new"] - 0.10) < 0.01
    assert abs(mix["duplicate"] - 0.70) < 0.015
    assert abs(mix["change"] - 0.20) < 0.015
    assert abs(mix["clear"] - 0.04) < 0.008  # a fifth of the changes


def test_alerta_counts_duplicates_and_remembers_the_severity_before_a_change() -> None:
    posts = [Post("a", "major"), Post("a", "major"), Post("a", "major"), Post("a", "critical")]
    posts += [Post("a", "critical"), Post("b", "minor")]
    assert alerta_state(posts) == {
        "a": AlertaAlert("critical", previous_severity="major", duplicate_count=1, received=5),
        "b": AlertaAlert("minor", previous_severity="indeterminate", duplicate_count=0, received=1),
    }


def test_a_clear_closes_and_the_next_problem_reopens() -> None:
    closed = alerta_state([Post("a", "major"), Post("a", CLEAR), Post("a", CLEAR)])["a"]
    assert (closed.status, closed.severity, closed.previous_severity, closed.duplicate_count) == (
        "closed",
        CLEAR,
        "major",
        1,
    )
    reopened = alerta_state([Post("a", "major"), Post("a", CLEAR), Post("a", "minor")])["a"]
    assert (reopened.status, reopened.previous_severity, reopened.duplicate_count) == ("open", CLEAR, 0)


def test_a_lost_or_reordered_post_shows_as_a_mismatch() -> None:
    posts = stream(2_000, "s", seed=3)
    expected = alerta_state(posts)
    assert mismatches(expected, alerta_state(posts)) == []
    lost = posts[:500] + posts[501:]
    assert mismatches(expected, alerta_state(lost))
    # the last two posts of an alert whose last change is a severity change, swapped
    last: dict[str, list[int]] = {}
    for i, post in enumerate(posts):
        last.setdefault(post.key, []).append(i)
    a, b = next(ix[-2:] for ix in last.values() if len(ix) > 1 and posts[ix[-2]] != posts[ix[-1]])
    reordered = list(posts)
    reordered[a], reordered[b] = posts[b], posts[a]
    assert mismatches(expected, alerta_state(reordered))


def test_lanes_keep_each_alerts_posts_on_one_connection_in_order() -> None:
    posts = stream(5_000, "s", seed=5)
    split = lanes(posts, 32)
    assert sum(map(len, split)) == len(posts)
    owners = {}
    for i, lane in enumerate(split):
        for post in lane:
            assert owners.setdefault(post.key, i) == i
    for key in list(owners)[:50]:
        assert [p for p in split[owners[key]] if p.key == key] == [p for p in posts if p.key == key]
