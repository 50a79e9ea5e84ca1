"""Shell command normalization, so trivial obfuscation does not evade the rules.

The person in the session controls the text, so this module is a small shell lexer that never raises and runs
in linear time. It produces:

- ``segments``: every simple command, each with quotes and backslashes resolved (``h''istory -c`` →
  ``history -c``, ``un\\set`` → ``unset``, ``$'\\x72m'`` → ``rm``), wrappers removed (``sudo -u x -E``, ``env A=1``,
  ``nohup``, ``exec``, ``time``, ``nice -n 5``, ``timeout 10``, ``stdbuf -oL``, ``command``, ``builtin``, ``doas``,
  ``setsid``, ``xargs``, ``busybox`` and ``if``/``then``/``do``/``{``/``!``), the command name's absolute path
  dropped (``/usr/bin/curl`` → ``curl``) and words joined by single spaces. Chains (``;`` ``&&`` ``||`` ``|``
  ``|&`` ``&`` newline, subshells) are split; the contents of ``$(...)``, backticks and ``<(...)``/``>(...)``
  are segments of their own; so are the command strings a shell is told to run (``sh -c``, ``eval``,
  ``su -c``, ``watch``, ``bash <<< ...``). Leading variable assignments (``HISTFILE=/dev/null cmd``) become a
  segment of their own, and a command run from a non-system absolute path (``/tmp/.x/miner``) is also kept
  with its path, so rules can see both.
- ``whole``: the whole line rebuilt from the same normalized commands with the operators between them (spaced:
  ``curl x | sh``), so pipelines such as download-and-execute can be matched; substitutions appear in full.
- ``inner``: the normalized form of each command string a shell is told to run (``bash -c "curl x|sh"``
  gives ``curl x | sh``) and of each substitution's body (``x=$(curl x|sh)`` gives ``curl x | sh``), matched
  like ``whole``.

Deliberate approximations, all erring towards seeing more: a newline ends an open quote (so a stray apostrophe in
a heredoc body cannot hide the following lines), heredoc bodies are treated as commands, ``#`` is not a comment
(zsh's interactive default, which an attacker could choose), and a double-quoted backslash only escapes what bash
lets it escape. Variable expansion is not evaluated beyond ``$IFS`` (a word break) and ``$@``/``$*`` (empty in an
interactive shell), both classic evasion fillers.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["NormalizedCommand", "normalize_command"]


@dataclass(frozen=True, slots=True)
class NormalizedCommand:
    whole: str
    segments: tuple[str, ...]
    inner: tuple[str, ...] = ()


# Python's `re` (not RE2) on purpose: the lexers match from a position many times per text, and RE2's Python
# wrapper re-encodes the whole text on every call, which would make that quadratic. Every pattern below is
# linear anyway: character-class runs and literal alternatives with no nested repetition, so a failed attempt
# backtracks over at most one run (a digit prefix, or an unterminated quote, which happens once per quote kind).
_PLAIN_RUN = re.compile(r"[^ \t\r\f\v\n'\"\\`$;&|()<>]+")
_DQ_RUN = re.compile(r'[^"\\`$\n]+')
_ANSI_C_RUN = re.compile(r"[^'\\\n]+")
# `$` is plain text to the fast lexers unless it starts something _Lexer.dollar() treats specially.
_SPECIAL_DOLLAR = re.compile(r"\$(?:[(@*'\"]|\{(?:IFS|[@*])\}|IFS(?![A-Za-z0-9_]))")
_UNQUOTED_BLOCKERS = re.compile(r"[\n\\`()'\"\x1c-\x1f]")
_OPERATOR_CHARS = frozenset(";&|<>")
# Tokens of a blank-free chunk. Digits can only start a token after an operator or at the chunk's start (a plain
# token swallows them otherwise), which is exactly where they are an io-number (`2>`), as in _Lexer.
_UNQUOTED_TOKEN = re.compile(
    r"[0-9]*(?:<<<|<<-|<<|<>|<&[0-9-]*|>>|>\||>&[0-9-]*|<|>)"
    r"|&>>|&>|&&|\|\||\|&|;[;&]*|[&|]"
    r"|[^;&|<>]+"
)
_SIMPLE_BLOCKERS = re.compile(r"[\n\\`()]")
# Tokens of a simple line (see _parse_simple_line); a lone quote is an unterminated one.
_SIMPLE_TOKEN = re.compile(
    r"[0-9]*(?:<<<|<<-|<<|<>|<&[0-9-]*|>>|>\||>&[0-9-]*|<|>)"
    r"|&>>|&>|&&|\|\||\|&|;[;&]*|[&|]"
    r"|[ \t\r\f\v]+"
    r"|'[^'\n]*'"
    r'|"[^"\\`\n]*"'
    r"|[^ \t\r\f\v\n'\"\\`;&|()<>]+"
    r"|['\"]"
)
_WHITESPACE_RUN = re.compile(r"[ \t\r\f\v]+")
_DOUBLE_SPACE = re.compile(r"  +")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_BLANKS = frozenset(" \t\r\f\v")
_IDENTIFIER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# Decoded control characters become spaces: normalized text is one line of printable words.
_ANSI_C_SIMPLE = {"n": " ", "t": " ", "r": " ", "a": "", "b": "", "e": "", "E": "", "f": " ", "v": " "}

# Command strings re-parsed for `sh -c` and friends may cost at most this much extra work, so nesting them
# (`sh -c "sh -c \"...\""`) cannot make normalization quadratic.
_RECURSION_FACTOR = 4
_RECURSION_FLOOR = 64 * 1024
# Substitutions nested deeper than this are flattened (see _Lexer.open_frame); real commands nest a few levels.
_MAX_DEPTH = 64

_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh", "rbash"})
# Running these from elsewhere (/tmp/bash, /dev/shm/x) is itself interesting, so only these lose their path.
_SYSTEM_BIN_DIRS = frozenset({"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"})
_REDIRECTIONS = ("<<<", "<<-", "<<", "<>", "<&", ">>", ">|", ">&", "<", ">")  # longest first
_RUNS_COMMAND_STRINGS = _SHELLS | {"su", "runuser", "script"}
_KEYWORDS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "{", "!"})
_SPECIAL_COMMANDS = _KEYWORDS | _RUNS_COMMAND_STRINGS  # wrappers are added below, once defined


@dataclass(frozen=True, slots=True)
class _WrapperSpec:
    """How to skip a wrapper's own options to reach the command it runs."""

    short_with_arg: str = ""  # option letters that take the next word (`-u root`) unless attached (`-uroot`)
    long_with_arg: frozenset[str] = frozenset()  # `--user root`; `--user=root` needs no entry
    positional: int = 0  # arguments before the command (`timeout 10 cmd`)
    mode_flags: str = ""  # letters that mean "not running a command" (`sudo -l`, `command -v`): keep as is


