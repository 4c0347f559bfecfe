"""Run the rule on Apache Spark (PySpark) over the same Parquet, with the same records out as DuckDB.

The SQL is the rule exported for Spark (detector/dialects.py); the tables are temp views with the same
normalisation detector/sources.py gives the DuckDB views: Timestamp as a UTC instant (zoned, naive = UTC, ISO-8601
text), RemotePort as int, strings as strings, files unioned by column name. The result is cast to the Arrow schema
DuckDB gives for the same query, so `detector/output.py` writes the same bytes.

PySpark is optional (`pip install 'kql-detector[spark]'`) and needs Java 17 or newer on PATH (or JAVA_HOME).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from detector import sources
from detector.errors import DetectorError, SourceError
from detector.literals import sql_identifier
from detector.params import Bindings, bind, parse_instant
from detector.render import render
from detector.rule import Rule, load_rule

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
SHUFFLE_PARTITIONS = 4

# Spark logs at WARN to the console by default, and says so; errors only, and nothing about it.
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""


class EngineUnavailable(DetectorError):
    """PySpark is not installed or Java is missing."""


def unavailable() -> str | None:
    """Why Spark cannot run here, or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed: pip install 'kql-detector[spark]'"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and Path(java_home, "bin", "java").exists()):
        return "Spark needs Java 17 or newer: no `java` on PATH and no JAVA_HOME"
    return None


def session(master: str | None = None, *, shuffle_partitions: int = SHUFFLE_PARTITIONS) -> SparkSession:
    """A SparkSession in UTC (local mode by default), quiet. Reuses the active session if there is one."""
    reason = unavailable()
    if reason:
        raise EngineUnavailable(reason)
    # PySpark checks the pandas version on toArrow() although pandas is not used there.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    log_config = Path(tempfile.gettempdir()) / f"detector-spark-log4j2-{os.getuid()}.properties"
    if not log_config.exists() or log_config.read_text() != _LOG4J2:
        log_config.write_text(_LOG4J2)
    java_options = f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log_config}"
    builder = (
        SparkSession.builder.master(master or DEFAULT_MASTER)
        .appName("detector")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")  # the log file is on this machine only
    )
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: PySpark raises its own runtime errors here
        raise EngineUnavailable(f"Spark did not start ({_first_line(exc)}); it needs Java 17 or newer") from None
    spark.sparkContext.setLogLevel("ERROR")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def _spark_errors() -> tuple[type[BaseException], ...]:
    from pyspark.errors import PySparkException

    try:
        from py4j.protocol import Py4JJavaError
    except ImportError:  # pragma: no cover - py4j comes with pyspark
        return (PySparkException,)
    return (PySparkException, Py4JJavaError)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "getMessage", lambda: None)() or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _cast(column: str, kusto_type: str, spark_type: str, nanos: bool = False) -> str:
    """Spark SQL for one column in its Kusto type, as detector/sources.py does it for DuckDB."""
    col = sql_identifier(column, "spark")
    if nanos:  # a Parquet TIMESTAMP(NANOS), read as nanoseconds since the epoch: truncated to microseconds
        return f"timestamp_micros({col} div 1000)"
    if kusto_type == "string":
        return col if spark_type == "string" else f"CAST({col} AS STRING)"
    if kusto_type == "int":
        return col if spark_type == "int" else f"CAST({col} AS INT)"
    # timestamp: zoned stays; naive (timestamp_ntz) and dates are taken as UTC (the session zone); ISO-8601 text
    # with Z, an offset or no zone (= UTC) is parsed.
    return col if spark_type == "timestamp" else f"CAST({col} AS TIMESTAMP)"


def register(spark: SparkSession, rule: Rule, tables: Mapping[str, sources.Table]) -> None:
    """One temp view per table, named as the table, with the rule's columns in their Kusto types.

    Files are unioned by column name, as DuckDB's union_by_name does: files with the same schema are read together,
    each group is cast to the Kusto types on its own (so one file may hold Timestamp as text and another as a
    timestamp), and a column missing from some files is null there.
    """
    errors = _spark_errors()
    # Spark refuses Parquet TIMESTAMP(NANOS) (pandas writes them); read as numbers, they are converted below.
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    for name, table in tables.items():
        columns = rule.tables[name]
        frames, seen = [], set()
        for schema, files in _by_schema(table):
            reader = spark.read
            if Path(table.location).is_dir():
                reader = reader.option("basePath", table.location)  # hive folders (date=...) as in DuckDB
            try:
                frame = reader.parquet(*files)
            except errors as exc:
                raise SourceError(f"table {name}: cannot read {_which(table)}: {_first_line(exc)}") from None
            found = {field.name: field.dataType.simpleString() for field in frame.schema.fields}
            select = []
            for column, kusto_type in columns.items():
                target = sql_identifier(column, "spark")
                actual = _column(found, column)
                if actual is None:
                    select.append(f"CAST(NULL AS {_SPARK_TYPES[kusto_type]}) AS {target}")
                    continue
                seen.add(column)
                spark_type = found[actual]
                nanos = _is_nanos(schema, actual)
                if kusto_type == "timestamp" and not nanos and spark_type not in _TIMESTAMP_LIKE:
                    raise SourceError(
                        f"table {name}: column {actual} in {files[0]} has type {spark_type}, "
                        "expected a timestamp or ISO-8601 text"
                    )
                select.append(f"{_cast(actual, kusto_type, spark_type, nanos)} AS {target}")
            frames.append(frame.selectExpr(*select))
        for column in columns:
            if column not in seen:
                raise SourceError(f"table {name}: column {column} is missing from {_which(table)}")
        union = frames[0]
        for frame in frames[1:]:
            union = union.unionByName(frame)
        union.createOrReplaceTempView(name)


