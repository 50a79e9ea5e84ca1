"""The subscription function's work: one CloudWatch Logs subscription delivery in, alerts and a sanitized
transcript out, and every record accounted for.

Order of work per invocation (docs/alerts.md explains the why):
1. Decode the payload. A payload that cannot be decoded is parked whole in the failure queue, with its reason.
2. Read each log event. A record that is not a session event (or that the engine fails on), and an event that
   names another session than its log stream (any instance may write into any stream of the group), are set
   aside with their reason, to be parked after the alerts; the rest of the batch goes on.
3. Warm the engine up with the stream's preceding events (read back from the session log group: a command, a
   prompt or a private key can span deliveries, and each delivery is its own invocation), then run it over the
   good events; it masks every line and alert. A command still pending at the end is scanned and written as it
   is (marked incomplete); the next delivery, warmed up with it, completes it.
4. Claim the alerts at or above the configured severity in one conditional write on the session's item, which
   also takes their windows and the session's cap and returns the session's start for their context
   (batch_claims.py; claims.py decides the write): at most INVOCATION_ALERT_CAP of them and a summary per
   delivery, and one finding per stream for events claiming another session; then SNS to every topic for all of
   them, then EventBridge, then Slack (retried with backoff within the time left; never before SNS is done).
5. Park what was set aside, several log events per message and several messages per SendMessageBatch call: a
   flood of junk records costs a few calls, and comes after the alerts, never before them.
6. Write the masked lines to the sanitized log group, one stream per session, with the alert lines of step 4
   and the delivery's record for the session ledger (ledger_stream.py) in the same call (one of its own after
   lines more than 23 hours old), stamped as it is written and saying whether everything before it in this attempt
   succeeded (a retry takes only such a record for the batch's end). A quiet delivery (it
   opens at a prompt, raises no alert, sets nothing aside and fits one PutLogEvents call) writes them directly:
   no earlier attempt at it can have written any. Any other delivery writes each batch unless what its batch
   recorded says an earlier attempt wrote it (docs/performance.md, "What a delivery costs").
   Before 5 and 6, and between their calls, the time left is checked: with less than FINISH_RESERVE_SECONDS left,
   the whole invocation is parked for a replay (which repeats nothing already done) instead of timing out.
7. Metrics (EMF), always. If any delivery, write or parking failed, record on the session's item what went out
   (one write, on this path only) and raise `DeliveryFailed` so Lambda retries the invocation (and finally hands
   it to the on-failure destination): the retry repeats only what failed.

Raw session text never reaches logs, metrics or exceptions: only ids, counts, reasons and AWS error codes. The
failure queue is the one place raw log events are written — it is encrypted with the session key and holds
nothing the session log group does not already hold (see docs/alerts.md, "Nothing lost").
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.metrics import MetricUnit

from sessionguard.adapters.aws import error_code
from sessionguard.adapters.dynamodb import PreviousDeliveryRecords
from sessionguard.adapters.logs import (
    CloudWatchSessionHistory,
    CloudWatchTranscriptSearch,
    CloudWatchTranscriptSink,
    NoSessionHistory,
    PutResult,
    SessionHistory,
    StoredEvent,
    TranscriptSearch,
    TranscriptSink,
)
from sessionguard.adapters.sqs import SQS_MAX_MESSAGE_BYTES, FailureQueue, SqsFailureQueue
from sessionguard.alerting.batch_claims import BatchClaims, ClaimStore
from sessionguard.alerting.claims import DoneSet, LegacyRecords, digest
from sessionguard.alerting.delivery import (
    Deliveries,
    DeliveryOutlets,
    DeliverySettings,
    complete_invocation,
    emit_dimensioned,
)
from sessionguard.alerting.formatting import clean_metadata
from sessionguard.alerting.ledger_stream import (
    claims_from_env,
    delivery_of,
    is_delivery_record,
    record_event,
    settled_record,
    with_delivery_record,
)
from sessionguard.alerting.log_events import LogEvent, log_event_batches
from sessionguard.alerting.noise import state_key
from sessionguard.alerting.parking import invocation_body, log_event_entry, log_events_bodies, send_batches
from sessionguard.alerting.text import visible
from sessionguard.alerting.transcript import (
    TranscriptLinesRejected,
    alert_stream_name,
    log_stream_name,
    sanitized_log_events,
    stamp_age_limit_ms,
)
from sessionguard.ledger.model import StreamDelivery
from sessionguard.masking.masker import mask_secrets
from sessionguard.observability import logger, metrics
from sessionguard.rules import RulePack
from sessionguard.session.engine import CommandAlert, EngineStats, SanitizedLine, SessionEngine
from sessionguard.session.records import (
    InputProblem,
    MalformedEvent,
    SessionEvent,
    decode_subscription_data,
    events_from_subscription,
    is_event_id,
    json_type,
    parse_session_event,
)
from sessionguard.session.terminal import begins_at_a_prompt

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Warm-up: at most this many of the stream's preceding events, and this many bytes of them (the newest kept). The
# agent uploads about once a second, so this is the last 20 seconds or more of the session: enough for a command
# or a key split by a delivery boundary, bounded so that warming up costs one small GetLogEvents call.
WARM_UP_EVENTS: Final = 20
WARM_UP_MAX_BYTES: Final = 256 * 1024
# With less time left than this before parking or writing, the invocation parks itself for a replay: one SQS
# message, which takes well under a second, where timing out would make Lambda retry everything from the start.
FINISH_RESERVE_SECONDS: Final = 3.0
CLAIMS_ANOTHER_SESSION: Final = "event claims another session than its log stream"
# The first few parked records are logged one by one, the rest counted in one line: a flood of junk records must
# not become a flood of log lines.
_PARKED_LOGGED_MAX: Final = 10


def _needs_warm_up(first: SessionEvent) -> bool:
    """Whether a delivery may continue something its earlier events started. One that opens at a prompt (the usual
    upload: a prompt line is held back until Enter) continues nothing, so it skips the GetLogEvents call, whose
    quota (25 requests per second per account and region by default) a busy fleet would otherwise exhaust."""
    return not (first.lines and begins_at_a_prompt(first.lines[0]))


# --- settings ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertSettings(DeliverySettings):
    """The function's configuration, from its environment (template.yaml sets every variable): the shared
    delivery settings and the function's own."""

    sanitized_log_group: str
    failure_queue_url: str
    cap_per_session: int
    region: str
    sanitized_retention_days: int = 0  # 0: not known (then only CloudWatch's own 14 days apply up front)

    @classmethod
    def own_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        return {
            "sanitized_log_group": env["SANITIZED_LOG_GROUP"],
            "failure_queue_url": env["FAILURE_QUEUE_URL"],
            "cap_per_session": int(env.get("ALERT_CAP_PER_SESSION") or "20"),
            "region": env.get("AWS_REGION", ""),
            "sanitized_retention_days": int(env.get("SANITIZED_LOG_RETENTION_DAYS") or "0"),
        }


