"""Read Session Manager session events in every form they reach SessionGuard.

Forms (docs/session-format.md, with the agent's source behind each fact): the JSON document the SSM Agent
streams per CloudWatch Logs event; a subscription payload (`{"awslogs":{"data":...}}`, base64 + gzip) or its
decoded form; `aws logs get-log-events` / `filter-log-events` output; the `script` typescript the agent writes
to S3 at session end. Nothing here calls AWS.

Problems are reported, never raised past `read_input` / `events_from_subscription`, and their reasons never
quote the record: session text may hold secrets, and reasons end up in logs and on stderr.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any, Final, NamedTuple

__all__ = [
    "BINARY_SNIFF_BYTES",
    "EVENT_TIME_MAX",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_FILE_BYTES",
    "InputProblem",
    "MalformedEvent",
    "SessionEvent",
    "decode_input",
    "decode_subscription_data",
    "events_from_subscription",
    "group_by_session",
    "inflate",
    "is_event_id",
    "json_type",
    "parse_session_event",
    "plain_text_event",
    "read_input",
    "read_json_lines",
    "refuse_binary",
    "valid_event_time",
]

# A subscription delivers events that went in through PutLogEvents, whose batches are capped at 1,048,576 bytes
# of messages (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html), and
# Lambda's asynchronous payload at 1 MB (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html). Each
# message is JSON again inside the payload, which at most doubles it; 8 MiB leaves ample room and stops a gzip
# bomb long before it hurts the function's memory.
MAX_DECOMPRESSED_BYTES: Final = 8 * 1024 * 1024
# A file given to `sessionguard scan`: an export can be large, but not a thousand times its compressed size.
MAX_FILE_BYTES: Final = 1024 * 1024 * 1024
GZIP_MAGIC: Final = b"\x1f\x8b"
BINARY_SNIFF_BYTES: Final = 8192
_BINARY_CONTROL_SHARE: Final = 0.3
# C0 controls but those a terminal transcript holds (tab, newline, form feed, carriage return, BS, BEL, ESC).
_CONTROL_BYTES: Final = bytes(sorted(set(range(0x20)) - set(b"\t\n\f\r\b\a\x1b"))) + b"\x7f"

# The agent writes eventTime as RFC 3339 UTC to the second ("2024-05-01T12:34:56Z", docs/session-format.md); fractions
# of a second and "+00:00" are accepted too. Anything else (another zone, free text, 300 KB of it) is not a time
# this agent wrote: the event is read with eventTime "" and `event_time_rejected` set, so the value never reaches
# an alert, a transcript or a noise-control window.
EVENT_TIME_MAX: Final = 40
_EVENT_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|\+00:00)")

_TYPESCRIPT_HEADER: Final = "Script started on "
_TYPESCRIPT_FOOTER: Final = "Script done on "
# A Windows session's S3 transcript is a PowerShell transcript file (session/windows.py), which opens with this line.
_POWERSHELL_TRANSCRIPT_HEADER: Final = "*" * 22


class SessionEvent(NamedTuple):
    """One streamed session event, or a whole typescript (`transcript=True`). A named tuple: one is made per
    event, and the fast path below builds it with a single C call."""

    session_id: str
    lines: tuple[str, ...]  # sessionData exactly as received (raw, still with escapes)
    instance_id: str = ""
    user_arn: str = ""
    run_as: str = ""
    region: str = ""
    event_time: str = ""  # as the agent wrote it (ISO-8601)
    event_id: str = ""  # CloudWatch Logs event id when the input carried one
    account_id: str = ""  # subscription payload "owner", when known
    log_group: str = ""
    transcript: bool = False  # lines come from an S3 `script` typescript
    event_time_rejected: bool = False  # the record's eventTime was not a time the agent writes (event_time is "")


@dataclass(frozen=True, slots=True)
class InputProblem:
    """A record that could not be read. `reason` never contains the record's text."""

    source: str  # file name, "-" for stdin, or "awslogs"
    location: str  # e.g. "line 12", "logEvents[3] (id 3717...)"
    reason: str


