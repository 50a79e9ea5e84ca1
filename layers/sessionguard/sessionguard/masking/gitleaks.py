"""Provider-token rules from gitleaks' rule set (MIT): gitleaks_rules.json, generated from gitleaks' config.

Each rule is gitleaks' own: an RE2 regex whose secret group is the value to mask (its secretGroup, else the first
unnamed group that took part, else the whole match), keywords that must occur in the line (they feed the masker's
trigger Set, so a rule costs nothing on a line without them), a Shannon-entropy floor for the value, and
allow-lists (values that are not secrets: gitleaks' global ones such as `${VAR}`, `{{ x }}`, `aaaa…`, and each
rule's own, such as `.+EXAMPLE$` for AWS key ids). The file names the gitleaks commit it was made from;
`python -m evaluation.gitleaks_samples <gitleaks checkout>` remakes it from a newer one (docs/masking.md,
"Updating gitleaks' rules"). gitleaks' licence is GITLEAKS_LICENSE, beside it, and ships with the layer.

The regexes are compiled on first use (regex.LazyRegex: most rules never meet their keywords, and compiling all
costs ~0.2 s); the generator keeps only rules that compile under RE2 in the masker's Latin-1 byte mode (see the
file's `left_out`), and tests/unit/test_masking_gitleaks.py compiles every one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Final

from sessionguard.masking.heuristics import is_placeholder_token, shannon_entropy, starts_with_a_word
from sessionguard.masking.regex import LazyRegex, Match, Regex, class_end
from sessionguard.masking.rules import SECRET_NAME_WORD, SECRET_NAME_WORDS, Rule

RULES_FILE: Final = Path(__file__).with_name("gitleaks_rules.json")
SPECIAL: Final = "gitleaks"  # Rule.special of these rules: the masker's _apply_gitleaks handles them


@dataclass(frozen=True, slots=True)
class Allowlist:
    """One gitleaks allow-list: a value is let go when its regexes (on the secret, the match or the line) or its
    stop words (in the secret) say so; with condition AND, every part that is set must say so."""

    target: str  # "secret", "match" or "line"
    all_required: bool
    regex: LazyRegex | None  # the allow-list's regexes as one alternation: one search, not one per regex
    stopwords: tuple[bytes, ...]

    def allows(self, secret: bytes, match: bytes, line: bytes) -> bool:
        text = match if self.target == "match" else line if self.target == "line" else secret
        verdicts: list[bool] = []
        if self.regex is not None:
            verdicts.append(self.regex.search(text) is not None)
        if self.stopwords:
            lowered = secret.lower()
            verdicts.append(any(word in lowered for word in self.stopwords))
        return bool(verdicts) and (all(verdicts) if self.all_required else any(verdicts))


@dataclass(frozen=True, slots=True)
class GitleaksCheck:
    """What a match of a gitleaks rule must pass to be masked, and which group is the secret."""

    secret_group: int
    entropy: float
    allowlists: tuple[Allowlist, ...]
    regex: LazyRegex  # the rule's own, for its groups

    def secret_span(self, match: Match) -> tuple[int, int]:
        """gitleaks' secretGroup, else the first unnamed group that took part, else the whole match. (gitleaks
        takes the first non-empty group of any kind; named groups there only label parts of a token, as
        jwt-base64's header fields, and the whole token is what must not leak. Nor is a repeated group the secret:
        it holds only its last repetition, as microsoft-teams-webhook's `([a-z0-9]{4}-){3}`, 5 characters of a
        UUID in the middle of the URL.)"""
        if self.secret_group and self.secret_group < len(match):
            return match[self.secret_group]
        for group in _secret_candidates(self.regex.pattern):
            start, stop = match[group]
            if stop > start:
                return start, stop
        return match[0]

    def too_plain(self, secret: bytes) -> bool:
        """At or below the rule's Shannon-entropy floor: the provider's shape, but no random token of it."""
        return bool(self.entropy) and shannon_entropy(secret) <= self.entropy

    def accepts(self, secret: bytes, match: bytes, line: bytes) -> bool:
        if self.too_plain(secret):
            return False
        return not any(allowlist.allows(secret, match, line) for allowlist in self.allowlists)


@cache
def _secret_candidates(pattern: str) -> tuple[int, ...]:
    """The capture groups without a name and not repeated (no `*`, `+` or `{` after them), by number."""
    return tuple(
        number
        for number, (named, _, stop, _) in enumerate(_capture_groups(pattern), start=1)
        if not named and not pattern.startswith(("*", "+", "{"), stop + 1)
    )


def _allowlist(raw: dict[str, Any]) -> Allowlist:
    patterns = raw.get("regexes", [])
    return Allowlist(
        target=str(raw.get("target", "secret")),
        all_required=raw.get("condition", "OR") == "AND",
        # each pattern in its own group, so that its inline flags ((?i)) and anchors stay its own; compiled when a
        # match of its rule is first judged, as the rule's own regex is
        regex=LazyRegex("|".join(f"(?:{pattern})" for pattern in patterns)) if patterns else None,
        stopwords=tuple(str(word).encode() for word in raw.get("stopwords", [])),
    )


@cache
def gitleaks_data(path: Path = RULES_FILE) -> dict[str, Any]:
    """The file as generated: source, commit, licence, left_out, global_allowlist, rules."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def gitleaks_rules() -> tuple[Rule, ...]:
    """One masker rule per gitleaks rule, in the file's order; kind = gitleaks' rule id."""
    data = gitleaks_data()
    global_allowlist = _allowlist(data["global_allowlist"])
    rules: list[Rule] = []
    for raw in data["rules"]:
        regex = LazyRegex(raw["regex"])
        check = GitleaksCheck(
            secret_group=int(raw["secret_group"]),
            entropy=float(raw["entropy"]),
            allowlists=(global_allowlist, *(_allowlist(allowlist) for allowlist in raw["allowlists"])),
            regex=regex,
        )
        keywords = tuple(str(keyword).lower() for keyword in raw["keywords"])
        rules.append(Rule(raw["id"], keywords, regex, (), 0, None, False, SPECIAL, False, (), check))
    return tuple(rules)


