"""The session ledger function's work (docs/ledger.md): one EventBridge event in, the ledger updated, findings
and the alerts of a scanned transcript out through the same delivery path as every other alert.

- CloudTrail StartSession / ResumeSession / TerminateSession: the session's start (or end) is recorded; with
  `SESSION_NOTICES` on, a notice of every start and end goes to the topics and Slack.
- S3 Object Created on the transcript bucket: the object, its size and version are recorded; a second version is
  SG-LG-005; a session that was not streamed, or stopped streaming (SG-LG-002), has its transcript scanned, only
  the part its stream did not deliver, so alerts already sent for the streamed part are not sent again.
- The schedule: the reconciler reads the open sessions (a sparse index), closes those DescribeSessions says ended,
  raises SG-LG-001, -003 and -004 when due, and lets go of the sessions nothing more can come for.

What a session's stream delivered is read back from the delivery records the subscription function writes in the
sanitized transcript (`adapters.delivery_records`): for a transcript, its session's records before deciding; for
the reconciler, those of the open sessions whose stream exists, and one sweep of the whole group since the last
one, which finds streams no session explains. A session whose records could not be read is decided on no finding
in that run (the next run reads them again); a transcript whose records could not be read fails the invocation
before anything is written, so Lambda retries it.

Each finding is delivered once per session (its delivery key is the finding and the session id), and recorded on
the session's item. Nothing from a session reaches logs or metrics but ids, counts and fixed phrases.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from sessionguard.adapters.aws import error_code
from sessionguard.adapters.delivery_records import DeliveryRecords, PageBudget, StreamReads, Sweep
from sessionguard.adapters.session_ledger import SessionTable, SsmSessionDirectory, read_transcript
from sessionguard.alerting.delivery import (
    Deliveries,
    DeliveryOutlets,
    DeliverySettings,
    complete_invocation,
    emit_dimensioned,
)
from sessionguard.alerting.formatting import AlertContext, SnsMessage, build_slack_message, build_sns_message
from sessionguard.alerting.ledger_messages import (
    ledger_slack_message,
    ledger_sns_message,
    session_notice,
    slack_with_session_context,
    with_session_context,
)
from sessionguard.alerting.noise import alert_keys, state_key
from sessionguard.alerting.session_alerts import default_rules
from sessionguard.alerting.transcript import log_stream_name
from sessionguard.ledger.calls import SessionCall, TranscriptObject, session_call, transcript_object
from sessionguard.ledger.decisions import (
    SWEEP_WINDOW_MAX_SECONDS,
    Due,
    LedgerTimings,
    TranscriptPlan,
    closed_by_describe,
    due_findings,
    needs_records_read,
    next_sweep_window,
    opens_for_records,
    overwrite_finding,
    plan_transcript_scan,
    still_open,
    sweep_window,
)
from sessionguard.ledger.findings import STREAMING_STOPPED, LedgerAlert, findings
from sessionguard.ledger.model import SessionRecord, StreamTotals, stream_totals
from sessionguard.observability import logger, metrics
from sessionguard.rules.pack import RulePack
from sessionguard.session.engine import CommandAlert, SanitizedLine, SessionEngine
from sessionguard.session.records import MalformedEvent, SessionEvent, decode_input, read_input

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

LEDGER_RETENTION_SECONDS: Final = 90 * 24 * 3600  # default TTL of a ledger item
TRANSCRIPT_MAX_BYTES: Final = 8 * 1024 * 1024  # the part of a transcript object read and scanned
OPEN_SESSIONS_PER_RUN: Final = 500
# FilterLogEvents calls a reconciler run may make for its sweep and for the open sessions' reads, and a transcript
# for its one stream (a page holds up to 10,000 events or 1 MB: about 2,000 delivery records).
SWEEP_PAGES_PER_RUN: Final = 120
READ_PAGES_PER_RUN: Final = 80
RECORD_PAGES_PER_TRANSCRIPT: Final = 50
# A record becomes searchable seconds after its write, and a session's last delivery and its transcript object
# arrive about together: before SG-LG-002 is raised on a transcript younger than this, its records are read again.
RECORD_SETTLE_SECONDS: Final = 30


class SessionLedgerStore(Protocol):
    """The ledger table (`adapters.session_ledger.SessionTable`; tests use it on moto)."""

    def record_call(self, call: SessionCall, now: int, expires_at: int) -> SessionRecord: ...
    def record_transcript(self, obj: TranscriptObject, now: int, expires_at: int) -> SessionRecord | None: ...
    def add_findings(self, session_id: str, finding_ids: list[str], alerts: int = 0) -> None: ...
    def close(self, session_id: str, ended_at: int) -> None: ...
    def settle(self, session_id: str) -> None: ...
    def get(self, session_id: str) -> SessionRecord | None: ...
    def open_sessions(self, limit: int) -> list[SessionRecord]: ...
    def sessions(self, session_ids: list[str]) -> list[SessionRecord]: ...
    def record_totals(self, session_id: str, totals: StreamTotals, now: int) -> bool: ...
    def open_for_records(self, session_ids: list[str], now: int, expires_at: int) -> None: ...
    def open_states(self, session_ids: list[str]) -> dict[str, tuple[bool, int]]: ...
    def sweep_checkpoint(self) -> tuple[int, int]: ...
    def set_sweep_checkpoint(self, swept_to_ms: int, window_s: int) -> None: ...


class DeliveryRecordReader(Protocol):
    """The delivery records in the sanitized group (`adapters.delivery_records.DeliveryRecords`, on moto in tests)."""

    calls: int

    def read(self, session_ids: list[str], budget: PageBudget) -> StreamReads: ...
    def sweep(self, start_ms: int, end_ms: int, budget: PageBudget) -> Sweep: ...


class DeliveryRecordsUnread(RuntimeError):
    """A transcript's session records could not be read: the invocation fails before writing, so Lambda retries."""


