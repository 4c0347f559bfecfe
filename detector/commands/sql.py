"""`detector sql RULE`: print the rendered DuckDB SQL, headed by the parameter values it uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from detector.commands import common
from detector.errors import ParamError
from detector.export import comment_value
from detector.output import iso
from detector.params import bind
from detector.render import render


def sql(
    rule: common.RuleArg = None,
    now: common.Now = None,
    flat: Annotated[
        bool, typer.Option("--flat", help="End at the rule's flat stage (rule.toml [output.flat]).")
    ] = False,
    plan: common.Plan = None,
    param: common.Params = None,
    rules_dir: common.RulesDir = None,
) -> None:
    """Print the SQL `detector run` would execute on DuckDB, with the parameter values it binds.

    The tables appear as views named as the tables. `--now latest` needs data, so here `now` is an ISO-8601
    instant or the current time.
    """
    loaded = common.current_rule(rule, rules_dir)
    params = common.rule_params(param)
    if now is not None and now.strip().lower() == "latest":
        raise ParamError("now", "'latest' needs data: use `detector run --now latest`")
    when = datetime.now(UTC) if now is None or now.strip().lower() == "now" else now
    bindings = bind(loaded, params, now=when)
    plan = plan or loaded.default_plan
    statement = render(loaded, bindings, flat=flat, plan=plan).sql  # before printing anything: all or nothing
    lines = [f"-- rule: {loaded.name} ({loaded.slug})", f"-- now = {iso(bindings.now)}"]
    lines += [f"-- {name} = {comment_value(value)}" for name, value in bindings.values.items()]
    lines += [f"-- plan = {plan}", statement + ";"]
    typer.echo("\n".join(lines))
