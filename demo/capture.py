"""A loopback HTTP server that stands in for the Slack incoming webhook and for CloudFormation's response URL.

It records every request and answers 200 "ok", as Slack does for an accepted message. Requests are told apart by
path: the webhook URL the demo puts in Secrets Manager is under SLACK_PATH, custom resource response URLs under
CLOUDFORMATION_PATH.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_PATH = "/services/T0DEMO0000/B0DEMO0000/"
CLOUDFORMATION_PATH = "/cloudformation-response/"


@dataclass(frozen=True)
class CapturedRequest:
    method: str
    path: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON is kept as text."""
        try:
            return json.loads(self.body)
        except ValueError:
            return {"body": self.body.decode("utf-8", "replace")}


class CaptureServer:
    """A context manager: listening on 127.0.0.1 (a free port) inside it, stopped and closed after it."""

    def __init__(self) -> None:
        self.url = ""
        self._requests: list[CapturedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> CaptureServer:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with capture._lock:
                    capture._requests.append(CapturedRequest(self.command, self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:
                """The demo prints its own summary."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    @property
    def slack_webhook_url(self) -> str:
        return f"{self.url}{SLACK_PATH}demo-capture"

    def requests(self, path_prefix: str) -> list[CapturedRequest]:
        with self._lock:
            return [r for r in self._requests if r.path.startswith(path_prefix)]

    def slack_posts(self) -> list[CapturedRequest]:
        return self.requests(SLACK_PATH)
