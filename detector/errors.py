"""Errors a user can act on. The CLI prints them on one line and exits with code 2."""


class DetectorError(Exception):
    """Base class: bad input, bad parameters or bad data. Never a bug in the tool."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): errors are one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ParamError(DetectorError):
    """A parameter value is invalid; the message names the parameter."""

    def __init__(self, name: str, message: str):
        self.name = name
        super().__init__(f"parameter {name}: {message}")


class SourceError(DetectorError):
    """A table cannot be found or read; the message names the table, file and column."""


class RuleError(DetectorError):
    """A rule folder is malformed (rule.toml or a stage template)."""
