"""`detector export`: one self-contained statement per dialect, the per-dialect forms, and offline analysis.

What each dialect's SQL is checked with here (execution is in tests/test_engines.py):
- every dialect: parses with sqlglot in that dialect, and matches its golden file (`make snapshots`);
- BigQuery: analysed by ZetaSQL (Google's analyzer, WebAssembly) against the table schemas: names and types;
- Trino: qualified and type-annotated by sqlglot against the table schemas.
"""

from __future__ import annotations

from pathlib import Path

import golden_sql
import pytest
import sqlglot
from sqlglot import exp
from typer.testing import CliRunner

from detector import dialects, types
from detector.cli import app
from detector.dialects import EXPORT_DIALECTS
from detector.errors import ParamError
from detector.export import export_sql, table_name
from detector.params import bind
from detector.render import render
from detector.rule import load_all, load_rule

GOLDEN = Path(__file__).parent / "golden"
NOW = "2026-11-20T12:00:00Z"
RULE = load_rule("supply_chain_network_connections")
OTHERS = [d for d in EXPORT_DIALECTS if d != "duckdb"]


def invoke(*args):
    return CliRunner().invoke(app, ["export", RULE.slug, *[str(a) for a in args]])


def statement(script: str) -> str:
    """The SQL of an export, without its comment header and final semicolon."""
    lines = script.split("\n")  # not splitlines(): a value may hold U+2028, which is no line break in SQL
    start = next(i for i, line in enumerate(lines) if not line.startswith("-- "))
    return "\n".join(lines[start:]).rstrip().removesuffix(";")


def sql_for(dialect: str, now=NOW, shape="nested", **params) -> str:
    return export_sql(RULE, bind(RULE, params, now=now), dialect=dialect, shape=shape)


# ---- every dialect exports one statement -------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", EXPORT_DIALECTS)
@pytest.mark.parametrize("shape", ["nested", "flat"])
def test_every_dialect_exports_one_statement(dialect, shape):
    result = invoke("--dialect", dialect, "--now", NOW, "--shape", shape)
    assert result.exit_code == 0, result.output
    target = dialects.get(dialect)
    [tree] = sqlglot.parse(statement(result.stdout), read=target.sqlglot)
    ctes = [cte.alias for cte in tree.find(exp.With).expressions]
    # The CTEs of the chain `detector run` executes, named as there.
    assert ctes == list(render(RULE, bind(RULE, now=NOW), flat=shape == "flat").stages)
    assert ctes[-1] == (RULE.flat_stage.name if shape == "flat" else RULE.stages[-1].name)
    assert [s.alias_or_name for s in tree.selects] == ["*"]
    assert result.stdout.endswith(";\n") and result.stdout.count(";\n") == 1


@pytest.mark.parametrize("dialect", EXPORT_DIALECTS)
@pytest.mark.parametrize("slug", sorted(load_all()[0]))
def test_golden_sql_of_every_rule_and_dialect(slug, dialect):
    """`make snapshots` rewrites these; a change to any rule's SQL in any dialect shows up as its diff."""
    rule = load_rule(slug)
    assert golden_sql.render(rule, dialect) == golden_sql.path(rule, dialect).read_text()


def test_duckdb_export_is_what_run_executes():
    sql_command = CliRunner().invoke(app, ["sql", RULE.slug, "--now", NOW]).stdout
    assert statement(invoke("--dialect", "duckdb", "--now", NOW).stdout) == statement(sql_command)


def test_databricks_is_spark_sql():
    """Databricks gets Spark's forms; the Spark SQL is what tests/test_engines.py executes on PySpark."""
    assert sql_for("databricks") == sql_for("spark")


# ---- the per-dialect forms, one table per form --------------------------------------------------------------------

