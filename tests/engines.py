"""Run the exported rule on other engines, over the same Parquet, and bring the alerts back as Python records.

- DuckDB: detector.api (the reference: tests/test_rule_cases.py proves it against every rule's cases).
- Spark: detector.engines.spark, the real `detector run --engine spark` path.
- PostgreSQL: Debian's server, started here on a private unix socket, tables loaded with COPY, the exported
  Postgres SQL run with `--table` mappings.
- ClickHouse: chdb (in-process ClickHouse) reading the same Parquet with file(); the exported ClickHouse SQL.
- Snowflake: fakesnow, which rewrites Snowflake SQL to DuckDB: a smoke test of the Snowflake text, not Snowflake.

Tables are created with the rule's columns in their Kusto types (rule.tables), spelled for each engine by
detector.types. Records are compared as JSON lines (detector.output.to_json), so types, key order and set order
all count.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from detector import sources, types
from detector.export import export_sql
from detector.literals import sql_literal
from detector.output import to_json
from detector.params import Bindings
from detector.render import render
from detector.rule import Rule

# ---- comparing ----------------------------------------------------------------------------------------------

# Physical choices for tiny inputs (the rules' cases): no adaptive execution, broadcasts or generated code, one
# shuffle partition. Several times faster; the same rows.
SMALL_DATA = {
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.shuffle.partitions": "1",
}


def canonical(records: list[dict]) -> list[str]:
    """Records as JSON lines: instants in UTC with a Z, key order kept, sets as the engine ordered them."""
    return [to_json(_utc(r)) for r in records]


def sorted_sets(records: list[dict]) -> list[str]:
    """As canonical, with every set sorted (URLs; set_Details by RemoteIP, then RemotePort nulls last)."""
    out = []
    for record in records:
        r = json.loads(to_json(_utc(record)))
        if isinstance(r.get("URLs"), list):
            r["URLs"] = sorted(r["URLs"])
        for d in r.get("set_Details") or []:
            if isinstance(d.get("URLs"), list):
                d["URLs"] = sorted(d["URLs"])
        if "set_Details" in r:
            r["set_Details"].sort(key=lambda d: (d["RemoteIP"], d["RemotePort"] is None, d["RemotePort"] or 0))
        out.append(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
    return sorted(out)


def _utc(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc(v) for v in value]
    return value


# ---- ClickHouse (chdb) --------------------------------------------------------------------------------------


def clickhouse_source(rule: Rule, name: str, table: sources.Table) -> str:
    """A table as ClickHouse reads it: the Parquet files through file(), the rule's columns in their types (a
    column a file lacks is null there)."""
    parts = []
    for f in table.files:
        present = set(pq.read_schema(f).names)
        cols = ", ".join(
            f"CAST({c if c in present else 'NULL'} AS Nullable({types.sql_type(t, 'clickhouse')})) AS {c}"
            for c, t in rule.tables[name].items()
        )
        parts.append(f"SELECT {cols} FROM file({sql_literal(f, 'clickhouse')}, Parquet)")
    return "(" + " UNION ALL ".join(parts) + ")"


def run_clickhouse(rule: Rule, bindings: Bindings, data: Path, *, flat: bool = False) -> list[dict]:
    import chdb

    found = sources.resolve(rule, data)
    sql = render(
        rule, bindings, dialect="clickhouse", flat=flat, source=lambda n: clickhouse_source(rule, n, found[n])
    ).sql
    result = chdb.query(sql, "ArrowTable")
    return _plain(result.to_pylist())


def _plain(value):
    """chdb gives zone-aware datetimes with ZoneInfo('UTC'); Variant(Array) arrives as a value or None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


# ---- PostgreSQL ---------------------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


