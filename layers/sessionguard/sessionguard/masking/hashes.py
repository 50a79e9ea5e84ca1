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

from sessionguard.masking.regex import Match
from sessionguard.masking.rules import Rule, make_rule

# crypt(3) and its relatives, by their `$id$`: MD5 ($1$, Apache's $apr1$, Solaris' $md5$), SHA-256/512 ($5$, $6$,
# with rounds=), NetBSD's $sha1$, FreeBSD's NT hash ($3$), bcrypt ($2a$ $2b$ $2x$ $2y$ and a cost), yescrypt ($y$),
# gost-yescrypt ($gy$), scrypt ($7$), Cisco's type 8 and 9 ($8$, $9$), Argon2, phpass (WordPress, phpBB: $P$, $H$);
# Django's and Werkzeug's PBKDF2 and scrypt; PostgreSQL's SCRAM-SHA-256 and md5; MySQL 8's caching_sha2 ($A$005$);
# cached domain
# logons ($DCC2$) and Kerberos tickets or AS-REPs to crack ($krb5tgs$, $krb5asrep$, $krb5pa$).
_SALT = r"[./A-Za-z0-9]"
_CRYPT = (
    rf"\$(?:1|5|6|apr1)\$(?:rounds=[0-9]+\$)?{_SALT}{{1,64}}\${_SALT}{{16,}}"
    rf"|\$md5(?:,rounds=[0-9]+)?\${_SALT}+\$\$?{_SALT}{{16,}}"
    rf"|\$sha1\$[0-9]+\${_SALT}+\${_SALT}{{16,}}"
    r"|\$3\$\$[0-9a-f]{32}"
    rf"|\$2[abxy]?\$[0-9]{{2}}\${_SALT}{{53}}"
    rf"|\$(?:y|gy)\${_SALT}+\${_SALT}+\${_SALT}{{16,}}"
    rf"|\$7\${_SALT}{{11,}}\${_SALT}{{16,}}"
    rf"|\$[89]\${_SALT}{{14}}\${_SALT}{{43}}"
    r"|\$argon2(?:id|i|d)\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]{16,}"
    rf"|\$[PH]\${_SALT}{{31}}"
    r"|\bpbkdf2_sha(?:1|256|512)\$[0-9]+\$[A-Za-z0-9./+]+\$[A-Za-z0-9./+=]{16,}"
    r"|\b(?:pbkdf2:sha(?:1|256|512)(?::[0-9]+)?|scrypt:[0-9]+:[0-9]+:[0-9]+)\$[A-Za-z0-9./+]+\$[0-9a-f]{32,}"
    r"|\bSCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+"
    r"|\bmd5[0-9a-f]{32}\b"
    r"|\$A\$[0-9]{3}\$[^\s'\"|]{20,}"
    r"|\$(?i:dcc2)\$[0-9]+#[^#\s]+#[0-9a-fA-F]{32}"
    r"|\$krb5(?:tgs|asrep|pa)\$[0-9]+\$[^\s'\"]{32,}"
)
_CRYPT_TRIGGERS: Final = (
    *("$1$", "$5$", "$6$", "$apr1$", "$md5", "$sha1$", "$3$$", "$2a$", "$2b$", "$2x$", "$2y$", "$y$", "$gy$", "$7$"),
    *("$8$", "$9$", "$argon2", "$p$", "$h$", "pbkdf2_sha", "pbkdf2:", "scrypt:", "scram-sha-256$", "md5"),
    *("$a$0", "$dcc2$", "$krb5"),
)
_KERBEROS_KEY_TYPES = r"aes256-cts-hmac-sha1-96|aes128-cts-hmac-sha1-96|des-cbc-md5|des-cbc-crc|rc4[-_]hmac"
_MIMIKATZ_KEY_TYPES = r"aes256_hmac|aes128_hmac|des_cbc_md5|rc4_hmac_nt(?:_exp)?|rc4_hmac_old(?:_exp)?|rc4_md4"
_HEX = r"(?:0x)?[0-9a-fA-F]"
_NT = r"[0-9a-fA-F]{32}"

# What shadow and useradd take for "no password" (`usermod -p '!' deploy` locks the account).
_LOCKS: Final = frozenset({b"!", b"!!", b"*", b"!*", b"*LK*", b"x", b"NP"})


