"""`detector ingest`: every input format from faithful samples (tests/data/ingest/) and the real Sysmon/WFP logs in
shared/realdata, into the Parquet layout `detector run` reads; bad rows, broken files, re-runs, end to end."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from detector import types
from detector.api import run_rule
from detector.commands import common
from detector.commands.ingest import ingest as ingest_command
from detector.errors import ParamError
from detector.ingest import classify_ip, company_from_path, ingest, normalize_ip
from detector.ingest.defender import guess_table
from detector.ingest.sysmon import classify_host, flatten
from detector.ingest.timeparse import parse_timestamp
from detector.ingest.writer import source_key
from detector.rule import discover
from detector.tables import load_table

DATA = Path(__file__).parent / "data" / "ingest"
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "sysmon_wfp_json"
PERSIST = REALDATA / "otrf_covenant_persiststartup.json.gz"
GRUNT = REALDATA / "otrf_covenant_psremoting_grunt.zip"
BITSADMIN = REALDATA / "otrf_cmd_bitsadmin_download_psh_script.zip"
EMPIRE = REALDATA / "otrf_empire_launcher_sct_regsvr32.zip"
needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(),
    reason=f"real Sysmon/WFP logs not found at {REALDATA} (CI copies shared/ next to the repository clone)",
)


def rows(out: Path, table: str, where: str = "true") -> list[dict]:
    """A table as detector reads it (all part files, UTC session), ordered by Timestamp and ReportId."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    files = sorted(str(p) for p in (out / table).glob("date=*/*.parquet"))
    if not files:
        return []
    sql = f"SELECT * EXCLUDE (date) FROM read_parquet({files!r}, hive_partitioning = true) WHERE {where}"
    return con.sql(sql + " ORDER BY Timestamp, ReportId NULLS LAST").to_arrow_table().to_pylist()


def parts(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cli():
    """The command wired as cli.py wires it."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("ingest")(common.handle_errors(ingest_command))
    app.command("other")(lambda: None)  # a second command keeps `ingest` a sub-command
    return app


def invoke(*args):
    return CliRunner().invoke(cli(), ["ingest", *[str(a) for a in args]])


# ---------------------------------------------------------------------------------------------------- Defender CSV


def test_portal_csv_export(tmp_path):
    summary = ingest(
        "defender-csv", [DATA / "portal_DeviceNetworkEvents.csv", DATA / "portal_DeviceInfo.csv"], tmp_path
    )
    network, info = summary.files
    assert (network.read, network.written["DeviceNetworkEvents"], network.rejected) == (7, 5, 2)
    # The 4th data row spans two physical lines (a quoted newline), so the bad rows are on lines 7 and 8.
    assert [(r.line, r.reason) for r in network.samples] == [
        (7, "RemotePort: 'https' is not an integer"),
        (8, "Timestamp: 'yesterday' is not a timestamp (expected ISO-8601 or M/D/YYYY, h:mm:ss AM)"),
    ]
    assert (info.read, info.written["DeviceInfo"], info.rejected) == (3, 3, 0)

    events = rows(tmp_path, "DeviceNetworkEvents")
    first = events[0]
    assert first["Timestamp"] == utc(2026, 11, 20, 10, 0, 0, 123456)  # 7 digits truncated to microseconds
    assert first["ReportId"] == 123456789012345678  # 18 digits, exact
    assert first["RemotePort"] == 443 and first["LocalPort"] == 50123 and first["InitiatingProcessId"] == 4312
    assert first["InitiatingProcessVersionInfoCompanyName"] == "Vendor X Ltd"
    assert first["InitiatingProcessCommandLine"] == '"C:\\Program Files\\Vendor X\\agent.exe" -service'
    assert events[1]["RemoteUrl"] == ""  # an empty CSV cell is "" in a string column, as the portal shows it
    assert events[2]["Timestamp"] == utc(2026, 11, 20, 23, 59, 59, 0)  # 0.0000001 s truncates: still the 20th
    assert events[3]["RemoteIPType"] == "FourToSixMapping"
    assert events[3]["InitiatingProcessCommandLine"].endswith("\n  -service --multi-line-argument")
    schema = pq.read_schema(next((tmp_path / "DeviceNetworkEvents").glob("date=*/*.parquet")))
    assert str(schema.field("Timestamp").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("RemotePort").type) == "int32" and str(schema.field("ReportId").type) == "int64"
    assert sorted(p.name for p in (tmp_path / "DeviceNetworkEvents").iterdir()) == [
        "date=2026-11-20",
        "date=2026-11-21",
    ]
    assert [r["DeviceType"] for r in rows(tmp_path, "DeviceInfo")] == ["Server", "Server", "Workstation"]


