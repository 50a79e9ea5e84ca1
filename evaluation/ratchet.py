"""Writes evaluation/ratchet.json's detection figures from a fresh run (`python -m evaluation.ratchet`): run it when
detection improved, review the diff, commit. tests/eval/test_detection_ratchet.py holds the code to them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evaluation import detection

RATCHET = Path(__file__).parent / "ratchet.json"


def ratchet_figures(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "risky_cases": summary["risky_cases"],
        "benign_cases": summary["benign_cases"],
        "recall_any": summary["recall_any"],
        "recall_medium": summary["recall_medium"],
        "noise_medium": summary["noise_medium"],
        "by_source": {name: tally["any"] for name, tally in summary["by_source"].items()},
        "gtfobins_functions": {name: tally["any"] for name, tally in summary["gtfobins_functions"].items()},
    }


def main() -> None:
    summary = detection.evaluate(detection.load_cases()).summary()
    RATCHET.write_text(
        json.dumps({"detection": ratchet_figures(summary)}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(RATCHET.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
