"""DynamoDB: the alert state table. Noise-control decisions (`DynamoNoiseStore`, one conditional write each) and the
delivery ledger (`DeliveryLedger`, Powertools Idempotency records), both keyed by `id` and expiring by `expiration`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import ClientError

from sessionguard.adapters.aws import CLIENT_CONFIG, LazyClient, error_code
from sessionguard.alerting.noise import STATE_RETENTION_SECONDS, DeliveredButNotRecorded

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import (
        BasePersistenceLayer,
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoNoiseStore:
    """`noise.NoiseStore` on the alert state table (partition key `id`, TTL attribute `expiration`).

    Every decision is one conditional UpdateItem, so concurrent invocations cannot both win. DynamoDB deletes
    expired items lazily (up to days later), so each condition also treats `expiration < now` as absent.
    """

    _client: LazyClient[DynamoDBClient] = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        if client is not None:
            vars(self)["_client"] = client

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

# BatchGetItem reads at most 100 keys per call, BatchWriteItem writes at most 25 items; either may leave part of a
# request unprocessed under throttling, which is asked again a few times
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
_BATCH_GET_MAX: Final = 100
_BATCH_WRITE_MAX: Final = 25
_BATCH_ATTEMPTS: Final = 3


class UnprocessedItems(RuntimeError):
    """DynamoDB left part of a batch unprocessed after every attempt; the message is a count only."""


class DynamoTranscriptMarks:
    """Which session log events are in the sanitized transcript already: one item per event (key `id`, TTL
    attribute `expiration`) in the alert state table, read for a whole delivery with BatchGetItem and written
    after its lines with BatchWriteItem: two calls per delivery, where one conditional write per event would cost
    one call per event. The caller's keys are opaque (hashed, never session text)."""

    _client: LazyClient[DynamoDBClient] = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        if client is not None:
            vars(self)["_client"] = client

    def written(self, keys: Sequence[str], now: int) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(keys))  # BatchGetItem refuses a request that names a key twice
        for start in range(0, len(unique), _BATCH_GET_MAX):
            request: Mapping[str, Any] = {
                self.table_name: {
                    "Keys": [{"id": {"S": key}} for key in unique[start : start + _BATCH_GET_MAX]],
                    "ConsistentRead": True,
                }
            }
            for _ in range(_BATCH_ATTEMPTS):
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    # DynamoDB deletes expired items lazily: an expired mark counts as absent.
                    if int(item.get("expiration", {}).get("N", "0")) > now:
                        found.add(item["id"]["S"])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise UnprocessedItems("DynamoDB left transcript marks unread after every attempt")
        return found

    def mark(self, keys: Sequence[str], expires_at: int) -> None:
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_WRITE_MAX):
            request: Mapping[str, Any] = {
                self.table_name: [
                    {"PutRequest": {"Item": {"id": {"S": key}, "expiration": {"N": str(expires_at)}}}}
                    for key in unique[start : start + _BATCH_WRITE_MAX]
                ]
            }
            for _ in range(_BATCH_ATTEMPTS):
                request = self._client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
            if request:
                raise UnprocessedItems("DynamoDB left transcript marks unwritten after every attempt")


def idempotency_persistence(table_name: str, client: DynamoDBClient | None = None) -> DynamoDBPersistenceLayer:
    """Powertools Idempotency records in the same table (its defaults: key `id`, TTL attribute `expiration`)."""
    # Powertools Idempotency is imported when a ledger is first used, not with the module: a quiet delivery of the
    # session alert function never uses it (docs/performance.md, "Starting a function").
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

    return DynamoDBPersistenceLayer(
        table_name=table_name,
        boto3_client=client or boto3.client("dynamodb", config=CLIENT_CONFIG),
    )


class DeliveryLedger:
    """`Ledger` on Powertools Idempotency (`idempotent_function`, DynamoDB persistence).

    Powertools writes an INPROGRESS record before the action (a concurrent invocation with the same key gets
    IdempotencyAlreadyInProgressError and is retried), COMPLETED after it, and deletes the record when the
    action raises. With the Lambda context registered, an INPROGRESS record left by a timed-out invocation
    expires with that invocation, so its retry is not blocked. Keys are hashed: the table never holds session
    text, and records expire after STATE_RETENTION_SECONDS.

    When the action succeeded but the COMPLETED record could not be written, the delivery happened: raising would
    make Lambda retry the invocation and deliver it again for certain. The ledger writes the record once more and,
    if that fails too, raises DeliveredButNotRecorded, which callers count as delivered. Exactly once is not
    possible across SNS (or Slack) and DynamoDB; this keeps a duplicate to the rare case where the record is lost
    and the invocation is retried for another reason (docs/alerts.md, "Delivery is at least once").
    """

    KEY_PREFIX: Final = "sessionguard-delivery"

    def __init__(
        self,
        persistence: BasePersistenceLayer | Callable[[], BasePersistenceLayer],
        *,
        expires_after_seconds: int = STATE_RETENTION_SECONDS,
    ):
        """`persistence`, or what makes it on the first delivery (a quiet delivery never makes one: neither
        Powertools Idempotency nor a DynamoDB client is loaded at a cold start)."""
        self._expires_after_seconds = expires_after_seconds
        self._make_persistence = persistence if callable(persistence) else lambda: persistence
        self._context: LambdaContext | None = None

    @cached_property
    def config(self) -> IdempotencyConfig:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig  # noqa: PLC0415 - see above

        return IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self._expires_after_seconds,
        )

    @classmethod
    def on_table(cls, table_name: str) -> DeliveryLedger:
        """The ledger in the alert state table, its persistence made on first use."""
        return cls(partial(idempotency_persistence, table_name))

    @cached_property
    def _persistence(self) -> BasePersistenceLayer:
        return self._make_persistence()

    @cached_property
    def _run(self) -> Callable[..., Any]:
        from aws_lambda_powertools.utilities.idempotency import idempotent_function  # noqa: PLC0415 - see above

        return idempotent_function(  # type: ignore[no-any-return]
            data_keyword_argument="delivery",
            persistence_store=self._persistence,
            config=self.config,
            key_prefix=self.KEY_PREFIX,
        )(_run_delivery)

    def register_lambda_context(self, context: LambdaContext) -> None:
        """The invocation's context, registered with the Idempotency config before the next delivery."""
        self._context = context

    def once(self, key: str, action: Callable[[], object]) -> bool:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415 - see above
            IdempotencyPersistenceLayerError,
        )

        if self._context is not None:
            self.config.register_lambda_context(self._context)
        ran: list[bool] = []
        succeeded: list[bool] = []

        def run_and_note() -> None:
            ran.append(True)
            action()
            succeeded.append(True)

        delivery = {"key": key}
        try:
            self._run(delivery=delivery, action=run_and_note)
        except IdempotencyPersistenceLayerError:
            if not succeeded:
                raise  # nothing was delivered (or the failed action's record could not be deleted): retry it
            try:
                # The persistence layer was configured (key prefix, hashing) by the call above.
                self._persistence.save_success(data=delivery, result=_DELIVERED)
            except Exception as again:
                raise DeliveredButNotRecorded("delivered; the ledger could not record it") from again
        return bool(ran)


_DELIVERED: Final = {"delivered": True}


def _run_delivery(*, delivery: dict[str, str], action: Callable[[], None]) -> dict[str, bool]:
    """The idempotent unit: Powertools stores this small result, never the delivery's content."""
    action()
    return _DELIVERED
