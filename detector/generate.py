"""Synthetic Defender XDR fleets (DeviceInfo + DeviceNetworkEvents, and DeviceFileEvents on request): a
deterministic background fleet, plus the planted cases of the installed rules (their cases marked `"plant": true`,
see detector/fleet/plant.py).

Layout written under `out` (replacing a previous fleet there; see `generate_fleet`):

    out/DeviceInfo/part-0.parquet                               one snapshot per device per day
    out/DeviceNetworkEvents/date=YYYY-MM-DD/part-0.parquet      one file per UTC day, sorted by Timestamp
    out/DeviceFileEvents/date=YYYY-MM-DD/part-0.parquet         the same, when file_events > 0
    out/<Table>/part-0.parquet                                  planted rows of any other table a planting rule reads
    out/_fleet.json                                             arguments, counts, rules and planted cases

How the bulk scales: every background event g (0 <= g < events) is a pure function of (g, seed, fleet),
computed inside DuckDB from hash() of integers (no random(), no Python loop per row), and its timestamp is
non-decreasing in g. A day partition is therefore one contiguous slice of g, already in Timestamp order. The
planted rows (a few hundred at most, from the rules' case files) are placed in that order by inserting their keys
between bulk slices into a temp table, so nothing is ever sorted. Each day is one single-threaded COPY
(deterministic bytes); days are written concurrently, one DuckDB connection per worker. Repeated strings are
DuckDB ENUMs (the Parquet files still hold plain strings), which makes the Parquet writer several times cheaper
for those columns.

The fleet writes its own columns (bulk.EVENT_COLUMNS, bulk.INFO_COLUMNS, bulk.FILE_COLUMNS) with the tables'
documented Kusto types (sql/_tables, detector.types), plus any other column a planting rule reads or a planted row
sets (null in bulk rows). A planted row keeps every value its case gives, its datetimes moved by (fleet now - case
now); a column it does not give is null.

File events (`file_events` > 0): background DeviceFileEvents row f (0 <= f < file_events) is likewise a pure
function of (f, seed, fleet), with timestamps spread over the same window and non-decreasing in f, so each
day's file is sorted by Timestamp; planted DeviceFileEvents rows are merged into those day files (with
file_events = 0 they stay in out/DeviceFileEvents/part-0.parquet, as any other table's). ActionType is
FileCreated / FileModified / FileRenamed / FileDeleted; FileName comes from a pool of 4,096 files whose names
mix many extensions, near misses (.dllx, .jsonl, .exe.config) and other cases (.DLL, .Exe); FolderPath is the
full path; InitiatingProcessFileName is mostly explorer.exe, chrome.exe, svchost.exe or msedge.exe, and ~1% is
the Remote Desktop client (mstsc.exe, and MSTSC.EXE), on workstations only. Every file event is on a bulk
device (its DeviceId and DeviceName). In this mode the network bulk changes too: about 0.6% of workstations'
connections to pool or tail (public) destinations are mstsc.exe's (or MSTSC.EXE's), mostly ConnectionSuccess
to port 3389, company Microsoft Corporation; and DeviceNetworkEvents gets InitiatingProcessId, which both tables
derive alike (the same id for one process of one device within a 4-hour bucket, mstsc.exe's in both tables).
With file_events = 0 (the default) nothing of this is written: the files are byte-identical to those of the
generator before file events existed (data/sample, tests/test_sample.py), _fleet.json included.

Guarantees planted cases can rely on: bulk devices are named `srv-`/`dc-`/`lnx-`/`ws-NNNN.contoso.local`;
bulk IPs never fall in 198.51.100.0/24, 203.0.113.0/24 or 10.200.0.0/15; bulk vendor names come from the fixed
lists of detector/fleet/vocabulary.py (none contains "Planted"); at most two bulk servers ever report a null or
empty company name; bulk ReportIds stay below PLANTED_REPORT_ID_BASE (cases may number their rows from it).
Bulk timestamps are now - (whole milliseconds + 537 us), so none falls on a whole second before now (never
exactly on a window edge such as now, now - 1d or now - days). Bulk mstsc.exe rows (either table) are on
`ws-` devices only.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from detector import types
from detector.fleet import bulk
from detector.fleet.bulk import EVENT_TABLE, FILE_TABLE, INFO_TABLE, SUB_MS_US
from detector.fleet.plant import (
    PlantedCase,
    Plants,
    describe_planted,
    place,
    plant_cases,
    readme_section,
    update_readme,
)
from detector.tables import load_table

__all__ = [
    "FleetSummary",
    "PlantedCase",
    "describe_planted",
    "generate_fleet",
    "plant_cases",
    "readme_section",
    "update_readme",
]

ROW_GROUP_SIZE = 122_880
MARKER = "_fleet.json"
DAY_US = 86_400_000_000
PLANTED_REPORT_ID_BASE = 9_000_000_000_000


@dataclass(frozen=True)
class FleetSummary:
    """What generate_fleet wrote. servers/workstations are the bulk fleet sizes asked for; planted devices come
    on top (planted_devices). network_event_rows counts every row written: `events` bulk rows plus
    planted_event_rows; file_event_rows likewise `file_events` plus planted_file_rows (0 when file_events is 0:
    planted file rows are then in other_tables). left_out: the plant cases (rule/name) whose rows do not fit in
    `days`."""

    out: Path
    device_info_rows: int
    network_event_rows: int
    servers: int
    workstations: int
    planted: tuple[PlantedCase, ...]
    planted_event_rows: int = 0
    planted_devices: int = 0
    rules: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    other_tables: dict[str, int] = field(default_factory=dict)  # table -> rows, for tables only planted rows fill
    file_event_rows: int = 0
    planted_file_rows: int = 0


def generate_fleet(
    out: Path,
    *,
    servers: int = 40,
    workstations: int = 60,
    events: int = 20_000,
    days: int = 14,
    now: datetime,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
    rules: Iterable[str] | None = None,
    rules_dirs: Iterable[str | Path] = (),
    file_events: int = 0,
) -> FleetSummary:
    """Write a synthetic fleet under `out` and return what was written.

    `events` background network events are spread evenly over the `days` days before `now` (strictly inside
    (now - days, now)); the planted rows of the plant cases of `rules` (rule slugs; None: every installed rule,
    found as detector.rule.discover finds them, with `rules_dirs` first) come on top. A case whose rows do not fit
    in `days` is left out (detector/fleet/plant.py). `file_events` background DeviceFileEvents rows are spread
    over the same window (see the module's docstring; 0 writes none and changes nothing else). `now` is taken as
    UTC when naive. The same arguments and case files give byte-identical Parquet. `out` is written as a sibling
    temporary folder and then swapped in; an existing `out` is replaced only if it is empty or holds a previous
    fleet (its `_fleet.json`).
    """
    _check_int("servers", servers, 1)
    _check_int("workstations", workstations, 0)
    _check_int("events", events, 0)
    _check_int("days", days, 1)
    _check_int("seed", seed, -(2**128))  # any integer: the hash salt is derived from it with SHA-256
    _check_int("file_events", file_events, 0)
    now = _utc(now)
    for name, count in (("events", events), ("file_events", file_events)):
        if count * days * 86_400_000 > 2**61:
            limit = 2**61 // 86_400_000
            raise ValueError(f"{name} too large for days={days}: {name} * days must stay below {limit:,}")
    out = Path(out).absolute()
    _check_out(out)
    requested = None if rules is None else list(dict.fromkeys(rules))
    files_on = file_events > 0

    pairs = plant_cases(requested, rules_dirs)
    plants = place(pairs, now, days)
    planting_rules = tuple(dict.fromkeys(rule.slug for rule, _ in pairs))
    fleet = bulk.build_fleet(servers, workstations, seed)
    pools = bulk.destination_pools(seed)
    scalars = bulk.scalars(seed, events, days, _us(now), fleet, pools)
    own_event_columns = list(bulk.EVENT_COLUMNS)
    if files_on:
        scalars |= bulk.mstsc_scalars(seed, fleet, servers)
        own_event_columns += [c for c in bulk.MSTSC_COLUMNS if c not in bulk.EVENT_COLUMNS]
    event_columns = _columns(EVENT_TABLE, own_event_columns, plants)
    info_columns = _columns(INFO_TABLE, list(bulk.INFO_COLUMNS), plants)
    planted_events = plants.rows.get(EVENT_TABLE, [])
    total = events + len(planted_events)
    planted_files_rows = plants.rows.get(FILE_TABLE, []) if files_on else []
    file_total = file_events + len(planted_files_rows)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        # threads=1: every file is written by one thread (deterministic bytes); days run concurrently instead.
        con = duckdb.connect(config={"threads": 1, "preserve_insertion_order": True})
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET temp_directory = {_quote(tmp / '.spill')}")
            planted = {c: [r.get(c) for r in planted_events] for c in event_columns}
            bulk.setup_db(con, fleet, pools, planted, _duck(event_columns), mstsc=files_on)
            info = _arrow(info_columns, plants.rows.get(INFO_TABLE, []))
            info_rows = _write_device_info(con, tmp, info, info_columns, scalars, days, seed)
            duck = _duck(event_columns)
            jobs = _day_jobs(
                tmp, EVENT_TABLE, scalars, planted["Timestamp"], events, days, now,
                lambda with_planted: bulk.events_sql(duck, with_planted, mstsc=files_on),
            )  # fmt: skip
            if files_on:
                file_columns = _columns(FILE_TABLE, list(bulk.FILE_COLUMNS), plants)
                file_duck = _duck(file_columns)
                pool = bulk.file_pool(seed)
                planted_files = {c: [r.get(c) for r in planted_files_rows] for c in file_columns}
                bulk.setup_files_db(con, fleet, pool, planted_files, file_duck, workstations)
                file_scalars = bulk.file_scalars(seed, file_events, days, _us(now), fleet, pool, servers)
                jobs += _day_jobs(
                    tmp, FILE_TABLE, file_scalars, planted_files["Timestamp"], file_events, days, now,
                    lambda with_planted: bulk.file_events_sql(file_duck, with_planted),
                )  # fmt: skip
            written = _run_jobs(con, jobs, progress, total + (file_total if files_on else 0))
            other = {
                table: _write_table(con, tmp, table, _arrow(_columns(table, [], plants), plants.rows.get(table, [])))
                for table in sorted(plants.columns)
                if table not in (EVENT_TABLE, INFO_TABLE) and not (files_on and table == FILE_TABLE)
            }
        finally:
            con.close()
        shutil.rmtree(tmp / ".spill", ignore_errors=True)
        if written.get(EVENT_TABLE, 0) != total:
            raise RuntimeError(f"wrote {written.get(EVENT_TABLE, 0)} network events, expected {total}")
        if files_on and written.get(FILE_TABLE, 0) != file_total:
            raise RuntimeError(f"wrote {written.get(FILE_TABLE, 0)} file events, expected {file_total}")
        summary = FleetSummary(
            out=out,
            device_info_rows=info_rows,
            network_event_rows=total,
            servers=servers,
            workstations=workstations,
            planted=plants.cases,
            planted_event_rows=len(planted_events),
            planted_devices=plants.devices,
            rules=planting_rules,
            left_out=plants.left_out,
            other_tables=other,
            file_event_rows=file_total if files_on else 0,
            planted_file_rows=len(planted_files_rows),
        )
        manifest = _manifest(summary, events, days, now, seed, requested, file_events)
        (tmp / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _manifest(
    summary: FleetSummary, events: int, days: int, now: datetime, seed: int, rules: list | None, file_events: int
) -> dict:
    """_fleet.json. The file events' entries appear only when there are file events (so that a fleet without
    them has the manifest it always had)."""
    files = {"file_events": file_events} if file_events else {}
    return {
        "generator": "detector.generate",
        "arguments": {
            "servers": summary.servers,
            "workstations": summary.workstations,
            "events": events,
            **files,
            "days": days,
            "now": now.isoformat(),
            "seed": seed,
            "rules": rules,
        },
        "device_info_rows": summary.device_info_rows,
        "network_event_rows": summary.network_event_rows,
        **({"file_event_rows": summary.file_event_rows} if file_events else {}),
        **({"other_tables": summary.other_tables} if summary.other_tables else {}),
        "planted_event_rows": summary.planted_event_rows,
        "planted_devices": summary.planted_devices,
        "rules": list(summary.rules),
        "planted": [
            {"rule": c.rule, "case": c.name, "summary": c.summary, "rows": c.rows, "expect": len(c.expect)}
            for c in summary.planted
        ],
        "left_out": list(summary.left_out),
    }


def _columns(table: str, own: list[str], plants: Plants) -> dict[str, str]:
    """{column: Kusto type} the fleet writes for `table`: its own columns, then every other column a planting
    rule reads or a planted row sets, in the table's documented order."""
    documented = load_table(table).columns
    extra = plants.columns.get(table, {})
    columns = {c: documented[c] for c in own}
    for column in [*[c for c in documented if c in extra], *extra]:
        columns.setdefault(column, extra.get(column) or documented[column])
    return columns


