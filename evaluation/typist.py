"""Types a case into a session as the SSM Agent streams it: each command after the prompt, each line that bash reads
as a continuation of the pending command after PS2 (`> `).

Whether a line continues the command is bash's own decision: `bash -n -c "<lines so far>"` reporting an unexpected
end of file means the command is still open. Bash is asked only when a case has more than one line.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

PROMPT = "[root@ip-10-0-0-9 ~]# "
CONTINUATION = "> "
# The identity every evaluation session is typed under; only the session id and the lines differ between sessions.
_EVENT_TEMPLATE: dict[str, Any] = {
    "eventVersion": "1.0",
    "eventTime": "2026-11-26T12:00:00Z",
    "awsRegion": "eu-west-1",
    "target": {"id": "i-0e7a1b2c3d4e5f607"},
    "userIdentity": {"arn": "arn:aws:sts::111122223333:assumed-role/PlatformAdmin/eval"},
    "runAsUser": "root",
}
_STILL_OPEN = ("unexpected EOF", "unexpected end of file", "delimited by end-of-file")


@functools.lru_cache(maxsize=65536)
def still_open(text: str) -> bool:
    """True when bash, given `text`, would wait for more lines (open quote, trailing backslash, block, heredoc)."""
    # bash -n parses without running anything: the attacker-typed text is never executed.
    result = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True, check=False)  # noqa: S603, S607
    return any(marker in result.stderr for marker in _STILL_OPEN)


def command_groups(lines: Sequence[str]) -> Iterator[list[str]]:
    """The lines split into whole commands: a command takes following lines while bash says it is still open."""
    group: list[str] = []
    for line in lines:
        group.append(line)
        if len(lines) == 1 or not still_open("\n".join(group)):
            yield group
            group = []
    if group:
        yield group


def typed(lines: Sequence[str]) -> list[str]:
    """The terminal lines the agent streams when `lines` are typed one after another."""
    shown: list[str] = []
    for group in command_groups(lines):
        shown.append(PROMPT + group[0])
        shown.extend(CONTINUATION + line for line in group[1:])
    return shown


def stream_event(session_id: str, terminal_lines: Sequence[str]) -> dict[str, Any]:
    """One streamed session event (the format of events/session-stream.jsonl) carrying `terminal_lines`."""
    return {**_EVENT_TEMPLATE, "sessionId": session_id, "sessionData": list(terminal_lines)}
