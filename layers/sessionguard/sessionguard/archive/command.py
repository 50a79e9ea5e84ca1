"""`sessionguard scan s3://… | logs://…` (the options and the loop that the CLI's scan runs for an archive URL),
and `sessionguard hunt`, which starts the organisation-wide hunt state machine (docs/hunt.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sessionguard.alerting.text import visible
from sessionguard.archive.hunt import HUNT_NAME, HuntInputError, hunt_input
from sessionguard.archive.rendering import report_problem
from sessionguard.archive.scanning import Checkpoint, Progress, default_jobs, merge_stats, scan_archive
from sessionguard.archive.sources import ArchiveError, is_archive_url, open_archive
from sessionguard.rules import RulePack
from sessionguard.session.engine import CommandAlert, EngineStats, SanitizedLine

__all__ = ["add_archive_arguments", "add_hunt_parser", "is_archive_url", "run_hunt", "scan_archive_url"]


def add_archive_arguments(scan: argparse.ArgumentParser) -> None:
    archive = scan.add_argument_group("archives (s3://bucket/prefix/, logs://group[/stream-prefix]; docs/hunt.md)")
    archive.add_argument("--since", metavar="AGE|DATE", help="only objects or streams since then: 30d, 12h, 2026-11-01")
    archive.add_argument("--until", metavar="AGE|DATE", help="only S3 objects last modified before then")
    archive.add_argument(
        "--jobs",
        type=_positive,
        metavar="N",
        help="files: worker processes (default: the available CPUs); archives: objects or streams read at once "
        f"(default {default_jobs()})",
    )
    archive.add_argument("--checkpoint", type=Path, metavar="FILE", help="resume from, and record progress in, FILE")
    archive.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress line on stderr (default: when stderr is a terminal)",
    )


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def scan_archive_url(
    url: str,
    args: argparse.Namespace,
    *,
    rules: RulePack,
    stats: EngineStats,
    write: Callable[[Sequence[CommandAlert | SanitizedLine]], None],
    stderr: TextIO,
) -> int:
    """Scan every unit of the archive, handing each unit's results to `write`; the number of problems."""
    try:
        source = open_archive(url, since=args.since, until=args.until)
    except ArchiveError as error:
        print(f"sessionguard: {visible(url)}: {error}", file=stderr)
        return 1
    checkpoint = Checkpoint(args.checkpoint)
    problems = 0
    try:
        progress = Progress.on(stderr, args.progress)
        for scan in scan_archive(
            source,
            rules,
            min_severity=args.min_severity,
            jobs=args.jobs or default_jobs(),
            checkpoint=checkpoint,
            progress=progress,
        ):
            write(scan.results)
            merge_stats(stats, scan.stats)
            for problem in scan.problems:
                if progress.stream is not None:
                    stderr.write("\r\x1b[K")
                report_problem(stderr, problem)
            problems += len(scan.problems)
    finally:
        checkpoint.close()
    return problems


def add_hunt_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hunt = commands.add_parser(
        "hunt", help="start the retro-hunt state machine over the transcript bucket (docs/hunt.md)"
    )
    hunt.add_argument("--stack", metavar="NAME", help="the SessionGuard stack: its outputs give the three values below")
    hunt.add_argument("--state-machine", metavar="ARN", help="the stack's HuntStateMachineArn output")
    hunt.add_argument("--bucket", metavar="NAME", help="the transcript bucket (TranscriptBucketName)")
    hunt.add_argument("--results-bucket", metavar="NAME", help="where results go (HuntResultsBucketName)")
    hunt.add_argument("--prefix", default="sessions/", help="the transcripts' key prefix (default sessions/)")
    hunt.add_argument("--rules", type=Path, metavar="FILE", help="a rule file to hunt with, besides the built-in pack")
    hunt.add_argument("--since", metavar="AGE|DATE", help="objects last modified since then: 90d, 2026-09-01")
    hunt.add_argument("--until", metavar="AGE|DATE", help="objects last modified before then")
    hunt.add_argument("--min-severity", default="low", metavar="LEVEL", help="info|low|medium|high|critical")
    hunt.add_argument("--max-concurrency", type=int, default=40, metavar="N", help="batches at once (1-10000)")
    hunt.add_argument("--batch-size", type=int, default=100, metavar="N", help="objects per Lambda invocation")
    hunt.add_argument("--name", metavar="NAME", help="the hunt's name (default hunt-<UTC time>)")


def run_hunt(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    # Imported here: boto3 is needed by this subcommand only, and scans of local files must not pay for it.
    from sessionguard.adapters.archive import HuntLauncher  # noqa: PLC0415

    launcher = HuntLauncher()
    outputs = launcher.stack_outputs(args.stack) if args.stack else {}
    machine = args.state_machine or outputs.get("HuntStateMachineArn")
    bucket = args.bucket or outputs.get("TranscriptBucketName")
    results = args.results_bucket or outputs.get("HuntResultsBucketName")
    if not (machine and bucket and results):
        print("sessionguard: hunt needs --stack, or --state-machine, --bucket and --results-bucket", file=stderr)
        return 1
    name = args.name or datetime.now(UTC).strftime("hunt-%Y%m%dT%H%M%SZ")
    if not HUNT_NAME.fullmatch(name) or not 1 <= args.max_concurrency <= 10_000 or not 1 <= args.batch_size <= 1000:
        print(
            "sessionguard: --name is [A-Za-z0-9_-]{1,80}, --max-concurrency 1-10000, --batch-size 1-1000", file=stderr
        )
        return 1
    rules_key = ""
    if args.rules is not None:
        rules = args.rules.read_bytes()
        RulePack.load([args.rules])  # a broken rule file fails here, not in a thousand batches
        rules_key = f"hunts/{name}/rules.yaml"
        launcher.upload(results, rules_key, rules)
    try:
        execution_input = hunt_input(
            hunt=name,
            bucket=bucket,
            prefix=args.prefix,
            results_bucket=results,
            since=args.since,
            until=args.until,
            min_severity=args.min_severity,
            rules_key=rules_key,
            max_concurrency=args.max_concurrency,
            batch_size=args.batch_size,
        )
    except (HuntInputError, ArchiveError) as error:
        print(f"sessionguard: {error}", file=stderr)
        return 1
    execution = launcher.start(machine, name, execution_input)
    stdout.write(json.dumps({"execution": execution, "results": f"s3://{results}/hunts/{name}/"}) + "\n")
    print(f"sessionguard: hunt {name} started; summary at s3://{results}/hunts/{name}/summary.json", file=stderr)
    return 0
