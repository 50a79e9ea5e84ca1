"""The masker's rules: what a secret looks like in context, in priority order.

A `Rule` is one RE2 pattern with the literal triggers that must occur for it to fire, the capture groups that
hold the value (and how to treat each), an optional name group whose name decides the kind
(`heuristics.classify_name`), and an optional `accept` hook in code for what a pattern cannot say. `CONTEXT_RULES`
are the secrets known by their context (flags, piped secrets, URLs, SQL, secret-named assignments); the
provider-token shapes, known by the value alone, are data (tokens.yaml) and go first (masker.RULES).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sessionguard.masking.heuristics import PATHLIKE_PREFIXES, is_placeholder, is_random_bare_token
from sessionguard.masking.regex import LazyRegex, Match, Regex

if TYPE_CHECKING:
    from sessionguard.masking.gitleaks import GitleaksCheck

# The lists of Vault's key shares in its JSON and YAML output (`vault operator init -format=json`, rekey).
VAULT_SHARE_LISTS: Final = r"(?:(?:unseal|recovery)_keys_(?:b64|hex)|keys_base64)"
# A Vault key share alone: 33 bytes, as 66 hex digits or 44 base64 characters.
VAULT_SHARE: Final = r"(?:[0-9a-f]{66}|[A-Za-z0-9+/]{44})"

# --- value fragments --------------------------------------------------------------------------------------
# Capture groups whose name starts with "v" hold a value; the part after the last "_" says how to treat it:
#   w: a quoted string (the quotes stay, the inside is masked: mode q) or one shell word;
#   r: a quoted string or the rest of the line up to a closing quote (`password: two words`);
#   p: verbatim, but placeholders stay; v: verbatim (a provider token's own shape is never a placeholder).
# One group per value: a quoted alternative starts with its quote and the others never do, so the first
# byte tells them apart (fewer groups also keep RE2's per-match cost down).
# Group "n" holds a secret-looking name that classify_name turns into a kind (or rejects).
QUOTED = r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'"
SQL_QUOTED = r"'(?:[^'\\\n]|\\.|'')*'|\"(?:[^\"\\\n]|\\.|\"\")*\""  # SQL doubles a quote to escape it


# An unquoted shell word: it ends at whitespace, a quote or a shell operator (; | && and a lone & before a
# space), so a masked value never swallows the operator that separates it from the next command.
_WORD_CHAR = r"(?:[^\s'\";|&]|&[^\s'\";|&])"


# A command substitution is one value even with spaces inside: `$(cat /run/secrets/db)` and `\`etcdctl get x\``
# stay (placeholders), `$(echo hunter2)` is masked whole.
SUBSTITUTION = r"\$\([^()\n]*\)|`[^`\n]*`"


# A GitHub Actions expression is one value even with blanks inside (`GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}`): a
# placeholder (heuristics.is_placeholder), not a word `${{` to mask and the rest of the expression after it.
EXPRESSION = r"\$\{\{[^{}\n]*\}\}"


def value_pattern(tag: str = "v") -> str:
    return rf"(?P<{tag}_w>{QUOTED}|{SUBSTITUTION}|{EXPRESSION}|{_WORD_CHAR}+)"


def option_value_pattern(tag: str = "v", *, dash: bool = False) -> str:
    """A space-separated option argument: not the next option. With `dash`, a word that starts with `-` is also
    taken (group mode d), to be kept only if it looks random (`-p -Zq7vRm2Lx9`, not `--password -h db`)."""
    word = rf"(?P<{tag}_w>{QUOTED}|{SUBSTITUTION}|{EXPRESSION}|[^\s'\";|&-]{_WORD_CHAR}*)"
    return rf"{word}|(?P<{tag}_d>-[^\s'\";|&-]{_WORD_CHAR}{{5,}})" if dash else word  # 6+ after -: looks_random


# The rest of the line, up to a quote that closes (one followed by a space, an operator or the end), as in
# `-H 'X-Api-Key: abc' url`; a quote inside (`password: it's "x"`) does not end the value.
_REST = r"[^\s'\"](?:[^'\"\n]|['\"][^\s'\";|&)])*"


def rest_value_pattern(tag: str = "v") -> str:
    return rf"(?P<{tag}_r>{QUOTED}|{_REST})"


# Inside one command of a chain: anything up to ; & | (so a flag of the next command is not taken), stepping over
# quoted strings, which may hold them (`mysql -e "show databases; show tables" -pX`); a lone quote is a character.
# Lazy twice over: the nearest flag wins (a greedy `?` would prefer a later `-p` and leave the first one's value).
_SAME_COMMAND = rf"(?:(?:[^;&|\n]|{QUOTED})*?\s)??"
# A secret-looking name: the literal keywords also drive the trigger Set; classify_name decides precisely.
# `pat` (a personal access token: GITHUB_PAT, AZURE_DEVOPS_EXT_PAT, --pat) only as a name's last word: `PATH`,
# `patch` and `pattern` hold it too, so its triggers are the spellings that end a name (`_pat`, `pat=`, ...), not
# the bare word, which would send every line mentioning a path through the RE2 searches below.
_NAME_KEYWORDS = r"(?i:pass|pw|secret|token|cred|key|auth|pat\b)"
_NAME = rf"(?P<n>[A-Za-z0-9_.-]*{_NAME_KEYWORDS}[A-Za-z0-9_.-]*)"
_SECRET_WORDS = ("pass", "pw", "secret", "token", "cred", "key", "auth")
_PAT_TRIGGERS = ("_pat", "-pat", "pat=", "pat:", 'pat"', "pat'", "pat ", "pat\t")
_NAME_TRIGGERS = (*_SECRET_WORDS, *_PAT_TRIGGERS)
# One of those words in a name (gitleaks.name_holds_no_secret: is each one inside a name gitleaks allows?).
SECRET_NAME_WORD: Final = Regex(_NAME_KEYWORDS)
SECRET_NAME: Final = _NAME  # the pattern of a secret-looking name, group n (windows.py's rules use it too)
SECRET_NAME_WORDS: Final = (*_SECRET_WORDS, "pat")
# A declared type between a name and its `=` (Go `var apiToken string = "x"`, Kotlin `val apiToken: String = "x"`).
_TYPE_WORD = r"(?:[ \t]*:?[ \t]+(?:string|String|str|&str|\[\]byte|CharSequence|SecureString))?"
# What `echo X |` / `printf '%s\n' X |` feeds into a command's standard input.
_ECHO = (
    r"\b(?:echo(?:[ \t]+-[neE]+)*|printf(?:[ \t]+'%s\\n'|[ \t]+\"%s\\n\")?|yes)[ \t]+"
    rf"(?P<v_w>{QUOTED}|[^\s'\"|;&<>]+)[ \t]*\|[ \t]*"
)
_ECHO_REQUIRES: Final = ((b"|",), (b"echo", b"printf", b"yes"))
_HTPASSWD_ARG = rf"{QUOTED}|[^\s'\";&|<>]+"
_SUDO_PREFIX = r"(?:(?:\S*/)?sudo(?:[ \t]+-\S+)*[ \t]+)?(?:\S*/)?"
# sudo's option that makes it read the password from stdin: -S, also among others (-kS, -Sv, -Si), or --stdin.
_SUDO_STDIN = r"(?:-[A-Za-z]*S[A-Za-z]*\b|--stdin\b)"
# `user:password` of curl -u, httpie -a, ...: quoted or one word. The user may hold a marker (`-u [MASKED:...]:`,
# a token as the user), whose own colon is not the separator, or a second pass would split the marker.
_USER_IN_MARKER = r"\[MASKED:[a-z-]+\]"
# Also the user and the password quoted apart (`"user":"password"`, `user:'password'`), and a token as the user with
# no password (`-u "sk_live_…:"`, Stripe's and others' API keys): then the user is the secret.
_USER_PASSWORD = (
    rf"(?:'(?P<u1>(?:{_USER_IN_MARKER}|[^':\s\[])*):(?P<v_sq>[^'\n]+)'"
    rf"|\"(?P<u2>(?:{_USER_IN_MARKER}|[^\":\s\[])*):(?P<v_dq>[^\"\n]+)\""
    rf"|\"(?P<u4>[^\"\n]*)\":(?P<v4_w>\"[^\"\n]+\"|'[^'\n]+')"
    rf"|(?P<u3>(?:{_USER_IN_MARKER}|[^\s:'\"\[])*):(?P<v_w>[^\s'\"]+|'[^'\n]+'|\"[^\"\n]+\")"
    r"|(?P<q>['\"])(?P<vt_p>[^\s:'\"]{8,}):['\"]|(?P<vu_p>[^\s:'\"\[]{8,}):(?:[ \t]|$))"
)


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    triggers: tuple[str, ...]
    regex: Regex | LazyRegex
    value_groups: tuple[tuple[int, str], ...]
    name_group: int
    accept: Callable[[Rule, Match, bytes, bytes], bool] | None  # (rule, match, line, value): keep the value?
    user_split: bool  # `user:password` values (chpasswd): keep the user readable
    # "" or a handler of its own: "assignment", "htpasswd", "aws-prompt", "secure-string", "yaml-data",
    # "yaml-api-version", "gitleaks" (gitleaks.py's rules), announced.ANNOUNCES's keys
    special: str
    dotted_name: bool  # the name is `profile.x.aws_secret_access_key`: classify its last part
    # Cheap necessary conditions checked with `in` before the RE2 search (each inner tuple: one of these
    # bytes must occur): a line that merely mentions `sudo` costs no RE2 call for the `echo X | sudo -S` rule.
    requires: tuple[tuple[bytes, ...], ...]
    gitleaks: GitleaksCheck | None = None  # a gitleaks rule (special "gitleaks"): its secret group and checks


def make_rule(
    kind: str,
    triggers: tuple[str, ...],
    pattern: str,
    *,
    accept: Callable[[Rule, Match, bytes, bytes], bool] | None = None,
    user_split: bool = False,
    special: str = "",
    dotted_name: bool = False,
    requires: tuple[tuple[bytes, ...], ...] = (),
) -> Rule:
    regex = Regex(pattern)
    groups = regex.groupindex
    values = tuple(sorted((i, name.rsplit("_", 1)[1]) for name, i in groups.items() if name.startswith("v")))
    return Rule(kind, triggers, regex, values, groups.get("n", 0), accept, user_split, special, dotted_name, requires)


def _is_user_password(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
    """`-u user:password`, but not `docker run -u 1000:1000` (uid:gid) nor `redis-cli -u redis://...` (a URL,
    masked by the url-password rule)."""
    user = b""
    for name in ("u1", "u2", "u3", "u4"):  # one per quoting alternative; the first that took part
        start, end = match[rule.regex.groupindex[name]]
        if start >= 0:
            user = data[start:end]
            break
    if is_placeholder(user + b":" + value) or is_placeholder(value):  # `--user <user:password>`, `-u ${X:?msg}`
        return False
    if value.lower() in _NAMES_NOT_VALUES:  # `curl -u username:password` (help text)
        return False
    return not (value.startswith(b"//") or (value.isdigit() and (user.isdigit() or not user)))


def _is_option_name(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
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


# A password that only names what goes there, in help text and examples: `curl -u user:token`.
_NAMES_NOT_VALUES: Final = frozenset({b"password", b"passwd", b"pass", b"pwd", b"token", b"secret", b"apikey"})

# Values that only say where a passphrase is (openssl-passphrase-options(1) and tools that copy it): exactly
# `stdin`, `fd:<digits>`, `env:<NAME>` with an environment-variable name, `file:<path>` with a `/` or `.` in the
# path. Anything else (`stdinPw77`, `file:abc123`, `env:s3cret`) is a value.
_PASS_SOURCE: Final = Regex(r"stdin|fd:[0-9]+|env:[A-Z_][A-Z0-9_]*|file:[^\s/.]*[/.]\S*")
_NAME_KEYWORD_BYTES: Final = tuple(keyword.encode() for keyword in _SECRET_WORDS)


def _not_a_sentence_end(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
    """`password combination.` ends a sentence: a word of letters and a full stop is prose, not a password."""
    return not (value.endswith(b".") and value[:-1].isalpha())


# Remote-access and offensive tools that take a password (-p / --password) or an NT hash (-H / --hash) as an
# argument, and impacket's scripts (impacket-* as Kali installs them, or the .py of the examples folder).
_DASH_P_TOOLS: Final = (
    r"rdesktop|crackmapexec|netexec|nxc|cme|evil-winrm|smbmap|hydra|medusa|enum4linux(?:-ng)?|bloodhound-python"
    r"|certipy(?:-ad)?|ldapdomaindump"
)
_HASH_TOOLS: Final = r"crackmapexec|netexec|nxc|cme|evil-winrm"
_IMPACKET: Final = (
    r"impacket-[A-Za-z]+|(?:secretsdump|psexec|wmiexec|smbexec|atexec|dcomexec|GetUserSPNs|GetNPUsers|getTGT|getST"
    r"|smbclient|mssqlclient|lookupsid|reg|services|rpcdump|samrdump|addcomputer|rbcd|dacledit|owneredit"
    r"|findDelegation|GetADUsers|ticketer|raiseChild|goldenPac)\.py"
)
# Literal triggers: the tools' names, impacket's options and example scripts (not `.py`, which most lines that
# name a Python file hold).
_REMOTE_TOOL_TRIGGERS: Final = (
    "rdesktop", "crackmapexec", "netexec", "nxc", "cme", "evil-winrm", "smbmap", "hydra", "medusa", "enum4linux",
    "bloodhound-python", "certipy", "ldapdomaindump", "impacket", "-hashes", "-aeskey", "secretsdump", "psexec.py",
    "wmiexec", "smbexec", "atexec", "dcomexec", "getuserspns", "getnpusers", "gettgt", "getst.py", "smbclient.py",
    "mssqlclient", "lookupsid", "reg.py", "services.py", "rpcdump", "samrdump", "addcomputer", "rbcd.py",
    "dacledit", "owneredit", "finddelegation", "getadusers", "ticketer", "raisechild", "goldenpac",
)  # fmt: skip
# Where a tool's name starts: the line's start, a blank, a path, or a quote or operator (`bash -c 'nxc ...'`).
# The SNMP clients (net-snmp's commands; not snmpd, whose -c is its configuration file).
_SNMP_COMMANDS: Final = (
    "walk", "bulkwalk", "get", "getnext", "bulkget", "set", "table", "trap", "inform", "status", "df", "netstat",
    "delta", "usm", "vacm",
)  # fmt: skip
_SNMP_CLIENT_TRIGGERS: Final = tuple(f"snmp{name} " for name in _SNMP_COMMANDS)
_SNMP_CLIENTS: Final = rf"snmp(?:{'|'.join(_SNMP_COMMANDS)})"
_TOOL_START: Final = r"(?:^|[\s/'\"(;&|])"
_WORD_LIST_SUFFIXES: Final = (b".txt", b".lst", b".list", b".dic", b".csv")


def _is_not_a_word_list(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
    """`hydra -p`, `nxc -p` and `-H` also take a file of passwords or hashes: a path or a word list's name stays."""
    bare = value.strip(b"\"'")
    return not (bare.startswith(PATHLIKE_PREFIXES) or bare.lower().endswith(_WORD_LIST_SUFFIXES))


