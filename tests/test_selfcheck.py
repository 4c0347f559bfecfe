"""`detector test RULE --dialect D --script`: the self-check script, executed here wherever an engine runs.

Every installed rule (load_all()), each engine running the script the way a user would:
- DuckDB (in process, the whole script in one call): every case of every rule;
- PostgreSQL (Debian's server on a private socket, tests/engines.py; the script through `psql -f`): every case;
- ClickHouse (chdb; the whole script in one call): every case. It takes about 100 s on two cores, so it runs in a
  background process started with this module, while the other engines run;
- Spark (PySpark, local mode; statement by statement, as detector.selfcheck.statements() splits it): SUBSET;
- Snowflake through fakesnow (DuckDB underneath: a smoke test of the Snowflake text, not Snowflake): SUBSET;
- BigQuery: analysed by ZetaSQL (tests/test_export.py's analyzer, all features on): SUBSET's one statement;
- Trino: parsed by sqlglot: SUBSET's one statement.
SUBSET is, per rule, the first case with records of each output shape and the first case that expects none.

Every case PASSes; a broken export (one comparison of the rule's SQL swapped in the script) and expectations
changed on purpose (a number, the order inside a set, a null for "", a microsecond, a lost or an extra copy of a
record) FAIL with their first difference, so the check cannot pass by construction.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import functools
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import sqlglot
from engines import SMALL_DATA, Postgres, postgres_bin
from typer.testing import CliRunner

from detector import selfcheck, selfcheck_forms
from detector.cases import Case, load_cases
from detector.cli import app
from detector.dialects import EXPORT_DIALECTS
from detector.engines import spark as spark_engine
from detector.rule import Rule, load_all

RULES: dict[str, Rule] = load_all()[0]
SLUGS = sorted(RULES)
CASES: dict[str, list[Case]] = {slug: load_cases(RULES[slug]) for slug in SLUGS}
SEED = "supply_chain_network_connections"
COLUMNS = list(selfcheck.RESULT_COLUMNS)


def few(cases: list[Case]) -> list[Case]:
    """The first case with records of each output shape, and the first case that expects none."""
    picked = {}
    for case in cases:
        picked.setdefault(case.flat if case.expect else "none", case)
    return [c for c in cases if c in picked.values()]


# Spark and fakesnow run a few cases per rule in `make test` (Spark plans the whole check in its last query, several
# seconds a case); `make selfcheck-all` (SELFCHECK_ALL=1) runs every case there too.
SUBSET: dict[str, list[Case]] = {slug: few(CASES[slug]) for slug in SLUGS}
ALL = os.environ.get("SELFCHECK_ALL") == "1"
PART = 40


@functools.cache
def script(slug: str, dialect: str, subset: bool = False) -> str:
    return selfcheck.script(RULES[slug], (SUBSET if subset else CASES)[slug], dialect)


def slow_engine_checks(slug: str, dialect: str) -> list[tuple[str, list[Case]]]:
    """What Spark and fakesnow check: SUBSET, or under SELFCHECK_ALL=1 every case, in parts of PART cases (as
    docs/export.md tells users to run them with --case: Spark plans every case of a script in its last query, and a
    1 GB driver runs out of memory on the seed's 161 cases at once). (script, its cases) per part."""
    if not ALL:
        return [(script(slug, dialect, subset=True), SUBSET[slug])]
    cases = CASES[slug]
    parts = [cases[i : i + PART] for i in range(0, len(cases), PART)]
    return [(selfcheck.script(RULES[slug], part, dialect), part) for part in parts]


def check_verdicts(rows: list[tuple], cases: list[Case]) -> None:
    """One row per case, in order: its name, PASS, its expected and actual record counts, no difference."""
    rows = [tuple(r) for r in rows]
    failed = [r for r in rows if r[1] != "PASS"]
    assert not failed, "\n".join(f"{r[0]}: {r[4]}" for r in failed[:5])
    assert [r[0] for r in rows] == [c.name for c in cases]
    assert [(int(r[2]), int(r[3])) for r in rows] == [(len(c.expect), len(c.expect)) for c in cases]
    assert all(r[4] in (None, "") for r in rows)


# ---- engines: each runs a script and returns the last query's rows ----------------------------------------------


def run_duckdb(text: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(text).fetchall()  # every statement, in order; the result of the last


@pytest.fixture(scope="session")
def postgres():
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server: /usr/lib/postgresql/*/bin/initdb is missing (apt-get install postgresql)")
    if not (bindir / "psql").exists():
        pytest.skip(f"no psql next to {bindir / 'initdb'}")
    pytest.importorskip("pg8000", reason="pg8000 is not installed (pip install -e '.[dev]')")
    server = Postgres(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def run_psql(server: Postgres, text: str) -> list[tuple]:
    """The script as a user runs it: `psql -f`, in one session; the last query's rows (CSV)."""
    done = subprocess.run(
        [str(server.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", "-h", str(server.root),
         "-U", "postgres", "-d", "postgres", "-f", "-"],
        input=text, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == COLUMNS
    return [tuple(None if v == "" and i == 4 else v for i, v in enumerate(r)) for r in rows[1:]]


def run_chdb(text: str) -> list[tuple]:
    from chdb.session import Session

    session = Session()
    try:
        return [tuple(r.values()) for r in session.query(text, "ArrowTable").to_pylist()]  # the last query's rows
    finally:
        session.close()


@pytest.fixture(scope="session")
def spark():
    reason = spark_engine.unavailable()
    if reason:
        pytest.skip(reason)
    session = spark_engine.session()
    small = session.newSession()
    for key, value in SMALL_DATA.items():
        small.conf.set(key, value)
    yield small
    session.stop()


def run_spark(session, text: str) -> list[tuple]:
    """Statement by statement (Spark's API runs one at a time), the way the docs tell Spark users to."""
    *before, last = selfcheck.statements(text, "spark")
    for statement in before:
        session.sql(statement)
    return [tuple(r) for r in session.sql(last).collect()]


def run_fakesnow(text: str) -> list[tuple]:
    pytest.importorskip("fakesnow", reason="fakesnow is not installed (pip install -e '.[dev]')")
    import fakesnow
    import snowflake.connector

    with fakesnow.patch(), snowflake.connector.connect(database="detector", schema="selfcheck") as con:
        cur = con.cursor()
        *before, last = selfcheck.statements(text, "snowflake")
        for statement in before:
            cur.execute(statement)
        cur.execute(last)
        assert [d.name for d in cur.description] == COLUMNS
        return cur.fetchall()


# ---- ClickHouse: every case, in a background process --------------------------------------------------------------


def clickhouse_verdicts(path: str) -> None:
    """In the background process: every rule's full script on chdb; {slug: rows or "error: ..."} to `path`."""
    out: dict[str, object] = {}
    for slug in SLUGS:
        try:
            out[slug] = [list(r) for r in run_chdb(script(slug, "clickhouse"))]
        except Exception as exc:  # reported by the rule's test
            out[slug] = f"error: {exc}"
    Path(path).write_text(json.dumps(out))


# The child imports this module (its folder first on its path) and runs clickhouse_verdicts().
_CLICKHOUSE_CHILD = (
    "import sys; sys.path[:0] = sys.argv[2:]; import test_selfcheck as t; t.clickhouse_verdicts(sys.argv[1])"
)


@pytest.fixture(scope="module", autouse=True)
def clickhouse_job(request, tmp_path_factory):
    """Start the ClickHouse run when this module starts, if its test is selected and chdb is there."""
    wanted = any(
        item.module is request.module and item.originalname == "test_every_case_passes_on_clickhouse"
        for item in request.session.items
    )
    try:
        import chdb  # noqa: F401
    except ImportError:
        wanted = False
    if not wanted:
        yield None
        return
    folder = tmp_path_factory.mktemp("clickhouse")
    out, log = folder / "verdicts.json", open(folder / "stderr.txt", "w")  # noqa: SIM115
    here = str(Path(__file__).parent)
    child = subprocess.Popen([sys.executable, "-c", _CLICKHOUSE_CHILD, str(out), here, *sys.path], stdout=log,
                             stderr=log)  # fmt: skip
    job = {"child": child, "out": out, "log": folder / "stderr.txt"}
    yield job
    if child.poll() is None:
        child.kill()
    child.wait()
    log.close()


@pytest.fixture(scope="module")
def clickhouse_results(clickhouse_job):
    pytest.importorskip("chdb", reason="chdb is not installed (pip install -e '.[dev]')")
    child = clickhouse_job["child"]
    child.wait(timeout=900)
    assert child.returncode == 0, clickhouse_job["log"].read_text()[-3000:]
    return json.loads(clickhouse_job["out"].read_text())


# ---- every case PASSes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_every_case_passes_on_duckdb(slug):
    check_verdicts(run_duckdb(script(slug, "duckdb")), CASES[slug])


@pytest.mark.parametrize("slug", SLUGS)
def test_every_case_passes_on_postgres(postgres, slug):
    check_verdicts(run_psql(postgres, script(slug, "postgres")), CASES[slug])


@pytest.mark.parametrize("slug", SLUGS)
def test_cases_pass_on_spark(spark, slug):
    """SUBSET: a few cases in `make test`, every case in `make selfcheck-all`."""
    for text, cases in slow_engine_checks(slug, "spark"):
        check_verdicts(run_spark(spark, text), cases)


@pytest.mark.parametrize("slug", SLUGS)
def test_databricks_script_is_sparks(slug):
    """Databricks gets Spark's script (temporary views: no CACHE, which SQL warehouses lack), so Spark's run covers
    it; only the header's dialect line differs."""
    spark_text, databricks_text = script(slug, "spark", subset=True), script(slug, "databricks", subset=True)
    assert spark_text.replace("Apache Spark SQL (spark)", "Databricks SQL (databricks)") == databricks_text


@pytest.mark.parametrize("slug", SLUGS)
def test_cases_pass_through_fakesnow(slug):
    """A smoke test: fakesnow rewrites the Snowflake text to DuckDB, where a VARIANT is JSON text."""
    for text, cases in slow_engine_checks(slug, "snowflake"):
        check_verdicts(run_fakesnow(text), cases)


@pytest.mark.parametrize("slug", SLUGS)
def test_every_case_passes_on_clickhouse(clickhouse_results, slug):
    rows = clickhouse_results[slug]
    assert not isinstance(rows, str), rows
    check_verdicts(rows, CASES[slug])


# ---- a broken export FAILs --------------------------------------------------------------------------------------


# Swaps of one comparison in the rule's SQL; the first the rule's SQL holds is made.
SWAPS = [(" > (", " >= ("), (" < ", " <= "), (" > ", " >= ")]
_RESULT = re.compile(r"TEMPORARY TABLE \S*detector_c\d+_result\S* AS\n")


def broken(text: str, dialect: str) -> tuple[str, str]:
    """The script with one comparison swapped in every case's copy of the rule's SQL (and nowhere else)."""
    statements = selfcheck.statements(text, dialect)
    rule_sql = [i for i, s in enumerate(statements) if _RESULT.search(s)]
    assert rule_sql
    swap = next(((o, n) for o, n in SWAPS if any(o in statements[i] for i in rule_sql)), None)
    if swap is None:
        pytest.skip(f"the rule's SQL holds none of the comparisons {[o for o, _ in SWAPS]}")
    old, new = swap
    for i in rule_sql:
        statements[i] = statements[i].replace(old, new)
    return "".join(s + ";\n" for s in statements), old


@pytest.mark.parametrize("slug", SLUGS)
def test_a_broken_export_fails_on_duckdb(slug):
    text, swapped = broken(script(slug, "duckdb"), "duckdb")
    rows = run_duckdb(text)
    failed = [r for r in rows if r[1] == "FAIL"]
    assert failed, f"swapping {swapped!r} in the rule's SQL changed no case's result"
    assert all(r[4].startswith(("missing", "unexpected")) for r in failed)
    assert [r[0] for r in rows] == [c.name for c in CASES[slug]]


def test_a_broken_export_fails_on_postgres(postgres):
    text, _ = broken(script(SEED, "postgres"), "postgres")
    rows = run_psql(postgres, text)
    assert any(r[1] == "FAIL" for r in rows) and any(r[1] == "PASS" for r in rows)


# ---- changed expectations FAIL, on every engine: the comparison is exact ------------------------------------------


def _first(value, test, path=()):
    """The path of the first value (depth first) for which test(value) holds, or None."""
    if test(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        found = _first(inner, test, (*path, key))
        if found is not None:
            return found
    return None


def _at(record, path):
    for key in path[:-1]:
        record = record[key]
    return record, path[-1]


def _changed(case: Case, what: str) -> Case | None:
    """A copy of the case whose expectation is wrong in one way (None when the case has nothing to change)."""
    expect = copy.deepcopy(list(case.expect))
    if what == "lost record":
        expect = expect[1:]
    elif what == "extra copy":
        expect = [expect[0], *expect]
    else:
        tests = {
            "number": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "set order": lambda v: isinstance(v, list) and len(v) > 1 and v != v[::-1],
            "null for empty string": lambda v: v == "",
            "microsecond": lambda v: isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]+\.\d{6}Z", v),
        }
        found = ((i, _first(record, tests[what])) for i, record in enumerate(expect))  # inside a record
        path = next(((i, *inner) for i, inner in found if inner), None)
        if path is None:
            return None
        parent, key = _at(expect, path)
        value = parent[key]
        parent[key] = {
            "number": lambda: value + 1,
            "set order": lambda: value[::-1],
            "null for empty string": lambda: None,
            "microsecond": lambda: value[:-2] + str((int(value[-2]) + 1) % 10) + "Z",
        }[what]()
    return dataclasses.replace(case, name=f"{case.name} [{what}]", expect=tuple(expect))


CHANGES = ["number", "set order", "null for empty string", "microsecond", "lost record", "extra copy"]


def wrong_expectations(slug: str) -> list[tuple[Case, str]]:
    """Cases of the rule with a wrong expectation, each change once (from the first case that allows it), after an
    unchanged case: (case, the start its first difference must have, or PASS)."""
    cases = [c for c in CASES[slug] if c.expect]
    out: list[tuple[Case, str]] = [(cases[0], "PASS")]
    prefixes = {"lost record": "unexpected: ", "extra copy": "missing copies (expected 2, got 1): "}
    for what in CHANGES:
        changed = next(filter(None, (_changed(c, what) for c in cases)), None)
        if changed is not None:
            out.append((changed, prefixes.get(what, "missing: ")))
    return out


WRONG = {slug: wrong_expectations(slug) for slug in SLUGS}


def test_wrong_expectations_cover_every_change_for_the_seed():
    assert len(WRONG[SEED]) == 1 + len(CHANGES)


def check_wrong(rows: list[tuple], wrong: list[tuple[Case, str]]) -> None:
    assert [r[0] for r in rows] == [c.name for c, _ in wrong]
    for row, (case, want) in zip(rows, wrong, strict=True):
        if want == "PASS":
            assert row[1] == "PASS", row
        else:
            assert row[1] == "FAIL" and row[4].startswith(want), (case.name, row[4])


def wrong_script(slug: str, dialect: str) -> str:
    return selfcheck.script(RULES[slug], [c for c, _ in WRONG[slug]], dialect)


@pytest.mark.parametrize("slug", SLUGS)
def test_wrong_expectations_fail_on_duckdb(slug):
    check_wrong(run_duckdb(wrong_script(slug, "duckdb")), WRONG[slug])


@pytest.mark.parametrize("slug", SLUGS)
def test_wrong_expectations_fail_on_postgres(postgres, slug):
    check_wrong(run_psql(postgres, wrong_script(slug, "postgres")), WRONG[slug])


@pytest.mark.parametrize("slug", SLUGS)
def test_wrong_expectations_fail_on_clickhouse(slug):
    pytest.importorskip("chdb", reason="chdb is not installed (pip install -e '.[dev]')")
    check_wrong(run_chdb(wrong_script(slug, "clickhouse")), WRONG[slug])


def test_wrong_expectations_fail_on_spark(spark):
    check_wrong(run_spark(spark, wrong_script(SEED, "spark")), WRONG[SEED])


def test_wrong_expectations_fail_through_fakesnow():
    check_wrong(run_fakesnow(wrong_script(SEED, "snowflake")), WRONG[SEED])


def test_the_first_difference_shows_the_record():
    """The expected record, its columns named and strings quoted, after what is wrong with it."""
    case = next(c for c, _ in WRONG[SEED] if c.name.endswith("[number]"))
    [row] = run_duckdb(selfcheck.script(RULES[SEED], [case], "duckdb"))
    first, value = next(iter(case.expect[0].items()))
    assert row[1] == "FAIL" and row[4].startswith(f'missing: {first}="{value}", ')


# ---- BigQuery and Trino: one statement, analysed / parsed -------------------------------------------------------


@pytest.fixture(scope="module")
def zetasql():
    """ZetaSQL's analyzer with BigQuery's functions, all language features on, and no tables: the check reads
    none (its inputs are literal rows)."""
    pytest.importorskip("zetasql", reason="zetasql is not installed (pip install -e '.[dev]')")
    import wasmtime
    import zetasql.core.wasm_client as wasm_client
    from zetasql.api import Analyzer, CatalogBuilder
    from zetasql.types import AnalyzerOptions, LanguageOptions, ZetaSQLBuiltinFunctionOptions

    class CachedConfig(wasmtime.Config):
        """Compiling the analyzer's WebAssembly takes ~30 s; wasmtime's cache makes later runs take ~1 s."""

        def __init__(self):
            super().__init__()
            self.cache = True

    wasm_client.Config = CachedConfig
    language = LanguageOptions.maximum_features()
    catalog = CatalogBuilder("bigquery").with_builtin_functions(
        ZetaSQLBuiltinFunctionOptions(language_options=language)
    )
    return Analyzer(AnalyzerOptions(language_options=language), catalog.build())


@pytest.mark.parametrize("slug", SLUGS)
def test_bigquery_script_passes_zetasql_analysis(zetasql, slug):
    text = script(slug, "bigquery", subset=True)
    [statement] = selfcheck.statements(text, "bigquery")
    analysed = zetasql.analyze_statement(statement)
    got = [(c.name, c.column.type.type_kind.name) for c in analysed.output_column_list]
    assert got == [("case_name", "TYPE_STRING"), ("result", "TYPE_STRING"), ("expected_records", "TYPE_INT64"),
                   ("actual_records", "TYPE_INT64"), ("first_difference", "TYPE_STRING")]  # fmt: skip


def test_zetasql_rejects_a_broken_bigquery_script(zetasql):
    """The analyzer is not a rubber stamp: a function BigQuery does not have is an error."""
    statement = selfcheck.script(RULES[SEED], SUBSET[SEED][:1], "bigquery").replace("PARSE_JSON(", "PARSE_JSONX(")
    with pytest.raises(Exception, match="(?i)function not found"):
        zetasql.analyze_statement(selfcheck.statements(statement, "bigquery")[0])


@pytest.mark.parametrize("slug", SLUGS)
def test_trino_script_is_one_statement_that_parses(slug):
    text = script(slug, "trino", subset=True)
    [tree] = sqlglot.parse(text, read="trino")
    ctes = [cte.alias for cte in tree.find(sqlglot.exp.With).expressions]
    assert ctes[-1].startswith("detector_compared_") and "detector_c001_result" in ctes
    assert [s.alias_or_name for s in tree.selects] == COLUMNS


@pytest.mark.parametrize("dialect", ["bigquery", "trino"])
def test_long_one_statement_scripts_are_flagged(dialect):
    assert selfcheck.length_note(script(SEED, dialect, subset=True), dialect) is None
    note = selfcheck.length_note("x" * (selfcheck.TEXT_LIMITS[dialect] + 1), dialect)
    assert note and "--case" in note
    assert selfcheck.length_note("x" * 5_000_000, "postgres") is None


# ---- the script's text -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", EXPORT_DIALECTS)
def test_every_dialect_parses_statement_by_statement(dialect):
    """Every statement parses with sqlglot in its dialect; temporary relations where the engine has them, else one
    statement; no statement is split inside a literal (values holding ';', newlines, quotes)."""
    cases = SUBSET[SEED][:2]
    text = selfcheck.script(RULES[SEED], cases, dialect)
    statements = selfcheck.statements(text, dialect)
    one = dialect in ("bigquery", "trino")
    assert len(statements) == 1 if one else len(statements) > len(cases) * len(RULES[SEED].tables)
    for statement in statements:
        assert len(sqlglot.parse(statement, read=selfcheck.dialects.get(dialect).sqlglot)) == 1
    assert text.endswith(";\n") and text.startswith("-- detector self-check")


HOSTILE = "x'); DROP TABLE t; --\n;\u2028\\'\"{{ 7*7 }}"


def test_values_stay_literals():
    """Hostile text as a device's name (in its rows and its expected record) and as the case's name reaches SQL
    only as literals: every statement parses, the text is a literal, and the check passes."""
    case = next(c for c in CASES[SEED] if c.expect and not c.flat)
    name = case.expect[0]["DeviceName"]

    def renamed(row: dict) -> dict:
        return {k: HOSTILE if k == "DeviceName" and v == name else v for k, v in row.items()}

    inputs = {table: [renamed(r) for r in rows] for table, rows in case.inputs.items()}
    hostile = dataclasses.replace(case, name=HOSTILE, inputs=inputs, expect=tuple(renamed(r) for r in case.expect))
    for dialect in EXPORT_DIALECTS:
        text = selfcheck.script(RULES[SEED], [hostile], dialect)
        literals = set()
        for statement in selfcheck.statements(text, dialect):
            [tree] = sqlglot.parse(statement, read=selfcheck.dialects.get(dialect).sqlglot)
            literals |= {lit.this for lit in tree.find_all(sqlglot.exp.Literal) if lit.is_string}
        assert HOSTILE in literals or HOSTILE.replace("\\", "\\\\") in literals, dialect  # as the dialect escapes
    [row] = run_duckdb(selfcheck.script(RULES[SEED], [hostile], "duckdb"))
    assert row[:2] == (HOSTILE, "PASS")


def test_now_latest_is_the_newest_clock_value():
    latest = next((c for s in SLUGS for c in CASES[s] if c.now.strip().lower() == "latest"), None)
    if latest is None:
        pytest.skip("no case has now = latest")
    rule = RULES[latest.rule]
    table, column = rule.clock
    assert selfcheck.pinned_now(rule, latest) == max(r[column] for r in latest.inputs[table] if r.get(column))
    empty = dataclasses.replace(latest, inputs={**latest.inputs, table: []})
    with pytest.raises(selfcheck.RuleError, match="now = latest"):
        selfcheck.pinned_now(rule, empty)


def test_a_parameter_the_dialect_cannot_express_names_the_case():
    case = dataclasses.replace(CASES[SEED][0], params={"new_window": "1500microseconds"})
    with pytest.raises(selfcheck.RuleError, match=f"case {case.name!r}: parameter duration: .*milliseconds"):
        selfcheck.script(RULES[SEED], [case], "trino")
    assert selfcheck.script(RULES[SEED], [case], "duckdb")


def test_every_dialect_has_a_form():
    assert set(selfcheck_forms.FORMS) == set(EXPORT_DIALECTS) == set(selfcheck.dialects.DIALECTS)


def test_spark_and_clickhouse_expected_text_match_their_writers():
    assert selfcheck_forms.spark_text(["a\x1fb", "\\u001f"]) == '{"v":["a\\u001Fb","\\\\u001f"]}'
    assert selfcheck_forms.clickhouse_text(["\u2028/\x01"]) == '["\\u2028/\\u0001"]'
    assert selfcheck_forms.trino_text([{"RemoteIP": "A"}]) == '[{"remoteip":"A"}]'


# ---- the command ---------------------------------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(app, ["test", *[str(a) for a in args]])


def test_cli_prints_the_script():
    result = invoke(SEED, "--dialect", "duckdb", "--script")
    assert result.exit_code == 0, result.output
    assert result.stdout == script(SEED, "duckdb")  # what test_every_case_passes_on_duckdb executes
    assert result.stderr == ""


def test_cli_script_of_the_selected_cases():
    result = invoke(SEED, "--dialect", "postgres", "--script", "--case", "5_*")
    assert result.exit_code == 0, result.output
    chosen = [c for c in CASES[SEED] if c.name.startswith("5_")]
    assert result.stdout == selfcheck.script(RULES[SEED], chosen, "postgres")
    assert f"{len(chosen)} case(s)" in result.stdout.splitlines()[0]


def test_cli_notes_a_script_too_long_for_one_query():
    result = invoke(SEED, "--dialect", "bigquery", "--script")
    assert result.exit_code == 0 and result.stdout.startswith("-- detector self-check")
    assert result.stderr.startswith("note: the script is ") and "--case" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([SEED, "--script"], "parameter --script: needs --dialect, one of duckdb, snowflake"),
        ([SEED, "--dialect", "oracle", "--script"], "parameter --dialect: 'oracle' is not one of duckdb"),
        ([SEED, "--dialect", "duckdb"], "parameter --dialect: goes with --script"),
        ([SEED, "--dialect", "duckdb", "--script", "--engine", "spark"], "parameter --engine: is for running"),
        ([SEED, "--dialect", "duckdb", "--script", "--format", "json"], "parameter --format: is for running"),
        ([SEED, SEED, "--dialect", "duckdb", "--script"], "checks one rule at a time"),
        ([SEED, "--dialect", "duckdb", "--script", "--case", "no_such_*"], "no case matches --case no_such_*"),
        (["nope", "--dialect", "duckdb", "--script"], "unknown rule 'nope'"),
    ],
)
def test_cli_bad_combinations(args, message):
    result = invoke(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and message in result.stderr


def test_cli_help_explains_the_options():
    result = invoke("--help")
    assert result.exit_code == 0 and "--dialect" in result.stdout and "--script" in result.stdout


def test_without_the_new_options_cases_run_here_as_before():
    result = invoke(SEED, "--case", "5_*", "--format", "json")
    assert result.exit_code == 0 and {(r["engine"], r["result"]) for r in json.loads(result.stdout)} == {
        ("duckdb", "PASS")
    }
