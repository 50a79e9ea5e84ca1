"""The masking layers issue #20 added: gitleaks' rule set (pinned, MIT), assignments in any syntax, tokens alone on
a line, Kubernetes Secret data, stand-ins left readable; gitleaks' own samples as must-mask / must-not-mask tests,
and properties for the new kinds (anywhere in random text, split across events, never in any output).
"""

from __future__ import annotations

import json
import re
import string
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sessionguard.masking import gitleaks
from sessionguard.masking.heuristics import BARE_ENTROPY, is_placeholder_token, shannon_entropy
from sessionguard.masking.masker import KINDS, MARKER_PREFIX, SecretMasker, mask_secrets

from tests.unit.test_masking_properties import feed

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "evaluation" / "corpus" / "gitleaks" / "samples.jsonl"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MARKERS = re.compile(r"\[MASKED:[a-z0-9-]+\]")
SECRET = "Qw7LmPc2RnF9dKs0JhU4"  # a random value, for syntaxes that hold one


def m(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


@cache
def samples() -> tuple[dict[str, Any], ...]:
    with SAMPLES.open() as lines:
        return tuple(json.loads(line) for line in lines)


def leaks(secret: str, output: str) -> bool:
    """The secret, or 12 characters of it (of a line of it, for a key), is in the output (markers taken out)."""
    output = MARKERS.sub("\0", output)
    for part in (line.strip() for line in secret.split("\n")):
        if not part or "-----BEGIN" in part or "-----END" in part:
            continue
        windows = [part] if len(part) <= 16 else [part[i : i + 12] for i in range(len(part) - 11)]
        if any(window in output for window in windows):
            return True
    return False


# --- the rule set itself --------------------------------------------------------------------------------


def test_the_rules_are_pinned_to_a_gitleaks_commit_with_its_licence() -> None:
    data = gitleaks.gitleaks_data()
    assert re.fullmatch(r"[0-9a-f]{40}", data["commit"])
    assert data["commit"] in data["source"]
    licence = gitleaks.RULES_FILE.with_name("GITLEAKS_LICENSE").read_text()
    assert "MIT License" in licence
    assert "Zachary Rice" in licence
    assert all(reason for reason in data["left_out"].values())


def test_every_gitleaks_rule_compiles_with_re2_and_has_keywords() -> None:
    rules = gitleaks.gitleaks_rules()
    assert len(rules) > 200
    assert len({rule.kind for rule in rules}) == len(rules)
    for rule in rules:
        assert rule.triggers, rule.kind
        assert all(trigger == trigger.lower() for trigger in rule.triggers), rule.kind
        assert rule.gitleaks is not None
        assert rule.gitleaks.regex.compiled.groups >= 0  # compiles (lazily, in use)
    assert gitleaks.gitleaks_kinds() <= KINDS


def test_a_gitleaks_match_is_masked_as_its_rule_id() -> None:
    assert mask_secrets("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") == m("huggingface-access-token")
    fly = "fo1_NVhB-bPdNUcaXDZ17qhBnE3WaFLWuqUyl5hh8cGmc0O"  # one of gitleaks' samples
    assert mask_secrets(f"FLY_API_TOKEN={fly}") == f"FLY_API_TOKEN={m('flyio-access-token')}"  # the token's own name
    assert mask_secrets(fly) == m("flyio-access-token")


# --- gitleaks' own samples --------------------------------------------------------------------------------


@cache
def _provider_prefixes() -> tuple[str, ...]:
    """The literal prefixes read from gitleaks' rules' secret groups (gitleaks.secret_prefixes), lower-cased."""
    rules = gitleaks.gitleaks_data()["rules"]
    return tuple({prefix.lower() for raw in rules for prefix in gitleaks.secret_prefixes(raw)[0]})


def _limit_of_bare_tokens(token: str) -> bool:
    """A token alone on a line that docs/masking.md says is not recognised (no rule names it alone): hex (a hash's
    shape, also `hex:hex`), digits, a UUID, shorter than 16, characters outside [A-Za-z0-9+/=_.:~-], AWS's
    documented examples, one case only with fewer than one digit in ten characters; and, unless it starts with
    a provider's prefix (`key-…`, `test_…`, `NRAK-…`: its rule judges it), a word before its first separator or
    `=` inside."""
    body = token.rstrip("=")
    digits = sum(c.isdigit() for c in token)
    unprefixed = not token.lower().startswith(_provider_prefixes())
    return (
        re.fullmatch(r"[0-9a-fA-F:-]+", token) is not None
        or len(token) < 16
        or (unprefixed and (re.match(r"[A-Za-z]+[-_.:]", token) is not None or "=" in body))
        or re.fullmatch(r"[A-Za-z0-9+/=_.:~-]+", token) is None
        or "EXAMPLE" in token
        or ((token.islower() or token.isupper()) and digits * 10 < len(token))
    )


def test_gitleaks_true_positives_are_masked_in_output() -> None:
    """Every secret of gitleaks' true-positive samples, printed as output, is masked; the only exceptions are the
    documented ones: a token alone whose shape cannot tell it from an id (_limit_of_bare_tokens) and the user half
    of `--user user:password` (it stays readable)."""
    leaked: list[tuple[str, str]] = []
    for sample in samples():
        if sample["kind"] != "tp" or not sample["secrets"]:
            continue
        out = mask_secrets(sample["line"])
        for secret in sample["secrets"]:
            if not leaks(secret, out):
                continue
            bare = sample["line"].strip() == secret
            user_stays = sample["rule"] == "curl-auth-user" and not leaks(secret.split(":", 1)[1], out)
            if not ((bare and _limit_of_bare_tokens(secret)) or user_stays):
                leaked.append((sample["rule"], sample["line"][:120]))
    assert not leaked, leaked


def test_at_most_a_tenth_of_gitleaks_false_positives_are_masked() -> None:
    """Counted on the samples no other gitleaks rule calls a secret (cloudflare-api-key's false positives are
    cloudflare-global-api-key's true positives); evaluation/ratchet-masking.json holds the exact figure."""
    negatives = [s for s in samples() if s["kind"] == "fp" and not s.get("flagged_by")]
    printed = {s["line"]: SecretMasker().mask_lines(["$ cat app.env", *s["line"].split("\n")]) for s in negatives}
    masked = [line[:100] for line, out in printed.items() if any(MARKER_PREFIX in text for text in out)]
    assert len(negatives) > 300
    assert len(masked) <= len(negatives) // 10, masked


# --- stand-ins stay readable, and what still is a secret --------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "ghp_" + "x" * 36,
        "GITHUB_TOKEN=ghp_" + "x" * 36,
        "AKIAIOSFODNN7EXAMPLE",  # AWS's documented example key id
        "aws iam delete-access-key --access-key-id AKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_access_key: AKIAIOSFODNN7EXAMPLE",
        'password = "${aws_db_instance.default.password}"',
        "credentials: new AWS.SharedIniFileCredentials({ profile: '<YOUR_PROFILE>' })",
        "https://indieweb.org/images/3/35/2018-250-xoxo-indieweb-1.jpg",
        "-e SUMO_ACCESS_KEY=`etcdctl get /sumologic_secret`",
        "SUMO_ACCESS_KEY=${SUMO_ACCESS_KEY:=$2}",
        "administrator_login_password = var.db_password",
        "api_token: {{ .Values.apiToken }}",
        'const privateaiToken = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";',
        "xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere",
        "xoxp-1-PASTEYOURTOKENHERE",  # placeholder words run together in one case
        "echo xoxb-1-YOURBOTTOKEN",
        '"token": "xoxp-' + "572370529330-" * 3 + "#" * 20 + '"',  # blanked out after the ids
        "xoxb-42-teapot",  # shorter than any Slack token
        '<add key="ClearTextPassword" value="hal+9ooo_da!sY" />',  # NuGet's documented example, in an allow-list
        "export DB_PASSWORD='33f!!lloppa'",  # the same examples under any name
        "fn::secret: ops_eyJzaWduSW5B..[Redacted]",
        "db-password: ENC[AES256_GCM,data:O+5l4g==,iv:c/dS4BCB,tag:KkQfh6Oy,type:str]",
        "curl -u username:password https://api.example.com",
        "csrf-token=Mj2qykJO5rELyHgezQ69nzUX0i3OH67V7+V4eUrLfpuyOuxmiW9rhROG",
        "password combination.",
    ],
)
def test_stand_ins_and_references_stay_readable(line: str) -> None:
    assert mask_secrets(line) == line


