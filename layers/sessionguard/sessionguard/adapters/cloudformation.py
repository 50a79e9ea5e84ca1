"""CloudFormation custom resources: the PUT of one response document to its pre-signed S3 ResponseURL.

As AWS's own cfn-response module does it: an empty Content-Type (the URL is signed without one), retried on
network errors and on the statuses S3 answers when it is briefly unable to take the PUT. The URL is a credential
for this one answer: it is never logged. What the answer says is `sessionguard.custom_resource`'s.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from sessionguard.observability import logger

SEND_ATTEMPTS = 3
SEND_TIMEOUT_SECONDS = 5.0
SEND_BACKOFF_SECONDS = 1.0
# S3 answers these when it is briefly unable to take the PUT; anything else in 4xx will not get better.
_TRANSIENT_HTTP_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class ResponseNotDeliveredError(Exception):
    """The response could not be PUT to the ResponseURL."""


def send_response(
    response_url: str,
    body: Mapping[str, Any],
    *,
    attempts: int = SEND_ATTEMPTS,
    timeout_seconds: float = SEND_TIMEOUT_SECONDS,
    backoff_seconds: float = SEND_BACKOFF_SECONDS,
) -> None:
    """PUT the body to the pre-signed URL, retrying network errors and transient HTTP statuses."""
    scheme = urllib.parse.urlsplit(response_url).scheme
    if scheme not in {"https", "http"}:
        raise ResponseNotDeliveredError(f"ResponseURL has unsupported scheme {scheme!r}")
    payload = json.dumps(body).encode("utf-8")
    last_problem = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            response_url,
            data=payload,
            method="PUT",
            headers={"Content-Type": "", "Content-Length": str(len(payload))},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_seconds) as reply:  # noqa: S310
                reply.read()
            return
        except urllib.error.HTTPError as error:
            last_problem = f"HTTP {error.code}"
            if error.code not in _TRANSIENT_HTTP_STATUS:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            last_problem = type(error).__name__
        logger.warning("Custom resource response not delivered", extra={"attempt": attempt, "problem": last_problem})
        if attempt < attempts:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    raise ResponseNotDeliveredError(f"response not delivered after {attempt} attempt(s): {last_problem}")
