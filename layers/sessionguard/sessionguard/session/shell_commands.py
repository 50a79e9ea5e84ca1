"""What one simple command becomes once the shell lexer (`shell`) has read its words.

Wrappers are skipped (`sudo -u x -E`, `env A=1`, `timeout 10` ...), leading assignments and redirections are
set apart, the command name loses a system path, and the command strings a shell is told to run (`sh -c`,
`eval`, `su -c`, `bash <<<`) are queued to be read again. Also the lexer's data: words, substitutions, frames and
the context shared by a line and every command string re-read from it. Linear time, never raises.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from sessionguard.session.shell_paths import (
    CHANGES_DIRECTORY,
    MAY_EXPAND,
    Expansions,
    changed_directory,
    glob_matches,
    resolved_arguments,
)

DOUBLE_SPACE = re.compile(r"  +")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")

# A command name that may not be the program's plain name: a path, a variable or a glob.
_UNUSUAL_NAME = re.compile(r"[/$*?]")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
# An unquoted brace list spelling a whole command without blanks (`{curl,-s,URL}`): bash makes each item a word.
_BRACE_LIST = re.compile(r"\{[^{},\s]*(?:,[^{},\s]*)+\}")
_MAX_BRACE_LIST = 4096
# A word of nothing but lower-case variables (`$u`, `${x}$y`): shell-local names, unset unless the line sets them.
_ONLY_LOCAL_VARIABLES = re.compile(r"(?:\$\{[a-z_][a-z0-9_]*\}|\$[a-z_][a-z0-9_]*)+")
_BLANK = re.compile(r"\s")
_GLOB = re.compile(r"[*?]")
_LETTER = re.compile(r"[A-Za-z]")
_MAX_GLOB_LENGTH = 64
_MAX_EXPANDED_SEGMENTS = 16  # put back into the line's whole (shell._normalize)
# Builtins that set variables for the rest of the line (`export X=/etc; cat $X/shadow`).
_DECLARATIONS = frozenset({"export", "declare", "typeset", "readonly", "local"})
_MAX_VARIABLES = 64
_MAX_VARIABLE_LENGTH = 256
# What a globbed command name is tried against: the programs an attacker spells this way to slip past rules.
_GLOB_CANDIDATES = (
    "bash", "sh", "dash", "zsh", "ksh", "curl", "wget", "nc", "ncat", "netcat", "socat", "python3", "python",
    "perl", "ruby", "php", "base64", "cat", "chmod", "chown", "rm", "id", "whoami", "nmap", "busybox", "openssl",
)  # fmt: skip
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox awk"})
_INTERPRETERS = _AWKS | frozenset(
    {"python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "jrunscript", "irb", "julia"}
    | {f"python3.{minor}" for minor in range(6, 15)}
    | {f"php{major}" for major in ("5", "7", "8")}
    | {f"lua5.{minor}" for minor in range(1, 5)}
)
_CODE_OPTIONS = frozenset({"-c", "-e", "-E", "-r", "--eval", "-R"})
# A string literal handed to a function that runs a command (or to Perl/Ruby/PHP backticks). Character classes
# and possessive runs of blanks only, so matching stays linear on hostile text.
_CODE_COMMAND = re.compile(
    r"(?:\b(?:system|popen[23]?|exec[lvpe]*|spawn[lvpe]*|shell_exec|passthru|proc_open|execSync|spawnSync"
    r"|check_output|check_call|call|run|Popen|getoutput|getstatusoutput|execute|callCommand|Start)\s*+\(?\s*+\[?\s*+"
    r"(?:\"([^\"\n]*)\"|'([^'\n]*)'))"
    r"|`([^`\n]+)`"
)
_MAX_CODE_COMMANDS = 16

_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh", "rbash"})
# Running these from elsewhere (/tmp/bash, /dev/shm/x) is itself interesting, so only these lose their path.
_SYSTEM_BIN_DIRS = frozenset({"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"})
_RUNS_COMMAND_STRINGS = _SHELLS | {"su", "runuser", "script"}
_KEYWORDS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "{", "!"})
_SPECIAL_COMMANDS = _KEYWORDS | _RUNS_COMMAND_STRINGS  # wrappers are added below, once defined


@dataclass(frozen=True, slots=True)
class _WrapperSpec:
    """How to skip a wrapper's own options to reach the command it runs."""

    short_with_arg: str = ""  # option letters that take the next word (`-u root`) unless attached (`-uroot`)
    long_with_arg: frozenset[str] = frozenset()  # `--user root`; `--user=root` needs no entry
    positional: int = 0  # arguments before the command (`timeout 10 cmd`)
    mode_flags: str = ""  # letters that mean "not running a command" (`sudo -l`, `command -v`): keep as is


