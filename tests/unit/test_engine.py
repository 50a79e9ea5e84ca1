"""The engine end to end on real-format session events: commands rebuilt, secrets masked, rules matched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sessionguard.rules import RulePack
from sessionguard.session.engine import CommandAlert, SanitizedLine, SessionEngine
from sessionguard.session.records import SessionEvent, parse_session_event
from sessionguard.severity import Severity

EVENTS = Path(__file__).resolve().parents[2] / "events"
SECRETS_IN_RISKY_SESSION = ["Hunter2-Prod!", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"]


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return RulePack.load()


def scan_file(name: str, pack: RulePack, **engine_args: Severity) -> list[CommandAlert | SanitizedLine]:
    engine = SessionEngine(pack, **engine_args)
    out: list[CommandAlert | SanitizedLine] = []
    for line in (EVENTS / name).read_text().splitlines():
        out.extend(engine.scan_event(parse_session_event(line)))
    out.extend(engine.finish())
    return out


def test_risky_session_raises_alerts_for_each_risky_command(pack: RulePack) -> None:
    results = scan_file("session-risky.jsonl", pack, min_severity=Severity.MEDIUM)

    alerts = [r for r in results if isinstance(r, CommandAlert)]
    commands = {a.command for a in alerts}
    assert any("| sudo bash" in c for c in commands)  # download and execute
    assert any("/etc/shadow" in c for c in commands)  # credential access
    assert any("istory -c" in c for c in commands)  # history tampering, despite the quotes
    assert all(a.severity >= Severity.MEDIUM for a in alerts)
    first = alerts[0]
    assert first.session_id == "john.doe-0c9d8e7f6a5b4c3d2"
    assert first.instance_id == "i-0f1e2d3c4b5a69788"
    assert first.user == "arn:aws:sts::111122223333:assumed-role/Contractor/john.doe"
    assert first.event_time.startswith("2026-11-26T12:10:")


def test_no_secret_leaves_the_engine(pack: RulePack) -> None:
    results = scan_file("session-risky.jsonl", pack)

    rendered = json.dumps([r.to_json() for r in results])
    for secret in SECRETS_IN_RISKY_SESSION:
        assert secret not in rendered
    assert "[MASKED:" in rendered


def test_ordinary_session_raises_nothing_at_medium(pack: RulePack) -> None:
    results = scan_file("session-stream.jsonl", pack, min_severity=Severity.MEDIUM)

    assert [r for r in results if isinstance(r, CommandAlert)] == []


def test_transcript_keeps_commands_and_output_in_order(pack: RulePack) -> None:
    lines = [r for r in scan_file("session-stream.jsonl", pack) if isinstance(r, SanitizedLine)]

    commands = [line.text for line in lines if line.kind == "command"]
    assert "ls -la" in commands
    assert "whoami" in commands  # "whoamo\b \bi": the typo erased as the terminal showed it
    assert commands.index("ls -la") < commands.index("whoami")
    assert "total 12" in [line.text for line in lines if line.kind == "output"]
    assert "example-only-Xq3" not in json.dumps([line.to_json() for line in lines])


def test_heredoc_body_stays_with_its_command(pack: RulePack) -> None:
    lines = [r for r in scan_file("session-stream.jsonl", pack) if isinstance(r, SanitizedLine)]

    texts = [(line.kind, line.text) for line in lines]
    start = texts.index(("command", "cat > /etc/app/app.conf <<'EOF'"))
    assert [t for _, t in texts[start : start + 4]][1:] == ["log_level=info", "workers=4", "EOF"]
    assert {k for k, _ in texts[start : start + 4]} == {"command"}


def test_sessions_interleaved_keep_their_own_state(pack: RulePack) -> None:
    engine = SessionEngine(pack, min_severity=Severity.MEDIUM)
    a = SessionEvent(session_id="a-1", lines=("sh-4.2$ mysql -u root -pW1ldcard-Secret \\",))
    b = SessionEvent(session_id="b-1", lines=("sh-4.2$ history -c",))
    a_end = SessionEvent(session_id="a-1", lines=("> -e 'select 1' && cat /etc/shadow",))

    first = [*engine.scan_event(a), *engine.scan_event(b)]
    rest = [*engine.scan_event(a_end), *engine.finish()]

    # a-1's command is complete only with its continuation line, which arrives after b-1's event
    assert [r.session_id for r in first if isinstance(r, CommandAlert)] == ["b-1"]
    (alert,) = [r for r in rest if isinstance(r, CommandAlert)]
    assert alert.session_id == "a-1"
    assert "cat /etc/shadow" in alert.command
    assert "W1ldcard-Secret" not in alert.command


def test_a_pem_key_printed_across_events_is_masked_line_by_line(pack: RulePack) -> None:
    engine = SessionEngine(pack)
    body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
    first = SessionEvent(session_id="s", lines=("sh-4.2$ cat id_rsa", "-----BEGIN RSA PRIVATE KEY-----", body))
    second = SessionEvent(session_id="s", lines=(body[::-1], "-----END RSA PRIVATE KEY-----", "sh-4.2$ ls"))

    out = [*engine.scan_event(first), *engine.scan_event(second), *engine.finish()]

    rendered = json.dumps([r.to_json() for r in out])
    assert body not in rendered
    assert body[::-1] not in rendered
    assert engine.stats.secrets_masked


def test_stats_count_events_commands_and_alerts(pack: RulePack) -> None:
    engine = SessionEngine(pack, min_severity=Severity.MEDIUM)
    for line in (EVENTS / "session-risky.jsonl").read_text().splitlines():
        engine.scan_event(parse_session_event(line))
    engine.finish()

    assert engine.stats.events == 10
    assert engine.stats.commands >= 10
    assert sum(engine.stats.alerts.values()) >= 3
    assert sum(engine.stats.secrets_masked.values()) >= 2
