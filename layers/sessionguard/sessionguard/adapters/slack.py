"""The Slack incoming webhook: one HTTPS POST, no redirects, the answer as plain data (`alerting.http.HttpResult`)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any, Protocol

from sessionguard.alerting.http import HttpResult, parse_retry_after


class SlackWebhook(Protocol):
    def post(self, url: str, body: bytes, timeout: float) -> HttpResult: ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook never redirects; following one would send the alert somewhere we did not configure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class UrllibSlackWebhook:
    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirects)

    def post(self, url: str, body: bytes, timeout: float) -> HttpResult:
        request = urllib.request.Request(  # noqa: S310 - the caller allows only https (and http on loopback)
            url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                response.read(1024)
                return HttpResult(int(response.status))
        except urllib.error.HTTPError as error:
            retry_after = parse_retry_after(error.headers.get("Retry-After") if error.headers else None)
            error.close()
            return HttpResult(int(error.code), retry_after)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            return HttpResult(0, None, type(error).__name__)
