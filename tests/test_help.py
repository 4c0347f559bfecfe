"""`--help` shows the help text as written: brackets kept, paragraphs reflowed, no type beside a flag."""

from __future__ import annotations

import re

import pytest
import typer.rich_utils
from helpers import invoke

from detector.commands.helptext import plain

COMMANDS = ["run", "sql", "explain", "export", "rule", "rules", "test", "generate", "ingest"]


def help_text(*args: str) -> str:
    result = invoke(*args, "--help")
    assert result.exit_code == 0, result.output
    return result.stdout


def test_brackets_are_not_markup():
    """`[spark]` and `[output.flat]` are text, not rich style tags (which rich would drop)."""
    text = " ".join(help_text("run").split())  # the box may wrap anywhere
    assert "'kql-detector[spark]'" in text
    assert "rule.toml [output.flat]" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_paragraphs_reflow_to_the_terminal(monkeypatch, command):
    """On a wide terminal every paragraph of the command's help is one line: no break inside a sentence."""
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 2000)
    text = help_text(command)
    description = text.split("╭")[0]  # the prose before the option panels
    lines = [line.strip() for line in description.splitlines() if line.strip()]
    assert lines[0].startswith("Usage: detector")
    for line in lines[1:]:
        if line.startswith("detector "):  # an example command, laid out by hand
            continue
        assert line.endswith((".", ")", ":")), f"a paragraph of `{command} --help` breaks inside a sentence: {line!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_flag_shows_no_type(monkeypatch, command):
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 2000)
    assert not re.search(r"<bool>", help_text(command))


def test_completion_options_are_not_rule_parameters():
    assert "--install-completion" not in help_text("run")


def test_plain_keeps_indented_examples_and_escapes_markup():
    text = "First line\ngoes on.\n\n    detector run X\n    detector run Y\n\nSee [bold]this[/bold]."
    assert plain(text) == "First line goes on.\n\n    detector run X\n    detector run Y\n\nSee \\[bold]this\\[/bold]."
