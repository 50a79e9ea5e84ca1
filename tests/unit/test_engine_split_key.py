"""A private key split across deliveries when the function could not read the earlier events back (issue #13,
item 4): the key's body lines at the start of the delivery are masked whole, the short last one included."""

from __future__ import annotations

import pytest
from sessionguard.masking.masker import mask_secrets

from tests.unit.test_engine_warm_up import KEY_LINES, deliver, event, lines, rendered

# The last, short base64 line of a key: too short for the masker to judge alone (a longer one may be caught by its
# entropy check; this test is about what the engine does when the masker cannot tell).
SHORT_TAIL = "AAAECq8mhS0x"
END_LINES = ("-----END RSA PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----", "-----END PRIVATE KEY-----")


@pytest.mark.parametrize("end", END_LINES)
def test_a_short_key_tail_ending_at_its_end_line_is_masked_without_warm_up(end: str) -> None:
    out = deliver([event(SHORT_TAIL, end, "sh-4.2$ ls", "notes.txt")])

    assert mask_secrets(SHORT_TAIL) == SHORT_TAIL  # the masker alone leaves it
    assert SHORT_TAIL not in rendered(out)
    assert lines(out)[0] == ("output", "[MASKED:private-key]", False)
    assert ("output", "notes.txt", False) in lines(out)


def test_the_short_tail_after_long_body_lines_is_masked_with_them() -> None:
    out = deliver([event(KEY_LINES[2], SHORT_TAIL, "-----END RSA PRIVATE KEY-----", "sh-4.2$ ls")])

    assert KEY_LINES[2] not in rendered(out)
    assert SHORT_TAIL not in rendered(out)


def test_short_words_before_the_first_command_are_not_key_material() -> None:
    out = deliver([event("done", "ok", "sh-4.2$ ls", "notes.txt")])

    assert [text for _, text, _ in lines(out)][:2] == ["done", "ok"]


def test_a_short_base64_looking_line_not_followed_by_an_end_line_is_left_alone() -> None:
    out = deliver([event(SHORT_TAIL, "sh-4.2$ ls")])

    assert lines(out)[0] == ("output", mask_secrets(SHORT_TAIL), False)  # as the masker alone has it
