"""detector.generate: layout, schema, counts, determinism, realism of the bulk, and the planted cases (the rules'
cases marked plant, placed into the fleet)."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detector import types
from detector.cases import load_cases
from detector.errors import RuleError
from detector.generate import PLANTED_REPORT_ID_BASE, FleetSummary, generate_fleet
from detector.rule import discover, load_rule, sql_root
from detector.tables import load_table

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
RULE = "supply_chain_network_connections"

# What the fleet writes: its own columns, in this order, typed as sql/_tables documents them.
EVENT_SCHEMA = {
    "Timestamp": TS,
    "DeviceId": pa.string(),
    "DeviceName": pa.string(),
    "ActionType": pa.string(),
    "RemoteIP": pa.string(),
    "RemotePort": pa.int32(),
    "RemoteUrl": pa.string(),
    "RemoteIPType": pa.string(),
    "InitiatingProcessVersionInfoCompanyName": pa.string(),
    "LocalIP": pa.string(),
    "LocalPort": pa.int32(),
    "Protocol": pa.string(),
    "InitiatingProcessFileName": pa.string(),
    "ReportId": pa.int64(),
}
INFO_SCHEMA = {
    "Timestamp": TS,
    "DeviceId": pa.string(),
    "DeviceName": pa.string(),
    "DeviceType": pa.string(),
    "OSPlatform": pa.string(),
    "OSArchitecture": pa.string(),
    "MachineGroup": pa.string(),
    "ReportId": pa.int64(),
}

# The rule, written directly from the seed and semantics.md (strings coalesced to '', case-sensitive equality,
# case-insensitive startswith, strict windows, exact distinct counts), as an independent check of the plants.
RULE_SQL = """
WITH server_list AS (
    SELECT DISTINCT coalesce(DeviceName, '') AS DeviceName FROM di
    WHERE Timestamp > $now - INTERVAL 14 DAY AND coalesce(OSPlatform, '') <> ''
      AND coalesce(DeviceType, '') <> 'Workstation' AND coalesce(OSPlatform, '') <> 'macOS'
), srv_ev AS (
    SELECT coalesce(DeviceName, '') AS DeviceName, coalesce(RemoteIP, '') AS RemoteIP, RemotePort, Timestamp,
           coalesce(InitiatingProcessVersionInfoCompanyName, '') AS Company
    FROM ev
    WHERE Timestamp > $now - INTERVAL 14 DAY
      AND coalesce(DeviceName, '') IN (SELECT DeviceName FROM server_list)
      AND coalesce(ActionType, '') <> 'ListeningConnectionCreated'
      AND coalesce(RemoteIPType, '') NOT IN ('Private', 'Loopback')
      AND NOT (coalesce(RemoteIPType, '') = 'FourToSixMapping'
               AND starts_with(lower(coalesce(RemoteIP, '')), '::ffff:'))
), third_party AS (
    SELECT DISTINCT DeviceName FROM srv_ev
    WHERE Company IN (SELECT Company FROM srv_ev GROUP BY Company HAVING count(DISTINCT DeviceName) < 10)
), baseline AS (
    SELECT DeviceName, RemoteIP, RemotePort, min(Timestamp) AS starttime FROM srv_ev
    WHERE DeviceName IN (SELECT DeviceName FROM third_party) GROUP BY ALL
), prevalence AS (
    SELECT coalesce(RemoteIP, '') AS RemoteIP, count(DISTINCT coalesce(DeviceId, '')) AS Prevalence FROM ev
    WHERE Timestamp > $now - INTERVAL 5 DAY AND coalesce(RemoteIP, '') IN (SELECT RemoteIP FROM baseline)
    GROUP BY 1
)
SELECT b.DeviceName, b.RemoteIP, b.RemotePort
FROM baseline b LEFT JOIN prevalence p USING (RemoteIP)
WHERE b.starttime > $now - INTERVAL 1 DAY AND (p.Prevalence < 6 OR p.Prevalence IS NULL)
"""


def _connect(out: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE di AS SELECT * FROM read_parquet($p)", {"p": str(out / "DeviceInfo" / "*.parquet")})
    con.execute(
        "CREATE TABLE ev AS SELECT * FROM read_parquet($p, hive_partitioning = false)",
        {"p": str(out / "DeviceNetworkEvents" / "*" / "*.parquet")},
    )
    return con


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[FleetSummary, duckdb.DuckDBPyConnection, list]:
    calls: list[tuple[int, int]] = []
    out = tmp_path_factory.mktemp("gen") / "fleet"
    # the seed rule's plants alone: what the tests below check (other installed rules plant on top by default)
    summary = generate_fleet(out, now=NOW, rules=[RULE], progress=lambda done, total: calls.append((done, total)))
    return summary, _connect(out), calls


@pytest.fixture(scope="module")
def plant_cases():
    return [c for c in load_cases(load_rule(RULE)) if c.plant]


def one(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None):
    return con.execute(sql, params or {}).fetchone()[0]


# ----------------------------------------------------------------------------------------------------------------
# Layout, schema, counts
# ----------------------------------------------------------------------------------------------------------------


def test_layout_and_schema(fleet):
    summary, _, _ = fleet
    out = summary.out
    assert sorted(p.name for p in out.iterdir()) == ["DeviceInfo", "DeviceNetworkEvents", "_fleet.json"]
    assert [p.name for p in (out / "DeviceInfo").iterdir()] == ["part-0.parquet"]
    info = pq.read_schema(out / "DeviceInfo" / "part-0.parquet")
    assert dict(zip(info.names, info.types, strict=True)) == INFO_SCHEMA

    first = (NOW - timedelta(days=14)).date()
    expected_days = [first + timedelta(days=k) for k in range((NOW.date() - first).days + 1)]
    parts = sorted((out / "DeviceNetworkEvents").iterdir())
    assert [p.name for p in parts] == [f"date={d.isoformat()}" for d in expected_days]
    for part in parts:
        assert [f.name for f in part.iterdir()] == ["part-0.parquet"]
        schema = pq.read_schema(part / "part-0.parquet")
        assert dict(zip(schema.names, schema.types, strict=True)) == EVENT_SCHEMA
    # nothing left behind next to the output (temp or old folders)
    assert [p.name for p in out.parent.iterdir()] == ["fleet"]


def test_schema_types_are_the_documented_ones():
    for table, schema in (("DeviceNetworkEvents", EVENT_SCHEMA), ("DeviceInfo", INFO_SCHEMA)):
        documented = load_table(table).columns
        assert {c: types.get(documented[c]).arrow for c in schema} == schema


def test_manifest_lists_rules_and_planted_cases(fleet, plant_cases):
    summary, _, _ = fleet
    manifest = json.loads((summary.out / "_fleet.json").read_text())
    assert manifest["network_event_rows"] == summary.network_event_rows
    assert manifest["device_info_rows"] == summary.device_info_rows
    assert manifest["arguments"]["rules"] == [RULE]
    assert manifest["rules"] == list(summary.rules) == [RULE]
    assert [(p["rule"], p["case"]) for p in manifest["planted"]] == [(c.rule, c.name) for c in summary.planted]
    assert [p["case"] for p in manifest["planted"] if p["rule"] == RULE] == [c.name for c in plant_cases]
    assert [p["summary"] for p in manifest["planted"]] == [c.summary for c in summary.planted]
    assert manifest["left_out"] == []
    assert sum(p["rows"].get("DeviceNetworkEvents", 0) for p in manifest["planted"]) == summary.planted_event_rows


def test_row_counts(fleet):
    summary, con, _ = fleet
    assert summary.servers == 40 and summary.workstations == 60
    assert one(con, "SELECT count(*) FROM ev") == summary.network_event_rows == 20_000 + summary.planted_event_rows
    assert one(con, "SELECT count(*) FROM ev WHERE ReportId < $b", {"b": PLANTED_REPORT_ID_BASE}) == 20_000
    assert one(con, "SELECT count(*) FROM ev WHERE DeviceName LIKE '%planted%'") == summary.planted_event_rows > 0
    assert one(con, "SELECT count(*) FROM ev WHERE ReportId >= $b", {"b": PLANTED_REPORT_ID_BASE}) == (
        summary.planted_event_rows
    )
    assert one(con, "SELECT count(DISTINCT ReportId) FROM ev") == summary.network_event_rows
    assert one(con, "SELECT count(*) FROM di") == summary.device_info_rows
    assert one(con, "SELECT count(DISTINCT ReportId) FROM di") == summary.device_info_rows
    bulk_devices = one(con, "SELECT count(DISTINCT DeviceName) FROM di WHERE DeviceName NOT LIKE '%planted%'")
    assert bulk_devices == 100
    assert one(con, "SELECT count(*) FROM di WHERE DeviceName NOT LIKE '%planted%'") == 100 * 14
    assert one(con, "SELECT count(DISTINCT DeviceName) FROM di WHERE DeviceName LIKE '%planted%'") == (
        summary.planted_devices
    )
    assert one(con, "SELECT count(DISTINCT DeviceId) FROM ev WHERE DeviceName NOT LIKE '%planted%'") == 100


def test_progress_reports_every_partition(fleet):
    summary, _, calls = fleet
    assert len(calls) == len(list((summary.out / "DeviceNetworkEvents").iterdir()))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (summary.network_event_rows, summary.network_event_rows)


def test_files_sorted_by_timestamp_and_partitioned_by_utc_day(fleet):
    summary, con, _ = fleet
    for part in sorted((summary.out / "DeviceNetworkEvents").iterdir()):
        path = str(part / "part-0.parquet")
        unsorted = one(
            con,
            "SELECT count(*) FROM (SELECT Timestamp < lag(Timestamp) OVER (ORDER BY file_row_number) AS back "
            "FROM read_parquet($p, file_row_number = true)) WHERE back",
            {"p": path},
        )
        assert unsorted == 0, part.name
        day = date.fromisoformat(part.name.removeprefix("date="))
        assert one(con, "SELECT count(*) FROM read_parquet($p) WHERE Timestamp::DATE <> $d", {"p": path, "d": day}) == 0


def test_timestamps_inside_window_and_bulk_off_the_edges(fleet):
    _, con, _ = fleet
    params = {"now": NOW, "lo": NOW - timedelta(days=14)}
    assert one(con, "SELECT count(*) FROM ev WHERE NOT (Timestamp > $lo AND Timestamp <= $now)", params) == 0
    assert one(con, "SELECT count(*) FROM di WHERE NOT (Timestamp > $lo AND Timestamp <= $now)", params) == 0
    edges = [NOW - timedelta(days=d) for d in (0, 1, 5, 14)]
    bulk_on_edges = one(
        con,
        "SELECT count(*) FROM ev WHERE ReportId < $b AND (Timestamp = ANY($edges) OR Timestamp >= $now)",
        {"b": PLANTED_REPORT_ID_BASE, "edges": edges, "now": NOW},
    )
    assert bulk_on_edges == 0
    # spread over the whole window, every day
    per_day = con.execute(
        "SELECT count(*) FROM ev WHERE ReportId < $b GROUP BY floor(epoch($now - Timestamp) / 86400)",
        {"b": PLANTED_REPORT_ID_BASE, "now": NOW},
    ).fetchall()
    assert len(per_day) == 14 and min(n for (n,) in per_day) > 1000


# ----------------------------------------------------------------------------------------------------------------
# Determinism, replacement, arguments
# ----------------------------------------------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(tmp_path):
    args = {"servers": 12, "workstations": 9, "events": 30_000, "days": 6, "now": NOW, "seed": 11}
    generate_fleet(tmp_path / "a", **args)
    generate_fleet(tmp_path / "b", **args)
    first = _tree_digest(tmp_path / "a")
    assert first == _tree_digest(tmp_path / "b")
    generate_fleet(tmp_path / "a", **args)  # replacing a previous fleet in place
    assert _tree_digest(tmp_path / "a") == first
    generate_fleet(tmp_path / "c", **{**args, "seed": 12})
    other = _tree_digest(tmp_path / "c")
    assert other.keys() == first.keys() and other != first


def test_replaces_only_a_previous_fleet(tmp_path):
    out = tmp_path / "fleet"
    generate_fleet(out, servers=2, workstations=1, events=50, days=2, now=NOW)
    (out / "stale.txt").write_text("from an older run")
    summary = generate_fleet(out, servers=2, workstations=1, events=70, days=2, now=NOW)
    assert not (out / "stale.txt").exists()
    assert summary.network_event_rows == 70 + summary.planted_event_rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet"]

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="out"):
        generate_fleet(foreign, events=10, days=2, now=NOW)
    assert (foreign / "keep.txt").read_text() == "mine"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="out"):
        generate_fleet(a_file, events=10, days=2, now=NOW)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("servers", 0),
        ("servers", -3),
        ("workstations", -1),
        ("events", -1),
        ("days", 0),
        ("days", -2),
        ("servers", 1.5),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(tmp_path, argument, value):
    with pytest.raises(ValueError, match=argument):
        generate_fleet(tmp_path / "fleet", now=NOW, **{"events": 10, argument: value})
    assert not (tmp_path / "fleet").exists()
    assert list(tmp_path.iterdir()) == []


def test_unknown_rule_raises(tmp_path):
    with pytest.raises(RuleError, match="no_such_rule"):
        generate_fleet(tmp_path / "fleet", events=10, days=2, now=NOW, rules=["no_such_rule"])
    assert list(tmp_path.iterdir()) == []


def test_default_plants_every_installed_rule(tmp_path):
    """No `rules`: every installed rule's plant cases (the manifest says None), whatever tables they fill."""
    summary = generate_fleet(tmp_path / "all", servers=3, workstations=2, events=100, now=NOW)
    with_plants = [slug for slug in sorted(discover()) if any(c.plant for c in load_cases(load_rule(slug)))]
    assert list(summary.rules) == with_plants and RULE in with_plants
    assert {c.rule for c in summary.planted} <= set(with_plants)
    manifest = json.loads((summary.out / "_fleet.json").read_text())
    assert manifest["arguments"]["rules"] is None and manifest["rules"] == with_plants
    for table, count in summary.other_tables.items():  # tables the fleet does not generate: the planted rows
        assert pq.read_metadata(summary.out / table / "part-0.parquet").num_rows == count > 0


