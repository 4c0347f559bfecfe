"""Delta Lake and Iceberg tables as the exact list of Parquet files of one snapshot, so every engine reads them
through the same code as plain Parquet (sources.Table.files).

`delta:PATH[@VERSION|@ISO-8601]` (or a folder holding `_delta_log/`) is read with `deltalake`;
`iceberg:CATALOG_URI#namespace.table` with `pyiceberg` (a SQL catalog URI such as sqlite:////abs/catalog.db, or
a REST catalog at http(s)://). Where a file list would not give the snapshot's rows exactly (deletion vectors,
delete files, column mapping, renamed columns, partition values kept out of the files), the table is refused in
one line rather than read wrongly. Each file also carries the newest value of the table's time column its
statistics record, for pruning (prune below). Both libraries are imported only when such a table is named (the
`lake` extra).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlparse

from detector.errors import DetectorError, SourceError, first_line
from detector.params import parse_instant

# Statistics may be truncated (Spark's Delta writer keeps milliseconds) and a naive timestamp's zone is a guess
# (taken as UTC, as the views do): a day's margin makes pruning safe against both.
MARGIN = timedelta(days=1)
# Delta reader features whose tables a file list reads exactly (the checks below cover the last two).
_DELTA_FEATURES = {"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck", "deletionVectors", "columnMapping"}
_EXTRA = "pip install 'kql-detector[lake]'"


def is_lake(location: str) -> bool:
    return location.startswith(("delta:", "iceberg:"))


def resolve(
    name: str, location: str, columns: Iterable[str], time: str | None = None
) -> tuple[list[str], list[datetime | None]]:
    """The data files of `location` (delta:... or iceberg:...) and each one's newest value of the `time` column
    (None: unknown, or no time column given: rule.toml [tables.NAME] time).
    columns: every column the rule's view of the table exposes (partition and rename checks)."""
    if location.startswith("delta:"):
        path, version = split_version(name, location[len("delta:") :])
        return delta_files(name, path, version, columns, time)
    return iceberg_files(name, location[len("iceberg:") :], columns, time)


# ---- Delta Lake ----------------------------------------------------------------------------------------------


def split_version(name: str, text: str) -> tuple[str, int | datetime | None]:
    """PATH@VERSION (an integer) or PATH@TIMESTAMP (ISO-8601); a last `@` followed by a `/` is part of the path."""
    path, at, suffix = text.rpartition("@")
    if not at or "/" in suffix:
        return text, None
    if re.fullmatch(r"\d+", suffix.strip()):
        return path, int(suffix)
    try:
        return path, parse_instant("version", suffix)
    except DetectorError:
        raise SourceError(
            f"table {name}: delta:{text}: {suffix!r} is neither a version number nor an ISO-8601 instant"
        ) from None


def delta_files(
    name: str, path: str, version: int | datetime | None, columns: Iterable[str], time: str | None = None
) -> tuple[list[str], list[datetime | None]]:
    deltalake = _import("deltalake", name)
    label = f"delta:{path}"
    options = _storage_options(path)
    if not _has_delta_log(path):
        raise SourceError(f"table {name}: {label}: not a Delta table (no _delta_log/ folder)")
    try:
        table = deltalake.DeltaTable(path, storage_options=options)
    except Exception as exc:  # deltalake raises its own errors (DeltaError, TableNotFoundError, OSError...)
        raise SourceError(f"table {name}: {label}: cannot read the Delta log: {first_line(exc)}") from None
    newest = table.version()
    if version is not None:
        try:
            table.load_as_version(version)
        except Exception as exc:
            what = f"version {version}" if isinstance(version, int) else f"version at {version.isoformat()}"
            raise SourceError(
                f"table {name}: {label}: has no {what} (versions 0..{newest}): {first_line(exc)}"
            ) from None
        if isinstance(version, datetime):
            _check_before(name, label, path, table, version)
    _check_delta(name, label, table, columns)
    files = [_local(u) for u in table.file_uris()]
    return files, _delta_newest(table, files, time)


def _check_before(name: str, label: str, path: str, table: Any, at: datetime) -> None:
    """deltalake takes an instant before the oldest commit as that commit; Delta's own readers refuse it. A commit's
    time is its log file's modification time (the Delta protocol's, and what deltalake travels by)."""
    from detector.storage import store_for

    store = store_for(path)
    log = store.join(store.join(path, "_delta_log"), f"{table.version():020d}.json")
    try:
        if store.protocol is None:
            committed = datetime.fromtimestamp(os.path.getmtime(log), UTC)
        else:
            committed = store.fs.modified(log).astimezone(UTC)
    except Exception:  # the log file was cleaned up (a checkpoint stands for it): deltalake's answer stands
        return
    if committed > at:
        raise SourceError(
            f"table {name}: {label}: has no version at {at.isoformat()} "
            f"(its oldest version was committed at {committed.isoformat()})"
        )


