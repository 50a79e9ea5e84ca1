"""The enrollment state machine, run end to end offline: its ASL interpreted, its Tasks calling the real handlers.

There is no Step Functions Local here, and moto's Step Functions cannot run Lambda code without Docker, so
`demo.asl.AslInterpreter` (shared with `make demo`) runs the subset of ASL the definition uses (Task, Choice, Wait,
Pass, Succeed, Fail; InputPath, Parameters, ResultPath; Retry and Catch) on a virtual clock, and fails loudly on
anything else. Task states call the handlers of functions/enrollment/app.py with moto behind the fleet adapter,
the in-memory SSM inventory for agent registration, and a scripted SSM double where a test needs a command to fail.

The definition itself is also checked: cfn-lint's ASL schema, reachability, and that every placeholder is
substituted by template.yaml with a handler that exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cfnlint.api import ManualArgs, lint
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse
from sessionguard.adapters.fleet import Fleet
from sessionguard.enrollment.decisions import (
    AGENT_UPDATE_CHECK_SECONDS,
    AGENT_UPDATE_RESEND_DELAYS,
    AGENT_UPDATE_TAG,
    COMPLIANCE_TAG,
    ENROLL_TAG,
    ENROLLED_TAG,
    FAILURE_TAG,
    EnrollmentSettings,
    ExistingRoleMode,
)
from sessionguard.observability import metrics

from demo.asl import AslInterpreter, Execution
from demo.fakes import InMemoryInstanceInformation
from tests import support
from tests.support import add_ssm_core_policy, instance_tags, launch_instance, load_function

REPO = Path(__file__).resolve().parents[2]
DEFINITION: dict[str, Any] = json.loads((REPO / "statemachines/enrollment.asl.json").read_text())
TEMPLATE = REPO / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sessionguard-enrollment"
LAUNCH = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)


app = load_function("enrollment", "enrollment_app_sm")


# --- The world the executions run in ------------------------------------------------------------------------------


FakeLambdaContext = partial(
    support.FakeLambdaContext,
    function_name="sessionguard-EnrollStepFunction-1A2B3C4D5E6F",
    invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sessionguard-EnrollStepFunction",
    aws_request_id="0d1c2b3a-4f5e-6d7c-8b9a-0f1e2d3c4b5a",
    remaining_ms=30_000,
)


class ScriptedSsm:
    """moto's SSM client, except for what a test scripts: SendCommand errors, then invocation statuses (a status,
    or a status and the output the agent wrote)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.send_errors: list[str] = []
        self.statuses: list[str | tuple[str, str]] = []

    def send_command(self, **kwargs: Any) -> Any:
        if self.send_errors:
            code = self.send_errors.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": "scripted"}}, "SendCommand")
        return self.real.send_command(**kwargs)

    def get_command_invocation(self, **kwargs: Any) -> Any:
        if not self.statuses:
            return self.real.get_command_invocation(**kwargs)
        scripted = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        status, output = scripted if isinstance(scripted, tuple) else (scripted, "")
        return {
            "CommandId": kwargs["CommandId"],
            "InstanceId": kwargs["InstanceId"],
            "Status": status,
            "StandardOutputContent": output,
            "StandardErrorContent": "",
        }

    def sent(self, instance_id: str) -> list[str]:
        """The AWS-UpdateSSMAgent commands sent to the instance, oldest first."""
        return [c["CommandId"] for c in self.real.list_commands(InstanceId=instance_id)["Commands"]]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@dataclass