def test_no_rules_gives_the_bulk_alone(tmp_path, fleet):
    summary = generate_fleet(tmp_path / "bulk", now=NOW, rules=[])
    assert summary.planted == () and summary.rules == () and summary.planted_event_rows == 0
    assert summary.network_event_rows == 20_000 and summary.device_info_rows == 100 * 14
    # the bulk does not depend on what is planted: the same rows as in the full fleet, minus the planted ones
    bulk = "SELECT * FROM read_parquet($p) WHERE ReportId < $b ORDER BY ReportId"
    con = duckdb.connect()
    for path in ("DeviceNetworkEvents/*/*.parquet", "DeviceInfo/*.parquet"):
        with_plants, alone = (
            con.execute(bulk, {"p": str(out / path), "b": PLANTED_REPORT_ID_BASE}).fetchall()
            for out in (fleet[0].out, summary.out)
        )
        assert with_plants == alone, path


def test_naive_now_is_utc_and_small_windows_keep_only_fitting_plants(tmp_path, plant_cases):
    naive = NOW.replace(tzinfo=None)
    summary = generate_fleet(tmp_path / "f", servers=1, workstations=0, events=0, days=1, now=naive, rules=[RULE])
    con = _connect(summary.out)
    assert summary.network_event_rows == summary.planted_event_rows > 0
    assert 0 < len(summary.planted) < len(plant_cases)
    assert len(summary.planted) + len(summary.left_out) == len(plant_cases)
    params = {"now": NOW, "lo": NOW - timedelta(days=1)}
    assert one(con, "SELECT count(*) FROM ev WHERE NOT (Timestamp > $lo AND Timestamp <= $now)", params) == 0
    assert one(con, "SELECT count(*) FROM di WHERE NOT (Timestamp > $lo AND Timestamp <= $now)", params) == 0
    # a case comes whole or not at all: every planted case's events are all there
    by_name = {c.name: c for c in plant_cases}
    for case in summary.planted:
        assert case.rows["DeviceNetworkEvents"] == len(by_name[case.name].inputs["DeviceNetworkEvents"])
    # left out: a case with an event more than a day old, and one whose only Server snapshot is 2 days old
    left = {c.split("/")[1] for c in summary.left_out}
    assert {"planted_01_rare_vendor_new_ip", "planted_06_one_server_snapshot"} <= left
    assert "planted_03_null_device_type" not in left
    assert _alerts_match_plants(con, summary)