def test_sentinel_csv_export(tmp_path):
    raw = (DATA / "sentinel_DeviceNetworkEvents.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # the fixture is what Log Analytics writes
    summary = ingest(
        "defender-csv", [DATA / "sentinel_DeviceNetworkEvents.csv", DATA / "sentinel_DeviceInfo.csv"], tmp_path
    )
    network, info = summary.files
    assert (network.read, network.written["DeviceNetworkEvents"], network.rejected) == (5, 3, 1)
    assert network.skipped == {"rows of another table (Type DeviceProcessEvents)": 1}
    assert str(network.samples[0]).endswith(
        "sentinel_DeviceNetworkEvents.csv:5: Timestamp: '13/21/2026, 12:31:00.000 AM' is not a valid date/time "
        "(month must be in 1..12)"
    )
    events = rows(tmp_path, "DeviceNetworkEvents")
    # `Timestamp [UTC]` wins over `TimeGenerated [UTC]`; en-US 12-hour clock; 12:30 AM is 00:30.
    assert [r["Timestamp"] for r in events] == [
        utc(2026, 11, 20, 10, 0, 0, 123000),
        utc(2026, 11, 20, 13, 5, 9),
        utc(2026, 11, 21, 0, 30),
    ]
    assert events[0]["ReportId"] == 123456789012345678
    assert [(r["DeviceName"], r["OSPlatform"]) for r in rows(tmp_path, "DeviceInfo")] == [
        ("srv-app01.contoso.com", "WindowsServer2022"),
        ("srv-db02.contoso.com", "WindowsServer2019"),
    ]
    assert info.written["DeviceInfo"] == 2


def test_csv_table_from_option_and_undecidable_header(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("Timestamp,DeviceName,ActionType\n2026-11-20T10:00:00Z,srv,ConnectionSuccess\n")
    failed = ingest("defender-csv", [odd], tmp_path / "a")
    assert failed.nothing_read and "give --table" in failed.files[0].error
    forced = ingest("defender-csv", [odd], tmp_path / "b", table="devicenetworkevents")
    assert forced.files[0].written["DeviceNetworkEvents"] == 1
    with pytest.raises(ParamError, match="--table"):
        ingest("defender-csv", [odd], tmp_path / "c", table="DeviceEvents")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-20T10:00:00.1234567Z", utc(2026, 11, 20, 10, 0, 0, 123456)),
        ("2026-11-20T10:00:00Z", utc(2026, 11, 20, 10, 0, 0)),
        ("2026-11-20 10:00:00.5", utc(2026, 11, 20, 10, 0, 0, 500000)),  # no zone: UTC
        ("2026-11-20T12:00:00+02:00", utc(2026, 11, 20, 10, 0, 0)),
        ("11/20/2026, 10:00:00.123 AM", utc(2026, 11, 20, 10, 0, 0, 123000)),
        ("11/20/2026, 12:00:00.000 PM", utc(2026, 11, 20, 12, 0, 0)),
        ("11/20/2026, 12:00:00.000 AM", utc(2026, 11, 20, 0, 0, 0)),
        ("11/20/2026 11:59:59 PM", utc(2026, 11, 20, 23, 59, 59)),
        ("1/2/2026, 3:04:05 PM", utc(2026, 1, 2, 15, 4, 5)),
    ],
)
def test_timestamp_forms(text, expected):
    assert parse_timestamp(text)[0] == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "11/20/2026, 13:00:00 PM", "", "20/11/2026"])
def test_bad_timestamps(text):
    with pytest.raises(ValueError):
        parse_timestamp(text)


# ---------------------------------------------------------------------------------------------------- JSON lines


def test_advanced_hunting_json_lines(tmp_path):
    summary = ingest("defender-jsonl", [DATA / "advanced_hunting.jsonl"], tmp_path)
    (only,) = summary.files
    assert (only.read, only.written["DeviceNetworkEvents"], only.written["DeviceInfo"], only.rejected) == (6, 1, 1, 4)
    assert [(r.line, r.reason.split(" (")[0]) for r in only.samples] == [
        (4, "not valid JSON"),
        (5, "a JSON list, not an object"),
        (6, "RemotePort: 4294967296 is out of range for int32"),
        (7, "cannot tell the table"),
    ]
    (event,) = rows(tmp_path, "DeviceNetworkEvents")
    assert event["ReportId"] == 123456789012345678
    assert event["RemoteUrl"] is None and event["InitiatingProcessVersionInfoCompanyName"] is None  # JSON null
    assert event["AdditionalFields"] == '{"TlsVersion":"1.2"}'
    assert event["Timestamp"] == utc(2026, 11, 20, 10, 0, 0, 123456)
    (info,) = rows(tmp_path, "DeviceInfo")
    assert (info["OSPlatform"], info["OSBuild"]) == ("WindowsServer2022", 20348)


# ---------------------------------------------------------------------------------------------------- streaming API


def test_event_hub_message(tmp_path):
    summary = ingest("defender-stream", [DATA / "eventhub_message.json"], tmp_path)
    (only,) = summary.files
    assert (only.read, only.written["DeviceNetworkEvents"], only.written["DeviceInfo"]) == (5, 2, 1)
    assert only.skipped == {"records of another table (AdvancedHunting-DeviceProcessEvents)": 1}
    assert [str(s).split("eventhub_message.json")[1] for s in only.samples] == [
        ":1: record 5: properties.Timestamp is missing (the envelope's time is not the event time)"
    ]
    first, second = rows(tmp_path, "DeviceNetworkEvents")
    # properties.Timestamp, not the envelope's `time` (2026-11-20T10:07:41.5566778Z).
    assert first["Timestamp"] == utc(2026, 11, 20, 10, 0, 0, 123456)
    assert second["Timestamp"] == utc(2026, 11, 20, 10, 0, 1, 0)
    assert (first["ReportId"], second["ReportId"]) == (987654321098765432, 987654321098765433)
    assert first["RemoteUrl"] is None and second["RemoteUrl"] == ""  # null stays null, "" stays ""
    assert second["InitiatingProcessVersionInfoCompanyName"] is None
    assert rows(tmp_path, "DeviceInfo")[0]["DeviceType"] == "Server"


def test_event_hub_messages_one_per_line(tmp_path):
    message = json.loads((DATA / "eventhub_message.json").read_text())
    one_line = tmp_path / "messages.json"
    one_line.write_bytes((json.dumps(message) + "\r\n" + json.dumps(message) + "\r\n").encode())
    summary = ingest("defender-stream", [one_line], tmp_path / "out")
    assert summary.files[0].read == 10 and summary.files[0].written["DeviceNetworkEvents"] == 4
    assert [s.line for s in summary.files[0].samples] == [1, 2]


