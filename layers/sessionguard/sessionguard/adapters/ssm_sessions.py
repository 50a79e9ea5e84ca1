"""Session Manager: ending a live session (TerminateSession), the optional response to a severe alert."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sessionguard.adapters.aws import LazyClient

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


class SessionTerminator(Protocol):
    def terminate(self, session_id: str) -> None:
        """End the session; raises on failure (an AWS error code names it)."""
        ...


class SsmSessionTerminator:
    _client: LazyClient[SSMClient] = LazyClient("ssm")

    def __init__(self, client: SSMClient | None = None) -> None:
        if client is not None:
            vars(self)["_client"] = client

    def terminate(self, session_id: str) -> None:
        # Terminating a session that has ended already succeeds (Session Manager answers with its id).
        self._client.terminate_session(SessionId=session_id)
