"""The synthetic runner's scheduling with a fake probe: due checks run, a deleted check's problems clear."""

import asyncio

from ems.collectors import synthetic_runner
from ems.collectors.synthetic_checks import FAILED, CheckSpec, HttpResult
from ems.collectors.synthetic_runner import Runner, asset_of


def test_due_checks_run_on_their_interval_and_a_deleted_check_is_cleared(monkeypatch):
    spec = CheckSpec(name="shop", url="http://shop.example/", interval=30)
    checks = {"c1": (spec, "acme")}
    sent = []

    async def load():
        return dict(checks)

    async def sink(topic, record):
        sent.append((topic, record))

    async def probe(client, s):
        return HttpResult(12.0, 503)

    monkeypatch.setattr(synthetic_runner, "probe", probe)

    async def scenario():
        runner = Runner(load, sink)
        await runner.refresh()
        await runner.run_due(100.0)
        await runner.run_due(120.0)  # not due again before 130
        assert runner.runs == 1
        checks.clear()
        await runner.refresh()
        await runner.client.aclose()

    asyncio.run(scenario())
    kinds = [
        (o.body.kind, getattr(o.body, "event", None), getattr(o.body, "severity", None)) for _, o in sent
    ]
    assert kinds == [("metrics", None, None), ("event", FAILED, "critical"), ("event", FAILED, "ok")]
    assert {(t, o.asset_id, o.tenant, o.source) for t, o in sent} == {
        ("observations.raw", asset_of("c1"), "acme", "synthetic")
    }


def test_certificate_days_left_from_the_peer_certificate():
    from datetime import UTC, datetime

    from ems.collectors.synthetic_runner import cert_days_left

    class Ssl:
        def getpeercert(self):
            return {"notAfter": "Jan 11 00:00:00 2027 GMT"}

    class Stream:
        def __init__(self, ssl_object):
            self.ssl_object = ssl_object

        def get_extra_info(self, name):
            return self.ssl_object if name == "ssl_object" else None

    assert cert_days_left(Stream(Ssl()), datetime(2027, 1, 1, tzinfo=UTC)) == 10.0
    assert cert_days_left(Stream(None), datetime(2027, 1, 1, tzinfo=UTC)) is None  # plain http