class SessionsNotReconciled(RuntimeError):
    """A reconciler run could not update some sessions (their AWS calls failed); it went on with the others and
    fails at its end, so that Lambda retries it and the Errors alarm counts it. The message is a count only."""


class SessionDirectory(Protocol):
    """DescribeSessions (`adapters.session_ledger.SsmSessionDirectory`; moto lacks it, tests use a fake)."""

    def active_ids(self) -> set[str]: ...
    def history_ends(self, invoked_after: int) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class LedgerSettings(DeliverySettings):
    """The function's configuration, from its environment (template.yaml sets every variable)."""

    ledger_table: str
    transcript_bucket: str
    transcript_prefix: str
    session_log_group: str
    sanitized_log_group: str  # where the delivery records are ("": none read, legacy counts only)
    region: str
    account_id: str
    timings: LedgerTimings
    session_notices: bool
    retention_seconds: int

    @classmethod
    def own_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        return {
            "ledger_table": env["SESSION_LEDGER_TABLE"],
            "transcript_bucket": env["TRANSCRIPT_BUCKET"],
            "transcript_prefix": env.get("TRANSCRIPT_KEY_PREFIX", ""),
            "session_log_group": env.get("SESSION_LOG_GROUP", ""),
            "sanitized_log_group": env.get("SANITIZED_LOG_GROUP", ""),
            "region": env.get("AWS_REGION", ""),
            "account_id": env.get("ACCOUNT_ID", ""),
            "timings": LedgerTimings(
                not_streamed_after=60 * int(env.get("NOT_STREAMED_AFTER_MINUTES") or "5"),
                no_transcript_after=60 * int(env.get("NO_TRANSCRIPT_AFTER_MINUTES") or "15"),
            ),
            "session_notices": env.get("SESSION_NOTICES", "false").lower() == "true",
            "retention_seconds": 86400 * int(env.get("SESSION_LEDGER_RETENTION_DAYS") or "90"),
        }


@dataclass(kw_only=True)
class LedgerOutlets(DeliveryOutlets):
    """The shared delivery outlets, the ledger table, DescribeSessions, the transcript and delivery record readers."""

    table: SessionLedgerStore
    directory: SessionDirectory
    read_transcript: Callable[[str, str, str, int], bytes]
    records: DeliveryRecordReader | None = None
    sleep: Callable[[float], None] = time.sleep


@cache
def default_outlets() -> tuple[LedgerSettings, LedgerOutlets]:
    """Settings and AWS outlets from the environment, built once per Lambda container."""
    settings = LedgerSettings.from_env(os.environ)
    outlets = LedgerOutlets.from_settings(
        settings,
        table=SessionTable(settings.ledger_table),
        directory=SsmSessionDirectory(),
        read_transcript=read_transcript,
        records=DeliveryRecords(settings.sanitized_log_group) if settings.sanitized_log_group else None,
    )
    return settings, outlets


