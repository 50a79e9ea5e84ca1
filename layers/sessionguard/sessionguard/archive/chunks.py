"""The inputs of `sessionguard scan` as chunks: what one worker parses by itself (archive/parallel.py).

A chunk is a whole input, or a run of whole lines of a JSON Lines input. This process plans them and reads as
little as it can: of a regular file only its head (gzip or not, binary or not, JSON Lines or not) and, to cut a
large JSON Lines file, a block (64 KiB) at each cut to find the end of a line; the worker reads its own byte range. A
gzipped file, standard input and anything that is not a regular file (a pipe: `<(zcat x.gz)`) are read here, as
`decode_input` reads them, and their JSON Lines cut as text. Nothing is decoded differently for being cut: a cut
falls after a newline byte, which is never part of a UTF-8 sequence, so the replacement of bad bytes is the same.

A run of lines is read with `read_json_lines`, its lines numbered from 1; the worker says how many lines it held,
and this process moves its problems' line numbers to their place in the whole input (`Located`).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Final, NamedTuple, TextIO

from sessionguard.session.records import (
    GZIP_MAGIC,
    InputProblem,
    MalformedEvent,
    SessionEvent,
    decode_input,
    read_input,
    read_json_lines,
    refuse_binary,
)

# This process reads this much of each file to plan it (the binary test reads the first 8 KiB).
_HEAD_BYTES: Final = 64 * 1024
_BYTE_ORDER_MARK: Final = "\ufeff"


@dataclass(frozen=True, slots=True)
class Chunk:
    """What a worker parses by itself: a whole input (read as `read_input` reads it), or a run of whole lines of a
    JSON Lines input (`lines`, read line by line). The text is given when this process read it; otherwise the
    worker reads bytes [start, end) of the file `source` (a whole input: the file, through `decode_input`)."""

    source: str
    text: str | None = None
    start: int = 0
    end: int = 0
    lines: bool = False
    part: int = 0  # of a run of lines: its place among the input's runs

    @property
    def size(self) -> int:
        """About the work of parsing it: characters or bytes (a whole file's are not known; 0)."""
        return len(self.text) if self.text is not None else self.end - self.start


class ChunkEvents(NamedTuple):
    problems: list[InputProblem]
    sessions: dict[str, list[SessionEvent]]  # events per session id, in order of first appearance
    lines: int  # a run of lines: how many it held (its problems' line numbers count from 1)


def read_chunk(chunk: Chunk) -> ChunkEvents:
    """A chunk's events grouped by session, and its problems; a chunk that cannot be read is one problem."""
    try:
        text = _chunk_text(chunk)
    except OSError as error:
        return ChunkEvents([cannot_read(chunk.source, error)], {}, 0)
    except MalformedEvent as problem:
        return ChunkEvents([InputProblem(chunk.source, "", problem.reason)], {}, 0)
    items = read_json_lines(text, chunk.source) if chunk.lines else read_input(text, chunk.source)
    problems: list[InputProblem] = []
    sessions: dict[str, list[SessionEvent]] = {}
    for item in items:
        if isinstance(item, InputProblem):
            problems.append(item)
        else:
            sessions.setdefault(item.session_id, []).append(item)
    return ChunkEvents(problems, sessions, text.count("\n") if chunk.lines else 0)


def _chunk_text(chunk: Chunk) -> str:
    if chunk.text is not None:
        return chunk.text
    with open(chunk.source, "rb") as file:
        if not chunk.lines:
            return decode_input(file.read(), chunk.source)
        file.seek(chunk.start)
        data = file.read(chunk.end - chunk.start)
    text = data.decode("utf-8", errors="replace")
    return text.removeprefix(_BYTE_ORDER_MARK) if chunk.start == 0 else text  # as read_input drops it


def cannot_read(source: str, error: OSError) -> InputProblem:
    return InputProblem(source, "", f"cannot read: {error.strerror or error}")


# --- planning, in the scanning process -------------------------------------------------------------------------


def plan_inputs(paths: Sequence[str], stdin: TextIO, piece: int = 0) -> list[Chunk | InputProblem]:
    """Every input in order as chunks: whole (`piece` 0), or JSON Lines cut into runs of about `piece` characters;
    an input that cannot be read or decoded is one problem in its place (a file's found by its worker when whole)."""
    planned: list[Chunk | InputProblem] = []
    for path in paths:
        try:
            if path == "-":
                planned += split_text(Chunk(path, decode_input(_read_stdin(stdin), path)), piece)
            elif piece:
                planned += _plan_file(path, piece)
            else:
                planned.append(Chunk(path))
        except OSError as error:
            planned.append(cannot_read(path, error))
        except MalformedEvent as problem:
            planned.append(InputProblem(path, "", problem.reason))
    return planned


def _read_stdin(stdin: TextIO) -> bytes:
    return stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()


def _plan_file(path: str, piece: int) -> list[Chunk]:
    with open(path, "rb") as file:
        info = os.fstat(file.fileno())
        head = file.read(_HEAD_BYTES)
        if not stat.S_ISREG(info.st_mode) or head.startswith(GZIP_MAGIC):
            return split_text(Chunk(path, decode_input(head + file.read(), path)), piece)
        refuse_binary(head)
        if info.st_size <= piece or not _starts_json_lines(file, head, piece):
            return [Chunk(path, end=info.st_size)]
        ranges = _line_ranges(file, info.st_size, piece)
        return [Chunk(path, None, start, end, True, part) for part, (start, end) in enumerate(ranges)]


def _starts_json_lines(file: BinaryIO, head: bytes, longest: int) -> bool:
    """Whether the file reads line by line (see _json_lines), from its head and what follows its first line; a
    first line longer than `longest` bytes is not looked at (the file is read whole by one worker)."""
    data = head
    while (end := data.find(b"\n", 0, longest)) < 0 and len(data) < longest and (more := file.read(_HEAD_BYTES)):
        data += more
    if end < 0:
        return False
    rest = data[end + 1 :]
    while _NOT_BLANK.search(rest.decode("utf-8", errors="replace")) is None:
        rest = file.read(_HEAD_BYTES)
        if not rest:
            return False
    return _object_line(data[:end].decode("utf-8", errors="replace").removeprefix(_BYTE_ORDER_MARK))


def _line_ranges(file: BinaryIO, size: int, piece: int) -> Iterator[tuple[int, int]]:
    """Byte ranges of about `piece` bytes that end after a newline (the last at the end of the file)."""
    start = 0
    while start < size:
        end = size
        if start + piece < size:
            file.seek(start + piece)
            while data := file.read(_HEAD_BYTES):
                newline = data.find(b"\n")
                if newline >= 0:
                    end = min(size, file.tell() - len(data) + newline + 1)
                    break
        yield start, end
        start = end


def split_text(whole: Chunk, size: int) -> list[Chunk]:
    """An input read here: JSON Lines in runs of whole lines of about `size` characters; any other input whole."""
    text = whole.text or ""
    body = text.removeprefix(_BYTE_ORDER_MARK)  # read_input drops a byte-order mark at the start of the input only
    if not size or len(body) <= size or not _json_lines(body):
        return [whole]
    chunks: list[Chunk] = []
    start = 0
    while start < len(body):
        end = body.find("\n", start + size)
        end = len(body) if end < 0 else end + 1
        chunks.append(Chunk(whole.source, body[start:end], lines=True, part=len(chunks)))
        start = end
    return chunks


def _json_lines(text: str) -> bool:
    """Whether read_input reads `text` line by line: when its first line is a JSON object by itself and more
    follows, the whole text is not one JSON document, and one of its first lines is an object (read_input's test).
    Nothing is copied but the first line, and a first line longer than a piece is not looked at: such an input is
    read whole, by one worker, rather than parsed here too."""
    end = text.find("\n", 0, _LONGEST_FIRST_LINE)
    return end >= 0 and _NOT_BLANK.search(text, end + 1) is not None and _object_line(text[:end])


_LONGEST_FIRST_LINE: Final = 1 << 20
_NOT_BLANK: Final = re.compile(r"\S")


def _object_line(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


# --- problems in their place ------------------------------------------------------------------------------------

_LINE_NUMBER: Final = re.compile(r"line ([0-9]+)")


class Located:
    """The problems of each chunk in input order, the line numbers of a run of lines moved by the lines of the runs
    before it in the same input."""

    def __init__(self) -> None:
        self._before = 0  # the lines of the current input's runs so far

    def problems(self, chunk: Chunk, problems: list[InputProblem], lines: int) -> list[InputProblem]:
        """A chunk's problems, and the lines it held (ChunkEvents.lines); call for every chunk in input order."""
        before = self._before if chunk.part else 0
        self._before = before + lines
        if not before:
            return problems
        return [
            InputProblem(
                problem.source,
                _LINE_NUMBER.sub(lambda number: f"line {int(number[1]) + before}", problem.location, count=1),
                problem.reason,
            )
            for problem in problems
        ]
