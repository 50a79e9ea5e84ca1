"""PowerShell and cmd command normalization, so trivial obfuscation does not evade the Windows rules.

The same shape as `shell.normalize_command` gives for bash, so the rule pack scans it the same way:

- ``segments``: every pipeline element and statement, lower-case (both shells ignore case), its command name
  without directory or .exe and with aliases expanded (``IEX`` → ``invoke-expression``, ``C:\\Windows\\System32\\
  cmd.exe`` → ``cmd``), strings unquoted, backtick escapes (PowerShell) and carets (cmd) resolved, string
  concatenation (``'Inv'+'oke-Ex'+'pression'``), ``-f`` formatting (``'{1}{0}' -f 'ex','i'``) and ``[char]105``
  folded, powershell.exe options written in full (``-nop -w 1 -ep b -enc`` → ``-noprofile -windowstyle hidden
  -executionpolicy bypass -encodedcommand``), and aliases the command itself defines (``sal x iex; x ...``) applied.
- ``whole``: the whole input rebuilt from the same words, statements joined by `` ; `` and pipes by `` | ``.
- ``inner``: code the command runs from a string, read again and normalized: ``Invoke-Expression '...'``,
  ``powershell -Command ...``, ``-EncodedCommand`` (base64 of UTF-16LE, decoded), ``[Convert]::FromBase64String``,
  ``cmd /c ...``, ``Start-Process x -ArgumentList ...``, ``[ScriptBlock]::Create('...')``, ``wmic process call
  create``, ``schtasks /tr``; their segments join ``segments``.

Linear time and never raises: the lexer is linear (powershell_syntax.py), and re-reading strings is paid from a
budget proportional to the input, with nesting bounded.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

from sessionguard.session.powershell_commands import (
    command_name,
    decode_base64_script,
    powershell_option,
    powershell_option_value,
)
from sessionguard.session.powershell_syntax import Token, TokenKind, tokenize
from sessionguard.session.shell import NormalizedCommand

__all__ = ["normalize_cmd", "normalize_powershell"]

Dialect = Literal["powershell", "cmd"]

_RECURSION_FACTOR: Final = 2
_RECURSION_FLOOR: Final = 64 * 1024
_MAX_DEPTH: Final = 8
_MAX_FOLDED: Final = 4096
_SEPARATORS: Final = frozenset({";", "\n", "|", "&&", "||"})
_OPENERS: Final = frozenset({"(", "$(", "@(", "{", "@{"})
_CLOSERS: Final = frozenset({")", "}"})
_FORMAT_ITEM: Final = re.compile(r"\{(\d{1,3})(?:,[-\d]{1,4})?(?::[^{}]{0,32})?\}")
_CHAR_CAST: Final = re.compile(r"\[char\]\(?(\d{1,7})\)?", re.IGNORECASE)
_POWERSHELLS: Final = frozenset({"powershell", "pwsh", "powershell_ise"})
_CODE_METHODS: Final = ("::create", ".newscriptblock", ".invokescript", ".addscript")
_BASE64_METHODS: Final = ("frombase64string",)
# cmd: quoted strings, operators, and runs of anything else; carets escape the next character outside quotes.
_CMD_TOKEN: Final = re.compile(r'"[^"\n]*+"?|&&|\|\||[&|()<>\n]|[ \t,;=]++|(?:[^"&|()<> \t,;=\n^]|\^.?)++', re.DOTALL)


@dataclass
class _Context:
    budget: int
    queue: deque[tuple[Dialect, str, int]] = field(default_factory=deque)
    segments: list[str] = field(default_factory=list)
    inner: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    source: str = ""  # the text being read

    def read_again(self, dialect: Dialect, text: str, depth: int) -> None:
        """Queue a command string to normalize, paid from the budget so nesting cannot make the work quadratic."""
        if depth < _MAX_DEPTH and text.strip() and len(text) <= self.budget:
            self.budget -= len(text)
            self.queue.append((dialect, text, depth + 1))


def normalize_powershell(text: str) -> NormalizedCommand:
    """Normalize a PowerShell input (possibly several lines) for the Windows rules. Never raises."""
    return _normalize("powershell", text)


def normalize_cmd(text: str) -> NormalizedCommand:
    """Normalize a cmd.exe command line for the Windows rules. Never raises."""
    return _normalize("cmd", text)


def _normalize(dialect: Dialect, text: str) -> NormalizedCommand:
    try:
        if not text.isascii():
            text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        ctx = _Context(budget=_RECURSION_FACTOR * len(text) + _RECURSION_FLOOR)
        whole = _read(dialect, text, 0, ctx)
        while ctx.queue:
            ctx.inner.append(_read(*ctx.queue.popleft(), ctx))
        inner = tuple(line for line in dict.fromkeys(ctx.inner) if line and line != whole)
        return NormalizedCommand(whole, tuple(dict.fromkeys(ctx.segments)), inner)
    except Exception:  # a normalizer bug must cost precision, never the alert pipeline (the text is hostile)
        flat = " ".join(str(text).lower().split())
        return NormalizedCommand(whole=flat, segments=(flat,) if flat else ())


def _read(dialect: Dialect, text: str, depth: int, ctx: _Context) -> str:
    """Normalize one input: append its segments to ctx and return its whole line."""
    tokens = _fold(tokenize(text).tokens) if dialect == "powershell" else _cmd_tokens(text)
    ctx.source = text
    rendered = [token.text.lower() for token in tokens]
    # The statement being read in each open bracket: its token indices, and whether the bracket holds a command
    # (a statement, a script block) or a method's arguments (`.DownloadString('...')`).
    frames: list[tuple[list[int], bool]] = [([], True)]
    for index, token in enumerate(tokens):
        text_ = token.text
        if token.kind == "newline" or (token.kind == "operator" and text_ in _SEPARATORS):
            _statement(frames[-1], tokens, rendered, depth, ctx)
            frames[-1] = ([], frames[-1][1])
            rendered[index] = ";" if text_ == "\n" else text_
        elif token.kind == "operator" and text_ in _OPENERS:
            call = text_ == "(" and token.glued and index > 0 and _is_method(tokens[index - 1])
            frames[-1][0].append(index)
            frames.append(([], not call))
        elif token.kind == "operator" and text_ in _CLOSERS and len(frames) > 1:
            _statement(frames.pop(), tokens, rendered, depth, ctx)
            frames[-1][0].append(index)
        else:
            frames[-1][0].append(index)
    for frame in reversed(frames):
        _statement(frame, tokens, rendered, depth, ctx)
    _queue_method_code(tokens, depth, ctx)
    line = " ".join(" ".join(rendered).split())
    return line.strip(" ;")


def _statement(
    frame: tuple[list[int], bool], tokens: list[Token], rendered: list[str], depth: int, ctx: _Context
) -> None:
    """One simple statement: its words normalized in `rendered`, its segment added to ctx, and the code strings it
    runs queued. Brackets inside it are their own statements (their opener stays in the frame, in place)."""
    indices, is_command = frame
    words_at = [index for index in indices if tokens[index].kind in {"word", "string"}]
    if not words_at:
        return
    _remember_variable([rendered[index] for index in indices], ctx)
    assigned = start = _assigned_command(indices, tokens)
    while start < len(indices) - 1 and tokens[indices[start]].text in {"&", "."}:  # call and dot-source operators
        start += 1
    first = indices[start]
    called = start > assigned  # a string after & or . is a command too
    if is_command and (tokens[first].kind == "word" or (called and tokens[first].kind == "string")):
        name = tokens[first].text.lower()
        command = command_name(ctx.aliases.get(name, name))
        rendered[first] = command
        if _runs_from_elsewhere(name):
            # Also keep the path: a program run from a public or a temp folder is itself of interest.
            words = " ".join(rendered[index] for index in indices[start + 1 :])
            ctx.segments.append(" ".join(f"{name} {words}".split()))
        argument_at = [index for index in indices[start + 1 :] if tokens[index].kind in {"word", "string"}]
        arguments = [tokens[index] for index in argument_at]
        if command in {"set-alias", "new-alias"}:
            _remember_alias([rendered[index] for index in argument_at], ctx)
        if command in _POWERSHELLS:
            for index, word in zip(argument_at, _powershell_arguments(arguments, depth, ctx), strict=True):
                rendered[index] = word
        else:
            _queue_code(command, arguments, depth, ctx)
    segment = " ".join(" ".join(rendered[index] for index in indices[start:]).split())
    if segment:
        ctx.segments.append(segment)


def _assigned_command(indices: list[int], tokens: list[Token]) -> int:
    """Where the command starts in a statement that assigns its result (`$ou = Get-DomainOU -Raw x`): after the
    `=`. 0 for any other statement. `$x=Get-Thing` written without blanks is one word, split here."""
    if len(indices) < 2 or not tokens[indices[0]].text.startswith("$"):
        return 0
    first = tokens[indices[0]].text
    if first.endswith("=") or (len(indices) > 2 and tokens[indices[1]].text == "="):
        return 1 if first.endswith("=") else 2
    command = first.partition("=")[2]
    if command and tokens[indices[0]].kind == "word":
        tokens[indices[0]] = Token("word", command, tokens[indices[0]].glued, at=tokens[indices[0]].at)
    return 0


def _runs_from_elsewhere(name: str) -> bool:
    """Whether a command word is a path outside Windows' own and the program folders (C:/Users/Public/x.exe,
    $env:TEMP/x.ps1, ./x.exe, with backslashes)."""
    if "\\" not in name and "/" not in name:
        return False
    return not name.startswith(_SYSTEM_DIRECTORIES)


_SYSTEM_DIRECTORIES: Final = (
    "c:\\windows\\system32\\",
    "c:\\windows\\syswow64\\",
    "%windir%\\system32\\",
    "%systemroot%\\system32\\",
    "$env:windir\\system32\\",
    "$env:systemroot\\system32\\",
    "c:\\windows\\microsoft.net\\",
    "c:\\program files\\",
    "c:\\program files (x86)\\",
)


def _is_method(token: Token) -> bool:
    """Whether parentheses glued to this token are a method's arguments (`$wc.DownloadString(`, `[IO.File]::Open(`,
    `(...).Invoke(`) rather than a command's bracketed argument (`iex(iwr ...)`)."""
    return token.text == ")" or (token.kind == "word" and ("." in token.text or "::" in token.text))