def _has_delta_log(path: str) -> bool:
    from detector.storage import store_for

    store = store_for(path)
    return store.is_dir(store.join(path, "_delta_log"))


def _storage_options(path: str) -> dict[str, str] | None:
    """An S3-compatible store over plain http (AWS_ENDPOINT_URL=http://...) must be allowed explicitly."""
    if path.startswith(("s3://", "s3a://")) and os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        return {"AWS_ALLOW_HTTP": "true"}
    return None


def _check_delta(name: str, label: str, table: Any, columns: Iterable[str]) -> None:
    protocol, metadata = table.protocol(), table.metadata()
    unknown = sorted(set(protocol.reader_features or ()) - _DELTA_FEATURES)
    if unknown:
        raise SourceError(f"table {name}: {label}: uses Delta reader feature {unknown[0]}, which is not supported")
    mode = (metadata.configuration or {}).get("delta.columnMapping.mode", "none")
    if mode != "none":
        raise SourceError(
            f"table {name}: {label}: uses column mapping (mode {mode}): its files name columns differently "
            "from the table, not supported"
        )
    if "deletionVectors" in (protocol.reader_features or ()):
        reader = table.deletion_vectors()
        if any(batch.num_rows for batch in reader):
            raise SourceError(
                f"table {name}: {label}: some files have deletion vectors (rows deleted in place), not supported; "
                "rewrite them first (OPTIMIZE / REORG TABLE ... APPLY (PURGE))"
            )
    wanted = {c.lower() for c in columns}
    hidden = [c for c in metadata.partition_columns if c.lower() in wanted]
    if hidden:
        raise SourceError(
            f"table {name}: {label}: is partitioned by {hidden[0]}, a column the rule reads, whose values Delta keeps "
            "out of the data files; not supported"
        )


def _delta_newest(table: Any, files: list[str], time: str | None) -> list[datetime | None]:
    """Each file's newest value of the `time` column from its add action's statistics; all None when there is no
    time column or the statistics cannot be matched to the files exactly."""
    import pyarrow as pa

    if time is None:
        return [None] * len(files)
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    key = next((k for k in (actions[0] if actions else {}) if k.lower() == f"max.{time}".lower()), None)
    root = table.table_uri.rstrip("/")
    by_file = {_local(a["path"] if "://" in a["path"] else f"{root}/{a['path']}"): a.get(key) for a in actions}
    if key is None or set(by_file) != set(files):
        return [None] * len(files)
    return [utc_instant(by_file[f]) for f in files]


# ---- Iceberg ---------------------------------------------------------------------------------------------------


def iceberg_files(
    name: str, spec: str, columns: Iterable[str], time: str | None = None
) -> tuple[list[str], list[datetime | None]]:
    uri, hash_, identifier = spec.rpartition("#")
    label = f"iceberg:{spec}"
    if not hash_ or not uri or "." not in identifier:
        raise SourceError(f"table {name}: {label}: write iceberg:CATALOG_URI#namespace.table")
    _import("pyiceberg", name)
    table = _iceberg_table(name, label, uri, identifier)
    _check_iceberg_schema(name, label, table, columns)
    files, newest = [], []
    field = table.schema().find_field(time, case_sensitive=False) if time and _has(table, time) else None
    try:
        tasks = list(table.scan().plan_files())
    except Exception as exc:
        raise SourceError(f"table {name}: {label}: cannot list its files: {first_line(exc)}") from None
    for task in tasks:
        data = task.file
        if task.delete_files:
            raise SourceError(
                f"table {name}: {label}: has delete files (rows deleted or updated in place), not supported; "
                "rewrite the data files first (rewrite_data_files)"
            )
        if str(data.file_format.name).upper() != "PARQUET":
            raise SourceError(f"table {name}: {label}: {data.file_path} is {data.file_format.name}, not Parquet")
        files.append(_local(data.file_path))
        newest.append(_iceberg_bound(field, data.upper_bounds or {}))
    return files, newest


