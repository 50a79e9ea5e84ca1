"""A guardrail alert where people read it: the SNS message and the Slack Block Kit message.

Built like a command alert's (`formatting`): the same subject rules, `Alert JSON:` and message attributes
(`severity`, `rule_id`) so subscription filter policies treat both kinds alike, and the same masking and Slack
escaping of everything the CloudTrail event carried.
"""

from __future__ import annotations

from typing import Any

from sessionguard.alerting.formatting import (
    SLACK_ID_MAX,
    SLACK_SECTION_TEXT_MAX,
    SNS_COMMAND_MAX,
    SnsMessage,
    ascii_subject,
    clean_metadata,
    code_block,
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
from sessionguard.alerting.text import truncate
from sessionguard.guardrails.model import GuardrailAlert


def guardrail_sns_message(alert: GuardrailAlert) -> SnsMessage:
    """Like a command alert's SNS message: subject, a readable body, `Alert JSON:`, and the same message
    attributes (`severity`, `rule_id`) so subscription filter policies treat both kinds alike."""
    record = alert.to_json()
    severity = str(alert.severity).upper()
    subject = ascii_subject(f"[SessionGuard] {severity}: {alert.title} in {record['account_id'] or 'an account'}")
    outcome = f"failed ({record['error_code']}) - an attempt, nothing changed" if alert.error_code else "succeeded"
    link = (
        "Data event: not in Event history; see the trail's S3 bucket or CloudTrail Lake."
        if alert.guardrail.data_event
        else f"CloudTrail: {record['cloudtrail_url']}"
    )
    lines = [
        f"SessionGuard guardrail alert: {severity} - {alert.title}",
        "",
        f"Guardrail: {alert.rule_id} (MITRE ATT&CK: {', '.join(alert.guardrail.techniques) or '-'})",
        f"Who:       {record['who']}",
        f"Where:     account {record['account_id'] or '-'}, region {record['region'] or '-'}, "
        f"resource {record['resource'] or '-'}",
        f"When:      {record['event_time'] or '-'}",
        f"Event:     CloudTrail event id {record['event_id'] or '-'}, from {record['source_ip'] or '-'}",
        f"Outcome:   {outcome}",
        "",
        "What (secrets masked):",
        *("    " + line for line in truncate(alert.what, SNS_COMMAND_MAX).split("\n")),
        "",
        f"Why: {alert.guardrail.description}",
        "",
        link,
    ]
    return sns_alert_message(subject, lines, record, alert.severity, alert.rule_id, alert_type="guardrail")


def guardrail_slack_message(alert: GuardrailAlert) -> dict[str, Any]:
    """Incoming-webhook payload, built and escaped like a command alert's (sessionguard.alerting.formatting)."""
    severity = str(alert.severity).upper()
    title = slack_title(alert.title)
    outcome = f"failed: {inline_code(clean_metadata(alert.error_code), 80)}" if alert.error_code else "succeeded"
    what_label = "*What* (secrets masked)\n"
    blocks: list[dict[str, Any]] = [
        *slack_opening(
            alert.severity,
            title,
            ("Guardrail", alert.rule_id),
            [
                slack_field("Who", inline_code(clean_metadata(alert.who), SLACK_ID_MAX)),
                slack_field("Where", slack_where(alert.account_id, alert.region, "resource", alert.resource)),
                slack_field("When", slack_escape(clean_metadata(alert.event_time) or "-", 100)),
                slack_field(
                    "CloudTrail event",
                    f"{inline_code(clean_metadata(alert.event_id), 200)}\n{outcome}",
                ),
            ],
        ),
        {
            "type": "section",
            "text": mrkdwn(what_label + code_block(alert.what, SLACK_SECTION_TEXT_MAX - len(what_label))),
        },
        {"type": "section", "text": mrkdwn("*Why it matters*\n" + slack_escape(alert.guardrail.description, 2_900))},
    ]
    context = []
    if not alert.guardrail.data_event:
        context.append(mrkdwn(f"<{alert.cloudtrail_url}|Open the event in CloudTrail>"))
    if alert.guardrail.techniques:
        context.append(slack_techniques(alert.guardrail.techniques))
    if context:
        blocks.append({"type": "context", "elements": context})
    fallback = f"{severity}: {slack_escape(title, 300)} by {slack_escape(clean_metadata(alert.who), 300)}"
    return slack_payload(fallback, blocks)


__all__ = ["guardrail_slack_message", "guardrail_sns_message"]
