"""Step 4 of a subscription delivery (`session_alerts`): claim its alerts on the session's item, send what the
claim wins, and settle with earlier attempts at the same batch (docs/alerts.md, "Noise control" and "Retries").

`BatchClaims` is the subscription function's side of `claims` (which decides and builds the one conditional
write): it makes the write (again, against what a failed one returned, when it met concurrent claims), keeps at
most INVOCATION_ALERT_CAP alerts and a summary per delivery, raises one finding per stream for events claiming
another session, takes or waits on the leases of keys the batch claimed before, looks for the batch's delivery
record when an earlier attempt's lease is still running, and, on a failure path only, records what this attempt
delivered so that the retry repeats only the rest. A delivery without alerts reads what its batch recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from sessionguard.adapters.aws import error_code
from sessionguard.alerting.claims import (
    CLAIM_PREFIX,
    Candidate,
    ClaimState,
    ClaimWrite,
    DeliveredElsewhere,
    DoneSet,
    Lease,
    claim_write,
    decide,
    digest,
    session_cap,
)
from sessionguard.alerting.delivery import DEFAULT_BUDGET_SECONDS, Deliveries
from sessionguard.alerting.formatting import AlertContext, cap_summary_alert, invocation_summary_alert
from sessionguard.alerting.ledger_stream import session_record, slack_with_context, sns_with_context
from sessionguard.alerting.noise import Decision, alert_keys, event_epoch, state_key
from sessionguard.alerting.transcript import log_stream_name
from sessionguard.ledger.model import SessionRecord, parse_delivery_record
from sessionguard.observability import logger
from sessionguard.session.engine import CommandAlert
from sessionguard.severity import Severity

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from sessionguard.alerting.session_alerts import AlertSettings, BatchReport, Outlets
    from sessionguard.session.records import SessionEvent

# At most this many alerts (and one summary) leave one invocation, whatever the per-session cap and window allow:
# a delivery is one log stream, and one stream is one session, so this bounds what a hostile stream can send at once.
INVOCATION_ALERT_CAP: Final = 50
# A claim that meets a concurrent one is written again against what the failed write returned, a few times.
CLAIM_ATTEMPTS: Final = 4
# A delivery whose events are older than this may be a retry of one the previous version began: Lambda retries a
# failed asynchronous invocation one minute after it failed, then two (its developer guide, "How Lambda handles
# errors and retries with asynchronous invocation"); 5 seconds for the agent's clock. Its deliveries are checked
# against that version's records (docs/alerts.md, "Retries").
LATE_DELIVERY_MS: Final = 55_000
CLAIMS_RULE_ID: Final = "sessionguard-claims-another-session"


class ClaimStore(Protocol):
    """`adapters.dynamodb.SessionClaims`: the item that holds a session's alert claims (`claims`)."""

    @property
    def is_ledger(self) -> bool:
        """Whether the item is the session ledger's record (its start gives alerts their context)."""
        ...

    def claim(self, session_id: str, write: ClaimWrite, now: int) -> tuple[bool, dict[str, Any]]: ...

    def read(self, session_id: str, batch: str) -> dict[str, Any]: ...

    def record(
        self, session_id: str, batch: str, delivered: Collection[str], released: Mapping[str, tuple[str, str]], now: int
    ) -> None: ...


