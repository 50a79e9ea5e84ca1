"""The subscription function's part of the session ledger (docs/ledger.md): every delivery's stream record (first
and last event time, its counts, its batch id) travels in its transcript write, as one JSON log event after its
lines in the same PutLogEvents call (`ledger.model.delivery_record`; the ledger function reads it back), so a
delivery costs no ledger call of its own (one call of its own only after lines more than 23 hours old). It is
stamped as its call is written and says whether its attempt did everything before it (`settled_record`). A
delivery that raises alerts claims them on the session's ledger item (`alerting.claims`,
`adapters.dynamodb.SessionClaims`), and that one write returns the session's start, whose context (source IP, how
it was started, MFA, masked reason) its alerts carry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, Final

from sessionguard.adapters.dynamodb import SessionClaims
from sessionguard.alerting.formatting import AlertContext, SnsMessage, build_slack_message, build_sns_message
from sessionguard.alerting.ledger_messages import slack_with_session_context, with_session_context
from sessionguard.alerting.log_events import LOG_BATCH_MAX_BYTES, LOG_BATCH_MAX_EVENTS, LogEvent
from sessionguard.ledger.model import (
    DELIVERY_RECORD_KIND,
    SessionRecord,
    StreamDelivery,
    delivery_record,
    stream_delivery,
)
from sessionguard.session.engine import CommandAlert
from sessionguard.session.records import SessionEvent

LEDGER_RETENTION_SECONDS: Final = 90 * 24 * 3600  # a new ledger item's expiry (the ledger function sets its own)
# A record is stamped when its call is written: the ledger's sweep reads records by their stamp, since its last
# run. PutLogEvents takes the events of one call within 24 hours of each other, so a record joins the last call of
# its lines only when they are within 23 hours of it (an hour kept for the time the delivery takes and for lines
# stamped up to 2 hours ahead); older lines (a replay, a clock set back) leave it a call of its own.
_RECORD_SPAN_MS: Final = 23 * 3600 * 1000
# How a record's log event begins (`json.dumps` keeps the record's key order): transcript and alert lines begin
# with their own kind.
_RECORD_START: Final = f'{{"kind": "{DELIVERY_RECORD_KIND}"'
_INCOMPLETE_EXTRA_BYTES: Final = len("false") - len("true")  # `"complete": false` against `"complete": true`


def claims_from_env(env: Mapping[str, str] | None = None) -> SessionClaims:
    """Where the sessions' alert claims live: the ledger table when the template names one (SESSION_LEDGER_TABLE),
    so that the claim returns the session's start; else the alert state table."""
    env = os.environ if env is None else env
    ledger = env.get("SESSION_LEDGER_TABLE", "")
    if ledger:
        return SessionClaims.on_ledger(ledger, LEDGER_RETENTION_SECONDS)
    return SessionClaims.on_state_table(env["ALERT_STATE_TABLE"])


def delivery_of(
    meta: Mapping[str, Any],
    records: Sequence[Any],
    readable: Sequence[tuple[int, SessionEvent]],
    *,
    forged: int,
    batch_id: str,
) -> StreamDelivery | None:
    """What one delivery adds to its session's ledger record, or None (no stream name, nothing of the session)."""
    stream = meta.get("logStream")
    if not isinstance(stream, str) or not stream:
        return None
    stamps = [_timestamp(records[index]) for index, _ in readable]
    return stream_delivery(stream, batch_id, stamps, [event for _, event in readable], forged)


def with_delivery_record(batches: list[list[LogEvent]], delivery: StreamDelivery, now_ms: int) -> list[list[LogEvent]]:
    """The session stream's PutLogEvents batches with the delivery's record, stamped now, in the last call: a call
    of its own when the last is full or holds lines more than 23 hours from now. `settled_record` stamps it again
    when the call is written, and says whether the attempt was complete."""
    record = record_event(delivery, now_ms)
    last = batches[-1] if batches else []
    # Sized as the longest the record can be (`"complete": false`): the call must still fit when it is settled.
    size = sum(event.size for event in last) + record.size + _INCOMPLETE_EXTRA_BYTES
    stamps = [event.timestamp for event in last]
    if (
        not last
        or len(last) >= LOG_BATCH_MAX_EVENTS
        or size > LOG_BATCH_MAX_BYTES
        or max(now_ms, *stamps) - min(now_ms, *stamps) > _RECORD_SPAN_MS
    ):
        return [*batches, [record]]
    return [*batches[:-1], sorted([*last, record], key=lambda event: event.timestamp)]


def record_event(delivery: StreamDelivery, timestamp_ms: int, *, complete: bool = True) -> LogEvent:
    """The delivery's record as a log event; `complete`: whether the attempt writing it did everything before it."""
    return LogEvent(timestamp_ms, _record_message(replace(delivery, complete=complete)))


@lru_cache(maxsize=4)
def _record_message(delivery: StreamDelivery) -> str:
    """A record's JSON. Masking its strings is what it costs (some 60 us), and a delivery's record is made at its
    plan and again as its call is written: made once."""
    return json.dumps(delivery_record(delivery), ensure_ascii=False)


def settled_record(
    batch: Sequence[LogEvent], delivery: StreamDelivery, now_ms: int, *, complete: bool
) -> list[LogEvent]:
    """The call that carries the delivery's record, as it is written: the record stamped now (the ledger's sweep
    finds it by that stamp) and saying whether everything before it in this attempt succeeded (a retry takes only a
    complete record for the batch's end: docs/alerts.md, "Retries")."""
    lines = [event for event in batch if not is_delivery_record(event.message)]
    return sorted([*lines, record_event(delivery, now_ms, complete=complete)], key=lambda event: event.timestamp)


def is_delivery_record(message: str) -> bool:
    """Whether a sanitized log event is a delivery's record (not a line), as this module writes them."""
    return message.startswith(_RECORD_START)


def session_record(item: Mapping[str, Any], session_id: str) -> SessionRecord | None:
    """The ledger's record of the session from its item as the claim returned it (None when the item is empty)."""
    if not item:
        return None
    return SessionRecord.from_item({**item, "session_id": session_id})


def sns_with_context(alert: CommandAlert, context: AlertContext, session: SessionRecord | None) -> SnsMessage:
    """A command alert's SNS message, with its session's context when the ledger knows the session's start."""
    message = build_sns_message(alert, context)
    return with_session_context(message, session) if session is not None and session.known_start else message


def slack_with_context(alert: CommandAlert, context: AlertContext, session: SessionRecord | None) -> dict[str, Any]:
    payload = build_slack_message(alert, context)
    return slack_with_session_context(payload, session) if session is not None and session.known_start else payload


def _timestamp(record: object) -> int:
    value = record.get("timestamp") if isinstance(record, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


__all__ = [
    "claims_from_env",
    "delivery_of",
    "is_delivery_record",
    "record_event",
    "session_record",
    "settled_record",
    "slack_with_context",
    "sns_with_context",
    "with_delivery_record",
]
