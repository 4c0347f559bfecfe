"""Load a rule folder (`sql/<slug>/rule.toml` plus one template per stage) into frozen dataclasses.

Rules are found in the folders of `--rules-dir`, then of `DETECTOR_RULES_PATH` (folders separated by `:`), then
in the installed package's `sql/`. A folder is a rule when it holds a rule.toml; folders whose names start with
`_` (shared macros, table schemas) are not rules. The first folder that holds a slug wins.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector import ocsf, types
from detector.errors import RuleError
from detector.kql import join_names
from detector.paths import sql_root
from detector.tables import load_table

PARAM_TYPES = ("duration", "int", "list", "domains", "string")
RULES_PATH_ENV = "DETECTOR_RULES_PATH"

__all__ = ["Param", "Rule", "Stage", "load_rule", "discover", "load_all", "sql_root"]


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    help: str
    default: Any = None  # None: an optional tuning left unset, or a required parameter
    min: int | None = None
    optional: bool = False  # a tuning the rule's author suggests, off unless given
    required: bool = False  # no default: the user must give it

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Stage:
    name: str
    file: str
    kql: str
    stage: int | None = None  # the KQL's "Stage N", when this CTE is one of them
    binding: str | None = None  # the KQL `let` this CTE belongs to, when it is not a numbered stage
    flat: bool = False  # the CTE `--flat` ends at: one row per connection
    label: str | None = None  # how people see it (explain, rule card); default from stage / binding

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        if self.stage:
            return f"Stage {self.stage}"
        return f"let {self.binding}" if self.binding else self.name


@dataclass(frozen=True)
class Shape:
    """One output shape: its columns with their Kusto types, in order, and its sort keys."""

    columns: dict[str, str]
    order_by: tuple[str, ...]


@dataclass(frozen=True)
class Output:
    """What a rule's records look like (rule.toml [output])."""

    key: tuple[str, ...]  # what identifies a record
    nested: Shape  # the rule's own output
    flat: Shape | None  # `--flat`: the rows before the last aggregation, when the rule has such a stage
    nested_column: str | None = None  # a list of objects `--format table` spreads over rows
    entity: str | None = None  # the column `explain --entity` traces (e.g. a device name column)
    record_noun: str = "record"
    row_noun: str = "row"
    table_columns: tuple[str, ...] = ()  # what `--format table` shows (default: every column)
    ocsf: tuple[tuple[str, str], ...] = ()  # [output.ocsf]: (OCSF path, record column) for `--format ocsf`


@dataclass(frozen=True)
class Partial:
    """A stage computed per source file and kept in a run's state (rule.toml [state.partials.NAME]): the template
    `file` summarizes the rows `{{ rows }}` of `table` whose time column ([tables.NAME] time) is inside the
    `window` (a duration parameter, counted back from `now`); the plan's templates read the union of every file's
    summary through `{{ partial('NAME') }}` and combine it. `params`: the parameters the template reads (the
    state is kept per value of these)."""

    name: str
    table: str
    file: str
    time: str
    window: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateSpec:
    """How a stateful run (`--state DIR`) works for this rule (rule.toml [state])."""

    plan: str  # the plan a stateful run executes; its templates read the partials
    partials: dict[str, Partial]
    identity: tuple[str, ...] = ()  # `--new-only`: the flat-row columns that identify an alert across runs


@dataclass(frozen=True)
class ExplainView:
    title: str
    file: str
    entity: bool = False  # shown only when an entity is traced; the template gets `entity` as a literal


