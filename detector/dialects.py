"""Every SQL form that differs between engines, in one table.

The stage templates are written once, in SQL that means the same on every engine we target: sets are
one-column `SELECT DISTINCT` CTEs tested with `x IN (SELECT col FROM cte)`, strings are `coalesce(s, '')`, counts
are `count(DISTINCT x)`, windows are a zoned timestamp literal minus an interval, `startswith` is
`lower(x) LIKE 'p%'`. What cannot be written once is here, one row per dialect, and reaches the templates through
the `kql.*` macros (sql/_macros/kql.sql):

- `sorted_set`: make_set(x): distinct, nulls skipped, sorted in codepoint order (Spark drops an ORDER BY
  inside collect_list, so it sorts the collected array instead; Postgres sorts by its collation unless told "C").
- `pack`: Kusto's pack(): an object that keeps null values (Snowflake's OBJECT_CONSTRUCT would drop them; Trino
  and ClickHouse need typed rows).
- `sorted_list`: make_set(object) ordered by the object's key fields (nulls last).
- `materialize`: whether `name AS MATERIALIZED (...)` is accepted (KQL's materialize(); speed only).
- literals for instants, intervals and the engine's clock, built with sqlglot.

Patterns are filled with column names from the templates (never with user values: those are literals built by
sqlglot). tests/test_engines.py executes them on DuckDB, Spark, PostgreSQL and ClickHouse; docs/export.md says how
the others are checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlglot
from sqlglot import exp

from detector import types
from detector.errors import ParamError

# Names that read as a function or keyword on some engine: always quoted when the forms below write them.
ALWAYS_QUOTED = frozenset({"count"})
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Dialect:
    name: str  # ours, as `--dialect` takes it
    sqlglot: str  # sqlglot's name for it
    title: str
    # make_set(x) over a string column; {x} is the column.
    sorted_set: str
    # pack(): {pairs} joins `pair` per field; Trino / ClickHouse use {values} and {fields} (`name type`).
    pack: str
    pair: str = "{key}, {col}"
    # make_set(object) in key order: {value} the object column, {order} `k ASC NULLS LAST, ...`,
    # {keys} joins `struct_key` per key (for engines that sort an array of structs).
    sorted_list: str = "array_agg({value} ORDER BY {order})"
    struct_key: str = ""
    collate: str = ""  # appended to string sort keys so that text sorts in codepoint order
    sort_key: str = "{col}{collate} ASC NULLS LAST"  # one ascending key, nulls last
    # Typed rows (Trino, ClickHouse): pack() spells each field's type (detector/types.py), wrapped in `nullable`.
    typed_rows: bool = False
    nullable: str = "{}"
    quote_all: bool = False  # fold unquoted names (Snowflake upper, Postgres lower): quote every identifier
    materialize: bool = False  # accepts `name AS MATERIALIZED (...)`
    like_escape: bool = True  # needs `ESCAPE '\'` for an escaped LIKE pattern (else backslash is built in)
    settings: str = ""  # appended to the statement
    # Instants: a literal is CAST('<text><zone>' AS <datetime type>); `now` is the engine's clock, read once per
    # query.
    timestamp_zone: str = "+00:00"
    now: str = ""
    interval_units: tuple[str, ...] = ("HOUR", "MINUTE", "SECOND", "MICROSECOND")
    interval_number: bool = False  # INTERVAL 336 HOUR rather than INTERVAL '336' HOUR
    # Regular-expression search (anywhere in the text) of {s} for the literal pattern {p}.
    regex_search: str = "regexp_like({s}, {p})"
    # The compact JSON text of an array of strings, ["a","b"] (has / has_any on a make_set result).
    json_text: str = "to_json({x})"
    # Microseconds since the Unix epoch of an instant (datetime_diff).
    epoch_us: str = "epoch_us({x})"

    def ident(self, name: str) -> str:
        """A column name as the forms write it: plain, unless it must be quoted."""
        if _PLAIN.match(name) and name.lower() not in ALWAYS_QUOTED:
            return name
        return exp.to_identifier(name, quoted=True).sql(dialect=self.sqlglot)


_SPARK = {
    "sorted_set": "array_sort(collect_set({x}))",
    "pack": "named_struct({pairs})",
    # collect_list ignores an ORDER BY; sort_array sorts structs field by field, so the keys go first (with an
    # `IS NULL` flag before each, as sort_array puts null fields first), then the value is taken back out.
    "sorted_list": "transform(sort_array(collect_list(named_struct({keys}, 'value', {value}))), e -> e.value)",
    "struct_key": "'null{i}', {col} IS NULL, 'key{i}', {col}",
    "now": "current_timestamp()",
    "regex_search": "({s} RLIKE {p})",
    "epoch_us": "unix_micros({x})",
}

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            name="duckdb",
            sqlglot="duckdb",
            title="DuckDB",
            sorted_set="list(DISTINCT {x} ORDER BY {x}) FILTER (WHERE {x} IS NOT NULL)",
            pack="struct_pack({pairs})",
            pair="{col} := {col}",
            sorted_list="list({value} ORDER BY {order})",
            materialize=True,
            now="CURRENT_TIMESTAMP",
            regex_search="regexp_matches({s}, {p})",
            json_text="CAST(to_json({x}) AS VARCHAR)",
        ),
        Dialect(
            name="snowflake",
            sqlglot="snowflake",
            title="Snowflake",
            # ARRAY_AGG skips nulls; DISTINCT and WITHIN GROUP must name the same column.
            sorted_set="ARRAY_AGG(DISTINCT {x}) WITHIN GROUP (ORDER BY {x})",
            # OBJECT_CONSTRUCT drops keys whose value is null; pack() keeps them.
            pack="OBJECT_CONSTRUCT_KEEP_NULL({pairs})",
            sorted_list="ARRAY_AGG({value}) WITHIN GROUP (ORDER BY {order})",
            quote_all=True,
            now="CURRENT_TIMESTAMP()",
            # REGEXP_LIKE must match the whole text; REGEXP_INSTR searches.
            regex_search="(REGEXP_INSTR({s}, {p}) > 0)",
            json_text="TO_JSON({x})",
            epoch_us="DATE_PART(EPOCH_MICROSECOND, {x})",
        ),
        Dialect(
            name="bigquery",
            sqlglot="bigquery",
            title="BigQuery",
            # ARRAY_AGG fails on a null element unless told to skip it.
            sorted_set="ARRAY_AGG(DISTINCT {x} IGNORE NULLS ORDER BY {x})",
            pack="STRUCT({pairs})",
            pair="{col} AS {col}",
            sorted_list="ARRAY_AGG({value} ORDER BY {order})",
            # BigQuery documents NULLS FIRST / LAST for a query's ORDER BY, not inside ARRAY_AGG; a flag first
            # means the same everywhere (false sorts before true).
            sort_key="{col} IS NULL, {col}",
            like_escape=False,
            now="CURRENT_TIMESTAMP()",
            interval_number=True,
            regex_search="REGEXP_CONTAINS({s}, {p})",
            json_text="TO_JSON_STRING({x})",
            epoch_us="UNIX_MICROS({x})",
        ),
        Dialect(name="spark", sqlglot="spark", title="Apache Spark SQL", **_SPARK),
        Dialect(name="databricks", sqlglot="databricks", title="Databricks SQL", **_SPARK),
        Dialect(
            name="trino",
            sqlglot="trino",
            title="Trino",
            # array_agg keeps nulls: filter them out, then sort (varchar compares by code point).
            sorted_set="array_sort(array_agg(DISTINCT {x}) FILTER (WHERE {x} IS NOT NULL))",
            pack="CAST(ROW({values}) AS ROW({fields}))",
            typed_rows=True,
            now="current_timestamp(6)",
            timestamp_zone=" UTC",
            interval_units=("HOUR", "MINUTE", "SECOND"),
            json_text="json_format(CAST({x} AS JSON))",
            epoch_us="date_diff('microsecond', from_unixtime(0), {x})",
        ),
        Dialect(
            name="postgres",
            sqlglot="postgres",
            title="PostgreSQL",
            # array_agg keeps nulls; text sorts by the database collation unless told "C" (code point order).
            sorted_set='array_agg(DISTINCT {x} COLLATE "C" ORDER BY {x} COLLATE "C") FILTER (WHERE {x} IS NOT NULL)',
            pack="json_build_object({pairs})",
            sorted_list="json_agg({value} ORDER BY {order})",
            collate=' COLLATE "C"',
            quote_all=True,
            materialize=True,
            now="CURRENT_TIMESTAMP",
            regex_search="({s} ~ {p})",
            json_text="CAST(array_to_json({x}) AS TEXT)",
            epoch_us="(EXTRACT(EPOCH FROM {x}) * 1000000)",
        ),
        Dialect(
            name="clickhouse",
            sqlglot="clickhouse",
            title="ClickHouse",
            # An Array cannot be Nullable, and a LEFT JOIN fills a missing one with []; a Variant can be null,
            # so a lookup that finds nothing leaves the set null, as in Kusto.
            sorted_set="CAST(arraySort(groupUniqArray({x})) AS Variant(Array(String)))",
            pack="CAST(tuple({values}) AS Tuple({fields}))",
            sorted_list="arraySort((v, k) -> k, groupArray({value}), groupArray(tuple({keys})))",
            struct_key="{col} IS NULL, {col}",
            typed_rows=True,
            nullable="Nullable({})",
            like_escape=False,
            # Without join_use_nulls a LEFT JOIN fills non-matches with 0 and '' instead of NULL; JSON text keeps
            # '/' as it is (Kusto's JSON does not escape it).
            settings="SETTINGS join_use_nulls = 1, output_format_json_escape_forward_slashes = 0",
            now="now64(6, 'UTC')",
            regex_search="match({s}, {p})",
            json_text="toJSONString(variantElement({x}, 'Array(String)'))",
            epoch_us="toUnixTimestamp64Micro({x})",
            timestamp_zone="",
            interval_number=True,
        ),
    )
}

# What `detector export --dialect` offers (ClickHouse too: it is cheap, and executed in the tests).
EXPORT_DIALECTS = tuple(DIALECTS)


def get(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ParamError("dialect", f"{name!r} is not one of {', '.join(DIALECTS)}") from None


class Forms:
    """The per-dialect forms, bound to one dialect, as the templates call them (through kql.*)."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect

    def sorted_set(self, col: str) -> str:
        return self.dialect.sorted_set.format(x=self.dialect.ident(col))

    def pack(self, fields: list) -> str:
        d = self.dialect
        pairs, values, typed = [], [], []
        for name, kusto_type in fields:
            col = d.ident(name)
            pairs.append(d.pair.format(key=exp.Literal.string(name).sql(dialect=d.sqlglot), col=col))
            values.append(col)
            if d.typed_rows:
                typed.append(f"{col} {self.row_type(kusto_type)}")
        return d.pack.format(pairs=", ".join(pairs), values=", ".join(values), fields=", ".join(typed))

    def sorted_list(self, value: str, keys: list) -> str:
        d = self.dialect
        order = ", ".join(self.sort_key(name, kusto_type) for name, kusto_type in keys)
        struct_keys = ", ".join(d.struct_key.format(i=i, col=d.ident(name)) for i, (name, _) in enumerate(keys))
        return d.sorted_list.format(value=d.ident(value), order=order, keys=struct_keys)

    def regex_search(self, expr: str, pattern: str) -> str:
        return self.dialect.regex_search.format(s=expr, p=pattern)

    def json_text(self, expr: str) -> str:
        return self.dialect.json_text.format(x=expr)

    def epoch_us(self, expr: str) -> str:
        return self.dialect.epoch_us.format(x=expr)

    def row_type(self, kusto_type: str) -> str:
        """A field's type in a typed row: a set as is (an Array cannot be Nullable), a scalar made nullable."""
        spelled = types.sql_type(kusto_type, self.dialect.name)
        return spelled if kusto_type == "set" else self.dialect.nullable.format(spelled)

    def type(self, kusto_type: str) -> str:
        """A scalar Kusto type as the engine spells it (BigQuery: INT64, ClickHouse: Int64)."""
        return exp.DataType.build(types.get(kusto_type).duckdb, dialect="duckdb").sql(dialect=self.dialect.sqlglot)

    def sort_key(self, name: str, kusto_type: str = "string") -> str:
        collate = self.dialect.collate if kusto_type in types.TEXT_TYPES else ""
        return self.dialect.sort_key.format(col=self.dialect.ident(name), collate=collate)


