"""The session ledger's item and the reconciler under abuse (a review's findings): the alert claims one session's
item may hold are bounded whatever AlertCapPerSession says, a session whose item DynamoDB refuses to update costs
no other session its findings, and sessions whose ids mask alike keep streams and ledger records of their own.
Against moto, with the session ledger's stack of test_session_ledger.py.
"""

# ruff: noqa: F811 - the fixtures of test_session_ledger.py are imported, and used by name as parameters
from __future__ import annotations

import copy
import json
import logging
import time
from types import ModuleType
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionguard.adapters.dynamodb import SessionClaims
from sessionguard.alerting.claims import (
    SESSION_ALERTS_MAX,
    Candidate,
    ClaimState,
    Lease,
    claim_write,
    decide,
    digest,
    session_cap,
)
from sessionguard.alerting.ledger_alerts import SessionsNotReconciled
from sessionguard.alerting.noise import Decision
from sessionguard.alerting.transcript import STREAM_NAME_MAX_CHARS, log_stream_name

from tests.functional.test_session_ledger import (  # noqa: F401 - the fixtures are used by name
    REGION,
    SESSION_GROUP,
    SHELL_SESSION,
    START,
    TABLE,
    Stack,
    app,
    clean_powertools,
    findings_sent,
    invoke,
    record,
    sample,
    schedule,
    stack,
    start_shell,
    subscribe,
)

DYNAMODB_ITEM_MAX_BYTES = 400 * 1024
BATCH = "f" * 32  # a batch id as session_alerts makes it: 32 hex characters
CHANNELS = ("sns", "sns-extra", "slack", "events", "securityhub")  # what one alert can be delivered to
OTHER_SESSION = "john.doe-0fedcba9876543210"


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (its attribute names and values in UTF-8; a number at most 21 bytes, a
    set the sum of its elements): an upper bound."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        (kind, data), *_ = value.items()
        if kind == "S":
            total += len(data.encode())
        elif kind == "N":
            total += 21
        elif kind in ("SS", "NS"):
            total += sum(len(str(element).encode()) for element in data)
        else:
            total += len(json.dumps(data).encode())
    return total


def ledger_item(session_id: str) -> dict[str, Any]:
    found = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=TABLE, Key={"session_id": {"S": session_id}}
    )
    return found["Item"]  # type: ignore[no-any-return]


