"""Re-drive the alert function's failure queue: `sessionguard replay-dlq --queue-url URL --function NAME`.

The queue holds these kinds of message (docs/alerts.md, "Nothing lost"):
- Lambda's on-failure destination records (an invocation that failed after all its retries): the original
  subscription event is their `requestPayload`.
- `failed-invocation` records the function wrote for a payload it could not decode, or whose work it could not
  finish in the time it had: the event is `invocation`.
- `malformed-log-events` records for log events it could not read (several per message): they are rebuilt as
  one subscription payload, each from its `logEvent`, `logEventGzipBase64` (decompressed with the reader's cap),
  or `logEventReference` (fetched again from the session log group by id). Earlier versions parked one log event
  per `malformed-log-event` record; those are read the same way.

Each message's event is invoked asynchronously, as CloudWatch Logs does, so the function's retries and
on-failure destination cover the replay too, and the message is deleted once Lambda has accepted the event
(202). Already-delivered alerts are not sent again (the delivery ledger remembers them for 14 days). A message
that cannot be replayed is left in the queue and reported. Replay after fixing the cause: a record that is still
malformed comes back to the queue.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sessionguard.adapters.aws import error_code
from sessionguard.adapters.awslambda import FunctionInvoker, LambdaInvoker
from sessionguard.adapters.logs import SessionLogReader
from sessionguard.adapters.sqs import FailureQueueReader, QueuedMessage
from sessionguard.session.records import MalformedEvent, inflate

VISIBILITY_TIMEOUT_SECONDS: Final = 60  # a message being replayed stays hidden this long
# json's parser recurses per nesting level; what the function parks is a few levels deep, so a message deeper than
# the interpreter's recursion limit is not one of its records, and is skipped instead of ending the replay.
_TOO_DEEP: Final = "the message is JSON nested deeper than this reader reads"
_ACCEPTED: Final = 202

Outcome = Literal["replayed", "would-replay", "skipped", "failed"]


class UnreplayableMessage(ValueError):
    """A failure-queue message whose original event cannot be rebuilt; the reason never quotes the message."""


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    message_id: str
    kind: str
    outcome: Outcome
    reason: str = ""


@dataclass
class ReplayReport:
    dry_run: bool
    outcomes: list[MessageOutcome] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def received(self) -> int:
        return len(self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "received": self.received,
            "replayed": self.count("replayed"),
            "would_replay": self.count("would-replay"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "messages": [
                {"message_id": o.message_id, "kind": o.kind, "outcome": o.outcome, "reason": o.reason}
                for o in self.outcomes
            ],
        }


def redrive_failure_queue(
    queue_url: str,
    function_name: str,
    *,
    max_messages: int = 100,
    dry_run: bool = False,
    queue: FailureQueueReader | None = None,
    invoker: FunctionInvoker | None = None,
    session_logs: SessionLogReader | None = None,
) -> ReplayReport:
    """Replay up to `max_messages` failure-queue messages through `function_name` (see the module docstring).

    With `dry_run`, every message is read and its event rebuilt, nothing is invoked or deleted; the messages
    reappear in the queue after VISIBILITY_TIMEOUT_SECONDS.
    """
    queue = queue or FailureQueueReader(queue_url)
    invoker = invoker or LambdaInvoker()
    session_logs = session_logs or SessionLogReader()
    report = ReplayReport(dry_run=dry_run)
    seen: set[str] = set()
    while report.received < max_messages:
        messages = [
            m
            for m in queue.receive(max_messages - report.received, VISIBILITY_TIMEOUT_SECONDS)
            if m.message_id not in seen
        ]
        if not messages:
            break
        for message in messages:
            seen.add(message.message_id)
            report.outcomes.append(
                _replay_one(
                    message, function_name, dry_run=dry_run, queue=queue, invoker=invoker, session_logs=session_logs
                )
            )
    return report


def _replay_one(
    message: QueuedMessage,
    function_name: str,
    *,
    dry_run: bool,
    queue: FailureQueueReader,
    invoker: FunctionInvoker,
    session_logs: SessionLogReader,
) -> MessageOutcome:
    kind = "unknown"
    try:
        kind, event = invocation_event(message.body, session_logs)
    except UnreplayableMessage as problem:
        return MessageOutcome(message.message_id, kind, "skipped", str(problem))
    if dry_run:
        return MessageOutcome(message.message_id, kind, "would-replay")
    try:
        status = invoker.invoke(function_name, json.dumps(event).encode())
    except Exception as error:  # reported per message; the message stays in the queue
        return MessageOutcome(message.message_id, kind, "failed", f"invoke failed: {error_code(error)}")
    if status != _ACCEPTED:
        return MessageOutcome(message.message_id, kind, "failed", f"invoke answered HTTP {status}")
    queue.delete(message.receipt_handle)
    return MessageOutcome(message.message_id, kind, "replayed")


def invocation_event(body: str, session_logs: SessionLogReader | None = None) -> tuple[str, dict[str, Any]]:
    """(kind, the subscription event to invoke the function with) for one failure-queue message body."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise UnreplayableMessage(_TOO_DEEP) from None
    except ValueError:
        raise UnreplayableMessage("the message is not JSON") from None
    if not isinstance(document, dict):
        raise UnreplayableMessage("the message is not a JSON object")
    if "requestPayload" in document and "requestContext" in document:
        return "lambda-on-failure", _event(document["requestPayload"], "requestPayload")
    kind = document.get("sessionguard")
    if kind == "failed-invocation":
        return kind, _event(document.get("invocation"), "invocation")
    if kind == "malformed-log-event":  # one record per message, as earlier versions parked them
        return kind, subscription_event(document, [_log_event(document, document, session_logs)])
    if kind == "malformed-log-events":
        entries = document.get("logEvents")
        if not isinstance(entries, list) or not entries or not all(isinstance(entry, dict) for entry in entries):
            raise UnreplayableMessage("logEvents is not a list of parked log events")
        # One payload with all of them: they came from one delivery of one stream. All or nothing: a message whose
        # events cannot all be rebuilt stays in the queue whole.
        return kind, subscription_event(document, [_log_event(entry, document, session_logs) for entry in entries])
    raise UnreplayableMessage("not a SessionGuard failure record or a Lambda on-failure record")