_WRAPPERS: dict[str, _WrapperSpec] = {
    "sudo": _WrapperSpec(
        "ughpCDrtTUR",
        frozenset(
            {"user", "group", "host", "prompt", "close-from", "chdir", "role", "type", "command-timeout"}
            | {"other-user", "chroot"}
        ),
        mode_flags="elvkKV",
    ),
    "doas": _WrapperSpec("uC"),
    "env": _WrapperSpec("uCS", frozenset({"unset", "chdir", "split-string"})),
    "nohup": _WrapperSpec(),
    "exec": _WrapperSpec("a"),
    "time": _WrapperSpec("fo", frozenset({"format", "output"})),
    "nice": _WrapperSpec("n", frozenset({"adjustment"})),
    "ionice": _WrapperSpec("cnp", frozenset({"class", "classdata", "pid"})),
    "timeout": _WrapperSpec("sk", frozenset({"signal", "kill-after"}), positional=1),
    "stdbuf": _WrapperSpec("ioe", frozenset({"input", "output", "error"})),
    "command": _WrapperSpec(mode_flags="vV"),
    "builtin": _WrapperSpec(),
    "setsid": _WrapperSpec(),
    "xargs": _WrapperSpec(
        "IPLdEsan", frozenset({"arg-file", "delimiter", "max-args", "max-procs", "max-lines", "max-chars"})
    ),
    "busybox": _WrapperSpec(),
    "unbuffer": _WrapperSpec(),
    # Proxies, CPU and scheduling limits, tracers, locks and sandboxes that run a command as given (a miner under
    # `cpulimit`, a scanner under `proxychains`). A pid option (`-p`) means an existing process: no command.
    "proxychains": _WrapperSpec("f"),
    "proxychains4": _WrapperSpec("f"),
    "torsocks": _WrapperSpec("uapP", frozenset({"user", "pass", "address", "port"})),
    "tsocks": _WrapperSpec(),
    "cpulimit": _WrapperSpec("le", frozenset({"limit", "exe"}), mode_flags="pP"),
    "taskset": _WrapperSpec(positional=1, mode_flags="p"),  # `taskset [-c] MASK cmd`
    "chrt": _WrapperSpec("TPD", positional=1, mode_flags="pm"),  # `chrt [-f|-r|-b|-i|-o|-d] PRIORITY cmd`
    "strace": _WrapperSpec("eoEsSuIbXaP", frozenset({"output", "env", "user"}), mode_flags="p"),
    "ltrace": _WrapperSpec("eosunAaDF", frozenset({"output"}), mode_flags="p"),
    # -n (no wait), -s, -x, -u, -o are switches; -w and -E take a value
    "flock": _WrapperSpec("wE", frozenset({"timeout", "wait", "conflict-exit-code"}), positional=1, mode_flags="c"),
    "firejail": _WrapperSpec(),
    "faketime": _WrapperSpec(positional=1, mode_flags="p"),  # -m and -f are switches; -p PID fakes a process
    # These two run their arguments as a command string. They are skipped like wrappers, so `eval eval ... x`
    # costs nothing per level, then what follows the last one is re-parsed once (`eval 'a; b'`); the segment
    # itself keeps them, as `eval $(curl ...)` means more than `$(curl ...)`.
    "eval": _WrapperSpec(),
    "watch": _WrapperSpec("nd", frozenset({"interval", "differences"})),
}
_REPARSED_WRAPPERS = frozenset({"eval", "watch"})
# `cd` leaves the fast path so that the directory it goes to is remembered for `./x` later in the line.
_SPECIAL_COMMANDS |= _WRAPPERS.keys() | CHANGES_DIRECTORY | _DECLARATIONS


