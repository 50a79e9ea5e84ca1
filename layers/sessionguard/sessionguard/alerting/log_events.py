"""Sanitized transcript lines as CloudWatch Logs events, and how they are cut into PutLogEvents calls.

Pure: the limits are the service's (its API reference), the calls themselves are `sessionguard.adapters.logs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# PutLogEvents (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html): at most
# 10,000 events and 1,048,576 bytes per call, counting each message's UTF-8 bytes plus 26 bytes per event; an event
# at most 256 KB; the events of one call within 24 hours of each other.
LOG_BATCH_MAX_EVENTS: Final = 10_000
LOG_BATCH_MAX_BYTES: Final = 1_048_576
LOG_EVENT_OVERHEAD: Final = 26
LOG_EVENT_MAX_BYTES: Final = 256 * 1024 - LOG_EVENT_OVERHEAD
LOG_BATCH_MAX_SPAN_MS: Final = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp: int  # milliseconds since the epoch
    message: str

    @property
    def size(self) -> int:
        """Bytes the event counts for in a PutLogEvents batch."""
        return len(self.message.encode("utf-8")) + LOG_EVENT_OVERHEAD


def log_event_batches(events: Sequence[LogEvent]) -> list[list[LogEvent]]:
    """Split events (sorted by timestamp, each already within LOG_EVENT_MAX_BYTES) into PutLogEvents calls."""
    batches: list[list[LogEvent]] = []
    current: list[LogEvent] = []
    size = 0
    for event in events:
        if current and (
            len(current) >= LOG_BATCH_MAX_EVENTS
            or size + event.size > LOG_BATCH_MAX_BYTES
            or event.timestamp - current[0].timestamp >= LOG_BATCH_MAX_SPAN_MS
        ):
            batches.append(current)
            current, size = [], 0
        current.append(event)
        size += event.size
    if current:
        batches.append(current)
    return batches
