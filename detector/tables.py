"""The Advanced Hunting tables' schemas, one file each: `sql/_tables/<Table>.toml` lists every documented column
with its Kusto type, in Microsoft's order. Rules, ingest, generate and the type checks all read them here."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from detector import types
from detector.errors import RuleError
from detector.paths import sql_root


@dataclass(frozen=True)
class TableSchema:
    name: str
    description: str
    source_url: str
    columns: dict[str, str]  # column -> Kusto type, in Microsoft's order
    file: Path


def tables_root() -> Path:
    return sql_root() / "_tables"


def known_tables() -> list[str]:
    return sorted(p.stem for p in tables_root().glob("*.toml"))


@functools.cache
def load_table(name: str) -> TableSchema:
    """The documented schema of table `name`; RuleError naming the file when it is missing or malformed."""
    path = tables_root() / f"{name}.toml"
    if not path.is_file():
        raise RuleError(f"table {name}: no schema file {path} (known tables: {', '.join(known_tables())})")
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        schema = TableSchema(
            name=raw["name"],
            description=raw.get("description", "").strip(),
            source_url=raw.get("source_url", ""),
            columns=dict(raw["columns"]),
            file=path,
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise RuleError(f"{path}: malformed table schema ({exc})") from exc
    if schema.name != name:
        raise RuleError(f"{path}: name {schema.name!r} differs from the file name")
    for column, kusto_type in schema.columns.items():
        if kusto_type not in types.TYPES:
            raise RuleError(f"{path}: column {column} has unknown type {kusto_type!r}")
    return schema
