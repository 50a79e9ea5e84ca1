"""`sessionguard scan` of files and standard input on every core (docs/cli.md, "Every core: --jobs").

The engine is pure Python, so threads would take turns on one core: the work goes to worker processes, each with a
pipe of its own, so that this process says which worker does what. It only plans and writes; the events stay in
the worker that parsed them. Three steps:

1. Parse. The inputs are chunks (archive/chunks.py): a worker reads its own byte range of a large JSON Lines file,
   parses it and keeps the events, and answers with the chunk's problems and the sessions it held (ids and sizes,
   no events). Each worker starts at its own part of the inputs and goes on through it, taking chunks from the end
   of another's part when its own is done: a worker's chunks are mostly consecutive, so most sessions (which run
   for a while, interleaved with others) are read by one worker whole.
2. Plan, here, once every chunk is parsed (a session may go on in the last file): each session goes to the worker
   holding most of its events; sessions move from the busiest worker to the least busy until their shares are
   even. A session's events read by other workers are sent to it through this process (marshal blobs): those of
   the sessions cut where one worker's chunks meet another's, and of those moved.
3. Scan. Each worker scans its sessions whole, each with all its events in input order, in output order, and
   sends back their JSON Lines (metadata masked) in batches; this process writes them in the order of each
   session's first event over the inputs, as `--jobs 1` does. A session is never split between workers, so its
   terminal, masking and session-rule state runs across all its events.

Forked workers share the rule pack this process loads (copied on write: no load of their own); spawned ones load
their own. A worker that fails or dies is reported (ScanWorkerError), never waited for. `--jobs 1`, and inputs too
small to pay for starting workers, run the same functions here with no worker: the output is the same bytes.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from multiprocessing.connection import Connection, wait
from operator import attrgetter
from pathlib import Path
from typing import Any, Final, NamedTuple, TextIO, cast

from sessionguard.archive.chunks import Chunk, Located, plan_inputs, read_chunk
from sessionguard.archive.rendering import AlertTally, ScanRenderer, report_problem
from sessionguard.archive.scanning import merge_stats
from sessionguard.rules import RulePack
from sessionguard.session.engine import EngineStats, SessionEngine, _cyclic_gc_paused
from sessionguard.session.records import InputProblem, SessionEvent
from sessionguard.severity import Severity

# A large JSON Lines input is parsed in chunks of about this many bytes (a worker's share of a large export).
PIECE_CHARS = 1 << 20  # not Final: the tests make it small, to read small files in several chunks
# Below this many bytes in all (~0.25 s of scanning on one core), compiling the Linux patterns for the workers
# (~0.08 s) and starting them (~0.01 s forked, ~0.3 s spawned) costs about what it saves (tests/functional set it
# to 0).
POOL_MIN_CHARS = 4 << 20
# A worker sends its sessions' JSON Lines back when it holds this many characters of them, or this many sessions.
_BATCH_CHARS: Final = 256 * 1024
_BATCH_SESSIONS: Final = 256
# How workers are started, in order of preference: fork inherits the imported modules and the rule pack (the
# cheapest start), and is used only on Linux while this process has no other thread (macOS's system libraries are
# not fork-safe); the workers need nothing inherited (see _Worker).
START_METHODS: tuple[str, ...] = ("fork", "forkserver", "spawn")


class ScanSettings(NamedTuple):
    """What a worker needs to build its rule pack and engine, and to write its output."""

    rules: tuple[Path, ...]
    min_severity: Severity
    transcript: bool


class ScanWorkerError(RuntimeError):
    """A worker process failed or died: the scan is incomplete. The message names the failure, never the data."""


@dataclass
class LocalScan:
    """What the summary needs of a scan: the alerts written (counted, the most severe kept), the engine's counts,
    the number of problems reported."""

    alerts: AlertTally = field(default_factory=AlertTally)
    stats: EngineStats = field(default_factory=EngineStats)
    problems: int = 0


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    return os.process_cpu_count() or 1


def local_jobs(jobs: int | None) -> int:
    """--jobs for files: as given, else one worker per available CPU."""
    return jobs if jobs is not None else available_cpus()


def scan_files(
    paths: Sequence[str], settings: ScanSettings, *, jobs: int, stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> LocalScan:
    """Scan files (and "-", standard input) on `jobs` workers: JSON Lines on stdout, each problem on stderr."""
    inputs = plan_inputs(paths, stdin, PIECE_CHARS if jobs > 1 else 0)
    pack = RulePack.load(settings.rules)  # a broken rule file fails here, before anything is written
    chunks = [item for item in inputs if isinstance(item, Chunk)]
    if jobs > 1 and chunks and sum(chunk.size for chunk in chunks) >= POOL_MIN_CHARS:
        return _scan_in_pool(inputs, pack, settings, jobs=jobs, stdout=stdout, stderr=stderr)
    return _scan_here(inputs, pack, settings, stdout, stderr)


def _scan_here(
    inputs: list[Chunk | InputProblem], pack: RulePack, settings: ScanSettings, stdout: TextIO, stderr: TextIO
) -> LocalScan:
    """The scan in this process: no worker, the reference the workers' output must equal."""
    scan = LocalScan()
    located = Located()
    sessions: dict[str, list[SessionEvent]] = {}
    for item in inputs:
        if isinstance(item, InputProblem):
            problems = [item]
        else:
            with _cyclic_gc_paused():  # the events make no reference cycles; the collector's passes cost ~20 %
                read = read_chunk(item)
            problems = located.problems(item, read.problems, read.lines)
            for session_id, events in read.sessions.items():
                sessions.setdefault(session_id, []).extend(events)
        scan.problems += len(problems)
        for problem in problems:
            report_problem(stderr, problem)
    scanner = _Scanner(pack, settings)
    for order, events in enumerate(sessions.values()):
        stdout.write(scanner.scan(events, order))
    scan.alerts, scan.stats = scanner.alerts, scanner.engine.stats
    return scan


