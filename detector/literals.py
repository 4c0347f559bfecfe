"""Typed Python values to SQL literals, built by sqlglot so quoting is never done by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlglot import exp

# Largest unit first: an interval is written in the biggest unit that divides it exactly.
_INTERVAL_UNITS = (
    ("DAY", timedelta(days=1)),
    ("HOUR", timedelta(hours=1)),
    ("MINUTE", timedelta(minutes=1)),
    ("SECOND", timedelta(seconds=1)),
    ("MICROSECOND", timedelta(microseconds=1)),
)


def literal(value: object) -> exp.Expression:
    """A SQL literal expression for a str, int, timedelta or aware datetime."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no SQL literal for {value!r}")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, timedelta):
        for unit, size in _INTERVAL_UNITS:
            if value % size == timedelta(0):
                return exp.Interval(this=exp.Literal.string(str(value // size)), unit=exp.Var(this=unit))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("datetimes must be timezone-aware")
        text = value.isoformat(sep=" ", timespec="microseconds")
        return exp.cast(exp.Literal.string(text), exp.DataType.build("timestamptz"))
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def sql_literal(value: object, dialect: str = "duckdb") -> str:
    return literal(value).sql(dialect=dialect)


def sql_identifier(name: str, dialect: str = "duckdb") -> str:
    """A quoted identifier (table or column name) in the given dialect."""
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)
