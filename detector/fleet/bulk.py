"""The background fleet: devices, vendors and destination pools built in Python from the seed, and the DuckDB
queries that derive every bulk row from its index. See detector/generate.py for the guarantees."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

import duckdb

from detector.fleet.vocabulary import (
    ACTION_WEIGHTS,
    COMMON_VENDORS,
    EMPTY_VENDOR,
    FILE_ACTION_WEIGHTS,
    FILE_EXTENSIONS,
    FILE_FOLDERS,
    FILE_PROCESSES,
    FILE_STEMS,
    FIRST_NAMES,
    LAST_NAMES,
    MID_VENDORS,
    MSTSC_NAMES,
    NULL_VENDOR,
    OTHER_TYPE_DESTINATIONS,
    POOL_DOMAINS,
    POOL_PORTS,
    POPULAR_DESTINATIONS,
    PUBLIC_FIRST_OCTETS,
    RARE_PREFIXES,
    RARE_PRODUCTS,
    RARE_SUFFIXES,
    SERVICE_PORTS,
    TAIL_DOMAINS,
    WORKSTATION_APPS,
)

SUB_MS_US = 537  # every bulk timestamp is now - (k ms + 537 us): never on a whole-second edge
SLOTS = 32  # vendor slots per device (weighted vendor choice)
POOL_ZIPF_C = 20

EVENT_TABLE, INFO_TABLE, FILE_TABLE = "DeviceNetworkEvents", "DeviceInfo", "DeviceFileEvents"
FILE_POOL = 4096  # distinct files (name, size, SHA256) of the file events' bulk
PID_BUCKET_US = 4 * 3_600_000_000  # a process keeps its id for a 4-hour bucket of its device
MSTSC_PER_512 = 3  # share of workstations' connections to pool/tail destinations made by mstsc.exe (file mode)

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

# The columns the fleet writes, in order, with their bulk expressions over the CTEs above (their types are the
# tables' documented Kusto types, sql/_tables). A planted row has key g = -i and takes P.p_<column>[i] instead.
EVENT_COLUMNS: dict[str, str] = {
    "Timestamp": "make_timestamptz($now_us - (($m - 1 - (g * $m) // $n) * 1000 + $sub_ms))",
    "DeviceId": "dev_id[d]",
    "DeviceName": "dev_name[d]",
    "ActionType": "CASE WHEN c = 0 THEN 'ListeningConnectionCreated'::gen_action ELSE actions[act] END",
    "RemoteIP": "RemoteIP",
    "RemotePort": "RemotePort",
    "RemoteUrl": "RemoteUrl",
    "RemoteIPType": "RemoteIPType",
    "InitiatingProcessVersionInfoCompanyName": "vendor_name[vid]",
    "LocalIP": "CASE WHEN c = 0 THEN CASE WHEN sub & 1 = 0 THEN '0.0.0.0'::gen_local_ip ELSE '::'::gen_local_ip END "
               "ELSE dev_ip[d] END",
    "LocalPort": "CASE WHEN c = 0 THEN svc_port[svc] ELSE 49152 + lport END::INTEGER",
    "Protocol": "CASE WHEN RemotePort IN (53, 67, 123, 137, 3478, 3544, 5353) THEN 'Udp'::gen_proto "
                "ELSE 'Tcp'::gen_proto END",
    "InitiatingProcessFileName": "vendor_file[(vid - 1) * 4 + fsel + 1]",
    "ReportId": "g + 1",
}  # fmt: skip

# Event columns held as DuckDB ENUMs (repeated strings: several times cheaper to write; the files say String).
ENUM_COLUMNS = {
    "DeviceId": "gen_dev_id",
    "DeviceName": "gen_dev_name",
    "ActionType": "gen_action",
    "RemoteIPType": "gen_iptype",
    "InitiatingProcessVersionInfoCompanyName": "gen_company",
    "LocalIP": "gen_local_ip",
    "Protocol": "gen_proto",
    "InitiatingProcessFileName": "gen_file",
}

# DeviceInfo: one snapshot per device per day; the bulk devices' rows, then the planted ones (table planted_info).
INFO_COLUMNS: dict[str, str] = {
    "Timestamp": "make_timestamptz($now_us - (dd * 86400000000 + (hash(d * 4 + $info_salt) % 86400000)::BIGINT "
                 "* 1000 + $sub_ms))",
    "DeviceId": "L.dev_id[d]::VARCHAR",
    "DeviceName": "L.dev_name[d]::VARCHAR",
    "DeviceType": "L.dev_type[d]",
    "OSPlatform": "CASE WHEN dd >= 1 AND hash(d * 100003 + dd * 4 + 1 + $info_salt) % 60 = 0 THEN NULL "
                  "WHEN dd >= 1 AND hash(d * 100003 + dd * 4 + 1 + $info_salt) % 60 = 1 THEN '' ELSE L.dev_os[d] END",
    "OSArchitecture": "CASE WHEN L.dev_os[d] = 'macOS' THEN 'arm64' ELSE '64-bit' END",
    "MachineGroup": "CASE WHEN L.dev_type[d] = 'Workstation' THEN 'Workstations' ELSE 'Servers' END",
    "ReportId": "dd * $ndev + d",
}  # fmt: skip


def events_sql(columns: dict[str, str], with_planted: bool, mstsc: bool = False) -> str:
    """The SELECT over table `keys` (one BIGINT column k, in output order) giving every event column.
    columns: column -> DuckDB type, in order; a column the bulk has no expression for is null in bulk rows.
    mstsc: the file-events mode (see MSTSC_COLUMNS): some workstation connections become mstsc.exe's, and
    InitiatingProcessId gets values; without it the query is the one the fleet always had."""
    expressions = {**EVENT_COLUMNS, **MSTSC_COLUMNS} if mstsc else EVENT_COLUMNS
    cols = []
    for name, duck in columns.items():
        expr = expressions.get(name, "NULL")
        if name not in ENUM_COLUMNS:
            expr = f"CAST({expr} AS {duck})"
        if with_planted:
            expr = f"CASE WHEN g < 0 THEN P.p_{name}[-g] ELSE {expr} END"
        cols.append(f"    {expr} AS {name}")
    source = f"(SELECT *, slots[(d - 1) * {SLOTS} + slot + 1] AS vid FROM r)"
    if mstsc:
        source = _MSTSC_SOURCE.format(source=source)
    if with_planted:
        source += ", planted P"
    return _BULK_CTES + "SELECT\n" + ",\n".join(cols) + f"\nFROM {source}\n"


# The bulk row's timestamp in microseconds (as EVENT_COLUMNS' Timestamp) and a process id from it: a multiple of
# 4, as Windows gives, the same for one process key on one device within a PID_BUCKET_US bucket, in either table.
_TS_US = "($now_us - (($m - 1 - (g * $m) // $n) * 1000 + $sub_ms))"


def _pid(key: str) -> str:
    return f"4 * (100 + hash(d * 65536 + ({key}) + 32768 + $pid_salt, {_TS_US} // {PID_BUCKET_US}) % 25000)"


# File-events mode only: a workstation's connection to a pool or tail destination (public) is mstsc.exe's with
# probability MSTSC_PER_512 / 512 (h4: a stream of its own), mostly ConnectionSuccess to port 3389, company
# Microsoft's; every connection gets an InitiatingProcessId (mstsc.exe's key is 0 in both tables).
_MSTSC_SOURCE = """(SELECT * REPLACE (
        CASE WHEN ms THEN $ms_vendor ELSE vid END AS vid,
        CASE WHEN ms THEN CASE WHEN (h4 >> 14) & 15 = 0 THEN $failed_act ELSE 1 END ELSE act END AS act,
        CASE WHEN ms THEN CASE WHEN (h4 >> 12) & 3 = 0 THEN 443 ELSE 3389 END ELSE RemotePort END AS RemotePort)
    FROM (SELECT *, d > $nsrv AND c >= 6 AND (h4 & 511) < $mstsc_share AS ms
        FROM (SELECT *, hash(g + $mstsc_salt) AS h4 FROM {source})))"""
MSTSC_COLUMNS: dict[str, str] = {
    "InitiatingProcessFileName": "CASE WHEN ms THEN (CASE WHEN (h4 >> 9) & 7 = 0 THEN 'MSTSC.EXE' ELSE 'mstsc.exe' END)"
                                 "::gen_file ELSE vendor_file[(vid - 1) * 4 + fsel + 1] END",
    "InitiatingProcessId": _pid("CASE WHEN ms THEN 0 ELSE (vid - 1) * 4 + fsel + 1 END"),
}  # fmt: skip


def mstsc_scalars(seed: int, fleet: Fleet, servers: int) -> dict:
    """The event query's extra parameters in file-events mode."""
    return {
        "mstsc_salt": salt(seed, "mstsc"),
        "mstsc_share": MSTSC_PER_512,
        "nsrv": servers,
        "ms_vendor": fleet.vendor_name.index("Microsoft Corporation") + 1,
        "failed_act": 1 + next(i for i, (a, _) in enumerate(_action_slots()) if a == "ConnectionFailed"),
        "pid_salt": salt(seed, "process-ids") >> 4,
    }


