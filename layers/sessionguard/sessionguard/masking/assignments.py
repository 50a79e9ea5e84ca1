"""The values of secret-named assignments (`NAME=x`, `name: x`, `"name": "x"`), read where each separator ends:
the masker's "assignment" rule finds a name and its separator, and these read the value after it."""

from __future__ import annotations

from typing import Final

from sessionguard.masking.heuristics import classify_name, plain_name_kind
from sessionguard.masking.regex import Regex
from sessionguard.masking.rules import QUOTED, rest_value_pattern, value_pattern

# What opens a value that is not one unquoted run of characters (a quoted string, a command substitution).
_VALUE_OPENER_BYTES: Final = (b"", b'"', b"'", b"$", b"`", b"{")  # b"": no value (the end of the line)
# Values of a secret-named assignment, matched where its separator ends.
_ASSIGNED_WORD: Final = Regex(value_pattern())
_ASSIGNED_REST: Final = Regex(rest_value_pattern())
# A `{` that closes within the same word is a value (`DB_PASSWORD: {abc123}`), not an opener.
_FLOW_VALUE: Final = Regex(rf"(?P<v_r>{QUOTED}|\{{[^\s'\",{{}}]*\}}|[^\s'\",{{}}][^,{{}}\n]*)")


def assignment_kind(name: bytes, mode: str) -> tuple[str | None, bool]:
    """The kind of secret an assignment's name holds, and whether only a random value is one (plain_name_kind:
    `Key=`, `GITHUB_PAT=`)."""
    kind = classify_name(name, mode)
    if kind is None and (plain := plain_name_kind(name)) is not None:
        return plain, True
    return kind, False


class AssignedValues:
    """The values of one line's assignments, read where each separator ends. A rejected value is not consumed, since
    it may hold the next name (`aa_pw=aa_pw=…`), and reading it again from each of them would make such a line cost
    the square of its length (RE2 finds a match's groups at NFA speed): an unquoted value read from a later point
    inside the last one read ends where that one did."""

    __slots__ = ("data", "known")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.known: tuple[int, int, bool] = (-1, -1, False)  # the last unquoted value: start, end, rest of the line

    def read(self, pos: int, *, rest: bool, flow: bool) -> tuple[int, int] | None:
        data = self.data
        if flow:  # `db: {user: app, password: x, host: db}`: up to , or }
            match = _FLOW_VALUE.match(data, pos)
            return None if match is None else match[0]
        start, end, known_rest = self.known
        unquoted = data[pos : pos + 1] not in _VALUE_OPENER_BYTES
        if start < pos < end and known_rest == rest and unquoted:
            return pos, end
        match = (_ASSIGNED_REST if rest else _ASSIGNED_WORD).match(data, pos)
        if match is None:
            return None
        if unquoted:
            self.known = (*match[0], rest)
        return match[0]


__all__ = ["AssignedValues", "assignment_kind"]
