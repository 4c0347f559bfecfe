"""Render a rule's stage templates into one SQL statement: a chain of CTEs ending in `SELECT * FROM <last>`.

Jinja runs sandboxed with undefined names as errors. Templates reach tables only through `source()` and
earlier stages only through `ref()`; parameter values only through `param()` / `lit()`, which build literals
with sqlglot. Each stage body is parsed by sqlglot, so a broken template fails here, naming its file.

The same templates render for every dialect in detector/dialects.py: what differs between engines (sorted sets,
the Details object, materialisation, literals for instants and durations) comes from that one table, through the
`kql.*` macros and `forms`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlglot
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlglot import exp
from sqlglot.errors import ParseError

from detector import cache, dialects, kql
from detector.errors import RuleError
from detector.literals import literal, sql_identifier
from detector.params import Bindings
from detector.paths import sql_root
from detector.rule import Rule

MACROS = "_macros/kql.sql"
RULE_MACROS = "_filters.sql"  # optional, per rule: predicates the rule repeats


@dataclass(frozen=True)
class PartialInput:
    """Where a stateful run's partial comes from (detector/incremental.py): the stored summaries of the files
    wholly inside its window (Parquet paths), and a relation of the typed rows of the files that cross the window's
    edge (None: no such file), summarized here with the exact window predicate."""

    stored: tuple[str, ...] = ()
    crossing: str | None = None


@dataclass(frozen=True)
class Rendered:
    sql: str
    stages: tuple[str, ...]  # CTE names, in order


@functools.lru_cache(maxsize=64)
def _environment(folder: str, dialect: str = "duckdb") -> SandboxedEnvironment:
    """One sandboxed environment per rule folder and dialect, so templates are compiled once per process. A rule's
    own templates are found in its folder (wherever it is installed), the shared macros in the package's sql/."""
    env = SandboxedEnvironment(
        loader=FileSystemLoader([folder, str(sql_root())]),
        bytecode_cache=cache.jinja_bytecode(),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )
    target = dialects.get(dialect)
    env.filters["lit"] = lambda value: sql_value(value, target)
    env.filters["fold"] = kql.fold
    return env


def sql_value(value: object, dialect: dialects.Dialect) -> str:
    """A typed value as a literal of the dialect: instants and durations in the dialect's own forms."""
    if isinstance(value, datetime):
        return dialects.timestamp(value, dialect)
    if isinstance(value, timedelta):
        return dialects.interval(value, dialect)
    return literal(value).sql(dialect=dialect.sqlglot)


@functools.lru_cache(maxsize=512)
def _check_parses(body: str, dialect: str) -> str | None:
    """The parse error of one stage body, or None; cached, as the same body is rendered again and again."""
    try:
        sqlglot.parse_one(body, read=dialects.get(dialect).sqlglot)
    except ParseError as exc:
        return " ".join(str(exc).split())  # one line: the CLI prints errors on one line
    return None