def _is_not_a_port(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
    """`http://localhost:4873/@scope/pkg` is host:port and a path with an @, not user:password@host."""
    head = value
    for separator in (b"/", b"?", b"#"):
        head = head.split(separator, 1)[0]
    return not (head.isdigit() and len(head) < len(value))


_HEX_TOKEN_USER: Final = 32
_HEX_DIGITS: Final = b"0123456789abcdefABCDEF"


def _is_token_user(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
    return is_random_bare_token(value) or (len(value) >= _HEX_TOKEN_USER and not value.translate(None, _HEX_DIGITS))


def looks_random(value: bytes) -> bool:
    """A word that starts with `-` but is a value, not the next option (`-p -Zq7vRm2Lx9`): long, and mixing
    upper case, lower case and digits, as options (`-h`, `-x`, `--verbose`) do not."""
    body = value[1:]
    return (
        len(body) >= 6
        and any(48 <= c <= 57 for c in body)
        and any(65 <= c <= 90 for c in body)
        and any(97 <= c <= 122 for c in body)
    )


# Rules in priority order, after the provider-token shapes of tokens.yaml: when spans of several rules overlap they
# merge into one marker named after the earliest rule (the most specific).
CONTEXT_RULES: Final[tuple[Rule, ...]] = (
    # `aws configure` echoes what is typed after its prompt (an empty answer keeps the value in brackets).
    make_rule(
        "aws-secret-access-key",
        ("secret access key", "access key id", "session token"),
        r"(?i)\bAWS[ \t]+(?P<k>Secret Access Key|Access Key ID|Session Token)[ \t]*\[[^\]\n]*\]:[ \t]*"
        r"(?P<v_w>\S*)[ \t]*$",
        special="aws-prompt",
        requires=((b"]:",),),
    ),
    # `aws configure set [profile.x.]aws_secret_access_key VALUE`
    make_rule(
        "secret",
        ("configure",),
        rf"\bconfigure[ \t]+set[ \t]+(?P<n>[A-Za-z0-9_.-]+)[ \t]+{value_pattern()}",
        dotted_name=True,
        requires=((b"set",),),
    ),
    # `aws ... --output table`: `||  SecretAccessKey  |  wJalr...  ||` (the name decides, as for assignments).
    make_rule("secret", _NAME_TRIGGERS, rf"^[ \t]*\|+[ \t]*{_NAME}[ \t]*\|[ \t]*(?P<v_w>[^\s|]+)", requires=((b"|",),)),
    # A command that prints one secret alone on the next line: `aws configure get aws_secret_access_key`,
    # `jq -r '.Credentials.SecretAccessKey'` (nothing piped on). The next line is masked if it is one word (and,
    # for an AWS secret key, has a key's shape: see _take_pending).
    make_rule(
        "secret",
        ("configure get",),
        r"\baws[ \t]+configure[ \t]+get[ \t]+(?:[A-Za-z0-9_-]+\.)*(?P<n>[A-Za-z0-9_]+)(?:[ \t]+[^|;&\s][^|;&]*)?$",
        special="prints-value",
    ),
    make_rule(
        "secret",
        ("jq ",),
        r"\bjq[ \t]+(?:-[A-Za-z-]+[ \t]+)*['\"]?(?:\.[A-Za-z0-9_]+(?:\[[0-9]*\])?)*\.(?P<n>[A-Za-z0-9_]+)['\"]?"
        r"(?:[ \t]+[^|;&\s][^|;&]*)?$",
        special="prints-value",
    ),
    # A secret-named variable printed alone: `echo $DB_PASSWORD`, `echo "${API_TOKEN}"`, `printf '%s\n' $X`,
    # `printenv DB_PASSWORD`; the name decides, and the value is on the next line.
    make_rule(
        "secret",
        ("echo", "printf"),
        r"(?:^|[\s;&|#>$])(?:echo(?:[ \t]+-[neE]+)*|printf[ \t]+(?:'%s\\n'|\"%s\\n\"|%s))[ \t]+"
        r"[\"']?\$\{?(?P<n>[A-Za-z_][A-Za-z0-9_]*)\}?[\"']?[ \t]*$",
        special="prints-value",
        requires=((b"$",),),
    ),
    make_rule(
        "secret",
        ("printenv",),
        r"(?:^|[\s;&|#>$])printenv[ \t]+(?P<n>[A-Za-z_][A-Za-z0-9_]*)[ \t]*$",
        special="prints-value",
    ),
    # One value of a Kubernetes Secret (`kubectl get secret NAME -o jsonpath='{.data.KEY}'`, or go-template, perhaps
    # `| base64 -d`), and one decrypted value printed as text by the AWS CLI (`aws ssm get-parameter --with-decryption
    # ... --output text`, `aws secretsmanager get-secret-value ... --output text`): every value of a Secret and every
    # decrypted parameter is secret whatever its name, so no name decides.
    make_rule(
        "secret",
        ("kubectl", "get-parameter", "get-secret-value"),
        r"\bkubectl\s[^|;&\n]*\bget\s+secrets?\b[^|;&\n]*(?:-o|--output)[ \t=]*['\"]?(?:jsonpath|go-template)=[^|;&\n]*"
        r"\.data\b[^|;&\n]*(?:\|[ \t]*base64[ \t]+(?:-d|--decode|-D)\b[^|;&\n]*)?$"
        r"|\baws\s[^|;&\n]*\bssm\s+get-parameters?\b(?:[^|;&\n]*--with-decryption\b[^|;&\n]*--output[ \t=]+text\b"
        r"|[^|;&\n]*--output[ \t=]+text\b[^|;&\n]*--with-decryption\b)[^|;&\n]*$"
        r"|\baws\s[^|;&\n]*\bsecretsmanager\s+get-secret-value\b[^|;&\n]*--output[ \t=]+text\b[^|;&\n]*$",
        special="prints-value",
    ),
    # Secret stores' commands that print one value alone: `vault kv get -field=password PATH` (also `vault read`),
    # `vault print token`, the short-lived tokens that `aws ecr get-login-password` (a few KB: more than a token alone
    # may be), `aws codeartifact get-authorization-token … --output text`, `gcloud auth print-access-token`,
    # `az account get-access-token … -o tsv`, `gh auth token` and `kubectl create token` print,
    # 1Password's `op read op://…` and `op item get … --fields …`, Bitwarden's `bw get password|totp|notes`, `pass
    # show` / `gopass show`, `doppler secrets get NAME --plain`, `gcloud secrets versions access`, `az keyvault
    # secret show … -o tsv`, `Get-AzKeyVaultSecret … -AsPlainText` and `terraform output -raw NAME` (also OpenTofu's
    # `tofu`). As above, what they print is secret whatever its name. (`terraform output -raw` prints no newline:
    # the rebuilder gives its value a line of its own when the prompt that follows it is one the session showed
    # before, session/terminal.py; docs/masking.md.)
    make_rule(
        "secret",
        (
            *("vault", "op ", "bw ", "pass", "doppler", "gcloud", "keyvault", "terraform", "tofu", "terragrunt"),
            *("get-login-password", "get-authorization-token", "get-access-token", "auth token", "create token"),
        ),
        r"(?:^|[\s;&|(])(?:"
        r"vault[ \t]+(?:kv[ \t]+get|read)[ \t]+(?:[^|;&\n]*[ \t])?--?field(?:=|[ \t]+)\S+[^|;&\n]*"
        r"|vault[ \t]+print[ \t]+token\b[^|;&\n]*"
        r"|aws[ \t]+(?:[^|;&\n]*[ \t])?ecr(?:-public)?[ \t]+get-login-password\b[^|;&\n]*"
        r"|aws[ \t]+(?:[^|;&\n]*[ \t])?codeartifact[ \t]+get-authorization-token\b"
        r"[^|;&\n]*--output[ \t=]+text\b[^|;&\n]*"
        r"|gcloud[ \t]+(?:[^|;&\n]*[ \t])?auth[ \t]+(?:application-default[ \t]+)?print-(?:access|identity)-token\b"
        r"[^|;&\n]*"
        r"|az[ \t]+account[ \t]+get-access-token\b[^|;&\n]*(?:-o|--output)[ \t=]*tsv\b[^|;&\n]*"
        r"|gh[ \t]+auth[ \t]+token\b[^|;&\n]*"
        r"|kubectl[ \t]+(?:[^|;&\n]*[ \t])?create[ \t]+token[ \t][^|;&\n]*"
        r"|op[ \t]+read[ \t]+['\"]?op://[^|;&\n]*"
        r"|op[ \t]+item[ \t]+get[ \t]+[^|;&\n]*--fields?[ \t=][^|;&\n]*"
        r"|bw[ \t]+get[ \t]+(?:password|totp|notes)[ \t][^|;&\n]*"
        r"|(?:go)?pass[ \t]+show[ \t][^|;&\n]*"
        r"|doppler[ \t]+secrets[ \t]+get[ \t][^|;&\n]*--plain\b[^|;&\n]*"
        r"|gcloud[ \t]+secrets[ \t]+versions[ \t]+access[ \t][^|;&\n]*"
        r"|az[ \t]+keyvault[ \t]+secret[ \t]+show[ \t][^|;&\n]*(?:-o|--output)[ \t=]*tsv\b[^|;&\n]*"
        r"|(?i:get-azkeyvaultsecret)[ \t][^|;&\n]*(?i:-asplaintext)\b[^|;&\n]*"
        r"|(?:terraform|tofu|terragrunt)[ \t]+(?:-chdir=\S+[ \t]+)?output[ \t]+(?:[^|;&\n]*[ \t])?--?raw(?:=true)?"
        r"[ \t]+[^-\s][^|;&\n]*(?:[ \t]*(?:;|&&)[ \t]*echo)?"
        r")$",
        special="prints-value",
    ),
    # `aws ssm put-parameter --type SecureString --value X` and the decrypted `"Value"` that follows
    # `"Type": "SecureString"` in get-parameter(s) output (possibly on a later line: see _SSM_VALUE).
    make_rule("ssm-secure-string", ("securestring",), r"SecureString", special="secure-string"),
    # mysql/mariadb: only the attached form is a password; `-p` alone (or `-p X`) prompts; -P is the port.
    make_rule(
        "mysql-password",
        ("mysql", "mariadb"),
        rf"(?i:\b(?:mysql|mariadb)[a-z_-]*)\s{_SAME_COMMAND}-p{value_pattern()}",
        requires=((b"-p",),),
    ),
    # mysqladmin's command `password NEW` sets a new password.
    make_rule(
        "mysql-password",
        ("mysqladmin",),
        rf"\bmysqladmin\s{_SAME_COMMAND}password[ \t]+{option_value_pattern()}",
        requires=((b"password",),),
    ),
    make_rule(
        "sshpass-password", ("sshpass",), rf"\bsshpass\s{_SAME_COMMAND}-p[ \t]*{value_pattern()}", requires=((b"-p",),)
    ),
    make_rule(
        "redis-password",
        ("redis-cli",),
        rf"\bredis-cli\s{_SAME_COMMAND}(?:-a[ \t]*|--pass[ \t]+|--pass=){option_value_pattern()}",
        requires=((b"-a", b"--pass"),),
    ),
    # redis-cli's own prompt: `127.0.0.1:6379> AUTH [user] password`
    make_rule(
        "redis-password",
        ("auth",),
        rf"(?i)^[^\s>]*>[ \t]*auth[ \t]+(?:\S+[ \t]+)?{value_pattern()}[ \t]*$",
        requires=((b">",),),
    ),
    # redis.conf (`requirepass X`, `masterauth X`, also as grep prints them: `redis.conf:12:requirepass X`) and
    # `CONFIG SET requirepass X` (redis-cli argument or at its prompt).
    make_rule(
        "redis-password",
        ("requirepass", "masterauth"),
        r"(?i)(?:^[ \t]*(?:[^\s:]+:(?:[0-9]+:)?)?|\bconfig[ \t]+set[ \t]+)(?:requirepass|masterauth)[ \t]+"
        rf"{value_pattern()}",
    ),
    make_rule(
        "login-password",
        ("login",),
        r"\b(?:docker|podman|helm|buildah|skopeo|nerdctl|oras|crane|regctl|oc|cf|az)\s"
        rf"{_SAME_COMMAND}login\s{_SAME_COMMAND}-p(?:[ \t]+|=)?(?:{option_value_pattern(dash=True)})",
        requires=((b"-p",),),
    ),
    # htpasswd(1): with -b the password is an argument: `htpasswd -b[c] FILE USER PASSWORD`, or with -n (no
    # file) `htpasswd -nb USER PASSWORD`. Options come first; -C and -r take a number.
    make_rule(
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
    make_rule(
        "openssl-passphrase",
        ("pass:",),
        r"\"pass:(?P<v1_p>(?:[^\"\\\n]|\\.)*)\"|'pass:(?P<v2_p>[^'\n]*)'" rf"|\bpass:{value_pattern()}",
    ),
    make_rule(
        "openssl-passphrase",
        ("openssl",),
        rf"\bopenssl\s{_SAME_COMMAND}-k[ \t]+{option_value_pattern()}",
        requires=((b"-k",),),
    ),
    make_rule(
        "ldap-password",
        ("ldap",),
        rf"\bldap[a-z]*\s{_SAME_COMMAND}-w[ \t]*{option_value_pattern()}",
        requires=((b"-w",),),
    ),
    make_rule(
        "mongo-password",
        ("mongo",),
        rf"\bmongo[a-z]*\s{_SAME_COMMAND}-p[ \t]*{option_value_pattern()}",
        requires=((b"-p",),),
    ),
    make_rule(
        "ssh-key-passphrase",
        ("ssh-keygen",),
        rf"\bssh-keygen\s{_SAME_COMMAND}-[NP][ \t]*{option_value_pattern()}",
        requires=((b"-N", b"-P"),),
    ),
    # scheme://user:password@host (RFC 3986 userinfo): the user stays, the password goes. The user holds no `[` or
    # `]` (RFC 3986 allows neither there): `https://[MASKED:url-token]@host` is a marker, `http://[::1]:80` a host.
    # A password typed
    # unencoded may hold / # ? @ (`app:S3c@r3t@db`), so it runs to the last @ of the word, but never over an
    # embedded `://`: a URL inside another one's path or query (`http://localhost:8080/cb?next=https://admin:pw@
    # other/x`) is matched on its own, not swallowed by a match of the first URL that _is_not_a_port rejects and
    # the search then skips; and a match never spans a later URL (linear on `http://h:1/` repeated). A value is
    # a run of units: a character other than `:`, or colons (also `:/:`) and at most one `/` before a character
    # other than `:` and `/`; colons and one `/` may end it.
    make_rule(
        "url-password",
        ("://",),
        r"\b[A-Za-z][A-Za-z0-9+.-]*://[^:@/\s'\"\[\]]*:"
        r"(?P<v_p>(?:[^\s'\":]|:+(?:/:+)*/?[^\s'\":/])*(?::+(?:/:+)*/?)?)@",
        accept=_is_not_a_port,
        requires=((b"@",),),
    ),
    # A token as a URL's user: how Azure DevOps, GitHub and Bitbucket take a personal access token
    # (`https://<PAT>@dev.azure.com/…`, `https://<token>:x-oauth-basic@github.com/…`; a password after it is
    # url-password's). A user name is short or a word (`git@`, `ec2-user@`); only a user random as a token alone
    # on a line must be, or 32 hex digits or more (GitHub's tokens before 2021), is masked.
    make_rule(
        "url-token",
        ("://",),
        r"\b[A-Za-z][A-Za-z0-9+.-]*://(?P<v_p>[A-Za-z0-9_-]{20,512})(?::[^\s'\"@/]*)?@",
        accept=_is_token_user,
        requires=((b"@",),),
    ),
    # A URL's signature parameter is what makes it a credential: an Azure SAS token's `sig` (the base64 of an
    # HMAC, URL-encoded: %2B %2F %3D), an S3 presigned URL's X-Amz-Signature (64 hex), GCS's X-Goog-Signature,
    # CloudFront's Signature. Whoever holds the URL has its access until it expires; without the signature the URL
    # grants nothing, and the rest of it (account, container, expiry, permissions) stays readable.
    make_rule(
        "url-signature",
        ("sig=", "signature="),
        r"(?i:[?&](?:sig|signature|x-amz-signature|x-goog-signature)=)(?P<v_p>[A-Za-z0-9%+/=_~.-]{16,})",
    ),
    # curl/wget/httpie -u user:password, --user / --proxy-user user:password (the user stays); curl's -U and
    # short options run together (`-su`, `-sSfu`); httpie's -a / --auth.
    make_rule(
        "basic-auth",
        (" -u", "--user", "--proxy-user"),
        rf"(?:^|\s)(?:-u[ \t]*|--(?:proxy-)?user(?:[ \t]+|=)){_USER_PASSWORD}",
        accept=_is_user_password,
        requires=((b":",),),
    ),
    make_rule(
        "basic-auth",
        ("curl",),
        rf"\bcurl\s{_SAME_COMMAND}(?:-[A-Za-z0-9#]+[uU]|-U)[ \t]*{_USER_PASSWORD}",
        accept=_is_user_password,
        requires=((b":",), (b"u", b"U")),
    ),
    make_rule(
        "basic-auth",
        ("http ", "https "),
        rf"\bhttps?\s{_SAME_COMMAND}(?:-a[ \t]*|--auth(?:[ \t]+|=)){_USER_PASSWORD}",
        accept=_is_user_password,
        requires=((b":",), (b"-a", b"--auth")),
    ),
    # Authorization headers: the scheme (Bearer, Basic, ...) stays readable.
    make_rule(
        "authorization-header",
        ("authorization",),
        r"(?i)\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?:(?:bearer|basic|token|digest|negotiate|ntlm|api-?key|key|sso-key|aws4-hmac-sha256|gitlab-ci-token"
        rf"|otp|hmac)[ \t]+)?(?P<v_r>{_REST})",
        requires=((b":", b"="),),
    ),
    make_rule("bearer-token", ("bearer",), r"\b(?:Bearer|bearer|BEARER)[ \t]+(?P<v_p>[A-Za-z0-9._~+/-]{8,}=*)"),
    # Secrets fed to a command's stdin (sudo -S, chpasswd, passwd, docker login --password-stdin, ...).
    make_rule(
        "sudo-password",
        ("sudo",),
        rf"{_ECHO}(?:\S*/)?sudo[ \t](?:[^|;&\n]*?[ \t])??{_SUDO_STDIN}",
        requires=_ECHO_REQUIRES,
    ),
    make_rule(
        "chpasswd-password",
        ("chpasswd",),
        rf"{_ECHO}{_SUDO_PREFIX}chpasswd\b",
        user_split=True,
        requires=_ECHO_REQUIRES,
    ),
    # passwd reads the new password (twice: `echo -e 'X\nX'`) from a pipe, with or without --stdin.
    make_rule(
        "passwd-password",
        ("passwd",),
        rf"{_ECHO}{_SUDO_PREFIX}passwd(?:[ \t;&|)]|$)",
        requires=_ECHO_REQUIRES,
    ),
    # docker login --password-stdin, gpg --passphrase-fd 0, cryptsetup (luksOpen, open, luksFormat... read the
    # passphrase from stdin), htpasswd -i.
    make_rule(
        "stdin-password",
        ("--password-stdin", "passphrase-fd", "cryptsetup", "htpasswd"),
        rf"{_ECHO}(?:[^|;&\n]*--password-stdin\b|[^|;&\n]*--passphrase-fd(?:[ \t]+|=)0\b"
        rf"|{_SUDO_PREFIX}cryptsetup\b|{_SUDO_PREFIX}htpasswd(?:[ \t]+-[A-Za-z]+)*?[ \t]+-[A-Za-z]*i[A-Za-z]*\b)",
        requires=_ECHO_REQUIRES,
    ),
    make_rule(
        "stdin-password",
        ("<<<",),
        rf"(?:\bsudo[ \t](?:[^|;&\n<]*?[ \t])??{_SUDO_STDIN}|\bpasswd[ \t](?:[^|;&\n<]*?[ \t])??"
        rf"--stdin\b|--password-stdin\b)[^|;&\n<]*<<<[ \t]*{value_pattern()}",
    ),
    make_rule("chpasswd-password", ("<<<",), rf"\bchpasswd\b[^|;&\n<]*<<<[ \t]*{value_pattern()}", user_split=True),
    # SQL: MySQL/Oracle IDENTIFIED [WITH plugin] BY 'x' (Oracle allows it unquoted), PostgreSQL [WITH]
    # [ENCRYPTED] PASSWORD 'x', MySQL SET PASSWORD [FOR u] = ['x' | PASSWORD('x')].
    make_rule(
        "sql-password",
        ("identified",),
        r"(?i)\bidentified[ \t]+(?:with[ \t]+\S+[ \t]+)?(?:by|as)[ \t]+(?:password[ \t]+)?"
        rf"(?P<v_w>{SQL_QUOTED}|[^\s'\";,)]+)",
    ),
    make_rule(
        "sql-password",
        ("password",),
        rf"(?i)\bset[ \t]+password\b[^=;\n]*=[ \t]*(?:password[ \t]*\([ \t]*)?(?P<v_w>{SQL_QUOTED})",
        requires=((b"=",),),
    ),
    make_rule(
        "sql-password",
        ("password",),
        rf"(?i)\bpassword(?:[ \t]+|[ \t]*\([ \t]*)(?P<v_w>{SQL_QUOTED})",
        requires=((b"'", b'"'),),
    ),
    # The statement goes on at the client's continuation prompt (psql `postgres-# `, mysql `    -> `): a line that
    # ends with IDENTIFIED BY, or PASSWORD after WITH / ENCRYPTED / LOGIN or at a psql/mysql prompt, has its
    # password on the next line (see _take_pending).
    make_rule(
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
    make_rule(
        "password",
        ("zip", "7z", "sqlcmd", "xfreerdp", "smbclient", "rabbitmqctl", "sqlplus", "expdp", "impdp", "rman"),
        rf"(?:^|[\s/])(?:un)?zip\s{_SAME_COMMAND}-P[ \t]+{option_value_pattern()}"
        rf"|(?:^|[\s/])7za?\s{_SAME_COMMAND}-p(?P<v7_w>{QUOTED}|{_WORD_CHAR}+)"
        rf"|\bsqlcmd\s{_SAME_COMMAND}-P[ \t]*{option_value_pattern('vs')}"
        rf"|\bxfreerdp\s{_SAME_COMMAND}/p:{value_pattern('vx')}"
        r"|\bsmbclient\s[^;&|\n]*?-U[ \t]*['\"]?[^\s%'\"]+%(?P<vb_w>[^\s'\"]+)"
        rf"|\brabbitmqctl[ \t]+(?:-\S+[ \t]+)*(?:add_user|change_password)[ \t]+\S+[ \t]+{value_pattern('vr')}"
        r"|\b(?:sqlplus|expdp|impdp|rman)(?:[ \t]+-\S+)*[ \t]+['\"]?[A-Za-z0-9_$#]+/(?P<vo_w>[^\s@'\"/]+)",
    ),
    # Infrastructure and database clients' password options: ipmitool -P (-p is its port), racadm, cqlsh,
    # cypher-shell and rabbitmqadmin -p; SNMP's community (-c); lftp -u user,password;
    # nmcli's `password X` and `wifi-sec.psk X`; `openssl passwd [-6] [-salt S] X` (the password to hash).
    make_rule(
        "password",
        ("ipmitool", "racadm", "cqlsh", "cypher-shell", "rabbitmqadmin", "snmp", "lftp", "nmcli", "passwd"),
        rf"\bipmitool\s{_SAME_COMMAND}-P[ \t]*{option_value_pattern('vi')}"
        rf"|\b(?:racadm|cqlsh|cypher-shell|rabbitmqadmin)\s{_SAME_COMMAND}(?:-p|--password)(?:[ \t]+|=)"
        rf"{option_value_pattern('vc')}"
        rf"|\b{_SNMP_CLIENTS}\s{_SAME_COMMAND}-c[ \t]*{option_value_pattern('vn')}"
        r"|\blftp\s[^;&|\n]*?-u[ \t]+['\"]?[^\s,'\"]+,(?P<vl_w>[^\s'\"]+)"
        rf"|\bnmcli\s[^;&|\n]*?\b(?:password|wifi-sec\.psk|802-1x\.password)[ \t]+{value_pattern('vm')}"
        rf"|\bopenssl[ \t]+passwd(?:[ \t]+-salt[ \t]+\S+|[ \t]+-[0-9A-Za-z]+)*[ \t]+{option_value_pattern('vq')}",
        requires=((b"-", b"password", b"psk", b"passwd"),),
    ),
    # SNMPv3's authentication and privacy pass phrases (-A, -X), each on a line that runs an SNMP client (not snmpd,
    # whose -c is its configuration file).
    make_rule(
        "password",
        _SNMP_CLIENT_TRIGGERS,
        rf"(?:^|[ \t])-[AX][ \t]*{option_value_pattern('vx')}",
        requires=((b"-A", b"-X"),),  # not snmp: requirements hold after the match, for the next search
    ),
    # Registry and service tokens given as arguments, and commands whose job is to store a secret: `dotnet nuget
    # push -k`, `cargo login TOKEN`, `vsce publish -p`, `poetry`/`composer config http-basic.X USER PASSWORD`,
    # `ngrok config add-authtoken`, `snyk auth`, `gh secret set NAME --body X`, `az keyvault secret set --value X`,
    # `glab variable set NAME VALUE`, `ansible-vault encrypt_string 'X'`.
    make_rule(
        "token",
        ("nuget", "cargo", "vsce", "http-basic", "ngrok", "snyk", "secret set", "variable set", "encrypt_string"),
        rf"\bdotnet[ \t]+nuget[ \t]+push\s{_SAME_COMMAND}(?:-k|--api-key)[ \t]+{option_value_pattern('vd')}"
        rf"|\bcargo[ \t]+login(?:[ \t]+--registry[ \t]+\S+)?[ \t]+{option_value_pattern('vg')}"
        rf"|\bvsce[ \t]+publish\s{_SAME_COMMAND}(?:-p|--pat)[ \t]+{option_value_pattern('vv')}"
        rf"|\b(?:poetry|composer)[ \t]+config\s{_SAME_COMMAND}http-basic\.\S+[ \t]+\S+[ \t]+"
        rf"{option_value_pattern('vp')}"
        rf"|\bngrok[ \t]+(?:config[ \t]+add-authtoken|authtoken)[ \t]+{option_value_pattern('vk')}"
        rf"|\bsnyk[ \t]+auth[ \t]+{option_value_pattern('vs')}"
        rf"|\bgh[ \t]+secret[ \t]+set\s{_SAME_COMMAND}(?:-b|--body)(?:[ \t]+|=){option_value_pattern('vh')}"
        rf"|\baz[ \t]+keyvault[ \t]+secret[ \t]+set\s{_SAME_COMMAND}--value(?:[ \t]+|=){option_value_pattern('va')}"
        rf"|\bglab[ \t]+variable[ \t]+(?:set|update)[ \t]+[A-Za-z0-9_]+[ \t]+{option_value_pattern('vb')}"
        rf"|\bansible-vault[ \t]+encrypt_string[ \t]+{option_value_pattern('ve')}",
    ),
    # Tools that reach other hosts with a password or an NT hash on the command line: pass-the-hash is a credential
    # as a password is. rdesktop and the offensive tools' -p; crackmapexec/netexec and evil-winrm's -H (an NT hash);
    # impacket's -hashes LM:NT and -aesKey, and its target `[domain/]user:password@host` or `domain/user:password`
    # (the domain, the user and the host stay).
    # A word list (`-p passwords.txt`, `-p /usr/share/wordlists/x`) is a file, not a password (_is_not_a_word_list).
    make_rule(
        "password",
        _REMOTE_TOOL_TRIGGERS,
        rf"{_TOOL_START}(?:{_DASH_P_TOOLS})\s{_SAME_COMMAND}(?:-p|--password)(?:[ \t]+|=){option_value_pattern('vp')}"
        rf"|{_TOOL_START}(?:{_HASH_TOOLS})\s{_SAME_COMMAND}(?:-H|--hash)(?:[ \t]+|=){option_value_pattern('vh')}"
        rf"|{_TOOL_START}(?:{_IMPACKET})\s{_SAME_COMMAND}-(?:hashes|aesKey)[ \t]+{option_value_pattern('va')}"
        rf"|{_TOOL_START}(?:{_IMPACKET})\s(?:[^;&|\n]*?[\s'\"=])?(?:[^\s/'\":@]+/)?[^\s/'\":@]+:"
        rf"(?P<vi_w>{QUOTED}|[^\s'\"]+)@[^\s'\"@]+"
        rf"|{_TOOL_START}(?:{_IMPACKET})\s(?:[^;&|\n]*?[\s'\"=])?[^\s/'\":@]+/[^\s/'\":@]+:(?P<vk_w>{QUOTED}|[^\s'\"@]+)",
        accept=_is_not_a_word_list,
    ),
    # ~/.netrc: `machine h login u password p`, or `password p` on a line of its own.
    make_rule(
        "netrc-password",
        ("password",),
        r"(?:\bmachine[ \t]+\S+(?:[ \t]+login[ \t]+\S+)?[ \t]+|^[ \t]*)password[ \t]+(?P<v_w>[^\s'\"]+)[ \t]*$",
        requires=((b"password",),),
        accept=_not_a_sentence_end,
    ),
    # vault login TOKEN; vault's "Key  Value" table (`token   hvs....`, also legacy s. tokens).
    make_rule(
        "vault-token",
        ("vault",),
        r"\bvault[ \t]+login[ \t]+(?:-\S+[ \t]+)*(?P<v_w>[A-Za-z0-9_.-]{16,})(?:[ \t]|$)",
        requires=((b"login",),),
    ),
    make_rule("vault-token", ("token",), r"^[ \t]*token[ \t]{2,}(?P<v_w>\S+)[ \t]*$", requires=((b"token",),)),
    # Vault's unseal (or, with auto-unseal, recovery) key shares: what `vault operator init` prints (`Unseal Key 1: X`,
    # `Recovery Key 1: X`, also after a log's or a pod's prefix) and `vault operator rekey` prints (`Key 1: X`), and a
    # share typed (or echoed) to unseal, to rekey or to generate a root token. The JSON and YAML forms' lists are
    # read item by item, on one line or one to a line (masker._apply_inline_array, _take_pending "array" and
    # "yaml-list"); a bare `keys` list (the HTTP API's /v1/sys/init, rekey) only when its items are shaped like
    # shares (33 bytes: 66 hex digits or 44 base64 characters), since other JSON has `keys` too.
    make_rule(
        "vault-unseal-key",
        ("key ",),
        r"(?:(?:^|[\s\]])(?:Unseal|Recovery)[ \t]+|^[ \t]*)Key[ \t]+[0-9]+:[ \t]+(?P<v_w>[A-Za-z0-9+/=]{16,})[ \t]*$",
        requires=((b"Key ",),),
    ),
    make_rule(
        "vault-unseal-key",
        ("operator",),
        r"\bvault[ \t]+operator[ \t]+(?:unseal|rekey|generate-root)(?:[ \t]+-[^\s=]+(?:=\S*|[ \t]+[^-\s]\S*)?)*[ \t]+"
        r"(?P<v_w>[A-Za-z0-9+/=]{16,})(?:[ \t]|$)",
        requires=((b"vault",),),
    ),
    make_rule(
        "vault-unseal-key",
        ("operator",),
        rf"{_ECHO}(?:\S*/)?vault[ \t]+operator[ \t]+(?:unseal|rekey|generate-root)\b",
        requires=_ECHO_REQUIRES,
    ),
    make_rule(
        "vault-unseal-key",
        ("keys",),
        rf"^[ \t]*\"{VAULT_SHARE_LISTS}\"[ \t]*:[ \t]*\[[ \t]*$",
        special="json-array",
        requires=((b"[",),),
    ),
    make_rule(
        "vault-unseal-key",
        ("keys",),
        r"^[ \t]*\"keys\"[ \t]*:[ \t]*\[[ \t]*$",
        special="json-share-array",
        requires=((b"[",),),
    ),
    make_rule(
        "vault-unseal-key",
        ("keys",),
        rf"^[ \t]*{VAULT_SHARE_LISTS}:[ \t]*$",
        special="yaml-list",
    ),
    make_rule(
        "vault-unseal-key",
        ("keys",),
        rf"\"(?P<n>{VAULT_SHARE_LISTS}|keys)\"[ \t]*:[ \t]*\[[ \t]*\"",
        special="inline-array",
        requires=((b"[",),),
    ),
    # Environment lists as name/value pairs (Kubernetes, ECS task definitions, CloudFormation JSON parameters):
    # {"name": "DB_PASSWORD", "value": "x"} on one line; on two lines, see _take_pending.
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        r"[\"']?\b(?:[Nn]ame|ParameterKey)[\"']?[ \t]*[:=][ \t]*[\"']?(?P<n>[A-Za-z0-9_.-]+)[\"']?[ \t]*,[ \t]*"
        rf"[\"']?(?:[Vv]alue|ParameterValue)[\"']?[ \t]*[:=][ \t]*(?P<v_w>{QUOTED}|[^\s'\",{{}}]+)",
        requires=((b"alue",),),
    ),
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        r"^[ \t]*(?:-[ \t]+)?[\"']?name[\"']?[ \t]*:[ \t]*[\"']?(?P<n>[A-Za-z0-9_.-]+)[\"']?,?[ \t]*$",
        special="name-value",
        requires=((b"name",),),
    ),
    # `npm config set //registry.npmjs.org/:_authToken X` (also pnpm, yarn); csh `setenv NAME X`; fish
    # `set -gx NAME X` (at least one option, so that SQL's `SET PASSWORD ...` is not taken). The command word may
    # come twice (`setenv setenv NAME X`): the name is the word after the last one.
    make_rule(
        "secret",
        ("config set",),
        r"\b(?:npm|pnpm|yarn)[ \t]+config[ \t]+set[ \t]+(?:-\S+[ \t]+)*(?:\S*:)?(?P<n>[A-Za-z0-9_.-]+)[ \t]+"
        rf"{value_pattern()}",
    ),
    make_rule(
        "secret",
        ("setenv", "set -", "setx"),
        rf"(?:(?:\bsetenv|\bsetx|\bset(?:[ \t]+--?[A-Za-z]+)+)[ \t]+)+(?P<n>[A-Za-z0-9_]+)[ \t]+{value_pattern()}",
    ),
    # A name and its value as two quoted arguments: PHP define('DB_PASSWORD', 'x'), Java
    # System.setProperty("DB_PASSWORD", "x"), defaults of getenv / os.environ.get / GetEnvOrDefault("api_token", "x"):
    # the call's first two arguments, not two items of a list (pg_hba.conf's `"md5", "password", "scram-sha-256"`).
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        rf"\([ \t]*['\"](?P<n>[A-Za-z0-9_.-]+)['\"][ \t]*,[ \t]*(?P<v_w>{QUOTED})",
        requires=((b",",),),
    ),
    # argparse: add_argument("--hf_token", type=str, default="x")
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        rf"\badd_argument\([ \t]*['\"](?P<n>--?[A-Za-z0-9_.-]+)['\"][^)\n]*?\bdefault[ \t]*=[ \t]*(?P<v_w>{QUOTED})",
        requires=((b"default",),),
    ),
    # XML/HTML name/value attributes: <add key="Password" value="x" />, <entry name="apiToken" value="x"/>
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        rf"\b(?:name|key)[ \t]*=[ \t]*['\"](?P<n>[A-Za-z0-9_.:-]+)['\"][ \t]+value[ \t]*=[ \t]*(?P<v_w>{QUOTED})",
        requires=((b"value",),),
    ),
    # An XML element whose value sits on its own line (<apiToken> / value / </apiToken>): see _take_pending.
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        r"^[ \t>]*<(?P<n>[A-Za-z0-9_.:-]+)(?:[ \t][^<>\n]*)?>[ \t]*$",
        special="xml-open",
        requires=((b">",),),
    ),
    # redis-cli's reply to `CONFIG GET requirepass` (or `masterauth`, or `*`): the name as an odd element (`1)
    # "requirepass"`), then its value as the next one (`2) "x"`). Other replies (KEYS, LRANGE, HGETALL) list names
    # and values alike, so a secret's word in one element says nothing of the next.
    make_rule(
        "secret",
        ("requirepass", "masterauth"),
        r'^[ \t]*[0-9]*[13579]\)[ \t]+"(?P<n>requirepass|masterauth)"[ \t]*$',
        special="redis-reply",
        requires=((b') "',),),
    ),
    # The same in raw mode (no terminal: `docker exec … redis-cli CONFIG GET requirepass`, `--raw`): the name, then
    # the value, each alone on its line (masker._take_pending, "redis-raw").
    make_rule(
        "password",
        ("config get",),
        r"\bredis-cli\b[^|;&\n]*[ \t](?i:config)[ \t]+(?i:get)[ \t]+(?:requirepass|masterauth)[ \t]*$",
        special="redis-raw",
    ),
    # A PostgreSQL password file shown whole (`cat ~/.pgpass`): the password that ends each of its lines.
    make_rule(
        "password",
        (".pgpass", "pgpassfile"),
        r"(?:^|[\s;&|(])(?:cat|less|more|head|tail|bat|batcat|tac|grep|egrep|rg|awk|sed)\b[^|;&\n]*[ \t][\"']?"
        r"(?:\S*\.pgpass|\$\{?PGPASSFILE\}?)[\"']?[ \t]*(?:;[ \t]*echo[ \t]*)?$",
        special="pgpass-file",
    ),
    # IPsec pre-shared keys and XAUTH/EAP passwords in ipsec.secrets' own shape (strongSwan/Libreswan: `%any : PSK
    # "x"`, `: PSK 0sBASE64`, upper case, the value quoted or encoded, nothing after it but a comment; a log line's
    # `PSK authentication of peer succeeded` is no secret), and
    # a Wi-Fi pre-shared key (wpa_supplicant, NetworkManager: `psk="x"`, `psk=<64 hex>`; hostapd `wpa_psk=`).
    make_rule(
        "password",
        (": psk", ": eap", ": xauth"),
        r":[ \t]*(?:PSK|EAP|XAUTH)[ \t]+(?P<v_w>\"[^\"\n]*\"|'[^'\n]*'|0[sx][A-Za-z0-9+/=]+)[ \t]*(?:#.*)?$",
    ),
    make_rule("password", ("psk=", "psk ="), rf"(?:^|[\s;])(?:wpa_)?psk[ \t]*=[ \t]*{value_pattern()}"),
    # Kubernetes Secrets: the values under `data:` (base64) and `stringData:`, see _continue_yaml_data; and the
    # apiVersion that says whether a `data:` is a core Secret's (v1) or a custom resource's.
    make_rule("secret", ("data:",), r"^[ \t]*(data|stringData):[ \t]*$", special="yaml-data"),
    make_rule("secret", ("apiversion:",), r"^[ \t]*apiVersion:[ \t]*[\"']?([^\s\"']*)", special="yaml-api-version"),
    # CloudFormation CLI shorthand: --parameters ParameterKey=DBPassword,ParameterValue=X
    make_rule(
        "secret",
        ("parameterkey",),
        rf"\bParameterKey=(?P<n>[A-Za-z0-9]+),[ \t]*ParameterValue={value_pattern()}",
        requires=((b"ParameterKey=",),),
    ),
    # XML elements (Maven settings.xml, ...): <password>x</password>; unattend.xml's <Password><Value>x</Value>
    make_rule("secret", _NAME_TRIGGERS, rf"<{_NAME}>(?:<Value>)?(?P<v_p>[^<\n]+)</", requires=((b"</",),)),
    # Secret-named assignments: NAME=word, NAME = rest, NAME: rest, "name": "x", name => 'x'. The kind comes
    # from the name (password, token, aws-secret-access-key, ...). Two phases (see _apply_assignments): this
    # finds a name and its separator (group "r" when the value is the rest of the line), then the value.
    # A subscript may come between the name and its separator: `passwords[0]=x`, `os.environ['API_TOKEN']='x'`.
    # Operators: = := ::= :::= ?= ??= .= += => and `name: ` (YAML), `name:: ` (LDIF's base64: `userPassword:: e1N…`;
    # right after the name, so Haskell's `getPassword :: IO String` is no assignment),
    # `:` (JSON); a declared type may come before
    # the operator (_TYPE_WORD).
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        rf"{_NAME}(?:\[[0-9]*\])?[\"']?\]?{_TYPE_WORD}"
        r"(?:(?P<r>::[ \t]+|[ \t]*(?::|=>)[ \t]+|[ \t]*(?::{1,3}|\?\??|\.|\+)=[ \t]*|[ \t]+=[ \t]*)|(?P<c>:)|=)",
        requires=((b"=", b":"),),
        special="assignment",
    ),
    # Secret-named options with a separate argument: --password X, --client-secret X, -storepass X.
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        rf"(?:^|[\s'\"(`])(?P<n>--?[A-Za-z0-9_.-]*{_NAME_KEYWORDS}[A-Za-z0-9_.-]*)"
        r"[ \t]+"
        rf"(?:{option_value_pattern(dash=True)})",
        accept=_is_option_name,
        requires=((b"-",),),
    ),
    # A two-column listing with a secret's name first and one value after two blanks or more (PowerShell's
    # `Get-ChildItem Env:`, `vault kv get`, `consul kv`): the name decides. A line of three columns or more (PAM's
    # `password  requisite  pam_pwquality.so`) is not one. Last, so that a more specific rule names the value.
    make_rule(
        "secret",
        _NAME_TRIGGERS,
        rf"^[ \t]*{_NAME}[ \t]{{2,}}(?P<v_w>[^\s'\"]\S*)[ \t]*$",
        requires=((b"  ", b"\t"),),
    ),
)