def _duck(columns: dict[str, str]) -> dict[str, str]:
    return {c: types.get(t).duckdb for c, t in columns.items()}


def _arrow(columns: dict[str, str], rows: list[dict]) -> pa.Table:
    schema = types.arrow_schema(columns)
    return pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)


def _copy_options() -> str:
    return f"FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP_SIZE}, PRESERVE_ORDER true"


def _write_device_info(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    planted: pa.Table,
    columns: dict[str, str],
    scalars: dict,
    days: int,
    seed: int,
) -> int:
    target = folder / INFO_TABLE
    target.mkdir()
    con.register("planted_info", planted)
    try:
        params = {k: scalars[k] for k in ("now_us", "sub_ms", "ndev")}
        params |= {"days": days, "info_salt": bulk.salt(seed, "device-info")}
        sql = f"COPY ({bulk.info_sql(_duck(columns))}) TO {_quote(target / 'part-0.parquet')} ({_copy_options()})"
        (rows,) = con.execute(sql, params).fetchone()
    finally:
        con.unregister("planted_info")
    return rows


def _write_table(con: duckdb.DuckDBPyConnection, folder: Path, table: str, rows: pa.Table) -> int:
    """A table only planted rows fill: one file, in planting order."""
    target = folder / table
    target.mkdir()
    con.register("planted_rows", rows)
    try:
        sql = f"COPY (SELECT * FROM planted_rows) TO {_quote(target / 'part-0.parquet')} ({_copy_options()})"
        (count,) = con.execute(sql).fetchone()
    finally:
        con.unregister("planted_rows")
    return count


