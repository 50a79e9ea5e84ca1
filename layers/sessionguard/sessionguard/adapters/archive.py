"""Reading the session archives directly: transcripts in S3 and session log streams in CloudWatch Logs; and
starting the organisation-wide hunt over them (`HuntLauncher`).

Used by `sessionguard scan s3://… | logs://…`, `sessionguard replay` and the hunt's batch function. Objects are
listed page by page and read as streams, chunk by chunk, into memory up to a size limit: nothing is copied to disk
and a listing of a million keys is never held whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.config import Config

from sessionguard.adapters.aws import aws_client

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

# An archive read is a batch job, not an alert path: longer reads, more retries (with adaptive client-side rate
# limiting, so that many parallel readers back off together on throttling).
ARCHIVE_CLIENT_CONFIG: Final = Config(
    connect_timeout=5, read_timeout=30, retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=32
)
_CHUNK_BYTES: Final = 1024 * 1024


class ObjectTooLarge(ValueError):
    """An object bigger than the reader's limit; its key names it, never its content."""


@dataclass(frozen=True, slots=True)
class ArchiveObject:
    key: str
    size: int
    last_modified: datetime
    etag: str = ""


@dataclass(frozen=True, slots=True)
class ArchivedLogEvent:
    event_id: str
    timestamp: int  # milliseconds since the epoch
    message: str


class S3Archive:
    def __init__(self, client: S3Client | None = None) -> None:
        self._client: S3Client = client or aws_client("s3", ARCHIVE_CLIENT_CONFIG)

    def list_objects(
        self, bucket: str, prefix: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[ArchiveObject]:
        """The objects under `prefix`, in key order, last modified within [since, until)."""
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                modified = item["LastModified"]
                if (since is not None and modified < since) or (until is not None and modified >= until):
                    continue
                yield ArchiveObject(item["Key"], int(item.get("Size", 0)), modified, item.get("ETag", "").strip('"'))

    def read_object(self, bucket: str, key: str, limit: int) -> bytes:
        """The object's bytes, streamed; more than `limit` bytes raises ObjectTooLarge without reading on."""
        body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
        data = bytearray()
        try:
            for chunk in body.iter_chunks(_CHUNK_BYTES):
                data += chunk
                if len(data) > limit:
                    raise ObjectTooLarge(f"larger than {limit} bytes")
        finally:
            body.close()
        return bytes(data)

    def write_object(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


class LogsArchive:
    def __init__(self, client: CloudWatchLogsClient | None = None) -> None:
        self._client: CloudWatchLogsClient = client or aws_client("logs", ARCHIVE_CLIENT_CONFIG)

    def list_streams(self, group: str, prefix: str, *, since_ms: int | None = None) -> Iterator[tuple[str, int]]:
        """(stream name, stored bytes) of the group's streams whose name starts with `prefix` and whose last event
        is not older than `since_ms`."""
        kwargs: dict[str, Any] = {"logGroupName": group}
        if prefix:
            kwargs["logStreamNamePrefix"] = prefix
        paginator = self._client.get_paginator("describe_log_streams")
        for page in paginator.paginate(**kwargs):
            for stream in page.get("logStreams", []):
                last = stream.get("lastEventTimestamp")
                if since_ms is not None and isinstance(last, int) and last < since_ms:
                    continue
                yield stream["logStreamName"], int(stream.get("storedBytes", 0) or 0)

    def read_stream(self, group: str, stream: str, *, since_ms: int | None = None) -> Iterator[ArchivedLogEvent]:
        """The stream's events in order, page by page."""
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamNames": [stream]}
        if since_ms is not None:
            kwargs["startTime"] = since_ms
        paginator = self._client.get_paginator("filter_log_events")
        for page in paginator.paginate(**kwargs):
            for event in page.get("events", []):
                yield ArchivedLogEvent(str(event.get("eventId", "")), int(event.get("timestamp", 0)), event["message"])


class HuntLauncher:
    """`sessionguard hunt`: the stack's outputs, the hunt's rules file into the results bucket, the execution."""

    def __init__(self) -> None:
        self._s3: S3Client = aws_client("s3", ARCHIVE_CLIENT_CONFIG)
        self._sfn: SFNClient = aws_client("stepfunctions", ARCHIVE_CLIENT_CONFIG)
        self._cloudformation: CloudFormationClient = aws_client("cloudformation", ARCHIVE_CLIENT_CONFIG)

    def stack_outputs(self, stack: str) -> dict[str, str]:
        stacks = self._cloudformation.describe_stacks(StackName=stack)["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", []) if "OutputKey" in o}

    def upload(self, bucket: str, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/yaml")

    def start(self, state_machine_arn: str, name: str, execution_input: dict[str, Any]) -> str:
        response = self._sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input)
        )
        return response["executionArn"]
