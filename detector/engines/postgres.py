"""The PostgreSQL engine: the rule's Postgres SQL on tables already in a PostgreSQL database, with the same records
out as DuckDB gives on the same rows.

    detector run RULE --engine postgres --connection postgresql://user@host:5432/db \\
        --table <Table>=defender.<table_name>

Each table the rule reads is a typed temporary view over the user's table (`--table NAME=schema.table`; default:
a table named as the rule's table, found on the search path), with the normalisation every engine gives
(detector/sources.py): datetimes as UTC instants (timestamptz as is, timestamp without time zone and dates taken as
UTC, ISO-8601 text parsed in the session's zone, which is set to UTC), integers as integers, strings as text. The
columns are read from information_schema, so a missing table or column is named before anything runs. The result
comes back as Arrow in the canonical types (detector/types.py); a `json` column (the rule's Details objects) is
given the Arrow type DuckDB gives the same output column, as JSON carries no integer widths or timestamps.

The client is pg8000 (pure Python): `pip install 'kql-detector[postgres]'`. Connection addresses take the libpq form:
postgresql://[user[:password]@][host][:port][/database][?param=value&...], a unix socket as a host that is a folder
(`postgresql:///db?host=/var/run/postgresql`); PGUSER, PGPASSWORD, PGHOST, PGPORT, PGDATABASE and PGSSLMODE fill in
what the URL leaves out, as for psql.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa

from detector import sources, types
from detector.errors import DetectorError, ParamError, SourceError
from detector.literals import sql_identifier
from detector.rule import Rule

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432
CONNECT_TIMEOUT = 30.0  # seconds, for opening the socket only (a rule may run for long)
_URL_PARAMS = ("host", "port", "user", "password", "dbname", "sslmode", "sslrootcert", "connect_timeout")
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_IDENT = r"^[A-Za-z_][A-Za-z0-9_$]*$"


class EngineUnavailable(DetectorError):
    """pg8000 is not installed."""


# ---- connecting ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where to connect, from a postgresql:// URL and the PG* variables."""

    host: str | None  # a host name or address; None with `socket`
    port: int
    socket: str | None  # a unix socket file
    user: str
    password: str | None
    database: str
    sslmode: str
    sslrootcert: str | None
    connect_timeout: float

    @property
    def where(self) -> str:
        """For messages: host:port or the socket file (never the password)."""
        return self.socket or f"{self.host}:{self.port}"


def parse_url(url: str, environ: dict[str, str] | None = None) -> Target:
    """A libpq connection URL (postgresql://user:password@host:port/database?sslmode=require) as a Target; the
    error (ParamError naming --connection) never repeats the password."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url.strip())
    shown = _masked(url)
    if parts.scheme not in SCHEMES:
        raise ParamError("--connection", f"{shown}: give a postgresql://USER@HOST:PORT/DATABASE URL")
    try:
        netloc_port = parts.port
    except ValueError:
        raise ParamError("--connection", f"{shown}: the port is not a number from 1 to 65535") from None
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _URL_PARAMS:
            raise ParamError("--connection", f"{shown}: unknown parameter {key!r} (known: {', '.join(_URL_PARAMS)})")
        query[key] = value
    host = query.get("host") or _netloc_host(parts.netloc) or env.get("PGHOST") or _default_socket_dir()
    if "," in host:
        raise ParamError("--connection", f"{shown}: give one host (several hosts are not supported)")
    port_text = query.get("port") or (None if netloc_port is None else str(netloc_port)) or env.get("PGPORT")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise ParamError("--connection", f"{shown}: port {port_text!r} is not a number") from None
    if not 0 < port < 65536:
        raise ParamError("--connection", f"{shown}: the port is not a number from 1 to 65535")
    user = query.get("user") or unquote(parts.username or "") or env.get("PGUSER") or getpass.getuser()
    password = query.get("password") or (unquote(parts.password) if parts.password else None) or env.get("PGPASSWORD")
    database = query.get("dbname") or unquote(parts.path.lstrip("/")) or env.get("PGDATABASE") or user
    sslmode = query.get("sslmode") or env.get("PGSSLMODE") or "prefer"
    if sslmode not in _SSLMODES:
        raise ParamError("--connection", f"{shown}: sslmode {sslmode!r} is not one of {', '.join(_SSLMODES)}")
    try:
        timeout = float(query.get("connect_timeout") or CONNECT_TIMEOUT)
    except ValueError:
        raise ParamError("--connection", f"{shown}: connect_timeout is not a number of seconds") from None
    unix = host.startswith("/")
    return Target(
        host=None if unix else host,
        port=port,
        socket=os.path.join(host, f".s.PGSQL.{port}") if unix else None,
        user=user,
        password=password,
        database=database,
        sslmode=sslmode,
        sslrootcert=query.get("sslrootcert"),
        connect_timeout=timeout if timeout > 0 else CONNECT_TIMEOUT,
    )


def _netloc_host(netloc: str) -> str:
    """The host of a URL's user:password@host:port as written (urlsplit lower-cases it): a name, an address
    ([::1]) or a percent-encoded socket folder (%2Fvar%2Frun%2Fpostgresql)."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        return host[1 : host.find("]")]
    return unquote(host.partition(":")[0])