_REGEX_SYNTAX: Final = frozenset(".^$*+?()[]{}|")


def _literal(pattern: str) -> str | None:
    """The text an allow-list regex matches when it is one literal value (`hal\\+9ooo_da!sY`), else None."""
    text, escaped = [], False
    for char in pattern:
        if escaped:
            if char.isalnum():  # \S, \d: a class, not a literal
                return None
            text.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _REGEX_SYNTAX:
            return None
        else:
            text.append(char)
    return "".join(text) if text and not escaped else None


@cache
def listed_examples() -> frozenset[bytes]:
    """Values an allow-list names one by one: a rule's literal regex (nuget-config-password's `33f!!lloppa`,
    gcp-api-key's keys from Google's documentation) or a stop word that is a whole token (generic-api-key's
    `6fe4476e…`, the global allow-list's UUID `014df517-…`; its words, such as `admin` or `task`, are not
    values). Examples gitleaks' maintainers judged to be no secret, wherever they stand, as AWS's documented
    keys are (heuristics.is_placeholder_token). Allow-lists that are patterns (vault-service-token's
    `s\\.[A-Za-z]{24}`) only veto their own rule's match."""
    data = gitleaks_data()
    allowlists = [
        data["global_allowlist"],
        *(allowlist for raw in data["rules"] for allowlist in raw["allowlists"]),
        *(allowlist for allowlists in data.get("context_allowlists", {}).values() for allowlist in allowlists),
    ]
    literals = (_literal(pattern) for allowlist in allowlists for pattern in allowlist.get("regexes", []))
    stopwords = (word for allowlist in allowlists for word in allowlist.get("stopwords", []) if _is_token(word))
    return frozenset(value.encode("latin-1") for value in (*literals, *stopwords) if value is not None)


_TOKEN_MIN: Final = 16


def _is_token(word: str) -> bool:
    """A stop word that is a whole value (16 characters or more, letters and digits), not a word."""
    return len(word) >= _TOKEN_MIN and any(c.isdigit() for c in word) and any(c.isalpha() for c in word)


# How far past a secret-like name generic-api-key's allowed names are looked for: they are identifiers, which the
# name holds whole, but for what follows two of them (`io.jsonwebtoken : a`, `x-api:jar:`). A small bound keeps
# dense hostile lines of names cheap.
_NAME_WINDOW: Final = 8


