"""Turn what a Session Manager terminal displayed back into commands and their output.

`sessionData` is PTY output: prompt + echoed command, then output, with the agent's rough edges
(docs/session-format.md). `clean_terminal_text` undoes the terminal encoding of one line; `SessionRebuilder` tells
command lines from output and joins continuation lines into whole commands. Output is not masked here.

Every regex here sees text the person in the session controls. They use Python's `re` rather than RE2 because
tokenizing needs one match per token and google-re2's Python wrapper costs microseconds per match (it maps
offsets back in Python). They are linear by construction, which test_terminal.py checks: every unbounded
repetition is possessive (`*+`, `++`) and so never backtracked into; other repetitions are `?` or bounded; each
failed attempt stops at a character the class excludes (ESC, a quote), so attempts from different start
positions scan disjoint stretches. Where a line still needs one Python step per control sequence or shell token,
the count is capped (_MAX_CONTROLS, _MAX_SHELL_TOKENS) and the rest is handled by C-level string operations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

__all__ = [
    "Command",
    "CommandSpan",
    "SessionRebuilder",
    "TranscriptLine",
    "begins_at_a_prompt",
    "clean_terminal_text",
    "logical_lines",
]

# --- terminal clean-up ---------------------------------------------------------------------------------------

# xterm's line-editing CSI finals we emulate: K erase in line, P delete chars, @ insert blanks, C/D cursor
# right/left. bash readline emits `\b ESC[K` when deleting at the end of the line (the sample typescript shows
# it) and ESC[P / ESC[@ when editing mid-line; every other CSI only changes colours or modes. Lengths are
# bounded (real parameters and titles are short) so that a failed attempt costs little; an over-long sequence
# loses only its ESC and stays visible as text. Each pattern starts with one character class (or literals),
# which lets `re` skip plain text at C speed.
_STRIP: Final = re.compile(
    r"[\x00-\x07\x0b\x0c\x0e-\x1f\x7f-\x9f]"
    r"(?:(?<=\x1b)(?:"
    r"\][^\x07\x1b]{0,4096}+(?:\x07|\x1b\\)"  # OSC (xterm title from PS1) ended by BEL or ST
    r"|[P^_X][^\x1b]{0,4096}+\x1b\\"  # DCS / PM / APC / SOS strings ended by ST
    r"|\[(?![0-?]{0,32}+[ -/]{0,4}+[KP@CD])[0-?]{0,32}+[ -/]{0,4}+[@-~]"  # CSI that does not edit the line
    r"|(?![\[\]P^_X])[ -/]{0,4}+[0-~]"  # two-character escapes: ESC ( B, ESC =, ESC 7 ...
    r"|(?!\[[0-?]{0,32}+[ -/]{0,4}+[KP@CD])"  # ESC starting nothing complete: drop ESC, keep the rest
    r")|(?<!\x1b)[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]*+)"  # BEL, NUL, other C0/C1 controls, DEL
)
_EDIT_TOKEN: Final = re.compile(r"(\x08 \x08(?:\x08 \x08)*+|\x08\x08*+|\r\r*+|\x1b\[[0-?]{0,32}+[ -/]{0,4}+[@-~])")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_MAX_COUNT: Final = 4096  # a CSI count larger than any terminal is wide is hostile, not a redraw
# Replaying edits costs a regex match and some Python per control sequence. A line longer than _SHORT_LINE
# with more than _MAX_CONTROLS control characters was not typed or drawn by a person: it is flattened with
# C-level byte operations instead (controls dropped, all text kept, so nothing is hidden from the masker).
_SHORT_LINE: Final = 4096
_MAX_CONTROLS: Final = 1024
_C0_AND_DEL: Final = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F])
_LF_TO_SPACE: Final = bytes.maketrans(b"\n", b" ")
_C1_UTF8: Final = tuple(bytes([0xC2, code]) for code in range(0x80, 0xA0))


def clean_terminal_text(raw: str) -> str:
    """Return the text a terminal would show for one line: editing applied, escapes and controls removed.

    Never raises; linear in len(raw). Tabs are kept; lone surrogates (damaged UTF-8 decoded with
    surrogateescape) become U+FFFD, so the result always encodes as UTF-8.
    """
    if raw.isprintable():
        return raw
    if raw[-1] == "\r" and raw[:-1].isprintable():
        return raw[:-1]  # every typescript line ends in \r\n
    if len(raw) > _SHORT_LINE:
        encoded = raw.encode("utf-8", "surrogatepass")
        # Upper bound: C1 controls are encoded C2 80..9F, lone surrogates ED A0..BF xx.
        controls = len(encoded) - len(encoded.translate(None, _C0_AND_DEL))
        if controls + encoded.count(b"\xc2") + encoded.count(b"\xed") > _MAX_CONTROLS:
            return _flatten(encoded)
    if "\x08" in raw and " \x08" not in raw and raw.replace("\x08", "").isprintable():
        return _replay_backspaces(raw)  # the commonest edit by far: a typo fixed with backspaces
    if raw.startswith("\x1b]"):
        # The other common one: bash's PS1 setting the xterm title, `ESC ] 0;title BEL` before the prompt. When it
        # ends in BEL within _STRIP's bound and the rest is plain, removing it is all that _STRIP would do.
        end = raw.find("\x07", 2, 2 + 4096 + 1)
        if end > 0 and "\x1b" not in raw[2:end] and raw[end + 1 :].isprintable():
            return raw[end + 1 :]
    text = raw
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    text = _STRIP.sub("", text)
    if "\n" in text:
        text = text.replace("\n", " ")
    if "\x08" in text or "\r" in text or "\x1b" in text:
        text = _apply_line_editing(text)
    return text


def _flatten(encoded: bytes) -> str:
    """Drop every control character, keep all text: linear with a small constant whatever the input."""
    data = encoded.translate(_LF_TO_SPACE, _C0_AND_DEL)
    if b"\xc2" in data:
        for c1 in _C1_UTF8:
            data = data.replace(c1, b"")
    return data.decode("utf-8", "replace")  # lone surrogates (surrogatepass bytes) become U+FFFD


def _replay_backspaces(text: str) -> str:
    """`_apply_line_editing` for a line whose only control character is BS, none of them after a blank (so no
    readline `\\b \\b` erase): each BS moves the cursor left, and what follows overwrites from there."""
    pieces = text.split("\x08")
    screen = _ScreenLine(budget=0)
    cells = screen.cells = list(pieces[0])
    cursor = len(cells)
    for piece in pieces[1:]:
        if cursor:
            cursor -= 1
        if piece:
            cells[cursor : cursor + len(piece)] = piece
            cursor += len(piece)
    screen.cursor = cursor
    return screen.text()


def _apply_line_editing(text: str) -> str:
    """Replay backspaces, carriage returns and line-editing CSI on a one-line screen."""
    screen = _ScreenLine(budget=4 * len(text) + _MAX_COUNT)
    for index, part in enumerate(_EDIT_TOKEN.split(text)):
        if not index & 1:
            if part:
                screen.write(part)
        elif part[0] == "\x08":
            screen.backspace(part)
        elif part[0] == "\r":
            screen.cursor = 0
        else:
            screen.control_sequence(part)
    return screen.text()


class _ScreenLine:
    """The cells of one terminal line and the cursor, as a terminal would hold them."""

    __slots__ = ("budget", "cells", "cursor")

    def __init__(self, budget: int) -> None:
        self.cells: list[str] = []
        self.cursor = 0
        # Operations whose cost is not paid for by the characters they consume (clearing to the start,
        # deleting or inserting mid-line, padding) draw on this budget; once it is spent they are ignored,
        # which keeps a hostile line linear at the price of an imperfect picture of it.
        self.budget = budget

    def write(self, text: str) -> None:
        cells, cursor = self.cells, self.cursor
        if cursor == len(cells):
            cells.extend(text)
        else:
            cells[cursor : cursor + len(text)] = text  # overwrite, as the terminal does
        self.cursor = cursor + len(text)

    def backspace(self, run: str) -> None:
        cells, cursor = self.cells, self.cursor
        if len(run) > 2 and run[1] == " ":
            # `\b \b`: readline erasing the character before the cursor.
            start = max(0, cursor - len(run) // 3)
            if cursor >= len(cells):
                del cells[start:]
            else:
                cells[start:cursor] = " " * (cursor - start)
            self.cursor = start
        else:
            self.cursor = max(0, cursor - len(run))

    def control_sequence(self, sequence: str) -> None:
        final = sequence[-1]
        param = sequence[2:-1]
        count = int(param) if param.isdigit() and len(param) < 6 else 0
        if final == "K":
            self._erase_in_line(count)
        elif final == "D":
            self.cursor = max(0, self.cursor - max(1, count))
        else:
            self._shift(final, min(max(1, count), _MAX_COUNT))

    def _erase_in_line(self, mode: int) -> None:
        cells, cursor = self.cells, self.cursor
        if mode == 0:
            del cells[cursor:]
            return
        blank = min(cursor + 1, len(cells))
        if self.budget < blank:
            return
        self.budget -= blank
        cells[:blank] = " " * blank
        if mode == 2:
            del cells[cursor:]

    def _shift(self, final: str, count: int) -> None:
        cells, cursor = self.cells, self.cursor
        if final == "C":
            cost = max(0, cursor + count - len(cells))
        elif final == "P":
            cost = len(cells) - cursor
        else:
            cost = len(cells) - cursor + count
        if self.budget < cost:
            return
        self.budget -= cost
        if final == "C":
            self.cursor = cursor + count
            if self.cursor > len(cells):
                cells.extend(" " * (self.cursor - len(cells)))
        elif final == "P":
            del cells[cursor : cursor + count]
        elif final == "@":
            cells[cursor:cursor] = " " * count

    def text(self) -> str:
        cells, cursor = self.cells, self.cursor
        if cursor < len(cells) and cells[-1] == " ":
            # Blanks after the cursor look exactly like nothing on screen: they are what erasing left behind.
            text = "".join(cells[:cursor]) + "".join(cells[cursor:]).rstrip(" ")
        else:
            text = "".join(cells)
        return text if text.strip(" ") else ""  # a line erased to blanks shows nothing


# --- transcript model ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One displayed line: a command line (prompt removed) or output."""

    kind: Literal["command", "output"]
    text: str
    prompt: str = ""


