"""Repository-wide checks of every rule folder (as elastic/detection-rules checks every rule): metadata,
parameters, stage and explain templates, output declarations, table schemas."""

from __future__ import annotations

import re

import pytest
import sqlglot

from detector import types
from detector.dialects import DIALECTS
from detector.engines.duckdb import DuckDBEngine
from detector.literals import sql_identifier
from detector.ocsf import SEVERITY_NAMES
from detector.params import placeholder_bindings
from detector.render import render
from detector.rule import load_all
from detector.tables import known_tables, load_table

RULES, BROKEN = load_all()
NOW = "2026-11-20T12:00:00Z"


def _bind(rule):
    """Defaults, with a value for every required parameter (a rule's cases show real ones)."""
    return placeholder_bindings(rule, now=NOW)


def test_every_installed_rule_loads():
    assert not BROKEN
    assert "supply_chain_network_connections" in RULES


@pytest.mark.parametrize("slug", sorted(RULES))
def test_metadata_is_complete(slug):
    rule = RULES[slug]
    assert rule.name and rule.description and rule.author and rule.version
    assert rule.source_url.startswith("https://")
    assert rule.mitre and all(m["tactic"] and re.fullmatch(r"TA\d{4}", m["tactic_id"]) for m in rule.mitre)
    for m in rule.mitre:
        assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in m.get("techniques", [])), m
    assert all({"provider", "event", "title"} <= set(e) for e in rule.event_coverage)
    assert rule.output.key and rule.output.nested.order_by
    assert rule.severity in SEVERITY_NAMES  # what `--format ocsf` reports; optional for users' rules, not ours


@pytest.mark.parametrize("slug", sorted(RULES))
def test_parameters_have_type_default_and_help(slug):
    rule = RULES[slug]
    for p in rule.params.values():
        assert p.help.strip(), p.name
    _bind(rule)  # every default is a valid value of its type


@pytest.mark.parametrize("slug", sorted(RULES))
def test_each_template_opens_by_naming_its_stage(slug):
    rule = RULES[slug]
    for stage in (s for plan in rule.plan_names for s in rule.plan(plan)):
        text = (rule.folder / stage.file).read_text()
        assert text.startswith("-- "), stage.file
        assert re.match(r"\d{3}_", stage.file), stage.file
        if stage.stage is not None:
            assert text.startswith(f"-- Stage {stage.stage} ") or f"Stage {stage.stage} (" in text.splitlines()[0]
    for view in rule.explain_views:
        assert (rule.folder / view.file).read_text().startswith("-- explain: "), view.file


@pytest.mark.parametrize("slug", sorted(RULES))
def test_templates_reach_tables_and_time_only_through_functions(slug):
    rule = RULES[slug]
    for stage in (s for plan in rule.plan_names for s in rule.plan(plan)):
        text = (rule.folder / stage.file).read_text()
        sql = re.sub(r"\{#.*?#\}|--[^\n]*", "", text, flags=re.S)
        for table in rule.tables:
            assert not re.search(rf"\bFROM\s+{table}\b", sql), f"{stage.file}: use source('{table}')"
        assert not re.search(r"now\(\)|current_timestamp|today\(\)", sql, re.I), f"{stage.file}: use kql.ago()"


@pytest.mark.parametrize("slug", sorted(RULES))
def test_stages_are_in_file_order_and_every_template_is_used(slug):
    rule = RULES[slug]
    files = [s.file for s in rule.stages]
    assert files == sorted(files)
    on_disk = {p.name for p in rule.folder.glob("[0-9]*.sql")}
    planned = {s.file for plan in rule.plan_names for s in rule.plan(plan)}
    assert on_disk == planned
    numbered = [s.stage for s in rule.stages if s.stage is not None]
    assert numbered == list(range(1, len(numbered) + 1))


@pytest.mark.parametrize("slug", sorted(RULES))
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_plan_and_shape_renders_and_parses_in_every_dialect(slug, dialect):
    rule = RULES[slug]
    for plan in rule.plan_names:
        for flat in (False, True) if rule.output.flat else (False,):
            sql = render(rule, _bind(rule), plan=plan, flat=flat, dialect=dialect).sql
            assert len(sqlglot.parse(sql, read=DIALECTS[dialect].sqlglot)) == 1


@pytest.mark.parametrize("slug", sorted(RULES))
def test_declared_output_is_what_the_sql_gives(slug):
    """[output] columns and types are the result's, on empty tables: what Spark's schema and the docs rely on."""
    rule = RULES[slug]
    engine = DuckDBEngine()
    try:
        names = {}
        for table, columns in rule.tables.items():
            cols = ", ".join(f"CAST(NULL AS {types.get(t).duckdb}) AS {sql_identifier(c)}" for c, t in columns.items())
            engine.con.execute(f"CREATE TEMP VIEW {sql_identifier(table)} AS SELECT {cols} WHERE false")
            names[table] = sql_identifier(table)
        for flat in (False, True) if rule.output.flat else (False,):
            shape = rule.shape(flat)
            for plan in rule.plan_names:
                result = engine.execute(render(rule, _bind(rule), plan=plan, flat=flat).sql)
                assert result.column_names == list(shape.columns), (plan, flat)
                for column, kusto_type in shape.columns.items():
                    if kusto_type != "dynamic":  # nested values: their fields' types come from pack()
                        assert result.schema.field(column).type == types.get(kusto_type).arrow, column
    finally:
        engine.close()


@pytest.mark.parametrize("name", known_tables())
def test_table_schemas_use_kusto_types_and_start_with_timestamp(name):
    schema = load_table(name)
    assert schema.name == name and schema.source_url.startswith("https://")
    assert next(iter(schema.columns)) == "Timestamp" and schema.columns["Timestamp"] == "datetime"
    assert set(schema.columns.values()) <= set(types.KUSTO_TYPES)


def test_the_defender_tables_are_described():
    assert {"DeviceInfo", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceProcessEvents"} <= set(known_tables())
