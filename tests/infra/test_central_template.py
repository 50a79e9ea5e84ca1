"""The central security account's template (central/template.yaml) and the Organizations (StackSets) path.

Service-managed StackSets refuse templates that use macros, AWS::Serverless included, so the fleet is deployed
from the SAM translation of the packaged template (docs/fleet.md); the test below translates a `sam package`-style
template (code as s3:// URIs) and checks it is plain CloudFormation that StackSets accepts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from tests.infra.stack import ROOT, translate

CENTRAL = ROOT / "central/template.yaml"
STACKSET_TEMPLATE_URL_MAX_BYTES = 1_048_576  # CreateStackSet TemplateURL: a template of at most 1 MB


def central() -> dict[str, Any]:
    return yaml_parse(CENTRAL.read_text())  # type: ignore[no-any-return]


def test_central_template_is_cfn_lint_clean() -> None:
    linter = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(linter), str(CENTRAL)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_organization_may_publish_to_the_central_topic() -> None:
    policy = central()["Resources"]["CentralAlertTopicPolicy"]["Properties"]["PolicyDocument"]
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}


def test_organization_publishers_may_use_the_topic_key_only_through_sns() -> None:
    statements = central()["Resources"]["CentralKey"]["Properties"]["KeyPolicy"]["Statement"]
    (org,) = [s for s in statements if s["Sid"] == "OrganizationPublishersUseKeyThroughSns"]
    condition = org["Condition"]["StringEquals"]
    assert condition["aws:PrincipalOrgID"] == {"Ref": "OrganizationId"}
    assert condition["kms:ViaService"] == {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}
    assert set(org["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert central()["Resources"]["CentralAlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "CentralKey"}


def test_only_the_organization_may_subscribe_to_the_log_destination() -> None:
    destination = central()["Resources"]["SessionLogDestination"]
    policy = destination["Properties"]["DestinationPolicy"]["Fn::Sub"]
    document = json.loads(policy.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "us-east-1"))
    (statement,) = document["Statement"]
    assert statement["Action"] == "logs:PutSubscriptionFilter"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ["${OrganizationId}"]}}
    assert destination["Condition"] == "WithLogDestination"


def test_the_packaged_template_translates_to_plain_cloudformation_for_stacksets() -> None:
    # Given the template as `sam package` leaves it (local code replaced by s3:// URIs: tests.infra.stack)
    template = translate()
    # Then no macro is left for StackSets to refuse
    assert "Transform" not in template
    assert not [name for name, r in template["Resources"].items() if r["Type"].startswith("AWS::Serverless::")]
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert functions
    assert all("S3Bucket" in f["Properties"]["Code"] for f in functions)
    assert len(json.dumps(template).encode()) < STACKSET_TEMPLATE_URL_MAX_BYTES


def test_the_central_account_cannot_grant_itself_direct_use_of_the_key() -> None:
    """kms:Create* would include kms:CreateGrant: any principal of the central account allowed kms:* in IAM could
    grant itself use of the key outside SNS and Kinesis (the member template's key forbids it the same way)."""
    statements = central()["Resources"]["CentralKey"]["Properties"]["KeyPolicy"]["Statement"]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not {"kms:Create*", "kms:CreateGrant", "kms:*"} & set(actions), statement["Sid"]


def test_the_log_destination_role_uses_the_key_only_through_kinesis() -> None:
    role = central()["Resources"]["LogDestinationRole"]["Properties"]
    (policy,) = role["Policies"]
    (encrypt,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "EncryptSessionLogRecords"]
    assert encrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "kinesis.${AWS::Region}.amazonaws.com"}}
    }


def test_every_central_policy_document_uses_the_current_policy_language() -> None:
    resources = central()["Resources"]
    documents = [resources["CentralKey"]["Properties"]["KeyPolicy"]]
    documents.append(resources["CentralAlertTopicPolicy"]["Properties"]["PolicyDocument"])
    documents.append(resources["LogDestinationRole"]["Properties"]["AssumeRolePolicyDocument"])
    documents += [p["PolicyDocument"] for p in resources["LogDestinationRole"]["Properties"]["Policies"]]
    assert all(document["Version"] == "2012-10-17" for document in documents)
