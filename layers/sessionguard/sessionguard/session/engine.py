"""The session engine: session events in; masked transcript lines and rule alerts out.

It strings the pieces together in the one order that keeps secrets in: terminal clean-up and command rebuilding
(`terminal`), then masking (`masking`) of every line that leaves, and rule matching (`rules`) on the unmasked
command, whose alert carries only the masked text. No AWS calls.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

from sessionguard.masking.masker import SecretMasker
from sessionguard.rules import RulePack
from sessionguard.rules.model import RuleMatch
from sessionguard.session.records import SessionEvent
from sessionguard.session.terminal import CommandSpan, SessionRebuilder
from sessionguard.session.windows import WindowsTranscriptRebuilder, is_windows_transcript
from sessionguard.severity import Severity


class CommandAlert(NamedTuple):
    """A detection rule that matched a command typed in a session: where, who, which rule, and the command, already
    masked. Guardrails raise a `GuardrailAlert` and enrollment an `EnrollmentFailureNotice`: this is the engine's."""

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
    # A line of a command still waiting for its continuation when the input paused (`flush_pending`): the
    # completed command is given out again when it completes.
    incomplete: bool = False

    def to_json(self) -> dict[str, Any]:
        """The `sessionguard scan --transcript` line record."""
        record: dict[str, Any] = {"type": "line", "session_id": self.session_id, "kind": self.kind, "text": self.text}
        if self.incomplete:
            record["incomplete"] = True
        return record


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
    session_id: str, kind: Literal["command", "output"], texts: list[str], event_time: str, incomplete: bool = False
) -> list[CommandAlert | SanitizedLine]:
    """[SanitizedLine(session_id, kind, text, event_time, incomplete) for text in texts], without the per-line
    Python call of the named tuple's __new__."""
    return [_new_tuple(SanitizedLine, (session_id, kind, text, event_time, incomplete)) for text in texts]


# Fail-closed masking for lines whose context the engine cannot know: before the first command it has seen of a
# session (a delivery in the middle of a session whose earlier events it was not given), a `> ` line may continue
# a command typed earlier (`mysql -u root \` then `> -pSecret`), and a long base64 line may be the body of a
# private key whose BEGIN line came earlier. Neither is judged; both are masked whole.
_ORPHAN_CONTINUATION: Final = "> [MASKED:unparsed-line]"
_ORPHAN_KEY_LINE: Final = "[MASKED:private-key]"
_KEY_BODY_LINE: Final = re.compile(r"[ \t>]*[A-Za-z0-9+/]{40,}={0,2}[ \t]*")
# A key's last body line is short ("AAAECq8mhS0xUgoK"), too short to judge alone; at the very start of a delivery,
# a run of base64 lines that ends at a private key's END line, or holds a key-length line, is the key's rest.
_BASE64_LINE: Final = re.compile(r"[ \t>]*[A-Za-z0-9+/]+={0,2}[ \t]*")
_KEY_END_LINE: Final = re.compile(r"[ \t>]*-----END [A-Z0-9 ]*PRIVATE KEY-----")


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
    rebuilder: SessionRebuilder | WindowsTranscriptRebuilder = field(default_factory=SessionRebuilder)
    platform: str = ""  # "linux" or "windows" (a PowerShell transcript), decided by the session's first lines
    masker: SecretMasker = field(default_factory=SecretMasker)
    last_event: SessionEvent | None = None
    counted: dict[str, int] = field(default_factory=dict)  # the masker's counts already added to the stats
    seen_command: bool = False  # a command of this session was rebuilt (or primed): its context is known
    # The lines of the session's first event with lines were checked for the rest of a private key (see
    # _mask_orphans). Once per session, so that how events are batched cannot change what is masked.
    key_tail_checked: bool = False
    # Set by `prime` when a command was pending at the end of the primed events: the rules its incomplete text
    # matched, which the previous delivery already alerted on (see `flush_pending`). The next command the session
    # completes is that command, and does not alert on them again.
    carried_rules: frozenset[str] | None = None
    # Prerequisites of session rules (RulePack.prerequisites) that matched a command of this session: at most one
    # entry per such rule, so the state stays bounded however long the session runs.
    fired: set[str] = field(default_factory=set)


