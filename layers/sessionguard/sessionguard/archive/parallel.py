"""`sessionguard scan` of files and standard input on every core (docs/cli.md, "Every core: --jobs").

The engine is pure Python, so threads would take turns on one core: the work goes to worker processes. Three steps:

1. Read, in this process: each input's bytes, decoded as `decode_input` decodes them (gzip, binary refused, the size
   cap). A JSON Lines input is cut at line ends into pieces of about PIECE_CHARS; any other form is one piece.
2. Parse, on the workers: each piece into session events and problems. The events come back grouped by session,
   one marshal blob per session and piece (about a fifth of what pickling the named tuples costs).
3. Scan, on the same workers: whole sessions, in order of first appearance over all inputs, each with all its
   events in input order, wherever they were read. A session is never split between workers, so its terminal,
   masking and session-rule state runs across all its events, and a worker holds one batch of whole sessions at a
   time. Each batch's JSON Lines are written by the worker (metadata masked), and this process writes them in
   session order.

Forked workers share the rule pack this process loads (copied on write: no load of their own); spawned ones load
their own, once, in the pool's initializer.

So the output is the same bytes whatever --jobs is: `--jobs 1`, and inputs too small to pay for starting workers,
run the same functions here, with no pool. Only this process holds every session's events until they are scanned.
"""

from __future__ import annotations

import json
import marshal
import multiprocessing
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Final, NamedTuple, TextIO

from sessionguard.alerting.text import visible
from sessionguard.archive.scanning import merge_stats
from sessionguard.masking.masker import mask_secrets
from sessionguard.rules import RuleError, RulePack
from sessionguard.session.engine import CommandAlert, EngineStats, SanitizedLine, SessionEngine, _cyclic_gc_paused
from sessionguard.session.records import InputProblem, MalformedEvent, SessionEvent, decode_input, read_input
from sessionguard.severity import Severity

# A JSON Lines input is parsed in pieces of about this many characters (a worker's share of a large export).
PIECE_CHARS = 1 << 20  # not Final: the tests make it small, to read small files in several pieces
# Below this many characters in all (~0.4 s of scanning), starting workers (~0.1 s forked, ~0.5 s spawned) costs
# more than it saves (tests/functional set it to 0).
POOL_MIN_CHARS = 4 << 20
# Parse tasks and scan batches per worker: enough that a worker finishing early finds more work.
TASKS_PER_JOB: Final = 8
# How workers are started, in order of preference: fork inherits the imported modules and the rule pack (the
# cheapest start), and is used only on Linux while this process has no other thread (macOS's system libraries are
# not fork-safe); the workers need nothing inherited (see _Worker).
START_METHODS: tuple[str, ...] = ("fork", "forkserver", "spawn")


class ScanSettings(NamedTuple):
    """What a worker needs to build its rule pack and engine, and to write its output."""

    rules: tuple[Path, ...]
    min_severity: Severity
    transcript: bool


@dataclass
class ScanOutput:
    """What scanning some sessions gave: their JSON Lines, their alerts (metadata masked), and the engine's counts
    (a worker's engine's, for the batch)."""

    text: str = ""
    alerts: list[CommandAlert] = field(default_factory=list)
    stats: EngineStats = field(default_factory=EngineStats)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    return os.process_cpu_count() or 1


def local_jobs(jobs: int | None) -> int:
    """--jobs for files: as given, else one worker per available CPU."""
    return jobs if jobs is not None else available_cpus()


# --- rendering -------------------------------------------------------------------------------------------------


class ScanRenderer:
    """The JSON Lines records of `scan`: alerts with their metadata masked, and with --transcript every masked line.
    The engine masks commands and transcript lines, but a session id, an instance id or a user ARN can carry a
    secret too; each distinct value goes through the masker once (a transcript repeats its session id per line)."""

    def __init__(self, *, transcript: bool) -> None:
        self.transcript = transcript
        self._masked: dict[str, str] = {}

    def mask(self, value: str) -> str:
        masked = self._masked.get(value)
        if masked is None:
            masked = self._masked[value] = mask_secrets(value)
        return masked

    def render(self, results: Iterable[CommandAlert | SanitizedLine]) -> ScanOutput:
        output = ScanOutput()
        lines: list[str] = []
        mask = self.mask
        for result in results:
            if isinstance(result, CommandAlert):
                alert = result._replace(
                    session_id=mask(result.session_id), instance_id=mask(result.instance_id), user=mask(result.user)
                )
                output.alerts.append(alert)
                lines.append(json_line(alert.to_json()))
            elif self.transcript:
                lines.append(json_line(result._replace(session_id=mask(result.session_id)).to_json()))
        output.text = "".join(lines)
        return output


