"""The session engine: session events in; masked transcript lines and rule alerts out.

It strings the pieces together in the one order that keeps secrets in: terminal clean-up and command rebuilding
(`terminal`), then masking (`masking`) of every line that leaves, and rule matching (`rules`) on the unmasked
command, whose alert carries only the masked text. No AWS calls.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

from sessionguard.events import SessionEvent
from sessionguard.masking import SecretMasker
from sessionguard.rules import RulePack
from sessionguard.rules.model import RuleMatch
from sessionguard.severity import Severity
from sessionguard.terminal import CommandSpan, SessionRebuilder


class Alert(NamedTuple):
    """A rule that matched a command (or a guardrail or enrollment finding). `command` is masked."""

    session_id: str
    instance_id: str
    user: str
    rule_id: str
    title: str
    severity: Severity
    techniques: tuple[str, ...]
    description: str
    command: str
    event_time: str
    event_id: str = ""
    account_id: str = ""
    region: str = ""
    log_group: str = ""

    def to_json(self) -> dict[str, Any]:
        """The `sessionguard scan` alert record."""
        return {
            "type": "alert",
            "session_id": self.session_id,
            "instance_id": self.instance_id,
            "user": self.user,
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": str(self.severity),
            "techniques": list(self.techniques),
            "command": self.command,
            "event_time": self.event_time,
        }


class SanitizedLine(NamedTuple):
    """One transcript line after masking. A named tuple: the engine makes one per line, and a tuple costs about
    half of a frozen dataclass to build (benchmarks/bench_engine.py)."""

    session_id: str
    kind: Literal["command", "output"]
    text: str
    event_time: str = ""

    def to_json(self) -> dict[str, Any]:
        """The `sessionguard scan --transcript` line record."""
        return {"type": "line", "session_id": self.session_id, "kind": self.kind, "text": self.text}


@dataclass
class EngineStats:
    """Counts for metrics and summaries: never values."""

    events: int = 0
    commands: int = 0
    lines: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    secrets_masked: Counter[str] = field(default_factory=Counter)


_new_tuple: Final = tuple.__new__
# Consecutive events of one session scanned together: one rebuilder pass per event, then one masking pass and one
# output pass for all of them. Bounded so that `scan` on a stream still answers as it goes.
MAX_BATCH_EVENTS: Final = 256


def _sanitized_lines(
    session_id: str, kind: Literal["command", "output"], texts: list[str], event_time: str
) -> list[Alert | SanitizedLine]:
    """[SanitizedLine(session_id, kind, text, event_time) for text in texts], without the per-line Python call of
    the named tuple's __new__."""
    return [_new_tuple(SanitizedLine, (session_id, kind, text, event_time)) for text in texts]


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is scanned. The engine makes no reference cycles, but a hostile
    command of a million lines makes millions of tracked objects, and the collector's repeated passes over them made
    its time grow faster than the input (2 MiB took 2.4-2.5x a 1 MiB line in `make bench`; 2.0x with the pause).
    Reference counting still frees everything. The collector is turned back on only if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class _Session:
    rebuilder: SessionRebuilder = field(default_factory=SessionRebuilder)
    masker: SecretMasker = field(default_factory=SecretMasker)
    last_event: SessionEvent | None = None
    counted: dict[str, int] = field(default_factory=dict)  # the masker's counts already added to the stats


