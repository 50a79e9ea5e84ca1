"""The subscription function end to end: real-format subscription events (events/alerts-*.json and the session
samples) through the Lambda handler, with moto behind SNS, SQS, DynamoDB, Secrets Manager and CloudWatch Logs and
the loopback `http_recorder` as the Slack webhook.

SNS messages are read from an SQS queue subscribed to the topic (raw delivery), as a subscriber would see them.
moto accepts what AWS refuses in two places (control characters in SQS bodies, log events over 256 KB), so the
tests check those limits on what the function sends.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import socket
import time as clock
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent
from moto import mock_aws
from sessionguard.adapters.logs import CloudWatchTranscriptSink, PutResult, SessionLogReader
from sessionguard.adapters.slack import UrllibSlackWebhook
from sessionguard.alerting import claims, session_alerts
from sessionguard.alerting.batch_claims import INVOCATION_ALERT_CAP
from sessionguard.alerting.delivery import DeliveryFailed, SlackDeliveryError, post_with_retries
from sessionguard.alerting.formatting import CAP_SUMMARY_RULE_ID, INVOCATION_SUMMARY_RULE_ID
from sessionguard.alerting.http import HttpResult, parse_retry_after
from sessionguard.alerting.log_events import LOG_EVENT_MAX_BYTES, LogEvent, log_event_batches
from sessionguard.alerting.replay import invocation_event, redrive_failure_queue
from sessionguard.alerting.session_alerts import WARM_UP_EVENTS
from sessionguard.alerting.transcript import log_stream_name
from sessionguard.observability import logger
from sessionguard.rules import Rule, RulePack
from sessionguard.session.engine import CommandAlert, SanitizedLine, SessionEngine
from sessionguard.session.records import SessionEvent
from sessionguard.severity import Severity

from tests.conftest import HttpRecorder
from tests.functional import make_alert_fixtures as fixtures
from tests.support import (
    AlertStack,
    FakeLambdaContext,
    fresh_powertools,
    load_function,
)
from tests.unit.make_event_fixtures import awslogs, timestamp_ms

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
REGION = "us-east-1"
SANITIZED_GROUP = "/aws/ssm/sessionguard/sanitized"
SESSION_GROUP = "/aws/ssm/sessionguard/sessions"
SAMPLE_SECRET = "example-only-Xq3"  # typed in events/session-stream.jsonl
SECRETS = (*fixtures.SECRETS, SAMPLE_SECRET)

RULES = RulePack(
    [
        Rule(
            id="SG-TEST-001",
            title="Remote script piped to a shell",
            severity=Severity.CRITICAL,
            techniques=("T1059.004", "T1105"),
            description="Code fetched from the network runs unreviewed as root.",
            whole=(r"curl[^|]*\|\s*(sudo\s+)?(ba)?sh",),
        ),
        Rule(
            id="SG-TEST-002",
            title="Database password on the command line",
            severity=Severity.HIGH,
            techniques=("T1552.001",),
            description="Passwords in arguments land in shell history and process listings.",
            segment=(r"^mysql\b.*\s-p\S",),
        ),
        Rule(
            id="SG-TEST-003",
            title="AWS secret key exported",
            severity=Severity.HIGH,
            techniques=("T1552.001",),
            description="Long-term credentials typed into a session.",
            whole=(r"export\s+AWS_SECRET_ACCESS_KEY=", r"export\s+\w*PASSWORD="),
        ),
        Rule(
            id="SG-TEST-004",
            title="Shadow password file read",
            severity=Severity.HIGH,
            techniques=("T1003.008",),
            description="Reading /etc/shadow exposes password hashes.",
            segment=(r"/etc/shadow",),
        ),
        Rule(
            id="SG-TEST-005",
            title="Identity check",
            severity=Severity.LOW,
            techniques=("T1033",),
            description="Below the default alert severity.",
            segment=(r"^whoami\b",),
        ),
    ]
)
# The risky session raises 001, 002, 003, 004 and 004 again (same window): four alerts reach people.
RISKY_DELIVERED = ["SG-TEST-001", "SG-TEST-002", "SG-TEST-003", "SG-TEST-004"]


# The function's Lambda context; a test changes a field by keyword (remaining_ms=...).
lambda_context = partial(
    FakeLambdaContext,
    function_name="sessionguard-SessionAlertsFunction-Ab12Cd34",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:sessionguard-SessionAlertsFunction-Ab12Cd34",
    aws_request_id="1e2d3c4b-5a69-7887-96a5-b4c3d2e1f001",
    memory_limit_in_mb=512,
    log_stream_name="2026/11/26/[$LATEST]00112233445566778899aabbccddeeff",
)


@dataclass
class Stack(AlertStack):
    """The AWS side of the function in moto, and readers for everything it writes."""

    failure_queue_url: str
    sleeps: list[float]
    logs: Any

    def failure_messages(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self.drain(self.failure_queue_url)]

    def release_failures(self) -> None:
        """The failure messages read so far visible again, as after their visibility timeout (for a replay)."""
        for message in self._seen.pop(self.failure_queue_url, []):
            self.sqs.change_message_visibility(
                QueueUrl=self.failure_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def sanitized_events(self, stream: str) -> list[dict[str, Any]]:
        """Every event of the session's sanitized stream: its lines, alert lines and delivery records."""
        try:
            events = self.logs.get_log_events(
                logGroupName=SANITIZED_GROUP, logStreamName=stream, startFromHead=True, limit=10_000
            )["events"]
        except self.logs.exceptions.ResourceNotFoundException:
            return []
        return [json.loads(e["message"]) for e in events]

    def transcript(self, stream: str) -> list[dict[str, Any]]:
        """The session's transcript as people read it: its lines and alert lines (no delivery records)."""
        return [event for event in self.sanitized_events(stream) if event.get("kind") != "delivery"]

    def delivery_records(self, stream: str) -> list[dict[str, Any]]:
        """The delivery records the session ledger reads back (`ledger.model.delivery_record`)."""
        return [event for event in self.sanitized_events(stream) if event.get("kind") == "delivery"]

    def transcript_text(self) -> str:
        streams = self.logs.describe_log_streams(logGroupName=SANITIZED_GROUP)["logStreams"]
        return "\n".join(json.dumps(self.transcript(s["logStreamName"])) for s in streams)


@pytest.fixture
def app() -> ModuleType:
    return load_function("session_alerts")


