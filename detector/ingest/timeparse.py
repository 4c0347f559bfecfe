"""Parse the timestamp forms found in Defender, Sentinel and Windows event exports into aware UTC datetimes.

Accepted:
- ISO-8601 with `T` or a space, any number of fractional digits (Kusto writes 7: 100 ns ticks; we keep
  microseconds and truncate the rest), and `Z`, `+hh:mm`, `+hhmm` or no zone (no zone = UTC):
  `2026-11-20T10:00:00.1234567Z`, `2019-12-05 04:41:55.148`.
- en-US as the Azure portal / Sentinel writes it, with or without the comma, seconds, fraction and AM/PM:
  `11/20/2026, 10:00:00.123 AM`, `11/20/2026 22:00:00`. Always month/day/year.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_ISO = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?"
)
_US = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"\s*(?:([AaPp])\.?[Mm]\.?)?"
    r"(?:\s*(Z|UTC))?"
)


def parse_timestamp(value: object) -> tuple[datetime, bool]:
    """(aware UTC datetime, whether the text named a zone). Raises ValueError with a readable message."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC), False
        return value.astimezone(UTC), True
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a timestamp")
    text = value.strip()
    match = _ISO.fullmatch(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        hour_n = int(hour or 0)
    else:
        match = _US.fullmatch(text)
        if not match:
            raise ValueError(f"{value!r} is not a timestamp (expected ISO-8601 or M/D/YYYY, h:mm:ss AM)")
        month, day, year, hour, minute, second, fraction, ampm, zone = match.groups()
        hour_n = int(hour)
        if ampm:
            if not 1 <= hour_n <= 12:
                raise ValueError(f"{value!r}: hour {hour_n} with AM/PM")
            hour_n = hour_n % 12 + (12 if ampm.lower() == "p" else 0)
    micros = int((fraction or "")[:6].ljust(6, "0"))
    try:
        stamp = datetime(int(year), int(month), int(day), hour_n, int(minute or 0), int(second or 0), micros)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date/time ({exc})") from None
    if zone is None:
        return stamp.replace(tzinfo=UTC), False
    if zone.upper() in ("Z", "UTC"):
        return stamp.replace(tzinfo=UTC), True
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        return stamp.replace(tzinfo=timezone(sign * offset)).astimezone(UTC), True
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{value!r}: {exc}") from None


def parse_utc(value: object) -> datetime:
    """As parse_timestamp, the datetime only (text without a zone is UTC)."""
    return parse_timestamp(value)[0]
