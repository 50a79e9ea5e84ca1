"""The rule pack's data: rules, matches, allow-list entries and the error every loading problem raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sessionguard.severity import Severity


class RuleError(ValueError):
    """A rule file is invalid; the message names the file, the rule id or allow entry, and what is wrong."""


@dataclass(frozen=True)
class Rule:
    """One detection, as written in a rule file (see docs/rules.md).

    `segment` patterns are searched in every normalized simple command, `whole` patterns in the whole normalized
    command line (and in command strings handed to a shell, e.g. `sh -c "..."`). A rule matches a text when one
    of its patterns does and none of its `exceptions` does.
    """

    id: str
    title: str
    severity: Severity
    techniques: tuple[str, ...]
    description: str
    segment: tuple[str, ...] = ()
    whole: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    examples_match: tuple[str, ...] = ()
    examples_no_match: tuple[str, ...] = ()
    # Session rule: the rule counts only when each of these rules matched an earlier command of the same session
    # (download into /tmp, then run from it). Its patterns and examples are about the later command alone.
    after: tuple[str, ...] = ()
    source: str = field(default="", compare=False)
    # The sessions it judges: "linux" (a Unix shell's commands, normalized as bash) or "windows" (a PowerShell
    # transcript's inputs, normalized as PowerShell and cmd; docs/windows.md).
    platform: str = "linux"


@dataclass(frozen=True)
class RuleMatch:
    rule: Rule
    segment: str  # the normalized segment (or whole line, or shell command string) that matched


@dataclass(frozen=True)
class AllowEntry:
    """Suppresses matches of `rule` (an id or a glob) for a user ARN glob, instance id glob and command regex.

    `command` is an RE2 regex that must match the whole normalized command line (not just part of it), so
    appending `; other-command` to an allowed command is not allowed too. Empty `command` allows any command.
    The entry applies up to and including `expires` (UTC); None never expires.
    """

    rule: str
    user: str = "*"
    instance_id: str = "*"
    command: str = ""
    expires: date | None = None
    reason: str = ""
    source: str = field(default="", compare=False)
