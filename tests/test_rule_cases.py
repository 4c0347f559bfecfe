"""Every case of every installed rule (sql/<slug>/cases/*.json) gives exactly its expected records on DuckDB, on
the rule's default plan and on each of its other plans; and a bad case file is refused, naming the file and the
field.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from detector.cases import canonical, case_files, first_difference, load_cases
from detector.errors import RuleError
from detector.rule import discover, load_all, load_folder
from detector.testing import run_case

SEED = "supply_chain_network_connections"


def _collect() -> tuple[list, list]:
    """(rule, case) parameters for the default plan, and (rule, case, plan) for every other plan. A rule whose
    cases do not load gives one parameter that fails with the loader's message."""
    rules, broken = load_all()
    default, other = [], []
    for slug, message in sorted(broken.items()):
        default.append(pytest.param(None, RuleError(message), id=f"{slug}/(rule)"))
    for slug, rule in sorted(rules.items()):
        try:
            cases = load_cases(rule)
        except RuleError as exc:
            default.append(pytest.param(rule, exc, id=f"{slug}/(cases)"))
            continue
        for case in cases:
            default.append(pytest.param(rule, case, id=case.id))
            for plan in rule.plan_names:
                if plan != rule.default_plan:
                    other.append(pytest.param(rule, case, plan, id=f"{case.id}@{plan}"))
    return default, other


DEFAULT_PLAN, OTHER_PLANS = _collect()


def _check(rule, case, workdir: Path, plan: str | None = None) -> None:
    if isinstance(case, Exception):
        raise case
    actual = run_case(rule, case, engine="duckdb", workdir=workdir, plan=plan)
    difference = first_difference(canonical(case.expect), actual)
    assert difference is None, f"{case.file.name}: {case.name}: {difference}"


@pytest.mark.parametrize(("rule", "case"), DEFAULT_PLAN)
def test_case(rule, case, tmp_path):
    _check(rule, case, tmp_path)


@pytest.mark.parametrize(("rule", "case", "plan"), OTHER_PLANS)
def test_case_on_every_plan(rule, case, plan, tmp_path):
    _check(rule, case, tmp_path, plan=plan)


@pytest.mark.parametrize("slug", sorted(discover()))
def test_every_rule_has_cases(slug):
    rule = load_folder(discover()[slug])
    assert case_files(rule), f"{slug}: no case files in {rule.folder / 'cases'}"
    assert load_cases(rule), f"{slug}: its case files hold no case"


def test_the_seed_rule_runs_on_several_plans():
    """So that test_case_on_every_plan is not empty: the seed has a fast plan beside the straight one."""
    assert any(p.values[0].slug == SEED for p in OTHER_PLANS)


# ---- bad case files --------------------------------------------------------------------------------------------

GOOD_CASE = {
    "name": "one_alert",
    "description": "A server's new connection by a rare vendor alerts.",
    "input": {
        "DeviceInfo": [{"DeviceName": "srv"}],
        "DeviceNetworkEvents": [{"DeviceName": "srv", "DeviceId": "id-srv"}],
    },
    "expect": [
        {
            "DeviceName": "srv",
            "set_Details": [
                {"RemoteIP": "203.0.113.10", "RemotePort": 443, "Count": 1, "Prevalence": 1, "URLs": ["x.example"]}
            ],
        }
    ],
}
GOOD_FILE = {
    "description": "One case.",
    "now": "2026-11-20T12:00:00Z",
    "defaults": {
        "DeviceInfo": {"Timestamp": "2026-11-19T12:00:00Z", "DeviceType": "Server", "OSPlatform": "WindowsServer2022"},
        "DeviceNetworkEvents": {
            "Timestamp": "2026-11-20T10:00:00Z",
            "ActionType": "ConnectionSuccess",
            "RemoteIP": "203.0.113.10",
            "RemotePort": 443,
            "RemoteUrl": "x.example",
            "RemoteIPType": "Public",
            "InitiatingProcessVersionInfoCompanyName": "Rare Vendor Ltd",
        },
    },
    "cases": [GOOD_CASE],
}


@pytest.fixture
def copy(tmp_path):
    """A copy of the seed rule under another slug, its cases replaced by cases/good.json (one good case)."""
    rule = load_all()[0][SEED]
    folder = tmp_path / "copied_rule"
    shutil.copytree(rule.folder, folder)
    toml = folder / "rule.toml"
    toml.write_text(re.sub(r'(?m)^slug = ".*"$', 'slug = "copied_rule"', toml.read_text(encoding="utf-8")))
    shutil.rmtree(folder / "cases")
    (folder / "cases").mkdir()
    _write(folder / "cases" / "good.json", GOOD_FILE)
    return folder


