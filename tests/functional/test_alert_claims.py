"""Claims, leases and what a failed attempt records (sessionguard.alerting.claims; docs/alerts.md, "Retries"): the
subscription function end to end against moto, as in test_session_alerts.py, whose stack and helpers these use.

Payloads here are stamped now (the agent streams as the session goes), so that they are not taken for a late retry
of the previous version, unless a test means them to be.
"""

# ruff: noqa: F811 - the fixtures of test_session_alerts.py are imported, and used by name as parameters
from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import boto3
import pytest
from sessionguard.adapters.delivery_records import DeliveryRecords, PageBudget
from sessionguard.adapters.dynamodb import DeliveryLedger, SessionClaims
from sessionguard.adapters.logs import PutResult
from sessionguard.alerting import session_alerts
from sessionguard.alerting.claims import (
    Candidate,
    ClaimState,
    DeliveredElsewhere,
    Lease,
    claim_write,
    decide,
    digest,
)
from sessionguard.alerting.delivery import SLACK_ATTEMPTS, DeliveryFailed
from sessionguard.alerting.ledger_stream import settled_record, with_delivery_record
from sessionguard.alerting.log_events import LogEvent
from sessionguard.alerting.noise import Decision, state_key
from sessionguard.ledger.decisions import sweep_window
from sessionguard.ledger.model import StreamDelivery, parse_delivery_record

from tests.functional import make_alert_fixtures as fixtures
from tests.functional.test_session_alerts import (  # noqa: F401 - the fixtures are used by name
    REGION,
    RISKY_LINE,
    SANITIZED_GROUP,
    CountingClaims,
    FailingOnceSink,
    Stack,
    app,
    clean_powertools,
    decode,
    fake_sleep,
    invoke,
    lambda_context,
    stack,
)
from tests.support import ALERT_STATE_TABLE
from tests.unit.make_event_fixtures import awslogs

SESSION = "jane.roe-0a1b2c3d4e5f60718"
SHADOW = "sh-4.2$ cat /etc/shadow"


def now_text(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def payload(lines_per_event: Sequence[list[str]], session: str = SESSION, offset: float = 0.0) -> dict[str, Any]:
    """One delivery of the session's events, a second apart, stamped `offset` seconds from now."""
    records = []
    for n, lines in enumerate(lines_per_event):
        when = now_text(offset - len(lines_per_event) + n)
        records.append((when, json.dumps(fixtures.session_event(session, when, lines, instance="i-0aaa", user="jane"))))
    return fixtures.data_message(session, records)


def one_bucket_offset(span: float, window_seconds: int = 15 * 60) -> float:
    """An offset from now such that the `span` seconds before it fall in one window bucket (the stack's
    ALERT_WINDOW_MINUTES, 15): 0 unless now is within `span` seconds of a bucket's start."""
    into = time.time() % window_seconds
    return 0.0 if into > span + 1 else -(into + 1)


@dataclass
class CrashingSink:
    """A transcript sink that crashes the invocation (as a timeout or an out-of-memory kill does: nothing after it
    runs) at its next write, then writes normally."""

    inner: Any
    crashes: int = 1

    def put(self, log_group: str, log_stream: str, events: Sequence[LogEvent]) -> PutResult:
        if self.crashes:
            self.crashes -= 1
            raise Crashed
        return self.inner.put(log_group, log_stream, events)  # type: ignore[no-any-return]


class Crashed(BaseException):
    """The invocation died (not an exception the function catches)."""


@pytest.fixture
def later() -> Iterator[list[float]]:
    """Move the function's wall clock forward by appending seconds (its leases run on it)."""
    _, outlets = session_alerts.default_outlets()
    shifts: list[float] = []
    real = outlets.wall_clock
    outlets.wall_clock = lambda: real() + sum(shifts)
    yield shifts
    outlets.wall_clock = real


# --- the quiet path ---------------------------------------------------------------------------------------------


def test_a_quiet_delivery_writes_its_ledger_record_in_its_transcript_call(app: ModuleType, stack: Stack) -> None:
    quiet = payload([["sh-4.2$ ls", "a b"], ["sh-4.2$ df -h", "/dev/x 8G"], ["sh-4.2$ uptime"]])

    summary = invoke(app, quiet)

    assert summary["delivered"] == {"transcript": 1}
    assert summary["lines_written"] == 5  # the record is not a line
    (message,) = [json.dumps(r) for r in stack.delivery_records(SESSION)]
    record = parse_delivery_record(message)
    assert record is not None
    assert (record.session_id, record.events, record.lines) == (SESSION, 3, 5)
    events = stack.sanitized_events(SESSION)
    assert events[-1]["kind"] == "delivery"  # last of its call


# --- the alert path -----------------------------------------------------------------------------------------------


def test_an_alert_is_claimed_with_its_window_and_cap_in_one_write(app: ModuleType, stack: Stack) -> None:
    invoke(app, payload([[SHADOW, "root:*:19000"]]))

    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=ALERT_STATE_TABLE, Key={"id": {"S": state_key("session", SESSION)}}
    )["Item"]
    names = sorted(name.rsplit("_", 1)[0] for name in item)
    assert names == ["alert", "cap", "expiration", "id", "window"]
    lease = Lease.parse(next(v["S"] for k, v in item.items() if k.startswith("alert_")))
    assert lease is not None
    assert lease.until_ms > lease.claimed_ms  # held until the invocation's time runs out
    assert stack.sns_rule_ids() == ["SG-TEST-004"]


