"""Regenerates the detection corpus under evaluation/corpus/ from public repositories, and records where each case
came from (repository, commit, file, lines).

The committed JSON Lines files are the data `make eval` reads; this script documents their provenance and rebuilds
them when a source is updated. It reads each source from a local git clone (bare or not) at a pinned commit:

    python -m evaluation.build_corpus --gtfobins DIR --sigma DIR --payloads DIR --eg DIR --cheat DIR

Man page examples come from the man pages installed on this Debian machine (`dpkg-query` names the package and
version of each). Every output is sorted and written the same way each run, so a rebuild diffs cleanly.
"""

# The /tmp paths here are text typed into evaluation sessions, never files this script opens.
# ruff: noqa: S108

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evaluation.curation import BENIGN_DUAL_USE, PAYLOADS_LEFT_OUT, RISKY_NOT_RISKY_WHEN_TYPED, SIGMA_WRITTEN
from evaluation.typist import command_groups

CORPUS = Path(__file__).parent / "corpus"

GTFOBINS_URL = "https://github.com/GTFOBins/GTFOBins.github.io"
SIGMA_URL = "https://github.com/SigmaHQ/sigma"
PAYLOADS_URL = "https://github.com/swisskyrepo/PayloadsAllTheThings"
EG_URL = "https://github.com/srsudar/eg"
CHEAT_URL = "https://github.com/cheat/cheatsheets"

# PayloadsAllTheThings moved its Linux pages to another repository (without a licence file) in this commit's child;
# the parent is the last MIT-licensed version of them.
PAYLOADS_COMMIT = "c852118ec8971f5f7a457b9880f3c6b437865e0c"


@dataclass
class Case:
    """One corpus case: the lines typed at the prompt, one session each when evaluated."""

    id: str
    source: str
    file: str
    commit: str
    lines: list[str]
    risky: bool
    techniques: list[str] = field(default_factory=list)
    function: str = ""
    context: str = ""
    note: str = ""
    dual_use: str = ""

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "file": self.file,
            "commit": self.commit,
            "risky": self.risky,
            "lines": self.lines,
            "techniques": self.techniques,
        }
        for key in ("function", "context", "note", "dual_use"):
            if getattr(self, key):
                record[key] = getattr(self, key)
        return record


# --- reading a repository at a commit ------------------------------------------------------------------------------


class Repository:
    """A local clone read at one commit with git archive (works on bare mirrors too)."""

    def __init__(self, git_dir: str, commit: str = "HEAD") -> None:
        self.git_dir = git_dir
        self.commit = self._git("rev-parse", commit).decode().strip()

    def _git(self, *args: str) -> bytes:
        # A fixed program and arguments (no shell); git is looked up on PATH like any developer tool.
        command = ["git", "-C", self.git_dir, *args]
        return subprocess.run(command, check=True, capture_output=True).stdout  # noqa: S603

    def files(self, *paths: str) -> dict[str, str]:
        """{path: text} of the files under `paths` at the commit."""
        archive = self._git("archive", self.commit, "--", *paths)
        texts: dict[str, str] = {}
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    texts[member.name] = handle.read().decode("utf-8", errors="replace")
        return dict(sorted(texts.items()))

    def text(self, path: str) -> str:
        return self._git("show", f"{self.commit}:{path}").decode("utf-8", errors="replace")


# --- GTFOBins ------------------------------------------------------------------------------------------------------

# Placeholders filled with plausible values: a file to read is the credential store; a file written is where a
# written line gives an attacker a way back in; downloads land in /tmp; everything else goes under /tmp.
_READ_FUNCTIONS = {"file-read", "upload"}


def _fill_gtfobins(code: str, function: str, context: str) -> str:
    privileged = context != "unprivileged"
    if function in _READ_FUNCTIONS:
        input_file = "/etc/shadow"
    elif function == "download":
        input_file = "/payload.sh"
    else:
        input_file = "/tmp/input-file"
    if function == "file-write":
        output_file = "/root/.ssh/authorized_keys" if privileged else "/home/ec2-user/.ssh/authorized_keys"
    elif function == "download":
        output_file = "/tmp/payload.sh"
    else:
        output_file = "/tmp/output-file"
    code = re.sub(r"/path/to/(?:output|ouput)-file\b(?![.\w])", output_file, code)
    code = re.sub(r"/path/to/input-file\b(?![.\w])", input_file, code)
    code = code.replace("/path/to/command", "/usr/bin/id")
    return code.replace("/path/to/", "/tmp/")


