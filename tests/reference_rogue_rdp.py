"""Plain-Python reference evaluator of the "Rouge RDP: Suspicious File Creation" rule (no SQL, no DuckDB).

Written straight from the author's KQL (Cyb3r-Monk/Threat-Hunting-and-Detection, "Initial Access/Rouge RDP -
Suspicious File Creation.md") and the contract (../shared/spec/semantics.md, "§N", and operators.md, "ops N"). It
is deliberately slow and obvious: it is the oracle sql/rogue_rdp_file_creation/ is checked against, so it shares
no code with detector/ (term matching, case folding, join naming and datetime_diff are written again here).

    DeviceNetworkEvents
    | where Timestamp > ago(_query_period)
    | where ActionType in ("ConnectionSuccess")
    | where InitiatingProcessFileName =~ "mstsc.exe"
    | where RemoteIPType == "Public"
    | project Timestamp, DeviceId, DeviceName, InitiatingProcessFileName=tolower(InitiatingProcessFileName),
              InitiatingProcessId, RemoteIP, RemoteUrl, RemotePort, NetworkTimestamp = Timestamp
    | join kind=inner (
        DeviceFileEvents
        | where Timestamp > ago(_query_period)
        | where ActionType in ("FileCreated", "FileModified")
        | where InitiatingProcessFileName =~ "mstsc.exe"
        | where FileName has_any (file_types)
        | extend InitiatingProcessFileName=tolower(InitiatingProcessFileName), FileTimestamp = Timestamp
        ) on InitiatingProcessFileName, DeviceId
    | where datetime_diff('minute', FileTimestamp, NetworkTimestamp) < 60

Rows are dicts; a missing key is a null. Timestamps are timezone-aware datetimes (UTC) or None. The result is a
list of records (dicts in Kusto's column order), sorted as the rule's card sorts them, so that it can be compared
with `detector.api.run_rule` exactly.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_FILE_TYPES = (
    ".dll", ".exe", ".cpl", ".pif", ".com", ".js", ".vbs", ".wsh", ".vbe", ".jse", ".bat", ".cmd", ".lnk", ".url",
    ".png", ".hta", ".svg",
)  # fmt: skip
DEFAULT_QUERY_PERIOD = timedelta(days=7)
DEFAULT_MAX_MINUTES = 60

# Microsoft's documented DeviceFileEvents columns, in its order, with their Kusto types (the table's schema file,
# data rather than code: learn.microsoft.com/defender-xdr/advanced-hunting-devicefileevents-table).
_SCHEMA = Path(__file__).resolve().parent.parent / "sql" / "_tables" / "DeviceFileEvents.toml"
FILE_COLUMNS: dict[str, str] = tomllib.loads(_SCHEMA.read_text(encoding="utf-8"))["columns"]

# The columns of Stage 2's `project`, in its order (the join's left side).
PROJECTED = (
    "Timestamp", "DeviceId", "DeviceName", "InitiatingProcessFileName", "InitiatingProcessId", "RemoteIP",
    "RemoteUrl", "RemotePort", "NetworkTimestamp",
)  # fmt: skip

# The output order of the rule's card: these first, then every other column in output order; nulls last.
SORT_FIRST = (
    "DeviceName", "NetworkTimestamp", "FileTimestamp", "DeviceId", "RemoteIP", "RemotePort", "RemoteUrl",
    "InitiatingProcessId", "FolderPath", "FileName", "ReportId",
)  # fmt: skip

_ASCII_LETTERS_AND_DIGITS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


# ---------------------------------------------------------------------------------------------------------------
# Scalar helpers
# ---------------------------------------------------------------------------------------------------------------


def text(row: dict, column: str) -> str:
    # §1 / ops 0: Kusto has no null string; a missing string is "".
    value = row.get(column)
    return "" if value is None else value


def instant(row: dict, column: str = "Timestamp") -> datetime | None:
    # §5: datetimes are UTC instants (a naive value is taken as UTC); a datetime may be null.
    value = row.get(column)
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def after_ago(row: dict, now: datetime, period: timedelta) -> bool:
    # §5: `Timestamp > ago(p)` is strict, ago(p) = now - p with one now; no upper bound; a null never passes.
    ts = instant(row)
    return ts is not None and ts > now - period


def fold_ascii(value: str) -> str:
    # ops 3 (decision): =~ and has ignore the case of ASCII letters only.
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in value)


def equals_ignoring_case(value: str, other: str) -> bool:
    # ops 3: `=~`.
    return fold_ascii(value) == fold_ascii(other)


def tolower(value: str) -> str:
    # ops 3: tolower() folds Unicode; tolower("") is "".
    return value.lower()


def alphanumeric(char: str) -> bool:
    # ops 1 (decision): alphanumeric means ASCII letters and digits; "_" and non-ASCII characters separate terms.
    return char in _ASCII_LETTERS_AND_DIGITS


def has(haystack: str, needle: str) -> bool:
    """ops 1: `haystack has needle`, ignoring case. Scan every position where the needle occurs; it counts when each
    edge of the needle that is a letter or digit sits at the text's edge or next to a non-alphanumeric character.
    `has ""` is false (decision)."""
    if needle == "":
        return False
    text_, term = fold_ascii(haystack), fold_ascii(needle)
    boundary_before, boundary_after = alphanumeric(term[0]), alphanumeric(term[-1])
    for start in range(len(text_) - len(term) + 1):
        if text_[start : start + len(term)] != term:
            continue
        end = start + len(term)
        if boundary_before and start > 0 and alphanumeric(text_[start - 1]):
            continue
        if boundary_after and end < len(text_) and alphanumeric(text_[end]):
            continue
        return True
    return False


def has_any(haystack: str, needles: Iterable[str]) -> bool:
    # ops 2: true when any element matches; an empty list is false (decision).
    return any(has(haystack, needle) for needle in needles)


def _epoch_microseconds(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def datetime_diff_minutes(a: datetime, b: datetime) -> int:
    # ops 5: `datetime_diff('minute', a, b)` is a - b in minute boundaries crossed: floor both to the minute and
    # subtract (10:00:59 -> 11:00:00 is 60), negative when a is earlier.
    minute = 60_000_000
    return _epoch_microseconds(a) // minute - _epoch_microseconds(b) // minute


def join_names(left: Sequence[str], right: Sequence[str]) -> list[str]:
    # ops 6: the right side's columns after the left's, a taken name getting the smallest free number appended.
    taken = set(left)
    out = []
    for column in right:
        name, n = column, 0
        while name in taken:
            n += 1
            name = f"{column}{n}"
        taken.add(name)
        out.append(name)
    return out


# ---------------------------------------------------------------------------------------------------------------
# The query, stage by stage
# ---------------------------------------------------------------------------------------------------------------


def stage1_mstsc_connections(network_events: Iterable[dict], now: datetime, period: timedelta) -> list[dict]:
    return [
        row
        for row in network_events
        if after_ago(row, now, period)
        and text(row, "ActionType") in ("ConnectionSuccess",)  # `in`: case-sensitive
        and equals_ignoring_case(text(row, "InitiatingProcessFileName"), "mstsc.exe")
        and text(row, "RemoteIPType") == "Public"  # `==`: case-sensitive
    ]


def stage2_project(rows: Iterable[dict]) -> list[dict]:
    # ops 8: exactly these columns, in this order.
    return [
        {
            "Timestamp": instant(row),
            "DeviceId": text(row, "DeviceId"),
            "DeviceName": text(row, "DeviceName"),
            "InitiatingProcessFileName": tolower(text(row, "InitiatingProcessFileName")),
            "InitiatingProcessId": row.get("InitiatingProcessId"),
            "RemoteIP": text(row, "RemoteIP"),
            "RemoteUrl": text(row, "RemoteUrl"),
            "RemotePort": row.get("RemotePort"),
            "NetworkTimestamp": instant(row),
        }
        for row in rows
    ]


def _file_value(row: dict, column: str, kusto_type: str):
    if kusto_type == "string":
        return text(row, column)
    if kusto_type == "datetime":
        return instant(row, column)
    return row.get(column)


def mstsc_file_events(
    file_events: Iterable[dict], now: datetime, period: timedelta, file_types: Sequence[str]
) -> list[dict]:
    """The join's right side: the whole DeviceFileEvents row (columns the data lacks are "" or null), the process
    name lower-cased in its own position (ops 8: extend of an existing column keeps its place), FileTimestamp last."""
    out = []
    for row in file_events:
        if not (
            after_ago(row, now, period)
            and text(row, "ActionType") in ("FileCreated", "FileModified")
            and equals_ignoring_case(text(row, "InitiatingProcessFileName"), "mstsc.exe")
            and has_any(text(row, "FileName"), file_types)
        ):
            continue
        record = {column: _file_value(row, column, kusto_type) for column, kusto_type in FILE_COLUMNS.items()}
        record["InitiatingProcessFileName"] = tolower(record["InitiatingProcessFileName"])
        record["FileTimestamp"] = instant(row)
        out.append(record)
    return out


def stage3_join(left: list[dict], right: list[dict]) -> list[dict]:
    """join kind=inner on InitiatingProcessFileName, DeviceId: every matching pair (no de-duplication of either
    side), "" matching "" (ops 0); the right side's columns renamed after the left's (ops 6)."""
    joined = []
    for connection in left:
        for file in right:
            if (
                connection["InitiatingProcessFileName"] == file["InitiatingProcessFileName"]
                and connection["DeviceId"] == file["DeviceId"]
            ):
                names = join_names(list(connection), list(file))
                joined.append({**connection, **dict(zip(names, file.values(), strict=True))})
    return joined


def stage4_minutes_apart(rows: Iterable[dict], max_minutes: int) -> list[dict]:
    return [r for r in rows if datetime_diff_minutes(r["FileTimestamp"], r["NetworkTimestamp"]) < max_minutes]


def output_columns() -> list[str]:
    right = [*FILE_COLUMNS, "FileTimestamp"]
    return [*PROJECTED, *join_names(PROJECTED, right)]


def _sort_key(record: dict) -> tuple:
    columns = [*SORT_FIRST, *(c for c in output_columns() if c not in SORT_FIRST)]
    # Nulls last; strings by code point (Python's str order); False before True.
    return tuple((record[c] is None, record[c] if record[c] is not None else 0) for c in columns)


def evaluate(
    network_events: Iterable[dict],
    file_events: Iterable[dict],
    now: datetime,
    *,
    query_period: timedelta = DEFAULT_QUERY_PERIOD,
    file_types: Sequence[str] = DEFAULT_FILE_TYPES,
    max_minutes: int = DEFAULT_MAX_MINUTES,
) -> list[dict]:
    """The rule's records on these rows, in the card's order."""
    now = now.astimezone(UTC)
    left = stage2_project(stage1_mstsc_connections(network_events, now, query_period))
    right = mstsc_file_events(file_events, now, query_period, tuple(file_types))
    records = stage4_minutes_apart(stage3_join(left, right), max_minutes)
    return sorted(records, key=_sort_key)
