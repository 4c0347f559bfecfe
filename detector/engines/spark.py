"""The Spark engine: the rule's Spark SQL with PySpark over the same Parquet, with the same records out as DuckDB.

The tables are temp views with the normalisation every engine gives (detector/sources.py): datetimes as UTC
instants (zoned, naive = UTC, ISO-8601 text), integers as integers, strings as strings, files unioned by column
name. The result is cast to the canonical Arrow form of its types (detector/types.py), so output.py writes the same
bytes as for DuckDB.

PySpark is optional (`pip install 'kql-detector[spark]'`) and needs Java 17 or newer on PATH (or JAVA_HOME).
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import tempfile
import threading
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from detector import sources, types
from detector.errors import DetectorError, SourceError
from detector.literals import sql_identifier
from detector.rule import Rule

if TYPE_CHECKING:
    from py4j.java_gateway import JavaGateway
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
SHUFFLE_PARTITIONS = 4

# Spark logs at WARN to the console by default, and says so; errors only, and nothing about it. But the scheduler's
# warnings stay: on a cluster they say why a run waits ("Initial job has not accepted any resources": no worker
# has the cores or memory the application asks for), where it would otherwise hang without a word.
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
logger.scheduler.name = org.apache.spark.scheduler.TaskSchedulerImpl
logger.scheduler.level = warn
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
    """A SparkSession in UTC (local mode by default, or the cluster at `master`, e.g. spark://host:7077), quiet.
    Reuses the active session if there is one."""
    reason = unavailable()
    if reason:
        raise EngineUnavailable(reason)
    if master:
        _check_reachable(master)
    # PySpark checks the pandas version on toArrow() although pandas is not used there.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    log_config = Path(tempfile.gettempdir()) / f"detector-spark-log4j2-{os.getuid()}.properties"
    if not log_config.exists() or log_config.read_text() != _LOG4J2:
        log_config.write_text(_LOG4J2)
    options = {
        "spark.master": master or DEFAULT_MASTER,
        "spark.app.name": "detector",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log_config}",
        # The executors' (on a cluster, each worker's) JVM zone; the log file above is on this machine only.
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    try:
        if SparkContext._gateway is None:  # the driver JVM is not running yet: it starts here
            conf = SparkConf().setAll(list(options.items()))
            SparkContext(conf=conf, gateway=_launch_gateway(conf))
        spark = SparkSession.builder.config(map=options).getOrCreate()
    except Exception as exc:  # PySpark raises its own runtime errors here
        if SparkContext._gateway is None:  # the JVM did not start
            raise EngineUnavailable(f"Spark did not start ({_first_line(exc)}); it needs Java 17 or newer") from None
        where = options["spark.master"]  # the JVM is up: the master refused, or was not there
        hint = " (is a Spark master running there, and can the cluster reach this machine?)" if master else ""
        raise EngineUnavailable(f"Spark could not start on {where}: {_java_message(exc)}{hint}") from None
    spark.sparkContext.setLogLevel("ERROR")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def _check_reachable(master: str, timeout: float = 5) -> None:
    """A standalone master that does not answer on its port, said in a line before the driver JVM starts (Spark
    itself retries for about a minute, then says only that the SparkContext is stopped)."""
    if not master.startswith("spark://"):
        return  # local[...], yarn, k8s://...: Spark's own checks
    for address in master.removeprefix("spark://").split(","):  # a list of masters (ZooKeeper recovery)
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return
        except ValueError:
            raise EngineUnavailable(f"Spark master {master}: {address!r} is not HOST:PORT") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
    raise EngineUnavailable(f"Spark master {master} does not answer ({reason}): is a master running there?")


# Lines the driver JVM prints on stderr that say nothing to a user: Spark's launcher always adds
# --add-modules=jdk.incubator.vector, and the JVM then announces the incubator module (no option turns that off).
_JVM_NOISE = (b"WARNING: Using incubator modules:",)


def _launch_gateway(conf: SparkConf) -> JavaGateway:
    """PySpark's driver JVM, its stdout and stderr through one pipe: every line but _JVM_NOISE is copied to this
    process's stderr (fd 2), by a daemon thread for as long as the JVM writes. Nothing of the JVM's reaches stdout,
    which carries the records: the JVM writes its own warnings there (`[warning][codecache] CodeCache is full`,
    any -Xlog output), and PySpark does not read it (the gateway's port comes through a file). The pipe is read
    from before the JVM starts, so a JVM that writes much before it is up cannot block."""
    from pyspark.java_gateway import launch_gateway

    read_end, write_end = os.pipe()
    threading.Thread(target=_copy_stderr, args=(read_end,), name="detector-spark-output", daemon=True).start()
    try:
        return launch_gateway(conf, popen_kwargs={"stdout": write_end, "stderr": write_end})
    finally:
        os.close(write_end)  # the JVM holds its own copies


def _copy_stderr(read_end: int) -> None:
    with open(read_end, "rb") as pipe:
        for line in pipe:
            if line.startswith(_JVM_NOISE):
                continue
            try:
                while line:
                    line = line[os.write(2, line) :]
            except OSError:  # stderr is closed: keep draining, so that the JVM never blocks on a full pipe
                pass


def _spark_errors() -> tuple[type[BaseException], ...]:
    from pyspark.errors import PySparkException

    try:
        from py4j.protocol import Py4JJavaError
    except ImportError:  # pragma: no cover - py4j comes with pyspark
        return (PySparkException,)
    return (PySparkException, Py4JJavaError)


def _java_message(exc: BaseException) -> str:
    """The first line of the Java exception's own message (Py4J's text starts with the method it called)."""
    java = getattr(exc, "java_exception", None)
    try:
        text = str(java.getMessage() or "").strip() if java is not None else ""
    except Exception:  # the JVM is gone
        text = ""
    return text.splitlines()[0] if text else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "getMessage", lambda: None)() or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def cast(col: str, kusto_type: str, spark_type: str) -> str:
    """One column in its Kusto type, from the type Spark reads it as. Naive timestamps and dates are taken as UTC
    (the session zone); ISO-8601 text with Z, an offset or no zone (= UTC) is parsed."""
    target = types.get(kusto_type).spark
    if kusto_type == "datetime":
        return col if spark_type == "timestamp" else f"CAST({col} AS TIMESTAMP)"
    return col if spark_type == target.lower() else f"CAST({col} AS {target})"


class SparkEngine:
    name = "spark"
    dialect = "spark"
    OPTIONS = ("spark_master", "spark_session")

    def __init__(self, *, spark_master: str | None = None, spark_session: SparkSession | None = None) -> None:
        """A session on `spark_master` (default local[2]), or the caller's `spark_session` (reused, left open)."""
        self.owned = False  # a session is shared by the process: PySpark keeps one active session
        self.spark = spark_session or session(spark_master)

    def register(self, rule: Rule, tables: dict[str, sources.Table]) -> dict[str, str]:
        """One temp view per table, named as the table, with the rule's columns in their Kusto types.

        Files are unioned by column name, as DuckDB's union_by_name does: files with the same schema are read
        together, each group is cast to the Kusto types on its own (so one file may hold a datetime as text and
        another as a timestamp), and a column missing from some files is null there.
        """
        errors = _spark_errors()
        # Spark refuses Parquet TIMESTAMP(NANOS) (pandas writes them); read as numbers, they are converted below.
        self.spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
        names = {}
        for name, table in tables.items():
            frames, seen = [], set()
            for schema, files in _by_schema(table):
                reader = self.spark.read
                if Path(table.location).is_dir():
                    reader = reader.option("basePath", table.location)  # hive folders (date=...) as in DuckDB
                try:
                    frame = reader.parquet(*files)
                except errors as exc:
                    raise SourceError(f"table {name}: cannot read {sources.which(table)}: {_first_line(exc)}") from None
                found = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
                seen |= {c for c in rule.reads[name] if sources.find_column(found, c)}
                # A column the rule reads but this group of files lacks is null here (union by name); missing
                # from every file, it is an error (checked below).
                for column in rule.reads[name]:
                    if sources.find_column(found, column) is None:
                        found[column] = "void"
                nanos = {c for c in found if _is_nanos(schema, c)}
                found.update({c: "timestamp(nanos)" for c in nanos})
                select = sources.typed_select(
                    rule, name, found, files[0], functools.partial(_cast_group, nanos), "spark"
                )
                frames.append(frame.selectExpr(*select))
            for column in rule.reads[name]:
                if column not in seen:
                    raise SourceError(f"table {name}: column {column} is missing from {sources.which(table)}")
            union = frames[0]
            for frame in frames[1:]:
                union = union.unionByName(frame)
            union.createOrReplaceTempView(name)
            names[name] = sql_identifier(name, "spark")
        return names

    def clock(self, sql_name: str, column: str) -> datetime | None:
        # Microseconds since the epoch, so no Python-side time zone is involved.
        [row] = self.spark.sql(
            f"SELECT unix_micros(max({sql_identifier(column, 'spark')})) AS us FROM {sql_name}"
        ).collect()
        return None if row.us is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=row.us)

    def columns(self, sql: str) -> list[str]:
        return list(self.spark.sql(sql).columns)

    def execute(self, sql: str, progress: Callable[[float], None] | None = None) -> pa.Table:
        try:
            table = self.spark.sql(sql).toArrow()
        except _spark_errors() as exc:
            raise SourceError(f"Spark could not run the rule: {_first_line(exc)}") from None
        return types.canonical_table(table)

    def close(self) -> None:
        """The session stays: starting one takes seconds, and PySpark shares it within the process."""


def _cast_group(nanos: set[str], col: str, kusto_type: str, found: str) -> str:
    bare = col.strip("`")
    if found == "void":
        return f"CAST(NULL AS {types.get(kusto_type).spark})"
    if bare in nanos:  # a Parquet TIMESTAMP(NANOS), read as nanoseconds since the epoch: truncated to microseconds
        return f"timestamp_micros({col} div 1000)"
    return cast(col, kusto_type, found)


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
