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


def test_a_quiet_delivery_costs_one_call_its_transcript_write(costs: dict[str, Any]) -> None:
    # No claim, no delivery ledger, no transcript marks: no earlier attempt at a quiet delivery that opens at a
    # prompt can have written any of its lines (docs/alerts.md, "Each line once"). The session ledger's record
    # of the delivery is one more log event in the same PutLogEvents call.
    assert costs["quiet_delivery_calls_by_api"] == {"cloudwatch-logs.PutLogEvents": 1}
    assert costs["quiet_delivery_aws_calls"] == 1


def test_a_delivery_raising_one_alert_costs_its_claim_and_one_call_per_outlet(costs: dict[str, Any]) -> None:
    assert costs["alert_delivery_calls_by_api"] == {
        "dynamodb.UpdateItem": 1,  # the claim: the alert, its window, the session's cap; returns the session's start
        "sns.Publish": 1,
        "eventbridge.PutEvents": 1,
        "cloudwatch-logs.PutLogEvents": 1,  # the transcript, the alert line and the delivery record: completion
    }
    assert costs["alert_delivery_aws_calls"] == 4
