"""Which table a Defender row belongs to (CSV, JSON lines and API documents; the streaming API names it itself).

In this order: `--table`; else a `Type` (Sentinel) or `Table` (`union withsource=Table`) value naming it; else the
columns. The columns are the header's (a CSV header, an API document's Schema) or, for JSON lines, the row's keys:
- the telling columns of one table (RemoteIP & co., OSPlatform & co., a column only file or only process events
  have; `guess_table`): every row is that table's, whatever it leaves empty;
- the telling columns of several tables: a combined export (a `union`), so each row is routed by its *filled*
  columns (not null, not ""): one table's telling columns decide; a row filling those of several tables (a
  `join`) fits no known table and is skipped; a row filling only columns several tables share is rejected.
A row of a table ingest knows but does not write (DeviceProcessEvents) or of another named table is skipped with
the reason: never written as another table's row.
"""

from __future__ import annotations

from typing import Any

from detector.ingest.base import FileError, Reject, Skip
from detector.ingest.schema import COLUMNS, KNOWN, TABLES, table_name


def _own_columns(table: str) -> frozenset[str]:
    """The (lower-cased) columns of `table` that no other known table has."""
    others = {c.lower() for t in KNOWN if t != table for c in COLUMNS[t]}
    return frozenset(c.lower() for c in COLUMNS[table]) - others


# The columns that tell a table, in guess_table's order. Not every own column: a DeviceInfo export's MachineGroup
# also comes with streamed network events, so only the OS columns tell DeviceInfo.
TELLING: dict[str, frozenset[str]] = {
    "DeviceNetworkEvents": frozenset({"remoteip", "remoteport", "remoteurl", "remoteiptype", "localip", "localport"}),
    "DeviceInfo": frozenset({"osplatform", "devicetype", "osversion", "osbuild", "osarchitecture"}),
    # FileOriginUrl, PreviousFileName, ShareName, RequestSourceIP, ...
    "DeviceFileEvents": _own_columns("DeviceFileEvents"),
    # ProcessCommandLine, ProcessId, AccountName, ...
    "DeviceProcessEvents": _own_columns("DeviceProcessEvents"),
}
# Both file and process events have these; without a process column they are taken as file events.
_FILE_OR_PROCESS = frozenset({"filename", "folderpath", "sha256"})
_TABLE_KEYS = ("type", "table")  # columns that may name a row's table, in this order
UNDECIDED = "no RemoteIP, OSPlatform, FileName+FolderPath+SHA256 or other telling column, no Type or Table column"
MIXED = "(columns of several tables)"  # what `shape` returns for a combined export


def telling_tables(keys: Any) -> list[str]:
    """The known tables (in TELLING's order) whose telling columns are among `keys`."""
    lowered = {k.lower() for k in keys}
    return [table for table, columns in TELLING.items() if lowered & columns]


def guess_table(keys: list[str] | set[str]) -> str | None:
    """The table the columns `keys` belong to: DeviceNetworkEvents when a remote/local-address column is
    present, DeviceInfo for OS columns, DeviceFileEvents for a column only file events have (FileOriginUrl,
    PreviousFileName, ShareName, ...) or for FileName + FolderPath + SHA256 without a column only process events
    have, DeviceProcessEvents for such a column (ProcessCommandLine, AccountName, ...); else None. The result
    may be a table ingest does not write (see schema.KNOWN). The first wins: see `shape` for combined exports."""
    tables = telling_tables(keys)
    return tables[0] if tables else _file_or_none(keys)


def shape(keys: Any) -> str | None:
    """The one table `keys` tell, MIXED when they tell several (a union's columns), None when none."""
    tables = telling_tables(keys)
    if len(tables) > 1:
        return MIXED
    return tables[0] if tables else _file_or_none(keys)


def _file_or_none(keys: Any) -> str | None:
    return "DeviceFileEvents" if {k.lower() for k in keys} >= _FILE_OR_PROCESS else None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Router:
    """Chooses the table of each row of a file (see the module's doc)."""

    def __init__(self, forced: str | None = None):
        self.forced = forced
        self._shapes: dict[tuple[str, ...], str | None] = {}  # JSON lines: rows of an export share their keys

    def fixed(self, keys: list[str], where: str = "the header") -> str | Skip | None:
        """The table of every row of a file whose columns are `keys`, or None when each row is routed by itself
        (a Type/Table column, or the columns of several tables). Raises FileError when nothing can tell."""
        if self.forced:
            return self.forced
        if any(k.lower() in _TABLE_KEYS for k in keys):
            return None
        found = shape(keys)
        if found is None:
            raise FileError(
                f"cannot tell the table from {where} ({UNDECIDED}); give --table " + " or --table ".join(TABLES)
            )
        return None if found is MIXED else _writable(found)

    def choose(self, record: dict[str, Any], columns: str | None | bool = False) -> str | Skip | Reject:
        """The table of one row. `columns`: `shape` of the file's header; False for JSON lines, whose keys are
        their own header."""
        if self.forced:
            return self.forced
        named = _named_table(record)
        if named is not None:
            return named
        if columns is False:
            keys = tuple(record)
            if keys not in self._shapes:
                if len(self._shapes) > 1_000:
                    self._shapes.clear()
                self._shapes[keys] = shape(keys)
            columns = self._shapes[keys]
        if columns is not MIXED:
            return _writable(columns)
        filled = [k for k, v in record.items() if not _empty(v)]
        found = shape(filled)
        if found is MIXED:
            tables = " and ".join(telling_tables(filled))
            return Skip(None, f"rows that fit no known table (filled columns of {tables})")
        if found is None:
            reason = f"cannot tell the table from the filled columns ({UNDECIDED}); try union withsource=Table"
            return Reject(None, reason)
        return _writable(found)


def _named_table(record: dict[str, Any]) -> str | Skip | None:
    """The table a `Type` (else `Table`) value names, a Skip for another table, or None when neither is given."""
    for wanted in _TABLE_KEYS:
        value = next((v for k, v in record.items() if k.lower() == wanted), None)
        if isinstance(value, str) and value.strip():
            table = table_name(value)
            return table if table else Skip(None, f"rows of another table ({wanted.title()} {value.strip()})")
    return None


def _writable(table: str | None) -> str | Skip | Reject:
    """A table ingest writes, a Skip for one it knows but does not write, a Reject when the columns do not tell."""
    if table is None:
        return Reject(None, f"cannot tell the table ({UNDECIDED}); use --table")
    if table not in TABLES:
        return Skip(None, f"rows of another table (columns of {table})")
    return table
