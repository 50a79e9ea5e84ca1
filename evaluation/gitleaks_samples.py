"""Reproduce gitleaks' secret samples as data: evaluation/corpus/gitleaks/samples.jsonl.

gitleaks (MIT) keeps each rule's true-positive and false-positive samples in Go code,
cmd/generate/config/rules/*.go: literal lists, plus secrets drawn at random from a regex
(`secrets.NewSecret`) and placed into ~29 syntax templates (`utils.GenerateSampleSecrets`).
This module reads that Go code with a small interpreter for the subset those files use (literals,
`+`, composite literals, `append`, `fmt.Sprintf`, base64, `for … range`, the utils/secrets helpers)
and writes one JSON object per sample:

    {"rule": id, "kind": "tp"|"fp", "line": sample text (may hold several lines),
     "secrets": [values gitleaks' rule extracts from it], "template": template name or "literal"}

For every secret handed to GenerateSampleSecrets a "bare" sample (the token alone) is added, so a
token printed alone and sent as a header is measured too. The random parts are drawn from a seeded
generator, so the output is stable from run to run (gitleaks draws new ones on each run).

The secret in each true positive is found with the rule's own regex from config/gitleaks.toml (its
secretGroup, else the first non-empty unnamed group, else the whole match), filtered by its entropy and
allow-lists as gitleaks does; a sample in which it finds none is written with the value handed to
the template, or with no secret (and then counted as "unlocated" in SOURCE).

The same command writes the masker's provider-token rules (LAYER_RULES), taken from the same
commit's config/gitleaks.toml (see rules_for_layer), and gitleaks' licence beside them:

    python -m evaluation.gitleaks_samples /path/to/gitleaks-checkout-or-bare-git-dir
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import re2

from evaluation.masking import write_samples

CORPUS = Path(__file__).parent / "corpus" / "gitleaks"
LAYER_MASKING = Path(__file__).parents[1] / "layers" / "sessionguard" / "sessionguard" / "masking"
LAYER_RULES = LAYER_MASKING / "gitleaks_rules.json"
LAYER_LICENSE = LAYER_MASKING / "GITLEAKS_LICENSE"
# gitleaks rules the masker does not take, and why (docs/masking.md says the same).
LEFT_OUT: dict[str, str] = {
    "generic-api-key": "secret-named assignments are SessionGuard's own context layer (fewer false positives on "
    "session text, and a kind named after the name)",
    "kubernetes-secret-yaml": "its regex spans up to 300 characters over several lines (kind: Secret … data:); "
    "the masker works line by line and keeps the state itself",
    "curl-auth-user": "SessionGuard's basic-auth rules mask the password of -u/--user and keep the user readable",
    "curl-auth-header": "SessionGuard's authorization-header rule masks any Authorization header, curl's or not",
    "hashicorp-tf-password": "a password-named assignment: SessionGuard's context layer masks it by its name",
}
# Left-out rules whose allow-lists the masker still reads: generic-api-key's say which secret-like names hold no
# secret (keyVaultToStoreSecrets, io.jsonwebtoken:artifact) and which values are examples (its stop words), and
# SessionGuard's secret-named assignments stand in for that rule (masking/gitleaks.py, context_allowlists).
CONTEXT_ALLOWLISTS: frozenset[str] = frozenset({"generic-api-key"})
# Keywords too common in session text for a prefilter, replaced by a longer literal the rule's regex needs
# anyway (case-insensitively), so ordinary lines (`key`, `they`, `disk`) stay on the fast path.
KEYWORD_OVERRIDES: dict[str, list[str]] = {
    "jwt": [".ey"],  # ey…\.ey…: the payload's start follows a dot
}
RULES_DIR = "cmd/generate/config/rules"
UPSTREAM = "https://github.com/gitleaks/gitleaks"

# The templates of utils.GenerateSampleSecrets, in the order gitleaks writes them ({i} identifier,
# {I} upper-cased identifier, {s} secret). Copied as data: the Go map's iteration order is random.
SAMPLE_TEMPLATES: dict[str, str] = {
    "ini - quoted1": '{i}Token="{s}"',
    "ini - quoted2": '{i}Token = "{s}"',
    "ini - unquoted1": "{i}Token={s}",
    "ini - unquoted2": "{i}Token = {s}",
    "json - string": '{\n    "{i}_token": "{s}"\n}',
    "json - escaped newline in string": '{"config.ini": "{I}_TOKEN={s}\\nBACKUP_ENABLED=true"}',
    "xml - element multiline": "<{i}Token>\n    {s}\n</{i}Token>",
    "yaml - singleline - unquoted": "{i}_token: {s}",
    "yaml - singleline - single quote": "{i}_token: '{s}'",
    "yaml - singleline - double quote": '{i}_token: "{s}"',
    "C#": 'string {i}Token = "{s}";',
    "go - normal": 'var {i}Token string = "{s}"',
    "go - short": '{i}Token := "{s}"',
    "go - backticks": "{i}Token := `{s}`",
    "java": 'String {i}Token = "{s}";',
    "kotlin - notype": 'var {i}Token = "{s}"',
    "php - string concat": '${i}Token .= "{s}"',
    "python - single quote": "{i}Token = '{s}'",
    "python - double quote": '{i}Token = "{s}"',
    "misc - comma operator": 'System.setProperty("{I}_TOKEN", "{s}")',
    "logstash": '  "{i}Token" => "{s}"',
    "make - recursive assignment": '{i}_TOKEN = "{s}"',
    "make - simple assignment": '{i}_TOKEN := "{s}"',
    "make - shell assignment": '{i}_TOKEN ::= "{s}"',
    "make - evaluated shell assignment": '{i}_TOKEN :::= "{s}"',
    "make - conditional assignment": '{i}_TOKEN ?= "{s}"',
}


class Sample(str):
    """A sample line that remembers how it was made: the template's name and the secret put in it."""

    template: str = "literal"
    planted: str = ""

    @classmethod
    def made(cls, text: str, template: str, planted: str) -> Sample:
        sample = cls(text)
        sample.template, sample.planted = template, planted
        return sample


