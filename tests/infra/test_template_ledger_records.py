"""The session ledger's delivery records in template.yaml (docs/ledger.md, "The stream, read back from the delivery
records"): the ledger function reads them from the sanitized group and nothing else of CloudWatch Logs, and the
instances, which can write any stream of the session log group, cannot write to the sanitized group."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.test_template import resources, statements, statements_by_sid
from tests.infra.test_template_ledger import role_policy

SANITIZED_ARNS = [
    {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${SanitizedLogGroup}"},
    {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${SanitizedLogGroup}:*"},
]


def test_the_ledger_function_reads_the_delivery_records_of_the_sanitized_group_only(
    cfn_template: dict[str, Any],
) -> None:
    by_sid = statements_by_sid(role_policy(cfn_template, "SessionLedgerFunctionRole"))
    read = by_sid["ReadDeliveryRecords"]
    assert (read["Effect"], read["Action"], read["Resource"]) == ("Allow", "logs:FilterLogEvents", SANITIZED_ARNS)
    logs_actions = [a for s in by_sid.values() for a in json.dumps(s.get("Action")).split('"') if a.startswith("logs:")]
    assert logs_actions == ["logs:FilterLogEvents"]
    variables = cfn_template["Resources"]["SessionLedgerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SANITIZED_LOG_GROUP"] == {"Ref": "SanitizedLogGroup"}


def test_the_instance_policy_cannot_write_to_the_sanitized_group(cfn_template: dict[str, Any]) -> None:
    # The records are trusted because what the instances write goes to the session log group only.
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for name, p in resources(cfn_template, "AWS::IAM::ManagedPolicy").items()
        if name == "SessionLoggingPolicy"
    ]
    writes = [s for s in statements(policy) if "logs:PutLogEvents" in json.dumps(s.get("Action"))]
    assert writes
    for statement in writes:
        text = json.dumps(statement["Resource"])
        assert "SessionLogGroup" in text
        assert "SanitizedLogGroup" not in text
        assert text != '"*"'