@dataclass(kw_only=True)
class Outlets(DeliveryOutlets):
    """Everything the function talks to: the shared delivery outlets, where transcripts and unreadable records
    go, and where a session's preceding events are read back from (warm-up)."""

    transcripts: TranscriptSink
    failures: FailureQueue
    claims: ClaimStore
    search: TranscriptSearch  # finds a delivery's record in the sanitized group (a retry's rare path)
    previous: LegacyRecords | None = None  # the delivery records the previous version wrote
    history: SessionHistory = field(default_factory=NoSessionHistory)


@cache
def default_rules() -> RulePack:
    """The bundled rule pack, loaded once per Lambda container."""
    return RulePack.load()


@cache
def default_outlets() -> tuple[AlertSettings, Outlets]:
    """Settings and AWS outlets from the environment, built once per Lambda container."""
    settings = AlertSettings.from_env()
    outlets = Outlets.from_settings(
        settings,
        transcripts=CloudWatchTranscriptSink(),
        failures=SqsFailureQueue(settings.failure_queue_url),
        claims=claims_from_env(),
        search=CloudWatchTranscriptSearch(),
        previous=PreviousDeliveryRecords(settings.state_table, time.time),
        history=CloudWatchSessionHistory(),
    )
    return settings, outlets


# --- the report ----------------------------------------------------------------------------------------------