def timestamp(value: datetime, dialect: Dialect) -> str:
    """An instant as a literal of the engine's zoned timestamp type, microseconds kept."""
    if value.tzinfo is None:
        raise TypeError("datetimes must be timezone-aware")
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + dialect.timestamp_zone
    target = exp.DataType.build(types.sql_type("datetime", dialect.name), dialect=dialect.sqlglot)
    return exp.cast(exp.Literal.string(text), target).sql(dialect=dialect.sqlglot)


_UNIT_SIZES = {
    "HOUR": timedelta(hours=1),
    "MINUTE": timedelta(minutes=1),
    "SECOND": timedelta(seconds=1),
    "MICROSECOND": timedelta(microseconds=1),
}


def interval(value: timedelta, dialect: Dialect) -> str:
    """A duration as an interval in the biggest exact unit up to hours.

    Never in days: DuckDB, Postgres, Snowflake and ClickHouse add a day in the session's calendar, which is 23 or
    25 hours across a daylight-saving change. Kusto's 1d is always 24 hours.
    """
    for unit in dialect.interval_units:
        size = _UNIT_SIZES[unit]
        if value % size == timedelta(0):
            amount = value // size
            this = exp.Literal.number(amount) if dialect.interval_number else exp.Literal.string(str(amount))
            return exp.Interval(this=this, unit=exp.Var(this=unit)).sql(dialect=dialect.sqlglot)
    # Trino keeps milliseconds: a fractional number of seconds, when it is exact to the millisecond.
    if value % timedelta(milliseconds=1) == timedelta(0):
        seconds = f"{value.total_seconds():.3f}"
        return exp.Interval(this=exp.Literal.string(seconds), unit=exp.Var(this="SECOND")).sql(dialect=dialect.sqlglot)
    raise ParamError("duration", f"{value} is finer than {dialect.title} intervals can express (milliseconds)")


def quote_identifiers(sql: str, dialect: Dialect) -> str:
    """Quote every unquoted identifier in place, keeping the text (layout, comments) as it is.

    For engines that fold unquoted names (Snowflake to upper case, Postgres to lower case): quoted, `MyColumn`
    stays `MyColumn`, in the tables read and in the output. Positions come from sqlglot's parse; nothing else
    in the statement changes.
    """
    tree = sqlglot.parse_one(sql, read=dialect.sqlglot)
    spans = []
    for ident in tree.find_all(exp.Identifier):
        if ident.quoted:
            continue
        start, end = ident.meta.get("start"), ident.meta.get("end")
        if start is None or sql[start : end + 1] != ident.this:
            raise ValueError(f"cannot locate identifier {ident.this!r} in the SQL")
        spans.append((start, end + 1, exp.to_identifier(ident.this, quoted=True).sql(dialect=dialect.sqlglot)))
    out = sql
    for start, end, quoted in sorted(set(spans), reverse=True):
        out = out[:start] + quoted + out[end:]
    return out
