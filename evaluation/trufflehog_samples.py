"""Reproduce trufflehog's detector test samples as data: evaluation/corpus/trufflehog/samples.jsonl.

trufflehog (AGPL-3.0) tests each detector's regex with a Go table in pkg/detectors/<detector>/*_test.go:
composite literals such as `{name: "valid pattern", input: fmt.Sprintf("key = %s", validKey), want:
[]string{validKey}}`, where `want` lists the strings the detector reports for `input` (its raw result, which
joins a multi-part credential, `key:secret`, or names a whole URL). This module reads those tables with a small
evaluator for the Go they are written in (string literals, `+`, constants and variables of the same file,
fmt.Sprintf, a few strings.* helpers) and writes one JSON object per sample, the shape of gitleaks' true
positives (evaluation/gitleaks_samples.py):

    {"rule": "trufflehog:<detector dir>", "kind": "tp", "line": one line of a test input,
     "secrets": [the wanted secrets found verbatim in that line], "template": "trufflehog-test"}

A want found verbatim in the input is a secret as it stands; else it is cut into the parts the input holds
(`resolve_want`): a URL gives its credential alone, the rest is split on `:`/`;`, and a want glued from parts
with no separator gives the input's tokens it is made of. Host names and e-mail addresses are never secrets.
Each line of an input that holds a secret is a sample (the whole input, when a secret spans lines: a private
key). For every distinct secret a "bare" sample (the secret alone) is added, as for gitleaks, unless a test
line is that secret alone already.

Left out: integration tests (`*integration*_test.go`, `//go:build detectors`: they call the live service),
rows whose `want` is empty (negatives: see SOURCE), inputs or wants this evaluator cannot compute
(gofakeit, unknown calls or names), lines over MAX_LINE characters and lines already written. Samples are
sorted, so a re-run writes the same bytes. The command reads a checkout or a bare git dir at COMMIT (or the
commit given) and writes samples.jsonl and trufflehog's LICENSE, then prints a summary:

    python -m evaluation.trufflehog_samples /path/to/trufflehog-checkout-or-bare-git-dir [commit]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from evaluation.masking import write_samples

CORPUS = Path(__file__).parent / "corpus" / "trufflehog"
UPSTREAM = "https://github.com/trufflesecurity/trufflehog"
COMMIT = "3ab759fef4bb5935d4fe9ac68b503d05346b8364"
DETECTORS = "pkg/detectors"
MAX_LINE = 2000  # longer lines (a whole JSON key file on one line) are left out
TEMPLATE = "trufflehog-test"
INTEGRATION_TAG = re.compile(r"^//go:build .*detectors", re.MULTILINE)

Scalar = str | int
Bound = Scalar | tuple[str, ...]  # a name's value: a string, a number or a []string


class Unresolved(Exception):
    """An expression the evaluator cannot compute: a gofakeit call, an unknown name or call, a Sprintf verb."""


# ---------------------------------------------------------------------------------------------------
# Reading the trufflehog tree at a commit


@dataclass(frozen=True)
class Checkout:
    """trufflehog's files at one commit, read through git from a work tree or a bare git dir (the `fetch`
    mirror)."""

    path: Path
    commit: str = COMMIT

    def read(self, name: str) -> str:
        """One file's text."""
        return self._git("show", f"{self.commit}:{name}").decode()

    def commit_date(self) -> str:
        """The commit's date, YYYY-MM-DD."""
        return self._git("show", "-s", "--format=%cs", self.commit).decode().strip()

    def test_files(self) -> dict[str, str]:
        """Every pkg/detectors/**/*_test.go by path, read in one `git cat-file --batch`."""
        listing = self._git("ls-tree", "-r", "-z", self.commit, f"{DETECTORS}/").decode()
        blobs: dict[str, str] = {}
        for entry in filter(None, listing.split("\0")):
            meta, name = entry.split("\t", 1)
            if name.endswith("_test.go"):
                blobs[name] = meta.split()[2]
        contents = self._git("cat-file", "--batch", stdin="\n".join(blobs.values()) + "\n")
        texts: dict[str, str] = {}
        position = 0
        for name in blobs:
            header_end = contents.index(b"\n", position)
            size = int(contents[position:header_end].split()[2])
            texts[name] = contents[header_end + 1 : header_end + 1 + size].decode()
            position = header_end + 1 + size + 1
        return dict(sorted(texts.items()))

    def _git(self, *args: str, stdin: str | None = None) -> bytes:
        """A git command's output, run in the checkout or git dir."""
        command = ["git", "-C", str(self.path), *args]
        data = stdin.encode() if stdin is not None else None
        return subprocess.run(command, check=True, capture_output=True, input=data).stdout  # noqa: S603 - our arguments


