"""The outlets beyond SNS and Slack, fed from the same alert model: EventBridge events, Security Hub findings and
the optional termination of the session an alert came from (docs/integrations.md).

Every alert kind (command alert, guardrail alert, ledger finding) reaches `Deliveries.send_alerts` as an SNS
message whose body ends with `Alert JSON:` and the masked, bounded alert record; the outlets read that record, so
they see exactly what subscribers see and nothing unmasked. Each delivery runs once per key through the function's
ledger (`delivery.Deliveries`), as an SNS publish does: a retried invocation repeats only what failed, and what
still fails is counted, fails the invocation (Lambda retries it twice) and is finally parked in the failure queue.

- EventBridge: one PutEvents call per alert (source `sessionguard`, detail-type by kind, detail as in
  `docs/schemas/alert-event.v1.json`); an entry EventBridge refuses for a passing reason (throttling, an internal
  failure) is put again, up to `EVENT_ATTEMPTS`.
- Security Hub: ASFF findings with a stable `Id` per alert, imported in batches of at most 100; refused findings
  and throttling are retried, and a retried batch updates its findings instead of adding new ones.
- Termination: `TerminateSession` on the alert's session, at most once per session, never for an allow-listed
  user or role; the alert says what happened.
- Alert lines: each command alert also as one `{"kind": "alert", ...}` line in its session's stream of the
  sanitized transcript group, so Logs Insights finds alerts, users and instances beside the commands (the saved
  queries of docs/integrations.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Self

from sessionguard.adapters.aws import error_code
from sessionguard.adapters.events import EventBridgeBus, EventBus
from sessionguard.adapters.logs import CloudWatchTranscriptSink, PutResult, TranscriptSink
from sessionguard.adapters.securityhub import FindingsImporter, SecurityHubImporter
from sessionguard.adapters.ssm_sessions import SessionTerminator, SsmSessionTerminator
from sessionguard.alerting.formatting import SnsMessage
from sessionguard.alerting.log_events import LogEvent
from sessionguard.alerting.noise import state_key
from sessionguard.alerting.text import truncate
from sessionguard.alerting.transcript import alert_stream_name
from sessionguard.severity import Severity

if TYPE_CHECKING:
    from sessionguard.alerting.delivery import Deliveries

SCHEMA_VERSION: Final = "1.0"
EVENT_SOURCE: Final = "sessionguard"
JSON_MARK: Final = "\nAlert JSON:\n"
# The alert record's `type` -> (the event's `kind`, its detail-type).
KINDS: Final = {
    "alert": ("command-alert", "Session Alert"),
    "ledger-finding": ("ledger-finding", "Session Alert"),
    "guardrail-alert": ("guardrail-alert", "Guardrail Finding"),
    "enrollment-failure": ("enrollment-failure", "Enrollment Failure"),
}
EVENT_ATTEMPTS: Final = 3
FINDING_ATTEMPTS: Final = 3
FINDINGS_PER_CALL: Final = 100  # BatchImportFindings' limit
RETRY_DELAY_SECONDS: Final = 0.5
# Entry and API error codes that pass: put or imported again after a pause.
PASSING_ERRORS: Final = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "InternalException",
        "InternalFailure",
    }
)
# EventBridge takes 256 KB per entry; past this the detail keeps its summary and drops the whole record.
DETAIL_MAX_BYTES: Final = 200_000
SUMMARY_MAX: Final = 2_000
NOTES_KEPT: Final = 1_000
# Session Manager's session ids (TerminateSession's SessionId pattern, bounded).
SESSION_ID: Final = re.compile(r"[A-Za-z0-9._@+=,-]{1,96}")
ASFF_SCHEMA_VERSION: Final = "2018-10-08"
ASFF_LABELS: Final = {
    Severity.INFO: "INFORMATIONAL",
    Severity.LOW: "LOW",
    Severity.MEDIUM: "MEDIUM",
    Severity.HIGH: "HIGH",
    Severity.CRITICAL: "CRITICAL",
}
# A rule family (the middle of its id) -> the ASFF finding type namespace/category it belongs to.
FINDING_TYPES: Final = {
    "CRED": "TTPs/Credential Access",
    "DLEX": "TTPs/Execution",
    "EVADE": "TTPs/Defense Evasion",
    "EXFIL": "Effects/Data Exfiltration",
    "GR": "TTPs/Defense Evasion",
    "HIST": "TTPs/Defense Evasion",
    "IMPACT": "Effects/Data Destruction",
    "LG": "TTPs/Defense Evasion",
    "LOG": "TTPs/Defense Evasion",
    "OBF": "TTPs/Defense Evasion",
    "PERS": "TTPs/Persistence",
    "PRIV": "TTPs/Privilege Escalation",
    "RSH": "TTPs/Command and Control",
    "TOOL": "TTPs/Discovery",
}
DEFAULT_FINDING_TYPE: Final = "Unusual Behaviors/User"


class OutletRefused(RuntimeError):
    """An outlet refused a delivery for good (after its retries); the message is a fixed reason with AWS error
    codes, never alert text."""


# --- settings --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutletSettings:
    """What the template sets: `ALERT_EVENT_BUS` (a bus name or ARN; empty: no events), `SECURITY_HUB_PRODUCT_ARN`
    (the account's default product; empty: no findings), `ALERT_LOG_GROUP` (the sanitized transcript group, for
    alert lines; empty: none), `TERMINATE_SESSIONS_AT_SEVERITY` (`none`, `high`,
    `critical`) and `NEVER_TERMINATE` (comma-separated user or role ARNs, `*` wildcards allowed)."""

    event_bus: str = ""
    product_arn: str = ""
    alert_log_group: str = ""
    terminate_at: Severity | None = None
    never_terminate: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        threshold = (env.get("TERMINATE_SESSIONS_AT_SEVERITY") or "none").strip().lower()
        if threshold not in {"none", "high", "critical"}:
            raise ValueError("TERMINATE_SESSIONS_AT_SEVERITY must be none, high or critical")
        return cls(
            event_bus=env.get("ALERT_EVENT_BUS", "").strip(),
            product_arn=env.get("SECURITY_HUB_PRODUCT_ARN", "").strip(),
            alert_log_group=env.get("ALERT_LOG_GROUP", "").strip(),
            terminate_at=None if threshold == "none" else Severity.parse(threshold),
            never_terminate=tuple(p.strip() for p in env.get("NEVER_TERMINATE", "").split(",") if p.strip()),
        )

    @property
    def any_on(self) -> bool:
        return bool(self.event_bus or self.product_arn or self.alert_log_group or self.terminate_at is not None)


# --- the alert model the outlets share ---------------------------------------------------------------------------


def alert_document(message: SnsMessage) -> dict[str, Any] | None:
    """The masked alert record after `Alert JSON:` in an SNS message body; None when there is none."""
    _, mark, tail = message.body.partition(JSON_MARK)
    if not mark:
        return None
    try:
        document = json.loads(tail)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def alert_id(key: str) -> str:
    """A stable id for the alert behind a delivery key (the same on every retry and replay)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    return value if isinstance(value, str) else ""


