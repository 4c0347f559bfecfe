"""One measured step of the benchmark, run in its own process so that its peak RSS is its own.

    python bench/measure.py STEP DATA NOW --rule SLUG [--params JSON] [--threads N] [--memory-limit X]

Steps: `floor` (the seed rule's hand-written floor below), `straight` / `fast` (a plan of the rule), `rule-floor`
(one DuckDB read of every column the rule reads, built from rule.toml: `floor_sql`), `rule` (the rule, its default
plan). Every step opens the rule's session (its tables registered as `detector run` registers them) and times the
query alone. Prints one JSON line: {"step", "wall_s", "rows", "peak_rss_mb"} (the process's own peak, VmHWM: a
child's rusage would count its parent's memory at fork); the parent reads CPU time from the child's rusage.
bench.py names the rules; this file names none.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from detector import api, types
from detector.rule import Rule

# The seed rule's floor: one query that reads every column it reads from both tables once (an aggregate per column).
FLOOR = """
SELECT
  (SELECT [count(*)::VARCHAR, max("Timestamp")::VARCHAR, max(DeviceName), max(DeviceType), max(OSPlatform)]
   FROM "DeviceInfo"),
  (SELECT [count(*)::VARCHAR, max("Timestamp")::VARCHAR, max(DeviceId), max(DeviceName), max(ActionType),
           max(RemoteIP), max(RemotePort)::VARCHAR, max(RemoteUrl), max(RemoteIPType),
           max(InitiatingProcessVersionInfoCompanyName)]
   FROM "DeviceNetworkEvents")
"""


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (Linux VmHWM: reset by exec, unlike ru_maxrss), or None."""
    try:
        with open("/proc/self/status") as fh:
            line = next(line for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def floor_sql(rule: Rule, names: dict[str, str]) -> str:
    """One read of every column the rule reads (rule.reads), each table once: sum(strlen()) of a text column, min()
    of a datetime or bool, sum() of a number, so that every value is decoded (max() of a string may skip pages)."""
    selects = []
    for table, columns in rule.reads.items():
        aggregates = ["count(*)"]
        for column in columns:
            kusto, quoted = rule.tables[table][column], _quote(column)
            if kusto in types.TEXT_TYPES:
                aggregates.append(f"sum(strlen({quoted}))")
            elif kusto in ("datetime", "bool", "timespan"):
                aggregates.append(f"min({quoted})")
            else:
                aggregates.append(f"sum({quoted})")
        listed = ", ".join(f"({a})::VARCHAR" for a in aggregates)
        selects.append(f"(SELECT [{listed}] FROM {names[table]}) AS {_quote(table)}")  # names: SQL identifiers
    return "SELECT " + ", ".join(selects)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["floor", "straight", "fast", "rule-floor", "rule"])
    ap.add_argument("data", type=Path)
    ap.add_argument("now")
    ap.add_argument("--rule", required=True)
    ap.add_argument("--params", default="{}", help="rule parameters as a JSON object")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--memory-limit")
    args = ap.parse_args()
    params = json.loads(args.params)
    options = {"threads": args.threads, "memory_limit": args.memory_limit}
    with api.session(args.rule, data=args.data, now=args.now, params=params, **options) as s:
        if args.step == "floor":
            sql = FLOOR
        elif args.step == "rule-floor":
            sql = floor_sql(s.rule, s.names)
        else:
            sql = None
        start = time.perf_counter()
        if sql is not None:
            rows = s.engine.execute(sql).num_rows
        else:
            rows = s.execute(plan=None if args.step == "rule" else args.step).num_rows
    wall = time.perf_counter() - start
    print(json.dumps({"step": args.step, "wall_s": wall, "rows": rows, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
