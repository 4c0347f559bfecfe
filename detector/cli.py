"""The `detector` command line: a typer app whose sub-commands live in detector/commands/."""

from __future__ import annotations

import typer

from detector.commands import common, helptext
from detector.commands.explain import explain_command
from detector.commands.export import export
from detector.commands.generate import generate
from detector.commands.ingest import ingest
from detector.commands.rule import rule, rules
from detector.commands.run import run
from detector.commands.sql import sql
from detector.commands.test import test

app = typer.Typer(
    name="detector",
    help="Kusto (KQL) hunting rules as SQL: run them on DuckDB over Parquet (or on Spark, or export them to a "
    "warehouse) with the alerts Kusto would give. Every rule is a folder under sql/ (see `detector rules`).\n\n"
    "Exit codes: 0 done (with or without alerts), 1 alerts found with --fail-on-alert or a failed test case, "
    "2 bad input.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=helptext.Group,
)
RULE_COMMAND = {"cls": common.RuleCommand}
COMMAND = {"cls": helptext.Command}
app.command("rules", **COMMAND)(common.handle_errors(rules))
app.command("run", **RULE_COMMAND)(common.handle_errors(run))
app.command("sql", **RULE_COMMAND)(common.handle_errors(sql))
app.command("explain", **RULE_COMMAND)(common.handle_errors(explain_command))
app.command("export", **RULE_COMMAND)(common.handle_errors(export))
app.command("rule", **RULE_COMMAND)(common.handle_errors(rule))
app.command("test", **COMMAND)(common.handle_errors(test))
app.command("generate", **COMMAND)(common.handle_errors(generate))
app.command("ingest", **COMMAND)(common.handle_errors(ingest))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
