"""`detector explain`: the funnel (rows after each stage), the size of each let, and one device's trace."""

from __future__ import annotations

from typing import Annotated

import typer

from detector import engine
from detector.commands import common
from detector.explain import describe, explain
from detector.params import bind
from detector.rule import load_rule


def explain_command(
    data: common.Data = None,
    table: common.Tables = None,
    now: common.Now = None,
    device: Annotated[
        str | None,
        typer.Option(help="Trace one device: which stage dropped its rows, or which details it alerts on."),
    ] = None,
    rule: common.RuleSlug = None,
    lookback: common.Lookback = None,
    new_window: common.NewWindow = None,
    prevalence_window: common.PrevalenceWindow = None,
    max_vendor_servers: common.MaxVendorServers = None,
    max_prevalence: common.MaxPrevalence = None,
    excluded_action_types: common.ExcludedActionTypes = None,
    excluded_ip_types: common.ExcludedIpTypes = None,
    privileged_servers: common.PrivilegedServers = None,
    trusted_urls: common.TrustedUrls = None,
    param: common.Params = None,
) -> None:
    """Show why devices did or did not alert: row counts after each stage (numbered as in the KQL), the size of
    each let binding, the rare vendors, and with --device the trace of one device."""
    loaded = load_rule(rule)
    bindings = bind(loaded, common.rule_params(locals(), param))
    con = engine.connect()
    try:
        bindings, _ = engine.prepare(
            con, loaded, bindings, data=data, tables=common.parse_pairs("--table", table), now=now
        )
        typer.echo(describe(loaded, explain(con, loaded, bindings, device), bindings), nl=False)
    finally:
        con.close()
