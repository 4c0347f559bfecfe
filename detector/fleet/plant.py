"""Planted cases: the cases of the installed rules marked `"plant": true` (sql/<slug>/cases/*.json, see
detector/cases.py), placed into a generated fleet, and their description for data/README.md.

A case is planted whole: its rows move in time by (fleet now - case now), every datetime column alike, and keep
every other value they give (ReportId included). A case whose rows do not all fall inside the fleet's window
(now - days, now] is left out, except for rows of a snapshot table (DeviceInfo: one report per device per day,
like the bulk's own), which are trimmed to the window as long as every snapshot dropped repeats one that stays
(the same values but Timestamp and ReportId): a shorter inventory history then says the same about the device.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from detector.cases import CASES_DIR, Case, load_cases
from detector.errors import RuleError
from detector.params import parse_instant
from detector.rule import Rule, discover, load_rule
from detector.tables import load_table

# Tables of periodic per-device reports: rows before the window may be trimmed (see above).
SNAPSHOT_TABLES = frozenset({"DeviceInfo"})
_SNAPSHOT_VOLATILE = ("Timestamp", "ReportId")

README_BEGIN = (
    "<!-- planted cases: begin (written by `detector generate --readme`; edit the rules' cases/*.json, not this) -->"
)
README_END = "<!-- planted cases: end -->"


@dataclass(frozen=True)
class PlantedCase:
    """One case planted into a fleet: its rule, name and description, how many rows of each table it planted,
    and the records the rule gives on the case's rows alone (its `expect`)."""

    rule: str
    name: str
    description: str
    rows: dict[str, int]
    expect: tuple[dict, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.name}"

    @property
    def summary(self) -> str:
        """The description's first line."""
        return self.description.strip().split("\n", 1)[0]


@dataclass(frozen=True)
class Plants:
    """Everything planted into one fleet."""

    cases: tuple[PlantedCase, ...]
    left_out: tuple[str, ...]  # ids of the cases whose rows do not fit the fleet's window
    rows: dict[str, list[dict[str, Any]]]  # table -> planted rows in planting order (Timestamp, then ReportId)
    columns: dict[str, dict[str, str]]  # table -> {column: Kusto type}: what the planting rules read or rows set

    @property
    def devices(self) -> int:
        """Distinct DeviceName values over every planted row."""
        return len({r["DeviceName"] for rows in self.rows.values() for r in rows if r.get("DeviceName") is not None})


def planting_rules(rules: Iterable[str] | None = None, rules_dirs: Iterable[str | Path] = ()) -> list[Rule]:
    """The rules whose plant cases a fleet gets: the named ones (in order, each once), or every installed rule
    (sorted by slug). A rule that does not load raises RuleError."""
    rules_dirs = tuple(rules_dirs)
    slugs = sorted(discover(rules_dirs)) if rules is None else list(dict.fromkeys(rules))
    return [load_rule(slug, rules_dirs) for slug in slugs]


def plant_cases(rules: Iterable[str] | None = None, rules_dirs: Iterable[str | Path] = ()) -> list[tuple[Rule, Case]]:
    """(rule, case) for every case marked plant of those rules, in rule order, then case file and case order."""
    return [(rule, case) for rule in planting_rules(rules, rules_dirs) for case in load_cases(rule) if case.plant]


def place(pairs: list[tuple[Rule, Case]], now: datetime, days: int) -> Plants:
    """The planted rows of a fleet ending at `now` (aware UTC) with `days` days of history."""
    lo, hi = now - timedelta(days=days), now
    planted, left_out = [], []
    keyed: dict[str, list[tuple[tuple, dict]]] = {}
    columns: dict[str, dict[str, str]] = {}
    for ci, (rule, case) in enumerate(pairs):
        case_now = _case_now(rule, case)
        rows = None
        if case_now is not None:
            shifted = {t: [_shift(rule, t, r, now - case_now) for r in rs] for t, rs in case.inputs.items()}
            rows = _fit(shifted, lo, hi)
        if rows is None:
            left_out.append(f"{rule.slug}/{case.name}")
            continue
        for table, table_rows in rows.items():
            types = columns.setdefault(table, {})
            for column in rule.reads.get(table, ()):
                types.setdefault(column, rule.tables[table][column])
            for ri, row in enumerate(table_rows):
                for column in row:
                    types.setdefault(column, _column_type(rule, table, column))
                rid = row.get("ReportId")
                keyed.setdefault(table, []).append(((row["Timestamp"], rid is None, rid or 0, ci, ri), row))
        counts = {t: len(rs) for t, rs in rows.items() if rs}
        planted.append(PlantedCase(rule.slug, case.name, case.description, counts, tuple(case.expect)))
    ordered = {t: [row for _, row in sorted(entries, key=lambda e: e[0])] for t, entries in sorted(keyed.items())}
    return Plants(tuple(planted), tuple(left_out), ordered, columns)


def _case_now(rule: Rule, case: Case) -> datetime | None:
    """The case's `now`; for "latest", the newest value of the rule's clock column in the case's rows."""
    if case.now.lower() != "latest":
        return parse_instant("now", case.now)
    table, column = rule.clock
    values = [r[column] for r in case.inputs.get(table, []) if r.get(column) is not None]
    return max(values) if values else None


