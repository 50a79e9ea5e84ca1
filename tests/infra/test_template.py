"""Security properties of template.yaml, checked on the SAM translation (what CloudFormation receives)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.stack import ROOT, TEMPLATE, sam_template

Statement = dict[str, Any]

# Resource types that take Tags in CloudFormation and must carry Application=SessionGuard.
TAGGABLE = {
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::StepFunctions::StateMachine",
}


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_}


def statements(policy: dict[str, Any]) -> Iterator[Statement]:
    """The policy's statements, conditional ones ([condition, statement, AWS::NoValue]) included."""
    for statement in policy["Statement"]:
        yield statement["Fn::If"][1] if "Fn::If" in statement else statement


def statements_by_sid(policy: dict[str, Any]) -> dict[str, Statement]:
    return {statement["Sid"]: statement for statement in statements(policy)}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_policies(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy document in the template, named by the resource that holds it."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        match res["Type"]:
            case "AWS::IAM::Role":
                yield f"{name} trust", props["AssumeRolePolicyDocument"]
                for policy in props.get("Policies", []):
                    yield f"{name} {policy['PolicyName']}", policy["PolicyDocument"]
            case "AWS::IAM::ManagedPolicy" | "AWS::S3::BucketPolicy" | "AWS::SQS::QueuePolicy":
                yield name, props["PolicyDocument"]
            case "AWS::SNS::TopicPolicy":
                yield name, props["PolicyDocument"]
            case "AWS::KMS::Key":
                yield name, props["KeyPolicy"]


# --- KMS key --------------------------------------------------------------------------------------------------


def test_key_is_symmetric_with_rotation(cfn_template: dict[str, Any]) -> None:
    key = cfn_template["Resources"]["SessionKey"]
    assert key["Properties"]["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_account_root_administers_the_key_but_cannot_use_it_directly(cfn_template: dict[str, Any]) -> None:
    root = statements_by_sid(cfn_template["Resources"]["SessionKey"]["Properties"]["KeyPolicy"])[
        "AccountAdministersKeyThroughIam"
    ]
    assert root["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert "kms:PutKeyPolicy" in root["Action"] or "kms:Put*" in root["Action"]  # never lock the account out
    crypto = {
        "kms:*",
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKey*",
        "kms:ReEncrypt*",
    }
    assert not crypto & set(root["Action"])


def test_account_root_cannot_create_grants_that_bypass_the_via_service_statements(
    cfn_template: dict[str, Any],
) -> None:
    """kms:Create* would include CreateGrant: any IAM principal allowed kms:* could grant itself direct use."""
    for statement in statements(cfn_template["Resources"]["SessionKey"]["Properties"]["KeyPolicy"]):
        actions = as_list(statement["Action"])
        assert "kms:Create*" not in actions, statement["Sid"]
        assert "kms:*" not in actions, statement["Sid"]
        if "kms:CreateGrant" in actions:
            assert statement["Condition"]["BoolIfExists"] == {"kms:GrantIsForAWSResource": "true"}


def test_cloudwatch_logs_may_use_the_key_only_for_the_stacks_log_groups(cfn_template: dict[str, Any]) -> None:
    logs = statements_by_sid(cfn_template["Resources"]["SessionKey"]["Properties"]["KeyPolicy"])[
        "CloudWatchLogsEncryptsTheStacksLogGroups"
    ]
    assert logs["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    for action in ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"):
        assert action in logs["Action"]
    (groups,) = logs["Condition"]["ArnEquals"].values()
    assert list(logs["Condition"]["ArnEquals"]) == ["kms:EncryptionContext:aws:logs:arn"]
    assert not [group for group in groups if group["Fn::Sub"].endswith(":*")]  # named groups, no wildcard


def test_account_principals_use_the_key_through_s3_and_logs_only(cfn_template: dict[str, Any]) -> None:
    via = statements_by_sid(cfn_template["Resources"]["SessionKey"]["Properties"]["KeyPolicy"])[
        "AccountUsesKeyThroughS3AndLogsOnly"
    ]
    assert via["Condition"]["StringEquals"]["kms:ViaService"] == [
        {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"},
        {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"},
    ]
    assert via["Condition"]["StringEquals"]["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}


def test_key_administrators_are_optional(cfn_template: dict[str, Any]) -> None:
    statements = cfn_template["Resources"]["SessionKey"]["Properties"]["KeyPolicy"]["Statement"]
    conditional = [s["Fn::If"] for s in statements if "Fn::If" in s]
    admins = next(c for c in conditional if c[1]["Sid"] == "NamedKeyAdministrators")
    assert admins[0] == "HasKeyAdministrators"
    assert admins[2] == {"Ref": "AWS::NoValue"}
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(admins[1]["Action"])


# --- Session log group ----------------------------------------------------------------------------------------


def test_session_log_group_is_kms_encrypted_standard_and_retained(cfn_template: dict[str, Any]) -> None:
    group = cfn_template["Resources"]["SessionLogGroup"]
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["SessionKey", "Arn"]}
    assert group["Properties"]["LogGroupClass"] == "STANDARD"
    assert group["DeletionPolicy"] == "Retain"
    assert group["UpdateReplacePolicy"] == "Retain"
    assert group["Properties"]["RetentionInDays"] == {
        "Fn::If": ["SessionLogsExpire", {"Ref": "SessionLogRetentionDays"}, {"Ref": "AWS::NoValue"}]
    }


def test_data_protection_policy_masks_aws_secret_keys_and_private_keys(cfn_template: dict[str, Any]) -> None:
    policy = cfn_template["Resources"]["SessionLogGroup"]["Properties"]["DataProtectionPolicy"]["Fn::If"]
    assert policy[0] == "UseDataProtection"
    audit, deidentify = policy[1]["Statement"]
    identifiers = [d["Fn::Sub"].rsplit("/", 1)[1] for d in deidentify["DataIdentifier"]]
    assert {"AwsSecretKey", "OpenSshPrivateKey", "PkcsPrivateKey"} <= set(identifiers)
    assert deidentify["Operation"] == {"Deidentify": {"MaskConfig": {}}}
    assert "Audit" in audit["Operation"]


# --- Transcript bucket ----------------------------------------------------------------------------------------


def test_bucket_encrypts_with_the_key_and_a_bucket_key(cfn_template: dict[str, Any]) -> None:
    rule = cfn_template["Resources"]["TranscriptBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ][0]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["SessionKey", "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True


def test_bucket_blocks_public_access_keeps_versions_and_is_retained(cfn_template: dict[str, Any]) -> None:
    bucket = cfn_template["Resources"]["TranscriptBucket"]
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_bucket_policy_denies_plain_http(cfn_template: dict[str, Any]) -> None:
    policy = cfn_template["Resources"]["TranscriptBucketPolicy"]["Properties"]["PolicyDocument"]
    tls = statements_by_sid(policy)["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny"
    assert tls["Principal"] == "*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(tls["Resource"]) == 2  # the bucket and its objects


def test_bucket_policy_denies_puts_not_encrypted_with_this_key(cfn_template: dict[str, Any]) -> None:
    policy = statements_by_sid(cfn_template["Resources"]["TranscriptBucketPolicy"]["Properties"]["PolicyDocument"])
    assert policy["DenyPutsWithOtherEncryption"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert policy["DenyPutsWithAnotherKmsKey"]["Condition"] == {
        "StringNotEqualsIfExists": {
            "s3:x-amz-server-side-encryption-aws-kms-key-id": {"Fn::GetAtt": ["SessionKey", "Arn"]}
        }
    }
    assert policy["DenyPutsWithKmsButNoKeyId"]["Condition"]["Null"] == {
        "s3:x-amz-server-side-encryption-aws-kms-key-id": "true"
    }
    assert policy["DenyCustomerProvidedKeys"]["Condition"]["Null"] == {
        "s3:x-amz-server-side-encryption-customer-algorithm": "false"
    }
    for statement in policy.values():
        assert statement["Effect"] == "Deny"


def test_object_lock_is_optional_and_uses_the_mode_and_days_parameters(cfn_template: dict[str, Any]) -> None:
    props = cfn_template["Resources"]["TranscriptBucket"]["Properties"]
    lock = props["ObjectLockConfiguration"]["Fn::If"]
    assert lock[0] == "UseObjectLock"
    assert lock[1]["Rule"]["DefaultRetention"] == {
        "Mode": {"Ref": "ObjectLockMode"},
        "Days": {"Ref": "ObjectLockRetentionDays"},
    }
    assert props["ObjectLockEnabled"] == {"Fn::If": ["UseObjectLock", True, {"Ref": "AWS::NoValue"}]}


def test_lifecycle_archives_and_expires_transcripts_by_parameter(cfn_template: dict[str, Any]) -> None:
    rules = {
        r["Id"]: r
        for r in cfn_template["Resources"]["TranscriptBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert rules["archive-transcripts"]["Transitions"][0]["StorageClass"] == "GLACIER"
    assert rules["archive-transcripts"]["Status"] == {"Fn::If": ["ArchiveTranscripts", "Enabled", "Disabled"]}
    assert rules["expire-transcripts"]["Status"] == {"Fn::If": ["ExpireTranscripts", "Enabled", "Disabled"]}


# --- Instance role and logging policy -------------------------------------------------------------------------


def test_instance_role_has_ssm_core_and_the_logging_policy(cfn_template: dict[str, Any]) -> None:
    role = cfn_template["Resources"]["SessionInstanceRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"},
        {"Ref": "SessionLoggingPolicy"},
    ]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Sid": "Ec2AssumesRole",
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    profile = cfn_template["Resources"]["SessionInstanceProfile"]["Properties"]
    assert profile["Roles"] == [{"Ref": "SessionInstanceRole"}]


def test_logging_policy_is_scoped_to_the_group_bucket_prefix_and_key(cfn_template: dict[str, Any]) -> None:
    policy = statements_by_sid(cfn_template["Resources"]["SessionLoggingPolicy"]["Properties"]["PolicyDocument"])
    stream = policy["StreamSessionLogs"]
    assert sorted(stream["Action"]) == [
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    assert all("SessionLogGroup" in str(resource) for resource in stream["Resource"])
    assert policy["FindSessionLogGroup"]["Action"] == "logs:DescribeLogGroups"
    assert policy["WriteSessionTranscripts"] == {
        "Sid": "WriteSessionTranscripts",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "${TranscriptBucket.Arn}/${TranscriptKeyPrefix}/*"},
    }
    assert policy["CheckTranscriptBucketEncryption"]["Action"] == "s3:GetEncryptionConfiguration"
    assert policy["CheckTranscriptBucketEncryption"]["Resource"] == {"Fn::GetAtt": ["TranscriptBucket", "Arn"]}
    assert sorted(policy["UseSessionKeyForTranscripts"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert policy["UseSessionKeyForTranscripts"]["Resource"] == {"Fn::GetAtt": ["SessionKey", "Arn"]}


def test_logging_policy_is_exported_for_roles_the_stack_does_not_own(cfn_template: dict[str, Any]) -> None:
    output = cfn_template["Outputs"]["LoggingPolicyArn"]
    assert output["Value"] == {"Ref": "SessionLoggingPolicy"}
    assert output["Export"] == {"Name": {"Fn::Sub": "${AWS::StackName}-LoggingPolicyArn"}}


# --- Preferences custom resource ------------------------------------------------------------------------------


def test_preferences_enforce_streaming_to_this_group_and_bucket(cfn_template: dict[str, Any]) -> None:
    prefs = cfn_template["Resources"]["SessionPreferences"]
    assert prefs["Type"] == "Custom::SessionManagerPreferences"
    props = prefs["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["PreferencesFunction", "Arn"]}
    assert props["S3BucketName"] == {"Ref": "TranscriptBucket"}
    assert props["CloudWatchLogGroupName"] == {"Ref": "SessionLogGroup"}
    assert props["DocumentName"] == "SSM-SessionManagerRunShell"
    assert props["EnforceEncryption"] == {"Ref": "EnforceSessionLogging"}
    assert cfn_template["Parameters"]["EnforceSessionLogging"]["Default"] == "true"


def test_preferences_function_may_touch_only_the_preferences_document(cfn_template: dict[str, Any]) -> None:
    role = cfn_template["Resources"]["PreferencesFunctionRole"]["Properties"]
    (statement,) = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/SSM-SessionManagerRunShell"
    }
    assert all(action.startswith("ssm:") and "*" not in action for action in statement["Action"])


# --- Whole-template properties --------------------------------------------------------------------------------


def test_instance_tagging_is_limited_to_sessionguard_keys_and_never_to_all_tags(cfn_template: dict[str, Any]) -> None:
    """ForAllValues:StringLike is true for a request that names no tags, and DeleteTags without tags deletes every
    tag of the instance: each statement that tags instances also requires aws:TagKeys to be present."""
    tagging = []
    for holder, policy in iam_policies(cfn_template):
        for statement in statements(policy):
            actions = as_list(statement.get("Action", []))
            if "ec2:CreateTags" in actions or "ec2:DeleteTags" in actions:
                tagging.append(holder)
                condition = statement["Condition"]
                assert condition["ForAllValues:StringLike"] == {"aws:TagKeys": ["sessionguard:*"]}, holder
                assert condition["Null"] == {"aws:TagKeys": "false"}, holder
    assert len(tagging) >= 2  # the enrollment steps that tag instances


STATEFUL = ("AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key")
KEPT_WHEN_THE_STACK_GOES = {
    "SessionKey",
    "SessionLogGroup",
    "TranscriptBucket",
    "AlertFailureQueue",
    "GuardrailFailureQueue",
    "SessionLedgerFailureQueue",
    "SessionLedgerTable",  # who started which session from where: an audit record, kept like the logs
    "HuntResultsBucket",  # retro-hunt findings (docs/hunt.md): evidence of an investigation, kept like the logs
}


def test_every_stateful_resource_says_what_happens_to_it_and_the_audit_trail_is_kept(
    cfn_template: dict[str, Any],
) -> None:
    """Session logs, transcripts, their key and the failure queues outlive the stack; the rest goes with it (the
    masked transcripts too: they can be derived again from the session logs), on purpose rather than by default."""
    for name, resource in cfn_template["Resources"].items():
        if resource["Type"] not in STATEFUL:
            continue
        expected = "Retain" if name in KEPT_WHEN_THE_STACK_GOES else "Delete"
        assert resource.get("DeletionPolicy") == expected, name
        assert resource.get("UpdateReplacePolicy") == expected, name


def test_every_iam_statement_has_a_sid(cfn_template: dict[str, Any]) -> None:
    missing = []
    for where, policy in iam_policies(cfn_template):
        for statement in statements(policy):
            if "Sid" not in statement:
                missing.append(where)
    assert missing == []


def test_every_wildcard_resource_outside_key_policies_says_why(cfn_template: dict[str, Any]) -> None:
    """A comment must stand right above the statement's `- Sid:` line, or on its `Resource: "*"` line."""
    lines = TEMPLATE.read_text().splitlines()
    unexplained = []
    for where, policy in iam_policies(cfn_template):
        if where in resources(cfn_template, "AWS::KMS::Key"):
            continue  # in a key policy "*" means "this key"; the template says so once
        for statement in statements(policy):
            if statement.get("Effect") == "Allow" and "*" in as_list(statement.get("Resource")):
                sid_line = next(i for i, line in enumerate(lines) if re.search(rf"Sid: {statement['Sid']}\b", line))
                window = lines[sid_line - 1 : sid_line + 12]
                if not window[0].strip().startswith("#") and not any(
                    'Resource: "*"' in line and "#" in line.split('"*"', 1)[1] for line in window
                ):
                    unexplained.append(statement["Sid"])
    assert unexplained == []


def test_every_taggable_resource_is_tagged(cfn_template: dict[str, Any]) -> None:
    untagged = []
    for name, res in cfn_template["Resources"].items():
        if res["Type"] not in TAGGABLE:
            continue
        tags = res["Properties"].get("Tags", [])
        if {"Key": "Application", "Value": "SessionGuard"} not in tags:
            untagged.append(name)
    assert untagged == []


def test_every_function_runs_python313_on_arm64_with_the_layer(cfn_template: dict[str, Any]) -> None:
    functions = resources(cfn_template, "AWS::Lambda::Function")
    assert functions
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert any("SessionGuardLayer" in str(layer) for layer in props["Layers"])
        assert props["TracingConfig"] == {"Mode": "Active"}


def test_every_reserved_concurrency_can_be_turned_off_for_small_accounts(cfn_template: dict[str, Any]) -> None:
    """Lambda keeps 100 of the account's concurrency unreserved: an account with a small quota cannot deploy a
    stack that reserves any, so ReserveConcurrency=false must remove every reservation."""
    reserving = {
        name: fn["Properties"]["ReservedConcurrentExecutions"]
        for name, fn in resources(cfn_template, "AWS::Lambda::Function").items()
        if "ReservedConcurrentExecutions" in fn["Properties"]
    }
    assert "SessionAlertsFunction" in reserving
    for name, value in reserving.items():
        assert value["Fn::If"][0] == "ReservesConcurrency", name
        assert value["Fn::If"][2] == {"Ref": "AWS::NoValue"}, name
    assert cfn_template["Conditions"]["ReservesConcurrency"] == {"Fn::Equals": [{"Ref": "ReserveConcurrency"}, "true"]}


def test_the_layer_is_built_by_sam_for_python313_arm64() -> None:
    """By layers/sessionguard/Makefile (sam build's makefile method), which installs arm64 wheels for Python 3.13
    and compiles them (tests/infra/test_layer_dependencies.py checks the built layer)."""
    layer = sam_template()["Resources"]["SessionGuardLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    makefile = (ROOT / "layers" / "sessionguard" / "Makefile").read_text(encoding="utf-8")
    assert "build-SessionGuardLayer:" in makefile
    assert "--python-version 3.13" in makefile
    assert "aarch64" in makefile
    assert "--invalidation-mode unchecked-hash" in makefile


def test_outputs_name_what_operators_need(cfn_template: dict[str, Any]) -> None:
    assert {
        "KeyArn",
        "SessionLogGroupName",
        "TranscriptBucketName",
        "InstanceProfileName",
        "InstanceProfileArn",
        "LoggingPolicyArn",
    } <= set(cfn_template["Outputs"])


def test_every_checkov_suppression_gives_a_reason() -> None:
    for name, res in sam_template()["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{name} suppresses {skip['id']} without a reason"


@pytest.mark.parametrize("document", ["docs/configuration.md", "README.md"])
def test_every_parameter_is_documented(document: str) -> None:
    parameters = sam_template()["Parameters"]
    text = (ROOT / document).read_text()
    undocumented = [name for name in parameters if f"`{name}`" not in text]
    assert undocumented == []
    assert all(p.get("Description") for p in parameters.values())