def _masked(url: str) -> str:
    """The URL as given, its password replaced by ***."""
    parts = urlsplit(url.strip())
    text = url.strip()
    if parts.password:
        text = text.replace(f":{parts.password}@", ":***@", 1)
    if "password=" in parts.query:
        query = "&".join(
            f"{k}=***" if k == "password" else f"{k}={v}" for k, v in parse_qsl(parts.query, keep_blank_values=True)
        )
        text = text.replace(parts.query, query, 1)
    return text


def _default_socket_dir() -> str:
    return "/var/run/postgresql" if os.path.isdir("/var/run/postgresql") else "/tmp"


def _ssl_context(target: Target) -> ssl.SSLContext | bool | None:
    """pg8000's ssl_context for libpq's sslmode: False = plain, None = TLS if the server offers it (unverified, as
    libpq's prefer), True = TLS required (unverified), a context = TLS verified. Never TLS on a unix socket."""
    if target.socket or target.sslmode == "disable":
        return False
    if target.sslmode in ("allow", "prefer"):
        return None
    if target.sslmode == "require":
        return True
    context = ssl.create_default_context(cafile=target.sslrootcert)
    context.check_hostname = target.sslmode == "verify-full"
    return context


def connect(target: Target) -> Any:
    """A pg8000 connection; a failure is one SourceError naming the engine, the server and the driver's reason."""
    try:
        import pg8000.native
    except ImportError:
        raise EngineUnavailable("--engine postgres needs pg8000: pip install 'kql-detector[postgres]'") from None
    from pg8000.exceptions import DatabaseError, InterfaceError

    def failed(reason: str) -> SourceError:
        return SourceError(f"--engine postgres: cannot connect to {target.where} as {target.user}: {reason}")

    try:
        if target.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(target.connect_timeout)
            try:
                sock.connect(target.socket)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((target.host, target.port), target.connect_timeout)
        sock.settimeout(None)  # queries may take long: no timeout once connected
    except TimeoutError:
        raise failed(f"no answer within {target.connect_timeout:g}s") from None
    except OSError as exc:
        raise failed(exc.strerror or str(exc)) from None
    try:
        return pg8000.native.Connection(
            target.user,
            host=target.host or "localhost",
            database=target.database,
            port=target.port,
            password=target.password,
            sock=sock,
            ssl_context=_ssl_context(target),
            application_name="detector",
        )
    except DatabaseError as exc:
        sock.close()
        raise failed(server_message(exc)) from None
    except (InterfaceError, OSError, ssl.SSLError) as exc:
        sock.close()
        raise failed(_reason(exc)) from None


def server_message(exc: BaseException) -> str:
    """The server's message of a pg8000 DatabaseError (its fields: C code, M message), on one line."""
    fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return " ".join(str(fields.get("M") or exc).split())


def _sqlstate(exc: BaseException) -> str:
    fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(fields.get("C", ""))


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


# ---- typing the user's columns -------------------------------------------------------------------------------

_TEXT = ("text", "character varying", "character", "name", "citext")
# The Kusto type's Postgres spelling (detector/types.py) -> the information_schema types that need no cast.
_SAME = {
    "TEXT": ("varchar",),
    "INTEGER": ("integer",),
    "BIGINT": ("bigint",),
    "DOUBLE PRECISION": ("double precision",),
    "BOOLEAN": ("boolean",),
    "INTERVAL": ("interval",),
}


def found_type(data_type: str, udt_name: str) -> str:
    """An information_schema type in the words detector/sources.py reads (text types are `varchar`)."""
    t = data_type.lower()
    if t in _TEXT or (t == "user-defined" and udt_name.lower() == "citext"):
        return "varchar"
    if t == "array":
        return f"{udt_name.lstrip('_').lower()}[]"
    return udt_name.lower() if t == "user-defined" else t


