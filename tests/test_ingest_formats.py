"""`detector ingest`: combined (union) exports routed row by row, the Advanced Hunting API's JSON document
(`--from defender-api`) and Event Hubs Capture Avro files (`--from defender-capture`), from fixtures made of
Microsoft's documented examples (tests/data/ingest/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_ingest import DATA, assert_documented_schema, cli, invoke, rows, utc
from typer.testing import CliRunner

from detector.api import run_rule
from detector.errors import SourceError
from detector.ingest import FORMATS, defender_api, ingest

NET, INFO, FILES = "DeviceNetworkEvents", "DeviceInfo", "DeviceFileEvents"
WKS = "wks-fin07.contoso.com"

# ---------------------------------------------------------------------------------------------------- union exports

# The six rows of union_export.csv / .jsonl: a `union` over several tables, `project`ed to common columns.
UNION_SKIPPED = {
    "rows of another table (columns of DeviceProcessEvents)": 1,
    "rows that fit no known table (filled columns of DeviceNetworkEvents and DeviceInfo)": 1,
}


def assert_union_routed(out, summary, undecided_line: int) -> None:
    (only,) = summary.files
    assert only.read == 6
    assert (only.written[NET], only.written[FILES], only.written[INFO]) == (1, 1, 1)
    assert only.skipped == UNION_SKIPPED
    # the DeviceRegistryEvents-like row fills only columns every table has
    assert [(s.line, s.reason.split(" (")[0]) for s in only.samples] == [
        (undecided_line, "cannot tell the table from the filled columns")
    ]
    assert "try union withsource=Table" in only.samples[0].reason
    (network,) = rows(out, NET)
    assert (network["ActionType"], network["RemoteIP"], network["RemotePort"]) == (
        "ConnectionSuccess",
        "203.0.113.77",
        3389,
    )
    assert network["Timestamp"] == utc(2026, 11, 20, 10, 0, 5)
    (file_event,) = rows(out, FILES)
    assert (file_event["ActionType"], file_event["FileName"], file_event["ReportId"]) == (
        "FileCreated",
        "aws_iam_check.exe",
        5001,
    )
    (info,) = rows(out, INFO)
    assert (info["OSPlatform"], info["DeviceType"], info["DeviceName"]) == ("Windows11", "Workstation", WKS)


def test_union_csv_export_is_routed_row_by_row(tmp_path):
    """A union's header has the columns of several tables: each row goes to the table its filled columns tell,
    not wholesale to DeviceNetworkEvents (what the header's RemoteIP used to decide)."""
    assert_union_routed(tmp_path, ingest("defender-csv", [DATA / "union_export.csv"], tmp_path), 6)


def test_union_json_lines_export_is_routed_row_by_row(tmp_path):
    """The same rows as JSON objects with nulls for the other tables' columns (as `| project` writes them)."""
    summary = ingest("defender-jsonl", [DATA / "union_export.jsonl"], tmp_path)
    assert_union_routed(tmp_path, summary, 5)  # no header line


def test_single_table_rows_keep_their_table_when_telling_cells_are_empty(tmp_path):
    """A one-table export is not a union: a network row with a null RemoteIP (or a streamed record's MachineGroup)
    is still a network row; a Type column, when empty, falls back to the columns."""
    lines = tmp_path / "network.jsonl"
    lines.write_text(
        '{"Timestamp": "2026-11-20T10:00:00Z", "DeviceName": "a", "RemoteIP": null, "RemotePort": 0, "LocalPort": 5}\n'
        '{"Timestamp": "2026-11-20T10:00:01Z", "DeviceName": "a", "RemoteIP": "10.0.0.1", "MachineGroup": "Servers"}\n'
    )
    (only,) = ingest("defender-jsonl", [lines], tmp_path / "a").files
    assert only.written[NET] == 2 and not only.skipped and not only.rejected
    typed = tmp_path / "typed.csv"
    typed.write_text(
        "Type,Timestamp,DeviceName,RemoteIP,OSPlatform\n"
        ",2026-11-20T10:00:00Z,a,10.0.0.1,\n"  # no Type: the header is a union's, the filled RemoteIP decides
        "DeviceInfo,2026-11-20T10:00:00Z,a,,Windows11\n"
    )
    (only,) = ingest("defender-csv", [typed], tmp_path / "b").files
    assert (only.written[NET], only.written[INFO]) == (1, 1)


# ---------------------------------------------------------------------------------------------------- capture fixture

# The Avro schema of Event Hubs Capture files, as Microsoft documents it (`avro-tools getschema` of a capture file).
CAPTURE_SCHEMA = {
    "type": "record",
    "name": "EventData",
    "namespace": "Microsoft.ServiceBus.Messaging",
    "fields": [
        {"name": "SequenceNumber", "type": "long"},
        {"name": "Offset", "type": "string"},
        {"name": "EnqueuedTimeUtc", "type": "string"},
        {"name": "SystemProperties", "type": {"type": "map", "values": ["long", "double", "string", "bytes"]}},
        {"name": "Properties", "type": {"type": "map", "values": ["long", "double", "string", "bytes"]}},
        {"name": "Body", "type": ["null", "bytes"]},
    ],
}
CAPTURE = DATA / "eventhubs_capture.avro"
# Its events' bodies: the streaming API messages of the defender-stream fixtures, compact as Event Hubs carries them.
CAPTURE_BODIES = ["eventhub_message.json", "eventhub_DeviceFileEvents.json"]


def write_capture(path: Path, bodies: list[bytes | None], schema: dict = CAPTURE_SCHEMA) -> None:
    """An Event Hubs Capture file: one event per body, deflate-compressed blocks (what Capture writes).
    tests/data/ingest/eventhubs_capture.avro is `write_capture(CAPTURE, capture_bodies())`."""
    events = [
        {
            "SequenceNumber": 4200 + n,
            "Offset": str(4294967296 + 1024 * n),
            "EnqueuedTimeUtc": f"11/20/2026 11:20:4{n} AM",
            "SystemProperties": {"x-opt-sequence-number": 4200 + n, "x-opt-enqueued-time": 1795173641000 + n},
            "Properties": {},
            "Body": body,
        }
        for n, body in enumerate(bodies)
    ]
    fastavro = pytest.importorskip("fastavro")
    with open(path, "wb") as out:
        fastavro.writer(out, fastavro.parse_schema(schema), events, codec="deflate")


def capture_bodies() -> list[bytes]:
    return [json.dumps(json.loads((DATA / name).read_text())).encode() for name in CAPTURE_BODIES]


# ---------------------------------------------------------------------------------------------------- API documents


def unreadable(output: str) -> dict[str, str]:
    """The summary's `unreadable files:` lines: file -> problem (without the "FileError: " every format's
    file errors start with)."""
    section = output.split("unreadable files:\n")[1].split("\nnotes:")[0]
    return {
        file: problem.removeprefix("FileError: ")
        for file, problem in (line.strip().split(": ", 1) for line in section.splitlines())
    }


API = DATA / "api_advancedhunting_run.json"  # POST api.security.microsoft.com/api/advancedhunting/run
GRAPH = DATA / "graph_runhuntingquery.json"  # POST graph.microsoft.com/v1.0/security/runHuntingQuery


def test_api_document_round_trip(tmp_path):
    """The documented response (Stats, Schema, Results) of a union over DeviceNetworkEvents, DeviceInfo and
    DeviceProcessEvents: each row is routed by its filled columns and typed by the Schema."""
    summary = ingest("defender-api", [API], tmp_path)
    (only,) = summary.files
    assert (only.read, only.written[NET], only.written[INFO], only.rejected) == (6, 2, 1, 2)
    assert only.skipped == {"rows of another table (columns of DeviceProcessEvents)": 1}
    assert [s.reason for s in only.samples] == [
        "row 5: RemotePort: 'https' is not an integer (declared Int32 in the Schema)",
        "row 6: IsInitiatingProcessRemoteSession: 'maybe' is not true or false (declared Boolean in the Schema)",
    ]
    assert_documented_schema(tmp_path, NET)
    assert_documented_schema(tmp_path, INFO)
    source = {r["ReportId"]: r for r in json.loads(API.read_text())["Results"]}
    first, second = rows(tmp_path, NET)
    assert first["Timestamp"] == utc(2026, 11, 20, 10, 0, 0, 123456)  # DateTime: 7 digits truncated to µs
    assert first["InitiatingProcessCreationTime"] == utc(2026, 11, 20, 9, 59, 58, 0)
    assert first["ReportId"] == 123456789012345678  # Int64: 18 digits, exact
    assert (first["RemotePort"], first["LocalPort"], first["InitiatingProcessId"]) == (443, 50123, 4312)
    assert first["IsInitiatingProcessRemoteSession"] is False  # Boolean
    assert first["AdditionalFields"] == '{"TlsVersion":"1.2"}'  # Object: compact JSON text
    assert first["RemoteUrl"] is None and second["RemoteUrl"] == ""  # null stays null, "" stays ""
    assert second["Timestamp"] == utc(2026, 11, 21)  # 0.0000001 s past midnight: the 21st
    for row in (first, second):  # every other column of the Schema: the same value
        for name, value in source[row["ReportId"]].items():
            if name in row and isinstance(value, str) and name not in ("Timestamp", "InitiatingProcessCreationTime"):
                assert row[name] == value, name
    (info,) = rows(tmp_path, INFO)
    assert (info["OSPlatform"], info["DeviceType"], info["OSBuild"], info["IsAzureADJoined"]) == (
        "WindowsServer2022",
        "Server",
        20348,
        True,
    )
    # the rule runs on what was ingested: the server's new connection by a rare vendor alerts
    alerts = run_rule("supply_chain_network_connections", data=tmp_path, now="2026-11-20T12:00:00Z")
    assert [(a["DeviceName"], [(d["RemoteIP"], d["RemotePort"]) for d in a["set_Details"]]) for a in alerts] == [
        ("srv-app01.contoso.com", [("52.168.112.67", 443)])
    ]


def test_graph_document_with_a_table_column(tmp_path):
    """Microsoft Graph's runHuntingQuery: `schema` / `results`, `name` / `type`; `union withsource=Table` names
    each row's table."""
    (only,) = ingest("defender-api", [GRAPH], tmp_path).files
    assert (only.read, only.written[NET], only.written[FILES], only.rejected) == (3, 1, 1, 0)
    assert only.skipped == {"rows of another table (Table DeviceRegistryEvents)": 1}
    (connection,) = rows(tmp_path, NET)
    assert (connection["RemoteIP"], connection["RemotePort"], connection["Timestamp"]) == (
        "203.0.113.77",
        3389,
        utc(2026, 11, 20, 10, 0, 5),
    )
    (created,) = rows(tmp_path, FILES)
    assert (created["FileName"], created["FileSize"], created["ReportId"]) == ("aws_iam_check.exe", 73728, 5001)
    assert created["Timestamp"] == utc(2026, 11, 20, 10, 3, 10, 987654)


def test_api_document_is_streamed_across_chunks(tmp_path, monkeypatch):
    """Read 7 characters at a time (numbers, strings and rows cut anywhere): the same rows as in one read."""
    whole = ingest("defender-api", [API], tmp_path / "whole")
    monkeypatch.setattr(defender_api, "_CHUNK", 7)
    small = ingest("defender-api", [API], tmp_path / "small")
    assert small.files[0].written == whole.files[0].written and small.files[0].samples == whole.files[0].samples
    assert rows(tmp_path / "small", NET) == rows(tmp_path / "whole", NET)


def test_api_document_with_results_before_schema(tmp_path):
    document = json.loads(GRAPH.read_text())
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps({"results": document["results"], "schema": document["schema"]}))
    (only,) = ingest("defender-api", [reordered], tmp_path / "out").files
    assert (only.written[NET], only.written[FILES]) == (1, 1)