_SPARK_TYPES = {"timestamp": "TIMESTAMP", "string": "STRING", "int": "INT"}
_TIMESTAMP_LIKE = ("timestamp", "timestamp_ntz", "date", "string")


def _by_schema(table: sources.Table) -> list[tuple[pa.Schema, list[str]]]:
    """The table's files, grouped by their Parquet schema (read from the footers), in file order."""
    import pyarrow.parquet as pq

    groups: dict[pa.Schema, list[str]] = {}
    for path in table.files:
        try:
            schema = pq.read_schema(path).remove_metadata()
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"table {table.name}: cannot read {path}: {str(exc).splitlines()[0]}") from None
        groups.setdefault(schema, []).append(path)
    return list(groups.items())


def _is_nanos(schema: pa.Schema, column: str) -> bool:
    index = schema.get_field_index(column)
    field_type = schema.field(index).type if index >= 0 else None
    return field_type is not None and pa.types.is_timestamp(field_type) and field_type.unit == "ns"


def _column(found: dict[str, str], column: str) -> str | None:
    if column in found:
        return column
    return next((c for c in found if c.lower() == column.lower()), None)


def _which(table: sources.Table) -> str:
    return table.files[0] if len(table.files) == 1 else f"{table.location} ({len(table.files)} files)"


def resolve_now(spark: SparkSession, now: str | datetime | None) -> datetime:
    """As detector.engine.resolve_now: an instant, 'now' / None = the current UTC time, 'latest'."""
    if now is None or (isinstance(now, str) and now.strip().lower() == "now"):
        return datetime.now(UTC)
    if isinstance(now, str) and now.strip().lower() == "latest":
        # Microseconds since the epoch, so no Python-side time zone is involved.
        [row] = spark.sql("SELECT unix_micros(max(`Timestamp`)) AS us FROM `DeviceNetworkEvents`").collect()
        if row.us is None:
            raise SourceError("--now latest: DeviceNetworkEvents has no timestamped rows")
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=row.us)
    return parse_instant("now", now)


def duckdb_schema(rule: Rule, bindings: Bindings, *, flat: bool) -> pa.Schema:
    """The Arrow schema DuckDB gives for this query: the rule over empty tables of the rule's column types."""
    from detector import engine

    types = {"timestamp": "TIMESTAMPTZ", "string": "VARCHAR", "int": "INTEGER"}
    con = engine.connect()
    try:
        for name, columns in rule.tables.items():
            cols = ", ".join(f"CAST(NULL AS {types[t]}) AS {sql_identifier(c)}" for c, t in columns.items())
            con.execute(f"CREATE TEMP VIEW {sql_identifier(name)} AS SELECT {cols} WHERE false")
        return con.sql(render(rule, bindings, flat=flat).sql).to_arrow_table().schema
    finally:
        con.close()


def execute(spark: SparkSession, rule: Rule, bindings: Bindings, *, flat: bool = False) -> pa.Table:
    """Run the rule's Spark SQL on the registered views; the result in DuckDB's Arrow schema."""
    sql = render(rule, bindings, dialect="spark", flat=flat).sql
    try:
        table = spark.sql(sql).toArrow()
    except _spark_errors() as exc:
        raise SourceError(f"Spark could not run the rule: {_first_line(exc)}") from None
    return table.cast(duckdb_schema(rule, bindings, flat=flat))


def run_table(
    *,
    data: str | Path | None = None,
    tables: Mapping[str, str] | None = None,
    now: str | datetime | None = None,
    params: Mapping[str, Any] | None = None,
    flat: bool = False,
    rule: str | None = None,
    master: str | None = None,
    spark: SparkSession | None = None,
) -> pa.Table:
    """As detector.api.run_table, on Spark. Pass `spark` to reuse a session (start-up takes seconds)."""
    loaded = load_rule(rule)
    bindings = bind(loaded, params)
    found = sources.resolve(loaded, data, dict(tables or {}))
    spark = spark or session(master)
    register(spark, loaded, found)
    bindings = replace(bindings, now=resolve_now(spark, now))
    return execute(spark, loaded, bindings, flat=flat)
