"""What the sub-commands share: the rule argument and its generated parameter options, input options, errors.

A rule's parameters become options of `run`, `sql`, `explain` and `export` when the rule is named: `RuleCommand`
reads the rule slug (the first argument) before parsing, loads the rule, and adds one option per parameter from
its rule.toml (help text, type, default). So `detector run RULE --help` shows that rule's parameters, and no rule's
names are written in the CLI.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from detector.commands.helptext import Command, plain_params
from detector.errors import DetectorError, ParamError, RuleError, SourceError
from detector.rule import Param, Rule, discover, load_rule

PANEL = "Rule parameters"
_META_RULE = "detector.rule"
_META_PARAMS = "detector.params"
_KIND = {
    "duration": ("SPAN", "a KQL timespan: 14d, 36h, 90m, 30s"),
    "int": ("N", "a whole number"),
    "list": ("A,B|@FILE", "comma-separated, or @FILE with one value per line (# comments); '' for none"),
    "domains": ("A,B|@FILE", "domains, comma-separated or @FILE (one per line, # comments)"),
    "string": ("TEXT", "text"),
}

RuleArg = Annotated[
    str | None,
    typer.Argument(
        metavar="RULE",
        help="The rule's slug (see `detector rules`); may be left out while exactly one rule is installed.",
        show_default=False,
    ),
]
RulesDir = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules-dir",
        metavar="DIR",
        help="Also look for rules in DIR (a folder of rule folders; repeatable; searched before DETECTOR_RULES_PATH "
        "and the installed rules).",
        show_default=False,
    ),
]
Data = Annotated[
    str | None,
    typer.Option(
        "--data",
        metavar="DIR",
        help="Folder holding the rule's tables, each as NAME.parquet or a folder NAME/ of Parquet files at any depth "
        "(hive folders such as date=2026-11-20/ are fine). A data-lake prefix such as s3://bucket/defender works "
        "too (credentials from the usual AWS variables and profiles).",
        show_default=False,
    ),
]
Tables = Annotated[
    list[str] | None,
    typer.Option(
        "--table",
        metavar="NAME=PATH",
        help="Read table NAME from a Parquet file, folder or glob instead of --data. Repeatable.",
        show_default=False,
    ),
]
Now = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="The instant the rule runs at: ISO-8601 (UTC when no zone is given), 'now' (the default: the current "
        "UTC time) or 'latest' (the newest value of the rule's clock column, rule.toml `clock`, to replay an old "
        "export).",
        show_default=False,
    ),
]
Params = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        metavar="NAME=VALUE",
        help="Set any rule parameter by name (lists: comma-separated or @FILE). Repeatable.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Plan = Annotated[
    str | None,
    typer.Option(
        "--plan",
        help="Execution plan: straight (the KQL as written, one CTE per stage) or one the rule declares "
        "(`detector rule`); every plan gives the same rows. Default: the rule's default plan.",
        show_default=False,
    ),
]


def rules_dirs_in(args: list[str]) -> list[str]:
    """The --rules-dir values among raw arguments (needed before parsing, to find the rule)."""
    dirs = []
    for i, arg in enumerate(args):
        if arg == "--rules-dir" and i + 1 < len(args):
            dirs.append(args[i + 1])
        elif arg.startswith("--rules-dir="):
            dirs.append(arg.split("=", 1)[1])
    return dirs


def _default_text(p: Param) -> str:
    if p.required:
        return "required"
    if p.default is None:
        return "not set"
    if isinstance(p.default, list):
        return ",".join(p.default) or "''"
    return str(p.default)


def param_options(params: list[Param]) -> list[Any]:
    """Rule parameters as options, built by typer from a function signature (public API only), so they behave and
    print exactly as the options written in code."""
    signature = []
    for p in params:
        metavar, kind = _KIND[p.type]
        info = typer.Option(
            None,
            p.option,
            metavar=metavar,
            help=f"{p.help} ({kind}; default: {_default_text(p)})",
            rich_help_panel=PANEL,
            show_default=False,
        )
        signature.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=str | None))

    def options(**kwargs: Any) -> None:  # never called: only its signature is read
        """Rule parameters."""

    options.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    scratch = typer.Typer(add_completion=False)  # else its completion options would join the rule's
    scratch.command()(options)
    return list(typer.main.get_command(scratch).params)


# The rule and parameter values of the command being invoked (set by RuleCommand.invoke).
_INVOKED: contextvars.ContextVar[tuple[Rule | None, dict[str, Any]]] = contextvars.ContextVar(
    "detector_invoked", default=(None, {})
)


class RuleCommand(Command):
    """A command whose first argument names a rule and whose options include that rule's parameters."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        base = getattr(self, "_base_params", None)
        if base is None:
            base = self._base_params = list(self.params)
        rule = None
        slug = args[0] if args and not args[0].startswith("-") else None
        try:
            dirs = rules_dirs_in(args)
            if slug is not None or len(discover(dirs)) == 1:
                rule = load_rule(slug, dirs)
        except DetectorError as exc:
            if not any(a in ("--help", "-h") for a in args):
                print(f"error: {exc}", file=sys.stderr)
                ctx.exit(2)
        taken = {name for p in base for name in (*p.opts, p.name)}
        wanted = [p for p in (rule.params.values() if rule else ()) if p.option not in taken and p.name not in taken]
        extra = param_options(wanted) if wanted else []
        plain_params(extra)
        self.params = base + extra
        ctx.meta[_META_RULE] = rule
        ctx.meta[_META_PARAMS] = [o.name for o in extra]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        names = ctx.meta.get(_META_PARAMS, [])
        values = {n: ctx.params[n] for n in names if ctx.params.get(n) is not None}
        for n in names:
            ctx.params.pop(n, None)
        token = _INVOKED.set((ctx.meta.get(_META_RULE), values))
        try:
            return super().invoke(ctx)
        finally:
            _INVOKED.reset(token)