class _Scanner:
    """One engine and renderer scanning whole sessions one after the other, and the tally of their alerts."""

    def __init__(self, pack: RulePack, settings: ScanSettings) -> None:
        self.engine = SessionEngine(pack, min_severity=settings.min_severity)
        self.renderer = ScanRenderer(transcript=settings.transcript)
        self.alerts = AlertTally()

    def scan(self, events: Iterable[SessionEvent], order: int) -> str:
        """A session's JSON Lines, its pending commands flushed at its end; `order`: its place in the output."""
        with _cyclic_gc_paused():  # as the engine pauses it
            output = self.renderer.render([*self.engine.scan(events), *self.engine.finish()])
        if output.alerts:
            self.alerts.add(output.alerts, order)
        return output.text


# --- this process: the plan --------------------------------------------------------------------------------------


class _Parsed(NamedTuple):
    """What a worker answers for a chunk it parsed (the events stay with it)."""

    worker: int
    problems: list[InputProblem]
    lines: int
    sessions: list[str]  # the ids of the sessions it held, in order of first appearance
    weights: list[int]  # per session: about the work of scanning its events there


@dataclass
class _Session:
    order: int  # place in the output: the order of first events over the inputs
    session_id: str
    chunks: list[int] = field(default_factory=list)  # the chunks holding its events, in input order
    weights: list[int] = field(default_factory=list)  # its weight in each
    owner: int = 0


def _scan_in_pool(
    inputs: list[Chunk | InputProblem],
    pack: RulePack,
    settings: ScanSettings,
    *,
    jobs: int,
    stdout: TextIO,
    stderr: TextIO,
) -> LocalScan:
    scan = LocalScan()
    chunks = [item for item in inputs if isinstance(item, Chunk)]
    with WorkerPool(min(jobs, len(chunks)), settings, pack) as pool:
        parsed = pool.parse(chunks)
        located = Located()
        sessions: dict[str, _Session] = {}
        parsed_chunks = iter(enumerate(zip(chunks, parsed, strict=True)))
        for item in inputs:
            if isinstance(item, InputProblem):
                problems = [item]
            else:
                index, (chunk, answer) = next(parsed_chunks)
                problems = located.problems(chunk, answer.problems, answer.lines)
                for session_id, weight in zip(answer.sessions, answer.weights, strict=True):
                    session = sessions.get(session_id) or sessions.setdefault(
                        session_id, _Session(len(sessions), session_id)
                    )
                    session.chunks.append(index)
                    session.weights.append(weight)
            scan.problems += len(problems)
            for problem in problems:
                report_problem(stderr, problem)
        owned = _share_out(list(sessions.values()), [answer.worker for answer in parsed], pool.size)
        for text in pool.scan(owned, [answer.worker for answer in parsed]):
            stdout.write(text)
        scan.alerts, scan.stats = pool.alerts, pool.stats
    return scan


