"""RE2 as the masker calls it: patterns over bytes in Latin-1 mode, searched through google-re2's binding, and
Sets of literal triggers.

Every pattern is ASCII and every class treats the bytes >= 0x80 alike, so a span can never cut a multi-byte
character in half. tests/unit/test_masking_speed_paths.py pins the private binding against `re2.compile`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import re2

LATIN1 = re2.Options()
LATIN1.encoding = re2.Options.Encoding.LATIN1

# A match as google-re2's binding returns it: (start, end) per group, group 0 being the whole match, and (-1, -1)
# for a group that took no part. Offsets are byte offsets into the line's bytes.
Match = list[tuple[int, int]]

# The binding's anchors (RE2::Anchor).
_UNANCHORED: Final = re2._re2.RE2.Anchor.UNANCHORED
_ANCHOR_START: Final = re2._re2.RE2.Anchor.ANCHOR_START
_ANCHOR_BOTH: Final = re2._re2.RE2.Anchor.ANCHOR_BOTH


def _group_layout(pattern: str) -> tuple[dict[str, int], int]:
    """The named capture groups (name -> number) and how many capture groups there are, read from the text of a
    pattern RE2 has parsed: an unescaped `(` outside a character class and outside `\\Q…\\E` opens a group, which
    captures unless a `?` follows, and is named when `?P<name>` or `?<name>` follows. Only the characters that can
    start one of these are visited (the masker's ~110 patterns hold ~24,000 characters, mostly literals)."""
    names: dict[str, int] = {}
    groups = 0
    if "(" not in pattern:
        return names, groups
    resume = 0  # where the text after the last escape, class or quoted part starts
    for index in [index for index, char in enumerate(pattern) if char in "\\[("]:
        if index < resume:
            continue
        char = pattern[index]
        if pattern.startswith("\\Q", index):
            end = pattern.find("\\E", index + 2)
            resume = len(pattern) if end < 0 else end + 2
        elif char == "\\":
            resume = index + 2
        elif char == "[":
            resume = class_end(pattern, index)
        elif not pattern.startswith("?", index + 1):
            groups += 1
        elif pattern.startswith(("?P<", "?<"), index + 1):
            groups += 1
            start = pattern.index("<", index) + 1
            names[pattern[start : pattern.index(">", start)]] = groups
    return names, groups


def class_end(pattern: str, start: int) -> int:
    """Where the character class opened at `start` ends (just past its `]`): a `]` first in it (after an optional
    `^`) is a member, as are escaped characters and POSIX classes (`[:alpha:]`)."""
    index = start + 1
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        if pattern[index] == "\\":
            index += 2
        elif pattern.startswith("[:", index) and ":]" in pattern[index + 2 :]:
            index = pattern.index(":]", index + 2) + 2
        else:
            index += 1
    return index + 1


class Regex:
    """An RE2 pattern over bytes, called through google-re2's pybind binding (``_re2.RE2.Match``) instead of its
    ``re``-like wrapper. The wrapper's search() runs a generator and builds a match object per call, and each
    span()/group() of that object asks C++ for the group count again (a group name: a new dict of all names),
    which together cost more than most searches here. A match is the binding's own list of spans (Match).
    tests/unit/test_masking_speed_paths.py pins this private binding against ``re2.compile``.

    Compiled on its first search: the masker's ~120 patterns cost ~15 ms to compile, which a Lambda cold start
    would pay before its first line although most lines reach a handful of them. RE2 parses the pattern here (a
    fraction of compiling it), so one it rejects still fails where it is made; its groups are read from the
    pattern's text (`_group_layout`) and checked against RE2's when it is compiled."""

    __slots__ = ("_match", "groupindex", "groups", "pattern")

    def __init__(self, pattern: str) -> None:
        # A Set's Add only parses; -1 is a pattern RE2 rejects, which fails here as compiling it would.
        if re2._re2.Set(_UNANCHORED, LATIN1).Add(pattern.encode("ascii")) < 0:
            re2.compile(pattern.encode("ascii"), LATIN1)  # raises re2.error with RE2's reason
        self.pattern = pattern
        self.groupindex, self.groups = _group_layout(pattern)
        self._match: Any = self._compile_and_match  # the binding's Match once compiled

    def compile(self) -> None:
        """Compile now (the first search does otherwise)."""
        if self._match == self._compile_and_match:
            self._compile_and_match(_UNANCHORED, b"", 0, 0)

    def _compile_and_match(self, anchor: Any, data: bytes, pos: int, endpos: int) -> Match:
        compiled = re2.compile(self.pattern.encode("ascii"), LATIN1)  # the wrapper checks the pattern compiled
        groupindex = {name.decode(): index for name, index in compiled.groupindex.items()}
        if (groupindex, compiled.groups) != (self.groupindex, self.groups):  # a pattern _group_layout misread
            raise re2.error(f"capture groups of {self.pattern!r} misread: {self.groupindex} but RE2 has {groupindex}")
        self._match = compiled._regexp.Match  # keeps the compiled RE2 object alive
        spans: Match = self._match(anchor, data, pos, endpos)
        return spans

    # RE2 rejects (no match, and an error logged) a pos past endpos or an endpos past the end: callers never
    # pass one. RE2 still sees the whole text, so ^ and \b before pos behave as in the wrapper.
    def search(self, data: bytes, pos: int = 0) -> Match | None:
        spans: Match = self._match(_UNANCHORED, data, pos, len(data))
        return spans if spans[0][0] >= 0 else None

    def search_within(self, data: bytes, pos: int, endpos: int) -> Match | None:
        spans: Match = self._match(_UNANCHORED, data, pos, endpos)
        return spans if spans[0][0] >= 0 else None

    def match(self, data: bytes, pos: int = 0) -> Match | None:
        """A match that starts at pos."""
        spans: Match = self._match(_ANCHOR_START, data, pos, len(data))
        return spans if spans[0][0] >= 0 else None

    def fullmatch(self, data: bytes) -> bool:
        """Whether all of data matches."""
        return bool(self._match(_ANCHOR_BOTH, data, 0, len(data))[0][0] >= 0)


class LazyRegex:
    """A Regex compiled on its first use. gitleaks' ~220 patterns take ~0.2 s to compile, which a Lambda cold start
    or a `sessionguard scan` would pay up front; most never meet a line holding their keywords. Every pattern is
    compiled once by the test suite (tests/unit/test_masking_gitleaks.py), so a bad one cannot hide here."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: Regex | None = None

    @property
    def compiled(self) -> Regex:
        if self._compiled is None:
            self._compiled = Regex(self.pattern)
        return self._compiled

    @property
    def groupindex(self) -> dict[str, int]:
        return self.compiled.groupindex

    @property
    def groups(self) -> int:
        return self.compiled.groups

    def search(self, data: bytes, pos: int = 0) -> Match | None:
        return self.compiled.search(data, pos)

    def search_within(self, data: bytes, pos: int, endpos: int) -> Match | None:
        return self.compiled.search_within(data, pos, endpos)

    def match(self, data: bytes, pos: int = 0) -> Match | None:
        return self.compiled.match(data, pos)

    def fullmatch(self, data: bytes) -> bool:
        return self.compiled.fullmatch(data)


def build_trigger_set(trigger_groups: Sequence[Sequence[str]]) -> Any:
    # Literal triggers only (escaped): see the module docstring for why a Set must stay literal. Its DFA then
    # has at most a few hundred states (~1 MB); the larger memory budget is headroom, allocated only if used.
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.max_mem = 64 << 20
    trigger_set = re2.Set.SearchSet(options)
    for triggers in trigger_groups:
        trigger_set.Add(("(?i)" + "|".join(re2.escape(t) for t in triggers)).encode("ascii"))
    trigger_set.Compile()
    return trigger_set._set  # the binding's Set: Match(data) gives the list of matching entries, [] for none