def json_line(record: dict[str, Any]) -> str:
    """One JSON Lines record that a terminal cannot act on and that splits into lines only at its end: json
    escapes C0 controls itself, and every other character that is not printable (C1 controls, bidi overrides,
    U+2028, U+0085, lone surrogates) is written as a \\u escape. JSON readers get the same value back."""
    text = json.dumps(record, ensure_ascii=False)
    if not text.isprintable():
        text = _NOT_ASCII.sub(_json_escape, text)
    return text + "\n"


_NOT_ASCII: Final = re.compile(r"[^\x20-\x7e]")


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char
    units = char.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(units[i : i + 2]):04x}" for i in range(0, len(units), 2))


def scan_sessions(
    engine: SessionEngine, sessions: Iterable[Sequence[SessionEvent]], renderer: ScanRenderer
) -> ScanOutput:
    """Each session scanned whole (its pending commands flushed at its end), and its records rendered."""
    texts: list[str] = []
    alerts: list[CommandAlert] = []
    with _cyclic_gc_paused():  # as the engine pauses it, and also while the sessions' events are made (_scan_task)
        for events in sessions:
            output = renderer.render([*engine.scan(events), *engine.finish()])
            texts.append(output.text)
            alerts += output.alerts
    return ScanOutput("".join(texts), alerts)


# --- reading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piece:
    """An input, or a run of whole lines of a JSON Lines input, read by itself."""

    source: str
    text: str
    first_line: int = 0  # 0: the whole input (read_input's own form detection); n: lines from line n of JSON Lines


class PieceEvents(NamedTuple):
    problems: list[InputProblem]
    sessions: dict[str, list[SessionEvent]]  # events per session id, in order of first appearance


def read_inputs(paths: Sequence[str], stdin: TextIO, piece_chars: int = 0) -> list[Piece | InputProblem]:
    """Every input in order, whole or (with `piece_chars`) JSON Lines split into pieces; an input that cannot be
    read or decoded is one problem in its place."""
    inputs: list[Piece | InputProblem] = []
    for path in paths:
        try:
            whole = Piece(path, decode_input(_read(path, stdin), path))
        except OSError as error:
            inputs.append(InputProblem(path, "", f"cannot read: {error.strerror or error}"))
        except MalformedEvent as problem:
            inputs.append(InputProblem(path, "", problem.reason))
        else:
            inputs += split_input(whole, piece_chars) if piece_chars else [whole]
    return inputs


def _read(path: str, stdin: TextIO) -> bytes:
    if path == "-":
        return stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
    return Path(path).read_bytes()


def split_input(whole: Piece, size: int) -> list[Piece]:
    """A JSON Lines input in runs of whole lines of about `size` characters; any other input whole."""
    source, text = whole.source, whole.text
    body = text.removeprefix("\ufeff")  # read_input drops a byte-order mark at the start of the input only
    if len(body) <= size or not _json_lines(body):
        return [whole]
    pieces: list[Piece] = []
    start, line = 0, 1
    while start < len(body):
        end = body.find("\n", start + size)
        end = len(body) if end < 0 else end + 1
        piece = body[start:end]
        pieces.append(Piece(source, piece, line))
        line += piece.count("\n")
        start = end
    return pieces


def _json_lines(text: str) -> bool:
    """Whether read_input reads `text` line by line: when its first line is a JSON object by itself and more
    follows, the whole text is not one JSON document, and one of its first lines is an object (read_input's test).
    Nothing is copied but the first line, and a first line longer than a piece is not looked at: such an input is
    read whole, by one worker, rather than parsed here too."""
    end = text.find("\n", 0, PIECE_CHARS)
    if end < 0 or _NOT_BLANK.search(text, end + 1) is None:
        return False
    try:
        return isinstance(json.loads(text[:end]), dict)
    except (ValueError, RecursionError):
        return False


_NOT_BLANK: Final = re.compile(r"\S")


# A piece of JSON Lines is read by read_input after a first line that is a JSON object: that makes read_input read
# the piece line by line, as it reads the whole input (a run of lines cut from JSON Lines could otherwise read as one
# document: `[`, an event, `]`). The object is no session event, so it is always exactly one problem, dropped here.
_LINE_BY_LINE: Final = "{}\n"
_LINE_NUMBER: Final = re.compile(r"line ([0-9]+)")


def read_piece(piece: Piece) -> PieceEvents:
    """A piece's events, grouped by session, and its problems, located in the whole input."""
    shift: int | None = None
    if not piece.first_line:
        items: Iterator[SessionEvent | InputProblem] = read_input(piece.text, piece.source)
    else:
        items = read_input(_LINE_BY_LINE + piece.text, piece.source)
        marker = next(items)
        if not isinstance(marker, InputProblem) or marker.location != "line 1":
            raise AssertionError("read_input no longer reads JSON Lines line by line")  # a test says where
        shift = piece.first_line - 2  # the piece's second line (its first own line) is line `first_line`
    with _cyclic_gc_paused():  # the events make no reference cycles; the collector's passes over them cost ~20 %
        return _grouped(items, shift)


