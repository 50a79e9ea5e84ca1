"""In-memory stand-ins for the SSM calls moto does not implement, for the demo and the tests.

moto has neither ssm:DescribeInstanceInformation nor the SSM service settings, and the embedded demo has no real
agents; `sessionguard.adapters.fleet` reaches both through small Protocols, and these answer them offline in the
shape of boto3's service model (and with its errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from typing import Unpack

    from mypy_boto3_ssm.type_defs import (
        DescribeInstanceInformationRequestTypeDef,
        DescribeInstanceInformationResultTypeDef,
        GetServiceSettingRequestTypeDef,
        GetServiceSettingResultTypeDef,
        InstanceInformationTypeDef,
        ResetServiceSettingRequestTypeDef,
        ResetServiceSettingResultTypeDef,
        ServiceSettingTypeDef,
        UpdateServiceSettingRequestTypeDef,
    )


@dataclass
class InMemoryInstanceInformation:
    """An offline SSM inventory for tests and the demo, answering like ssm:DescribeInstanceInformation.

    Supports the `Filters` keys InstanceIds and PingStatus, MaxResults (5-50, as the service model says) and
    NextToken. Stopped and terminated instances are absent, as in the real API; an InstanceIds filter naming an
    instance that has not registered is answered InvalidInstanceId, as the real API does.
    """

    entries: dict[str, InstanceInformationTypeDef] = field(default_factory=dict)

    def register(self, instance_id: str, *, ping_status: str = "Online", agent_version: str = "3.3.987.0") -> None:
        now = datetime.now(UTC)
        self.entries[instance_id] = {
            "InstanceId": instance_id,
            "PingStatus": ping_status,  # type: ignore[typeddict-item]  # a str standing in for the Literal
            "LastPingDateTime": now,
            "AgentVersion": agent_version,
            "IsLatestVersion": False,
            "PlatformType": "Linux",
            "PlatformName": "Amazon Linux",
            "PlatformVersion": "2023",
            "ResourceType": "EC2Instance",
            "RegistrationDate": now,
            "SourceId": instance_id,
            "SourceType": "AWS::EC2::Instance",
        }

    def deregister(self, instance_id: str) -> None:
        self.entries.pop(instance_id, None)

    def describe_instance_information(
        self, **kwargs: Unpack[DescribeInstanceInformationRequestTypeDef]
    ) -> DescribeInstanceInformationResultTypeDef:
        max_results = kwargs.get("MaxResults", 10)
        if not 5 <= max_results <= 50:
            raise _client_error("ValidationException", "MaxResults must be between 5 and 50")
        selected = list(self.entries.values())
        for item in kwargs.get("Filters", []):
            key, values = item["Key"], set(item["Values"])
            if key == "InstanceIds":
                if unknown := values - self.entries.keys():
                    raise _client_error("InvalidInstanceId", f"Instances {sorted(unknown)} not in a valid state")
                selected = [entry for entry in selected if entry.get("InstanceId") in values]
            elif key == "PingStatus":
                selected = [entry for entry in selected if entry.get("PingStatus") in values]
            else:
                raise _client_error("InvalidFilterKey", f"filter key {key} is not supported offline")
        start = int(kwargs.get("NextToken") or 0)
        page = selected[start : start + max_results]
        result: DescribeInstanceInformationResultTypeDef = {
            "InstanceInformationList": page,
            "ResponseMetadata": {
                "RequestId": "offline",
                "HTTPStatusCode": 200,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        }
        if start + max_results < len(selected):
            result["NextToken"] = str(start + max_results)
        return result


def _client_error(code: str, message: str, operation: str = "DescribeInstanceInformation") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class InMemoryServiceSettings:
    """Offline SSM service settings. An untouched setting reads Status "Default" and SettingValue "$None"."""

    customized: dict[str, str] = field(default_factory=dict)

    def _setting(self, setting_id: str) -> ServiceSettingTypeDef:
        value = self.customized.get(setting_id)
        return {
            "SettingId": setting_id,
            "SettingValue": "$None" if value is None else value,
            "LastModifiedDate": datetime.now(UTC),
            "LastModifiedUser": "offline",
            "ARN": f"arn:aws:ssm:us-east-1:123456789012:servicesetting{setting_id}",
            "Status": "Default" if value is None else "Customized",
        }

    @staticmethod
    def _metadata() -> Any:
        return {"RequestId": "offline", "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}

    def get_service_setting(self, **kwargs: Unpack[GetServiceSettingRequestTypeDef]) -> GetServiceSettingResultTypeDef:
        return {"ServiceSetting": self._setting(kwargs["SettingId"]), "ResponseMetadata": self._metadata()}

    def update_service_setting(self, **kwargs: Unpack[UpdateServiceSettingRequestTypeDef]) -> dict[str, Any]:
        if not kwargs["SettingValue"]:
            raise _client_error("ValidationException", "SettingValue is empty", "UpdateServiceSetting")
        self.customized[kwargs["SettingId"]] = kwargs["SettingValue"]
        return {"ResponseMetadata": self._metadata()}

    def reset_service_setting(
        self, **kwargs: Unpack[ResetServiceSettingRequestTypeDef]
    ) -> ResetServiceSettingResultTypeDef:
        self.customized.pop(kwargs["SettingId"], None)
        return {"ServiceSetting": self._setting(kwargs["SettingId"]), "ResponseMetadata": self._metadata()}
