"""`detector run --engine spark --spark-master spark://...` on a real Spark standalone cluster: DuckDB's bytes.

A master and two workers (1 core, 1 GB each) run on loopback from PySpark's own launcher (tests/spark_cluster.py),
for this module only, and are stopped after it (a finalizer kills their process groups, executors included, pass
or fail). On them:

- the CLI, as a user runs it (a subprocess: the pytest process may hold a local-mode session, and PySpark keeps one
  per process), `detector run --all` over a generated fleet: every installed rule, with DuckDB's bytes on stdout
  although the driver JVM logs its GCs to its stdout; on stderr those GC lines and nothing else (no JVM
  incubator-module warning, no Spark log);
- one driver process (tests/spark_cluster.py) runs every case of every installed rule (sql/<slug>/cases/*.json)
  and the flat shape of every rule that has one on the fleet (the engine's own settings), each compared with
  DuckDB's records line by line as JSON;
- where it ran: tasks on both executors, every JVM (driver and executors) on Java 17+ in UTC.

The shared folder is this machine's: the workers read the Parquet the driver names. Rules with required parameters
get them from their cases. To keep the run short on a small machine, the JVMs run with C1 only and the serial GC,
and the cases (tiny inputs) with SMALL_DATA's physical settings (tests/test_engines.py does the same); results do not
depend on either. Skipped, with the reason, without PySpark or Java 17+.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import spark_cluster
from typer.testing import CliRunner

from detector import api
from detector.cases import Case, canonical, load_cases, write_inputs
from detector.cli import app
from detector.output import table_records
from detector.params import bind
from detector.rule import Rule, load_all

REASON = spark_cluster.unavailable()
if REASON:
    pytest.skip(REASON, allow_module_level=True)

NOW = "2026-11-20T12:00:00Z"
FLEET = ["--servers", "20", "--workstations", "30", "--events", "20000", "--file-events", "4000", "--now", NOW]
RULES: dict[str, Rule] = load_all()[0]
CASES: dict[str, tuple[Rule, Case]] = {c.id: (r, c) for _, r in sorted(RULES.items()) for c in load_cases(r)}
INCUBATOR = "Using incubator modules"
STARVING = "WARN TaskSchedulerImpl: Initial job has not accepted any resources"
# Faster start-up for short-lived JVMs; the same results (JIT and GC choices only). C1 alone would get a 48 MB code
# cache, which the driver fills ("CodeCache is full. Compiler has been disabled."): the tiered default instead.
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=240m"
# The CLI's driver JVM also logs its GCs to its stdout: none of it may reach the CLI's stdout (the records), all of
# it must reach its stderr (detector drops the incubator line alone).
GC_TO_STDOUT = "-Xlog:gc:stdout"
GC_LINE = "][info][gc]"
EXECUTORS = 2


def required_params(rule: Rule) -> dict:
    """Values for the rule's required parameters, from its cases: a list is the union of the values of its planted
    cases (their rows are in the generated fleet), else of any case; another type, the first case's value."""
    params = {}
    cases = load_cases(rule)
    for param in rule.params.values():
        if not param.required:
            continue
        given = [c.params[param.name] for c in cases if c.plant and param.name in c.params]
        given = given or [c.params[param.name] for c in cases if param.name in c.params]
        if not given:
            pytest.fail(f"{rule.slug}: no case gives the required parameter {param.name}")
        if all(isinstance(v, list) for v in given):
            params[param.name] = list(dict.fromkeys(item for value in given for item in value))
        else:
            params[param.name] = given[0]
    return params


def cli_param(rule: Rule, name: str, value) -> str:
    """`--param RULE.NAME=TEXT` for --all, checked to bind to the same value as `value` itself."""
    text = ",".join(value) if isinstance(value, list) else str(value)
    assert bind(rule, {name: text}).values[name] == bind(rule, {name: value}).values[name], (rule.slug, name)
    return f"{rule.slug}.{name}={text}"