def skip_reason(name: str, source: str) -> str:
    """Why a test file is not read ("" when it is): integration tests call the live service."""
    if "integration" in PurePosixPath(name).name:
        return "integration test (file name)"
    if INTEGRATION_TAG.search(source):
        return "integration test (//go:build detectors)"
    return ""


def detector_of(name: str) -> str:
    """The detector's directory under pkg/detectors: `github/v1` for pkg/detectors/github/v1/github_test.go."""
    return str(PurePosixPath(name).parent.relative_to(DETECTORS))


# ---------------------------------------------------------------------------------------------------
# Go tokens and the evaluator of the expressions the tables use


class Token(NamedTuple):
    kind: str  # "string", "raw", "rune", "number", "ident", "op"
    text: str


GO_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<rune>'(?:\\.|[^'\\\n])+')
  | (?P<number>\d[\w.]*)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<op>:=|\.\.\.|&&|\|\||==|!=|<=|>=|<-|\+\+|--|\+=|[{}()\[\],;:.+\-*/%=<>!&|^])
    """,
    re.VERBOSE | re.DOTALL,
)
OPENING = {"(": ")", "[": "]", "{": "}"}
CLOSING = set(OPENING.values())


def tokenize(source: str) -> list[Token]:
    """Go source as tokens, without spaces and comments; a character no token starts with is an "op"."""
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        match = GO_TOKEN.match(source, position)
        if match is None:
            tokens.append(Token("op", source[position]))
            position += 1
            continue
        if match.lastgroup not in {"space", "comment"}:
            tokens.append(Token(match.lastgroup or "", match.group()))
        position = match.end()
    return tokens


ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}
NUMERIC_ESCAPES = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}  # letter: (base, digits)


def go_string(literal: str) -> str:
    """The value of a Go string literal: a raw `…` one (less carriage returns, as Go does) or an interpreted
    "…" one with its escapes."""
    if literal.startswith("`"):
        return literal[1:-1].replace("\r", "")
    body, out, index = literal[1:-1], [], 0
    while index < len(body):
        if body[index] != "\\":
            out.append(body[index])
            index += 1
            continue
        letter = body[index + 1]
        if letter in ESCAPES:
            out.append(ESCAPES[letter])
            index += 2
        elif letter in NUMERIC_ESCAPES:
            base, digits = NUMERIC_ESCAPES[letter]
            out.append(chr(int(body[index + 2 : index + 2 + digits], base)))
            index += 2 + digits
        elif letter in "01234567":
            out.append(chr(int(body[index + 1 : index + 4], 8)))
            index += 4
        else:
            raise Unresolved(f"escape \\{letter}")
    return "".join(out)


def group_end(tokens: Sequence[Token], start: int) -> int:
    """The index after the bracket that closes the one at `start`."""
    depth = 0
    for index in range(start, len(tokens)):
        kind, text = tokens[index]
        if kind == "op" and text in OPENING:
            depth += 1
        elif kind == "op" and text in CLOSING:
            depth -= 1
            if depth == 0:
                return index + 1
    return len(tokens)


def go_sprintf(template: str, args: Sequence[Scalar]) -> str:
    """fmt.Sprintf for the verbs the tables use: %s, %v, %q, %d (with a width and `-`), and %%."""
    out, index, remaining = [], 0, list(args)
    while index < len(template):
        if template[index] != "%":
            out.append(template[index])
            index += 1
            continue
        verb = re.match(r"%([-+# 0]*)(\d*)(?:\.\d+)?([svqdx%])", template[index:])
        if verb is None:
            raise Unresolved(f"Sprintf verb {template[index : index + 3]!r}")
        index += verb.end()
        flags, width, letter = verb.groups()
        if letter == "%":
            out.append("%")
            continue
        if not remaining:
            raise Unresolved("Sprintf: missing argument")
        text = format_verb(letter, remaining.pop(0))
        out.append(text.ljust(int(width or 0)) if "-" in flags else text.rjust(int(width or 0)))
    return "".join(out)


def format_verb(letter: str, value: Scalar) -> str:
    """One Sprintf argument formatted by its verb (%x is not computed)."""
    if letter in "sv":
        return str(value)
    if letter == "q" and isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if letter == "d" and isinstance(value, int):
        return str(value)
    raise Unresolved(f"Sprintf %{letter} of {type(value).__name__}")


def text_argument(args: Sequence[Scalar], index: int = 0) -> str:
    """A call's string argument."""
    if index >= len(args) or not isinstance(args[index], str):
        raise Unresolved("a string argument expected")
    return str(args[index])


