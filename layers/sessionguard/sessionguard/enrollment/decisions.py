"""Enrollment decisions: plain data in, plain data out, no AWS calls.

Whether an instance is enrolled, what happens to its instance profile, whether its agent has registered, whether
the agent update finished, and how a failure is classified (retried or final, with a reason code for metrics and
alerts). The AWS calls live in `sessionguard.adapters.fleet`; `sessionguard.enrollment.steps` joins the two for the
Lambda handlers that the enrollment state machine calls. See docs/enrollment.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from sessionguard.enrollment.contracts import ExecutionInput
from sessionguard.session.records import json_type

# Tags SessionGuard reads and writes on instances. Only `sessionguard:enroll` is set by people.
ENROLL_TAG = "sessionguard:enroll"
ENROLLED_TAG = "sessionguard:enrolled"
AGENT_UPDATE_TAG = "sessionguard:agent-update"
COMPLIANCE_TAG = "sessionguard:compliance"
FAILURE_TAG = "sessionguard:enrollment-failed"
OPT_OUT_VALUE = "false"
NONCOMPLIANT_VALUE = "noncompliant"

AGENT_UPDATE_DOCUMENT = "AWS-UpdateSSMAgent"
SSM_CORE_POLICY_NAME = "AmazonSSMManagedInstanceCore"

DEFAULT_MAX_WAIT_SECONDS = 45 * 60
# An agent that started without credentials backs off for up to ~25-30 minutes before it retries registration,
# so early checks are frequent and later ones sparse. Checks cost one state transition each, not a running Lambda.
MIN_CHECK_DELAY_SECONDS = 30
MAX_CHECK_DELAY_SECONDS = 300
# AWS-UpdateSSMAgent normally finishes within minutes; past this the command is treated as lost.
AGENT_UPDATE_MAX_WAIT_SECONDS = 30 * 60
AGENT_UPDATE_CHECK_SECONDS = 30
# The agent's updateagent plugin holds a lock while it updates; a second AWS-UpdateSSMAgent meanwhile (the stack's
# own State Manager association runs one when an instance first registers) ends Failed at once with this output.
AGENT_UPDATE_BUSY_OUTPUT = "another update in progress"
# Seconds to wait before each re-send of an update refused that way: one entry per re-send, all within
# MaxWaitSeconds. An update normally finishes within a few minutes.
AGENT_UPDATE_RESEND_DELAYS = (60, 120, 240)
# EC2 is eventually consistent: DescribeInstances can answer InvalidInstanceID.NotFound for an instance whose launch
# event has already arrived. Lambda retries a failed asynchronous invocation twice, about 1 and 3 minutes after the
# first attempt, so a launch event younger than this fails (and is retried) and the last retry decides it is gone.
LAUNCH_VISIBILITY_SECONDS = 120

# Instance states in which an instance can still become managed; any other state ends enrollment quietly.
ACTIVE_INSTANCE_STATES = frozenset({"pending", "running"})
# Association states of describe_iam_instance_profile_associations that hold the instance's one profile slot.
ACTIVE_ASSOCIATION_STATES = frozenset({"associating", "associated"})


class ExistingRoleMode(StrEnum):
    """What to do when an instance already has an instance profile that is not SessionGuard's."""

    ATTACH = "attach"  # attach AmazonSSMManagedInstanceCore and the logging policy to that role
    REPORT = "report"  # change nothing; alert and tag the instance as not compliant


class SkipReason(StrEnum):
    NOT_RUNNING = "not_running"
    OPTED_OUT = "opted_out"
    OUTSIDE_SELECTOR = "outside_selector"
    ALREADY_ENROLLED = "already_enrolled"


class ProfileAction(StrEnum):
    ASSOCIATE = "associate"  # no profile: associate SessionGuard's
    REPLACE = "replace"  # the associated profile was deleted or holds no role: replace it with SessionGuard's
    NONE = "none"  # SessionGuard's profile, or a role that already has both policies
    ATTACH_POLICIES = "attach_policies"
    REPORT = "report"  # report mode and the existing role lacks policies
    WAIT = "wait"  # the previous association is being removed; try again shortly


