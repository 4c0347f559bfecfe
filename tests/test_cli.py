"""Every `detector` command through typer's CliRunner: formats, files, exit codes, errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import conn, device
from helpers import invoke, write_fleet

from detector.rule import load_all

NOW = "2026-11-20T12:00:00Z"


@pytest.fixture
def data(tmp_path):
    devices = [device("srv-a"), device("srv-b"), device("quiet")]
    events = [
        conn("srv-b", "198.51.100.9", RemotePort=8443, RemoteUrl=None),
        conn("srv-a"),
        conn("srv-a", "198.51.100.1", RemotePort=80),
        conn("quiet", "198.51.100.2", ago=timedelta(days=3)),
    ]
    return write_fleet(tmp_path / "data", devices, events)


def test_jsonl_is_one_sorted_record_per_device(data):
    result = invoke("run", "--data", data, "--now", NOW, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line)["DeviceName"] for line in lines] == ["srv-a", "srv-b"]
    assert json.loads(lines[0]) == {
        "DeviceName": "srv-a",
        "set_Details": [
            {
                "RemoteIP": "198.51.100.1",
                "RemotePort": 80,
                "Count": 1,
                "Prevalence": 1,
                "URLs": ["update.rare.example"],
            },
            {
                "RemoteIP": "203.0.113.10",
                "RemotePort": 443,
                "Count": 1,
                "Prevalence": 1,
                "URLs": ["update.rare.example"],
            },
        ],
    }
    assert json.loads(lines[1])["set_Details"][0]["URLs"] == [""]


def test_same_input_same_bytes(data):
    first = invoke("run", "--data", data, "--now", NOW, "--format", "jsonl").stdout
    assert first == invoke("run", "--data", data, "--now", NOW, "--format", "jsonl").stdout


def test_default_format_off_a_terminal_is_jsonl(data):
    result = invoke("run", "--data", data, "--now", NOW)
    assert json.loads(result.stdout.splitlines()[0])["DeviceName"] == "srv-a"


def test_flat(data):
    result = invoke("run", "--data", data, "--now", NOW, "--format", "jsonl", "--flat")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["DeviceName"], r["RemoteIP"], r["RemotePort"]) for r in rows] == [
        ("srv-a", "198.51.100.1", 80),
        ("srv-a", "203.0.113.10", 443),
        ("srv-b", "198.51.100.9", 8443),
    ]
    assert rows[0]["starttime"] == "2026-11-20T10:00:00.000000Z" == rows[0]["endtime"]


def test_table_format_is_readable(data):
    result = invoke("run", "--data", data, "--now", NOW, "--format", "table")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["DeviceName", "RemoteIP", "RemotePort", "Count", "Prevalence", "URLs"]
    assert lines[2].split()[:3] == ["srv-a", "198.51.100.1", "80"]
    assert lines[3].split()[0] == "203.0.113.10"  # the device is named once
    assert "2 device(s), 3 connection(s)" in result.stdout


def test_table_format_without_alerts(tmp_path):
    folder = write_fleet(tmp_path, [device("srv")], [])
    assert invoke("run", "--data", folder, "--now", NOW, "--format", "table").stdout == "no alerts\n"


def test_json_and_csv(data):
    records = json.loads(invoke("run", "--data", data, "--now", NOW, "--format", "json").stdout)
    assert [r["DeviceName"] for r in records] == ["srv-a", "srv-b"]
    rows = list(csv.DictReader(io.StringIO(invoke("run", "--data", data, "--now", NOW, "--format", "csv").stdout)))
    assert [r["DeviceName"] for r in rows] == ["srv-a", "srv-b"]
    assert json.loads(rows[0]["set_Details"]) == records[0]["set_Details"]


def test_parquet_output(data, tmp_path):
    out = tmp_path / "alerts.parquet"
    result = invoke("run", "--data", data, "--now", NOW, "--format", "parquet", "--output", out)
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).to_pylist()[0]["set_Details"][0]["RemotePort"] == 80


def test_output_to_a_named_pipe_writes_into_it(data, tmp_path):
    """A path that is not a regular file (a FIFO here; /dev/null, /dev/stdout) is written, never replaced."""
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = invoke("run", "--data", data, "--now", NOW, "--format", "jsonl", "--output", fifo)
    reader.join(30)
    assert result.exit_code == 0, result.output
    assert fifo.is_fifo() and got and got[0].startswith(b'{"DeviceName":"srv-a"')


def test_parquet_needs_output(data):
    result = invoke("run", "--data", data, "--now", NOW, "--format", "parquet")
    assert result.exit_code == 2 and "--output" in result.stderr


def test_output_file_is_replaced_only_on_success(data, tmp_path):
    out = tmp_path / "alerts.jsonl"
    out.write_text("previous\n")
    result = invoke("run", "--data", tmp_path / "missing", "--now", NOW, "--output", out)
    assert result.exit_code == 2
    assert out.read_text() == "previous\n"
    assert invoke("run", "--data", data, "--now", NOW, "--output", out).exit_code == 0
    assert out.read_text().startswith('{"DeviceName":"srv-a"')
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".alerts")] == []


def test_fail_on_alert(data, tmp_path):
    assert invoke("run", "--data", data, "--now", NOW, "--fail-on-alert").exit_code == 1
    quiet = write_fleet(tmp_path / "quiet", [device("srv")], [])
    assert invoke("run", "--data", quiet, "--now", NOW, "--fail-on-alert").exit_code == 0


def test_parameters_on_the_command_line(data):
    result = invoke("run", "--data", data, "--now", NOW, "--new-window", "4d", "--format", "jsonl")
    assert [json.loads(line)["DeviceName"] for line in result.stdout.splitlines()] == ["quiet", "srv-a", "srv-b"]
    generic = invoke("run", "--data", data, "--now", NOW, "--param", "new_window=4d", "--format", "jsonl")
    assert generic.stdout == result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lookback", "14x"], "parameter lookback: '14x' is not a duration"),
        (["--max-prevalence", "six"], "parameter max_prevalence: 'six' is not a whole number"),
        (["--now", "yesterday"], "parameter now: 'yesterday' is not an ISO-8601 instant"),
        (["--format", "xml"], "'xml' is not one of"),
        (["--param", "nope=1"], "parameter nope: unknown parameter"),
        (["--param", "lookback"], "parameter --param: 'lookback' is not NAME=VALUE"),
        (["--lookback", "1d", "--param", "lookback=2d"], "given both"),
        (["--table", "Nope=x.parquet"], "--table Nope: the rule reads no such table"),
        (["--memory-limit", "lots"], "parameter memory_limit"),
        (["--threads", "0"], "parameter threads"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(data, args, message):
    result = invoke("run", "--data", data, "--now", NOW, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_missing_output_folder(data, tmp_path):
    result = invoke("run", "--data", data, "--now", NOW, "--output", tmp_path / "no" / "such" / "file.jsonl")
    assert result.exit_code == 2 and "error:" in result.stderr


def test_sql_prints_parameters_and_the_chain():
    result = invoke("sql", "--now", NOW, "--lookback", "7d", "--excluded-ip-types", "")
    assert result.exit_code == 0
    assert "-- now = 2026-11-20T12:00:00.000000Z" in result.stdout
    assert "-- lookback = 7 days, 0:00:00 (604800s)" in result.stdout
    assert "-- excluded_ip_types = []" in result.stdout
    assert "INTERVAL '168' HOUR" in result.stdout and "NOT FALSE" in result.stdout
    assert result.stdout.rstrip().endswith("ORDER BY DeviceName ASC NULLS LAST;")


def test_sql_rejects_latest():
    result = invoke("sql", "--now", "latest")
    assert result.exit_code == 2 and "needs data" in result.stderr


@pytest.mark.parametrize("command", ["run", "sql", "generate", "rule", "explain", "ingest"])
def test_help_explains_every_option(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    import re

    options = set(re.findall(r"--[a-z][a-z-]+", result.stdout))
    assert "--help" in options
    for line in result.stdout.splitlines():
        match = re.match(r"^\W*(--[a-z-]+)\s+(?:-\w\s+)?\S+\s+\S", line)
        if match:
            assert len(line.split()) > 3, f"{match.group(1)} has no help"


def test_rule_prints_the_card_from_rule_toml():
    from detector.rule import load_rule

    rule = load_rule("supply_chain_network_connections")
    result = invoke("rule")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith(rule.name + "\n")
    assert rule.source_url in out and "Cyb3rMonk" in out
    assert "Command and Control (TA0011)" in out
    for e in rule.event_coverage:
        assert e["title"] in out
    assert "--lookback: 14d" in out and "--max-prevalence: 6" in out
    assert "--excluded-ip-types: Private, Loopback" in out
    assert "RemoteIPType in Private, Loopback" in out
    assert "Output (one record per DeviceName)\n  DeviceName: string\n  set_Details: dynamic" in out
    for s in rule.stages:
        assert s.file in out


def test_unknown_rule_is_an_error():
    result = invoke("rule", "nope")
    assert result.exit_code == 2 and "unknown rule 'nope'; installed rules: " in result.stderr
    assert "supply_chain_network_connections" in result.stderr


def test_sql_shows_either_plan():
    fast = invoke("sql", "--now", NOW)
    straight = invoke("sql", "--now", NOW, "--plan", "straight")
    assert "-- plan = fast" in fast.stdout and "stage1_source AS" not in fast.stdout
    assert "-- plan = straight" in straight.stdout and "stage1_source AS" in straight.stdout
    bad = invoke("sql", "--now", NOW, "--plan", "quick")
    assert bad.exit_code == 2 and "no plan named 'quick'" in bad.stderr


def test_sql_header_values_cannot_leave_their_comment():
    result = invoke("sql", "--now", NOW, "--excluded-ip-types", "x\nDROP TABLE y")
    assert result.exit_code == 0
    assert '-- excluded_ip_types = ["x\\nDROP TABLE y"]' in result.stdout
    header = result.stdout.split("\nWITH\n")[0].splitlines()
    assert all(line.startswith("-- ") for line in header)


ALL_SAMPLE = [
    "run",
    "--all",
    "--data",
    Path(__file__).parent.parent / "data" / "sample",
    "--now",
    NOW,
    "--param",
    "server_network_connection_anomalies.servers=srv-anom-planted-01,srv-anom-planted-02,srv-anom-planted-03",
]


def test_run_all_tags_every_record_with_its_rule_in_every_format():
    """jsonl, json, csv: a `rule` field first; ocsf: finding_info.analytic.uid (OCSF has no `rule` field); table: a
    section per rule under its heading; the same records in each; parquet is refused (the shapes differ)."""
    rules = sorted(load_all()[0])
    jsonl = invoke(*ALL_SAMPLE, "--format", "jsonl")
    assert jsonl.exit_code == 0, jsonl.output
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert all(next(iter(r)) == "rule" for r in records)
    tags = [r["rule"] for r in records]
    assert sorted(set(tags)) == rules and tags == sorted(tags)
    assert json.loads(invoke(*ALL_SAMPLE, "--format", "json").stdout) == records
    rows = list(csv.DictReader(io.StringIO(invoke(*ALL_SAMPLE, "--format", "csv").stdout)))
    assert next(iter(rows[0])) == "rule" and [r["rule"] for r in rows] == tags
    findings = [json.loads(line) for line in invoke(*ALL_SAMPLE, "--format", "ocsf").stdout.splitlines()]
    assert [f["finding_info"]["analytic"]["uid"] for f in findings] == tags
    assert [f["unmapped"] for f in findings] == [{k: v for k, v in r.items() if k != "rule"} for r in records]
    table = invoke(*ALL_SAMPLE, "--format", "table").stdout
    headings = [line.split(":")[0][3:] for line in table.splitlines() if line.startswith("== ")]
    assert headings == rules
    parquet = invoke(*ALL_SAMPLE, "--format", "parquet", "--output", "x.parquet")
    assert parquet.exit_code == 2 and "--all writes table, jsonl, json, csv or ocsf" in parquet.stderr
