"""What a subscription delivery costs in AWS calls, as `make bench` reports it (benchmarks/bench_delivery.py: the
handler against moto, configured as template.yaml's defaults, every API call counted with botocore's
`before-call` event). A count is behaviour, not timing: these fail when a change adds a call to every delivery."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from sessionguard.alerting import session_alerts

from tests.support import REPO, fresh_powertools


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_delivery", REPO / "benchmarks" / "bench_delivery.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def clean_powertools() -> Iterator[None]:
    yield from fresh_powertools(session_alerts.default_outlets)


@pytest.fixture(scope="module")
def costs() -> dict[str, Any]:
    return _bench().delivery_calls()  # type: ignore[no-any-return]


def test_a_quiet_delivery_writes_its_transcript_in_one_call_beside_the_session_ledger_update(
    costs: dict[str, Any],
) -> None:
    # No delivery ledger and no transcript marks: no earlier attempt at a quiet delivery that opens at a prompt can
    # have written any of its lines (docs/alerts.md, "Each line once"). The ledger's stream record is its own.
    assert costs["quiet_delivery_calls_by_api"] == {"cloudwatch-logs.PutLogEvents": 1, "dynamodb.UpdateItem": 1}
    assert costs["quiet_delivery_aws_calls"] == 2


def test_a_delivery_raising_one_alert_costs_no_more_calls_than_measured(costs: dict[str, Any]) -> None:
    assert costs["alert_delivery_calls_by_api"] == {
        "cloudwatch-logs.PutLogEvents": 1,  # the transcript, with the alert line in the same call
        "dynamodb.BatchGetItem": 1,  # transcript marks read
        "dynamodb.BatchWriteItem": 1,  # transcript marks written
        "dynamodb.PutItem": 3,  # delivery ledger in progress: SNS, EventBridge, the transcript batch
        "dynamodb.UpdateItem": 6,  # session ledger stream record, window, cap, delivery ledger completed x3
        "eventbridge.PutEvents": 1,
        "sns.Publish": 1,
    }
    assert costs["alert_delivery_aws_calls"] == 14
