"""Provider-token shapes are data (masking/tokens.yaml): every entry's examples hold, and the loader is strict.

The self-test is the one detection rules have: each `mask` example must come out of mask_secrets with a marker of
the entry's kind and without the value, each `keep` example without such a marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sessionguard.masking.kinds import MARKER_PREFIX
from sessionguard.masking.masker import RULES, mask_secrets
from sessionguard.masking.rules import Rule
from sessionguard.masking.tokens import TokenShape, TokenShapeError, token_rules, token_shapes

SHAPES = token_shapes()


def _id(shape: TokenShape) -> str:
    return f"{shape.rule.kind}:{shape.rule.regex.pattern[:24]}"


@pytest.mark.parametrize("shape", SHAPES, ids=[_id(s) for s in SHAPES])
def test_every_mask_example_is_masked_as_its_kind(shape: TokenShape) -> None:
    marker = f"{MARKER_PREFIX}{shape.rule.kind}]"
    for line in shape.must_mask:
        masked = mask_secrets(line)
        assert marker in masked, (line, masked)
        match = shape.rule.regex.search(line.encode())
        assert match is not None, line
        (start, end), *_ = (match[i] for i, _ in shape.rule.value_groups)
        assert line.encode()[start:end].decode() not in masked, (line, masked)


@pytest.mark.parametrize("shape", SHAPES, ids=[_id(s) for s in SHAPES])
def test_no_keep_example_is_masked_as_its_kind(shape: TokenShape) -> None:
    for line in shape.must_keep:
        assert shape.rule.regex.search(line.encode()) is None or shape.rule.accept is not None, line
        assert f"{MARKER_PREFIX}{shape.rule.kind}]" not in mask_secrets(line), line


def _shape_of(rule: Rule) -> tuple[str, str, tuple[str, ...]]:
    return rule.kind, rule.regex.pattern, rule.triggers


def test_token_shapes_go_first_in_file_order() -> None:
    assert [_shape_of(rule) for rule in RULES[: len(SHAPES)]] == [_shape_of(rule) for rule in token_rules()]
    assert all(shape.must_mask for shape in SHAPES)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- {kind: nope, triggers: [x], regex: '(?P<v_v>x)', examples: {mask: [x]}}", "not one of"),
        ("- {kind: jwt, triggers: [x], regex: '(?P<v_v>x)', examples: {mask: [x]}, colour: red}", "unknown keys"),
        ("- {kind: jwt, triggers: [X], regex: '(?P<v_v>x)', examples: {mask: [x]}}", "lower case"),
        ("- {kind: jwt, triggers: [x], regex: 'x', examples: {mask: [x]}}", "value group"),
        ("- {kind: jwt, triggers: [x], regex: '(?P<v_v>(a)\\1)', examples: {mask: [x]}}", "RE2"),
        ("- {kind: jwt, triggers: [x], regex: '(?P<v_v>x)', examples: {keep: [x]}}", "at least one"),
        ("- {kind: jwt, triggers: [x], regex: '(?P<v_v>x)', accept: magic, examples: {mask: [x]}}", "accept"),
    ],
)
def test_a_wrong_entry_fails_loading_and_says_why(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(TokenShapeError, match=problem):
        token_shapes(path)
