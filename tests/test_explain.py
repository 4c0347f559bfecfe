"""`detector explain`: the funnel agrees with `run`, and a device's trace names the stage that dropped it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import NOW, conn, device
from helpers import write_fleet
from typer.testing import CliRunner

from detector import api
from detector.cli import app
from detector.explain import explain

SEED = "supply_chain_network_connections"


def run_rule(**kwargs):
    return api.run_rule(SEED, **kwargs)


@pytest.fixture
def folder(tmp_path):
    devices = [device(f"common{i}") for i in range(10)] + [device("alerting"), device("old"), device("plain")]
    devices += [device("ws", DeviceType="Workstation")]
    events = [
        conn(f"common{i}", f"198.51.100.{i}", InitiatingProcessVersionInfoCompanyName="Microsoft") for i in range(10)
    ]
    events += [
        conn("alerting"),
        conn("alerting", "198.51.100.77", RemotePort=8080),
        conn("old", "198.51.100.88", ago=timedelta(days=3)),
        conn("plain", "198.51.100.99", InitiatingProcessVersionInfoCompanyName="Microsoft"),
        conn("ws", "198.51.100.66"),
    ]
    return write_fleet(tmp_path, devices, events)


def trace(folder, who=None):
    with api.session(SEED, data=folder, now=NOW) as s:
        return explain(s, who)


def test_funnel_agrees_with_run(folder):
    e = trace(folder)
    assert e.count("stage11_by_device").rows == len(run_rule(data=folder, now=NOW))
    assert e.count("stage9_rare_destinations").rows == len(run_rule(data=folder, now=NOW, flat=True))
    assert e.count("server_list").rows == 13
    assert e.count("stage1_source").rows == 15
    assert e.count("servers_with_third_party_apps").rows == 2  # alerting, old
    [vendors] = [v for v in e.views if v.title.startswith("Rare vendors")]
    assert vendors.columns == ("vendor", "servers") and vendors.rows == (("Rare Vendor Ltd", 2),)
    assert e.count("destinations").rows == 3


@pytest.mark.parametrize(
    ("who", "stage"),
    [
        ("ws", "server_list"),  # a workstation
        ("nobody", "server_list"),
        ("plain", "servers_with_third_party_apps"),  # a server with only a common vendor
        ("old", "stage7_new_connections"),  # first seen three days ago
    ],
)
def test_device_trace_names_the_dropping_stage(folder, who, stage):
    assert trace(folder, who).dropped_at.stage.name == stage


def test_device_trace_of_an_alerting_device(folder):
    e = trace(folder, "alerting")
    assert e.dropped_at is None
    assert [(d["RemoteIP"], d["RemotePort"]) for d in e.entity_records[0]["set_Details"]] == [
        ("198.51.100.77", 8080),
        ("203.0.113.10", 443),
    ]
    [own] = [v for v in e.views if v.title.startswith("The traced device's vendors")]
    assert own.rows == (("Rare Vendor Ltd", 2, "rare"),)


def test_explain_command(folder):
    result = CliRunner().invoke(
        app, ["explain", SEED, "--data", str(folder), "--now", "2026-11-20T12:00:00Z", "--device", "old"]
    )
    assert result.exit_code == 0, result.output
    assert "Stage 11" in result.stdout and "let server_list" in result.stdout
    assert "no alert: its last rows are dropped at Stage 7 (stage7_new_connections)" in result.stdout
    assert "Rare Vendor Ltd  2        rare" in result.stdout
    alert = CliRunner().invoke(
        app, ["explain", SEED, "--data", str(folder), "--now", "2026-11-20T12:00:00Z", "--entity", "alerting"]
    )
    assert "ALERTS: 1 record(s)" in alert.stdout and '"RemoteIP":"198.51.100.77","RemotePort":8080' in alert.stdout


def test_device_names_are_literals_not_sql(folder):
    e = trace(folder, "x' OR '1'='1")
    assert e.count("server_list").entity_rows == 0
