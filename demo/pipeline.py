"""`make demo`: the whole SessionGuard pipeline on the embedded AWS emulator, one step after another.

1. Deploy template.yaml (demo.deploy), with Slack pointed at a loopback capture server through Secrets Manager.
2. Launch an instance without a profile and deliver its state-change event to the enrollment path
   (demo.enrollment).
3. Replay a recorded session into the session log group; the subscription filter delivers it to the alert
   function (demo.sessions).
4. The session ledger (demo.ledger): a command session whose transcript arrives as plain-text log events, and a
   shell session that never streams, with their CloudTrail events; the reconciler finds the second.
5. Read what reached people: SNS (through an SQS queue subscribed to the topic), Slack (the capture server), the
   sanitized transcript (its log group), the ledger; print a summary and write it under the output directory.

Everything the emulator cannot do is said on the console as an `emulator:` line, with what the demo does instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import boto3
from moto import __version__ as moto_version
from sessionguard.adapters.fleet import Fleet
from sessionguard.session.windows import is_windows_transcript

from demo.capture import CaptureServer
from demo.console import Console
from demo.deploy import Deployment, create_custom_resources, deploy_stack
from demo.emulator import Emulator
from demo.enrollment import (
    INSTANCE_TYPE,
    ExecutionRun,
    deliver_to_rules,
    enrollment_facts,
    launch_instance,
    run_executions,
    state_change_event,
)
from demo.fakes import InMemoryInstanceInformation
from demo.integrations import (
    INTEGRATION_PARAMETERS,
    read_integrations,
    show_integrations,
    subscribe_integrations,
    write_integrations,
)
from demo.lambdas import DeployedFunction, LocalLambda, Prepare
from demo.ledger import play_ledger, sessions_records, write_sessions
from demo.sessions import RecordedSession, read_session, replay, subscription_payload
from demo.template import ROOT

DEFAULT_SESSION = ROOT / "events" / "session-risky.jsonl"
DEFAULT_OUTPUT = ROOT / ".demo"
# The agent of an instance that started without a profile finds the credentials and registers a while after the
# profile is attached (up to ~25-30 minutes when it has backed off; docs/enrollment.md). The demo plays it early.
REGISTRATION_AFTER_SECONDS = 100
SANITIZED_SHOWN = 40  # transcript lines printed; all of them are written to sanitized.jsonl
OUTPUT_FILES = ("sns.jsonl", "slack.jsonl", "sanitized.jsonl", "enrollment.json", "functions.log", "sessions.jsonl")


class DemoFailed(Exception):
    """A step did not do what it should; `step` names it, the message says what went wrong."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


@dataclass
class DemoOptions:
    session: Path = DEFAULT_SESSION
    output: Path = DEFAULT_OUTPUT
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    color: bool | None = None  # None: colour when the stream is a terminal
    stack_name: str = "sessionguard"


@dataclass
class DemoResult:
    sns_messages: list[dict[str, Any]]
    slack_posts: list[Any]
    sanitized: list[dict[str, Any]]
    enrollment: dict[str, Any]
    files: dict[str, Path]
    seconds: float


@contextmanager
def _step(name: str) -> Iterator[None]:
    """Any error inside becomes a DemoFailed naming the step."""
    try:
        yield
    except DemoFailed:
        raise
    except Exception as error:
        raise DemoFailed(name, f"{type(error).__name__}: {error}") from error