def test_only_values_an_allow_list_names_one_by_one_are_examples_everywhere() -> None:
    """vault-service-token's allow-list is a pattern (`s\\.[A-Za-z]{24}`): it lets that rule's match go, not the
    value of a secret-named variable."""
    assert b"33f!!lloppa" in gitleaks.listed_examples()
    assert not any(example.startswith(b"s.") for example in gitleaks.listed_examples())
    masked = mask_secrets("export VAULT_TOKEN=s." + "QwLmPcRnFdKsJhUeTgAbXyZw")
    assert "QwLmPcRnFdKs" not in masked


# What gitleaks' generic-api-key (the rule SessionGuard's secret-named assignments stand in for) says is no secret
# by its name (its allow-list of names, on the match), and the values it names one by one (a stop word that is a
# whole token); and a value a provider's rule recognises but finds below its entropy floor.
@pytest.mark.parametrize(
    "line",
    [
        "  keyVaultToStoreSecrets: cmp2-qat-1208358310",  # names an Azure Key Vault
        'notes            = "Maven - io.jsonwebtoken:jjwt-jackson-0.11.2"',  # a Maven coordinate
        "implementation 'io.jsonwebtoken:jjwt-api:0.11.5'",
        ',apiKey:"6fe4476ee5a1832882e326b506d14126",',  # generic-api-key's stop word, a whole token
        'token: "014df517-39d1-4453-b7b3-9930c563627c"',  # the global allow-list's stop word
        '   API_KEY="glc_111111111111111111111111111111111111111111="',  # below grafana-cloud's entropy floor
    ],
)
def test_what_gitleaks_calls_no_secret_stays_readable_under_a_secret_name(line: str) -> None:
    assert mask_secrets(line) == line


