"""Differential test of the rule server_network_connection_anomalies: the runner (detector.api.run_rule over a Parquet
folder) against the plain-Python reference (tests/reference_server_anomalies.py).

Every example is a small random DeviceNetworkEvents table built around the rule's traps, written to Parquet and
evaluated both ways; the answers must be identical, including key order, Python types and UTC-aware datetimes:

- bursts of sightings of one address from a listed server just below, at and above max_count (small max_count
  values, and bursts of 48..51 at the default 50),
- URLs from a small alphabet of tricky hosts for `has_any` over the set's JSON text (a bare domain vs a dotted
  needle, lookalikes, '_' and '/' separators, quotes, backslashes, newlines, control and non-ASCII characters,
  null and ""), known-domain lists drawn from needles with punctuation, upper case and "",
- DeviceName / ActionType / RemoteIPType in mixed case, "" and null; server lists in mixed case or holding "",
- 169.254 addresses and near misses, "" and null RemoteIP,
- timestamps exactly on (and one microsecond either side of) both window edges, recent, old, future, now, null.

FUZZ_EXAMPLES (default 1,000) is split between the test with the default parameters (2/5) and the one with drawn
parameters (3/5); the profile is fixed (derandomize=True), so CI runs the same examples every time.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

_TESTS = Path(__file__).resolve().parent
for _path in (str(_TESTS.parent), str(_TESTS)):  # the repo root (detector/) and tests/ (the reference)
    if _path not in sys.path:
        sys.path.insert(0, _path)

import reference_server_anomalies as reference  # noqa: E402

from detector.api import run_rule  # noqa: E402

RULE = "server_network_connection_anomalies"
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 1000))
US = timedelta(microseconds=1)
TS = pa.timestamp("us", tz="UTC")

# The columns written (the rule reads the first six; the others are passed through to the output, or absent).
SCHEMA = pa.schema(
    [
        ("Timestamp", TS),
        ("DeviceName", pa.string()),
        ("ActionType", pa.string()),
        ("RemoteIP", pa.string()),
        ("RemoteUrl", pa.string()),
        ("RemoteIPType", pa.string()),
        ("DeviceId", pa.string()),
        ("RemotePort", pa.int32()),
        ("ReportId", pa.int64()),
        ("InitiatingProcessFileName", pa.string()),
        ("InitiatingProcessCreationTime", TS),
        ("IsInitiatingProcessRemoteSession", pa.bool_()),
    ]
)

# ------------------------------------------------------------------------------------------------- value pools
SERVER_LIST_NAMES = ["srv01", "srv02", "SRV01", "Srv02", "web01", ""]
DEVICE_NAMES = ["srv01", "srv01", "srv02", "SRV01", "web01", "ws01", "", None]
ACTION_TYPES = ["ConnectionSuccess"] * 5 + ["connectionsuccess", "CONNECTIONSUCCESS", "ConnectionFailed", "", None]
IP_TYPES = ["Public"] * 5 + ["Private", "private", "PRIVATE", "Loopback", "loopback", "Reserved", "", None]
REMOTE_IPS = [
    "203.0.113.1",
    "203.0.113.2",
    "198.51.100.3",
    "2001:db8::1",
    "169.254.1.1",
    "169.254.169.254",
    "169.254",
    "169.2541.0.1",
    "10.169.254.1",
    " 169.254.1.1",
    "",
    None,
]
PUBLIC_IPS = ["203.0.113.1", "203.0.113.2", "198.51.100.3", "2001:db8::1", "169.254", "10.169.254.1", ""]
REMOTE_URLS = [
    None,
    "",
    "cdn.rare.example",
    "microsoft.com",
    "www.microsoft.com",
    "WWW.Microsoft.COM",
    "download.windowsupdate.com",
    "login.live.com",
    "login.live.com.evil.net",
    "xlogin.live.com",
    "x_login.live.com",
    "ocsp.digicert.community",
    "ocsp.digicert.com:80",
    "https://login.microsoftonline.com/common",
    "https://evil.example/login.live.comx",
    "evil.example\nlogin.live.com",
    'q"login.live.com',
    "b\\login.live.com",
    "c\x01login.live.com",
    "é.example",
    "É.example",
    "a-b.example",
    "x_y.example",
    "b/c",
]
KNOWN_NEEDLES = [
    ".microsoft.com",
    ".windowsupdate.com",
    "login.live.com",
    "LOGIN.LIVE.COM",
    "ocsp.digicert.com",
    "evil.example",
    "a-b.example",
    "x_y",
    "b/c",
    "É.EXAMPLE",
    "com",
    ".",
    '"login',
    "",
]
DURATIONS = {"30d": timedelta(days=30), "10d": timedelta(days=10), "5d": timedelta(days=5), "2d": timedelta(days=2)}
DURATIONS |= {"36h": timedelta(hours=36), "1d": timedelta(days=1), "12h": timedelta(hours=12)}
DURATIONS |= {"40d": timedelta(days=40), "3d": timedelta(days=3)}


@dataclass
class Example:
    now: datetime
    params: dict = field(default_factory=dict)  # what run_rule gets (only what is drawn)
    kwargs: dict = field(default_factory=dict)  # what the reference gets (the values in effect)
    rows: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------- strategies
def nows() -> st.SearchStrategy[datetime]:
    base = datetime(2020, 1, 1, tzinfo=UTC)
    return st.builds(
        lambda s, us: base + timedelta(seconds=s, microseconds=us),
        st.integers(0, 10 * 365 * 86400),
        st.integers(0, 999_999),
    )


@st.composite
def instants(draw, now: datetime, lookback: timedelta, recent: timedelta, counted: bool = False) -> datetime | None:
    """Window edges (+-1us), recent, old, future, now, null; `counted` keeps to instants inside the lookback (and
    the recent window's edges, which a recent window longer than the lookback puts outside it)."""
    kinds = ["edge", "edge", "recent", "recent", "old", "before", "future", "now", "null"]
    kind = draw(st.sampled_from(["inner", "recent", "old", "now"] if counted else kinds))
    if kind == "edge":
        return now - draw(st.sampled_from([lookback, recent])) + draw(st.sampled_from([timedelta(0), US, -US]))
    if kind == "inner":  # just inside the lookback, or on the recent edge
        return now - draw(st.sampled_from([lookback - US, recent, recent - US, recent + US]))
    if kind == "recent":
        return now - draw(st.integers(0, int(recent / US) - 1)) * US
    if kind == "old":  # inside the lookback (anywhere in it)
        return now - draw(st.integers(0, int(lookback / US) - 1)) * US
    if kind == "before":
        return now - lookback - draw(st.integers(1, 3 * 86400 * 10**6)) * US
    if kind == "future":
        return now + draw(st.integers(1, 86400 * 10**6)) * US
    if kind == "now":
        return now
    return None


def other_columns(now: datetime) -> st.SearchStrategy[dict]:
    """The columns the rule only passes through: one draw among a few combinations (nulls included), to keep
    examples cheap."""
    return st.sampled_from(
        [
            {"DeviceId": "id1", "RemotePort": 443, "ReportId": 1, "InitiatingProcessFileName": "svchost.exe"},
            {"DeviceId": "id2", "RemotePort": 80, "ReportId": 2, "IsInitiatingProcessRemoteSession": False},
            {"DeviceId": "ID1", "RemotePort": 0, "ReportId": 1, "IsInitiatingProcessRemoteSession": True},
            {"DeviceId": "", "RemotePort": None, "ReportId": None, "InitiatingProcessFileName": ""},
            {"InitiatingProcessCreationTime": now - timedelta(hours=1), "ReportId": 3},
            {"InitiatingProcessCreationTime": now - US, "DeviceId": "id1", "InitiatingProcessFileName": "curl.exe"},
            {},
        ]
    )


TRAP_POOLS = {
    "DeviceName": DEVICE_NAMES,
    "ActionType": ACTION_TYPES,
    "RemoteIP": REMOTE_IPS,
    "RemoteIPType": IP_TYPES,
}


@st.composite
def near_row(draw, now: datetime, lookback: timedelta, recent: timedelta, servers: list[str]) -> dict:
    """A row Stage 1 would keep (a listed server's successful connection to a public address), with none, one or
    two of its filtered columns replaced by a value from that column's trap pool (a near miss, or a trap kept)."""
    row = {
        "Timestamp": draw(instants(now, lookback, recent)),
        "DeviceName": draw(st.sampled_from(servers)) if servers else draw(st.sampled_from(DEVICE_NAMES)),
        "ActionType": "ConnectionSuccess",
        "RemoteIP": draw(st.sampled_from(PUBLIC_IPS)),
        "RemoteUrl": draw(st.sampled_from(REMOTE_URLS)),
        "RemoteIPType": "Public",
        **draw(other_columns(now)),
    }
    for column in draw(st.lists(st.sampled_from(sorted(TRAP_POOLS)), max_size=2)):
        row[column] = draw(st.sampled_from(TRAP_POOLS[column]))
    return row


@st.composite
def burst(draw, now: datetime, lookback: timedelta, recent: timedelta, servers: list[str], max_count: int) -> list:
    """Sightings of one address that Stage 1 keeps, numbering about max_count (below, at, above), with a few URLs;
    often one of them recent so the join has something to report."""
    if not servers:
        return []
    size = max(0, max_count + draw(st.sampled_from([-2, -1, -1, 0, 0, 1])))
    ip = draw(st.sampled_from(PUBLIC_IPS))
    urls = draw(st.lists(st.sampled_from(REMOTE_URLS), min_size=1, max_size=3))
    rows = []
    for i in range(size):
        rows.append(
            {
                "Timestamp": draw(instants(now, lookback, recent, counted=True)),
                "DeviceName": draw(st.sampled_from(servers)),
                "ActionType": "ConnectionSuccess",
                "RemoteIP": ip,
                "RemoteUrl": urls[i % len(urls)],
                "RemoteIPType": draw(st.sampled_from(["Public", "Public", "", None, "private"])),
                **draw(other_columns(now)),
            }
        )
    return rows


@st.composite
def examples(draw, drawn_parameters: bool) -> Example:
    now = draw(nows())
    params: dict = {}
    servers = draw(
        st.lists(st.sampled_from(SERVER_LIST_NAMES), min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=3)
    )
    if servers and all(servers) and draw(st.booleans()):
        params["servers"] = ",".join(servers)  # as --servers / --param give it
    else:
        params["servers"] = servers
    lookback, recent, max_count, known = timedelta(days=30), timedelta(days=5), 50, reference.DEFAULT_KNOWN_DOMAINS
    if drawn_parameters:
        if draw(st.booleans()):
            name = draw(st.sampled_from(["30d", "10d", "2d", "36h", "1d"]))
            params["lookback"], lookback = name, DURATIONS[name]
        if draw(st.booleans()):
            name = draw(st.sampled_from(["5d", "1d", "12h", "3d", "40d", "36h"]))
            params["recent"], recent = name, DURATIONS[name]
        if draw(st.integers(0, 4)) > 0:
            max_count = draw(st.integers(0, 5))
            params["max_count"] = max_count
        if draw(st.booleans()):
            known = tuple(draw(st.lists(st.sampled_from(KNOWN_NEEDLES), min_size=0, max_size=4)))
            params["known_domains"] = list(known) if known or draw(st.booleans()) else ""
    listed = [s.strip() for s in params["servers"].split(",")] if isinstance(params["servers"], str) else servers
    rows: list[dict] = []
    # The default max_count (50) takes bursts of 48..51 rows: only sometimes, as they are long.
    n_bursts = draw(st.integers(0, 3 if max_count <= 5 else draw(st.sampled_from([0, 0, 0, 1]))))
    for _ in range(n_bursts):
        rows += draw(burst(now, lookback, recent, listed, max_count))
    rows += draw(st.lists(near_row(now, lookback, recent, listed), min_size=0, max_size=14))
    kwargs = {
        "servers": list(listed),
        "lookback": lookback,
        "recent": recent,
        "max_count": max_count,
        "known_domains": known,
    }
    return Example(now=now, params=params, kwargs=kwargs, rows=list(rows))


# ------------------------------------------------------------------------------------------------- checking
def profile(max_examples: int) -> settings:
    return settings(
        max_examples=max(1, max_examples),
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
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


def write_events(folder: Path, rows: list[dict]) -> Path:
    columns = {f.name: [row.get(f.name) for row in rows] for f in SCHEMA}
    pq.write_table(pa.table(columns, schema=SCHEMA), folder / "DeviceNetworkEvents.parquet")
    return folder


def check(example: Example) -> None:
    note(f"now: {example.now.isoformat()}  params: {example.params!r}  rows: {len(example.rows)}")
    expected = reference.evaluate(example.rows, example.now, **example.kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_events(Path(tmp), example.rows)
        # One DuckDB thread: on tables of a few rows, thread start-up is most of the time (about 20 %).
        actual = run_rule(RULE, data=folder, now=example.now, params=example.params, threads=1)
    note(f"expected: {expected!r}")
    note(f"actual:   {actual!r}")
    assert actual == expected
    assert typed(actual) == typed(expected), "same values, but key order, types or time zones differ"


@profile(FUZZ_EXAMPLES * 2 // 5)
@given(example=examples(drawn_parameters=False))
def test_default_parameters_match_reference(example: Example):
    check(example)


@profile(FUZZ_EXAMPLES - FUZZ_EXAMPLES * 2 // 5)
@given(example=examples(drawn_parameters=True))
def test_drawn_parameters_match_reference(example: Example):
    check(example)


# ---- the reference's own term matching, on operators.md's examples (the oracle must be right first) ----


def test_reference_has_gives_the_spec_answers():
    examples_ = [
        ("KustoExplorerQueryRun", "Explorer", False),
        ("XWindows Server BYOL", "Windows Server BYOL", False),
        ("/providers/microsoft.capacity/reservationorders/x", "/microsoft.capacity/reservationorders/", True),
        ("ntdll.dll", ".dll", True),
        ("report.dllx", ".dll", False),
        ("a.dll.txt", ".dll", True),
        ("powershell -encodedcommand", "-enc", False),
        ("", "x", False),
        ("my_dll_file", "dll", True),
        ("anything", "", False),
    ]
    for haystack, needle, answer in examples_:
        assert reference.has(haystack, needle) is answer, (haystack, needle)
    sets = [
        (["microsoft.com"], ".microsoft.com", False),
        (["www.microsoft.com"], ".microsoft.com", True),
        (["login.live.com.evil.net"], "login.live.com", True),
        (["xlogin.live.com"], "login.live.com", False),
        (["LOGIN.Live.COM"], "login.live.com", True),
        ([""], "x", False),
    ]
    for items, needle, answer in sets:
        assert reference.has(reference.json_text(items), needle) is answer, (items, needle)
    assert reference.json_text(["", "a/b", 'q"', "é"]) == '["","a/b","q\\"","é"]'
    assert reference.join_names(["RemoteIP", "set_RemoteUrl", "count_"], ["Timestamp", "RemoteIP"]) == [
        "Timestamp",
        "RemoteIP1",
    ]
