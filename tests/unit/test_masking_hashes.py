"""Password hashes and password-derived keys (sessionguard/masking/hashes.py): masked whole as `password-hash` where a
session prints or types them, while hex digests, ids and shell text with `$` stay readable."""

from __future__ import annotations

import pytest
from sessionguard.masking.masker import SecretMasker, mask_secrets

SALT = "Qx7vRm2Lx9Tk4Pw8"
DIGEST = "Zk3Nd8Fj2Lm9qPz7Xv4Tn6Rw1Yb5Hc0Gs7Ue3Ia5Ko9"
SHA512_CRYPT = f"$6${SALT}${DIGEST}.Vb2Wc4Xd6Ye8Zf0Ag2Bh4Ci6Dj8Ek0Fl2Gm4Hn6Io8Jp"
NT = "64f12cddaa88057e06a81b54e73b949b"
EMPTY_LM = "aad3b435b51404eeaad3b435b51404ee"
HEX64 = "4a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d" + "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
HASH = "[MASKED:password-hash]"


def check(line: str, expected: str) -> None:
    assert mask_secrets(line) == expected
    assert mask_secrets(expected) == expected, "masking must be idempotent"


@pytest.mark.parametrize(
    ("line", "hashed"),
    [
        # /etc/shadow, getent shadow, chpasswd -e input, an .htpasswd file: crypt(3) hashes of every family
        (f"root:{SHA512_CRYPT}:19000:0:99999:7:::", SHA512_CRYPT),
        (f"app:$6$rounds=656000${SALT}${DIGEST}:19000::::::", f"$6$rounds=656000${SALT}${DIGEST}"),
        (f"deploy:$y$j9T${SALT}${DIGEST}:19700:0:99999:7:::", f"$y$j9T${SALT}${DIGEST}"),
        (f"ops:$5${SALT}${DIGEST}:19000:0:99999:7:::", f"$5${SALT}${DIGEST}"),
        (f"old:$1${SALT[:8]}${DIGEST[:22]}:19000:0:99999:7:::", f"$1${SALT[:8]}${DIGEST[:22]}"),
        (f"admin:$apr1${SALT[:8]}${DIGEST[:22]}", f"$apr1${SALT[:8]}${DIGEST[:22]}"),
        (f"admin:$2y$10${(SALT + DIGEST)[:53]}", f"$2y$10${(SALT + DIGEST)[:53]}"),
        (f"$argon2id$v=19$m=65536,t=3,p=4${SALT}${DIGEST}", f"$argon2id$v=19$m=65536,t=3,p=4${SALT}${DIGEST}"),
        (f"pbkdf2_sha256$600000${SALT}${DIGEST}=", f"pbkdf2_sha256$600000${SALT}${DIGEST}="),
        (SHA512_CRYPT, SHA512_CRYPT),  # openssl passwd -6 prints the hash alone
        # impacket's secretsdump and hashdump: pwdump lines, Kerberos keys, LSA secrets, cached logons
        (f"Administrator:500:{EMPTY_LM}:{NT}:::", f"{EMPTY_LM}:{NT}"),
        (f"CORP.LOCAL\\svc_sql:1105:{EMPTY_LM}:{NT}:::", f"{EMPTY_LM}:{NT}"),
        (f"krbtgt_history0:502:{EMPTY_LM}:{NT}:::", f"{EMPTY_LM}:{NT}"),
        (f"Administrator:aes256-cts-hmac-sha1-96:{HEX64}", HEX64),
        (f"Administrator:des-cbc-md5:{HEX64[:16]}", HEX64[:16]),
        (f"$MACHINE.ACC:plain_password_hex:{HEX64}", HEX64),
        (f"dpapi_machinekey:0x{HEX64[:40]}", f"0x{HEX64[:40]}"),
        (f"NL$KM:{HEX64}", HEX64),
        (f"CORP.LOCAL/jdoe:$DCC2$10240#jdoe#{NT}", f"$DCC2$10240#jdoe#{NT}"),
        # mimikatz
        (f"\t * NTLM     : {NT}", NT),
        (f"\t * SHA1     : {HEX64[:40]}", HEX64[:40]),
        (f"Hash NTLM: {NT}", NT),
        # Kerberoasting and AS-REP roasting output, for hashcat
        (
            f"$krb5tgs$23$*svc_sql$CORP.LOCAL$MSSQLSvc/db01*${NT}${HEX64}",
            f"$krb5tgs$23$*svc_sql$CORP.LOCAL$MSSQLSvc/db01*${NT}${HEX64}",
        ),
        (f"$krb5asrep$23$jdoe@CORP.LOCAL:{NT}${HEX64}", f"$krb5asrep$23$jdoe@CORP.LOCAL:{NT}${HEX64}"),
        # more crypt families, databases' and LDAP's hashes (session 20's red team)
        (f"$7$CU..../....{SALT}${DIGEST}", f"$7$CU..../....{SALT}${DIGEST}"),
        (f"username admin secret 9 $9${SALT[:14]}${DIGEST}", f"$9${SALT[:14]}${DIGEST}"),
        (f"| admin | $P${(SALT + DIGEST)[:31]} |", f"$P${(SALT + DIGEST)[:31]}"),
        (f"pbkdf2:sha256:600000${SALT}${HEX64}", f"pbkdf2:sha256:600000${SALT}${HEX64}"),
        (f"scrypt:32768:8:1${SALT}${HEX64}", f"scrypt:32768:8:1${SALT}${HEX64}"),
        (
            f" postgres | SCRAM-SHA-256$4096:{SALT}==${DIGEST}=:{DIGEST[::-1]}=",
            f"SCRAM-SHA-256$4096:{SALT}==${DIGEST}=:{DIGEST[::-1]}=",
        ),
        (f" app      | md5{NT}", f"md5{NT}"),
        (
            "| root | localhost | *81F5E21E35407D884A6CD4A731AEBFB6AF209E1B |",
            "*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B",
        ),
        ("root\tlocalhost\t*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B", "*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B"),
        (
            "authentication_string: *81F5E21E35407D884A6CD4A731AEBFB6AF209E1B",
            "*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B",
        ),
        (f"authentication_string: $A$005${SALT}{DIGEST}", f"$A$005${SALT}{DIGEST}"),  # MySQL 8's caching_sha2
        (f"userPassword: {{SSHA}}{DIGEST}", f"{{SSHA}}{DIGEST}"),
        (f"admin:{{SHA}}{DIGEST[:27]}=", f"{{SHA}}{DIGEST[:27]}="),
        # pwdump after NetExec's columns, a machine account without a RID, smbpasswd's form
        (f"SMB   10.0.0.5   445   WS01   Administrator:500:{EMPTY_LM}:{NT}:::", f"{EMPTY_LM}:{NT}"),
        (f"CORP\\WS01$:{EMPTY_LM}:{NT}:::", f"{EMPTY_LM}:{NT}"),
        (f"jdoe:1001:{'X' * 32}:{NT.upper()}:[U          ]:LCT-65F1A2B3:", NT.upper()),
        # more of mimikatz
        (f"    ntlm- 1: {NT}", NT),
        (f"    lm  - 0: {NT}", NT),
        (f"NTLM : {NT}", NT),
        (f"MsCacheV2 : {NT}", NT),
        (f"      aes256_hmac       (4096) : {HEX64}", HEX64),
        (f"\t   rc4_hmac_nt       {NT}", NT),
    ],
)
def test_a_printed_password_hash_is_masked_whole(line: str, hashed: str) -> None:
    check(line, line.replace(hashed, HASH))


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (f"useradd -m -p '{SHA512_CRYPT}' deploy", SHA512_CRYPT),
        (f"usermod --password '{SHA512_CRYPT}' deploy", SHA512_CRYPT),
        ("usermod -p Winter2024! deploy", "Winter2024!"),  # a password where its hash belongs
        ("useradd -mp Winter2024x deploy", "Winter2024x"),
        ('useradd -p "Winter2024!" deploy', "Winter2024!"),
        (f"echo 'deploy:{SHA512_CRYPT}' | chpasswd -e", SHA512_CRYPT),
    ],
)
def test_a_typed_password_hash_is_masked(line: str, value: str) -> None:
    check(line, line.replace(value, HASH))


