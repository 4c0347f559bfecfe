"""Scheduled runs and one-shot start-up (issue: "Scheduled runs read only what is new").

    python bench/schedule.py 10M            # or 1M, 100M; `make bench SIZE=...` runs it after bench.py

Prints, and appends to bench/results.md, whole processes, medians:

1. one-shot: `detector run SEED --data data/sample` (after one run that fills the caches) against
   `python -c "import duckdb"`, median of 5 each;
2. the seed rule, stateless, against the floor (one read of every column it reads: sum(strlen()) of strings,
   min()/sum() of the others; bench/measure.py `rule-floor`) and the old floor (max() per column, `floor`),
   median of 3, with the run's peak RSS;
3. a schedule: the fleet without its newest day is run once with `--state` (now a day earlier), then the day
   arrives and `now` moves a day: the second stateful run against the stateless run on the same data and the
   floor; their outputs must be identical (the run stops otherwise).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench  # noqa: E402

ROOT = bench.HERE.parent
ONE_SHOT_RUNS, RUNS = 5, 3


def one_shot() -> tuple[float, float]:
    """Median wall of `detector run` on data/sample and of `python -c "import duckdb"` (whole processes)."""
    runs = [bench.run_cli(bench.SEED, ROOT / "data" / "sample", {}) for _ in range(ONE_SHOT_RUNS + 1)][1:]
    imports = [bench._child([sys.executable, "-c", "import duckdb"])[3] for _ in range(ONE_SHOT_RUNS)]
    return statistics.median(r["process_wall_s"] for r in runs), statistics.median(imports)


def floors(data: Path) -> tuple[float, float]:
    new = [bench.measure("rule-floor", data)["process_wall_s"] for _ in range(RUNS)]
    old = [bench.measure("floor", data)["process_wall_s"] for _ in range(RUNS)]
    return statistics.median(new), statistics.median(old)


def lake_without_last_day(data: Path, lake: Path) -> tuple[Path, Path]:
    """A copy of the fleet (hard links) without its newest DeviceNetworkEvents day; that day's folder, set aside."""
    for table in ("DeviceInfo", "DeviceNetworkEvents"):
        shutil.copytree(data / table, lake / table, copy_function=os.link)
    newest = sorted((lake / "DeviceNetworkEvents").glob("date=*"))[-1]
    aside = lake.parent / newest.name
    newest.rename(aside)
    return aside, lake / "DeviceNetworkEvents" / newest.name


def schedule(data: Path, work: Path) -> dict:
    lake = work / "lake"
    aside, back = lake_without_last_day(data, lake)
    state = work / "state"
    earlier = (datetime.fromisoformat(bench.NOW.replace("Z", "+00:00")) - timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    first = bench.run_cli(bench.SEED, lake, {}, "--state", str(state), now=earlier)
    aside.rename(back)
    second = bench.run_cli(bench.SEED, lake, {}, "--state", str(state), keep=work / "stateful.jsonl")
    stateless = [bench.run_cli(bench.SEED, lake, {}, keep=work / "stateless.jsonl") for _ in range(RUNS)]
    if (work / "stateful.jsonl").read_bytes() != (work / "stateless.jsonl").read_bytes():
        raise SystemExit("the stateful run's records differ from the stateless run's: stopping")
    return {
        "first_s": first["process_wall_s"],
        "second_s": second["process_wall_s"],
        "second_rss_mb": second["peak_rss_mb"],
        "stateless_s": statistics.median(r["process_wall_s"] for r in stateless),
        "stateless_rss_mb": max(r["peak_rss_mb"] for r in stateless),
        "records": second["rows"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("size", choices=sorted(bench.SIZES))
    ap.add_argument("--data", type=Path, help="fleet folder (default bench/data/SIZE)")
    args = ap.parse_args()
    data = args.data or bench.HERE / "data" / args.size
    bench.generate(args.size, data)
    shot, duck = one_shot()
    print(f"one-shot detector run on data/sample: {shot:.2f} s (python -c 'import duckdb': {duck:.2f} s)", flush=True)
    floor, old_floor = floors(data)
    print(f"floor {floor:.2f} s, old floor (max) {old_floor:.2f} s", flush=True)
    with tempfile.TemporaryDirectory(dir=data.parent) as tmp:  # beside the fleet: hard links
        s = schedule(data, Path(tmp))
    lines = [
        f"\n## Scheduled runs, {args.size} events ({bench.SIZES[args.size]:,}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Written by `bench/schedule.py`. Machine: {bench._machine()}. Whole processes; medians of "
        f"{RUNS} (one-shot: {ONE_SHOT_RUNS}). Rule: {bench.SEED}, {s['records']:,} records, the same bytes stateful "
        "and stateless.",
        "",
        "| measure | wall (s) | x floor | note |",
        "|---|---:|---:|---|",
        f'| one-shot `detector run` on data/sample | {shot:.2f} | | `python -c "import duckdb"`: {duck:.2f} s |',
        f"| floor: sum(strlen()) / min / sum of every column read | {floor:.2f} | 1.00 | |",
        f"| old floor: max() of every column read | {old_floor:.2f} | {old_floor / floor:.2f} | |",
        f"| stateless `detector run` | {s['stateless_s']:.2f} | {s['stateless_s'] / floor:.2f} | peak RSS "
        f"{s['stateless_rss_mb']:.0f} MB |",
        f"| first stateful run (now - 1 day, newest day absent) | {s['first_s']:.2f} | {s['first_s'] / floor:.2f} | "
        "summarizes every file |",
        f"| second stateful run (the day arrived, now + 1 day) | {s['second_s']:.2f} | {s['second_s'] / floor:.2f} | "
        f"{s['second_s'] / s['stateless_s']:.2f} x stateless; peak RSS {s['second_rss_mb']:.0f} MB |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    with (bench.HERE / "results.md").open("a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