# ----------------------------------------------------------------------------------------------------------------
# Planted cases: the seed rule's cases marked plant
# ----------------------------------------------------------------------------------------------------------------


def _expected(cases) -> set[tuple[str, str, int]]:
    """(DeviceName, RemoteIP, RemotePort) of every record the seed rule's cases expect."""
    return {
        (r["DeviceName"], d["RemoteIP"], d["RemotePort"])
        for c in cases
        if c.rule == RULE
        for r in c.expect
        for d in r["set_Details"]
    }


def _alerts_match_plants(con: duckdb.DuckDBPyConnection, summary: FleetSummary) -> bool:
    alerts = set(con.execute(RULE_SQL, {"now": NOW}).fetchall())
    planted_alerts = {a for a in alerts if "planted" in a[0]}
    return planted_alerts == _expected(summary.planted)


def test_planted_cases_are_the_rules_plant_cases(fleet, plant_cases):
    summary, _, _ = fleet
    assert [c.name for c in summary.planted if c.rule == RULE] == [c.name for c in plant_cases]
    assert len(plant_cases) == 16
    assert _expected(plant_cases) == _expected(summary.planted) and len(_expected(plant_cases)) == 7
    for case in summary.planted:
        assert case.summary and case.summary == case.description.split("\n")[0]


def test_planted_rows_are_the_cases_rows(fleet, plant_cases):
    """At the cases' own now, every planted row is its case's row, column for column (absent columns null)."""
    _, con, _ = fleet
    for table, alias, schema in (("DeviceNetworkEvents", "ev", EVENT_SCHEMA), ("DeviceInfo", "di", INFO_SCHEMA)):
        expected = sorted(
            (tuple(r.get(c) for c in schema) for case in plant_cases for r in case.inputs[table]),
            key=lambda row: row[-1],
        )
        got = con.execute(
            f"SELECT * FROM {alias} WHERE ReportId >= $b ORDER BY ReportId", {"b": PLANTED_REPORT_ID_BASE}
        )
        assert got.fetchall() == expected, table


def test_planted_rows_move_with_now(tmp_path, plant_cases):
    later = NOW + timedelta(days=3, minutes=7, microseconds=11)
    summary = generate_fleet(tmp_path / "f", servers=2, workstations=1, events=0, now=later, rules=[RULE])
    con = _connect(summary.out)
    shift = later - NOW
    expected = sorted(
        ((r["ReportId"], r["Timestamp"] + shift) for case in plant_cases for r in case.inputs["DeviceNetworkEvents"]),
    )
    assert con.execute("SELECT ReportId, Timestamp FROM ev ORDER BY ReportId").fetchall() == expected
    assert set(con.execute(RULE_SQL, {"now": later}).fetchall()) == _expected(plant_cases)


def test_each_case_alone_gives_its_expected_records(plant_cases):
    """The independent SQL above agrees with every case's expect on the case's rows alone."""
    for case in plant_cases:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for table, alias, schema in (("DeviceNetworkEvents", "ev", EVENT_SCHEMA), ("DeviceInfo", "di", INFO_SCHEMA)):
            rows = [{c: r.get(c) for c in schema} for r in case.inputs[table]]
            con.register(f"{alias}_rows", pa.Table.from_pylist(rows, schema=pa.schema(list(schema.items()))))
            con.execute(f"CREATE TABLE {alias} AS SELECT * FROM {alias}_rows")
        assert set(con.execute(RULE_SQL, {"now": NOW}).fetchall()) == _expected([case]), case.name


def test_rule_alerts_exactly_the_planted_positives(fleet):
    summary, con, _ = fleet
    assert _alerts_match_plants(con, summary)
    # the bulk fleet raises alerts of its own too (rare vendors meeting new, rarely seen destinations)
    assert len(con.execute(RULE_SQL, {"now": NOW}).fetchall()) > 10  # the long tail adds background alerts


def _prevalence(con, ip: str) -> int:
    return one(
        con,
        "SELECT count(DISTINCT DeviceId) FROM ev WHERE RemoteIP = $ip AND Timestamp > $t",
        {"ip": ip, "t": NOW - timedelta(days=5)},
    )


def _servers_with_vendor(con, vendor: str) -> int:
    return one(
        con,
        "SELECT count(DISTINCT DeviceName) FROM ev WHERE InitiatingProcessVersionInfoCompanyName = $v "
        "AND DeviceName IN (SELECT DeviceName FROM di WHERE DeviceType = 'Server')",
        {"v": vendor},
    )


def _distinct(con, column: str, table: str, device: str) -> list:
    sql = f"SELECT DISTINCT {column} FROM {table} WHERE DeviceName = $d ORDER BY 1"
    return [v for (v,) in con.execute(sql, {"d": device}).fetchall()]


def _first_contact(con, device: str, ip: str) -> datetime:
    return one(con, "SELECT min(Timestamp) FROM ev WHERE DeviceName = $d AND RemoteIP = $ip", {"d": device, "ip": ip})


