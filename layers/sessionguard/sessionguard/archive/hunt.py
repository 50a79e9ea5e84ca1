"""The organisation-wide retro-hunt (docs/hunt.md): the batch logic behind `statemachines/hunt.asl.json`.

A Step Functions Distributed Map lists the transcript bucket (ItemReader, ListObjectsV2 over a prefix) and hands
batches of objects to `run_batch` (functions/hunt_batch). Each batch scans its objects with the same engine, rules
and masking as `sessionguard scan`, writes its masked alerts as JSON Lines and its counts as JSON under
`<ResultsPrefix><hunt>/batches/`, and returns the counts. Named after its objects, a retried batch overwrites its
own results instead of adding a second copy. `summarize` then adds the batches' counts up, reads the failed
batches from the map's ResultWriter manifest, and writes `summary.json`, which the state machine publishes to SNS.

Every field of the input is checked here: the execution input comes from whoever may start the state machine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sessionguard.archive.scanning import scan_unit
from sessionguard.archive.sources import ArchiveError, S3Source, Unit, parse_since
from sessionguard.masking.masker import mask_secrets
from sessionguard.rules import RulePack
from sessionguard.session.engine import CommandAlert
from sessionguard.severity import Severity

if TYPE_CHECKING:
    from sessionguard.adapters.archive import S3Archive

# The batch's own limits, whatever the map sends: a Lambda has 15 minutes and the map's batch is at most 256 KiB.
MAX_OBJECTS_PER_BATCH: Final = 1000
HUNT_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
_KEY: Final = re.compile(r"[^\x00-\x1f\x7f]{1,1024}")
# Archived transcripts (TranscriptArchiveAfterDays) cannot be read before a restore; Glacier Instant Retrieval can.
ARCHIVED_STORAGE_CLASSES: Final = frozenset({"GLACIER", "DEEP_ARCHIVE"})
_RULES_DIR: Final = Path("/tmp/sessionguard-hunt-rules")  # noqa: S108 - Lambda's only writable directory


class HuntInputError(ValueError):
    """An execution or batch input that is not what the state machine sends; the message names the field."""


@dataclass(frozen=True, slots=True)
class HuntSettings:
    """The BatchInput of every batch (the execution input, checked)."""

    hunt: str
    bucket: str
    results_bucket: str
    results_prefix: str
    since: datetime | None
    until: datetime | None
    min_severity: Severity
    rules_key: str  # an extra rules file in the results bucket, "" for the default pack only

    @property
    def hunt_prefix(self) -> str:
        return f"{self.results_prefix}{self.hunt}/"

    @classmethod
    def from_input(cls, data: Mapping[str, Any]) -> HuntSettings:
        def text(name: str, pattern: re.Pattern[str] = _KEY, *, required: bool = True) -> str:
            value = data.get(name, "")
            if not isinstance(value, str) or (value and not pattern.fullmatch(value)) or (required and not value):
                raise HuntInputError(f"{name} is missing or not a valid value")
            return value

        try:
            since = parse_since(text("Since", required=False)) if data.get("Since") else None
            until = parse_since(text("Until", required=False)) if data.get("Until") else None
            severity = Severity.parse(text("MinSeverity", required=False) or "low")
        except (ArchiveError, ValueError) as error:
            raise HuntInputError(str(error)) from None
        prefix = text("ResultsPrefix", required=False)
        return cls(
            hunt=text("Hunt", HUNT_NAME),
            bucket=text("Bucket"),
            results_bucket=text("ResultsBucket"),
            results_prefix=prefix if not prefix or prefix.endswith("/") else prefix + "/",
            since=since,
            until=until,
            min_severity=severity,
            rules_key=text("RulesKey", required=False),
        )


def _items(event: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """(key, size, ETag) of the batch's objects, as the ItemReader lists them (ListObjectsV2's Contents)."""
    items = event.get("Items")
    if not isinstance(items, list) or len(items) > MAX_OBJECTS_PER_BATCH:
        raise HuntInputError(f"Items must be a list of at most {MAX_OBJECTS_PER_BATCH} objects")
    objects: list[tuple[str, int, str]] = []
    for item in items:
        key = item.get("Key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise HuntInputError("every item needs a Key")
        size, etag = item.get("Size", 0), item.get("Etag", item.get("ETag", ""))
        objects.append((key, size if isinstance(size, int) else 0, etag.strip('"') if isinstance(etag, str) else ""))
    return objects


def _in_range(modified: object, settings: HuntSettings) -> bool:
    """The ItemReader lists the whole prefix: the date range is applied here, on each item's LastModified."""
    if settings.since is None and settings.until is None:
        return True
    if not isinstance(modified, str):
        return True  # an item without a date is scanned rather than silently dropped
    try:
        when = parse_since(modified)
    except ArchiveError:
        return True
    return (settings.since is None or when >= settings.since) and (settings.until is None or when < settings.until)


