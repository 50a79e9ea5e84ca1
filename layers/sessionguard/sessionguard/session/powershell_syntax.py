"""A small PowerShell lexer: tokens for normalization (`powershell`) and whether an input is complete (`windows`).

PowerShell reads an input line by line at the console's `>> ` prompt until it is complete: brackets closed
(`{`, `(`, `@(`, `$(`, `@{`), strings and here-strings closed, block comments closed, and no trailing pipe or
line-continuation backtick. The transcript then writes the whole input at once, its later lines bare, so knowing
where an input ends tells the transcript's input lines from the output that follows (windows.py).

The person in the session controls the text: the lexer never raises and is linear. Its regexes have only
possessive or bounded repetitions, strings and comments are closed with `str.find`, and every step consumes at
least one character. It reads the typographic quotes and dashes PowerShell accepts (U+2018, U+2019, U+201C,
U+201D, en and em dashes) as their ASCII forms, since an attacker may type them to dodge a rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = ["LexResult", "Token", "TokenKind", "input_is_complete", "tokenize"]

TokenKind = Literal["word", "string", "operator", "newline"]

# PowerShell's tokenizer treats these as ' " and - (CharExtensions.IsSingleQuote / IsDoubleQuote / IsDash).
_TYPOGRAPHIC: Final = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
    }
)
_TOKEN: Final = re.compile(
    r"(?P<blank>[ \t\f\v\xa0]++|`\r?\n)"  # a backtick before the line end continues the line
    r"|(?P<newline>\r?\n)"
    r"|(?P<block_comment><\#)"
    r"|(?P<comment>\#[^\n]*+)"
    r"|(?P<here>@['\"][ \t]*+\r?\n)"
    r"|(?P<quote>['\"])"
    # `+` joins strings (`'a'+'b'`) but is text at the start of a native argument (`attrib +h +s`).
    r"|(?P<operator>&&|\|\||@\(|\$\(|@\{|[;|&(){},]|\+(?!\w))"
    r"|(?P<word>(?:[^\s'\"`;|&(){},+#]|`.|(?<=[^\s;|&(){},])\#|\+(?=\w))++)"
    r"|(?P<tick>`)",
    re.DOTALL,
)
_SQ_BODY: Final = re.compile(r"(?:[^']++|'')*+")
_DQ_BODY: Final = re.compile(r'(?:[^"`]++|`.|"")*+', re.DOTALL)
_DQ_PIECES: Final = re.compile(r'[^"`]++|`.|""|`$', re.DOTALL)
# Backtick escapes of expandable strings (about_Special_Characters); any other escaped character is itself.
_ESCAPES: Final = {"0": " ", "a": "", "b": "", "e": "", "f": " ", "n": "\n", "r": " ", "t": " ", "v": " "}
_OPENERS: Final = {"(": ")", "@(": ")", "$(": ")", "@{": "}", "{": "}"}
_MAX_NESTING: Final = 256


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # a word or string's value (quotes removed, escapes resolved); an operator itself
    glued: bool = False  # no blank between this token and the previous one (`'Inv''oke'`, `i'e'x`)
    raw: str = ""  # for an expandable string: its text between the quotes, escapes unresolved
    at: int = 0  # where the token starts in the text


@dataclass
class LexResult:
    """Tokens so far and the state at the end of the text. `resume` is where lexing stopped: the end of the text,
    or the start of a string, here-string or block comment still open, so that `tokenize(longer, previous)` goes
    on from there when the input grows by a line (each line of a multi-line input is lexed once)."""

    tokens: list[Token] = field(default_factory=list)
    closers: list[str] = field(default_factory=list)
    unterminated: bool = False  # a string, here-string or block comment is still open
    trailing_continuation: bool = False  # the text ends in a pipe or a line-continuation backtick
    resume: int = 0
    glued: bool = False

    @property
    def complete(self) -> bool:
        return not (self.closers or self.unterminated or self.trailing_continuation)


def tokenize(text: str, previous: LexResult | None = None) -> LexResult:
    """Tokens of a PowerShell input, and whether it is still open. With `previous`, the result of lexing a prefix
    of `text`, only the rest is lexed. Never raises; linear in what it lexes."""
    text = text.translate(_TYPOGRAPHIC)
    result = previous if previous is not None else LexResult()
    result.unterminated = result.trailing_continuation = False
    position, end = result.resume, len(text)
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:  # cannot happen (every character starts some alternative); stay linear anyway
            position += 1
            continue
        kind = match.lastgroup
        if kind in {"blank", "comment"}:
            result.glued = False
            position = match.end()
            continue
        stop = _read(text, match, result)
        if stop < 0:
            result.unterminated = True
            break
        result.glued = True
        position = stop
    result.resume = min(position, end)
    tokens = result.tokens
    if tokens and tokens[-1].kind == "operator" and tokens[-1].text == "|":
        result.trailing_continuation = True
    return result


def _read(text: str, match: re.Match[str], result: LexResult) -> int:
    """Append the token `match` starts; the index after it, or -1 when it opens something not closed yet."""
    kind, stop, glued, tokens = match.lastgroup, match.end(), result.glued, result.tokens
    at = match.start()
    if kind == "newline":
        tokens.append(Token("newline", "\n", at=at))
    elif kind == "block_comment":
        close = text.find("#>", stop)
        return close + 2 if close >= 0 else -1
    elif kind == "here":
        quote = match.group()[1]
        close = text.find("\n" + quote + "@", stop - 1)
        if close < 0:
            return -1
        body = text[stop:close].removesuffix("\r")
        expandable = quote == '"'
        value = _expand(body) if expandable else body
        tokens.append(Token("string", value, glued, body if expandable else "", at))
        return close + 3
    elif kind == "quote":
        return _string(text, stop, match.group(), tokens, glued)
    elif kind == "operator":
        operator = match.group()
        closers = result.closers
        if operator in _OPENERS:
            if len(closers) < _MAX_NESTING:
                closers.append(_OPENERS[operator])
        elif operator in ")}" and closers and closers[-1] == operator:
            closers.pop()
        tokens.append(Token("operator", operator, glued, at=at))
    elif kind == "word":
        tokens.append(Token("word", _unescape_word(match.group()), glued, at=at))
    else:  # a backtick at the very end: continue on the next line
        result.trailing_continuation = True
    return stop


def input_is_complete(text: str) -> bool:
    """Whether PowerShell would run this input as it is, rather than ask for more at `>> `."""
    if not text.strip():
        return True
    if not any(char in text for char in "{(\"'`|@<\u2018\u2019\u201a\u201b\u201c\u201d\u201e"):
        return True  # the common one-line command: nothing that can stay open
    return tokenize(text).complete


def _string(text: str, start: int, quote: str, tokens: list[Token], glued: bool) -> int:
    """Read a quoted string whose opening quote ends at `start`; append it; return the index after it, -1 when it
    is not closed. In single quotes '' is a quote; in double quotes "" and `" are, and backtick escapes apply.
    One C-level match finds the end either way."""
    body = (_SQ_BODY if quote == "'" else _DQ_BODY).match(text, start)
    close = body.end() if body is not None else start
    if close >= len(text) or text[close] != quote:
        return -1
    raw = text[start:close]
    if quote == "'":
        tokens.append(Token("string", raw.replace("''", "'"), glued, at=start - 1))
    else:
        tokens.append(Token("string", _expand(raw), glued, raw, start - 1))
    return close + 1


def _expand(raw: str) -> str:
    """An expandable string's text with backtick escapes and doubled quotes resolved (variables are kept)."""
    if "`" not in raw and '""' not in raw:
        return raw
    out: list[str] = []
    for match in _DQ_PIECES.finditer(raw):
        piece = match.group()
        if piece[0] == "`" and len(piece) == 2:
            out.append(_ESCAPES.get(piece[1], piece[1]))
        elif piece == '""':
            out.append('"')
        elif piece != "`":
            out.append(piece)
    return "".join(out)


def _unescape_word(word: str) -> str:
    """A bare word with its backtick escapes resolved: outside strings a backtick makes the next character literal
    (`i`e`x` is iex); `n and friends mean nothing special there."""
    if "`" not in word:
        return word
    out: list[str] = []
    position = 0
    while True:
        tick = word.find("`", position)
        if tick < 0:
            out.append(word[position:])
            return "".join(out)
        out.append(word[position:tick])
        position = tick + 1  # the escaped character is copied with the next stretch
        if position >= len(word):
            return "".join(out)
        out.append(word[position])
        position += 1
