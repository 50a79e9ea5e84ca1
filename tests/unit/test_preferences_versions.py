"""Which versions of the preferences document are in force after each request, against an in-memory store.

The fake follows the SSM API where moto does not (see adapters.ssm_documents): version numbers are never
reused and LatestVersion is the highest remaining number. Given/When/Then: a document history, one request
applied with apply_preferences_request, the resulting versions.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from sessionguard.adapters.ssm_documents import DocumentAlreadyExistsError, DocumentState
from sessionguard.custom_resource import CustomResourceOutcome, CustomResourceProgress
from sessionguard.preferences.custom_resource import (
    PreferencesDocumentError,
    apply_preferences_request,
    build_document_content,
    parse_preferences,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
DOCUMENT = "SSM-SessionManagerRunShell"
CONSOLE = json.dumps({"schemaVersion": "1.0", "description": "console", "sessionType": "Standard_Stream"})


class ThrottledError(Exception):
    """Stands in for a ClientError the store does not handle (throttling, access denied)."""


@dataclass
class FakeDocument:
    versions: dict[int, str]
    default: int
    next_number: int
    document_type: str = "Session"


@dataclass
class FakeDocuments:
    """An in-memory DocumentStore with SSM's version rules."""

    documents: dict[str, FakeDocument] = field(default_factory=dict)
    deleted_versions: list[int] = field(default_factory=list)
    fail_deletes_after: int | None = None  # raise ThrottledError once this many versions have been deleted

    def history(self, *contents: str, default: int | None = None) -> None:
        """The document with these versions (1, 2, …); the last one is the default unless `default` says."""
        versions = dict(enumerate(contents, start=1))
        self.documents[DOCUMENT] = FakeDocument(versions, default or len(contents), len(contents) + 1)

    def state(self) -> tuple[int, int]:
        """(default, latest)."""
        document = self.documents[DOCUMENT]
        return document.default, max(document.versions)

    def content(self, version: int) -> str:
        return self.documents[DOCUMENT].versions[version]

    def describe(self, name: str) -> DocumentState | None:
        document = self.documents.get(name)
        if document is None:
            return None
        return DocumentState(name, document.document_type, str(document.default), str(max(document.versions)))

    def version_exists(self, name: str, version: str) -> bool:
        return name in self.documents and int(version) in self.documents[name].versions

    def get_content(self, name: str, version: str | None = None) -> str | None:
        document = self.documents.get(name)
        if document is None:
            return None
        return document.versions.get(document.default if version is None else int(version))

    def create(self, name: str, content: str) -> DocumentState:
        if name in self.documents:
            raise DocumentAlreadyExistsError(name)
        self.documents[name] = FakeDocument({1: content}, 1, 2)
        return DocumentState(name, "Session", "1", "1")

    def add_version(self, name: str, content: str) -> str | None:
        document = self.documents[name]
        if content in document.versions.values():
            return None  # DuplicateDocumentContent
        number = document.next_number
        document.versions[number] = content
        document.next_number += 1
        return str(number)

    def set_default_version(self, name: str, version: str) -> None:
        document = self.documents[name]
        if int(version) not in document.versions:
            raise LookupError(f"InvalidDocumentVersion {version}")
        document.default = int(version)

    def delete_version(self, name: str, version: str) -> bool:
        document = self.documents.get(name)
        if document is None or int(version) not in document.versions:
            return False
        if int(version) == document.default:
            raise PermissionError("InvalidDocumentOperation: Default version of the document can't be deleted.")
        if self.fail_deletes_after is not None and len(self.deleted_versions) >= self.fail_deletes_after:
            self.fail_deletes_after = None
            raise ThrottledError("Rate exceeded")
        del document.versions[int(version)]
        self.deleted_versions.append(int(version))
        return True

    def delete(self, name: str) -> bool:
        return self.documents.pop(name, None) is not None


def event(kind: str, request_id: str, **properties: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"cfn-preferences-{kind}.json").read_text())
    loaded["RequestId"] = request_id
    loaded["ResourceProperties"].update(properties)
    return loaded


def apply(store: FakeDocuments, request: dict[str, Any], physical_id: str | None = None) -> CustomResourceOutcome:
    if physical_id is not None:
        request = {**request, "PhysicalResourceId": physical_id}
    return apply_preferences_request(CloudFormationCustomResourceEvent(request), store, CustomResourceProgress())


def content_of(request: dict[str, Any]) -> str:
    return build_document_content(parse_preferences(request["ResourceProperties"]), request["RequestId"])


RESTORE_1 = f"sessionguard:{DOCUMENT}:restore-version=1"
RESTORE_2 = f"sessionguard:{DOCUMENT}:restore-version=2"


def test_a_to_b_to_a_makes_a_new_version_that_is_default_and_latest() -> None:
    store = FakeDocuments()
    store.history(CONSOLE)
    a = event("create", "request-a")
    b = event("update", "request-b", IdleSessionTimeout="45")
    a_again = event("update", "request-a-again")

    apply(store, a)
    apply(store, b, RESTORE_1)
    outcome = apply(store, a_again, RESTORE_1)

    # Without the request in the description, SSM would refuse A again (DuplicateDocumentContent).
    assert store.state() == (4, 4)
    assert store.content(4) == content_of(a_again)
    assert outcome.data == {"DocumentName": DOCUMENT, "DocumentVersion": "4"}


def test_settings_an_older_version_below_the_restored_one_holds_become_a_new_latest_version() -> None:
    # Given: version 1, below the default the stack gives back, already holds the stack's settings.
    create = event("create", "request-1")
    store = FakeDocuments()
    store.history(content_of(create).replace("request-1", "an earlier stack"), CONSOLE)

    outcome = apply(store, create)

    assert outcome.physical_resource_id == RESTORE_2
    assert store.state() == (3, 3)
    assert store.deleted_versions == []


