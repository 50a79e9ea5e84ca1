"""Where alerts and sanitized transcripts go, and where failures wait: every AWS and HTTP call of the alert path.

SNS (alerts), SQS (the failure queue), DynamoDB (noise state and Powertools Idempotency records), CloudWatch Logs
(the sanitized log group; reading the session log group when replaying), Lambda (replay), Secrets Manager (the
Slack webhook URL, through Powertools Parameters) and the Slack webhook itself (urllib). Each returns plain data;
the Protocols let tests put in-memory fakes behind the same calls.

moto 5 covers all the AWS calls here. Where it is laxer than AWS (it accepts control characters in SQS bodies and
oversized log events), the callers keep within the real limits themselves and their tests check the limits.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import boto3
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# Short timeouts and few retries: the function has a bounded time to deliver everything, and a call that fails
# here fails the invocation, which Lambda retries as a whole.
CLIENT_CONFIG: Final = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
# Reading a session's preceding events only warms the engine up; when it is slow or throttled the function goes on
# without it, so it gets one quick retry instead of three.
HISTORY_CLIENT_CONFIG: Final = Config(
    connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"}
)

# PutLogEvents (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html): at most
# 10,000 events and 1,048,576 bytes per call, counting each message's UTF-8 bytes plus 26 bytes per event; an event
# at most 256 KB; the events of one call within 24 hours of each other.
LOG_BATCH_MAX_EVENTS: Final = 10_000
LOG_BATCH_MAX_BYTES: Final = 1_048_576
LOG_EVENT_OVERHEAD: Final = 26
LOG_EVENT_MAX_BYTES: Final = 256 * 1024 - LOG_EVENT_OVERHEAD
LOG_BATCH_MAX_SPAN_MS: Final = 24 * 3600 * 1000
# SQS message size (the queue's MaximumMessageSize, set to the maximum in the template).
SQS_MAX_MESSAGE_BYTES: Final = 1_048_576
SECRET_MAX_AGE_SECONDS: Final = 300


_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


def utf8_safe(text: str) -> str:
    """`text` as botocore can send it: a lone surrogate (damaged UTF-8 in session text) makes it raise
    UnicodeEncodeError on every attempt, so each becomes U+FFFD, as alerts.visible shows it. Messages are built
    with it (alerts.sns_alert_message measures their bytes) and the clients apply it again as the last line of
    defence; it costs nothing for ASCII."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def error_code(error: Exception) -> str:
    """The AWS error code of a ClientError, else the exception's type name: safe to log (never a message)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


# --- SNS -----------------------------------------------------------------------------------------------------


class AlertPublisher(Protocol):
    def publish(self, topic_arn: str, subject: str, message: str, attributes: dict[str, dict[str, str]]) -> str: ...


class SnsPublisher:
    def __init__(self, client: SNSClient | None = None) -> None:
        self._client: SNSClient = client or boto3.client("sns", config=CLIENT_CONFIG)

    def publish(self, topic_arn: str, subject: str, message: str, attributes: dict[str, dict[str, str]]) -> str:
        """Publish one alert; its SNS message id."""
        safe_attributes = {
            name: {key: utf8_safe(value) for key, value in attribute.items()} for name, attribute in attributes.items()
        }
        response = self._client.publish(
            TopicArn=topic_arn,
            Subject=utf8_safe(subject),
            Message=utf8_safe(message),
            MessageAttributes=safe_attributes,  # type: ignore[arg-type]  # the same shape, typed as a TypedDict
        )
        return response.get("MessageId", "")


# --- SQS: the failure queue ----------------------------------------------------------------------------------


class FailureQueue(Protocol):
    def send(self, body: str) -> str: ...


class SqsFailureQueue:
    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client: SQSClient = client or boto3.client("sqs", config=CLIENT_CONFIG)

    def send(self, body: str) -> str:
        """Park one record; its SQS message id."""
        return self._client.send_message(QueueUrl=self.queue_url, MessageBody=body).get("MessageId", "")


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    message_id: str
    receipt_handle: str
    body: str


class FailureQueueReader:
    """Receive and delete failure-queue messages (replay)."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client: SQSClient = client or boto3.client("sqs", config=CLIENT_CONFIG)

    def receive(self, max_messages: int, visibility_timeout: int) -> list[QueuedMessage]:
        response = self._client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=1,
        )
        return [
            QueuedMessage(m.get("MessageId", ""), m.get("ReceiptHandle", ""), m.get("Body", ""))
            for m in response.get("Messages", [])
        ]

    def delete(self, receipt_handle: str) -> None:
        self._client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle)


