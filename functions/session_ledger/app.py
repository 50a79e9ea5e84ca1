"""The session ledger (docs/ledger.md): EventBridge invokes this asynchronously with CloudTrail's session calls
(StartSession, ResumeSession, TerminateSession), the transcript bucket's Object Created notifications, and a
schedule for the reconciler; a failed event is retried by Lambda and then parked in the ledger failure queue.

The sessionguard layer does the work (sessionguard.alerting.ledger_alerts): the ledger table updated, the
findings only the join of the three records gives, and the alerts of a transcript nobody scanned yet.
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from sessionguard.alerting.ledger_alerts import handle_ledger_event
from sessionguard.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # keep traces free of session details
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    return handle_ledger_event(event.raw_event, context)
