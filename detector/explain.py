"""Why a device did or did not alert: row counts after every stage, the size of every `let`, and one device's trace.

All counts come from one query over the same CTE chain `detector run` executes, so they cannot disagree with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detector.literals import sql_identifier, sql_literal
from detector.params import Bindings
from detector.render import render as _render
from detector.rule import Rule, Stage

MAX_VENDORS_SHOWN = 25


def render(*args, **kwargs):
    """explain counts the KQL's own stages: the straight plan, one CTE per let and stage."""
    return _render(*args, plan="straight", **kwargs)


@dataclass(frozen=True)
class StageCount:
    stage: Stage
    rows: int
    device_rows: int | None  # rows of the traced device; None when the stage has no DeviceName column


@dataclass(frozen=True)
class Explanation:
    counts: tuple[StageCount, ...]
    vendors: tuple[tuple[str, int], ...]  # rare vendors and their server counts (at most MAX_VENDORS_SHOWN)
    rare_vendor_count: int
    device: str | None
    device_vendors: tuple[tuple[str, int], ...]  # the traced device's vendors, with their server counts
    device_alerts: tuple[dict, ...]

    def count(self, name: str) -> StageCount:
        return next(c for c in self.counts if c.stage.name == name)

    @property
    def dropped_at(self) -> StageCount | None:
        """The first stage at which the traced device has no rows left."""
        if self.device is None:
            return None
        return next((c for c in self.counts if c.device_rows == 0), None)


def _columns(con: duckdb.DuckDBPyConnection, rule: Rule, bindings: Bindings, stage: str) -> list[str]:
    sql = render(rule, bindings, until=stage).sql
    return [row[0] for row in con.execute(f"DESCRIBE {sql}").fetchall()]


def explain(con: duckdb.DuckDBPyConnection, rule: Rule, bindings: Bindings, device: str | None = None) -> Explanation:
    who = sql_literal(device) if device is not None else None
    parts = []
    for stage in rule.stages:
        has_device = "DeviceName" in _columns(con, rule, bindings, stage.name)
        device_rows = f"count(*) FILTER (WHERE DeviceName = {who})" if who and has_device else "NULL"
        name = sql_literal(stage.name)
        parts.append(f"SELECT {name} AS stage, count(*) AS n, {device_rows} AS d FROM {sql_identifier(stage.name)}")
    rows = con.execute(render(rule, bindings, tail="\nUNION ALL\n".join(parts)).sql).fetchall()
    by_name = {name: (n, d) for name, n, d in rows}
    counts = tuple(StageCount(s, *by_name[s.name]) for s in rule.stages)

    company = "InitiatingProcessVersionInfoCompanyName"
    vendors = con.execute(
        render(
            rule,
            bindings,
            tail=f"SELECT {company}, dcount_DeviceName FROM vendor_server_counts "
            f"ORDER BY dcount_DeviceName DESC, {company} LIMIT {MAX_VENDORS_SHOWN}",
        ).sql
    ).fetchall()
    device_vendors: list = []
    alerts: list = []
    if who:
        device_vendors = con.execute(
            render(
                rule,
                bindings,
                until="server_outbound_events",
                tail=f"SELECT {company}, count(DISTINCT DeviceName) FROM server_outbound_events WHERE {company} IN "
                f"(SELECT {company} FROM server_outbound_events WHERE DeviceName = {who}) "
                f"GROUP BY {company} ORDER BY 2, 1",
            ).sql
        ).fetchall()
        result = con.sql(render(rule, bindings, tail=f"SELECT * FROM stage11_by_device WHERE DeviceName = {who}").sql)
        alerts = result.to_arrow_table().to_pylist()
    return Explanation(
        counts=counts,
        vendors=tuple(vendors),
        rare_vendor_count=by_name["vendor_server_counts"][0],
        device=device,
        device_vendors=tuple(device_vendors),
        device_alerts=tuple(alerts),
    )


def describe(rule: Rule, e: Explanation, bindings: Bindings) -> str:
    """The explanation as text for a person."""
    from detector.output import iso

    out = [f"{rule.name}", f"now = {iso(bindings.now)}" if bindings.now else "", ""]
    header = f"  {'step':<38} {'CTE':<34} {'rows':>12}"
    if e.device is not None:
        header += f" {e.device[:24]:>24}"
    out += ["Rows after each step", header]
    for c in e.counts:
        line = f"  {c.stage.title[:38]:<38} {c.stage.name:<34} {c.rows:>12,}"
        if e.device is not None:
            line += f" {'' if c.device_rows is None else format(c.device_rows, ','):>24}"
        out.append(line)
    out += [
        "",
        "Sizes of the let bindings",
        f"  server_list                 {e.count('server_list').rows:,} servers",
        f"  rare vendors                {e.rare_vendor_count:,} (on fewer than "
        f"{bindings['max_vendor_servers']} servers)",
        f"  ServersWithThirdPartyApps   {e.count('servers_with_third_party_apps').rows:,} servers",
        f"  Destinations                {e.count('destinations').rows:,} addresses",
    ]
    if e.vendors:
        out += ["", f"Rare vendors (most widespread first, at most {MAX_VENDORS_SHOWN})"]
        out += [f"  {n:>4} server(s)  {v or '(empty)'}" for v, n in e.vendors]
    if e.device is not None:
        out += ["", f"Device {e.device!r}"]
        out += _device_verdict(e, bindings)
    return "\n".join(out) + "\n"


def _device_verdict(e: Explanation, bindings: Bindings) -> list[str]:
    lines = []
    if e.device_vendors:
        lines.append("  its vendors on servers (outbound public traffic, lookback window):")
        limit = bindings["max_vendor_servers"]
        for vendor, n in e.device_vendors:
            verdict = "rare" if n < limit else "common"
            lines.append(f"    {n:>4} server(s)  {vendor or '(empty)'}  -> {verdict}")
    if e.device_alerts:
        details = e.device_alerts[0]["set_Details"]
        lines.append(f"  ALERTS on {len(details)} destination(s):")
        for d in details:
            lines.append(
                f"    {d['RemoteIP']}:{d['RemotePort']}  Count={d['Count']}  Prevalence={d['Prevalence']}  "
                f"URLs={', '.join(d['URLs'] or [])}"
            )
        return lines
    dropped = e.dropped_at
    if dropped is None:
        lines.append("  no alert")
        return lines
    lines.append(f"  no alert: its last rows are dropped at {dropped.stage.title} ({dropped.stage.name})")
    lines.append(f"    {dropped.stage.kql}")
    return lines
