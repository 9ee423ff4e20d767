"""A changed topology family (`datacenter`) and a model drifted by it against its retrained successor,
at a small size (4 training scenarios, 4 held-out ones; the full size is `python -m ems.ml.rca.drift`,
figures in docs/rca.md)."""

from __future__ import annotations

import sys

import pytest

from ems.ml.rca.drift import compare, report, retrain
from ems.ml.rca.forest import Forest
from ems.ml.rca.rank import DEFAULT_MODEL
from ems.ml.scenarios import generate

HELD_OUT = [101, 102, 103, 104]


def test_datacenter_family_has_site_pollers_a_rack_layer_and_dual_homed_servers():
    net = generate(3, family="datacenter").network
    pollers = [s for s in net.specs.values() if "poller" in s.tags]
    assert sorted(p.site for p in pollers) == ["site-0", "site-1", "site-2"]
    assert not [s for s in net.specs.values() if s.name == "noc-poller"]
    tors = [a for a, s in net.specs.items() if "-tor-" in s.name]
    assert tors and all(net.specs[a].type == "switch" for a in tors)
    assert net.paths is not None
    dual = [a for a, s in net.specs.items() if s.type == "server" and len(net.paths[a] & set(tors)) == 2]
    single = [a for a, s in net.specs.items() if s.type == "server" and len(net.paths[a] & set(tors)) == 1]
    assert dual and single
    for server in dual:  # one rack switch failing leaves the other path: nothing of it goes down
        assert all(server not in net.behind(t) for t in net.paths[server] & set(tors))
    for server in single:  # its only rack switch failing takes it and what runs on it down
        (tor,) = net.paths[server] & set(tors)
        assert {server, *net.children.get(server, ())} <= set(net.behind(tor))


def test_site_core_failure_cuts_off_only_the_half_its_poller_does_not_reach():
    net = generate(3, family="datacenter").network
    core = next(a for a, s in net.specs.items() if s.name == "site-1-core")
    down = {net.specs[a].name for a in net.behind(core)}
    assert "site-1-dist-1" in down and "site-1-dist-0" not in down and "site-1-poller" not in down
    campus = generate(3).network
    campus_core = next(a for a, s in campus.specs.items() if s.name == "site-1-core")
    assert {"site-1-dist-0", "site-1-dist-1"} <= {campus.specs[a].name for a in campus.behind(campus_core)}


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown topology family 'mesh'"):
        generate(1, family="mesh")


def test_model_retrained_on_the_new_topology_beats_the_drifted_one(tmp_path):
    shipped = Forest.load(DEFAULT_MODEL)  # A: trained on the campus family
    retrained = retrain("1-4", "datacenter", "81", "rca-rf-drift-b", tmp_path / "b.json")
    control = retrain("1-4", "campus", "81", "rca-rf-drift-c", tmp_path / "c.json")  # B on the old family
    result = compare(shipped, retrained, HELD_OUT, "datacenter")
    report(result, "shipped", "datacenter 1-4", sys.stdout)
    against_control = compare(control, retrained, HELD_OUT, "datacenter")
    report(against_control, "campus 1-4", "datacenter 1-4", sys.stdout)
    a, b = result["a"]["overall"], result["b"]["overall"]
    assert a["faults"] == b["faults"] > 40
    assert b["top1"] >= a["top1"]
    # The gain comes from the new family's scenarios, not from retraining as such: the same path on
    # as many old-family scenarios does worse on the new topology.
    assert against_control["b"]["overall"]["top1"] > against_control["a"]["overall"]["top1"]


def test_retraining_another_family_into_the_shipped_file_is_refused(capsys):
    from ems.cli import main

    before = DEFAULT_MODEL.read_bytes()
    assert main(["retrain", "--scenarios", "--family", "datacenter", "--seeds", "1"]) == 2
    assert "needs its own file and version" in capsys.readouterr().err
    assert DEFAULT_MODEL.read_bytes() == before


def test_evaluate_refuses_an_unknown_family(capsys):
    from ems.ml.evaluate import main

    with pytest.raises(SystemExit) as exit_:
        main(["--seeds", "1", "--family", "mesh"])
    assert exit_.value.code == 2
    assert "--family: unknown topology family 'mesh'" in capsys.readouterr().err
