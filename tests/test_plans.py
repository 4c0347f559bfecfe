"""The fast plan `detector run` executes gives exactly the rows of the straight translation (the KQL as written),
on generated fleets with every parameter at its default and changed. The semantics cases run on both plans too
(tests/conftest.py parametrizes the `fleet` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detector.api import run_table
from detector.generate import generate_fleet
from detector.rule import load_rule

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleets(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleets")
    return [
        generate_fleet(root / "a", servers=30, workstations=40, events=30_000, now=NOW, seed=1).out,
        generate_fleet(root / "b", servers=80, workstations=20, events=60_000, days=9, now=NOW, seed=2).out,
    ]


PARAMS = [
    {},
    {"new_window": "3d", "max_prevalence": 20},
    {"lookback": "5d", "max_vendor_servers": 40, "excluded_ip_types": []},
    {"prevalence_window": "2h", "new_window": "2d"},  # null Prevalence rows
    {"excluded_action_types": [], "max_vendor_servers": 3},
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("flat", [False, True])
def test_fast_plan_equals_straight_translation(fleets, params, flat):
    for folder in fleets:
        fast = run_table(
            "supply_chain_network_connections", data=folder, now=NOW, params=params, flat=flat, plan="fast"
        )
        straight = run_table(
            "supply_chain_network_connections", data=folder, now=NOW, params=params, flat=flat, plan="straight"
        )
        assert fast.num_rows > 0
        assert fast.to_pylist() == straight.to_pylist()
        assert fast.schema == straight.schema


def test_plans_are_declared_in_the_rule_card():
    rule = load_rule("supply_chain_network_connections")
    fast = [s.name for s in rule.plan("fast")]
    assert "stage1_source" not in fast and "baseline" in fast
    assert [s.name for s in rule.plan("straight")] == [s.name for s in rule.stages]