def sample_secrets(identifier: str, secret: str) -> list[str]:
    """utils.GenerateSampleSecrets, plus the bare token."""
    samples: list[str] = [Sample.made(secret, "bare", secret)]
    for name, template in SAMPLE_TEMPLATES.items():
        text = template.replace("{i}", identifier).replace("{I}", identifier.upper()).replace("{s}", secret)
        samples.append(Sample.made(text, name, secret))
    return samples


# ---------------------------------------------------------------------------------------------------
# Random strings from a regex (what lucasjones/reggen does for secrets.NewSecret)

WORD = [chr(c) for c in range(128) if chr(c).isalnum() or chr(c) == "_"]
DIGITS = [str(d) for d in range(10)]
SPACES = [" ", "\t"]
PRINTABLE = [chr(c) for c in range(33, 127)]


class RegexGenerator:
    """Draw a string that a (simple, Go-syntax) regex matches; unbounded repeats add up to 8."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def generate(self, pattern: str) -> str:
        pattern = pattern.replace(r"\z", "$")
        return "".join(self._items(sre_parse.parse(pattern)))

    def _items(self, items: Any) -> Iterator[str]:
        for op, arg in items:
            yield from self._item(str(op), arg)

    def _item(self, op: str, arg: Any) -> Iterator[str]:
        if op == "LITERAL":
            yield chr(arg)
        elif op == "ANY":
            yield self.rng.choice(PRINTABLE)
        elif op == "IN":
            yield self.rng.choice(self._charset(arg))
        elif op in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
            low, high, sub = arg
            high = low + 8 if high == sre_parse.MAXREPEAT else high
            for _ in range(self.rng.randint(low, high)):
                yield from self._items(sub)
        elif op == "SUBPATTERN":
            yield from self._items(arg[-1])
        elif op == "BRANCH":
            yield from self._items(self.rng.choice(arg[1]))
        elif op == "CATEGORY":
            yield self.rng.choice(self._category(str(arg)))
        elif op in {"AT", "ASSERT", "ASSERT_NOT"}:
            return
        else:
            raise ValueError(f"cannot generate from regex op {op}")

    def _charset(self, members: Any) -> list[str]:
        chars: list[str] = []
        negate = False
        for op, arg in members:
            kind = str(op)
            if kind == "LITERAL":
                chars.append(chr(arg))
            elif kind == "RANGE":
                chars.extend(chr(c) for c in range(arg[0], arg[1] + 1))
            elif kind == "CATEGORY":
                chars.extend(self._category(str(arg)))
            elif kind == "NEGATE":
                negate = True
        if negate:
            return [c for c in PRINTABLE if c not in chars]
        return chars

    @staticmethod
    def _category(name: str) -> list[str]:
        return {"CATEGORY_WORD": WORD, "CATEGORY_DIGIT": DIGITS, "CATEGORY_SPACE": SPACES}.get(name, PRINTABLE)


# ---------------------------------------------------------------------------------------------------
# A tokenizer and an evaluating reader for the Go these rule files are written in


@dataclass(frozen=True)
class Token:
    kind: str  # "ident", "string", "number", "rune", "op", ";"
    text: str
    value: Any = None


GO_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<rune>'(?:[^'\\\n]|\\.)*')
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<op>\.\.\.|:=|==|!=|<=|>=|&&|\|\||\+=|<-|[-+*/%&|^<>=!(){}\[\],;:.~])
    """,
    re.VERBOSE | re.DOTALL,
)
# Go inserts a semicolon at a newline after these (the language spec's automatic semicolons).
ENDS_STATEMENT = {"ident", "string", "number", "rune"}
ENDS_STATEMENT_OPS = {")", "]", "}"}
ENDS_STATEMENT_WORDS = {"break", "continue", "fallthrough", "return"}


