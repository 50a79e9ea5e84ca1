"""Automatic enrollment: every handler of the enrollment functions (one CodeUri, one Handler each).

- on_instance_running         EventBridge "EC2 Instance State-change Notification" (running) -> start an execution
- sweep_unenrolled_instances  schedule, and CloudFormation stack create/update complete -> start executions
- prepare_instance, check_registration, send_agent_update, check_agent_update, mark_enrolled, report_failure
                              the steps of statemachines/enrollment.asl.json
- on_host_management_resource Custom::SessionGuardDefaultHostManagement (optional DHMC)

Each parses its event and calls one function of sessionguard.enrollment.steps (see docs/enrollment.md).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes import (
    CloudFormationCustomResourceEvent,
    EventBridgeEvent,
    event_source,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from sessionguard.adapters.events import EventBridgeBus
from sessionguard.adapters.fleet import Fleet, HostManagementSetting
from sessionguard.custom_resource import answer_custom_resource
from sessionguard.enrollment import contracts, steps
from sessionguard.enrollment.decisions import EnrollmentSettings, launch_event_problem
from sessionguard.observability import logger, metrics, tracer


@cache
def fleet() -> Fleet:
    return Fleet.connect()


@cache
def event_bus() -> EventBridgeBus:
    return EventBridgeBus()


@cache
def settings() -> EnrollmentSettings:
    return EnrollmentSettings.from_env(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=EventBridgeEvent)
def on_instance_running(event: EventBridgeEvent, context: LambdaContext) -> dict[str, str]:
    # The rule sends only running instances' state changes; anything else (a hand-sent or forged event, a test) is
    # checked first: ignored with its reason, never an enrollment. The hourly sweep enrolls what this misses.
    problem = launch_event_problem(event.raw_event)
    if problem is not None:
        logger.warning("Launch event ignored", extra={"reason": problem})
        return {"InstanceId": "", "Result": "ignored", "Reason": problem}
    instance_id = str(event.detail["instance-id"])
    if event.detail.get("state") != "running":  # the rule filters on it; a hand-sent test event may not
        return {"InstanceId": instance_id, "Result": "ignored", "Reason": "the instance is not running"}
    result = steps.start_enrollment(
        fleet(),
        settings(),
        instance_id,
        request_id=context.aws_request_id,
        event_time=event.time,
        received_at=datetime.now(UTC).isoformat(),
    )
    return {"InstanceId": instance_id, "Result": result}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=EventBridgeEvent)
def sweep_unenrolled_instances(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    logger.info("Sweep triggered", extra={"detail_type": event.detail_type, "event_id": event.get_id})
    result = steps.sweep_unenrolled(
        fleet(),
        settings(),
        request_id=context.aws_request_id,
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    return {
        "Examined": result.examined,
        "Started": result.started,
        "Duplicates": result.duplicates,
        "Failed": result.failed,
        "Skipped": dict(result.skipped),
        "StoppedEarly": result.stopped_early,
    }


# --- State machine steps: the input is the Task state's Parameters, passed through as it is -----------------------
# Only the steps that count something flush metrics (an empty flush logs a warning on every invocation).


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def prepare_instance(event: contracts.ExecutionInput, context: LambdaContext) -> contracts.PrepareInstanceOutput:
    return steps.prepare_instance(fleet(), settings(), event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def check_registration(
    event: contracts.CheckRegistrationInput, context: LambdaContext
) -> contracts.CheckRegistrationOutput:
    return steps.check_registration(fleet(), event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def send_agent_update(event: contracts.SendAgentUpdateInput, context: LambdaContext) -> contracts.SendAgentUpdateOutput:
    return steps.send_agent_update(fleet(), event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def check_agent_update(
    event: contracts.CheckAgentUpdateInput, context: LambdaContext
) -> contracts.CheckAgentUpdateOutput:
    return steps.check_agent_update(fleet(), event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def mark_enrolled(event: contracts.MarkEnrolledInput, context: LambdaContext) -> contracts.MarkEnrolledOutput:
    return steps.mark_enrolled(fleet(), event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def report_failure(event: contracts.ReportFailureInput, context: LambdaContext) -> contracts.ReportFailureOutput:
    return steps.report_failure(fleet(), settings(), event, events=event_bus())


# --- Optional Default Host Management Configuration ---------------------------------------------------------------


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=CloudFormationCustomResourceEvent)
def on_host_management_resource(event: CloudFormationCustomResourceEvent, context: LambdaContext) -> None:
    setting = HostManagementSetting.connect()
    answer_custom_resource(
        event, context, lambda request, progress: steps.configure_host_management(setting, request, progress)
    )
