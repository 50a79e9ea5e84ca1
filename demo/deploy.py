"""template.yaml deployed into the emulator as `sam deploy` would, and what its CloudFormation skips made up for.

`sam deploy` uploads each function's and layer's local code, translates the template (AWS::Serverless) and creates
the stack. The emulator's CloudFormation (moto) then creates what it models and skips the rest without failing.
`deploy_stack` finds what was skipped and creates it through the service's own API with the properties the stack
resolves to; what the emulator has no API for is reported as such. Custom resources are left to
`create_custom_resources`, which invokes their function's real handler (demo.lambdas) with the Create request
CloudFormation would send. Every such step is a `Completion`, which the demo prints.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from demo.capture import CLOUDFORMATION_PATH, CaptureServer
from demo.emulator import resolved_properties
from demo.lambdas import DeployedFunction, LocalLambda
from demo.template import (
    ARTIFACT_BUCKET,
    adapt_for_moto,
    code_zip,
    custom_resources,
    local_code_keys,
    local_code_paths,
    sam_template,
    translate,
)

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


class DeployFailed(RuntimeError):
    """The stack or one of its resources could not be created; the message says which and why."""


@dataclass(frozen=True)
class Completion:
    """A resource the emulator's CloudFormation did not create (or not fully), and what the demo did instead."""

    logical_id: str
    resource_type: str
    how: str
    done: bool = True  # False: the emulator has no API for it either; nothing was created


@dataclass
class Deployment:
    stack_name: str
    stack_id: str
    status: str
    sam: dict[str, Any]  # template.yaml as parsed
    template: dict[str, Any]  # its translation (what CloudFormation runs), custom resources included
    resources: dict[str, str]  # logical id -> physical id of what the emulator created
    code_uploads: int
    completions: list[Completion] = field(default_factory=list)

    def physical_id(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id]
        except KeyError:
            raise DeployFailed(f"the stack has no resource {logical_id}") from None

    def logical_id_of(self, physical_id: str) -> str:
        """The logical id of a created resource, or the physical id itself when the stack has none such."""
        return next((logical for logical, physical in self.resources.items() if physical == physical_id), physical_id)

    def functions(self) -> dict[str, DeployedFunction]:
        """The stack's functions whose code is local, as the emulator holds them."""
        lambda_client = boto3.client("lambda")
        paths = local_code_paths(self.sam)
        found = {}
        for logical_id, path in paths.items():
            if (
                self.sam["Resources"][logical_id]["Type"] != "AWS::Serverless::Function"
                or logical_id not in self.resources
            ):
                continue  # layers, state machines, and functions whose Condition is false
            configuration = lambda_client.get_function_configuration(FunctionName=self.resources[logical_id])
            found[logical_id] = DeployedFunction.from_configuration(logical_id, path, configuration)
        return found


def deploy_stack(stack_name: str, parameters: Mapping[str, str]) -> Deployment:
    """Upload the code, create the stack, and create through the API what the emulator's CloudFormation skips."""
    sam = sam_template()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    paths = local_code_paths(sam)
    keys = local_code_keys(sam)
    uploads = 0
    for logical_id, key in keys.items():
        if sam["Resources"][logical_id]["Type"] != "AWS::Serverless::StateMachine":  # inlined, as `sam package` does
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=code_zip(paths[logical_id]))
            uploads += 1
    template = translate(sam)
    cloudformation = boto3.client("cloudformation")
    stack_id = cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(adapt_for_moto(template)),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        Capabilities=CAPABILITIES,  # type: ignore[arg-type]
    )["StackId"]
    status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise DeployFailed(f"stack {stack_name} ended {status}")
    summaries = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    deployment = Deployment(
        stack_name=stack_name,
        stack_id=stack_id,
        status=status,
        sam=sam,
        template=template,
        resources={r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in summaries},
        code_uploads=uploads,
    )
    for logical_id, resource in template["Resources"].items():
        if logical_id in deployment.resources or resource["Type"].startswith("Custom::"):
            continue
        properties = resolved_properties(stack_name, resource)
        if properties is not None:  # None: its Condition is false, CloudFormation would not create it either
            deployment.completions.append(_create_through_api(deployment, logical_id, resource["Type"], properties))
    deployment.completions.extend(_apply_definition_substitutions(deployment))
    return deployment


def create_custom_resources(deployment: Deployment, runtime: LocalLambda, capture: CaptureServer) -> None:
    """Send each custom resource's Create request to its function's real handler, as CloudFormation would, and
    read the answer the handler PUTs to the response URL."""
    for logical_id, resource in custom_resources(deployment.template).items():
        properties = resolved_properties(deployment.stack_name, resource)
        if properties is None:
            continue
        request_id = str(uuid.uuid4())
        service_token = str(properties["ServiceToken"])
        event = {
            "RequestType": "Create",
            "ServiceToken": service_token,
            "ResponseURL": f"{capture.url}{CLOUDFORMATION_PATH}{logical_id}/{request_id}",
            "StackId": deployment.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": resource["Type"],
            # CloudFormation hands custom resources every property value as a string.
            "ResourceProperties": _as_strings(properties),
        }
        function = runtime.function(service_token)
        try:
            runtime.invoke(service_token, event)
        except Exception as error:
            raise DeployFailed(
                f"{logical_id}: {function.logical_id} failed: {type(error).__name__}: {error}"
            ) from error
        answers = [r.json() for r in capture.requests(f"{CLOUDFORMATION_PATH}{logical_id}/{request_id}")]
        if not answers:
            raise DeployFailed(f"{logical_id}: {function.logical_id} did not answer CloudFormation")
        answer = answers[-1]
        if answer.get("Status") != "SUCCESS":
            raise DeployFailed(
                f"{logical_id}: {function.logical_id} answered {answer.get('Status')}: {answer.get('Reason')}"
            )
        deployment.resources[logical_id] = str(answer.get("PhysicalResourceId", ""))
        how = f"Create request to {function.logical_id}'s handler: SUCCESS"
        reason = str(answer.get("Reason") or "").strip()
        deployment.completions.append(
            Completion(logical_id, resource["Type"], how + (f" ({reason})" if reason else ""))
        )


