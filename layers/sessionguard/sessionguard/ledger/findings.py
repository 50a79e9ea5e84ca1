"""The ledger's findings as data (findings.yaml, loaded strictly) and the alert one raises (`LedgerAlert`), with
the session's context: who started it, from where, how (console, CLI, SDK; which document), with MFA or not, and
the masked reason they gave."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from sessionguard.ledger.model import SessionRecord
from sessionguard.severity import Severity

NOT_STREAMED: Final = "SG-LG-001"
STREAMING_STOPPED: Final = "SG-LG-002"
NO_TRANSCRIPT: Final = "SG-LG-003"
LOG_WITHOUT_SESSION: Final = "SG-LG-004"
TRANSCRIPT_OVERWRITTEN: Final = "SG-LG-005"
_CONDITIONS: Final = {
    "not_streamed": NOT_STREAMED,
    "streaming_stopped": STREAMING_STOPPED,
    "no_transcript": NO_TRANSCRIPT,
    "log_without_session": LOG_WITHOUT_SESSION,
    "transcript_overwritten": TRANSCRIPT_OVERWRITTEN,
}
_KEYS: Final = {"id", "title", "severity", "techniques", "when", "condition", "parameter", "description", "examples"}


class FindingsError(ValueError):
    """findings.yaml is not what the loader expects."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One entry of findings.yaml."""

    id: str
    title: str
    severity: Severity
    techniques: tuple[str, ...]
    condition: str
    parameter: str
    description: str
    alert_example: str
    quiet_example: str


@cache
def findings() -> dict[str, Finding]:
    """The findings by id, in file order."""
    import yaml  # noqa: PLC0415 - only when a ledger finding is first needed: a cold start imports no PyYAML

    text = resources.files("sessionguard.ledger").joinpath("findings.yaml").read_text(encoding="utf-8")
    return load_findings(yaml.safe_load(text))


def load_findings(document: Any) -> dict[str, Finding]:
    """Strict: every key known and present, every id matching its condition, every condition once."""
    entries = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise FindingsError("findings.yaml must hold a list under 'findings'")
    loaded: dict[str, Finding] = {}
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != _KEYS:
            raise FindingsError(f"a finding must have exactly the keys {sorted(_KEYS)}")
        if _CONDITIONS.get(entry["when"]) != entry["id"] or entry["id"] in loaded:
            raise FindingsError(f"{entry['id']}: 'when' must name its own condition, once")
        examples = entry["examples"]
        if not isinstance(examples, dict) or set(examples) != {"alert", "quiet"}:
            raise FindingsError(f"{entry['id']}: examples need 'alert' and 'quiet'")
        loaded[entry["id"]] = Finding(
            id=entry["id"],
            title=str(entry["title"]),
            severity=Severity.parse(str(entry["severity"])),
            techniques=tuple(str(t) for t in entry["techniques"]),
            condition=" ".join(str(entry["condition"]).split()),
            parameter=str(entry["parameter"] or ""),
            description=" ".join(str(entry["description"]).split()),
            alert_example=str(examples["alert"]),
            quiet_example=str(examples["quiet"]),
        )
    if set(loaded) != set(_CONDITIONS.values()):
        raise FindingsError("findings.yaml must define every ledger finding")
    return loaded


@dataclass(frozen=True, slots=True)
class LedgerAlert:
    """A finding raised for one session, with the session as the ledger knows it (`detail` says what was seen,
    in fixed phrases and numbers only)."""

    finding: Finding
    session: SessionRecord
    detail: str
    account_id: str = ""
    region: str = ""

    @property
    def rule_id(self) -> str:
        return self.finding.id

    @property
    def severity(self) -> Severity:
        return self.finding.severity

    @property
    def title(self) -> str:
        return self.finding.title

    def to_json(self) -> dict[str, Any]:
        session = self.session.to_json()
        return {
            "type": "ledger-finding",
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": str(self.severity),
            "techniques": list(self.finding.techniques),
            "description": self.finding.description,
            "detail": self.detail,
            "account_id": self.account_id,
            "region": self.region,
            "session": {key: session[key] for key in SESSION_CONTEXT},
            "source": "sessionguard",
        }


# What every ledger alert (and the command alerts of a scanned transcript) says about the session.
SESSION_CONTEXT: Final = (
    "session_id",
    "user",
    "target",
    "document",
    "source_ip",
    "started_via",
    "mfa",
    "reason",
    "started_at",
    "ended_at",
    "streamed",
    "transcript",
)

__all__ = [
    "LOG_WITHOUT_SESSION",
    "NOT_STREAMED",
    "NO_TRANSCRIPT",
    "SESSION_CONTEXT",
    "STREAMING_STOPPED",
    "TRANSCRIPT_OVERWRITTEN",
    "Finding",
    "FindingsError",
    "LedgerAlert",
    "findings",
    "load_findings",
]