def test_replayed_request_makes_its_own_version_default_and_latest_again() -> None:
    store = FakeDocuments()
    store.history(CONSOLE)
    apply(store, event("create", "request-1"))  # version 2
    update = event("update", "request-2")
    apply(store, update, RESTORE_1)  # version 3
    store.add_version(DOCUMENT, CONSOLE.replace("console", "console edit"))  # version 4, not the default

    outcome = apply(store, update, RESTORE_1)  # the same request again: SSM answers DuplicateDocumentContent

    assert store.state() == (3, 3)
    assert store.content(3) == content_of(update)
    assert store.deleted_versions == [4]
    assert outcome.reason.endswith("version 3 is now the default and latest; deleted version 4")


def test_duplicate_of_a_version_the_stack_must_give_back_fails_and_deletes_nothing() -> None:
    create = event("create", "request-1")
    store = FakeDocuments()
    store.history(content_of(create), CONSOLE)  # version 1 holds this exact content; 2 is the default

    with pytest.raises(
        PreferencesDocumentError, match="no version above 2, the one the stack gives back on delete, holds it"
    ):
        apply(store, create)

    assert store.state() == (2, 2)
    assert store.deleted_versions == []


def test_unchanged_settings_with_a_later_non_default_version_write_a_new_version() -> None:
    store = FakeDocuments()
    store.history(CONSOLE)
    apply(store, event("create", "request-1"))  # version 2
    store.add_version(DOCUMENT, CONSOLE.replace("console", "console edit"))  # version 3, what sessions read

    apply(store, event("update", "request-2", **_create_properties()), RESTORE_1)

    assert store.state() == (4, 4)


def test_a_takeover_records_the_accounts_latest_version_when_it_is_not_the_default() -> None:
    store = FakeDocuments()
    store.history(CONSOLE, CONSOLE.replace("console", "edited with --document-version $LATEST"), default=1)

    outcome = apply(store, event("create", "request-1"))

    assert outcome.physical_resource_id == f"sessionguard:{DOCUMENT}:restore-version=1,latest=2"
    assert store.state() == (3, 3)


def test_delete_gives_back_the_accounts_default_and_latest_versions_as_they_were() -> None:
    """An account that edited its preferences as AWS documents it (a new $LATEST, the default untouched) runs
    with default 1 and latest 2; the stack's delete leaves it exactly so, version 2 included."""
    store = FakeDocuments()
    edited = CONSOLE.replace("console", "edited with --document-version $LATEST")
    store.history(CONSOLE, edited, default=1)
    physical_id = apply(store, event("create", "request-1")).physical_resource_id  # version 3
    apply(store, event("update", "request-2", IdleSessionTimeout="30"), physical_id)  # version 4

    outcome = apply(store, event("delete", "request-3"), physical_id)

    assert store.state() == (1, 2)
    assert sorted(store.documents[DOCUMENT].versions) == [1, 2]
    assert store.content(2) == edited
    assert outcome.reason == (
        f"restored version 1 of {DOCUMENT} as the default, version 2 the latest; deleted versions 3, 4"
    )


def test_a_stack_whose_id_predates_the_latest_version_deletes_above_the_default() -> None:
    """Physical ids written before the takeover recorded the latest version name the default only: their delete
    still deletes every version above it (ids are never rewritten, or CloudFormation would replace the resource)."""
    store = FakeDocuments()
    store.history(CONSOLE, CONSOLE.replace("console", "older"), CONSOLE.replace("console", "newer"), default=2)
    apply(store, event("create", "request-1"))  # restore-version=2, version 4
    apply(store, event("update", "request-2"), RESTORE_2)  # version 5
    store.delete_version(DOCUMENT, "4")  # a gap: already gone is fine

    outcome = apply(store, event("delete", "request-3"), RESTORE_2)

    assert store.state() == (2, 2)
    assert sorted(store.documents[DOCUMENT].versions) == [1, 2]
    assert store.content(2) == CONSOLE.replace("console", "older")
    assert outcome.reason == f"restored version 2 of {DOCUMENT} as the default and latest; deleted versions 3, 5"


def test_delete_that_fails_half_way_finishes_when_retried() -> None:
    store = FakeDocuments()
    store.history(CONSOLE)
    apply(store, event("create", "request-1"))
    apply(store, event("update", "request-2"), RESTORE_1)  # versions 2 and 3
    store.fail_deletes_after = 1

    with pytest.raises(ThrottledError):
        apply(store, event("delete", "request-3"), RESTORE_1)
    assert store.state() == (1, 2)

    retried = apply(store, event("delete", "request-3"), RESTORE_1)
    again = apply(store, event("delete", "request-3"), RESTORE_1)

    assert store.state() == (1, 1)
    assert retried.reason == f"restored version 1 of {DOCUMENT} as the default and latest; deleted version 2"
    assert again.reason == f"restored version 1 of {DOCUMENT} as the default and latest"


def test_delete_never_deletes_the_restored_version_or_an_older_one() -> None:
    store = FakeDocuments()
    store.history(CONSOLE, CONSOLE.replace("console", "v2"), CONSOLE.replace("console", "v3"), default=2)
    apply(store, event("create", "request-1"))

    apply(store, event("delete", "request-2"), RESTORE_2)

    assert all(version > 2 for version in store.deleted_versions)
    assert store.documents[DOCUMENT].versions.keys() == {1, 2}


def _create_properties() -> dict[str, str]:
    properties: dict[str, str] = json.loads((EVENTS / "cfn-preferences-create.json").read_text())["ResourceProperties"]
    return properties