def _iceberg_table(name: str, label: str, uri: str, identifier: str) -> Any:
    from pyiceberg.catalog import load_catalog

    try:
        if uri.startswith(("http://", "https://")):
            catalog = load_catalog("detector", type="rest", uri=uri)
        else:
            catalog = load_catalog(_sql_catalog_name(name, label, uri, identifier), type="sql", uri=uri)
        return catalog.load_table(identifier)
    except SourceError:
        raise
    except Exception as exc:  # unreachable server, no such namespace or table, bad metadata
        raise SourceError(f"table {name}: {label}: {type(exc).__name__}: {first_line(exc)}") from None


def _sql_catalog_name(name: str, label: str, uri: str, identifier: str) -> str:
    """A SQL catalog database can hold several catalogs: take the one that holds the table. Only read: pyiceberg
    would otherwise create the catalog's tables (or an empty sqlite file) where there are none."""
    import sqlalchemy

    if uri.startswith("sqlite:///") and not os.path.isfile(uri[len("sqlite:///") :]):
        raise SourceError(f"table {name}: {label}: no such catalog file {uri[len('sqlite:///') :]}")
    namespace, _, table = identifier.rpartition(".")
    try:
        engine = sqlalchemy.create_engine(uri)
        with engine.connect() as con:
            rows = con.execute(
                sqlalchemy.text(
                    "SELECT DISTINCT catalog_name FROM iceberg_tables WHERE table_namespace = :ns AND table_name = :t"
                ),
                {"ns": namespace, "t": table},
            ).fetchall()
        engine.dispose()
    except Exception as exc:
        raise SourceError(f"table {name}: {label}: not a readable Iceberg SQL catalog: {first_line(exc)}") from None
    if not rows:
        raise SourceError(f"table {name}: {label}: the catalog has no table {identifier}")
    if len(rows) > 1:
        raise SourceError(f"table {name}: {label}: several catalogs hold {identifier}: {sorted(r[0] for r in rows)}")
    return rows[0][0]


def _has(table: Any, column: str) -> bool:
    try:
        table.schema().find_field(column, case_sensitive=False)
        return True
    except ValueError:
        return False


def _check_iceberg_schema(name: str, label: str, table: Any, columns: Iterable[str]) -> None:
    """Files hold the column names of the schema they were written with, and the engines read by name: a column
    renamed, or dropped (and perhaps re-added) since, would read the wrong values."""
    current = {f.name.lower(): f for f in table.schema().fields}
    for column in columns:
        now = current.get(column.lower())
        for schema in table.schemas().values():
            for old in schema.fields:
                if now is not None and old.field_id == now.field_id and old.name != now.name:
                    raise SourceError(
                        f"table {name}: {label}: column {now.name} was renamed (from {old.name}): older files "
                        "hold it under the old name; not supported"
                    )
                if old.name.lower() == column.lower() and (now is None or old.field_id != now.field_id):
                    raise SourceError(
                        f"table {name}: {label}: column {column} was dropped from the table (older files still "
                        "hold its values); not supported"
                    )


def _iceberg_bound(field: Any, upper_bounds: dict[int, bytes]) -> datetime | None:
    from pyiceberg.conversions import from_bytes
    from pyiceberg.types import TimestampType, TimestamptzType

    if field is None or field.field_id not in upper_bounds:
        return None
    if not isinstance(field.field_type, TimestampType | TimestamptzType):
        return None
    micros = from_bytes(field.field_type, upper_bounds[field.field_id])
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


# ---- pruning ---------------------------------------------------------------------------------------------------


def prune(files: list[str], newest: list[datetime | None], since: datetime) -> list[str]:
    """The files that may hold a row whose time is after `since`: a file without statistics is kept, and so is the
    newest file when every one could go (the engines read the table's columns from the files)."""
    cutoff = since - MARGIN
    kept = [f for f, n in zip(files, newest, strict=True) if n is None or n >= cutoff]
    if not kept and files:
        kept = [max(zip(newest, files, strict=True))[1]]
    return kept


# ---- helpers ---------------------------------------------------------------------------------------------------


def utc_instant(value: Any) -> datetime | None:
    """A time statistic as an aware UTC instant (naive = UTC, as the views read it); None when it is not a
    datetime (no statistics, or a time kept as text: such a file is never pruned, or always read)."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _local(uri: str) -> str:
    """file:// URIs as plain paths (chdb and the file checks read paths); other URIs (s3://) as they are."""
    if uri.startswith("file:"):
        return unquote(urlparse(uri).path)
    return uri


def _import(module: str, name: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise SourceError(f"table {name}: reading Delta Lake and Iceberg tables needs {module}: {_EXTRA}") from None
