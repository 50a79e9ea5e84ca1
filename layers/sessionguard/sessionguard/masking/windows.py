"""Windows-shaped secrets: PowerShell and cmd commands that carry a password, and PowerShell output that prints one.

Each is a rule of the masker's table (rules.Rule), in the same value conventions as the context rules
(rules.py: value groups `v*_w` a quoted string or one word, `v*_r` up to the closing quote or the line's end,
`v*_v` verbatim); `n` is a secret-looking name that heuristics.classify_name decides. Added to masker.RULES
after the context rules' provider tokens (they are context rules too).
"""

from __future__ import annotations

from typing import Final

from sessionguard.masking.rules import QUOTED, SECRET_NAME, Rule, make_rule

# A PowerShell argument: a quoted string or one bare word that is not a variable, a subexpression or an option
# (`$secPw`, `(ConvertTo-SecureString ...)`, `-AsPlainText` are not values; the first is masked where it is set).
_PS_VALUE = rf"(?P<v_w>{QUOTED}|[^\s'\"$(@{{,;|&)-][^\s'\",;|&)]*)"
# A word of cmd: up to a blank or an operator; a leading slash is a switch, `*` asks for the password.
_CMD_VALUE = rf"(?P<v_w>{QUOTED}|[^\s'\"/*&|<>][^\s'\"&|<>]*)"


