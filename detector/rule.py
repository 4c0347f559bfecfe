"""Load a rule folder (`sql/<slug>/rule.toml` plus one template per stage) into frozen dataclasses."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.errors import RuleError

PARAM_TYPES = ("duration", "int", "list", "domains")
COLUMN_TYPES = ("timestamp", "string", "int")


def sql_root() -> Path:
    """The folder holding the rules: `detector/sql` in an installed wheel, `sql/` in a checkout."""
    packaged = Path(__file__).parent / "sql"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "sql"


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    help: str
    default: Any = None  # None only for an optional parameter: unset, the rule runs as written
    min: int | None = None
    optional: bool = False  # a tuning the rule's author suggests, off unless given


@dataclass(frozen=True)
class Stage:
    name: str
    file: str
    kql: str
    stage: int | None = None  # the seed's "Stage N", when this CTE is one of them
    binding: str | None = None  # the KQL `let` this CTE belongs to, when it is not a numbered stage
    flat: bool = False  # the CTE `--flat` ends at: one row per connection
    label: str | None = None  # how people see it (explain, rule card); default from stage / binding

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        return f"Stage {self.stage}" if self.stage else f"let {self.binding}"


@dataclass(frozen=True)
class Rule:
    slug: str
    folder: Path
    name: str
    description: str
    author: str
    source_url: str
    params: dict[str, Param]
    tables: dict[str, dict[str, str]]
    stages: tuple[Stage, ...]
    output_fields: tuple[str, ...]
    order_by: tuple[str, ...]
    flat_order_by: tuple[str, ...]
    mitre: tuple[dict, ...] = ()
    event_coverage: tuple[dict, ...] = ()
    exclusions: tuple[dict, ...] = ()
    meta: dict = field(default_factory=dict)
    plans: dict[str, dict] = field(default_factory=dict)

    def plan(self, name: str = "straight") -> tuple[Stage, ...]:
        """The stages of an execution plan. `straight` is the KQL as written, one CTE per let and stage (what
        `explain` counts); another plan (rule.toml [plans.NAME]) replaces some stage templates and skips others,
        giving the same rows faster."""
        if name == "straight":
            return self.stages
        if name not in self.plans:
            raise RuleError(f"{self.slug}: no plan named {name!r} (plans: straight, {', '.join(self.plans)})")
        spec = self.plans[name]
        replace, skip = spec.get("replace", {}), set(spec.get("skip", ()))
        return tuple(
            Stage(**{**s.__dict__, "file": replace.get(s.name, s.file)}) for s in self.stages if s.name not in skip
        )

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise RuleError(f"{self.slug}: no stage named {name!r}")

    @property
    def flat_stage(self) -> Stage:
        flats = [s for s in self.stages if s.flat]
        if len(flats) != 1:
            raise RuleError(f"{self.slug}: exactly one stage must be marked flat = true")
        return flats[0]


def available_rules() -> list[str]:
    return sorted(p.parent.name for p in sql_root().glob("*/rule.toml"))


def load_rule(slug: str | None = None) -> Rule:
    """Load rule `slug`; with no slug, the only rule there is."""
    rules = available_rules()
    if slug is None:
        if len(rules) != 1:
            raise RuleError(f"choose a rule with --rule, one of: {', '.join(rules)}")
        slug = rules[0]
    if slug not in rules:
        raise RuleError(f"unknown rule {slug!r}; available: {', '.join(rules) or 'none'}")
    folder = sql_root() / slug
    with open(folder / "rule.toml", "rb") as fh:
        raw = tomllib.load(fh)
    try:
        rule = Rule(
            slug=raw["slug"],
            folder=folder,
            name=raw["name"],
            description=raw["description"].strip(),
            author=raw["author"],
            source_url=raw["source_url"],
            params={name: Param(name=name, **spec) for name, spec in raw["params"].items()},
            tables={name: dict(cols) for name, cols in raw["tables"].items()},
            stages=tuple(Stage(**spec) for spec in raw["stages"]),
            output_fields=tuple(raw["output_fields"]),
            order_by=tuple(raw["order_by"]),
            flat_order_by=tuple(raw["flat_order_by"]),
            mitre=tuple(raw.get("mitre", ())),
            event_coverage=tuple(raw.get("event_coverage", ())),
            exclusions=tuple(raw.get("exclusions", ())),
            meta={k: raw[k] for k in ("language", "platform") if k in raw},
            plans={name: dict(spec) for name, spec in raw.get("plans", {}).items()},
        )
    except (KeyError, TypeError) as exc:
        raise RuleError(f"{folder / 'rule.toml'}: malformed ({exc})") from exc
    _check(rule)
    return rule


def _check(rule: Rule) -> None:
    where = rule.folder / "rule.toml"
    if rule.slug != rule.folder.name:
        raise RuleError(f"{where}: slug {rule.slug!r} differs from its folder name")
    for p in rule.params.values():
        if p.type not in PARAM_TYPES:
            raise RuleError(f"{where}: parameter {p.name} has unknown type {p.type!r}")
        if not p.help:
            raise RuleError(f"{where}: parameter {p.name} has no help text")
        if p.default is None and not p.optional:
            raise RuleError(f"{where}: parameter {p.name} has no default (mark it optional = true if unset is off)")
    for table, cols in rule.tables.items():
        for col, typ in cols.items():
            if typ not in COLUMN_TYPES:
                raise RuleError(f"{where}: {table}.{col} has unknown type {typ!r}")
    names = [s.name for s in rule.stages]
    if len(set(names)) != len(names):
        raise RuleError(f"{where}: stage names repeat")
    for s in rule.stages:
        if not (rule.folder / s.file).is_file():
            raise RuleError(f"{where}: stage {s.name} names missing template {s.file}")
    for plan, spec in rule.plans.items():
        unknown = (set(spec.get("replace", {})) | set(spec.get("skip", ()))) - set(names)
        if unknown:
            raise RuleError(f"{where}: plan {plan} names no stage {sorted(unknown)[0]!r}")
        for stage, file in spec.get("replace", {}).items():
            if not (rule.folder / file).is_file():
                raise RuleError(f"{where}: plan {plan} replaces {stage} with missing template {file}")
        if rule.flat_stage.name in spec.get("skip", ()) or rule.stages[-1].name in spec.get("skip", ()):
            raise RuleError(f"{where}: plan {plan} may not skip the flat or the last stage")
    rule.flat_stage  # noqa: B018 - raises when not exactly one
