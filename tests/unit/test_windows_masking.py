"""Property tests for Windows sessions: a Windows-shaped secret of every kind, typed at the PowerShell prompt or
printed as output, anywhere in random text and split across events, never leaves the engine (no transcript line,
no alert carries it).

As in test_masking_properties.py, the text around the secret is random and free of the characters that could make
the secret legitimately part of something else, and generated secrets contain a digit so they are values, not
placeholders.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass
from functools import cache

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sessionguard.masking.heuristics import is_placeholder, is_placeholder_token, is_random_value
from sessionguard.rules import RulePack
from sessionguard.session.engine import SessionEngine
from sessionguard.session.records import SessionEvent

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALNUM = string.ascii_letters + string.digits
BASE64 = ALNUM + "+/"
PROMPT = "PS C:\\Windows\\system32> "
HEADER = ("\ufeff**********************", "Windows PowerShell transcript start", "**********************")

filler = st.text(
    alphabet=st.one_of(
        st.characters(categories=["L", "N"], exclude_characters="\n\r\x85\u2028\u2029"),
        st.sampled_from(list(" .,;!?+-*#%^~")),
    ),
    max_size=30,
)


def password_like() -> st.SearchStrategy[str]:
    body = st.text(alphabet=ALNUM + "!%+.^_~*éß", min_size=7, max_size=20)
    value = st.tuples(st.sampled_from(ALNUM), body, st.sampled_from(string.digits)).map("".join)
    return value.filter(looks_like_a_value)


def looks_like_a_value(text: str) -> bool:
    """Varied enough that the masker does not keep it readable as a stand-in (`a00001230`, `a0010AB.0`: one
    character for half of it; docs/masking.md "Deliberately not masked")."""
    return (
        len(set(text)) >= 6
        and sum(char.isalpha() for char in text) >= 3
        and "000" not in text
        and not is_placeholder_token(text.encode(), documented=False)
        and not is_placeholder(text.encode())  # `A00TOKEN0` reads as a name, like ACCESS_TOKEN
    )


def pat_like() -> st.SearchStrategy[str]:
    """Azure DevOps' classic personal access token: 52 characters of base32, random as a token must be under a name
    as common as `*_PAT` (heuristics.plain_name_kind)."""
    alphabet = string.ascii_lowercase + "234567"
    return st.text(alphabet=alphabet, min_size=52, max_size=52).filter(lambda text: is_random_value(text.encode()))


def aws_secret() -> st.SearchStrategy[str]:
    return st.text(alphabet=BASE64, min_size=40, max_size=40).filter(lambda text: len(set(text)) >= 16)


@dataclass(frozen=True)
class Context:
    template: str
    secret: st.SearchStrategy[str]


CONTEXTS = {
    "cmdkey": Context("cmdkey /add:srv01 /user:admin /pass:{s}", password_like()),
    "env-password": Context("$env:DB_PASSWORD = '{s}'", password_like()),
    "env-token": Context('$env:API_TOKEN="{s}"', password_like()),
    "env-aws-secret": Context("$env:AWS_SECRET_ACCESS_KEY='{s}'", aws_secret()),
    "connection-string": Context("Server=db01;Database=app;User Id=sa;Password={s};", password_like()),
    "password-parameter": Context("Invoke-Sqlcmd -ServerInstance db01 -Username sa -Password '{s}'", password_like()),
    "az-login": Context("az login --service-principal -u app -p {s} --tenant contoso", password_like()),
    "aws-configure-set": Context("aws configure set aws_secret_access_key {s}", aws_secret()),
    "aws-powershell": Context("Set-AWSCredential -AccessKey AKIAZZZZ7Q3R5T6Y8U2W -SecretKey {s}", aws_secret()),
    "wmic-password": Context("wmic /node:web02 /user:admin /password:{s} process list", password_like()),
    "secure-string-single-quoted": Context("$p = ConvertTo-SecureString '{s}' -AsPlainText -Force", password_like()),
    "secure-string-double-quoted": Context('ConvertTo-SecureString "{s}" -AsPlainText -Force', password_like()),
    "secure-string-string-parameter": Context(
        "ConvertTo-SecureString -AsPlainText -Force -String {s}", password_like()
    ),
    "network-credential": Context("New-Object System.Net.NetworkCredential('admin', '{s}')", password_like()),
    "pscredential-arguments": Context("New-Object PSCredential -ArgumentList 'admin', '{s}'", password_like()),
    "net-user-add": Context("net user backdoor {s} /add", password_like()),
    "net-use": Context("net use \\\\fs01\\c$ {s} /user:CORP\\admin", password_like()),
    "net-use-after-user": Context("net use \\\\fs01\\c$ /user:CORP\\admin {s} /persistent:no", password_like()),
    "set-item-env": Context("Set-Item -Path Env:API_TOKEN -Value {s}", password_like()),
    "set-item-env-pat": Context("Set-Item -Path Env:AZURE_DEVOPS_EXT_PAT -Value {s}", pat_like()),
    "psexec": Context("psexec \\\\web02 -u CORP\\admin -p {s} cmd", password_like()),
    "schtasks-run-password": Context("schtasks /create /tn x /tr c:\\x.exe /ru CORP\\svc /rp {s}", password_like()),
    "connection-string-pwd": Context("Data Source=db01;User ID=sa;Pwd={s};", password_like()),
    "registry-value": Context("reg add HKLM\\Software\\App /v ApiToken /t REG_SZ /d {s}", password_like()),
    "registry-value-pat": Context("reg add HKCU\\Environment /v GITHUB_PAT /t REG_SZ /d {s}", pat_like()),
    "registry-property": Context(
        "Set-ItemProperty -Path HKLM:\\SOFTWARE\\App -Name DefaultPassword -Value '{s}'", password_like()
    ),
}


@cache
def pack() -> RulePack:
    return RulePack.load()


def engine_output(events: list[list[str]]) -> str:
    """Every line and alert text the engine gives out for one Windows session fed these events."""
    engine = SessionEngine(pack())
    out = []
    for number, lines in enumerate(events):
        out += engine.scan_event(SessionEvent(session_id="win-mask", lines=tuple(lines), event_time=f"t{number}"))
    out += engine.finish()
    return "\n".join(str(item.to_json()) for item in out)


def split(lines: list[str], cuts: list[int]) -> list[list[str]]:
    bounds = sorted({0, len(lines), *(cut % (len(lines) + 1) for cut in cuts)})
    return [lines[start:stop] for start, stop in itertools.pairwise(bounds) if stop > start]


def check_never_leaks(context: Context) -> None:
    @SETTINGS
    @given(
        secret=context.secret,
        prefix=filler,
        suffix=filler,
        typed=st.booleans(),
        before=st.lists(filler, max_size=3),
        after=st.lists(filler, max_size=3),
        cuts=st.lists(st.integers(0, 10), max_size=4),
    )
    def run(
        *, secret: str, prefix: str, suffix: str, typed: bool, before: list[str], after: list[str], cuts: list[int]
    ) -> None:
        assume(all(secret not in text for text in (context.template, prefix, suffix, *before, *after)))
        body = context.template.format(s=secret)
        if typed:  # typed at the prompt, then some output
            line = PROMPT + (prefix + " " if prefix.strip() else "") + body + " " + suffix
            lines = [*HEADER, PROMPT + "hostname", *before, line, *after]
        else:  # printed by a command (a script shown with Get-Content)
            line = prefix + " " + body + " " + suffix
            lines = [*HEADER, PROMPT + "Get-Content .\\deploy.ps1", *before, line, *after]
        output = engine_output(split(lines, cuts))
        assert secret not in output, output

    run()


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_windows_secret_anywhere_split_across_events_never_appears(name: str) -> None:
    check_never_leaks(CONTEXTS[name])


@SETTINGS
@given(secret=password_like(), cuts=st.lists(st.integers(0, 12), max_size=4))
def test_ssm_parameter_decrypted_in_a_formatted_list_never_appears(secret: str, cuts: list[int]) -> None:
    lines = [
        *HEADER,
        PROMPT + "Get-SSMParameter -Name /app/db -WithDecryption $true",
        "",
        "ARN              : arn:aws:ssm:eu-west-1:111122223333:parameter/app/db",
        "Name             : /app/db",
        "Type             : SecureString",
        f"Value            : {secret}",
        "Version          : 3",
    ]
    assert secret not in engine_output(split(lines, cuts))


@SETTINGS
@given(secret=password_like(), cuts=st.lists(st.integers(0, 10), max_size=4))
def test_secrets_manager_value_in_a_formatted_list_never_appears(secret: str, cuts: list[int]) -> None:
    lines = [*HEADER, PROMPT + "Get-SECSecretValue -SecretId prod/db", "", f"SecretString  : {secret}", ""]
    assert secret not in engine_output(split(lines, cuts))


@pytest.mark.parametrize(
    "command",
    [
        "Get-Secret -Name db -AsPlainText",
        "(Get-SSMParameter -Name /app/db -WithDecryption $true).Value",
        "(Get-SECSecretValue -SecretId prod/db).SecretString",
    ],
)
def test_a_secret_printed_alone_after_the_command_that_reveals_it_never_appears(command: str) -> None:
    @SETTINGS
    @given(secret=password_like(), cuts=st.lists(st.integers(0, 6), max_size=3))
    def run(secret: str, cuts: list[int]) -> None:
        lines = [*HEADER, PROMPT + command, secret, PROMPT + "hostname"]
        assert secret not in engine_output(split(lines, cuts))

    run()


@given(secret=password_like())
@SETTINGS
def test_a_secret_registry_value_printed_by_reg_query_never_appears(secret: str) -> None:
    lines = [
        *HEADER,
        PROMPT + 'reg query "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon"',
        "",
        "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
        f"    DefaultPassword    REG_SZ    {secret}",
    ]
    assert secret not in engine_output([lines])


@given(secret=password_like())
@SETTINGS
def test_a_wifi_passphrase_printed_by_netsh_never_appears(secret: str) -> None:
    lines = [
        *HEADER,
        PROMPT + 'netsh wlan show profile name="Corp" key=clear',
        "Security settings",
        "-----------------",
        "    Authentication         : WPA2-Personal",
        f"    Key Content            : {secret}",
    ]
    assert secret not in engine_output([lines])


@given(secret=password_like(), element=st.sampled_from(["Password", "AdministratorPassword"]))
@SETTINGS
def test_an_unattend_files_password_value_never_appears(secret: str, element: str) -> None:
    """Windows Setup's answer file (C:\\Windows\\Panther\\Unattend.xml): the password sits in a <Value> element,
    on the line after its parent's opening tag or on the same line."""
    nested = [f"      <{element}>", f"        <Value>{secret}</Value>", "        <PlainText>true</PlainText>"]
    one_line = [f"      <{element}><Value>{secret}</Value><PlainText>true</PlainText></{element}>"]
    for body in (nested, one_line):
        lines = [*HEADER, PROMPT + "type C:\\Windows\\Panther\\Unattend.xml", "<AutoLogon>", *body]
        assert secret not in engine_output([lines])
