"""What an alert looks like where people read it: the SNS message and the Slack Block Kit message. Pure functions.

Everything here is built from engine output (`CommandAlert`, whose command is already masked) and passes session-derived
metadata (user, instance and session ids, region, account) through `mask_secrets` as well, so that nothing that
leaves SessionGuard can carry an unmasked secret. For Slack, every piece of session-derived text is also escaped
(`&`, `<`, `>`: https://docs.slack.dev/messaging/formatting-message-text#escaping) so a typed `<!channel>` or
`<https://evil|click here>` cannot ping a channel or disguise a link, and `@channel`/`@here`/`@everyone` are broken
with a word joiner in case a workspace parses bare mentions. The only `<...>` in a Slack message are the links
this module writes itself. docs/alerts.md shows both formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from sessionguard.alerting.text import TRUNCATED, truncate, utf8_safe, visible
from sessionguard.masking.masker import mask_secrets
from sessionguard.session.engine import CommandAlert
from sessionguard.severity import Severity

# SNS: "Subjects must be ASCII text that begins with a letter, number, or punctuation mark; must not include line
# breaks or control characters; and must be less than 100 characters long." (sns:Publish API reference)
SNS_SUBJECT_MAX: Final = 99
# The whole SNS message may be 256 KB; the command is the only unbounded part, and the sanitized log group keeps
# it in full.
SNS_COMMAND_MAX: Final = 8_000
# "Message: maximum size 256 KB (262,144 bytes, not 262,144 characters)" (sns:Publish API reference). The body is
# kept a little below it: message attributes count towards the same limit.
SNS_MESSAGE_MAX_BYTES: Final = 250_000
# Session-derived metadata (ids, ARNs, names, times) on their way out are cut to this; real values are far shorter
# (an IAM ARN at most 2,048 characters, a log stream name 512), so this only bounds hostile input.
METADATA_MAX: Final = 512
DESCRIPTION_MAX: Final = 4_000
# Slack Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
SLACK_HEADER_MAX: Final = 150
SLACK_SECTION_TEXT_MAX: Final = 3_000
SLACK_FIELD_TEXT_MAX: Final = 2_000
SLACK_CONTEXT_ELEMENTS_MAX: Final = 10
SLACK_BLOCKS_MAX: Final = 50
SLACK_ID_MAX: Final = 500  # session ids, ARNs and instance ids are far shorter; this only bounds hostile input
MAX_TECHNIQUES: Final = 20  # a rule lists a handful; the bound keeps the context element under its limit

CAP_SUMMARY_RULE_ID: Final = "sessionguard-alert-cap"
INVOCATION_SUMMARY_RULE_ID: Final = "sessionguard-delivery-cap"

SEVERITY_EMOJI: Final = {
    Severity.INFO: ":large_blue_circle:",
    Severity.LOW: ":white_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.CRITICAL: ":red_circle:",
}

_SLACK_ESCAPES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_WORD_JOINER: Final = "\u2060"
_ZERO_WIDTH_SPACE: Final = "\u200b"
_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")


# --- text helpers ------------------------------------------------------------------------------------------


def clean_metadata(text: str, limit: int = METADATA_MAX) -> str:
    """Session-derived metadata on its way out: masked, printable, on one line, at most `limit` characters."""
    return truncate(visible(mask_secrets(text)).replace("\n", " ").replace("\t", " "), limit)


def slack_escape(text: str, limit: int | None = None, *, code: bool = False) -> str:
    """Slack-safe mrkdwn for session text: `&`, `<`, `>` escaped, broadcast mentions broken, and with
    `code=True` a zero-width space after every backtick so the text cannot close (or open) a code span or block.

    With `limit`, the result (marker included) is at most `limit` characters and never ends inside an escape
    sequence: the text is cut before escaping, character by character.
    """
    text = _BROADCAST.sub("@" + _WORD_JOINER, text)
    table = _CODE_TABLE if code else _TEXT_TABLE
    escaped = text.translate(table)
    if limit is None or len(escaped) <= limit:
        return escaped
    budget = max(0, limit - len(TRUNCATED))
    pieces: list[str] = []
    used = 0
    for char in text[:budget]:  # an escaped character is never shorter than the character
        piece = char.translate(table)
        if used + len(piece) > budget:
            break
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces) + TRUNCATED


_TEXT_TABLE: Final = str.maketrans(_SLACK_ESCAPES)
_CODE_TABLE: Final = str.maketrans({**_SLACK_ESCAPES, "`": "`" + _ZERO_WIDTH_SPACE})


def code_block(text: str, limit: int) -> str:
    """A Slack code block (```) holding `text`, escaped and at most `limit` characters in all.

    Backticks inside are followed by a zero-width space, so a ``` typed in the session cannot end the block
    early and turn the rest of the command into formatted (or linked) text.
    """
    fence_open, fence_close = "```\n", "\n```"
    inner = slack_escape(text or " ", limit - len(fence_open) - len(fence_close), code=True)
    return f"{fence_open}{inner}{fence_close}"


def inline_code(text: str, limit: int) -> str:
    """`text` as Slack inline code, escaped; a backtick in it becomes a look-alike so it cannot close the span."""
    return "`" + slack_escape((text or "-").replace("`", "\u02cb"), limit - 2) + "`"


def console_log_stream_url(region: str, log_group: str, log_stream: str) -> str:
    """The CloudWatch console page of one log stream (of the log group when `log_stream` is empty).

    The console's fragment encodes names twice: percent-encoding, then `%` written as `$25` — so `/` becomes
    `$252F`. Every character outside [A-Za-z0-9_.-~] is encoded, so the URL holds no `|`, `<` or `>`.
    """
    host = _console_host(region)

    def encode(name: str) -> str:
        return quote(name, safe="", errors="replace").replace("%", "$25")

    stream_page = f"/log-events/{encode(log_stream)}" if log_stream else ""
    return (
        f"https://{host}/cloudwatch/home?region={quote(region, safe='')}"
        f"#logsV2:log-groups/log-group/{encode(log_group)}{stream_page}"
    )


def _console_host(region: str) -> str:
    if region.startswith("cn-"):
        return "console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "console.amazonaws-us-gov.com"
    return f"{region}.console.aws.amazon.com" if region else "console.aws.amazon.com"


def technique_url(technique: str) -> str | None:
    """MITRE ATT&CK page of a technique id (T1059 or T1059.004); None for anything else."""
    if not _TECHNIQUE.match(technique):
        return None
    return "https://attack.mitre.org/techniques/" + technique.replace(".", "/") + "/"


# --- the alert as data ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertContext:
    """Where the alert points readers: the session's stream in the session log group, as a console link."""

    log_group: str
    log_stream: str
    console_region: str

    @property
    def session_log_url(self) -> str:
        # Real names are at most 512 characters; the bound keeps a hostile payload from making a huge URL.
        stream = self.log_stream[:METADATA_MAX]
        if mask_secrets(stream) != stream:
            # A secret in the stream name (any instance may name a stream): the link must not carry it, and a
            # masked name opens nothing, so the link opens the log group instead.
            stream = ""
        return console_log_stream_url(self.console_region[:METADATA_MAX], self.log_group[:METADATA_MAX], stream)


def alert_record(alert: CommandAlert, context: AlertContext, *, command_limit: int = SNS_COMMAND_MAX) -> dict[str, Any]:
    """The alert as JSON for machines (SNS body, central security tooling): `Alert.to_json()` plus where it
    happened and the console link. The command is the engine's masked command, cut to `command_limit`."""
    record = alert.to_json()
    command = visible(alert.command)
    record.update(
        {
            "session_id": clean_metadata(alert.session_id),
            "instance_id": clean_metadata(alert.instance_id),
            "user": clean_metadata(alert.user),
            "command": truncate(command, command_limit),
            "command_truncated": len(command) > command_limit,
            "event_time": clean_metadata(alert.event_time),
            "description": truncate(visible(alert.description), DESCRIPTION_MAX),
            "account_id": clean_metadata(alert.account_id),
            "region": clean_metadata(alert.region),
            "event_id": clean_metadata(alert.event_id),
            "log_group": clean_metadata(context.log_group),
            "log_stream": clean_metadata(context.log_stream),
            "session_log_url": context.session_log_url,
            "source": "sessionguard",
        }
    )
    return record


def cap_summary_alert(alert: CommandAlert, cap: int) -> CommandAlert:
    """The one alert that says a session hit its cap: it carries the alert that went over (masked command and
    all), so the team still learns what happened, and says that further alerts of the session are held back."""
    return alert._replace(
        rule_id=CAP_SUMMARY_RULE_ID,
        title=f"Alert cap reached: {cap} alerts in one session, further alerts suppressed",
        description=(
            f"This session raised more than {cap} alerts. SessionGuard sent the first {cap} and now holds back the "
            f"rest of this session's alerts; the command below (rule {alert.rule_id}: {alert.title}) is the first "
            "one held back. Review the whole session in its log stream."
        ),
    )


def invocation_summary_alert(alert: CommandAlert, cap: int, held_back: int) -> CommandAlert:
    """The one alert that says a single delivery raised more than `cap` alerts: `held_back` more were not sent.
    It carries the first one held back, as the session cap's summary does."""
    return alert._replace(
        rule_id=INVOCATION_SUMMARY_RULE_ID,
        title=f"Alert cap reached: {cap} alerts from one delivery, {held_back} more not sent",
        description=(
            f"One delivery of this session's log stream raised {cap + held_back} alerts. SessionGuard sent the "
            f"first {cap} and holds back {held_back} more; the command below (rule {alert.rule_id}: {alert.title}) "
            "is the first one held back. Review the whole session in its log stream."
        ),
    )


# --- SNS -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnsMessage:
    subject: str
    body: str
    attributes: dict[str, dict[str, str]]

    def publish_kwargs(self, topic_arn: str) -> dict[str, Any]:
        """Keyword arguments for sns.publish."""
        return {
            "TopicArn": topic_arn,
            "Subject": self.subject,
            "Message": self.body,
            "MessageAttributes": self.attributes,
        }


def sns_subject(alert: CommandAlert) -> str:
    """`[SessionGuard] HIGH: <rule title> on i-0abc...`: printable ASCII, one line, under 100 characters."""
    where = clean_metadata(alert.instance_id) or "an instance"
    return ascii_subject(f"[SessionGuard] {str(alert.severity).upper()}: {alert.title} on {where}")


def ascii_subject(text: str) -> str:
    """`text` as an SNS subject: anything but printable ASCII becomes `?`, cut to SNS_SUBJECT_MAX."""
    return truncate("".join(c if " " <= c <= "~" else "?" for c in text), SNS_SUBJECT_MAX, "...")


def sns_alert_message(
    subject: str, lines: list[str], record: dict[str, Any], severity: Severity, rule_id: str, **attributes: str
) -> SnsMessage:
    """What command and guardrail alerts share in SNS: the readable `lines` (email subscribers read them), then
    `Alert JSON:` and the record, and the message attributes `severity`, `rule_id` and `attributes`, which
    subscription filter policies can match. `subject` is used as it is (see `ascii_subject`)."""
    values = {"severity": str(severity), "rule_id": rule_id, **attributes}
    message_attributes = {
        name: {"DataType": "String", "StringValue": utf8_safe(value)} for name, value in values.items()
    }
    limit = max([len(line) for line in lines] + [len(v) for v in record.values() if isinstance(v, str)] + [1])
    while True:
        body = "\n".join([*lines, "", "Alert JSON:", json.dumps(record, indent=2, ensure_ascii=False)])
        body = utf8_safe(body)
        if len(body.encode()) <= SNS_MESSAGE_MAX_BYTES or limit <= 64:
            return SnsMessage(subject=subject, body=body, attributes=message_attributes)
        # Over SNS's limit (callers bound every field, so only unusual input gets here): halve the longest strings
        # until it fits; the JSON stays valid and says what was cut.
        limit //= 2
        lines = [truncate(line, limit) for line in lines]
        record = {key: truncate(v, limit) if isinstance(v, str) else v for key, v in record.items()}


def build_sns_message(alert: CommandAlert, context: AlertContext) -> SnsMessage:
    """Subject, a readable body (email subscribers read this) followed by the alert as JSON, and the message
    attributes `severity` and `rule_id` that subscription filter policies can match."""
    record = alert_record(alert, context)
    command = record["command"]
    techniques = ", ".join(alert.techniques) or "-"
    lines = [
        f"SessionGuard alert: {str(alert.severity).upper()} - {alert.title}",
        "",
        f"Rule:     {alert.rule_id} (MITRE ATT&CK: {techniques})",
        f"Who:      {record['user'] or '-'}",
        f"Where:    account {record['account_id'] or '-'}, region {record['region'] or '-'}, "
        f"instance {record['instance_id'] or '-'}",
        f"Session:  {record['session_id']}",
        f"When:     {record['event_time'] or '-'}",
        "",
        "Command (secrets masked):",
        *("    " + line for line in command.split("\n")),
        "",
        f"Why: {record['description']}" if alert.description else "",
        "",
        f"Session log: {record['session_log_url']}",
    ]
    return sns_alert_message(sns_subject(alert), lines, record, alert.severity, alert.rule_id)


# --- Slack -----------------------------------------------------------------------------------------------------


def mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: no automatic linking of URLs, channel names or bare mentions in what we send.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack_field(label: str, value: str) -> dict[str, Any]:
    """A section field; callers bound `value` so the field stays within SLACK_FIELD_TEXT_MAX."""
    return mrkdwn(f"*{label}*\n{value}")


def build_slack_message(alert: CommandAlert, context: AlertContext) -> dict[str, Any]:
    """An incoming-webhook payload: a header, the facts as fields, the masked command in a code block, why the
    rule matters, ATT&CK links, and a link to the session's log stream."""
    severity = str(alert.severity).upper()
    title = slack_title(alert.title)
    session_id, instance_id = clean_metadata(alert.session_id), clean_metadata(alert.instance_id)
    command_label = "*Command* (secrets masked)\n"
    blocks: list[dict[str, Any]] = [
        *slack_opening(
            alert.severity,
            title,
            ("Rule", alert.rule_id),
            [
                slack_field("Who", inline_code(clean_metadata(alert.user), SLACK_ID_MAX)),
                slack_field("Where", slack_where(alert.account_id, alert.region, "instance", alert.instance_id)),
                slack_field("Session", inline_code(session_id, SLACK_ID_MAX)),
                # inline code: a hostile time must not render as bold, links or emoji
                slack_field("When", inline_code(clean_metadata(alert.event_time), 100)),
            ],
        ),
        {
            "type": "section",
            "text": mrkdwn(
                command_label + code_block(visible(alert.command), SLACK_SECTION_TEXT_MAX - len(command_label))
            ),
        },
    ]
    if alert.description:
        why_label = "*Why it matters*\n"
        why = slack_escape(visible(alert.description), SLACK_SECTION_TEXT_MAX - len(why_label))
        blocks.append({"type": "section", "text": mrkdwn(why_label + why)})
    context_elements = [mrkdwn(f"<{context.session_log_url}|Open the session log in CloudWatch>")]
    if alert.techniques:
        context_elements.append(slack_techniques(alert.techniques))
    blocks.append({"type": "context", "elements": context_elements[:SLACK_CONTEXT_ELEMENTS_MAX]})

    fallback = (
        f"{severity}: {slack_escape(title, 300)} in session {slack_escape(session_id, 300)}"
        f" on {slack_escape(instance_id or '-', 100)}"
    )
    return slack_payload(fallback, blocks)


# What command alerts and guardrail alerts share in Slack: the same opening blocks, Where field, ATT&CK links and
# payload, so both kinds read alike and are escaped the same way.


def slack_title(title: str) -> str:
    """A rule's title as Slack shows it: printable, on one line."""
    return _one_line(visible(title))


def slack_opening(
    severity: Severity, title: str, rule: tuple[str, str], facts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The header (severity and `title`, from `slack_title`) and a section of fields: the severity, the rule
    (`rule` is its label and id: ("Rule", "SG-001")) with its title, then `facts`."""
    upper = str(severity).upper()
    emoji = SEVERITY_EMOJI.get(severity, "")
    label, rule_id = rule
    # plain_text is never parsed for links or mentions.
    header = truncate(f"{emoji} {upper}: {title}".strip(), SLACK_HEADER_MAX)
    fields = [
        slack_field("Severity", f"{emoji} {upper}".strip()),
        slack_field(label, f"{slack_escape(title, 500)}\n{inline_code(rule_id, 200)}"),
        *facts,
    ]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "fields": fields},
    ]


def slack_where(account_id: str, region: str, place: str, value: str) -> str:
    """The Where field's text: account, region and `place` ("instance", "resource") with `value`, each masked
    and as inline code."""
    return (
        f"account {inline_code(clean_metadata(account_id), 40)}, "
        f"region {inline_code(clean_metadata(region), 40)}, "
        f"{place} {inline_code(clean_metadata(value), SLACK_ID_MAX)}"
    )


def slack_techniques(techniques: Sequence[str]) -> dict[str, Any]:
    """A context element linking each ATT&CK technique (the first MAX_TECHNIQUES)."""
    return mrkdwn("MITRE ATT&amp;CK: " + ", ".join(technique_link(t) for t in techniques[:MAX_TECHNIQUES]))


def slack_payload(fallback: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The incoming-webhook payload: `fallback` is the notification text; links and media are not unfurled."""
    return {"text": fallback, "blocks": fit_blocks(blocks), "unfurl_links": False, "unfurl_media": False}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def technique_link(technique: str) -> str:
    url = technique_url(technique)
    label = slack_escape(_one_line(visible(technique)), 40)
    return f"<{url}|{label}>" if url else label


def fit_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most SLACK_BLOCKS_MAX blocks; the last one says how many were left out."""
    if len(blocks) <= SLACK_BLOCKS_MAX:
        return blocks
    kept = blocks[: SLACK_BLOCKS_MAX - 1]
    omitted = len(blocks) - len(kept)
    return [*kept, {"type": "context", "elements": [mrkdwn(f"… {omitted} more blocks left out [truncated]")]}]


__all__ = [
    "CAP_SUMMARY_RULE_ID",
    "INVOCATION_SUMMARY_RULE_ID",
    "METADATA_MAX",
    "SEVERITY_EMOJI",
    "SLACK_ID_MAX",
    "SNS_MESSAGE_MAX_BYTES",
    "AlertContext",
    "SnsMessage",
    "alert_record",
    "ascii_subject",
    "build_slack_message",
    "build_sns_message",
    "cap_summary_alert",
    "clean_metadata",
    "code_block",
    "console_log_stream_url",
    "fit_blocks",
    "inline_code",
    "invocation_summary_alert",
    "mrkdwn",
    "slack_escape",
    "slack_field",
    "slack_opening",
    "slack_payload",
    "slack_techniques",
    "slack_title",
    "slack_where",
    "sns_alert_message",
    "sns_subject",
    "technique_link",
    "technique_url",
    "truncate",
    "visible",
]