def go_string(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1].replace("\r", "")
    body = literal[1:-1]
    return str(json.loads('"' + re.sub(r"\\x([0-9a-fA-F]{2})", r"\\u00\1", body.replace("\\'", "'")) + '"'))


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        match = GO_TOKEN.match(source, position)
        if not match:
            raise SyntaxError(f"cannot read Go at {source[position : position + 40]!r}")
        position = match.end()
        kind, text = match.lastgroup or "", match.group()
        if kind in {"space"}:
            continue
        if kind == "newline" or (kind == "comment" and "\n" in text):
            last = tokens[-1] if tokens else None
            if last and (
                (last.kind in ENDS_STATEMENT and last.text not in {"func"})
                or (last.kind == "op" and last.text in ENDS_STATEMENT_OPS)
            ):
                tokens.append(Token(";", ";"))
            continue
        if kind == "comment":
            continue
        if kind in {"raw", "string"}:
            tokens.append(Token("string", text, go_string(text)))
        elif kind == "op" and text == ";":
            tokens.append(Token(";", ";"))
        else:
            tokens.append(Token(kind, text))
    return tokens


class Opaque:
    """A value the reader does not need (a compiled regex, a struct it does not look into)."""

    def __repr__(self) -> str:
        return "<opaque>"


OPAQUE = Opaque()


@dataclass
class GoFunction:
    name: str
    params: list[str]
    body: list[Token]


@dataclass
class RuleSamples:
    rule_id: str
    true_positives: list[str]
    false_positives: list[str]


