"""The one place SessionGuard's Lambda functions get their Logger, Tracer and Metrics.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE, set in the
template's Globals. Nothing here may ever be given raw session text: callers log ids, counts and reasons only.

The Tracer patches what the functions call out with, and nothing else: botocore (every AWS call) and httplib
(`urllib.request`: the Slack webhook, the CloudFormation response). Left to itself it patches every library the
X-Ray SDK knows that can be imported, importing each one to do so, at every cold start (docs/performance.md).
"""

from typing import Final

from aws_lambda_powertools import Logger, Metrics, Tracer

TRACED_MODULES: Final = ("botocore", "httplib")

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()

__all__ = ["TRACED_MODULES", "logger", "metrics", "tracer"]
