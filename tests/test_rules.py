"""Repository-wide checks of every rule folder under sql/: metadata, parameters, stage templates."""

from __future__ import annotations

import re

import pytest

from detector.params import bind
from detector.rule import available_rules, load_rule

RULES = available_rules()


def test_there_is_a_rule():
    assert "supply_chain_network_connections" in RULES


@pytest.mark.parametrize("slug", RULES)
def test_metadata_is_complete(slug):
    rule = load_rule(slug)
    assert rule.name and rule.description and rule.author
    assert rule.source_url.startswith("https://")
    assert rule.mitre and all(m["tactic"] and re.fullmatch(r"TA\d{4}", m["tactic_id"]) for m in rule.mitre)
    assert rule.event_coverage and all({"provider", "event", "title"} <= set(e) for e in rule.event_coverage)
    assert rule.output_fields and rule.order_by and rule.flat_order_by
    assert set(rule.order_by) <= set(rule.output_fields)


@pytest.mark.parametrize("slug", RULES)
def test_parameters_have_type_default_and_help(slug):
    rule = load_rule(slug)
    for p in rule.params.values():
        assert p.help.strip(), p.name
    bind(rule)  # every default is a valid value of its type


@pytest.mark.parametrize("slug", RULES)
def test_each_template_opens_by_naming_its_stage(slug):
    rule = load_rule(slug)
    for stage in (s for plan in ["straight", *rule.plans] for s in rule.plan(plan)):
        text = (rule.folder / stage.file).read_text()
        assert text.startswith("-- "), stage.file
        assert re.match(r"\d{3}_", stage.file), stage.file
        if stage.stage is not None:
            assert text.startswith(f"-- Stage {stage.stage} ") or f"Stage {stage.stage} (" in text.splitlines()[0]


@pytest.mark.parametrize("slug", RULES)
def test_templates_reach_tables_and_time_only_through_functions(slug):
    rule = load_rule(slug)
    for stage in (s for plan in ["straight", *rule.plans] for s in rule.plan(plan)):
        text = (rule.folder / stage.file).read_text()
        sql = re.sub(r"\{#.*?#\}|--[^\n]*", "", text, flags=re.S)
        for table in rule.tables:
            assert not re.search(rf"\bFROM\s+{table}\b", sql), f"{stage.file}: use source('{table}')"
        assert not re.search(r"now\(\)|current_timestamp|today\(\)", sql, re.I), f"{stage.file}: use kql.ago()"


@pytest.mark.parametrize("slug", RULES)
def test_stages_are_in_file_order_and_every_template_is_used(slug):
    rule = load_rule(slug)
    files = [s.file for s in rule.stages]
    assert files == sorted(files)
    on_disk = {p.name for p in rule.folder.glob("[0-9]*.sql")}
    planned = {s.file for plan in ["straight", *rule.plans] for s in rule.plan(plan)}
    assert on_disk == planned
    numbered = [s.stage for s in rule.stages if s.stage is not None]
    assert numbered == list(range(1, len(numbered) + 1))