def _grouped(items: Iterator[SessionEvent | InputProblem], shift: int | None) -> PieceEvents:
    """Events grouped by session and problems, their line numbers moved by `shift` (None: as they are)."""
    result = PieceEvents([], {})
    for item in items:
        if isinstance(item, InputProblem):
            if shift is not None:
                where = _LINE_NUMBER.sub(lambda number: f"line {int(number[1]) + shift}", item.location, count=1)
                result.problems.append(InputProblem(item.source, where, item.reason))
            else:
                result.problems.append(item)
        else:
            result.sessions.setdefault(item.session_id, []).append(item)
    return result


# --- the scan --------------------------------------------------------------------------------------------------


@dataclass
class LocalScan:
    """What the summary needs of a scan: the alerts written (metadata masked), the engine's counts, the number of
    problems reported."""

    alerts: list[CommandAlert] = field(default_factory=list)
    stats: EngineStats = field(default_factory=EngineStats)
    problems: int = 0


def scan_files(
    paths: Sequence[str], settings: ScanSettings, *, jobs: int, stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> LocalScan:
    """Scan files (and "-", standard input) on `jobs` workers: JSON Lines on stdout, each problem on stderr."""
    inputs = read_inputs(paths, stdin, PIECE_CHARS if jobs > 1 else 0)
    if jobs > 1 and sum(len(item.text) for item in inputs if isinstance(item, Piece)) >= POOL_MIN_CHARS:
        return _scan_in_pool(inputs, settings, jobs, stdout, stderr)
    return _scan_here(inputs, RulePack.load(settings.rules), settings, stdout, stderr)


def report_problem(stderr: TextIO, problem: InputProblem) -> None:
    """One input problem on standard error; a file name can be as hostile as the data (an S3 key)."""
    where = f"{problem.location}: " if problem.location else ""
    print(f"sessionguard: {visible(problem.source)}: {where}{problem.reason}", file=stderr)


def _scan_here(
    inputs: list[Piece | InputProblem], pack: RulePack, settings: ScanSettings, stdout: TextIO, stderr: TextIO
) -> LocalScan:
    """The scan in this process: no pool, the reference the pool's output must equal."""
    scan = LocalScan()
    sessions: dict[str, list[SessionEvent]] = {}
    for item in inputs:
        part = PieceEvents([item], {}) if isinstance(item, InputProblem) else read_piece(item)
        scan.problems += len(part.problems)
        for problem in part.problems:
            report_problem(stderr, problem)
        for session_id, events in part.sessions.items():
            sessions.setdefault(session_id, []).extend(events)
    engine = SessionEngine(pack, min_severity=settings.min_severity)
    renderer = ScanRenderer(transcript=settings.transcript)
    for events in sessions.values():
        output = scan_sessions(engine, [events], renderer)
        stdout.write(output.text)
        scan.alerts += output.alerts
    scan.stats = engine.stats
    return scan


def _scan_in_pool(
    inputs: list[Piece | InputProblem], settings: ScanSettings, jobs: int, stdout: TextIO, stderr: TextIO
) -> LocalScan:
    """Parse the pieces, then scan the sessions, on one pool of workers."""
    scan = LocalScan()
    pieces = [item for item in inputs if isinstance(item, Piece)]
    with process_pool(jobs, settings) as pool:
        rules_loaded = pool.submit(_rules_loaded)
        sizes = [len(piece.text) for piece in pieces]
        parsing = _submit_runs(pool, _read_task, pieces, sizes, jobs * TASKS_PER_JOB)
        problems: list[InputProblem] = []
        sessions: dict[str, list[bytes]] = {}
        parsed = chain.from_iterable(future.result() for future in parsing)
        for item in inputs:
            if isinstance(item, InputProblem):
                problems.append(item)
                continue
            piece_problems, piece_sessions = next(parsed)
            problems += piece_problems
            for session_id, blob in piece_sessions.items():
                sessions.setdefault(session_id, []).append(blob)
        inputs.clear()  # the text is parsed: only the events are needed now
        pieces.clear()
        rules_loaded.result()  # a broken rule file: RuleError here, before anything is written, as without a pool
        scan.problems = len(problems)
        for problem in problems:
            report_problem(stderr, problem)
        blobs = list(sessions.values())
        weights = [sum(map(len, session)) for session in blobs]
        for future in _submit_runs(pool, _scan_task, blobs, weights, jobs * TASKS_PER_JOB):
            output = future.result()
            stdout.write(output.text)
            scan.alerts += output.alerts
            merge_stats(scan.stats, output.stats)
    return scan


def _submit_runs[T, R](
    pool: ProcessPoolExecutor, task: Callable[[list[T]], R], items: list[T], weights: list[int], count: int
) -> list[Future[R]]:
    """`task` over consecutive runs of `items` of about equal weight, the heaviest submitted first (a large session
    started last would leave the other workers idle at the end); the futures in the runs' order."""
    runs = _runs(weights, count)
    futures: dict[int, Future[R]] = {}
    for index in sorted(range(len(runs)), key=lambda run: -sum(weights[i] for i in runs[run])):
        futures[index] = pool.submit(task, [items[i] for i in runs[index]])
    return [futures[index] for index in range(len(runs))]


def _runs(weights: Sequence[int], count: int) -> list[range]:
    """Consecutive index ranges of about sum(weights) / count each (an item heavier than that ends its run)."""
    target = max(1, sum(weights) // max(1, count))
    runs: list[range] = []
    start = total = 0
    for index, weight in enumerate(weights):
        total += weight
        if total >= target:
            runs.append(range(start, index + 1))
            start, total = index + 1, 0
    if start < len(weights):
        runs.append(range(start, len(weights)))
    return runs


# --- the workers -----------------------------------------------------------------------------------------------


def process_pool(jobs: int, settings: ScanSettings) -> ProcessPoolExecutor:
    """`jobs` workers, each with a rule pack: forked, they share the one loaded here (copied on write; a broken rule
    file fails here, before anything is written), else each loads its own, once."""
    context = _start_context()
    pack = None
    if context.get_start_method() == "fork":
        pack = RulePack.load(settings.rules)
        pack.warm("linux")  # the workers inherit compiled sets instead of each compiling its own (~0.1 s)
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(settings, pack))


def _start_context() -> multiprocessing.context.BaseContext:
    available = multiprocessing.get_all_start_methods()
    for method in START_METHODS:
        # fork copies only the thread that calls it: a lock another thread held would stay locked in the child.
        forkable = sys.platform == "linux" and threading.active_count() == 1
        if method in available and (method != "fork" or forkable):
            return multiprocessing.get_context(method)
    return multiprocessing.get_context()


class _Worker:
    """A worker's rule pack and renderer, built once by the pool's initializer. Only a forked worker is given the
    pack (fork passes the initializer's arguments by memory); any other builds it from the settings, which is all it
    needs. A broken rule file is kept as its message and raised by the tasks (raised by the initializer, it would
    break the pool without saying why)."""

    def __init__(self, settings: ScanSettings, pack: RulePack | None) -> None:
        self.settings = settings
        self.pack = pack
        self.error = ""
        if pack is None:
            try:
                self.pack = RulePack.load(settings.rules)
            except RuleError as error:
                self.error = str(error)
        self.renderer = ScanRenderer(transcript=settings.transcript)

    def engine(self) -> SessionEngine:
        if self.pack is None:
            raise RuleError(self.error)
        return SessionEngine(self.pack, min_severity=self.settings.min_severity)


_worker: _Worker | None = None
_new_tuple: Final = tuple.__new__


def _start_worker(settings: ScanSettings, pack: RulePack | None) -> None:
    global _worker  # noqa: PLW0603 - the one state of a worker process, set once by the pool's initializer
    _worker = _Worker(settings, pack)


def _this_worker() -> _Worker:
    if _worker is None:
        raise RuntimeError("not a scan worker")
    return _worker


def _rules_loaded() -> None:
    _this_worker().engine()


def _read_task(pieces: list[Piece]) -> list[tuple[list[InputProblem], dict[str, bytes]]]:
    """Each piece's problems, and its events per session as one marshal blob (plain tuples of str and bool)."""
    return [
        (
            part.problems,
            {session: marshal.dumps([tuple(event) for event in events]) for session, events in part.sessions.items()},
        )
        for part in map(read_piece, pieces)
    ]


def _unmarshal(blob: bytes) -> list[tuple[Any, ...]]:
    """A blob of `_read_task`'s, made by a worker of this pool (marshal is no format for data from elsewhere)."""
    events: list[tuple[Any, ...]] = marshal.loads(blob)  # noqa: S302 - see above
    return events


def _scan_task(sessions: list[list[bytes]]) -> ScanOutput:
    """Whole sessions, each from the blobs of the pieces that held its events, in input order."""
    worker = _this_worker()
    engine = worker.engine()
    events = ([_new_tuple(SessionEvent, fields) for blob in blobs for fields in _unmarshal(blob)] for blobs in sessions)
    output = scan_sessions(engine, events, worker.renderer)
    output.stats = engine.stats
    return output
