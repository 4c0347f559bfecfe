"""Proof by execution: every rule's cases give exactly their expected records on Spark, PostgreSQL and ClickHouse.

Every case of every installed rule (sql/<slug>/cases/*.json; tests/test_rule_cases.py checks them on DuckDB) is
written to Parquet once and run on each engine, whose records must be the case's `expect`: values, types, key
order, and the order of every set (each engine sorts in code point order). A generated fleet runs on DuckDB (the
reference) and on each engine too. Engines that are not installed here skip with the reason; in CI all of them run.
Snowflake runs through fakesnow as a smoke test only.
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
from engines import SMALL_DATA, Postgres, canonical, postgres_bin, run_clickhouse, run_fakesnow, sorted_sets
from helpers import SCHEMAS, table, write_fleet, write_table
from typer.testing import CliRunner

from detector import api, sources
from detector.cases import Case, load_cases, write_inputs
from detector.cases import canonical as expected_lines
from detector.cli import app
from detector.engines import spark as spark_engine
from detector.params import Bindings, bind
from detector.rule import Rule, load_all

SEED = "supply_chain_network_connections"
RULES = load_all()[0]
RULE = RULES[SEED]
CASES: dict[str, tuple[Rule, Case]] = {c.id: (r, c) for _, r in sorted(RULES.items()) for c in load_cases(r)}
IDS = list(CASES)


def spark_run(rule: Rule, session, *, folder: Path, now, params=None, flat: bool = False) -> list[dict]:
    """`detector run --engine spark` through the API, on the given Spark session."""
    return api.run_rule(rule, data=folder, now=now, params=params, flat=flat, engine="spark", spark_session=session)


@dataclass(frozen=True)
class Prepared:
    rule: Rule
    case: Case
    folder: Path
    bindings: Bindings  # the case's parameters, `now` pinned (resolved from the rows when it is "latest")

    @property
    def expected(self) -> list[str]:
        return expected_lines(self.case.expect)


def pinned_now(rule: Rule, case: Case) -> str | datetime:
    """The case's `now` as an instant: "latest" is the newest value of the rule's clock column in the case's rows
    (what DuckDB resolves it to)."""
    if case.now.strip().lower() != "latest":
        return case.now
    table, column = rule.clock
    stamps = [row[column] for row in case.inputs[table] if row.get(column) is not None]
    if not stamps:
        pytest.fail(f"{case.id}: now = latest, but no {table} row has a {column}")
    return max(stamps)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """Each case written to Parquet once, whichever engine asks first."""
    root = tmp_path_factory.mktemp("rule-cases")

    @functools.cache
    def get(case_id: str) -> Prepared:
        rule, case = CASES[case_id]
        folder = write_inputs(rule, case, root / rule.slug / case.name)
        return Prepared(rule, case, folder, bind(rule, case.params, now=pinned_now(rule, case)))

    return get


# ---- engines ----------------------------------------------------------------------------------------------


# The cases are tiny: they run with SMALL_DATA (tests/engines.py). The generated fleet and the CLI run with the
# engine's own settings.
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
    """Every selected case on Spark, SPARK_THREADS at a time (a Spark session per thread, one JVM)."""
    selected = {item.callspec.params["case_id"] for item in request.session.items if item.originalname == _SPARK_TEST}
    ids = [case_id for case_id in IDS if case_id in selected]
    for case_id in ids:
        prepared(case_id)  # the Parquet first, one at a time
    local = threading.local()

    def run(case_id: str) -> list[dict]:
        if not hasattr(local, "session"):
            local.session = _small(spark.newSession())
        p = prepared(case_id)
        return spark_run(p.rule, local.session, folder=p.folder, now=p.case.now, params=p.case.params, flat=p.case.flat)

    with ThreadPoolExecutor(SPARK_THREADS) as pool:
        futures = {case_id: pool.submit(run, case_id) for case_id in ids}
    results = {}
    for case_id, future in futures.items():
        try:
            results[case_id] = future.result()
        except Exception as exc:  # reported by the case's own test
            results[case_id] = exc
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


# ---- the rules' cases ------------------------------------------------------------------------------------------


_SPARK_TEST = "test_case_on_spark"


@pytest.mark.parametrize("case_id", IDS)
def test_case_on_spark(spark_results, prepared, case_id):
    got = spark_results[case_id]
    if isinstance(got, Exception):
        raise got
    assert canonical(got) == prepared(case_id).expected


@pytest.mark.parametrize("case_id", IDS)
def test_case_on_postgres(postgres, prepared, case_id):
    p = prepared(case_id)
    got = postgres.run(p.rule, p.bindings, postgres.load(p.rule, p.folder), flat=p.case.flat)
    assert canonical(got) == p.expected


@pytest.mark.parametrize("case_id", IDS)
def test_case_on_clickhouse(clickhouse, prepared, case_id):
    p = prepared(case_id)
    assert canonical(run_clickhouse(p.rule, p.bindings, p.folder, flat=p.case.flat)) == p.expected


def test_cases_are_not_trivial():
    """Most cases alert, both shapes are covered, and the ones built to exercise order hold many details in
    several devices."""
    cases = [case for _, case in CASES.values()]
    assert len([c for c in cases if c.expect]) > len(cases) // 2
    assert any(c.flat for c in cases) and any(not c.flat for c in cases)
    _, order = CASES[f"{SEED}/stress_codepoint_order"]
    assert len(order.expect) == 10
    assert sum(len(r["set_Details"]) for r in order.expect) > 40


# ---- a generated fleet ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    from detector.generate import generate_fleet

    folder = tmp_path_factory.mktemp("engine-fleet")
    generate_fleet(folder, servers=40, workstations=60, events=20_000, days=14, now=NOW, seed=11)
    nested = api.run_rule(RULE, data=folder, now=NOW)  # DuckDB: the reference
    flat = api.run_rule(RULE, data=folder, now=NOW, flat=True)
    return Fleet(folder, bind(RULE, now=NOW), nested, flat)


@dataclass(frozen=True)
class Fleet:
    folder: Path
    bindings: Bindings  # now pinned
    nested: list[dict]  # DuckDB's records
    flat: list[dict]


def test_fleet_alerts(fleet):
    assert len(fleet.flat) >= len(fleet.nested) >= 3


def test_fleet_on_spark_with_default_settings(spark, fleet):
    session = spark.newSession()  # the engine's settings, not SMALL_DATA
    assert session.conf.get("spark.sql.adaptive.enabled") == "true"
    assert canonical(spark_run(RULE, session, folder=fleet.folder, now=NOW)) == canonical(fleet.nested)
    assert canonical(spark_run(RULE, session, folder=fleet.folder, now=NOW, flat=True)) == canonical(fleet.flat)


def test_fleet_on_postgres(postgres, fleet):
    tables = postgres.load(RULE, fleet.folder)
    assert canonical(postgres.run(RULE, fleet.bindings, tables)) == canonical(fleet.nested)
    assert canonical(postgres.run(RULE, fleet.bindings, tables, flat=True)) == canonical(fleet.flat)


def test_fleet_on_clickhouse(clickhouse, fleet):
    assert canonical(run_clickhouse(RULE, fleet.bindings, fleet.folder)) == canonical(fleet.nested)
    assert canonical(run_clickhouse(RULE, fleet.bindings, fleet.folder, flat=True)) == canonical(fleet.flat)


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
    expected = api.run_rule(RULE, data=folder, now=None)
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
    engine = spark_engine.SparkEngine(spark_session=spark)
    names = engine.register(RULE, sources.resolve(RULE, folder))
    sql = render(RULE, unpinned, dialect="spark", source=names.__getitem__).sql
    assert "current_timestamp()" in sql
    assert canonical(engine.execute(sql).to_pylist()) == canonical(expected)


# ---- `detector run --engine spark` ----------------------------------------------------------------------------


def test_cli_run_engine_spark_prints_duckdbs_bytes(spark, fleet):
    args = ["run", SEED, "--data", str(fleet.folder), "--now", "2026-11-20T12:00:00Z", "--format", "jsonl"]
    duck = CliRunner().invoke(app, args)
    on_spark = CliRunner().invoke(app, [*args, "--engine", "spark"])
    assert duck.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    assert on_spark.stdout == duck.stdout and duck.stdout.count("\n") == len(fleet.nested)
    flat = CliRunner().invoke(app, [*args, "--flat", "--engine", "spark", "--now", "latest"])
    assert flat.stdout == CliRunner().invoke(app, [*args, "--flat", "--now", "latest"]).stdout


def test_cli_run_engine_spark_rejects_duckdb_options(tmp_path):
    result = CliRunner().invoke(app, ["run", SEED, "--data", str(tmp_path), "--engine", "spark", "--threads", "2"])
    assert result.exit_code == 2 and "--threads" in result.output


def test_cli_run_unknown_engine(tmp_path):
    result = CliRunner().invoke(app, ["run", SEED, "--data", str(tmp_path), "--engine", "oracle"])
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
        expected = api.run_rule(RULE, data=tmp_path, now=NOW, flat=flat)
        got = spark_run(RULE, spark, folder=tmp_path, now=NOW, flat=flat)
        assert canonical(got) == canonical(expected)
    assert len(api.run_rule(RULE, data=tmp_path, now=NOW, flat=True)) == 6


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
    expected = api.run_rule(RULE, data=tmp_path, now=NOW, flat=True)
    assert len(expected) == 2
    got = spark_run(RULE, _small(spark.newSession()), folder=tmp_path, now=NOW, flat=True)
    assert canonical(got) == canonical(expected)


def test_spark_names_the_missing_column(spark, tmp_path):
    from detector.errors import SourceError

    write_table(tmp_path, "DeviceInfo", [device("srv")])
    pq.write_table(
        pa.table({"Timestamp": pa.array([NOW], pa.timestamp("us", tz="UTC"))}), tmp_path / "DeviceNetworkEvents.parquet"
    )
    with pytest.raises(SourceError, match="column DeviceId is missing"):
        spark_run(RULE, spark, folder=tmp_path, now=NOW)


# ---- Snowflake: fakesnow (a smoke test: fakesnow rewrites the SQL to DuckDB; it is not Snowflake) ------------------

FAKESNOW_CASES = [
    f"{SEED}/{name}"
    for name in (
        "1_make_set_keeps_the_empty_url",
        "1_numbers_stay_null",
        "3_missing_prevalence_is_kept_and_packed_as_null",
        "3_missing_prevalence_next_to_a_counted_address",
        "4_sets_are_distinct_and_sorted",
        "4_every_left_row_of_the_lookup_survives",
        "stress_codepoint_order",
    )
]


@pytest.mark.parametrize("case_id", FAKESNOW_CASES)
def test_snowflake_sql_through_fakesnow(prepared, case_id):
    pytest.importorskip("fakesnow", reason="fakesnow is not installed (pip install -e '.[dev]')")
    p = prepared(case_id)
    assert not p.case.flat
    got = run_fakesnow(p.rule, p.bindings, p.folder)
    assert sorted_sets(got) == sorted_sets(list(p.case.expect))


def test_sorted_sets_helper_sorts():
    record = {"DeviceName": "a", "set_Details": [{"RemoteIP": "b", "RemotePort": None, "URLs": ["y", "x"]},
                                                 {"RemoteIP": "a", "RemotePort": 1, "URLs": None}]}  # fmt: skip
    [line] = sorted_sets([record])
    assert [d["RemoteIP"] for d in json.loads(line)["set_Details"]] == ["a", "b"]
