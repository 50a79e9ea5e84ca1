"""The one masker every outgoing string passes through: secrets in session text become ``[MASKED:<kind>]``.

Only the value is replaced, so a line stays readable (``mysql -u app -p[MASKED:mysql-password] orders``).
docs/masking.md is the reference: every kind, an example, and what is deliberately left alone.

How it works, and why:
- The person in the session controls the text, so every pattern is RE2 (google-re2): linear time, no
  backtracking, whatever the input. There is no Python ``re`` in this module.
- Lines are masked as UTF-8 bytes (``surrogatepass``, so lone surrogates from damaged terminal output survive
  the round trip) with RE2 in Latin-1 mode: every pattern is ASCII, every class treats the bytes >= 0x80 alike,
  so a replaced span can never cut a multi-byte character in half, and nothing here can raise on odd input.
- Fast path: most lines (``ls -la``, journal output) contain no secret-like text. One ``re2.Set`` of literal
  trigger substrings (``pass``, ``token``, ``akia``, ``://`` ...) rejects them with a single call and the line is
  returned as is. Every rule declares its triggers, and a rule can only fire on a line that holds one of them.
  A Set reports "no match" also when its DFA runs out of memory, so the trigger Set holds literals only: its
  DFA is then an Aho-Corasick automaton with at most one state per trigger character and cannot run out.
- One RE2 call costs ~0.7 us of fixed binding overhead (scanning costs ~2 ns a byte), more than scanning a
  whole line, so ``mask_lines`` (what the engine calls per event or batch of events) runs the trigger check once
  over all lines of the block, then once more per line with triggers. On such a line, each rule's cheap
  ``requires`` substrings are checked before its RE2 search.
- Searches go to google-re2's pybind binding directly (_Regex), not through its ``re``-like wrapper, which adds
  0.4-0.7 us to every search, ~0.35 us to every span() of its matches and ~2.5 us to a group() by name: that
  was most of the cost of masking a line with a secret (15-20 us then, 8-12 us now, of which ~4 us in RE2).
- Linear on hostile lines: every search resumes after the text it consumed, a rejected name consumes only
  itself and its separator and is judged before its value (which may run to the end of the line) is read
  (_apply_assignments), look-backs are bounded, and markers are cut out in one sweep.
- A few secrets come on the line after the one that announces them (`aws configure get ...`, a psql/mysql
  continuation prompt, YAML `- name: DB_PASSWORD` then `value: x`): the masker keeps that as per-session state.
- Idempotent: markers of known kinds are recognised and never masked again or split; a value that contains a
  marker (even a forged one) has its other parts masked around it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import re2

MARKER_PREFIX: Final = "[MASKED:"

# Every kind a marker can name. Markers are recognised (and protected) only for these, so text such as
# "[MASKED:hunter2]" typed by the user is not mistaken for a marker and still gets masked where it is a value.
KINDS: Final = frozenset(
    {
        # provider tokens with a known shape
        "aws-access-key-id",
        "aws-secret-access-key",
        "aws-session-token",
        "github-token",
        "gitlab-token",
        "slack-token",
        "slack-webhook",
        "stripe-key",
        "npm-token",
        "google-api-key",
        "openai-api-key",
        "anthropic-api-key",
        "vault-token",
        "docker-pat",
        "jwt",
        "private-key",
        # secret-named assignments, flags, JSON/YAML keys
        "password",
        "secret",
        "token",
        "api-key",
        "key",
        "auth",
        "ssm-secure-string",
        # command-line flags and piped secrets
        "mysql-password",
        "sshpass-password",
        "redis-password",
        "login-password",
        "htpasswd-password",
        "openssl-passphrase",
        "ldap-password",
        "mongo-password",
        "ssh-key-passphrase",
        "sudo-password",
        "chpasswd-password",
        "passwd-password",
        "stdin-password",
        "sql-password",
        "netrc-password",
        # URLs and HTTP
        "url-password",
        "basic-auth",
        "authorization-header",
        "bearer-token",
        # fail-closed fallback: the masker hit an internal error and replaced the whole line
        "unparsed-line",
    }
)

_OPTIONS = re2.Options()
_OPTIONS.encoding = re2.Options.Encoding.LATIN1

# A match as google-re2's binding returns it: (start, end) per group, group 0 being the whole match, and (-1, -1)
# for a group that took no part. Offsets are byte offsets into the line's bytes.
_Match = list[tuple[int, int]]

# The binding's anchors (RE2::Anchor).
_UNANCHORED: Final = re2._re2.RE2.Anchor.UNANCHORED
_ANCHOR_START: Final = re2._re2.RE2.Anchor.ANCHOR_START
_ANCHOR_BOTH: Final = re2._re2.RE2.Anchor.ANCHOR_BOTH


class _Regex:
    """An RE2 pattern over bytes, called through google-re2's pybind binding (``_re2.RE2.Match``) instead of its
    ``re``-like wrapper. The wrapper's search() runs a generator and builds a ``_Match`` per call, and each
    span()/group() of that object asks C++ for the group count again (a group name: a new dict of all names),
    which together cost more than most searches here. A match is the binding's own list of spans (_Match).
    tests/unit/test_masking_speed_paths.py pins this private binding against ``re2.compile``."""

    __slots__ = ("_match", "groupindex", "pattern")

    def __init__(self, pattern: str) -> None:
        compiled = re2.compile(pattern.encode("ascii"), _OPTIONS)  # the wrapper checks the pattern compiled
        self.pattern = pattern
        self._match = compiled._regexp.Match  # keeps the compiled RE2 object alive
        self.groupindex: dict[str, int] = {name.decode(): index for name, index in compiled.groupindex.items()}

    # RE2 rejects (no match, and an error logged) a pos past endpos or an endpos past the end: callers never
    # pass one. RE2 still sees the whole text, so ^ and \b before pos behave as in the wrapper.
    def search(self, data: bytes, pos: int = 0) -> _Match | None:
        spans: _Match = self._match(_UNANCHORED, data, pos, len(data))
        return spans if spans[0][0] >= 0 else None

    def search_within(self, data: bytes, pos: int, endpos: int) -> _Match | None:
        spans: _Match = self._match(_UNANCHORED, data, pos, endpos)
        return spans if spans[0][0] >= 0 else None

    def match(self, data: bytes, pos: int = 0) -> _Match | None:
        """A match that starts at pos."""
        spans: _Match = self._match(_ANCHOR_START, data, pos, len(data))
        return spans if spans[0][0] >= 0 else None

    def fullmatch(self, data: bytes) -> bool:
        """Whether all of data matches."""
        return bool(self._match(_ANCHOR_BOTH, data, 0, len(data))[0][0] >= 0)


def _compile(pattern: str) -> _Regex:
    return _Regex(pattern)


# --- value fragments --------------------------------------------------------------------------------------
# Capture groups whose name starts with "v" hold a value; the part after the last "_" says how to treat it:
#   w: a quoted string (the quotes stay, the inside is masked: mode q) or one shell word;
#   r: a quoted string or the rest of the line up to a closing quote (`password: two words`);
#   p: verbatim, but placeholders stay; v: verbatim (a provider token's own shape is never a placeholder).
# One group per value: a quoted alternative starts with its quote and the others never do, so the first
# byte tells them apart (fewer groups also keep RE2's per-match cost down).
# Group "n" holds a secret-looking name that _classify_name turns into a kind (or rejects).
_QUOTED = r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'"
_SQL_QUOTED = r"'(?:[^'\\\n]|\\.|'')*'|\"(?:[^\"\\\n]|\\.|\"\")*\""  # SQL doubles a quote to escape it


# An unquoted shell word: it ends at whitespace, a quote or a shell operator (; | && and a lone & before a
# space), so a masked value never swallows the operator that separates it from the next command.
_WORD_CHAR = r"(?:[^\s'\";|&]|&[^\s'\";|&])"


# A command substitution is one value even with spaces inside: `$(cat /run/secrets/db)` stays (placeholder),
# `$(echo hunter2)` is masked whole.
_SUBSTITUTION = r"\$\([^()\n]*\)"


def _value(tag: str = "v") -> str:
    return rf"(?P<{tag}_w>{_QUOTED}|{_SUBSTITUTION}|{_WORD_CHAR}+)"


def _option_value(tag: str = "v", *, dash: bool = False) -> str:
    """A space-separated option argument: not the next option. With `dash`, a word that starts with `-` is also
    taken (group mode d), to be kept only if it looks random (`-p -Zq7vRm2Lx9`, not `--password -h db`)."""
    word = rf"(?P<{tag}_w>{_QUOTED}|{_SUBSTITUTION}|[^\s'\";|&-]{_WORD_CHAR}*)"
    return rf"{word}|(?P<{tag}_d>-[^\s'\";|&-]{_WORD_CHAR}{{5,}})" if dash else word  # 6+ after -: _looks_random


# The rest of the line, up to a quote that closes (one followed by a space, an operator or the end), as in
# `-H 'X-Api-Key: abc' url`; a quote inside (`password: it's "x"`) does not end the value.
_REST = r"[^\s'\"](?:[^'\"\n]|['\"][^\s'\";|&)])*"


def _rest_value(tag: str = "v") -> str:
    return rf"(?P<{tag}_r>{_QUOTED}|{_REST})"


# Inside one command of a chain: anything up to ; & | (so a flag of the next command is not taken), stepping over
# quoted strings, which may hold them (`mysql -e "show databases; show tables" -pX`); a lone quote is a character.
# Lazy twice over: the nearest flag wins (a greedy `?` would prefer a later `-p` and leave the first one's value).
_SAME_COMMAND = rf"(?:(?:[^;&|\n]|{_QUOTED})*?\s)??"
# A secret-looking name: the literal keywords also drive the trigger Set; _classify_name decides precisely.
_NAME_KEYWORDS = r"(?i:pass|pw|secret|token|cred|key|auth)"
_NAME = rf"(?P<n>[A-Za-z0-9_.-]*{_NAME_KEYWORDS}[A-Za-z0-9_.-]*)"
_NAME_TRIGGERS = ("pass", "pw", "secret", "token", "cred", "key", "auth")
# What `echo X |` / `printf '%s\n' X |` feeds into a command's standard input.
_ECHO = (
    r"\b(?:echo(?:[ \t]+-[neE]+)*|printf(?:[ \t]+'%s\\n'|[ \t]+\"%s\\n\")?|yes)[ \t]+"
    rf"(?P<v_w>{_QUOTED}|[^\s'\"|;&<>]+)[ \t]*\|[ \t]*"
)
_ECHO_REQUIRES: Final = ((b"|",), (b"echo", b"printf", b"yes"))
_HTPASSWD_ARG = rf"{_QUOTED}|[^\s'\";&|<>]+"
_SUDO_PREFIX = r"(?:(?:\S*/)?sudo(?:[ \t]+-\S+)*[ \t]+)?(?:\S*/)?"
# sudo's option that makes it read the password from stdin: -S, also among others (-kS, -Sv, -Si), or --stdin.
_SUDO_STDIN = r"(?:-[A-Za-z]*S[A-Za-z]*\b|--stdin\b)"
# `user:password` of curl -u, httpie -a, ...: quoted or one word. The user may hold a marker (`-u [MASKED:...]:`,
# a token as the user), whose own colon is not the separator, or a second pass would split the marker.
_USER_IN_MARKER = r"\[MASKED:[a-z-]+\]"
_USER_PASSWORD = (
    rf"(?:'(?P<u1>(?:{_USER_IN_MARKER}|[^':\s\[])*):(?P<v_sq>[^'\n]+)'"
    rf"|\"(?P<u2>(?:{_USER_IN_MARKER}|[^\":\s\[])*):(?P<v_dq>[^\"\n]+)\""
    rf"|(?P<u3>(?:{_USER_IN_MARKER}|[^\s:'\"\[])*):(?P<v_w>[^\s'\"]+))"
)


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    triggers: tuple[str, ...]
    regex: _Regex
    value_groups: tuple[tuple[int, str], ...]
    name_group: int
    accept: Callable[[_Rule, _Match, bytes, bytes], bool] | None  # (rule, match, line, value): keep the value?
    user_split: bool  # `user:password` values (chpasswd): keep the user readable
    special: str  # "" or a handler of its own: "assignment", "htpasswd", "aws-prompt", "secure-string", _ANNOUNCES
    dotted_name: bool  # the name is `profile.x.aws_secret_access_key`: classify its last part
    # Cheap necessary conditions checked with `in` before the RE2 search (each inner tuple: one of these
    # bytes must occur): a line that merely mentions `sudo` costs no RE2 call for the `echo X | sudo -S` rule.
    requires: tuple[tuple[bytes, ...], ...]


def _rule(
    kind: str,
    triggers: tuple[str, ...],
    pattern: str,
    *,
    accept: Callable[[_Rule, _Match, bytes, bytes], bool] | None = None,
    user_split: bool = False,
    special: str = "",
    dotted_name: bool = False,
    requires: tuple[tuple[bytes, ...], ...] = (),
) -> _Rule:
    regex = _compile(pattern)
    groups = regex.groupindex
    values = tuple(sorted((i, name.rsplit("_", 1)[1]) for name, i in groups.items() if name.startswith("v")))
    return _Rule(kind, triggers, regex, values, groups.get("n", 0), accept, user_split, special, dotted_name, requires)


def _has_digit_and_letter(rule: _Rule, match: _Match, data: bytes, value: bytes) -> bool:
    """`sk-` also starts ordinary hyphenated names; OpenAI keys are random base62, so they mix both."""
    body = value[3:]
    return any(48 <= c <= 57 for c in body) and any(65 <= (c | 32) - 32 <= 90 for c in body)


def _is_user_password(rule: _Rule, match: _Match, data: bytes, value: bytes) -> bool:
    """`-u user:password`, but not `docker run -u 1000:1000` (uid:gid) nor `redis-cli -u redis://...` (a URL,
    masked by the url-password rule)."""
    user = b""
    for name in ("u1", "u2", "u3"):  # one per quoting alternative; the first that took part
        start, end = match[rule.regex.groupindex[name]]
        if start >= 0:
            user = data[start:end]
            break
    if _is_placeholder(user + b":" + value):  # `--user <user:password>` in help text, `-u ${X:?msg}`
        return False
    return not (value.startswith(b"//") or (value.isdigit() and (user.isdigit() or not user)))


def _is_option_name(rule: _Rule, match: _Match, data: bytes, value: bytes) -> bool:
    """`--password X`, `-storepass X`, `-Password X`, `-apiToken X`, `-oauth2token X`, `-pToken X`, `-sPassword X`;
    but `mysql -pS3cr3tPw orders` and `mysql -ppassword123 orders` are a one-letter option with its value
    attached (holding `Pw`, `password`), not an option named like a secret, and `orders` is no value. A
    single-dash name is such a value when it ends with a digit and does not start with a secret keyword
    (`-ppassword123`, but `-password1 X` is a name), or when a lower-case letter and then an upper-case one start
    it and a digit follows (`-pS3cr3tPw`; `-oauth2token` and `-pToken` are names)."""
    if value.startswith(b"pass:") or _PASS_SOURCE.fullmatch(value):
        return False  # `-pass pass:x` is the openssl-passphrase rule's; `-pass env:VAR` only names where it is
    start, end = match[rule.name_group]
    name = data[start:end]
    if name.startswith(b"--"):
        return True
    if name[-1:].isdigit():
        return name[1:].lower().startswith(_NAME_KEYWORD_BYTES)
    return not (name[1:2].islower() and name[2:3].isupper() and any(48 <= c <= 57 for c in name[2:]))


# Values that only say where a passphrase is (openssl-passphrase-options(1) and tools that copy it): exactly
# `stdin`, `fd:<digits>`, `env:<NAME>` with an environment-variable name, `file:<path>` with a `/` or `.` in the
# path. Anything else (`stdinPw77`, `file:abc123`, `env:s3cret`) is a value.
_PASS_SOURCE: Final = _compile(r"stdin|fd:[0-9]+|env:[A-Z_][A-Z0-9_]*|file:[^\s/.]*[/.]\S*")
_NAME_KEYWORD_BYTES: Final = tuple(keyword.encode() for keyword in _NAME_TRIGGERS)


def _is_not_a_port(rule: _Rule, match: _Match, data: bytes, value: bytes) -> bool:
    """`http://localhost:4873/@scope/pkg` is host:port and a path with an @, not user:password@host."""
    head = value
    for separator in (b"/", b"?", b"#"):
        head = head.split(separator, 1)[0]
    return not (head.isdigit() and len(head) < len(value))


def _looks_random(value: bytes) -> bool:
    """A word that starts with `-` but is a value, not the next option (`-p -Zq7vRm2Lx9`): long, and mixing
    upper case, lower case and digits, as options (`-h`, `-x`, `--verbose`) do not."""
    body = value[1:]
    return (
        len(body) >= 6
        and any(48 <= c <= 57 for c in body)
        and any(65 <= c <= 90 for c in body)
        and any(97 <= c <= 122 for c in body)
    )


# Rules in priority order: when spans of several rules overlap they merge into one marker named after the
# earliest rule (the most specific). Sources for token shapes are given per rule. Every token shape starts at
# a word boundary and runs to the end of its characters, so a marker never creates a boundary that a second
# pass could match at (masking stays idempotent).
_RULES: Final[tuple[_Rule, ...]] = (
    # AWS IAM identifiers (docs: "Understanding unique ID prefixes"): AKIA = long-term access key,
    # ASIA = temporary (STS) access key; 20 upper-case alphanumerics.
    _rule(
        "aws-access-key-id", ("akia", "asia"), r"\b(?P<v_v>(?:AKIA|ASIA)[A-Z0-9]{16})\b", requires=((b"AKIA", b"ASIA"),)
    ),
    # A secret access key (40 base64 chars) right after its key id: credentials.csv rows, `key secret` pairs, and
    # the CLI's text output, where a timestamp may come between (`iam create-access-key --output text`:
    # ACCESSKEY, key id, CreateDate, secret, status, user; `sts assume-role`: key id, Expiration, secret, token).
    _rule(
        "aws-secret-access-key",
        ("akia", "asia"),
        r"\b(?:AKIA|ASIA)[A-Z0-9]{16}[\t ,:;|=]+"
        r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?[\t ,;|]+)?"
        r"(?P<v_v>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
        requires=((b"AKIA", b"ASIA"),),
    ),
    # STS session tokens are base64 of a binary blob with a fixed header: "IQoJb3JpZ2lu" ("!\n\torigin"),
    # older ones "FwoGZXIvYXdz" / "FQoGZXIvYXdz" ("...er/aws").
    _rule(
        "aws-session-token",
        ("iqojb3jpz2lu", "fwogzxivyxdz", "fqogzxivyxdz"),
        r"\b(?P<v_v>(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=]{16,})",
        requires=((b"IQoJ", b"FwoG", b"FQoG"),),
    ),
    # GitHub ("Behind GitHub's new authentication token formats", 2021): ghp_/gho_/ghu_/ghs_/ghr_ + 36 base62;
    # fine-grained PATs: github_pat_ + 22 + _ + 59.
    _rule(
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        r"\b(?P<v_v>gh[pousr]_[A-Za-z0-9]{36,})",
        requires=((b"gh",),),
    ),
    _rule("github-token", ("github_pat_",), r"\b(?P<v_v>github_pat_[A-Za-z0-9_]{22,})", requires=((b"github_pat_",),)),
    # GitLab docs "Token prefixes": glpat- personal, gldt- deploy, glrt- runner, glptt- trigger, ...
    _rule(
        "gitlab-token",
        ("glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "glsoat-", "gloas-"),
        r"\b(?P<v_v>gl(?:pat|dt|rt|cbt|ptt|ft|imt|agent|soat|oas)-[A-Za-z0-9_.-]{20,})",
        requires=((b"gl",),),
    ),
    # Slack docs "Token types": xoxb- bot, xoxp- user, xoxa-/xoxr-/xoxs-/xoxe- others, xapp- app-level.
    _rule(
        "slack-token",
        ("xox", "xapp-"),
        r"\b(?P<v_v>(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,})",
        requires=((b"xox", b"xapp-"),),
    ),
    # Incoming webhooks: https://hooks.slack.com/services/T.../B.../secret (the host stays readable).
    _rule(
        "slack-webhook",
        ("hooks.slack.com", "hooks.slack-gov.com"),
        r"hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/(?P<v_v>[A-Za-z0-9_/+-]+)",
        requires=((b"hooks.slack",),),
    ),
    # Stripe docs "API keys": sk_ secret, rk_ restricted, _live_/_test_; whsec_ webhook signing secrets.
    _rule(
        "stripe-key",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"),
        r"\b(?P<v_v>[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9+/]{20,})",
        requires=((b"k_live_", b"k_test_", b"whsec_"),),
    ),
    # npm docs "About access tokens": npm_ + 36 base62.
    _rule("npm-token", ("npm_",), r"\b(?P<v_v>npm_[A-Za-z0-9]{36,})", requires=((b"npm_",),)),
    # Google Cloud API keys: AIza + 35 characters. The whole run is masked: a match that ended inside a longer
    # word would let the marker's "]" create a word boundary that a second pass could match after.
    _rule("google-api-key", ("aiza",), r"\b(?P<v_v>AIza[0-9A-Za-z_-]{35,})", requires=((b"AIza",),)),
    # Anthropic keys start sk-ant-; listed before OpenAI so they get their own name.
    _rule(
        "anthropic-api-key",
        ("sk-ant-",),
        r"(?:^|[^A-Za-z0-9_-])(?P<v_v>sk-ant-[A-Za-z0-9_-]{20,})",
        requires=((b"sk-ant-",),),
    ),
    # OpenAI: sk- + 48 base62 (legacy), sk-proj-/sk-svcacct-/sk-admin- + longer url-safe base64.
    _rule(
        "openai-api-key",
        ("sk-",),
        r"(?:^|[^A-Za-z0-9_-])(?P<v_v>sk-[A-Za-z0-9_-]{20,})",
        requires=((b"sk-",),),
        accept=_has_digit_and_letter,
    ),
    # Vault >= 1.10 tokens: hvs. service, hvb. batch, hvr. recovery (Vault docs "Tokens").
    _rule("vault-token", ("hvs.", "hvb.", "hvr."), r"\b(?P<v_v>hv[sbr]\.[A-Za-z0-9_-]{20,})", requires=((b"hv",),)),
    # Docker docs "Access tokens": dckr_pat_ personal, dckr_oat_ organization.
    _rule(
        "docker-pat",
        ("dckr_pat_", "dckr_oat_"),
        r"\b(?P<v_v>dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,})",
        requires=((b"dckr_",),),
    ),
    # JWT (RFC 7519): base64url('{"...') = eyJ..., header.payload.signature.
    _rule(
        "jwt", ("eyj",), r"\b(?P<v_v>eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)", requires=((b"eyJ",),)
    ),
    # `aws configure` echoes what is typed after its prompt (an empty answer keeps the value in brackets).
    _rule(
        "aws-secret-access-key",
        ("secret access key", "access key id", "session token"),
        r"(?i)\bAWS[ \t]+(?P<k>Secret Access Key|Access Key ID|Session Token)[ \t]*\[[^\]\n]*\]:[ \t]*"
        r"(?P<v_w>\S*)[ \t]*$",
        special="aws-prompt",
        requires=((b"]:",),),
    ),
    # `aws configure set [profile.x.]aws_secret_access_key VALUE`
    _rule(
        "secret",
        ("configure",),
        rf"\bconfigure[ \t]+set[ \t]+(?P<n>[A-Za-z0-9_.-]+)[ \t]+{_value()}",
        dotted_name=True,
        requires=((b"set",),),
    ),
    # `aws ... --output table`: `||  SecretAccessKey  |  wJalr...  ||` (the name decides, as for assignments).
    _rule("secret", _NAME_TRIGGERS, rf"^[ \t]*\|+[ \t]*{_NAME}[ \t]*\|[ \t]*(?P<v_w>[^\s|]+)", requires=((b"|",),)),
    # A command that prints one secret alone on the next line: `aws configure get aws_secret_access_key`,
    # `jq -r '.Credentials.SecretAccessKey'` (nothing piped on). The next line is masked if it is one word (and,
    # for an AWS secret key, has a key's shape: see _take_pending).
    _rule(
        "secret",
        ("configure get",),
        r"\baws[ \t]+configure[ \t]+get[ \t]+(?:[A-Za-z0-9_-]+\.)*(?P<n>[A-Za-z0-9_]+)(?:[ \t]+[^|;&\s][^|;&]*)?$",
        special="prints-value",
    ),
    _rule(
        "secret",
        ("jq ",),
        r"\bjq[ \t]+(?:-[A-Za-z-]+[ \t]+)*['\"]?(?:\.[A-Za-z0-9_]+(?:\[[0-9]*\])?)*\.(?P<n>[A-Za-z0-9_]+)['\"]?"
        r"(?:[ \t]+[^|;&\s][^|;&]*)?$",
        special="prints-value",
    ),
    # `aws ssm put-parameter --type SecureString --value X` and the decrypted `"Value"` that follows
    # `"Type": "SecureString"` in get-parameter(s) output (possibly on a later line: see _SSM_VALUE).
    _rule("ssm-secure-string", ("securestring",), r"SecureString", special="secure-string"),
    # mysql/mariadb: only the attached form is a password; `-p` alone (or `-p X`) prompts; -P is the port.
    _rule(
        "mysql-password",
        ("mysql", "mariadb"),
        rf"(?i:\b(?:mysql|mariadb)[a-z_-]*)\s{_SAME_COMMAND}-p{_value()}",
        requires=((b"-p",),),
    ),
    # mysqladmin's command `password NEW` sets a new password.
    _rule(
        "mysql-password",
        ("mysqladmin",),
        rf"\bmysqladmin\s{_SAME_COMMAND}password[ \t]+{_option_value()}",
        requires=((b"password",),),
    ),
    _rule("sshpass-password", ("sshpass",), rf"\bsshpass\s{_SAME_COMMAND}-p[ \t]*{_value()}", requires=((b"-p",),)),
    _rule(
        "redis-password",
        ("redis-cli",),
        rf"\bredis-cli\s{_SAME_COMMAND}(?:-a[ \t]*|--pass[ \t]+|--pass=){_option_value()}",
        requires=((b"-a", b"--pass"),),
    ),
    # redis-cli's own prompt: `127.0.0.1:6379> AUTH [user] password`
    _rule(
        "redis-password",
        ("auth",),
        rf"(?i)^[^\s>]*>[ \t]*auth[ \t]+(?:\S+[ \t]+)?{_value()}[ \t]*$",
        requires=((b">",),),
    ),
    # redis.conf (`requirepass X`, `masterauth X`, also as grep prints them: `redis.conf:12:requirepass X`) and
    # `CONFIG SET requirepass X` (redis-cli argument or at its prompt).
    _rule(
        "redis-password",
        ("requirepass", "masterauth"),
        r"(?i)(?:^[ \t]*(?:[^\s:]+:(?:[0-9]+:)?)?|\bconfig[ \t]+set[ \t]+)(?:requirepass|masterauth)[ \t]+"
        rf"{_value()}",
    ),
    _rule(
        "login-password",
        ("login",),
        r"\b(?:docker|podman|helm|buildah|skopeo|nerdctl|oras|crane|regctl|oc|cf|az)\s"
        rf"{_SAME_COMMAND}login\s{_SAME_COMMAND}-p(?:[ \t]+|=)?(?:{_option_value(dash=True)})",
        requires=((b"-p",),),
    ),
    # htpasswd(1): with -b the password is an argument: `htpasswd -b[c] FILE USER PASSWORD`, or with -n (no
    # file) `htpasswd -nb USER PASSWORD`. Options come first; -C and -r take a number.
    _rule(
        "htpasswd-password",
        ("htpasswd",),
        rf"\bhtpasswd(?P<f>(?:[ \t]+-[A-Za-z]+(?:[ \t]+[0-9]+)?)+)[ \t]+(?P<a1>{_HTPASSWD_ARG})[ \t]+"
        rf"(?P<v_w>{_HTPASSWD_ARG})(?:[ \t]+(?P<v3_w>{_HTPASSWD_ARG}))?",
        requires=((b"-",),),
        special="htpasswd",
    ),
    # openssl pass phrase arguments (openssl-passphrase-options(1)): only pass: is literal (env:, file:, fd:
    # and stdin name where it is); `openssl enc -k X` is the old literal form.
    # A quoted `"pass:two words"` runs to its closing quote.
    _rule(
        "openssl-passphrase",
        ("pass:",),
        r"\"pass:(?P<v1_p>(?:[^\"\\\n]|\\.)*)\"|'pass:(?P<v2_p>[^'\n]*)'" rf"|\bpass:{_value()}",
    ),
    _rule(
        "openssl-passphrase",
        ("openssl",),
        rf"\bopenssl\s{_SAME_COMMAND}-k[ \t]+{_option_value()}",
        requires=((b"-k",),),
    ),
    _rule("ldap-password", ("ldap",), rf"\bldap[a-z]*\s{_SAME_COMMAND}-w[ \t]*{_option_value()}", requires=((b"-w",),)),
    _rule(
        "mongo-password", ("mongo",), rf"\bmongo[a-z]*\s{_SAME_COMMAND}-p[ \t]*{_option_value()}", requires=((b"-p",),)
    ),
    _rule(
        "ssh-key-passphrase",
        ("ssh-keygen",),
        rf"\bssh-keygen\s{_SAME_COMMAND}-[NP][ \t]*{_option_value()}",
        requires=((b"-N", b"-P"),),
    ),
    # scheme://user:password@host (RFC 3986 userinfo): the user stays, the password goes. A password typed
    # unencoded may hold / # ? @ (`app:S3c@r3t@db`), so it runs to the last @ of the word, but never over an
    # embedded `://`: a URL inside another one's path or query (`http://localhost:8080/cb?next=https://admin:pw@
    # other/x`) is matched on its own, not swallowed by a match of the first URL that _is_not_a_port rejects and
    # the search then skips; and a match never spans a later URL (linear on `http://h:1/` repeated). A value is
    # a run of units: a character other than `:`, or colons (also `:/:`) and at most one `/` before a character
    # other than `:` and `/`; colons and one `/` may end it.
    _rule(
        "url-password",
        ("://",),
        r"\b[A-Za-z][A-Za-z0-9+.-]*://[^:@/\s'\"]*:"
        r"(?P<v_p>(?:[^\s'\":]|:+(?:/:+)*/?[^\s'\":/])*(?::+(?:/:+)*/?)?)@",
        accept=_is_not_a_port,
        requires=((b"@",),),
    ),
    # curl/wget/httpie -u user:password, --user / --proxy-user user:password (the user stays); curl's -U and
    # short options run together (`-su`, `-sSfu`); httpie's -a / --auth.
    _rule(
        "basic-auth",
        (" -u", "--user", "--proxy-user"),
        rf"(?:^|\s)(?:-u[ \t]*|--(?:proxy-)?user(?:[ \t]+|=)){_USER_PASSWORD}",
        accept=_is_user_password,
        requires=((b":",),),
    ),
    _rule(
        "basic-auth",
        ("curl",),
        rf"\bcurl\s{_SAME_COMMAND}(?:-[A-Za-z0-9#]+[uU]|-U)[ \t]*{_USER_PASSWORD}",
        accept=_is_user_password,
        requires=((b":",), (b"u", b"U")),
    ),
    _rule(
        "basic-auth",
        ("http ", "https "),
        rf"\bhttps?\s{_SAME_COMMAND}(?:-a[ \t]*|--auth(?:[ \t]+|=)){_USER_PASSWORD}",
        accept=_is_user_password,
        requires=((b":",), (b"-a", b"--auth")),
    ),
    # Authorization headers: the scheme (Bearer, Basic, ...) stays readable.
    _rule(
        "authorization-header",
        ("authorization",),
        r"(?i)\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?:(?:bearer|basic|token|digest|negotiate|ntlm|api-?key|key|sso-key|aws4-hmac-sha256|gitlab-ci-token"
        rf"|otp|hmac)[ \t]+)?(?P<v_r>{_REST})",
        requires=((b":", b"="),),
    ),
    _rule("bearer-token", ("bearer",), r"\b(?:Bearer|bearer|BEARER)[ \t]+(?P<v_p>[A-Za-z0-9._~+/-]{8,}=*)"),
    # Secrets fed to a command's stdin (sudo -S, chpasswd, passwd, docker login --password-stdin, ...).
    _rule(
        "sudo-password",
        ("sudo",),
        rf"{_ECHO}(?:\S*/)?sudo[ \t](?:[^|;&\n]*?[ \t])??{_SUDO_STDIN}",
        requires=_ECHO_REQUIRES,
    ),
    _rule(
        "chpasswd-password",
        ("chpasswd",),
        rf"{_ECHO}{_SUDO_PREFIX}chpasswd\b",
        user_split=True,
        requires=_ECHO_REQUIRES,
    ),
    # passwd reads the new password (twice: `echo -e 'X\nX'`) from a pipe, with or without --stdin.
    _rule(
        "passwd-password",
        ("passwd",),
        rf"{_ECHO}{_SUDO_PREFIX}passwd(?:[ \t;&|)]|$)",
        requires=_ECHO_REQUIRES,
    ),
    # docker login --password-stdin, gpg --passphrase-fd 0, cryptsetup (luksOpen, open, luksFormat... read the
    # passphrase from stdin), htpasswd -i.
    _rule(
        "stdin-password",
        ("--password-stdin", "passphrase-fd", "cryptsetup", "htpasswd"),
        rf"{_ECHO}(?:[^|;&\n]*--password-stdin\b|[^|;&\n]*--passphrase-fd(?:[ \t]+|=)0\b"
        rf"|{_SUDO_PREFIX}cryptsetup\b|{_SUDO_PREFIX}htpasswd(?:[ \t]+-[A-Za-z]+)*?[ \t]+-[A-Za-z]*i[A-Za-z]*\b)",
        requires=_ECHO_REQUIRES,
    ),
    _rule(
        "stdin-password",
        ("<<<",),
        rf"(?:\bsudo[ \t](?:[^|;&\n<]*?[ \t])??{_SUDO_STDIN}|\bpasswd[ \t](?:[^|;&\n<]*?[ \t])??"
        rf"--stdin\b|--password-stdin\b)[^|;&\n<]*<<<[ \t]*{_value()}",
    ),
    _rule("chpasswd-password", ("<<<",), rf"\bchpasswd\b[^|;&\n<]*<<<[ \t]*{_value()}", user_split=True),
    # SQL: MySQL/Oracle IDENTIFIED [WITH plugin] BY 'x' (Oracle allows it unquoted), PostgreSQL [WITH]
    # [ENCRYPTED] PASSWORD 'x', MySQL SET PASSWORD [FOR u] = ['x' | PASSWORD('x')].
    _rule(
        "sql-password",
        ("identified",),
        r"(?i)\bidentified[ \t]+(?:with[ \t]+\S+[ \t]+)?(?:by|as)[ \t]+(?:password[ \t]+)?"
        rf"(?P<v_w>{_SQL_QUOTED}|[^\s'\";,)]+)",
    ),
    _rule(
        "sql-password",
        ("password",),
        rf"(?i)\bset[ \t]+password\b[^=;\n]*=[ \t]*(?:password[ \t]*\([ \t]*)?(?P<v_w>{_SQL_QUOTED})",
        requires=((b"=",),),
    ),
    _rule(
        "sql-password",
        ("password",),
        rf"(?i)\bpassword(?:[ \t]+|[ \t]*\([ \t]*)(?P<v_w>{_SQL_QUOTED})",
        requires=((b"'", b'"'),),
    ),
    # The statement goes on at the client's continuation prompt (psql `postgres-# `, mysql `    -> `): a line that
    # ends with IDENTIFIED BY, or PASSWORD after WITH / ENCRYPTED / LOGIN or at a psql/mysql prompt, has its
    # password on the next line (see _take_pending).
    _rule(
        "sql-password",
        ("identified", "password"),
        r"(?i)(?:\bidentified[ \t]+(?:with[ \t]+\S+[ \t]+)?(?:by|as)"
        r"|(?:\b(?:with|encrypted|login)[ \t]+|^[ \t]*(?:[A-Za-z0-9_]*[=-]#|mysql>|mariadb[^>\n]*>|->)[^\n]*[ \t])"
        r"password)[ \t]*$",
        special="sql-next-line",
    ),
    # Other tools that take a password as an argument: zip/unzip -P X, 7z -pX (attached; -p alone prompts),
    # sqlcmd -P X, xfreerdp /p:X, smbclient -U user%X, rabbitmqctl add_user|change_password USER X, and Oracle's
    # user/password@db connect strings (sqlplus, expdp, impdp, rman).
    _rule(
        "password",
        ("zip", "7z", "sqlcmd", "xfreerdp", "smbclient", "rabbitmqctl", "sqlplus", "expdp", "impdp", "rman"),
        rf"(?:^|[\s/])(?:un)?zip\s{_SAME_COMMAND}-P[ \t]+{_option_value()}"
        rf"|(?:^|[\s/])7za?\s{_SAME_COMMAND}-p(?P<v7_w>{_QUOTED}|{_WORD_CHAR}+)"
        rf"|\bsqlcmd\s{_SAME_COMMAND}-P[ \t]*{_option_value('vs')}"
        rf"|\bxfreerdp\s{_SAME_COMMAND}/p:{_value('vx')}"
        r"|\bsmbclient\s[^;&|\n]*?-U[ \t]*['\"]?[^\s%'\"]+%(?P<vb_w>[^\s'\"]+)"
        rf"|\brabbitmqctl[ \t]+(?:-\S+[ \t]+)*(?:add_user|change_password)[ \t]+\S+[ \t]+{_value('vr')}"
        r"|\b(?:sqlplus|expdp|impdp|rman)(?:[ \t]+-\S+)*[ \t]+['\"]?[A-Za-z0-9_$#]+/(?P<vo_w>[^\s@'\"/]+)",
    ),
    # ~/.netrc: `machine h login u password p`, or `password p` on a line of its own.
    _rule(
        "netrc-password",
        ("password",),
        r"(?:\bmachine[ \t]+\S+(?:[ \t]+login[ \t]+\S+)?[ \t]+|^[ \t]*)password[ \t]+(?P<v_w>[^\s'\"]+)[ \t]*$",
        requires=((b"password",),),
    ),
    # vault login TOKEN; vault's "Key  Value" table (`token   hvs....`, also legacy s. tokens).
    _rule(
        "vault-token",
        ("vault",),
        r"\bvault[ \t]+login[ \t]+(?:-\S+[ \t]+)*(?P<v_w>[A-Za-z0-9_.-]{16,})(?:[ \t]|$)",
        requires=((b"login",),),
    ),
    _rule("vault-token", ("token",), r"^[ \t]*token[ \t]{2,}(?P<v_w>\S+)[ \t]*$", requires=((b"token",),)),
    # Environment lists as name/value pairs (Kubernetes, ECS task definitions, CloudFormation JSON parameters):
    # {"name": "DB_PASSWORD", "value": "x"} on one line; on two lines, see _take_pending.
    _rule(
        "secret",
        _NAME_TRIGGERS,
        r"[\"']?\b(?:[Nn]ame|ParameterKey)[\"']?[ \t]*[:=][ \t]*[\"']?(?P<n>[A-Za-z0-9_.-]+)[\"']?[ \t]*,[ \t]*"
        rf"[\"']?(?:[Vv]alue|ParameterValue)[\"']?[ \t]*[:=][ \t]*(?P<v_w>{_QUOTED}|[^\s'\",{{}}]+)",
        requires=((b"alue",),),
    ),
    _rule(
        "secret",
        _NAME_TRIGGERS,
        r"^[ \t]*(?:-[ \t]+)?[\"']?name[\"']?[ \t]*:[ \t]*[\"']?(?P<n>[A-Za-z0-9_.-]+)[\"']?,?[ \t]*$",
        special="name-value",
        requires=((b"name",),),
    ),
    # `npm config set //registry.npmjs.org/:_authToken X` (also pnpm, yarn); csh `setenv NAME X`; fish
    # `set -gx NAME X` (at least one option, so that SQL's `SET PASSWORD ...` is not taken).
    _rule(
        "secret",
        ("config set",),
        r"\b(?:npm|pnpm|yarn)[ \t]+config[ \t]+set[ \t]+(?:-\S+[ \t]+)*(?:\S*:)?(?P<n>[A-Za-z0-9_.-]+)[ \t]+"
        rf"{_value()}",
    ),
    _rule(
        "secret",
        ("setenv", "set -"),
        rf"(?:\bsetenv|\bset(?:[ \t]+--?[A-Za-z]+)+)[ \t]+(?P<n>[A-Za-z0-9_]+)[ \t]+{_value()}",
    ),
    # PHP (wp-config.php): define('DB_PASSWORD', 'x');
    _rule(
        "secret",
        ("define",),
        rf"(?i)\bdefine[ \t]*\([ \t]*['\"](?P<n>[A-Za-z0-9_.-]+)['\"][ \t]*,[ \t]*(?P<v_w>{_QUOTED})",
        requires=((b"(",),),
    ),
    # CloudFormation CLI shorthand: --parameters ParameterKey=DBPassword,ParameterValue=X
    _rule(
        "secret",
        ("parameterkey",),
        rf"\bParameterKey=(?P<n>[A-Za-z0-9]+),[ \t]*ParameterValue={_value()}",
        requires=((b"ParameterKey=",),),
    ),
    # XML elements (Maven settings.xml, ...): <password>x</password>
    _rule("secret", _NAME_TRIGGERS, rf"<{_NAME}>(?P<v_p>[^<\n]+)</", requires=((b"</",),)),
    # Secret-named assignments: NAME=word, NAME = rest, NAME: rest, "name": "x", name => 'x'. The kind comes
    # from the name (password, token, aws-secret-access-key, ...). Two phases (see _apply_assignments): this
    # finds a name and its separator (group "r" when the value is the rest of the line), then the value.
    # A subscript may come between the name and its separator: `passwords[0]=x`, `os.environ['API_TOKEN']='x'`.
    _rule(
        "secret",
        _NAME_TRIGGERS,
        rf"{_NAME}(?:\[[0-9]*\])?[\"']?\]?(?:(?P<r>[ \t]*(?::|=>)[ \t]+|[ \t]+:?=[ \t]*)|(?P<c>:)|=)",
        requires=((b"=", b":"),),
        special="assignment",
    ),
    # Secret-named options with a separate argument: --password X, --client-secret X, -storepass X.
    _rule(
        "secret",
        _NAME_TRIGGERS,
        rf"(?:^|[\s'\"(`])(?P<n>--?[A-Za-z0-9_.-]*{_NAME_KEYWORDS}[A-Za-z0-9_.-]*)"
        r"[ \t]+"
        rf"(?:{_option_value(dash=True)})",
        accept=_is_option_name,
        requires=((b"-",),),
    ),
)

_MARKER_RE: Final = _compile(r"\[MASKED:(?:" + "|".join(sorted(KINDS)) + r")\]")
_MARKER_PREFIX_BYTES: Final = MARKER_PREFIX.encode()

# PEM private keys (RFC 7468; OpenSSH and PGP use the same armour): the BEGIN/END lines stay readable.
_PEM_BEGIN: Final = _compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END: Final = _compile(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
# A line inside a block: base64 (or an already masked body line), possibly behind a heredoc's "> " or YAML
# indentation, or an armour header (Proc-Type:, DEK-Info:, Version:) or a blank line. Anything else ends the
# block: a missing END line must not blank the rest of the session (it would also hide commands from review).
# A trailing `$` is cat -A's end-of-line mark.
_PEM_BODY: Final = _compile(
    r"^[ \t>]*(?P<v_v>[A-Za-z0-9+/=]+|\[MASKED:private-key\])(?:\\n|[ \t\"',$])*$"
    r"|^[ \t>]*(?:[A-Za-z][A-Za-z-]*:[ \t].*)?[ \t$]*$"
)
_PEM_BODY_GROUP: Final[int] = _PEM_BODY.groupindex["v_v"]
# The same behind any prefix (group p), for blocks whose BEGIN line had one: `cat -n` line numbers, `git diff`'s
# -/+, `docker logs -t` timestamps. The prefix must have the BEGIN line's prefix's shape (_prefix_shape).
_PEM_BODY_PREFIXED: Final = _compile(
    r"^(?P<p>[^\n]*?)(?:(?P<v_v>[A-Za-z0-9+/=]+|\[MASKED:private-key\])(?:\\n|[ \t\"',$])*"
    r"|[A-Za-z][A-Za-z-]*:[ \t].*)$"
)
_PEM_BODY_PREFIXED_GROUP: Final[int] = _PEM_BODY_PREFIXED.groupindex["v_v"]
_PEM_PREFIX_MAX: Final = 64  # longer text before a BEGIN line is not a prefix that repeats on every line
_DIGITS_TO_ZERO: Final = bytes.maketrans(b"0123456789", b"0000000000")
_PEM_TRIGGER: Final = "-----begin"

# After `"Type": "SecureString"` the decrypted value comes within a few lines (JSON or YAML output).
_SSM_VALUE_RULE: Final = _rule(
    "ssm-secure-string",
    (),
    rf"(?:--value(?:=|[ \t]+)|(?i:(?:^|[\s{{,])[\"']?value[\"']?[ \t]*(?::[ \t]*|=))){_rest_value()}",
)
_SSM_SECURE: Final = b"SecureString"  # the rule's pattern: a literal, so `in` finds it without an RE2 call
# Values announced by the line before (_take_pending) are added through _add_span as if by this rule.
_PENDING_RULE: Final = _rule("secret", (), r"\z")
# Special rules whose line announces a value on the next line -> what that line holds (see SecretMasker._pending).
_ANNOUNCES: Final = {"prints-value": "printed", "name-value": "value", "sql-next-line": "sql"}
# Values of a secret-named assignment, matched where its separator ends.
_ASSIGNED_WORD: Final = _compile(_value())
_ASSIGNED_REST: Final = _compile(_rest_value())
# A `{` that closes within the same word is a value (`DB_PASSWORD: {abc123}`), not an opener.
_FLOW_VALUE: Final = _compile(rf"(?P<v_r>{_QUOTED}|\{{[^\s'\",{{}}]*\}}|[^\s'\",{{}}][^,{{}}\n]*)")
_SSM_WINDOW: Final = 6

# Lines whose secret is on the next line (see SecretMasker._take_pending), and what that line must look like.
# A name/value pair split over two lines (YAML `- name: DB_PASSWORD` / `value: x`, pretty-printed JSON):
_NEXT_VALUE: Final = _compile(rf"^[ \t]*[\"']?value[\"']?[ \t]*:[ \t]*{_rest_value()}")
_NEXT_VALUE_GROUP: Final[int] = _NEXT_VALUE.groupindex["v_r"]
# The rest of a SQL statement at the client's continuation prompt: `postgres-# 'x';`, `    -> 'x';`.
_NEXT_SQL: Final = _compile(rf"^[ \t]*(?:[A-Za-z0-9_]*[=-]#|->|>)?[ \t]*(?P<v_w>{_SQL_QUOTED})")
_NEXT_SQL_GROUP: Final[int] = _NEXT_SQL.groupindex["v_w"]
# An AWS secret access key alone: 40 base64 characters (with context only, and see _looks_like_aws_secret).
_AWS_SECRET_SHAPE: Final = _compile(r"[A-Za-z0-9/+]{40}")

# `,name=` / `&name=` inside a word: where the next assignment of a list starts (helm --set a=1,b=2, query
# strings, mount -o user=u,password=p).
_LIST_ITEM: Final = _compile(r"[,&][A-Za-z0-9_.-]+=")
_NAME_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

# A value that opens a JSON/YAML object or list (`"Credentials": {`), judged by the byte after { or [: its own
# fields are masked by their own names. `[MASKED:...]` is a value.
_OPENER_FOLLOWERS: Final = b" \t\"'{[]}"
# An ARN's head: partition, service, region, account (an ARN value names a secret; see _is_arn).
_ARN: Final = _compile(r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:[0-9]{0,12}:")
_ARN_MAX: Final = 128
_FLOW_LOOKBACK: Final = 256  # how far back a YAML flow mapping's { is looked for (bounded: linear on long lines)

# Values that name a secret instead of being one.
_PLACEHOLDER: Final = _compile(
    r"\$[A-Za-z_][A-Za-z0-9_]*[;)]*"  # $VAR
    r"|\$[0-9@*#?]"  # $1 $@
    r"|\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*|:?-)?\}[;)]*"  # ${VAR} ${VAR:?msg} ${VAR:-} (not ${VAR:-default})
    r"|\$\{\{[^}]*\}\}"  # ${{ secrets.X }} (GitHub Actions)
    r"|\$\([^()]*\)"  # $(command) - checked below for echo/printf, which would print a literal
    r"|%[A-Za-z_][A-Za-z0-9_]*%"  # %VAR% (cmd.exe)
    r"|<[^<>]*>"  # <password>
    r"|\{\{[^{}]*\}\}|\{[A-Za-z_]*\}|%s|%\([A-Za-z_]+\)s"  # templates
    r"|\*+|[xX]{3,}|\.{3,}|#{3,}|-{3,}"  # ***, xxxx, ...
    r"|\((?:sensitive(?: value)?|known after apply)\)"  # terraform plan
    r"|(?i:none|null|nil|true|false|undefined|redacted|\[redacted\]|\(none\)|<none>)"
)
_PLACEHOLDER_FIRST: Final = frozenset(b"$%<{*xX.#-nNtTfFuUrR[(")

# _classify_name: names whose last word says "not the secret itself" (PASSWORD_FILE, token_ttl, KeyId, ...).
_NOT_SECRET_LAST_WORD: Final = frozenset(
    {
        "file", "files", "path", "dir", "directory", "folder", "location", "length", "len", "size", "ttl",
        "expiry", "expires", "expiration", "timeout", "age", "policy", "type", "mode", "enabled", "required",
        "prompt", "min", "max", "count", "url", "uri", "endpoint", "host", "hostname", "port", "user",
        "username", "name", "id", "ids", "arn", "label", "version", "format", "algorithm", "algo", "hash",
        "used", "changed", "updated", "created", "date", "time", "prevention", "rotation", "reset", "stdin",
        "fd", "env", "var", "ref", "source", "command", "cmd", "helper", "field", "prefix", "suffix",
        "method", "provider", "issuer", "audience", "scope", "scopes", "kind", "status", "state", "level",
        "strength", "index", "limit", "retries", "interval", "period", "spec", "usage", "pair",
    }
)  # fmt: skip
_NOT_SECRET_KEY_QUALIFIER: Final = frozenset(
    {"public", "partition", "sort", "primary", "foreign", "hash", "range", "cache", "row", "lookup", "hot",
     "group", "tag", "idempotency", "routing", "object", "parameter", "s3", "dedup", "map", "host",
     "output", "input", "attribute", "kms"}  # CloudFormation OutputKey, CloudTrail AttributeKey, ECR kmsKey
)  # fmt: skip
_SECRET_KEY_WORDS: Final = frozenset(
    {"apikey", "secretkey", "privatekey", "accesskey", "signingkey", "masterkey", "encryptionkey",
     "licensekey", "authkey", "clientkey", "appkey", "serverkey", "sshkey", "subscriptionkey", "functionkey",
     "hmackey", "webhookkey", "cryptkey", "accountkey", "storagekey", "adminkey", "servicekey", "sessionkey",
     "sharedkey", "psk"}
)  # fmt: skip
_NOT_PASSWORD_WORDS: Final = frozenset({"bypass", "compass", "overpass", "underpass", "surpass", "passthrough"})
_PATHLIKE_PREFIXES: Final = (b"/", b"~/", b"./", b"../", b"file://", b"fileb://")


def _name_words(name: str) -> list[str]:
    """DB_PASSWORD -> [db, password]; keyStorePassword -> [key, store, password]; APIKey -> [api, key]."""
    words: list[str] = []
    for part in name.replace("-", "_").replace(".", "_").split("_"):
        start = 0
        for i in range(1, len(part)):
            prev, cur = part[i - 1], part[i]
            if cur.isupper() and (
                prev.islower() or prev.isdigit() or (prev.isupper() and i + 1 < len(part) and part[i + 1].islower())
            ):
                words.append(part[start:i].lower())
                start = i
        if part:
            words.append(part[start:].lower())
    return words


def _is_password_word(word: str) -> bool:
    return word in {"pass", "pwd", "pw", "creds"} or (word.endswith("pass") and word not in _NOT_PASSWORD_WORDS)


# (kind, test on the name without separators and lower-cased, and on its words), first match wins.
_NAME_KINDS: Final[tuple[tuple[str, Callable[[str, list[str]], bool]], ...]] = (
    ("aws-secret-access-key", lambda c, w: c.endswith(("secretaccesskey", "awssecretkey"))),
    ("aws-session-token", lambda c, w: c.endswith(("sessiontoken", "securitytoken"))),
    ("aws-access-key-id", lambda c, w: c.endswith("accesskeyid")),
    ("password", lambda c, w: "password" in c or "passwd" in c or "passphrase" in c),
    ("secret", lambda c, w: "secret" in c or "credential" in c),
    ("token", lambda c, w: "token" in c),
    ("password", lambda c, w: any(_is_password_word(word) for word in w)),
    ("api-key", lambda c, w: c.endswith("apikey")),
    ("key", lambda c, w: c.endswith("keydata")),  # kubeconfig client-key-data: a base64 private key
    ("key", lambda c, w: w[-1] == "key" and len(w) > 1 and w[-2] not in _NOT_SECRET_KEY_QUALIFIER),
    ("key", lambda c, w: w[-1] in _SECRET_KEY_WORDS),
    ("auth", lambda c, w: w[-1].endswith("auth")),
)


@functools.lru_cache(maxsize=2048)
def _names_a_reference(raw: bytes) -> bool:
    """Helm charts' existingSecret (the name of a Kubernetes Secret) and adminPasswordKey (of a key in it): such a
    name holds a reference, but only a value shaped like one (_REFERENCE_VALUE) is left readable."""
    words = _name_words(raw.decode("latin-1").strip("-\"' ")[-64:]) or [""]
    return words[0] == "existing" or (words[-1] == "key" and len(words) > 1 and words[-2] == "password")


# A Kubernetes-style reference name: lower-case words, each perhaps ending in digits, or numbers, joined by - . _,
# at least two of them (`app-db-credentials`, `postgres-password`, `redis-0`). `password123`, `hunter2xyz` and
# `S3cr3t!Pw9` are values: one word is a weak password as often as a name.
_REFERENCE_VALUE: Final = _compile(r"[a-z]+[0-9]*(?:[-._](?:[a-z]+[0-9]*|[0-9]+))+")


@functools.lru_cache(maxsize=2048)
def _classify_name(raw: bytes, mode: str) -> str | None:
    """The kind of secret a variable, key or option name holds, or None when it holds none."""
    name = raw.decode("latin-1").strip("-\"' ")
    compact = name.lower().replace("_", "").replace("-", "").replace(".", "")
    words = _name_words(name[-64:]) or [""]
    if compact == "secretid" and not raw.startswith(b"-"):
        return "secret"  # Vault AppRole secret_id=...; AWS's --secret-id only names a secret
    if (
        compact in {"pwd", "oldpwd", "authorization", "proxyauthorization"}  # cwd; headers have their own rule
        or words[-1] in _NOT_SECRET_LAST_WORD
        or words[0] == "no"  # --no-password
        or compact == "secretsmanager"  # the AWS service: arn:aws:secretsmanager:..., secretsmanager:GetSecretValue
        or (compact == "auth" and mode == "r")  # "auth: ..." is log text (pam, sshd); docker's "auth" is quoted
    ):
        return None
    return next((kind for kind, test in _NAME_KINDS if test(compact, words)), None)


def _may_match(rule: _Rule, data: bytes, pos: int) -> bool:
    """The rule's cheap necessary conditions hold in data[pos:] (no RE2 call; plain loops, as generator
    expressions here would cost more than the search they save)."""
    for needed in rule.requires:
        for needle in needed:
            if data.find(needle, pos) >= 0:
                break
        else:
            return False
    return True


def _prefix_shape(prefix: bytes) -> bytes:
    """What stays the same in a prefix from line to line: digits become one 0 (`     12 ` and `      9 ` are
    both `0`; `2024-05-01T12:00:00.123Z ` is `0-0-0T0:0:0.0Z`), surrounding blanks go."""
    shape = prefix.strip(b" \t").translate(_DIGITS_TO_ZERO)
    while b"00" in shape:
        shape = shape.replace(b"00", b"0")
    return shape


def _no_value_here(data: bytes, name: tuple[int, int], value_at: int, kind: str, *, colon: bool) -> bool:
    """Whether a secret's name, before its value is read (which may run to the end of the line), has no value to
    mask: the value opens an object or list (`"Credentials": {`), is an ARN or (for a key) a path; or the name is
    part of something else: an element of a colon path (`arn:aws:secretsmanager:...:secret:prod/db`), a marker's
    kind, a placeholder (`${DB_PASSWORD:?missing}`), a URL's user (`https://__token__:x@host`: the url-password
    rule keeps the host readable)."""
    name_start, name_end = name
    first = data[value_at : value_at + 1]
    if first in (b"{", b"[") and data[value_at + 1 : value_at + 2] in _OPENER_FOLLOWERS:
        return True
    if first in (b'"', b"'"):
        value_at += 1  # a quoted value: judged by its inside
    if _is_arn(data, value_at) or (kind == "key" and data.startswith(_PATHLIKE_PREFIXES, value_at)):
        return True  # an ARN names a secret; --private-key /path/key.pem names a file
    if name_start and data[name_start - 1] == 58:  # a colon before the name
        return colon or data[max(0, name_start - 8) : name_start] == _MARKER_PREFIX_BYTES
    if not colon:
        return False
    before = data[max(0, name_start - 2) : name_start]
    if before == b"${":  # ${NAME:?msg} and ${NAME:-} name a value; ${NAME:-default} holds one
        after = data[name_end + 1 : name_end + 3]
        return after[:1] == b"?" or after == b"-}"
    return before == b"//"


def _is_arn(data: bytes, at: int) -> bool:
    """Whether an AWS ARN starts at data[at] (`arn:aws:secretsmanager:us-east-1:111122223333:`,
    `arn:aws-us-gov:s3:::`): partition, service, region and account in their shapes, not just `arn:` (a password
    `arn:thisismypassword` is a value). Judged on a bounded slice, so hostile lines stay linear."""
    return data.startswith(b"arn:", at) and _ARN.match(data[at : at + _ARN_MAX]) is not None


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a `name: ` stands in its line, for _is_prose."""

    before: bytes  # up to 3 bytes before the name
    line_start: bool  # only indentation, list dashes, `#`, `>` or quotes before it
    quoted: bool  # inside a quoted string (an odd number of ' or " before it)
    flow: bool  # inside a YAML flow mapping `{...}`


