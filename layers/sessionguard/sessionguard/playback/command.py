"""`sessionguard replay SOURCE -o FILE [--session ID] [--format html|cast]`: one session as a replay page or cast.

SOURCE is a file in any format `sessionguard scan` reads (streamed events, a subscription payload, get-log-events
output, an S3 typescript), `-` for standard input, or an archive URL (`s3://bucket/key-or-prefix`,
`logs://group[/stream-prefix]`), read through `sessionguard.archive`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from sessionguard.alerting.text import visible
from sessionguard.archive.sources import ArchiveError, is_archive_url, read_archive_events
from sessionguard.playback.page import render_page
from sessionguard.playback.recording import SessionChoiceError, choose_session, record_session
from sessionguard.rules import RulePack
from sessionguard.session.records import InputProblem, MalformedEvent, SessionEvent, decode_input, read_input

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def add_replay_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        "replay", help="one session as a self-contained HTML replay page or an asciicast file (docs/replay.md)"
    )
    replay.add_argument("source", metavar="SOURCE", help='a session log file, "-", s3://bucket/key or logs://group')
    replay.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="the page or cast to write")
    replay.add_argument("--session", metavar="ID", help="the session to replay when SOURCE holds several")
    replay.add_argument(
        "--format", choices=("html", "cast"), default="html", help="html page (default) or asciicast v2"
    )
    replay.add_argument("--since", metavar="AGE|DATE", help="for logs:// sources: only events since then (e.g. 30d)")
    replay.add_argument("--rules", action="append", type=Path, default=[], metavar="PATH", help="extra rule file/dir")


def run_replay(args: argparse.Namespace, stdin: TextIO, stderr: TextIO) -> int:
    pack = RulePack.load(args.rules)
    try:
        events = _read_events(args, stdin, stderr)
        session_events = choose_session(events, args.session)
    except (OSError, MalformedEvent, ArchiveError, SessionChoiceError) as problem:
        reason = problem.strerror if isinstance(problem, OSError) and problem.strerror else str(problem)
        print(f"sessionguard: {visible(args.source)}: {reason}", file=stderr)
        return EXIT_BAD_INPUT
    recording = record_session(session_events, pack)
    text = recording.to_cast() if args.format == "cast" else render_page(recording)
    args.output.write_text(text, encoding="utf-8")
    print(
        f"sessionguard: {args.output}: {recording.commands} commands, {len(recording.alerts)} alerts, "
        f"{recording.duration:.1f} s at {recording.paced_by}",
        file=stderr,
    )
    return EXIT_OK


def _read_events(args: argparse.Namespace, stdin: TextIO, stderr: TextIO) -> list[SessionEvent]:
    if is_archive_url(args.source):
        return read_archive_events(args.source, session_id=args.session, since=args.since)
    source: str = args.source
    data = (stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()) if source == "-" else None
    text = decode_input(data if data is not None else Path(source).read_bytes(), source)
    events: list[SessionEvent] = []
    for item in read_input(text, source):
        if isinstance(item, InputProblem):  # a damaged record is skipped, as `scan` does, and said
            print(f"sessionguard: {visible(item.source)}: {item.location}: {item.reason}", file=stderr)
        else:
            events.append(item)
    return events