_WRAPPERS: dict[str, _WrapperSpec] = {
    "sudo": _WrapperSpec(
        "ughpCDrtTUR",
        frozenset(
            {"user", "group", "host", "prompt", "close-from", "chdir", "role", "type", "command-timeout"}
            | {"other-user", "chroot"}
        ),
        mode_flags="elvkKV",
    ),
    "doas": _WrapperSpec("uC"),
    "env": _WrapperSpec("uCS", frozenset({"unset", "chdir", "split-string"})),
    "nohup": _WrapperSpec(),
    "exec": _WrapperSpec("a"),
    "time": _WrapperSpec("fo", frozenset({"format", "output"})),
    "nice": _WrapperSpec("n", frozenset({"adjustment"})),
    "ionice": _WrapperSpec("cnp", frozenset({"class", "classdata", "pid"})),
    "timeout": _WrapperSpec("sk", frozenset({"signal", "kill-after"}), positional=1),
    "stdbuf": _WrapperSpec("ioe", frozenset({"input", "output", "error"})),
    "command": _WrapperSpec(mode_flags="vV"),
    "builtin": _WrapperSpec(),
    "setsid": _WrapperSpec(),
    "xargs": _WrapperSpec(
        "IPLdEsan", frozenset({"arg-file", "delimiter", "max-args", "max-procs", "max-lines", "max-chars"})
    ),
    "busybox": _WrapperSpec(),
    "unbuffer": _WrapperSpec(),
    # These two run their arguments as a command string. They are skipped like wrappers, so `eval eval ... x`
    # costs nothing per level, then what follows the last one is re-parsed once (`eval 'a; b'`); the segment
    # itself keeps them, as `eval $(curl ...)` means more than `$(curl ...)`.
    "eval": _WrapperSpec(),
    "watch": _WrapperSpec("nd", frozenset({"interval", "differences"})),
}
_REPARSED_WRAPPERS = frozenset({"eval", "watch"})
_SPECIAL_COMMANDS |= _WRAPPERS.keys()


class _Sub:
    """A command substitution inside a word: `$(...)`, backticks (rendered as `$(...)`), `<(...)`, `>(...)`."""

    __slots__ = ("opener", "tokens")

    def __init__(self, opener: str, tokens: list[object]) -> None:
        self.opener = opener
        self.tokens = tokens


