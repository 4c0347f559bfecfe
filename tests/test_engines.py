"""Proof by execution: the exported SQL gives exactly DuckDB's alerts on Spark, PostgreSQL and ClickHouse.

Every semantics case (tests/engine_cases.py, mirroring tests/test_semantics.py) and a generated fleet run on
DuckDB (the reference), then on each engine over the same Parquet. Records are compared as JSON lines: values,
types, key order, and the order of every set (each engine sorts in code point order). Engines that are not
installed here skip with the reason; in CI all of them run. Snowflake runs through fakesnow as a smoke test only.
"""

from __future__ import annotations

import functools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NOW, conn, device
from engine_cases import CASES, Case
from engines import Postgres, canonical, postgres_bin, run_clickhouse, run_fakesnow, sorted_sets
from helpers import SCHEMAS, table, write_fleet, write_table
from typer.testing import CliRunner

from detector import engine as duck_engine
from detector import spark_engine
from detector.api import run_rule
from detector.cli import app
from detector.params import bind
from detector.rule import load_rule

RULE = load_rule()


@dataclass(frozen=True)
class Prepared:
    folder: Path
    bindings: object  # detector.params.Bindings, now pinned
    nested: list[dict]  # DuckDB's records
    flat: list[dict]


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """Each case written to Parquet once and run on DuckDB once, whichever engine asks first."""
    root = tmp_path_factory.mktemp("engine-cases")

    @functools.cache
    def get(name: str) -> Prepared:
        c: Case = next(c for c in CASES if c.name == name)
        folder = write_fleet(root / name, c.devices, c.events)
        return _prepare(folder, c.now, c.params)

    return get


def _prepare(folder: Path, now, params: dict) -> Prepared:
    """DuckDB's answer, by the path detector.api takes (one connection for both shapes)."""
    con = duck_engine.connect()
    try:
        bindings, found = duck_engine.prepare(con, RULE, bind(RULE, params), data=folder, now=now)
        nested = duck_engine.execute(con, RULE, bindings, found).table.to_pylist()
        flat = duck_engine.execute(con, RULE, bindings, found, flat=True).table.to_pylist()
    finally:
        con.close()
    return Prepared(folder, bindings, nested, flat)


# ---- engines ----------------------------------------------------------------------------------------------


# The semantics cases are tiny: run them without adaptive execution, broadcasts or generated code, on one shuffle
# partition (several times faster; physical choices only, the same rows). The generated fleet and the CLI run with
# the engine's own settings.
SMALL_DATA = {
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.shuffle.partitions": "1",
}
SPARK_THREADS = 2


@pytest.fixture(scope="session")
def spark():
    reason = spark_engine.unavailable()
    if reason:
        pytest.skip(reason)
    session = spark_engine.session()
    yield session
    session.stop()


def _small(session):
    for key, value in SMALL_DATA.items():
        session.conf.set(key, value)
    return session


@pytest.fixture(scope="session")
def spark_results(spark, prepared, request):
    """Every selected semantics case on Spark, SPARK_THREADS at a time (a Spark session per thread, one JVM)."""
    selected = {item.callspec.params["name"] for item in request.session.items if item.originalname == _SPARK_TEST}
    names = [name for name in NAMES if name in selected]
    for name in names:
        prepared(name)  # DuckDB first, one at a time
    local = threading.local()

    def run(name: str) -> list[dict]:
        if not hasattr(local, "session"):
            local.session = _small(spark.newSession())
        return _spark(local.session, prepared(name), params=PARAMS[name])

    with ThreadPoolExecutor(SPARK_THREADS) as pool:
        futures = {name: pool.submit(run, name) for name in names}
    results = {}
    for name, future in futures.items():
        try:
            results[name] = future.result()
        except Exception as exc:  # reported by the case's own test
            results[name] = exc
    return results