@dataclass
class LedgerReport:
    """What one invocation did, in counts and ids."""

    kind: str = "ignored"  # session-call | transcript | reconcile | ignored
    session_ids: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    command_alerts: int = 0
    closed: int = 0
    settled: int = 0
    records_unread: int = 0  # sessions left undecided this run: their delivery records could not be read
    sessions_failed: int = 0  # sessions the run could not update (an AWS call failed): left to the next run
    record_reads: int = 0  # FilterLogEvents calls
    notices: int = 0
    transcript_lines_scanned: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sessions": self.session_ids,
            "findings": dict(self.findings),
            "command_alerts": self.command_alerts,
            "closed": self.closed,
            "settled": self.settled,
            "records_unread": self.records_unread,
            "sessions_failed": self.sessions_failed,
            "record_reads": self.record_reads,
            "notices": self.notices,
            "transcript_lines_scanned": self.transcript_lines_scanned,
            "suppressed": dict(self.suppressed),
            "delivered": dict(self.delivered),
            "failures": dict(self.failures),
        }


def handle_ledger_event(
    event: Mapping[str, Any],
    context: LambdaContext | None = None,
    *,
    settings: LedgerSettings | None = None,
    outlets: LedgerOutlets | None = None,
    rules: RulePack | None = None,
) -> dict[str, Any]:
    """Process one EventBridge event (CloudTrail call, S3 object created, or the schedule); the summary. Raises
    DeliveryFailed after trying every delivery when one failed, so Lambda retries."""
    if settings is None or outlets is None:
        settings, outlets = default_outlets()
    run = SessionLedgerInvocation(settings, outlets, rules or default_rules(), context)
    return complete_invocation(run, event, "Session ledger event processed")


