"""Find the input files (folders are walked) and open them as byte streams: plain, .gz, or every member of a .zip.

Nothing here reads a whole file into memory: lines are iterated from the (decompressing) stream.
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from detector.storage import walk_files

# Extensions picked up when a folder is walked (a file named explicitly is read whatever its name).
EXTENSIONS = {
    "defender-csv": (".csv", ".csv.gz", ".zip"),
    "defender-jsonl": (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".zip"),
    "defender-stream": (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz"),
    "defender-api": (".json", ".json.gz", ".zip"),
    "defender-capture": (".avro", ".avro.gz", ".zip"),
    "sysmon": (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".zip"),
}

# What a broken file raises while being read; caught per file so the other files are still ingested.
READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile, UnicodeDecodeError)


def expand(inputs: list[Path], fmt: str) -> list[tuple[Path, str | None]]:
    """(file, problem) for every input: a file as given, a folder walked for EXTENSIONS[fmt] (sorted, hidden
    names skipped, symlink loops avoided). A missing path is returned with its problem so it is reported. A file
    reached twice (named, and inside a named folder) is read once."""
    found: list[tuple[Path, str | None]] = []
    seen: set[Path] = set()

    def add(file: Path) -> None:
        if file.resolve() not in seen:
            seen.add(file.resolve())
            found.append((file, None))

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = list(_walk(path, EXTENSIONS[fmt]))
            if not files:
                found.append((path, f"no {'/'.join(EXTENSIONS[fmt])} files in this folder"))
            for file in files:
                add(file)
        elif path.is_file():
            add(path)
        else:
            found.append((path, "no such file or folder"))
    return found


def _walk(folder: Path, extensions: tuple[str, ...]) -> Iterator[Path]:
    for path in walk_files(folder, skip_hidden_dirs=True):
        name = os.path.basename(path)
        if not name.startswith(".") and name.lower().endswith(extensions):
            yield Path(path)


@contextmanager
def members(path: Path) -> Iterator[list[tuple[str, BinaryIO]]]:
    """Open an input file as [(label for messages, byte stream)]: one for a plain or .gz file, one per file
    member of a .zip (a member named *.gz is decompressed too)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir() and not info.filename.startswith("__MACOSX/")
                if not Path(info.filename).name.startswith(".")
            ]
            streams = [(f"{path}!{info.filename}", archive.open(info)) for info in members]
            try:
                yield [(label, _maybe_gzip(label, stream)) for label, stream in streams]
            finally:
                for _, stream in streams:
                    stream.close()
        return
    with open(path, "rb") as raw:
        yield [(str(path), _maybe_gzip(str(path), raw))]


def _maybe_gzip(label: str, stream: BinaryIO) -> BinaryIO:
    if label.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return stream


def lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line without its LF / CRLF) for every line; a UTF-8 BOM on the first line is dropped."""
    for number, raw in enumerate(stream, 1):
        line = raw.rstrip(b"\r\n")
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        yield number, line