class Command(NamedTuple):
    """A whole command as the shell received it: continuation lines and heredoc bodies joined with "\\n".
    A named tuple: one is made per command, and a tuple is the cheapest object to build."""

    text: str
    prompt: str
    user_hint: str = ""


# Where a command's lines are among the lines the engine masks: (index after its last line, command, line count).
CommandSpan = tuple[int, Command, int]


def logical_lines(text: str) -> list[str]:
    """A command's lines with backslash-newline continuations removed as the shell removes them, so the masker
    sees `mysql \\` and `-pX` as one line (a flag is only a secret next to its command)."""
    if "\n" not in text:
        return [text]  # the usual one-line command is its own logical line
    return text.replace("\\\n", "").split("\n")


# A frozen dataclass's __init__ sets each field through object.__setattr__, which measured more than everything
# else done for a plain output line; the rebuilder builds its results through the slot descriptors instead.
_new_object = object.__new__
_set_kind: Final[Any] = TranscriptLine.__dict__["kind"].__set__
_set_text: Final[Any] = TranscriptLine.__dict__["text"].__set__
_set_prompt: Final[Any] = TranscriptLine.__dict__["prompt"].__set__
_new_tuple: Final = tuple.__new__


def _transcript_line(kind: Literal["command", "output"], text: str, prompt: str = "") -> TranscriptLine:
    line = _new_object(TranscriptLine)
    _set_kind(line, kind)
    _set_text(line, text)
    _set_prompt(line, prompt)
    return line


