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
lets it escape. Variables are expanded only where evasion uses them: ``$IFS`` (a word break), ``$@``/``$*`` (empty
in an interactive shell), a command name spelled with variables set earlier on the line (``a=cu; b=rl; $a$b``),
and a word of nothing but unset lower-case variables before a command (``$u curl``), which is no word at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sessionguard.session.shell_commands import (
    DOUBLE_SPACE,
    Context,
    Frame,
    Sub,
    Word,
    emit_command,
    finish_command,
    render,
    render_line,
)

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
_MAX_EXPANDED_LINE = 8192  # longer lines are not rebuilt with their arguments expanded (a paste, not a command)
_REDIRECTIONS = ("<<<", "<<-", "<<", "<>", "<&", ">>", ">|", ">&", "<", ">")  # longest first


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
    ctx = Context(budget=_RECURSION_FACTOR * len(text) + _RECURSION_FLOOR)
    whole = _parse_line(text, ctx)
    while ctx.queue:
        ctx.inner.append(_parse_line(ctx.queue.popleft(), ctx))
    if ctx.expanded:
        _add_expanded_lines(whole, ctx.expanded, ctx)
    if not ctx.inner:
        return NormalizedCommand(whole, tuple(ctx.segments))
    inner = tuple(line for line in dict.fromkeys(ctx.inner) if line and line != whole)
    return NormalizedCommand(whole, tuple(ctx.segments), inner)


def _add_expanded_lines(whole: str, expansions: dict[str, str], ctx: Context) -> None:
    """The line (and each command string it runs) again with its commands' arguments expanded (shell_paths: each
    segment as typed -> expanded), for rules that match a whole line: `echo '… NOPASSWD:ALL' | sudo tee -a
    /etc/sudoe*`."""
    for line in [whole, *ctx.inner]:
        if len(line) > _MAX_EXPANDED_LINE:
            continue
        expanded = line
        for segment, replacement in expansions.items():
            expanded = expanded.replace(segment, replacement, 1)
        if expanded != line:
            ctx.inner.append(expanded)


def _parse_line(text: str, ctx: Context) -> str:
    # Three lexers, fastest first; they agree on every input they accept (a property test holds them to it).
    plain_dollars = "$" not in text or _SPECIAL_DOLLAR.search(text) is None
    if plain_dollars and text.isascii() and _UNQUOTED_BLOCKERS.search(text) is None:
        return _parse_unquoted_line(text, ctx)
    if plain_dollars and _SIMPLE_BLOCKERS.search(text) is None:
        whole = _parse_simple_line(text, ctx)
        if whole is not None:
            return whole
    return _Lexer(text, ctx).run()


def _parse_unquoted_line(text: str, ctx: Context) -> str:
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
                    emit_command(texts, redirects, None, out, ctx)
                    texts = []
                    redirects = []
                operator = ";" if first == ";" else token
                if operator != ";" or (out and out[-1] != ";"):
                    out.append(operator)
            else:
                texts.append(token)
                redirects.append(">" in token or "<" in token)
    if texts:
        emit_command(texts, redirects, None, out, ctx)
    return render_line(out, plain=True)


def _parse_simple_line(text: str, ctx: Context) -> str | None:  # noqa: PLR0912 -- one branch per token kind
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
                emit_command(texts, redirects, None, out, ctx)
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
        emit_command(texts, redirects, None, out, ctx)
    return render_line(out, plain=True)


class _Lexer:
    __slots__ = ("ctx", "found", "stack", "text")

    def __init__(self, text: str, ctx: Context) -> None:
        self.text = text
        self.ctx = ctx
        self.stack = [Frame("", "")]
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
        finish_command(top, self.ctx)
        return render_line(top.out)

    # -- words -------------------------------------------------------------------------------------------
    def start_word(self) -> None:
        """Open a word for a quoting construct (an empty `''` is still a word)."""
        frame = self.stack[-1]
        if frame.word is None:
            frame.word = Word()
            frame.words.append(frame.word)
        frame.word.quoted = True

    def add_text(self, chunk: str) -> None:
        frame = self.stack[-1]
        if frame.word is None:
            frame.word = Word()
            frame.words.append(frame.word)
        # Chunks are joined once, in Word.text(): `parts[-1] += chunk` would copy the word on every quote of
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
        redirect = Word(redirect=True)
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
            redirect = Word(redirect=True)
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
        finish_command(frame, self.ctx)
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
        self.stack.append(Frame("$(" if opener == "`" else opener, closer))

    def close_flat(self) -> None:
        frame = self.stack[-1]
        _, frame.in_dq = frame.flat.pop()
        self.operator(")")

    def close_frame(self) -> None:
        inner = self.stack.pop()
        inner.word = None
        finish_command(inner, self.ctx)
        while inner.out and inner.out[-1] == ";":
            inner.out.pop()
        parent = self.stack[-1]
        if parent.word is None:
            parent.word = Word()
            parent.words.append(parent.word)
        parent.word.parts.append(Sub(inner.opener, inner.out))
        parent.word.has_sub = True
        # The substitution's own pipeline is a command line too (`x=$(curl x|sh)` runs `curl x | sh`): an inner
        # line, charged to an allowance as re-parsed command strings are, so nested substitutions stay linear.
        ctx = self.ctx
        body = render(inner.out, limit=ctx.substitution_budget) if ctx.substitution_budget else None
        if body is None:
            ctx.substitution_budget = 0  # the attempt walked up to the limit; later ones would walk it again
        elif body:
            ctx.substitution_budget -= len(body)
            ctx.inner.append(DOUBLE_SPACE.sub(" ", body).strip(" ") if "  " in body else body.strip(" "))


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
