"""The demo's console output: a readable summary, in colour on a terminal and plain when piped.

Colour follows the usual conventions: only when the stream is a terminal, never with NO_COLOR set or TERM=dumb.
Marks: done, played or made up for by the demo because the emulator cannot (the `emulator` lines), failed.
"""

from __future__ import annotations

import os
from typing import TextIO

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold red": "1;31"}
SEVERITY_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


class Console:
    def __init__(self, stream: TextIO, *, color: bool | None = None) -> None:
        self.stream = stream
        if color is None:
            color = stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self.color = color
        unicode = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "") == "utf8"
        self._marks = ("✓", "!", "✗", "·") if unicode else ("+", "!", "x", "-")

    def paint(self, text: str, style: str) -> str:
        if not self.color or style not in _CODES:
            return text
        return f"\033[{_CODES[style]}m{text}\033[0m"

    def severity(self, severity: str, width: int = 8) -> str:
        return self.paint(severity.upper().ljust(width), SEVERITY_STYLES.get(severity.lower(), ""))

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def title(self, text: str) -> None:
        self.line(self.paint(text, "bold"))

    def section(self, number: int, text: str) -> None:
        self.line()
        self.line(self.paint(f"{number}. {text}", "bold"))

    def done(self, text: str) -> None:
        self.line(f"  {self.paint(self._marks[0], 'green')} {text}")

    def emulator(self, text: str) -> None:
        """Something the emulator cannot do, and how the demo does it or that it is left out."""
        self.line(f"  {self.paint(self._marks[1], 'yellow')} {self.paint('emulator:', 'yellow')} {text}")

    def failed(self, text: str) -> None:
        self.line(f"  {self.paint(self._marks[2], 'red')} {self.paint(text, 'red')}")

    def item(self, text: str) -> None:
        self.line(f"    {self.paint(self._marks[3], 'dim')} {text}")

    def detail(self, text: str) -> None:
        self.line(f"      {self.paint(text, 'dim')}")
