"""`sessionguard replay-dlq` against poison messages in the failure queue (issue #13, item 9): a message nested
too deep for the JSON parser, a gzip bomb in `logEventGzipBase64`. Each is skipped with its reason, and the good
messages around it are still replayed. moto plays SQS; the invoker records what would reach Lambda."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sessionguard.alerting.replay import redrive_failure_queue
from sessionguard.session.records import MAX_DECOMPRESSED_BYTES

EVENTS = Path(__file__).resolve().parents[2] / "events"
ON_FAILURE_RECORD = json.loads((EVENTS / "alerts-lambda-on-failure.json").read_text())
SESSION_GROUP = "/aws/ssm/sessionguard/sessions"


@dataclass
class RecordingInvoker:
    payloads: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, function_name: str, payload: bytes) -> int:
        self.payloads.append(json.loads(payload))
        return 202


@pytest.fixture
def queue_url() -> Iterator[str]:
    with mock_aws():
        sqs = boto3.client("sqs")
        # As the template declares the failure queue: messages up to 1 MiB.
        yield sqs.create_queue(QueueName="sessionguard-alert-failures", Attributes={"MaximumMessageSize": "1048576"})[
            "QueueUrl"
        ]


def send(queue_url: str, *bodies: str) -> None:
    for body in bodies:
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)


def parked_record(**log_event: Any) -> dict[str, Any]:
    """A `malformed-log-event` record as the session alerts function parks it."""
    return {
        "sessionguard": "malformed-log-event",
        "version": 1,
        "reason": "message is not JSON",
        "owner": "123456789012",
        "logGroup": SESSION_GROUP,
        "logStream": "jane.roe-0b7e9d1c4a2f8e6d5",
        "subscriptionFilters": ["sessionguard-session-alerts"],
        **log_event,
    }


def outcomes(report: Any) -> list[tuple[str, str]]:
    return sorted((o.outcome, o.reason) for o in report.outcomes)


def test_a_message_nested_too_deep_is_skipped_and_the_rest_replayed(queue_url: str) -> None:
    nested = '{"sessionguard": "malformed-log-event", "logEvent": ' + "[" * 200_000 + "]" * 200_000 + "}"
    assert 400_000 < len(nested) < 1_048_576
    send(queue_url, nested, json.dumps(ON_FAILURE_RECORD))
    invoker = RecordingInvoker()

    report = redrive_failure_queue(queue_url, "sessionguard-alerts", invoker=invoker)

    assert outcomes(report) == [
        ("replayed", ""),
        ("skipped", "the message is JSON nested deeper than this reader reads"),
    ]
    assert invoker.payloads == [ON_FAILURE_RECORD["requestPayload"]]


def test_a_gzip_bomb_in_the_parked_log_event_is_skipped_without_inflating_it(queue_url: str) -> None:
    record = {"id": "37170000000000000000000000000000000000000000000000000000", "timestamp": 1, "message": ""}
    bomb = json.dumps(record).replace('""', '"' + "A" * (4 * MAX_DECOMPRESSED_BYTES) + '"')
    packed = base64.b64encode(gzip.compress(bomb.encode(), mtime=0)).decode()
    assert len(packed) < 100_000
    send(queue_url, json.dumps(parked_record(logEventGzipBase64=packed)), json.dumps(ON_FAILURE_RECORD))
    invoker = RecordingInvoker()

    report = redrive_failure_queue(queue_url, "sessionguard-alerts", invoker=invoker)

    reason = f"logEventGzipBase64 decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"
    assert outcomes(report) == [("replayed", ""), ("skipped", reason)]
    assert invoker.payloads == [ON_FAILURE_RECORD["requestPayload"]]


def test_a_parked_reference_of_the_wrong_type_is_skipped(queue_url: str) -> None:
    reference = {"id": ["37170000000000000000000000000000000000000000000000000000"], "timestamp": 1}
    send(queue_url, json.dumps(parked_record(logEventReference=reference)), json.dumps(ON_FAILURE_RECORD))

    report = redrive_failure_queue(queue_url, "sessionguard-alerts", invoker=RecordingInvoker())

    assert outcomes(report) == [("replayed", ""), ("skipped", "the record holds no log event and no usable reference")]


def test_a_parked_log_event_of_ordinary_size_still_replays(queue_url: str) -> None:
    record = {"id": "37170000000000000000000000000000000000000000000000000000", "timestamp": 1, "message": "{"}
    packed = base64.b64encode(gzip.compress(json.dumps(record).encode(), mtime=0)).decode()
    send(queue_url, json.dumps(parked_record(logEventGzipBase64=packed)))
    invoker = RecordingInvoker()

    report = redrive_failure_queue(queue_url, "sessionguard-alerts", invoker=invoker)

    assert outcomes(report) == [("replayed", "")]
    (payload,) = invoker.payloads
    replayed = json.loads(gzip.decompress(base64.b64decode(payload["awslogs"]["data"])))
    assert replayed["logEvents"] == [record]