@pytest.fixture
def function_logs() -> Iterator[io.StringIO]:
    """Everything the function logs through the Powertools Logger."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, __import__("logging").StreamHandler)
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


@pytest.fixture(autouse=True)
def clean_powertools() -> Iterator[None]:
    yield from fresh_powertools(session_alerts.default_outlets)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, http_recorder: HttpRecorder) -> Iterator[Stack]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        logs = boto3.client("logs", region_name=REGION)
        failure_queue_url = sqs.create_queue(QueueName="sessionguard-alert-failures")["QueueUrl"]
        logs.create_log_group(logGroupName=SANITIZED_GROUP)
        stack = Stack.create(http_recorder, failure_queue_url=failure_queue_url, sleeps=[], logs=logs)
        stack.set_environment(
            monkeypatch,
            SANITIZED_LOG_GROUP=SANITIZED_GROUP,
            FAILURE_QUEUE_URL=failure_queue_url,
            ALERT_CAP_PER_SESSION="20",
        )
        monkeypatch.setattr(session_alerts, "default_rules", lambda: RULES)
        yield stack


def fake_sleep(stack: Stack) -> None:
    """Slack backoff in tests: record the wait instead of waiting (the outlets are built once per container)."""
    _, outlets = session_alerts.default_outlets()
    outlets.sleep = stack.sleeps.append


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


def invoke(app: ModuleType, payload: dict[str, Any], **context: Any) -> dict[str, Any]:
    return app.lambda_handler(payload, lambda_context(**context))  # type: ignore[no-any-return]


def emf_documents(out: str) -> list[dict[str, Any]]:
    documents = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def metric_total(documents: list[dict[str, Any]], name: str, **dimensions: str) -> float:
    total = 0.0
    for document in documents:
        if name in document and all(document.get(k) == v for k, v in dimensions.items()):
            values = document[name]
            total += sum(values) if isinstance(values, list) else values
    return total


def decode(payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(gzip.decompress(base64.b64decode(payload["awslogs"]["data"])))  # type: ignore[no-any-return]


# --- fixtures agree with their generator ------------------------------------------------------------------------


def test_alert_fixtures_are_what_the_generator_writes() -> None:
    assert event("alerts-risky-session.json") == fixtures.risky_session()
    assert event("alerts-malformed-batch.json") == fixtures.malformed_batch()
    assert event("alerts-corrupt-payloads.json") == fixtures.corrupt_payloads()
    assert event("alerts-lambda-on-failure.json") == fixtures.lambda_on_failure_record()


# --- delivery ---------------------------------------------------------------------------------------------------


def test_risky_commands_reach_both_sns_topics_and_slack(app: ModuleType, stack: Stack) -> None:
    summary = invoke(app, event("alerts-risky-session.json"))

    assert stack.sns_rule_ids() == RISKY_DELIVERED
    assert len(stack.sns_messages(stack.extra_topic_arn)) == len(RISKY_DELIVERED)
    first = stack.sns_messages()[0]
    assert first["MessageAttributes"]["severity"]["StringValue"] == "critical"
    record = json.loads(first["Body"].partition("Alert JSON:\n")[2])
    assert record["command"] == "curl -s https://get.example.com/install.sh | sudo bash"
    assert record["session_id"] == fixtures.RISKY_SESSION
    assert record["account_id"] == "123456789012"
    assert [p["blocks"][0]["text"]["text"].split(": ")[-1] for p in stack.slack_posts()] == [
        "Remote script piped to a shell",
        "Database password on the command line",
        "AWS secret key exported",
        "Shadow password file read",
    ]
    assert summary["alerts"] == 5
    assert summary["suppressed"] == {"window": 1}


def test_alerts_below_the_configured_severity_are_not_sent(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "critical")
    invoke(app, event("alerts-risky-session.json"))
    assert stack.sns_rule_ids() == ["SG-TEST-001"]


def test_slack_off_when_no_secret_is_configured(app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", "")
    invoke(app, event("alerts-risky-session.json"))
    assert stack.sns_rule_ids() == RISKY_DELIVERED
    assert stack.slack.requests == []


def test_sanitized_transcript_is_written_to_the_sessions_stream_masked(app: ModuleType, stack: Stack) -> None:
    invoke(app, event("subscription-data-message.json"))
    lines = stack.transcript("jane.roe-0b7e9d1c4a2f8e6d5")
    assert lines[0] == {"kind": "command", "text": "bash", "event_time": "2026-11-26T12:00:01Z"}
    commands = [line["text"] for line in lines if line["kind"] == "command"]
    assert "export APP_DB_PASSWORD='[MASKED:password]'" in commands
    assert commands[-1] == "exit"
    assert len(lines) == 39


def test_a_retried_invocation_sends_nothing_twice(app: ModuleType, stack: Stack) -> None:
    payload = event("alerts-risky-session.json")
    invoke(app, payload)
    summary = invoke(app, payload)
    assert stack.sns_rule_ids() == RISKY_DELIVERED
    assert len(stack.slack_posts()) == len(RISKY_DELIVERED)
    assert len(stack.transcript(fixtures.RISKY_SESSION)) == 17
    assert summary["delivered"] == {}
    # Its alerts' claims name this batch, and its delivery record is in the transcript: delivered whole already.
    assert summary["suppressed"]["retry"] == 4
    assert summary["lines_already_written"] == 17
    assert len(stack.delivery_records(fixtures.RISKY_SESSION)) == 1


def test_a_session_over_its_cap_sends_one_summary(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_CAP_PER_SESSION", "2")
    monkeypatch.setenv("ALERT_WINDOW_MINUTES", "0")
    invoke(app, event("alerts-risky-session.json"))
    invoke(app, event("alerts-risky-session.json"))
    assert stack.sns_rule_ids() == ["SG-TEST-001", "SG-TEST-002", CAP_SUMMARY_RULE_ID]
    summary = json.loads(stack.sns_messages()[-1]["Body"].partition("Alert JSON:\n")[2])
    assert "SG-TEST-003" in summary["description"]


def test_with_no_cap_configured_the_summary_names_the_hard_maximum(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AlertCapPerSession 0 is no cap of one's own: the hard maximum applies (made 2 here, to reach it)
    monkeypatch.setenv("ALERT_CAP_PER_SESSION", "0")
    monkeypatch.setenv("ALERT_WINDOW_MINUTES", "0")
    monkeypatch.setattr(claims, "SESSION_ALERTS_MAX", 2)
    invoke(app, event("alerts-risky-session.json"))
    invoke(app, event("alerts-risky-session.json"))
    assert stack.sns_rule_ids() == ["SG-TEST-001", "SG-TEST-002", CAP_SUMMARY_RULE_ID]
    summary = json.loads(stack.sns_messages()[-1]["Body"].partition("Alert JSON:\n")[2])
    assert summary["title"].startswith("Alert cap reached: 2 alerts in one session")


# --- Slack failures ---------------------------------------------------------------------------------------------


def test_slack_429_waits_for_retry_after_then_delivers(app: ModuleType, stack: Stack) -> None:
    fake_sleep(stack)
    stack.slack.responses = [(429, {"Retry-After": "3"}, b"rate_limited")]
    invoke(app, event("alerts-risky-session.json"))
    assert stack.sleeps == [3.0]
    assert len(stack.slack_posts()) == len(RISKY_DELIVERED) + 1


def test_slack_5xx_is_retried_with_bounded_backoff(app: ModuleType, stack: Stack) -> None:
    fake_sleep(stack)
    stack.slack.responses = [(500, {}, b"error"), (503, {}, b"error")]
    invoke(app, event("alerts-risky-session.json"))
    assert len(stack.sleeps) == 2
    assert all(0 < s <= 8 for s in stack.sleeps)
    assert len(stack.slack_posts()) == len(RISKY_DELIVERED) + 2


def test_slack_down_fails_the_invocation_after_sns_and_a_retry_completes_only_slack(
    app: ModuleType, stack: Stack
) -> None:
    fake_sleep(stack)
    stack.slack.responses = [(500, {}, b"error")] * 4
    with pytest.raises(DeliveryFailed, match=r"slack x4"):
        invoke(app, event("alerts-risky-session.json"))
    assert stack.sns_rule_ids() == RISKY_DELIVERED  # SNS went out before Slack was tried
    assert len(stack.slack.requests) == 4  # one alert's attempts; the others were not tried once Slack was down
    assert len(stack.transcript(fixtures.RISKY_SESSION)) == 17

    invoke(app, event("alerts-risky-session.json"))  # Lambda's retry, Slack healthy again
    assert stack.sns_rule_ids() == RISKY_DELIVERED
    assert len(stack.slack.requests) == 4 + len(RISKY_DELIVERED)
    assert len(stack.transcript(fixtures.RISKY_SESSION)) == 17


def test_slack_retry_after_beyond_the_deadline_gives_up_at_once(app: ModuleType, stack: Stack) -> None:
    fake_sleep(stack)
    stack.slack.responses = [(429, {"Retry-After": "120"}, b"rate_limited")]
    with pytest.raises(DeliveryFailed):
        invoke(app, event("alerts-risky-session.json"), remaining_ms=60_000)
    assert stack.sleeps == []
    assert len(stack.slack.requests) == 1


def test_an_unreadable_webhook_secret_fails_slack_but_not_sns(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", stack.secret_arn.replace("slack-webhook", "missing"))
    with pytest.raises(DeliveryFailed, match="slack x4"):
        invoke(app, event("alerts-risky-session.json"))
    assert stack.sns_rule_ids() == RISKY_DELIVERED


def test_a_webhook_that_is_not_https_is_refused(stack: Stack) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=stack.secret_arn, SecretString="http://hooks.example.com/services/x"
    )
    settings, outlets = session_alerts.default_outlets()
    with pytest.raises(DeliveryFailed):
        session_alerts.handle_subscription_event(
            CloudWatchLogsEvent(event("alerts-risky-session.json")),
            lambda_context(),  # type: ignore[arg-type]
            settings=settings,
            outlets=outlets,
            rules=RULES,
        )
    assert stack.slack.requests == []


def test_post_with_retries_treats_timeouts_as_retryable_and_stops_at_the_attempt_limit() -> None:
    @dataclass
    class Flaky:
        answers: list[HttpResult]
        timeouts: list[float] = field(default_factory=list)

        def post(self, url: str, body: bytes, timeout: float) -> HttpResult:
            self.timeouts.append(timeout)
            return self.answers.pop(0)

    now = [0.0]
    webhook = Flaky([HttpResult(0, error="TimeoutError"), HttpResult(200)])
    post_with_retries(webhook, "https://x", b"{}", deadline=50, clock=lambda: now[0], sleep=lambda s: None)
    assert webhook.timeouts == [5.0, 5.0]

    always_down = Flaky([HttpResult(502)] * 10)
    with pytest.raises(SlackDeliveryError, match="HTTP 502 after 4"):
        post_with_retries(always_down, "https://x", b"{}", deadline=50, clock=lambda: now[0], sleep=lambda s: None)

    refused = Flaky([HttpResult(404)])
    with pytest.raises(SlackDeliveryError, match="HTTP 404 after 1"):
        post_with_retries(refused, "https://x", b"{}", deadline=50, clock=lambda: now[0], sleep=lambda s: None)

    with pytest.raises(SlackDeliveryError, match="no time left"):
        post_with_retries(Flaky([]), "https://x", b"{}", deadline=0.5, clock=lambda: now[0], sleep=lambda s: None)


def test_the_webhook_adapter_reports_a_timeout_as_no_answer() -> None:
    with socket.socket() as silent:  # accepts the connection (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        result = UrllibSlackWebhook().post(f"http://127.0.0.1:{port}/hook", b"{}", timeout=0.3)
    assert result.status == 0
    assert result.error in {"TimeoutError", "URLError"}


def test_the_webhook_adapter_reads_status_and_retry_after(http_recorder: HttpRecorder) -> None:
    http_recorder.responses = [(429, {"Retry-After": "7"}, b"rate_limited"), (200, {}, b"ok")]
    webhook = UrllibSlackWebhook()
    assert webhook.post(http_recorder.url, b"{}", 2) == HttpResult(429, 7.0)
    assert webhook.post(http_recorder.url, b'{"text":"x"}', 2) == HttpResult(200)
    assert http_recorder.requests[1].headers["content-type"].startswith("application/json")
    assert parse_retry_after("Thu, 26 Nov 2026 17:00:10 GMT", now=1_795_712_400.0) == 10.0
    assert parse_retry_after("soon") is None


# --- nothing lost -----------------------------------------------------------------------------------------------


def test_malformed_records_are_parked_with_their_reason_and_the_rest_is_processed(
    app: ModuleType, stack: Stack, function_logs: io.StringIO
) -> None:
    payload = event("alerts-malformed-batch.json")
    original = decode(payload)
    summary = invoke(app, payload)

    (message,) = stack.failure_messages()  # the six log events share one message
    assert message["sessionguard"] == "malformed-log-events"
    parked = parked_entries(stack)
    assert [p["location"] for p in parked] == [f"logEvents[{i}]" for i in (1, 2, 3, 4, 5, 6)]
    assert [p["logEvent"] for p in parked] == [original["logEvents"][i] for i in (1, 2, 3, 4, 5, 6)]
    assert {p["logStream"] for p in parked} == {fixtures.BROKEN_SESSION}
    assert [p["reason"] for p in parked] == [
        "message is not JSON: Expecting value at character 0",
        "sessionId is missing or null",
        "sessionData is a JSON string, not a list of strings",
        "message is not JSON: Expecting value at character 0",
        "message is missing or null",
        "log event is a JSON number, not an object",
    ]
    # Nothing lost: every log event was either processed or parked.
    assert summary["session_events"] + summary["malformed"] == summary["log_events"] == 9
    assert stack.sns_rule_ids() == ["SG-TEST-004"]
    logged = function_logs.getvalue()
    assert logged.count("Malformed log event parked") == 6
    assert "sessionId is missing or null" in logged


def test_an_event_the_engine_fails_on_is_parked_and_the_rest_goes_on(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch, function_logs: io.StringIO
) -> None:
    class FragileEngine(SessionEngine):
        def scan_batch(self, events: Sequence[SessionEvent]) -> list[CommandAlert | SanitizedLine]:
            if any("whoami" in line for event in events for line in event.lines):
                raise KeyError(fixtures.SECRETS[0])  # an exception whose text must not be logged
            return super().scan_batch(events)

    monkeypatch.setattr(session_alerts, "SessionEngine", FragileEngine)
    summary = invoke(app, event("alerts-risky-session.json"))
    (parked,) = parked_entries(stack)
    assert parked["reason"] == "the engine failed on this event (KeyError)"
    assert parked["location"] == "logEvents[1]"
    assert summary["session_events"] + summary["malformed"] == summary["log_events"]
    assert stack.sns_rule_ids() == RISKY_DELIVERED
    assert fixtures.SECRETS[0] not in function_logs.getvalue()


def test_failure_queue_messages_are_sqs_legal(app: ModuleType, stack: Stack) -> None:
    """SQS accepts only #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF; moto does not check."""
    invoke(app, event("alerts-malformed-batch.json"))
    bodies = [m["Body"] for m in stack.drain(stack.failure_queue_url)]
    assert bodies
    assert all(body.isascii() and body.isprintable() for body in bodies)


