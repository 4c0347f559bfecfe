"""Benchmark the rules against reference points measured in the same run on the same files.

    python bench/bench.py 10M            # or 1M, 100M; `make bench SIZE=10M`

The seed rule (SEED), as it always was:

- floor:    one DuckDB query reading every column the rule reads, from both tables, once
- straight: the rule as the KQL is written (every let and the lookup re-read the tables): `--plan straight`
- fast:     the optimised chain `detector run` uses (the same answers: tests/test_plans.py)
- fast, --memory-limit 1GB: the same under a memory cap (DuckDB spills to disk)

Then every installed rule (detector.rule.load_all(), the seed too), each against its own floor:

- floor: one DuckDB read of every column the rule reads (rule.toml's columns of each table: sum(strlen()) of a
  string, min() or sum() of another type), through the same views `detector run` reads (measure.floor_sql)
- run:   `detector run RULE --data DIR --now NOW --format jsonl -o FILE`, the whole process (the console script's
  two lines, run as `python -c` so that it can report its peak RSS)
- query: the rule's query alone, in its session (what `run` spends past start-up, parameters and output)

Each is run RUNS times; the median wall time and the largest peak RSS are reported, and `x floor` is run / floor
(whole processes: both pay Python's and DuckDB's start-up) and query / floor query. A rule whose parameters have
no default gets its values from RULE_PARAMS (with SEED, the only places bench/ names a rule); one that still
lacks a value, or reads a table the fleet does not have, is reported as skipped.

Each step runs in its own process; wall and CPU time (wait4()) and peak RSS (the process's VmHWM: a child's
ru_maxrss would count this process's memory at fork) are the child's own. The fleet is generated
once per size under bench/data/ (5,000 devices of which 1,000 servers; network events scale, the fleet does not;
DeviceFileEvents are 1/FILE_SHARE of the network events), and the figures are printed and appended to
bench/results.md with the machine and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

HERE = Path(__file__).parent
NOW = "2026-11-20T12:00:00Z"
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
FILE_SHARE = 5  # DeviceFileEvents rows: 1/5 of the DeviceNetworkEvents rows
SERVERS, WORKSTATIONS, SEED_VALUE = 1000, 4000, 7  # the bench fleet (generate_fleet's default seed)
RUNS = 3
SEED = "supply_chain_network_connections"  # the seed rule: its plans are measured too


def _fleet_servers(count: int) -> list[str]:
    """The first `count` server DeviceNames of the bench fleet, in the fleet's order."""
    from detector.fleet.bulk import build_fleet

    return build_fleet(SERVERS, WORKSTATIONS, SEED_VALUE).dev_name[: min(count, SERVERS)]


# Values for rule parameters that have no default, by rule slug.
RULE_PARAMS: dict[str, Callable[[], dict]] = {
    "server_network_connection_anomalies": lambda: {"servers": _fleet_servers(50)},
}


def generate(size: str, data: Path) -> float:
    """Generate the fleet of `size` under `data` unless it is already there with these counts; in a child
    process, so that this one stays small (a child's ru_maxrss counts its parent's memory at fork)."""
    events, file_events = SIZES[size], SIZES[size] // FILE_SHARE
    marker = data / "_fleet.json"
    if marker.is_file():
        arguments = json.loads(marker.read_text()).get("arguments", {})
        if (arguments.get("events"), arguments.get("file_events")) == (events, file_events):
            return 0.0
    code, _, err, wall, _ = _child([sys.executable, __file__, size, "--data", str(data), "--generate-only"])
    if code:
        raise SystemExit(f"generating the fleet failed with exit code {code}: {_last_line(err)}")
    return wall


def _generate_here(size: str, data: Path) -> None:
    from detector.generate import generate_fleet

    events = SIZES[size]
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    generate_fleet(
        data,
        servers=SERVERS,
        workstations=WORKSTATIONS,
        events=events,
        file_events=events // FILE_SHARE,
        now=now,
        seed=SEED_VALUE,
    )