@dataclass
class BatchReport:
    """What one invocation did, in counts (the handler's return value and the summary log line)."""

    log_events: int = 0
    malformed: int = 0
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (severity, rule id) -> raised
    suppressed: Counter[str] = field(default_factory=Counter)  # window | cap | invocation-cap | retry
    delivered: Counter[str] = field(default_factory=Counter)  # channel -> deliveries
    failures: Counter[str] = field(default_factory=Counter)  # channel -> failed deliveries
    lines_written: int = 0
    lines_rejected: int = 0  # refused by CloudWatch Logs even after stamping them again
    lines_restamped: int = 0  # refused for their time, then written stamped with the current time
    warm_up_events: int = 0
    warm_up_failures: int = 0
    invalid_event_times: int = 0
    claims_another_session: int = 0  # events naming another session than their log stream (parked)
    lines_already_written: int = 0  # lines an earlier attempt at the batch wrote (not written again)
    record_failures: int = 0  # what a batch did could not be read or recorded (logged by error code)
    deferred: bool = False  # time ran short: the invocation was parked for a replay to finish
    stats: EngineStats = field(default_factory=EngineStats)

    def summary(self) -> dict[str, Any]:
        return {
            "log_events": self.log_events,
            "session_events": self.stats.events,
            "commands": self.stats.commands,
            "malformed": self.malformed,
            "alerts": sum(self.alerts.values()),
            "secrets_masked": sum(self.stats.secrets_masked.values()),
            "delivered": dict(self.delivered),
            "suppressed": dict(self.suppressed),
            "failures": dict(self.failures),
            "lines_written": self.lines_written,
            "lines_rejected": self.lines_rejected,
            "lines_restamped": self.lines_restamped,
            "warm_up_events": self.warm_up_events,
            "warm_up_failures": self.warm_up_failures,
            "invalid_event_times": self.invalid_event_times,
            "claims_another_session": self.claims_another_session,
            "lines_already_written": self.lines_already_written,
            "record_failures": self.record_failures,
            "deferred": self.deferred,
        }


# --- entry point ---------------------------------------------------------------------------------------------


def handle_subscription_event(
    event: object,
    context: LambdaContext | None = None,
    *,
    settings: AlertSettings | None = None,
    outlets: Outlets | None = None,
    rules: RulePack | None = None,
) -> dict[str, Any]:
    """Process one subscription delivery (the event as Lambda passes it, or a Powertools `CloudWatchLogsEvent`
    wrapping it); the summary counts. Raises DeliveryFailed after doing everything it could when some delivery
    failed (see the module docstring)."""
    if settings is None or outlets is None:
        settings, outlets = default_outlets()
    run = _SessionAlertsInvocation(settings, outlets, rules or default_rules(), context)
    return complete_invocation(run, event, "Subscription batch processed")