class MalformedEvent(ValueError):
    """Input that is not what CloudWatch Logs or the SSM Agent writes. `reason` never quotes the input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- one streamed event --------------------------------------------------------------------------------------


def parse_session_event(message: str, *, event_id: str = "", account_id: str = "", log_group: str = "") -> SessionEvent:
    """Parse the JSON document the SSM Agent writes per CloudWatch Logs event."""
    return _session_event(_loads(message, "message"), event_id=event_id, account_id=account_id, log_group=log_group)


_new_tuple: Final = tuple.__new__


def _session_event(document: Any, *, event_id: str = "", account_id: str = "", log_group: str = "") -> SessionEvent:
    # Fast path for what the agent always writes: every field present with its type. Anything else takes the
    # careful path below, which tolerates nulls and says what is wrong.
    if type(document) is dict:
        session_id, data = document.get("sessionId"), document.get("sessionData")
        target, identity = document.get("target"), document.get("userIdentity")
        if type(session_id) is str and session_id and type(data) is list and type(target) is dict:
            instance_id = target.get("id")
            user_arn = identity.get("arn") if type(identity) is dict else None
            run_as, region, event_time = document.get("runAsUser"), document.get("awsRegion"), document.get("eventTime")
            if (
                type(instance_id) is str
                and type(user_arn) is str
                and type(run_as) is str
                and type(region) is str
                and type(event_time) is str
                and (not event_time or valid_event_time(event_time))
                and _all_strings(data)
            ):
                event: SessionEvent = _new_tuple(
                    SessionEvent,
                    (
                        session_id,
                        tuple(data),
                        instance_id,
                        user_arn,
                        run_as,
                        region,
                        event_time,
                        event_id,
                        account_id,
                        log_group,
                        False,
                        False,
                    ),
                )
                return event
    return _checked_session_event(document, event_id=event_id, account_id=account_id, log_group=log_group)


def valid_event_time(value: str) -> bool:
    """Whether `value` is an eventTime as the agent writes it (see _EVENT_TIME) and a real date and time."""
    if len(value) > EVENT_TIME_MAX or _EVENT_TIME.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value)  # month 13, February 30, hour 24
    except ValueError:
        return False
    return True


def _all_strings(items: list[Any]) -> bool:
    try:
        "".join(items)  # one C loop that rejects any element that is not a str
    except TypeError:
        return False
    return True


def _checked_session_event(document: Any, *, event_id: str, account_id: str, log_group: str) -> SessionEvent:
    if not isinstance(document, dict):
        raise MalformedEvent(f"session event is a JSON {json_type(document)}, not an object")
    session_id = document.get("sessionId")
    if not isinstance(session_id, str):
        raise MalformedEvent(_missing_or_wrong("sessionId", session_id, "a string"))
    if not session_id:
        raise MalformedEvent("sessionId is empty")
    data = document.get("sessionData")
    if not isinstance(data, list):
        raise MalformedEvent(_missing_or_wrong("sessionData", data, "a list of strings"))
    for index, line in enumerate(data):
        if not isinstance(line, str):
            raise MalformedEvent(f"sessionData[{index}] is a JSON {json_type(line)}, not a string")
    event_time = _optional_string(document, "eventTime")
    time_rejected = bool(event_time) and not valid_event_time(event_time)
    return SessionEvent(
        session_id=session_id,
        lines=tuple(data),
        instance_id=_optional_string(document, "target", "id"),
        user_arn=_optional_string(document, "userIdentity", "arn"),
        run_as=_optional_string(document, "runAsUser"),
        region=_optional_string(document, "awsRegion"),
        event_time="" if time_rejected else event_time,
        event_id=event_id,
        account_id=account_id,
        log_group=log_group,
        event_time_rejected=time_rejected,
    )


def _optional_string(document: dict[str, Any], key: str, inner: str = "") -> str:
    """A metadata field: absent or null reads as "", any other type is malformed."""
    value = document.get(key)
    name = key
    if inner and value is not None:
        if not isinstance(value, dict):
            raise MalformedEvent(f"{key} is a JSON {json_type(value)}, not an object")
        value = value.get(inner)
        name = f"{key}.{inner}"
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedEvent(f"{name} is a JSON {json_type(value)}, not a string")
    return value


# --- subscription payloads -----------------------------------------------------------------------------------


def decode_subscription_data(data: str | bytes) -> dict[str, Any]:
    """Decode `awslogs.data` (base64 of gzip of JSON) into the payload dict, refusing gzip bombs.

    Same decoding as Powertools' `CloudWatchLogsEvent.decompress_logs_data` (zlib, gzip or zlib header), which
    has no size cap; pass it `event.raw_logs_data`.
    """
    try:
        compressed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvent("awslogs.data is not valid base64") from None
    raw = inflate(compressed, "awslogs.data")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEvent("decompressed awslogs.data is not UTF-8") from None
    payload = _loads(text, "decompressed awslogs.data")
    if not isinstance(payload, dict) or not isinstance(payload.get("messageType"), str):
        raise MalformedEvent("decompressed awslogs.data is not a subscription payload (no messageType)")
    return payload


def inflate(compressed: bytes, what: str, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """gzip (or zlib) data decompressed, refusing more than `limit` bytes of output (a gzip bomb) and data that
    ends early. Concatenated gzip members (`cat a.gz b.gz`, as gzip(1) reads them) are read one after the other.
    Problems are MalformedEvent naming `what` and gzip."""
    out = bytearray()
    rest = compressed
    while True:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error:
            raise MalformedEvent(f"{what} is not gzip data") from None
        if len(out) > limit:
            raise MalformedEvent(f"{what} decompresses to more than {limit} bytes")
        if not inflater.eof:
            raise MalformedEvent(f"{what} is truncated gzip data")
        rest = inflater.unused_data
        if not rest.startswith(GZIP_MAGIC):
            return bytes(out)


def decode_input(data: bytes, source: str, limit: int = MAX_FILE_BYTES) -> str:
    """The text of one input file (or stdin) for `read_input`: gzip is decompressed transparently (CloudWatch Logs
    and S3 exports are gzipped), binary data is refused, undecodable bytes become U+FFFD (the agent itself damages
    UTF-8). Raises MalformedEvent, whose reason names the file's problem without quoting it."""
    if data.startswith(GZIP_MAGIC):
        data = inflate(data, "the file", limit)
    refuse_binary(data)
    return data.decode("utf-8", errors="replace")