class RegistrationOutcome(StrEnum):
    REGISTERED = "registered"
    WAITING = "waiting"
    TIMED_OUT = "timed_out"


class UpdateOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    RUNNING = "running"
    BUSY = "busy"  # the agent was running another update: wait, then send again
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class FailureReason(StrEnum):
    """Reason codes: the `Reason` dimension of the EnrollmentFailures metric and the `reason` of alerts."""

    INSTANCE_NOT_RUNNING = "instance_not_running"
    EXISTING_ROLE_NONCOMPLIANT = "existing_role_noncompliant"
    ROLE_POLICY_LIMIT = "role_policy_limit"
    PROFILE_ASSOCIATION_PENDING = "profile_association_pending"
    REGISTRATION_TIMEOUT = "registration_timeout"
    AGENT_NOT_READY = "agent_not_ready"
    AGENT_UPDATE_FAILED = "agent_update_failed"
    AGENT_UPDATE_TIMEOUT = "agent_update_timeout"
    ACCESS_DENIED = "access_denied"
    THROTTLED = "throttled"
    AWS_UNAVAILABLE = "aws_unavailable"
    AWS_ERROR = "aws_error"
    INTERNAL_ERROR = "internal_error"


class ReportOutcome(StrEnum):
    ABANDONED = "abandoned"  # the instance stopped or went away: nothing to alert about
    NONCOMPLIANT = "noncompliant"  # report mode did what it was asked to
    FAILED = "failed"


# --- Facts, as the fleet adapter reads them -------------------------------------------------------------------


@dataclass(frozen=True)
class TagSelector:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class Instance:
    instance_id: str
    state: str
    launch_time: datetime
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileAssociation:
    association_id: str
    profile_arn: str
    state: str


@dataclass(frozen=True)
class ExistingRole:
    """The role inside a profile that is not SessionGuard's. `role_name` is None when the profile is gone or empty."""

    profile_arn: str
    role_name: str | None
    attached_policy_arns: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AgentInfo:
    """One entry of ssm:DescribeInstanceInformation."""

    instance_id: str
    ping_status: str
    agent_version: str = ""
    is_latest_version: bool | None = None


@dataclass(frozen=True)
class AgentUpdateInvocation:
    """The AWS-UpdateSSMAgent invocation on one instance (ssm:GetCommandInvocation)."""

    status: str
    output: str = ""  # StandardOutputContent and StandardErrorContent


@dataclass(frozen=True)
class Failure:
    reason: FailureReason
    retryable: bool
    detail: str = ""


# --- Settings ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentSettings:
    """Built from the functions' environment; each function is given only the variables it uses."""

    state_machine_arn: str = ""
    instance_profile_arn: str = ""
    logging_policy_arn: str = ""
    alert_topic_arn: str = ""
    alert_event_bus: str = ""  # where enrollment failures are also put as events (docs/integrations.md); "": none
    existing_role_mode: ExistingRoleMode = ExistingRoleMode.REPORT
    tag_selector: TagSelector | None = None
    default_max_wait_seconds: int = DEFAULT_MAX_WAIT_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EnrollmentSettings:
        return cls(
            state_machine_arn=env.get("ENROLLMENT_STATE_MACHINE_ARN", ""),
            instance_profile_arn=env.get("INSTANCE_PROFILE_ARN", ""),
            logging_policy_arn=env.get("LOGGING_POLICY_ARN", ""),
            alert_topic_arn=env.get("ALERT_TOPIC_ARN", ""),
            alert_event_bus=env.get("ALERT_EVENT_BUS", "").strip(),
            existing_role_mode=ExistingRoleMode(env.get("EXISTING_ROLE_MODE", "report").strip().lower()),
            tag_selector=parse_tag_selector(env.get("ENROLL_TAG_SELECTOR", "")),
            default_max_wait_seconds=int(env.get("MAX_WAIT_SECONDS", str(DEFAULT_MAX_WAIT_SECONDS))),
        )

    @property
    def ssm_core_policy_arn(self) -> str:
        """AmazonSSMManagedInstanceCore in the logging policy's partition (aws, aws-cn, aws-us-gov)."""
        partition = self.logging_policy_arn.split(":")[1] if self.logging_policy_arn.count(":") >= 5 else "aws"
        return f"arn:{partition}:iam::aws:policy/{SSM_CORE_POLICY_NAME}"

    @property
    def required_policy_arns(self) -> tuple[str, ...]:
        return (self.ssm_core_policy_arn, self.logging_policy_arn)


