"""What a process may keep on disk between runs to start faster: compiled Jinja templates, and which rules' SQL
has been validated. Both are keyed by content (a template's source; a rule's files), so a stale entry is never
used. The folder is $DETECTOR_CACHE_DIR, else $XDG_CACHE_HOME/detector (~/.cache/detector); DETECTOR_CACHE_DIR=off,
or a folder that cannot be written, turns the cache off (everything is then checked in every run).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from pathlib import Path

from detector import __version__
from detector.paths import sql_root
from detector.rule import Rule


@functools.cache
def folder() -> Path | None:
    root = os.environ.get("DETECTOR_CACHE_DIR")
    if root == "off":
        return None
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "detector")
    try:
        os.makedirs(root, exist_ok=True)
    except OSError:
        return None
    return Path(root) if os.access(root, os.W_OK) else None  # no file written at every start to find out


def rule_digest(rule: Rule, *more: str) -> str:
    """A hash of everything a rule's SQL is made of: its folder's rule.toml and templates (explain views too), the
    shared macros, the schemas of its tables, and detector's version; `more` adds to it. Every render asks for it,
    so the files are read again only when one's size or modification time changed."""
    files = [rule.folder / "rule.toml", *sorted(rule.folder.glob("*.sql")), *sorted(rule.folder.glob("explain/*.sql"))]
    files += [sql_root() / "_macros" / "kql.sql"]
    files += [sql_root() / "_tables" / f"{t}.toml" for t in sorted(rule.tables)]
    stats = []
    for path in files:
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        stats.append((str(path), st.st_size, st.st_mtime_ns))
    return _digest(tuple(stats), more)


@functools.lru_cache(maxsize=256)
def _digest(files: tuple[tuple[str, int, int], ...], more: tuple[str, ...]) -> str:
    digest = hashlib.sha256(f"detector {__version__}\n{chr(10).join(more)}\n".encode())
    for name, _, _ in files:
        path = Path(name)
        digest.update(f"{path.relative_to(path.parent.parent)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def marked(kind: str, key: str) -> bool:
    root = folder()
    return root is not None and (root / kind / key).is_file()


def mark(kind: str, key: str) -> None:
    root = folder()
    if root is None:
        return
    try:
        (root / kind).mkdir(exist_ok=True)
        (root / kind / key).touch()
    except OSError:
        pass


def jinja_bytecode() -> object | None:
    """Jinja's compiled templates kept in the cache folder (a failure to read or write one only costs time)."""
    root = folder()
    if root is None:
        return None
    from jinja2 import FileSystemBytecodeCache

    class Quiet(FileSystemBytecodeCache):
        def load_bytecode(self, bucket) -> None:  # type: ignore[no-untyped-def]
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError):
                bucket.reset()

        def dump_bytecode(self, bucket) -> None:  # type: ignore[no-untyped-def]
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    try:
        (root / "jinja").mkdir(exist_ok=True)
    except OSError:
        return None
    return Quiet(str(root / "jinja"))