def _command(text: str, prompt: str, user_hint: str) -> Command:
    """Command(text, prompt, user_hint), without the per-call Python of the named tuple's __new__."""
    command: Command = _new_tuple(Command, (text, prompt, user_hint))
    return command


# --- prompts -------------------------------------------------------------------------------------------------

# Prompts every Session Manager user meets; group `user` is the user name when the prompt shows one.
_STRONG_PROMPT: Final = re.compile(
    r"(?P<prompt>"
    r"(?:ba|k|z|da)?sh-\d++(?:\.\d++)*+[$#%]"  # sh's default PS1 '\s-\v\$': sh-4.2$, sh-5.2#, bash-5.2$
    r"|\[(?P<user>[\w.-]++)@[\w.-]++(?: [^\]]*+)?\][$#]"  # RHEL / Amazon Linux bash: [ssm-user@ip-10-0-1-23 ~]$
    r"|(?P<user2>[\w.-]++)@[\w.-]++:[~/][^$#]*+[$#]"  # Debian / Ubuntu bash: ubuntu@ip-10-0-1-5:~$
    r"|(?P<user3>[\w.-]++)@[\w.-]++ [^\s%#]++ [%#]"  # zsh '%n@%m %1~ %#': ec2-user@ip-10-0-1-7 ~ %
    r")(?: |$)"
)
_SH_PROMPT_STARTS: Final = ("sh-", "bash-", "ksh-", "zsh-", "dash-")  # strong prompts without "@"
# Prompts that ordinary output can also look like (`# comment`, `Use% ...`, `$ make` in a README): dash's
# `$ `/`# `, zsh's fallback `host% `, busybox ash `/ # `. Trusted only once learned, and learned only at the
# start of a session or right after a command that starts or leaves a shell.
_WEAK_PROMPT: Final = re.compile(r"(?P<prompt>(?:[A-Za-z][\w.-]*+|[~/][^\s$#%]*+ )?[$#%])(?: |$)")
_SHELLS: Final = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "fish", "csh", "tcsh", "busybox"})
_SHELL_EXITS: Final = frozenset({"su", "exit", "logout", "newgrp", "login"})
_SUDO_SHELL_FLAGS: Final = frozenset({"-i", "-s", "--login", "--shell", "-si", "-is"})
_WEAK_WINDOW: Final = 3  # output lines after a shell switch (or the session start) a weak prompt may follow
_MAX_LEARNED: Final = 32  # distinct prompts remembered per session (the directory is part of bash prompts)
_RECENT_PROMPTS: Final = 4  # prompts looked for in the middle of an output line
# A prompt the session sets itself (`PS1='> '`, `export PS1="$ "`): an assignment where a command starts (the
# line's start, or after `;` or `&`; not in a pipeline or a subshell, which keep their own PS1), its value one
# quoted or bare word ending where the word ends. Only a literal value is learned, with bash's `\$` (`$`, or `#`
# for root) as its one escape and the non-printing `\[…\]` colour codes dropped (the agent strips them).
_PS1_ASSIGNMENT: Final = re.compile(
    r"(?:^|[;&]\s*+)(?:(?:export|declare|typeset|readonly)\s++(?:-\w++\s++)*+)?PS1="
    r"(?:'([^'\n]{1,64}+)'|\"((?:[^\"\\$`\n]|\$(?![\w{(@*#?!$-])){1,64}+)\"|([^\s;&|'\"\\$`()]{1,64}+))(?=[\s;&|)]|$)"
)
# Any other change of PS1 (escapes, concatenation, `+=`, `printf -v`, `read`): a prompt may follow that only
# the weak patterns know, so they may be learned for a few lines, as after a shell switch.
_PS1_CHANGE: Final = re.compile(r"\bPS1\+?=|\bprintf\s++-v\s*+PS1\b|\bread\b[^;&|\n]*+\bPS1\b")
_COLOUR_CODES: Final = re.compile(r"\\\[|\\\]|\\(?:e|033|x1b|x1B)\[[0-9;]{0,16}+m")
_MAX_PINNED: Final = 4  # prompts set by PS1 kept whatever other prompts output shows
_MID_LINE_PROMPT: Final = 3  # characters a PS1-set prompt needs to be looked for after output with no newline
_COMMENT: Final = re.compile(r"(?:^|\s)#")
_PROMPT_CHARACTERS: Final = frozenset("$#%")