def run_demo(options: DemoOptions) -> DemoResult:
    started = time.monotonic()
    console = Console(options.stream, color=options.color)
    with _step("reading the session"):
        session = read_session(options.session)
    output = _prepare_output(options.output)
    console.title("SessionGuard demo: the whole pipeline on an embedded AWS emulator")
    with ExitStack() as stack:
        log = stack.enter_context((output / "functions.log").open("w", encoding="utf-8"))
        with _step("starting the emulator"):
            emulator = stack.enter_context(Emulator())
            capture = stack.enter_context(CaptureServer())
        console.line(f"  emulator   moto {moto_version} server at {emulator.url} (in this process, stopped at the end)")
        console.line(f"  slack      webhook capture server at {capture.url}")

        console.section(1, "Deploy template.yaml")
        inventory = InMemoryInstanceInformation()
        with _step("deploying template.yaml"):
            deployment, runtime = _deploy(options.stack_name, capture, inventory, log, console)
            stack.callback(runtime.close)
            inbox = _subscribe_inbox(deployment)
            event_inbox = subscribe_integrations()

        console.section(2, "Enroll a new instance")
        with _step("enrollment"):
            enrollment = _enroll(deployment, runtime, inventory, console)

        console.section(3, f"Replay a session: {_shown_path(session.path)}")
        with _step("replaying the session"):
            _replay_and_deliver(session, deployment, emulator, runtime, console)

        console.section(4, "The session ledger: a command session and a session that never streams")
        with _step("the session ledger"):
            ledger = play_ledger(deployment, emulator, runtime, console)

        console.section(5, "What reached people")
        with _step("reading what was delivered"):
            sns_messages = _drain(inbox)
            slack_posts = [request.json() for request in capture.slack_posts()]
            sanitized = _sanitized_transcript(deployment.physical_id("SanitizedLogGroup"))
            _show_deliveries(deployment, sns_messages, slack_posts, sanitized, console)
            integrations = read_integrations(event_inbox)
            show_integrations(integrations, console)

    files = _write_outputs(output, sns_messages, slack_posts, sanitized, enrollment)
    write_sessions(files["sessions.jsonl"], sessions_records(ledger, sns_messages))
    files.update(write_integrations(output, integrations))
    console.line()
    console.done("written: " + ", ".join(_shown_path(path) for path in files.values()))
    problems = _problems(enrollment)
    seconds = time.monotonic() - started
    if problems:
        raise DemoFailed("checking the results", "; ".join(problems))
    console.done(f"done in {seconds:.1f} s; the emulator and the capture server are stopped")
    return DemoResult(sns_messages, slack_posts, sanitized, enrollment, files, seconds)


# --- 1. Deploy ---------------------------------------------------------------------------------------------------


def _deploy(
    stack_name: str, capture: CaptureServer, inventory: InMemoryInstanceInformation, log: TextIO, console: Console
) -> tuple[Deployment, LocalLambda]:
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="sessionguard/demo/slack-webhook",
        Description="Slack incoming webhook URL for SessionGuard (here: the demo's capture server)",
        SecretString=json.dumps({"url": capture.slack_webhook_url}),
    )["ARN"]
    console.done(f"Slack webhook URL (the capture server) in Secrets Manager: {secret_arn.rsplit(':', 1)[-1]}")
    deployment = deploy_stack(stack_name, {"SlackWebhookSecretArn": secret_arn, **INTEGRATION_PARAMETERS})
    console.done(
        f"sam deploy, offline: template translated ({len(deployment.template['Resources'])} resources), "
        f"{deployment.code_uploads} code zips uploaded, SlackWebhookSecretArn set, SecurityHubFindings on"
    )
    console.done(
        f"stack {stack_name} {deployment.status}: {len(deployment.resources)} resources created by the emulator's "
        "CloudFormation"
    )
    console.emulator("it runs Lambda code only in Docker; every invocation from here on runs the function's real")
    console.detail("handler in this process, with the environment the stack gave the function")
    runtime = LocalLambda(deployment.functions(), log=log, prepare=_with_inventory(inventory))
    create_custom_resources(deployment, runtime, capture)
    console.emulator("its CloudFormation skips these resources (or parts); the demo does their part through the API:")
    for completion in deployment.completions:
        line = f"{completion.logical_id} ({completion.resource_type}): {completion.how}"
        console.item(line if completion.done else console.paint(line, "yellow"))
    _show_preferences(console)
    return deployment, runtime


def _with_inventory(inventory: InMemoryInstanceInformation) -> Prepare:
    """The emulator has no ssm:DescribeInstanceInformation: the enrollment functions' fleet adapter reads agent
    registration from the in-memory inventory instead (the Protocol the adapter has for this)."""

    def prepare(function: DeployedFunction, module: ModuleType) -> None:
        if callable(getattr(module, "fleet", None)):
            module.fleet = cache(lambda: Fleet.connect(instance_information=inventory))  # type: ignore[attr-defined]

    return prepare


