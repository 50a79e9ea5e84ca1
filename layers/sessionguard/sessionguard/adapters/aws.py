"""What every AWS adapter shares: the session clients are made from, client configurations, clients made on first
use, and how an AWS error is named in logs."""

from __future__ import annotations

import functools
from typing import Any, Final, Self, overload

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

# Short timeouts and few retries: the function has a bounded time to deliver everything, and a call that fails
# here fails the invocation, which Lambda retries as a whole.
CLIENT_CONFIG: Final = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
# Reading a session's preceding events only warms the engine up; when it is slow or throttled the function goes on
# without it, so it gets one quick retry instead of three.
HISTORY_CLIENT_CONFIG: Final = Config(
    connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"}
)


@functools.cache
def sdk_session() -> botocore.session.Session:
    """The one botocore session every adapter's clients are made from, made on first use: region, credentials and
    configuration come from the environment, as they do for boto3's default session.

    Clients are made with botocore alone: boto3's client is botocore's, and `import boto3` adds its resource layer
    and s3transfer, which the functions never use: ~35 ms of every cold start of the session alert function
    (docs/performance.md, "Starting a function"). Tests and benchmarks that count calls register botocore event
    hooks on this session (or replace it: `sdk_session.cache_clear()`, then patch the function)."""
    return botocore.session.get_session()


def aws_client(service: str, config: Config = CLIENT_CONFIG) -> Any:
    """A botocore client of `service` from `sdk_session()` (typed by the caller's annotation: mypy_boto3 stubs)."""
    return sdk_session().create_client(service, config=config)


def error_code(error: Exception) -> str:
    """The AWS error code of a ClientError, else the exception's type name: safe to log (never a message)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


class LazyClient[C]:
    """An AWS client attribute made on first use. Making a client loads its service's model (tens of milliseconds
    each at a cold start), and a quiet delivery uses two of the alert function's dozen: the others are never made
    in a container that never needs them. An instance given a client (tests) keeps it: `vars(self)[name] = client`
    in its `__init__`, as the made client is kept (the attribute then shadows this descriptor, as with
    functools.cached_property)."""

    def __init__(self, service: str, config: Config = CLIENT_CONFIG) -> None:
        self.service = service
        self.config = config
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> C: ...
    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        client = aws_client(self.service, self.config)
        vars(instance)[self.name] = client
        return client


def make_clients(holder: object) -> None:
    """Make now every client `holder`'s LazyClient attributes would make on first use (under Lambda SnapStart, the
    function makes them before its snapshot, so that restored environments start with them)."""
    for cls in type(holder).__mro__:
        for name, attribute in vars(cls).items():
            if isinstance(attribute, LazyClient):
                getattr(holder, name)
