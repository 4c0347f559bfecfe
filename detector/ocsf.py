"""A rule's records as OCSF Detection Findings (class 2004), one JSON object per line: `--format ocsf`.

Everything OCSF lives here; what is rule-specific comes from rule.toml: `severity`, `[[mitre]]`, `[output] key`
(what makes the finding's uid) and `[output.ocsf]`, which maps record columns to the few finding fields listed in
TARGETS. The record itself goes whole under `unmapped`, so nothing is lost. tests/test_ocsf.py validates every
finding of every installed rule against the published schema of OCSF_VERSION (package ocsf-json-schema).
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from detector.errors import DetectorError, RuleError
from detector.output import json_default, to_json

if TYPE_CHECKING:
    from detector.rule import Rule

OCSF_VERSION = "1.8.0"  # the schema the findings are validated against (metadata.version)
CLASS_UID, CLASS_NAME = 2004, "Detection Finding"
CATEGORY_UID, CATEGORY_NAME = 2, "Findings"
ACTIVITY_ID, ACTIVITY_NAME = 1, "Create"  # every run reports its findings anew: nothing here tracks their state
TYPE_UID = CLASS_UID * 100 + ACTIVITY_ID  # 200401, "Detection Finding: Create"
STATUS_ID, STATUS = 1, "New"
ANALYTIC_TYPE_ID, ANALYTIC_TYPE = 1, "Rule"

# OCSF's severity_id values. A rule declares one of SEVERITY_NAMES; a rule that declares none reports Unknown (0).
SEVERITIES = {"Unknown": 0, "Informational": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5}
SEVERITY_NAMES = tuple(name for name in SEVERITIES if name != "Unknown")

# The finding fields `[output.ocsf]` may fill from a record column, with the kind of value OCSF wants there and the
# Kusto types that fit it. `evidences[]` is an array of objects: one item from the record, or with
# `"evidences[]" = "ListColumn"` one per element of that list, its paths then naming the elements' fields.
TARGETS = {
    "device.hostname": "string",
    "device.name": "string",
    "device.uid": "string",
    "device.ip": "ip",
    "evidences[].dst_endpoint.ip": "ip",
    "evidences[].dst_endpoint.port": "port",
    "evidences[].dst_endpoint.hostname": "string",
    "evidences[].src_endpoint.ip": "ip",
    "evidences[].src_endpoint.port": "port",
    "evidences[].src_endpoint.hostname": "string",
    "evidences[].url.url_string": "string",
    "evidences[].file.name": "string",
    "evidences[].file.path": "string",
}
ARRAYS = ("evidences[]",)
KUSTO_TYPES = {"string": ("string",), "ip": ("string",), "port": ("int", "long")}
# What OCSF asks of the objects those fields are in: fields no record column gives are set to OCSF's "Unknown"
# (`unknown`); an object that still lacks a `required` field, or has none of `any_of`, is left out (its values stay
# under `unmapped`). tests/test_ocsf.py checks this against the published schema.
OBJECTS: dict[str, dict[str, Any]] = {
    "device": {
        "unknown": {"type_id": 0, "type": "Unknown"},
        "required": ("type_id",),
        "any_of": ("hostname", "name", "uid", "ip"),
    },
    "evidences[].dst_endpoint": {"any_of": ("ip", "hostname")},
    "evidences[].src_endpoint": {"any_of": ("ip", "hostname")},
    "evidences[].url": {"any_of": ("url_string",)},
    "evidences[].file": {"unknown": {"type_id": 0, "type": "Unknown"}, "required": ("name", "type_id")},
}
# What OCSF requires of a finding and of its objects, checked on every finding before it is written (the objects
# in OPTIONAL only when present).
OPTIONAL = ("device",)
REQUIRED = {
    "": ("activity_id", "category_uid", "class_uid", "finding_info", "metadata", "severity_id", "time", "type_uid"),
    "metadata": ("product", "version"),
    "finding_info": ("uid",),
    "finding_info.analytic": ("type_id",),
    "device": ("type_id",),
}

_UID_NAMESPACE = uuid.UUID("4b1b2a64-3c1e-5d0e-9a57-6f0c7d2e8a10")  # fixed: the same record gets the same uid


def finding_uid(rule: Rule, record: dict) -> str:
    """A uid from the rule's slug and the record's key columns (rule.toml [output] key), so that a re-run, or a
    later run that reports the same alert again, gives the same uid."""
    identity = json.dumps([rule.slug, [record.get(k) for k in rule.output.key]], default=json_default, sort_keys=True)
    return str(uuid.uuid5(_UID_NAMESPACE, identity))


def finding(rule: Rule, record: dict, now: datetime) -> dict[str, Any]:
    """One record of `rule`, evaluated at `now`, as an OCSF Detection Finding."""
    severity = rule.severity or "Unknown"
    out: dict[str, Any] = {
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "activity_id": ACTIVITY_ID,
        "activity_name": ACTIVITY_NAME,
        "type_uid": TYPE_UID,
        "type_name": f"{CLASS_NAME}: {ACTIVITY_NAME}",
        "severity_id": SEVERITIES[severity],
        "severity": severity,
        "status_id": STATUS_ID,
        "status": STATUS,
        "is_alert": True,
        "time": int(now.astimezone(UTC).timestamp() * 1000),
        "message": _message(rule, record),
        "metadata": {"version": OCSF_VERSION, "product": {"name": "detector", "version": _version()}},
        "finding_info": {
            "uid": finding_uid(rule, record),
            "title": rule.name,
            "src_url": rule.source_url,
            "analytic": {
                "uid": rule.slug,
                "name": rule.name,
                "version": rule.version,
                "type_id": ANALYTIC_TYPE_ID,
                "type": ANALYTIC_TYPE,
            },
        },
    }
    attacks = _attacks(rule)
    if attacks:
        out["finding_info"]["attacks"] = attacks
    out.update(_mapped(rule, record))
    out["unmapped"] = json.loads(json.dumps(record, default=json_default))  # whole, with instants as ISO text
    check(out)
    return out


def findings_text(rule: Rule, records: list[dict], now: datetime) -> str:
    """JSON lines, one finding per record, in the records' (deterministic) order."""
    return "".join(to_json(finding(rule, r, now)) + "\n" for r in records)


