"""A small interpreter for the Amazon States Language subset SessionGuard's state machines use.

There is no Step Functions Local on these machines, and moto's Step Functions cannot run Lambda tasks without
Docker, so tests/functional and the demo run the enrollment definition here: Task, Choice, Wait, Pass, Succeed and
Fail; InputPath, Parameters, ResultPath, OutputPath; Retry and Catch; the context object ($$). Time is virtual: a
Wait state advances the clock without sleeping, so a 45-minute registration wait runs in milliseconds. Anything
outside the subset fails loudly (NotImplementedError) rather than being interpreted wrongly.

Tasks are Python callables keyed by the state's Resource: JSON in, JSON out, and an exception becomes the States
error named after its class, as Lambda reports it to Step Functions.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DEFAULT_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:sessionguard-enrollment"


class StatesError(Exception):
    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass
class Execution:
    status: str  # SUCCEEDED | FAILED
    end_state: str
    output: dict[str, Any]
    visited: list[str]
    elapsed_seconds: float
    waited_seconds: float
    retries: list[tuple[str, str, float]] = field(default_factory=list)  # (state, error, delay)
    error: str = ""

    def count(self, state: str) -> int:
        return self.visited.count(state)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _get(data: Any, path: str, context: Mapping[str, Any]) -> Any:
    if path == "$":
        return data
    if path.startswith("$$."):
        node, keys = context, path[3:]
    elif path.startswith("$."):
        node, keys = data, path[2:]
    else:
        raise NotImplementedError(f"path {path!r}: only $, $.a.b and $$.a.b are interpreted")
    for key in keys.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise StatesError("States.Runtime", f"path {path} does not exist in the input")
        node = node[key]
    return node


def _put(raw_input: Any, path: str | None, result: Any) -> Any:
    if path is None:
        return raw_input
    if path == "$":
        return result
    if not path.startswith("$.") or "[" in path:
        raise NotImplementedError(f"ResultPath {path!r}")
    output = copy.deepcopy(raw_input)
    node = output
    keys = path[2:].split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = result
    return output


def _resolve(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(template, dict):
        resolved = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not value.startswith("$"):
                    raise NotImplementedError(f"intrinsic function {value!r}")
                resolved[key[:-2]] = _get(data, value, context)
            else:
                resolved[key] = _resolve(value, data, context)
        return resolved
    if isinstance(template, list):
        return [_resolve(item, data, context) for item in template]
    return template


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": lambda a, b: isinstance(a, str) and a == b,
    "NumericEquals": lambda a, b: isinstance(a, int | float) and a == b,
    "NumericGreaterThanEquals": lambda a, b: isinstance(a, int | float) and a >= b,
    "BooleanEquals": lambda a, b: isinstance(a, bool) and a == b,
}


def _matches(rule: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> bool:
    if "And" in rule:
        return all(_matches(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(_matches(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not _matches(rule["Not"], data, context)
    try:
        value = _get(data, rule["Variable"], context)
        present = True
    except StatesError:
        value, present = None, False
    if "IsPresent" in rule:
        return present is rule["IsPresent"]
    for operator, compare in _COMPARISONS.items():
        if operator in rule:
            return present and compare(value, rule[operator])
    raise NotImplementedError(f"choice rule {sorted(rule)}")


@dataclass
class _Progress:
    """One execution's state between transitions."""

    data: Any
    context: dict[str, Any]
    visited: list[str] = field(default_factory=list)
    retries: list[tuple[str, str, float]] = field(default_factory=list)
    waited: float = 0.0


End = tuple[str, str]  # (status, error): the execution is over