DETAILS = {
    "duckdb": 'struct_pack(RemoteIP := RemoteIP, RemotePort := RemotePort, "Count" := "Count", Prevalence := '
    "Prevalence, URLs := URLs) AS Details",
    "snowflake": "OBJECT_CONSTRUCT_KEEP_NULL('RemoteIP', \"RemoteIP\", 'RemotePort', \"RemotePort\", 'Count', "
    '"Count", \'Prevalence\', "Prevalence", \'URLs\', "URLs") AS "Details"',
    "bigquery": "STRUCT(RemoteIP AS RemoteIP, RemotePort AS RemotePort, `Count` AS `Count`, Prevalence AS "
    "Prevalence, URLs AS URLs) AS Details",
    "spark": "named_struct('RemoteIP', RemoteIP, 'RemotePort', RemotePort, 'Count', `Count`, 'Prevalence', "
    "Prevalence, 'URLs', URLs) AS Details",
    "trino": 'CAST(ROW(RemoteIP, RemotePort, "Count", Prevalence, URLs) AS ROW(RemoteIP VARCHAR, RemotePort '
    'INTEGER, "Count" BIGINT, Prevalence BIGINT, URLs ARRAY(VARCHAR))) AS Details',
    "postgres": "json_build_object('RemoteIP', \"RemoteIP\", 'RemotePort', \"RemotePort\", 'Count', \"Count\", "
    '\'Prevalence\', "Prevalence", \'URLs\', "URLs") AS "Details"',
    "clickhouse": 'CAST(tuple(RemoteIP, RemotePort, "Count", Prevalence, URLs) AS Tuple(RemoteIP Nullable(String), '
    'RemotePort Nullable(Int32), "Count" Nullable(Int64), Prevalence Nullable(Int64), URLs '
    "Variant(Array(String)))) AS Details",
}

SORTED_DETAILS = {
    "duckdb": "list(Details ORDER BY RemoteIP ASC NULLS LAST, RemotePort ASC NULLS LAST) AS set_Details",
    "snowflake": 'ARRAY_AGG("Details") WITHIN GROUP (ORDER BY "RemoteIP" ASC NULLS LAST, "RemotePort" ASC NULLS '
    'LAST) AS "set_Details"',
    "bigquery": "ARRAY_AGG(Details ORDER BY RemoteIP IS NULL, RemoteIP, RemotePort IS NULL, RemotePort) AS set_Details",
    "spark": "transform(sort_array(collect_list(named_struct('null0', RemoteIP IS NULL, 'key0', RemoteIP, 'null1', "
    "RemotePort IS NULL, 'key1', RemotePort, 'value', Details))), e -> e.value) AS set_Details",
    "trino": "array_agg(Details ORDER BY RemoteIP ASC NULLS LAST, RemotePort ASC NULLS LAST) AS set_Details",
    "postgres": 'json_agg("Details" ORDER BY "RemoteIP" COLLATE "C" ASC NULLS LAST, "RemotePort" ASC NULLS LAST) '
    'AS "set_Details"',
    "clickhouse": "arraySort((v, k) -> k, groupArray(Details), groupArray(tuple(RemoteIP IS NULL, RemoteIP, "
    "RemotePort IS NULL, RemotePort))) AS set_Details",
}

SORTED_URLS = {
    "duckdb": "list(DISTINCT RemoteUrl ORDER BY RemoteUrl) FILTER (WHERE RemoteUrl IS NOT NULL) AS URLs",
    "snowflake": 'ARRAY_AGG(DISTINCT "RemoteUrl") WITHIN GROUP (ORDER BY "RemoteUrl") AS "URLs"',
    "bigquery": "ARRAY_AGG(DISTINCT RemoteUrl IGNORE NULLS ORDER BY RemoteUrl) AS URLs",
    "spark": "array_sort(collect_set(RemoteUrl)) AS URLs",
    "trino": "array_sort(array_agg(DISTINCT RemoteUrl) FILTER (WHERE RemoteUrl IS NOT NULL)) AS URLs",
    "postgres": 'array_agg(DISTINCT "RemoteUrl" COLLATE "C" ORDER BY "RemoteUrl" COLLATE "C") FILTER (WHERE '
    '"RemoteUrl" IS NOT NULL) AS "URLs"',
    "clickhouse": "CAST(arraySort(groupUniqArray(RemoteUrl)) AS Variant(Array(String))) AS URLs",
}