def _event(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnreplayableMessage(f"{name} is not a JSON object")
    return value


def _log_event(entry: dict[str, Any], context: dict[str, Any], session_logs: SessionLogReader | None) -> Any:
    """The parked log event of `entry` (a record, or an entry of one); `context` names its group and stream."""
    if "logEvent" in entry:
        return entry["logEvent"]
    if "logEventGzipBase64" in entry:
        try:
            # Capped as the function's own reader caps a subscription payload: a gzip bomb is refused, not inflated.
            raw = inflate(base64.b64decode(entry["logEventGzipBase64"], validate=True), "logEventGzipBase64")
            return json.loads(raw)
        except MalformedEvent as problem:
            raise UnreplayableMessage(problem.reason) from None
        except RecursionError:
            raise UnreplayableMessage(_TOO_DEEP) from None
        except (binascii.Error, ValueError, TypeError):
            raise UnreplayableMessage("logEventGzipBase64 does not decode") from None
    reference = entry.get("logEventReference")
    if isinstance(reference, dict) and isinstance(reference.get("id"), str) and type(reference.get("timestamp")) is int:
        if session_logs is None:
            raise UnreplayableMessage("the log event is a reference and no session log reader was given")
        found = session_logs.find_event(
            str(context.get("logGroup")), str(context.get("logStream")), reference["id"], reference["timestamp"]
        )
        if found is None:
            raise UnreplayableMessage("the referenced log event is no longer in the session log group")
        return found
    raise UnreplayableMessage("the record holds no log event and no usable reference")


def subscription_event(context: dict[str, Any], records: list[Any]) -> dict[str, Any]:
    """`{"awslogs": {"data": ...}}` holding `records`, as CloudWatch Logs would deliver them."""
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": context.get("owner"),
        "logGroup": context.get("logGroup"),
        "logStream": context.get("logStream"),
        "subscriptionFilters": context.get("subscriptionFilters") or [],
        "logEvents": records,
    }
    data = gzip.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8", "surrogatepass"), mtime=0)
    return {"awslogs": {"data": base64.b64encode(data).decode("ascii")}}


__all__ = [
    "MessageOutcome",
    "ReplayReport",
    "UnreplayableMessage",
    "invocation_event",
    "redrive_failure_queue",
    "subscription_event",
]