def _choose_platform(session: _Session, events: Sequence[SessionEvent]) -> None:
    """At a session's first lines: a PowerShell transcript (Windows) gets the transcript reader instead of the
    terminal's (session/windows.py). Until an event has lines, nothing is decided."""
    if session.platform:
        return
    for event in events:
        if event.lines:
            if is_windows_transcript(event.lines):
                session.platform = "windows"
                session.rebuilder = WindowsTranscriptRebuilder()
            else:
                session.platform = "linux"
            return


class SessionEngine:
    """Scans session events of any number of sessions, keeping each session's terminal and masking state.

    Feed events in their order within each session (sessions may interleave); call `finish()` at the end of input
    to flush commands still waiting for a continuation line.

    When the input is one delivery of a stream that continues in other deliveries (the alert function), `prime()`
    first with the session's preceding events (they set the terminal and masking state, and give out nothing),
    and `flush_pending()` at the end: a command still pending is scanned and given out as it is, and the engine of
    the next delivery, primed with these events, knows it was.
    """

    def __init__(self, rules: RulePack, *, min_severity: Severity = Severity.INFO) -> None:
        self.rules = rules
        self.min_severity = min_severity
        self.stats = EngineStats()
        self._sessions: dict[str, _Session] = {}

    def scan(self, events: Iterable[SessionEvent]) -> Iterator[CommandAlert | SanitizedLine]:
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

    def scan_event(self, event: SessionEvent) -> list[CommandAlert | SanitizedLine]:
        return self.scan_batch((event,))

    def prime(self, events: Iterable[SessionEvent]) -> None:
        """Warm the sessions' state with events that come before the input and were scanned already (by the
        invocation that received them): prompts learned, a command pending, a PEM block open. Their lines are
        rebuilt and masked as `scan` would, but nothing is given out and nothing is counted."""
        by_session: dict[str, list[SessionEvent]] = {}
        for event in events:
            by_session.setdefault(event.session_id, []).append(event)
        with _cyclic_gc_paused():
            for session_id, session_events in by_session.items():
                session = self._sessions.get(session_id)
                if session is None:
                    session = self._sessions[session_id] = _Session()
                texts: list[str] = []
                commands: list[CommandSpan] = []
                _choose_platform(session, session_events)
                for event in session_events:
                    session.rebuilder.feed_lines(event.lines, texts, commands)
                if texts:
                    session.masker.mask_lines(texts)
                session.counted = dict(session.masker.counts)
                session.seen_command = session.seen_command or bool(commands)
                if commands and self.rules.prerequisites:
                    # What earlier deliveries did counts for session rules: remember their prerequisites.
                    last = session_events[-1]
                    for _, item, _ in commands:
                        matches = self.rules.match(
                            item.text,
                            user_arn=last.user_arn,
                            instance_id=last.instance_id,
                            platform=session.platform or "linux",
                            earlier=session.fired,
                        )
                        self._remember(session, matches)
                pending = session.rebuilder.pending_command()
                if pending is not None:
                    last = session_events[-1]
                    session.seen_command = True
                    session.carried_rules = frozenset(
                        match.rule.id
                        for match in self.rules.match(
                            pending.text,
                            user_arn=last.user_arn,
                            instance_id=last.instance_id,
                            platform=session.platform or "linux",
                        )
                        if match.rule.severity >= self.min_severity
                    )

    def scan_batch(self, events: Sequence[SessionEvent]) -> list[CommandAlert | SanitizedLine]:
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
        if not session.platform:
            _choose_platform(session, events)
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

    def finish(self) -> list[CommandAlert | SanitizedLine]:
        """End of input: commands still pending (an unfinished continuation or heredoc) are scanned as they are."""
        return self._flush(incomplete=False)

    def flush_pending(self) -> list[CommandAlert | SanitizedLine]:
        """End of this part of the input; later events of the same sessions may follow in another engine primed
        with these. A command still pending is scanned for rules as it is and its masked lines given out marked
        `incomplete` (nothing waits unmasked for input that may never come); when the next engine completes it,
        it gives the whole command out again and alerts only on rules the incomplete text did not match. Commands
        flushed here are not counted as commands. The engine forgets the sessions, as after `finish()`."""
        return self._flush(incomplete=True)

    def _flush(self, *, incomplete: bool) -> list[CommandAlert | SanitizedLine]:
        out: list[CommandAlert | SanitizedLine] = []
        with _cyclic_gc_paused():
            for session in self._sessions.values():
                if session.last_event is not None:
                    texts: list[str] = []
                    commands: list[CommandSpan] = []
                    session.rebuilder.flush_lines(texts, commands)
                    out += self._emit(
                        session, (session.last_event,), texts, commands, [len(texts)], incomplete=incomplete
                    )
        self._sessions.clear()
        return out

    def _emit(
        self,
        session: _Session,
        events: Sequence[SessionEvent],
        texts: list[str],
        commands: list[CommandSpan],
        ends: list[int],
        *,
        incomplete: bool = False,
    ) -> list[CommandAlert | SanitizedLine]:
        """Mask the batch's lines, then give each event its lines (output, and command lines followed by the
        command's alerts), in order."""
        if not texts:
            return []
        masker = session.masker
        total = masker.total
        masked = masker.mask_lines(texts)
        self.stats.lines += len(masked)
        if not incomplete:
            self.stats.commands += len(commands)
        if masker.total != total:
            self._count_masked(masker, session)
        if not session.seen_command:
            head = commands[0][0] - commands[0][2] if commands else len(masked)
            # The key-tail run is looked for in the first event that has lines, once per session.
            first_event = 0 if session.key_tail_checked else next(end for end in ends if end)
            session.key_tail_checked = True
            self._mask_orphans(masked, head, min(head, first_event))
            session.seen_command = bool(commands)
        out: list[CommandAlert | SanitizedLine] = []
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
                out += _sanitized_lines(session_id, "command", command_lines, event_time, incomplete)
                matches = self.rules.match(
                    item.text,
                    user_arn=event.user_arn,
                    instance_id=event.instance_id,
                    platform=session.platform or "linux",
                    earlier=session.fired,
                )
                carried, session.carried_rules = session.carried_rules, None
                if carried:
                    matches = [match for match in matches if match.rule.id not in carried]
                if matches and self.rules.prerequisites:
                    self._remember(session, matches)
                if matches:
                    out += self._alerts(event, matches, "\n".join(command_lines))
                at = stop
                command = next(pending, None)
            if end > at:
                out += _sanitized_lines(session_id, "output", masked[at:end], event_time)
                at = end
        return out

    def _mask_orphans(self, masked: list[str], head: int, key_tail_head: int) -> None:
        """The fail-closed masking of lines before a session's first known command (see _ORPHAN_CONTINUATION);
        the rest of a key split across deliveries is looked for in the first `key_tail_head` lines."""
        run = 0
        while run < key_tail_head and _BASE64_LINE.fullmatch(masked[run]):
            run += 1
        ends_a_key = run < key_tail_head and _KEY_END_LINE.match(masked[run]) is not None
        if ends_a_key or any(len(line) >= 40 and _KEY_BODY_LINE.fullmatch(line) for line in masked[:run]):
            masked[:run] = [_ORPHAN_KEY_LINE] * run
            self.stats.secrets_masked["private-key"] += run
        for index in range(head):
            line = masked[index]
            if line.startswith("> ") or line == ">":
                masked[index] = _ORPHAN_CONTINUATION
                self.stats.secrets_masked["unparsed-line"] += 1
            elif len(line) >= 40 and _KEY_BODY_LINE.fullmatch(line):
                masked[index] = _ORPHAN_KEY_LINE
                self.stats.secrets_masked["private-key"] += 1

    def _count_masked(self, masker: SecretMasker, session: _Session) -> None:
        counts = masker.counts
        for kind, count in counts.items():
            seen = session.counted.get(kind, 0)
            if count > seen:
                self.stats.secrets_masked[kind] += count - seen
        session.counted = dict(counts)

    def _remember(self, session: _Session, matches: list[RuleMatch]) -> None:
        """Session rules wait for rules that matched an earlier command (RulePack.match's `earlier`): remember the
        prerequisites this command matched, for the commands that follow."""
        session.fired.update(match.rule.id for match in matches if match.rule.id in self.rules.prerequisites)

    def _alerts(self, event: SessionEvent, matches: list[RuleMatch], masked_command: str) -> list[CommandAlert]:
        out: list[CommandAlert] = []
        for match in matches:
            rule = match.rule
            if rule.severity < self.min_severity:
                continue
            self.stats.alerts[str(rule.severity)] += 1
            out.append(
                CommandAlert(
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
