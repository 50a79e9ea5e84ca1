"""Guardrails: the CloudTrail events that mean session logging is being gone around or tampered with, as
reviewable data, and the pure functions that turn one such event (delivered by EventBridge as
`detail-type: "AWS API Call via CloudTrail"`) into an alert and its SNS and Slack messages.

Each guardrail names the CloudTrail `eventSource` and `eventName`s it watches, the condition on the request that
makes the call dangerous (which of this stack's resources it touches), a severity and MITRE ATT&CK ids.
`GUARDRAILS` is the list; docs/guardrails.md is the same list for readers. EventBridge rules (one per `Group`,
`event_patterns`) deliver only calls on this stack's resources; `match_guardrails` checks the same conditions
again in code, so a broad rule or a replayed event cannot raise a wrong alert.

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
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, NamedTuple
from urllib.parse import quote

from sessionguard.alerting.formatting import (
    SLACK_ID_MAX,
    SLACK_SECTION_TEXT_MAX,
    SNS_COMMAND_MAX,
    SnsMessage,
    ascii_subject,
    clean_metadata,
    code_block,
    inline_code,
    mrkdwn,
    slack_escape,
    slack_field,
    slack_opening,
    slack_payload,
    slack_techniques,
    slack_title,
    slack_where,
    sns_alert_message,
)
from sessionguard.alerting.text import truncate, visible
from sessionguard.masking.masker import mask_secrets
from sessionguard.severity import Severity

CLOUDTRAIL_DETAIL_TYPE: Final = "AWS API Call via CloudTrail"
PREFERENCES_DOCUMENT: Final = "SSM-SessionManagerRunShell"
CLOUDFORMATION: Final = "cloudformation.amazonaws.com"
PARAMETER_VALUE_MAX: Final = 2_000  # a key policy or document content is long; the alert shows its start


class Group(StrEnum):
    """One EventBridge rule each (template: GuardrailAlertsFunction's Events)."""

    UNLOGGED_SESSIONS = "UnloggedSessions"
    PREFERENCES = "PreferencesChanges"
    SESSION_LOGS = "SessionLogTampering"
    SESSION_KEY = "SessionKeyTampering"
    TRANSCRIPTS = "TranscriptTampering"
    LOGGING_POLICY = "LoggingPolicyDetached"


_SOURCES: Final = {
    Group.UNLOGGED_SESSIONS: ("aws.ssm", "ssm.amazonaws.com"),
    Group.PREFERENCES: ("aws.ssm", "ssm.amazonaws.com"),
    Group.SESSION_LOGS: ("aws.logs", "logs.amazonaws.com"),
    Group.SESSION_KEY: ("aws.kms", "kms.amazonaws.com"),
    Group.TRANSCRIPTS: ("aws.s3", "s3.amazonaws.com"),
    Group.LOGGING_POLICY: ("aws.iam", "iam.amazonaws.com"),
}


@dataclass(frozen=True, slots=True)
class ProtectedResources:
    """This stack's resources, and the roles whose changes to them are the stack's own (the function's env)."""

    account_id: str
    region: str
    session_log_group: str
    transcript_bucket: str
    key_arn: str
    logging_policy_arn: str
    session_log_retention_days: int  # 0 = never expire: any retention shortens it
    stack_role_arns: frozenset[str] = frozenset()
    partition: str = "aws"

    @property
    def key_id(self) -> str:
        return self.key_arn.rsplit("/", 1)[-1]

    @property
    def log_group_arns(self) -> tuple[str, str]:
        arn = f"arn:{self.partition}:logs:{self.region}:{self.account_id}:log-group:{self.session_log_group}"
        return arn, arn + ":*"

    @property
    def preferences_document_arn(self) -> str:
        return f"arn:{self.partition}:ssm:{self.region}:{self.account_id}:document/{PREFERENCES_DOCUMENT}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProtectedResources:
        env = os.environ if env is None else env
        key_arn = env["SESSION_KEY_ARN"]
        parts = key_arn.split(":")  # arn:<partition>:kms:<region>:<account>:key/<id>
        return cls(
            account_id=parts[4] if len(parts) > 5 else "",
            region=env.get("AWS_REGION", parts[3] if len(parts) > 5 else ""),
            session_log_group=env["SESSION_LOG_GROUP"],
            transcript_bucket=env["TRANSCRIPT_BUCKET"],
            key_arn=key_arn,
            logging_policy_arn=env["LOGGING_POLICY_ARN"],
            session_log_retention_days=int(env.get("SESSION_LOG_RETENTION_DAYS") or "0"),
            stack_role_arns=frozenset(a.strip() for a in env.get("STACK_ROLE_ARNS", "").split(",") if a.strip()),
            partition=parts[1] if len(parts) > 5 else "aws",
        )


Condition = Callable[[Mapping[str, Any], ProtectedResources], bool]


@dataclass(frozen=True, slots=True)
class Guardrail:
    """One dangerous call. `condition` is the prose of `applies`, for docs/guardrails.md and reviewers."""

    id: str
    group: Group
    title: str
    severity: Severity
    techniques: tuple[str, ...]
    event_names: tuple[str, ...]
    condition: str
    description: str
    applies: Condition
    resource_keys: tuple[str, ...]  # request parameters naming the resource acted on, first present wins
    shown: tuple[str, ...]  # request parameters the alert shows
    stack_may_change: bool = False  # CloudFormation deployments of the stack make this call legitimately
    data_event: bool = False  # CloudTrail logs it only with S3 data events enabled on a trail

    @property
    def event_source(self) -> str:
        return _SOURCES[self.group][1]

    @property
    def source(self) -> str:
        return _SOURCES[self.group][0]


# --- conditions ----------------------------------------------------------------------------------------------


def document_name(value: object) -> str:
    """A document named by name or ARN (`arn:...:document/NAME`), as its name."""
    text = value if isinstance(value, str) else ""
    return text.rsplit(":document/", 1)[-1] if text.startswith("arn:") else text


def _session_document(names: tuple[str, ...]) -> Condition:
    return lambda params, _: document_name(params.get("documentName")) in names


_KNOWN_SESSION_DOCUMENTS: Final = (
    "AWS-StartSSHSession",
    "AWS-StartPortForwardingSession",
    "AWS-StartPortForwardingSessionToRemoteHost",
    "AWS-StartInteractiveCommand",
    "AWS-StartNonInteractiveCommand",
)


def _other_session_document(params: Mapping[str, Any], _: ProtectedResources) -> bool:
    name = document_name(params.get("documentName"))
    return bool(name) and name != PREFERENCES_DOCUMENT and name not in _KNOWN_SESSION_DOCUMENTS


def _preferences_document(params: Mapping[str, Any], _: ProtectedResources) -> bool:
    return document_name(params.get("name")) == PREFERENCES_DOCUMENT


def _session_log_group(params: Mapping[str, Any], resources: ProtectedResources) -> bool:
    if params.get("logGroupName") == resources.session_log_group:
        return True
    return params.get("logGroupIdentifier") in (resources.session_log_group, *resources.log_group_arns)


def _retention_shortened(params: Mapping[str, Any], resources: ProtectedResources) -> bool:
    days = params.get("retentionInDays")
    if not _session_log_group(params, resources) or not isinstance(days, int):
        return False
    return resources.session_log_retention_days == 0 or days < resources.session_log_retention_days


def _session_key(params: Mapping[str, Any], resources: ProtectedResources) -> bool:
    # DisableKey, ScheduleKeyDeletion and PutKeyPolicy take a key id or key ARN, never an alias.
    return params.get("keyId") in (resources.key_id, resources.key_arn)


def _transcript_bucket(params: Mapping[str, Any], resources: ProtectedResources) -> bool:
    return params.get("bucketName") == resources.transcript_bucket


def _versioning_suspended(params: Mapping[str, Any], resources: ProtectedResources) -> bool:
    configuration = params.get("VersioningConfiguration")
    status = configuration.get("Status") if isinstance(configuration, Mapping) else None
    return _transcript_bucket(params, resources) and status == "Suspended"


def _logging_policy(params: Mapping[str, Any], resources: ProtectedResources) -> bool:
    return params.get("policyArn") == resources.logging_policy_arn


# --- the guardrails --------------------------------------------------------------------------------------------


class _Watch(NamedTuple):
    """What every guardrail of a group has in common: the condition that the call acts on this stack's resource,
    the request parameter naming that resource, and the words their condition and description end with."""

    applies: Condition
    resource_key: str
    condition: str = ""
    description: str = ""


_WATCHES: Final = {
    Group.UNLOGGED_SESSIONS: _Watch(
        _other_session_document,  # SG-GR-005; the guardrails for the known documents name theirs
        "target",
        description=(
            "The session does not run the logged shell document, so the stack's Session Manager preferences "
            "(streaming to the session log group, the S3 transcript, encryption) do not govern it and SessionGuard's "
            "command alerts never see it. CloudTrail's StartSession is the only record."
        ),
    ),
    Group.PREFERENCES: _Watch(_preferences_document, "name", condition="; not by the stack's preferences function"),
    Group.SESSION_LOGS: _Watch(_session_log_group, "logGroupName"),
    Group.SESSION_KEY: _Watch(_session_key, "keyId"),
    Group.TRANSCRIPTS: _Watch(_transcript_bucket, "bucketName"),
    Group.LOGGING_POLICY: _Watch(_logging_policy, "roleName"),
}
_STACK_MAY_CHANGE: Final = "; CloudFormation deployments excepted"


class _Row(NamedTuple):
    """One guardrail as it differs from the others of its group, in the columns of docs/guardrails.md's table
    (`condition` as the table words it), then the description and the request parameters the alert shows."""

    id: str
    group: Group
    title: str
    severity: Severity
    event_names: tuple[str, ...]
    condition: str
    techniques: tuple[str, ...]
    description: str
    shown: tuple[str, ...]
    stack_may_change: bool = False
    data_event: bool = False
    applies: Condition | None = None  # else the group's
    resource_key: str = ""  # else the group's


def _guardrail(row: _Row) -> Guardrail:
    """A row completed with what its group shares; a CloudFormation exception is said in the condition."""
    watch = _WATCHES[row.group]
    return Guardrail(  # in the row's order
        id=row.id,
        group=row.group,
        title=row.title,
        severity=row.severity,
        event_names=row.event_names,
        condition=row.condition + watch.condition + (_STACK_MAY_CHANGE if row.stack_may_change else ""),
        techniques=row.techniques,
        description=" ".join(filter(None, (row.description, watch.description))),
        shown=row.shown,
        stack_may_change=row.stack_may_change,
        data_event=row.data_event,
        applies=row.applies or watch.applies,
        resource_keys=(row.resource_key or watch.resource_key,),
    )


_SESSION_PARAMS = ("documentName", "target", "parameters", "reason")

# id, group, title, severity, CloudTrail eventNames, condition, MITRE ATT&CK, description, shown parameters
_TABLE: Final = (
    _Row(
        "SG-GR-001",
        Group.UNLOGGED_SESSIONS,
        "SSH session through Session Manager (not logged)",
        Severity.HIGH,
        ("StartSession",),
        "documentName is AWS-StartSSHSession",
        ("T1021.004", "T1021.007"),
        "SSH over Session Manager is a full shell whose keystrokes the agent never logs.",
        _SESSION_PARAMS,
        applies=_session_document(("AWS-StartSSHSession",)),
    ),
    _Row(
        "SG-GR-002",
        Group.UNLOGGED_SESSIONS,
        "Port forwarding to an instance (not logged)",
        Severity.MEDIUM,
        ("StartSession",),
        "documentName is AWS-StartPortForwardingSession",
        ("T1572",),
        "A tunnel to a port on the instance; what passes through it is not logged.",
        _SESSION_PARAMS,
        applies=_session_document(("AWS-StartPortForwardingSession",)),
    ),
    _Row(
        "SG-GR-003",
        Group.UNLOGGED_SESSIONS,
        "Port forwarding through an instance to another host (not logged)",
        Severity.HIGH,
        ("StartSession",),
        "documentName is AWS-StartPortForwardingSessionToRemoteHost",
        ("T1572", "T1090.001"),
        "The instance becomes a pivot into its network (databases, other hosts); nothing that passes is logged.",
        _SESSION_PARAMS,
        applies=_session_document(("AWS-StartPortForwardingSessionToRemoteHost",)),
    ),
    _Row(
        "SG-GR-004",
        Group.UNLOGGED_SESSIONS,
        "Command session outside the logged shell",
        Severity.HIGH,
        ("StartSession",),
        "documentName is AWS-StartInteractiveCommand or AWS-StartNonInteractiveCommand",
        ("T1021.007", "T1059"),
        "A command chosen at session start runs on the instance.",
        _SESSION_PARAMS,
        applies=_session_document(("AWS-StartInteractiveCommand", "AWS-StartNonInteractiveCommand")),
    ),
    _Row(
        "SG-GR-005",
        Group.UNLOGGED_SESSIONS,
        "Session with a custom session document",
        Severity.MEDIUM,
        ("StartSession",),
        "documentName is any other document than SSM-SessionManagerRunShell and the four above",
        ("T1021.007", "T1562"),
        "A custom Session document carries its own logging settings (or none), chosen by whoever wrote it.",
        _SESSION_PARAMS,
    ),
    _Row(
        "SG-GR-010",
        Group.PREFERENCES,
        "Session Manager preferences changed outside the stack",
        Severity.HIGH,
        ("UpdateDocument", "UpdateDocumentDefaultVersion"),
        "name is SSM-SessionManagerRunShell",
        ("T1562.008",),
        "The preferences decide whether sessions stream to the session log group, with encryption enforced. "
        "A new default version can switch logging off for every session in the region.",
        ("name", "documentVersion", "versionName", "content"),
    ),
    _Row(
        "SG-GR-011",
        Group.PREFERENCES,
        "Session Manager preferences document or version deleted",
        Severity.CRITICAL,
        ("DeleteDocument",),
        "name is SSM-SessionManagerRunShell",
        ("T1562.008",),
        "Without the preferences document, new sessions are neither streamed nor written to S3; with its newest "
        "version deleted, older settings are in force again.",
        ("name", "documentVersion", "versionName", "force"),
    ),
    _Row(
        "SG-GR-020",
        Group.SESSION_LOGS,
        "Session log group deleted",
        Severity.CRITICAL,
        ("DeleteLogGroup",),
        "logGroupName is the session log group",
        ("T1562.008", "T1485"),
        "Every session log in the group is gone, and the agent silently stops streaming while the group is missing.",
        ("logGroupName",),
    ),
    _Row(
        "SG-GR-021",
        Group.SESSION_LOGS,
        "Session log stream deleted",
        Severity.HIGH,
        ("DeleteLogStream",),
        "logGroupName is the session log group",
        ("T1070",),
        "A stream is one session's log: deleting it removes the record of that session.",
        ("logGroupName", "logStreamName"),
    ),
    _Row(
        "SG-GR-022",
        Group.SESSION_LOGS,
        "Session log subscription filter deleted",
        Severity.HIGH,
        ("DeleteSubscriptionFilter",),
        "logGroupName is the session log group",
        ("T1562.008",),
        "Without its subscription filter, risky commands typed in sessions no longer raise alerts.",
        ("logGroupName", "filterName"),
        stack_may_change=True,
    ),
    _Row(
        "SG-GR-023",
        Group.SESSION_LOGS,
        "Session log retention shortened",
        Severity.MEDIUM,
        ("PutRetentionPolicy",),
        "logGroupName is the session log group and retentionInDays is below SessionLogRetentionDays (any value when "
        "that is 0)",
        ("T1562.008",),
        "Session logs older than the new retention are deleted by CloudWatch Logs.",
        ("logGroupName", "retentionInDays"),
        stack_may_change=True,
        applies=_retention_shortened,
    ),
    _Row(
        "SG-GR-024",
        Group.SESSION_LOGS,
        "Session log data protection policy removed",
        Severity.HIGH,
        ("DeleteDataProtectionPolicy",),
        "logGroupIdentifier is the session log group (name or ARN)",
        ("T1562.008",),
        "AWS secret keys and private keys typed in sessions are no longer masked at ingestion.",
        ("logGroupIdentifier",),
        stack_may_change=True,
        resource_key="logGroupIdentifier",
    ),
    _Row(
        "SG-GR-030",
        Group.SESSION_KEY,
        "Session key disabled",
        Severity.CRITICAL,
        ("DisableKey",),
        "keyId is the session key (id or ARN)",
        ("T1562.008", "T1485"),
        "Nothing encrypted with the key can be read, and the log group and bucket cannot encrypt new session logs.",
        ("keyId",),
    ),
    _Row(
        "SG-GR-031",
        Group.SESSION_KEY,
        "Session key scheduled for deletion",
        Severity.CRITICAL,
        ("ScheduleKeyDeletion",),
        "keyId is the session key (id or ARN)",
        ("T1485",),
        "When the waiting period ends, every session log and transcript is unreadable for good. Cancel with "
        "CancelKeyDeletion before then.",
        ("keyId", "pendingWindowInDays"),
    ),
    _Row(
        "SG-GR-032",
        Group.SESSION_KEY,
        "Session key policy changed",
        Severity.HIGH,
        ("PutKeyPolicy",),
        "keyId is the session key (id or ARN)",
        ("T1562.008",),
        "The key policy decides who can decrypt session logs and whether CloudWatch Logs can still encrypt them.",
        ("keyId", "policyName", "bypassPolicyLockoutSafetyCheck", "policy"),
        stack_may_change=True,
    ),
    _Row(
        "SG-GR-040",
        Group.TRANSCRIPTS,
        "Transcript bucket policy changed or removed",
        Severity.HIGH,
        ("PutBucketPolicy", "DeleteBucketPolicy"),
        "bucketName is the transcript bucket",
        ("T1562.008", "T1530"),
        "The bucket policy enforces TLS and this stack's KMS key on every transcript written.",
        ("bucketName", "bucketPolicy"),
        stack_may_change=True,
    ),
    _Row(
        "SG-GR-041",
        Group.TRANSCRIPTS,
        "Transcript bucket encryption changed or removed",
        Severity.HIGH,
        ("PutBucketEncryption", "DeleteBucketEncryption"),
        "bucketName is the transcript bucket",
        ("T1562.008",),
        "Transcripts are uploaded without encryption headers and take the bucket default; with "
        "s3EncryptionEnabled the agent refuses to upload to a bucket it finds unencrypted.",
        ("bucketName", "ServerSideEncryptionConfiguration"),
        stack_may_change=True,
    ),
    _Row(
        "SG-GR-042",
        Group.TRANSCRIPTS,
        "Transcript bucket versioning suspended",
        Severity.HIGH,
        ("PutBucketVersioning",),
        "bucketName is the transcript bucket and VersioningConfiguration.Status is Suspended",
        ("T1562.008", "T1485"),
        "Without versioning, an overwritten or deleted transcript cannot be recovered.",
        ("bucketName", "VersioningConfiguration"),
        applies=_versioning_suspended,
    ),
    _Row(
        "SG-GR-043",
        Group.TRANSCRIPTS,
        "Transcript bucket Object Lock configuration changed",
        Severity.HIGH,
        ("PutObjectLockConfiguration",),
        "bucketName is the transcript bucket",
        ("T1562.008", "T1485"),
        "Object Lock keeps transcripts immutable; a shorter or removed default retention weakens it.",
        ("bucketName", "ObjectLockConfiguration"),
        stack_may_change=True,
    ),
    _Row(
        "SG-GR-044",
        Group.TRANSCRIPTS,
        "Session transcripts deleted",
        Severity.HIGH,
        ("DeleteObject", "DeleteObjects"),
        "bucketName is the transcript bucket (S3 data events must be logged by a trail)",
        ("T1070", "T1485"),
        "A deletion without a version id leaves a delete marker (versioning keeps the transcript); with a "
        "version id the transcript is gone unless Object Lock holds it.",
        ("bucketName", "key", "versionId"),
        data_event=True,
    ),
    _Row(
        "SG-GR-050",
        Group.LOGGING_POLICY,
        "Session logging policy detached from a role",
        Severity.HIGH,
        ("DetachRolePolicy",),
        "policyArn is the stack's SessionLoggingPolicy",
        ("T1562.008",),
        "Instances with that role can no longer stream sessions or upload transcripts; the agent turns "
        "streaming off silently, or refuses sessions when encryption is enforced.",
        ("roleName", "policyArn"),
        stack_may_change=True,
    ),
)

GUARDRAILS: Final[tuple[Guardrail, ...]] = tuple(_guardrail(row) for row in _TABLE)

GUARDRAILS_BY_ID: Final = {g.id: g for g in GUARDRAILS}


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
        source, event_source = _SOURCES[group]
        return {
            "source": [source],
            "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
            "detail": {"eventSource": [event_source], **detail},
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


@dataclass(frozen=True, slots=True)
class GuardrailAlert:
    """A guardrail that fired: who did what, where, when, and the CloudTrail event id. Fields are raw event
    values; the message builders mask and escape them."""

    guardrail: Guardrail
    who: str
    action: str  # "logs:DeleteLogGroup"
    parameters: tuple[tuple[str, str], ...]  # (name, value as text) of the shown request parameters
    account_id: str
    region: str
    resource: str
    event_id: str
    event_time: str
    source_ip: str = ""
    user_agent: str = ""
    error_code: str = ""  # set when the call failed (e.g. AccessDenied): an attempt, not a change
    principal_arn: str = ""  # the role behind an assumed-role session (or the user), for the noise window

    @property
    def rule_id(self) -> str:
        return self.guardrail.id

    @property
    def severity(self) -> Severity:
        return self.guardrail.severity

    @property
    def title(self) -> str:
        if self.error_code:
            return f"{self.guardrail.title} (attempt failed: {clean_metadata(self.error_code)[:60]})"
        return self.guardrail.title

    @property
    def what(self) -> str:
        """The call and its shown parameters, one per line, masked and printable (not yet escaped)."""
        lines = [self.action, *(f"{name}: {value}" for name, value in self.parameters)]
        return visible(mask_secrets("\n".join(lines)))

    @property
    def cloudtrail_url(self) -> str:
        """The event in CloudTrail Event history (management events only: data events are not there)."""
        # errors="replace": JSON can carry a lone surrogate, which UTF-8 cannot encode; it becomes "?" (%3F).
        region = quote(self.region, safe="", errors="replace")
        event_id = quote(self.event_id, safe="", errors="replace")
        host = f"{region}.console.aws.amazon.com" if region else "console.aws.amazon.com"
        return f"https://{host}/cloudtrailv2/home?region={region}#/events/{event_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "guardrail-alert",
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": str(self.severity),
            "techniques": list(self.guardrail.techniques),
            "description": self.guardrail.description,
            "who": clean_metadata(self.who),
            "action": self.action,
            "request": {name: visible(mask_secrets(value)) for name, value in self.parameters},
            "account_id": clean_metadata(self.account_id),
            "region": clean_metadata(self.region),
            "resource": clean_metadata(self.resource),
            "event_id": clean_metadata(self.event_id),
            "event_time": clean_metadata(self.event_time),
            "source_ip": clean_metadata(self.source_ip),
            "user_agent": clean_metadata(self.user_agent),
            "error_code": clean_metadata(self.error_code),
            "data_event": self.guardrail.data_event,
            "cloudtrail_url": "" if self.guardrail.data_event else self.cloudtrail_url,
            "source": "sessionguard",
        }


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


def evaluate_event(event: Mapping[str, Any], resources: ProtectedResources) -> Evaluation:
    """An EventBridge event (`detail-type: AWS API Call via CloudTrail`) → alerts. Never raises on bad input."""
    result = Evaluation()
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


def _alert(guardrail: Guardrail, event: Mapping[str, Any], detail: Mapping[str, Any]) -> GuardrailAlert:
    params = _mapping(detail.get("requestParameters"))
    who, principal_arn = principal(_mapping(detail.get("userIdentity")))
    resource = next((_parameter_text(params[k]) for k in guardrail.resource_keys if params.get(k)), "")
    service = guardrail.event_source.split(".", 1)[0]
    return GuardrailAlert(
        guardrail=guardrail,
        who=who,
        action=f"{service}:{_text(detail.get('eventName'))}",
        parameters=tuple((k, _parameter_text(params[k])) for k in guardrail.shown if k in params),
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


# --- messages ----------------------------------------------------------------------------------------------------


def guardrail_sns_message(alert: GuardrailAlert) -> SnsMessage:
    """Like a command alert's SNS message: subject, a readable body, `Alert JSON:`, and the same message
    attributes (`severity`, `rule_id`) so subscription filter policies treat both kinds alike."""
    record = alert.to_json()
    severity = str(alert.severity).upper()
    subject = ascii_subject(f"[SessionGuard] {severity}: {alert.title} in {record['account_id'] or 'an account'}")
    outcome = f"failed ({record['error_code']}) - an attempt, nothing changed" if alert.error_code else "succeeded"
    link = (
        "Data event: not in Event history; see the trail's S3 bucket or CloudTrail Lake."
        if alert.guardrail.data_event
        else f"CloudTrail: {record['cloudtrail_url']}"
    )
    lines = [
        f"SessionGuard guardrail alert: {severity} - {alert.title}",
        "",
        f"Guardrail: {alert.rule_id} (MITRE ATT&CK: {', '.join(alert.guardrail.techniques) or '-'})",
        f"Who:       {record['who']}",
        f"Where:     account {record['account_id'] or '-'}, region {record['region'] or '-'}, "
        f"resource {record['resource'] or '-'}",
        f"When:      {record['event_time'] or '-'}",
        f"Event:     CloudTrail event id {record['event_id'] or '-'}, from {record['source_ip'] or '-'}",
        f"Outcome:   {outcome}",
        "",
        "What (secrets masked):",
        *("    " + line for line in truncate(alert.what, SNS_COMMAND_MAX).split("\n")),
        "",
        f"Why: {alert.guardrail.description}",
        "",
        link,
    ]
    return sns_alert_message(subject, lines, record, alert.severity, alert.rule_id, alert_type="guardrail")


def guardrail_slack_message(alert: GuardrailAlert) -> dict[str, Any]:
    """Incoming-webhook payload, built and escaped like a command alert's (sessionguard.alerting.formatting)."""
    severity = str(alert.severity).upper()
    title = slack_title(alert.title)
    outcome = f"failed: {inline_code(clean_metadata(alert.error_code), 80)}" if alert.error_code else "succeeded"
    what_label = "*What* (secrets masked)\n"
    blocks: list[dict[str, Any]] = [
        *slack_opening(
            alert.severity,
            title,
            ("Guardrail", alert.rule_id),
            [
                slack_field("Who", inline_code(clean_metadata(alert.who), SLACK_ID_MAX)),
                slack_field("Where", slack_where(alert.account_id, alert.region, "resource", alert.resource)),
                slack_field("When", slack_escape(clean_metadata(alert.event_time) or "-", 100)),
                slack_field(
                    "CloudTrail event",
                    f"{inline_code(clean_metadata(alert.event_id), 200)}\n{outcome}",
                ),
            ],
        ),
        {
            "type": "section",
            "text": mrkdwn(what_label + code_block(alert.what, SLACK_SECTION_TEXT_MAX - len(what_label))),
        },
        {"type": "section", "text": mrkdwn("*Why it matters*\n" + slack_escape(alert.guardrail.description, 2_900))},
    ]
    context = []
    if not alert.guardrail.data_event:
        context.append(mrkdwn(f"<{alert.cloudtrail_url}|Open the event in CloudTrail>"))
    if alert.guardrail.techniques:
        context.append(slack_techniques(alert.guardrail.techniques))
    if context:
        blocks.append({"type": "context", "elements": context})
    fallback = f"{severity}: {slack_escape(title, 300)} by {slack_escape(clean_metadata(alert.who), 300)}"
    return slack_payload(fallback, blocks)


__all__ = [
    "CLOUDFORMATION",
    "CLOUDTRAIL_DETAIL_TYPE",
    "GUARDRAILS",
    "GUARDRAILS_BY_ID",
    "PREFERENCES_DOCUMENT",
    "Evaluation",
    "Group",
    "Guardrail",
    "GuardrailAlert",
    "ProtectedResources",
    "document_name",
    "evaluate_event",
    "event_patterns",
    "guardrail_slack_message",
    "guardrail_sns_message",
    "made_by_stack",
    "match_guardrails",
    "principal",
]
