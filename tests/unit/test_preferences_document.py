"""The preferences document builder, property validation and physical ids (no AWS involved)."""

import json
from pathlib import Path
from typing import Any

import pytest
from sessionguard.preferences.custom_resource import (
    InvalidPreferencesError,
    Takeover,
    build_document_content,
    parse_physical_id,
    parse_preferences,
    same_content,
    same_settings,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
REQUEST_ID = "2b8f5c1e-6a0d-4c3b-9e7f-1d2c3b4a5f60"


def create_properties(**overrides: Any) -> dict[str, Any]:
    properties: dict[str, Any] = json.loads((EVENTS / "cfn-preferences-create.json").read_text())["ResourceProperties"]
    properties.update(overrides)
    return properties


def built_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(content(**overrides))
    return document


def content(request_id: str = REQUEST_ID, **overrides: Any) -> str:
    return build_document_content(parse_preferences(create_properties(**overrides)), request_id)


def test_document_follows_the_session_document_schema() -> None:
    document = built_document()

    assert document["schemaVersion"] == "1.0"
    assert document["sessionType"] == "Standard_Stream"
    assert isinstance(document["description"], str)
    assert document["inputs"] == {
        "s3BucketName": "sessionguard-transcriptbucket-1a2b3c4d5e6f",
        "s3KeyPrefix": "sessions",
        "s3EncryptionEnabled": True,
        "cloudWatchLogGroupName": "/sessionguard/sessions",
        "cloudWatchEncryptionEnabled": True,
        "cloudWatchStreamingEnabled": True,
        "kmsKeyId": "alias/sessionguard",
        "runAsEnabled": False,
        "runAsDefaultUser": "",
        "idleSessionTimeout": "20",
        "maxSessionDuration": "",
        "shellProfile": {"windows": "", "linux": ""},
    }


def test_cloudformation_strings_become_booleans_and_minutes_stay_strings() -> None:
    inputs = built_document(
        RunAsEnabled="true", RunAsDefaultUser="ec2-user", IdleSessionTimeout="60", MaxSessionDuration="1440"
    )["inputs"]

    assert inputs["runAsEnabled"] is True
    assert inputs["runAsDefaultUser"] == "ec2-user"
    assert inputs["idleSessionTimeout"] == "60"
    assert inputs["maxSessionDuration"] == "1440"


@pytest.mark.parametrize(("given", "expected"), [("true", True), ("True", True), ("FALSE", False), (True, True)])
def test_run_as_enabled_accepts_cloudformation_booleans(given: Any, expected: bool) -> None:
    assert parse_preferences(create_properties(RunAsEnabled=given)).run_as_enabled is expected


def test_encryption_and_streaming_are_on_unless_enforcement_is_turned_off() -> None:
    inputs = built_document(KmsKeyId="")["inputs"]

    assert "EnforceEncryption" not in create_properties()
    assert inputs["s3EncryptionEnabled"] is True
    assert inputs["cloudWatchEncryptionEnabled"] is True
    assert inputs["cloudWatchStreamingEnabled"] is True
    assert inputs["kmsKeyId"] == ""


def test_turning_enforcement_off_stops_the_agent_refusing_sessions_but_keeps_streaming() -> None:
    """EnforceSessionLogging=false, for bringing a fleet into line: the agent no longer checks encryption (and
    refuses nothing), the destinations stay the encrypted group and bucket."""
    inputs = built_document(EnforceEncryption="false")["inputs"]

    assert inputs["s3EncryptionEnabled"] is False
    assert inputs["cloudWatchEncryptionEnabled"] is False
    assert inputs["cloudWatchStreamingEnabled"] is True
    assert inputs["cloudWatchLogGroupName"] == "/sessionguard/sessions"
    assert built_document(EnforceEncryption="true")["inputs"]["s3EncryptionEnabled"] is True


def test_enforce_encryption_must_be_true_or_false() -> None:
    with pytest.raises(InvalidPreferencesError, match="EnforceEncryption"):
        parse_preferences(create_properties(EnforceEncryption="sometimes"))


def test_missing_idle_timeout_defaults_to_twenty_minutes() -> None:
    properties = create_properties()
    del properties["IdleSessionTimeout"]

    assert parse_preferences(properties).idle_session_timeout == 20


def test_empty_max_session_duration_means_no_limit() -> None:
    assert parse_preferences(create_properties(MaxSessionDuration="")).max_session_duration is None


def test_shell_profiles_go_into_the_shell_profile_map() -> None:
    inputs = built_document(ShellProfileLinux="exec bash -l", ShellProfileWindows="date")["inputs"]

    assert inputs["shellProfile"] == {"windows": "date", "linux": "exec bash -l"}


def test_same_properties_build_byte_identical_content() -> None:
    # A replayed request must find the version it wrote by its content, so the serialisation must not vary.
    assert content() == content()


def test_description_names_the_request_so_every_request_writes_new_content() -> None:
    # SSM refuses content equal to any existing version (DuplicateDocumentContent); a new version per request
    # is what keeps the version in force both the latest and the default (see preferences._put_in_force).
    first, second = content(), content("c4a3b2e1-9f8d-4c7b-a6e5-d4c3b2a1f0e9")

    assert f"CloudFormation request {REQUEST_ID}" in json.loads(first)["description"]
    assert first != second
    assert same_settings(first, second)


def test_cloudformation_service_properties_are_accepted() -> None:
    parse_preferences(create_properties(ServiceTimeout="300"))


@pytest.mark.parametrize("value", ["0", "61", "-1", "20.5", "twenty", " 20", True])
def test_idle_timeout_outside_1_to_60_is_rejected(value: Any) -> None:
    with pytest.raises(
        InvalidPreferencesError, match="IdleSessionTimeout must be a whole number of minutes from 1 to 60"
    ):
        parse_preferences(create_properties(IdleSessionTimeout=value))


@pytest.mark.parametrize("value", ["0", "1441", "abc"])
def test_max_session_duration_outside_1_to_1440_is_rejected(value: str) -> None:
    with pytest.raises(
        InvalidPreferencesError, match="MaxSessionDuration must be a whole number of minutes from 1 to 1440"
    ):
        parse_preferences(create_properties(MaxSessionDuration=value))


@pytest.mark.parametrize("value", ["yes", "1", ""])
def test_run_as_enabled_must_be_true_or_false(value: str) -> None:
    with pytest.raises(InvalidPreferencesError, match='RunAsEnabled must be "true" or "false"'):
        parse_preferences(create_properties(RunAsEnabled=value))


@pytest.mark.parametrize("name", ["DocumentName", "S3BucketName", "CloudWatchLogGroupName"])
def test_destinations_and_document_name_are_required(name: str) -> None:
    with pytest.raises(InvalidPreferencesError, match=f"{name} is required"):
        parse_preferences(create_properties(**{name: ""}))


@pytest.mark.parametrize("name", ["AWS-RunShellScript", "Amazon-Preferences", "amzn-x", "no spaces", "ab"])
def test_document_names_ssm_would_refuse_are_rejected(name: str) -> None:
    with pytest.raises(InvalidPreferencesError, match="DocumentName"):
        parse_preferences(create_properties(DocumentName=name))


@pytest.mark.parametrize("prefix", ["/sessions", "sessions/"])
def test_key_prefix_with_a_leading_or_trailing_slash_is_rejected(prefix: str) -> None:
    with pytest.raises(InvalidPreferencesError, match="S3KeyPrefix"):
        parse_preferences(create_properties(S3KeyPrefix=prefix))


def test_bucket_name_that_s3_would_refuse_is_rejected() -> None:
    with pytest.raises(InvalidPreferencesError, match="S3BucketName 'Not_A_Bucket' is not a valid value"):
        parse_preferences(create_properties(S3BucketName="Not_A_Bucket"))


def test_unknown_property_is_rejected_by_name() -> None:
    with pytest.raises(InvalidPreferencesError, match="unknown properties IdleTimeout"):
        parse_preferences(create_properties(IdleTimeout="20"))


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidPreferencesError) as raised:
        parse_preferences(create_properties(IdleSessionTimeout="0", MaxSessionDuration="9999", RunAsEnabled="x"))

    message = str(raised.value)
    assert "IdleSessionTimeout" in message
    assert "MaxSessionDuration" in message
    assert "RunAsEnabled" in message


