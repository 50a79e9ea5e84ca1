"""`make demo SESSION=events/windows-session-suspicious.jsonl`: a Windows session replayed through the deployed
pipeline on the embedded emulator reaches SNS and Slack with the Windows rules' alerts, and its transcript is
written sanitized."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from demo.pipeline import DemoOptions, run_demo

pytestmark = pytest.mark.e2e

WINDOWS_SESSION = Path(__file__).resolve().parents[2] / "events" / "windows-session-suspicious.jsonl"


def test_a_windows_session_replayed_by_the_demo_raises_the_windows_alerts(tmp_path: Path) -> None:
    console = io.StringIO()
    result = run_demo(DemoOptions(session=WINDOWS_SESSION, output=tmp_path, stream=console, color=False))

    alerts = [json.loads(m["Message"].partition("Alert JSON:\n")[2]) for m in result.sns_messages]
    rules = {alert["rule_id"] for alert in alerts}
    assert {"SG-WIN-CRED-002", "SG-WIN-CRED-003", "SG-WIN-EVADE-001", "SG-WIN-EVADE-003"} <= rules
    commands = [line["text"] for line in result.sanitized if line.get("kind") == "command"]
    assert "reg save HKLM\\SAM C:\\Windows\\Temp\\s.hiv" in commands
    assert result.slack_posts
    assert "PS> reg save HKLM\\SAM" in console.getvalue()  # the console shows a PowerShell prompt
