"""Masking must not get worse on gitleaks' samples, nor leak more of trufflehog's (evaluation/masking.py; figures
in ratchet-masking.json).

When masking improves, lower the committed figures: `python -m evaluation.masking` prints them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation import masking

RATCHET = Path(__file__).parents[2] / "evaluation" / "ratchet-masking.json"


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return masking.evaluate()


def test_the_corpus_is_the_one_the_ratchet_was_measured_on(figures: dict[str, Any]) -> None:
    committed = json.loads(RATCHET.read_text())
    cases = {name: figure["cases"] for name, figure in figures["placements"].items()}
    assert cases == committed["cases"]
    assert figures["over_masking"]["cases"] == committed["over_masking_cases"]
    assert figures["over_masking_all_samples"]["cases"] == committed["false_positive_samples"]
    assert figures["benign_masked"]["cases"] == committed["benign_cases"]


def test_leaks_do_not_rise_in_any_placement(figures: dict[str, Any]) -> None:
    committed = json.loads(RATCHET.read_text())
    leaks = {name: figure["count"] for name, figure in figures["placements"].items()}
    worse = {name: (leaks[name], limit) for name, limit in committed["leaked"].items() if leaks[name] > limit}
    assert not worse, f"more leaks than committed (now, committed): {worse}; by rule: {figures['leaks_by_rule']}"


@pytest.fixture(scope="module")
def trufflehog() -> dict[str, Any]:
    return masking.trufflehog_figures()


def test_trufflehog_leaks_do_not_rise_in_any_placement(trufflehog: dict[str, Any]) -> None:
    committed = json.loads(RATCHET.read_text())["trufflehog"]
    assert {name: figure["cases"] for name, figure in trufflehog["placements"].items()} == committed["cases"]
    leaks = {name: figure["count"] for name, figure in trufflehog["placements"].items()}
    worse = {name: (leaks[name], limit) for name, limit in committed["leaked"].items() if leaks[name] > limit}
    assert not worse, f"more leaks than committed (now, committed): {worse}; by rule: {trufflehog['leaks_by_rule']}"


def test_over_masking_does_not_rise(figures: dict[str, Any]) -> None:
    committed = json.loads(RATCHET.read_text())
    assert figures["over_masking"]["count"] <= committed["over_masked"], figures["over_masked_examples"]
    assert figures["over_masking_all_samples"]["count"] <= committed["over_masked_all_samples"]
    assert figures["benign_masked"]["count"] <= committed["benign_masked"], figures["over_masked_examples"]


@pytest.mark.parametrize(
    ("secret", "output", "leaks"),
    [
        ("ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z", "GH=[MASKED:github-token]", False),
        ("ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z", "GH=ghp_aB3dE5fG7h[MASKED:x]", True),  # 12 characters seen
        ("ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z", "GH=ghp_aB3dE5f[MASKED:x]", False),  # 11 only
        ("short-secret", "x short-secret y", True),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAn6/O8li\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\n[MASKED:private-key]\n-----END RSA PRIVATE KEY-----",
            False,
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAn6/O8li\n-----END RSA PRIVATE KEY-----",
            "x MIIEpAIBAAKC x",
            True,
        ),
    ],
)
def test_a_leak_is_the_value_or_a_12_character_window_of_it(secret: str, output: str, leaks: bool) -> None:
    assert masking.leaked(secret, output) is leaks


def test_every_over_masked_false_positive_has_one_reason(figures: dict[str, Any]) -> None:
    reasons = figures["over_masking_reasons"]
    assert list(reasons) == list(masking.OVER_MASKING_REASONS)
    assert sum(reasons.values()) == figures["over_masking_all_samples"]["count"]
    assert (
        reasons[masking.OVER_MASKING_REASONS[0]]
        == figures["over_masking_all_samples"]["count"] - figures["over_masking"]["count"]
    )


def test_the_goal_is_met_on_the_negatives(figures: dict[str, Any]) -> None:
    """Issue #20: at most a tenth of the strings gitleaks says are no secret get a marker, and at most 1 % of
    the secrets leak (all placements)."""
    assert figures["over_masking"]["percent"] <= 10.0, figures["over_masked_examples"]
    assert figures["all"]["percent"] <= 1.0, figures["leaks_by_rule"]


@pytest.mark.parametrize(
    ("flagged", "path_only", "reason"),
    [(True, True, 0), (True, False, 0), (False, True, 1), (False, False, 2)],
)
def test_a_false_positive_another_rule_flags_counts_as_that_first(flagged: bool, path_only: bool, reason: int) -> None:
    case = masking.Case("s", "rule", "literal", "fp", ("x",), (), flagged, path_only)
    assert masking.over_masking_reason(case) == masking.OVER_MASKING_REASONS[reason]
