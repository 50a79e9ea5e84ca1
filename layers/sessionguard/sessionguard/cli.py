"""`sessionguard`: scan exported or historical Session Manager logs, and inspect the rule pack.

    sessionguard scan [--transcript] [--min-severity LEVEL] [--rules PATH]... PATH...   (PATH "-" = stdin)
    sessionguard rules list [--rules PATH]...
    sessionguard rules test [PATH]...
    sessionguard replay-dlq --queue-url URL --function NAME [--max-messages N] [--dry-run]

`scan` writes JSON Lines to stdout (alerts, and with --transcript the masked transcript lines) and a readable
summary to stderr. Unreadable input is reported on stderr with its file and line, the rest is still scanned, and
the exit status is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sessionguard.rules import RuleError, RulePack
from sessionguard.session.engine import Alert, SessionEngine
from sessionguard.session.records import InputProblem, SessionEvent, group_by_session, read_input
from sessionguard.severity import Severity

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_BAD_INPUT = 2


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
    return parser


def _read(path: str, stdin: TextIO) -> tuple[str, str]:
    """(source name, text). Undecodable bytes become U+FFFD: the agent itself damages UTF-8."""
    if path == "-":
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
        return "-", data.decode("utf-8", errors="replace")
    return path, Path(path).read_bytes().decode("utf-8", errors="replace")


def scan(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    pack = RulePack.load(args.rules)
    engine = SessionEngine(pack, min_severity=args.min_severity)
    problems = 0
    alerts: list[Alert] = []
    for path in args.paths:
        try:
            source, text = _read(path, stdin)
        except OSError as error:
            print(f"sessionguard: {path}: cannot read: {error.strerror or error}", file=stderr)
            problems += 1
            continue
        events: list[SessionEvent] = []
        for item in read_input(text, source):
            if isinstance(item, InputProblem):
                print(f"sessionguard: {item.source}: {item.location}: {item.reason}", file=stderr)
                problems += 1
            else:
                events.append(item)
        for session_events in group_by_session(events).values():
            results = [*engine.scan(session_events), *engine.finish()]
            for result in results:
                if isinstance(result, Alert):
                    alerts.append(result)
                    stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
                elif args.transcript:
                    stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    _summarize(engine, alerts, problems, stderr)
    return EXIT_BAD_INPUT if problems else EXIT_OK


def _summarize(engine: SessionEngine, alerts: list[Alert], problems: int, stderr: TextIO) -> None:
    stats = engine.stats
    masked = sum(stats.secrets_masked.values())
    print(
        f"sessionguard: {stats.events} events, {stats.commands} commands, {len(alerts)} alerts, "
        f"{masked} secrets masked, {problems} unreadable records",
        file=stderr,
    )
    for alert in sorted(alerts, key=lambda a: -a.severity)[:20]:
        first_line = alert.command.split("\n", 1)[0][:100]
        print(f"  {alert.severity!s:>8}  {alert.rule_id}  {alert.session_id}  {first_line}", file=stderr)
    if len(alerts) > 20:
        print(f"  … and {len(alerts) - 20} more", file=stderr)


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


def main(
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
        if args.rules_command == "list":
            return rules_list(args, stdout)
        return rules_test(args, stdout, stderr)
    except RuleError as error:
        print(f"sessionguard: {error}", file=stderr)
        return EXIT_USAGE
