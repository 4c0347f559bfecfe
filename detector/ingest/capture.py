"""Event Hubs Capture files: the Avro files Azure Event Hubs Capture writes to a Storage account, each event a
record of Capture's documented schema (`Microsoft.ServiceBus.Messaging.EventData`: SequenceNumber, Offset,
EnqueuedTimeUtc, SystemProperties, Properties, Body). Body holds the message as the Defender streaming API sent
it (`{"records": [...]}`), read by `defender.DefenderStream`: so the table, the values and the checks are the
streaming API's. Messages name the event by its position in the file (from 1) and its SequenceNumber.

Needs fastavro (the `capture` extra), imported when the format is chosen. An Avro file of another schema, or one
that is not Avro or is corrupt, is reported as a file error; the other files are still read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from detector.errors import SourceError
from detector.ingest.base import FileError, Item, Reader, Reject
from detector.ingest.defender import DefenderStream

FIELDS = ("SequenceNumber", "Offset", "EnqueuedTimeUtc", "SystemProperties", "Properties", "Body")


def _fastavro() -> Any:
    try:
        import fastavro
    except ImportError:
        raise SourceError("--from defender-capture needs fastavro: pip install 'kql-detector[capture]'") from None
    return fastavro


class Capture(Reader):
    """Event Hubs Capture Avro files of the Defender streaming API's messages."""

    def __init__(self) -> None:
        super().__init__()
        self.fastavro = _fastavro()
        self.stream = DefenderStream()

    def records(self, path: Path, label: str, stream: BinaryIO) -> Iterator[Item]:
        try:
            avro = self.fastavro.reader(stream)
        except Exception as exc:  # fastavro raises ValueError, EOFError, ... for a file that is not Avro
            raise FileError(f"not an Avro file ({_describe(exc)})") from None
        problem = not_capture(avro.writer_schema)
        if problem:
            raise FileError(f"not an Event Hubs Capture file: {problem}")
        events = iter(avro)
        number = 0
        while True:
            try:
                event = next(events)
            except StopIteration:
                return
            except Exception as exc:  # a truncated or corrupt block: whatever the Avro library raises
                raise FileError(f"corrupt Avro data after event {number} ({_describe(exc)})") from None
            number += 1
            where = f"event {number} (SequenceNumber {event.get('SequenceNumber')})"
            body = event.get("Body")
            if not body:
                yield Reject(None, f"{where}: no Body")
                continue
            for item in self.stream.message(body, number):
                if isinstance(item, Reject):
                    item.line, item.reason = None, f"{where}: {item.reason}"
                yield item


def not_capture(schema: Any) -> str | None:
    """Why the Avro `schema` is not Capture's EventData record (None when it is)."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return f"its Avro schema is {str(schema)[:80]}, not a record"
    fields = {f.get("name"): f.get("type") for f in schema.get("fields", []) if isinstance(f, dict)}
    missing = [name for name in FIELDS if name not in fields]
    body = fields.get("Body")
    if missing or not (body == "bytes" or (isinstance(body, list) and "bytes" in body)):
        return (
            f"its Avro schema is {schema.get('name')} with fields {', '.join(map(str, fields))}; Capture's "
            f"EventData has {', '.join(FIELDS)} (bytes)"
        )
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