def test_positive_cases_as_described(fleet):
    summary, con, _ = fleet
    for device, ip, port in _expected(summary.planted):
        assert 1 <= _prevalence(con, ip) < 6, (device, ip, port)
        first = _first_contact(con, device, ip)
        assert NOW - timedelta(days=1) < first <= NOW - timedelta(minutes=30), (device, ip, port)
    assert _prevalence(con, "203.0.113.10") == 3
    assert one(con, "SELECT max(Timestamp) FROM ev WHERE RemoteIP = '203.0.113.10'") == NOW
    assert _prevalence(con, "203.0.113.20") == 5
    assert one(con, "SELECT count(DISTINCT DeviceId) FROM ev WHERE RemoteIP = '203.0.113.20'") == 6
    assert _distinct(con, "DeviceType", "di", "srv-planted-03") == [None]
    company = "SELECT InitiatingProcessVersionInfoCompanyName FROM ev WHERE RemoteIP = $ip"
    assert con.execute(company, {"ip": "203.0.113.40"}).fetchall() == [(None,), (None,)]
    assert con.execute(company, {"ip": "203.0.113.50"}).fetchall() == [("",), ("",)]
    # the ''/null vendor group stays under 10 servers (bulk contributes at most 2)
    empty_group = one(
        con,
        "SELECT count(DISTINCT DeviceName) FROM ev WHERE coalesce(InitiatingProcessVersionInfoCompanyName, '') = '' "
        "AND DeviceName NOT LIKE 'ws-%'",
    )
    assert 2 <= empty_group <= 4
    assert _servers_with_vendor(con, "Planted Nine-Server Vendor Inc.") == 9
    mixed = "srv-planted-06"
    types = con.execute("SELECT DeviceType, count(*) FROM di WHERE DeviceName = $d GROUP BY 1 ORDER BY 1", {"d": mixed})
    assert types.fetchall() == [("Server", 1), ("Workstation", 13)]


def test_near_miss_cases_as_described(fleet):
    _, con, _ = fleet
    assert _prevalence(con, "198.51.100.60") == 6
    peers = "SELECT DISTINCT DeviceId FROM ev WHERE RemoteIP = '198.51.100.60'"
    assert (
        one(con, f"SELECT count(DISTINCT DeviceId) FROM di WHERE DeviceType = 'Workstation' AND DeviceId IN ({peers})")
        == 5
    )
    assert _first_contact(con, "srv-planted-08", "198.51.100.70") == NOW - timedelta(hours=25)
    assert one(con, "SELECT max(Timestamp) FROM ev WHERE RemoteIP = '198.51.100.70'") > NOW - timedelta(days=1)
    mapped = con.execute(
        "SELECT RemoteIP, RemoteIPType FROM ev WHERE DeviceName = $d AND Timestamp > $t ORDER BY 1",
        {"d": "srv-planted-09", "t": NOW - timedelta(days=1)},
    ).fetchall()
    assert sorted(set(mapped)) == [
        ("10.200.0.8", "Private"),
        ("127.0.0.1", "Loopback"),
        ("::FFFF:198.51.100.81", "FourToSixMapping"),
        ("::ffff:198.51.100.80", "FourToSixMapping"),
    ]
    assert _servers_with_vendor(con, "Planted Ten-Server Vendor Inc.") == 10
    ws = "ws-planted-13"
    assert _distinct(con, "DeviceType", "di", ws) == ["Workstation"]
    mac = "srv-planted-10"
    assert _distinct(con, "OSPlatform", "di", mac) == ["macOS"]
    listening = "srv-planted-11"
    assert _distinct(con, "ActionType", "ev", listening) == ["ListeningConnectionCreated"]
    assert _first_contact(con, "srv-planted-12", "198.51.100.140") == NOW - timedelta(days=1)
    no_os = "srv-planted-13"
    assert (
        one(con, "SELECT count(*) FROM di WHERE DeviceName = $d AND coalesce(OSPlatform, '') <> ''", {"d": no_os}) == 0
    )
    assert _prevalence(con, "198.51.100.160") == 6
    names = "SELECT count(DISTINCT DeviceName) FROM ev WHERE RemoteIP = '198.51.100.160' AND Timestamp > $t"
    assert one(con, names, {"t": NOW - timedelta(days=5)}) == 5


# ----------------------------------------------------------------------------------------------------------------
# Planting is rule-agnostic: any rule's cases marked plant (a copy of the seed rule under another slug)
# ----------------------------------------------------------------------------------------------------------------

TOY = "toy_plants"
CASE_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event(device: str, ago: timedelta, **columns) -> dict:
    return {"Timestamp": _iso(CASE_NOW - ago), "DeviceId": f"id-{device}", "DeviceName": device, **columns}


def _snapshot(device: str, ago: timedelta, device_type: str = "Server") -> dict:
    return {
        "Timestamp": _iso(CASE_NOW - ago),
        "DeviceId": f"id-{device}",
        "DeviceName": device,
        "DeviceType": device_type,
        "OSPlatform": "Linux",
    }


TOY_CASES = [
    {
        "name": "latest_now",
        "description": "Its now is its newest event.\nA second line.",
        "now": "latest",
        "plant": True,
        "input": {
            "DeviceNetworkEvents": [
                {**_event("toy-a", timedelta(hours=400)), "InitiatingProcessCommandLine": "toy.exe --run"},
                _event("toy-a", timedelta(hours=401), ReportId=7),
            ],
            "DeviceProcessEvents": [{"Timestamp": _iso(CASE_NOW - timedelta(hours=400)), "FileName": "toy.exe"}],
        },
        "expect": [],
    },
    {
        "name": "too_old",
        "description": "An event 20 days before its now does not fit in 14 days.",
        "plant": True,
        "input": {"DeviceNetworkEvents": [_event("toy-old", timedelta(days=20)), _event("toy-old", timedelta(0))]},
        "expect": [],
    },
    {
        "name": "trimmed_snapshots",
        "description": "Its snapshot 20 days ago repeats the one a day ago: trimmed.",
        "plant": True,
        "input": {
            "DeviceInfo": [_snapshot("toy-b", timedelta(days=1)), _snapshot("toy-b", timedelta(days=20))],
            "DeviceNetworkEvents": [_event("toy-b", timedelta(hours=1))],
        },
        "expect": [],
    },
    {
        "name": "changed_snapshot",
        "description": "Its only Server snapshot is 20 days old: left out.",
        "plant": True,
        "input": {
            "DeviceInfo": [
                _snapshot("toy-c", timedelta(days=1), "Workstation"),
                _snapshot("toy-c", timedelta(days=20)),
            ],
            "DeviceNetworkEvents": [_event("toy-c", timedelta(hours=1))],
        },
        "expect": [],
    },
    {
        "name": "not_planted",
        "description": "Not marked plant.",
        "input": {"DeviceNetworkEvents": [_event("toy-d", timedelta(hours=1))]},
        "expect": [],
    },
]


@pytest.fixture
def toy_rules(tmp_path: Path) -> Path:
    """A rules folder holding a copy of the seed rule as `toy_plants` (also reading DeviceProcessEvents) with the
    cases above."""
    root = tmp_path / "rules"
    folder = root / TOY
    shutil.copytree(sql_root() / RULE, folder, ignore=shutil.ignore_patterns("cases"))
    toml = folder / "rule.toml"
    text = toml.read_text().replace(f'slug = "{RULE}"', f'slug = "{TOY}"')
    toml.write_text(text + '\n[tables.DeviceProcessEvents]\ncolumns = ["Timestamp", "DeviceName", "FileName"]\n')
    (folder / "cases").mkdir()
    (folder / "cases" / "toy.json").write_text(json.dumps({"now": _iso(CASE_NOW), "cases": TOY_CASES}))
    return root


