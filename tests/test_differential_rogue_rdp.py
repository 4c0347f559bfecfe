"""Differential test of rogue_rdp_file_creation: the runner (detector.api.run_rule) against the plain-Python
reference (tests/reference_rogue_rdp.py) on small random tables built to hit the rule's traps.

The traps (sql/rogue_rdp_file_creation/cases/ has one case for each):
- file names from a small alphabet of tricky names ("report.dllx", "x.DLL", "a.dll.txt", "data.jsonl",
  "setup.exe.config", "x.dll_old", "x.dllé", ...) and random short strings over the characters that matter to
  term matching (".", letters of the types, "_", digits, "é", punctuation), null and "";
- process names in mixed case, near misses ("mstsc.exe ", "xmstsc.exe", "mſtsc.exe") and nulls;
- ActionType / RemoteIPType in other cases and nulls;
- few DeviceIds and DeviceNames drawn independently (same name with another id, "" and null ids), so the join's
  keys collide, give cross products and duplicates;
- connection times on and around minute boundaries, and file times a chosen number of minute boundaries away
  (-61 ... 61, two days before), +-1 us around the boundary; times on the query-period edge (+-1 us), null, future;
- parameters: max_minutes around 0 and 60 (negative too), file_types lists (empty, "", needles without a dot,
  punctuation, upper case), query periods of minutes to a month.

FUZZ_EXAMPLES (default 1,000) is the number of scenarios (one to two devices with up to 4 connections and 5 files,
DeviceIds of their own), split between the default-parameter and the drawn-parameter tests. A run of the rule costs
about 0.15 s whatever its size (connection, views, rendering), so each hypothesis example holds SCENARIOS_PER_RUN
(3) scenarios at one `now`: 1,000 scenarios are 334 runs, about a minute on 2 cores. Hypothesis runs derandomized
(a fixed seed), so CI always runs the same examples; `FUZZ_EXAMPLES=20000` for a long run. FUZZ_SPARK_EXAMPLES
(default 0) adds runs on the Spark engine when PySpark and Java are there.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

_TESTS = Path(__file__).resolve().parent
for _path in (str(_TESTS.parent), str(_TESTS)):  # the repo root (detector/) and tests/ (helpers, reference)
    if _path not in sys.path:
        sys.path.insert(0, _path)

import reference_rogue_rdp as reference  # noqa: E402
from helpers import write_table  # noqa: E402

from detector.api import run_rule, run_table  # noqa: E402

RULE = "rogue_rdp_file_creation"
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 1000))  # scenarios, SCENARIOS_PER_RUN to a run
SCENARIOS_PER_RUN = 3
RUNS = -(-FUZZ_EXAMPLES // SCENARIOS_PER_RUN)
SPARK_EXAMPLES = int(os.environ.get("FUZZ_SPARK_EXAMPLES", 0))

US = timedelta(microseconds=1)
MINUTE = timedelta(minutes=1)
TS = pa.timestamp("us", tz="UTC")

NETWORK_SCHEMA = pa.schema(
    [
        ("Timestamp", TS),
        ("DeviceId", pa.string()),
        ("DeviceName", pa.string()),
        ("ActionType", pa.string()),
        ("InitiatingProcessFileName", pa.string()),
        ("InitiatingProcessId", pa.int64()),
        ("RemoteIP", pa.string()),
        ("RemoteUrl", pa.string()),
        ("RemotePort", pa.int32()),
        ("RemoteIPType", pa.string()),
    ]
)
# The columns the rule reads, plus a few it only passes through (the others are absent: "" or null).
FILE_SCHEMA = pa.schema(
    [
        ("Timestamp", TS),
        ("DeviceId", pa.string()),
        ("DeviceName", pa.string()),
        ("ActionType", pa.string()),
        ("FileName", pa.string()),
        ("FolderPath", pa.string()),
        ("FileSize", pa.int64()),
        ("InitiatingProcessFileName", pa.string()),
        ("InitiatingProcessId", pa.int64()),
        ("InitiatingProcessCreationTime", TS),
        ("IsAzureInfoProtectionApplied", pa.bool_()),
        ("ReportId", pa.int64()),
    ]
)

# ---------------------------------------------------------------------------------------------------- value pools
DEVICE_IDS = ["d1", "d1", "d2", "d3", "D1", "", None]
DEVICE_NAMES = ["ws1", "ws1", "ws2", "WS1", "", None]
PROCESS_NAMES = [
    "mstsc.exe",
    "mstsc.exe",
    "mstsc.exe",
    "MSTSC.EXE",
    "Mstsc.Exe",
    "mstsc.exe ",
    "xmstsc.exe",
    "mstsc",
    "m\u017ftsc.exe",  # LATIN SMALL LETTER LONG S: not ASCII, so never =~ "mstsc.exe"
    "rdpclip.exe",
    "",
    None,
]
NETWORK_ACTIONS = ["ConnectionSuccess"] * 4 + ["connectionsuccess", "ConnectionFailed", "", None]
IP_TYPES = ["Public"] * 4 + ["public", "PUBLIC", "Private", "", None]
FILE_ACTIONS = ["FileCreated", "FileCreated", "FileModified", "FileModified", "filecreated", "FileRenamed", "", None]
REMOTE_IPS = ["203.0.113.7", "198.51.100.9", "", None]
REMOTE_URLS = ["rdp.example", "", None]
REMOTE_PORTS = [3389, 443, None]
PROCESS_IDS = [4242, 4242, 9001, None]
FILE_NAMES = [
    "payload.dll",
    "x.DLL",
    "a.dll.txt",
    "report.dllx",
    "data.jsonl",
    "setup.exe.config",
    "x.dll_old",
    "x.dll2",
    "x.dll\u00e9",
    "ntdll.dll",
    "..dll",
    "dll",
    "payloaddll",
    "dll_loader.bat",
    "a.js",
    "a.json",
    "lib.js.map",
    "x.jse",
    "evil.com",
    "x.comx",
    "f.lnk",
    "F.LNK",
    "i.png",
    "notes.txt",
    "main.c++",
    "main.c++x",
    "a|b.txt",
    "xa|b.txt",
    "x.7z",
    "",
    None,
]
NAME_ALPHABET = list(".dlDLxejsJS_1é+c|ab7z ")
NEEDLES = [".dll", ".DLL", ".js", ".jse", "dll", "js", ".c++", "a|b", "7z", ".lnk", "x.dll", "", "."]
MAX_MINUTES = [60, 60, 0, 1, -1, 59, 61, 120, -60]
QUERY_PERIODS = [("7d", timedelta(days=7)), ("1d", timedelta(days=1)), ("90m", timedelta(minutes=90))]
QUERY_PERIODS += [("30d", timedelta(days=30)), ("36h", timedelta(hours=36))]
# File times relative to a connection: this many minute boundaries away (the file's minute minus the connection's).
BOUNDARIES = [-2880, -61, -60, -59, -1, 0, 1, 58, 59, 59, 60, 60, 61, 120]


@dataclass
class Tables:
    now: datetime
    network: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)


def profile(max_examples: int) -> settings:
    return settings(
        max_examples=max(1, max_examples),
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# ---------------------------------------------------------------------------------------------------- strategies
def nows() -> st.SearchStrategy[datetime]:
    """An evaluation instant in 2020-2030: random, or on a whole minute (so edges fall on boundaries)."""
    base = datetime(2020, 1, 1, tzinfo=UTC)
    return st.builds(
        lambda minutes, micros, whole: base + minutes * MINUTE + (timedelta(0) if whole else micros * US),
        st.integers(0, 10 * 365 * 24 * 60),
        st.integers(0, 59_999_999),
        st.booleans(),
    )


@st.composite
def connection_time(draw, now: datetime, period: timedelta) -> datetime | None:
    """On the period's edge (+-1 us), within it (near a minute boundary or anywhere), after now, or null."""
    kind = draw(st.sampled_from(["edge", "inside", "inside", "inside", "inside", "inside", "inside", "future", "null"]))
    if kind == "edge":
        return now - period + draw(st.sampled_from([timedelta(0), US, -US]))
    if kind == "future":
        return now + draw(st.integers(0, 2 * 3600 * 10**6)) * US
    if kind == "null":
        return None
    instant = now - draw(st.integers(0, int(period / US) - 1)) * US
    if draw(st.booleans()):  # move it onto a minute boundary, or 1 us either side of one
        floor = instant - timedelta(seconds=instant.second, microseconds=instant.microsecond)
        instant = floor + draw(st.sampled_from([timedelta(0), US, MINUTE - US, timedelta(seconds=30)]))
    return instant