@pytest.mark.parametrize(
    "line",
    [
        f"AUTHORIZATION_TOKEN={SECRET}",  # `author` is an allowed name; the token after it is not
        f"export TURKEY_PASSWORD={SECRET}",  # so is `turkey`, which holds `key`, but not the password
        f"keyVaultToken: {SECRET}",  # keyVaultToStoreSecrets and key_vault_name are allowed, not this
        f"capital_secret={SECRET}",
        f"api_key=capital{SECRET}",  # an allowed name inside the value says nothing of the name
        f"csrf_token=Zk2pXw9QaL7m session_token={SECRET}",  # the allowed name is the first one only
        f'jsonwebtoken: "{SECRET}"',  # a secret named jsonwebtoken; only `io.jsonwebtoken:artifact` is Maven's
        f'API_KEY="glc_{SECRET}{SECRET}"',  # grafana-cloud's shape above its entropy floor
        f"DB_PASSWORD=6fe4476ee5a1832882e326b506d14126{SECRET}",  # holds the stop word, is not it
    ],
)
def test_secrets_beside_what_gitleaks_allows_are_still_masked(line: str) -> None:
    masked = mask_secrets(line)
    assert SECRET not in masked, masked
    assert MARKER_PREFIX in masked


@pytest.mark.parametrize(
    "token",
    [
        "xoxb-2837461950-6650193847-Qw7LmPc2RnF9dKs0Where",  # a short word in a random token is no stand-in
        "xoxp-1-Qw7LmPc2RnF9dKs0JhU4eTg6",  # short ids, a random secret: still Slack's shape
        "xoxp-2837461950-6650193847-Qw7LmPc2RnF9dKs0#",  # one `#` after a token blanks nothing out
    ],
)
def test_slack_tokens_near_a_stand_in_are_still_masked(token: str) -> None:
    masked = mask_secrets(f"echo {token}")
    assert MARKER_PREFIX in masked
    assert "Qw7LmPc2RnF9" not in masked


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # EXAMPLE makes a token shape a stand-in, not the value of a secret-named variable
        ("export DB_PASSWORD=MY_EXAMPLE_Pw9", "export DB_PASSWORD={}"),
        ("export DB_PASSWORD=changeit", "export DB_PASSWORD={}"),  # a default password is a password
        ("export DB_PASSWORD='example-only-Xq3'", "export DB_PASSWORD='{}'"),
    ],
)
def test_values_named_by_their_variable_are_masked_even_when_they_look_like_examples(line: str, expected: str) -> None:
    masked = mask_secrets(line)
    assert MARKER_PREFIX in masked
    assert MARKERS.sub("{}", masked) == expected