def _show_preferences(console: Console) -> None:
    document = boto3.client("ssm").get_document(Name="SSM-SessionManagerRunShell", DocumentFormat="JSON")
    inputs = json.loads(document["Content"]).get("inputs", {})
    enforced = bool(inputs.get("cloudWatchEncryptionEnabled")) and bool(inputs.get("s3EncryptionEnabled"))
    console.done(f"Session Manager preferences: SSM-SessionManagerRunShell version {document.get('DocumentVersion')}")
    console.detail(
        f"sessions stream to {inputs.get('cloudWatchLogGroupName')}, transcripts go to "
        f"s3://{inputs.get('s3BucketName')}/{inputs.get('s3KeyPrefix')}/, encryption "
        + ("enforced" if enforced else "NOT enforced")
    )


# --- 2. Enrollment -----------------------------------------------------------------------------------------------


def _enroll(
    deployment: Deployment, runtime: LocalLambda, inventory: InMemoryInstanceInformation, console: Console
) -> dict[str, Any]:
    instance_id = launch_instance()
    console.done(f"launched {instance_id} (Amazon Linux, {INSTANCE_TYPE}) without an instance profile")
    console.emulator("its EventBridge cannot invoke Lambda targets; the demo matches the event against the deployed")
    console.detail("rules (with the emulator's own matcher) and invokes the targets of those that match")
    deliveries = deliver_to_rules(state_change_event(instance_id), runtime)
    if not deliveries:
        raise DemoFailed("enrollment", "no deployed rule matched the EC2 state-change event")
    for delivery in deliveries:
        result = delivery.result.get("Result") if isinstance(delivery.result, dict) else None
        console.done(
            f"EC2 state-change event (running) -> {deployment.logical_id_of(delivery.rule)} -> {delivery.function}: "
            f"{result or _step_result(delivery.result)}"
        )
    console.emulator("its Step Functions records the execution but cannot run Lambda tasks; the demo runs the")
    console.detail("deployed definition (demo/asl.py) on a virtual clock, each Task invoking its function")
    console.emulator("it has no SSM agents; the demo plays the instance's registration, in the in-memory SSM")
    console.detail(f"inventory behind the fleet adapter, {_duration(REGISTRATION_AFTER_SECONDS)} into the execution")
    runs = run_executions(runtime, inventory, registration_after=REGISTRATION_AFTER_SECONDS)
    for run in runs:
        _show_execution(run, console)
    facts = enrollment_facts(instance_id)
    record = facts.record()
    if record["profile_attached"]:
        console.done(
            f"instance profile attached: {str(facts.profile_arn).rsplit('/', 1)[-1]} ({facts.association_state})"
        )
    else:
        console.failed(f"no instance profile attached to {instance_id}")
    if facts.agent_update_command_id:
        console.done(f"AWS-UpdateSSMAgent sent: command {facts.agent_update_command_id} ({facts.agent_update_status})")
    else:
        console.failed(f"AWS-UpdateSSMAgent was not sent to {instance_id}")
    sessionguard_tags = {k: v for k, v in facts.tags.items() if k.startswith("sessionguard:")}
    console.done("instance tags: " + (", ".join(f"{k}={v}" for k, v in sorted(sessionguard_tags.items())) or "none"))
    execution = next((run for run in runs if run.instance_id == instance_id), None)
    record["execution_status"] = execution.status if execution else None
    return {"instances": [record]}