def batch_id(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]


def load_rules(settings: HuntSettings, archive: S3Archive) -> RulePack:
    if not settings.rules_key:
        return RulePack.load([])
    _RULES_DIR.mkdir(parents=True, exist_ok=True)
    path = _RULES_DIR / f"{hashlib.sha256(settings.rules_key.encode()).hexdigest()[:16]}.yaml"
    path.write_bytes(archive.read_object(settings.results_bucket, settings.rules_key, 1024 * 1024))
    return RulePack.load([path])


def alert_record(alert: CommandAlert, key: str) -> dict[str, Any]:
    """One line of the hunt's alerts: the scan's alert record, metadata masked, and the object it came from."""
    record = alert._replace(
        session_id=mask_secrets(alert.session_id),
        instance_id=mask_secrets(alert.instance_id),
        user=mask_secrets(alert.user),
    ).to_json()
    record["object"] = mask_secrets(key)
    return record


def run_batch(event: Mapping[str, Any], archive: S3Archive) -> dict[str, Any]:
    """One batch of the map: scan its objects, write its alerts and counts, return the counts."""
    batch_input = event.get("BatchInput")
    if not isinstance(batch_input, dict):
        raise HuntInputError("BatchInput is missing")
    settings = HuntSettings.from_input(batch_input)
    objects = _items(event)
    dates = {item["Key"]: item.get("LastModified") for item in event["Items"]}
    archived = {item["Key"] for item in event["Items"] if item.get("StorageClass") in ARCHIVED_STORAGE_CLASSES}
    rules = load_rules(settings, archive)
    source = S3Source(settings.bucket, "", archive=archive)
    alerts: list[dict[str, Any]] = []
    per_rule: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    counts = Counter[str]()
    for key, size, etag in objects:
        if not _in_range(dates.get(key), settings):
            counts["skipped_by_date"] += 1
            continue
        if key in archived:
            counts["archived"] += 1
            continue
        scan = scan_unit(source, Unit(f"s3://{settings.bucket}/{key}", size, etag), rules, settings.min_severity)
        counts["objects"] += 1
        counts["bytes"] += size
        counts["sessions"] += scan.sessions
        counts["commands"] += scan.stats.commands
        for alert in scan.alerts:
            alerts.append(alert_record(alert, key))
            per_rule[alert.rule_id] += 1
        if scan.problems:
            counts["unreadable"] += 1
            failures.append({"object": mask_secrets(key), "reason": scan.problems[0].reason})
    batch = batch_id([key for key, _, _ in objects])
    summary = {
        "batch": batch,
        "objects": counts["objects"],
        "skipped_by_date": counts["skipped_by_date"],
        "archived": counts["archived"],
        "bytes": counts["bytes"],
        "sessions": counts["sessions"],
        "commands": counts["commands"],
        "alerts": len(alerts),
        "alerts_per_rule": dict(sorted(per_rule.items())),
        "unreadable": failures[:50],  # the first ones: the output of a map child is at most 256 KiB
    }
    prefix = f"{settings.hunt_prefix}batches/{batch}"
    body = "".join(json.dumps(record, ensure_ascii=True) + "\n" for record in alerts).encode()
    archive.write_object(settings.results_bucket, f"{prefix}.alerts.jsonl", body, "application/x-ndjson")
    archive.write_object(settings.results_bucket, f"{prefix}.json", json.dumps(summary).encode(), "application/json")
    return {key: value for key, value in summary.items() if key != "unreadable"} | {"unreadable": len(failures)}


