"""Where tables live: the local file system, or a data lake (`s3://bucket/prefix`, any fsspec protocol).

Both answer the same few questions (is this a folder, a file, which Parquet files lie below, how big is a file),
so `sources` finds tables the same way everywhere. Remote paths are read by DuckDB through the same fsspec
file system, registered with the connection: no DuckDB extension has to be downloaded at run time.
"""

from __future__ import annotations

import functools
import glob as globlib
import os
from collections.abc import Iterator
from typing import Any

from detector.errors import SourceError

_GLOB_CHARS = set("*?[")


def is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def has_glob(location: str) -> bool:
    return bool(_GLOB_CHARS & set(location))


def walk_files(folder: str | os.PathLike, *, skip_hidden_dirs: bool = False) -> Iterator[str]:
    """Every file below folder in sorted order, following symlinks but never around a loop."""
    seen: set[str] = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not (skip_hidden_dirs and d.startswith(".")))
        yield from (os.path.join(root, name) for name in sorted(names))


class LocalStore:
    protocol = None

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def join(self, folder: str, name: str) -> str:
        return os.path.join(folder, name)

    def size(self, path: str) -> int:
        return os.path.getsize(path)

    def signature(self, path: str) -> tuple[str, int, str]:
        """(the absolute path, size, modification time): changes when the file does, wherever a run starts."""
        path = os.path.abspath(path)
        st = os.stat(path)
        return path, st.st_size, str(st.st_mtime_ns)

    def open(self, path: str) -> Any:
        return open(path, "rb")

    def parquet_below(self, folder: str) -> list[str]:
        return [path for path in walk_files(folder) if _is_data(os.path.relpath(path, folder).split(os.sep))]

    def glob(self, pattern: str) -> list[str]:
        return sorted(f for f in globlib.glob(pattern, recursive=True) if os.path.isfile(f))


class RemoteStore:
    """An fsspec file system (s3fs for s3://). Credentials come from the usual environment: for S3, the
    AWS_* variables, ~/.aws profiles (AWS_PROFILE) or an instance role; AWS_ENDPOINT_URL for S3-compatible stores."""

    def __init__(self, protocol: str):
        self.protocol = protocol
        self.fs = _filesystem(protocol)

    def _url(self, path: str) -> str:
        return path if "://" in path else f"{self.protocol}://{path}"

    def _call(self, what: str, path: str, fn: Any) -> Any:
        try:
            return fn()
        except FileNotFoundError:
            raise
        except Exception as exc:  # network, credentials, permissions: say which path and why
            raise SourceError(f"{path}: cannot {what}: {type(exc).__name__}: {exc}") from exc

    def is_dir(self, path: str) -> bool:
        return self._call("list", path, lambda: self.fs.isdir(path))

    def is_file(self, path: str) -> bool:
        return self._call("read", path, lambda: self.fs.isfile(path))

    def join(self, folder: str, name: str) -> str:
        return folder.rstrip("/") + "/" + name

    def size(self, path: str) -> int:
        return self._call("read", path, lambda: self.fs.size(path))

    def signature(self, path: str) -> tuple[str, int, str]:
        """(the path, size, ETag or modification time): changes when the object does."""
        info = self._call("read", path, lambda: self.fs.info(path))
        stamp = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime")
        return path, int(info.get("size") or 0), str(stamp)

    def open(self, path: str) -> Any:
        return self._call("read", path, lambda: self.fs.open(path, "rb"))

    def parquet_below(self, folder: str) -> list[str]:
        found = self._call("list", folder, lambda: self.fs.find(folder))
        below = folder.split("://", 1)[-1].rstrip("/") + "/"
        return [self._url(p) for p in sorted(found) if _is_data(p.removeprefix(below).split("/"))]

    def glob(self, pattern: str) -> list[str]:
        found = self._call("list", pattern, lambda: self.fs.glob(pattern))
        return [self._url(p) for p in sorted(found) if not self.fs.isdir(p)]


def _is_data(parts: list[str]) -> bool:
    """A Parquet data file, as Spark and Hive see a folder: a file or folder whose name starts with `_` or `.` is
    not data (_SUCCESS, .crc checksums, _temporary/ of an unfinished job, _delta_log/), unless it is a partition
    folder (`_col=value`)."""
    *dirs, name = parts
    hidden_dir = any(d.startswith(("_", ".")) and "=" not in d for d in dirs)
    return name.endswith(".parquet") and not name.startswith(("_", ".")) and not hidden_dir


@functools.lru_cache(maxsize=8)
def _filesystem(protocol: str) -> Any:
    try:
        import fsspec

        return fsspec.filesystem(protocol)
    except ImportError as exc:
        extra = "s3" if protocol in ("s3", "s3a") else "lake"
        raise SourceError(
            f"reading {protocol}:// paths needs fsspec and its {protocol} driver: pip install 'kql-detector[{extra}]'"
        ) from exc
    except ValueError as exc:
        raise SourceError(f"{protocol}:// is not a known file system: {exc}") from exc


def store_for(location: str) -> LocalStore | RemoteStore:
    return RemoteStore(location.split("://", 1)[0]) if is_remote(location) else LocalStore()


def register_filesystems(con: Any, paths: list[str]) -> None:
    """Let DuckDB read the remote paths through the same fsspec file systems (once per protocol)."""
    for protocol in sorted({p.split("://", 1)[0] for p in paths if is_remote(p)}):
        fs = _filesystem(protocol)
        if not con.filesystem_is_registered(fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]):
            con.register_filesystem(fs)
