"""Exceptions shared by every layer (L0: imports nothing from shockmodel).

A :class:`UserError` is a mistake in something the user gave us (a table, a scenario file, an option).
The CLI prints it as one line and exits with status 2, without a traceback. Anything else is a bug.
"""

from __future__ import annotations


class ShockmodelError(Exception):
    """Base class of every error raised on purpose by shockmodel."""


class UserError(ShockmodelError, ValueError):
    """Bad input from the user: names the file, the field and what was expected.

    ``str(err)`` is a single line: ``"<file>: <field>: <message>"`` (parts that are unknown are left out).
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        self.file = None if file is None else _printable(str(file))
        self.field = None if field is None else _printable(str(field))
        self.message = _printable(" ".join(str(message).split()))  # one line, always
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        return ": ".join([*parts, self.message])


def _printable(text: str) -> str:
    """``text`` with every unprintable character (controls, line and paragraph separators) escaped, so
    that a file name or key from hostile input cannot break the one-line message."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class TableError(UserError):
    """An input-output table that cannot be used (missing, malformed, unbalanced, unproductive)."""


class ScenarioError(UserError):
    """A scenario file that cannot be parsed, or does not match the table."""


class ConvergenceError(ShockmodelError):
    """A propagation that did not converge where the caller asked for an exception."""
