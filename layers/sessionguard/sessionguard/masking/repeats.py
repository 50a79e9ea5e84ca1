"""A value masked once is masked wherever it comes back in the same session: in the same line (the token a second
time) or a later one (echoed, printed alone, pasted into a URL), where no rule of its own would take it.

Each session's masker keeps the values it masked, 8 to 512 bytes, the last 64 (a value is kept once, however often
it comes back): a shorter value would be found inside too much ordinary text, and the bound keeps a session's
memory and each line's search small. A repeat must stand apart from letters and digits around it where the value
itself starts or ends with one, so that a value is not cut out of a longer word. Nothing here is ever logged or
counted by value: the masker counts markers by kind.
"""

from __future__ import annotations

from typing import Final

from sessionguard.masking.kinds import MARKER_PREFIX
from sessionguard.masking.spans import Span

KNOWN_MIN: Final = 8
KNOWN_MAX: Final = 512
KNOWN_SIZE: Final = 64
_STRIP: Final = b" \t\"'`"
_ALNUM: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_MARKER: Final = MARKER_PREFIX.encode()


class KnownValues:
    """The values one session's masker masked, oldest first, each with the kind of its marker."""

    __slots__ = ("learned", "values")

    def __init__(self) -> None:
        self.values: dict[bytes, str] = {}  # value -> the kind of its marker, oldest first (learn() adds)
        self.learned = 0  # how many values were ever learned: it only grows (mask_lines watches it)

    def held_in(self, data: bytes) -> bool:
        """Whether a known value is somewhere in `data` (most sessions know none: one truth test)."""
        return bool(self.values) and any(value in data for value in self.values)

    def learn(self, data: bytes, spans: list[Span]) -> None:
        """Remember the values the line's spans mask (a key block's lines are not values to look for)."""
        for start, stop, _priority, kind in spans:
            if kind != "private-key":
                self._learn(data[start:stop].strip(_STRIP), kind)

    def repeats(self, data: bytes, priority: int) -> list[Span]:
        """A span, named after its value's kind, for every place in `data` where a known value stands apart."""
        found: list[Span] = []
        for value, kind in self.values.items():
            pos = data.find(value)
            while pos >= 0:
                stop = pos + len(value)
                before = data[pos - 1] if pos else None
                after = data[stop] if stop < len(data) else None
                if not (value[0] in _ALNUM and before in _ALNUM) and not (value[-1] in _ALNUM and after in _ALNUM):
                    found.append((pos, stop, priority, kind))
                pos = data.find(value, stop)
        return found

    def _learn(self, value: bytes, kind: str) -> None:
        if not KNOWN_MIN <= len(value) <= KNOWN_MAX or _MARKER in value or b"\n" in value or value in self.values:
            return
        if len(self.values) >= KNOWN_SIZE:
            del self.values[next(iter(self.values))]
        self.values[value] = kind
        self.learned += 1


class KnownHits:
    """Where known values occur in one block of lines, followed from left to right as the masker skips from hit to
    hit: each value's next place is looked for again only once the masker has passed it, so a block costs each
    value one pass, however many lines it has (a find from every line would grow with the square of the block).
    A value learned inside the block is looked for only when the masker next skips ahead (while a state reads every
    line, each line is checked for known values anyway), and only if the session still knows it; a value with no
    place left is followed no more. So a block of many lines that each teach a new value (a `.pgpass` shown whole,
    a list of key shares) costs each skip at most the KNOWN_SIZE values the session keeps."""

    __slots__ = ("_block", "_done", "_known", "_next", "_unsought")

    def __init__(self, known: KnownValues, block: bytes) -> None:
        self._block = block
        self._known = known
        self._next: dict[bytes, int] = {}  # value -> where it is next, at or after the last place looked from
        self._unsought: dict[bytes, int] = dict.fromkeys(known.values, 0)  # value -> where to look for it from
        self._done: set[bytes] = set()  # values with no place left in the block

    def next(self, pos: int) -> int:
        """Where the first known value at or after `pos` starts, or -1."""
        if self._unsought:
            for value, start in self._unsought.items():
                if value in self._known.values:
                    self._next[value] = self._block.find(value, max(start, pos))
            self._unsought = {}
        first = -1
        gone: list[bytes] = []  # no place left from here on: followed no more
        for value, found in self._next.items():
            at = self._next[value] = self._block.find(value, pos) if 0 <= found < pos else found
            if at < 0:
                gone.append(value)
            elif first < 0 or at < first:
                first = at
        for value in gone:
            del self._next[value]
            self._done.add(value)
        return first

    def nearer(self, hit: int, pos: int) -> int:
        """The nearer of `hit` (another hit at or after `pos`; -1: none) and the next known value from `pos` on."""
        value = self.next(pos) if self._next or self._unsought else -1
        return hit if value < 0 else value if hit < 0 else min(hit, value)

    def within(self, start: int, stop: int) -> bool:
        """Whether a known value starts in block[start:stop] (a line)."""
        return bool(self._next or self._unsought) and start <= self.next(start) < stop

    def follow(self, known: KnownValues, pos: int) -> None:
        """Also follow the values learned since, from `pos` on (looked for at the next skip); forget those the
        session no longer knows."""
        values = known.values
        if len(self._next) + len(self._unsought) > len(values):
            self._next = {value: found for value, found in self._next.items() if value in values}
            self._unsought = {value: start for value, start in self._unsought.items() if value in values}
        for value in values:
            if value not in self._next and value not in self._unsought and value not in self._done:
                self._unsought[value] = pos


__all__ = ["KNOWN_MAX", "KNOWN_MIN", "KNOWN_SIZE", "KnownHits", "KnownValues"]