def number_argument(args: Sequence[Scalar], index: int) -> int:
    """A call's number argument."""
    if index >= len(args) or not isinstance(args[index], int):
        raise Unresolved("a number argument expected")
    return int(args[index])


# The calls the evaluator computes; any other call is Unresolved.
CALLS: dict[str, Callable[[Sequence[Scalar]], Scalar]] = {
    "fmt.Sprintf": lambda args: go_sprintf(text_argument(args), args[1:]),
    "strings.Repeat": lambda args: text_argument(args) * number_argument(args, 1),
    "strings.ToUpper": lambda args: text_argument(args).upper(),
    "strings.ToLower": lambda args: text_argument(args).lower(),
    "strings.TrimSpace": lambda args: text_argument(args).strip(),
    "string": text_argument,
}


@dataclass
class Expression:
    """Evaluates a Go expression of tokens[position:]: operands joined by `+`; an operand is a literal, a
    parenthesised expression, a call of CALLS or a name bound in the file."""

    tokens: Sequence[Token]
    names: Bindings
    position: int = 0

    def peek(self) -> str:
        return self.tokens[self.position].text if self.position < len(self.tokens) else ""

    def take(self) -> Token:
        if self.position >= len(self.tokens):
            raise Unresolved("expression ends early")
        self.position += 1
        return self.tokens[self.position - 1]

    def expect(self, text: str) -> None:
        if self.take().text != text:
            raise Unresolved(f"{text!r} expected")

    def value(self) -> Scalar:
        total = self.operand()
        while self.peek() == "+":
            self.take()
            total = go_add(total, self.operand())
        return total

    def operand(self) -> Scalar:
        kind, text = self.take()
        if kind in {"string", "raw"}:
            return go_string(text)
        if kind == "number" and text.isdigit():
            return int(text)
        if text == "(":
            inner = self.value()
            self.expect(")")
            return inner
        if kind == "ident":
            return self.call_or_name(text)
        raise Unresolved(f"operand {text!r}")

    def call_or_name(self, name: str) -> Scalar:
        if name in {"fmt", "strings"} and self.peek() == ".":
            self.take()
            name = f"{name}.{self.take().text}"
        if name in CALLS and self.peek() == "(":
            return CALLS[name](self.arguments())
        bound = self.names.value(name)
        if isinstance(bound, tuple):
            raise Unresolved(f"{name} is a list")
        return bound

    def arguments(self) -> list[Scalar]:
        self.expect("(")
        args: list[Scalar] = []
        while self.peek() != ")":
            args.append(self.value())
            if self.peek() == ",":
                self.take()
        self.expect(")")
        return args


def go_add(left: Scalar, right: Scalar) -> Scalar:
    """Go's `+` of two strings or two numbers."""
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    if isinstance(left, int) and isinstance(right, int):
        return left + right
    raise Unresolved("+ of a string and a number")


def string_list(tokens: Sequence[Token], names: Bindings) -> tuple[str, ...]:
    """The elements of `[]string{a, b, …}` (tokens from `[` to the closing `}`)."""
    if [token.text for token in tokens[:4]] != ["[", "]", "string", "{"]:
        raise Unresolved("not a []string literal")
    elements = Expression(tokens[4:-1], names)
    values: list[str] = []
    while elements.position < len(elements.tokens):
        element = elements.value()
        if not isinstance(element, str):
            raise Unresolved("a []string element that is not a string")
        values.append(element)
        if elements.peek() == ",":
            elements.take()
    return tuple(values)