def refuse_binary(data: bytes) -> None:
    """MalformedEvent when the (decompressed) data is binary by its first 8 KiB; `data` may be just those."""
    if _looks_binary(data[:BINARY_SNIFF_BYTES]):
        raise MalformedEvent("binary data (NUL or mostly control bytes), not a session log; not scanned")


def _looks_binary(head: bytes) -> bool:
    """Like grep and git: a NUL byte means binary. So do mostly control bytes: text logs, even typescripts with
    their escapes, backspaces and bells, are mostly printable."""
    if b"\0" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > len(head) * _BINARY_CONTROL_SHARE


def events_from_subscription(
    payload: Mapping[str, Any], source: str = "awslogs"
) -> Iterator[SessionEvent | InputProblem]:
    """Session events of a decoded subscription payload; a bad log event is reported and skipped."""
    yield from _subscription_events(payload, source, "")


def _subscription_events(payload: Mapping[str, Any], source: str, where: str) -> Iterator[SessionEvent | InputProblem]:
    message_type = payload.get("messageType")
    if message_type == "CONTROL_MESSAGE":
        return  # CloudWatch Logs checking that the destination is reachable
    if message_type != "DATA_MESSAGE":
        yield InputProblem(source, where or "payload", "messageType is neither DATA_MESSAGE nor CONTROL_MESSAGE")
        return
    owner, log_group = payload.get("owner"), payload.get("logGroup")
    log_events = payload.get("logEvents")
    if not isinstance(owner, str) or not isinstance(log_group, str) or not isinstance(log_events, list):
        reason = "subscription payload lacks owner, logGroup or logEvents of the right type"
        yield InputProblem(source, where or "payload", reason)
        return
    # The agent uploads a session either as JSON events (streaming) or, streaming off, as plain text at the end:
    # never both in one stream. A delivery of text only that holds the typescript's first or last line is that
    # upload; other text is malformed.
    plain_text_stream = _stream_name(payload.get("logStream")) if _is_plain_text_upload(log_events) else ""
    for index, record in enumerate(log_events):
        try:
            yield _log_record(record, "id", owner, log_group, plain_text_stream)
        except MalformedEvent as problem:
            event_id = record.get("id") if isinstance(record, dict) else None
            yield InputProblem(source, f"{where}logEvents[{index}]" + _id_suffix(event_id), problem.reason)