def begins_at_a_prompt(raw: str) -> bool:
    """Whether a displayed line starts with a prompt every Session Manager user meets (`sh-4.2$ `, bash's
    `[user@host dir]$ `, `user@host:~$ `, zsh's `user@host ~ %`), as the first line of a stream's upload does when
    the session was waiting at its prompt: the shell had no command pending (it would show PS2, `> `)."""
    line = clean_terminal_text(raw.partition("\n")[0]) if raw else ""
    return ("@" in line or line.startswith(_SH_PROMPT_STARTS)) and _STRONG_PROMPT.match(line) is not None


def _switches_shell(command: str) -> bool:
    """Whether a command likely starts or leaves a shell, so that a new prompt is due."""
    if "PS1" in command and _PS1_CHANGE.search(command[:4096]):
        return True  # a new prompt, perhaps one only the weak patterns know
    words = command.split(None, 16)[:16]  # a shell switch is a short command; bounds hostile input
    for index, word in enumerate(words):
        name = word.rsplit("/", 1)[-1]
        if name in _SHELL_EXITS:
            return True
        if name in _SHELLS and all(rest.startswith("-") for rest in words[index + 1 :]):
            return True
        if name == "sudo" and not _SUDO_SHELL_FLAGS.isdisjoint(words[index + 1 :]):
            return True
    return False


@functools.lru_cache(maxsize=256)
def _switches_shell_cached(command: str) -> bool:
    return _switches_shell(command)


def _just_switched(command: str) -> bool:
    """_switches_shell, remembered for short commands: the output lines after a command ask again and again."""
    return _switches_shell_cached(command) if len(command) <= 256 else _switches_shell(command)


