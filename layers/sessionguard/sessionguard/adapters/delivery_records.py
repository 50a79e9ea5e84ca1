"""The session ledger's delivery records, read back from the sanitized log group (docs/ledger.md, "Stream").

The subscription function writes one record per delivery (`ledger.model.delivery_record`) in the session's stream
of the sanitized group, in the same PutLogEvents call as the delivery's sanitized lines. The ledger function reads
them with FilterLogEvents and `DELIVERY_RECORD_FILTER`, and parses every event again client-side
(`parse_delivery_record`): a service (or moto 5, which ignores JSON filter patterns) may return other events.

Two reads, both paginated and bounded by a page budget the caller shares across a run:
- `read`: every record of the named sessions' streams, up to 100 streams per call (FilterLogEvents'
  `logStreamNames` limit);
- `sweep`: the records of the whole group in a time window (event timestamps), for streams no session explains.

A read that fails is logged by its error code and its sessions reported unread; nothing raises to the caller.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from sessionguard.adapters.aws import LazyClient, error_code
from sessionguard.alerting.transcript import log_stream_name
from sessionguard.ledger.model import DELIVERY_RECORD_FILTER, StreamDelivery, parse_delivery_record
from sessionguard.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

STREAMS_PER_CALL: Final = 100  # FilterLogEvents' logStreamNames holds at most 100 names


@dataclass
class PageBudget:
    """How many FilterLogEvents calls a run may still make (shared by its reads and its sweep)."""

    left: int

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@dataclass
class StreamReads:
    """Sessions' delivery records: `records` for each session read completely (an empty list: its stream has
    none, or does not exist), `unread` for those whose records could not be read whole this time."""

    records: dict[str, list[StreamDelivery]] = field(default_factory=dict)
    unread: set[str] = field(default_factory=set)


@dataclass
class Sweep:
    """The streams that hold delivery records in a window: stream name -> the latest ingestion time (ms) of those
    records; `forged`, the streams among them with a record of events that claimed another session id. `complete`
    when the window was read to its end."""

    streams: dict[str, int] = field(default_factory=dict)
    forged: set[str] = field(default_factory=set)
    complete: bool = False


class DeliveryRecords:
    """FilterLogEvents on the sanitized group; `calls` counts them (the run's summary reports it)."""

    _client: LazyClient[CloudWatchLogsClient] = LazyClient("logs")

    def __init__(self, log_group: str, client: CloudWatchLogsClient | None = None) -> None:
        self.log_group = log_group
        self.calls = 0
        if client is not None:
            vars(self)["_client"] = client

    def read(self, session_ids: Sequence[str], budget: PageBudget) -> StreamReads:
        """Every delivery record of the sessions' streams (`transcript.log_stream_name` of each id)."""
        names: dict[str, list[str]] = {}
        for session_id in dict.fromkeys(session_ids):
            names.setdefault(log_stream_name(session_id), []).append(session_id)
        found: dict[str, list[StreamDelivery]] = {}
        unread: set[str] = set()
        streams = list(names)
        for start in range(0, len(streams), STREAMS_PER_CALL):
            chunk = streams[start : start + STREAMS_PER_CALL]
            by_stream, failed = self._read_streams(chunk, budget)
            found.update(by_stream)
            unread.update(failed)
        reads = StreamReads()
        for name, ids in names.items():
            for session_id in ids:
                if name in unread:
                    reads.unread.add(session_id)
                else:
                    reads.records[session_id] = found.get(name, [])
        return reads

    def _read_streams(self, streams: list[str], budget: PageBudget) -> tuple[dict[str, list[StreamDelivery]], set[str]]:
        """Records by stream name, and the streams left unread. CloudWatch Logs answers ResourceNotFoundException
        when a named stream does not exist (a session that never streamed): the names are halved until the
        missing one is alone, and it has no records."""
        request: dict[str, Any] = {"logStreamNames": streams}
        found: dict[str, list[StreamDelivery]] = {name: [] for name in streams}
        try:
            for name, record in self._pages(request, budget):
                if name in found:
                    found[name].append(record)
        except _BudgetSpent:
            return {}, set(streams)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                logger.warning("Delivery records not read", extra={"error": error_code(error)})
                return {}, set(streams)
            if len(streams) == 1:
                return {streams[0]: []}, set()
            half = len(streams) // 2
            first, first_unread = self._read_streams(streams[:half], budget)
            second, second_unread = self._read_streams(streams[half:], budget)
            return {**first, **second}, first_unread | second_unread
        return found, set()

    def sweep(self, start_ms: int, end_ms: int, budget: PageBudget) -> Sweep:
        """The streams with delivery records stamped in [start_ms, end_ms] anywhere in the group."""
        sweep = Sweep()
        request: dict[str, Any] = {"startTime": start_ms, "endTime": end_ms}
        try:
            for name, record, ingested in self._events(request, budget):
                sweep.streams[name] = max(sweep.streams.get(name, 0), ingested)
                if record.forged_events:
                    sweep.forged.add(name)
        except _BudgetSpent:
            logger.warning("Delivery record sweep incomplete", extra={"error": "PageBudgetSpent"})
            return sweep
        except ClientError as error:
            logger.warning("Delivery record sweep incomplete", extra={"error": error_code(error)})
            return sweep
        sweep.complete = True
        return sweep

    def _pages(self, request: dict[str, Any], budget: PageBudget) -> Iterator[tuple[str, StreamDelivery]]:
        for name, record, _ in self._events(request, budget):
            yield name, record

    def _events(self, request: dict[str, Any], budget: PageBudget) -> Iterator[tuple[str, StreamDelivery, int]]:
        """(stream name, record, ingestion time ms) of each delivery record the request finds, page by page."""
        request = {**request, "logGroupName": self.log_group, "filterPattern": DELIVERY_RECORD_FILTER}
        while True:
            if not budget.take():
                raise _BudgetSpent
            self.calls += 1
            page = self._client.filter_log_events(**request)
            for event in page.get("events", []):
                record = parse_delivery_record(event.get("message", ""))
                name = event.get("logStreamName", "")
                if record is not None and name:
                    yield name, record, int(event.get("ingestionTime", 0) or 0)
            token = page.get("nextToken")
            if not token:
                return
            request["nextToken"] = token


class _BudgetSpent(Exception):
    """The run's page budget ran out before a read finished."""


__all__ = ["STREAMS_PER_CALL", "DeliveryRecords", "PageBudget", "StreamReads", "Sweep"]
