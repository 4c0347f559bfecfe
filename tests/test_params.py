"""Parameter parsing: every value is typed and validated before it reaches SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detector.errors import ParamError
from detector.literals import sql_literal
from detector.params import bind, parse_duration, parse_instant, parse_int, parse_list
from detector.rule import load_rule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14d", timedelta(days=14)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),  # m is minutes in a KQL timespan
        ("30s", timedelta(seconds=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5d", timedelta(hours=36)),
        ("2 days", timedelta(days=2)),
        ("10microseconds", timedelta(microseconds=10)),
        ("1H", timedelta(hours=1)),
    ],
)
def test_durations(text, expected):
    assert parse_duration("lookback", text) == expected


@pytest.mark.parametrize("text", ["", "14", "d", "14x", "-1d", "0d", "1d; DROP TABLE x", "1e3d", "99999999d"])
def test_bad_durations_name_the_parameter(text):
    with pytest.raises(ParamError, match="^parameter lookback: "):
        parse_duration("lookback", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T12:00:00Z", datetime(2026, 11, 20, 12, tzinfo=UTC)),
        ("2026-11-20T12:00:00", datetime(2026, 11, 20, 12, tzinfo=UTC)),  # no zone: UTC
        ("2026-11-20 14:00:00+02:00", datetime(2026, 11, 20, 12, tzinfo=UTC)),
        ("2026-11-20T12:00:00.1234567Z", datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
    ],
)
def test_instants(text, expected):
    assert parse_instant("now", text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "20/11/2026", "latest'--"])
def test_bad_instants(text):
    with pytest.raises(ParamError, match="^parameter now: "):
        parse_instant("now", text)


def test_ints():
    assert parse_int("max_prevalence", "6", 1) == 6
    for bad in ("six", "6.5", "-1", True, "1;", str(2**40)):
        with pytest.raises(ParamError, match="max_prevalence"):
            parse_int("max_prevalence", bad, 0)


def test_lists():
    assert parse_list("x", "Private, Loopback") == ("Private", "Loopback")
    assert parse_list("x", "") == ()
    assert parse_list("x", ["a'b"]) == ("a'b",)
    with pytest.raises(ParamError):
        parse_list("x", [1])
    with pytest.raises(ParamError):
        parse_list("x", ["a\x00"])


def test_bind_defaults_follow_the_seed():
    b = bind(load_rule("supply_chain_network_connections"))
    assert b["lookback"] == timedelta(days=14)
    assert b["new_window"] == timedelta(days=1)
    assert b["prevalence_window"] == timedelta(days=5)
    assert b["max_vendor_servers"] == 10
    assert b["max_prevalence"] == 6
    assert b["excluded_action_types"] == ("ListeningConnectionCreated",)
    assert b["excluded_ip_types"] == ("Private", "Loopback")
    assert b.now is None


def test_bind_rejects_unknown_parameters():
    with pytest.raises(ParamError, match="parameter lookbak: unknown parameter"):
        bind(load_rule("supply_chain_network_connections"), {"lookbak": "1d"})


@pytest.mark.parametrize(
    ("value", "duckdb"),
    [
        ("it's", "'it''s'"),
        ("a\\b", "'a\\b'"),
        (timedelta(days=14), "INTERVAL '14' DAY"),
        (timedelta(hours=36), "INTERVAL '36' HOUR"),
        (timedelta(milliseconds=1500), "INTERVAL '1500000' MICROSECOND"),
        (datetime(2026, 11, 20, 12, tzinfo=UTC), "CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ)"),
        (6, "6"),
    ],
)
def test_literals_are_built_by_sqlglot(value, duckdb):
    assert sql_literal(value) == duckdb
