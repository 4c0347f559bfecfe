"""The KQL operators the catalog's rules use (../shared/spec/operators.md), macro by macro: the SQL each dialect
gets (a table of {dialect: expected SQL}, as sqlglot tests are written), and what it answers, executed on DuckDB
and ClickHouse (chdb) on the spec's own examples. The rules' cases run them on every engine besides."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import duckdb
import pytest
import sqlglot

from detector import kql
from detector.dialects import DIALECTS
from detector.literals import sql_literal
from detector.render import macro_sql

FOLD = "translate({}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"

# ---- the SQL each dialect gets -------------------------------------------------------------------------------------

HAS_DLL = {
    "duckdb": f"regexp_matches({FOLD.format('s')}, '(\\.dll([^a-z0-9]|$))')",
    "spark": f"({FOLD.format('s')} RLIKE '(\\\\.dll([^a-z0-9]|$))')",
    "databricks": f"({FOLD.format('s')} RLIKE '(\\\\.dll([^a-z0-9]|$))')",
    "postgres": f"({FOLD.format('s')} ~ '(\\.dll([^a-z0-9]|$))')",
    "clickhouse": f"match({FOLD.format('s')}, '(\\\\.dll([^a-z0-9]|$))')",
    "snowflake": f"(REGEXP_INSTR({FOLD.format('s')}, '(\\\\.dll([^a-z0-9]|$))') > 0)",
    "bigquery": f"REGEXP_CONTAINS({FOLD.format('s')}, '(\\\\.dll([^a-z0-9]|$))')",
    "trino": f"regexp_like({FOLD.format('s')}, '(\\.dll([^a-z0-9]|$))')",
}
JSON_TEXT = {
    "duckdb": "CAST(to_json(s) AS VARCHAR)",
    "spark": "to_json(s)",
    "databricks": "to_json(s)",
    "postgres": "CAST(array_to_json(s) AS TEXT)",
    "clickhouse": "toJSONString(variantElement(s, 'Array(String)'))",
    "snowflake": "TO_JSON(s)",
    "bigquery": "TO_JSON_STRING(s)",
    "trino": "json_format(CAST(s AS JSON))",
}
EPOCH_US = {
    "duckdb": "epoch_us({})",
    "spark": "unix_micros({})",
    "databricks": "unix_micros({})",
    "postgres": "(EXTRACT(EPOCH FROM {}) * 1000000)",
    "clickhouse": "toUnixTimestamp64Micro({})",
    "snowflake": "DATE_PART(EPOCH_MICROSECOND, {})",
    "bigquery": "UNIX_MICROS({})",
    "trino": "date_diff('microsecond', from_unixtime(0), {})",
}
REAL = {"postgres": "DOUBLE PRECISION", "clickhouse": "Nullable(Float64)", "bigquery": "FLOAT64"}
LONG = {"clickhouse": "Nullable(Int64)", "bigquery": "INT64"}


def test_every_dialect_is_in_the_tables():
    assert set(HAS_DLL) == set(JSON_TEXT) == set(EPOCH_US) == set(DIALECTS)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_has_sql(dialect):
    assert macro_sql("{{ kql.has('s', '.DLL') }}", dialect) == HAS_DLL[dialect]


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_set_has_any_searches_the_json_text(dialect):
    sql = macro_sql("{{ kql.set_has_any('s', 'domains') }}", dialect, domains=("x.com",))
    assert sql.startswith(
        {"snowflake": "(REGEXP_INSTR(", "spark": "(", "databricks": "(", "postgres": "("}.get(
            dialect, HAS_DLL[dialect].split("(")[0] + "("
        )
    )
    assert FOLD.format(JSON_TEXT[dialect]) in sql


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_datetime_diff_sql(dialect):
    real, long = REAL.get(dialect, "DOUBLE"), LONG.get(dialect, "BIGINT")
    a, b = EPOCH_US[dialect].format("a"), EPOCH_US[dialect].format("b")
    expected = f"CAST(floor(CAST({a} AS {real}) / 60000000) - floor(CAST({b} AS {real}) / 60000000) AS {long})"
    assert macro_sql("{{ kql.datetime_diff('minute', 'a', 'b') }}", dialect) == expected


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_case_insensitive_equality_and_in_sql(dialect):
    assert macro_sql("{{ kql.eq_ci('x', 'MSTSC.exe') }}", dialect) == (
        f"(lower(x) = 'mstsc.exe' AND {FOLD.format('x')} = 'mstsc.exe')"
    )
    assert macro_sql("{{ kql.eq_ci('x', 'É.exe') }}", dialect) == f"({FOLD.format('x')} = 'É.exe')"
    sql = macro_sql("{{ kql.in_ci_list('x', 'v') }}", dialect, v=("A", "b"))
    assert sql == f"({FOLD.format('x')} IN ('a', 'b'))"
    assert macro_sql("{{ kql.in_ci_list('x', 'v') }}", dialect, v=()) == "FALSE"
    assert macro_sql("{{ kql.has_any('x', 'v') }}", dialect, v=()) == "FALSE"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_macro_parses_in_every_dialect(dialect):
    snippet = (
        "SELECT {{ kql.has('s', 'a-b') }}, {{ kql.has_any('s', 'v') }}, {{ kql.set_has_any('t', 'v') }}, "
        "{{ kql.eq_ci('s', 'X') }}, {{ kql.in_ci_list('s', 'v') }}, {{ kql.datetime_diff('hour', 'a', 'b') }}, "
        "{{ kql.tolower('s') }}, {{ kql.join_select('l', ['k', 'v'], 'r', ['k', 'w']) }}"
    )
    sqlglot.parse_one(macro_sql(snippet, dialect, v=("x'); DROP TABLE t; --", ".dll")), read=DIALECTS[dialect].sqlglot)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_startswith_without_letters_compares_the_column_as_it_is(dialect):
    assert macro_sql("{{ kql.startswith_ci('ip', '169.254.') }}", dialect) == "(ip LIKE '169.254.%')"
    assert "lower(ip)" in macro_sql("{{ kql.startswith_ci('ip', '::ffff:') }}", dialect)


@pytest.mark.parametrize(
    ("value", "answer"), [("169.254.1.1", True), ("169.254", False), ("10.169.254.1", False), ("", False)]
)
def test_startswith_answers_on_duckdb(value, answer):
    sql = macro_sql("{{ kql.startswith_ci('s', '169.254.') }}", "duckdb")
    assert _one(f"SELECT {sql} FROM (SELECT {sql_literal(value)} AS s)") is answer


def test_join_select_names_as_kusto():
    sql = macro_sql("{{ kql.join_select('l', ['k', 'k1'], 'r', ['k', 'x']) }}", "duckdb")
    assert sql == 'l."k" AS "k", l."k1" AS "k1", r."k" AS "k2", r."x" AS "x"'


# ---- what they answer -------------------------------------------------------------------------------------------

HAS_EXAMPLES = [  # (haystack, needle, Kusto's answer): operators.md section 1
    ("KustoExplorerQueryRun", "Explorer", False),
    ("XWindows Server BYOL", "Windows Server BYOL", False),
    ("/providers/microsoft.capacity/reservationorders/x", "/microsoft.capacity/reservationorders/", True),
    ("ntdll.dll", ".dll", True),
    ("report.dllx", ".dll", False),
    ("a.dll.txt", ".dll", True),
    ("x.DLL", ".dll", True),
    ("data.jsonl", ".js", False),
    ("payload.js", ".js", True),
    ("powershell -encodedcommand", "-enc", False),
    ("", "x", False),
    ("my_dll_file", "dll", True),  # _ separates terms (a decision)
    ("anything", "", False),  # has "" is false (a decision)
    ("a+b(c)[d]", "b(c)[d]", True),  # punctuation inside a needle matches literally
    ("a.b", "a\\.b", False),
    ("É.DLL", ".dll", True),
]
SET_EXAMPLES = [  # (set, needle, answer): the set's JSON text is searched, operators.md section 2
    (["microsoft.com"], ".microsoft.com", False),
    (["www.microsoft.com"], ".microsoft.com", True),
    (["login.live.com.evil.net"], "login.live.com", True),
    (["xlogin.live.com"], "login.live.com", False),
    (["LOGIN.Live.COM"], "login.live.com", True),
    ([""], "x", False),
    (["a", "b/c"], "b/c", True),  # '/' is not escaped in the JSON text
    (["a b", "c"], "a", True),
]
DIFF_EXAMPLES = [  # (period, a, b, answer): the docs' printed results and the rules' traps, operators.md section 5
    ("day", "2017-10-29 00:00:00", "2017-09-30 23:59:00", 29),
    ("hour", "2017-10-31 01:00:00", "2017-10-30 23:59:00", 2),
    ("minute", "2017-10-30 23:05:01", "2017-10-30 23:00:59", 5),
    ("second", "2017-10-30 23:00:10.100", "2017-10-30 23:00:00.900", 10),
    ("millisecond", "2017-10-30 23:00:00.200100", "2017-10-30 23:00:00.100900", 100),
    ("minute", "2026-11-20 11:00:00", "2026-11-20 10:00:59", 60),
    ("minute", "2026-11-18 10:00:00", "2026-11-20 10:00:00", -2880),
    ("minute", "2026-11-20 10:00:59.999999", "2026-11-20 10:00:00", 0),
]


def _one(sql: str):
    return duckdb.sql(sql).fetchall()[0][0]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("haystack", "needle", "answer"), HAS_EXAMPLES)
def test_has_answers_as_kusto_on_duckdb(haystack, needle, answer):
    sql = macro_sql("{{ kql.has('s', needle) }}".replace("needle", repr(needle)), "duckdb")
    assert _one(f"SELECT {sql} FROM (SELECT {sql_literal(haystack)} AS s)") is answer
    assert bool(re.search(kql.terms_pattern([needle]) or "(?!)", kql.fold(haystack))) is answer


@pytest.mark.parametrize(("values", "needle", "answer"), SET_EXAMPLES)
def test_set_has_any_answers_as_kusto_on_duckdb(values, needle, answer):
    sql = macro_sql("{{ kql.set_has_any('s', 'v') }}", "duckdb", v=(needle,))
    literal = "[" + ", ".join(sql_literal(v) for v in values) + "]"
    assert _one(f"SELECT {sql} FROM (SELECT {literal} AS s)") is answer


@pytest.mark.parametrize(("period", "a", "b", "answer"), DIFF_EXAMPLES)
def test_datetime_diff_answers_as_kusto_on_duckdb(period, a, b, answer):
    sql = macro_sql(f"{{{{ kql.datetime_diff('{period}', 'a', 'b') }}}}", "duckdb")
    values = f"SELECT {sql_literal(_utc(a))} AS a, {sql_literal(_utc(b))} AS b"
    assert _one(f"SELECT {sql} FROM ({values})") == answer


@pytest.mark.parametrize(
    ("value", "answer"),
    [("MSTSC.EXE", True), ("mstsc.exe", True), ("mstsc.exe ", False), ("", False), ("MŚTSC.EXE", False)],
)
def test_eq_ci_folds_ascii_only(value, answer):
    sql = macro_sql("{{ kql.eq_ci('s', 'mstsc.exe') }}", "duckdb")
    assert _one(f"SELECT {sql} FROM (SELECT {sql_literal(value)} AS s)") is answer


def test_join_names():
    assert kql.join_names(["k", "k1"], ["k", "x"]) == ["k2", "x"]
    assert kql.join_names(["Timestamp", "DeviceId"], ["Timestamp", "DeviceId", "FileName"]) == [
        "Timestamp1",
        "DeviceId1",
        "FileName",
    ]
    assert kql.join_names(["a"], ["a", "a"]) == ["a1", "a2"]


@pytest.fixture(scope="module")
def chdb_query():
    chdb = pytest.importorskip("chdb", reason="chdb is not installed (pip install -e '.[dev]')")
    settings = " SETTINGS output_format_json_escape_forward_slashes = 0"
    booleans = {"true": "1", "false": "0"}

    def query(sql: str) -> str:
        out = chdb.query(sql + settings, "CSV").bytes().decode().strip()
        return booleans.get(out, out)

    return query


@pytest.mark.parametrize(("haystack", "needle", "answer"), HAS_EXAMPLES)
def test_has_answers_as_kusto_on_clickhouse(chdb_query, haystack, needle, answer):
    sql = macro_sql("{{ kql.has('s', needle) }}".replace("needle", repr(needle)), "clickhouse")
    assert chdb_query(f"SELECT {sql} FROM (SELECT {sql_literal(haystack, 'clickhouse')} AS s)") == str(int(answer))


@pytest.mark.parametrize(("values", "needle", "answer"), SET_EXAMPLES)
def test_set_has_any_answers_as_kusto_on_clickhouse(chdb_query, values, needle, answer):
    sql = macro_sql("{{ kql.set_has_any('s', 'v') }}", "clickhouse", v=(needle,))
    literal = "[" + ", ".join(sql_literal(v, "clickhouse") for v in values) + "]"
    query = f"SELECT {sql} FROM (SELECT CAST({literal} AS Variant(Array(String))) AS s)"
    assert chdb_query(query) == str(int(answer))


@pytest.mark.parametrize(("period", "a", "b", "answer"), DIFF_EXAMPLES)
def test_datetime_diff_answers_as_kusto_on_clickhouse(chdb_query, period, a, b, answer):
    sql = macro_sql(f"{{{{ kql.datetime_diff('{period}', 'a', 'b') }}}}", "clickhouse")
    cast = "toDateTime64({}, 6, 'UTC')"
    query = f"SELECT {sql} FROM (SELECT {cast.format(repr(a))} AS a, {cast.format(repr(b))} AS b)"
    assert chdb_query(query) == str(answer)