_ASSIGNMENT: Final = re.compile(r"(\$[\w:]{1,128}+) ?= ?(.++)")


def _remember_alias(arguments: list[str], ctx: _Context) -> None:
    """An alias the input defines (`sal x iex`), applied to the statements after it."""
    plain = [word for word in arguments if not word.startswith("-")]
    if len(plain) >= 2 and len(ctx.aliases) < 64:
        ctx.aliases[plain[0]] = plain[1]


def _remember_variable(words: list[str], ctx: _Context) -> None:
    """A string the input assigns to a variable (`$c = 'net user'`), read as code if the input runs it (`iex $c`)."""
    if words and words[0].startswith("$") and len(ctx.variables) < 64:
        assignment = _ASSIGNMENT.fullmatch(" ".join(words))
        if assignment is not None:
            ctx.variables[assignment.group(1)] = assignment.group(2)


def _powershell_arguments(arguments: list[Token], depth: int, ctx: _Context) -> list[str]:
    """powershell.exe's arguments, one for one, with options and their values in full; the script it is told to
    run (after -Command, or from the first argument that is not an option) is read again."""
    out: list[str] = []
    index = 0
    while index < len(arguments):
        word = arguments[index].text
        option = powershell_option(word) if arguments[index].kind == "word" else None
        if option is None or option == "-command":
            rest = arguments[index + 1 :] if option else arguments[index:]
            if rest:
                ctx.read_again("powershell", _script_text(rest, ctx), depth)
            out += [option] if option else []
            out += [token.text.lower() for token in rest]
            break
        out.append(option)
        index += 1
        if option in _OPTIONS_WITH_VALUES and index < len(arguments):
            value = arguments[index].text
            index += 1
            if option == "-encodedcommand":
                decoded = decode_base64_script(value)
                if decoded is not None:
                    ctx.read_again("powershell", decoded, depth)
                out.append(value.lower())
            else:
                out.append(powershell_option_value(option, value))
    return out


