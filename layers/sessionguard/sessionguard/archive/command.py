"""`sessionguard scan s3://… | logs://…`: the options and the loop that the CLI's scan runs for an archive URL."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from sessionguard.alerting.text import visible
from sessionguard.archive.scanning import Checkpoint, Progress, default_jobs, merge_stats, scan_archive
from sessionguard.archive.sources import ArchiveError, is_archive_url, open_archive
from sessionguard.rules import RulePack
from sessionguard.session.engine import CommandAlert, EngineStats, SanitizedLine

__all__ = ["add_archive_arguments", "is_archive_url", "scan_archive_url"]


def add_archive_arguments(scan: argparse.ArgumentParser) -> None:
    archive = scan.add_argument_group("archives (s3://bucket/prefix/, logs://group[/stream-prefix]; docs/hunt.md)")
    archive.add_argument("--since", metavar="AGE|DATE", help="only objects or streams since then: 30d, 12h, 2026-11-01")
    archive.add_argument("--until", metavar="AGE|DATE", help="only S3 objects last modified before then")
    archive.add_argument(
        "--jobs", type=int, default=default_jobs(), metavar="N", help="objects or streams read at once"
    )
    archive.add_argument("--checkpoint", type=Path, metavar="FILE", help="resume from, and record progress in, FILE")
    archive.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress line on stderr (default: when stderr is a terminal)",
    )


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
            source, rules, min_severity=args.min_severity, jobs=args.jobs, checkpoint=checkpoint, progress=progress
        ):
            write(scan.results)
            merge_stats(stats, scan.stats)
            for problem in scan.problems:
                if progress.stream is not None:
                    stderr.write("\r\x1b[K")
                print(f"sessionguard: {visible(problem.source)}: {problem.location}: {problem.reason}", file=stderr)
            problems += len(scan.problems)
    finally:
        checkpoint.close()
    return problems
