"""Security Hub: importing findings in the AWS Security Finding Format (BatchImportFindings). A finding's `Id` is
stable per alert, so importing it again updates it instead of adding a second one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sessionguard.adapters.aws import LazyClient


class FindingsImporter(Protocol):
    def import_findings(self, findings: Sequence[dict[str, Any]]) -> dict[str, str]:
        """Import up to 100 findings; the ones Security Hub refused, finding id -> error code (a partial failure:
        BatchImportFindings answers 200 with FailedCount and FailedFindings). Throttling raises after botocore's
        own retries."""
        ...


class SecurityHubImporter:
    # boto3-stubs has no securityhub package in this project's pins: the client is untyped.
    _client: LazyClient[Any] = LazyClient("securityhub")

    def __init__(self, client: Any = None) -> None:
        if client is not None:
            vars(self)["_client"] = client

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> dict[str, str]:
        response = self._client.batch_import_findings(Findings=list(findings))
        return {
            str(failed.get("Id", "")): str(failed.get("ErrorCode") or "FailedFinding")
            for failed in response.get("FailedFindings", [])
        }