def _script_text(rest: list[Token], ctx: _Context) -> str:
    """The script a command is given: one quoted string is the script itself; otherwise the source from the first
    word to the end of its line (`powershell -c iex(iwr http://x)` runs all of `iex(iwr http://x)`)."""
    if len(rest) == 1 and rest[0].kind == "string":
        return rest[0].text
    end = ctx.source.find("\n", rest[0].at)
    return ctx.source[rest[0].at : end if end >= 0 else len(ctx.source)]


_OPTIONS_WITH_VALUES: Final = frozenset({"-encodedcommand", "-windowstyle", "-executionpolicy", "-file", "-version"})


_START_PROCESS_SWITCHES: Final = frozenset(
    {"-wait", "-nonewwindow", "-passthru", "-usenewenvironment", "-loaduserprofile"}
)


def _queue_code(command: str, arguments: list[Token], depth: int, ctx: _Context) -> None:
    """Queue the strings this command runs as code."""
    words = [token.text for token in arguments]
    lowered = [word.lower() for word in words]
    if command == "invoke-expression":
        for token in arguments:
            if token.kind == "string":
                ctx.read_again("powershell", token.text, depth)
            elif token.text.lower() in ctx.variables:
                ctx.read_again("powershell", ctx.variables[token.text.lower()], depth)
    elif command == "cmd":
        for index, word in enumerate(lowered):
            if word in {"/c", "/k", "/r"} and index + 1 < len(arguments):
                ctx.read_again("cmd", _script_text(arguments[index + 1 :], ctx), depth)
                break
            if word.startswith(("/c", "/k")) and len(word) > 2 and arguments[index].kind == "word":
                ctx.read_again("cmd", _script_text(arguments[index:], ctx)[2:], depth)
                break
    elif command == "start-process":
        ctx.read_again("powershell", " ".join(_start_process_command(words)), depth)
    elif command in {"wmic", "schtasks", "invoke-wmimethod", "invoke-cimmethod"}:
        for index, word in enumerate(lowered):
            if word in {"create", "/tr", "-argumentlist", "commandline"} and index + 1 < len(arguments):
                ctx.read_again("cmd", words[index + 1], depth)


