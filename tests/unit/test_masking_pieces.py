"""A line the SSM Agent cut: over 33,000 bytes, it arrives in pieces of 33,000 raw bytes, each a line of its own
(docs/session-format.md), and the masker fails closed at each cut (masking/pieces.py).

The two cases are a red-team review's: a password cut after three of its characters, an AWS secret access key cut
after twenty. Before, the second piece showed `r3tPassw0rd!x` and the key's last 20 characters.
"""

from __future__ import annotations

import json

import pytest
from sessionguard.masking.masker import MARKER_PREFIX, SecretMasker
from sessionguard.masking.pieces import PIECE_MIN
from sessionguard.rules import RulePack
from sessionguard.session.engine import SessionEngine
from sessionguard.session.records import SessionEvent

CUT = f"{MARKER_PREFIX}cut-value]"
PASSWORD = "S3cr3t" + "Passw0rd!x"
AWS_SECRET = "wJalrXUtnFEMI/K7MDEN" + "G/bPxRfiCYzQWERTYKEY"
FILLER = "x" * 32_980  # minified JSON, a base64 dump: any line the agent cuts


def both_ways(lines: list[str]) -> list[str]:
    """mask_lines on the block, checked against mask() line by line."""
    out = SecretMasker().mask_lines(lines)
    one_by_one = SecretMasker()
    assert [one_by_one.mask(line) for line in lines] == out
    return out


@pytest.mark.parametrize(
    ("first", "second", "secret"),
    [
        (f"{FILLER} DB_PASSWORD={PASSWORD[:3]}", f"{PASSWORD[3:]} more text", PASSWORD),
        (f"{FILLER} aws_secret_access_key = {AWS_SECRET[:20]}", AWS_SECRET[20:], AWS_SECRET),
    ],
)
def test_a_secret_cut_between_two_pieces_is_masked_on_both_sides(first: str, second: str, secret: str) -> None:
    out = both_ways(["$ cat big.json", first, second, "$ ls"])
    text = "\n".join(out)
    assert secret[:3] not in text.replace(FILLER, "")
    assert secret[-6:] not in text
    assert out[2].startswith(CUT)
    assert out[3] == "$ ls"


def test_the_cut_is_found_across_events_by_the_engine() -> None:
    engine = SessionEngine(RulePack.load())
    first = SessionEvent(session_id="s", lines=("sh-4.2$ cat big.json", f"{FILLER} DB_PASSWORD={PASSWORD[:3]}"))
    second = SessionEvent(session_id="s", lines=(f"{PASSWORD[3:]} more text", "sh-4.2$ ls"))
    out = [*engine.scan_event(first), *engine.scan_event(second), *engine.finish()]
    rendered = json.dumps([record.to_json() for record in out])
    assert PASSWORD[3:] not in rendered
    assert "more text" in rendered


def test_a_line_shorter_than_a_piece_keeps_its_edges() -> None:
    short = "y" * (PIECE_MIN - 20) + " last-word"
    assert both_ways([short, "first-word next"]) == [short, "first-word next"]


def test_a_long_line_loses_only_its_last_word_and_the_next_line_its_first() -> None:
    long = "z" * PIECE_MIN + " tail"
    assert both_ways([long, "  head rest", "untouched line"]) == [
        "z" * PIECE_MIN + " " + CUT,
        f"  {CUT} rest",
        "untouched line",
    ]