PINNED_WINDOW = {
    "duckdb": "(CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ) - INTERVAL '336' HOUR)",
    "snowflake": "(CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ) - INTERVAL '336 HOUR')",
    "bigquery": "(CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMP) - INTERVAL 336 HOUR)",
    "spark": "(CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMP) - INTERVAL '336' HOUR)",
    "trino": "(CAST('2026-11-20 12:00:00.000000 UTC' AS TIMESTAMP(6) WITH TIME ZONE) - INTERVAL '336' HOUR)",
    "postgres": "(CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ) - INTERVAL '336 HOUR')",
    "clickhouse": "(CAST('2026-11-20 12:00:00.000000' AS DateTime64(6, 'UTC')) - INTERVAL 336 HOUR)",
}

CLOCK_WINDOW = {
    "duckdb": "(CURRENT_TIMESTAMP - INTERVAL '24' HOUR)",
    "snowflake": "(CURRENT_TIMESTAMP() - INTERVAL '24 HOUR')",
    "bigquery": "(CURRENT_TIMESTAMP() - INTERVAL 24 HOUR)",
    "spark": "(current_timestamp() - INTERVAL '24' HOUR)",
    "trino": "(current_timestamp(6) - INTERVAL '24' HOUR)",
    "postgres": "(CURRENT_TIMESTAMP - INTERVAL '24 HOUR')",
    "clickhouse": "(now64(6, 'UTC') - INTERVAL 24 HOUR)",
}

for form in (DETAILS, SORTED_DETAILS, SORTED_URLS, PINNED_WINDOW, CLOCK_WINDOW):
    form["databricks"] = form["spark"]

MATERIALIZED = {"duckdb": True, "postgres": True}  # elsewhere `AS MATERIALIZED` does not parse or means nothing


@pytest.mark.parametrize("dialect", EXPORT_DIALECTS)
def test_forms_per_dialect(dialect):
    sql = sql_for(dialect)
    assert DETAILS[dialect] in sql
    assert SORTED_DETAILS[dialect] in sql
    assert SORTED_URLS[dialect] in sql
    assert PINNED_WINDOW[dialect] in sql
    assert sql.count(" - INTERVAL") == sql.count(PINNED_WINDOW[dialect].split(" - ")[0])  # every ago() alike
    assert (" AS MATERIALIZED (" in sql) is MATERIALIZED.get(dialect, False)


@pytest.mark.parametrize("dialect", EXPORT_DIALECTS)
def test_now_defaults_to_the_engine_clock(dialect):
    clock = sql_for(dialect, now=None)
    assert CLOCK_WINDOW[dialect] in clock
    assert "2026-11-20" not in clock
    pinned = sql_for(dialect)
    assert dialects.get(dialect).now not in pinned


@pytest.mark.parametrize("dialect", EXPORT_DIALECTS)
def test_what_broke_before_is_not_there(dialect):
    """The constructs that were measured to be rejected or silently wrong on real engines."""
    sql = sql_for(dialect) + sql_for(dialect, shape="flat")
    upper = sql.upper()
    assert "UNNEST" not in upper  # sets are one-column CTEs tested with IN (SELECT col FROM cte)
    assert " DAY" not in upper  # a day is 24 hours, never a calendar day in the session's zone
    assert "OBJECT_CONSTRUCT(" not in upper  # drops null keys
    assert "DATETIME" not in upper or dialect == "clickhouse"  # BigQuery's DATETIME is not an instant
    if dialect in ("spark", "databricks"):
        assert "collect_list(" in sql and "ORDER BY" not in sql.split("collect_list(")[1].split(")")[0]
    if dialect == "clickhouse":
        assert sql.rstrip().endswith("SETTINGS join_use_nulls = 1, output_format_json_escape_forward_slashes = 0")
    if dialect == "bigquery":
        assert "FILTER (" not in upper and "ESCAPE" not in upper


