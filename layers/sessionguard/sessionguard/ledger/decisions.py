"""Which findings are due for one session, and when the ledger is done with it. Plain data in, plain data out.

Timings (docs/ledger.md): CloudTrail delivers a management event to EventBridge within minutes, best effort, so a
stream may be seen before its StartSession; `START_GRACE_SECONDS` is how long the ledger waits before calling a
stream sessionless. The reconciler runs on a schedule and closes sessions that ended without an API call (exit,
idle timeout) from DescribeSessions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sessionguard.ledger.findings import (
    LOG_WITHOUT_SESSION,
    NO_TRANSCRIPT,
    NOT_STREAMED,
    STREAMING_STOPPED,
    TRANSCRIPT_OVERWRITTEN,
)
from sessionguard.ledger.model import SessionRecord

# CloudTrail's typical delivery delay is about 5 minutes, not guaranteed; 20 leaves room for a slow hour.
START_GRACE_SECONDS: Final = 20 * 60
# A session the reconciler cannot find as Active or in History (DescribeSessions keeps history for 30 days) and
# whose stream has been quiet this long is taken as ended at its last event.
QUIET_SECONDS: Final = 60 * 60
# The ledger stops checking a session this long after it was first seen, whatever is still missing.
CHECK_HORIZON_SECONDS: Final = 2 * 24 * 3600
# The reconciler's sweep of the sanitized group for delivery records (streams no session explains, sessions with
# new records): it reads again this far before where the last complete sweep ended (the subscription stamps a record
# at its write, and a record becomes searchable seconds later), and a window of at most this long a run. The first
# run, with no checkpoint, reads one window back: records exist only since the version that writes them. A window
# the run's page budget cannot finish is halved for the next run (down to a minute), and grows again once read;
# until the sweep reaches the present, no session is called never-streamed.
SWEEP_OVERLAP_SECONDS: Final = 2 * 60
SWEEP_WINDOW_MAX_SECONDS: Final = 6 * 3600
SWEEP_WINDOW_MIN_SECONDS: Final = 60
# A delivery record ingested this close before the read that last counted its session (or after it) may not have
# been in that read: a session let go since is looked at again.
RECORD_READ_MARGIN_SECONDS: Final = 60


@dataclass(frozen=True, slots=True)
class LedgerTimings:
    """The template's parameters, in seconds."""

    not_streamed_after: int = 5 * 60
    no_transcript_after: int = 15 * 60
    start_grace: int = START_GRACE_SECONDS


@dataclass(frozen=True, slots=True)
class Due:
    """A finding due for a session, and what was seen (fixed phrases and numbers only: it reaches alerts)."""

    finding_id: str
    detail: str


def due_findings(record: SessionRecord, now: int, timings: LedgerTimings) -> list[Due]:
    """The findings the reconciler raises now for `record` that it has not raised yet."""
    due: list[Due] = []
    if record.is_shell and not record.streamed:
        active_for = (record.ended_at or now) - record.started_at
        if active_for >= timings.not_streamed_after:
            minutes = active_for // 60
            due.append(Due(NOT_STREAMED, f"shell session active {minutes} min with no streamed event"))
    if record.ended_at and record.writes_transcript and not record.transcript_key:
        waited = now - record.ended_at
        if waited >= timings.no_transcript_after:
            due.append(Due(NO_TRANSCRIPT, f"ended {waited // 60} min ago; no transcript object arrived"))
    if record.forged_events:
        forged = f"{record.forged_events} event(s) in this session's log stream claim another session id"
        due.append(Due(LOG_WITHOUT_SESSION, forged))
    elif not record.known_start and (written := record.stream_first or record.transcript_at):
        # A stream, or a transcript object with no stream either, that no StartSession explains.
        what = "log stream" if record.stream_first else "transcript object"
        if now - written >= timings.start_grace:
            due.append(
                Due(LOG_WITHOUT_SESSION, f"{what} written {(now - written) // 60} min ago; no StartSession names it")
            )
    return [d for d in due if d.finding_id not in record.findings]


def overwrite_finding(record: SessionRecord, version_id: str) -> Due | None:
    """SG-LG-005 when a transcript object arrives in a version other than the one the ledger holds."""
    if not record.transcript_key or not version_id or version_id == record.transcript_version:
        return None
    return Due(TRANSCRIPT_OVERWRITTEN, f"version {record.transcript_versions + 1} of the transcript object written")


@dataclass(frozen=True, slots=True)
class TranscriptPlan:
    """What to do with a session's final transcript: scan `lines[start:]`, and raise `finding` if set."""

    start: int
    finding: Due | None

    @property
    def scan(self) -> bool:
        return self.start >= 0


