"""Builds the Windows detection corpus (evaluation/corpus/windows/<source>/cases.jsonl) from public sources, each in
its own folder with its source, commit and licence:

- risky: LOLBAS (every documented command, placeholders filled), SigmaHQ's Windows process_creation rules (a command
  line reconstructed from each high and critical rule's selections), and the .EXAMPLE lines of PowerSploit's and
  Nishang's comment-based help;
- benign: the EXAMPLES sections of Microsoft's PowerShell reference (MicrosoftDocs/PowerShell-Docs, Windows
  PowerShell 5.1 modules) and of the Windows Server module reference (MicrosoftDocs/windows-powershell-docs) for the
  modules of ordinary administration: networking, DNS, DHCP, IIS, services, storage, scheduled tasks, Active
  Directory lookups, packages. Examples there whose behaviour the Windows rules treat as risky (clearing an event
  log, turning off Defender or the firewall, creating an administrator) are kept as dual-use, counted in neither
  figure, with the reason.

    python -m evaluation.windows_corpus --lolbas DIR --sigma DIR --powersploit DIR --nishang DIR \\
        --powershell-docs DIR --windows-powershell-docs DIR

Each DIR is a git directory (a clone, or a bare mirror); files are read at its HEAD with `git show`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from evaluation.build_corpus import Repository

CORPUS = Path(__file__).parent / "corpus" / "windows"

# Plausible values for LOLBAS placeholders ({REMOTEURL:.exe}, {PATH_ABSOLUTE:.dll}, {CMD} ...).
_PLACEHOLDERS = {
    "REMOTEURL": "http://203.0.113.7/payload{ext}",
    "PATH_ABSOLUTE": "C:\\Users\\Public\\payload{ext}",
    "PATH_SMB": "\\\\203.0.113.7\\share\\payload{ext}",
    "PATH": "payload{ext}",
    "CMD": "calc.exe",
    "PAYLOAD": "calc.exe",
    "PID": "4188",
    "PROCESSNAME": "lsass",
    "ZIP": "payload.zip",
}
_PLACEHOLDER = re.compile(r"\{([A-Z_]+)(?::([^}]*))?\}")


def _fill(command: str) -> str:
    def value(match: re.Match[str]) -> str:
        name, extension = match.group(1), match.group(2) or ""
        template = _PLACEHOLDERS.get(name, _PLACEHOLDERS["PATH"])
        return template.format(ext=extension if extension.startswith(".") else ".exe" if name != "CMD" else "")

    return _PLACEHOLDER.sub(value, command)


def lolbas_cases(repo: Repository) -> Iterator[dict[str, Any]]:
    for path, text in repo.files("yml/").items():
        if not path.endswith(".yml"):
            continue
        entry = yaml.safe_load(text)
        for number, item in enumerate(entry.get("Commands") or [], start=1):
            command = str(item.get("Command", "")).strip()
            if not command:
                continue
            yield {
                "id": f"lolbas/{entry['Name']}/{number}",
                "source": "lolbas",
                "risky": True,
                "lines": [_fill(line) for line in command.splitlines() if line.strip()],
                "techniques": [item["MitreID"]] if item.get("MitreID") else [],
                "function": str(item.get("Category", "")),
                "file": path,
            }


# --- SigmaHQ: a command line reconstructed from a rule's selections -------------------------------------------

_REGEX_SYNTAX = re.compile(r"\(\?i\)|\\[sdwSb]|\[[^\]]*-[^\]]*\]|\{\d+(,\d*)?\}|\(\?:")
_SELECTION_GROUP = re.compile(r"^(selection[a-z]*?\d*)(?:_|$)")


def _values(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


# Fields a session transcript cannot show: the parent process (a webshell's w3wp.exe, an Office macro) and the
# binary's original name (a renamed procdump). Rules that rest on them are left out.
_CONTEXT_FIELDS = ("ParentImage", "ParentCommandLine", "ParentUser", "GrandparentImage", "ParentProcessName")


def _sigma_group_command(selections: list[Any]) -> str | None:
    program = ""
    parts: list[str] = []
    for selection in selections:
        for item in selection if isinstance(selection, list) else [selection]:
            if not isinstance(item, dict):
                continue
            if any(key.split("|")[0] in _CONTEXT_FIELDS for key in item):
                return None
            for key, value in item.items():
                field, *modifiers = key.split("|")
                values = _values(value)
                if field in {"Image", "OriginalFileName"} and not program and values:
                    program = values[0].rsplit("\\", 1)[-1]
                elif field == "CommandLine":
                    parts += values if "all" in modifiers else values[:1]
    text = " ".join(" ".join(part.replace("*", " ").split()) for part in parts)
    if not program or len(text) < 8 or _REGEX_SYNTAX.search(text):
        return None  # too little of a command line to type (`-ma ls`), or a regex rather than text
    if program.lower().removesuffix(".exe") not in text.lower():
        text = f"{program} {text}"
    return text


def sigma_cases(repo: Repository) -> Iterator[dict[str, Any]]:
    for path, text in repo.files("rules/windows/process_creation/").items():
        if not path.endswith(".yml"):
            continue
        rule = yaml.safe_load(text)
        if rule.get("level") not in {"high", "critical"} or rule.get("status") == "deprecated":
            continue
        if "renamed" in str(rule.get("title", "")).lower():
            continue  # a renamed binary: what gives it away is its file's original name, not the command line
        detection = rule.get("detection") or {}
        groups: dict[str, list[Any]] = {}
        for key, selection in detection.items():
            match = _SELECTION_GROUP.match(key)
            if match:
                groups.setdefault(match.group(1), []).append(selection)
        techniques = sorted(
            {
                tag.removeprefix("attack.").upper()
                for tag in rule.get("tags", [])
                if re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", tag)
            }
        )
        for number, selections in enumerate(groups.values(), start=1):
            command = _sigma_group_command(selections)
            if command:
                yield {
                    "id": f"sigma-windows/{rule['id']}/{number}",
                    "source": "sigma-windows",
                    "risky": True,
                    "lines": [command],
                    "techniques": techniques,
                    "note": rule.get("title", ""),
                    "file": path,
                }


# --- PowerSploit and Nishang: the commands of their help's .EXAMPLE sections ----------------------------------

_HELP_KEYWORD = re.compile(r"^\s*\.[A-Z]+\b|^\s*#>")
_PROMPT = re.compile(r"^\s*PS [^>]{0,80}>\s*")
_LOOKS_LIKE_COMMAND = re.compile(r"^\s*(?:[A-Z][a-z]+-[A-Za-z]\w+|\.\\\w|\$\w+\s*=|powershell\b|iex\b|IEX\b)")


_FUNCTION = re.compile(r"(?im)^\s*function\s+(?:script:|global:)?([A-Za-z]+[-_][A-Za-z0-9_-]+)")
_ALIAS = re.compile(r"(?i)(?:New|Set)-Alias\s+(?:-Name\s+)?([A-Za-z]+-[A-Za-z0-9_-]+)")
_CALLED = re.compile(r"[A-Za-z]+[-_][A-Za-z0-9_-]+")


def help_example_cases(repo: Repository, source: str) -> Iterator[dict[str, Any]]:
    """The example lines that call one of the framework's own functions (or aliases): a line that only prepares
    an argument (`$Cred = Get-Credential`, `$pw = ConvertTo-SecureString ...`) is not a use of the tool."""
    files = {path: text for path, text in repo.files(".").items() if path.endswith((".ps1", ".psm1", ".psd1"))}
    own = {name.lower() for text in files.values() for name in _FUNCTION.findall(text) + _ALIAS.findall(text)}
    for path, text in files.items():
        if not path.endswith((".ps1", ".psm1")):
            continue
        lines = text.splitlines()
        seen: set[str] = set()
        number = 0
        index = 0
        while index < len(lines):
            if lines[index].strip().upper() != ".EXAMPLE":
                index += 1
                continue
            index += 1
            while index < len(lines) and not _HELP_KEYWORD.match(lines[index]):
                line = lines[index]
                command = (
                    _PROMPT.sub("", line) if _PROMPT.match(line) else line if _LOOKS_LIKE_COMMAND.match(line) else ""
                )
                command = command.strip()
                # A sentence of the help that starts with a function name is prose, not a command.
                calls_the_tool = any(word.lower() in own for word in _CALLED.findall(command))
                if command and not command.endswith(".") and command not in seen and calls_the_tool:
                    seen.add(command)
                    number += 1
                    yield {
                        "id": f"{source}/{path}/{number}",
                        "source": source,
                        "risky": True,
                        "lines": [command],
                        "file": path,
                    }
                index += 1


# --- Microsoft's module reference: ordinary administration ----------------------------------------------------

POWERSHELL_DOCS_MODULES = (
    "Microsoft.PowerShell.Management",
    "Microsoft.PowerShell.Utility",
    "Microsoft.PowerShell.Core",
    "Microsoft.PowerShell.Archive",
    "Microsoft.PowerShell.Security",
    "Microsoft.PowerShell.LocalAccounts",
    "Microsoft.PowerShell.Diagnostics",
    "CimCmdlets",
    "Microsoft.WSMan.Management",
    "PSReadLine",
)
WINDOWS_DOCS_MODULES = (
    "NetTCPIP",
    "NetAdapter",
    "DnsClient",
    "DnsServer",
    "DhcpServer",
    "ServerManager",
    "IISAdministration",
    "ActiveDirectory",
    "ScheduledTasks",
    "SmbShare",
    "Storage",
    "PrintManagement",
    "NetSecurity",
    "Defender",
    "BitsTransfer",
    "Dism",
    "PnpDevice",
    "International",
    "Hyper-V",
    "WindowsUpdate",
    "NetConnection",
    "GroupPolicy",
    "PKI",
)
# Documented examples whose behaviour is one the Windows rules judge risky: kept, as dual-use, with the reason.
DUAL_USE = (
    (re.compile(r"(?i)\b(Clear|Remove|Limit)-EventLog\b|wevtutil\s+cl"), "clears or removes an event log"),
    (
        re.compile(r"(?i)Set-MpPreference\b.*-Disable\w*\s+\$?(true|1)\b|-Exclusion\w+"),
        "turns off or excludes Defender",
    ),
    (
        re.compile(r"(?i)Set-NetFirewallProfile\b.*-Enabled\s+\$?False|Disable-NetFirewallRule"),
        "turns off the firewall",
    ),
    (
        re.compile(r"(?i)Add-LocalGroupMember\b.*Administrators|New-LocalUser\b|Add-ADGroupMember\b.*Admins"),
        "creates an account or an administrator",
    ),
    (re.compile(r"(?i)Set-ExecutionPolicy\b.*\b(Bypass|Unrestricted)\b"), "turns off script signing policy"),
    (re.compile(r"(?i)\b(Clear-Disk|Format-Volume|Remove-Partition|Initialize-Disk)\b"), "wipes a disk"),
    (re.compile(r"(?i)\bDisable-ComputerRestore\b"), "turns off System Restore"),
    (
        re.compile(r"(?i)-EncodedCommand\b|ConvertTo-SecureString\b.*-AsPlainText|\bInvoke-Expression\b"),
        "runs encoded or string code, or a password in plain text",
    ),
    (
        re.compile(
            r"(?i)Register-ScheduledTask\b|New-Service\b|Set-ItemProperty\b.*\\Run\b|Register-WmiEvent|__EventFilter"
        ),
        "creates a persistence mechanism",
    ),
    (
        re.compile(r"(?i)Enable-PSRemoting|TrustedHosts|Invoke-Command\b.*-ComputerName|Enter-PSSession"),
        "remote execution",
    ),
)


def _code_blocks(markdown: str) -> Iterator[list[str]]:
    """The code blocks of the EXAMPLES section, as lines, without output blocks."""
    section = markdown.split("## EXAMPLES", 1)[-1].split("## PARAMETERS", 1)[0] if "## EXAMPLES" in markdown else ""
    for match in re.finditer(r"```([A-Za-z]*)\n(.*?)```", section, re.DOTALL):
        language, body = match.group(1).lower(), match.group(2)
        if language in {"output", "text", "yaml", "xml", "json"}:
            continue
        lines = body.splitlines()
        if any(_PROMPT.match(line) for line in lines):
            lines = [_PROMPT.sub("", line) for line in lines if _PROMPT.match(line)]
        lines = [line.rstrip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if lines:
            yield lines


def docs_cases(repo: Repository, source: str, root: str, modules: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for module in modules:
        try:
            texts = repo.files(f"{root}/{module}/")
        except subprocess.CalledProcessError:
            print(f"{source}: no module {module} under {root}")
            continue
        for path, text in texts.items():
            if not path.endswith(".md") or path.endswith(f"/{module}.md"):
                continue
            for number, lines in enumerate(_code_blocks(text), start=1):
                record: dict[str, Any] = {
                    "id": f"{source}/{path.rsplit('/', 1)[-1].removesuffix('.md')}/{number}",
                    "source": source,
                    "risky": False,
                    "lines": lines,
                    "file": path,
                }
                joined = "\n".join(lines)
                for pattern, reason in DUAL_USE:
                    if pattern.search(joined):
                        record["dual_use"] = reason
                        break
                yield record


def _write(
    source: str, records: list[dict[str, Any]], repo: Repository, *, url: str, licence: str, licence_file: str
) -> None:
    folder = CORPUS / source
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "cases.jsonl").open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps({**record, "commit": repo.commit}, ensure_ascii=False, sort_keys=True) + "\n")
    (folder / "SOURCE").write_text(f"source: {url}\ncommit: {repo.commit}\nlicence: {licence}\n", encoding="utf-8")
    if licence_file:
        (folder / "LICENSE").write_text(repo.text(licence_file), encoding="utf-8")
    print(f"{source}: {len(records)} cases")


_Builder = Callable[[Repository], Iterator[dict[str, Any]]]
# Per source: its option, folder, URL, licence, and licence file to copy beside the cases.
SOURCES: list[tuple[str, str, str, str, str, _Builder]] = [
    ("lolbas", "lolbas", "https://github.com/LOLBAS-Project/LOLBAS", "GPL-3.0 (LICENSE)", "LICENSE", lolbas_cases),
    ("sigma", "sigma-windows", "https://github.com/SigmaHQ/sigma", "Detection Rule License 1.1", "", sigma_cases),
    (
        "powersploit",
        "powersploit",
        "https://github.com/PowerShellMafia/PowerSploit",
        "BSD-3-Clause (LICENSE)",
        "LICENSE",
        lambda repo: help_example_cases(repo, "powersploit"),
    ),
    (
        "nishang",
        "nishang",
        "https://github.com/samratashok/nishang",
        "GPL-3.0 (LICENSE)",
        "LICENSE",
        lambda repo: help_example_cases(repo, "nishang"),
    ),
    (
        "powershell_docs",
        "powershell-docs",
        "https://github.com/MicrosoftDocs/PowerShell-Docs",
        "CC-BY-4.0 (LICENSE)",
        "LICENSE.md",
        lambda repo: docs_cases(repo, "powershell-docs", "reference/5.1", POWERSHELL_DOCS_MODULES),
    ),
    (
        "windows_powershell_docs",
        "windows-powershell-docs",
        "https://github.com/MicrosoftDocs/windows-powershell-docs",
        "CC-BY-4.0 (LICENSE)",
        "LICENSE",
        lambda repo: docs_cases(repo, "windows-powershell-docs", "docset/winserver2025-ps", WINDOWS_DOCS_MODULES),
    ),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation.windows_corpus", description=__doc__)
    for option, *_ in SOURCES:
        parser.add_argument("--" + option.replace("_", "-"), metavar="GIT_DIR")
    args = vars(parser.parse_args(argv))
    for option, source, url, licence, licence_file, build in SOURCES:
        if args[option]:
            repo = Repository(args[option])
            _write(source, list(build(repo)), repo, url=url, licence=licence, licence_file=licence_file)


if __name__ == "__main__":
    main()