class _Word:
    __slots__ = ("has_sub", "parts", "quoted", "redirect")

    def __init__(self, redirect: bool = False) -> None:
        self.parts: list[str | _Sub] = []
        self.redirect = redirect
        self.quoted = False  # quoted or escaped somewhere: `'2'>x` has no io-number
        self.has_sub = False

    def text(self) -> str:
        """The word as it appears in a segment; substitutions are elided, they are segments themselves."""
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        return "".join(part if isinstance(part, str) else part.opener + "...)" for part in self.parts)


class _Cmd:
    """A normalized simple command inside `whole` that holds substitutions: pieces to concatenate."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[str | _Sub]) -> None:
        self.pieces = pieces


class _Frame:
    """The top level or one open substitution, with the simple command being collected."""

    __slots__ = ("closer", "flat", "in_dq", "opener", "out", "parens", "word", "words")

    def __init__(self, opener: str, closer: str) -> None:
        self.opener = opener
        self.closer = closer
        self.out: list[object] = []  # operators (str) and _Cmd, joined by spaces in `whole`
        self.words: list[_Word] = []
        self.word: _Word | None = None
        self.in_dq = False
        self.parens = 0
        # Substitutions opened beyond _MAX_DEPTH, flattened into this frame: (closer, in_dq to restore) each.
        self.flat: list[tuple[str, bool]] = []


class _Context:
    """State shared by the line and every command string re-parsed from it."""

    __slots__ = ("budget", "inner", "queue", "seen", "segments", "substitution_budget")

    def __init__(self, budget: int) -> None:
        self.segments: list[str] = []
        self.seen: set[str] = set()
        self.inner: list[str] = []
        self.queue: deque[str] = deque()
        self.budget = budget
        # Substitution bodies rendered as inner lines have their own allowance, so deeply nested ones cannot use up
        # the budget that re-parses `sh -c` strings.
        self.substitution_budget = budget

    def add_segment(self, segment: str) -> None:
        if "  " in segment:
            segment = _DOUBLE_SPACE.sub(" ", segment)
        segment = segment.strip(" ")
        if segment and segment not in self.seen:
            self.seen.add(segment)
            self.segments.append(segment)

    def run_later(self, command_string: str) -> None:
        # Queued, not recursed into: `eval eval eval ...` must not grow the Python stack.
        if command_string and len(command_string) <= self.budget:
            self.budget -= len(command_string)
            self.queue.append(command_string)


def normalize_command(text: str) -> NormalizedCommand:
    """Normalize a command line (possibly several lines, e.g. with a heredoc) for rule matching. Never raises."""
    try:
        return _normalize(text)
    except Exception:  # a lexer bug must cost precision, never the alert pipeline (the text is hostile)
        flat = " ".join(str(text).split())
        return NormalizedCommand(whole=flat, segments=(flat,) if flat else ())


def _normalize(text: str) -> NormalizedCommand:
    if not text.isascii():
        # Lone surrogates (json.loads accepts "\ud800") cannot be encoded to UTF-8 for RE2; make them U+FFFD.
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    ctx = _Context(budget=_RECURSION_FACTOR * len(text) + _RECURSION_FLOOR)
    whole = _parse_line(text, ctx)
    while ctx.queue:
        ctx.inner.append(_parse_line(ctx.queue.popleft(), ctx))
    if not ctx.inner:
        return NormalizedCommand(whole, tuple(ctx.segments))
    inner = tuple(line for line in dict.fromkeys(ctx.inner) if line and line != whole)
    return NormalizedCommand(whole, tuple(ctx.segments), inner)


def _parse_line(text: str, ctx: _Context) -> str:
    # Three lexers, fastest first; they agree on every input they accept (a property test holds them to it).
    plain_dollars = "$" not in text or _SPECIAL_DOLLAR.search(text) is None
    if plain_dollars and text.isascii() and _UNQUOTED_BLOCKERS.search(text) is None:
        return _parse_unquoted_line(text, ctx)
    if plain_dollars and _SIMPLE_BLOCKERS.search(text) is None:
        whole = _parse_simple_line(text, ctx)
        if whole is not None:
            return whole
    return _Lexer(text, ctx).run()


def _parse_unquoted_line(text: str, ctx: _Context) -> str:
    """Lex a line of plain words, operators and redirections (`journalctl -u x | tail -n 3 2>&1`).

    Most commands typed in a session look like this: split on blanks, and tokenize only the words that
    have an operator glued to them (`a|b`, `2>/dev/null`).
    """
    out: list[object] = []
    texts: list[str] = []
    redirects: list[bool] = []
    for chunk in text.split():
        if _OPERATOR_CHARS.isdisjoint(chunk):
            texts.append(chunk)
            redirects.append(False)
            continue
        for token in _UNQUOTED_TOKEN.findall(chunk):
            first = token[0]
            if first in ";&|" and ">" not in token:
                if texts:
                    _emit_command(texts, redirects, None, out, ctx)
                    texts = []
                    redirects = []
                operator = ";" if first == ";" else token
                if operator != ";" or (out and out[-1] != ";"):
                    out.append(operator)
            else:
                texts.append(token)
                redirects.append(">" in token or "<" in token)
    if texts:
        _emit_command(texts, redirects, None, out, ctx)
    return _render_line(out, plain=True)


def _parse_simple_line(text: str, ctx: _Context) -> str | None:  # noqa: PLR0912 -- one branch per token kind
    """Lex a line with only words, closed quotes, operators and redirections, tokenized in C.

    The result equals `_Lexer`'s (a property test holds them to it); None means "not simple after all"
    (an unterminated quote), and nothing has been added to ctx then.
    """
    tokens = _SIMPLE_TOKEN.findall(text)
    for token in tokens:
        if token in ("'", '"'):
            return None
    out: list[object] = []
    texts: list[str] = []
    redirects: list[bool] = []
    word: list[str] = []  # pieces of the current word, joined once (appending to a str could copy it per quote)
    in_word = False  # `''` is an (empty) word too
    for token in tokens:
        first = token[0]
        if first in _BLANKS:
            if in_word:
                texts.append("".join(word))
                redirects.append(False)
                word, in_word = [], False
        elif first in ("'", '"'):
            word.append(_WHITESPACE_RUN.sub(" ", token[1:-1]))
            in_word = True
        elif ">" in token or "<" in token:
            operator = token
            if in_word and first.isdigit():  # `''2>x`: the digits belong to the word, as in _Lexer
                operator_start = len(token) - len(token.lstrip("0123456789"))
                word.append(token[:operator_start])
                operator = token[operator_start:]
            if in_word:
                texts.append("".join(word))
                redirects.append(False)
                word, in_word = [], False
            texts.append(operator)
            redirects.append(True)
        elif first in ";&|":
            if in_word:
                texts.append("".join(word))
                redirects.append(False)
                word, in_word = [], False
            if texts:
                _emit_command(texts, redirects, None, out, ctx)
                texts = []
                redirects = []
            operator = ";" if first == ";" else token
            if operator != ";" or (out and out[-1] != ";"):
                out.append(operator)
        else:
            word.append(token)
            in_word = True
    if in_word:
        texts.append("".join(word))
        redirects.append(False)
    if texts:
        _emit_command(texts, redirects, None, out, ctx)
    return _render_line(out, plain=True)


class _Lexer:
    __slots__ = ("ctx", "found", "stack", "text")

    def __init__(self, text: str, ctx: _Context) -> None:
        self.text = text
        self.ctx = ctx
        self.stack = [_Frame("", "")]
        # Last result of text.find(char, ...) per char: each search resumes where it left off, so unmatched
        # quotes or braces repeated a million times cost one scan, not one scan each.
        self.found: dict[str, int] = {}

    def find(self, char: str, start: int) -> int:
        last = self.found.get(char)
        if last is not None and (last == -1 or last >= start):
            return last
        position = self.text.find(char, start)
        self.found[char] = position
        return position

    def run(self) -> str:  # noqa: PLR0912, PLR0915 -- one dispatch over the characters that matter to the shell
        text = self.text
        length = len(text)
        i = 0
        while i < length:
            frame = self.stack[-1]
            char = text[i]
            if frame.in_dq:
                match = _DQ_RUN.match(text, i)
                if match is not None:
                    self.add_text(_WHITESPACE_RUN.sub(" ", match.group()))
                    i = match.end()
                elif char == '"':
                    frame.in_dq = False
                    i += 1
                elif char == "\\":
                    following = text[i + 1 : i + 2]
                    if following == "\n":
                        i += 2
                    elif following in ("$", "`", '"', "\\"):
                        self.add_text(following)
                        i += 2
                    else:
                        self.add_text("\\")
                        i += 1
                elif char == "\n":
                    frame.in_dq = False  # see the module docstring: newlines end quotes
                elif char == "$":
                    i = self.dollar(i, quoted=True)
                else:  # backtick
                    i = self.backtick(i)
                continue
            match = _PLAIN_RUN.match(text, i)
            if match is not None:
                self.add_text(match.group())
                i = match.end()
            elif char in _BLANKS:
                self.end_word()
                i += 1
            elif char == "'":
                i = self.single_quoted(i)
            elif char == '"':
                self.start_word()
                frame.in_dq = True
                i += 1
            elif char == "\\":
                following = text[i + 1 : i + 2]
                if following != "\n":  # backslash-newline is a line continuation: both vanish
                    self.start_word()
                    self.add_text(following)
                i += 2
            elif char == "$":
                i = self.dollar(i, quoted=False)
            elif char == "`":
                i = self.backtick(i)
            elif char in "<>":
                i = self.redirection(i)
            elif char == "(":
                frame.parens += 1
                self.operator("(")
                i += 1
            elif char == ")":
                if frame.parens:
                    frame.parens -= 1
                    self.operator(")")
                elif frame.flat and frame.flat[-1][0] == ")":
                    self.close_flat()
                elif frame.closer == ")":
                    self.close_frame()
                else:
                    self.operator(")")
                i += 1
            else:  # ; & | newline
                i = self.control_operator(i)
        while len(self.stack) > 1:  # unterminated substitutions end with the text
            self.close_frame()
        top = self.stack[0]
        self.end_word()
        _finish_command(top, self.ctx)
        return _render_line(top.out)

    # -- words -------------------------------------------------------------------------------------------
    def start_word(self) -> None:
        """Open a word for a quoting construct (an empty `''` is still a word)."""
        frame = self.stack[-1]
        if frame.word is None:
            frame.word = _Word()
            frame.words.append(frame.word)
        frame.word.quoted = True

    def add_text(self, chunk: str) -> None:
        frame = self.stack[-1]
        if frame.word is None:
            frame.word = _Word()
            frame.words.append(frame.word)
        # Chunks are joined once, in _Word.text(): `parts[-1] += chunk` would copy the word on every quote of
        # `'a''a''a'...` (quadratic).
        frame.word.parts.append(chunk)

    def end_word(self) -> None:
        self.stack[-1].word = None

    def single_quoted(self, i: int) -> int:
        text = self.text
        self.start_word()
        close = self.find("'", i + 1)
        newline = text.find("\n", i + 1, close) if close != -1 else self.find("\n", i + 1)
        if newline != -1:
            end, resume = newline, newline
        elif close != -1:
            end, resume = close, close + 1
        else:
            end, resume = len(text), len(text)
        self.add_text(_WHITESPACE_RUN.sub(" ", text[i + 1 : end]))
        return resume

    def dollar(self, i: int, *, quoted: bool) -> int:  # noqa: PLR0911 -- one exit per kind of expansion
        text = self.text
        following = text[i + 1 : i + 2]
        if following == "(":
            self.open_frame("$(")
            return i + 2
        if following in ("@", "*"):
            self.start_word()  # `c$@url` is `curl` in an interactive shell: no positional parameters
            return i + 2
        if following == "{":
            # `${IFS}` splits words and `${@}` is empty; any other expansion stays literal and its contents are
            # lexed on, because `${x:-$(cmd)}` runs cmd.
            if text.startswith("${IFS}", i):
                self.end_word()
                return i + 6
            if text.startswith(("${@}", "${*}"), i):
                self.start_word()
                return i + 4
            self.add_text("${")
            return i + 2
        if text.startswith("IFS", i + 1) and text[i + 4 : i + 5] not in _IDENTIFIER_CHARS:
            self.end_word()  # `cat$IFS/etc/shadow`: the default IFS splits words
            return i + 4
        if not quoted and following == "'":
            return self.ansi_c_quoted(i)
        if not quoted and following == '"':
            self.start_word()
            self.stack[-1].in_dq = True
            return i + 2
        self.add_text("$")
        return i + 1

    def ansi_c_quoted(self, i: int) -> int:
        """`$'\\x63url'` is `curl`: decode the escapes bash decodes."""
        text = self.text
        length = len(text)
        self.start_word()
        j = i + 2
        while j < length:
            match = _ANSI_C_RUN.match(text, j)
            if match is not None:
                self.add_text(_WHITESPACE_RUN.sub(" ", match.group()))
                j = match.end()
                continue
            char = text[j]
            if char == "'":
                return j + 1
            if char == "\n" or j + 1 >= length:
                return j if char == "\n" else length
            if text[j + 1] == "\n":  # a newline ends the quote even when escaped
                return j + 1
            decoded: list[str] = []
            j = _decode_ansi_c_escape(text, j, decoded)
            self.add_text("".join(decoded))
        return length

    def backtick(self, i: int) -> int:
        frame = self.stack[-1]
        if frame.flat and frame.flat[-1][0] == "`":
            self.close_flat()
        elif frame.closer == "`":
            self.close_frame()
        else:
            self.open_frame("`")
        return i + 1

    # -- operators ---------------------------------------------------------------------------------------
    def redirection(self, i: int) -> int:
        text = self.text
        frame = self.stack[-1]
        operator = next(op for op in _REDIRECTIONS if text.startswith(op, i))
        if operator in ("<", ">") and text[i + 1 : i + 2] == "(":
            self.open_frame(operator + "(")
            return i + 2
        end = i + len(operator)
        if operator in ("<&", ">&"):  # 2>&1, >&-: keep the target fd with the operator
            while end < len(text) and text[end] in "0123456789-":
                end += 1
        prefix = ""
        # An io-number written against the operator (`2>/dev/null`) belongs to it, not to the previous word.
        word = frame.word
        if word is not None and not word.quoted and all(isinstance(part, str) for part in word.parts):
            candidate = word.text()
            if candidate.isascii() and candidate.isdigit() and text[i - len(candidate) : i] == candidate:
                prefix = candidate
                frame.words.pop()
        self.end_word()
        redirect = _Word(redirect=True)
        redirect.parts.append(prefix + text[i:end])
        frame.words.append(redirect)
        return end

    def control_operator(self, i: int) -> int:
        text = self.text
        char = text[i]
        pair = text[i : i + 2]
        if char == "\n":
            frame = self.stack[-1]
            self.operator(";")
            while frame.flat and frame.flat[-1][0] == "`":  # backticks cannot span lines in what we accept
                self.close_flat()
            if not frame.flat and frame.closer == "`":
                self.close_frame()
            return i + 1
        if pair in ("&&", "||", "|&"):
            self.operator(pair)
            return i + 2
        if pair == "&>":
            end = i + 3 if text.startswith("&>>", i) else i + 2
            frame = self.stack[-1]
            self.end_word()
            redirect = _Word(redirect=True)
            redirect.parts.append(text[i:end])
            frame.words.append(redirect)
            return end
        if char == ";":
            end = i + 1
            while end < len(text) and text[end] in ";&":  # case terminators ;; ;& ;;&
                end += 1
            self.operator(";")
            return end
        self.operator(char)
        return i + 1

    def operator(self, operator: str) -> None:
        frame = self.stack[-1]
        self.end_word()
        _finish_command(frame, self.ctx)
        out = frame.out
        if operator == ";" and (not out or out[-1] == ";"):
            return
        out.append(operator)

    # -- substitutions -----------------------------------------------------------------------------------
    def open_frame(self, opener: str) -> None:
        closer = "`" if opener == "`" else ")"
        if len(self.stack) > _MAX_DEPTH:
            # Flatten deeper substitutions into the current frame: their commands still become segments (the
            # opener acts as a separator), but `$($($(...)))` cannot pile up a frame per character (memory).
            frame = self.stack[-1]
            self.operator("$(" if opener == "`" else opener)
            frame.flat.append((closer, frame.in_dq))
            frame.in_dq = False
            return
        self.stack.append(_Frame("$(" if opener == "`" else opener, closer))

    def close_flat(self) -> None:
        frame = self.stack[-1]
        _, frame.in_dq = frame.flat.pop()
        self.operator(")")

    def close_frame(self) -> None:
        inner = self.stack.pop()
        inner.word = None
        _finish_command(inner, self.ctx)
        while inner.out and inner.out[-1] == ";":
            inner.out.pop()
        parent = self.stack[-1]
        if parent.word is None:
            parent.word = _Word()
            parent.words.append(parent.word)
        parent.word.parts.append(_Sub(inner.opener, inner.out))
        parent.word.has_sub = True
        # The substitution's own pipeline is a command line too (`x=$(curl x|sh)` runs `curl x | sh`): an inner
        # line, charged to an allowance as re-parsed command strings are, so nested substitutions stay linear.
        ctx = self.ctx
        body = _render(inner.out, limit=ctx.substitution_budget) if ctx.substitution_budget else None
        if body is None:
            ctx.substitution_budget = 0  # the attempt walked up to the limit; later ones would walk it again
        elif body:
            ctx.substitution_budget -= len(body)
            ctx.inner.append(_DOUBLE_SPACE.sub(" ", body).strip(" ") if "  " in body else body.strip(" "))


def _decode_ansi_c_escape(text: str, j: int, out: list[str]) -> int:
    """Decode the escape starting at text[j] == '\\' into out; return the index after it."""
    code = text[j + 1]
    if code in "xuU":
        limit = {"x": 2, "u": 4, "U": 8}[code]
        end = j + 2
        while end < len(text) and end < j + 2 + limit and text[end] in "0123456789abcdefABCDEF":
            end += 1
        if end == j + 2:
            out.append("\\" + code)
        else:
            out.append(_decoded_char(int(text[j + 2 : end], 16)))
        return end
    if code in "01234567":
        end = j + 1
        while end < len(text) and end < j + 4 and text[end] in "01234567":
            end += 1
        out.append(_decoded_char(int(text[j + 1 : end], 8)))
        return end
    if code == "c" and j + 2 < len(text):
        out.append(" ")  # \cX is a control character
        return j + 3
    out.append(_ANSI_C_SIMPLE.get(code, code))
    return j + 2


def _decoded_char(value: int) -> str:
    if value < 0x20 or value == 0x7F:
        return " "
    if value >= 0x110000 or 0xD800 <= value <= 0xDFFF:
        return "\ufffd"
    return chr(value)


def _skip_wrapper_options(spec: _WrapperSpec, texts: list[str], start: int) -> int | None:
    """Index of the first word after the wrapper's options, or None when the wrapper runs no command."""
    j = start
    positional = spec.positional
    count = len(texts)
    while j < count:
        word = texts[j]
        if word == "--":
            return j + 1
        if word.startswith("--"):
            name, equals, _ = word[2:].partition("=")
            j += 2 if not equals and name in spec.long_with_arg else 1
            continue
        if word.startswith("-"):
            letters = word[1:]
            if any(letter in spec.mode_flags for letter in letters):
                return None
            j += 1
            for index, letter in enumerate(letters):
                if letter in spec.short_with_arg:
                    if index == len(letters) - 1:
                        j += 1
                    break
            continue
        if positional:
            positional -= 1
            j += 1
            continue
        break
    return j


