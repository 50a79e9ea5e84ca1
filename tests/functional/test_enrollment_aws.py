"""Enrollment against moto's EC2, IAM, SSM, SNS and Step Functions, through the real fleet adapter.

moto lacks ssm:DescribeInstanceInformation and the SSM service settings: those go through the adapter's
in-memory fakes, whose answers are checked here against botocore's own model of the real responses.
Given/When/Then: instances and roles in moto, one step or handler, then what AWS (moto) holds afterwards.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse
from sessionguard.adapters.fleet import HOST_MANAGEMENT_SETTING_ID, Fleet, HostManagementSetting, HostManagementState
from sessionguard.custom_resource import answer_custom_resource
from sessionguard.enrollment import steps
from sessionguard.enrollment.decisions import (
    AGENT_UPDATE_TAG,
    COMPLIANCE_TAG,
    ENROLL_TAG,
    ENROLLED_TAG,
    FAILURE_TAG,
    EnrollmentSettings,
    ExistingRoleMode,
    FailureReason,
    FinalEnrollmentError,
    RetryableEnrollmentError,
    TagSelector,
    execution_name,
)
from sessionguard.observability import metrics

from demo.fakes import InMemoryInstanceInformation, InMemoryServiceSettings
from tests.support import (
    AMAZON_LINUX_AMI,
    FakeLambdaContext,
    add_ssm_core_policy,
    instance_tags,
    launch_instance,
    load_function,
)

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
TEMPLATE = REPO / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
STARTED = "2024-05-01T12:35:00.000Z"
IAM_MANAGED_POLICIES_PER_ROLE = 10  # the default IAM quota, which moto does not enforce


app = load_function("enrollment")


# The function's Lambda context; a test changes a field by keyword (aws_request_id=..., remaining_ms=...).
lambda_context = partial(
    FakeLambdaContext,
    function_name="sessionguard-EnrollFunction-1A2B3C4D5E6F",
    invoked_function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:sessionguard-EnrollFunction-1A2B3C4D5E6F",
    aws_request_id="0d1c2b3a-4f5e-6d7c-8b9a-0f1e2d3c4b5a",
    log_stream_name="2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef",
    remaining_ms=300_000,
)


@dataclass
class World:
    """One account: the stack's profile and logging policy, an alert topic read through SQS, a state machine."""

    fleet: Fleet
    inventory: InMemoryInstanceInformation
    settings: EnrollmentSettings
    ec2: Any
    iam: Any
    sqs: Any
    sfn: Any
    queue_url: str
    image_id: str
    launched: list[str] = field(default_factory=list)

    def with_settings(self, **changes: Any) -> EnrollmentSettings:
        self.settings = EnrollmentSettings(**{**self.settings.__dict__, **changes})
        return self.settings

    def launch(self, *, profile_arn: str | None = None, **tags: str) -> str:
        instance_id = launch_instance(self.ec2, image_id=self.image_id, profile_arn=profile_arn, **tags)
        self.launched.append(instance_id)
        return instance_id

    def role_profile(self, name: str, *policy_arns: str) -> str:
        """An application's own role and profile, with the given managed policies."""
        self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST)
        for policy_arn in policy_arns:
            self.iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        profile = self.iam.create_instance_profile(InstanceProfileName=f"{name}-profile", Path="/app/")
        self.iam.add_role_to_instance_profile(InstanceProfileName=f"{name}-profile", RoleName=name)
        arn: str = profile["InstanceProfile"]["Arn"]
        return arn

    def app_policy(self, name: str) -> str:
        document = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
        arn: str = self.iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        return arn

    def attached(self, role: str) -> set[str]:
        return {p["PolicyArn"] for p in self.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}

    def profile_of(self, instance_id: str) -> str | None:
        found = self.ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance_id]}]
        )["IamInstanceProfileAssociations"]
        return found[0]["IamInstanceProfile"]["Arn"] if found else None

    def tags_of(self, instance_id: str) -> dict[str, str]:
        return instance_tags(self.ec2, instance_id)

    def alerts(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]

    def executions(self) -> list[str]:
        found = self.sfn.list_executions(stateMachineArn=self.settings.state_machine_arn)["executions"]
        return sorted(e["name"] for e in found)

    def launch_name(self, instance_id: str) -> str:
        data = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return execution_name(instance_id, data["LaunchTime"])


