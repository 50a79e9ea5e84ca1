"""Lines the SSM Agent cut. It sends a line longer than 33,000 bytes in pieces of 33,000 raw bytes, each as a line of
its own, cut wherever the count falls (docs/session-format.md): a token that straddles a cut arrives as two lines,
neither of which holds it whole, and the second often holds no name or shape that would say it is one.

So the masker fails closed at such a cut: a line of PIECE_MIN bytes or more may be a piece (33,000 bytes, fewer once
the agent has stripped its escape sequences), so its last word is masked, and the first word of the line after it
(the same line's next piece). A word is a run of anything but spaces (the agent turns tabs into spaces), whole: a
piece that is one long word (a base64 dump without line breaks) is masked whole, which a part of a word could not
be without leaving a fragment that reads as a value of its own the next time the text is masked. A long line
that was not cut loses its last word to this, and its next line its first: lines that long are rare, and the
markers say why (`cut-value`).
"""

from __future__ import annotations

from typing import Final

from sessionguard.masking.kinds import MARKER_PREFIX
from sessionguard.masking.spans import Span

PIECE_MIN: Final = 32_000
KIND: Final = "cut-value"
_MARKER: Final = MARKER_PREFIX.encode()


def edge_spans(data: bytes, *, after_piece: bool, priority: int) -> list[Span]:
    """The spans a line's cut edges add: its first word when the line before it may have been a piece, its last
    word when it may be one itself. A word that holds a marker already had its secret found, and is left as it is
    (masking it again would hide what the marker leaves readable)."""
    spans: list[Span] = []
    if after_piece:
        start = len(data) - len(data.lstrip(b" "))
        stop = data.find(b" ", start)
        _add_word(data, start, len(data) if stop < 0 else stop, priority, spans)
    if len(data) >= PIECE_MIN:
        stop = len(data.rstrip(b" "))
        _add_word(data, data.rfind(b" ", 0, stop) + 1, stop, priority, spans)
    return spans


def _add_word(data: bytes, start: int, stop: int, priority: int, spans: list[Span]) -> None:
    if stop > start and data.find(_MARKER, start, stop) < 0:
        spans.append((start, stop, priority, KIND))


__all__ = ["KIND", "PIECE_MIN", "edge_spans"]