def _action_slots() -> list[tuple[str, int]]:
    return [(a, w) for a, w in ACTION_WEIGHTS for _ in range(w)]


# --------------------------------------------------------------------------------------------------------------
# The file events' bulk query (file-events mode): every column a function of (g, seed, fleet, file pool).
# --------------------------------------------------------------------------------------------------------------

# h1: device (bits 0-31), process slot (32-41), action slot (42-51), folder slot (52-54); h2: file (0-51).
# A process that runs on workstations only (FILE_PROCESSES) writes on a workstation (a fleet without any has none
# of its rows: setup_files_db); mstsc.exe (key 0) picks files uniformly from the pool, the others Zipf-like.
_FILE_CTES = """
WITH base AS (
    SELECT k AS g,
        hash(k * 4 + 1 + $salt) AS h1,
        hash(k * 4 + 2 + $salt) AS h2
    FROM keys
), f AS (
    SELECT g,
        (h1 & 4294967295)::BIGINT AS dbits,
        ((h1 >> 32) & 1023)::BIGINT + 1 AS pslot,
        ((h1 >> 42) & 1023)::BIGINT + 1 AS aslot,
        ((h1 >> 52) & 7)::BIGINT AS fslot,
        (h2 & 4503599627370495)::DOUBLE / 4503599627370496.0 AS u
    FROM base
), fp AS (
    SELECT f.*, FL.proc_of[pslot] AS p FROM f, flists FL
), r AS (
    SELECT fp.*, FL.*,
        CASE WHEN FL.proc_ws[p] AND $nws > 0 THEN $nsrv + ((dbits * $nws) >> 32) + 1
             ELSE ((dbits * $ndev) >> 32) + 1 END AS d,
        CASE WHEN FL.proc_key[p] = 0 THEN floor(u * $nfiles)::BIGINT + 1
             ELSE least(floor(exp(u * $ln_files))::BIGINT, $nfiles) END AS fi,
        FL.proc_folders[(p - 1) * 8 + fslot + 1] AS fo,
        FL.file_actions[aslot] AS a
    FROM fp, flists FL
)
"""

