"""What an HTTP answer means to the alert path, as plain data: the Slack webhook's result and its Retry-After."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import UTC


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int  # 0: no HTTP answer (timeout, connection refused, DNS)
    retry_after: float | None = None  # seconds, from a Retry-After header
    error: str = ""  # exception type when status is 0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent or invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)