def cast(col: str, kusto_type: str, found: str) -> str:
    """One column in its Kusto type, from its Postgres type (as found_type names it)."""
    if kusto_type == "datetime":
        if found == "timestamp with time zone":
            return col
        if found == "timestamp without time zone":
            return f"({col} AT TIME ZONE 'UTC')"  # naive = UTC, as on every engine
        if found == "date":
            return f"(CAST({col} AS TIMESTAMP) AT TIME ZONE 'UTC')"
        # ISO-8601 text, parsed in the session's zone (UTC). Postgres rounds digits past the microsecond, DuckDB
        # cuts them (Defender writes 7): cut first.
        return f"CAST(regexp_replace({col}, '([.][0-9]{{6}})[0-9]+', '\\1') AS TIMESTAMPTZ)"
    target = types.get(kusto_type).sql["postgres"]
    return col if found in _SAME.get(target, ()) else f"CAST({col} AS {target})"


# ---- the engine ---------------------------------------------------------------------------------------------


class PostgresEngine:
    name = "postgres"
    dialect = "postgres"
    OPTIONS = ("connection",)
    IN_DATABASE = True  # detector.api: the rule's tables are tables in the database (`tables` names them), not files
    CONNECTION_URLS = SCHEMES  # `--connection` takes a postgresql:// URL

    def __init__(self, *, connection: str | Any = None) -> None:
        """`connection`: a postgresql:// URL (connected here, closed by close()), or an open pg8000.native
        Connection (the caller's: its session zone is set to UTC, temporary views named detector__<Table> are
        created in it, and it is left open)."""
        if connection is None:
            raise ParamError(
                "--connection",
                "--engine postgres runs on tables in a PostgreSQL database: give --connection "
                "postgresql://USER@HOST:PORT/DATABASE",
            )
        self.target = parse_url(connection) if isinstance(connection, str) else None
        self.owned = self.target is not None
        self.con = connect(self.target) if self.target is not None else connection
        self.rule: Rule | None = None
        self.text_casts: list[str] = []  # table.column read from text into another type (for error messages)
        self.inline = False  # the typed selects go inline, not in temporary views (see _view)
        try:
            # Kusto datetimes are UTC; no server zone may leak into casts or output. pg8000 reads ISO dates and
            # postgres-style intervals; backslashes in literals are plain (the casts' patterns).
            settings = {"TimeZone": "UTC", "DateStyle": "ISO, MDY", "IntervalStyle": "postgres",
                        "standard_conforming_strings": "on"}  # fmt: skip
            setters = ", ".join(f"set_config('{k}', '{v}', false)" for k, v in settings.items())
            [[*_, self.pid]] = self._run(f"SELECT {setters}, pg_backend_pid()")
        except BaseException:
            self.close()
            raise

    @property
    def where(self) -> str:
        return self.target.where if self.target else "the given connection"

    # ---- tables ----
    def register(self, rule: Rule, tables: dict[str, sources.Table]) -> dict[str, str]:
        """Parquet files: not for this engine (detector.api calls register_connection_tables, IN_DATABASE)."""
        raise SourceError("--engine postgres runs on tables in its database: name them with --table NAME=schema.table")

    def register_connection_tables(self, rule: Rule, mapping: dict[str, str]) -> dict[str, str]:
        """Typed temporary views over the user's tables (`mapping`: rule table -> `table` or `schema.table`, default
        the rule table's own name on the search path). Returns rule table -> view name."""
        self.rule = rule
        sources.check_mapping(rule, mapping)
        views = {}
        for name in rule.tables:
            schema, table, found = self._describe(name, mapping.get(name, name))
            which = f"PostgreSQL table {schema}.{table}"
            select = sources.typed_select(rule, name, found, which, cast, "postgres")
            for column, kusto_type in rule.tables[name].items():
                actual = sources.find_column(found, column)
                if actual and found[actual] == "varchar" and kusto_type not in types.TEXT_TYPES:
                    self.text_casts.append(f"{name}.{column} ({schema}.{table}.{actual})")
            source = f"{sql_identifier(schema, 'postgres')}.{sql_identifier(table, 'postgres')}"
            views[name] = self._view(name, f"SELECT {', '.join(select)} FROM {source}")
        return views

    def _view(self, name: str, select: str) -> str:
        """A temporary view detector__<name>; where the session may not create one (a read-only session: a hot
        standby, default_transaction_read_only; no TEMP privilege), the same select inline, as a subquery."""
        from pg8000.exceptions import DatabaseError

        view = sql_identifier("detector__" + name, "postgres")
        if not self.inline:
            try:
                self.con.run(f"CREATE OR REPLACE TEMP VIEW {view} AS {select}")
                return view
            except DatabaseError as exc:
                if _sqlstate(exc) not in ("25006", "42501"):  # read_only_sql_transaction, insufficient_privilege
                    raise SourceError(f"table {name}: PostgreSQL could not read it: {server_message(exc)}") from None
                self.inline = True
        return f"({select}) AS {view}"

    def _describe(self, name: str, where: str) -> tuple[str, str, dict[str, str]]:
        """The user's table `where` (`table` or `schema.table`): its schema, name and columns (name -> type), from
        information_schema. A name matches exactly, else ignoring case when only one table does."""
        parts = where.strip().split(".")
        if not 1 <= len(parts) <= 2 or not all(re.match(_IDENT, p) for p in parts):
            raise ParamError(
                "--table", f"{name}={where}: give table or schema.table, each a plain identifier (letters, digits, _)"
            )
        schema, table = parts if len(parts) == 2 else (None, parts[0])
        rows = self._run(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.udt_name "
            "FROM information_schema.columns c "
            "WHERE lower(c.table_name) = lower(:table) AND (CAST(:schema AS TEXT) IS NULL AND "
            "c.table_schema = ANY(current_schemas(false)) OR lower(c.table_schema) = lower(CAST(:schema AS TEXT))) "
            "ORDER BY array_position(current_schemas(false), c.table_schema::name), c.table_schema, c.table_name, "
            "c.ordinal_position",
            table=table,
            schema=schema,
        )
        tables: dict[tuple[str, str], dict[str, str]] = {}
        for s, t, column, data_type, udt_name in rows:
            tables.setdefault((s, t), {})[column] = found_type(data_type, udt_name)
        exact = [k for k in tables if k[1] == table and (schema is None or k[0] == schema)]
        if exact:
            key = exact[0]  # the first on the search path
        elif len(tables) == 1:
            [key] = tables
        elif tables:
            names = ", ".join(f"{s}.{t}" for s, t in tables)
            raise SourceError(f"table {name}: {where} matches several tables ignoring case ({names}); give one")
        else:
            [[database]] = self._run("SELECT current_database()")
            raise SourceError(
                f"table {name}: no table or view {where} in PostgreSQL database {database} at {self.where} "
                "(or no privilege to read it); map it with --table "
                f"{name}=schema.table"
            )
        return key[0], key[1], tables[key]

    # ---- queries ----
    def clock(self, sql_name: str, column: str) -> datetime | None:
        [[newest]] = self._query(f"SELECT max({sql_identifier(column, 'postgres')}) FROM {sql_name}")[0]
        return None if newest is None else newest.astimezone(UTC)

    def columns(self, sql: str) -> list[str]:
        _, columns = self._query(f"SELECT * FROM ({sql}) AS detector__statement LIMIT 0")
        return [c["name"] for c in columns]

    def execute(self, sql: str, progress: Callable[[float], None] | None = None) -> pa.Table:
        """The statement's rows as Arrow in the canonical types (Postgres reports no progress: `progress` is not
        called). Ctrl-C cancels the statement on the server."""
        rows, columns = self._query(sql)
        return types.canonical_table(self._arrow(rows, columns))

    def _query(self, sql: str) -> tuple[list[list], list[dict]]:
        from pg8000.exceptions import DatabaseError, InterfaceError

        try:
            rows = self._run(sql)
        except DatabaseError as exc:
            message = server_message(exc)
            if _sqlstate(exc).startswith("22") and self.text_casts:  # data exception: a value does not convert
                raise SourceError(
                    f"cannot read the data: PostgreSQL: {message} (columns read from text: "
                    f"{', '.join(self.text_casts)})"
                ) from None
            raise SourceError(f"PostgreSQL could not run the rule: {message}") from None
        except InterfaceError as exc:
            raise SourceError(f"--engine postgres: lost the connection to {self.where}: {_reason(exc)}") from None
        return rows, list(self.con.columns or [])

    def _run(self, sql: str, **params: Any) -> list[list]:
        try:
            return self.con.run(sql, **params)
        except KeyboardInterrupt:
            self.cancel()
            raise

    def cancel(self) -> None:
        """Stop the running statement on the server (from a second connection, as psql's Ctrl-C does); the
        interrupted connection is closed."""
        if self.target is None:
            return  # the caller's connection: theirs to cancel
        with contextlib.suppress(Exception), connect(self.target) as other:  # best effort while interrupted
            other.run(f"SELECT pg_cancel_backend({int(self.pid)})")
        self.close()

    def _arrow(self, rows: list[list], columns: list[dict]) -> pa.Table:
        names = [c["name"] for c in columns]
        wanted = {}
        if self.rule is not None and any(c["type_oid"] in _JSON for c in columns):
            wanted = output_types(self.rule, tuple(names))
        arrays = []
        for i, column in enumerate(columns):
            values = [row[i] for row in rows]
            arrays.append(_column(values, column["type_oid"], wanted.get(column["name"])))
        return pa.Table.from_arrays(arrays, names=names) if names else pa.table({})

    def close(self) -> None:
        if self.owned and self.con is not None:
            with contextlib.suppress(Exception):  # a broken connection is closed all the same
                self.con.close()
            self.con = None


