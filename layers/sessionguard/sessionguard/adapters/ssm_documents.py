"""The SSM calls behind the Session Manager preferences custom resource, returning plain data.

Tested against moto 5 (`mock_aws`), which models these calls closely enough that no fake is needed:
create_document makes version 1 the default, update_document adds a version without moving the default,
update_document_default_version moves it, and a duplicate of an existing version's content raises
DuplicateDocumentContent. moto compares against every version; AWS documents only "matches another document"
— callers must not assume the duplicate is the latest version (preferences.py searches for it).

delete_document with DocumentVersion deletes that one version (the service model: "If not provided, all
versions of the document are deleted"); the default version cannot be deleted (InvalidDocumentOperation, in
moto too) and a missing version is InvalidDocument. moto then recomputes LatestVersion by sorting the version
strings (wrong past version 9) and numbers the next version latest + 1, reusing deleted numbers; callers read
LatestVersion from describe_document and tolerate gaps, so they depend on neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from botocore.config import Config
from botocore.exceptions import ClientError

from sessionguard.adapters.aws import aws_client, error_code

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

# Bounded calls: a custom resource that hangs in an SSM call must still answer CloudFormation before the
# Lambda timeout. Worst case per call ≈ 3 attempts x (5 s connect + 10 s read) plus standard-mode backoff.
SSM_CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=10,
    retries={"max_attempts": 3, "mode": "standard"},
)

SESSION_DOCUMENT_TYPE: Final = "Session"
_NOT_FOUND = "InvalidDocument"
# DeleteDocument's model lists InvalidDocument for a missing document or version; InvalidDocumentVersion ("isn't
# valid or doesn't exist", UpdateDocumentDefaultVersion's answer) is accepted too, as it means the same here.
_VERSION_NOT_FOUND = frozenset({_NOT_FOUND, "InvalidDocumentVersion"})


@dataclass(frozen=True)
class DocumentState:
    """What describe_document says about a document (its default version, not its content)."""

    name: str
    document_type: str
    default_version: str
    latest_version: str


class DocumentAlreadyExistsError(Exception):
    """create_document lost a race: the document appeared after we looked."""


class SessionDocuments:
    """Create, version, read and delete SSM Session documents by name."""

    def __init__(self, client: SSMClient | None = None) -> None:
        self._client: SSMClient = client or aws_client("ssm", SSM_CLIENT_CONFIG)

    def describe(self, name: str) -> DocumentState | None:
        """The document's type and versions, or None if it does not exist."""
        try:
            description = self._client.describe_document(Name=name)["Document"]
        except ClientError as error:
            if error_code(error) == _NOT_FOUND:
                return None
            raise
        return DocumentState(
            name=description.get("Name", name),
            document_type=description.get("DocumentType", ""),
            default_version=description.get("DefaultVersion", ""),
            latest_version=description.get("LatestVersion", ""),
        )

    def version_exists(self, name: str, version: str) -> bool:
        try:
            self._client.describe_document(Name=name, DocumentVersion=version)
        except ClientError as error:
            if error_code(error) == _NOT_FOUND:
                return False
            raise
        return True

    def get_content(self, name: str, version: str | None = None) -> str | None:
        """JSON content of one version (the default if version is None), or None if it does not exist.

        DocumentFormat=JSON makes SSM convert a YAML document, so callers can always json.loads the result.
        """
        try:
            if version is None:
                document = self._client.get_document(Name=name, DocumentFormat="JSON")
            else:
                document = self._client.get_document(Name=name, DocumentVersion=version, DocumentFormat="JSON")
        except ClientError as error:
            if error_code(error) == _NOT_FOUND:
                return None
            raise
        return document.get("Content", "")

    def create(self, name: str, content: str) -> DocumentState:
        """Create the document; its version 1 is the default."""
        try:
            description = self._client.create_document(
                Name=name,
                Content=content,
                DocumentType=SESSION_DOCUMENT_TYPE,
                DocumentFormat="JSON",
            )["DocumentDescription"]
        except ClientError as error:
            if error_code(error) == "DocumentAlreadyExists":
                raise DocumentAlreadyExistsError(name) from error
            raise
        return DocumentState(
            name=description.get("Name", name),
            document_type=description.get("DocumentType", SESSION_DOCUMENT_TYPE),
            default_version=description.get("DefaultVersion", "1"),
            latest_version=description.get("LatestVersion", "1"),
        )

    def add_version(self, name: str, content: str) -> str | None:
        """Add content as a new (non-default) version; its number, or None if a version already has it."""
        try:
            description = self._client.update_document(
                Name=name,
                Content=content,
                DocumentVersion="$LATEST",
                DocumentFormat="JSON",
            )["DocumentDescription"]
        except ClientError as error:
            if error_code(error) == "DuplicateDocumentContent":
                return None
            raise
        return description.get("DocumentVersion", "")

    def set_default_version(self, name: str, version: str) -> None:
        self._client.update_document_default_version(Name=name, DocumentVersion=version)

    def delete_version(self, name: str, version: str) -> bool:
        """Delete one version (never the default: SSM refuses); False if it, or the document, did not exist."""
        try:
            self._client.delete_document(Name=name, DocumentVersion=version)
        except ClientError as error:
            if error_code(error) in _VERSION_NOT_FOUND:
                return False
            raise
        return True

    def delete(self, name: str) -> bool:
        """Delete the document and all its versions; False if it did not exist."""
        try:
            self._client.delete_document(Name=name)
        except ClientError as error:
            if error_code(error) == _NOT_FOUND:
                return False
            raise
        return True