def _show_execution(run: ExecutionRun, console: Console) -> None:
    console.done(f"execution {run.name}:")
    registered_shown = False
    for step in run.steps:
        if not registered_shown and run.registered_at is not None and step.at_seconds >= run.registered_at:
            console.item(f"+{_clock(run.registered_at)}  (the instance's agent registers: played by the demo)")
            registered_shown = True
        console.item(f"+{_clock(step.at_seconds)}  {step.state:<19} {_step_result(step.result)}")
    status = console.paint(run.status, "green" if run.status == "SUCCEEDED" else "red")
    console.detail(
        f"{status} at {run.end_state} after {_duration(run.elapsed_seconds)} of virtual time "
        f"({_duration(run.waited_seconds)} in Wait states, no Lambda running meanwhile)"
    )


def _step_result(result: Any) -> str:
    if not isinstance(result, dict):
        return str(result)
    parts = [str(result["Outcome"])] if "Outcome" in result else []
    parts += [f"{key} {value}" for key, value in result.items() if key != "Outcome" and value not in (None, "")]
    return ", ".join(parts)


# --- 3. The session ----------------------------------------------------------------------------------------------


def _subscribe_inbox(deployment: Deployment) -> str:
    """An SQS queue subscribed to the alert topic: what the topic publishes, as a subscriber receives it."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="sessionguard-demo-alert-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(
        TopicArn=deployment.physical_id("AlertTopic"), Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
    )
    return queue_url


def _replay_and_deliver(
    session: RecordedSession, deployment: Deployment, emulator: Emulator, runtime: LocalLambda, console: Console
) -> None:
    log_group = deployment.physical_id("SessionLogGroup")
    emulator.take_invocations()
    calls = replay(session, log_group)
    sessions = ", ".join(session.session_ids)
    console.done(
        f"{_count(len(session.lines), 'log event')} of {_count(len(session.sessions), 'session')} ({sessions}) put "
        f"into {log_group}, one stream per session ({_count(calls, 'PutLogEvents call')})"
    )
    invocations = emulator.take_invocations()
    if not invocations:
        raise DemoFailed("replaying the session", f"the subscription filter on {log_group} delivered nothing")
    totals: dict[str, int] = {}
    for invocation in invocations:
        payload = subscription_payload(invocation.event)
        function = runtime.function(invocation.function_arn)
        console.done(
            f"subscription filter {', '.join(payload.get('subscriptionFilters', []))} -> {function.logical_id}: "
            f"{payload.get('messageType')} with {len(payload.get('logEvents', []))} log events (gzip, base64)"
        )
        try:
            summary = runtime.invoke(invocation.function_arn, invocation.event)
        except Exception as error:
            message = f"{function.logical_id} raised {type(error).__name__}: {error}"
            raise DemoFailed("delivering the session", message) from error
        for key in ("commands", "alerts", "secrets_masked", "malformed", "lines_written"):
            totals[key] = totals.get(key, 0) + int(summary.get(key, 0))
    console.done(
        f"{_count(totals['commands'], 'command')} rebuilt, {_count(totals['secrets_masked'], 'secret')} masked, "
        f"{_count(totals['alerts'], 'alert')} raised, {_count(totals['lines_written'], 'sanitized line')} written, "
        f"{_count(totals['malformed'], 'malformed record')} parked in the failure queue"
    )


# --- 4. What reached people --------------------------------------------------------------------------------------


def _drain(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
            "Messages", []
        )
        if not batch:
            return messages
        messages.extend(json.loads(message["Body"]) for message in batch)


def _sanitized_transcript(log_group: str) -> list[dict[str, Any]]:
    logs = boto3.client("logs")
    lines: list[dict[str, Any]] = []
    for stream in logs.describe_log_streams(logGroupName=log_group)["logStreams"]:
        token = None
        while True:
            params: dict[str, Any] = {"logGroupName": log_group, "logStreamName": stream["logStreamName"]}
            if token:
                params["nextToken"] = token
            page = logs.get_log_events(startFromHead=True, **params)
            for event in page["events"]:
                try:
                    record = json.loads(event["message"])
                except ValueError:
                    record = {"text": event["message"]}
                lines.append({"log_stream": stream["logStreamName"], "timestamp": event["timestamp"], **record})
            if not page["events"] or page.get("nextForwardToken") == token:
                break
            token = page.get("nextForwardToken")
    return lines


def _alert_record(message: dict[str, Any]) -> dict[str, Any]:
    """The alert JSON at the end of an SNS alert's body (sessionguard.alerting.formatting.build_sns_message)."""
    body = str(message.get("Message", ""))
    _, found, record = body.partition("Alert JSON:\n")
    try:
        parsed = json.loads(record) if found else json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _show_deliveries(
    deployment: Deployment,
    sns_messages: Sequence[dict[str, Any]],
    slack_posts: Sequence[Any],
    sanitized: Sequence[dict[str, Any]],
    console: Console,
) -> None:
    topic = deployment.physical_id("AlertTopic").rsplit(":", 1)[-1]
    console.done(
        f"SNS topic {topic}: {_count(len(sns_messages), 'message')} (read through an SQS queue subscribed to it)"
    )
    for message in sns_messages:
        record = _alert_record(message)
        attributes = message.get("MessageAttributes", {})
        severity = str(attributes.get("severity", {}).get("Value") or record.get("severity") or "info")
        rule_id = str(attributes.get("rule_id", {}).get("Value") or record.get("rule_id") or "-")
        console.item(f"{console.severity(severity)} {rule_id:<14} {record.get('title') or message.get('Subject', '')}")
        if record.get("command"):
            console.detail(_one_line(str(record["command"])))
    console.done(f"Slack: {_count(len(slack_posts), 'webhook post')} received by the capture server")
    for post in slack_posts:
        console.item(_slack_header(post))
    console.done(
        f"sanitized transcript: {_count(len(sanitized), 'line')} in {deployment.physical_id('SanitizedLogGroup')}"
    )
    stream = None
    prompt = "$ "
    for line in sanitized[:SANITIZED_SHOWN]:
        if line["log_stream"] != stream:
            stream = line["log_stream"]
            prompt = "$ "
            console.detail(f"stream {stream}")
        text = _one_line(str(line.get("text", "")))
        if line.get("kind") == "output" and is_windows_transcript([text]):
            prompt = "PS> "  # a Windows session: its transcript header came first
        console.line(
            f"      {console.paint(prompt, 'dim')}{text}" if line.get("kind") == "command" else f"        {text}"
        )
    if len(sanitized) > SANITIZED_SHOWN:
        console.detail(f"... {len(sanitized) - SANITIZED_SHOWN} more lines in sanitized.jsonl")


