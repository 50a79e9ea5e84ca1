"""The session ledger's I/O: its DynamoDB table (`SessionTable`), SSM's DescribeSessions (`SsmSessionDirectory`)
and the transcript bucket (`read_transcript`). Decisions are `sessionguard.ledger`'s; these only read and write.

Table: partition key `session_id`; TTL attribute `expires_at`; a sparse index `Open` (partition `open`, sort
`first_seen`) holds only the sessions the reconciler must still look at, so a run reads those, not the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from sessionguard.adapters.aws import LazyClient, aws_client, error_code
from sessionguard.adapters.dynamodb import plain_item
from sessionguard.ledger.model import RECORD_TOTALS_PREFIX, SessionRecord, StreamDelivery, StreamTotals

# ledger.calls in annotations only: importing it loads the guardrail catalog, which the session alert function's
# cold start does not need (docs/performance.md, "Starting a function").
if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

    from sessionguard.ledger.calls import SessionCall, TranscriptObject

OPEN_INDEX: Final = "Open"
OPEN: Final = "open"
DESCRIBE_PAGE: Final = 200  # DescribeSessions' MaxResults ceiling
BATCH_GET_MAX: Final = 100  # BatchGetItem's keys per call
# The item that holds the reconciler's sweep checkpoint: a ':' never appears in a stream name (CloudWatch Logs
# refuses it), so no session the sweep finds can take this key.
SWEEP_KEY: Final = "sessionguard:delivery-record-sweep"


def _record(item: Mapping[str, Any]) -> SessionRecord:
    return SessionRecord.from_item(plain_item(item))


class SessionTable:
    """The ledger table. Every write is one UpdateItem; the stream's is conditional on the delivery's batch id."""

    _client: LazyClient[DynamoDBClient] = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        if client is not None:
            vars(self)["_client"] = client

    def _update(self, session_id: str, expression: str, values: dict[str, Any], **extra: Any) -> dict[str, Any]:
        answer = self._client.update_item(
            TableName=self.table_name,
            Key={"session_id": {"S": session_id}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            ReturnValues=extra.pop("ReturnValues", "ALL_NEW"),
            **extra,
        )
        return dict(answer.get("Attributes", {}))

    def record_call(self, call: SessionCall, now: int, expires_at: int) -> SessionRecord:
        """StartSession / ResumeSession set the start fields (a resume keeps the start's, adds one to `resumed`);
        TerminateSession sets the end. The session stays in the Open index for the reconciler."""
        common = {":now": {"N": str(now)}, ":exp": {"N": str(expires_at)}, ":open": {"S": OPEN}}
        base = "first_seen = if_not_exists(first_seen, :now), expires_at = :exp, #open = :open"
        if call.name == "TerminateSession":
            expression = f"SET {base}, ended_at = if_not_exists(ended_at, :t), end_source = :src"
            values = {**common, ":t": {"N": str(call.event_time or now)}, ":src": {"S": call.name}}
        else:
            fields = {
                "started_at": {"N": str(call.event_time or now)},
                "target": {"S": call.target},
                "document": {"S": call.document},
                "user_arn": {"S": call.user_arn},
                "identity_type": {"S": call.identity_type},
                "mfa": {"S": call.mfa},
                "source_ip": {"S": call.source_ip},
                "user_agent": {"S": call.user_agent},
                "started_via": {"S": call.started_via},
                "reason": {"S": call.reason},
                "start_event_id": {"S": call.event_id},
            }
            sets = ", ".join(f"{name} = if_not_exists({name}, :{name})" for name in fields)
            expression = f"SET {base}, {sets}"
            values = {**common, **{f":{name}": value for name, value in fields.items()}}
            if call.name == "ResumeSession":
                expression += " ADD resumed :one"
                values[":one"] = {"N": "1"}
        item = self._update(call.session_id, expression, values, ExpressionAttributeNames={"#open": "open"})
        return _record(item)

    def record_stream(self, delivery: StreamDelivery, now: int, expires_at: int) -> SessionRecord | None:
        """One conditional update per delivery: counts added, first/last event times kept, the batch id
        remembered so a retried delivery is not counted again (None then). Returns the session as it now is
        (its start fields give command alerts their context)."""
        expression = (
            "SET first_seen = if_not_exists(first_seen, :now), expires_at = :exp, #open = if_not_exists(#open, :open),"
            " stream_first = if_not_exists(stream_first, :first), stream_last = :last, last_batch = :batch,"
            " stream_user = if_not_exists(stream_user, :user), stream_target = if_not_exists(stream_target, :target)"
            " ADD stream_events :events, stream_lines :lines, plain_text_events :plain, forged_events :forged"
        )
        values = {
            ":now": {"N": str(now)},
            ":exp": {"N": str(expires_at)},
            ":open": {"S": OPEN},
            ":first": {"N": str(delivery.first_event)},
            ":last": {"N": str(delivery.last_event)},
            ":batch": {"S": delivery.batch_id},
            ":events": {"N": str(delivery.events)},
            ":lines": {"N": str(delivery.lines)},
            ":plain": {"N": str(delivery.plain_text_events)},
            ":forged": {"N": str(delivery.forged_events)},
            ":user": {"S": delivery.user_arn[:512]},
            ":target": {"S": delivery.instance_id[:128]},
        }
        try:
            item = self._update(
                delivery.session_id,
                expression,
                values,
                ConditionExpression="attribute_not_exists(last_batch) OR last_batch <> :batch",
                ExpressionAttributeNames={"#open": "open"},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return _record(item)

    def record_totals(self, session_id: str, totals: StreamTotals, now: int) -> bool:
        """SET the totals of the session's delivery records (`rec_*`; the legacy `stream_*` counts stay as they
        are). Idempotent: the totals are recomputed from all the records each time. Never lowers them: a read that
        saw fewer batches than the item holds (a concurrent, later read wrote first) leaves the item alone (False).
        Only on an existing item: the ledger never creates one from a read."""
        values = {f":{name}": _typed(value) for name, value in totals.to_item().items()}
        sets = ", ".join(f"{name} = :{name}" for name in totals.to_item())
        try:
            self._update(
                session_id,
                f"SET {sets}, records_read_at = :now, records_seen = if_not_exists(records_seen, :now)",
                {**values, ":now": {"N": str(now)}},
                ConditionExpression=(
                    f"attribute_exists(session_id) AND (attribute_not_exists({RECORD_TOTALS_PREFIX}batches)"
                    f" OR {RECORD_TOTALS_PREFIX}batches <= :{RECORD_TOTALS_PREFIX}batches)"
                ),
                ReturnValues="NONE",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def open_for_records(self, session_ids: list[str], now: int, expires_at: int) -> None:
        """Into the Open index, so the reconciler reads their records: streams the sweep found that no item knows
        (created here, as the subscription's update did before) or whose session was let go before these records
        came."""
        for session_id in session_ids:
            self._update(
                session_id,
                "SET first_seen = if_not_exists(first_seen, :now), expires_at = if_not_exists(expires_at, :exp),"
                " #open = :open, records_seen = if_not_exists(records_seen, :now)",
                {":now": {"N": str(now)}, ":exp": {"N": str(expires_at)}, ":open": {"S": OPEN}},
                ExpressionAttributeNames={"#open": "open"},
                ReturnValues="NONE",
            )

    def open_states(self, session_ids: list[str]) -> dict[str, tuple[bool, int]]:
        """Session id -> (in the Open index, `records_read_at`) of those that have an item; 100 per BatchGetItem."""
        states: dict[str, tuple[bool, int]] = {}
        for start in range(0, len(session_ids), BATCH_GET_MAX):
            keys: list[Any] = [{"session_id": {"S": sid}} for sid in session_ids[start : start + BATCH_GET_MAX]]
            while keys:
                request: Any = {
                    "Keys": keys,
                    "ConsistentRead": True,
                    "ProjectionExpression": "session_id, #open, records_read_at",
                    "ExpressionAttributeNames": {"#open": "open"},
                }
                answer: dict[str, Any] = dict(self._client.batch_get_item(RequestItems={self.table_name: request}))
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    plain = plain_item(item)
                    states[str(plain["session_id"])] = ("open" in plain, int(plain.get("records_read_at", 0)))
                keys = list(answer.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", []))
        return states

    def sweep_checkpoint(self) -> tuple[int, int]:
        """Where the last complete sweep of delivery records ended (epoch ms, 0 before the first) and the window
        the next one reads (seconds, 0 before the first)."""
        item = self._client.get_item(
            TableName=self.table_name, Key={"session_id": {"S": SWEEP_KEY}}, ConsistentRead=True
        ).get("Item")
        plain = plain_item(item) if item else {}
        return int(plain.get("swept_to", 0)), int(plain.get("window", 0))

    def set_sweep_checkpoint(self, swept_to_ms: int, window_s: int) -> None:
        self._update(
            SWEEP_KEY,
            "SET swept_to = :to, #window = :window",
            {":to": {"N": str(swept_to_ms)}, ":window": {"N": str(window_s)}},
            ExpressionAttributeNames={"#window": "window"},
            ReturnValues="NONE",
        )

    def record_transcript(self, obj: TranscriptObject, now: int, expires_at: int) -> SessionRecord | None:
        """The object's key, size and version; the session as it was before (None when this version is already
        recorded: a repeated notification)."""
        expression = (
            "SET first_seen = if_not_exists(first_seen, :now), expires_at = :exp, transcript_key = :key,"
            " transcript_size = :size, transcript_version = :version, transcript_at = :at ADD transcript_versions :one"
        )
        values = {
            ":now": {"N": str(now)},
            ":exp": {"N": str(expires_at)},
            ":key": {"S": obj.key},
            ":size": {"N": str(obj.size)},
            ":version": {"S": obj.version_id or "null"},
            ":at": {"N": str(obj.event_time or now)},
            ":one": {"N": "1"},
        }
        try:
            item = self._update(
                obj.session_id,
                expression,
                values,
                ConditionExpression="attribute_not_exists(transcript_version) OR transcript_version <> :version",
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return _record(item) if item else SessionRecord(session_id=obj.session_id)

    def add_findings(self, session_id: str, finding_ids: list[str], alerts: int = 0) -> None:
        if not finding_ids and not alerts:
            return
        expression = "ADD alerts :alerts"
        values: dict[str, Any] = {":alerts": {"N": str(alerts)}}
        if finding_ids:
            expression += ", findings :ids"
            values[":ids"] = {"SS": sorted(set(finding_ids))}
        self._update(session_id, expression, values, ReturnValues="NONE")

    def close(self, session_id: str, ended_at: int) -> None:
        self._update(
            session_id,
            "SET ended_at = if_not_exists(ended_at, :t), end_source = if_not_exists(end_source, :src)",
            {":t": {"N": str(ended_at)}, ":src": {"S": "DescribeSessions"}},
            ReturnValues="NONE",
        )

    def settle(self, session_id: str) -> None:
        """Out of the Open index: the reconciler is done with the session."""
        self._client.update_item(
            TableName=self.table_name,
            Key={"session_id": {"S": session_id}},
            UpdateExpression="REMOVE #open",
            ExpressionAttributeNames={"#open": "open"},
        )

    def get(self, session_id: str) -> SessionRecord | None:
        item = self._client.get_item(
            TableName=self.table_name, Key={"session_id": {"S": session_id}}, ConsistentRead=True
        ).get("Item")
        return _record(item) if item else None

    def open_sessions(self, limit: int) -> list[SessionRecord]:
        """The sessions still open, oldest first, at most `limit` (the rest wait for the next run)."""
        records: list[SessionRecord] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": OPEN_INDEX,
            "KeyConditionExpression": "#open = :open",
            "ExpressionAttributeNames": {"#open": "open"},
            "ExpressionAttributeValues": {":open": {"S": OPEN}},
        }
        while len(records) < limit:
            page = self._client.query(**request, Limit=min(limit - len(records), BATCH_GET_MAX))
            # The index projects keys only (so the subscription function's updates never write to it): read the
            # items whole, up to 100 per BatchGetItem call.
            records += self._items([str(item["session_id"]["S"]) for item in page.get("Items", [])])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records

    def sessions(self, session_ids: list[str]) -> list[SessionRecord]:
        """The items of these sessions (those that exist), in that order; 100 per BatchGetItem."""
        found: list[SessionRecord] = []
        for start in range(0, len(session_ids), BATCH_GET_MAX):
            found += self._items(session_ids[start : start + BATCH_GET_MAX])
        return found

    def _items(self, session_ids: list[str]) -> list[SessionRecord]:
        keys: list[Any] = [{"session_id": {"S": session_id}} for session_id in session_ids]
        found: list[SessionRecord] = []
        while keys:
            answer: dict[str, Any] = dict(
                self._client.batch_get_item(RequestItems={self.table_name: {"Keys": keys, "ConsistentRead": True}})
            )
            found += [_record(item) for item in answer.get("Responses", {}).get(self.table_name, [])]
            # Keys DynamoDB did not get to (throughput) are asked again; a failing call fails the run.
            keys = list(answer.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", []))
        order = {session_id: index for index, session_id in enumerate(session_ids)}
        return sorted(found, key=lambda record: order.get(record.session_id, 0))

    def all_sessions(self, limit: int) -> Iterator[SessionRecord]:
        """Every session in the table (for `sessionguard sessions`), at most `limit`."""
        request: dict[str, Any] = {"TableName": self.table_name}
        seen = 0
        while seen < limit:
            page = self._client.scan(**request)
            for item in page.get("Items", [])[: limit - seen]:
                if item["session_id"].get("S") == SWEEP_KEY:
                    continue
                seen += 1
                yield _record(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class SsmSessionDirectory:
    """DescribeSessions, paginated and bounded: a run reads at most `max_pages` pages of each state."""

    def __init__(self, client: SSMClient | None = None, max_pages: int = 10) -> None:
        self._client: SSMClient = client or aws_client("ssm")
        self.max_pages = max_pages
        self.calls = 0

    def _sessions(self, state: str, filters: list[dict[str, str]]) -> Iterator[Mapping[str, Any]]:
        request: dict[str, Any] = {"State": state, "MaxResults": DESCRIBE_PAGE}
        if filters:
            request["Filters"] = filters
        for _ in range(self.max_pages):
            self.calls += 1
            page = self._client.describe_sessions(**request)
            yield from page.get("Sessions", [])
            token = page.get("NextToken")
            if not token:
                return
            request["NextToken"] = token

    def active_ids(self) -> set[str]:
        return {str(s.get("SessionId", "")) for s in self._sessions("Active", [])}

    def history_ends(self, invoked_after: int) -> dict[str, int]:
        """Session id -> EndDate (epoch seconds, 0 when absent) of sessions started after `invoked_after`."""
        after = datetime.fromtimestamp(invoked_after, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ends: dict[str, int] = {}
        for session in self._sessions("History", [{"key": "InvokedAfter", "value": after}]):
            end = session.get("EndDate")
            ends[str(session.get("SessionId", ""))] = int(end.timestamp()) if isinstance(end, datetime) else 0
        return ends


def _typed(value: int | str) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, int) else {"S": value}


def read_transcript(bucket: str, key: str, version_id: str, max_bytes: int, client: S3Client | None = None) -> bytes:
    """The first `max_bytes` of one version of a transcript object (decrypted by S3 with the stack's key)."""
    s3: S3Client = client or aws_client("s3")
    request: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes=0-{max_bytes - 1}"}
    if version_id and version_id != "null":
        request["VersionId"] = version_id
    return s3.get_object(**request)["Body"].read(max_bytes)


__all__ = ["OPEN_INDEX", "SessionTable", "SsmSessionDirectory", "read_transcript"]