# --- shell continuation ----------------------------------------------------------------------------------------

_SHELL_TOKEN: Final = re.compile(
    r"""
      (?P<space>[ \t]++)
    | (?P<quoted>'[^']*+'|"(?:[^"\\]++|\\.)*+"|`(?:[^`\\]++|\\.)*+`|\$'(?:[^'\\]++|\\.)*+')
    | (?P<open_quote>\$?['"`])
    | (?P<escape>\\.?)
    | (?P<heredoc><<-?[ \t]*+(?:'[^']*+'|"[^"]*+"|\\?[^\s;&|<>()'"`\\]++))
    | (?P<operator>&&|\|\||;;|\|&|<<<|\$\(|[;&|()<>])
    | (?P<comment>\#)
    | (?P<word>[^\s'"`\\;&|()<>#$]++|\$)
    """,
    re.VERBOSE,
)
# The rest of a quoted string that began on an earlier line, up to and including its closing quote.
_QUOTE_REST: Final = {
    "'": re.compile(r"[^']*+'"),
    '"': re.compile(r'(?:[^"\\]++|\\.?)*+"'),
    "`": re.compile(r"(?:[^`\\]++|\\.?)*+`"),
    "$'": re.compile(r"(?:[^'\\]++|\\.?)*+'"),
}
_OPENERS: Final = frozenset({"if", "case", "for", "while", "until", "select"})
_CLOSERS: Final = frozenset({"fi", "esac", "done"})
_KEEP_COMMAND_POSITION: Final = frozenset({"then", "do", "else", "elif", "if", "while", "until", "!", "time"})
_WORD_END: Final = frozenset(" \t;&|()<>")
_CONTINUING_OPERATORS: Final = frozenset({"|", "&&", "||", "|&"})
# Most commands are complete on their line: without quotes, escapes, redirections, brackets, compound-command
# keywords or a trailing | or & they need no lexing. (One character class, so `re` scans it at C speed; one regex
# for all three tests measured twice as slow, as it can no longer skip plain text.)
_LEXICAL_CHARACTERS: Final = re.compile(r"""['"`\\<(){}]""")
_MAX_SHELL_TOKENS: Final = 4096  # a longer command line was pasted or forged; see _read_overlong_line


def _complete_on_its_line(text: str) -> bool:
    """No lexing needed: the command cannot continue on the next line (see _LEXICAL_CHARACTERS)."""
    return (
        _LEXICAL_CHARACTERS.search(text) is None
        and _OPENERS.isdisjoint(text.split())
        and not text.rstrip().endswith(("|", "&"))
    )


