"""The one place SessionGuard's Lambda functions get their Logger, Tracer and Metrics.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE, set in the
template's Globals. Nothing here may ever be given raw session text: callers log ids, counts and reasons only.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["logger", "metrics", "tracer"]
