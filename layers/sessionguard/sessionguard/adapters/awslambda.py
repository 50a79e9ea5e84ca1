"""Lambda: invoking the alert function asynchronously when replaying the failure queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sessionguard.adapters.aws import aws_client

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class FunctionInvoker(Protocol):
    def invoke(self, function_name: str, payload: bytes) -> int: ...


class LambdaInvoker:
    def __init__(self, client: LambdaClient | None = None) -> None:
        self._client: LambdaClient = client or aws_client("lambda")

    def invoke(self, function_name: str, payload: bytes) -> int:
        """Invoke asynchronously, as CloudWatch Logs does, so the function's retries and on-failure destination
        apply to the replay too; the HTTP status (202 when Lambda queued the event)."""
        response = self._client.invoke(FunctionName=function_name, InvocationType="Event", Payload=payload)
        return int(response.get("StatusCode", 0))
