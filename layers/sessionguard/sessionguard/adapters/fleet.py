"""The only boto3 code for enrollment: EC2, IAM, SSM, SNS and Step Functions, returning plain dataclasses.

Every AWS error leaves this module as a RetryableEnrollmentError or FinalEnrollmentError with a reason code (see
`enrollment.classify_aws_error`), except the few that are answers rather than failures: an instance that no longer
exists, a profile slot that is already taken, an execution that already exists.

moto implements neither ssm:DescribeInstanceInformation nor the SSM service settings, and the embedded demo has no
real agents, so those calls go through small Protocols (`InstanceInformationApi`, `ServiceSettingsApi`): a boto3 SSM
client in production, in-memory fakes offline (demo/fakes.py, used by the demo and the tests), answering in the
shape of boto3's service model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.config import Config
from botocore.exceptions import ClientError

from sessionguard.adapters.aws import aws_client, error_code
from sessionguard.enrollment.decisions import (
    AGENT_UPDATE_DOCUMENT,
    AgentInfo,
    AgentUpdateInvocation,
    EnrollmentFailureNotice,
    ExistingRole,
    Instance,
    ProfileAssociation,
    TagSelector,
    classify_aws_error,
    current_association,
    error_for,
)

if TYPE_CHECKING:
    from typing import Unpack

    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef, InstanceTypeDef
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import (
        CommandFilterTypeDef,
        DescribeInstanceInformationRequestTypeDef,
        DescribeInstanceInformationResultTypeDef,
        GetServiceSettingRequestTypeDef,
        GetServiceSettingResultTypeDef,
        ResetServiceSettingRequestTypeDef,
        ResetServiceSettingResultTypeDef,
        UpdateServiceSettingRequestTypeDef,
    )
    from mypy_boto3_stepfunctions import SFNClient

# Standard retry mode backs off on throttling inside each call; what still fails is classified and left to the
# state machine's Retry. One call gives up within 3 x (2 s connect + 5 s read) + 3 s of backoff = 24 s, inside the
# functions' 30 s timeout (botocore's defaults, 60 s each, would let one hung call outlive the function).
_BOTO_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})
_AGENT_UPDATE_DELIVERY_TIMEOUT_SECONDS = 600
HOST_MANAGEMENT_SETTING_ID = "/ssm/managed-instance/default-ec2-instance-management-role"


@contextmanager
def _aws(operation: str) -> Iterator[None]:
    """Translate an AWS error into an EnrollmentError naming the operation."""
    try:
        yield
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        raise error_for(classify_aws_error(error_code(error), f"{operation}: {message}")) from error


def _expected(error: ClientError, code: str, operation: str) -> None:
    """Return when `error` is `code`, the ordinary case the caller answers itself (an instance already gone, a
    duplicate execution); translate anything else into an EnrollmentError naming the operation."""
    if error_code(error) != code:
        raise error_for(classify_aws_error(error_code(error), f"{operation}: {error}")) from error


class InstanceInformationApi(Protocol):
    """The part of the SSM client enrollment needs to see whether an agent has registered."""

    def describe_instance_information(
        self, **kwargs: Unpack[DescribeInstanceInformationRequestTypeDef]
    ) -> DescribeInstanceInformationResultTypeDef: ...


def _instance(data: InstanceTypeDef) -> Instance:
    return Instance(
        instance_id=data["InstanceId"],
        state=data["State"]["Name"],
        launch_time=data["LaunchTime"],
        tags={tag["Key"]: tag["Value"] for tag in data.get("Tags", [])},
    )


class Fleet:
    """EC2 instances, their profiles and roles, their SSM agents, and the alerts and executions about them."""

    def __init__(
        self,
        *,
        ec2: EC2Client,
        iam: IAMClient,
        ssm: SSMClient,
        sns: SNSClient,
        sfn: SFNClient,
        instance_information: InstanceInformationApi | None = None,
    ) -> None:
        self.ec2 = ec2
        self.iam = iam
        self.ssm = ssm
        self.sns = sns
        self.sfn = sfn
        self.instance_information: InstanceInformationApi = instance_information or ssm

    @classmethod
    def connect(cls, *, instance_information: InstanceInformationApi | None = None) -> Fleet:
        return cls(
            ec2=aws_client("ec2", _BOTO_CONFIG),
            iam=aws_client("iam", _BOTO_CONFIG),
            ssm=aws_client("ssm", _BOTO_CONFIG),
            sns=aws_client("sns", _BOTO_CONFIG),
            sfn=aws_client("stepfunctions", _BOTO_CONFIG),
            instance_information=instance_information,
        )

    # --- EC2 ------------------------------------------------------------------------------------------------

    def describe_instance(self, instance_id: str) -> Instance | None:
        """None when EC2 no longer knows the instance (terminated instances stay visible for about an hour)."""
        try:
            response = self.ec2.describe_instances(InstanceIds=[instance_id])
        except ClientError as error:
            _expected(error, "InvalidInstanceID.NotFound", "ec2:DescribeInstances")
            return None
        for reservation in response.get("Reservations", []):
            for data in reservation.get("Instances", []):
                return _instance(data)
        return None

    def running_instances(self, selector: TagSelector | None) -> Iterator[Instance]:
        filters: list[FilterTypeDef] = [{"Name": "instance-state-name", "Values": ["running"]}]
        if selector is not None:
            filters.append({"Name": f"tag:{selector.key}", "Values": [selector.value]})
        with _aws("ec2:DescribeInstances"):
            for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
                for reservation in page.get("Reservations", []):
                    for data in reservation.get("Instances", []):
                        yield _instance(data)

    def profile_association(self, instance_id: str) -> ProfileAssociation | None:
        with _aws("ec2:DescribeIamInstanceProfileAssociations"):
            response = self.ec2.describe_iam_instance_profile_associations(
                Filters=[{"Name": "instance-id", "Values": [instance_id]}]
            )
        return current_association(
            [
                ProfileAssociation(
                    association_id=item["AssociationId"],
                    profile_arn=item["IamInstanceProfile"]["Arn"],
                    state=item["State"],
                )
                for item in response.get("IamInstanceProfileAssociations", [])
            ]
        )

    def associate_profile(self, instance_id: str, profile_arn: str) -> bool:
        """False when the instance's one profile slot is already taken (IncorrectState): look again."""
        try:
            self.ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile_arn}, InstanceId=instance_id)
        except ClientError as error:
            _expected(error, "IncorrectState", "ec2:AssociateIamInstanceProfile")
            return False
        return True

    def replace_profile(self, association_id: str, profile_arn: str) -> None:
        with _aws("ec2:ReplaceIamInstanceProfileAssociation"):
            self.ec2.replace_iam_instance_profile_association(
                IamInstanceProfile={"Arn": profile_arn}, AssociationId=association_id
            )

    def tag_instance(self, instance_id: str, tags: Mapping[str, str]) -> bool:
        """False when the instance is gone."""
        if not tags:
            return True
        try:
            self.ec2.create_tags(
                Resources=[instance_id], Tags=[{"Key": key, "Value": value} for key, value in tags.items()]
            )
        except ClientError as error:
            _expected(error, "InvalidInstanceID.NotFound", "ec2:CreateTags")
            return False
        return True

    def untag_instance(self, instance_id: str, keys: Sequence[str]) -> None:
        with _aws("ec2:DeleteTags"):
            self.ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": key} for key in keys])

    # --- IAM ------------------------------------------------------------------------------------------------

    def existing_role(self, profile_arn: str) -> ExistingRole:
        """The role in a profile that is not ours, and its managed policies. role_name None: deleted or empty."""
        profile_name = profile_arn.rsplit("/", 1)[-1]
        try:
            profile = self.iam.get_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]
        except ClientError as error:
            _expected(error, "NoSuchEntity", "iam:GetInstanceProfile")
            return ExistingRole(profile_arn, None)
        roles = profile.get("Roles", [])
        if not roles:
            return ExistingRole(profile_arn, None)
        role_name = roles[0]["RoleName"]  # an instance profile holds at most one role
        attached: set[str] = set()
        with _aws("iam:ListAttachedRolePolicies"):
            for page in self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
                attached.update(policy["PolicyArn"] for policy in page.get("AttachedPolicies", []))
        return ExistingRole(profile_arn, role_name, frozenset(attached))

    def attach_role_policy(self, role_name: str, policy_arn: str) -> None:
        """LimitExceeded (the role's managed-policy quota) becomes a final role_policy_limit failure."""
        with _aws("iam:AttachRolePolicy"):
            self.iam.attach_role_policy(RoleName=role_name, PolicyArn=policy_arn)

    # --- SSM ------------------------------------------------------------------------------------------------

    def agent_info(self, instance_id: str) -> AgentInfo | None:
        """None until the instance's agent has registered with Systems Manager.

        An InstanceIds filter naming an instance Systems Manager does not know yet is answered InvalidInstanceId
        rather than an empty list: that is the ordinary "not registered yet" of the registration wait.
        """
        try:
            response = self.instance_information.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance_id]}], MaxResults=5
            )
        except ClientError as error:
            _expected(error, "InvalidInstanceId", "ssm:DescribeInstanceInformation")
            return None
        for entry in response.get("InstanceInformationList", []):
            if entry.get("InstanceId") == instance_id:
                return AgentInfo(
                    instance_id=instance_id,
                    ping_status=str(entry.get("PingStatus", "")),
                    agent_version=entry.get("AgentVersion", ""),
                    is_latest_version=entry.get("IsLatestVersion"),
                )
        return None

    def send_agent_update(self, instance_id: str, *, comment: str, sent_after: datetime) -> str:
        """Run AWS-UpdateSSMAgent once per `comment`: the command id of the one already sent with it, else of a new
        one. An unregistered instance (InvalidInstanceId) is a retryable agent_not_ready."""
        earlier = self._agent_update_sent(instance_id, comment, sent_after)
        if earlier is not None:
            return earlier
        with _aws("ssm:SendCommand"):
            response = self.ssm.send_command(
                InstanceIds=[instance_id],
                DocumentName=AGENT_UPDATE_DOCUMENT,
                Comment=comment,
                TimeoutSeconds=_AGENT_UPDATE_DELIVERY_TIMEOUT_SECONDS,
            )
        return response["Command"]["CommandId"]

    def _agent_update_sent(self, instance_id: str, comment: str, sent_after: datetime) -> str | None:
        """The AWS-UpdateSSMAgent command with this comment that was sent to the instance after `sent_after`."""
        filters: list[CommandFilterTypeDef] = [
            {"key": "DocumentName", "value": AGENT_UPDATE_DOCUMENT},
            {"key": "InvokedAfter", "value": sent_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        ]
        with _aws("ssm:ListCommands"):
            for page in self.ssm.get_paginator("list_commands").paginate(InstanceId=instance_id, Filters=filters):
                for command in page.get("Commands", []):
                    if command.get("Comment") == comment:
                        return command["CommandId"]
        return None

    def agent_update_invocation(self, command_id: str, instance_id: str) -> AgentUpdateInvocation | None:
        """The invocation's Status and output, or None while it does not exist yet (it appears shortly after
        SendCommand)."""
        try:
            response = self.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as error:
            _expected(error, "InvocationDoesNotExist", "ssm:GetCommandInvocation")
            return None
        output = f"{response.get('StandardOutputContent', '')}\n{response.get('StandardErrorContent', '')}"
        return AgentUpdateInvocation(response["Status"], output)

    # --- SNS and Step Functions -----------------------------------------------------------------------------

    def publish_failure_notice(self, topic_arn: str, notice: EnrollmentFailureNotice) -> str:
        with _aws("sns:Publish"):
            response = self.sns.publish(
                TopicArn=topic_arn,
                Subject=notice.subject,
                Message=json.dumps(notice.message, sort_keys=True),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": notice.message[name]}
                    for name in ("kind", "severity", "reason")
                },
            )
        return response["MessageId"]

    def start_enrollment(self, state_machine_arn: str, name: str, execution_input: Mapping[str, Any]) -> bool:
        """False when an execution of that name exists already: a duplicate event, or the sweep racing it."""
        try:
            self.sfn.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input, sort_keys=True)
            )
        except ClientError as error:
            _expected(error, "ExecutionAlreadyExists", "states:StartExecution")
            return False
        return True


