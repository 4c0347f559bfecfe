"""Benchmark the rule against two reference points measured in the same run on the same files.

    python bench/bench.py 10M            # or 1M, 100M; `make bench SIZE=10M`

- floor:    one DuckDB query reading every column the rule reads, from both tables, once
- straight: the rule as the KQL is written (every let and the lookup re-read the tables): `--plan straight`
- fast:     the optimised chain `detector run` uses (the same answers: tests/test_plans.py)
- fast, --memory-limit 1GB: the same under a memory cap (DuckDB spills to disk)

Each step runs in its own process; wall and CPU time and peak RSS are the child's own. The fleet is generated
once per size under bench/data/ (5,000 devices of which 1,000 servers; events scale, the fleet does not), and the
figures are printed and appended to bench/results.md with the machine and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

HERE = Path(__file__).parent
NOW = "2026-11-20T12:00:00Z"
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}


def generate(size: str, data: Path) -> float:
    if (data / "_fleet.json").is_file():
        return 0.0
    from detector.generate import generate_fleet

    start = time.perf_counter()
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    generate_fleet(data, servers=1000, workstations=4000, events=SIZES[size], now=now)
    return time.perf_counter() - start


def measure(step: str, data: Path, *extra: str) -> dict:
    """Run one step in a child process; its own wall, CPU and peak RSS come from wait4()."""
    cmd = [sys.executable, str(HERE / "measure.py"), step, str(data), NOW, *extra]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if code:
        raise SystemExit(f"{step} failed with exit code {code}")
    result = json.loads(text.strip().splitlines()[-1])
    result.update(process_wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, peak_rss_mb=usage.ru_maxrss / 1024)
    return result


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
    args = ap.parse_args()
    data = args.data or HERE / "data" / args.size
    events = SIZES[args.size]
    gen_s = generate(args.size, data)
    if gen_s:
        print(f"generated {events:,} events in {gen_s:.1f} s ({events / gen_s / 1e6:.2f} M events/s)", flush=True)

    rows = []
    steps = [("floor", ()), ("fast", ()), ("fast", ("--memory-limit", "1GB"))]
    if not args.skip_straight:
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
    floor = rows[0]["wall_s"]
    lines = [
        f"\n## {args.size} events ({events:,}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {_machine()}. Fleet: 5,000 devices (1,000 servers), 14 days, `bench/data/{args.size}`.",
        "",
        "| step | query wall (s) | x floor | process wall (s) | CPU (s) | peak RSS (MB) | M events/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['wall_s']:.2f} | {r['wall_s'] / floor:.2f} | {r['process_wall_s']:.2f} | "
            f"{r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | {events / r['wall_s'] / 1e6:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    results = HERE / "results.md"
    if not results.exists():
        results.write_text("# Benchmark results\n\nWritten by `bench/bench.py` (`make bench SIZE=...`); newest last.\n")
    with results.open("a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
