"""Session ledger alerts where people read them, and the session context every alert of a known session carries.

A ledger finding is built like a guardrail alert (`guardrail_messages`): the same subject rules, `Alert JSON:`,
message attributes (`severity`, `rule_id`, `alert_type` = `ledger`) and escaping. `with_session_context` adds the
session's start to a command alert's messages: who started it, from which IP, how (console, CLI, SDK; which
document), with MFA or not, and the reason they gave (masked when CloudTrail's event was read).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from sessionguard.alerting.formatting import (
    SLACK_ID_MAX,
    SnsMessage,
    ascii_subject,
    clean_metadata,
    inline_code,
    mrkdwn,
    slack_escape,
    slack_field,
    slack_opening,
    slack_payload,
    slack_techniques,
    slack_title,
    slack_where,
    sns_alert_message,
)
from sessionguard.ledger.findings import SESSION_CONTEXT, LedgerAlert
from sessionguard.ledger.model import SessionRecord
from sessionguard.masking.masker import mask_secrets

_JSON_MARK: Final = "\nAlert JSON:\n"
_LABELS: Final = {
    "session_id": "Session",
    "user": "Started by",
    "target": "Target",
    "document": "Document",
    "source_ip": "Source IP",
    "started_via": "Started via",
    "mfa": "MFA",
    "reason": "Reason",
    "started_at": "Started",
    "ended_at": "Ended",
    "streamed": "Streamed",
    "transcript": "Transcript",
}


def session_context(record: SessionRecord) -> dict[str, Any]:
    """The session's context as the alert JSON's `session` object: masked (the reason was masked when read;
    everything is masked again, since any field came from a request) and printable."""
    values = record.to_json()
    context: dict[str, Any] = {}
    for key in SESSION_CONTEXT:
        value = values[key]
        context[key] = clean_metadata(mask_secrets(value)) if isinstance(value, str) else value
    return context


def context_lines(context: Mapping[str, Any]) -> list[str]:
    """The readable lines of a session's context (SNS bodies)."""
    lines = []
    for key, label in _LABELS.items():
        value = context.get(key)
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value or "-")
        lines.append(f"{label + ':':<12} {text}")
    return lines


def ledger_sns_message(alert: LedgerAlert) -> SnsMessage:
    record = alert.to_json()
    record["session"] = session_context(alert.session)
    severity = str(alert.severity).upper()
    subject = ascii_subject(f"[SessionGuard] {severity}: {alert.title} ({clean_metadata(alert.session.session_id)})")
    lines = [
        f"SessionGuard session ledger: {severity} - {alert.title}",
        "",
        f"Finding:     {alert.rule_id} (MITRE ATT&CK: {', '.join(alert.finding.techniques) or '-'})",
        f"Where:       account {alert.account_id or '-'}, region {alert.region or '-'}",
        f"Seen:        {alert.detail}",
        "",
        *context_lines(record["session"]),
        "",
        f"Why: {alert.finding.description}",
    ]
    return sns_alert_message(subject, lines, record, alert.severity, alert.rule_id, alert_type="ledger")


def ledger_slack_message(alert: LedgerAlert) -> dict[str, Any]:
    context = session_context(alert.session)
    title = slack_title(alert.title)
    blocks: list[dict[str, Any]] = [
        *slack_opening(
            alert.severity,
            title,
            ("Finding", alert.rule_id),
            [
                slack_field("Session", inline_code(context["session_id"], SLACK_ID_MAX)),
                slack_field("Where", slack_where(alert.account_id, alert.region, "target", context["target"])),
            ],
        ),
        {"type": "section", "text": mrkdwn("*Seen*\n" + slack_escape(alert.detail, 500))},
        _slack_context_block(context),
        {"type": "section", "text": mrkdwn("*Why it matters*\n" + slack_escape(alert.finding.description, 2_900))},
    ]
    if alert.finding.techniques:
        blocks.append({"type": "context", "elements": [slack_techniques(alert.finding.techniques)]})
    fallback = f"{str(alert.severity).upper()}: {slack_escape(title, 300)} ({slack_escape(context['session_id'], 200)})"
    return slack_payload(fallback, blocks)


def _slack_context_block(context: Mapping[str, Any]) -> dict[str, Any]:
    fields = []
    for key in ("user", "source_ip", "started_via", "document", "mfa", "reason"):
        value = context.get(key) or "-"
        fields.append(slack_field(_LABELS[key], inline_code(str(value), SLACK_ID_MAX)))
    return {"type": "section", "fields": fields}


def with_session_context(message: SnsMessage, record: SessionRecord) -> SnsMessage:
    """A command alert's SNS message with the session's context: readable lines before `Alert JSON:` and a
    `session` object in the JSON. A message without `Alert JSON:` is returned as it is."""
    head, mark, tail = message.body.partition(_JSON_MARK)
    if not mark:
        return message
    try:
        document = json.loads(tail)
    except ValueError:
        return message
    context = session_context(record)
    document["session"] = context
    body = "\n".join([head.rstrip("\n"), "", "Session:", *("    " + line for line in context_lines(context)), ""])
    return replace(message, body=body + _JSON_MARK + json.dumps(document, indent=2, ensure_ascii=False))


def slack_with_session_context(payload: Mapping[str, Any], record: SessionRecord) -> dict[str, Any]:
    """A command alert's Slack payload with the session's context as one more section (before the last
    context element, within Slack's block limits)."""
    blocks = list(payload.get("blocks", []))
    at = len(blocks) - 1 if blocks and blocks[-1].get("type") == "context" else len(blocks)
    blocks.insert(at, _slack_context_block(session_context(record)))
    return slack_payload(str(payload.get("text", "")), blocks)


def session_notice(record: SessionRecord, event: str) -> tuple[str, str]:
    """The optional start/end notice: (subject, body) in plain text, masked."""
    context = session_context(record)
    subject = ascii_subject(f"[SessionGuard] Session {event}: {context['session_id']} on {context['target'] or '-'}")
    body = "\n".join([f"SessionGuard: session {event}", "", *context_lines(context)])
    return subject, body


__all__ = [
    "context_lines",
    "ledger_slack_message",
    "ledger_sns_message",
    "session_context",
    "session_notice",
    "slack_with_session_context",
    "with_session_context",
]
