"""Pagination and throttling back-off of the AWS adapter, on a scripted client (no network)."""

import pytest
from botocore.exceptions import ClientError

from ems.collectors.aws_client import Options, Stats, call, pages

FAST = Options(backoff=0.001, throttle_retries=2)


class Elbv2:
    """Answers describe_load_balancers in three pages (Marker in, NextMarker out)."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    async def describe_load_balancers(self, **kwargs):
        self.seen.append(kwargs)
        page = {None: ("a", "m1"), "m1": ("b", "m2"), "m2": ("c", None)}[kwargs.get("Marker")]
        answer = {"LoadBalancers": [page[0]]}
        return {**answer, "NextMarker": page[1]} if page[1] else answer


async def test_pages_follow_the_operations_own_tokens_and_keep_the_other_arguments():
    client = Elbv2()
    items = await pages(client, "describe_load_balancers", Stats(), FAST, PageSize=1)
    assert items == ["a", "b", "c"]
    assert client.seen == [{"PageSize": 1}, {"PageSize": 1, "Marker": "m1"}, {"PageSize": 1, "Marker": "m2"}]


def throttled(code: str = "Throttling") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "DescribeInstances")


async def test_throttling_is_retried_with_back_off_then_given_up():
    answers = [throttled(), throttled("RequestLimitExceeded"), {"ok": True}]

    async def method(**_):
        item = answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    stats = Stats()
    assert await call(method, stats, FAST) == {"ok": True}
    assert (stats.calls, stats.throttled) == (3, 2)

    async def always(**_):
        raise throttled()

    stats = Stats()
    with pytest.raises(ClientError):
        await call(always, stats, FAST)
    assert (stats.calls, stats.throttled) == (3, 2)


async def test_other_errors_are_not_retried():
    stats = Stats()

    async def denied(**_):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeInstances")

    with pytest.raises(ClientError):
        await call(denied, stats, FAST)
    assert stats.calls == 1
