"""Synthetic Defender XDR fleets (DeviceInfo + DeviceNetworkEvents) with planted supply-chain cases.

Layout written under `out` (replacing a previous fleet there; see `generate_fleet`):

    out/DeviceInfo/part-0.parquet                               one snapshot per device per day
    out/DeviceNetworkEvents/date=YYYY-MM-DD/part-0.parquet      one file per UTC day, sorted by Timestamp
    out/_fleet.json                                             arguments, counts and planted cases

How the bulk scales: every background event g (0 <= g < events) is a pure function of (g, seed, fleet),
computed inside DuckDB from hash() of integers (no random(), no Python loop per row), and its timestamp is
non-decreasing in g. A day partition is therefore one contiguous slice of g, already in Timestamp order. The
planted rows (about a hundred, built in Python) are placed in that order by inserting their keys between bulk
slices into a temp table, so nothing is ever sorted. Each day is one single-threaded COPY (deterministic bytes);
days are written concurrently, one DuckDB connection per worker. Repeated strings are DuckDB ENUMs (the Parquet
files still hold plain strings), which makes the Parquet writer several times cheaper for those columns.

Guarantees the planted cases rely on: bulk devices are named `srv-`/`dc-`/`lnx-`/`ws-NNNN.contoso.local`;
bulk IPs never fall in 198.51.100.0/24, 203.0.113.0/24 or 10.200.0.0/16; no bulk vendor name contains
"Planted"; at most two bulk servers ever report a null or empty company name, so the empty-vendor group stays
under 10 servers. Bulk timestamps are now - (whole milliseconds + 537 us), so none falls exactly on a window
edge (now, now - 1d, now - 5d, now - 14d, now - days).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import uuid
from bisect import bisect_left
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

__all__ = ["FleetSummary", "PlantedCase", "generate_fleet"]

ROW_GROUP_SIZE = 122_880
MARKER = "_fleet.json"
DAY_US = 86_400_000_000
SUB_MS_US = 537  # every bulk timestamp is now - (k ms + 537 us): never on a whole-second edge
SLOTS = 32  # vendor slots per device (weighted vendor choice)
PLANTED_REPORT_ID_BASE = 9_000_000_000_000
POOL_ZIPF_C = 20


@dataclass(frozen=True)
class PlantedCase:
    """One (device, RemoteIP, RemotePort) the rule must (alerts=True) or must not (alerts=False) report."""

    device: str
    remote_ip: str
    remote_port: int
    alerts: bool
    why: str


@dataclass(frozen=True)
class FleetSummary:
    """What generate_fleet wrote. servers/workstations are the bulk fleet sizes asked for; planted devices come
    on top (planted_devices). network_event_rows counts every row written: `events` bulk rows plus
    planted_event_rows."""

    out: Path
    device_info_rows: int
    network_event_rows: int
    servers: int
    workstations: int
    planted: tuple[PlantedCase, ...]
    planted_event_rows: int = 0
    planted_devices: int = 0


# --------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------

COMMON_VENDORS: list[tuple[str, list[str]]] = [
    ("Microsoft Corporation", ["svchost.exe", "MsMpEng.exe", "msedge.exe", "MsSense.exe"]),
    ("Google LLC", ["chrome.exe", "GoogleUpdate.exe", "chrome.exe", "GoogleUpdate.exe"]),
    ("Mozilla Corporation", ["firefox.exe", "maintenanceservice.exe", "firefox.exe", "firefox.exe"]),
    ("Adobe Inc.", ["AdobeARM.exe", "AcroCEF.exe", "AdobeARM.exe", "Acrobat.exe"]),
]
MID_VENDORS: list[tuple[str, list[str]]] = [
    ("VMware, Inc.", ["vmtoolsd.exe", "VGAuthService.exe", "vmtoolsd.exe", "vmware-usbarbitrator64.exe"]),
    ("Oracle Corporation", ["java.exe", "javaw.exe", "java.exe", "jucheck.exe"]),
    ("Veeam Software Group GmbH", ["Veeam.Backup.Service.exe", "VeeamAgent.exe", "VeeamAgent.exe", "Veeam.exe"]),
    ("Splunk Inc.", ["splunkd.exe", "splunk-winevtlog.exe", "splunkd.exe", "splunk-admon.exe"]),
    ("CrowdStrike, Inc.", ["CSFalconService.exe", "CSFalconContainer.exe", "CSFalconService.exe", "csagent.exe"]),
    ("Citrix Systems, Inc.", ["CitrixReceiverUpdater.exe", "wfica32.exe", "Receiver.exe", "SelfService.exe"]),
]
WORKSTATION_APPS: list[tuple[str, list[str]]] = [
    ("Zoom Video Communications, Inc.", ["Zoom.exe", "Zoom.exe", "ZoomOutlookIMPlugin.exe", "Zoom.exe"]),
    ("Slack Technologies, LLC", ["slack.exe", "slack.exe", "slack.exe", "slack.exe"]),
    ("Spotify AB", ["Spotify.exe", "Spotify.exe", "Spotify.exe", "SpotifyWebHelper.exe"]),
    ("Dropbox, Inc.", ["Dropbox.exe", "DropboxUpdate.exe", "Dropbox.exe", "Dropbox.exe"]),
]
RARE_PREFIXES = [
    "Contoso", "Fabrikam", "Northwind", "Tailspin", "Woodgrove", "Litware", "Proseware", "Wingtip", "Lucerne",
    "Humongous", "Trey", "Coho", "Alpine", "Relecloud", "Adatum", "Fourth Coffee", "Wide World", "Blue Yonder",
    "Graphic Design", "Southridge", "Datum", "Vanarsdel", "Consolidated", "Margie",
]  # fmt: skip
RARE_PRODUCTS = [
    "Backup", "Monitoring", "Remote Support", "Asset Inventory", "Print", "License", "Scanner", "Telemetry",
    "Deployment", "Patch", "Sync", "Archive", "Metering", "Helpdesk", "Vault", "Gateway",
]  # fmt: skip
RARE_SUFFIXES = ["Ltd", "Inc.", "GmbH", "LLC", "Software Inc.", "Systems Ltd", "S.A.", "B.V.", "Corp."]

ACTION_WEIGHTS = [
    ("ConnectionSuccess", 780),
    ("ConnectionFailed", 80),
    ("ConnectionRequest", 40),
    ("InboundConnectionAccepted", 40),
    ("ConnectionAttempt", 30),
    ("ConnectionFound", 20),
    ("HttpConnectionInspected", 14),
    ("SslConnectionInspected", 10),
    ("DnsConnectionInspected", 10),
]  # sums to 1024

# Well-known destinations: (RemoteIP, RemoteUrl, RemotePort). Hit by most devices.
POPULAR_DESTINATIONS: list[tuple[str, str | None, int]] = [
    ("20.190.151.7", "login.microsoftonline.com", 443),
    ("13.107.42.14", "config.edge.skype.com", 443),
    ("52.168.117.173", "winatp-gw-eus.microsoft.com", 443),
    ("13.89.179.12", "settings-win.data.microsoft.com", 443),
    ("40.126.31.73", "login.live.com", 443),
    ("52.113.194.132", "teams.microsoft.com", 443),
    ("23.47.168.160", "www.msftconnecttest.com", 80),
    ("20.42.65.92", "v10.events.data.microsoft.com", 443),
    ("13.107.4.52", "www.msftncsi.com", 80),
    ("142.250.72.100", "www.google.com", 443),
    ("142.250.80.3", "update.googleapis.com", 443),
    ("172.217.14.110", "clients2.google.com", 443),
    ("34.107.221.82", "detectportal.firefox.com", 80),
    ("44.236.72.93", "aus5.mozilla.org", 443),
    ("8.8.8.8", None, 53),
    ("1.1.1.1", None, 53),
    ("2603:1030:800:5::bfee:a418", "login.microsoftonline.com", 443),
    ("2620:1ec:c11::200", "www.bing.com", 443),
    ("151.101.1.69", "stackoverflow.com", 443),
    ("140.82.112.3", "github.com", 443),
    ("185.199.108.133", "raw.githubusercontent.com", 443),
    ("104.16.123.96", "www.cloudflare.com", 443),
    ("23.215.0.136", "ctldl.windowsupdate.com", 80),
    ("13.107.246.40", "officecdn.microsoft.com", 443),
    ("52.96.165.18", "outlook.office365.com", 443),
    ("52.109.12.19", "nexus.officeapps.live.com", 443),
    ("2a04:4e42::485", "pypi.org", 443),
    ("54.239.28.85", "aws.amazon.com", 443),
    ("35.186.224.25", "api.spotify.com", 443),
    ("162.125.19.131", "client.dropbox.com", 443),
]
OTHER_TYPE_DESTINATIONS: list[tuple[str, str, int]] = [
    ("169.254.169.254", "Reserved", 80),
    ("169.254.169.254", "Reserved", 80),
    ("0.0.0.0", "Reserved", 0),
    ("224.0.0.251", "Reserved", 5353),
    ("ff02::fb", "Reserved", 5353),
    ("2001:0:4137:9e76:2087:77a:53ef:7527", "Teredo", 3544),
    ("255.255.255.255", "Broadcast", 67),
    ("10.255.255.255", "Broadcast", 137),
]
SERVICE_PORTS = [445, 135, 389, 636, 88, 53, 3389, 5985, 1433, 8080, 22, 9389, 443, 80, 139, 3268]
POOL_PORTS = [443] * 14 + [80] * 3 + [8443, 22, 25]
POOL_DOMAINS = [
    "cloudfront.net", "akamaiedge.net", "azureedge.net", "fastly.net", "amazonaws.com", "googleusercontent.com",
    "cdn77.org", "edgekey.net", "trafficmanager.net", "herokuapp.com", "digitaloceanspaces.com", "b-cdn.net",
]  # fmt: skip
TAIL_DOMAINS = ["example-cdn.net", "svc-hosting.com", "update-mirror.org", "files-dl.io", "api-metrics.net"]
# First octets of bulk public IPv4 addresses: no private, loopback, link-local, multicast, CGNAT-heavy or TEST-NET
# space (198.51.100/24 and 203.0.113/24 are the planted ranges; 192.x and 172.x are left out altogether).
PUBLIC_FIRST_OCTETS = [
    13, 20, 23, 31, 34, 35, 40, 45, 46, 51, 52, 54, 62, 64, 66, 69, 72, 77, 80, 81, 85, 88, 91, 93, 95, 104,
    107, 108, 109, 128, 130, 141, 142, 146, 151, 155, 157, 162, 176, 178, 185, 188, 193, 194, 195, 199, 208,
    209, 212, 213, 216, 217,
]  # fmt: skip

NULL_VENDOR, EMPTY_VENDOR = 1, 2  # 1-based vendor ids of the missing company names


# --------------------------------------------------------------------------------------------------------------
# The bulk event query: every column is a function of (g, seed, fleet lists).
# --------------------------------------------------------------------------------------------------------------

# Pseudo-randomness: DuckDB's hash(a, b, ...) combines per-argument hashes with XOR, so hash(g, s, 'a') and
# hash(g, s, 'b') differ only by a constant XOR: their bits are NOT independent. Independent streams therefore
# come from different *inputs* to the 64-bit mixer: hash(4g + j + salt), j = 1, 2, 3 (j = 0 with the tail index
# in place of g gives a tail destination's own stream), where salt is derived from the seed in Python.
#
# h1: device (bits 0-31), category (32-41), action (42-51), vendor slot (52-56), file (57-58)
# h2: zipf uniform (0-51; low bits reused as a pool index outside public rows), public kind (52-58), sub (59-63)
# h3: local port (0-13), tail index (14-45), service port (46-49), type missing (50-59), url missing (60-63)
# th: tail destination: first octet (0-15), octets (16-23, 24-31, 32-39), port (40-47), url (48-55)
#
# Category c: 0 listening socket, 1 private, 2 loopback, 3 ::ffff: mapped, 4 other types (reserved, Teredo,
# broadcast), 5 popular public, 6 public pool (Zipf), 7 public long tail (mostly seen once).
# Fleet lists live in the one-row table `lists` (L), planted rows' values in the one-row table `planted` (P):
# a bound list parameter would be re-materialised for every vector, a table column is read once.
_BULK_CTES = """
WITH base AS (
    SELECT k AS g,
        hash(k * 4 + 1 + $salt) AS h1,
        hash(k * 4 + 2 + $salt) AS h2,
        hash(k * 4 + 3 + $salt) AS h3
    FROM keys
), f AS (
    SELECT g,
        ((h1 & 4294967295) * $ndev >> 32)::BIGINT + 1 AS d,
        ((h1 >> 32) & 1023)::INTEGER AS cat,
        ((h1 >> 42) & 1023)::BIGINT + 1 AS act,
        ((h1 >> 52) & 31)::BIGINT AS slot,
        ((h1 >> 57) & 3)::BIGINT AS fsel,
        (h2 & 4503599627370495)::DOUBLE / 4503599627370496.0 AS u,
        ((h2 >> 52) & 127)::INTEGER AS kind,
        ((h2 >> 59) & 31)::INTEGER AS sub,
        (h2 & 1023)::BIGINT AS low,
        (h3 & 16383)::INTEGER AS lport,
        ((h3 >> 14) & 4294967295)::BIGINT AS big,
        ((h3 >> 46) & 15)::BIGINT + 1 AS svc,
        ((h3 >> 50) & 1023)::INTEGER AS tmiss,
        ((h3 >> 60) & 15)::INTEGER AS umiss
    FROM base
), v AS (
    SELECT *,
        CASE
            WHEN cat < 32 THEN 0
            WHEN cat < 160 THEN 1
            WHEN cat < 192 THEN 2
            WHEN cat < 212 THEN 3
            WHEN cat < 222 THEN 4
            WHEN kind < 58 THEN 5
            WHEN kind < 125 THEN 6
            ELSE 7
        END AS c,
        CASE
            WHEN kind < 58 THEN floor(exp(u * $ln_pop))::BIGINT
            -- the pool: each device keeps to its own 8 habitual destinations (drawn Zipf-like from the pool),
            -- so servers have an established baseline and new destinations come mostly from the long tail.
            WHEN kind < 125 THEN floor(exp($pool_a + ((hash(d * 8 + (low & 7) + $salt) & 4503599627370495)::DOUBLE
                / 4503599627370496.0) * $pool_b))::BIGINT - $pool_c + 1
            ELSE big % $tail + 1
        END AS z
    FROM f
), t AS (
    SELECT *, CASE WHEN c = 7 THEN hash(z * 4 + $salt) END AS th FROM v
), r AS (
    SELECT t.*, L.*,
        CASE c
            WHEN 5 THEN L.pop_ip[z]
            WHEN 6 THEN L.pool_ip[z]
            WHEN 7 THEN concat(
                L.octets[((th & 65535) % $noct)::BIGINT + 1], '.', (th >> 16) & 255, '.', (th >> 24) & 255, '.',
                ((th >> 32) & 255) % 254 + 1)
            WHEN 1 THEN L.priv_ip[low + 1]
            WHEN 2 THEN CASE WHEN sub < 22 THEN '127.0.0.1' ELSE '::1' END
            WHEN 3 THEN L.map_ip[(low & 63) + 1]
            WHEN 4 THEN L.other_ip[(low & 7) + 1]
            ELSE CASE WHEN sub < 16 THEN '' WHEN sub < 24 THEN NULL WHEN sub < 28 THEN '0.0.0.0' ELSE '::' END
        END AS RemoteIP,
        CASE c
            WHEN 5 THEN L.pop_port[z]
            WHEN 6 THEN CASE WHEN sub = 0 THEN 80 ELSE L.pool_port[z] END
            WHEN 7 THEN CASE
                WHEN ((th >> 40) & 255) < 154 THEN 443
                WHEN ((th >> 40) & 255) < 192 THEN 80
                ELSE 1024 + ((th >> 40) & 255) * 200 END
            WHEN 1 THEN L.svc_port[svc]
            WHEN 2 THEN L.svc_port[svc]
            WHEN 3 THEN CASE WHEN sub < 20 THEN 443 ELSE 80 END
            WHEN 4 THEN L.other_port[(low & 7) + 1]
            ELSE CASE WHEN sub < 24 THEN NULL ELSE 0 END
        END::INTEGER AS RemotePort,
        CASE c
            WHEN 5 THEN CASE WHEN umiss = 0 THEN NULL ELSE L.pop_url[z] END
            WHEN 6 THEN L.pool_url[z]
            WHEN 7 THEN CASE
                WHEN ((th >> 48) & 255) < 154 THEN NULL
                WHEN ((th >> 48) & 255) < 180 THEN ''
                ELSE concat('h', z, '.', L.tail_domains[((th >> 48) % 5)::BIGINT + 1]) END
            WHEN 0 THEN NULL
            ELSE CASE WHEN umiss < 2 THEN '' ELSE NULL END
        END AS RemoteUrl,
        CASE
            WHEN c >= 5 THEN CASE
                WHEN tmiss < 3 THEN NULL WHEN tmiss < 5 THEN ''::gen_iptype ELSE 'Public'::gen_iptype END
            WHEN c = 1 THEN 'Private'::gen_iptype
            WHEN c = 2 THEN 'Loopback'::gen_iptype
            WHEN c = 3 THEN CASE WHEN sub = 0 THEN 'Public'::gen_iptype ELSE 'FourToSixMapping'::gen_iptype END
            WHEN c = 4 THEN L.other_type[(low & 7) + 1]
            ELSE CASE WHEN sub < 24 THEN NULL ELSE 'Reserved'::gen_iptype END
        END AS RemoteIPType
    FROM t, lists L
)
"""

# (column, bulk expression over the CTEs above). A planted row has key g = -i and takes P.<column>[i] instead.
_EVENT_COLUMNS: list[tuple[str, str]] = [
    ("Timestamp", "make_timestamptz($now_us - (($m - 1 - (g * $m) // $n) * 1000 + $sub_ms))"),
    ("DeviceId", "dev_id[d]"),
    ("DeviceName", "dev_name[d]"),
    ("ActionType", "CASE WHEN c = 0 THEN 'ListeningConnectionCreated'::gen_action ELSE actions[act] END"),
    ("RemoteIP", "RemoteIP"),
    ("RemotePort", "RemotePort"),
    ("RemoteUrl", "RemoteUrl"),
    ("RemoteIPType", "RemoteIPType"),
    ("InitiatingProcessVersionInfoCompanyName", "vendor_name[vid]"),
    ("LocalIP", "CASE WHEN c = 0 THEN CASE WHEN sub & 1 = 0 THEN '0.0.0.0'::gen_local_ip ELSE '::'::gen_local_ip END "
                "ELSE dev_ip[d] END"),
    ("LocalPort", "CASE WHEN c = 0 THEN svc_port[svc] ELSE 49152 + lport END::INTEGER"),
    ("Protocol", "CASE WHEN RemotePort IN (53, 67, 123, 137, 3478, 3544, 5353) THEN 'Udp'::gen_proto "
                 "ELSE 'Tcp'::gen_proto END"),
    ("InitiatingProcessFileName", "vendor_file[(vid - 1) * 4 + fsel + 1]"),
    ("ReportId", "g + 1"),
]  # fmt: skip


def _events_sql(with_planted: bool) -> str:
    """The SELECT over table `keys` (one BIGINT column k, in output order) giving every event column."""
    cols = []
    for name, expr in _EVENT_COLUMNS:
        if with_planted:
            expr = f"CASE WHEN g < 0 THEN P.p_{name}[-g] ELSE {expr} END"
        cols.append(f"    {expr} AS {name}")
    source = "(SELECT *, slots[(d - 1) * 32 + slot + 1] AS vid FROM r)"
    if with_planted:
        source += ", planted P"
    return _BULK_CTES + "SELECT\n" + ",\n".join(cols) + f"\nFROM {source}\n"


# --------------------------------------------------------------------------------------------------------------
# Fleet (devices, vendors, destination pools): small, built in Python with a seeded random.Random
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Fleet:
    dev_id: list[str] = field(default_factory=list)
    dev_name: list[str] = field(default_factory=list)
    dev_type: list[str | None] = field(default_factory=list)
    dev_os: list[str] = field(default_factory=list)
    dev_ip: list[str] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # SLOTS vendor ids (1-based) per device
    vendor_name: list[str | None] = field(default_factory=list)
    vendor_file: list[str | None] = field(default_factory=list)  # 4 per vendor

    def vendor(self, name: str | None, files: list[str | None]) -> int:
        self.vendor_name.append(name)
        self.vendor_file.extend(files)
        return len(self.vendor_name)


def _device_id(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def _build_fleet(servers: int, workstations: int, seed: int) -> _Fleet:
    rng = random.Random(f"fleet:{seed}")
    fleet = _Fleet()
    fleet.vendor(None, ["python.exe", "curl", "nc", None])  # NULL_VENDOR
    fleet.vendor("", ["agent.exe", "wget", "node.exe", None])  # EMPTY_VENDOR
    common = [fleet.vendor(n, f) for n, f in COMMON_VENDORS]
    mid = [fleet.vendor(n, f) for n, f in MID_VENDORS]
    apps = [fleet.vendor(n, f) for n, f in WORKSTATION_APPS]

    # Rare vendors: servers are carved into groups of 1..9 per pass; each group shares one vendor.
    used: set[str] = set()

    def rare_vendor() -> int:
        prefix, product, suffix = rng.choice(RARE_PREFIXES), rng.choice(RARE_PRODUCTS), rng.choice(RARE_SUFFIXES)
        name, k = f"{prefix} {product} {suffix}", 1
        while name in used:  # big fleets run out of combinations: number the product line
            k += 1
            name = f"{prefix} {product} {k} {suffix}"
        used.add(name)
        stem = (prefix + product).replace(" ", "").lower() + (str(k) if k > 1 else "")
        return fleet.vendor(name, [f"{stem}agent.exe", f"{stem}svc.exe", f"{stem}agent.exe", f"{stem}.exe"])

    rare: list[list[int]] = [[] for _ in range(servers)]
    for share in (0.25, 0.1):  # first pass: a quarter of servers get a niche agent; second pass: 10% another
        order = list(range(servers))
        rng.shuffle(order)
        i = 0
        while i < servers:
            size = rng.randint(1, 9)
            if rng.random() < share:
                vid = rare_vendor()
                for j in order[i : i + size]:
                    rare[j].append(vid)
            i += size

    n_dc = max(1, servers // 20) if servers >= 5 else 0
    null_servers = {1, 2}  # the only bulk servers that ever send a null/empty company name
    ms, ggl, moz, adobe = common
    for j in range(servers):
        if j < n_dc:
            kind, os_, dtype = "dc", "WindowsServer2022", "Domain Controller"
        elif j % 7 == 3:
            kind, os_, dtype = "lnx", "Linux", "Server"
        else:
            kind, os_, dtype = "srv", ("WindowsServer2019" if j % 3 == 0 else "WindowsServer2022"), "Server"
        if j % 23 == 5:
            dtype = None  # a few servers report no DeviceType: still servers for the rule
        name = f"{kind}-{j:04d}.contoso.local"
        fleet.dev_name.append(name)
        fleet.dev_id.append(_device_id("device", seed, name))
        fleet.dev_type.append(dtype)
        fleet.dev_os.append(os_)
        fleet.dev_ip.append(f"10.{100 + j // 65025 % 50}.{j // 255 % 255}.{j % 255 + 1}")
        slots = [ms] * 14 + [ggl] * 3 + [moz] * 2 + [adobe] * 1
        slots += [mid[j % 6]] * 4 + [mid[(j + 3) % 6]] * 4
        mine = rare[j]
        slots += [mine[k % len(mine)] for k in range(4)] if mine else [ms] * 4
        if j in null_servers:
            slots[0:3] = [NULL_VENDOR, NULL_VENDOR, EMPTY_VENDOR]
        fleet.slots.extend(slots)
    for w in range(workstations):
        os_ = "macOS" if w % 9 == 4 else ("Windows11" if w % 2 == 0 else "Windows10")
        name = f"ws-{w:04d}.contoso.local"
        fleet.dev_name.append(name)
        fleet.dev_id.append(_device_id("device", seed, name))
        fleet.dev_type.append("Workstation")
        fleet.dev_os.append(os_)
        fleet.dev_ip.append(f"192.168.{w // 254 % 256}.{w % 254 + 1}")
        slots = [ms] * 16 + [ggl] * 5 + [moz] * 2 + [adobe] + [mid[w % 6]] * 2
        slots += [apps[w % 4], apps[(w + 1) % 4], apps[w % 4], apps[(w + 2) % 4], NULL_VENDOR, EMPTY_VENDOR]
        fleet.slots.extend(slots)
    assert len(fleet.slots) == SLOTS * (servers + workstations)
    return fleet


def _public_ip(rng: random.Random) -> str:
    if rng.random() < 0.08:
        a, b, c, d = rng.randint(1, 9), rng.randint(0x100, 0xFFFF), rng.randint(0, 0xFFFF), rng.randint(1, 0xFFF)
        return f"2a0{a}:{b:x}:{c:x}::{d:x}"
    return f"{rng.choice(PUBLIC_FIRST_OCTETS)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _pools(seed: int) -> dict[str, list]:
    rng = random.Random(f"destinations:{seed}")
    pool_ip, pool_url, pool_port, seen = [], [], [], {ip for ip, _, _ in POPULAR_DESTINATIONS}
    while len(pool_ip) < 4000:
        ip = _public_ip(rng)
        if ip in seen:
            continue
        seen.add(ip)
        pool_ip.append(ip)
        r = rng.random()
        word = rng.choice(["api", "cdn", "static", "telemetry", "update", "dl", "edge", "files", "auth", "metrics"])
        host = f"{word}{rng.randint(1, 999)}.{rng.choice(POOL_DOMAINS)}"
        pool_url.append(None if r < 0.25 else ("" if r < 0.3 else host))
        pool_port.append(rng.choice(POOL_PORTS))
    priv = [f"10.{rng.randint(0, 99)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(768)]
    priv += [f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(256)]
    rng.shuffle(priv)
    mapped = []
    for i in range(64):
        v4 = pool_ip[i * 7] if ":" not in pool_ip[i * 7] else priv[i]
        mapped.append(("::FFFF:" if i % 4 == 3 else "::ffff:") + v4)
    return {
        "pop_ip": [d[0] for d in POPULAR_DESTINATIONS],
        "pop_url": [d[1] for d in POPULAR_DESTINATIONS],
        "pop_port": [d[2] for d in POPULAR_DESTINATIONS],
        "pool_ip": pool_ip,
        "pool_url": pool_url,
        "pool_port": pool_port,
        "priv_ip": priv,
        "map_ip": mapped,
        "other_ip": [d[0] for d in OTHER_TYPE_DESTINATIONS],
        "other_type": [d[1] for d in OTHER_TYPE_DESTINATIONS],
        "other_port": [d[2] for d in OTHER_TYPE_DESTINATIONS],
    }


# --------------------------------------------------------------------------------------------------------------
# Planted cases
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _PDevice:
    name: str
    device_id: str
    device_type: str | None
    os_platform: str | None
    ip: str
    snapshot_days: tuple[int, int] | None = None  # [first, last) day index (0 = last 24h) with a snapshot
    overrides: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)  # day -> (type, os)


@dataclass
class _Scenario:
    devices: list[_PDevice] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    cases: list[PlantedCase] = field(default_factory=list)

    def conn(
        self,
        dev: _PDevice,
        ip: str,
        port: int,
        agos: tuple[timedelta, ...],
        company: str | None,
        *,
        url: str | None = None,
        ip_type: str | None = "Public",
        action: str = "ConnectionSuccess",
    ) -> None:
        """One connection event per `ago` (time before now)."""
        for ago in agos:
            self.events.append(
                {"dev": dev, "ip": ip, "port": port, "ago": ago, "company": company, "url": url, "type": ip_type,
                 "action": action}
            )  # fmt: skip

    def case(self, dev: _PDevice, ip: str, port: int, alerts: bool, why: str) -> None:
        self.cases.append(PlantedCase(dev.name, ip, port, alerts, why))

    def max_ago(self) -> timedelta:
        agos = [e["ago"] for e in self.events]
        for d in self.devices:
            agos += [timedelta(days=k) for k in d.overrides]
            if d.snapshot_days:
                agos.append(timedelta(days=d.snapshot_days[0]))
        return max(agos)


class _Planter:
    """Builds the planted scenarios. Names, ids and IPs never depend on the seed or on the bulk fleet."""

    def __init__(self) -> None:
        self.n_srv = self.n_ws = 0
        self.scenarios: list[_Scenario] = []

    def server(self, dtype: str | None = "Server", os_: str | None = "WindowsServer2022", name: str = "") -> _PDevice:
        if not name:
            self.n_srv += 1
            name = f"srv-planted-{self.n_srv:02d}"
        return self.device(name, dtype, os_)

    def workstation(self, os_: str = "Windows11") -> _PDevice:
        self.n_ws += 1
        return self.device(f"ws-planted-{self.n_ws:02d}", "Workstation", os_)

    @staticmethod
    def device(name: str, dtype: str | None, os_: str | None, generation: int = 0) -> _PDevice:
        digest = hashlib.sha1(f"planted:{name}:{generation}".encode()).digest()
        ip = f"10.201.{digest[0]}.{digest[1] % 254 + 1}"
        return _PDevice(name, _device_id("planted", name, generation), dtype, os_, ip)

    def scenario(self, *devices: _PDevice) -> _Scenario:
        s = _Scenario(devices=list(devices))
        self.scenarios.append(s)
        return s


def _h(hours: int) -> timedelta:
    return timedelta(hours=hours)


def _m(minutes: int) -> timedelta:
    return timedelta(minutes=minutes)


def _planted_scenarios() -> list[_Scenario]:
    """Every planted case. Positives use 203.0.113.0/24, near misses 198.51.100.0/24 (plus excluded types)."""
    p = _Planter()
    ms = "Microsoft Corporation"
    now_ = (_h(0),)

    # P1: rare vendor, new public IP first contacted 2h ago (last event exactly at now), 3 devices in 5d.
    srv, w1, w2 = p.server(), p.workstation(), p.workstation("Windows10")
    s = p.scenario(srv, w1, w2)
    v, url = "Planted Rare Vendor Alpha Ltd", "update.alpha-planted.example"
    s.conn(srv, "203.0.113.10", 443, (_h(2), _m(70), _m(20)) + now_, v, url=url)
    s.conn(w1, "203.0.113.10", 443, (_h(72),), v, url=url)
    s.conn(w2, "203.0.113.10", 443, (_h(119),), v)
    s.conn(srv, "203.0.113.11", 443, (_h(76), _h(49), _h(30), _h(5)), v)
    s.case(srv, "203.0.113.10", 443, True, f"vendor '{v}' on 1 server; first contact 2h ago (last exactly at now); "
           "Prevalence 3 (2 workstations)")  # fmt: skip
    s.case(srv, "203.0.113.11", 443, False, "first contact 76h ago (not within 1d), though also 5h ago")

    # P2: Prevalence exactly 5; a 6th device contacted the IP 5d 1h ago, outside the 5d window.
    srv = p.server(os_="WindowsServer2019")
    peers = [p.workstation() for _ in range(4)]
    late = p.workstation("Windows10")
    s = p.scenario(srv, *peers, late)
    s.conn(srv, "203.0.113.20", 8443, (_h(3), _m(150), _h(1)), "Planted Rare Vendor Bravo Inc.")
    for w, ago in zip(peers, (_h(119), _h(48), _h(24), _m(30)), strict=True):
        s.conn(w, "203.0.113.20", 8443, (ago,), ms)
    s.conn(late, "203.0.113.20", 8443, (_h(121),), ms)
    s.case(
        srv, "203.0.113.20", 8443, True, "Prevalence exactly 5 (< 6); a 6th device's contact 5d 1h ago is outside 5d"
    )

    # P3: DeviceType null on every snapshot is still a server ("" <> "Workstation").
    srv = p.server(dtype=None, os_="Linux")
    s = p.scenario(srv)
    s.conn(srv, "203.0.113.30", 22, (_m(90), _m(45)), "Planted Rare Vendor Charlie GmbH")
    s.case(srv, "203.0.113.30", 22, True, "DeviceType null on every snapshot: still a server; new IP 90m ago")

    # P4: company null and "" are one vendor group ("") on fewer than 10 servers.
    s1, s2 = p.server(), p.server(os_="WindowsServer2019")
    s = p.scenario(s1, s2)
    s.conn(s1, "203.0.113.40", 443, (_h(2), _h(1)), None)
    s.conn(s2, "203.0.113.50", 80, (_h(4), _h(3)), "", url="")
    s.case(s1, "203.0.113.40", 443, True, "company null (= '' in Kusto): the '' vendor group is on < 10 servers")
    s.case(s2, "203.0.113.50", 80, True, "company '': same vendor group as null, on < 10 servers; new IP 4h ago")

    # P5: a vendor on exactly 9 servers (< 10) is third-party.
    group = [p.server(name=f"srv-planted-v9-{k:02d}") for k in range(1, 10)]
    s = p.scenario(*group)
    v = "Planted Nine-Server Vendor Inc."
    for k, g in enumerate(group):
        s.conn(g, "203.0.113.91", 443, (_h(80 + 3 * k),), v)
    s.conn(group[0], "203.0.113.90", 443, (_h(2), _h(1)), v)
    s.case(group[0], "203.0.113.90", 443, True, f"vendor '{v}' on exactly 9 servers (< 10); new IP 2h ago")

    # P6: latest snapshots say Workstation, one 2 days ago says Server: any snapshot within 14d counts.
    srv = p.server(dtype="Workstation", os_="Windows11")
    srv.overrides[2] = ("Server", "WindowsServer2022")
    s = p.scenario(srv)
    s.conn(srv, "203.0.113.60", 443, (_h(5), _h(2)), "Planted Rare Vendor Delta S.A.")
    s.case(srv, "203.0.113.60", 443, True, "one DeviceInfo snapshot (2 days ago) says Server: in server_list "
           "although its other snapshots say Workstation")  # fmt: skip

    # N1: Prevalence exactly 6, counting workstations and failed / untyped connections.
    srv = p.server()
    peers = [p.workstation("Windows10" if k % 2 else "Windows11") for k in range(5)]
    s = p.scenario(srv, *peers)
    s.conn(srv, "198.51.100.60", 443, (_h(2), _h(1)), "Planted Rare Vendor Echo Ltd")
    s.conn(peers[0], "198.51.100.60", 443, (_h(96),), ms)
    s.conn(peers[1], "198.51.100.60", 443, (_h(72),), ms, action="ConnectionFailed")
    s.conn(peers[2], "198.51.100.60", 443, (_h(30),), "Google LLC")
    s.conn(peers[3], "198.51.100.60", 443, (_h(10),), ms, ip_type=None)
    s.conn(peers[4], "198.51.100.60", 443, (_h(3),), ms, action="ConnectionRequest")
    s.case(srv, "198.51.100.60", 443, False, "Prevalence 6 (this server + 5 workstations, incl. a failed and an "
           "untyped connection) in 5d: 6 is not < 6")  # fmt: skip

    # N2: first contact 25h ago, recent traffic too.
    srv = p.server()
    s = p.scenario(srv)
    s.conn(srv, "198.51.100.70", 443, (_h(25), _h(3), _h(1)), "Planted Rare Vendor Foxtrot LLC")
    s.case(srv, "198.51.100.70", 443, False, "first contact 25h ago (not within 1d), though also 3h and 1h ago")

    # N3: new destinations are Private / Loopback / ::ffff:-mapped only (in scope through an old public IP).
    srv = p.server()
    s = p.scenario(srv)
    v = "Planted Rare Vendor Golf B.V."
    s.conn(srv, "198.51.100.82", 443, (_h(72),), v)
    for ip, port, ip_type, why in [
        ("10.200.0.8", 445, "Private", "RemoteIPType Private"),
        ("127.0.0.1", 8080, "Loopback", "RemoteIPType Loopback"),
        ("::ffff:198.51.100.80", 443, "FourToSixMapping", "FourToSixMapping with ::ffff: prefix"),
        ("::FFFF:198.51.100.81", 443, "FourToSixMapping", "FourToSixMapping with ::FFFF: (startswith ignores case)"),
    ]:
        s.conn(srv, ip, port, (_h(2), _h(1)), v, ip_type=ip_type)
        s.case(srv, ip, port, False, f"{why}: excluded from the baseline, though new 2h ago")

    # N4: a vendor on exactly 10 servers is not third-party.
    group = [p.server(name=f"srv-planted-v10-{k:02d}") for k in range(1, 11)]
    s = p.scenario(*group)
    v = "Planted Ten-Server Vendor Inc."
    for k, g in enumerate(group):
        s.conn(g, "198.51.100.91", 443, (_h(80 + 3 * k),), v)
    s.conn(group[0], "198.51.100.90", 443, (_h(2), _h(1)), v)
    s.case(group[0], "198.51.100.90", 443, False, f"vendor '{v}' on exactly 10 servers: not < 10")

    # N5: a workstation.
    ws = p.workstation()
    s = p.scenario(ws)
    s.conn(ws, "198.51.100.110", 443, (_h(2), _h(1)), "Planted Rare Vendor Hotel Ltd")
    s.case(ws, "198.51.100.110", 443, False, "DeviceType Workstation: not in server_list")

    # N6: macOS (with DeviceType Server) is not a server for the rule.
    srv = p.server(os_="macOS")
    s = p.scenario(srv)
    s.conn(srv, "198.51.100.120", 443, (_h(2), _h(1)), "Planted Rare Vendor India Inc.")
    s.case(srv, "198.51.100.120", 443, False, "OSPlatform macOS (DeviceType Server): not in server_list")

    # N7: only ListeningConnectionCreated events (with a public RemoteIP).
    srv = p.server()
    s = p.scenario(srv)
    v = "Planted Rare Vendor Juliett GmbH"
    s.conn(srv, "198.51.100.130", 443, (_h(2), _h(1)), v, action="ListeningConnectionCreated")
    s.case(srv, "198.51.100.130", 443, False, "only ListeningConnectionCreated events: not counted, not in baseline")

    # N8: first contact exactly at now - 1d: `starttime > ago(1d)` is strict.
    srv = p.server()
    s = p.scenario(srv)
    s.conn(srv, "198.51.100.140", 443, (_h(24), _h(2)), "Planted Rare Vendor Kilo LLC")
    s.case(srv, "198.51.100.140", 443, False, "first contact exactly now - 1d: not > ago(1d)")

    # N9: OSPlatform missing on every snapshot ("" on the latest, null on the others).
    srv = p.server(os_=None)
    srv.overrides[0] = ("Server", "")
    s = p.scenario(srv)
    s.conn(srv, "198.51.100.150", 443, (_h(2), _h(1)), "Planted Rare Vendor Lima Ltd")
    s.case(srv, "198.51.100.150", 443, False, "OSPlatform null or '' on every snapshot: not in server_list")

    # N10: 6 DeviceIds from only 5 DeviceNames (a re-imaged workstation got a new DeviceId): Prevalence is 6.
    srv = p.server()
    peers = [p.workstation() for _ in range(4)]
    old = peers[3]
    old.snapshot_days = (3, 10_000)
    new = _Planter.device(old.name, "Workstation", "Windows11", generation=1)
    new.snapshot_days = (0, 3)
    s = p.scenario(srv, *peers, new)
    s.conn(srv, "198.51.100.160", 443, (_h(2), _h(1)), "Planted Rare Vendor Mike Corp.")
    for w in peers[:3]:
        s.conn(w, "198.51.100.160", 443, (_h(48),), ms)
    s.conn(old, "198.51.100.160", 443, (_h(96),), ms)
    s.conn(new, "198.51.100.160", 443, (_h(24),), ms)
    s.case(srv, "198.51.100.160", 443, False, f"Prevalence 6 DeviceIds from 5 DeviceNames ({old.name} was "
           "re-imaged): dcount(DeviceId), not DeviceName")  # fmt: skip
    return p.scenarios


# --------------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_EVENT_SCHEMA = pa.schema(
    [
        ("Timestamp", pa.timestamp("us", tz="UTC")),
        ("DeviceId", pa.string()),
        ("DeviceName", pa.string()),
        ("ActionType", pa.string()),
        ("RemoteIP", pa.string()),
        ("RemotePort", pa.int32()),
        ("RemoteUrl", pa.string()),
        ("RemoteIPType", pa.string()),
        ("InitiatingProcessVersionInfoCompanyName", pa.string()),
        ("LocalIP", pa.string()),
        ("LocalPort", pa.int32()),
        ("Protocol", pa.string()),
        ("InitiatingProcessFileName", pa.string()),
        ("ReportId", pa.int64()),
    ]
)
_INFO_SCHEMA = pa.schema(
    [
        ("Timestamp", pa.timestamp("us", tz="UTC")),
        ("DeviceId", pa.string()),
        ("DeviceName", pa.string()),
        ("DeviceType", pa.string()),
        ("OSPlatform", pa.string()),
        ("OSArchitecture", pa.string()),
        ("MachineGroup", pa.string()),
        ("ReportId", pa.int64()),
    ]
)

_INFO_SQL = """
SELECT
    make_timestamptz($now_us - (dd * 86400000000 + (hash(d * 4 + $info_salt) % 86400000)::BIGINT * 1000 + $sub_ms))
        AS Timestamp,
    L.dev_id[d]::VARCHAR AS DeviceId,
    L.dev_name[d]::VARCHAR AS DeviceName,
    L.dev_type[d] AS DeviceType,
    CASE
        WHEN dd >= 1 AND hash(d * 100003 + dd * 4 + 1 + $info_salt) % 60 = 0 THEN NULL
        WHEN dd >= 1 AND hash(d * 100003 + dd * 4 + 1 + $info_salt) % 60 = 1 THEN ''
        ELSE L.dev_os[d]
    END AS OSPlatform,
    CASE WHEN L.dev_os[d] = 'macOS' THEN 'arm64' ELSE '64-bit' END AS OSArchitecture,
    CASE WHEN L.dev_type[d] = 'Workstation' THEN 'Workstations' ELSE 'Servers' END AS MachineGroup,
    dd * $ndev + d AS ReportId
