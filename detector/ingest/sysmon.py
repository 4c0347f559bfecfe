"""Sysmon Event ID 3 and Security 5156 (JSON lines from NXLog, Winlogbeat or Logstash) as DeviceNetworkEvents, and
DeviceInfo for the hosts seen.

Two passes over the inputs. The first collects what a single event does not carry: ProcessGuid -> Company from
Sysmon Event ID 1, how each host spells its image paths, the clock offset of each time field, the evidence that
a host is a domain controller, and the connections Sysmon 3 already reports. The second maps the events.

Field names differ between shippers (NXLog/Logstash flat `Hostname`, `UtcTime`, `@timestamp`, `EventTime`;
Winlogbeat `winlog.event_data`, `winlog.computer_name`; numbers as text or numbers; `-` or "" for missing), so
each value is looked up under every name it is known by.

Mapping (DeviceNetworkEvents):
- Outbound only: Sysmon 3 with `Initiated` true; 5156 with Direction `%%14593` (Outbound). Inbound (`Initiated`
  false, `%%14592`) is skipped and counted.
- A 5156 that reports the same connection as a Sysmon 3 (same host, protocol, local port, remote address and port,
  within a minute) is skipped as a duplicate: Defender reports one event per connection.
- Timestamp: Sysmon's `UtcTime` (UTC by definition). Events without it (5156) use TimeCreated, EventTime or
  @timestamp, in that order, corrected by the offset this host's events show between that field and UtcTime in
  the same input file (rounded to 15 minutes, so shipping delays of seconds stay uncorrected): NXLog's EventTime is
  local time, and some exports stamp local time with a `Z`. The summary names each correction it made.
- DeviceName: the host name as logged (FQDN when the log has one), lower-cased, as Defender shows device names.
  DeviceId: SHA-1 (hex) of that DeviceName, stable across runs and files.
- ActionType "ConnectionSuccess" (both events report permitted/established connections).
- RemoteIP / RemotePort: the destination; LocalIP / LocalPort: the source. Addresses are normalised
  (`fe80:0:0:0:1` -> `fe80::1`) so Sysmon and 5156 spell an address alike; RemoteIPType as in `iptype`.
- RemoteUrl: Sysmon's DestinationHostname (a reverse-lookup name, the closest Sysmon has to a URL), else null.
- InitiatingProcessFolderPath (full path, as Defender shows it) and FileName: from Sysmon's Image. 5156 gives a
  device path `\\device\\harddiskvolume2\\windows\\system32\\svchost.exe`: it becomes the path Sysmon logged for the
  same file on that host when there is one (real drive letter and case), else the drive letter learned for that
  volume from such pairs, else `C:`, with the rest as given (5156 writes paths in lower case).
- InitiatingProcessVersionInfoCompanyName: see `company_for`.
- ReportId: the event's RecordNumber / record_id. AdditionalFields: JSON naming the source event and where the
  company name and, when corrected, the time came from.

DeviceInfo: one row per device per day it appears in (any event), per input file, stamped with the last event
of that day. DeviceType / OSPlatform come from `--assets` when it names the device, else from the domain
controller heuristic in `classify_host`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from detector.errors import ParamError
from detector.ingest.base import Item, Reader, Reject, Row, RowError, Skip, convert_row
from detector.ingest.iptype import classify_ip, normalize_ip
from detector.ingest.readers import lines
from detector.ingest.schema import to_int
from detector.ingest.summary import Device
from detector.ingest.timeparse import parse_timestamp

MICROSOFT = "Microsoft Corporation"
_MISSING = (None, "", "-")
_TIME_FIELDS = ("TimeCreated", "EventTime", "@timestamp")
_DC_PORTS = {88: "Kerberos", 389: "LDAP", 636: "LDAPS", 3268: "Global Catalog", 3269: "Global Catalog"}
_DC_NAME = re.compile(r"dc\d*$", re.IGNORECASE)
_DEVICE_PATH = re.compile(r"^\\device\\(harddiskvolume\d+)\\(.+)$", re.IGNORECASE)
_DRIVE_PATH = re.compile(r"^(?:\\\\\?\\)?([a-zA-Z]:)\\(.+)$")
_WINDOWS_BUILD = re.compile(r"^10\.0\.(\d{5})\b")
_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "6": "Tcp", "17": "Udp", "1": "Icmp", "58": "IcmpV6"}
_PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17"}
_KERNEL_IMAGES = {"system", "registry", "memory compression", "secure system", "system idle process"}
_PROGRAM_FILES = {"program files", "program files (x86)", "progra~1", "progra~2"}
_MICROSOFT_FOLDERS = {
    "internet explorer",
    "windowspowershell",
    "msbuild",
    "reference assemblies",
    "dotnet",
    "iis",
    "iis express",
    "windows defender",
    "windows defender advanced threat protection",
}
_WINDOWS_NOT_MICROSOFT = {"temp", "installer", "downloaded program files"}  # anyone's files land there
_IMAGE_FIELDS = ("Image", "ParentImage", "SourceImage", "TargetImage")
_SERVER_BUILDS = {
    9200: "WindowsServer2012",
    9600: "WindowsServer2012R2",
    14393: "WindowsServer2016",
    17763: "WindowsServer2019",
    20348: "WindowsServer2022",
    26100: "WindowsServer2025",
}
_CAP = 10_000  # bound on per-host learned maps


# --------------------------------------------------------------------------------------------------------------
# Company names from image paths


def _path_parts(path: str) -> list[str]:
    """Path components after the drive letter or `\\device\\harddiskvolumeN`."""
    text = path.strip().strip('"').replace("/", "\\")
    match = _DEVICE_PATH.match(text)
    if match:
        text = match.group(2)
    else:
        match = _DRIVE_PATH.match(text)
        if match:
            text = match.group(2)
    return [part for part in text.split("\\") if part]


def vendor_folder(path: str) -> str | None:
    """`<Vendor>` of `...\\Program Files[ (x86)]\\[Common Files\\]<Vendor>\\...\\file` (as spelled), else None."""
    parts = _path_parts(path)
    if len(parts) < 3 or parts[0].lower() not in _PROGRAM_FILES:
        return None
    index = 2 if parts[1].lower() == "common files" and len(parts) >= 4 else 1
    return parts[index]


def _is_microsoft_folder(name: str) -> bool:
    low = name.lower()
    return low.startswith(("microsoft", "windows ")) or low in _MICROSOFT_FOLDERS


def company_from_path(path: str | None, spellings: dict[str, str] | None = None) -> str:
    """The company name a file's path implies, when no Sysmon 1 gives the real one. First match wins:

    1. a kernel pseudo-image (`System`, `Registry`, `Memory Compression`, ...) -> "Microsoft Corporation";
    2. under `<drive>:\\Windows\\` -> "Microsoft Corporation", except `Windows\\Temp`, `Windows\\Installer` and
       `Windows\\Downloaded Program Files`, which hold anyone's files -> "";
    3. under `Program Files` or `Program Files (x86)` (skipping `Common Files`), the vendor folder: a folder named
       `Microsoft*`, `Windows *` (Windows Defender, Windows NT, Windows Mail...), Internet Explorer,
       WindowsPowerShell, dotnet, MSBuild, IIS -> "Microsoft Corporation"; any other folder -> its name, as
       spelled (`Amazon`, `VMware`), or as `spellings` spells it (5156 lower-cases paths; Sysmon's spelling of
       the same folder elsewhere in the inputs is used so both give one company);
       a file directly in Program Files -> "";
    4. a folder `WindowsAzure` or `Microsoft*` anywhere on the path (the Azure VM agent and its extensions under
       C:\\WindowsAzure and C:\\Packages\\Plugins\\Microsoft.*, C:\\ProgramData\\Microsoft\\...) ->
       "Microsoft Corporation";
    5. otherwise "" (unknown: the rule treats an empty company as one more vendor).
    """
    if not path or not path.strip():
        return ""
    if path.strip().lower() in _KERNEL_IMAGES:
        return MICROSOFT
    parts = _path_parts(path)
    if not parts:
        return ""
    lowered = [part.lower() for part in parts]
    if lowered[0] == "windows" and len(parts) > 1:
        return "" if lowered[1] in _WINDOWS_NOT_MICROSOFT else MICROSOFT
    vendor = vendor_folder(path)
    if vendor is not None:
        if _is_microsoft_folder(vendor):
            return MICROSOFT
        return (spellings or {}).get(vendor.lower(), vendor)
    if lowered[0] in _PROGRAM_FILES:
        return ""
    if any(part == "windowsazure" or part.startswith("microsoft") for part in lowered[:-1]):
        return MICROSOFT
    return ""


# --------------------------------------------------------------------------------------------------------------
# Reading one event


def flatten(obj: dict) -> dict:
    """One flat dict per event: NXLog/Logstash objects as they are; Winlogbeat's `winlog.event_data` (and the
    older top-level `event_data`) merged with the envelope fields under the NXLog names."""
    winlog = obj.get("winlog")
    if isinstance(winlog, dict):
        event = dict(winlog.get("event_data") or {})
        code = (obj.get("event") or {}).get("code") if isinstance(obj.get("event"), dict) else None
        for name, value in (
            ("EventID", winlog.get("event_id", code)),
            ("Hostname", winlog.get("computer_name")),
            ("Channel", winlog.get("channel")),
            ("SourceName", winlog.get("provider_name")),
            ("RecordNumber", winlog.get("record_id")),
            ("@timestamp", obj.get("@timestamp")),
            ("Message", obj.get("message")),
        ):
            if value is not None:
                event.setdefault(name, value)
        return event
    data = obj.get("event_data")
    if isinstance(data, dict):
        event = dict(data)
        for source, name in (
            ("event_id", "EventID"),
            ("computer_name", "Hostname"),
            ("source_name", "SourceName"),
            ("log_name", "Channel"),
            ("record_number", "RecordNumber"),
            ("@timestamp", "@timestamp"),
            ("message", "Message"),
        ):
            if source in obj:
                event.setdefault(name, obj[source])
        return event
    return obj


def _get(event: dict, *names: str) -> Any:
    for name in names:
        value = event.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value not in _MISSING:
            return value
    return None


def _truthy(value: Any) -> bool | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return None


def _kind(event: dict) -> tuple[str, int | None]:
    """('conn' | 'wfp' | 'proc' | 'kerberos' | 'ds' | 'other', event id)."""
    try:
        event_id = to_int(_get(event, "EventID", "EventId", "event_id"))
    except ValueError:
        event_id = None
    source = f"{_get(event, 'SourceName', 'ProviderName', 'Provider') or ''} {_get(event, 'Channel') or ''}".lower()
    unknown = not source.strip()
    sysmon = "sysmon" in source
    security = "security" in source
    if event_id == 3 and (sysmon or unknown and "DestinationIp" in event):
        return "conn", event_id
    if event_id == 5156 and (security or unknown) and "DestAddress" in event:
        return "wfp", event_id
    if event_id == 1 and (sysmon or unknown and "ProcessGuid" in event):
        return "proc", event_id
    if event_id in (4768, 4769, 4771) and security:
        return "kerberos", event_id
    if event_id == 4662 and security and str(_get(event, "ObjectServer") or "").upper() == "DS":
        return "ds", event_id
    return "other", event_id


def _host(event: dict, kind: str) -> str | None:
    name = _get(event, "Hostname", "Computer", "ComputerName", "computer_name", "MachineName")
    if name is None and isinstance(event.get("host"), dict):  # ECS host.name; a string `host` is the shipper
        name = _get(event["host"], "name", "hostname")
    if name is None and kind == "conn" and _truthy(_get(event, "Initiated")):
        name = _get(event, "SourceHostname")  # the local side of an outbound connection
    if name is None:
        return None
    text = str(name).strip().lower()
    return text or None


def _port(event: dict, *names: str) -> int | None:
    value = _get(event, *names)
    try:
        port = to_int(value, "int32")
    except ValueError:
        raise RowError(f"{names[0]}: {value!r} is not a port number") from None
    if port is not None and not 0 <= port <= 65535:
        raise RowError(f"{names[0]}: {port} is not a port number")
    return port


def _protocol_number(value: Any) -> str:
    text = str(value or "").strip().lower()
    return _PROTOCOL_NUMBERS.get(text, text)


def _ip(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return normalize_ip(str(value))
    except ValueError:
        return str(value)


def _minute(stamp: datetime) -> int:
    return int(stamp.timestamp() // 60)


def device_id(name: str) -> str:
    """Defender-like 40-hex DeviceId derived from the (lower-case) device name."""
    return hashlib.sha1(name.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Assets and the domain controller heuristic


@dataclass(frozen=True)
class Asset:
    name: str
    device_type: str
    os_platform: str


def load_assets(path: Path) -> dict[str, Asset]:
    """`--assets` CSV with columns DeviceName, DeviceType, OSPlatform (more columns are ignored), keyed by
    lower-case DeviceName. Raises ParamError naming the file and line."""
    assets: dict[str, Asset] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            try:
                fields = {name.strip().lower(): name for name in reader.fieldnames or []}
                missing = [c for c in ("DeviceName", "DeviceType", "OSPlatform") if c.lower() not in fields]
                if missing:
                    raise ParamError("--assets", f"{path}:1: the header lacks {', '.join(missing)}")
                for record in reader:
                    name = (record.get(fields["devicename"]) or "").strip()
                    if not name:
                        raise ParamError("--assets", f"{path}:{reader.line_num}: DeviceName is empty")
                    assets[name.lower()] = Asset(
                        name,
                        (record.get(fields["devicetype"]) or "").strip(),
                        (record.get(fields["osplatform"]) or "").strip(),
                    )
            except (csv.Error, UnicodeDecodeError) as exc:
                raise ParamError("--assets", f"{path}:{reader.line_num}: {exc}") from None
    except OSError as exc:
        raise ParamError("--assets", f"{path}: {exc.strerror or exc}") from None
    return assets


def _match_asset(host: str, assets: dict[str, Asset]) -> Asset | None:
    """By full name, else by first DNS label when exactly one asset has it (`HFDC01` names hfdc01.shire.com)."""
    if host in assets:
        return assets[host]
    label = host.split(".", 1)[0]
    candidates = [a for key, a in assets.items() if key.split(".", 1)[0] == label]
    return candidates[0] if len(candidates) == 1 else None


def classify_host(host: str, dc_evidence: str | None, build: int | None) -> tuple[str, str, str]:
    """(DeviceType, OSPlatform, reason) for a host not in --assets.

    A domain controller is a "Server": its first DNS label ends in `DC` plus optional digits (HFDC01, MORDORDC,
    DC1), or the logs show it doing a DC's work: lsass.exe accepting connections on Kerberos/LDAP/Global Catalog
    ports (88, 389, 636, 3268, 3269) in Sysmon 3 or 5156, or Security events only DCs write (4768, 4769, 4771
    Kerberos tickets; 4662 on a `DS` object). Every other host is a "Workstation": the logs cannot tell a member
    server from a workstation, so give member servers in --assets.
    OSPlatform: from the Windows build most seen in the host's Sysmon FileVersion fields (17763 ->
    WindowsServer2019 for a server), else "WindowsServer"; workstations "Windows11" from build 22000, else
    "Windows10".
    """
    label = host.split(".", 1)[0]
    reasons = []
    if _DC_NAME.search(label):
        reasons.append(f"name {label.upper()} ends in DC")
    if dc_evidence:
        reasons.append(dc_evidence)
    if reasons:
        platform = _SERVER_BUILDS.get(build or 0, "WindowsServer")
        return "Server", platform, "domain controller: " + "; ".join(reasons)
    platform = "Windows11" if build and build >= 22000 else "Windows10"
    return "Workstation", platform, "no sign of a domain controller"


# --------------------------------------------------------------------------------------------------------------
# The reader


class Sysmon(Reader):
    two_pass = True

    def __init__(self, assets: dict[str, Asset] | None = None):
        super().__init__()
        self.assets = assets
        # pass 1
        self.company_by_guid: dict[str, str] = {}
        self.company_by_image: dict[str, str] = {}
        self.images: dict[str, dict[str, str]] = defaultdict(dict)  # host -> path tail (lower) -> Sysmon's path
        self.spellings: dict[str, str] = {}  # vendor folder (lower) -> spelling with capitals
        self.volume_tails: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.dc_evidence: dict[str, str] = {}
        self.builds: dict[str, Counter] = defaultdict(Counter)
        self.offset_votes: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
        self.connections: set[int] = set()  # hashes of Sysmon 3 connections, to drop 5156 duplicates
        # after pass 1
        self.offsets: dict[tuple[str, str, str], int] = {}
        self.drives: dict[tuple[str, str], str] = {}
        self._prepared = False
        self._classified: dict[str, tuple[str, str, str]] = {}
        self._assets_used: set[str] = set()
        # pass 2
        self._days: dict[tuple[str, str], datetime] = {}
        self._corrections: Counter = Counter()

    # ---------------------------------------------------------------- pass 1

    def scan(self, path: Path, label: str, stream: BinaryIO) -> None:
        file_key = str(path)
        for _number, line in lines(stream):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            event = flatten(obj)
            kind, _ = _kind(event)
            host = _host(event, kind)
            if host is None:
                continue
            self._learn_images(host, event)
            self._learn_offsets(file_key, host, event)
            self._learn_build(host, event)
            if kind == "proc":
                company = _get(event, "Company")
                if company:
                    guid = _get(event, "ProcessGuid")
                    if guid:
                        self.company_by_guid[str(guid).lower()] = str(company)
                    image = _get(event, "Image")
                    if image:
                        self.company_by_image.setdefault(str(image).lower(), str(company))
            elif kind == "conn":
                self._scan_connection(host, event)
            elif kind == "wfp":
                self._scan_wfp(host, event)
            elif kind in ("kerberos", "ds"):
                what = "Kerberos ticket events (4768/4769/4771)" if kind == "kerberos" else "4662 on DS objects"
                self.dc_evidence.setdefault(host, f"logs {what}")

    def _learn_images(self, host: str, event: dict) -> None:
        known = self.images[host]
        for name in _IMAGE_FIELDS:
            image = _get(event, name)
            if not isinstance(image, str):
                continue
            match = _DRIVE_PATH.match(image)
            if match and len(known) < _CAP:
                known.setdefault(match.group(2).lower(), image)
            vendor = vendor_folder(image)
            if vendor and vendor != vendor.lower():
                self.spellings.setdefault(vendor.lower(), vendor)

    def _learn_offsets(self, file_key: str, host: str, event: dict) -> None:
        utc = _get(event, "UtcTime")
        if utc is None:
            return
        try:
            truth = parse_timestamp(utc)[0]
        except ValueError:
            return
        for name in _TIME_FIELDS:
            value = _get(event, name)
            votes = self.offset_votes[(file_key, host, name)]
            if value is None or votes.total() >= 500:
                continue
            try:
                stamp = parse_timestamp(value)[0]
            except ValueError:
                continue
            votes[round((truth - stamp).total_seconds() / 900) * 900] += 1

    def _learn_build(self, host: str, event: dict) -> None:
        version = _get(event, "FileVersion")
        image = _get(event, "ImageLoaded", "Image")
        if not isinstance(version, str) or not isinstance(image, str) or "\\windows\\" not in image.lower():
            return
        match = _WINDOWS_BUILD.match(version)
        if match and self.builds[host].total() < 10_000:
            self.builds[host][int(match.group(1))] += 1

    def _scan_connection(self, host: str, event: dict) -> None:
        initiated = _truthy(_get(event, "Initiated"))
        if initiated is False:
            image = str(_get(event, "Image") or "").lower()
            self._dc_port(host, image, _get(event, "DestinationPort"), "Sysmon 3")
            return
        try:
            stamp = parse_timestamp(_get(event, "UtcTime"))[0]
            key = self._connection_key(
                host,
                _get(event, "Protocol"),
                _get(event, "SourcePort"),
                _get(event, "DestinationIp"),
                _get(event, "DestinationPort"),
            )
        except (ValueError, TypeError):
            return
        self.connections.add(hash((key, _minute(stamp))))

    def _scan_wfp(self, host: str, event: dict) -> None:
        direction = _direction(event)
        application = str(_get(event, "Application") or "")
        if direction == "inbound":
            self._dc_port(host, application.lower(), _get(event, "DestPort"), "5156")
        match = _DEVICE_PATH.match(application)
        if match:
            tails = self.volume_tails[(host, match.group(1).lower())]
            if len(tails) < 100:
                tails.add(match.group(2).lower())

    def _dc_port(self, host: str, image: str, port: Any, source: str) -> None:
        try:
            number = to_int(port)
        except ValueError:
            return
        if image.endswith("\\lsass.exe") and number in _DC_PORTS:
            self.dc_evidence.setdefault(
                host, f"lsass.exe accepts {_DC_PORTS[number]} connections on port {number} ({source})"
            )

    @staticmethod
    def _connection_key(host: str, protocol: Any, local_port: Any, remote_ip: Any, remote_port: Any) -> tuple:
        return (
            host,
            _protocol_number(protocol),
            to_int(local_port),
            normalize_ip(str(remote_ip)),
            to_int(remote_port),
        )

    def _prepare(self) -> None:
        """Between the passes: pick each field's clock offset, each volume's drive letter."""
        if self._prepared:
            return
        self._prepared = True
        for key, votes in self.offset_votes.items():
            if votes:
                self.offsets[key] = votes.most_common(1)[0][0]
        for (host, volume), tails in self.volume_tails.items():
            drives = Counter(self.images[host][t][:2].upper() for t in tails if t in self.images.get(host, {}))
            if drives:
                self.drives[(host, volume)] = drives.most_common(1)[0][0]
        self.offset_votes.clear()
        self.volume_tails.clear()

    # ---------------------------------------------------------------- pass 2

    def records(self, path: Path, label: str, stream: BinaryIO) -> Iterator[Item]:
        self._prepare()
        file_key = str(path)
        for number, line in lines(stream):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except UnicodeDecodeError:
                yield Reject(number, "not valid UTF-8")
                continue
            except ValueError as exc:
                yield Reject(number, f"not valid JSON ({exc})")
                continue
            if not isinstance(obj, dict):
                yield Reject(number, f"a JSON {type(obj).__name__}, not an event object")
                continue
            event = flatten(obj)
            kind, event_id = _kind(event)
            host = _host(event, kind)
            try:
                stamp, how = self._event_time(file_key, host, event)
            except ValueError as exc:
                stamp, how = None, f"bad time: {exc}"
            if host is not None and stamp is not None:
                day = (host, stamp.date().isoformat())
                if day not in self._days or self._days[day] < stamp:
                    self._days[day] = stamp
            if kind not in ("conn", "wfp"):
                yield Skip(number, _skip_reason(kind, event_id))
                continue
            if host is None:
                yield Reject(number, "no host name (Hostname, Computer, computer_name)")
                continue
            if stamp is None:
                yield Reject(number, how if how and how.startswith("bad time") else "no timestamp (UtcTime, ...)")
                continue
            try:
                if kind == "conn":
                    yield self._connection(number, host, stamp, event)
                else:
                    yield self._wfp(number, host, stamp, how, event)
            except RowError as exc:
                yield Reject(number, str(exc))
            if how and how.startswith("corrected"):
                self._corrections[(label, host, how)] += 1

    def _event_time(self, file_key: str, host: str | None, event: dict) -> tuple[datetime | None, str | None]:
        """(UTC time, None | 'corrected ...' | 'no zone ...')."""
        utc = _get(event, "UtcTime")
        if utc is not None:
            return parse_timestamp(utc)[0], None
        fallback = None
        for name in _TIME_FIELDS:
            value = _get(event, name)
            if value is None:
                continue
            stamp, zoned = parse_timestamp(value)
            offset = self.offsets.get((file_key, host or "", name))
            if offset is not None:
                if offset:
                    return stamp + timedelta(seconds=offset), f"corrected {name} by {_hours(offset)}"
                return stamp, None
            if zoned:
                return stamp, None
            fallback = fallback or (stamp, f"no zone: {name} taken as UTC")
        return fallback if fallback else (None, None)

    def _connection(self, line: int, host: str, stamp: datetime, event: dict) -> Item:
        initiated = _truthy(_get(event, "Initiated"))
        if initiated is None:
            raise RowError(f"Initiated: {_get(event, 'Initiated')!r} is not true or false")
        if not initiated:
            return Skip(line, "inbound connections (Sysmon 3 Initiated false)")
        image = _get(event, "Image")
        guid = _get(event, "ProcessGuid")
        company, source = self.company_for(str(image) if image else None, str(guid) if guid else None)
        extra = {"Source": "Sysmon 3", "ProcessGuid": guid, "CompanyFrom": source}
        values = self._network_values(host, stamp, event, "DestinationIp", "DestinationPort", "SourceIp")
        values.update(
            LocalPort=_port(event, "SourcePort"),
            Protocol=_protocol_name(_get(event, "Protocol")),
            RemoteUrl=_get(event, "DestinationHostname"),
            InitiatingProcessFolderPath=image,
            InitiatingProcessFileName=_file_name(image),
            InitiatingProcessId=_process_id(event),
            InitiatingProcessVersionInfoCompanyName=company,
            AdditionalFields=json.dumps(extra, separators=(",", ":")),
        )
        _account(values, _get(event, "User"))
        return Row(line, "DeviceNetworkEvents", convert_row("DeviceNetworkEvents", values))

    def _wfp(self, line: int, host: str, stamp: datetime, how: str | None, event: dict) -> Item:
        direction = _direction(event)
        if direction == "inbound":
            return Skip(line, "inbound connections (5156 Direction %%14592)")
        if direction != "outbound":
            raise RowError(f"Direction: {_get(event, 'Direction')!r} is neither %%14593 nor %%14592")
        try:
            key = self._connection_key(
                host,
                _get(event, "Protocol"),
                _get(event, "SourcePort"),
                _get(event, "DestAddress"),
                _get(event, "DestPort"),
            )
        except (ValueError, TypeError):
            key = None
        if key is not None and any(hash((key, _minute(stamp) + d)) in self.connections for d in (-1, 0, 1)):
            return Skip(line, "5156 duplicates of a Sysmon 3 connection")
        application = _get(event, "Application")
        image = self.readable_path(host, str(application)) if application else None
        company, source = self.company_for(image, None)
        extra = {"Source": "Security 5156", "Application": application, "CompanyFrom": source}
        if how:
            extra["Time"] = how
        values = self._network_values(host, stamp, event, "DestAddress", "DestPort", "SourceAddress")
        values.update(
            LocalPort=_port(event, "SourcePort"),
            Protocol=_protocol_name(_get(event, "Protocol")),
            InitiatingProcessFolderPath=image,
            InitiatingProcessFileName=_file_name(image),
            InitiatingProcessId=_process_id(event),
            InitiatingProcessVersionInfoCompanyName=company,
            AdditionalFields=json.dumps(extra, separators=(",", ":")),
        )
        return Row(line, "DeviceNetworkEvents", convert_row("DeviceNetworkEvents", values))

    def _network_values(
        self, host: str, stamp: datetime, event: dict, remote: str, remote_port: str, local: str
    ) -> dict:
        raw_ip = _get(event, remote)
        if raw_ip is None:
            raise RowError(f"{remote} is missing")
        try:
            remote_ip, remote_type = normalize_ip(str(raw_ip)), classify_ip(str(raw_ip))
        except ValueError:
            raise RowError(f"{remote}: {raw_ip!r} is not an IP address") from None
        local_ip = _ip(_get(event, local))
        try:
            local_type = classify_ip(local_ip) if local_ip else None
        except ValueError:
            local_type = None
        try:
            report_id = to_int(_get(event, "RecordNumber", "record_id", "EventRecordID"))
        except ValueError:
            report_id = None
        return {
            "Timestamp": stamp,
            "DeviceId": device_id(host),
            "DeviceName": host,
            "ActionType": "ConnectionSuccess",
            "RemoteIP": remote_ip,
            "RemotePort": _port(event, remote_port),
            "RemoteIPType": remote_type,
            "LocalIP": local_ip,
            "LocalIPType": local_type,
            "ReportId": report_id,
        }

    def readable_path(self, host: str, path: str) -> str:
        """A 5156 device path as a drive path (see the module docstring); other paths as given."""
        match = _DEVICE_PATH.match(path.strip())
        if not match:
            return path
        volume, tail = match.group(1).lower(), match.group(2)
        known = self.images.get(host, {}).get(tail.lower())
        if known:
            return known
        return f"{self.drives.get((host, volume), 'C:')}\\{tail}"

    def company_for(self, image: str | None, guid: str | None) -> tuple[str, str]:
        """(InitiatingProcessVersionInfoCompanyName, where it came from). In order: the `Company` of the Sysmon 1
        that created this ProcessGuid; the `Company` of a Sysmon 1 of the same image path (any host; the
        company is a property of the file); else `company_from_path`."""
        if guid and guid.lower() in self.company_by_guid:
            return self.company_by_guid[guid.lower()], "Sysmon 1 of the process"
        if image and image.lower() in self.company_by_image:
            return self.company_by_image[image.lower()], "Sysmon 1 of the same image"
        return company_from_path(image, self.spellings), "path rule"

    # ---------------------------------------------------------------- DeviceInfo

    def after_file(self, path: Path) -> Iterator[Row]:
        days, self._days = self._days, {}
        for (host, _day), stamp in sorted(days.items()):
            device_type, platform, _ = self._classify(host)
            values = {
                "Timestamp": stamp,
                "DeviceId": device_id(host),
                "DeviceName": host,
                "DeviceType": device_type,
                "OSPlatform": platform,
                "AdditionalFields": json.dumps({"Source": "detector ingest --from sysmon"}),
            }
            yield Row(None, "DeviceInfo", values, derived=True)

    def _classify(self, host: str) -> tuple[str, str, str]:
        if host not in self._classified:
            asset = _match_asset(host, self.assets) if self.assets else None
            if asset is not None:
                self._assets_used.add(asset.name.lower())
                result = (asset.device_type, asset.os_platform, f"--assets ({asset.name})")
            else:
                builds = self.builds.get(host)
                build = builds.most_common(1)[0][0] if builds else None
                result = classify_host(host, self.dc_evidence.get(host), build)
                if self.assets:
                    result = (result[0], result[1], f"not in --assets; {result[2]}")
            self._classified[host] = result
        return self._classified[host]

    def finish(self) -> None:
        for host in sorted(self._classified):
            self.devices.append(Device(host, *self._classified[host]))
        grouped: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for (label, host, how), count in self._corrections.items():
            grouped[(label, how)][host] += count
        for (label, how), hosts in sorted(grouped.items()):
            self.notes.append(
                f"{label}: {how} (the offset of this field from UtcTime) for {hosts.total():,} event(s) "
                f"without UtcTime on {', '.join(sorted(hosts))}"
            )
        if self.assets:
            unused = sorted(a.name for key, a in self.assets.items() if key not in self._assets_used)
            if unused:
                shown = ", ".join(unused[:10]) + (", ..." if len(unused) > 10 else "")
                self.notes.append(f"--assets: {len(unused)} device(s) never seen in the logs: {shown}")


def _direction(event: dict) -> str | None:
    text = str(_get(event, "Direction") or "").strip().lower()
    if text in ("%%14593", "outbound"):
        return "outbound"
    if text in ("%%14592", "inbound"):
        return "inbound"
    return None


def _skip_reason(kind: str, event_id: int | None) -> str:
    if kind == "proc":
        return "Sysmon 1 process creations (read for company names)"
    return "other events (not Sysmon 3 / Security 5156)"


def _protocol_name(value: Any) -> str | None:
    if value is None:
        return None
    return _PROTOCOLS.get(str(value).strip().lower(), str(value))


def _file_name(path: Any) -> str | None:
    if not path:
        return None
    return str(path).replace("/", "\\").rsplit("\\", 1)[-1]


def _process_id(event: dict) -> int | None:
    value = _get(event, "ProcessId")
    if value is None:
        message = event.get("Message")
        match = re.search(r"Process ID:\s+(\d+)", message) if isinstance(message, str) else None
        value = match.group(1) if match else None
    try:
        return to_int(value)
    except ValueError:
        return None


def _account(values: dict, user: Any) -> None:
    if not isinstance(user, str):
        return
    domain, sep, name = user.rpartition("\\")
    values["InitiatingProcessAccountDomain"] = domain if sep else None
    values["InitiatingProcessAccountName"] = name


def _hours(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60}:{minutes % 60:02d}"


__all__ = ["Sysmon", "classify_host", "company_from_path", "flatten", "load_assets"]
