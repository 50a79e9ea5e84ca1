"""Session alerts: the CloudWatch Logs subscription on the session log group invokes this for every batch of
streamed session events (asynchronously, so Lambda retries a failed batch and then parks it in the failure queue).

The sessionguard layer does the work (sessionguard.alerting.session_alerts; docs/alerts.md): engine, noise control, SNS
and Slack delivery, the sanitized transcript, parking of malformed records, metrics.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from sessionguard.alerting.session_alerts import handle_subscription_event
from sessionguard.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses are counts, but keep traces free of payloads
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The event as it comes: the layer reads and checks it itself, so the cold start does not import Powertools'
    # event classes (every one of them, ~15 ms) for the one it would use.
    return handle_subscription_event(event, context)