def _is_text_not_value(found: bytes, name: bytes, place: _Place) -> bool:
    """The rest of a line after `name: ` that is no value: prose (_is_prose), or a size (`kubectl describe secret`
    prints `password:  16 bytes`)."""
    return _is_prose(found, name, place) or (found.endswith(b" bytes") and found[:-6].isdigit())


def _is_prose(value: bytes, name: bytes, place: _Place) -> bool:
    """Whether the text after `name: ` is a sentence rather than a value. Only several words of letters only can
    be one, and only where a label stands in running text:
    - after a log prefix that ends with `: ` (`vault[1]: token: creating token store`);
    - after a word and a space, for a lower-case name (`Fix secret: use KMS`, `... 1 hour; password: see below`);
    - passwd's own message: `passwd:` at the very start of the line (`passwd: Authentication token manipulation
      error`; after `prog[pid]: ` it is the log-prefix case).
    Never for a name in environment-variable style (`DB_PASSWORD`, `PASSWORD`), inside quotes (`echo 'password:
    correct horse' > f`), inside a flow mapping (`{user: app, password: correct horse}`), nor for any other key
    at the start of the line (`password: Correct Horse Battery Staple`). One word is always a value
    (`Generated admin password: swordfish`)."""
    words = value.split()
    if len(words) < 2 or not all(word.rstrip(b".,;!?").isalpha() for word in words):
        return False
    if place.quoted or place.flow or b"_" in name or name.isupper():
        return False
    if place.line_start:
        return name == b"passwd" and place.before == b""  # `passwd:` at the very start: the program's message
    before = place.before
    if before[-2:] == b": ":
        return True
    # a word (letters, perhaps ending a clause: `hour;`) and a space before a lower-case name
    word_end = before[-2:-1]
    if word_end and word_end in b".;!?":
        word_end = before[-3:-2]
    return before[-1:] == b" " and word_end.isalpha() and name.islower()


