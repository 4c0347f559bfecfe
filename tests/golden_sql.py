"""Golden SQL: every rule in every dialect, as `detector sql` / `detector export` print it at a fixed `now`.

    python tests/golden_sql.py        # = make snapshots: rewrite tests/golden/<slug>.<dialect>.sql

A required parameter gets a placeholder value (the same one every time), so every rule has its golden files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent.parent))

from detector.cli import app  # noqa: E402
from detector.dialects import EXPORT_DIALECTS  # noqa: E402
from detector.params import _PLACEHOLDERS  # noqa: E402
from detector.rule import Rule, load_all  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
NOW = "2026-11-20T12:00:00Z"


def command(rule: Rule, dialect: str) -> list[str]:
    required = [f"{p.name}={_PLACEHOLDERS[p.type]}" for p in rule.params.values() if p.required]
    base = ["sql", rule.slug] if dialect == "duckdb" else ["export", rule.slug, "--dialect", dialect]
    return [*base, "--now", NOW, *(a for pair in required for a in ("--param", pair))]


def path(rule: Rule, dialect: str) -> Path:
    return GOLDEN / f"{rule.slug}.{dialect}.sql"


def render(rule: Rule, dialect: str) -> str:
    result = CliRunner().invoke(app, command(rule, dialect))
    if result.exit_code != 0:
        raise SystemExit(f"{' '.join(command(rule, dialect))}: {result.output}")
    return result.stdout


def main() -> None:
    rules, broken = load_all()
    if broken:
        raise SystemExit("\n".join(broken.values()))
    for rule in rules.values():
        for dialect in EXPORT_DIALECTS:
            path(rule, dialect).write_text(render(rule, dialect))
            print(f"wrote {path(rule, dialect)}")


if __name__ == "__main__":
    main()