def render(
    rule: Rule,
    bindings: Bindings,
    *,
    source: Callable[[str], str] | None = None,
    dialect: str = "duckdb",
    until: str | None = None,
    flat: bool = False,
    order: bool = True,
    tail: str | None = None,
    plan: str | None = None,
    extra: dict | None = None,
    partials: dict[str, PartialInput] | None = None,
    start: tuple[str, str] | None = None,
) -> Rendered:
    """The rule as one SQL statement.

    source:  maps a table name to the SQL that names it (default: the quoted table name).
    dialect: one of detector.dialects.DIALECTS; the SQL is written for that engine.
    until:   end the chain at this stage (for counting rows after each stage); implies no ORDER BY.
    flat:    end at the rule's flat stage, one row per connection.
    tail:    a query over the CTEs to end with instead of `SELECT * FROM <last>` (built by the caller).
    plan:    a plan of the rule (rule.toml [plans]; None = its default_plan) or `straight` (the KQL as written,
             one CTE per stage; what `explain` counts). The repository tests check every plan gives the same rows.
    extra:   more names for the templates (explain views get `entity`).
    partials: for a stateful run, where each of the rule's partials (rule.toml [state.partials]) comes from; None:
             `partial(NAME)` summarizes the table's rows inside the window right here (a stateless run).
    start:   (stage, relation): the chain starts at that stage, whose rows are the relation's (`--new-only`).
    """
    env = _environment(str(rule.folder), dialect)
    target = dialects.get(dialect)
    source = source or (lambda table: sql_identifier(table, target.sqlglot))
    stages = rule.plan(plan)
    if flat and rule.flat_stage is None:
        raise RuleError(f"{rule.slug}: the rule has no flat output (no stage is marked flat = true)")
    last = until or (rule.flat_stage.name if flat else stages[-1].name)
    names = [s.name for s in stages]
    if last not in names:
        raise RuleError(f"{rule.slug}: no stage named {last!r}")
    chain = stages[: names.index(last) + 1]
    if start is not None:
        first = names.index(start[0])
        if first > names.index(last):
            raise RuleError(f"{rule.slug}: stage {start[0]!r} comes after {last!r}")
        chain = chain[first:]

    def checked_source(table: str) -> str:
        if table not in rule.tables:
            raise RuleError(f"source({table!r}) is not a table in rule.toml [tables]")
        return source(table)

    now_sql = sql_value(bindings.now, target) if bindings.now is not None else target.now
    materialized: set[str] = set()
    current: list[str] = []

    def materialize() -> str:
        """KQL's materialize(): a hint, written only where the engine accepts it (speed only, never rows)."""
        materialized.add(current[-1])
        return ""

    base = _common(rule, target, bindings.values, now_sql)
    base |= {"source": checked_source, "materialize_hint": materialize}
    done: list[str] = []

    def ref(name: str) -> str:
        if name not in done:
            raise RuleError(f"ref({name!r}) names no earlier stage")
        return name

    context = {**base, **(extra or {}), "ref": ref}
    context["partial"] = lambda name: _partial(env, context, rule, target, name, (partials or {}).get(name), partials)
    _add_modules(env, context, rule)

    trusted = dialect == "duckdb" and is_validated(rule)  # every plan rendered and parsed once: see validate()
    ctes = []
    for stage in chain:
        current.append(stage.name)
        try:
            if start is not None and stage.name == start[0]:
                body = f"-- {stage.title}: the rows of {start[1]}\nSELECT * FROM {start[1]}"
            else:
                body = env.get_template(stage.file).render(context).strip()
        except TemplateError as exc:
            raise RuleError(f"rule {rule.slug}: {rule.folder / stage.file}: {exc}") from exc
        except RuleError as exc:  # ref() / source() naming something that is not there
            raise RuleError(f"rule {rule.slug}: {rule.folder / stage.file}: {exc}") from None
        if not body.startswith("--"):
            raise RuleError(
                f"rule {rule.slug}: {rule.folder / stage.file}: must open with a '--' comment naming its stage"
            )
        error = None if trusted else _check_parses(body, dialect)
        if error:
            raise RuleError(f"rule {rule.slug}: {rule.folder / stage.file}: SQL does not parse: {error}")
        # Bodies go in as rendered: re-indenting would change string literals that span lines.
        hint = " MATERIALIZED" if stage.name in materialized and target.materialize else ""
        ctes.append(f"{stage.name} AS{hint} (\n{body}\n)")
        done.append(stage.name)

    if tail is not None:
        if callable(tail):  # a template for the tail, rendered with the same names (explain views)
            tail = tail(env, context)
        return Rendered(sql=_finish("WITH\n" + ",\n".join(ctes) + "\n" + tail, target), stages=tuple(done))
    sql = "WITH\n" + ",\n".join(ctes) + f"\nSELECT * FROM {last}"
    if order and until is None:
        shape = rule.shape(flat)
        forms = base["forms"]
        sql += " ORDER BY " + ", ".join(forms.sort_key(k, shape.columns[k]) for k in shape.order_by)
    if target.settings:
        sql += "\n" + target.settings
    return Rendered(sql=_finish(sql, target), stages=tuple(done))