def check(found: dict) -> None:
    """The fields OCSF requires: a finding without them is an error, never written."""
    for where, names in REQUIRED.items():
        obj = found
        for part in where.split(".") if where else ():
            obj = obj.get(part) if isinstance(obj, dict) else None
        if obj is None and where in OPTIONAL:
            continue
        missing = [n for n in names if not isinstance(obj, dict) or n not in obj]
        if missing:
            raise DetectorError(f"OCSF finding without {'.'.join(filter(None, (where, missing[0])))}")
    if not isinstance(found["severity_id"], int) or found["severity_id"] not in SEVERITIES.values():
        raise DetectorError(f"OCSF finding with severity_id {found['severity_id']!r}")


def _message(rule: Rule, record: dict) -> str:
    """The rule's name and, when the rule declares one, its entity (e.g. the device) in the record."""
    entity = record.get(rule.output.entity) if rule.output.entity else None
    return f"{rule.name}: {entity}" if entity not in (None, "") else rule.name


def _attacks(rule: Rule) -> list[dict]:
    """One attack per (tactic, technique) of rule.toml [[mitre]]; a tactic without techniques stands alone."""
    attacks = []
    for m in rule.mitre:
        tactic = {"uid": m["tactic_id"], "name": m["tactic"]}
        techniques = m.get("techniques") or []
        attacks += [{"tactic": tactic, "technique": {"uid": t}} for t in techniques] or [{"tactic": tactic}]
    return attacks


def _mapped(rule: Rule, record: dict) -> dict[str, Any]:
    """The finding fields [output.ocsf] fills. An empty or null value (Kusto's empty) leaves its field out, as does
    a value OCSF cannot take there (not an IP address, a port out of range): the record under `unmapped` keeps it."""
    out: dict[str, Any] = {}
    each: dict[str, str] = {}
    items: dict[str, list[tuple[str, str]]] = {}
    for path, column in rule.output.ocsf:
        if path in ARRAYS:
            each[path] = column
        elif "[]." in path:
            array, _, rest = path.partition("[].")
            items.setdefault(array + "[]", []).append((rest, column))
        else:
            _put(out, path, _value(TARGETS[path], record.get(column)))
    _complete(out, "")
    for array, fields in items.items():
        if array in each:
            elements = record.get(each[array]) or []
            sources = [_element(rule, array, each[array], e, fields) for e in elements]
        else:
            sources = [record]
        built = []
        for source in sources:
            item: dict[str, Any] = {}
            for rest, column in fields:
                _put(item, rest, _value(TARGETS[f"{array}.{rest}"], source.get(column)))
            _complete(item, array + ".")
            if item:
                built.append(item)
        if built:
            out[array[:-2]] = built
    return out


def _element(rule: Rule, array: str, column: str, element: object, fields: list[tuple[str, str]]) -> dict:
    """An element of a list column: its fields are only known when records are written, so checked here."""
    for rest, name in fields:
        if not isinstance(element, dict) or name not in element:
            raise RuleError(
                f'rule {rule.slug}: {rule.folder / "rule.toml"}: [output.ocsf] "{array}.{rest}" = "{name}": '
                f"an element of {column} has no field {name}"
            )
    return element


def _value(kind: str, value: object) -> object:
    if value is None or value == "":
        return None
    if kind == "port":
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535
        return value if ok else None
    if not isinstance(value, str):
        return None
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return None
    return value


def _put(obj: dict, path: str, value: object) -> None:
    if value is None:
        return
    *parents, leaf = path.split(".")
    for part in parents:
        obj = obj.setdefault(part, {})
    obj[leaf] = value


def _complete(obj: dict, prefix: str) -> None:
    """The objects filled under `prefix` as OCSF wants them (OBJECTS), or left out."""
    for path, spec in OBJECTS.items():
        if not path.startswith(prefix) or "[]" in path[len(prefix) :]:
            continue
        *parents, leaf = path[len(prefix) :].split(".")
        parent = obj
        for part in parents:
            parent = parent.get(part, {})
        target = parent.get(leaf)
        if target is None:
            continue
        for name, value in spec.get("unknown", {}).items():
            target.setdefault(name, value)
        lacking = [n for n in spec.get("required", ()) if n not in target]
        any_of = spec.get("any_of", ())
        if lacking or (any_of and not any(n in target for n in any_of)):
            del parent[leaf]


def _version() -> str:
    from detector import __version__

    return __version__
