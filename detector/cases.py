"""A rule's test cases, as data: `sql/<slug>/cases/*.json`.

One file holds cases on one theme:

    {
      "description": "what the cases in this file are about",
      "now": "2026-11-20T12:00:00Z",                  // default `now` of its cases ("latest" allowed)
      "defaults": {"<Table>": {...}},                  // per table: column values every row starts from
      "cases": [
        {
          "name": "missing_device_type_is_a_server",   // unique within the rule
          "description": "a null string reads as \"\", so ...",
          "now": "...", "params": {"<parameter>": "7d"}, "flat": false,
          "plant": true,                               // `detector generate` plants its rows into the fleet
          "input": {"<Table>": [{"<Column>": null}], "<Other table>": [{}]},
          "expect": [{"<output column>": "...", "<another>": [...]}]
        }
      ]
    }

A row is the table's defaults overlaid with the row's own values; a column neither gives is null. A row may set
any documented column of its table (sql/_tables), not only those the rule reads. Values are JSON:
datetimes as ISO-8601 text (UTC when no zone). Every table the rule reads is written, empty when the case gives no
rows. `expect` holds the records as `detector run --format jsonl` prints them (keys in output order, datetimes as
ISO-8601 UTC with a Z), compared line by line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from detector import types
from detector.errors import ParamError, RuleError
from detector.params import parse_instant
from detector.rule import Rule
from detector.tables import load_table

CASES_DIR = "cases"
_CASE_KEYS = {"name", "description", "now", "params", "flat", "plant", "input", "expect"}
_FILE_KEYS = {"description", "now", "defaults", "cases"}


@dataclass(frozen=True)
class Case:
    rule: str
    file: Path
    name: str
    description: str
    now: str  # an ISO-8601 instant or "latest"
    inputs: dict[str, list[dict[str, Any]]]  # table -> typed rows (datetimes as aware datetimes)
    expect: tuple[dict, ...]
    params: dict[str, Any] = field(default_factory=dict)
    flat: bool = False
    plant: bool = False

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.name}"


def case_files(rule: Rule) -> list[Path]:
    return sorted((rule.folder / CASES_DIR).glob("*.json"))


def load_cases(rule: Rule) -> list[Case]:
    """Every case of the rule, checked against the rule's tables; RuleError naming the file, case and field."""
    cases: list[Case] = []
    seen: dict[str, Path] = {}
    for path in case_files(rule):
        for case in load_file(rule, path):
            if case.name in seen:
                raise RuleError(f"{path}: case {case.name!r} is also in {seen[case.name].name}")
            seen[case.name] = path
            cases.append(case)
    return cases


def load_file(rule: Rule, path: Path) -> list[Case]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuleError(f"{path}: not a JSON case file ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cases"), list):
        raise RuleError(f'{path}: a case file is an object with a list "cases"')
    _no_unknown(path, "file", raw, _FILE_KEYS)
    defaults = raw.get("defaults", {})
    for table, row in defaults.items():
        _check_row(rule, path, "defaults", table, row)
    out = []
    for i, spec in enumerate(raw["cases"]):
        where = f"cases[{i}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise RuleError(f'{path}: {where}: a case needs a "name"')
        where = f"case {spec['name']!r}"
        _no_unknown(path, where, spec, _CASE_KEYS)
        if "expect" not in spec or not isinstance(spec["expect"], list):
            raise RuleError(f'{path}: {where}: field "expect" must be a list of records')
        inputs = spec.get("input", {})
        if not isinstance(inputs, dict):
            raise RuleError(f'{path}: {where}: field "input" must map table names to lists of rows')
        rows: dict[str, list[dict]] = {}
        for table in rule.tables:
            given = inputs.get(table, [])
            if not isinstance(given, list):
                raise RuleError(f"{path}: {where}: input.{table} must be a list of rows")
            rows[table] = [
                _typed_row(rule, path, f"{where}: input.{table}[{j}]", table, {**defaults.get(table, {}), **row})
                for j, row in enumerate(given)
            ]
        for table in inputs:
            if table not in rule.tables:
                raise RuleError(
                    f"{path}: {where}: input.{table}: the rule reads no such table (it reads {', '.join(rule.tables)})"
                )
        now = spec.get("now", raw.get("now"))
        if now is None:
            raise RuleError(f'{path}: {where}: no "now" (give it in the case or the file)')
        if str(now).lower() != "latest":
            try:
                parse_instant("now", now)
            except ParamError as exc:
                raise RuleError(f"{path}: {where}: now: {exc}") from None
        params = spec.get("params", {})
        unknown = sorted(set(params) - set(rule.params))
        if unknown:
            raise RuleError(f"{path}: {where}: params.{unknown[0]}: the rule has no such parameter")
        flat = bool(spec.get("flat", False))
        if flat and rule.output.flat is None:
            raise RuleError(f"{path}: {where}: flat: the rule has no flat output")
        shape = rule.shape(flat)
        for j, record in enumerate(spec["expect"]):
            if not isinstance(record, dict) or list(record) != list(shape.columns):
                raise RuleError(
                    f"{path}: {where}: expect[{j}] must be a record with the keys {', '.join(shape.columns)} in order"
                )
        out.append(
            Case(
                rule=rule.slug,
                file=path,
                name=spec["name"],
                description=spec.get("description", ""),
                now=str(now),
                inputs=rows,
                expect=tuple(spec["expect"]),
                params=dict(params),
                flat=flat,
                plant=bool(spec.get("plant", False)),
            )
        )
    return out