@dataclass(frozen=True)
class _DayJob:
    """One day file of an event table: bulk rows g0..g1-1 with the planted keys inserted."""

    table: str
    path: Path
    g0: int
    g1: int
    planted_keys: list[tuple[int, int]]  # (bulk row the planted row goes before, -(1-based planted index))
    sql: str
    scalars: dict


def _day_jobs(
    folder: Path,
    table: str,
    scalars: dict,
    planted_timestamps: list[datetime],
    events: int,
    days: int,
    now: datetime,
    sql: Callable[[bool], str],
) -> list[_DayJob]:
    """The day files of an event table (every UTC day of the window, even an empty one); `sql(with_planted)`
    gives the day's query."""
    target = folder / table
    target.mkdir()
    now_us, m = scalars["now_us"], scalars["m"]
    planted_ts = [_us(t) for t in planted_timestamps]
    planted_pos = [_first_g_at_or_after(t, events, now_us, m) for t in planted_ts]  # goes before bulk row pos
    jobs = []
    first_day, last_day = (now - timedelta(days=days)).date(), now.date()
    day = first_day
    while day <= last_day:
        lo_us = _us(datetime(day.year, day.month, day.day, tzinfo=UTC))
        hi_us = lo_us + DAY_US
        g0 = _first_g_at_or_after(lo_us, events, now_us, m) if day > first_day else 0
        g1 = _first_g_at_or_after(hi_us, events, now_us, m) if day < last_day else events
        p0, p1 = bisect_left(planted_ts, lo_us), bisect_left(planted_ts, hi_us)
        path = target / f"date={day.isoformat()}" / "part-0.parquet"
        path.parent.mkdir()
        keys = [(planted_pos[i], -(i + 1)) for i in range(p0, p1)]
        jobs.append(_DayJob(table, path, g0, g1, keys, sql(bool(keys)), scalars))
        day += timedelta(days=1)
    return jobs