def test_plants_any_rules_cases(tmp_path, toy_rules):
    summary = generate_fleet(
        tmp_path / "f", servers=2, workstations=1, events=500, now=NOW, rules=[TOY], rules_dirs=[toy_rules]
    )
    assert summary.rules == (TOY,)
    assert [c.id for c in summary.planted] == [f"{TOY}/latest_now", f"{TOY}/trimmed_snapshots"]
    assert summary.left_out == (f"{TOY}/too_old", f"{TOY}/changed_snapshot")
    assert summary.planted[0].summary == "Its now is its newest event."
    assert summary.planted[0].rows == {"DeviceNetworkEvents": 2, "DeviceProcessEvents": 1}
    assert summary.planted[1].rows == {"DeviceInfo": 1, "DeviceNetworkEvents": 1}
    assert summary.planted_devices == 2 and summary.other_tables == {"DeviceProcessEvents": 1}
    con = _connect(summary.out)

    # a column a planted row sets comes after the fleet's own (null in the bulk); absent values are null
    [part] = list((summary.out / "DeviceNetworkEvents" / f"date={NOW.date()}").iterdir())
    schema = pq.read_schema(part)
    assert schema.names == [*EVENT_SCHEMA, "InitiatingProcessCommandLine"]
    assert schema.field("InitiatingProcessCommandLine").type == pa.string()
    planted = con.execute(
        "SELECT Timestamp, DeviceName, InitiatingProcessCommandLine, ReportId, LocalPort FROM ev "
        "WHERE DeviceName LIKE 'toy-%' ORDER BY Timestamp, DeviceName"
    ).fetchall()
    assert planted == [
        (NOW - timedelta(hours=1), "toy-a", None, 7, None),  # "latest": the newest event lands on the fleet's now
        (NOW - timedelta(hours=1), "toy-b", None, None, None),
        (NOW, "toy-a", "toy.exe --run", None, None),
    ]
    assert one(con, "SELECT count(InitiatingProcessCommandLine) FROM ev") == 1
    assert one(con, "SELECT count(*) FROM ev") == 500 + 3
    # the snapshot 20 days before its now (outside the window) was trimmed, the other one kept
    assert con.execute("SELECT Timestamp, DeviceType FROM di WHERE DeviceName = 'toy-b'").fetchall() == [
        (NOW - timedelta(days=1), "Server")
    ]
    assert one(con, "SELECT count(*) FROM di WHERE DeviceName IN ('toy-c', 'toy-old', 'toy-d')") == 0

    # a table the fleet does not generate: the planted rows, with the columns the rule reads
    other = pq.read_table(summary.out / "DeviceProcessEvents" / "part-0.parquet")
    assert other.column_names == ["Timestamp", "DeviceName", "FileName"]
    assert other.to_pylist() == [{"Timestamp": NOW, "DeviceName": None, "FileName": "toy.exe"}]
    manifest = json.loads((summary.out / "_fleet.json").read_text())
    assert manifest["arguments"]["rules"] == [TOY] and manifest["left_out"] == list(summary.left_out)
    assert manifest["other_tables"] == {"DeviceProcessEvents": 1}


def test_readme_section_from_the_cases(tmp_path, toy_rules):
    from detector.generate import describe_planted, readme_section, update_readme

    text = describe_planted([TOY], rules_dirs=[toy_rules])
    assert f"### {TOY}" in text and "4 planted cases" in text
    assert "- `latest_now` expects nothing. Its now is its newest event.\n  - A second line.\n" in text
    assert "not_planted" not in text
    readme = tmp_path / "README.md"
    from detector.fleet.plant import README_BEGIN, README_END

    readme.write_text(f"# Title\n\n{README_BEGIN}\nstale\n{README_END}\n\nAfter.\n")
    assert update_readme(readme, [TOY], rules_dirs=[toy_rules]) is True
    assert readme_section(readme.read_text()) == text
    assert readme.read_text().startswith("# Title\n\n") and readme.read_text().endswith(f"{README_END}\n\nAfter.\n")
    assert update_readme(readme, [TOY], rules_dirs=[toy_rules]) is False
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="readme"):
        update_readme(readme, [TOY], rules_dirs=[toy_rules])


def test_generate_command_plants_the_named_rules(tmp_path, toy_rules, monkeypatch):
    from typer.testing import CliRunner

    from detector.cli import app
    from detector.fleet.plant import README_BEGIN, README_END

    monkeypatch.setenv("DETECTOR_RULES_PATH", str(toy_rules))
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_BEGIN}\n{README_END}\n")
    out = tmp_path / "fleet"
    args = ["generate", "--out", out, "--events", 100, "--rule", TOY, "--readme", readme]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert f"planted {TOY}/latest_now: Its now is its newest event.\n" in result.stdout
    assert f"left out {TOY}/too_old" in result.stdout
    assert RULE not in result.stdout
    assert json.loads((out / "_fleet.json").read_text())["rules"] == [TOY]
    assert "`latest_now`" in readme.read_text()


def test_generator_names_no_rule():
    """generate.py and detector/fleet know no rule: nothing of the seed's planted scenarios is named there."""
    import detector.fleet
    import detector.generate

    sources = [Path(detector.generate.__file__), *Path(detector.fleet.__file__).parent.glob("*.py")]
    for path in sources:
        text = path.read_text()
        for word in ("supply_chain", "srv-planted", "ws-planted", "Planted Rare", "Nine-Server", "203.0.113.10"):
            assert word not in text, (path.name, word)


# ----------------------------------------------------------------------------------------------------------------
# Realism of the bulk
# ----------------------------------------------------------------------------------------------------------------


