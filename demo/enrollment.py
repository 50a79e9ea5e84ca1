"""An instance launched without a profile, enrolled by the deployed enrollment path.

EventBridge rule -> EnrollTriggerFunction -> a Step Functions execution -> the enrollment step functions. The
emulator's EventBridge cannot invoke Lambda targets and its Step Functions cannot run Lambda tasks, so:

- `deliver_to_rules` matches the event against every deployed rule (the emulator's own matcher) and invokes the
  Lambda targets of those that match, in-process;
- `run_executions` takes each execution the emulator recorded and runs it through the state machine's deployed
  definition (demo.asl, on a virtual clock), each Task invoking the function its Resource names.

There are no SSM agents in the emulator either: the fleet adapter reads agent registration from an in-memory SSM
inventory (`sessionguard.adapters.fleet.InMemoryInstanceInformation`, the same fake the tests use), and the demo
registers the instance there when the virtual clock reaches `registration_after` seconds, which is what the
instance's agent does once it finds the profile's credentials.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3

from demo.asl import AslInterpreter
from demo.emulator import ACCOUNT_ID, REGION, event_matches
from demo.fakes import InMemoryInstanceInformation
from demo.lambdas import LocalLambda

AMAZON_LINUX_AMI = "ami-12c6146b"  # in the emulator's built-in AMI list
INSTANCE_TYPE: Final = "t3.micro"
AGENT_UPDATE_DOCUMENT = "AWS-UpdateSSMAgent"


@dataclass(frozen=True)
class RuleDelivery:
    rule: str
    function: str  # logical id
    result: Any


@dataclass(frozen=True)
class StepRecord:
    state: str
    at_seconds: float  # virtual time since the execution started
    result: Any


@dataclass
class ExecutionRun:
    name: str
    instance_id: str
    status: str  # SUCCEEDED | FAILED
    end_state: str
    error: str
    elapsed_seconds: float
    waited_seconds: float
    steps: list[StepRecord] = field(default_factory=list)
    registered_at: float | None = None  # virtual seconds at which the demo registered the agent


@dataclass(frozen=True)
class EnrollmentFacts:
    """What the emulator holds about an instance afterwards, read through the public APIs."""

    instance_id: str
    profile_arn: str | None
    association_state: str | None
    agent_update_command_id: str | None
    agent_update_status: str | None
    tags: dict[str, str]

    def record(self) -> dict[str, Any]:
        """The entry of .demo/enrollment.json."""
        return {
            "instance_id": self.instance_id,
            "profile_attached": self.profile_arn is not None and self.association_state == "associated",
            "agent_update_command_id": self.agent_update_command_id,
            "instance_profile_arn": self.profile_arn,
            "agent_update_status": self.agent_update_status,
            "tags": self.tags,
        }


def launch_instance() -> str:
    """An Amazon Linux instance with no instance profile: its agent cannot register until it gets one."""
    reservation = boto3.client("ec2").run_instances(
        ImageId=AMAZON_LINUX_AMI,
        InstanceType=INSTANCE_TYPE,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "sessionguard-demo"}]}],
    )
    instance_id: str = reservation["Instances"][0]["InstanceId"]
    return instance_id


def state_change_event(instance_id: str, state: str = "running") -> dict[str, Any]:
    """The EventBridge event EC2 sends (events/ec2-instance-running.json has a recorded one)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


def deliver_to_rules(event: dict[str, Any], runtime: LocalLambda) -> list[RuleDelivery]:
    """Invoke the Lambda targets of every enabled rule whose pattern matches the event, with the event."""
    events = boto3.client("events")
    deliveries = []
    rules = [rule for page in events.get_paginator("list_rules").paginate() for rule in page.get("Rules", [])]
    for rule in rules:
        pattern = rule.get("EventPattern")
        if not pattern or rule.get("State") != "ENABLED" or not event_matches(pattern, event):
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            if ":lambda:" not in target["Arn"]:
                continue
            payload = json.loads(target["Input"]) if target.get("Input") else event
            result = runtime.invoke(target["Arn"], payload)
            deliveries.append(RuleDelivery(rule["Name"], runtime.function(target["Arn"]).logical_id, result))
    return deliveries


def run_executions(
    runtime: LocalLambda, inventory: InMemoryInstanceInformation, *, registration_after: float
) -> list[ExecutionRun]:
    """Run every execution the emulator holds as RUNNING through its state machine's definition."""
    sfn = boto3.client("stepfunctions")
    runs = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"])
        executions = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
        for summary in executions["executions"]:
            execution = sfn.describe_execution(executionArn=summary["executionArn"])
            runs.append(
                _interpret(
                    machine["stateMachineArn"],
                    definition,
                    execution,
                    runtime,
                    inventory,
                    registration_after=registration_after,
                )
            )
    return runs


def _interpret(
    machine_arn: str,
    definition: dict[str, Any],
    execution: Any,
    runtime: LocalLambda,
    inventory: InMemoryInstanceInformation,
    *,
    registration_after: float,
) -> ExecutionRun:
    execution_input = json.loads(execution.get("input") or "{}")
    instance_id = str(execution_input.get("InstanceId", ""))
    start: datetime = execution["startDate"]
    run = ExecutionRun(execution["name"], instance_id, "", "", "", 0.0, 0.0)
    current = {"state": ""}
    interpreter: AslInterpreter

    def before_state(state: str, now: datetime) -> None:
        current["state"] = state
        if run.registered_at is None and now >= start + timedelta(seconds=registration_after):
            # The agent found the profile's credentials and registered at `registration_after`; nothing looks between
            # two states, so registering it on entering the first state after that is the same.
            inventory.register(instance_id)
            run.registered_at = registration_after

    def task(resource: str) -> Callable[[Any], Any]:
        def invoke(payload: Any) -> Any:
            at = (interpreter.now - start).total_seconds()
            try:
                result = runtime.invoke(resource, payload)
            except Exception as error:
                run.steps.append(StepRecord(current["state"], at, {"Error": type(error).__name__}))
                raise
            run.steps.append(StepRecord(current["state"], at, result))
            return result

        return invoke

    resources = {state["Resource"] for state in definition["States"].values() if state["Type"] == "Task"}
    interpreter = AslInterpreter(
        definition,
        {resource: task(resource) for resource in resources},
        start=start,
        before_state=before_state,
        state_machine_arn=machine_arn,
    )
    outcome = interpreter.run(execution_input, execution["name"])
    run.status, run.end_state, run.error = outcome.status, outcome.end_state, outcome.error
    run.elapsed_seconds, run.waited_seconds = outcome.elapsed_seconds, outcome.waited_seconds
    return run


def enrollment_facts(instance_id: str) -> EnrollmentFacts:
    ec2 = boto3.client("ec2")
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    association = associations[-1] if associations else None
    commands = [
        command
        for command in boto3.client("ssm").list_commands(InstanceId=instance_id)["Commands"]
        if command.get("DocumentName") == AGENT_UPDATE_DOCUMENT
    ]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]
    return EnrollmentFacts(
        instance_id=instance_id,
        profile_arn=association["IamInstanceProfile"]["Arn"] if association else None,
        association_state=association["State"] if association else None,
        agent_update_command_id=commands[-1]["CommandId"] if commands else None,
        agent_update_status=commands[-1].get("Status") if commands else None,
        tags={tag["Key"]: tag["Value"] for tag in tags},
    )
