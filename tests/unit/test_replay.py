"""`sessionguard replay`: the recording is the engine's masked output at the session's pace, and the page is one
self-contained file that no session text can break out of."""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import pytest
from sessionguard.cli import main
from sessionguard.playback.page import render_page
from sessionguard.playback.recording import (
    IDLE_GAP_LIMIT,
    STEADY_COMMAND_GAP,
    SessionChoiceError,
    choose_session,
    record_session,
)
from sessionguard.rules import RulePack
from sessionguard.session.records import SessionEvent

EVENTS = Path(__file__).resolve().parents[2] / "events"
RISKY_SECRETS = ("Hunter2-Prod!", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
PACK = RulePack.load([])


def replay(*argv: str, stdin: str = "") -> tuple[int, str]:
    err = io.StringIO()
    status = main(["replay", *argv], stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=err)
    return status, err.getvalue()


def event(text: str, when: str, session: str = "jane.roe-0a1b2c3d4e5f67890") -> SessionEvent:
    return SessionEvent(session_id=session, lines=(text,), instance_id="i-0123456789abcdef0", event_time=when)


def cast_records(cast: str) -> tuple[dict[str, object], list[list[object]]]:
    header, *rest = cast.splitlines()
    return json.loads(header), [json.loads(line) for line in rest]


def test_the_risky_session_plays_masked_with_its_alerts_as_markers(tmp_path: Path) -> None:
    out = tmp_path / "risky.cast"
    status, stderr = replay(str(EVENTS / "session-risky.jsonl"), "-o", str(out), "--format", "cast")

    assert status == 0, stderr
    cast = out.read_text()
    assert not any(secret in cast for secret in RISKY_SECRETS)
    header, records = cast_records(cast)
    assert header["version"] == 2
    assert header["width"] == 120
    times = [float(str(record[0])) for record in records]
    assert times == sorted(times)
    output = "".join(str(record[2]) for record in records if record[1] == "o")
    assert "[MASKED:mysql-password]" in output
    markers = [record for record in records if record[1] == "m"]
    assert [str(marker[2]).split()[0] for marker in markers] == [
        "SG-DLEX-001",
        "SG-CRED-001",
        "SG-HIST-001",
        "SG-HIST-002",
    ]
    # Each marker sits at the time its alert line is written, right after the command that raised it.
    for marker in markers:
        same_time = [str(r[2]) for r in records if r[0] == marker[0] and r[1] == "o"]
        assert any("ALERT" in text and str(marker[2]).split()[0] in text for text in same_time)


def test_event_times_set_the_pace_and_idle_gaps_are_shortened() -> None:
    events = [
        event("$ whoami", "2026-11-26T12:00:00Z"),
        event("ssm-user", "2026-11-26T12:00:01.5Z"),
        event("$ id", "2026-11-26T13:30:00Z"),  # an hour and a half later
    ]

    recording = record_session(events, PACK)

    assert recording.paced_by == "event times"
    times = [time for time, _ in recording.frames]
    assert times[0] == 0.0
    assert times[-1] - times[-2] == pytest.approx(IDLE_GAP_LIMIT)
    assert recording.duration < 2 * IDLE_GAP_LIMIT + 1


def test_a_typescript_plays_at_a_steady_pace(tmp_path: Path) -> None:
    out = tmp_path / "t.cast"
    status, _ = replay(str(EVENTS / "transcript-jane.roe-0b7e9d1c4a2f8e6d5.log"), "-o", str(out), "--format", "cast")

    assert status == 0
    _, records = cast_records(out.read_text())
    command_times = [float(str(r[0])) for r in records if "$" in str(r[2])]
    gaps = {round(b - a, 2) for a, b in itertools.pairwise(command_times)}
    assert len(command_times) == 5
    assert min(gaps) >= STEADY_COMMAND_GAP


def test_session_text_cannot_escape_the_terminal_or_the_page() -> None:
    hostile = "echo '</script><script>alert(1)</script>' \x1b]0;pwned\x07 \x1b[2J \u202e"
    events = [event(f"$ {hostile}", "2026-11-26T12:00:00Z"), event("done & <b>", "2026-11-26T12:00:01Z")]

    recording = record_session(events, PACK)
    page = render_page(recording)

    terminal = "".join(text for _, text in recording.frames)
    # Only the recording's own colour sequences reach the player's terminal: the session's escape sequences were
    # consumed by the engine's terminal, and what is left of them (a bidi override here) is shown, not obeyed.
    assert not re.search(r"\x1b(?!\[[0-9;]*m)", terminal)
    assert "\x07" not in terminal
    assert "\u202e" not in terminal
    assert "\\u202e" in terminal
    # One script element per inline script: no session text closes one, and the JSON island decodes back.
    assert page.lower().count("<script") == 3
    assert "</script><script>alert(1)" not in page
    island = re.search(r'<script type="application/json" id="sg-recording">(.*?)</script>', page, re.S)
    assert island is not None
    assert json.loads(island.group(1))["cast"] == recording.to_cast()


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "risky.html"
    status, stderr = replay(str(EVENTS / "session-risky.jsonl"), "-o", str(out))

    assert status == 0, stderr
    page = out.read_text()
    assert not any(secret in page for secret in RISKY_SECRETS)
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=", page, re.I)
    assert "default-src 'none'" in page  # and the browser enforces it: nothing can be fetched
    assert "AsciinemaPlayer" in page
    assert page.count('class="sg-alert ') == 4


def test_several_sessions_need_a_choice(tmp_path: Path) -> None:
    events = [event("$ id", "2026-11-26T12:00:00Z", "a-0123"), event("$ id", "2026-11-26T12:00:00Z", "b-0123")]
    with pytest.raises(SessionChoiceError, match="2 sessions"):
        choose_session(events, None)
    assert [e.session_id for e in choose_session(events, "b-0123")] == ["b-0123"]

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text((EVENTS / "session-risky.jsonl").read_text() + (EVENTS / "session-stream.jsonl").read_text())
    status, stderr = replay(str(mixed), "-o", str(tmp_path / "x.html"))
    assert status == 2
    assert "--session" in stderr
    status, stderr = replay(str(mixed), "-o", str(tmp_path / "x.html"), "--session", "john.doe-0c9d8e7f6a5b4c3d2")
    assert status == 0, stderr