class _SessionAlertsInvocation:
    """One invocation of the session alert function: one subscription delivery, its engines, alerts and report."""

    def __init__(self, settings: AlertSettings, outlets: Outlets, rules: RulePack, context: LambdaContext | None):
        self.settings = settings
        self.outlets = outlets
        self.rules = rules
        self.context = context
        self.report = BatchReport()
        # What this attempt at the batch knows is done (from its claims) and what it ran: each delivery once.
        self.done = DoneSet()
        self.deliveries = Deliveries(outlets, self.report, context, ledger=self.done)
        self.set_aside: list[tuple[int, Any, str]] = []  # (index, log event, reason): parked after the alerts
        self.raw_event: object = None
        # Alert lines (alerting.outlets) go to the sanitized group: held here and written in the transcript's own
        # PutLogEvents call, when they go to the same group (template.yaml sets both to it).
        more = outlets.more
        same_group = more is not None and more.settings.alert_log_group == settings.sanitized_log_group
        self.alert_lines: list[tuple[str, str, str]] | None = [] if same_group else None  # (key, stream, line)
        self.batch_claims = BatchClaims(
            settings,
            outlets,
            context,
            report=self.report,
            deliveries=self.deliveries,
            done=self.done,
            alert_lines=self.alert_lines,
        )

    # --- 1-3: decode, read, scan ---

    def process(self, event: object) -> None:
        raw_event: object = getattr(event, "raw_event", event)
        self.raw_event = raw_event
        payload = self._decode(raw_event)
        if payload is None or payload.get("messageType") == "CONTROL_MESSAGE":
            return
        records: list[Any] = payload["logEvents"]
        meta = {key: value for key, value in payload.items() if key != "logEvents"}
        batch_id = _batch_id(meta, records)
        self.report.log_events = len(records)
        readable, claims = self._read(meta, records)
        delivery = delivery_of(meta, records, readable, forged=len(claims), batch_id=batch_id)
        self._note_invalid_event_times([event for _, event in readable], meta)
        warm_up = bool(readable) and _needs_warm_up(readable[0][1])
        history = self._preceding_events(meta, records) if warm_up else []
        engine, outputs = self._scan_batch(history, meta, records, readable)
        self.report.stats = engine.stats
        alerts = [o for o in outputs if isinstance(o, CommandAlert)]
        lines = [o for o in outputs if isinstance(o, SanitizedLine)]
        plan = self._transcript_plan(lines, delivery)
        # Whether an earlier attempt at these log events can have done part of what this one does: decided from
        # the payload alone, so that every attempt at it decides the same (docs/alerts.md, "Each line once").
        careful = bool(alerts or self.set_aside or warm_up or sum(len(batches) for _, _, batches in plan) > 1)
        session_id = str(meta.get("logStream") or "")
        if careful and not self.batch_claims.settle_with_earlier_attempts(alerts, claims, meta, records, batch_id):
            if self.batch_claims.completed:
                self.report.lines_already_written += len(lines)
            return
        try:
            held = self.alert_lines or []
            if held:
                plan = self._transcript_plan(lines, delivery, [(stream, line) for _, stream, line in held])
            if not self._park_set_aside(meta, batch_id) or self._time_is_short():
                self._defer(raw_event, "time ran out after the alerts; a replay parks and writes the rest")
                return
            self._write_transcripts(plan, batch_id, delivery, careful=careful)
        finally:
            if careful and (self.report.failures or self.report.deferred):
                self.batch_claims.record_progress(session_id, batch_id)

    def _scan_batch(
        self,
        history: list[SessionEvent],
        meta: Mapping[str, Any],
        records: list[Any],
        readable: list[tuple[int, SessionEvent]],
    ) -> tuple[SessionEngine, list[CommandAlert | SanitizedLine]]:
        """The batch in one pass of an engine warmed up with `history`; when the engine fails on it, again one
        event at a time on a fresh engine, setting aside the events it fails on."""
        engine = self._warmed_up_engine(history)
        try:
            return engine, self._scan(engine, readable)
        except Exception:
            engine = self._warmed_up_engine(history)
            return engine, self._scan_one_by_one(engine, meta, records, readable)

    def _read(
        self, meta: Mapping[str, Any], records: list[Any]
    ) -> tuple[list[tuple[int, SessionEvent]], list[SessionEvent]]:
        """(index, event) of the records that are this stream's session events, and the events that claim another
        session. Everything else, and those claims, is set aside with its reason (parked after the alerts)."""
        readable: list[tuple[int, SessionEvent]] = []
        claims: list[SessionEvent] = []
        stream = meta.get("logStream")
        # One item per record, in order: the payload is read whole (whether it is a plain-text upload depends on
        # all its records).
        items: list[SessionEvent | InputProblem | None] = list(events_from_subscription({**meta, "logEvents": records}))
        if len(items) != len(records):
            items = [next(events_from_subscription({**meta, "logEvents": [record]}), None) for record in records]
        for index, (record, item) in enumerate(zip(records, items, strict=True)):
            if not isinstance(item, SessionEvent):  # a record yielding none is parked too
                reason = item.reason if item is not None else "no session event could be read from this log event"
                self._set_aside(meta, index, record, reason)
            elif isinstance(stream, str) and stream and item.session_id != stream:
                # The agent names the stream after the session; the group's writers can write into any stream.
                self._set_aside(meta, index, record, CLAIMS_ANOTHER_SESSION)
                claims.append(item)
            else:
                readable.append((index, item))
        self.report.claims_another_session = len(claims)
        return readable, claims

    def _scan(
        self, engine: SessionEngine, readable: list[tuple[int, SessionEvent]]
    ) -> list[CommandAlert | SanitizedLine]:
        """One log stream is one session: the batch in one engine pass. A command still pending at the end is given
        out as it is now (the next delivery completes it), never held back unscanned."""
        return [*engine.scan(event for _, event in readable), *engine.flush_pending()]

    def _scan_one_by_one(
        self,
        engine: SessionEngine,
        meta: Mapping[str, Any],
        records: list[Any],
        readable: list[tuple[int, SessionEvent]],
    ) -> list[CommandAlert | SanitizedLine]:
        """The batch again on a fresh engine, one event at a time: one bad event must not stop the batch."""
        outputs: list[CommandAlert | SanitizedLine] = []
        for index, event in readable:
            try:
                outputs += engine.scan_event(event)
            except Exception as error:
                reason = f"the engine failed on this event ({type(error).__name__})"
                self._set_aside(meta, index, records[index], reason)
        return outputs + list(engine.flush_pending())

    # --- the time left ---

    def _time_is_short(self) -> bool:
        if self.context is None:
            return False
        return self.context.get_remaining_time_in_millis() < FINISH_RESERVE_SECONDS * 1000

    def _defer(self, raw_event: object, reason: str) -> None:
        """Park the whole invocation for a replay instead of timing out (a timeout would make Lambda retry all of
        it, and time out again): the replay repeats nothing this attempt records as done
        (`BatchClaims.record_progress`)."""
        self.report.deferred = True
        logger.warning("Invocation parked for a replay: too little time left", extra={"reason": reason})
        self._park_invocation(raw_event, reason, count_as_malformed=False)

    # --- 3: warm-up ---

    def _preceding_events(self, meta: Mapping[str, Any], records: list[Any]) -> list[SessionEvent]:
        """The stream's events just before this delivery (at most WARM_UP_EVENTS and WARM_UP_MAX_BYTES), read back
        from the session log group; none when they cannot be read (logged by error code, counted), so a missing
        permission or throttling never fails the batch."""
        log_group, log_stream = meta.get("logGroup"), meta.get("logStream")
        own = Counter(
            (record["timestamp"], record["message"])
            for record in records
            if isinstance(record, dict) and type(record.get("timestamp")) is int and type(record.get("message")) is str
        )
        if not own or not isinstance(log_group, str) or not isinstance(log_stream, str) or not log_stream:
            return []
        first = min(timestamp for timestamp, _ in own)
        try:
            # GetLogEvents has no event ids: this delivery's own events (those stamped in its first millisecond
            # come back too) are told apart by timestamp and message.
            stored = self.outlets.history.preceding(log_group, log_stream, first, WARM_UP_EVENTS + own.total())
        except Exception as error:
            self.report.warm_up_failures += 1
            logger.warning(
                "Session history unreadable; scanning without warm-up",
                extra={"error": error_code(error), "log_stream": _safe_name(meta)},
            )
            return []
        earlier: list[StoredEvent] = []
        for event in stored:
            key = (event.timestamp, event.message)
            if own[key] > 0:
                own[key] -= 1
            elif event.timestamp <= first:
                earlier.append(event)
        kept: list[SessionEvent] = []
        budget = WARM_UP_MAX_BYTES
        for event in reversed(earlier[-WARM_UP_EVENTS:]):
            budget -= len(event.message.encode("utf-8", "surrogatepass"))
            if budget < 0:
                break
            try:
                kept.append(parse_session_event(event.message))
            except MalformedEvent:
                continue  # parked by the invocation that received it
        kept.reverse()
        return kept

    def _warmed_up_engine(self, history: list[SessionEvent]) -> SessionEngine:
        engine = SessionEngine(self.rules, min_severity=self.settings.min_severity)
        if not history:
            return engine
        try:
            engine.prime(history)
        except Exception as error:  # a record the engine failed on was parked when it was delivered
            self.report.warm_up_failures += 1
            logger.warning("Warm-up failed; scanning without it", extra={"error": type(error).__name__})
            return SessionEngine(self.rules, min_severity=self.settings.min_severity)
        self.report.warm_up_events = len(history)
        return engine

    def _note_invalid_event_times(self, events: list[SessionEvent], meta: Mapping[str, Any]) -> None:
        rejected = sum(1 for event in events if event.event_time_rejected)
        if rejected:
            self.report.invalid_event_times += rejected
            logger.warning(
                "Session events with an eventTime the agent does not write; read without it",
                extra={"events": rejected, "log_stream": _safe_name(meta)},
            )

    def _decode(self, raw_event: object) -> dict[str, Any] | None:
        """The decoded payload, or None when the invocation was parked whole."""
        wrapper = raw_event.get("awslogs") if isinstance(raw_event, Mapping) else None
        data = wrapper.get("data") if isinstance(wrapper, Mapping) else None
        if not isinstance(data, str):
            if isinstance(raw_event, Mapping):
                self._park_invocation(raw_event, "the event has no awslogs.data string")
            else:
                self._park_invocation(raw_event, f"the event is a JSON {json_type(raw_event)}, not an object")
            return None
        try:
            payload = decode_subscription_data(data)
        except MalformedEvent as problem:
            self._park_invocation(raw_event, problem.reason)
            return None
        if payload.get("messageType") == "CONTROL_MESSAGE":
            return payload
        if not isinstance(payload.get("logEvents"), list):
            self._park_invocation(raw_event, "the subscription payload's logEvents is missing or not a list")
            return None
        probe = next(events_from_subscription({**payload, "logEvents": []}), None)
        if isinstance(probe, InputProblem):
            self._park_invocation(raw_event, probe.reason)
            return None
        return payload

    # --- parking malformed input in the failure queue ---

    def _park_invocation(self, raw_event: object, reason: str, *, count_as_malformed: bool = True) -> None:
        if count_as_malformed:
            self.report.malformed += 1
            logger.warning("Malformed subscription event parked", extra={"reason": reason})
        body = invocation_body(raw_event, reason)
        digest = hashlib.sha256(body.encode()).hexdigest()
        if len(body.encode()) > SQS_MAX_MESSAGE_BYTES:
            # Nothing smaller to keep: failing the invocation hands it to Lambda's on-failure destination, and the
            # Errors alarm fires.
            self.report.failures["failure-queue"] += 1
            logger.error("Subscription event too large for the failure queue", extra={"reason": reason})
            return
        self.deliveries.once(
            state_key("parked", "invocation", digest), lambda: self.outlets.failures.send(body), "failure-queue"
        )

    def _set_aside(self, meta: Mapping[str, Any], index: int, record: Any, reason: str) -> None:
        """A log event not processed, to be parked with its reason after the alerts (`_park_set_aside`)."""
        self.report.malformed += 1
        self.set_aside.append((index, record, reason))
        if len(self.set_aside) <= _PARKED_LOGGED_MAX:
            event_id = record.get("id") if isinstance(record, dict) else None
            logger.warning(
                "Malformed log event parked",
                extra={
                    "reason": reason,
                    "location": f"logEvents[{index}]",
                    "event_id": event_id if is_event_id(event_id) else "",
                    "log_stream": _safe_name(meta),
                },
            )

    def _park_set_aside(self, meta: Mapping[str, Any], batch_id: str) -> bool:
        """Park the log events set aside, as few messages and SendMessageBatch calls as they fit in; False when the
        time left ran short before every call was made (the caller parks the invocation instead)."""
        if not self.set_aside:
            return True
        if len(self.set_aside) > _PARKED_LOGGED_MAX:
            logger.warning(
                "Further malformed log events parked, not logged one by one",
                extra={"events": len(self.set_aside) - _PARKED_LOGGED_MAX, "log_stream": _safe_name(meta)},
            )
        limit = SQS_MAX_MESSAGE_BYTES
        entries = (log_event_entry(f"logEvents[{i}]", record, reason, limit) for i, record, reason in self.set_aside)
        for number, batch in enumerate(send_batches(log_events_bodies(meta, entries, limit), limit)):
            if self._time_is_short():
                return False
            key = state_key("parked", batch_id, "batch", str(number))
            self.deliveries.once(key, partial(self.outlets.failures.send_batch, batch), "failure-queue")
        return True

    # --- 6: the sanitized transcript ---

    def _transcript_plan(
        self,
        lines: list[SanitizedLine],
        delivery: StreamDelivery | None,
        alert_lines: Sequence[tuple[str, str]] = (),
    ) -> list[tuple[str, str, list[list[LogEvent]]]]:
        """(session id, sanitized stream, PutLogEvents batches) per session, in order: the session's masked lines,
        the alert lines (stream, JSON line) for its stream, stamped now, and the delivery's record for the session
        ledger last, in the last call (written even when the delivery has no line)."""
        now_ms = int(self.outlets.wall_clock() * 1000)
        max_age_ms = stamp_age_limit_ms(self.settings.sanitized_retention_days)
        by_session: dict[str, list[SanitizedLine]] = {}
        for line in lines:
            by_session.setdefault(line.session_id, []).append(line)
        events: dict[str, tuple[str, list[LogEvent]]] = {}  # stream -> (session id, its events)
        for session_id, session_lines in by_session.items():
            stream = log_stream_name(session_id)
            events[stream] = (session_id, sanitized_log_events(session_lines, now_ms, max_age_ms=max_age_ms))
        # An alert line's stream is named from the alert's masked session id: beside its transcript, whose name adds
        # a digest of the raw id when masking changed it (masked here only for a delivery that has alert lines).
        sessions = [*by_session, *([delivery.session_id] if delivery is not None else [])] if alert_lines else []
        beside = {alert_stream_name(clean_metadata(session_id)): session_id for session_id in sessions}
        for stream, alert_json in alert_lines:
            known = beside.get(stream)
            named = stream if known is None else log_stream_name(known)
            events.setdefault(named, (known or stream, []))[1].append(LogEvent(now_ms, alert_json))
        if delivery is not None:
            events.setdefault(log_stream_name(delivery.session_id), (delivery.session_id, []))
        plan = []
        for stream, (session_id, stream_events) in events.items():
            batches = log_event_batches(sorted(stream_events, key=lambda e: e.timestamp))
            if delivery is not None and session_id == delivery.session_id:
                batches = with_delivery_record(batches, delivery, now_ms)
            plan.append((session_id, stream, batches))
        # The record's stream last: its record is the attempt's last write, and says whether all before it succeeded.
        return sorted(plan, key=lambda entry: delivery is not None and entry[0] == delivery.session_id)

    def _write_transcripts(
        self,
        plan: list[tuple[str, str, list[list[LogEvent]]]],
        batch_id: str,
        delivery: StreamDelivery | None,
        *,
        careful: bool,
    ) -> bool:
        """Write the batches; whether every write succeeded (or was done already) in the time there was. A
        `careful` delivery (one an earlier attempt may have written part of) writes each batch unless that attempt
        recorded it written; the others, one PutLogEvents call that no earlier attempt can have made,
        write it directly. The delivery's record, in the last call, is stamped as it is written and says whether
        everything before it succeeded; a later call of a stream whose earlier call failed is still written (the
        record says the attempt was incomplete, and the retry writes only the calls not recorded written)."""
        failures = self.report.failures["transcript"]
        for session_id, stream, batches in plan:
            for index, planned in enumerate(batches):
                if self._time_is_short():
                    self._defer(self.raw_event, "time ran out writing the sanitized transcript; a replay finishes it")
                    return False
                last = delivery is not None and session_id == delivery.session_id and index == len(batches) - 1
                recorded = delivery if last else None  # the delivery whose record this call carries
                batch = planned
                if recorded is not None:
                    batch = settled_record(planned, recorded, self._now_ms(), complete=self._nothing_failed())
                key = state_key("transcript", batch_id, session_id, str(index))
                written_before = careful and digest(key) in self.done.done
                if written_before:
                    self.report.lines_already_written += _lines(batch)
                write = partial(self._put_lines, stream, batch)
                if careful:
                    self.deliveries.once(key, write, "transcript")
                else:
                    self.deliveries.now(write, "transcript")
                if recorded is not None and written_before:
                    self._record_completion(stream, batch_id, recorded)
        return self.report.failures["transcript"] == failures

    def _record_completion(self, stream: str, batch_id: str, delivery: StreamDelivery) -> None:
        """A retry that finds its batch's last call written by an earlier attempt (which recorded it written, so
        that attempt failed before it: its record says incomplete) writes, when it did all the rest and holds
        leases, a record that says complete, in a call of its own: a duplicate of the payload that meets those
        leases finds it and repeats nothing. One more call, on this retry path only."""
        if not self.batch_claims.leases or not self._nothing_failed():
            return
        if self._time_is_short():  # not skipped: a duplicate would then find only the incomplete record, and resend
            self._defer(self.raw_event, "time ran out before the record that completes the batch; a replay writes it")
            return
        record = [record_event(delivery, self._now_ms())]
        key = state_key("transcript", batch_id, delivery.session_id, "complete")
        self.deliveries.once(key, partial(self._put_lines, stream, record), "transcript")

    def _nothing_failed(self) -> bool:
        """Whether everything this attempt did so far succeeded (what its delivery record says)."""
        return not self.report.failures and not self.report.deferred

    def _now_ms(self) -> int:
        return int(self.outlets.wall_clock() * 1000)

    def _put_lines(self, stream: str, batch: list[LogEvent]) -> None:
        """One batch; lines CloudWatch Logs refuses for their time (older than the group's retention, which this
        function may not know, or a clock far off) are written again stamped with the current time — they keep
        their own time in `event_time`. Lines refused even then fail the delivery: Lambda retries the invocation
        and finally parks it in the failure queue, so no line is dropped silently."""
        group = self.settings.sanitized_log_group
        result = self.outlets.transcripts.put(group, stream, batch)
        self.report.lines_written += _lines(batch) - _lines(result.rejected_events)
        if not result.rejected:
            return
        now_ms = int(self.outlets.wall_clock() * 1000)
        again = [LogEvent(now_ms, event.message) for event in result.rejected_events]
        retried = self.outlets.transcripts.put(group, stream, again) if again else PutResult(0, result.rejected)
        restamped = _lines(again) - _lines(retried.rejected_events)
        self.report.lines_written += restamped
        self.report.lines_restamped += restamped
        logger.warning(
            "Sanitized lines refused for their time, written again stamped now",
            extra={"refused": result.rejected, "restamped": retried.accepted},
        )
        if retried.rejected:
            self.report.lines_rejected += retried.rejected
            raise TranscriptLinesRejected(f"CloudWatch Logs refused {retried.rejected} sanitized line(s)")

    # --- 6: metrics ---

    def record_metrics(self) -> None:
        """EMF metrics. Dimensions are fixed vocabularies (severity, rule id from the rule pack, secret kind,
        channel, reason) — never session text. Each dimensioned metric is flushed as its own EMF document because
        one document shares its dimensions across all its metrics; the totals go out with the handler's flush."""
        report = self.report
        for (severity, rule_id), count in sorted(report.alerts.items()):
            emit_dimensioned("Alerts", count, Severity=severity, RuleId=rule_id)
        for kind, count in sorted(report.stats.secrets_masked.items()):
            emit_dimensioned("SecretsMasked", count, SecretKind=kind)
        self.deliveries.emit_metrics()
        totals = {
            "LogEventsReceived": report.log_events,
            "SessionEventsProcessed": report.stats.events,
            "CommandsSeen": report.stats.commands,
            "MalformedRecords": report.malformed,
            "AlertsRaised": sum(report.alerts.values()),
            "SecretsMaskedTotal": sum(report.stats.secrets_masked.values()),
            "DuplicatesSuppressed": report.suppressed["window"] + report.suppressed["retry"],
            "AlertsOverCap": report.suppressed["cap"],
            "DeliveryFailuresTotal": sum(report.failures.values()),
            "SanitizedLinesWritten": report.lines_written,
            "SanitizedLinesRejected": report.lines_rejected,
            "SanitizedLinesRestamped": report.lines_restamped,
            "WarmUpEvents": report.warm_up_events,
            "WarmUpFailures": report.warm_up_failures,
            "InvalidEventTimes": report.invalid_event_times,
            "EventsClaimingAnotherSession": report.claims_another_session,
            "SanitizedLinesAlreadyWritten": report.lines_already_written,
            "InvocationsDeferred": int(report.deferred),
        }
        for name, value in totals.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _lines(events: Iterable[LogEvent]) -> int:
    """How many of `events` are transcript or alert lines (not the delivery's record)."""
    return sum(1 for event in events if not is_delivery_record(event.message))


def _batch_id(meta: Mapping[str, Any], records: list[Any]) -> str:
    """Identity of a delivery: the same payload (a retry, a replay) gives the same id."""
    ids = [r.get("id") if isinstance(r, dict) else None for r in records]
    identity = json.dumps([meta.get("logGroup"), meta.get("logStream"), ids], default=str)
    return hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()[:32]


def _safe_name(meta: Mapping[str, Any]) -> str:
    """The payload's log stream (a session id) for a log line: masked and printable, like any metadata."""
    return mask_secrets(visible(str(meta.get("logStream", ""))))[:256]


__all__ = [
    "AlertSettings",
    "BatchReport",
    "ClaimStore",
    "Outlets",
    "TranscriptLinesRejected",
    "default_outlets",
    "default_rules",
    "handle_subscription_event",
    "log_stream_name",
    "sanitized_log_events",
]