def test_the_window_holds_across_deliveries_and_costs_no_second_write(app: ModuleType, stack: Stack) -> None:
    _, outlets = session_alerts.default_outlets()
    claims = CountingClaims(outlets.claims)
    outlets.claims = claims

    # Windows are fixed 15-minute buckets of event time: both deliveries' events inside one bucket, whatever the clock
    shift = one_bucket_offset(span=10)
    invoke(app, payload([[SHADOW]], offset=shift - 5))
    summary = invoke(app, payload([[SHADOW + " "]], offset=shift))  # the same rule, seconds later in the same window

    assert stack.sns_rule_ids() == ["SG-TEST-004"]
    assert summary["suppressed"] == {"window": 1}
    # The second delivery's optimistic claim fails on the window; what it returned decides: nothing to write.
    assert claims.calls == ["claim", "claim"]


def test_a_duplicate_payload_sends_nothing_and_writes_no_line_twice_once_its_lease_ran_out(
    app: ModuleType, stack: Stack, later: list[float]
) -> None:
    delivery = payload([["sh-4.2$ echo hi", "hi"], [RISKY_LINE]])
    invoke(app, delivery)
    later.append(300)  # CloudWatch Logs or Lambda's queue delivers it again, minutes later

    summary = invoke(app, delivery)

    assert stack.sns_rule_ids() == ["SG-TEST-001"]
    assert len(stack.slack_posts()) == 1
    assert [line["text"] for line in stack.transcript(SESSION) if line["kind"] != "alert"] == [
        "echo hi",
        "hi",
        RISKY_LINE.removeprefix("sh-4.2$ "),
    ]
    assert summary["delivered"] == {}
    assert summary["suppressed"] == {"retry": 1}


def test_a_crash_between_the_publish_and_the_transcript_write_is_delivered_again_after_the_lease(
    app: ModuleType, stack: Stack, later: list[float]
) -> None:
    _, outlets = session_alerts.default_outlets()
    outlets.transcripts = CrashingSink(outlets.transcripts)
    delivery = payload([[RISKY_LINE]])

    with pytest.raises(Crashed):
        invoke(app, delivery)
    assert stack.sns_rule_ids() == ["SG-TEST-001"]

    # A retry while the crashed attempt's lease still runs cannot tell it from one still delivering: it waits
    # for Lambda's next retry.
    with pytest.raises(DeliveryFailed, match="noise-state"):
        invoke(app, delivery)
    assert stack.sns_rule_ids() == ["SG-TEST-001"]

    later.append(120)  # Lambda's next retry, after the lease (the invocation's time) ran out
    summary = invoke(app, delivery)

    # Nothing is lost; what the crashed attempt sent goes out again (docs/alerts.md, "Delivery is at least once").
    assert stack.sns_rule_ids() == ["SG-TEST-001", "SG-TEST-001"]
    assert [line["text"] for line in stack.transcript(SESSION) if line["kind"] != "alert"] == [
        RISKY_LINE.removeprefix("sh-4.2$ ")
    ]
    assert len(stack.delivery_records(SESSION)) == 1
    assert summary["failures"] == {}