@dataclass(frozen=True)
class Rule:
    slug: str
    folder: Path
    name: str
    description: str
    author: str
    source_url: str
    params: dict[str, Param]
    tables: dict[str, dict[str, str]]  # table -> {column: Kusto type}: every column the views expose
    reads: dict[str, tuple[str, ...]]  # table -> the columns the rule needs to find in the data
    stages: tuple[Stage, ...]
    output: Output
    clock: tuple[str, str]  # (table, column) whose newest value `--now latest` takes
    version: str = "1"
    severity: str | None = None  # OCSF's severity name (detector.ocsf.SEVERITY_NAMES); None: not declared
    mitre: tuple[dict, ...] = ()
    event_coverage: tuple[dict, ...] = ()
    exclusions: tuple[dict, ...] = ()
    notes: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)
    plans: dict[str, dict] = field(default_factory=dict)
    default_plan: str = "straight"
    explain_views: tuple[ExplainView, ...] = ()
    # table -> duration parameters: the result depends only on its rows whose time column (`time`, below) is
    # after now - the longest of them ([tables.NAME] since; lets a run skip lake files wholly older than that)
    since: dict[str, tuple[str, ...]] = field(default_factory=dict)
    time: dict[str, str] = field(default_factory=dict)  # table -> its time column ([tables.NAME] time)
    state: StateSpec | None = None

    def plan(self, name: str | None = None) -> tuple[Stage, ...]:
        """The stages of an execution plan. `straight` is the KQL as written, one CTE per let and stage (what
        `explain` counts); another plan (rule.toml [plans.NAME]) replaces some stage templates and skips others,
        giving the same rows faster. None is the rule's default plan."""
        name = name or self.default_plan
        if name == "straight":
            return self.stages
        if name not in self.plans:
            raise RuleError(f"{self.slug}: no plan named {name!r} (plans: {', '.join(self.plan_names)})")
        spec = self.plans[name]
        replace, skip = spec.get("replace", {}), set(spec.get("skip", ()))
        return tuple(
            Stage(**{**s.__dict__, "file": replace.get(s.name, s.file)}) for s in self.stages if s.name not in skip
        )

    @property
    def plan_names(self) -> tuple[str, ...]:
        return ("straight", *self.plans)

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise RuleError(f"{self.slug}: no stage named {name!r}")

    @property
    def flat_stage(self) -> Stage | None:
        return next((s for s in self.stages if s.flat), None)

    @property
    def tactics(self) -> str:
        return ", ".join(f"{m['tactic']} ({m['tactic_id']})" for m in self.mitre)

    def shape(self, flat: bool = False) -> Shape:
        if flat:
            if self.output.flat is None:
                raise RuleError(f"{self.slug}: the rule has no flat output (no stage is marked flat = true)")
            return self.output.flat
        return self.output.nested


# ---- finding rules ----------------------------------------------------------------------------------------


def rule_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Where rules are looked for, first wins: --rules-dir folders, DETECTOR_RULES_PATH, the package's sql/."""
    env = [p for p in os.environ.get(RULES_PATH_ENV, "").split(os.pathsep) if p.strip()]
    return [*(Path(p) for p in extra), *(Path(p) for p in env), sql_root()]


def discover(extra: Iterable[str | Path] = ()) -> dict[str, Path]:
    """slug -> rule folder, over every rules folder (the first that holds a slug wins)."""
    found: dict[str, Path] = {}
    for root in rule_dirs(extra):
        if not root.is_dir():
            raise RuleError(f"rules folder {root} does not exist")
        for toml in sorted(root.glob("*/rule.toml")):
            slug = toml.parent.name
            if not slug.startswith("_") and slug not in found:
                found[slug] = toml.parent
    return found


def load_rule(slug: str | None = None, rules_dirs: Iterable[str | Path] = ()) -> Rule:
    """Load rule `slug`; with no slug, the only rule there is."""
    found = discover(rules_dirs)
    if slug is None:
        if len(found) != 1:
            raise RuleError(f"name a rule: one of {', '.join(sorted(found)) or '(none installed)'}")
        slug = next(iter(found))
    if slug not in found:
        raise RuleError(f"unknown rule {slug!r}; installed rules: {', '.join(sorted(found)) or 'none'}")
    return load_folder(found[slug])


def load_all(rules_dirs: Iterable[str | Path] = ()) -> tuple[dict[str, Rule], dict[str, str]]:
    """Every installed rule that loads, and for every one that does not, why (slug -> message)."""
    rules, broken = {}, {}
    for slug, folder in discover(rules_dirs).items():
        try:
            rules[slug] = load_folder(folder)
        except RuleError as exc:
            broken[slug] = str(exc)
    return rules, broken