def _slack_header(post: Any) -> str:
    blocks = post.get("blocks", []) if isinstance(post, dict) else []
    for block in blocks:
        if block.get("type") == "header":
            return str(block.get("text", {}).get("text", ""))
    return _one_line(str(post.get("text", post) if isinstance(post, dict) else post))[:120]


# --- Output ------------------------------------------------------------------------------------------------------


def _prepare_output(output: Path) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:
        (output / name).unlink(missing_ok=True)
    return output


def _write_outputs(
    output: Path,
    sns_messages: Sequence[dict[str, Any]],
    slack_posts: Sequence[Any],
    sanitized: Sequence[dict[str, Any]],
    enrollment: dict[str, Any],
) -> dict[str, Path]:
    files = {name: output / name for name in OUTPUT_FILES}
    for name, records in (("sns.jsonl", sns_messages), ("slack.jsonl", slack_posts), ("sanitized.jsonl", sanitized)):
        files[name].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    files["enrollment.json"].write_text(json.dumps(enrollment, indent=2) + "\n", encoding="utf-8")
    return files


def _problems(enrollment: dict[str, Any]) -> list[str]:
    problems = []
    for instance in enrollment["instances"]:
        if not instance["profile_attached"]:
            problems.append(f"{instance['instance_id']}: no instance profile attached")
        if not instance["agent_update_command_id"]:
            problems.append(f"{instance['instance_id']}: AWS-UpdateSSMAgent not sent")
        if instance.get("execution_status") != "SUCCEEDED":
            problems.append(f"{instance['instance_id']}: enrollment execution {instance.get('execution_status')}")
    return problems


# --- Formatting --------------------------------------------------------------------------------------------------


def _one_line(text: str, limit: int = 110) -> str:
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _shown_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
