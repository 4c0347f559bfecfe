"""Where the installed rules and shared SQL live: `detector/sql` in an installed wheel, `sql/` in a checkout."""

from __future__ import annotations

from pathlib import Path


def sql_root() -> Path:
    packaged = Path(__file__).parent / "sql"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "sql"