# ---- Postgres values to Arrow -------------------------------------------------------------------------------

_OUTPUT_TYPES: dict[tuple[str, str, bool], dict[str, pa.DataType]] = {}


def output_types(rule: Rule, names: tuple[str, ...]) -> dict[str, pa.DataType]:
    """The Arrow types DuckDB gives the rule's output (nested or flat, told by the column names; {} for another
    statement): the rule rendered for DuckDB over empty tables, once per rule and shape in a process. Postgres
    `json` carries no integer widths or timestamps, so a json column of the rule's output takes DuckDB's type."""
    flat = next(
        (f for f, s in ((False, rule.output.nested), (True, rule.output.flat)) if s and tuple(s.columns) == names), None
    )
    if flat is None:
        return {}
    key = (str(rule.folder), rule.slug, flat)
    if key not in _OUTPUT_TYPES:
        import duckdb

        from detector.params import placeholder_bindings
        from detector.render import render

        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            for name, columns in rule.tables.items():
                select = ", ".join(
                    f"CAST(NULL AS {types.get(t).duckdb}) AS {sql_identifier(c)}" for c, t in columns.items()
                )
                con.execute(f"CREATE TEMP VIEW {sql_identifier(name)} AS SELECT {select} LIMIT 0")
            schema = con.sql(render(rule, placeholder_bindings(rule), flat=flat).sql).to_arrow_table().schema
        finally:
            con.close()
        _OUTPUT_TYPES[key] = {f.name: types.canonical_arrow(f.type) for f in schema}
    return _OUTPUT_TYPES[key]