@dataclass
class Bindings:
    """The values of a file's names bound by `name = …`, `name := …` or `name string = …`, at any place in the
    file (constants, variables, locals of a test function), computed on first use. A binding that cannot be
    computed, or that a further token continues (`x := f(…)`, `x := y.z`), is ignored; a name whose computed
    bindings disagree (`input` in two test functions) is Unresolved."""

    tokens: Sequence[Token]
    sites: dict[str, list[int]] = field(default_factory=dict)
    values: dict[str, Bound | Unresolved] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, (kind, name) in enumerate(self.tokens):
            start = binding_start(self.tokens, index) if kind == "ident" else None
            if start is not None:
                self.sites.setdefault(name, []).append(start)

    def value(self, name: str) -> Bound:
        if name not in self.values:
            self.values[name] = Unresolved(f"{name} refers to itself")  # while it is being computed
            self.values[name] = self._compute(name)
        found = self.values[name]
        if isinstance(found, Unresolved):
            raise Unresolved(str(found))
        return found

    def _compute(self, name: str) -> Bound | Unresolved:
        found: list[Bound] = []
        for start in self.sites.get(name, []):
            try:
                value = self._site_value(start)
            except Unresolved:
                continue
            if value is not None and value not in found:
                found.append(value)
        if len(found) == 1:
            return found[0]
        return Unresolved(f"{name} bound to {len(found)} values")

    def _site_value(self, start: int) -> Bound | None:
        if [token.text for token in self.tokens[start : start + 4]] == ["[", "]", "string", "{"]:
            return string_list(self.tokens[start : group_end(self.tokens, start + 3)], self)
        expression = Expression(self.tokens, self, start)
        value = expression.value()
        return None if expression.peek() in {"(", ".", "[", "{"} else value


def binding_start(tokens: Sequence[Token], index: int) -> int | None:
    """Where the bound expression starts when tokens[index] is a name being bound, else None."""
    if index > 0 and tokens[index - 1].text in {".", ","}:
        return None
    following = [token.text for token in tokens[index + 1 : index + 3]]
    if following[:1] in (["="], [":="]):
        return index + 2
    if following == ["string", "="]:
        return index + 3
    return None


# ---------------------------------------------------------------------------------------------------
# The test tables


@dataclass(frozen=True)
class Row:
    """One row of a detector's test table: `input` and what the detector should report for it."""

    input: str
    want: tuple[str, ...]


def row_fields(tokens: Sequence[Token]) -> Iterator[dict[str, tuple[int, int]]]:
    """Each composite literal with an `input:` key, as its keys and their values' token spans."""
    index = 0
    while index < len(tokens) - 1:
        if tokens[index] == Token("ident", "input") and tokens[index + 1].text == ":":
            opening = enclosing_brace(tokens, index)
            if opening is not None:
                closing = group_end(tokens, opening)
                yield literal_fields(tokens, opening + 1, closing - 1)
                index = closing
                continue
        index += 1


def enclosing_brace(tokens: Sequence[Token], index: int) -> int | None:
    """The `{` that opens the composite literal holding tokens[index], or None if it is another bracket."""
    depth = 0
    for position in range(index - 1, -1, -1):
        kind, text = tokens[position]
        if kind == "op" and text in CLOSING:
            depth += 1
        elif kind == "op" and text in OPENING:
            if depth == 0:
                return position if text == "{" else None
            depth -= 1
    return None


def literal_fields(tokens: Sequence[Token], start: int, end: int) -> dict[str, tuple[int, int]]:
    """The `key: value` fields of a composite literal's body tokens[start:end], as key: (first, after last)."""
    fields: dict[str, tuple[int, int]] = {}
    index = start
    while index < end:
        if tokens[index].kind == "ident" and index + 1 < end and tokens[index + 1].text == ":":
            value_end = index + 2
            while value_end < end and tokens[value_end].text != ",":
                is_bracket = tokens[value_end].kind == "op" and tokens[value_end].text in OPENING
                value_end = group_end(tokens, value_end) if is_bracket else value_end + 1
            fields[tokens[index].text] = (index + 2, value_end)
            index = value_end + 1
        else:
            index += 1
    return fields


def read_row(tokens: Sequence[Token], names: Bindings, fields: dict[str, tuple[int, int]]) -> Row:
    """The row's input (an expression that must use all its tokens) and want (nil, a []string literal, or a
    name bound to one)."""
    first, last = fields["input"]
    expression = Expression(tokens[first:last], names)
    value = expression.value()
    if expression.position != last - first or not isinstance(value, str):
        raise Unresolved("input is not one string expression")
    return Row(value, want_list(tokens[slice(*fields["want"])], names))


