"""The session engine: session events in; masked transcript lines and rule alerts out.

It strings the pieces together in the one order that keeps secrets in: terminal clean-up and command rebuilding
(`terminal`), then masking (`masking`) of every line that leaves, and rule matching (`rules`) on the unmasked
command, whose alert carries only the masked text. No AWS calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from sessionguard.events import SessionEvent
from sessionguard.masking import SecretMasker
from sessionguard.rules import RulePack
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


def logical_lines(command: Command) -> list[str]:
    """The command's lines with backslash-newline continuations removed as the shell removes them, so the masker
    sees `mysql \\` and `-pX` as one line (a flag is only a secret next to its command)."""
    return command.text.replace("\\\n", "").split("\n")


@dataclass
class _Session:
    rebuilder: SessionRebuilder = field(default_factory=SessionRebuilder)
    masker: SecretMasker = field(default_factory=SecretMasker)
    last_event: SessionEvent | None = None


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
        return self._emit(session, event, session.rebuilder.feed(event.lines))

    def finish(self) -> list[Alert | SanitizedLine]:
        """End of input: commands still pending (an unfinished continuation or heredoc) are scanned as they are."""
        out: list[Alert | SanitizedLine] = []
        for session in self._sessions.values():
            if session.last_event is not None:
                out.extend(self._emit(session, session.last_event, session.rebuilder.flush()))
        self._sessions.clear()
        return out

    def _emit(
        self, session: _Session, event: SessionEvent, items: Iterable[TranscriptLine | Command]
    ) -> list[Alert | SanitizedLine]:
        # Every line the event produced goes through the masker in one call, in order (a PEM block opened by one
        # line stays open for the next): one trigger scan per event instead of one RE2 call per line. Command
        # lines are masked as whole logical lines, taken from their Command; the rebuilder's own command lines
        # are skipped.
        plan: list[tuple[Command | None, int]] = []  # (None, 1): an output line; (command, its logical lines)
        texts: list[str] = []
        for item in items:
            if isinstance(item, Command):
                lines = logical_lines(item)
                plan.append((item, len(lines)))
                texts.extend(lines)
                self.stats.commands += 1
            elif item.kind == "output":
                plan.append((None, 1))
                texts.append(item.text)
        if not texts:
            return []
        masker = session.masker
        before = dict(masker.counts)
        masked = masker.mask_lines(texts)
        self.stats.lines += len(masked)
        out: list[Alert | SanitizedLine] = []
        session_id, event_time = event.session_id, event.event_time
        at = 0
        for command, width in plan:
            if command is None:
                out.append(SanitizedLine(session_id, "output", masked[at], event_time))
                at += 1
                continue
            command_lines = masked[at : at + width]
            at += width
            out.extend(SanitizedLine(session_id, "command", text, event_time) for text in command_lines)
            out.extend(self._alerts(event, command, "\n".join(command_lines)))
        for kind, count in masker.counts.items():
            if count > before.get(kind, 0):
                self.stats.secrets_masked[kind] += count - before.get(kind, 0)
        return out

    def _alerts(self, event: SessionEvent, command: Command, masked_command: str) -> list[Alert | SanitizedLine]:
        out: list[Alert | SanitizedLine] = []
        for match in self.rules.match(command.text, user_arn=event.user_arn, instance_id=event.instance_id):
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
