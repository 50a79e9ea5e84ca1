"""Delivering alerts once and counting the outcome: what the command alert function (`session_alerts`) and the
guardrail alert function (`guardrail_alerts`) share, so that both retry, count, log and fail the same way.

- `Deliveries` runs every delivery once per key through a ledger (the guardrail and session ledger functions:
  the delivery ledger, Powertools Idempotency; the subscription function: what its alerts' claims say,
  `claims.DoneSet`), so a retried invocation repeats only what failed; it counts each outcome in the function's
  report (delivered, suppressed as a retry, failed) and sends alerts to every SNS topic first, then to Slack.
- `post_with_retries` is the Slack webhook POST with backoff inside the function's time budget.
- `emit_dimensioned` writes one EMF count with its own dimensions; both functions use the same metric names.
- `DeliverySettings` and `DeliveryOutlets` hold the settings and outlets both functions have; each function's
  settings and outlets classes extend them with their own.

Logs, metrics and exceptions carry channels, counts, fixed reasons and AWS error codes only: never alert text.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol, Self
from urllib.parse import urlsplit

from aws_lambda_powertools.metrics import MetricUnit

from sessionguard.adapters.aws import error_code
from sessionguard.adapters.dynamodb import DeliveryLedger, DynamoNoiseStore
from sessionguard.adapters.secrets import read_slack_webhook_url
from sessionguard.adapters.slack import SlackWebhook, UrllibSlackWebhook
from sessionguard.adapters.sns import AlertPublisher, SnsPublisher
from sessionguard.alerting.formatting import SnsMessage
from sessionguard.alerting.http import HttpResult
from sessionguard.alerting.noise import DeliveredButNotRecorded, Ledger, NoiseStore, state_key
from sessionguard.alerting.outlets import AlertOutlets
from sessionguard.observability import logger, metrics
from sessionguard.severity import Severity

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Time kept back from Slack retries for what comes after them (sanitized transcript, metrics, raising).
RESERVED_SECONDS: Final = 10.0
DEFAULT_BUDGET_SECONDS: Final = 30.0  # without a Lambda context (tests, local runs)
SLACK_ATTEMPTS: Final = 4
SLACK_ATTEMPT_TIMEOUT: Final = 5.0
SLACK_BACKOFF_BASE: Final = 0.5
SLACK_BACKOFF_CAP: Final = 8.0


class DeliveryFailed(RuntimeError):
    """Some delivery, transcript write or parking failed; Lambda retries the invocation. The message names
    channels and counts only."""


class SlackDeliveryError(RuntimeError):
    """A Slack post that failed for good; the message is a fixed reason (status, error type), never content."""


# --- what both functions have ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """The settings both functions read from their environment, the same way (template.yaml sets the same
    variables for both). A function's settings class adds its own fields and reads them in `own_from_env`."""

    min_severity: Severity
    topic_arns: tuple[str, ...]
    slack_secret_arn: str
    state_table: str
    window_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        topics = [env.get("ALERT_TOPIC_ARN", ""), env.get("EXTRA_ALERT_TOPIC_ARN", "")]
        return cls(
            min_severity=Severity.parse(env.get("ALERT_MIN_SEVERITY") or "medium"),
            topic_arns=tuple(t.strip() for t in topics if t.strip()),
            slack_secret_arn=env.get("SLACK_WEBHOOK_SECRET_ARN", "").strip(),
            state_table=env["ALERT_STATE_TABLE"],
            window_seconds=60 * int(env.get("ALERT_WINDOW_MINUTES") or "15"),
            **cls.own_from_env(env),
        )

    @classmethod
    def own_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """A subclass's own fields from `env`, by field name."""
        return {}


@dataclass
class DeliveryOutlets:
    """The outlets both functions have, behind the adapters' Protocols (tests swap in fakes). A function's outlets
    class adds its own fields (keyword-only, as they follow fields with defaults)."""

    publisher: AlertPublisher
    noise: NoiseStore
    ledger: Ledger
    slack: SlackWebhook
    slack_url: Callable[[], str]
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # EventBridge, Security Hub and session termination (alerting.outlets), when the environment turns any on.
    more: AlertOutlets | None = None

    @classmethod
    def from_settings(cls, settings: DeliverySettings, **own: Any) -> Self:
        """The AWS outlets for `settings`, with a subclass's own outlets in `own`. The Slack webhook URL is read
        from its secret at delivery time, and is empty when no secret is configured."""
        secret_arn = settings.slack_secret_arn
        return cls(
            publisher=SnsPublisher(),
            noise=DynamoNoiseStore(settings.state_table),
            ledger=DeliveryLedger.on_table(settings.state_table),
            slack=SlackOnFirstPost(),
            slack_url=(lambda: read_slack_webhook_url(secret_arn)) if secret_arn else (lambda: ""),
            **{"more": AlertOutlets.from_env(), **own},
        )