# The file events' columns, in the table's documented order, with their bulk expressions (see EVENT_COLUMNS).
FILE_COLUMNS: dict[str, str] = {
    "Timestamp": f"make_timestamptz({_TS_US})",
    "DeviceId": "dev_id[d]",
    "DeviceName": "dev_name[d]",
    "ActionType": "a",
    "FileName": "file_name[fi]",
    "FolderPath": "concat(folder_pre[fo], CASE WHEN folder_post[fo] = '' THEN '' "
                  "ELSE concat(users[(d - 1) % $nusers + 1]::VARCHAR, folder_post[fo]) END, file_name[fi]::VARCHAR)",
    "SHA256": "CASE WHEN a = 'FileDeleted' THEN NULL ELSE file_sha[fi] END",
    "PreviousFileName": "CASE WHEN a = 'FileRenamed' THEN concat(file_name[fi]::VARCHAR, proc_prev[p]) ELSE '' END",
    "FileSize": "CASE WHEN a = 'FileDeleted' THEN NULL ELSE file_size[fi] END",
    "InitiatingProcessAccountDomain": "CASE WHEN proc_service[p] THEN 'nt authority'::gen_f_domain "
                                      "ELSE 'contoso'::gen_f_domain END",
    "InitiatingProcessAccountName": "CASE WHEN proc_service[p] THEN 'system'::gen_f_user "
                                    "ELSE users[(d - 1) % $nusers + 1] END",
    "InitiatingProcessFolderPath": "proc_path[p]",
    "InitiatingProcessFileName": "proc_name[p]",
    "InitiatingProcessId": _pid("proc_key[p]"),
    "ReportId": "g + 1",
}  # fmt: skip

