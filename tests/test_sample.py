"""The committed demo fleet: it is what `make sample` writes, the rule gives exactly its planted cases' expected
records on the planted devices, and data/README.md's planted-cases section is written from the cases."""

from __future__ import annotations

import filecmp
import json
from datetime import UTC, datetime
from pathlib import Path

from detector.api import run_rule
from detector.cases import canonical, load_cases
from detector.generate import describe_planted, generate_fleet, readme_section
from detector.rule import load_rule

SAMPLE = Path(__file__).parent.parent / "data" / "sample"
README = SAMPLE.parent / "README.md"
NOW = "2026-11-20T12:00:00Z"
RULE = "supply_chain_network_connections"


def _records() -> list[dict]:
    return run_rule(RULE, data=SAMPLE, now=NOW)


def _alerts(records: list[dict]) -> set[tuple[str, str, int]]:
    return {(r["DeviceName"], d["RemoteIP"], d["RemotePort"]) for r in records for d in r["set_Details"]}


def test_planted_cases_give_their_expected_records():
    manifest = json.loads((SAMPLE / "_fleet.json").read_text())
    cases = {c.name: c for c in load_cases(load_rule(RULE)) if c.plant}
    assert [p["case"] for p in manifest["planted"] if p["rule"] == RULE] == list(cases)
    assert manifest["left_out"] == []
    records = _records()
    assert len(records) == 17  # `make demo`: 7 planted positives and 10 background alerts
    # Every record on a planted device is exactly what a planted case expects, and nothing else is there: the
    # near misses add nothing, and the bulk changes nothing the cases count.
    planted_devices = {r["DeviceName"] for c in cases.values() for rows in c.inputs.values() for r in rows}
    on_planted = [r for r in records if r["DeviceName"] in planted_devices]
    expected = sorted((r for c in cases.values() for r in c.expect), key=lambda r: r["DeviceName"])
    assert canonical(on_planted) == canonical(expected)
    assert len(expected) == 7


def test_data_readme_lists_every_alert():
    """Background alerts in the hand-written table, planted ones as what a planted case expects."""
    readme = README.read_text()
    expects = {
        label
        for line in readme_section(readme).splitlines()
        if line.startswith("- `") and " expects " in line
        for label in line.split(" expects ", 1)[1].split(". ", 1)[0].split("; ")
    }
    for device, ip, port in _alerts(_records()):
        assert f"| {device} | {ip}:{port} |" in readme or f"{device} {ip}:{port}" in expects, (device, ip, port)
    assert len({label for label in expects if label.startswith("srv-planted-")}) == 7  # the seed's 7 positives


def test_data_readme_planted_section_is_generated_from_the_cases():
    assert readme_section(README.read_text()) == describe_planted(), "run `make sample`"


def test_sample_is_what_make_sample_writes(tmp_path):
    fresh = tmp_path / "sample"
    generate_fleet(fresh, now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    for path in sorted(p for p in SAMPLE.rglob("*") if p.is_file()):
        twin = fresh / path.relative_to(SAMPLE)
        assert twin.is_file() and filecmp.cmp(path, twin, shallow=False), f"{path} differs: run `make sample`"
    assert {p.relative_to(fresh) for p in fresh.rglob("*")} == {p.relative_to(SAMPLE) for p in SAMPLE.rglob("*")}
