"""`detector rule RULE` prints a rule card; `detector rules` lists the installed rules."""

from __future__ import annotations

import sys

import typer

from detector.card import card
from detector.commands import common
from detector.errors import DetectorError
from detector.render import validate
from detector.rule import load_all


def rule(rule: common.RuleArg = None, rules_dir: common.RulesDir = None) -> None:
    """Print the rule card, read from the rule's rule.toml: description, MITRE, tables, parameters, stages."""
    typer.echo(card(common.current_rule(rule, rules_dir)), nl=False)


def rules(rules_dir: common.RulesDir = None) -> None:
    """List the installed rules: slug, name, MITRE tactic and tables. Rules are found in --rules-dir folders,
    then in DETECTOR_RULES_PATH (folders separated by ':'), then among the installed rules; a rule that cannot
    load is reported with its file and reason (exit 2), and the others are still listed."""
    loaded, broken = load_all(common.dirs(rules_dir))
    for slug, r in list(loaded.items()):
        try:
            validate(r)
        except DetectorError as exc:
            broken[slug] = str(exc)
            del loaded[slug]
    rows = [(r.slug, r.name, r.tactics or "-", ", ".join(r.tables)) for r in sorted(loaded.values(), key=_slug)]
    header = ("RULE", "NAME", "TACTIC", "TABLES")
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    for row in [header, *rows]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for slug in sorted(broken):
        print(f"error: {broken[slug]}", file=sys.stderr)
    if broken:
        raise typer.Exit(2)


def _slug(rule) -> str:
    return rule.slug