@st.composite
def file_time(draw, now: datetime, period: timedelta, anchors: list) -> datetime | None:
    """Mostly a chosen number of minute boundaries from one connection's time, at the start, end or middle of that
    minute; else on the period's edge, anywhere, or null."""
    kind = draw(st.sampled_from(["relative"] * 8 + ["edge", "anywhere", "null"]))
    anchors = [a for a in anchors if a is not None]
    if kind == "relative" and anchors:
        anchor = draw(st.sampled_from(anchors))
        floor = anchor - timedelta(seconds=anchor.second, microseconds=anchor.microsecond)
        offset = draw(st.sampled_from([timedelta(0), US, MINUTE - US, timedelta(seconds=draw(st.integers(0, 59)))]))
        return floor + draw(st.sampled_from(BOUNDARIES)) * MINUTE + offset
    if kind == "edge":
        return now - period + draw(st.sampled_from([timedelta(0), US, -US]))
    if kind == "null":
        return None
    return now - draw(st.integers(-3600 * 10**6, int(period / US))) * US


def file_names() -> st.SearchStrategy[str | None]:
    """Mostly the tricky names (about half of them have a default type as a term), else a short random string over
    the characters that matter to term matching."""
    return st.one_of(
        st.sampled_from(FILE_NAMES),
        st.sampled_from(FILE_NAMES),
        st.sampled_from(FILE_NAMES),
        st.text(alphabet=NAME_ALPHABET, max_size=9),
    )


