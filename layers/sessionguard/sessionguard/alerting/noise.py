"""Noise control: which alerts reach people, decided so that a retried or replayed batch decides the same way.

- **Window**: one alert per rule per session per window. Windows are fixed buckets of the alert's own event time
  (`eventTime // window`), not of the clock, and each bucket remembers which alert claimed it: the same batch
  retried a minute or a week later claims the same buckets with the same alerts, so nothing that was suppressed
  comes back and nothing that was claimed is lost. Two alerts can still be close when a bucket boundary falls
  between them; at most one per bucket reaches people.
- **Cap**: at most `cap` alerts per session. The session's record keeps the set of alert keys it let through (an
  alert already in the set passes again, so a retry is not counted twice); the first alert past the cap claims
  the session's single summary alert, every later one is suppressed.
- **Keys**: an alert's key is its CloudWatch Logs event id, rule id and its ordinal among the batch's alerts with
  the same event id and rule (one event can hold two commands that match one rule). Without an event id (a
  replayed file, the CLI) the key hashes the session, rule, time and masked command.

- **Floods**: an invocation remembers what it decided. A window it already claimed or lost is not asked about
  again, and a session whose cap it found full is not either, so a pasted flood of one command costs one state
  call per (rule, window) plus the cap's, not one per alert, and the alerts that matter are not held up behind it.

Delivery itself (one SNS publish / Slack post per alert key and channel) is made idempotent separately, with
Powertools Idempotency (`DeliveryLedger` below, used by `alert_delivery.Deliveries`). State lives behind
`NoiseStore`: DynamoDB in Lambda (`adapters.delivery.DynamoNoiseStore`), `InMemoryNoiseStore` in tests and local
runs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError

from sessionguard.session.engine import Alert

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# How long noise state is remembered: as long as the failure queue keeps a message (SQS maximum, 14 days), so a
# replay from the queue meets the same state as the original invocation.
STATE_RETENTION_SECONDS: Final = 14 * 24 * 3600
_MAX_KEY_PART: Final = 256


class Decision(StrEnum):
    DELIVER = "deliver"
    DUPLICATE = "duplicate"  # the rule already alerted in this session's window
    OVER_CAP = "over-cap"  # the session reached its cap; its summary alert was already claimed
    SUMMARY = "summary"  # the session just went over its cap: send the summary instead


class NoiseStore(Protocol):
    """Conditional writes the decisions rest on. Each call is atomic and returns whether it succeeded."""

    def claim_window(self, window_key: str, owner: str, expires_at: int, now: int) -> bool:
        """Claim the window for `owner` unless another owner holds it (an expired claim counts as absent)."""
        ...

    def window_owner(self, window_key: str) -> str:
        """Who holds the window now ("" if nobody): read after a claim failed, with a consistent read."""
        ...

    def admit_to_cap(self, session_key: str, alert_key: str, cap: int, expires_at: int, now: int) -> bool:
        """Add `alert_key` to the session's admitted set unless the set already holds `cap` other keys."""
        ...

    def claim_summary(self, session_key: str, owner: str, expires_at: int, now: int) -> bool:
        """Claim the session's one summary alert for `owner` unless another owner holds it."""
        ...


def state_key(*parts: str) -> str:
    """A readable DynamoDB key; a part longer than _MAX_KEY_PART or holding a lone surrogate (hostile session ids:
    boto3 cannot encode one) is replaced by its hash."""
    return "#".join(p if len(p) <= _MAX_KEY_PART and _encodes(p) else _hashed(p) for p in parts)


