"""Scanning an archive unit by unit: in parallel, resumable, with a progress line.

Each unit (an S3 object, a log stream: one session, or an export of several) is read and scanned by its own engine,
so units can run on `jobs` threads (the work is mostly waiting on S3 or CloudWatch Logs; the engine itself holds
the GIL, so more jobs help up to the point where the engine is the bottleneck). At most `2 * jobs` units are in
flight and the listing is consumed lazily: a bucket of millions of keys is never held in memory.

A unit is marked done in the checkpoint after the caller has handled its results (the generator resumes only
then), so a scan that is stopped and started again with the same checkpoint goes on where it stopped; a unit
whose results were written but not yet marked is scanned again (at-least-once output, as alerts are elsewhere).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

from sessionguard.archive.sources import ArchiveSource, Unit
from sessionguard.rules import RulePack
from sessionguard.session.engine import CommandAlert, EngineStats, SanitizedLine, SessionEngine
from sessionguard.session.records import InputProblem, group_by_session
from sessionguard.severity import Severity

_PROGRESS_EVERY: Final = 0.2  # seconds between redraws of the progress line


@dataclass
class UnitScan:
    unit: Unit
    results: list[CommandAlert | SanitizedLine]
    problems: list[InputProblem]
    stats: EngineStats
    sessions: int

    @property
    def alerts(self) -> list[CommandAlert]:
        return [result for result in self.results if isinstance(result, CommandAlert)]


def scan_unit(source: ArchiveSource, unit: Unit, rules: RulePack, min_severity: Severity) -> UnitScan:
    """One unit read and scanned; a unit that cannot be read is one problem, never an exception."""
    try:
        content = source.read(unit)
    except Exception as error:
        problem = InputProblem(unit.name, "read", f"cannot read: {type(error).__name__}")
        return UnitScan(unit, [], [problem], EngineStats(), 0)
    engine = SessionEngine(rules, min_severity=min_severity)
    results: list[CommandAlert | SanitizedLine] = []
    sessions = group_by_session(content.events)
    for events in sessions.values():
        results += [*engine.scan(events), *engine.finish()]
    return UnitScan(unit, results, content.problems, engine.stats, len(sessions))


def merge_stats(total: EngineStats, more: EngineStats) -> None:
    total.events += more.events
    total.commands += more.commands
    total.lines += more.lines
    total.alerts.update(more.alerts)
    total.secrets_masked.update(more.secrets_masked)


class Checkpoint:
    """The units already scanned, one JSON line each (append-only, so marking is O(1) at any archive size; a line
    torn by a crash is ignored). A unit whose version (ETag) changed since is scanned again."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.done: dict[str, str] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    self.done[str(record["unit"])] = str(record.get("version", ""))
                except (ValueError, KeyError, TypeError):
                    continue
        self._file = path.open("a", encoding="utf-8") if path is not None else None

    def is_done(self, unit: Unit) -> bool:
        return self.done.get(unit.name) == unit.version

    def mark(self, unit: Unit) -> None:
        self.done[unit.name] = unit.version
        if self._file is not None:
            self._file.write(json.dumps({"unit": unit.name, "version": unit.version}) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass
class Progress:
    """Objects, bytes and alerts so far, redrawn in place on a terminal (and not at all elsewhere)."""

    stream: TextIO | None
    objects: int = 0
    skipped: int = 0
    bytes: int = 0
    alerts: int = 0
    problems: int = 0
    _drawn: float = field(default=0.0, repr=False)

    @classmethod
    def on(cls, stream: TextIO, enabled: bool | None = None) -> Progress:
        shown = stream.isatty() if enabled is None else enabled
        return cls(stream if shown else None)

    def add(self, scan: UnitScan) -> None:
        self.objects += 1
        self.bytes += scan.unit.size
        self.alerts += len(scan.alerts)
        self.problems += len(scan.problems)
        self.draw()

    def draw(self, *, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not final and now - self._drawn < _PROGRESS_EVERY:
            return
        self._drawn = now
        resumed = f", {self.skipped} done before" if self.skipped else ""
        line = (
            f"\rsessionguard: {self.objects} objects{resumed}, {_size(self.bytes)}, {self.alerts} alerts, "
            f"{self.problems} unreadable"
        )
        self.stream.write(line + ("\n" if final else "\x1b[K"))
        self.stream.flush()


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def scan_archive(
    source: ArchiveSource,
    rules: RulePack,
    *,
    min_severity: Severity = Severity.LOW,
    jobs: int = 4,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
) -> Iterator[UnitScan]:
    """Every unit of the source not already in the checkpoint, scanned on `jobs` threads, in completion order."""
    checkpoint = checkpoint or Checkpoint(None)
    progress = progress or Progress(None)
    pending: set[Future[UnitScan]] = set()
    units = (unit for unit in source.units() if not _skipped(unit, checkpoint, progress))
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="sessionguard-scan") as pool:
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < 2 * max(1, jobs):
                unit = next(units, None)
                if unit is None:
                    exhausted = True
                else:
                    pending.add(pool.submit(scan_unit, source, unit, rules, min_severity))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                scan = future.result()
                progress.add(scan)
                yield scan
                checkpoint.mark(scan.unit)
    progress.draw(final=True)


def _skipped(unit: Unit, checkpoint: Checkpoint, progress: Progress) -> bool:
    if checkpoint.is_done(unit):
        progress.skipped += 1
        return True
    return False


def default_jobs() -> int:
    return min(16, (os.cpu_count() or 1) * 4)
