"""`--format ocsf`: every finding of every installed rule is valid against the published OCSF schema (the JSON export
of schema.ocsf.io packaged by ocsf-json-schema, turned into a JSON Schema), the validator rejects broken findings,
and rule.toml's severity and [output.ocsf] mapping are checked with errors naming rule, file and key."""

from __future__ import annotations

import copy
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import jsonschema  # the dev extra: validation is never skipped
import ocsf_json_schema
import pytest
from helpers import SEED, invoke

from detector import ocsf
from detector.errors import DetectorError, RuleError
from detector.rule import load_all, load_folder, load_rule

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "data" / "sample"
NOW = "2026-11-20T12:00:00Z"
NOW_MS = int(datetime(2026, 11, 20, 12, tzinfo=UTC).timestamp() * 1000)
# The sample's planted servers of the one rule that needs a parameter (data/README.md).
PARAMS = [
    "--param",
    "server_network_connection_anomalies.servers=srv-anom-planted-01,srv-anom-planted-02,srv-anom-planted-03",
]


@pytest.fixture(scope="module")
def schema() -> dict:
    """The Detection Finding class of the published OCSF schema, objects embedded, no profiles."""
    published = ocsf_json_schema.OcsfJsonSchemaEmbedded(ocsf_json_schema.get_ocsf_schema(version=ocsf.OCSF_VERSION))
    return published.get_class_schema(published.lookup_class_name_from_uid(ocsf.CLASS_UID))


@pytest.fixture(scope="module")
def validator(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(validator, finding: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(finding)]


def _rule_of(finding: dict) -> str:
    return finding["finding_info"]["analytic"]["uid"]


def _run(*args) -> list[dict]:
    result = invoke("run", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def every_finding() -> list[dict]:
    return _run("--all", "--data", SAMPLE, "--now", NOW, "--format", "ocsf", *PARAMS)


@pytest.fixture(scope="module")
def seed_findings() -> list[dict]:
    return _run(SEED, "--data", SAMPLE, "--now", NOW, "--format", "ocsf")


def test_every_finding_of_every_installed_rule_is_valid_ocsf(every_finding, validator):
    rules, broken = load_all()
    assert not broken
    by_rule: dict[str, int] = {}
    for finding in every_finding:
        assert not _errors(validator, finding), (_rule_of(finding), _errors(validator, finding))
        by_rule[_rule_of(finding)] = by_rule.get(_rule_of(finding), 0) + 1
    # every installed rule is covered; a new rule that gives nothing on the sample must get its planted cases there
    assert set(by_rule) == set(rules)
    assert by_rule[SEED] == 17


def test_the_seed_findings(seed_findings):
    jsonl = _run(SEED, "--data", SAMPLE, "--now", NOW, "--format", "jsonl")
    rule = load_rule(SEED)
    assert len(seed_findings) == len(jsonl) == 17
    for finding, record in zip(seed_findings, jsonl, strict=True):
        assert (finding["class_uid"], finding["category_uid"], finding["type_uid"]) == (2004, 2, 200401)
        assert finding["activity_id"] == 1 and finding["status_id"] == 1
        assert finding["time"] == NOW_MS
        assert finding["severity"] == rule.severity == "Medium" and finding["severity_id"] == 3
        assert finding["metadata"]["version"] == ocsf.OCSF_VERSION
        assert finding["metadata"]["product"]["name"] == "detector"
        info = finding["finding_info"]
        assert info["analytic"] == {"uid": SEED, "name": rule.name, "version": "1", "type_id": 1, "type": "Rule"}
        assert info["title"] == rule.name and info["src_url"] == rule.source_url
        assert info["attacks"] == [{"tactic": {"uid": "TA0011", "name": "Command and Control"}}]
        assert finding["device"]["hostname"] == record["DeviceName"]
        assert finding["unmapped"] == record  # the rule's record, whole
        assert [e["dst_endpoint"] for e in finding["evidences"]] == [
            {"ip": d["RemoteIP"], "port": d["RemotePort"]} for d in record["set_Details"]
        ]
    planted = next(f for f in seed_findings if f["device"]["hostname"] == "srv-planted-01")
    assert planted["evidences"] == [{"dst_endpoint": {"ip": "203.0.113.10", "port": 443}}]


def test_uids_are_per_record_and_the_same_on_a_rerun(seed_findings):
    uids = [f["finding_info"]["uid"] for f in seed_findings]
    assert len(set(uids)) == len(uids)
    again = _run(SEED, "--data", SAMPLE, "--now", NOW, "--format", "ocsf")
    assert [f["finding_info"]["uid"] for f in again] == uids
    # the uid is the alert's identity (rule + record key), not the run's: a later run reporting it keeps it
    later = _run(SEED, "--data", SAMPLE, "--now", "2026-11-20T12:30:00Z", "--format", "ocsf")
    assert {f["device"]["hostname"]: f["finding_info"]["uid"] for f in later}.items() <= {
        f["device"]["hostname"]: f["finding_info"]["uid"] for f in seed_findings
    }.items()


def test_techniques_and_the_other_rules_fields(every_finding):
    rdp = [f for f in every_finding if _rule_of(f) == "rogue_rdp_file_creation"]
    assert rdp and all(f["severity"] == "High" and f["severity_id"] == 4 for f in rdp)
    assert rdp[0]["finding_info"]["attacks"] == [
        {"tactic": {"uid": "TA0001", "name": "Initial Access"}, "technique": {"uid": "T1566"}}
    ]
    assert rdp[0]["device"]["uid"] == rdp[0]["unmapped"]["DeviceId"]
    evidence = rdp[0]["evidences"][0]
    assert evidence["dst_endpoint"] == {"ip": "203.0.113.201", "port": 3389}  # RemoteUrl "" is left out
    assert evidence["file"] == {
        "name": "version.dll",
        "path": rdp[0]["unmapped"]["FolderPath"],
        "type_id": 0,
        "type": "Unknown",
    }
    anomalies = [f for f in every_finding if _rule_of(f) == "server_network_connection_anomalies"]
    assert anomalies and all(f["severity_id"] == 2 for f in anomalies)
    assert anomalies[0]["evidences"][0]["src_endpoint"] == {"ip": "10.200.77.11", "port": 56004}
    assert anomalies[0]["evidences"][0]["dst_endpoint"]["hostname"] == "cdn.anom-planted.example"


# ---- the validator is not a rubber stamp -----------------------------------------------------------------------


def _broken(finding: dict, change) -> dict:
    broken = copy.deepcopy(finding)
    change(broken)
    return broken


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda f: f.pop("class_uid"), id="no class_uid"),
        pytest.param(lambda f: f.pop("time"), id="no time"),
        pytest.param(lambda f: f.update(severity_id="3"), id="severity_id as text"),
        pytest.param(lambda f: f.update(severity_id=7), id="severity_id not an OCSF severity"),
        pytest.param(lambda f: f.update(type_uid=200501), id="type_uid of another class"),
        pytest.param(lambda f: f["finding_info"].pop("uid"), id="finding without uid"),
        pytest.param(lambda f: f["metadata"].pop("version"), id="metadata without version"),
        pytest.param(lambda f: f["device"].pop("type_id"), id="device without type_id"),
        pytest.param(lambda f: f["evidences"][0]["dst_endpoint"].update(port=70000), id="port out of range"),
        pytest.param(lambda f: f["evidences"][0]["dst_endpoint"].update(ip="not-an-ip"), id="ip not an address"),
        pytest.param(lambda f: f.update(rule="x"), id="a field OCSF does not define"),
        pytest.param(lambda f: f["finding_info"].update(attacks=[{}]), id="attack without tactic or technique"),
    ],
)
def test_a_broken_finding_fails_validation(seed_findings, validator, change):
    assert not _errors(validator, seed_findings[0])
    assert _errors(validator, _broken(seed_findings[0], change))


