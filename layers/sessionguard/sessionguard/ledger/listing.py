"""`sessionguard sessions`: which ledger records to show, and how (JSON Lines, or a table for people). Pure: the
records come in as data (docs/ledger.md, "Listing the ledger")."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from sessionguard.alerting.formatting import clean_metadata
from sessionguard.ledger.model import SessionRecord, iso

_COLUMNS: Final = (
    ("started", 20),
    ("session", 28),
    ("user", 24),
    ("target", 20),
    ("document", 28),
    ("from", 15),
    ("via", 7),
    ("streamed", 8),
    ("findings", 20),
)


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """--since (epoch seconds), --user and --target (substrings, case-insensitive), --with-findings."""

    since: int = 0
    user: str = ""
    target: str = ""
    with_findings: bool = False

    def keeps(self, record: SessionRecord) -> bool:
        seen = record.started_at or record.first_seen or record.stream_first
        if self.since and seen < self.since:
            return False
        if self.user and self.user.lower() not in record.user_arn.lower():
            return False
        if self.target and self.target.lower() not in record.target.lower():
            return False
        return not self.with_findings or bool(record.findings)


def select(records: Iterable[SessionRecord], keep: SessionFilter) -> list[SessionRecord]:
    """The records `keep` keeps, newest first."""
    kept = [r for r in records if keep.keeps(r)]
    return sorted(kept, key=lambda r: r.started_at or r.first_seen or r.stream_first, reverse=True)


def table_lines(records: Iterable[SessionRecord]) -> Iterator[str]:
    """A readable table: one line per session, every value printable and cut to its column."""
    yield "  ".join(name.ljust(width) for name, width in _COLUMNS).rstrip()
    for record in records:
        user = record.user_arn.rsplit("/", 1)[-1] or record.user_arn
        values = (
            iso(record.started_at or record.first_seen),
            record.session_id,
            user,
            record.target,
            record.document or ("SSM-SessionManagerRunShell" if record.known_start else "(no StartSession)"),
            record.source_ip,
            record.started_via,
            "yes" if record.streamed else ("text" if record.plain_text_events else "no"),
            ",".join(sorted(record.findings)) or "-",
        )
        cells = (_cell(value, width) for value, (_, width) in zip(values, _COLUMNS, strict=True))
        yield "  ".join(cells).rstrip()


def _cell(value: str, width: int) -> str:
    text = clean_metadata(value or "-", 200)
    return (text[: width - 1] + "…" if len(text) > width else text).ljust(width)


__all__ = ["SessionFilter", "select", "table_lines"]