class AslInterpreter:
    """Runs one execution of a definition on a virtual clock; Tasks are Python callables keyed by Resource."""

    TASK_SECONDS = 1.0  # virtual time a Lambda invocation takes

    def __init__(
        self,
        definition: Mapping[str, Any],
        tasks: Mapping[str, Callable[[Any], Any]],
        *,
        start: datetime,
        before_state: Callable[[str, datetime], None] = lambda name, now: None,
        max_transitions: int = 2000,
        state_machine_arn: str = DEFAULT_STATE_MACHINE_ARN,
    ) -> None:
        self.definition = definition
        self.state_machine_arn = state_machine_arn
        self.tasks = tasks
        self.start = start
        self.now = start
        self.before_state = before_state
        self.max_transitions = max_transitions

    def run(self, execution_input: dict[str, Any], name: str = "i-0abc-20240501T123456Z") -> Execution:
        context: dict[str, Any] = {
            "Execution": {
                "Id": f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}",
                "Name": name,
                "Input": execution_input,
                "StartTime": _iso(self.start),
            },
            "StateMachine": {"Id": self.state_machine_arn},
        }
        progress = _Progress(execution_input, context)
        state_name: str = self.definition["StartAt"]
        while True:
            if len(progress.visited) >= self.max_transitions:
                raise RuntimeError(f"no end after {self.max_transitions} transitions: {progress.visited[-10:]}")
            self.before_state(state_name, self.now)
            progress.visited.append(state_name)
            context["State"] = {"Name": state_name, "EnteredTime": _iso(self.now), "RetryCount": 0}
            step = self._step(state_name, self.definition["States"][state_name], progress)
            if isinstance(step, tuple):
                status, error = step
                elapsed = (self.now - self.start).total_seconds()
                return Execution(
                    status,
                    state_name,
                    progress.data,
                    progress.visited,
                    elapsed,
                    progress.waited,
                    progress.retries,
                    error,
                )
            state_name = step

    def _step(self, name: str, state: Mapping[str, Any], progress: _Progress) -> str | End:
        """Run one state: the next state's name, or how the execution ended."""
        raw = progress.data
        effective = _get(raw, state.get("InputPath", "$"), progress.context)
        match state["Type"]:
            case "Succeed":
                return ("SUCCEEDED", "")
            case "Fail":
                return ("FAILED", state["Error"])
            case "Choice":
                chosen = next(
                    (c["Next"] for c in state["Choices"] if _matches(c, effective, progress.context)),
                    state.get("Default"),
                )
                return ("FAILED", "States.NoChoiceMatched") if chosen is None else str(chosen)
            case "Pass":
                result = state.get("Result", effective)
                if "Parameters" in state:
                    result = _resolve(state["Parameters"], effective, progress.context)
                progress.data = _put(raw, state.get("ResultPath", "$"), result)
            case "Wait":
                seconds = state.get("Seconds")
                if seconds is None:
                    seconds = _get(effective, state["SecondsPath"], progress.context)
                if not isinstance(seconds, int) or seconds < 0:
                    raise StatesError("States.Runtime", f"Wait state {name}: {seconds!r} is not a number of seconds")
                self.now += timedelta(seconds=seconds)
                progress.waited += seconds
            case "Task":
                caught = self._task(name, state, effective, progress)
                if caught is not None:
                    return caught
            case other:
                raise NotImplementedError(f"state type {other}")
        progress.data = _get(progress.data, state.get("OutputPath", "$"), progress.context)
        return ("SUCCEEDED", "") if state.get("End") else str(state["Next"])

    def _task(self, name: str, state: Mapping[str, Any], effective: Any, progress: _Progress) -> str | End | None:
        """Invoke with Retry; on success store the result and return None; else the Catch's Next or the end."""
        raw = progress.data
        payload = _resolve(state["Parameters"], effective, progress.context) if "Parameters" in state else effective
        attempts: Counter[int] = Counter()
        while True:
            try:
                result = self._invoke(state["Resource"], payload)
            except StatesError as error:
                retriers = state.get("Retry", [])
                index = next((i for i, r in enumerate(retriers) if self._catches(r["ErrorEquals"], error)), None)
                if index is not None and attempts[index] < retriers[index].get("MaxAttempts", 3):
                    retrier = retriers[index]
                    delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** attempts[index]
                    delay = min(delay, retrier.get("MaxDelaySeconds", delay))
                    attempts[index] += 1
                    progress.context["State"]["RetryCount"] = sum(attempts.values())
                    progress.retries.append((name, error.error, delay))
                    self.now += timedelta(seconds=delay)
                    continue
                catcher = next((c for c in state.get("Catch", []) if self._catches(c["ErrorEquals"], error)), None)
                if catcher is None:
                    return ("FAILED", error.error)
                progress.data = _put(raw, catcher.get("ResultPath", "$"), {"Error": error.error, "Cause": error.cause})
                return str(catcher["Next"])
            progress.data = _put(raw, state.get("ResultPath", "$"), result)
            return None

    @staticmethod
    def _catches(names: list[str], error: StatesError) -> bool:
        return error.error in names or ("States.ALL" in names and error.error != "States.Runtime")

    def _invoke(self, resource: str, payload: Any) -> Any:
        """A Lambda invocation: JSON in, JSON out; an exception becomes {Error: class name, Cause: JSON}."""
        self.now += timedelta(seconds=self.TASK_SECONDS)
        handler = self.tasks[resource]
        try:
            return json.loads(json.dumps(handler(json.loads(json.dumps(payload)))))
        except Exception as exc:
            cause = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
            raise StatesError(type(exc).__name__, json.dumps(cause)) from exc
