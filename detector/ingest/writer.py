"""Write rows as Parquet part files `OUT/TABLE/date=YYYY-MM-DD/part-KEY-NNNNN.parquet`, safely re-runnable.

Re-run safety (the choice, documented in the command help): every input file is a *source* with a KEY, a hash of
the format and the file's absolute path. Its rows are buffered (at most `chunk_rows` at a time, over all
tables and days) and flushed as hidden `.part-KEY-NNNNN.parquet.partial` files, which neither `detector run`
nor DuckDB globs pick up. When the file has been read, `commit` renames them to their final names (os.replace,
atomic per file) and then deletes any older `part-KEY-*.parquet` of the same source that this run did not
rewrite. So re-ingesting a file replaces what it wrote before, never adds to it, even if the file has grown or
changed in between; ingesting other files into the same OUT adds their rows next to it. A file that cannot be
read at all leaves its earlier parts alone. Limitation: the same data copied to another path is another source.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import pyarrow.parquet as pq

from detector.ingest.schema import TABLES, arrow_table, empty_columns


def source_key(fmt: str, path: Path) -> str:
    """16 hex digits identifying an input file: stable across runs for the same format and absolute path."""
    text = f"{fmt}\0{Path(path).resolve()}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class PartWriter:
    """Buffers rows per (table, day) and writes one part file per (table, day) per flush."""

    def __init__(self, out: Path, chunk_rows: int = 50_000):
        self.out = Path(out)
        self.chunk_rows = max(1, chunk_rows)
        self.key = ""
        self._buffers: dict[tuple[str, str], dict[str, list]] = {}
        self._buffered = 0
        self._seq = 0
        self._pending: list[tuple[Path, Path]] = []  # (temporary, final)

    def start(self, key: str) -> None:
        self.abort()
        self.key, self._seq = key, 0

    def add(self, table: str, row: dict) -> None:
        """Add one row (a dict over the table's columns; Timestamp an aware UTC datetime)."""
        day = row["Timestamp"].date().isoformat()
        buffer = self._buffers.get((table, day))
        if buffer is None:
            buffer = self._buffers[(table, day)] = empty_columns(table)
        for name, values in buffer.items():
            values.append(row.get(name))
        self._buffered += 1
        if self._buffered >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        for (table, day), columns in sorted(self._buffers.items()):
            folder = self.out / table / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"part-{self.key}-{self._seq:05d}.parquet"
            temporary = folder / f".{name}.partial"
            pq.write_table(arrow_table(table, columns), temporary, compression="zstd")
            self._pending.append((temporary, folder / name))
            self._seq += 1
        self._buffers, self._buffered = {}, 0

    def commit(self) -> int:
        """Publish this source's parts and drop its older ones; returns the number of part files."""
        self.flush()
        finals = set()
        for temporary, final in self._pending:
            os.replace(temporary, final)
            finals.add(final)
        self._pending = []
        for table in TABLES:
            root = self.out / table
            if not root.is_dir():
                continue
            for old in root.glob(f"date=*/part-{self.key}-*.parquet"):
                if old not in finals:
                    old.unlink()
                    _remove_if_empty(old.parent)
            for leftover in root.glob(f"date=*/.part-{self.key}-*.parquet.partial"):  # from a run that crashed
                leftover.unlink(missing_ok=True)
        return len(finals)

    def abort(self) -> None:
        """Forget buffered rows and delete this source's unpublished temporary files."""
        for temporary, _ in self._pending:
            temporary.unlink(missing_ok=True)
        self._pending, self._buffers, self._buffered = [], {}, 0


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()  # only succeeds when empty
