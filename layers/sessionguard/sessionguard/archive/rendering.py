"""What `sessionguard scan` writes: JSON Lines records with their metadata masked, each problem on standard error,
and the tally of alerts its summary shows (docs/cli.md)."""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from sessionguard.alerting.text import visible
from sessionguard.masking.masker import mask_secrets
from sessionguard.session.engine import CommandAlert, SanitizedLine
from sessionguard.session.records import InputProblem

# The summary on standard error lists this many alerts, the most severe first.
TOP_ALERTS: Final = 20


@dataclass
class ScanOutput:
    """What scanning some sessions gave: their JSON Lines, and their alerts (metadata masked)."""

    text: str = ""
    alerts: list[CommandAlert] = field(default_factory=list)


class ScanRenderer:
    """The JSON Lines records of `scan`: alerts with their metadata masked, and with --transcript every masked line.
    The engine masks commands and transcript lines, but a session id, an instance id or a user ARN can carry a
    secret too; each distinct value goes through the masker once (a transcript repeats its session id per line)."""

    def __init__(self, *, transcript: bool) -> None:
        self.transcript = transcript
        self._masked: dict[str, str] = {}

    def mask(self, value: str) -> str:
        masked = self._masked.get(value)
        if masked is None:
            masked = self._masked[value] = mask_secrets(value)
        return masked

    def render(self, results: Iterable[CommandAlert | SanitizedLine]) -> ScanOutput:
        output = ScanOutput()
        lines: list[str] = []
        mask = self.mask
        for result in results:
            if isinstance(result, CommandAlert):
                alert = result._replace(
                    session_id=mask(result.session_id), instance_id=mask(result.instance_id), user=mask(result.user)
                )
                output.alerts.append(alert)
                lines.append(json_line(alert.to_json()))
            elif self.transcript:
                lines.append(json_line(result._replace(session_id=mask(result.session_id)).to_json()))
        output.text = "".join(lines)
        return output


def json_line(record: dict[str, Any]) -> str:
    """One JSON Lines record that a terminal cannot act on and that splits into lines only at its end: json
    escapes C0 controls itself, and every other character that is not printable (C1 controls, bidi overrides,
    U+2028, U+0085, lone surrogates) is written as a \\u escape. JSON readers get the same value back."""
    text = json.dumps(record, ensure_ascii=False)
    if not text.isprintable():
        text = _NOT_ASCII.sub(_json_escape, text)
    return text + "\n"


_NOT_ASCII: Final = re.compile(r"[^\x20-\x7e]")


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char
    units = char.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(units[i : i + 2]):04x}" for i in range(0, len(units), 2))


# An alert's place in the summary: most severe first, then in the order written (the group: a session's place in
# the output, or an archive unit's after them; then the alert's place in its group).
type _Rank = tuple[int, int, int]


@dataclass
class AlertTally:
    """How many alerts a scan wrote, and the TOP_ALERTS the summary lists: the most severe, each severity in the
    order written (what sorting every alert by severity, stably, and taking the first would give), without holding
    every alert. Workers keep their own tally of the sessions they scan; this process merges them."""

    count: int = 0
    next_group: int = 0  # the group after every group added so far
    _top: list[tuple[_Rank, CommandAlert]] = field(default_factory=list)

    def add(self, alerts: Sequence[CommandAlert], group: int | None = None) -> None:
        """The alerts of one group (`group`: its place in the output; None, the next one), in their order."""
        group = self.next_group if group is None else group
        self.next_group = max(self.next_group, group + 1)
        self.count += len(alerts)
        # Groups come in output order, so once the list is full an alert enters it only by being more severe.
        least = -self._top[-1][0][0] if len(self._top) == TOP_ALERTS and group >= self._top[-1][0][1] else -1
        ranked = [
            ((-alert.severity, group, index), alert) for index, alert in enumerate(alerts) if alert.severity > least
        ]
        if ranked:
            self._top = heapq.nsmallest(TOP_ALERTS, [*self._top, *ranked], key=_rank)

    def merge(self, other: AlertTally) -> None:
        self.count += other.count
        self.next_group = max(self.next_group, other.next_group)
        self._top = heapq.nsmallest(TOP_ALERTS, [*self._top, *other._top], key=_rank)

    @property
    def top(self) -> list[CommandAlert]:
        return [alert for _, alert in self._top]


def _rank(item: tuple[_Rank, CommandAlert]) -> _Rank:
    return item[0]


def report_problem(stderr: TextIO, problem: InputProblem) -> None:
    """One input problem on standard error; a file name can be as hostile as the data (an S3 key)."""
    where = f"{problem.location}: " if problem.location else ""
    print(f"sessionguard: {visible(problem.source)}: {where}{problem.reason}", file=stderr)