_COUNTS: Final = ("objects", "skipped_by_date", "archived", "bytes", "sessions", "commands", "alerts")


def summarize(event: Mapping[str, Any], archive: S3Archive) -> dict[str, Any]:
    """After the map ({Settings, MapResult}): every batch's counts added up, failed batches counted from the
    ResultWriter manifest, and the whole written to `summary.json`. Returns the summary (the SNS message)."""
    given = event.get("Settings")
    settings = HuntSettings.from_input(given if isinstance(given, dict) else {})
    totals: Counter[str] = Counter()
    per_rule: Counter[str] = Counter()
    unreadable: list[dict[str, str]] = []
    batches = 0
    for item in archive.list_objects(settings.results_bucket, f"{settings.hunt_prefix}batches/"):
        if not item.key.endswith(".json"):
            continue
        batch = json.loads(archive.read_object(settings.results_bucket, item.key, 1024 * 1024))
        batches += 1
        for name in _COUNTS:
            totals[name] += int(batch.get(name, 0))
        per_rule.update({str(rule): int(count) for rule, count in batch.get("alerts_per_rule", {}).items()})
        unreadable += batch.get("unreadable", [])
    map_result = event.get("MapResult")
    failed_batches = _failed_batches(map_result, archive)
    # The map itself failed (more failed batches than tolerated, a listing error): its error name, never a cause.
    map_error = map_result.get("Error") if isinstance(map_result, dict) else None
    summary: dict[str, Any] = {
        "hunt": settings.hunt,
        "bucket": settings.bucket,
        "since": settings.since.isoformat() if settings.since else None,
        "until": settings.until.isoformat() if settings.until else None,
        "min_severity": str(settings.min_severity),
        "batches": batches,
        **{name: totals[name] for name in _COUNTS},
        "alerts_per_rule": dict(per_rule.most_common()),
        "failures": {
            "unreadable_objects": len(unreadable),
            "failed_batches": failed_batches,
            "map_error": map_error if isinstance(map_error, str) else None,
        },
        "unreadable_objects": unreadable[:100],
        "results": f"s3://{settings.results_bucket}/{settings.hunt_prefix}",
    }
    archive.write_object(
        settings.results_bucket,
        f"{settings.hunt_prefix}summary.json",
        json.dumps(summary, indent=1).encode(),
        "application/json",
    )
    return summary


def _failed_batches(map_result: object, archive: S3Archive) -> int:
    """Batches that failed after their retries, from the ResultWriter's manifest (its FAILED result files)."""
    if not isinstance(map_result, dict):
        return 0
    details = map_result.get("ResultWriterDetails")
    if (
        not isinstance(details, dict)
        or not isinstance(details.get("Bucket"), str)
        or not isinstance(details.get("Key"), str)
    ):
        return 0
    manifest = json.loads(archive.read_object(details["Bucket"], details["Key"], 1024 * 1024))
    failed = 0
    for result_file in manifest.get("ResultFiles", {}).get("FAILED", []):
        children = json.loads(archive.read_object(details["Bucket"], result_file["Key"], 256 * 1024 * 1024))
        failed += len(children) if isinstance(children, list) else 0
    return failed


def hunt_input(
    *,
    hunt: str,
    bucket: str,
    prefix: str,
    results_bucket: str,
    results_prefix: str = "hunts/",
    since: str | None = None,
    until: str | None = None,
    min_severity: str = "low",
    rules_key: str = "",
    max_concurrency: int = 40,
    batch_size: int = 100,
) -> dict[str, Any]:
    """The execution input of the hunt state machine (what `sessionguard hunt` sends)."""
    settings = {
        "Hunt": hunt,
        "Bucket": bucket,
        "ResultsBucket": results_bucket,
        "ResultsPrefix": results_prefix,
        "MinSeverity": min_severity,
        "RulesKey": rules_key,
        # Always present ("" for none): the state machine's paths to them fail on a missing key.
        "Since": parse_since(since).isoformat() if since else "",
        "Until": parse_since(until).isoformat() if until else "",
    }
    HuntSettings.from_input(settings)  # the same checks as the batches make
    return {"Prefix": prefix, "MaxConcurrency": max_concurrency, "BatchSize": batch_size, "Settings": settings}