EC2_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture(autouse=True)
def clean_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        add_ssm_core_policy(ACCOUNT, REGION)
        iam = boto3.client("iam", region_name=REGION)
        ec2 = boto3.client("ec2", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        iam.create_role(RoleName="SessionInstanceRole", AssumeRolePolicyDocument=EC2_TRUST)
        logging_policy = iam.create_policy(
            PolicyName="SessionLoggingPolicy",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}],
                }
            ),
        )["Policy"]["Arn"]
        iam.attach_role_policy(RoleName="SessionInstanceRole", PolicyArn=CORE)
        iam.attach_role_policy(RoleName="SessionInstanceRole", PolicyArn=logging_policy)
        ours = iam.create_instance_profile(InstanceProfileName="SessionInstanceProfile")["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName="SessionInstanceProfile", RoleName="SessionInstanceRole")
        topic = sns.create_topic(Name="sessionguard-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts-reader")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        machine = sfn.create_state_machine(
            name="sessionguard-enrollment",
            definition=(REPO / "statemachines/enrollment.asl.json").read_text(),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sessionguard-enrollment",
        )["stateMachineArn"]
        inventory = InMemoryInstanceInformation()
        fleet = Fleet(
            ec2=ec2,
            iam=iam,
            ssm=boto3.client("ssm", region_name=REGION),
            sns=sns,
            sfn=sfn,
            instance_information=inventory,
        )
        settings = EnrollmentSettings(
            state_machine_arn=machine,
            instance_profile_arn=ours,
            logging_policy_arn=logging_policy,
            alert_topic_arn=topic,
            existing_role_mode=ExistingRoleMode.ATTACH,
        )
        yield World(fleet, inventory, settings, ec2, iam, sqs, sfn, queue_url, AMAZON_LINUX_AMI)


def prepare(world: World, instance_id: str, **request: Any) -> dict[str, Any]:
    return steps.prepare_instance(world.fleet, world.settings, {"InstanceId": instance_id, **request})


# --- The instance profile ------------------------------------------------------------------------------------


def test_instance_without_a_profile_gets_the_stack_profile(world: World) -> None:
    instance_id = world.launch()
    result = prepare(world, instance_id)
    assert result == {"Outcome": "ready", "Action": "associate", "MaxWaitSeconds": 2700}
    assert world.profile_of(instance_id) == world.settings.instance_profile_arn


def test_max_wait_seconds_from_the_execution_input_is_passed_on(world: World) -> None:
    assert prepare(world, world.launch(), MaxWaitSeconds=600)["MaxWaitSeconds"] == 600


def test_preparing_twice_changes_nothing_the_second_time(world: World) -> None:
    instance_id = world.launch()
    prepare(world, instance_id)
    assert prepare(world, instance_id)["Action"] == "none"
    assert world.profile_of(instance_id) == world.settings.instance_profile_arn


def test_instance_launched_with_the_stack_profile_needs_nothing(world: World) -> None:
    instance_id = world.launch(profile_arn=world.settings.instance_profile_arn)
    assert prepare(world, instance_id)["Action"] == "none"


def test_existing_role_in_attach_mode_gets_both_policies(world: World) -> None:
    profile = world.role_profile("web-role")
    instance_id = world.launch(profile_arn=profile)
    assert prepare(world, instance_id)["Action"] == "attach_policies"
    assert world.attached("web-role") == set(world.settings.required_policy_arns)
    assert world.profile_of(instance_id) == profile  # the application keeps its own role


def test_existing_role_with_ssm_core_gets_only_the_logging_policy(world: World) -> None:
    readonly = world.app_policy("app-readonly")
    instance_id = world.launch(profile_arn=world.role_profile("web-role", CORE, readonly))
    prepare(world, instance_id)
    assert world.attached("web-role") == {CORE, readonly, world.settings.logging_policy_arn}


def test_existing_role_in_report_mode_is_left_alone_and_reported(world: World) -> None:
    world.with_settings(existing_role_mode=ExistingRoleMode.REPORT)
    instance_id = world.launch(profile_arn=world.role_profile("web-role", CORE))
    result = prepare(world, instance_id)
    assert result["Outcome"] == "noncompliant"
    assert result["Reason"] == "existing_role_noncompliant"
    assert "SessionLoggingPolicy" in result["Detail"]
    assert world.attached("web-role") == {CORE}

    report = steps.report_failure(
        world.fleet, world.settings, {"InstanceId": instance_id, "Failure": result, "ExecutionId": "arn:execution"}
    )
    assert report == {"Outcome": "noncompliant", "Reason": "existing_role_noncompliant"}
    assert world.tags_of(instance_id)[COMPLIANCE_TAG] == "noncompliant"
    [alert] = world.alerts()
    assert alert["instance_id"] == instance_id
    assert alert["reason"] == "existing_role_noncompliant"


def test_compliant_existing_role_passes_in_report_mode(world: World) -> None:
    world.with_settings(existing_role_mode=ExistingRoleMode.REPORT)
    instance_id = world.launch(profile_arn=world.role_profile("web-role", CORE, world.settings.logging_policy_arn))
    assert prepare(world, instance_id) == {"Outcome": "ready", "Action": "none", "MaxWaitSeconds": 2700}


def test_profile_whose_role_was_removed_is_replaced_in_attach_mode(world: World) -> None:
    profile = world.role_profile("old-role")
    instance_id = world.launch(profile_arn=profile)
    world.iam.remove_role_from_instance_profile(InstanceProfileName="old-role-profile", RoleName="old-role")
    assert prepare(world, instance_id)["Action"] == "replace"
    assert world.profile_of(instance_id) == world.settings.instance_profile_arn


def test_deleted_profile_is_replaced_in_attach_mode(world: World) -> None:
    instance_id = world.launch(profile_arn=world.role_profile("old-role"))
    world.iam.remove_role_from_instance_profile(InstanceProfileName="old-role-profile", RoleName="old-role")
    world.iam.delete_instance_profile(InstanceProfileName="old-role-profile")
    assert prepare(world, instance_id)["Action"] == "replace"
    assert world.profile_of(instance_id) == world.settings.instance_profile_arn


class StaleFirstLook(Fleet):
    """The moment between our look and our write: another writer associates `their_profile` first."""

    def __init__(self, fleet: Fleet, their_profile: str) -> None:
        super().__init__(ec2=fleet.ec2, iam=fleet.iam, ssm=fleet.ssm, sns=fleet.sns, sfn=fleet.sfn)
        self.their_profile = their_profile
        self.looks = 0

    def profile_association(self, instance_id: str) -> Any:
        self.looks += 1
        if self.looks == 1:
            self.ec2.associate_iam_instance_profile(
                IamInstanceProfile={"Arn": self.their_profile}, InstanceId=instance_id
            )
            return None
        return super().profile_association(instance_id)


def test_losing_the_association_race_to_our_own_profile_is_done(world: World) -> None:
    instance_id = world.launch()
    racing = StaleFirstLook(world.fleet, world.settings.instance_profile_arn)
    result = steps.prepare_instance(racing, world.settings, {"InstanceId": instance_id})
    assert result["Action"] == "none"
    assert racing.looks == 2


def test_losing_the_association_race_to_another_profile_takes_the_existing_role_path(world: World) -> None:
    instance_id = world.launch()
    racing = StaleFirstLook(world.fleet, world.role_profile("asg-role"))
    assert steps.prepare_instance(racing, world.settings, {"InstanceId": instance_id})["Action"] == "attach_policies"
    assert world.attached("asg-role") == set(world.settings.required_policy_arns)


def emulate_iam_policy_quota(iam: Any) -> None:
    """IAM refuses an 11th managed policy with LimitExceeded; moto does not, so the client is taught to."""

    def refuse_over_quota(params: dict[str, Any], **_: Any) -> None:
        attached = iam.list_attached_role_policies(RoleName=params["RoleName"])["AttachedPolicies"]
        if len(attached) >= IAM_MANAGED_POLICIES_PER_ROLE:
            raise ClientError(
                {"Error": {"Code": "LimitExceeded", "Message": "Cannot exceed quota for PoliciesPerRole: 10"}},
                "AttachRolePolicy",
            )

    iam.meta.events.register("before-parameter-build.iam.AttachRolePolicy", refuse_over_quota)


def test_role_at_the_managed_policy_limit_fails_finally_and_is_reported(world: World) -> None:
    fillers = [world.app_policy(f"app-{n}") for n in range(IAM_MANAGED_POLICIES_PER_ROLE)]
    instance_id = world.launch(profile_arn=world.role_profile("full-role", *fillers))
    emulate_iam_policy_quota(world.iam)

    with pytest.raises(FinalEnrollmentError) as raised:
        prepare(world, instance_id)
    assert raised.value.failure.reason is FailureReason.ROLE_POLICY_LIMIT

    # What the state machine's Catch hands to ReportFailure: the Lambda error name and its JSON cause.
    caught = {
        "Error": type(raised.value).__name__,
        "Cause": json.dumps({"errorMessage": str(raised.value), "errorType": type(raised.value).__name__}),
    }
    report = steps.report_failure(
        world.fleet, world.settings, {"InstanceId": instance_id, "Failure": caught, "ExecutionId": "arn:execution"}
    )
    assert report == {"Outcome": "failed", "Reason": "role_policy_limit"}
    assert world.tags_of(instance_id)[FAILURE_TAG] == "role_policy_limit"
    [alert] = world.alerts()
    assert alert["reason"] == "role_policy_limit"
    assert "PoliciesPerRole" in alert["detail"]


@pytest.mark.parametrize(("tags", "selector"), [({ENROLL_TAG: "false"}, None), ({"env": "dev"}, "env=prod")])
def test_opted_out_or_unselected_instances_are_not_touched(
    world: World, tags: dict[str, str], selector: str | None
) -> None:
    if selector:
        key, value = selector.split("=")
        world.with_settings(tag_selector=TagSelector(key, value))
    instance_id = world.launch(**tags)
    assert prepare(world, instance_id)["Outcome"] == "skipped"
    assert world.profile_of(instance_id) is None


def test_selected_instance_is_enrolled(world: World) -> None:
    world.with_settings(tag_selector=TagSelector("env", "prod"))
    assert prepare(world, world.launch(env="prod"))["Outcome"] == "ready"


@pytest.mark.parametrize("end", ["stop_instances", "terminate_instances"])
def test_instance_that_stopped_or_terminated_before_preparing_is_left_alone(world: World, end: str) -> None:
    instance_id = world.launch()
    getattr(world.ec2, end)(InstanceIds=[instance_id])
    assert prepare(world, instance_id) == {"Outcome": "not_running", "Reason": "instance_not_running"}
    assert world.profile_of(instance_id) is None


def test_unknown_instance_is_not_running(world: World) -> None:
    assert prepare(world, "i-0123456789abcdef0")["Outcome"] == "not_running"


# --- Registration, agent update, tags ---------------------------------------------------------------------------


def check(world: World, instance_id: str, checked_at: str, max_wait: int = 2700) -> dict[str, Any]:
    return steps.check_registration(
        world.fleet,
        {"InstanceId": instance_id, "StartedAt": STARTED, "CheckedAt": checked_at, "MaxWaitSeconds": max_wait},
    )


def test_registration_is_waited_for_then_seen(world: World) -> None:
    instance_id = world.launch()
    waiting = check(world, instance_id, "2024-05-01T12:36:00Z")
    assert (waiting["Outcome"], waiting["NextCheckSeconds"]) == ("waiting", 30)
    world.inventory.register(instance_id, agent_version="3.2.582.0")
    registered = check(world, instance_id, "2024-05-01T12:58:00Z")
    assert (registered["Outcome"], registered["AgentVersion"]) == ("registered", "3.2.582.0")


def test_agent_that_lost_its_connection_is_not_registered(world: World) -> None:
    instance_id = world.launch()
    world.inventory.register(instance_id, ping_status="ConnectionLost")
    assert check(world, instance_id, "2024-05-01T12:36:00Z")["Outcome"] == "waiting"


def test_registration_times_out_at_max_wait(world: World) -> None:
    result = check(world, world.launch(), "2024-05-01T13:20:00Z")
    assert result["Outcome"] == "timed_out"
    assert result["Reason"] == "registration_timeout"


def test_instance_stopped_during_the_wait_ends_it(world: World) -> None:
    instance_id = world.launch()
    world.ec2.stop_instances(InstanceIds=[instance_id])
    assert check(world, instance_id, "2024-05-01T12:36:00Z")["Outcome"] == "not_running"


def send_update(fleet: Fleet, instance_id: str, resends: int = 0) -> dict[str, Any]:
    return steps.send_agent_update(
        fleet,
        {"InstanceId": instance_id, "StartedAt": STARTED, "RequestedAt": "2024-05-01T12:40:00Z", "Resends": resends},
    )


def check_update(fleet: Fleet, instance_id: str, sent: dict[str, Any]) -> dict[str, Any]:
    return steps.check_agent_update(
        fleet,
        {
            "InstanceId": instance_id,
            "CommandId": sent["CommandId"],
            "StartedAt": STARTED,
            "RequestedAt": sent["RequestedAt"],
            "CheckedAt": "2024-05-01T12:40:30Z",
            "Resends": sent["Resends"],
            "MaxWaitSeconds": 2700,
        },
    )


def test_agent_update_is_sent_and_followed_to_success(world: World) -> None:
    instance_id = world.launch()
    sent = send_update(world.fleet, instance_id)
    commands = world.fleet.ssm.list_commands(CommandId=sent["CommandId"])["Commands"]
    assert commands[0]["DocumentName"] == "AWS-UpdateSSMAgent"
    assert commands[0]["InstanceIds"] == [instance_id]
    assert check_update(world.fleet, instance_id, sent) == {
        "Outcome": "succeeded",
        "CommandStatus": "Success",
        "Resends": 0,
    }


def test_a_retried_send_finds_its_command_instead_of_sending_a_second_update(world: World) -> None:
    # Given an update already sent by this step (its Lambda then timed out, or its answer was lost)
    instance_id = world.launch()
    first = send_update(world.fleet, instance_id)
    # When Step Functions retries the step, and later the state machine re-sends on purpose
    retried = send_update(world.fleet, instance_id)
    resent = send_update(world.fleet, instance_id, resends=1)
    # Then the retry answers the first command and only the re-send is a new one
    assert retried["CommandId"] == first["CommandId"]
    assert resent["CommandId"] != first["CommandId"]
    sent = world.fleet.ssm.list_commands(InstanceId=instance_id)["Commands"]
    assert sorted(c["CommandId"] for c in sent) == sorted([first["CommandId"], resent["CommandId"]])


def stubbed_fleet(world: World, ssm: Any) -> Fleet:
    return Fleet(ec2=world.ec2, iam=world.iam, ssm=ssm, sns=world.fleet.sns, sfn=world.sfn)


@pytest.mark.parametrize(
    "output",
    [
        {"StandardOutputContent": "Another update in progress, try again later", "StandardErrorContent": ""},
        {"StandardOutputContent": "", "StandardErrorContent": "ERROR: another update in progress, try again later"},
    ],
)
def test_an_update_refused_by_the_agents_update_lock_is_sent_again_later(world: World, output: dict[str, str]) -> None:
    """The stack's AgentUpdateAssociation runs AWS-UpdateSSMAgent when the instance registers; ours then loses."""
    instance_id = world.launch()
    ssm = boto3.client("ssm", region_name=REGION)
    refused = {"CommandId": "0b9a8c7d-1e2f-3a4b-5c6d-7e8f9a0b1c2d", "InstanceId": instance_id, "Status": "Failed"}
    with Stubber(ssm) as stubber:
        stubber.add_response(
            "get_command_invocation",
            {**refused, "StatusDetails": "Failed", "ResponseCode": 1, **output},
            {"CommandId": refused["CommandId"], "InstanceId": instance_id},
        )
        sent = {"CommandId": refused["CommandId"], "RequestedAt": "2024-05-01T12:40:00Z", "Resends": 0}
        result = check_update(stubbed_fleet(world, ssm), instance_id, sent)
    assert result == {"Outcome": "busy", "CommandStatus": "Failed", "Resends": 1, "NextSendSeconds": 60}


def test_agent_that_systems_manager_does_not_know_yet_is_waited_for(world: World) -> None:
    """DescribeInstanceInformation answers InvalidInstanceId, not an empty list, for an instance not registered."""
    instance_id = world.launch()
    ssm = boto3.client("ssm", region_name=REGION)
    with Stubber(ssm) as stubber:
        stubber.add_client_error(
            "describe_instance_information",
            service_error_code="InvalidInstanceId",
            service_message="Instances [[" + instance_id + "]] not in a valid state for account 123456789012",
            expected_params={"Filters": [{"Key": "InstanceIds", "Values": [instance_id]}], "MaxResults": 5},
        )
        result = steps.check_registration(
            stubbed_fleet(world, ssm),
            {
                "InstanceId": instance_id,
                "StartedAt": STARTED,
                "CheckedAt": "2024-05-01T12:36:00Z",
                "MaxWaitSeconds": 2700,
            },
        )
    assert (result["Outcome"], result["NextCheckSeconds"]) == ("waiting", 30)


def test_aws_calls_give_up_well_before_the_functions_timeout() -> None:
    """One hung or throttled call must end in an error the step classifies, not in a Lambda timeout."""
    function_timeout = yaml_parse(TEMPLATE.read_text())["Globals"]["Function"]["Timeout"]
    config = Fleet.connect().ssm.meta.config
    attempts = config.retries["total_max_attempts"]
    backoff = sum(min(2**n, 20) for n in range(attempts - 1))  # standard mode: at most 2^n s before retry n+1
    assert config.retries["mode"] == "standard"
    assert attempts * (config.connect_timeout + config.read_timeout) + backoff < function_timeout


def test_enrolled_instance_is_tagged_and_old_failure_tags_go(world: World) -> None:
    instance_id = world.launch(**{FAILURE_TAG: "registration_timeout"})
    result = steps.mark_enrolled(
        world.fleet,
        {
            "InstanceId": instance_id,
            "StartedAt": STARTED,
            "EnrolledAt": "2024-05-01T12:41:30.250Z",
            "CommandStatus": "Success",
        },
    )
    assert result == {"Outcome": "enrolled", "Seconds": 390}
    tags = world.tags_of(instance_id)
    assert tags[ENROLLED_TAG] == "2024-05-01T12:41:30Z"
    assert tags[AGENT_UPDATE_TAG] == "success"
    assert FAILURE_TAG not in tags


def test_failure_of_an_instance_that_terminated_meanwhile_is_not_alerted(world: World) -> None:
    instance_id = world.launch()
    world.ec2.terminate_instances(InstanceIds=[instance_id])
    failure = {"Reason": "registration_timeout", "Detail": "not registered after 2700 s"}
    report = steps.report_failure(
        world.fleet, world.settings, {"InstanceId": instance_id, "Failure": failure, "ExecutionId": "arn:execution"}
    )
    assert report == {"Outcome": "abandoned", "Reason": "instance_not_running"}
    assert world.alerts() == []


def test_registration_timeout_is_alerted_with_instance_and_reason(world: World) -> None:
    instance_id = world.launch()
    failure = {"Reason": "registration_timeout", "Detail": "not registered after 2700 s"}
    steps.report_failure(
        world.fleet,
        world.settings,
        {"InstanceId": instance_id, "Failure": failure, "ExecutionId": "arn:aws:states:execution:x"},
    )
    [alert] = world.alerts()
    assert alert == {
        "kind": "enrollment",
        "severity": "medium",
        "instance_id": instance_id,
        "reason": "registration_timeout",
        "detail": "not registered after 2700 s",
        "execution": "arn:aws:states:execution:x",
    }


def refuse(client: Any, event: str, code: str) -> None:
    """The client's next calls of the operation fail with `code` (moto never throttles or denies)."""

    def fail(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "refused"}}, event.rsplit(".", 1)[-1])

    client.meta.events.register(f"before-parameter-build.{event}", fail)