def _nulls(draw, row: dict) -> dict:
    # A missing key and an explicit None are both a null; exercise both spellings.
    return {k: v for k, v in row.items() if v is not None or draw(st.booleans())}


KEPT_PROCESS_NAMES = ["mstsc.exe", "mstsc.exe", "MSTSC.EXE", "Mstsc.Exe"]


@st.composite
def device(draw, devices: list[tuple]) -> tuple:
    """Mostly one of the example's few devices (so that keys collide), sometimes with another DeviceName (the join is
    on DeviceId) or any (DeviceId, DeviceName) from the pools."""
    kind = draw(st.sampled_from(["same", "same", "same", "same", "renamed", "any"]))
    if kind == "any" or not devices:
        return draw(st.sampled_from(DEVICE_IDS)), draw(st.sampled_from(DEVICE_NAMES))
    device_id, name = draw(st.sampled_from(devices))
    return device_id, draw(st.sampled_from(DEVICE_NAMES)) if kind == "renamed" else name


@st.composite
def scenario(draw, now: datetime, period: timedelta, prefix: str) -> Tables:
    """A few connections and files over one or two devices (DeviceIds prefixed, "" and null kept as they are). Each
    filtered column of a row is drawn from its "kept" values (what passes, with the values a careless translation
    gets wrong: MSTSC.EXE, Mstsc.Exe) or, for a near miss (one column) or an "any" row (every column), from the
    whole pool (traps the rule drops: "public", "connectionsuccess", "mstsc.exe ", "m\u017ftsc.exe", nulls)."""
    out = Tables(now=now)
    n_devices = draw(st.sampled_from([1, 1, 2]))
    devices = draw(
        st.lists(
            st.tuples(st.sampled_from(DEVICE_IDS), st.sampled_from(DEVICE_NAMES)),
            min_size=n_devices,
            max_size=n_devices,
        )
    )

    def pick() -> tuple:
        device_id, name = draw(device(devices))
        return (prefix + device_id if device_id else device_id), name

    def filtered(columns: tuple[str, ...]) -> set[str]:
        """The columns of a row drawn from the whole pool: none (kept), one (a near miss) or all (any)."""
        mode = draw(st.sampled_from(["kept"] * 6 + ["near"] * 3 + ["any"]))
        if mode == "kept":
            return set()
        return {draw(st.sampled_from(columns))} if mode == "near" else set(columns)

    def value(column: str, free: set[str], kept: list, pool: list):
        return draw(st.sampled_from(pool if column in free else kept))

    for _ in range(draw(st.sampled_from([1, 1, 2, 2, 3, 4, 0]))):
        free = filtered(("ActionType", "InitiatingProcessFileName", "RemoteIPType"))
        device_id, name = pick()
        row = {
            "Timestamp": draw(connection_time(now, period)),
            "DeviceId": device_id,
            "DeviceName": name,
            "ActionType": value("ActionType", free, ["ConnectionSuccess"], NETWORK_ACTIONS),
            "InitiatingProcessFileName": value("InitiatingProcessFileName", free, KEPT_PROCESS_NAMES, PROCESS_NAMES),
            "InitiatingProcessId": draw(st.sampled_from(PROCESS_IDS)),
            "RemoteIP": draw(st.sampled_from(REMOTE_IPS)),
            "RemoteUrl": draw(st.sampled_from(REMOTE_URLS)),
            "RemotePort": draw(st.sampled_from(REMOTE_PORTS)),
            "RemoteIPType": value("RemoteIPType", free, ["Public"], IP_TYPES),
        }
        out.network.append(_nulls(draw, row))
        if draw(st.integers(0, 5)) == 0:  # the same connection reported twice
            out.network.append(dict(out.network[-1]))
    anchors = [r.get("Timestamp") for r in out.network]
    for i in range(draw(st.sampled_from([1, 2, 2, 3, 4, 5, 0]))):
        free = filtered(("ActionType", "InitiatingProcessFileName"))
        device_id, name = pick()
        row = {
            "Timestamp": draw(file_time(now, period, anchors)),
            "DeviceId": device_id,
            "DeviceName": name,
            "ActionType": value("ActionType", free, FILE_ACTIONS[:4], FILE_ACTIONS),
            "FileName": draw(file_names()),
            "FolderPath": draw(st.sampled_from(["C:\\Users\\u\\Downloads", "", None])),
            "FileSize": draw(st.sampled_from([68, 0, None])),
            "InitiatingProcessFileName": value("InitiatingProcessFileName", free, KEPT_PROCESS_NAMES, PROCESS_NAMES),
            "InitiatingProcessId": draw(st.sampled_from(PROCESS_IDS)),
            "InitiatingProcessCreationTime": draw(st.sampled_from([None, now - timedelta(hours=1)])),
            "IsAzureInfoProtectionApplied": draw(st.sampled_from([False, True, None])),
            "ReportId": draw(st.sampled_from([500 + i, 500 + i, 500, None])),
        }
        out.files.append(_nulls(draw, row))
    return out


