"""A value masked once is masked wherever it comes back in the session (masking/repeats.py).

The shapes come from trufflehog's detector tests, measured with evaluation.masking (docs/masking.md, "Repeats"):
the token a second time on its line, and a token masked by its name and printed alone later, which no rule of its
own would take. Fake credentials are assembled from pieces, as in test_masking.py.
"""

from __future__ import annotations

from sessionguard.masking import repeats
from sessionguard.masking.masker import MARKER_PREFIX, SecretMasker, mask_secrets

# Taken by its name (`token`), and too plain to be taken alone by its shape: only the repeat rule masks it there.
TOKEN = "correct" + "horse42"
PASSWORD = "S3cret" + "Passw0rd"


def test_the_second_copy_on_a_line_is_masked() -> None:
    line = f"iconfinder token = '{TOKEN}' | '{TOKEN}'"
    assert mask_secrets(line) == f"iconfinder token = '{MARKER_PREFIX}token]' | '{MARKER_PREFIX}token]'"


def test_a_value_masked_by_its_name_is_masked_when_printed_alone_later() -> None:
    assert mask_secrets(TOKEN) == TOKEN  # alone, nothing says it is a secret
    session = SecretMasker()
    assert TOKEN not in session.mask_lines([f"$ export API_TOKEN={TOKEN}", "$ echo $API_TOKEN"])[0]
    assert session.mask_lines([TOKEN, "$ "]) == [f"{MARKER_PREFIX}token]", "$ "]
    assert session.mask(f"curl https://api.example.com/?t={TOKEN}&x=1") == (
        f"curl https://api.example.com/?t={MARKER_PREFIX}token]&x=1"
    )


def test_a_value_learned_in_a_block_is_masked_in_the_lines_after_it() -> None:
    """mask_lines skips lines without triggers; a line that teaches a value makes it look at the rest."""
    lines = [
        f"$ mysql -u app -p{PASSWORD} orders",
        "ERROR 1045 (28000): Access denied",
        f"{PASSWORD}",
        "$ ls",
    ]
    out = SecretMasker().mask_lines(lines)
    assert out == [
        f"$ mysql -u app -p{MARKER_PREFIX}mysql-password] orders",
        "ERROR 1045 (28000): Access denied",
        f"{MARKER_PREFIX}mysql-password]",
        "$ ls",
    ]
    one_by_one = SecretMasker()
    assert [one_by_one.mask(line) for line in lines] == out


def test_a_repeat_inside_a_longer_word_is_left_alone() -> None:
    session = SecretMasker()
    session.mask(f"export API_TOKEN={TOKEN}")
    assert session.mask(f"x{TOKEN}y and {TOKEN}9") == f"x{TOKEN}y and {TOKEN}9"
    assert session.mask(f"({TOKEN}), {TOKEN}.") == f"({MARKER_PREFIX}token]), {MARKER_PREFIX}token]."


def test_short_values_are_not_learned() -> None:
    """Under 8 bytes a value would be found inside too much ordinary text."""
    session = SecretMasker()
    assert session.mask("mysql -u app -pAb3x9 orders") == f"mysql -u app -p{MARKER_PREFIX}mysql-password] orders"
    assert session.mask("Ab3x9") == "Ab3x9"


def test_what_a_session_learns_stays_in_it_and_is_bounded() -> None:
    first, second = SecretMasker(), SecretMasker()
    first.mask(f"export API_TOKEN={TOKEN}")
    assert second.mask(TOKEN) == TOKEN
    # The line is clean for a masker that knows nothing (and is remembered so, for all sessions): the session
    # that knows the value still masks it.
    assert second.mask_lines([TOKEN, "ok"]) == [TOKEN, "ok"]
    assert first.mask_lines([TOKEN, "ok"]) == [f"{MARKER_PREFIX}token]", "ok"]
    for number in range(repeats.KNOWN_SIZE + 10):
        first.mask(f"export API_TOKEN={TOKEN}{number:04d}")
    assert len(first._known.values) == repeats.KNOWN_SIZE
    assert first.mask(TOKEN) == TOKEN  # the oldest went first


def test_markers_and_whitespace_are_never_learned() -> None:
    session = SecretMasker()
    session.mask(f"export API_TOKEN='{TOKEN}'")
    assert len(session._known.values) == 1
    assert session._known.held_in(TOKEN.encode())  # the value learned without its quotes
    assert session.mask(f"{MARKER_PREFIX}token] ok") == f"{MARKER_PREFIX}token] ok"
