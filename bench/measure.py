"""One measured step of the benchmark, run in its own process so that its peak RSS is its own.

    python bench/measure.py floor|straight|fast DATA NOW [--threads N] [--memory-limit X]

Prints one JSON line: {"step", "wall_s", "rows"}; the parent reads CPU time and peak RSS from the child's rusage.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from detector import api

SEED = "supply_chain_network_connections"

# The floor: one query that reads every column the rule reads from both tables once (an aggregate per column).
FLOOR = """
SELECT
  (SELECT [count(*)::VARCHAR, max("Timestamp")::VARCHAR, max(DeviceName), max(DeviceType), max(OSPlatform)]
   FROM "DeviceInfo"),
  (SELECT [count(*)::VARCHAR, max("Timestamp")::VARCHAR, max(DeviceId), max(DeviceName), max(ActionType),
           max(RemoteIP), max(RemotePort)::VARCHAR, max(RemoteUrl), max(RemoteIPType),
           max(InitiatingProcessVersionInfoCompanyName)]
   FROM "DeviceNetworkEvents")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["floor", "straight", "fast"])
    ap.add_argument("data", type=Path)
    ap.add_argument("now")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--memory-limit")
    args = ap.parse_args()
    with api.session(SEED, data=args.data, now=args.now, threads=args.threads, memory_limit=args.memory_limit) as s:
        start = time.perf_counter()
        rows = (s.engine.execute(FLOOR) if args.step == "floor" else s.execute(plan=args.step)).num_rows
    print(json.dumps({"step": args.step, "wall_s": time.perf_counter() - start, "rows": rows}))


if __name__ == "__main__":
    main()