@pytest.mark.parametrize("code", ["UnauthorizedOperation", "RequestLimitExceeded"])
def test_the_alert_goes_out_once_even_when_the_instance_cannot_be_tagged(world: World, code: str) -> None:
    """Once the alert is out, a tag that cannot be written (for good, or throttled) does not fail the step: a
    retry of the step would publish the alert again."""
    instance_id = world.launch()
    refuse(world.ec2, "ec2.CreateTags", code)
    failure = {"Reason": "registration_timeout", "Detail": "not registered after 2700 s"}

    outcome = steps.report_failure(
        world.fleet, world.settings, {"InstanceId": instance_id, "Failure": failure, "ExecutionId": "arn:execution"}
    )

    assert outcome == {"Outcome": "failed", "Reason": "registration_timeout"}
    [alert] = world.alerts()
    assert (alert["instance_id"], alert["reason"]) == (instance_id, "registration_timeout")


@pytest.mark.parametrize("code", ["Throttled", "KMSThrottling"])
def test_a_throttled_alert_is_retried_not_given_up(world: World, code: str) -> None:
    """SNS Publish's own throttling codes, which botocore's standard retry mode does not retry."""
    instance_id = world.launch()
    refuse(world.fleet.sns, "sns.Publish", code)
    failure = {"Reason": "registration_timeout", "Detail": "not registered after 2700 s"}
    with pytest.raises(RetryableEnrollmentError) as raised:
        steps.report_failure(
            world.fleet, world.settings, {"InstanceId": instance_id, "Failure": failure, "ExecutionId": "arn:execution"}
        )
    assert raised.value.failure.reason is FailureReason.THROTTLED


