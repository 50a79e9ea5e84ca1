"""One session as a timed recording of what the engine gave out: masked lines and alerts, never the raw text.

The terminal the player shows is redrawn from the engine's output, not from the agent's raw `sessionData`: the raw
bytes hold the secrets the masker removed (and escape sequences an attacker typed). Each command line is written after a
green `$`, its output as plain lines, and each alert as a red line right after the
command that raised it; every text goes through `visible`, so no control character of the session reaches the
player's terminal emulator.

Time: streamed events carry the agent's `eventTime`; the recording follows them, with idle gaps longer than
`IDLE_GAP_LIMIT` shortened to it (a session idle for an hour plays in two seconds). A typescript (the S3 transcript)
has no times but its first line's, so it plays at a steady pace: `STEADY_COMMAND_GAP` before each command and
`LINE_GAP` between lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sessionguard.alerting.text import visible
from sessionguard.masking.masker import mask_secrets
from sessionguard.rules import RulePack
from sessionguard.session.engine import CommandAlert, SanitizedLine, SessionEngine
from sessionguard.session.records import SessionEvent
from sessionguard.severity import Severity

IDLE_GAP_LIMIT: Final = 2.0  # seconds: a longer pause between events plays as this long
STEADY_COMMAND_GAP: Final = 1.0  # seconds before each command of a recording without times
LINE_GAP: Final = 0.03  # seconds between lines given out together, so output scrolls instead of jumping
COLS: Final = 120
ROWS: Final = 32

_PROMPT: Final = "\x1b[1;32m$\x1b[0m "
_ALERT_BADGE: Final = "\x1b[1;97;41m ALERT \x1b[0m "
_ALERT_TEXT: Final = "\x1b[1;31m{rule_id} {severity}: {title}\x1b[0m"


class SessionChoiceError(ValueError):
    """The input holds no session, or several and none was chosen. The message names only masked session ids."""


@dataclass(frozen=True, slots=True)
class AlertMark:
    """An alert at its place in the recording: `time` in seconds from the start, as played."""

    time: float
    rule_id: str
    severity: str
    title: str
    command: str  # masked by the engine
    event_time: str

    @property
    def label(self) -> str:
        return f"{self.rule_id} ({self.severity}) {self.title}"


@dataclass(frozen=True, slots=True)
class Recording:
    session_id: str  # masked, as every metadata value here
    instance_id: str
    user: str
    started: str  # the first event time, "" when the input has none
    paced_by: Literal["event times", "steady pace"]
    frames: tuple[tuple[float, str], ...]  # (seconds from the start, terminal output)
    alerts: tuple[AlertMark, ...]
    commands: int

    @property
    def duration(self) -> float:
        return self.frames[-1][0] if self.frames else 0.0

    def to_cast(self) -> str:
        """The asciicast v2 file: a header line, then one `[time, "o", text]` line per frame and one
        `[time, "m", label]` marker per alert, in time order (markers sort after the output written at their
        time, so seeking to a marker shows the alert line)."""
        header = {
            "version": 2,
            "width": COLS,
            "height": ROWS,
            "title": f"SessionGuard replay of {self.session_id}",
            "env": {"TERM": "xterm-256color"},
        }
        if self.started:
            started = _parse_time(self.started)
            if started is not None:
                header["timestamp"] = int(started.timestamp())
        events: list[tuple[float, int, str, str]] = [(time, 0, "o", text) for time, text in self.frames]
        events += [(alert.time, 1, "m", alert.label) for alert in self.alerts]
        events.sort(key=lambda event: (event[0], event[1]))
        lines = [json.dumps(header)]
        lines += [json.dumps([round(time, 3), code, data]) for time, _, code, data in events]
        return "\n".join(lines) + "\n"


def choose_session(events: Iterable[SessionEvent], session_id: str | None) -> list[SessionEvent]:
    """The events of `session_id`, or of the only session in the input."""
    sessions: dict[str, list[SessionEvent]] = {}
    for event in events:
        sessions.setdefault(event.session_id, []).append(event)
    if session_id is not None:
        if session_id not in sessions:
            raise SessionChoiceError(f"no session {mask_secrets(visible(session_id))!r} in the input")
        return sessions[session_id]
    if len(sessions) == 1:
        return next(iter(sessions.values()))
    if not sessions:
        raise SessionChoiceError("the input holds no session events")
    names = ", ".join(mask_secrets(visible(name)) for name in list(sessions)[:10])
    raise SessionChoiceError(f"the input holds {len(sessions)} sessions ({names}): choose one with --session")


def record_session(
    events: Sequence[SessionEvent], rules: RulePack, *, min_severity: Severity = Severity.LOW
) -> Recording:
    """The recording of one session's events (in arrival order), from the engine's masked output."""
    engine = SessionEngine(rules, min_severity=min_severity)
    clock = _Clock(steady=not events or all(event.transcript or not event.event_time for event in events))
    builder = _Frames(clock)
    for result in [*engine.scan(events), *engine.finish()]:
        if isinstance(result, CommandAlert):
            builder.alert(result)
        else:
            builder.line(result)
    first = events[0] if events else SessionEvent(session_id="", lines=())
    return Recording(
        session_id=mask_secrets(visible(first.session_id)),
        instance_id=mask_secrets(visible(first.instance_id)),
        user=mask_secrets(visible(first.user_arn)),
        started=next((event.event_time for event in events if event.event_time), ""),
        paced_by="steady pace" if clock.steady else "event times",
        frames=tuple(builder.frames),
        alerts=tuple(builder.alerts),
        commands=engine.stats.commands,
    )


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class _Clock:
    """Seconds into the recording for each line the engine gives out."""

    def __init__(self, *, steady: bool) -> None:
        self.steady = steady
        self.now = 0.0
        self._last_event_time: datetime | None = None
        self._last_event_text = ""
        self._ticked = False

    def tick(self, line: SanitizedLine, *, starts_command: bool) -> float:
        if self.steady:
            if self._ticked:  # the first line plays at once
                self.now += STEADY_COMMAND_GAP if starts_command else LINE_GAP
            self._ticked = True
        elif line.event_time != self._last_event_text:
            # A new event: wait as long as the session did, idle gaps shortened; never go back in time.
            when = _parse_time(line.event_time)
            if when is not None and self._last_event_time is not None:
                gap = (when - self._last_event_time).total_seconds()
                self.now += min(max(gap, LINE_GAP), IDLE_GAP_LIMIT)
            elif self._last_event_time is not None:
                self.now += LINE_GAP
            self._last_event_text = line.event_time
            self._last_event_time = when or self._last_event_time
        else:
            self.now += LINE_GAP
        return self.now


class _Frames:
    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.frames: list[tuple[float, str]] = []
        self.alerts: list[AlertMark] = []

    def line(self, line: SanitizedLine) -> None:
        # The engine's lines do not say where one command ends and the next begins when no output lies between
        # them, so every command line gets the prompt.
        is_command = line.kind == "command"
        time = self.clock.tick(line, starts_command=is_command)
        self.frames.append((time, (_PROMPT if is_command else "") + _terminal_text(line.text) + "\r\n"))

    def alert(self, alert: CommandAlert) -> None:
        time = self.frames[-1][0] if self.frames else 0.0
        severity = str(alert.severity)
        title = _terminal_text(alert.title)
        text = _ALERT_TEXT.format(rule_id=alert.rule_id, severity=severity, title=title)
        self.frames.append((time, _ALERT_BADGE + text + "\r\n"))
        self.alerts.append(
            AlertMark(
                time=time,
                rule_id=alert.rule_id,
                severity=severity,
                title=alert.title,
                command=visible(alert.command),
                event_time=alert.event_time,
            )
        )


def _terminal_text(text: str) -> str:
    """Masked text as the player's terminal must show it: controls in caret notation, newlines as CR LF."""
    return visible(text).replace("\n", "\r\n")
