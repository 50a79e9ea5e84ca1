"""One session in the ledger (`SessionRecord`), and what each of its three sources adds to it.

A record is the table item read back as plain data; every field is optional because the three sources arrive in
any order (a stream can be delivered before CloudTrail's StartSession reaches EventBridge, minutes later).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from sessionguard.alerting.formatting import clean_metadata
from sessionguard.session.records import SessionEvent

# The preferences document is a Standard_Stream shell: the agent streams it. A StartSession without a document
# name opens the same shell.
SHELL_DOCUMENTS: Final = frozenset({"", "SSM-SessionManagerRunShell"})
# Command sessions: the agent forces streaming off and uploads the transcript at the end (plain-text log events
# and the S3 typescript; docs/session-format.md).
COMMAND_DOCUMENTS: Final = frozenset({"AWS-StartInteractiveCommand", "AWS-StartNonInteractiveCommand"})
# Port forwarding and SSH: the agent writes neither a stream nor a transcript.
TUNNEL_DOCUMENTS: Final = frozenset(
    {
        "AWS-StartSSHSession",
        "AWS-StartPortForwardingSession",
        "AWS-StartPortForwardingSessionToRemoteHost",
        "AWS-StartPortForwardingSessionToSocket",
    }
)


# The item attributes of the delivery records' totals: `rec_events`, `rec_lines`, ... (the legacy counts keep
# their names: `stream_events`, `stream_lines`, ...).
RECORD_TOTALS_PREFIX: Final = "rec_"


@dataclass(frozen=True, slots=True)
class StreamTotals:
    """What a session's stream delivered in all: the sum of its deliveries, each batch once."""

    batches: int = 0
    first_event: int = 0  # 0 = unknown
    last_event: int = 0
    events: int = 0
    lines: int = 0
    plain_text_events: int = 0
    forged_events: int = 0
    user_arn: str = ""  # as its earliest delivery says
    instance_id: str = ""

    def plus(self, other: StreamTotals) -> StreamTotals:
        """Two parts of one stream (the legacy counts and the records): counts added, first and last widened,
        user and instance from the part that has them (the legacy part first: it began earlier)."""
        firsts = [t for t in (self.first_event, other.first_event) if t]
        return StreamTotals(
            batches=self.batches + other.batches,
            first_event=min(firsts, default=0),
            last_event=max(self.last_event, other.last_event),
            events=self.events + other.events,
            lines=self.lines + other.lines,
            plain_text_events=self.plain_text_events + other.plain_text_events,
            forged_events=self.forged_events + other.forged_events,
            user_arn=self.user_arn or other.user_arn,
            instance_id=self.instance_id or other.instance_id,
        )

    def to_item(self, prefix: str = RECORD_TOTALS_PREFIX) -> dict[str, int | str]:
        return {f"{prefix}{name}": getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_item(cls, item: Mapping[str, Any], prefix: str = RECORD_TOTALS_PREFIX) -> StreamTotals:
        values: dict[str, Any] = {}
        for name, default in ((n, getattr(_NO_TOTALS, n)) for n in cls.__dataclass_fields__):
            value = item.get(f"{prefix}{name}", default)
            values[name] = int(value) if isinstance(default, int) else str(value)
        return cls(**values)


_NO_TOTALS: Final = StreamTotals()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What the ledger knows about one session. Times are epoch seconds (0 = unknown)."""

    session_id: str
    # Start (CloudTrail StartSession / ResumeSession)
    started_at: int = 0
    target: str = ""
    document: str = ""
    user_arn: str = ""
    identity_type: str = ""
    mfa: str = ""  # "true" | "false" | "" (CloudTrail did not say)
    source_ip: str = ""
    user_agent: str = ""
    started_via: str = ""  # console | cli | sdk | other
    reason: str = ""  # masked
    start_event_id: str = ""
    resumed: int = 0
    # End (TerminateSession, or the reconciler from DescribeSessions)
    ended_at: int = 0
    end_source: str = ""  # TerminateSession | DescribeSessions
    # Stream: the sum of the legacy counts (ADDed by the subscription function per delivery, before the delivery
    # records) and of the delivery records the ledger function read back (`legacy_stream` keeps the first part).
    stream_first: int = 0
    stream_last: int = 0
    stream_events: int = 0
    stream_lines: int = 0
    plain_text_events: int = 0  # the agent's end-of-session upload of a non-streamed session
    forged_events: int = 0  # events in the stream that claimed another session id
    stream_user: str = ""  # what the streamed events say (userIdentity.arn, target.id): any instance can write
    stream_target: str = ""  # them, so they are shown only where no StartSession says
    records_seen: int = 0  # when the ledger first saw delivery records of the session's stream (0: none yet)
    records_read_at: int = 0  # when it last read them all
    legacy_stream: StreamTotals = _NO_TOTALS
    stream_records: StreamTotals = _NO_TOTALS  # the second part: the totals of its delivery records
    # Transcript (S3 object created)
    transcript_key: str = ""
    transcript_size: int = 0
    transcript_version: str = ""
    transcript_versions: int = 0
    transcript_at: int = 0
    # What was raised
    findings: frozenset[str] = field(default_factory=frozenset)
    alerts: int = 0
    first_seen: int = 0

    @property
    def known_start(self) -> bool:
        return bool(self.started_at)

    @property
    def streamed(self) -> bool:
        """Streamed JSON events arrived (plain-text events are the end-of-session upload, not streaming)."""
        return self.stream_events > 0

    @property
    def stream_seen(self) -> bool:
        """Whether anything says the session's stream exists: delivery records seen, or legacy counts."""
        evidence = (
            self.records_seen,
            self.stream_first,
            self.stream_events,
            self.plain_text_events,
            self.forged_events,
        )
        return any(evidence)

    @property
    def is_shell(self) -> bool:
        return self.known_start and self.document in SHELL_DOCUMENTS

    @property
    def writes_transcript(self) -> bool:
        """Whether the agent uploads a transcript at the end: shells and command sessions, not tunnels."""
        return self.known_start and self.document not in TUNNEL_DOCUMENTS

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> SessionRecord:
        """From a plain item (`adapters.session_ledger` turns DynamoDB's typed values into str, int and sets)."""
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name not in item or name in {"legacy_stream", "stream_records"}:
                continue
            value = item[name]
            if name == "findings":
                values[name] = frozenset(str(v) for v in value)
            elif isinstance(getattr(_DEFAULTS, name), int):
                values[name] = int(value)
            else:
                values[name] = str(value)
        record = cls(**values)
        legacy = record.stream_totals()
        read = StreamTotals.from_item(item, RECORD_TOTALS_PREFIX)
        return replace(record, legacy_stream=legacy).with_stream(read)

    def stream_totals(self) -> StreamTotals:
        """The record's stream fields as totals."""
        return StreamTotals(**{total: getattr(self, name) for total, name in _STREAM_FIELDS.items()})

    def with_stream(self, read: StreamTotals) -> SessionRecord:
        """The record with its stream fields = the legacy counts + `read` (the totals of its delivery records)."""
        total = self.legacy_stream.plus(read)
        fields = {name: getattr(total, part) for part, name in _STREAM_FIELDS.items()}
        return replace(self, stream_records=read, **fields)

    def to_json(self) -> dict[str, Any]:
        """The `sessionguard sessions --json` record (and `.demo/sessions.jsonl`): plain, already masked."""
        return {
            "session_id": self.session_id,
            "user": self.user_arn or self.stream_user,
            "identity_type": self.identity_type,
            "target": self.target or self.stream_target,
            "document": self.document or ("SSM-SessionManagerRunShell" if self.known_start else ""),
            "source_ip": self.source_ip,
            "started_via": self.started_via,
            "mfa": self.mfa,
            "reason": self.reason,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "end_source": self.end_source,
            "streamed": self.streamed,
            "stream_events": self.stream_events,
            "plain_text_events": self.plain_text_events,
            "first_event": iso(self.stream_first),
            "last_event": iso(self.stream_last),
            "transcript": self.transcript_key,
            "transcript_size": self.transcript_size,
            "transcript_versions": self.transcript_versions,
            "findings": sorted(self.findings),
            "alerts": self.alerts,
        }


_DEFAULTS: Final = SessionRecord(session_id="")
# StreamTotals' fields -> the SessionRecord fields that hold them.
_STREAM_FIELDS: Final = {
    "first_event": "stream_first",
    "last_event": "stream_last",
    "events": "stream_events",
    "lines": "stream_lines",
    "plain_text_events": "plain_text_events",
    "forged_events": "forged_events",
    "user_arn": "stream_user",
    "instance_id": "stream_target",
}


@dataclass(frozen=True, slots=True)
class StreamDelivery:
    """What one subscription delivery says about its session: its delivery record (below)."""

    session_id: str
    batch_id: str  # a retried delivery carries the same id and is not counted twice
    first_event: int  # epoch seconds of the earliest and latest log event timestamps
    last_event: int
    events: int  # streamed JSON events
    lines: int  # sessionData lines in them (where the final transcript's unstreamed part begins)
    plain_text_events: int = 0
    forged_events: int = 0
    user_arn: str = ""  # as the first streamed event says
    instance_id: str = ""
    # Whether the attempt that wrote the record had done everything before it (its alerts, its parking, its earlier
    # transcript calls): only such a record tells a retry that the batch is done. The ledger counts a batch once
    # either way (the counts are the delivery's, not the attempt's).
    complete: bool = True


def stream_totals(deliveries: Iterable[StreamDelivery]) -> StreamTotals:
    """The totals of a stream's delivery records, in the order they were read. A batch id counted once: the same
    payload delivered twice (a Lambda retry after the transcript write) writes the same record twice. Exact when
    `deliveries` are all the stream's records, so the ledger SETs the result (never ADDs): reading again is
    harmless."""
    counted: dict[str, StreamDelivery] = {}
    for delivery in deliveries:
        counted.setdefault(delivery.batch_id, delivery)
    if not counted:
        return _NO_TOTALS
    kept = list(counted.values())
    earliest = min(kept, key=lambda d: d.first_event or _NUMBER_MAX)  # the first of the earliest, ties in order
    return StreamTotals(
        batches=len(kept),
        first_event=min((d.first_event for d in kept if d.first_event), default=0),
        last_event=max(d.last_event for d in kept),
        events=sum(d.events for d in kept),
        lines=sum(d.lines for d in kept),
        plain_text_events=sum(d.plain_text_events for d in kept),
        forged_events=sum(d.forged_events for d in kept),
        user_arn=earliest.user_arn or next((d.user_arn for d in kept if d.user_arn), ""),
        instance_id=earliest.instance_id or next((d.instance_id for d in kept if d.instance_id), ""),
    )


def stream_delivery(
    session_id: str, batch_id: str, timestamps_ms: Sequence[int], events: Sequence[SessionEvent], forged: int
) -> StreamDelivery | None:
    """What one subscription delivery of a session's stream adds to the ledger, or None when it carried nothing
    of the session (only unreadable records). `timestamps_ms` are the log events' CloudWatch timestamps."""
    if not events and not forged:
        return None
    stamps = [t // 1000 for t in timestamps_ms if t > 0]
    streamed = [e for e in events if not e.transcript]
    return StreamDelivery(
        session_id=session_id,
        batch_id=batch_id,
        first_event=min(stamps, default=0),
        last_event=max(stamps, default=0),
        events=len(streamed),
        lines=sum(len(e.lines) for e in streamed),
        plain_text_events=len(events) - len(streamed),
        forged_events=forged,
        user_arn=next((e.user_arn for e in streamed if e.user_arn), ""),
        instance_id=next((e.instance_id for e in streamed if e.instance_id), ""),
    )


# --- The delivery record: a delivery's StreamDelivery as one JSON log event in the sanitized transcript ----------
#
# The subscription function writes it in the same PutLogEvents call as the delivery's sanitized lines, in the
# session's stream of the sanitized group (`alerting.transcript.log_stream_name`); the ledger function reads the
# records back with FilterLogEvents and DELIVERY_RECORD_FILTER. Why it can be trusted there: only the alert
# functions write to the sanitized group, and what a user types only ever lands inside a line's "text" value
# (`{"kind": "command" | "output" | "alert", "text": ..., "event_time": ...}`), never as a top-level key: a typed
# line shaped like a delivery record stays a string inside "text" and is not read as one.

DELIVERY_RECORD_KIND: Final = "delivery"
DELIVERY_RECORD_VERSION: Final = 1
# CloudWatch Logs' JSON filter pattern that selects delivery records (and nothing a transcript line can produce).
DELIVERY_RECORD_FILTER: Final = '{ $.kind = "delivery" }'
# A record written by `delivery_record` is well under 8 KiB (three strings of at most 512 characters, each at most
# 4 bytes in UTF-8, escaped at most 6); anything longer is not one and is not parsed.
DELIVERY_RECORD_MAX_CHARS: Final = 8192
_TEXT_LIMITS: Final = {"session_id": 512, "batch": 128, "user_arn": 512, "instance_id": 128}  # 512: a stream name
_NUMBER_MAX: Final = 2**53  # exact in JSON readers that use doubles
_COUNTS: Final = ("events", "lines", "plain_text_events", "forged_events")


def delivery_record(delivery: StreamDelivery) -> dict[str, Any]:
    """The JSON object of a delivery's record. The user ARN and instance id come from events anyone with the
    instance logging policy can write, and the session id is a stream name anyone may choose: masked, printable and
    bounded like every metadata the transcript carries (`formatting.clean_metadata`)."""
    return {
        "kind": DELIVERY_RECORD_KIND,
        "v": DELIVERY_RECORD_VERSION,
        "session_id": clean_metadata(delivery.session_id, _TEXT_LIMITS["session_id"]),
        "batch": delivery.batch_id[: _TEXT_LIMITS["batch"]],
        "first_event": delivery.first_event,
        "last_event": delivery.last_event,
        "events": delivery.events,
        "lines": delivery.lines,
        "plain_text_events": delivery.plain_text_events,
        "forged_events": delivery.forged_events,
        "user_arn": clean_metadata(delivery.user_arn, _TEXT_LIMITS["user_arn"]),
        "instance_id": clean_metadata(delivery.instance_id, _TEXT_LIMITS["instance_id"]),
        "complete": delivery.complete,
    }


def parse_delivery_record(message: str) -> StreamDelivery | None:
    """The delivery a sanitized log event's message records, or None for anything else (a transcript or alert
    line, a record of another version, a malformed or oversized message). Never raises. A record without
    `complete` (written before the field was) reads as complete, as it was then taken to be."""
    value = _record_object(message)
    if value is None:
        return None
    complete = value.get("complete", True)
    if not isinstance(complete, bool):
        return None
    texts = {name: value.get(name) for name in _TEXT_LIMITS}
    numbers = {name: _number(value.get(name)) for name in ("first_event", "last_event", *_COUNTS)}
    if any(not isinstance(text, str) or len(text) > _TEXT_LIMITS[name] for name, text in texts.items()):
        return None
    if not texts["session_id"] or not texts["batch"] or None in numbers.values():
        return None
    counts = {name: int(number or 0) for name, number in numbers.items()}
    return StreamDelivery(
        session_id=str(texts["session_id"]),
        batch_id=str(texts["batch"]),
        user_arn=str(texts["user_arn"]),
        instance_id=str(texts["instance_id"]),
        complete=complete,
        **counts,
    )


def _record_object(message: object) -> dict[str, Any] | None:
    """The message's JSON object when it is a delivery record of this version (cheap checks first: most messages
    read back are records, but a hostile or foreign one must cost little)."""
    if not isinstance(message, str) or len(message) > DELIVERY_RECORD_MAX_CHARS or '"delivery"' not in message:
        return None
    try:
        value = json.loads(message)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or value.get("kind") != DELIVERY_RECORD_KIND:
        return None
    return value if _number(value.get("v")) == DELIVERY_RECORD_VERSION else None


def _number(value: object) -> int | None:
    """A non-negative JSON integer within _NUMBER_MAX, else None (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _NUMBER_MAX:
        return None
    return value


def iso(epoch: int) -> str:
    """An epoch second as ISO-8601 UTC, "" for 0."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch else ""


def epoch_of(text: str) -> int:
    """Epoch seconds of an ISO-8601 time (CloudTrail's `eventTime`, S3's `time`), 0 when it is not one."""
    try:
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return 0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


__all__ = [
    "COMMAND_DOCUMENTS",
    "DELIVERY_RECORD_FILTER",
    "DELIVERY_RECORD_KIND",
    "RECORD_TOTALS_PREFIX",
    "SHELL_DOCUMENTS",
    "TUNNEL_DOCUMENTS",
    "SessionRecord",
    "StreamDelivery",
    "StreamTotals",
    "delivery_record",
    "epoch_of",
    "iso",
    "parse_delivery_record",
    "stream_delivery",
    "stream_totals",
]