class SessionLedgerInvocation:
    """One invocation of the ledger function."""

    def __init__(
        self, settings: LedgerSettings, outlets: LedgerOutlets, rules: RulePack, context: LambdaContext | None
    ) -> None:
        self.settings = settings
        self.outlets = outlets
        self.rules = rules
        self.report = LedgerReport()
        self.deliveries = Deliveries(outlets, self.report, context)
        self.record_calls_before = outlets.records.calls if outlets.records is not None else 0

    @property
    def now(self) -> int:
        return int(self.outlets.wall_clock())

    @property
    def expires_at(self) -> int:
        return self.now + self.settings.retention_seconds

    def process(self, event: Mapping[str, Any]) -> None:
        if event.get("detail-type") == "Scheduled Event":
            self.report.kind = "reconcile"
            self.reconcile()
        elif (call := session_call(event)) is not None:
            self.report.kind = "session-call"
            self.record_call(call)
        elif (obj := transcript_object(event, self.settings.transcript_prefix)) is not None and (
            obj.bucket == self.settings.transcript_bucket
        ):
            self.report.kind = "transcript"
            self.record_transcript(obj)

    # --- Start ---

    def record_call(self, call: SessionCall) -> None:
        record = self.outlets.table.record_call(call, self.now, self.expires_at)
        self.report.session_ids = 1
        if self.settings.session_notices:
            self._notify(record, "ended" if call.name == "TerminateSession" else _started(call.name), call.event_id)

    # --- Transcript ---

    def record_transcript(self, obj: TranscriptObject) -> None:
        read = self._records_of(obj.session_id)  # before any write: a failed read is retried whole by Lambda
        before = self.outlets.table.record_transcript(obj, self.now, self.expires_at)
        self.report.session_ids = 1
        if before is None:
            return  # this version is recorded already: a repeated notification
        record = _with_transcript(self._with_records(before, read), obj)
        due: list[Due] = []
        overwritten = overwrite_finding(before, obj.version_id)
        if overwritten is not None:
            due.append(overwritten)
        if before.transcript_key:
            self._raise(record, due)  # only the first version is scanned: a rewrite is the finding itself
            return
        due += self._scan_transcript(record, obj)
        self._raise(record, due)

    def _scan_transcript(self, record: SessionRecord, obj: TranscriptObject) -> list[Due]:
        if record.plain_text_events or (record.known_start and not record.writes_transcript):
            return []  # read from its plain-text upload already, or a tunnel (no transcript to scan)
        try:
            raw = self.outlets.read_transcript(obj.bucket, obj.key, obj.version_id, TRANSCRIPT_MAX_BYTES)
            text = decode_input(raw, obj.key)
        except MalformedEvent as problem:
            logger.warning("Transcript not scanned", extra={"reason": problem.reason})
            return []
        events = [e for e in read_input(text, obj.key) if isinstance(e, SessionEvent)]
        lines = list(events[0].lines) if events else []
        event_time = events[0].event_time if events else ""
        plan, unstreamed, outputs = self._plan_scan(record, lines, event_time)
        wait = min(RECORD_SETTLE_SECONDS, max(0, RECORD_SETTLE_SECONDS - (self.now - (obj.event_time or self.now))))
        if plan.finding is not None and plan.finding.finding_id == STREAMING_STOPPED and wait:
            # The session's last deliveries may not be searchable yet: wait them out once, and count again.
            self.outlets.sleep(float(wait))
            record = self._with_records(record, self._records_of(record.session_id))
            plan, unstreamed, outputs = self._plan_scan(record, lines, event_time)
        if not plan.scan:
            return []
        self.report.transcript_lines_scanned += len(unstreamed.lines)
        self._send_command_alerts(record, [o for o in outputs if isinstance(o, CommandAlert)])
        return [plan.finding] if plan.finding else []

    def _plan_scan(
        self, record: SessionRecord, lines: list[str], event_time: str
    ) -> tuple[TranscriptPlan, SessionEvent, list[Any]]:
        # What nobody scanned yet: everything, or what follows the lines the stream delivered (their alerts were
        # sent as they streamed). One engine pass; the plan decides whether it counts.
        unstreamed = SessionEvent(
            session_id=record.session_id,
            lines=tuple(lines[record.stream_lines if record.streamed else 0 :]),
            instance_id=record.target,
            user_arn=record.user_arn,
            region=self.settings.region,
            event_time=event_time,
            account_id=self.settings.account_id,
            log_group=self.settings.session_log_group,
            transcript=True,
        )
        engine = SessionEngine(self.rules, min_severity=self.settings.min_severity)
        outputs = [*engine.scan([unstreamed]), *engine.finish()] if unstreamed.lines else []
        commands = sum(1 for o in outputs if isinstance(o, SanitizedLine) and o.kind == "command")
        return plan_transcript_scan(record, lines, commands), unstreamed, outputs

    # --- the stream, from its delivery records ---

    def _records_of(self, session_id: str) -> StreamTotals | None:
        """The totals of one session's delivery records (None when none are read: no sanitized group set).
        Raises DeliveryRecordsUnread when they could not be read."""
        reader = self.outlets.records
        if reader is None:
            return None
        reads = reader.read([session_id], PageBudget(RECORD_PAGES_PER_TRANSCRIPT))
        self.report.record_reads = reader.calls - self.record_calls_before
        if session_id in reads.unread:
            raise DeliveryRecordsUnread("delivery records not read")
        return stream_totals(reads.records.get(session_id, []))

    def _with_records(self, record: SessionRecord, read: StreamTotals | None) -> SessionRecord:
        """The record with its stream = legacy counts + the records just read, which are stored when they add to
        what the item holds. A read that saw fewer batches than the item (a concurrent read was later) is not used."""
        if read is None or read.batches < record.stream_records.batches or read == record.stream_records:
            return record
        self.outlets.table.record_totals(record.session_id, read, self.now)
        return replace(record.with_stream(read), records_seen=record.records_seen or self.now, records_read_at=self.now)

    def _send_command_alerts(self, record: SessionRecord, alerts: list[CommandAlert]) -> None:
        if not alerts:
            return
        self.report.command_alerts += len(alerts)
        context = AlertContext(self.settings.session_log_group, record.session_id, self.settings.region)
        keys = [state_key("transcript", record.session_id, key) for key in alert_keys(alerts)]
        self.deliveries.send_alerts(
            list(zip(alerts, keys, strict=True)),
            topic_arns=self.settings.topic_arns,
            slack=bool(self.settings.slack_secret_arn),
            sns_message=lambda alert: with_session_context(build_sns_message(alert, context), record),
            slack_message=lambda alert: slack_with_session_context(build_slack_message(alert, context), record),
        )
        self.outlets.table.add_findings(record.session_id, [], alerts=len(alerts))

    # --- the reconciler ---

    def reconcile(self) -> None:
        table, now = self.outlets.table, self.now
        records = table.open_sessions(OPEN_SESSIONS_PER_RUN)
        streams = {log_stream_name(r.session_id): r.session_id for r in records}
        swept, opened = self._sweep(streams)
        if opened:  # streams the sweep just put in the Open index are looked at in this run too
            records += table.sessions(opened)
        self.report.session_ids = len(records)
        if not records:
            return
        active = self.outlets.directory.active_ids()
        oldest = min((r.started_at or r.first_seen or now) for r in records)
        history = self.outlets.directory.history_ends(oldest - 60)
        run = _RunView(now, self._read_open(records, swept, active), swept, active, history)
        for stored in records:
            try:
                self._reconcile_session(stored, run)
            except Exception as error:  # one session's failed call must not cost every session after it its run
                self.report.sessions_failed += 1
                place = traceback.extract_tb(error.__traceback__)[-1]  # where, never the message (it may quote data)
                logger.error(
                    "Session not reconciled; the next run tries again",
                    extra={
                        "error": error_code(error),
                        "at": f"{Path(place.filename).name}:{place.lineno}",
                        "session": log_stream_name(stored.session_id),
                    },
                )
        if self.report.sessions_failed:
            # Every other session was decided; failing the invocation still shows it (the Errors alarm) and has
            # Lambda retry it a minute later instead of five (what it did again is delivered or recorded once).
            raise SessionsNotReconciled(f"{self.report.sessions_failed} session(s) not reconciled")

    def _reconcile_session(self, stored: SessionRecord, run: _RunView) -> None:
        """Close the session when DescribeSessions says it ended, raise its due findings, let it go when nothing
        more can come for it."""
        table, now = self.outlets.table, run.now
        record = self._stream_as_read(stored, run.reads, run.swept)
        if record is None:
            self.report.records_unread += 1
            return  # no decision on a stream that could not be read: the next run reads it again
        ended_at = closed_by_describe(record, run.active, run.history, now)
        if ended_at:
            table.close(record.session_id, ended_at)
            record = _ended(record, ended_at)
            self.report.closed += 1
            if self.settings.session_notices and record.known_start:
                self._notify(record, "ended", "reconciler")
        due = due_findings(record, now, self.settings.timings)
        self._raise(record, due)
        raised = frozenset(d.finding_id for d in due)
        if not still_open(_with_findings(record, raised), now, self.settings.timings):
            table.settle(record.session_id)
            self.report.settled += 1

    def _sweep(self, open_streams: Mapping[str, str]) -> tuple[Sweep | None, list[str]]:
        """One sweep of the sanitized group since the last complete one: streams no item knows, or whose session
        was let go before these records, go into the Open index; the sweep (None without a sanitized group;
        `Sweep.complete` only when it read up to now) and the sessions it opened."""
        reader = self.outlets.records
        if reader is None:
            return None, []
        table = self.outlets.table
        # Milliseconds, not self.now's whole seconds: a record stamped earlier in this second is inside the sweep.
        now_ms = int(self.outlets.wall_clock() * 1000)
        checkpoint, window = table.sweep_checkpoint()
        start, end = sweep_window(checkpoint, now_ms, window or SWEEP_WINDOW_MAX_SECONDS)
        sweep = reader.sweep(start, end, PageBudget(SWEEP_PAGES_PER_RUN))
        self.report.record_reads = reader.calls - self.record_calls_before
        others = [name for name in sweep.streams if name not in open_streams]
        opening: list[str] = []
        if others:
            states = table.open_states(others)
            opening = [name for name in others if opens_for_records(states.get(name), sweep.streams[name])]
            table.open_for_records(opening, self.now, self.expires_at)
        next_window = next_sweep_window((end - start) // 1000, sweep.complete)
        table.set_sweep_checkpoint(end if sweep.complete else checkpoint, next_window)
        return Sweep(sweep.streams, sweep.forged, sweep.complete and end == now_ms), opening

    def _read_open(self, records: list[SessionRecord], swept: Sweep | None, active: set[str]) -> StreamReads:
        """All the delivery records of the open sessions that need them read this run (`needs_records_read`)."""
        reader = self.outlets.records
        if reader is None or swept is None:
            return StreamReads()
        wanted = []
        for record in records:
            name = log_stream_name(record.session_id)
            new, forged = name in swept.streams, name in swept.forged
            if needs_records_read(record, new, forged, record.session_id in active):
                wanted.append(record.session_id)
        reads = reader.read(wanted, PageBudget(READ_PAGES_PER_RUN)) if wanted else StreamReads()
        self.report.record_reads = reader.calls - self.record_calls_before
        return reads

    def _stream_as_read(self, record: SessionRecord, reads: StreamReads, swept: Sweep | None) -> SessionRecord | None:
        """The record with its stream as this run read it; None when the run cannot tell (its records could not be
        read, or a stream never seen may have begun after what the sweep could read)."""
        if swept is None:
            return record  # no sanitized group: the legacy counts are all there is
        if record.session_id in reads.unread:
            return None
        if record.session_id in reads.records:
            return self._with_records(record, stream_totals(reads.records[record.session_id]))
        return record if swept.complete else None

    # --- delivering ---

    def _raise(self, record: SessionRecord, due: list[Due]) -> None:
        if not due:
            return
        catalog = findings()
        to_send: list[tuple[LedgerAlert, str]] = []
        for item in due:
            finding = catalog[item.finding_id]
            self.report.findings[item.finding_id] += 1
            if finding.severity < self.settings.min_severity:
                continue
            alert = LedgerAlert(finding, record, item.detail, self.settings.account_id, self.settings.region)
            to_send.append((alert, state_key("ledger", item.finding_id, record.session_id)))
        self.deliveries.send_alerts(
            to_send,
            topic_arns=self.settings.topic_arns,
            slack=bool(self.settings.slack_secret_arn),
            sns_message=ledger_sns_message,
            slack_message=ledger_slack_message,
        )
        self.outlets.table.add_findings(record.session_id, [d.finding_id for d in due], alerts=len(to_send))

    def _notify(self, record: SessionRecord, what: str, event_id: str) -> None:
        subject, body = session_notice(record, what)
        message = SnsMessage(
            subject=subject,
            body=body,
            attributes={
                "severity": {"DataType": "String", "StringValue": "info"},
                "alert_type": {"DataType": "String", "StringValue": "session-notice"},
            },
        )
        self.report.notices += 1
        self.deliveries.send_alerts(
            [(message, state_key("notice", what, record.session_id, event_id))],
            topic_arns=self.settings.topic_arns,
            slack=bool(self.settings.slack_secret_arn),
            sns_message=lambda m: m,
            slack_message=lambda m: {"text": m.subject.replace("<", "&lt;").replace(">", "&gt;")},
        )

    def record_metrics(self) -> None:
        for finding_id, count in sorted(self.report.findings.items()):
            emit_dimensioned("LedgerFindings", count, FindingId=finding_id)
        self.deliveries.emit_metrics()
        metrics.add_metric(name="LedgerSessionsClosed", unit=MetricUnit.Count, value=self.report.closed)
        metrics.add_metric(name="LedgerCommandAlerts", unit=MetricUnit.Count, value=self.report.command_alerts)
        metrics.add_metric(name="LedgerSessionsFailed", unit=MetricUnit.Count, value=self.report.sessions_failed)


@dataclass(frozen=True, slots=True)
class _RunView:
    """What one reconciler run read, the same for each session it decides: its clock, the delivery records read,
    its sweep, the active sessions and the ended ones' end times (DescribeSessions)."""

    now: int
    reads: StreamReads
    swept: Sweep | None
    active: set[str]
    history: Mapping[str, int]


def _started(call_name: str) -> str:
    return "resumed" if call_name == "ResumeSession" else "started"


def _with_transcript(record: SessionRecord, obj: TranscriptObject) -> SessionRecord:
    return replace(
        record,
        session_id=obj.session_id,
        transcript_key=obj.key,
        transcript_size=obj.size,
        transcript_version=obj.version_id,
        transcript_versions=record.transcript_versions + 1,
    )


def _ended(record: SessionRecord, ended_at: int) -> SessionRecord:
    return replace(record, ended_at=ended_at, end_source=record.end_source or "DescribeSessions")


def _with_findings(record: SessionRecord, raised: frozenset[str]) -> SessionRecord:
    return replace(record, findings=record.findings | raised)


__all__ = [
    "LedgerOutlets",
    "LedgerReport",
    "LedgerSettings",
    "SessionDirectory",
    "SessionLedgerInvocation",
    "SessionLedgerStore",
    "SessionsNotReconciled",
    "default_outlets",
    "handle_ledger_event",
]