# --- Starting executions: launch events, duplicates and the sweep ------------------------------------------------


def running_event(instance_id: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "ec2-instance-running.json").read_text())
    event["detail"]["instance-id"] = instance_id
    event["resources"] = [f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{instance_id}"]
    return event


@pytest.fixture
def handlers(world: World, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setattr(app, "fleet", lambda: world.fleet)
    monkeypatch.setattr(app, "settings", lambda: world.settings)
    return app


def emitted_metrics(output: str) -> dict[str, Any]:
    """Metric values from the EMF lines a handler printed, by name."""
    values: dict[str, Any] = {}
    for line in output.splitlines():
        if line.startswith("{") and "_aws" in line:
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values[definition["Name"]] = document[definition["Name"]]
    return values


def test_launch_event_starts_one_execution_named_after_the_launch(
    world: World, handlers: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_id = world.launch()
    result = handlers.on_instance_running(running_event(instance_id), lambda_context())
    assert result == {"InstanceId": instance_id, "Result": "started"}
    assert world.executions() == [world.launch_name(instance_id)]
    assert emitted_metrics(capsys.readouterr().out)["EnrollmentsStarted"] == [1.0]


def test_duplicate_launch_event_does_not_start_a_second_execution(world: World, handlers: ModuleType) -> None:
    instance_id = world.launch()
    handlers.on_instance_running(running_event(instance_id), lambda_context(aws_request_id="first"))
    again = handlers.on_instance_running(running_event(instance_id), lambda_context(aws_request_id="again"))
    assert again["Result"] == "duplicate"
    assert world.executions() == [world.launch_name(instance_id)]


def test_launch_event_for_an_instance_ec2_does_not_list_yet_is_failed_for_a_retry(
    world: World, handlers: ModuleType
) -> None:
    """EC2 is eventually consistent: the launch event can arrive before DescribeInstances knows the instance."""
    event = running_event("i-0123456789abcdef0")
    event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(RetryableEnrollmentError, match="eventual consistency"):
        handlers.on_instance_running(event, lambda_context())
    assert world.executions() == []


def test_launch_event_for_an_instance_ec2_still_does_not_list_minutes_later_is_dropped(
    world: World, handlers: ModuleType
) -> None:
    event = running_event("i-0123456789abcdef0")  # its time lies long before the handler runs, as on the last retry
    assert handlers.on_instance_running(event, lambda_context())["Result"] == "not_running"
    assert world.executions() == []


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    holder = changed
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return changed


def _with(event: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    holder = changed
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return changed


BAD_LAUNCH_EVENTS = {
    "no instance-id": (
        lambda e: _without(e, "detail", "instance-id"),
        "detail.instance-id is missing or not an instance id",
    ),
    "no detail": (lambda e: _without(e, "detail"), "detail is missing or not an object"),
    "null detail": (lambda e: _with(e, None, "detail"), "detail is missing or not an object"),
    "garbage time": (lambda e: _with(e, "yesterday-ish", "time"), "time is not an RFC 3339 date and time"),
    "wrong detail-type": (
        lambda e: _with(e, "EC2 Spot Instance Interruption Warning", "detail-type"),
        "not an EC2 Instance State-change Notification from aws.ec2",
    ),
    "instance-id a number": (
        lambda e: _with(e, 7, "detail", "instance-id"),
        "detail.instance-id is missing or not an instance id",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LAUNCH_EVENTS))
def test_a_malformed_launch_event_is_ignored_with_its_reason_logged_and_starts_nothing(
    world: World, handlers: ModuleType, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    instance_id = world.launch()
    change, reason = BAD_LAUNCH_EVENTS[case]

    result = handlers.on_instance_running(change(running_event(instance_id)), lambda_context())

    assert result["Result"] == "ignored"
    assert result["Reason"] == reason
    assert reason in [getattr(record, "reason", None) for record in caplog.records]
    assert world.executions() == []


def test_a_launch_event_that_is_a_list_is_ignored(world: World, handlers: ModuleType) -> None:
    result = handlers.on_instance_running([running_event(world.launch())], lambda_context())

    assert result == {"InstanceId": "", "Result": "ignored", "Reason": "the event is a JSON array, not an object"}
    assert world.executions() == []


def test_launch_event_for_an_opted_out_instance_starts_nothing(world: World, handlers: ModuleType) -> None:
    instance_id = world.launch(**{ENROLL_TAG: "false"})
    assert handlers.on_instance_running(running_event(instance_id), lambda_context())["Result"] == "opted_out"
    assert world.executions() == []


def test_sweep_starts_only_unenrolled_running_instances_and_collapses_with_events(
    world: World, handlers: ModuleType
) -> None:
    evented = world.launch()
    handlers.on_instance_running(running_event(evented), lambda_context())
    missed = world.launch()
    world.launch(**{ENROLL_TAG: "false"})
    world.launch(**{ENROLLED_TAG: "2024-04-01T00:00:00Z"})
    world.ec2.stop_instances(InstanceIds=[world.launch()])

    sweep_event = json.loads((EVENTS / "enrollment-sweep.json").read_text())
    result = handlers.sweep_unenrolled_instances(sweep_event, lambda_context())

    assert result == {
        "Examined": 4,
        "Started": 1,
        "Duplicates": 1,
        "Failed": 0,
        "Skipped": {"opted_out": 1, "already_enrolled": 1},
        "StoppedEarly": False,
    }
    assert world.executions() == sorted([world.launch_name(evented), world.launch_name(missed)])


def test_stack_creation_event_runs_the_sweep(world: World, handlers: ModuleType) -> None:
    instance_id = world.launch()
    event = json.loads((EVENTS / "cfn-stack-create-complete.json").read_text())
    assert handlers.sweep_unenrolled_instances(event, lambda_context())["Started"] == 1
    assert world.executions() == [world.launch_name(instance_id)]


def test_one_instance_that_cannot_be_started_does_not_stop_the_sweep(world: World, handlers: ModuleType) -> None:
    first, second = world.launch(), world.launch()
    calls: list[str] = []

    def throttle_the_first(params: dict[str, Any], **_: Any) -> None:
        calls.append(params["name"])
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution")

    world.sfn.meta.events.register("before-parameter-build.stepfunctions.StartExecution", throttle_the_first)
    sweep_event = json.loads((EVENTS / "enrollment-sweep.json").read_text())
    result = handlers.sweep_unenrolled_instances(sweep_event, lambda_context())
    assert (result["Started"], result["Failed"]) == (1, 1)
    assert len(world.executions()) == 1
    assert {first, second} >= {name.rsplit("-", 1)[0] for name in world.executions()}


def test_sweep_stops_before_the_lambda_timeout(world: World, handlers: ModuleType) -> None:
    world.launch()
    sweep_event = json.loads((EVENTS / "enrollment-sweep.json").read_text())
    result = handlers.sweep_unenrolled_instances(sweep_event, lambda_context(remaining_ms=5_000))
    assert result["StoppedEarly"] is True
    assert world.executions() == []


# --- The in-memory SSM fakes answer like the real API -------------------------------------------------------------


def test_instance_information_fake_answers_in_the_shape_of_the_real_response(world: World) -> None:
    """Replay the fake's answer through a real SSM client's Stubber, which validates against the service model."""
    instance_id = world.launch()
    world.inventory.register(instance_id)
    answer = world.inventory.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}], MaxResults=5
    )
    real = boto3.client("ssm", region_name=REGION)
    with Stubber(real) as stubber:
        response = {k: v for k, v in copy.deepcopy(answer).items() if k != "ResponseMetadata"}
        stubber.add_response(
            "describe_instance_information",
            response,
            {"Filters": [{"Key": "InstanceIds", "Values": [instance_id]}], "MaxResults": 5},
        )
        fleet = Fleet(ec2=world.ec2, iam=world.iam, ssm=real, sns=real, sfn=real)  # type: ignore[arg-type]
        agent = fleet.agent_info(instance_id)
    assert agent is not None
    assert (agent.ping_status, agent.agent_version) == ("Online", "3.3.987.0")


def test_instance_information_fake_pages_and_filters_like_the_api() -> None:
    inventory = InMemoryInstanceInformation()
    for n in range(7):
        inventory.register(f"i-{n:017x}", ping_status="Online" if n % 2 == 0 else "ConnectionLost")
    first = inventory.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["Online"]}], MaxResults=5)
    assert len(first["InstanceInformationList"]) == 4
    assert "NextToken" not in first
    page = inventory.describe_instance_information(MaxResults=5)
    rest = inventory.describe_instance_information(MaxResults=5, NextToken=page["NextToken"])
    assert len(page["InstanceInformationList"]) + len(rest["InstanceInformationList"]) == 7
    with pytest.raises(ClientError, match="MaxResults"):
        inventory.describe_instance_information(MaxResults=1)