class ReturnSignal(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class ContinueSignal(Exception):
    pass


@dataclass
class Interpreter:
    """Evaluates the rule functions of gitleaks' generator; unknown calls give OPAQUE."""

    rng: random.Random
    functions: dict[str, GoFunction] = field(default_factory=dict)
    globals: dict[str, Any] = field(default_factory=dict)
    pending_globals: dict[str, list[Token]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.regex_generator = RegexGenerator(self.rng)

    # -- loading -------------------------------------------------------------------------------
    def load(self, tokens: list[Token]) -> None:
        reader = Reader(tokens, self, {})
        while not reader.done():
            if reader.accept("ident", "package") or reader.accept("ident", "import"):
                reader.skip_declaration()
            elif reader.accept("ident", "func"):
                name = reader.expect("ident").text
                params = reader.read_params()
                while not reader.at("op", "{"):
                    reader.advance()
                self.functions[name] = GoFunction(name, params, reader.read_block())
            elif reader.accept("ident", "var"):
                for name, expression in reader.read_var_specs():
                    self.pending_globals[name] = expression
            else:
                reader.advance()

    def global_value(self, name: str) -> Any:
        if name not in self.globals and name in self.pending_globals:
            self.globals[name] = Reader(self.pending_globals.pop(name), self, {}).expression()
        return self.globals.get(name, OPAQUE)

    # -- calling -------------------------------------------------------------------------------
    def call_function(self, name: str, args: list[Any]) -> Any:
        if name == "newPlausibleSecret":
            return self.plausible_secret(args[0])
        function = self.functions[name]
        scope = dict(zip(function.params, args, strict=False))
        try:
            Reader(function.body, self, scope).statements()
        except ReturnSignal as signal:
            return signal.value
        return None

    def plausible_secret(self, pattern: str) -> str:
        """generic.go's newPlausibleSecret: a draw with a digit 1-9 and none of the stop words."""
        stop_words = [word.lower() for word in self.global_value("DefaultStopWords")]
        while True:
            secret = self.new_secret(pattern)
            if re.search("[1-9]", secret) and not any(word in secret.lower() for word in stop_words):
                return secret

    def new_secret(self, pattern: str) -> str:
        return self.regex_generator.generate(pattern)

    def call(self, name: str, args: list[Any]) -> Any:
        simple: dict[str, Callable[..., Any]] = {
            "secrets.NewSecret": self.new_secret,
            "utils.GenerateSampleSecrets": sample_secrets,
            "utils.GenerateSampleSecret": lambda i, s: Sample.made(f'{i}_api_token = "{s}"', "sample secret", s),
            "utils.Numeric": lambda size: f"[0-9]{{{size}}}",
            "utils.Hex": lambda size: f"[a-f0-9]{{{size}}}",
            "utils.AlphaNumeric": lambda size: f"[a-z0-9]{{{size}}}",
            "utils.AlphaNumericExtendedShort": lambda size: f"[a-z0-9_-]{{{size}}}",
            "utils.AlphaNumericExtended": lambda size: f"[a-z0-9=_\\-]{{{size}}}",
            "utils.AlphaNumericExtendedLong": lambda size: f"[a-z0-9\\/=_\\+\\-]{{{size}}}",
            "utils.Hex8_4_4_4_12": lambda: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "fmt.Sprintf": go_sprintf,
            "strings.ToUpper": str.upper,
            "strings.ToLower": str.lower,
            "strings.Repeat": lambda text, count: text * count,
            "len": len,
            "string": lambda value: value.decode() if isinstance(value, bytes) else str(value),
            "append": lambda items, *more: [*items, *more],
        }
        if name in simple:
            return simple[name](*args)
        if name in {"utils.Validate", "utils.ValidateWithPaths"}:
            rule, tps, fps = args
            return RuleSamples(str(rule.get("RuleID", "")), as_list(tps), as_list(fps))
        encoding = re.fullmatch(r"(?:b64|base64)\.(Raw)?(Std|URL)Encoding\.EncodeToString", name)
        if encoding:
            data = base64.b64encode(args[0]) if encoding[2] == "Std" else base64.urlsafe_b64encode(args[0])
            text = data.decode()
            return text.rstrip("=") if encoding[1] else text
        if name in self.functions:
            return self.call_function(name, args)
        return OPAQUE


def as_list(samples: Any) -> list[str]:
    if isinstance(samples, dict):  # ValidateWithPaths: path -> content; a path-only rule has no content
        return [text for text in samples.values() if isinstance(text, str) and text]
    return [text for text in samples if isinstance(text, str)] if isinstance(samples, list) else []


def go_sprintf(template: str, *args: Any) -> str:
    values = iter(args)
    return re.sub(r"%[sdvq]|%%", lambda m: "%" if m.group() == "%%" else str(next(values)), template)


class Reader:
    """Reads and evaluates statements and expressions from a token list, in one pass."""

    def __init__(self, tokens: list[Token], interpreter: Interpreter, scope: dict[str, Any]) -> None:
        self.tokens, self.position = tokens, 0
        self.interpreter, self.scope = interpreter, scope

    # -- token helpers -------------------------------------------------------------------------
    def done(self) -> bool:
        return self.position >= len(self.tokens)

    def peek(self, offset: int = 0) -> Token:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else Token("eof", "")

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.peek()
        return token.kind == kind and (text is None or token.text == text)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        if self.at(kind, text):
            return self.advance()
        return None

    def advance(self) -> Token:
        token = self.peek()
        self.position += 1
        return token

    def expect(self, kind: str, text: str | None = None) -> Token:
        token = self.accept(kind, text)
        if token is None:
            raise SyntaxError(f"expected {text or kind}, found {self.peek().text!r}")
        return token

    def skip_semicolons(self) -> None:
        while self.accept(";"):
            pass

    def skip_balanced(self) -> list[Token]:
        """The tokens of a bracketed group, the brackets excluded; the reader stands after it."""
        opening = self.advance()
        closing = {"(": ")", "{": "}", "[": "]"}[opening.text]
        depth, start = 1, self.position
        while depth:
            token = self.advance()
            if token.kind == "op" and token.text in "({[":
                depth += 1
            elif token.kind == "op" and token.text in ")}]":
                depth -= 1
        del closing
        return self.tokens[start : self.position - 1]

    def read_block(self) -> list[Token]:
        return self.skip_balanced()

    def skip_declaration(self) -> None:
        if self.at("op", "("):
            self.skip_balanced()
        else:
            while not self.done() and not self.accept(";"):
                self.advance()

    def read_params(self) -> list[str]:
        inner = self.skip_balanced()
        names: list[str] = []
        for group in split_top_level(inner, ","):
            if group and group[0].kind == "ident":
                names.append(group[0].text)
        return names

    def read_var_specs(self) -> list[tuple[str, list[Token]]]:
        specs: list[tuple[str, list[Token]]] = []
        if self.at("op", "("):
            inner = Reader(self.skip_balanced(), self.interpreter, self.scope)
            while not inner.done():
                inner.skip_semicolons()
                if not inner.done():
                    specs.append(inner.read_one_var_spec())
            return specs
        return [self.read_one_var_spec()]

    def read_one_var_spec(self) -> tuple[str, list[Token]]:
        name = self.expect("ident").text
        while not self.done() and not self.at("op", "=") and not self.at(";"):
            self.read_type()
        expression: list[Token] = []
        if self.accept("op", "="):
            start = self.position
            self.skip_expression()
            expression = self.tokens[start : self.position]
        self.accept(";")
        return name, expression

    def skip_expression(self) -> None:
        while not self.done() and not self.at(";") and not (self.at("op") and self.peek().text in ")}],"):
            if self.at("op") and self.peek().text in "({[":
                self.skip_balanced()
            else:
                self.advance()

    def read_type(self) -> str:
        """A type: []T, [N]T, map[K]V, *T, pkg.T, T; returns a rough name ('slice', 'map', 'T')."""
        if self.accept("op", "["):
            self.position -= 1
            self.skip_balanced()
            self.read_type()
            return "slice"
        if self.accept("op", "*") or self.accept("op", "&"):
            return self.read_type()
        if self.accept("ident", "map"):
            self.skip_balanced()
            self.read_type()
            return "map"
        if self.accept("ident", "func"):
            self.skip_balanced()
            if not self.at("op", "{") and not self.at(";"):
                self.read_type()
            return "func"
        name = self.expect("ident").text
        while self.accept("op", "."):
            name += "." + self.expect("ident").text
        return name

    # -- statements ----------------------------------------------------------------------------
    def statements(self) -> None:
        while not self.done():
            self.skip_semicolons()
            if not self.done():
                self.statement()

    def statement(self) -> None:
        if self.accept("ident", "return"):
            raise ReturnSignal(None if self.at(";") or self.done() else self.expression())
        if self.accept("ident", "continue"):
            raise ContinueSignal
        if self.accept("ident", "var"):
            for name, expression in self.read_var_specs():
                self.scope[name] = Reader(expression, self.interpreter, self.scope).expression() if expression else []
            return
        if self.accept("ident", "for"):
            self.for_statement()
            return
        if self.accept("ident", "if"):
            self.if_statement()
            return
        targets = self.assignment_targets()
        if targets is not None:
            names, operator = targets
            values = [self.expression()]
            while self.accept("op", ","):
                values.append(self.expression())
            for name, value in zip(names, values, strict=False):
                if name == "_":
                    continue
                self.scope[name] = self.scope.get(name, "") + value if operator == "+=" else value
            self.accept(";")
            return
        self.expression()
        self.accept(";")

    def assignment_targets(self) -> tuple[list[str], str] | None:
        start, names = self.position, []
        while self.at("ident"):
            names.append(self.advance().text)
            if not self.accept("op", ","):
                break
        for operator in (":=", "=", "+="):
            if names and self.accept("op", operator):
                return names, operator
        self.position = start
        return None

    def for_statement(self) -> None:
        header_start = self.position
        while not self.at("op", "{"):
            self.advance()
        header = self.tokens[header_start : self.position]
        body = self.read_block()
        if not header:  # for { … }: runs until a return
            while True:
                try:
                    Reader(body, self.interpreter, dict(self.scope)).statements()
                except ContinueSignal:
                    continue
        range_at = next(i for i, token in enumerate(header) if token.text == "range")
        names = [t.text for t in header[: range_at - 1] if t.kind == "ident"]
        collection = Reader(header[range_at + 1 :], self.interpreter, self.scope).expression()
        pairs = collection.items() if isinstance(collection, dict) else enumerate(collection)
        for key, value in pairs:
            scope = self.scope
            for name, item in zip(names, (key, value), strict=False):
                if name != "_":
                    scope[name] = item
            try:
                Reader(body, self.interpreter, scope).statements()
            except ContinueSignal:
                continue

    def if_statement(self) -> None:
        condition_start = self.position
        while not self.at("op", "{"):
            self.advance()
        condition = self.tokens[condition_start : self.position]
        body = self.read_block()
        if self.accept("ident", "else"):
            raise SyntaxError("else is not used by the rule files")
        if Reader(condition, self.interpreter, self.scope).condition():
            Reader(body, self.interpreter, self.scope).statements()

    def condition(self) -> bool:
        negate = bool(self.accept("op", "!"))
        value = self.expression()
        return bool(value) != negate

    # -- expressions ---------------------------------------------------------------------------
    def expression(self) -> Any:
        value = self.unary()
        while self.at("op") and self.peek().text in {"+", "==", "!=", "&&", "||"}:
            operator = self.advance().text
            right = self.unary()
            if operator == "+":
                value = value + right if not isinstance(value, Opaque) and not isinstance(right, Opaque) else OPAQUE
            elif operator == "==":
                value = value == right
            elif operator == "!=":
                value = value != right
            else:
                value = (value and right) if operator == "&&" else (value or right)
        return value

    def unary(self) -> Any:
        if self.accept("op", "&") or self.accept("op", "*"):
            return self.unary()
        if self.accept("op", "!"):
            return not self.unary()
        return self.postfix(self.primary())

    def primary(self) -> Any:  # noqa: PLR0911 - one return per kind of operand
        token = self.peek()
        if token.kind == "string":
            self.advance()
            return token.value
        if token.kind == "number":
            self.advance()
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "rune":
            self.advance()
            return go_string('"' + token.text[1:-1] + '"')
        if self.at("op", "("):
            inner = self.skip_balanced()
            return Reader(inner, self.interpreter, self.scope).expression()
        if self.at("op", "[") or self.at("ident", "map"):
            start = self.position
            self.read_type()
            if self.at("op", "("):  # a conversion: []byte(x)
                converted = self.call_arguments()[0]
                is_bytes = [t.text for t in self.tokens[start : start + 3]] == ["[", "]", "byte"]
                return converted.encode() if is_bytes and isinstance(converted, str) else converted
            return self.composite_body()
        if self.at("ident", "func"):  # a function literal: not used for samples
            self.read_type()
            self.read_block()
            return OPAQUE
        if token.kind == "ident":
            return self.named()
        if self.at("op", "{"):  # an element whose type is elided
            return self.composite_body()
        raise SyntaxError(f"unexpected {token.text!r}")

    def named(self) -> Any:
        name = self.advance().text
        while self.at("op", ".") and self.peek(1).kind == "ident":
            self.advance()
            name += "." + self.advance().text
        if self.at("op", "("):
            arguments = self.call_arguments()
            return self.interpreter.call(name, arguments)
        if self.at("op", "{") and (name[0].isupper() or "." in name):  # T{…}: a struct literal
            return self.composite_body()
        if name in self.scope:
            return self.scope[name]
        if name in {"true", "false"}:
            return name == "true"
        if name == "nil":
            return None
        return self.interpreter.global_value(name)

    def call_arguments(self) -> list[Any]:
        inner = self.skip_balanced()
        arguments: list[Any] = []
        for group in split_top_level(inner, ","):
            spread = bool(group) and group[-1].text == "..."
            reader = Reader(group[:-1] if spread else group, self.interpreter, self.scope)
            value = reader.expression()
            if spread and isinstance(value, list):
                arguments.extend(value)
            else:
                arguments.append(value)
        return arguments

    def postfix(self, value: Any) -> Any:
        while True:
            if self.at("op", "[") and isinstance(value, list | dict | str):
                index = Reader(self.skip_balanced(), self.interpreter, self.scope).expression()
                value = value[index]
            elif self.at("op", "(") and isinstance(value, Opaque):
                self.call_arguments()
            elif self.at("op", ".") and self.peek(1).kind == "ident":
                self.advance()
                self.advance()
                if self.at("op", "("):
                    self.call_arguments()
                value = OPAQUE
            else:
                return value

    def composite_body(self) -> Any:
        """{a, b} → list; {k: v, …} → dict (struct fields are keys too)."""
        inner = self.skip_balanced()
        items: list[Any] = []
        mapping: dict[Any, Any] = {}
        for group in split_top_level(inner, ","):
            if not group:
                continue
            colon = top_level_colon(group)
            if colon is None:
                items.append(Reader(group, self.interpreter, self.scope).expression())
                continue
            key_tokens, value_tokens = group[:colon], group[colon + 1 :]
            key: Any = (
                key_tokens[0].text
                if len(key_tokens) == 1 and key_tokens[0].kind == "ident"
                else Reader(key_tokens, self.interpreter, self.scope).expression()
            )
            try:
                mapping[key] = Reader(value_tokens, self.interpreter, self.scope).expression()
            except (SyntaxError, KeyError, IndexError, ValueError, TypeError):
                mapping[key] = OPAQUE  # a field the samples do not need (a regex built in some other way)
        return mapping if mapping else items


def split_top_level(tokens: list[Token], separator: str) -> list[list[Token]]:
    groups: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == "op" and token.text in "({[":
            depth += 1
        elif token.kind == "op" and token.text in ")}]":
            depth -= 1
        if depth == 0 and token.kind == "op" and token.text == separator:
            groups.append([])
        elif token.kind != ";":
            groups[-1].append(token)
    return [group for group in groups if group]


def top_level_colon(tokens: list[Token]) -> int | None:
    depth = 0
    for index, token in enumerate(tokens):
        if token.kind == "op" and token.text in "({[":
            depth += 1
        elif token.kind == "op" and token.text in ")}]":
            depth -= 1
        elif depth == 0 and token.kind == "op" and token.text == ":":
            return index
    return None


# ---------------------------------------------------------------------------------------------------
# Locating the secret in a sample with the rule's own regex (config/gitleaks.toml)


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = {c: text.count(c) for c in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


@dataclass
class TomlAllowlist:
    """A gitleaks allow-list (what it looks at, OR/AND, regexes, stop words); paths never hold on a sample."""

    target: str
    all_required: bool
    regexes: list[Any]
    stop_words: list[str]

    def allows(self, secret: str, match: str, line: str) -> bool:
        text = {"match": match, "line": line}.get(self.target, secret)
        results = []
        if self.regexes:
            results.append(any(regex.search(text) for regex in self.regexes))
        if self.stop_words:
            results.append(any(word in secret.lower() for word in self.stop_words))
        return bool(results) and (all(results) if self.all_required else any(results))

    @classmethod
    def from_toml(cls, allowlist: dict[str, Any]) -> TomlAllowlist | None:
        if allowlist.get("condition", "OR") == "AND" and allowlist.get("paths"):
            return None  # needs a file path to hold
        regexes = [compile_go(pattern) for pattern in allowlist.get("regexes", [])]
        return cls(
            allowlist.get("regexTarget", "secret"),
            allowlist.get("condition", "OR") == "AND",
            [regex for regex in regexes if regex is not None],
            [word.lower() for word in allowlist.get("stopwords", [])],
        )


@dataclass
class TomlRule:
    rule_id: str
    regex: Any
    keywords: list[str]
    secret_group: int
    entropy: float
    allowlists: list[TomlAllowlist]
    needs_path: bool  # a path condition too (nuget.config, *.php, *.tf): gitleaks reports it only in such files

    @classmethod
    def from_toml(cls, rule: dict[str, Any], global_allowlist: TomlAllowlist | None) -> TomlRule | None:
        if "regex" not in rule:
            return None
        allowlists = [TomlAllowlist.from_toml(allowlist) for allowlist in rule.get("allowlists", [])]
        return cls(
            rule["id"],
            compile_go(rule["regex"]),
            [keyword.lower() for keyword in rule.get("keywords", [])],
            int(rule.get("secretGroup", 0)),
            float(rule.get("entropy", 0)),
            [allowlist for allowlist in (global_allowlist, *allowlists) if allowlist is not None],
            "path" in rule,
        )

    def secrets_in(self, text: str) -> list[str]:
        found: list[str] = []
        named = set(self.regex.groupindex.values())
        for match in self.regex.finditer(text):
            groups = [match.group(0), *match.groups()]
            if self.secret_group and self.secret_group < len(groups):
                secret = groups[self.secret_group] or ""
            else:  # named groups label parts of a token (jwt-base64's header fields): the token is the match
                unnamed = [g for index, g in enumerate(groups) if index and index not in named]
                secret = next((g for g in unnamed if g), groups[0])
            if not secret or (self.entropy and shannon_entropy(secret) <= self.entropy):
                continue
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.end())
            line = text[line_start : line_end if line_end >= 0 else len(text)]
            if any(allowlist.allows(secret, match.group(0), line) for allowlist in self.allowlists):
                continue
            found.append(secret)
        return found


def compile_go(pattern: str) -> Any:
    """A gitleaks (Go RE2) regex under google-re2; the few it refuses are tried with Python's re."""
    try:
        return re2.compile(pattern)
    except re2.error:
        try:
            return re.compile(pattern.replace(r"\z", r"\Z"))
        except re.error:
            return None


def load_toml_rules(config_text: str) -> dict[str, TomlRule]:
    config = tomllib.loads(config_text)
    global_allowlist = TomlAllowlist.from_toml(config.get("allowlist", {}))
    rules: dict[str, TomlRule] = {}
    for rule in config["rules"]:
        parsed = TomlRule.from_toml(rule, global_allowlist)
        if parsed:
            rules[parsed.rule_id] = parsed
    return rules


# ---------------------------------------------------------------------------------------------------
# Putting it together


@dataclass
class Checkout:
    """gitleaks' files read from a work tree or a bare git dir (the `fetch` mirror)."""

    path: Path

    def commit(self) -> str:
        return self._git("rev-parse", "HEAD").strip()

    def read(self, name: str) -> str:
        if (self.path / name).exists():
            return (self.path / name).read_text()
        return self._git("show", f"HEAD:{name}")

    def list_rules(self) -> list[str]:
        if (self.path / RULES_DIR).is_dir():
            return sorted(f"{RULES_DIR}/{p.name}" for p in (self.path / RULES_DIR).glob("*.go"))
        names = self._git("ls-tree", "--name-only", "HEAD", f"{RULES_DIR}/").split()
        return sorted(name for name in names if name.endswith(".go"))

    def _git(self, *args: str) -> str:
        command = ["git", "-C", str(self.path), *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 - our arguments


def extract(checkout: Checkout, seed: int = 20) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    interpreter = Interpreter(random.Random(seed))  # noqa: S311 - sample data, not secrets
    for name in checkout.list_rules():
        interpreter.load(tokenize(checkout.read(name)))
    toml_rules = load_toml_rules(checkout.read("config/gitleaks.toml"))
    records: list[dict[str, Any]] = []
    notes: dict[str, Any] = {"functions_failed": {}, "unlocated": 0, "rules": 0}
    rule_functions = [f for f in interpreter.functions.values() if f.name[0].isupper()]
    for function in sorted(rule_functions, key=lambda f: f.name):
        try:
            result = interpreter.call_function(function.name, [])
        except (SyntaxError, KeyError, IndexError, ValueError, TypeError, StopIteration) as error:
            notes["functions_failed"][function.name] = f"{type(error).__name__}: {error}"
            continue
        if not isinstance(result, RuleSamples) or not result.rule_id:
            continue
        notes["rules"] += 1
        toml_rule = toml_rules.get(result.rule_id)
        for kind, samples in (("tp", result.true_positives), ("fp", result.false_positives)):
            for sample in samples:
                record = sample_record(result.rule_id, kind, sample, toml_rule)
                if kind == "fp":
                    record["flagged_by"] = flagged_by(str(sample), result.rule_id, toml_rules)
                    record["path_only"] = path_only(str(sample), toml_rule)
                if kind == "tp" and not record["secrets"]:
                    notes["unlocated"] += 1
                records.append(record)
    return records, notes


def flagged_by(text: str, own: str, toml_rules: dict[str, TomlRule]) -> list[str]:
    """The gitleaks rules that find a secret in a sample (keywords, regex, entropy, allow-lists). A false
    positive of one rule is often a true positive of a sibling (cloudflare-api-key's samples hold Cloudflare
    global keys): gitleaks itself calls such a string a secret."""
    lowered = text.lower()
    return sorted(
        rule.rule_id
        for rule in toml_rules.values()
        if rule.rule_id != own and any(keyword in lowered for keyword in rule.keywords) and rule.secrets_in(text)
    )


def path_only(text: str, rule: TomlRule | None) -> bool:
    """A false positive for its file name alone: its own rule, which also wants a path (freemius' `*.php`,
    nuget.config, hashicorp-tf-password's `*.tf`), finds a secret in the text. Session text has no file name, so
    gitleaks would call the same text a secret there (freemius' false positive `foo.html` is its true positive's
    text)."""
    return rule is not None and rule.needs_path and bool(rule.secrets_in(text))


# kubernetes-secret-yaml's secret group holds the entry, `key: value` (or `key: |` and the value on the next
# line); the value is the secret, the key is not.
YAML_ENTRY_KEY = re.compile(r"^[\w.-]+:(?:[ \t]*(?:\||>[-+]?)\s+)?[ \t]*")


def sample_record(rule_id: str, kind: str, sample: str, toml_rule: TomlRule | None) -> dict[str, Any]:
    template = getattr(sample, "template", "literal")
    planted = getattr(sample, "planted", "")
    found: list[str] = []
    if kind == "tp":
        found = toml_rule.secrets_in(str(sample)) if toml_rule else []
        if rule_id == "kubernetes-secret-yaml":
            found = [YAML_ENTRY_KEY.sub("", secret).strip("'\"") for secret in found]
        if not found and planted:
            found = [planted]
    return {"rule": rule_id, "kind": kind, "line": str(sample), "secrets": found, "template": template}


def re2_refuses(pattern: str) -> str:
    """Why the masker could not use a pattern ("" when it can): it compiles ASCII patterns with google-re2 over
    bytes in Latin-1 mode."""
    if not pattern.isascii():
        return "not ASCII"
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    try:
        re2.compile(pattern.encode("ascii"), options)
    except re2.error as error:
        return f"RE2 refuses it: {error}"
    return ""


def rules_for_layer(config_text: str, commit: str) -> dict[str, Any]:
    """The masker's provider-token rules: every gitleaks rule with a regex, as it stands in gitleaks.toml
    (regex, secretGroup, keywords, entropy, allow-lists), less LEFT_OUT and any regex RE2 refuses (recorded
    in left_out with the reason); and the allow-lists of the left-out rules in CONTEXT_ALLOWLISTS."""
    config = tomllib.loads(config_text)
    rules: list[dict[str, Any]] = []
    left_out = dict(LEFT_OUT)
    for rule in config["rules"]:
        if "regex" not in rule or rule["id"] in LEFT_OUT:
            continue
        refused = re2_refuses(rule["regex"]) or next(
            (
                f"allow-list regex {pattern!r}: {reason}"
                for allowlist in rule.get("allowlists", [])
                for pattern in allowlist.get("regexes", [])
                if (reason := re2_refuses(pattern))
            ),
            "",
        )
        if refused:
            left_out[rule["id"]] = refused
            continue
        allowlists = layer_allowlists(rule)
        rules.append(
            {
                "id": rule["id"],
                "regex": rule["regex"],
                "secret_group": int(rule.get("secretGroup", 0)),
                "keywords": KEYWORD_OVERRIDES.get(rule["id"], [k.lower() for k in rule.get("keywords", [])]),
                "entropy": float(rule.get("entropy", 0)),
                "allowlists": allowlists,
            }
        )
    allowlist = config.get("allowlist", {})
    return {
        "source": f"{UPSTREAM}/blob/{commit}/config/gitleaks.toml",
        "commit": commit,
        "licence": "MIT, see GITLEAKS_LICENSE",
        "left_out": left_out,
        "keyword_overrides": KEYWORD_OVERRIDES,
        "global_allowlist": {
            "regexes": allowlist.get("regexes", []),
            "stopwords": [word.lower() for word in allowlist.get("stopwords", [])],
        },
        "rules": rules,
        "context_allowlists": {
            rule["id"]: layer_allowlists(rule) for rule in config["rules"] if rule["id"] in CONTEXT_ALLOWLISTS
        },
    }


def layer_allowlists(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """A rule's allow-lists as the masker reads them; those that need a file path to hold (condition AND with
    paths, or paths only) can never hold on session text and are dropped."""
    allowlists = []
    for allowlist in rule.get("allowlists", []):
        if allowlist.get("condition", "OR") == "AND" and allowlist.get("paths"):
            continue
        if not allowlist.get("regexes") and not allowlist.get("stopwords"):
            continue  # paths only
        allowlists.append(
            {
                "target": allowlist.get("regexTarget", "secret"),
                "condition": allowlist.get("condition", "OR"),
                "regexes": allowlist.get("regexes", []),
                "stopwords": [word.lower() for word in allowlist.get("stopwords", [])],
            }
        )
    return allowlists


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 1
    checkout = Checkout(Path(args[0]))
    records, notes = extract(checkout)
    write_samples(CORPUS, records, checkout.read("LICENSE"))
    if LAYER_MASKING.is_dir():
        layer_rules = rules_for_layer(checkout.read("config/gitleaks.toml"), checkout.commit())
        LAYER_RULES.write_text(json.dumps(layer_rules, indent=1) + "\n")
        LAYER_LICENSE.write_text(checkout.read("LICENSE"))
    tps = sum(r["kind"] == "tp" for r in records)
    summary = {
        "source": UPSTREAM,
        "commit": checkout.commit(),
        "rules": notes["rules"],
        "true_positives": tps,
        "false_positives": len(records) - tps,
        "unlocated_true_positives": notes["unlocated"],
        "functions_failed": notes["functions_failed"],
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
