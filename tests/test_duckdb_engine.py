"""The DuckDB engine (detector/engines/duckdb.py): session settings, progress reporting, spilling under a memory
limit."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime

import pytest

from detector import api
from detector.api import run_rule
from detector.engines import duckdb as engine
from detector.generate import generate_fleet

SEED = "supply_chain_network_connections"

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
    seen: list[float] = []
    with api.session(SEED, data=fleet, now=NOW) as s:
        with_progress = s.execute(progress=seen.append)
        assert with_progress.to_pylist() == s.execute().to_pylist()
    assert all(0 <= p <= 100 for p in seen)


def test_a_run_under_a_small_memory_limit_spills_instead_of_failing(fleet, tmp_path):
    expected = run_rule(SEED, data=fleet, now=NOW)
    assert run_rule(SEED, data=fleet, now=NOW, memory_limit="30MB", threads=1) == expected