def _add_modules(env: SandboxedEnvironment, context: dict, rule: Rule) -> None:
    """The `kql.*` macros, and the rule's own `rule.*` (its _filters.sql), bound to `context`."""
    try:
        context["kql"] = env.get_template(MACROS).make_module(context)
        if (rule.folder / RULE_MACROS).is_file():
            context["rule"] = env.get_template(RULE_MACROS).make_module(context)
    except TemplateError as exc:
        raise RuleError(f"rule {rule.slug}: {_where(exc, rule)}: {exc}") from exc


def render_partial(rule: Rule, bindings: Bindings, name: str, relation: str, where: str) -> str:
    """One partial's summary (rule.toml [state.partials.NAME]) of the rows of `relation` that satisfy `where`, as
    DuckDB SQL: what a stateful run stores per source file. The template sees only the parameters the partial
    declares (`params`), since the state is kept per value of those: reading another is an error."""
    spec = rule.state.partials.get(name) if rule.state else None
    if spec is None:
        raise RuleError(f"rule {rule.slug}: no partial {name!r} in rule.toml [state.partials]")
    env, target = _environment(str(rule.folder), "duckdb"), dialects.get("duckdb")
    declared = {k: v for k, v in bindings.values.items() if k in spec.params}

    def nothing(kind: str):
        def refuse(arg: str) -> str:
            raise RuleError(f"{kind}({arg!r}): a partial reads only its own rows ({{{{ rows }}}})")

        return refuse

    context = {
        **_common(rule, target, declared, sql_value(bindings.now, target)),
        "materialize_hint": lambda: "",
        "source": nothing("source"),
        "ref": nothing("ref"),
        "partial": nothing("partial"),
        "rows": _rows(relation, where),
    }
    _add_modules(env, context, rule)
    try:
        return env.get_template(spec.file).render(context).strip()
    except KeyError as exc:
        raise RuleError(
            f"rule {rule.slug}: {rule.folder / spec.file}: reads parameter {exc.args[0]!r}, which "
            f"[state.partials.{name}] params does not list"
        ) from None
    except (TemplateError, RuleError) as exc:
        raise RuleError(f"rule {rule.slug}: {rule.folder / spec.file}: {exc}") from None


def _partial(
    env: SandboxedEnvironment,
    context: dict,
    rule: Rule,
    target: dialects.Dialect,
    name: str,
    given: PartialInput | None,
    partials: dict | None,
) -> str:
    """`partial(NAME)`: a relation of the partial's rows (the union of per-file summaries). Stateless: the partial's
    template over the table's rows inside its window. Stateful: the stored summaries, plus the template over the
    rows of the files that cross the window's edge, with the same predicate."""
    spec = rule.state.partials.get(name) if rule.state else None
    if spec is None:
        raise RuleError(f"partial({name!r}) is not a partial in rule.toml [state.partials]")
    time = sql_identifier(spec.time, target.sqlglot)
    inside = f"{time} > ({context['now']} - {context['param'](spec.window)})"

    def summarize(relation: str, where: str) -> str:
        try:
            return env.get_template(spec.file).render({**context, "rows": _rows(relation, where)}).strip()
        except TemplateError as exc:
            raise RuleError(f"{rule.folder / spec.file}: {exc}") from exc

    if partials is None:  # stateless
        return f"(\n{summarize(context['source'](spec.table), inside)}\n)"
    parts = []
    if given is not None and given.stored:
        files = ", ".join(literal(f).sql(dialect=target.sqlglot) for f in given.stored)
        parts.append(f"SELECT * FROM read_parquet([{files}])")
    if given is not None and given.crossing is not None:
        parts.append(summarize(given.crossing, inside))
    if not parts:  # no file of the table has rows inside the window
        parts.append(summarize(context["source"](spec.table), "FALSE"))
    return "(\n" + "\nUNION ALL BY NAME\n".join(f"({p})" for p in parts) + "\n)"


def _rows(relation: str, where: str) -> str:
    """What a partial's template reads as `{{ rows }}`: the rows of `relation` that satisfy `where`."""
    return f"(SELECT * FROM {relation} WHERE {where}) AS rows"


def _common(rule: Rule, target: dialects.Dialect, values: dict, now_sql: str) -> dict:
    """The names every template of the rule sees: the dialect's forms, the parameter values, `now`, the tables."""
    return {
        **_names(target, values),
        "now": now_sql,
        "tables": rule.tables,
        "table_columns": lambda table: list(rule.tables[table]),
    }


