"""SQS: the failure queue. Parking a record (the alert functions) and receiving and deleting them (replay).

moto is laxer than SQS about control characters in bodies; the callers keep within the real limits themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

import boto3

from sessionguard.adapters.aws import CLIENT_CONFIG

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


# SQS message size (the queue's MaximumMessageSize, set to the maximum in the template).
SQS_MAX_MESSAGE_BYTES: Final = 1_048_576


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
