"""What one subscription delivery costs in AWS calls, counted against moto.

    .venv/bin/python benchmarks/bench_delivery.py     (bench_engine.py puts these fields in its JSON last line)

The session alert function's handler runs in-process, as Lambda runs it, with every AWS service it talks to
emulated by moto and configured as template.yaml's defaults configure the stack: the stack's own alert topic only
(no ExtraAlertTopicArn), Slack off (no webhook secret), alert events on the account's default EventBridge bus,
alert lines in the sanitized transcript group, Security Hub off, no session termination, the session ledger on.
Every AWS API call the function makes is counted with botocore's `before-call` event (one per operation, whatever
the SDK's retries: moto answers each at once), registered on the boto3 session its clients are made from.

Each figure is a 4-event delivery in steady state: the second of two deliveries of one session (the first pays for
what a session pays once, such as creating its transcript stream), each opening at a prompt as the agent's uploads
do. `quiet_delivery_aws_calls` counts one whose commands raise no alert (its transcript write, which carries the
session ledger's record of the delivery); `alert_delivery_aws_calls` one whose commands raise exactly one alert
that reaches people (the claim on the session's ledger item, the publish, the event, the transcript write). The
alert delivery's events are 47-50 seconds old: fresh enough not to be taken for a retry of the previous version,
which reads that version's records (docs/alerts.md, "Retries").
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from typing import Any, Final

REGION: Final = "us-east-1"
ACCOUNT: Final = "123456789012"
SESSION_GROUP: Final = "/aws/ssm/sessionguard/sessions"
SANITIZED_GROUP: Final = "/aws/ssm/sessionguard/sanitized"
STATE_TABLE: Final = "sessionguard-alert-state"
LEDGER_TABLE: Final = "sessionguard-session-ledger"
PROMPT: Final = "sh-5.2$ "
QUIET_COMMANDS: Final = [
    ("ls -la", ["total 12", "-rw-r--r-- 1 ssm-user ssm-user 18 .bashrc"]),
    ("df -h", ["Filesystem      Size  Used Avail Use% Mounted on", "/dev/nvme0n1p1  8.0G  2.1G  6.0G  26% /"]),
    ("systemctl status amazon-ssm-agent", ["   Active: active (running)"]),
    ("uptime", [" 12:00:03 up 3 days,  2:01,  1 user,  load average: 0.00, 0.01, 0.05"]),
]
TIMED_DELIVERIES: Final = 30
ALERTING_COMMAND: Final = ("cat /etc/shadow", ["root:*:19000:0:99999:7:::"])  # one HIGH rule (credential access)


def session_payload(session_id: str, start: int, commands: list[tuple[str, list[str]]]) -> dict[str, Any]:
    """One subscription delivery as Lambda receives it: one log event per command, a second apart from `start`
    (seconds since the epoch), each opening at a prompt."""
    log_events = []
    for offset, (command, output) in enumerate(commands):
        second = start + offset
        event = {
            "eventVersion": "1.0",
            "eventTime": datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "awsRegion": REGION,
            "target": {"id": "i-0a1b2c3d4e5f60718"},
            "userIdentity": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/jane.roe"},
            "runAsUser": "ssm-user",
            "sessionId": session_id,
            "sessionData": [PROMPT + command, *output],
        }
        timestamp = second * 1000
        event_id = f"{timestamp:013d}{offset:043d}"
        log_events.append({"id": event_id, "timestamp": timestamp, "message": json.dumps(event)})
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": SESSION_GROUP,
        "logStream": session_id,
        "subscriptionFilters": ["sessionguard"],
        "logEvents": log_events,
    }
    data = gzip.compress(json.dumps(payload).encode(), mtime=0)
    return {"awslogs": {"data": base64.b64encode(data).decode("ascii")}}


class _Context:
    function_name = "sessionguard-SessionAlertsFunction-Bench"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sessionguard-SessionAlertsFunction-Bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    memory_limit_in_mb = 512
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@contextmanager
def _stack() -> Iterator[tuple[CallMeter, Any]]:
    """moto with the stack's resources and the function's environment; the call meter and the function's module.
    The environment, boto3's default session and the function's SDK session are put back afterwards (tests call
    this too)."""
    saved = dict(os.environ)
    try:
        yield from _stack_in()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        import boto3  # noqa: PLC0415
        from sessionguard.adapters import aws  # noqa: PLC0415

        boto3.DEFAULT_SESSION = None
        aws.sdk_session.cache_clear()


def _stack_in() -> Iterator[tuple[CallMeter, Any]]:
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "sessionguard",
            "POWERTOOLS_METRICS_NAMESPACE": "SessionGuard",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here; tracing makes no AWS API calls either way
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )
    import boto3  # noqa: PLC0415 - after the environment above
    from moto import mock_aws  # noqa: PLC0415

    with mock_aws():
        boto3.setup_default_session(region_name=REGION)
        sns = boto3.client("sns")
        sqs = boto3.client("sqs")
        logs = boto3.client("logs")
        dynamodb = boto3.client("dynamodb")
        topic_arn = sns.create_topic(Name="sessionguard-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="sessionguard-alert-failures")["QueueUrl"]
        logs.create_log_group(logGroupName=SANITIZED_GROUP)
        logs.create_log_group(logGroupName=SESSION_GROUP)
        dynamodb.create_table(
            TableName=STATE_TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName=LEDGER_TABLE,
            AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        os.environ.update(
            {
                "ALERT_TOPIC_ARN": topic_arn,
                "EXTRA_ALERT_TOPIC_ARN": "",
                "SLACK_WEBHOOK_SECRET_ARN": "",
                "ALERT_STATE_TABLE": STATE_TABLE,
                "ALERT_MIN_SEVERITY": "medium",
                "ALERT_WINDOW_MINUTES": "15",
                "ALERT_CAP_PER_SESSION": "20",
                "SANITIZED_LOG_GROUP": SANITIZED_GROUP,
                "SANITIZED_LOG_RETENTION_DAYS": "90",
                "FAILURE_QUEUE_URL": queue_url,
                "SESSION_LEDGER_TABLE": LEDGER_TABLE,
                "ALERT_EVENT_BUS": "default",
                "SECURITY_HUB_PRODUCT_ARN": "",
                "ALERT_LOG_GROUP": SANITIZED_GROUP,
                "TERMINATE_SESSIONS_AT_SEVERITY": "none",
                "NEVER_TERMINATE": "",
            }
        )
        meter = CallMeter()
        # Clients copy their session's event hooks when they are made: register on the session the function makes
        # its clients from (a new one, inside moto) before it makes any.
        from sessionguard.adapters import aws  # noqa: PLC0415

        aws.sdk_session.cache_clear()
        aws.sdk_session().register("before-call", meter.before)
        aws.sdk_session().register("after-call", meter.after)
        from sessionguard.alerting import session_alerts  # noqa: PLC0415

        session_alerts.default_outlets.cache_clear()
        try:
            yield meter, session_alerts
        finally:
            session_alerts.default_outlets.cache_clear()  # its clients are moto's


def delivery_calls() -> dict[str, Any]:
    """AWS calls of a quiet and of an alerting 4-event delivery in steady state (see the module docstring), and the
    median time of a quiet one in-process: in all, and outside the SDK's calls (which moto answers in-process, so
    that time is moto's emulation, not a network round trip)."""
    results: dict[str, Any] = {}
    with _stack() as (meter, session_alerts):

        def deliver(payload: dict[str, Any]) -> tuple[Counter[str], float, float]:
            meter.reset()
            began = time.perf_counter()
            with redirect_stdout(io.StringIO()):  # the function's EMF metrics
                summary = session_alerts.handle_subscription_event(payload, _Context())
            took = time.perf_counter() - began
            assert not summary["failures"], summary  # noqa: S101 - a figure of a failed delivery means nothing
            return Counter(meter.calls), took, took - meter.seconds_in_calls

        quiet_session = "jane.roe-0a1b2c3d4e5f60718"
        start = int(time.time()) - 60  # the agent uploads as the session goes: its events are seconds old
        deliver(session_payload(quiet_session, start, QUIET_COMMANDS))
        quiet, _, _ = deliver(session_payload(quiet_session, start + 10, QUIET_COMMANDS))
        alert_session = "jane.roe-0f1e2d3c4b5a69788"
        deliver(session_payload(alert_session, start, QUIET_COMMANDS))
        alerting, _, _ = deliver(session_payload(alert_session, start + 10, [*QUIET_COMMANDS[:3], ALERTING_COMMAND]))
        timed = [
            deliver(session_payload(quiet_session, start + 20 + 4 * number, QUIET_COMMANDS))
            for number in range(TIMED_DELIVERIES)
        ]
    results["quiet_delivery_ms_against_moto"] = round(statistics.median(t for _, t, _ in timed) * 1000, 2)
    results["quiet_delivery_own_ms"] = round(statistics.median(own for _, _, own in timed) * 1000, 2)
    results["quiet_delivery_aws_calls"] = sum(quiet.values())
    results["alert_delivery_aws_calls"] = sum(alerting.values())
    results["quiet_delivery_calls_by_api"] = dict(sorted(quiet.items()))
    results["alert_delivery_calls_by_api"] = dict(sorted(alerting.items()))
    return results


class CallMeter:
    """botocore `before-call` / `after-call` hooks: the API calls made (service.Operation -> count) and the time
    spent inside them."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds_in_calls = 0.0
        self._started: list[float] = []

    def reset(self) -> None:
        self.calls.clear()
        self.seconds_in_calls = 0.0

    def before(self, **kwargs: Any) -> None:
        self.calls[str(kwargs["event_name"]).removeprefix("before-call.")] += 1
        self._started.append(time.perf_counter())

    def after(self, **_: Any) -> None:
        if self._started:
            self.seconds_in_calls += time.perf_counter() - self._started.pop()


def main() -> int:
    print(json.dumps(delivery_calls()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
