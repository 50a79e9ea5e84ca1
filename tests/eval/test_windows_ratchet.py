"""Windows detection must not regress on its public corpus (evaluation/corpus/windows): recall at or above, noise at
or below, the figures committed in evaluation/ratchet-windows.json. Raise them there when detection improves
(`python -m evaluation.windows` prints the new figures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation import windows

RATCHET = Path(__file__).parents[2] / "evaluation" / "ratchet-windows.json"


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return windows.evaluate(windows.load_cases(windows.CORPUS)).summary()


@pytest.fixture(scope="module")
def ratchet() -> dict[str, Any]:
    committed: dict[str, Any] = json.loads(RATCHET.read_text(encoding="utf-8"))["windows"]
    return committed


def test_the_corpus_has_the_size_the_ratchet_was_measured_on(figures: dict[str, Any], ratchet: dict[str, Any]) -> None:
    assert figures["risky_cases"] >= ratchet["risky_cases"]
    assert figures["benign_cases"] >= ratchet["benign_cases"] >= 1000


def test_recall_does_not_drop(figures: dict[str, Any], ratchet: dict[str, Any]) -> None:
    assert figures["recall_any"] >= ratchet["recall_any"]
    assert figures["recall_medium"] >= ratchet["recall_medium"]


def test_noise_does_not_rise(figures: dict[str, Any], ratchet: dict[str, Any]) -> None:
    assert figures["noise_medium"] <= ratchet["noise_medium"], figures["noise_by_rule"]


def test_recall_of_each_source_does_not_drop(figures: dict[str, Any], ratchet: dict[str, Any]) -> None:
    dropped = {
        name: (figures["by_source"].get(name, {}).get("any", 0.0), floor)
        for name, floor in ratchet["by_source"].items()
        if figures["by_source"].get(name, {}).get("any", 0.0) < floor
    }
    assert not dropped, f"recall (now, committed) dropped: {dropped}"
