"""`sessionguard scan s3://… | logs://…` and `sessionguard replay` of archive URLs, against moto, with the
real-format transcripts and streamed events of events/."""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sessionguard.cli import main

EVENTS = Path(__file__).resolve().parents[2] / "events"
BUCKET = "transcripts-111122223333"
GROUP = "/aws/ssm/sessions"
RISKY_SECRETS = ("Hunter2-Prod!", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
# Local files and the S3 keys they are uploaded as (the agent's layout: <prefix>/<sessionId>.log).
OBJECTS = {
    "transcript-jane.roe-0b7e9d1c4a2f8e6d5.log": "sessions/jane.roe-0b7e9d1c4a2f8e6d5.log",
    "session-risky.jsonl": "sessions/exports/session-risky.jsonl.gz",
    "windows-transcript-s3.log": "sessions/admin-0d4e5f6a7b8c9d0e1.log",
    "session-stream.jsonl": "sessions/exports/session-stream.jsonl",
}


def run(*argv: str) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdin=io.StringIO(), stdout=out, stderr=err)
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def alert_keys(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Rule and masked command of each alert (a typescript's session id is its file name, which differs between
    the local copy and the object)."""
    return sorted((r["rule_id"], r["command"]) for r in records if r["type"] == "alert")


@pytest.fixture
def bucket() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for name, key in OBJECTS.items():
            data = (EVENTS / name).read_bytes()
            s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(data) if key.endswith(".gz") else data)
        s3.put_object(Bucket=BUCKET, Key="sessions/", Body=b"")  # a console "folder"
        yield s3


def test_an_s3_prefix_scans_like_the_same_files_on_disk(bucket: Any) -> None:
    status, from_s3, stderr = run("scan", f"s3://{BUCKET}/sessions/", "--jobs", "3", "--min-severity", "info")
    local_status, from_disk, local_stderr = run(
        "scan", "--min-severity", "info", *(str(EVENTS / name) for name in OBJECTS)
    )

    assert (status, local_status) == (0, 0), stderr
    assert alert_keys(from_s3) == alert_keys(from_disk)
    assert len(alert_keys(from_s3)) >= 4
    assert not any(secret in json.dumps(from_s3) for secret in RISKY_SECRETS)
    # The summary counts every object's events and commands, as for the files.
    assert stderr.split(" alerts")[0] == local_stderr.split(" alerts")[0]


def test_an_unreadable_object_is_named_and_the_rest_still_scanned(bucket: Any) -> None:
    bucket.put_object(Bucket=BUCKET, Key="sessions/broken.log.gz", Body=b"\x1f\x8b\x08\x00 truncated")
    bucket.put_object(Bucket=BUCKET, Key="sessions/image.log", Body=bytes(range(256)) * 4)

    status, records, stderr = run("scan", f"s3://{BUCKET}/sessions/")

    assert status == 2
    assert "s3://transcripts-111122223333/sessions/broken.log.gz" in stderr
    assert "sessions/image.log" in stderr
    assert "binary" in stderr
    assert alert_keys(records)


def test_a_checkpoint_resumes_where_the_scan_stopped(bucket: Any, tmp_path: Path) -> None:
    checkpoint = tmp_path / "hunt.checkpoint"
    _, first, _ = run("scan", f"s3://{BUCKET}/sessions/", "--checkpoint", str(checkpoint))
    assert len(checkpoint.read_text().splitlines()) == len(OBJECTS)

    # Nothing new: nothing scanned again. A new object and a rewritten one: just those two.
    _, again, stderr = run("scan", f"s3://{BUCKET}/sessions/", "--checkpoint", str(checkpoint), "--progress")
    assert again == []
    assert f"{len(OBJECTS)} done before" in stderr
    risky = (EVENTS / "session-risky.jsonl").read_bytes()
    bucket.put_object(Bucket=BUCKET, Key="sessions/later/risky.jsonl", Body=risky)
    bucket.put_object(
        Bucket=BUCKET, Key="sessions/jane.roe-0b7e9d1c4a2f8e6d5.log", Body=risky.replace(b"12:10", b"12:11")
    )
    _, resumed, stderr = run("scan", f"s3://{BUCKET}/sessions/", "--checkpoint", str(checkpoint), "--progress")

    assert {r["rule_id"] for r in resumed} == {r["rule_id"] for r in first if "john.doe" in r["session_id"]}
    assert len(resumed) == 2 * len([r for r in first if "john.doe" in r["session_id"]])
    assert "2 objects" in stderr
    assert "alerts" in stderr


def test_time_bounds_select_objects_by_last_modified(bucket: Any) -> None:
    _, none, _ = run("scan", f"s3://{BUCKET}/sessions/", "--until", "2020-01-01")
    _, everything, _ = run("scan", f"s3://{BUCKET}/sessions/", "--since", "1d")

    assert none == []
    assert alert_keys(everything)


def test_a_log_group_scans_like_the_streamed_events_on_disk(tmp_path: Path) -> None:
    with mock_aws():
        logs = boto3.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        now = int(time.time() * 1000)
        lines = (EVENTS / "session-risky.jsonl").read_text().splitlines()
        stream = json.loads(lines[0])["sessionId"]
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        events: list[Any] = [{"timestamp": now - 60_000 + i, "message": line} for i, line in enumerate(lines)]
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)
        logs.create_log_stream(logGroupName=GROUP, logStreamName="other-0123456789abcdef0")

        url = "logs:///aws/ssm/sessions//john.doe-"
        status, from_logs, stderr = run("scan", url, "--since", "30d")
        _, from_disk, _ = run("scan", str(EVENTS / "session-risky.jsonl"))
        _, encoded, _ = run("scan", "logs://%2Faws%2Fssm%2Fsessions", "--since", "30d")

        assert status == 0, stderr
        assert alert_keys(from_logs) == alert_keys(from_disk) == alert_keys(encoded)

        out = tmp_path / "john.cast"
        status, _, stderr = run(
            "replay", "logs:///aws/ssm/sessions", "--session", stream, "-o", str(out), "--format", "cast"
        )
        assert status == 0, stderr
        cast = out.read_text()
        assert "SG-DLEX-001" in cast
        assert not any(secret in cast for secret in RISKY_SECRETS)


def test_replay_reads_one_s3_transcript(bucket: Any, tmp_path: Path) -> None:
    out = tmp_path / "jane.html"
    status, _, stderr = run("replay", f"s3://{BUCKET}/sessions/jane.roe-0b7e9d1c4a2f8e6d5.log", "-o", str(out))

    assert status == 0, stderr
    assert "systemctl" in out.read_text()

    status, _, stderr = run("replay", f"s3://{BUCKET}/sessions/", "--session", "nobody-0", "-o", str(out))
    assert status == 2
    assert "no session" in stderr


def test_a_bad_archive_url_is_one_clear_error() -> None:
    status, _, stderr = run("scan", "s3:///nobucket")
    assert status == 2
    assert "names a bucket" in stderr
