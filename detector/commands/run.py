"""`detector run RULE`: run a rule (or `--all` rules) and print or write the alerts."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from detector import api, ocsf
from detector.commands import common
from detector.engines import ENGINES, open_engine
from detector.errors import DetectorError, ParamError, SourceError
from detector.output import FORMATS, layout_for, records_text, render_text, write, write_text
from detector.rule import Rule, load_all


def run(
    rule: common.RuleArg = None,
    data: common.Data = None,
    table: common.Tables = None,
    now: common.Now = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"Output format: {', '.join(FORMATS)}. Default: table on a terminal, jsonl otherwise. ocsf: one "
            f"OCSF {ocsf.OCSF_VERSION} Detection Finding per record, as JSON lines.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout.", show_default=False),
    ] = None,
    flat: Annotated[
        bool,
        typer.Option(
            "--flat",
            help="The rule's rows before its last aggregation (rule.toml [output.flat]), e.g. one row per connection "
            "instead of one record per device.",
        ),
    ] = False,
    all_rules: Annotated[
        bool,
        typer.Option(
            "--all",
            help='Run every installed rule whose tables are under --data; each record gets a "rule" field first. '
            "Rule parameters: --param RULE.NAME=VALUE.",
        ),
    ] = False,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help="Exit with code 1 when there is at least one alert.")
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Where the rule runs: "
            + "; ".join(f"{name}: {what}" for name, (_, _, what) in ENGINES.items())
            + ". Same records on every engine.",
        ),
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            metavar="URL",
            help="--engine spark: the cluster to run on, e.g. spark://host:7077 (default: local[2], this machine). "
            "The Parquet paths must be readable from the cluster.",
            show_default=False,
        ),
    ] = None,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            metavar="URL",
            help="--engine postgres: the database holding the rule's tables, postgresql://USER[:PASSWORD]@HOST:PORT/DB "
            "or postgresql:///DB?host=/socket/folder (PGPASSWORD and the other PG* variables fill in what the URL "
            "leaves out). --table NAME=schema.table then names each table there (default: the table's own name).",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="DuckDB worker threads (default: all cores).")] = None,
    memory_limit: Annotated[
        str | None, typer.Option(help="DuckDB memory limit, e.g. 2GB (default: DuckDB's, 80% of RAM).")
    ] = None,
    spill_dir: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="Where DuckDB spills when the run is larger than --memory-limit (default: a folder in the system "
            "temp directory, removed afterwards).",
            show_default=False,
        ),
    ] = None,
    plan: common.Plan = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="DIR",
            help="Keep state in DIR (a local folder or an s3:// prefix) between scheduled runs: the rule's per-file "
            "summaries (rule.toml [state]) are reused while a source file is unchanged, so a run reads only new "
            "files and those across a window's edge. Same records as without it. One subfolder per rule; "
            "`detector state info|clear --state DIR` shows or resets it. DuckDB only.",
            show_default=False,
        ),
    ] = None,
    new_only: Annotated[
        bool,
        typer.Option(
            "--new-only",
            help="With --state: print only the records of alerts no earlier run with this state printed (the "
            "rule's [state] identity, e.g. device, address, port and first sighting), so an hourly schedule "
            "raises each once.",
        ),
    ] = False,
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout",
            metavar="SECONDS",
            help="With --state: how long to wait for another run using the same state folder.",
        ),
    ] = 60,
    param: common.Params = None,
    rules_dir: common.RulesDir = None,
) -> None:
    """Run the rule and print its records (exit 0 with or without alerts)."""
    fmt = fmt or ("table" if sys.stdout.isatty() and output is None else "jsonl")
    if fmt not in FORMATS:
        raise ParamError("--format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "ocsf" and flat:
        raise ParamError("--format", "ocsf reports the rule's records, not its --flat rows")
    options = {"engine": engine, "threads": threads, "memory_limit": memory_limit, "spill_dir": spill_dir}
    options["spark_master"] = spark_master
    options["connection"] = connection
    stateful = _stateful(state, new_only, lock_timeout, plan)
    if all_rules:
        _run_all(rule, data, table, now, fmt, output, flat, plan, param, rules_dir, options, fail_on_alert, stateful)
        return
    loaded = common.current_rule(rule, rules_dir)
    given = {"data": data, "tables": common.parse_pairs("--table", table), "now": now}
    given |= {"params": common.rule_params(param), "flat": flat, "progress": common.progress_bar("running the rule")}
    with contextlib.ExitStack() as stack:
        try:
            if stateful is None:
                result = api.run_result(loaded, plan=plan, **given, **options)
            else:  # committed when the block ends: after the output is written
                result = _run_stateful(stack, loaded, stateful, **given, **options)
        finally:
            common.progress_done()
        _write_one(loaded, result, fmt, output, flat)
    if fail_on_alert and result.table.num_rows:
        raise typer.Exit(1)


def _stateful(state: str | None, new_only: bool, lock_timeout: float, plan: str | None) -> dict | None:
    """The options of a stateful run, or None; checked before any work."""
    if state is None:
        if new_only:
            raise ParamError("--new-only", "needs --state DIR (where the records already printed are kept)")
        return None
    if plan is not None:
        raise ParamError("--plan", "a stateful run executes the plan its rule declares in [state]")
    if lock_timeout < 0:
        raise ParamError("--lock-timeout", f"{lock_timeout:g} is negative")
    return {"state_dir": state, "new_only": new_only, "lock_timeout": lock_timeout}


def _run_stateful(stack: contextlib.ExitStack, rule: Rule, stateful: dict, **kwargs: Any) -> api.Result:
    """A stateful run, committed when `stack` closes (after the output is written); what its state could not be
    trusted with (rebuilt) on stderr, one line each."""
    from detector import incremental  # only stateful runs load it

    report = incremental.Report()
    result = stack.enter_context(incremental.run(rule, **stateful, **kwargs, report=report))
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    return result


def _write_one(rule: Rule, result: api.Result, fmt: str, output: Path | None, flat: bool) -> None:
    if fmt == "ocsf":
        write_text(ocsf.findings_text(rule, result.table.to_pylist(), result.now), output, sys.stdout)
    else:
        write(result.table, fmt, output, sys.stdout, layout_for(rule, flat))


def _run_all(rule, data, table, now, fmt, output, flat, plan, param, rules_dir, options, fail_on_alert, stateful):
    if rule is not None:
        raise ParamError("--all", "runs every rule: leave out the rule name")
    for option, value in (("--flat", flat), ("--plan", plan), ("--table", table)):
        if value:
            raise ParamError(option, "applies to one rule; with --all every rule runs with its defaults")
    per_rule: dict[str, dict[str, str]] = {}
    for name, value in common.parse_pairs("--param", param).items():
        slug, dot, short = name.partition(".")
        if not dot:
            raise ParamError("--param", f"with --all, name the rule: --param RULE.{name}=VALUE")
        per_rule.setdefault(slug, {})[short] = value
    if fmt == "parquet":
        raise ParamError("--format", "--all writes table, jsonl, json, csv or ocsf (rules' records differ in shape)")
    if data is None and options.get("connection") is None:
        raise ParamError("--data", "--all needs --data DIR (or --connection URL: tables named as the rules read them)")
    if options.get("connection") is not None:  # a database that cannot be reached fails the run, not each rule
        engine_options = {k: v for k, v in options.items() if k != "engine"}
        api.in_database(options["engine"], engine_options)
        open_engine(options["engine"], **engine_options).close()
    rules, broken = load_all(common.dirs(rules_dir))
    unknown = sorted(set(per_rule) - set(rules))
    if unknown:
        raise ParamError("--param", f"{unknown[0]}: no such rule ({', '.join(sorted(rules))})")
    for _, reason in sorted(broken.items()):
        print(f"error: {reason}", file=sys.stderr)
    chunks, alerts = [], 0
    commits = contextlib.ExitStack()  # stateful rules commit after the output is written
    for slug, loaded in sorted(rules.items()):
        given = per_rule.get(slug, {})
        missing = [p for p in loaded.params.values() if p.required and p.name not in given]
        if missing:
            print(f"skipped {slug}: it needs --param {slug}.{missing[0].name}=VALUE", file=sys.stderr)
            continue
        try:
            if stateful is not None and loaded.state is not None:
                result = _run_stateful(commits, loaded, stateful, data=data, now=now, params=given, **options)
            else:
                if stateful is not None:
                    print(f"note: {slug} declares no [state]: it runs whole, every record printed", file=sys.stderr)
                result = api.run_result(loaded, data=data, now=now, params=given, **options)
        except SourceError as exc:
            print(f"skipped {slug}: {exc}", file=sys.stderr)
            continue
        except DetectorError as exc:  # e.g. a required parameter: the other rules still run
            print(f"error: rule {slug}: {exc}", file=sys.stderr)
            broken[slug] = str(exc)
            continue
        alerts += result.table.num_rows
        chunks.append((loaded, result))
    with commits:
        _write_all(chunks, fmt, output)
    if broken:
        raise typer.Exit(2)
    if fail_on_alert and alerts:
        raise typer.Exit(1)


def _write_all(chunks: list[tuple[Rule, api.Result]], fmt: str, output: Path | None) -> None:
    """Every rule's records, each tagged with its rule: a `rule` field first (ocsf: finding_info.analytic.uid), a
    table per rule under a heading for people."""
    if fmt == "table":
        parts = [f"== {r.slug}: {r.name}\n{render_text(res.table, 'table', layout_for(r))}" for r, res in chunks]
        text = "\n".join(parts)
    elif fmt == "ocsf":
        text = "".join(ocsf.findings_text(r, res.table.to_pylist(), res.now) for r, res in chunks)
    else:
        records = [{"rule": r.slug, **rec} for r, res in chunks for rec in res.table.to_pylist()]
        text = records_text(records, fmt)
    write_text(text, output, sys.stdout)