def _names(target: dialects.Dialect, values: dict) -> dict:
    """What templates and macros see of the dialect and the parameter values (besides the rule's own names)."""

    def lit(value: object) -> str:
        return sql_value(value, target)

    def like_prefix(prefix: str) -> str:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = lit(escaped + "%")
        if escaped != prefix and target.like_escape:
            return f"{pattern} ESCAPE {lit(chr(92))}"
        return pattern

    return {
        "param": lambda name: lit(values[name]),
        "raw": lambda name: values[name],
        "like_prefix": like_prefix,
        "forms": dialects.Forms(target),
        "q": lambda name: exp.to_identifier(name, quoted=True).sql(dialect=target.sqlglot),
        # KQL's meaning computed from values (detector/kql.py), for the kql.* macros
        "terms_pattern": kql.terms_pattern,
        "fold": kql.fold,
        "join_names": kql.join_names,
    }


def macro_sql(expression: str, dialect: str = "duckdb", **values: object) -> str:
    """A snippet using the kql.* macros (e.g. "{{ kql.has('s', '.dll') }}") as SQL of `dialect`, with `values` as
    the parameters `raw()` / `param()` read: how the macros are tested, operator by operator."""
    target = dialects.get(dialect)
    env = _environment(str(sql_root()), dialect)
    context = _names(target, values)
    context["kql"] = env.get_template(MACROS).make_module(context)
    return env.from_string(expression).render(context).strip()


def _finish(sql: str, target: dialects.Dialect) -> str:
    """Engines that fold unquoted names get every identifier quoted, in place."""
    return dialects.quote_identifiers(sql, target) if target.quote_all else sql


def _where(exc: TemplateError, rule: Rule) -> str:
    name = getattr(exc, "filename", None) or getattr(exc, "name", None)
    return str(name) if name else str(rule.folder)


VALIDATED = "validated"


def is_validated(rule: Rule) -> bool:
    """Whether validate() passed on these very files (detector/cache.py), so that a run need not parse its SQL."""
    return cache.marked(VALIDATED, cache.rule_digest(rule, f"sqlglot {sqlglot.__version__}"))


def ensure_validated(rule: Rule) -> None:
    """validate() once per content of the rule's files: a run's SQL is then not parsed again."""
    if not is_validated(rule):
        validate(rule)


def validate(rule: Rule) -> None:
    """Render every plan, shape and explain view of the rule (defaults, placeholders for required parameters):
    a template that fails or SQL that does not parse raises RuleError naming the file. Remembered (by the
    content of the rule's files) once it passes."""
    from detector.params import placeholder_bindings

    key = cache.rule_digest(rule, f"sqlglot {sqlglot.__version__}")
    _validate(rule, placeholder_bindings(rule))
    cache.mark(VALIDATED, key)


def _validate(rule: Rule, bindings: Bindings) -> None:
    for plan in rule.plan_names:
        for flat in (False, True) if rule.flat_stage else (False,):
            render(rule, bindings, plan=plan, flat=flat)
    if rule.state is not None:
        for name in rule.state.partials:
            error = _check_parses(render_partial(rule, bindings, name, "t", "TRUE"), "duckdb")
            if error:
                raise RuleError(f"rule {rule.slug}: {rule.folder / rule.state.partials[name].file}: {error}")
    for view in rule.explain_views:
        sql = render_view(rule, bindings, view.file, extra={"entity": "''"}).sql
        error = _check_parses(sql, "duckdb")
        if error:
            raise RuleError(f"rule {rule.slug}: {rule.folder / view.file}: SQL does not parse: {error}")


def render_view(rule: Rule, bindings: Bindings, file: str, **kwargs) -> Rendered:
    """A rule's explain view (a SELECT over the straight plan's CTEs, from a template in the rule's folder)."""

    def tail(env: SandboxedEnvironment, context: dict) -> str:
        try:
            return env.get_template(file).render(context).strip()
        except TemplateError as exc:
            raise RuleError(f"rule {rule.slug}: {rule.folder / file}: {exc}") from exc

    return render(rule, bindings, plan="straight", tail=tail, **kwargs)
