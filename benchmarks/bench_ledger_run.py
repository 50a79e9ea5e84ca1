"""What one reconciler run of the session ledger function costs in AWS calls, for N open sessions, against moto.

    .venv/bin/python benchmarks/bench_ledger_run.py [N ...]     (default: 1 10 100 250 500)

N shell sessions are started (StartSession through the ledger function) and streamed: each has DELIVERIES
delivery records in its stream of the sanitized group, written with PutLogEvents as the subscription function
writes them (not counted). Then the reconciler runs three times, five minutes apart, and each run's AWS calls are
counted with botocore's `before-call` event (one per operation; moto answers each at once), registered on the
botocore session the ledger function's clients are made from (sessionguard.adapters.aws.sdk_session):

- `first`: the first run after the sessions began streaming (its sweep finds every stream, its reads set every
  session's totals);
- `quiet`: the next run, nothing new delivered (reads, no writes);
- `busy`: a run after one more delivery of every session (reads, and one totals update per session).

DescribeSessions, which moto 5 does not implement, is answered by a fake (200 sessions a page, as the service)
and counted apart. moto pages FilterLogEvents at 10,000 events without the service's 1 MB cap; the reader asks
for pages of RECORDS_PER_PAGE events, about what 1 MB holds (a delivery record's event is ~550 bytes with its
stream name, ids and times). No finding is due in any run (every session streamed and is still active).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Final

REGION: Final = "us-east-1"
SANITIZED_GROUP: Final = "/aws/ssm/sessionguard/sanitized"
STATE_TABLE: Final = "sessionguard-alert-state"
START: Final = 1_795_705_574
DELIVERIES: Final = 20
RECORDS_PER_PAGE: Final = 2000


class PagedLogs:
    """The logs client with FilterLogEvents' `limit` set, so moto pages about as the service does."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def filter_log_events(self, **request: Any) -> Any:
        return self.client.filter_log_events(**request, limit=RECORDS_PER_PAGE)


class FakeSsm:
    """`describe_sessions` as boto3 answers it: 200 sessions a page."""

    def __init__(self, active: list[str]) -> None:
        self.active = [{"SessionId": s, "Status": "Connected"} for s in active]
        self.calls = 0

    def describe_sessions(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        sessions = self.active if request["State"] == "Active" else []
        start = int(request.get("NextToken", "0"))
        answer: dict[str, Any] = {"Sessions": sessions[start : start + 200]}
        if start + 200 < len(sessions):
            answer["NextToken"] = str(start + 200)
        return answer


def start_event(session_id: str) -> dict[str, Any]:
    with open("events/cloudtrail-ssm-start-session-logged-shell.json", encoding="utf-8") as sample:
        event: dict[str, Any] = json.load(sample)
    event["detail"]["responseElements"]["sessionId"] = session_id
    return event


def set_environment() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the runs' summaries aside: the figures are the output
    os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "SessionGuardBench"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")  # moto's stand-ins, never real credentials


def create_stack(boto3: Any) -> tuple[str, str, Any]:
    """The ledger table (as template.yaml's SessionLedgerTable: the ledger's functional tests make it), the alert
    state table, the topic and the sanitized group; the table's name, the topic's ARN and the subscription's own
    logs client (its writes are not counted)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.functional.test_session_ledger import TABLE, create_ledger_table  # noqa: PLC0415

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_ledger_table(dynamodb)
    dynamodb.create_table(
        TableName=STATE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"]
    writer = boto3.session.Session().client("logs", region_name=REGION)
    writer.create_log_group(logGroupName=SANITIZED_GROUP)
    return TABLE, topic, writer


def run(n: int) -> dict[str, Any]:
    set_environment()
    import boto3  # noqa: PLC0415 - after the environment above
    from moto import mock_aws  # noqa: PLC0415

    with mock_aws():
        table, topic, writer = create_stack(boto3)
        from sessionguard.adapters import aws  # noqa: PLC0415 - inside moto
        from sessionguard.adapters.delivery_records import DeliveryRecords  # noqa: PLC0415 - inside moto
        from sessionguard.adapters.session_ledger import SsmSessionDirectory  # noqa: PLC0415 - inside moto
        from sessionguard.alerting import ledger_alerts  # noqa: PLC0415 - inside moto
        from sessionguard.alerting.transcript import log_stream_name  # noqa: PLC0415 - inside moto
        from sessionguard.ledger.model import StreamDelivery, delivery_record  # noqa: PLC0415 - inside moto
        from sessionguard.observability import metrics  # noqa: PLC0415 - inside moto

        calls: Counter[str] = Counter()
        aws.sdk_session.cache_clear()  # a new session, whose clients count their calls
        aws.sdk_session().register(
            "before-call", lambda model, **_: calls.update([f"{model.service_model.service_name}:{model.name}"])
        )
        env = {
            "ALERT_STATE_TABLE": STATE_TABLE,
            "ALERT_TOPIC_ARN": topic,
            "SESSION_LEDGER_TABLE": table,
            "TRANSCRIPT_BUCKET": "transcripts",
            "TRANSCRIPT_KEY_PREFIX": "sessions",
            "SANITIZED_LOG_GROUP": SANITIZED_GROUP,
            "AWS_REGION": REGION,
        }
        os.environ.update(env)
        ledger_alerts.default_outlets.cache_clear()
        settings, outlets = ledger_alerts.default_outlets()
        paged = PagedLogs(aws.aws_client("logs"))
        outlets.records = DeliveryRecords(SANITIZED_GROUP, paged)  # type: ignore[arg-type]
        clock = [START]
        outlets.wall_clock = lambda: float(clock[0])
        ids = [f"jane.roe-{k:017x}" for k in range(n)]
        ssm = FakeSsm(ids)
        outlets.directory = SsmSessionDirectory(ssm)  # type: ignore[arg-type]

        def invoke(event: dict[str, Any]) -> None:
            ledger_alerts.handle_ledger_event(event, settings=settings, outlets=outlets)
            metrics.clear_metrics()  # the handler's decorator would flush them; the figures are the output

        def deliver(batch: str, at: int) -> None:
            for session_id in ids:
                delivery = StreamDelivery(session_id, batch, at - 1, at, events=2, lines=4)
                name = log_stream_name(session_id)
                message = json.dumps(delivery_record(delivery))
                writer.put_log_events(
                    logGroupName=SANITIZED_GROUP,
                    logStreamName=name,
                    logEvents=[{"timestamp": at * 1000, "message": message}],
                )

        for session_id in ids:
            invoke(start_event(session_id))
            writer.create_log_stream(logGroupName=SANITIZED_GROUP, logStreamName=log_stream_name(session_id))
        for k in range(DELIVERIES):
            deliver(f"b-{k}", START + 10 + k)
        figures: dict[str, Any] = {"open_sessions": n, "records_per_session": DELIVERIES}
        schedule = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
        for name, minute in (("first", 5), ("quiet", 10), ("busy", 15)):
            if name == "busy":
                deliver("b-busy", START + minute * 60 - 30)
            calls.clear()
            ssm.calls = 0
            clock[0] = START + minute * 60
            invoke(schedule)
            figures[name] = {**dict(sorted(calls.items())), "ssm:DescribeSessions": ssm.calls}
            figures[f"{name}_total"] = sum(calls.values()) + ssm.calls
        return figures


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1, 10, 100, 250, 500]
    for n in sizes:
        print(json.dumps(run(n)))


if __name__ == "__main__":
    main()