def test_flat_shape_ends_at_the_flat_stage():
    for dialect in EXPORT_DIALECTS:
        flat = sql_for(dialect, shape="flat")
        assert "stage10_details" not in flat and "stage9_rare_destinations" in flat


def test_postgres_sorts_every_text_key_by_code_point():
    sql = sql_for("postgres", shape="flat")
    assert sql.endswith(
        'ORDER BY "DeviceName" COLLATE "C" ASC NULLS LAST, "RemoteIP" COLLATE "C" ASC NULLS LAST, '
        '"RemotePort" ASC NULLS LAST'
    )


@pytest.mark.parametrize("dialect", ["postgres", "snowflake"])
def test_quoting_every_identifier_changes_nothing_else(dialect, monkeypatch):
    """Snowflake and Postgres fold unquoted names; every identifier is quoted in place, nothing else changes."""
    import detector.render as render_module

    quoted = sql_for(dialect)
    monkeypatch.setattr(render_module.dialects, "quote_identifiers", lambda sql, _d: sql)
    plain = sql_for(dialect)
    assert plain != quoted and '"DeviceName"' not in plain
    sg = dialects.get(dialect).sqlglot
    assert sqlglot.parse_one(quoted, read=sg) == sqlglot.parse_one(plain, read=sg).transform(_quote)
    assert plain.count("\n") == quoted.count("\n")  # comments and layout kept


def _quote(node):
    if isinstance(node, exp.Identifier):
        return exp.Identifier(this=node.this, quoted=True)
    return node


# ---- tables, values and options ------------------------------------------------------------------------------------

TABLE_NAMES = {
    "duckdb": '"sec"."defender"."DeviceNetworkEvents"',
    "snowflake": '"sec"."defender"."DeviceNetworkEvents"',
    "bigquery": "`sec`.`defender`.`DeviceNetworkEvents`",
    "spark": "`sec`.`defender`.`DeviceNetworkEvents`",
    "databricks": "`sec`.`defender`.`DeviceNetworkEvents`",
    "trino": '"sec"."defender"."DeviceNetworkEvents"',
    "postgres": '"sec"."defender"."DeviceNetworkEvents"',
    "clickhouse": '"sec"."defender"."DeviceNetworkEvents"',
}


@pytest.mark.parametrize("dialect", EXPORT_DIALECTS)
def test_table_mapping_is_quoted_for_the_dialect(dialect):
    mapped = "DeviceNetworkEvents=sec.defender.DeviceNetworkEvents"
    result = invoke("--dialect", dialect, "--now", NOW, "--table", mapped, "--table", "DeviceInfo=inventory")
    assert result.exit_code == 0, result.output
    sql = statement(result.stdout)
    target = dialects.get(dialect)
    assert f"FROM {TABLE_NAMES[dialect]}" in sql
    assert f"FROM {exp.to_identifier('inventory', quoted=True).sql(dialect=target.sqlglot)}" in sql
    for name in RULE.tables:  # no table is read under its own name any more
        assert f"FROM {exp.to_identifier(name, quoted=True).sql(dialect=target.sqlglot)}" not in sql


def test_bigquery_project_ids_may_hold_hyphens():
    assert table_name("my-project.defender.events", dialects.get("bigquery")) == "`my-project`.`defender`.`events`"
    with pytest.raises(ParamError):
        table_name("my-project.defender.events", dialects.get("snowflake"))


@pytest.mark.parametrize(
    "bad",
    ["a.b.c.d", "", "a..b", "1abc", "a b", 'x"; DROP TABLE t; --', "a`b", "t;", "a-b", "x.y-z", "$x", "a.b.'c'"],
)
def test_table_mapping_must_be_plain_identifiers(bad):
    result = invoke("--dialect", "postgres", "--table", f"DeviceInfo={bad}")
    assert result.exit_code == 2
    assert "parameter --table" in result.output


def test_table_mapping_names_a_table_the_rule_reads():
    result = invoke("--dialect", "spark", "--table", "DeviceEvents=a.b")
    assert result.exit_code == 2 and "reads no such table" in result.output