# --- Default Host Management Configuration custom resource ----------------------------------------------------


def dhmc_request(recorder: Any, request_type: str = "Create", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "cfn-host-management-create.json").read_text())
    event["ResponseURL"] = f"{recorder.url}/cfn-response?X-Amz-Signature=test"
    event["RequestType"] = request_type
    event["ResourceProperties"].update(changes.pop("properties", {}))
    event.update(changes)
    return event


def run_dhmc(event: dict[str, Any], settings: InMemoryServiceSettings, recorder: Any) -> dict[str, Any]:
    setting = HostManagementSetting(settings)
    answer_custom_resource(
        CloudFormationCustomResourceEvent(event),
        lambda_context(),  # type: ignore[arg-type]
        lambda request, progress: steps.configure_host_management(setting, request, progress),
    )
    body: dict[str, Any] = recorder.requests[-1].json()
    return body


def test_dhmc_create_points_the_setting_at_the_stack_role_and_delete_restores_the_default(http_recorder: Any) -> None:
    settings = InMemoryServiceSettings()
    created = run_dhmc(dhmc_request(http_recorder), settings, http_recorder)
    role = "sessionguard-HostManagementRole-9ZyXwVuTsRqP"
    assert created["Status"] == "SUCCESS"
    assert settings.customized == {HOST_MANAGEMENT_SETTING_ID: role}
    deleted = run_dhmc(
        dhmc_request(http_recorder, "Delete", PhysicalResourceId=created["PhysicalResourceId"]), settings, http_recorder
    )
    assert deleted["Status"] == "SUCCESS"
    assert settings.customized == {}


