"""The contract: every item of ../shared/spec/semantics.md (docs/kusto-vs-sql.md), through the real runner.

Each test names the item it proves. Rows go to Parquet in a temporary folder and through detector.api.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import conn, device

IP = "203.0.113.10"
US = timedelta(microseconds=1)


# ---- 1. Strings are never null -------------------------------------------------------------------------


@pytest.mark.parametrize("device_type", [None, ""])
def test_1_missing_device_type_is_a_server(fleet, device_type):
    assert fleet.alerts([device("srv", DeviceType=device_type)], [conn("srv")]) == {"srv": [(IP, 443)]}


@pytest.mark.parametrize("ip_type", [None, ""])
def test_1_missing_remote_ip_type_is_kept(fleet, ip_type):
    assert fleet.alerts([device("srv")], [conn("srv", RemoteIPType=ip_type)]) == {"srv": [(IP, 443)]}


def test_1_fourtosix_exclusion_keeps_rows_with_missing_values(fleet):
    events = [
        conn("srv", "::ffff:198.51.100.1", RemoteIPType=None),  # type missing: not FourToSixMapping
        conn("srv", None, RemoteIPType="FourToSixMapping"),  # address missing: does not start with ::ffff:
    ]
    assert fleet.alerts([device("srv")], events) == {"srv": [("", 443), ("::ffff:198.51.100.1", 443)]}


def test_1_missing_and_empty_company_are_one_vendor(fleet):
    # 5 servers with a null company and 5 with "": one group of 10 servers, not a rare vendor.
    devices = [device(f"s{i}") for i in range(10)]
    events = [
        conn(f"s{i}", f"198.51.100.{i}", InitiatingProcessVersionInfoCompanyName=None if i < 5 else "")
        for i in range(10)
    ]
    assert fleet.alerts(devices, events) == {}
    # 9 of them: the "" vendor is rare, and its servers are in scope.
    assert set(fleet.alerts(devices[:9], events[:9])) == {f"s{i}" for i in range(9)}


def test_1_missing_device_name_is_the_empty_name(fleet):
    # DeviceInfo with no DeviceName puts "" in server_list, which matches events with no DeviceName.
    assert fleet.alerts([device("x", DeviceName=None)], [conn("x", DeviceName=None)]) == {"": [(IP, 443)]}
    assert fleet.alerts([device("x", DeviceName="")], [conn("x", DeviceName=None)]) == {"": [(IP, 443)]}


def test_1_lookup_matches_empty_remote_ip(fleet):
    # The server's own row has RemoteIP null; two other devices sent RemoteIP "". All are one destination "".
    events = [conn("srv", None), conn("ws1", "", RemoteIPType="Private"), conn("ws2", None)]
    [record] = fleet.run([device("srv")], events)
    assert record["set_Details"] == [
        {"RemoteIP": "", "RemotePort": 443, "Count": 1, "Prevalence": 3, "URLs": ["update.rare.example"]}
    ]


def test_1_make_set_keeps_the_empty_url(fleet):
    events = [
        conn("srv", RemoteUrl=None),
        conn("srv", RemoteUrl="b.example"),
        conn("ws", RemoteUrl="a.example"),
    ]
    [record] = fleet.run([device("srv")], events)
    assert record["set_Details"][0]["URLs"] == ["", "a.example", "b.example"]


def test_1_dcount_counts_the_empty_device_id_once(fleet):
    # Prevalence: srv, plus devices with DeviceId null and "" (one value) and w1..w3 = 5 < 6: alerts.
    base = [conn("srv")] + [conn(f"w{i}") for i in range(1, 4)]
    events = base + [conn("n1", DeviceId=None), conn("n2", DeviceId="")]
    [record] = fleet.run([device("srv")], events)
    assert record["set_Details"][0]["Prevalence"] == 5
    # One more distinct id makes 6: no alert.
    assert fleet.alerts([device("srv")], [*events, conn("w4")]) == {}


def test_1_numbers_stay_null(fleet):
    events = [conn("srv", RemotePort=None), conn("srv", RemotePort=None), conn("srv", RemotePort=80)]
    [record] = fleet.run([device("srv")], events)
    assert [(d["RemotePort"], d["Count"]) for d in record["set_Details"]] == [(80, 1), (None, 2)]


def test_1_null_timestamp_matches_no_window(fleet):
    assert fleet.alerts([device("srv", Timestamp=None)], [conn("srv")]) == {}
    assert fleet.alerts([device("srv")], [conn("srv", Timestamp=None)]) == {}


# ---- 2. Case --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "alerts"),
    [
        ("DeviceType", "Workstation", False),
        ("DeviceType", "workstation", True),  # `<>` is case-sensitive
        ("DeviceType", "WORKSTATION", True),
        ("OSPlatform", "macOS", False),
        ("OSPlatform", "macos", True),
        ("OSPlatform", "", False),  # isnotempty
        ("OSPlatform", None, False),
        ("OSPlatform", " ", True),  # a space is not empty
    ],
)
def test_2_server_list_comparisons(fleet, column, value, alerts):
    result = fleet.alerts([device("srv", **{column: value})], [conn("srv")])
    assert bool(result) is alerts


@pytest.mark.parametrize(
    ("columns", "alerts"),
    [
        ({"RemoteIPType": "Private"}, False),
        ({"RemoteIPType": "Loopback"}, False),
        ({"RemoteIPType": "private"}, True),  # `!in` is case-sensitive
        ({"RemoteIPType": "LOOPBACK"}, True),
        ({"RemoteIPType": "Reserved"}, True),
        ({"ActionType": "ListeningConnectionCreated"}, False),
        ({"ActionType": "listeningconnectioncreated"}, True),
        ({"ActionType": None}, True),
        ({"RemoteIPType": "FourToSixMapping", "RemoteIP": "::ffff:198.51.100.7"}, False),
        (
            {"RemoteIPType": "FourToSixMapping", "RemoteIP": "::FFFF:198.51.100.7"},
            False,
        ),  # startswith ignores case
        ({"RemoteIPType": "FourToSixMapping", "RemoteIP": "::fFfF:198.51.100.7"}, False),
        (
            {"RemoteIPType": "fourtosixmapping", "RemoteIP": "::ffff:198.51.100.7"},
            True,
        ),  # == is case-sensitive
        (
            {"RemoteIPType": "FourToSixMapping", "RemoteIP": "2001:db8::ffff:1"},
            True,
        ),  # contains, not startswith
        ({"RemoteIPType": "FourToSixMapping", "RemoteIP": " ::ffff:198.51.100.7"}, True),
        ({"RemoteIPType": "Public", "RemoteIP": "::ffff:198.51.100.7"}, True),
    ],
)
def test_2_outbound_filters(fleet, columns, alerts):
    result = fleet.alerts([device("srv")], [conn("srv", **columns)])
    assert bool(result) is alerts


def test_2_device_names_match_case_sensitively(fleet):
    assert fleet.alerts([device("SRV")], [conn("srv")]) == {}


def test_2_lookup_key_is_case_sensitive(fleet):
    # Six workstations contacted the upper-case spelling of the address: a different key, so still rare.
    events = [conn("srv", "2001:db8::a")] + [conn(f"w{i}", "2001:DB8::A") for i in range(6)]
    [record] = fleet.run([device("srv")], events)
    assert record["set_Details"][0]["Prevalence"] == 1


def test_2_startswith_escapes_like_wildcards(fleet):
    # A custom excluded value containing LIKE wildcards is compared literally (in_list is equality, not LIKE).
    events = [conn("srv", RemoteIPType="Pub%"), conn("srv", "198.51.100.2", RemoteIPType="Public")]
    assert fleet.alerts([device("srv")], events, excluded_ip_types=["Pub%"]) == {"srv": [("198.51.100.2", 443)]}


# ---- 3. Nulls in numbers ---------------------------------------------------------------------------------


def test_3_missing_prevalence_is_kept_and_packed_as_null(fleet):
    # With a prevalence window shorter than the connection's age, the lookup finds nothing: Prevalence is null,
    # `Prevalence < 6` is null, `isempty(Prevalence)` is true: the row stays, and Details keeps null values.
    [record] = fleet.run([device("srv")], [conn("srv", ago=timedelta(hours=3))], prevalence_window="1h")
    assert record["set_Details"] == [{"RemoteIP": IP, "RemotePort": 443, "Count": 1, "Prevalence": None, "URLs": None}]


def test_3_details_keep_key_order_and_types(fleet):
    [record] = fleet.run([device("srv")], [conn("srv")])
    assert list(record) == ["DeviceName", "set_Details"]
    assert list(record["set_Details"][0]) == ["RemoteIP", "RemotePort", "Count", "Prevalence", "URLs"]


# ---- 4. Aggregates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("servers", "alerts"), [(9, True), (10, False)])
def test_4_vendor_threshold_is_exact(fleet, servers, alerts):
    devices = [device(f"s{i}") for i in range(servers)]
    # Each server contacts its own address, so prevalence never stands in the way.
    events = [conn(f"s{i}", f"198.51.100.{i}") for i in range(servers)]
    assert bool(fleet.alerts(devices, events)) is alerts


def test_4_vendor_count_uses_only_outbound_server_events(fleet):
    # The vendor runs on 12 devices: 9 servers, 1 workstation, 1 server seen only listening, 1 only on
    # private traffic. Only 9 count, so it is rare.
    devices = [device(f"s{i}") for i in range(11)] + [device("ws", DeviceType="Workstation")]
    events = [conn(f"s{i}", f"198.51.100.{i}") for i in range(9)]
    events += [
        conn("s9", ActionType="ListeningConnectionCreated"),
        conn("s10", "10.0.0.1", RemoteIPType="Private"),
    ]
    events += [conn("ws", "198.51.100.200")]
    assert len(fleet.alerts(devices, events)) == 9


@pytest.mark.parametrize(("devices_seen", "alerts"), [(5, True), (6, False)])
def test_4_prevalence_threshold_is_exact(fleet, devices_seen, alerts):
    events = [conn("srv")] + [conn(f"w{i}") for i in range(devices_seen - 1)]
    assert bool(fleet.alerts([device("srv")], events)) is alerts


def test_4_prevalence_counts_device_ids_not_rows(fleet):
    events = [conn("srv")] * 3 + [conn("w1")] * 10
    [record] = fleet.run([device("srv")], events)
    assert (record["set_Details"][0]["Count"], record["set_Details"][0]["Prevalence"]) == (3, 2)


def test_4_sets_are_distinct_and_sorted(fleet):
    urls = ["c.example", "a.example", "c.example", "b.example"]
    events = [conn("srv", RemoteUrl=u) for u in urls] + [
        conn("srv", "198.51.100.1"),
        conn("srv", IP, RemotePort=80),
    ]
    [record] = fleet.run([device("srv")], events)
    assert [(d["RemoteIP"], d["RemotePort"]) for d in record["set_Details"]] == [
        ("198.51.100.1", 443),
        (IP, 80),
        (IP, 443),
    ]
    # URLs are per address (the lookup key), so port 80's default URL is in the set of port 443 too.
    assert record["set_Details"][2]["URLs"] == ["a.example", "b.example", "c.example", "update.rare.example"]


@pytest.mark.parametrize("empty", ["devices", "events", "both"])
def test_4_empty_tables_give_no_alerts(fleet, empty):
    devices = [] if empty in ("devices", "both") else [device("srv")]
    events = [] if empty in ("events", "both") else [conn("srv")]
    assert fleet.run(devices, events) == []


def test_4_join_scopes_the_whole_server_and_its_common_vendors(fleet):
    # A server with one rare vendor: its new connections by a common vendor alert too (the baseline is per
    # server, not per vendor). The common vendor is on 10 servers.
    devices = [device(f"s{i}") for i in range(10)]
    events = [
        conn(
            f"s{i}",
            f"198.51.100.{i}",
            ago=timedelta(days=3),
            InitiatingProcessVersionInfoCompanyName="Microsoft",
        )
        for i in range(10)
    ]
    events += [
        conn("s0", "198.51.100.50", ago=timedelta(days=3)),  # the rare vendor, old traffic
        conn("s0", "198.51.100.99", InitiatingProcessVersionInfoCompanyName="Microsoft"),
    ]  # new, common
    assert fleet.alerts(devices, events) == {"s0": [("198.51.100.99", 443)]}


def test_4_first_seen_is_over_all_vendors_of_the_server(fleet):
    # The rare vendor's connection today is to an address another process of the same server used 3 days ago.
    events = [
        conn("srv", ago=timedelta(days=3), InitiatingProcessVersionInfoCompanyName="Microsoft"),
        conn("srv"),
    ]
    assert fleet.alerts([device("srv")], events) == {}


def test_4_output_columns_are_named_as_kusto_names_them(fleet):
    [nested] = fleet.run([device("srv")], [conn("srv")])
    [flat] = fleet.run([device("srv")], [conn("srv")], flat=True)
    assert list(nested) == ["DeviceName", "set_Details"]
    assert list(flat) == [
        "DeviceName",
        "RemoteIP",
        "RemotePort",
        "Count",
        "starttime",
        "endtime",
        "Prevalence",
        "URLs",
    ]


def test_4_every_left_row_of_the_lookup_survives(fleet):
    # Two servers, three ports on one address: one prevalence row serves all of them.
    events = [conn("a", RemotePort=p) for p in (22, 80, 443)] + [conn("b")]
    result = fleet.alerts([device("a"), device("b")], events)
    assert result == {"a": [(IP, 22), (IP, 80), (IP, 443)], "b": [(IP, 443)]}


def test_4_duplicate_rows_count_but_do_not_multiply(fleet):
    row = conn("srv")
    [record] = fleet.run([device("srv")] * 3, [row] * 4)
    assert record["set_Details"][0]["Count"] == 4


# ---- 5. Time -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "alerts"), [(timedelta(0), False), (-US, True)])
def test_5_lookback_edge_is_strict_for_devices(fleet, offset, alerts):
    assert bool(fleet.alerts([device("srv", ago=timedelta(days=14) + offset)], [conn("srv")])) is alerts


def test_5_lookback_edge_is_strict_for_events(fleet):
    # An event exactly 14 days old is outside the baseline, so today's connection is the first: it alerts.
    events = [conn("srv", ago=timedelta(days=14)), conn("srv")]
    assert fleet.alerts([device("srv")], events) == {"srv": [(IP, 443)]}
    # One microsecond later it is inside, and the connection is old.
    events = [conn("srv", ago=timedelta(days=14) - US), conn("srv")]
    assert fleet.alerts([device("srv")], events) == {}


@pytest.mark.parametrize(("age", "alerts"), [(timedelta(days=1), False), (timedelta(days=1) - US, True)])
def test_5_new_window_edge_is_strict(fleet, age, alerts):
    assert bool(fleet.alerts([device("srv")], [conn("srv", ago=age)])) is alerts


def test_5_prevalence_window_edge_is_strict(fleet):
    others = [conn(f"w{i}", ago=timedelta(days=5)) for i in range(5)]  # exactly 5 days: not counted
    [record] = fleet.run([device("srv")], [conn("srv"), *others])
    assert record["set_Details"][0]["Prevalence"] == 1
    others = [conn(f"w{i}", ago=timedelta(days=5) - US) for i in range(5)]  # just inside: 6 devices
    assert fleet.run([device("srv")], [conn("srv"), *others]) == []


def test_5_future_rows_are_inside_every_window(fleet):
    assert fleet.alerts([device("srv", ago=-timedelta(days=2))], [conn("srv", ago=-timedelta(hours=5))]) == {
        "srv": [(IP, 443)]
    }


def test_5_m_means_minutes(fleet):
    assert fleet.alerts([device("srv")], [conn("srv", ago=timedelta(minutes=100))], new_window="90m") == {}
    assert fleet.alerts([device("srv")], [conn("srv", ago=timedelta(minutes=80))], new_window="90m") == {
        "srv": [(IP, 443)]
    }


def test_5_now_is_a_parameter_and_latest_is_the_newest_event(fleet):
    events = [conn("srv", ago=timedelta(days=30))]
    assert fleet.run([device("srv", ago=timedelta(days=30))], events) == []
    [record] = fleet.run([device("srv", ago=timedelta(days=30))], events, now="latest")
    assert record["DeviceName"] == "srv"


def test_5_default_now_is_the_current_time(fleet):
    real_now = datetime.now(UTC)
    d = device("srv", Timestamp=real_now - timedelta(hours=1))
    e = conn("srv", Timestamp=real_now - timedelta(hours=1))
    assert [r["DeviceName"] for r in fleet.run([d], [e], now=None)] == ["srv"]


def test_5_now_with_a_zone_is_converted_to_utc(fleet):
    # 14:00+02:00 is 12:00Z: the connection 2h before 12:00Z is inside the 1d window at either spelling,
    # and one 23h59m before is inside only if the zone is honoured.
    event = conn("srv", ago=timedelta(hours=23, minutes=59))
    assert fleet.alerts([device("srv")], [event], now="2026-11-20T14:00:00+02:00") == {"srv": [(IP, 443)]}
    assert fleet.alerts([device("srv")], [event], now="2026-11-20T14:00:00") == {}


def test_5_local_time_zone_does_not_leak(tmp_path):
    # The same run under a far-off local zone gives the same bytes.
    from helpers import write_fleet

    folder = write_fleet(tmp_path, [device("srv")], [conn("srv", ago=timedelta(hours=23, minutes=30))])
    outputs = []
    for tz in ("UTC", "Pacific/Kiritimati", "America/Los_Angeles"):
        env = {**os.environ, "TZ": tz}
        cmd = [
            sys.executable,
            "-m",
            "detector.cli",
            "run",
            "--data",
            str(folder),
            "--now",
            "2026-11-20T12:00:00",
            "--format",
            "jsonl",
            "--flat",
        ]
        outputs.append(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert '"starttime":"2026-11-19T12:30:00.000000Z"' in outputs[0]


# ---- 6. The prevalence side query -----------------------------------------------------------------------


def test_6_prevalence_counts_the_whole_fleet_unfiltered(fleet):
    # Five other devices contacted the address: workstations, a macOS laptop, a listening socket, a row whose
    # RemoteIPType says Private, an unknown device. With the server they make 6: no alert.
    others = [
        conn("ws1", InitiatingProcessVersionInfoCompanyName="Microsoft"),
        conn("mac1"),
        conn("srv2", ActionType="ListeningConnectionCreated"),
        conn("srv3", RemoteIPType="Private"),
        conn("unknown-device"),
    ]
    devices = [device("srv"), device("ws1", DeviceType="Workstation"), device("mac1", OSPlatform="macOS")]
    assert fleet.alerts(devices, [conn("srv"), *others]) == {}
    [record] = fleet.run(devices, [conn("srv"), *others[:4]])
    assert record["set_Details"][0]["Prevalence"] == 5


def test_6_prevalence_counts_only_its_own_window(fleet):
    others = [conn(f"w{i}", ago=timedelta(days=6)) for i in range(10)]
    [record] = fleet.run([device("srv")], [conn("srv"), *others])
    assert record["set_Details"][0]["Prevalence"] == 1


# ---- parameters change the answer the way the rule says ---------------------------------------------------


def test_parameters_are_honoured(fleet):
    devices = [device("srv")]
    events = [conn("srv", ago=timedelta(hours=30)), conn("w1"), conn("w2")]
    assert fleet.alerts(devices, events) == {}
    assert fleet.alerts(devices, events, new_window="2d") == {"srv": [(IP, 443)]}
    assert fleet.alerts(devices, events, new_window="2d", max_prevalence=3) == {}
    assert fleet.alerts(devices, events, new_window="2d", max_vendor_servers=1) == {}
    private = [conn("srv", RemoteIPType="Private")]
    assert fleet.alerts(devices, private, excluded_ip_types=[]) == {"srv": [(IP, 443)]}
    listening = [conn("srv", ActionType="ListeningConnectionCreated")]
    assert fleet.alerts(devices, listening, excluded_action_types=[]) == {"srv": [(IP, 443)]}
