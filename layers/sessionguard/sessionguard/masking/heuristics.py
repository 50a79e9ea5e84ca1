"""Heuristics on names and values: whether a name holds a secret and of which kind, and whether the text after it
is a value at all (a placeholder, an ARN, a path, prose, an object that opens).

Pure functions on bytes; every regex is RE2 and every look-back is bounded, so hostile lines stay linear.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sessionguard.masking.kinds import MARKER_PREFIX
from sessionguard.masking.regex import Regex

MARKER_PREFIX_BYTES: Final = MARKER_PREFIX.encode()
# An AWS secret access key alone: 40 base64 characters (with context only, and see looks_like_aws_secret).
_AWS_SECRET_SHAPE: Final = Regex(r"[A-Za-z0-9/+]{40}")

# A value that opens a JSON/YAML object or list (`"Credentials": {`), judged by the byte after { or [: its own
# fields are masked by their own names. `[MASKED:...]` is a value.
_OPENER_FOLLOWERS: Final = b" \t\"'{[]}"
# An ARN's head: partition, service, region, account (an ARN value names a secret; see is_arn).
_ARN: Final = Regex(r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:[0-9]{0,12}:")
_ARN_MAX: Final = 128
_FLOW_LOOKBACK: Final = 256  # how far back a YAML flow mapping's { is looked for (bounded: linear on long lines)

# Values that name a secret instead of being one.
_PLACEHOLDER: Final = Regex(
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

# classify_name: names whose last word says "not the secret itself" (PASSWORD_FILE, token_ttl, KeyId, ...).
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
PATHLIKE_PREFIXES: Final = (b"/", b"~/", b"./", b"../", b"file://", b"fileb://")


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
def names_a_reference(raw: bytes) -> bool:
    """Helm charts' existingSecret (the name of a Kubernetes Secret) and adminPasswordKey (of a key in it): such a
    name holds a reference, but only a value shaped like one (REFERENCE_VALUE) is left readable."""
    words = _name_words(raw.decode("latin-1").strip("-\"' ")[-64:]) or [""]
    return words[0] == "existing" or (words[-1] == "key" and len(words) > 1 and words[-2] == "password")


# A Kubernetes-style reference name: lower-case words, each perhaps ending in digits, or numbers, joined by - . _,
# at least two of them (`app-db-credentials`, `postgres-password`, `redis-0`). `password123`, `hunter2xyz` and
# `S3cr3t!Pw9` are values: one word is a weak password as often as a name.
REFERENCE_VALUE: Final = Regex(r"[a-z]+[0-9]*(?:[-._](?:[a-z]+[0-9]*|[0-9]+))+")


@functools.lru_cache(maxsize=2048)
def classify_name(raw: bytes, mode: str) -> str | None:
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


def no_value_here(data: bytes, name: tuple[int, int], value_at: int, kind: str, *, colon: bool) -> bool:
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
    if is_arn(data, value_at) or (kind == "key" and data.startswith(PATHLIKE_PREFIXES, value_at)):
        return True  # an ARN names a secret; --private-key /path/key.pem names a file
    if name_start and data[name_start - 1] == 58:  # a colon before the name
        return colon or data[max(0, name_start - 8) : name_start] == MARKER_PREFIX_BYTES
    if not colon:
        return False
    before = data[max(0, name_start - 2) : name_start]
    if before == b"${":  # ${NAME:?msg} and ${NAME:-} name a value; ${NAME:-default} holds one
        after = data[name_end + 1 : name_end + 3]
        return after[:1] == b"?" or after == b"-}"
    return before == b"//"


def is_arn(data: bytes, at: int) -> bool:
    """Whether an AWS ARN starts at data[at] (`arn:aws:secretsmanager:us-east-1:111122223333:`,
    `arn:aws-us-gov:s3:::`): partition, service, region and account in their shapes, not just `arn:` (a password
    `arn:thisismypassword` is a value). Judged on a bounded slice, so hostile lines stay linear."""
    return data.startswith(b"arn:", at) and _ARN.match(data[at : at + _ARN_MAX]) is not None


@dataclass(frozen=True, slots=True)
class Place:
    """Where a `name: ` stands in its line, for _is_prose."""

    before: bytes  # up to 3 bytes before the name
    line_start: bool  # only indentation, list dashes, `#`, `>` or quotes before it
    quoted: bool  # inside a quoted string (an odd number of ' or " before it)
    flow: bool  # inside a YAML flow mapping `{...}`


def is_text_not_value(found: bytes, name: bytes, place: Place) -> bool:
    """The rest of a line after `name: ` that is no value: prose (_is_prose), or a size (`kubectl describe secret`
    prints `password:  16 bytes`)."""
    return _is_prose(found, name, place) or (found.endswith(b" bytes") and found[:-6].isdigit())


def _is_prose(value: bytes, name: bytes, place: Place) -> bool:
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


def in_flow_mapping(data: bytes, name_start: int) -> bool:
    """Whether a name stands inside a YAML flow mapping (`db: {user: app, password: x}`), whose values end at , or
    }. Looked for in the last _FLOW_LOOKBACK bytes only, so that hostile lines of many names stay linear."""
    window = max(0, name_start - _FLOW_LOOKBACK)
    return data.rfind(b"{", window, name_start) > data.rfind(b"}", window, name_start)


def looks_like_aws_secret(token: bytes) -> bool:
    """40 base64 characters mixing upper and lower case with digits or + / (a git SHA is 40 hex digits)."""
    return (
        _AWS_SECRET_SHAPE.fullmatch(token)
        and any(65 <= c <= 90 for c in token)
        and any(97 <= c <= 122 for c in token)
        and any(48 <= c <= 57 or c in b"+/" for c in token)
    )


def is_placeholder(value: bytes) -> bool:
    if not value.strip():
        return True
    if value[0] not in _PLACEHOLDER_FIRST:
        return False
    if not _PLACEHOLDER.fullmatch(value):
        return False
    # `$(echo hunter2)` prints a literal; any other command substitution only names where the secret lives.
    return not (value.startswith(b"$(") and (b"echo" in value or b"printf" in value))