def _column_type(rule: Rule, table: str, column: str) -> str:
    if column in rule.tables.get(table, {}):
        return rule.tables[table][column]
    documented = load_table(table).columns
    if column not in documented:
        raise RuleError(f"{rule.slug}: {table}.{column}: not a column of {table}")
    return documented[column]


def _shift(rule: Rule, table: str, row: dict[str, Any], delta: timedelta) -> dict[str, Any]:
    return {
        c: v + delta if isinstance(v, datetime) and _column_type(rule, table, c) == "datetime" else v
        for c, v in row.items()
    }


def _fit(rows: dict[str, list[dict]], lo: datetime, hi: datetime) -> dict[str, list[dict]] | None:
    """The rows to plant, or None when the case does not fit in (lo, hi] (see the module's docstring)."""
    out = {}
    for table, table_rows in rows.items():
        inside = [r for r in table_rows if r.get("Timestamp") is not None and lo < r["Timestamp"] <= hi]
        if len(inside) < len(table_rows):
            if table not in SNAPSHOT_TABLES:
                return None
            kept = {_snapshot(r) for r in inside}
            for r in table_rows:
                if r.get("Timestamp") is None or r["Timestamp"] > hi:
                    return None
                if r["Timestamp"] <= lo and _snapshot(r) not in kept:
                    return None
        out[table] = inside
    return out


def _snapshot(row: dict) -> tuple:
    """A snapshot row's values but its Timestamp and ReportId."""
    values = [(c, v) for c, v in row.items() if c not in _SNAPSHOT_VOLATILE and v is not None]
    return tuple(sorted(values, key=lambda p: p[0]))


# --------------------------------------------------------------------------------------------------------------
# data/README.md: the planted cases, from their descriptions
# --------------------------------------------------------------------------------------------------------------


def describe_planted(rules: Iterable[str] | None = None, rules_dirs: Iterable[str | Path] = ()) -> str:
    """Markdown listing every plant case of the rules (default: all installed), with what each expects and its
    description: the section of data/README.md between README_BEGIN and README_END."""
    pairs = plant_cases(rules, rules_dirs)
    lines = [
        "## Planted cases",
        "",
        '`detector generate` plants the rows of every installed rule\'s cases marked `"plant": true`',
        "(`sql/<rule>/cases/*.json`), moved in time to the fleet's `--now`. What a case expects is what its rule",
        "gives on the case's rows alone (the case's `expect`).",
    ]
    by_rule: dict[str, list[tuple[Rule, Case]]] = {}
    for rule, case in pairs:
        by_rule.setdefault(rule.slug, []).append((rule, case))
    if not by_rule:
        lines += ["", "No installed rule has a case marked plant."]
    for slug, items in by_rule.items():
        rule = items[0][0]
        files = sorted({f"`{slug}/{CASES_DIR}/{case.file.name}`" for _, case in items})
        records = sum(len(case.expect) for _, case in items)
        lines += [
            "",
            f"### {slug}",
            "",
            f"{len(items)} planted case{'s' if len(items) != 1 else ''} ({', '.join(files)}), "
            f"expecting {records} record{'s' if records != 1 else ''}:",
            "",
        ]
        for _, case in items:
            text = [line.strip() for line in case.description.strip().splitlines() if line.strip()] or [""]
            expects = "; ".join(record_label(rule, r) for r in case.expect) or "nothing"
            lines.append(f"- `{case.name}` expects {expects}. {text[0]}".rstrip())
            lines += [f"  - {line}" for line in text[1:]]
    return "\n".join(lines) + "\n"


def record_label(rule: Rule, record: dict) -> str:
    """A short label for one output record: its key values, then each nested element's identifying values (the
    flat output's sort columns beyond the key, joined by ':'), e.g. `host-1 192.0.2.1:443`."""
    label = " ".join(str(record.get(k)) for k in rule.output.key)
    nested = rule.output.nested_column
    if nested and isinstance(record.get(nested), list):
        flat_order = rule.output.flat.order_by if rule.output.flat else ()
        ident = [c for c in flat_order if c not in rule.output.key]
        parts = []
        for element in record[nested]:
            if isinstance(element, dict) and any(c in element for c in ident):
                parts.append(":".join(str(element[c]) for c in ident if c in element))
            else:
                parts.append(str(element))
        label = f"{label} {', '.join(parts)}".strip()
    return label


def readme_section(text: str) -> str | None:
    """The text between README_BEGIN and README_END (without them), or None when the markers are missing."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        return None
    return text[start + len(README_BEGIN) : end].strip("\n") + "\n"


def update_readme(path: Path, rules: Iterable[str] | None = None, rules_dirs: Iterable[str | Path] = ()) -> bool:
    """Rewrite the planted-cases section of the README at `path` (between README_BEGIN and README_END) from the
    cases' descriptions; True when the file changed. ValueError when the markers are missing."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if readme_section(text) is None:
        raise ValueError(f"readme: {path} has no planted-cases section ({README_BEGIN} ... {README_END})")
    start, end = text.find(README_BEGIN) + len(README_BEGIN), text.find(README_END)
    new = text[:start] + "\n" + describe_planted(rules, rules_dirs) + text[end:]
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True