FROM range(1, $ndev + 1) a(d), range(0, $days) b(dd), lists L
UNION ALL
SELECT * FROM planted_info
ORDER BY Timestamp, DeviceId, ReportId
"""


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _utc(now: object) -> datetime:
    if not isinstance(now, datetime):
        raise ValueError(f"now must be a datetime, got {now!r}")
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _snapshot_offset_us(name: str, day: int) -> int:
    """Microseconds before now of a planted device's snapshot on day `day` (0 = within the last 24h)."""
    within = int.from_bytes(hashlib.sha1(f"snap:{name}".encode()).digest()[:8], "big") % 86_400_000
    return day * DAY_US + within * 1000 + SUB_MS_US


_PLANTED_FILES = {None: "python3", "": "agent.exe", "Microsoft Corporation": "msedge.exe", "Google LLC": "chrome.exe"}
_NOISE_WORDS = {"planted", "rare", "vendor", "inc.", "ltd", "llc", "gmbh", "s.a.", "b.v.", "corp."}


def _planted_file(company: str | None) -> str:
    if company in _PLANTED_FILES:
        return _PLANTED_FILES[company]
    words = [w for w in company.lower().replace("-", "").split() if w not in _NOISE_WORDS]
    return "".join(words) + "agent.exe"


def _planted_rows(scenarios: list[_Scenario], now: datetime, days: int) -> tuple[pa.Table, pa.Table, int]:
    """(events, DeviceInfo rows, number of distinct device names) for the planted scenarios."""
    devices: list[_PDevice] = []
    for s in scenarios:
        devices += [d for d in s.devices if d not in devices]
    info = []
    for dev in devices:
        first, last = dev.snapshot_days or (0, days)
        for day in range(first, min(last, days)):
            dtype, os_ = dev.overrides.get(day, (dev.device_type, dev.os_platform))
            info.append(
                {
                    "Timestamp": now - timedelta(microseconds=_snapshot_offset_us(dev.name, day)),
                    "DeviceId": dev.device_id,
                    "DeviceName": dev.name,
                    "DeviceType": dtype,
                    "OSPlatform": os_,
                    "OSArchitecture": "arm64" if os_ == "macOS" else "64-bit",
                    "MachineGroup": "Planted",
                    "ReportId": PLANTED_REPORT_ID_BASE + len(info) + 1,
                }
            )
    events = []
    for s in scenarios:
        for e in s.events:
            dev = e["dev"]
            company = e["company"]
            events.append(
                {
                    "Timestamp": now - e["ago"],
                    "DeviceId": dev.device_id,
                    "DeviceName": dev.name,
                    "ActionType": e["action"],
                    "RemoteIP": e["ip"],
                    "RemotePort": e["port"],
                    "RemoteUrl": e["url"],
                    "RemoteIPType": e["type"],
                    "InitiatingProcessVersionInfoCompanyName": company,
                    "LocalIP": dev.ip,
                    "LocalPort": e["port"] if e["action"] == "ListeningConnectionCreated" else 50_000 + len(events),
                    "Protocol": "Tcp",
                    "InitiatingProcessFileName": _planted_file(company),
                }
            )
    events.sort(key=lambda r: (r["Timestamp"], r["DeviceName"], r["DeviceId"], r["RemoteIP"]))
    for k, row in enumerate(events):
        row["ReportId"] = PLANTED_REPORT_ID_BASE + k + 1
    return (
        pa.Table.from_pylist(events, schema=_EVENT_SCHEMA),
        pa.Table.from_pylist(info, schema=_INFO_SCHEMA),
        len({d.name for d in devices}),
    )