@pytest.mark.parametrize("case", sorted(fixtures.corrupt_payloads()))
def test_an_undecodable_payload_is_parked_whole(
    app: ModuleType, stack: Stack, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    payload = event("alerts-corrupt-payloads.json")[case]
    summary = invoke(app, payload)
    (parked,) = stack.failure_messages()
    assert parked["sessionguard"] == "failed-invocation"
    assert parked["invocation"] == payload
    assert parked["reason"]
    assert summary["malformed"] == 1
    assert metric_total(emf_documents(capsys.readouterr().out), "MalformedRecords") == 1
    assert stack.sns_messages() == []


def test_a_control_message_is_ignored(app: ModuleType, stack: Stack) -> None:
    summary = invoke(app, event("subscription-control-message.json"))
    assert summary["log_events"] == 0
    assert stack.failure_messages() == []
    assert stack.sns_messages() == []


def test_a_failure_queue_that_cannot_be_written_fails_the_invocation(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAILURE_QUEUE_URL", stack.failure_queue_url.replace("failures", "missing"))
    with pytest.raises(DeliveryFailed, match="failure-queue x1"):  # one SendMessageBatch call for the six
        invoke(app, event("alerts-malformed-batch.json"))
    assert stack.sns_rule_ids() == ["SG-TEST-004"]  # the good events were still processed


def test_a_1_mb_line_is_split_into_log_events_within_the_limit(app: ModuleType, stack: Stack) -> None:
    # The agent would cut such a line into pieces of 33,000 bytes; this one is whole, so its last word is masked
    # as a piece's would be (masking/pieces.py), and the rest must survive the split into log events.
    huge = "sh-4.2$ cat /etc/shadow " + "\x07" * 100_000 + "é" * 400_000 + "A" * 500_000 + " end"
    line = json.dumps(
        fixtures.session_event("dave-0e1f", "2026-11-26T16:30:00Z", [huge], instance="i-0bbb", user="dave")
    )
    payload = fixtures.data_message("dave-0e1f", [("2026-11-26T16:30:00Z", line)])
    invoke(app, payload)

    events = stack.logs.get_log_events(logGroupName=SANITIZED_GROUP, logStreamName="dave-0e1f", limit=100)["events"]
    assert len(events) > 1
    assert all(len(e["message"].encode()) <= LOG_EVENT_MAX_BYTES for e in events)
    parts = [part for e in events if (part := json.loads(e["message"]))["kind"] != "delivery"]
    text = "".join(p["text"] for p in parts)
    assert text.startswith("cat /etc/shadow ")
    assert text.endswith("é" * 10 + "A" * 500_000 + " [MASKED:cut-value]")
    assert parts[-1]["part"] == f"{len(parts)}/{len(parts)}"
    (message,) = stack.sns_messages()
    assert len(message["Body"].encode()) < 256 * 1024
    (post,) = stack.slack_posts()
    assert all(len(b["text"]["text"]) <= 3000 for b in post["blocks"] if b["type"] == "section" and "text" in b)


def test_log_event_batches_respect_count_bytes_and_time_span() -> None:
    many = [LogEvent(1_000, "x") for _ in range(25_000)]
    assert [len(b) for b in log_event_batches(many)] == [10_000, 10_000, 5_000]
    big = [LogEvent(1_000, "y" * 200_000) for _ in range(12)]
    assert all(sum(e.size for e in b) <= 1_048_576 for b in log_event_batches(big))
    spread = [LogEvent(0, "a"), LogEvent(24 * 3600 * 1000, "b")]
    assert len(log_event_batches(spread)) == 2


# --- secrets never leave ----------------------------------------------------------------------------------------


def test_a_secret_typed_in_a_session_never_appears_in_any_delivery_path(
    app: ModuleType, stack: Stack, function_logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_sleep(stack)
    invoke(app, event("subscription-data-message.json"))
    invoke(app, event("alerts-malformed-batch.json"))
    stack.slack.responses = [(500, {}, b"error")] * 4
    with pytest.raises(DeliveryFailed) as failure:
        invoke(app, event("alerts-risky-session.json"))  # error paths log too
    invoke(app, event("alerts-risky-session.json"))

    outputs = {
        "sns": json.dumps(stack.sns_messages() + stack.sns_messages(stack.extra_topic_arn)),
        "slack": json.dumps(stack.slack_posts()),
        "sanitized log group": stack.transcript_text(),
        "function logs": function_logs.getvalue(),
        "metrics and stdout": capsys.readouterr().out,
        "exception": str(failure.value),
    }
    assert stack.sns_rule_ids()  # the paths were really exercised
    for where in ("sns", "slack", "sanitized log group"):
        assert "[MASKED:" in outputs[where], where
    assert emf_documents(outputs["metrics and stdout"])
    for where, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} reached {where}"
            assert json.dumps(secret)[1:-1] not in text, f"{secret!r} (JSON-escaped) reached {where}"


def test_slack_markup_typed_in_a_session_arrives_escaped(app: ModuleType, stack: Stack) -> None:
    invoke(app, event("alerts-risky-session.json"))
    shadow = next(p for p in stack.slack_posts() if "Shadow" in p["blocks"][0]["text"]["text"])
    command = shadow["blocks"][2]["text"]["text"]
    assert "&lt;!channel&gt;" in command
    assert "<!channel>" not in json.dumps(shadow)
    assert "<https://evil" not in json.dumps(shadow)
    assert "``" not in command.removeprefix("*Command* (secrets masked)\n```\n").removesuffix("\n```")


# --- metrics ----------------------------------------------------------------------------------------------------


def test_metrics_count_events_commands_alerts_suppressions_and_failures(
    app: ModuleType, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_sleep(stack)
    stack.slack.responses = [(500, {}, b"error")] * 4
    with pytest.raises(DeliveryFailed):
        invoke(app, event("alerts-risky-session.json"))
    documents = emf_documents(capsys.readouterr().out)

    assert metric_total(documents, "SessionEventsProcessed") == 8
    assert metric_total(documents, "CommandsSeen") == 9
    assert metric_total(documents, "AlertsRaised") == 5
    assert metric_total(documents, "Alerts", Severity="high", RuleId="SG-TEST-004") == 2
    assert metric_total(documents, "Alerts", Severity="critical", RuleId="SG-TEST-001") == 1
    assert metric_total(documents, "SecretsMasked", SecretKind="aws-secret-access-key") == 1
    assert metric_total(documents, "DuplicatesSuppressed") == 1
    assert metric_total(documents, "DeliveryFailures", Channel="slack") == 4
    assert metric_total(documents, "Deliveries", Channel="sns") == 8
    allowed = {"service", "Severity", "RuleId", "SecretKind", "Channel", "Reason", "function_name"}
    for document in documents:
        for dimension_set in document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]:
            assert set(dimension_set) <= allowed


# --- replay -----------------------------------------------------------------------------------------------------


@dataclass
class RecordingInvoker:
    payloads: list[dict[str, Any]] = field(default_factory=list)
    status: int = 202

    def invoke(self, function_name: str, payload: bytes) -> int:
        self.payloads.append(json.loads(payload))
        return self.status


def test_replay_redrives_every_kind_of_failure_record(app: ModuleType, stack: Stack) -> None:
    invoke(app, event("alerts-malformed-batch.json"))  # six malformed log events in one record
    invoke(app, event("alerts-corrupt-payloads.json")["bad-gzip"])  # one failed-invocation record
    stack.sqs.send_message(
        QueueUrl=stack.failure_queue_url, MessageBody=json.dumps(event("alerts-lambda-on-failure.json"))
    )
    stack.sqs.send_message(QueueUrl=stack.failure_queue_url, MessageBody="not json")

    invoker = RecordingInvoker()
    report = redrive_failure_queue(stack.failure_queue_url, "sessionguard-alerts", max_messages=20, invoker=invoker)

    assert report.count("replayed") == 3
    assert report.count("skipped") == 1
    assert event("alerts-corrupt-payloads.json")["bad-gzip"] in invoker.payloads
    assert event("alerts-risky-session.json") in invoker.payloads
    rebuilt = [decode(p) for p in invoker.payloads if p.get("awslogs", {}).get("data", "").startswith("H4sI")]
    original = decode(event("alerts-malformed-batch.json"))
    replayed_events = [e for r in rebuilt if r.get("logStream") == fixtures.BROKEN_SESSION for e in r["logEvents"]]
    assert replayed_events == [original["logEvents"][i] for i in (1, 2, 3, 4, 5, 6)]
    remaining = stack.sqs.get_queue_attributes(
        QueueUrl=stack.failure_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert remaining == "0"  # the skipped one is only hidden for the visibility timeout


def test_replay_dry_run_invokes_and_deletes_nothing(stack: Stack) -> None:
    stack.sqs.send_message(
        QueueUrl=stack.failure_queue_url, MessageBody=json.dumps(event("alerts-lambda-on-failure.json"))
    )
    invoker = RecordingInvoker()
    report = redrive_failure_queue(stack.failure_queue_url, "fn", max_messages=5, dry_run=True, invoker=invoker)
    assert report.to_json()["would_replay"] == 1
    assert invoker.payloads == []


def test_replay_fetches_a_referenced_event_from_the_session_log_group(stack: Stack) -> None:
    stack.logs.create_log_group(logGroupName=SESSION_GROUP)
    stack.logs.create_log_stream(logGroupName=SESSION_GROUP, logStreamName="erin-0f00")
    stack.logs.put_log_events(
        logGroupName=SESSION_GROUP,
        logStreamName="erin-0f00",
        logEvents=[{"timestamp": 1_795_708_800_000, "message": "m"}],
    )
    (stored,) = stack.logs.filter_log_events(logGroupName=SESSION_GROUP)["events"]
    body = json.dumps(
        {
            "sessionguard": "malformed-log-event",
            "version": 1,
            "reason": "r",
            "owner": "123456789012",
            "logGroup": SESSION_GROUP,
            "logStream": "erin-0f00",
            "subscriptionFilters": ["f"],
            "logEventReference": {"id": stored["eventId"], "timestamp": 1_795_708_800_000},
        }
    )
    kind, rebuilt = invocation_event(body, SessionLogReader(boto3.client("logs", region_name=REGION)))
    assert kind == "malformed-log-event"
    assert decode(rebuilt)["logEvents"] == [{"id": stored["eventId"], "timestamp": 1_795_708_800_000, "message": "m"}]


def test_replay_keeps_messages_lambda_did_not_accept(stack: Stack) -> None:
    stack.sqs.send_message(
        QueueUrl=stack.failure_queue_url, MessageBody=json.dumps(event("alerts-lambda-on-failure.json"))
    )
    report = redrive_failure_queue(stack.failure_queue_url, "fn", max_messages=5, invoker=RecordingInvoker(status=500))
    assert report.count("failed") == 1
    assert report.outcomes[0].reason == "invoke answered HTTP 500"


# --- a session over several deliveries (warm-up) -------------------------------------------------------------------

SPLIT_SESSION = "jane.roe-0a1b2c3d4e5f60718"
SPLIT_PASSWORD = "S3cr3tPassw0rd!"
Delivery = list[tuple[str, list[str]]]  # (eventTime, sessionData) per event


def stream_session(stack: Stack, deliveries: list[Delivery], session: str = SPLIT_SESSION) -> list[dict[str, Any]]:
    """The session's events in the session log group, as the agent streamed them, and the subscription payload of
    each delivery (CloudWatch Logs delivers a stream's events in batches, each to its own invocation)."""
    if not stack.logs.describe_log_groups(logGroupNamePrefix=SESSION_GROUP)["logGroups"]:
        stack.logs.create_log_group(logGroupName=SESSION_GROUP)
    stack.logs.create_log_stream(logGroupName=SESSION_GROUP, logStreamName=session)
    batches = [
        [
            (
                timestamp_ms(time),
                json.dumps(fixtures.session_event(session, time, lines, instance="i-0aaa", user="jane")),
            )
            for time, lines in delivery
        ]
        for delivery in deliveries
    ]
    stack.logs.put_log_events(
        logGroupName=SESSION_GROUP,
        logStreamName=session,
        logEvents=[{"timestamp": stamp, "message": message} for batch in batches for stamp, message in batch],
    )
    stored = stack.logs.filter_log_events(logGroupName=SESSION_GROUP, logStreamNames=[session])["events"]
    ids = {(e["timestamp"], e["message"]): e["eventId"] for e in stored}
    return [
        awslogs(
            {
                "messageType": "DATA_MESSAGE",
                "owner": "123456789012",
                "logGroup": SESSION_GROUP,
                "logStream": session,
                "subscriptionFilters": ["sessionguard-alerts"],
                "logEvents": [{"id": ids[(t, m)], "timestamp": t, "message": m} for t, m in batch],
            }
        )
        for batch in batches
    ]


def test_a_download_piped_to_a_shell_split_across_deliveries_alerts_once_when_it_completes(
    app: ModuleType, stack: Stack
) -> None:
    first, second = stream_session(
        stack,
        [
            [("2026-11-26T17:00:00Z", ["sh-4.2$ curl -s https://get.example.com/install.sh \\"])],
            [("2026-11-26T17:00:01Z", ["> | sudo bash", "sh-4.2$ "])],
        ],
    )

    invoke(app, first)
    assert stack.sns_rule_ids() == []
    summary = invoke(app, second)
    invoke(app, second)  # Lambda's retry of the same delivery

    assert stack.sns_rule_ids() == ["SG-TEST-001"]
    record = json.loads(stack.sns_messages()[0]["Body"].partition("Alert JSON:\n")[2])
    assert record["command"] == "curl -s https://get.example.com/install.sh | sudo bash"
    assert summary["warm_up_events"] == 1
    assert stack.transcript(SPLIT_SESSION) == [
        {
            "kind": "command",
            "text": "curl -s https://get.example.com/install.sh \\",
            "event_time": "2026-11-26T17:00:00Z",
            "incomplete": True,
        },
        {
            "kind": "command",
            "text": "curl -s https://get.example.com/install.sh | sudo bash",
            "event_time": "2026-11-26T17:00:01Z",
        },
    ]


def test_a_password_typed_on_a_continuation_line_in_the_next_delivery_is_masked(app: ModuleType, stack: Stack) -> None:
    deliveries = stream_session(
        stack,
        [
            [("2026-11-26T17:00:00Z", ["sh-4.2$ mysql -u root \\"])],
            [("2026-11-26T17:00:01Z", [f"> -p{SPLIT_PASSWORD} orders", "sh-4.2$ "])],
        ],
    )
    for payload in deliveries:
        invoke(app, payload)

    assert stack.sns_rule_ids() == ["SG-TEST-002"]
    assert SPLIT_PASSWORD not in stack.transcript_text()
    assert SPLIT_PASSWORD not in json.dumps(stack.sns_messages() + stack.slack_posts())
    assert stack.transcript(SPLIT_SESSION)[-1]["text"] == "mysql -u root -p[MASKED:mysql-password] orders"


def test_warm_up_reads_only_the_latest_events_before_the_delivery(app: ModuleType, stack: Stack) -> None:
    earlier = [[(f"2026-11-26T17:00:{second:02d}Z", [f"sh-4.2$ echo {second}", str(second)])] for second in range(30)]
    # It opens with output (the end of the previous command's), so it may continue something: warm-up.
    *_, last = stream_session(stack, [*earlier, [("2026-11-26T17:00:40Z", ["29 done", "sh-4.2$ cat /etc/shadow"])]])

    summary = invoke(app, last)

    assert summary["warm_up_events"] == WARM_UP_EVENTS
    assert summary["session_events"] == 1  # the warm-up events are neither processed again nor counted
    assert stack.sns_rule_ids() == ["SG-TEST-004"]
    assert [line["text"] for line in stack.transcript(SPLIT_SESSION)] == ["29 done", "cat /etc/shadow"]


@pytest.mark.parametrize(
    "first_line",
    ["sh-4.2$ cat /etc/shadow", "\x1b]0;ssm-user@ip-10-0-1-23:~\x07[ssm-user@ip-10-0-1-23 ~]$ cat /etc/shadow"],
)
def test_a_delivery_that_opens_at_a_prompt_reads_nothing_back(app: ModuleType, stack: Stack, first_line: str) -> None:
    """The usual upload opens at a prompt and continues nothing: no GetLogEvents call (its quota is 25 per second
    per account and region). Here the session group does not exist, so a call would fail and be counted."""
    payload = fixtures.data_message(
        SPLIT_SESSION,
        [
            (
                "2026-11-26T17:00:01Z",
                json.dumps(
                    fixtures.session_event(SPLIT_SESSION, "2026-11-26T17:00:01Z", [first_line], instance="i", user="j")
                ),
            )
        ],
    )

    summary = invoke(app, payload)

    assert summary["warm_up_failures"] == 0
    assert summary["warm_up_events"] == 0
    assert stack.sns_rule_ids() == ["SG-TEST-004"]


def test_without_access_to_the_session_log_group_a_batch_goes_on_without_warm_up(
    app: ModuleType, stack: Stack, function_logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # No session log group in this account's moto: GetLogEvents fails (as without logs:GetLogEvents).
    payload = fixtures.data_message(
        SPLIT_SESSION,
        [
            (
                "2026-11-26T17:00:01Z",
                json.dumps(
                    fixtures.session_event(
                        SPLIT_SESSION, "2026-11-26T17:00:01Z", [f"> -p{SPLIT_PASSWORD} orders"], instance="i", user="j"
                    )
                ),
            )
        ],
    )

    summary = invoke(app, payload)

    assert summary["warm_up_failures"] == 1
    assert summary["failures"] == {}
    assert metric_total(emf_documents(capsys.readouterr().out), "WarmUpFailures") == 1
    logged = function_logs.getvalue()
    assert '"error":"ResourceNotFoundException"' in logged.replace(" ", "")
    # Fail closed: a continuation line whose command is unknown is masked whole.
    assert stack.transcript(SPLIT_SESSION)[0]["text"] == "> [MASKED:unparsed-line]"
    assert SPLIT_PASSWORD not in stack.transcript_text() + logged


# --- floods -------------------------------------------------------------------------------------------------------


def test_a_pasted_flood_costs_a_bounded_number_of_state_calls_and_the_real_alert_goes_out(
    app: ModuleType, stack: Stack
) -> None:
    _, outlets = session_alerts.default_outlets()
    claims = CountingClaims(outlets.claims)
    outlets.claims = claims
    lines = ["sh-4.2$ cat /etc/shadow"] * 5_000 + ["sh-4.2$ curl -s https://get.example.com/x.sh | sudo bash"]
    events: list[list[str]] = [[]]
    for line in lines:  # the agent's events: at most 33,000 bytes of text
        if sum(len(text) + 1 for text in events[-1]) + len(line) > 33_000:
            events.append([])
        events[-1].append(line)
    assert len(events) == 4
    (payload,) = stream_session(stack, [[("2026-11-26T17:00:00Z", data) for data in events]])

    summary = invoke(app, payload)

    assert summary["alerts"] == 5_001
    assert stack.sns_rule_ids() == ["SG-TEST-004", "SG-TEST-001"]
    # One write claims both alerts, their two (rule, window) pairs and their places under the cap, whatever the
    # flood's size.
    assert claims.calls == ["claim"]
    assert summary["suppressed"] == {"window": 4_999}


@dataclass
class CountingClaims:
    """The session claims store, counting its calls."""

    inner: Any
    calls: list[str] = field(default_factory=list)

    @property
    def is_ledger(self) -> bool:
        return bool(self.inner.is_ledger)

    def claim(self, *args: Any) -> Any:
        self.calls.append("claim")
        return self.inner.claim(*args)

    def read(self, *args: Any) -> Any:
        self.calls.append("read")
        return self.inner.read(*args)

    def record(self, *args: Any) -> Any:
        self.calls.append("record")
        return self.inner.record(*args)


# --- hostile metadata -------------------------------------------------------------------------------------------


def test_a_lone_surrogate_or_a_bogus_time_in_metadata_does_not_stop_any_delivery(
    app: ModuleType, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    document = fixtures.session_event(
        SPLIT_SESSION, "2026-11-26T17:00:00Z", ["sh-4.2$ cat /etc/shadow"], instance="i-0aaa", user="jane"
    )
    document["eventTime"] = "SURROGATE <https://evil|x> *bold* " + "A" * 300_000
    document["userIdentity"]["arn"] = "arn:aws:sts::111122223333:assumed-role/Ops/SURROGATE"
    document["sessionId"] = SPLIT_SESSION + "SURROGATE"
    message = json.dumps(document).replace("SURROGATE", "\\ud800")
    payload = fixtures.data_message(SPLIT_SESSION, [("2026-11-26T17:00:00Z", message)])
    decoded = decode(payload)
    decoded["logStream"] = SPLIT_SESSION + "\ud800"  # the stream is named after the session, surrogate and all
    payload = awslogs(decoded)

    summary = invoke(app, payload)

    assert summary["failures"] == {}
    assert summary["claims_another_session"] == 0
    assert summary["invalid_event_times"] == 1
    assert metric_total(emf_documents(capsys.readouterr().out), "InvalidEventTimes") == 1
    (sns,) = stack.sns_messages()
    body = sns["Body"]
    assert "When:     -" in body
    assert "\ufffd" in body
    assert len(body.encode()) < 256 * 1024
    record = json.loads(body.partition("Alert JSON:\n")[2])
    assert record["event_time"] == ""
    assert record["log_stream"] == SPLIT_SESSION + "\ufffd"
    assert record["session_id"] == SPLIT_SESSION + "\ufffd"
    assert record["user"].endswith("/Ops/\ufffd")
    (post,) = stack.slack_posts()
    when = next(f["text"] for f in post["blocks"][1]["fields"] if f["text"].startswith("*When*"))
    assert when == "*When*\n`-`"
    (line,) = stack.transcript(log_stream_name(SPLIT_SESSION + "\ud800"))  # made printable: with the id's digest
    assert line["event_time"] == ""


# --- transcript lines CloudWatch Logs refuses for their time ---------------------------------------------------


@dataclass
class ShortRetentionGroup:
    """A sanitized log group whose retention is `days`: like CloudWatch Logs, it refuses older events as expired
    (rejectedLogEventsInfo.expiredLogEventEndIndex) and reports them in the PutLogEvents answer."""

    days: int
    now_ms: int
    accepted: list[LogEvent] = field(default_factory=list)
    refuse_all: bool = False

    def put(self, log_group: str, log_stream: str, events: Sequence[LogEvent]) -> PutResult:
        oldest = self.now_ms - self.days * 24 * 3600 * 1000
        refused = [e for e in events if self.refuse_all or e.timestamp < oldest]
        self.accepted += [e for e in events if e not in refused]
        return PutResult(len(events) - len(refused), len(refused), tuple(refused))


def replayed_old_session(days_ago: int) -> dict[str, Any]:
    """A batch replayed from the failure queue `days_ago` days after the session."""
    when = clock.strftime("%Y-%m-%dT%H:%M:%SZ", clock.gmtime(clock.time() - days_ago * 86_400))
    line = json.dumps(fixtures.session_event("erin-0f00", when, ["sh-4.2$ id", "uid=0(root)"], instance="i", user="e"))
    return fixtures.data_message("erin-0f00", [(when, line)])


def test_transcript_lines_older_than_the_groups_retention_are_written_stamped_now(
    app: ModuleType, stack: Stack
) -> None:
    _, outlets = session_alerts.default_outlets()
    group = ShortRetentionGroup(days=1, now_ms=int(clock.time() * 1000))
    outlets.transcripts = group

    summary = invoke(app, replayed_old_session(days_ago=3))

    assert summary["lines_written"] == summary["lines_restamped"] == 2
    assert summary["lines_rejected"] == 0
    assert all(e.timestamp >= group.now_ms for e in group.accepted)
    lines = [line for e in group.accepted if (line := json.loads(e.message))["kind"] != "delivery"]
    assert {line["event_time"] for line in lines} != {""}  # the line keeps its own time


def test_with_the_retention_configured_old_lines_are_stamped_now_before_writing(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANITIZED_LOG_RETENTION_DAYS", "1")
    _, outlets = session_alerts.default_outlets()
    group = ShortRetentionGroup(days=1, now_ms=int(clock.time() * 1000))
    outlets.transcripts = group

    summary = invoke(app, replayed_old_session(days_ago=3))

    assert summary["lines_written"] == 2
    assert summary["lines_restamped"] == 0  # nothing was refused: stamped now up front


def test_transcript_lines_refused_even_when_stamped_now_fail_the_invocation(app: ModuleType, stack: Stack) -> None:
    _, outlets = session_alerts.default_outlets()
    outlets.transcripts = ShortRetentionGroup(days=1, now_ms=int(clock.time() * 1000), refuse_all=True)

    # Two calls refused: the lines', and the delivery record's, alone after lines over 23 hours old.
    with pytest.raises(DeliveryFailed, match="transcript x2"):
        invoke(app, replayed_old_session(days_ago=3))


def test_the_transcript_sink_reports_which_events_cloudwatch_refused(stack: Stack) -> None:
    now = int(clock.time() * 1000)
    events = [LogEvent(now - 20 * 86_400_000, "old"), LogEvent(now, "new")]
    result = CloudWatchTranscriptSink(stack.logs).put(SANITIZED_GROUP, "s", events)
    assert result == PutResult(1, 1, (events[0],))


# --- the delivery ledger ---------------------------------------------------------------------------------------


# --- hostile deliveries (issue #13, items 1-6) -----------------------------------------------------------------

RISKY_LINE = "sh-4.2$ curl -s https://x.example/i.sh | sudo bash"


def session_message(session: str, lines: list[str], time: str = "2026-11-26T17:00:00Z", **fields: Any) -> str:
    document = fixtures.session_event(session, time, lines, instance="i-0aaa", user="jane")
    document.update(fields)
    return json.dumps(document)


def parked_entries(stack: Stack) -> list[dict[str, Any]]:
    """Every log event parked so far, one entry per log event, whatever message it shares with others."""
    entries = []
    for message in stack.failure_messages():
        if message["sessionguard"] == "malformed-log-events":
            entries += [{**message, **entry} for entry in message["logEvents"]]
    return entries


@dataclass
class CallOrder:
    """Records which outlet was called, in order (SNS publishes and failure-queue sends)."""

    calls: list[str] = field(default_factory=list)

    def watch(self, outlet: Any, name: str, *methods: str) -> None:
        for method in methods:
            real = getattr(outlet, method)

            def recorded(*args: Any, _real: Any = real, _name: str = f"{name}.{method}", **kwargs: Any) -> Any:
                self.calls.append(_name)
                return _real(*args, **kwargs)

            setattr(outlet, method, recorded)


def test_a_junk_flood_ahead_of_a_real_alert_is_parked_in_a_few_messages_after_the_alert_is_sent(
    app: ModuleType, stack: Stack
) -> None:
    # Any instance may PutLogEvents into its own session stream: 3,000 junk records, then the real command.
    records = [("2026-11-26T17:00:00Z", f"junk {n}") for n in range(3_000)]
    payload = fixtures.data_message(
        SPLIT_SESSION, [*records, ("2026-11-26T17:00:00Z", session_message(SPLIT_SESSION, [RISKY_LINE]))]
    )
    _, outlets = session_alerts.default_outlets()
    order = CallOrder()
    order.watch(outlets.publisher, "sns", "publish")
    order.watch(outlets.failures, "queue", "send", "send_batch")
    started = clock.monotonic()

    summary = invoke(app, payload, remaining_ms=15_000)

    assert clock.monotonic() - started < 15
    assert stack.sns_rule_ids() == ["SG-TEST-001"]
    first_parking = next(i for i, call in enumerate(order.calls) if call.startswith("queue."))
    assert all(call.startswith("sns.") for call in order.calls[:first_parking])
    assert order.calls[first_parking:] == ["queue.send_batch"]  # one SendMessageBatch call
    entries = parked_entries(stack)
    assert [e["logEvent"]["message"] for e in entries] == [f"junk {n}" for n in range(3_000)]
    assert {e["reason"] for e in entries} == {"message is not JSON: Expecting value at character 0"}
    assert all(len(m["Body"].encode()) <= 1_048_576 for m in stack.drain(stack.failure_queue_url))
    assert summary["session_events"] + summary["malformed"] == summary["log_events"] == 3_001


class RunningOutContext(FakeLambdaContext):
    """A Lambda context whose time runs out after `calls` readings: the function must park what is left."""

    def __init__(self, calls: int, **fields: Any) -> None:
        super().__init__(**fields)
        self.readings = calls

    def get_remaining_time_in_millis(self) -> int:
        self.readings -= 1
        return self.remaining_ms if self.readings >= 0 else 500


def test_when_time_runs_out_after_the_alerts_what_is_left_is_parked_instead_of_timing_out(
    app: ModuleType, stack: Stack
) -> None:
    records = [("2026-11-26T17:00:00Z", f"junk {n}") for n in range(20)]
    payload = fixtures.data_message(
        SPLIT_SESSION, [("2026-11-26T17:00:00Z", session_message(SPLIT_SESSION, [RISKY_LINE])), *records]
    )
    context = RunningOutContext(
        calls=1,
        function_name="sessionguard-SessionAlertsFunction-Ab12Cd34",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:sessionguard-SessionAlertsFunction-Ab12Cd34",
        aws_request_id="1e2d3c4b-5a69-7887-96a5-b4c3d2e1f002",
        remaining_ms=15_000,
    )

    summary = app.lambda_handler(payload, context)  # returns: a timeout would make Lambda retry the whole delivery

    assert stack.sns_rule_ids() == ["SG-TEST-001"]
    (parked,) = stack.failure_messages()
    assert parked["sessionguard"] == "failed-invocation"
    assert parked["invocation"] == payload
    assert parked["reason"].startswith("time ran out")
    assert summary["deferred"] is True
    assert stack.transcript(SPLIT_SESSION) == []  # the replay of the parked invocation writes it
    stack.release_failures()
    invoker = RecordingInvoker()
    report = redrive_failure_queue(stack.failure_queue_url, "fn", max_messages=5, invoker=invoker)
    assert report.count("replayed") == 1
    assert invoker.payloads == [payload]


def forged_payload(sessions: int) -> dict[str, Any]:
    """One delivery of stream SPLIT_SESSION whose events claim `sessions` other sessions, each with a risky command."""
    records = [("2026-11-26T17:00:00Z", session_message(f"mallory-{n:017x}", [RISKY_LINE])) for n in range(sessions)]
    return fixtures.data_message(SPLIT_SESSION, records)


def test_events_claiming_other_sessions_raise_one_finding_per_stream_not_one_alert_per_command(
    app: ModuleType, stack: Stack
) -> None:
    summary = invoke(app, forged_payload(500))
    invoke(app, forged_payload(30))  # more of the same stream: reported already

    assert stack.sns_rule_ids() == ["sessionguard-claims-another-session"]
    assert len(stack.sns_messages(stack.extra_topic_arn)) == 1
    assert len(stack.slack_posts()) == 1
    record = json.loads(stack.sns_messages()[0]["Body"].partition("Alert JSON:\n")[2])
    assert record["session_id"] == SPLIT_SESSION
    assert record["severity"] == "high"
    entries = parked_entries(stack)
    assert len(entries) == 530
    assert {e["reason"] for e in entries} == {"event claims another session than its log stream"}
    assert summary["session_events"] + summary["malformed"] == summary["log_events"] == 500


def test_one_invocation_sends_at_most_its_cap_and_one_summary(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_CAP_PER_SESSION", "1000")
    monkeypatch.setenv("ALERT_WINDOW_MINUTES", "0")
    lines = [f"sh-4.2$ curl -s https://x.example/{n}.sh | sudo bash" for n in range(INVOCATION_ALERT_CAP + 10)]
    payload = fixtures.data_message(SPLIT_SESSION, [("2026-11-26T17:00:00Z", session_message(SPLIT_SESSION, lines))])

    summary = invoke(app, payload)

    rule_ids = stack.sns_rule_ids()
    assert rule_ids == ["SG-TEST-001"] * INVOCATION_ALERT_CAP + [INVOCATION_SUMMARY_RULE_ID]
    summary_record = json.loads(stack.sns_messages()[-1]["Body"].partition("Alert JSON:\n")[2])
    assert "10 more" in summary_record["description"]
    assert summary["suppressed"]["invocation-cap"] == 10


TOKEN = "ghp_qsR6RZ24lPoQj3oPUlieI2nVsbBi1RMar1jf"


def test_a_secret_in_the_session_id_or_the_user_arn_is_masked_wherever_people_read_it(
    app: ModuleType, stack: Stack, function_logs: io.StringIO
) -> None:
    session = f"jane-{TOKEN}-0a1b2c3d"
    message = session_message(
        session, [RISKY_LINE], userIdentity={"arn": f"arn:aws:sts::111122223333:assumed-role/Ops/{TOKEN}"}
    )

    invoke(app, fixtures.data_message(session, [("2026-11-26T17:00:00Z", message)]))

    (sns,) = stack.sns_messages()
    assert TOKEN not in json.dumps(sns)
    assert "[MASKED:github-token]" in sns["Body"]
    (post,) = stack.slack_posts()
    assert TOKEN not in json.dumps(post)
    streams = [s["logStreamName"] for s in stack.logs.describe_log_streams(logGroupName=SANITIZED_GROUP)["logStreams"]]
    assert streams == [log_stream_name(session)]  # masked, and a digest of the id after it (one stream per session)
    assert streams[0].startswith("jane-[MASKED_github-token]-0a1b2c3d-")
    assert TOKEN not in function_logs.getvalue()


def test_the_short_last_line_of_a_private_key_split_across_deliveries_is_masked_without_read_back(
    app: ModuleType, stack: Stack
) -> None:
    body = [
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
        "QyNTUxOQAAACDLnUzM1cQ2pT8Qf0sZ0Xw3vJYk2bQ0F7JX9y9q0yJb0wAAAJjvB2H17wdh",
    ]
    tail = "AAAECq8mhS0xUgoK"
    first = [
        (
            "2026-11-26T17:00:00Z",
            session_message(
                SPLIT_SESSION, ["sh-4.2$ cat ~/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----", *body]
            ),
        )
    ]
    second = [
        (
            "2026-11-26T17:00:01Z",
            session_message(
                SPLIT_SESSION, [tail, "-----END OPENSSH PRIVATE KEY-----", "sh-4.2$ "], time="2026-11-26T17:00:01Z"
            ),
        )
    ]

    invoke(app, fixtures.data_message(SPLIT_SESSION, first))
    summary = invoke(app, fixtures.data_message(SPLIT_SESSION, second))  # no session log group: no read-back

    assert summary["warm_up_failures"] == 1
    text = stack.transcript_text()
    assert tail not in text
    assert all(line not in text for line in body)


@pytest.mark.parametrize("alert_lines", [False, True], ids=["without-alert-lines", "with-alert-lines"])
def test_overlapping_deliveries_send_each_alert_once_and_write_the_overlap_again(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch, alert_lines: bool
) -> None:
    if alert_lines:  # the template's setting: alert lines go with the transcript, in its PutLogEvents call
        monkeypatch.setenv("ALERT_LOG_GROUP", SANITIZED_GROUP)
    commands = [f"echo {n}" if n != 3 else RISKY_LINE.removeprefix("sh-4.2$ ") for n in range(6)]
    (whole,) = stream_session(
        stack, [[(f"2026-11-26T17:00:{n:02d}Z", [f"sh-4.2$ {commands[n]}", str(n)]) for n in range(6)]]
    )
    events = decode(whole)["logEvents"]
    first, second = decode(whole), decode(whole)
    first["logEvents"], second["logEvents"] = events[:4], events[2:]  # both hold the alerting command

    invoke(app, awslogs(first))
    invoke(app, awslogs(second))
    invoke(app, whole)

    transcript = stack.transcript(SPLIT_SESSION)
    texts = [line["text"] for line in transcript if line["kind"] != "alert"]
    # Each payload is its own batch: the claim of the alert's key keeps it to one delivery, but lines are written
    # once per batch, so the overlap is written again (the trade in docs/alerts.md, "Each line once").
    written = {n: texts.count(commands[n]) for n in range(6)}
    assert written == {0: 2, 1: 2, 2: 3, 3: 3, 4: 2, 5: 2}
    assert stack.sns_rule_ids() == ["SG-TEST-001"]
    assert [line["rule_id"] for line in transcript if line["kind"] == "alert"] == ["SG-TEST-001"] * alert_lines


def test_a_quiet_delivery_retried_after_its_transcript_write_failed_writes_each_line_once(
    app: ModuleType, stack: Stack
) -> None:
    (payload,) = stream_session(
        stack, [[(f"2026-11-26T17:00:{n:02d}Z", [f"sh-4.2$ echo {n}", str(n)]) for n in range(3)]]
    )
    _, outlets = session_alerts.default_outlets()
    real = outlets.transcripts
    outlets.transcripts = FailingOnceSink(real)

    with pytest.raises(DeliveryFailed, match="transcript x1"):
        invoke(app, payload)
    summary = invoke(app, payload)  # Lambda's retry

    texts = [line["text"] for line in stack.transcript(SPLIT_SESSION)]
    assert texts == [text for n in range(3) for text in (f"echo {n}", str(n))]
    assert summary["delivered"] == {"transcript": 1}


@dataclass
class FailingOnceSink:
    """A transcript sink whose first PutLogEvents fails (throttled) before writing anything."""

    inner: Any
    failed: bool = False

    def put(self, log_group: str, log_stream: str, events: Sequence[LogEvent]) -> PutResult:
        if not self.failed:
            self.failed = True
            raise RuntimeError("ThrottlingException")
        return self.inner.put(log_group, log_stream, events)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            {"id": "1", "timestamp": 1795712400000, "message": {"sessionId": "x"}},
            "message is a JSON object, not a string",
        ),
        ({"id": "2", "timestamp": 1795712400000, "message": ["x"]}, "message is a JSON array, not a string"),
        ([1, 2], "log event is a JSON array, not an object"),
    ],
)
def test_a_wrong_typed_record_is_parked_and_the_batch_goes_on(
    app: ModuleType, stack: Stack, bad: Any, reason: str
) -> None:
    # Opens with output: the function reads the stream back (warm-up), which is where the Counter crashed.
    good = session_message(SPLIT_SESSION, ["done", RISKY_LINE])
    payload = decode(fixtures.data_message(SPLIT_SESSION, [("2026-11-26T17:00:00Z", good)]))
    payload["logEvents"].insert(0, bad)

    summary = invoke(app, awslogs(payload))
    invoke(app, awslogs(payload))  # Lambda's retry

    assert stack.sns_rule_ids() == ["SG-TEST-001"]
    (entry,) = parked_entries(stack)
    assert entry["reason"] == reason
    assert entry["logEvent"] == bad
    assert summary["session_events"] + summary["malformed"] == summary["log_events"] == 2
    stack.release_failures()
    invoker = RecordingInvoker()
    report = redrive_failure_queue(stack.failure_queue_url, "fn", max_messages=5, invoker=invoker)
    assert report.count("replayed") == 1  # replay-dlq reads the record back, as it was delivered
    assert [decode(p)["logEvents"] for p in invoker.payloads] == [[bad]]


def test_an_event_that_is_a_list_is_parked_whole(app: ModuleType, stack: Stack) -> None:
    payload = [event("alerts-risky-session.json")]

    summary = app.lambda_handler(payload, lambda_context())

    (parked,) = stack.failure_messages()
    assert parked["sessionguard"] == "failed-invocation"
    assert parked["reason"] == "the event is a JSON array, not an object"
    assert parked["invocation"] == payload
    assert summary["malformed"] == 1