class BatchClaims:
    """The claims of one subscription delivery (a batch: `session_alerts._batch_id`) on its session's item, and
    what this attempt learns of earlier attempts at the batch. `completed` is set when the batch's record is in the
    transcript (it was delivered whole: nothing more to do); `leases` are the claims this attempt holds, released by
    `record_progress`."""

    def __init__(
        self,
        settings: AlertSettings,
        outlets: Outlets,
        context: LambdaContext | None,
        *,
        report: BatchReport,
        deliveries: Deliveries,
        done: DoneSet,
        alert_lines: list[tuple[str, str, str]] | None,
    ):
        self.settings = settings
        self.outlets = outlets
        self.context = context
        self.report = report
        self.deliveries = deliveries
        self.done = done  # shared with `deliveries` and the transcript write: what the batch has done
        self.alert_lines = alert_lines  # alert lines held for the transcript's own call (None: sent on their own)
        self.session: SessionRecord | None = None  # the ledger's record of the delivery's session
        self.leases: dict[str, Lease] = {}  # delivery key -> the lease this attempt holds on it
        self.completed: bool | None = None  # whether the batch's record is in the transcript (None: not looked)
        self.oldest_ms = 0  # the delivery's oldest log event timestamp

    def settle_with_earlier_attempts(
        self,
        alerts: list[CommandAlert],
        claims: list[SessionEvent],
        meta: Mapping[str, Any],
        records: list[Any],
        batch_id: str,
    ) -> bool:
        """Claim and deliver the alerts (or, without any, read what the batch recorded); False when the invocation
        stops here: the claim could not be made (a failure, retried), an attempt that may still be running holds it
        (a failure: the retry finds it done or run out), or the batch was delivered whole already."""
        if self._late(records):
            self.done.legacy = self.outlets.previous
        session_id = str(meta.get("logStream") or "")
        if alerts or claims:
            return self._claim_and_deliver(alerts, claims, meta, batch_id)
        try:
            item = self.outlets.claims.read(session_id, digest(batch_id))
        except Exception as error:  # a line may be written twice then, never lost
            self.report.record_failures += 1
            logger.warning(
                "What the batch recorded is unreadable; writing every line", extra={"error": error_code(error)}
            )
            return True
        self.done.done |= ClaimState.of(item).done.get(digest(batch_id), frozenset())
        return True

    def _late(self, records: list[Any]) -> bool:
        """Whether the delivery's events are old enough for it to be a retry (LATE_DELIVERY_MS)."""
        now_ms = int(self.outlets.wall_clock() * 1000)
        stamps = [r["timestamp"] for r in records if isinstance(r, dict) and type(r.get("timestamp")) is int]
        self.oldest_ms = min(stamps, default=now_ms)
        return self.oldest_ms < now_ms - LATE_DELIVERY_MS

    def _claim_and_deliver(
        self, alerts: list[CommandAlert], claims: list[SessionEvent], meta: Mapping[str, Any], batch_id: str
    ) -> bool:
        session_id = str(meta.get("logStream") or "")
        context = AlertContext(str(meta.get("logGroup", "")), session_id, self.settings.region)
        finding = None
        if claims:
            # Once per stream (its claim stays on the session's item): forged events cannot multiply alerts.
            key = state_key(CLAIMS_RULE_ID, context.log_group, context.log_stream)
            finding = (claims_another_session_alert(context.log_stream, claims), key)
            self.report.alerts[(str(finding[0].severity), finding[0].rule_id)] += 1
        keys = alert_keys(alerts)
        claimed = self._claim(alerts, keys, finding, session_id, batch_id)
        if claimed is None:
            return False
        decisions, to_send, others = claimed
        for alert, decision in zip(alerts, decisions, strict=True):
            self.report.alerts[(str(alert.severity), alert.rule_id)] += 1
            if decision is Decision.DUPLICATE:
                self.report.suppressed["window"] += 1
            elif decision in (Decision.SUMMARY, Decision.OVER_CAP):
                self.report.suppressed["cap"] += 1
        if others:
            self.report.suppressed["retry"] += sum(1 for _, key in to_send if key in others)
        self.deliveries.send_alerts(
            [(alert, key) for alert, key in to_send if key not in others],
            topic_arns=self.settings.topic_arns,
            slack=bool(self.settings.slack_secret_arn),
            sns_message=lambda alert: sns_with_context(alert, context, self.session),
            slack_message=lambda alert: slack_with_context(alert, context, self.session),
            held_alert_lines=self.alert_lines,
        )
        return True

    def _claim(
        self,
        alerts: list[CommandAlert],
        keys: list[str],
        finding: tuple[CommandAlert, str] | None,
        session_id: str,
        batch_id: str,
    ) -> tuple[list[Decision], list[tuple[CommandAlert, str]], set[str]] | None:
        """The decisions, what they send and which of it another delivery claimed, after the one write that claims
        it (or, when that met claims made since, after one more against what it returned); None when the
        invocation stops here (see `settle_with_earlier_attempts`)."""
        candidates = [Candidate(key, self._window(alert)) for alert, key in zip(alerts, keys, strict=True)]
        cap = self.settings.cap_per_session
        state: ClaimState | None = None  # the first write is optimistic: decided as if the session had no claims
        for _ in range(CLAIM_ATTEMPTS):
            decisions = decide(candidates, state or ClaimState(), cap)
            to_send, sent = self._to_send(alerts, keys, decisions, finding, batch_id)
            try:
                leases, others = self._leases(to_send, state, batch_id, session_id)
            except Exception as error:  # held by an attempt that may still run, or its record unreadable: later
                self.deliveries.failed("noise-state", error)
                logger.warning("Alerts claimed by an earlier attempt whose end is not known yet; retried later")
                return None
            if self.completed:
                self.report.suppressed["retry"] += len(to_send)
                logger.info("The batch was delivered whole already; nothing to do")
                return None
            write = claim_write(candidates, decisions, leases, state, cap=cap, sent=sent)
            made = state is not None and write.empty
            if not made:
                try:
                    made, item = self.outlets.claims.claim(session_id, write, int(self.outlets.wall_clock()))
                except Exception as error:  # nothing went out: the retry claims again
                    self.deliveries.failed("noise-state", error)
                    return None
                state = ClaimState.of(item)
                if self.outlets.claims.is_ledger:
                    self.session = session_record(item, session_id)
            if made and state is not None:
                self.leases = leases
                self.done.done |= state.done.get(digest(batch_id), frozenset())
                return decisions, to_send, others
        self.deliveries.failed("noise-state", DeliveredElsewhere("the claim met concurrent claims every time"))
        return None

    def _window(self, alert: CommandAlert) -> str | None:
        """The digest of the alert's window: its rule in one fixed bucket of its event time (`noise` explains why
        buckets of event time); None when windows are off."""
        if self.settings.window_seconds <= 0:
            return None
        bucket = event_epoch(alert.event_time, int(self.outlets.wall_clock())) // self.settings.window_seconds
        return digest(f"{alert.rule_id}\x00{bucket}")

    def _to_send(
        self,
        alerts: list[CommandAlert],
        keys: list[str],
        decisions: list[Decision],
        finding: tuple[CommandAlert, str] | None,
        batch_id: str,
    ) -> tuple[list[tuple[CommandAlert, str]], set[str]]:
        """(alert, delivery key) of what the decisions send — the alerts, a session's cap summary, at most
        INVOCATION_ALERT_CAP of them and a summary of the rest, the finding about other sessions' events first —
        and the keys of the alerts behind them."""
        chosen: list[tuple[str, tuple[CommandAlert, str]]] = []  # (the alert's key, what is sent for it)
        for alert, key, decision in zip(alerts, keys, decisions, strict=True):
            if decision is Decision.DELIVER:
                chosen.append((key, (alert, key)))
            elif decision is Decision.SUMMARY:
                summary = cap_summary_alert(alert, session_cap(self.settings.cap_per_session))
                chosen.append((key, (summary, state_key("summary", alert.session_id))))
        to_send = [sent for _, sent in chosen[:INVOCATION_ALERT_CAP]]
        if len(chosen) > INVOCATION_ALERT_CAP:
            held_back = len(chosen) - INVOCATION_ALERT_CAP
            first = chosen[INVOCATION_ALERT_CAP][1][0]
            to_send.append(
                (
                    invocation_summary_alert(first, INVOCATION_ALERT_CAP, held_back),
                    state_key("delivery-summary", batch_id),
                )
            )
            self.report.suppressed["invocation-cap"] = held_back
        sent = {key for key, _ in chosen[:INVOCATION_ALERT_CAP]}
        return ([finding, *to_send] if finding is not None else to_send), sent

    def _leases(
        self, to_send: list[tuple[CommandAlert, str]], state: ClaimState | None, batch_id: str, session_id: str
    ) -> tuple[dict[str, Lease], set[str]]:
        """The leases to take (delivery key -> lease) and the keys another delivery claimed (not this one's to
        send). A key this batch claimed before is taken again when that attempt ended (it released its lease
        after recording what it did) or stopped (its lease ran out and its record is not in the transcript).
        DeliveredElsewhere when an attempt that may still be running holds one; `completed` set when the batch's
        record is in the transcript (the batch was delivered whole)."""
        now_ms = int(self.outlets.wall_clock() * 1000)
        budget_ms = (
            self.context.get_remaining_time_in_millis() if self.context is not None else DEFAULT_BUDGET_SECONDS * 1000
        )
        fresh = Lease(batch_id, now_ms, now_ms + int(budget_ms))
        leases: dict[str, Lease] = {}
        others: set[str] = set()
        for _, key in to_send:
            held = state.claims.get(digest(key)) if state is not None else None
            lease = Lease.parse(held) if held is not None else None
            if held is None:
                leases[key] = fresh
            elif lease is None or lease.batch != batch_id:
                others.add(key)  # another delivery raised it (an overlapping payload) and sends it
            elif lease.until_ms == 0:
                leases[key] = fresh
            elif self._batch_completed(session_id, lease):
                self.completed = True
                return {}, others
            elif lease.live(now_ms):
                raise DeliveredElsewhere("an attempt that may still be running holds the alert")
            else:
                leases[key] = fresh
        return leases, others

    def _batch_completed(self, session_id: str, lease: Lease) -> bool:
        """Whether the batch's delivery record is in its session's transcript stream, saying its attempt was
        complete (the transcript write, the last of a delivery, carries it; an attempt that failed before it writes
        it saying so, and its retry, when its failure could not be recorded either, delivers again): one
        FilterLogEvents, on this rare path only, at most once per invocation."""
        if self.completed is None:
            stream = log_stream_name(session_id)
            # A record is stamped when it is written, after its attempt claimed; the version before 2026-12-07
            # stamped it up to 23 hours after the oldest line of its call: a day before covers both.
            since = min(lease.claimed_ms, self.oldest_ms) - 24 * 3600 * 1000
            group = self.settings.sanitized_log_group
            messages = self.outlets.search.messages_naming(group, stream, lease.batch, since)
            self.completed = any(
                (record := parse_delivery_record(message)) is not None
                and record.batch_id == lease.batch
                and record.complete
                for message in messages
            )
        return self.completed

    def record_progress(self, session_id: str, batch_id: str) -> None:
        """On a failure path only: record on the session's item what this attempt delivered, and release its
        leases, so that the retry repeats only the rest, at once. When this fails too, the retry waits for the
        leases to run out and delivers again what the transcript does not show done (docs/alerts.md)."""
        released = {
            CLAIM_PREFIX + digest(key): (lease.encode(), Lease(lease.batch, lease.claimed_ms, 0).encode())
            for key, lease in self.leases.items()
        }
        try:
            self.outlets.claims.record(
                session_id, digest(batch_id), self.done.ran, released, int(self.outlets.wall_clock())
            )
        except Exception as error:
            self.report.record_failures += 1
            logger.warning("What the batch delivered could not be recorded", extra={"error": error_code(error)})


def claims_another_session_alert(log_stream: str, claims: list[SessionEvent]) -> CommandAlert:
    """The finding for events of a stream that name other sessions: one per stream, however many there are."""
    first = claims[0]
    sessions = len({event.session_id for event in claims})
    return CommandAlert(
        session_id=log_stream,
        instance_id=first.instance_id,
        user=first.user_arn,
        rule_id=CLAIMS_RULE_ID,
        title="Events in a session's log stream claim another session",
        severity=Severity.HIGH,
        techniques=(),
        description=(
            f"{len(claims)} event(s) of this session's log stream name {sessions} other session(s). The SSM Agent "
            "names a stream after its session, but any instance whose role may write to the session log group can "
            "write into any stream of it (IAM cannot narrow PutLogEvents to one stream): these events were not "
            "scanned and are in the alert failure queue. Instance and user above are what the first such event "
            "claims. This finding is raised once per stream."
        ),
        command="",
        event_time=first.event_time,
        event_id=first.event_id,
        account_id=first.account_id,
        region=first.region,
        log_group=first.log_group,
    )


__all__ = [
    "CLAIMS_RULE_ID",
    "INVOCATION_ALERT_CAP",
    "BatchClaims",
    "ClaimStore",
    "claims_another_session_alert",
]
