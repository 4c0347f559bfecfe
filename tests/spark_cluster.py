"""A Spark standalone cluster on loopback (a master and workers), started from PySpark's own launcher: no download.

    cluster = Cluster.start(folder, workers=2)   # returns once every worker has registered with the master
    cluster.url                                   # spark://127.0.0.1:PORT, for `detector run --spark-master`
    cluster.stop()                                # always: kills each daemon's process group (executors too)

Every daemon is `$SPARK_HOME/bin/spark-class org.apache.spark.deploy.{master.Master,worker.Worker}` with SPARK_HOME
the pyspark package folder (PySpark's find_spark_home), so it runs the jars and the Java (JAVA_HOME, else `java` on
PATH) that the driver runs, with the JVM options Spark's launcher gives every daemon, plus -Duser.timezone=UTC
(executors get theirs from detector's session). Everything binds 127.0.0.1 only (SPARK_LOCAL_IP; drivers started
with `driver_env()` too). A daemon's output is in FOLDER/<name>.log, an executor's under FOLDER/work-N/. Daemons and
drivers started here get SIGTERM if the process that started them dies (Linux), so a killed test run leaves none.
`jvm_options` (the tests' faster JIT and GC) go to the daemons (SPARK_DAEMON_JAVA_OPTS) and, through `driver_env`,
to the driver and the executors (spark.{driver,executor}.defaultJavaOptions, before detector's own options).

This file is also the driver of a batch of rule runs on a cluster, in one process (a Spark driver costs seconds
to start, and its first queries more):

    python tests/spark_cluster.py MASTER_URL JOBS.json [--threads N] [--executors N]

JOBS.json: [{"id", "rule", "data", "now", "params", "flat", "small"}, ...] (small: SMALL_DATA's physical settings,
for tiny inputs; else the engine's own). The first line printed is {"probe": ...}: the Java version, time zone and
executor id of the JVMs that computed a few rows (the executors, not the driver), and the driver's Java version and
time zone; then one line per job, {"id", "lines": [the records as `detector run --format jsonl` prints them]} or
{"id", "error"}. Each job is api.run_table(engine="spark") on a session of the driver's, on the cluster (two
SparkSessions per thread, one per setting, on one SparkContext).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from engines import SMALL_DATA  # tests/engines.py: physical settings for tiny inputs

UTC_OPTIONS = "-Duser.timezone=UTC"
LOOPBACK = "127.0.0.1"


def spark_home() -> Path:
    """The Spark installation PySpark itself uses (SPARK_HOME, else the pyspark package folder)."""
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def unavailable() -> str | None:
    """Why a cluster cannot start here (no PySpark, no Java 17+, no bash for spark-class), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed: pip install 'kql-detector[spark]'"
    java = java_binary()
    if java is None:
        return "a Spark cluster needs Java 17 or newer: no `java` on PATH and no JAVA_HOME"
    version = java_version(java)
    if version is None or version < 17:
        return f"a Spark cluster needs Java 17 or newer; {java} is {version or 'unknown'}"
    if not Path("/bin/bash").exists() or not (spark_home() / "bin" / "spark-class").exists():
        return "spark-class (bash) is not available to start a standalone master and workers"
    return None