class World:
    fleet: Fleet
    settings: EnrollmentSettings
    inventory: InMemoryInstanceInformation
    ssm: ScriptedSsm
    ec2: Any
    iam: Any
    sqs: Any
    queue_url: str

    def launch(self, *, profile_arn: str | None = None, **tags: str) -> str:
        return launch_instance(self.ec2, profile_arn=profile_arn, **tags)

    def tags_of(self, instance_id: str) -> dict[str, str]:
        return instance_tags(self.ec2, instance_id)

    def alerts(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


@pytest.fixture(autouse=True)
def clean_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mock_aws():
        add_ssm_core_policy(ACCOUNT, REGION)
        iam = boto3.client("iam", region_name=REGION)
        ec2 = boto3.client("ec2", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        trust = json.dumps({"Version": "2012-10-17", "Statement": []})
        iam.create_role(RoleName="SessionInstanceRole", AssumeRolePolicyDocument=trust)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
        logging_arn = iam.create_policy(PolicyName="SessionLoggingPolicy", PolicyDocument=json.dumps(policy))
        ours = iam.create_instance_profile(InstanceProfileName="SessionInstanceProfile")["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName="SessionInstanceProfile", RoleName="SessionInstanceRole")
        topic = sns.create_topic(Name="sessionguard-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts-reader")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        inventory = InMemoryInstanceInformation()
        ssm = ScriptedSsm(boto3.client("ssm", region_name=REGION))
        fleet = Fleet(
            ec2=ec2,
            iam=iam,
            ssm=ssm,  # type: ignore[arg-type]
            sns=sns,
            sfn=boto3.client("stepfunctions", region_name=REGION),
            instance_information=inventory,
        )
        settings = EnrollmentSettings(
            state_machine_arn=MACHINE_ARN,
            instance_profile_arn=ours,
            logging_policy_arn=logging_arn["Policy"]["Arn"],
            alert_topic_arn=topic,
            existing_role_mode=ExistingRoleMode.ATTACH,
        )
        world = World(fleet, settings, inventory, ssm, ec2, iam, sqs, queue_url)
        monkeypatch.setattr(app, "fleet", lambda: world.fleet)
        monkeypatch.setattr(app, "settings", lambda: world.settings)
        yield world


STEP_HANDLERS = {
    "${PrepareFunctionArn}": "prepare_instance",
    "${CheckRegistrationFunctionArn}": "check_registration",
    "${SendAgentUpdateFunctionArn}": "send_agent_update",
    "${CheckAgentUpdateFunctionArn}": "check_agent_update",
    "${MarkEnrolledFunctionArn}": "mark_enrolled",
    "${ReportFailureFunctionArn}": "report_failure",
}


def tasks() -> dict[str, Callable[[Any], Any]]:
    def call(handler: str) -> Callable[[Any], Any]:
        return lambda payload: getattr(app, handler)(payload, FakeLambdaContext())

    return {resource: call(handler) for resource, handler in STEP_HANDLERS.items()}


def execute(
    instance_id: str,
    *,
    registers_after: float | None = None,
    before_state: Callable[[str, datetime], None] | None = None,
    world: World,
    **execution_input: Any,
) -> Execution:
    """Run one execution; the instance's agent registers `registers_after` seconds in (None: never)."""
    start = LAUNCH + timedelta(seconds=30)

    def timeline(state: str, now: datetime) -> None:
        registered = instance_id in world.inventory.entries
        if registers_after is not None and not registered and now >= start + timedelta(seconds=registers_after):
            world.inventory.register(instance_id)
        if before_state is not None:
            before_state(state, now)

    interpreter = AslInterpreter(DEFINITION, tasks(), start=start, before_state=timeline, state_machine_arn=MACHINE_ARN)
    return interpreter.run({"InstanceId": instance_id, "LaunchTime": "2024-05-01T12:34:56Z", **execution_input})


def emitted(output: str) -> list[dict[str, Any]]:
    """The EMF documents the handlers printed: one dict of metric values and dimensions each."""
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            document.pop("_aws")
            documents.append(document)
    return documents


HAPPY_PATH = [
    "PrepareInstance",
    "IsInstanceReady",
    "CheckRegistration",
    "IsRegistered",
    "StartAgentUpdate",
    "SendAgentUpdate",
    "WaitForAgentUpdate",
    "CheckAgentUpdate",
    "IsAgentUpdated",
    "MarkEnrolled",
    "Enrolled",
]


# --- Paths through the state machine -------------------------------------------------------------------------


def test_registered_at_once_goes_straight_through(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    instance_id = world.launch()
    run = execute(instance_id, registers_after=0, world=world)
    assert run.status == "SUCCEEDED"
    assert run.visited == HAPPY_PATH
    tags = world.tags_of(instance_id)
    assert tags[AGENT_UPDATE_TAG] == "success"
    assert ENROLLED_TAG in tags
    assert world.alerts() == []
    enrolled = next(d for d in emitted(capsys.readouterr().out) if "InstancesEnrolled" in d)
    assert enrolled["InstancesEnrolled"] == [1.0]
    assert 30 <= enrolled["TimeToEnrolled"][0] <= 60


def test_registered_late_is_waited_for_by_wait_states_not_lambdas(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_id = world.launch()
    run = execute(instance_id, registers_after=25 * 60, world=world)
    assert run.status == "SUCCEEDED"
    assert run.end_state == "Enrolled"
    checks = run.count("CheckRegistration")
    assert 5 < checks < 40  # backed off: neither every few seconds nor once at the end
    assert run.count("WaitForRegistration") == checks - 1
    assert run.waited_seconds >= 25 * 60
    # Lambdas ran for 1 virtual second each; the rest of the time was spent in Wait states.
    assert run.elapsed_seconds - run.waited_seconds <= len([s for s in run.visited if "Check" in s or "Send" in s]) + 5
    enrolled = next(d for d in emitted(capsys.readouterr().out) if "TimeToEnrolled" in d)
    assert enrolled["TimeToEnrolled"][0] >= 25 * 60


def test_never_registered_times_out_at_45_minutes_and_is_reported(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_id = world.launch()
    run = execute(instance_id, world=world)
    assert run.status == "FAILED"
    assert run.error == "EnrollmentFailed"
    assert run.visited[-4:] == ["RegistrationEndedEarly", "ReportFailure", "WasReported", "EnrollmentFailed"]
    assert 45 * 60 <= run.elapsed_seconds <= 45 * 60 + 60
    [alert] = world.alerts()
    assert (alert["instance_id"], alert["reason"]) == (instance_id, "registration_timeout")
    assert world.tags_of(instance_id)[FAILURE_TAG] == "registration_timeout"
    failure = next(d for d in emitted(capsys.readouterr().out) if "EnrollmentFailures" in d)
    assert failure["Reason"] == "registration_timeout"


def test_max_wait_seconds_in_the_input_bounds_the_wait(world: World) -> None:
    run = execute(world.launch(), world=world, MaxWaitSeconds=600)
    assert run.status == "FAILED"
    assert 600 <= run.elapsed_seconds <= 660


def test_failed_agent_update_is_reported_and_tagged(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    instance_id = world.launch()
    world.ssm.statuses = ["InProgress", "InProgress", "Failed"]
    run = execute(instance_id, registers_after=0, world=world)
    assert run.status == "FAILED"
    assert run.count("CheckAgentUpdate") == 3
    assert "AgentUpdateEndedEarly" in run.visited
    [alert] = world.alerts()
    assert alert["reason"] == "agent_update_failed"
    tags = world.tags_of(instance_id)
    assert tags[AGENT_UPDATE_TAG] == "failed"
    assert ENROLLED_TAG not in tags
    failure = next(d for d in emitted(capsys.readouterr().out) if "EnrollmentFailures" in d)
    assert failure["Reason"] == "agent_update_failed"


def test_agent_update_that_never_finishes_times_out(world: World) -> None:
    world.ssm.statuses = ["InProgress"]
    run = execute(world.launch(), registers_after=0, world=world)
    assert run.status == "FAILED"
    assert world.alerts()[0]["reason"] == "agent_update_timeout"


def test_agent_not_ready_for_commands_yet_is_retried_with_backoff(world: World) -> None:
    instance_id = world.launch()
    world.ssm.send_errors = ["InvalidInstanceId", "InvalidInstanceId"]
    run = execute(instance_id, registers_after=0, world=world)
    assert run.status == "SUCCEEDED"
    assert [(state, error) for state, error, _ in run.retries] == [("SendAgentUpdate", "RetryableEnrollmentError")] * 2
    assert [delay for _, _, delay in run.retries] == [15, 30]


def test_agent_never_ready_for_commands_is_reported_after_the_retries(world: World) -> None:
    world.ssm.send_errors = ["InvalidInstanceId"] * 20
    run = execute(world.launch(), registers_after=0, world=world)
    assert run.status == "FAILED"
    assert len(run.retries) == 6
    assert world.alerts()[0]["reason"] == "agent_not_ready"


BUSY = "Another update in progress, try again later"


def test_an_update_refused_while_the_association_updates_the_agent_is_sent_again(world: World) -> None:
    # Given the stack's AgentUpdateAssociation updating the agent as it registers: ours fails on the update lock
    instance_id = world.launch()
    world.ssm.statuses = [("Failed", BUSY), "Success"]
    # When the execution runs
    run = execute(instance_id, registers_after=0, world=world)
    # Then it waits, sends the update once more, and enrolls the instance without an alert
    assert (run.status, run.end_state) == ("SUCCEEDED", "Enrolled")
    assert run.count("WaitBeforeResend") == 1
    assert run.count("SendAgentUpdate") == 2
    assert len(world.ssm.sent(instance_id)) == 2
    assert world.alerts() == []
    assert ENROLLED_TAG in world.tags_of(instance_id)


def test_an_agent_busy_after_every_re_send_is_reported_as_a_failed_update(world: World) -> None:
    instance_id = world.launch()
    world.ssm.statuses = [("Failed", BUSY)]
    run = execute(instance_id, registers_after=0, world=world)
    assert run.status == "FAILED"
    assert run.count("SendAgentUpdate") == 1 + len(AGENT_UPDATE_RESEND_DELAYS)
    [alert] = world.alerts()
    assert alert["reason"] == "agent_update_failed"
    assert "another update was still in progress" in alert["detail"]
    assert world.tags_of(instance_id)[AGENT_UPDATE_TAG] == "failed"


def test_re_sends_stay_within_max_wait_seconds(world: World) -> None:
    world.ssm.statuses = [("Failed", BUSY)]
    run = execute(world.launch(), registers_after=0, world=world, MaxWaitSeconds=300)
    assert run.status == "FAILED"
    assert run.count("SendAgentUpdate") == 3  # 60 s and 120 s fit in 300 s; 240 s more does not
    assert run.elapsed_seconds <= 300 + AGENT_UPDATE_CHECK_SECONDS * 2


class LambdaError(Exception):
    """What Step Functions reports when a Lambda invocation fails outside the code's own exceptions."""


def lambda_error(name: str) -> LambdaError:
    return type(name, (LambdaError,), {})()


def test_a_send_whose_lambda_failed_after_sending_is_retried_without_a_second_update(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SendAgentUpdate whose first invocation sends the command and then times out
    instance_id = world.launch()
    send = app.send_agent_update
    calls: list[str] = []

    def sends_then_times_out(event: Any, context: Any) -> Any:
        result = send(event, context)
        calls.append(result["CommandId"])
        if len(calls) == 1:
            raise lambda_error("Sandbox.Timedout")
        return result

    monkeypatch.setattr(app, "send_agent_update", sends_then_times_out)
    # When the execution runs
    run = execute(instance_id, registers_after=0, world=world)
    # Then the retry answers the command already sent: the agent gets one update
    assert run.end_state == "Enrolled"
    assert run.retries == [("SendAgentUpdate", "Sandbox.Timedout", 2)]
    assert calls[0] == calls[1]
    assert len(world.ssm.sent(instance_id)) == 1


@pytest.mark.parametrize("state", ["PrepareInstance", "CheckRegistration", "CheckAgentUpdate", "MarkEnrolled"])
def test_a_lambda_timeout_is_retried(world: World, monkeypatch: pytest.MonkeyPatch, state: str) -> None:
    handler = STEP_HANDLERS[DEFINITION["States"][state]["Resource"]]
    step = getattr(app, handler)
    timed_out: list[bool] = []

    def times_out_once(event: Any, context: Any) -> Any:
        if not timed_out:
            timed_out.append(True)
            raise lambda_error("Sandbox.Timedout")
        return step(event, context)

    monkeypatch.setattr(app, handler, times_out_once)
    run = execute(world.launch(), registers_after=0, world=world)
    assert run.end_state == "Enrolled"
    assert [(name, error) for name, error, _ in run.retries] == [(state, "Sandbox.Timedout")]


def test_a_report_that_cannot_be_sent_fails_the_execution_where_the_alarm_sees_it(world: World) -> None:
    # Given SNS throttling every Publish (Throttled is SNS's own code, not in botocore's retry list)
    instance_id = world.launch()

    def throttle(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "Throttled", "Message": "Rate exceeded"}}, "Publish")

    world.fleet.sns.meta.events.register("before-parameter-build.sns.Publish", throttle)
    # When an enrollment fails and is reported
    run = execute(instance_id, world=world, MaxWaitSeconds=300)
    # Then the report is retried as throttled, and the execution ends in ReportFailed (ExecutionsFailed, alarmed)
    assert {error for state, error, _ in run.retries if state == "ReportFailure"} == {"RetryableEnrollmentError"}
    assert (run.status, run.end_state, run.error) == ("FAILED", "ReportFailed", "EnrollmentNotReported")
    assert run.output["reportError"]["Error"] == "RetryableEnrollmentError"
    assert run.output["failure"]["Reason"] == "registration_timeout"


def test_instance_terminated_during_the_wait_ends_quietly(world: World) -> None:
    instance_id = world.launch()

    def terminate_after_ten_minutes(state: str, now: datetime) -> None:
        if now >= LAUNCH + timedelta(minutes=10) and state == "CheckRegistration":
            world.ec2.terminate_instances(InstanceIds=[instance_id])

    run = execute(instance_id, world=world, before_state=terminate_after_ten_minutes)
    assert run.status == "SUCCEEDED"
    assert run.end_state == "InstanceNotRunning"
    assert run.elapsed_seconds < 15 * 60
    assert world.alerts() == []


def test_instance_stopped_before_the_agent_update_fails_quietly(world: World) -> None:
    instance_id = world.launch()
    world.ssm.statuses = ["Failed"]

    def stop_before_checking(state: str, now: datetime) -> None:
        if state == "CheckAgentUpdate":
            world.ec2.stop_instances(InstanceIds=[instance_id])

    run = execute(instance_id, registers_after=0, world=world, before_state=stop_before_checking)
    assert run.end_state == "InstanceNotRunning"
    assert world.alerts() == []


def test_opted_out_instance_is_skipped(world: World) -> None:
    run = execute(world.launch(**{ENROLL_TAG: "false"}), world=world)
    assert (run.status, run.end_state) == ("SUCCEEDED", "Skipped")
    assert run.visited == ["PrepareInstance", "IsInstanceReady", "Skipped"]


def test_report_mode_alerts_and_ends_without_waiting(world: World) -> None:
    world.settings = EnrollmentSettings(**{**world.settings.__dict__, "existing_role_mode": ExistingRoleMode.REPORT})
    world.iam.create_role(RoleName="web", AssumeRolePolicyDocument="{}")
    profile = world.iam.create_instance_profile(InstanceProfileName="web")["InstanceProfile"]["Arn"]
    world.iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="web")
    instance_id = world.launch(profile_arn=profile)
    run = execute(instance_id, world=world)
    assert (run.status, run.end_state) == ("SUCCEEDED", "ReportedNotCompliant")
    assert "CheckRegistration" not in run.visited
    assert world.alerts()[0]["reason"] == "existing_role_noncompliant"
    assert world.tags_of(instance_id)[COMPLIANCE_TAG] == "noncompliant"


def test_final_errors_are_not_retried_and_keep_their_reason(world: World) -> None:
    instance_id = world.launch()
    world.settings = EnrollmentSettings(**{**world.settings.__dict__, "instance_profile_arn": "arn:aws:iam::1:x/y"})

    def deny_associate(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "AssociateIamInstanceProfile")

    world.fleet.ec2.meta.events.register("before-parameter-build.ec2.AssociateIamInstanceProfile", deny_associate)
    run = execute(instance_id, world=world)
    assert run.status == "FAILED"
    assert run.retries == []
    assert world.alerts()[0]["reason"] == "access_denied"


def test_a_bug_in_a_step_is_caught_and_reported_as_internal_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event: Any, context: Any) -> Any:
        return event["NoSuchKey"]

    monkeypatch.setattr(app, "check_agent_update", broken)
    run = execute(world.launch(), registers_after=0, world=world)
    assert run.status == "FAILED"
    alert = world.alerts()[0]
    assert alert["reason"] == "internal_error"
    assert "KeyError" in alert["detail"]


def test_duplicate_executions_for_one_instance_change_nothing_twice(world: World) -> None:
    instance_id = world.launch()
    first = execute(instance_id, registers_after=0, world=world)
    again = execute(instance_id, registers_after=0, world=world)
    assert first.end_state == "Enrolled"
    assert again.end_state == "Skipped"  # the enrolled tag says so


# --- The definition itself ------------------------------------------------------------------------------------


def substituted(definition: Mapping[str, Any]) -> dict[str, Any]:
    text = json.dumps(definition)
    for name in set(re.findall(r"\$\{(\w+)\}", text)):
        text = text.replace(f"${{{name}}}", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sessionguard-{name}")
    result: dict[str, Any] = json.loads(text)
    return result


def test_definition_passes_cfn_lints_state_machine_schema() -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r", "Definition": substituted(DEFINITION)},
            }
        },
    }
    assert [str(match) for match in lint(json.dumps(template), config=ManualArgs(regions=[REGION]))] == []


def test_cfn_lint_would_catch_a_broken_definition() -> None:
    broken = substituted(DEFINITION)
    broken["States"]["WaitForAgentUpdate"]["Seconds"] = "thirty"
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r", "Definition": broken},
            }
        }
    }
    assert any("E3601" in str(m) for m in lint(json.dumps(template), config=ManualArgs(regions=[REGION])))