def test_bulk_realism(fleet):
    _, con, _ = fleet
    bulk = "ReportId < 9000000000000"
    servers = "SELECT DeviceName FROM di WHERE coalesce(DeviceType, '') <> 'Workstation'"
    vendors = dict(
        con.execute(
            f"SELECT InitiatingProcessVersionInfoCompanyName, count(DISTINCT DeviceName) FROM ev "
            f"WHERE {bulk} AND DeviceName IN ({servers}) GROUP BY 1"
        ).fetchall()
    )
    for common in ("Microsoft Corporation", "Google LLC", "Mozilla Corporation"):
        assert vendors[common] == 40
    assert sum(1 for v, n in vendors.items() if v and n >= 10) >= 8  # common + mid vendors
    rare = {v: n for v, n in vendors.items() if v and n < 10}
    assert len(rare) >= 3 and max(rare.values()) <= 9
    empty_vendor = f"coalesce(InitiatingProcessVersionInfoCompanyName, '') = '' AND DeviceName IN ({servers})"
    assert one(con, f"SELECT count(DISTINCT DeviceName) FROM ev WHERE {bulk} AND {empty_vendor}") <= 2

    types = dict(
        con.execute(f"SELECT coalesce(RemoteIPType, '<null>'), count(*) FROM ev WHERE {bulk} GROUP BY 1").fetchall()
    )
    for t in ("Public", "Private", "Loopback", "FourToSixMapping", "Reserved", "<null>", ""):
        assert types.get(t, 0) > 0, t
    assert types["Public"] > 0.6 * 20_000
    assert one(con, f"SELECT count(*) FROM ev WHERE {bulk} AND RemoteIP LIKE '::FFFF:%'") > 0
    assert one(con, f"SELECT count(*) FROM ev WHERE {bulk} AND RemoteIP LIKE '::ffff:%'") > 0
    assert one(con, f"SELECT count(*) FROM ev WHERE {bulk} AND RemoteIP IN ('127.0.0.1', '::1')") > 0
    actions = one(con, f"SELECT count(DISTINCT ActionType) FROM ev WHERE {bulk}")
    assert actions >= 7
    assert one(con, f"SELECT count(*) FROM ev WHERE {bulk} AND ActionType = 'ListeningConnectionCreated'") > 100
    for column in ("InitiatingProcessVersionInfoCompanyName", "RemoteUrl"):
        assert one(con, f"SELECT count(*) FROM ev WHERE {bulk} AND {column} IS NULL") > 0
        assert one(con, f"SELECT count(*) FROM ev WHERE {bulk} AND {column} = ''") > 0

    # skewed destinations: a few IPs seen by most devices, a long tail seen by one
    prevalence = con.execute(
        f"SELECT count(DISTINCT DeviceId) AS n FROM ev WHERE {bulk} AND RemoteIPType = 'Public' GROUP BY RemoteIP"
    ).fetchall()
    counts = sorted(n for (n,) in prevalence)
    assert counts[-1] >= 90 and sum(n == 1 for n in counts) > len(counts) / 3
    assert one(con, f"SELECT count(DISTINCT DeviceName) FROM ev WHERE {bulk} AND DeviceName LIKE 'ws-%'") == 60

    # device inventory
    bulk_di = "FROM di WHERE DeviceName NOT LIKE '%planted%' GROUP BY 1"
    kinds = dict(con.execute(f"SELECT coalesce(DeviceType, '<null>'), count(DISTINCT DeviceName) {bulk_di}").fetchall())
    assert kinds == {"Server": 36, "Domain Controller": 2, "<null>": 2, "Workstation": 60}
    os_ = dict(con.execute(f"SELECT OSPlatform, count(DISTINCT DeviceName) {bulk_di}").fetchall())
    assert os_["macOS"] > 0 and os_["Linux"] > 0 and os_.get(None, 0) > 0 and os_.get("", 0) > 0
    # planted address ranges are never used by the bulk
    planted_ranges = "RemoteIP LIKE '%203.0.113.%' OR RemoteIP LIKE '%198.51.100.%' OR RemoteIP LIKE '10.200.%'"
    assert one(con, f"SELECT count(*) FROM ev WHERE {bulk} AND ({planted_ranges})") == 0


# ----------------------------------------------------------------------------------------------------------------
# File events (--file-events): DeviceFileEvents, and the network events' mstsc.exe share
# ----------------------------------------------------------------------------------------------------------------

FILE_EVENTS = 20_000
# The file events' own columns, in the table's documented order, typed as sql/_tables documents them.
FILE_SCHEMA = {
    "Timestamp": TS,
    "DeviceId": pa.string(),
    "DeviceName": pa.string(),
    "ActionType": pa.string(),
    "FileName": pa.string(),
    "FolderPath": pa.string(),
    "SHA256": pa.string(),
    "PreviousFileName": pa.string(),
    "FileSize": pa.int64(),
    "InitiatingProcessAccountDomain": pa.string(),
    "InitiatingProcessAccountName": pa.string(),
    "InitiatingProcessFolderPath": pa.string(),
    "InitiatingProcessFileName": pa.string(),
    "InitiatingProcessId": pa.int64(),
    "ReportId": pa.int64(),
}
FILE_ARGS = {"servers": 12, "workstations": 30, "events": 30_000, "days": 6, "now": NOW, "seed": 3, "rules": []}


@pytest.fixture(scope="module")
def file_fleet(tmp_path_factory: pytest.TempPathFactory):
    calls: list[tuple[int, int]] = []
    out = tmp_path_factory.mktemp("files") / "fleet"
    summary = generate_fleet(out, file_events=FILE_EVENTS, progress=lambda d, t: calls.append((d, t)), **FILE_ARGS)
    con = _connect(out)
    con.execute(
        "CREATE TABLE fe AS SELECT * FROM read_parquet($p, hive_partitioning = false)",
        {"p": str(out / "DeviceFileEvents" / "*" / "*.parquet")},
    )
    return summary, con, calls


def test_file_events_layout_schema_and_counts(file_fleet):
    summary, con, calls = file_fleet
    out = summary.out
    assert sorted(p.name for p in out.iterdir()) == [
        "DeviceFileEvents",
        "DeviceInfo",
        "DeviceNetworkEvents",
        "_fleet.json",
    ]
    first = (NOW - timedelta(days=6)).date()
    days = [f"date={first + timedelta(days=k)}" for k in range((NOW.date() - first).days + 1)]
    parts = sorted((out / "DeviceFileEvents").iterdir())
    assert [p.name for p in parts] == days
    documented = load_table("DeviceFileEvents").columns
    assert list(FILE_SCHEMA) == [c for c in documented if c in FILE_SCHEMA]  # Microsoft's order
    assert {c: types.get(documented[c]).arrow for c in FILE_SCHEMA} == FILE_SCHEMA
    for part in parts:
        assert [f.name for f in part.iterdir()] == ["part-0.parquet"]
        schema = pq.read_schema(part / "part-0.parquet")
        assert dict(zip(schema.names, schema.types, strict=True)) == FILE_SCHEMA
    # the network events gain InitiatingProcessId (documented long) after the fleet's own columns
    network = pq.read_schema(out / "DeviceNetworkEvents" / days[-1] / "part-0.parquet")
    assert dict(zip(network.names, network.types, strict=True)) == {**EVENT_SCHEMA, "InitiatingProcessId": pa.int64()}

    assert summary.file_event_rows == FILE_EVENTS and summary.planted_file_rows == 0
    assert one(con, "SELECT count(*) FROM fe") == FILE_EVENTS
    assert one(con, "SELECT count(DISTINCT ReportId) FROM fe") == FILE_EVENTS
    assert one(con, "SELECT min(ReportId) || '-' || max(ReportId) FROM fe") == f"1-{FILE_EVENTS}"
    assert one(con, "SELECT count(*) FROM ev") == summary.network_event_rows == 30_000
    manifest = json.loads((out / "_fleet.json").read_text())
    assert manifest["arguments"]["file_events"] == FILE_EVENTS and manifest["file_event_rows"] == FILE_EVENTS
    # every file event is on a fleet device, with that device's DeviceId
    strays = "SELECT count(*) FROM fe WHERE (DeviceId, DeviceName) NOT IN (SELECT (DeviceId, DeviceName) FROM di)"
    assert one(con, strays) == 0
    assert one(con, "SELECT count(DISTINCT DeviceId) FROM fe") == 42
    # progress covers both tables' day files
    assert len(calls) == 2 * len(days) and calls[-1] == (30_000 + FILE_EVENTS, 30_000 + FILE_EVENTS)