def java_binary() -> str | None:
    """The `java` spark-class runs: JAVA_HOME's, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").exists():
        return str(Path(java_home, "bin", "java"))
    from shutil import which

    return which("java")


def java_version(java: str) -> int | None:
    """The feature version (17, 21, ...) of `java`, or None."""
    try:
        out = subprocess.run(
            [java, "-XshowSettings:properties", "-version"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stderr.splitlines():
        if line.strip().startswith("java.specification.version ="):
            value = line.split("=", 1)[1].strip().removeprefix("1.")  # 1.8 is Java 8
            return int(value.split(".")[0]) if value.split(".")[0].isdigit() else None
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def driver_env(*, jvm_options: str = "", driver_options: str = "") -> dict:
    """The environment of a driver process on the cluster: the same Spark (SPARK_HOME) and Java, bound to
    loopback. The driver's and the executors' JVM time zone is set by detector's own session (-Duser.timezone=UTC
    in spark.{driver,executor}.extraJavaOptions); `jvm_options` (both) and `driver_options` (the driver's JVM
    only) go before those (Spark's defaultJavaOptions)."""
    env = dict(os.environ)
    env["SPARK_HOME"] = str(spark_home())
    env["SPARK_LOCAL_IP"] = LOOPBACK
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    sides = {"driver": f"{jvm_options} {driver_options}".strip(), "executor": jvm_options}
    confs = [f"spark.{side}.defaultJavaOptions={options}" for side, options in sides.items() if options]
    if confs:
        env["PYSPARK_SUBMIT_ARGS"] = " ".join(f"--conf {shlex.quote(c)}" for c in confs) + " pyspark-shell"
    return env


@dataclass
class Cluster:
    folder: Path
    url: str  # spark://127.0.0.1:PORT
    web: str  # the master's web UI: http://127.0.0.1:PORT
    workers: int
    jvm_options: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        folder: Path,
        *,
        workers: int = 2,
        cores: int = 1,
        memory: str = "1g",
        jvm_options: str = "",
        timeout: float = 180,
    ) -> Cluster:
        """A master and `workers` workers, each with `cores` cores and `memory` for executors; returns once every
        worker is registered (ALIVE in the master's JSON), else stops everything and raises RuntimeError.
        `jvm_options` go to the daemons' JVMs (with -Duser.timezone=UTC); executors get the driver's."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        port, web_port = free_port(), free_port()
        cluster = cls(folder, f"spark://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{web_port}", workers, jvm_options)
        try:
            master = f"--host {LOOPBACK} --port {port} --webui-port {web_port}"
            cluster._spawn("master", "org.apache.spark.deploy.master.Master", *master.split())
            for n in range(1, workers + 1):
                work = folder / f"work-{n}"
                work.mkdir(exist_ok=True)
                worker = f"--host {LOOPBACK} --port 0 --webui-port 0 --cores {cores} --memory {memory}"
                args = [cluster.url, *worker.split(), "--work-dir", str(work)]
                cluster._spawn(f"worker-{n}", "org.apache.spark.deploy.worker.Worker", *args)
            cluster.wait_for_workers(timeout)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _spawn(self, name: str, main_class: str, *args: str) -> None:
        env = driver_env()
        env["SPARK_DAEMON_JAVA_OPTS"] = f"{UTC_OPTIONS} {self.jvm_options}".strip()  # master and workers
        env["SPARK_DAEMON_MEMORY"] = "512m"
        env["SPARK_CONF_DIR"] = str(self.folder / "conf")  # nothing from a spark-defaults.conf on this machine
        (self.folder / "conf").mkdir(exist_ok=True)
        command = [str(spark_home() / "bin" / "spark-class"), main_class, *args]
        with open(self.folder / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() kills the daemon and the JVMs it started
                preexec_fn=_die_with_parent,
            )

    def state(self) -> dict:
        """The master's JSON UI: workers, aliveworkers, activeapps, completedapps, ..."""
        with urllib.request.urlopen(f"{self.web}/json/", timeout=10) as response:
            return json.load(response)

    def wait_for_workers(self, timeout: float) -> None:
        deadline, state = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{self.logs()}")
            try:
                state = self.state()
            except OSError:  # the master's UI is not up yet
                state = None
            if state and sum(w.get("state") == "ALIVE" for w in state.get("workers", [])) >= self.workers:
                return
            time.sleep(0.5)
        raise RuntimeError(f"{self.workers} workers did not register within {timeout:.0f} s:\n{self.logs()}")

    def logs(self, lines: int = 15) -> str:
        """The end of every daemon's and executor's log, for a failure message."""
        parts = []
        for path in sorted(self.folder.glob("*.log")) + sorted(self.folder.glob("work-*/*/*/stderr")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.relative_to(self.folder)}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self, grace: float = 10) -> None:
        """Stop every daemon and its executors: SIGTERM to each process group, SIGKILL to what is left."""
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            _signal_group(proc, signal.SIGKILL)  # also any executor the worker left behind
            proc.wait()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# prctl(PR_SET_PDEATHSIG, SIGTERM), resolved here: the child, between fork and exec, only makes the call.
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None
_PDEATHSIG = (1, int(signal.SIGTERM))


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies (Linux), so that a killed test
    run leaves no daemon behind (a worker's shutdown hook then stops its executors). Elsewhere, nothing."""
    if _PRCTL is not None:
        _PRCTL(*_PDEATHSIG)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the daemon's pid


def run_process(command: list[str], *, env: dict, timeout: float, cwd: str | None = None) -> tuple[int, str, str]:
    """Run a driver process in its own process group, killed whole (its JVM too) on timeout; code, stdout, stderr."""
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        text=True,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        out, err = proc.communicate()
        raise RuntimeError(f"{command[:3]} did not finish within {timeout:.0f} s; stderr:\n{err[-3000:]}") from None
    finally:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
    return proc.returncode, out, err


# ---- the driver: a batch of runs in one process ----------------------------------------------------------------

# Computed by the JVMs that run the tasks: reflect() is nondeterministic, so Spark never folds it on the driver.
PROBE = r"""
SELECT DISTINCT
  reflect('java.lang.System', 'getProperty', 'java.specification.version') AS java,
  reflect('java.lang.System', 'getProperty', 'user.timezone') AS timezone,
  regexp_extract(reflect('java.lang.System', 'getProperty', 'sun.java.command'), '--executor-id (\\S+)', 1)
    AS executor
FROM (SELECT id, reflect('java.lang.Thread', 'sleep', CAST(500 AS BIGINT)) AS pause FROM range(0, 8, 1, 8))
"""


def probe(spark, executors: int, timeout: float = 120) -> dict:
    """Where the cluster computes: the JVMs that ran a few tasks (each task pauses, so that every executor gets
    some), once `executors` executors have registered; and the driver's own JVM."""
    tracker = spark.sparkContext._jsc.sc()
    deadline = time.monotonic() + timeout
    while tracker.getExecutorMemoryStatus().size() - 1 < executors and time.monotonic() < deadline:  # - the driver
        time.sleep(0.5)
    system = spark.sparkContext._jvm.System
    driver = {"java": system.getProperty("java.specification.version"), "timezone": system.getProperty("user.timezone")}
    return {
        "registered_executors": tracker.getExecutorMemoryStatus().size() - 1,
        "tasks": sorted([r.asDict() for r in spark.sql(PROBE).collect()], key=lambda r: r["executor"]),
        "driver": driver,
    }


def drive(master: str, jobs: list[dict], *, threads: int, executors: int) -> None:
    from detector import api
    from detector.cases import canonical
    from detector.engines import spark as spark_engine
    from detector.errors import DetectorError
    from detector.output import table_records

    spark = spark_engine.session(master)
    print(json.dumps({"probe": probe(spark, executors)}), flush=True)
    local = threading.local()
    lock = threading.Lock()

    def run(job: dict) -> None:
        if not hasattr(local, "sessions"):  # temp views are per session: sessions per thread
            local.sessions = {False: spark.newSession(), True: spark.newSession()}  # the engine's settings; small
            for key, value in SMALL_DATA.items():
                local.sessions[True].conf.set(key, value)
        try:
            table = api.run_table(
                job["rule"],
                data=job["data"],
                now=job["now"],
                params=job.get("params") or {},
                flat=job.get("flat", False),
                engine="spark",
                spark_session=local.sessions[bool(job.get("small"))],
            )
            line = {"id": job["id"], "lines": canonical(table_records(table))}
        except DetectorError as exc:
            line = {"id": job["id"], "error": str(exc)}
        with lock:
            print(json.dumps(line), flush=True)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, jobs))


def main() -> None:
    ap = argparse.ArgumentParser(description="Run a batch of rule runs on a Spark cluster; JSON lines out.")
    ap.add_argument("master")
    ap.add_argument("jobs", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--executors", type=int, default=2, help="wait for this many executors before the probe")
    args = ap.parse_args()
    jobs = json.loads(args.jobs.read_text())
    drive(args.master, jobs, threads=args.threads, executors=args.executors)


if __name__ == "__main__":
    main()
