"""`sessionguard`: scan exported or historical Session Manager logs, and inspect the rule pack.

    sessionguard scan [--transcript] [--min-severity LEVEL] [--rules PATH]... [--jobs N] PATH...   (PATH "-" = stdin)
        PATH may also be s3://bucket/prefix/ or logs://group[/stream-prefix] [--since AGE] [--checkpoint F]
    sessionguard rules list [--rules PATH]...
    sessionguard rules test [PATH]...
    sessionguard replay-dlq --queue-url URL --function NAME [--max-messages N] [--dry-run]
    sessionguard replay SOURCE -o FILE [--session ID] [--format html|cast]   (docs/replay.md)
    sessionguard hunt --stack NAME [--rules FILE] [--since AGE|DATE]   (docs/hunt.md)
    sessionguard sessions --table NAME [--since WHEN] [--user U] [--target T] [--with-findings] [--json]

`scan` writes JSON Lines to stdout (alerts, and with --transcript the masked transcript lines) and a readable
summary to stderr. Gzipped input is read as its content; binary input is refused. Unreadable input is reported on
stderr with its file and line, the rest is still scanned, and the exit status is then 2 (3: a worker process
failed, and the output is incomplete). Everything written is
masked and printable: session text and metadata cannot act on the reader's terminal (docs/cli.md). Files run on
--jobs worker processes (default: one per available CPU), a session never split between them, and the output is
the same bytes whatever --jobs is (archive/parallel.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sessionguard.alerting.text import visible
from sessionguard.archive.command import (
    add_archive_arguments,
    add_hunt_parser,
    is_archive_url,
    run_hunt,
    scan_archive_url,
)
from sessionguard.archive.parallel import LocalScan, ScanSettings, ScanWorkerError, local_jobs, scan_files
from sessionguard.archive.rendering import ScanRenderer
from sessionguard.ledger.command import add_sessions_parser, run_sessions
from sessionguard.playback.command import add_replay_parser, run_replay
from sessionguard.rules import RuleError, RulePack
from sessionguard.session.engine import CommandAlert, SanitizedLine
from sessionguard.severity import Severity

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_BAD_INPUT = 2
EXIT_INCOMPLETE = 3


def _severity(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sessionguard", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    scan = commands.add_parser("scan", help="scan session logs for risky commands; JSON Lines to stdout")
    scan.add_argument("paths", nargs="+", metavar="PATH", help='session logs in any supported format; "-" = stdin')
    scan.add_argument("--transcript", action="store_true", help="also write every masked transcript line")
    scan.add_argument(
        "--min-severity", type=_severity, default=Severity.LOW, metavar="LEVEL", help="info|low|medium|high|critical"
    )
    scan.add_argument("--rules", action="append", type=Path, default=[], metavar="PATH", help="extra rule file/dir")
    add_archive_arguments(scan)

    rules = commands.add_parser("rules", help="list the rules or run their examples")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True)
    listing = rules_commands.add_parser("list", help="one line per rule")
    listing.add_argument("--rules", action="append", type=Path, default=[], metavar="PATH")
    test = rules_commands.add_parser("test", help="run every rule's must-match and must-not-match examples")
    test.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="extra rule files or directories")

    replay = commands.add_parser(
        "replay-dlq", help="re-drive the alert failure queue through the session alerts function (docs/alerts.md)"
    )
    replay.add_argument("--queue-url", required=True, help="the stack's AlertFailureQueueUrl output")
    replay.add_argument("--function", required=True, help="the stack's SessionAlertsFunctionName output")
    replay.add_argument("--max-messages", type=int, default=100, metavar="N", help="stop after N messages")
    replay.add_argument("--dry-run", action="store_true", help="rebuild every event; invoke and delete nothing")
    add_replay_parser(commands)
    add_hunt_parser(commands)
    add_sessions_parser(commands)
    return parser


def scan(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Files and standard input first, on every core (archive/parallel.py), then each archive URL in turn."""
    settings = ScanSettings(tuple(args.rules), args.min_severity, args.transcript)
    files = [path for path in args.paths if not is_archive_url(path)]
    urls = [path for path in args.paths if is_archive_url(path)]
    jobs = local_jobs(args.jobs)
    total = scan_files(files, settings, jobs=jobs, stdin=stdin, stdout=stdout, stderr=stderr) if files else LocalScan()
    if urls:  # s3://, logs://: read in place, unit by unit, on threads (docs/hunt.md)
        pack = RulePack.load(args.rules)
        renderer = ScanRenderer(transcript=args.transcript)

        def write(results: Sequence[CommandAlert | SanitizedLine]) -> None:
            output = renderer.render(results)
            stdout.write(output.text)
            total.alerts.add(output.alerts)

        for url in urls:
            total.problems += scan_archive_url(url, args, rules=pack, stats=total.stats, write=write, stderr=stderr)
    _summarize(total, stderr)
    return EXIT_BAD_INPUT if total.problems else EXIT_OK