def test_dhmc_delete_gives_back_a_role_that_was_there_before(http_recorder: Any) -> None:
    settings = InMemoryServiceSettings(
        {HOST_MANAGEMENT_SETTING_ID: "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"}
    )
    created = run_dhmc(dhmc_request(http_recorder), settings, http_recorder)
    run_dhmc(
        dhmc_request(http_recorder, "Delete", PhysicalResourceId=created["PhysicalResourceId"]), settings, http_recorder
    )
    assert HostManagementSetting(settings).current() == HostManagementState(
        "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"
    )


def test_dhmc_delete_keeps_a_setting_someone_changed_since(http_recorder: Any) -> None:
    settings = InMemoryServiceSettings()
    created = run_dhmc(dhmc_request(http_recorder), settings, http_recorder)
    settings.customized[HOST_MANAGEMENT_SETTING_ID] = "platform-team-role"
    run_dhmc(
        dhmc_request(http_recorder, "Delete", PhysicalResourceId=created["PhysicalResourceId"]), settings, http_recorder
    )
    assert settings.customized == {HOST_MANAGEMENT_SETTING_ID: "platform-team-role"}


def test_dhmc_update_moves_to_the_new_role_and_keeps_the_memory_of_the_old_value(http_recorder: Any) -> None:
    settings = InMemoryServiceSettings()
    created = run_dhmc(dhmc_request(http_recorder), settings, http_recorder)
    updated = run_dhmc(
        dhmc_request(
            http_recorder,
            "Update",
            PhysicalResourceId=created["PhysicalResourceId"],
            properties={"RoleName": "new-role"},
        ),
        settings,
        http_recorder,
    )
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert settings.customized == {HOST_MANAGEMENT_SETTING_ID: "new-role"}


def test_dhmc_delete_after_a_failed_create_changes_nothing(http_recorder: Any) -> None:
    settings = InMemoryServiceSettings({HOST_MANAGEMENT_SETTING_ID: "platform-team-role"})
    failed = run_dhmc(dhmc_request(http_recorder, properties={"RoleName": ""}), settings, http_recorder)
    assert failed["Status"] == "FAILED"
    assert "RoleName is required" in failed["Reason"]
    deleted = run_dhmc(
        dhmc_request(http_recorder, "Delete", PhysicalResourceId=failed["PhysicalResourceId"]), settings, http_recorder
    )
    assert deleted["Status"] == "SUCCESS"
    assert settings.customized == {HOST_MANAGEMENT_SETTING_ID: "platform-team-role"}
