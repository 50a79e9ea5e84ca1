"""`make demo`'s session ledger step (docs/ledger.md): two more sessions, with the CloudTrail events that started
them, through the stack's EventBridge rules, log group and bucket.

- An `AWS-StartInteractiveCommand` session running `bash`: the agent does not stream it and uploads its `script`
  typescript at the end as plain-text log events (events/ledger-subscription-plain-text.json, built from the agent's
  source), then the same typescript to S3. The subscription function reads the upload as the session's transcript;
  its risky command reaches SNS and Slack with the session's context. The S3 copy is not scanned a second time.
- A shell session that never streams (the instance's agent could not find the log group): its StartSession, then
  the reconciler six minutes later, which raises SG-LG-001.

The emulator has no ssm:DescribeSessions: the reconciler reads a fake shaped like boto3's answer (an `emulator:`
line says so). `.demo/sessions.jsonl` is the ledger afterwards, one record per session with its alert count.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto.s3.models import s3_backends
from sessionguard.adapters.session_ledger import SessionTable, SsmSessionDirectory
from sessionguard.alerting import ledger_alerts

from demo.console import Console
from demo.deploy import Deployment
from demo.emulator import ACCOUNT_ID, Emulator, patched_environ
from demo.enrollment import deliver_to_rules
from demo.lambdas import LocalLambda
from demo.template import ROOT

EVENTS = ROOT / "events"
COMMAND_SESSION = "jane.roe-0c1d2e3f4a5b6c7d8"  # events/ledger-cloudtrail-start-interactive-bash.json
SILENT_SESSION = "sam.lee-0a7b3c9d1e5f2a4b8"
SILENT_TARGET = "i-0b1c2d3e4f5a69788"
RECONCILE_AFTER_SECONDS = 6 * 60


@dataclass
class FakeSessionManager:
    """ssm.describe_sessions as boto3 answers it (State Active or History, MaxResults, NextToken; Sessions with
    datetime StartDate and EndDate), for the sessions the demo started."""

    active: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe_sessions(self, **request: Any) -> dict[str, Any]:
        return {"Sessions": self.active if request["State"] == "Active" else self.history}


@dataclass
class LedgerRun:
    """What the step did: the ledger's records afterwards (see `sessions_records`)."""

    table: str
    records: list[dict[str, Any]] = field(default_factory=list)


