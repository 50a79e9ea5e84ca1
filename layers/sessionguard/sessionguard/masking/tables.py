"""Aligned tables whose column names say which values are secret: PowerShell's Format-Table output
(`Get-ItemProperty ...Winlogon | Select DefaultUserName, DefaultPassword`, `Get-LocalUser | ft Name, Password`), and
any listing printed the same way: a header line of column names, a line of dashes under each name, then rows.

Line by line, with a little state: a header line of two or more names, one of them a secret's
(heuristics.classify_name), waits for the next line; if that line is dashes, one run under each name, each
following row's text under a secret column is masked, until a blank line. The runs of dashes give the columns: a
column runs from the start of its dashes to the start of the next column's (the last one to the line's end), as
Format-Table pads them. A header without its dash line, or with runs that do not match its names, opens nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

MAX_COLUMNS: Final = 32
MAX_HEADER: Final = 1024
_NAME_CHARACTERS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_NAME_BYTES: Final = frozenset(_NAME_CHARACTERS)
_HEADER_BYTES: Final = _NAME_CHARACTERS + b" \t"


def _runs(data: bytes, inside: Callable[[int], bool]) -> list[tuple[int, int]]:
    """The (start, stop) of each run of bytes for which `inside` holds."""
    runs: list[tuple[int, int]] = []
    start = -1
    for at, byte in enumerate(data):
        if inside(byte):
            if start < 0:
                start = at
        elif start >= 0:
            runs.append((start, at))
            start = -1
    if start >= 0:
        runs.append((start, len(data)))
    return runs


class SecretColumns:
    """One session's view of the table it prints. `line` returns the (start, stop, kind) spans to mask on a line."""

    __slots__ = ("_columns", "_header")

    def __init__(self) -> None:
        # A header waiting for its dash line: (start of each name, the kind of each name or None).
        self._header: tuple[list[int], list[str | None]] | None = None
        # An open table: (start of each column, its kind or None).
        self._columns: list[tuple[int, str | None]] | None = None

    @property
    def is_open(self) -> bool:
        return self._header is not None or self._columns is not None

    def line(self, data: bytes, classify: Callable[[bytes], str | None]) -> list[tuple[int, int, str]]:
        """The spans to mask on this line (a row's cells under a secret's column), and what the line opens or
        closes: a header waits for its dash line, the dash line opens the table, a blank line closes it."""
        if self._header is not None:
            self._open(data)
            return []
        if self._columns is not None:
            if data.strip():
                return self._row(data)
            self._columns = None
            return []
        self._look_for_header(data, classify)
        return []

    def _look_for_header(self, data: bytes, classify: Callable[[bytes], str | None]) -> None:
        """Two names or more, one of them a secret's, and nothing else: a header, if a dash line follows."""
        if len(data) > MAX_HEADER or data.translate(None, _HEADER_BYTES):
            return  # anything but names and blanks (checked first: one C call) is no header
        names = _runs(data, lambda byte: byte in _NAME_BYTES)
        if 2 <= len(names) <= MAX_COLUMNS:
            kinds = [classify(data[start:stop]) for start, stop in names]
            if any(kinds):
                self._header = ([start for start, _stop in names], kinds)

    def _open(self, data: bytes) -> None:
        """The line after a header: a run of dashes starting under each name opens the table."""
        assert self._header is not None  # noqa: S101 - the caller checked
        starts, kinds = self._header
        self._header = None
        if len(data) <= MAX_HEADER and not data.strip(b" \t-"):
            dashes = _runs(data, lambda byte: byte == 45)  # `-`
            if [start for start, _stop in dashes] == starts:
                self._columns = list(zip(starts, kinds, strict=True))

    def _row(self, data: bytes) -> list[tuple[int, int, str]]:
        assert self._columns is not None  # noqa: S101 - the caller checked
        spans: list[tuple[int, int, str]] = []
        for index, (start, kind) in enumerate(self._columns):
            if kind is None or start >= len(data):
                continue
            stop = self._columns[index + 1][0] if index + 1 < len(self._columns) else len(data)
            cell = data[start:stop]
            left = len(cell) - len(cell.lstrip(b" \t"))
            right = len(cell.rstrip(b" \t"))
            if right > left:
                spans.append((start + left, start + right, kind))
        return spans


__all__ = ["MAX_COLUMNS", "MAX_HEADER", "SecretColumns"]