class Postgres:
    """A throw-away PostgreSQL server on a private unix socket (no TCP), in a temporary folder.

    The database collation is ICU en-US and the server's time zone America/New_York, so that text sorted without
    COLLATE "C" or a day added in the session's calendar would show up as a difference.
    """

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="detector-pg-"))
        self.data = self.root / "data"
        self.schemas = 0
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
        try:
            self._run(*initdb, "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US")
        except subprocess.CalledProcessError:  # a server without ICU: the C.UTF-8 locale still sorts by code point
            shutil.rmtree(self.data, ignore_errors=True)
            self._run(*initdb, "--locale=C.UTF-8")
        options = f"-k {self.root} -c listen_addresses='' -c fsync=off -c timezone=America/New_York"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o", options,
                  "start")  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    @contextlib.contextmanager
    def connect(self) -> Iterator:
        import pg8000.native

        con = pg8000.native.Connection("postgres", unix_sock=str(self.root / ".s.PGSQL.5432"))
        try:
            yield con
        finally:
            con.close()

    def load(self, rule: Rule, data: Path) -> dict[str, str]:
        """Copy the Parquet tables into a fresh schema; returns `--table` mappings for the export."""
        self.schemas += 1
        schema = f"case{self.schemas}"
        found = sources.resolve(rule, data)
        with self.connect() as con:
            con.run(f'CREATE SCHEMA "{schema}"')
            for name, table in found.items():
                columns = rule.tables[name]
                ddl = ", ".join(f'"{c}" {types.sql_type(t, "postgres")}' for c, t in columns.items())
                con.run(f'CREATE TABLE "{schema}"."{name}" ({ddl})')
                rows = pa.concat_tables(
                    [
                        pq.read_table(f, columns=[c for c in columns if c in pq.read_schema(f).names])
                        for f in table.files
                    ],
                    promote_options="default",
                )
                quoted = ", ".join(f'"{c}"' for c in rows.column_names)
                con.run(f'COPY "{schema}"."{name}" ({quoted}) FROM STDIN', stream=io.StringIO(_copy_text(rows)))
        return {name: f"{schema}.{name}" for name in rule.tables}

    def run(self, rule: Rule, bindings: Bindings, tables: dict[str, str], *, flat: bool = False) -> list[dict]:
        sql = export_sql(rule, bindings, dialect="postgres", tables=tables, shape="flat" if flat else "nested")
        with self.connect() as con:
            rows = con.run(sql)
            names = [c["name"] for c in con.columns]
        return [dict(zip(names, row, strict=True)) for row in rows]


def _copy_text(table: pa.Table) -> str:
    """COPY's text format: tab-separated, \\N for null, backslash escapes."""
    out = io.StringIO()
    for row in table.to_pylist():
        cells = []
        for value in row.values():
            if value is None:
                cells.append("\\N")
            elif isinstance(value, datetime):
                cells.append(_as_utc(value).isoformat())
            else:
                text = str(value)
                for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                    text = text.replace(raw, escaped)
                cells.append(text)
        out.write("\t".join(cells) + "\n")
    return out.getvalue()


# ---- Snowflake, through fakesnow (DuckDB underneath) --------------------------------------------------------


def run_fakesnow(rule: Rule, bindings: Bindings, data: Path) -> list[dict]:
    """The exported Snowflake SQL through fakesnow. fakesnow rewrites it to DuckDB with sqlglot: this checks the
    Snowflake text parses and means the same to that rewrite, not that Snowflake itself gives these rows."""
    import fakesnow
    import snowflake.connector

    found = sources.resolve(rule, data)
    with fakesnow.patch(), snowflake.connector.connect(database="detector", schema="defender") as con:
        cur = con.cursor()
        for name, table in found.items():
            columns = rule.tables[name]
            ddl = ", ".join(f'"{c}" {types.sql_type(t, "snowflake")}' for c, t in columns.items())
            cur.execute(f'CREATE TABLE "{name}" ({ddl})')
            rows = pa.concat_tables([pq.read_table(f) for f in table.files], promote_options="default")
            records = [tuple(_sf_value(r.get(c)) for c in columns) for r in rows.to_pylist()]
            if records:
                marks = ", ".join(["%s"] * len(columns))
                cur.executemany(f'INSERT INTO "{name}" VALUES ({marks})', records)
        sql = export_sql(rule, bindings, dialect="snowflake")
        cur.execute(sql)
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    out = []
    for row in rows:
        record = dict(zip(names, row, strict=True))
        if isinstance(record.get("set_Details"), str):  # Snowflake's connector returns ARRAY / OBJECT as JSON text
            record["set_Details"] = json.loads(record["set_Details"])
        out.append(record)
    return out


def _sf_value(value):
    return _as_utc(value).isoformat() if isinstance(value, datetime) else value


def _as_utc(value: datetime) -> datetime:
    """A naive Parquet timestamp is UTC (as detector/sources.py reads it), never the machine's local time."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