def play_ledger(deployment: Deployment, emulator: Emulator, runtime: LocalLambda, console: Console) -> LedgerRun:
    sessions = FakeSessionManager()
    now = time.time()
    _start(_cloudtrail("ledger-cloudtrail-start-interactive-bash.json", now - 95), runtime, console)
    sessions.history.append(_described(COMMAND_SESSION, "i-0fedcba9876543210", now - 95, now - 2))
    _upload_plain_text(deployment, emulator, runtime, console)
    _upload_transcript(deployment, runtime, console)

    silent = _cloudtrail("cloudtrail-ssm-start-session-logged-shell.json", now - RECONCILE_AFTER_SECONDS)
    silent["detail"]["responseElements"]["sessionId"] = SILENT_SESSION
    silent["detail"]["requestParameters"]["target"] = SILENT_TARGET
    silent["detail"]["userIdentity"]["arn"] = silent["detail"]["userIdentity"]["arn"].replace("jane.roe", "sam.lee")
    silent["detail"]["sourceIPAddress"] = "198.51.100.77"
    silent["detail"]["userAgent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15"
    _start(silent, runtime, console)
    sessions.active.append(_described(SILENT_SESSION, SILENT_TARGET, now - RECONCILE_AFTER_SECONDS, 0))
    console.detail("no stream arrives for it: the agent on that instance could not find the log group")

    function = next(f for f in deployment.functions().values() if f.logical_id == "SessionLedgerFunction")
    console.emulator("it has no ssm:DescribeSessions; the reconciler reads a fake shaped like boto3's answer")
    with patched_environ(dict(function.environment)):
        _, outlets = ledger_alerts.default_outlets()  # the function's outlets, built once per container
    outlets.directory = SsmSessionDirectory(sessions)  # type: ignore[arg-type]
    schedule = json.loads((EVENTS / "ledger-scheduled-event.json").read_text())
    summary = runtime.invoke(function.arn, schedule)
    findings = ", ".join(f"{rule} x{count}" for rule, count in summary["findings"].items()) or "none"
    console.done(
        f"reconciler (schedule, every 5 min): {summary['sessions']} open sessions, {summary['closed']} closed from "
        f"DescribeSessions, findings: {findings}"
    )
    table = deployment.physical_id("SessionLedgerTable")
    return LedgerRun(table, [r.to_json() for r in SessionTable(table).all_sessions(1000)])


def sessions_records(run: LedgerRun, sns_messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`.demo/sessions.jsonl`: one record per session, with the number of SNS alerts that name it."""
    records = []
    for record in sorted(run.records, key=lambda r: r["started_at"] or r["first_event"]):
        alerts = sum(1 for message in sns_messages if _names_session(message, record["session_id"]))
        records.append({**record, "alerts": alerts})
    return records


def _names_session(message: dict[str, Any], session_id: str) -> bool:
    _, found, document = str(message.get("Message", "")).partition("Alert JSON:\n")
    if not found:
        return False
    record = json.loads(document)
    named = record.get("session_id") or record.get("session", {}).get("session_id")
    return bool(named == session_id)


def _cloudtrail(name: str, at: float) -> dict[str, Any]:
    """A CloudTrail sample as EventBridge delivers it, happening at `at`."""
    event = copy.deepcopy(json.loads((EVENTS / name).read_text()))
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["time"] = event["detail"]["eventTime"] = stamp
    return event  # type: ignore[no-any-return]


def _start(event: dict[str, Any], runtime: LocalLambda, console: Console) -> None:
    detail = event["detail"]
    deliveries = deliver_to_rules(event, runtime)
    document = detail["requestParameters"].get("documentName", "SSM-SessionManagerRunShell")
    console.done(
        f"CloudTrail {detail['eventName']} {detail['responseElements']['sessionId']} ({document}) from "
        f"{detail['sourceIPAddress']} -> " + ", ".join(sorted({d.function for d in deliveries}))
    )


def _upload_plain_text(deployment: Deployment, emulator: Emulator, runtime: LocalLambda, console: Console) -> None:
    payload = json.loads((EVENTS / "ledger-subscription-plain-text.json").read_text())
    log_group = deployment.physical_id("SessionLogGroup")
    logs = boto3.client("logs")
    logs.create_log_stream(logGroupName=log_group, logStreamName=COMMAND_SESSION)
    now_ms = int(time.time() * 1000)
    events = [{"timestamp": now_ms, "message": e["message"]} for e in payload["logEvents"]]
    emulator.take_invocations()
    logs.put_log_events(logGroupName=log_group, logStreamName=COMMAND_SESSION, logEvents=events)  # type: ignore[arg-type]
    size = sum(len(e["message"].encode()) for e in events)
    console.done(
        f"session end: the agent uploads the typescript as {len(events)} plain-text log event ({size} bytes) to "
        f"stream {COMMAND_SESSION} (streaming is always off for command sessions)"
    )
    for invocation in emulator.take_invocations():
        summary = runtime.invoke(invocation.function_arn, invocation.event)
        console.done(
            f"subscription -> {runtime.function(invocation.function_arn).logical_id}: read as the session's "
            f"transcript, {summary['commands']} commands, {summary['alerts']} alert(s), {summary['malformed']} "
            "parked as malformed"
        )


def _upload_transcript(deployment: Deployment, runtime: LocalLambda, console: Console) -> None:
    bucket = deployment.physical_id("TranscriptBucket")
    body = (EVENTS / f"ledger-transcript-{COMMAND_SESSION}.log").read_bytes()
    key = f"sessions/{COMMAND_SESSION}.log"
    # The bucket policy denies requests without TLS, and the emulator speaks plain HTTP: the object is written as
    # the agent would (the bucket's key), into the emulator's S3 directly.
    written = s3_backends[ACCOUNT_ID]["aws"].put_object(
        bucket, key, body, encryption="aws:kms", kms_key_id=deployment.physical_id("SessionKey")
    )
    console.emulator("plain HTTP, so the bucket policy denies every request (no TLS); the upload goes in directly")
    event = json.loads((EVENTS / "ledger-s3-object-created.json").read_text())
    event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update(key=key, size=len(body), **{"version-id": written.version_id or "null"})
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    results = [d.result for d in deliver_to_rules(event, runtime) if d.function == "SessionLedgerFunction"]
    scanned = sum(int(r.get("transcript_lines_scanned", 0)) for r in results)
    console.done(
        f"S3 Object Created s3://{bucket}/{key} -> SessionLedgerFunction: recorded ({len(body)} bytes); "
        f"{scanned} lines scanned again (the plain-text upload was already read)"
    )


def _described(session_id: str, target: str, started: float, ended: float) -> dict[str, Any]:
    session: dict[str, Any] = {
        "SessionId": session_id,
        "Target": target,
        "Status": "Terminated" if ended else "Connected",
        "StartDate": datetime.fromtimestamp(started, UTC),
        "DocumentName": "SSM-SessionManagerRunShell",
        "Owner": "",
    }
    if ended:
        session["EndDate"] = datetime.fromtimestamp(ended, UTC)
    return session


def write_sessions(path: Path, records: Sequence[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


__all__ = ["LedgerRun", "play_ledger", "sessions_records", "write_sessions"]