def test_file_events_sorted_per_day_inside_the_window(file_fleet):
    summary, con, _ = file_fleet
    for part in sorted((summary.out / "DeviceFileEvents").iterdir()):
        path = str(part / "part-0.parquet")
        unsorted = one(
            con,
            "SELECT count(*) FROM (SELECT Timestamp < lag(Timestamp) OVER (ORDER BY file_row_number) AS back "
            "FROM read_parquet($p, file_row_number = true)) WHERE back",
            {"p": path},
        )
        assert unsorted == 0, part.name
        day = date.fromisoformat(part.name.removeprefix("date="))
        assert one(con, "SELECT count(*) FROM read_parquet($p) WHERE Timestamp::DATE <> $d", {"p": path, "d": day}) == 0
    window = {"now": NOW, "lo": NOW - timedelta(days=6)}
    assert one(con, "SELECT count(*) FROM fe WHERE NOT (Timestamp > $lo AND Timestamp < $now)", window) == 0
    edges = {"edges": [NOW - timedelta(days=d) for d in range(7)]}
    assert one(con, "SELECT count(*) FROM fe WHERE Timestamp = ANY($edges)", edges) == 0
    per_day = con.execute("SELECT count(*) FROM fe GROUP BY floor(epoch($now - Timestamp) / 86400)", {"now": NOW})
    assert sorted(n for (n,) in per_day.fetchall())[0] > FILE_EVENTS / 6 * 0.9  # spread evenly


def test_file_events_are_deterministic(tmp_path, file_fleet):
    summary, _, _ = file_fleet
    again = generate_fleet(tmp_path / "again", file_events=FILE_EVENTS, **FILE_ARGS)
    assert _tree_digest(again.out) == _tree_digest(summary.out)
    other = generate_fleet(tmp_path / "seed", file_events=FILE_EVENTS, **{**FILE_ARGS, "seed": 4})
    digest, mine = _tree_digest(other.out), _tree_digest(summary.out)
    assert digest.keys() == mine.keys()
    assert all(digest[k] != mine[k] for k in digest if k.startswith("DeviceFileEvents/"))


def test_file_events_zero_writes_what_the_fleet_always_wrote(tmp_path, file_fleet):
    """file_events=0 is the fleet without file events, byte for byte; with file events the network bulk is the same
    rows but for the mstsc.exe share (and its InitiatingProcessId column)."""
    plain = generate_fleet(tmp_path / "plain", **FILE_ARGS)
    zero = generate_fleet(tmp_path / "zero", file_events=0, **FILE_ARGS)
    assert _tree_digest(plain.out) == _tree_digest(zero.out)
    assert not (plain.out / "DeviceFileEvents").exists() and plain.file_event_rows == 0
    manifest = json.loads((plain.out / "_fleet.json").read_text())
    assert "file_events" not in manifest["arguments"] and "file_event_rows" not in manifest

    summary, con, _ = file_fleet
    assert (
        _tree_digest(plain.out)["DeviceInfo/part-0.parquet"] == _tree_digest(summary.out)["DeviceInfo/part-0.parquet"]
    )
    columns = ", ".join(EVENT_SCHEMA)
    con.execute(
        f"CREATE TABLE plain_ev AS SELECT {columns} FROM read_parquet($p)",
        {"p": str(plain.out / "DeviceNetworkEvents" / "*" / "*.parquet")},
    )
    mstsc = "lower(InitiatingProcessFileName) = 'mstsc.exe'"
    changed = one(con, f"SELECT count(*) FROM (SELECT {columns} FROM ev EXCEPT SELECT * FROM plain_ev)")
    assert changed == one(con, f"SELECT count(*) FROM ev WHERE {mstsc}") > 0
    same_where = "RemoteIP, Timestamp, DeviceName, ReportId"
    assert one(con, f"SELECT count(*) FROM (SELECT {same_where} FROM ev EXCEPT SELECT {same_where} FROM plain_ev)") == 0


def test_file_events_realism(file_fleet):
    _, con, _ = file_fleet
    actions = dict(con.execute("SELECT ActionType, count(*) FROM fe GROUP BY 1").fetchall())
    assert set(actions) == {"FileCreated", "FileModified", "FileRenamed", "FileDeleted"}
    assert actions["FileCreated"] > actions["FileModified"] > actions["FileRenamed"] > actions["FileDeleted"] > 0
    processes = con.execute("SELECT InitiatingProcessFileName, count(*) FROM fe GROUP BY 1 ORDER BY 2 DESC").fetchall()
    assert [p for p, _ in processes[:4]] == ["explorer.exe", "chrome.exe", "svchost.exe", "msedge.exe"]
    counts = dict(processes)
    assert 0.005 * FILE_EVENTS < counts["mstsc.exe"] + counts["MSTSC.EXE"] < 0.02 * FILE_EVENTS
    assert counts["MSTSC.EXE"] > 0
    # the Remote Desktop client and the desktop apps write on workstations only; services everywhere
    on_servers = "SELECT DISTINCT InitiatingProcessFileName FROM fe WHERE DeviceName NOT LIKE 'ws-%' ORDER BY 1"
    assert [p for (p,) in con.execute(on_servers).fetchall()] == [
        "MsMpEng.exe",
        "TiWorker.exe",
        "powershell.exe",
        "svchost.exe",
    ]
    # many extensions, with the tricky ones (near misses and other cases of the usual watch lists)
    for suffix in (".dllx", ".jsonl", ".DLL", ".dll", ".exe", ".Exe", ".exe.config", ".lnk", ".js", ".png"):
        assert one(con, "SELECT count(*) FROM fe WHERE FileName LIKE '%' || $s", {"s": suffix}) > 0, suffix
    assert one(con, "SELECT count(DISTINCT FileName) FROM fe") > 1000
    assert one(con, "SELECT count(*) FROM fe WHERE FileName NOT LIKE '%.%'") > 0  # names without an extension
    assert one(con, "SELECT count(*) FROM fe WHERE NOT ends_with(FolderPath, '\\' || FileName)") == 0
    assert one(con, "SELECT count(*) FROM fe WHERE (ActionType = 'FileRenamed') <> (PreviousFileName <> '')") == 0
    deleted = (
        "SELECT count(*) FROM fe WHERE ActionType = 'FileDeleted' AND (SHA256 IS NOT NULL OR FileSize IS NOT NULL)"
    )
    assert one(con, deleted) == 0
    assert one(con, "SELECT count(*) FROM fe WHERE length(SHA256) <> 64") == 0
    assert one(con, "SELECT count(*) FROM fe WHERE InitiatingProcessId % 4 <> 0 OR InitiatingProcessId < 400") == 0