FLEET_PARAMS = {slug: required_params(rule) for slug, rule in sorted(RULES.items())}
# The fleet's flat shapes (`run --all` above gives every rule's records, not the flat rows).
FLEET_JOBS = {f"fleet/{r.slug}/flat": (r, True) for _, r in sorted(RULES.items()) if r.output.flat is not None}


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory):
    """A master and EXECUTORS workers on loopback, stopped (process groups killed) when the module is done."""
    folder = tmp_path_factory.mktemp("spark-cluster")
    started = spark_cluster.Cluster.start(folder, workers=EXECUTORS, cores=1, memory="1g", jvm_options=JVM_OPTIONS)
    request.addfinalizer(started.stop)
    return started


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fleet") / "fleet"
    result = CliRunner().invoke(app, ["generate", "--out", str(folder), *FLEET])
    assert result.exit_code == 0, result.output
    return folder


def _driver_env() -> dict:
    return spark_cluster.driver_env(jvm_options=JVM_OPTIONS)


# ---- the CLI, as a user runs it -----------------------------------------------------------------------------------


def run_all_args(fleet: Path) -> list[str]:
    params = [
        arg
        for slug, given in FLEET_PARAMS.items()
        for name, value in given.items()
        for arg in ("--param", cli_param(RULES[slug], name, value))
    ]
    return ["run", "--all", "--data", str(fleet), "--now", NOW, "--format", "jsonl", *params]


@pytest.fixture(scope="module")
def cli_run(cluster, fleet):
    """`detector run --all ... --engine spark --spark-master URL`, a process of its own: exit code, stdout, stderr.
    Every installed rule runs: one that is skipped (a table or a parameter missing) or fails says so on stderr."""
    script = Path(sys.executable).with_name("detector")  # the console script, as a user runs it
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "detector.cli"]
    command = [*launcher, *run_all_args(fleet), "--engine", "spark"]
    command += ["--spark-master", cluster.url]
    env = spark_cluster.driver_env(jvm_options=JVM_OPTIONS, driver_options=GC_TO_STDOUT)
    return spark_cluster.run_process(command, env=env, timeout=900)


def test_cli_on_the_cluster_prints_duckdbs_bytes(cli_run, fleet):
    code, out, err = cli_run
    assert code == 0, err[-3000:]
    duck = CliRunner().invoke(app, run_all_args(fleet))
    assert duck.exit_code == 0, duck.output
    assert out == duck.stdout
    ran = {json.loads(line)["rule"] for line in out.splitlines()}
    assert ran, "the fleet gave no alert at all: the comparison would be empty"


def test_cli_stderr_is_quiet(cli_run):
    """The JVM's 'WARNING: Using incubator modules: jdk.incubator.vector' (Spark's launcher always adds the module)
    is not shown. Everything else the JVM writes is, on stderr: here its GC log, written to the JVM's stdout
    (test_cli_on_the_cluster_prints_duckdbs_bytes: none of it on the CLI's stdout). Nothing more on a successful
    run, but the scheduler's warning that no executor has taken the first job yet (kept on purpose: on a cluster
    without free resources it is the only word a user gets; a busy machine may start the executors more than 15 s
    after the first job)."""
    _, _, err = cli_run
    assert INCUBATOR not in err
    assert any(GC_LINE in line for line in err.splitlines()), err[-2000:]
    assert [line for line in err.splitlines() if GC_LINE not in line and STARVING not in line] == [], err


def test_cli_ran_on_the_cluster(cli_run, cluster):
    """The master saw the CLI's application, with both workers' cores."""
    state = cluster.state()
    apps = [a for a in state.get("activeapps", []) + state.get("completedapps", []) if a.get("name") == "detector"]
    assert apps and max(a.get("cores", 0) for a in apps) == EXECUTORS, json.dumps(state)[:2000]


# ---- every case of every rule, and every rule on the fleet: one driver process -----------------------------------


@pytest.fixture(scope="module")
def case_folders(tmp_path_factory) -> dict[str, Path]:
    """Each case's tables as Parquet, written once: read by the cluster and by DuckDB."""
    root = tmp_path_factory.mktemp("cases")
    return {case_id: write_inputs(rule, case, root / rule.slug / case.name) for case_id, (rule, case) in CASES.items()}