def _start_process_command(words: list[str]) -> list[str]:
    """The command line Start-Process runs: -FilePath (or the first positional argument) and -ArgumentList (or the
    second); other options and their values are left out."""
    program: list[str] = []
    arguments: list[str] = []
    index = 0
    while index < len(words):
        word, lowered = words[index], words[index].lower()
        index += 1
        if lowered.startswith("-") and len(lowered) > 1:
            if lowered in _START_PROCESS_SWITCHES or index >= len(words):
                continue
            value = words[index]
            index += 1
            if "-filepath".startswith(lowered) or lowered == "-path":
                program.append(value)
            elif "-argumentlist".startswith(lowered) or lowered == "-args":
                arguments.append(value)
        elif not program:
            program.append(word)
        else:
            arguments.append(word)
    return program + arguments


def _queue_method_code(tokens: list[Token], depth: int, ctx: _Context) -> None:
    """Strings handed to [ScriptBlock]::Create and friends (code), or to [Convert]::FromBase64String (decoded)."""
    for index, token in enumerate(tokens[:-1]):
        if token.kind != "word":
            continue
        lowered = token.text.lower()
        following = tokens[index + 1]
        if following.text == "(" and index + 2 < len(tokens):
            following = tokens[index + 2]
        if following.kind != "string":
            continue
        if lowered.endswith(_CODE_METHODS) and ("scriptblock" in lowered or not lowered.endswith("::create")):
            ctx.read_again("powershell", following.text, depth)
        elif lowered.endswith(_BASE64_METHODS):
            decoded = decode_base64_script(following.text)
            if decoded is not None:
                ctx.read_again("powershell", decoded, depth)


# --- constant folding ----------------------------------------------------------------------------------------


def _fold(tokens: list[Token]) -> list[Token]:
    """Fold what PowerShell computes from constants: glued pieces (`i'e'x`), `'a'+'b'`, `('a')`, `[char]105`, and
    `'{1}{0}' -f 'ex','i'`. One pass with a small look-back; every token is handled a bounded number of times."""
    out: list[Token] = []
    for token in tokens:
        if token.kind != "string" and token.text != ",":
            _format_at_end(out)  # the format's argument list ended before this token
        out.append(_folded(token, out))
    _format_at_end(out)
    return out


