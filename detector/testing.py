"""Run a rule's test cases (detector/cases.py) on an engine: `detector test` and the repository tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector import api
from detector.cases import Case, canonical, first_difference, write_inputs
from detector.errors import DetectorError
from detector.output import table_records
from detector.rule import Rule


@dataclass(frozen=True)
class CaseResult:
    case: Case
    engine: str
    passed: bool
    difference: str | None  # the first difference, or the error, when it failed
    seconds: float


def run_case(
    rule: Rule, case: Case, *, engine: str = "duckdb", workdir: Path, plan: str | None = None, **engine_options: Any
) -> list[str]:
    """The case's actual records, as canonical JSON lines."""
    folder = write_inputs(rule, case, Path(workdir) / case.name)
    table = api.run_table(
        rule, data=folder, now=case.now, params=case.params, flat=case.flat, plan=plan, engine=engine, **engine_options
    )
    return canonical(table_records(table))


def check_case(rule: Rule, case: Case, *, engine: str = "duckdb", workdir: Path, **options: Any) -> CaseResult:
    start = time.perf_counter()
    try:
        actual = run_case(rule, case, engine=engine, workdir=workdir, **options)
        difference = first_difference(canonical(case.expect), actual)
    except DetectorError as exc:
        difference = f"error: {exc}"
    return CaseResult(case, engine, difference is None, difference, time.perf_counter() - start)