def _write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2), encoding="utf-8")
    return path


def _bad(folder: Path, case: dict | None = None, text: str | None = None, name: str = "bad.json") -> RuleError:
    path = _write(folder / "cases" / name, text if text is not None else {**GOOD_FILE, "cases": [case]})
    with pytest.raises(RuleError) as info:
        load_cases(load_folder(folder))
    message = str(info.value)
    assert str(path) in message, message
    return info.value


def test_the_good_copy_loads_and_passes(copy, tmp_path):
    rule = load_folder(copy)
    [case] = load_cases(rule)
    assert rule.slug == "copied_rule" and case.id == "copied_rule/one_alert"
    actual = run_case(rule, case, engine="duckdb", workdir=tmp_path / "run")
    assert first_difference(canonical(case.expect), actual) is None


def test_unknown_table_in_input(copy):
    case = {**GOOD_CASE, "input": {**GOOD_CASE["input"], "DeviceProcessEvents": [{}]}}
    assert "input.DeviceProcessEvents" in str(_bad(copy, case))


def test_unknown_table_in_defaults(copy):
    bad = {**GOOD_FILE, "defaults": {**GOOD_FILE["defaults"], "NoSuchTable": {}}}
    assert "defaults.NoSuchTable" in str(_bad(copy, text=json.dumps(bad)))


def test_unknown_column(copy):
    case = {**GOOD_CASE, "input": {"DeviceNetworkEvents": [{"DeviceName": "srv", "RemotePrt": 443}]}}
    message = str(_bad(copy, case))
    assert "input.DeviceNetworkEvents[0].RemotePrt" in message and "not a column" in message


@pytest.mark.parametrize(
    ("column", "value"),
    [("RemotePort", "443"), ("RemotePort", 4.5), ("RemotePort", True), ("Timestamp", 1700000000), ("RemoteIP", 1)],
)
def test_value_of_the_wrong_type(copy, column, value):
    case = {**GOOD_CASE, "input": {"DeviceNetworkEvents": [{"DeviceName": "srv", column: value}]}}
    assert f"input.DeviceNetworkEvents[0].{column}" in str(_bad(copy, case))


def test_timestamp_that_is_not_iso_8601(copy):
    case = {**GOOD_CASE, "input": {"DeviceInfo": [{"DeviceName": "srv", "Timestamp": "yesterday"}]}}
    assert "input.DeviceInfo[0].Timestamp" in str(_bad(copy, case))


@pytest.mark.parametrize(
    "record",
    [
        {"DeviceName": "srv"},  # a key missing
        {"set_Details": [], "DeviceName": "srv"},  # keys out of order
        {"DeviceName": "srv", "set_Details": [], "Extra": 1},  # a key too many
    ],
)
def test_expect_record_with_wrong_keys(copy, record):
    message = str(_bad(copy, {**GOOD_CASE, "expect": [record]}))
    assert "expect[0]" in message and "DeviceName, set_Details" in message


def test_flat_expect_needs_the_flat_keys(copy):
    message = str(_bad(copy, {**GOOD_CASE, "flat": True}))
    assert "expect[0]" in message and "starttime" in message


def test_unknown_param(copy):
    assert "params.look_back" in str(_bad(copy, {**GOOD_CASE, "params": {"look_back": "7d"}}))


def test_unknown_case_field(copy):
    assert "'expected'" in str(_bad(copy, {**GOOD_CASE, "expected": []}))


def test_duplicate_case_name(copy):
    error = _bad(copy, GOOD_CASE, name="z_dup.json")  # repeats good.json's case (files load in name order)
    assert "'one_alert'" in str(error) and "good.json" in str(error)


def test_duplicate_case_name_in_one_file(copy):
    (copy / "cases" / "good.json").unlink()
    bad = {**GOOD_FILE, "cases": [GOOD_CASE, GOOD_CASE]}
    assert "'one_alert'" in str(_bad(copy, text=json.dumps(bad)))


def test_bad_json(copy):
    message = str(_bad(copy, text='{"cases": [\n  {"name": "x",}\n]}'))
    assert "not a JSON case file" in message and "line 2" in message


def test_case_without_a_name(copy):
    assert "cases[0]" in str(_bad(copy, {k: v for k, v in GOOD_CASE.items() if k != "name"}))


def test_bad_now(copy):
    assert "now" in str(_bad(copy, {**GOOD_CASE, "now": "noon"}))
