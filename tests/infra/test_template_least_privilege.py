"""Least privilege and real-AWS fidelity of template.yaml (issue #13, items 14 to 20).

Template-shape checks read the SAM translation; where the answer depends on what CloudFormation resolves
(conditions, parameters, the names of created resources), the stack is deployed into moto and its policies are
read back.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from sessionguard.enrollment.decisions import AGENT_UPDATE_TAG, FailureReason, enrolled_tags, report_tags

from tests.infra.stack import sam_template, translate
from tests.infra.test_template import as_list, iam_policies, resources, statements, statements_by_sid
from tests.infra.test_template_pipelines import key_statements

Deploy = Callable[..., dict[str, str]]

FAILURE_QUEUES = {
    # queue: the role its function parks records with (Lambda's on-failure destination sends with it too)
    "AlertFailureQueue": "SessionAlertsFunctionRole",
    "GuardrailFailureQueue": "GuardrailAlertsFunctionRole",
    "SessionLedgerFailureQueue": "SessionLedgerFunctionRole",
}
MESSAGE_READS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:PurgeQueue",
    "sqs:StartMessageMoveTask",
}
OPERATOR = "arn:aws:iam::123456789012:role/SecurityOperator"


def document(value: str | dict[str, Any]) -> dict[str, Any]:
    """A policy document as moto hands it back: JSON text, a dict, or a dict's repr (inline role policies), with a
    null where a conditional statement resolved to AWS::NoValue."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = ast.literal_eval(value)
    assert isinstance(value, dict)
    return {**value, "Statement": [s for s in value["Statement"] if s is not None]}


