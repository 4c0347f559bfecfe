"""The `detector` command line: a typer app whose sub-commands live in detector/commands/.

`detector CMD ...` imports only CMD's module (a one-shot `detector run` does not load the self-check, ingest or
export code); `from detector.cli import app`, `detector --help` and anything unknown get every command.
"""

from __future__ import annotations

import importlib
import sys

import typer

from detector.commands import common, helptext

HELP = (
    "Kusto (KQL) hunting rules as SQL: run them on DuckDB over Parquet (or on Spark, or export them to a warehouse) "
    "with the alerts Kusto would give. Every rule is a folder under sql/ (see `detector rules`).\n\n"
    "Exit codes: 0 done (with or without alerts), 1 alerts found with --fail-on-alert or a failed test case, "
    "2 bad input."
)
# name -> (module, function, takes a rule and its parameters)
COMMANDS = {
    "rules": ("detector.commands.rule", "rules", False),
    "run": ("detector.commands.run", "run", True),
    "sql": ("detector.commands.sql", "sql", True),
    "explain": ("detector.commands.explain", "explain_command", True),
    "export": ("detector.commands.export", "export", True),
    "rule": ("detector.commands.rule", "rule", True),
    "test": ("detector.commands.test", "test", False),
    "generate": ("detector.commands.generate", "generate", False),
    "ingest": ("detector.commands.ingest", "ingest", False),
}


def build(only: str | None = None) -> typer.Typer:
    """The app with every command, or with `only` (and its group's shape: `detector run ...` still names run)."""
    cli = typer.Typer(
        name="detector",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=helptext.Group,
    )
    cli.callback()(_group)  # a group even when one command is registered
    for name, (module, function, takes_rule) in COMMANDS.items():
        if only is None or only == name:
            command = getattr(importlib.import_module(module), function)
            cls = common.RuleCommand if takes_rule else helptext.Command
            cli.command(name, cls=cls)(common.handle_errors(command))
    if only is None or only == "state":  # `detector state info|clear`
        cli.add_typer(importlib.import_module("detector.commands.state").app, name="state", cls=helptext.Group)
    return cli


def _group() -> None:
    """The commands' group: nothing runs before a command."""


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # every command, built on first use
        globals()["app"] = built = build()
        return built
    raise AttributeError(name)


def main() -> None:
    first = sys.argv[1] if len(sys.argv) > 1 else None
    build(first if first in COMMANDS or first == "state" else None)()


if __name__ == "__main__":
    main()
