"""The stack's side of the alert outlets (docs/integrations.md): what each alert function may call, the variables
that turn the outlets on, and saved Logs Insights queries that read only fields the logs really carry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sessionguard.alerting.outlets import alert_line
from sessionguard.alerting.session_alerts import sanitized_log_events
from sessionguard.session.engine import SanitizedLine

from tests.infra.stack import sam_template

REPO = Path(__file__).resolve().parents[2]
ALERT_FUNCTIONS = ("SessionAlertsFunction", "GuardrailAlertsFunction", "SessionLedgerFunction")

# Logs Insights words a query may use besides field names.
INSIGHTS_WORDS = frozenset(
    {"fields", "filter", "sort", "asc", "desc", "limit", "stats", "by", "as", "and", "or", "not", "like", "in"}
    | {"parse", "count", "count_distinct", "earliest", "latest"}
)


def statements(template: dict[str, Any], function: str) -> dict[str, dict[str, Any]]:
    """The function's policy statements by Sid (conditional ones unwrapped from their Fn::If)."""
    found: dict[str, dict[str, Any]] = {}
    for policy in template["Resources"][function]["Properties"]["Policies"]:
        for listed in policy.get("Statement", []):
            statement = listed["Fn::If"][1] if "Fn::If" in listed else listed
            found[statement["Sid"]] = statement
    return found


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return sam_template()


def test_only_the_session_alerts_function_may_terminate_and_only_sessions(template: dict[str, Any]) -> None:
    terminate = statements(template, "SessionAlertsFunction")["TerminateAlertedSessions"]
    assert terminate["Action"] == "ssm:TerminateSession"
    assert terminate["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:session/*"}
    for other in ALERT_FUNCTIONS[1:]:
        assert "TerminateAlertedSessions" not in statements(template, other)
        variables = template["Resources"][other]["Properties"]["Environment"]["Variables"]
        assert "TERMINATE_SESSIONS_AT_SEVERITY" not in variables


@pytest.mark.parametrize("function", ALERT_FUNCTIONS)
def test_every_alert_function_may_put_events_on_the_bus_and_import_findings_of_the_default_product_only(
    template: dict[str, Any], function: str
) -> None:
    granted = statements(template, function)
    assert granted["PutAlertEvents"]["Action"] == "events:PutEvents"
    assert granted["PutAlertEvents"]["Resource"]["Fn::Sub"].endswith(":event-bus/${AlertEventBusName}")
    assert granted["ImportSecurityHubFindings"]["Action"] == "securityhub:BatchImportFindings"
    assert granted["ImportSecurityHubFindings"]["Resource"]["Fn::Sub"].endswith(":product/${AWS::AccountId}/default")
    variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert variables["ALERT_EVENT_BUS"] == {"Ref": "AlertEventBusName"}
    assert variables["SECURITY_HUB_PRODUCT_ARN"]["Fn::If"][0] == "ImportsSecurityHubFindings"


def test_the_outlets_are_off_or_safe_by_default(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["SecurityHubFindings"]["Default"] == "false"
    assert parameters["TerminateSessionsAtSeverity"]["Default"] == "none"
    assert parameters["NeverTerminatePrincipals"]["Default"] == ""
    assert parameters["AlertEventBusName"]["Default"] == "default"


def queries(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::QueryDefinition"
    }


def field_names(query: str) -> set[str]:
    """The field names a query reads: its words without strings, regexes, Insights words, @-fields and the names
    it makes itself (`as name`, `(?<name>...)` in a parse)."""
    made = set(re.findall(r"\bas\s+(\w+)", query)) | set(re.findall(r"\(\?<(\w+)>", query))
    bare = re.sub(r'"[^"]*"|/(?:\\.|[^/])*/', " ", query)
    words = set(re.findall(r"(?<![@\w.])[A-Za-z_][\w.]*", bare))
    return {w for w in words if w not in INSIGHTS_WORDS and w not in made and not w[0].isdigit()}


def sanitized_fields() -> set[str]:
    """Every field a line of the sanitized group can have: transcript lines (all options) and alert lines."""
    lines = [
        SanitizedLine("s-1", "command", "echo hi", "2026-11-26T15:00:00Z", True),
        SanitizedLine("s-1", "output", "x" * 300_000, "2026-11-26T15:00:01Z"),
    ]
    fields: set[str] = set()
    for event in sanitized_log_events(lines, 1_796_000_000_000):
        fields |= set(json.loads(event.message))
    record = {"type": "alert", "session_id": "s-1", "rule_id": "SG-X-001", "techniques": ["T1059"]}
    line = alert_line(record, "key")
    assert line is not None
    return fields | set(json.loads(line[1]))


def session_event_fields() -> set[str]:
    """The dotted field names Logs Insights discovers in the agent's streamed session events."""
    event = json.loads((REPO / "events" / "session-stream.jsonl").read_text().splitlines()[0])
    names: set[str] = set()

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{prefix}{key}.")
        names.add(prefix.rstrip("."))

    walk(event, "")
    return names - {""}


def test_the_saved_queries_are_the_five_the_docs_list(template: dict[str, Any]) -> None:
    names = sorted(q["Name"]["Fn::Sub"].split("/")[-1] for q in queries(template).values())
    assert names == [
        "Commands of a user",
        "Every alert (run over the last day)",
        "Secrets masked per session",
        "Sessions on an instance",
        "Sessions with findings",
    ]
    text = (REPO / "docs" / "integrations.md").read_text()
    for name in names:
        assert name in text


def test_every_saved_query_reads_only_fields_its_log_group_carries(template: dict[str, Any]) -> None:
    carried = {"SanitizedLogGroup": sanitized_fields(), "SessionLogGroup": session_event_fields()}
    assert "instance_id" in carried["SanitizedLogGroup"]
    assert "target.id" in carried["SessionLogGroup"]
    for name, query in queries(template).items():
        (group,) = query["LogGroupNames"]
        assert group["Ref"] in carried, f"{name} reads {group}"
        missing = field_names(query["QueryString"]) - carried[group["Ref"]]
        assert missing == set(), f"{name} reads fields its group does not carry: {missing}"


def test_no_saved_query_shows_text_from_the_unmasked_session_group(template: dict[str, Any]) -> None:
    for query in queries(template).values():
        if query["LogGroupNames"] == [{"Ref": "SessionLogGroup"}]:
            assert "sessionData" not in query["QueryString"]
            assert "fields" not in query["QueryString"].split()  # only stats of ids and times


def test_the_enrollment_failure_step_may_put_events_on_the_same_bus_only(template: dict[str, Any]) -> None:
    granted = statements(template, "EnrollReportFailureFunction")["PutEnrollmentFailureEvents"]
    assert granted["Action"] == "events:PutEvents"
    assert granted["Resource"] == statements(template, "SessionAlertsFunction")["PutAlertEvents"]["Resource"]
    variables = template["Resources"]["EnrollReportFailureFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ALERT_EVENT_BUS"] == {"Ref": "AlertEventBusName"}
