"""guardrails.yaml, read once and checked strictly: `GUARDRAILS` in file order, and the example stack.

Validation is strict on purpose, as for detection rules: an unknown key, group, severity or predicate, a technique
that is not an ATT&CK id, a group whose guardrails disagree on the service, or a guardrail without an example that
must alert fails the import, so a typo can never quietly switch a guardrail off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from sessionguard.guardrails.model import Group, Guardrail, ProtectedResources
from sessionguard.guardrails.predicates import UnknownPredicateError, resolve
from sessionguard.severity import Severity

GUARDRAILS_FILE: Final = Path(__file__).with_name("guardrails.yaml")
_KEYS: Final = frozenset(
    {"id", "title", "severity", "techniques", "group", "event", "when", "condition", "description", "resource"}
    | {"shown", "stack_may_change", "data_event", "examples"}
)
_REQUIRED: Final = _KEYS - {"stack_may_change", "data_event"}
_ID: Final = re.compile(r"SG-GR-\d{3}")
_TECHNIQUE: Final = re.compile(r"T\d{4}(?:\.\d{3})?")
_EVENT_SOURCE: Final = re.compile(r"[a-z0-9-]+\.amazonaws\.com")


class GuardrailError(ValueError):
    """guardrails.yaml says something the guardrails cannot use; the message names the entry."""


def _strings(value: object, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
        raise GuardrailError(f"{where}: {key} must be a non-empty list of strings")
    return tuple(value)


def _text(value: object, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GuardrailError(f"{where}: {key} must be text")
    return " ".join(value.split())


def _guardrail(entry: object, index: int) -> Guardrail:
    where = f"guardrails.yaml entry {index + 1}"
    if not isinstance(entry, dict):
        raise GuardrailError(f"{where}: not a mapping")
    where = f"{where} ({entry.get('id')})"
    if unknown := set(entry) - _KEYS:
        raise GuardrailError(f"{where}: unknown keys {sorted(unknown)}")
    if missing := _REQUIRED - set(entry):
        raise GuardrailError(f"{where}: missing {sorted(missing)}")
    if not isinstance(entry["id"], str) or not _ID.fullmatch(entry["id"]):
        raise GuardrailError(f"{where}: id must look like SG-GR-001")
    try:
        group, severity = Group(entry["group"]), Severity.parse(entry["severity"])
        applies = resolve(entry["when"] if isinstance(entry["when"], dict) else {})
    except (ValueError, UnknownPredicateError) as error:
        raise GuardrailError(f"{where}: {error}") from error
    techniques = _strings(entry["techniques"], where, "techniques")
    if not all(_TECHNIQUE.fullmatch(technique) for technique in techniques):
        raise GuardrailError(f"{where}: techniques must be MITRE ATT&CK ids (T1562 or T1562.008)")
    event = entry["event"] if isinstance(entry["event"], dict) else {}
    if set(event) != {"source", "names"} or not _EVENT_SOURCE.fullmatch(str(event["source"])):
        raise GuardrailError(f"{where}: event must be {{source: <service>.amazonaws.com, names: [...]}}")
    examples = entry["examples"] if isinstance(entry["examples"], dict) else {}
    if not set(examples) <= {"alert", "quiet"} or "alert" not in examples:
        raise GuardrailError(f"{where}: examples must hold `alert` (at least one) and may hold `quiet`")
    flags = {key: entry.get(key, False) for key in ("stack_may_change", "data_event")}
    if not all(isinstance(flag, bool) for flag in flags.values()):
        raise GuardrailError(f"{where}: stack_may_change and data_event are true or false")
    return Guardrail(
        id=entry["id"],
        group=group,
        title=_text(entry["title"], where, "title"),
        severity=severity,
        techniques=techniques,
        event_source=event["source"],
        event_names=_strings(event["names"], where, "event.names"),
        condition=_text(entry["condition"], where, "condition"),
        description=_text(entry["description"], where, "description"),
        applies=applies,
        resource_keys=(_text(entry["resource"], where, "resource"),),
        shown=_strings(entry["shown"], where, "shown"),
        stack_may_change=flags["stack_may_change"],
        data_event=flags["data_event"],
        alert_examples=_strings(examples["alert"], where, "examples.alert"),
        quiet_examples=_strings(examples["quiet"], where, "examples.quiet") if "quiet" in examples else (),
    )


def _example_stack(value: object) -> ProtectedResources:
    if not isinstance(value, dict):
        raise GuardrailError("guardrails.yaml: example_stack must be a mapping")
    fields: dict[str, Any] = dict(value)
    fields["stack_role_arns"] = frozenset(fields.get("stack_role_arns", ()))
    try:
        return ProtectedResources(**fields)
    except TypeError as error:
        raise GuardrailError(f"guardrails.yaml: example_stack: {error}") from error


def load(path: Path = GUARDRAILS_FILE) -> tuple[tuple[Guardrail, ...], ProtectedResources]:
    """Every guardrail of the file in its order, and the stack its examples were recorded against."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or set(document) != {"example_stack", "guardrails"}:
        raise GuardrailError(f"{path.name}: expected the keys example_stack and guardrails")
    entries = document["guardrails"]
    if not isinstance(entries, list) or not entries:
        raise GuardrailError(f"{path.name}: guardrails must be a non-empty list")
    guardrails = tuple(_guardrail(entry, index) for index, entry in enumerate(entries))
    if len({g.id for g in guardrails}) != len(guardrails):
        raise GuardrailError(f"{path.name}: guardrail ids must be unique")
    sources: dict[Group, str] = {}
    for guardrail in guardrails:
        if sources.setdefault(guardrail.group, guardrail.event_source) != guardrail.event_source:
            raise GuardrailError(f"{guardrail.id}: every guardrail of {guardrail.group} watches the same service")
    if set(sources) != set(Group):
        raise GuardrailError(
            f"{path.name}: every EventBridge rule needs a guardrail: {sorted(set(Group) - set(sources))}"
        )
    return guardrails, _example_stack(document["example_stack"])


GUARDRAILS, EXAMPLE_STACK = load()
GUARDRAILS_BY_ID: Final[Mapping[str, Guardrail]] = {g.id: g for g in GUARDRAILS}

__all__ = ["EXAMPLE_STACK", "GUARDRAILS", "GUARDRAILS_BY_ID", "GUARDRAILS_FILE", "GuardrailError", "load"]