def is_event_id(value: object) -> bool:
    """CloudWatch Logs event ids are long decimal strings; anything else is not echoed back."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isdigit()


def _id_suffix(value: object) -> str:
    return f" (id {value})" if is_event_id(value) else ""


# --- every input form ----------------------------------------------------------------------------------------


def read_input(text: str, source: str) -> Iterator[SessionEvent | InputProblem]:
    """Session events from one input, its form auto-detected; a bad record is reported and the rest read.

    Forms: JSON Lines of streamed events or of subscription payloads (wrapped or decoded); one JSON document
    (a payload, `get-log-events` / `filter-log-events` output, one event, or a list of those); a `script`
    typescript, whose session id is the file-name stem (the agent's S3 key is `<sessionId>.log`).
    """
    text = text.removeprefix("\ufeff")
    start = text.lstrip()
    if not start:
        return
    if start.startswith((_TYPESCRIPT_HEADER, _POWERSHELL_TRANSCRIPT_HEADER)) or (
        _plain_name(source).endswith(".log") and start[0] not in "{["
    ):
        yield _read_typescript(text, source)
        return
    if start[0] in "{[":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            if not _json_lines(text):
                # One pretty-printed document (get-log-events output) with a syntax error: its one error, not one
                # per line. error.msg is one of json's fixed phrases; the input is not quoted.
                where = f"line {error.lineno} column {error.colno}"
                yield InputProblem(source, where, f"not valid JSON: {error.msg}")
                return
        except (ValueError, RecursionError):
            pass  # not one document this reader accepts: read line by line below, which says what is wrong
        else:
            yield from _from_document(document, source, "" if "\n" in text.strip() else "line 1 ")
            return
    yield from read_json_lines(text, source)


def read_json_lines(text: str, source: str, first_line: int = 1) -> Iterator[SessionEvent | InputProblem]:
    """Session events of JSON Lines, one record per line (blank lines skipped), each problem located by its line
    number, the first line being `first_line`: how `read_input` reads JSON Lines, and how `sessionguard scan` reads
    a run of lines cut from a large JSON Lines input (where a run could read as one document: `[`, an event, `]`)."""
    for number, line in enumerate(text.split("\n"), start=first_line):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            document = _loads(line, "record")
        except MalformedEvent as problem:
            yield InputProblem(source, where, problem.reason)
            continue
        yield from _from_document(document, source, where + " ")


_JSON_LINES_SNIFF: Final = 50


def _json_lines(text: str) -> bool:
    """Whether a text that is not one JSON document is JSON Lines: one of its first lines is a JSON object by
    itself. No line of a pretty-printed document is (`{`, `"events": [`, `"timestamp": 1795694401000,`)."""
    first = text.split("\n", _JSON_LINES_SNIFF)[:_JSON_LINES_SNIFF]  # the last part would be the whole rest
    for line in first:
        try:
            if isinstance(json.loads(line), dict):
                return True
        except (ValueError, RecursionError):
            continue
    return False


def _from_document(document: Any, source: str, where: str) -> Iterator[SessionEvent | InputProblem]:
    """Dispatch one JSON document on its shape; `where` prefixes problem locations ("line 3 ")."""
    if isinstance(document, list):  # e.g. `aws logs get-log-events --query events`
        for index, item in enumerate(document):
            if isinstance(item, list):
                yield InputProblem(source, f"{where}[{index}]", "a JSON array inside an array is not a session event")
            else:
                yield from _from_document(item, source, f"{where}[{index}] ")
        return
    location = where.rstrip() or "document"
    if not isinstance(document, dict):
        yield InputProblem(source, location, f"a JSON {json_type(document)} is not a session event")
        return
    try:
        if "awslogs" in document:
            wrapper = document["awslogs"]
            if not isinstance(wrapper, dict) or not isinstance(wrapper.get("data"), str):
                raise MalformedEvent("awslogs.data is missing or not a string")
            yield from _subscription_events(decode_subscription_data(wrapper["data"]), source, where)
        elif "messageType" in document:
            yield from _subscription_events(document, source, where)
        elif isinstance(document.get("events"), list):
            yield from _log_events_output(document["events"], source, where)
        elif "message" in document and "sessionData" not in document:
            yield _log_record(document, "eventId" if "eventId" in document else "id")  # one element of those
        else:
            yield _session_event(document)
    except MalformedEvent as problem:
        yield InputProblem(source, location, problem.reason)


def _log_events_output(records: list[Any], source: str, where: str) -> Iterator[SessionEvent | InputProblem]:
    """Records of `get-log-events` ({timestamp, message, ingestionTime}) or `filter-log-events` (+ eventId)."""
    for index, record in enumerate(records):
        event_id = record.get("eventId") if isinstance(record, dict) else None
        try:
            yield _log_record(record, "eventId")
        except MalformedEvent as problem:
            yield InputProblem(source, f"{where}events[{index}]" + _id_suffix(event_id), problem.reason)


def _log_record(
    record: object, id_key: str, account_id: str = "", log_group: str = "", log_stream: str = ""
) -> SessionEvent:
    """One CloudWatch Logs record whose `message` is a streamed session event, or, in a subscription payload
    (which names the log stream), part of the plain-text transcript of a session that was not streamed."""
    if not isinstance(record, dict):
        raise MalformedEvent(f"log event is a JSON {json_type(record)}, not an object")
    message = record.get("message")
    if not isinstance(message, str):
        raise MalformedEvent(_missing_or_wrong("message", message, "a string"))
    event_id = record.get(id_key)
    event_id = event_id if isinstance(event_id, str) and is_event_id(event_id) else ""
    if log_stream and not message.lstrip().startswith(("{", "[")):
        return plain_text_event(message, log_stream, event_id=event_id, account_id=account_id, log_group=log_group)
    return parse_session_event(message, event_id=event_id, account_id=account_id, log_group=log_group)


def plain_text_event(
    message: str, log_stream: str, *, event_id: str = "", account_id: str = "", log_group: str = ""
) -> SessionEvent:
    """A plain-text log event: with streaming off (always for AWS-StartInteractiveCommand and
    AWS-StartNonInteractiveCommand sessions) the agent uploads the session's `script` typescript at the end, whole
    lines packed into events of up to 200,000 bytes, `\r\n` made `\n`, escapes kept, no JSON, into the stream
    named after the session (docs/session-format.md). Read as transcript lines of that session; the typescript's
    own `Script started/done` lines are dropped as `_read_typescript` drops them."""
    lines = message.split("\n")
    event_time = ""
    if lines and lines[0].startswith(_TYPESCRIPT_HEADER):
        event_time = _typescript_time(lines.pop(0)[len(_TYPESCRIPT_HEADER) :])
    if lines and lines[-1].rstrip("\r").startswith(_TYPESCRIPT_FOOTER):
        lines.pop()
    return SessionEvent(
        session_id=log_stream,
        lines=tuple(lines),
        event_time=event_time,
        event_id=event_id,
        account_id=account_id,
        log_group=log_group,
        transcript=True,
    )


def _stream_name(value: object) -> str:
    return value if isinstance(value, str) else ""


def _is_plain_text_upload(log_events: list[Any]) -> bool:
    """Whether the log events are the agent's plain-text upload: every message text that is not JSON, and one
    of them the typescript's start (`Script started on`, or a PowerShell transcript's header) or its end."""
    marked = False
    for record in log_events:
        message = record.get("message") if isinstance(record, dict) else None
        if not isinstance(message, str) or message.lstrip().startswith(("{", "[")):
            return False
        start = message.removeprefix("\ufeff")
        last = message.rstrip("\r\n").rsplit("\n", 1)[-1]
        marked = marked or start.startswith((_TYPESCRIPT_HEADER, _POWERSHELL_TRANSCRIPT_HEADER))
        marked = marked or last.startswith(_TYPESCRIPT_FOOTER)
    return marked


def _read_typescript(text: str, source: str) -> SessionEvent:
    """The whole typescript as one event; `Script started/done` lines are script's, not the terminal's."""
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()  # the file ends with a newline
    event_time = ""
    if lines and lines[0].startswith(_TYPESCRIPT_HEADER):
        event_time = _typescript_time(lines.pop(0)[len(_TYPESCRIPT_HEADER) :])
    if lines and lines[-1].rstrip("\r").startswith(_TYPESCRIPT_FOOTER):
        lines.pop()
    name = PurePath(_plain_name(source)).name
    session_id = name.removesuffix(".log") if source != "-" else "stdin"
    return SessionEvent(session_id=session_id or "unknown", lines=tuple(lines), event_time=event_time, transcript=True)


def _plain_name(source: str) -> str:
    """The file name the data had before it was gzipped (`decode_input` reads `<sessionId>.log.gz` as its .log)."""
    return source.removesuffix(".gz")


def _typescript_time(rest: str) -> str:
    """`2026-11-26 12:00:00+00:00 [TERM=...]` (util-linux script) -> ISO-8601, or "" when not a date."""
    stamp = " ".join(rest.split()[:2])
    try:
        return datetime.fromisoformat(stamp).isoformat()
    except ValueError:
        return ""


def group_by_session(items: Iterable[SessionEvent]) -> dict[str, list[SessionEvent]]:
    """Events per session id, sessions in order of first appearance, events in arrival order."""
    groups: dict[str, list[SessionEvent]] = {}
    for event in items:
        groups.setdefault(event.session_id, []).append(event)
    return groups


# --- helpers -------------------------------------------------------------------------------------------------


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        # error.msg is one of json's fixed phrases; error.doc (the input) is deliberately not used.
        raise MalformedEvent(f"{what} is not JSON: {error.msg.removesuffix(' at')} at character {error.pos}") from None
    except (ValueError, RecursionError):
        raise MalformedEvent(f"{what} is not JSON this reader accepts (nested too deep or number too long)") from None


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type ("object", "array", "null"...), for reasons that never quote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _missing_or_wrong(name: str, value: object, expected: str) -> str:
    if value is None:
        return f"{name} is missing or null"
    return f"{name} is a JSON {json_type(value)}, not {expected}"
