"""`detector test`: a rule's own cases, run anywhere: pass/fail table, first difference, JSON, JUnit, exit codes."""

from __future__ import annotations

import json
import shutil
from xml.etree import ElementTree as ET

import pytest
from conftest import SEED
from typer.testing import CliRunner

from detector.cli import app
from detector.rule import load_rule

COPY = "seed_copy"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def rules_dir(tmp_path):
    folder = tmp_path / "rules" / COPY
    shutil.copytree(load_rule(SEED).folder, folder)
    toml = folder / "rule.toml"
    toml.write_text(toml.read_text().replace(f'slug = "{SEED}"', f'slug = "{COPY}"'))
    return tmp_path / "rules"


def _a_case(rules_dir):
    """The first non-planted case of the copy: (file, its JSON, the case's index)."""
    for path in sorted((rules_dir / COPY / "cases").glob("*.json")):
        data = json.loads(path.read_text())
        for i, case in enumerate(data["cases"]):
            if case["expect"] and not case.get("plant"):
                return path, data, i
    raise AssertionError("no case with an expected record")


def test_every_case_of_the_seed_passes_on_duckdb():
    result = invoke("test", SEED, "--format", "json")
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)
    assert len(results) >= 50 and {r["result"] for r in results} == {"PASS"}
    assert {r["engine"] for r in results} == {"duckdb"}


def test_a_wrong_expectation_fails_with_its_first_difference(rules_dir, tmp_path):
    path, data, i = _a_case(rules_dir)
    name = data["cases"][i]["name"]
    data["cases"][i]["expect"] = data["cases"][i]["expect"][1:] + [{**data["cases"][i]["expect"][0]}]
    first = data["cases"][i]["expect"][-1]
    key = next(iter(first))
    first[key] = "not what the rule gives"
    path.write_text(json.dumps(data))
    junit = tmp_path / "report.xml"
    result = invoke("test", COPY, "--rules-dir", rules_dir, "--case", name, "--junit", junit)
    assert result.exit_code == 1, result.output
    assert f"FAIL {COPY}/{name} on duckdb ({path.name})" in result.stdout
    assert "not what the rule gives" in result.stdout and "0 passed, 1 failed" in result.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "1" and suite.find("testcase/failure") is not None


def test_a_case_file_that_does_not_match_the_rule_is_named(rules_dir):
    path, data, i = _a_case(rules_dir)
    table = next(iter(data["cases"][i]["input"]))
    data["cases"][i]["input"][table] = [{"NoSuchColumn": 1}]
    path.write_text(json.dumps(data))
    result = invoke("test", COPY, "--rules-dir", rules_dir)
    assert result.exit_code == 2
    assert f"{path}: case {data['cases'][i]['name']!r}: input.{table}[0].NoSuchColumn: not a column of" in result.stderr


def test_a_rule_without_cases_is_an_error(rules_dir):
    shutil.rmtree(rules_dir / COPY / "cases")
    result = invoke("test", COPY, "--rules-dir", rules_dir)
    assert result.exit_code == 2 and f"rule {COPY}: no test cases in" in result.stderr


def test_unknown_engine_and_rule():
    assert "is not one of duckdb, spark" in invoke("test", SEED, "--engine", "oracle").stderr
    assert "unknown rule 'nope'" in invoke("test", "nope").stderr


def test_an_in_database_engine_points_to_the_self_check():
    """PostgreSQL reads tables in a database, not the cases' files: one line saying how to check the cases there."""
    result = invoke("test", SEED, "--engine", "postgres")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: parameter --engine: postgres runs rules on tables already in a database, not on the cases' files: "
        "check the cases there with their self-check script, `detector test RULE --dialect postgres --script` "
        "(docs/export.md)"
    ]
