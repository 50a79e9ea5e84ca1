"""Session Manager: ending a live session (TerminateSession), the optional response to a severe alert."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import boto3

from sessionguard.adapters.aws import CLIENT_CONFIG

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


class SessionTerminator(Protocol):
    def terminate(self, session_id: str) -> None:
        """End the session; raises on failure (an AWS error code names it)."""
        ...


class SsmSessionTerminator:
    def __init__(self, client: SSMClient | None = None) -> None:
        self._client: SSMClient = client or boto3.client("ssm", config=CLIENT_CONFIG)

    def terminate(self, session_id: str) -> None:
        # Terminating a session that has ended already succeeds (Session Manager answers with its id).
        self._client.terminate_session(SessionId=session_id)