def _share_out(sessions: list[_Session], worker_of: list[int], workers: int) -> list[list[_Session]]:
    """Each worker's sessions, in output order: each session to the worker holding most of it, then sessions moved
    from the busiest worker to the least busy while that evens their work out, those already partly held by the
    least busy first (less to send)."""
    load = [0] * workers
    for session in sessions:
        held = [0] * workers
        for chunk, weight in zip(session.chunks, session.weights, strict=True):
            held[worker_of[chunk]] += weight
        session.owner = held.index(max(held))
        load[session.owner] += sum(held)
    for _ in range(workers * workers):
        busiest, idlest = load.index(max(load)), load.index(min(load))
        gap = load[busiest] - load[idlest]
        if gap <= sum(load) // (100 * workers):  # within 1 % of a worker's share
            break
        moved = False
        by_share = sorted(
            (s for s in sessions if s.owner == busiest), key=lambda s: _held(s, worker_of, idlest), reverse=True
        )
        for session in by_share:
            weight = sum(session.weights)
            if weight < gap:  # moving it narrows the gap
                session.owner, moved = idlest, True
                load[busiest] -= weight
                load[idlest] += weight
                gap -= 2 * weight
            if gap <= 0:
                break
        if not moved:
            break
    owned: list[list[_Session]] = [[] for _ in range(workers)]
    for session in sessions:
        owned[session.owner].append(session)
    return owned


def _held(session: _Session, worker_of: list[int], worker: int) -> int:
    """How much of a session a worker read."""
    return sum(weight for c, weight in zip(session.chunks, session.weights, strict=True) if worker_of[c] == worker)


# --- this process: the workers -----------------------------------------------------------------------------------