def test_the_writer_checks_required_fields_itself(seed_findings):
    ocsf.check(seed_findings[0])
    for change in (lambda f: f.pop("class_uid"), lambda f: f["metadata"].pop("product"), lambda f: f["device"].clear()):
        with pytest.raises(DetectorError, match="OCSF finding without"):
            ocsf.check(_broken(seed_findings[0], change))
    with pytest.raises(DetectorError, match="severity_id"):
        ocsf.check(_broken(seed_findings[0], lambda f: f.update(severity_id="3")))


def test_values_ocsf_cannot_take_are_left_to_unmapped(validator):
    rule = load_rule("rogue_rdp_file_creation")
    record = {
        "DeviceName": "",
        "DeviceId": None,
        "RemoteIP": "not-an-ip",
        "RemotePort": 99999,
        "RemoteUrl": "h.example",
    }
    record |= {"FileName": "", "FolderPath": "C:\\x", "NetworkTimestamp": datetime(2026, 11, 20, 9, tzinfo=UTC)}
    finding = ocsf.finding(rule, record, datetime(2026, 11, 20, 12, tzinfo=UTC))
    assert not _errors(validator, finding)
    assert "device" not in finding  # no name, no id: no device object (OCSF wants one of its identifiers)
    # a file without a name is no OCSF file
    assert finding["evidences"] == [{"dst_endpoint": {"hostname": "h.example"}}]
    assert finding["unmapped"]["RemoteIP"] == "not-an-ip" and finding["unmapped"]["RemotePort"] == 99999
    assert finding["unmapped"]["NetworkTimestamp"] == "2026-11-20T09:00:00.000000Z"
    assert finding["time"] == NOW_MS
    # an endpoint with a port alone is no OCSF endpoint; no evidence at all is no evidences
    finding = ocsf.finding(rule, record | {"RemoteUrl": "", "RemotePort": 443}, datetime(2026, 11, 20, tzinfo=UTC))
    assert not _errors(validator, finding)
    assert "evidences" not in finding and finding["unmapped"]["RemotePort"] == 443