def _finish_command(frame: _Frame, ctx: _Context) -> None:
    words = frame.words
    if words:
        frame.words = []
        frame.word = None
        if len(words) == 1 and len(words[0].parts) == 1 and not isinstance(words[0].parts[0], str):
            # A command that is only a substitution (`$(...)` runs its output): nothing to match but the
            # substitution, which has its own segments. Cheap, as `$($($(...)))` can nest as deep as it is long.
            frame.out.append(_Cmd(words[0].parts))
            return
        with_subs = words if any(word.has_sub for word in words) else None
        _emit_command([word.text() for word in words], [word.redirect for word in words], with_subs, frame.out, ctx)


def _emit_command(  # noqa: PLR0912, PLR0915 -- the steps below are in the order the shell applies them
    texts: list[str],
    redirects: list[bool] | None,
    words: list[_Word] | None,
    out: list[object],
    ctx: _Context,
) -> None:
    """Add the simple command's segment(s) to ctx and its normalized form to `out` (the frame's `whole`).

    `redirects` is None when no word is a redirection operator; `words` is None when no word holds a
    substitution (always on the fast paths), else they carry the words' parts.
    """
    first = texts[0]
    if (
        first not in _SPECIAL_COMMANDS
        and "=" not in first
        and not first.startswith("/")
        and (redirects is None or not redirects[0])
        and words is None
    ):
        # The common case: a plain command with nothing to strip, rewrite or re-parse.
        segment = " ".join(texts)
        ctx.add_segment(segment)
        out.append(segment)
        return
    count = len(texts)
    if redirects is None:
        redirects = [False] * count
    assignments: list[int] = []
    moved: list[int] = []
    reparse_from = shown_from = -1
    i = 0
    while i < count:
        if redirects[i]:  # `>/dev/null rm -rf /`: the redirection moves behind the command
            moved.append(i)
            if i + 1 < count:
                moved.append(i + 1)
            i += 2
            continue
        text = texts[i]
        if "=" in text and _ASSIGNMENT.match(text):
            assignments.append(i)
            i += 1
            continue
        name = _basename(text)
        if name in _KEYWORDS:
            i += 1
            continue
        spec = _WRAPPERS.get(name)
        if spec is None:
            break
        after = _skip_wrapper_options(spec, texts, i + 1)
        if after is None:
            break
        if name in _REPARSED_WRAPPERS:
            if reparse_from < 0:
                shown_from = i  # `eval`/`watch` change what runs: the segment keeps them, from the first one
            reparse_from = after
        i = after

    if i >= count:  # nothing but wrappers, assignments or redirections (`sudo -i`, `HISTFILE=`, `> log`)
        kept = list(range(count))
        assignments = []
    elif reparse_from >= 0:
        kept = list(range(shown_from, count)) + moved
    elif i == 0 and not moved:
        kept = list(range(count))
    else:
        kept = list(range(i, count)) + moved
    command_index = kept[0]
    command_text = texts[command_index]
    name = command_text
    keep_path_too = False
    if command_text.startswith("/") and not redirects[command_index]:
        directory, _, base = command_text.rpartition("/")
        if base:
            name = base
            keep_path_too = (directory or "/") not in _SYSTEM_BIN_DIRS

    segment_words = [texts[index] for index in kept]
    segment_words[0] = name
    segment = " ".join(segment_words)
    ctx.add_segment(segment)
    if keep_path_too:
        ctx.add_segment(" ".join(texts[index] for index in kept))
    if assignments:
        ctx.add_segment(" ".join(texts[index] for index in assignments))
    if 0 <= reparse_from < count:
        _run_words_later(texts, words, reparse_from, ctx, single=False)
    if name in _RUNS_COMMAND_STRINGS:
        kept_words = [words[index] for index in kept] if words is not None else None
        _queue_command_strings(name, segment_words, [redirects[index] for index in kept], kept_words, ctx)

    if words is None or not any(words[index].has_sub for index in kept):
        out.append(segment)
        return
    pieces: list[str | _Sub] = [name] if name != command_text else list(words[command_index].parts)
    for index in kept[1:]:
        pieces.append(" ")
        pieces.extend(words[index].parts)
    out.append(_Cmd(pieces))