# --- assignments in any syntax --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        f'$apiToken .= "{SECRET}"',  # PHP
        f'API_TOKEN ?= "{SECRET}"',  # make
        f'API_TOKEN ::= "{SECRET}"',
        f'API_TOKEN :::= "{SECRET}"',
        f'API_TOKEN := "{SECRET}"',
        f'API_TOKEN += "{SECRET}"',
        f'apiToken ??= "{SECRET}"',
        f'var apiToken string = "{SECRET}"',  # Go
        f'val apiToken: String = "{SECRET}"',  # Kotlin
        f"apiToken := `{SECRET}`",  # Go raw string
        f'System.setProperty("API_TOKEN", "{SECRET}")',
        f'utils.GetEnvOrDefault("api_token", "{SECRET}")',
        f'token = os.environ.get("API_TOKEN", "{SECRET}")',
        f"getenv('DB_PASSWORD', '{SECRET}')",
        f"parser.add_argument('--hf_token', type=str, default='{SECRET}', help='token')",
        f'<entry name="apiToken" value="{SECRET}" />',
        f'<add key="ClearTextPassword" value="{SECRET}" />',
        f'  "apiToken" => "{SECRET}"',  # logstash, PHP arrays
        f'api_token = "{SECRET}"',  # TOML, HCL, ini
        f"api_token: '{SECRET}'",  # YAML
        f'{{"api_token": "{SECRET}"}}',  # JSON
        f"app --api-token {SECRET}",
        f"app --api-token={SECRET}",
        f'{{"config.ini": "API_TOKEN={SECRET}\\nBACKUP_ENABLED=true"}}',
    ],
)
def test_a_secret_named_value_is_masked_in_any_syntax(line: str) -> None:
    masked = mask_secrets(line)
    assert SECRET not in masked, masked
    assert MARKER_PREFIX in masked


def test_an_xml_element_whose_value_sits_on_its_own_line() -> None:
    lines = ["<settings>", "  <apiToken>", f"    {SECRET}", "  </apiToken>", "  <timeout>", "    30", "  </timeout>"]
    out = SecretMasker().mask_lines(lines)
    assert out[2] == f"    {m('token')}"
    assert out[5] == "    30"


def test_kubernetes_secret_data_values_are_masked_and_configmap_settings_stay() -> None:
    lines = [
        "apiVersion: v1",
        "data:",
        "  password: UyFCXCpkJHpEc2I9",
        "  tls.key: |",
        "    LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t",
        "kind: Secret",
        "---",
        "apiVersion: v1",
        "data:",
        "  log_level: debug",
        "kind: ConfigMap",
        "---",
        "apiVersion: v1",
        "stringData:",
        "  api-url: https://api.example.com",
        "  db-url: postgres://app@db/app",
    ]
    out = SecretMasker().mask_lines(lines)
    assert out[2] == f"  password: {m('secret')}"
    assert out[4] == f"    {m('secret')}"
    assert out[9] == "  log_level: debug"
    assert "https" not in out[14]  # stringData values are all a Secret's
    assert out[5] == "kind: Secret"


def test_a_custom_resources_data_is_not_a_secret() -> None:
    lines = ["apiVersion: isindir.github.com/v1alpha3", "kind: SopsSecret", "  data:", "    name1: ZGF0YS12YWx1ZTE="]
    assert SecretMasker().mask_lines(lines) == lines


# --- partial masks from the issue -----------------------------------------------------------------------


def test_a_key_id_and_its_secret_side_by_side_in_code_are_both_masked() -> None:
    line = "keys = ('AKIAQ3ZTRD5KQ7XWPL2N', '9dT2mQ+vXr4LkP8sWz1bNc7YhE3uJf6GaR5oIq0V')"
    assert mask_secrets(line) == f"keys = ('{m('aws-access-key-id')}', '{m('aws-secret-access-key')}')"


