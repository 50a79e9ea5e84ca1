"""DynamoDB: the alert state table and the sessions' alert claims. Noise-control decisions (`DynamoNoiseStore`, one
conditional write each) and the delivery ledger (`DeliveryLedger`, Powertools Idempotency records) of the guardrail
and session ledger functions, keyed by `id` and expiring by `expiration`; the subscription function's claims
(`SessionClaims`, one item per session) and its reader of the records the previous version wrote
(`PreviousDeliveryRecords`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from functools import cache, cached_property, partial
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from sessionguard.adapters.aws import LazyClient, aws_client, error_code
from sessionguard.alerting.claims import ADMITTED, DONE_PREFIX, ClaimWrite, DeliveredElsewhere
from sessionguard.alerting.noise import STATE_RETENTION_SECONDS, DeliveredButNotRecorded, state_key

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import (
        BasePersistenceLayer,
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from boto3.dynamodb.types import TypeDeserializer
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


@cache
def _deserializer() -> TypeDeserializer:
    """boto3's DynamoDB type deserializer, imported on first use: importing any of boto3 imports all of it, which a
    quiet delivery never needs (sdk_session)."""
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    return TypeDeserializer()


class SessionClaims:
    """The item that holds one session's alert claims (`alerting.claims`): the session ledger's item when the stack
    has the ledger (`on_ledger`: the claim's answer then carries the session's start), else `session#<id>` in the
    alert state table (`on_state_table`). Three calls, each one UpdateItem or GetItem:

    - `claim`: the conditional write that claims a delivery's alerts, with its window and cap decisions; the item
      as it is after it (ReturnValues ALL_NEW), or as it was when the condition failed (ALL_OLD on failure), so
      that one more write settles a conflict;
    - `read`: what a batch recorded (for a retry of a delivery that raises no alert);
    - `record`: on a failure path only, what a batch delivered, its leases released.
    """

    _client: LazyClient[DynamoDBClient] = LazyClient("dynamodb")

    def __init__(
        self,
        table_name: str,
        *,
        key_attribute: str,
        expiry_attribute: str,
        retention_seconds: int,
        key_of: Callable[[str], str] = str,
        is_ledger: bool = False,
        client: DynamoDBClient | None = None,
    ) -> None:
        self.table_name = table_name
        self.key_attribute = key_attribute
        self.expiry_attribute = expiry_attribute
        self.retention_seconds = retention_seconds
        self.key_of = key_of
        # The ledger's item is a session record (its start gives alerts their context), and its expiry is the
        # ledger's to set (its retention): a claim only gives a new item one.
        self.is_ledger = is_ledger
        if client is not None:
            vars(self)["_client"] = client

    @classmethod
    def on_ledger(cls, table_name: str, retention_seconds: int) -> SessionClaims:
        return cls(
            table_name,
            key_attribute="session_id",
            expiry_attribute="expires_at",
            retention_seconds=retention_seconds,
            is_ledger=True,
        )

    @classmethod
    def on_state_table(cls, table_name: str) -> SessionClaims:
        return cls(
            table_name,
            key_attribute="id",
            expiry_attribute="expiration",
            retention_seconds=STATE_RETENTION_SECONDS,
            key_of=lambda session_id: state_key("session", session_id),
        )

    def _key(self, session_id: str) -> dict[str, Any]:
        return {self.key_attribute: {"S": self.key_of(session_id)}}

    def _expiry(self, names: dict[str, str], values: dict[str, Any], now: int) -> str:
        names["#expiry"] = self.expiry_attribute
        values[":expiry"] = {"N": str(now + self.retention_seconds)}
        return "#expiry = if_not_exists(#expiry, :expiry)" if self.is_ledger else "#expiry = :expiry"

    def _update(
        self, session_id: str, update: str, names: dict[str, str], values: dict[str, Any], conditions: list[str]
    ) -> dict[str, Any]:
        """An UpdateItem request on the session's item, conditional when `conditions` are given."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(session_id),
            "UpdateExpression": update,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if conditions:
            request["ConditionExpression"] = " AND ".join(conditions)
        return request

    def claim(self, session_id: str, write: ClaimWrite, now: int) -> tuple[bool, dict[str, Any]]:
        """(whether the write was made, the item after it or as it was when its condition failed)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        placeholders: dict[str, str] = {}

        def name(attribute: str) -> str:
            if attribute not in placeholders:
                placeholders[attribute] = f"#a{len(placeholders)}"
                names[placeholders[attribute]] = attribute
            return placeholders[attribute]

        sets = [f"{name(attribute)} = :s{i}" for i, attribute in enumerate(write.sets)]
        values |= {f":s{i}": {"S": value} for i, value in enumerate(write.sets.values())}
        sets.append(self._expiry(names, values, now))
        update = "SET " + ", ".join(sets)
        if write.admit:
            update += f" ADD {name(ADMITTED)} :admit"
            values[":admit"] = {"SS": sorted(write.admit)}
        conditions = [f"attribute_not_exists({name(attribute)})" for attribute in sorted(write.absent)]
        for i, (attribute, value) in enumerate(sorted(write.equal.items())):
            conditions.append(f"{name(attribute)} = :e{i}")
            values[f":e{i}"] = {"S": value}
        if write.admitted_at_most is not None:
            conditions.append(f"(attribute_not_exists({name(ADMITTED)}) OR size({name(ADMITTED)}) <= :room)")
            values[":room"] = {"N": str(write.admitted_at_most)}
        request = self._update(session_id, update, names, values, conditions)
        request["ReturnValues"] = "ALL_NEW"
        if conditions:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            answer = self._client.update_item(**request)
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return False, plain_item(error.response.get("Item", {}))  # type: ignore[arg-type]
        return True, plain_item(answer.get("Attributes", {}))

    def read(self, session_id: str, batch: str) -> dict[str, Any]:
        """What `batch` (a digest) recorded on the session's item, consistently read."""
        attribute = DONE_PREFIX + batch
        item = self._client.get_item(
            TableName=self.table_name,
            Key=self._key(session_id),
            ConsistentRead=True,
            ProjectionExpression="#done",
            ExpressionAttributeNames={"#done": attribute},
        ).get("Item", {})
        return plain_item(item)

    def record(
        self, session_id: str, batch: str, delivered: Collection[str], released: Mapping[str, tuple[str, str]], now: int
    ) -> None:
        """Add `delivered` (digests) to what `batch` delivered and release its leases (claim attribute -> (its lease
        now, the lease released)); a lease another attempt has taken since is left to it."""
        if not delivered and not released:
            return
        names = {"#done": DONE_PREFIX + batch}
        values: dict[str, Any] = {}
        sets = [self._expiry(names, values, now)]
        conditions = []
        for i, (attribute, (held, ended)) in enumerate(sorted(released.items())):
            names[f"#c{i}"] = attribute
            values |= {f":h{i}": {"S": held}, f":r{i}": {"S": ended}}
            sets.append(f"#c{i} = :r{i}")
            conditions.append(f"#c{i} = :h{i}")
        update = "SET " + ", ".join(sets)
        if delivered:
            update += " ADD #done :done"
            values[":done"] = {"SS": sorted(delivered)}
        else:
            del names["#done"]
        try:
            self._client.update_item(**self._update(session_id, update, names, values, conditions))
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            self.record(session_id, batch, delivered, {}, now)  # another attempt holds a lease: record only


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values: numbers as int, sets as sets of str."""
    deserializer = _deserializer()
    values = {name: deserializer.deserialize(value) for name, value in item.items()}
    return {name: int(value) if isinstance(value, Decimal) else value for name, value in values.items()}


class PreviousDeliveryRecords:
    """`claims.LegacyRecords`: the delivery records the previous version of the subscription function wrote
    (Powertools Idempotency through `DeliveryLedger`, one item per delivery key, kept 14 days), read one by one on
    the rare path of a delivery that may be a retry of one that version began."""

    _client: LazyClient[DynamoDBClient] = LazyClient("dynamodb")

    def __init__(self, table_name: str, clock: Callable[[], float], client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.clock = clock
        if client is not None:
            vars(self)["_client"] = client

    def delivered(self, key: str) -> bool:
        item = self._client.get_item(
            TableName=self.table_name, Key={"id": {"S": DeliveryLedger.record_id(key)}}, ConsistentRead=True
        ).get("Item", {})
        record = plain_item(item)
        now = self.clock()
        status = record.get("status")
        if status == "COMPLETED":
            return int(record.get("expiration", 0)) > now
        if status == "INPROGRESS" and int(record.get("in_progress_expiration", 0)) > now * 1000:
            raise DeliveredElsewhere("the previous version may still be delivering this key")
        return False


def idempotency_persistence(table_name: str, client: DynamoDBClient | None = None) -> DynamoDBPersistenceLayer:
    """Powertools Idempotency records in the same table (its defaults: key `id`, TTL attribute `expiration`)."""
    # Powertools Idempotency is imported when a ledger is first used, not with the module: a quiet delivery of the
    # session alert function never uses it (docs/performance.md, "Starting a function").
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

    return DynamoDBPersistenceLayer(
        table_name=table_name,
        boto3_client=client or aws_client("dynamodb"),
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
    def record_id(cls, key: str) -> str:
        """The id of `key`'s record: Powertools hashes the key (`event_key_jmespath="key"`) as JSON with MD5."""
        hashed = hashlib.md5(json.dumps(key, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
        return f"{cls.KEY_PREFIX}#{hashed}"

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