def queue_policy(cfn_template: dict[str, Any], queue: str) -> dict[str, Any]:
    (policy,) = [
        r["Properties"]["PolicyDocument"]
        for r in resources(cfn_template, "AWS::SQS::QueuePolicy").values()
        if r["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    return policy  # type: ignore[no-any-return]


def denied(policy: dict[str, Any], principal_arn: str, action: str) -> bool:
    """Whether one of the policy's Deny statements matches an HTTPS request by principal_arn for action.

    Only what the failure queues' policies use: Principal "*", actions by name, and the ArnNotLike/ArnNotEquals
    aws:PrincipalArn and aws:SecureTransport conditions (CloudFormation has resolved everything else)."""
    for statement in policy["Statement"]:
        if statement is None or statement["Effect"] != "Deny" or action not in as_list(statement["Action"]):
            continue
        applies = True
        for operator, tests in statement.get("Condition", {}).items():
            for key, values in tests.items():
                if key == "aws:SecureTransport":
                    applies = False  # the operators' calls are HTTPS ones
                elif operator == "ArnNotLike":
                    applies &= not any(fnmatch.fnmatchcase(principal_arn, v) for v in as_list(values))
                elif operator == "ArnNotEquals":
                    applies &= principal_arn not in as_list(values)
                else:
                    raise AssertionError(f"condition {operator} {key} is not modelled here")
        if applies:
            return True
    return False


# --- 14. The failure queues hold raw records: only named operators read them, only the function writes -------


@pytest.mark.parametrize("queue", FAILURE_QUEUES)
def test_only_the_named_operators_may_read_delete_or_purge_parked_records(
    cfn_template: dict[str, Any], queue: str
) -> None:
    statement = statements_by_sid(queue_policy(cfn_template, queue))["DenyReadingParkedRecords"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert set(statement["Action"]) == MESSAGE_READS
    assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    # Empty FailureQueueReaderArns: nobody (no condition at all, so nothing can match an empty ARN by accident).
    assert statement["Condition"] == {
        "Fn::If": [
            "HasFailureQueueReaders",
            {"ArnNotLike": {"aws:PrincipalArn": {"Ref": "FailureQueueReaderArns"}}},
            {"Ref": "AWS::NoValue"},
        ]
    }


@pytest.mark.parametrize(("queue", "role"), FAILURE_QUEUES.items())
def test_only_the_alert_function_may_park_records(cfn_template: dict[str, Any], queue: str, role: str) -> None:
    statement = statements_by_sid(queue_policy(cfn_template, queue))["DenyParkingByAnyoneButTheFunction"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "sqs:SendMessage")
    assert statement["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [role, "Arn"]}}}


def test_failure_queue_readers_are_a_list_that_defaults_to_nobody() -> None:
    parameter = sam_template()["Parameters"]["FailureQueueReaderArns"]
    assert parameter["Type"] == "CommaDelimitedList"
    assert parameter["Default"] == ""


def resolved(value: Any, parameters: dict[str, Any], attributes: dict[str, str]) -> Any:
    """A policy document with Ref, Fn::GetAtt and Fn::If resolved as CloudFormation would (moto's CloudFormation
    does not apply queue policies): conditions are read as "is this parameter non-empty"."""
    if isinstance(value, list):
        return [item for item in (resolved(v, parameters, attributes) for v in value) if item is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        chosen = when_true if parameters[CONDITION_PARAMETERS[condition]] else when_false
        return resolved(chosen, parameters, attributes)
    if "Ref" in value or "Fn::GetAtt" in value:
        return referenced(value, parameters, attributes)
    items = {key: resolved(v, parameters, attributes) for key, v in value.items()}
    return {key: v for key, v in items.items() if v is not NO_VALUE}


def referenced(value: dict[str, Any], parameters: dict[str, Any], attributes: dict[str, str]) -> Any:
    if "Fn::GetAtt" in value:
        return attributes[".".join(value["Fn::GetAtt"])]
    return NO_VALUE if value["Ref"] == "AWS::NoValue" else parameters[value["Ref"]]


NO_VALUE = object()
CONDITION_PARAMETERS = {"HasFailureQueueReaders": "FailureQueueReaderArns"}


@pytest.mark.parametrize(("queue", "role"), FAILURE_QUEUES.items())
def test_a_named_operator_can_replay_and_nobody_else_can_read_the_queue(
    cfn_template: dict[str, Any], queue: str, role: str
) -> None:
    """The replay-dlq flow (receive, then delete once Lambda accepted the event) for a named operator."""
    function_role = f"arn:aws:iam::123456789012:role/sessionguard-{role}-ABC"
    attributes = {f"{queue}.Arn": f"arn:aws:sqs:us-east-1:123456789012:{queue}", f"{role}.Arn": function_role}
    sso_operators = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Ops_*"
    policy = resolved(
        queue_policy(cfn_template, queue), {"FailureQueueReaderArns": [OPERATOR, sso_operators]}, attributes
    )
    sso_operator = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Ops_1a"
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage"):
        assert not denied(policy, OPERATOR, action), action
        assert not denied(policy, sso_operator, action), action
    for someone in ("arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:root", function_role):
        assert denied(policy, someone, "sqs:ReceiveMessage"), someone
        assert denied(policy, someone, "sqs:PurgeQueue"), someone
    assert denied(policy, OPERATOR, "sqs:SendMessage")
    assert not denied(policy, function_role, "sqs:SendMessage")


def test_without_named_operators_nobody_may_read_the_queue(cfn_template: dict[str, Any]) -> None:
    attributes = {
        "AlertFailureQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:q",
        "SessionAlertsFunctionRole.Arn": "arn:aws:iam::123456789012:role/f",
    }
    policy = resolved(queue_policy(cfn_template, "AlertFailureQueue"), {"FailureQueueReaderArns": []}, attributes)
    assert denied(policy, OPERATOR, "sqs:ReceiveMessage")
    assert denied(policy, "arn:aws:iam::123456789012:root", "sqs:DeleteMessage")


# --- 15. The session key: each use scoped to what the service that makes it requires ---------------------------


def test_cloudwatch_logs_may_use_the_key_for_the_stacks_own_log_groups_only(deploy_stack: Deploy) -> None:
    created = deploy_stack()
    policy = document(boto3.client("kms").get_key_policy(KeyId=created["SessionKey"], PolicyName="default")["Policy"])
    (logs,) = [s for s in policy["Statement"] if s["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}]
    allowed = set(as_list(logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]))
    # moto's CloudFormation does not set a group's KMS key: which groups name the key is read from the template.
    named_key = {
        created[name]
        for name, group in resources(translate(), "AWS::Logs::LogGroup").items()
        if group["Properties"].get("KmsKeyId") == {"Fn::GetAtt": ["SessionKey", "Arn"]}
    }
    groups = boto3.client("logs").describe_log_groups()["logGroups"]
    encrypted = {g["arn"].removesuffix(":*") for g in groups if g["logGroupName"] in named_key}
    assert len(encrypted) == 5  # sessions, sanitized transcripts, functions, enrollment and hunt executions
    assert allowed == encrypted


def test_every_log_group_the_key_encrypts_is_named_in_the_key_policy(cfn_template: dict[str, Any]) -> None:
    """The key policy cannot GetAtt a group that names the key (a cycle): it spells each ARN from the group's name,
    so a new encrypted group must be added there too, or CloudWatch Logs cannot create it."""
    logs = key_statements(cfn_template)["CloudWatchLogsEncryptsTheStacksLogGroups"]
    named = json.dumps(logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
    for name, group in resources(cfn_template, "AWS::Logs::LogGroup").items():
        if group["Properties"].get("KmsKeyId") == {"Fn::GetAtt": ["SessionKey", "Arn"]}:
            spelled = group["Properties"]["LogGroupName"]
            text = spelled["Fn::Sub"] if "Fn::Sub" in spelled else "${" + spelled["Ref"] + "}"
            assert f"log-group:{text}" in named, name


def test_instances_use_the_session_key_only_through_s3_for_the_transcript_bucket(cfn_template: dict[str, Any]) -> None:
    """The agent's SSE-KMS uploads: S3 asks KMS for the data key (GenerateDataKey; Decrypt for multipart uploads),
    with the bucket's ARN as encryption context because the bucket uses an S3 Bucket Key."""
    policy = cfn_template["Resources"]["SessionLoggingPolicy"]["Properties"]["PolicyDocument"]
    transcripts = statements_by_sid(policy)["UseSessionKeyForTranscripts"]
    assert sorted(transcripts["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert transcripts["Condition"]["StringEquals"] == {
        "kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}
    }
    assert transcripts["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": [
            {"Fn::GetAtt": ["TranscriptBucket", "Arn"]},
            {"Fn::Sub": "${TranscriptBucket.Arn}/${TranscriptKeyPrefix}/*"},
        ]
    }
    for statement in statements(policy):
        if any(action.startswith("kms:") for action in as_list(statement["Action"])):
            assert statement.get("Condition"), f"{statement['Sid']} lets instances use the key for anything"


def test_instances_decrypt_session_data_keys_only_with_session_managers_encryption_context(
    cfn_template: dict[str, Any],
) -> None:
    """The agent's one direct KMS call (agent/session/crypto/blockcipher.go): Decrypt of the data key the client
    generated, with aws:ssm:SessionId and aws:ssm:TargetId in the encryption context."""
    policy = cfn_template["Resources"]["SessionLoggingPolicy"]["Properties"]["PolicyDocument"]
    decrypt = statements_by_sid(policy)["DecryptSessionDataKeys"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"] == {
        "StringLike": {"kms:EncryptionContext:aws:ssm:SessionId": "*", "kms:EncryptionContext:aws:ssm:TargetId": "*"}
    }
    # The key policy allows the direct use only while SessionDataEncryption is "true".
    conditional = [
        s["Fn::If"]
        for s in cfn_template["Resources"]["SessionKey"]["Properties"]["KeyPolicy"]["Statement"]
        if "Fn::If" in s
    ]
    (agents,) = [c for c in conditional if c[1]["Sid"] == "AgentsDecryptSessionDataKeys"]
    assert agents[0] == "EncryptSessionData"


def test_direct_use_of_the_key_is_split_by_who_makes_each_session_manager_call(cfn_template: dict[str, Any]) -> None:
    """The client generates the session's data key, the agent decrypts it; both name the session and its target."""
    key = key_statements(cfn_template)
    assert "AccountEncryptsSessionDataDirectly" not in key
    context = {"kms:EncryptionContext:aws:ssm:SessionId": "*", "kms:EncryptionContext:aws:ssm:TargetId": "*"}
    for sid, action in [
        ("ClientsGenerateSessionDataKeys", "kms:GenerateDataKey"),
        ("AgentsDecryptSessionDataKeys", "kms:Decrypt"),
    ]:
        assert key[sid]["Action"] == action
        assert key[sid]["Condition"] == {
            "StringEquals": {"kms:CallerAccount": {"Ref": "AWS::AccountId"}},
            "StringLike": context,
        }


def test_the_extra_alert_topics_key_is_looked_for_in_the_topics_account_and_region_only(deploy_stack: Deploy) -> None:
    topic = "arn:aws:sns:eu-west-1:111122223333:sessionguard-central"
    created = deploy_stack({"ExtraAlertTopicArn": topic})
    iam = boto3.client("iam")
    for role in ("SessionAlertsFunctionRole", "GuardrailAlertsFunctionRole"):
        (name,) = iam.list_role_policies(RoleName=created[role])["PolicyNames"]
        policy = document(iam.get_role_policy(RoleName=created[role], PolicyName=name)["PolicyDocument"])
        (statement,) = [s for s in policy["Statement"] if s["Sid"] == "UseExtraAlertTopicKey"]
        assert statement["Resource"] == "arn:aws:kms:eu-west-1:111122223333:key/*"
        assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}}


# --- 16. The agent-update association targets what enrollment updated -------------------------------------------


def test_the_agent_update_association_targets_the_instances_enrollment_updated(cfn_template: dict[str, Any]) -> None:
    """Enrollment writes the agent-update tag only on instances it decided to enroll (selector and opt-out
    applied) and whose agent it updated or tried to; State Manager cannot express "not opted out" itself."""
    association = cfn_template["Resources"]["AgentUpdateAssociation"]["Properties"]
    assert association["Targets"] == [{"Key": "tag-key", "Values": [AGENT_UPDATE_TAG]}]
    assert AGENT_UPDATE_TAG in enrolled_tags(datetime(2026, 1, 1, tzinfo=UTC), "Success")
    assert AGENT_UPDATE_TAG in report_tags(FailureReason.AGENT_UPDATE_FAILED)
    assert AGENT_UPDATE_TAG not in report_tags(FailureReason.EXISTING_ROLE_NONCOMPLIANT)  # report mode changes nothing


# --- 17. DescribeLogGroups has no resource type --------------------------------------------------------------------


def test_the_agent_may_look_up_log_groups_with_the_resource_aws_requires(cfn_template: dict[str, Any]) -> None:
    policy = cfn_template["Resources"]["SessionLoggingPolicy"]["Properties"]["PolicyDocument"]
    lookup = statements_by_sid(policy)["FindSessionLogGroup"]
    assert (lookup["Action"], lookup["Resource"]) == ("logs:DescribeLogGroups", "*")


# --- 19. CloudWatch alarms and the encrypted alert topic ---------------------------------------------------------


def test_alarms_use_the_topic_key_as_sns_documents_it_and_the_topic_policy_names_the_source(
    cfn_template: dict[str, Any],
) -> None:
    alarms = key_statements(cfn_template)["CloudWatchAlarmsUseKeyForAlertTopic"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "Condition" not in alarms
    topic = statements_by_sid(cfn_template["Resources"]["AlertTopicPolicy"]["Properties"]["PolicyDocument"])
    publish = topic["CloudWatchAlarmsPublish"]
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert publish["Condition"]["ArnLike"] == {
        "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}
    }


# --- 20. Policy language version, the bucket key's ARN form, the concurrency total ------------------------------


def test_every_policy_document_uses_the_current_policy_language(cfn_template: dict[str, Any]) -> None:
    """Without Version, IAM applies the 2008-10-17 language, in which policy variables are plain text."""
    unversioned = [where for where, policy in iam_policies(cfn_template) if policy.get("Version") != "2012-10-17"]
    assert unversioned == []


def test_the_agents_key_header_is_the_key_value_the_bucket_policy_demands(
    cfn_template: dict[str, Any], deploy_stack: Deploy
) -> None:
    """The agent reads the bucket's default encryption and sends its KMSMasterKeyID verbatim as
    x-amz-server-side-encryption-aws-kms-key-id (agent/s3util/s3util.go); the policy compares that header as a
    string, so a key id or alias in one place and an ARN in the other would deny every transcript upload."""
    resources_ = cfn_template["Resources"]
    demanded = statements_by_sid(resources_["TranscriptBucketPolicy"]["Properties"]["PolicyDocument"])[
        "DenyPutsWithAnotherKmsKey"
    ]["Condition"]["StringNotEqualsIfExists"]["s3:x-amz-server-side-encryption-aws-kms-key-id"]
    default = resources_["TranscriptBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert demanded == default[0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    # And that one expression is the key's full ARN, the form S3 hands back to the agent.
    created = deploy_stack()
    rule = boto3.client("s3").get_bucket_encryption(Bucket=created["TranscriptBucket"])[
        "ServerSideEncryptionConfiguration"
    ]["Rules"][0]
    sent_by_the_agent = rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert sent_by_the_agent == f"arn:aws:kms:us-east-1:123456789012:key/{created['SessionKey']}"


def test_the_reserved_concurrency_total_the_parameter_states_is_the_templates(cfn_template: dict[str, Any]) -> None:
    parameters = sam_template()["Parameters"]
    conditions_on_by_default = {"ReservesConcurrency"}  # DefaultHostManagementEnabled is off by default
    total = 0
    for function in resources(cfn_template, "AWS::Lambda::Function").values():
        reserved = function["Properties"].get("ReservedConcurrentExecutions")
        if reserved is None or function.get("Condition") not in (None, *conditions_on_by_default):
            continue
        value = reserved["Fn::If"][1]
        total += int(parameters[value["Ref"]]["Default"]) if isinstance(value, dict) else int(value)
    stated = re.search(r"(\d+) in all by default", " ".join(parameters["ReserveConcurrency"]["Description"].split()))
    assert stated is not None
    assert int(stated.group(1)) == total
