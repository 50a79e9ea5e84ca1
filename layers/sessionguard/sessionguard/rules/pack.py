"""The rule engine: all patterns in a few RE2 sets, so one scan finds every rule that fires, whatever their number.

An RE2 Set reports exactly which of its patterns match, in one linear-time scan. An ordinary command costs a
single scan: all its normalized texts joined by newlines against every pattern in multi-line mode; only when that
finds something do the exact per-text scans run (segment patterns on each segment, whole patterns on the whole
and inner lines), with exceptions in the same sets, mapped back to their rule. RE2 sets use the many-match DFA,
which never bails out for being slow; they get memory headroom above RE2's default for hostile text.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import re2

from sessionguard.rules import prebuilt
from sessionguard.rules.loader import (
    PLATFORMS,
    check_pattern,
    compile_glob,
    compile_pattern,
    iter_rule_files,
    load_file,
    rule_files,
)
from sessionguard.rules.model import AllowEntry, Rule, RuleError, RuleMatch
from sessionguard.session.powershell import normalize_powershell
from sessionguard.session.shell import NormalizedCommand, normalize_command

DEFAULT_RULES_DIR = Path(__file__).parent
_SET_MAX_MEM = 64 << 20
# Sessions repeat commands (ls, cd, tail ...): remember the rule hits of recent short ones.
_CACHE_SIZE = 4096
_CACHE_MAX_LENGTH = 2048
_PREFILTER_MAX_LENGTH = 4096


class _PatternSet:
    """One RE2 Set plus, for each of its patterns, the rule it belongs to and whether it is an exception.

    The set is built and compiled on its first search: parsing and compiling its patterns is most of a cold start's
    rule-pack cost, and a Linux fleet never searches the Windows sets, nor a command that no rule may match the
    exact ones. Every pattern was parsed before (RulePack checks them, or the loader did), so this cannot fail
    on a rule.
    """

    def __init__(self, entries: Iterable[tuple[int, bool, str]]) -> None:
        self.entries = list(entries)
        self.owners: list[tuple[int, bool]] = [(rule, is_exception) for rule, is_exception, _ in self.entries]
        self._set: Any = None
        self._compiled = False
        self._compiling = threading.Lock()  # the archive scan reads on threads; RE2 refuses a second Compile

    def compile(self) -> None:
        """Build and compile the set now if no search has yet (once, whatever the threads)."""
        if not self._compiled:
            with self._compiling:
                if not self._compiled:
                    options = re2.Options()
                    options.max_mem = _SET_MAX_MEM
                    pattern_set = re2.Set.SearchSet(options)
                    for _, _, pattern in self.entries:
                        pattern_set.Add(pattern)
                    pattern_set.Compile()
                    self._set = pattern_set
                    self._compiled = True

    def _match(self, text: str) -> list[int] | None:
        self.compile()
        hits: list[int] | None = self._set.Match(text)
        return hits

    def search(self, text: str) -> bool:
        return bool(self.owners) and bool(self._match(text))

    def scan(self, text: str, fired: dict[int, str]) -> None:
        """Record in `fired` each rule that matches `text` and is not excepted on it (first text wins)."""
        if not self.owners:
            return
        hits = self._match(text)
        if not hits:
            return
        matched: set[int] = set()
        excepted: set[int] = set()
        owners = self.owners
        for hit in hits:
            rule_index, is_exception = owners[hit]
            (excepted if is_exception else matched).add(rule_index)
        for rule_index in matched - excepted:
            fired.setdefault(rule_index, text)


class _CompiledAllow:
    __slots__ = ("command", "entry", "instance", "rule", "user")

    def __init__(self, entry: AllowEntry) -> None:
        self.entry = entry
        self.rule = compile_glob(entry.rule)
        self.user = compile_glob(entry.user)
        self.instance = compile_glob(entry.instance_id)
        self.command = compile_pattern(entry.command, entry.source) if entry.command else None

    def allows(self, rule_id: str, user_arn: str, instance_id: str, whole: str, today: Any) -> bool:
        expires = self.entry.expires
        return (
            (expires is None or today <= expires)
            and self.rule.fullmatch(rule_id) is not None
            and self.user.fullmatch(user_arn) is not None
            and self.instance.fullmatch(instance_id) is not None
            and (self.command is None or self.command.fullmatch(whole) is not None)
        )


_Hits = tuple[str, tuple[tuple[int, str], ...]]  # normalized whole line, (rule index, matched text) pairs
# Each platform's commands are normalized by their own shell's rules and matched against that platform's rules only:
# a Linux session's commands never meet a Windows rule, nor the reverse (docs/windows.md).
_NORMALIZERS = {"linux": normalize_command, "windows": normalize_powershell}


class _PlatformSets:
    """The pattern sets of one platform's rules (indices are into the pack's rules), each compiled on first use."""

    def __init__(self, rules: Sequence[Rule], platform: str) -> None:
        segment: list[tuple[int, bool, str]] = []
        whole: list[tuple[int, bool, str]] = []
        for index, rule in enumerate(rules):
            if rule.platform != platform:
                continue
            segment += ((index, False, pattern) for pattern in rule.segment)
            whole += ((index, False, pattern) for pattern in rule.whole)
            if rule.segment:
                segment += ((index, True, pattern) for pattern in rule.exceptions)
            if rule.whole:
                whole += ((index, True, pattern) for pattern in rule.exceptions)
        self._segment, self._whole = segment, whole
        self.segment_set = _PatternSet(segment)
        self.whole_set = _PatternSet(whole)
        # Most commands match nothing. One scan of all texts joined by newlines, with every pattern in
        # multi-line mode (^ and $ also at line breaks; the loader forbids \A and \z), finds a superset of
        # what the per-text scans would: when it finds nothing, they are skipped.
        self.prefilter = _PatternSet(
            (index, False, f"(?m:{pattern})") for index, is_exception, pattern in segment + whole if not is_exception
        )

    def compile(self) -> None:
        for pattern_set in (self.prefilter, self.single_set, self.segment_set, self.whole_set):
            pattern_set.compile()

    @functools.cached_property
    def single_set(self) -> _PatternSet:
        """A one-command line is its own whole: scan it once with every pattern (exceptions apply per text, so
        this gives the same answer as scanning it with each set)."""
        return _PatternSet(self._segment + self._whole)


class RulePack:
    """Rules and allow-list entries, compiled for matching. Build with RulePack.load() or from Rule objects."""

    def __init__(
        self, rules: Sequence[Rule] = (), allow: Sequence[AllowEntry] = (), *, patterns_checked: bool = False
    ) -> None:
        """`patterns_checked`: every pattern of `rules` was parsed by RE2 already (the loader checks each pattern of
        a rule file, and the prebuilt pack was written from checked files); otherwise each is parsed here, so that
        a pattern RE2 rejects fails the pack's construction, not its first search."""
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.allow: tuple[AllowEntry, ...] = tuple(allow)
        seen: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.id in seen:
                raise RuleError(
                    f"{rule.source}: rule {rule.id!r}: duplicate id (also defined in {seen[rule.id].source})"
                )
            seen[rule.id] = rule
        ids = list(seen)
        for rule in self.rules:
            for prerequisite in rule.after:
                if prerequisite not in seen or prerequisite == rule.id:
                    raise RuleError(f"{rule.source}: rule {rule.id!r}: after: {prerequisite!r} is not another rule")
        # The rules a session rule waits for: the only ids a session needs to remember (see SessionEngine).
        self.prerequisites: frozenset[str] = frozenset(p for rule in self.rules for p in rule.after)
        for entry in self.allow:
            if not any(compile_glob(entry.rule).fullmatch(rule_id) for rule_id in ids):
                raise RuleError(f"{entry.source}: allow entry for rule {entry.rule!r}: matches no rule")
        self._allow = [_CompiledAllow(entry) for entry in self.allow]

        for rule in self.rules:
            if rule.platform not in PLATFORMS:
                raise RuleError(f"{rule.source}: rule {rule.id!r}: platform must be one of {', '.join(PLATFORMS)}")
            if not patterns_checked:
                for pattern in rule.segment + rule.whole + rule.exceptions:
                    check_pattern(pattern, f"{rule.source}: rule {rule.id!r}")
        self._platforms = {platform: _PlatformSets(self.rules, platform) for platform in PLATFORMS}
        self._cached_hits = functools.lru_cache(maxsize=_CACHE_SIZE)(self._hits)

    @classmethod
    def load(cls, paths: Sequence[Path] = (), *, include_default: bool = True) -> RulePack:
        """Load the default pack (unless told not to) and the given rule files or directories of *.yaml."""
        rules: list[Rule] = []
        allow: list[AllowEntry] = []
        files = list(iter_rule_files(paths))
        if include_default:
            default_files = rule_files(DEFAULT_RULES_DIR)
            default = prebuilt.load(default_files, DEFAULT_RULES_DIR / prebuilt.PREBUILT_NAME)
            if default is None:  # no prebuilt JSON, or a stale one: the YAML itself
                files = default_files + files
            else:
                rules, allow = default
        for path in files:
            file_rules, file_allow = load_file(path)
            rules += file_rules
            allow += file_allow
        return cls(rules, allow, patterns_checked=True)

    def first_search_patterns(self, platform: str = "linux") -> list[str]:
        """The patterns a platform's first ordinary command compiles (its prefilter set: every rule pattern, in
        multi-line mode, exceptions left out). benchmarks/bench_init.py compiles them alone, without SessionGuard."""
        return [pattern for _, _, pattern in self._platforms[platform].prefilter.entries]

    def warm(self, platform: str = "linux") -> None:
        """Compile a platform's pattern sets now rather than at their first search: before forking workers, which
        then inherit them compiled instead of each compiling its own."""
        self._platforms[platform].compile()

    def match(
        self,
        command: str,
        *,
        user_arn: str = "",
        instance_id: str = "",
        now: datetime | None = None,
        platform: str = "linux",
        earlier: Collection[str] = (),
    ) -> list[RuleMatch]:
        """Rules of the session's platform matching the command (rebuilt, unmasked, possibly multi-line), after
        exceptions and allow-list. A session rule (Rule.after) matches only when every rule it waits for is in
        `earlier`, the ids that matched earlier commands of the session (the engine keeps them).

        At most one RuleMatch per rule, most severe first (pack order within a severity).
        """
        if len(command) <= _CACHE_MAX_LENGTH:
            whole, hits = self._cached_hits(command, platform)
        else:
            whole, hits = self._hits(command, platform)
        if not hits:
            return []
        if self._allow:
            today = _utc(now).date()
            hits = tuple(
                (index, text)
                for index, text in hits
                if not any(
                    allow.allows(self.rules[index].id, user_arn, instance_id, whole, today) for allow in self._allow
                )
            )
        matches = [RuleMatch(self.rules[index], text) for index, text in hits]
        if self.prerequisites:
            matches = [match for match in matches if all(rule_id in earlier for rule_id in match.rule.after)]
        matches.sort(key=lambda match: -match.rule.severity)
        return matches

    def check_examples(self) -> list[str]:
        """Run every rule's own examples through the engine (allow-list not applied); one line per failure."""
        failures: list[str] = []
        for index, rule in enumerate(self.rules):
            for example in rule.examples_match:
                if index not in dict(self._hits(example, rule.platform)[1]):
                    failures.append(f"{rule.id}: should match but does not: {example!r}")
            for example in rule.examples_no_match:
                matched = dict(self._hits(example, rule.platform)[1]).get(index)
                if matched is not None:
                    failures.append(f"{rule.id}: should not match but does: {example!r} (on {matched!r})")
        return failures

    def _hits(self, command: str, platform: str = "linux") -> _Hits:
        normalized = _NORMALIZERS[platform](command)
        return normalized.whole, tuple(sorted(self.scan(normalized, platform).items()))

    def scan(self, normalized: NormalizedCommand, platform: str = "linux") -> dict[int, str]:
        """Rule index → the normalized text it first matched, before the allow-list."""
        sets = self._platforms[platform]
        fired: dict[int, str] = {}
        segments = normalized.segments
        texts = (*segments, normalized.whole, *normalized.inner)
        # Only for command-sized texts: on long hostile ones the multi-line set's DFA explodes (every line start
        # re-arms the anchored patterns), and the exact scans below are much cheaper there.
        if sum(map(len, texts)) <= _PREFILTER_MAX_LENGTH and not sets.prefilter.search("\n".join(texts)):
            return fired
        if len(segments) == 1 and segments[0] == normalized.whole and not normalized.inner:
            sets.single_set.scan(normalized.whole, fired)
            return fired
        for segment in segments:
            sets.segment_set.scan(segment, fired)
        sets.whole_set.scan(normalized.whole, fired)
        for line in normalized.inner:
            sets.whole_set.scan(line, fired)
        return fired


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