class WorkerPool:
    """`size` worker processes, one pipe each. This process sends a worker a message only when the worker waits
    for one (so neither ever blocks on a full pipe while the other does), and reads answers as they come."""

    def __init__(self, size: int, settings: ScanSettings, pack: RulePack) -> None:
        self.size = max(1, size)
        self.settings, self.pack = settings, pack
        self.alerts = AlertTally()
        self.stats = EngineStats()
        self._connections: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._scanned: set[int] = set()  # the workers done with their sessions (and ended)

    def __enter__(self) -> WorkerPool:
        context = _start_context()
        forked = context.get_start_method() == "fork"
        if forked:
            self.pack.warm("linux")  # the workers inherit compiled sets instead of each compiling its own (~0.08 s)
            gc.freeze()  # the objects inherited stay untouched by the workers' collector: their pages stay shared
        try:
            for _ in range(self.size):
                here, there = context.Pipe()
                process = context.Process(
                    target=_work, args=(there, self.settings, self.pack if forked else None), daemon=True
                )
                process.start()
                there.close()  # only the worker holds its end: its death reads as the end of the pipe here
                self._connections.append(here)
                self._processes.append(process)
        finally:
            if forked:
                gc.unfreeze()
        return self

    def __exit__(self, *exc: object) -> None:
        for worker, (connection, process) in enumerate(zip(self._connections, self._processes, strict=True)):
            if exc[0] is not None:  # the scan stopped (a worker failed, ^C): the others' work is not wanted
                process.kill()
            elif worker not in self._scanned:
                connection.send(("stop",))  # it waits for a message; a worker that scanned has ended by itself
            connection.close()
        for process in self._processes:
            process.join()

    def _send(self, worker: int, *message: Any) -> None:
        self._connections[worker].send(message)

    def _receive(self) -> tuple[int, tuple[Any, ...]]:
        working = [connection for worker, connection in enumerate(self._connections) if worker not in self._scanned]
        connection = cast(Connection, wait(working)[0])
        worker = self._connections.index(connection)
        try:
            message: tuple[Any, ...] = connection.recv()
        except EOFError:
            self._processes[worker].join(timeout=5)
            status = self._processes[worker].exitcode
            raise ScanWorkerError(f"a scan worker stopped unexpectedly (exit status {status})") from None
        if message[0] == "failed":
            raise ScanWorkerError(f"a scan worker failed: {message[1]}")
        return worker, message

    def parse(self, chunks: list[Chunk]) -> list[_Parsed]:
        """Every chunk parsed; each worker starts at its own stretch of chunks, then helps the others from their
        ends."""
        stretches = _stretches([chunk.size or 1 for chunk in chunks], self.size)
        parsed: list[_Parsed | None] = [None] * len(chunks)

        def give(worker: int) -> None:
            own = stretches[worker]
            if own:
                index = own.pop(0)
            else:
                longest = max(stretches, key=len)
                if not longest:
                    return
                index = longest.pop()
            self._send(worker, "parse", index, chunks[index])

        for worker in range(self.size):
            give(worker)
        for _ in chunks:
            worker, (_, index, *answer) = self._receive()
            parsed[index] = _Parsed(worker, *answer)
            give(worker)
        return [answer for answer in parsed if answer is not None]

    def scan(self, owned: list[list[_Session]], worker_of: list[int]) -> Iterator[str]:
        """Each worker's sessions scanned by it, their JSON Lines given in output order as they come. The events
        a worker did not read itself are first asked of the workers that did."""
        handover = _Handover(owned, worker_of)
        for holder, items in enumerate(handover.wanted):
            if items:
                self._send(holder, "export", [(chunk, session_id) for chunk, session_id, _ in items])
        for worker in range(self.size):
            self._start_scan(worker, handover, owned[worker])
        texts: dict[int, str] = {}  # by place in the output, until the texts before are written
        written = done = 0
        returned = [0] * self.size  # per worker: how many of its sessions' texts came back
        while done < self.size:
            worker, message = self._receive()
            if message[0] == "exported":
                for ready in handover.exported(worker, message[1]):
                    self._start_scan(ready, handover, owned[ready])
            elif message[0] == "scanned":
                for text in message[1]:
                    texts[owned[worker][returned[worker]].order] = text
                    returned[worker] += 1
                while written in texts:
                    yield texts.pop(written)
                    written += 1
            else:
                _, stats, alerts = message
                merge_stats(self.stats, stats)
                self.alerts.merge(alerts)
                self._scanned.add(worker)
                done += 1

    def _start_scan(self, worker: int, handover: _Handover, sessions: list[_Session]) -> None:
        imports = handover.take(worker)
        if imports is not None:
            self._send(worker, "scan", imports, [(s.order, s.session_id, s.chunks) for s in sessions])


class _Handover:
    """The events of sessions that a worker scans but other workers read: asked of each holder once, then sent to
    the worker with its sessions, once every holder has answered and it has answered its own request."""

    def __init__(self, owned: list[list[_Session]], worker_of: list[int]) -> None:
        workers = len(owned)
        self.wanted: list[list[tuple[int, str, int]]] = [[] for _ in range(workers)]  # per holder: chunk, id, to
        for owner, sessions in enumerate(owned):
            for session in sessions:
                for chunk in session.chunks:
                    if worker_of[chunk] != owner:
                        self.wanted[worker_of[chunk]].append((chunk, session.session_id, owner))
        self._imports: list[list[tuple[int, str, bytes]]] = [[] for _ in range(workers)]
        self._owed = [0] * workers  # per worker: the holders it waits for
        for items in self.wanted:
            for owner in {owner for _, _, owner in items}:
                self._owed[owner] += 1
        self._exporting = [bool(items) for items in self.wanted]
        self._started = [False] * workers

    def exported(self, holder: int, blobs: list[bytes]) -> list[int]:
        """A holder's answer, its events sent on to their workers; the workers that may start now."""
        self._exporting[holder] = False
        owners: set[int] = set()
        for (chunk, session_id, owner), blob in zip(self.wanted[holder], blobs, strict=True):
            self._imports[owner].append((chunk, session_id, blob))
            owners.add(owner)
        for owner in owners:
            self._owed[owner] -= 1
        return [holder, *owners]

    def take(self, worker: int) -> list[tuple[int, str, bytes]] | None:
        """The events to send a worker with its sessions, once; None while it cannot start (or has started)."""
        if self._owed[worker] or self._exporting[worker] or self._started[worker]:
            return None
        self._started[worker] = True
        imports, self._imports[worker] = self._imports[worker], []
        return imports


