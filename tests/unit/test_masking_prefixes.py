"""A token alone on a line that starts with a provider's prefix (gitleaks.bare_provider_rule): the prefix is read
from the text of each gitleaks rule's secret group, and the token is judged by that group's pattern, whole, with
the rule's entropy floor and allow-lists and the stand-in tests (docs/masking.md, "Tokens alone on a line")."""

from __future__ import annotations

import string
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sessionguard.masking import gitleaks
from sessionguard.masking.heuristics import is_placeholder_token
from sessionguard.masking.masker import MARKER_PREFIX, SecretMasker, mask_secrets

from tests.support import REPO

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEX = "0123456789abcdef"
LOWER_ALNUM = string.ascii_lowercase + string.digits


def m(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


def rule(regex: str, secret_group: int = 0) -> dict[str, object]:
    return {"id": "x", "regex": regex, "secret_group": secret_group, "keywords": [], "entropy": 0, "allowlists": []}


# --- reading the prefix ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regex", "prefixes", "flags"),
    [
        # gitleaks' usual shape: a keyword, an operator, then the secret group (its first group without a name)
        (r"(?i)[\w.-]{0,50}?(?:new-relic)(?:[ \t\w.-]{0,20})[:=]\s*(NRAK-[a-z0-9]{27})(?:\s|$)", ("NRAK-",), "i"),
        (r"(?i)lob\s*=\s*((live|test)_[a-f0-9]{35})\b", ("live_", "test_"), "i"),  # literal alternatives
        (r"\b((?:EAAA|sq0atp-)[\w-]{22,60})\b", ("EAAA", "sq0atp-"), ""),
        (r"(?:A3T[A-Z0-9]|AKIA|ASIA)[A-Z2-7]{16}", ("A3T", "AKIA", "ASIA"), ""),  # no group: the whole match
        (r"(pk\.[a-z0-9]{60}\.[a-z0-9]{22})", ("pk.",), ""),  # an escaped dot is a literal
        (r"(?i)\b(dp\.pt\.(?i)[a-z0-9]{43})", ("dp.pt.",), "i"),  # a flag after \b, and one inside
        (r"(?P<name>key)=(?P<v>abc_[0-9]{8})", ("abc_",), ""),  # named groups count: secretGroup 2
    ],
)
def test_a_literal_prefix_is_read_from_the_secret_group(regex: str, prefixes: tuple[str, ...], flags: str) -> None:
    found, _text, found_flags = gitleaks.secret_prefixes(rule(regex, 2 if "(?P<v>" in regex else 0))
    assert (found, found_flags) == (prefixes, flags)


@pytest.mark.parametrize(
    "regex",
    [
        r"(?:https?://)?hooks.slack.com/services/[A-Za-z0-9+/]{43,56}",  # an optional start
        r"(?i)api\s*=\s*([a-f0-9]{32})",  # hex alone: no prefix
        r"\b(SK[0-9a-fA-F]{32})\b",  # two characters are no provider's own
        r"\b(ab?cdef[0-9]{20})",  # `b` is optional: only `a` is sure
        r"\b((?:squ_|sqp_)?[a-z0-9]{40})",  # an optional group of prefixes
        r"\b((?i:abc)_[0-9]{20})",  # a flag group: not followed
    ],
)
def test_a_rule_whose_prefix_cannot_be_read_is_left_out(regex: str) -> None:
    assert gitleaks.secret_prefixes(rule(regex))[0] == ()


def test_every_secret_pattern_with_a_prefix_compiles() -> None:
    """Compiled here as on its first use; the file's rules give over a hundred such patterns."""
    entries = {entry.secret.pattern: entry for entries in gitleaks._prefixed_secrets().values() for entry in entries}
    assert len(entries) > 100
    for entry in entries.values():
        entry.secret.compiled.compile()  # raises if RE2 rejects it or its groups are misread


def test_the_prefix_index_is_built_on_the_first_token_alone_not_at_import() -> None:
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO / 'layers' / 'sessionguard')!r}]\n"
        "from sessionguard.masking import gitleaks\n"
        "from sessionguard.masking.masker import mask_secrets\n"
        "mask_secrets('sh-4.2$ ls -la')\n"
        "print(gitleaks._prefixed_secrets.cache_info().currsize)\n"
        "mask_secrets('key-' + '3f9a0c71d2b4e865' * 2)\n"
        "print(gitleaks._prefixed_secrets.cache_info().currsize)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.split() == ["0", "1"]


# --- judging a token alone: one must-mask and one must-not-mask per class of prefix ---------------------------

RANDOM = "q7w2e9r4t6y1u3i8o5p0a2s4d6f8g1h3j5k7l9z2x4c6v8b1n3m5"  # 52 lower-case letters and digits, no run
HEX_BODY = "3f9a0c71d2b4e8653f9a0c71d2b4e865a1b"  # 35 hex digits


def shape(kind: str, token: str, outside: str) -> tuple[str, str, list[str]]:
    """A rule's token, and two of its prefix that are not: one character short, and that character replaced by
    one the bare-token line admits but the rule's charset does not."""
    return kind, token, [token[:-1], token[:-1] + outside]


