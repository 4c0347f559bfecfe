"""The seed rule on a Spark standalone cluster, next to local Spark and DuckDB, on the same files.

    python bench/spark_cluster.py 10M            # or 1M, 100M; `make bench SIZE=10M` runs it after bench.py

A master and two workers (1 core each; executors of Spark's default 1 GB) are started on loopback from PySpark's
own launcher (tests/spark_cluster.py), and stopped at the end whatever happens. Then, RUNS times each, as whole
processes (Python, the driver JVM and, on the cluster, the executors' start-up included):

- duckdb:          detector run SEED --data DIR --now NOW --format jsonl -o FILE
- spark local[2]:  the same with --engine spark
- spark cluster:   the same with --engine spark --spark-master spark://127.0.0.1:PORT

The median wall time of each is reported, with every run's and the ratio to DuckDB's median; every run's output
must be DuckDB's, byte for byte (else the script stops). The fleet is the one bench/bench.py uses, under
bench/data/SIZE (the same `detector generate` arguments: either script reuses the other's folder), generated when
missing. The figures are printed and appended to bench/results.md with the machine and versions. Spark runs with
its own settings (this script sets no JVM or Spark option of its own, unlike the tests).

On one machine the cluster has the same cores as local mode, plus two worker JVMs and shuffles over loopback: the
figures show what the cluster costs here, not what more machines would gain.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NOW = "2026-11-20T12:00:00Z"
SEED = "supply_chain_network_connections"
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
# The fleet bench/bench.py generates for a size (its SERVERS, WORKSTATIONS, FILE_SHARE and seed).
SERVERS, WORKSTATIONS, FILE_SHARE, SEED_VALUE = 1000, 4000, 5, 7
RUNS = 3
WORKERS, WORKER_CORES, WORKER_MEMORY = 2, 1, "1g"
TIMEOUT = 3600  # seconds, one run


def _cluster_helper():
    """tests/spark_cluster.py (this file has the same name, so it is loaded by path)."""
    spec = importlib.util.spec_from_file_location("detector_tests_spark_cluster", ROOT / "tests" / "spark_cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def detector_command() -> list[str]:
    script = Path(sys.executable).with_name("detector")
    return [str(script)] if script.exists() else [sys.executable, "-m", "detector.cli"]


def ensure_fleet(size: str, data: Path, helper) -> str:
    """Reuse `data` when it holds this many events, else generate it (bench.py's arguments); what was done."""
    events = SIZES[size]
    marker = data / "_fleet.json"
    if marker.is_file() and json.loads(marker.read_text()).get("arguments", {}).get("events") == events:
        return "reused"
    args = ["generate", "--out", str(data), "--servers", str(SERVERS), "--workstations", str(WORKSTATIONS)]
    args += ["--events", str(events), "--file-events", str(events // FILE_SHARE), "--now", NOW]
    args += ["--seed", str(SEED_VALUE)]
    start = time.perf_counter()
    code, _, err = helper.run_process([*detector_command(), *args], env=dict(os.environ), timeout=TIMEOUT)
    if code:
        raise SystemExit(f"generating the fleet failed ({code}): {err.strip().splitlines()[-1:]}")
    return f"generated in {time.perf_counter() - start:.0f} s"


def run_once(extra: list[str], data: Path, env: dict, helper) -> tuple[float, bytes]:
    """One whole `detector run` process: its wall time and its output file."""
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        out = Path(tmp) / "alerts.jsonl"
        command = [*detector_command(), "run", SEED, "--data", str(data), "--now", NOW, "--format", "jsonl"]
        command += ["-o", str(out), *extra]
        start = time.perf_counter()
        code, _, err = helper.run_process(command, env=env, timeout=TIMEOUT)
        wall = time.perf_counter() - start
        if code:
            raise SystemExit(f"{' '.join(extra) or 'duckdb'}: exit code {code}: {err.strip()[-2000:]}")
        return wall, out.read_bytes()


def machine(helper) -> str:
    import duckdb
    import pyspark

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    java = helper.java_binary()
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.machine()}, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, PySpark {pyspark.__version__}, Java {helper.java_version(java)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("size", choices=SIZES, nargs="?", default="10M")
    ap.add_argument("--data", type=Path, help="the fleet folder (default: bench/data/SIZE)")
    ap.add_argument("--runs", type=int, default=RUNS)
    ap.add_argument("--results", type=Path, default=HERE / "results.md")
    args = ap.parse_args()
    helper = _cluster_helper()
    reason = helper.unavailable()
    if reason:
        raise SystemExit(f"bench/spark_cluster.py: {reason}")
    data = (args.data or HERE / "data" / args.size).resolve()
    fleet = ensure_fleet(args.size, data, helper)
    print(f"fleet {data} ({fleet})", flush=True)
    env = helper.driver_env()  # Spark's own JVM options: none of the tests' start-up shortcuts
    load = os.getloadavg()[0]  # other work on the machine shows in the spread between runs

    with tempfile.TemporaryDirectory(prefix="bench-spark-cluster-") as tmp:
        start = time.perf_counter()
        cluster = helper.Cluster.start(Path(tmp), workers=WORKERS, cores=WORKER_CORES, memory=WORKER_MEMORY)
        started = time.perf_counter() - start
        try:
            print(f"cluster {cluster.url}: {WORKERS} workers up in {started:.1f} s", flush=True)
            engines = {
                "duckdb": [],
                "spark local[2]": ["--engine", "spark"],
                f"spark cluster ({WORKERS} workers x {WORKER_CORES} core)": [
                    "--engine", "spark", "--spark-master", cluster.url,
                ],
            }  # fmt: skip
            walls: dict[str, list[float]] = {name: [] for name in engines}
            reference = None
            for run in range(args.runs):  # interleaved, so that a slow spell of the machine hits every engine
                for name, extra in engines.items():
                    wall, output = run_once(extra, data, env, helper)
                    reference = output if reference is None else reference
                    if output != reference:
                        raise SystemExit(f"{name}: the output differs from DuckDB's (run {run + 1})")
                    walls[name].append(wall)
                    print(f"  run {run + 1} {name}: {wall:.2f} s", flush=True)
        finally:
            cluster.stop()

    alerts = reference.count(b"\n")
    duck = statistics.median(walls["duckdb"])
    rows = [
        f"| {name} | {statistics.median(w):.2f} | {', '.join(f'{x:.2f}' for x in w)} | "
        f"{statistics.median(w) / duck:.1f} |"
        for name, w in walls.items()
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    fleet_args = json.loads((data / "_fleet.json").read_text()).get("arguments", {})
    rel = data.relative_to(ROOT) if data.is_relative_to(ROOT) else data
    text = "\n".join(
        [
            f"## Spark cluster: {args.size} events ({SIZES[args.size]:,}), {stamp}",
            "",
            f"Written by `bench/spark_cluster.py`. Machine: {machine(helper)}. Fleet: "
            f"{fleet_args.get('servers', 0) + fleet_args.get('workstations', 0):,} devices "
            f"({fleet_args.get('servers', 0):,} servers), `{rel}`. Rule: {SEED}, {alerts} alerts, the same bytes "
            f"from every engine. Cluster: a standalone master and {WORKERS} workers ({WORKER_CORES} core, "
            f"{WORKER_MEMORY} each; Spark's default 1 GB executors) on this machine, over loopback, up in "
            f"{started:.0f} s (not counted). Whole `detector run` processes, median of {args.runs}; load average "
            f"{load:.1f} before the first run.",
            "",
            "| engine | median wall (s) | runs (s) | x DuckDB |",
            "|---|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print()
    print(text)
    with open(args.results, "a", encoding="utf-8") as fh:
        fh.write("\n" + text)
    print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