def load_folder(folder: Path) -> Rule:
    folder = Path(folder).resolve()
    stat = (folder / "rule.toml").stat()
    return _load_folder(folder, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _load_folder(folder: Path, _mtime: int, _size: int) -> Rule:
    where = folder / "rule.toml"
    try:
        with open(where, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"rule {folder.name}: {where}: not valid TOML ({exc})") from None
    try:
        rule = _build(folder, raw)
    except RuleError as exc:
        raise RuleError(f"rule {folder.name}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RuleError(f"rule {folder.name}: {where}: malformed ({what})") from None
    _check(rule)
    return rule


def _build(folder: Path, raw: dict) -> Rule:
    where = folder / "rule.toml"
    tables, reads, since, time = {}, {}, {}, {}
    for name, spec in raw["tables"].items():
        tables[name], reads[name] = _table(where, name, spec)
        if "since" in spec:
            since[name] = _since(where, name, spec["since"])
        if "time" in spec:
            time[name] = str(spec["time"])
    out = raw["output"]
    flat = out.get("flat")
    output = Output(
        key=tuple(out["key"]),
        nested=Shape(columns=_output_columns(where, out["columns"]), order_by=tuple(out["order_by"])),
        flat=Shape(columns=_output_columns(where, flat["columns"]), order_by=tuple(flat["order_by"])) if flat else None,
        nested_column=out.get("nested"),
        entity=out.get("entity"),
        record_noun=out.get("record_noun", "record"),
        row_noun=out.get("row_noun", "row"),
        table_columns=tuple(out.get("table_columns", ())),
        ocsf=_ocsf_mapping(where, out.get("ocsf", {})),
    )
    clock_table, _, clock_column = raw.get("clock", "").partition(".")
    return Rule(
        slug=raw["slug"],
        folder=folder,
        name=raw["name"],
        description=raw["description"].strip(),
        author=raw["author"],
        source_url=raw["source_url"],
        version=str(raw.get("version", "1")),
        severity=raw.get("severity"),
        params={name: Param(name=name, **spec) for name, spec in raw.get("params", {}).items()},
        tables=tables,
        reads=reads,
        stages=tuple(Stage(**spec) for spec in raw["stages"]),
        output=output,
        clock=(clock_table, clock_column),
        mitre=tuple(raw.get("mitre", ())),
        event_coverage=tuple(raw.get("event_coverage", ())),
        exclusions=tuple(raw.get("exclusions", ())),
        notes=tuple(raw.get("notes", ())),
        meta={k: raw[k] for k in ("language", "platform") if k in raw},
        plans={name: dict(spec) for name, spec in raw.get("plans", {}).items()},
        default_plan=raw.get("default_plan", "straight"),
        explain_views=tuple(ExplainView(**v) for v in raw.get("explain", ())),
        since=since,
        time=time,
        state=_state(raw["state"], time) if "state" in raw else None,
    )


def _state(spec: dict, time: dict[str, str]) -> StateSpec:
    """[state]: a partial's time column is its table's ([tables.NAME] time)."""
    partials = {
        name: Partial(
            name=name,
            table=p["table"],
            file=p["file"],
            time=time.get(p["table"], ""),
            window=p["window"],
            params=tuple(p.get("params", ())),
        )  # fmt: skip
        for name, p in spec.get("partials", {}).items()
    }
    return StateSpec(plan=spec["plan"], partials=partials, identity=tuple(spec.get("identity", ())))


def _ocsf_mapping(where: Path, spec: dict, prefix: str = "") -> tuple[tuple[str, str], ...]:
    """[output.ocsf]: `"OCSF.path" = "Column"` pairs in order; nested tables (unquoted dotted keys) read as paths."""
    pairs: list[tuple[str, str]] = []
    for key, value in spec.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            pairs += _ocsf_mapping(where, value, path + ".")
        elif isinstance(value, str):
            pairs.append((path, value))
        else:
            raise RuleError(f'{where}: [output.ocsf] "{path}" must name a record column (a string)')
    return tuple(pairs)


def _check_ocsf(rule: Rule, fail: Callable[[str], None]) -> None:
    """`severity` is one of OCSF's names; every [output.ocsf] path is a finding field detector.ocsf fills, and its
    column an output column of a type that fits (a list column's elements are checked when records are written)."""
    if rule.severity is not None and rule.severity not in ocsf.SEVERITY_NAMES:
        fail(f"severity {rule.severity!r} is not an OCSF severity (one of {', '.join(ocsf.SEVERITY_NAMES)})")
    columns = rule.output.nested.columns
    mapping = dict(rule.output.ocsf)
    for path, column in rule.output.ocsf:
        key = f'[output.ocsf] "{path}" = "{column}"'
        if path in ocsf.ARRAYS:
            if columns.get(column) != "dynamic":
                fail(f"{key}: {column} is not a list (dynamic) output column")
            continue
        if path not in ocsf.TARGETS:
            fail(f"{key}: unknown OCSF path (known: {', '.join([*ocsf.TARGETS, *ocsf.ARRAYS])})")
        array = path.partition("[].")[0] + "[]" if "[]." in path else None
        if array in mapping:
            continue  # the field of an element of the list column
        if column not in columns:
            fail(f"{key}: {column} is not an output column")
        fits = ocsf.KUSTO_TYPES[ocsf.TARGETS[path]]
        if columns[column] not in fits:
            fail(f"{key}: {column} is {columns[column]}, OCSF wants {' or '.join(fits)} there")


def _since(where: Path, name: str, value: Any) -> tuple[str, ...]:
    """[tables.NAME] since = "param" or ["param", ...]: duration parameters (checked in _check)."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise RuleError(f"{where}: [tables.{name}] since must name duration parameters (a name or a list)")
    return tuple(names)


def _output_columns(where: Path, spec: dict) -> dict[str, str]:
    """[output] columns: `Name = "type"` in order; `"Table.*" = "join"` stands for every documented column of the
    table, named as a Kusto join names the right side's columns after those before it (Id -> Id1)."""
    columns: dict[str, str] = {}
    for name, kusto_type in spec.items():
        if name.endswith(".*"):
            if kusto_type != "join":
                raise RuleError(f'{where}: output column "{name}" must be = "join" (every column of the table)')
            documented = load_table(name[:-2]).columns
            renamed = join_names(list(columns), list(documented))
            columns.update(zip(renamed, documented.values(), strict=True))
        elif name in columns:
            raise RuleError(f"{where}: output column {name} is declared twice")
        else:
            columns[name] = kusto_type
    return columns


def _table(where: Path, name: str, spec: dict) -> tuple[dict[str, str], tuple[str, ...]]:
    """A rule's [tables.NAME]: `columns` it reads (types from sql/_tables/NAME.toml, or given as a table of
    column = type for a table without a schema file), and `whole_rows = true` to expose every documented column
    (those absent from the data read as Kusto's empty value)."""
    columns = spec["columns"]
    if isinstance(columns, dict):
        typed = dict(columns)
        for column, kusto_type in typed.items():
            if kusto_type not in types.TYPES:
                raise RuleError(f"{where}: {name}.{column} has unknown type {kusto_type!r}")
    else:
        documented = load_table(name).columns
        missing = [c for c in columns if c not in documented]
        if missing:
            raise RuleError(f"{where}: [tables.{name}] column {missing[0]} is not a documented {name} column")
        typed = {c: documented[c] for c in columns}
    if spec.get("whole_rows"):
        documented = load_table(name).columns
        return dict(documented), tuple(typed)
    return typed, tuple(typed)


def _check(rule: Rule) -> None:
    where = rule.folder / "rule.toml"
    if rule.slug != rule.folder.name:
        raise RuleError(f"rule {rule.folder.name}: {where}: slug {rule.slug!r} differs from its folder name")

    def fail(message: str) -> None:
        raise RuleError(f"rule {rule.slug}: {where}: {message}")

    for p in rule.params.values():
        if p.type not in PARAM_TYPES:
            fail(f"parameter {p.name} has unknown type {p.type!r} (known: {', '.join(PARAM_TYPES)})")
        if not p.help:
            fail(f"parameter {p.name} has no help text")
        if p.default is None and not (p.optional or p.required):
            fail(f"parameter {p.name} has no default (mark it optional = true or required = true)")
    names = [s.name for s in rule.stages]
    if not names:
        fail("no [[stages]]")
    if len(set(names)) != len(names):
        fail("stage names repeat")
    for s in rule.stages:
        if not (rule.folder / s.file).is_file():
            fail(f"stage {s.name} names missing template {s.file}")
    if sum(s.flat for s in rule.stages) > 1:
        fail("at most one stage may be marked flat = true")
    if (rule.flat_stage is None) != (rule.output.flat is None):
        fail("a stage marked flat = true and [output.flat] go together")
    for plan, spec in rule.plans.items():
        unknown = (set(spec.get("replace", {})) | set(spec.get("skip", ()))) - set(names)
        if unknown:
            fail(f"plan {plan} names no stage {sorted(unknown)[0]!r}")
        for stage, file in spec.get("replace", {}).items():
            if not (rule.folder / file).is_file():
                fail(f"plan {plan} replaces {stage} with missing template {file}")
        kept = {rule.stages[-1].name} | ({rule.flat_stage.name} if rule.flat_stage else set())
        if kept & set(spec.get("skip", ())):
            fail(f"plan {plan} may not skip the flat or the last stage")
    if rule.default_plan not in rule.plan_names:
        fail(f"default_plan {rule.default_plan!r} is not a plan (plans: {', '.join(rule.plan_names)})")
    for shape in filter(None, (rule.output.nested, rule.output.flat)):
        for column, kusto_type in shape.columns.items():
            if kusto_type not in types.TYPES:
                fail(f"output column {column} has unknown type {kusto_type!r}")
        for key in shape.order_by:
            if key not in shape.columns:
                fail(f"sort key {key} is not an output column")
    for key in rule.output.key:
        if key not in rule.output.nested.columns:
            fail(f"record key {key} is not an output column")
    if rule.output.nested_column and rule.output.nested_column not in rule.output.nested.columns:
        fail(f"nested column {rule.output.nested_column} is not an output column")
    table, column = rule.clock
    if table not in rule.tables or column not in rule.tables[table] or rule.tables[table][column] != "datetime":
        fail(f'clock {table}.{column} is not a datetime column the rule reads (clock = "Table.Column")')
    for name, spans in rule.since.items():
        for span in spans:
            if span not in rule.params or rule.params[span].type != "duration":
                fail(f"[tables.{name}] since: {span!r} is not a duration parameter of the rule")
        if name not in rule.time:
            fail(f'[tables.{name}] since needs the table\'s time column: time = "Column"')
    for name, column in rule.time.items():
        if rule.tables[name].get(column) != "datetime":
            fail(f"[tables.{name}] time {column!r} is not a datetime column among the table's columns")
    for view in rule.explain_views:
        if not (rule.folder / view.file).is_file():
            fail(f"explain view {view.title!r} names missing template {view.file}")
    _check_ocsf(rule, fail)
    if rule.state is not None:
        _check_state(rule, fail)
    _check_template_syntax(rule)


def _check_state(rule: Rule, fail: Any) -> None:
    state = rule.state
    assert state is not None
    if state.plan not in rule.plans:
        fail(f"[state] plan {state.plan!r} is not one of the rule's [plans] ({', '.join(rule.plans) or 'none'})")
    if not state.partials:
        fail("[state] declares no [state.partials.NAME]")
    for p in state.partials.values():
        where = f"[state.partials.{p.name}]"
        if p.table not in rule.tables:
            fail(f"{where} table {p.table!r} is not a table the rule reads")
        elif not p.time:
            fail(f'{where}: its table {p.table} needs a time column ([tables.{p.table}] time = "Column")')
        window = rule.params.get(p.window)
        if window is None or window.type != "duration" or window.default is None:
            fail(f"{where} window {p.window!r} is not a duration parameter with a default")
        for name in p.params:
            if name not in rule.params:
                fail(f"{where} params: {name!r} is not a parameter of the rule")
        if not (rule.folder / p.file).is_file():
            fail(f"{where} names missing template {p.file}")
    if state.identity:
        if rule.output.flat is None:
            fail("[state] identity needs the rule's flat rows ([output.flat])")
        else:
            for column in state.identity:
                if column not in rule.output.flat.columns:
                    fail(f"[state] identity column {column} is not a column of [output.flat]")


def _check_template_syntax(rule: Rule) -> None:
    """Every template parses as Jinja (the SQL it renders is checked when rendered: render.validate)."""
    import jinja2

    files = {s.file for s in rule.stages} | {v.file for v in rule.explain_views}
    files |= {f for spec in rule.plans.values() for f in spec.get("replace", {}).values()}
    files |= {"_filters.sql"} if (rule.folder / "_filters.sql").is_file() else set()
    files |= {p.file for p in rule.state.partials.values()} if rule.state else set()
    env = jinja2.Environment()
    for file in sorted(files):
        try:
            env.parse((rule.folder / file).read_text(encoding="utf-8"))
        except jinja2.TemplateSyntaxError as exc:
            raise RuleError(f"rule {rule.slug}: {rule.folder / file}: line {exc.lineno}: {exc.message}") from None
