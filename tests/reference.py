"""Plain-Python reference evaluator of the supply-chain hunting rule (no SQL, no DuckDB).

Written straight from the KQL seed (/work/shared/seed/000_4c5ca17301f3cdb9.txt) and the contract
(/work/shared/spec/semantics.md, cited below as "§N"). It is deliberately slow and obvious: it is the oracle the
DuckDB runner is checked against, so every KQL `let` / stage is one small function named after it.

Rows are dicts; a missing key is a null. Timestamps are timezone-aware datetimes (UTC) or None.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

LISTENING = "ListeningConnectionCreated"
FOUR_TO_SIX = "FourToSixMapping"
MAPPED_PREFIX = "::ffff:"

BaselineKey = tuple[str, str, int | None]  # (DeviceName, RemoteIP, RemotePort)


# ---------------------------------------------------------------------------------------------------------------
# Scalar helpers
# ---------------------------------------------------------------------------------------------------------------


def text(row: dict, column: str) -> str:
    # §1: Kusto has no null string; every string column the rule reads is `coalesce(col, '')`.
    value = row.get(column)
    return "" if value is None else value


def timestamp(row: dict) -> datetime | None:
    # §5: datetimes are UTC instants (a naive value is taken as UTC); numbers/datetimes may stay null.
    value = row.get("Timestamp")
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def after_ago(row: dict, now: datetime, window: timedelta) -> bool:
    # §5: `Timestamp > ago(w)` is strict, `ago(w)` is `now - w`; no upper bound; null Timestamp never passes.
    ts = timestamp(row)
    return ts is not None and ts > now - window


def isnotempty(value: str | None) -> bool:
    # §2: isnotempty(s) is true only when s is neither null nor "".
    return value is not None and value != ""


def startswith(value: str, prefix: str) -> bool:
    # §2: `startswith` ignores case ("::FFFF:1.2.3.4" starts with "::ffff:").
    return value.lower().startswith(prefix.lower())


def port_sort_key(port: int | None) -> tuple[bool, int]:
    # Output order (brief): a null RemotePort sorts after every integer port.
    return (port is None, 0 if port is None else port)


# ---------------------------------------------------------------------------------------------------------------
# Shared network-event predicates (the rule repeats them verbatim in ServersWithThirdPartyApps and baseline)
# ---------------------------------------------------------------------------------------------------------------


def not_listening(row: dict, excluded_action_types: Iterable[str]) -> bool:
    # Stage 4, §2: `ActionType <> "ListeningConnectionCreated"` (case-sensitive; null ActionType is "" -> kept).
    return text(row, "ActionType") not in excluded_action_types


def remote_ip_type_allowed(row: dict, excluded_ip_types: Iterable[str]) -> bool:
    # Stage 5, §1/§2: `RemoteIPType !in (...)` is case-sensitive; `== "FourToSixMapping"` is case-sensitive,
    # `startswith "::ffff:"` is not; missing values are "" and therefore kept.
    ip_type = text(row, "RemoteIPType")
    if ip_type in excluded_ip_types:
        return False
    return not (ip_type == FOUR_TO_SIX and startswith(text(row, "RemoteIP"), MAPPED_PREFIX))


def server_events(
    network_events: list[dict],
    servers: set[str],
    now: datetime,
    lookback: timedelta,
    excluded_action_types: Iterable[str],
    excluded_ip_types: Iterable[str],
) -> list[dict]:
    # Stages 2-5 (also the body of ServersWithThirdPartyApps): window, `DeviceName in (set)`, ActionType, IP type.
    # §4: `x in ([])` is false, which falls out of an empty Python set.
    return [
        row
        for row in network_events
        if after_ago(row, now, lookback)
        and text(row, "DeviceName") in servers
        and not_listening(row, excluded_action_types)
        and remote_ip_type_allowed(row, excluded_ip_types)
    ]


# ---------------------------------------------------------------------------------------------------------------
# The rule, one function per `let` / stage
# ---------------------------------------------------------------------------------------------------------------


def server_list(device_info: list[dict], now: datetime, lookback: timedelta) -> set[str]:
    # let server_list, §1/§2/§5: window; isnotempty(OSPlatform); case-sensitive `<>` on coalesced strings
    # (missing DeviceType is a server); make_set keeps "" because strings are never null.
    return {
        text(row, "DeviceName")
        for row in device_info
        if after_ago(row, now, lookback)
        and isnotempty(row.get("OSPlatform"))
        and text(row, "DeviceType") != "Workstation"
        and text(row, "OSPlatform") != "macOS"
    }


def servers_with_third_party_apps(
    network_events: list[dict],
    servers: set[str],
    now: datetime,
    lookback: timedelta,
    max_vendor_servers: int,
    excluded_action_types: Iterable[str],
    excluded_ip_types: Iterable[str],
) -> set[str]:
    # let ServersWithThirdPartyApps, §1/§4: exact dcount(DeviceName) by company (null company == "" company),
    # keep companies with dcount_DeviceName < threshold, inner join back on company, make_set(DeviceName).
    events = server_events(network_events, servers, now, lookback, excluded_action_types, excluded_ip_types)
    servers_by_company: dict[str, set[str]] = {}
    for row in events:
        company = text(row, "InitiatingProcessVersionInfoCompanyName")
        servers_by_company.setdefault(company, set()).add(text(row, "DeviceName"))
    third_party = {company for company, names in servers_by_company.items() if len(names) < max_vendor_servers}
    return {
        text(row, "DeviceName") for row in events if text(row, "InitiatingProcessVersionInfoCompanyName") in third_party
    }


def baseline(
    network_events: list[dict],
    third_party_servers: set[str],
    now: datetime,
    lookback: timedelta,
    excluded_action_types: Iterable[str],
    excluded_ip_types: Iterable[str],
) -> dict[BaselineKey, dict]:
    # let baseline (stages 1-6), §1/§5: summarize Count=count(), starttime=min(Timestamp), endtime=max(Timestamp)
    # by DeviceName, RemoteIP (coalesced strings) and RemotePort (a null port is its own group).
    events = server_events(network_events, third_party_servers, now, lookback, excluded_action_types, excluded_ip_types)
    groups: dict[BaselineKey, dict] = {}
    for row in events:
        key = (text(row, "DeviceName"), text(row, "RemoteIP"), row.get("RemotePort"))
        ts = timestamp(row)
        group = groups.get(key)
        if group is None:
            groups[key] = {"Count": 1, "starttime": ts, "endtime": ts}
        else:
            group["Count"] += 1
            group["starttime"] = min(group["starttime"], ts)
            group["endtime"] = max(group["endtime"], ts)
    return groups


def destinations(baseline_rows: dict[BaselineKey, dict]) -> set[str]:
    # let Destinations: make_set(RemoteIP) over the WHOLE baseline (before stage 7), "" included (§1).
    return {remote_ip for (_, remote_ip, _) in baseline_rows}


def new_connections(baseline_rows: dict[BaselineKey, dict], now: datetime, new_window: timedelta) -> list[dict]:
    # Stage 7, §5: `starttime > ago(1d)`, strict, no upper bound.
    return [
        {"DeviceName": name, "RemoteIP": remote_ip, "RemotePort": port, **stats}
        for (name, remote_ip, port), stats in baseline_rows.items()
        if stats["starttime"] > now - new_window
    ]


def prevalence(
    network_events: list[dict], destination_ips: set[str], now: datetime, prevalence_window: timedelta
) -> dict[str, dict]:
    # Stage 8 right side, §6/§1/§4: ALL events (no server/ActionType/IP-type filter) in the prevalence window
    # with RemoteIP in Destinations; Prevalence = exact dcount(DeviceId) ("" is a value),
    # URLs = make_set(RemoteUrl) ("" kept).
    device_ids: dict[str, set[str]] = {}
    urls: dict[str, set[str]] = {}
    for row in network_events:
        remote_ip = text(row, "RemoteIP")
        if after_ago(row, now, prevalence_window) and remote_ip in destination_ips:
            device_ids.setdefault(remote_ip, set()).add(text(row, "DeviceId"))
            urls.setdefault(remote_ip, set()).add(text(row, "RemoteUrl"))
    return {ip: {"Prevalence": len(device_ids[ip]), "URLs": sorted(urls[ip])} for ip in device_ids}


def lookup_prevalence(rows: list[dict], prevalence_by_ip: dict[str, dict]) -> list[dict]:
    # Stage 8, §1/§4: lookup kind=leftouter on RemoteIP keeps every left row ("" matches ""); no match -> nulls.
    missing = {"Prevalence": None, "URLs": None}
    return [{**row, **prevalence_by_ip.get(row["RemoteIP"], missing)} for row in rows]


def low_prevalence(rows: list[dict], max_prevalence: int) -> list[dict]:
    # Stage 9, §3: `Prevalence < 6 or isempty(Prevalence)` == `Prevalence < 6 OR Prevalence IS NULL`.
    return [row for row in rows if row["Prevalence"] is None or row["Prevalence"] < max_prevalence]


def pack_details(row: dict) -> dict:
    # Stage 10, §3: pack() keeps keys whose value is null, in the order written in the rule.
    return {
        "RemoteIP": row["RemoteIP"],
        "RemotePort": row["RemotePort"],
        "Count": row["Count"],
        "Prevalence": row["Prevalence"],
        "URLs": row["URLs"],
    }


def summarize_details_by_device(rows: list[dict]) -> list[dict]:
    # Stage 11, §4: make_set(Details) by DeviceName -> set_Details; sets are sorted for determinism.
    # Each (DeviceName, RemoteIP, RemotePort) is unique after stage 6, so the Details are already distinct.
    by_device: dict[str, list[dict]] = {}
    for row in sorted(rows, key=flat_sort_key):
        by_device.setdefault(row["DeviceName"], []).append(pack_details(row))
    return [{"DeviceName": name, "set_Details": details} for name, details in sorted(by_device.items())]


def flat_sort_key(row: dict) -> tuple:
    return (row["DeviceName"], row["RemoteIP"], port_sort_key(row["RemotePort"]))


def flat_record(row: dict) -> dict:
    # "remove the below 2 lines" variant: one row per surviving (DeviceName, RemoteIP, RemotePort).
    return {
        "DeviceName": row["DeviceName"],
        "RemoteIP": row["RemoteIP"],
        "RemotePort": row["RemotePort"],
        "Count": row["Count"],
        "starttime": row["starttime"],
        "endtime": row["endtime"],
        "Prevalence": row["Prevalence"],
        "URLs": row["URLs"],
    }


# ---------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------


def evaluate(
    device_info: list[dict],
    network_events: list[dict],
    now: datetime,
    *,
    lookback: timedelta = timedelta(days=14),
    new_window: timedelta = timedelta(days=1),
    prevalence_window: timedelta = timedelta(days=5),
    max_vendor_servers: int = 10,
    max_prevalence: int = 6,
    excluded_action_types: Iterable[str] = (LISTENING,),
    excluded_ip_types: Iterable[str] = ("Private", "Loopback"),
    flat: bool = False,
) -> list[dict]:
    """Evaluate the rule exactly as Kusto would (per semantics.md) on in-memory rows."""
    # §5: now() is one instant for the whole query.
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    excluded_action_types = tuple(excluded_action_types)
    excluded_ip_types = tuple(excluded_ip_types)

    servers = server_list(device_info, now, lookback)
    third_party = servers_with_third_party_apps(
        network_events, servers, now, lookback, max_vendor_servers, excluded_action_types, excluded_ip_types
    )
    base = baseline(network_events, third_party, now, lookback, excluded_action_types, excluded_ip_types)
    rows = new_connections(base, now, new_window)
    rows = lookup_prevalence(rows, prevalence(network_events, destinations(base), now, prevalence_window))
    rows = low_prevalence(rows, max_prevalence)

    if flat:
        return [flat_record(row) for row in sorted(rows, key=flat_sort_key)]
    return summarize_details_by_device(rows)
