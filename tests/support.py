"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, Self

import boto3
from aws_lambda_powertools.metrics.provider import cold_start
from aws_lambda_powertools.utilities import parameters
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends
from sessionguard.alerting.noise import NoiseStore
from sessionguard.observability import metrics

if TYPE_CHECKING:
    import pytest
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from tests.conftest import HttpRecorder

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ALERT_STATE_TABLE = "sessionguard-alert-state"


def load_function(name: str, module_name: str | None = None) -> ModuleType:
    """functions/<name>/app.py as a fresh module: every function's handler file is called app.py, so they cannot
    be imported side by side by their file name."""
    path = REPO / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(module_name or f"{name}_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeLambdaContext:
    """The LambdaContext attributes the handlers and Powertools read; `remaining_ms` is the time left."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    log_stream_name: str = ""
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class _Cached(Protocol):
    def cache_clear(self) -> None: ...


def fresh_powertools(*cached: _Cached) -> Iterator[None]:
    """The body of an autouse fixture: Powertools keeps metrics, cold start and parameter caches in module state,
    and a function builds its outlets once per container (`cached`), so every test starts fresh. (The namespace
    and service come from the environment tests/conftest.py sets before anything imports Powertools.)"""
    metrics.clear_metrics()
    cold_start.is_cold_start = True
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    for function in cached:
        function.cache_clear()
    yield
    metrics.clear_metrics()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    for function in cached:
        function.cache_clear()


@dataclass
class AlertStack:
    """What both alert functions deliver to, in moto: two SNS topics, each read through an SQS queue subscribed
    with raw delivery (as a subscriber sees the messages), the alert state table, and the Slack webhook secret
    pointing at the loopback recorder. A function's own test module subclasses it for the rest of its stack."""

    topic_arn: str
    extra_topic_arn: str
    subscribers: dict[str, str]  # topic ARN -> queue URL
    secret_arn: str
    slack: HttpRecorder
    sqs: Any
    _seen: dict[str, list[dict[str, Any]]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def create(cls, slack: HttpRecorder, **more: Any) -> Self:
        """Create the resources (inside `mock_aws`); `more` are the subclass's own fields."""
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="sessionguard-alerts")["TopicArn"]
        extra_topic_arn = sns.create_topic(Name="central-security-alerts")["TopicArn"]
        subscribers = {}
        for arn, name in ((topic_arn, "alerts-subscriber"), (extra_topic_arn, "central-subscriber")):
            queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
            subscribers[arn] = queue_url
        create_state_table(boto3.client("dynamodb", region_name=REGION), ALERT_STATE_TABLE)
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="sessionguard/slack-webhook", SecretString=json.dumps({"url": slack.url + "/services/T0/B0/x"})
        )["ARN"]
        return cls(topic_arn, extra_topic_arn, subscribers, secret_arn, slack, sqs, **more)

    def set_environment(self, monkeypatch: pytest.MonkeyPatch, **more: str) -> None:
        """The delivery variables both functions read (template.yaml sets them), and the function's own `more`."""
        delivery = {
            "ALERT_TOPIC_ARN": self.topic_arn,
            "EXTRA_ALERT_TOPIC_ARN": self.extra_topic_arn,
            "SLACK_WEBHOOK_SECRET_ARN": self.secret_arn,
            "ALERT_STATE_TABLE": ALERT_STATE_TABLE,
            "ALERT_MIN_SEVERITY": "medium",
            "ALERT_WINDOW_MINUTES": "15",
        }
        for name, value in {**delivery, **more}.items():
            monkeypatch.setenv(name, value)

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message the queue has received so far, oldest first: messages are kept hidden, not deleted, so
        a test sees the whole history and the queue stays as the function left it."""
        seen = self._seen.setdefault(queue_url, [])
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return seen
            seen.extend(batch)

    def sns_messages(self, topic_arn: str | None = None) -> list[dict[str, Any]]:
        """Every message published so far to the topic (the main one by default)."""
        return self.drain(self.subscribers[topic_arn or self.topic_arn])

    def sns_rule_ids(self) -> list[str]:
        return [m["MessageAttributes"]["rule_id"]["StringValue"] for m in self.sns_messages()]

    def slack_posts(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.slack.requests]


# --- EC2 and IAM in moto, for the enrollment tests ------------------------------------------------------------

AMAZON_LINUX_AMI = "ami-12c6146b"  # in moto's built-in AMI list (listing them all takes seconds)


def launch_instance(ec2: Any, *, image_id: str = AMAZON_LINUX_AMI, profile_arn: str | None = None, **tags: str) -> str:
    """RunInstances of one t3.micro, with an instance profile and tags when given; its instance id."""
    extra: dict[str, Any] = {}
    if profile_arn:
        extra["IamInstanceProfile"] = {"Arn": profile_arn}
    if tags:
        extra["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    reservation = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro", **extra)
    instance_id: str = reservation["Instances"][0]["InstanceId"]
    return instance_id


def instance_tags(ec2: Any, instance_id: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


@cache
def _ssm_core_policy_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(aws_managed_policies_data)["AmazonSSMManagedInstanceCore"]
    return data


def add_ssm_core_policy(account: str, region: str) -> None:
    """moto knows AWS managed policies only when told to load all ~1,600 (seconds per test); load just one."""
    policy = AWSManagedPolicy.from_data("AmazonSSMManagedInstanceCore", account, region, _ssm_core_policy_data())
    iam_backends[account]["aws"].managed_policies[policy.arn] = policy


@dataclass
class CountingNoiseStore:
    """A noise store that counts its calls (each one a DynamoDB UpdateItem in the function)."""

    inner: NoiseStore
    calls: list[str] = field(default_factory=list)

    def claim_window(self, window_key: str, owner: str, expires_at: int, now: int) -> bool:
        self.calls.append("window")
        return self.inner.claim_window(window_key, owner, expires_at, now)

    def window_owner(self, window_key: str) -> str:
        self.calls.append("owner")
        return self.inner.window_owner(window_key)

    def admit_to_cap(self, session_key: str, alert_key: str, cap: int, expires_at: int, now: int) -> bool:
        self.calls.append("cap")
        return self.inner.admit_to_cap(session_key, alert_key, cap, expires_at, now)

    def claim_summary(self, session_key: str, owner: str, expires_at: int, now: int) -> bool:
        self.calls.append("summary")
        return self.inner.claim_summary(session_key, owner, expires_at, now)


def create_state_table(client: Any, name: str) -> None:
    """The alert state table as the template declares it: one string hash key `id`, on demand."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


