"""The enrollment state machine's contract: what each step is given and what it answers, one TypedDict each.

statemachines/enrollment.asl.json builds every Task's input from the execution input, the context object
($$.Execution.StartTime, $$.State.EnteredTime, $$.Execution.Id) and earlier steps' answers, and routes on the
answers' `Outcome`; the keys below are those of the template's Parameters and Choice states. Every step of
`sessionguard.enrollment.steps` takes its input TypedDict and returns its output TypedDict, and every handler in
functions/enrollment/app.py passes the Task's input through as it is.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class ExecutionInput(TypedDict):
    """What starts an execution (`decisions.execution_input`); PrepareInstance is given the whole state, this."""

    InstanceId: str
    LaunchTime: str
    Trigger: str  # "event" or "sweep"
    RequestId: str
    MaxWaitSeconds: NotRequired[int]  # an execution started by hand may shorten or lengthen the wait


class PrepareInstanceOutput(TypedDict):
    Outcome: str  # ready, skipped, not_running, noncompliant
    Reason: NotRequired[str]
    Detail: NotRequired[str]
    Action: NotRequired[str]  # ready: what was done to the instance profile
    MaxWaitSeconds: NotRequired[int]  # ready: how long CheckRegistration may wait


class CheckRegistrationInput(TypedDict):
    InstanceId: str
    StartedAt: str  # $$.Execution.StartTime
    CheckedAt: str  # $$.State.EnteredTime
    MaxWaitSeconds: int


class CheckRegistrationOutput(TypedDict):
    Outcome: str  # registered, waiting, timed_out, not_running
    WaitedSeconds: NotRequired[int]
    NextCheckSeconds: NotRequired[int]
    AgentVersion: NotRequired[str]
    Reason: NotRequired[str]
    Detail: NotRequired[str]


class SendAgentUpdateInput(TypedDict):
    InstanceId: str
    StartedAt: str
    RequestedAt: str  # $$.State.EnteredTime
    Resends: int


class SendAgentUpdateOutput(TypedDict):
    CommandId: str
    RequestedAt: str
    Resends: int


class CheckAgentUpdateInput(TypedDict):
    InstanceId: str
    CommandId: str
    StartedAt: str
    RequestedAt: str
    CheckedAt: str
    Resends: int
    MaxWaitSeconds: int


class CheckAgentUpdateOutput(TypedDict):
    Outcome: str  # succeeded, running, busy, failed, timed_out
    CommandStatus: str
    Resends: int
    NextSendSeconds: NotRequired[int]  # busy: when to send again
    Reason: NotRequired[str]
    Detail: NotRequired[str]


class MarkEnrolledInput(TypedDict):
    InstanceId: str
    StartedAt: str
    EnrolledAt: str  # $$.State.EnteredTime
    CommandStatus: str


class MarkEnrolledOutput(TypedDict):
    Outcome: str  # enrolled, not_running
    Seconds: NotRequired[int]


class StepFailure(TypedDict, total=False):
    """A step's own {Reason, Detail}, or a Catch's {Error, Cause}."""

    Reason: str
    Detail: str
    Error: str
    Cause: str


class ReportFailureInput(TypedDict):
    InstanceId: str
    Failure: StepFailure
    ExecutionId: str  # $$.Execution.Id


class ReportFailureOutput(TypedDict):
    Outcome: str  # abandoned, noncompliant, failed
    Reason: str


__all__ = [
    "CheckAgentUpdateInput",
    "CheckAgentUpdateOutput",
    "CheckRegistrationInput",
    "CheckRegistrationOutput",
    "ExecutionInput",
    "MarkEnrolledInput",
    "MarkEnrolledOutput",
    "PrepareInstanceOutput",
    "ReportFailureInput",
    "ReportFailureOutput",
    "SendAgentUpdateInput",
    "SendAgentUpdateOutput",
    "StepFailure",
]
