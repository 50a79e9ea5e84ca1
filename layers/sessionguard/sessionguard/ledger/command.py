"""The `sessionguard sessions` subcommand: list the session ledger (docs/ledger.md, docs/cli.md).

sessionguard sessions --table NAME [--since DATE|AGE] [--user TEXT] [--target TEXT] [--with-findings] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from sessionguard.ledger.listing import SessionFilter, select, table_lines
from sessionguard.ledger.model import SessionRecord
from sessionguard.masking.masker import mask_secrets

MAX_SESSIONS: Final = 100_000
_AGE_UNITS: Final = {"m": 60, "h": 3600, "d": 86400}


def add_sessions_parser(commands: Any) -> None:
    """The subcommand's arguments, on the CLI's subparsers."""
    sessions = commands.add_parser("sessions", help="list the session ledger (docs/ledger.md)")
    sessions.add_argument("--table", required=True, help="the stack's SessionLedgerTableName output")
    sessions.add_argument("--since", type=since_epoch, default=0, metavar="WHEN", help="2026-11-26, or an age: 24h, 7d")
    sessions.add_argument("--user", default="", help="sessions whose user ARN contains this")
    sessions.add_argument("--target", default="", help="sessions whose target contains this")
    sessions.add_argument("--with-findings", action="store_true", help="only sessions with a finding")
    sessions.add_argument("--json", action="store_true", help="JSON Lines instead of a table")


def since_epoch(value: str, now: float | None = None) -> int:
    """An ISO date or time (UTC unless it says otherwise), or an age such as 90m, 24h, 7d."""
    text = value.strip()
    if text[:-1].isdigit() and text[-1:] in _AGE_UNITS:
        return int((now if now is not None else time.time()) - int(text[:-1]) * _AGE_UNITS[text[-1]])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date, time or age (24h, 7d): {text[:40]!r}") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def run_sessions(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO, records: Iterable[SessionRecord] | None = None
) -> int:
    """List the ledger; `records` replaces the table (tests, the demo)."""
    if records is None:
        # Imported here: boto3 is needed by this subcommand only, and scans must not pay for it.
        from sessionguard.adapters.session_ledger import SessionTable  # noqa: PLC0415

        records = SessionTable(args.table).all_sessions(MAX_SESSIONS)
    keep = SessionFilter(since=args.since, user=args.user, target=args.target, with_findings=args.with_findings)
    chosen = select(records, keep)
    if args.json:
        for record in chosen:
            stdout.write(json_line(record.to_json()) + "\n")
    else:
        for line in table_lines(chosen):
            stdout.write(line + "\n")
    print(f"sessionguard: {len(chosen)} sessions", file=stderr)
    return 0


def json_line(record: dict[str, Any]) -> str:
    """One JSON record on one line; strings masked again (every field came from a request or an instance)."""
    cleaned = {key: mask_secrets(value) if isinstance(value, str) else value for key, value in record.items()}
    return json.dumps(cleaned, ensure_ascii=True)


__all__ = ["add_sessions_parser", "json_line", "run_sessions", "since_epoch"]