@pytest.mark.parametrize(
    "line",
    [
        "daemon:*:19000:0:99999:7:::",  # locked accounts: no hash
        "ubuntu:!:19000:0:99999:7:::",
        "usermod -aG wheel deploy",
        'useradd -m -s /bin/bash -p "$(openssl passwd -6 "$PW")" deploy',  # an expansion names where the value is
        'useradd -p "$HASH" deploy',
        "echo $5 $6 costs $1 or $2b",
        f"sha256sum app.tar.gz: {HEX64}",  # a digest, not a password's
        NT,  # a hex digest alone stays (an md5 sum looks the same)
        f"{NT}  /tmp/file",
        "\t * Password : (null)",  # mimikatz: no password in memory
        "usermod -p '!' deploy",  # locks the account
        "sshd:!:19000::::::",
        "md5 (file) = d41d8cd98f00b204e9800998ecf8427e",
        "md5sum: file.txt",
    ],
)
def test_digests_ids_and_shell_dollars_stay(line: str) -> None:
    check(line, line)


def test_a_session_printing_shadow_keeps_accounts_and_ages_readable() -> None:
    shadow = [f"root:{SHA512_CRYPT}:19000:0:99999:7:::", "daemon:*:19000:0:99999:7:::", "sshd:!:19000::::::"]
    assert SecretMasker().mask_lines(shadow) == [f"root:{HASH}:19000:0:99999:7:::", *shadow[1:]]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # a cracked password: john's --show on a shadow record and on pwdump, hashcat's --show
        (["root:toor:19700:0:99999:7:::"], ["root:[MASKED:password]:19700:0:99999:7:::"]),
        (["olduser:ab01FAX.bQRSU:19500:0:99999:7:::"], ["olduser:[MASKED:password]:19500:0:99999:7:::"]),
        ([f"Administrator:Password1:500:{EMPTY_LM}:{NT}:::"], [f"Administrator:[MASKED:password]:500:{HASH}:::"]),
        ([f"{SHA512_CRYPT}:Password1"], [f"{HASH}:[MASKED:password]"]),
        # mimikatz lsadump::secrets, secretsdump's LSA secrets in the clear
        (
            ["cur/text: Summer2023!", "old/text: Winter2022!"],
            ["cur/text: [MASKED:password]", "old/text: [MASKED:password]"],
        ),
        (
            ["[*] _SC_MSSQLSERVER", "CORP\\svc_sql:Summer2023!"],
            ["[*] _SC_MSSQLSERVER", "CORP\\svc_sql:[MASKED:password]"],
        ),
        (
            ["[*] DefaultPassword", "(Unknown User):Passw0rd!"],
            ["[*] DefaultPassword", "(Unknown User):[MASKED:password]"],
        ),
        # Rubeus wraps a ticket's hash over the lines after it
        (
            [
                f"[*] Hash : $krb5tgs$23$*svc$CORP$MSSQLSvc/db*${NT.upper()}${HEX64.upper()}",
                f"       {HEX64.upper()}",
                "",
                "[*] x",
            ],
            [f"[*] Hash : {HASH}", f"       {HASH}", "", "[*] x"],
        ),
    ],
)
def test_cracked_and_clear_text_passwords_next_to_hashes_are_masked(lines: list[str], expected: list[str]) -> None:
    assert SecretMasker().mask_lines(lines) == expected