def test_storage_blob_tree_with_crlf(tmp_path):
    blob = next((DATA / "blobs").rglob("insights-logs-advancedhunting-devicenetworkevents/**/PT1H.json"))
    assert blob.read_bytes().count(b"\r\n") == 3  # CRLF line endings, as the Storage export writes them
    summary = ingest("defender-stream", [DATA / "blobs"], tmp_path)
    assert len(summary.files) == 2  # the folder tree is walked
    assert summary.written == {"DeviceNetworkEvents": 2, "DeviceInfo": 1}
    assert [(s.line, s.reason.split(" (")[0]) for s in summary.files[1].samples] == [(3, "not valid JSON")]
    events = rows(tmp_path, "DeviceNetworkEvents")
    assert [e["Timestamp"] for e in events] == [utc(2026, 11, 20, 10, 15, 0, 765432), utc(2026, 11, 20, 10, 16)]
    assert [e["ReportId"] for e in events] == [555555555555555555, 555555555555555556]
    assert events[0]["RemoteUrl"] is None and events[1]["RemoteUrl"] == "cdn.vendor-x.example"
    assert not any(e["DeviceName"].endswith("\r") for e in events)


# ---------------------------------------------------------------------------------------------------- robustness


def test_bad_rows_and_broken_files_are_reported_not_lost(tmp_path):
    good = DATA / "portal_DeviceNetworkEvents.csv"
    corrupt_gz = tmp_path / "corrupt.csv.gz"
    corrupt_gz.write_bytes(gzip.compress(good.read_bytes())[:200])  # truncated: a few rows, then EOF
    not_zip = tmp_path / "broken.zip"
    not_zip.write_bytes(b"PK\x03\x04 this is not really a zip")
    missing = tmp_path / "missing.csv"
    result = invoke("--from", "defender-csv", good, corrupt_gz, not_zip, missing, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "portal_DeviceNetworkEvents.csv:7: RemotePort: 'https' is not an integer" in result.output
    assert f"{missing}: no such file or folder" in result.output
    assert f"{corrupt_gz}: " in result.output and "unreadable files:" in result.output
    assert len(rows(tmp_path / "out", "DeviceNetworkEvents")) == 5  # the good file's rows are all there

    nothing = invoke("--from", "defender-csv", missing, not_zip, "--out", tmp_path / "none")
    assert nothing.exit_code == 2
    assert "error: nothing could be read from the inputs" in nothing.output


def test_rerun_replaces_instead_of_duplicating(tmp_path):
    inputs = [DATA / "portal_DeviceNetworkEvents.csv", DATA / "eventhub_message.json"]
    csv_only, stream_only = inputs
    out = tmp_path / "out"
    ingest("defender-csv", [csv_only], out, chunk_rows=2)
    ingest("defender-stream", [stream_only], out)
    first = parts(out)
    assert len(rows(out, "DeviceNetworkEvents")) == 5 + 2
    ingest("defender-csv", [csv_only], out, chunk_rows=2)  # same input again: same files, same rows
    ingest("defender-stream", [stream_only], out)
    assert parts(out) == first and len(rows(out, "DeviceNetworkEvents")) == 7
    leftover = out / "DeviceNetworkEvents" / "date=2026-11-20" / f".part-{source_key('defender-csv', csv_only)}-00042"
    leftover = leftover.with_name(leftover.name + ".parquet.partial")
    leftover.write_bytes(b"from a run that crashed")
    ingest("defender-csv", [csv_only], out, chunk_rows=50)  # other chunking: the old parts go away
    assert len(parts(out)) < len(first) and len(rows(out, "DeviceNetworkEvents")) == 7
    assert not list(out.rglob(".*.partial"))

    changed = tmp_path / "export.csv"  # a file that shrinks between runs leaves nothing stale behind
    shutil.copy(csv_only, changed)
    ingest("defender-csv", [changed], out)
    assert len(rows(out, "DeviceNetworkEvents")) == 12
    changed.write_text("\n".join(csv_only.read_text().splitlines()[:2]) + "\n")
    ingest("defender-csv", [changed], out)
    assert len(rows(out, "DeviceNetworkEvents")) == 8


def test_chunks_are_separate_part_files_and_progress_is_reported(tmp_path):
    seen = []
    ingest(
        "sysmon" if REALDATA.is_dir() else "defender-csv",
        [PERSIST if REALDATA.is_dir() else DATA / "portal_DeviceNetworkEvents.csv"],
        tmp_path,
        chunk_rows=25,
        progress=lambda label, count: seen.append((label, count)),
    )
    assert len(list((tmp_path / "DeviceNetworkEvents").glob("date=*/*.parquet"))) > 1
    assert seen and seen[-1][1] > 0


def test_parameter_errors(tmp_path):
    with pytest.raises(ParamError, match="--from"):
        ingest("csv", [DATA], tmp_path)
    with pytest.raises(ParamError, match="--assets"):
        ingest("defender-csv", [DATA], tmp_path, assets=DATA / "assets_shire.csv")
    bad = tmp_path / "assets.csv"
    bad.write_text("DeviceName,OSPlatform\nHFDC01,WindowsServer2019\n")
    with pytest.raises(ParamError, match=r"assets.csv:1: the header lacks DeviceType"):
        ingest("sysmon", [DATA], tmp_path, assets=bad)
    result = invoke("--from", "parquet", DATA, "--out", tmp_path)
    assert result.exit_code == 2 and "parameter --from: 'parquet' is not one of" in result.output


def test_help_documents_exit_codes_and_rerun_safety():
    result = CliRunner().invoke(cli(), ["ingest", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Exit codes: 0 when at least one input could be read" in text
    assert "2 when nothing could be read" in text
    assert "Re-running is safe" in text
    for option in ("--from", "--out", "--assets", "--table", "--chunk-rows"):
        assert option in text


# ---------------------------------------------------------------------------------------------------- DeviceFileEvents

FILE_EVENTS = "DeviceFileEvents"
WKS = "wks-fin07.contoso.com"


def file_schema() -> dict[str, pa.DataType]:
    """Every documented column of DeviceFileEvents, in Microsoft's order, with its Kusto type's Arrow type."""
    return {c: types.get(t).arrow for c, t in load_table(FILE_EVENTS).columns.items()}


def assert_documented_schema(out: Path, table: str = FILE_EVENTS) -> None:
    documented = {c: types.get(t).arrow for c, t in load_table(table).columns.items()}
    files = sorted((out / table).glob("date=*/*.parquet"))
    assert files
    for path in files:
        schema = pq.read_schema(path)
        assert dict(zip(schema.names, schema.types, strict=True)) == documented, path


def test_file_events_portal_csv_round_trip(tmp_path):
    summary = ingest("defender-csv", [DATA / "portal_DeviceFileEvents.csv"], tmp_path)
    (only,) = summary.files
    assert (only.read, only.written[FILE_EVENTS], only.rejected) == (6, 5, 1)  # routed by the columns alone
    assert [(s.line, s.reason) for s in only.samples] == [(6, "FileSize: '1.2 MB' is not an integer")]
    assert sorted(p.name for p in (tmp_path / FILE_EVENTS).iterdir()) == ["date=2026-11-20", "date=2026-11-21"]
    assert not (tmp_path / "DeviceNetworkEvents").exists()
    # every documented column, typed as documented (bool, int, long, datetime, string), in every part file
    assert_documented_schema(tmp_path)
    assert file_schema()["IsAzureInfoProtectionApplied"] == pa.bool_()
    assert file_schema()["RequestSourcePort"] == pa.int32() and file_schema()["LogonID"] == pa.int64()

    created, modified, renamed, smb, deleted = rows(tmp_path, FILE_EVENTS)
    assert created["Timestamp"] == utc(2026, 11, 20, 9, 58, 12, 345678)  # 7 digits truncated to microseconds
    assert (created["ActionType"], created["FileName"]) == ("FileCreated", "AWS IAM compliance check.exe")
    assert created["FolderPath"].endswith("\\Start Menu\\Programs\\Startup\\AWS IAM compliance check.exe")
    assert created["SHA256"] == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert (created["FileSize"], created["InitiatingProcessId"], created["InitiatingProcessParentId"]) == (
        482304,
        9124,
        5012,
    )
    assert created["InitiatingProcessFileName"] == "mstsc.exe"
    assert created["InitiatingProcessCommandLine"].endswith(
        '"C:\\Users\\anna.kowalska\\Downloads\\AWS IAM compliance check.rdp"'
    )
    assert created["InitiatingProcessCreationTime"] == utc(2026, 11, 20, 9, 57, 58, 123456)
    assert created["InitiatingProcessVersionInfoProductName"] == "Microsoft® Windows® Operating System"
    assert created["ReportId"] == 123456789012345678  # 18 digits, exact
    assert created["IsAzureInfoProtectionApplied"] is False and created["IsInitiatingProcessRemoteSession"] is False
    assert created["AdditionalFields"] == '{"FileType":"PortableExecutable"}'
    assert (created["LogonID"], created["InitiatingProcessSessionId"]) == (283947, 2)
    assert created["InitiatingProcessUniqueId"] == "2814749767106683"  # a string column keeps its digits as text
    assert created["FileOriginUrl"] == "" and created["RequestSourcePort"] is None  # empty cells: "" or null
    assert (modified["SensitivityLabel"], modified["SensitivitySubLabel"]) == ("Confidential", "Finance")
    assert modified["IsAzureInfoProtectionApplied"] is True  # "True", as .NET writes it
    assert renamed["Timestamp"] == utc(2026, 11, 20, 11, 2, 33, 250000)  # the portal's en-US form
    assert (renamed["PreviousFileName"], renamed["FileOriginIP"]) == ("Unconfirmed 123456.crdownload", "203.0.113.50")
    assert renamed["FileOriginUrl"] == "https://download.vendor-x.example/setup.msi"
    assert smb["Timestamp"] == utc(2026, 11, 21)  # 0.0000001 s past midnight truncates: the 21st
    assert (smb["RequestProtocol"], smb["RequestSourceIP"], smb["RequestSourcePort"], smb["ShareName"]) == (
        "SMB",
        "10.0.5.23",
        49822,
        "Finance",
    )
    assert smb["IsInitiatingProcessRemoteSession"] is True
    assert smb["InitiatingProcessRemoteSessionIP"] == "192.168.50.11"
    assert (deleted["ActionType"], deleted["FileSize"], deleted["SHA256"]) == ("FileDeleted", None, "")


def test_file_events_json_lines(tmp_path):
    summary = ingest("defender-jsonl", [DATA / "advanced_hunting_DeviceFileEvents.jsonl"], tmp_path)
    (only,) = summary.files
    assert (only.read, only.written[FILE_EVENTS], only.rejected) == (7, 3, 2)
    assert only.skipped == {
        "rows of another table (columns of DeviceProcessEvents)": 1,  # ProcessCommandLine: a process event
        "rows of another table (Table DeviceRegistryEvents)": 1,
    }
    assert [(r.line, r.reason.split(" (")[0]) for r in only.samples] == [
        (6, "IsAzureInfoProtectionApplied: 'maybe' is not true or false"),
        (7, "cannot tell the table"),  # a FileName alone could be a process event too
    ]
    assert_documented_schema(tmp_path)
    lnk, renamed, deleted = rows(tmp_path, FILE_EVENTS)
    # FileName + FolderPath + SHA256: a file event
    assert lnk["Timestamp"] == utc(2026, 11, 20, 10, 3, 10, 123456)
    assert (lnk["FileName"], lnk["InitiatingProcessFileName"]) == ("Remote Desktop Connection.lnk", "MSTSC.EXE")
    assert lnk["ReportId"] == 98765432109876543 and lnk["FileSize"] == 2048
    assert lnk["MD5"] is None and lnk["IsAzureInfoProtectionApplied"] is None  # JSON null stays null
    assert lnk["IsInitiatingProcessRemoteSession"] is False and lnk["LogonID"] == 283947
    assert lnk["AdditionalFields"] == '{"FileType":"Lnk","Size":2048}'  # an object becomes compact JSON text
    assert lnk["InitiatingProcessCreationTime"] == utc(2026, 11, 20, 9, 57, 58, 123456)
    # PreviousFileName: a column only file events have
    assert (renamed["ActionType"], renamed["PreviousFileName"], renamed["SHA256"]) == (
        "FileRenamed",
        "~WRL0003.tmp",
        None,
    )
    # a Table column names the table
    assert (deleted["ActionType"], deleted["FileName"], deleted["FolderPath"]) == ("FileDeleted", "old.log", None)


def test_file_events_event_hub_message(tmp_path):
    summary = ingest("defender-stream", [DATA / "eventhub_DeviceFileEvents.json"], tmp_path)
    (only,) = summary.files
    assert (only.read, only.written[FILE_EVENTS], only.written["DeviceNetworkEvents"]) == (9, 6, 1)
    assert only.skipped == {"records of another table (AdvancedHunting-DeviceProcessEvents)": 1}
    assert [s.reason for s in only.samples] == [
        "record 9: properties.Timestamp is missing (the envelope's time is not the event time)"
    ]
    assert_documented_schema(tmp_path)
    assert_documented_schema(tmp_path, "DeviceNetworkEvents")
    files = {r["FileName"]: r for r in rows(tmp_path, FILE_EVENTS)}
    assert list(files) == ["before.hta", "aws_iam_check.exe", "notes.dllx", "renamed.js", "config.DLL", "late.exe"]
    exe = files["aws_iam_check.exe"]
    assert exe["Timestamp"] == utc(2026, 11, 20, 10, 3, 10, 987654)  # properties.Timestamp, not the envelope's
    assert (exe["DeviceId"], exe["DeviceName"]) == ("5d7c1f0a9b3e4c2d8a6f0e1b2c3d4e5f6a7b8c9d", WKS)
    assert exe["FolderPath"] == "C:\\Users\\anna.kowalska\\AppData\\Local\\Temp\\_TS3F1A\\aws_iam_check.exe"
    assert (exe["FileSize"], exe["InitiatingProcessId"], exe["ReportId"]) == (73728, 9124, 5001)
    assert exe["AdditionalFields"] == '{"FileType":"PortableExecutable"}'
    assert exe["AppGuardContainerId"] == "" and exe["SHA1"] is None
    assert files["config.DLL"]["FileSize"] == 0 and files["config.DLL"]["IsAzureInfoProtectionApplied"] is False
    assert files["renamed.js"]["PreviousFileName"] == "renamed.js.tmp"
    (connection,) = rows(tmp_path, "DeviceNetworkEvents")
    assert (connection["InitiatingProcessFileName"], connection["InitiatingProcessId"]) == ("mstsc.exe", 9124)
    assert (connection["RemoteIP"], connection["RemotePort"], connection["RemoteUrl"]) == ("203.0.113.77", 3389, "")


@pytest.mark.skipif("rogue_rdp_file_creation" not in discover(), reason="the Rogue RDP rule is not installed")
def test_file_events_end_to_end_rogue_rdp(tmp_path):
    """The Event Hub message's mstsc.exe connection and the files mstsc.exe wrote, through the Rogue RDP rule: a
    watched type (`has_any`: .exe, .DLL in any case, .hta; not .dllx), FileCreated/FileModified, fewer than 60
    minute boundaries after the connection or before it."""
    ingest("defender-stream", [DATA / "eventhub_DeviceFileEvents.json"], tmp_path)
    records = run_rule("rogue_rdp_file_creation", data=tmp_path, now="2026-11-20T12:00:00Z")
    assert sorted(r["FileName"] for r in records) == ["aws_iam_check.exe", "before.hta", "config.DLL"]
    assert {(r["DeviceName"], r["RemoteIP"], r["RemotePort"]) for r in records} == {(WKS, "203.0.113.77", 3389)}


def test_table_column_routes_rows_and_columns_tell_the_table(tmp_path):
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "Table,Timestamp,DeviceName,ActionType,FileName,RemoteIP,RemotePort\n"
        "DeviceFileEvents,2026-11-20T10:00:00Z,wks-1,FileCreated,a.dll,,\n"
        "devicenetworkevents,2026-11-20T10:00:01Z,wks-1,ConnectionSuccess,,203.0.113.9,3389\n"
        "DeviceProcessEvents,2026-11-20T10:00:02Z,wks-1,ProcessCreated,mstsc.exe,,\n"
    )
    (only,) = ingest("defender-csv", [mixed], tmp_path / "mixed").files
    assert (only.written[FILE_EVENTS], only.written["DeviceNetworkEvents"]) == (1, 1)
    assert only.skipped == {"rows of another table (Table DeviceProcessEvents)": 1}
    assert [r["FileName"] for r in rows(tmp_path / "mixed", FILE_EVENTS)] == ["a.dll"]
    assert "RemoteIP" not in rows(tmp_path / "mixed", FILE_EVENTS)[0]  # a column of another table is not written

    process = tmp_path / "process.csv"
    process.write_text("Timestamp,DeviceName,FileName,FolderPath,SHA256,ProcessCommandLine\n2026-11-20,h,a,b,c,d\n")
    (only,) = ingest("defender-csv", [process], tmp_path / "process").files
    assert only.read == 1 and only.skipped == {"rows of another table (columns of DeviceProcessEvents)": 1}
    assert not (tmp_path / "process" / FILE_EVENTS).exists()

    vague = tmp_path / "vague.csv"
    vague.write_text("Timestamp,DeviceName,FileName,FolderPath\n2026-11-20T10:00:00Z,h,a.txt,C:\\a.txt\n")
    failed = ingest("defender-csv", [vague], tmp_path / "vague")
    assert failed.nothing_read and "--table DeviceFileEvents" in failed.files[0].error
    forced = ingest("defender-csv", [vague], tmp_path / "forced", table="devicefileevents")
    assert forced.files[0].written[FILE_EVENTS] == 1
    assert_documented_schema(tmp_path / "forced")


@pytest.mark.parametrize(
    "columns, table",
    [
        (["Timestamp", "FileName", "FolderPath", "SHA256"], "DeviceFileEvents"),
        (["timestamp", "filename", "folderpath", "sha256", "InitiatingProcessFileName"], "DeviceFileEvents"),
        (["Timestamp", "FileName", "PreviousFileName"], "DeviceFileEvents"),
        (["Timestamp", "ShareName"], "DeviceFileEvents"),
        (["Timestamp", "FileName", "FolderPath", "SHA256", "ProcessCommandLine"], "DeviceProcessEvents"),
        (["Timestamp", "FileName", "FolderPath", "SHA256", "RemoteIP"], "DeviceNetworkEvents"),
        (["Timestamp", "FileName", "FolderPath"], None),
        (["Timestamp", "OSPlatform"], "DeviceInfo"),
    ],
)
def test_guess_table_from_columns(columns, table):
    assert guess_table(columns) == table


def test_file_events_rerun_and_summary(tmp_path):
    source = DATA / "portal_DeviceFileEvents.csv"
    result = invoke("--from", "defender-csv", source, "--out", tmp_path, "--chunk-rows", 2)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.strip().startswith("file"))
    assert header.split()[2:6] == ["NetEvents", "DevInfo", "FileEvents", "skipped"]
    first = parts(tmp_path)
    assert len(first) > 2  # chunked: several part files
    invoke("--from", "defender-csv", source, "--out", tmp_path, "--chunk-rows", 2)
    assert parts(tmp_path) == first and len(rows(tmp_path, FILE_EVENTS)) == 5  # replaced, not duplicated
    invoke("--from", "defender-csv", source, "--out", tmp_path)
    assert len(parts(tmp_path)) < len(first) and len(rows(tmp_path, FILE_EVENTS)) == 5


# ---------------------------------------------------------------------------------------------------- IP types


@pytest.mark.parametrize(
    "address, label",
    [
        ("8.8.8.8", "Public"),
        ("54.239.28.223", "Public"),
        ("10.1.2.3", "Private"),
        ("172.16.0.1", "Private"),
        ("172.31.255.255", "Private"),
        ("172.32.0.1", "Public"),
        ("192.168.1.1", "Private"),
        ("100.64.0.1", "Private"),  # carrier-grade NAT: internal
        ("169.254.169.254", "Private"),  # link-local (cloud metadata): not Public, decided Private
        ("fe80::1", "Private"),
        ("fe80::44af:a0ee:c7f9:e9ed%12", "Private"),
        ("fd00::1", "Private"),
        ("127.0.0.1", "Loopback"),
        ("127.8.9.10", "Loopback"),
        ("::1", "Loopback"),
        ("::ffff:1.2.3.4", "FourToSixMapping"),
        ("::ffff:10.0.0.1", "FourToSixMapping"),
        ("2002:c000:204::1", "FourToSixMapping"),
        ("2001::1", "Teredo"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("255.255.255.255", "Broadcast"),
        ("224.0.0.1", "Reserved"),  # multicast
        ("239.255.255.250", "Reserved"),
        ("ff02::1", "Reserved"),
        ("0.0.0.0", "Reserved"),
        ("::", "Reserved"),
        ("240.0.0.1", "Reserved"),
        ("192.0.2.1", "Reserved"),  # documentation
        ("2001:db8::1", "Reserved"),
        ("2606:4700:4700::1111", "Public"),
    ],
)
def test_remote_ip_type(address, label):
    assert classify_ip(address) == label


def test_addresses_are_normalised():
    assert normalize_ip("fe80:0:0:0:44af:a0ee:c7f9:e9ed") == "fe80::44af:a0ee:c7f9:e9ed"
    assert normalize_ip("::FFFF:1.2.3.4") == "::ffff:1.2.3.4"
    with pytest.raises(ValueError):
        classify_ip("not-an-ip")


# ---------------------------------------------------------------------------------------------------- sysmon rules


@pytest.mark.parametrize(
    "path, company",
    [
        ("C:\\Program Files\\Amazon\\cfn-bootstrap\\winhup.exe", "Amazon"),
        ("C:\\Program Files (x86)\\Foxit Software\\Foxit Reader\\FoxitReader.exe", "Foxit Software"),
        ("D:\\Program Files\\Common Files\\VMware\\Drivers\\vmtoolsd.exe", "VMware"),
        ("\\device\\harddiskvolume1\\program files\\amazon\\ssm\\amazon-ssm-agent.exe", "amazon"),
        ("C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", "Microsoft Corporation"),
        ("C:\\Program Files\\Windows Defender\\MsMpEng.exe", "Microsoft Corporation"),
        ("C:\\Program Files\\Internet Explorer\\iexplore.exe", "Microsoft Corporation"),
        ("C:\\Program Files\\tool.exe", ""),
        ("C:\\Windows\\System32\\svchost.exe", "Microsoft Corporation"),
        ("\\device\\harddiskvolume2\\windows\\system32\\dns.exe", "Microsoft Corporation"),
        ("System", "Microsoft Corporation"),
        ("C:\\WindowsAzure\\GuestAgent_2.7\\WindowsAzureGuestAgent.exe", "Microsoft Corporation"),
        (
            "C:\\Packages\\Plugins\\Microsoft.Azure.NetworkWatcher\\1.4\\NetworkWatcherAgent.exe",
            "Microsoft Corporation",
        ),
        ("C:\\Users\\bob\\AppData\\Local\\Temp\\payload.exe", ""),
        ("C:\\Windows.old\\evil.exe", ""),
        ("C:\\Windows\\Temp\\dropper.exe", ""),
        ("", ""),
    ],
)
def test_company_from_image_path(path, company):
    assert company_from_path(path) == company


def test_company_spelling_follows_sysmon():
    path = "\\device\\harddiskvolume1\\program files\\amazon\\ssm\\amazon-ssm-agent.exe"
    assert company_from_path(path, {"amazon": "Amazon"}) == "Amazon"


@pytest.mark.parametrize(
    "host, evidence, build, expected",
    [
        ("hfdc01.shire.com", None, 17763, ("Server", "WindowsServer2019")),
        ("mordordc.mordor.local", None, None, ("Server", "WindowsServer")),
        ("dc1", None, 20348, ("Server", "WindowsServer2022")),
        (
            "ad01.corp",
            "lsass.exe accepts LDAP connections on port 389 (Sysmon 3)",
            14393,
            ("Server", "WindowsServer2016"),
        ),
        ("file001.shire.com", None, 17763, ("Workstation", "Windows10")),
        ("dcsrv01", None, None, ("Workstation", "Windows10")),  # "DC" must end the first label
        ("wks-9", None, 22631, ("Workstation", "Windows11")),
    ],
)
def test_domain_controller_heuristic(host, evidence, build, expected):
    assert classify_host(host, evidence, build)[:2] == expected


def test_winlogbeat_shape(tmp_path):
    event = {
        "@timestamp": "2026-11-20T10:00:01.000Z",
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "provider_name": "Microsoft-Windows-Sysmon",
            "event_id": 3,
            "computer_name": "APP01.corp.example",
            "record_id": 4242,
            "event_data": {
                "UtcTime": "2026-11-20 10:00:00.250",
                "ProcessGuid": "{11111111-2222-3333-4444-555555555555}",
                "Image": "C:\\Program Files\\Acme\\updater.exe",
                "User": "NT AUTHORITY\\SYSTEM",
                "Protocol": "tcp",
                "Initiated": True,
                "SourceIp": "10.0.0.5",
                "SourcePort": 50000,
                "DestinationIp": "93.184.216.34",
                "DestinationHostname": "-",
                "DestinationPort": 443,
            },
        },
    }
    assert flatten(event)["Hostname"] == "APP01.corp.example"
    log = tmp_path / "winlogbeat.json"
    log.write_text(json.dumps(event) + "\n")
    ingest("sysmon", [log], tmp_path / "out")
    (row,) = rows(tmp_path / "out", "DeviceNetworkEvents")
    assert (row["DeviceName"], row["RemoteIP"], row["RemotePort"], row["RemoteUrl"]) == (
        "app01.corp.example",
        "93.184.216.34",
        443,
        None,
    )
    assert (row["InitiatingProcessVersionInfoCompanyName"], row["ReportId"]) == ("Acme", 4242)
    assert (row["InitiatingProcessAccountDomain"], row["InitiatingProcessAccountName"]) == ("NT AUTHORITY", "SYSTEM")
    assert row["Timestamp"] == utc(2026, 11, 20, 10, 0, 0, 250000)


def test_sysmon_bad_lines_are_counted(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text(
        '{"EventID": 3, "SourceName": "Microsoft-Windows-Sysmon", "Hostname": "A", "UtcTime": "2026-11-20 10:00:00",'
        ' "Initiated": "true", "DestinationIp": "999.1.1.1", "DestinationPort": "443"}\n'
        "{broken\n"
        '{"EventID": 5156, "SourceName": "Microsoft-Windows-Security-Auditing", "Hostname": "A",'
        ' "@timestamp": "2026-11-20T10:00:00Z", "Direction": "%%14593", "DestAddress": "8.8.8.8", "DestPort": "x"}\n'
        '{"EventID": 3, "SourceName": "Microsoft-Windows-Sysmon", "UtcTime": "2026-11-20 10:00:00",'
        ' "Initiated": "false", "DestinationIp": "8.8.8.8", "DestinationPort": "443"}\n'
    )
    (only,) = ingest("sysmon", [log], tmp_path / "out").files
    assert [(s.line, s.reason.split(" (")[0]) for s in only.samples] == [
        (1, "DestinationIp: '999.1.1.1' is not an IP address"),
        (2, "not valid JSON"),
        (3, "DestPort: 'x' is not a port number"),
        (4, "no host name"),
    ]


# ---------------------------------------------------------------------------------------------------- real logs


@pytest.fixture(scope="module")
def realdata(tmp_path_factory):
    if not REALDATA.is_dir():
        pytest.skip(f"real Sysmon/WFP logs not found at {REALDATA} (CI copies shared/ next to the repository clone)")
    out = tmp_path_factory.mktemp("realdata")
    return out, ingest("sysmon", [REALDATA], out)


@needs_realdata
def test_realdata_counts(realdata):
    out, summary = realdata
    counts = {Path(f.file).name: (f.read, f.written["DeviceNetworkEvents"], f.rejected) for f in summary.files}
    assert counts == {
        BITSADMIN.name: (424, 7, 0),
        PERSIST.name: (1238, 109, 0),
        GRUNT.name: (4305, 250, 0),
        EMPIRE.name: (2390, 216, 0),
    }
    skipped = summary.skipped
    assert skipped["5156 duplicates of a Sysmon 3 connection"] == 296
    assert skipped["inbound connections (Sysmon 3 Initiated false)"] == 118
    assert skipped["inbound connections (5156 Direction %%14592)"] == 121
    assert len(rows(out, "DeviceNetworkEvents")) == 582


@needs_realdata
def test_realdata_winhup_on_the_domain_controller(realdata):
    out, _ = realdata
    winhup = rows(out, "DeviceNetworkEvents", "DeviceName = 'hfdc01.shire.com' AND RemoteIP = '54.239.28.223'")
    assert len(winhup) == 1  # Sysmon 3 and its 5156 twin are one connection
    (event,) = winhup
    assert event["Timestamp"] == utc(2019, 12, 5, 4, 42, 33, 340000)  # Sysmon UtcTime
    assert event["DeviceId"] == hashlib.sha1(b"hfdc01.shire.com").hexdigest()  # stable, derived from the name
    assert (event["RemotePort"], event["RemoteIPType"], event["ActionType"]) == (443, "Public", "ConnectionSuccess")
    assert event["InitiatingProcessFolderPath"] == "C:\\Program Files\\Amazon\\cfn-bootstrap\\winhup.exe"
    assert event["InitiatingProcessFileName"] == "winhup.exe"
    assert event["InitiatingProcessVersionInfoCompanyName"] == "Amazon"  # no Sysmon 1 for it: the path rule
    metadata = rows(out, "DeviceNetworkEvents", "RemoteIP = '169.254.169.254'")
    assert metadata and {m["RemoteIPType"] for m in metadata} == {"Private"}


@needs_realdata
def test_realdata_5156_paths_times_and_companies(realdata):
    out, summary = realdata
    ec2 = rows(out, "DeviceNetworkEvents", "DeviceName = 'it001.shire.com' AND RemoteIP = '169.254.169.254'")
    paths = {e["InitiatingProcessFolderPath"] for e in ec2}
    # 5156's \device\harddiskvolume2\program files\amazon\... becomes the path Sysmon logged for the same file.
    assert "C:\\Program Files\\Amazon\\Ec2ConfigService\\Ec2Config.exe" in paths
    assert "C:\\program files\\amazon\\ssm\\amazon-ssm-agent.exe" in paths  # never seen by Sysmon: drive + as given
    assert {e["InitiatingProcessVersionInfoCompanyName"] for e in ec2} == {"Amazon"}
    # bitsadmin: TimeCreated is local time stamped "Z", 4 h behind UtcTime; corrected for the 5156 events.
    wfp = rows(out, "DeviceNetworkEvents", "DeviceName = 'workstation5' AND RemoteIP = '168.63.129.16'")
    assert {e["Timestamp"].hour for e in wfp} == {6}
    assert any("corrected TimeCreated by +4:00" in note for note in summary.notes)
    sources = rows(out, "DeviceNetworkEvents", "DeviceName = 'mordordc.mordor.local'")
    azure = [e for e in sources if "windowsazure" in e["InitiatingProcessFolderPath"].lower()]
    assert azure and {e["InitiatingProcessVersionInfoCompanyName"] for e in azure} == {"Microsoft Corporation"}
    assert not [e for e in rows(out, "DeviceNetworkEvents") if e["RemoteIP"].startswith("fe80:0:")]


@needs_realdata
def test_realdata_devices(realdata):
    out, summary = realdata
    devices = {d.name: (d.device_type, d.os_platform) for d in summary.devices}
    assert devices["hfdc01.shire.com"] == ("Server", "WindowsServer2019")
    assert devices["mordordc.mordor.local"][0] == "Server"
    for workstation in ("file001.shire.com", "it001.shire.com", "workstation5", "workstation5.mordor.local"):
        assert devices[workstation][0] == "Workstation"
    info = rows(out, "DeviceInfo", "DeviceName = 'hfdc01.shire.com'")
    assert len(info) == 2 and {i["DeviceType"] for i in info} == {"Server"}  # one per day per input file


@needs_realdata
def test_realdata_corrupt_copy_keeps_rows_before_the_break(tmp_path):
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(PERSIST.read_bytes()[:60_000])
    result = invoke("--from", "sysmon", truncated, BITSADMIN, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "(stopped early)" in result.output and "EOFError" in result.output
    files = {Path(f).name for f in (tmp_path / "out" / "DeviceNetworkEvents").glob("date=*/*.parquet")}
    assert len(files) == 2  # both sources wrote rows


@needs_realdata
def test_realdata_rerun_has_no_duplicates(tmp_path):
    first = ingest("sysmon", [PERSIST, BITSADMIN], tmp_path)
    again = ingest("sysmon", [PERSIST, BITSADMIN], tmp_path)
    assert first.written == again.written
    assert len(rows(tmp_path, "DeviceNetworkEvents")) == first.written["DeviceNetworkEvents"] == 116


def alerts(out: Path, **kwargs) -> dict[str, list[tuple]]:
    return {
        r["DeviceName"]: [(d["RemoteIP"], d["RemotePort"], d["Prevalence"]) for d in r["set_Details"]]
        for r in run_rule("supply_chain_network_connections", data=out, **kwargs)
    }


@needs_realdata
def test_end_to_end_the_rule_on_real_logs(tmp_path):
    """What the rule finds in the shire lab (HFDC01 is the DC; winhup.exe of Amazon's cfn-bootstrap runs on HFDC01,
    IT001, HR001 and ACCT001 and calls 54.239.28.223:443). `now` = the newest event (2019-12-05 04:45 UTC)."""
    shire = tmp_path / "shire"
    ingest("sysmon", [PERSIST, GRUNT], shire)
    assert alerts(shire, now="latest") == {
        # The DC is the only server; "Amazon" (and, in a one-server lab, even "Microsoft Corporation") is on fewer
        # than 10 servers, so all its new public destinations with prevalence < 6 alert: the winhup call (seen
        # from 4 devices) and svchost's NTP to 13.86.101.172.
        "hfdc01.shire.com": [("13.86.101.172", 123, 2), ("54.239.28.223", 443, 4)],
    }
    # Only vendors on a single server count as third party: none is on fewer than 1.
    assert alerts(shire, now="latest", params={"max_vendor_servers": 1}) == {}

    with_assets = tmp_path / "assets"
    ingest("sysmon", [PERSIST, GRUNT], with_assets, assets=DATA / "assets_shire.csv")
    assert alerts(with_assets, now="latest") == {
        "file001.shire.com": [("13.86.101.172", 123, 2), ("23.63.247.25", 80, 1)],
        "hfdc01.shire.com": [("13.86.101.172", 123, 2), ("54.239.28.223", 443, 4)],
    }

    # MORDORDC (2020-07-22) talks only through Microsoft agents; with one server in the lab Microsoft is "rare".
    mordor = tmp_path / "mordor"
    ingest("sysmon", [EMPIRE], mordor)
    assert set(alerts(mordor, now="latest")) == {"mordordc.mordor.local"}
    assert alerts(mordor, now="latest", params={"max_vendor_servers": 1}) == {}
