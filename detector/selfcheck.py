"""`detector test RULE --dialect D --script`: the rule's own test cases as one SQL script for a warehouse.

The script proves the exported rule on the user's own engine, with nothing but SQL: no credentials ever pass
through `detector`, which only prints text. For every case of the rule (sql/<slug>/cases/*.json) it

1. writes the case's input rows as literal rows, one relation per table the rule reads (`detector_cNNN_<Table>`),
   typed with the Kusto types of the rule's columns as the engine spells them (detector/types.py);
2. runs the rule's exported statement on them (detector/export.py, the text `detector export` prints, verbatim)
   with the case's parameters bound and its `now` pinned (`latest`: the newest value of the rule's clock column
   in the case's rows), into `detector_cNNN_result`;

and ends with one query that returns one row per case: `case_name`, `result` (PASS or FAIL),
`expected_records`, `actual_records` and `first_difference`. The comparison is computed in SQL: the case's
expected records are literal rows too (`detector_cNNN_expected`), and a case passes when (expected EXCEPT actual)
and (actual EXCEPT expected) are both empty, as multisets: both sides' records are grouped on the case and every
column, with the number of copies each side has, and a group whose counts differ is a missing record, an
unexpected one, or a lost or extra copy. That is both EXCEPTs in one pass, reading each side once (an engine
that inlines CTEs, or runs the check as one statement, plans and runs each case's rule once, not three times).
The order of the records is not compared (a query's rows have no order once inside another query); the order of
the values inside a set is.

Scalar columns are compared as typed values (the expected value is a literal cast to the column's type).
A `dynamic` column (a set, a list of objects, JSON text) is compared as a canonical JSON text computed by the
engine on both sides (`FORMS`, detector/selfcheck_forms.py): where the engine has a JSON type, both the actual
value and the expected JSON text go through it (DuckDB's json, PostgreSQL's jsonb, Snowflake's VARIANT,
BigQuery's JSON, Trino's JSON), so formatting and, where the type sorts them, key order cannot make a
difference; where it has none (Spark, ClickHouse), the engine's own serialiser writes the actual value and the
expected text is written in that
serialiser's format (compact, keys in output order, its escapes), which the tests here check by execution.

Where the engine has temporary tables (views on Spark and Databricks), each relation is one statement and the
script is a series of statements separated by `;` at the end of a line. BigQuery (outside a script session) and
Trino have none: there the whole check is ONE statement whose inputs, results and expected records are CTEs.
`statements()` splits a script into its statements (with sqlglot's tokenizer, so a `;` inside a string literal
never splits) for engines whose API runs one statement at a time (Spark, JDBC-style drivers).

Every value reaches SQL as a literal built by sqlglot (detector/render.sql_value, detector/literals.py); names
are quoted by sqlglot. The per-dialect SQL forms used only here (temporary relations, literal rows, the
canonical JSON text) are the small table `FORMS` (detector/selfcheck_forms.py); the rule's own forms stay in
detector/dialects.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from detector import dialects, types
from detector.cases import Case
from detector.errors import ParamError, RuleError
from detector.export import comment_value, export_sql, table_name
from detector.output import iso
from detector.params import bind, parse_instant
from detector.render import sql_value
from detector.rule import Rule
from detector.selfcheck_forms import FORMS

# The columns of the final query, in order.
RESULT_COLUMNS = ("case_name", "result", "expected_records", "actual_records", "first_difference")

# Engines that run the check as one statement cap the length of a query's text: BigQuery at 1,024K characters
# (its documented "maximum unresolved query length"), Trino at its `query.max-length` (default 1,000,000).
TEXT_LIMITS = {"bigquery": 1_024_000, "trino": 1_000_000}
_CONCAT_ARGS = 50


# ---- the script -------------------------------------------------------------------------------------------------


def pinned_now(rule: Rule, case: Case) -> datetime:
    """The case's `now` as an instant; `latest` is the newest value of the rule's clock column in its rows."""
    if case.now.strip().lower() != "latest":
        return parse_instant("now", case.now)
    table, column = rule.clock
    stamps = [row[column] for row in case.inputs.get(table, []) if row.get(column) is not None]
    if not stamps:
        raise RuleError(f"{case.file}: case {case.name!r}: now = latest, but no {table} row has a {column}")
    return max(stamps)


def script(rule: Rule, cases: Sequence[Case], dialect: str) -> str:
    """The self-check of `cases` as one SQL script for `dialect` (see the module docstring)."""
    if not cases:
        raise RuleError(f"rule {rule.slug}: no cases to check")
    return _Writer(rule, dialects.get(dialect)).script(list(cases))


def statements(text: str, dialect: str) -> list[str]:
    """The statements of a script, without their `;` (split by sqlglot's tokenizer: a `;` in a literal or a
    comment does not split)."""
    tokens = sqlglot.Dialect.get_or_raise(dialects.get(dialect).sqlglot).tokenize(text)
    out, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            out.append(text[start : token.start])
            start = token.end + 1
    out.append(text[start:])
    return [s.strip() for s in out if _has_sql(s)]


def _has_sql(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())


def length_note(text: str, dialect: str) -> str | None:
    """A note when the one-statement script is longer than the engine accepts (BigQuery, Trino), else None."""
    limit = TEXT_LIMITS.get(dialect)
    if limit is None or len(text) <= limit:
        return None
    return (
        f"the script is {len(text):,} characters; {dialects.get(dialect).title} accepts at most {limit:,} in one "
        "query: run the cases in parts with --case PATTERN"
    )


@dataclass(frozen=True)
class _Column:
    name: str  # the rule's output column
    kusto_type: str

    @property
    def dynamic(self) -> bool:
        return self.kusto_type == "dynamic"

    @property
    def compared_type(self) -> str:
        """The type of the column as compared: a dynamic value is compared as text (its canonical JSON)."""
        return "string" if self.dynamic else self.kusto_type


def _prefix(no: int) -> str:
    """The names of case `no`'s relations start with this: detector_c001_DeviceInfo, detector_c001_result, ..."""
    return f"detector_c{no:03d}_"


