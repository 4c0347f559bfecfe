"""`detector state info|clear --state DIR`: what a stateful run keeps (detector/state.py), and resetting it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from detector import state as state_store
from detector.commands import common, helptext
from detector.errors import ParamError
from detector.rule import Rule, load_all, load_rule

app = typer.Typer(
    help="Show or reset the state scheduled runs keep with `detector run --state DIR`.",
    no_args_is_help=True,
    add_completion=False,
)

StateDir = Annotated[
    str,
    typer.Option("--state", metavar="DIR", help="The state folder given to `detector run --state` (local or s3://)."),
]
Rules = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[RULE]...", help="The rules to act on (default: every installed rule).", show_default=False
    ),
]


def _rules(slugs: list[str] | None, rules_dir: list | None) -> list[Rule]:
    dirs = common.dirs(rules_dir)
    if slugs:
        return [load_rule(s, dirs) for s in slugs]
    return [r for _, r in sorted(load_all(dirs)[0].items())]


def info(
    rules: Rules = None,
    state: StateDir = ...,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    rules_dir: common.RulesDir = None,
) -> None:
    """Show each rule's state: whether it is trusted, when it was written, the files summarized per partial and
    the alerts already printed (--new-only)."""
    if fmt not in ("text", "json"):
        raise ParamError("--format", f"{fmt!r} is not text or json")
    found = [state_store.describe(state, r) for r in _rules(rules, rules_dir)]
    if fmt == "json":
        typer.echo(json.dumps(found, indent=2))
        return
    for entry in found:
        typer.echo(f"{entry['rule']}: {entry['status']} ({entry['folder']})")
        if entry["status"] == "not trusted":
            for why in entry["why"]:
                typer.echo(f"  {why}")
        if entry["status"] != "ok":
            continue
        typer.echo(f"  written by {entry['written_by']} at {entry['updated']}")
        for name, p in entry["partials"].items():
            typer.echo(f"  partial {name}: {p['files']} file(s) summarized, {p['rows']:,} row(s)")
        typer.echo(f"  alerts printed (--new-only): {entry['printed']:,}")


def clear(
    rules: Rules = None,
    state: StateDir = ...,
    lock_timeout: Annotated[
        float, typer.Option("--lock-timeout", metavar="SECONDS", help="How long to wait for a run using the state.")
    ] = 60,
    rules_dir: common.RulesDir = None,
) -> None:
    """Delete each rule's state: the next stateful run summarizes every file again and, with --new-only, prints
    every alert again."""
    for rule in _rules(rules, rules_dir):
        done = state_store.clear(state, rule, lock_timeout)
        typer.echo(f"{rule.slug}: {'cleared' if done else 'no state'}")


app.command("info", cls=helptext.Command)(common.handle_errors(info))
app.command("clear", cls=helptext.Command)(common.handle_errors(clear))