def _in_flow_mapping(data: bytes, name_start: int) -> bool:
    """Whether a name stands inside a YAML flow mapping (`db: {user: app, password: x}`), whose values end at , or
    }. Looked for in the last _FLOW_LOOKBACK bytes only, so that hostile lines of many names stay linear."""
    window = max(0, name_start - _FLOW_LOOKBACK)
    return data.rfind(b"{", window, name_start) > data.rfind(b"}", window, name_start)


def _looks_like_aws_secret(token: bytes) -> bool:
    """40 base64 characters mixing upper and lower case with digits or + / (a git SHA is 40 hex digits)."""
    return (
        _AWS_SECRET_SHAPE.fullmatch(token)
        and any(65 <= c <= 90 for c in token)
        and any(97 <= c <= 122 for c in token)
        and any(48 <= c <= 57 or c in b"+/" for c in token)
    )


def _is_placeholder(value: bytes) -> bool:
    if not value.strip():
        return True
    if value[0] not in _PLACEHOLDER_FIRST:
        return False
    if not _PLACEHOLDER.fullmatch(value):
        return False
    # `$(echo hunter2)` prints a literal; any other command substitution only names where the secret lives.
    return not (value.startswith(b"$(") and (b"echo" in value or b"printf" in value))


@functools.lru_cache(maxsize=64)
def _marker(kind: str) -> bytes:
    return f"{MARKER_PREFIX}{kind}]".encode()