@pytest.fixture(scope="session")
def postgres():
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server: /usr/lib/postgresql/*/bin/initdb is missing (apt-get install postgresql)")
    pytest.importorskip("pg8000", reason="pg8000 is not installed (pip install -e '.[dev]')")
    server = Postgres(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def clickhouse():
    pytest.importorskip("chdb", reason="chdb is not installed (pip install -e '.[dev]')")
    return run_clickhouse


def _spark(session, p: Prepared, *, flat: bool = False, params: dict | None = None) -> list[dict]:
    table = spark_engine.run_table(data=p.folder, now=p.bindings.now, flat=flat, params=params, spark=session)
    return table.to_pylist()


def _postgres(server: Postgres, p: Prepared, *, flat: bool = False) -> list[dict]:
    return server.run(RULE, p.bindings, server.load(RULE, p.folder), flat=flat)


def _clickhouse(p: Prepared, *, flat: bool = False) -> list[dict]:
    return run_clickhouse(RULE, p.bindings, p.folder, flat=flat)


NAMES = [c.name for c in CASES]
PARAMS = {c.name: c.params for c in CASES}


# ---- the semantics cases ------------------------------------------------------------------------------------


_SPARK_TEST = "test_spark_gives_duckdbs_alerts"


@pytest.mark.parametrize("name", NAMES)
def test_spark_gives_duckdbs_alerts(spark_results, prepared, name):
    got = spark_results[name]
    if isinstance(got, Exception):
        raise got
    assert canonical(got) == canonical(prepared(name).nested)


@pytest.mark.parametrize("name", NAMES)
def test_postgres_gives_duckdbs_alerts(postgres, prepared, name):
    p = prepared(name)
    assert canonical(_postgres(postgres, p)) == canonical(p.nested)
    assert canonical(_postgres(postgres, p, flat=True)) == canonical(p.flat)


@pytest.mark.parametrize("name", NAMES)
def test_clickhouse_gives_duckdbs_alerts(clickhouse, prepared, name):
    p = prepared(name)
    assert canonical(_clickhouse(p)) == canonical(p.nested)
    assert canonical(_clickhouse(p, flat=True)) == canonical(p.flat)


# A few cases in the flat shape on Spark too (one row per connection, with starttime / endtime).
SPARK_FLAT = ["1_numbers_stay_null", "3_missing_prevalence_is_kept_and_packed_as_null", "x_codepoint_order"]


@pytest.mark.parametrize("name", SPARK_FLAT)
def test_spark_flat_gives_duckdbs_rows(spark, prepared, name):
    p = prepared(name)
    assert canonical(_spark(_small(spark.newSession()), p, flat=True, params=PARAMS[name])) == canonical(p.flat)


def test_cases_are_not_trivial(prepared):
    """Most cases alert, and the ones built to exercise order hold many details in several devices."""
    alerting = [name for name in NAMES if prepared(name).nested]
    assert len(alerting) > len(NAMES) // 2
    assert len(prepared("x_codepoint_order").nested) == 10
    assert sum(len(r["set_Details"]) for r in prepared("x_codepoint_order").nested) > 40


# ---- a generated fleet ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    from detector.generate import generate_fleet

    folder = tmp_path_factory.mktemp("engine-fleet")
    generate_fleet(folder, servers=40, workstations=60, events=20_000, days=14, now=NOW, seed=11)
    return _prepare(folder, NOW, {})


def test_fleet_alerts(fleet):
    assert len(fleet.flat) >= len(fleet.nested) >= 3


def test_fleet_on_spark_with_default_settings(spark, fleet):
    session = spark.newSession()  # the engine's settings, not SMALL_DATA
    assert session.conf.get("spark.sql.adaptive.enabled") == "true"
    assert canonical(_spark(session, fleet)) == canonical(fleet.nested)
    assert canonical(_spark(session, fleet, flat=True)) == canonical(fleet.flat)


def test_fleet_on_postgres(postgres, fleet):
    tables = postgres.load(RULE, fleet.folder)
    assert canonical(postgres.run(RULE, fleet.bindings, tables)) == canonical(fleet.nested)
    assert canonical(postgres.run(RULE, fleet.bindings, tables, flat=True)) == canonical(fleet.flat)


def test_fleet_on_clickhouse(clickhouse, fleet):
    assert canonical(_clickhouse(fleet)) == canonical(fleet.nested)
    assert canonical(_clickhouse(fleet, flat=True)) == canonical(fleet.flat)


# ---- `now` left to the engine's clock --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recent(tmp_path_factory):
    """Rows stamped relative to the real clock: the export without --now must read the engine's clock."""
    real_now = datetime.now(UTC)
    devices = [
        device("srv", Timestamp=real_now - timedelta(days=2)),
        device("old", Timestamp=real_now - timedelta(days=20)),
    ]
    events = [
        conn("srv", Timestamp=real_now - timedelta(hours=2)),
        conn("srv", "198.51.100.8", Timestamp=real_now - timedelta(days=3)),
        conn("old", Timestamp=real_now - timedelta(hours=2)),
    ]
    folder = write_fleet(tmp_path_factory.mktemp("recent"), devices, events)
    expected = run_rule(data=folder, now=None)
    assert [r["DeviceName"] for r in expected] == ["srv"]
    return folder, bind(RULE), expected


def test_engine_clock_on_postgres(postgres, recent):
    folder, unpinned, expected = recent
    assert canonical(postgres.run(RULE, unpinned, postgres.load(RULE, folder))) == canonical(expected)


def test_engine_clock_on_clickhouse(clickhouse, recent):
    folder, unpinned, expected = recent
    assert canonical(run_clickhouse(RULE, unpinned, folder)) == canonical(expected)


def test_engine_clock_on_spark(spark, recent):
    from detector.render import render

    folder, unpinned, expected = recent
    spark_engine.register(spark, RULE, spark_engine.sources.resolve(RULE, folder))
    sql = render(RULE, unpinned, dialect="spark").sql
    assert "current_timestamp()" in sql
    table = spark.sql(sql).toArrow().cast(spark_engine.duckdb_schema(RULE, unpinned, flat=False))
    assert canonical(table.to_pylist()) == canonical(expected)


# ---- `detector run --engine spark` ----------------------------------------------------------------------------


def test_cli_run_engine_spark_prints_duckdbs_bytes(spark, fleet):
    args = ["run", "--data", str(fleet.folder), "--now", "2026-11-20T12:00:00Z", "--format", "jsonl"]
    duck = CliRunner().invoke(app, args)
    on_spark = CliRunner().invoke(app, [*args, "--engine", "spark"])
    assert duck.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    assert on_spark.stdout == duck.stdout and duck.stdout.count("\n") == len(fleet.nested)
    flat = CliRunner().invoke(app, [*args, "--flat", "--engine", "spark", "--now", "latest"])
    assert flat.stdout == CliRunner().invoke(app, [*args, "--flat", "--now", "latest"]).stdout


def test_cli_run_engine_spark_rejects_duckdb_options(tmp_path):
    result = CliRunner().invoke(app, ["run", "--data", str(tmp_path), "--engine", "spark", "--threads", "2"])
    assert result.exit_code == 2 and "--threads" in result.output


def test_cli_run_unknown_engine(tmp_path):
    result = CliRunner().invoke(app, ["run", "--data", str(tmp_path), "--engine", "oracle"])
    assert result.exit_code == 2 and "duckdb, spark" in result.output


# ---- Spark reads the Parquet the way detector/sources.py does ---------------------------------------------------


def test_spark_normalises_columns_as_duckdb_does(spark, tmp_path):
    """Naive timestamps (= UTC), ISO-8601 text with Z / offsets / no zone / 7 digits, ports as text and int64,
    column names in another case, extra columns, hive folders, and files that differ in columns."""
    write_table(tmp_path, "DeviceInfo", [device("srv"), device("srv2")])
    events = tmp_path / "DeviceNetworkEvents"
    naive = pa.schema(
        [
            pa.field("Timestamp", pa.timestamp("us")) if f.name == "Timestamp" else f
            for f in SCHEMAS["DeviceNetworkEvents"]
        ]
    )
    rows = [conn("srv", ago=timedelta(hours=h)) for h in (1, 2, 23)]
    day1 = pa.table({f.name: [r.get(f.name) for r in rows] for f in naive}, schema=naive).append_column(
        "LocalIP", pa.array(["10.0.0.1"] * 3)
    )
    (events / "date=2026-11-20").mkdir(parents=True)
    pq.write_table(day1.cast(pa.schema([*naive, pa.field("LocalIP", pa.string())])).replace_schema_metadata(None),
                   events / "date=2026-11-20" / "part-0.parquet")  # fmt: skip
    text = ["2026-11-20T10:30:00Z", "2026-11-20T12:30:00+02:00", "2026-11-20 09:15:00", "2026-11-20T11:00:00.1234567Z"]
    day2 = pa.table(
        {
            "timestamp": pa.array(text),  # another case: SQL names ignore case
            "DeviceId": ["id-srv2"] * 4,
            "DeviceName": ["srv2"] * 4,
            "ActionType": ["ConnectionSuccess"] * 4,
            "RemoteIP": ["198.51.100.20", "198.51.100.21", "198.51.100.22", "198.51.100.23"],
            "RemotePort": pa.array(["443", "80", None, "8080"]),
            "RemoteIPType": ["Public"] * 4,
            "InitiatingProcessVersionInfoCompanyName": ["Rare"] * 4,
        }
    )  # no RemoteUrl column in this file
    (events / "date=2026-11-19").mkdir(parents=True)
    pq.write_table(day2, events / "date=2026-11-19" / "part-0.parquet")
    day3 = pa.table(
        {
            "Timestamp": pa.array([NOW - timedelta(hours=3)], pa.timestamp("us", tz="UTC")),
            "DeviceName": ["srv"],
            "RemoteIP": ["198.51.100.30"],
            "RemotePort": pa.array([22], pa.int64()),
            "DeviceId": ["id-srv"],
        }
    )
    (events / "date=2026-11-18").mkdir(parents=True)
    pq.write_table(day3, events / "date=2026-11-18" / "part-0.parquet")
    for flat in (False, True):
        expected = run_rule(data=tmp_path, now=NOW, flat=flat)
        got = spark_engine.run_table(data=tmp_path, now=NOW, flat=flat, spark=spark).to_pylist()
        assert canonical(got) == canonical(expected)
    assert len(run_rule(data=tmp_path, now=NOW, flat=True)) == 6


def _retyped(rows: list[dict], **types) -> pa.Table:
    schema = pa.schema([pa.field(f.name, types.get(f.name, f.type)) for f in SCHEMAS["DeviceNetworkEvents"]])
    return table("DeviceNetworkEvents", rows).cast(schema)


SPARK_INPUTS = {
    # pandas writes nanoseconds, which Spark refuses to read as timestamps unless told
    "ns_zoned": lambda rows: _retyped(rows, Timestamp=pa.timestamp("ns", tz="UTC")),
    "ns_naive": lambda rows: _retyped(rows, Timestamp=pa.timestamp("ns")),
    "ms_naive": lambda rows: _retyped(rows, Timestamp=pa.timestamp("ms")),
    "large_strings_float_port": lambda rows: _retyped(
        rows, RemotePort=pa.float64(), DeviceName=pa.large_string(), RemoteUrl=pa.large_string()
    ),
    "port_as_text": lambda rows: _retyped(rows, RemotePort=pa.string()),
    "null_typed_column": lambda rows: _retyped(rows).set_column(
        SCHEMAS["DeviceNetworkEvents"].get_field_index("RemoteUrl"), "RemoteUrl", pa.nulls(len(rows))
    ),
}


@pytest.mark.parametrize("variant", SPARK_INPUTS)
def test_spark_reads_what_duckdb_reads(spark, tmp_path, variant):
    rows = [conn("srv"), conn("srv", "198.51.100.1", RemotePort=None, ago=timedelta(hours=23, minutes=59)),
            conn("srv", "198.51.100.2", ago=timedelta(days=2)), conn("ws", RemoteUrl="x.example")]  # fmt: skip
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    pq.write_table(SPARK_INPUTS[variant](rows), tmp_path / "DeviceNetworkEvents.parquet")
    expected = run_rule(data=tmp_path, now=NOW, flat=True)
    assert len(expected) == 2
    got = spark_engine.run_table(data=tmp_path, now=NOW, flat=True, spark=_small(spark.newSession()))
    assert canonical(got.to_pylist()) == canonical(expected)


def test_spark_names_the_missing_column(spark, tmp_path):
    from detector.errors import SourceError

    write_table(tmp_path, "DeviceInfo", [device("srv")])
    pq.write_table(
        pa.table({"Timestamp": pa.array([NOW], pa.timestamp("us", tz="UTC"))}), tmp_path / "DeviceNetworkEvents.parquet"
    )
    with pytest.raises(SourceError, match="column DeviceId is missing"):
        spark_engine.run_table(data=tmp_path, now=NOW, spark=spark)


# ---- Snowflake: fakesnow (a smoke test: fakesnow rewrites the SQL to DuckDB; it is not Snowflake) ------------------

FAKESNOW_CASES = [
    "1_make_set_keeps_the_empty_url",
    "1_numbers_stay_null",
    "3_missing_prevalence_is_kept_and_packed_as_null",
    "4_sets_are_distinct_and_sorted",
    "4_every_left_row_of_the_lookup_survives",
    "x_codepoint_order",
]


@pytest.mark.parametrize("name", FAKESNOW_CASES)
def test_snowflake_sql_through_fakesnow(prepared, name):
    pytest.importorskip("fakesnow", reason="fakesnow is not installed (pip install -e '.[dev]')")
    p = prepared(name)
    got = run_fakesnow(RULE, p.bindings, p.folder)
    assert sorted_sets(got) == sorted_sets(p.nested)


def test_sorted_sets_helper_sorts():
    record = {"DeviceName": "a", "set_Details": [{"RemoteIP": "b", "RemotePort": None, "URLs": ["y", "x"]},
                                                 {"RemoteIP": "a", "RemotePort": 1, "URLs": None}]}  # fmt: skip
    [line] = sorted_sets([record])
    assert [d["RemoteIP"] for d in json.loads(line)["set_Details"]] == ["a", "b"]
