"""detector.generate: layout, schema, counts, determinism, realism and the planted supply-chain cases."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detector.generate import PLANTED_REPORT_ID_BASE, FleetSummary, PlantedCase, generate_fleet

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")

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
    summary = generate_fleet(out, now=NOW, progress=lambda done, total: calls.append((done, total)))
    return summary, _connect(out), calls


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
    assert {name: info.field(name).type for name in INFO_SCHEMA} == INFO_SCHEMA

    first = (NOW - timedelta(days=14)).date()
    expected_days = [first + timedelta(days=k) for k in range((NOW.date() - first).days + 1)]
    parts = sorted((out / "DeviceNetworkEvents").iterdir())
    assert [p.name for p in parts] == [f"date={d.isoformat()}" for d in expected_days]
    for part in parts:
        assert [f.name for f in part.iterdir()] == ["part-0.parquet"]
        schema = pq.read_schema(part / "part-0.parquet")
        assert dict(zip(schema.names, schema.types, strict=True)) == EVENT_SCHEMA

    manifest = json.loads((out / "_fleet.json").read_text())
    assert manifest["network_event_rows"] == summary.network_event_rows
    assert [PlantedCase(**c) for c in manifest["planted"]] == list(summary.planted)
    # nothing left behind next to the output (temp or old folders)
    assert [p.name for p in out.parent.iterdir()] == ["fleet"]


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


def test_naive_now_is_utc_and_small_windows_keep_only_fitting_plants(tmp_path):
    summary = generate_fleet(tmp_path / "f", servers=1, workstations=0, events=0, days=1, now=NOW.replace(tzinfo=None))
    con = _connect(summary.out)
    assert summary.network_event_rows == summary.planted_event_rows > 0
    assert 0 < len(summary.planted) < 21
    params = {"now": NOW, "lo": NOW - timedelta(days=1)}
    assert one(con, "SELECT count(*) FROM ev WHERE NOT (Timestamp > $lo AND Timestamp <= $now)", params) == 0
    assert one(con, "SELECT count(*) FROM di WHERE NOT (Timestamp > $lo AND Timestamp <= $now)", params) == 0
    assert _alerts_match_plants(con, summary)


# ----------------------------------------------------------------------------------------------------------------
# Planted cases
# ----------------------------------------------------------------------------------------------------------------


def _alerts_match_plants(con: duckdb.DuckDBPyConnection, summary: FleetSummary) -> bool:
    alerts = set(con.execute(RULE_SQL, {"now": NOW}).fetchall())
    planted_alerts = {a for a in alerts if "planted" in a[0]}
    positives = {(c.device, c.remote_ip, c.remote_port) for c in summary.planted if c.alerts}
    return planted_alerts == positives


def test_planted_cases_listed(fleet):
    summary, _, _ = fleet
    planted = summary.planted
    assert len(planted) == 21
    assert len({(c.device, c.remote_ip, c.remote_port) for c in planted}) == 21
    assert sum(c.alerts for c in planted) == 7
    assert all(c.why for c in planted)
    for c in planted:
        assert "planted" in c.device
        assert c.remote_ip.split(":")[-1].startswith(("203.0.113.", "198.51.100.")) or c.remote_ip in (
            "10.200.0.8",
            "127.0.0.1",
        )


def test_rule_alerts_exactly_the_planted_positives(fleet):
    summary, con, _ = fleet
    assert _alerts_match_plants(con, summary)
    # the bulk fleet raises alerts of its own too (rare vendors meeting new, rarely seen destinations)
    assert len(con.execute(RULE_SQL, {"now": NOW}).fetchall()) > 10  # the long tail adds background alerts


def _case(summary: FleetSummary, ip: str) -> PlantedCase:
    (case,) = [c for c in summary.planted if c.remote_ip == ip]
    return case


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
    for case in [c for c in summary.planted if c.alerts]:
        assert 1 <= _prevalence(con, case.remote_ip) < 6, case
        first = _first_contact(con, case.device, case.remote_ip)
        assert NOW - timedelta(days=1) < first <= NOW - timedelta(minutes=30), case
    assert _prevalence(con, "203.0.113.10") == 3
    assert one(con, "SELECT max(Timestamp) FROM ev WHERE RemoteIP = '203.0.113.10'") == NOW
    assert _prevalence(con, "203.0.113.20") == 5
    assert one(con, "SELECT count(DISTINCT DeviceId) FROM ev WHERE RemoteIP = '203.0.113.20'") == 6
    assert _distinct(con, "DeviceType", "di", _case(summary, "203.0.113.30").device) == [None]
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
    mixed = _case(summary, "203.0.113.60").device
    types = con.execute("SELECT DeviceType, count(*) FROM di WHERE DeviceName = $d GROUP BY 1 ORDER BY 1", {"d": mixed})
    assert types.fetchall() == [("Server", 1), ("Workstation", 13)]


def test_near_miss_cases_as_described(fleet):
    summary, con, _ = fleet
    assert _prevalence(con, "198.51.100.60") == 6
    peers = "SELECT DISTINCT DeviceId FROM ev WHERE RemoteIP = '198.51.100.60'"
    assert (
        one(con, f"SELECT count(DISTINCT DeviceId) FROM di WHERE DeviceType = 'Workstation' AND DeviceId IN ({peers})")
        == 5
    )
    assert _first_contact(con, _case(summary, "198.51.100.70").device, "198.51.100.70") == NOW - timedelta(hours=25)
    assert one(con, "SELECT max(Timestamp) FROM ev WHERE RemoteIP = '198.51.100.70'") > NOW - timedelta(days=1)
    mapped = con.execute(
        "SELECT RemoteIP, RemoteIPType FROM ev WHERE DeviceName = $d AND Timestamp > $t ORDER BY 1",
        {"d": _case(summary, "10.200.0.8").device, "t": NOW - timedelta(days=1)},
    ).fetchall()
    assert sorted(set(mapped)) == [
        ("10.200.0.8", "Private"),
        ("127.0.0.1", "Loopback"),
        ("::FFFF:198.51.100.81", "FourToSixMapping"),
        ("::ffff:198.51.100.80", "FourToSixMapping"),
    ]
    assert _servers_with_vendor(con, "Planted Ten-Server Vendor Inc.") == 10
    ws = _case(summary, "198.51.100.110").device
    assert _distinct(con, "DeviceType", "di", ws) == ["Workstation"]
    mac = _case(summary, "198.51.100.120").device
    assert _distinct(con, "OSPlatform", "di", mac) == ["macOS"]
    listening = _case(summary, "198.51.100.130").device
    assert _distinct(con, "ActionType", "ev", listening) == ["ListeningConnectionCreated"]
    edge = _case(summary, "198.51.100.140")
    assert _first_contact(con, edge.device, edge.remote_ip) == NOW - timedelta(days=1)
    no_os = _case(summary, "198.51.100.150").device
    assert (
        one(con, "SELECT count(*) FROM di WHERE DeviceName = $d AND coalesce(OSPlatform, '') <> ''", {"d": no_os}) == 0
    )
    assert _prevalence(con, "198.51.100.160") == 6
    names = "SELECT count(DISTINCT DeviceName) FROM ev WHERE RemoteIP = '198.51.100.160' AND Timestamp > $t"
    assert one(con, names, {"t": NOW - timedelta(days=5)}) == 5


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
