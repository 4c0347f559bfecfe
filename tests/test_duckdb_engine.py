"""The DuckDB engine (detector/engine.py): session settings, progress reporting, spilling under a memory limit."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime

import pytest

from detector import engine
from detector.api import run_rule
from detector.generate import generate_fleet
from detector.params import bind
from detector.rule import load_rule

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_session_settings():
    con = engine.connect(threads=1, memory_limit="1GB")
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('TimeZone', 'enable_progress_bar_print', 'temp_directory', 'threads')"
        ).fetchall()
    )
    assert settings["TimeZone"] == "UTC"
    assert settings["enable_progress_bar_print"] == "false"  # DuckDB's bar would write into stdout
    assert settings["temp_directory"].startswith(tempfile.gettempdir())
    assert settings["threads"] == "1"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    return generate_fleet(tmp_path_factory.mktemp("f") / "fleet", events=300_000, now=NOW).out


def test_progress_reporting_gives_the_same_rows(fleet):
    rule = load_rule()
    con = engine.connect()
    bindings, found = engine.prepare(con, rule, bind(rule), data=fleet, now=NOW)
    seen: list[float] = []
    with_progress = engine.execute(con, rule, bindings, found, progress=seen.append).table
    assert with_progress.to_pylist() == engine.execute(con, rule, bindings, found).table.to_pylist()
    assert all(0 <= p <= 100 for p in seen)


def test_a_run_under_a_small_memory_limit_spills_instead_of_failing(fleet, tmp_path):
    expected = run_rule(data=fleet, now=NOW)
    assert run_rule(data=fleet, now=NOW, memory_limit="30MB", threads=1) == expected
