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
Powertools Idempotency (`adapters.dynamodb.DeliveryLedger`, behind `Ledger`, used by `delivery.Deliveries`).
State lives behind `NoiseStore`: DynamoDB in Lambda (`adapters.dynamodb.DynamoNoiseStore`), in memory in tests.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

from sessionguard.session.engine import CommandAlert

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


def alert_keys(alerts: list[CommandAlert]) -> list[str]:
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

    def decide(self, alert: CommandAlert, key: str) -> Decision:
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


__all__ = [
    "STATE_RETENTION_SECONDS",
    "Decision",
    "DeliveredButNotRecorded",
    "Ledger",
    "NoiseControl",
    "NoiseStore",
    "alert_keys",
    "event_epoch",
    "state_key",
]