def _no_unknown(path: Path, where: str, spec: dict, known: set[str]) -> None:
    unknown = sorted(set(spec) - known)
    if unknown:
        raise RuleError(f"{path}: {where}: unknown field {unknown[0]!r} (fields: {', '.join(sorted(known))})")


def _check_row(rule: Rule, path: Path, where: str, table: str, row: object) -> None:
    if table not in rule.tables:
        raise RuleError(f"{path}: {where}.{table}: the rule reads no such table (it reads {', '.join(rule.tables)})")
    if not isinstance(row, dict):
        raise RuleError(f"{path}: {where}.{table}: a row is an object of column values")
    for column in row:
        if _column_type(rule, table, column) is None:
            raise RuleError(f"{path}: {where}.{table}.{column}: not a column of {table}")


def _typed_row(rule: Rule, path: Path, where: str, table: str, row: dict) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise RuleError(f"{path}: {where}: a row is an object of column values")
    typed = {}
    for column, value in row.items():
        kusto_type = _column_type(rule, table, column)
        if kusto_type is None:
            raise RuleError(f"{path}: {where}.{column}: not a column of {table}")
        try:
            typed[column] = _value(kusto_type, value)
        except (ValueError, TypeError, ParamError) as exc:
            raise RuleError(f"{path}: {where}.{column}: {exc}") from None
    return typed


def _column_type(rule: Rule, table: str, column: str) -> str | None:
    """A column a case row may set: one the rule reads, or any documented column of the table (realistic rows
    for `generate`)."""
    if column in rule.tables[table]:
        return rule.tables[table][column]
    try:
        return load_table(table).columns.get(column)
    except RuleError:
        return None


def _value(kusto_type: str, value: Any) -> Any:
    if value is None:
        return None
    if kusto_type == "datetime":
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not an ISO-8601 timestamp")
        try:
            return parse_instant("datetime", value)
        except ParamError:
            raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
    if kusto_type in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not an integer")
        return value
    if kusto_type == "real":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if kusto_type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false")
        return value
    if kusto_type == "dynamic" and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def input_table(rule: Rule, table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """A table's rows as Arrow, every column the rule reads in its Kusto type's Arrow form."""
    schema = types.arrow_schema({c: rule.tables[table][c] for c in rule.reads[table]})
    extra = [c for r in rows for c in r if c not in schema.names]
    for column in dict.fromkeys(extra):
        schema = schema.append(pa.field(column, types.get(_column_type(rule, table, column)).arrow))
    return pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)


def write_inputs(rule: Rule, case: Case, folder: Path) -> Path:
    """The case's tables as `folder/<Table>.parquet`, the layout `detector run --data` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, rows in case.inputs.items():
        pq.write_table(input_table(rule, table, rows), folder / f"{table}.parquet")
    return folder


def canonical(records: list[dict] | tuple[dict, ...]) -> list[str]:
    """Records as JSON lines, as `--format jsonl` prints them (datetimes as ISO-8601 UTC)."""
    from detector.output import to_json

    return [to_json(r) for r in records]


def first_difference(expected: list[str], actual: list[str]) -> str | None:
    """None when equal; else a one-line description of the first differing record."""
    if expected == actual:
        return None
    for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
        if e != a:
            return f"record {i + 1}: expected {e} got {a}"
    if len(expected) > len(actual):
        return f"missing record {len(actual) + 1}: {expected[len(actual)]}"
    return f"unexpected record {len(expected) + 1}: {actual[len(expected)]}"