@cache
def _allowed_names() -> tuple[Regex | None, tuple[bytes, ...]]:
    """generic-api-key's allow-list on the match: names that hold no secret although they hold a secret's word
    (`keyVaultToStoreSecrets`, `io.jsonwebtoken:jjwt-api`, `csrf_token`, `key_alias`, `author`); and the secret
    words that none of its patterns even spells (`pass`, `pw`): a name holding one is never allowed, with no
    RE2 call (most secret names are passwords')."""
    patterns = [
        pattern
        for allowlist in gitleaks_data().get("context_allowlists", {}).get("generic-api-key", [])
        if allowlist["target"] == "match"
        for pattern in allowlist["regexes"]
    ]
    spelled = " ".join(patterns).lower()
    never = tuple(word.encode() for word in SECRET_NAME_WORDS if word not in spelled)
    return (Regex("|".join(f"(?:{pattern})" for pattern in patterns)) if patterns else None), never


def name_holds_no_secret(data: bytes, name_start: int, name_end: int) -> bool:
    """Whether gitleaks' generic-api-key, the rule SessionGuard's secret-named assignments stand in for, allows the
    name at data[name_start:name_end]: every secret word in it (pass, token, key, …) lies inside a name its
    allow-list names. `AUTHORIZATION_TOKEN` holds the allowed `author`, but its `TOKEN` is outside it; an allowed
    name in the value (`api_key=capital…`) says nothing of the name."""
    name = data[name_start:name_end].lower()
    for unspelled in _allowed_names()[1]:
        if unspelled in name:
            return False
    return _allows(data[name_start : name_end + _NAME_WINDOW], name_end - name_start)


@lru_cache(maxsize=1024)
def _allows(window: bytes, name_size: int) -> bool:
    """name_holds_no_secret for a name (window[:name_size]) and what follows it; names come back again and again
    in a session (and on a hostile line), so the verdict is kept."""
    allowed = _allowed_names()[0]
    if allowed is None:
        return False
    covered: list[tuple[int, int]] = []
    pos = 0
    while pos < name_size and (hit := allowed.search(window, pos)) is not None:
        start, stop = hit[0]
        if start >= name_size:
            break
        covered.append((start, stop))
        pos = max(stop, start + 1)
    if not covered:
        return False
    pos = 0
    while (word := SECRET_NAME_WORD.search_within(window, pos, name_size)) is not None:
        start, stop = word[0]
        if not any(low <= start and stop <= high for low, high in covered):
            return False
        pos = stop
    return True


# --- a token alone on a line that starts with a provider's prefix ---------------------------------------------
#
# gitleaks' rule for a token with a prefix of its own often wants a keyword before it (`mailgun … = key-…`,
# `new_relic_key = NRAK-…`), which a token printed alone lacks; and the shape test of a token alone
# (heuristics.bare_credential) lets go of a word before the first separator (`ami-0…`, `key-…`). So the prefix is
# read from the text of each rule's secret group, once, on the first token alone: a token alone that starts with
# it is that rule's secret when the secret group's own pattern matches the whole token and the rule's entropy
# floor, its allow-lists and the stand-in tests let it pass.

_PREFIX_MIN: Final = 3  # `t1.` (yandex), `pk.` (mapbox); shorter is no provider's own
_PREFIXES_MAX: Final = 16  # literal alternatives multiplied out (`(live|test)_`); more is no prefix worth keeping
_QUANTIFIERS: Final = ("?", "*", "+", "{")
_LITERAL_PUNCTUATION: Final = frozenset("-_:/=@~,;!%&#'\"<>")
_ZERO_WIDTH: Final = frozenset({"^", "\\b"})


@dataclass(frozen=True, slots=True)
class PrefixedSecret:
    """A rule's secret that starts with a literal prefix (`NRAK-`, `key-`), as read from its regex."""

    position: int  # the rule's place in gitleaks_rules()
    prefix: bytes  # lower-cased when ignore_case
    ignore_case: bool
    secret: LazyRegex  # the secret group's pattern, with the flags in effect where it opens


def _with_flags(flags: str, spec: str) -> str:
    """flags after `(?spec)` or `(?spec:`: `i`, `-i`, `i-s`."""
    on, _, off = spec.partition("-")
    return "".join(sorted((set(flags) | set(on)) - set(off)))


