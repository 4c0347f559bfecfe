"""The semantics cases as data, for running on every engine (tests/test_engines.py).

One case per scenario of tests/test_semantics.py (which proves them on DuckDB, with the expected answers), plus
cases that stress what engines differ on: set order with mixed case and non-ASCII text, null ports, hostile list
values, many destinations. Here the expected answer is DuckDB's, and every engine must give exactly it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from conftest import NOW, conn, device

IP = "203.0.113.10"
US = timedelta(microseconds=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Case:
    name: str
    devices: list[dict]
    events: list[dict]
    params: dict = field(default_factory=dict)
    now: object = NOW


CASES: list[Case] = []


def case(name: str, devices: list[dict], events: list[dict], now=NOW, **params) -> None:
    CASES.append(Case(name, devices, events, params, now))


# ---- 1. Strings are never null ----
for v in (None, ""):
    case(f"1_missing_device_type_{v!r}", [device("srv", DeviceType=v)], [conn("srv")])
    case(f"1_missing_remote_ip_type_{v!r}", [device("srv")], [conn("srv", RemoteIPType=v)])
case(
    "1_fourtosix_missing_values",
    [device("srv")],
    [conn("srv", "::ffff:198.51.100.1", RemoteIPType=None), conn("srv", None, RemoteIPType="FourToSixMapping")],
)
_ten = [device(f"s{i}") for i in range(10)]
_ten_events = [
    conn(f"s{i}", f"198.51.100.{i}", InitiatingProcessVersionInfoCompanyName=None if i < 5 else "") for i in range(10)
]
case("1_missing_and_empty_company_10", _ten, _ten_events)
case("1_missing_and_empty_company_9", _ten[:9], _ten_events[:9])
case("1_missing_device_name_null", [device("x", DeviceName=None)], [conn("x", DeviceName=None)])
case("1_missing_device_name_empty", [device("x", DeviceName="")], [conn("x", DeviceName=None)])
case(
    "1_lookup_matches_empty_remote_ip",
    [device("srv")],
    [conn("srv", None), conn("ws1", "", RemoteIPType="Private"), conn("ws2", None)],
)
case(
    "1_make_set_keeps_the_empty_url",
    [device("srv")],
    [conn("srv", RemoteUrl=None), conn("srv", RemoteUrl="b.example"), conn("ws", RemoteUrl="a.example")],
)
_dcount = [conn("srv")] + [conn(f"w{i}") for i in range(1, 4)] + [conn("n1", DeviceId=None), conn("n2", DeviceId="")]
case("1_dcount_counts_the_empty_device_id_once", [device("srv")], _dcount)
case("1_dcount_one_more_id", [device("srv")], [*_dcount, conn("w4")])
case(
    "1_numbers_stay_null",
    [device("srv")],
    [conn("srv", RemotePort=None), conn("srv", RemotePort=None), conn("srv", RemotePort=80)],
)
case("1_null_device_timestamp", [device("srv", Timestamp=None)], [conn("srv")])
case("1_null_event_timestamp", [device("srv")], [conn("srv", Timestamp=None)])

# ---- 2. Case ----
for column, value in [
    ("DeviceType", "Workstation"),
    ("DeviceType", "workstation"),
    ("DeviceType", "WORKSTATION"),
    ("OSPlatform", "macOS"),
    ("OSPlatform", "macos"),
    ("OSPlatform", ""),
    ("OSPlatform", None),
    ("OSPlatform", " "),
]:
    case(f"2_server_list_{column}_{value!r}", [device("srv", **{column: value})], [conn("srv")])
for i, columns in enumerate(
    [
        {"RemoteIPType": "Private"},
        {"RemoteIPType": "Loopback"},
        {"RemoteIPType": "private"},
        {"RemoteIPType": "LOOPBACK"},
        {"RemoteIPType": "Reserved"},
        {"ActionType": "ListeningConnectionCreated"},
        {"ActionType": "listeningconnectioncreated"},
        {"ActionType": None},
        {"RemoteIPType": "FourToSixMapping", "RemoteIP": "::ffff:198.51.100.7"},
        {"RemoteIPType": "FourToSixMapping", "RemoteIP": "::FFFF:198.51.100.7"},
        {"RemoteIPType": "FourToSixMapping", "RemoteIP": "::fFfF:198.51.100.7"},
        {"RemoteIPType": "fourtosixmapping", "RemoteIP": "::ffff:198.51.100.7"},
        {"RemoteIPType": "FourToSixMapping", "RemoteIP": "2001:db8::ffff:1"},
        {"RemoteIPType": "FourToSixMapping", "RemoteIP": " ::ffff:198.51.100.7"},
        {"RemoteIPType": "Public", "RemoteIP": "::ffff:198.51.100.7"},
    ]
):
    case(f"2_outbound_filter_{i}", [device("srv")], [conn("srv", **columns)])
case("2_device_names_match_case_sensitively", [device("SRV")], [conn("srv")])
case(
    "2_lookup_key_is_case_sensitive",
    [device("srv")],
    [conn("srv", "2001:db8::a")] + [conn(f"w{i}", "2001:DB8::A") for i in range(6)],
)
case(
    "2_in_list_is_equality_not_like",
    [device("srv")],
    [conn("srv", RemoteIPType="Pub%"), conn("srv", "198.51.100.2", RemoteIPType="Public")],
    excluded_ip_types=["Pub%"],
)

# ---- 3. Nulls in numbers ----
case(
    "3_missing_prevalence_is_kept_and_packed_as_null",
    [device("srv")],
    [conn("srv", ago=timedelta(hours=3)), conn("srv", "198.51.100.3", ago=timedelta(minutes=30))],
    prevalence_window="1h",
)
case("3_details_keep_key_order_and_types", [device("srv")], [conn("srv")])

# ---- 4. Aggregates ----
for n in (9, 10):
    case(
        f"4_vendor_threshold_{n}",
        [device(f"s{i}") for i in range(n)],
        [conn(f"s{i}", f"198.51.100.{i}") for i in range(n)],
    )
case(
    "4_vendor_count_uses_only_outbound_server_events",
    [device(f"s{i}") for i in range(11)] + [device("ws", DeviceType="Workstation")],
    [conn(f"s{i}", f"198.51.100.{i}") for i in range(9)]
    + [
        conn("s9", ActionType="ListeningConnectionCreated"),
        conn("s10", "10.0.0.1", RemoteIPType="Private"),
        conn("ws", "198.51.100.200"),
    ],
)
for n in (5, 6):
    case(f"4_prevalence_threshold_{n}", [device("srv")], [conn("srv")] + [conn(f"w{i}") for i in range(n - 1)])
case("4_prevalence_counts_device_ids_not_rows", [device("srv")], [conn("srv")] * 3 + [conn("w1")] * 10)
case(
    "4_sets_are_distinct_and_sorted",
    [device("srv")],
    [conn("srv", RemoteUrl=u) for u in ["c.example", "a.example", "c.example", "b.example"]]
    + [conn("srv", "198.51.100.1"), conn("srv", IP, RemotePort=80)],
)
for empty in ("devices", "events", "both"):
    case(
        f"4_empty_tables_{empty}",
        [] if empty in ("devices", "both") else [device("srv")],
        [] if empty in ("events", "both") else [conn("srv")],
    )
case(
    "4_join_scopes_the_whole_server",
    [device(f"s{i}") for i in range(10)],
    [
        conn(f"s{i}", f"198.51.100.{i}", ago=3 * DAY, InitiatingProcessVersionInfoCompanyName="Microsoft")
        for i in range(10)
    ]
    + [
        conn("s0", "198.51.100.50", ago=3 * DAY),
        conn("s0", "198.51.100.99", InitiatingProcessVersionInfoCompanyName="Microsoft"),
    ],
)
case(
    "4_first_seen_is_over_all_vendors",
    [device("srv")],
    [conn("srv", ago=3 * DAY, InitiatingProcessVersionInfoCompanyName="Microsoft"), conn("srv")],
)
case(
    "4_every_left_row_of_the_lookup_survives",
    [device("a"), device("b")],
    [conn("a", RemotePort=p) for p in (22, 80, 443)] + [conn("b")],
)
case("4_duplicate_rows_count_but_do_not_multiply", [device("srv")] * 3, [conn("srv")] * 4)

# ---- 5. Time ----
for label, offset in (("edge", timedelta(0)), ("inside", -US)):
    case(f"5_lookback_edge_devices_{label}", [device("srv", ago=14 * DAY + offset)], [conn("srv")])
case("5_lookback_edge_events_out", [device("srv")], [conn("srv", ago=14 * DAY), conn("srv")])
case("5_lookback_edge_events_in", [device("srv")], [conn("srv", ago=14 * DAY - US), conn("srv")])
for label, age in (("edge", DAY), ("inside", DAY - US)):
    case(f"5_new_window_{label}", [device("srv")], [conn("srv", ago=age)])
case("5_prevalence_window_edge", [device("srv")], [conn("srv")] + [conn(f"w{i}", ago=5 * DAY) for i in range(5)])
case("5_prevalence_window_inside", [device("srv")], [conn("srv")] + [conn(f"w{i}", ago=5 * DAY - US) for i in range(5)])
case("5_future_rows", [device("srv", ago=-2 * DAY)], [conn("srv", ago=-timedelta(hours=5))])
case("5_m_means_minutes_out", [device("srv")], [conn("srv", ago=timedelta(minutes=100))], new_window="90m")
case("5_m_means_minutes_in", [device("srv")], [conn("srv", ago=timedelta(minutes=80))], new_window="90m")
case("5_old_data_at_now", [device("srv", ago=30 * DAY)], [conn("srv", ago=30 * DAY)])
case(
    "5_now_with_a_zone",
    [device("srv")],
    [conn("srv", ago=timedelta(hours=23, minutes=59))],
    now="2026-11-20T14:00:00+02:00",
)
case(
    "5_now_without_a_zone_is_utc",
    [device("srv")],
    [conn("srv", ago=timedelta(hours=23, minutes=59))],
    now="2026-11-20T14:00:00",
)
# Across a daylight-saving change (New York, 2026-11-01): 14 days are 336 hours, not 14 calendar days.
_dst_now = "2026-11-08T12:00:00Z"
case(
    "5_windows_are_hours_across_dst",
    [device("srv", Timestamp=NOW.replace(day=8) - 14 * DAY + timedelta(minutes=30))],
    [conn("srv", Timestamp=NOW.replace(day=8) - timedelta(hours=23, minutes=30))],
    now=_dst_now,
)

# ---- 6. The prevalence side query ----
_others = [
    conn("ws1", InitiatingProcessVersionInfoCompanyName="Microsoft"),
    conn("mac1"),
    conn("srv2", ActionType="ListeningConnectionCreated"),
    conn("srv3", RemoteIPType="Private"),
    conn("unknown-device"),
]
_six = [device("srv"), device("ws1", DeviceType="Workstation"), device("mac1", OSPlatform="macOS")]
case("6_prevalence_counts_the_whole_fleet", _six, [conn("srv"), *_others])
case("6_prevalence_counts_the_whole_fleet_5", _six, [conn("srv"), *_others[:4]])
case(
    "6_prevalence_counts_only_its_own_window",
    [device("srv")],
    [conn("srv")] + [conn(f"w{i}", ago=6 * DAY) for i in range(10)],
)

# ---- parameters ----
_p_events = [conn("srv", ago=timedelta(hours=30)), conn("w1"), conn("w2")]
case("p_defaults", [device("srv")], _p_events)
case("p_new_window", [device("srv")], _p_events, new_window="2d")
case("p_max_prevalence", [device("srv")], _p_events, new_window="2d", max_prevalence=3)
case("p_max_vendor_servers", [device("srv")], _p_events, new_window="2d", max_vendor_servers=1)
case("p_no_excluded_ip_types", [device("srv")], [conn("srv", RemoteIPType="Private")], excluded_ip_types=[])
case(
    "p_no_excluded_action_types",
    [device("srv")],
    [conn("srv", ActionType="ListeningConnectionCreated")],
    excluded_action_types=[],
)
case(
    "p_hostile_list_values",
    [device("srv")],
    [conn("srv", RemoteIPType="x'); DROP TABLE t; --"), conn("srv", "198.51.100.4", RemoteIPType="a\\'b")],
    excluded_ip_types=["x'); DROP TABLE t; --", "Private", "{{ 7*7 }}", "/* x */"],
)
case(
    "p_odd_durations",
    [device("srv")],
    [conn("srv", ago=timedelta(hours=36, seconds=5))],
    new_window="36h",
    lookback="1.5d",
)

# ---- what engines differ on: order of sets and of devices, null ports, text that is not ASCII ----


def _vendor(i: int) -> dict:
    return {"InitiatingProcessVersionInfoCompanyName": f"Vendor {i % 3}"}  # each on at most 4 servers: all rare


_names = ["Zulu", "alpha", "Éclair", "zeta", "ärger", "Bravo", "_under", "10-srv", "9-srv", "日本"]
_urls = ["B.example", "a.example", "é.example", "Z.example", "_x.example", "ä.example", "", "%.example"]
case(
    "x_codepoint_order",
    [device(n) for n in _names],
    [
        conn(n, f"198.51.100.{i}", RemotePort=port, RemoteUrl=_urls[(i + k) % len(_urls)], **_vendor(i))
        for i, n in enumerate(_names)
        for k, port in enumerate([443, None, 80, 8443, None])
    ]
    + [conn(n, "2001:DB8::1", RemoteUrl=u, **_vendor(i)) for i, n in enumerate(_names[:3]) for u in _urls]
    + [conn(n, "2001:db8::1", RemotePort=None, **_vendor(i)) for i, n in enumerate(_names[3:5])],
)
case(
    "x_many_destinations_per_server",
    [device("srv"), device("other")],
    [
        conn("srv", f"198.51.{i % 7}.{i}", RemotePort=[None, 22, 443, 8080][i % 4], RemoteUrl=f"u{i % 5}.example")
        for i in range(60)
    ]
    + [conn("other", f"198.51.{i % 7}.{i}", ago=timedelta(hours=i % 40)) for i in range(0, 60, 3)],
)

# ---- the tunings the rule's author suggests (off by default) ----
case(
    "t_privileged_servers",
    [device("srv"), device("srv2"), device("dc1")],
    [conn("srv"), conn("srv2", "198.51.100.5"), conn("dc1", "198.51.100.6")],
    privileged_servers=["dc1", "srv", "not-a-device"],
)
case(
    "t_trusted_urls",
    [device("srv")],
    [
        conn("srv", "198.51.100.1", RemoteUrl="update.rare.example"),
        conn("srv", "198.51.100.2", RemoteUrl="evil.example"),
        conn("srv", "198.51.100.3", RemoteUrl="cdn.rare.example"),
        conn("ws", "198.51.100.3", RemoteUrl="other.example"),  # one untrusted URL for the address: kept
        conn("srv", "198.51.100.4", RemoteUrl=None),  # no URL is never trusted
        conn("srv", "198.51.100.5", RemoteUrl="UPDATE.RARE.EXAMPLE"),  # any case
        conn("srv", "198.51.100.7", RemoteUrl="notrare.example"),  # not a subdomain
    ],
    trusted_urls=["rare.example"],
)
