"""A Windows session's PowerShell transcript read back into commands and output (session/windows.py): the streamed
events of the two sample sessions, every prompt form, inputs split across events, and the S3 transcript."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sessionguard.rules import RulePack
from sessionguard.session.engine import SanitizedLine, SessionEngine
from sessionguard.session.powershell_syntax import input_is_complete
from sessionguard.session.records import SessionEvent, parse_session_event, read_input
from sessionguard.session.terminal import CommandSpan
from sessionguard.session.windows import WindowsTranscriptRebuilder, is_windows_transcript

EVENTS = Path(__file__).resolve().parents[2] / "events"
HEADER = [
    "\ufeff**********************",
    "Windows PowerShell transcript start",
    "Start time: 20261126091402",
    "Username: EC2AMAZ-8K2M4PQ\\ssm-user",
    "**********************",
]


def rebuild(*events: list[str]) -> tuple[list[str], list[str]]:
    """(commands, output lines) of a transcript stream fed event by event, flushed at the end."""
    rebuilder = WindowsTranscriptRebuilder()
    texts: list[str] = []
    spans: list[CommandSpan] = []
    for lines in events:
        rebuilder.feed_lines(lines, texts, spans)
    rebuilder.flush_lines(texts, spans)
    inside = {index for stop, _, width in spans for index in range(stop - width, stop)}
    output = [text for index, text in enumerate(texts) if index not in inside]
    return [command.text for _, command, _ in spans], output


def engine_commands(name: str) -> list[str]:
    engine = SessionEngine(RulePack(()))
    out = []
    for line in (EVENTS / name).read_text(encoding="utf-8").splitlines():
        out += engine.scan_event(parse_session_event(line))
    out += engine.finish()
    return [item.text for item in out if isinstance(item, SanitizedLine) and item.kind == "command"]


def test_the_admin_sample_gives_each_typed_command() -> None:
    assert engine_commands("windows-session-admin.jsonl") == [
        "whoami",
        "Get-Service W32Time",
        "Restart-Service W32Time -Force",
        "Get-EventLog -LogName System -Newest 3",
        "Test-NetConnection db01.corp.example.com -Port 1433",
    ]


def test_the_suspicious_sample_joins_the_multi_line_input_and_splits_pasted_commands() -> None:
    assert engine_commands("windows-session-suspicious.jsonl") == [
        "whoami /priv",
        "foreach ($u in Get-LocalUser) {",
        '    "{0} {1}" -f $u.Name, $u.Enabled',
        "}",
        "Set-MpPreference -DisableRealtimeMonitoring $true",
        "Add-MpPreference -ExclusionPath C:\\Windows\\Temp",
        "reg save HKLM\\SAM C:\\Windows\\Temp\\s.hiv",
        "Invoke-Mimikatz",
        "wevtutil cl Security",
    ]


def test_header_and_footer_are_output_and_the_bom_is_dropped() -> None:
    footer = ["**********************", "Windows PowerShell transcript end", "End time: 20261126091731", "*" * 22]
    commands, output = rebuild(HEADER, ["PS C:\\Windows\\system32> exit"], footer)
    assert commands == ["exit"]
    assert output == [HEADER[0].removeprefix("\ufeff"), *HEADER[1:], *footer]


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("PS C:\\Windows\\system32> whoami", "whoami"),
        ("PS D:\\app> .\\deploy.ps1 -Stage prod", ".\\deploy.ps1 -Stage prod"),
        ("PS> Get-Date", "Get-Date"),  # before the prompt function first ran
        ("[web02]: PS C:\\Users\\carol\\Documents> hostname", "hostname"),  # Enter-PSSession
        ("PS C:\\>>> $x", "$x"),  # a nested prompt ($NestedPromptLevel 1)
        ("PS HKLM:\\SOFTWARE\\Microsoft> Get-ChildItem", "Get-ChildItem"),
        ("PS Microsoft.PowerShell.Core\\FileSystem::\\\\fs01\\share> dir", "dir"),
        ("PS \\\\fs01\\share> dir", "dir"),
    ],
)
def test_every_prompt_form_starts_a_command(line: str, command: str) -> None:
    assert rebuild(HEADER, [line, "output"]) == ([command], [*_plain(HEADER), "output"])


def _plain(header: list[str]) -> list[str]:
    return [header[0].removeprefix("\ufeff"), *header[1:]]


@pytest.mark.parametrize(
    "line",
    [
        'PS>TerminatingError(Get-Item): "Cannot find path"',
        '>> TerminatingError(Invoke-WebRequest): "Unable to connect"',
        "PS is a process listing",
        "Status   Name               DisplayName",
    ],
)
def test_lines_that_are_not_prompts_stay_output(line: str) -> None:
    assert rebuild([line]) == ([], [line])


def test_several_commands_in_one_event_each_with_their_output() -> None:
    commands, output = rebuild(["PS C:\\> hostname", "EC2AMAZ-8K2M4PQ", "PS C:\\> whoami", "ec2amaz\\ssm-user"])
    assert commands == ["hostname", "whoami"]
    assert output == ["EC2AMAZ-8K2M4PQ", "ec2amaz\\ssm-user"]


def test_a_command_split_from_its_output_across_events() -> None:
    commands, output = rebuild(["PS C:\\> Get-Process lsass"], ["", "Handles  NPM(K)", "   1234      28"])
    assert commands == ["Get-Process lsass"]
    assert output == ["", "Handles  NPM(K)", "   1234      28"]


def test_a_multi_line_input_split_across_events_is_one_command() -> None:
    commands, output = rebuild(
        ["PS C:\\> Get-Service |", "  Where-Object {"], ["    $_.Status -eq 'Stopped'", "  }", "x"]
    )
    assert commands == ["Get-Service |\n  Where-Object {\n    $_.Status -eq 'Stopped'\n  }"]
    assert output == ["x"]


def test_console_continuation_prompts_of_the_s3_transcript_are_removed() -> None:
    commands, _ = rebuild(["PS C:\\> Get-Content a.txt |", ">> Select-Object -First 1", "line one"])
    assert commands == ["Get-Content a.txt |\nSelect-Object -First 1"]


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("Get-Service", True),
        ("foreach ($u in Get-LocalUser) {", False),
        ("foreach ($u in Get-LocalUser) {\n  $u\n}", True),
        ("$s = @'\nline", False),
        ("$s = @'\nline\n'@", True),
        ('Write-Host "open', False),
        ('Write-Host "a `" b"', True),
        ("Write-Host 'it''s'", True),
        ("Get-Process `", False),
        ("Get-Process |", False),
        ("<# note", False),
        ("Get-Item x # {", True),
        ("}", True),  # a stray closer is an error PowerShell reports, not more input
        ("Write-Host \u201copen", False),  # typographic quotes are quotes to PowerShell
    ],
)
def test_an_input_is_complete_as_powershell_decides(text: str, complete: bool) -> None:
    assert input_is_complete(text) is complete


def test_an_input_that_never_closes_ends_after_the_bound() -> None:
    commands, output = rebuild(["PS C:\\> {", *(f"line {n}" for n in range(400))])
    assert len(commands[0].split("\n")) == 256
    assert output[-1] == "line 399"


def test_the_s3_transcript_of_a_windows_session() -> None:
    (event,) = read_input((EVENTS / "windows-transcript-s3.log").read_text(encoding="utf-8"), "sess.log")
    assert isinstance(event, SessionEvent)
    assert is_windows_transcript(event.lines)
    engine = SessionEngine(RulePack(()))
    lines = [*engine.scan_event(event), *engine.finish()]
    commands = [line.text for line in lines if isinstance(line, SanitizedLine) and line.kind == "command"]
    assert commands[1:6] == [
        "cd D:\\app",
        "Get-ChildItem *.config | Select-Object Name",
        "Get-Content web.config | Select-String -Pattern connectionString |",
        "Select-Object -First 1",
        "Enter-PSSession -ComputerName web02",
    ]
    assert commands[6].startswith("schtasks /create /tn Updater")
    assert all("\x1b" not in line.text and not line.text.endswith("\r") for line in lines if hasattr(line, "text"))


def test_a_powershell_transcript_named_txt_is_read_as_one() -> None:
    text = "\r\n".join([*HEADER, "PS C:\\> whoami", "x"]) + "\r\n"
    (event,) = read_input(text, "PowerShell_transcript.EC2AMAZ.x1.20261126091402.txt")
    assert isinstance(event, SessionEvent)
    assert event.transcript


@pytest.mark.parametrize(
    "lines",
    [
        ["[ssm-user@ip-10-0-1-23 ~]$ ls", "a b"],
        ["sh-5.2$ whoami", "ssm-user"],
        ["", "ubuntu@ip-10-0-1-5:~$ echo PS C:\\> x"],
        ["sh-4.2$ cat notes.txt", "PS C:\\> whoami"],  # a Windows prompt printed in a Linux session
    ],
)
def test_linux_streams_are_not_taken_for_transcripts(lines: list[str]) -> None:
    assert not is_windows_transcript(lines)


def test_hostile_input_is_read_in_linear_time() -> None:
    # Given lines built to stall a backtracking lexer or prompt regex
    hostile = [
        "PS C:\\> " + "{(" * 30_000,
        "PS " + "C:" * 100_000,
        "PS C:\\> " + '"`' * 100_000,
        "[" + "a" * 100_000,
    ]
    started = time.perf_counter()
    rebuild(hostile)
    assert time.perf_counter() - started < 5