HOSTILE = ["x'); DROP TABLE t; --", "a\\'b", "{{ 7*7 }}", "/* x */", "line\nbreak", "`tick`", '"dq"', "é\u2028x"]


@pytest.mark.parametrize("dialect", EXPORT_DIALECTS)
def test_values_stay_literals_in_every_dialect(dialect):
    result = invoke(
        "--dialect", dialect, "--now", NOW, "--excluded-ip-types", ",".join(h.replace(",", "") for h in HOSTILE)
    )
    assert result.exit_code == 0, result.output
    target = dialects.get(dialect)
    [tree] = sqlglot.parse(statement(result.stdout), read=target.sqlglot)
    literals = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
    for value in HOSTILE:
        assert value in literals or value.replace("\\", "\\\\") in literals  # as the dialect reads its escapes
    assert "49" not in result.stdout
    header = result.stdout.split("\nWITH\n")[0].split("\n")
    assert all(line.startswith("-- ") for line in header)  # no value can end the comment it is shown in


def test_tunings_from_files(tmp_path):
    (tmp_path / "servers.txt").write_text("# domain admins\ndc1\n")
    (tmp_path / "trusted.txt").write_text("windowsupdate.com\n")
    result = invoke("--dialect", "bigquery", "--now", NOW, "--privileged-servers", f"@{tmp_path / 'servers.txt'}",
                    "--trusted-urls", f"@{tmp_path / 'trusted.txt'}")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(DeviceName IN ('dc1'))" in result.stdout and "LIKE '%.windowsupdate.com'" in result.stdout
    assert '-- trusted_urls = ["windowsupdate.com"]' in result.stdout


def test_output_file(tmp_path):
    out = tmp_path / "rule.sql"
    assert invoke("--dialect", "trino", "--output", out).exit_code == 0
    assert out.read_text().startswith("-- rule: ") and "current_timestamp(6)" in out.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dialect", "oracle"], "is not one of duckdb, snowflake"),
        (["--dialect", "spark", "--shape", "wide"], "is not one of nested, flat"),
        (["--dialect", "spark", "--now", "latest"], "leave --now out"),
        (["--dialect", "spark", "--now", "yesterday"], "not an ISO-8601 instant"),
        (["--dialect", "spark", "--lookback", "fortnight"], "not a duration"),
    ],
)
def test_bad_options(args, message):
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.output


def test_trino_cannot_express_microseconds():
    with pytest.raises(ParamError, match="milliseconds"):
        sql_for("trino", new_window="1500microseconds")
    assert "INTERVAL '1.500' SECOND" in sql_for("trino", new_window="1500ms")


def test_render_names_the_dialect_it_does_not_know():
    with pytest.raises(ParamError, match="not one of"):
        render(RULE, bind(RULE, now=NOW), dialect="oracle")


# ---- BigQuery: ZetaSQL's analyzer, offline ---------------------------------------------------------------------------

BIGQUERY_OUTPUT = {
    "nested": [
        ("DeviceName", "STRING"),
        (
            "set_Details",
            "ARRAY<STRUCT<RemoteIP STRING, RemotePort INT64, Count INT64, Prevalence INT64, URLs ARRAY<STRING>>>",
        ),
    ],  # fmt: skip
    "flat": [
        ("DeviceName", "STRING"),
        ("RemoteIP", "STRING"),
        ("RemotePort", "INT64"),
        ("Count", "INT64"),
        ("starttime", "TIMESTAMP"),
        ("endtime", "TIMESTAMP"),
        ("Prevalence", "INT64"),
        ("URLs", "ARRAY<STRING>"),
    ],
}


