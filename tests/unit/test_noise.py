"""Noise control: one alert per rule per session window, a per-session cap with a single summary, and decisions
that a retried batch reproduces. Each behaviour runs against the in-memory store and the DynamoDB store (moto),
which must agree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from sessionguard.adapters.dynamodb import DeliveryLedger, DynamoNoiseStore, idempotency_persistence
from sessionguard.alerting.noise import (
    STATE_RETENTION_SECONDS,
    Decision,
    DeliveredButNotRecorded,
    NoiseControl,
    NoiseStore,
    alert_keys,
    event_epoch,
    state_key,
)
from sessionguard.session.engine import CommandAlert
from sessionguard.severity import Severity

from tests.support import CountingNoiseStore, FakeLambdaContext, InMemoryLedger, InMemoryNoiseStore, create_state_table

NOW = 1_795_705_200  # 2026-11-26T15:00:00Z
WINDOW = 15 * 60
TABLE = "sessionguard-alert-state"


def alert(
    rule_id: str = "SG-TEST-004", *, session: str = "bob-0c1d", at: str = "2026-11-26T15:00:26Z", **kw: str
) -> CommandAlert:
    return CommandAlert(
        session_id=session,
        instance_id="i-0fedcba9876543210",
        user="arn:aws:sts::111122223333:assumed-role/Ops/bob",
        rule_id=rule_id,
        title="Shadow password file read",
        severity=Severity.HIGH,
        techniques=("T1003.008",),
        description="",
        command=kw.get("command", "cat /etc/shadow"),
        event_time=at,
        event_id=kw.get("event_id", "17957052260000000000000000000000000000000000000000000005"),
    )


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[NoiseStore]:
    if request.param == "memory":
        yield InMemoryNoiseStore()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_state_table(client, TABLE)
        yield DynamoNoiseStore(TABLE, client)


def control(store: NoiseStore, *, window: int = WINDOW, cap: int = 20, now: float = NOW) -> NoiseControl:
    return NoiseControl(store, window_seconds=window, cap=cap, clock=lambda: now)


# --- window -----------------------------------------------------------------------------------------------------


def test_the_same_rule_in_the_same_session_alerts_once_per_window(store: NoiseStore) -> None:
    noise = control(store)
    first, second = alert(event_id="1"), alert(event_id="2", at="2026-11-26T15:10:00Z")
    assert noise.decide(first, "key-1") is Decision.DELIVER
    assert noise.decide(second, "key-2") is Decision.DUPLICATE


def test_another_rule_or_another_session_is_not_a_duplicate(store: NoiseStore) -> None:
    noise = control(store)
    assert noise.decide(alert(), "key-1") is Decision.DELIVER
    assert noise.decide(alert("SG-TEST-001"), "key-2") is Decision.DELIVER
    assert noise.decide(alert(session="carol-0d9e"), "key-3") is Decision.DELIVER


def test_the_next_window_alerts_again(store: NoiseStore) -> None:
    noise = control(store)
    assert noise.decide(alert(at="2026-11-26T15:00:26Z"), "key-1") is Decision.DELIVER
    assert noise.decide(alert(at="2026-11-26T15:15:01Z"), "key-2") is Decision.DELIVER


def test_a_retried_alert_is_decided_the_same_way(store: NoiseStore) -> None:
    """The retry of a batch meets its own claims: what was delivered may be delivered (the ledger stops the
    duplicate), what was suppressed stays suppressed."""
    noise = control(store)
    first, second = alert(), alert(at="2026-11-26T15:05:00Z")
    assert [noise.decide(first, "key-1"), noise.decide(second, "key-2")] == [Decision.DELIVER, Decision.DUPLICATE]
    later = control(store, now=NOW + 7 * 24 * 3600)  # a replay from the failure queue a week later
    assert [later.decide(first, "key-1"), later.decide(second, "key-2")] == [Decision.DELIVER, Decision.DUPLICATE]


def test_a_retry_that_gives_out_its_alerts_in_another_order_still_delivers_the_windows_holder(
    store: NoiseStore,
) -> None:
    """The first attempt claimed the window for key-1 and failed to publish it; the retry's warm-up went otherwise,
    so another alert of the window comes first. It loses, and key-1, still the holder, is delivered."""
    holder, other = alert(), alert(at="2026-11-26T15:05:00Z")
    assert control(store).decide(holder, "key-1") is Decision.DELIVER
    counting = CountingNoiseStore(store)
    retry = control(counting)

    assert [retry.decide(other, "key-2"), retry.decide(holder, "key-1")] == [Decision.DUPLICATE, Decision.DELIVER]
    assert counting.calls.count("window") + counting.calls.count("owner") == 2  # one claim, one read of the holder


def test_window_zero_turns_deduplication_off(store: NoiseStore) -> None:
    noise = control(store, window=0)
    assert noise.decide(alert(), "key-1") is Decision.DELIVER
    assert noise.decide(alert(), "key-2") is Decision.DELIVER


def test_an_expired_claim_counts_as_absent(store: NoiseStore) -> None:
    """DynamoDB deletes expired items lazily; an item past its TTL must not suppress anything."""
    key = state_key("window", "bob-0c1d", "SG-TEST-004", "1")
    assert store.claim_window(key, "old-owner", NOW + 10, NOW)
    assert not store.claim_window(key, "new-owner", NOW + STATE_RETENTION_SECONDS, NOW + 5)
    assert store.claim_window(key, "new-owner", NOW + STATE_RETENTION_SECONDS, NOW + 11)


# --- cap --------------------------------------------------------------------------------------------------------


def test_a_session_over_its_cap_gets_one_summary_then_silence(store: NoiseStore) -> None:
    noise = control(store, window=0, cap=2)
    decisions = [noise.decide(alert(event_id=str(n)), f"key-{n}") for n in range(5)]
    assert decisions == [
        Decision.DELIVER,
        Decision.DELIVER,
        Decision.SUMMARY,
        Decision.OVER_CAP,
        Decision.OVER_CAP,
    ]


def test_retrying_a_capped_batch_neither_recounts_nor_resends_the_summary_to_someone_else(store: NoiseStore) -> None:
    noise = control(store, window=0, cap=2)
    keys = [f"key-{n}" for n in range(4)]
    first = [noise.decide(alert(event_id=k), k) for k in keys]
    again = [noise.decide(alert(event_id=k), k) for k in keys]
    assert first == again == [Decision.DELIVER, Decision.DELIVER, Decision.SUMMARY, Decision.OVER_CAP]


def test_the_cap_is_per_session(store: NoiseStore) -> None:
    noise = control(store, window=0, cap=1)
    assert noise.decide(alert(session="a"), "k1") is Decision.DELIVER
    assert noise.decide(alert(session="b"), "k2") is Decision.DELIVER
    assert noise.decide(alert(session="a"), "k3") is Decision.SUMMARY


def test_duplicates_do_not_count_against_the_cap(store: NoiseStore) -> None:
    noise = control(store, cap=1)
    assert noise.decide(alert(), "k1") is Decision.DELIVER
    assert noise.decide(alert(at="2026-11-26T15:01:00Z"), "k2") is Decision.DUPLICATE
    assert noise.decide(alert("SG-TEST-001"), "k3") is Decision.SUMMARY


# --- floods ------------------------------------------------------------------------------------------------------


def flood(rules: int, copies: int) -> list[tuple[CommandAlert, str]]:
    """`copies` alerts of each of `rules` rules, interleaved, within one window; then one other rule."""
    alerts = [(alert(f"SG-FLOOD-{n}", event_id=str(i)), f"k-{i}-{n}") for i in range(copies) for n in range(rules)]
    return [*alerts, (alert("SG-TEST-001", event_id="last"), "k-last")]


def test_a_flood_of_one_command_costs_one_state_call_per_rule_and_window(store: NoiseStore) -> None:
    counting = CountingNoiseStore(store)
    noise = control(counting, cap=20)

    decisions = [noise.decide(a, key) for a, key in flood(rules=3, copies=2_000)]

    assert decisions.count(Decision.DELIVER) == 4
    assert decisions[-1] is Decision.DELIVER  # the one that matters is not lost in the flood
    assert len(counting.calls) == 2 * 4  # a window claim and a cap admission per (rule, window)


def test_without_windows_a_flood_costs_at_most_the_cap_and_its_summary(store: NoiseStore) -> None:
    counting = CountingNoiseStore(store)
    noise = control(counting, window=0, cap=5)

    decisions = [noise.decide(a, key) for a, key in flood(rules=1, copies=3_000)]

    assert decisions.count(Decision.DELIVER) == 5
    assert decisions.count(Decision.SUMMARY) == 1
    assert len(counting.calls) <= 5 + 2


def test_a_retried_flood_decides_the_same_with_a_fresh_control(store: NoiseStore) -> None:
    alerts = flood(rules=2, copies=50)
    noise = control(store, cap=2)
    first = [noise.decide(a, key) for a, key in alerts]
    retry = control(store, cap=2)
    assert [retry.decide(a, key) for a, key in alerts] == first


# --- the delivery ledger on DynamoDB ---------------------------------------------------------------------------


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_state_table(client, TABLE)
        yield client


def ledger_on(client: Any) -> DeliveryLedger:
    ledger = DeliveryLedger(idempotency_persistence(TABLE, client))
    ledger.register_lambda_context(
        FakeLambdaContext("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn", "request-1")  # type: ignore[arg-type]
    )
    return ledger


def failing_completion(client: Any, times: int) -> None:
    """Make the next `times` writes of a COMPLETED ledger record fail (Powertools writes it with UpdateItem)."""
    real = client.update_item
    left = [times]

    def update_item(**kwargs: Any) -> Any:
        if kwargs["Key"]["id"]["S"].startswith(DeliveryLedger.KEY_PREFIX) and left[0]:
            left[0] -= 1
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, "UpdateItem")  # type: ignore[arg-type]
        return real(**kwargs)

    client.update_item = update_item


def test_a_delivery_whose_completion_record_fails_once_counts_as_delivered_and_is_not_repeated(
    dynamodb: Any,
) -> None:
    ledger = ledger_on(dynamodb)
    published: list[str] = []
    failing_completion(dynamodb, times=1)

    assert ledger.once("alert#1#sns", lambda: published.append("sns"))  # no exception: it was delivered
    assert not ledger.once("alert#1#sns", lambda: published.append("again"))  # the retry sees it recorded
    assert published == ["sns"]


def test_a_delivery_the_ledger_cannot_record_at_all_says_so_without_failing(dynamodb: Any) -> None:
    ledger = ledger_on(dynamodb)
    published: list[str] = []
    failing_completion(dynamodb, times=2)

    with pytest.raises(DeliveredButNotRecorded):
        ledger.once("alert#2#sns", lambda: published.append("sns"))
    assert published == ["sns"]


def test_a_failed_delivery_is_not_recorded_and_runs_again(dynamodb: Any) -> None:
    ledger = ledger_on(dynamodb)

    def fail() -> None:
        raise RuntimeError("SNS down")

    with pytest.raises(RuntimeError):
        ledger.once("alert#3#sns", fail)
    published: list[str] = []
    assert ledger.once("alert#3#sns", lambda: published.append("sns"))
    assert published == ["sns"]


# --- keys, times, the in-memory ledger --------------------------------------------------------------------------


def test_alert_keys_tell_apart_two_matches_of_one_rule_in_one_event() -> None:
    one, two = alert(command="rm -rf /a"), alert(command="rm -rf /b")
    keys = alert_keys([one, two, alert("SG-TEST-001")])
    assert len(set(keys)) == 3
    assert keys == alert_keys([one, two, alert("SG-TEST-001")])  # stable: a retry gets the same keys


def test_alerts_without_event_ids_are_keyed_by_their_content() -> None:
    keys = alert_keys([alert(event_id=""), alert(event_id="", command="other")])
    assert keys[0] != keys[1]
    assert all(k.startswith("alert#sha256:") for k in keys)


def test_state_keys_hash_hostile_lengths_and_keep_normal_ids_readable() -> None:
    assert state_key("window", "bob-0c1d", "SG-TEST-004", "7") == "window#bob-0c1d#SG-TEST-004#7"
    long_key = state_key("session", "x" * 5000)
    assert len(long_key) < 100
    assert long_key.startswith("session#sha256:")


def test_event_time_parses_agent_times_and_falls_back_to_the_clock() -> None:
    assert event_epoch("2026-11-26T15:00:00Z", 0) == NOW
    assert event_epoch("2026-11-26T15:00:00", 0) == NOW
    assert event_epoch("not a time", 42) == 42


def test_in_memory_ledger_runs_each_key_once_and_retries_failures() -> None:
    ledger = InMemoryLedger()
    calls: list[str] = []
    assert ledger.once("k", lambda: calls.append("first"))
    assert not ledger.once("k", lambda: calls.append("again"))

    def fail() -> None:
        raise RuntimeError

    with pytest.raises(RuntimeError):
        ledger.once("f", fail)
    assert ledger.once("f", lambda: calls.append("retried"))
    assert calls == ["first", "retried"]
