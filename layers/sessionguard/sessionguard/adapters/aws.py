"""What every boto3 adapter shares: client configurations and how an AWS error is named in logs."""

from __future__ import annotations

from typing import Final

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


def error_code(error: Exception) -> str:
    """The AWS error code of a ClientError, else the exception's type name: safe to log (never a message)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__
