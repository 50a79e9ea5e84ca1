"""Provider-token shapes as data: tokens.yaml, read once into masker rules that go ahead of the context rules.

A shape is recognised by the value alone (`ghp_` + 36 base62, `AKIA` + 16), so it needs no code: its kind, trigger
words, RE2 pattern and the examples it must and must not mask are one YAML entry each. What a pattern cannot say is
a named hook in `ACCEPT_HOOKS`. Loading is strict, as for detection rules: an unknown key, an unknown kind, a
pattern RE2 rejects or one without its value group fails the import, never silently weakens masking.

The file is read through tokens.json beside it, the same document as JSON with the SHA-256 of the YAML it was
made from: a cold start then neither imports PyYAML nor parses YAML (~10-15 ms before the first line is masked).
When the digest differs (tokens.yaml edited, the JSON not remade), the YAML itself is read, so a stale JSON makes
loading slower, never different. `python -m sessionguard.masking.tokens` remakes it; a test keeps it fresh.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from sessionguard.masking.kinds import KINDS
from sessionguard.masking.regex import Match
from sessionguard.masking.rules import Rule, make_rule

TOKENS_FILE: Final = Path(__file__).with_name("tokens.yaml")
PREBUILT_SUFFIX: Final = ".json"  # tokens.json beside tokens.yaml
_KEYS: Final = frozenset({"kind", "source", "triggers", "requires", "regex", "accept", "examples"})
_EXAMPLE_KEYS: Final = frozenset({"mask", "keep"})


class TokenShapeError(ValueError):
    """tokens.yaml says something the masker cannot use; the message names the entry."""


def _has_digit_and_letter(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
    """`sk-` also starts ordinary hyphenated names; OpenAI keys are random base62, so they mix both."""
    body = value[3:]
    return any(48 <= c <= 57 for c in body) and any(65 <= (c | 32) - 32 <= 90 for c in body)


def _is_base64_private_key(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
    """The base64 starts with a private key's PEM armour (`-----BEGIN … PRIVATE KEY-----`), not a certificate's."""
    head = value[:88]  # a multiple of 4: decodes without padding to the armour line and more
    try:
        decoded = base64.b64decode(head[: len(head) - len(head) % 4], validate=True)
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded.split(b"\n", 1)[0]


ACCEPT_HOOKS: Final[Mapping[str, Callable[[Rule, Match, bytes, bytes], bool]]] = {
    "digit-and-letter": _has_digit_and_letter,
    "base64-private-key": _is_base64_private_key,
}


@dataclass(frozen=True, slots=True)
class TokenShape:
    """One entry of tokens.yaml: its rule, and the examples its self-test runs."""

    rule: Rule
    source: str
    must_mask: tuple[str, ...]
    must_keep: tuple[str, ...]


def _strings(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = entry.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise TokenShapeError(f"{where}: {key} must be a list of non-empty strings")
    return tuple(values)


def _shape(entry: object, index: int) -> TokenShape:
    where = f"tokens.yaml entry {index + 1}"
    if not isinstance(entry, dict):
        raise TokenShapeError(f"{where}: not a mapping")
    unknown = set(entry) - _KEYS
    if unknown:
        raise TokenShapeError(f"{where}: unknown keys {sorted(unknown)}")
    kind, pattern = entry.get("kind"), entry.get("regex")
    if kind not in KINDS:
        raise TokenShapeError(f"{where}: kind {kind!r} is not one of masking.kinds.KINDS")
    if not isinstance(pattern, str) or "(?P<v_v>" not in pattern or not pattern.isascii():
        raise TokenShapeError(f"{where} ({kind}): regex must be ASCII with a value group v_v")
    triggers = _strings(entry, "triggers", where)
    if not triggers or any(t != t.lower() for t in triggers):
        raise TokenShapeError(f"{where} ({kind}): triggers must be given, in lower case (they match any case)")
    requires = entry.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, list) and r for r in requires):
        raise TokenShapeError(f"{where} ({kind}): requires must be a list of non-empty lists")
    hook_name = entry.get("accept")
    if hook_name is not None and hook_name not in ACCEPT_HOOKS:
        raise TokenShapeError(f"{where} ({kind}): accept {hook_name!r} is not one of {sorted(ACCEPT_HOOKS)}")
    examples = entry.get("examples")
    if not isinstance(examples, dict) or set(examples) - _EXAMPLE_KEYS or not examples.get("mask"):
        raise TokenShapeError(f"{where} ({kind}): examples must hold `mask` (at least one) and may hold `keep`")
    try:
        rule = make_rule(
            kind,
            triggers,
            pattern,
            accept=ACCEPT_HOOKS[hook_name] if hook_name else None,
            requires=tuple(tuple(str(needle).encode("ascii") for needle in needed) for needed in requires),
        )
    except Exception as error:  # RE2 rejects the pattern (backreferences, lookaround): say which entry
        raise TokenShapeError(f"{where} ({kind}): regex does not compile with RE2: {error}") from error
    return TokenShape(
        rule=rule,
        source=str(entry.get("source", "")),
        must_mask=_strings(examples, "mask", where),
        must_keep=_strings(examples, "keep", where),
    )


@cache
def token_shapes(path: Path = TOKENS_FILE) -> tuple[TokenShape, ...]:
    """Every shape of the file, in its order (which is the masker's precedence)."""
    document = _document(path)
    if not isinstance(document, list) or not document:
        raise TokenShapeError(f"{path.name}: expected a list of token shapes")
    return tuple(_shape(entry, index) for index, entry in enumerate(document))


def token_rules() -> tuple[Rule, ...]:
    return tuple(shape.rule for shape in token_shapes())


def _document(path: Path) -> Any:
    """The YAML document of `path`, from its prebuilt JSON when that was made from these very bytes."""
    source = path.read_bytes()
    try:
        prebuilt = json.loads(path.with_suffix(PREBUILT_SUFFIX).read_text(encoding="utf-8"))
        if prebuilt["yaml_sha256"] == hashlib.sha256(source).hexdigest():
            return prebuilt["document"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return _parse_yaml(source.decode("utf-8"))


def _parse_yaml(text: str) -> Any:
    import yaml  # noqa: PLC0415 - only when tokens.json is missing or stale

    # libyaml's parser when PyYAML has it (the layer's wheel does): the same documents in a third of the time.
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def write_prebuilt(path: Path = TOKENS_FILE) -> Path:
    """(Re)write the JSON of `path` (tokens.json for tokens.yaml); returns its path."""
    source = path.read_bytes()
    prebuilt = {"yaml_sha256": hashlib.sha256(source).hexdigest(), "document": _parse_yaml(source.decode("utf-8"))}
    target = path.with_suffix(PREBUILT_SUFFIX)
    target.write_text(json.dumps(prebuilt, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


__all__ = [
    "ACCEPT_HOOKS",
    "TOKENS_FILE",
    "TokenShape",
    "TokenShapeError",
    "token_rules",
    "token_shapes",
    "write_prebuilt",
]

if __name__ == "__main__":
    print(write_prebuilt())