FILE_ENUM_COLUMNS = {
    "DeviceId": "gen_f_dev_id",
    "DeviceName": "gen_f_dev_name",
    "ActionType": "gen_f_action",
    "FileName": "gen_f_name",
    "SHA256": "gen_f_sha",
    "InitiatingProcessAccountDomain": "gen_f_domain",
    "InitiatingProcessAccountName": "gen_f_user",
    "InitiatingProcessFolderPath": "gen_f_proc_path",
    "InitiatingProcessFileName": "gen_f_proc",
}


def file_events_sql(columns: dict[str, str], with_planted: bool) -> str:
    """As events_sql, for DeviceFileEvents (planted rows from the one-row table `planted_files`)."""
    cols = []
    for name, duck in columns.items():
        expr = FILE_COLUMNS.get(name, "NULL")
        if name not in FILE_ENUM_COLUMNS:
            expr = f"CAST({expr} AS {duck})"
        if with_planted:
            expr = f"CASE WHEN g < 0 THEN P.p_{name}[-g] ELSE {expr} END"
        cols.append(f"    {expr} AS {name}")
    source = "r, planted_files P" if with_planted else "r"
    return _FILE_CTES + "SELECT\n" + ",\n".join(cols) + f"\nFROM {source}\n"


def info_sql(columns: dict[str, str]) -> str:
    """DeviceInfo: every bulk device's daily snapshots and the rows of table `planted_info` (the same columns,
    in order), sorted. columns: column -> DuckDB type, in order."""
    select = ",\n".join(f"    CAST({INFO_COLUMNS.get(c, 'NULL')} AS {duck}) AS {c}" for c, duck in columns.items())
    return (
        f"SELECT\n{select}\nFROM range(1, $ndev + 1) a(d), range(0, $days) b(dd), lists L\n"
        "UNION ALL\nSELECT * FROM planted_info\nORDER BY Timestamp, DeviceId, ReportId\n"
    )


# --------------------------------------------------------------------------------------------------------------
# Fleet (devices, vendors, destination pools): small, built in Python with a seeded random.Random
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Fleet:
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