def plan_transcript_scan(record: SessionRecord, transcript_lines: Sequence[str], commands_after: int) -> TranscriptPlan:
    """Which part of the final transcript nobody has scanned yet.

    The typescript holds the pty output the agent streamed, line for line (`script` replays the same file the
    streaming read, docs/session-format.md), so the first `stream_lines` lines were scanned as they streamed.
    Not streamed at all (and not read from plain-text events): scan it all. Streamed, with commands past the
    streamed lines (`commands_after`, counted by the caller on `lines[stream_lines:]`): streaming stopped, scan the
    rest. Otherwise nothing is new: start = -1.
    """
    if record.plain_text_events:
        return TranscriptPlan(-1, None)  # the subscription function already read the same transcript
    if not record.streamed:
        return TranscriptPlan(0, None)
    if len(transcript_lines) > record.stream_lines and commands_after > 0:
        due = Due(STREAMING_STOPPED, f"{commands_after} command(s) after the {record.stream_lines} streamed lines")
        return TranscriptPlan(record.stream_lines, None if STREAMING_STOPPED in record.findings else due)
    return TranscriptPlan(-1, None)


def closed_by_describe(record: SessionRecord, active: Iterable[str], history_ends: Mapping[str, int], now: int) -> int:
    """When the reconciler should record `record` as ended: its EndDate in DescribeSessions History; for one
    neither Active nor in History (older than the history, or never seen by SSM), its stream's last event once the
    stream has been quiet for QUIET_SECONDS; else 0 (still open)."""
    if record.ended_at or record.session_id in set(active):
        return 0
    if record.session_id in history_ends:
        return history_ends[record.session_id] or now
    if record.stream_last and now - record.stream_last >= QUIET_SECONDS:
        return record.stream_last
    return 0


def still_open(record: SessionRecord, now: int, timings: LedgerTimings) -> bool:
    """Whether the reconciler must look at the session again: it is running, or a finding may still come due."""
    seen = record.first_seen or record.started_at or record.stream_first
    if seen and now - seen >= CHECK_HORIZON_SECONDS:
        return False
    if not record.known_start:
        return LOG_WITHOUT_SESSION not in record.findings  # its StartSession may still arrive
    if not record.ended_at:
        return True
    return record.writes_transcript and not record.transcript_key and NO_TRANSCRIPT not in record.findings


def sweep_window(checkpoint_ms: int, now_ms: int, window_s: int = SWEEP_WINDOW_MAX_SECONDS) -> tuple[int, int]:
    """The [start, end] (epoch ms, event timestamps) the next sweep reads, from the last complete one's end, at most
    `window_s` long (the last run's window, shortened after a sweep the page budget could not finish)."""
    window_ms = max(SWEEP_WINDOW_MIN_SECONDS, min(window_s, SWEEP_WINDOW_MAX_SECONDS)) * 1000
    start = checkpoint_ms - SWEEP_OVERLAP_SECONDS * 1000 if checkpoint_ms else now_ms - window_ms
    return start, min(now_ms, start + window_ms)


def next_sweep_window(window_s: int, complete: bool) -> int:
    """The next run's window: half after a sweep left unfinished, double after one read to its end."""
    window = window_s * 2 if complete else window_s // 2
    return max(SWEEP_WINDOW_MIN_SECONDS, min(window, SWEEP_WINDOW_MAX_SECONDS))


def needs_records_read(record: SessionRecord, new_records: bool, forged_seen: bool, active: bool) -> bool:
    """Whether the reconciler reads all of a session's delivery records this run (the transcript reads them anyway).
    Only when a decision may change with them: its stream was never read; or new records came (the sweep saw them)
    and they may carry forged events (SG-LG-004), the first streamed event (SG-LG-001), or the last event time of a
    session DescribeSessions no longer lists as active (the quiet-hour end). A running session's counts are those of
    its last read until then."""
    if not record.stream_seen and not new_records:
        return False
    if not record.records_read_at:
        return True
    return new_records and (forged_seen or not record.streamed or not active)


def opens_for_records(state: tuple[bool, int] | None, newest_ingested_ms: int) -> bool:
    """Whether delivery records the sweep found put their session (back) in the Open index: `state` is (in the
    index, when its records were last read) of its item, None when there is none (a stream no session explains,
    SG-LG-004's case); a session let go is opened again only for records its last read may not have counted."""
    if state is None:
        return True
    is_open, read_at = state
    return not is_open and newest_ingested_ms // 1000 > read_at - RECORD_READ_MARGIN_SECONDS


__all__ = [
    "CHECK_HORIZON_SECONDS",
    "QUIET_SECONDS",
    "RECORD_READ_MARGIN_SECONDS",
    "START_GRACE_SECONDS",
    "SWEEP_OVERLAP_SECONDS",
    "SWEEP_WINDOW_MAX_SECONDS",
    "SWEEP_WINDOW_MIN_SECONDS",
    "Due",
    "LedgerTimings",
    "TranscriptPlan",
    "closed_by_describe",
    "due_findings",
    "needs_records_read",
    "next_sweep_window",
    "opens_for_records",
    "overwrite_finding",
    "plan_transcript_scan",
    "still_open",
    "sweep_window",
]
