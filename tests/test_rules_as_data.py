"""A rule is only its folder: copy the seed under another slug, outside the package, and every command gives the
seed's exact output; broken rule folders are named and never break the other rules; the Python names no rule."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SEED, conn, device
from helpers import write_fleet
from typer.testing import CliRunner

from detector.cli import app
from detector.dialects import EXPORT_DIALECTS
from detector.rule import RULES_PATH_ENV, load_rule

NOW = "2026-11-20T12:00:00Z"
COPY = "my_supply_chain_copy"
ROOT = Path(__file__).parent.parent


def invoke(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


@pytest.fixture
def data(tmp_path):
    devices = [device("srv-a"), device("quiet")]
    events = [conn("srv-a"), conn("srv-a", "198.51.100.1", RemotePort=80), conn("quiet", ago=timedelta(days=3))]
    return write_fleet(tmp_path / "data", devices, events)


@pytest.fixture
def rules_dir(tmp_path):
    """The seed's folder copied under another slug into a user's rules folder; only the slug line changes."""
    folder = tmp_path / "rules" / COPY
    shutil.copytree(load_rule(SEED).folder, folder)
    toml = folder / "rule.toml"
    toml.write_text(toml.read_text().replace(f'slug = "{SEED}"', f'slug = "{COPY}"'))
    return tmp_path / "rules"


def _same(seed_out: str, copy_out: str) -> None:
    assert copy_out.replace(COPY, SEED) == seed_out


def test_a_copied_rule_folder_is_a_rule_through_the_environment(data, rules_dir, tmp_path):
    env = {RULES_PATH_ENV: str(rules_dir)}
    listing = invoke("rules", env=env)
    assert listing.exit_code == 0, listing.output
    assert re.search(rf"^{COPY}\s+Suspicious Network Connections", listing.stdout, re.M)
    assert re.search(rf"^{SEED}\s+", listing.stdout, re.M)
    commands = [
        ["run", "--data", data, "--now", NOW, "--format", "jsonl"],
        ["run", "--data", data, "--now", NOW, "--format", "table", "--flat"],
        ["run", "--data", data, "--now", NOW, "--lookback", "7d", "--max-prevalence", "2"],
        ["sql", "--now", NOW],
        ["explain", "--data", data, "--now", NOW, "--entity", "quiet"],
        ["rule"],
        *[["export", "--dialect", d, "--now", NOW] for d in EXPORT_DIALECTS],
    ]
    for command in commands:
        seed = invoke(command[0], SEED, *command[1:])
        copy = invoke(command[0], COPY, *command[1:], env=env)
        assert seed.exit_code == 0 and copy.exit_code == 0, (command, seed.output, copy.output)
        assert seed.stdout.strip(), command
        _same(seed.stdout, copy.stdout)
    seed_test = invoke("test", SEED, "--format", "json")
    copy_test = invoke("test", COPY, "--format", "json", env=env)
    assert seed_test.exit_code == 0 and copy_test.exit_code == 0, copy_test.output
    strip = re.compile(r'"seconds": [0-9.]+|"file": "[^"]*"')
    _same(strip.sub("", seed_test.stdout), strip.sub("", copy_test.stdout))
    assert '"result": "PASS"' in copy_test.stdout


def test_rules_dir_option_and_several_rules(data, rules_dir):
    copy = invoke("run", COPY, "--rules-dir", rules_dir, "--data", data, "--now", NOW, "--format", "jsonl")
    assert copy.exit_code == 0, copy.output
    assert invoke("run", "--data", data, "--now", NOW, "--rules-dir", rules_dir).exit_code == 2  # which rule?
    ambiguous = invoke("run", "--rules-dir", rules_dir, "--data", data, "--now", NOW)
    assert f"name a rule: one of {COPY}, " in ambiguous.stderr and SEED in ambiguous.stderr
    everything = invoke("run", "--all", "--rules-dir", rules_dir, "--data", data, "--now", NOW, "--format", "jsonl")
    assert everything.exit_code == 0, everything.output
    lines = [line for line in everything.stdout.splitlines() if f'"rule":"{COPY}"' in line or SEED in line]
    assert len(lines) == 2 and lines[0].startswith(f'{{"rule":"{COPY}","DeviceName":"srv-a"')
    assert lines[1].replace(SEED, COPY) == lines[0]


def test_rule_help_shows_its_parameters(rules_dir):
    result = invoke("run", COPY, "--rules-dir", rules_dir, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())  # the help as one line, without its box
    assert "--max-vendor-servers" in text and "Rule parameters" in text
    assert "(a whole number; default: 10)" in text and "(a KQL timespan: 14d, 36h, 90m, 30s; default: 14d)" in text


def test_unknown_rule_lists_the_installed_ones():
    result = invoke("run", "nope", "--data", ".")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown rule 'nope'; installed rules: ") and SEED in result.stderr


def _break(rules_dir: Path, what: str) -> str:
    folder = rules_dir / COPY
    toml = folder / "rule.toml"
    text = toml.read_text()
    if what == "toml syntax":
        toml.write_text(text.replace('name = "Suspicious', "name = Suspicious", 1))
        return "rule.toml: not valid TOML"
    if what == "unknown column type":
        toml.write_text(text.replace('columns = ["Timestamp", "DeviceName", "DeviceType", "OSPlatform"]',
                                     'columns = { Timestamp = "datetime", DeviceName = "text" }'))  # fmt: skip
        return "DeviceInfo.DeviceName has unknown type 'text'"
    if what == "undocumented column":
        toml.write_text(text.replace('"DeviceType", "OSPlatform"]', '"DeviceType", "OSPlatfrom"]'))
        return "column OSPlatfrom is not a documented DeviceInfo column"
    if what == "missing template":
        (folder / "060_stage2_lookback.sql").unlink()
        return "stage stage2_lookback names missing template 060_stage2_lookback.sql"
    if what == "unknown parameter type":
        toml.write_text(text.replace('type = "int"\ndefault = 10', 'type = "integer"\ndefault = 10'))
        return "parameter max_vendor_servers has unknown type 'integer'"
    if what == "unknown earlier CTE":
        (folder / "120_stage7_new_connections.sql").write_text("-- Stage 7 (where)\nSELECT * FROM {{ ref('baselin') }}")
        return "120_stage7_new_connections.sql: ref('baselin') names no earlier stage"
    if what == "template syntax":
        (folder / "060_stage2_lookback.sql").write_text("-- Stage 2 (where)\nSELECT * FROM {{ ref('stage1_source') ")
        return "060_stage2_lookback.sql: line 2: unexpected end of template"
    if what == "SQL syntax":
        (folder / "120_stage7_new_connections.sql").write_text("-- Stage 7 (where)\nSELECT * FROM WHERE AND")
        return "120_stage7_new_connections.sql: SQL does not parse"
    raise AssertionError(what)


@pytest.mark.parametrize(
    "what",
    ["toml syntax", "unknown column type", "undocumented column", "missing template", "unknown parameter type",
     "unknown earlier CTE", "template syntax", "SQL syntax"],
)  # fmt: skip
def test_a_broken_rule_is_named_and_the_others_still_work(data, rules_dir, what):
    message = _break(rules_dir, what)
    env = {RULES_PATH_ENV: str(rules_dir)}
    broken = invoke("sql", COPY, "--now", NOW, env=env)
    assert broken.exit_code == 2 and broken.stdout == ""
    [line] = broken.stderr.splitlines()
    assert line.startswith("error: ") and COPY in line and message in line, line
    assert str(rules_dir / COPY) in line
    # The other rules are not affected: listing names the broken one and still lists the rest; the seed runs.
    listing = invoke("rules", env=env)
    assert listing.exit_code == 2 and SEED in listing.stdout and COPY in listing.stderr
    seed = invoke("run", SEED, "--data", data, "--now", NOW, "--format", "jsonl", env=env)
    assert seed.exit_code == 0 and '"DeviceName":"srv-a"' in seed.stdout


def test_the_python_names_no_rule():
    """Nothing under detector/ (ingest and the fleet generator, which write Defender tables, aside) names a rule's
    slug, stages, parameters or output columns, nor a Defender table or column."""
    rule = load_rule(SEED)
    identifiers = {rule.slug, *(s.name for s in rule.stages), *rule.params, *rule.output.nested.columns}
    identifiers |= set(rule.output.flat.columns) | set(rule.tables) | {c for t in rule.tables.values() for c in t}
    identifiers |= {"set_Details", "URLs", "Prevalence", "vendor", "fast"}
    allowed = ("detector/ingest/", "detector/fleet/", "detector/generate.py", "detector/commands/ingest.py",
               "detector/commands/generate.py")  # fmt: skip
    hits = []
    for path in sorted((ROOT / "detector").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(allowed):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for word in identifiers:
                if re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", line):
                    hits.append(f"{relative}:{n}: {word}: {line.strip()}")
    assert not hits, "\n".join(hits)


WHOLE_ROWS_RULE = """
slug = "file_rows"
name = "File rows"
description = "Every file event, whole: a test rule."
author = "tests"
source_url = "https://example.com/file_rows"
clock = "DeviceFileEvents.Timestamp"