class SessionEngine:
    """Scans session events of any number of sessions, keeping each session's terminal and masking state.

    Feed events in their order within each session (sessions may interleave); call `finish()` at the end of input
    to flush commands still waiting for a continuation line.
    """

    def __init__(self, rules: RulePack, *, min_severity: Severity = Severity.INFO) -> None:
        self.rules = rules
        self.min_severity = min_severity
        self.stats = EngineStats()
        self._sessions: dict[str, _Session] = {}

    def scan(self, events: Iterable[SessionEvent]) -> Iterator[Alert | SanitizedLine]:
        """Everything the events produce, in order: sanitized lines and alerts. Runs of consecutive events of one
        session (a CloudWatch Logs subscription batch is one log stream, so one session) are scanned together."""
        batch: list[SessionEvent] = []
        for event in events:
            if batch and (event.session_id != batch[0].session_id or len(batch) >= MAX_BATCH_EVENTS):
                yield from self.scan_batch(batch)
                batch = []
            batch.append(event)
        if batch:
            yield from self.scan_batch(batch)

    def scan_event(self, event: SessionEvent) -> list[Alert | SanitizedLine]:
        return self.scan_batch((event,))

    def scan_batch(self, events: Sequence[SessionEvent]) -> list[Alert | SanitizedLine]:
        """Consecutive events of one session: the same output as `scan_event` on each in turn, for less work.
        Every line of the batch goes through the masker in one call, in order (a PEM block opened by one line
        stays open for the next): one trigger scan instead of one RE2 call per line or event."""
        if not events:
            return []
        first = events[0]
        session_id = first.session_id
        if any(event.session_id != session_id for event in events):
            raise ValueError("scan_batch takes events of one session")
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session()
        feed = session.rebuilder.feed_lines
        texts: list[str] = []
        commands: list[CommandSpan] = []
        ends: list[int] = []  # per event: index in texts after its lines
        with _cyclic_gc_paused():
            for event in events:
                feed(event.lines, texts, commands)
                ends.append(len(texts))
            session.last_event = events[-1]
            self.stats.events += len(events)
            return self._emit(session, events, texts, commands, ends)

    def finish(self) -> list[Alert | SanitizedLine]:
        """End of input: commands still pending (an unfinished continuation or heredoc) are scanned as they are."""
        out: list[Alert | SanitizedLine] = []
        with _cyclic_gc_paused():
            for session in self._sessions.values():
                if session.last_event is not None:
                    texts: list[str] = []
                    commands: list[CommandSpan] = []
                    session.rebuilder.flush_lines(texts, commands)
                    out += self._emit(session, (session.last_event,), texts, commands, [len(texts)])
        self._sessions.clear()
        return out

    def _emit(
        self,
        session: _Session,
        events: Sequence[SessionEvent],
        texts: list[str],
        commands: list[CommandSpan],
        ends: list[int],
    ) -> list[Alert | SanitizedLine]:
        """Mask the batch's lines, then give each event its lines (output, and command lines followed by the
        command's alerts), in order."""
        if not texts:
            return []
        masker = session.masker
        total = masker.total
        masked = masker.mask_lines(texts)
        self.stats.lines += len(masked)
        self.stats.commands += len(commands)
        if masker.total != total:
            self._count_masked(masker, session)
        out: list[Alert | SanitizedLine] = []
        at = 0  # lines of `masked` already given out
        pending = iter(commands)
        command = next(pending, None)
        for event, end in zip(events, ends, strict=True):
            session_id, event_time = event.session_id, event.event_time
            # A command's lines all come from the event in which it completed.
            while command is not None and command[0] <= end:
                stop, item, width = command
                start = stop - width
                if start > at:
                    out += _sanitized_lines(session_id, "output", masked[at:start], event_time)
                command_lines = masked[start:stop]
                out += _sanitized_lines(session_id, "command", command_lines, event_time)
                matches = self.rules.match(item.text, user_arn=event.user_arn, instance_id=event.instance_id)
                if matches:
                    out += self._alerts(event, matches, "\n".join(command_lines))
                at = stop
                command = next(pending, None)
            if end > at:
                out += _sanitized_lines(session_id, "output", masked[at:end], event_time)
                at = end
        return out

    def _count_masked(self, masker: SecretMasker, session: _Session) -> None:
        counts = masker.counts
        for kind, count in counts.items():
            seen = session.counted.get(kind, 0)
            if count > seen:
                self.stats.secrets_masked[kind] += count - seen
        session.counted = dict(counts)

    def _alerts(self, event: SessionEvent, matches: list[RuleMatch], masked_command: str) -> list[Alert]:
        out: list[Alert] = []
        for match in matches:
            rule = match.rule
            if rule.severity < self.min_severity:
                continue
            self.stats.alerts[str(rule.severity)] += 1
            out.append(
                Alert(
                    session_id=event.session_id,
                    instance_id=event.instance_id,
                    user=event.user_arn,
                    rule_id=rule.id,
                    title=rule.title,
                    severity=rule.severity,
                    techniques=tuple(rule.techniques),
                    description=rule.description,
                    command=masked_command,
                    event_time=event.event_time,
                    event_id=event.event_id,
                    account_id=event.account_id,
                    region=event.region,
                    log_group=event.log_group,
                )
            )
        return out