def _capture_groups(pattern: str) -> list[tuple[bool, int, int, str]]:
    """Each capture group of an RE2 pattern in the order RE2 numbers them: whether it has a name, where its text
    starts and stops, and the flags in effect where it opens (`(?i)` before it, an enclosing `(?i:`)."""
    groups: list[tuple[bool, int, int, str]] = []
    opened: list[tuple[bool | None, int, str]] = []  # open groups: named (None: no capture), text start, flags outside
    flags, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = class_end(pattern, index)
            continue
        if char == ")" and opened:
            named, start, flags = opened.pop()
            if named is not None:
                groups.append((named, start, index, flags))
        elif pattern.startswith(("(?P<", "(?<"), index):
            start = pattern.index(">", index) + 1
            opened.append((True, start, flags))
            index = start
            continue
        elif pattern.startswith("(?", index):
            stop = index + 2
            while stop < len(pattern) and (pattern[stop].isalpha() or pattern[stop] == "-"):
                stop += 1
            if pattern.startswith(")", stop):  # (?i): to the end of the enclosing group
                flags = _with_flags(flags, pattern[index + 2 : stop])
            else:  # (?:…), (?i:…)
                opened.append((None, stop + 1, flags))
                flags = _with_flags(flags, pattern[index + 2 : stop])
            index = stop + 1
            continue
        elif char == "(":
            opened.append((False, index + 1, flags))
        index += 1
    return sorted(groups, key=lambda group: group[1])


def _secret_text(raw: dict[str, Any]) -> tuple[str, str]:
    """The text of a rule's secret group and the flags in effect where it opens: secretGroup, else the first group
    without a name (as GitleaksCheck.secret_span takes it), else the whole regex. Leading `\\b`, `^` and `(?i)`
    go (the token is matched whole; a flag joins the flags)."""
    pattern = str(raw["regex"])
    groups = _capture_groups(pattern)
    number = int(raw["secret_group"])
    if number:
        chosen = [groups[number - 1]] if number <= len(groups) else []
    else:
        chosen = [group for group in groups if not group[0]][:1]
    text, flags = (pattern[chosen[0][1] : chosen[0][2]], chosen[0][3]) if chosen else (pattern, "")
    while True:
        if text.startswith("\\b"):
            text = text[2:]
        elif text.startswith("^"):
            text = text[1:]
        elif text.startswith("(?") and (stop := text.find(")")) > 2 and text[2:stop].replace("-", "").isalpha():
            flags, text = _with_flags(flags, text[2:stop]), text[stop + 1 :]
        else:
            return text, flags


def _atom_end(text: str, index: int) -> int:
    """Where the atom at text[index] ends: an escape, a class, a group (to its `)`), or one character."""
    if text[index] == "\\":
        return index + 2
    if text[index] == "[":
        return class_end(text, index)
    if text[index] != "(":
        return index + 1
    index += 1
    while index < len(text) and text[index] != ")":
        index = _atom_end(text, index)
    return index + 1


def _alternatives(text: str) -> list[str]:
    """text split at its top-level `|`."""
    parts, start, index = [], 0, 0
    while index < len(text):
        if text[index] == "|":
            parts.append(text[start:index])
            start = index + 1
        index = _atom_end(text, index)
    return [*parts, text[start:]]


def _literal_choices(atom: str) -> tuple[list[str], bool] | None:
    """The literal texts a match of an atom without a quantifier starts with, and whether each is all of it: a
    character, an escaped punctuation mark, nothing for `\\b` and `^`; for a group of alternatives, each one's
    literal start (`(?:live|test)`: whole; `(?:fo1_[\\w-]{43}|fm2_…)`: `fo1_`, `fm2_`, not whole). None when
    the atom is not literal."""
    if atom in _ZERO_WIDTH:
        return [""], True
    if len(atom) == 1:
        return ([atom], True) if atom.isalnum() or atom in _LITERAL_PUNCTUATION else None
    if atom[0] == "\\":
        return None if atom[1].isalnum() else ([atom[1]], True)
    if atom[0] != "(":
        return None
    inner = atom[1:-1]
    if inner.startswith("?:"):
        inner = inner[2:]
    elif inner.startswith("?"):  # a flag group (?i:…), a named group: not followed
        return None
    choices: list[str] = []
    whole = True
    for alternative in _alternatives(inner):
        prefixes, complete = _literal_prefixes(alternative)
        choices.extend(prefixes)
        whole = whole and complete
    return choices, whole