# --- Lambda (replay) -----------------------------------------------------------------------------------------


class FunctionInvoker(Protocol):
    def invoke(self, function_name: str, payload: bytes) -> int: ...


class LambdaInvoker:
    def __init__(self, client: LambdaClient | None = None) -> None:
        self._client: LambdaClient = client or boto3.client("lambda", config=CLIENT_CONFIG)

    def invoke(self, function_name: str, payload: bytes) -> int:
        """Invoke asynchronously, as CloudWatch Logs does, so the function's retries and on-failure destination
        apply to the replay too; the HTTP status (202 when Lambda queued the event)."""
        response = self._client.invoke(FunctionName=function_name, InvocationType="Event", Payload=payload)
        return int(response.get("StatusCode", 0))


# --- CloudWatch Logs -----------------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class PutResult:
    accepted: int
    rejected: int  # events CloudWatch Logs refused as too old, too new or expired
    rejected_events: tuple[LogEvent, ...] = ()  # which ones (so the caller can stamp them again)


class TranscriptSink(Protocol):
    def put(self, log_group: str, log_stream: str, events: Sequence[LogEvent]) -> PutResult: ...


class CloudWatchTranscriptSink:
    """Writes one batch (see log_event_batches) to a stream, creating the stream on first use."""

    def __init__(self, client: CloudWatchLogsClient | None = None) -> None:
        self._client: CloudWatchLogsClient = client or boto3.client("logs", config=CLIENT_CONFIG)

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

    def __init__(self, client: CloudWatchLogsClient | None = None) -> None:
        self._client: CloudWatchLogsClient = client or boto3.client("logs", config=HISTORY_CLIENT_CONFIG)

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
        self._client: CloudWatchLogsClient = client or boto3.client("logs", config=CLIENT_CONFIG)

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


# --- DynamoDB: noise state and idempotency records -----------------------------------------------------------