class Sub:
    """A command substitution inside a word: `$(...)`, backticks (rendered as `$(...)`), `<(...)`, `>(...)`."""

    __slots__ = ("opener", "tokens")

    def __init__(self, opener: str, tokens: list[object]) -> None:
        self.opener = opener
        self.tokens = tokens


class Word:
    __slots__ = ("has_sub", "parts", "quoted", "redirect")

    def __init__(self, redirect: bool = False) -> None:
        self.parts: list[str | Sub] = []
        self.redirect = redirect
        self.quoted = False  # quoted or escaped somewhere: `'2'>x` has no io-number
        self.has_sub = False

    def text(self) -> str:
        """The word as it appears in a segment; substitutions are elided, they are segments themselves."""
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        return "".join(part if isinstance(part, str) else part.opener + "...)" for part in self.parts)


class Cmd:
    """A normalized simple command inside `whole` that holds substitutions: pieces to concatenate."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[str | Sub]) -> None:
        self.pieces = pieces


class Frame:
    """The top level or one open substitution, with the simple command being collected."""

    __slots__ = ("closer", "flat", "in_dq", "opener", "out", "parens", "word", "words")

    def __init__(self, opener: str, closer: str) -> None:
        self.opener = opener
        self.closer = closer
        self.out: list[object] = []  # operators (str) and Cmd, joined by spaces in `whole`
        self.words: list[Word] = []
        self.word: Word | None = None
        self.in_dq = False
        self.parens = 0
        # Substitutions opened beyond shell._MAX_DEPTH, flattened into this frame: (closer, in_dq to restore) each.
        self.flat: list[tuple[str, bool]] = []


class Context:
    """State shared by the line and every command string re-parsed from it."""

    __slots__ = (
        "budget", "directory", "expanded", "expansions", "inner", "queue", "seen", "segments", "substitution_budget",
        "variables",
    )  # fmt: skip

    def __init__(self, budget: int) -> None:
        # Variables assigned by earlier commands of the line (`a=cu; b=rl; $a$b …`), to spell command names.
        self.variables: dict[str, str] = {}
        # The absolute directory an earlier `cd` of the line went to (`cd /tmp; ./x` runs /tmp/x), else "".
        self.directory = ""
        # What expanding arguments may still cost (shell_paths), and the segments whose arguments expand with what
        # they expand to (the line is also matched with them expanded): made for the few lines that need them.
        self.expansions: Expansions | None = None
        self.expanded: dict[str, str] | None = None
        self.segments: list[str] = []
        self.seen: set[str] = set()
        self.inner: list[str] = []
        self.queue: deque[str] = deque()
        self.budget = budget
        # Substitution bodies rendered as inner lines have their own allowance, so deeply nested ones cannot use up
        # the budget that re-parses `sh -c` strings.
        self.substitution_budget = budget

    def add_segment(self, segment: str) -> None:
        if "  " in segment:
            segment = DOUBLE_SPACE.sub(" ", segment)
        segment = segment.strip(" ")
        if segment and segment not in self.seen:
            self.seen.add(segment)
            self.segments.append(segment)

    def remember_assignments(self, assignments: Iterator[str]) -> None:
        for assignment in assignments:
            name, _, value = assignment.partition("=")
            if name.endswith("+"):  # `X+=/shadow` appends
                name = name[:-1]
                value = self.variables.get(name, "") + value
            if len(self.variables) < _MAX_VARIABLES and len(value) <= _MAX_VARIABLE_LENGTH and name.isidentifier():
                self.variables[name] = value

    def run_later(self, command_string: str) -> None:
        # Queued, not recursed into: `eval eval eval ...` must not grow the Python stack.
        if command_string and len(command_string) <= self.budget:
            self.budget -= len(command_string)
            self.queue.append(command_string)


def _skip_wrapper_options(spec: _WrapperSpec, texts: list[str], start: int) -> int | None:
    """Index of the first word after the wrapper's options, or None when the wrapper runs no command."""
    j = start
    positional = spec.positional
    count = len(texts)
    while j < count:
        word = texts[j]
        if word == "--":
            return j + 1
        if word.startswith("--"):
            name, equals, _ = word[2:].partition("=")
            j += 2 if not equals and name in spec.long_with_arg else 1
            continue
        if word.startswith("-"):
            letters = word[1:]
            if any(letter in spec.mode_flags for letter in letters):
                return None
            j += 1
            for index, letter in enumerate(letters):
                if letter in spec.short_with_arg:
                    if index == len(letters) - 1:
                        j += 1
                    break
            continue
        if positional:
            positional -= 1
            j += 1
            continue
        break
    return j


