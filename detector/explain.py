"""Why a record did or did not appear: rows after every stage of the KQL as written, the rule's own explain views,
and the trace of one entity (the rule's `output.entity` column, e.g. a device name).

All counts come from one query over the same CTE chain, on the same engine as `detector run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from detector.literals import sql_identifier
from detector.output import iso, to_json
from detector.render import render_view, sql_value
from detector.rule import Stage

if TYPE_CHECKING:
    from detector.api import Session

PLAN = "straight"  # explain counts the KQL's own stages, one CTE per let and stage


@dataclass(frozen=True)
class StageCount:
    stage: Stage
    rows: int
    entity_rows: int | None  # rows of the traced entity; None when the stage has no such column


@dataclass(frozen=True)
class View:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]


@dataclass(frozen=True)
class Explanation:
    counts: tuple[StageCount, ...]
    views: tuple[View, ...]
    entity: str | None
    entity_records: tuple[dict, ...]

    def count(self, name: str) -> StageCount:
        return next(c for c in self.counts if c.stage.name == name)

    @property
    def dropped_at(self) -> StageCount | None:
        """The first stage at which the traced entity has no rows left."""
        if self.entity is None:
            return None
        return next((c for c in self.counts if c.entity_rows == 0), None)


def explain(s: Session, entity: str | None = None) -> Explanation:
    rule, dialect = s.rule, s.engine.dialect
    column = rule.output.entity
    who = sql_value(entity, _dialect(dialect)) if entity is not None else None
    parts = []
    for stage in rule.stages:
        has_entity = who is not None and column in s.engine.columns(s.render(plan=PLAN, until=stage.name).sql)
        traced = f"sum(CASE WHEN {sql_identifier(column, dialect)} = {who} THEN 1 ELSE 0 END)" if has_entity else "NULL"
        name = sql_value(stage.name, _dialect(dialect))
        parts.append(f"SELECT {name} AS stage, count(*) AS n, {traced} AS d FROM {stage.name}")
    table = s.engine.execute(s.render(plan=PLAN, tail="\nUNION ALL\n".join(parts)).sql)
    by_name = {r["stage"]: (r["n"], r["d"]) for r in table.to_pylist()}
    counts = tuple(
        StageCount(st, by_name[st.name][0], None if by_name[st.name][1] is None else int(by_name[st.name][1]))
        for st in rule.stages
    )
    views = []
    for view in rule.explain_views:
        if view.entity and who is None:
            continue
        rendered = render_view(
            rule,
            s.bindings,
            view.file,
            source=s.names.__getitem__,
            dialect=dialect,
            extra={"entity": who},
        )
        result = s.engine.execute(rendered.sql)
        views.append(View(view.title, tuple(result.column_names), tuple(tuple(r.values()) for r in result.to_pylist())))
    records: list[dict] = []
    if who is not None and column in rule.output.nested.columns:
        last = rule.stages[-1].name
        tail = f"SELECT * FROM {last} WHERE {sql_identifier(column, dialect)} = {who}"
        records = s.engine.execute(s.render(plan=PLAN, tail=tail).sql).to_pylist()
    return Explanation(counts, tuple(views), entity, tuple(records))


def _dialect(name: str):
    from detector import dialects

    return dialects.get(name)


def describe(s: Session, e: Explanation) -> str:
    """The explanation as text for a person."""
    rule = s.rule
    out = [rule.name, f"now = {iso(s.bindings.now)}", ""]
    header = f"  {'step':<38} {'CTE':<34} {'rows':>12}"
    if e.entity is not None:
        header += f" {e.entity[:24]:>24}"
    out += ["Rows after each step (the KQL as written)", header]
    for c in e.counts:
        line = f"  {c.stage.title[:38]:<38} {c.stage.name:<34} {c.rows:>12,}"
        if e.entity is not None:
            line += f" {'' if c.entity_rows is None else format(c.entity_rows, ','):>24}"
        out.append(line.rstrip())
    lets = [c for c in e.counts if c.stage.binding and c.stage.stage is None]
    if lets:
        out += ["", "Sizes of the let bindings"]
        out += [f"  {c.stage.binding:<30} {c.stage.name:<34} {c.rows:>12,} rows" for c in lets]
    for view in e.views:
        out += ["", view.title]
        out += _grid(view)
    if e.entity is not None:
        out += ["", f"{rule.output.entity} {e.entity!r}"]
        out += _verdict(e)
    return "\n".join(out) + "\n"


def _grid(view: View) -> list[str]:
    if not view.rows:
        return ["  (none)"]
    cells = [[_text(v) for v in row] for row in view.rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(view.columns)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(view.columns, widths, strict=True)).rstrip()]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return lines


def _text(value: object) -> str:
    if value is None:
        return "(null)"
    if value == "":
        return "(empty)"
    return value if isinstance(value, str) else to_json(value)


def _verdict(e: Explanation) -> list[str]:
    if e.entity_records:
        lines = [f"  ALERTS: {len(e.entity_records)} record(s)"]
        return lines + [f"    {to_json(r)}" for r in e.entity_records]
    dropped = e.dropped_at
    if dropped is None:
        return ["  no alert"]
    return [
        f"  no alert: its last rows are dropped at {dropped.stage.title} ({dropped.stage.name})",
        f"    {dropped.stage.kql}",
    ]