def want_list(tokens: Sequence[Token], names: Bindings) -> tuple[str, ...]:
    """A row's want: `nil`, a name bound to a []string, or a []string literal."""
    texts = [token.text for token in tokens]
    if texts == ["nil"]:
        return ()
    if len(tokens) == 1 and tokens[0].kind == "ident":
        bound = names.value(texts[0])
        if isinstance(bound, tuple):
            return bound
    return string_list(tokens, names)


def file_rows(source: str, notes: Counter[str]) -> Iterator[Row]:
    """The test rows of one file that have a want; those it cannot compute are counted in notes."""
    tokens = tokenize(source)
    names = Bindings(tokens)
    for fields in row_fields(tokens):
        if "want" not in fields:
            notes["rows without a want field"] += 1
            continue
        try:
            yield read_row(tokens, names, fields)
        except Unresolved:
            notes["rows not computable (input or want)"] += 1


# ---------------------------------------------------------------------------------------------------
# From a want to the secrets in the input

# A part of a wanted string that names where, not what: a host name or an e-mail address.
NOT_SECRET = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+|[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}(:\d+)?")
URL_START = re.compile(r"jdbc:|[A-Za-z][A-Za-z0-9+.-]*://")
URL = re.compile(r"jdbc:[^\s'\"<>]*|[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>;]*(?:;[^\s'\"<>]*)?")
URL_PASSWORD = re.compile(r"://[^/:@\s]*:([^@\s/]+)@")
URL_PARAMETER = re.compile(r"(?i)(?:password|pwd|sig|token|key|secret|code)=([^;&\s]+)")
NAMED_VALUE = re.compile(r"[A-Za-z_]\w*=(.+)")
GLUED_PART = re.compile(r"[A-Za-z0-9_\-+/=.~]{8,}")
MIN_PART = 8


def resolve_want(want: str, text: str) -> list[str]:
    """The secrets a want names in the input text: the want itself when the text holds it verbatim (and it is
    not a host name, an e-mail address or a URL); else its parts (`want_parts`)."""
    if want in text and not URL_START.search(want):
        return [] if NOT_SECRET.fullmatch(want) else [want]
    return want_parts(want, text)


def want_parts(want: str, text: str) -> list[str]:
    """The parts of a want that the text holds: the credential of each URL in it; then the rest split on `:`
    and `;` (a `name=` head dropped when the text lacks it). A want with neither, glued from parts with no
    separator, gives the text's tokens it is made of (`glued_parts`)."""
    parts: list[str] = []
    rest = want
    for url in URL.findall(want):
        rest = rest.replace(url, ":")
        credential = url_credential(url)
        if credential and credential in text and looks_like_credential(credential):
            parts.append(credential)
    for piece in re.split(r"[:;]", rest):
        part = piece.strip("\"'{}")
        named = NAMED_VALUE.fullmatch(part)
        if named and part not in text:
            part = named.group(1)
        if part in text and looks_like_credential(part):
            parts.append(part)
    if parts or URL.search(want):
        return parts
    return glued_parts(want, text)


def url_credential(url: str) -> str | None:
    """The credential a URL holds: its password, a sig/password/key/token… parameter, or else its longest path
    or query segment of 16 characters or more with a digit in it (a webhook's token); None if none."""
    password = URL_PASSWORD.search(url)
    if password:
        return password.group(1)
    parameter = URL_PARAMETER.search(url)
    if parameter:
        return parameter.group(1)
    body = url.split("://", 1)[1] if "://" in url else url.split(":", 2)[-1]
    segments = [s for s in re.split(r"[/?&=#]", body)[1:] if len(s) >= 16 and re.search(r"\d", s)]
    return max(segments, key=len) if segments else None


def looks_like_credential(part: str) -> bool:
    """A part of a want that can be a secret: 8 characters or more, no space, not a host name or e-mail address,
    URL, path (`//…`), `$variable`, `name=` or short lowercase word, URL-encoded address or domain."""
    return (
        len(part) >= MIN_PART
        and not part.startswith(("//", "$"))
        and not NOT_SECRET.fullmatch(part)
        and not re.search(r"\s", part)
        and "://" not in part
        and not re.fullmatch(r"[A-Za-z_]+=|[a-z]{1,10}", part)
        and not re.search(r"%40|\.(com|net|org|io)\b|^jdbc:", part)
    )


