"""The `detector` command line: a typer app whose sub-commands live in detector/commands/."""

from __future__ import annotations

import typer

from detector.commands import common
from detector.commands.explain import explain_command
from detector.commands.export import export
from detector.commands.generate import generate
from detector.commands.ingest import ingest
from detector.commands.rule import rule
from detector.commands.run import run
from detector.commands.sql import sql

app = typer.Typer(
    name="detector",
    help="Kusto (KQL) hunting rules as SQL: run them on DuckDB over Parquet with the alerts Kusto would give.\n\n"
    "Exit codes: 0 done (with or without alerts), 1 alerts found with --fail-on-alert, 2 bad input.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(common.handle_errors(run))
app.command("sql")(common.handle_errors(sql))
app.command("generate")(common.handle_errors(generate))
app.command("rule")(common.handle_errors(rule))
app.command("explain")(common.handle_errors(explain_command))
app.command("ingest")(common.handle_errors(ingest))
app.command("export")(common.handle_errors(export))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
