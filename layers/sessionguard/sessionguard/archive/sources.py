"""Archive URLs, time bounds, and the units of work an archive is read in.

    s3://bucket/prefix/          every object under the prefix (one transcript or export per object)
    s3://bucket/key.log          one object
    logs://group                 every log stream of the group (one session per stream)
    logs://group/stream-prefix   the streams whose name starts with the prefix

A log group name may contain `/` (`/aws/ssm/sessions`): write it URL-encoded (`logs://%2Faws%2Fssm%2Fsessions/…`),
or as `logs:///aws/ssm/sessions` with the stream prefix after `//`: `logs:///aws/ssm/sessions//jane.roe-`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import unquote

from sessionguard.session.records import (
    InputProblem,
    MalformedEvent,
    SessionEvent,
    decode_input,
    parse_session_event,
    read_input,
)

if TYPE_CHECKING:
    from sessionguard.adapters.archive import LogsArchive, S3Archive

# One object is read into memory whole (a typescript is one event); larger objects are reported, not read.
MAX_OBJECT_BYTES: Final = 256 * 1024 * 1024
_AGE: Final = re.compile(r"([0-9]+)([smhdw])")
_AGE_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class ArchiveError(ValueError):
    """An archive URL or a time bound that cannot be used."""


def is_archive_url(text: str) -> bool:
    return text.startswith(("s3://", "logs://"))


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30d`, `12h`, `90m`, `2w` before now, or an ISO date or time (UTC when it names no zone)."""
    now = now or datetime.now(UTC)
    age = _AGE.fullmatch(text.strip())
    if age:
        return now - timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ArchiveError(f"{text!r} is neither an age (30d, 12h) nor an ISO date") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Unit:
    """One piece of an archive read and scanned as a whole: an S3 object or a log stream."""

    name: str  # the URL of the object or stream: its key in a checkpoint
    size: int
    version: str = ""  # the object's ETag: a changed object is scanned again after a resume


@dataclass
class UnitContent:
    events: list[SessionEvent]
    problems: list[InputProblem]


class ArchiveSource(Protocol):
    url: str

    def units(self) -> Iterator[Unit]: ...

    def read(self, unit: Unit) -> UnitContent: ...


def _adapters() -> ModuleType:
    """The boto3 adapters, imported when an archive is opened: `sessionguard scan` of local files does not pay for
    importing boto3."""
    import sessionguard.adapters.archive  # noqa: PLC0415

    return sessionguard.adapters.archive


def _split(content: Iterator[SessionEvent | InputProblem]) -> UnitContent:
    result = UnitContent([], [])
    for item in content:
        (result.problems if isinstance(item, InputProblem) else result.events).append(item)  # type: ignore[arg-type]
    return result


class S3Source:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        archive: S3Archive | None = None,
    ) -> None:
        self.bucket, self.prefix, self.since, self.until = bucket, prefix, since, until
        self.url = f"s3://{bucket}/{prefix}"
        self._archive = archive or _adapters().S3Archive()

    def units(self) -> Iterator[Unit]:
        for item in self._archive.list_objects(self.bucket, self.prefix, since=self.since, until=self.until):
            if not item.key.endswith("/"):  # the console's "folder" placeholders
                yield Unit(f"s3://{self.bucket}/{item.key}", item.size, item.etag)

    def read(self, unit: Unit) -> UnitContent:
        key = unit.name.removeprefix(f"s3://{self.bucket}/")
        try:
            text = decode_input(self._archive.read_object(self.bucket, key, MAX_OBJECT_BYTES), key)
        except (MalformedEvent, ValueError) as problem:
            return UnitContent([], [InputProblem(unit.name, "object", str(problem))])
        return _split(read_input(text, key))


class LogsSource:
    def __init__(
        self, group: str, stream_prefix: str, *, since: datetime | None = None, archive: LogsArchive | None = None
    ) -> None:
        self.group, self.stream_prefix = group, stream_prefix
        self.since_ms = int(since.timestamp() * 1000) if since else None
        self.url = f"logs://{group}/{stream_prefix}"
        self._archive = archive or _adapters().LogsArchive()

    def units(self) -> Iterator[Unit]:
        for name, size in self._archive.list_streams(self.group, self.stream_prefix, since_ms=self.since_ms):
            yield Unit(f"logs://{self.group}/{name}", size)

    def read(self, unit: Unit) -> UnitContent:
        stream = unit.name.removeprefix(f"logs://{self.group}/")
        content = UnitContent([], [])
        for event in self._archive.read_stream(self.group, stream, since_ms=self.since_ms):
            try:
                content.events.append(parse_session_event(event.message, event_id=event.event_id, log_group=self.group))
            except MalformedEvent as problem:
                content.problems.append(InputProblem(unit.name, f"event {event.event_id}", problem.reason))
        return content


def open_archive(url: str, *, since: str | None = None, until: str | None = None) -> S3Source | LogsSource:
    since_time = parse_since(since) if since else None
    until_time = parse_since(until) if until else None
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ArchiveError("an s3:// URL names a bucket: s3://bucket/prefix/")
        return S3Source(bucket, prefix, since=since_time, until=until_time)
    if url.startswith("logs://"):
        if until_time is not None:
            raise ArchiveError("--until applies to s3:// archives only")
        group, stream_prefix = _logs_location(url.removeprefix("logs://"))
        if not group:
            raise ArchiveError("a logs:// URL names a log group: logs://group[/stream-prefix]")
        return LogsSource(group, stream_prefix, since=since_time)
    raise ArchiveError("an archive URL starts with s3:// or logs://")


def _logs_location(rest: str) -> tuple[str, str]:
    if rest.startswith("/"):  # logs:///aws/ssm/sessions//prefix: a group with slashes, prefix after "//"
        group, _, prefix = rest.partition("//")
        return group, prefix
    group, _, prefix = rest.partition("/")
    return unquote(group), prefix


def read_archive_events(url: str, *, session_id: str | None, since: str | None) -> list[SessionEvent]:
    """All events of an archive URL (for `replay`), narrowed to one session when `session_id` is given: the
    streams named after it, or the objects whose file name starts with it (else, in S3, every object)."""
    source = open_archive(url, since=since)
    units = list(source.units())
    if session_id is not None:
        named = [unit for unit in units if unit.name.rsplit("/", 1)[-1].startswith(session_id)]
        # An S3 export of streamed events is not named after its sessions: then every object is read.
        units = named or (units if isinstance(source, S3Source) else [])
    return [event for unit in units for event in source.read(unit).events]