def _gtfobins_invocation(binary: str) -> re.Pattern[str]:
    # Where the binary is started: at a line start or after a pipe/list operator, maybe after VAR=value assignments.
    return re.compile(r"(^|[|;&(]\s*)((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)(" + re.escape(binary) + r")(?=\s|$)", re.M)


def _in_context(code: str, binary: str, context: str) -> str:
    """The snippet as typed in a context: `sudo binary …` for sudo, `./binary …` for a SUID or capable copy."""
    if context == "unprivileged":
        return code
    invocation = _gtfobins_invocation(binary)
    if context == "sudo":
        replaced, count = invocation.subn(lambda m: f"{m[1]}sudo {m[2]}{m[3]}", code, count=1)
        return replaced if count else "sudo " + code
    replaced, count = invocation.subn(lambda m: f"{m[1]}{m[2]}./{m[3]}", code, count=1)
    return replaced if count else code


def gtfobins_cases(repo: Repository) -> list[Case]:
    functions = yaml.safe_load(repo.text("_data/functions.yml"))
    techniques = {name: list(spec.get("mitre") or []) for name, spec in functions.items()}
    cases: list[Case] = []
    for path, text in repo.files("_gtfobins").items():
        binary = path.rsplit("/", 1)[1]
        document = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else None
        if not isinstance(document, dict):
            continue
        for function, examples in (document.get("functions") or {}).items():
            if function == "inherit":
                continue
            for number, example in enumerate(examples, start=1):
                contexts = example.get("contexts") or {"unprivileged": None}
                for context, override in contexts.items():
                    code = (override or {}).get("code") or example["code"]
                    typed = _in_context(_fill_gtfobins(code.strip(), function, context), binary, context)
                    cases.append(
                        Case(
                            id=f"gtfobins/{binary}/{function}/{number}/{context}",
                            source="gtfobins",
                            file=path,
                            commit=repo.commit,
                            lines=typed.split("\n"),
                            risky=True,
                            techniques=techniques.get(function, []),
                            function=function,
                            context=context,
                        )
                    )
    return cases


# --- SigmaHQ Linux rules -------------------------------------------------------------------------------------------

_SIGMA_LEVELS = {"medium", "high", "critical"}


def sigma_cases(repo: Repository) -> list[Case]:
    """The commands written in sigma_written.py for each medium+ Linux rule, with the rule's id, path and tags."""
    cases: list[Case] = []
    for path, text in repo.files("rules/linux").items():
        rule = yaml.safe_load(text)
        name = path.rsplit("/", 1)[1]
        if rule.get("level") not in _SIGMA_LEVELS or name not in SIGMA_WRITTEN:
            continue
        tags = rule.get("tags", [])
        techniques = sorted(
            tag.removeprefix("attack.").upper() for tag in tags if re.fullmatch(r"attack\.t\d+(\.\d+)?", tag)
        )
        for number, command in enumerate(SIGMA_WRITTEN[name], start=1):
            cases.append(
                Case(
                    id=f"sigma/{rule['id']}/{number}",
                    source="sigma",
                    file=path,
                    commit=repo.commit,
                    lines=command.split("\n"),
                    risky=True,
                    techniques=techniques,
                    note=rule.get("title", ""),
                )
            )
    return cases


# --- PayloadsAllTheThings ------------------------------------------------------------------------------------------

PAYLOADS_FILES = {
    "Methodology and Resources/Linux - Privilege Escalation.md": ["T1548"],
    "Methodology and Resources/Linux - Persistence.md": ["T1546"],
    "Methodology and Resources/Linux - Evasion.md": ["T1070"],
    "Methodology and Resources/Reverse Shell Cheatsheet.md": ["T1059.004"],
    "Methodology and Resources/Bind Shell Cheatsheet.md": ["T1059.004"],
}
# Code blocks in these languages hold source files, not commands typed at a prompt.
_NOT_TYPED_LANGUAGES = {"c", "ini", "properties", "java", "csharp", "rust", "javascript", "cpp", "go", "xml", "json"}
# A typed command starts like one: a name, a path, an assignment, a variable or a subshell.
_LOOKS_TYPED = re.compile(r"^(?:[A-Za-z_][\w.+-]*=|[a-z0-9_.][\w.+-]*(?:\s|$)|\.?/\S+\s|\$\(|\(|\{|sudo\s)")
_HEADING = re.compile(r"^#{2,6}\s+(.*)$")