def test_a_private_key_written_as_string_concatenation_is_masked_on_every_line() -> None:
    lines = [
        'key = "-----BEGIN RSA PRIVATE KEY-----\\n" +',
        '      "MIIEowIBAAKCAQEAn6/O8li+SX4m98LLYt/PKSzEmQ++ZBD7Loh9P13f4yQ92EF3\\n" +',
        '      "yxR5MsXFu9PRsrYQA7/4UTPHiC4y2sAVCBg4C2yyBpUEtMQjyCESi6Y=\\n" +',
        '      "-----END RSA PRIVATE KEY-----"',
    ]
    out = SecretMasker().mask_lines(lines)
    assert out == [lines[0], f'      "{m("private-key")}\\n" +', f'      "{m("private-key")}\\n" +', lines[3]]


def test_a_word_between_private_key_armour_lines_is_no_key_but_a_key_line_is() -> None:
    """gitleaks' private-key rule wants 64 characters between BEGIN and END; a lower-case word is no key material."""
    begin, end = "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----"
    assert SecretMasker().mask_lines([begin, "anything", end]) == [begin, "anything", end]
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + "Qw7LmPc2RnF9"
    masked = SecretMasker().mask_lines([begin, body, "qwertyuiopasdfgh", end])  # 16 letters: a key's line
    assert masked == [begin, m("private-key"), m("private-key"), end]


def test_a_private_key_in_base64_is_masked_and_a_certificate_is_not() -> None:
    key = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBbjYvTzhsaStTWDRt"
    certificate = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUR4RENDQXF5Z0F3SUJBZ0lVV3pqUDl5RUk0"
    assert mask_secrets(f"PRIVATE_KEY_B64={key}") == f"PRIVATE_KEY_B64={m('private-key')}"
    assert mask_secrets(f"CA_B64={certificate}") == f"CA_B64={certificate}"


def test_curl_basic_auth_keeps_the_user_when_gitleaks_also_matches() -> None:
    assert mask_secrets("curl -u admin:Qw7LmPc2RnF9 https://api") == f"curl -u admin:{m('basic-auth')} https://api"


def test_slack_webhook_is_masked_with_its_host_when_gitleaks_also_matches() -> None:
    """gitleaks' slack-webhook-url takes the scheme too; SessionGuard's shape names the marker and keeps it."""
    line = "curl -X POST https://hooks.slack.com/services/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"
    assert mask_secrets(line) == f"curl -X POST https://{m('slack-webhook')}"


# --- tokens alone on a line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
        "uu679pod2u1gmgnewdvjjzaz5dc2y3rd9orqzvbb",
        "ZXlKaGJHY2lPaUpJVXpJMU5pSjkuZXlKcGMzTWlPaUpxYjJVaWZRLmRCamZ0SmVaNENWUC1tQjkySzI3dWhiVUpV",
    ],
)
def test_a_credential_alone_on_an_output_line_is_masked_by_its_shape(token: str) -> None:
    out = SecretMasker().mask_lines(["[root@ip-10-0-0-9 ~]# cat token.txt", token])
    assert token not in "\n".join(out)


@pytest.mark.parametrize(
    "line",
    [
        "5730813a1b2c3d4e5f60718293a4b5c6d7e8f901",  # git SHA
        "3f2a1c4e-9b7d-4e21-8c5a-0f1e2d3c4b5a",  # UUID
        "ami-0a1b2c3d4e5f67890",
        "i-0a1b2c3d4e5f60718",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "sha512-xJlZH+IqSphtx+1BmzihqBBIBrNpm+qU5HtPulU9hSYoL5qbmWOFqecuiQJ3SYkMhQzQJR1Yn5pJwptEILIH9Q==",
        "nginx-deployment-66b6c48dd5-x7k2p",
        "ip-10-0-1-23.eu-west-1.compute.internal",
        "111122223333.dkr.ecr.eu-west-1.amazonaws.com/app:v1.2.3",
        "2026-11-26T12:00:01Z",
        "/var/lib/docker/overlay2/9f86d081884c7d659a2feaa0c55ad015/merged",
        "Kubernetes-Production-Cluster-Runbook-v2",
    ],
)
def test_ids_hashes_and_names_alone_on_a_line_stay(line: str) -> None:
    assert SecretMasker().mask_lines(["$ x", line])[1] == line