# --- in-memory alert state: noise control and the delivery ledger without DynamoDB ----------------------------


@dataclass
class _Claim:
    owner: str
    expires_at: int


@dataclass
class _Session:
    admitted: set[str] = field(default_factory=set)
    summary_owner: str = ""
    expires_at: int = 0


@dataclass
class InMemoryNoiseStore:
    """NoiseStore for tests and local runs: the same semantics as the DynamoDB store, in a dict."""

    windows: dict[str, _Claim] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)

    def claim_window(self, window_key: str, owner: str, expires_at: int, now: int) -> bool:
        claim = self.windows.get(window_key)
        if claim is not None and claim.expires_at >= now and claim.owner != owner:
            return False
        self.windows[window_key] = _Claim(owner, expires_at)
        return True

    def window_owner(self, window_key: str) -> str:
        claim = self.windows.get(window_key)
        return claim.owner if claim is not None else ""

    def _session(self, session_key: str, now: int) -> _Session:
        session = self.sessions.get(session_key)
        if session is None or session.expires_at < now:
            session = self.sessions[session_key] = _Session()
        return session

    def admit_to_cap(self, session_key: str, alert_key: str, cap: int, expires_at: int, now: int) -> bool:
        session = self._session(session_key, now)
        if alert_key not in session.admitted and len(session.admitted) >= cap:
            return False
        session.admitted.add(alert_key)
        session.expires_at = expires_at
        return True

    def claim_summary(self, session_key: str, owner: str, expires_at: int, now: int) -> bool:
        session = self._session(session_key, now)
        if session.summary_owner and session.summary_owner != owner:
            return False
        session.summary_owner = owner
        session.expires_at = expires_at
        return True


@dataclass
class InMemoryLedger:
    """`Ledger` for tests and local runs."""

    done: set[str] = field(default_factory=set)

    def once(self, key: str, action: Callable[[], object]) -> bool:
        if key in self.done:
            return False
        action()
        self.done.add(key)
        return True

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Nothing to expire in memory."""