def device_id(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def build_fleet(servers: int, workstations: int, seed: int) -> Fleet:
    rng = random.Random(f"fleet:{seed}")
    fleet = Fleet()
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
        fleet.dev_id.append(device_id("device", seed, name))
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
        fleet.dev_id.append(device_id("device", seed, name))
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


def destination_pools(seed: int) -> dict[str, list]:
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


def salt(seed: int, stream: str) -> int:
    """A 62-bit offset for the hash inputs, so that different seeds (and streams) give unrelated values."""
    return int.from_bytes(hashlib.sha256(f"{stream}:{seed}".encode()).digest()[:8], "big") >> 2


def scalars(seed: int, events: int, days: int, now_us: int, fleet: Fleet, pools: dict[str, list]) -> dict:
    """The bulk event query's parameters."""
    return {
        "salt": salt(seed, "events"),
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


def setup_db(
    con: duckdb.DuckDBPyConnection,
    fleet: Fleet,
    pools: dict[str, list],
    planted: dict[str, list],
    planted_types: dict[str, str],
    mstsc: bool = False,
) -> None:
    """Create the ENUM types (fast Parquet writes of repeated strings; the files still say String) and the
    one-row tables `lists` (fleet and pools) and `planted` (the planted events, one list per column).
    planted: column -> values, for every event column; planted_types: column -> DuckDB type. mstsc: the
    file-events mode of events_sql (its process names join the ENUM of file names)."""
    bulk_values = {
        "gen_dev_id": fleet.dev_id,
        "gen_dev_name": fleet.dev_name,
        "gen_action": [a for a, _ in ACTION_WEIGHTS] + ["ListeningConnectionCreated"],
        "gen_iptype": ["Public", "Private", "Loopback", "FourToSixMapping", "Reserved", "Teredo", "Broadcast", ""],
        "gen_company": fleet.vendor_name,
        "gen_local_ip": fleet.dev_ip + ["0.0.0.0", "::"],
        "gen_proto": ["Tcp", "Udp"],
        "gen_file": fleet.vendor_file + (list(MSTSC_NAMES) if mstsc else []),
    }
    for column, type_name in ENUM_COLUMNS.items():
        vals = bulk_values[type_name] + planted[column]
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
    select = ", ".join(f"$p_{k}::{ENUM_COLUMNS.get(k) or planted_types[k]}[] AS p_{k}" for k in planted)
    con.execute(f"CREATE TABLE planted AS SELECT {select}", {f"p_{k}": v for k, v in planted.items()})


# --------------------------------------------------------------------------------------------------------------
# File events (file-events mode): the file pool, the query's parameters and its tables
# --------------------------------------------------------------------------------------------------------------


def file_pool(seed: int) -> dict[str, list]:
    """FILE_POOL distinct files (name, size, SHA256 of the name and seed) and the fleet's user names."""
    rng = random.Random(f"files:{seed}")
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < FILE_POOL:
        stem, ext, r = rng.choice(FILE_STEMS), rng.choice(FILE_EXTENSIONS), rng.random()
        variant = f" ({rng.randint(1, 9)})" if r < 0.15 else f"_{rng.randint(1, 999)}" if r < 0.6 else ""
        name = stem + variant + ext
        if name not in seen:
            seen.add(name)
            names.append(name)
    users = [f"{first}.{last}" for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(users)
    return {
        "file_name": names,
        "file_size": [min(int(rng.lognormvariate(10, 2.2)), 2**40) for _ in names],
        "file_sha": [hashlib.sha256(f"{seed}:{name}".encode()).hexdigest() for name in names],
        "users": users,
    }


def file_scalars(seed: int, file_events: int, days: int, now_us: int, fleet: Fleet, pool: dict, servers: int) -> dict:
    """The file events query's parameters."""
    return {
        "salt": salt(seed, "file-events"),
        "now_us": now_us,
        "m": days * 86_400_000,
        "n": max(file_events, 1),
        "sub_ms": SUB_MS_US,
        "ndev": len(fleet.dev_id),
        "nsrv": servers,
        "nws": len(fleet.dev_id) - servers,
        "nfiles": len(pool["file_name"]),
        "ln_files": math.log(len(pool["file_name"]) + 1),
        "nusers": len(pool["users"]),
        "pid_salt": salt(seed, "process-ids") >> 4,
    }


def setup_files_db(
    con: duckdb.DuckDBPyConnection,
    fleet: Fleet,
    pool: dict[str, list],
    planted: dict[str, list],
    planted_types: dict[str, str],
    workstations: int,
) -> None:
    """As setup_db, for the file events: their ENUM types, the one-row tables `flists` and `planted_files`. In a
    fleet without workstations the workstation-only processes' share goes to the first service process."""
    folders = list(FILE_FOLDERS)
    procs = FILE_PROCESSES
    service = next(i for i, p in enumerate(procs) if p[4])
    proc_of = [i if workstations or not p[3] else service for i, p in enumerate(procs) for _ in range(p[2])]
    bulk_values = {
        "gen_f_dev_id": fleet.dev_id,
        "gen_f_dev_name": fleet.dev_name,
        "gen_f_action": [a for a, _ in FILE_ACTION_WEIGHTS],
        "gen_f_name": pool["file_name"],
        "gen_f_sha": pool["file_sha"],
        "gen_f_domain": ["nt authority", "contoso"],
        "gen_f_user": [*pool["users"], "system"],
        "gen_f_proc_path": [f"{folder}\\{name}" for name, folder, *_ in procs],
        "gen_f_proc": [name for name, *_ in procs],
    }
    for column, type_name in FILE_ENUM_COLUMNS.items():
        vals = bulk_values[type_name] + planted[column]
        distinct = list(dict.fromkeys(v for v in vals if v is not None))
        con.execute(f"CREATE TYPE {type_name} AS ENUM (SELECT unnest($v::VARCHAR[]))", {"v": distinct})
    lists = {
        "dev_id": (fleet.dev_id, "gen_f_dev_id[]"),
        "dev_name": (fleet.dev_name, "gen_f_dev_name[]"),
        "file_actions": ([a for a, w in FILE_ACTION_WEIGHTS for _ in range(w)], "gen_f_action[]"),
        "file_name": (pool["file_name"], "gen_f_name[]"),
        "file_sha": (pool["file_sha"], "gen_f_sha[]"),
        "file_size": (pool["file_size"], "BIGINT[]"),
        "users": (pool["users"], "gen_f_user[]"),
        "folder_pre": ([FILE_FOLDERS[k][0] for k in folders], "VARCHAR[]"),
        "folder_post": ([FILE_FOLDERS[k][1] for k in folders], "VARCHAR[]"),
        "proc_of": ([i + 1 for i in proc_of], "INTEGER[]"),
        "proc_name": (bulk_values["gen_f_proc"], "gen_f_proc[]"),
        "proc_path": (bulk_values["gen_f_proc_path"], "gen_f_proc_path[]"),
        "proc_ws": ([p[3] for p in procs], "BOOLEAN[]"),
        "proc_service": ([p[4] for p in procs], "BOOLEAN[]"),
        "proc_prev": ([p[5] for p in procs], "VARCHAR[]"),
        "proc_key": ([0 if p[0] in MSTSC_NAMES else -(i + 1) for i, p in enumerate(procs)], "INTEGER[]"),
        "proc_folders": ([folders.index(k) + 1 for p in procs for k in p[6]], "INTEGER[]"),
    }
    assert len(lists["proc_of"][0]) == 1024 and len(lists["file_actions"][0]) == 1024
    select = ", ".join(f"${k}::{typ} AS {k}" for k, (_, typ) in lists.items())
    con.execute(f"CREATE TABLE flists AS SELECT {select}", {k: v for k, (v, _) in lists.items()})
    select = ", ".join(f"$p_{k}::{FILE_ENUM_COLUMNS.get(k) or planted_types[k]}[] AS p_{k}" for k in planted)
    con.execute(f"CREATE TABLE planted_files AS SELECT {select}", {f"p_{k}": v for k, v in planted.items()})
