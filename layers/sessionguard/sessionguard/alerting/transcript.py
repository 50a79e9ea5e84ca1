"""The sanitized transcript's log events: one JSON event per masked line, stamped so that PutLogEvents takes it,
in a stream named after the session and masked. What `session_alerts` writes (docs/alerts.md, "Sanitized
transcripts")."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Final

from sessionguard.alerting.formatting import clean_metadata
from sessionguard.alerting.log_events import LOG_EVENT_MAX_BYTES, LogEvent
from sessionguard.alerting.noise import event_epoch
from sessionguard.alerting.text import visible
from sessionguard.masking.masker import mask_secrets
from sessionguard.session.engine import SanitizedLine

# PutLogEvents accepts events from the last 14 days (and not older than the group's retention) to 2 hours ahead;
# lines outside (a replay of an old failure, a skewed agent clock) are stamped with the current time and keep
# their own time in the message. An hour (five minutes ahead) of margin for the time the write takes.
LOG_MAX_AGE_MS: Final = 14 * 24 * 3600 * 1000 - 3600 * 1000
LOG_MAX_AHEAD_MS: Final = 2 * 3600 * 1000 - 300 * 1000
_DAY_MS: Final = 24 * 3600 * 1000
STREAM_NAME_MAX_CHARS: Final = 512  # CloudWatch Logs' limit on a log stream's name
_ID_DIGEST_CHARS: Final = 16
_NAMING_ROUNDS: Final = 4


def log_stream_name(session_id: str) -> str:
    """The session id, as in the session log group, masked (a stream name can carry a secret: anyone who may write
    to the group names streams); `:` and `*` (not allowed in stream names) become `_`. When that changed the id, a
    digest of it follows (`-<16 hex>`, 64 bits), so that two sessions never share a stream: masking can make
    different ids one name (`AKIAIOSFODNN7EXAMPLF-0a1b…` and `AKIAQWERTYUIOPASDFG7-0f0e…` are both
    `[MASKED_aws-access-key-id]`), and the ledger keys a stream no session explains by its name. At most 512
    characters, as CloudWatch Logs allows.

    A name is its own name (the ledger reads such a stream by the name it keyed it by): the digest can complete a
    token the masker did not see before it (`… glpat-abcd` + `-48e1…`), so the naming is repeated until it changes
    nothing, each digest of the name before (so still one name per id); a name that does not settle in a few rounds
    becomes `session-<32 hex>` of the id, which no masker rule takes."""
    if not session_id:
        return "unknown-session"
    name = session_id
    for _ in range(_NAMING_ROUNDS):
        named = _named_once(name)
        if named == name:
            return name
        name = named
    return "session-" + _digest(session_id, 32)


def _named_once(name: str) -> str:
    shown = mask_secrets(visible(name)).replace(":", "_").replace("*", "_")
    if shown == name and len(shown) <= STREAM_NAME_MAX_CHARS:
        return shown
    suffix = "-" + _digest(name, _ID_DIGEST_CHARS)
    return shown[: STREAM_NAME_MAX_CHARS - len(suffix)] + suffix


def _digest(text: str, chars: int) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:chars]


def alert_stream_name(masked_session_id: str) -> str:
    """The stream of an alert line, from the alert's masked session id (all an alert record holds): without the
    characters stream names refuse, at most 512 of them. Where masking changed the id, the transcript's stream adds
    a digest of the raw id (`log_stream_name`), which only the subscription function knows: it writes the line
    there, beside the transcript."""
    return masked_session_id.replace(":", "_").replace("*", "_")[:STREAM_NAME_MAX_CHARS]


class TranscriptLinesRejected(RuntimeError):
    """CloudWatch Logs refused sanitized lines even stamped with the current time; the message is counts only."""


def sanitized_log_events(
    lines: Iterable[SanitizedLine], now_ms: int, *, max_age_ms: int = LOG_MAX_AGE_MS
) -> list[LogEvent]:
    """One JSON log event per masked line — `{"kind", "text", "event_time"}`, which Logs Insights reads as fields —
    in order; a line too long for one event is split into parts (`"part": "2/3"`), and a line of a command still
    incomplete when its delivery ended says so (`"incomplete": true`). Lines timed more than `max_age_ms` ago or
    too far ahead are stamped `now_ms`."""
    events: list[LogEvent] = []
    times: dict[str, str] = {}  # event time -> cleaned: a batch has a few distinct times
    for line in lines:
        stamp = _timestamp_ms(line.event_time, now_ms, max_age_ms)
        event_time = times.get(line.event_time)
        if event_time is None:
            event_time = times[line.event_time] = clean_metadata(line.event_time)
        text = visible(line.text)
        parts = _split_for_json(text)
        for number, part in enumerate(parts, start=1):
            record: dict[str, Any] = {"kind": line.kind, "text": part, "event_time": event_time}
            if len(parts) > 1:
                record["part"] = f"{number}/{len(parts)}"
            if line.incomplete:
                record["incomplete"] = True
            events.append(LogEvent(stamp, json.dumps(record, ensure_ascii=False)))
    # PutLogEvents wants each call sorted by time; the sort is stable, so a session's order holds within a second.
    return sorted(events, key=lambda e: e.timestamp)


# JSON overhead of a record besides its text: keys, kind, event time, part number.
_RECORD_OVERHEAD: Final = 512
# json.dumps(ensure_ascii=False) writes one character as at most 6 bytes (\u001f); UTF-8 needs at most 4.
_MAX_BYTES_PER_CHAR: Final = 6


def _split_for_json(text: str) -> list[str]:
    budget = LOG_EVENT_MAX_BYTES - _RECORD_OVERHEAD
    if len(json.dumps(text, ensure_ascii=False).encode()) <= budget:
        return [text]
    size = budget // _MAX_BYTES_PER_CHAR
    return [text[i : i + size] for i in range(0, len(text), size)]


def _timestamp_ms(event_time: str, now_ms: int, max_age_ms: int = LOG_MAX_AGE_MS) -> int:
    stamp = event_epoch(event_time, now_ms // 1000) * 1000
    if stamp < now_ms - max_age_ms or stamp > now_ms + LOG_MAX_AHEAD_MS:
        return now_ms
    return stamp


def stamp_age_limit_ms(retention_days: int) -> int:
    """How old a line may be stamped: CloudWatch's 14 days, or less than the group's retention when known (an
    event older than the retention is refused as expired)."""
    if retention_days <= 0:
        return LOG_MAX_AGE_MS
    return min(LOG_MAX_AGE_MS, retention_days * _DAY_MS - 3600 * 1000)


__all__ = [
    "LOG_MAX_AGE_MS",
    "LOG_MAX_AHEAD_MS",
    "STREAM_NAME_MAX_CHARS",
    "TranscriptLinesRejected",
    "log_stream_name",
    "sanitized_log_events",
    "stamp_age_limit_ms",
]
