"""`detector ingest`: combined (union) exports routed row by row, the Advanced Hunting API's JSON document
(`--from defender-api`) and Event Hubs Capture Avro files (`--from defender-capture`), from fixtures made of
Microsoft's documented examples (tests/data/ingest/)."""

from __future__ import annotations

from test_ingest import DATA, rows, utc

from detector.ingest import ingest

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
