"""Rendering: sandboxed Jinja, strict names, stage order, literals that cannot break out, golden SQL."""

from __future__ import annotations

import shutil

import jinja2
import pytest
import sqlglot
from jinja2.sandbox import SecurityError
from sqlglot import exp

from detector.errors import RuleError
from detector.params import bind
from detector.render import _environment, render
from detector.rule import load_folder, load_rule

NOW = "2026-11-20T12:00:00Z"


@pytest.fixture(scope="module")
def rule():
    return load_rule("supply_chain_network_connections")


def test_sandbox_blocks_python_internals(rule):
    with pytest.raises(SecurityError):
        _environment(str(rule.folder)).from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()


def test_undefined_names_are_errors(rule):
    with pytest.raises(jinja2.UndefinedError):
        _environment(str(rule.folder)).from_string("{{ not_a_parameter }}").render()


@pytest.mark.parametrize("plan", ["fast", "straight"])
def test_one_statement_ending_in_the_last_stage(rule, plan):
    rendered = render(rule, bind(rule, now=NOW), plan=plan)
    [statement] = sqlglot.parse(rendered.sql, read="duckdb")
    assert [cte.alias for cte in statement.find(exp.With).expressions] == [s.name for s in rule.plan(plan)]
    assert rendered.sql.rstrip().endswith("SELECT * FROM stage11_by_device ORDER BY DeviceName ASC NULLS LAST")


def test_until_and_flat_end_the_chain_early(rule):
    assert render(rule, bind(rule, now=NOW), until="baseline").stages[-1] == "baseline"
    assert render(rule, bind(rule, now=NOW), flat=True).stages[-1] == "stage9_rare_destinations"
    with pytest.raises(RuleError, match="no stage named"):
        render(rule, bind(rule, now=NOW), until="nope")


def test_no_hidden_clock_when_now_is_pinned(rule):
    sql = render(rule, bind(rule, now=NOW)).sql.lower()
    assert "now()" not in sql and "current_timestamp" not in sql
    # every ago(): server_list, the servers' outbound events, the new window, the prevalence window
    assert sql.count("cast('2026-11-20 12:00:00.000000+00:00' as timestamptz)") == 4


@pytest.mark.parametrize(
    "hostile",
    ["x'); DROP TABLE t; --", "'; SELECT * FROM read_csv('/etc/passwd'); --", "{{ 7*7 }}", "a\\'b", "/* x */"],
)
def test_list_values_stay_literals(rule, hostile):
    sql = render(rule, bind(rule, {"excluded_ip_types": [hostile, "Private"]}, now=NOW)).sql
    [statement] = sqlglot.parse(sql, read="duckdb")
    literals = {lit.this for lit in statement.find_all(exp.Literal) if lit.is_string}
    assert hostile in literals
    assert "49" not in sql  # Jinja syntax in a value is not evaluated


def test_ref_must_name_an_earlier_stage(rule, tmp_path):
    folder = tmp_path / rule.slug
    shutil.copytree(rule.folder, folder)
    first = rule.stages[0].file
    (folder / first).write_text("-- broken\nSELECT * FROM {{ ref('baseline') }}")
    copy = load_folder(folder)
    with pytest.raises(RuleError, match=f"rule {rule.slug}: .*{first}: ref\\('baseline'\\) names no earlier stage"):
        render(copy, bind(copy, now=NOW))
