"""CloudWatch Logs: writing the sanitized transcript, finding a delivery's record in it (a retry's rare path),
reading a session's preceding events (the engine's warm-up) and fetching one event by id (replay of a
failure-queue reference).

moto accepts oversized log events that CloudWatch Logs refuses; the caller keeps within the real limits
(`sessionguard.alerting.log_events`) and its tests check them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import ClientError

from sessionguard.adapters.aws import HISTORY_CLIENT_CONFIG, LazyClient, aws_client, error_code
from sessionguard.alerting.log_events import LogEvent
from sessionguard.alerting.text import utf8_safe

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef


@dataclass(frozen=True, slots=True)
class PutResult:
    accepted: int
    rejected: int  # events CloudWatch Logs refused as too old, too new or expired
    rejected_events: tuple[LogEvent, ...] = ()  # which ones (so the caller can stamp them again)


class TranscriptSink(Protocol):
    def put(self, log_group: str, log_stream: str, events: Sequence[LogEvent]) -> PutResult: ...


class CloudWatchTranscriptSink:
    """Writes one batch (see log_event_batches) to a stream, creating the stream on first use."""

    _client: LazyClient[CloudWatchLogsClient] = LazyClient("logs")

    def __init__(self, client: CloudWatchLogsClient | None = None) -> None:
        if client is not None:
            vars(self)["_client"] = client

    def put(self, log_group: str, log_stream: str, events: Sequence[LogEvent]) -> PutResult:
        if not events:
            return PutResult(0, 0)
        batch: list[InputLogEventTypeDef] = [
            {"timestamp": e.timestamp, "message": utf8_safe(e.message)} for e in events
        ]
        try:
            response = self._client.put_log_events(logGroupName=log_group, logStreamName=log_stream, logEvents=batch)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            self._create_stream(log_group, log_stream)
            response = self._client.put_log_events(logGroupName=log_group, logStreamName=log_stream, logEvents=batch)
        rejected = rejected_indexes(response.get("rejectedLogEventsInfo", {}), len(batch))
        return PutResult(len(batch) - len(rejected), len(rejected), tuple(events[i] for i in rejected))

    def _create_stream(self, log_group: str, log_stream: str) -> None:
        try:
            self._client.create_log_stream(logGroupName=log_group, logStreamName=log_stream)
        except ClientError as error:
            if error_code(error) != "ResourceAlreadyExistsException":  # a concurrent invocation created it
                raise


def rejected_indexes(info: Any, total: int) -> list[int]:
    """Which events PutLogEvents refused, in order, from its rejectedLogEventsInfo (index ranges of a sorted
    batch: everything up to tooOldLogEventEndIndex / expiredLogEventEndIndex, everything from
    tooNewLogEventStartIndex)."""
    rejected: set[int] = set()
    if "tooOldLogEventEndIndex" in info:
        rejected.update(range(0, int(info["tooOldLogEventEndIndex"]) + 1))
    if "expiredLogEventEndIndex" in info:
        rejected.update(range(0, int(info["expiredLogEventEndIndex"]) + 1))
    if "tooNewLogEventStartIndex" in info:
        rejected.update(range(int(info["tooNewLogEventStartIndex"]), total))
    return sorted(rejected & set(range(total)))


class TranscriptSearch(Protocol):
    def messages_naming(self, log_group: str, log_stream: str, text: str, since_ms: int) -> list[str]:
        """The messages of the stream's events since `since_ms` that hold `text` (a quoted term, as FilterLogEvents
        matches it). Raises when they cannot be read."""
        ...


# FilterLogEvents may answer empty pages before the matching ones (it reads the stream in slices); a few pages.
_SEARCH_MAX_PAGES: Final = 10


class CloudWatchTranscriptSearch:
    """FilterLogEvents on one stream of the sanitized group: whether a delivery's record is there (the rare path of
    a retry that meets its own claim; `alerting.claims`)."""

    _client: LazyClient[CloudWatchLogsClient] = LazyClient("logs")

    def __init__(self, client: CloudWatchLogsClient | None = None) -> None:
        if client is not None:
            vars(self)["_client"] = client

    def messages_naming(self, log_group: str, log_stream: str, text: str, since_ms: int) -> list[str]:
        kwargs: dict[str, Any] = {
            "logGroupName": log_group,
            "logStreamNames": [log_stream],
            "startTime": max(0, since_ms),
            "filterPattern": '"' + text.replace('"', "") + '"',
        }
        messages: list[str] = []
        for _ in range(_SEARCH_MAX_PAGES):
            try:
                response = self._client.filter_log_events(**kwargs)
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":  # no transcript stream yet: nothing written
                    return messages
                raise
            messages += [str(e["message"]) for e in response.get("events", []) if isinstance(e.get("message"), str)]
            token = response.get("nextToken")
            if not token:  # read to the end: a batch may have an incomplete record, then a complete one, pages apart
                break
            kwargs["nextToken"] = token
        return messages


@dataclass(frozen=True, slots=True)
class StoredEvent:
    timestamp: int  # milliseconds since the epoch
    message: str


class SessionHistory(Protocol):
    def preceding(self, log_group: str, log_stream: str, until_ms: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` of the stream's latest events with a timestamp at or before `until_ms`, oldest first.
        Raises when they cannot be read."""
        ...


