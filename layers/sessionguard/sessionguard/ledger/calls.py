"""The ledger's inputs from EventBridge, read into plain data: CloudTrail's session calls and S3's object-created
notifications. Anything that is not one (another event, a failed call, a hand-made event) reads as None.

CloudTrail `AWS API Call via CloudTrail` for `ssm.amazonaws.com` StartSession, ResumeSession and TerminateSession:
StartSession's session id is only in `responseElements.sessionId` (the request names the target), Resume and
Terminate name it in `requestParameters.sessionId` too. S3 `Object Created` (EventBridge notifications on the
transcript bucket): `detail.object.key`, `size`, `version-id`; the agent's key is `<s3KeyPrefix>/<sessionId>.log`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sessionguard.alerting.text import visible
from sessionguard.guardrails.matching import masked_free_text
from sessionguard.ledger.model import epoch_of
from sessionguard.masking.masker import mask_secrets

SESSION_CALLS: Final = frozenset({"StartSession", "ResumeSession", "TerminateSession"})
REASON_MAX: Final = 256  # StartSession's reason is at most 256 characters
_FIELD_MAX: Final = 512
_SESSION_ID_MAX: Final = 128


@dataclass(frozen=True, slots=True)
class SessionCall:
    """One successful StartSession, ResumeSession or TerminateSession."""

    name: str
    session_id: str
    event_time: int
    event_id: str
    target: str = ""
    document: str = ""
    user_arn: str = ""
    identity_type: str = ""
    mfa: str = ""
    source_ip: str = ""
    user_agent: str = ""
    started_via: str = ""
    reason: str = ""  # masked and printable


@dataclass(frozen=True, slots=True)
class TranscriptObject:
    """One object written to the transcript bucket."""

    bucket: str
    key: str
    session_id: str
    size: int
    version_id: str
    event_time: int
    requester: str = ""
    source_ip: str = ""


def session_call(event: object) -> SessionCall | None:
    """The session call a CloudTrail event from EventBridge records, or None."""
    detail = _mapping(event, "detail")
    if detail.get("eventSource") != "ssm.amazonaws.com" or detail.get("eventName") not in SESSION_CALLS:
        return None
    if detail.get("errorCode"):
        return None  # no session was started or ended; the guardrails report attempts
    request, response = _mapping(detail, "requestParameters"), _mapping(detail, "responseElements")
    session_id = _text(response.get("sessionId")) or _text(request.get("sessionId"))
    if not _plausible_session_id(session_id):
        return None
    identity = _mapping(detail, "userIdentity")
    attributes = _mapping(_mapping(identity, "sessionContext"), "attributes")
    user_agent = _text(detail.get("userAgent"))
    return SessionCall(
        name=str(detail["eventName"]),
        session_id=session_id,
        event_time=epoch_of(_text(detail.get("eventTime"))),
        event_id=_text(detail.get("eventID")),
        target=_text(request.get("target")),
        document=_text(request.get("documentName")),
        user_arn=_text(identity.get("arn")),
        identity_type=_text(identity.get("type")),
        mfa=_text(attributes.get("mfaAuthenticated")).lower(),
        source_ip=_text(detail.get("sourceIPAddress")),
        user_agent=user_agent,
        started_via=started_via(user_agent, _text(detail.get("sourceIPAddress"))),
        reason=visible(mask_secrets(masked_free_text(_text(request.get("reason"))[:REASON_MAX]))),
    )


def started_via(user_agent: str, source_ip: str = "") -> str:
    """How a session was started, from CloudTrail's userAgent: the console (a browser, or the console's own
    agent), the AWS CLI (with the session-manager-plugin), an SDK, or other."""
    agent = user_agent.lower()
    if "aws-cli" in agent:
        return "cli"
    if "console.amazonaws.com" in agent or agent.startswith("mozilla/") or source_ip.endswith("amazonaws.com"):
        return "console"
    if any(sdk in agent for sdk in ("boto3", "botocore", "aws-sdk", "aws-internal")):
        return "sdk"
    return "other" if agent else ""


def transcript_object(event: object, prefix: str = "") -> TranscriptObject | None:
    """The transcript object an S3 `Object Created` event from EventBridge names, or None (another bucket's
    event, an object outside the prefix, or a name that is not `<sessionId>.log`)."""
    if not isinstance(event, Mapping) or event.get("source") != "aws.s3":
        return None
    if event.get("detail-type") != "Object Created":
        return None
    detail = _mapping(event, "detail")
    obj = _mapping(detail, "object")
    key = _text(obj.get("key"))
    if prefix and not key.startswith(prefix.rstrip("/") + "/"):
        return None
    session_id = session_id_of_key(key)
    if not session_id:
        return None
    size = obj.get("size")
    return TranscriptObject(
        bucket=_text(_mapping(detail, "bucket").get("name")),
        key=key,
        session_id=session_id,
        size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
        version_id=_text(obj.get("version-id")),
        event_time=epoch_of(_text(event.get("time"))),
        requester=_text(detail.get("requester")),
        source_ip=_text(detail.get("source-ip-address")),
    )


def session_id_of_key(key: str) -> str:
    """`<prefix>/<sessionId>.log` -> sessionId; "" for any other name."""
    name = key.rsplit("/", 1)[-1]
    session_id = name.removesuffix(".log")
    return session_id if name.endswith(".log") and _plausible_session_id(session_id) else ""


def _plausible_session_id(value: str) -> bool:
    # Session ids are `<caller name>-<17 hex>`: printable ASCII without spaces or slashes.
    return 0 < len(value) <= _SESSION_ID_MAX and value.isascii() and value.isprintable() and " " not in value


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    inner = value.get(key) if isinstance(value, Mapping) else None
    return inner if isinstance(inner, Mapping) else {}


def _text(value: object) -> str:
    return value[:_FIELD_MAX] if isinstance(value, str) else ""


__all__ = [
    "SESSION_CALLS",
    "SessionCall",
    "TranscriptObject",
    "session_call",
    "session_id_of_key",
    "started_via",
    "transcript_object",
]
