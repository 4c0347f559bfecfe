"""What an ingest run did, per input file: rows read, written, skipped (with reasons), rejected (with samples)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from detector.ingest.schema import TABLES

SAMPLES_PER_FILE = 5

# The per-table columns of the rendered summary (one per table ingest writes): a short heading each, its width.
_SHORT = {
    t: {"DeviceNetworkEvents": "NetEvents", "DeviceInfo": "DevInfo"}.get(t, t.removeprefix("Device")) for t in TABLES
}
_WIDTH = {t: max(8, len(head)) for t, head in _SHORT.items()}


@dataclass(frozen=True)
class RejectedRow:
    """A row that could not be converted: where it is and why."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass
class FileSummary:
    """One input file. `read` counts records (CSV data rows, JSON lines / records, events); every record read is
    written, skipped (not for these tables, with a reason) or rejected (bad, with file and line)."""

    file: str
    read: int = 0
    written: Counter = field(default_factory=Counter)  # table -> rows written
    skipped: Counter = field(default_factory=Counter)  # reason -> rows
    rejected: int = 0
    samples: list[RejectedRow] = field(default_factory=list)  # the first SAMPLES_PER_FILE rejections
    error: str | None = None  # the file could not be read (or not to its end)
    parts: int = 0  # Parquet part files written

    @property
    def failed(self) -> bool:
        """Nothing at all could be read from this file."""
        return self.error is not None and self.read == 0

    def reject(self, line: int | None, reason: str, where: str | None = None) -> None:
        """Count a rejected row; keep the first few with `where` (the file, or zip member) and line."""
        self.rejected += 1
        if len(self.samples) < SAMPLES_PER_FILE:
            self.samples.append(RejectedRow(where or self.file, line, reason))

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count


@dataclass(frozen=True)
class Device:
    """A device the sysmon reader wrote DeviceInfo rows for, and why it got its DeviceType."""

    name: str
    device_type: str
    os_platform: str
    reason: str


@dataclass
class IngestSummary:
    fmt: str
    out: Path
    files: list[FileSummary] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def written(self) -> Counter:
        total: Counter = Counter()
        for f in self.files:
            total.update(f.written)
        return total

    @property
    def skipped(self) -> Counter:
        total: Counter = Counter()
        for f in self.files:
            total.update(f.skipped)
        return total

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.files if f.failed]

    @property
    def nothing_read(self) -> bool:
        """No input file could be read at all (every one failed, or there were none): exit code 2."""
        return not self.files or all(f.failed for f in self.files)

    def render(self) -> str:
        """The text the command prints."""
        lines = [f"detector ingest --from {self.fmt}: {len(self.files)} input file(s) into {self.out}"]
        if self.files:
            width = max(40, *(len(f.file) for f in self.files))
            heads = "".join(f" {_SHORT[t]:>{_WIDTH[t]}}" for t in TABLES)
            lines.append(f"  {'file':<{width}} {'read':>9}{heads} {'skipped':>9} {'rejected':>8}")

            def counts(written: Counter) -> str:
                return "".join(f" {written[t]:>{_WIDTH[t]},}" for t in TABLES)

            for f in self.files:
                lines.append(
                    f"  {f.file:<{width}} {f.read:>9,}{counts(f.written)} {sum(f.skipped.values()):>9,} "
                    f"{f.rejected:>8,}" + ("  FAILED" if f.failed else "  (stopped early)" if f.error else "")
                )
            lines.append(
                f"  {'total':<{width}} {self.read:>9,}{counts(self.written)} {sum(self.skipped.values()):>9,} "
                f"{self.rejected:>8,}"
            )
        if self.skipped:
            lines.append(f"skipped (not rows of {'/'.join(TABLES)}):")
            lines.extend(f"  {count:>9,}  {reason}" for reason, count in self.skipped.most_common())
        rejecting = [f for f in self.files if f.rejected]
        if rejecting:
            lines.append(f"rejected rows ({self.rejected:,}; the first {SAMPLES_PER_FILE} of each file):")
            for f in rejecting:
                lines.extend(f"  {sample}" for sample in f.samples)
                if f.rejected > len(f.samples):
                    lines.append(f"  {f.file}: ... {f.rejected - len(f.samples):,} more")
        errors = [f for f in self.files if f.error]
        if errors:
            lines.append("unreadable files:")
            lines.extend(f"  {f.file}: {f.error}" for f in errors)
        if self.devices:
            lines.append("devices (DeviceInfo):")
            width = max(len(d.name) for d in self.devices)
            lines.extend(
                f"  {d.name:<{width}}  {d.device_type:<11} {d.os_platform:<18} {d.reason}" for d in self.devices
            )
        if self.notes:
            lines.append("notes:")
            lines.extend(f"  {note}" for note in self.notes)
        return "\n".join(lines)
