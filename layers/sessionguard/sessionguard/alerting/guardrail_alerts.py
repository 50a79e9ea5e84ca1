"""The guardrail function's work: one CloudTrail event from EventBridge in, alerts out through the same delivery
path as command alerts (SNS topics, then Slack; docs/alerts.md and docs/guardrails.md).

1. `guardrails.evaluate_event` decides which guardrails the call trips and drops the stack's own changes.
2. Alerts below `ALERT_MIN_SEVERITY` are counted, not sent.
3. Noise control: one alert per guardrail, principal and resource per `ALERT_WINDOW_MINUTES` window (a script
   deleting transcripts one by one raises one alert, not thousands), claimed in the alert state table with the
   CloudTrail event id as owner, so a retried event decides the same way.
4. Every delivery runs once per CloudTrail event id, guardrail and channel through the delivery ledger (Powertools
   Idempotency): EventBridge delivers at least once and Lambda retries failed invocations, and neither sends an
   alert twice.
5. If a delivery failed, `DeliveryFailed` is raised after everything else was tried: Lambda retries the event
   (twice), then hands it to the guardrail failure queue, which `sessionguard replay-dlq` re-drives.

Nothing from the event reaches logs or metrics except ids, fixed phrases and AWS error codes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.metrics import MetricUnit

from sessionguard.alerting.delivery import Deliveries, DeliveryOutlets, DeliverySettings, emit_dimensioned
from sessionguard.alerting.guardrail_messages import guardrail_slack_message, guardrail_sns_message
from sessionguard.alerting.noise import STATE_RETENTION_SECONDS, event_epoch, state_key
from sessionguard.guardrails.matching import evaluate_event
from sessionguard.guardrails.model import GuardrailAlert, ProtectedResources
from sessionguard.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
    from aws_lambda_powertools.utilities.typing import LambdaContext

_EVENT_ID_MAX: Final = 128  # CloudTrail event ids are UUIDs; a longer "id" is not one


@dataclass(frozen=True, slots=True)
class GuardrailSettings(DeliverySettings):
    """The function's configuration, from its environment (template fragment sets every variable): the shared
    delivery settings and the stack's protected resources."""

    resources: ProtectedResources

    @classmethod
    def own_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        return {"resources": ProtectedResources.from_env(env)}


@dataclass
class GuardrailOutlets(DeliveryOutlets):
    """What the function talks to: the shared delivery outlets, nothing more."""


@cache
def default_outlets() -> tuple[GuardrailSettings, GuardrailOutlets]:
    """Settings and AWS outlets from the environment, built once per Lambda container."""
    settings = GuardrailSettings.from_env()
    return settings, GuardrailOutlets.from_settings(settings)


@dataclass
class GuardrailReport:
    """What one invocation did, in counts and ids (the handler's return value and its summary log line)."""

    event_id: str = ""
    ignored: str = ""
    stack_changes: list[str] = field(default_factory=list)
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (severity, guardrail id)
    below_min_severity: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)  # window | retry
    delivered: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "ignored": self.ignored,
            "stack_changes": self.stack_changes,
            "alerts": sum(self.alerts.values()),
            "guardrails": sorted({rule for _, rule in self.alerts}),
            "below_min_severity": self.below_min_severity,
            "suppressed": dict(self.suppressed),
            "delivered": dict(self.delivered),
            "failures": dict(self.failures),
        }


def handle_cloudtrail_event(
    event: EventBridgeEvent,
    context: LambdaContext | None = None,
    *,
    settings: GuardrailSettings | None = None,
    outlets: GuardrailOutlets | None = None,
) -> dict[str, Any]:
    """Process one EventBridge event; the summary. Raises DeliveryFailed after trying every delivery when one
    failed, so Lambda retries (deliveries that succeeded are not repeated)."""
    if settings is None or outlets is None:
        settings, outlets = default_outlets()
    run = _GuardrailAlertsInvocation(settings, outlets, context)
    try:
        run.process(event.raw_event)
    finally:
        run.record_metrics()
        logger.info("CloudTrail event processed", extra=run.report.summary())
    run.deliveries.raise_if_any_failed()
    return run.report.summary()


