"""Guardrails (guardrails.yaml) against real-format CloudTrail events (events/cloudtrail-*.json, as EventBridge
delivers them).

Every EventBridge pattern is run against every sample with moto's EventBridge pattern matcher: each pattern must
match exactly the samples of its group. The patterns in template.yaml,
resolved for the samples' stack, must equal `event_patterns()`; the code's own conditions must agree with them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto.events.models import EventPattern
from samtranslator.yaml_helper import yaml_parse
from sessionguard.alerting.guardrail_messages import guardrail_slack_message, guardrail_sns_message
from sessionguard.guardrails.catalog import (
    EXAMPLE_STACK,
    GUARDRAILS,
    GUARDRAILS_BY_ID,
    GUARDRAILS_FILE,
    GuardrailError,
    load,
)
from sessionguard.guardrails.markdown import TABLE_END, TABLE_START, render_markdown_table
from sessionguard.guardrails.matching import evaluate_event, event_patterns, match_guardrails
from sessionguard.guardrails.model import Group, Guardrail, GuardrailAlert, ProtectedResources
from sessionguard.severity import Severity

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TEMPLATE = ROOT / "template.yaml"
DOCS = ROOT / "docs/guardrails.md"

ACCOUNT = "111122223333"
PREFERENCES_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sessionguard-PreferencesFunctionRole-8H7G6F5E4D3C"
# The stack the samples were recorded against (guardrails.yaml's example_stack, checked below).
RESOURCES = ProtectedResources(
    account_id=ACCOUNT,
    region="us-east-1",
    session_log_group="/aws/ssm/sessionguard/sessions",
    transcript_bucket="sessionguard-transcriptbucket-7f3k2m9q1x4z",
    key_arn=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    logging_policy_arn=f"arn:aws:iam::{ACCOUNT}:policy/sessionguard-SessionLoggingPolicy-Q2W3E4R5T6Y7",
    session_log_retention_days=365,
    stack_role_arns=frozenset({PREFERENCES_ROLE}),
)

# sample -> (the rule whose pattern matches it, or None; the guardrails that alert)
EXPECTED: dict[str, tuple[Group | None, tuple[str, ...]]] = {
    "ssm-start-ssh-session": (Group.UNLOGGED_SESSIONS, ("SG-GR-001",)),
    "ssm-start-port-forwarding": (Group.UNLOGGED_SESSIONS, ("SG-GR-002",)),
    "ssm-start-port-forwarding-remote-host": (Group.UNLOGGED_SESSIONS, ("SG-GR-003",)),
    "ssm-start-interactive-command": (Group.UNLOGGED_SESSIONS, ("SG-GR-004",)),
    "ssm-start-custom-document": (Group.UNLOGGED_SESSIONS, ("SG-GR-005",)),
    "ssm-start-session-logged-shell": (None, ()),
    "ssm-start-session-no-document": (None, ()),
    "ssm-update-preferences": (Group.PREFERENCES, ("SG-GR-010",)),
    "ssm-update-preferences-default-version": (Group.PREFERENCES, ("SG-GR-010",)),
    "ssm-delete-preferences": (Group.PREFERENCES, ("SG-GR-011",)),
    "ssm-update-preferences-by-stack": (Group.PREFERENCES, ()),  # the preferences function's own role
    "logs-delete-log-group": (Group.SESSION_LOGS, ("SG-GR-020",)),
    "logs-delete-log-stream": (Group.SESSION_LOGS, ("SG-GR-021",)),
    "logs-delete-subscription-filter": (Group.SESSION_LOGS, ("SG-GR-022",)),
    "logs-delete-subscription-filter-by-cloudformation": (Group.SESSION_LOGS, ()),  # a stack deployment
    "logs-put-retention-policy-shortened": (Group.SESSION_LOGS, ("SG-GR-023",)),
    "logs-put-retention-policy-longer": (Group.SESSION_LOGS, ()),  # 731 days > SessionLogRetentionDays 365
    "logs-delete-data-protection-policy": (Group.SESSION_LOGS, ("SG-GR-024",)),
    "logs-delete-other-log-group": (None, ()),
    "kms-disable-key": (Group.SESSION_KEY, ("SG-GR-030",)),
    "kms-schedule-key-deletion": (Group.SESSION_KEY, ("SG-GR-031",)),
    "kms-put-key-policy": (Group.SESSION_KEY, ("SG-GR-032",)),
    "s3-put-bucket-policy": (Group.TRANSCRIPTS, ("SG-GR-040",)),
    "s3-delete-bucket-policy": (Group.TRANSCRIPTS, ("SG-GR-040",)),
    "s3-put-bucket-encryption": (Group.TRANSCRIPTS, ("SG-GR-041",)),
    "s3-delete-bucket-encryption": (Group.TRANSCRIPTS, ("SG-GR-041",)),
    "s3-put-bucket-versioning-suspended": (Group.TRANSCRIPTS, ("SG-GR-042",)),
    "s3-put-bucket-versioning-enabled": (None, ()),
    "s3-put-object-lock-configuration": (Group.TRANSCRIPTS, ("SG-GR-043",)),
    "s3-delete-object": (Group.TRANSCRIPTS, ("SG-GR-044",)),
    "s3-delete-objects": (Group.TRANSCRIPTS, ("SG-GR-044",)),
    "iam-detach-logging-policy": (Group.LOGGING_POLICY, ("SG-GR-050",)),
    "iam-detach-other-policy": (None, ()),
}
PATTERNS = event_patterns(RESOURCES)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"cloudtrail-{name}.json").read_text())  # type: ignore[no-any-return]


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def alert_for(name: str) -> GuardrailAlert:
    (alert,) = evaluate_event(sample(name), RESOURCES).alerts
    return alert


# --- the samples and the patterns ------------------------------------------------------------------------------


def test_every_sample_has_an_expectation_and_every_expectation_a_sample() -> None:
    on_disk = {p.name.removeprefix("cloudtrail-").removesuffix(".json") for p in EVENTS.glob("cloudtrail-*.json")}
    assert on_disk == set(EXPECTED)


def test_every_guardrail_has_a_sample_that_fires_it() -> None:
    fired = {guardrail_id for _, ids in EXPECTED.values() for guardrail_id in ids}
    assert fired == set(GUARDRAILS_BY_ID)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("group", list(Group))
def test_each_rule_pattern_matches_exactly_the_samples_of_its_group(group: Group, name: str) -> None:
    expected_group, _ = EXPECTED[name]
    assert matches(PATTERNS[group], sample(name)) is (group is expected_group)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_code_alerts_on_exactly_the_expected_guardrails(name: str) -> None:
    _, expected_ids = EXPECTED[name]
    assert tuple(a.rule_id for a in evaluate_event(sample(name), RESOURCES).alerts) == expected_ids


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_code_never_trips_a_guardrail_its_rule_would_not_deliver(name: str) -> None:
    event = sample(name)
    for guardrail in match_guardrails(event["detail"], RESOURCES):
        assert matches(PATTERNS[guardrail.group], event), guardrail.id


def test_another_stacks_resources_match_no_pattern() -> None:
    other = ProtectedResources(
        account_id=ACCOUNT,
        region="us-east-1",
        session_log_group="/aws/ssm/other/sessions",
        transcript_bucket="other-transcripts",
        key_arn=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        logging_policy_arn=f"arn:aws:iam::{ACCOUNT}:policy/other-SessionLoggingPolicy-X",
        session_log_retention_days=365,
    )
    for name, (group, _) in EXPECTED.items():
        if group not in (None, Group.UNLOGGED_SESSIONS, Group.PREFERENCES):  # those two are per account and region
            assert not any(matches(p, sample(name)) for p in event_patterns(other).values()), name


# --- the template's rules are these patterns -------------------------------------------------------------------


def resolve(node: Any) -> Any:
    """CloudFormation intrinsics of the template's patterns, for the samples' stack."""
    refs = {
        "SessionLogGroup": RESOURCES.session_log_group,
        "TranscriptBucket": RESOURCES.transcript_bucket,
        "SessionKey": RESOURCES.key_id,
        "SessionLoggingPolicy": RESOURCES.logging_policy_arn,
        "AWS::Partition": "aws",
        "AWS::Region": RESOURCES.region,
        "AWS::AccountId": ACCOUNT,
    }
    if isinstance(node, list):
        return [resolve(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "Ref" in node:
        return refs[node["Ref"]]
    if "Fn::GetAtt" in node:
        assert node["Fn::GetAtt"] == ["SessionKey", "Arn"]
        return RESOURCES.key_arn
    if "Fn::Sub" in node:
        return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], node["Fn::Sub"])
    return {key: resolve(value) for key, value in node.items()}


def test_the_templates_rules_are_the_guardrail_patterns_for_this_stack() -> None:
    resources = yaml_parse(TEMPLATE.read_text())["Resources"]
    events = resources["GuardrailAlertsFunction"]["Properties"]["Events"]
    assert {name for name, e in events.items() if e["Type"] == "EventBridgeRule"} == {g.value for g in Group}
    for group in Group:
        assert resolve(events[group.value]["Properties"]["Pattern"]) == PATTERNS[group], group


def test_the_function_is_told_the_stack_resources_the_guardrails_compare_against() -> None:
    resources = yaml_parse(TEMPLATE.read_text())["Resources"]
    env = resources["GuardrailAlertsFunction"]["Properties"]["Environment"]["Variables"]
    for name in ("SESSION_LOG_GROUP", "TRANSCRIPT_BUCKET", "SESSION_KEY_ARN", "LOGGING_POLICY_ARN", "STACK_ROLE_ARNS"):
        assert name in env
    assert env["STACK_ROLE_ARNS"] == {"Fn::GetAtt": ["PreferencesFunctionRole", "Arn"]}
    assert env["SESSION_LOG_RETENTION_DAYS"] == {"Ref": "SessionLogRetentionDays"}


# --- exceptions: the stack's own changes -----------------------------------------------------------------------


def test_the_preferences_function_role_may_update_the_document_but_a_person_may_not() -> None:
    evaluation = evaluate_event(sample("ssm-update-preferences-by-stack"), RESOURCES)
    assert evaluation.alerts == []
    assert evaluation.stack_changes == ["SG-GR-010"]
    assert evaluation.ignored == "the stack's own change"
    event = sample("ssm-update-preferences-by-stack")
    event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = (
        f"arn:aws:iam::{ACCOUNT}:role/someone-elses-automation"
    )
    assert [a.rule_id for a in evaluate_event(event, RESOURCES).alerts] == ["SG-GR-010"]


def test_cloudformation_may_change_settings_but_not_delete_the_log_group() -> None:
    event = sample("logs-delete-log-group")
    event["detail"]["userIdentity"]["invokedBy"] = "cloudformation.amazonaws.com"
    assert [a.rule_id for a in evaluate_event(event, RESOURCES).alerts] == ["SG-GR-020"]
    assert not GUARDRAILS_BY_ID["SG-GR-020"].stack_may_change
    assert GUARDRAILS_BY_ID["SG-GR-022"].stack_may_change


def test_a_spoofed_invoked_by_in_request_parameters_changes_nothing() -> None:
    event = sample("logs-delete-subscription-filter")
    event["detail"]["requestParameters"]["invokedBy"] = "cloudformation.amazonaws.com"
    assert [a.rule_id for a in evaluate_event(event, RESOURCES).alerts] == ["SG-GR-022"]


# --- conditions ----------------------------------------------------------------------------------------------


def test_the_logged_shell_named_by_arn_is_not_an_unlogged_session() -> None:
    event = sample("ssm-start-session-logged-shell")
    event["detail"]["requestParameters"]["documentName"] = RESOURCES.preferences_document_arn
    assert not any(matches(p, event) for p in PATTERNS.values())
    assert evaluate_event(event, RESOURCES).alerts == []


def test_any_retention_shortens_a_group_that_never_expires() -> None:
    never = ProtectedResources(**{**_fields(RESOURCES), "session_log_retention_days": 0})
    assert [a.rule_id for a in evaluate_event(sample("logs-put-retention-policy-longer"), never).alerts] == [
        "SG-GR-023"
    ]


def test_the_data_protection_policy_guardrail_accepts_the_group_name_or_either_arn() -> None:
    for identifier in (RESOURCES.session_log_group, *RESOURCES.log_group_arns):
        event = sample("logs-delete-data-protection-policy")
        event["detail"]["requestParameters"]["logGroupIdentifier"] = identifier
        assert matches(PATTERNS[Group.SESSION_LOGS], event)
        assert [a.rule_id for a in evaluate_event(event, RESOURCES).alerts] == ["SG-GR-024"]


def test_not_a_cloudtrail_event_raises_nothing_and_says_why() -> None:
    evaluation = evaluate_event({"detail-type": "EC2 Instance State-change Notification", "detail": {}}, RESOURCES)
    assert evaluation.alerts == []
    assert evaluation.ignored == "not a CloudTrail API call event"
    assert evaluate_event({"detail-type": "AWS API Call via CloudTrail", "detail": "junk"}, RESOURCES).alerts == []


# --- the alert: who, what, where, the event id; masked and escaped ---------------------------------------------


def test_an_alert_names_who_what_where_and_the_cloudtrail_event_id() -> None:
    alert = alert_for("logs-delete-log-group")
    event = sample("logs-delete-log-group")["detail"]
    assert alert.who == event["userIdentity"]["arn"]
    assert alert.action == "logs:DeleteLogGroup"
    assert alert.resource == RESOURCES.session_log_group
    assert (alert.account_id, alert.region) == (ACCOUNT, "us-east-1")
    assert alert.event_id == event["eventID"]
    body = guardrail_sns_message(alert).body
    for text in (event["userIdentity"]["arn"], "logs:DeleteLogGroup", RESOURCES.session_log_group, event["eventID"]):
        assert text in body
    assert f"#/events/{event['eventID']}" in body


def test_a_typed_password_in_a_command_session_is_masked_everywhere() -> None:
    alert = alert_for("ssm-start-interactive-command")
    sns = guardrail_sns_message(alert)
    slack = json.dumps(guardrail_slack_message(alert))
    for text in (sns.body, sns.subject, slack, json.dumps(alert.to_json())):
        assert "W3lcome-Summer2026" not in text
    assert "[MASKED:" in sns.body


def test_hostile_request_parameters_cannot_ping_or_disguise_a_link_in_slack() -> None:
    alert = alert_for("ssm-start-port-forwarding-remote-host")
    message = guardrail_slack_message(alert)
    texts = json.dumps(message)
    assert "<!channel>" not in texts
    assert "<https://evil" not in texts
    assert "&lt;!channel&gt;" in texts
    assert "@\u2060here" in json.dumps(message, ensure_ascii=False)
    links = re.findall(r"<(https?://[^|>]+)\|", texts)
    assert all(
        link.startswith(("https://us-east-1.console.aws.amazon.com/", "https://attack.mitre.org/")) for link in links
    )
    for block in message["blocks"]:
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                assert item["verbatim"] is True


def test_a_denied_attempt_says_so_in_the_title() -> None:
    event = sample("kms-schedule-key-deletion")
    event["detail"]["errorCode"] = "AccessDenied"
    (alert,) = evaluate_event(event, RESOURCES).alerts
    assert alert.title == "Session key scheduled for deletion (attempt failed: AccessDenied)"
    assert "an attempt, nothing changed" in guardrail_sns_message(alert).body


def test_data_events_do_not_link_to_event_history() -> None:
    alert = alert_for("s3-delete-object")
    assert alert.to_json()["cloudtrail_url"] == ""
    assert "cloudtrailv2" not in json.dumps(guardrail_slack_message(alert))
    assert "sessions/jane.roe-0b7e9d1c4a2f8e6d5.log" in alert.what


@pytest.mark.parametrize("field", ["awsRegion", "eventID"])
def test_a_lone_surrogate_in_the_event_still_gives_messages(field: str) -> None:
    """JSON can carry "\\ud800"; the console link must not fail to encode it (the alert would never go out)."""
    event = sample("kms-schedule-key-deletion")
    event["detail"][field] = "eu-west-1\ud800" if field == "awsRegion" else "8f0e\ud800"
    (alert,) = evaluate_event(event, RESOURCES).alerts
    assert "\ud800" not in alert.cloudtrail_url
    assert alert.cloudtrail_url.isascii()
    json.dumps(guardrail_slack_message(alert)).encode()
    guardrail_sns_message(alert).body.encode()


def test_sns_subject_is_printable_ascii_under_100_and_attributes_match_command_alerts() -> None:
    for name, (_, ids) in EXPECTED.items():
        for alert in evaluate_event(sample(name), RESOURCES).alerts:
            message = guardrail_sns_message(alert)
            assert len(message.subject) < 100
            assert all(" " <= c <= "~" for c in message.subject)
            assert message.attributes["severity"]["StringValue"] == str(alert.severity)
            assert message.attributes["rule_id"]["StringValue"] in ids


# --- the guardrail list as data --------------------------------------------------------------------------------


def test_guardrails_are_well_formed() -> None:
    assert len(GUARDRAILS_BY_ID) == len(GUARDRAILS)
    for guardrail in GUARDRAILS:
        assert re.fullmatch(r"SG-GR-\d{3}", guardrail.id)
        assert guardrail.severity >= Severity.MEDIUM
        assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in guardrail.techniques)
        assert all((guardrail.title, guardrail.description, guardrail.condition))
        assert all((guardrail.event_names, guardrail.shown, guardrail.resource_keys))


def test_docs_guardrails_md_is_generated_from_the_data() -> None:
    document = DOCS.read_text(encoding="utf-8")
    generated = document[document.index(TABLE_START) + len(TABLE_START) : document.index(TABLE_END)]
    assert generated == "\n" + render_markdown_table(), (
        "docs/guardrails.md is out of date: run `.venv/bin/python -m sessionguard.guardrails docs/guardrails.md`"
    )


# --- the data's own examples -----------------------------------------------------------------------------------


def test_the_examples_were_recorded_against_the_example_stack() -> None:
    assert EXAMPLE_STACK == RESOURCES


@pytest.mark.parametrize("guardrail", GUARDRAILS, ids=[g.id for g in GUARDRAILS])
def test_each_guardrail_raises_on_its_alert_examples_and_not_on_its_quiet_ones(guardrail: Guardrail) -> None:
    for name in guardrail.alert_examples:
        event = json.loads((EVENTS / name).read_text())
        assert guardrail.id in [a.rule_id for a in evaluate_event(event, EXAMPLE_STACK).alerts], name
    for name in guardrail.quiet_examples:
        event = json.loads((EVENTS / name).read_text())
        assert guardrail.id not in [a.rule_id for a in evaluate_event(event, EXAMPLE_STACK).alerts], name


def test_every_cloudtrail_sample_is_an_example_of_some_guardrail() -> None:
    named = {name for g in GUARDRAILS for name in (*g.alert_examples, *g.quiet_examples)}
    assert named == {path.name for path in EVENTS.glob("cloudtrail-*.json")}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"severity": "urgent"}, "severity"),
        ({"group": "Elsewhere"}, "Elsewhere"),
        ({"when": {"predicate": "session-kye"}}, "unknown predicate"),
        ({"when": {"predicate": "session-key", "documents": ["x"]}}, "takes no arguments"),
        ({"techniques": ["T1562.8"]}, "ATT&CK"),
        ({"colour": "red"}, "unknown keys"),
        ({"examples": {"quiet": ["x.json"]}}, "at least one"),
        ({"event": {"source": "logs", "names": ["DeleteLogGroup"]}}, "amazonaws.com"),
    ],
)
def test_a_wrong_guardrail_fails_loading_and_says_why(tmp_path: Path, change: dict[str, Any], problem: str) -> None:
    document = yaml.safe_load(GUARDRAILS_FILE.read_text())
    document["guardrails"][0].update(change)
    path = tmp_path / "guardrails.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(GuardrailError, match=re.escape(problem)):
        load(path)


def test_resources_from_the_function_environment() -> None:
    resources = ProtectedResources.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "SESSION_LOG_GROUP": "/g",
            "TRANSCRIPT_BUCKET": "b",
            "SESSION_KEY_ARN": "arn:aws-us-gov:kms:eu-west-1:444455556666:key/k-1",
            "LOGGING_POLICY_ARN": "arn:aws:iam::444455556666:policy/p",
            "SESSION_LOG_RETENTION_DAYS": "30",
            "STACK_ROLE_ARNS": " arn:aws:iam::444455556666:role/a ,",
        }
    )
    assert (resources.account_id, resources.region, resources.partition) == ("444455556666", "eu-west-1", "aws-us-gov")
    assert resources.key_id == "k-1"
    assert resources.stack_role_arns == frozenset({"arn:aws:iam::444455556666:role/a"})
    assert resources.session_log_retention_days == 30


def _fields(resources: ProtectedResources) -> dict[str, Any]:
    return {name: getattr(resources, name) for name in ProtectedResources.__dataclass_fields__}