def _child(cmd: list[str], env: dict | None = None) -> tuple[int, str, str, float, object]:
    """Run `cmd`; its exit code, stdout, stderr, wall time, and its own rusage (from wait4())."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return os.waitstatus_to_exitcode(status), out.read(), err.read(), wall, usage


def measure(step: str, data: Path, *extra: str, rule: str = SEED, params: dict | None = None) -> dict:
    """Run one step of measure.py in a child process: its own wall and CPU time (wait4()) and peak RSS."""
    cmd = [sys.executable, str(HERE / "measure.py"), step, str(data), NOW, "--rule", rule, *extra]
    if params:
        cmd += ["--params", json.dumps(params)]
    code, text, err, wall, usage = _child(cmd)
    if code:
        raise RuntimeError(f"{step} {rule} failed with exit code {code}: {_last_line(err)}")
    result = json.loads(text.strip().splitlines()[-1])
    result.update(process_wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime)
    if result.get("peak_rss_mb") is None:  # not Linux: rusage (which counts this process's memory at fork too)
        result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


# `detector` as its console script runs it, writing the process's own peak RSS (VmHWM) to $BENCH_PEAK at exit.
_DETECTOR = """
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as fh, open(os.environ["BENCH_PEAK"], "w") as out:
        out.write(next(line for line in fh if line.startswith("VmHWM:")).split()[1])
if os.path.exists("/proc/self/status"):
    atexit.register(_peak)