def test_a_failed_transcript_write_records_what_went_out_and_the_retry_writes_only_the_transcript(
    app: ModuleType, stack: Stack
) -> None:
    _, outlets = session_alerts.default_outlets()
    outlets.transcripts = FailingOnceSink(outlets.transcripts)
    claims = CountingClaims(outlets.claims)
    outlets.claims = claims
    delivery = payload([[RISKY_LINE], [SHADOW]])

    with pytest.raises(DeliveryFailed, match="transcript x1"):
        invoke(app, delivery)
    assert claims.calls == ["claim", "record"]  # the record is written on the failure path only

    summary = invoke(app, delivery)  # Lambda's retry, a minute later; its lease was released

    assert stack.sns_rule_ids() == ["SG-TEST-001", "SG-TEST-004"]
    assert len(stack.slack_posts()) == 2
    assert summary["delivered"] == {"transcript": 1}
    assert summary["suppressed"] == {"retry": 6}  # two alerts: two topics and Slack each
    assert len(stack.delivery_records(SESSION)) == 1
    assert claims.calls == ["claim", "record", "claim", "claim"]  # optimistic claim, then against what it found


def test_a_session_over_its_cap_sends_one_summary_whatever_the_deliveries(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_CAP_PER_SESSION", "1")

    invoke(app, payload([[RISKY_LINE]], offset=-3))
    invoke(app, payload([[SHADOW], ["sh-4.2$ mysql -u root -pS3cr3t-Db-Passw0rd"]], offset=-1))
    summary = invoke(app, payload([["sh-4.2$ export AWS_SECRET_ACCESS_KEY=x"]]))

    assert stack.sns_rule_ids() == ["SG-TEST-001", "sessionguard-alert-cap"]
    assert summary["suppressed"] == {"cap": 1}


def test_a_delivery_without_alerts_whose_parking_failed_writes_its_lines_once_on_retry(
    app: ModuleType, stack: Stack
) -> None:
    _, outlets = session_alerts.default_outlets()
    claims = CountingClaims(outlets.claims)
    outlets.claims = claims
    outlets.failures = FailingOnceQueue(outlets.failures)
    good = payload([["sh-4.2$ echo hi", "hi"]])
    data = decode(good)
    data["logEvents"].append({**data["logEvents"][0], "id": "1" * 56, "message": "not json"})  # set aside
    delivery = awslogs(data)

    with pytest.raises(DeliveryFailed, match="failure-queue x1"):
        invoke(app, delivery)
    summary = invoke(app, delivery)  # Lambda's retry

    assert [line["text"] for line in stack.transcript(SESSION)] == ["echo hi", "hi"]
    assert len(stack.failure_messages()) == 1
    assert summary["delivered"] == {"failure-queue": 1}
    assert summary["lines_already_written"] == 2  # not written again (nor the delivery record)
    # No alert: the batch's record is read (one GetItem) and written on the failure path only.
    assert claims.calls == ["read", "record", "read"]


@dataclass
class FailingOnceQueue:
    """The failure queue, whose first SendMessageBatch fails (throttled) before sending anything."""

    inner: Any
    failed: bool = False

    def send(self, body: str) -> None:
        self.inner.send(body)

    def send_batch(self, bodies: Sequence[str]) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("ThrottlingException")
        self.inner.send_batch(bodies)


# --- an attempt that failed and could not record it: its delivery record says it was not complete -----------------


@dataclass
class UnrecordedClaims(CountingClaims):
    """The claims store whose failure-path record fails while `failing` (DynamoDB throttled just then): the failed
    attempt's leases are not released and what it delivered is not recorded."""

    failing: bool = True

    def record(self, *args: Any) -> Any:
        if self.failing:
            self.calls.append("record failed")
            raise RuntimeError("ProvisionedThroughputExceededException")
        return super().record(*args)


def failing_to_record() -> tuple[Any, UnrecordedClaims]:
    """The function's outlets, with a claims store whose failure-path record fails until told otherwise."""
    _, outlets = session_alerts.default_outlets()
    outlets.claims = claims = UnrecordedClaims(outlets.claims)
    return outlets, claims


def complete_flags(stack: Stack, session: str = SESSION) -> list[bool]:
    """What each delivery record of the session's stream says of its attempt, in order."""
    return [record["complete"] for record in stack.delivery_records(session)]


def lines_of(stack: Stack, session: str = SESSION) -> list[str]:
    return [line["text"] for line in stack.transcript(session) if line["kind"] != "alert"]


def test_a_failed_slack_post_whose_progress_could_not_be_recorded_is_posted_by_a_retry(
    app: ModuleType, stack: Stack, later: list[float]
) -> None:
    fake_sleep(stack)
    _, claims = failing_to_record()
    stack.slack.responses = [(500, {}, b"error")] * SLACK_ATTEMPTS
    delivery = payload([[RISKY_LINE]])

    with pytest.raises(DeliveryFailed, match="slack"):
        invoke(app, delivery)
    # Its transcript was written after the failure, and its record says the attempt was not complete.
    assert complete_flags(stack) == [False]
    assert claims.calls == ["claim", "record failed"]

    claims.failing = False  # DynamoDB and Slack are back
    with pytest.raises(DeliveryFailed, match="noise-state"):
        invoke(app, delivery)  # while its lease runs, the failed attempt cannot be told from one still delivering
    later.append(60)  # Lambda's next retry, after the lease ran out
    summary = invoke(app, delivery)

    # Taken for an attempt that died (docs/alerts.md, "Delivery is at least once"): the batch is delivered again.
    assert len(stack.slack.requests) == SLACK_ATTEMPTS + 1
    assert stack.sns_rule_ids() == ["SG-TEST-001", "SG-TEST-001"]
    assert lines_of(stack) == [RISKY_LINE.removeprefix("sh-4.2$ ")] * 2
    assert complete_flags(stack) == [False, True]
    assert summary["failures"] == {}


def test_a_failed_parking_whose_progress_could_not_be_recorded_is_parked_by_a_retry(
    app: ModuleType, stack: Stack, later: list[float]
) -> None:
    outlets, claims = failing_to_record()
    outlets.failures = FailingOnceQueue(outlets.failures)
    data = decode(payload([[RISKY_LINE]]))
    data["logEvents"].append({**data["logEvents"][0], "id": "1" * 56, "message": "not json"})  # set aside
    delivery = awslogs(data)

    with pytest.raises(DeliveryFailed, match="failure-queue x1"):
        invoke(app, delivery)
    assert complete_flags(stack) == [False]
    claims.failing = False
    later.append(60)
    summary = invoke(app, delivery)

    assert len(stack.failure_messages()) == 1
    assert summary["delivered"]["failure-queue"] == 1
    assert complete_flags(stack) == [False, True]


def test_a_failed_transcript_call_makes_the_later_records_call_say_incomplete_and_the_retry_writes_the_lines(
    app: ModuleType, stack: Stack, later: list[float]
) -> None:
    outlets, claims = failing_to_record()
    outlets.transcripts = FailingOnceSink(outlets.transcripts)
    # Lines two days old (a replay) are one call, and the record, stamped now, another after them.
    delivery = payload([[RISKY_LINE]], offset=-2 * 86400)

    with pytest.raises(DeliveryFailed, match="transcript x1"):
        invoke(app, delivery)
    assert (lines_of(stack), complete_flags(stack)) == ([], [False])
    claims.failing = False
    later.append(60)
    summary = invoke(app, delivery)

    assert lines_of(stack) == [RISKY_LINE.removeprefix("sh-4.2$ ")]  # written by the retry, and once
    assert complete_flags(stack) == [False, True]
    assert summary["failures"] == {}


def test_a_retry_that_finishes_a_failed_attempt_says_the_batch_is_complete_and_a_duplicate_repeats_nothing(
    app: ModuleType, stack: Stack, later: list[float]
) -> None:
    fake_sleep(stack)
    stack.slack.responses = [(500, {}, b"error")] * SLACK_ATTEMPTS
    delivery = payload([[RISKY_LINE]])
    with pytest.raises(DeliveryFailed, match="slack"):
        invoke(app, delivery)  # it records what it delivered (its transcript too) and releases its leases

    retried = invoke(app, delivery)  # Lambda's retry takes the leases again and posts to Slack

    # The failed attempt's record, in its transcript call, says incomplete: one more call, with the record alone.
    assert retried["delivered"] == {"slack": 1, "transcript": 1}
    assert complete_flags(stack) == [False, True]
    later.append(30)  # the same payload delivered again while the retry's leases run: it finds the batch done
    summary = invoke(app, delivery)
    assert (summary["delivered"], summary["failures"]) == ({}, {})
    assert len(stack.slack.requests) == SLACK_ATTEMPTS + 1
    assert stack.sns_rule_ids() == ["SG-TEST-001"]
    assert lines_of(stack) == [RISKY_LINE.removeprefix("sh-4.2$ ")]


def test_a_retry_short_of_time_for_its_completing_record_parks_for_a_replay_and_a_duplicate_repeats_nothing(
    app: ModuleType, stack: Stack, later: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_sleep(stack)
    stack.slack.responses = [(500, {}, b"error")] * SLACK_ATTEMPTS
    delivery = payload([[RISKY_LINE]])
    with pytest.raises(DeliveryFailed, match="slack"):
        invoke(app, delivery)
    # Lambda's retry posts to Slack, then has under 3 seconds left when the record that completes the batch is due
    invocation = session_alerts._SessionAlertsInvocation
    completing, time_is_short, record_completion = [False], invocation._time_is_short, invocation._record_completion

    def completing_record(self: Any, *args: Any) -> None:
        completing[0] = True
        record_completion(self, *args)
        completing[0] = False

    monkeypatch.setattr(invocation, "_record_completion", completing_record)
    monkeypatch.setattr(invocation, "_time_is_short", lambda self: completing[0] or time_is_short(self))
    retried = invoke(app, delivery)
    monkeypatch.setattr(invocation, "_record_completion", record_completion)
    monkeypatch.setattr(invocation, "_time_is_short", time_is_short)

    # It does not skip the record silently: it parks the invocation for a replay, recording what it delivered
    assert retried["deferred"] == 1
    assert complete_flags(stack) == [False]
    later.append(120)  # the same payload again, once the retry's leases ran out: what went out is not sent again
    summary = invoke(app, delivery)
    assert summary["failures"] == {}
    assert len(stack.slack.requests) == SLACK_ATTEMPTS + 1
    assert stack.sns_rule_ids() == ["SG-TEST-001"]
    assert lines_of(stack) == [RISKY_LINE.removeprefix("sh-4.2$ ")]


# --- a delivery of old events: its record is stamped when it is written ----------------------------------------


@pytest.mark.parametrize("days_ago", [0, 2])
def test_a_delivery_of_events_days_old_stamps_its_record_now_where_the_ledgers_sweep_finds_it(
    app: ModuleType, stack: Stack, days_ago: int
) -> None:
    # Whoever holds the instance role chooses a session's event times (up to 14 days back): a stream no session
    # started must still reach the ledger's sweep, which reads records by their stamp since its last run.
    forged = "mallory-0f0f0f0f0f0f0f0f0"
    checkpoint_ms = int(time.time() * 1000) - 60_000

    summary = invoke(app, payload([["sh-4.2$ ls", "a"]], session=forged, offset=-days_ago * 86400))

    now_ms = int(time.time() * 1000)
    swept = DeliveryRecords(SANITIZED_GROUP, client=stack.logs).sweep(
        *sweep_window(checkpoint_ms, now_ms), PageBudget(10)
    )
    assert forged in swept.streams
    # Lines keep their own time: the record goes alone in one more call when they are over 23 hours old.
    assert summary["delivered"] == {"transcript": 1 if days_ago == 0 else 2}
    assert len(stack.transcript(forged)) == 2


def test_the_delivery_record_is_the_last_event_of_the_last_call_stamped_now_alone_after_lines_a_day_old() -> None:
    delivery = StreamDelivery(SESSION, "b" * 32, 1, 2, 3, 4)
    now = 10 * 24 * 3600 * 1000
    recent = [[LogEvent(now - 5_000, "a"), LogEvent(now - 4_000, "b")]]
    ((*lines, record),) = with_delivery_record(recent, delivery, now)
    assert [line.message for line in lines] == ["a", "b"]
    assert record.timestamp == now
    assert parse_delivery_record(record.message) == delivery

    # Lines from 22 hours ago share the call; from yesterday (a replay, a clock set back), the record is stamped
    # now all the same, in a call of its own (PutLogEvents takes one call's events within 24 hours).
    day_old = [[LogEvent(now - 22 * 3600 * 1000, "day old")]]
    ((_, record),) = with_delivery_record(day_old, delivery, now)
    assert record.timestamp == now
    old = [[LogEvent(now - 30 * 3600 * 1000, "old")]]
    (lines, (record,)) = with_delivery_record(old, delivery, now)
    assert [line.message for line in lines] == ["old"]
    assert record.timestamp == now

    full = [[LogEvent(now, "x")] * 10_000]
    first, second = with_delivery_record(full, delivery, now)
    assert len(first) == 10_000
    assert [parse_delivery_record(event.message) for event in second] == [delivery]
    assert with_delivery_record([], delivery, now) == [[LogEvent(now, record.message)]]


def test_the_record_is_settled_as_its_call_is_written_stamped_then_and_saying_whether_all_before_it_succeeded() -> None:
    delivery = StreamDelivery(SESSION, "b" * 32, 1, 2, 3, 4)
    planned = 10 * 24 * 3600 * 1000
    ((*lines, _),) = batches = with_delivery_record([[LogEvent(planned - 5_000, "a")]], delivery, planned)
    written = planned + 25_000  # Slack's retries came between the plan and the write

    *kept, record = settled_record(batches[0], delivery, written, complete=False)

    assert kept == lines
    assert record.timestamp == written
    assert parse_delivery_record(record.message) == replace(delivery, complete=False)
    (alone,) = settled_record([record], delivery, written + 1, complete=True)
    assert parse_delivery_record(alone.message) == delivery


# --- a retry that spans a deployment ------------------------------------------------------------------------------


def previous_version_delivered(stack: Stack, keys: Sequence[str]) -> None:
    """What the previous version left when it delivered `keys` and its invocation failed afterwards: Powertools
    Idempotency records, COMPLETED, in the alert state table."""
    ledger = DeliveryLedger.on_table(ALERT_STATE_TABLE)
    ledger.register_lambda_context(lambda_context())  # type: ignore[arg-type]
    for key in keys:
        assert ledger.once(key, lambda: None)


def test_the_previous_versions_record_ids_are_what_powertools_wrote(stack: Stack) -> None:
    previous_version_delivered(stack, ["alert#1#SG-TEST-001#0#sns#arn:x"])

    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=ALERT_STATE_TABLE)["Items"]
    assert [item["id"]["S"] for item in items] == [DeliveryLedger.record_id("alert#1#SG-TEST-001#0#sns#arn:x")]


def test_a_retry_spanning_a_deployment_sends_only_what_the_previous_version_did_not(
    app: ModuleType, stack: Stack
) -> None:
    delivery = payload([[RISKY_LINE]], offset=-70)  # a minute old: Lambda's first retry of a failed attempt
    event_id = decode(delivery)["logEvents"][0]["id"]
    key = state_key("alert", event_id, "SG-TEST-001", "0")  # noise.alert_keys: the same in both versions
    # The previous version published to both topics, then Slack failed: its retry runs the new version.
    topics = (stack.topic_arn, stack.extra_topic_arn)
    previous_version_delivered(stack, [state_key(key, "sns", topic) for topic in topics])

    summary = invoke(app, delivery)

    assert stack.sns_rule_ids() == []
    assert len(stack.slack_posts()) == 1
    assert summary["delivered"] == {"slack": 1, "transcript": 1}
    assert summary["suppressed"] == {"retry": 2}


def test_a_retry_spanning_a_deployment_waits_while_the_previous_version_may_still_deliver(
    app: ModuleType, stack: Stack
) -> None:
    delivery = payload([[RISKY_LINE]], offset=-70)
    _, outlets = session_alerts.default_outlets()
    assert outlets.previous is not None
    outlets.previous = StillInProgress()

    with pytest.raises(DeliveryFailed, match="sns"):
        invoke(app, delivery)
    assert stack.sns_rule_ids() == []


class StillInProgress:
    """The previous version's INPROGRESS records, not yet expired."""

    def delivered(self, key: str) -> bool:
        raise DeliveredElsewhere("the previous version may still be delivering this key")


# --- decisions and writes, without AWS ---------------------------------------------------------------------------


def test_the_optimistic_write_rests_on_absent_attributes_and_room_under_the_cap() -> None:
    candidates = [Candidate("a", "w1"), Candidate("b", "w1"), Candidate("c", "w2")]
    decisions = decide(candidates, ClaimState(), cap=20)
    assert decisions == [Decision.DELIVER, Decision.DUPLICATE, Decision.DELIVER]
    leases = {"a": Lease("batch", 1, 2), "c": Lease("batch", 1, 2)}

    write = claim_write(candidates, decisions, leases, None, cap=20, sent={"a", "c"})

    assert write.admit == {digest("a"), digest("c")}
    assert write.admitted_at_most == 18
    assert write.absent == {f"alert_{digest('a')}", f"alert_{digest('c')}", "window_w1", "window_w2"}
    assert write.sets["window_w1"] == digest("a")


def test_decisions_against_the_item_follow_its_claims_windows_and_cap() -> None:
    state = ClaimState(
        claims={digest("old"): Lease("b0", 1, 0).encode()},
        windows={"w1": digest("other")},
        admitted=frozenset({digest("x"), digest("y")}),
    )
    candidates = [Candidate("old", "w1"), Candidate("new", "w1"), Candidate("more", "w2"), Candidate("last", "w3")]

    decisions = decide(candidates, state, cap=3)

    # Claimed before: delivered (what is left of it); its window taken by another: a duplicate; then the cap.
    assert decisions == [Decision.DELIVER, Decision.DUPLICATE, Decision.DELIVER, Decision.SUMMARY]
    write = claim_write(candidates, decisions, {"more": Lease("b1", 5, 9)}, state, cap=3, sent={"more", "last"})
    assert write.admitted_at_most == 2  # room for one more, as seen
    assert write.sets["cap_summary"] == digest("last")
    assert "window_w1" not in write.absent  # a taken window stays taken: no condition needed


def test_the_claim_of_a_whole_delivery_fits_dynamodbs_expression_limit() -> None:
    """53 keys (INVOCATION_ALERT_CAP alerts, both summaries, the finding), each with its window: the update and
    the condition stay within 4 KB each."""
    sent = [f"alert#{n:056d}#SG-TEST-{n:03d}#0" for n in range(53)]
    candidates = [Candidate(key, digest(key)) for key in sent]
    leases = {key: Lease("f" * 32, 1_796_000_000_000, 1_796_000_060_000) for key in sent}
    write = claim_write(candidates, decide(candidates, ClaimState(), cap=100), leases, None, cap=100, sent=set(sent))
    client = RecordingClient()

    SessionClaims.on_ledger("t", 86_400).__class__(
        "t", key_attribute="session_id", expiry_attribute="expires_at", retention_seconds=1, client=client
    ).claim(SESSION, write, 1)

    (request,) = client.requests
    assert len(request["UpdateExpression"]) < 4096
    assert len(request["ConditionExpression"]) < 4096


class RecordingClient:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"Attributes": {}}


