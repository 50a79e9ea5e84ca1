"""Spans to replace in one line: overlapping ones merged into one marker, and existing markers cut out of them.

A span is (start, end, priority, kind) over the line's bytes; a lower priority names the marker when spans overlap
(masker.RULES' order: SessionGuard's token shapes, gitleaks' rules, the context rules). Both steps are one sweep
over sorted lists, so a hostile line of many spans and markers stays linear.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from sessionguard.masking.regex import Regex

# A span to replace: (start, end, rule index for precedence, kind); and one before its kind is known.
Span = tuple[int, int, int, str]
Span3 = tuple[int, int, int]


class Overlaps:
    """Whether a span overlaps any of a line's other spans (those gitleaks let go, or SessionGuard's precise ones),
    by a binary search over them sorted by start with the furthest end so far: a hostile line of thousands of
    spans stays O(n log n), where testing each span against each other one grew with the square of the line."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(spans)
        self._starts = [start for start, _stop in ordered]
        self._ends: list[int] = []
        furthest = -1
        for _start, stop in ordered:
            furthest = max(furthest, stop)
            self._ends.append(furthest)

    def overlap(self, start: int, stop: int) -> bool:
        before = bisect_left(self._starts, stop)  # the spans that start before this one ends
        return before > 0 and self._ends[before - 1] > start


def merge_spans(spans: list[Span]) -> list[list[Any]]:
    """Sort the spans and merge those that overlap; a merged span is named after its lowest priority."""
    spans.sort()
    merged: list[list[Any]] = []
    for start, stop, priority, kind in spans:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], stop)
            if priority < last[2]:
                last[2], last[3] = priority, kind
        else:
            merged.append([start, stop, priority, kind])
    return merged


def cut_out_markers(data: bytes, merged: list[list[Any]], marker: Regex) -> list[list[Any]]:
    """Existing markers inside a span stay as they are; only the text around them is masked. Spans and markers
    are both sorted and disjoint among themselves, so one sweep over the two lists does it."""
    markers: list[tuple[int, int]] = []
    pos = 0
    while (found := marker.search(data, pos)) is not None:
        markers.append(found[0])
        pos = found[0][1]  # a marker is never empty, so this moves on
    if not markers:
        return merged
    pieces: list[list[Any]] = []
    first = 0  # markers before this index end before the current span starts
    for start, stop, priority, kind in merged:
        while first < len(markers) and markers[first][1] <= start:
            first += 1
        cursor = start
        index = first
        while index < len(markers) and markers[index][0] < stop:
            m_start, m_stop = markers[index]
            if m_start > cursor:
                pieces.append([cursor, m_start, priority, kind])
            cursor = max(cursor, m_stop)
            index += 1
        if cursor < stop:
            pieces.append([cursor, stop, priority, kind])
    return pieces


__all__ = ["Overlaps", "Span", "Span3", "cut_out_markers", "merge_spans"]
