"""Retro-hunt: the Lambda behind each batch of the hunt state machine's Distributed Map (statemachines/hunt.asl.json),
and the one that sums the batches up when the map ends.

The sessionguard layer does the work (sessionguard.archive.hunt; docs/hunt.md): read the batch's transcripts from S3,
scan them with the engine, write masked alerts and counts to the results bucket.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from sessionguard.adapters.archive import S3Archive
from sessionguard.archive.hunt import run_batch, summarize
from sessionguard.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def batch_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    counts = run_batch(event, S3Archive())
    logger.info("hunt batch scanned", extra={"counts": counts})
    return counts


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def summary_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = summarize(event, S3Archive())
    logger.info("hunt summarized", extra={"objects": summary["objects"], "alerts": summary["alerts"]})
    return summary
