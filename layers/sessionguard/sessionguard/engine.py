"""The session engine: session events in; masked transcript lines and rule alerts out.

It strings the pieces together in the one order that keeps secrets in: terminal clean-up and command rebuilding
(`terminal`), then masking (`masking`) of every line that leaves, and rule matching (`rules`) on the unmasked
command, whose alert carries only the masked text. No AWS calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sessionguard.events import SessionEvent
from sessionguard.masking import SecretMasker
from sessionguard.rules import RulePack
from sessionguard.rules.model import RuleMatch
from sessionguard.severity import Severity
from sessionguard.terminal import Command, SessionRebuilder, TranscriptLine


@dataclass(frozen=True, slots=True)
class Alert:
    """A rule that matched a command. `command` is masked."""

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


@dataclass(frozen=True, slots=True)
class SanitizedLine:
    """One transcript line after masking."""

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


# A frozen dataclass's __init__ sets each field through object.__setattr__, which measured twice the cost of
# setting them through the slot descriptors; the engine makes one SanitizedLine per line, so it does the latter.
# The objects are the same as SanitizedLine(...) would make.
_new_object = object.__new__
_set_line_session: Final[Any] = SanitizedLine.__dict__["session_id"].__set__
_set_line_kind: Final[Any] = SanitizedLine.__dict__["kind"].__set__
_set_line_text: Final[Any] = SanitizedLine.__dict__["text"].__set__
_set_line_time: Final[Any] = SanitizedLine.__dict__["event_time"].__set__


def _sanitized_lines(
    session_id: str, kind: Literal["command", "output"], texts: list[str], event_time: str
) -> list[Alert | SanitizedLine]:
    """[SanitizedLine(session_id, kind, text, event_time) for text in texts], typed for `_emit`'s output."""
    lines: list[Alert | SanitizedLine] = []
    append = lines.append
    for text in texts:
        line = _new_object(SanitizedLine)
        _set_line_session(line, session_id)
        _set_line_kind(line, kind)
        _set_line_text(line, text)
        _set_line_time(line, event_time)
        append(line)
    return lines


def logical_lines(command: Command) -> list[str]:
    """The command's lines with backslash-newline continuations removed as the shell removes them, so the masker
    sees `mysql \\` and `-pX` as one line (a flag is only a secret next to its command)."""
    return command.text.replace("\\\n", "").split("\n")


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
        """Everything the events produce, in order: sanitized lines and alerts."""
        for event in events:
            yield from self.scan_event(event)

    def scan_event(self, event: SessionEvent) -> list[Alert | SanitizedLine]:
        self.stats.events += 1
        session = self._sessions.get(event.session_id)
        if session is None:
            session = self._sessions[event.session_id] = _Session()
        session.last_event = event
        return self._emit(session, event, session.rebuilder.feed_texts(event.lines))

    def finish(self) -> list[Alert | SanitizedLine]:
        """End of input: commands still pending (an unfinished continuation or heredoc) are scanned as they are."""
        out: list[Alert | SanitizedLine] = []
        for session in self._sessions.values():
            if session.last_event is not None:
                out.extend(self._emit(session, session.last_event, session.rebuilder.flush()))
        self._sessions.clear()
        return out

    def _emit(
        self, session: _Session, event: SessionEvent, items: Iterable[str | TranscriptLine | Command]
    ) -> list[Alert | SanitizedLine]:
        # Every line the event produced goes through the masker in one call, in order (a PEM block opened by one
        # line stays open for the next): one trigger scan per event instead of one RE2 call per line. Command
        # lines are masked as whole logical lines, taken from their Command. `items` are the rebuilder's
        # feed_texts() (an output line is its text) or flush() (Commands only).
        texts: list[str] = []
        commands: list[tuple[int, Command, int]] = []  # (index in texts after its lines, command, line count)
        for item in items:
            if type(item) is str:
                texts.append(item)
            elif isinstance(item, Command):
                lines = logical_lines(item)
                texts.extend(lines)
                commands.append((len(texts), item, len(lines)))
            elif isinstance(item, TranscriptLine) and item.kind == "output":
                texts.append(item.text)
        if not texts:
            return []
        masker = session.masker
        total = masker.total
        masked = masker.mask_lines(texts)
        self.stats.lines += len(masked)
        if masker.total != total:
            self._count_masked(masker, session)
        session_id, event_time = event.session_id, event.event_time
        if not commands:
            return _sanitized_lines(session_id, "output", masked, event_time)
        self.stats.commands += len(commands)
        out: list[Alert | SanitizedLine] = []
        at = 0
        for end, command, width in commands:
            start = end - width
            if start > at:
                out += _sanitized_lines(session_id, "output", masked[at:start], event_time)
            command_lines = masked[start:end]
            out += _sanitized_lines(session_id, "command", command_lines, event_time)
            matches = self.rules.match(command.text, user_arn=event.user_arn, instance_id=event.instance_id)
            if matches:
                out += self._alerts(event, matches, "\n".join(command_lines))
            at = end
        if at < len(masked):
            out += _sanitized_lines(session_id, "output", masked[at:], event_time)
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
