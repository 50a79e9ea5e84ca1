"""The masker's speed paths give exactly what the plain paths give.

- The masker calls google-re2's pybind binding (`re2._re2.RE2.Match`, the private object under the `re`-like
  wrapper) through `masking.regex.Regex`. If a google-re2 release changes what that binding takes or returns, these
  tests fail loudly: every pattern of the masking package is checked against `re2.compile(...)` on ordinary,
  hostile, non-ASCII and lone-surrogate input, at every start position.
- The trigger Set, used through its binding too, finds a line exactly when the one-regex trigger scan does.
- `mask_lines` (one trigger scan over a block, its one-line path, its fallback for lines that hold a newline)
  gives what `mask` gives line by line, with the same counts and state.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sessionguard.masking import heuristics, lists, masker, regex, rules
from sessionguard.masking.masker import SecretMasker
from sessionguard.masking.regex import LATIN1, Regex
from sessionguard.masking.spans import Overlaps

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SAMPLES = [
    "",
    "ls -la",
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "curl -u deploy:hunter2hunter2 https://artifacts.internal/api",
    "curl -u 'deploy:two words' -H 'Authorization: Bearer abc.def.ghi' https://u:p4ss@h/x?token=1&page=2",
    "mysql -u admin -pS3cr3tPassw0rd -h db.internal; echo done",
    'DATABASE_PASSWORD=correct-horse-battery a=1,password=x,token=$TOKEN "api_key": "k3y"',
    "htpasswd -nb user S3cr3t && htpasswd -bc /etc/f user p4ss",
    "AWS Secret Access Key [****************EKEY]: wJalrXUtnFEMI",
    '"Type": "SecureString", "Value": "s3cr3t-v4lue"',
    "-----BEGIN RSA PRIVATE KEY----- MIIEow -----END RSA PRIVATE KEY-----",
    "> MIIEowIBAAKCAQEA\\n",
    "<password>p4ss</password> define('DB_PASSWORD', 'x1') [MASKED:password] [MASKED:nope]",
    "echo hunter2 | sudo -S yum update",
    "passwd --stdin root <<< 's3cr3t'",
    "ALTER USER app IDENTIFIED BY 'it''s' ; SET PASSWORD = PASSWORD('x')",
    "密码 password=pässwörd ключ token=日本語 é",
    "password=\udc80\udcff key: \ud83d\ude00 x",  # lone surrogates, as damaged terminal output can hold
    "password=AKIA ghp_ eyJ --password -p " * 20,  # the benchmark's secret-prefixes line, shorter
    "a|b;c&&d$(e)`f`" * 20,
    "'a'\"b\"\\c" * 20,
    "$(" * 60,
    "x" * 300,
]


def _data(line: str) -> bytes:
    return line.encode("utf-8", "surrogatepass")


def _regexes() -> list[tuple[str, Any]]:
    found = [(f"rule {index} ({rule.kind})", rule.regex) for index, rule in enumerate(masker.RULES)]
    found.append(("SSM_VALUE_RULE", masker.SSM_VALUE_RULE.regex))
    for module in (masker, heuristics, regex, rules, lists):
        found += [(name, value) for name, value in vars(module).items() if isinstance(value, Regex)]
    return found


REGEXES = _regexes()


def _spans(match: Any, groups: int) -> list[tuple[int, int]] | None:
    return None if match is None else [match.span(group) for group in range(groups + 1)]


@pytest.mark.parametrize(("name", "regex"), REGEXES, ids=[name for name, _ in REGEXES])
def test_the_binding_answers_as_the_re2_wrapper_does(name: str, regex: Any) -> None:
    reference = re2.compile(regex.pattern.encode("ascii"), LATIN1)
    assert regex.groupindex == {key.decode(): value for key, value in reference.groupindex.items()}
    for line in SAMPLES:
        data = _data(line)
        assert regex.fullmatch(data) == (reference.fullmatch(data) is not None)
        for pos in range(len(data) + 1):
            assert regex.search(data, pos) == _spans(reference.search(data, pos), reference.groups), (line, pos)
            assert regex.match(data, pos) == _spans(reference.match(data, pos), reference.groups), (line, pos)
            stop = min(len(data), pos + 7)
            expected = _spans(reference.search(data, pos, stop), reference.groups)
            assert regex.search_within(data, pos, stop) == expected, (line, pos)


def test_a_group_that_took_no_part_is_minus_one() -> None:
    rule = next(rule for rule in masker.RULES if rule.kind == "basic-auth")
    match = rule.regex.search(b"curl -u deploy:hunter2hunter2 x")
    assert match is not None
    assert match[rule.regex.groupindex["u1"]] == (-1, -1)
    assert match[rule.regex.groupindex["u3"]] == (8, 14)


def test_the_trigger_set_finds_a_line_exactly_when_the_trigger_scan_does() -> None:
    """The block scan also stops at a line that is one token alone (a credential printed by itself holds no
    trigger word): there the Set may find nothing, and the masker judges the token's shape (a cheap test,
    heuristics.may_be_bare_token, lets such a line through the single-line paths as well)."""
    for line in [*SAMPLES, "sudo yum update -y", "SUDO", "nothing here", "Pass", "pa ss", "x" * 300]:
        data = _data(line)
        selected = masker.RULE_TRIGGER_SET.Match(data)
        assert isinstance(selected, list)
        found = masker.ANY_TRIGGER_RE.search(data) is not None
        assert found or not selected, line  # a line with a trigger is never skipped
        assert not found or selected or heuristics.may_be_bare_token(data), line


# Lines that exercise the masker's paths and its state across lines (key blocks, prompts, SecureString).
LINES = [
    *SAMPLES,
    "sudo yum update -y",
    "journalctl -u nginx --no-pager | tail -n 2",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
    "-----END OPENSSH PRIVATE KEY-----",
    "AWS Secret Access Key [None]: ",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    '"Type": "SecureString",',
    '"Value": "s3cr3t-v4lue"',
    "two\nlines password=x1y2",
    "ok",
    # Values masked once, and lines where they come back (repeats.py): alone, inside text, inside a longer word.
    "export API_TOKEN=correcthorse42",
    "correcthorse42",
    "echo correcthorse42 done",
    "xcorrecthorse42",
    "mysql -u app -pS3cretPassw0rd orders",
    "denied (using password: S3cretPassw0rd)",
]


def _one_by_one(lines: list[str]) -> tuple[list[str], dict[str, int]]:
    masker = SecretMasker()
    return [masker.mask(line) for line in lines], dict(masker.counts)


@SETTINGS
@given(lines=st.lists(st.sampled_from(LINES), max_size=14), cuts=st.lists(st.integers(0, 14), max_size=4))
def test_mask_lines_gives_what_mask_gives_line_by_line(lines: list[str], cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(lines)]
    masker = SecretMasker()
    out = [text for start, stop in itertools.pairwise(bounds) for text in masker.mask_lines(lines[start:stop])]
    assert (out, dict(masker.counts)) == _one_by_one(lines)


@SETTINGS
@given(lines=st.lists(st.text(alphabet=st.sampled_from("pas=w x\n-:é\udc80'\"|"), max_size=20), max_size=6))
def test_mask_lines_on_odd_text(lines: list[str]) -> None:
    masker = SecretMasker()
    assert (masker.mask_lines(lines), dict(masker.counts)) == _one_by_one(lines)


_span = st.tuples(st.integers(0, 60), st.integers(1, 20)).map(lambda pair: (pair[0], pair[0] + pair[1]))


@settings(max_examples=300, deadline=None)
@given(spans=st.lists(_span, max_size=12), probe=_span)
def test_overlaps_answers_as_testing_each_span_would(spans: list[tuple[int, int]], probe: tuple[int, int]) -> None:
    """The binary search that keeps veto and precedence checks linear on hostile lines gives the pairwise answer."""
    start, stop = probe
    assert Overlaps(spans).overlap(start, stop) == any(s < stop and start < e for s, e in spans)