# A span to replace: (start, end, rule index for precedence, kind); and one before its kind is known.
_Span = tuple[int, int, int, str]
_Span3 = tuple[int, int, int]


def _build_trigger_set(trigger_groups: Sequence[Sequence[str]]) -> Any:
    # Literal triggers only (escaped): see the module docstring for why a Set must stay literal. Its DFA then
    # has at most a few hundred states (~1 MB); the larger memory budget is headroom, allocated only if used.
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.max_mem = 64 << 20
    trigger_set = re2.Set.SearchSet(options)
    for triggers in trigger_groups:
        trigger_set.Add(("(?i)" + "|".join(re2.escape(t) for t in triggers)).encode("ascii"))
    trigger_set.Compile()
    return trigger_set._set  # the binding's Set: Match(data) gives the list of matching entries, [] for none


_ALL_TRIGGERS: Final = tuple(sorted({t for rule in _RULES for t in rule.triggers} | {_PEM_TRIGGER}))
# One Set entry per rule (and a last one for private-key blocks): which rules can fire on a line. No match at
# all is the fast path: the line is returned unchanged after this single call.
_RULE_TRIGGER_SET: Final = _build_trigger_set([*(rule.triggers for rule in _RULES), (_PEM_TRIGGER,)])
# All triggers as one regex, to find where they are in a block of lines (mask_lines).
_ANY_TRIGGER_RE: Final = _compile("(?i)" + "|".join(re2.escape(t) for t in _ALL_TRIGGERS))
# Spans found by the stateful handlers (key blocks, SecureString values) name the marker when they overlap.
_STATEFUL_PRIORITY: Final = -1
# Lines that hold a trigger but nothing to mask (`sudo yum update -y`, `journalctl -u nginx`) come back again and
# again in sessions. For a masker with no state (no key block, prompt or SecureString pending), masking a line
# depends on the line alone, so such a line, once found clean and leaving no state behind, is skipped the next
# time. Only clean lines are kept (nothing that was masked), short ones, at most _CLEAN_LINES_SIZE of them.
_CLEAN_LINES: Final[set[bytes]] = set()
_CLEAN_LINES_SIZE: Final = 4096
_CLEAN_LINE_MAX: Final = 1024