@pytest.fixture(scope="module")
def zetasql():
    """ZetaSQL's analyzer with the rule's tables in BigQuery types; all language features on."""
    pytest.importorskip("zetasql", reason="zetasql is not installed (pip install -e '.[dev]')")
    import wasmtime
    import zetasql.core.wasm_client as wasm_client
    from zetasql.api import Analyzer, CatalogBuilder, TableBuilder
    from zetasql.types import AnalyzerOptions, LanguageOptions, TypeKind, ZetaSQLBuiltinFunctionOptions

    class CachedConfig(wasmtime.Config):
        """Compiling the analyzer's WebAssembly takes ~30 s; wasmtime's cache makes later runs take ~1 s."""

        def __init__(self):
            super().__init__()
            self.cache = True

    wasm_client.Config = CachedConfig
    kinds = {"TIMESTAMP": TypeKind.TYPE_TIMESTAMP, "STRING": TypeKind.TYPE_STRING, "INT64": TypeKind.TYPE_INT64}
    language = LanguageOptions.maximum_features()
    catalog = CatalogBuilder("bigquery")
    for name, columns in RULE.tables.items():
        table = TableBuilder(name)
        for column, kusto_type in columns.items():
            table = table.add_column(column, kinds[types.sql_type(kusto_type, "bigquery")])
        catalog = catalog.add_table(table.build())
    built = catalog.with_builtin_functions(ZetaSQLBuiltinFunctionOptions(language_options=language)).build()
    return Analyzer(AnalyzerOptions(language_options=language), built)


def _zeta_type(t) -> str:
    if t.is_array():
        return f"ARRAY<{_zeta_type(t.array_type.element_type)}>"
    if t.is_struct():
        return "STRUCT<" + ", ".join(f"{f.field_name} {_zeta_type(f.field_type)}" for f in t.struct_type.field) + ">"
    return t.type_kind.name.removeprefix("TYPE_")


@pytest.mark.parametrize("shape", ["nested", "flat"])
@pytest.mark.parametrize(
    ("now", "params"),
    [(NOW, {}), (None, {}), (NOW, {"excluded_ip_types": [], "excluded_action_types": [], "new_window": "90m"})],
)
def test_bigquery_sql_passes_zetasql_analysis(zetasql, shape, now, params):
    stmt = zetasql.analyze_statement(sql_for("bigquery", now=now, shape=shape, **params))
    assert [(c.name, _zeta_type(c.column.type)) for c in stmt.output_column_list] == BIGQUERY_OUTPUT[shape]


def test_zetasql_catches_what_bigquery_rejects(zetasql):
    """The analyzer is not a parser: a TIMESTAMP compared with a DATETIME literal is a type error."""
    sql = sql_for("bigquery").replace(
        "CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMP)", "DATETIME '2026-11-20 12:00:00'"
    )
    with pytest.raises(Exception, match="TIMESTAMP, DATETIME"):
        zetasql.analyze_statement(sql)


# ---- Trino: sqlglot type annotation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("now", [NOW, None])
def test_trino_sql_type_annotates(now):
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    schema = {name: {c: types.sql_type(t, "trino") for c, t in cols.items()} for name, cols in RULE.tables.items()}
    tree = annotate_types(
        qualify(sqlglot.parse_one(sql_for("trino", now=now), read="trino"), schema=schema, dialect="trino"),
        schema=schema,
        dialect="trino",
    )
    assert [(s.alias_or_name, s.type.sql("trino")) for s in tree.selects] == [
        ("devicename", "VARCHAR"),
        (
            "set_details",
            'ARRAY(ROW("remoteip" VARCHAR, "remoteport" INTEGER, "count" BIGINT, "prevalence" BIGINT, '
            '"urls" ARRAY(VARCHAR)))',
        ),
    ]
    # Every window compares the table's Timestamp with an instant. (sqlglot types current_timestamp as TIMESTAMP;
    # in Trino it is a timestamp with time zone.)
    instant = (exp.DataType.Type.TIMESTAMPTZ,) if now else (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMP)
    windows = [gt for gt in tree.find_all(exp.GT) if gt.this.name == "timestamp"]
    assert len(windows) >= 2
    for gt in windows:
        assert gt.this.type.is_type(exp.DataType.Type.TIMESTAMPTZ), gt.sql("trino")
        assert gt.expression.type.is_type(*instant), gt.sql("trino")
