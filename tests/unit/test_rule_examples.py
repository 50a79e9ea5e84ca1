"""Every default rule's own examples, one test each: `SG-HIST-001-match-0` fails alone when it regresses."""

from __future__ import annotations

import pytest
from sessionguard.rules import Rule, RulePack

PACK = RulePack.load()


def _cases() -> list[object]:
    cases: list[object] = []
    for rule in PACK.rules:
        for index, example in enumerate(rule.examples_match):
            cases.append(pytest.param(rule, example, True, id=f"{rule.id}-match-{index}"))
        for index, example in enumerate(rule.examples_no_match):
            cases.append(pytest.param(rule, example, False, id=f"{rule.id}-no_match-{index}"))
    return cases


@pytest.mark.parametrize(("rule", "example", "should_match"), _cases())
def test_rule_example(rule: Rule, example: str, should_match: bool) -> None:
    # A session rule's examples are its later command, as if what it waits for had matched earlier.
    earlier = rule.after
    matched = {match.rule.id: match.segment for match in PACK.match(example, platform=rule.platform, earlier=earlier)}
    if should_match:
        assert rule.id in matched, f"{rule.id} should match {example!r}"
    else:
        assert rule.id not in matched, f"{rule.id} should not match {example!r} (matched {matched.get(rule.id)!r})"
