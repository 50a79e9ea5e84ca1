"""EventBridge: putting alert events on a bus (PutEvents). One call per alert: each event is delivered once per
key through the delivery ledger, as an SNS publish is, so a retried invocation never puts an event twice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sessionguard.adapters.aws import LazyClient
from sessionguard.alerting.text import utf8_safe

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef


class EventBus(Protocol):
    def put_event(self, bus_name: str, source: str, detail_type: str, detail: str, resources: list[str]) -> str:
        """Put one event; "" when EventBridge accepted it, else the entry's error code (a partial failure:
        PutEvents answers 200 with FailedEntryCount and the code in the entry)."""
        ...


class EventBridgeBus:
    _client: LazyClient[EventBridgeClient] = LazyClient("events")

    def __init__(self, client: EventBridgeClient | None = None) -> None:
        if client is not None:
            vars(self)["_client"] = client

    def put_event(self, bus_name: str, source: str, detail_type: str, detail: str, resources: list[str]) -> str:
        entry: PutEventsRequestEntryTypeDef = {
            "EventBusName": bus_name,
            "Source": source,
            "DetailType": detail_type,
            "Detail": utf8_safe(detail),
            "Resources": resources,
        }
        response = self._client.put_events(Entries=[entry])
        if not response.get("FailedEntryCount"):
            return ""
        (result,) = response["Entries"]
        return str(result.get("ErrorCode") or "FailedEntry")