# --- Default Host Management Configuration -----------------------------------------------------------------------


class ServiceSettingsApi(Protocol):
    """The SSM service-setting calls behind Default Host Management Configuration."""

    def get_service_setting(
        self, **kwargs: Unpack[GetServiceSettingRequestTypeDef]
    ) -> GetServiceSettingResultTypeDef: ...

    def update_service_setting(self, **kwargs: Unpack[UpdateServiceSettingRequestTypeDef]) -> dict[str, Any]: ...

    def reset_service_setting(
        self, **kwargs: Unpack[ResetServiceSettingRequestTypeDef]
    ) -> ResetServiceSettingResultTypeDef: ...


@dataclass(frozen=True)
class HostManagementState:
    role: str | None  # None: the setting is at its default (Default Host Management Configuration is off)


class HostManagementSetting:
    """/ssm/managed-instance/default-ec2-instance-management-role: the role DHMC gives agents without a profile."""

    def __init__(self, api: ServiceSettingsApi) -> None:
        self.api = api

    @classmethod
    def connect(cls) -> HostManagementSetting:
        return cls(aws_client("ssm", _BOTO_CONFIG))

    def current(self) -> HostManagementState:
        setting = self.api.get_service_setting(SettingId=HOST_MANAGEMENT_SETTING_ID)["ServiceSetting"]
        if setting.get("Status") == "Default":
            return HostManagementState(None)
        return HostManagementState(setting.get("SettingValue") or None)

    def set_role(self, role: str) -> None:
        """`role` is the role name with its path, if any (e.g. "service-role/MyRole"), as the setting wants it."""
        self.api.update_service_setting(SettingId=HOST_MANAGEMENT_SETTING_ID, SettingValue=role)

    def restore(self, state: HostManagementState) -> None:
        if state.role is None:
            self.api.reset_service_setting(SettingId=HOST_MANAGEMENT_SETTING_ID)
        else:
            self.set_role(state.role)
