"""The translated template deploys into moto's CloudFormation and creates what issue #2 promises.

moto resolves the intrinsics, so these tests see the values AWS would: ARNs, parameters, conditions. What moto 5.2.5's
CloudFormation does not model is asserted on the template in test_template.py instead: bucket policies; for buckets
anything but encryption and tags (public access block, versioning, lifecycle, Object Lock); log-group KMS keys and
data protection policies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

Deploy = Callable[..., dict[str, str]]


def policy_document(value: str | dict[str, Any]) -> dict[str, Any]:
    """AWS returns policy documents as JSON text; moto hands back the object CloudFormation gave it, with a null
    where a conditional statement resolved to AWS::NoValue (CloudFormation drops it)."""
    document = json.loads(value) if isinstance(value, str) else value
    return {**document, "Statement": [s for s in document["Statement"] if s is not None]}


def test_stack_creates_every_resource(deploy_stack: Deploy) -> None:
    created = deploy_stack()

    status = boto3.client("cloudformation").describe_stacks(StackName="sessionguard")["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"
    expected = {
        "SessionKey",
        "SessionKeyAlias",
        "SessionLogGroup",
        "TranscriptBucket",
        "SessionLoggingPolicy",
        "SessionInstanceRole",
        "SessionInstanceProfile",
        "PreferencesFunction",
        "FunctionLogGroup",
    }
    assert expected <= set(created)


def test_key_rotates_and_its_policy_names_this_account_and_region(deploy_stack: Deploy) -> None:
    created = deploy_stack()
    kms = boto3.client("kms")
    key_id = created["SessionKey"]

    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    policy = policy_document(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert "NamedKeyAdministrators" not in sids  # none by default
    logs = sids["CloudWatchLogsEncryptsTheStacksLogGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/ssm/sessionguard/sessions"
        in (logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
    )
    aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/sessionguard"]


def test_key_administrators_parameter_adds_them_to_the_key_policy(deploy_stack: Deploy) -> None:
    admin = "arn:aws:iam::123456789012:role/SecurityKeyAdmin"
    created = deploy_stack({"KeyAdministratorArns": admin})

    policy = policy_document(
        boto3.client("kms").get_key_policy(KeyId=created["SessionKey"], PolicyName="default")["Policy"]
    )
    admins = next(s for s in policy["Statement"] if s["Sid"] == "NamedKeyAdministrators")
    assert admins["Principal"] == {"AWS": [admin]}


def test_bucket_is_encrypted_with_the_stack_key_and_tagged(deploy_stack: Deploy) -> None:
    created = deploy_stack()
    s3 = boto3.client("s3")
    bucket = created["TranscriptBucket"]
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{created['SessionKey']}"

    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_arn,
    }
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["Application"] == "SessionGuard"


def test_session_log_group_keeps_logs_for_the_retention_parameter(deploy_stack: Deploy) -> None:
    deploy_stack({"SessionLogRetentionDays": "731"})

    (group,) = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/ssm/sessionguard/sessions")[
        "logGroups"
    ]
    assert group["retentionInDays"] == 731


def test_retention_zero_means_never_expire(deploy_stack: Deploy) -> None:
    deploy_stack({"SessionLogRetentionDays": "0"})

    (group,) = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/ssm/sessionguard/sessions")[
        "logGroups"
    ]
    assert "retentionInDays" not in group


def test_logging_policy_resolves_to_exactly_this_group_bucket_and_key(deploy_stack: Deploy) -> None:
    created = deploy_stack()
    iam = boto3.client("iam")
    policy_arn = created["SessionLoggingPolicy"]
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = policy_document(
        iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
    )
    sids = {s["Sid"]: s for s in document["Statement"]}
    bucket = created["TranscriptBucket"]

    group_arn, streams_arn = sids["StreamSessionLogs"]["Resource"]
    # LogGroup.Arn ends in ":*" on AWS; moto leaves that off.
    assert (
        group_arn.removesuffix(":*") == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/ssm/sessionguard/sessions"
    )
    assert streams_arn == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/ssm/sessionguard/sessions:log-stream:*"
    assert sids["WriteSessionTranscripts"]["Resource"] == f"arn:aws:s3:::{bucket}/sessions/*"
    assert sids["UseSessionKeyForTranscripts"]["Resource"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_instance_profile_carries_the_instance_role(deploy_stack: Deploy) -> None:
    # moto's CloudFormation does not attach a role's ManagedPolicyArns; test_template.py checks them.
    created = deploy_stack()

    profile = boto3.client("iam").get_instance_profile(InstanceProfileName=created["SessionInstanceProfile"])
    assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == [created["SessionInstanceRole"]]
