"""The few semantics checks that are not a rule's cases: they compare runs, or need the real clock or a process.

The contract itself (../shared/spec/semantics.md, docs/kusto-vs-sql.md) is proved by the seed rule's cases,
sql/supply_chain_network_connections/cases/*.json (tests/test_rule_cases.py runs them on every plan, and
tests/test_engines.py on every engine). What stays here:

- 5. Time: `now` left out is the current time (a case's rows would have to be stamped at run time), and the
  machine's local time zone never leaks into the answer (the same bytes under three zones, in a subprocess).
- every plan gives the same bytes, compared with one another on the scenarios that stress nulls and empty values.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, conn, device
from helpers import write_fleet

from detector.api import run_rule
from detector.output import to_json
from detector.rule import load_rule

SEED = "supply_chain_network_connections"


# ---- 5. Time ------------------------------------------------------------------------------------------------


def test_5_default_now_is_the_current_time(fleet):
    real_now = datetime.now(UTC)
    d = device("srv", Timestamp=real_now - timedelta(hours=1))
    e = conn("srv", Timestamp=real_now - timedelta(hours=1))
    assert [r["DeviceName"] for r in fleet.run([d], [e], now=None)] == ["srv"]


def test_5_now_named_now_is_the_current_time(tmp_path):
    real_now = datetime.now(UTC)
    folder = write_fleet(
        tmp_path, [device("srv", Timestamp=real_now - timedelta(days=13))], [conn("srv", Timestamp=real_now)]
    )
    assert [r["DeviceName"] for r in run_rule(SEED, data=folder, now="now")] == ["srv"]


def test_5_local_time_zone_does_not_leak(tmp_path):
    # The same run under a far-off local zone gives the same bytes.
    folder = write_fleet(tmp_path, [device("srv")], [conn("srv", ago=timedelta(hours=23, minutes=30))])
    outputs = []
    for tz in ("UTC", "Pacific/Kiritimati", "America/Los_Angeles"):
        env = {**os.environ, "TZ": tz}
        cmd = [sys.executable, "-m", "detector.cli", "run", SEED, "--data", str(folder),
               "--now", "2026-11-20T12:00:00", "--format", "jsonl", "--flat"]  # fmt: skip
        outputs.append(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert '"starttime":"2026-11-19T12:30:00.000000Z"' in outputs[0]


# ---- plans ------------------------------------------------------------------------------------------------------

# Scenarios where a plan could differ from the KQL as written: missing strings, null ports, a lookup that finds
# nothing, duplicate rows, several vendors and ports per server.
SCENARIOS = {
    "missing_strings": (
        [device("srv", DeviceType=None), device("x", DeviceName=None)],
        [
            conn("srv", None, RemoteUrl=None, RemoteIPType=None),
            conn("srv", "", RemoteIPType="FourToSixMapping"),
            conn("x", DeviceName=None, InitiatingProcessVersionInfoCompanyName=None),
            conn("n1", DeviceId=None),
            conn("n2", DeviceId=""),
        ],
        {},
    ),
    "null_ports_and_missing_prevalence": (
        [device("srv")],
        [
            conn("srv", RemotePort=None, ago=timedelta(hours=3)),
            conn("srv", RemotePort=None, ago=timedelta(hours=4)),
            conn("srv", "198.51.100.3", ago=timedelta(minutes=30)),
        ],
        {"prevalence_window": "1h"},
    ),
    "duplicates_vendors_and_ports": (
        [device("a")] * 2 + [device("b")],
        [conn("a", RemotePort=p) for p in (22, 80, 443, 443)]
        + [conn("a", "198.51.100.9", InitiatingProcessVersionInfoCompanyName="Microsoft")] * 2
        + [conn("b"), conn("b", ago=timedelta(days=3), InitiatingProcessVersionInfoCompanyName="Other")],
        {},
    ),
}


@pytest.mark.parametrize("flat", [False, True], ids=["nested", "flat"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_plan_gives_the_same_bytes(tmp_path, scenario, flat):
    devices, events, params = SCENARIOS[scenario]
    folder = write_fleet(tmp_path, devices, events)
    rule = load_rule(SEED)
    assert len(rule.plan_names) > 1
    outputs = {
        plan: [to_json(r) for r in run_rule(rule, data=folder, now=NOW, params=params, flat=flat, plan=plan)]
        for plan in rule.plan_names
    }
    first = outputs[rule.plan_names[0]]
    assert first, "the scenario alerts"
    for plan, lines in outputs.items():
        assert lines == first, plan