def finish_command(frame: Frame, ctx: Context) -> None:
    words = frame.words
    if words:
        frame.words = []
        frame.word = None
        if len(words) == 1 and len(words[0].parts) == 1 and not isinstance(words[0].parts[0], str):
            # A command that is only a substitution (`$(...)` runs its output): nothing to match but the
            # substitution, which has its own segments. Cheap, as `$($($(...)))` can nest as deep as it is long.
            frame.out.append(Cmd(words[0].parts))
            return
        with_subs = words if any(word.has_sub for word in words) else None
        emit_command([word.text() for word in words], [word.redirect for word in words], with_subs, frame.out, ctx)


def _brace_items(text: str) -> list[str]:
    """The words bash makes of an unquoted brace list that spells a command without blanks (`{curl,-s,URL}`; an
    empty item is no word), else none."""
    if len(text) > _MAX_BRACE_LIST or not _BRACE_LIST.fullmatch(text):
        return []
    return [item for item in text[1:-1].split(",") if item]


def emit_command(  # noqa: PLR0912, PLR0915 -- the steps below are in the order the shell applies them
    texts: list[str],
    redirects: list[bool] | None,
    words: list[Word] | None,
    out: list[object],
    ctx: Context,
) -> None:
    """Add the simple command's segment(s) to ctx and its normalized form to `out` (the frame's `whole`).

    `redirects` is None when no word is a redirection operator; `words` is None when no word holds a
    substitution (always on the fast paths), else they carry the words' parts.
    """
    if words is None and (items := _brace_items(texts[0])):
        # `{curl,-s,URL}|{bash,}`: bash expands the list into the words of a command (an empty item is no word).
        # The command as typed stays a segment of its own, for rules about the spelling (SG-OBF-006).
        ctx.add_segment(" ".join(texts))
        if redirects is not None:
            redirects = [False] * len(items) + redirects[1:]
        texts = items + texts[1:]
    first = texts[0]
    if (
        first not in _SPECIAL_COMMANDS
        and "=" not in first
        and not _UNUSUAL_NAME.search(first)
        and first not in _INTERPRETERS
        and (redirects is None or not redirects[0])
        and words is None
    ):
        # The common case: a plain command with nothing to strip, rewrite or re-parse.
        segment = " ".join(texts)
        ctx.add_segment(segment)
        out.append(segment)
        if ctx.directory or MAY_EXPAND.search(segment):
            _add_expanded_arguments(texts, ctx)
        return
    count = len(texts)
    if redirects is None:
        redirects = [False] * count
    assignments: list[int] = []
    moved: list[int] = []
    reparse_from = shown_from = first_wrapper = -1
    i = 0
    while i < count:
        if redirects[i]:  # `>/dev/null rm -rf /`: the redirection moves behind the command
            moved.append(i)
            if i + 1 < count:
                moved.append(i + 1)
            i += 2
            continue
        text = texts[i]
        if "=" in text and _ASSIGNMENT.match(text):
            assignments.append(i)
            i += 1
            continue
        if "$" in text and i + 1 < count and _expands_to_nothing(text, texts, assignments, ctx):
            i += 1  # `$u curl …`: an unset variable is no word at all, so the next word is the command
            continue
        name = _basename(text)
        if name in _KEYWORDS:
            if name == "!" and first_wrapper < 0:
                first_wrapper = i  # `! /bin/sh` is what a pager's or client's shell escape looks like
            i += 1
            continue
        spec = _WRAPPERS.get(name)
        if spec is None:
            if i > 0 and words is None and (items := _brace_items(text)):
                # `sudo {cat,/etc/shadow}`, `nohup {bash,-i} >& …`: the wrapped command is a brace list too (the
                # line as typed stays a segment, as above); its items are read from here on, wrappers included.
                ctx.add_segment(" ".join(texts))
                texts = [*texts[:i], *items, *texts[i + 1 :]]
                redirects = [*redirects[:i], *[False] * len(items), *redirects[i + 1 :]]
                count = len(texts)
                continue
            break
        after = _skip_wrapper_options(spec, texts, i + 1)
        if after is None:
            break
        if name in _REPARSED_WRAPPERS:
            if reparse_from < 0:
                shown_from = i  # `eval`/`watch` change what runs: the segment keeps them, from the first one
            reparse_from = after
        elif first_wrapper < 0:
            first_wrapper = i
        i = after

    runs_nothing = i >= count
    if runs_nothing:  # nothing but wrappers, assignments or redirections (`sudo -i`, `HISTFILE=`, `> log`)
        kept = list(range(count))
        ctx.remember_assignments(texts[index] for index in assignments)
        assignments = []
    elif reparse_from >= 0:
        kept = list(range(shown_from, count)) + moved
    elif i == 0 and not moved:
        kept = list(range(count))
    else:
        kept = list(range(i, count)) + moved
    command_index = kept[0]
    command_text = texts[command_index]
    name = command_text
    keep_path_too = False
    if not redirects[command_index] and (command_text.startswith("/") or not runs_nothing):
        spelled = command_text if runs_nothing else _resolved_name(command_text, texts, assignments, ctx)
        if "/" in spelled:
            directory, _, base = spelled.rpartition("/")
            if base:
                name = base
                # `./find`, `bin/x`, `/tmp/.x/miner`: where it ran from matters, so that spelling is kept too.
                keep_path_too = (directory or "/") not in _SYSTEM_BIN_DIRS
        elif spelled != command_text:
            name = spelled
            keep_path_too = True

    segment_words = [texts[index] for index in kept]
    segment_words[0] = name
    segment = " ".join(segment_words)
    ctx.add_segment(segment)
    expanded = _add_expanded_arguments(segment_words, ctx) if ctx.directory or MAY_EXPAND.search(segment) else None
    if keep_path_too:
        ctx.add_segment(" ".join(texts[index] for index in kept))
        if ctx.directory and command_text.startswith("./"):
            # `cd /tmp; ./x`: the program that runs is /tmp/x, and rules about where programs run from see that.
            ctx.add_segment(" ".join([ctx.directory.rstrip("/") + command_text[1:], *segment_words[1:]]))
    if name in CHANGES_DIRECTORY:
        ctx.directory = changed_directory(segment_words, ctx.directory, ctx.variables)
    elif name in _DECLARATIONS:  # `export X=/etc`, `declare -r X=/etc`: set for the rest of the line
        ctx.remember_assignments(word for word in segment_words[1:] if "=" in word and _ASSIGNMENT.match(word))
    # A shell fed by a pipe (`curl … | sudo sh`) runs what it reads, which other rules judge; it is not the
    # interactive shell the wrapped form stands for. Under xargs it is not fed by the pipe: xargs reads the pipe
    # and starts the shell with the terminal (`-o`) or /dev/null as its input.
    piped_shell = (
        name in _SHELLS and bool(out) and out[-1] in ("|", "|&") and "xargs" not in texts[first_wrapper:command_index]
    )
    if first_wrapper >= 0 and reparse_from < 0 and not piped_shell:
        # What ran it matters too (`sudo find …`, `nice /bin/sh`): the segment with its wrappers, assignments
        # left out (they have their own segment) and the command's name as above.
        wrapped = _wrapped_segment(texts, first_wrapper, command_index, name, assignments)
        ctx.add_segment(wrapped)
        if expanded is not None and wrapped.endswith(segment):  # `sudo cat /etc/sha*`, for rules about sudo
            ctx.add_segment(wrapped[: len(wrapped) - len(segment)] + expanded)
    if assignments:
        assigned = " ".join(texts[index] for index in assignments)
        ctx.add_segment(assigned)
        if 0 <= first_wrapper < assignments[0] and reparse_from < 0:
            # `sudo LESSOPEN='/bin/sh …' less`: the variable reaches a program that sudo runs as root, which rules
            # about privileged escapes need to see.
            ctx.add_segment(f"{_basename(texts[first_wrapper])} {assigned}")
    if name in _INTERPRETERS:
        _queue_code_commands(segment_words, ctx)
    if 0 <= reparse_from < count:
        _run_words_later(texts, words, reparse_from, ctx, single=False)
    if name in _RUNS_COMMAND_STRINGS:
        kept_words = [words[index] for index in kept] if words is not None else None
        _queue_command_strings(name, segment_words, [redirects[index] for index in kept], kept_words, ctx)

    if words is None or not any(words[index].has_sub for index in kept):
        out.append(segment)
        return
    pieces: list[str | Sub] = [name] if name != command_text else list(words[command_index].parts)
    for index in kept[1:]:
        pieces.append(" ")
        pieces.extend(words[index].parts)
    out.append(Cmd(pieces))


