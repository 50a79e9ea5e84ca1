"""eventTime is session-derived text like any other: only a time as the agent writes it is kept; anything else is
read as "" and flagged, so it never reaches an alert, a transcript or a noise-control window."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionguard.session.records import EVENT_TIME_MAX, parse_session_event, valid_event_time


def message(event_time: object) -> str:
    return json.dumps(
        {
            "eventVersion": "1.0",
            "eventTime": event_time,
            "awsRegion": "us-east-1",
            "target": {"id": "i-1234567890abcdef0"},
            "userIdentity": {"arn": "arn:aws:sts::111122223333:assumed-role/Admin/Jane-Roe"},
            "runAsUser": "ssm-user",
            "sessionId": "Jane-Roe-07a16060613c408b5",
            "sessionData": ["sh-4.2$ whoami", "ssm-user"],
        }
    )


@pytest.mark.parametrize(
    "event_time", ["2024-05-01T12:34:56Z", "2024-05-01T12:34:56.123Z", "2024-05-01T12:34:56+00:00"]
)
def test_the_agents_time_format_is_kept(event_time: str) -> None:
    event = parse_session_event(message(event_time))
    assert event.event_time == event_time
    assert not event.event_time_rejected


@pytest.mark.parametrize(
    "event_time",
    [
        "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # a secret pasted where a time goes
        "2026\x1b[2J\x00\x07",
        "\ud800",
        "2024-05-01T12:34:56Z" + "A" * 300_000,
        "*URGENT* <https://evil|x>",
        "2024-05-01T12:34:56+02:00",  # not UTC: not what the agent writes
        "2024-13-01T12:34:56Z",  # no such month
        "2024-05-01T12:34:56",  # no zone
        "٢٠٢٤-05-01T12:34:56Z",  # other digits than ASCII
    ],
)
def test_anything_else_is_read_as_no_time_and_flagged(event_time: str) -> None:
    event = parse_session_event(message(event_time))
    assert event.event_time == ""
    assert event.event_time_rejected
    assert event.lines == ("sh-4.2$ whoami", "ssm-user")  # the event itself is still read


def test_a_missing_or_null_time_is_not_flagged() -> None:
    assert not parse_session_event(message(None)).event_time_rejected
    assert parse_session_event(message("")).event_time == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_every_kept_time_is_short_and_an_agent_time(text: str) -> None:
    event = parse_session_event(message(text))
    assert event.event_time in {"", text}
    if event.event_time:
        assert len(event.event_time) <= EVENT_TIME_MAX
        assert valid_event_time(event.event_time)
        assert event.event_time.isascii()
        assert event.event_time.isprintable()