def current_rule(slug: str | None, rules_dir: list[Path] | None = None) -> Rule:
    """The rule the command was given (loaded while parsing)."""
    rule = _INVOKED.get()[0]
    return rule if rule is not None else load_rule(slug, [str(d) for d in rules_dir or ()])


def rule_params(generic: list[str] | None) -> dict[str, Any]:
    """The parameters a user set: the rule's generated options, and --param pairs."""
    params = dict(_INVOKED.get()[1])
    for name, value in parse_pairs("--param", generic).items():
        if name in params:
            raise ParamError(name, "given both as an option and as --param")
        params[name] = value
    return params


def parse_pairs(option: str, pairs: list[str] | None) -> dict[str, str]:
    """NAME=VALUE pairs into a dict; the error names the option and the bad pair."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError(option, f"{pair!r} is not NAME=VALUE")
        if name.strip() in out:
            raise ParamError(option, f"{name.strip()} given twice")
        out[name.strip()] = value
    return out


def dirs(rules_dir: list[Path] | None) -> tuple[str, ...]:
    return tuple(str(d) for d in rules_dir or ())


def handle_errors(func: Callable) -> Callable:
    """Turn the tool's own errors into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DetectorError, OSError, ValueError) as exc:
            print(f"error: {_message(exc)}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper


def _message(exc: Exception) -> str:
    if isinstance(exc, SourceError | ParamError | RuleError | DetectorError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def progress_bar(what: str) -> Callable[[float], None] | None:
    """A progress line on stderr for long runs, only when stderr is a terminal (never in pipes or logs)."""
    if not sys.stderr.isatty():
        return None

    def show(percent: float) -> None:
        filled = int(percent / 100 * 30)
        print(f"\r{what} [{'#' * filled}{'.' * (30 - filled)}] {percent:5.1f}%", end="", file=sys.stderr, flush=True)

    return show


def progress_done() -> None:
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr, flush=True)
