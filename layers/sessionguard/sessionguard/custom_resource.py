"""Answering CloudFormation custom resource requests: always, once, and before the Lambda timeout.

A custom resource that never answers leaves its stack waiting (up to the resource's ServiceTimeout, one hour
by default), so `answer_custom_resource` runs the work, turns any exception into a FAILED answer with a
readable reason, and has a watchdog thread answer FAILED shortly before the function would time out.

The response is the JSON document AWS's own cfn-response module PUTs to the pre-signed S3 ResponseURL
(`sessionguard.adapters.cloudformation` does the PUT). The URL is a credential for this one answer: it is never
logged. Data must only ever hold non-secret values, and NoEcho is always false. Used by the preferences and the
host management custom resources.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from sessionguard.adapters.cloudformation import ResponseNotDeliveredError, send_response
from sessionguard.observability import logger

Status = Literal["SUCCESS", "FAILED"]

# CloudFormation rejects response bodies over 4096 bytes; a longer reason is unreadable in the console anyway.
MAX_REASON_CHARS = 1000
DEFAULT_TIMEOUT_MARGIN_SECONDS = 10.0
_TRUNCATED = " … (truncated)"


@dataclass(frozen=True)
class CustomResourceOutcome:
    """What a successful request answers: the resource's physical id, attributes for Fn::GetAtt, a note."""

    physical_resource_id: str
    data: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


@dataclass
class CustomResourceProgress:
    """What the work has committed to so far, read by the watchdog if it has to answer early.

    Set `physical_resource_id` as soon as the work knows it (before it changes anything the id describes), so
    a FAILED answer carries it and CloudFormation's rollback Delete can undo the partial change. `step` is a
    short description of what the work is doing, quoted in a timeout reason.
    """

    physical_resource_id: str | None = None
    step: str = "starting"


def response_body(
    event: CloudFormationCustomResourceEvent,
    status: Status,
    physical_resource_id: str,
    reason: str,
    data: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "Status": status,
        "Reason": truncate_reason(reason),
        "PhysicalResourceId": physical_resource_id,
        "StackId": event.stack_id,
        "RequestId": event.request_id,
        "LogicalResourceId": event.logical_resource_id,
        "NoEcho": False,
        "Data": dict(data or {}),
    }


def truncate_reason(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    """Keep the start of the reason (where the cause is) and mark the cut."""
    if len(reason) <= limit:
        return reason
    return reason[: limit - len(_TRUNCATED)] + _TRUNCATED


def describe_failure(error: BaseException) -> str:
    """A one-line reason for a FAILED answer: the exception's own message, which names the AWS error code."""
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class _Responder:
    """Sends exactly one answer for one request, from whichever thread gets there first."""

    def __init__(self, event: CloudFormationCustomResourceEvent, context: LambdaContext) -> None:
        self._event = event
        self._log_stream = getattr(context, "log_stream_name", "") or ""
        self._lock = threading.Lock()
        self._answered = False
        self.progress = CustomResourceProgress()

    def fallback_physical_id(self) -> str:
        """The id of a FAILED answer: what the work committed to, else the request's own, else a clearly
        foreign id for a failed Create (a later Delete with it must touch nothing)."""
        return (
            self.progress.physical_resource_id
            or self._event.physical_resource_id
            or f"create-failed:{self._event.request_id}"
        )

    def answer(self, status: Status, physical_resource_id: str, reason: str, data: Mapping[str, str]) -> bool:
        with self._lock:
            if self._answered:
                logger.warning("Custom resource already answered; not answering again", extra={"status": status})
                return False
            self._answered = True
        if status == "FAILED" and self._log_stream:
            where = f" (log stream {self._log_stream})"  # kept whole: it is where the traceback is
            reason = truncate_reason(reason, MAX_REASON_CHARS - len(where)) + where
        body = response_body(self._event, status, physical_resource_id, reason, data)
        try:
            send_response(self._event.response_url, body)
        except ResponseNotDeliveredError as error:
            # Nothing else can reach CloudFormation; it gives up after the resource's ServiceTimeout.
            logger.error(
                "Could not answer CloudFormation",
                extra={"status": status, "request_id": self._event.request_id, "problem": str(error)},
            )
            return False
        logger.info(
            "Answered CloudFormation",
            extra={"status": status, "physical_resource_id": physical_resource_id, "reason": body["Reason"]},
        )
        return True


def answer_custom_resource(
    event: CloudFormationCustomResourceEvent,
    context: LambdaContext,
    work: Callable[[CloudFormationCustomResourceEvent, CustomResourceProgress], CustomResourceOutcome],
    *,
    timeout_margin_seconds: float = DEFAULT_TIMEOUT_MARGIN_SECONDS,
) -> None:
    """Run `work` for the request and answer CloudFormation exactly once, whatever happens."""
    responder = _Responder(event, context)
    started = time.monotonic()
    logger.info(
        "Custom resource request",
        extra={
            "request_type": event.get("RequestType"),
            "logical_resource_id": event.get("LogicalResourceId"),
            "physical_resource_id": event.get("PhysicalResourceId"),
            "request_id": event.get("RequestId"),
            "stack_id": event.get("StackId"),
        },
    )

    def answer_before_timeout() -> None:
        elapsed = time.monotonic() - started
        responder.answer(
            "FAILED",
            responder.fallback_physical_id(),
            f"Timed out after {elapsed:.0f} s while {responder.progress.step}: the function was about to "
            "reach its Lambda timeout, so it answered FAILED rather than leave the stack waiting",
            {},
        )

    remaining_seconds = context.get_remaining_time_in_millis() / 1000
    watchdog = threading.Timer(
        max(remaining_seconds - timeout_margin_seconds, remaining_seconds / 2), answer_before_timeout
    )
    watchdog.daemon = True
    watchdog.start()
    try:
        outcome = work(event, responder.progress)
    except Exception as error:  # every failure must still answer CloudFormation
        logger.exception("Custom resource request failed", extra={"step": responder.progress.step})
        responder.answer("FAILED", responder.fallback_physical_id(), describe_failure(error), {})
    else:
        responder.answer("SUCCESS", outcome.physical_resource_id, outcome.reason, outcome.data)
    finally:
        watchdog.cancel()
