"""Session alerts: the CloudWatch Logs subscription on the session log group invokes this for every batch of
streamed session events (asynchronously, so Lambda retries a failed batch and then parks it in the failure queue).

The sessionguard layer does the work (sessionguard.alerting.session_alerts; docs/alerts.md): engine, noise control, SNS
and Slack delivery, the sanitized transcript, parking of malformed records, metrics.
"""

import contextlib
import os
import random
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from sessionguard.adapters.aws import make_clients
from sessionguard.alerting import session_alerts
from sessionguard.alerting.session_alerts import handle_subscription_event
from sessionguard.masking.masker import mask_secrets
from sessionguard.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses are counts, but keep traces free of payloads
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The event as it comes: the layer reads and checks it itself, so the cold start does not import Powertools'
    # event classes (every one of them, ~15 ms) for the one it would use.
    return handle_subscription_event(event, context)


def prepare_snapshot() -> None:
    """Under Lambda SnapStart, Lambda runs this module's import once per published version and snapshots the result;
    every new environment is restored from it. Done then, what a cold start otherwise does before its first quiet
    delivery (docs/performance.md, "Starting a function") costs restored environments nothing: the Linux rule sets
    compiled, the outlets built with the CloudWatch Logs client they write transcripts with, a first line masked.
    No AWS API is called (a client connects on its first call, after the restore; under SnapStart its credentials
    come from Lambda's container credentials endpoint and are refreshed, not from keys frozen in the snapshot).
    The one state that must differ between environments is the jitter of Slack retries (`random`), seeded again
    after each restore."""
    session_alerts.default_rules().warm("linux")
    _, outlets = session_alerts.default_outlets()
    make_clients(outlets.transcripts)
    mask_secrets("sh-4.2$ ls -la")
    with contextlib.suppress(ImportError):  # the managed Python runtimes provide it
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # noqa: PLC0415

        register_after_restore(random.seed)


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    prepare_snapshot()
