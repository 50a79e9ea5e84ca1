"""What each enrollment Lambda does: read through the fleet adapter, decide with `decisions`, act, count.

Each step of the state machine (statemachines/enrollment.asl.json) is named after its state, takes the Task's input
and returns its answer, both typed by `sessionguard.enrollment.contracts` (one TypedDict each way). Times come from
the state machine's context object ($$.Execution.StartTime, $$.State.EnteredTime), so no step reads a clock and a
45-minute registration wait can be exercised offline in milliseconds.

Metrics (EMF, namespace from POWERTOOLS_METRICS_NAMESPACE): EnrollmentsStarted {Trigger}, InstancesEnrolled,
TimeToEnrolled (seconds from execution start), EnrollmentFailures {Reason}, EnrollmentsAbandoned {Reason}.

Also here: the Default Host Management Configuration custom resource, answered through `sessionguard.custom_resource`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent

from sessionguard.adapters.aws import error_code
from sessionguard.adapters.events import EventBus
from sessionguard.adapters.fleet import Fleet, HostManagementSetting, HostManagementState
from sessionguard.alerting.outlets import enrollment_failure_record, put_alert_event
from sessionguard.custom_resource import CustomResourceOutcome, CustomResourceProgress
from sessionguard.enrollment import decisions
from sessionguard.enrollment.contracts import (
    CheckAgentUpdateInput,
    CheckAgentUpdateOutput,
    CheckRegistrationInput,
    CheckRegistrationOutput,
    ExecutionInput,
    MarkEnrolledInput,
    MarkEnrolledOutput,
    PrepareInstanceOutput,
    ReportFailureInput,
    ReportFailureOutput,
    SendAgentUpdateInput,
    SendAgentUpdateOutput,
    StepFailure,
)
from sessionguard.enrollment.decisions import (
    ACTIVE_ASSOCIATION_STATES,
    ACTIVE_INSTANCE_STATES,
    COMPLIANCE_TAG,
    FAILURE_TAG,
    EnrollmentError,
    EnrollmentSettings,
    Failure,
    FailureReason,
    ProfileAction,
    ProfilePlan,
    RegistrationOutcome,
    ReportOutcome,
    RetryableEnrollmentError,
    SkipReason,
    UpdateOutcome,
    agent_update_comment,
    classify_step_error,
    effective_max_wait,
    enrolled_tags,
    execution_input,
    execution_name,
    failure_notice,
    parse_time,
    plan_profile,
    report_outcome,
    report_tags,
    seconds_between,
    skip_reason,
    unseen_instance_may_appear,
)
from sessionguard.observability import logger, metrics

NOT_RUNNING = "not_running"
# A sweep stops starting executions this long before its Lambda timeout; the next sweep picks up the rest.
SWEEP_SAFETY_SECONDS = 15.0


# --- Starting enrollments -----------------------------------------------------------------------------------------


def start_enrollment(
    fleet: Fleet,
    settings: EnrollmentSettings,
    instance_id: str,
    *,
    request_id: str,
    event_time: str,
    received_at: str,
) -> str:
    """For a launch event: "started", "duplicate", or why the instance is skipped.

    An instance EC2 does not know yet, shortly after its launch event, raises a retryable error so that Lambda
    retries the event; only a later attempt counts it as gone.
    """
    instance = fleet.describe_instance(instance_id)
    if instance is None and unseen_instance_may_appear(seconds_between(event_time, received_at)):
        raise RetryableEnrollmentError(
            Failure(
                FailureReason.INSTANCE_NOT_RUNNING,
                True,
                f"ec2:DescribeInstances does not know {instance_id} yet (eventual consistency); the event is retried",
            )
        )
    reason = SkipReason.NOT_RUNNING if instance is None else skip_reason(instance, settings.tag_selector)
    started = False
    if instance is not None and reason is None:
        started = fleet.start_enrollment(
            settings.state_machine_arn,
            execution_name(instance.instance_id, instance.launch_time),
            execution_input(instance, trigger="event", request_id=request_id),
        )
    metrics.add_dimension(name="Trigger", value="event")
    metrics.add_metric(name="EnrollmentsStarted", unit=MetricUnit.Count, value=1 if started else 0)
    result = str(reason) if reason is not None else "started" if started else "duplicate"
    logger.info("Launch event handled", extra={"instance_id": instance_id, "result": result})
    return result


@dataclass
class SweepResult:
    examined: int = 0
    started: int = 0
    duplicates: int = 0
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    stopped_early: bool = False


def sweep_unenrolled(
    fleet: Fleet, settings: EnrollmentSettings, *, request_id: str, seconds_left: Callable[[], float]
) -> SweepResult:
    """Start an enrollment for every running, not yet enrolled instance (missed events, older instances)."""
    result = SweepResult()
    for instance in fleet.running_instances(settings.tag_selector):
        if seconds_left() < SWEEP_SAFETY_SECONDS:
            result.stopped_early = True
            break
        result.examined += 1
        reason = skip_reason(instance, settings.tag_selector)
        if reason is not None:
            result.skipped[str(reason)] += 1
            continue
        try:
            started = fleet.start_enrollment(
                settings.state_machine_arn,
                execution_name(instance.instance_id, instance.launch_time),
                execution_input(instance, trigger="sweep", request_id=request_id),
            )
        except EnrollmentError as error:  # one instance must not stop the sweep; the next sweep tries again
            result.failed += 1
            logger.warning(
                "Could not start enrollment", extra={"instance_id": instance.instance_id, "error": str(error)}
            )
            continue
        if started:
            result.started += 1
        else:
            result.duplicates += 1
    metrics.add_dimension(name="Trigger", value="sweep")
    metrics.add_metric(name="EnrollmentsStarted", unit=MetricUnit.Count, value=result.started)
    logger.info(
        "Sweep finished",
        extra={
            "examined": result.examined,
            "started": result.started,
            "duplicates": result.duplicates,
            "failed": result.failed,
            "skipped": dict(result.skipped),
            "stopped_early": result.stopped_early,
        },
    )
    return result


# --- The state machine's steps ------------------------------------------------------------------------------------


def prepare_instance(fleet: Fleet, settings: EnrollmentSettings, request: ExecutionInput) -> PrepareInstanceOutput:
    """Give the instance a profile that lets its agent register and log sessions.

    Outcome: ready (then MaxWaitSeconds), skipped, not_running, or noncompliant (report mode).
    """
    instance_id = str(request["InstanceId"])
    instance = fleet.describe_instance(instance_id)
    if instance is None or instance.state not in ACTIVE_INSTANCE_STATES:
        return {"Outcome": NOT_RUNNING, "Reason": str(FailureReason.INSTANCE_NOT_RUNNING)}
    reason = skip_reason(instance, settings.tag_selector)
    if reason is not None:
        return {"Outcome": "skipped", "Reason": str(reason)}
    plan = ensure_profile(fleet, settings, instance_id)
    if plan.action is ProfileAction.REPORT:
        missing = ", ".join(arn.rsplit("/", 1)[-1] for arn in plan.policy_arns) or "a usable role"
        return {
            "Outcome": "noncompliant",
            "Reason": str(FailureReason.EXISTING_ROLE_NONCOMPLIANT),
            "Detail": f"existing role {plan.role_name or '(none)'} lacks {missing}; ExistingRoleMode is report",
        }
    logger.info(
        "Instance profile ready",
        extra={"instance_id": instance_id, "action": plan.action, "policies": list(plan.policy_arns)},
    )
    return {
        "Outcome": "ready",
        "Action": str(plan.action),
        "MaxWaitSeconds": effective_max_wait(request.get("MaxWaitSeconds"), settings.default_max_wait_seconds),
    }


def ensure_profile(fleet: Fleet, settings: EnrollmentSettings, instance_id: str) -> ProfilePlan:
    """Plan and carry out the profile change, looking again once if another writer takes the slot first."""
    for _attempt in range(2):
        association = fleet.profile_association(instance_id)
        existing_role = None
        if (
            association is not None
            and association.state in ACTIVE_ASSOCIATION_STATES
            and association.profile_arn != settings.instance_profile_arn
        ):
            existing_role = fleet.existing_role(association.profile_arn)
        plan = plan_profile(
            association,
            existing_role,
            our_profile_arn=settings.instance_profile_arn,
            required_policy_arns=settings.required_policy_arns,
            mode=settings.existing_role_mode,
        )
        match plan.action:
            case ProfileAction.ASSOCIATE:
                if fleet.associate_profile(instance_id, settings.instance_profile_arn):
                    return plan
                # IncorrectState: someone (the launch template, a person, another tool) associated a profile
                # between our look and our write. Look again and judge that profile instead.
                logger.info("Profile slot taken meanwhile; looking again", extra={"instance_id": instance_id})
            case ProfileAction.REPLACE:
                fleet.replace_profile(plan.association_id, settings.instance_profile_arn)
                return plan
            case ProfileAction.ATTACH_POLICIES:
                for policy_arn in plan.policy_arns:
                    fleet.attach_role_policy(plan.role_name, policy_arn)
                return plan
            case ProfileAction.WAIT:
                break
            case _:
                return plan
    raise RetryableEnrollmentError(
        Failure(FailureReason.PROFILE_ASSOCIATION_PENDING, True, f"{instance_id}: profile association in flux")
    )


def check_registration(fleet: Fleet, request: CheckRegistrationInput) -> CheckRegistrationOutput:
    """Outcome: registered, waiting (then NextCheckSeconds), timed_out, or not_running."""
    instance_id = request["InstanceId"]
    instance = fleet.describe_instance(instance_id)
    if instance is None or instance.state not in ACTIVE_INSTANCE_STATES:
        return {"Outcome": NOT_RUNNING, "Reason": str(FailureReason.INSTANCE_NOT_RUNNING)}
    check = decisions.check_registration(
        fleet.agent_info(instance_id),
        waited_seconds=seconds_between(request["StartedAt"], request["CheckedAt"]),
        max_wait_seconds=int(request["MaxWaitSeconds"]),
    )
    result: CheckRegistrationOutput = {
        "Outcome": str(check.outcome),
        "WaitedSeconds": check.waited_seconds,
        "NextCheckSeconds": check.next_check_seconds,
        "AgentVersion": check.agent_version,
    }
    if check.outcome is RegistrationOutcome.TIMED_OUT:
        result["Reason"] = str(FailureReason.REGISTRATION_TIMEOUT)
        result["Detail"] = f"not registered with Systems Manager after {check.waited_seconds} s"
    return result


def send_agent_update(fleet: Fleet, request: SendAgentUpdateInput) -> SendAgentUpdateOutput:
    """Send (or, on a retry of this step, find again) the agent update. Every command of this execution was sent
    after the execution started, which bounds the search."""
    instance_id, started_at, resends = request["InstanceId"], request["StartedAt"], int(request["Resends"])
    command_id = fleet.send_agent_update(
        instance_id, comment=agent_update_comment(started_at, resends), sent_after=parse_time(started_at)
    )
    logger.info("Agent update sent", extra={"instance_id": instance_id, "command_id": command_id, "resends": resends})
    return {"CommandId": command_id, "RequestedAt": request["RequestedAt"], "Resends": resends}


def check_agent_update(fleet: Fleet, request: CheckAgentUpdateInput) -> CheckAgentUpdateOutput:
    """Outcome: succeeded, running, busy (then NextSendSeconds and the new Resends), failed or timed_out."""
    instance_id, command_id, resends = request["InstanceId"], request["CommandId"], int(request["Resends"])
    checked_at = request["CheckedAt"]
    invocation = fleet.agent_update_invocation(command_id, instance_id)
    status = invocation.status if invocation is not None else None
    check = decisions.check_agent_update(
        invocation,
        waited_seconds=seconds_between(request["RequestedAt"], checked_at),
        resends=resends,
        execution_seconds=seconds_between(request["StartedAt"], checked_at),
        max_wait_seconds=int(request["MaxWaitSeconds"]),
    )
    outcome = check.outcome
    result: CheckAgentUpdateOutput = {"Outcome": str(outcome), "CommandStatus": status or "Pending", "Resends": resends}
    if outcome is UpdateOutcome.BUSY:
        logger.info(
            "Agent busy with another update; sending again later",
            extra={"instance_id": instance_id, "command_id": command_id, "seconds": check.next_send_seconds},
        )
        result["Resends"] = resends + 1
        result["NextSendSeconds"] = check.next_send_seconds
    elif outcome is UpdateOutcome.FAILED:
        result["Reason"] = str(FailureReason.AGENT_UPDATE_FAILED)
        result["Detail"] = f"AWS-UpdateSSMAgent command {command_id} ended {status}" + (
            f": another update was still in progress after {resends} re-sends" if check.busy else ""
        )
    elif outcome is UpdateOutcome.TIMED_OUT:
        result["Reason"] = str(FailureReason.AGENT_UPDATE_TIMEOUT)
        result["Detail"] = f"AWS-UpdateSSMAgent command {command_id} still {status or 'not started'}"
    return result


def mark_enrolled(fleet: Fleet, request: MarkEnrolledInput) -> MarkEnrolledOutput:
    """Tag the instance enrolled and count it; an instance gone meanwhile is counted as abandoned."""
    instance_id, enrolled_at = request["InstanceId"], request["EnrolledAt"]
    if not fleet.tag_instance(instance_id, enrolled_tags(parse_time(enrolled_at), request["CommandStatus"])):
        metrics.add_dimension(name="Reason", value=str(FailureReason.INSTANCE_NOT_RUNNING))
        metrics.add_metric(name="EnrollmentsAbandoned", unit=MetricUnit.Count, value=1)
        return {"Outcome": NOT_RUNNING}
    fleet.untag_instance(instance_id, [FAILURE_TAG, COMPLIANCE_TAG])  # left by an earlier, failed attempt
    seconds = seconds_between(request["StartedAt"], enrolled_at)
    metrics.add_metric(name="InstancesEnrolled", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TimeToEnrolled", unit=MetricUnit.Seconds, value=seconds)
    logger.info("Instance enrolled", extra={"instance_id": instance_id, "seconds": seconds})
    return {"Outcome": "enrolled", "Seconds": seconds}


def failure_from(failure: StepFailure) -> Failure:
    """The state machine hands over either a step's own {"Reason", "Detail"} or a Catch's {"Error", "Cause"}."""
    reason = failure.get("Reason")
    if isinstance(reason, str) and reason in FailureReason.__members__.values():
        return Failure(FailureReason(reason), False, str(failure.get("Detail", "")))
    return classify_step_error(str(failure.get("Error", "")), str(failure.get("Cause", "")))


def report_failure(
    fleet: Fleet, settings: EnrollmentSettings, request: ReportFailureInput, events: EventBus | None = None
) -> ReportFailureOutput:
    """Alert, tag and count a failed enrollment; an instance that stopped or vanished meanwhile is only counted.
    With `settings.alert_event_bus`, the alert is also put on that bus (`Enrollment Failure`).

    Outcome: abandoned, noncompliant or failed (the state machine then fails the execution).
    """
    instance_id = request["InstanceId"]
    reported = failure_from(request["Failure"])
    instance = fleet.describe_instance(instance_id)
    if instance is None or instance.state not in ACTIVE_INSTANCE_STATES:
        reported = Failure(FailureReason.INSTANCE_NOT_RUNNING, False, reported.detail)
    outcome = report_outcome(reported.reason)
    log_fields = {"instance_id": instance_id, "reason": reported.reason, "detail": reported.detail}
    if outcome is ReportOutcome.ABANDONED:
        metrics.add_dimension(name="Reason", value=str(reported.reason))
        metrics.add_metric(name="EnrollmentsAbandoned", unit=MetricUnit.Count, value=1)
        logger.info("Enrollment abandoned: instance not running", extra=log_fields)
        return {"Outcome": str(outcome), "Reason": str(reported.reason)}
    # The alert first: it is what people act on, and a tag that cannot be written must not hold it back. Nor may
    # it fail the step once the alert is out: the state machine's retry would publish the alert again.
    notice = failure_notice(instance_id, reported, request["ExecutionId"])
    message_id = fleet.publish_failure_notice(settings.alert_topic_arn, notice)
    if events is not None and settings.alert_event_bus:
        put_failure_event(events, settings.alert_event_bus, notice.message)
    try:
        fleet.tag_instance(instance_id, report_tags(reported.reason))
    except EnrollmentError as error:
        metrics.add_metric(name="EnrollmentTagFailures", unit=MetricUnit.Count, value=1)
        logger.warning("Failure reported but not tagged", extra={**log_fields, "tag_error": str(error.failure.reason)})
    metrics.add_dimension(name="Reason", value=str(reported.reason))
    metrics.add_metric(name="EnrollmentFailures", unit=MetricUnit.Count, value=1)
    logger.warning("Enrollment reported", extra={**log_fields, "message_id": message_id})
    return {"Outcome": str(outcome), "Reason": str(reported.reason)}


def put_failure_event(events: EventBus, bus_name: str, notice: Mapping[str, str]) -> None:
    """The failure notice as an `Enrollment Failure` event, its id stable per execution (a consumer de-duplicates
    a step retry on `alert_id`). A bus that still refuses it after the outlet's own retries is logged and counted
    (`EnrollmentEventFailures`), never raised: the alert is out already, and a failed step would publish it again."""
    execution = notice.get("execution", "")
    parts = execution.split(":")
    account_id, region = (parts[4], parts[3]) if len(parts) > 5 and parts[0] == "arn" else ("", "")
    record = enrollment_failure_record(notice, account_id, region)
    try:
        put_alert_event(events, bus_name, record, f"enrollment#{execution}", time.sleep)
    except Exception as error:
        metrics.add_metric(name="EnrollmentEventFailures", unit=MetricUnit.Count, value=1)
        logger.error("Enrollment failure event not put", extra={"error": error_code(error)})


# --- Default Host Management Configuration (Custom::SessionGuardDefaultHostManagement) ---------------------------

_DHMC_ID_PREFIX = "sessionguard:dhmc:previous="
_DHMC_DEFAULT = "$default"


def _dhmc_physical_id(previous: HostManagementState) -> str:
    """The physical id remembers what the setting was before the stack took it, so Delete can put it back."""
    return _DHMC_ID_PREFIX + (previous.role or _DHMC_DEFAULT)


def _dhmc_previous(physical_id: str) -> HostManagementState | None:
    """None for an id this resource did not create (a failed Create): its Delete must change nothing."""
    if not physical_id.startswith(_DHMC_ID_PREFIX):
        return None
    role = physical_id.removeprefix(_DHMC_ID_PREFIX)
    return HostManagementState(None if role == _DHMC_DEFAULT else role)


def configure_host_management(
    setting: HostManagementSetting, event: CloudFormationCustomResourceEvent, progress: CustomResourceProgress
) -> CustomResourceOutcome:
    """Create/Update point the region's DHMC at the stack's role; Delete restores the earlier value if the
    setting still names the stack's role (someone who changed it since keeps their change)."""
    role = str(event.resource_properties.get("RoleName", "")).strip()
    if event.request_type in ("Create", "Update") and not role:
        raise ValueError("RoleName is required")
    if event.request_type == "Create":
        progress.step = "reading the Default Host Management Configuration setting"
        current = setting.current()
        previous = current if current.role != role else HostManagementState(None)
        progress.physical_resource_id = _dhmc_physical_id(previous)
        progress.step = f"pointing Default Host Management Configuration at {role}"
        setting.set_role(role)
        return CustomResourceOutcome(progress.physical_resource_id, {"RoleName": role}, f"DHMC uses {role}")
    if event.request_type == "Update":
        progress.physical_resource_id = event.physical_resource_id
        progress.step = f"pointing Default Host Management Configuration at {role}"
        setting.set_role(role)
        return CustomResourceOutcome(event.physical_resource_id, {"RoleName": role}, f"DHMC uses {role}")
    earlier = _dhmc_previous(event.physical_resource_id)
    if earlier is None:
        return CustomResourceOutcome(event.physical_resource_id, reason="nothing was changed; nothing to undo")
    progress.step = "reading the Default Host Management Configuration setting"
    if setting.current().role != role:
        return CustomResourceOutcome(event.physical_resource_id, reason="setting changed by someone else; kept")
    progress.step = "restoring the earlier Default Host Management Configuration"
    setting.restore(earlier)
    return CustomResourceOutcome(event.physical_resource_id, reason=f"restored {earlier.role or 'the default'}")