def successors(state: Mapping[str, Any]) -> set[str]:
    found = {state["Next"]} if "Next" in state else set()
    found |= {c["Next"] for c in state.get("Choices", [])}
    found |= {c["Next"] for c in state.get("Catch", [])}
    if "Default" in state:
        found.add(state["Default"])
    return found


def test_every_state_is_reachable_and_every_transition_lands_on_a_state() -> None:
    states = DEFINITION["States"]
    seen, todo = set(), [DEFINITION["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        assert name in states, f"transition to missing state {name}"
        todo.extend(successors(states[name]))
    assert seen == set(states)


def test_only_interpreted_state_types_and_no_intrinsic_functions_are_used() -> None:
    assert {s["Type"] for s in DEFINITION["States"].values()} <= {"Task", "Choice", "Wait", "Pass", "Succeed", "Fail"}
    assert "States." not in json.dumps(DEFINITION).replace("States.ALL", "")


def test_every_task_retries_lambda_service_errors_and_timeouts_and_every_error_is_caught() -> None:
    for name, state in DEFINITION["States"].items():
        if state["Type"] != "Task":
            continue
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException", "Sandbox.Timedout"} <= retried, name
        assert "FinalEnrollmentError" not in retried, name
        if name != "ReportFailure":
            assert state["Catch"] == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "ReportFailure"}
            ]
    (caught,) = DEFINITION["States"]["ReportFailure"]["Catch"]
    assert caught["ErrorEquals"] == ["States.ALL"]
    assert DEFINITION["States"][caught["Next"]]["Type"] == "Fail"


