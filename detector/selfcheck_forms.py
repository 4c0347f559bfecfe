"""How the self-check script (detector/selfcheck.py) is written for each engine: its temporary relations, literal
rows, and the canonical JSON text a `dynamic` value is compared as. The rule's own SQL forms stay in
detector/dialects.py; these are the forms only the self-check uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# ---- the canonical JSON text of an expected value, per engine ----------------------------------------------------


def json_text(value: Any) -> str:
    """Compact JSON, keys in the record's order, non-ASCII kept (as `detector run --format jsonl` writes it)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


def _upper_hex(text: str) -> str:
    """`\\u001f` -> `\\u001F`: Spark's (Jackson's) and ClickHouse's JSON writers spell escapes in upper case.
    Escapes are read left to right, each whole, so an escaped backslash followed by `u001f` is left alone."""

    def fix(match: re.Match) -> str:
        escape = match.group(1)
        return "\\u" + escape[1:].upper() if len(escape) == 5 else "\\" + escape

    return _ESCAPE.sub(fix, text)


def spark_text(value: Any) -> str:
    # The actual side is to_json(named_struct('v', x), map('ignoreNullFields', 'false')): wrapped in {"v": ...}.
    return _upper_hex('{"v":' + json_text(value) + "}")


def clickhouse_text(value: Any) -> str:
    # toJSONString: upper-case hex escapes, U+2028 and U+2029 escaped (for JavaScript), '/' kept (a setting).
    return _upper_hex(json_text(value)).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k.lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def trino_text(value: Any) -> str:
    # Trino folds names to lower case, row field names included: CAST(row AS JSON) writes lower-case keys.
    return json_text(_lower_keys(value))


@dataclass(frozen=True)
class Form:
    """How the self-check is written for one engine."""

    # A statement creating the temporary relation {name} from {query}; None: the engine has no temporary tables
    # (the whole check is one statement of CTEs).
    temporary: str | None
    # Literal rows: "values" ((VALUES ...) AS v(c1, ...)), "unnest" (BigQuery: UNNEST of a typed array of
    # structs), "clickhouse" (the values() table function, typed by a structure string).
    rows: str
    # A dynamic value as a comparable value: the actual column {x}, the expected JSON text {x} (a string).
    actual: str
    expected: str
    # The expected JSON text, from the expected value.
    text: Callable[[Any], str] = json_text
    # A comparable dynamic value as text, to show it.
    show: str = "{x}"
    drop: str | None = None  # run before `temporary`, so the script can run twice in one session
    # Cast the actual scalar columns to the rule's declared types before comparing (ClickHouse: count() is
    # UInt64, and its set operations and GROUP BY keys do not unify UInt64 with Int64).
    cast_actual: bool = False
    settings: str = ""  # appended to the final query
    session: tuple[str, ...] = ()  # statements that open the script (session settings)


_TEMP_TABLE = "CREATE TEMPORARY TABLE {name} AS\n{query}"
_SPARK = Form(
    temporary="CREATE OR REPLACE TEMPORARY VIEW {name} AS\n{query}",
    rows="values",
    actual="to_json(named_struct('v', {x}), map('ignoreNullFields', 'false'))",
    expected="{x}",
    text=spark_text,
)

FORMS: dict[str, Form] = {
    "duckdb": Form(
        temporary="CREATE OR REPLACE TEMPORARY TABLE {name} AS\n{query}",
        rows="values",
        actual="CAST(to_json({x}) AS VARCHAR)",
        expected="CAST(json({x}) AS VARCHAR)",
    ),
    "snowflake": Form(
        # No "OR REPLACE" and no DROP: both resolve a permanent table of the same name when no temporary one
        # exists. A VARIANT compares by value (an object's keys in any order); TO_JSON only shows it.
        temporary=_TEMP_TABLE,
        rows="values",
        actual="TO_VARIANT({x})",
        expected="PARSE_JSON({x})",
        show="TO_JSON({x})",
    ),
    "bigquery": Form(
        temporary=None,
        rows="unnest",
        actual="TO_JSON_STRING(TO_JSON({x}))",
        expected="TO_JSON_STRING(PARSE_JSON({x}))",
    ),
    "spark": _SPARK,
    "databricks": _SPARK,
    "trino": Form(
        temporary=None,
        rows="values",
        actual="json_format(json_parse(json_format(CAST({x} AS JSON))))",
        expected="json_format(json_parse({x}))",
        text=trino_text,
    ),
    "postgres": Form(
        temporary=_TEMP_TABLE,
        drop="DROP TABLE IF EXISTS pg_temp.{name}",  # pg_temp: never a permanent table
        rows="values",
        actual="CAST(to_jsonb({x}) AS TEXT)",
        expected="CAST(CAST({x} AS JSONB) AS TEXT)",
    ),
    "clickhouse": Form(
        temporary="CREATE TEMPORARY TABLE {name} ENGINE = Memory AS\n{query}",
        drop="DROP TEMPORARY TABLE IF EXISTS {name}",
        rows="clickhouse",
        actual="toJSONString({x})",
        expected="{x}",
        text=clickhouse_text,
        cast_actual=True,
        # join_use_nulls as in the rule; the JSON writer settings fix the format clickhouse_text writes.
        settings="SETTINGS join_use_nulls = 1, output_format_json_escape_forward_slashes = 0, "
        "output_format_json_quote_64bit_integers = 0",
        # The final query reads every case's records: longer than the default 256 KiB a query may have.
        session=("SET max_query_size = 16777216",),
    ),
}
