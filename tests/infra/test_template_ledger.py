"""The session ledger in template.yaml (docs/ledger.md): its table, its function's least-privilege policy, the
subscription function's one extra action, and EventBridge patterns that match the real-format events in
events/ledger-* (and nothing else the samples hold)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from demo.emulator import event_matches
from tests.infra.test_template import resources, statements_by_sid

EVENTS = Path(__file__).resolve().parents[2] / "events"
BUCKET = "sessionguard-transcripts-123456789012-us-east-1"  # the fixtures' bucket


def role_policy(cfn_template: dict[str, Any], role: str) -> dict[str, Any]:
    (policy,) = cfn_template["Resources"][role]["Properties"]["Policies"]
    return policy["PolicyDocument"]  # type: ignore[no-any-return]


def resolved(value: Any) -> Any:
    """A rule's pattern with the stack's names put in as the fixtures have them."""
    if isinstance(value, dict):
        if value == {"Ref": "TranscriptBucket"}:
            return BUCKET
        if value == {"Fn::Sub": "${TranscriptKeyPrefix}/"}:
            return "sessions/"
        return {key: resolved(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [resolved(inner) for inner in value]
    return value


def ledger_patterns(cfn_template: dict[str, Any]) -> dict[str, str]:
    rules = resources(cfn_template, "AWS::Events::Rule")
    return {
        name: json.dumps(resolved(rule["Properties"]["EventPattern"]))
        for name, rule in rules.items()
        if name.startswith("SessionLedgerFunction") and "EventPattern" in rule["Properties"]
    }


def test_the_ledger_table_is_encrypted_with_the_key_expires_and_has_the_sparse_open_index(
    cfn_template: dict[str, Any],
) -> None:
    table = cfn_template["Resources"]["SessionLedgerTable"]["Properties"]
    assert table["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": ["SessionKey", "Arn"]}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "Open"
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_ledger_function_may_do_what_it_needs_and_no_more(cfn_template: dict[str, Any]) -> None:
    by_sid = statements_by_sid(role_policy(cfn_template, "SessionLedgerFunctionRole"))
    ledger = {"Fn::GetAtt": ["SessionLedgerTable", "Arn"]}
    assert (by_sid["RecordSessionsInLedger"]["Action"], by_sid["RecordSessionsInLedger"]["Resource"]) == (
        ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
        ledger,
    )
    assert by_sid["ReadOpenSessions"]["Action"] == "dynamodb:Query"
    assert by_sid["ReadOpenSessions"]["Resource"] == {"Fn::Sub": "${SessionLedgerTable.Arn}/index/Open"}
    assert (by_sid["ListSessionsForTheReconciler"]["Action"], by_sid["ListSessionsForTheReconciler"]["Resource"]) == (
        "ssm:DescribeSessions",
        "*",
    )
    assert by_sid["ReadTranscriptsToScan"]["Resource"] == {
        "Fn::Sub": "${TranscriptBucket.Arn}/${TranscriptKeyPrefix}/*"
    }
    every_action = json.dumps([s.get("Action") for s in by_sid.values()])
    for never in ("dynamodb:Scan", 'dynamodb:DeleteItem", "dynamodb:UpdateItem"]', "s3:PutObject", "s3:DeleteObject"):
        assert never not in every_action


def test_the_subscription_function_claims_alerts_on_the_ledger_and_reads_only_its_delivery_records(
    cfn_template: dict[str, Any],
) -> None:
    """Its stream record travels in the transcript write (docs/ledger.md): on the ledger it only claims alerts
    (UpdateItem) and reads what a failed attempt sent (GetItem); it finds its own delivery records on a retry's
    rare path, in the sanitized group only."""
    by_sid = statements_by_sid(role_policy(cfn_template, "SessionAlertsFunctionRole"))
    statement = by_sid["ClaimAlertsOnSessionLedger"]
    assert (statement["Action"], statement["Resource"]) == (
        ["dynamodb:UpdateItem", "dynamodb:GetItem"],
        {"Fn::GetAtt": ["SessionLedgerTable", "Arn"]},
    )
    find = by_sid["FindDeliveryRecordsInTranscripts"]
    assert find["Action"] == "logs:FilterLogEvents"
    assert all("${SanitizedLogGroup}" in resource["Fn::Sub"] for resource in find["Resource"])
    every_action = json.dumps([s.get("Action") for s in by_sid.values()])
    for never in ("dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:Query"):
        assert never not in every_action
    variables = cfn_template["Resources"]["SessionAlertsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SESSION_LEDGER_TABLE"] == {"Ref": "SessionLedgerTable"}


def test_the_transcript_bucket_sends_its_events_to_eventbridge(cfn_template: dict[str, Any]) -> None:
    bucket = cfn_template["Resources"]["TranscriptBucket"]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_the_ledger_rules_match_the_session_calls_and_transcripts_and_nothing_else(
    cfn_template: dict[str, Any],
) -> None:
    patterns = ledger_patterns(cfn_template)
    assert len(patterns) == 2
    wanted = {
        "cloudtrail-ssm-start-session-logged-shell.json",
        "cloudtrail-ssm-start-interactive-command.json",
        "cloudtrail-ssm-start-ssh-session.json",
        "ledger-cloudtrail-start-interactive-bash.json",
        "ledger-cloudtrail-resume-session.json",
        "ledger-cloudtrail-terminate-session.json",
        "ledger-s3-object-created.json",
    }
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text())
        if not isinstance(event, dict) or "detail-type" not in event:
            continue
        matched = any(event_matches(pattern, event) for pattern in patterns.values())
        starts = path.name.startswith("cloudtrail-ssm-start-")
        assert matched == (path.name in wanted or starts), path.name


def test_an_object_outside_the_prefix_or_in_another_bucket_is_not_sent(cfn_template: dict[str, Any]) -> None:
    patterns = ledger_patterns(cfn_template).values()
    event = json.loads((EVENTS / "ledger-s3-object-created.json").read_text())
    event["detail"]["object"]["key"] = "elsewhere/jane.roe-0131a888507e892b1.log"
    assert not any(event_matches(pattern, event) for pattern in patterns)
    event = json.loads((EVENTS / "ledger-s3-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = "another-bucket"
    assert not any(event_matches(pattern, event) for pattern in patterns)


def test_the_reconciler_runs_every_five_minutes(cfn_template: dict[str, Any]) -> None:
    schedules = [
        rule["Properties"]["ScheduleExpression"]
        for name, rule in resources(cfn_template, "AWS::Events::Rule").items()
        if name.startswith("SessionLedgerFunction") and "ScheduleExpression" in rule["Properties"]
    ]
    assert schedules == ["rate(5 minutes)"]
