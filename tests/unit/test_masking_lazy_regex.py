"""The masker's patterns are compiled on first use (masking.regex.Regex): their capture groups are read from the
pattern's text before RE2 compiles them, so that reading must agree with RE2's for every pattern the masker has."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest
import re2
from sessionguard.masking import gitleaks, masker
from sessionguard.masking.regex import LATIN1, LazyRegex, Regex, _group_layout

from tests.support import REPO


def _re2_layout(pattern: str) -> tuple[dict[str, int], int]:
    compiled = re2.compile(pattern.encode("ascii"), LATIN1)
    return {name.decode(): index for name, index in compiled.groupindex.items()}, compiled.groups


def _every_pattern() -> list[str]:
    """Every pattern alive once the masker is loaded: module constants, rules, gitleaks' rules and allow-lists."""
    gitleaks.gitleaks_rules()
    gitleaks.name_holds_no_secret(b"api_key", 0, 7)  # builds generic-api-key's allowed names
    alive = {obj.pattern for obj in gc.get_objects() if isinstance(obj, (Regex, LazyRegex))}
    return sorted(alive | {rule.regex.pattern for rule in masker.RULES})


def test_every_masker_pattern_compiles_and_its_capture_groups_read_from_its_text_are_re2s() -> None:
    """Compiled here as the first search compiles it (so none can fail in use), its groups compared with
    _group_layout's reading."""
    patterns = _every_pattern()
    assert len(patterns) > 300  # the masker's own ~120, gitleaks' ~220 rules and their allow-lists
    misread = [pattern for pattern in patterns if _group_layout(pattern) != _re2_layout(pattern)]
    assert misread == []


@pytest.mark.parametrize(
    ("pattern", "layout"),
    [
        (r"(a)(?:b)(?P<n>c)(?i:d)(?<m>e)", ({"n": 2, "m": 3}, 3)),
        (r"\((?P<v>x)\)", ({"v": 1}, 1)),  # escaped parentheses open nothing
        (r"[(](x)[^)(]", ({}, 1)),  # nor do parentheses in a class
        (r"[]()](y)", ({}, 1)),  # a ] first in a class is a member
        (r"[[:alpha:](](z)", ({}, 1)),  # a POSIX class does not end the class
        (r"\Q(a)\E(b)", ({}, 1)),  # nor does anything quoted
    ],
)
def test_group_layout_reads_what_re2_reads(pattern: str, layout: tuple[dict[str, int], int]) -> None:
    assert _group_layout(pattern) == layout == _re2_layout(pattern)


def test_a_pattern_compiles_on_its_first_search_and_re2_rejects_a_bad_one_where_it_is_made() -> None:
    regex = Regex(r"k(?P<v_v>[0-9]+)")
    assert regex._match == regex._compile_and_match
    assert regex.search(b"key k42") == [(4, 7), (5, 7)]
    assert regex._match != regex._compile_and_match
    assert regex.search(b"k7") == [(0, 2), (1, 2)]
    with pytest.raises(re2.error):
        Regex(r"(x)\1")  # a backreference: RE2 refuses it


def test_a_quiet_line_compiles_few_of_the_masker_patterns() -> None:
    script = (
        "import gc, sys\n"
        f"sys.path[:0] = [{str(REPO / 'layers' / 'sessionguard')!r}]\n"
        "from sessionguard.masking.masker import mask_secrets\n"
        "from sessionguard.masking.regex import Regex\n"
        "mask_secrets('sh-4.2$ ls -la')\n"
        "regexes = [obj for obj in gc.get_objects() if isinstance(obj, Regex)]\n"
        "print(len(regexes), sum(regex._match != regex._compile_and_match for regex in regexes))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    made, compiled = map(int, completed.stdout.split())
    assert made > 100
    assert compiled <= 3
