"""From one CloudTrail event (delivered by EventBridge as `detail-type: "AWS API Call via CloudTrail"`) to the
guardrails it trips and their alerts, and the EventBridge patterns that deliver such events.

EventBridge rules (one per `Group`, `event_patterns`) deliver only calls on this stack's resources;
`match_guardrails` checks the guardrails' own conditions again in code, so a broad rule or a replayed event cannot
raise a wrong alert.

**Changes made by the stack itself do not alert** (`made_by_stack`):
- calls made by the stack's own function roles — the preferences custom resource's role updating or deleting
  `SSM-SessionManagerRunShell` — recognised by `userIdentity.sessionContext.sessionIssuer.arn` (the role ARN,
  the same for every session of the role) against `ProtectedResources.stack_role_arns` (`STACK_ROLE_ARNS`);
- for guardrails whose resource a deployment legitimately changes (`stack_may_change`: retention, subscription
  filter, data protection policy, key policy, bucket policy/encryption/Object Lock, the policy attachment),
  calls CloudFormation makes (`userIdentity.invokedBy == "cloudformation.amazonaws.com"`, set by AWS, not by the
  caller). CloudTrail does not say which stack made the call, so this trusts every stack operation in the
  account; deletions, disabling and versioning suspension alert even then. docs/guardrails.md says so.

Everything taken from the event is hostile input (request parameters are whatever the caller sent): it leaves
only through `clean_metadata` / `mask_secrets` and, for Slack, the escaping of `sessionguard.alerting.formatting`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sessionguard.alerting.text import truncate
from sessionguard.guardrails.catalog import GUARDRAILS
from sessionguard.guardrails.model import PREFERENCES_DOCUMENT, Group, Guardrail, GuardrailAlert, ProtectedResources
from sessionguard.session.records import json_type

CLOUDTRAIL_DETAIL_TYPE: Final = "AWS API Call via CloudTrail"
CLOUDFORMATION: Final = "cloudformation.amazonaws.com"
PARAMETER_VALUE_MAX: Final = 2_000  # a key policy or document content is long; the alert shows its start


# --- EventBridge patterns --------------------------------------------------------------------------------------


def _event_names(group: Group) -> list[str]:
    names: list[str] = []
    for guardrail in GUARDRAILS:
        if guardrail.group is group:
            names.extend(n for n in guardrail.event_names if n not in names)
    return names


def event_patterns(resources: ProtectedResources) -> dict[Group, dict[str, Any]]:
    """The EventBridge pattern of each group's rule, with this stack's resource names filled in.

    The template writes the same patterns with !Ref/!Sub (tests/unit/test_guardrails.py compares them). Only
    operators every EventBridge region supports are used: exact values, `anything-but` and `$or`.
    """

    def pattern(group: Group, detail: dict[str, Any]) -> dict[str, Any]:
        watched = next(guardrail for guardrail in GUARDRAILS if guardrail.group is group)  # one service per group
        return {
            "source": [watched.source],
            "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
            "detail": {"eventSource": [watched.event_source], **detail},
        }

    s3_names = [n for n in _event_names(Group.TRANSCRIPTS) if n != "PutBucketVersioning"]
    return {
        Group.UNLOGGED_SESSIONS: pattern(
            Group.UNLOGGED_SESSIONS,
            {
                "eventName": ["StartSession"],
                # A StartSession without documentName runs SSM-SessionManagerRunShell: it never matches.
                "requestParameters": {
                    "documentName": [{"anything-but": [PREFERENCES_DOCUMENT, resources.preferences_document_arn]}]
                },
            },
        ),
        Group.PREFERENCES: pattern(
            Group.PREFERENCES,
            {
                "eventName": _event_names(Group.PREFERENCES),
                "requestParameters": {"name": [PREFERENCES_DOCUMENT, resources.preferences_document_arn]},
            },
        ),
        Group.SESSION_LOGS: pattern(
            Group.SESSION_LOGS,
            {
                "eventName": _event_names(Group.SESSION_LOGS),
                "requestParameters": {
                    "$or": [
                        {"logGroupName": [resources.session_log_group]},
                        {"logGroupIdentifier": [resources.session_log_group, *resources.log_group_arns]},
                    ]
                },
            },
        ),
        Group.SESSION_KEY: pattern(
            Group.SESSION_KEY,
            {
                "eventName": _event_names(Group.SESSION_KEY),
                "requestParameters": {"keyId": [resources.key_id, resources.key_arn]},
            },
        ),
        Group.TRANSCRIPTS: pattern(
            Group.TRANSCRIPTS,
            {
                "requestParameters": {"bucketName": [resources.transcript_bucket]},
                "$or": [
                    {"eventName": s3_names},
                    {
                        "eventName": ["PutBucketVersioning"],
                        "requestParameters": {"VersioningConfiguration": {"Status": ["Suspended"]}},
                    },
                ],
            },
        ),
        Group.LOGGING_POLICY: pattern(
            Group.LOGGING_POLICY,
            {
                "eventName": _event_names(Group.LOGGING_POLICY),
                "requestParameters": {"policyArn": [resources.logging_policy_arn]},
            },
        ),
    }


# --- from a CloudTrail event to an alert -----------------------------------------------------------------------


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def principal(identity: Mapping[str, Any]) -> tuple[str, str]:
    """(who, principal ARN) of a CloudTrail userIdentity: the session ARN (assumed-role/ROLE/SESSION) and the
    role behind it (sessionIssuer), or the user ARN twice; AWS services by name."""
    issuer = _text(_mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer")).get("arn"))
    arn = _text(identity.get("arn"))
    who = (
        arn
        or _text(identity.get("invokedBy"))
        or ":".join(filter(None, (_text(identity.get("type")), _text(identity.get("principalId")))))
    )
    return who or "unknown", issuer or arn


def made_by_stack(detail: Mapping[str, Any], guardrail: Guardrail, resources: ProtectedResources) -> bool:
    """The stack's own change (module docstring): one of its roles, or a CloudFormation deployment where the
    guardrail allows it."""
    identity = _mapping(detail.get("userIdentity"))
    issuer = _text(_mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer")).get("arn"))
    if issuer and issuer in resources.stack_role_arns:
        return True
    return guardrail.stack_may_change and identity.get("invokedBy") == CLOUDFORMATION


def match_guardrails(detail: Mapping[str, Any], resources: ProtectedResources) -> list[Guardrail]:
    """The guardrails a CloudTrail record (an EventBridge event's `detail`) trips, before exceptions."""
    source, name = detail.get("eventSource"), detail.get("eventName")
    params = _mapping(detail.get("requestParameters"))
    return [
        g for g in GUARDRAILS if g.event_source == source and name in g.event_names and g.applies(params, resources)
    ]


@dataclass
class Evaluation:
    """What one event came to: alerts, and the guardrails it tripped that were the stack's own change."""

    alerts: list[GuardrailAlert] = field(default_factory=list)
    stack_changes: list[str] = field(default_factory=list)  # guardrail ids
    ignored: str = ""  # why the event raised nothing, a fixed phrase


def evaluate_event(event: object, resources: ProtectedResources) -> Evaluation:
    """An EventBridge event (`detail-type: AWS API Call via CloudTrail`) → alerts. Never raises on bad input."""
    result = Evaluation()
    if not isinstance(event, Mapping):
        result.ignored = f"the event is a JSON {json_type(event)}, not an object"
        return result
    if event.get("detail-type") != CLOUDTRAIL_DETAIL_TYPE or not isinstance(event.get("detail"), Mapping):
        result.ignored = "not a CloudTrail API call event"
        return result
    detail: Mapping[str, Any] = event["detail"]
    tripped = match_guardrails(detail, resources)
    if not tripped:
        result.ignored = "no guardrail applies to this call"
        return result
    for guardrail in tripped:
        if made_by_stack(detail, guardrail, resources):
            result.stack_changes.append(guardrail.id)
        else:
            result.alerts.append(_alert(guardrail, event, detail))
    if not result.alerts:
        result.ignored = "the stack's own change"
    return result


def _parameter_text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return truncate(text, PARAMETER_VALUE_MAX)


# StartSession's `reason` is free text a person types ("db password is X"): prose, in which the masker finds only
# secrets of a known shape. Fail closed, as the engine does for lines it cannot place: from the first word that
# names a secret, the rest of the text is masked (the alert still shows why the session was started, up to there).
_FREE_TEXT_PARAMETERS: Final = frozenset({"reason"})
_NAMES_A_SECRET: Final = re.compile(
    r"(?i)\b(?:passwords?|passwd|passphrase|pwd|pin|secrets?|tokens?|api[ _-]?keys?|private keys?|credentials?)\b"
)
_MASKED_REST: Final = " [MASKED:secret]"


def _shown_parameter(name: str, value: object) -> str:
    text = _parameter_text(value)
    return masked_free_text(text) if name in _FREE_TEXT_PARAMETERS else text


def masked_free_text(text: str) -> str:
    """Free text a person typed (StartSession's reason) with everything from the first word naming a secret masked
    (the session ledger shows the reason the same way)."""
    if (found := _NAMES_A_SECRET.search(text)) is not None:
        return text[: found.end()] + _MASKED_REST
    return text


def _alert(guardrail: Guardrail, event: Mapping[str, Any], detail: Mapping[str, Any]) -> GuardrailAlert:
    params = _mapping(detail.get("requestParameters"))
    who, principal_arn = principal(_mapping(detail.get("userIdentity")))
    resource = next((_parameter_text(params[k]) for k in guardrail.resource_keys if params.get(k)), "")
    service = guardrail.event_source.split(".", 1)[0]
    return GuardrailAlert(
        guardrail=guardrail,
        who=who,
        action=f"{service}:{_text(detail.get('eventName'))}",
        parameters=tuple((k, _shown_parameter(k, params[k])) for k in guardrail.shown if k in params),
        account_id=_text(detail.get("recipientAccountId")) or _text(event.get("account")),
        region=_text(detail.get("awsRegion")) or _text(event.get("region")),
        resource=resource,
        event_id=_text(detail.get("eventID")),
        event_time=_text(detail.get("eventTime")) or _text(event.get("time")),
        source_ip=_text(detail.get("sourceIPAddress")),
        user_agent=_text(detail.get("userAgent")),
        error_code=_text(detail.get("errorCode")),
        principal_arn=principal_arn,
    )


__all__ = [
    "CLOUDFORMATION",
    "CLOUDTRAIL_DETAIL_TYPE",
    "Evaluation",
    "evaluate_event",
    "event_patterns",
    "made_by_stack",
    "masked_free_text",
    "match_guardrails",
    "principal",
]
