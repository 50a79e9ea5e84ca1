"""`make eval`: prints the Linux detection figures, then Windows detection's and masking's, and ends with one JSON
line: {"detection": {...}, "windows": {...}, "masking": {...}}.

    python -m evaluation [--missed N]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from evaluation import detection, masking, windows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description="detection and masking benchmark")
    parser.add_argument("--missed", type=int, default=0, metavar="N", help="also list the first N missed risky cases")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {
        "detection": detection.main(show_missed=args.missed),
        "windows": windows.main(show_missed=args.missed),
        "masking": masking.main(),
    }
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