class NoSessionHistory:
    """`SessionHistory` when none is available (local runs, tests of other behaviour): every stream is new."""

    def preceding(self, log_group: str, log_stream: str, until_ms: int, limit: int) -> list[StoredEvent]:
        return []


# GetLogEvents may answer an empty page while older events exist (its API reference: keep following the token);
# a few pages at most, as this only warms the engine up.
_HISTORY_MAX_PAGES: Final = 3
GET_LOG_EVENTS_MAX_LIMIT: Final = 10_000


class CloudWatchSessionHistory:
    """The latest events of a session's log stream before a delivery (GetLogEvents, newest first)."""

    _client: LazyClient[CloudWatchLogsClient] = LazyClient("logs", HISTORY_CLIENT_CONFIG)

    def __init__(self, client: CloudWatchLogsClient | None = None) -> None:
        if client is not None:
            vars(self)["_client"] = client

    def preceding(self, log_group: str, log_stream: str, until_ms: int, limit: int) -> list[StoredEvent]:
        kwargs: dict[str, Any] = {
            "logGroupName": log_group,
            "logStreamName": log_stream,
            # endTime is exclusive: +1 keeps events stamped in the same millisecond as the delivery's first one
            "endTime": until_ms + 1,
            "startFromHead": False,
            "limit": max(1, min(GET_LOG_EVENTS_MAX_LIMIT, limit)),
        }
        events: list[StoredEvent] = []
        for _ in range(_HISTORY_MAX_PAGES):
            response = self._client.get_log_events(**kwargs)
            page = response.get("events", [])
            events += [
                StoredEvent(int(e["timestamp"]), e["message"])
                for e in page
                if isinstance(e.get("timestamp"), int) and isinstance(e.get("message"), str)
            ]
            token = response.get("nextBackwardToken")
            if page or not token or token == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = token
        events = [e for e in events if e.timestamp <= until_ms]
        events.sort(key=lambda e: e.timestamp)  # stable: the stream's order within a millisecond
        return events[-limit:] if limit > 0 else []


class SessionLogReader:
    """Fetch one event of the session log group by id (replay of a failure-queue reference)."""

    def __init__(self, client: CloudWatchLogsClient | None = None) -> None:
        self._client: CloudWatchLogsClient = client or aws_client("logs")

    def find_event(self, log_group: str, log_stream: str, event_id: str, timestamp: int) -> dict[str, Any] | None:
        """The event as a subscription delivers it ({id, timestamp, message}), or None when it is gone."""
        kwargs: dict[str, Any] = {
            "logGroupName": log_group,
            "logStreamNames": [log_stream],
            "startTime": timestamp,
            "endTime": timestamp + 1,
        }
        while True:
            response = self._client.filter_log_events(**kwargs)
            for event in response.get("events", []):
                if event.get("eventId") == event_id:
                    return {"id": event_id, "timestamp": event.get("timestamp", timestamp), "message": event["message"]}
            token = response.get("nextToken")
            if not token:
                return None
            kwargs["nextToken"] = token