def _queue_command_strings(
    name: str, texts: list[str], redirects: list[bool], words: list[Word] | None, ctx: Context
) -> None:
    """Queue the command strings this command hands to a shell (`sh -c X`, `bash <<< X`, `su -c X`)."""
    if name in _SHELLS:
        for index in range(1, len(texts) - 1):
            arg = texts[index]
            if len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and "c" in arg and not redirects[index]:
                _run_words_later(texts, words, index + 1, ctx, single=True)
                break
        for index in range(1, len(texts) - 1):
            if redirects[index] and texts[index] == "<<<":
                _run_words_later(texts, words, index + 1, ctx, single=True)
    else:  # su, runuser, script
        for index in range(1, len(texts)):
            arg = texts[index]
            if arg in ("-c", "--command") and index + 1 < len(texts):
                _run_words_later(texts, words, index + 1, ctx, single=True)
            elif arg.startswith("--command="):
                ctx.run_later(arg.partition("=")[2])


def _run_words_later(texts: list[str], words: list[Word] | None, start: int, ctx: Context, *, single: bool) -> None:
    """Queue word `start` (or all words from it, space-joined) as a command string, substitutions included."""
    stop = start + 1 if single else len(texts)
    if words is None:
        ctx.run_later(" ".join(texts[start:stop]))
        return
    pieces: list[str] = []
    for word in words[start:stop]:
        if pieces:
            pieces.append(" ")
        for part in word.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            # Rendering is charged to the budget first, so nested `sh -c "$(sh -c ...)"` stays linear.
            rendered = render(part.tokens, limit=ctx.budget)
            if rendered is None:
                return
            ctx.budget -= len(rendered)
            pieces.extend((part.opener, rendered, ")"))
    ctx.run_later("".join(pieces))


