"""Text that leaves SessionGuard as people and services can take it: printable, sendable, bounded.

`visible` shows control and format characters instead of letting them act (a bidi override cannot make a command
display differently from what ran), `utf8_safe` makes a string sendable by botocore, `truncate` bounds it. Pure,
and cheap for ASCII: every alert message and every adapter that sends text goes through them.
"""

from __future__ import annotations

import re
from typing import Final

_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


def utf8_safe(text: str) -> str:
    """`text` as botocore can send it: a lone surrogate (damaged UTF-8 in session text) makes it raise
    UnicodeEncodeError on every attempt, so each becomes U+FFFD, as visible() shows it. Messages are built
    with it (formatting.sns_alert_message measures their bytes) and the clients apply it again as the last line of
    defence; it costs nothing for ASCII."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


TRUNCATED: Final = "… [truncated]"


def _caret(char: str) -> str:
    """How a terminal user would write a control character: ESC -> ^[, BEL -> ^G, DEL -> ^?, C1 -> \\x85."""
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"\\x{code:02x}"


# Format characters (Unicode categories Cf, Zl, Zp, as of Unicode 15.1): bidirectional overrides and isolates
# (U+202A-U+202E, U+2066-U+2069), marks (U+200E, U+200F, U+061C), zero-width characters, U+2028/U+2029, U+FEFF,
# tag characters. Shown raw, they make a command display differently from what ran ("Trojan Source",
# CVE-2021-42574). tests/unit/test_alerts_format.py checks this list against the running Python's Unicode data.
_FORMAT_RANGES: Final = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff" + _FORMAT_RANGES + "]")


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code <= 0x9F:
        return _caret(char)
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: str) -> str:
    """Printable text that displays as what it is: control characters (but newline and tab) in caret notation,
    lone surrogates (damaged UTF-8 the agent let through) as U+FFFD, and format characters (bidi overrides,
    zero-width and invisible characters, line and paragraph separators) as `\\u202e`, so every service accepts
    the string and readers see what was there, in the order it was there."""
    if text.isprintable():  # str.isprintable is False for every character replaced here (and for \n, \t)
        return text
    return _UNSAFE.sub(_shown, text)


def truncate(text: str, limit: int, marker: str = TRUNCATED) -> str:
    """`text` cut to at most `limit` characters, ending with `marker` when something was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker
