"""Property tests: a secret of every kind, anywhere in random text and split across events, never comes out.

The surrounding text is random printable text, separated from the secret's context by whitespace and free of
`= : | & @ < > $ \\ ' "` and backticks, so it cannot itself open a quote or an assignment that would make the
secret legitimately part of something else (`password="abc DB_PASSWORD="secret"` is a different command).
Generated secrets likewise avoid whitespace, quotes and shell operators, and contain a digit, so that they are
values and not placeholders; stand-ins (one character repeated, `x`/`a`/`0` for half of it, a run of 16 in
alphabet order: heuristics.is_placeholder_token) and names (a word in capitals holding a keyword, `A00TOKEN0` as
`ACCESS_TOKEN`: heuristics.is_placeholder, docs/masking.md "Placeholders") are left readable on purpose and are
assumed away here (test_masking_gitleaks.py shows them readable).
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sessionguard.masking.heuristics import is_placeholder, is_placeholder_token, shannon_entropy
from sessionguard.masking.masker import KINDS, MARKER_PREFIX, SecretMasker, mask_secrets

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL_MARKERS = "".join(f"{MARKER_PREFIX}{kind}]" for kind in KINDS)

ALNUM = string.ascii_letters + string.digits
BASE64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"
JWT_ENTROPY_FLOOR = 3.0  # gitleaks_rules.json, rule jwt

# Text around the secret: letters (any script), digits, spaces and harmless punctuation.
filler = st.text(
    alphabet=st.one_of(
        st.characters(categories=["L", "N"], exclude_characters="\n\r\x85\u2028\u2029"),
        st.sampled_from(list(" \t.,;!?()[]{}+-*/#%^~")),
    ),
    max_size=40,
)
space = st.sampled_from([" ", "\t", "  "])


def chars(alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=size)


def password_like() -> st.SearchStrategy[str]:
    """A value a person would type: starts with a letter or digit, has a digit, may have non-ASCII letters."""
    body = st.text(alphabet=ALNUM + "!%+-.^_~*éß密ж", min_size=7, max_size=24)
    return st.tuples(st.sampled_from(ALNUM), body, st.sampled_from(string.digits)).map("".join)


def random_hex(size: int) -> st.SearchStrategy[str]:
    """A hash or signature as tools print them: random hex (a run such as 000…111… is a stand-in, left readable)."""
    return chars("0123456789abcdef", size).filter(lambda s: shannon_entropy(s.encode()) >= 3.0)


def url_password() -> st.SearchStrategy[str]:
    body = st.text(alphabet=ALNUM + "!%+-.^_~*", min_size=7, max_size=24)
    return st.tuples(st.sampled_from(ALNUM), body, st.sampled_from(string.digits)).map("".join)


@dataclass(frozen=True)
class Context:
    """How a secret appears on a line. `wrap`: the whole context may sit inside quotes; `suffix`: text may
    follow it on the line (not for contexts that must end the line, like the last argument of htpasswd)."""

    template: str
    secret: st.SearchStrategy[str]
    wrap: bool = True
    suffix: bool = True


CONTEXTS: dict[str, Context] = {
    # provider tokens, bare
    "aws-access-key-id": Context(
        "{s}",
        st.tuples(st.sampled_from(["AKIA", "ASIA"]), chars(string.ascii_uppercase + string.digits, 16)).map("".join),
    ),
    "aws-session-token": Context("{s}", chars(BASE64, 150).map(lambda s: "IQoJb3JpZ2lu" + s)),
    "github-classic": Context(
        "{s}", st.tuples(st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]), chars(ALNUM, 36)).map("".join)
    ),
    "github-fine-grained": Context(
        "{s}", st.tuples(chars(ALNUM, 22), chars(ALNUM, 59)).map(lambda p: f"github_pat_{p[0]}_{p[1]}")
    ),
    "gitlab": Context("{s}", chars(URLSAFE, 20).map(lambda s: "glpat-" + s)),
    "slack": Context(
        "{s}",
        # a digit follows the prefix, as in every Slack token (xoxb-123…, xapp-1-…)
        st.tuples(
            st.sampled_from(["xoxb-", "xoxp-", "xoxa-", "xapp-"]), chars(string.digits, 1), chars(ALNUM + "-", 40)
        ).map("".join),
    ),
    "stripe": Context(
        "{s}", st.tuples(st.sampled_from(["sk_live_", "rk_live_", "sk_test_"]), chars(ALNUM, 24)).map("".join)
    ),
    "npm": Context("{s}", chars(ALNUM, 36).map(lambda s: "npm_" + s)),
    "google": Context("{s}", chars(URLSAFE, 35).map(lambda s: "AIza" + s)),
    "openai": Context(
        "{s}",
        # random base62: always has both letters and digits (the rule asks for both, so `sk-` names are left alone)
        st.tuples(
            st.sampled_from(["sk-", "sk-proj-"]),
            chars(URLSAFE, 46),
            st.sampled_from(string.ascii_letters),
            st.sampled_from(string.digits),
        ).map("".join),
    ),
    "vault": Context("{s}", st.tuples(st.sampled_from(["hvs.", "hvb."]), chars(URLSAFE, 24)).map("".join)),
    "docker": Context("{s}", chars(URLSAFE, 27).map(lambda s: "dckr_pat_" + s)),
    # gitleaks' jwt rule, which the masker follows, calls a token under 3 bits per character no secret (a real
    # JWT is random; eyJ111….eyJ000….000… is a stand-in): such draws are assumed away.
    "jwt": Context(
        "{s}",
        st.tuples(chars(URLSAFE, 20), chars(URLSAFE, 30), chars(URLSAFE, 43))
        .map(lambda p: f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}")
        .filter(lambda token: shannon_entropy(token.encode()) >= JWT_ENTROPY_FLOOR),
    ),
    "slack-webhook": Context("https://hooks.slack.com/services/{s}", chars(ALNUM, 24).map(lambda s: f"T0AB/B0CD/{s}")),
    # AWS secrets in their contexts
    "aws-secret-env": Context("export AWS_SECRET_ACCESS_KEY={s}", chars(BASE64, 40)),
    "aws-secret-ini": Context("aws_secret_access_key = {s}", chars(BASE64, 40), wrap=False),
    "aws-secret-json": Context('"SecretAccessKey": "{s}",', chars(BASE64, 40), wrap=False),
    "aws-session-token-json": Context('"SessionToken": "{s}"', chars(BASE64, 60), wrap=False),
    "aws-configure-prompt": Context("AWS Secret Access Key [None]: {s}", chars(BASE64, 40), wrap=False, suffix=False),
    "aws-secret-cli-text": Context(
        "ACCESSKEY\tAKIAIOSFODNN7EXAMPLE\t2024-05-01T12:00:00Z\t{s}\tActive\tbob", chars(BASE64, 40), wrap=False
    ),
    # secret-named assignments
    "env-password": Context("export DB_PASSWORD={s}", password_like()),
    "quoted-password": Context("DB_PASSWORD='{s}'", password_like(), wrap=False),
    "json-password": Context('{{"password": "{s}"}}', password_like(), wrap=False),
    "yaml-password": Context("password: {s}", password_like(), wrap=False),
    "env-token": Context("GITLAB_TOKEN={s}", password_like()),
    "env-secret": Context("CLIENT_SECRET={s}", password_like()),
    "env-key": Context("STRIPE_API_KEY={s}", password_like()),
    "php-define": Context("define('DB_PASSWORD', '{s}');", password_like(), wrap=False),
    "xml-password": Context("<password>{s}</password>", password_like()),
    # command-line flags
    "password-option": Context("app --password {s}", password_like()),
    "password-option-equals": Context("app --password={s}", password_like()),
    "mysql": Context("mysql -u root -p{s} orders", password_like()),
    "mysql-after-quoted-chain": Context("mysql -e 'show databases; select 1|2' -u root -p{s} orders", password_like()),
    "mysqladmin": Context("mysqladmin -u root password {s}", password_like()),
    "fish-set": Context("set -gx DB_PASSWORD {s}", password_like()),
    "csh-setenv": Context("setenv API_TOKEN {s}", password_like()),
    "npm-config-set": Context("npm config set //registry.npmjs.org/:_authToken {s}", password_like()),
    "redis-config-set": Context("redis-cli CONFIG SET requirepass {s}", password_like()),
    "name-value-json": Context('{{"name": "DB_PASSWORD", "value": "{s}"}}', password_like(), wrap=False),
    "subscript": Context("os.environ['API_TOKEN'] = '{s}'", password_like(), wrap=False),
    "sshpass": Context("sshpass -p {s} ssh bob@host", password_like()),
    "redis-cli": Context("redis-cli -h cache -a {s} ping", password_like()),
    "docker-login": Context("docker login -u bob -p {s} registry.example.com", password_like()),
    "htpasswd": Context("htpasswd -bc /etc/nginx/.htpasswd admin {s}", password_like(), suffix=False),
    "openssl": Context("openssl rsa -in k.pem -passin pass:{s} -out k2.pem", password_like()),
    "kubectl": Context("kubectl create secret generic db --from-literal=password={s}", password_like()),
    "helm": Context("helm upgrade app chart --set image.tag=1,db.password={s},replicas=2", password_like()),
    "ldap": Context("ldapsearch -x -w {s} -b dc=example", password_like()),
    "ssh-keygen": Context("ssh-keygen -t ed25519 -N {s} -f key", password_like()),
    "rdesktop": Context("rdesktop -u admin -p {s} 10.0.3.14", password_like()),
    "netexec-password": Context("nxc smb 10.0.3.0/24 -u admin -p {s} --shares", password_like()),
    "evil-winrm-nt-hash": Context("evil-winrm -i 10.0.3.14 -u admin -H {s}", random_hex(32)),
    "impacket-target": Context("impacket-secretsdump corp.local/admin:{s}@10.0.3.1", password_like()),
    "impacket-target-no-host": Context("impacket-GetUserSPNs corp.local/svc:{s} -dc-ip 10.0.3.1", password_like()),
    "impacket-hashes": Context("wmiexec.py -hashes :{s} corp/admin@10.0.3.14", random_hex(32)),
    "cloudformation": Context(
        "aws cloudformation deploy --parameters ParameterKey=DbPassword,ParameterValue={s}", password_like()
    ),
    "ssm-put-parameter": Context("aws ssm put-parameter --type SecureString --value {s}", password_like()),
    # URLs and headers
    "url": Context("psql postgresql://app:{s}@db.internal:5432/app", url_password()),
    "curl-user": Context("curl -u admin:{s} https://api.example.com", url_password()),
    "curl-combined-flags": Context("curl -sSfu admin:{s} https://api.example.com", url_password()),
    "httpie-auth": Context("http -a admin:{s} GET https://api.example.com", url_password()),
    "url-unencoded": Context(
        "psql postgresql://app:{s}@db.internal/app", url_password().map(lambda s: s[:3] + "@/#?" + s[3:])
    ),
    "url-signature-sas": Context(
        "curl 'https://acct.blob.core.windows.net/c/b?sp=r&se=2026-12-31&sig={s}'",
        st.tuples(chars(ALNUM, 12), chars(ALNUM, 30)).map(lambda p: f"{p[0]}%2B{p[1]}%3D"),
        wrap=False,
    ),
    "url-signature-presigned": Context(
        "wget 'https://b.s3.amazonaws.com/k?X-Amz-Expires=60&X-Amz-Signature={s}'", random_hex(64), wrap=False
    ),
    "authorization": Context("curl -H 'Authorization: Bearer {s}' https://api", password_like(), wrap=False),
    "api-key-header": Context('curl -H "X-Api-Key: {s}" https://api', password_like(), wrap=False),
    # piped secrets and SQL
    "sudo-stdin": Context("echo {s} | sudo -S systemctl restart app", password_like()),
    "sudo-stdin-validate": Context("echo {s} | sudo -Sv", password_like()),
    "passwd-pipe": Context("echo {s} | sudo passwd bob", password_like()),
    "gpg-passphrase-fd": Context("echo {s} | gpg --batch --passphrase-fd 0 -d s.gpg", password_like()),
    "openssl-quoted-spaces": Context('openssl rsa -passin "pass:two {s} words" -out k', password_like(), wrap=False),
    "chpasswd": Context("echo 'bob:{s}' | chpasswd", password_like(), wrap=False),
    "passwd-stdin": Context("echo {s} | passwd --stdin bob", password_like()),
    "sql-identified": Context("CREATE USER 'app'@'%' IDENTIFIED BY '{s}';", password_like(), wrap=False),
    "sql-password": Context("ALTER ROLE app WITH PASSWORD '{s}';", password_like(), wrap=False),
    "sql-set-password": Context("SET PASSWORD = '{s}';", password_like(), wrap=False),
}


def feed(lines: Sequence[str], cuts: Sequence[int], per_line: bool) -> list[str]:
    """One session's masker fed the lines split into events at `cuts`, by mask_lines or mask()."""
    masker = SecretMasker()
    bounds = sorted({0, len(lines), *(c % (len(lines) + 1) for c in cuts)})
    out: list[str] = []
    for start, stop in itertools.pairwise(bounds):
        event = lines[start:stop]
        out.extend([masker.mask(line) for line in event] if per_line else masker.mask_lines(event))
    return out


def assume_distinct(secret: str, *texts: str) -> None:
    assume(all(secret not in text for text in texts))
    assume(secret not in ALL_MARKERS)
    assume(not is_placeholder_token(secret.encode()))
    assume(not is_placeholder(secret.encode()))  # `A00TOKEN0` reads as a name, like ACCESS_TOKEN


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_secret_in_random_text_split_across_events_never_appears(name: str) -> None:
    context = CONTEXTS[name]

    @SETTINGS
    @given(
        secret=context.secret,
        prefix=filler,
        suffix=filler,
        sep=st.tuples(space, space),
        quote=st.sampled_from(["", "'", '"']),
        before=st.lists(filler, max_size=3),
        after=st.lists(filler, max_size=3),
        cuts=st.lists(st.integers(0, 8), max_size=4),
        per_line=st.booleans(),
    )
    def run(
        *,
        secret: str,
        prefix: str,
        suffix: str,
        sep: tuple[str, str],
        quote: str,
        before: list[str],
        after: list[str],
        cuts: list[int],
        per_line: bool,
    ) -> None:
        quote = quote if context.wrap else ""
        body = quote + context.template.format(s=secret) + quote
        line = prefix + sep[0] + body + (sep[1] + suffix if context.suffix else "")
        assume_distinct(secret, context.template, prefix, suffix, *before, *after)
        out = feed([*before, line, *after], cuts, per_line)
        assert all(secret not in text for text in out), out

    run()