class SecretMasker:
    """Stateful per session: a PEM private-key block opened in one line (or event) stays masked, line by line,
    until its END line; other state (e.g. `aws configure` prompts answered on the next line) likewise."""

    __slots__ = ("_counts", "_in_pem", "_pem_prefix", "_pem_shape", "_pending", "_secure_window", "_stateful")

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._in_pem = False
        self._pem_prefix = b""  # what came before the open block's BEGIN line (`     1 `, `-`, a timestamp)
        self._pem_shape = b""  # its shape (_prefix_shape), for prefixes that change from line to line
        # (what the next line holds, kind of its value): "prompt" (aws configure answer), "printed" (a value
        # printed alone), "value" (the value: of a name/value pair), "sql" (a SQL statement's password)
        self._pending: tuple[str, str] | None = None
        self._secure_window = 0  # lines left in which a SecureString's "Value" may appear
        self._stateful = False

    @property
    def counts(self) -> Mapping[str, int]:
        """Kind -> how many values were masked so far (a PEM block counts once). Never the values."""
        return MappingProxyType(self._counts)

    @property
    def total(self) -> int:
        """How many values were masked so far, all kinds together: a cheap test of whether `counts` changed."""
        return sum(self._counts.values())

    def mask(self, line: str) -> str:
        """One cleaned terminal line (command or output) -> the same line with every secret value masked."""
        data = line.encode("utf-8", "surrogatepass")
        selected = _RULE_TRIGGER_SET.Match(data)
        if not selected and not self._stateful:
            return line
        return self._mask_candidate(line, data, selected)

    def mask_lines(self, lines: Sequence[str]) -> list[str]:
        """Mask consecutive lines (e.g. the sessionData of one event or of a batch of events): the same result as
        mask() on each line in turn, but one trigger scan over the whole block instead of one RE2 call (~0.7 us)
        per line."""
        result = list(lines)
        if len(result) <= 1:
            return [self._mask_apart(line) for line in result]
        block = "\n".join(result).encode("utf-8", "surrogatepass")
        last = len(result) - 1
        if block.count(b"\n") != last:  # a line holds a newline itself: the block does not show where lines end
            return [self._mask_apart(line) for line in result]
        # Line `index` starts at block[pos]. A block without triggers costs one RE2 call, and each line with some
        # one more (the search for the next one). Lines are counted with bytes.count/find (C loops) from one hit
        # to the next, not split or indexed up front, so a block of many lines and few triggers stays cheap.
        index = pos = 0
        if not self._stateful:
            found = _ANY_TRIGGER_RE.search(block)
            if found is None:  # usually: nothing secret-like in the whole block
                return result
            hit = found[0][0]
            index = block.count(b"\n", 0, hit)
            pos = block.rfind(b"\n", 0, hit) + 1
        while True:
            end = len(block) if index == last else block.find(b"\n", pos)
            data = block[pos:end]
            if self._stateful or not _is_clean(data):
                result[index] = self._mask_found(result[index], data, _RULE_TRIGGER_SET.Match(data))
            if index == last:
                return result
            index += 1
            pos = end + 1
            if not self._stateful:  # skip to the next line with a trigger
                found = _ANY_TRIGGER_RE.search(block, pos)
                if found is None:
                    return result
                hit = found[0][0]
                index += block.count(b"\n", pos, hit)
                pos = max(pos, block.rfind(b"\n", pos, hit) + 1)  # after the last newline before the hit, if any

    def _mask_found(self, line: str, data: bytes, selected: Sequence[int]) -> str:
        """A line of mask_lines that holds triggers (or any line while there is state); one found clean from no
        state and leaving none is remembered (_CLEAN_LINES)."""
        stateless = not self._stateful
        masked = self._mask_candidate(line, data, selected)
        if masked is line and stateless and not self._stateful and len(data) <= _CLEAN_LINE_MAX:
            _remember_clean(data)
        return masked

    def _mask_apart(self, line: str) -> str:
        """mask_lines on a line taken alone: the Set both finds triggers and selects the rules (one RE2 call)."""
        data = line.encode("utf-8", "surrogatepass")
        if not self._stateful and _is_clean(data):
            return line
        selected = _RULE_TRIGGER_SET.Match(data)
        if not selected and not self._stateful:
            return line
        return self._mask_found(line, data, selected)

    # --- slow path ----------------------------------------------------------------------------------------

    def _mask_candidate(self, line: str, data: bytes, selected: Sequence[int]) -> str:
        try:
            spans = self._collect(data, selected)
            if not spans:
                return line
            return self._replace(data, spans)
        except Exception:  # fail closed: an internal error must never let the raw line out
            self._counts["unparsed-line"] = self._counts.get("unparsed-line", 0) + 1
            return f"{MARKER_PREFIX}unparsed-line]"

    def _collect(self, data: bytes, selected: Sequence[int]) -> list[_Span]:
        spans: list[_Span] = []
        if self._in_pem and self._continue_pem(data, spans):
            self._update_stateful()
            return spans
        if self._pending is not None:
            self._take_pending(data, spans)
        if self._secure_window > 0:
            self._secure_window -= 1
            if self._find_secure_value(data, 0, spans):
                self._secure_window = 0
        if b"-----BEGIN" in data:
            self._open_pem(data, spans)
        for index in selected:
            if index >= len(_RULES):
                continue  # the private-key entry: handled above
            rule = _RULES[index]
            if not _may_match(rule, data, 0):
                continue
            if rule.special:
                self._apply_special(rule, index, data, spans)
            else:
                self._apply_rule(rule, index, data, spans)
        self._update_stateful()
        return spans

    def _update_stateful(self) -> None:
        self._stateful = self._in_pem or self._pending is not None or self._secure_window > 0

    def _take_pending(self, data: bytes, spans: list[_Span]) -> None:
        """The line after one that announced its value (see _pending): mask the value if the line has it."""
        if self._pending is None:
            return
        (what, kind), self._pending = self._pending, None
        if what == "value":
            match = _NEXT_VALUE.match(data)
            if match is not None:
                start, stop = match[_NEXT_VALUE_GROUP]
                mode = "q" if data[start] in b"\"'" else "r"
                self._add_span(_PENDING_RULE, match, data, spans, kind=kind, mode=mode, span=(start, stop, 0))
            return
        if what == "sql":
            match = _NEXT_SQL.match(data)
            if match is not None:
                start, stop = match[_NEXT_SQL_GROUP]
                self._add_span(_PENDING_RULE, match, data, spans, kind=kind, mode="q", span=(start, stop, 0))
            return
        token = data.strip()
        if what == "printed" and len(token) > 2 and token[0] == token[-1] == 34:  # jq without -r: "value"
            token = token[1:-1]
        if not token or b" " in token or b"\t" in token or _is_placeholder(token):
            return
        if what == "printed" and kind == "aws-secret-access-key" and not _looks_like_aws_secret(token):
            return  # `aws configure get aws_secret_access_key` printing nothing, then the next command
        start = data.index(token)
        spans.append((start, start + len(token), 0, kind))

    def _continue_pem(self, data: bytes, spans: list[_Span]) -> bool:
        """Inside a private-key block. True when the line was a body line and needs nothing else."""
        end = _PEM_END.search(data)
        if end is not None:
            self._in_pem = False
            before = data[: end[0][0]]
            offset = self._pem_prefix_length(before, whole=True)
            body = before[offset:].strip(b" \t>")
            if body:
                start = before.index(body, offset)
                spans.append((start, start + len(body), _STATEFUL_PRIORITY, "private-key"))
            return False
        span = self._pem_body(data)
        if span is None:
            self._in_pem = False  # not key material: the block was never closed; judge this line normally
            return False
        if span[0] >= 0:
            spans.append((span[0], span[1], _STATEFUL_PRIORITY, "private-key"))
        return True

    def _pem_body(self, data: bytes) -> tuple[int, int] | None:
        """The key material of a line inside a block ((-1, -1) for a blank or armour header line), or None when
        the line is not part of the block. A line may repeat the BEGIN line's prefix, literally (`-`, `> `) or
        in shape (`cat -n` numbers, `docker logs -t` timestamps)."""
        offset = self._pem_prefix_length(data, whole=False)
        if offset:
            body_line = _PEM_BODY.search(data[offset:])
            if body_line is not None:
                start, stop = body_line[_PEM_BODY_GROUP]
                return (start + offset, stop + offset) if start >= 0 else (-1, -1)
        if self._pem_shape and len(data) <= 2 * _PEM_PREFIX_MAX and _prefix_shape(data) == self._pem_shape:
            return (-1, -1)  # the prefix alone (`     4 ` for a blank line under cat -n)
        body_line = _PEM_BODY.search(data)
        if body_line is not None:
            return body_line[_PEM_BODY_GROUP]
        if self._pem_shape:
            body_line = _PEM_BODY_PREFIXED.search(data)
            if body_line is not None:
                prefix_end = body_line[1][1]
                if prefix_end <= 2 * _PEM_PREFIX_MAX and _prefix_shape(data[:prefix_end]) == self._pem_shape:
                    return body_line[_PEM_BODY_PREFIXED_GROUP]
        return None

    def _pem_prefix_length(self, data: bytes, *, whole: bool) -> int:
        """How much of data is the open block's prefix: the BEGIN line's literal prefix, or (whole: when all of
        data is to be the prefix, as before an END line) any text of the same shape."""
        if self._pem_prefix and data.startswith(self._pem_prefix):
            return len(self._pem_prefix)
        if whole and self._pem_shape and len(data) <= 2 * _PEM_PREFIX_MAX and _prefix_shape(data) == self._pem_shape:
            return len(data)
        return 0

    def _open_pem(self, data: bytes, spans: list[_Span]) -> None:
        pos = 0
        while True:
            begin = _PEM_BEGIN.search(data, pos)
            if begin is None:
                return
            self._counts["private-key"] = self._counts.get("private-key", 0) + 1
            begin_end = begin[0][1]
            end = _PEM_END.search(data, begin_end)
            stop = end[0][0] if end is not None else len(data)
            inner = data[begin_end:stop]
            body = inner.strip()
            # key material, not just the quote or `\n"` that closes an `echo '-----BEGIN ...'` or a JSON string,
            # or the `$` that cat -A prints at the end of a line
            if body.strip(b"'\",;()\\n$"):
                start = begin_end + inner.index(body)
                spans.append((start, start + len(body), _STATEFUL_PRIORITY, "private-key"))
            if end is None:
                self._in_pem = True  # the body follows on the next lines (or events)
                prefix = data[: begin[0][0]]
                if len(prefix) > _PEM_PREFIX_MAX or not prefix.strip(b" \t>"):
                    prefix = b""  # none, or only what _PEM_BODY accepts anyway
                self._pem_prefix = prefix
                self._pem_shape = _prefix_shape(prefix) if prefix else b""
                return
            pos = end[0][1]

    def _find_secure_value(self, data: bytes, pos: int, spans: list[_Span]) -> bool:
        found = False
        while (match := _SSM_VALUE_RULE.regex.search(data, pos)) is not None:
            found |= self._add_value(_SSM_VALUE_RULE, _STATEFUL_PRIORITY, match, data, spans)
            pos = max(match[0][1], pos + 1)
        return found

    def _apply_assignments(self, rule: _Rule, index: int, data: bytes, spans: list[_Span]) -> None:
        """NAME=value in two phases. A match of the first ends at the separator, so when the name is not a
        secret's (KEY_ID=, auth: in a log line) the search goes on right there and the value, which may hold
        the next assignment, is still seen. A value is consumed only once accepted (or found to be prose), which
        keeps the scan linear even on hostile lines of rejected names: a name is judged before its value is read."""
        search = rule.regex.search
        group_r = rule.regex.groupindex["r"]
        group_c = rule.regex.groupindex["c"]
        pos = 0
        size = len(data)
        content = -1  # where the line's text starts after indentation, list dashes, quotes (computed when needed)
        # Quotes before the current name, counted from one name to the next (names come in order): linear.
        quotes_at = singles = doubles = 0
        while pos <= size and (pos == 0 or _may_match(rule, data, pos)):  # _collect checked it at 0
            match = search(data, pos)
            if match is None:
                return
            pos = max(match[0][1], pos + 1)
            rest = match[group_r][0] >= 0
            colon = match[group_c][0] >= 0  # NAME:value, no space
            name_start, name_end = match[rule.name_group]
            first = data[pos : pos + 1]
            mode = "q" if first in (b'"', b"'") else "r" if rest else "w"
            kind = _classify_name(data[name_start:name_end], mode)
            if kind is None or _no_value_here(data, (name_start, name_end), pos, kind, colon=colon):
                continue
            flow = mode == "r" and _in_flow_mapping(data, name_start)
            if flow:
                value = _FLOW_VALUE.match(data, pos)  # `db: {user: app, password: x, host: db}`: up to , or }
            else:
                value = (_ASSIGNED_REST if rest else _ASSIGNED_WORD).match(data, pos)
            if value is None:
                continue
            start, stop = value[0]
            separator = data[match[group_r][0] : match[group_r][1]]
            if mode == "r" and b":" in separator and b"=" not in separator:  # `name: rest`
                if content < 0:
                    content = len(data) - len(data.lstrip(b" \t-#>\"'"))
                if quotes_at < name_start:
                    singles += data.count(b"'", quotes_at, name_start)
                    doubles += data.count(b'"', quotes_at, name_start)
                    quotes_at = name_start
                place = _Place(
                    before=data[max(0, name_start - 3) : name_start],
                    line_start=name_start <= content,
                    quoted=bool(singles % 2 or doubles % 2),
                    flow=flow,
                )
                if _is_text_not_value(data[start:stop], data[name_start:name_end], place):
                    pos = max(pos, stop)  # consumed: prose holds no other assignment
                    continue
            span = (start, stop, index)
            # `AUTH=p@ss:w/rd`: an `=` assignment's value is one whole (`--auth=user:password` keeps its user)
            equals = not colon and (not rest or (b"=" in separator and b"=>" not in separator))
            whole = equals and data[name_start : name_start + 1] != b"-"
            if self._add_span(rule, match, data, spans, kind=kind, mode=mode, span=span, whole=whole):
                pos = max(pos, stop)

    def _apply_htpasswd(self, rule: _Rule, index: int, data: bytes, spans: list[_Span]) -> None:
        """The password's position depends on the options: the second argument with -n, else the third."""
        pos = 0
        flags = rule.regex.groupindex["f"]
        while (match := rule.regex.search(data, pos)) is not None:
            pos = max(match[0][1], pos + 1)
            flags_start, flags_end = match[flags]
            options = [option for option in data[flags_start:flags_end].split() if option.startswith(b"-")]
            if not any(b"b" in option for option in options):
                continue
            second, third = rule.value_groups[0][0], rule.value_groups[1][0]
            start, stop = match[second if any(b"n" in option for option in options) else third]
            if start >= 0:
                mode = "q" if data[start] in b"\"'" else "w"
                self._add_span(rule, match, data, spans, kind=rule.kind, mode=mode, span=(start, stop, index))

    def _apply_special(self, rule: _Rule, index: int, data: bytes, spans: list[_Span]) -> None:
        special = rule.special
        if special == "assignment":
            self._apply_assignments(rule, index, data, spans)
        elif special == "htpasswd":
            self._apply_htpasswd(rule, index, data, spans)
        elif special == "secure-string":
            if _SSM_SECURE in data and not self._find_secure_value(data, 0, spans):
                self._secure_window = _SSM_WINDOW
        elif special in _ANNOUNCES:
            self._apply_announcement(rule, data)
        else:
            self._apply_aws_prompt(rule, index, data, spans)

    def _apply_announcement(self, rule: _Rule, data: bytes) -> None:
        """A line whose value comes on the next line (see _ANNOUNCES): remember what to look for there."""
        if rule.special == "sql-next-line" and not data.rstrip()[-8:].lower().endswith((b"by", b"as", b"password")):
            return  # most lines with PASSWORD do not end with it: no RE2 call for them
        match = rule.regex.search(data)
        if match is None:
            return
        kind: str | None = rule.kind
        if rule.name_group:
            start, end = match[rule.name_group]
            kind = _classify_name(data[start:end], "w")
        if kind is not None:
            self._pending = (_ANNOUNCES[rule.special], kind)

    def _apply_aws_prompt(self, rule: _Rule, index: int, data: bytes, spans: list[_Span]) -> None:
        """`aws configure`: the answer is on this line, or (prompt flushed before Enter) on the next one."""
        match = rule.regex.search(data)
        if match is None:
            return
        key_start, key_end = match[rule.regex.groupindex["k"]]
        kind = {b"secret access key": "aws-secret-access-key", b"access key id": "aws-access-key-id"}.get(
            data[key_start:key_end].lower(), "aws-session-token"
        )
        start, stop = match[rule.value_groups[0][0]]
        if start == stop:
            self._pending = ("prompt", kind)
        elif not _is_placeholder(data[start:stop]):
            spans.append((start, stop, index, kind))

    def _apply_rule(self, rule: _Rule, index: int, data: bytes, spans: list[_Span]) -> None:
        search = rule.regex.search
        pos = 0
        size = len(data)
        while pos <= size and (pos == 0 or _may_match(rule, data, pos)):  # _collect checked it at 0
            match = search(data, pos)
            if match is None:
                return
            added = self._add_value(rule, index, match, data, spans)
            # Always move past the whole match: re-scanning a consumed value could make many matches on one
            # hostile line quadratic. Values are complete by construction (list items are handled inside).
            pos = max(match[0][1], pos + 1)
            if not added:
                # A rejected `-word` (`-genkey -storepass X`, `--keyring -password X`) is the next option, not
                # this one's value: search again from the blank before it. Each such word is read at most twice.
                for group, mode in rule.value_groups:
                    if mode == "d" and match[group][0] > match[0][0] + 1:
                        pos = match[group][0] - 1

    def _add_value(self, rule: _Rule, priority: int, match: _Match, data: bytes, spans: list[_Span]) -> bool:
        """Turn one match into the span of its value, unless the name is not a secret's."""
        start = stop = -1
        mode = "v"
        for group, mode in rule.value_groups:  # noqa: B007 - the matching group's mode is used below
            start, stop = match[group]
            if start >= 0:
                break
        if start < 0:
            return False
        if mode in "wr" and data[start] in b"\"'":
            mode = "q"
        kind = rule.kind
        if rule.name_group:
            name_start, name_end = match[rule.name_group]
            name = data[name_start:name_end]
            named = _classify_name(name.rsplit(b".", 1)[-1] if rule.dotted_name else name, mode)
            if named is None:
                return False
            kind = named
        return self._add_span(rule, match, data, spans, kind=kind, mode=mode, span=(start, stop, priority))

    def _add_span(
        self,
        rule: _Rule,
        match: _Match,
        data: bytes,
        spans: list[_Span],
        *,
        kind: str,
        mode: str,
        span: _Span3,
        whole: bool = False,
    ) -> bool:
        """Add the span to mask for a value at data[start:stop] (mode: see the value fragments), unless it is a
        placeholder. `priority` orders overlapping spans (lower wins the marker's name)."""
        start, stop, priority = span
        if mode == "q":
            start, stop = start + 1, stop - 1  # quoted: mask the inside, keep the quotes
        elif mode == "r":
            stop = start + len(data[start:stop].rstrip(b" \t,;"))
        elif mode == "w":
            stop = self._split_list(data, start, stop, priority, spans)
        elif mode == "d" and not _looks_random(data[start:stop]):
            return False  # `--password -h db`: the next option, not a value
        value = data[start:stop]
        if (rule.user_split or (kind == "auth" and mode != "v" and not whole)) and b":" in value:  # --auth u:pw
            start += value.index(b":") + 1
        if (
            start >= stop
            or (mode != "v" and _is_placeholder(value))
            or (rule.accept is not None and not rule.accept(rule, match, data, value))
            or (kind == "key" and value.startswith(_PATHLIKE_PREFIXES))  # --private-key /path/key.pem: a file
            or (mode != "v" and _is_arn(value, 0))  # an ARN names a secret (Secrets Manager, KMS)
            or (mode != "v" and rule.name_group and self._names_reference(rule, match, data, value))
        ):
            return False
        spans.append((start, stop, priority, kind))
        return True

    @staticmethod
    def _names_reference(rule: _Rule, match: _Match, data: bytes, value: bytes) -> bool:
        """An existingSecret / adminPasswordKey whose value is a reference name (see _names_a_reference)."""
        name_start, name_end = match[rule.name_group]
        name = data[name_start:name_end]
        if rule.dotted_name:
            name = name.rsplit(b".", 1)[-1]
        return _names_a_reference(name) and _REFERENCE_VALUE.fullmatch(value)

    def _split_list(self, data: bytes, start: int, stop: int, priority: int, spans: list[_Span]) -> int:
        """A word value that is really a list (`a=1,password=x`, `?token=x&page=2`): mask the secret-named
        items after the first one here, and return where the first value ends."""
        if data.find(b",", start, stop) < 0 and data.find(b"&", start, stop) < 0:
            return stop
        item = _LIST_ITEM.search_within(data, start, stop)
        if item is None:
            return stop
        first_stop = item[0][0]
        pos = first_stop
        # Next "," and next "&", each found once and reused, so the walk stays linear in the value's length.
        comma = data.find(b",", pos + 1, stop)
        amp = data.find(b"&", pos + 1, stop)
        while pos < stop:
            if 0 <= comma <= pos:
                comma = data.find(b",", pos + 1, stop)
            if 0 <= amp <= pos:
                amp = data.find(b"&", pos + 1, stop)
            nxt = min(x for x in (comma, amp, stop) if x >= 0)
            name, equals, value = data[pos + 1 : nxt].partition(b"=")
            if equals and value and name and not name.translate(None, _NAME_CHARS):
                kind = _classify_name(name, "w")
                if kind is not None and not _is_placeholder(value):
                    value_start = pos + 1 + len(name) + 1
                    spans.append((value_start, nxt, priority, kind))
            pos = nxt
        return first_stop

    def _replace(self, data: bytes, spans: list[_Span]) -> str:
        if len(spans) == 1 and _MARKER_PREFIX_BYTES not in data:  # the usual case, as the sweep below would do it
            start, stop, _priority, kind = spans[0]
            if data[start:stop].strip():
                data = data[:start] + _marker(kind) + data[stop:]
                if kind != "private-key":
                    self._counts[kind] = self._counts.get(kind, 0) + 1
            return data.decode("utf-8", "surrogatepass")
        spans.sort()
        merged: list[list[Any]] = []
        for start, stop, priority, kind in spans:
            if merged and start < merged[-1][1]:
                last = merged[-1]
                last[1] = max(last[1], stop)
                if priority < last[2]:
                    last[2], last[3] = priority, kind
            else:
                merged.append([start, stop, priority, kind])
        pieces = _cut_out_markers(data, merged) if _MARKER_PREFIX_BYTES in data else merged
        out: list[bytes] = []
        pos = 0
        for start, stop, _priority, kind in pieces:
            if data[start:stop].strip() == b"":
                continue
            out.append(data[pos:start])
            out.append(_marker(kind))
            pos = stop
            if kind != "private-key":  # a key block counts once, when it opens
                self._counts[kind] = self._counts.get(kind, 0) + 1
        if pos == 0:
            return data.decode("utf-8", "surrogatepass")
        out.append(data[pos:])
        return b"".join(out).decode("utf-8", "surrogatepass")