def claim_delivery(claims: SessionClaims, keys: list[str], cap: int, now_ms: int) -> list[Decision]:
    """What the subscription function does for one delivery's alerts (batch_claims.BatchClaims._claim): decide as
    if the session had none, claim in one write, and when that meets earlier claims decide again against the item
    it returns and write once more. Every alert in a window of its own (the most an alert can cost)."""
    candidates = [Candidate(key, digest(f"window#{key}")) for key in keys]
    state: ClaimState | None = None
    for _ in range(3):
        decisions = decide(candidates, state or ClaimState(), cap)
        sent = {c.key for c, d in zip(candidates, decisions, strict=True) if d in (Decision.DELIVER, Decision.SUMMARY)}
        leases = {key: Lease(BATCH, now_ms, now_ms + 60_000) for key in sent}
        write = claim_write(candidates, decisions, leases, state, cap=cap, sent=sent)
        if state is not None and write.empty:
            return decisions
        made, item = claims.claim(SHELL_SESSION, write, now_ms // 1000)
        state = ClaimState.of(item)
        if made:
            return decisions
    raise AssertionError("the claim met concurrent claims every time")


# --- the claims one session's item holds ------------------------------------------------------------------------


@pytest.mark.parametrize(("configured", "enforced"), [(0, 1000), (20, 20), (1000, 1000), (5000, 1000)])
def test_the_cap_a_sessions_item_enforces_is_bounded_whatever_is_configured(configured: int, enforced: int) -> None:
    assert session_cap(configured) == enforced
    candidates = [Candidate(f"alert#{n}", None) for n in range(SESSION_ALERTS_MAX + 2)]

    decisions = decide(candidates, ClaimState(), configured)

    assert decisions[:enforced] == [Decision.DELIVER] * enforced
    assert decisions[enforced] is Decision.SUMMARY  # the existing summary path: one alert says the rest are held
    assert set(decisions[enforced + 1 :]) == {Decision.OVER_CAP}


def test_with_no_cap_configured_a_session_item_stops_growing_under_dynamodbs_limit_and_the_ledger_still_updates_it(
    app: ModuleType, stack: Stack
) -> None:
    # Given a shell session that never streamed (SG-LG-001 becomes due), whose alerts the subscription function
    # claims on its ledger item with AlertCapPerSession 0, 50 alerts a delivery (INVOCATION_ALERT_CAP), each in a
    # window of its own: before the hard maximum, some 2,800 alerts filled the item and the ledger's own update of
    # it failed with ValidationException
    start_shell(app, stack)
    claims = SessionClaims(
        TABLE,
        key_attribute="session_id",
        expiry_attribute="expires_at",
        retention_seconds=86_400,
        is_ledger=True,
        client=boto3.client("dynamodb", region_name=REGION),
    )
    now_ms = START * 1000
    decided: list[Decision] = []
    for delivery in range(22):  # 1,100 alerts
        keys = [f"alert#{delivery:04d}-{n:02d}#SG-TEST-001#0" for n in range(50)]
        decided += claim_delivery(claims, keys, cap=0, now_ms=now_ms + delivery)
    item = ledger_item(SHELL_SESSION)
    # and, the worst case, every admitted alert went out in a delivery of its own that failed on every channel, so
    # that each attempt recorded on the item what it delivered (`SessionClaims.record`: the batch's digest, and a
    # digest per channel delivered; counted here, not written: moto checks an item's size at every attribute set)
    failed_deliveries = {
        f"delivered_{digest(f'batch#{n}')}": {"SS": [digest(f"alert#{n}#{channel}") for channel in CHANNELS]}
        for n in range(SESSION_ALERTS_MAX)
    }

    # Then the session's item admitted the hard maximum, the next alert took the summary, and the rest nothing
    assert decided.count(Decision.DELIVER) == SESSION_ALERTS_MAX
    assert decided.count(Decision.SUMMARY) == 1
    assert decided.count(Decision.OVER_CAP) == 1_100 - SESSION_ALERTS_MAX - 1
    happy_path, worst = item_bytes(item), item_bytes(item | failed_deliveries)
    print(f"ledger item at the hard maximum: {happy_path} bytes, {worst} with every delivery's failure recorded")
    assert happy_path < 180_000
    assert worst < 340_000 < DYNAMODB_ITEM_MAX_BYTES
    # and the reconciler records SG-LG-001 on it
    stack.at(START + 301)
    assert invoke(app, schedule())["findings"] == {"SG-LG-001": 1}
    assert record(stack)["findings"] == ["SG-LG-001"]


# --- one session the reconciler cannot update -------------------------------------------------------------------


def start_other_shell(app: ModuleType, stack: Stack) -> None:
    start = copy.deepcopy(sample("cloudtrail-ssm-start-session-logged-shell.json"))
    start["detail"]["responseElements"]["sessionId"] = OTHER_SESSION
    start["detail"]["eventID"] = "0b7a6f52-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
    stack.ssm.active.append({"SessionId": OTHER_SESSION, "Status": "Connected", "Target": "i-0fedcba9876543210"})
    invoke(app, start)


def fill_until_refused(session_id: str) -> int:
    """Grow the session's item (as alert claims did before the hard maximum; any attribute will do, and a few large
    ones keep moto quick) until DynamoDB refuses even a few bytes more; the bytes added."""
    client = boto3.client("dynamodb", region_name=REGION)
    added, refusals = 0, set()
    for chunk in (30_000, 1_000, 20, 1):
        while True:
            try:
                client.update_item(
                    TableName=TABLE,
                    Key={"session_id": {"S": session_id}},
                    UpdateExpression="SET #pad = :pad",
                    ExpressionAttributeNames={"#pad": f"pad{added}"},
                    ExpressionAttributeValues={":pad": {"S": "0" * chunk}},
                )
            except client.exceptions.ClientError as error:
                refusals.add(error.response["Error"]["Code"])
                break
            added += chunk
    assert refusals == {"ValidationException"}  # the item's size, as DynamoDB refuses it
    return added


def test_a_session_whose_item_cannot_be_updated_costs_no_other_session_its_finding(
    app: ModuleType, stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two shell sessions that never streamed, the first (oldest in the Open index, read first) with an item
    # DynamoDB will not let grow any more
    start_shell(app, stack)
    stack.at(START + 1)
    start_other_shell(app, stack)
    assert fill_until_refused(SHELL_SESSION) > 360_000
    stack.at(START + 301)

    # When the reconciler runs, both sessions' SG-LG-001 being due
    with pytest.raises(SessionsNotReconciled, match=r"^1 session\(s\) not reconciled$"):
        invoke(app, schedule())

    # Then the other session's finding went out and is recorded; the run failed at its end (Lambda retries it, the
    # Errors alarm counts it) and logged the session masked, by its error code only
    assert record(stack, OTHER_SESSION)["findings"] == ["SG-LG-001"]
    assert "SG-LG-001" in findings_sent(stack)
    (failure,) = [r for r in caplog.records if r.message == "Session not reconciled; the next run tries again"]
    assert (failure.error, failure.session) == ("ValidationException", log_stream_name(SHELL_SESSION))  # type: ignore[attr-defined]
    assert failure.levelno == logging.ERROR
    assert failure.at.partition(":")[2].isdigit()  # type: ignore[attr-defined]  # where it was raised: file:line
    (summary,) = [r for r in caplog.records if r.message == "Session ledger event processed"][-1:]
    assert summary.sessions_failed == 1  # type: ignore[attr-defined]
    # and the next run raises nothing new for the other session, and still fails on the first
    stack.at(START + 600)
    with pytest.raises(SessionsNotReconciled):
        invoke(app, schedule())
    assert record(stack, OTHER_SESSION)["findings"] == ["SG-LG-001"]


# --- stream names that mask alike --------------------------------------------------------------------------------

GHOSTS = ("AKIAIOSFODNN7EXAMPLF-0a1b2c3d4e5f60718", "AKIAQWERTYUIOPASDFG7-0f0e0d0c0b0a09080")


def test_session_ids_that_mask_alike_get_stream_names_of_their_own() -> None:
    names = [log_stream_name(session_id) for session_id in GHOSTS]

    assert len(set(names)) == 2
    for name in names:
        assert name.startswith("[MASKED_aws-access-key-id]-")
        assert "AKIA" not in name
        assert log_stream_name(name) == name  # the ledger keys a stream no session explains by its name


@pytest.mark.parametrize(
    "session_id",
    ["jane.roe-0131a888507e892b1", "arn:aws:sts::1:assumed-role/x*y", "s" * 600, "AKIAIOSFODNN7EXAMPLF-" + "9" * 600],
)
def test_a_stream_name_is_its_own_name_within_cloudwatchs_rules(session_id: str) -> None:
    name = log_stream_name(session_id)

    assert len(name) <= STREAM_NAME_MAX_CHARS
    assert ":" not in name
    assert "*" not in name
    assert log_stream_name(name) == name
    assert (name == session_id) == (session_id == "jane.roe-0131a888507e892b1")  # unchanged ids keep their name


# A digest after a masked part can complete a token the masker did not see before it: the name must settle anyway.
PREFIXED_TAILS = ("glpat-abcd", "ghp_abcd", "xoxb-1234", "key-0123", "live_backup", "sk_live_abc", "AKIA1234")


@settings(max_examples=150, deadline=None)
@given(
    head=st.sampled_from(("AKIAQWERTYUIOPASDFG7 ", "\x01", "ghp_qsR6RZ24lPoQj3oPUlieI2nVsbBi1RMar1jf ", "a:b*", "")),
    tail=st.sampled_from(PREFIXED_TAILS),
    filler=st.text(alphabet="abcdef0123456789-_", max_size=12),
)
def test_a_stream_name_settles_whatever_the_digest_completes(head: str, tail: str, filler: str) -> None:
    name = log_stream_name(head + tail + filler)

    assert log_stream_name(name) == name
    assert len(name) <= STREAM_NAME_MAX_CHARS
    assert ":" not in name
    assert "*" not in name


def ghost_payload(name: str, when: int, event_id: str) -> dict[str, Any]:
    """A delivery of a stream no StartSession explains, its events naming the stream's session."""
    ghost = {
        "eventVersion": "1.0",
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
        "awsRegion": REGION,
        "target": {"id": "i-0fedcba9876543210"},
        "userIdentity": {"arn": "arn:aws:sts::123456789012:assumed-role/Ops/intruder"},
        "runAsUser": "ssm-user",
        "sessionId": name,
        "sessionData": ["sh-4.2$ id", "uid=0(root)"],
    }
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": SESSION_GROUP,
        "logStream": name,
        "subscriptionFilters": ["sessionguard"],
        "logEvents": [{"id": event_id, "timestamp": when * 1000, "message": json.dumps(ghost)}],
    }


def test_two_ghost_streams_whose_names_mask_alike_are_each_reported(app: ModuleType, stack: Stack) -> None:
    # Given a stream no session explains, whose name holds a key-like token, reported as SG-LG-004
    stack.at(START)
    invoke(app, schedule())
    stack.at(START + 61)
    subscribe(stack, ghost_payload(GHOSTS[0], START + 60, "1"))
    runs = []
    for at in (START + 600, START + 1300):
        stack.at(at)
        runs.append(invoke(app, schedule())["findings"])
    # When another such stream, whose name masks the same, delivers two hours later
    stack.at(START + 7261)
    subscribe(stack, ghost_payload(GHOSTS[1], START + 7260, "2"))
    for at in (START + 7800, START + 8500, START + 9000):
        stack.at(at)
        runs.append(invoke(app, schedule())["findings"])

    # Then it is reported too, from a ledger record of its own
    assert [run.get("SG-LG-004", 0) for run in runs] == [0, 1, 0, 0, 1]
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE)["Items"]
    keys = {item["session_id"]["S"] for item in items}
    assert {log_stream_name(ghost) for ghost in GHOSTS} <= keys
    assert not any("AKIA" in key for key in keys)
