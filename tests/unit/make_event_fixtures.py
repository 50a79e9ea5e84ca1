"""Build the session-log fixtures in events/ from events/session-stream.jsonl.

Run from the repository root after changing the stream or the rough-edge cases below:
    .venv/bin/python tests/unit/make_event_fixtures.py
The JSON it writes is committed; tests read the files, and test_events.py checks they still agree with this.
tests/functional/make_alert_fixtures.py builds its subscription payloads with the helpers here.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"
LOG_GROUP = "/aws/ssm/sessionguard/sessions"
ACCOUNT_ID = "123456789012"
FILTER_NAME = "sessionguard-session-alerts"


def stream_events() -> list[dict[str, Any]]:
    lines = (EVENTS / "session-stream.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def timestamp_ms(time: str) -> int:
    """An event time (ISO 8601) as a log event timestamp: milliseconds since the epoch."""
    return int(datetime.fromisoformat(time).timestamp() * 1000)


def event_id(timestamp: int, index: int) -> str:
    """56 decimal digits like CloudWatch Logs ids (which start from the event's timestamp)."""
    return f"{timestamp:013d}{index:043d}"


def log_records() -> list[tuple[dict[str, Any], str, int, str]]:
    """(event, message as the agent uploaded it, timestamp, id) per streamed event."""
    messages = (EVENTS / "session-stream.jsonl").read_text(encoding="utf-8").splitlines()
    records = []
    for index, (event, message) in enumerate(zip(stream_events(), messages, strict=True)):
        stamp = timestamp_ms(event["eventTime"])
        records.append((event, message, stamp, event_id(stamp, index)))
    return records


def awslogs(payload: dict[str, Any]) -> dict[str, Any]:
    """A subscription delivery as Lambda receives it: the payload, gzipped (no timestamp: stable files), base64."""
    data = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), mtime=0)
    return {"awslogs": {"data": base64.b64encode(data).decode("ascii")}}


def data_message() -> dict[str, Any]:
    records = log_records()
    return awslogs(
        {
            "messageType": "DATA_MESSAGE",
            "owner": ACCOUNT_ID,
            "logGroup": LOG_GROUP,
            "logStream": records[0][0]["sessionId"],
            "subscriptionFilters": [FILTER_NAME],
            "logEvents": [{"id": ident, "timestamp": stamp, "message": msg} for _, msg, stamp, ident in records],
        }
    )


def control_message() -> dict[str, Any]:
    """The reachability check CloudWatch Logs sends to a new subscription destination."""
    return awslogs(
        {
            "messageType": "CONTROL_MESSAGE",
            "owner": "CloudwatchLogs",
            "logGroup": "",
            "logStream": "",
            "subscriptionFilters": [],
            "logEvents": [
                {
                    "id": "",
                    "timestamp": 1795608000000,
                    "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda function.",
                }
            ],
        }
    )


def get_log_events() -> dict[str, Any]:
    records = log_records()
    return {
        "events": [{"timestamp": s, "message": m, "ingestionTime": s + 212} for _, m, s, _ in records],
        "nextForwardToken": f"f/{records[-1][3]}/s",
        "nextBackwardToken": f"b/{records[0][3]}/s",
    }


def filter_log_events() -> dict[str, Any]:
    records = log_records()
    return {
        "events": [
            {
                "logStreamName": event["sessionId"],
                "timestamp": stamp,
                "message": message,
                "ingestionTime": stamp + 212,
                "eventId": ident,
            }
            for event, message, stamp, ident in records
        ],
        "searchedLogStreams": [],
    }


def session_event(
    session_id: str, time: str, lines: list[Any], *, instance: str, user: str, role: str = "PlatformAdmin"
) -> dict[str, Any]:
    """One session event as the SSM agent streams it, for `user` in the assumed role `role`."""
    return {
        "eventVersion": "1.0",
        "eventTime": time,
        "awsRegion": "eu-west-1",
        "target": {"id": instance},
        "userIdentity": {"arn": f"arn:aws:sts::111122223333:assumed-role/{role}/{user}"},
        "runAsUser": "ssm-user",
        "sessionId": session_id,
        "sessionData": lines,
    }


