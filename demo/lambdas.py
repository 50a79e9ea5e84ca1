"""The deployed functions' real handlers, run in this process the way Lambda runs them.

The emulator holds the functions (code, handler, environment, timeout) but runs code only in Docker, which these
machines lack. `LocalLambda` looks each function up in the emulator (lambda:GetFunctionConfiguration), loads its
handler from the local code that was zipped and uploaded for it, and calls it with the function's environment
variables, JSON in and out, and a Lambda context whose remaining time counts down from the function's timeout.

Each function gets its own copy of its handler module, as each function gets its own containers. The sessionguard
package (the layer) is shared by all of them, so a LocalLambda starts by clearing its module-level caches: every
run of the demo is a cold start. What the handlers log and the EMF metrics they print go to `log` (the demo writes
it to .demo/functions.log, where CloudWatch Logs would hold it).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from aws_lambda_powertools.metrics.provider import cold_start
from aws_lambda_powertools.utilities import parameters
from sessionguard.observability import logger, metrics

from demo.emulator import patched_environ


@dataclass(frozen=True)
class DeployedFunction:
    """A function as the emulator holds it, and where its code came from."""

    logical_id: str
    name: str
    arn: str
    handler: str  # module.function, e.g. app.lambda_handler
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str]
    code: Path

    @classmethod
    def from_configuration(cls, logical_id: str, code: Path, configuration: Mapping[str, Any]) -> DeployedFunction:
        """From lambda:GetFunctionConfiguration. Lambda's environment values are strings (the emulator may keep
        numbers as the template gave them)."""
        variables = configuration.get("Environment", {}).get("Variables", {})
        return cls(
            logical_id=logical_id,
            name=configuration["FunctionName"],
            arn=configuration["FunctionArn"],
            handler=configuration["Handler"],
            timeout_seconds=int(configuration.get("Timeout", 3)),
            memory_mb=int(configuration.get("MemorySize", 128)),
            environment={key: str(value) for key, value in variables.items()},
            code=code,
        )


@dataclass
class LambdaContext:
    """The context object Lambda's Python runtime passes to a handler (the attributes handlers read)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    deadline: float  # time.monotonic() at which the invocation times out
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = field(default_factory=lambda: time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


Prepare = Callable[[DeployedFunction, ModuleType], None]


class LocalLambda:
    """Invoke deployed functions by name or ARN. `prepare` may adjust a freshly loaded handler module (the demo
    hands the enrollment functions' fleet adapter its in-memory SSM inventory there)."""

    def __init__(
        self, functions: Mapping[str, DeployedFunction], *, log: TextIO, prepare: Prepare = lambda f, m: None
    ) -> None:
        self._functions: dict[str, DeployedFunction] = {}
        for function in functions.values():
            self._functions[function.name] = self._functions[function.arn] = function
        self._log = log
        self._prepare = prepare
        self._modules: dict[str, ModuleType] = {}
        self.invocations: list[tuple[str, str]] = []  # (function logical id, request id)
        _cold_start()

    def function(self, name_or_arn: str) -> DeployedFunction:
        try:
            return self._functions[name_or_arn.removesuffix(":$LATEST")]
        except KeyError:
            raise LookupError(f"no deployed function {name_or_arn}") from None

    def invoke(self, name_or_arn: str, event: Any) -> Any:
        """Run the handler once; its result as Lambda returns it (JSON). A handler's exception propagates, as
        Lambda reports it to its caller (the error type and message)."""
        function = self.function(name_or_arn)
        module = self._module(function)
        handler = getattr(module, function.handler.rpartition(".")[2])
        context = LambdaContext(
            function_name=function.name,
            invoked_function_arn=function.arn,
            memory_limit_in_mb=function.memory_mb,
            deadline=time.monotonic() + function.timeout_seconds,
            log_group_name=f"/aws/lambda/{function.name}",
        )
        self.invocations.append((function.logical_id, context.aws_request_id))
        with patched_environ(dict(function.environment)), _powertools_settings(function.environment), self._output():
            result = handler(json.loads(json.dumps(event)), context)
        return json.loads(json.dumps(result))

    def close(self) -> None:
        """Forget the handler modules and the package's caches: their AWS clients point at this emulator."""
        for name in self._modules:
            sys.modules.pop(name, None)
        self._modules.clear()
        _cold_start()

    def _module(self, function: DeployedFunction) -> ModuleType:
        """The function's own copy of its handler module, loaded on first use (the cold start's init)."""
        name = f"demo_lambda_{function.logical_id}"
        if name not in self._modules:
            module_path = function.code / (function.handler.rpartition(".")[0].replace(".", "/") + ".py")
            spec = importlib.util.spec_from_file_location(name, module_path)
            if spec is None or spec.loader is None:
                raise LookupError(f"{function.logical_id}: no handler module at {module_path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            with patched_environ(dict(function.environment)), self._output():
                spec.loader.exec_module(module)
            self._prepare(function, module)
            self._modules[name] = module
        return self._modules[name]

    @contextmanager
    def _output(self) -> Iterator[None]:
        """The handler's log lines, EMF metrics and warnings go to the log, not the demo's console."""
        stream_handler = logger.registered_handler
        previous = stream_handler.setStream(self._log)  # type: ignore[attr-defined]
        try:
            with redirect_stdout(self._log), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield
            for warning in caught:
                self._log.write(f"warning: {warning.message}\n")
        finally:
            stream_handler.setStream(previous)  # type: ignore[attr-defined]


def _cold_start() -> None:
    """Empty every module-level cache of the sessionguard package, Powertools' parameter cache and metrics."""
    for module_name, module in list(sys.modules.items()):
        if module_name != "sessionguard" and not module_name.startswith("sessionguard."):
            continue
        for value in list(vars(module).values()):
            if getattr(value, "__module__", None) == module_name and callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    metrics.clear_metrics()
    cold_start.is_cold_start = True


@contextmanager
def _powertools_settings(environment: Mapping[str, str]) -> Iterator[None]:
    """Powertools' Logger and Metrics read their service and namespace when sessionguard.observability is first
    imported; in a Lambda container the function's environment is set by then, in this process maybe not. Apply
    the function's settings for the invocation, and leave the shared objects as they were."""
    service, namespace = environment.get("POWERTOOLS_SERVICE_NAME"), environment.get("POWERTOOLS_METRICS_NAMESPACE")
    saved = (logger.service, metrics.namespace, metrics.service)
    try:
        if service:
            logger.append_keys(service=service)
            metrics.service = service
        if namespace:
            metrics.namespace = namespace
        yield
    finally:
        logger.append_keys(service=saved[0])
        metrics.namespace, metrics.service = saved[1], saved[2]