def _literal_prefixes(text: str) -> tuple[list[str], bool]:
    """The literal texts a match of text starts with (one per literal alternative met on the way), and whether
    they are all of it. Reading stops at the first atom that is not literal or has a quantifier."""
    prefixes, index = [""], 0
    while index < len(text):
        end = _atom_end(text, index)
        read = None if text.startswith(_QUANTIFIERS, end) else _literal_choices(text[index:end])
        if read is None:
            return prefixes, False
        choices, whole = read
        prefixes = [prefix + choice for prefix in prefixes for choice in choices]
        if len(prefixes) > _PREFIXES_MAX:
            return [], False
        if not whole:
            return prefixes, False
        index = end
    return prefixes, True


def secret_prefixes(raw: dict[str, Any]) -> tuple[tuple[str, ...], str, str]:
    """A rule's literal secret prefixes of _PREFIX_MIN characters or more (one per top-level alternative of its
    secret group that has one; none when the text cannot be read so), the secret group's text and its flags."""
    text, flags = _secret_text(raw)
    prefixes = (prefix for alternative in _alternatives(text) for prefix in _literal_prefixes(alternative)[0])
    return tuple(dict.fromkeys(prefix for prefix in prefixes if len(prefix) >= _PREFIX_MIN)), text, flags


@cache
def _prefixed_secrets() -> dict[bytes, tuple[PrefixedSecret, ...]]:
    """The rules whose secret starts with a prefix, by the prefix's first _PREFIX_MIN characters in lower case;
    the longest prefix first (`test_pub_` before `test_`). Built on the first token alone, not at import; each
    secret pattern compiles on its first use."""
    found: list[PrefixedSecret] = []
    for position, raw in enumerate(gitleaks_data()["rules"]):
        prefixes, text, flags = secret_prefixes(raw)
        if not prefixes:
            continue
        secret = LazyRegex(f"(?{flags}){text}" if flags else text)
        ignore_case = "i" in flags
        for prefix in prefixes:
            key = prefix.lower() if ignore_case else prefix
            found.append(PrefixedSecret(position, key.encode("latin-1"), ignore_case, secret))
    index: dict[bytes, list[PrefixedSecret]] = {}
    for entry in sorted(found, key=lambda entry: -len(entry.prefix)):
        index.setdefault(entry.prefix[:_PREFIX_MIN].lower(), []).append(entry)
    return {key: tuple(entries) for key, entries in index.items()}


def bare_provider_rule(token: bytes, line: bytes) -> int | None:
    """The place in gitleaks_rules() of the rule whose secret a token alone on its line is, by the prefix it starts
    with: its secret group's pattern matches the whole token, and its entropy floor, its allow-lists (on the
    token and the line) and the stand-in tests (heuristics.is_placeholder_token, listed_examples) let it pass.
    A dictionary lookup for most tokens."""
    for candidate in _candidates(token):
        if not candidate.secret.fullmatch(token):
            continue
        if is_placeholder_token(token) or token in listed_examples():
            return None
        check = gitleaks_rules()[candidate.position].gitleaks
        if check is None or not check.accepts(token, token, line):
            continue
        if not check.entropy and starts_with_a_word(token[len(candidate.prefix) :]):
            continue  # no floor of its own (`live_` and 40 of [a-z0-9_=-]): `live_deploy_runner_…` is a name
        return candidate.position
    return None


def has_provider_prefix(token: bytes) -> bool:
    """Whether a token starts with a provider's prefix that bare_provider_rule knows: such a token alone is that
    provider's or nothing (`NRAK-` and 26 characters is not a New Relic key cut short, by decision), and is not
    judged by its shape as a vendor's token (heuristics.is_random_bare_token) either."""
    return next(_candidates(token), None) is not None


def _candidates(token: bytes) -> Iterator[PrefixedSecret]:
    """The rules' prefixed secrets whose prefix the token starts with (a dictionary lookup for most tokens)."""
    candidates = _prefixed_secrets().get(token[:_PREFIX_MIN].lower(), ())
    lowered = token.lower()
    return (c for c in candidates if (lowered if c.ignore_case else token).startswith(c.prefix))


def gitleaks_kinds() -> frozenset[str]:
    return frozenset(rule.kind for rule in gitleaks_rules())


__all__ = [
    "RULES_FILE",
    "SPECIAL",
    "Allowlist",
    "GitleaksCheck",
    "PrefixedSecret",
    "bare_provider_rule",
    "gitleaks_data",
    "gitleaks_kinds",
    "gitleaks_rules",
    "has_provider_prefix",
    "listed_examples",
    "name_holds_no_secret",
    "secret_prefixes",
]