_ENUM_COLUMNS = {
    "DeviceId": "gen_dev_id",
    "DeviceName": "gen_dev_name",
    "ActionType": "gen_action",
    "RemoteIPType": "gen_iptype",
    "InitiatingProcessVersionInfoCompanyName": "gen_company",
    "LocalIP": "gen_local_ip",
    "Protocol": "gen_proto",
    "InitiatingProcessFileName": "gen_file",
}
_PLANTED_TYPES = {"Timestamp": "TIMESTAMPTZ", "RemotePort": "INTEGER", "LocalPort": "INTEGER", "ReportId": "BIGINT"}


def _salt(seed: int, stream: str) -> int:
    """A 62-bit offset for the hash inputs, so that different seeds (and streams) give unrelated values."""
    return int.from_bytes(hashlib.sha256(f"{stream}:{seed}".encode()).digest()[:8], "big") >> 2


def _scalars(seed: int, events: int, days: int, now_us: int, fleet: _Fleet, pools: dict[str, list]) -> dict:
    return {
        "salt": _salt(seed, "events"),
        "now_us": now_us,
        "m": days * 86_400_000,
        "n": max(events, 1),
        "sub_ms": SUB_MS_US,
        "ndev": len(fleet.dev_id),
        "ln_pop": math.log(len(pools["pop_ip"]) + 1),
        # pool index: log-uniform over [c, Q + c) shifted to 1..Q: Zipf-like with a flattened head
        "pool_a": math.log(POOL_ZIPF_C),
        "pool_b": math.log(len(pools["pool_ip"]) + POOL_ZIPF_C) - math.log(POOL_ZIPF_C),
        "pool_c": POOL_ZIPF_C,
        "tail": max(1000, events // 10),
        "noct": len(PUBLIC_FIRST_OCTETS),
    }


def _setup_db(con: duckdb.DuckDBPyConnection, fleet: _Fleet, pools: dict[str, list], planted: pa.Table) -> None:
    """Create the ENUM types (fast Parquet writes of repeated strings; the files still say String) and the
    one-row tables `lists` (fleet and pools) and `planted` (planted rows, one list per column)."""
    col = {name: planted.column(name).to_pylist() for name in planted.column_names}
    values = {
        "gen_dev_id": fleet.dev_id + col["DeviceId"],
        "gen_dev_name": fleet.dev_name + col["DeviceName"],
        "gen_action": [a for a, _ in ACTION_WEIGHTS] + ["ListeningConnectionCreated"] + col["ActionType"],
        "gen_iptype": ["Public", "Private", "Loopback", "FourToSixMapping", "Reserved", "Teredo", "Broadcast", ""]
        + col["RemoteIPType"],
        "gen_company": fleet.vendor_name + col["InitiatingProcessVersionInfoCompanyName"],
        "gen_local_ip": fleet.dev_ip + ["0.0.0.0", "::"] + col["LocalIP"],
        "gen_proto": ["Tcp", "Udp"] + col["Protocol"],
        "gen_file": fleet.vendor_file + col["InitiatingProcessFileName"],
    }
    for type_name, vals in values.items():
        distinct = list(dict.fromkeys(v for v in vals if v is not None))
        con.execute(f"CREATE TYPE {type_name} AS ENUM (SELECT unnest($v::VARCHAR[]))", {"v": distinct})
    lists = {
        "dev_id": (fleet.dev_id, "gen_dev_id[]"),
        "dev_name": (fleet.dev_name, "gen_dev_name[]"),
        "dev_ip": (fleet.dev_ip, "gen_local_ip[]"),
        "dev_type": (fleet.dev_type, "VARCHAR[]"),
        "dev_os": (fleet.dev_os, "VARCHAR[]"),
        "slots": (fleet.slots, "INTEGER[]"),
        "vendor_name": (fleet.vendor_name, "gen_company[]"),
        "vendor_file": (fleet.vendor_file, "gen_file[]"),
        "actions": ([a for a, w in ACTION_WEIGHTS for _ in range(w)], "gen_action[]"),
        "svc_port": (SERVICE_PORTS, "INTEGER[]"),
        "tail_domains": (TAIL_DOMAINS, "VARCHAR[]"),
        "octets": ([str(o) for o in PUBLIC_FIRST_OCTETS], "VARCHAR[]"),
        "other_type": (pools["other_type"], "gen_iptype[]"),
        **{k: (v, "INTEGER[]" if k.endswith("_port") else "VARCHAR[]") for k, v in pools.items() if k != "other_type"},
    }
    assert len(lists["actions"][0]) == 1024
    select = ", ".join(f"${k}::{typ} AS {k}" for k, (_, typ) in lists.items())
    con.execute(f"CREATE TABLE lists AS SELECT {select}", {k: v for k, (v, _) in lists.items()})
    select = ", ".join(
        f"$p_{k}::{_ENUM_COLUMNS.get(k) or _PLANTED_TYPES.get(k, 'VARCHAR')}[] AS p_{k}" for k in planted.column_names
    )
    con.execute(f"CREATE TABLE planted AS SELECT {select}", {f"p_{k}": v for k, v in col.items()})


def _bulk_ts_us(g: int, now_us: int, m: int, n: int) -> int:
    return now_us - ((m - 1 - (g * m) // n) * 1000 + SUB_MS_US)


def _first_g_at_or_after(t_us: int, events: int, now_us: int, m: int) -> int:
    """Smallest bulk index g whose timestamp is >= t_us (events if none): timestamps are non-decreasing in g."""
    lo, hi = 0, events
    while lo < hi:
        mid = (lo + hi) // 2
        if _bulk_ts_us(mid, now_us, m, events) >= t_us:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _swap_in(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(f"out: {out} is a non-empty folder without {MARKER} (not a generated fleet); not replacing it")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def generate_fleet(
    out: Path,
    *,
    servers: int = 40,
    workstations: int = 60,
    events: int = 20_000,
    days: int = 14,
    now: datetime,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> FleetSummary:
    """Write a synthetic fleet under `out` and return what was written.

    `events` background network events are spread evenly over the `days` days before `now` (strictly inside
    (now - days, now)); planted rows come on top. A planted scenario is left out when it does not fit in `days`
    (all fit from days=6). `now` is taken as UTC when naive. The same arguments give byte-identical Parquet.
    `out` is written as a sibling temporary folder and then swapped in; an existing `out` is replaced only if it
    is empty or holds a previous fleet (its `_fleet.json`).
    """
    _check_int("servers", servers, 1)
    _check_int("workstations", workstations, 0)
    _check_int("events", events, 0)
    _check_int("days", days, 1)
    _check_int("seed", seed, -(2**128))  # any integer: the hash salt is derived from it with SHA-256
    now = _utc(now)
    if events * days * 86_400_000 > 2**61:
        raise ValueError(f"events too large for days={days}: events * days must stay below {2**61 // 86_400_000:,}")
    out = Path(out).absolute()
    _check_out(out)

    fleet = _build_fleet(servers, workstations, seed)
    pools = _pools(seed)
    scenarios = [s for s in _planted_scenarios() if s.max_ago() < timedelta(days=days)]
    planted_events, planted_info, n_planted_devices = _planted_rows(scenarios, now, days)
    scalars = _scalars(seed, events, days, _us(now), fleet, pools)
    total = events + planted_events.num_rows

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        # threads=1: every file is written by one thread (deterministic bytes); days run concurrently instead.
        con = duckdb.connect(config={"threads": 1, "preserve_insertion_order": True})
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET temp_directory = {_quote(tmp / '.spill')}")
            _setup_db(con, fleet, pools, planted_events)
            info_rows = _write_device_info(con, tmp, planted_info, scalars, days, seed)
            written = _write_events(con, tmp, scalars, planted_events, events, days, now, progress, total)
        finally:
            con.close()
        shutil.rmtree(tmp / ".spill", ignore_errors=True)
        if written != total:
            raise RuntimeError(f"wrote {written} network events, expected {total}")
        summary = FleetSummary(
            out=out,
            device_info_rows=info_rows,
            network_event_rows=written,
            servers=servers,
            workstations=workstations,
            planted=tuple(c for s in scenarios for c in s.cases),
            planted_event_rows=planted_events.num_rows,
            planted_devices=n_planted_devices,
        )
        manifest = {
            "generator": "detector.generate",
            "arguments": {
                "servers": servers,
                "workstations": workstations,
                "events": events,
                "days": days,
                "now": now.isoformat(),
                "seed": seed,
            },  # fmt: skip
            "device_info_rows": info_rows,
            "network_event_rows": written,
            "planted_event_rows": summary.planted_event_rows,
            "planted_devices": n_planted_devices,
            "planted": [asdict(c) for c in summary.planted],
        }
        (tmp / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _copy_options() -> str:
    return f"FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP_SIZE}, PRESERVE_ORDER true"


def _write_device_info(
    con: duckdb.DuckDBPyConnection, folder: Path, planted: pa.Table, scalars: dict, days: int, seed: int
) -> int:
    target = folder / "DeviceInfo"
    target.mkdir()
    con.register("planted_info", planted)
    try:
        params = {k: scalars[k] for k in ("now_us", "sub_ms", "ndev")}
        params |= {"days": days, "info_salt": _salt(seed, "device-info")}
        sql = f"COPY ({_INFO_SQL}) TO {_quote(target / 'part-0.parquet')} ({_copy_options()})"
        (rows,) = con.execute(sql, params).fetchone()
    finally:
        con.unregister("planted_info")
    return rows


def _write_events(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    scalars: dict,
    planted: pa.Table,
    events: int,
    days: int,
    now: datetime,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> int:
    """One COPY per UTC day, several days at a time (one DuckDB connection and thread each)."""
    target = folder / "DeviceNetworkEvents"
    target.mkdir()
    now_us, m = scalars["now_us"], scalars["m"]
    planted_ts = [_us(t) for t in planted.column("Timestamp").to_pylist()]
    planted_pos = [_first_g_at_or_after(t, events, now_us, m) for t in planted_ts]  # goes before bulk row pos
    jobs = []
    first_day, last_day = (now - timedelta(days=days)).date(), now.date()
    day = first_day
    while day <= last_day:
        lo_us = _us(datetime(day.year, day.month, day.day, tzinfo=UTC))
        hi_us = lo_us + DAY_US
        g0 = _first_g_at_or_after(lo_us, events, now_us, m) if day > first_day else 0
        g1 = _first_g_at_or_after(hi_us, events, now_us, m) if day < last_day else events
        p0, p1 = bisect_left(planted_ts, lo_us), bisect_left(planted_ts, hi_us)
        path = target / f"date={day.isoformat()}" / "part-0.parquet"
        path.parent.mkdir()
        jobs.append((path, g0, g1, [(planted_pos[i], -(i + 1)) for i in range(p0, p1)]))
        day += timedelta(days=1)

    def run(cur: duckdb.DuckDBPyConnection, path: Path, g0: int, g1: int, planted_keys: list[tuple[int, int]]) -> int:
        with cur:
            cur.execute("SET TimeZone = 'UTC'")
            _fill_keys(cur, g0, g1, planted_keys)
            sql = f"COPY ({_events_sql(bool(planted_keys))}) TO {_quote(path)} ({_copy_options()})"
            (rows,) = cur.execute(sql, scalars).fetchone()
            cur.execute("DROP TABLE keys")
        if rows != (g1 - g0) + len(planted_keys):
            raise RuntimeError(f"{path}: wrote {rows} rows, expected {(g1 - g0) + len(planted_keys)}")
        return rows

    written = 0
    jobs.sort(key=lambda j: -(j[2] - j[1]))  # largest days first keeps the workers busy until the end
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), _cpu_count()))) as pool:
        # one connection per job, made here: a connection must not be shared between threads
        futures = [pool.submit(run, con.cursor(), *job) for job in jobs]
        for future in as_completed(futures):
            written += future.result()
            if progress is not None:
                progress(written, total)
    return written


def _fill_keys(cur: duckdb.DuckDBPyConnection, g0: int, g1: int, planted_keys: list[tuple[int, int]]) -> None:
    """Temp table `keys` holding the day's row keys in output order: bulk rows g0..g1-1 ascending, each planted
    key (-i) inserted before bulk row `pos`. Tables keep insertion order, so no sort is needed."""
    cur.execute("CREATE OR REPLACE TEMP TABLE keys (k BIGINT)")
    g, i = g0, 0
    while g < g1 or i < len(planted_keys):
        stop = min(planted_keys[i][0], g1) if i < len(planted_keys) else g1
        if g < stop:
            cur.execute("INSERT INTO keys SELECT range FROM range($a, $b)", {"a": g, "b": stop})
            g = stop
        j = i
        while j < len(planted_keys) and min(planted_keys[j][0], g1) <= g:
            j += 1
        if j > i:
            cur.execute("INSERT INTO keys SELECT unnest($ks::BIGINT[])", {"ks": [k for _, k in planted_keys[i:j]]})
            i = j
