"""The rule card as text: what `detector rule` prints, from rule.toml alone."""

from __future__ import annotations

import textwrap

from detector.rule import Rule


def _default(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    return str(value)


def card(rule: Rule) -> str:
    wrap = textwrap.TextWrapper(width=100, initial_indent="  ", subsequent_indent="  ")
    out = [rule.name, "=" * len(rule.name), ""]
    out += [wrap.fill(rule.description), ""]
    out += [f"Author:   {rule.author}", f"Source:   {rule.source_url}", f"Rule id:  {rule.slug}"]
    out += [f"Severity: {rule.severity or '(not declared: OCSF Unknown)'}", ""]
    out.append("MITRE ATT&CK")
    for m in rule.mitre:
        techniques = ", ".join(m.get("techniques") or []) or "no specific technique"
        out.append(f"  {m['tactic']} ({m['tactic_id']}): {techniques}")
    if rule.event_coverage:
        out += ["", "Event coverage"]
        out += [f"  {e['provider']:<30} {e['event']:<14} {e['title']}" for e in rule.event_coverage]
    out += ["", "Tables read"]
    for name, cols in rule.tables.items():
        whole = " (whole rows: every documented column)" if len(cols) > len(rule.reads[name]) else ""
        out.append(f"  {name}: {', '.join(rule.reads[name])}{whole}")
    out += ["", "Parameters (option: default, help)"]
    for p in rule.params.values():
        default = "(required)" if p.required else "(not set)" if p.default is None else _default(p.default)
        out.append(f"  {p.option}: {default}  [{p.type}]")
        out.append(textwrap.fill(p.help, width=100, initial_indent="      ", subsequent_indent="      "))
    if rule.exclusions:
        out += ["", "Exclusions (rows the rule drops)"]
    for e in rule.exclusions:
        note = f"  ({e['note']})" if e.get("note") else ""
        out.append(f"  {e['field']} {e['kind']} {', '.join(e['values'])}{note}")
    out += ["", "Stages"]
    for s in rule.stages:
        out.append(f"  {s.file:<40} {s.title}")
    out += ["", "Output (one record per " + ", ".join(rule.output.key) + ")"]
    out += [f"  {c}: {t}" for c, t in rule.output.nested.columns.items()]
    if rule.output.ocsf:
        out += ["", "OCSF fields (--format ocsf; the whole record under unmapped)"]
        out += [f"  {path} <- {column}" for path, column in rule.output.ocsf]
    if rule.notes:
        out += ["", "Notes"]
        out += [textwrap.fill(n, width=100, initial_indent="  ", subsequent_indent="  ") for n in rule.notes]
    return "\n".join(out) + "\n"