class SlackOnFirstPost:
    """`UrllibSlackWebhook`, made on the first post: its opener loads the system's CA store (~20 ms), which a
    container that never posts to Slack (Slack off, or only quiet deliveries) should not pay at its cold start."""

    def __init__(self) -> None:
        self._webhook: SlackWebhook | None = None

    def post(self, url: str, body: bytes, timeout: float) -> HttpResult:
        if self._webhook is None:
            self._webhook = UrllibSlackWebhook()
        return self._webhook.post(url, body, timeout)


class DeliveryCounts(Protocol):
    """The part of a function's report that delivering counts in (channel or reason -> count). Read-only
    properties: delivering updates the counters in place."""

    @property
    def delivered(self) -> Counter[str]: ...
    @property
    def suppressed(self) -> Counter[str]: ...
    @property
    def failures(self) -> Counter[str]: ...


class Deliveries:
    """One invocation's deliveries: each runs once per key and is counted in the report under its channel."""

    def __init__(
        self,
        outlets: DeliveryOutlets,
        counts: DeliveryCounts,
        context: LambdaContext | None,
        ledger: Ledger | None = None,
    ) -> None:
        """`ledger` is what runs each delivery once, when not the outlets' delivery ledger (the subscription function
        keeps what its claims say in memory: `claims.DoneSet`); the outlets' ledger still runs what must happen
        once across invocations (`durable`: a session's termination)."""
        self.outlets = outlets
        self.counts = counts
        self.ledger = ledger or outlets.ledger
        budget = context.get_remaining_time_in_millis() / 1000 if context is not None else DEFAULT_BUDGET_SECONDS
        self.deadline = outlets.clock() + budget - RESERVED_SECONDS
        self.slack_down = False
        self.not_recorded: Counter[str] = Counter()  # channel -> deliveries the ledger could not record
        self._context = context

    def once(self, key: str, action: Callable[[], object], channel: str, *, durable: bool = False) -> None:
        """Run `action` unless a previous attempt at `key` succeeded; count the outcome under `channel`."""
        ledger = self.outlets.ledger if durable else self.ledger
        if self._context is not None:
            ledger.register_lambda_context(self._context)
        try:
            ran = ledger.once(key, action)
        except DeliveredButNotRecorded as error:
            # Delivered: failing the invocation would make Lambda's retry deliver it again for certain.
            self.not_recorded[channel] += 1
            cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
            logger.warning(
                "Delivered, but the delivery ledger could not record it",
                extra={"channel": channel, "error": error_code(cause)},
            )
            ran = True
        except Exception as error:  # counted, logged by code, raised as DeliveryFailed at the end
            self.failed(channel, error)
            return
        if ran:
            self.counts.delivered[channel] += 1
        else:
            self.counts.suppressed["retry"] += 1

    def now(self, action: Callable[[], object], channel: str) -> None:
        """Run `action` without the delivery ledger (no earlier attempt can have run it); count the outcome under
        `channel` as `once` does."""
        try:
            action()
        except Exception as error:  # counted, logged by code, raised as DeliveryFailed at the end
            self.failed(channel, error)
            return
        self.counts.delivered[channel] += 1

    def failed(self, channel: str, error: Exception) -> None:
        """Count and log a failure by its code (or Slack's fixed reason); the invocation fails at the end."""
        self.counts.failures[channel] += 1
        reason = str(error) if isinstance(error, SlackDeliveryError) else error_code(error)
        logger.error("Delivery failed", extra={"channel": channel, "error": reason})

    def send_alerts[A](
        self,
        to_send: Sequence[tuple[A, str]],
        *,
        topic_arns: Sequence[str],
        slack: bool,
        sns_message: Callable[[A], SnsMessage],
        slack_message: Callable[[A], Mapping[str, Any]],
        held_alert_lines: list[tuple[str, str, str]] | None = None,
    ) -> None:
        """Each (alert, delivery key) to every topic, then to Slack when `slack` (a webhook secret is configured).
        Every SNS publish goes first: Slack retries must never delay them. The further outlets (`more`) respond
        before the publish (so the alert says whether its session was terminated) and deliver after it; alert
        lines are appended to `held_alert_lines` as (delivery key, stream, line) instead of written, when given (the
        caller writes them with its transcript)."""
        more = self.outlets.more
        sent = []
        for alert, key in to_send:
            message = sns_message(alert) if more is None else more.respond(self, sns_message(alert), key)
            sent.append((message, key))
            for topic_arn in topic_arns:
                publish = partial(
                    self.outlets.publisher.publish, topic_arn, message.subject, message.body, message.attributes
                )
                self.once(state_key(key, "sns", topic_arn), publish, "sns")
        if more is not None:
            more.deliver(self, sent, held_alert_lines=held_alert_lines)
        if not to_send or not slack:
            return
        url = self._slack_url()
        for alert, key in to_send:
            if url is None or self.slack_down:
                self.counts.failures["slack"] += 1  # not attempted: Slack already failed for good in this run
                continue
            payload = slack_message(alert) if more is None else more.slack_note(slack_message(alert), key)
            body = json.dumps(payload).encode()
            self.once(state_key(key, "slack"), partial(self._post_to_slack, url, body), "slack")

    def emit_metrics(self) -> None:
        """The dimensioned delivery counts, by channel and suppression reason (see `emit_dimensioned`)."""
        for channel, count in sorted(self.counts.delivered.items()):
            emit_dimensioned("Deliveries", count, Channel=channel)
        for channel, count in sorted(self.counts.failures.items()):
            emit_dimensioned("DeliveryFailures", count, Channel=channel)
        for reason, count in sorted(self.counts.suppressed.items()):
            emit_dimensioned("AlertsSuppressed", count, Reason=reason)
        for channel, count in sorted(self.not_recorded.items()):
            emit_dimensioned("DeliveriesNotRecorded", count, Channel=channel)

    def raise_if_any_failed(self) -> None:
        """DeliveryFailed naming the failed channels, so that Lambda retries the invocation."""
        if self.counts.failures:
            failed = ", ".join(f"{channel} x{count}" for channel, count in sorted(self.counts.failures.items()))
            raise DeliveryFailed(f"deliveries failed ({failed}); the invocation will be retried")

    def _slack_url(self) -> str | None:
        try:
            url = self.outlets.slack_url()
        except Exception as error:  # Slack off for this run; SNS already went out
            logger.error("Slack webhook secret unreadable", extra={"error": error_code(error)})
            return None
        if not allowed_webhook(url):
            logger.error("Slack webhook secret is not an https URL; Slack delivery skipped")
            return None
        return url

    def _post_to_slack(self, url: str, body: bytes) -> None:
        try:
            post_with_retries(
                self.outlets.slack,
                url,
                body,
                deadline=self.deadline,
                clock=self.outlets.clock,
                sleep=self.outlets.sleep,
            )
        except SlackDeliveryError:
            self.slack_down = True
            raise