def parse_tag_selector(text: str) -> TagSelector | None:
    """`key=value` (the value may contain `=`); empty means every instance."""
    text = text.strip()
    if not text:
        return None
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"tag selector must look like key=value, got {text!r}")
    return TagSelector(key.strip(), value.strip())


# --- The launch event -----------------------------------------------------------------------------------------------

# What EventBridge sends for an instance state change (events/ec2-instance-running.json); the rule matches only
# these, but anyone who may PutEvents or invoke the function can send anything else.
EC2_STATE_CHANGE: Final = "EC2 Instance State-change Notification"
_INSTANCE_ID: Final = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
# EventBridge writes `time` as RFC 3339 UTC to the second; a longer value is not one.
_EVENT_TIME_MAX: Final = 40


def launch_event_problem(event: object) -> str | None:
    """Why `event` is not an EC2 state-change event this function can act on, or None. The reason names the field,
    never its value."""
    if not isinstance(event, Mapping):
        return f"the event is a JSON {json_type(event)}, not an object"
    if event.get("detail-type") != EC2_STATE_CHANGE or event.get("source") != "aws.ec2":
        return f"not an {EC2_STATE_CHANGE} from aws.ec2"
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return "detail is missing or not an object"
    instance_id = detail.get("instance-id")
    if not isinstance(instance_id, str) or _INSTANCE_ID.fullmatch(instance_id) is None:
        return "detail.instance-id is missing or not an instance id"
    time = event.get("time")
    if not isinstance(time, str) or len(time) > _EVENT_TIME_MAX or not _is_time(time):
        return "time is not an RFC 3339 date and time"
    return None