from detector.cli import main
sys.argv[0] = "detector"
sys.exit(main())
"""


def run_cli(rule: str, data: Path, params: dict, *extra: str, now: str = NOW, keep: Path | None = None) -> dict:
    """`detector run RULE` as a user runs it, output to a file (copied to `keep`); the whole process."""
    with tempfile.TemporaryDirectory() as tmp:
        output, peak = Path(tmp) / "records.jsonl", Path(tmp) / "peak"
        cmd = [sys.executable, "-c", _DETECTOR, "run", rule, "--data", str(data), "--now", now, *extra]
        cmd += ["--format", "jsonl", "--output", str(output)]
        for name, value in params.items():
            if isinstance(value, list | tuple):
                listed = Path(tmp) / f"{name}.txt"
                listed.write_text("".join(f"{v}\n" for v in value))
                value = f"@{listed}"
            cmd += ["--param", f"{name}={value}"]
        code, _, err, wall, usage = _child(cmd, env={**os.environ, "BENCH_PEAK": str(peak)})
        if code:
            raise RuntimeError(f"detector run {rule} failed with exit code {code}: {_last_line(err)}")
        records = sum(1 for _ in output.open()) if output.is_file() else 0
        rss = int(peak.read_text()) / 1024 if peak.is_file() else usage.ru_maxrss / 1024
        if keep is not None and output.is_file():
            keep.write_bytes(output.read_bytes())
    return {"process_wall_s": wall, "peak_rss_mb": rss, "rows": records}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def measure_rules(data: Path) -> tuple[list[dict], list[str]]:
    """Every installed rule against its own floor: RUNS times each, medians; and why rules were skipped."""
    from detector.rule import load_all

    rules, broken = load_all()
    skipped = [f"{slug}: does not load ({why})" for slug, why in sorted(broken.items())]
    rows = []
    for slug, rule in sorted(rules.items()):
        params = RULE_PARAMS[slug]() if slug in RULE_PARAMS else {}
        missing = [name for name, p in rule.params.items() if p.required and name not in params]
        if missing:
            skipped.append(f"{slug}: no value for {', '.join(missing)} (add it to RULE_PARAMS in bench/bench.py)")
            continue
        absent = [t for t in rule.tables if not (data / t).is_dir() and not (data / f"{t}.parquet").is_file()]
        if absent:
            skipped.append(f"{slug}: the fleet has no {', '.join(absent)}")
            continue
        try:
            floors = [measure("rule-floor", data, rule=slug, params=params) for _ in range(RUNS)]
            runs = [run_cli(slug, data, params) for _ in range(RUNS)]
            queries = [measure("rule", data, rule=slug, params=params) for _ in range(RUNS)]
        except RuntimeError as exc:
            skipped.append(f"{slug}: {exc}")
            continue
        row = {
            "rule": slug,
            "floor_s": _median(floors, "process_wall_s"),
            "floor_query_s": _median(floors, "wall_s"),
            "run_s": _median(runs, "process_wall_s"),
            "query_s": _median(queries, "wall_s"),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "floor_rss_mb": max(r["peak_rss_mb"] for r in floors),
            "records": runs[0]["rows"],
            "tables": ", ".join(rule.tables),
        }
        row["ratio"] = row["run_s"] / row["floor_s"]
        row["query_ratio"] = row["query_s"] / row["floor_query_s"]
        rows.append(row)
        print(
            f"{slug:<38} floor {row['floor_s']:6.2f} s  run {row['run_s']:6.2f} s  x floor {row['ratio']:5.2f}"
            f"  (query {row['query_s']:6.2f} s / floor query {row['floor_query_s']:6.2f} s = "
            f"{row['query_ratio']:5.2f})  peak RSS {row['peak_rss_mb']:6.0f} MB  {row['records']:,} records",
            flush=True,
        )
    return rows, skipped


def _machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.machine()}, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("size", choices=sorted(SIZES), help="number of DeviceNetworkEvents rows")
    ap.add_argument("--data", type=Path, help="fleet folder (default bench/data/SIZE)")
    ap.add_argument("--skip-straight", action="store_true", help="leave out the straight translation (slow)")
    ap.add_argument("--skip-seed", action="store_true", help="leave out the seed rule's plans (floor, straight, fast)")
    ap.add_argument("--skip-rules", action="store_true", help="leave out the per-rule measurements")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)  # generate()'s child
    args = ap.parse_args()
    data = args.data or HERE / "data" / args.size
    if args.generate_only:
        _generate_here(args.size, data)
        return
    events = SIZES[args.size]
    file_events = events // FILE_SHARE
    gen_s = generate(args.size, data)
    if gen_s:
        print(
            f"generated {events:,} network and {file_events:,} file events in {gen_s:.1f} s "
            f"({(events + file_events) / gen_s / 1e6:.2f} M events/s)",
            flush=True,
        )

    rows = []
    steps = [] if args.skip_seed else [("floor", ()), ("fast", ()), ("fast", ("--memory-limit", "1GB"))]
    if steps and not args.skip_straight:
        steps.insert(1, ("straight", ()))
    for step, extra in steps:
        r = measure(step, data, *extra)
        r["label"] = step + (" --memory-limit 1GB" if extra else "")
        rows.append(r)
        print(
            f"{r['label']:<28} query {r['wall_s']:7.2f} s  process {r['process_wall_s']:7.2f} s"
            f"  cpu {r['cpu_s']:7.2f} s  peak RSS {r['peak_rss_mb']:7.0f} MB"
            f"  {events / r['wall_s'] / 1e6:6.2f} M events/s",
            flush=True,
        )
    rule_rows, skipped = ([], []) if args.skip_rules else measure_rules(data)
    for reason in skipped:
        print(f"skipped {reason}", flush=True)

    lines = [
        f"\n## {args.size} events ({events:,}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {_machine()}. Fleet: 5,000 devices (1,000 servers), 14 days, {events:,} DeviceNetworkEvents "
        f"and {file_events:,} DeviceFileEvents, `bench/data/{args.size}`.",
    ]
    if rows:
        floor = rows[0]["wall_s"]
        lines += [
            "",
            f"Seed rule ({SEED}):",
            "",
            "| step | query wall (s) | x floor | process wall (s) | CPU (s) | peak RSS (MB) | M events/s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['label']} | {r['wall_s']:.2f} | {r['wall_s'] / floor:.2f} | {r['process_wall_s']:.2f} | "
                f"{r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {events / r['wall_s'] / 1e6:.2f} |"
            )
    if rule_rows:
        lines += [
            "",
            f"Every installed rule against its own floor (median of {RUNS}; floor and run are whole processes, "
            "query and floor query the queries alone):",
            "",
            "| rule | tables | floor (s) | run (s) | x floor | floor query (s) | query (s) | x floor query | "
            "peak RSS (MB) | records |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rule_rows:
            lines.append(
                f"| {r['rule']} | {r['tables']} | {r['floor_s']:.2f} | {r['run_s']:.2f} | {r['ratio']:.2f} | "
                f"{r['floor_query_s']:.2f} | {r['query_s']:.2f} | {r['query_ratio']:.2f} | {r['peak_rss_mb']:.0f} | "
                f"{r['records']:,} |"
            )
    if skipped:
        lines += ["", *(f"Skipped {reason}." for reason in skipped)]
    text = "\n".join(lines) + "\n"
    print(text)
    results = HERE / "results.md"
    if not results.exists():
        results.write_text("# Benchmark results\n\nWritten by `bench/bench.py` (`make bench SIZE=...`); newest last.\n")
    with results.open("a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