@SETTINGS
@given(
    body=st.lists(chars(BASE64, 64), min_size=1, max_size=12),
    last=st.text(alphabet=BASE64, min_size=16, max_size=63).map(lambda s: s + "=="),
    label=st.sampled_from(["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""]),
    heredoc=st.booleans(),
    before=st.lists(filler, max_size=3),
    after=st.lists(filler, max_size=3),
    cuts=st.lists(st.integers(0, 20), max_size=5),
    per_line=st.booleans(),
)
def test_private_key_block_split_across_events_never_appears(
    *,
    body: list[str],
    last: str,
    label: str,
    heredoc: bool,
    before: list[str],
    after: list[str],
    cuts: list[int],
    per_line: bool,
) -> None:
    lead = "> " if heredoc else ""
    key = [f"{lead}{line}" for line in [*body, last]]
    block = [f"{lead}-----BEGIN {label}PRIVATE KEY-----", *key, f"{lead}-----END {label}PRIVATE KEY-----"]
    for secret in [*body, last]:
        assume_distinct(secret, *before, *after)
    out = feed([*before, *block, *after], cuts, per_line)
    assert all(secret not in text for secret in [*body, last] for text in out)


@SETTINGS
@given(secret=chars(BASE64, 40), cuts=st.lists(st.integers(0, 4), max_size=3), per_line=st.booleans())
def test_aws_configure_answer_on_the_next_line_never_appears(secret: str, cuts: list[int], per_line: bool) -> None:
    lines = [
        "$ aws configure",
        "AWS Access Key ID [None]: ",
        "AWS Secret Access Key [None]:",
        secret,
        "Default region name [None]: ",
    ]
    out = feed(lines, cuts, per_line)
    assert all(secret not in text for text in out)


@SETTINGS
@given(secret=password_like(), cuts=st.lists(st.integers(0, 6), max_size=3), per_line=st.booleans())
def test_ssm_secure_string_value_on_a_later_line_never_appears(secret: str, cuts: list[int], per_line: bool) -> None:
    lines = ["{", '    "Parameter": {', '        "Name": "/prod/db/password",', '        "Type": "SecureString",']
    lines += [f'        "Value": "{secret}",', '        "Version": 3']
    assume_distinct(secret, *lines[:4])
    out = feed(lines, cuts, per_line)
    assert all(secret not in text for text in out)


# --- idempotence, equivalence of the two entry points, robustness ---------------------------------------

# Fragments that make the parsers work: keywords, separators, quotes, markers, armour lines.
VOCABULARY = [
    "password", "PASSWORD", "token", "_KEY", "secret", "auth", "pass:", "pw", "=", ":", ": ", " = ", "'", '"',
    " ", "\t", "\n", ",", "&", "|", ";", "$", "${X}", "<x>", "***", "-p", "-u", "--password", "mysql", "sudo -S",
    "echo", "chpasswd", "://", "@", "IDENTIFIED BY", "PASSWORD ", "[MASKED:password]", "[MASKED:", "]",
    "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "MIIEvQIBADANBgkq", "AKIAIOSFODNN7EXAMPLE",
    "ghp_", "eyJ", "AWS Secret Access Key [None]:", "SecureString", '"Value": ', "\\", "\x00", "\x1b[K", "\b",
    "é", "密", "\ud800", "x", "1",
    "curl -su ", "http -a ", "${X:?m}", "arn:aws:secretsmanager:", "[0]", "['", "- name: DB_PASSWORD", "value: ",
    "||  SecretAccessKey  |  ", "WITH PASSWORD", "postgres-# ", "jq -r .SecretAccessKey", '"pass:', "{", "     1 ",
]  # fmt: skip
shell_like = st.lists(
    st.one_of(
        st.sampled_from(VOCABULARY),
        st.text(alphabet=string.ascii_letters + string.digits + " ._-/", min_size=1, max_size=6),
        st.text(max_size=2),
    ),
    max_size=30,
).map("".join)
any_text = st.one_of(shell_like, st.text(alphabet=st.characters(exclude_categories=()), max_size=60))


@settings(max_examples=400, deadline=None)
@given(text=any_text)
def test_masking_is_idempotent_and_never_raises(text: str) -> None:
    once = mask_secrets(text)
    assert mask_secrets(once) == once
    assert once.count("\n") == text.count("\n")


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(shell_like.map(lambda s: s.replace("\n", " ")), max_size=8),
    cuts=st.lists(st.integers(0, 8), max_size=3),
)
def test_mask_lines_equals_mask_line_by_line_in_any_event_split(lines: list[str], cuts: list[int]) -> None:
    assert feed(lines, cuts, per_line=False) == feed(lines, cuts, per_line=True)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(any_text.map(lambda s: s.replace("\n", " ")), max_size=6))
def test_unmasked_text_is_left_exactly_as_it_was(lines: list[str]) -> None:
    out = SecretMasker().mask_lines(lines)
    for original, masked in zip(lines, out, strict=True):
        assert masked == original or MARKER_PREFIX in masked


def test_property_contexts_cover_every_secret_family() -> None:
    check: Callable[[str], bool] = lambda word: any(word in name for name in CONTEXTS)  # noqa: E731
    assert all(check(word) for word in ["aws", "github", "gitlab", "slack", "stripe", "npm", "google", "openai"])
    assert all(check(word) for word in ["vault", "docker", "jwt", "mysql", "url", "curl", "sudo", "sql", "helm"])
