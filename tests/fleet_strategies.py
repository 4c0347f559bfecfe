"""Hypothesis strategies for small random Defender fleets that hit every trap in semantics.md.

A fleet is the two tables the rule reads (DeviceInfo and DeviceNetworkEvents rows, as dicts; a missing key or None
is a null) plus the evaluation instant `now`. The generators are built around the rule's traps:

- nulls everywhere, "" vs None, case variants ("workstation", "PRIVATE", "::FFFF:1.2.3.4", "fourtosixmapping"),
- timestamps exactly on every window edge (now - lookback / new_window / prevalence_window, +-1 microsecond),
  null and future timestamps,
- few device names (so sets overlap) but bursts of one vendor across 0..12 servers (crosses the `< 10` threshold),
- crowds of 0..8 distinct DeviceIds contacting one destination (crosses the `< 6` threshold),
- null RemotePort, ""/None RemoteIP, IPv6 and IPv4-mapped IPv6, duplicate rows, empty tables.

`parameters()` draws rule parameters (windows as KQL duration strings, thresholds, exclusion lists that may be
empty or contain quotes/LIKE wildcards) for the parameter test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

US = timedelta(microseconds=1)

# ------------------------------------------------------------------------------------------------- value pools
# Few names so that server sets overlap; 12 distinct server-like names so a vendor can reach >= 10 servers.
SERVER_NAMES = [f"SRV{i:02d}" for i in range(12)]
DEVICE_NAMES = [*SERVER_NAMES, "srv00", "WS01", "MAC01", "", None]
DEVICE_IDS = [f"id{i}" for i in range(9)] + ["ID0", "", None]
DEVICE_TYPES = ["Server", "Workstation", "workstation", "WORKSTATION", "", None, "Unknown", "NetworkDevice"]
OS_PLATFORMS = ["WindowsServer2019", "Linux", "macOS", "MacOS", "macos", "Windows10", "", None]
ACTION_TYPES = [
    "ConnectionSuccess",
    "ConnectionSuccess",
    "ConnectionFailed",
    "InboundConnectionAccepted",
    "ListeningConnectionCreated",
    "listeningconnectioncreated",
    "LISTENINGCONNECTIONCREATED",
    "",
    None,
]
REMOTE_IP_TYPES = [
    "Public",
    "Public",
    "Private",
    "PRIVATE",
    "private",
    "Loopback",
    "loopback",
    "FourToSixMapping",
    "fourtosixmapping",
    "FOURTOSIXMAPPING",
    "Reserved",
    "Teredo",
    "Broadcast",
    "",
    None,
]
REMOTE_IPS = [
    "203.0.113.5",
    "198.51.100.7",
    "8.8.8.8",
    "::ffff:203.0.113.5",
    "::FFFF:198.51.100.7",
    "::Ffff:10.0.0.1",
    "::ffff",  # no trailing colon: does not start with "::ffff:"
    " ::ffff:1.1.1.1",  # leading space: does not start with "::ffff:"
    "2001:db8::1",
    "2001:DB8::1",
    "fe80::1%eth0",
    "10.0.0.5",
    "127.0.0.1",
    "",
    None,
]
# (RemoteIP, RemoteIPType) pairs as Defender reports them, so the FourToSixMapping clause fires often.
COHERENT_IPS = [
    ("203.0.113.5", "Public"),
    ("198.51.100.7", "Public"),
    ("2001:db8::1", "Public"),
    ("::ffff:203.0.113.5", "FourToSixMapping"),
    ("::FFFF:198.51.100.7", "FourToSixMapping"),
    ("::ffff:10.0.0.5", "fourtosixmapping"),
    ("10.0.0.5", "Private"),
    ("127.0.0.1", "Loopback"),
    ("", "Public"),
    (None, None),
]
PUBLIC_IPS = [pair for pair in COHERENT_IPS if pair[1] == "Public"]
# Pairs the rule KEEPS although a careless translation drops them (case, nulls, near-miss prefixes).
KEPT_TRAP_IPS = [
    ("::ffff:203.0.113.5", "fourtosixmapping"),
    ("::FFFF:198.51.100.7", "FOURTOSIXMAPPING"),
    ("10.0.0.5", "PRIVATE"),
    ("127.0.0.1", "loopback"),
    ("2001:db8::1", "FourToSixMapping"),
    (None, "FourToSixMapping"),
    ("", "FourToSixMapping"),
    ("::ffff", "FourToSixMapping"),
    (" ::ffff:1.1.1.1", "FourToSixMapping"),
    ("198.51.100.7", None),
    ("203.0.113.5", ""),
]
# Pairs the rule DROPS although a careless translation keeps them (case-insensitive startswith).
DROPPED_TRAP_IPS = [
    ("::FFFF:198.51.100.7", "FourToSixMapping"),
    ("::Ffff:10.0.0.1", "FourToSixMapping"),
    ("::ffff:203.0.113.5", "FourToSixMapping"),
    ("10.0.0.5", "Private"),
    ("127.0.0.1", "Loopback"),
]
KEPT_ACTION_TYPES = ["ConnectionSuccess", "ConnectionSuccess", None, "", "listeningconnectioncreated"]
REMOTE_PORTS = [443, 443, 80, 8443, 0, 65535, None, None]
REMOTE_URLS = ["", None, "a.example", "A.example", "b.example", "Z.example", "é.example", "x_y%z.example", "it's"]
COMPANIES = ["Acme", "acme", "Microsoft Corporation", "Vendor ", "", None]


@dataclass(frozen=True)
class Windows:
    lookback: timedelta = timedelta(days=14)
    new_window: timedelta = timedelta(days=1)
    prevalence_window: timedelta = timedelta(days=5)

    def edges(self) -> list[timedelta]:
        return [self.lookback, self.new_window, self.prevalence_window]


DEFAULT_WINDOWS = Windows()


@dataclass
class Fleet:
    now: datetime
    device_info: list[dict] = field(default_factory=list)
    network_events: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------- time
def nows() -> st.SearchStrategy[datetime]:
    """An evaluation instant in 2020-2030 with a random microsecond part (UTC)."""
    base = datetime(2020, 1, 1, tzinfo=UTC)
    return st.builds(
        lambda seconds, micros: base + timedelta(seconds=seconds, microseconds=micros),
        st.integers(0, 10 * 365 * 86400),
        st.integers(0, 999_999),
    )


# How often each kind of instant is drawn (sampled_from shrinks towards the first: an edge).
TIME_KINDS = ["edge", "edge", "edge", "new", "new", "new", "new", "anywhere", "anywhere", "future", "now", "null"]
INSIDE_KINDS = ["inner edge", "inner edge", "lookback", "new", "now"]


@st.composite
def timestamps(draw, now: datetime, windows: Windows = DEFAULT_WINDOWS, inside: bool = False) -> datetime | None:
    """Null, exact window edges (+-1us), recent, older, future or far-past instants, weighted towards traps.

    `inside` draws only instants within the lookback (edges included only on their inner side)."""
    kind = draw(st.sampled_from(TIME_KINDS))
    if inside and kind not in INSIDE_KINDS:
        kind = draw(st.sampled_from(INSIDE_KINDS))
    if kind in ("edge", "inner edge"):  # exactly on a window edge, or one microsecond either side
        edge = draw(st.sampled_from(windows.edges()))
        instant = now - edge + draw(st.sampled_from([timedelta(0), US, -US]))
        if kind == "inner edge" and instant <= now - windows.lookback:
            instant = now - windows.lookback + US
        return instant
    if kind == "new":  # inside the "new" window (what survives stage 7)
        return now - draw(st.integers(0, max(int(windows.new_window / US), 1) - 1)) * US
    if kind == "lookback":
        return now - draw(st.integers(0, int(windows.lookback / US) - 1)) * US
    if kind == "anywhere":  # from two days before the widest window up to now
        return now - draw(st.integers(0, int((max(windows.edges()) + timedelta(days=2)) / US))) * US
    if kind == "future":  # no upper bound on any window
        return now + draw(st.integers(0, 3 * 86400 * 10**6)) * US
    if kind == "now":
        return now
    return None


# ------------------------------------------------------------------------------------------------- rows
@st.composite
def device_info_rows(draw, now: datetime, windows: Windows = DEFAULT_WINDOWS) -> tuple[list[dict], list]:
    """DeviceInfo snapshots for a few device names, each name with a profile (server share varies per fleet).

    Returns the rows and the names given the "server" profile (most, not all, of them end up servers)."""
    rows: list[dict] = []
    server_names: list = []
    n_names = draw(st.sampled_from([0, 1, 3, 6, 12, 14, len(DEVICE_NAMES), len(DEVICE_NAMES)]))
    names = draw(st.lists(st.sampled_from(DEVICE_NAMES), min_size=n_names, max_size=n_names, unique=True))
    server_share = draw(st.sampled_from([10, 9, 7, 4]))  # out of 10
    for name in names:
        if draw(st.integers(0, 9)) < server_share:
            profile = "server"
            server_names.append(name)
        else:
            profile = draw(st.sampled_from(["workstation", "mac", "noos", "noos", "random"]))
        device_id = draw(st.sampled_from(DEVICE_IDS))
        for snapshot in range(draw(st.integers(1, 3))):
            device_type = draw(st.sampled_from(["Server", "Server", None, "", "workstation", "Unknown"]))
            os_platform = draw(st.sampled_from(["WindowsServer2019", "Linux", "MacOS", "Windows10"]))
            if profile == "workstation":
                device_type = "Workstation"
            elif profile == "mac":
                os_platform = "macOS"
            elif profile == "noos":
                os_platform = draw(st.sampled_from(["", None]))
            elif profile == "random":
                device_type = draw(st.sampled_from(DEVICE_TYPES))
                os_platform = draw(st.sampled_from(OS_PLATFORMS))
            row = {
                # A "server" is seen inside the lookback at least once (its other snapshots are anywhere).
                "Timestamp": draw(timestamps(now, windows, inside=profile == "server" and snapshot == 0)),
                "DeviceId": device_id,
                "DeviceName": name,
                "DeviceType": device_type,
                "OSPlatform": os_platform,
            }
            rows.append({k: v for k, v in row.items() if v is not None or draw(st.booleans())})
    return rows, server_names


@st.composite
def network_event(
    draw,
    now: datetime,
    windows: Windows = DEFAULT_WINDOWS,
    *,
    name=None,
    company=None,
    remote_ip=None,
    device_id=None,
    mode: str = "any",
) -> dict:
    """One DeviceNetworkEvents row; keyword arguments pin a field (a 1-tuple, so that None can be pinned).

    mode "kept": ActionType / RemoteIP / RemoteIPType the rule keeps (many of them traps), Timestamp inside the
    lookback, so that thresholds are actually reached; "tricky": like "kept" plus values the rule drops although
    they look alike; "any": anything from the pools.
    """

    def pick(pinned, pool):
        return pinned[0] if pinned is not None else draw(st.sampled_from(pool))

    kept = mode in ("kept", "tricky")
    if mode == "kept":
        pairs = PUBLIC_IPS + KEPT_TRAP_IPS
        ip_types, action_types = ["Public", None, "", "PRIVATE", "fourtosixmapping"], KEPT_ACTION_TYPES
    elif mode == "tricky":
        pairs = PUBLIC_IPS + KEPT_TRAP_IPS + DROPPED_TRAP_IPS
        ip_types = ["Public", None, "PRIVATE", "FourToSixMapping", "Private"]
        action_types = [*KEPT_ACTION_TYPES, "ListeningConnectionCreated"]
    else:
        pairs = COHERENT_IPS + KEPT_TRAP_IPS + DROPPED_TRAP_IPS
        ip_types, action_types = REMOTE_IP_TYPES, ACTION_TYPES

    if remote_ip is not None:
        ip, ip_type = remote_ip[0], draw(st.sampled_from(ip_types))
    elif kept and draw(st.integers(0, 4)) == 0:  # a rarely contacted destination (low or no prevalence)
        ip, ip_type = f"192.0.2.{draw(st.integers(1, 254))}", "Public"
    elif kept or draw(st.booleans()):
        ip, ip_type = draw(st.sampled_from(pairs))
    else:
        ip, ip_type = draw(st.sampled_from(REMOTE_IPS)), draw(st.sampled_from(REMOTE_IP_TYPES))
    row = {
        "Timestamp": draw(timestamps(now, windows, inside=kept)),
        "DeviceId": pick(device_id, DEVICE_IDS),
        "DeviceName": pick(name, DEVICE_NAMES),
        "ActionType": draw(st.sampled_from(action_types)),
        "RemoteIP": ip,
        "RemotePort": draw(st.sampled_from(REMOTE_PORTS)),
        "RemoteUrl": draw(st.sampled_from(REMOTE_URLS)),
        "RemoteIPType": ip_type,
        "InitiatingProcessVersionInfoCompanyName": pick(company, COMPANIES),
    }
    # A missing key and an explicit None are both a null; exercise both spellings.
    return {k: v for k, v in row.items() if v is not None or draw(st.booleans())}


@st.composite
def vendor_burst(
    draw, now: datetime, windows: Windows = DEFAULT_WINDOWS, name_pools=(), vendor_threshold: int = 10
) -> list[dict]:
    """One vendor's software on 0..12 servers: crosses the `dcount_DeviceName < 10` threshold both ways.

    Names come from one of `name_pools` (the first: the names DeviceInfo made servers) or from all DEVICE_NAMES. A
    server may repeat a connection (same RemoteIP and RemotePort, another Timestamp), so that Count > 1,
    starttime != endtime and one server contributes several rows to the vendor's dcount.
    """
    company = draw(st.sampled_from(COMPANIES))
    servers = name_pools[0] if name_pools else []
    if len(servers) >= vendor_threshold - 1 and draw(st.integers(0, 3)) == 0:
        # On the threshold: exactly threshold - 1 or threshold servers, every row kept by the filters.
        pool, exact = servers, True
        low = high = draw(st.sampled_from([max(0, vendor_threshold - 1), vendor_threshold]))
    else:
        pool, exact = draw(st.sampled_from([p for p in name_pools if p] + [DEVICE_NAMES])), False
        low, high = draw(st.sampled_from([(0, 4), (5, 9), (9, 11), (10, 12)]))
    n_servers = draw(st.integers(min(low, len(pool)), min(high, len(pool))))
    names = draw(st.lists(st.sampled_from(pool), min_size=n_servers, max_size=n_servers, unique=True))
    shared_ip = draw(st.sampled_from(REMOTE_IPS))
    burst_mode = "kept" if exact else draw(st.sampled_from(["kept", "kept", "tricky"]))
    rows = []
    for name in names:
        pinned_ip = (shared_ip,) if draw(st.booleans()) else None
        mode = burst_mode if exact or draw(st.integers(0, 19)) else "any"
        event = draw(network_event(now, windows, name=(name,), company=(company,), remote_ip=pinned_ip, mode=mode))
        rows.append(event)
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
            rows.append({**event, "Timestamp": draw(timestamps(now, windows))})
    return rows


@st.composite
def destination_crowd(draw, now: datetime, windows: Windows = DEFAULT_WINDOWS) -> list[dict]:
    """0..8 distinct DeviceIds contacting one destination: crosses the `Prevalence < 6` threshold both ways."""
    ip = draw(st.sampled_from(REMOTE_IPS))
    n_devices = draw(st.integers(0, 8))
    ids = draw(st.lists(st.sampled_from(DEVICE_IDS), min_size=n_devices, max_size=n_devices, unique=True))
    return [draw(network_event(now, windows, remote_ip=(ip,), device_id=(device_id,))) for device_id in ids]


@st.composite
def quiet_connection(draw, now: datetime, windows: Windows = DEFAULT_WINDOWS, name_pools=()) -> dict:
    """A kept connection to a destination nobody else contacts, stamped after ago(new_window) but at or before
    ago(prevalence_window) when the windows allow it: a new connection with no prevalence row (null Prevalence)."""
    pool = draw(st.sampled_from([p for p in name_pools if p] + [DEVICE_NAMES]))
    event = draw(network_event(now, windows, name=(draw(st.sampled_from(pool)),), mode="kept"))
    event["RemoteIP"], event["RemoteIPType"] = f"192.0.2.{draw(st.integers(1, 254))}", "Public"
    if windows.new_window > windows.prevalence_window:
        span = int((windows.new_window - windows.prevalence_window) / US)
        event["Timestamp"] = now - windows.prevalence_window - draw(st.integers(0, span - 1)) * US
    return event


@st.composite
def network_event_rows(
    draw, now: datetime, windows: Windows = DEFAULT_WINDOWS, name_pools=(), vendor_threshold: int = 10
) -> list[dict]:
    rows: list[dict] = []
    for burst in draw(st.lists(vendor_burst(now, windows, name_pools, vendor_threshold), max_size=4)):
        rows.extend(burst)
    for crowd in draw(st.lists(destination_crowd(now, windows), max_size=2)):
        rows.extend(crowd)
    rows.extend(draw(st.lists(quiet_connection(now, windows, name_pools), max_size=2)))
    rows.extend(draw(st.lists(network_event(now, windows), max_size=12)))
    return rows


@st.composite
def with_duplicates(draw, rows: list[dict]) -> list[dict]:
    """Duplicate a few rows (count() must count them, dcount/make_set must not) and shuffle."""
    if rows:
        extra = draw(st.lists(st.sampled_from(rows), max_size=3))
        rows = rows + [dict(row) for row in extra]
    return draw(st.permutations(rows)) if len(rows) > 1 else rows


@st.composite
def fleets(draw, windows: Windows = DEFAULT_WINDOWS, vendor_threshold: int = 10) -> Fleet:
    """A small random fleet; either table may be empty. Window edges and the vendor threshold are targeted."""
    now = draw(nows())
    device_info, server_names = draw(device_info_rows(now, windows))
    known_names = list(dict.fromkeys(row.get("DeviceName") for row in device_info))
    name_pools = (server_names, server_names, known_names)
    network_events = draw(network_event_rows(now, windows, name_pools, vendor_threshold))
    device_info = draw(with_duplicates(device_info))
    network_events = draw(with_duplicates(network_events))
    return Fleet(now=now, device_info=device_info, network_events=network_events)


# ------------------------------------------------------------------------------------------------- parameters
UNIT = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "s": timedelta(seconds=1)}


def durations(low: timedelta, high: timedelta) -> st.SearchStrategy[tuple[str, timedelta]]:
    """A KQL timespan literal such as "14d", "36h", "90m", "30s" between low and high, with its value."""

    @st.composite
    def build(draw):
        unit = draw(st.sampled_from(list(UNIT)))
        n = draw(st.integers(max(1, -(-low // UNIT[unit])), max(1, high // UNIT[unit])))
        return f"{n}{unit}", n * UNIT[unit]

    return build()


EXCLUDABLE_ACTIONS = [
    "ListeningConnectionCreated",
    "listeningconnectioncreated",
    "ConnectionSuccess",
    "ConnectionFailed",
    "",
    "it's",
    "Connection%",
    "Connection_Success",
]
EXCLUDABLE_IP_TYPES = ["Private", "Loopback", "PRIVATE", "Public", "FourToSixMapping", "", "it's", "%", "Pub_ic"]


@dataclass
class Parameters:
    """Rule parameters in the runner's form (`params`) and in the reference's form (`kwargs`)."""

    params: dict
    kwargs: dict


@st.composite
def parameters(draw) -> Parameters:
    """Random rule parameters; each one may be omitted (the runner must then use the rule's default)."""
    params: dict = {}
    kwargs: dict = {}
    # A prevalence window shorter than the new window lets a new connection have no prevalence row at all
    # (lookup leftouter -> Prevalence null, kept by `isempty(Prevalence)`).
    short_prevalence = draw(st.booleans())
    for key, (low, high) in {
        "lookback": (timedelta(hours=1), timedelta(days=20)),
        "new_window": (timedelta(minutes=1), timedelta(days=3)),
        "prevalence_window": (timedelta(minutes=1), timedelta(hours=12))
        if short_prevalence
        else (timedelta(hours=1), timedelta(days=10)),
    }.items():
        if draw(st.integers(0, 4)):
            params[key], kwargs[key] = draw(durations(low, high))
    # 0 is allowed: then no vendor is rare, or only a null Prevalence passes
    for key, high in {"max_vendor_servers": 13, "max_prevalence": 9}.items():
        if draw(st.integers(0, 4)):
            params[key] = kwargs[key] = draw(st.integers(0, high))
    for key, pool in {
        "excluded_action_types": EXCLUDABLE_ACTIONS,
        "excluded_ip_types": EXCLUDABLE_IP_TYPES,
    }.items():
        if draw(st.integers(0, 4)):
            values = draw(st.lists(st.sampled_from(pool), max_size=3))
            params[key], kwargs[key] = list(values), list(values)
    return Parameters(params=params, kwargs=kwargs)


def windows_of(kwargs: dict) -> Windows:
    return Windows(
        lookback=kwargs.get("lookback", DEFAULT_WINDOWS.lookback),
        new_window=kwargs.get("new_window", DEFAULT_WINDOWS.new_window),
        prevalence_window=kwargs.get("prevalence_window", DEFAULT_WINDOWS.prevalence_window),
    )