def _queue_command_strings(
    name: str, texts: list[str], redirects: list[bool], words: list[_Word] | None, ctx: _Context
) -> None:
    """Queue the command strings this command hands to a shell (`sh -c X`, `bash <<< X`, `su -c X`)."""
    if name in _SHELLS:
        for index in range(1, len(texts) - 1):
            arg = texts[index]
            if len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and "c" in arg and not redirects[index]:
                _run_words_later(texts, words, index + 1, ctx, single=True)
                break
        for index in range(1, len(texts) - 1):
            if redirects[index] and texts[index] == "<<<":
                _run_words_later(texts, words, index + 1, ctx, single=True)
    else:  # su, runuser, script
        for index in range(1, len(texts)):
            arg = texts[index]
            if arg in ("-c", "--command") and index + 1 < len(texts):
                _run_words_later(texts, words, index + 1, ctx, single=True)
            elif arg.startswith("--command="):
                ctx.run_later(arg.partition("=")[2])


def _run_words_later(texts: list[str], words: list[_Word] | None, start: int, ctx: _Context, *, single: bool) -> None:
    """Queue word `start` (or all words from it, space-joined) as a command string, substitutions included."""
    stop = start + 1 if single else len(texts)
    if words is None:
        ctx.run_later(" ".join(texts[start:stop]))
        return
    pieces: list[str] = []
    for word in words[start:stop]:
        if pieces:
            pieces.append(" ")
        for part in word.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            # Rendering is charged to the budget first, so nested `sh -c "$(sh -c ...)"` stays linear.
            rendered = _render(part.tokens, limit=ctx.budget)
            if rendered is None:
                return
            ctx.budget -= len(rendered)
            pieces.extend((part.opener, rendered, ")"))
    ctx.run_later("".join(pieces))


