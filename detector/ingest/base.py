"""What a format reader yields for every record it reads, and the reader interface the driver calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from detector.ingest.schema import COLUMNS, CONVERTERS
from detector.ingest.summary import Device


@dataclass(slots=True)
class Row:
    """A converted row of `table`. `derived` rows (sysmon DeviceInfo) are written but were not read."""

    line: int | None
    table: str
    values: dict
    derived: bool = False


@dataclass(slots=True)
class Reject:
    line: int | None
    reason: str


@dataclass(slots=True)
class Skip:
    """A record that is fine but not a row of the two tables (another table, an inbound connection, ...)."""

    line: int | None
    reason: str


Item = Row | Reject | Skip


class RowError(ValueError):
    """A record that cannot be converted; the message names the column and the value."""


class FileError(Exception):
    """A whole file (or zip member) cannot be read as the format: reported, and the other files go on."""


class Reader:
    """One input format. The driver opens every input file (and each member of a zip) and calls `records`;
    two-pass readers get a `scan` of every file first."""

    two_pass = False

    def scan(self, path: Path, label: str, stream: BinaryIO) -> None:  # pragma: no cover - one-pass readers
        """First pass over one file member (two-pass readers only)."""

    def records(self, path: Path, label: str, stream: BinaryIO) -> Iterator[Item]:
        raise NotImplementedError

    def after_file(self, path: Path) -> Iterator[Row]:
        """Rows derived from the whole file, written with it (sysmon DeviceInfo)."""
        return iter(())

    def finish(self) -> None:
        """Called once after the last file."""

    notes: list[str]
    devices: list[Device]

    def __init__(self) -> None:
        self.notes = []
        self.devices = []


def convert_row(table: str, values: dict) -> dict:
    """Convert raw values (output column -> raw value) to a row of `table`. Raises RowError naming the column.
    A row needs a Timestamp: it decides the day partition and every window of the rule."""
    converters = CONVERTERS[table]
    row = dict.fromkeys(COLUMNS[table])
    for name, raw in values.items():
        if raw is None:
            continue
        try:
            row[name] = converters[name](raw)
        except ValueError as exc:
            raise RowError(f"{name}: {exc}") from None
    if row["Timestamp"] is None:
        raise RowError("Timestamp is missing")
    return row