def _not_a_lock(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
    return value not in _LOCKS


HASH_RULES: Final[tuple[Rule, ...]] = (
    make_rule("password-hash", _CRYPT_TRIGGERS, rf"(?P<v_v>{_CRYPT})"),
    # LDAP's userPassword schemes: a salted or plain digest in base64 (`{SSHA}W6ph…`) alone after a separator, not a
    # shell's `${SHA}` nor `release-{sha}-linux.tar.gz`; PBKDF2, Argon2 and crypt in their own shapes after it.
    make_rule(
        "password-hash",
        ("{ssha", "{sha", "{smd5}", "{md5}", "{crypt}", "{pbkdf2", "{argon2}"),
        r"(?:^|[\s:'\"=,])(?P<v_v>(?i:\{(?:S?SHA(?:256|384|512)?|S?MD5)\})[A-Za-z0-9+/]{20,}={0,2}"
        r"|(?i:\{(?:CRYPT|PBKDF2(?:-SHA(?:1|256|512))?|ARGON2)\})[A-Za-z0-9+/=.$,-]{16,})(?:$|[\s'\",])",
    ),
    # MySQL's mysql_native_password (`*` and 40 hex digits) in `SELECT user, authentication_string FROM mysql.user`,
    # as a table, tab-separated (`-B`), vertical (`\G`) or quoted.
    make_rule("password-hash", ("| *", "\t*", ": *", "'*", '"*'), r"(?:^|[|\t:'\" ])[ \t]*(?P<v_v>\*[0-9A-F]{40})\b"),
    # A password cracked next to its hash (hashcat's `--show`: `$6$…:Password1`).
    make_rule("password", _CRYPT_TRIGGERS, rf"^[ \t]*(?:{_CRYPT}):(?P<v_p>[^\s:]+)[ \t]*$"),
    # pwdump, as secretsdump, hashdump and NetExec print the SAM and NTDS.dit: `[domain\]user:rid:LM:NT:::` (also
    # the `_history0` entries, a machine account with no RID, and john's `--show`, which puts the password before
    # the RID), and smbpasswd's `user:uid:XXXX…:NT:[U   ]:LCT-…`. Both hashes go: the LM one is the empty constant on
    # any modern system.
    make_rule(
        "password-hash",
        (":::", ":["),
        rf"(?:^|[ \t])[^:\s]+:(?:[^:\s]+:)?(?:[0-9]+:)?(?:(?P<v_v>{_NT}:{_NT})|X{{32}}:(?P<v2_v>{_NT})):(?::|\[)",
    ),
    make_rule("password", (":::",), rf"(?:^|[ \t])[^:\s]+:(?P<v_p>[^:\s]+):[0-9]+:{_NT}:{_NT}:::"),
    # A shadow record (`getent shadow`, john's `--show` on one): the second of its nine fields, a DES crypt hash or a
    # cracked password (`*` and `!` lock an account: no hash).
    make_rule(
        "password",
        (":::",),
        r"^[ \t]*[a-z_][a-z0-9._-]*\$?:(?P<v_p>[^:!*\s][^:\s]*)(?::[0-9]*){7}[ \t]*$",
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
    # mimikatz, which aligns its labels with blanks before the colon (a bullet list's ` * SHA1: <digest>` is not
    # it): sekurlsa::logonpasswords and lsadump::sam (`* NTLM     : <hex>`, also SHA1, LM, DPAPI), lsadump::lsa
    # /patch (`NTLM : <hex>`), lsadump::cache (`MsCacheV2 : <hex>`), dcsync's history (`ntlm- 0: <hex>`) and its
    # Kerberos keys (`aes256_hmac       (4096) : <hex>`, sekurlsa::ekeys `rc4_hmac_nt       <hex>`).
    make_rule(
        "password-hash",
        ("ntlm", "* sha1", "* lm", "* dpapi", "lm   :", "lm  -", "mscachev2", "hash lm:"),
        r"(?i)(?:^[ \t]*\*?[ \t]*(?:NTLM|LM|SHA1|DPAPI|MsCacheV2)(?:[ \t]*-[ \t]*[0-9]+|[ \t]+):|\bHash (?:NTLM|LM):)"
        r"[ \t]*(?P<v_v>[0-9a-f]{32,40})\b",
    ),
    make_rule(
        "password-hash",
        ("aes256_hmac", "aes128_hmac", "des_cbc_md5", "rc4_hmac", "rc4_md4"),
        rf"^[ \t]*\*?[ \t]*(?:{_MIMIKATZ_KEY_TYPES})[ \t]*(?:\([0-9]+\))?[ \t]*:?[ \t]*(?P<v_v>[0-9a-fA-F]{{16,}})\b",
    ),
    # mimikatz's lsadump::secrets: a service account's or the auto-logon password as text (`cur/text: x`).
    make_rule("password", ("/text:", "/text :"), r"^[ \t]*(?:cur|old)/text[ \t]*:[ \t]*(?P<v_r>\S.*)$"),
    # secretsdump's LSA secrets in the clear: after `[*] _SC_<service>` (a service's logon) or `[*] DefaultPassword`
    # (auto-logon), the next line is `account:password` (masker._take_pending, "after-colon").
    make_rule(
        "password",
        ("[*] _sc_", "[*] defaultpassword"),
        r"^\[\*\][ \t]+(?:_SC_\S+|DefaultPassword)[ \t]*$",
        special="secretsdump-secret",
    ),
    # Rubeus wraps a long ticket hash over the indented lines after `Hash : $krb5tgs$…` (_take_pending, "hex").
    make_rule("password-hash", ("$krb5",), r"\$krb5(?:tgs|asrep)\$\S*[ \t]*$", special="wrapped-hash"),
    # A hash given to useradd/usermod (`-p`, `-mp`, `--password`): crypt's, or a password typed where one belongs. Not
    # an expansion (`-p "$(openssl passwd -6 "$PW")"`, `-p "$HASH"`): it names where the value is; `\$` is a dollar.
    make_rule(
        "password-hash",
        ("useradd", "usermod"),
        r"\b(?:useradd|usermod)\b[^;&|\n]*?[ \t](?:-[a-zA-Z]*p|--password)(?:[ \t]+|=)"
        r"(?P<v_w>'[^'\n]*'|\"(?:[^\"$`\\\n]|\\\$)*\"|[^\s'\"$`;&|!-][^\s'\";&|]*)",
        accept=_not_a_lock,
    ),
)