def _summarize(total: LocalScan, stderr: TextIO) -> None:
    stats, alerts, problems = total.stats, total.alerts, total.problems
    masked = sum(stats.secrets_masked.values())
    print(
        f"sessionguard: {stats.events} events, {stats.commands} commands, {alerts.count} alerts, "
        f"{masked} secrets masked, {problems} unreadable records",
        file=stderr,
    )
    for alert in alerts.top:  # the most severe first, each severity in the order written
        # Shown as the Slack message shows them: an escape sequence or a bidi override in a session id or a
        # command must not act on the reader's terminal.
        first_line = visible(alert.command.split("\n", 1)[0][:100])
        print(f"  {alert.severity!s:>8}  {alert.rule_id}  {visible(alert.session_id)}  {first_line}", file=stderr)
    if alerts.count > len(alerts.top):
        print(f"  … and {alerts.count - len(alerts.top)} more", file=stderr)


def rules_list(args: argparse.Namespace, stdout: TextIO) -> int:
    pack = RulePack.load(args.rules)
    for rule in pack.rules:
        stdout.write(f"{rule.id}\t{rule.severity}\t{','.join(rule.techniques)}\t{rule.title}\n")
    return EXIT_OK


def rules_test(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    pack = RulePack.load(args.paths)
    failures = pack.check_examples()
    for failure in failures:
        print(failure, file=stderr)
    stdout.write(f"{len(pack.rules)} rules, {len(failures)} example failures\n")
    return EXIT_BAD_INPUT if failures else EXIT_OK


def replay_dlq(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    # Imported here: boto3 is needed by this subcommand only, and scans must not pay for it.
    from sessionguard.alerting.replay import redrive_failure_queue  # noqa: PLC0415

    report = redrive_failure_queue(args.queue_url, args.function, max_messages=args.max_messages, dry_run=args.dry_run)
    stdout.write(json.dumps(report.to_json()) + "\n")
    stuck = report.count("skipped") + report.count("failed")
    print(f"sessionguard: {report.received} messages read, {stuck} left in the queue", file=stderr)
    return EXIT_BAD_INPUT if stuck else EXIT_OK


def main(  # noqa: PLR0911 - one return per subcommand
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        if args.command == "scan":
            return scan(args, stdin, stdout, stderr)
        if args.command == "replay-dlq":
            return replay_dlq(args, stdout, stderr)
        if args.command == "replay":
            return run_replay(args, stdin, stderr)
        if args.command == "hunt":
            return run_hunt(args, stdout, stderr)
        if args.command == "sessions":
            return run_sessions(args, stdout, stderr)
        if args.rules_command == "list":
            return rules_list(args, stdout)
        return rules_test(args, stdout, stderr)
    except RuleError as error:
        print(f"sessionguard: {error}", file=stderr)
        return EXIT_USAGE
    except ScanWorkerError as error:
        print(f"sessionguard: {error}; the output is incomplete", file=stderr)
        return EXIT_INCOMPLETE