WINDOWS_RULES: Final[tuple[Rule, ...]] = (
    # `netsh wlan show profile NAME key=clear`: the Wi-Fi passphrase as `    Key Content            : x`.
    make_rule("password", ("key content",), r"^[ \t]*Key Content[ \t]*:[ \t]*(?P<v_r>\S.*)$"),
    # ConvertTo-SecureString 'P@ss' -AsPlainText [-Force]; also -String 'P@ss' anywhere in the call.
    make_rule(
        "password",
        ("convertto-securestring",),
        rf"(?i)\bConvertTo-SecureString(?:[ \t]+-(?:AsPlainText|Force)\b)*(?:[ \t]+-String)?[ \t]+{_PS_VALUE}",
    ),
    make_rule(
        "password",
        ("convertto-securestring",),
        rf"(?i)\bConvertTo-SecureString\b[^|;\n]*?[ \t]-String[ \t]+{_PS_VALUE}",
        requires=((b"-String", b"-string"),),
    ),
    # New-Object [System.Management.Automation.]PSCredential('user', 'P@ss') / -ArgumentList user, 'P@ss';
    # [PSCredential]::new(...); System.Net.NetworkCredential the same (its password is a plain string).
    make_rule(
        "password",
        ("pscredential", "networkcredential"),
        r"(?i)\b(?:PSCredential|NetworkCredential)\]?(?:::new)?[ \t]*(?:-ArgumentList[ \t]+)?\(?[ \t]*"
        rf"(?:{QUOTED}|[^\s,'\"()]+)[ \t]*,[ \t]*{_PS_VALUE}",
    ),
    # net user NAME PASSWORD [/add ...]; net use \\host\share PASSWORD /user:NAME
    make_rule(
        "password",
        ("net ", "net1 ", "net.exe"),
        rf"(?i)\bnet1?(?:\.exe)?[ \t]+user[ \t]+(?:{QUOTED}|[^\s/'\"]+)[ \t]+{_CMD_VALUE}",
        requires=((b"user", b"USER", b"User"),),
    ),
    make_rule(
        "password",
        ("net ", "net1 ", "net.exe"),
        rf"(?i)\bnet1?(?:\.exe)?[ \t]+use[ \t]+(?:[A-Za-z*]:[ \t]+)?\\\\[^\s]+[ \t]+{_CMD_VALUE}",
        requires=((b"\\\\",),),
    ),
    # net use \\host\share /user:NAME PASSWORD (the password after the user, as `net help use` also allows)
    make_rule(
        "password",
        ("net ", "net1 ", "net.exe"),
        rf"(?i)\bnet1?(?:\.exe)?[ \t]+use\b[^|;&\n]*?[ \t]/user:(?:{QUOTED}|[^\s'\"]+)[ \t]+{_CMD_VALUE}",
        requires=((b"/user:", b"/USER:", b"/User:"),),
    ),
    # Set-Item / New-Item Env:NAME [-Value] VALUE: an environment variable with a secret's name.
    make_rule(
        "secret",
        ("env:",),
        rf"(?i)\b(?:Set-Item|New-Item)\b[^|;\n]*?[ \t](?:-Path[ \t]+)?[\"']?Env:{SECRET_NAME}[\"']?"
        rf"(?:[ \t]+-Value)?[ \t]+{_PS_VALUE}",
    ),
    # psexec/paexec -p PASSWORD; schtasks /rp or /p PASSWORD; sc config ... password= PASSWORD
    make_rule(
        "password",
        ("psexec", "paexec"),
        rf"(?i)\b(?:psexec(?:64)?|paexec)(?:\.exe)?\b[^|;&\n]*?[ \t]-p[ \t]+{_CMD_VALUE}",
        requires=((b"-p",),),
    ),
    make_rule(
        "password",
        ("schtasks",),
        rf"(?i)\bschtasks(?:\.exe)?\b[^|;&\n]*?[ \t]/r?p[ \t]+{_CMD_VALUE}",
        requires=((b"/p", b"/P", b"/rp", b"/RP", b"/Rp"),),
    ),
    make_rule(
        "password",
        ("password=",),
        rf"(?i)\bsc(?:\.exe)?[ \t][^|;&\n]*?\bpassword=[ \t]*{_CMD_VALUE}",
    ),
    # Connection strings: Pwd=... (Password= is the generic assignment rule's). Only right after `;` or a quote, as
    # in `UID=sa;PWD=x`: the shell's PWD=/root (env, sudo's log line `; PWD=/home/x ;`) is a directory.
    make_rule("password", ("pwd",), r"(?i)[;\"']pwd[ \t]*=[ \t]*(?P<v_v>[^;\"'\s]+)", requires=((b"=",),)),
    # Registry values with a secret's name: reg add ... /v NAME ... /d VALUE; Set-ItemProperty/New-ItemProperty
    # -Name NAME -Value VALUE; and what reg query prints: `    NAME    REG_SZ    VALUE`.
    make_rule(
        "secret",
        ("/v ",),
        rf"(?i)\breg(?:\.exe)?[ \t]+add\b[^|;&\n]*?[ \t]/v[ \t]+[\"']?{SECRET_NAME}[\"']?[^|;&\n]*?[ \t]/d[ \t]+"
        rf"{_CMD_VALUE}",
        requires=((b"/d", b"/D"),),
    ),
    make_rule(
        "secret",
        ("itemproperty",),
        rf"(?i)\b(?:Set|New)-ItemProperty\b[^|;\n]*?[ \t]-Name[ \t]+[\"']?{SECRET_NAME}[\"']?"
        rf"[^|;\n]*?[ \t]-Value[ \t]+{_PS_VALUE}",
        requires=((b"-Value", b"-value"),),
    ),
    make_rule(
        "secret",
        ("reg_",),
        rf"^[ \t]+{SECRET_NAME}[ \t]+REG_(?:SZ|EXPAND_SZ|MULTI_SZ)[ \t]+(?P<v_v>\S(?:.*\S)?)[ \t]*$",
    ),
    # PowerShell that prints one secret alone on the next line.
    # `$env:API_TOKEN` (or Write-Output / echo of it), [Environment]::GetEnvironmentVariable('API_TOKEN', ...): the
    # name decides. `.GetNetworkCredential().Password` and `| Select -ExpandProperty SecretString|Password` print one.
    make_rule(
        "secret",
        ("$env:", "getenvironmentvariable"),
        r"(?i)(?:^|[\s>;])(?:(?:Write-Output|Write-Host|echo)[ \t]+)?[\"']?"
        r"(?:\$env:|\[Environment\]::GetEnvironmentVariable\([ \t]*[\"'])(?P<n>[A-Za-z_][A-Za-z0-9_]*)"
        r"(?:[\"'][^)\n]*\))?[\"']?[ \t]*$",
        special="prints-value",
    ),
    make_rule(
        "password",
        ("getnetworkcredential", "-expandproperty"),
        r"(?i)(?:\.GetNetworkCredential\(\)\.Password|(?:Get-SECSecretValue|Get-SSMParameter\b[^|\n]*-WithDecryption|Get-Secret)\b"
        r"[^\n]*\|[ \t]*(?:Select-Object|select)[ \t]+-ExpandProperty[ \t]+(?:SecretString|Value|Password))[ \t]*$",
        special="prints-value",
    ),
    make_rule(
        "secret",
        ("get-secret",),
        r"(?i)\bGet-Secret\b[^|;\n]*-AsPlainText\b[^|;\n]*$",
        special="prints-value",
    ),
    make_rule(
        "secret",
        ("get-ssmparameter", "get-secsecretvalue"),
        r"(?i)\(\s*(?:Get-SSMParameter\b[^)\n]*-WithDecryption\b[^)\n]*\)\.Value"
        r"|Get-SECSecretValue\b[^)\n]*\)\.SecretString)[ \t]*$",
        special="prints-value",
    ),
)
