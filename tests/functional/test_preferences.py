"""The preferences custom resource end to end: moto's SSM behind the adapter, the CloudFormation response URL
served by the loopback `http_recorder`.

Given/When/Then: a document state in moto, a real-format request from events/, the answer PUT to the recorder.
"""

import copy
import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from botocore.exceptions import ClientError
from moto import mock_aws
from sessionguard.adapters import cloudformation
from sessionguard.adapters.ssm_documents import SessionDocuments
from sessionguard.custom_resource import MAX_REASON_CHARS
from sessionguard.preferences.custom_resource import build_document_content, handle_preferences_event, parse_preferences

from tests import support
from tests.support import load_function

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
DOCUMENT = "SSM-SessionManagerRunShell"
CREATED_ID = f"sessionguard:{DOCUMENT}:created"
CONSOLE_DOCUMENT = json.dumps(
    {
        "schemaVersion": "1.0",
        "description": "Document to hold regional settings for Session Manager",
        "sessionType": "Standard_Stream",
        "inputs": {
            "s3BucketName": "",
            "s3KeyPrefix": "",
            "s3EncryptionEnabled": True,
            "cloudWatchLogGroupName": "",
            "cloudWatchEncryptionEnabled": True,
            "cloudWatchStreamingEnabled": True,
            "kmsKeyId": "",
            "runAsEnabled": False,
            "runAsDefaultUser": "",
            "idleSessionTimeout": "20",
            "maxSessionDuration": "",
            "shellProfile": {"windows": "", "linux": ""},
        },
    }
)


LOG_STREAM = "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef"
FakeLambdaContext = partial(
    support.FakeLambdaContext,
    function_name="sessionguard-PreferencesFunction-7GmKq2ZbXyPq",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:sessionguard-PreferencesFunction-7GmKq2ZbXyPq",
    aws_request_id="0d1c2b3a-4f5e-6d7c-8b9a-0f1e2d3c4b5a",
    log_stream_name=LOG_STREAM,
)


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def store(ssm: Any) -> SessionDocuments:
    return SessionDocuments(ssm)


def request(kind: str, recorder: Any, **changes: Any) -> dict[str, Any]:
    """A real-format request from events/, answering to the recorder; `changes` replace top-level fields and
    `properties` updates ResourceProperties."""
    event: dict[str, Any] = json.loads((EVENTS / f"cfn-preferences-{kind}.json").read_text())
    event["ResponseURL"] = f"{recorder.url}/cfn-response?X-Amz-Signature=test"
    event["ResourceProperties"].update(changes.pop("properties", {}))
    event.update(changes)
    return event


def answer(event: dict[str, Any], store: Any, recorder: Any, **kwargs: Any) -> dict[str, Any]:
    """Run the request and return the one response body it PUT to the ResponseURL."""
    before = len(recorder.requests)
    handle_preferences_event(
        CloudFormationCustomResourceEvent(copy.deepcopy(event)),
        kwargs.pop("context", FakeLambdaContext()),
        store=store,
        **kwargs,
    )
    assert len(recorder.requests) == before + 1, "expected exactly one answer to CloudFormation"
    sent = recorder.requests[-1]
    assert sent.method == "PUT"
    assert sent.path == "/cfn-response?X-Amz-Signature=test"
    assert sent.headers["content-type"] == ""
    body: dict[str, Any] = sent.json()
    return body


def stack_content(event: dict[str, Any]) -> str:
    return build_document_content(parse_preferences(event["ResourceProperties"]), event["RequestId"])


def default_of(ssm: Any, name: str = DOCUMENT) -> tuple[str, Any]:
    """(default version, parsed default content)."""
    document = ssm.get_document(Name=name)
    return document["DocumentVersion"], json.loads(document["Content"])


def in_force(ssm: Any, name: str = DOCUMENT) -> tuple[str, Any]:
    """(version, parsed content) of the version in force, after checking it is both the default and the latest."""
    description = ssm.describe_document(Name=name)["Document"]
    assert description["DefaultVersion"] == description["LatestVersion"]
    latest = ssm.get_document(Name=name, DocumentVersion="$LATEST")
    assert (latest["DocumentVersion"], json.loads(latest["Content"])) == default_of(ssm, name)
    return default_of(ssm, name)


