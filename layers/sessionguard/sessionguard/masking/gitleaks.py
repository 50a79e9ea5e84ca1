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
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Final

from sessionguard.masking.heuristics import shannon_entropy
from sessionguard.masking.regex import LazyRegex, Match, Regex
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
        jwt-base64's header fields, and the whole token is what must not leak.)"""
        if self.secret_group and self.secret_group < len(match):
            return match[self.secret_group]
        for group in _unnamed_groups(self.regex.compiled):
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
def _unnamed_groups(regex: Regex) -> tuple[int, ...]:
    """The capture groups without a name, in order."""
    named = set(regex.groupindex.values())
    return tuple(group for group in range(1, regex.groups + 1) if group not in named)


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


def gitleaks_kinds() -> frozenset[str]:
    return frozenset(rule.kind for rule in gitleaks_rules())


__all__ = [
    "RULES_FILE",
    "SPECIAL",
    "Allowlist",
    "GitleaksCheck",
    "gitleaks_data",
    "gitleaks_kinds",
    "gitleaks_rules",
    "listed_examples",
    "name_holds_no_secret",
]
