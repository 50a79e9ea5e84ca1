"""Turn a Windows session's PowerShell transcript back into commands and their output.

On Windows the SSM Agent does not stream the console: it turns on PowerShell transcription for `ssm-user` and
uploads the transcript file as it grows (aws/amazon-ssm-agent agent/session/shell/shell_windows.go,
startPtyAsUser; agent/session/utility/utility_windows.go, EnablePowerShellTranscription). Each event's
`sessionData` is therefore transcript text (docs/session-format.md, "Windows sessions"):

- a header block between two lines of 22 stars ("Windows PowerShell transcript start", Username, Machine, ...),
  normally the first event, the first line starting with a byte-order mark; a footer block the same way when the
  user typed `exit`;
- each accepted input as one entry, prompt and command on one line (`PS C:\\Windows\\system32> whoami`), the later
  lines of a multi-line input bare (the console's `>> ` is not transcribed), then the output;
- no escape codes and no keystrokes: the transcript holds host text. Only the S3 transcript, which the agent makes
  by replaying the console through a second transcribed PowerShell, may carry console bytes and `>> ` prompts.

`WindowsTranscriptRebuilder` has the engine-facing methods of `terminal.SessionRebuilder` (`feed_lines`,
`flush_lines`, `pending_command`), so the engine can use either per session; `is_windows_transcript` tells which.
Every regex here is linear: possessive or bounded repetitions only (see terminal.py for why `re`, not RE2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from sessionguard.session.powershell_syntax import LexResult, input_is_complete, tokenize
from sessionguard.session.terminal import Command, CommandSpan, begins_at_a_prompt, clean_terminal_text

__all__ = ["WindowsTranscriptRebuilder", "is_windows_transcript"]

# The titles of PowerShell's TranscriptPrologue / TranscriptEpilogue (InternalHostUserInterfaceStrings.resx), each
# framed by lines of 22 stars.
_BANNER_TITLES: Final = (
    "Windows PowerShell transcript start",
    "Windows PowerShell transcript end",
    "PowerShell transcript start",
    "PowerShell transcript end",
)
# The default prompt function: "PS " + location + (">>" per nested prompt level) + "> ", and "PS>" before any prompt
# has run; Enter-PSSession prefixes "[computer]: ". A location is a drive path (C:\, HKLM:\SOFTWARE, Cert:\), a
# provider-qualified path (Microsoft.PowerShell.Core\FileSystem::\\server\share) or a UNC path.
_PROMPT: Final = re.compile(
    r"(?:\[[^\]\s]{1,255}+\]: )?"
    r"PS(?: (?:[A-Za-z][\w.\\-]{0,255}+::)?(?:[A-Za-z][\w-]{0,63}+:|\\\\)[^>\n]{0,1024}+)?"
    r"(?:>>)*+> ?"
)
# The transcript writes a terminating error of the pipeline as `PS>TerminatingError(<command>): "<message>"` or,
# when the entry is flushed after the next command, `>> TerminatingError(...)`: output, not input.
_TERMINATING_ERROR: Final = ("PS>TerminatingError(", ">> TerminatingError(")
_CONTINUATION: Final = ">> "
# A multi-line input is transcribed whole, so its bare lines follow its first at once. If the completeness check
# is wrong about an input (a construct it reads as open that PowerShell closed), the lines that follow would be
# taken for input forever: past this many lines the input ends and what follows is output again.
MAX_INPUT_LINES: Final = 256
# Lines looked at to recognise a Windows stream at its start (the header is 18 lines; a delivery may begin mid-session).
_SNIFF_LINES: Final = 64


def is_windows_transcript(lines: Sequence[str]) -> bool:
    """Whether a session's first lines are a PowerShell transcript: its header, or a line at a PowerShell prompt
    before anything that looks like a Unix shell prompt. Decided once per session, at its first lines."""
    for raw in lines[:_SNIFF_LINES]:
        line = raw.removeprefix("\ufeff").rstrip("\r")
        if line in _BANNER_TITLES:
            return True
        if line.startswith(("PS ", "PS>", "[")) and _prompt_length(line):
            return True
        if line.endswith(("$ ", "# ", "$", "#")) or begins_at_a_prompt(raw):
            return False  # a Unix prompt (`[ssm-user@ip-10-0-1-5 ~]$ ls`, `sh-5.2$ `) comes first
    return False


def _prompt_length(line: str) -> int:
    """Length of the PowerShell prompt starting the line, or 0 when it does not start with one. `PS>` followed by
    text is a prompt only when it is not a transcribed terminating error."""
    if line.startswith(_TERMINATING_ERROR):
        return 0
    match = _PROMPT.match(line)
    if match is None:
        return 0
    end = match.end()
    if end < len(line) and line[end - 1] != " ":
        return 0  # `PS C:\>foo` is not what the transcript writes: the prompt ends in "> "
    return end


class WindowsTranscriptRebuilder:
    """Per-session state of a Windows transcript stream: an input still open (a multi-line input whose lines an
    event boundary split) and whether the stream's first line is still to come.

    The header and footer blocks are output like any other: none of their lines looks like a prompt. They are not
    skipped as blocks, so a line of 22 stars printed or typed in the session cannot hide the lines after it."""

    __slots__ = ("_first", "_lexed", "_pending", "_prompt")

    def __init__(self) -> None:
        self._first = True  # the next line is the first of the stream (it may start with a BOM)
        self._pending: list[str] = []  # lines of an input not complete yet
        self._lexed: LexResult | None = None  # the pending input lexed so far: each line is lexed once
        self._prompt = ""

    def feed_lines(self, lines: Iterable[str], texts: list[str], commands: list[CommandSpan]) -> None:
        """Append every line's text to `texts`, and for each input, once complete, (its end in `texts`, the
        Command, its number of lines) to `commands`: what `SessionRebuilder.feed_lines` gives for a Unix shell."""
        for raw in lines:
            for line in raw.split("\n") if "\n" in raw else (raw,):
                self._take(_displayed(line), texts, commands)

    def flush_lines(self, texts: list[str], commands: list[CommandSpan]) -> None:
        """End of input: an input still open is given out as it is."""
        self._finish(texts, commands)

    def pending_command(self) -> Command | None:
        """The input still open, as `flush_lines` would give it out now; nothing changes."""
        text = "\n".join(self._pending)
        return Command(text, self._prompt) if text.strip() else None

    def _take(self, line: str, texts: list[str], commands: list[CommandSpan]) -> None:
        if self._first:
            self._first = False
            line = line.removeprefix("\ufeff")
        prompt_length = _prompt_length(line) if line.startswith(("PS", "[")) else 0
        if self._pending:
            if not prompt_length and len(self._pending) < MAX_INPUT_LINES:
                continued = line.removeprefix(_CONTINUATION) if line.startswith(_CONTINUATION) else line
                self._pending.append(continued)
                self._lexed = tokenize("\n".join(self._pending), self._lexed)
                if self._lexed.complete:
                    self._finish(texts, commands)
                return
            self._finish(texts, commands)
        if prompt_length:
            self._prompt = line[:prompt_length].rstrip(" ")
            text = line[prompt_length:]
            self._pending = [text]
            if input_is_complete(text):
                self._finish(texts, commands)
            else:
                self._lexed = tokenize(text)
            return
        texts.append(line)

    def _finish(self, texts: list[str], commands: list[CommandSpan]) -> None:
        lines, self._pending, self._lexed = self._pending, [], None
        text = "\n".join(lines)
        if not text.strip():
            return  # Enter at an empty prompt
        texts += lines
        commands.append((len(texts), Command(text, self._prompt), len(lines)))


def _displayed(line: str) -> str:
    """A line as the transcript holds it. The agent removes every CR of streamed events; an S3 transcript keeps its
    CRLF, and its replayed console may carry escape sequences, which are taken out as a terminal would show them."""
    if line.endswith("\r"):
        line = line[:-1]
    return line if line.isprintable() else clean_terminal_text(line)