def _folded(token: Token, out: list[Token]) -> Token:
    """The token to append after `out`, with what it folds into taken off `out`."""
    if token.kind == "word" and "[char]" in token.text.lower():
        token = _chars(token)
    # Folding stops at _MAX_FOLDED characters: each fold copies the text so far, and `'a'+'a'+...` a megabyte long
    # would make that quadratic. Names and payloads built this way are short; the rest stays as separate pieces.
    glued = out and token.glued and token.kind in {"word", "string"} and out[-1].kind in {"word", "string"}
    if glued and len(out[-1].text) < _MAX_FOLDED:
        previous = out.pop()
        return Token(previous.kind, previous.text + token.text, previous.glued, previous.raw)
    concatenated = token.kind == "string" and len(out) >= 2 and out[-1].text == "+" and out[-2].kind == "string"
    if concatenated and len(out[-2].text) < _MAX_FOLDED:
        out.pop()
        previous = out.pop()
        return Token("string", previous.text + token.text, previous.glued)
    is_bracketed_string = token.text == ")" and len(out) >= 2 and out[-1].kind == "string" and out[-2].text == "("
    if is_bracketed_string and not (out[-2].glued and len(out) >= 3 and _is_method(out[-3])):
        string = out.pop()
        out.pop()
        return Token("string", string.text, False)
    return token


def _chars(token: Token) -> Token:
    """`[char]105` is the string 'i'; inside a longer word the cast is replaced in place."""
    text = _CHAR_CAST.sub(lambda match: _char(match.group(1)), token.text)
    kind: TokenKind = "string" if _CHAR_CAST.fullmatch(token.text) else token.kind
    return Token(kind, text, token.glued, token.raw, token.at)


def _char(number: str) -> str:
    value = int(number)
    return chr(value) if value < 0x110000 and chr(value).isprintable() else ""


def _format_at_end(out: list[Token]) -> None:
    """`'{0}{1}' -f 'a','b'` at the end of `out` (format string, -f, then strings separated by commas) → 'ab'."""
    if len(out) < 3 or out[-1].kind != "string":
        return
    arguments: list[str] = []
    index = len(out) - 1
    while index >= 0 and out[index].kind == "string":
        arguments.append(out[index].text)
        if index >= 1 and out[index - 1].text == ",":
            index -= 2
            continue
        break
    index -= 1
    if index < 1 or out[index].text.lower() != "-f" or out[index - 1].kind != "string":
        return
    arguments.reverse()
    template = out[index - 1]

    def item(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return arguments[number] if number < len(arguments) else match.group()

    del out[index - 1 :]
    out.append(Token("string", _FORMAT_ITEM.sub(item, template.text), template.glued))


# --- cmd -----------------------------------------------------------------------------------------------------


def _cmd_tokens(text: str) -> list[Token]:
    """cmd.exe's tokens: carets removed outside quotes, quotes removed, operators apart."""
    tokens: list[Token] = []
    glued = False
    for match in _CMD_TOKEN.finditer(text):
        piece = match.group()
        if piece[0] in " \t,;=":
            glued = False
            continue
        at = match.start()
        if piece == "\n" or piece in {"&", "&&", "||", "|", "(", ")"}:
            tokens.append(Token("operator", "\n" if piece == "\n" else ";" if piece == "&" else piece, at=at))
        elif piece in {"<", ">"}:
            tokens.append(Token("word", piece, at=at))
        elif piece[0] == '"':
            tokens.append(Token("string", piece.strip('"'), glued, at=at))
        else:
            tokens.append(Token("word", _uncaret(piece), glued, at=at))
        glued = True
    return _fold(tokens)


def _uncaret(word: str) -> str:
    if "^" not in word:
        return word
    out: list[str] = []
    index = 0
    while index < len(word):
        if word[index] == "^" and index + 1 < len(word):
            index += 1
        out.append(word[index])
        index += 1
    return "".join(out)
