"""The subscription function's part of the session ledger (docs/ledger.md): one conditional update per delivery
records the stream's first and last event time and its counts, and returns the session's start, whose context
(source IP, how it was started, MFA, masked reason) the delivery's command alerts then carry.

The ledger is a second record, never in the alerts' way: when the table cannot be written the failure is logged by
its error code and counted, and the alerts go out without the context.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from sessionguard.adapters.aws import error_code
from sessionguard.adapters.session_ledger import SessionTable
from sessionguard.alerting.formatting import AlertContext, SnsMessage, build_slack_message, build_sns_message
from sessionguard.alerting.ledger_messages import slack_with_session_context, with_session_context
from sessionguard.ledger.model import SessionRecord, StreamDelivery, stream_delivery
from sessionguard.observability import logger
from sessionguard.session.engine import CommandAlert
from sessionguard.session.records import SessionEvent

LEDGER_RETENTION_SECONDS: Final = 90 * 24 * 3600


class StreamLedger(Protocol):
    """`adapters.session_ledger.SessionTable.record_stream`."""

    def record_stream(self, delivery: StreamDelivery, now: int, expires_at: int) -> SessionRecord | None: ...


def ledger_from_env(env: Mapping[str, str] | None = None) -> StreamLedger | None:
    """The ledger table when the template names one (SESSION_LEDGER_TABLE), else None."""
    env = os.environ if env is None else env
    table = env.get("SESSION_LEDGER_TABLE", "")
    return SessionTable(table) if table else None


def record_delivery(
    ledger: StreamLedger | None,
    meta: Mapping[str, Any],
    records: Sequence[Any],
    readable: Sequence[tuple[int, SessionEvent]],
    *,
    forged: int,
    batch_id: str,
    retention_seconds: int = LEDGER_RETENTION_SECONDS,
) -> SessionRecord | None:
    """Record one delivery of a session's stream; the session as the ledger now has it, or None (no ledger, a
    retried delivery, nothing of the session in it, or the write failed)."""
    stream = meta.get("logStream")
    if ledger is None or not isinstance(stream, str) or not stream:
        return None
    stamps = [_timestamp(records[index]) for index, _ in readable]
    delivery = stream_delivery(stream, batch_id, stamps, [event for _, event in readable], forged)
    if delivery is None:
        return None
    now = int(time.time())
    try:
        return ledger.record_stream(delivery, now, now + retention_seconds)
    except Exception as error:  # the ledger must never stop the alerts
        logger.warning("Session ledger not updated", extra={"error": error_code(error)})
        return None


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


__all__ = ["StreamLedger", "ledger_from_env", "record_delivery", "slack_with_context", "sns_with_context"]
