"""`sessionguard sessions`: the ledger table (moto, created as template.yaml creates it) listed as JSON Lines or a
table, filtered by --since, --user, --target and --with-findings."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from sessionguard.adapters.session_ledger import SessionTable
from sessionguard.cli import main
from sessionguard.ledger.calls import session_call
from sessionguard.ledger.command import since_epoch
from sessionguard.ledger.model import StreamDelivery

from tests.functional.test_session_ledger import TABLE, create_ledger_table, sample

REGION = "us-east-1"
NOW = 1_795_710_000


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionTable]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_ledger_table(client)
        ledger = SessionTable(TABLE, client)
        for name in ("cloudtrail-ssm-start-session-logged-shell.json", "ledger-cloudtrail-start-interactive-bash.json"):
            call = session_call(sample(name))
            assert call is not None
            ledger.record_call(call, NOW, NOW + 86400)
        ledger.record_stream(StreamDelivery("jane.roe-0131a888507e892b1", "b", NOW, NOW, 3, 9), NOW, NOW + 86400)
        ledger.record_stream(StreamDelivery("ghost-0a1b2c3d4e5f60718", "b", NOW, NOW, 1, 2), NOW, NOW + 86400)
        ledger.add_findings("ghost-0a1b2c3d4e5f60718", ["SG-LG-004"], alerts=1)
        yield ledger


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["sessions", "--table", TABLE, *argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_json_lines_hold_one_record_per_session_with_the_issues_fields(table: SessionTable) -> None:
    status, out, err = run("--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert len(records) == 3
    assert err.strip() == "sessionguard: 3 sessions"
    for record in records:
        assert {"session_id", "user", "target", "source_ip", "document", "streamed", "findings", "alerts"} <= set(
            record
        )
    command = next(r for r in records if r["document"] == "AWS-StartInteractiveCommand")
    assert "hunter2" not in json.dumps(command)  # the reason was masked when read


def test_filters_keep_what_they_name(table: SessionTable) -> None:
    _, out, _ = run("--json", "--with-findings")
    assert [json.loads(line)["session_id"] for line in out.splitlines()] == ["ghost-0a1b2c3d4e5f60718"]
    _, out, _ = run("--json", "--target", "i-0FEDCBA")
    assert len(out.splitlines()) == 2
    _, out, _ = run("--json", "--user", "nobody")
    assert out == ""
    _, out, _ = run("--json", "--since", "2030-01-01")
    assert out == ""


def test_the_table_is_readable_and_says_which_session_had_no_start(table: SessionTable) -> None:
    status, out, _ = run()
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split()[:3] == ["started", "session", "user"]
    ghost = next(line for line in lines if line.find("ghost-") >= 0)
    assert "(no StartSession)" in ghost
    assert "SG-LG-004" in ghost


def test_since_takes_dates_and_ages() -> None:
    assert since_epoch("2026-11-26") == 1_795_651_200
    assert since_epoch("24h", now=100_000.0) == 100_000 - 86_400
