"""`sessionguard scan` and `sessionguard rules` as a security engineer runs them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import boto3
from moto import mock_aws
from sessionguard.cli import main

EVENTS = Path(__file__).resolve().parents[2] / "events"


def run(*argv: str, stdin: str = "") -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_scan_writes_one_alert_record_per_match_with_the_documented_fields() -> None:
    status, records, stderr = run("scan", "--min-severity", "medium", str(EVENTS / "session-risky.jsonl"))

    assert status == 0
    assert records
    for record in records:
        assert set(record) == {
            "type", "session_id", "instance_id", "user", "rule_id", "title", "severity", "techniques", "command",
            "event_time",
        }  # fmt: skip
        assert record["type"] == "alert"
        assert record["severity"] in {"medium", "high", "critical"}
    assert "alerts" in stderr


def test_scan_transcript_writes_masked_lines() -> None:
    status, records, _ = run("scan", "--transcript", str(EVENTS / "session-risky.jsonl"))

    assert status == 0
    lines = [r for r in records if r["type"] == "line"]
    assert {r["kind"] for r in lines} == {"command", "output"}
    assert "Hunter2-Prod!" not in json.dumps(records)
    assert any("[MASKED:" in str(r["text"]) for r in lines)


def test_scan_reads_every_supported_format() -> None:
    for name in (
        "session-stream.jsonl",
        "subscription-data-message.json",
        "get-log-events.json",
        "filter-log-events.json",
        "transcript-jane.roe-0b7e9d1c4a2f8e6d5.log",
    ):
        status, records, stderr = run("scan", "--transcript", str(EVENTS / name))
        assert status == 0, (name, stderr)
        assert any(r["type"] == "line" and r["kind"] == "command" for r in records), name


def test_scan_reads_stdin() -> None:
    status, records, _ = run(
        "scan", "--min-severity", "medium", "-", stdin=(EVENTS / "session-risky.jsonl").read_text()
    )

    assert status == 0
    assert any(r["type"] == "alert" for r in records)


def test_unreadable_records_are_named_and_the_rest_still_scanned(tmp_path: Path) -> None:
    good = (EVENTS / "session-risky.jsonl").read_text().splitlines()
    bad = tmp_path / "mixed.jsonl"
    bad.write_text("\n".join([good[0], "{not json", *good[1:], '{"sessionId": 7}']) + "\n")

    status, records, stderr = run("scan", "--min-severity", "medium", str(bad))

    assert status == 2
    assert f"{bad}: line 2" in stderr
    assert "line 13" in stderr or "line 12" in stderr
    assert any(r["type"] == "alert" for r in records)


def test_missing_file_is_reported_and_others_scanned(tmp_path: Path) -> None:
    status, records, stderr = run("scan", str(tmp_path / "nope.jsonl"), str(EVENTS / "session-risky.jsonl"))

    assert status == 2
    assert "nope.jsonl" in stderr
    assert records


def test_rules_list_names_every_rule() -> None:
    out = io.StringIO()
    assert main(["rules", "list"], stdout=out) == 0
    rows = out.getvalue().splitlines()
    assert len(rows) >= 30
    assert all(len(row.split("\t")) == 4 for row in rows)


def test_rules_test_runs_every_example() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["rules", "test"], stdout=out, stderr=err) == 0, err.getvalue()
    assert "0 example failures" in out.getvalue()


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("sessionguard")), "rules", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.count("\n") >= 30


def test_replay_dlq_dry_run_rebuilds_parked_batches_without_invoking() -> None:
    with mock_aws():
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="sessionguard-alert-failures")["QueueUrl"]
        record = json.loads((EVENTS / "alerts-lambda-on-failure.json").read_text())
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

        status, records, stderr = run(
            "replay-dlq", "--queue-url", queue_url, "--function", "sessionguard-SessionAlerts", "--dry-run"
        )

    assert status == 0, stderr
    (report,) = records
    assert report["dry_run"] is True
    assert report["received"] == 1
    assert report["would_replay"] == 1
