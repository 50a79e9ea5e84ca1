"""`sessionguard scan` on every core against `--jobs 1`: the speedup of the parallel scan (issue #18).

    .venv/bin/python benchmarks/bench_scan.py [--sessions N] [--files F] [--repeat R] [--jobs N]

The corpus is bench_engine's generated Session Manager streams (seeded): N sessions, run 64 at a time as a fleet's
are, so each session's events are interleaved with others', written as F JSON Lines exports cut at arbitrary
lines, so sessions continue from one file into the next. Each run is the whole scan path in this process,
`sessionguard scan --jobs J FILE...` through the CLI's entry point: reading, parsing, grouping by session, the rule
pack loaded and its Linux patterns compiled (by this process in both cases: with --jobs N before the workers are
forked), the workers started and ended, scanning and writing the alerts. --jobs 1 and --jobs N alternate, best of R
each; both outputs must be the same bytes. With other work on the machine the wall times say little (Linux shares
the CPU between sessions, not processes: more workers get no more of it), so the CPU times are reported too, a
speedup modelled from them, and the spread: the ratio of each round's pair of runs.

The last line printed is one JSON object; `measure_scan_speedup()` returns it for `make bench` (bench_engine.py).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from sessionguard.archive.parallel import available_cpus
from sessionguard.cli import main as sessionguard

CONCURRENT_SESSIONS = 64


def write_corpus(folder: Path, sessions: int, files: int) -> list[Path]:
    """The bench corpus as `files` JSON Lines exports; their paths, in order."""
    from bench_engine import generate_corpus  # noqa: PLC0415 - bench_engine imports this module for `make bench`

    by_session: dict[str, list[str]] = {}
    for line in generate_corpus(sessions):
        by_session.setdefault(json.loads(line)["sessionId"], []).append(line)
    streams = list(by_session.values())
    lines: list[str] = []
    for start in range(0, len(streams), CONCURRENT_SESSIONS):  # a fleet: 64 sessions at a time, events interleaved
        running = streams[start : start + CONCURRENT_SESSIONS]
        for step in range(max(map(len, running))):
            lines += [events[step] for events in running if step < len(events)]
    paths = []
    for number in range(files):
        path = folder / f"export-{number:02d}.jsonl"
        part = lines[number * len(lines) // files : (number + 1) * len(lines) // files]
        path.write_text("\n".join(part) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


class Run(NamedTuple):
    wall: float
    cpu_here: float  # this process's CPU seconds (the CLI's own work, its pools' threads)
    cpu_workers: float  # its worker processes' CPU seconds
    output: str  # standard output, then standard error


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed_scan(paths: list[Path], jobs: int) -> Run:
    """One `sessionguard scan --jobs JOBS` over the paths: its wall and CPU times, and what it wrote."""
    out, err = io.StringIO(), io.StringIO()
    here, workers = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    status = sessionguard(["scan", "--jobs", str(jobs), *map(str, paths)], stdout=out, stderr=err)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"sessionguard scan exited {status}: {err.getvalue()[:2000]}")
    # The workers have exited by now (the pools are shut down), so their time is in RUSAGE_CHILDREN.
    here, workers = _cpu(resource.RUSAGE_SELF) - here, _cpu(resource.RUSAGE_CHILDREN) - workers
    return Run(wall, here, workers, out.getvalue() + err.getvalue())


def measure_scan_speedup(
    sessions: int = 2000, files: int = 8, repeat: int = 3, jobs: int | None = None
) -> dict[str, float | int | list[float]]:
    """`scan --jobs 1` against `scan --jobs N` (N: the available CPUs unless given) on the bench corpus."""
    cores = available_cpus()
    jobs = jobs or cores
    with tempfile.TemporaryDirectory() as directory:
        paths = write_corpus(Path(directory), sessions, files)
        corpus_bytes = sum(path.stat().st_size for path in paths)
        serial: list[Run] = []
        parallel: list[Run] = []
        for _ in range(repeat):
            serial.append(timed_scan(paths, 1))
            parallel.append(timed_scan(paths, jobs))
            if parallel[-1].output != serial[-1].output:
                raise RuntimeError(f"scan --jobs {jobs} wrote other bytes than --jobs 1")
    one = min(serial, key=lambda run: run.wall)
    many = min(parallel, key=lambda run: run.wall)
    serial_cpu = min(run.cpu_here for run in serial)
    parallel_here = min(run.cpu_here for run in parallel)
    parallel_workers = min(run.cpu_workers for run in parallel)
    return {
        "scan_parallel_speedup": round(one.wall / many.wall, 2),
        "scan_jobs": jobs,
        "cores": cores,
        "scan_jobs_1_s": round(one.wall, 3),
        "scan_jobs_n_s": round(many.wall, 3),
        # Load-independent: what --jobs N costs in CPU over --jobs 1, and the speedup N free cores would give if
        # the workers shared their CPU time evenly and all of the CLI's own time were serial (it is not all: it
        # loads the rule pack while the first workers parse), an estimate for a machine others are loading.
        "scan_cpu_overhead": round((parallel_here + parallel_workers) / serial_cpu, 2),
        "scan_cpu_model_speedup": round(serial_cpu / (parallel_here + parallel_workers / jobs), 2),
        # Each round's --jobs 1 over --jobs N, lowest first: how much the machine moved the figure above.
        "scan_round_speedups": sorted(
            round(one.wall / many.wall, 2) for one, many in zip(serial, parallel, strict=True)
        ),
        "scan_corpus_mib": round(corpus_bytes / (1 << 20), 1),
        "scan_files": files,
        "scan_sessions": sessions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="workers of the parallel runs (default: the CPUs)")
    args = parser.parse_args(argv)
    result = measure_scan_speedup(args.sessions, args.files, args.repeat, args.jobs)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
