"""python -m demo [--session FILE.jsonl] [--output DIR]: what `make demo` runs. Exit 0 when every step did what it
should, 1 when one did not (the message names the step), 2 for a usage error."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from demo.emulator import EmulatorUnavailable
from demo.pipeline import DEFAULT_OUTPUT, DEFAULT_SESSION, DemoFailed, DemoOptions, run_demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo",
        description="The whole SessionGuard pipeline on an embedded AWS emulator (no AWS account, no network).",
    )
    parser.add_argument(
        "--session",
        type=Path,
        default=DEFAULT_SESSION,
        help="JSON Lines file of Session Manager log events to replay (default: %(default)s)",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="where to write what was delivered (default: %(default)s)"
    )
    parser.add_argument("--no-color", action="store_true", help="plain output even on a terminal")
    parser.add_argument("--debug", action="store_true", help="print the traceback when a step fails")
    args = parser.parse_args(argv)
    options = DemoOptions(session=args.session, output=args.output, color=False if args.no_color else None)
    try:
        run_demo(options)
    except (DemoFailed, EmulatorUnavailable) as error:
        print(f"\nmake demo failed: {error}", file=sys.stderr)
        if args.debug:
            traceback.print_exception(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmake demo interrupted; the emulator and the capture server are stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
