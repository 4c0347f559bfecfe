"""`detector run --engine postgres` and `--engine clickhouse` (detector/engines/postgres.py, clickhouse.py).

- Every case of every installed rule (sql/<slug>/cases/*.json) gives exactly its expected records through
  detector.api.run_table: on PostgreSQL, the case's rows being tables in a database (a server started here on
  loopback with password authentication, read by a role that may only SELECT them); on ClickHouse (chdb), the
  case's Parquet.
- The tables a user already has: other names, lower-case columns, naive or text timestamps (7 fractional digits,
  as Defender writes them), wider integers and extra columns give DuckDB's records on the same rows, types
  included.
- The CLI: --connection over TCP and a unix socket prints DuckDB's bytes; a refused port, a wrong password, an
  unknown database, a table without a needed column are one line each, exit 2, no traceback.

The server is Debian's (tests/engines.py); the tests skip when it or the clients are missing.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import conn, device
from engines import Postgres, _copy_text, postgres_bin
from helpers import table as helpers_table
from helpers import write_fleet
from typer.testing import CliRunner

from detector import api, sources
from detector.cases import Case, canonical, load_cases, write_inputs
from detector.cli import app
from detector.engines import ENGINES
from detector.engines import clickhouse as clickhouse_engine
from detector.engines import postgres as postgres_engine
from detector.errors import ParamError, SourceError
from detector.output import table_records
from detector.params import parse_instant
from detector.rule import Rule, load_all

SEED = "supply_chain_network_connections"
RULES = load_all()[0]
CASES: dict[str, tuple[Rule, Case]] = {c.id: (r, c) for _, r in sorted(RULES.items()) for c in load_cases(r)}
IDS = list(CASES)
NOW = "2026-11-20T12:00:00Z"
READER, PASSWORD = "hunter", "s3cret-Pa55"
AUDITOR = "auditor"  # a read-only session (as on a hot standby): no temporary views


# ---- a PostgreSQL server on loopback ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Warehouse(Postgres):
    """tests/engines.py's server, listening on 127.0.0.1 too, with passwords over TCP (trust on its socket)."""

    def start(self) -> None:
        self.port = free_port()
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                  "--auth-local=trust", "--auth-host=scram-sha-256"]  # fmt: skip
        try:
            self._run(*initdb, "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US")
        except subprocess.CalledProcessError:
            shutil.rmtree(self.data, ignore_errors=True)
            self._run(*initdb, "--locale=C.UTF-8")
        options = (f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off "
                   "-c timezone=America/New_York")  # fmt: skip
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o", options,
                  "start")  # fmt: skip

    @contextlib.contextmanager
    def connect(self):
        import pg8000.native

        con = pg8000.native.Connection("postgres", unix_sock=str(self.root / f".s.PGSQL.{self.port}"))
        try:
            yield con
        finally:
            con.close()

    def load(self, rule: Rule, data: Path) -> dict[str, str]:
        """The case's Parquet as tables in a fresh schema the reader may only SELECT from."""
        tables = super().load(rule, data)
        schema = next(iter(tables.values())).split(".")[0]
        with self.connect() as con:
            con.run(f'GRANT USAGE ON SCHEMA "{schema}" TO {READER}, {AUDITOR}')
            con.run(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {READER}, {AUDITOR}')
        return tables

    @property
    def url(self) -> str:
        return f"postgresql://{READER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    @property
    def socket_url(self) -> str:
        return f"postgresql:///postgres?host={self.root}&port={self.port}&user=postgres"


@pytest.fixture(scope="module")
def warehouse():
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server: /usr/lib/postgresql/*/bin/initdb is missing (apt-get install postgresql)")
    pytest.importorskip("pg8000", reason="pg8000 is not installed (pip install -e '.[dev]')")
    server = Warehouse(bindir)
    try:
        server.start()
        with server.connect() as con:
            for role in (READER, AUDITOR):
                con.run(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
            con.run(f"ALTER ROLE {AUDITOR} SET default_transaction_read_only = on")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chdb():
    return pytest.importorskip("chdb", reason="chdb is not installed (pip install -e '.[dev]')")


# ---- every case of every rule -------------------------------------------------------------------------------


def run_case(rule: Rule, case: Case, engine: str, **where) -> list[str]:
    table = api.run_table(rule, now=case.now, params=case.params, flat=case.flat, engine=engine, **where)
    return canonical(table_records(table))


@pytest.fixture(scope="module")
def case_results(request, tmp_path_factory):
    """The selected cases on both engines: ClickHouse in one thread, PostgreSQL (load, then run) in another (chdb
    runs outside the GIL, the Postgres server in its own process). Errors, skips included, are kept for the case's
    own test."""
    selected = {test: [] for test in (_PG_TEST, _CH_TEST)}
    for item in request.session.items:
        if item.originalname in selected:
            selected[item.originalname].append(item.callspec.params["case_id"])
    root = tmp_path_factory.mktemp("cases")
    folders = {}
    for case_id in dict.fromkeys(selected[_PG_TEST] + selected[_CH_TEST]):
        rule, case = CASES[case_id]
        folders[case_id] = write_inputs(rule, case, root / rule.slug / case.name)

    def each(test: str, fixture: str, run) -> dict:
        if not selected[test]:
            return {}
        try:
            given = request.getfixturevalue(fixture)
        except pytest.skip.Exception as skipped:
            return dict.fromkeys(selected[test], skipped)
        return {case_id: lambda case_id=case_id: run(given, *CASES[case_id], folders[case_id]) for case_id in IDS
                if case_id in selected[test]}  # fmt: skip

    def postgres(server, rule, case, folder):
        tables = server.load(rule, folder)
        return run_case(rule, case, "postgres", connection=server.url, tables=tables)

    def clickhouse(_, rule, case, folder):
        return run_case(rule, case, "clickhouse", data=folder)

    # fixtures are set up here, in pytest's thread; the runs go to two threads
    work = {_PG_TEST: each(_PG_TEST, "warehouse", postgres), _CH_TEST: each(_CH_TEST, "chdb", clickhouse)}

    def run_all(runs: dict) -> dict:
        out = {}
        for case_id, run in runs.items():
            try:
                out[case_id] = run() if callable(run) else run
            except Exception as exc:  # reported by the case's own test
                out[case_id] = exc
        return out

    with ThreadPoolExecutor(2) as pool:
        futures = {test: pool.submit(run_all, runs) for test, runs in work.items()}
        return {test: future.result() for test, future in futures.items()}


_PG_TEST, _CH_TEST = "test_case_on_postgres", "test_case_on_clickhouse"


def _check(results: dict, case_id: str) -> None:
    got = results[case_id]
    if isinstance(got, BaseException):
        raise got
    _, case = CASES[case_id]
    assert got == canonical(case.expect), f"{case.file.name}: {case.name}"


@pytest.mark.parametrize("case_id", IDS)
def test_case_on_postgres(case_results, case_id):
    _check(case_results[_PG_TEST], case_id)


@pytest.mark.parametrize("case_id", IDS)
def test_case_on_clickhouse(case_results, case_id):
    _check(case_results[_CH_TEST], case_id)


def test_every_rule_has_cases_here():
    assert {rule.slug for rule, _ in CASES.values()} == set(RULES) and len(RULES) >= 1


# ---- the same Arrow as DuckDB, on tables shaped as a user's --------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A generated fleet as Parquet, and DuckDB's results on it (the reference)."""
    from detector.generate import generate_fleet

    folder = tmp_path_factory.mktemp("fleet")
    generate_fleet(folder, servers=20, workstations=30, events=4_000, days=14, now=parse_instant("now", NOW), seed=5)
    rule = RULES[SEED]
    return folder, {flat: api.run_table(rule, data=folder, now=NOW, flat=flat) for flat in (False, True)}


def _parquet(folder: Path, name: str) -> pa.Table:
    return pa.concat_tables(
        [pq.read_table(f) for f in sources.resolve(RULES[SEED], folder)[name].files], promote_options="default"
    )


def _copy(con, table: str, rows: pa.Table) -> None:
    con.run(f"COPY {table} FROM STDIN", stream=io.StringIO(_copy_text(rows)))


def _ddl(schema: pa.Schema) -> str:
    """Columns unquoted (folded to lower case): integers as BIGINT, naive timestamps as TIMESTAMP, the rest TEXT."""

    def pg(t: pa.DataType) -> str:
        if pa.types.is_integer(t):
            return "BIGINT"
        if pa.types.is_timestamp(t):
            return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
        return "BOOLEAN" if pa.types.is_boolean(t) else "TEXT"

    return ", ".join(f"{f.name} {pg(f.type)}" for f in schema)


def _defender_text(ts: datetime | None) -> str | None:
    """An instant as Defender's exports write it: 7 fractional digits (a 9 past the microsecond, which rounding
    would carry into the next microsecond), Z."""
    return None if ts is None else ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "9Z"


@pytest.fixture(scope="module")
def defender_schema(warehouse, fleet):
    """The fleet as a user's warehouse holds it: schema `defender`, lower-case unquoted names, DeviceInfo's
    Timestamp without a zone (UTC wall clock), DeviceNetworkEvents' Timestamp as text, RemotePort as bigint, a
    column the rule does not read; `thin_events` lacks RemoteUrl."""
    folder, _ = fleet
    info, events = _parquet(folder, "DeviceInfo"), _parquet(folder, "DeviceNetworkEvents")
    info = info.set_column(
        info.schema.get_field_index("Timestamp"), "Timestamp", info["Timestamp"].cast(pa.timestamp("us"))
    )
    stamps = pa.array([_defender_text(t) for t in events["Timestamp"].to_pylist()], pa.string())
    events = events.set_column(events.schema.get_field_index("Timestamp"), "Timestamp", stamps)
    with warehouse.connect() as con:
        con.run("CREATE SCHEMA defender")
        for table, rows, extra in (("device_info", info, ", Extra JSONB"), ("device_network_events", events, "")):
            con.run(f"CREATE TABLE defender.{table} ({_ddl(rows.schema)}{extra})")
            _copy(con, f"defender.{table} ({', '.join(rows.column_names)})", rows)
        thin = [c for c in events.column_names if c != "RemoteUrl"]
        con.run(f"CREATE TABLE defender.thin_events AS SELECT {', '.join(thin)} FROM defender.device_network_events")
        con.run(f"GRANT USAGE ON SCHEMA defender TO {READER}, {AUDITOR}")
        con.run(f"GRANT SELECT ON ALL TABLES IN SCHEMA defender TO {READER}, {AUDITOR}")
    return {"DeviceInfo": "defender.device_info", "DeviceNetworkEvents": "defender.device_network_events"}


def test_a_users_tables_give_duckdbs_arrow(warehouse, fleet, defender_schema):
    _, expected = fleet
    assert expected[False].num_rows >= 3  # the fleet alerts
    for flat in (False, True):
        got = api.run_table(
            SEED, engine="postgres", connection=warehouse.url, tables=defender_schema, now=NOW, flat=flat
        )
        assert canonical(got.to_pylist()) == canonical(expected[flat].to_pylist())
        assert got.schema.equals(expected[flat].schema), (got.schema, expected[flat].schema)


def test_now_latest_reads_the_newest_text_timestamp(warehouse, fleet, defender_schema):
    folder, _ = fleet
    duck = api.run_rule(SEED, data=folder, now="latest", flat=True)
    got = api.run_rule(
        SEED, engine="postgres", connection=warehouse.url, tables=defender_schema, now="latest", flat=True
    )
    assert canonical(got) == canonical(duck) and got


def test_nested_details_are_duckdbs_records(warehouse, fleet, defender_schema):
    """Postgres gives set_Details as json: it comes back as the list of Details structs DuckDB gives."""
    _, expected = fleet
    got = api.run_table(SEED, engine="postgres", connection=warehouse.url, tables=defender_schema, now=NOW)
    assert got.schema.field("set_Details").type == expected[False].schema.field("set_Details").type
    first = got.to_pylist()[0]["set_Details"][0]
    assert list(first) == ["RemoteIP", "RemotePort", "Count", "Prevalence", "URLs"]
    assert got.to_pylist() == expected[False].to_pylist()


def test_a_read_only_session_reads_the_tables_inline(warehouse, fleet, defender_schema, tmp_path):
    """Where no temporary view can be created (a hot standby, default_transaction_read_only), the typed selects go
    inline: the same records, for the fleet and for one case of every rule."""
    folder, expected = fleet
    url = warehouse.url.replace(READER, AUDITOR)
    with api.session(SEED, data=folder, now="latest") as duck:
        latest, records = duck.bindings.now, duck.execute().to_pylist()
    with api.session(SEED, engine="postgres", connection=url, tables=defender_schema, now="latest") as s:
        assert s.engine.inline and s.names["DeviceInfo"].startswith("(SELECT ")
        assert s.bindings.now == latest and s.execute().to_pylist() == records
    for flat in (False, True):
        got = api.run_table(SEED, engine="postgres", connection=url, tables=defender_schema, now=NOW, flat=flat)
        assert got.to_pylist() == expected[flat].to_pylist()
    for rule in RULES.values():
        case = next(c for r, c in CASES.values() if r is rule and c.expect)
        tables = warehouse.load(rule, write_inputs(rule, case, tmp_path / rule.slug))
        assert run_case(rule, case, "postgres", connection=url, tables=tables) == canonical(case.expect), case.id


def test_a_connection_of_the_callers_is_used_and_left_open(warehouse, fleet, defender_schema):
    import pg8000.native

    _, expected = fleet
    con = pg8000.native.Connection(READER, host="127.0.0.1", port=warehouse.port, password=PASSWORD,
                                   database="postgres")  # fmt: skip
    try:
        got = api.run_table(SEED, engine="postgres", connection=con, tables=defender_schema, now=NOW)
        assert got.to_pylist() == expected[False].to_pylist()
        assert con.run("SELECT current_setting('TimeZone')") == [["UTC"]]
        assert con.run('SELECT count(*) FROM "detector__DeviceNetworkEvents"')[0][0] > 0  # the typed view
    finally:
        con.close()


def test_ctrl_c_cancels_the_statement_on_the_server(warehouse):
    engine = postgres_engine.PostgresEngine(connection=warehouse.url)
    pid = engine.pid
    main = threading.main_thread().ident
    timer = threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT))  # Ctrl-C while the server works
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        # pg_sleep in slices, so that the interrupt is seen between two of them
        engine.execute("SELECT count(pg_sleep(0.05)) FROM generate_series(1, 400)")
    assert time.monotonic() - started < 10
    with warehouse.connect() as con:
        for _ in range(50):
            if not con.run("SELECT 1 FROM pg_stat_activity WHERE pid = :pid AND state = 'active'", pid=pid):
                break
            time.sleep(0.1)
        assert not con.run("SELECT 1 FROM pg_stat_activity WHERE pid = :pid AND state = 'active'", pid=pid)
    engine.close()


# ---- the command line ----------------------------------------------------------------------------------------


def cli(*args: str):
    return CliRunner().invoke(app, ["run", SEED, "--now", NOW, "--format", "jsonl", *args])


def one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_cli_prints_duckdbs_bytes_over_tcp_and_the_socket(warehouse, fleet, defender_schema):
    folder, _ = fleet
    duck = cli("--data", str(folder))
    assert duck.exit_code == 0 and duck.stdout.count("\n") >= 3, duck.output
    tables = [f"--table={name}={where}" for name, where in defender_schema.items()]
    for url in (warehouse.url, warehouse.socket_url):
        got = cli("--engine", "postgres", "--connection", url, *tables)
        assert got.exit_code == 0, got.output
        assert got.stdout == duck.stdout
    flat = cli("--engine", "postgres", "--connection", warehouse.url, *tables, "--flat")
    assert flat.stdout == cli("--data", str(folder), "--flat").stdout


def test_cli_default_table_names_are_the_rules(warehouse, fleet, defender_schema):
    """Without --table the rule's own table names are read, on the search path (here: a schema named after the
    role, first on PostgreSQL's default search path)."""
    folder, _ = fleet
    with warehouse.connect() as con:
        con.run(f"CREATE SCHEMA {READER} AUTHORIZATION {READER}")
        for name in ("DeviceInfo", "DeviceNetworkEvents"):
            con.run(f'CREATE TABLE {READER}."{name}" AS SELECT * FROM defender.{_snake(name)}')
            con.run(f'GRANT SELECT ON {READER}."{name}" TO {READER}')
    got = cli("--engine", "postgres", "--connection", warehouse.url)
    assert got.exit_code == 0, got.output
    assert got.stdout == cli("--data", str(folder)).stdout
    # --all: every rule on the tables named as it reads them; a rule whose table is not there is skipped
    every = CliRunner().invoke(app, ["run", "--all", "--engine", "postgres", "--connection", warehouse.url,
                                     "--now", NOW, "--format", "jsonl"])  # fmt: skip
    assert every.exit_code == 0, every.output
    assert every.stdout.count(f'{{"rule":"{SEED}"') == got.stdout.count("\n")
    if "rogue_rdp_file_creation" in RULES:  # reads DeviceFileEvents, which is not in the database
        assert "skipped rogue_rdp_file_creation: table DeviceFileEvents: no table or view" in every.stderr
    refused = f"postgresql://{READER}@127.0.0.1:{free_port()}/postgres"
    one_line_error(CliRunner().invoke(app, ["run", "--all", "--engine", "postgres", "--connection", refused]),
                   "Connection refused")  # fmt: skip


def _snake(name: str) -> str:
    return {"DeviceInfo": "device_info", "DeviceNetworkEvents": "device_network_events"}[name]


def test_cli_refused_port(warehouse):
    port = free_port()
    line = one_line_error(cli("--engine", "postgres", "--connection", f"postgresql://{READER}@127.0.0.1:{port}/db"))
    assert line == f"error: --engine postgres: cannot connect to 127.0.0.1:{port} as {READER}: Connection refused"


def test_cli_wrong_password(warehouse):
    url = f"postgresql://{READER}:not-the-password@127.0.0.1:{warehouse.port}/postgres"
    line = one_line_error(cli("--engine", "postgres", "--connection", url), f"127.0.0.1:{warehouse.port}", "postgres")
    assert f'password authentication failed for user "{READER}"' in line
    assert "not-the-password" not in line


def test_cli_unknown_database(warehouse):
    url = f"postgresql://{READER}:{PASSWORD}@127.0.0.1:{warehouse.port}/nowhere"
    one_line_error(cli("--engine", "postgres", "--connection", url), f"127.0.0.1:{warehouse.port}",
                   'database "nowhere" does not exist')  # fmt: skip


def test_cli_socket_without_a_server(tmp_path):
    one_line_error(
        cli("--engine", "postgres", "--connection", f"postgresql:///db?host={tmp_path}"),
        f"cannot connect to {tmp_path}/.s.PGSQL.5432",
        "No such file or directory",
    )


def test_cli_a_table_without_a_needed_column(warehouse, defender_schema):
    args = ["--engine", "postgres", "--connection", warehouse.url, "--table=DeviceInfo=defender.device_info"]
    line = one_line_error(cli(*args, "--table=DeviceNetworkEvents=defender.thin_events"))
    assert line == (
        "error: table DeviceNetworkEvents: column RemoteUrl is missing from PostgreSQL table defender.thin_events"
    )
    one_line_error(
        cli(*args, "--table=DeviceNetworkEvents=defender.nope"), "table DeviceNetworkEvents", "defender.nope"
    )
    one_line_error(cli(*args, "--table=DeviceNetworkEvents=a.b.c"), "--table", "schema.table")
    one_line_error(cli(*args, "--table=Nope=x"), "Nope", "the rule reads no such table")


def test_cli_options_that_do_not_fit(warehouse, tmp_path):
    one_line_error(cli("--engine", "postgres"), "--connection", "postgresql://")
    one_line_error(cli("--engine", "postgres", "--connection", warehouse.url, "--data", str(tmp_path)), "--data")
    one_line_error(cli("--connection", warehouse.url), "--connection", "--engine postgres")
    one_line_error(cli("--engine", "clickhouse", "--connection", warehouse.url), "--connection")
    one_line_error(cli("--engine", "postgres", "--connection", "mysql://u@h/db"), "--connection", "postgresql://")
    line = one_line_error(cli("--engine", "postgres", "--connection", "postgresql://u:hush@h:99999/db"), "port")
    assert "hush" not in line


def test_cli_help_lists_the_engines():
    out = CliRunner().invoke(app, ["run", SEED, "--help"], terminal_width=200).stdout
    assert "--connection" in out
    for name in ENGINES:
        assert name in out


def test_cli_clickhouse_prints_duckdbs_bytes(chdb, fleet):
    folder, _ = fleet
    for extra in (("--now", "latest"), ("--flat",)):
        duck = cli("--data", str(folder), *extra)
        got = cli("--data", str(folder), "--engine", "clickhouse", *extra)
        assert got.exit_code == 0, got.output
        assert got.stdout == duck.stdout and duck.stdout


# ---- connection URLs ----------------------------------------------------------------------------------------


def test_connection_urls():
    parse = postgres_engine.parse_url
    t = parse("postgresql://u:p%40ss@db.example:6432/hunt?sslmode=require&connect_timeout=5", {})
    assert (t.host, t.port, t.user, t.password, t.database, t.sslmode, t.socket) == (
        "db.example", 6432, "u", "p@ss", "hunt", "require", None)  # fmt: skip
    assert t.connect_timeout == 5 and t.where == "db.example:6432"
    t = parse("postgresql:///hunt?host=/run/pg&port=5433", {"PGUSER": "alice", "PGPASSWORD": "x"})
    assert (t.host, t.socket, t.user, t.password, t.database) == (None, "/run/pg/.s.PGSQL.5433", "alice", "x", "hunt")
    t = parse("postgres://%2Fvar%2FRun%2Fpg/hunt", {"PGUSER": "bob"})
    assert t.socket == "/var/Run/pg/.s.PGSQL.5432" and t.database == "hunt"
    t = parse("postgresql://u@[::1]:5000", {})
    assert (t.host, t.port, t.database) == ("::1", 5000, "u")
    t = parse("postgresql://", {"PGHOST": "h", "PGPORT": "7", "PGUSER": "v", "PGDATABASE": "d", "PGSSLMODE": "disable"})
    assert (t.host, t.port, t.user, t.database, t.sslmode) == ("h", 7, "v", "d", "disable")
    for bad, why in [
        ("mysql://h/db", "postgresql://"),
        ("postgresql://u:secret@h:0/db", "port"),
        ("postgresql://u:secret@h/db?sslmode=sometimes", "sslmode"),
        ("postgresql://u:secret@h/db?fallback=1", "unknown parameter 'fallback'"),
        ("postgresql://u@h1,h2/db?password=secret", "one host"),
    ]:
        with pytest.raises(ParamError, match=why) as raised:
            parse(bad, {})
        assert "secret" not in str(raised.value)


# ---- ClickHouse over Parquet ----------------------------------------------------------------------------------


def test_clickhouse_unions_files_by_column_name(chdb, fleet, tmp_path):
    """A table in several files whose schemas differ (a column missing from one, a timestamp written as text in
    another, a wider integer): the same records as DuckDB."""
    folder, expected = fleet
    events = _parquet(folder, "DeviceNetworkEvents")
    third = events.num_rows // 3
    parts = tmp_path / "data" / "DeviceNetworkEvents" / "date=2026-11-20"
    parts.mkdir(parents=True)
    pq.write_table(events.slice(0, third).drop_columns(["RemoteUrl"]), parts / "a.parquet")
    text = events.slice(third, third)
    stamps = pa.array([_defender_text(t) for t in text["Timestamp"].to_pylist()], pa.string())
    pq.write_table(text.set_column(0, "Timestamp", stamps), parts / "b.parquet")
    rest = events.slice(2 * third)
    port = rest.schema.get_field_index("RemotePort")
    pq.write_table(rest.set_column(port, "RemotePort", rest["RemotePort"].cast(pa.int64())), parts / "c.parquet")
    shutil.copytree(folder / "DeviceInfo", tmp_path / "data" / "DeviceInfo")
    for flat in (False, True):
        duck = api.run_table(SEED, data=tmp_path / "data", now=NOW, flat=flat)
        got = api.run_table(SEED, data=tmp_path / "data", now=NOW, flat=flat, engine="clickhouse")
        assert got.to_pylist() == duck.to_pylist() and duck.num_rows
        assert got.schema.equals(duck.schema), (got.schema, duck.schema)


def _events(**retyped) -> pa.Table:
    rows = [conn("srv", ago=timedelta(hours=h), RemoteIP=f"198.51.100.{h}") for h in (1, 2, 5, 23)]
    rows += [conn("srv", ago=timedelta(days=3), RemoteIP="198.51.100.2"), conn("other", RemoteIP="198.51.100.5")]
    events = helpers_table("DeviceNetworkEvents", rows)
    for column, arrow_type in retyped.items():
        events = events.set_column(events.schema.get_field_index(column), column, events[column].cast(arrow_type))
    return events


def _as_text(events: pa.Table) -> pa.Table:
    """Timestamps as ISO-8601 text: Z, an offset, no zone (= UTC), 7 fractional digits."""
    forms = [
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda t: t.astimezone(timezone(timedelta(hours=2))).isoformat(),
        lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "7Z",
    ]
    stamps = [forms[i % 4](t) for i, t in enumerate(events["Timestamp"].to_pylist())]
    return events.set_column(0, "Timestamp", pa.array(stamps, pa.string()))


PARQUET_FORMS = {
    "ns_zoned": lambda: _events(Timestamp=pa.timestamp("ns", tz="UTC")),
    "ns_naive": lambda: _events(Timestamp=pa.timestamp("ns")),
    "ms_naive": lambda: _events(Timestamp=pa.timestamp("ms")),
    "text_times": lambda: _as_text(_events()),
    "large_strings_float_port": lambda: _events(RemotePort=pa.float64(), DeviceName=pa.large_string()),
    "port_as_text": lambda: _events(RemotePort=pa.string()),
    "lower_case_names": lambda: _events().rename_columns([c.lower() for c in _events().column_names]),
}


@pytest.mark.parametrize("form", sorted(PARQUET_FORMS))
def test_clickhouse_reads_parquet_as_duckdb_does(chdb, form, tmp_path):
    write_fleet(tmp_path, [device("srv"), device("other", DeviceType="Workstation")], [])
    pq.write_table(PARQUET_FORMS[form](), tmp_path / "DeviceNetworkEvents.parquet")
    duck = api.run_table(SEED, data=tmp_path, now=NOW, flat=True)  # the flat rows carry the instants
    got = api.run_table(SEED, data=tmp_path, now=NOW, flat=True, engine="clickhouse")
    assert got.to_pylist() == duck.to_pylist() and duck.num_rows
    assert got.schema.equals(duck.schema)


def test_clickhouse_names_the_file_column_and_row_of_a_bad_timestamp(chdb, fleet, tmp_path):
    folder, _ = fleet
    events = _parquet(folder, "DeviceNetworkEvents").slice(0, 5)
    stamps = [_defender_text(t) for t in events["Timestamp"].to_pylist()]
    stamps[3] = "yesterday-ish"
    events = events.set_column(0, "Timestamp", pa.array(stamps, pa.string()))
    (tmp_path / "d").mkdir()
    pq.write_table(events, tmp_path / "d" / "DeviceNetworkEvents.parquet")
    shutil.copytree(folder / "DeviceInfo", tmp_path / "d" / "DeviceInfo")
    with pytest.raises(SourceError) as raised:
        api.run_table(SEED, data=tmp_path / "d", now=NOW, engine="clickhouse")
    assert str(raised.value) == (
        f"table DeviceNetworkEvents: column Timestamp is not an ISO-8601 timestamp at "
        f"{tmp_path / 'd' / 'DeviceNetworkEvents.parquet'} row 4: 'yesterday-ish'"
    )


def test_clickhouse_reads_local_files_only(chdb):
    engine = clickhouse_engine.ClickHouseEngine()
    try:
        remote = sources.Table("DeviceInfo", "s3://bucket/x", ("s3://bucket/x/DeviceInfo.parquet",))
        with pytest.raises(SourceError, match="reads local Parquet files, not s3://bucket/x/DeviceInfo.parquet"):
            engine.register(RULES[SEED], {"DeviceInfo": remote})
    finally:
        engine.close()