# --- the session ledger's item ----------------------------------------------------------------------------------


def test_with_the_session_ledger_the_claim_returns_the_sessions_start_for_the_alerts_context(
    app: ModuleType, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName="sessionguard-session-ledger",
        AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("SESSION_LEDGER_TABLE", "sessionguard-session-ledger")
    started = int(time.time()) - 600
    dynamodb.put_item(  # what the ledger function recorded from CloudTrail's StartSession
        TableName="sessionguard-session-ledger",
        Item={
            "session_id": {"S": SESSION},
            "started_at": {"N": str(started)},
            "source_ip": {"S": "203.0.113.24"},
            "started_via": {"S": "cli"},
            "mfa": {"S": "true"},
            "expires_at": {"N": str(started + 86_400)},
        },
    )

    invoke(app, payload([[RISKY_LINE]]))

    (message,) = stack.sns_messages()
    assert "Source IP:   203.0.113.24" in message["Body"]
    item = dynamodb.get_item(TableName="sessionguard-session-ledger", Key={"session_id": {"S": SESSION}})["Item"]
    assert item["expires_at"] == {"N": str(started + 86_400)}  # the ledger's own expiry is kept
    assert any(name.startswith("alert_") for name in item)
    # The alert state table holds nothing for the session: the claim lives on the ledger's item.
    assert "Item" not in dynamodb.get_item(
        TableName=ALERT_STATE_TABLE, Key={"id": {"S": state_key("session", SESSION)}}
    )