def job(job_id: str, rule: Rule, data: Path, now: str, params: dict, flat: bool, small: bool) -> dict:
    return {"id": job_id, "rule": rule.slug, "data": str(data), "now": now, "params": params, "flat": flat,
            "small": small}  # fmt: skip


@pytest.fixture(scope="module")
def driven(cluster, fleet, case_folders, tmp_path_factory):
    """The driver's output: "probe" -> where it ran; job id -> {"lines": [...]} or {"error": ...}."""
    jobs = [job(i, r, fleet, NOW, FLEET_PARAMS[r.slug], flat, False) for i, (r, flat) in FLEET_JOBS.items()]
    for case_id, (rule, case) in CASES.items():
        jobs.append(job(case_id, rule, case_folders[case_id], case.now, case.params, case.flat, True))
    jobs_file = tmp_path_factory.mktemp("driver") / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    driver = str(Path(spark_cluster.__file__).resolve())
    command = [sys.executable, driver, cluster.url, str(jobs_file), "--threads", "2", "--executors", str(EXECUTORS)]
    code, out, err = spark_cluster.run_process(command, env=_driver_env(), timeout=1200)
    assert code == 0, f"the driver failed ({code}):\n{err[-3000:]}\n{cluster.logs()}"
    results = {}
    for line in out.splitlines():
        record = json.loads(line)
        results["probe" if "probe" in record else record["id"]] = record.get("probe", record)
    return results


def driven_lines(driven: dict, job_id: str) -> list[str]:
    got = driven.get(job_id)
    assert got is not None, f"the driver printed nothing for {job_id}"
    assert "error" not in got, got["error"]
    return got["lines"]


def duckdb_lines(rule: Rule, *, data, now, params, flat) -> list[str]:
    table = api.run_table(rule, data=data, now=now, params=params, flat=flat, engine="duckdb")
    return canonical(table_records(table))


@pytest.mark.parametrize("job_id", list(FLEET_JOBS))
def test_fleet_on_the_cluster(driven, fleet, job_id):
    rule, flat = FLEET_JOBS[job_id]
    expected = duckdb_lines(rule, data=fleet, now=NOW, params=FLEET_PARAMS[rule.slug], flat=flat)
    assert driven_lines(driven, job_id) == expected


@pytest.mark.parametrize("case_id", list(CASES))
def test_case_on_the_cluster(driven, case_folders, case_id):
    rule, case = CASES[case_id]
    folder = case_folders[case_id]
    expected = duckdb_lines(rule, data=folder, now=case.now, params=case.params, flat=case.flat)
    assert driven_lines(driven, case_id) == expected


def test_the_executors_computed_in_utc_on_java_17(driven):
    """Rows were computed by both executors (not the driver), and every JVM runs Java 17+ in UTC."""
    probe = driven["probe"]
    assert probe["registered_executors"] == EXECUTORS
    assert {t["executor"] for t in probe["tasks"]} == {str(n) for n in range(EXECUTORS)}, probe
    for jvm in [*probe["tasks"], probe["driver"]]:
        assert int(jvm["java"]) >= 17 and jvm["timezone"] == "UTC", probe


# ---- a master that is not there --------------------------------------------------------------------------------


SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_an_unreachable_master_is_one_line():
    """Refused at once, before a driver JVM starts (Spark itself retries for a minute and then says only that its
    context is stopped); so is a master URL without a port."""
    args = ["run", "supply_chain_network_connections", "--data", str(SAMPLE), "--now", NOW, "--engine", "spark"]
    closed = f"spark://127.0.0.1:{spark_cluster.free_port()}"
    for master, line in [
        (closed, f"error: Spark master {closed} does not answer (Connection refused): is a master running there?"),
        ("spark://127.0.0.1", "error: Spark master spark://127.0.0.1: '127.0.0.1' is not HOST:PORT"),
    ]:
        result = CliRunner().invoke(app, [*args, "--spark-master", master])
        assert (result.exit_code, result.output.strip().splitlines()) == (2, [line])
