"""`detector generate`: write a synthetic, deterministic fleet with the rules' planted cases."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from detector.output import iso
from detector.params import parse_instant


def generate(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder to write DeviceInfo/ and DeviceNetworkEvents/ (and DeviceFileEvents/) into."
        ),
    ],
    servers: Annotated[int, typer.Option(help="Number of servers in the fleet.")] = 40,
    workstations: Annotated[int, typer.Option(help="Number of workstations in the fleet.")] = 60,
    events: Annotated[
        int, typer.Option(help="Number of background network events (planted cases come on top).")
    ] = 20_000,
    file_events: Annotated[
        int,
        typer.Option(
            "--file-events",
            help="Number of background DeviceFileEvents rows (0: none, and every other file is as without the "
            "option). With N > 0 the network events also include mstsc.exe connections from workstations and an "
            "InitiatingProcessId column.",
        ),
    ] = 0,
    days: Annotated[int, typer.Option(help="Days of history before --now.")] = 14,
    now: Annotated[
        str, typer.Option(help="The newest instant in the data, ISO-8601 (UTC when no zone is given).")
    ] = "2026-11-20T12:00:00Z",
    seed: Annotated[int, typer.Option(help="Seed: the same arguments give byte-identical files.")] = 7,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            help="Plant the cases marked plant of this rule (repeatable; default: every installed rule).",
            show_default=False,
        ),
    ] = None,
    readme: Annotated[
        Path | None,
        typer.Option(
            "--readme",
            help="Also rewrite the planted-cases section of this README (e.g. data/README.md) from the cases' "
            "descriptions.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a realistic fleet: common and rare vendors, skewed destinations, private and loopback traffic,
    listening sockets, missing values, file events on request (--file-events), plus the planted cases of the
    installed rules (their cases marked "plant": true in sql/<rule>/cases/*.json), moved in time to --now."""
    from detector.generate import generate_fleet, update_readme

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rwriting events: {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

    when = parse_instant("now", now)
    summary = generate_fleet(
        out,
        servers=servers,
        workstations=workstations,
        events=events,
        days=days,
        now=when,
        seed=seed,
        progress=progress,
        rules=rule or None,
        file_events=file_events,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    typer.echo(
        f"wrote {summary.device_info_rows:,} DeviceInfo and {summary.network_event_rows:,} DeviceNetworkEvents rows "
        f"({summary.servers} servers, {summary.workstations} workstations) to {out}, now = {iso(when)}"
    )
    if file_events:
        typer.echo(f"wrote {summary.file_event_rows:,} DeviceFileEvents rows")
    for table, rows in summary.other_tables.items():
        typer.echo(f"wrote {rows:,} planted {table} rows")
    for case in summary.planted:
        typer.echo(f"  planted {case.id}: {case.summary}")
    for case_id in summary.left_out:
        typer.echo(f"  left out {case_id}: its rows do not fit in --days {days}")
    if readme is not None:
        changed = update_readme(readme, rules=rule or None)
        typer.echo(f"{'rewrote' if changed else 'kept'} the planted cases of {readme}")