def version_exists(ssm: Any, version: str) -> bool:
    try:
        ssm.describe_document(Name=DOCUMENT, DocumentVersion=version)
    except ssm.exceptions.InvalidDocument:
        return False
    return True


def console_document(ssm: Any, *extra_versions: str) -> None:
    """The document as the console leaves it, optionally with later versions, the last one the default."""
    ssm.create_document(Name=DOCUMENT, Content=CONSOLE_DOCUMENT, DocumentType="Session", DocumentFormat="JSON")
    for content in extra_versions:
        version = ssm.update_document(Name=DOCUMENT, Content=content, DocumentVersion="$LATEST")
        ssm.update_document_default_version(
            Name=DOCUMENT, DocumentVersion=version["DocumentDescription"]["DocumentVersion"]
        )


def assert_answers_the_request(body: dict[str, Any], event: dict[str, Any]) -> None:
    assert body["StackId"] == event["StackId"]
    assert body["RequestId"] == event["RequestId"]
    assert body["LogicalResourceId"] == event["LogicalResourceId"] == "SessionPreferences"
    assert body["NoEcho"] is False
    assert set(body) == {
        "Status",
        "Reason",
        "PhysicalResourceId",
        "StackId",
        "RequestId",
        "LogicalResourceId",
        "NoEcho",
        "Data",
    }


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every logged message with its structured fields (Powertools writes the extras as record attributes)."""
    return "\n".join(" ".join(str(value) for value in vars(record).values()) for record in caplog.records)


def access_denied(operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "AccessDeniedException",
                "Message": "User: arn:aws:sts::123456789012:assumed-role/PreferencesRole/fn is not "
                f"authorized to perform: ssm:{operation} on resource: "
                f"arn:aws:ssm:us-east-1:123456789012:document/{DOCUMENT}",
            }
        },
        operation,
    )


# --- Create -------------------------------------------------------------------------------------------------


def test_absent_document_is_created_and_is_the_default(ssm, store, http_recorder) -> None:
    event = request("create", http_recorder)

    body = answer(event, store, http_recorder)

    assert_answers_the_request(body, event)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == CREATED_ID
    assert body["Data"] == {"DocumentName": DOCUMENT, "DocumentVersion": "1"}
    assert body["Reason"] == f"created {DOCUMENT}"
    description = ssm.describe_document(Name=DOCUMENT)["Document"]
    assert (description["DocumentType"], description["DocumentFormat"]) == ("Session", "JSON")
    assert in_force(ssm) == ("1", json.loads(stack_content(event)))


def test_existing_document_gets_a_new_default_version_and_the_old_default_is_recorded(
    ssm, store, http_recorder
) -> None:
    older = json.loads(CONSOLE_DOCUMENT)
    older["inputs"]["idleSessionTimeout"] = "45"
    console_document(ssm, json.dumps(older))  # versions 1 and 2; 2 is the default
    event = request("create", http_recorder)

    body = answer(event, store, http_recorder)

    assert_answers_the_request(body, event)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == f"sessionguard:{DOCUMENT}:restore-version=2"
    assert body["Data"] == {"DocumentName": DOCUMENT, "DocumentVersion": "3"}
    assert in_force(ssm) == ("3", json.loads(stack_content(event)))


def test_document_that_already_holds_the_settings_is_success_without_a_new_version(ssm, store, http_recorder) -> None:
    event = request("create", http_recorder)
    reformatted = json.dumps(json.loads(stack_content(event)), separators=(",", ":"))
    ssm.create_document(Name=DOCUMENT, Content=reformatted, DocumentType="Session", DocumentFormat="JSON")

    body = answer(event, store, http_recorder)

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == f"sessionguard:{DOCUMENT}:restore-version=1"
    assert "unchanged" in body["Reason"]
    assert ssm.describe_document(Name=DOCUMENT)["Document"]["LatestVersion"] == "1"


def test_deploying_again_after_a_delete_writes_a_version_that_is_default_and_latest(ssm, store, http_recorder) -> None:
    # Given: the stack was deployed and deleted (console version restored, the stack's version deleted).
    console_document(ssm)
    create = request("create", http_recorder)
    first = answer(create, store, http_recorder)
    answer(request("delete", http_recorder, PhysicalResourceId=first["PhysicalResourceId"]), store, http_recorder)
    assert in_force(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))

    body = answer(create, store, http_recorder)

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == f"sessionguard:{DOCUMENT}:restore-version=1"
    assert in_force(ssm) == ("2", json.loads(stack_content(create)))


def test_replayed_update_finds_its_own_version_and_makes_it_default_and_latest(ssm, store, http_recorder) -> None:
    # Given: an update wrote version 3, then someone added version 4 with `update-document --document-version
    # '$LATEST'` (AWS's documented way to change preferences, which leaves the default alone).
    console_document(ssm)
    created = answer(request("create", http_recorder), store, http_recorder)
    update = request("update", http_recorder, PhysicalResourceId=created["PhysicalResourceId"])
    answer(update, store, http_recorder)
    ssm.update_document(Name=DOCUMENT, Content=CONSOLE_DOCUMENT.replace('"20"', '"30"'), DocumentVersion="$LATEST")

    # When: the same update runs again, SSM answers DuplicateDocumentContent for version 3.
    body = answer(update, store, http_recorder)

    assert body["Status"] == "SUCCESS"
    assert body["Reason"] == f"updated {DOCUMENT}; version 3 is now the default and latest; deleted version 4"
    assert in_force(ssm) == ("3", json.loads(stack_content(update)))


def test_document_created_by_someone_else_meanwhile_is_taken_over(ssm, store, http_recorder, monkeypatch) -> None:
    # Given: describe_document says "absent", then the console creates the document before create_document runs.
    real_describe = store.describe
    answers = iter([None])

    def describe_racing_the_console(name: str) -> Any:
        before = next(answers, "real")
        if before is None:
            console_document(ssm)
            return None
        return real_describe(name)

    monkeypatch.setattr(store, "describe", describe_racing_the_console)

    body = answer(request("create", http_recorder), store, http_recorder)

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == f"sessionguard:{DOCUMENT}:restore-version=1"
    assert default_of(ssm)[0] == "2"


def test_existing_document_of_another_type_is_refused(ssm, store, http_recorder) -> None:
    command = {"schemaVersion": "2.2", "description": "x", "mainSteps": []}
    ssm.create_document(Name="Team-Preferences", Content=json.dumps(command), DocumentType="Command")
    event = request("create", http_recorder, properties={"DocumentName": "Team-Preferences"})

    body = answer(event, store, http_recorder)

    assert body["Status"] == "FAILED"
    assert "Team-Preferences is a Command document, not a Session document" in body["Reason"]
    assert ssm.describe_document(Name="Team-Preferences")["Document"]["LatestVersion"] == "1"


# --- Update -------------------------------------------------------------------------------------------------


def test_update_with_changed_properties_makes_a_new_default_and_keeps_the_physical_id(
    ssm, store, http_recorder
) -> None:
    console_document(ssm)
    created = answer(request("create", http_recorder), store, http_recorder)
    update = request("update", http_recorder, PhysicalResourceId=created["PhysicalResourceId"])

    body = answer(update, store, http_recorder)

    assert_answers_the_request(body, update)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == created["PhysicalResourceId"] == f"sessionguard:{DOCUMENT}:restore-version=1"
    assert body["Data"] == {"DocumentName": DOCUMENT, "DocumentVersion": "3"}
    version, content = default_of(ssm)
    assert version == "3"
    assert content["inputs"]["idleSessionTimeout"] == "15"
    assert content["inputs"]["maxSessionDuration"] == "480"
    assert content["inputs"]["runAsEnabled"] is True
    assert content["inputs"]["runAsDefaultUser"] == "ec2-user"


def test_update_of_a_created_document_keeps_the_created_id(ssm, store, http_recorder) -> None:
    answer(request("create", http_recorder), store, http_recorder)

    body = answer(request("update", http_recorder, PhysicalResourceId=CREATED_ID), store, http_recorder)

    assert body["PhysicalResourceId"] == CREATED_ID
    assert default_of(ssm)[0] == "2"


def test_update_recreates_a_document_deleted_outside_the_stack(ssm, store, http_recorder) -> None:
    answer(request("create", http_recorder), store, http_recorder)
    ssm.delete_document(Name=DOCUMENT)

    body = answer(request("update", http_recorder, PhysicalResourceId=CREATED_ID), store, http_recorder)

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == CREATED_ID
    assert default_of(ssm)[1]["inputs"]["idleSessionTimeout"] == "15"


def test_update_to_another_document_name_takes_that_one_over_under_a_new_id(ssm, store, http_recorder) -> None:
    answer(request("create", http_recorder), store, http_recorder)
    update = request("update", http_recorder, PhysicalResourceId=CREATED_ID, properties={"DocumentName": "Team-Shell"})

    body = answer(update, store, http_recorder)

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "sessionguard:Team-Shell:created"
    assert default_of(ssm, "Team-Shell")[0] == "1"
    # CloudFormation then deletes the old physical id:
    answer(request("delete", http_recorder, PhysicalResourceId=CREATED_ID), store, http_recorder)
    assert store.describe(DOCUMENT) is None
    assert store.describe("Team-Shell") is not None


def test_failed_update_to_another_document_undoes_its_partial_takeover(ssm, store, http_recorder, monkeypatch) -> None:
    ssm.create_document(Name="Team-Shell", Content=CONSOLE_DOCUMENT, DocumentType="Session")
    monkeypatch.setattr(
        store, "set_default_version", _raise(access_denied("UpdateDocumentDefaultVersion")), raising=True
    )
    update = request("update", http_recorder, PhysicalResourceId=CREATED_ID, properties={"DocumentName": "Team-Shell"})

    body = answer(update, store, http_recorder)

    assert body["Status"] == "FAILED"
    assert body["PhysicalResourceId"] == CREATED_ID  # a failed update keeps the old id
    assert in_force(ssm, "Team-Shell") == ("1", json.loads(CONSOLE_DOCUMENT))


def test_settings_a_then_b_then_a_again_keep_the_version_in_force_default_and_latest(ssm, store, http_recorder) -> None:
    console_document(ssm)
    a = request("create", http_recorder, RequestId="a0000000-0000-4000-8000-000000000001")
    b = request("update", http_recorder, RequestId="b0000000-0000-4000-8000-000000000002")
    a_again = request(
        "update",
        http_recorder,
        RequestId="a0000000-0000-4000-8000-000000000003",
        OldResourceProperties=b["ResourceProperties"],
        properties=a["ResourceProperties"],
    )

    created = answer(a, store, http_recorder)
    assert in_force(ssm) == ("2", json.loads(stack_content(a)))
    assert answer(b, store, http_recorder)["Data"]["DocumentVersion"] == "3"
    assert in_force(ssm) == ("3", json.loads(stack_content(b)))
    again = answer(a_again, store, http_recorder)

    # A is written as a new version: SSM would refuse A's earlier content (DuplicateDocumentContent), and falling
    # back to version 2 would leave B's version 3 latest.
    assert again["Status"] == "SUCCESS"
    assert again["Data"] == {"DocumentName": DOCUMENT, "DocumentVersion": "4"}
    version, content = in_force(ssm)
    assert version == "4"
    assert content["inputs"] == json.loads(stack_content(a))["inputs"]

    deleted = answer(
        request("delete", http_recorder, PhysicalResourceId=created["PhysicalResourceId"]), store, http_recorder
    )

    assert deleted["Reason"] == f"restored version 1 of {DOCUMENT} as the default and latest; deleted versions 2, 3, 4"
    assert in_force(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))
    assert not any(version_exists(ssm, v) for v in ("2", "3", "4"))


def test_update_when_a_later_version_is_not_the_default_makes_a_new_default_and_latest(
    ssm, store, http_recorder
) -> None:
    # Given: the stack's version 2 is the default, but the console's `$LATEST` edit made version 3 the latest.
    console_document(ssm)
    create = request("create", http_recorder)
    created = answer(create, store, http_recorder)
    ssm.update_document(Name=DOCUMENT, Content=CONSOLE_DOCUMENT.replace('"20"', '"30"'), DocumentVersion="$LATEST")
    # When: an update that does not change the settings (e.g. only ServiceTimeout changed).
    update = request(
        "update",
        http_recorder,
        PhysicalResourceId=created["PhysicalResourceId"],
        properties={**create["ResourceProperties"], "ServiceTimeout": "600"},
    )

    body = answer(update, store, http_recorder)

    assert body["Data"]["DocumentVersion"] == "4"
    assert in_force(ssm) == ("4", json.loads(stack_content(update)))


# --- Delete -------------------------------------------------------------------------------------------------


def test_create_update_delete_leaves_the_previous_default_as_default_and_latest(ssm, store, http_recorder) -> None:
    console_document(ssm)
    create = request("create", http_recorder)
    created = answer(create, store, http_recorder)
    assert in_force(ssm) == ("2", json.loads(stack_content(create)))
    update = request("update", http_recorder, PhysicalResourceId=created["PhysicalResourceId"])
    answer(update, store, http_recorder)
    assert in_force(ssm) == ("3", json.loads(stack_content(update)))
    delete = request("delete", http_recorder, PhysicalResourceId=created["PhysicalResourceId"])

    body = answer(delete, store, http_recorder)

    assert_answers_the_request(body, delete)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert body["Reason"] == f"restored version 1 of {DOCUMENT} as the default and latest; deleted versions 2, 3"
    assert in_force(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))


def test_delete_keeps_the_restored_version_and_older_ones(ssm, store, http_recorder) -> None:
    older = CONSOLE_DOCUMENT.replace('"20"', '"30"')
    console_document(ssm, older)  # versions 1 and 2; 2 is the default
    created = answer(request("create", http_recorder), store, http_recorder)  # version 3

    answer(request("delete", http_recorder, PhysicalResourceId=created["PhysicalResourceId"]), store, http_recorder)

    assert in_force(ssm) == ("2", json.loads(older))
    assert ssm.get_document(Name=DOCUMENT, DocumentVersion="1")["Content"] == CONSOLE_DOCUMENT
    assert not version_exists(ssm, "3")


def test_delete_when_the_restored_version_is_still_the_default_deletes_the_later_versions(
    ssm, store, http_recorder
) -> None:
    # Given: what the previous release left after a delete: version 1 the default, the stack's version 2 latest.
    console_document(ssm)
    old_stack_version = stack_content(request("create", http_recorder))
    ssm.update_document(Name=DOCUMENT, Content=old_stack_version, DocumentVersion="$LATEST")

    body = answer(
        request("delete", http_recorder, PhysicalResourceId=f"sessionguard:{DOCUMENT}:restore-version=1"),
        store,
        http_recorder,
    )

    assert body["Reason"] == f"restored version 1 of {DOCUMENT} as the default and latest; deleted version 2"
    assert in_force(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))


def test_delete_run_twice_succeeds_both_times(ssm, store, http_recorder) -> None:
    console_document(ssm)
    created = answer(request("create", http_recorder), store, http_recorder)
    delete = request("delete", http_recorder, PhysicalResourceId=created["PhysicalResourceId"])

    first = answer(delete, store, http_recorder)
    second = answer(delete, store, http_recorder)

    assert (first["Status"], second["Status"]) == ("SUCCESS", "SUCCESS")
    assert second["Reason"] == f"restored version 1 of {DOCUMENT} as the default and latest"
    assert in_force(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))


def test_delete_that_fails_half_way_answers_failed_and_finishes_when_retried(
    ssm, store, http_recorder, monkeypatch
) -> None:
    console_document(ssm)
    created = answer(request("create", http_recorder), store, http_recorder)
    answer(request("update", http_recorder, PhysicalResourceId=created["PhysicalResourceId"]), store, http_recorder)
    delete = request("delete", http_recorder, PhysicalResourceId=created["PhysicalResourceId"])
    real_delete_version = store.delete_version
    calls: list[str] = []

    def throttled_after_the_first(name: str, version: str) -> bool:
        calls.append(version)
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DeleteDocument")
        return real_delete_version(name, version)

    with monkeypatch.context() as patch:
        patch.setattr(store, "delete_version", throttled_after_the_first)
        failed = answer(delete, store, http_recorder)

    assert failed["Status"] == "FAILED"
    assert "(ThrottlingException) when calling the DeleteDocument operation" in failed["Reason"]
    assert (default_of(ssm)[0], ssm.describe_document(Name=DOCUMENT)["Document"]["LatestVersion"]) == ("1", "2")
    retried = answer(delete, store, http_recorder)
    assert retried["Status"] == "SUCCESS"
    assert in_force(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))


def test_delete_when_the_stack_created_the_document_deletes_it(ssm, store, http_recorder) -> None:
    created = answer(request("create", http_recorder), store, http_recorder)

    body = answer(
        request("delete", http_recorder, PhysicalResourceId=created["PhysicalResourceId"]),
        store,
        http_recorder,
    )

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == CREATED_ID
    assert store.describe(DOCUMENT) is None


def test_delete_of_an_already_deleted_document_succeeds(ssm, store, http_recorder) -> None:
    body = answer(request("delete", http_recorder, PhysicalResourceId=CREATED_ID), store, http_recorder)

    assert body["Status"] == "SUCCESS"
    assert body["Reason"] == f"{DOCUMENT} already gone"


def test_delete_with_an_id_this_resource_did_not_make_touches_nothing(ssm, store, http_recorder) -> None:
    console_document(ssm)

    body = answer(
        request("delete", http_recorder, PhysicalResourceId="create-failed:2b8f5c1e-6a0d-4c3b-9e7f-1d2c3b4a5f60"),
        store,
        http_recorder,
    )

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "create-failed:2b8f5c1e-6a0d-4c3b-9e7f-1d2c3b4a5f60"
    assert default_of(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))


def test_delete_after_a_failed_create_keeps_the_pre_existing_document(ssm, store, http_recorder) -> None:
    console_document(ssm)
    failed = answer(request("create", http_recorder, properties={"IdleSessionTimeout": "90"}), store, http_recorder)
    assert failed["Status"] == "FAILED"

    body = answer(
        request("delete", http_recorder, PhysicalResourceId=failed["PhysicalResourceId"]),
        store,
        http_recorder,
    )

    assert body["Status"] == "SUCCESS"
    assert ssm.describe_document(Name=DOCUMENT)["Document"]["LatestVersion"] == "1"
    assert default_of(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))


def test_delete_when_the_version_to_restore_was_removed_leaves_the_document_and_succeeds(
    ssm, store, http_recorder
) -> None:
    console_document(ssm, CONSOLE_DOCUMENT.replace('"20"', '"30"'))  # default 2
    created = answer(request("create", http_recorder), store, http_recorder)  # restore-version=2, default 3
    ssm.delete_document(Name=DOCUMENT, DocumentVersion="2")

    body = answer(
        request("delete", http_recorder, PhysicalResourceId=created["PhysicalResourceId"]),
        store,
        http_recorder,
    )

    assert body["Status"] == "SUCCESS"
    assert body["Reason"] == f"version 2 of {DOCUMENT} no longer exists"
    assert default_of(ssm)[0] == "3"


# --- The adapter's version deletion, as SSM (and moto) answer it --------------------------------------------


def test_deleting_one_version_leaves_the_others(ssm, store) -> None:
    console_document(ssm, CONSOLE_DOCUMENT.replace('"20"', '"30"'))
    store.set_default_version(DOCUMENT, "1")

    assert store.delete_version(DOCUMENT, "2") is True

    assert in_force(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))


def test_deleting_a_version_that_is_gone_is_false(ssm, store) -> None:
    console_document(ssm)

    assert store.delete_version(DOCUMENT, "7") is False
    assert store.delete_version("Team-Shell", "2") is False


def test_deleting_the_default_version_is_refused(ssm, store) -> None:
    console_document(ssm, CONSOLE_DOCUMENT.replace('"20"', '"30"'))  # version 2 is the default

    with pytest.raises(ClientError) as raised:
        store.delete_version(DOCUMENT, "2")

    assert raised.value.response["Error"]["Code"] == "InvalidDocumentOperation"


# --- Failures always answer ---------------------------------------------------------------------------------


def _raise(error: BaseException) -> Any:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    return fail


def test_invalid_properties_answer_failed_with_the_reason_and_change_nothing(ssm, store, http_recorder) -> None:
    console_document(ssm)
    event = request("create", http_recorder, properties={"IdleSessionTimeout": "90", "MaxSessionDuration": "0"})

    body = answer(event, store, http_recorder)

    assert_answers_the_request(body, event)
    assert body["Status"] == "FAILED"
    assert body["PhysicalResourceId"] == f"create-failed:{event['RequestId']}"
    assert body["Reason"].startswith(
        "InvalidPreferencesError: Invalid SessionManagerPreferences properties: IdleSessionTimeout must be a "
        "whole number of minutes from 1 to 60, or empty (got '90'); MaxSessionDuration must be"
    )
    assert body["Reason"].endswith(f"(log stream {LOG_STREAM})")
    assert body["Data"] == {}
    assert ssm.describe_document(Name=DOCUMENT)["Document"]["LatestVersion"] == "1"


def test_invalid_properties_on_update_answer_failed_with_the_same_physical_id(ssm, store, http_recorder) -> None:
    created = answer(request("create", http_recorder), store, http_recorder)
    update = request("update", http_recorder, PhysicalResourceId=CREATED_ID, properties={"RunAsEnabled": "yes"})

    body = answer(update, store, http_recorder)

    assert body["Status"] == "FAILED"
    assert body["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert 'RunAsEnabled must be "true" or "false"' in body["Reason"]


def test_access_denied_answers_failed_naming_the_error_and_the_action(ssm, store, http_recorder, monkeypatch) -> None:
    console_document(ssm)
    monkeypatch.setattr(store, "add_version", _raise(access_denied("UpdateDocument")))
    event = request("create", http_recorder)

    body = answer(event, store, http_recorder)

    assert_answers_the_request(body, event)
    assert body["Status"] == "FAILED"
    assert "AccessDeniedException" in body["Reason"]
    assert "ssm:UpdateDocument" in body["Reason"]
    # The takeover was recorded before the failing call, so the rollback Delete restores version 1 (a no-op).
    assert body["PhysicalResourceId"] == f"sessionguard:{DOCUMENT}:restore-version=1"


def test_access_denied_reading_the_document_answers_failed_with_a_foreign_id(ssm, http_recorder, monkeypatch) -> None:
    store = SessionDocuments(ssm)
    monkeypatch.setattr(store, "describe", _raise(access_denied("DescribeDocument")))
    event = request("create", http_recorder)

    body = answer(event, store, http_recorder)

    assert body["Status"] == "FAILED"
    assert body["PhysicalResourceId"] == f"create-failed:{event['RequestId']}"


def test_failure_after_a_new_version_is_undone_by_the_rollback_delete(ssm, store, http_recorder, monkeypatch) -> None:
    console_document(ssm)
    with monkeypatch.context() as patch:
        patch.setattr(store, "set_default_version", _raise(RuntimeError("connection reset in the middle")))
        failed = answer(request("create", http_recorder), store, http_recorder)

    assert failed["Status"] == "FAILED"
    assert failed["Reason"].startswith("RuntimeError: connection reset in the middle")
    assert failed["PhysicalResourceId"] == f"sessionguard:{DOCUMENT}:restore-version=1"

    rollback = answer(
        request("delete", http_recorder, PhysicalResourceId=failed["PhysicalResourceId"]),
        store,
        http_recorder,
    )

    assert rollback["Status"] == "SUCCESS"
    assert in_force(ssm) == ("1", json.loads(CONSOLE_DOCUMENT))


def test_document_created_by_a_call_that_then_failed_is_left_in_place(ssm, store, http_recorder, monkeypatch) -> None:
    real_create = store.create

    def create_then_lose_the_answer(name: str, content: str) -> Any:
        real_create(name, content)
        raise RuntimeError("connection reset after the request was sent")

    monkeypatch.setattr(store, "create", create_then_lose_the_answer)
    event = request("create", http_recorder)

    failed = answer(event, store, http_recorder)

    # "created" is only claimed once create_document has answered, so the rollback Delete, unable to tell this
    # document from one that existed before, leaves it alone.
    assert failed["Status"] == "FAILED"
    assert failed["PhysicalResourceId"] == f"create-failed:{event['RequestId']}"
    answer(request("delete", http_recorder, PhysicalResourceId=failed["PhysicalResourceId"]), store, http_recorder)
    assert store.describe(DOCUMENT) is not None


def test_an_ssm_call_that_hangs_is_answered_failed_before_the_lambda_timeout(
    ssm, store, http_recorder, monkeypatch
) -> None:
    release = threading.Event()
    real_describe = store.describe

    def hanging_describe(name: str) -> Any:
        release.wait(10)
        return real_describe(name)

    monkeypatch.setattr(store, "describe", hanging_describe)
    event = request("create", http_recorder)
    context = FakeLambdaContext(remaining_ms=400)  # the watchdog fires at half the remaining time here
    worker = threading.Thread(
        target=handle_preferences_event,
        args=(CloudFormationCustomResourceEvent(event), context),
        kwargs={"store": store},
    )

    worker.start()
    deadline = time.monotonic() + 5
    while not http_recorder.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()
    worker.join(10)

    assert len(http_recorder.requests) == 1, "the late success must not answer a second time"
    body = http_recorder.requests[0].json()
    assert_answers_the_request(body, event)
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith(f"Timed out after 0 s while describing {DOCUMENT}")
    assert body["PhysicalResourceId"] == f"create-failed:{event['RequestId']}"


def test_unknown_request_type_answers_failed(ssm, store, http_recorder) -> None:
    body = answer(request("create", http_recorder, RequestType="Replace"), store, http_recorder)

    assert body["Status"] == "FAILED"
    assert "unknown RequestType 'Replace'" in body["Reason"]


# --- The response itself ------------------------------------------------------------------------------------


def test_answer_never_contains_the_properties_or_the_response_url(ssm, store, http_recorder, caplog) -> None:
    event = request("create", http_recorder, properties={"ShellProfileLinux": "export API_TOKEN=s3cr3t-value"})

    body = answer(event, store, http_recorder)

    assert body["Status"] == "SUCCESS"
    assert "s3cr3t-value" not in http_recorder.requests[-1].body.decode()
    logged = logged_text(caplog)
    assert "Answered CloudFormation" in logged
    assert "s3cr3t-value" not in logged
    assert "X-Amz-Signature" not in logged


def test_long_reason_is_truncated_to_fit_the_response_limit(ssm, store, http_recorder, monkeypatch) -> None:
    monkeypatch.setattr(store, "describe", _raise(RuntimeError("x" * 10_000)))

    body = answer(request("create", http_recorder), store, http_recorder)

    assert body["Status"] == "FAILED"
    assert len(body["Reason"]) == MAX_REASON_CHARS
    assert body["Reason"].endswith(f"x … (truncated) (log stream {LOG_STREAM})")
    assert len(http_recorder.requests[-1].body) < 4096


def test_response_is_retried_after_a_transient_error(http_recorder) -> None:
    http_recorder.responses = [(503, {}, b"Slow Down"), (200, {}, b"")]

    cloudformation.send_response(f"{http_recorder.url}/r", {"Status": "SUCCESS"}, backoff_seconds=0.01)

    assert [r.json() for r in http_recorder.requests] == [{"Status": "SUCCESS"}] * 2


def test_response_is_not_retried_when_the_url_is_refused(http_recorder) -> None:
    http_recorder.responses = [(403, {}, b"SignatureDoesNotMatch")]

    with pytest.raises(cloudformation.ResponseNotDeliveredError, match="HTTP 403"):
        cloudformation.send_response(f"{http_recorder.url}/r", {"Status": "SUCCESS"}, backoff_seconds=0.01)

    assert len(http_recorder.requests) == 1


def test_response_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(cloudformation.ResponseNotDeliveredError, match="unsupported scheme 'file'"):
        cloudformation.send_response("file:///etc/passwd", {"Status": "SUCCESS"})


def test_undeliverable_answer_is_logged_and_does_not_raise(ssm, store, http_recorder, caplog) -> None:
    http_recorder.responses = [(403, {}, b"AccessDenied")]
    event = request("create", http_recorder)

    handle_preferences_event(CloudFormationCustomResourceEvent(event), FakeLambdaContext(), store=store)

    assert "Could not answer CloudFormation" in logged_text(caplog)


# --- The Lambda handler -------------------------------------------------------------------------------------


def test_lambda_handler_answers_a_create_from_the_sample_event(ssm, http_recorder) -> None:
    app = load_function("preferences")
    event = request("create", http_recorder)

    app.lambda_handler(event, FakeLambdaContext())

    body = http_recorder.requests[-1].json()
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == CREATED_ID
    assert default_of(ssm)[0] == "1"