def _is_clean(data: bytes) -> bool:
    """A line known to need no masking from a masker without state (see _CLEAN_LINES). A long line is never
    kept, so it is not hashed to look for it."""
    return len(data) <= _CLEAN_LINE_MAX and data in _CLEAN_LINES


def _remember_clean(data: bytes) -> None:
    """Remember a line that needed no masking and left the masker without state (see _CLEAN_LINES)."""
    if b"-----BEGIN" in data:
        return  # opening a key block counts it even when nothing is left to mask on this line
    if len(_CLEAN_LINES) >= _CLEAN_LINES_SIZE:
        _CLEAN_LINES.clear()
    _CLEAN_LINES.add(data)


def _cut_out_markers(data: bytes, merged: list[list[Any]]) -> list[list[Any]]:
    """Existing markers inside a span stay as they are; only the text around them is masked. Spans and markers
    are both sorted and disjoint among themselves, so one sweep over the two lists does it."""
    markers: list[tuple[int, int]] = []
    pos = 0
    while (marker := _MARKER_RE.search(data, pos)) is not None:
        markers.append(marker[0])
        pos = marker[0][1]  # a marker is never empty, so this moves on
    if not markers:
        return merged
    pieces: list[list[Any]] = []
    first = 0  # markers before this index end before the current span starts
    for start, stop, priority, kind in merged:
        while first < len(markers) and markers[first][1] <= start:
            first += 1
        cursor = start
        index = first
        while index < len(markers) and markers[index][0] < stop:
            m_start, m_stop = markers[index]
            if m_start > cursor:
                pieces.append([cursor, m_start, priority, kind])
            cursor = max(cursor, m_stop)
            index += 1
        if cursor < stop:
            pieces.append([cursor, stop, priority, kind])
    return pieces


def mask_secrets(text: str) -> str:
    """Mask any string, line by line (split on \\n), with a fresh SecretMasker: alerts, messages, log fields."""
    return "\n".join(SecretMasker().mask_lines(text.split("\n")))


__all__ = ["KINDS", "MARKER_PREFIX", "SecretMasker", "mask_secrets"]
