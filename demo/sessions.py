"""A recorded session replayed into the session log group, as the SSM Agent streams it.

The input is JSON Lines, one Session Manager log event per line: the documents the agent writes to CloudWatch
Logs (events/session-risky.jsonl; `aws logs filter-log-events ... --query 'events[].message'` output turned into
one message per line gives the same). Each line is sent as it is, unparsed, so malformed lines reach the function
as they would in AWS (it parks them in the failure queue). The log stream is named after the session id, as the
agent names it. The agent uploads about once a second; the replay stamps the events one second apart, ending now.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

# PutLogEvents takes up to 10,000 events and 1 MB per call; the emulator's subscription filter turns each call into
# one delivery, so a batch also stays within the 256 KB an asynchronous Lambda invocation is sure to accept.
BATCH_MAX_EVENTS = 1000
BATCH_MAX_BYTES = 200_000
LOG_EVENT_OVERHEAD = 26  # bytes PutLogEvents counts per event besides its message


class SessionFileError(ValueError):
    """The session file cannot be replayed; the message says why."""


@dataclass(frozen=True)
class RecordedSession:
    """The file's log events, grouped by the session they belong to (a file may interleave several sessions)."""

    path: Path
    lines: Sequence[str]  # one log event message each, in file order
    sessions: Mapping[str, Sequence[int]]  # session id -> indexes into `lines`, in order

    @property
    def session_ids(self) -> list[str]:
        return list(self.sessions)


def stream_name(session_id: str) -> str:
    """The agent names the stream after the session id; `:` and `*` are not allowed in stream names."""
    return session_id.replace(":", "_").replace("*", "_")[:512]


def read_session(path: Path) -> RecordedSession:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")  # CloudWatch Logs takes UTF-8 only
    except OSError as error:
        raise SessionFileError(f"cannot read session file {path}: {error.strerror or error}") from error
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines:
        raise SessionFileError(f"session file {path} holds no log events (expected JSON Lines)")
    ids = [_session_id(line) for line in lines]
    # A line without a readable session id (malformed) stays in the stream of the session before it, where the
    # agent would have written it.
    current = next((sid for sid in ids if sid), path.stem)
    sessions: dict[str, list[int]] = {}
    for index, sid in enumerate(ids):
        current = sid or current
        sessions.setdefault(current, []).append(index)
    return RecordedSession(path, lines, sessions)


def _session_id(line: str) -> str:
    try:
        document = json.loads(line)
    except ValueError:
        return ""
    value = document.get("sessionId") if isinstance(document, dict) else None
    return value if isinstance(value, str) else ""


def replay(session: RecordedSession, log_group: str, *, now_ms: int | None = None) -> int:
    """Put each session's events into its own stream of `log_group`; the number of PutLogEvents calls."""
    logs = boto3.client("logs")
    end = now_ms if now_ms is not None else int(time.time() * 1000)
    count = len(session.lines)
    calls = 0
    for session_id, indexes in session.sessions.items():
        stream = stream_name(session_id)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):  # a second replay of it
            logs.create_log_stream(logGroupName=log_group, logStreamName=stream)
        events = [{"timestamp": end - (count - 1 - index) * 1000, "message": session.lines[index]} for index in indexes]
        for batch in _batches(events):
            logs.put_log_events(logGroupName=log_group, logStreamName=stream, logEvents=batch)  # type: ignore[arg-type]
            calls += 1
    return calls


def _batches(events: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for event in events:
        event_size = len(event["message"].encode()) + LOG_EVENT_OVERHEAD
        if current and (len(current) >= BATCH_MAX_EVENTS or size + event_size > BATCH_MAX_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(event)
        size += event_size
    if current:
        batches.append(current)
    return batches


def subscription_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """What a subscription delivery carries: {"awslogs": {"data": base64(gzip(JSON))}} decoded."""
    data = base64.b64decode(event["awslogs"]["data"])
    return json.loads(gzip.decompress(data))  # type: ignore[no-any-return]