# --- What the emulator's CloudFormation skips, through the service API -------------------------------------------


def _policy(properties: Mapping[str, Any]) -> str:
    return json.dumps(properties["PolicyDocument"])


def _bucket_policy(logical_id: str, stack: str, props: dict[str, Any]) -> None:
    boto3.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=_policy(props))


def _topic_policy(logical_id: str, stack: str, props: dict[str, Any]) -> None:
    for topic_arn in props["Topics"]:
        boto3.client("sns").set_topic_attributes(
            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=_policy(props)
        )


def _queue_policy(logical_id: str, stack: str, props: dict[str, Any]) -> None:
    for queue_url in props["Queues"]:
        boto3.client("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": _policy(props)})


def _event_invoke_config(logical_id: str, stack: str, props: dict[str, Any]) -> None:
    settings = {key: props[key] for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds") if key in props}
    boto3.client("lambda").put_function_event_invoke_config(
        FunctionName=props["FunctionName"],
        Qualifier=props.get("Qualifier", "$LATEST"),
        DestinationConfig=props.get("DestinationConfig", {}),
        **{key: int(value) for key, value in settings.items()},
    )


_ALARM_INTEGERS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")


def _alarm(logical_id: str, stack: str, props: dict[str, Any]) -> None:
    alarm = {key: value for key, value in props.items() if key != "Tags"}
    alarm.setdefault("AlarmName", f"{stack}-{logical_id}")
    for key in _ALARM_INTEGERS:
        if key in alarm:
            alarm[key] = int(alarm[key])
    if "Threshold" in alarm:
        alarm["Threshold"] = float(alarm["Threshold"])
    boto3.client("cloudwatch").put_metric_alarm(**alarm, Tags=props.get("Tags", []))


def _subscription_filter(logical_id: str, stack: str, props: dict[str, Any]) -> None:
    boto3.client("logs").put_subscription_filter(
        logGroupName=props["LogGroupName"],
        filterName=props.get("FilterName") or f"{stack}-{logical_id}",
        filterPattern=props.get("FilterPattern", ""),
        destinationArn=props["DestinationArn"],
    )


_API_CREATORS: dict[str, tuple[str, Callable[[str, str, dict[str, Any]], None]]] = {
    "AWS::S3::BucketPolicy": ("s3:PutBucketPolicy", _bucket_policy),
    "AWS::SNS::TopicPolicy": ("sns:SetTopicAttributes Policy", _topic_policy),
    "AWS::SQS::QueuePolicy": ("sqs:SetQueueAttributes Policy", _queue_policy),
    "AWS::Lambda::EventInvokeConfig": ("lambda:PutFunctionEventInvokeConfig", _event_invoke_config),
    "AWS::CloudWatch::Alarm": ("cloudwatch:PutMetricAlarm", _alarm),
    "AWS::Logs::SubscriptionFilter": ("logs:PutSubscriptionFilter", _subscription_filter),
}


def _create_through_api(
    deployment: Deployment, logical_id: str, resource_type: str, props: dict[str, Any]
) -> Completion:
    creator = _API_CREATORS.get(resource_type)
    if creator is None:
        return Completion(logical_id, resource_type, "left out: the emulator has no API for it either", False)
    api, create = creator
    try:
        create(logical_id, deployment.stack_name, props)
    except Exception as error:
        raise DeployFailed(f"{logical_id} ({resource_type}) through {api}: {type(error).__name__}: {error}") from error
    return Completion(logical_id, resource_type, api)


def _apply_definition_substitutions(deployment: Deployment) -> list[Completion]:
    """The emulator stores a state machine's definition without applying its DefinitionSubstitutions (the
    ${PrepareFunctionArn} placeholders); CloudFormation applies them. Apply them, and update the definition."""
    sfn = boto3.client("stepfunctions")
    completions = []
    for logical_id, resource in deployment.template["Resources"].items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine" or logical_id not in deployment.resources:
            continue
        properties = resolved_properties(deployment.stack_name, resource) or {}
        substitutions = properties.get("DefinitionSubstitutions") or {}
        if not substitutions:
            continue
        arn = deployment.resources[logical_id]
        definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        for name, value in substitutions.items():
            definition = definition.replace(f"${{{name}}}", str(value))
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        how = (
            f"its {len(substitutions)} DefinitionSubstitutions, not applied by the emulator: states:UpdateStateMachine"
        )
        completions.append(Completion(logical_id, resource["Type"], how))
    return completions


def _as_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_strings(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