def _fits(value: Any, kusto_type: str) -> bool:
    """Whether a case's (typed) value is one of the Kusto type's values."""
    if kusto_type == "datetime":
        return isinstance(value, datetime)
    if kusto_type == "bool":
        return isinstance(value, bool)
    if kusto_type in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kusto_type == "real":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return kusto_type in types.TEXT_TYPES and isinstance(value, str)


class _Writer:
    """Writes the script for one rule and dialect. The script's own names (case_no, col_1, ...) are plain lower-case
    identifiers, left unquoted so that every engine folds them alike; the rule's names are quoted."""

    def __init__(self, rule: Rule, dialect: dialects.Dialect):
        self.rule = rule
        self.d = dialect
        self.form = FORMS[dialect.name]

    # -- names, literals, types --

    def ident(self, name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql(dialect=self.d.sqlglot)

    def relation(self, name: str) -> str:
        """A relation of the script, named as the exported rule names its tables (validated and quoted)."""
        return table_name(name, self.d)

    def type(self, kusto_type: str) -> str:
        """A Kusto type as the engine spells a column of it (ClickHouse: Nullable)."""
        return self.d.nullable.format(types.sql_type(kusto_type, self.d.name))

    def cast(self, sql: str, kusto_type: str) -> str:
        return f"CAST({sql} AS {self.type(kusto_type)})"

    def lit(self, value: Any, kusto_type: str, where: str) -> str:
        """A case's value as a literal of the engine, built by sqlglot; `where` names it in errors."""
        if value is None:
            return "NULL"
        if not _fits(value, kusto_type):
            raise RuleError(f"{where}: {value!r} is not a {kusto_type} value")
        if isinstance(value, bool):
            return exp.Boolean(this=value).sql(dialect=self.d.sqlglot)
        if kusto_type == "real":
            if not math.isfinite(value):
                raise RuleError(f"{where}: {value!r} has no SQL literal")
            return exp.Literal.number(repr(float(value))).sql(dialect=self.d.sqlglot)
        return sql_value(value, self.d)

    def string(self, text: str) -> str:
        return sql_value(text, self.d)

    def number(self, value: int) -> str:
        return self.cast(sql_value(value, self.d), "long")

    # -- literal rows --

    def rows(self, columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
        """A query of literal rows. `columns`: (the column's name as SQL, its Kusto type); each row holds SQL
        literals (NULL typed by the column)."""
        names = [name for name, _ in columns]
        kinds = [self.type(kusto_type) for _, kusto_type in columns]
        if not rows:
            typed = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in zip(names, kinds, strict=True))
            return f"SELECT {typed} LIMIT 0"
        positional = [f"c{i + 1}" for i in range(len(columns))]
        if self.form.rows == "unnest":
            # A leading row number: BigQuery's tuple syntax for a struct needs two fields at least.
            fields = ", ".join(["detector_row INT64", *(f"{n} {t}" for n, t in zip(names, kinds, strict=True))])
            body = ",\n".join(f"({i + 1}, {', '.join(row)})" for i, row in enumerate(rows))
            return f"SELECT {', '.join(names)} FROM UNNEST(ARRAY<STRUCT<{fields}>>[\n{body}\n])"
        body = ",\n".join(f"({', '.join(row)})" for row in rows)
        if self.form.rows == "clickhouse":
            structure = ", ".join(f"{c} {t}" for c, t in zip(positional, kinds, strict=True))
            select = ", ".join(f"{c} AS {n}" for c, n in zip(positional, names, strict=True))
            return f"SELECT {select} FROM values({self.string(structure)},\n{body}\n)"
        select = ", ".join(f"CAST({c} AS {t}) AS {n}" for c, t, n in zip(positional, kinds, names, strict=True))
        return f"SELECT {select} FROM (VALUES\n{body}\n) AS v({', '.join(positional)})"

    def input_rows(self, case: Case, table: str) -> str:
        """A case's rows of one table: every column of the rule's view of the table, in its Kusto type. A column
        no row gives reads as Kusto's empty value ("" for a string, else null), as detector/sources.py reads a
        column absent from the data."""
        columns = self.rule.tables[table]
        given = set(self.rule.reads[table]) | {c for row in case.inputs[table] for c in row}
        rows = []
        for j, row in enumerate(case.inputs[table]):
            cells = []
            for column, kusto_type in columns.items():
                if column in given:
                    where = f"{case.file}: case {case.name!r}: input.{table}[{j}].{column}"
                    cells.append(self.lit(row.get(column), kusto_type, where))
                else:
                    cells.append(self.string("") if kusto_type == "string" else "NULL")
            rows.append(cells)
        return self.rows([(self.ident(c), t) for c, t in columns.items()], rows)

    def expected_rows(self, case: Case) -> str:
        """A case's expected records: one column per output column (col_1, ...), a scalar in its type, a dynamic
        value as its expected JSON text in the engine's canonical form."""
        columns = self.columns(case.flat)
        rows = []
        for j, record in enumerate(case.expect):
            row = []
            for col in columns:
                value, where = record[col.name], f"{case.file}: case {case.name!r}: expect[{j}].{col.name}"
                if col.dynamic:
                    row.append("NULL" if value is None else self.string(self.form.text(value)))
                    continue
                if col.kusto_type == "datetime" and isinstance(value, str):
                    try:
                        value = parse_instant(col.name, value)
                    except ParamError as exc:
                        raise RuleError(f"{where}: {exc}") from None
                row.append(self.lit(value, col.kusto_type, where))
            rows.append(row)
        return self.rows([(f"col_{i + 1}", c.compared_type) for i, c in enumerate(columns)], rows)

    # -- one relation, as a statement or as a CTE --

    def relation_sql(self, name: str, query: str) -> tuple[list[str], list[str]]:
        """(statements, CTEs): a temporary relation where the engine has them, else a CTE of the final query."""
        quoted = self.relation(name)
        if self.form.temporary is None:
            return [], [f"{quoted} AS (\n{query}\n)"]
        drop = [self.form.drop.format(name=quoted)] if self.form.drop else []
        return [*drop, self.form.temporary.format(name=quoted, query=query)], []

    # -- the script --

    def script(self, cases: list[Case]) -> str:
        rule, d = self.rule, self.d
        prelude: list[str] = []  # statements before the final query
        ctes: list[str] = []  # CTEs of the final query
        shapes: dict[bool, list[int]] = {}  # flat? -> the numbers of its cases, in order
        for no, case in enumerate(cases, start=1):
            now = pinned_now(rule, case)
            prefix = _prefix(no)
            tables = {t: prefix + t if len(prefix + t) <= 63 else f"{prefix}t{i}" for i, t in enumerate(rule.tables)}
            shape = "flat" if case.flat else "nested"
            try:  # a parameter the case gives, or one the dialect cannot express (Trino: microseconds)
                bindings = bind(rule, case.params, now=now)
                sql = export_sql(rule, bindings, dialect=d.name, tables=tables, shape=shape)
            except ParamError as exc:
                raise RuleError(f"{case.file}: case {case.name!r}: {exc}") from None
            params = "; ".join(f"{k} = {comment_value(v)}" for k, v in bindings.values.items())
            comment = (
                f"-- case {no}: {json.dumps(case.name)} ({'flat' if case.flat else 'nested'} output; "
                f"now = {iso(now)}; {params or 'no parameters'})\n"
            )
            statements_, ctes_ = [], []
            for table, name in tables.items():
                more, cte = self.relation_sql(name, self.input_rows(case, table))
                statements_ += more
                ctes_ += cte
            for name, query in ((prefix + "result", sql), (prefix + "expected", self.expected_rows(case))):
                more, cte = self.relation_sql(name, query)
                statements_ += more
                ctes_ += cte
            if statements_:
                prelude += [comment + statements_[0], *statements_[1:]]
            else:
                ctes += [comment + ctes_[0], *ctes_[1:]]
            shapes.setdefault(case.flat, []).append(no)
        ctes += self.comparison(cases, shapes)
        final = "-- the verdicts: one row per case\nWITH\n" + ",\n".join(ctes) + "\n" + self.verdicts(shapes)
        if self.form.settings:
            final += "\n" + self.form.settings
        body = [*self.form.session, *prelude, final]
        return self.header(cases, len(body)) + "".join(s + ";\n" for s in body)

    def header(self, cases: list[Case], count: int) -> str:
        d, rule = self.d, self.rule
        if self.form.temporary is None:
            how = "ONE statement (no temporary tables here: the inputs and results are CTEs)"
        else:
            how = (
                f"{count} statements, each ending with ';' at the end of a line; run them in order in one session "
                "(they create temporary relations, gone with the session)"
            )
        lines = [
            f"-- detector self-check: rule {' '.join(rule.name.split())} ({rule.slug}), {len(cases)} case(s) from its "
            "cases/*.json",
            f"-- dialect: {d.title} ({d.name}); {how}.",
            "-- Each case's input rows are literal rows; the rule's exported statement runs on them with the case's",
            "-- parameters and `now`; the last query compares, in SQL, its records with the case's expected records",
            "-- and returns one row per case: " + ", ".join(RESULT_COLUMNS) + ".",
        ]
        return "\n".join(lines) + "\n"

    # -- comparing --

    def comparison(self, cases: list[Case], shapes: dict[bool, list[int]]) -> list[str]:
        """The CTEs comparing each shape's expected and actual records, in one pass: both sides' records in their
        comparable form, grouped on the case and every column, with how many copies each side has. A group whose
        counts differ is a record missing from the result (expected EXCEPT actual) or an unexpected one (actual
        EXCEPT expected), compared as multisets. Each side is read once (engines that inline CTEs, such as Spark,
        or that run the whole check as one statement, BigQuery and Trino, then plan and run each rule once)."""
        names = [[sql_value(no, self.d), self.string(c.name)] for no, c in enumerate(cases, start=1)]
        ctes = [f"detector_cases AS (\n{self.rows([('case_no', 'long'), ('case_name', 'string')], names)}\n)"]
        for flat, numbers in shapes.items():
            tag = "flat" if flat else "nested"
            columns = self.columns(flat)
            cols = [f"col_{i + 1}" for i in range(len(columns))]
            for side in ("expected", "actual"):
                union = "\nUNION ALL\n".join(
                    f"SELECT {self.number(no)} AS case_no, "
                    + ", ".join(self.side_column(side, col, c) for col, c in zip(columns, cols, strict=True))
                    + f" FROM {self.relation(_prefix(no) + ('expected' if side == 'expected' else 'result'))}"
                    for no in numbers
                )
                ctes.append(f"detector_{side}_{tag} AS (\n{union}\n)")
            sides = []
            for side, form, e, a in (("expected", self.form.expected, 1, 0), ("actual", self.form.actual, 0, 1)):
                canonical = ", ".join(
                    f"CASE WHEN {c} IS NULL THEN NULL ELSE {form.format(x=c)} END AS {c}" if col.dynamic else c
                    for col, c in zip(columns, cols, strict=True)
                )
                sides.append(f"SELECT case_no, {canonical}, {e} AS e, {a} AS a FROM detector_{side}_{tag}")
            keys = ", ".join(["case_no", *cols])
            union = "\nUNION ALL\n".join(sides)
            ctes.append(
                f"detector_compared_{tag} AS (\nSELECT {keys}, {self.cast('SUM(e)', 'long')} AS n_expected, "
                f"{self.cast('SUM(a)', 'long')} AS n_actual\n"
                f"FROM (\n{union}\n) AS t\nGROUP BY {keys}\n)"
            )
        return ctes

    def side_column(self, side: str, col: _Column, c: str) -> str:
        """A column of one side, as compared: the expected relation's col_N; the result's output column (cast to
        the declared type where the engine's set operations need it)."""
        if side == "expected":
            return c
        name = self.ident(col.name)
        if self.form.cast_actual and not col.dynamic:
            return f"{self.cast(name, col.kusto_type)} AS {c}"
        return f"{name} AS {c}"

    def columns(self, flat: bool) -> list[_Column]:
        return [_Column(n, t) for n, t in self.rule.shape(flat).columns.items()]

    def concat(self, parts: list[str]) -> str:
        """Text parts joined by CONCAT (never NULL: no part is). Flat, in chunks of at most _CONCAT_ARGS arguments
        (PostgreSQL takes 100 at most): a chain of `||` nests one level per part, deeper than ZetaSQL's analyzer
        output can be decoded for a record of dozens of columns."""
        while len(parts) > _CONCAT_ARGS:
            parts = [self.concat(parts[i : i + _CONCAT_ARGS]) for i in range(0, len(parts), _CONCAT_ARGS)]
        return f"CONCAT({', '.join(parts)})"

    def text(self, sql: str, quoted: bool = False) -> str:
        """A value as display text, never NULL: `null`, or the value cast to text (in double quotes)."""
        value = self.cast(sql, "string")
        if quoted:
            value = self.concat([self.string('"'), value, self.string('"')])
        return f"CASE WHEN {sql} IS NULL THEN {self.string('null')} ELSE {value} END"

    def show(self, columns: list[_Column]) -> list[str]:
        """A record as text parts: `Name=value, ...`, strings in double quotes, dynamic values as canonical JSON."""
        parts = []
        for i, col in enumerate(columns):
            c = f"col_{i + 1}"
            parts.append(self.string(("" if i == 0 else ", ") + col.name + "="))
            if col.dynamic:
                shown = self.form.show.format(x=c)
                parts.append(f"CASE WHEN {c} IS NULL THEN {self.string('null')} ELSE {shown} END")
            else:
                parts.append(self.text(c, quoted=col.kusto_type in types.TEXT_TYPES))
        return parts

    def verdicts(self, shapes: dict[bool, list[int]]) -> str:
        """The final query: per case, its name, PASS or FAIL, the record counts and the first difference (a
        missing record before an unexpected one)."""
        null = self.cast("NULL", "string")
        parts = [f"SELECT case_no, case_name, 0 AS n_expected, 0 AS n_actual, {null} AS difference FROM detector_cases"]
        for flat in shapes:
            record = self.show(self.columns(flat))
            counts = [
                self.string("expected "),
                self.cast("n_expected", "string"),
                self.string(", got "),
                self.cast("n_actual", "string"),
            ]
            # 'missing...' sorts before 'unexpected...': MIN shows a missing record first.
            difference = (
                f"CASE WHEN n_actual = 0 THEN {self.concat([self.string('missing: '), *record])}"
                f"\nWHEN n_expected = 0 THEN {self.concat([self.string('unexpected: '), *record])}"
                f"\nWHEN n_expected > n_actual THEN "
                f"{self.concat([self.string('missing copies ('), *counts, self.string('): '), *record])}"
                f"\nWHEN n_expected < n_actual THEN "
                f"{self.concat([self.string('unexpected copies ('), *counts, self.string('): '), *record])}"
                "\nEND"
            )
            tag = "flat" if flat else "nested"
            parts.append(f"SELECT case_no, {null}, n_expected, n_actual, {difference}\nFROM detector_compared_{tag}")
        union = "\nUNION ALL\n".join(parts)
        name, result, expected, actual, difference = (self.ident(c) for c in RESULT_COLUMNS)
        n_expected, n_actual = self.cast("SUM(n_expected)", "long"), self.cast("SUM(n_actual)", "long")
        return (
            f"SELECT case_name AS {name}, CASE WHEN first_difference IS NULL THEN {self.string('PASS')} ELSE "
            f"{self.string('FAIL')} END AS {result}, n_expected AS {expected}, n_actual AS {actual}, "
            f"first_difference AS {difference}\n"
            f"FROM (\nSELECT case_no, MAX(case_name) AS case_name, {n_expected} AS n_expected, "
            f"{n_actual} AS n_actual, MIN(difference) AS first_difference\n"
            f"FROM (\n{union}\n) AS u\nGROUP BY case_no\n) AS v\nORDER BY case_no"
        )