[[mitre]]
tactic = "Execution"
tactic_id = "TA0002"

[tables.DeviceFileEvents]
columns = ["Timestamp", "FileName"]
whole_rows = true

[output]
key = ["FileName"]
columns = { Timestamp = "datetime", FileName = "string", FolderPath = "string", FileSize = "long", DeviceId = "string" }
order_by = ["FileName"]

[[stages]]
name = "files"
file = "010_files.sql"
kql = "DeviceFileEvents | project Timestamp, FileName, FolderPath, FileSize, DeviceId"
stage = 1
"""


def test_whole_rows_read_absent_documented_columns_as_kusto_empty_values(tmp_path):
    """A rule whose output is whole rows gets the documented columns; one absent from the files reads as "" (a
    string) or null (anything else), while a column the rule reads must be there."""
    folder = tmp_path / "rules" / "file_rows"
    folder.mkdir(parents=True)
    (folder / "rule.toml").write_text(WHOLE_ROWS_RULE)
    (folder / "010_files.sql").write_text(
        "-- Stage 1 (project): whole rows\nSELECT Timestamp, FileName, FolderPath, FileSize, DeviceId\n"
        "FROM {{ source('DeviceFileEvents') }}"
    )
    rule = load_rule("file_rows", [tmp_path / "rules"])
    assert len(rule.tables["DeviceFileEvents"]) > 50 and rule.reads["DeviceFileEvents"] == ("Timestamp", "FileName")
    data = tmp_path / "data"
    data.mkdir()
    when = pa.array([datetime(2026, 11, 20, 11, tzinfo=UTC)])
    pq.write_table(pa.table({"Timestamp": when, "FileName": ["a.dll"]}), data / "DeviceFileEvents.parquet")
    result = invoke("run", "file_rows", "--rules-dir", tmp_path / "rules", "--data", data, "--now", NOW)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        '{"Timestamp":"2026-11-20T11:00:00.000000Z","FileName":"a.dll","FolderPath":"","FileSize":null,"DeviceId":""}\n'
    )
    pq.write_table(pa.table({"Timestamp": when}), data / "DeviceFileEvents.parquet")
    missing = invoke("run", "file_rows", "--rules-dir", tmp_path / "rules", "--data", data, "--now", NOW)
    assert missing.exit_code == 2 and "table DeviceFileEvents: column FileName is missing from" in missing.stderr


def test_list_parameters_as_generated_option_param_and_file(tmp_path):
    """`--servers a,b`, `--param servers=a,b` and `--servers @FILE` are the same; a missing required list is named."""
    rule = "server_network_connection_anomalies"
    data = tmp_path / "data"
    events = [conn("srv-a", "203.0.113.7", ActionType="ConnectionSuccess", RemoteUrl="x.example")]
    write_fleet(data, [], events)
    listing = tmp_path / "servers.txt"
    listing.write_text("# the servers\nsrv-a\nsrv-b\n")
    base = ["run", rule, "--data", data, "--now", NOW, "--format", "jsonl"]
    outputs = [
        invoke(*base, "--servers", "srv-a,srv-b"),
        invoke(*base, "--param", "servers=srv-a,srv-b"),
        invoke(*base, "--servers", f"@{listing}"),
    ]
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    assert outputs[0].stdout == outputs[1].stdout == outputs[2].stdout
    assert '"DeviceName":"srv-a"' in outputs[0].stdout
    missing = invoke(*base)
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: parameter servers: rule server_network_connection_anomalies needs it")
