"""Plain-Python reference evaluator of the "Server Network Connection Anomalies" hunting rule (no SQL, no DuckDB,
nothing from detector/).

Written straight from the KQL (Cyb3rMonk, Threat-Hunting-and-Detection, "Uncategorized/Server Network Connection
Anomaly.md") and the contract (../shared/spec/semantics.md, cited as "semantics N", and ../shared/spec/operators.md,
cited as "operators N"):

    let Servers = dynamic([...]);
    DeviceNetworkEvents
    | where Timestamp > ago(30d)
    | where DeviceName in (Servers) and ActionType == "ConnectionSuccess"
    | where RemoteIPType !in ( "Private", "Loopback" )
    | where RemoteIP !startswith "169.254."
    | summarize make_set(RemoteUrl), count() by RemoteIP
    | where count_ < 50
    | where not ( set_RemoteUrl has_any (".microsoft.com", ...))
    | join kind=inner ( <the same filters over ago(5d)> ) on RemoteIP

It is deliberately slow and obvious: it is the oracle the runner is checked against. Rows are dicts; a missing key
is a null; datetimes are timezone-aware (UTC) or None. The output is a list of records, keys in Kusto's join order,
sorted as the rule declares (every column ascending, nulls last) so the runner's deterministic order can be
compared.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The documented columns of DeviceNetworkEvents and their Kusto types, in Microsoft's order (the table's schema).
_SCHEMA_FILE = Path(__file__).resolve().parent.parent / "sql" / "_tables" / "DeviceNetworkEvents.toml"
COLUMNS: dict[str, str] = tomllib.loads(_SCHEMA_FILE.read_text(encoding="utf-8"))["columns"]

DEFAULT_KNOWN_DOMAINS = (
    ".microsoft.com",
    ".windowsupdate.com",
    "login.microsoftonline.com",
    "login.live.com",
    "autodiscover-s.outlook.com",
    "ocsp.digicert.com",
    "ocsp.verisign.com",
    "login.windows.net",
    "outlook.office365.com",
    "accounts.accesscontrol.windows.net",
)
LEFT_COLUMNS = ("RemoteIP", "set_RemoteUrl", "count_")
# The order the rule's output is sorted in: these first, then every other right-side column in table order.
SORT_FIRST = ("RemoteIP", "Timestamp", "DeviceName", "ReportId", "DeviceId")

_ASCII_LETTERS_DIGITS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


# ---------------------------------------------------------------------------------------------------------------
# Scalars
# ---------------------------------------------------------------------------------------------------------------


def value(row: dict, column: str):
    """A column's value as Kusto sees it: a missing string is "" (semantics 1); other types keep their null."""
    v = row.get(column)
    if COLUMNS[column] == "string":
        return "" if v is None else v
    if COLUMNS[column] == "datetime" and v is not None:
        return (v.replace(tzinfo=UTC) if v.tzinfo is None else v).astimezone(UTC)
    return v


def newer_than(row: dict, now: datetime, window: timedelta) -> bool:
    """`Timestamp > ago(window)`: strict, one `now`, no upper bound; a null Timestamp is never in (semantics 5)."""
    ts = value(row, "Timestamp")
    return ts is not None and ts > now - window


def starts_with_ignoring_case(text: str, prefix: str) -> bool:
    """`startswith` ignores case (semantics 2)."""
    return text.lower().startswith(prefix.lower())