def _run_jobs(
    con: duckdb.DuckDBPyConnection,
    jobs: list[_DayJob],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> dict[str, int]:
    """One COPY per day file, several at a time (one DuckDB connection and thread each); rows written by table."""

    def run(cur: duckdb.DuckDBPyConnection, job: _DayJob) -> int:
        with cur:
            cur.execute("SET TimeZone = 'UTC'")
            _fill_keys(cur, job.g0, job.g1, job.planted_keys)
            (rows,) = cur.execute(f"COPY ({job.sql}) TO {_quote(job.path)} ({_copy_options()})", job.scalars).fetchone()
            cur.execute("DROP TABLE keys")
        if rows != (job.g1 - job.g0) + len(job.planted_keys):
            raise RuntimeError(f"{job.path}: wrote {rows} rows, expected {(job.g1 - job.g0) + len(job.planted_keys)}")
        return rows

    written: dict[str, int] = {}
    done = 0
    jobs = sorted(jobs, key=lambda j: -(j.g1 - j.g0))  # largest days first keeps the workers busy until the end
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), _cpu_count()))) as pool:
        # one connection per job, made here: a connection must not be shared between threads
        futures = {pool.submit(run, con.cursor(), job): job for job in jobs}
        for future in as_completed(futures):
            rows = future.result()
            written[futures[future].table] = written.get(futures[future].table, 0) + rows
            done += rows
            if progress is not None:
                progress(done, total)
    return written