def test_bad_api_documents_are_reported_and_the_others_read(tmp_path):
    no_results = tmp_path / "no_results.json"
    no_results.write_text(json.dumps({"Stats": {}, "Schema": [{"Name": "Timestamp", "Type": "DateTime"}]}))
    no_schema = tmp_path / "no_schema.json"
    no_schema.write_text(json.dumps({"Results": [{"Timestamp": "2026-11-20T10:00:00Z", "RemoteIP": "1.2.3.4"}]}))
    truncated = tmp_path / "truncated.json"
    text = API.read_text()
    truncated.write_text(text[: text.index('"ReportId": 2,')])  # cut inside the second row of Results
    not_json = tmp_path / "export.csv.json"
    not_json.write_bytes((DATA / "portal_DeviceNetworkEvents.csv").read_bytes())
    untold = tmp_path / "documented_example.json"  # Microsoft's example: a projection of DeviceProcessEvents
    untold.write_text(
        json.dumps(
            {
                "Schema": [
                    {"Name": n, "Type": "String"} for n in ("Timestamp", "FileName", "InitiatingProcessFileName")
                ],
                "Results": [{"Timestamp": "2020-08-30T06:38:35.7664356Z", "FileName": "conhost.exe"}],
            }
        )
    )
    files = [no_results, no_schema, truncated, not_json, untold, API]
    result = invoke("--from", "defender-api", *files, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output  # one file could be read
    problems = unreadable(result.output)
    assert problems == {
        str(no_results): "no Results (or results): not an Advanced Hunting API response",
        str(no_schema): "no Schema (or schema) giving the column types: not an Advanced Hunting API response",
        str(truncated): problems[str(truncated)],
        str(not_json): "not a JSON object: not an Advanced Hunting API response (Schema and Results)",
        str(untold): "cannot tell the table from the Schema (" + problems[str(untold)].split(" (", 1)[1],
    }
    assert problems[str(truncated)].startswith("not valid JSON at character ")
    assert "give --table DeviceNetworkEvents" in problems[str(untold)]
    summary = {Path(f.file).name: f for f in ingest("defender-api", files, tmp_path / "again").files}
    assert summary["truncated.json"].written[NET] == 1  # the rows before the break are kept: "(stopped early)"
    assert [name for name, f in summary.items() if f.failed] == [p.name for p in files[:2] + files[3:5]]
    assert summary[API.name].written[NET] == 2
    nothing = invoke("--from", "defender-api", no_results, "--out", tmp_path / "none")
    assert nothing.exit_code == 2 and "nothing could be read" in nothing.output


# ---------------------------------------------------------------------------------------------------- capture files


def test_capture_fixture_has_the_documented_schema():
    fastavro = pytest.importorskip("fastavro")
    with open(CAPTURE, "rb") as fixture:
        avro = fastavro.reader(fixture)
        name = f"{CAPTURE_SCHEMA['namespace']}.{CAPTURE_SCHEMA['name']}"
        assert avro.writer_schema == {"type": "record", "name": name, "fields": CAPTURE_SCHEMA["fields"]}
        assert avro.codec == "deflate"
        assert [event["Body"] for event in avro] == capture_bodies()


def test_capture_file_round_trip(tmp_path):
    """The Capture file's bodies are the defender-stream fixtures' messages: the same rows, values and types."""
    pytest.importorskip("fastavro")
    capture = ingest("defender-capture", [CAPTURE], tmp_path / "capture")
    stream = ingest("defender-stream", [DATA / name for name in CAPTURE_BODIES], tmp_path / "stream")
    (only,) = capture.files
    assert (only.read, only.written[NET], only.written[INFO], only.written[FILES]) == (14, 3, 1, 6)
    assert only.written == stream.written and only.skipped == stream.skipped
    assert [s.reason for s in only.samples] == [
        "event 1 (SequenceNumber 4200): record 5: properties.Timestamp is missing (the envelope's time is not the "
        "event time)",
        "event 2 (SequenceNumber 4201): record 9: properties.Timestamp is missing (the envelope's time is not the "
        "event time)",
    ]
    for table in (NET, INFO, FILES):
        assert_documented_schema(tmp_path / "capture", table)
        assert rows(tmp_path / "capture", table) == rows(tmp_path / "stream", table)
    first = rows(tmp_path / "capture", NET)[0]
    assert first["Timestamp"] == utc(2026, 11, 20, 10, 0, 0, 123456) and first["ReportId"] == 987654321098765432


def test_bad_capture_files_are_reported_and_the_others_read(tmp_path):
    fastavro = pytest.importorskip("fastavro")
    other_schema = tmp_path / "other.avro"
    with open(other_schema, "wb") as out:
        schema = {"type": "record", "name": "Reading", "fields": [{"name": "Body", "type": "string"}]}
        fastavro.writer(out, fastavro.parse_schema(schema), [{"Body": "x"}])
    truncated = tmp_path / "truncated.avro"
    truncated.write_bytes(CAPTURE.read_bytes()[:-200])
    not_avro = tmp_path / "message.avro"
    not_avro.write_bytes((DATA / "eventhub_message.json").read_bytes())
    empty_body = tmp_path / "empty_body.avro"
    write_capture(empty_body, [None, capture_bodies()[0]])
    files = [other_schema, truncated, not_avro, empty_body, CAPTURE]
    result = invoke("--from", "defender-capture", *files, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    problems = unreadable(result.output)
    assert problems[str(other_schema)] == (
        "not an Event Hubs Capture file: its Avro schema is Reading with fields Body; Capture's EventData has "
        "SequenceNumber, Offset, EnqueuedTimeUtc, SystemProperties, Properties, Body (bytes)"
    )
    assert problems[str(truncated)].startswith("corrupt Avro data after event ")
    assert problems[str(not_avro)].startswith("not an Avro file (")
    assert set(problems) == {str(other_schema), str(truncated), str(not_avro)}
    assert f"{empty_body}: event 1 (SequenceNumber 4200): no Body" in result.output
    summary = {Path(f.file).name: f for f in ingest("defender-capture", files, tmp_path / "again").files}
    assert summary["empty_body.avro"].written[NET] == 2 and summary[CAPTURE.name].written[NET] == 3


def test_capture_without_fastavro_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastavro", None)  # import fastavro raises ImportError
    with pytest.raises(SourceError, match=r"needs fastavro: pip install 'kql-detector\[capture\]'"):
        ingest("defender-capture", [CAPTURE], tmp_path)
    result = invoke("--from", "defender-capture", CAPTURE, "--out", tmp_path)
    assert result.exit_code == 2 and "kql-detector[capture]" in result.output


# ---------------------------------------------------------------------------------------------------- docs


def test_help_and_readme_show_every_format_with_a_runnable_example(tmp_path):
    result = CliRunner().invoke(cli(), ["ingest", "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    for fmt in FORMATS:
        assert fmt in text, fmt
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    examples = [line.removeprefix("$ ").split() for line in readme.splitlines() if line.startswith("$ detector ingest")]
    shown = {example[example.index("--from") + 1] for example in examples}
    assert shown >= set(FORMATS) - {"sysmon"}  # sysmon's example reads ../shared/realdata
    for example in examples:
        fmt, source = example[example.index("--from") + 1], example[example.index("--from") + 2]
        if fmt != "sysmon":
            out = tmp_path / fmt
            assert not ingest(fmt, [Path(__file__).parents[1] / source], out).nothing_read, example
    for example in ("--from defender-api tests/data/", "--from defender-capture tests/data/"):
        assert example in text