def _add_expanded_arguments(words: list[str], ctx: Context) -> str | None:
    """The segment again with its arguments expanded as the shell would (shell_paths: `cat /etc/sha*` reads
    /etc/shadow), when that changes any; remembered for the line's whole (shell._normalize)."""
    if ctx.expansions is None:
        ctx.expansions = Expansions()
    resolved = resolved_arguments(words, ctx.variables, ctx.directory, ctx.expansions)
    if resolved is None:
        return None
    expanded = " ".join(resolved)
    ctx.add_segment(expanded)
    if ctx.expanded is None:
        ctx.expanded = {}
    if len(ctx.expanded) < _MAX_EXPANDED_SEGMENTS:
        ctx.expanded.setdefault(" ".join(words), expanded)
    return expanded


def _wrapped_segment(
    texts: list[str], first_wrapper: int, command_index: int, name: str, assignments: list[int]
) -> str:
    words: list[str] = []
    skipped = set(assignments)  # a set: `sudo A=1 A=1 … x` may hold as many assignments as words
    for index in range(first_wrapper, len(texts)):
        if index in skipped:
            continue
        if index == first_wrapper:
            words.append(_basename(texts[index]))
        else:
            words.append(name if index == command_index else texts[index])
    return " ".join(words)


def _expands_to_nothing(word: str, texts: list[str], assignments: list[int], ctx: Context) -> bool:
    """Whether `word` is only lower-case variables that nothing on the line set (`$u`, `${x}$y`): the shell drops
    such a word. An upper-case name ($EDITOR, $SHELL) usually comes from the environment, which the line does not
    show, so it is left as the command name."""
    return bool(_ONLY_LOCAL_VARIABLES.fullmatch(word)) and not _expanded(word, texts, assignments, ctx)


