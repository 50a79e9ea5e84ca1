"""Guardrail alerts: EventBridge rules on CloudTrail API calls (session logging bypassed or tampered with) invoke
this asynchronously, so Lambda retries a failed event and then parks it in the guardrail failure queue.

The sessionguard layer does the work (sessionguard.alerting.guardrail_alerts; docs/guardrails.md): which guardrail
the call trips, the stack's own changes left out, noise control, SNS and Slack delivery once per CloudTrail event id.
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from sessionguard.alerting.guardrail_alerts import handle_cloudtrail_event
from sessionguard.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # keep traces free of request parameters
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    return handle_cloudtrail_event(event, context)
