"""Help text shown as written: reflowed to the terminal, never read as markup.

Typer renders help with rich, which reads `[spark]` in `pip install 'kql-detector[spark]'` as a style tag and
drops it, and keeps the single line breaks of a docstring's later paragraphs (hard breaks mid-sentence on a wide
terminal). Every command and group of the CLI is built from these classes, which fix both once, on the texts
typer hands to click: rule parameters' help from rule.toml included (RuleCommand calls `plain_params`).
"""

from __future__ import annotations

import inspect
from typing import Any

from rich.markup import escape
from typer.core import TyperCommand, TyperGroup


def plain(text: str | None) -> str | None:
    """Paragraphs (split at blank lines) joined into single lines, and markup escaped. A paragraph with an
    indented line (an example, a list laid out by hand) keeps its lines."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    joined = [p if any(line.startswith(" ") for line in p.splitlines()) else " ".join(p.split()) for p in paragraphs]
    return escape("\n\n".join(joined))


def plain_params(params: list[Any]) -> None:
    for param in params:
        if getattr(param, "help", None):
            param.help = plain(param.help)
        if getattr(param, "is_flag", False):
            # A flag takes no value: no `<bool>` beside it (typer shows every option's type).
            param.display_type_rich = _no_type


def _no_type(ctx: Any = None) -> None:
    return None


class _PlainHelp:
    """Mixed into a click command or group: its help, and its options' help, shown as written."""

    help: str | None
    params: list[Any]

    def _plain(self) -> None:
        self.help = plain(self.help)
        plain_params(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            plain_params([option])
        return option


class Command(_PlainHelp, TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain()


class Group(_PlainHelp, TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain()
