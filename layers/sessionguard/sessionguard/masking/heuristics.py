"""Heuristics on names and values: whether a name holds a secret and of which kind, and whether the text after it
is a value at all (a placeholder, an ARN, a path, prose, an object that opens).

Pure functions on bytes; every regex is RE2 and every look-back is bounded, so hostile lines stay linear.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
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
    r"|\$\{[A-Za-z_][A-Za-z0-9_]*:?[-=+]\$\{?[A-Za-z0-9_]+\}?\}"  # ${VAR:=$2}: the default is a variable too
    r"|\$\{[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_*-]+|\[[^\]\n]*\])+\}"  # ${aws_db_instance.default.password}
    r"|(?:var|local|module|data)\.[A-Za-z_][A-Za-z0-9_.-]*"  # Terraform references: var.db_password
    r"|`[^`\n]*[ \t][^`\n]*`"  # `command args`, as $(command) below (a Go raw string `x` has no blank)
    r"|\[[A-Z][A-Z0-9_ -]*\]"  # [PASSWORD], [IP] (help text)
    r"|[A-Z0-9_]*(?:PASSWORD|PASSWD|TOKEN|SECRET|KEY|PASS|PWD)[A-Z0-9_]*"  # 'PASSWORD', ACCESS_TOKEN: a name
    r"|ENC\[[A-Z0-9_]+,[^\]\n]*\]"  # a value sops encrypted: ENC[AES256_GCM,data:…]
    r"|[A-Za-z_][A-Za-z0-9_.-]*(?:[ \t]*:|[ \t]+=)[ \t]*|<[A-Za-z][^<>\n]*"  # code cut at a quote: `"api_token = "`
    r"|new[ \t]+[A-Z][A-Za-z0-9_.]*\(.*"  # a constructor call (JavaScript `credentials: new AWS.Creds({…})`)
    r"|\$\{\{[^}]*\}\}"  # ${{ secrets.X }} (GitHub Actions)
    r"|\$\([^()]*\)"  # $(command) - checked below for echo/printf, which would print a literal
    r"|%[A-Za-z_][A-Za-z0-9_]*%"  # %VAR% (cmd.exe)
    r"|<[^<>]*>"  # <password>
    r"|\{\{[^{}]*\}\}|\{[A-Za-z_]*\}|\{[A-Za-z0-9_]+\([^{}\n]*\)\}|%s|%\([A-Za-z_]+\)s"  # templates
    r"|\*+|[xX]{3,}|\.{3,}|#{3,}|-{3,}"  # ***, xxxx, ...
    r"|\((?:sensitive(?: value)?|known after apply)\)"  # terraform plan
    r"|(?i:none|null|nil|true|false|undefined|redacted|\[redacted\]|\(none\)|\(null\)|<none>|absent)"  # no value
    r"|\*SENSITIVE\*DATA\*DELETED\*"  # what Windows Setup writes over a password in its answer file
    r"|[0-9]"  # one digit: a flag
    r"|(?i:foo|bar|baz|foobar)"  # stand-ins in examples (not changeit/changeme: defaults are real passwords)
)
# A template (Jinja, Ansible) whose expression starts with a quoted literal piped to a filter.
_TEMPLATE_LITERAL: Final = Regex(r"\{\{-?[ \t]*(?:'[^'\n]+'|\"[^\"\n]+\")[ \t]*\|")
# What a placeholder can start with (a cheap test before the RE2 call): the symbols above and any letter.
_PLACEHOLDER_FIRST: Final = frozenset(b"$%<{*.#-[(`0123456789" + bytes(range(65, 91)) + bytes(range(97, 123)))

# classify_name: names whose last word says "not the secret itself" (PASSWORD_FILE, token_ttl, KeyId, ...).
_NOT_SECRET_LAST_WORD: Final = frozenset(
    {
        "file", "files", "path", "dir", "directory", "folder", "location", "length", "len", "size", "ttl",
        "expiry", "expires", "expiration", "timeout", "age", "policy", "type", "mode", "enabled", "required",
        "prompt", "min", "max", "count", "url", "uri", "endpoint", "host", "hostname", "port", "user",
        "username", "name", "id", "ids", "arn", "label", "version", "format", "algorithm", "algo", "hash",
        "used", "changed", "updated", "created", "set", "date", "time", "prevention", "rotation", "reset", "stdin",
        "fd", "env", "var", "ref", "source", "command", "cmd", "helper", "field", "prefix", "suffix",
        "method", "provider", "issuer", "audience", "scope", "scopes", "kind", "status", "state", "level",
        "strength", "index", "limit", "retries", "interval", "period", "spec", "usage", "pair", "variable",
        "encryption", "seconds", "secs", "sec", "minutes", "mins", "hours", "days", "weeks", "months", "years",
        "ms", "millis", "milliseconds",
    }
)  # fmt: skip
_NOT_SECRET_KEY_QUALIFIER: Final = frozenset(
    {"public", "partition", "sort", "foreign", "hash", "range", "cache", "row", "lookup", "hot",
     "group", "tag", "idempotency", "routing", "object", "parameter", "s3", "dedup", "map", "host",
     "output", "input", "attribute", "kms",  # CloudFormation OutputKey, CloudTrail AttributeKey, ECR kmsKey
     "bucket", "schema", "sequence", "natural", "idx", "index", "sorting", "ha"}  # database and object keys
)  # fmt: skip
_SECRET_KEY_WORDS: Final = frozenset(
    {"apikey", "secretkey", "privatekey", "accesskey", "signingkey", "masterkey", "encryptionkey",
     "licensekey", "authkey", "clientkey", "appkey", "serverkey", "sshkey", "subscriptionkey", "functionkey",
     "hmackey", "webhookkey", "cryptkey", "accountkey", "storagekey", "adminkey", "servicekey", "sessionkey",
     "sharedkey", "writekey", "psk", "skey"}
)  # fmt: skip
_PLAIN_KEY_NAMES: Final = frozenset({b"key"})
_PLAIN_VALUE_MIN: Final = 16
# A name in capitals (see _is_token_in_capitals) is shorter, or has fewer digits, than this.
_CAPITALS_TOKEN_MIN: Final = 20
_CAPITALS_TOKEN_DIGITS: Final = 6
_NAME_IN_CAPITALS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"
# A last word that says how the value is written, not what it is (private_key_base64, DB_PASSWORD_B64).
_ENCODING_WORDS: Final = frozenset({"base64", "b64", "hex", "encoded", "enc", "pem", "der"})
_SECRET_KEY_SUFFIXES: Final = tuple(sorted(_SECRET_KEY_WORDS - {"psk"}))  # `psk` ends words that are no key
# A word before the last that says the rest is no credential: csrf_token, authenticity_token, publicToken.
_NOT_SECRET_QUALIFIER: Final = frozenset({"csrf", "xsrf", "authenticity", "public", "pub"})
_NOT_PASSWORD_WORDS: Final = frozenset({"bypass", "compass", "overpass", "underpass", "surpass", "passthrough"})
PATHLIKE_PREFIXES: Final = (b"/", b"~/", b"./", b"../", b"file://", b"fileb://")


_KEY_MATERIAL_MIN: Final = 20
_SYSTEM_DIRECTORIES: Final = tuple(
    f"/{name}/".encode() for name in ("etc", "var", "home", "opt", "run", "srv", "usr", "tmp", "root", "mnt", "data")
)
_PATH_WINDOW: Final = 512  # a value judged for names_a_file is at most this long (bounded work on a hostile line)
_KEY_MATERIAL: Final = Regex(r"[A-Za-z0-9+/_-]+={0,2}")


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


def _words_of_name(raw: bytes) -> list[str]:
    """The words of a variable, key or option name as written (quotes and leading dashes off; its last 64
    characters, which hold the words that decide), at least one. A number ending the last word or after it, or a
    last word that only says how the value is written, is not what decides: `salesforce_key1`, `API_KEY_2` and
    `private_key_base64` are keys as `salesforce_key`, `API_KEY` and `private_key` are."""
    words = _name_words(raw.decode("latin-1").strip("-\"' ")[-64:]) or [""]
    if len(words) > 1 and (words[-1] in _ENCODING_WORDS or words[-1].isdigit()):  # `_base64`, `API_KEY_2`
        words.pop()
    last = words[-1].rstrip("0123456789")
    if last and last != words[-1]:
        words[-1] = last
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
    # A last word glued from a qualifier and a secret key's word: AZURESTORAGEACCOUNTKEY,
    # spark.azure.storageaccountkey, satismeter_writekey. Or a password's, in one word: ACRPWD.
    ("key", lambda c, w: w[-1].endswith(_SECRET_KEY_SUFFIXES)),
    ("password", lambda c, w: len(w) == 1 and c.endswith("pwd") and c not in ("pwd", "oldpwd")),
    ("password", lambda c, w: len(w[-1]) > 2 and w[-1].endswith("pw")),  # LDAP bindpw, ldap_bindpw, rootpw
    ("auth", lambda c, w: w[-1].endswith("auth")),
)


@functools.lru_cache(maxsize=2048)
def names_a_reference(raw: bytes) -> bool:
    """Helm charts' existingSecret (the name of a Kubernetes Secret) and adminPasswordKey (of a key in it): such a
    name holds a reference, but only a value shaped like one (REFERENCE_VALUE) is left readable. So does an
    ExternalSecret's secretKey (`secretKey: api-key`, the key's name in the Secret it writes)."""
    words = _words_of_name(raw)
    return (
        words[0] == "existing"
        or (words[-1] == "key" and len(words) > 1 and words[-2] in ("password", "secret"))  # ExternalSecret secretKey
    )


@functools.lru_cache(maxsize=2048)
def names_a_column_key(raw: bytes) -> bool:
    """A database's primary key names a column (`primary_key: id`), but Azure names its storage, Cosmos DB and
    Service Bus keys PrimaryKey too: under such a name only a value shaped like key material is masked."""
    words = _words_of_name(raw)
    return len(words) > 1 and words[-1] == "key" and words[-2] == "primary"


def names_a_file(value: bytes) -> bool:
    """A key's value that is a path (`--private-key /path/key.pem`, `~/.ssh/id_ed25519`), not base64 key material
    that happens to start with `/` (WireGuard's `PresharedKey = /UwcSPg38hW/D9Y3…=`: one key in 64 does)."""
    if not value.startswith(PATHLIKE_PREFIXES):
        return False
    word = value.split(None, 1)[0].strip(b"\"'")
    # Standard base64 has neither `.`, `_` nor `-`, and a key does not start in a system's own directories.
    return (
        word.startswith(_SYSTEM_DIRECTORIES)
        or word.translate(None, b"._-") != word
        or not looks_like_key_material(word)
    )


def looks_like_key_material(value: bytes) -> bool:
    """Random base64 of 20 characters or more, `=` only as its padding (a column name or identifier is not)."""
    return len(value) >= _KEY_MATERIAL_MIN and _KEY_MATERIAL.fullmatch(value) and _looks_random(value)


# A Kubernetes-style reference name: lower-case words, each perhaps ending in digits, or numbers, joined by - . _,
# at least two of them (`app-db-credentials`, `postgres-password`, `redis-0`). `password123`, `hunter2xyz` and
# `S3cr3t!Pw9` are values: one word is a weak password as often as a name.
REFERENCE_VALUE: Final = Regex(r"[a-z]+[0-9]*(?:[-._](?:[a-z]+[0-9]*|[0-9]+))+")


@functools.lru_cache(maxsize=2048)
def classify_name(raw: bytes, mode: str) -> str | None:
    """The kind of secret a variable, key or option name holds, or None when it holds none."""
    name = raw.decode("latin-1").strip("-\"' ")
    compact = name.lower().replace("_", "").replace("-", "").replace(".", "").rstrip("0123456789")  # API_KEY_2
    words = _words_of_name(raw)
    if compact == "secretid" and not raw.startswith(b"-"):
        return "secret"  # Vault AppRole secret_id=...; AWS's --secret-id only names a secret
    if (
        compact in {"pwd", "oldpwd", "authorization", "proxyauthorization"}  # cwd; headers have their own rule
        or compact == "nopasswd"  # sudoers' tag: `ec2-user ALL=(ALL) NOPASSWD:ALL`
        or words[-1] in _NOT_SECRET_LAST_WORD
        or words[0] == "no"  # --no-password
        or any(word in _NOT_SECRET_QUALIFIER for word in words[:-1])
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
    if is_arn(data, value_at) or (kind == "key" and names_a_file(data[value_at : value_at + _PATH_WINDOW])):
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
    if not _PLACEHOLDER.fullmatch(value) or _is_token_in_capitals(value):
        return False
    # `$(echo hunter2)` prints a literal; any other command substitution only names where the secret lives.
    if value.startswith(b"{{") and _TEMPLATE_LITERAL.match(value) is not None:
        return False  # `{{ 'Winter2024!' | password_hash('sha512') }}`: a literal handed to a filter
    return not (value.startswith((b"$(", b"`")) and (b"echo" in value or b"printf" in value))


def _is_token_in_capitals(value: bytes) -> bool:
    """A value of capitals, digits and `_` holding a secret's word is a variable's name (`ACCESS_TOKEN`, `A00TOKEN0`,
    `OAUTH2_KEY`): but not when long and full of digits, as a name never is and a token in capitals is
    (`API_KEYN2B1NFN5CP6CK5BJHY8B15YF535TP681`)."""
    return (
        len(value) >= _CAPITALS_TOKEN_MIN
        and not value.translate(None, _NAME_IN_CAPITALS)
        and len(value) - len(value.translate(None, _DIGITS)) >= _CAPITALS_TOKEN_DIGITS
    )


# --- token-shaped values that are no secret, and tokens alone on a line ----------------------------------

# Words that make a token-shaped value a stand-in (ghp_PUT_YOUR_TOKEN_HERE, xoxe.xoxp-1-AccessTokenHere).
_PLACEHOLDER_WORDS: Final = frozenset({"your", "here", "example", "changeme", "placeholder", "redacted", "dummy"})
_PLACEHOLDER_WORD_BYTES: Final = tuple(word.encode() for word in _PLACEHOLDER_WORDS)
_RUN_TOGETHER_MIN: Final = 8  # `RANDOMSTRINGHERE`: placeholder words run together in one case
_PLACEHOLDER_WORDS_MAX: Final = 128  # longer values are not split into words (bounded work per value)
_NOT_ALNUM: Final = bytes(c for c in range(256) if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122))
_ASCENDING_RUN: Final = 16
_ASCENDING_RUNS: Final = tuple(
    bytes(range(97 + start, 97 + start + _ASCENDING_RUN)) for start in range(26 - _ASCENDING_RUN + 1)
)
# The credentials AWS's documentation prints (key ids AKIAIOSFODNN7EXAMPLE, AKIAI44QH8DHBEXAMPLE, and their secret
# keys): stand-ins wherever they stand, also as the value of AWS_ACCESS_KEY_ID=.
_AWS_EXAMPLE: Final = Regex(
    r"(?:AKIA|ASIA)[A-Z0-9]{9}EXAMPLE|wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY|je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
)


def _has_ascending_run(text: bytes) -> bool:
    """16 letters in alphabet order (`abcdefghijklmnop…`; digits are only ten): typed by a person writing an example
    (`sk_abcdefghijklmnopqrstuvwxyz123`), never drawn at random. gitleaks' own true positives hold runs of up to
    14 (`klmnopqrstuvwx`), which stay masked. Eleven substring tests, no loop in Python."""
    lowered = text.lower()
    return any(run in lowered for run in _ASCENDING_RUNS)


def _may_stand_in(value: bytes) -> bool:
    """Something at least one of the stand-in tests needs (a run of 16 letters in order always holds `klmnop`):
    substring tests in C, cheaper than one RE2 call, and false for most values."""
    if b"EXAMPLE" in value or b"##" in value or b"**" in value or value.endswith(b"..."):
        return True
    lowered = value.lower()
    return (
        b"klmnop" in lowered
        or b"example" in lowered
        or b"[redacted]" in lowered
        or b"your" in lowered
        or b"here" in lowered
        or b"changeme" in lowered
        or b"placeholder" in lowered
        or b"dummy" in lowered
    )


def _is_blanked_out(value: bytes) -> bool:
    """Already masked (`####`, `****`, `[Redacted]`) or shortened for display (`ops_eyJzaWdu...`)."""
    return b"####" in value or b"****" in value or value.endswith(b"...") or b"[redacted]" in value.lower()


_ONE_CHARACTER_WINDOW: Final = 256


def _is_mostly_one_character(value: bytes) -> bool:
    """One character repeated throughout (`aaaa`, three or more), or `x`, `a` or `0` for at least half of it
    (`ghp_xxxx…`, `glpat-XXXX-XXXX`, `00000…TUVWXYZ`)."""
    if len(value) < 3:
        return False
    # A stand-in is short: its first bytes say it. Reading all of a long value would make a hostile line of rejected
    # assignments (`aa_pw=aa_pw=…`, each value running to the end of the line) cost the square of its length.
    body = value[:_ONE_CHARACTER_WINDOW].translate(None, _NOT_ALNUM).lower()
    return (len(body) >= 3 and len(set(body)) == 1) or (
        len(body) >= 8 and max(map(body.count, b"xa0")) * 2 >= len(body)
    )


def is_placeholder_token(value: bytes, *, documented: bool = True) -> bool:
    """A value shaped like a token that is a documented example or a stand-in, not a secret: AWS's own examples
    (`AKIAIOSFODNN7EXAMPLE`, `wJalr…EXAMPLEKEY`), one blanked out or shortened (_is_blanked_out), mostly one
    character (_is_mostly_one_character), a run of 16 in alphabet order; and with `documented` (a token
    recognised by its shape, not a value named by its variable, where `MY_EXAMPLE_Pw9` and `example-only-Xq3`
    are passwords) any value holding EXAMPLE or made of words that say so (`xoxp-1-PUT_YOUR_TOKEN_HERE`). A real
    token is random: none of this happens to one."""
    if _is_mostly_one_character(value):
        return True
    if not _may_stand_in(value):  # a few substring tests rule out the rest, for most values
        return False
    if _AWS_EXAMPLE.fullmatch(value) or _is_blanked_out(value) or _has_ascending_run(value):
        return True
    return documented and (b"EXAMPLE" in value or _has_placeholder_words(value))


def _has_placeholder_words(value: bytes) -> bool:
    """Made of words that say it stands in for a token (`PUT_YOUR_TOKEN_HERE`, `AccessTokenHere`). The words are
    looked for as substrings first (C speed); only then is the value split into words."""
    if len(value) > _PLACEHOLDER_WORDS_MAX:
        return False
    lowered = value.lower()
    if not any(word in lowered for word in _PLACEHOLDER_WORD_BYTES):
        return False
    return any(_is_placeholder_word(word) for word in _name_words(value.decode("latin-1")))


def _is_placeholder_word(word: str) -> bool:
    """`here`, `your`, …; or a word of one case run together with them (`RANDOMSTRINGHERE`, `YOURAPIKEY`): eight
    letters or more with no digit are a phrase, not a random token's part."""
    return word in _PLACEHOLDER_WORDS or (
        len(word) >= _RUN_TOGETHER_MIN and word.isalpha() and (word.endswith("here") or word.startswith("your"))
    )


@functools.lru_cache(maxsize=1024)
def shannon_entropy(value: bytes) -> float:
    """Bits per character (gitleaks' entropy floor, and BARE_ENTROPY); a token seen again costs a lookup."""
    if not value:
        return 0.0
    size = len(value)
    return -sum(count / size * math.log2(count / size) for count in Counter(value).values())


# A token alone on a line (bare_credential): its characters, and the bounds of what is examined.
BARE_CHARS: Final = r"[A-Za-z0-9+/=_.:~-]"
_BARE_TOKEN: Final = Regex(rf"^[ \t]*(?P<v>{BARE_CHARS}{{16,512}})[ \t]*$")
_BARE_MIN, _BARE_MAX = 16, 512
_HEX_AND_DASH: Final = b"0123456789abcdefABCDEF-"
_DIGITS: Final = b"0123456789"
_LETTERS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SEPARATORS: Final = b"-_.:"
_PREFIX_SEPARATORS: Final = b"-_"
_PREFIX_WORD_MIN: Final = 2
_PREFIX_WORD_MAX: Final = 12
_PREFIXED_RANDOM_MIN: Final = 24
_TOKEN_BODY: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
BASE64_WRAP: Final = frozenset({64, 76})  # `base64` and PEM line widths: a line of a longer dump
# png, jpg, gif, zip, gzip, pdf, bmp in base64, and DER (certificates; a key's body lines are masked in their
# BEGIN/END block)
_FILE_MAGIC: Final = (b"iVBORw0KGgo", b"/9j/", b"R0lGOD", b"UEsDB", b"H4sI", b"JVBER", b"Qk0", b"MII")
_DIGEST_PREFIXES: Final = (b"sha1", b"sha224", b"sha256", b"sha384", b"sha512", b"md5")
BARE_ENTROPY: Final = 3.3  # bits per character; random base36 of 16 characters has ~3.6, words ~2.8
_LETTER_RUN_MAX: Final = 20


_KEY_WORD_MIN: Final = 8


def is_word_not_key_material(body: bytes) -> bool:
    """A short line of lower-case letters alone inside a BEGIN/END block (`anything`): a word someone typed, not
    the base64 of a key (gitleaks' private-key rule wants 64 characters between the armour lines). A key's short
    last line is 8 to 15 lower-case letters in fewer than one key of a thousand, and would then show 11 bytes
    of its encoding at most."""
    return _KEY_WORD_MIN <= len(body) < _BARE_MIN and body.isalpha() and body.islower()


def may_be_bare_token(data: bytes) -> bool:
    """Cheap: whether data could be one token alone on its line (no blank inside, long enough)."""
    return _BARE_MIN <= len(data) <= _BARE_MAX + 32 and b" " not in data.strip()


def is_mixed_case(token: bytes) -> bool:
    return token.lower() != token and token.upper() != token


def bare_token(data: bytes) -> tuple[int, int] | None:
    """The span of the one token of a line that holds nothing else: 16 to 512 characters of BARE_CHARS, perhaps
    between blanks. Such a line holds no trigger word; it is judged by the token alone (bare_credential, and a
    provider's prefix: gitleaks.bare_provider_rule)."""
    match = _BARE_TOKEN.match(data)
    return None if match is None else match[1]


def bare_credential(data: bytes) -> tuple[int, int] | None:
    """The span of a credential printed alone on its line, judged by its shape (is_random_bare_token)."""
    span = bare_token(data)
    return span if span is not None and is_random_bare_token(data[span[0] : span[1]]) else None


@functools.lru_cache(maxsize=1024)
def plain_name_kind(raw: bytes) -> str | None:
    """The kind of a name too common to say by itself that its value is secret, whose value is masked only when it
    is random (is_random_value): `Key=` alone (`--tags Key=Name`, but `[DEBUG] Using Key=qsCGuilpkk2ngrsz75wt`), a
    key; a name whose last word is `pat` (a personal access token: `GITHUB_PAT`, `AZURE_DEVOPS_EXT_PAT`,
    `gitlabPat`, `--pat`, but also a pattern, `glob_pat = "*.py"`, or a user named Pat: `pat:x:1002:`), a token.
    (A URL's `sig=` and `Signature=` are the url-signature rule's.)"""
    if raw.strip(b"-\"' ").lower() in _PLAIN_KEY_NAMES:
        return "key"
    return "token" if b"pat" in raw.lower() and _words_of_name(raw)[-1] == "pat" else None


_PLAIN_VALUE_MAX: Final = 1024  # longer values under a plain name are text, not one credential
_PATTERN_BYTES: Final = b"^$[](){}|\\"  # a regular expression's, which a token never holds


def is_random_value(value: bytes) -> bool:
    """A value under a plain name (plain_name_kind) that is a credential: 16 characters or more (quotes off, up
    to a list's or a query's next item), random as a token alone on a line must be (is_random_bare_token: no
    path, URL, host, hex, digest)."""
    # Read no further than the longest value that may be one: a rejected value is read again from the next name in it.
    value = value[: _PLAIN_VALUE_MAX + 2].strip(b"\"'").partition(b"&")[0].partition(b",")[0]
    return (
        _PLAIN_VALUE_MIN <= len(value) <= _PLAIN_VALUE_MAX
        and len(value.translate(None, _PATTERN_BYTES)) == len(value)  # not a pattern (`^sk-[A-Za-z0-9]{48}$`)
        and is_random_bare_token(value)
    )


def is_random_bare_token(token: bytes) -> bool:
    """A token alone on a line that is a credential by its shape: random, and none of what ordinary output prints
    alone (_is_ordinary_output)."""
    return not _is_ordinary_output(token) and _looks_random(token)


def _is_ordinary_output(token: bytes) -> bool:
    """What ordinary output prints alone: hex (git SHAs, checksums, UUIDs, hex ids) and digits; paths, URLs and
    `name=value`; a word before the first separator (`ami-0…`, `i-0…`, pod and host names) or after a dot
    (domains, file extensions); digests (`sha256:…`, `sha512-…`); shortened values (`…`); a line of a base64
    dump (mixed case and 64 or 76 wide, or a file's magic bytes)."""
    if not token.translate(None, _HEX_AND_DASH) or not token.translate(None, _DIGITS + _SEPARATORS):
        return True
    if b"=" in token.rstrip(b"=") or b"://" in token or b"..." in token or token.startswith((b"/", b"./", b"~/")):
        return True  # base64's padding only ends a token
    if token.lower().startswith(_DIGEST_PREFIXES) or token.startswith(_FILE_MAGIC):
        return True
    if len(token) in BASE64_WRAP and is_mixed_case(token):
        return True
    if any(part.isalpha() and len(part) >= 3 for part in token.split(b".")[1:]) or _is_record_or_named_path(token):
        return True  # a host or file name (1111.dkr.ecr.eu-west-1.amazonaws.com/app:v1, build-7f3a.tar), a record
    return starts_with_a_word(token) and not _is_prefixed_random(token)


def _is_record_or_named_path(token: bytes) -> bool:
    """A record of colon-separated fields with a number and a path (a line of /etc/passwd:
    `_apt:x:42:65534::/nonexistent:/usr/sbin/nologin`), or a lower-case word and then a path or a subtype
    (`application/3gppHal+json`, `refs/heads/x`): base64 puts neither `:` nor a word before its first `/`."""
    if token.count(b":") >= 2 and b"/" in token:
        fields = token.split(b":")
        if any(field.startswith(b"/") for field in fields) and any(field.isdigit() for field in fields):
            return True
    head, slash, _ = token.partition(b"/")
    return bool(slash) and len(head) >= 3 and head.isalpha() and head.islower()


def _is_prefixed_random(token: bytes) -> bool:
    """A short word, one `_` or `-`, then 24 characters or more, random, not hex, and without another separator: a
    vendor's token (`BBDC-<base64>`, `aio_<random>`), not a name (`ami-0…` and `i-0…` have 17 hex after it, pod and
    stack names more separators, `build-<git SHA>` a hash)."""
    for at, byte in enumerate(token):
        if byte in _SEPARATORS:
            rest = token[at + 1 :]
            return (
                byte in _PREFIX_SEPARATORS
                and _PREFIX_WORD_MIN <= at <= _PREFIX_WORD_MAX
                and len(rest) >= _PREFIXED_RANDOM_MIN
                and not rest.translate(None, _TOKEN_BODY)
                and rest.translate(None, _HEX_AND_DASH) != b""
                and _looks_random(rest)
            )
    return False


def starts_with_a_word(token: bytes) -> bool:
    """Letters only up to the token's first separator (`ami-0…`, `deploy_runner_…`): a name, not random."""
    head = token
    for separator in _SEPARATORS:
        head = head.split(bytes([separator]), 1)[0]
    return len(head) < len(token) and head.isalpha()


def _looks_random(token: bytes) -> bool:
    """Letters and digits mixed, an entropy of 3.3 bits per character or more, no stand-in; a token of one
    case also needs a digit in every ten characters and no run of more than 20 letters (words)."""
    digits = len(token) - len(token.translate(None, _DIGITS))
    letters = len(token) - len(token.translate(None, _LETTERS))
    if not digits or not letters or is_placeholder_token(token) or shannon_entropy(token) < BARE_ENTROPY:
        return False
    return is_mixed_case(token) or (digits * 10 >= len(token) and _longest_letter_run(token) <= _LETTER_RUN_MAX)


def _longest_letter_run(token: bytes) -> int:
    longest = run = 0
    for byte in token:
        run = run + 1 if 65 <= (byte | 32) - 32 <= 90 else 0
        longest = max(longest, run)
    return longest
