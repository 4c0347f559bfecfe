"""Options shared by the sub-commands (input tables, `now`, rule parameters) and the error handling."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from detector.errors import DetectorError, ParamError, SourceError
from detector.params import read_list_file
from detector.rule import load_rule

# Help texts for the parameters come from the rule card, so they live in one place.
_RULE = load_rule()


def _help(name: str) -> str:
    p = _RULE.params[name]
    default = ",".join(p.default) if isinstance(p.default, list) else p.default
    return f"{p.help} (default: {default})"


PANEL = "Rule parameters"

Data = Annotated[
    str | None,
    typer.Option(
        "--data",
        metavar="DIR",
        help="Folder holding DeviceInfo and DeviceNetworkEvents, each as NAME.parquet or a folder NAME/ of "
        "Parquet files at any depth (hive folders such as date=2026-11-20/ are fine). A data-lake prefix such as "
        "s3://bucket/defender works too (credentials from the usual AWS variables and profiles).",
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
        help="The instant the rule runs at: ISO-8601 (UTC when no zone is given), 'now' (the default: the "
        "current UTC time) or 'latest' (the newest DeviceNetworkEvents Timestamp, to replay an old export).",
        show_default=False,
    ),
]
RuleSlug = Annotated[
    str | None,
    typer.Option("--rule", help="Rule folder under sql/ (needed only when there are several).", show_default=False),
]
Lookback = Annotated[str | None, typer.Option(help=_help("lookback"), rich_help_panel=PANEL, show_default=False)]
NewWindow = Annotated[str | None, typer.Option(help=_help("new_window"), rich_help_panel=PANEL, show_default=False)]
PrevalenceWindow = Annotated[
    str | None, typer.Option(help=_help("prevalence_window"), rich_help_panel=PANEL, show_default=False)
]
MaxVendorServers = Annotated[
    str | None, typer.Option(help=_help("max_vendor_servers"), rich_help_panel=PANEL, show_default=False)
]
MaxPrevalence = Annotated[
    str | None, typer.Option(help=_help("max_prevalence"), rich_help_panel=PANEL, show_default=False)
]
ExcludedActionTypes = Annotated[
    str | None,
    typer.Option(
        help=_help("excluded_action_types") + " Comma-separated; '' for none.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
ExcludedIpTypes = Annotated[
    str | None,
    typer.Option(
        help=_help("excluded_ip_types") + " Comma-separated; '' for none.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
TUNING = "Tuning the rule's author suggests (off by default: the default output is the rule's)"
PrivilegedServers = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="Only these servers (one DeviceName per line, # comments) are in server_list: the servers that hold "
        "domain-wide privileges.",
        rich_help_panel=TUNING,
        show_default=False,
    ),
]
TrustedUrls = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="Trusted domains (one per line, # comments; a domain covers its subdomains, any case): a detail is "
        "dropped when every URL seen for its address is under one of them. A connection without a URL is never "
        "trusted.",
        rich_help_panel=TUNING,
        show_default=False,
    ),
]
Params = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        metavar="NAME=VALUE",
        help="Set any rule parameter by name (for rules other than the default one). Repeatable.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]


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


def rule_params(options: dict[str, Any], generic: list[str] | None) -> dict[str, Any]:
    """The parameters a user set: the command's options named as rule parameters (None = not given), and
    --param pairs. Commands pass their `locals()`: option names are the parameter names."""
    params = {k: v for k, v in options.items() if k in _RULE.params and v is not None}
    for name, value in params.items():
        if isinstance(value, Path):  # list options given as a file
            params[name] = read_list_file(name, value)
    for name, value in parse_pairs("--param", generic).items():
        if name in params:
            raise ParamError(name, "given both as an option and as --param")
        params[name] = value
    return params


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
    if isinstance(exc, SourceError | ParamError | DetectorError):
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