def session_of(record: Mapping[str, Any]) -> tuple[str, str, str]:
    """(session id, instance id, user) of a command alert or ledger finding; empty strings otherwise."""
    session = record.get("session")
    if isinstance(session, dict):
        return _text(session, "session_id"), _text(session, "target"), _text(session, "user")
    return _text(record, "session_id"), _text(record, "instance_id"), _text(record, "user")


def summary_of(record: Mapping[str, Any]) -> str:
    """The one masked text that says what happened: the command, the guardrail's call, the ledger's detail."""
    if record.get("type") == "guardrail-alert":
        request = record.get("request")
        shown = json.dumps(request, ensure_ascii=False) if isinstance(request, dict) and request else ""
        return truncate(f"{_text(record, 'action')} {shown}".strip(), SUMMARY_MAX)
    return truncate(_text(record, "command") or _text(record, "detail"), SUMMARY_MAX)


def link_of(record: Mapping[str, Any]) -> str:
    return _text(record, "session_log_url") or _text(record, "cloudtrail_url")


def event_detail(record: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The EventBridge `detail` of one alert (docs/schemas/alert-event.v1.json): the fields a rule filters on, up
    front, and the whole masked alert record under `alert`."""
    kind, _ = KINDS.get(_text(record, "type"), KINDS["alert"])
    session_id, instance_id, user = session_of(record)
    techniques = record.get("techniques")
    detail: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "alert_id": alert_id(key),
        "rule_id": _text(record, "rule_id"),
        "title": _text(record, "title"),
        "severity": _text(record, "severity") or "medium",
        "techniques": [t for t in techniques if isinstance(t, str)] if isinstance(techniques, list) else [],
        "account_id": _text(record, "account_id"),
        "region": _text(record, "region"),
        "event_time": _text(record, "event_time"),
        "session_id": session_id,
        "instance_id": instance_id,
        "user": user or _text(record, "who"),
        "summary": summary_of(record),
        "link": link_of(record),
        "alert": dict(record),
    }
    response = record.get("response")
    if isinstance(response, dict):
        detail["response"] = response
    if len(json.dumps(detail, ensure_ascii=False).encode("utf-8", "replace")) > DETAIL_MAX_BYTES:
        detail["alert"] = {"type": _text(record, "type"), "truncated": True}
    return detail


def detail_type(record: Mapping[str, Any]) -> str:
    return KINDS.get(_text(record, "type"), KINDS["alert"])[1]


def asff_finding(record: Mapping[str, Any], key: str, product_arn: str, now: datetime) -> dict[str, Any]:
    """One alert as an AWS Security Finding Format finding for the account's default product. `Id` is stable per
    alert (a re-import updates the finding); `Compliance` is left out (these are threats, not control checks)."""
    account = product_arn.split(":")[4]
    region = product_arn.split(":")[3]
    partition = product_arn.split(":")[1]
    severity = Severity.parse(_text(record, "severity") or "medium")
    rule_id = _text(record, "rule_id")
    techniques = [t for t in record.get("techniques") or [] if isinstance(t, str)][:20]
    family = rule_id.split("-")[1] if rule_id.count("-") >= 2 else ""
    base_type = FINDING_TYPES.get(family, DEFAULT_FINDING_TYPE)
    types = [base_type, *(f"{base_type}/MITRE ATT&CK {t}" for t in techniques)][:50]
    now_text = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    created = _asff_time(_text(record, "event_time")) or now_text
    finding: dict[str, Any] = {
        "SchemaVersion": ASFF_SCHEMA_VERSION,
        "Id": f"sessionguard/{alert_id(key)}",
        "ProductArn": product_arn,
        "GeneratorId": f"sessionguard/{rule_id or 'alert'}"[:512],
        # Security Hub takes findings of the default product only for the calling account.
        "AwsAccountId": account,
        "Types": types,
        "CreatedAt": created,
        "UpdatedAt": now_text,
        "FirstObservedAt": created,
        "Severity": {"Label": ASFF_LABELS[severity], "Original": str(severity)},
        # What a finding provider may still change on a re-import (BatchImportFindings ignores Severity and Types
        # of an existing finding).
        "FindingProviderFields": {
            "Severity": {"Label": ASFF_LABELS[severity], "Original": str(severity)},
            "Types": types,
        },
        "Title": truncate(_text(record, "title") or rule_id, 256),
        "Description": truncate(summary_of(record) or _text(record, "description") or rule_id, 1024),
        "ProductFields": {
            "sessionguard/Kind": KINDS.get(_text(record, "type"), KINDS["alert"])[0],
            "sessionguard/RuleId": rule_id,
            "sessionguard/MitreAttackTechniques": ",".join(techniques),
            "sessionguard/AlertId": alert_id(key),
        },
        "Resources": finding_resources(record, partition, region, account),
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
    }
    url = link_of(record)
    if url.startswith("https://"):
        finding["SourceUrl"] = url
    response = record.get("response")
    if isinstance(response, dict) and isinstance(response.get("termination"), str):
        finding["ProductFields"]["sessionguard/Termination"] = truncate(response["termination"], 200)
    return finding


def finding_resources(record: Mapping[str, Any], partition: str, region: str, account: str) -> list[dict[str, Any]]:
    """The instance and the session (command alerts, ledger findings), the resource a guardrail call named, or
    the account."""
    region = _text(record, "region") or region
    account = _text(record, "account_id") or account
    session_id, instance_id, _ = session_of(record)
    resources: list[dict[str, Any]] = []
    if instance_id.startswith("i-"):
        resources.append(
            {
                "Type": "AwsEc2Instance",
                "Id": f"arn:{partition}:ec2:{region}:{account}:instance/{instance_id}",
                "Partition": partition,
                "Region": region,
            }
        )
    elif instance_id:
        resources.append({"Type": "Other", "Id": truncate(instance_id, 512), "Partition": partition, "Region": region})
    if session_id:
        resources.append(
            {
                "Type": "Other",
                "Id": truncate(f"arn:{partition}:ssm:{region}:{account}:session/{session_id}", 512),
                "Partition": partition,
                "Region": region,
            }
        )
    if not resources and _text(record, "resource"):
        resources.append(
            {"Type": "Other", "Id": truncate(_text(record, "resource"), 512), "Partition": partition, "Region": region}
        )
    if not resources:
        resources.append(
            {"Type": "AwsAccount", "Id": f"AWS::::Account:{account}", "Partition": partition, "Region": region}
        )
    return resources


def _asff_time(text: str) -> str:
    """An RFC 3339 time as ASFF takes it, or "" (then the import time is used)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if parsed.tzinfo is None:
        return ""
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- termination ------------------------------------------------------------------------------------------------


def never_terminated(user: str, patterns: Sequence[str]) -> bool:
    """Whether the session's user is on the allow-list: a pattern matches the user ARN as it is (`*` wildcards),
    and an IAM role ARN also matches that role's assumed-role sessions."""
    for pattern in patterns:
        if fnmatchcase(user, pattern):
            return True
        role = re.fullmatch(r"arn:([\w-]+):iam::(\d{12}|\*):role/(?:[^*]*/)?([^/]+)", pattern)
        if role:
            partition, account, name = role.groups()
            assumed = f"arn:{partition}:sts::{account}:assumed-role/{name}/*"
            if fnmatchcase(user, assumed):
                return True
    return False


def termination_refusal(record: Mapping[str, Any], settings: OutletSettings) -> str | None:
    """None when the alert's session is to be terminated; else why not (a fixed phrase), or "" when termination
    does not apply to this alert at all (off, below the threshold, not a command alert)."""
    if settings.terminate_at is None or record.get("type") != "alert":
        return ""
    try:
        severity = Severity.parse(_text(record, "severity"))
    except ValueError:
        return ""
    if severity < settings.terminate_at:
        return ""
    session_id, _, user = session_of(record)
    if not SESSION_ID.fullmatch(session_id):
        return "not terminated: the alert names no session id Session Manager issues"
    if never_terminated(user, settings.never_terminate):
        return "not terminated: the user is on the never-terminate list (NeverTerminatePrincipals)"
    return None


def put_alert_event(
    bus: EventBus, bus_name: str, record: Mapping[str, Any], key: str, sleep: Callable[[float], None]
) -> None:
    """Put one alert's event; an entry refused for a passing reason is put again after a pause, up to
    EVENT_ATTEMPTS. OutletRefused when EventBridge still refuses it."""
    detail = json.dumps(event_detail(record, key), ensure_ascii=False)
    code = ""
    for attempt in range(1, EVENT_ATTEMPTS + 1):
        code = bus.put_event(bus_name, EVENT_SOURCE, detail_type(record), detail, [])
        if not code:
            return
        if code not in PASSING_ERRORS or attempt == EVENT_ATTEMPTS:
            break
        sleep(RETRY_DELAY_SECONDS * attempt)
    raise OutletRefused(f"EventBridge refused the event ({code})")


def enrollment_failure_record(notice: Mapping[str, str], account_id: str, region: str) -> dict[str, Any]:
    """An enrollment failure notice (`enrollment.decisions.failure_notice`'s message) as an alert record, for the
    `Enrollment Failure` event. Its fields are instance ids, fixed reasons and the step's bounded detail."""
    reason = notice.get("reason", "")
    return {
        "type": "enrollment-failure",
        "rule_id": f"enrollment/{reason}"[:128],
        "title": f"Enrollment failed: {reason}"[:512],
        "severity": notice.get("severity", "medium"),
        "techniques": [],
        "instance_id": notice.get("instance_id", ""),
        "detail": notice.get("detail", ""),
        "execution": notice.get("execution", ""),
        "account_id": account_id,
        "region": region,
        "source": EVENT_SOURCE,
    }


def alert_line(record: Mapping[str, Any], key: str) -> tuple[str, str] | None:
    """A command alert as (its session's sanitized stream, one JSON line): the fields the saved queries read;
    None for other kinds. The stream is named as the transcript's (`transcript.log_stream_name`): the session
    id, masked already in the record, without the characters stream names refuse."""
    if record.get("type") != "alert" or not _text(record, "session_id"):
        return None
    stream = alert_stream_name(_text(record, "session_id"))
    line = {
        "kind": "alert",
        "alert_id": alert_id(key),
        "rule_id": _text(record, "rule_id"),
        "severity": _text(record, "severity"),
        "title": _text(record, "title"),
        "techniques": ",".join(t for t in record.get("techniques") or [] if isinstance(t, str)),
        "instance_id": _text(record, "instance_id"),
        "user": _text(record, "user"),
        "text": summary_of(record),
        "event_time": _text(record, "event_time"),
    }
    return stream, json.dumps(line, ensure_ascii=False)


def with_response(message: SnsMessage, note: str) -> SnsMessage:
    """The SNS message with the response said twice: a readable line before `Alert JSON:` and `response` in it."""
    document = alert_document(message)
    if document is None:
        return message
    document["response"] = {"termination": note}
    readable = message.body.partition(JSON_MARK)[0].rstrip("\n")
    alert_json = json.dumps(document, indent=2, ensure_ascii=False)
    # A few hundred bytes more: the body was bounded with room to spare under SNS's 256 KB (formatting).
    return replace(message, body=f"{readable}\n\nSession: {note}\n{JSON_MARK}{alert_json}")


# --- the outlets -------------------------------------------------------------------------------------------------


@dataclass
class AlertOutlets:
    """The outlets after SNS, behind the adapters' Protocols (tests and the demo put fakes behind them)."""

    settings: OutletSettings
    bus: EventBus = field(default_factory=EventBridgeBus)
    findings: FindingsImporter = field(default_factory=SecurityHubImporter)
    terminator: SessionTerminator = field(default_factory=SsmSessionTerminator)
    alert_lines: TranscriptSink = field(default_factory=CloudWatchTranscriptSink)
    notes: dict[str, str] = field(default_factory=dict)  # delivery key -> what the response did (this run)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self | None:
        """The AWS outlets the environment turns on; None when it turns on none (the clients are made lazily by
        the adapters only for outlets in use)."""
        settings = OutletSettings.from_env(env)
        if not settings.any_on:
            return None
        return cls(
            settings,
            bus=EventBridgeBus() if settings.event_bus else _Off(),
            findings=SecurityHubImporter() if settings.product_arn else _Off(),
            terminator=SsmSessionTerminator() if settings.terminate_at is not None else _Off(),
            alert_lines=CloudWatchTranscriptSink() if settings.alert_log_group else _Off(),
        )

    # --- before SNS: the response ---

    def respond(self, deliveries: Deliveries, message: SnsMessage, key: str) -> SnsMessage:
        """Terminate the alert's session when the settings say so (once per session), and say in the message
        what happened."""
        record = alert_document(message)
        if record is None:
            return message
        refusal = termination_refusal(record, self.settings)
        if refusal == "":
            return message
        if refusal is None:
            session_id = session_of(record)[0]
            failures = deliveries.counts.failures["termination"]
            before = deliveries.counts.delivered["termination"]
            deliveries.once(
                state_key("terminate", session_id),
                partial(self.terminator.terminate, session_id),
                "termination",
                durable=True,  # at most once per session, whatever delivery raised the alert
            )
            if deliveries.counts.failures["termination"] > failures:
                note = "not terminated: TerminateSession failed; the invocation is retried"
            elif deliveries.counts.delivered["termination"] > before:
                note = "terminated (TerminateSession)"
            else:
                note = "terminated by an earlier alert of this session"
        else:
            note = refusal
        if len(self.notes) >= NOTES_KEPT:  # one container serves many invocations: keep only recent notes
            self.notes.clear()
        self.notes[key] = note
        return with_response(message, note)

    def slack_note(self, payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        """The Slack payload with the response, when there was one, as a last context block."""
        note = self.notes.get(key)
        if not note:
            return dict(payload)
        blocks = [
            *payload.get("blocks", []),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*Session:* {note}", "verbatim": True}]},
        ]
        return {**payload, "blocks": blocks[-50:] if len(blocks) > 50 else blocks}

    # --- after SNS: events and findings ---

    def deliver(
        self,
        deliveries: Deliveries,
        messages: Sequence[tuple[SnsMessage, str]],
        *,
        held_alert_lines: list[tuple[str, str, str]] | None = None,
    ) -> None:
        """Each alert on the bus, once per key; its alert line, once per key or, when `held_alert_lines` is given,
        appended to it as (key, stream, line) for the caller to write with the session's transcript (one
        PutLogEvents call for both, once per batch as its transcript is); then the findings, in
        batches of at most 100, once per batch."""
        records = [(record, key) for message, key in messages if (record := alert_document(message)) is not None]
        if self.settings.event_bus:
            for record, key in records:
                put = partial(self._put_event, deliveries, record, key)
                deliveries.once(state_key(key, "events", self.settings.event_bus), put, "eventbridge")
        if self.settings.alert_log_group:
            for record, key in records:
                line = alert_line(record, key)
                if line is not None and held_alert_lines is not None:
                    held_alert_lines.append((key, *line))
                elif line is not None:
                    write = partial(self._write_alert_line, deliveries, *line)
                    deliveries.once(state_key(key, "alert-line"), write, "alert-line")
        if self.settings.product_arn:
            for start in range(0, len(records), FINDINGS_PER_CALL):
                batch = records[start : start + FINDINGS_PER_CALL]
                batch_key = state_key("securityhub", alert_id("\n".join(key for _, key in batch)))
                import_batch = partial(self._import_findings, deliveries, batch)
                deliveries.once(batch_key, import_batch, "securityhub")

    def _put_event(self, deliveries: Deliveries, record: Mapping[str, Any], key: str) -> None:
        put_alert_event(self.bus, self.settings.event_bus, record, key, deliveries.outlets.sleep)

    def _write_alert_line(self, deliveries: Deliveries, stream: str, line: str) -> None:
        now_ms = int(deliveries.outlets.wall_clock() * 1000)
        result = self.alert_lines.put(self.settings.alert_log_group, stream, [LogEvent(now_ms, line)])
        if result.rejected:
            raise OutletRefused("CloudWatch Logs refused the alert line")

    def _import_findings(self, deliveries: Deliveries, batch: Sequence[tuple[Mapping[str, Any], str]]) -> None:
        now = datetime.fromtimestamp(deliveries.outlets.wall_clock(), UTC)
        pending = [asff_finding(record, key, self.settings.product_arn, now) for record, key in batch]
        failed: dict[str, str] = {}
        for attempt in range(1, FINDING_ATTEMPTS + 1):
            try:
                failed = self.findings.import_findings(pending)
            except Exception as error:
                if error_code(error) not in PASSING_ERRORS or attempt == FINDING_ATTEMPTS:
                    raise
                failed = {finding["Id"]: error_code(error) for finding in pending}
            if not failed:
                return
            if attempt < FINDING_ATTEMPTS:
                deliveries.outlets.sleep(RETRY_DELAY_SECONDS * attempt)
                pending = [finding for finding in pending if finding["Id"] in failed]
        codes = ", ".join(sorted(set(failed.values())))
        raise OutletRefused(f"Security Hub refused {len(failed)} finding(s) ({codes})")


class _Off:
    """An outlet the settings leave off: never called (the settings are checked first)."""

    def put_event(self, bus_name: str, source: str, detail_type: str, detail: str, resources: list[str]) -> str:
        raise OutletRefused("EventBridge is off")

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> dict[str, str]:
        raise OutletRefused("Security Hub is off")

    def terminate(self, session_id: str) -> None:
        raise OutletRefused("termination is off")

    def put(self, log_group: str, log_stream: str, events: Sequence[LogEvent]) -> PutResult:
        raise OutletRefused("alert lines are off")


__all__ = [
    "EVENT_SOURCE",
    "SCHEMA_VERSION",
    "AlertOutlets",
    "OutletRefused",
    "OutletSettings",
    "alert_document",
    "asff_finding",
    "enrollment_failure_record",
    "event_detail",
    "never_terminated",
    "put_alert_event",
    "termination_refusal",
]
