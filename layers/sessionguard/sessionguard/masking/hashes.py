"""Password hashes and the keys derived from passwords: what offline cracking or pass-the-hash needs.

A session prints them with `cat /etc/shadow`, `getent shadow` or an `.htpasswd` file (crypt hashes), with impacket's
secretsdump (NTLM hashes in pwdump's `user:rid:lm:nt:::`, Kerberos keys, LSA secrets, cached domain logons) or
mimikatz (`* NTLM : …`), and with Kerberoasting tools (`$krb5tgs$…`, `$krb5asrep$…`); an administrator types one to
`useradd -p`, `usermod -p` or `chpasswd -e`. An NTLM hash logs in as its user without cracking, and a crypt hash of
a weak password falls in minutes, so each is masked whole as `password-hash`. A hex digest alone on a line stays
(heuristics.bare_credential): only these shapes and labels say that one is a password's.
"""

from __future__ import annotations

from typing import Final

from sessionguard.masking.rules import Rule, make_rule

# crypt(3) and its relatives, by their `$id$`: MD5 ($1$, Apache's $apr1$), SHA-256/512 ($5$, $6$, with rounds=),
# bcrypt ($2a$ $2b$ $2x$ $2y$ and a cost), yescrypt ($y$), gost-yescrypt ($gy$), scrypt ($7$), Argon2; Django's
# PBKDF2; cached domain logons ($DCC2$) and Kerberos tickets or AS-REPs to crack ($krb5tgs$, $krb5asrep$, $krb5pa$).
_CRYPT = (
    r"\$(?:1|5|6|apr1)\$(?:rounds=[0-9]+\$)?[./A-Za-z0-9]{1,64}\$[./A-Za-z0-9]{16,}"
    r"|\$2[abxy]?\$[0-9]{2}\$[./A-Za-z0-9]{53}"
    r"|\$(?:y|gy|7)\$[./A-Za-z0-9]+\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{16,}"
    r"|\$argon2(?:id|i|d)\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]{16,}"
    r"|\bpbkdf2_sha(?:1|256|512)\$[0-9]+\$[A-Za-z0-9./+]+\$[A-Za-z0-9./+=]{16,}"
    r"|\$(?i:dcc2)\$[0-9]+#[^#\s]+#[0-9a-fA-F]{32}"
    r"|\$krb5(?:tgs|asrep|pa)\$[0-9]+\$[^\s'\"]{32,}"
)
_CRYPT_TRIGGERS: Final = (
    "$1$",
    "$5$",
    "$6$",
    "$apr1$",
    "$2a$",
    "$2b$",
    "$2x$",
    "$2y$",
    "$y$",
    "$gy$",
    "$7$",
    "$argon2",
    "pbkdf2_sha",
    "$dcc2$",
    "$krb5",
)
_KERBEROS_KEY_TYPES = r"aes256-cts-hmac-sha1-96|aes128-cts-hmac-sha1-96|des-cbc-md5|des-cbc-crc|rc4[-_]hmac"
_HEX = r"(?:0x)?[0-9a-fA-F]"

HASH_RULES: Final[tuple[Rule, ...]] = (
    make_rule("password-hash", _CRYPT_TRIGGERS, rf"(?P<v_v>{_CRYPT})"),
    # pwdump, as secretsdump and hashdump print the SAM and NTDS.dit: `[domain\]user:rid:LM:NT:::` (also the
    # `_history0` entries). Both hashes go: the LM one is the empty constant on any modern system.
    make_rule(
        "password-hash",
        (":::",),
        r"^[ \t]*[^:\s]+:[0-9]+:(?P<v_v>[0-9a-fA-F]{32}:[0-9a-fA-F]{32}):::",
    ),
    # secretsdump's Kerberos keys (`user:aes256-cts-hmac-sha1-96:<hex>`) and LSA secrets (a machine account's
    # password, DPAPI keys, the key that encrypts cached logons).
    make_rule(
        "password-hash",
        ("-cts-hmac-", "des-cbc-", "rc4-hmac", "rc4_hmac", "plain_password_hex", "dpapi_", "nl$km"),
        rf"(?:^[ \t]*\S+:(?:{_KERBEROS_KEY_TYPES})|\b(?:plain_password_hex|dpapi_machinekey|dpapi_userkey)|NL\$KM)"
        rf":(?P<v_v>{_HEX}{{16,}})",
        requires=((b":",),),
    ),
    # mimikatz (sekurlsa::logonpasswords, lsadump::sam): `* NTLM     : <hex>`, also SHA1, LM and DPAPI.
    make_rule(
        "password-hash",
        ("* ntlm", "* sha1", "* lm", "* dpapi", "hash ntlm:", "hash lm:"),
        r"(?i)(?:^[ \t]*\*[ \t]*(?:NTLM|LM|SHA1|DPAPI)[ \t]*:|\bHash (?:NTLM|LM):)[ \t]*(?P<v_v>[0-9a-f]{32,40})\b",
    ),
    # A hash given to useradd/usermod (`-p`, `--password`): crypt's, or a password typed where one belongs. Not an
    # expansion (`-p "$(openssl passwd -6 "$PW")"`, `-p "$HASH"`): it names where the value is.
    make_rule(
        "password-hash",
        ("useradd", "usermod"),
        r"\b(?:useradd|usermod)\b[^;&|\n]*?[ \t](?:-p|--password)(?:[ \t]+|=)"
        r"(?P<v_w>'[^'\n]*'|\"[^\"$`\\\n]*\"|[^\s'\"$`;&|-][^\s'\";&|]*)",
    ),
)
