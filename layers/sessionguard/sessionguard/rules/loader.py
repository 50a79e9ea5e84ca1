"""Reading and validating rule files: YAML in, Rule and AllowEntry out, or a RuleError that says what is wrong.

Validation is strict on purpose: a typo in a key (`exception:`) or an unknown severity would otherwise silently
weaken detection. Every regex is compiled with RE2 here, so a pattern RE2 rejects (backreferences, lookaround)
fails loading instead of falling back to a backtracking engine.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import re2

from sessionguard.rules.model import AllowEntry, Rule, RuleError
from sessionguard.severity import Severity

if TYPE_CHECKING:
    import yaml

RULE_KEYS = frozenset(
    {"id", "title", "severity", "techniques", "description", "tags", "match", "exceptions", "examples", "platform"}
    | {"after"}
)
REQUIRED_RULE_KEYS = ("id", "title", "severity", "techniques", "description", "match", "examples")
ALLOW_KEYS = frozenset({"rule", "user", "instance_id", "command", "expires", "reason"})
PLATFORMS = ("linux", "windows")  # the sessions a rule judges (see Rule.platform)
MIN_MATCH_EXAMPLES = 2
MIN_NO_MATCH_EXAMPLES = 1

# Ids are upper-case words joined by dashes (SG-HIST-001, ACME-DB-002): stable, greppable, glob-friendly.
_RULE_ID = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+")
_TECHNIQUE = re.compile(r"T[0-9]{4}(?:\.[0-9]{3})?")
# An odd number of backslashes before A or z is the escape \A / \z (an even number is a literal backslash).
_TEXT_ANCHOR = re.compile(r"(?<!\\)(?:\\\\)*\\[Az]")
_MULTILINE_OFF = re.compile(r"\(\?[a-zA-Z]*-[a-zA-Z]*m")


def rule_files(path: Path) -> list[Path]:
    """A file is itself; a directory is its *.yaml and *.yml files, sorted by name."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    raise RuleError(f"{path}: no such rule file or directory")


