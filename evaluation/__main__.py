"""`make eval`: prints the detection figures, then masking's when evaluation.masking is present, and ends with one
JSON line: {"detection": {...}, "masking": {...}}.

    python -m evaluation [--missed N]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
from typing import Any

from evaluation import detection


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description="detection and masking benchmark")
    parser.add_argument("--missed", type=int, default=0, metavar="N", help="also list the first N missed risky cases")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"detection": detection.main(show_missed=args.missed)}
    # Masking's benchmark is another module, written separately; it joins the same JSON line when it exists.
    if importlib.util.find_spec("evaluation.masking") is not None:
        masking = importlib.import_module("evaluation.masking")
        figures["masking"] = masking.main()
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