def _basename(word: str) -> str:
    if word.startswith("/"):
        base = word.rpartition("/")[2]
        return base or word
    return word


def _render_line(tokens: list[object], *, plain: bool = False) -> str:
    """`plain`: the fast lexers produce no substitutions, so every token is already a string."""
    simple = plain or all(type(token) is str for token in tokens)
    whole = " ".join(tokens) if simple else _render(tokens) or ""  # type: ignore[arg-type]
    if "  " in whole:
        whole = _DOUBLE_SPACE.sub(" ", whole)
    return whole.strip(" ")


def _render(tokens: list[object], limit: int | None = None) -> str | None:
    """Flatten the nested output iteratively (substitutions can nest as deep as the text is long).

    Token lists (a frame's output) are joined with spaces, a _Cmd's pieces are concatenated, a _Sub is wrapped in
    its opener and `)`. With a limit, give up (None) as soon as the output would be longer.
    """
    out: list[str] = []
    size = 0
    iterators: list[Iterator[object]] = [iter(tokens)]
    spaced = [True]  # this level's items are separated by spaces
    first = [True]
    closers = [""]
    while iterators:
        item = next(iterators[-1], None)
        if item is None:
            iterators.pop()
            spaced.pop()
            first.pop()
            out.append(closers.pop())
            continue
        if spaced[-1]:
            if first[-1]:
                first[-1] = False
            else:
                out.append(" ")
        if isinstance(item, str):
            out.append(item)
            if limit is not None:
                size += len(item) + 1
                if size > limit:
                    return None
            continue
        if isinstance(item, _Sub):
            out.append(item.opener)
            iterators.append(iter(item.tokens))
            spaced.append(True)
            closers.append(")")
        else:
            iterators.append(iter(item.pieces))  # type: ignore[attr-defined]
            spaced.append(False)
            closers.append("")
        first.append(True)
    return "".join(out)
