"""`detector rule`: print the rule card (description, MITRE, coverage, parameters, exclusions, output)."""

from __future__ import annotations

import typer

from detector.card import card
from detector.commands import common
from detector.rule import load_rule


def rule(slug: common.RuleSlug = None) -> None:
    """Print the rule card, read from the rule's rule.toml."""
    typer.echo(card(load_rule(slug)), nl=False)