def _encodes(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hashed(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def alert_keys(alerts: list[Alert]) -> list[str]:
    """A stable key per alert, in order (see the module docstring)."""
    seen: dict[tuple[str, str], int] = {}
    keys = []
    for alert in alerts:
        if alert.event_id:
            ordinal = seen.get((alert.event_id, alert.rule_id), 0)
            seen[(alert.event_id, alert.rule_id)] = ordinal + 1
            keys.append(state_key("alert", alert.event_id, alert.rule_id, str(ordinal)))
        else:
            digest = hashlib.sha256(
                "\x00".join([alert.session_id, alert.rule_id, alert.event_time, alert.command]).encode(
                    "utf-8", "replace"
                )
            ).hexdigest()
            keys.append(state_key("alert", "sha256:" + digest))
    return keys


def event_epoch(event_time: str, default: int) -> int:
    """Seconds since the epoch of an agent `eventTime` (ISO-8601, `Z`); `default` when it is not one."""
    try:
        parsed = datetime.fromisoformat(event_time)
    except ValueError:
        return default
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


@dataclass
class NoiseControl:
    """Decisions for one invocation (make one per invocation: it remembers what it decided, see Floods above)."""

    store: NoiseStore
    window_seconds: int
    cap: int
    clock: Callable[[], float] = time.time
    # What this invocation learned from the store, used only where the store would answer the same:
    # window key -> the alert key that holds it (claimed here, or read back after a claim failed; "" if none);
    _windows: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    # sessions found over their cap here (the admitted set only grows), the keys admitted here, and who claimed
    # each session's summary here.
    _capped: set[str] = field(default_factory=set, init=False, repr=False)
    _admitted: set[str] = field(default_factory=set, init=False, repr=False)
    _summaries: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def decide(self, alert: Alert, key: str) -> Decision:
        now = int(self.clock())
        expires_at = now + STATE_RETENTION_SECONDS
        if self.window_seconds > 0:
            bucket = event_epoch(alert.event_time, now) // self.window_seconds
            window_key = state_key("window", alert.session_id, alert.rule_id, str(bucket))
            owner = self._windows.get(window_key)
            if owner is None:
                # One claim per window and invocation; when it fails, one read of who holds the window, so that
                # later alerts of the window are decided without asking, and the holder still gets through when
                # a retry (whose warm-up may have gone otherwise) gives out its alerts in another order.
                if self.store.claim_window(window_key, key, expires_at, now):
                    owner = key
                else:
                    owner = self.store.window_owner(window_key)
                self._windows[window_key] = owner
            if owner != key:
                return Decision.DUPLICATE
        if self.cap > 0:
            session_key = state_key("session", alert.session_id)
            if session_key in self._capped and key not in self._admitted:
                return Decision.SUMMARY if self._summaries.get(session_key) == key else Decision.OVER_CAP
            if not self.store.admit_to_cap(session_key, key, self.cap, expires_at, now):
                self._capped.add(session_key)
                if self.store.claim_summary(session_key, key, expires_at, now):
                    self._summaries[session_key] = key
                    return Decision.SUMMARY
                return Decision.OVER_CAP
            self._admitted.add(key)
        return Decision.DELIVER


@dataclass
class _Claim:
    owner: str
    expires_at: int


@dataclass
class _Session:
    admitted: set[str] = field(default_factory=set)
    summary_owner: str = ""
    expires_at: int = 0


@dataclass
class InMemoryNoiseStore:
    """NoiseStore for tests and local runs: the same semantics as the DynamoDB store, in a dict."""

    windows: dict[str, _Claim] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)

    def claim_window(self, window_key: str, owner: str, expires_at: int, now: int) -> bool:
        claim = self.windows.get(window_key)
        if claim is not None and claim.expires_at >= now and claim.owner != owner:
            return False
        self.windows[window_key] = _Claim(owner, expires_at)
        return True

    def window_owner(self, window_key: str) -> str:
        claim = self.windows.get(window_key)
        return claim.owner if claim is not None else ""

    def _session(self, session_key: str, now: int) -> _Session:
        session = self.sessions.get(session_key)
        if session is None or session.expires_at < now:
            session = self.sessions[session_key] = _Session()
        return session

    def admit_to_cap(self, session_key: str, alert_key: str, cap: int, expires_at: int, now: int) -> bool:
        session = self._session(session_key, now)
        if alert_key not in session.admitted and len(session.admitted) >= cap:
            return False
        session.admitted.add(alert_key)
        session.expires_at = expires_at
        return True

    def claim_summary(self, session_key: str, owner: str, expires_at: int, now: int) -> bool:
        session = self._session(session_key, now)
        if session.summary_owner and session.summary_owner != owner:
            return False
        session.summary_owner = owner
        session.expires_at = expires_at
        return True


# --- delivering each alert once --------------------------------------------------------------------------------


class Ledger(Protocol):
    """Runs an action once per key: a later call with a key whose action succeeded does nothing."""

    def once(self, key: str, action: Callable[[], object]) -> bool:
        """Run `action` unless it already succeeded for `key`; True when it ran now. A failing action raises
        and leaves the key free, so the retried invocation runs it again."""
        ...

    def register_lambda_context(self, context: LambdaContext) -> None: ...


class DeliveredButNotRecorded(RuntimeError):
    """The action ran and succeeded, but the ledger could not record it (twice): it counts as delivered, and a
    later run with the same key may deliver it again. `__cause__` is the persistence error."""


class DeliveryLedger:
    """`Ledger` on Powertools Idempotency (`idempotent_function`, DynamoDB persistence).

    Powertools writes an INPROGRESS record before the action (a concurrent invocation with the same key gets
    IdempotencyAlreadyInProgressError and is retried), COMPLETED after it, and deletes the record when the
    action raises. With the Lambda context registered, an INPROGRESS record left by a timed-out invocation
    expires with that invocation, so its retry is not blocked. Keys are hashed: the table never holds session
    text, and records expire after STATE_RETENTION_SECONDS.

    When the action succeeded but the COMPLETED record could not be written, the delivery happened: raising would
    make Lambda retry the invocation and deliver it again for certain. The ledger writes the record once more and,
    if that fails too, raises DeliveredButNotRecorded, which callers count as delivered. Exactly once is not
    possible across SNS (or Slack) and DynamoDB; this keeps a duplicate to the rare case where the record is lost
    and the invocation is retried for another reason (docs/alerts.md, "Delivery is at least once").
    """

    KEY_PREFIX: Final = "sessionguard-delivery"

    def __init__(self, persistence: BasePersistenceLayer, *, expires_after_seconds: int = STATE_RETENTION_SECONDS):
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
        )
        self._persistence = persistence
        self._run = idempotent_function(
            data_keyword_argument="delivery",
            persistence_store=persistence,
            config=self.config,
            key_prefix=self.KEY_PREFIX,
        )(_run_delivery)

    def register_lambda_context(self, context: LambdaContext) -> None:
        self.config.register_lambda_context(context)

    def once(self, key: str, action: Callable[[], object]) -> bool:
        ran: list[bool] = []
        succeeded: list[bool] = []

        def run_and_note() -> None:
            ran.append(True)
            action()
            succeeded.append(True)

        delivery = {"key": key}
        try:
            self._run(delivery=delivery, action=run_and_note)
        except IdempotencyPersistenceLayerError:
            if not succeeded:
                raise  # nothing was delivered (or the failed action's record could not be deleted): retry it
            try:
                # The persistence layer was configured (key prefix, hashing) by the call above.
                self._persistence.save_success(data=delivery, result=_DELIVERED)
            except Exception as again:
                raise DeliveredButNotRecorded("delivered; the ledger could not record it") from again
        return bool(ran)


_DELIVERED: Final = {"delivered": True}


def _run_delivery(*, delivery: dict[str, str], action: Callable[[], None]) -> dict[str, bool]:
    """The idempotent unit: Powertools stores this small result, never the delivery's content."""
    action()
    return _DELIVERED


@dataclass
class InMemoryLedger:
    """`Ledger` for tests and local runs."""

    done: set[str] = field(default_factory=set)

    def once(self, key: str, action: Callable[[], object]) -> bool:
        if key in self.done:
            return False
        action()
        self.done.add(key)
        return True

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Nothing to expire in memory."""


__all__ = [
    "STATE_RETENTION_SECONDS",
    "Decision",
    "DeliveredButNotRecorded",
    "DeliveryLedger",
    "InMemoryLedger",
    "InMemoryNoiseStore",
    "Ledger",
    "NoiseControl",
    "NoiseStore",
    "alert_keys",
    "event_epoch",
    "state_key",
]
