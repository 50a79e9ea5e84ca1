"""The demo's view of the alert outlets beyond SNS and Slack (docs/integrations.md): a rule on an event bus that
sends SessionGuard's events to an SQS queue (what a PagerDuty or Teams rule would match), Security Hub enabled in
the emulator, and what both received, written masked to eventbridge.jsonl and securityhub.jsonl.

The demo's alerts go to a bus of their own (`AlertEventBusName`): the emulator's default bus hands every event to
the stack's schedule-only rules too, whose Lambda targets it cannot run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from demo.console import Console

DEMO_BUS = "sessionguard-demo-bus"
# What the demo deploys on top of the defaults: findings on, events on the demo's bus.
INTEGRATION_PARAMETERS = {"SecurityHubFindings": "true", "AlertEventBusName": DEMO_BUS}
OUTPUT_FILES = ("eventbridge.jsonl", "securityhub.jsonl")
RULE_NAME = "sessionguard-demo-to-inbox"


@dataclass(frozen=True)
class Integrations:
    events: list[dict[str, Any]]
    findings: list[dict[str, Any]]


def subscribe_integrations() -> str:
    """Enable Security Hub, create the demo's bus and route every `sessionguard` event on it to a new queue; the
    queue's URL."""
    boto3.client("securityhub").enable_security_hub()
    sqs = boto3.client("sqs")
    queue_url: str = sqs.create_queue(QueueName="sessionguard-demo-event-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    events.create_event_bus(Name=DEMO_BUS)
    events.put_rule(Name=RULE_NAME, EventBusName=DEMO_BUS, EventPattern=json.dumps({"source": ["sessionguard"]}))
    events.put_targets(Rule=RULE_NAME, EventBusName=DEMO_BUS, Targets=[{"Id": "inbox", "Arn": queue_arn}])
    return queue_url


def read_integrations(queue_url: str) -> Integrations:
    sqs = boto3.client("sqs")
    events: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
            "Messages", []
        )
        if not batch:
            break
        events.extend(json.loads(message["Body"]) for message in batch)
    securityhub = boto3.client("securityhub")
    findings: list[dict[str, Any]] = []
    token = ""
    while True:
        page = securityhub.get_findings(**({"NextToken": token} if token else {}))
        findings.extend(page["Findings"])
        token = page.get("NextToken", "")
        if not token:
            return Integrations(events, findings)


def show_integrations(integrations: Integrations, console: Console) -> None:
    kinds: dict[str, int] = {}
    for event in integrations.events:
        kinds[event["detail-type"]] = kinds.get(event["detail-type"], 0) + 1
    by_kind = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"
    console.done(f"EventBridge bus {DEMO_BUS}: {len(integrations.events)} events (source sessionguard: {by_kind})")
    labels: dict[str, int] = {}
    for finding in integrations.findings:
        label = finding["Severity"]["Label"]
        labels[label] = labels.get(label, 0) + 1
    by_label = ", ".join(f"{count} {label}" for label, count in sorted(labels.items())) or "none"
    console.done(f"Security Hub: {len(integrations.findings)} ASFF findings of the default product ({by_label})")


def write_integrations(output: Path, integrations: Integrations) -> dict[str, Path]:
    files = {name: output / name for name in OUTPUT_FILES}
    for name, records in zip(OUTPUT_FILES, (integrations.events, integrations.findings), strict=True):
        files[name].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return files
