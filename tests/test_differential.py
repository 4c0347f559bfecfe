"""Differential test: the DuckDB runner (detector.api.run_rule) against the plain-Python reference.

Every example is a small random fleet from tests/fleet_strategies.py, written to Parquet with tests/helpers.py and
evaluated both ways; the answers must be identical, including key order, Python types and UTC-aware datetimes.

FUZZ_EXAMPLES (default 600) sets the examples of the main nested test; the flat and parameter tests run a third
each, so CI runs 1,000 examples with a fixed seed (derandomize=True). `make fuzz` runs 20,000.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

_TESTS = Path(__file__).resolve().parent
for _path in (str(_TESTS.parent), str(_TESTS)):  # the repo root (detector/) and tests/ (helpers, reference)
    if _path not in sys.path:
        sys.path.insert(0, _path)

import reference  # noqa: E402
from fleet_strategies import Fleet, Parameters, fleets, parameters, windows_of  # noqa: E402
from helpers import write_fleet  # noqa: E402

from detector.api import run_rule  # noqa: E402

SEED = "supply_chain_network_connections"

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 600))


def profile(max_examples: int) -> settings:
    return settings(
        max_examples=max(1, max_examples),
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def typed(value):
    """A structure that also compares key order, exact Python types and UTC-awareness of datetimes."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    if isinstance(value, datetime):
        return ("datetime", value.utcoffset() == timedelta(0), value)
    return (type(value).__name__, value)


def assert_same(actual: list[dict], expected: list[dict]) -> None:
    assert actual == expected
    assert typed(actual) == typed(expected), "same values, but key order, types or time zones differ"


def run_both(fleet: Fleet, *, flat: bool, params: dict | None = None, kwargs: dict | None = None) -> None:
    note(f"DeviceInfo rows: {len(fleet.device_info)}, DeviceNetworkEvents rows: {len(fleet.network_events)}")
    expected = reference.evaluate(fleet.device_info, fleet.network_events, fleet.now, flat=flat, **(kwargs or {}))
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_fleet(Path(tmp), fleet.device_info, fleet.network_events)
        actual = run_rule(SEED, data=folder, now=fleet.now, flat=flat, params=dict(params or {}))
    note(f"expected: {expected!r}")
    note(f"actual:   {actual!r}")
    assert_same(actual, expected)


@profile(FUZZ_EXAMPLES)
@given(fleet=fleets())
def test_nested_output_matches_reference(fleet: Fleet):
    run_both(fleet, flat=False)


@profile(FUZZ_EXAMPLES // 3)
@given(fleet=fleets())
def test_flat_output_matches_reference(fleet: Fleet):
    run_both(fleet, flat=True)


@st.composite
def fleets_with_parameters(draw) -> tuple[Parameters, Fleet, bool]:
    parameters_ = draw(parameters())
    # The fleet targets the drawn windows (+-1us around every edge) and the drawn vendor threshold.
    vendor_threshold = parameters_.kwargs.get("max_vendor_servers", 10)
    fleet = draw(fleets(windows_of(parameters_.kwargs), vendor_threshold))
    return parameters_, fleet, draw(st.booleans())


@profile(FUZZ_EXAMPLES // 3)
@given(case=fleets_with_parameters())
def test_parameters_match_reference(case: tuple[Parameters, Fleet, bool]):
    parameters_, fleet, flat = case
    note(f"params: {parameters_.params!r}")
    run_both(fleet, flat=flat, params=parameters_.params, kwargs=parameters_.kwargs)


# ---- the Spark engine, when PySpark and Java are there (issue: every engine gives the reference's answers) ----

SPARK_EXAMPLES = int(os.environ.get("FUZZ_SPARK_EXAMPLES", 25))


@pytest.fixture(scope="module")
def spark_session():
    from detector.engines import spark as spark_engine

    reason = spark_engine.unavailable()
    if reason:
        pytest.skip(reason)
    return spark_engine.session()  # the active session, shared with tests/test_engines.py


def test_spark_engine_matches_reference(spark_session):
    from detector.api import run_table

    @profile(SPARK_EXAMPLES)
    @given(fleet=fleets(), flat=st.booleans())
    def check(fleet: Fleet, flat: bool) -> None:
        expected = reference.evaluate(fleet.device_info, fleet.network_events, fleet.now, flat=flat)
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_fleet(Path(tmp), fleet.device_info, fleet.network_events)
            actual = run_table(
                SEED, data=folder, now=fleet.now, flat=flat, engine="spark", spark_session=spark_session
            ).to_pylist()
        note(f"expected: {expected!r}")
        note(f"actual:   {actual!r}")
        assert_same(actual, expected)

    check()
