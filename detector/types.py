"""Kusto's scalar types, in one table: how each is spelled in Arrow, DuckDB, Spark and every export dialect.

Every other module asks this one (rule and table schemas are checked against `KUSTO_TYPES`; sources cast to
`duckdb`/`spark`; case inputs and engine outputs are typed with `arrow`; typed rows in exports use `sql`).

- `guid` is carried as text: Defender writes ids as strings, and a string compares as Kusto compares guids'
  text. `dynamic` is carried as JSON text in the tables (what Defender exports hold).
- `set` is not a Kusto type: it is what make_set() of strings gives (a dynamic array), which engines with typed
  rows (Trino, ClickHouse) need spelled out.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class KustoType:
    name: str
    arrow: pa.DataType
    duckdb: str
    spark: str
    sql: dict[str, str]  # export dialect -> the type as that engine spells it (non-nullable form)
    what: str  # for messages: "an integer", "an ISO-8601 timestamp", ...


def _t(name, arrow, duckdb, spark, what, **sql) -> KustoType:
    spellings = {"duckdb": duckdb, "spark": spark, "databricks": spark, **sql}
    return KustoType(name, arrow, duckdb, spark, spellings, what)


_TABLE = (
    _t("string", pa.string(), "VARCHAR", "STRING", "text", snowflake="VARCHAR", bigquery="STRING",
       trino="VARCHAR", postgres="TEXT", clickhouse="String"),
    _t("int", pa.int32(), "INTEGER", "INT", "an integer", snowflake="INTEGER", bigquery="INT64",
       trino="INTEGER", postgres="INTEGER", clickhouse="Int32"),
    _t("long", pa.int64(), "BIGINT", "BIGINT", "an integer", snowflake="BIGINT", bigquery="INT64",
       trino="BIGINT", postgres="BIGINT", clickhouse="Int64"),
    _t("real", pa.float64(), "DOUBLE", "DOUBLE", "a number", snowflake="DOUBLE", bigquery="FLOAT64",
       trino="DOUBLE", postgres="DOUBLE PRECISION", clickhouse="Float64"),
    _t("bool", pa.bool_(), "BOOLEAN", "BOOLEAN", "true or false", snowflake="BOOLEAN", bigquery="BOOL",
       trino="BOOLEAN", postgres="BOOLEAN", clickhouse="Bool"),
    _t("datetime", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ", "TIMESTAMP", "an ISO-8601 timestamp",
       snowflake="TIMESTAMP_TZ", bigquery="TIMESTAMP", trino="TIMESTAMP(6) WITH TIME ZONE", postgres="TIMESTAMPTZ",
       clickhouse="DateTime64(6, 'UTC')"),
    _t("timespan", pa.duration("us"), "INTERVAL", "INTERVAL DAY TO SECOND", "a duration", snowflake="BIGINT",
       bigquery="INTERVAL", trino="INTERVAL DAY TO SECOND", postgres="INTERVAL", clickhouse="Int64"),
    _t("dynamic", pa.string(), "VARCHAR", "STRING", "JSON text", snowflake="VARCHAR", bigquery="STRING",
       trino="VARCHAR", postgres="TEXT", clickhouse="String"),
    _t("guid", pa.string(), "VARCHAR", "STRING", "text", snowflake="VARCHAR", bigquery="STRING",
       trino="VARCHAR", postgres="TEXT", clickhouse="String"),
)  # fmt: skip

TYPES: dict[str, KustoType] = {t.name: t for t in _TABLE}
KUSTO_TYPES = tuple(TYPES)

# make_set() of strings: not a column type, but typed rows (Trino, ClickHouse) must spell it.
SET_SQL = {"trino": "ARRAY(VARCHAR)", "clickhouse": "Variant(Array(String))", "duckdb": "VARCHAR[]"}

# Numbers sort as numbers; text sorts with the engine's code-point collation.
TEXT_TYPES = frozenset({"string", "dynamic", "guid"})


def get(name: str) -> KustoType:
    try:
        return TYPES[name]
    except KeyError:
        raise KeyError(f"unknown Kusto type {name!r} (known: {', '.join(KUSTO_TYPES)})") from None


def sql_type(name: str, dialect: str) -> str:
    """A Kusto type (or `set`) as `dialect` spells it."""
    if name == "set":
        return SET_SQL[dialect]
    return get(name).sql[dialect]


def arrow_schema(columns: dict[str, str]) -> pa.Schema:
    """{column: Kusto type} as an Arrow schema."""
    return pa.schema([(c, get(t).arrow) for c, t in columns.items()])


def canonical_arrow(arrow_type: pa.DataType) -> pa.DataType:
    """An engine's Arrow type in the form DuckDB gives (what output.py writes): large and view strings and lists
    become plain ones, timestamps become microseconds in UTC; structs and lists are normalised field by field."""
    t = arrow_type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_large_list(t) or pa.types.is_list(t) or pa.types.is_list_view(t):
        return pa.list_(canonical_arrow(t.value_type))  # element field named as pyarrow names it, on every engine
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, canonical_arrow(f.type)) for f in t])
    return t


def canonical_table(table: pa.Table) -> pa.Table:
    schema = pa.schema([pa.field(f.name, canonical_arrow(f.type)) for f in table.schema])
    return table if schema == table.schema else table.cast(schema)
