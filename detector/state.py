"""A rule's state between scheduled runs (`--state DIR`): what a stateful run keeps, and how it is kept safe.

Layout, one folder per rule (so that `run --all --state DIR` keeps every rule apart):

    DIR/<slug>/state.json                                   the manifest (below); replaced whole, atomically
    DIR/<slug>/lock                                         held by the run that uses the folder
    DIR/<slug>/partials/<partial>/<params>/<file>.parquet   one source file's summary (rule.toml [state.partials])
    DIR/<slug>/printed/<id>.parquet                         `--new-only`: identities of the records already printed

state.json names the state format, the rule and a hash of everything its results depend on (the rule's
folder, the shared macros, the table schemas, detector's version), and every file it trusts, with its fingerprint
(size, and SHA-256 of its head and of its Parquet footer: see fingerprint()).
A run writes new files under new names and commits by replacing state.json, then deletes what the new manifest
no longer names: a run killed at any point leaves the previous state.json and every file it names intact.
A state written for another rule version, by a newer detector, unreadable, or whose file does not match its
fingerprint, is not trusted: the run says so on stderr (one line each) and rebuilds what it needs.

Local folders are locked with flock (two runs on one folder take turns; after `timeout` seconds the waiting run
stops with a message naming the holder). An s3:// prefix (through fsspec, `pip install 'kql-detector[s3]'`)
has no atomic lock: there a lock object is written and checked (advisory: runs started at the same second may
both proceed), so schedule one run at a time per prefix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector import __version__
from detector.cache import rule_digest
from detector.errors import DetectorError, first_line
from detector.rule import Rule
from detector.storage import RemoteStore, is_remote, walk_files

FORMAT = 1  # the layout above; a state of a higher format was written by a newer detector
MANIFEST = "state.json"
LOCK = "lock"


class StateError(DetectorError):
    """The state folder cannot be used (not writable, locked by another run); the message names it."""


# ---- where the files are: a local folder or an fsspec prefix -------------------------------------------------


class Folder:
    """Files under a root, local or remote (fsspec), with atomic replacement of a whole file."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") if is_remote(root) else str(Path(root))
        self.remote = is_remote(root)
        self._cache: str | None = None
        if self.remote:
            self.fs = RemoteStore(root.split("://", 1)[0]).fs

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.remote else os.path.join(self.root, rel)

    def check_writable(self) -> None:
        probe = f".probe-{uuid.uuid4().hex}"
        try:
            self.write_bytes(probe, b"")
            self.delete(probe)
        except OSError as exc:
            raise StateError(f"--state {self.root}: cannot write there ({_reason(exc)})") from None

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            if self.remote:
                return self.fs.cat_file(self.path(rel))
            return Path(self.path(rel)).read_bytes()
        except FileNotFoundError:
            return None

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Replace `rel` whole: readers see the old bytes or the new, never a part (S3 PUT is atomic)."""
        if self.remote:
            self.fs.pipe_file(self.path(rel), data)
            return
        target = Path(self.path(rel))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def put(self, rel: str, local: str) -> None:
        """Move a finished local file to `rel` (same volume: a rename; remote: an upload)."""
        if self.remote:
            self.fs.put_file(local, self.path(rel))
            return
        target = Path(self.path(rel))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, target)

    def local(self, rel: str) -> str:
        """A local path holding `rel`'s bytes (remote: downloaded once into a temporary folder)."""
        if not self.remote:
            return self.path(rel)
        if self._cache is None:
            self._cache = tempfile.mkdtemp(prefix="detector-state-")
        local = os.path.join(self._cache, rel.replace("/", "__"))
        if not os.path.exists(local):
            self.fs.get_file(self.path(rel), local)
        return local

    def scratch(self) -> str:
        """A local folder for files being written (inside the state folder when local, so moves are renames)."""
        if self.remote:
            if self._cache is None:
                self._cache = tempfile.mkdtemp(prefix="detector-state-")
            return self._cache
        folder = Path(self.path(".tmp"))
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    def files(self, prefix: str) -> list[str]:
        """Every file below `prefix`, relative to the root."""
        base = self.path(prefix)
        if self.remote:
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
            root = self.root.split("://", 1)[-1].rstrip("/") + "/"
            return [f.split("://", 1)[-1].removeprefix(root) for f in found]
        if not os.path.isdir(base):
            return []
        return [os.path.relpath(path, self.root) for path in walk_files(base)]

    def delete(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.remote:
                self.fs.rm_file(self.path(rel))
            else:
                os.unlink(self.path(rel))

    def clear(self) -> None:
        if self.remote:
            if self.fs.exists(self.root):
                self.fs.rm(self.root, recursive=True)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def close(self) -> None:
        if self._cache is not None:
            shutil.rmtree(self._cache, ignore_errors=True)
            self._cache = None
        if not self.remote:
            shutil.rmtree(self.path(".tmp"), ignore_errors=True)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or first_line(exc)


# ---- the lock -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(folder: Folder, timeout: float) -> Iterator[None]:
    """Hold the folder's lock for the block; wait at most `timeout` seconds for another run to let go."""
    me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()})
    if folder.remote:
        yield from _remote_lock(folder, me, timeout)
        return
    import fcntl

    os.makedirs(folder.root, exist_ok=True)
    fd = os.open(folder.path(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(Path(folder.path(LOCK)).read_bytes())
                    raise StateError(
                        f"--state {folder.root}: in use by another run ({holder}); waited {timeout:g} s "
                        "(--lock-timeout)"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def _remote_lock(folder: Folder, me: str, timeout: float, ttl: float = 3600) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    while True:
        held = folder.read_bytes(LOCK)
        if held is not None:
            try:
                expired = time.time() - datetime.fromisoformat(json.loads(held)["since"]).timestamp() > ttl
            except (ValueError, KeyError, TypeError):
                expired = True
            if not expired:
                if time.monotonic() >= deadline:
                    raise StateError(
                        f"--state {folder.root}: in use by another run ({_holder(held)}); waited {timeout:g} s "
                        "(--lock-timeout)"
                    )
                time.sleep(1)
                continue
        folder.write_bytes(LOCK, me.encode())
        if folder.read_bytes(LOCK) == me.encode():
            break
    try:
        yield
    finally:
        if folder.read_bytes(LOCK) == me.encode():
            folder.delete(LOCK)


def _holder(raw: bytes) -> str:
    """Who holds a lock, as its holder wrote it: process, host and since when."""
    try:
        who = json.loads(raw)
        return f"process {who['pid']} on {who['host']} since {who['since']}"
    except (ValueError, KeyError, TypeError):
        return "unknown holder"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---- what the state depends on --------------------------------------------------------------------------------


def rule_hash(rule: Rule) -> str:
    """Everything a rule's results depend on besides its parameters and data: its folder's rule.toml and SQL
    templates, the shared macros, the schemas of its tables, detector's version and the state format."""
    return rule_digest(rule, f"state format {FORMAT}")


def values_hash(values: dict[str, Any]) -> str:
    """A short, stable name for parameter values (canonical JSON; durations in microseconds)."""

    def plain(value: Any) -> Any:
        if hasattr(value, "total_seconds"):
            return {"us": round(value.total_seconds() * 1_000_000)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    text = json.dumps({k: plain(v) for k, v in sorted(values.items())}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


HEAD, TAIL = 4096, 65536  # a Parquet file's magic, and its footer: the schema, row groups, offsets and statistics


def fingerprint(path: str) -> str:
    """The file's size and the SHA-256 of its head and tail (where a Parquet file keeps its footer). It tells a
    truncated, extended, rewritten or replaced file from the one stored; unlike a hash of every byte it costs the
    same for any size (a byte changed inside a data page, size and footer unchanged, is left to the Parquet reader,
    which fails on it rather than reading wrong values in nearly every case)."""
    digest = hashlib.sha256()
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        digest.update(fh.read(HEAD))
        fh.seek(max(0, size - TAIL))
        digest.update(fh.read(TAIL))
    return f"{size}:{digest.hexdigest()}"


# ---- the state of one rule ------------------------------------------------------------------------------------


@dataclass
class State:
    """One rule's state folder, open for a run (under its lock): what the last commit trusted, and what this run
    will commit."""

    folder: Folder
    rule: Rule
    notes: list[str] = field(default_factory=list)  # one line each, for stderr: what was not trusted, and why
    old: dict = field(default_factory=dict)  # the manifest as committed
    new: dict = field(default_factory=dict)  # the manifest this run builds

    @classmethod
    def load(cls, folder: Folder, rule: Rule) -> State:
        state = cls(folder, rule)
        state.old = state._read_manifest()
        state.new = {
            "format": FORMAT,
            "written_by": f"detector {__version__}",
            "rule": rule.slug,
            "rule_version": rule.version,
            "rule_hash": rule_hash(rule),
            "partials": {},
            "printed": state.old.get("printed"),
        }
        return state

    def _read_manifest(self) -> dict:
        raw = self.folder.read_bytes(MANIFEST)
        if raw is None:
            return {}
        where = self.folder.path(MANIFEST)
        try:
            manifest = json.loads(raw)
            fmt = int(manifest["format"])
        except (ValueError, KeyError, TypeError) as exc:
            self.notes.append(f"state {where}: unreadable ({type(exc).__name__}): rebuilt")
            return {}
        if fmt > FORMAT:
            self.notes.append(
                f"state {where}: written by a newer detector ({manifest.get('written_by')}, state format {fmt}; "
                f"this one reads {FORMAT}): rebuilt"
            )
            return {}
        if manifest.get("rule") != self.rule.slug or manifest.get("rule_hash") != rule_hash(self.rule):
            self.notes.append(
                f"state {where}: written for {manifest.get('rule')} version {manifest.get('rule_version')} "
                f"(another version of the rule, its templates or detector): rebuilt"
            )
            return {}
        return manifest

    # -- partials --

    def stored(self, partial: str, params: str, key: str) -> str | None:
        """The local path of a source file's stored summary, if the last commit has it and it is intact."""
        entry = self.old.get("partials", {}).get(partial, {}).get(params, {}).get(key)
        local = self._intact(entry)
        if local is not None:
            self.keep(partial, params, key, entry)
        return local

    def add(self, partial: str, params: str, key: str, source: dict, local: str, rows: int) -> str:
        """Store a summary written to `local` (a file under scratch()); returns the local path to read it from."""
        entry = self._store(f"partials/{partial}/{params}/{key}.parquet", local, rows, source)
        self.keep(partial, params, key, entry)
        return self.folder.local(entry["file"])

    def keep(self, partial: str, params: str, key: str, entry: dict) -> None:
        self.new["partials"].setdefault(partial, {}).setdefault(params, {})[key] = entry

    # -- printed identities (--new-only) --

    def printed(self) -> str | None:
        local = self._intact(self.old.get("printed"))
        if local is None:
            self.new["printed"] = None
        return local

    def set_printed(self, local: str, rows: int) -> None:
        self.new["printed"] = self._store(f"printed/{uuid.uuid4().hex}.parquet", local, rows)

    # -- the files --

    def _intact(self, entry: dict | None) -> str | None:
        """The local path of a file the last commit names, if its fingerprint still matches; else a note, None."""
        if not entry:
            return None
        try:
            local = self.folder.local(entry["file"])
            if fingerprint(local) == entry["fingerprint"]:
                return local
        except (OSError, KeyError):
            pass
        self.notes.append(
            f"state {self.folder.path(entry.get('file', '?'))}: corrupt (size or content differs): rebuilt"
        )
        return None

    def _store(self, rel: str, local: str, rows: int, source: dict | None = None) -> dict:
        """Move a finished local file to `rel` in the state; its manifest entry."""
        entry = {**(source or {}), "file": rel, "fingerprint": fingerprint(local), "rows": rows}
        self.folder.put(rel, local)
        return entry

    # -- commit --

    def commit(self) -> None:
        """Make this run's manifest the state (one atomic replacement), then delete what it no longer names."""
        self.new["updated"] = _now()
        self.folder.write_bytes(MANIFEST, json.dumps(self.new, indent=1, sort_keys=True).encode())
        named = {e["file"] for p in self.new["partials"].values() for ps in p.values() for e in ps.values()}
        if self.new.get("printed"):
            named.add(self.new["printed"]["file"])
        for rel in self.folder.files("partials") + self.folder.files("printed"):
            if rel not in named:
                self.folder.delete(rel)


def rule_folder(root: str, rule: Rule) -> Folder:
    root = root.rstrip("/") if is_remote(root) else root
    return Folder(f"{root}/{rule.slug}" if is_remote(root) else os.path.join(root, rule.slug))


@contextlib.contextmanager
def open_state(root: str, rule: Rule, lock_timeout: float = 60) -> Iterator[State]:
    """The rule's state under `root`, locked for the block. Nothing is committed unless the caller commits."""
    folder = rule_folder(root, rule)
    folder.check_writable()
    try:
        with locked(folder, lock_timeout):
            yield State.load(folder, rule)
    finally:
        folder.close()


def describe(root: str, rule: Rule) -> dict:
    """What `detector state info` shows of one rule's state (read without the lock: a snapshot)."""
    folder = rule_folder(root, rule)
    if rule.state is None:
        return {"rule": rule.slug, "folder": folder.root, "status": "no [state] declared (runs whole)"}
    state = State(folder, rule)
    raw = folder.read_bytes(MANIFEST)
    if raw is None:
        return {"rule": rule.slug, "folder": folder.root, "status": "empty"}
    state.old = state._read_manifest()
    if not state.old:
        return {"rule": rule.slug, "folder": folder.root, "status": "not trusted", "why": state.notes}
    partials = {
        name: {
            "parameter sets": len(by_params),
            "files": sum(len(v) for v in by_params.values()),
            "rows": sum(e.get("rows", 0) for v in by_params.values() for e in v.values()),
        }
        for name, by_params in state.old.get("partials", {}).items()
    }
    printed = state.old.get("printed") or {}
    return {
        "rule": rule.slug,
        "folder": folder.root,
        "status": "ok",
        "written_by": state.old.get("written_by"),
        "updated": state.old.get("updated"),
        "partials": partials,
        "printed": printed.get("rows", 0),
    }


def clear(root: str, rule: Rule, lock_timeout: float = 60) -> bool:
    """Delete one rule's state (under its lock). False when there was none."""
    folder = rule_folder(root, rule)
    if folder.read_bytes(MANIFEST) is None and not folder.files("partials") and not folder.files("printed"):
        return False
    with locked(folder, lock_timeout):
        for rel in folder.files("partials") + folder.files("printed") + [MANIFEST]:
            folder.delete(rel)
    folder.clear()
    return True