def test_a_base64_dump_stays_readable() -> None:
    dump = [
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAA",
        "Vr4LkP8sWz1bNc7YhE3uJf6GaR5oIq0VQw7LmPc2RnF9dKs0JhU4eTg6YbMz1WxC9dT2mQ+vXr4LkP8s",
        "Wz1bNc7YhE3uJf6GaR5o",
    ]
    dump = [dump[0][:76], dump[1][:76], dump[2]]
    assert SecretMasker().mask_lines(["$ base64 logo.png", *dump])[1:] == dump


# --- properties: the new kinds anywhere, split across events, never in any output -------------------------

ALNUM = string.ascii_letters + string.digits
filler = st.text(alphabet=ALNUM + " .,;!?()#%^~", max_size=30).map(lambda s: s.strip())
names = st.sampled_from(["apiToken", "API_TOKEN", "db_password", "clientSecret", "hf_token", "STRIPE_API_KEY"])


def _mixed_token(size: int) -> st.SearchStrategy[str]:
    """A random token that mixes upper and lower case and digits (what a credential is, and a name is not)."""
    return st.tuples(
        st.text(alphabet=ALNUM, min_size=size, max_size=size),
        st.sampled_from(string.ascii_uppercase),
        st.sampled_from(string.ascii_lowercase),
        st.sampled_from(string.digits),
    ).map("".join)


@cache
def _maskable_single_line_samples() -> tuple[tuple[str, str], ...]:
    """(line, secret) of gitleaks' single-line true positives whose secret is masked on the line alone."""
    pairs: list[tuple[str, str]] = []
    for sample in samples():
        line = sample["line"]
        if sample["kind"] != "tp" or "\n" in line or not sample["secrets"] or line.strip() == sample["secrets"][0]:
            continue
        if not any(leaks(secret, mask_secrets(line)) for secret in sample["secrets"]):
            pairs.extend((line, secret) for secret in sample["secrets"])
    return tuple(pairs)


@SETTINGS
@given(
    index=st.integers(min_value=0),
    before=st.lists(filler, max_size=3),
    after=st.lists(filler, max_size=3),
    cuts=st.lists(st.integers(0, 8), max_size=4),
    per_line=st.booleans(),
)
def test_gitleaks_samples_among_random_lines_split_across_events_never_appear(
    *, index: int, before: list[str], after: list[str], cuts: list[int], per_line: bool
) -> None:
    pairs = _maskable_single_line_samples()
    line, secret = pairs[index % len(pairs)]
    assume(all(secret not in text for text in [*before, *after]))
    out = feed([*before, line, *after], cuts, per_line)
    assert not any(leaks(secret, text) for text in out), out


@SETTINGS
@given(
    token=st.integers(16, 60).flatmap(_mixed_token),
    indent=st.sampled_from(["", "  ", "\t"]),
    before=st.lists(filler, max_size=3),
    after=st.lists(filler, max_size=3),
    cuts=st.lists(st.integers(0, 8), max_size=4),
    per_line=st.booleans(),
)
def test_a_random_token_alone_on_a_line_split_across_events_never_appears(
    *, token: str, indent: str, before: list[str], after: list[str], cuts: list[int], per_line: bool
) -> None:
    assume(not is_placeholder_token(token.encode()) and len(token) not in (64, 76))
    assume(shannon_entropy(token.encode()) >= BARE_ENTROPY)  # drawn at random; `0000…1111Aa0` is not
    assume(all(token not in text for text in [*before, *after]))
    out = feed([*before, indent + token, *after], cuts, per_line)
    assert all(token not in text for text in out), out


OPERATORS = ["=", " = ", " := ", " ::= ", " :::= ", " ?= ", " .= ", " += ", " => ", ": "]