@st.composite
def tables(draw, period: timedelta = reference.DEFAULT_QUERY_PERIOD, scenarios: int = 1) -> Tables:
    """One run's tables: `scenarios` independent scenarios (their own devices; "" and null DeviceIds shared, as
    they would be in one fleet) at one `now`."""
    now = draw(nows())
    out = Tables(now=now)
    for k in range(scenarios):
        part = draw(scenario(now, period, f"s{k}-"))
        out.network += part.network
        out.files += part.files
    return out


@dataclass(frozen=True)
class Parameters:
    params: dict  # what run_rule gets (KQL spellings)
    kwargs: dict  # what the reference gets (Python values)


@st.composite
def parameters(draw) -> Parameters:
    params, kwargs = {}, {}
    if draw(st.booleans()):
        params["max_minutes"] = kwargs["max_minutes"] = draw(st.sampled_from(MAX_MINUTES))
    if draw(st.booleans()):
        needles = draw(st.lists(st.sampled_from(NEEDLES), max_size=4))
        params["file_types"] = needles
        kwargs["file_types"] = tuple(needles)
    if draw(st.booleans()):
        text, period = draw(st.sampled_from(QUERY_PERIODS))
        params["query_period"], kwargs["query_period"] = text, period
    return Parameters(params, kwargs)