def _code_blocks(markdown: str) -> Iterator[tuple[int, str, str, list[str]]]:
    """(first line number, heading, language, lines) of each fenced block."""
    heading = ""
    block: list[str] | None = None
    language = ""
    start = 0
    for number, raw in enumerate(markdown.split("\n"), start=1):
        line = raw.strip()
        if block is None:
            if match := _HEADING.match(raw):
                heading = match[1].strip()
            elif line.startswith("```"):
                block, language, start = [], line[3:].strip().lower(), number + 1
        elif line.startswith("```"):
            yield start, heading, language, block
            block = None
        else:
            block.append(raw.rstrip())


def _typed_commands(block: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(offset, lines) of the commands in a block: prompts removed, comments and output lines dropped."""
    cleaned: list[tuple[int, str]] = []
    for offset, line in enumerate(block):
        text = re.sub(r"^\s*(?:\$|#|>)\s+(?=\S)", "", line) if re.match(r"^\s*[$>]\s", line) else line.strip()
        if not text or text.startswith("#") or text in {"...", "…"}:
            continue
        cleaned.append((offset, text))
    texts = [text for _, text in cleaned]
    position = 0
    for group in command_groups(texts):
        offset = cleaned[position][0]
        position += len(group)
        if _LOOKS_TYPED.match(group[0]):
            yield offset, group


def payloads_cases(repo: Repository) -> list[Case]:
    left_out = {
        f"{page}/{line}"
        for pages in PAYLOADS_LEFT_OUT.values()
        for page, lines in pages.items()
        for line in lines.split()
    }
    cases: list[Case] = []
    for path, techniques in PAYLOADS_FILES.items():
        slug = re.sub(r"[^a-z]+", "-", path.rsplit("/", 1)[1].removesuffix(".md").lower()).strip("-")
        for start, heading, language, block in _code_blocks(repo.text(path)):
            if language in _NOT_TYPED_LANGUAGES:
                continue
            for offset, lines in _typed_commands(block):
                if f"{slug}/{start + offset}" in left_out:
                    continue
                cases.append(
                    Case(
                        id=f"payloads/{slug}/{start + offset}",
                        source="payloadsallthethings",
                        file=f"{path}#L{start + offset}",
                        commit=repo.commit,
                        lines=lines,
                        risky=True,
                        techniques=techniques,
                        note=heading,
                    )
                )
    return cases


# --- benign: eg and cheat/cheatsheets ------------------------------------------------------------------------------


def _indented_commands(text: str) -> Iterator[tuple[int, list[str]]]:
    """eg writes each example as a 4-space indented block under its description."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate([*text.split("\n"), ""], start=1):
        if line.startswith("    ") and line.strip():
            block.append((number, line[4:].rstrip()))
            continue
        if block:
            yield from _commands_of_block(block)
            block = []


def program_of(line: str) -> str:
    """The program a command line starts (after sudo and VAR=value assignments), without its directory."""
    words = [word for word in line.split() if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", word)]
    while words and words[0] in {"sudo", "env", "time", "nohup"}:
        words = words[1:]
    return words[0].rsplit("/", 1)[-1] if words else ""


def _fill_angle_placeholders(line: str) -> str:
    """Cheat sheets write `<file-name>` for a value to fill in; a reader types a name there."""
    return re.sub(r"<([A-Za-z][\w .-]*)>", lambda m: m[1].strip().replace(" ", "-"), line)


def _commands_of_block(block: list[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    texts = [_fill_angle_placeholders(text.removeprefix("$ ")) for _, text in block]
    position = 0
    for group in command_groups(texts):
        number = block[position][0]
        position += len(group)
        if _LOOKS_TYPED.match(group[0]) and not group[0].startswith("#"):
            yield number, group


def eg_cases(repo: Repository) -> list[Case]:
    cases: list[Case] = []
    for path, text in repo.files("eg/examples").items():
        name = path.rsplit("/", 1)[1].removesuffix(".md")
        for number, lines in _indented_commands(text.split("# Basic Usage", 1)[0]):
            cases.append(Case(f"eg/{name}/{number}", "eg", f"{path}#L{number}", repo.commit, lines, risky=False))
    return cases


def cheat_cases(repo: Repository) -> list[Case]:
    cases: list[Case] = []
    for path, text in repo.files(".").items():
        if "/" in path.strip("./") or path.startswith(".") or path.upper().startswith(("README", "LICENSE")):
            continue
        name = path.rsplit("/", 1)[-1]
        lines = text.split("\n")
        if lines and lines[0] == "---":  # front matter (syntax, tags)
            end = lines.index("---", 1) if "---" in lines[1:] else 0
            lines = [""] * (end + 1) + lines[end + 1 :]
        block = [
            (number, line) for number, line in enumerate(lines, start=1) if line.strip() and not line.startswith("#")
        ]
        for number, group in _commands_of_block(block):
            if program_of(group[0]) != name:  # explanations and key bindings are not commands
                continue
            cases.append(Case(f"cheat/{name}/{number}", "cheat", f"{name}#L{number}", repo.commit, group, risky=False))
    return cases


# --- benign: EXAMPLES sections of Debian man pages -----------------------------------------------------------------

# Pages of ordinary administration and developer tools; each page's EXAMPLES section gives commands typed as shown.
MAN_SECTIONS = ("man1", "man8")
_ROFF_ESCAPES = [
    (r"\\f[BIRP]|\\f\(..|\\f\[[^]]*\]", ""),
    (r"\\-", "-"),
    (r"\\e", "\\\\"),
    (r"\\\(aq", "'"),
    (r"\\\(dq", '"'),
    (r"\\\(ti", "~"),
    (r"\\\(ha", "^"),
    (r"\\\(cq|\\\(oq", "'"),
    (r"\\\(rs", "\\\\"),
    (r"\\&|\\:|\\/|\\,|\\%", ""),
    (r"\\ ", " "),
    (r"\\\(em|\\\(en", "-"),
    (r"\\\*\(.{2}|\\\*.", ""),
]


def _roff_text(line: str) -> str:
    for pattern, replacement in _ROFF_ESCAPES:
        line = re.sub(pattern, replacement, line)
    return line


def _man_examples(source: str) -> list[tuple[int, str]]:
    """Lines of the EXAMPLES section's literal (.nf/.EX) blocks, roff requests removed."""
    lines = source.split("\n")
    inside_section = literal = False
    found: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if line.startswith((".SH", ".Sh")):
            title = line[3:].strip().strip('"').upper()
            inside_section = title.startswith(("EXAMPLE", "EXEMPLE"))
            literal = False
            continue
        if not inside_section:
            continue
        if line.startswith((".nf", ".EX", ".Bd")):
            literal = True
        elif line.startswith((".fi", ".EE", ".Ed")):
            literal = False
            found.append((number, ""))
        elif literal and not line.startswith(("'", '.\\"')) and not re.match(r"^\.[A-Za-z]{1,2}(\s|$)", line):
            found.append((number, _roff_text(line)))
    return found


def _dpkg_owner(path: str) -> tuple[str, str] | None:
    result = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True, check=False)  # noqa: S603, S607
    if result.returncode != 0:
        return None
    package = result.stdout.split(":", 1)[0].split(",")[0].strip()
    query = ["dpkg-query", "-W", "-f=${Version}", package]
    version = subprocess.run(query, capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    return package, version


def man_cases(man_root: Path) -> list[Case]:
    cases: list[Case] = []
    for section in MAN_SECTIONS:
        for page in sorted((man_root / section).glob("*.gz")):
            if page.is_symlink():
                continue
            source = gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace")
            examples = _man_examples(source)
            if not examples:
                continue
            owner = _dpkg_owner(str(page))
            if owner is None:
                continue
            package, version = owner
            name = page.name.removesuffix(".gz")
            block: list[tuple[int, str]] = []
            for number, text in [*examples, (0, "")]:
                stripped = (
                    re.sub(r"^\s*(?:\$|%|#)\s+(?=\S)", "", text).strip()
                    if re.match(r"^\s*[$%#]\s", text)
                    else text.strip()
                )
                if stripped and number:
                    block.append((number, stripped))
                    continue
                for line_number, group in _commands_of_block(block):
                    program = program_of(group[0])
                    # Output, configuration and code shown in EXAMPLES do not start an installed program.
                    if program != name.rsplit(".", 1)[0] and shutil.which(program) is None:
                        continue
                    cases.append(
                        Case(
                            f"man/{name}/{line_number}",
                            "debian-man",
                            f"{section}/{name}#L{line_number}",
                            f"{package} {version}",
                            group,
                            risky=False,
                        )
                    )
                block = []
    return cases


# --- benign: administration scenarios written for this corpus -----------------------------------------------------


def scenario_cases(path: Path) -> list[Case]:
    """Paragraphs of a scenarios text file: each paragraph is one case, its lines typed in one session."""
    cases: list[Case] = []
    paragraph: list[tuple[int, str]] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip() and not line.startswith("#"):
            paragraph.append((number, line))
        elif paragraph and not line.strip():
            first = paragraph[0][0]
            cases.append(
                Case(
                    f"{path.stem}/{first}",
                    "scenarios",
                    f"{path.name}#L{first}",
                    "",
                    [text for _, text in paragraph],
                    False,
                )
            )
            paragraph = []
    return cases


# --- writing -------------------------------------------------------------------------------------------------------


def dual_use(case_id: str, *, risky: bool) -> str:
    """The curation's reason for counting a case neither as benign nor as risky, or "" (evaluation/curation.py):
    an offensive example in a benign source, or a risky source's case that is not risky when typed."""
    listed = RISKY_NOT_RISKY_WHEN_TYPED if risky else BENIGN_DUAL_USE
    for reason, entries in listed.items():
        if any(case_id == entry or (entry.endswith("/") and case_id.startswith(entry)) for entry in entries):
            return reason
    return ""


def write_cases(folder: Path, cases: Iterable[Case]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    unique: dict[str, Case] = {}
    for case in cases:
        case.dual_use = dual_use(case.id, risky=case.risky)
        unique.setdefault(case.id, case)
    path = folder / "cases.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for case in unique.values():
            out.write(json.dumps(case.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    return len(unique)


def write_source(folder: Path, url: str, commit: str, licence: str, extra: str = "") -> None:
    text = f"source: {url}\ncommit: {commit}\nlicence: {licence}\n{extra}"
    (folder / "SOURCE").write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class GitSource:
    """A corpus folder built from one repository: how to read it and what licence file to copy."""

    option: str
    folder: str
    url: str
    licence: str
    licence_file: str
    build: Callable[[Repository], list[Case]]
    commit: str = "HEAD"


GIT_SOURCES = (
    GitSource("gtfobins", "gtfobins", GTFOBINS_URL, "GPL-3.0 (LICENSE)", "LICENSE", gtfobins_cases),
    GitSource("sigma", "sigma", SIGMA_URL, "Detection Rule License 1.1 (LICENSE)", "", sigma_cases),
    GitSource(
        "payloads", "payloadsallthethings", PAYLOADS_URL, "MIT (LICENSE)", "LICENSE", payloads_cases, PAYLOADS_COMMIT
    ),
    GitSource("eg", "eg", EG_URL, "MIT (LICENSE)", "LICENSE.txt", eg_cases),
    GitSource("cheat", "cheat", CHEAT_URL, "CC0-1.0 (LICENSE)", ".github/LICENSE.txt", cheat_cases),
)


def build_git_source(source: GitSource, git_dir: str) -> None:
    repo = Repository(git_dir, source.commit)
    folder = CORPUS / source.folder
    count = write_cases(folder, source.build(repo))
    write_source(folder, source.url, repo.commit, source.licence)
    if source.licence_file:
        (folder / "LICENSE").write_text(repo.text(source.licence_file), encoding="utf-8")
    print(f"{source.folder}: {count} cases")


def add_sigma_licence(git_dir: str) -> None:
    """SigmaHQ's rules are under the DRL 1.1, whose text lives in its own repository."""
    drl = Repository(git_dir)
    with (CORPUS / "sigma" / "SOURCE").open("a", encoding="utf-8") as source:
        source.write(f"licence text: https://github.com/SigmaHQ/Detection-Rule-License commit {drl.commit}\n")
    (CORPUS / "sigma" / "LICENSE").write_text(drl.text("LICENSE.Detection.Rules.md"), encoding="utf-8")


def build_man_pages(man_root: Path) -> None:
    cases = man_cases(man_root)
    count = write_cases(CORPUS / "debian-man", cases)
    packages = "".join(f"  - {package}\n" for package in sorted({case.commit for case in cases}))
    licence = "each page's own, in /usr/share/doc/<package>/copyright of the Debian package named"
    url = "Debian 12 (bookworm) man pages, EXAMPLES sections"
    write_source(CORPUS / "debian-man", url, "-", licence, f"packages:\n{packages}")
    print(f"debian-man: {count} cases")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    for source in GIT_SOURCES:
        parser.add_argument(f"--{source.option}", metavar="GIT_DIR", help=f"clone of {source.url}")
    parser.add_argument("--drl", metavar="GIT_DIR", help="clone of SigmaHQ/Detection-Rule-License")
    parser.add_argument("--man", help="man page root (default /usr/share/man)", nargs="?", const="/usr/share/man")
    args = parser.parse_args(argv)
    for source in GIT_SOURCES:
        if git_dir := getattr(args, source.option):
            build_git_source(source, git_dir)
    if args.drl:
        add_sigma_licence(args.drl)
    scenarios = CORPUS / "scenarios"
    print(f"scenarios: {write_cases(scenarios, scenario_cases(scenarios / 'benign.txt'))} cases")
    write_source(scenarios, "written for this corpus (benign.txt)", "-", "CC0-1.0")
    if args.man:
        build_man_pages(Path(args.man))


if __name__ == "__main__":
    main()
