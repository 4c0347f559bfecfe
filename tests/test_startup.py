"""A one-shot run starts fast: only the invoked command's modules are imported, templates are compiled once and a
rule's SQL is parsed once per content of its files (detector/cache.py). None of it may change what runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SEED

from detector import cache, render
from detector.errors import RuleError
from detector.paths import sql_root
from detector.rule import load_folder

ROOT = Path(__file__).resolve().parents[1]


def test_run_imports_only_what_it_uses(tmp_path):
    """`detector run` loads neither the self-check, the ingest readers, the fleet generator nor PySpark."""
    code = "\n".join(
        [
            "import sys",
            f"sys.argv = ['detector', 'run', '{SEED}', '--data', 'data/sample', '--now', '2026-11-20T12:00:00Z',"
            " '-o', sys.argv[1]]",
            "from detector import cli",
            "try:\n    cli.main()\nexcept SystemExit as e:\n    assert not e.code, e.code",
            "print(sorted(m for m in sys.modules if m.startswith(('detector.', 'pyspark', 'chdb', 'fakesnow'))))",
        ]
    )
    out = str(tmp_path / "records.jsonl")
    done = subprocess.run([sys.executable, "-c", code, out], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = eval(done.stdout.strip().splitlines()[-1])  # a list of module names, printed by repr
    for unused in (
        "detector.selfcheck",
        "detector.commands.ingest",
        "detector.ingest",
        "detector.generate",
        "detector.commands.test",
        "detector.commands.export",
        "detector.incremental",
        "pyspark",
        "chdb",
    ):
        assert unused not in loaded, unused  # fmt: skip
    assert "detector.commands.run" in loaded


@pytest.fixture()
def copy(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTOR_CACHE_DIR", str(tmp_path / "cache"))
    cache.folder.cache_clear()
    folder = tmp_path / "rules" / SEED
    shutil.copytree(sql_root() / SEED, folder)
    yield folder
    cache.folder.cache_clear()


def test_a_validated_rule_is_not_parsed_again(copy, monkeypatch):
    rule = load_folder(copy)
    assert not render.is_validated(rule)
    render.validate(rule)
    assert render.is_validated(rule)
    monkeypatch.setattr(render, "_check_parses", lambda *a: pytest.fail("parsed again"))
    from detector.params import placeholder_bindings

    render.render(rule, placeholder_bindings(rule))  # no parse


def test_a_changed_template_is_checked_again(copy):
    rule = load_folder(copy)
    render.validate(rule)
    template = copy / "150_stage9_rare_destinations.sql"
    template.write_text(template.read_text() + "\nWHERE WHERE")
    rule = load_folder(copy)
    assert not render.is_validated(rule)
    with pytest.raises(RuleError, match="150_stage9_rare_destinations.sql: SQL does not parse"):
        render.ensure_validated(rule)


def test_the_cache_can_be_turned_off(copy, monkeypatch):
    monkeypatch.setenv("DETECTOR_CACHE_DIR", "off")
    cache.folder.cache_clear()
    rule = load_folder(copy)
    render.validate(rule)
    assert cache.folder() is None and not render.is_validated(rule)