def test_network_events_get_a_small_mstsc_share_from_workstations(file_fleet):
    _, con, _ = file_fleet
    mstsc = "lower(InitiatingProcessFileName) = 'mstsc.exe'"
    total = one(con, f"SELECT count(*) FROM ev WHERE {mstsc}")
    workstations = one(con, "SELECT count(*) FROM ev WHERE DeviceName LIKE 'ws-%' AND RemoteIPType = 'Public'")
    assert 0.002 * workstations < total < 0.015 * workstations
    assert one(con, f"SELECT count(*) FROM ev WHERE {mstsc} AND DeviceName NOT LIKE 'ws-%'") == 0
    assert one(con, "SELECT count(*) FROM ev WHERE InitiatingProcessFileName = 'MSTSC.EXE'") > 0
    success = one(con, f"SELECT count(*) FROM ev WHERE {mstsc} AND ActionType = 'ConnectionSuccess'")
    public = one(con, f"SELECT count(*) FROM ev WHERE {mstsc} AND RemoteIPType = 'Public'")
    assert success > 0.8 * total and public > 0.9 * total
    assert one(con, f"SELECT count(*) FROM ev WHERE {mstsc} AND RemotePort NOT IN (3389, 443)") == 0
    assert one(con, f"SELECT count(*) FROM ev WHERE {mstsc} AND Protocol <> 'Tcp'") == 0
    company = f"SELECT DISTINCT InitiatingProcessVersionInfoCompanyName FROM ev WHERE {mstsc}"
    assert con.execute(company).fetchall() == [("Microsoft Corporation",)]
    # one process id per process of a device within a 4-hour bucket, derived alike in both tables
    assert one(con, "SELECT count(*) FROM ev WHERE InitiatingProcessId IS NULL OR InitiatingProcessId % 4 <> 0") == 0
    bucket = "DeviceId, epoch_us(Timestamp) // 14400000000 AS b"
    same_pid = one(
        con,
        f"SELECT count(*) FROM (SELECT {bucket}, InitiatingProcessId FROM ev WHERE {mstsc}) n "
        f"JOIN (SELECT {bucket}, InitiatingProcessId FROM fe WHERE {mstsc}) f USING (DeviceId, b) "
        "WHERE n.InitiatingProcessId <> f.InitiatingProcessId",
    )
    assert same_pid == 0
    pairs = one(con, "SELECT count(*) FROM ev JOIN fe USING (DeviceId) WHERE lower(ev.InitiatingProcessFileName) = "
                     "'mstsc.exe' AND lower(fe.InitiatingProcessFileName) = 'mstsc.exe'")  # fmt: skip
    assert pairs > 0  # the Rogue RDP pattern's join has rows to pair


FILE_TOY = "toy_file_plants"
FILE_TOY_CASES = [
    {
        "name": "dropped_file",
        "description": "A file an RDP session dropped, and its connection.",
        "plant": True,
        "input": {
            "DeviceNetworkEvents": [_event("toy-f", timedelta(hours=2), RemoteIP="203.0.113.9", ReportId=9_000_000)],
            "DeviceFileEvents": [
                {**_event("toy-f", timedelta(hours=1, minutes=59)), "FileName": "a.exe", "SHA1": "ab" * 20},
                {**_event("toy-f", timedelta(days=3)), "FileName": "b.dll", "ReportId": 9_000_001},
            ],
        },
        "expect": [],
    },
]


@pytest.fixture
def file_toy_rules(tmp_path: Path) -> Path:
    """A copy of the seed rule as `toy_file_plants`, also reading DeviceFileEvents, with a planted file case."""
    root = tmp_path / "rules"
    folder = root / FILE_TOY
    shutil.copytree(sql_root() / RULE, folder, ignore=shutil.ignore_patterns("cases"))
    toml = folder / "rule.toml"
    text = toml.read_text().replace(f'slug = "{RULE}"', f'slug = "{FILE_TOY}"')
    toml.write_text(text + '\n[tables.DeviceFileEvents]\ncolumns = ["Timestamp", "DeviceName", "FileName"]\n')
    (folder / "cases").mkdir()
    (folder / "cases" / "toy.json").write_text(json.dumps({"now": _iso(CASE_NOW), "cases": FILE_TOY_CASES}))
    return root


def test_planted_file_rows_join_the_file_events(tmp_path, file_toy_rules):
    args = {"servers": 2, "workstations": 3, "events": 500, "now": NOW, "rules": [FILE_TOY]}
    summary = generate_fleet(tmp_path / "f", file_events=3_000, rules_dirs=[file_toy_rules], **args)
    assert summary.planted[0].rows == {"DeviceNetworkEvents": 1, "DeviceFileEvents": 2}
    assert summary.other_tables == {} and summary.planted_file_rows == 2 and summary.file_event_rows == 3_002
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = str(summary.out / "DeviceFileEvents" / "*" / "*.parquet")
    planted = con.execute(
        "SELECT Timestamp, DeviceName, FileName, SHA1, ReportId, InitiatingProcessFileName, "
        "parse_path(src)[-2] FROM read_parquet($p, filename = 'src') WHERE DeviceName = 'toy-f' ORDER BY 1",
        {"p": glob},
    ).fetchall()
    assert planted == [
        (NOW - timedelta(days=3), "toy-f", "b.dll", None, 9_000_001, None, "date=2026-11-17"),
        (NOW - timedelta(hours=1, minutes=59), "toy-f", "a.exe", "ab" * 20, None, None, "date=2026-11-20"),
    ]
    # the columns a planted row sets come after the fleet's own; the day files stay sorted with the rows inserted
    for part in sorted((summary.out / "DeviceFileEvents").iterdir()):
        path = part / "part-0.parquet"
        assert pq.read_schema(path).names == [*FILE_SCHEMA, "SHA1"]
        stamps = [t for (t,) in con.execute("SELECT Timestamp FROM read_parquet($p)", {"p": str(path)}).fetchall()]
        assert stamps == sorted(stamps)
    assert one(con, "SELECT count(*) FROM read_parquet($p) WHERE SHA1 IS NOT NULL", {"p": glob}) == 1

    # without file events the planted file rows are a table of their own, as any table the fleet does not write
    alone = generate_fleet(tmp_path / "g", rules_dirs=[file_toy_rules], **args)
    assert alone.other_tables == {"DeviceFileEvents": 2} and alone.file_event_rows == 0
    assert [p.name for p in (alone.out / "DeviceFileEvents").iterdir()] == ["part-0.parquet"]


def test_file_events_argument_and_command(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="file_events"):
        generate_fleet(tmp_path / "bad", events=10, now=NOW, file_events=-1)
    with pytest.raises(ValueError, match="file_events"):
        generate_fleet(tmp_path / "bad", events=10, now=NOW, file_events=1.5)
    assert not (tmp_path / "bad").exists()

    from typer.testing import CliRunner

    from detector.cli import app

    out = tmp_path / "fleet"
    args = ["generate", "--out", out, "--events", 300, "--file-events", 200, "--servers", 2, "--workstations", 2]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--rule", RULE]])
    assert result.exit_code == 0, result.output
    assert "wrote 200 DeviceFileEvents rows" in result.stdout
    assert json.loads((out / "_fleet.json").read_text())["arguments"]["file_events"] == 200


def test_file_events_of_a_fleet_without_workstations(tmp_path):
    args = {"servers": 5, "workstations": 0, "events": 2_000, "file_events": 3_000, "now": NOW, "rules": []}
    summary = generate_fleet(tmp_path / "f", **args)
    con = duckdb.connect()
    processes = con.execute(
        "SELECT DISTINCT InitiatingProcessFileName FROM read_parquet($p) ORDER BY 1",
        {"p": str(summary.out / "DeviceFileEvents" / "*" / "*.parquet")},
    ).fetchall()
    assert [p for (p,) in processes] == ["MsMpEng.exe", "TiWorker.exe", "powershell.exe", "svchost.exe"]
    mstsc = con.execute(
        "SELECT count(*) FROM read_parquet($p) WHERE lower(InitiatingProcessFileName) = 'mstsc.exe'",
        {"p": str(summary.out / "DeviceNetworkEvents" / "*" / "*.parquet")},
    )
    assert mstsc.fetchone()[0] == 0 and summary.file_event_rows == 3_000