def glued_parts(want: str, text: str) -> list[str]:
    """The text's tokens (8 characters or more, with a digit) that a want is glued from with no separator
    (newrelic's key + account id), in the want's order, when together they make at least half of it."""
    tokens = {token.strip(".") for token in GLUED_PART.findall(text)}
    found = [t for t in tokens if t in want and re.search(r"\d", t) and looks_like_credential(t)]
    parts = [t for t in found if not any(t != other and t in other for other in found)]
    if not parts or sum(len(part) for part in parts) < 0.5 * len(want):
        return []
    return sorted(parts, key=lambda part: (want.index(part), part))


def row_secrets(row: Row, notes: Counter[str]) -> list[str]:
    """The distinct secrets of a test row, in its want's order; wants with none found are counted in notes."""
    secrets: list[str] = []
    for want in row.want:
        found = resolve_want(want, row.input)
        if not found:
            notes["wants not found in the input"] += 1
        secrets.extend(secret for secret in found if secret not in secrets)
    return secrets


# ---------------------------------------------------------------------------------------------------
# Samples


@dataclass
class Samples:
    """The samples being written: a line per detector holds the union of the secrets its rows find in it; the
    bare sample of a distinct secret goes to the first detector (in path order) that has it."""

    lines: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    bare: dict[str, str] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)

    def add_file(self, name: str, source: str) -> None:
        """The positive rows of a test file, pkg/detectors/<detector>/…_test.go, unless it is an integration test."""
        reason = skip_reason(name, source)
        self.notes[f"files skipped: {reason}" if reason else "files read"] += 1
        if reason:
            return
        for row in file_rows(source, self.notes):
            if not row.want:
                self.notes["rows negative (empty want, not written)"] += 1
                continue
            secrets = row_secrets(row, self.notes)
            self.notes["rows positive" if secrets else "rows positive, no secret found in the input"] += 1
            self.add_row(detector_of(name), row.input, secrets)

    def add_row(self, detector: str, text: str, secrets: list[str]) -> None:
        """The lines of one input that hold its secrets (the whole input if a secret spans lines)."""
        if any("\n" in secret for secret in secrets):
            self.add_line(detector, text, secrets)
        else:
            for raw_line in text.split("\n"):
                line = raw_line.rstrip("\r")
                self.add_line(detector, line, [secret for secret in secrets if secret in line])
        for secret in secrets:
            if "\n" not in secret and secret.strip() == secret and len(secret) <= MAX_LINE:
                self.bare.setdefault(secret, detector)

    def add_line(self, detector: str, line: str, secrets: list[str]) -> None:
        """A line and the secrets it holds; a line too long is left out, a line already written gains the
        secrets it did not have."""
        if not secrets:
            return
        if len(line) > MAX_LINE:
            self.notes["lines over MAX_LINE"] += 1
            return
        known = self.lines.setdefault((detector, line), [])
        if known:
            self.notes["lines already written (secrets merged)"] += 1
        known.extend(secret for secret in secrets if secret not in known)

    def records(self) -> list[dict[str, Any]]:
        """All samples, sorted by rule, template and line. A secret that is a whole test line already has no
        bare sample."""
        written = {line for _, line in self.lines}
        records = [sample(detector, line, secrets, TEMPLATE) for (detector, line), secrets in self.lines.items()]
        records += [sample(detector, s, [s], "bare") for s, detector in self.bare.items() if s not in written]
        return sorted(records, key=lambda record: (record["rule"], record["template"], record["line"]))


def sample(detector: str, line: str, secrets: list[str], template: str) -> dict[str, Any]:
    """One line of samples.jsonl, in the shape of gitleaks' true positives."""
    return {"rule": f"trufflehog:{detector}", "kind": "tp", "line": line, "secrets": secrets, "template": template}


def extract(checkout: Checkout) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The samples of every detector test file at the checkout's commit, and counts of what was left out."""
    samples = Samples()
    for name, source in checkout.test_files().items():
        samples.add_file(name, source)
    return samples.records(), samples.notes


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in {1, 2}:
        print(__doc__, file=sys.stderr)
        return 1
    checkout = Checkout(Path(args[0]), *args[1:])
    records, notes = extract(checkout)
    write_samples(CORPUS, records, checkout.read("LICENSE"))
    templates = Counter(record["template"] for record in records)
    summary = {
        "source": UPSTREAM,
        "commit": checkout.commit,
        "date": checkout.commit_date(),
        "detectors": len({record["rule"] for record in records}),
        "samples": len(records),
        "by_template": dict(sorted(templates.items())),
        "notes": dict(sorted(notes.items())),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