_JSON = (114, 3802)  # json, jsonb
_ARROW = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    18: pa.string(),  # "char"
    19: pa.string(),  # name
    1042: pa.string(),  # character(n)
    1043: pa.string(),  # character varying
    2950: pa.string(),  # uuid
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),  # naive: read as UTC by canonical_table
    1184: pa.timestamp("us", tz="UTC"),
    1186: pa.duration("us"),
    1009: pa.list_(pa.string()),  # text[]
    1015: pa.list_(pa.string()),  # varchar[]
    1007: pa.list_(pa.int32()),
    1016: pa.list_(pa.int64()),
}


def _column(values: list, oid: int, wanted: pa.DataType | None) -> pa.Array:
    """One result column as Arrow: by its Postgres type; json as `wanted` (DuckDB's type for it) when known."""
    if oid in _JSON:
        if wanted is not None:
            try:
                return pa.array([_coerce(v, wanted) for v in values], type=wanted)
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError):
                pass  # not the rule's shape after all: typed from the values below
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string())
    if oid == 1700:  # numeric (e.g. EXTRACT(EPOCH ...)): whole numbers as BIGINT, as DuckDB computes them
        whole = all(v is None or (v.is_finite() and v == v.to_integral_value()) for v in values)
        return pa.array([None if v is None else (int(v) if whole else float(v)) for v in values],
                        pa.int64() if whole else pa.float64())  # fmt: skip
    arrow_type = _ARROW.get(oid)
    if arrow_type is None or pa.types.is_string(arrow_type):
        try:
            return pa.array(values, type=arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a type pyarrow does not know (ranges, ...): as its text
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
            return pa.array(values, type=pa.string())
    return pa.array(values, type=arrow_type)


def _coerce(value: Any, arrow_type: pa.DataType) -> Any:
    """A value parsed from JSON, in the shape pyarrow builds `arrow_type` from (instants from their ISO text)."""
    if value is None:
        return None
    if pa.types.is_timestamp(arrow_type) and isinstance(value, str):
        return datetime.fromisoformat(value)
    if pa.types.is_struct(arrow_type) and isinstance(value, dict):
        if list(value) != [f.name for f in arrow_type]:
            raise ValueError("another object")
        return {f.name: _coerce(value.get(f.name), f.type) for f in arrow_type}
    if (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)) and isinstance(value, list):
        return [_coerce(v, arrow_type.value_type) for v in value]
    if pa.types.is_string(arrow_type) and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