def rough_edges() -> list[dict[str, Any]]:
    """Two interleaved sessions (Ubuntu dash/bash, zsh) with the rough edges the agent leaves."""
    ubuntu = "john.doe-0c1d2e3f4a5b6c7d8"
    zsh = "ops.bot-0f1e2d3c4b5a69788"

    def u(time: str, lines: list[str]) -> dict[str, Any]:
        return session_event(ubuntu, time, lines, instance="i-0123456789abcdef0", user="john.doe")

    def z(time: str, lines: list[str]) -> dict[str, Any]:
        return session_event(zsh, time, lines, instance="i-0fedcba9876543210", user="ops.bot")

    p = "ubuntu@ip-10-0-2-15:~$ "
    return [
        u("2026-11-26T13:00:01Z", ["$ bash"]),  # dash's bare prompt: SSM's default shell on Ubuntu is sh
        z("2026-11-26T13:00:01Z", ["ip-10-0-3-7% uptime", " 13:00:01 up 3 days,  2:11,  1 user"]),
        u("2026-11-26T13:00:03Z", [p + "tar czf /tmp/backup.tgz \\", "> /etc/app \\"]),  # `\` continuation...
        z("2026-11-26T13:00:04Z", ["ip-10-0-3-7% zsh", "ec2-user@ip-10-0-3-7 ~ % df -h /", "Use% Mounted on"]),
        u("2026-11-26T13:00:05Z", ["> /var/lib/app", "tar: Removing leading `/' from member names"]),  # ...ends
        u("2026-11-26T13:00:07Z", [p + 'echo "first', '> second"', "first", "second"]),  # PS2 for a quote
        u("2026-11-26T13:00:09Z", [p + "cat <<-END > /tmp/motd", "> hello", "> \tworld"]),  # heredoc split...
        u("2026-11-26T13:00:10Z", ["> " + "  END", p + "sudo systemctl restart ngin\u0007x"]),  # BEL: completion
        u("2026-11-26T13:00:12Z", [p + "curl -s http://169.254.169.254/latest/api/token", '{"Code":"Success"}']),
        u("2026-11-26T13:00:12Z", ['{"Expiration":"2026-11-26T19:00:12Z"}' + p + "history -c"]),  # no newline
        u("2026-11-26T13:00:14Z", [p + "lss\b\u001b[K -la /srv", "total 12", "50% done", "caf\ufffd cr\ufffdme"]),
        u("2026-11-26T13:00:16Z", [p + "sudo su -", "root@ip-10-0-2-15:~# id", "uid=0(root) gid=0(root)"]),
        z("2026-11-26T13:00:17Z", ['ec2-user@ip-10-0-3-7 ~ % psql <<"SQL"', "> select 1;", "> SQL"]),
        u("2026-11-26T13:00:18Z", ["root@ip-10-0-2-15:~# exit", "logout", p + "exit", "exit", "$ exit"]),
        z("2026-11-26T13:00:19Z", ["ec2-user@ip-10-0-3-7 ~ % exit", "ip-10-0-3-7% exit"]),
    ]


def malformed_lines() -> list[str]:
    """JSON Lines where most lines are broken; the secret-like value must never reach a problem reason."""
    good = json.dumps(
        session_event("alice-0aaa", "2026-11-26T14:00:00Z", ["sh-4.2$ id"], instance="i-0aaa", user="alice")
    )
    secret = "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    bad_type = session_event("alice-0aaa", "2026-11-26T14:00:01Z", [secret, 5], instance="i-0aaa", user="alice")
    not_gzip = base64.b64encode(secret.encode()).decode()
    truncated = base64.b64encode(gzip.compress(secret.encode(), mtime=0)[:20]).decode()
    gzip_not_json = base64.b64encode(gzip.compress(secret.encode(), mtime=0)).decode()
    return [
        good,
        secret,  # not JSON at all
        json.dumps(bad_type),
        json.dumps({"sessionId": 7, "sessionData": [secret]}),
        json.dumps({"sessionId": "alice-0aaa", "sessionData": secret}),
        json.dumps({"sessionData": [secret]}),
        json.dumps({"sessionId": "alice-0aaa", "sessionData": [secret], "target": secret}),
        json.dumps([secret]),
        json.dumps({"awslogs": {"data": "%%%" + secret}}),
        json.dumps({"awslogs": {"data": not_gzip}}),
        json.dumps({"awslogs": {"data": truncated}}),
        json.dumps({"awslogs": {"data": gzip_not_json}}),
        '{"sessionId": "alice-0aaa", "sessionData": ["' + secret,  # cut off mid-line
        good.replace("14:00:00", "14:00:09"),
    ]


def write_json(name: str, document: Any) -> None:
    (EVENTS / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    write_json("subscription-data-message.json", data_message())
    write_json("subscription-control-message.json", control_message())
    write_json("get-log-events.json", get_log_events())
    write_json("filter-log-events.json", filter_log_events())
    rough = "".join(json.dumps(event) + "\n" for event in rough_edges())
    (EVENTS / "session-stream-rough-edges.jsonl").write_text(rough, encoding="utf-8")
    malformed = "".join(line + "\n" for line in malformed_lines())
    (EVENTS / "session-stream-malformed.jsonl").write_text(malformed, encoding="utf-8")


if __name__ == "__main__":
    main()
