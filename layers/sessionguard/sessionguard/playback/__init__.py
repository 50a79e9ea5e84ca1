"""Sessions played back: `sessionguard replay` (docs/replay.md).

`recording` turns one session's events into a `Recording` built from the engine's masked output only (masked lines,
alerts, masked metadata) and timed from the events' own times, and writes it as an asciicast v2 file; `page` wraps
a recording and the vendored asciinema-player (`vendor/`, Apache-2.0) into one self-contained HTML page. Pure: the
caller reads the input.
"""
