"""Custom::SessionManagerPreferences: SSM-SessionManagerRunShell holds SessionGuard's session preferences.

CloudFormation invokes this for Create, Update and Delete; the sessionguard layer does the work and always
answers the request's ResponseURL (see sessionguard.preferences.custom_resource and docs/preferences.md).
"""

from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from sessionguard.observability import logger, tracer
from sessionguard.preferences.custom_resource import handle_preferences_event


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=CloudFormationCustomResourceEvent)
def lambda_handler(event: CloudFormationCustomResourceEvent, context: LambdaContext) -> None:
    handle_preferences_event(event, context)