@st.composite
def tables_with_parameters(draw, scenarios: int = SCENARIOS_PER_RUN) -> tuple[Parameters, Tables]:
    drawn = draw(parameters())
    return drawn, draw(tables(drawn.kwargs.get("query_period", reference.DEFAULT_QUERY_PERIOD), scenarios))


# ---------------------------------------------------------------------------------------------------- comparing
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


def write(folder: Path, data: Tables) -> Path:
    write_table(folder, "DeviceNetworkEvents", data.network, NETWORK_SCHEMA)
    write_table(folder, "DeviceFileEvents", data.files, FILE_SCHEMA)
    return folder


def run_both(data: Tables, parameters_: Parameters | None = None, **engine) -> None:
    parameters_ = parameters_ or Parameters({}, {})
    note(f"now: {data.now.isoformat()}, params: {parameters_.params!r}")
    note(f"DeviceNetworkEvents: {data.network!r}")
    note(f"DeviceFileEvents: {data.files!r}")
    expected = reference.evaluate(data.network, data.files, data.now, **parameters_.kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp), data)
        if engine:
            actual = run_table(RULE, data=folder, now=data.now, params=parameters_.params, **engine).to_pylist()
        else:
            actual = run_rule(RULE, data=folder, now=data.now, params=dict(parameters_.params))
    note(f"expected: {expected!r}")
    note(f"actual:   {actual!r}")
    assert_same(actual, expected)


@profile(RUNS // 2)
@given(data=tables(scenarios=SCENARIOS_PER_RUN))
def test_default_parameters_match_reference(data: Tables):
    run_both(data)


@profile(RUNS - RUNS // 2)
@given(case=tables_with_parameters())
def test_parameters_match_reference(case: tuple[Parameters, Tables]):
    parameters_, data = case
    run_both(data, parameters_)


def test_the_strategies_reach_the_traps():
    """A guard against strategies that stop producing alerts: a fixed draw of tables gives rows, and the reference
    itself answers the named traps as the rule's cases do."""
    assert reference.has("x.DLL", ".dll") and reference.has("a.dll.txt", ".dll")
    assert not reference.has("report.dllx", ".dll") and not reference.has("data.jsonl", ".js")
    assert reference.has("setup.exe.config", ".exe") and reference.has("x.dll_old", ".dll")
    assert not reference.has("mainxc++", ".c++") and reference.has("main.c++x", ".c++")
    assert not reference.has("anything", "") and not reference.has_any("x.dll", [])
    t = datetime(2026, 11, 20, 10, 0, 59, tzinfo=UTC)
    assert reference.datetime_diff_minutes(t.replace(hour=11, second=0), t) == 60
    assert reference.datetime_diff_minutes(t - timedelta(days=2), t) == -2880
    assert reference.join_names(["k", "k1"], ["k", "x"]) == ["k2", "x"]

    alerting, records = 0, 0

    @profile(300)
    @given(data=tables())
    def count(data: Tables) -> None:
        nonlocal alerting, records
        found = reference.evaluate(data.network, data.files, data.now)
        alerting += bool(found)
        records += len(found)

    count()
    assert alerting >= 50 and records >= 2 * alerting, (alerting, records)


# ---- the Spark engine, when PySpark and Java are there (FUZZ_SPARK_EXAMPLES > 0) ----


@pytest.mark.skipif(SPARK_EXAMPLES <= 0, reason="FUZZ_SPARK_EXAMPLES is 0")
def test_spark_engine_matches_reference():
    from detector.engines import spark as spark_engine

    reason = spark_engine.unavailable()
    if reason:
        pytest.skip(reason)
    session = spark_engine.session()

    @profile(SPARK_EXAMPLES)
    @given(case=tables_with_parameters())
    def check(case: tuple[Parameters, Tables]) -> None:
        parameters_, data = case
        run_both(data, parameters_, engine="spark", spark_session=session)

    check()
