"""Failure-queue records: what the session alerts function parks, and what `replay` rebuilds from them. Pure.

Two kinds (docs/alerts.md, "Nothing lost"):
- `failed-invocation`: the whole invocation event, for a payload that could not be decoded, or whose work could not
  be finished in the time left (replay runs it again; what was already delivered is not repeated).
- `malformed-log-events`: log events of one delivery that were not processed, each with its reason and location,
  as many per message as fit: a flood of junk records costs a few SQS messages, not one per record.
  (`malformed-log-event`, one record per message, is what earlier versions wrote; replay still reads it.)

Bodies are ASCII JSON: SQS accepts only XML-legal characters, and session text holds ESC, BEL and damaged UTF-8.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sessionguard.session.records import is_event_id

FAILURE_RECORD_VERSION: Final = 1
# Room left in a message for the parts that are not log events (kind, version, group, stream...) and for the
# separators between entries; real headers are well under 2 KiB (names of at most 512 characters).
_HEADER_ROOM: Final = 4096
# SendMessageBatch takes at most 10 messages per call
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
SQS_BATCH_MAX_MESSAGES: Final = 10


def failure_body(kind: str, reason: str, extra: Mapping[str, Any]) -> str:
    document = {"sessionguard": kind, "version": FAILURE_RECORD_VERSION, "reason": reason, **extra}
    return _ascii_json(document)


def invocation_body(raw_event: object, reason: str) -> str:
    """A `failed-invocation` record: the invocation event as Lambda passed it (an object, or whatever it was)."""
    return failure_body("failed-invocation", reason, {"invocation": raw_event})


def log_event_entry(location: str, record: Any, reason: str, message_limit: int) -> dict[str, Any]:
    """One unprocessed log event as a `malformed-log-events` entry: the original record; gzip+base64 when too big
    for a message of `message_limit` bytes as it is; a reference (id, timestamp) that replay fetches again when
    even that is too big."""
    limit = message_limit - _HEADER_ROOM
    entry: dict[str, Any] = {"location": location, "reason": reason, "logEvent": record}
    if _size(entry) <= limit:
        return entry
    packed = gzip.compress(json.dumps(record).encode("utf-8", "surrogatepass"), mtime=0)
    entry = {"location": location, "reason": reason, "logEventGzipBase64": base64.b64encode(packed).decode()}
    if _size(entry) <= limit:
        return entry
    reference = {
        "id": record.get("id") if isinstance(record, dict) and is_event_id(record.get("id")) else None,
        "timestamp": record.get("timestamp") if isinstance(record, dict) else None,
    }
    return {"location": location, "reason": reason, "logEventReference": reference}


def log_events_bodies(meta: Mapping[str, Any], entries: Iterable[dict[str, Any]], limit: int) -> list[str]:
    """`malformed-log-events` messages of at most `limit` bytes holding `entries` in order, as few as fit."""
    context = {
        "owner": meta.get("owner"),
        "logGroup": meta.get("logGroup"),
        "logStream": meta.get("logStream"),
        "subscriptionFilters": meta.get("subscriptionFilters"),
    }
    budget = limit - _HEADER_ROOM
    bodies: list[str] = []
    current: list[dict[str, Any]] = []
    used = 0

    def close() -> None:
        reason = current[0]["reason"] if len({e["reason"] for e in current}) == 1 else "several reasons"
        bodies.append(failure_body("malformed-log-events", reason, {**context, "logEvents": current}))

    for entry in entries:
        size = _size(entry) + 1
        if current and used + size > budget:
            close()
            current, used = [], 0
        current.append(entry)
        used += size
    if current:
        close()
    return bodies


def send_batches(bodies: Sequence[str], limit: int) -> list[list[str]]:
    """`bodies` grouped for SendMessageBatch: at most 10 per call and at most `limit` bytes together."""
    batches: list[list[str]] = []
    used = 0
    for body in bodies:
        size = len(body.encode())
        if not batches or len(batches[-1]) >= SQS_BATCH_MAX_MESSAGES or used + size > limit:
            batches.append([])
            used = 0
        batches[-1].append(body)
        used += size
    return batches


def _ascii_json(document: object) -> str:
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"))


def _size(entry: Mapping[str, Any]) -> int:
    return len(_ascii_json(entry))  # ASCII: characters are bytes


__all__ = [
    "FAILURE_RECORD_VERSION",
    "SQS_BATCH_MAX_MESSAGES",
    "failure_body",
    "invocation_body",
    "log_event_entry",
    "log_events_bodies",
    "send_batches",
]