def test_every_target_path_is_in_the_published_schema(schema):
    """detector.ocsf's TARGETS name real fields of the published class, of the kind declared, and OBJECTS asks at
    least what the schema asks of the objects they are in."""
    kinds = {"string": "string", "ip": "string", "port": "integer"}

    def resolve(path: str) -> dict:
        node = schema
        for part in path.replace("[]", "").split("."):
            prop = node["properties"][part]
            ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
            node = schema["$defs"][ref.rsplit("/", 1)[1]] if ref else prop
        return node

    for path, kind in ocsf.TARGETS.items():
        assert resolve(path)["type"] == kinds[kind], path
        parent = path.rpartition(".")[0]
        if parent != "evidences[]":  # an evidence is left out when nothing fills it
            assert parent in ocsf.OBJECTS, path
    assert resolve("evidences[].dst_endpoint.ip")["pattern"]  # OCSF's ip_t: an address is checked
    for path, spec in ocsf.OBJECTS.items():
        obj = resolve(path)
        assert set(obj.get("required", ())) <= set(spec.get("required", ())), path
        for name, value in spec.get("unknown", {}).items():
            assert value in obj["properties"][name].get("enum", [value]), (path, name)
        schema_any_of = {name for one in obj.get("anyOf", ()) for name in one["required"]}
        assert set(spec.get("any_of", ())) <= schema_any_of, path
        assert bool(schema_any_of) == bool(spec.get("any_of")), path


# ---- rule.toml: severity and [output.ocsf] ---------------------------------------------------------------------


@pytest.fixture
def rule_copy(tmp_path):
    """A copy of the seed's folder whose rule.toml a test edits."""
    folder = tmp_path / SEED
    shutil.copytree(load_rule(SEED).folder, folder)
    return folder


def _edit(folder: Path, old: str, new: str) -> None:
    toml = folder / "rule.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'severity = "Medium"',
            'severity = "Severe"',
            "severity 'Severe' is not an OCSF severity (one of Informational",
        ),
        (
            '"device.name" = "DeviceName"',
            '"device.nickname" = "DeviceName"',
            '[output.ocsf] "device.nickname" = "DeviceName": unknown OCSF path (known: device.hostname',
        ),
        (
            '"device.name" = "DeviceName"',
            '"device.name" = "Hostname"',
            '[output.ocsf] "device.name" = "Hostname": Hostname is not an output column',
        ),
        (
            '"device.name" = "DeviceName"',
            '"device.name" = "set_Details"',
            '[output.ocsf] "device.name" = "set_Details": set_Details is dynamic, OCSF wants string there',
        ),
        (
            '"evidences[]" = "set_Details"',
            '"evidences[]" = "DeviceName"',
            '[output.ocsf] "evidences[]" = "DeviceName": DeviceName is not a list (dynamic) output column',
        ),
        ('"device.name" = "DeviceName"', '"device.name" = 3', '[output.ocsf] "device.name" must name a record column'),
    ],
)
def test_a_bad_ocsf_declaration_is_named(rule_copy, old, new, message):
    _edit(rule_copy, old, new)
    with pytest.raises(RuleError) as raised:
        load_folder(rule_copy)
    assert str(raised.value).startswith(f"rule {SEED}: {rule_copy / 'rule.toml'}: ")
    assert message in str(raised.value)


def test_unquoted_dotted_keys_read_as_paths_and_severity_is_optional(rule_copy):
    _edit(rule_copy, 'severity = "Medium"\n', "")
    _edit(rule_copy, '"device.name" = "DeviceName"', "device.name = 'DeviceName'")
    rule = load_folder(rule_copy)
    assert ("device.name", "DeviceName") in rule.output.ocsf
    assert rule.severity is None
    finding = ocsf.finding(rule, {"DeviceName": "srv", "set_Details": []}, datetime(2026, 11, 20, tzinfo=UTC))
    assert (finding["severity_id"], finding["severity"]) == (0, "Unknown")
    assert "evidences" not in finding


def test_an_element_without_the_mapped_field_is_named_when_written(rule_copy):
    _edit(rule_copy, '"evidences[].dst_endpoint.port" = "RemotePort"', '"evidences[].dst_endpoint.port" = "Port"')
    rule = load_folder(rule_copy)
    record = {"DeviceName": "srv", "set_Details": [{"RemoteIP": "203.0.113.1", "RemotePort": 443}]}
    with pytest.raises(
        RuleError, match=r'"evidences\[\].dst_endpoint.port" = "Port": an element of set_Details has no'
    ):
        ocsf.finding(rule, record, datetime(2026, 11, 20, tzinfo=UTC))


def test_the_card_shows_severity_and_mapping():
    result = invoke("rule", SEED)
    assert result.exit_code == 0, result.output
    assert "Severity: Medium" in result.stdout
    assert "  evidences[].dst_endpoint.ip <- RemoteIP" in result.stdout


def test_ocsf_is_for_records_not_flat_rows():
    result = invoke("run", SEED, "--data", SAMPLE, "--now", NOW, "--format", "ocsf", "--flat")
    assert result.exit_code == 2
    assert "ocsf reports the rule's records, not its --flat rows" in result.stderr


def test_ocsf_to_a_file(tmp_path, seed_findings):
    out = tmp_path / "findings.jsonl"
    result = invoke("run", SEED, "--data", SAMPLE, "--now", NOW, "--format", "ocsf", "--output", out)
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == seed_findings
