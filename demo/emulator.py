"""The embedded AWS emulator: moto's server on a free loopback port, in this process, and the process pointed at it.

Everything talks to it over HTTP through the public AWS APIs (boto3 with AWS_ENDPOINT_URL), as the functions
would talk to AWS. Where moto cannot do what AWS does, this module is the one place that reaches into moto:

- Lambda: moto runs function code in Docker, which these machines lack. `captured_invocations` records each
  invocation the emulator makes (a subscription filter delivering log events) so the demo can run the function's
  real handler in-process (demo.lambdas) with the payload the emulator built.
- CloudFormation: moto skips resource types it does not model. `resolved_properties` resolves such a resource's
  properties with moto's own intrinsic-function resolver and the deployed stack, so demo.deploy can create it
  through the service's API instead.
- EventBridge: moto cannot deliver to Lambda targets. `event_matches` applies moto's own pattern matcher, so the
  demo can hand an event to the targets of the rules that match it.
"""

from __future__ import annotations

import logging
import os
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import clean_json
from moto.events.models import EventPattern

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"


class EmulatorUnavailable(RuntimeError):
    """moto's server cannot start in this environment; the message says what to install."""


@dataclass(frozen=True)
class Invocation:
    """One Lambda invocation the emulator made: the function's ARN and the event, as Lambda would pass it."""

    function_arn: str
    event: Any


@contextmanager
def patched_environ(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables, and put every one back afterwards."""
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _aws_environment(endpoint_url: str) -> dict[str, str | None]:
    """Every AWS SDK call of this process goes to the emulator, with credentials that work nowhere else."""
    changes: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL_") or name == "AWS_PROFILE"
    }
    changes.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_SESSION_TOKEN": "demo",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
    )
    return changes


class Emulator:
    """moto's ThreadedMotoServer on 127.0.0.1 with a free port; a context manager that leaves nothing behind.

    On entry the emulator starts empty (moto keeps its state in module globals, shared with any earlier run in this
    process), the process environment points every AWS SDK call at it, and Lambda invocations are captured. On exit
    all of that is undone and the server stopped.
    """

    def __init__(self) -> None:
        self.url = ""
        self.invocations: list[Invocation] = []
        self._exit_stack = ExitStack()

    def __enter__(self) -> Emulator:
        with ExitStack() as stack:
            stack.enter_context(_quiet_moto())
            try:
                from moto.server import ThreadedMotoServer  # noqa: PLC0415 - its extra dependencies, reported below
            except ImportError as error:
                raise EmulatorUnavailable(
                    f"moto's server cannot start: {error}. It needs moto[server] (Flask and flask-cors) in .venv; "
                    "requirements-dev.lock should provide them (run `make install`)."
                ) from error
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            stack.callback(self._stop, server)
            host, port = server.get_host_and_port()
            self.url = f"http://{host}:{port}"
            self._reset()
            stack.enter_context(patched_environ(_aws_environment(self.url)))
            stack.enter_context(captured_invocations(self.invocations))
            self._exit_stack = stack.pop_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit_stack.close()

    def _stop(self, server: Any) -> None:
        try:
            self._reset()  # nothing of this run stays behind for later moto users in this process (tests)
        finally:
            server.stop()
            listening = getattr(server, "_server", None)  # stop() leaves the listening socket open
            if listening is not None:
                listening.server_close()

    def _reset(self) -> None:
        """moto's documented reset endpoint: every backend back to empty."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - loopback URL
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def take_invocations(self) -> list[Invocation]:
        taken, self.invocations[:] = list(self.invocations), []
        return taken


@contextmanager
def _quiet_moto() -> Iterator[None]:
    """moto's server logs every request and warns about each resource type its CloudFormation skips; the demo
    reports what matters itself."""
    loggers = [logging.getLogger(name) for name in ("werkzeug", "moto")]
    levels = [log.level for log in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")
        warnings.filterwarnings("ignore", message=".*install moto\\[server\\].*")
        for log in loggers:
            log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for log, level in zip(loggers, levels, strict=True):
                log.setLevel(level)


@contextmanager
def captured_invocations(into: list[Invocation]) -> Iterator[None]:
    """Record the Lambda invocations the emulator makes instead of running them in Docker.

    moto calls `LambdaFunction._invoke_lambda(event)` for every invocation (the Invoke API, log subscription
    deliveries) and starts a container there. The recording answers like a function that returned nothing, as an
    asynchronous invocation (Lambda's answer 202) does for its caller.
    """
    original = LambdaFunction._invoke_lambda

    def record(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        into.append(Invocation(function.function_arn, event))
        return "", False, ""

    LambdaFunction._invoke_lambda = record  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]


def resolved_properties(stack_name: str, resource: Mapping[str, Any]) -> dict[str, Any] | None:
    """A template resource's Properties with every intrinsic function resolved against the deployed stack, as
    CloudFormation would pass them to the service; None when the resource's Condition is false."""
    stack = cloudformation_backends[ACCOUNT_ID][REGION].get_stack(stack_name)
    condition = resource.get("Condition")
    if condition and not stack.resource_map.lazy_condition_map[condition]:
        return None
    properties: dict[str, Any] = clean_json(resource.get("Properties", {}), stack.resource_map)
    return properties


def event_matches(pattern: str, event: Mapping[str, Any]) -> bool:
    """Whether an EventBridge rule's EventPattern matches the event (moto's matcher, as its event bus uses it)."""
    return bool(EventPattern.load(pattern).matches_event(dict(event)))  # type: ignore[arg-type]