def _expanded(word: str, texts: list[str], assignments: list[int], ctx: Context) -> str:
    """`word` with its variables expanded from those the line set so far (an unset one is empty)."""
    ctx.remember_assignments(texts[index] for index in assignments)
    return _VARIABLE.sub(lambda m: ctx.variables.get(m[1] or m[2], ""), word)


def _resolved_name(word: str, texts: list[str], assignments: list[int], ctx: Context) -> str:
    """The command name as the shell would find it: variables expanded (an unset one is empty, so `c${x}url` is
    curl) and a glob matched against the programs attackers hide (`/???/b??h` is /bin/bash)."""
    if "$" in word:
        expanded = _expanded(word, texts, assignments, ctx)
        if expanded and not _BLANK.search(expanded):
            word = expanded
    if _GLOB.search(word) and len(word) <= _MAX_GLOB_LENGTH and _LETTER.search(word):
        for candidate in _GLOB_CANDIDATES:
            for spelled in (candidate, "/bin/" + candidate, "/usr/bin/" + candidate):
                if glob_matches(word, spelled):
                    return spelled
    return word


def _queue_code_commands(words: list[str], ctx: Context) -> None:
    """Commands that interpreter code hands to a shell (`python -c 'os.system("…")'`, awk's system(), Perl and
    Ruby backticks) are read again like `sh -c` strings, so the same rules see them."""
    code = _interpreter_code(words)
    if not code:
        return
    for found, match in enumerate(_CODE_COMMAND.finditer(code)):
        if found >= _MAX_CODE_COMMANDS:
            break
        ctx.run_later(next(group for group in match.groups() if group is not None))


def _interpreter_code(words: list[str]) -> str:
    name = words[0]
    if name in _AWKS:
        for index in range(1, len(words)):
            word = words[index]
            if word.startswith("-"):
                continue
            if index > 1 and words[index - 1] in ("-f", "-v", "-F"):
                continue
            return word
        return ""
    for index in range(1, len(words) - 1):
        if words[index] in _CODE_OPTIONS:
            return words[index + 1]
    return ""


def _basename(word: str) -> str:
    if word.startswith("/"):
        base = word.rpartition("/")[2]
        return base or word
    return word


def render_line(tokens: list[object], *, plain: bool = False) -> str:
    """`plain`: the fast lexers produce no substitutions, so every token is already a string."""
    simple = plain or all(type(token) is str for token in tokens)
    whole = " ".join(tokens) if simple else render(tokens) or ""  # type: ignore[arg-type]
    if "  " in whole:
        whole = DOUBLE_SPACE.sub(" ", whole)
    return whole.strip(" ")


def render(tokens: list[object], limit: int | None = None) -> str | None:
    """Flatten the nested output iteratively (substitutions can nest as deep as the text is long).

    Token lists (a frame's output) are joined with spaces, a Cmd's pieces are concatenated, a Sub is wrapped in
    its opener and `)`. With a limit, give up (None) as soon as the output would be longer.
    """
    out: list[str] = []
    size = 0
    iterators: list[Iterator[object]] = [iter(tokens)]
    spaced = [True]  # this level's items are separated by spaces
    first = [True]
    closers = [""]
    while iterators:
        item = next(iterators[-1], None)
        if item is None:
            iterators.pop()
            spaced.pop()
            first.pop()
            out.append(closers.pop())
            continue
        if spaced[-1]:
            if first[-1]:
                first[-1] = False
            else:
                out.append(" ")
        if isinstance(item, str):
            out.append(item)
            if limit is not None:
                size += len(item) + 1
                if size > limit:
                    return None
            continue
        if isinstance(item, Sub):
            out.append(item.opener)
            iterators.append(iter(item.tokens))
            spaced.append(True)
            closers.append(")")
        else:
            iterators.append(iter(item.pieces))  # type: ignore[attr-defined]
            spaced.append(False)
            closers.append("")
        first.append(True)
    return "".join(out)