class DynamoNoiseStore:
    """`noise.NoiseStore` on the alert state table (partition key `id`, TTL attribute `expiration`).

    Every decision is one conditional UpdateItem, so concurrent invocations cannot both win. DynamoDB deletes
    expired items lazily (up to days later), so each condition also treats `expiration < now` as absent.
    """

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client: DynamoDBClient = client or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def _conditional_update(self, key: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        # DynamoDB refuses attribute names an expression does not use, so pass only those it does.
        names = {name: attribute for name, attribute in _ATTRIBUTES.items() if name in update or name in condition}
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": key}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def claim_window(self, window_key: str, owner: str, expires_at: int, now: int) -> bool:
        return self._conditional_update(
            window_key,
            "SET #owner = :owner, #exp = :exp",
            "attribute_not_exists(#owner) OR #owner = :owner OR #exp < :now",
            {":owner": {"S": owner}, ":exp": {"N": str(expires_at)}, ":now": {"N": str(now)}},
        )

    def window_owner(self, window_key: str) -> str:
        item = self._client.get_item(
            TableName=self.table_name,
            Key={"id": {"S": window_key}},
            ConsistentRead=True,
            ProjectionExpression="#owner",
            ExpressionAttributeNames={"#owner": _ATTRIBUTES["#owner"]},
        ).get("Item", {})
        return str(item.get(_ATTRIBUTES["#owner"], {}).get("S", ""))

    def admit_to_cap(self, session_key: str, alert_key: str, cap: int, expires_at: int, now: int) -> bool:
        # An expired session record is not reset here: its TTL is refreshed on every admission and outlives any
        # session (14 days), so it expires only long after the session ended.
        return self._conditional_update(
            session_key,
            "ADD #admitted :keys SET #exp = :exp",
            "attribute_not_exists(#admitted) OR size(#admitted) < :cap OR contains(#admitted, :key)",
            {
                ":keys": {"SS": [alert_key]},
                ":key": {"S": alert_key},
                ":cap": {"N": str(cap)},
                ":exp": {"N": str(expires_at)},
            },
        )

    def claim_summary(self, session_key: str, owner: str, expires_at: int, now: int) -> bool:
        return self._conditional_update(
            session_key,
            "SET #owner = :owner, #exp = :exp",
            "attribute_not_exists(#owner) OR #owner = :owner",
            {":owner": {"S": owner}, ":exp": {"N": str(expires_at)}},
        )


_ATTRIBUTES: Final = {"#owner": "owner", "#exp": "expiration", "#admitted": "admitted"}


def idempotency_persistence(table_name: str, client: DynamoDBClient | None = None) -> DynamoDBPersistenceLayer:
    """Powertools Idempotency records in the same table (its defaults: key `id`, TTL attribute `expiration`)."""
    return DynamoDBPersistenceLayer(
        table_name=table_name,
        boto3_client=client or boto3.client("dynamodb", config=CLIENT_CONFIG),
    )


# --- Secrets Manager: the Slack webhook URL ------------------------------------------------------------------


def read_slack_webhook_url(secret_arn: str) -> str:
    """The webhook URL kept in Secrets Manager: the secret string itself, or a JSON object's `url` /
    `webhook_url`. Cached by Powertools Parameters for SECRET_MAX_AGE_SECONDS, so a rotated URL is picked up
    within minutes without a call per alert. Never logged."""
    value = parameters.get_secret(secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return ""
        url = document.get("url") or document.get("webhook_url") if isinstance(document, dict) else None
        return url.strip() if isinstance(url, str) else ""
    return text


# --- the Slack webhook ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int  # 0: no HTTP answer (timeout, connection refused, DNS)
    retry_after: float | None = None  # seconds, from a Retry-After header
    error: str = ""  # exception type when status is 0


class SlackWebhook(Protocol):
    def post(self, url: str, body: bytes, timeout: float) -> HttpResult: ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook never redirects; following one would send the alert somewhere we did not configure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class UrllibSlackWebhook:
    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirects)

    def post(self, url: str, body: bytes, timeout: float) -> HttpResult:
        request = urllib.request.Request(  # noqa: S310 - the caller allows only https (and http on loopback)
            url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                response.read(1024)
                return HttpResult(int(response.status))
        except urllib.error.HTTPError as error:
            retry_after = parse_retry_after(error.headers.get("Retry-After") if error.headers else None)
            error.close()
            return HttpResult(int(error.code), retry_after)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            return HttpResult(0, None, type(error).__name__)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent or invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = [
    "CLIENT_CONFIG",
    "LOG_EVENT_MAX_BYTES",
    "SQS_MAX_MESSAGE_BYTES",
    "AlertPublisher",
    "CloudWatchSessionHistory",
    "CloudWatchTranscriptSink",
    "DynamoNoiseStore",
    "FailureQueue",
    "FailureQueueReader",
    "FunctionInvoker",
    "HttpResult",
    "LambdaInvoker",
    "LogEvent",
    "NoSessionHistory",
    "PutResult",
    "QueuedMessage",
    "SessionHistory",
    "SessionLogReader",
    "SlackWebhook",
    "SnsPublisher",
    "SqsFailureQueue",
    "StoredEvent",
    "TranscriptSink",
    "UrllibSlackWebhook",
    "error_code",
    "idempotency_persistence",
    "log_event_batches",
    "parse_retry_after",
    "read_slack_webhook_url",
    "rejected_indexes",
    "utf8_safe",
]
