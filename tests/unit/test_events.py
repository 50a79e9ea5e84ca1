"""Reading session events in every form: streamed JSON, subscription payloads, log exports, typescripts."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import make_event_fixtures
import pytest
from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent
from hypothesis import given
from hypothesis import strategies as st
from sessionguard.session.records import (
    MAX_DECOMPRESSED_BYTES,
    InputProblem,
    MalformedEvent,
    SessionEvent,
    decode_subscription_data,
    events_from_subscription,
    group_by_session,
    parse_session_event,
    read_input,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
SESSION = "jane.roe-0b7e9d1c4a2f8e6d5"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def fixture(name: str) -> str:
    return (EVENTS / name).read_bytes().decode("utf-8")  # not read_text: it would turn the typescript's \r\n into \n


def read(text: str, source: str = "input.jsonl") -> tuple[list[SessionEvent], list[InputProblem]]:
    events: list[SessionEvent] = []
    problems: list[InputProblem] = []
    for item in read_input(text, source):
        if isinstance(item, SessionEvent):
            events.append(item)
        else:
            problems.append(item)
    return events, problems


def stream_lines() -> list[tuple[str, ...]]:
    return [tuple(json.loads(line)["sessionData"]) for line in fixture("session-stream.jsonl").splitlines()]


def awslogs(payload: Any) -> dict[str, Any]:
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


def event_json(session_id: str = "s-1", lines: list[Any] | None = None, **extra: Any) -> str:
    document = {"sessionId": session_id, "sessionData": ["sh-4.2$ id"] if lines is None else lines, **extra}
    return json.dumps(document)


def payload(*messages: Any, ids: list[Any] | None = None) -> dict[str, Any]:
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/ssm/sessionguard/sessions",
        "logStream": "s-1",
        "subscriptionFilters": ["sessionguard-session-alerts"],
        "logEvents": [
            {"id": (ids or [])[i] if ids else f"{i:056d}", "timestamp": 1795694401000, "message": message}
            for i, message in enumerate(messages)
        ],
    }


# --- every form is detected --------------------------------------------------------------------------------


def test_streamed_json_lines_become_session_events_with_their_metadata() -> None:
    events, problems = read(fixture("session-stream.jsonl"))

    assert problems == []
    assert [event.lines for event in events] == stream_lines()
    first = events[1]
    assert first.session_id == SESSION
    assert first.instance_id == "i-0a1b2c3d4e5f60718"
    assert first.user_arn == "arn:aws:sts::111122223333:assumed-role/PlatformAdmin/jane.roe"
    assert first.run_as == "ssm-user"
    assert first.region == "eu-west-1"
    assert first.event_time == "2026-11-26T12:00:04Z"
    assert first.transcript is False


def test_session_data_is_kept_raw_with_its_escapes() -> None:
    events, _ = read(fixture("session-stream.jsonl"))

    assert events[1].lines[0].startswith("\x1b]0;ssm-user@ip-10-0-1-23:~\x07[ssm-user@")
    assert "stauts\b\b\b\btatus" in events[2].lines[0]


def test_subscription_data_message_is_decoded_with_owner_group_and_event_ids() -> None:
    events, problems = read(fixture("subscription-data-message.json"), "awslogs.json")

    assert problems == []
    assert [event.lines for event in events] == stream_lines()
    assert {event.account_id for event in events} == {"123456789012"}
    assert {event.log_group for event in events} == {"/aws/ssm/sessionguard/sessions"}
    assert all(len(event.event_id) == 56 and event.event_id.isdigit() for event in events)
    assert len({event.event_id for event in events}) == len(events)


def test_decoded_subscription_payload_is_read_as_well() -> None:
    decoded = decode_subscription_data(json.loads(fixture("subscription-data-message.json"))["awslogs"]["data"])

    events, problems = read(json.dumps(decoded, indent=2), "decoded.json")

    assert problems == []
    assert [event.lines for event in events] == stream_lines()


def test_subscription_payloads_one_per_line_are_read() -> None:
    text = json.dumps(awslogs(payload(event_json("s-1")))) + "\n" + json.dumps(payload(event_json("s-2"))) + "\n"

    events, problems = read(text)

    assert problems == []
    assert [event.session_id for event in events] == ["s-1", "s-2"]


def test_control_message_yields_no_events_and_no_problems() -> None:
    assert list(read_input(fixture("subscription-control-message.json"), "control.json")) == []


def test_get_log_events_output_is_read() -> None:
    events, problems = read(fixture("get-log-events.json"), "get-log-events.json")

    assert problems == []
    assert [event.lines for event in events] == stream_lines()
    assert {event.event_id for event in events} == {""}  # get-log-events carries no event ids


def test_filter_log_events_output_is_read_with_event_ids() -> None:
    events, problems = read(fixture("filter-log-events.json"), "filter-log-events.json")

    assert problems == []
    assert [event.lines for event in events] == stream_lines()
    assert all(len(event.event_id) == 56 for event in events)


def test_a_bare_list_of_log_records_is_read() -> None:
    records = json.loads(fixture("get-log-events.json"))["events"]  # `aws logs get-log-events --query events`

    events, problems = read(json.dumps(records), "records.json")

    assert problems == []
    assert len(events) == len(records)


def test_typescript_is_one_transcript_event_named_after_its_s3_key() -> None:
    events, problems = read(fixture("transcript-jane.roe-0b7e9d1c4a2f8e6d5.log"), f"s3/sessions/{SESSION}.log")

    assert problems == []
    [event] = events
    assert event.session_id == SESSION
    assert event.transcript is True
    assert event.event_time == "2026-11-26T12:00:00+00:00"
    assert event.lines[0] == "\x1b[?1034hsh-4.2$ bash\r"  # raw, `Script started` header dropped
    assert not any(line.startswith("Script done") for line in event.lines)


def test_typescript_on_stdin_is_recognised_by_its_header() -> None:
    events, _ = read(fixture("transcript-jane.roe-0b7e9d1c4a2f8e6d5.log"), "-")

    assert [event.transcript for event in events] == [True]
    assert events[0].session_id == "stdin"


def test_interleaved_sessions_are_grouped_by_session_in_arrival_order() -> None:
    events, problems = read(fixture("session-stream-rough-edges.jsonl"))

    groups = group_by_session(events)

    assert problems == []
    assert list(groups) == ["john.doe-0c1d2e3f4a5b6c7d8", "ops.bot-0f1e2d3c4b5a69788"]
    for session_events in groups.values():
        assert [event.event_time for event in session_events] == sorted(e.event_time for e in session_events)
    assert sum(len(group) for group in groups.values()) == len(events)


def test_fixtures_are_what_their_builder_makes() -> None:
    assert json.loads(fixture("subscription-data-message.json")) == make_event_fixtures.data_message()
    assert json.loads(fixture("subscription-control-message.json")) == make_event_fixtures.control_message()
    assert json.loads(fixture("get-log-events.json")) == make_event_fixtures.get_log_events()
    assert json.loads(fixture("filter-log-events.json")) == make_event_fixtures.filter_log_events()


def test_decoding_agrees_with_powertools() -> None:
    event = json.loads(fixture("subscription-data-message.json"))

    powertools = CloudWatchLogsEvent(event).parse_logs_data()

    assert decode_subscription_data(CloudWatchLogsEvent(event).raw_logs_data) == powertools.raw_event


# --- malformed input is reported, never raised, never quoted -------------------------------------------------


def test_malformed_lines_are_reported_by_line_and_the_rest_is_read() -> None:
    events, problems = read(fixture("session-stream-malformed.jsonl"), "malformed.jsonl")

    assert [event.event_time for event in events] == ["2026-11-26T14:00:00Z", "2026-11-26T14:00:09Z"]
    locations = [f"line {n}" for n in range(2, 14)]
    locations[6] = "line 8 [0]"  # a JSON array: its element 0 is the bad one
    assert [(p.source, p.location) for p in problems] == [("malformed.jsonl", where) for where in locations]
    reasons = [problem.reason for problem in problems]
    assert reasons[0].startswith("record is not JSON")
    assert reasons[1] == "sessionData[1] is a JSON number, not a string"
    assert reasons[2] == "sessionId is a JSON number, not a string"
    assert reasons[3] == "sessionData is a JSON string, not a list of strings"
    assert reasons[4] == "sessionId is missing or null"
    assert reasons[5] == "target is a JSON string, not an object"
    assert reasons[7:11] == [
        "awslogs.data is not valid base64",
        "awslogs.data is not gzip data",
        "awslogs.data is truncated gzip data",
        "decompressed awslogs.data is not JSON: Expecting value at character 0",
    ]


def test_problem_reasons_never_contain_the_record_text() -> None:
    _, problems = read(fixture("session-stream-malformed.jsonl"), "malformed.jsonl")

    assert problems
    for problem in problems:
        for text in (problem.reason, problem.location):
            assert "wJalrX" not in text
            assert "AWS_SECRET" not in text


def test_binary_junk_yields_problems_not_exceptions() -> None:
    junk = bytes((i * 167 + i // 7) % 256 for i in range(64 * 1024)).decode("utf-8", "surrogateescape")

    events, problems = read(junk, "junk.bin")

    assert events == []
    assert problems
    assert all(problem.location.startswith("line ") for problem in problems)


def test_a_raw_nul_byte_breaks_only_its_line() -> None:
    text = event_json("s-1") + "\n" + '{"sessionId": "s-2", "sessionData": ["a\x00b"]}\n' + event_json("s-3")

    events, problems = read(text)

    assert [event.session_id for event in events] == ["s-1", "s-3"]
    assert [problem.location for problem in problems] == ["line 2"]
    assert "control character" in problems[0].reason


def test_an_escaped_nul_inside_session_data_is_kept_for_the_terminal_cleaner() -> None:
    events, problems = read(event_json("s-1", ["a\x00b"]))

    assert problems == []
    assert events[0].lines == ("a\x00b",)


def test_a_one_mebibyte_session_data_line_is_read_and_the_rest_continues() -> None:
    huge = "A" * (1024 * 1024)
    text = "\n".join([event_json("s-1", [huge, "after"]), '{"sessionId": ', event_json("s-2")])

    events, problems = read(text)

    assert [event.session_id for event in events] == ["s-1", "s-2"]
    assert events[0].lines == (huge, "after")
    assert [problem.location for problem in problems] == ["line 2"]
    assert all(huge[:64] not in problem.reason for problem in problems)


def test_json_nested_too_deep_is_a_problem() -> None:
    text = event_json("s-1") + "\n" + "[" * 100_000 + "\n" + event_json("s-2")

    events, problems = read(text)

    assert [event.session_id for event in events] == ["s-1", "s-2"]
    assert [problem.location for problem in problems] == ["line 2"]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"eventTime": 1795694401}, "eventTime is a JSON number, not a string"),
        ({"userIdentity": {"arn": ["x"]}}, "userIdentity.arn is a JSON array, not a string"),
        ({"target": "i-0123"}, "target is a JSON string, not an object"),
        ({"runAsUser": False}, "runAsUser is a JSON boolean, not a string"),
    ],
)
def test_wrongly_typed_metadata_is_malformed(extra: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedEvent) as raised:
        parse_session_event(event_json("s-1", **extra))

    assert raised.value.reason == reason
    assert str(raised.value) == reason


def test_null_or_missing_metadata_reads_as_empty() -> None:
    event = parse_session_event(event_json("s-1", target=None, userIdentity={"arn": None}))

    assert (event.instance_id, event.user_arn, event.region, event.event_time) == ("", "", "", "")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("", "message is not JSON: Expecting value at character 0"),
        ('["sh-4.2$ id"]', "session event is a JSON array, not an object"),
        ('{"sessionId": "", "sessionData": []}', "sessionId is empty"),
        ('{"sessionId": "s-1"}', "sessionData is missing or null"),
    ],
)
def test_parse_session_event_rejects_what_the_agent_never_writes(message: str, reason: str) -> None:
    with pytest.raises(MalformedEvent) as raised:
        parse_session_event(message)

    assert raised.value.reason == reason


def test_parse_session_event_carries_the_cloudwatch_context() -> None:
    event = parse_session_event(event_json("s-1"), event_id="1" * 56, account_id="123456789012", log_group="/g")

    assert (event.event_id, event.account_id, event.log_group) == ("1" * 56, "123456789012", "/g")


# --- subscription payloads -----------------------------------------------------------------------------------


def test_decode_accepts_bytes_and_zlib_as_powertools_does() -> None:
    body = json.dumps(payload(event_json())).encode()

    assert decode_subscription_data(base64.b64encode(zlib.compress(body)))["messageType"] == "DATA_MESSAGE"


def test_gzip_bomb_is_refused() -> None:
    bomb = base64.b64encode(gzip.compress(b" " * (MAX_DECOMPRESSED_BYTES + 1)))

    with pytest.raises(MalformedEvent, match="decompresses to more than"):
        decode_subscription_data(bomb)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("not base64!", "awslogs.data is not valid base64"),
        ("ünïcode", "awslogs.data is not valid base64"),
        (base64.b64encode(gzip.compress(b"\xff\xfe")).decode(), "decompressed awslogs.data is not UTF-8"),
        (
            base64.b64encode(gzip.compress(b'{"logEvents": []}')).decode(),
            "decompressed awslogs.data is not a subscription payload (no messageType)",
        ),
    ],
)
def test_decode_reports_what_is_wrong(data: str, reason: str) -> None:
    with pytest.raises(MalformedEvent) as raised:
        decode_subscription_data(data)

    assert raised.value.reason == reason


def test_a_bad_log_event_is_reported_with_its_id_and_the_rest_continue() -> None:
    batch = payload(event_json("s-1"), f"export AWS_SECRET_ACCESS_KEY={SECRET}", event_json("s-3"))

    items = list(events_from_subscription(batch))

    assert [type(item) for item in items] == [SessionEvent, InputProblem, SessionEvent]
    problem = items[1]
    assert isinstance(problem, InputProblem)
    assert problem.source == "awslogs"
    assert problem.location == f"logEvents[1] (id {1:056d})"
    assert SECRET not in problem.reason


def test_a_log_event_id_that_is_not_an_id_is_not_echoed() -> None:
    batch = payload("not json", ids=[SECRET])

    [problem] = events_from_subscription(batch)

    assert isinstance(problem, InputProblem)
    assert problem.location == "logEvents[0]"


@pytest.mark.parametrize(
    "batch",
    [
        {"messageType": "SOMETHING_ELSE"},
        {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/g"},
        {"messageType": "DATA_MESSAGE", "owner": 1, "logGroup": "/g", "logEvents": []},
    ],
)
def test_a_payload_of_the_wrong_shape_is_one_problem(batch: dict[str, Any]) -> None:
    [problem] = events_from_subscription(batch, source="f.json")

    assert isinstance(problem, InputProblem)
    assert problem.location == "payload"


def test_problems_inside_a_payload_on_a_line_name_both() -> None:
    text = event_json("s-1") + "\n" + json.dumps(awslogs(payload(event_json("s-2"), "{}")))

    _, problems = read(text)

    assert [problem.location for problem in problems] == [f"line 2 logEvents[1] (id {1:056d})"]


def test_group_by_session_keeps_first_appearance_and_arrival_order() -> None:
    a1, b1, a2 = (SessionEvent("a", ("1",)), SessionEvent("b", ("2",)), SessionEvent("a", ("3",)))

    assert group_by_session([a1, b1, a2]) == {"a": [a1, a2], "b": [b1]}


def test_empty_input_yields_nothing() -> None:
    assert list(read_input("", "-")) == []
    assert list(read_input("\ufeff\n  \n", "-")) == []


def test_events_read_on_the_fast_path_are_ordinary_frozen_values() -> None:
    message = event_json("s-1", eventTime="2026-11-26T12:00:01Z", awsRegion="eu-west-1", runAsUser="ssm-user")
    message = message[:-1] + ', "target": {"id": "i-1"}, "userIdentity": {"arn": "arn:aws:sts::1:x"}}'

    event = parse_session_event(message, event_id="7", account_id="1", log_group="/g")

    expected = SessionEvent(
        session_id="s-1",
        lines=("sh-4.2$ id",),
        instance_id="i-1",
        user_arn="arn:aws:sts::1:x",
        run_as="ssm-user",
        region="eu-west-1",
        event_time="2026-11-26T12:00:01Z",
        event_id="7",
        account_id="1",
        log_group="/g",
    )
    assert event == expected
    assert type(event) is SessionEvent
    assert event.transcript is False
    assert hash(event) == hash(expected)
    assert repr(event) == repr(expected)
    with pytest.raises(AttributeError):
        event.session_id = "other"  # type: ignore[misc]


def test_nested_arrays_are_a_problem_not_a_recursion() -> None:
    text = event_json("s-1") + "\n" + "[" * 900 + "]" * 900 + "\n" + event_json("s-2")

    events, problems = read(text)

    assert [event.session_id for event in events] == ["s-1", "s-2"]
    assert [problem.location for problem in problems] == ["line 2 [0]"]


@given(st.text())
def test_reading_arbitrary_text_never_raises(text: str) -> None:
    for item in read_input(text, "fuzz.jsonl"):
        assert isinstance(item, (SessionEvent, InputProblem))