class _GuardrailAlertsInvocation:
    """One invocation of the guardrail alert function: one CloudTrail event, its alerts and report."""

    def __init__(self, settings: GuardrailSettings, outlets: GuardrailOutlets, context: LambdaContext | None):
        self.settings = settings
        self.outlets = outlets
        self.report = GuardrailReport()
        self.deliveries = Deliveries(outlets, self.report, context)

    def process(self, raw_event: object) -> None:
        evaluation = evaluate_event(raw_event, self.settings.resources)
        detail = raw_event.get("detail") if isinstance(raw_event, Mapping) else None
        event_id = detail.get("eventID") if isinstance(detail, Mapping) else None
        self.report.event_id = event_id if isinstance(event_id, str) and _is_event_id(event_id) else ""
        self.report.ignored = evaluation.ignored
        self.report.stack_changes = evaluation.stack_changes
        to_send: list[tuple[GuardrailAlert, str]] = []
        for alert in evaluation.alerts:
            self.report.alerts[(str(alert.severity), alert.rule_id)] += 1
            if alert.severity < self.settings.min_severity:
                self.report.below_min_severity += 1
                continue
            key = alert_key(alert)
            try:
                first_in_window = self._claim_window(alert, key)
            except Exception as error:  # counted and raised at the end, like a failed delivery
                self.deliveries.failed("noise-state", error)
                continue
            if first_in_window:
                to_send.append((alert, key))
            else:
                self.report.suppressed["window"] += 1
        self.deliveries.send_alerts(
            to_send,
            topic_arns=self.settings.topic_arns,
            slack=bool(self.settings.slack_secret_arn),
            sns_message=guardrail_sns_message,
            slack_message=guardrail_slack_message,
        )

    def _claim_window(self, alert: GuardrailAlert, key: str) -> bool:
        if self.settings.window_seconds <= 0:
            return True
        now = int(self.outlets.wall_clock())
        bucket = event_epoch(alert.event_time, now) // self.settings.window_seconds
        scope = alert.principal_arn or alert.who
        window_key = state_key("guardrail-window", alert.rule_id, scope, alert.resource, str(bucket))
        return self.outlets.noise.claim_window(window_key, key, now + STATE_RETENTION_SECONDS, now)

    def record_metrics(self) -> None:
        """EMF, with the command alerts' metric names (the dashboard's Alerts and Deliveries widgets show both
        kinds); dimensions are guardrail ids, severities, channels and reasons only."""
        report = self.report
        for (severity, rule_id), count in sorted(report.alerts.items()):
            emit_dimensioned("Alerts", count, Severity=severity, RuleId=rule_id)
        self.deliveries.emit_metrics()
        totals = {
            "GuardrailEventsReceived": 1,
            "GuardrailStackChanges": len(report.stack_changes),
            "AlertsRaised": sum(report.alerts.values()) - report.below_min_severity,
            "DuplicatesSuppressed": report.suppressed["window"] + report.suppressed["retry"],
            "DeliveryFailuresTotal": sum(report.failures.values()),
        }
        for name, value in totals.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def alert_key(alert: GuardrailAlert) -> str:
    """Delivery identity: the CloudTrail event id (unique per call) and the guardrail. An event without a usable
    id (a hand-made test event) falls back to a hash of what it says."""
    if _is_event_id(alert.event_id):
        return state_key("guardrail", alert.event_id, alert.rule_id)
    fallback = "\x00".join([alert.rule_id, alert.who, alert.event_time, alert.action, alert.resource, alert.what])
    return state_key("guardrail", "sha256:" + hashlib.sha256(fallback.encode("utf-8", "replace")).hexdigest())


def _is_event_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= _EVENT_ID_MAX
        and value.isascii()
        and all(c.isalnum() or c == "-" for c in value)
    )


__all__ = [
    "GuardrailOutlets",
    "GuardrailReport",
    "GuardrailSettings",
    "alert_key",
    "default_outlets",
    "handle_cloudtrail_event",
]
