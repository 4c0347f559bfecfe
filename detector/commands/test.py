"""`detector test [RULE ...]`: run rules' own test cases (sql/<slug>/cases/*.json) on one or more engines."""

from __future__ import annotations

import fnmatch
import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated
from xml.etree import ElementTree as ET

import typer

from detector import selfcheck
from detector.cases import load_cases
from detector.commands import common
from detector.dialects import EXPORT_DIALECTS
from detector.engines import ENGINES, engine_class
from detector.errors import ParamError, RuleError
from detector.output import atomic_file
from detector.render import validate
from detector.rule import load_all, load_rule
from detector.testing import CaseResult, check_case


def test(
    rules: Annotated[
        list[str] | None,
        typer.Argument(metavar="[RULE]...", help="Rules to test (default: every installed rule).", show_default=False),
    ] = None,
    engine: Annotated[
        list[str] | None,
        typer.Option(
            "--engine", help=f"Engine to run the cases on: {', '.join(ENGINES)}. Repeatable (default: duckdb)."
        ),
    ] = None,
    case: Annotated[
        list[str] | None,
        typer.Option(
            "--case", metavar="NAME", help="Only the cases named NAME (a glob: '5_*' runs item 5). Repeatable."
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="FILE", help="Also write a JUnit XML report (for CI).", show_default=False),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text (a table of results) or json.")] = "text",
    dialect: Annotated[
        str | None,
        typer.Option(
            "--dialect",
            metavar="D",
            help=f"With --script: the engine to write the self-check for: {', '.join(EXPORT_DIALECTS)}.",
            show_default=False,
        ),
    ] = None,
    script: Annotated[
        bool,
        typer.Option(
            "--script",
            help="Print, instead of running the cases here, one SQL script for --dialect that runs the rule's cases "
            "(those --case selects) on your own warehouse: their rows as temporary tables (or CTEs), the rule's "
            "exported statement on them, and a last query giving case_name, result (PASS/FAIL), expected_records, "
            "actual_records and first_difference, compared in SQL. Nothing runs and nothing connects: run the "
            "script yourself (docs/export.md). One rule.",
        ),
    ] = False,
    rules_dir: common.RulesDir = None,
) -> None:
    """Run each rule's cases (inputs, `now`, parameters, expected records) and print PASS/FAIL per case and
    engine, with the first difference of each failure. Exit 1 when a case fails, 2 when a rule or case file is
    broken."""
    if script or dialect is not None:
        _print_script(rules, dialect, script, engine=engine, case=case, junit=junit, fmt=fmt, rules_dir=rules_dir)
        return
    if fmt not in ("text", "json"):
        raise ParamError("--format", f"{fmt!r} is not text or json")
    engines = engine or ["duckdb"]
    for name in engines:
        if name not in ENGINES:
            raise ParamError("--engine", f"{name!r} is not one of {', '.join(ENGINES)}")
        if getattr(engine_class(name), "IN_DATABASE", False):  # the cases' rows are files; it reads a database
            raise ParamError(
                "--engine",
                f"{name} runs rules on tables already in a database, not on the cases' files: check the cases there "
                f"with their self-check script, `detector test RULE --dialect {name} --script` (docs/export.md)",
            )
    loaded, broken = load_all(common.dirs(rules_dir))
    wanted = rules or sorted(set(loaded) | set(broken))
    for slug in wanted:
        if slug not in loaded and slug not in broken:
            raise RuleError(f"unknown rule {slug!r}; installed rules: {', '.join(sorted(loaded)) or 'none'}")
    results: list[tuple[str, CaseResult]] = []
    errors = [broken[s] for s in wanted if s in broken]
    with tempfile.TemporaryDirectory(prefix="detector-test-") as tmp:
        for slug in (s for s in wanted if s in loaded):
            rule = loaded[slug]
            try:
                validate(rule)
                cases = load_cases(rule)
            except RuleError as exc:
                errors.append(str(exc))
                continue
            if not cases:
                errors.append(f"rule {slug}: no test cases in {rule.folder / 'cases'}")
            cases = [c for c in cases if not case or any(fnmatch.fnmatchcase(c.name, pattern) for pattern in case)]
            for name in engines:
                for c in cases:
                    result = check_case(rule, c, engine=name, workdir=Path(tmp) / name)
                    results.append((slug, result))
                    _progress(len(results))
    _progress_done()
    if fmt == "json":
        typer.echo(json.dumps([_record(slug, r) for slug, r in results], indent=2))
    else:
        typer.echo(_text(results), nl=False)
    if junit is not None:
        _junit(results, errors, junit)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors:
        raise typer.Exit(2)
    if any(not r.passed for _, r in results):
        raise typer.Exit(1)


def _print_script(
    rules: list[str] | None,
    dialect: str | None,
    script: bool,
    *,
    engine: list[str] | None,
    case: list[str] | None,
    junit: Path | None,
    fmt: str,
    rules_dir: list[Path] | None,
) -> None:
    """`--dialect D --script`: print the self-check script of one rule's cases (detector/selfcheck.py)."""
    if not script:
        raise ParamError("--dialect", "goes with --script: `detector test RULE --dialect D --script` prints the check")
    if dialect is None:
        raise ParamError("--script", f"needs --dialect, one of {', '.join(EXPORT_DIALECTS)}")
    if dialect not in EXPORT_DIALECTS:
        raise ParamError("--dialect", f"{dialect!r} is not one of {', '.join(EXPORT_DIALECTS)}")
    for option, given in (("--engine", engine), ("--junit", junit), ("--format", fmt != "text")):
        if given:
            raise ParamError(option, "is for running the cases here; --script only prints SQL: leave one of them out")
    if rules and len(rules) > 1:
        raise ParamError("--script", f"checks one rule at a time; given {len(rules)}: {', '.join(rules)}")
    rule = load_rule(rules[0] if rules else None, common.dirs(rules_dir))
    cases = load_cases(rule)
    chosen = [c for c in cases if not case or any(fnmatch.fnmatchcase(c.name, pattern) for pattern in case)]
    if not chosen:
        what = f"matches --case {' '.join(case)}" if case and cases else f"in {rule.folder / 'cases'}"
        raise RuleError(f"rule {rule.slug}: no case {what}")
    text = selfcheck.script(rule, chosen, dialect)
    sys.stdout.write(text)
    note = selfcheck.length_note(text, dialect)
    if note:
        print(f"note: {note}", file=sys.stderr)


def _record(slug: str, r: CaseResult) -> dict:
    return {
        "rule": slug,
        "case": r.case.name,
        "engine": r.engine,
        "result": "PASS" if r.passed else "FAIL",
        "difference": r.difference,
        "seconds": round(r.seconds, 3),
        "file": str(r.case.file),
    }


def _text(results: list[tuple[str, CaseResult]]) -> str:
    if not results:
        return "no cases\n"
    rows = [(slug, r.case.name, r.engine, "PASS" if r.passed else "FAIL", f"{r.seconds:.2f}s") for slug, r in results]
    header = ("RULE", "CASE", "ENGINE", "RESULT", "TIME")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    failed = [(slug, r) for slug, r in results if not r.passed]
    for slug, r in failed:
        lines.append(f"\nFAIL {slug}/{r.case.name} on {r.engine} ({r.case.file.name})\n  {r.difference}")
    lines.append(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    return "\n".join(lines) + "\n"


def _junit(results: list[tuple[str, CaseResult]], errors: list[str], path: Path) -> None:
    suites = ET.Element("testsuites")
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for slug, r in results:
        groups.setdefault((slug, r.engine), []).append(r)
    for (slug, engine), rs in groups.items():
        failures = sum(not r.passed for r in rs)
        suite = ET.SubElement(
            suites, "testsuite", name=f"{slug}[{engine}]", tests=str(len(rs)), failures=str(failures), errors="0"
        )
        for r in rs:
            tc = ET.SubElement(
                suite, "testcase", classname=f"{slug}.{engine}", name=r.case.name, time=f"{r.seconds:.3f}"
            )
            if not r.passed:
                ET.SubElement(tc, "failure", message=(r.difference or "")[:200]).text = r.difference
    if errors:
        suite = ET.SubElement(
            suites, "testsuite", name="rules", tests=str(len(errors)), failures="0", errors=str(len(errors))
        )
        for i, error in enumerate(errors):
            ET.SubElement(ET.SubElement(suite, "testcase", classname="rules", name=f"load{i}"), "error", message=error)
    with atomic_file(path) as fh:
        fh.write(ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


def _progress(done: int) -> None:
    if sys.stderr.isatty():
        print(f"\rtesting: {done} case run(s)", end="", file=sys.stderr, flush=True)


def _progress_done() -> None:
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr, flush=True)