def test_shell_profile_contents_are_never_quoted_in_an_error() -> None:
    with pytest.raises(InvalidPreferencesError) as raised:
        parse_preferences(create_properties(ShellProfileLinux="export TOKEN=hunter2", IdleSessionTimeout="0"))

    assert "hunter2" not in str(raised.value)


def test_non_string_shell_profile_is_rejected() -> None:
    with pytest.raises(InvalidPreferencesError, match="ShellProfileLinux must be a string"):
        parse_preferences(create_properties(ShellProfileLinux=["echo", "hi"]))


@pytest.mark.parametrize(
    "takeover",
    [
        Takeover("SSM-SessionManagerRunShell", None),
        Takeover("SSM-SessionManagerRunShell", "3"),
        Takeover("x.y_z", "12"),
        Takeover("SSM-SessionManagerRunShell", "1", "2"),
    ],
)
def test_physical_id_round_trips(takeover: Takeover) -> None:
    assert parse_physical_id(takeover.physical_id) == takeover


def test_physical_ids_name_the_takeover() -> None:
    assert Takeover("SSM-SessionManagerRunShell", None).physical_id == "sessionguard:SSM-SessionManagerRunShell:created"
    assert (
        Takeover("SSM-SessionManagerRunShell", "3").physical_id
        == "sessionguard:SSM-SessionManagerRunShell:restore-version=3"
    )