@dataclass(slots=True)
class _ShellState:
    """What bash still waits for after the lines of a command seen so far (it then shows PS2, `> `)."""

    quote: str = ""  # the quote still open at the end of the last line
    backslash: bool = False  # the last line ended with an unquoted `\`
    operator: bool = False  # the last line ended with `|`, `&&`, `||` or `|&`
    depth: int = 0  # if/case/for/while/until/select and `{` not yet closed
    parens: int = 0  # `(` and `$(` not yet closed
    heredocs: list[tuple[str, bool]] = field(default_factory=list)  # (delimiter, strip leading blanks)

    def needs_more(self) -> bool:
        return bool(self.quote or self.backslash or self.operator or self.depth or self.parens or self.heredocs)

    def in_heredoc_body(self) -> bool:
        """Heredoc bodies start once the command line itself is complete."""
        return bool(self.heredocs) and not (self.quote or self.backslash)

    def read_line(self, text: str) -> None:
        """Update the state with one line of shell input (not a heredoc body line)."""
        pos = 0
        if self.quote:
            rest = _QUOTE_REST[self.quote].match(text)
            if rest is None:
                return
            pos = rest.end()
            self.quote = ""
        command_position = pos == 0
        last_kind, last_lexeme = ("space" if pos == 0 else "quoted"), ""
        for count, match in enumerate(_SHELL_TOKEN.finditer(text, pos)):
            if count == _MAX_SHELL_TOKENS:
                self._read_overlong_line(text)
                return
            kind = match.lastgroup or "word"
            lexeme = match.group()
            if kind == "space":
                last_kind = kind
                continue
            if kind == "comment":
                if last_kind in ("space", "operator"):
                    break  # the rest of the line is a comment: its quotes do not count
                kind = "word"
            if kind == "open_quote":
                self.quote = lexeme if lexeme in _QUOTE_REST else lexeme[-1]  # $" and $` quote like " and `
                self.backslash = self.operator = False
                return
            if kind == "word":
                standalone = last_kind in ("space", "operator") and (
                    match.end() == len(text) or text[match.end()] in _WORD_END
                )
                command_position = self._word(lexeme, standalone=standalone, command_position=command_position)
            elif kind == "operator":
                self._operator(lexeme)
                command_position = True
            else:
                if kind == "heredoc":
                    self.heredocs.append(_heredoc_delimiter(lexeme))
                command_position = False
            last_kind, last_lexeme = kind, lexeme
        self.backslash = last_kind == "escape" and last_lexeme == "\\"
        self.operator = last_kind == "operator" and last_lexeme in _CONTINUING_OPERATORS

    def _read_overlong_line(self, text: str) -> None:
        """Nobody types a line this long: judge only its end, with string operations, to stay fast."""
        self.quote = ""
        self.depth = self.parens = 0
        tail = text.rstrip(" \t")
        self.backslash = (len(tail) - len(tail.rstrip("\\"))) % 2 == 1
        self.operator = tail.endswith(("|", "&&", "|&"))

    def _word(self, word: str, *, standalone: bool, command_position: bool) -> bool:
        """Count compound-command keywords; return whether the next word is in command position."""
        if not standalone:
            return False
        if word in ("{", "}"):
            self.depth = self.depth + 1 if word == "{" else max(0, self.depth - 1)
            return True
        if not command_position:
            return False
        if word in _OPENERS:
            self.depth += 1
        elif word in _CLOSERS:
            self.depth = max(0, self.depth - 1)
        return word in _KEEP_COMMAND_POSITION

    def _operator(self, operator: str) -> None:
        if operator in ("(", "$("):
            self.parens += 1
        elif operator == ")":
            self.parens = max(0, self.parens - 1)


def _heredoc_delimiter(operator: str) -> tuple[str, bool]:
    word = operator[2:]
    strip = word.startswith("-")
    word = word.lstrip("-").strip(" \t")
    if word[:1] in ("'", '"'):
        word = word[1:-1]
    elif word.startswith("\\"):
        word = word[1:]
    return word, strip


@dataclass(slots=True)
class _PendingCommand:
    prompt: str
    user_hint: str
    lines: list[str]
    shell: _ShellState


# --- the rebuilder -------------------------------------------------------------------------------------------


