"""`detector explain RULE`: the funnel (rows after each stage), the rule's explain views, and one entity's trace."""

from __future__ import annotations

from typing import Annotated

import typer

from detector import api
from detector.commands import common
from detector.explain import describe, explain


def explain_command(
    rule: common.RuleArg = None,
    data: common.Data = None,
    table: common.Tables = None,
    now: common.Now = None,
    entity: Annotated[
        str | None,
        typer.Option(
            "--entity",
            "--device",
            help="Trace one entity (the rule's output entity column, e.g. a device name): which stage dropped its "
            "rows, or which records it alerts with.",
            show_default=False,
        ),
    ] = None,
    param: common.Params = None,
    rules_dir: common.RulesDir = None,
) -> None:
    """Show why records did or did not appear: row counts after each stage of the KQL as written (numbered as in
    the KQL), the size of each let binding, the rule's own explain views, and with --entity one entity's trace."""
    loaded = common.current_rule(rule, rules_dir)
    if entity is not None and loaded.output.entity is None:
        raise common.ParamError("--entity", f"rule {loaded.slug} declares no entity column ([output] entity)")
    with api.session(
        loaded,
        data=data,
        tables=common.parse_pairs("--table", table),
        now=now,
        params=common.rule_params(param),
        prune=False,  # explain counts every stage's rows, Stage 1's before any window
    ) as s:
        typer.echo(describe(s, explain(s, entity)), nl=False)