@pytest.mark.parametrize(
    "physical_id",
    [
        "",
        "create-failed:2b8f5c1e-6a0d-4c3b-9e7f-1d2c3b4a5f60",
        "2024/05/01/[$LATEST]0123456789abcdef",
        "sessionguard:SSM-SessionManagerRunShell",
        "sessionguard:SSM-SessionManagerRunShell:restore-version=",
        "sessionguard:SSM-SessionManagerRunShell:restore-version=0",
        "sessionguard:SSM-SessionManagerRunShell:restore-version=abc",
        "sessionguard:SSM-SessionManagerRunShell:restore-version=2,latest=2",
        "sessionguard:SSM-SessionManagerRunShell:restore-version=2,latest=1",
        "sessionguard:SSM-SessionManagerRunShell:restore-version=2,latest=",
        "sessionguard:SSM-SessionManagerRunShell:deleted",
        "other:SSM-SessionManagerRunShell:created",
    ],
)
def test_ids_this_resource_did_not_make_are_not_takeovers(physical_id: str) -> None:
    assert parse_physical_id(physical_id) is None


def test_same_content_ignores_formatting_but_not_values() -> None:
    built = content()
    reformatted = json.dumps(json.loads(built), separators=(",", ":"), sort_keys=True)
    changed = content(IdleSessionTimeout="21")

    assert same_content(reformatted, built)
    assert not same_content(changed, built)
    assert not same_content(content("another-request"), built)
    assert not same_content(None, built)
    assert not same_content("schemaVersion: '1.0'", built)


def test_same_settings_ignores_the_description_but_not_values() -> None:
    built = content()
    console = {**json.loads(built), "description": "Document to hold regional settings for Session Manager"}

    assert same_settings(json.dumps(console), built)
    assert not same_settings(content(IdleSessionTimeout="21"), built)
    assert not same_settings(None, built)
    assert not same_settings("not json", built)