class SessionRebuilder:
    """Per-session streaming state. Feed each event's lines in order; get back, in order, transcript lines
    and each Command right after its last line. Keeps state across feed() calls (a command, continuation or
    heredoc can be split across events; output of one command continues in the next event)."""

    __slots__ = (
        "_commands",
        "_current",
        "_custom",
        "_last_command",
        "_lean",
        "_learned",
        "_learned_keys",
        "_output_since",
        "_pending",
        "_pinned",
        "_recent",
    )

    def __init__(self) -> None:
        self._learned: dict[str, tuple[str, str, bool]] = {}  # prompt + " " -> (prompt, user hint, strong)
        self._current = ""  # the learned key of the prompt in use
        self._learned_keys: tuple[str, ...] = ()
        self._recent: tuple[str, ...] = ()  # the last strong prompts used, most recent first
        self._custom: tuple[str, ...] = ()  # learned prompts with none of $ # % (set by the session's PS1)
        self._pinned: tuple[str, ...] = ()  # prompts set by the session's PS1, most recent first: never evicted
        self._pending: _PendingCommand | None = None
        self._last_command: str | None = None  # None: nothing yet, the session is starting
        self._output_since = 0  # output lines since the last command (or the session start)
        self._lean = False  # feed_lines: texts only, commands as their logical lines
        self._commands: list[CommandSpan] = []  # feed_lines: where each command's lines are

    def feed(self, lines: Iterable[str]) -> list[TranscriptLine | Command]:
        """Rebuild the raw `sessionData` lines of one event (or typescript lines)."""
        self._lean = False
        out: list[Any] = []
        self._feed(lines, out)
        return out

    def feed_lines(self, lines: Iterable[str], texts: list[str], commands: list[CommandSpan]) -> None:
        """What `feed` gives, lighter, for the engine, appended to the engine's lists: every displayed line's text
        to `texts` (a command's as its logical lines, see `logical_lines`), and for each command, as it completes,
        (its end in `texts`, the Command, its number of lines) to `commands`. Same state changes as `feed`."""
        self._lean = True
        self._commands = commands
        try:
            self._feed(lines, texts)
        finally:
            self._commands = []

    def _feed(self, lines: Iterable[str], out: list[Any]) -> None:
        append = out.append
        lean = self._lean
        for raw in lines:
            if raw.isprintable():
                line = raw
            elif "\n" in raw:
                for piece in raw.split("\n"):
                    self._take(clean_terminal_text(piece), out)
                continue
            else:
                line = clean_terminal_text(raw)
            # The common case, inline: plain output. Every prompt ends in $, # or %, and bash shows PS2
            # (`> `) only while a command is pending, so this test alone sends most output on its way.
            if (
                self._pending is None
                and "$" not in line
                and "#" not in line
                and "%" not in line
                and not (self._custom and any(known in line for known in self._custom))
            ):
                if lean:
                    append(line)
                else:
                    item = _new_object(TranscriptLine)
                    _set_kind(item, "output")
                    _set_text(item, line)
                    _set_prompt(item, "")
                    append(item)
                self._output_since += 1
            elif (
                lean
                and self._pending is None
                and (current := self._current)
                and line.startswith(current)
                and (text := line[len(current) :]).strip()
                and _complete_on_its_line(text)
            ):
                # The other common case, inline: a command line at the prompt in use, complete on its line
                # (what _take, _start and _emit_command do for it).
                prompt, user, _strong = self._learned[current]
                append(text)
                self._commands.append((len(out), _command(text, prompt, user), 1))
                self._last_command = text
                self._output_since = 0
                if "PS1=" in text:
                    self._learn_ps1(text, user)
            else:
                self._take(line, out)

    def flush_lines(self, texts: list[str], commands: list[CommandSpan]) -> None:
        """`flush` for the engine, appended to its lists as `feed_lines` appends."""
        self._lean = True
        self._commands = commands
        try:
            self._finish(texts)
        finally:
            self._commands = []

    def pending_command(self) -> Command | None:
        """The command still waiting for its continuation, as `flush` would give it out now; nothing changes."""
        pending = self._pending
        if pending is None:
            return None
        text = "\n".join(pending.lines)
        return _command(text, pending.prompt, pending.user_hint) if text.strip() else None

    def flush(self) -> list[TranscriptLine | Command]:
        """End of input: emit the command still waiting for continuation lines, if any (as a Command)."""
        self._lean = False
        out: list[TranscriptLine | Command] = []
        self._finish(out)
        return out

    def _take(self, line: str, out: list[Any]) -> None:
        pending = self._pending
        if pending is not None:
            # bash shows PS2 (`> `) on every line it reads to complete a command.
            if line.startswith("> ") or line == ">":
                self._continue(pending, line[2:], out)
                return
            self._finish(out)
        if "$" in line or "#" in line or "%" in line or (self._custom and any(known in line for known in self._custom)):
            current = self._current
            # The prompt in use again: the usual command line, recognised without a regex.
            found = (0, current) if current and line.startswith(current) else self._find_prompt(line)
            if found is not None:
                start, key = found
                prompt, user, _ = self._learned[key]
                if start:
                    out.append(line[:start] if self._lean else _transcript_line("output", line[:start]))
                self._start(prompt, user, line[start + len(key) :], out)
                return
        out.append(line if self._lean else _transcript_line("output", line))
        self._output_since += 1

    def _find_prompt(self, line: str) -> tuple[int, str] | None:
        """(offset, learned key) of the prompt on this line, learning it if new; None for output."""
        if line.startswith(self._learned_keys):
            for known in self._learned_keys:
                if line.startswith(known):
                    return 0, self._use(known)
        match = _STRONG_PROMPT.match(line) if "@" in line or line.startswith(_SH_PROMPT_STARTS) else None
        if match is not None:
            user = match.group("user") or match.group("user2") or match.group("user3") or ""
            return 0, self._learn(match.group("prompt"), user, strong=True)
        if self._output_since < _WEAK_WINDOW and (self._last_command is None or _just_switched(self._last_command)):
            match = _WEAK_PROMPT.match(line)
            if match is not None:
                return 0, self._learn(match.group("prompt"), "", strong=False)
        # Output without a final newline (`curl` of a JSON API, `printf`) leaves the next prompt mid-line.
        for known in self._recent:
            start = line.find(known)
            if start > 0:
                return start, self._use(known)
        return None

    def _learn(self, prompt: str, user: str, *, strong: bool) -> str:
        key = prompt + " "
        if key not in self._learned:
            self._evict()
            self._learned[key] = (prompt, user, strong)
        return self._use(key)

    def _evict(self) -> None:
        """Make room for one more prompt: forget the least recently used one that no PS1 set (output full of
        prompt-like lines must not push out the prompt the session chose)."""
        if len(self._learned) >= _MAX_LEARNED:
            oldest = next(known for known in self._learned if known not in self._pinned)
            del self._learned[oldest]
            self._recent = tuple(known for known in self._recent if known != oldest)

    def _use(self, key: str) -> str:
        """Make `key` the prompt in use; remember strong ones to find them after output without a newline."""
        if key != self._current:
            self._current = key
            entry = self._learned.pop(key)
            self._learned[key] = entry  # most recently used last
            self._learned_keys = tuple(self._learned)
            self._custom = tuple(known for known in self._learned_keys if _PROMPT_CHARACTERS.isdisjoint(known))
            if entry[2]:
                self._recent = (key, *(known for known in self._recent if known != key))[:_RECENT_PROMPTS]
        return key

    def _start(self, prompt: str, user: str, text: str, out: list[Any]) -> None:
        if not self._lean:
            out.append(_transcript_line("command", text, prompt))
        self._last_command = ""
        if _complete_on_its_line(text):
            self._emit_command(text, prompt, user, out)
            return
        shell = _ShellState()
        shell.read_line(text)
        pending = _PendingCommand(prompt, user, [text], shell)
        if shell.needs_more():
            self._pending = pending
        else:
            self._emit(pending, out)

    def _continue(self, pending: _PendingCommand, text: str, out: list[Any]) -> None:
        if not self._lean:
            out.append(_transcript_line("command", text))
        pending.lines.append(text)
        shell = pending.shell
        if shell.in_heredoc_body():
            delimiter, strip = shell.heredocs[0]
            # <<- strips leading tabs; the agent turns tabs into spaces, so strip both.
            if (text.lstrip(" \t") if strip else text) == delimiter:
                del shell.heredocs[0]
        else:
            shell.read_line(text)
        if not shell.needs_more():
            self._pending = None
            self._emit(pending, out)

    def _finish(self, out: list[Any]) -> None:
        pending = self._pending
        self._pending = None
        if pending is not None:
            self._emit(pending, out)

    def _emit(self, pending: _PendingCommand, out: list[Any]) -> None:
        self._emit_command("\n".join(pending.lines), pending.prompt, pending.user_hint, out)

    def _emit_command(self, text: str, prompt: str, user: str, out: list[Any]) -> None:
        if not text.strip():
            return  # Enter on an empty prompt
        if self._lean:
            lines = logical_lines(text)
            out += lines
            self._commands.append((len(out), _command(text, prompt, user), len(lines)))
        else:
            out.append(_command(text, prompt, user))
        self._last_command = text
        self._output_since = 0
        if "PS1=" in text:
            self._learn_ps1(text, user)

    def _learn_ps1(self, command: str, user: str) -> None:
        """A command that sets PS1 to a literal prompt (`_PS1_ASSIGNMENT`, on its first line): the next command
        lines start with it, so it is learned and pinned (SG-EVADE-028 alerts on a prompt that hides commands).
        `\\$` renders as `#` when the prompt in use says root, else `$`."""
        first = command.partition("\n")[0][:4096]
        if "PS1+=" in first:
            return  # appended to: what it renders is not on the line
        assignment = None
        for found in _PS1_ASSIGNMENT.finditer(first):
            before = first[: found.start()]
            if before.count("'") % 2 == 0 and before.count('"') % 2 == 0 and not _COMMENT.search(before):
                assignment = found  # the last one in command position, outside quotes and comments
        if assignment is None:
            return
        value = _COLOUR_CODES.sub("", "".join(group or "" for group in assignment.groups()))
        if value.replace("\\$", "").count("\\") or not value.strip():
            return  # escapes other than \$ need what the line does not show; an empty prompt marks nothing
        root = user == "root" or self._current.rstrip().endswith("#")
        rendered = value.replace("\\$", "#" if root else "$")
        self._learned.pop(rendered, None)
        self._evict()
        # Short ones (`> `, `$ `) are not looked for in the middle of a line, where output holds them.
        self._learned[rendered] = (rendered.rstrip(), user, len(rendered.strip()) >= _MID_LINE_PROMPT)
        self._pinned = (rendered, *(known for known in self._pinned if known != rendered))[:_MAX_PINNED]
        self._use(rendered)