# One class of prefix each: a word and a dash, case-insensitive (mailgun's `key-`, New Relic's `NRAK-`); literal
# alternatives, the longest first (lob's `test_` and `test_pub_`, plaid's `access-sandbox-`); a prefix that ends
# with a dot (mapbox's `pk.`); one that ends with `_` (typeform's `tfp_`).
CASES = [
    shape("mailgun-private-api-token", "key-" + HEX_BODY[:32], "z"),
    shape("new-relic-user-api-key", "NRAK-" + RANDOM[:27].upper(), "_"),
    shape("lob-api-key", "test_" + HEX_BODY, "g"),
    shape("lob-pub-api-key", "test_pub_" + HEX_BODY[:31], "q"),
    shape("plaid-api-token", "access-sandbox-3f9a0c71-d2b4-e865-3f9a-0c71d2b4e865", "g"),
    shape("mapbox-api-token", f"pk.{RANDOM[:50]}{RANDOM[:10]}.{RANDOM[10:32]}", "_"),
    shape("typeform-api-token", "tfp_" + RANDOM + RANDOM[:7], "+"),
]


@pytest.mark.parametrize(("kind", "token", "wrong"), CASES, ids=[case[0] for case in CASES])
def test_a_provider_token_alone_on_a_line_is_masked_and_named_after_the_rule(
    kind: str, token: str, wrong: list[str]
) -> None:
    assert mask_secrets(token) == m(kind)
    assert mask_secrets(f"  {token}\t") == f"  {m(kind)}\t"
    assert SecretMasker().mask_lines(["$ cat token.txt", token, "$ ls"]) == ["$ cat token.txt", m(kind), "$ ls"]


@pytest.mark.parametrize(("kind", "token", "wrong"), CASES, ids=[case[0] for case in CASES])
def test_a_token_of_the_prefix_with_the_wrong_length_or_charset_is_not_masked(
    kind: str, token: str, wrong: list[str]
) -> None:
    for text in wrong:
        assert gitleaks.bare_provider_rule(text.encode(), text.encode()) is None
        assert mask_secrets(text) == text  # a word before the first separator: ordinary output by its shape


@pytest.mark.parametrize(
    "token",
    [
        "key-" + "0" * 32,  # one character repeated
        "NRAK-XXXXXXXXXXXXXXXXXXXXXXXXXXX",  # `x` for half of it
        "NRAK-EXAMPLE1234567890ABCDEFGHIJ",  # EXAMPLE
    ],
)
def test_a_stand_in_with_a_provider_prefix_is_not_masked(token: str) -> None:
    assert mask_secrets(token) == token


def test_a_word_of_the_prefix_in_ordinary_output_is_not_masked() -> None:
    """What ordinary output prints alone with these prefixes: names, not the rules' exact shapes."""
    for text in ("key-value-store-2024-05-01", "test_helpers_integration_fixtures_2", "live-build-20240501-amd64"):
        assert mask_secrets(text) == text


def test_a_rule_with_no_entropy_floor_masks_no_name_of_its_prefix() -> None:
    """gocardless-api-token is `live_` and 40 of [a-z0-9_=-] with no entropy floor: a name after the prefix (an SSM
    session id whose role session name starts with `live_`, a file name) is no token of it; a random body is."""
    for text in (
        "live_deploy_runner_prod0001-0a1b2c3d4e5f67890",
        "live_cluster_status_metrics_xxxxxxxxxxxxxxxxx",
        "live_stream_recording_2024-05-01_backup_v2xyz",
    ):
        assert len(text) == len("live_") + 40
        assert mask_secrets(text) == text
    token = "live_usni34_g93e=-_aicy_8iz8i9dg7=wy9eadcti6s"
    assert mask_secrets(token) == m("gocardless-api-token")


def test_a_rule_allow_list_lets_a_token_alone_go() -> None:
    """aws-access-token's own allow-list (`.+EXAMPLE$`) and AWS's documented key id, alone on a line."""
    assert mask_secrets("AKIAIOSFODNN7EXAMPLE") == "AKIAIOSFODNN7EXAMPLE"


# --- properties --------------------------------------------------------------------------------------------


@SETTINGS
@given(
    shape=st.sampled_from(
        [
            ("mailgun-private-api-token", "key-", HEX, 32),
            ("mailgun-pub-key", "pubkey-", HEX, 32),
            ("new-relic-user-api-key", "NRAK-", LOWER_ALNUM, 27),
            ("lob-api-key", "live_", HEX, 35),
            ("plaid-api-token", "access-production-", HEX, 32),
        ]
    ),
    data=st.data(),
)
def test_any_token_of_a_rule_shape_alone_is_masked_and_one_character_more_is_not(
    shape: tuple[str, str, str, int], data: st.DataObject
) -> None:
    kind, prefix, alphabet, size = shape
    body = data.draw(st.text(alphabet=alphabet, min_size=size, max_size=size))
    if kind == "plaid-api-token":  # a UUID's groups
        body = "-".join((body[:8], body[8:12], body[12:16], body[16:20], body[20:]))
    token = prefix + body
    # A stand-in (mostly one character: `aaaaaaaa-0000-0000-0000-000000000001`) stays, judged on the whole token and
    # on the rule's secret part alone, as the masker judges it (heuristics.is_placeholder_token).
    assume(not is_placeholder_token(token.encode()) and not is_placeholder_token(body.encode()))
    assert mask_secrets(token) == m(kind)
    longer = token + data.draw(st.sampled_from(alphabet))
    assert gitleaks.bare_provider_rule(longer.encode(), longer.encode()) is None
    assert mask_secrets(longer) == longer
