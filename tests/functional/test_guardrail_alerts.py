"""The guardrail function end to end: real-format CloudTrail events (events/cloudtrail-*.json) through the Lambda
handler, with moto behind SNS, DynamoDB and Secrets Manager and the loopback `http_recorder` as the Slack webhook.

SNS messages are read from SQS queues subscribed to the topics (raw delivery), as a subscriber would see them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from sessionguard import guardrail_alerts
from sessionguard.observability import metrics
from sessionguard.session_alerts import DeliveryFailed

from tests.conftest import HttpRecorder
from tests.support import load_function

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
REGION = "us-east-1"
ACCOUNT = "111122223333"  # the samples' account
TABLE = "sessionguard-alert-state"
PASSWORD = "W3lcome-Summer2026"  # typed into events/cloudtrail-ssm-start-interactive-command.json


@dataclass
class FakeLambdaContext:
    function_name: str = "sessionguard-GuardrailAlertsFunction-Ab12Cd34"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:111122223333:function:sessionguard-GuardrailAlertsFunction-Ab12Cd34"
    )
    aws_request_id: str = "5e2d3c4b-5a69-7887-96a5-b4c3d2e1f002"
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Stack:
    topic_arn: str
    extra_topic_arn: str
    subscribers: dict[str, str]
    slack: HttpRecorder
    sqs: Any

    def sns_messages(self, topic_arn: str | None = None) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        queue_url = self.subscribers[topic_arn or self.topic_arn]
        while batch := self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            messages.extend(batch)
            for message in batch:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def slack_posts(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.slack.requests]


@pytest.fixture
def app() -> ModuleType:
    return load_function("guardrail_alerts")


@pytest.fixture(autouse=True)
def clean_powertools() -> Iterator[None]:
    metrics.namespace = "SessionGuardTest"
    metrics.service = "sessionguard"
    metrics.clear_metrics()
    cold_start.is_cold_start = True
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    guardrail_alerts.default_outlets.cache_clear()
    yield
    metrics.clear_metrics()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    guardrail_alerts.default_outlets.cache_clear()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, http_recorder: HttpRecorder) -> Iterator[Stack]:
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="sessionguard-alerts")["TopicArn"]
        extra_topic_arn = sns.create_topic(Name="central-security-alerts")["TopicArn"]
        subscribers = {}
        for arn, name in ((topic_arn, "alerts-subscriber"), (extra_topic_arn, "central-subscriber")):
            queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
            subscribers[arn] = queue_url
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="sessionguard/slack-webhook", SecretString=json.dumps({"url": http_recorder.url + "/services/T0/B0/x"})
        )["ARN"]
        for name, value in {
            "ALERT_TOPIC_ARN": topic_arn,
            "EXTRA_ALERT_TOPIC_ARN": extra_topic_arn,
            "SLACK_WEBHOOK_SECRET_ARN": secret_arn,
            "ALERT_STATE_TABLE": TABLE,
            "ALERT_MIN_SEVERITY": "medium",
            "ALERT_WINDOW_MINUTES": "15",
            "SESSION_LOG_GROUP": "/aws/ssm/sessionguard/sessions",
            "SESSION_LOG_RETENTION_DAYS": "365",
            "TRANSCRIPT_BUCKET": "sessionguard-transcriptbucket-7f3k2m9q1x4z",
            "SESSION_KEY_ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "LOGGING_POLICY_ARN": f"arn:aws:iam::{ACCOUNT}:policy/sessionguard-SessionLoggingPolicy-Q2W3E4R5T6Y7",
            "STACK_ROLE_ARNS": f"arn:aws:iam::{ACCOUNT}:role/sessionguard-PreferencesFunctionRole-8H7G6F5E4D3C",
        }.items():
            monkeypatch.setenv(name, value)
        yield Stack(topic_arn, extra_topic_arn, subscribers, http_recorder, sqs)


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"cloudtrail-{name}.json").read_text())  # type: ignore[no-any-return]


def invoke(app: ModuleType, payload: dict[str, Any]) -> dict[str, Any]:
    return app.lambda_handler(payload, FakeLambdaContext())  # type: ignore[no-any-return]


def no_sleep() -> None:
    _, outlets = guardrail_alerts.default_outlets()
    outlets.sleep = lambda _seconds: None


def test_an_ssh_session_alerts_both_topics_and_slack_with_who_what_where_and_the_event_id(
    app: ModuleType, stack: Stack
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


def test_the_same_cloudtrail_event_delivered_twice_alerts_once(app: ModuleType, stack: Stack) -> None:
    sample = event("kms-schedule-key-deletion")
    invoke(app, sample)
    # EventBridge delivers at least once: the same event (same eventID) arrives again
    summary = invoke(app, sample)
    assert summary["delivered"] == {}
    assert summary["suppressed"] == {"retry": 3}  # both topics and Slack: delivered already
    assert len(stack.sns_messages()) == 1
    assert len(stack.slack_posts()) == 1


def test_deleting_transcripts_one_by_one_raises_one_alert_per_window(app: ModuleType, stack: Stack) -> None:
    for number in range(5):
        sample = event("s3-delete-object")
        sample["detail"]["eventID"] = f"5f0c7e0a-0000-4000-8000-00000000000{number}"
        sample["detail"]["requestParameters"]["key"] = f"sessions/jane.roe-0b7e9d1c4a2f8e6d{number}.log"
        invoke(app, sample)
    assert len(stack.sns_messages()) == 1
    assert len(stack.slack_posts()) == 1


def test_secrets_in_request_parameters_are_masked_and_slack_text_escaped(app: ModuleType, stack: Stack) -> None:
    invoke(app, event("ssm-start-interactive-command"))
    invoke(app, event("ssm-start-port-forwarding-remote-host"))
    everything = json.dumps(stack.sns_messages() + stack.sns_messages(stack.extra_topic_arn) + stack.slack_posts())
    assert PASSWORD not in everything
    assert "[MASKED:mysql-password]" in everything
    slack = json.dumps(stack.slack_posts())
    assert "<!channel>" not in slack
    assert "<https://evil" not in slack
    assert "&lt;!channel&gt;" in slack


def test_the_stacks_own_changes_and_unrelated_calls_alert_nobody(app: ModuleType, stack: Stack) -> None:
    by_stack = invoke(app, event("ssm-update-preferences-by-stack"))
    by_cloudformation = invoke(app, event("logs-delete-subscription-filter-by-cloudformation"))
    unrelated = invoke(app, event("logs-delete-other-log-group"))
    assert by_stack["stack_changes"] == ["SG-GR-010"]
    assert by_cloudformation["stack_changes"] == ["SG-GR-022"]
    assert unrelated["ignored"] == "no guardrail applies to this call"
    assert stack.sns_messages() == []
    assert stack.slack_posts() == []


def test_alerts_below_the_minimum_severity_are_not_sent(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "high")
    summary = invoke(app, event("ssm-start-port-forwarding"))  # medium
    assert summary["below_min_severity"] == 1
    assert stack.sns_messages() == []


def test_a_slack_outage_fails_the_invocation_and_its_retry_sends_only_what_is_missing(
    app: ModuleType, stack: Stack
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
    assert stack.sns_messages() == []
    assert stack.slack_posts()[-1]["blocks"][0]["text"]["text"].endswith("CRITICAL: Session log group deleted")


def test_an_event_that_is_not_cloudtrail_is_ignored_with_a_reason(app: ModuleType, stack: Stack) -> None:
    summary = invoke(app, json.loads((EVENTS / "ec2-instance-running.json").read_text()))
    assert summary["ignored"] == "not a CloudTrail API call event"
    assert summary["alerts"] == 0
    assert stack.sns_messages() == []