def _stretches(sizes: list[int], workers: int) -> list[list[int]]:
    """The chunk indices cut into `workers` consecutive stretches of about equal size."""
    total = sum(sizes)
    stretches: list[list[int]] = [[] for _ in range(workers)]
    before = 0
    for index, size in enumerate(sizes):
        stretches[min(workers - 1, before * workers // max(1, total))].append(index)
        before += size
    return stretches


def _start_context() -> Any:  # a multiprocessing context (the stubs' BaseContext has no Process)
    available = multiprocessing.get_all_start_methods()
    for method in START_METHODS:
        # fork copies only the thread that calls it: a lock another thread held would stay locked in the child.
        forkable = sys.platform == "linux" and threading.active_count() == 1
        if method in available and (method != "fork" or forkable):
            return multiprocessing.get_context(method)
    return multiprocessing.get_context()


# --- a worker process --------------------------------------------------------------------------------------------


_new_tuple: Final = tuple.__new__
_lines: Final = attrgetter("lines")


class _Worker:
    """A worker's state: its scanner (built with the pack inherited when forked, else loaded here, once) and the
    events of the chunks it parsed, per chunk and session, until they are scanned or sent to another worker."""

    def __init__(self, settings: ScanSettings, pack: RulePack | None) -> None:
        self.scanner = _Scanner(pack or RulePack.load(settings.rules), settings)
        self.chunks: dict[int, dict[str, list[SessionEvent]]] = {}

    def parse(self, index: int, chunk: Chunk) -> tuple[Any, ...]:
        with _cyclic_gc_paused():
            events = read_chunk(chunk)
        self.chunks[index] = events.sessions
        weights = [len(session) + sum(map(len, map(_lines, session))) for session in events.sessions.values()]
        return "parsed", index, events.problems, events.lines, list(events.sessions), weights

    def export(self, items: list[tuple[int, str]]) -> tuple[Any, ...]:
        """The events asked for, as marshal blobs of plain tuples (they leave this worker)."""
        return "exported", [marshal.dumps([tuple(e) for e in self.chunks[c].pop(s)]) for c, s in items]

    def scan(self, connection: Connection, imports: list[tuple[int, str, bytes]], plan: list[Any]) -> None:
        for chunk, session_id, blob in imports:
            events: list[tuple[Any, ...]] = marshal.loads(blob)  # noqa: S302 - made by a worker of this pool
            self.chunks.setdefault(chunk, {})[session_id] = [_new_tuple(SessionEvent, fields) for fields in events]
        texts: list[str] = []
        size = 0
        for order, session_id, chunks in plan:
            text = self.scanner.scan(chain.from_iterable(self.chunks[c].pop(session_id) for c in chunks), order)
            texts.append(text)
            size += len(text)
            if size >= _BATCH_CHARS or len(texts) >= _BATCH_SESSIONS:
                connection.send(("scanned", texts))
                texts, size = [], 0
        connection.send(("scanned", texts))
        connection.send(("done", self.scanner.engine.stats, self.scanner.alerts))


def _work(connection: Connection, settings: ScanSettings, pack: RulePack | None) -> None:
    """A worker's life: messages from the scanning process until its sessions are scanned (its last task: ending
    then lets the system free its memory while the others finish) or it is told to stop. A failure is sent back by
    its type and place in the code (never its message, which could quote the data), and ends the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C reaches the whole process group: the scanning process stops us
    try:
        worker = _Worker(settings, pack)
        while True:
            try:
                message = connection.recv()
            except EOFError:
                return
            if message[0] == "stop":
                return
            if message[0] == "parse":
                connection.send(worker.parse(*message[1:]))
            elif message[0] == "export":
                connection.send(worker.export(*message[1:]))
            else:
                worker.scan(connection, *message[1:])
                return
    except Exception as error:
        place = traceback.extract_tb(error.__traceback__)[-1]
        with contextlib.suppress(OSError):  # the scanning process may be gone (then so is the pipe)
            connection.send(("failed", f"{type(error).__name__} at {Path(place.filename).name}:{place.lineno}"))