def load_file(path: Path) -> tuple[list[Rule], list[AllowEntry]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RuleError(f"{path}: cannot read: {error}") from error
    return parse_document(text, str(path))


def parse_document(text: str, source: str) -> tuple[list[Rule], list[AllowEntry]]:
    import yaml  # noqa: PLC0415 - the default pack loads from its prebuilt JSON: a cold start imports no PyYAML

    try:
        document = yaml.load(text, Loader=_strict_loader())  # noqa: S506 -- a SafeLoader
    except yaml.YAMLError as error:
        raise RuleError(f"{source}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise RuleError(f"{source}: expected a mapping with `rules:` and/or `allow:` at the top level")
    _reject_unknown(document, frozenset({"rules", "allow"}), f"{source}")
    rules_data = document.get("rules") or []
    allow_data = document.get("allow") or []
    if not isinstance(rules_data, list):
        raise RuleError(f"{source}: `rules` must be a list")
    if not isinstance(allow_data, list):
        raise RuleError(f"{source}: `allow` must be a list")
    rules = [_parse_rule(item, index, source) for index, item in enumerate(rules_data)]
    allow = [_parse_allow(item, index, source) for index, item in enumerate(allow_data)]
    return rules, allow


def check_anchors(pattern: str, where: str) -> None:
    """The engine scans many texts at once in multi-line mode: only ^ and $ may mean "start/end of the text"."""
    if _TEXT_ANCHOR.search(pattern) or _MULTILINE_OFF.search(pattern):
        raise RuleError(f"{where}: pattern {pattern!r}: use ^ and $ instead of \\A, \\z or (?-m)")


def compile_pattern(pattern: str, where: str) -> Any:
    """Compile one regex with RE2, or raise RuleError naming where it came from and RE2's complaint."""
    check_anchors(pattern, where)
    try:
        return re2.compile(pattern)
    except re2.error as error:
        raise RuleError(f"{where}: RE2 rejects the pattern {pattern!r}: {error}") from error


def check_pattern(pattern: str, where: str) -> None:
    """Raise RuleError unless RE2 accepts the pattern. RE2 only parses it here (an RE2 Set's Add), several times
    cheaper than compiling it: the rule pack's sets compile every pattern anyway, on first use."""
    check_anchors(pattern, where)
    try:
        re2.Set.SearchSet().Add(pattern)
    except re2.error:
        compile_pattern(pattern, where)  # the same parser: raises RuleError with RE2's reason
        raise RuleError(f"{where}: RE2 rejects the pattern {pattern!r}") from None


def compile_glob(glob: str) -> Any:
    """`*` is any run of characters (including `/` and `:`), `?` one character; the rest is literal."""
    parts = (".*" if char == "*" else "." if char == "?" else re2.escape(char) for char in glob)
    return re2.compile("".join(parts))


def _parse_rule(item: object, index: int, source: str) -> Rule:
    if not isinstance(item, dict):
        raise RuleError(f"{source}: rules[{index}]: expected a mapping, got {type(item).__name__}")
    rule_id = item.get("id")
    where = f"{source}: rule {rule_id!r}" if isinstance(rule_id, str) else f"{source}: rules[{index}]"
    _reject_unknown(item, RULE_KEYS, where)
    missing = [key for key in REQUIRED_RULE_KEYS if key not in item]
    if missing:
        raise RuleError(f"{where}: missing {', '.join(missing)}")
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        raise RuleError(f"{where}: id must look like SG-HIST-001 (upper-case words joined by dashes)")

    title = _text(item["title"], f"{where}: title")
    description = _text(item["description"], f"{where}: description")
    try:
        severity = Severity.parse(item["severity"])
    except ValueError as error:
        raise RuleError(f"{where}: severity: {error}") from error
    techniques = _strings(item["techniques"], f"{where}: techniques", minimum=1)
    for technique in techniques:
        if not _TECHNIQUE.fullmatch(technique):
            raise RuleError(f"{where}: techniques: {technique!r} is not a MITRE ATT&CK id like T1070.003")
    tags = _strings(item.get("tags", []), f"{where}: tags")
    platform = item.get("platform", "linux")
    if platform not in PLATFORMS:
        raise RuleError(f"{where}: platform must be one of {', '.join(PLATFORMS)} (default linux)")

    match = item["match"]
    if not isinstance(match, dict):
        raise RuleError(f"{where}: match must be a mapping with `segment:` and/or `whole:` lists of regexes")
    _reject_unknown(match, frozenset({"segment", "whole"}), f"{where}: match")
    segment = _strings(match.get("segment", []), f"{where}: match.segment")
    whole = _strings(match.get("whole", []), f"{where}: match.whole")
    if not segment and not whole:
        raise RuleError(f"{where}: match needs at least one pattern under `segment:` or `whole:`")
    exceptions = _strings(item.get("exceptions", []), f"{where}: exceptions")
    after = _rule_ids(item.get("after", []), f"{where}: after")
    for kind, patterns in (("match.segment", segment), ("match.whole", whole), ("exceptions", exceptions)):
        for pattern in patterns:
            check_pattern(pattern, f"{where}: {kind}")

    examples = item["examples"]
    if not isinstance(examples, dict):
        raise RuleError(f"{where}: examples must be a mapping with `match:` and `no_match:` lists")
    _reject_unknown(examples, frozenset({"match", "no_match"}), f"{where}: examples")
    examples_match = _strings(examples.get("match", []), f"{where}: examples.match", minimum=MIN_MATCH_EXAMPLES)
    examples_no_match = _strings(
        examples.get("no_match", []), f"{where}: examples.no_match", minimum=MIN_NO_MATCH_EXAMPLES
    )
    return Rule(
        id=rule_id,
        title=title,
        severity=severity,
        techniques=techniques,
        description=description,
        segment=segment,
        whole=whole,
        exceptions=exceptions,
        tags=tags,
        examples_match=examples_match,
        examples_no_match=examples_no_match,
        after=after,
        source=source,
        platform=platform,
    )


def _parse_allow(item: object, index: int, source: str) -> AllowEntry:
    where = f"{source}: allow[{index}]"
    if not isinstance(item, dict):
        raise RuleError(f"{where}: expected a mapping, got {type(item).__name__}")
    _reject_unknown(item, ALLOW_KEYS, where)
    for key in ("rule", "reason"):
        if key not in item:
            raise RuleError(f"{where}: missing {key} (use rule: '*' to allow every rule)")
    rule = _text(item["rule"], f"{where}: rule")
    reason = _text(item["reason"], f"{where}: reason")
    user = _text(item.get("user", "*"), f"{where}: user")
    instance_id = _text(item.get("instance_id", "*"), f"{where}: instance_id")
    command = item.get("command", "")
    if not isinstance(command, str):
        raise RuleError(f"{where}: command must be a regex string")
    if command:
        compile_pattern(command, f"{where}: command")
    expires = item.get("expires")
    if isinstance(expires, datetime):  # YAML turns `2026-01-01T00:00` into a datetime: be explicit
        raise RuleError(f"{where}: expires must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError as error:
            raise RuleError(f"{where}: expires must be a date (YYYY-MM-DD): {error}") from error
    if expires is not None and not isinstance(expires, date):
        raise RuleError(f"{where}: expires must be a date (YYYY-MM-DD)")
    return AllowEntry(
        rule=rule,
        user=user,
        instance_id=instance_id,
        command=command,
        expires=expires,
        reason=reason,
        source=source,
    )


def _reject_unknown(mapping: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in mapping if key not in allowed)
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _rule_ids(value: object, where: str) -> tuple[str, ...]:
    ids = _strings(value, where)
    for rule_id in ids:
        if not _RULE_ID.fullmatch(rule_id):
            raise RuleError(f"{where}: {rule_id!r} is not a rule id")
    return ids


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{where}: must be a non-empty string")
    return value.strip()


def _strings(value: object, where: str, *, minimum: int = 0) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise RuleError(f"{where}: must be a list of non-empty strings")
    if len(value) < minimum:
        raise RuleError(f"{where}: needs at least {minimum}, has {len(value)}")
    return tuple(value)


@functools.cache
def _strict_loader() -> type[yaml.SafeLoader]:
    """A SafeLoader that refuses duplicate keys: PyYAML keeps the last one, silently dropping e.g. a `match:`. It is
    libyaml's parser when PyYAML has it, several times faster; same safe constructor."""
    import yaml  # noqa: PLC0415 - see parse_document

    safe_loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(safe_loader):  # type: ignore[misc,valid-type]
        pass

    def construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
        return mapping

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def iter_rule_files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        yield from rule_files(Path(path))