def _fill_keys(cur: duckdb.DuckDBPyConnection, g0: int, g1: int, planted_keys: list[tuple[int, int]]) -> None:
    """Temp table `keys` holding the day's row keys in output order: bulk rows g0..g1-1 ascending, each planted
    key (-i) inserted before bulk row `pos`. Tables keep insertion order, so no sort is needed."""
    cur.execute("CREATE OR REPLACE TEMP TABLE keys (k BIGINT)")
    g, i = g0, 0
    while g < g1 or i < len(planted_keys):
        stop = min(planted_keys[i][0], g1) if i < len(planted_keys) else g1
        if g < stop:
            cur.execute("INSERT INTO keys SELECT range FROM range($a, $b)", {"a": g, "b": stop})
            g = stop
        j = i
        while j < len(planted_keys) and min(planted_keys[j][0], g1) <= g:
            j += 1
        if j > i:
            cur.execute("INSERT INTO keys SELECT unnest($ks::BIGINT[])", {"ks": [k for _, k in planted_keys[i:j]]})
            i = j


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _utc(now: object) -> datetime:
    if not isinstance(now, datetime):
        raise ValueError(f"now must be a datetime, got {now!r}")
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _bulk_ts_us(g: int, now_us: int, m: int, n: int) -> int:
    return now_us - ((m - 1 - (g * m) // n) * 1000 + SUB_MS_US)


def _first_g_at_or_after(t_us: int, events: int, now_us: int, m: int) -> int:
    """Smallest bulk index g whose timestamp is >= t_us (events if none): timestamps are non-decreasing in g."""
    lo, hi = 0, events
    while lo < hi:
        mid = (lo + hi) // 2
        if _bulk_ts_us(mid, now_us, m, events) >= t_us:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _swap_in(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(f"out: {out} is a non-empty folder without {MARKER} (not a generated fleet); not replacing it")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
