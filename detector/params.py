"""Parse and validate parameter values: KQL durations, instants, whole numbers, lists.

Every value a user gives is turned into a typed Python value here, before anything reaches SQL. The SQL text
for a value is built by `detector.literals` from these typed values, never by pasting user text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from detector.errors import ParamError
from detector.rule import Rule

# KQL timespan literal units (Kusto reference: scalar-data-types/timespan). `m` is minutes.
_UNITS: dict[str, timedelta] = {}
for _names, _span in (
    (("d", "day", "days"), timedelta(days=1)),
    (("h", "hr", "hrs", "hour", "hours"), timedelta(hours=1)),
    (("m", "min", "minute", "minutes"), timedelta(minutes=1)),
    (("s", "sec", "second", "seconds"), timedelta(seconds=1)),
    (("ms", "milli", "millis", "millisecond", "milliseconds"), timedelta(milliseconds=1)),
    (("microsecond", "microseconds"), timedelta(microseconds=1)),
):
    for _name in _names:
        _UNITS[_name] = _span

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)


def parse_duration(name: str, text: Any) -> timedelta:
    """A KQL timespan literal such as `14d`, `36h`, `90m`, `30s`, `1.5d`; must be positive."""
    if isinstance(text, timedelta):
        span = text
    else:
        match = _DURATION.match(str(text))
        unit = _UNITS.get(match.group(2).lower()) if match else None
        if unit is None:
            raise ParamError(name, f"{text!r} is not a duration (use a KQL timespan such as 14d, 36h, 90m, 30s)")
        span = unit * float(match.group(1))
    if span <= timedelta(0):
        raise ParamError(name, f"{text!r} must be longer than zero")
    if span > timedelta(days=36500):
        raise ParamError(name, f"{text!r} is longer than 100 years")
    # Kusto keeps 100 ns ticks, DuckDB microseconds: a sub-microsecond remainder cannot be represented.
    return timedelta(microseconds=round(span / timedelta(microseconds=1)))


def parse_instant(name: str, text: Any) -> datetime:
    """An ISO-8601 instant; a value without a zone is UTC. Returned as an aware UTC datetime."""
    if isinstance(text, datetime):
        value = text
    else:
        raw = str(text).strip()
        try:
            value = datetime.fromisoformat(_seven_digit_fraction(raw))
        except ValueError:
            raise ParamError(
                name, f"{text!r} is not an ISO-8601 instant (e.g. 2026-11-20T12:00:00Z), 'now' or 'latest'"
            ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _seven_digit_fraction(raw: str) -> str:
    # Kusto and Defender print 7 fractional digits; Python reads at most 6. Truncate, as DuckDB does.
    return re.sub(r"(\.\d{6})\d+", r"\1", raw)


def parse_int(name: str, text: Any, minimum: int | None) -> int:
    if isinstance(text, bool):
        raise ParamError(name, f"{text!r} is not a whole number")
    if isinstance(text, int):
        value = text
    else:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ParamError(name, f"{text!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ParamError(name, f"{value} is below the minimum {minimum}")
    if abs(value) > 2**31 - 1:
        raise ParamError(name, f"{value} is out of range")
    return value


def read_list_file(name: str, path: Any) -> tuple[str, ...]:
    """A list from a file: one value per line; blank lines and lines starting with # are skipped."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line.strip() for line in fh]
    except OSError as exc:
        raise ParamError(name, f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ParamError(name, f"{path} is not UTF-8 text") from None
    return parse_list(name, [line for line in lines if line and not line.startswith("#")])


def parse_list(name: str, value: Any) -> tuple[str, ...]:
    """A list of strings: a Python sequence, comma-separated text (empty text = empty list), or `@FILE`: one
    value per line of FILE."""
    if isinstance(value, str) and value.startswith("@"):
        return read_list_file(name, value[1:])
    if isinstance(value, str):
        if os.sep in value and os.path.isfile(value.strip()):
            raise ParamError(name, f"{value!r} is a file: write @{value.strip()} to read the values from it")
        items = [part.strip() for part in value.split(",")] if value.strip() else []
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ParamError(name, f"{value!r} is not a list of strings")
    for item in items:
        if not isinstance(item, str):
            raise ParamError(name, f"{item!r} is not a string")
        if "\x00" in item:
            raise ParamError(name, "values may not contain NUL characters")
    return tuple(items)


_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def parse_domains(name: str, value: Any) -> tuple[str, ...]:
    """DNS domains, lower-cased; a leading `*.` or `.` is dropped (a domain covers its subdomains anyway)."""
    domains = []
    for item in parse_list(name, value):
        domain = item.strip().lower().removeprefix("*.").removeprefix(".")
        if not _DOMAIN.match(domain):
            raise ParamError(name, f"{item!r} is not a domain name (letters, digits, '-' and '.')")
        domains.append(domain)
    return tuple(domains)


def parse_string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ParamError(name, f"{value!r} is not text")
    if "\x00" in value:
        raise ParamError(name, "values may not contain NUL characters")
    return value


@dataclass(frozen=True)
class Bindings:
    """Validated values for one run: every rule parameter, plus `now` (None = the engine's clock)."""

    values: Mapping[str, Any]
    now: datetime | None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


_PLACEHOLDERS = {"duration": "1d", "int": "1", "list": "a,b", "domains": "example.com", "string": "x"}


def placeholder_bindings(rule: Rule, now: Any = "2026-01-01T00:00:00Z") -> Bindings:
    """The defaults, with a placeholder for each required parameter: enough to render and check the SQL."""
    given = {p.name: _PLACEHOLDERS[p.type] for p in rule.params.values() if p.required}
    return bind(rule, given, now=now)


def bind(rule: Rule, given: Mapping[str, Any] | None = None, now: Any = None) -> Bindings:
    """Validate `given` against the rule's parameters; missing ones take their defaults.

    `now` is an ISO-8601 instant or a datetime; None leaves it to the caller ('now' and 'latest' are
    resolved by the runner, which knows the clock and the data).
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(rule.params))
    if unknown:
        takes = ", ".join(rule.params) or "no parameters"
        raise ParamError(unknown[0], f"unknown parameter; rule {rule.slug} takes: {takes}")
    values: dict[str, Any] = {}
    for name, param in rule.params.items():
        raw = given.get(name)
        raw = param.default if raw is None else raw
        if raw is None and param.required:
            raise ParamError(name, f"rule {rule.slug} needs it: give {param.option} VALUE (or --param {name}=VALUE)")
        if raw is None:  # an optional tuning left unset: templates leave it out
            values[name] = None
        elif param.type == "duration":
            values[name] = parse_duration(name, raw)
        elif param.type == "int":
            values[name] = parse_int(name, raw, param.min)
        elif param.type == "domains":
            values[name] = parse_domains(name, raw)
        elif param.type == "string":
            values[name] = parse_string(name, raw)
        else:
            values[name] = parse_list(name, raw)
    return Bindings(values=values, now=None if now is None else parse_instant("now", now))
