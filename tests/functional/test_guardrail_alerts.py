"""The guardrail function end to end: real-format CloudTrail events (events/cloudtrail-*.json) through the Lambda
handler, with moto behind SNS, DynamoDB and Secrets Manager and the loopback `http_recorder` as the Slack webhook.

SNS messages are read from SQS queues subscribed to the topics (raw delivery), as a subscriber would see them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws
from sessionguard.alerting import guardrail_alerts
from sessionguard.alerting.delivery import DeliveryFailed

from tests.conftest import HttpRecorder
from tests.support import AlertStack, FakeLambdaContext, fresh_powertools, load_function

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
REGION = "us-east-1"
ACCOUNT = "111122223333"  # the samples' account
PASSWORD = "W3lcome-Summer2026"  # typed into events/cloudtrail-ssm-start-interactive-command.json


# The function's Lambda context.
lambda_context = partial(
    FakeLambdaContext,
    function_name="sessionguard-GuardrailAlertsFunction-Ab12Cd34",
    invoked_function_arn="arn:aws:lambda:us-east-1:111122223333:function:sessionguard-GuardrailAlertsFunction-Ab12Cd34",
    aws_request_id="5e2d3c4b-5a69-7887-96a5-b4c3d2e1f002",
)


@pytest.fixture
def app() -> ModuleType:
    return load_function("guardrail_alerts")


@pytest.fixture(autouse=True)
def clean_powertools() -> Iterator[None]:
    yield from fresh_powertools(guardrail_alerts.default_outlets)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, http_recorder: HttpRecorder) -> Iterator[AlertStack]:
    with mock_aws():
        stack = AlertStack.create(http_recorder)
        stack.set_environment(
            monkeypatch,
            SESSION_LOG_GROUP="/aws/ssm/sessionguard/sessions",
            SESSION_LOG_RETENTION_DAYS="365",
            TRANSCRIPT_BUCKET="sessionguard-transcriptbucket-7f3k2m9q1x4z",
            SESSION_KEY_ARN=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            LOGGING_POLICY_ARN=f"arn:aws:iam::{ACCOUNT}:policy/sessionguard-SessionLoggingPolicy-Q2W3E4R5T6Y7",
            STACK_ROLE_ARNS=f"arn:aws:iam::{ACCOUNT}:role/sessionguard-PreferencesFunctionRole-8H7G6F5E4D3C",
        )
        yield stack


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"cloudtrail-{name}.json").read_text())  # type: ignore[no-any-return]


def invoke(app: ModuleType, payload: dict[str, Any]) -> dict[str, Any]:
    return app.lambda_handler(payload, lambda_context())  # type: ignore[no-any-return]


def no_sleep() -> None:
    _, outlets = guardrail_alerts.default_outlets()
    outlets.sleep = lambda _seconds: None


def test_an_ssh_session_alerts_both_topics_and_slack_with_who_what_where_and_the_event_id(
    app: ModuleType, stack: AlertStack
) -> None:
    # Given an SSH session started through Session Manager
    sample = event("ssm-start-ssh-session")
    # When the function receives it
    summary = invoke(app, sample)
    # Then one alert goes to each topic and to Slack
    assert summary["guardrails"] == ["SG-GR-001"]
    assert summary["delivered"] == {"sns": 2, "slack": 1}
    (message,) = stack.sns_messages()
    assert len(stack.sns_messages(stack.extra_topic_arn)) == 1
    assert message["MessageAttributes"]["rule_id"]["StringValue"] == "SG-GR-001"
    assert message["MessageAttributes"]["severity"]["StringValue"] == "high"
    body = message["Body"]
    detail = sample["detail"]
    for text in (detail["userIdentity"]["arn"], "ssm:StartSession", "AWS-StartSSHSession", detail["eventID"]):
        assert text in body
    record = json.loads(body.split("Alert JSON:\n", 1)[1])
    assert record["event_id"] == detail["eventID"]
    assert record["resource"] == "i-0fedcba9876543210"
    (post,) = stack.slack_posts()
    assert post["blocks"][0]["text"]["text"].endswith("HIGH: SSH session through Session Manager (not logged)")
    assert detail["eventID"] in json.dumps(post)


def test_the_same_cloudtrail_event_delivered_twice_alerts_once(app: ModuleType, stack: AlertStack) -> None:
    sample = event("kms-schedule-key-deletion")
    invoke(app, sample)
    # EventBridge delivers at least once: the same event (same eventID) arrives again
    summary = invoke(app, sample)
    assert summary["delivered"] == {}
    assert summary["suppressed"] == {"retry": 3}  # both topics and Slack: delivered already
    assert len(stack.sns_messages()) == 1
    assert len(stack.slack_posts()) == 1


def test_deleting_transcripts_one_by_one_raises_one_alert_per_window(app: ModuleType, stack: AlertStack) -> None:
    for number in range(5):
        sample = event("s3-delete-object")
        sample["detail"]["eventID"] = f"5f0c7e0a-0000-4000-8000-00000000000{number}"
        sample["detail"]["requestParameters"]["key"] = f"sessions/jane.roe-0b7e9d1c4a2f8e6d{number}.log"
        invoke(app, sample)
    assert len(stack.sns_messages()) == 1
    assert len(stack.slack_posts()) == 1


def test_secrets_in_request_parameters_are_masked_and_slack_text_escaped(app: ModuleType, stack: AlertStack) -> None:
    invoke(app, event("ssm-start-interactive-command"))
    invoke(app, event("ssm-start-port-forwarding-remote-host"))
    everything = json.dumps(stack.sns_messages() + stack.sns_messages(stack.extra_topic_arn) + stack.slack_posts())
    assert PASSWORD not in everything
    assert "[MASKED:mysql-password]" in everything
    slack = json.dumps(stack.slack_posts())
    assert "<!channel>" not in slack
    assert "<https://evil" not in slack
    assert "&lt;!channel&gt;" in slack


def test_the_stacks_own_changes_and_unrelated_calls_alert_nobody(app: ModuleType, stack: AlertStack) -> None:
    by_stack = invoke(app, event("ssm-update-preferences-by-stack"))
    by_cloudformation = invoke(app, event("logs-delete-subscription-filter-by-cloudformation"))
    unrelated = invoke(app, event("logs-delete-other-log-group"))
    assert by_stack["stack_changes"] == ["SG-GR-010"]
    assert by_cloudformation["stack_changes"] == ["SG-GR-022"]
    assert unrelated["ignored"] == "no guardrail applies to this call"
    assert stack.sns_messages() == []
    assert stack.slack_posts() == []


def test_alerts_below_the_minimum_severity_are_not_sent(
    app: ModuleType, stack: AlertStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "high")
    summary = invoke(app, event("ssm-start-port-forwarding"))  # medium
    assert summary["below_min_severity"] == 1
    assert stack.sns_messages() == []


def test_a_slack_outage_fails_the_invocation_and_its_retry_sends_only_what_is_missing(
    app: ModuleType, stack: AlertStack
) -> None:
    sample = event("logs-delete-log-group")
    stack.slack.responses = [(500, {}, b"")] * 4
    no_sleep()
    with pytest.raises(DeliveryFailed, match="slack x1"):
        invoke(app, sample)
    assert len(stack.sns_messages()) == 1  # SNS went out before Slack was tried
    # Lambda retries the event: Slack now answers, SNS is not sent again
    summary = invoke(app, sample)
    assert summary["delivered"] == {"slack": 1}
    assert summary["suppressed"] == {"retry": 2}
    assert len(stack.sns_messages()) == 1  # still only the first run's message
    assert stack.slack_posts()[-1]["blocks"][0]["text"]["text"].endswith("CRITICAL: Session log group deleted")


def test_an_event_that_is_not_cloudtrail_is_ignored_with_a_reason(app: ModuleType, stack: AlertStack) -> None:
    summary = invoke(app, json.loads((EVENTS / "ec2-instance-running.json").read_text()))
    assert summary["ignored"] == "not a CloudTrail API call event"
    assert summary["alerts"] == 0
    assert stack.sns_messages() == []


# --- hostile events (issue #13, item 7) ---------------------------------------------------------------------------


def test_an_event_that_is_a_list_is_ignored_with_a_logged_reason(
    app: ModuleType, stack: AlertStack, caplog: pytest.LogCaptureFixture
) -> None:
    summary = app.lambda_handler([event("ssm-start-ssh-session")], lambda_context())

    assert summary["ignored"] == "the event is a JSON array, not an object"
    assert summary["alerts"] == 0
    assert stack.sns_messages() == []
    logged = [getattr(record, "ignored", None) for record in caplog.records]  # the summary log line's fields
    assert "the event is a JSON array, not an object" in logged


@pytest.mark.parametrize(
    "reason", ["db password is Hunter2-Prod!", "rotating the API token ghp_qsR6RZ24lPoQj3oPUlieI2nVsbBi1RMar1jf"]
)
def test_a_secret_in_start_sessions_free_text_reason_is_masked(app: ModuleType, stack: AlertStack, reason: str) -> None:
    sample = event("ssm-start-port-forwarding")
    sample["detail"]["requestParameters"]["reason"] = reason
    secret = reason.rsplit(" ", 1)[1]

    summary = invoke(app, sample)

    assert summary["delivered"] == {"sns": 2, "slack": 1}
    (message,) = stack.sns_messages()
    assert secret not in json.dumps(message)
    assert secret not in json.dumps(stack.slack_posts())
    record = json.loads(message["Body"].split("Alert JSON:\n", 1)[1])
    assert record["request"]["reason"].startswith(reason.split(" ", 1)[0])  # what is not secret stays readable
    assert "[MASKED:" in record["request"]["reason"]
