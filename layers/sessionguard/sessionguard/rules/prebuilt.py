"""The default pack, already parsed and validated: default_pack.json, written from the YAML files beside it.

Parsing 400 KB of YAML is most of what loading the default pack costs at a Lambda cold start (PyYAML builds the
objects in Python even with libyaml); the same data as JSON loads in a few milliseconds. The JSON records the
SHA-256 of each YAML file it was made from: when any differs (a rule edited and the JSON not regenerated), the
loader reads the YAML instead, so a stale JSON can make a load slower, never different. A test keeps it fresh:
`python -m sessionguard.rules docs/rules.md` regenerates it together with the rules table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sessionguard.rules.loader import load_file, rule_files
from sessionguard.rules.model import AllowEntry, Rule
from sessionguard.severity import Severity

PREBUILT_NAME = "default_pack.json"
_FORMAT = 1


def file_digests(files: Sequence[Path]) -> dict[str, str]:
    """File name → SHA-256 of its bytes, in the given order."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def render(files: Sequence[Path]) -> str:
    """The JSON for these rule files (parsed and validated by the loader), one rule or entry per line."""
    rules: list[Rule] = []
    allow: list[AllowEntry] = []
    for path in files:
        file_rules, file_allow = load_file(path)
        rules += file_rules
        allow += file_allow
    rows = [_rule_row(rule) for rule in rules] + [_allow_row(entry) for entry in allow]
    head = json.dumps({"format": _FORMAT, "yaml_sha256": file_digests(files)}, sort_keys=True)
    body = ",\n".join(json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows)
    return f'{{"head": {head},\n"rows": [\n{body}\n]}}\n'


def write(directory: Path) -> Path:
    """(Re)write the prebuilt JSON of the rule files in `directory`; returns its path."""
    target = directory / PREBUILT_NAME
    target.write_text(render(rule_files(directory)), encoding="utf-8")
    return target


def load(files: Sequence[Path], prebuilt: Path) -> tuple[list[Rule], list[AllowEntry]] | None:
    """The rules and entries of `files` from `prebuilt`, or None when it is missing, unreadable or not made from
    exactly these files' current bytes."""
    try:
        document = json.loads(prebuilt.read_text(encoding="utf-8"))
        head = document["head"]
        if head["format"] != _FORMAT or head["yaml_sha256"] != file_digests(files):
            return None
        sources = {path.name: str(path) for path in files}  # each file's path, made once, not once per rule
        rules = [_rule(row, sources) for row in document["rows"] if row["kind"] == "rule"]
        allow = [_allow(row, sources) for row in document["rows"] if row["kind"] == "allow"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rules, allow


def _rule_row(rule: Rule) -> dict[str, Any]:
    row = dataclasses.asdict(rule)
    row.update(kind="rule", severity=str(rule.severity), source=Path(rule.source).name)
    return row


def _allow_row(entry: AllowEntry) -> dict[str, Any]:
    row = dataclasses.asdict(entry)
    row.update(kind="allow", source=Path(entry.source).name)
    row["expires"] = entry.expires.isoformat() if entry.expires else None
    return row


def _rule(row: dict[str, Any], sources: dict[str, str]) -> Rule:
    fields: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value for key, value in row.items() if key != "kind"
    }
    fields.update(severity=Severity.parse(row["severity"]), source=sources[row["source"]])
    return Rule(**fields)


def _allow(row: dict[str, Any], sources: dict[str, str]) -> AllowEntry:
    fields: dict[str, Any] = {key: value for key, value in row.items() if key != "kind"}
    expires = row["expires"]
    fields.update(expires=date.fromisoformat(expires) if expires else None, source=sources[row["source"]])
    return AllowEntry(**fields)