def _is_time(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


# --- Which instances, and under which execution name --------------------------------------------------------------


def skip_reason(instance: Instance, selector: TagSelector | None) -> SkipReason | None:
    """Why this instance is not enrolled now, or None when it should be."""
    if instance.state not in ACTIVE_INSTANCE_STATES:
        return SkipReason.NOT_RUNNING
    if instance.tags.get(ENROLL_TAG, "").strip().lower() == OPT_OUT_VALUE:
        return SkipReason.OPTED_OUT
    if selector is not None and instance.tags.get(selector.key) != selector.value:
        return SkipReason.OUTSIDE_SELECTOR
    if ENROLLED_TAG in instance.tags:
        return SkipReason.ALREADY_ENROLLED
    return None


def execution_name(instance_id: str, launch_time: datetime) -> str:
    """One execution per instance start: the launch event, its duplicates and the sweep all compute this name.

    Execution names are unique per state machine (for 90 days after an execution closes), so a second
    StartExecution for the same start fails with ExecutionAlreadyExists and no second enrollment runs. LaunchTime
    changes on every start, so a stopped-and-started instance is looked at again.
    """
    return f"{instance_id}-{launch_time.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def execution_input(instance: Instance, *, trigger: str, request_id: str) -> ExecutionInput:
    """The execution's input, naming what started it.

    The request id makes every StartExecution's input unique. StartExecution with the name *and input* of a
    running execution succeeds silently (it is idempotent), so without it a duplicate could not be told from a
    start; with it, every duplicate is answered ExecutionAlreadyExists.
    """
    return {
        "InstanceId": instance.instance_id,
        "LaunchTime": instance.launch_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Trigger": trigger,
        "RequestId": request_id,
    }


def unseen_instance_may_appear(event_age_seconds: int) -> bool:
    """Whether EC2 not knowing an instance its launch event names is still eventual consistency (retry the event)."""
    return event_age_seconds < LAUNCH_VISIBILITY_SECONDS


def effective_max_wait(requested: object, default: int) -> int:
    """The execution input's MaxWaitSeconds when it is a sane whole number, else the stack's default."""
    if isinstance(requested, bool) or not isinstance(requested, int) or not 0 <= requested <= 7 * 24 * 3600:
        return default
    return requested


# --- The instance profile -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfilePlan:
    action: ProfileAction
    association_id: str = ""
    role_name: str = ""
    policy_arns: tuple[str, ...] = ()


def current_association(associations: list[ProfileAssociation]) -> ProfileAssociation | None:
    """The association that holds the instance's one profile slot, or one still being removed."""
    for state in ("associated", "associating", "disassociating"):
        for association in associations:
            if association.state == state:
                return association
    return None


def plan_profile(
    association: ProfileAssociation | None,
    existing_role: ExistingRole | None,
    *,
    our_profile_arn: str,
    required_policy_arns: tuple[str, ...],
    mode: ExistingRoleMode,
) -> ProfilePlan:
    """What to do with the instance's profile. `existing_role` describes `association`'s profile when it is not ours."""
    if association is None or association.state == "disassociated":
        return ProfilePlan(ProfileAction.ASSOCIATE)
    if association.state not in ACTIVE_ASSOCIATION_STATES:
        return ProfilePlan(ProfileAction.WAIT, association_id=association.association_id)
    if association.profile_arn == our_profile_arn:
        return ProfilePlan(ProfileAction.NONE, association_id=association.association_id)
    role_name = existing_role.role_name if existing_role is not None else None
    attached = existing_role.attached_policy_arns if existing_role is not None else frozenset()
    missing = tuple(arn for arn in required_policy_arns if arn not in attached)
    attach = mode is ExistingRoleMode.ATTACH
    if role_name is None:
        # A deleted or empty profile gives the instance no credentials: in attach mode it is as good as none.
        action = ProfileAction.REPLACE if attach else ProfileAction.REPORT
    elif not missing:
        action = ProfileAction.NONE
    else:
        action = ProfileAction.ATTACH_POLICIES if attach else ProfileAction.REPORT
    return ProfilePlan(action, association.association_id, role_name or "", missing if role_name else ())


# --- Waiting for the agent ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationCheck:
    outcome: RegistrationOutcome
    waited_seconds: int
    next_check_seconds: int = 0
    agent_version: str = ""


def next_check_delay(waited_seconds: int, max_wait_seconds: int) -> int:
    """Back off with the time already waited, and land the last check on the deadline rather than past it."""
    delay = min(MAX_CHECK_DELAY_SECONDS, max(MIN_CHECK_DELAY_SECONDS, waited_seconds // 4))
    return max(1, min(delay, max_wait_seconds - waited_seconds))


def check_registration(agent: AgentInfo | None, *, waited_seconds: int, max_wait_seconds: int) -> RegistrationCheck:
    """Registered means DescribeInstanceInformation lists the instance with PingStatus Online."""
    if agent is not None and agent.ping_status == "Online":
        return RegistrationCheck(RegistrationOutcome.REGISTERED, waited_seconds, agent_version=agent.agent_version)
    if waited_seconds >= max_wait_seconds:
        return RegistrationCheck(RegistrationOutcome.TIMED_OUT, waited_seconds)
    return RegistrationCheck(
        RegistrationOutcome.WAITING, waited_seconds, next_check_delay(waited_seconds, max_wait_seconds)
    )


_COMMAND_SUCCEEDED = frozenset({"Success"})
_COMMAND_FAILED = frozenset({"Failed", "Cancelled", "TimedOut"})


def agent_update_comment(started_at: str, resends: int) -> str:
    """The Comment that names one send of the agent update. SendCommand takes no client token, so a retried
    SendAgentUpdate looks for its command by this comment (same execution start, same re-send count) instead of
    sending a second update that would find the first one holding the agent's update lock."""
    return f"SessionGuard enrollment {started_at} #{resends}"


@dataclass(frozen=True)
class UpdateCheck:
    outcome: UpdateOutcome
    next_send_seconds: int = 0  # BUSY: how long to wait before sending again
    busy: bool = False  # FAILED because the agent was still busy with another update after the last re-send


def agent_update_was_busy(invocation: AgentUpdateInvocation) -> bool:
    return invocation.status == "Failed" and AGENT_UPDATE_BUSY_OUTPUT in invocation.output.lower()


def resend_delay(resends: int, *, execution_seconds: int, max_wait_seconds: int) -> int | None:
    """Seconds before the next re-send of a refused update, or None when the re-sends or MaxWaitSeconds are spent."""
    if resends >= len(AGENT_UPDATE_RESEND_DELAYS):
        return None
    delay = AGENT_UPDATE_RESEND_DELAYS[resends]
    return delay if execution_seconds + delay <= max_wait_seconds else None


def check_agent_update(
    invocation: AgentUpdateInvocation | None,
    *,
    waited_seconds: int,
    resends: int,
    execution_seconds: int,
    max_wait_seconds: int,
) -> UpdateCheck:
    """`invocation` is None while it does not exist yet (InvocationDoesNotExist). `waited_seconds` counts from this
    send, `execution_seconds` from the execution's start; `resends` is how often the update was sent again."""
    status = invocation.status if invocation is not None else None
    if status in _COMMAND_SUCCEEDED:
        return UpdateCheck(UpdateOutcome.SUCCEEDED)
    if invocation is not None and agent_update_was_busy(invocation):
        delay = resend_delay(resends, execution_seconds=execution_seconds, max_wait_seconds=max_wait_seconds)
        return UpdateCheck(UpdateOutcome.FAILED, busy=True) if delay is None else UpdateCheck(UpdateOutcome.BUSY, delay)
    if status in _COMMAND_FAILED:
        return UpdateCheck(UpdateOutcome.FAILED)
    # Pending, InProgress, Delayed, Cancelling, not yet visible, or a status added after this was written.
    if waited_seconds >= AGENT_UPDATE_MAX_WAIT_SECONDS:
        return UpdateCheck(UpdateOutcome.TIMED_OUT)
    return UpdateCheck(UpdateOutcome.RUNNING)


# --- Failures -----------------------------------------------------------------------------------------------------


class EnrollmentError(Exception):
    """Raised by the adapter and the steps. Step Functions sees the class name as the error name."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.reason}: {failure.detail}" if failure.detail else str(failure.reason))
        self.failure = failure


class RetryableEnrollmentError(EnrollmentError):
    """The state machine retries these with backoff before it reports them."""


class FinalEnrollmentError(EnrollmentError):
    """Retrying cannot help: reported at once."""


def error_for(failure: Failure) -> EnrollmentError:
    return RetryableEnrollmentError(failure) if failure.retryable else FinalEnrollmentError(failure)


# Still throttled after botocore's own retries: the state machine retries later. SNS Publish answers Throttled, and
# KMSThrottling when the encrypted topic's key is throttled; botocore's standard mode does not retry either.
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "Throttled",
        "KMSThrottling",
        "ThrottledException",
    }
)
_UNAVAILABLE_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailure",
        "RequestTimeout",
        "Unavailable",
    }
)
_ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)
_AWS_ERROR_REASONS: Mapping[str, tuple[FailureReason, bool]] = {
    # iam:AttachRolePolicy: the role already has its quota of managed policies (10 unless raised, at most 20).
    "LimitExceeded": (FailureReason.ROLE_POLICY_LIMIT, False),
    # ec2:AssociateIamInstanceProfile: an association exists or is still being created or removed.
    "IncorrectState": (FailureReason.PROFILE_ASSOCIATION_PENDING, True),
    # ssm:SendCommand to an instance that is not (yet) registered.
    "InvalidInstanceId": (FailureReason.AGENT_NOT_READY, True),
    "InvalidInstanceID.NotFound": (FailureReason.INSTANCE_NOT_RUNNING, False),
    # The instance is between states (pending, stopping): the retry looks at it again and ends quietly if it stopped.
    "IncorrectInstanceState": (FailureReason.INSTANCE_NOT_RUNNING, True),
}


def classify_aws_error(code: str, message: str = "") -> Failure:
    detail = f"{code}: {message}" if message else code
    if code in _THROTTLING_CODES:
        return Failure(FailureReason.THROTTLED, True, detail)
    if code in _UNAVAILABLE_CODES:
        return Failure(FailureReason.AWS_UNAVAILABLE, True, detail)
    if code in _ACCESS_DENIED_CODES:
        return Failure(FailureReason.ACCESS_DENIED, False, detail)
    reason, retryable = _AWS_ERROR_REASONS.get(code, (FailureReason.AWS_ERROR, False))
    return Failure(reason, retryable, detail)


_MAX_DETAIL = 500


def classify_step_error(error: str, cause: str) -> Failure:
    """Turn a Step Functions Catch result ({"Error", "Cause"}) back into a Failure.

    For a Lambda exception, Error is the exception class name and Cause a JSON document with errorMessage; our own
    errors carry "reason: detail" there. Anything else (a Lambda timeout, a service error) is an internal error.
    """
    message = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        message = parsed["errorMessage"]
    if error in (RetryableEnrollmentError.__name__, FinalEnrollmentError.__name__):
        code, _, detail = message.partition(": ")
        if code in FailureReason.__members__.values():
            return Failure(FailureReason(code), error == RetryableEnrollmentError.__name__, detail[:_MAX_DETAIL])
    if error.startswith("Lambda.") or error in ("States.Timeout", "Sandbox.Timedout"):
        return Failure(FailureReason.AWS_UNAVAILABLE, False, f"{error}: {message}"[:_MAX_DETAIL])
    return Failure(FailureReason.INTERNAL_ERROR, False, f"{error}: {message}"[:_MAX_DETAIL])


def report_outcome(reason: FailureReason) -> ReportOutcome:
    if reason is FailureReason.INSTANCE_NOT_RUNNING:
        return ReportOutcome.ABANDONED
    if reason is FailureReason.EXISTING_ROLE_NONCOMPLIANT:
        return ReportOutcome.NONCOMPLIANT
    return ReportOutcome.FAILED


def report_tags(reason: FailureReason) -> dict[str, str]:
    """What a reported instance is tagged with, so people can find it in the console."""
    if reason is FailureReason.INSTANCE_NOT_RUNNING:
        return {}
    if reason is FailureReason.EXISTING_ROLE_NONCOMPLIANT:
        return {COMPLIANCE_TAG: NONCOMPLIANT_VALUE}
    tags = {FAILURE_TAG: str(reason)}
    if reason is FailureReason.AGENT_UPDATE_FAILED:
        tags[AGENT_UPDATE_TAG] = "failed"
    elif reason is FailureReason.AGENT_UPDATE_TIMEOUT:
        tags[AGENT_UPDATE_TAG] = "timed-out"
    return tags


def enrolled_tags(enrolled_at: datetime, update_status: str) -> dict[str, str]:
    return {
        ENROLLED_TAG: enrolled_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        AGENT_UPDATE_TAG: update_status.lower() or "unknown",
    }


@dataclass(frozen=True)
class EnrollmentFailureNotice:
    """What the alert topic is told when an instance could not be enrolled: an SNS subject and a JSON message
    (kind, severity, instance, reason code, detail, execution) whose kind, severity and reason are also message
    attributes, so subscription filter policies treat it like the command and guardrail alerts."""

    subject: str
    message: dict[str, str]


def failure_notice(instance_id: str, failure: Failure, execution_id: str) -> EnrollmentFailureNotice:
    outcome = report_outcome(failure.reason)
    what = "is not compliant" if outcome is ReportOutcome.NONCOMPLIANT else "failed"
    return EnrollmentFailureNotice(
        subject=f"SessionGuard: enrollment of {instance_id} {what} ({failure.reason})"[:100],
        message={
            "kind": "enrollment",
            "severity": "medium",
            "instance_id": instance_id,
            "reason": str(failure.reason),
            "detail": failure.detail[:_MAX_DETAIL],
            "execution": execution_id,
        },
    )


def parse_time(text: str) -> datetime:
    """Step Functions context times ("2024-05-01T12:34:56.789Z") and our own ISO strings."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def seconds_between(start: str, end: str) -> int:
    return max(0, int((parse_time(end) - parse_time(start)).total_seconds()))
