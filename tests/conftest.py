"""Shared fixtures: a tiny-fleet DSL over the real runner (rows -> Parquet -> detector.api)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import write_fleet  # noqa: E402

from detector.api import run_rule  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SEED = "supply_chain_network_connections"


def device(name: str, *, ago: timedelta = timedelta(days=1), **columns) -> dict:
    """A DeviceInfo snapshot: by default a Windows server seen a day ago."""
    row = {
        "Timestamp": NOW - ago,
        "DeviceId": f"id-{name}",
        "DeviceName": name,
        "DeviceType": "Server",
        "OSPlatform": "WindowsServer2022",
    }
    row.update(columns)
    return row


def conn(name: str, ip: str = "203.0.113.10", *, ago: timedelta = timedelta(hours=2), **columns) -> dict:
    """A DeviceNetworkEvents row: by default a public outbound connection two hours ago by a rare vendor."""
    row = {
        "Timestamp": NOW - ago,
        "DeviceId": f"id-{name}",
        "DeviceName": name,
        "ActionType": "ConnectionSuccess",
        "RemoteIP": ip,
        "RemotePort": 443,
        "RemoteUrl": "update.rare.example",
        "RemoteIPType": "Public",
        "InitiatingProcessVersionInfoCompanyName": "Rare Vendor Ltd",
    }
    row.update(columns)
    return row


class Fleet:
    """Write rows to a fresh folder and run the real rule over them, with one of the rule's plans."""

    def __init__(self, root: Path, plan: str = "fast"):
        self.root = root
        self.plan = plan
        self.runs = 0

    def run(self, devices: list[dict], events: list[dict], *, now=NOW, flat=False, **params) -> list[dict]:
        self.runs += 1
        folder = write_fleet(self.root / f"run{self.runs}", devices, events)
        return run_rule(SEED, data=folder, now=now, flat=flat, params=params, plan=self.plan)

    def alerts(self, devices: list[dict], events: list[dict], **kwargs) -> dict[str, list[tuple]]:
        """{DeviceName: [(RemoteIP, RemotePort), ...]} of the alerts."""
        return {
            r["DeviceName"]: [(d["RemoteIP"], d["RemotePort"]) for d in r["set_Details"]]
            for r in self.run(devices, events, **kwargs)
        }


@pytest.fixture(params=["fast", "straight"])
def fleet(request, tmp_path: Path) -> Fleet:
    """Every semantics case runs on the plan `run` executes and on the KQL as written."""
    return Fleet(tmp_path, request.param)