def emit_dimensioned(name: str, value: int, **dimensions: str) -> None:
    """One count with its own dimensions, flushed as its own EMF document (the command and guardrail alert
    functions share the metric names). Dimension values must come from fixed vocabularies, never session text."""
    for dimension, dimension_value in dimensions.items():
        metrics.add_dimension(name=dimension, value=dimension_value)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()


# --- Slack -----------------------------------------------------------------------------------------------------


def post_with_retries(
    webhook: SlackWebhook,
    url: str,
    body: bytes,
    *,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    attempts: int = SLACK_ATTEMPTS,
) -> None:
    """POST to the webhook until it answers 200. Timeouts, connection errors, 429 (after its Retry-After) and
    5xx are retried with exponential backoff and jitter, up to `attempts` and never past `deadline` (a
    `clock()` value); anything else, or running out, raises SlackDeliveryError."""
    for attempt in range(1, attempts + 1):
        timeout = min(SLACK_ATTEMPT_TIMEOUT, deadline - clock())
        if timeout < 1.0:
            raise SlackDeliveryError("no time left for another Slack attempt")
        result = webhook.post(url, body, timeout)
        if result.status == 200:
            return
        retryable = result.status in (0, 429) or result.status >= 500
        reason = f"Slack answered HTTP {result.status}" if result.status else f"Slack unreachable ({result.error})"
        if not retryable or attempt == attempts:
            raise SlackDeliveryError(f"{reason} after {attempt} attempt(s)")
        if result.status == 429 and result.retry_after is not None:
            delay = result.retry_after
        else:
            ceiling = min(SLACK_BACKOFF_CAP, SLACK_BACKOFF_BASE * 2 ** (attempt - 1))
            delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
        if clock() + delay + 1.0 > deadline:
            raise SlackDeliveryError(f"{reason}; waiting {delay:.0f} s more would pass the function's deadline")
        logger.info("Slack delivery retried", extra={"status": result.status, "attempt": attempt, "delay": delay})
        sleep(delay)
    raise SlackDeliveryError("Slack attempts exhausted")  # pragma: no cover - the loop returns or raises


def allowed_webhook(url: str) -> bool:
    """https only; plain http only to loopback (local testing)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}


class _Summarized(Protocol):
    def summary(self) -> dict[str, Any]: ...


class Invocation(Protocol):
    """One invocation of a function that delivers alerts: what `complete_invocation` drives."""

    @property
    def report(self) -> _Summarized: ...
    @property
    def deliveries(self) -> Deliveries: ...
    def process(self, event: Any) -> None: ...
    def record_metrics(self) -> None: ...


def complete_invocation(run: Invocation, event: Any, done: str) -> dict[str, Any]:
    """Process the event; whatever happens, record the metrics and log the summary under `done`. Raises
    DeliveryFailed after every delivery was tried when one failed, so Lambda retries; else the summary."""
    try:
        run.process(event)
    finally:
        run.record_metrics()
        logger.info(done, extra=run.report.summary())
    run.deliveries.raise_if_any_failed()
    return run.report.summary()


__all__ = [
    "DEFAULT_BUDGET_SECONDS",
    "RESERVED_SECONDS",
    "Deliveries",
    "DeliveryCounts",
    "DeliveryFailed",
    "DeliveryOutlets",
    "DeliverySettings",
    "Invocation",
    "SlackDeliveryError",
    "SlackOnFirstPost",
    "allowed_webhook",
    "complete_invocation",
    "emit_dimensioned",
    "post_with_retries",
]
