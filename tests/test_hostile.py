"""Hostile input through the CLI: a clear one-line error naming the file, column or parameter, exit code 2, and no
output file left behind. Also: nothing a user passes can run extra SQL or read a file it was not given."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import conn, device
from helpers import SCHEMAS, invoke, table, write_fleet, write_table

NOW = "2026-11-20T12:00:00Z"


def _good(folder: Path) -> Path:
    return write_fleet(folder, [device("srv")], [conn("srv")])


def _invalid_utf8(folder: Path) -> None:
    write_table(folder, "DeviceInfo", [device("srv")])
    names = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(b"\x00\x00\x00\x00\x05\x00\x00\x00"),
                                                    pa.py_buffer(b"sr\xff\xfev")])  # fmt: skip
    rows = table("DeviceNetworkEvents", [conn("srv")])
    pq.write_table(rows.set_column(2, "DeviceName", names), folder / "DeviceNetworkEvents.parquet")


def _port_text(folder: Path) -> None:
    write_table(folder, "DeviceInfo", [device("srv")])
    schema = SCHEMAS["DeviceNetworkEvents"].set(5, pa.field("RemotePort", pa.string()))
    write_table(folder, "DeviceNetworkEvents", [conn("srv", RemotePort="abc")], schema)


def _missing_column(folder: Path) -> None:
    write_table(folder, "DeviceInfo", [device("srv")])
    pq.write_table(table("DeviceNetworkEvents", [conn("srv")]).drop_columns(["RemoteIP"]),
                   folder / "DeviceNetworkEvents.parquet")  # fmt: skip


def _corrupt(folder: Path) -> None:
    write_table(folder, "DeviceInfo", [device("srv")])
    (folder / "DeviceNetworkEvents.parquet").write_bytes(b"PAR1" + os.urandom(200) + b"PAR1")


def _zero_bytes(folder: Path) -> None:
    write_table(folder, "DeviceInfo", [device("srv")])
    (folder / "DeviceNetworkEvents.parquet").touch()


def _missing_table(folder: Path) -> None:
    write_table(folder, "DeviceInfo", [device("srv")])


def _bad_timestamp_text(folder: Path) -> None:
    write_table(folder, "DeviceInfo", [device("srv")])
    schema = SCHEMAS["DeviceNetworkEvents"].set(0, pa.field("Timestamp", pa.string()))
    write_table(folder, "DeviceNetworkEvents", [conn("srv", Timestamp="2026-11-20T10:00:00Z"),
                                                conn("srv", Timestamp="20.11.2026 10:00")], schema)  # fmt: skip


HOSTILE_DATA = {
    "invalid utf-8": (_invalid_utf8, ["DeviceNetworkEvents.parquet", "UTF8"]),
    "port 'abc'": (_port_text, ["RemotePort", "DeviceNetworkEvents.parquet row 1", "'abc'"]),
    "missing column": (_missing_column, ["column RemoteIP is missing", "DeviceNetworkEvents.parquet"]),
    "corrupt parquet": (_corrupt, ["DeviceNetworkEvents.parquet"]),
    "zero-byte file": (_zero_bytes, ["DeviceNetworkEvents.parquet is an empty (zero-byte) file"]),
    "missing table": (_missing_table, ["table DeviceNetworkEvents", "DeviceNetworkEvents.parquet"]),
    "bad timestamp text": (_bad_timestamp_text, ["Timestamp", "row 2", "'20.11.2026 10:00'"]),
}


@pytest.mark.parametrize("case", HOSTILE_DATA)
def test_hostile_data_fails_cleanly(tmp_path, case):
    build, expected = HOSTILE_DATA[case]
    folder = tmp_path / "data"
    folder.mkdir()
    build(folder)
    out = tmp_path / "alerts.jsonl"
    result = invoke("run", "--data", folder, "--now", NOW, "--output", out)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    for text in expected:
        assert text in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary file left either


HOSTILE_VALUES = [
    "1d'; DROP TABLE x; --",
    "x' OR '1'='1",
    "/* comment */ 1d",
    "{{ 7 * 7 }}",
    "{% raw %}",
    "1d\nSELECT 1",
    "'); COPY (SELECT 1) TO '/tmp/pwned-by-detector'; --",
]
OPTIONS = ["--lookback", "--new-window", "--prevalence-window", "--max-vendor-servers", "--max-prevalence", "--now"]


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_scalar_parameters_are_rejected(tmp_path, option, value):
    result = invoke("run", "--data", _good(tmp_path), "--now", NOW, option, value)
    assert result.exit_code == 2
    assert f"parameter {option.removeprefix('--').replace('-', '_')}:" in result.stderr


@pytest.mark.parametrize("option", ["--excluded-ip-types", "--excluded-action-types"])
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_list_values_are_quoted_literals(tmp_path, option, value):
    # A list value is any string: it must reach SQL as one quoted literal and change nothing but the comparison.
    folder = write_fleet(tmp_path / "d", [device("srv")], [conn("srv", RemoteIPType=value, ActionType=value)])
    kept = invoke("run", "--data", folder, "--now", NOW, option, "Private")
    dropped = invoke("run", "--data", folder, "--now", NOW, option, value.replace(",", ""))
    assert kept.exit_code == 0 and '"DeviceName":"srv"' in kept.stdout
    assert dropped.exit_code == 0, dropped.output
    if "," not in value:
        assert dropped.stdout == ""
    assert not Path("/tmp/pwned-by-detector").exists()


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_table_mappings_read_only_what_they_name(tmp_path, value):
    folder = _good(tmp_path / "d")
    secret = tmp_path / "secret.parquet"
    write_table(tmp_path, "secret", [conn("srv")], SCHEMAS["DeviceNetworkEvents"])
    result = invoke("run", "--data", folder, "--now", NOW, "--table", f"DeviceNetworkEvents={value}")
    assert result.exit_code == 2
    assert "DeviceNetworkEvents" in result.stderr
    assert secret.exists() and not Path("/tmp/pwned-by-detector").exists()


def test_a_path_with_quotes_is_a_path(tmp_path):
    # A file whose name contains SQL is read as that file and nothing else.
    weird = tmp_path / "it's'); DROP TABLE x; --"
    folder = _good(weird)
    result = invoke("run", "--data", folder, "--now", NOW, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert '"DeviceName":"srv"' in result.stdout


def test_hostile_device_name_in_explain(tmp_path):
    result = invoke("explain", "--data", _good(tmp_path), "--now", NOW, "--device", "x'; SELECT 1; --")
    assert result.exit_code == 0, result.output
    assert "no alert: its last rows are dropped at let server_list" in result.stdout


def test_ten_thousand_vendors(tmp_path):
    devices = [device(f"s{i}") for i in range(12)]
    events = [
        conn(f"s{i % 12}", f"198.51.{i // 250}.{i % 250}", ago=timedelta(days=3),
             InitiatingProcessVersionInfoCompanyName=f"Vendor {i:05d}")
        for i in range(10_000)
    ]  # fmt: skip
    events.append(conn("s0", "203.0.113.99"))
    result = invoke("run", "--data", write_fleet(tmp_path, devices, events), "--now", NOW, "--format", "jsonl")
    assert result.exit_code == 0
    assert result.stdout.count('"DeviceName"') == 1 and "203.0.113.99" in result.stdout
