"""SNS: publishing one alert to a topic. Every string goes through `utf8_safe`, botocore's last line of defence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sessionguard.adapters.aws import LazyClient
from sessionguard.alerting.text import utf8_safe

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class AlertPublisher(Protocol):
    def publish(self, topic_arn: str, subject: str, message: str, attributes: dict[str, dict[str, str]]) -> str: ...


class SnsPublisher:
    _client: LazyClient[SNSClient] = LazyClient("sns")

    def __init__(self, client: SNSClient | None = None) -> None:
        if client is not None:
            vars(self)["_client"] = client

    def publish(self, topic_arn: str, subject: str, message: str, attributes: dict[str, dict[str, str]]) -> str:
        """Publish one alert; its SNS message id."""
        safe_attributes = {
            name: {key: utf8_safe(value) for key, value in attribute.items()} for name, attribute in attributes.items()
        }
        response = self._client.publish(
            TopicArn=topic_arn,
            Subject=utf8_safe(subject),
            Message=utf8_safe(message),
            MessageAttributes=safe_attributes,  # type: ignore[arg-type]  # the same shape, typed as a TypedDict
        )
        return response.get("MessageId", "")
