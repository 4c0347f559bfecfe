"""Synthetic Defender XDR fleets (DeviceInfo + DeviceNetworkEvents): a deterministic background fleet, plus the
planted cases of the installed rules (their cases marked `"plant": true`, see detector/fleet/plant.py).

Layout written under `out` (replacing a previous fleet there; see `generate_fleet`):

    out/DeviceInfo/part-0.parquet                               one snapshot per device per day
    out/DeviceNetworkEvents/date=YYYY-MM-DD/part-0.parquet      one file per UTC day, sorted by Timestamp
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

The fleet writes its own columns (bulk.EVENT_COLUMNS, bulk.INFO_COLUMNS) with the tables' documented Kusto types
(sql/_tables, detector.types), plus any other column a planting rule reads or a planted row sets (null in bulk
rows). A planted row keeps every value its case gives, its datetimes moved by (fleet now - case now); a column it
does not give is null.

Guarantees planted cases can rely on: bulk devices are named `srv-`/`dc-`/`lnx-`/`ws-NNNN.contoso.local`;
bulk IPs never fall in 198.51.100.0/24, 203.0.113.0/24 or 10.200.0.0/15; bulk vendor names come from the fixed
lists of detector/fleet/vocabulary.py (none contains "Planted"); at most two bulk servers ever report a null or
empty company name; bulk ReportIds stay below PLANTED_REPORT_ID_BASE (cases may number their rows from it).
Bulk timestamps are now - (whole milliseconds + 537 us), so none falls on a whole second before now (never
exactly on a window edge such as now, now - 1d or now - days).
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
from detector.fleet.bulk import EVENT_TABLE, INFO_TABLE, SUB_MS_US
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
    planted_event_rows. left_out: the plant cases (rule/name) whose rows do not fit in `days`."""

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
) -> FleetSummary:
    """Write a synthetic fleet under `out` and return what was written.

    `events` background network events are spread evenly over the `days` days before `now` (strictly inside
    (now - days, now)); the planted rows of the plant cases of `rules` (rule slugs; None: every installed rule,
    found as detector.rule.discover finds them, with `rules_dirs` first) come on top. A case whose rows do not fit
    in `days` is left out (detector/fleet/plant.py). `now` is taken as UTC when naive. The same arguments and
    case files give byte-identical Parquet. `out` is written as a sibling temporary folder and then swapped in;
    an existing `out` is replaced only if it is empty or holds a previous fleet (its `_fleet.json`).
    """
    _check_int("servers", servers, 1)
    _check_int("workstations", workstations, 0)
    _check_int("events", events, 0)
    _check_int("days", days, 1)
    _check_int("seed", seed, -(2**128))  # any integer: the hash salt is derived from it with SHA-256
    now = _utc(now)
    if events * days * 86_400_000 > 2**61:
        raise ValueError(f"events too large for days={days}: events * days must stay below {2**61 // 86_400_000:,}")
    out = Path(out).absolute()
    _check_out(out)
    requested = None if rules is None else list(dict.fromkeys(rules))

    pairs = plant_cases(requested, rules_dirs)
    plants = place(pairs, now, days)
    planting_rules = tuple(dict.fromkeys(rule.slug for rule, _ in pairs))
    fleet = bulk.build_fleet(servers, workstations, seed)
    pools = bulk.destination_pools(seed)
    scalars = bulk.scalars(seed, events, days, _us(now), fleet, pools)
    event_columns = _columns(EVENT_TABLE, list(bulk.EVENT_COLUMNS), plants)
    info_columns = _columns(INFO_TABLE, list(bulk.INFO_COLUMNS), plants)
    planted_events = plants.rows.get(EVENT_TABLE, [])
    total = events + len(planted_events)

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
            bulk.setup_db(con, fleet, pools, planted, _duck(event_columns))
            info = _arrow(info_columns, plants.rows.get(INFO_TABLE, []))
            info_rows = _write_device_info(con, tmp, info, info_columns, scalars, days, seed)
            written = _write_events(con, tmp, scalars, event_columns, planted, events, days, now, progress, total)
            other = {
                table: _write_table(con, tmp, table, _arrow(_columns(table, [], plants), plants.rows.get(table, [])))
                for table in sorted(plants.columns)
                if table not in (EVENT_TABLE, INFO_TABLE)
            }
        finally:
            con.close()
        shutil.rmtree(tmp / ".spill", ignore_errors=True)
        if written != total:
            raise RuntimeError(f"wrote {written} network events, expected {total}")
        summary = FleetSummary(
            out=out,
            device_info_rows=info_rows,
            network_event_rows=written,
            servers=servers,
            workstations=workstations,
            planted=plants.cases,
            planted_event_rows=len(planted_events),
            planted_devices=plants.devices,
            rules=planting_rules,
            left_out=plants.left_out,
            other_tables=other,
        )
        (tmp / MARKER).write_text(json.dumps(_manifest(summary, events, days, now, seed, requested), indent=2) + "\n")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _manifest(summary: FleetSummary, events: int, days: int, now: datetime, seed: int, rules: list | None) -> dict:
    return {
        "generator": "detector.generate",
        "arguments": {
            "servers": summary.servers,
            "workstations": summary.workstations,
            "events": events,
            "days": days,
            "now": now.isoformat(),
            "seed": seed,
            "rules": rules,
        },
        "device_info_rows": summary.device_info_rows,
        "network_event_rows": summary.network_event_rows,
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


def _write_events(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    scalars: dict,
    columns: dict[str, str],
    planted: dict[str, list],
    events: int,
    days: int,
    now: datetime,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> int:
    """One COPY per UTC day, several days at a time (one DuckDB connection and thread each)."""
    target = folder / EVENT_TABLE
    target.mkdir()
    now_us, m = scalars["now_us"], scalars["m"]
    planted_ts = [_us(t) for t in planted["Timestamp"]]
    planted_pos = [_first_g_at_or_after(t, events, now_us, m) for t in planted_ts]  # goes before bulk row pos
    duck = _duck(columns)
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
        jobs.append((path, g0, g1, [(planted_pos[i], -(i + 1)) for i in range(p0, p1)]))
        day += timedelta(days=1)

    def run(cur: duckdb.DuckDBPyConnection, path: Path, g0: int, g1: int, planted_keys: list[tuple[int, int]]) -> int:
        with cur:
            cur.execute("SET TimeZone = 'UTC'")
            _fill_keys(cur, g0, g1, planted_keys)
            sql = f"COPY ({bulk.events_sql(duck, bool(planted_keys))}) TO {_quote(path)} ({_copy_options()})"
            (rows,) = cur.execute(sql, scalars).fetchone()
            cur.execute("DROP TABLE keys")
        if rows != (g1 - g0) + len(planted_keys):
            raise RuntimeError(f"{path}: wrote {rows} rows, expected {(g1 - g0) + len(planted_keys)}")
        return rows

    written = 0
    jobs.sort(key=lambda j: -(j[2] - j[1]))  # largest days first keeps the workers busy until the end
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), _cpu_count()))) as pool:
        # one connection per job, made here: a connection must not be shared between threads
        futures = [pool.submit(run, con.cursor(), *job) for job in jobs]
        for future in as_completed(futures):
            written += future.result()
            if progress is not None:
                progress(written, total)
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