def ascii_fold(text: str) -> str:
    """Case folding for `has`: ASCII letters only (operators 1 and 3, a decision)."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def is_term_char(c: str) -> bool:
    """Terms are runs of ASCII letters and digits; everything else ('_' included) separates them (operators 1)."""
    return c in _ASCII_LETTERS_DIGITS


def has(haystack: str, needle: str) -> bool:
    """`haystack has needle` (operators 1), by scanning every position where the needle occurs (ignoring case): a
    match counts when, if the needle begins with a letter or digit, the character before it is not one (or there is
    none), and, if the needle ends with a letter or digit, the character after it is not one (or there is none).
    `has ""` is false (a decision)."""
    if needle == "":
        return False
    text, word = ascii_fold(haystack), ascii_fold(needle)
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        left_ok = not is_term_char(word[0]) or start == 0 or not is_term_char(text[start - 1])
        right_ok = not is_term_char(word[-1]) or end == len(text) or not is_term_char(text[end])
        if left_ok and right_ok:
            return True
        start = text.find(word, start + 1)
    return False


def has_any(haystack: str, needles: Iterable[str]) -> bool:
    """`has_any`: `has` for any needle; false for an empty list (operators 2, a decision)."""
    return any(has(haystack, n) for n in needles)


def json_text(items: Sequence[str]) -> str:
    """A dynamic array as `has` sees it: its compact JSON serialisation (operators 2)."""
    return json.dumps(list(items), separators=(",", ":"), ensure_ascii=False)


def join_names(left: Sequence[str], right: Sequence[str]) -> list[str]:
    """Kusto's join output names (operators 6): left as is, then each right column, a taken name getting the
    smallest free number appended."""
    taken, names = set(left), []
    for column in right:
        name, n = column, 1
        while name in taken:
            name, n = f"{column}{n}", n + 1
        taken.add(name)
        names.append(name)
    return names


# ---------------------------------------------------------------------------------------------------------------
# The stages
# ---------------------------------------------------------------------------------------------------------------


def server_connections(events: Iterable[dict], now: datetime, window: timedelta, servers: Sequence[str]) -> list[dict]:
    """Stage 1 over `window` (and the join's right side, which repeats it over the recent window)."""
    out = []
    for row in events:
        if not newer_than(row, now, window):
            continue
        # `in` and `==` are case-sensitive (semantics 2); "" is a value like any other (operators 0).
        if value(row, "DeviceName") not in servers or value(row, "ActionType") != "ConnectionSuccess":
            continue
        # `!in` is true on a missing (so "") RemoteIPType (operators 0).
        if value(row, "RemoteIPType") in ("Private", "Loopback"):
            continue
        # `!startswith` is true on "" and ignores case.
        if starts_with_ignoring_case(value(row, "RemoteIP"), "169.254."):
            continue
        out.append(row)
    return out


def rare_addresses(rows: Iterable[dict], max_count: int) -> dict[str, tuple[list[str], int]]:
    """Stage 2: `summarize make_set(RemoteUrl), count() by RemoteIP | where count_ < max_count`. make_set is
    distinct, keeps "" (strings are never null), sorted here (semantics 4)."""
    urls: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for row in rows:
        ip = value(row, "RemoteIP")
        urls.setdefault(ip, set()).add(value(row, "RemoteUrl"))
        counts[ip] = counts.get(ip, 0) + 1
    return {ip: (sorted(urls[ip]), n) for ip, n in counts.items() if n < max_count}


def unknown_destinations(
    rare: dict[str, tuple[list[str], int]], known_domains: Sequence[str]
) -> dict[str, tuple[list[str], int]]:
    """Stage 3: `where not (set_RemoteUrl has_any (known))`: the set's JSON text is searched (operators 2)."""
    return {ip: entry for ip, entry in rare.items() if not has_any(json_text(entry[0]), known_domains)}


def joined(left: dict[str, tuple[list[str], int]], right: list[dict]) -> list[dict]:
    """Stage 4: `join kind=inner (...) on RemoteIP`: one output row per matching right row; "" matches "". The
    columns: the left's, then every documented column of the right, renamed as Kusto's join renames them."""
    right_names = join_names(LEFT_COLUMNS, list(COLUMNS))
    out = []
    for row in right:
        ip = value(row, "RemoteIP")
        if ip not in left:
            continue
        urls, count = left[ip]
        record = {"RemoteIP": ip, "set_RemoteUrl": list(urls), "count_": count}
        for name, column in zip(right_names, COLUMNS, strict=True):
            record[name] = value(row, column)
        out.append(record)
    return out


def sort_key(record: dict) -> tuple:
    """Ascending on every column (SORT_FIRST first), nulls last; text in code point order."""
    order = [*SORT_FIRST, *(c for c in COLUMNS if c not in SORT_FIRST)]
    return tuple((1,) if record[c] is None else (0, record[c]) for c in order)


def evaluate(
    events: list[dict],
    now: datetime,
    *,
    servers: Sequence[str],
    lookback: timedelta = timedelta(days=30),
    recent: timedelta = timedelta(days=5),
    max_count: int = 50,
    known_domains: Sequence[str] = DEFAULT_KNOWN_DOMAINS,
) -> list[dict]:
    """The rule's records for these DeviceNetworkEvents rows at `now`."""
    stage1 = server_connections(events, now, lookback, servers)
    stage2 = rare_addresses(stage1, max_count)
    stage3 = unknown_destinations(stage2, known_domains)
    right = server_connections(events, now, recent, servers)
    return sorted(joined(stage3, right), key=sort_key)
