"""The committed demo fleet: it is what `make sample` writes, and the rule finds exactly its planted cases."""

from __future__ import annotations

import filecmp
import json
from datetime import UTC, datetime
from pathlib import Path

from detector.api import run_rule
from detector.generate import generate_fleet

SAMPLE = Path(__file__).parent.parent / "data" / "sample"
NOW = "2026-11-20T12:00:00Z"


def _alerts() -> set[tuple[str, str, int]]:
    return {
        (r["DeviceName"], d["RemoteIP"], d["RemotePort"])
        for r in run_rule(data=SAMPLE, now=NOW)
        for d in r["set_Details"]
    }


def test_planted_positives_alert_and_near_misses_do_not():
    planted = json.loads((SAMPLE / "_fleet.json").read_text())["planted"]
    alerts = _alerts()
    for case in planted:
        key = (case["device"], case["remote_ip"], case["remote_port"])
        assert (key in alerts) is case["alerts"], case["why"]
    assert sum(c["alerts"] for c in planted) == 7
    # Every alert on a planted device is a planted positive: the near misses add nothing.
    assert {a for a in alerts if "planted" in a[0]} == {
        (c["device"], c["remote_ip"], c["remote_port"]) for c in planted if c["alerts"]
    }


def test_data_readme_lists_every_alert():
    readme = (SAMPLE.parent / "README.md").read_text()
    for device, ip, port in _alerts():
        assert f"| {device} | {ip}:{port} |" in readme


def test_sample_is_what_make_sample_writes(tmp_path):
    fresh = tmp_path / "sample"
    generate_fleet(fresh, now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    for path in sorted(p for p in SAMPLE.rglob("*") if p.is_file()):
        twin = fresh / path.relative_to(SAMPLE)
        assert twin.is_file() and filecmp.cmp(path, twin, shallow=False), f"{path} differs: run `make sample`"
    assert {p.relative_to(fresh) for p in fresh.rglob("*")} == {p.relative_to(SAMPLE) for p in SAMPLE.rglob("*")}
