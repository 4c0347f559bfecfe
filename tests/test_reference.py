"""Hand-worked cases for the reference evaluator (tests/reference.py): these test the oracle itself.

Each case pins one or more items of /work/shared/spec/semantics.md (cited as §N) with a literal expected output.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ may or may not be a package

from reference import evaluate  # noqa: E402

NOW = datetime(2024, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)
US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
IP = "203.0.113.5"


def server(name: str | None, **overrides) -> dict:
    """A DeviceInfo snapshot that makes `name` a server (recent, non-Workstation, non-macOS OSPlatform)."""
    row = {
        "Timestamp": NOW - HOUR,
        "DeviceId": f"id-{name}",
        "DeviceName": name,
        "DeviceType": "Server",
        "OSPlatform": "WindowsServer2022",
    }
    return {**row, **overrides}


def conn(name: str | None, ip: str | None = IP, port: int | None = 443, **overrides) -> dict:
    """A recent public outbound connection from `name` by software from vendor "Acme"."""
    row = {
        "Timestamp": NOW - HOUR,
        "DeviceId": f"id-{name}",
        "DeviceName": name,
        "ActionType": "ConnectionSuccess",
        "RemoteIP": ip,
        "RemotePort": port,
        "RemoteUrl": "acme.example",
        "RemoteIPType": "Public",
        "InitiatingProcessVersionInfoCompanyName": "Acme",
    }
    return {**row, **overrides}


def devices(result: list[dict]) -> list[str]:
    return [record["DeviceName"] for record in result]


def ips(result: list[dict]) -> list[str]:
    return [detail["RemoteIP"] for record in result for detail in record["set_Details"]]


def test_basic_alert_shape_and_duplicates():
    # Whole pipeline on one server; duplicate rows are counted by count() but not by dcount() (§4);
    # keys appear in the order written in pack() (§3).
    ev = [conn("SRV1"), conn("SRV1"), conn("SRV1", Timestamp=NOW - 2 * HOUR, RemoteUrl="cdn.acme.example")]
    result = evaluate([server("SRV1"), server("SRV1")], ev, NOW)
    assert result == [
        {
            "DeviceName": "SRV1",
            "set_Details": [
                {
                    "RemoteIP": IP,
                    "RemotePort": 443,
                    "Count": 3,
                    "Prevalence": 1,
                    "URLs": ["acme.example", "cdn.acme.example"],
                }
            ],
        }
    ]
    assert list(result[0]) == ["DeviceName", "set_Details"]
    assert list(result[0]["set_Details"][0]) == ["RemoteIP", "RemotePort", "Count", "Prevalence", "URLs"]


def test_server_list_case_and_empty_strings():
    # §1: missing DeviceType is "" -> a server; §2: `<>` is case-sensitive; isnotempty(OSPlatform) rejects
    # null and "". Any snapshot in the window qualifies (DeviceInfo is a stream of snapshots).
    di = [
        server("WS-upper", DeviceType="Workstation"),
        server("WS-lower", DeviceType="workstation"),
        server("NoType", DeviceType=None),
        server("Mac", OSPlatform="macOS"),
        server("MacCase", OSPlatform="MacOS"),
        server("NoOS", OSPlatform=None),
        server("EmptyOS", OSPlatform=""),
        server("Mixed", DeviceType="Workstation"),
        server("Mixed", Timestamp=NOW - 3 * DAY),
    ]
    names = ["WS-upper", "WS-lower", "NoType", "Mac", "MacCase", "NoOS", "EmptyOS", "Mixed"]
    ev = [conn(name, ip=f"198.51.100.{i}") for i, name in enumerate(names)]
    assert devices(evaluate(di, ev, NOW)) == ["MacCase", "Mixed", "NoType", "WS-lower"]


def test_device_name_in_is_case_sensitive_and_null_name_is_empty_string():
    # §2: `DeviceName in (server_list)` is case-sensitive; §1: a null DeviceName is "" on both sides, and make_set
    # keeps "" (it is not null), so the nameless server's events (null or "") form one device "".
    di = [server("SRV1"), server(None)]
    ev = [conn("srv1"), conn(None, port=1), conn("", port=2)]
    result = evaluate(di, ev, NOW)
    assert devices(result) == [""]
    assert [(d["RemotePort"], d["Prevalence"]) for d in result[0]["set_Details"]] == [(1, 3), (2, 3)]


def test_time_windows_are_strict_with_no_upper_bound():
    # §5: `Timestamp > ago(14d)` excludes exactly now-14d, keeps now-14d+1us; null Timestamp never passes;
    # future rows pass. Stage 7 `starttime > ago(1d)` is strict too.
    di = [
        server("Edge", Timestamp=NOW - 14 * DAY),
        server("EdgePlus", Timestamp=NOW - 14 * DAY + US),
        server("NullTs", Timestamp=None),
        server("Future", Timestamp=NOW + 30 * DAY),
    ]
    ev = [
        conn("Edge", ip="198.51.100.1"),
        conn("EdgePlus", ip="198.51.100.2"),
        conn("NullTs", ip="198.51.100.3"),
        conn("Future", ip="198.51.100.4"),
        # EdgePlus -> 198.51.100.9: the event at exactly now-14d is outside the lookback, so starttime is recent.
        conn("EdgePlus", ip="198.51.100.9", Timestamp=NOW - 14 * DAY),
        conn("EdgePlus", ip="198.51.100.9", Timestamp=None),
        conn("EdgePlus", ip="198.51.100.9", Timestamp=NOW - HOUR),
        conn("EdgePlus", ip="198.51.100.9", Timestamp=NOW + HOUR),
        # Stage 7 edge: a group first seen exactly 1d ago is not new; 1d - 1us ago is.
        conn("Future", ip="198.51.100.7", Timestamp=NOW - DAY),
        conn("Future", ip="198.51.100.8", Timestamp=NOW - DAY + US),
        # A group seen 2d ago and again now is not new (starttime is the min).
        conn("Future", ip="198.51.100.6", Timestamp=NOW - 2 * DAY),
        conn("Future", ip="198.51.100.6", Timestamp=NOW),
    ]
    result = evaluate(di, ev, NOW, flat=True)
    assert result == [
        {
            "DeviceName": "EdgePlus",
            "RemoteIP": "198.51.100.2",
            "RemotePort": 443,
            "Count": 1,
            "starttime": NOW - HOUR,
            "endtime": NOW - HOUR,
            "Prevalence": 1,
            "URLs": ["acme.example"],
        },
        {
            "DeviceName": "EdgePlus",
            "RemoteIP": "198.51.100.9",
            "RemotePort": 443,
            "Count": 2,
            "starttime": NOW - HOUR,
            "endtime": NOW + HOUR,
            "Prevalence": 1,
            "URLs": ["acme.example"],
        },
        {
            "DeviceName": "Future",
            "RemoteIP": "198.51.100.4",
            "RemotePort": 443,
            "Count": 1,
            "starttime": NOW - HOUR,
            "endtime": NOW - HOUR,
            "Prevalence": 1,
            "URLs": ["acme.example"],
        },
        {
            "DeviceName": "Future",
            "RemoteIP": "198.51.100.8",
            "RemotePort": 443,
            "Count": 1,
            "starttime": NOW - DAY + US,
            "endtime": NOW - DAY + US,
            "Prevalence": 1,
            "URLs": ["acme.example"],
        },
    ]
    assert list(result[0]) == [
        "DeviceName",
        "RemoteIP",
        "RemotePort",
        "Count",
        "starttime",
        "endtime",
        "Prevalence",
        "URLs",
    ]


def test_action_type_is_case_sensitive_and_null_is_kept():
    # §1/§2: `ActionType <> "ListeningConnectionCreated"` keeps a lowercase variant and a missing ActionType.
    ev = [
        conn("SRV1", port=1, ActionType="ListeningConnectionCreated"),
        conn("SRV1", port=2, ActionType="listeningconnectioncreated"),
        conn("SRV1", port=3, ActionType=None),
    ]
    result = evaluate([server("SRV1")], ev, NOW)
    assert [d["RemotePort"] for d in result[0]["set_Details"]] == [2, 3]


def test_remote_ip_type_filter():
    # §1/§2: `!in` and `==` are case-sensitive, `startswith "::ffff:"` is not; missing type/IP are "" and kept.
    ev = [
        conn("SRV1", ip="10.0.0.1", RemoteIPType="Private"),
        conn("SRV1", ip="10.0.0.2", RemoteIPType="PRIVATE"),
        conn("SRV1", ip="127.0.0.1", RemoteIPType="Loopback"),
        conn("SRV1", ip="10.0.0.3", RemoteIPType=None),
        conn("SRV1", ip="::FFFF:198.51.100.1", RemoteIPType="FourToSixMapping"),
        conn("SRV1", ip="::ffff:198.51.100.2", RemoteIPType="fourtosixmapping"),
        conn("SRV1", ip="2001:db8::1", RemoteIPType="FourToSixMapping"),
        conn("SRV1", ip=None, RemoteIPType="FourToSixMapping"),
    ]
    result = evaluate([server("SRV1")], ev, NOW)
    assert ips(result) == ["", "10.0.0.2", "10.0.0.3", "2001:db8::1", "::ffff:198.51.100.2"]


def test_vendor_threshold_is_exact_and_counts_filtered_servers_only():
    # §4: exact dcount(DeviceName) by company, `< 10`; counted after the server/ActionType/IP-type filters;
    # a server in scope through one vendor brings ALL its filtered connections into the baseline.
    di = [server(f"B{i}") for i in range(10)] + [server(f"S{i}") for i in range(8)]
    di += [server(f"F{i}") for i in range(10)]
    ev = [conn(f"B{i}", ip=f"198.51.100.{i}", InitiatingProcessVersionInfoCompanyName="BigSoft") for i in range(10)]
    ev += [conn(f"S{i}", ip=f"192.0.2.{i}", InitiatingProcessVersionInfoCompanyName="SmallSoft") for i in range(8)]
    ev += [conn("B0", ip="192.0.2.99", InitiatingProcessVersionInfoCompanyName="SmallSoft")]  # 9th SmallSoft server
    # "Filtered": 9 servers with public traffic, a 10th whose only event is Private; and a workstation user.
    ev += [conn(f"F{i}", ip=f"203.0.113.{i}", InitiatingProcessVersionInfoCompanyName="Filtered") for i in range(9)]
    ev += [conn("F9", ip="10.1.1.1", RemoteIPType="Private", InitiatingProcessVersionInfoCompanyName="Filtered")]
    ev += [conn("WS", ip="10.1.1.2", InitiatingProcessVersionInfoCompanyName="Filtered")]
    result = evaluate(di, ev, NOW)
    assert devices(result) == ["B0"] + [f"F{i}" for i in range(9)] + [f"S{i}" for i in range(8)]
    assert result[0]["set_Details"] == [
        {"RemoteIP": "192.0.2.99", "RemotePort": 443, "Count": 1, "Prevalence": 1, "URLs": ["acme.example"]},
        {"RemoteIP": "198.51.100.0", "RemotePort": 443, "Count": 1, "Prevalence": 1, "URLs": ["acme.example"]},
    ]


@pytest.mark.parametrize(("n_null", "n_empty", "in_scope"), [(5, 5, False), (5, 4, True), (0, 9, True)])
def test_null_and_empty_company_are_one_group(n_null, n_empty, in_scope):
    # §1: summarize by company groups null with "", and the inner join matches "" with "".
    names = [f"N{i}" for i in range(n_null)] + [f"E{i}" for i in range(n_empty)]
    companies = [None] * n_null + [""] * n_empty
    ev = [
        conn(name, ip=f"198.51.100.{i}", InitiatingProcessVersionInfoCompanyName=company)
        for i, (name, company) in enumerate(zip(names, companies, strict=True))
    ]
    result = evaluate([server(name) for name in names], ev, NOW)
    assert devices(result) == (sorted(names) if in_scope else [])


@pytest.mark.parametrize(("extra_ids", "expected"), [((), 5), (("w4",), None)])
def test_prevalence_counts_all_devices_distinct_ids(extra_ids, expected):
    # §6: Prevalence counts distinct DeviceId over ALL events (any device, ActionType, IP type) in the strict 5d
    # window; §1/§4: null and "" DeviceId are one value; make_set(RemoteUrl) keeps "" and is case-sensitive.
    ev = [conn("SRV1", RemoteUrl="b.example")]
    others = [
        conn("WS1", DeviceId="w1", ActionType="ListeningConnectionCreated", RemoteUrl=None),
        conn("WS2", DeviceId="w2", RemoteIPType="Private", RemoteUrl="A.example"),
        conn("WS3", DeviceId="w3", RemoteUrl="a.example"),
        conn("WS3", DeviceId="w3", RemoteUrl="a.example"),
        conn("WS4", DeviceId="", RemoteUrl="a.example"),
        conn("WS5", DeviceId=None, RemoteUrl="a.example"),
        conn("OLD", DeviceId="old", Timestamp=NOW - 5 * DAY, RemoteUrl="old.example"),
        conn("NUL", DeviceId="nul", Timestamp=None, RemoteUrl="nul.example"),
        conn("OTHER", DeviceId="other", ip="203.0.113.6", RemoteUrl="other.example"),
    ]
    others += [conn("WSX", DeviceId=i, RemoteUrl="x.example") for i in extra_ids]
    result = evaluate([server("SRV1")], ev + others, NOW)
    if expected is None:
        assert result == []
    else:
        assert result == [
            {
                "DeviceName": "SRV1",
                "set_Details": [
                    {
                        "RemoteIP": IP,
                        "RemotePort": 443,
                        "Count": 1,
                        "Prevalence": expected,
                        "URLs": ["", "A.example", "a.example", "b.example"],
                    }
                ],
            }
        ]


def test_no_prevalence_match_gives_nulls_and_is_kept():
    # §3/§4: lookup leftouter keeps the row with null Prevalence/URLs, and `isempty(Prevalence)` keeps it
    # even when the threshold would drop every real prevalence (max_prevalence=0).
    ev = [conn("SRV1", ip="198.51.100.1", Timestamp=NOW - 3 * DAY), conn("SRV1", ip="198.51.100.2")]
    result = evaluate([server("SRV1")], ev, NOW, new_window=10 * DAY, prevalence_window=2 * DAY, max_prevalence=0)
    assert result == [
        {
            "DeviceName": "SRV1",
            "set_Details": [
                {"RemoteIP": "198.51.100.1", "RemotePort": 443, "Count": 1, "Prevalence": None, "URLs": None}
            ],
        }
    ]


def test_empty_remote_ip_and_null_port_groups_and_order():
    # §1: null and "" RemoteIP are one group, and the lookup matches "" with ""; a null RemotePort is its own
    # group (numbers stay null, §1) and sorts after every integer port.
    ev = [
        conn("SRV1", ip=None, port=None),
        conn("SRV1", ip="", port=None),
        conn("SRV1", ip="", port=443),
        conn("SRV1", ip="", port=80),
        conn("WS1", ip=None, DeviceId="w1", RemoteUrl=None),
    ]
    result = evaluate([server("SRV1")], ev, NOW)
    urls = ["", "acme.example"]
    assert result == [
        {
            "DeviceName": "SRV1",
            "set_Details": [
                {"RemoteIP": "", "RemotePort": 80, "Count": 1, "Prevalence": 2, "URLs": urls},
                {"RemoteIP": "", "RemotePort": 443, "Count": 1, "Prevalence": 2, "URLs": urls},
                {"RemoteIP": "", "RemotePort": None, "Count": 2, "Prevalence": 2, "URLs": urls},
            ],
        }
    ]


def test_empty_tables():
    # §4: make_set over empty input gives [], and `x in ([])` is false.
    assert evaluate([], [], NOW) == []
    assert evaluate([], [conn("SRV1")], NOW) == []
    assert evaluate([server("SRV1")], [], NOW, flat=True) == []


def test_parameters():
    # Parameters replace the literals: empty exclusion lists exclude nothing; windows and thresholds move.
    di = [server("SRV1"), server("OLD", Timestamp=NOW - 3 * DAY)]
    ev = [
        conn("SRV1", port=1, ActionType="ListeningConnectionCreated"),
        conn("SRV1", port=2, RemoteIPType="Private"),
        conn("SRV1", port=3, RemoteIPType="Public"),
        conn("SRV1", port=4, Timestamp=NOW - 3 * HOUR),
        conn("OLD", ip="198.51.100.50", port=5),
    ]

    def alerts(**params):
        result = evaluate(di, ev, NOW, **params)
        return [(r["DeviceName"], d["RemotePort"]) for r in result for d in r["set_Details"]]

    assert alerts() == [("OLD", 5), ("SRV1", 3), ("SRV1", 4)]
    assert alerts(excluded_action_types=[], excluded_ip_types=[]) == [
        ("OLD", 5),
        ("SRV1", 1),
        ("SRV1", 2),
        ("SRV1", 3),
        ("SRV1", 4),
    ]
    assert alerts(excluded_ip_types=["Public"]) == [("SRV1", 2)]
    assert alerts(new_window=2 * HOUR) == [("OLD", 5), ("SRV1", 3)]
    assert alerts(lookback=2 * DAY) == [("SRV1", 3), ("SRV1", 4)]  # OLD's snapshot is now outside the lookback
    assert alerts(max_vendor_servers=2) == []  # Acme is on 2 servers
    assert alerts(max_vendor_servers=3) == alerts()
    assert alerts(max_prevalence=1) == []
    assert alerts(max_prevalence=2) == alerts()
