"""KQL's meaning where it is computed from values, not written as SQL: term patterns for `has`, ASCII case folding,
Kusto's join column names. The macros in sql/_macros/kql.sql call these; nothing here knows a rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"
_FOLD = str.maketrans(_ASCII_UPPER, _ASCII_LOWER)
_ALNUM = re.compile(r"[A-Za-z0-9]")
_PUNCT = set("\\^$.|?*+()[]{}-/#&~!@%='\",:;<>`")


def fold(text: str) -> str:
    """Case folding as `=~`, `in~` and `has` do it: ASCII letters only (a decision: operators.md section 3)."""
    return text.translate(_FOLD)


def _escape(text: str) -> str:
    """A literal for the regular-expression flavours of every engine (RE2, Java, POSIX ARE): ASCII punctuation is
    backslash-escaped; letters, digits, spaces and non-ASCII characters stand for themselves."""
    return "".join("\\" + c if c in _PUNCT else c for c in text)


def term_pattern(needle: str) -> str:
    """`has needle`: the needle where a term may start and end (operators.md section 1). A boundary (start of
    text or a character that is not an ASCII letter or digit) is needed only at an edge of the needle that is a
    letter or digit. The needle is folded; the haystack must be folded the same way."""
    body = _escape(fold(needle))
    before = "(^|[^a-z0-9])" if _ALNUM.match(needle[:1]) else ""
    after = "([^a-z0-9]|$)" if _ALNUM.match(needle[-1:]) else ""
    return before + body + after


def terms_pattern(needles: Iterable[str]) -> str | None:
    """`has_any (needles)`: one pattern matching where any needle's term pattern matches; None for an empty list
    (matches nothing) or a list holding only "" (`has ""` is false: a decision)."""
    parts = [f"({term_pattern(n)})" for n in dict.fromkeys(needles) if n != ""]
    return "|".join(parts) if parts else None


def join_names(left: Sequence[str], right: Sequence[str]) -> list[str]:
    """Kusto's output names of a join: the left columns as they are, then every right column, one whose name is
    taken getting the smallest free number appended (`Id` -> `Id1`; `k1` taken -> `k2`)."""
    taken = set(left)
    names = list(left)
    for column in right:
        name = column
        n = 1
        while name in taken:
            name = f"{column}{n}"
            n += 1
        taken.add(name)
        names.append(name)
    return names[len(left) :]
