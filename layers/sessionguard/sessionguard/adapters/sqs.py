"""SQS: the failure queue. Parking a record (the alert functions) and receiving and deleting them (replay).

moto is laxer than SQS about control characters in bodies; the callers keep within the real limits themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from sessionguard.adapters.aws import LazyClient, aws_client

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef


# SQS message size (the queue's MaximumMessageSize, set to the maximum in the template).
SQS_MAX_MESSAGE_BYTES: Final = 1_048_576


class FailureQueue(Protocol):
    def send(self, body: str) -> str: ...

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Park up to 10 records in one call (SendMessageBatch); raises when SQS refused any of them."""
        ...


class FailureQueueRefused(RuntimeError):
    """SQS refused messages of a batch; the message names counts and SQS error codes only."""


class SqsFailureQueue:
    _client: LazyClient[SQSClient] = LazyClient("sqs")

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        if client is not None:
            vars(self)["_client"] = client

    def send(self, body: str) -> str:
        """Park one record; its SQS message id."""
        return self._client.send_message(QueueUrl=self.queue_url, MessageBody=body).get("MessageId", "")

    def send_batch(self, bodies: Sequence[str]) -> None:
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies)
        ]
        for attempt in range(2):
            failed = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed", [])
            if not failed:
                return
            # A batch can succeed in part: entries SQS failed on its side are sent once more, the others not.
            by_id = {entry["Id"]: entry for entry in entries}
            retryable = [by_id[f["Id"]] for f in failed if not f.get("SenderFault") and f["Id"] in by_id]
            if attempt or len(retryable) < len(failed):
                break
            entries = retryable
        codes = sorted({f.get("Code", "") for f in failed})
        raise FailureQueueRefused(f"SQS refused {len(failed)} of {len(bodies)} messages ({', '.join(codes)})")


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    message_id: str
    receipt_handle: str
    body: str


class FailureQueueReader:
    """Receive and delete failure-queue messages (replay)."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client: SQSClient = client or aws_client("sqs")

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