@SETTINGS
@given(
    name=names,
    operator=st.sampled_from(OPERATORS),
    quote=st.sampled_from(['"', "'", ""]),
    secret=_mixed_token(12),
    prefix=st.sampled_from(["", "$", "export ", "var ", "  "]),
    before=st.lists(filler, max_size=3),
    after=st.lists(filler, max_size=3),
    cuts=st.lists(st.integers(0, 8), max_size=4),
    per_line=st.booleans(),
)
def test_a_secret_named_assignment_with_any_operator_never_appears(
    *,
    name: str,
    operator: str,
    quote: str,
    secret: str,
    prefix: str,
    before: list[str],
    after: list[str],
    cuts: list[int],
    per_line: bool,
) -> None:
    assume(all(secret not in text for text in [*before, *after]))
    assume(not is_placeholder_token(secret.encode(), documented=False))
    line = f"{prefix}{name}{operator}{quote}{secret}{quote}"
    out = feed([*before, line, *after], cuts, per_line)
    assert all(secret not in text for text in out), out


@SETTINGS
@given(
    allowed=st.sampled_from(
        ["keyVaultToStoreSecrets", "key_vault_name", "UserSecretsId", "author", "capital", "turkey"]
    ),
    joint=st.sampled_from(["", "_", ".", "-"]),
    word=st.sampled_from(["Password", "token", "SECRET", "ApiKey", "credentials", "passwd"]),
    operator=st.sampled_from(OPERATORS),
    quote=st.sampled_from(['"', "'", ""]),
    secret=_mixed_token(12),
)
def test_a_secret_word_beside_a_name_gitleaks_allows_is_still_a_secret(
    *, allowed: str, joint: str, word: str, operator: str, quote: str, secret: str
) -> None:
    """gitleaks' generic-api-key allows names such as keyVaultToStoreSecrets and csrf_token; a name that adds a
    secret word outside the allowed one (`keyVaultToStoreSecrets_token`, `author.Password`) still holds a secret."""
    assume(not is_placeholder_token(secret.encode(), documented=False))
    line = f"{allowed}{joint}{word}{operator}{quote}{secret}{quote}"
    assert secret not in mask_secrets(line)


@SETTINGS
@given(
    name=names,
    secret=_mixed_token(12),
    call=st.sampled_from(
        [
            'System.setProperty("{n}", "{s}")',
            'os.environ.get("{n}", "{s}")',
            "getenv('{n}', '{s}')",
            "parser.add_argument('--{n}', default='{s}')",
            '<entry name="{n}" value="{s}" />',
        ]
    ),
    cuts=st.lists(st.integers(0, 4), max_size=3),
    per_line=st.booleans(),
)
def test_a_secret_passed_with_its_name_to_a_call_never_appears(
    name: str, secret: str, call: str, cuts: list[int], per_line: bool
) -> None:
    assume(not is_placeholder_token(secret.encode(), documented=False))
    out = feed(["$ cat app.py", call.format(n=name, s=secret)], cuts, per_line)
    assert all(secret not in text for text in out), out


@SETTINGS
@given(
    name=names,
    secret=_mixed_token(16),
    indent=st.sampled_from(["", "  ", "    "]),
    cuts=st.lists(st.integers(0, 6), max_size=4),
    per_line=st.booleans(),
)
def test_an_xml_value_on_its_own_line_split_across_events_never_appears(
    name: str, secret: str, indent: str, cuts: list[int], per_line: bool
) -> None:
    assume(not is_placeholder_token(secret.encode(), documented=False))
    lines = ["$ cat settings.xml", "<settings>", f"{indent}<{name}>", f"{indent}  {secret}", f"{indent}</{name}>"]
    out = feed(lines, cuts, per_line)
    assert all(secret not in text for text in out), out


@SETTINGS
@given(
    value=st.binary(min_size=8, max_size=60).map(lambda b: __import__("base64").b64encode(b).decode()),
    key=st.sampled_from(["password", "tls.key", ".dockerconfigjson", "api-token"]),
    cuts=st.lists(st.integers(0, 8), max_size=4),
    per_line=st.booleans(),
)
def test_kubernetes_secret_data_split_across_events_never_appears(
    value: str, key: str, cuts: list[int], per_line: bool
) -> None:
    lines = ["$ kubectl get secret app -o yaml", "apiVersion: v1", "data:", f"  {key}: {value}", "kind: Secret"]
    out = feed(lines, cuts, per_line)
    assert all(value not in text for text in out), out
