"""What a guardrail is, the stack resources it protects, and the alert one raises.

A `Guardrail` is one entry of guardrails.yaml, its `when` condition resolved to a predicate
(`sessionguard.guardrails.predicates`). `ProtectedResources` are the stack's own resources, from the guardrail
function's environment. A `GuardrailAlert` is a guardrail that fired: the CloudTrail event's raw values, masked and
made printable when it is shown (`to_json`, and the messages of `sessionguard.alerting.guardrail_messages`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote

from sessionguard.alerting.formatting import clean_metadata
from sessionguard.alerting.text import visible
from sessionguard.masking.masker import mask_secrets
from sessionguard.severity import Severity

PREFERENCES_DOCUMENT: Final = "SSM-SessionManagerRunShell"


class Group(StrEnum):
    """One EventBridge rule each (template: GuardrailAlertsFunction's Events)."""

    UNLOGGED_SESSIONS = "UnloggedSessions"
    PREFERENCES = "PreferencesChanges"
    SESSION_LOGS = "SessionLogTampering"
    SESSION_KEY = "SessionKeyTampering"
    TRANSCRIPTS = "TranscriptTampering"
    LOGGING_POLICY = "LoggingPolicyDetached"


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


# Whether a call's request parameters make it dangerous for these resources.
Condition = Callable[[Mapping[str, Any], ProtectedResources], bool]


@dataclass(frozen=True, slots=True)
class Guardrail:
    """One dangerous call (one entry of guardrails.yaml). `condition` says `applies` in words."""

    id: str
    group: Group
    title: str
    severity: Severity
    techniques: tuple[str, ...]
    event_source: str  # CloudTrail eventSource: "logs.amazonaws.com"
    event_names: tuple[str, ...]
    condition: str
    description: str
    applies: Condition
    resource_keys: tuple[str, ...]  # request parameters naming the resource acted on, first present wins
    shown: tuple[str, ...]  # request parameters the alert shows
    stack_may_change: bool = False  # CloudFormation deployments of the stack make this call legitimately
    data_event: bool = False  # CloudTrail logs it only with S3 data events enabled on a trail
    alert_examples: tuple[str, ...] = ()  # events/ files that must raise it (for the example stack)
    quiet_examples: tuple[str, ...] = ()  # events/ files that must not

    @property
    def source(self) -> str:
        """The EventBridge `source` of the service's CloudTrail events: "aws.logs"."""
        return "aws." + self.event_source.split(".", 1)[0]


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


__all__ = ["PREFERENCES_DOCUMENT", "Condition", "Group", "Guardrail", "GuardrailAlert", "ProtectedResources"]
