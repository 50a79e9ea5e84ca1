"""The two sample Windows sessions and the S3 transcript through `sessionguard scan`, as an operator runs it: the
commands they show and the alerts they raise, and no secret in the output."""

from __future__ import annotations

import io
import json
from pathlib import Path

from sessionguard import cli

EVENTS = Path(__file__).resolve().parents[2] / "events"


def scan(name: str, *options: str) -> list[dict[str, object]]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli.main(["scan", *options, str(EVENTS / name)], stdout=stdout, stderr=stderr)
    assert status == 0, stderr.getvalue()
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def alerts(records: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(record["rule_id"], record["command"]) for record in records if record["type"] == "alert"]


def test_the_admin_session_raises_nothing() -> None:
    assert alerts(scan("windows-session-admin.jsonl", "--min-severity", "info")) == []


def test_the_suspicious_session_raises_an_alert_for_each_risky_command() -> None:
    raised = alerts(scan("windows-session-suspicious.jsonl", "--min-severity", "medium"))
    assert raised == [
        ("SG-WIN-EVADE-001", "Set-MpPreference -DisableRealtimeMonitoring $true"),
        ("SG-WIN-EVADE-001", "Add-MpPreference -ExclusionPath C:\\Windows\\Temp"),
        ("SG-WIN-CRED-002", "reg save HKLM\\SAM C:\\Windows\\Temp\\s.hiv"),
        ("SG-WIN-CRED-003", "Invoke-Mimikatz"),
        ("SG-WIN-TOOL-001", "Invoke-Mimikatz"),
        ("SG-WIN-EVADE-003", "wevtutil cl Security"),
    ]


def test_the_suspicious_session_alerts_carry_the_session_and_the_user() -> None:
    first = next(record for record in scan("windows-session-suspicious.jsonl") if record["type"] == "alert")
    assert first["session_id"] == "bob-05e9a1c3d7b2f8a40"
    assert first["instance_id"] == "i-07d1e5b3a9c2f4e18"
    assert first["techniques"] == ["T1562.001"]


def test_the_s3_transcript_raises_the_scheduled_download_cradle() -> None:
    raised = {rule for rule, _ in alerts(scan("windows-transcript-s3.log", "--min-severity", "high"))}
    assert {"SG-WIN-EXEC-001", "SG-WIN-PERSIST-002"} <= raised


def test_the_s3_transcripts_connection_string_password_is_masked() -> None:
    output = json.dumps(scan("windows-transcript-s3.log", "--transcript"))
    assert "Winter2026!Db" not in output
    assert "Password=[MASKED:" in output