def test_no_lambda_waits_the_registration_loop_is_a_wait_state() -> None:
    wait = DEFINITION["States"]["WaitForRegistration"]
    assert wait["Type"] == "Wait"
    assert wait["Next"] == "CheckRegistration"


def test_template_substitutes_every_placeholder_with_a_function_whose_handler_exists() -> None:
    fragment = yaml_parse(TEMPLATE.read_text())
    resources = fragment["Resources"]
    machine = resources["EnrollmentStateMachine"]["Properties"]
    assert machine["DefinitionUri"] == "statemachines/enrollment.asl.json"
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(DEFINITION)))
    assert set(machine["DefinitionSubstitutions"]) == placeholders
    for placeholder, value in machine["DefinitionSubstitutions"].items():
        function = resources[value["Fn::GetAtt"][0]]["Properties"]
        handler = function["Handler"].removeprefix("app.")
        assert function["CodeUri"] == "functions/enrollment/"
        assert handler == STEP_HANDLERS[f"${{{placeholder}}}"]
        assert callable(getattr(app, handler))
    invoked = resources["EnrollmentStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert sorted(r["Fn::GetAtt"][0] for r in invoked["Resource"]) == sorted(
        v["Fn::GetAtt"][0] for v in machine["DefinitionSubstitutions"].values()
    )


def test_every_enrollment_function_in_the_template_names_a_handler_that_exists() -> None:
    for name, resource in yaml_parse(TEMPLATE.read_text())["Resources"].items():
        if (
            resource["Type"] == "AWS::Serverless::Function"
            and resource["Properties"]["CodeUri"] == "functions/enrollment/"
        ):
            handler = resource["Properties"]["Handler"]
            assert handler.startswith("app."), name
            assert callable(getattr(app, handler.removeprefix("app."))), name
