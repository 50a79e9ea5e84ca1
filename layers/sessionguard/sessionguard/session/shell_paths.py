"""What a command's arguments name once the shell has expanded them, so that a file is recognised however it was
spelled: `cat /etc/sha*`, `cat /e??/shadow`, `cat /etc/s[h]adow`, `cat /etc/{shadow,passwd}`, `cat //etc/./shadow`,
`X=/etc; cat $X/shadow`, `cat ${HOME:0:1}etc${HOME:0:1}shadow` and `cd /etc && cat shadow` all read /etc/shadow.

The rules match paths in the text of a segment. These spellings reach the same file through the shell's own
expansions, which happen after the text is typed, so `shell_commands.emit_command` adds a segment in which each
argument is expanded as the shell would, as far as a line shows it (and the same with the command's wrappers,
`sudo cat /etc/shadow`, and the whole line with such segments expanded, for rules that match a line):

- brace lists first (`/etc/{shadow,passwd}`: one word per item), then variables that earlier commands of the
  line set (`X=/etc;`, `export X=/etc;`), `${X:-default}` when the line did not set X, `$PWD` after a known
  `cd`, and the first character of the variables that always hold an absolute path (`${HOME:0:1}` is `/`);
  any other variable stays as typed;
- a relative path, against the directory earlier `cd`/`pushd` of the line went to (`cd /etc; cat shadow`,
  `cd /etc/ssh; cd ..; cat shadow`), also after `if=`-style options; not numbers, modes or `.`/`..` alone, not
  the arguments of commands that take words (`man shadow`, `git log -- shadow`) nor the pattern before a
  grep's or sed's files (`grep -r shadow .`), nor the operand of a here-document or a descriptor redirection;
- `.`, `..` and repeated slashes (`/etc/./shadow`, `//etc//shadow`, `/tmp/../etc/shadow`);
- a glob (`*`, `?`, `[...]` with ranges, negation and POSIX classes), matched against the files attackers reach
  for (`_SENSITIVE_FILES`, `_HOME_FILES`): the shell would list the files that exist, which the line does not
  show, so only these are tried. A glob that matches files of two kinds (`/var/log/*.log`, `~/.ssh/*`, `~/.*rc`)
  or more than `_MAX_GLOB_MATCHES` (`/etc/*`) names a directory's contents rather than a file and stays as
  typed. No glob is expanded in an `--option=value` word, as bash expands none there.

The segment as typed stays too: rules about the spelling still see it. Everything here is linear in the line:
words, items, globs and the words they add are capped (`_MAX_*`), and a glob is matched without backtracking
(`glob_matches`). What is not followed: `$(…)` output, symlinks, `cd` inside a subshell (it leaks to later
commands of the line), `tar -C`/`env -C`, `read`/`printf -v` assignments, nested braces and `{a..z}` sequences,
extglob and `**`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Final

# Absolute paths of the files that credential-access, persistence and anti-forensics rules name, by kind: a glob
# that names files of two kinds (`/var/log/*.log`: an auth log and cloud-init's) is a pattern over a directory,
# not a way to spell one file.
_SENSITIVE_FILES: Final = (
    ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/security/opasswd"),
    ("/etc/passwd", "/etc/group", "/etc/passwd-", "/etc/group-"),
    ("/etc/sudoers",),
    ("/etc/ssh/sshd_config",),
    ("/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ecdsa_key",
     "/etc/ssh/ssh_host_dsa_key"),
    ("/etc/crontab",),
    ("/etc/ld.so.preload",),
    ("/etc/pam.d/sshd", "/etc/pam.d/common-auth", "/etc/pam.d/system-auth"),
    ("/etc/rc.local",),
    ("/etc/profile", "/etc/bash.bashrc", "/etc/environment"),
    ("/etc/hosts",),
    ("/etc/krb5.keytab",),
    ("/etc/kubernetes/admin.conf",),
    ("/etc/kubernetes/pki/ca.key", "/etc/kubernetes/pki/apiserver.key"),
    ("/var/run/secrets/kubernetes.io/serviceaccount/token", "/run/secrets/kubernetes.io/serviceaccount/token"),
    ("/proc/self/environ", "/proc/1/environ"),
    ("/proc/self/mem", "/proc/kcore", "/dev/mem"),
    ("/var/log/auth.log", "/var/log/secure"),
    ("/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/var/run/utmp", "/run/utmp"),
    ("/var/log/audit/audit.log",),
    ("/var/log/syslog", "/var/log/messages"),
    ("/var/log/cloud-init-output.log", "/var/lib/cloud/instance/user-data.txt"),
    ("/var/lib/amazon/ssm/credentials",),
)  # fmt: skip
# Paths inside a home directory (`~`, `~user`, `$HOME`, /root, /home/NAME) that the same rules name, by kind.
_HOME_FILES: Final = (
    (".ssh/id_rsa", ".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_dsa", ".ssh/id_ecdsa_sk", ".ssh/id_ed25519_sk"),
    (".ssh/authorized_keys",),
    (".ssh/config",),
    (".aws/credentials", ".aws/config"),
    (".kube/config",),
    (".docker/config.json",),
    (".git-credentials", ".netrc", ".pgpass", ".my.cnf", ".vault-token"),
    (".bash_history", ".zsh_history", ".python_history", ".mysql_history", ".psql_history"),
    (".bashrc", ".bash_profile", ".profile", ".zshrc"),
    (".config/gcloud/credentials.db", ".config/gcloud/access_tokens.db"),
    (".azure/accessTokens.json", ".azure/msal_token_cache.json"),
    (".gnupg/private-keys-v1.d",),
)  # fmt: skip
_SENSITIVE_FILE_NAMES: Final = tuple(
    (kind, path, path.split("/")) for kind, paths in enumerate(_SENSITIVE_FILES) for path in paths
)
_HOME_FILE_NAMES: Final = tuple(
    (-1 - kind, path, path.split("/")) for kind, paths in enumerate(_HOME_FILES) for path in paths
)
# `/proc/self/root/etc/shadow`: a process's root directory, then the path under it.
_PROCESS_ROOT: Final = re.compile(r"/proc/(?:self|thread-self|[0-9]+|\*)/root(/.*)")
# `$HOME` or `${HOME}` starting a directory: `~` to the rules.
_HOME_VARIABLE: Final = re.compile(r"^\$(?:HOME\b|\{HOME\})")
# How a path inside a home directory may start; the home's own spelling is kept in the expansion.
_HOME_PREFIX: Final = re.compile(r"(~[a-z_][a-z0-9_-]*|~|\$HOME|\$\{HOME\}|/root|/home/[^/]+)/")
# A glob that matches more of the files than this names a directory's contents, not a file (all of one kind fit:
# `~/.ssh/id_*`, six private keys).
_MAX_GLOB_MATCHES: Final = 6
_MAX_WORDS: Final = 256
_MAX_WORD_LENGTH: Final = 4096  # a word's variables, `.`, `..` and slashes are resolved up to this length
_MAX_GLOB_LENGTH: Final = 256  # and a glob matched up to this one (after them: `/etc/./././…/sha*` is short)
_MAX_BRACE_ROUNDS: Final = 8  # brace lists in one word (`/e{t,}c/{sha,y}dow`), nested ones included
_MAX_SEQUENCE: Final = 64  # items of a sequence (`{a..z}`, `{1..9}`)
_MAX_ADDED_WORDS: Final = 256  # words that brace lists and globs may add to a segment, all arguments together
# Globbed arguments matched against the files, per line (its command strings included): a paste may hold more.
_MAX_GLOBS_PER_LINE: Final = 1024

_VARIABLE: Final = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^{}$]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
# `${HOME:0:1}`, `${PWD::1}`: the first character of a variable that always holds an absolute path is a slash.
_FIRST_SLASH: Final = re.compile(r"\$\{(?:HOME|PWD|OLDPWD|PATH|SHELL):0?:1\}")
# A brace list holding no other (`{a,b}`), or a sequence of letters or numbers (`{a..f}`, `{1..9}`); not `${…}`.
_BRACES: Final = re.compile(r"(?<!\$)\{(?:([^{},]*(?:,[^{},]*)+)|([A-Za-z]|-?[0-9]+)\.\.([A-Za-z]|-?[0-9]+))\}")
# Parameter expansions with a literal operand: `${X,,}`, `${X^^}`, `${X#p}`, `${X%p}`, `${X/p/r}` (one `#`, `%`
# or `/` or two of them).
_OPERATION: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(,,|\^\^|##?|%%?|//?)([^{}*?\[]*)\}")
# A value after `if=`, `--file=`: a path the program opens (bash expands no glob in it).
_OPTION_VALUE: Final = re.compile(r"(-{0,2}[A-Za-z][A-Za-z0-9_-]*=)(.*)")
# A redirection operator (the lexer makes it a word of its own: `2>`, `>>`, `&>`, `<<<`).
_REDIRECTION: Final = re.compile(r"[0-9]*&?[<>][<>|&-]*")
# Operators whose next word is no file: a here-document's delimiter, a here-string, a descriptor.
_NOT_A_FILE_NEXT: Final = frozenset({"<<", "<<-", "<<<", ">&", "<&"})
# Words that are no file name even after a `cd`: numbers and sizes (`-s 0`, `10M`), modes (`640`, `u+x`).
_NOT_A_NAME: Final = re.compile(r"[0-9]+[KMGTkmgt%]?|[ugoa]*[-+=][rwxXstugo]*|[.][.]?|[.][.]?/")
# Commands whose arguments are words, not files (`man shadow`, `git log -- shadow`): no `cd` is applied to them.
_NO_FILE_ARGUMENTS: Final = frozenset({
    "man", "info", "whatis", "apropos", "which", "type", "whereis", "git", "apt", "apt-get", "yum", "dnf", "rpm",
    "dpkg", "pip", "pip3", "npm", "systemctl", "service", "journalctl", "kill", "pkill", "pgrep", "id", "getent",
    "useradd", "usermod", "userdel", "groupadd", "passwd", "echo", "printf", "ping", "host", "dig", "nslookup",
})  # fmt: skip
# Commands whose first argument is a pattern or a program (`grep -r shadow .`), then files.
_PATTERN_FIRST: Final = frozenset({"grep", "egrep", "fgrep", "zgrep", "rg", "ag", "ack", "sed", "awk", "gawk"})
# Options whose value is a pattern the program matches, not a file (`tar --exclude`, `find -name`, `rsync
# --include`): the line no longer shows whether it was quoted, and it usually was.
_PATTERN_OPTIONS: Final = frozenset({
    "--exclude", "--include", "--exclude-dir", "--include-dir", "-name", "-iname", "-path", "-ipath", "-wholename",
    "-iwholename", "-regex", "-iregex", "-lname", "-ilname", "--wildcards",
})  # fmt: skip
_GLOB_CHARS: Final = re.compile(r"[*?\[]")
_NOT_CANONICAL: Final = re.compile(r"//|(?:^|/)\.\.?(?:/|$)")
_STARS: Final = re.compile(r"\*\*+")
# What a line must hold for any argument to expand (or a `cd` earlier in it): the fast path's test.
MAY_EXPAND: Final = re.compile(r"[*?\[{$]|//|/\.\.?(?:/|\s|$)|/proc/[^/\s]+/root/")
# What a word must hold to expand, when no `cd` is known.
_WORD_MAY_EXPAND: Final = re.compile(r"[*?\[{$]|//|(?:^|/)\.\.?(?:/|$)|^/proc/[^/]+/root/")
# Commands that change the directory the line's later commands run in.
CHANGES_DIRECTORY: Final = frozenset({"cd", "pushd", "popd"})


class Expansions:
    """What one line may still spend on expanding its arguments."""

    __slots__ = ("globs",)

    def __init__(self) -> None:
        self.globs = _MAX_GLOBS_PER_LINE


def resolved_arguments(
    words: list[str], variables: Mapping[str, str], directory: str, expansions: Expansions
) -> list[str] | None:
    """`words` (a command name, then its arguments) with each argument expanded as above, or None when that
    changes nothing."""
    name = words[0]
    relative_to = "" if name in _NO_FILE_ARGUMENTS else directory
    pattern_first = name in _PATTERN_FIRST
    resolved = [name]
    changed = False
    skip_next = False
    after_redirection = False
    for index, word in enumerate(words[1:], 1):
        if skip_next or index > _MAX_WORDS or len(resolved) > index + _MAX_ADDED_WORDS:
            skip_next = False
            resolved.append(word)
            continue
        if _REDIRECTION.fullmatch(word):
            skip_next = word.lstrip("0123456789") in _NOT_A_FILE_NEXT
            after_redirection = True
            resolved.append(word)
            continue
        if words[index - 1] in _PATTERN_OPTIONS:
            resolved.append(word)  # a pattern a program matches (`--exclude 'ssh_host_*'`), quoted or not
            continue
        if pattern_first and not word.startswith("-") and not after_redirection:
            pattern_first = False  # the pattern or the program: the files come after it
            resolved.append(word)
            continue
        # A redirection's file is opened by the shell in the directory `cd` went to, whatever the command.
        relative = directory if after_redirection else relative_to
        after_redirection = False
        if not relative and not _WORD_MAY_EXPAND.search(word):
            resolved.append(word)
            continue
        expanded = _expand(word, variables, relative, expansions)
        changed = changed or expanded != [word]
        resolved.extend(expanded)
    return resolved if changed else None


def changed_directory(words: list[str], directory: str, variables: Mapping[str, str]) -> str:
    """The directory the line's later commands run in after `cd`/`pushd`/`popd` with these words (`directory`
    before it; "" when it cannot be told): `cd` alone goes home (`~`), `cd -` and `popd` go back to where the line
    does not say, a relative target is resolved against `directory`."""
    targets: list[str] = []
    for word in words[1:]:
        if _REDIRECTION.fullmatch(word):
            break  # `pushd /etc >/dev/null`
        if not word.startswith("-") or word == "-":
            targets.append(word)
    if words[0] == "popd" or targets[:1] == ["-"] or len(targets) > 1:
        return ""
    target = targets[0] if targets else "~"
    if "$" in target:
        target = _HOME_VARIABLE.sub("~", _substituted(target, variables, directory))
    if target.startswith(("/", "~")) and "$" not in target:
        return canonical(target).rstrip("/") or "/"
    if directory and "$" not in target:
        return canonical(f"{directory}/{target}").rstrip("/") or "/"
    return ""


def _substituted(word: str, variables: Mapping[str, str], directory: str) -> str:
    """Variables the line set (and `$PWD` when its `cd` is known) put in; `${X:-default}` takes the default when
    the line did not set X; any other stays as typed."""
    word = _FIRST_SLASH.sub("/", word)

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[3]
        if name in variables:
            return variables[name]
        if name == "PWD" and directory:
            return directory
        return match[2] if match[2] is not None else match[0]

    if "${" in word:
        word = _OPERATION.sub(lambda match: _operated(match, variables), word)
    return _VARIABLE.sub(value, word)


def _operated(match: re.Match[str], variables: Mapping[str, str]) -> str:
    """`${X,,}`, `${X^^}`, `${X#p}`, `${X##p}`, `${X%p}`, `${X%%p}`, `${X/p/r}`, `${X//p/r}` of a variable the line
    set, the operand being literal (with no glob, the longest and shortest forms agree)."""
    name, operator, operand = match.groups()
    if name not in variables:
        return match[0]
    value = variables[name]
    head = operator[0]
    if head in ",^":
        return value.lower() if head == "," else value.upper()
    if head in "#%":
        return value.removeprefix(operand) if head == "#" else value.removesuffix(operand)
    old, _, new = operand.partition("/")
    return value.replace(old, new, -1 if operator == "//" else 1) if old else value


def _expand(word: str, variables: Mapping[str, str], directory: str, expansions: Expansions) -> list[str]:
    items = _brace_items(word) if "{" in word else [word]  # braces first, as bash expands them
    expanded: list[str] = []
    for item in items:
        if "$" in item:
            item = _substituted(item, variables, directory)  # noqa: PLW2901 -- the item, expanded
            if len(item) > _MAX_WORD_LENGTH:
                expanded.append(word)  # what variables made too long to look at is left as typed
                continue
        key, value = "", item
        if "=" in item and (option := _OPTION_VALUE.fullmatch(item)):
            key, value = option.groups()
        expanded.extend(key + path for path in _paths(value, directory, expansions, glob=not key))
        if len(expanded) > _MAX_ADDED_WORDS:
            return expanded[:_MAX_ADDED_WORDS]
    return expanded


def _paths(value: str, directory: str, expansions: Expansions, *, glob: bool) -> list[str]:
    if not value or len(value) > _MAX_WORD_LENGTH or "://" in value:
        return [value]
    if directory and value.startswith("~+/"):  # `~+` is $PWD
        value = directory + value[2:]
    if directory and not value.startswith(("/", "~", "$", "-", "+", ":")) and not _NOT_A_NAME.fullmatch(value):
        value = f"{directory}/{value}"
    if "/" in value and _NOT_CANONICAL.search(value):
        value = canonical(value)
    if value.startswith("/proc/") and (root := _PROCESS_ROOT.match(value)):
        value = root[1]  # `/proc/self/root/etc/shadow` is /etc/shadow, through the process's root directory
    if glob and "/" in value and len(value) <= _MAX_GLOB_LENGTH and _GLOB_CHARS.search(value) and expansions.globs > 0:
        expansions.globs -= 1
        return _glob_files(value) or [value]
    return [value]


def _brace_items(word: str) -> list[str]:
    """The words bash makes of `word`'s brace lists and sequences (innermost first, which gives the same words),
    at most `_MAX_BRACE_ROUNDS` of them and `_MAX_ADDED_WORDS` words; `word` alone when it holds none."""
    items = [word]
    for _ in range(_MAX_BRACE_ROUNDS):
        grown: list[str] = []
        found = False
        for item in items:
            braces = _BRACES.search(item)
            if braces is None:
                grown.append(item)
                continue
            found = True
            head, tail = item[: braces.start()], item[braces.end() :]
            grown += (head + middle + tail for middle in _listed(braces))
        if not found:
            break
        items = grown[:_MAX_ADDED_WORDS]
    return items


def _listed(braces: re.Match[str]) -> list[str]:
    listed, first, last = braces.groups()
    if listed is not None:
        return listed.split(",")
    if first.isalpha() != last.isalpha():
        return [braces[0]]  # `{a..1}` is no sequence: bash leaves it as typed
    if first.isalpha():
        start, stop = ord(first), ord(last)
        step = 1 if stop >= start else -1
        return [chr(code) for code in range(start, stop + step, step)][:_MAX_SEQUENCE]
    low, high = int(first), int(last)
    step = 1 if high >= low else -1
    return [str(number) for number in range(low, high + step, step)[:_MAX_SEQUENCE]]


def canonical(path: str) -> str:
    """`path` with `.`, empty components and `..` (over the component before it) taken out, as the kernel would
    resolve it without symlinks; a trailing slash stays."""
    absolute = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif part != ".." or not absolute:
            parts.append(part)
    joined = "/".join(parts)
    if joined and path.endswith("/"):
        joined += "/"
    return "/" + joined if absolute else joined or "."


def _glob_files(glob: str) -> list[str]:
    """The sensitive files `glob` names, in the glob's own spelling of the home directory; none when it matches
    none, files of more than one kind, or more than `_MAX_GLOB_MATCHES`."""
    home = _HOME_PREFIX.match(glob)
    found: list[tuple[int, str]] = []
    if home is not None:
        spelled = home[0]
        if _GLOB_CHARS.search(spelled):  # `/home/*/…`: any user's home
            spelled = "/home/user/"
        found += ((kind, spelled + path) for kind, path in _matching(glob[home.end() :], _HOME_FILE_NAMES))
    found += _matching(glob, _SENSITIVE_FILE_NAMES)
    if len(found) > _MAX_GLOB_MATCHES or len({kind for kind, _ in found}) > 1:
        return []
    return [path for _, path in found]


def _matching(glob: str, files: tuple[tuple[int, str, list[str]], ...]) -> list[tuple[int, str]]:
    """The files (kind, path, components) that `glob` matches. What comes before its first glob character and
    after its last must start and end the path: a cheap test that leaves a few of the files to match."""
    first = _GLOB_CHARS.search(glob)
    head = glob[: first.start()] if first else glob
    tail = glob[max(glob.rfind("*"), glob.rfind("?"), glob.rfind("]")) + 1 :]
    pattern: list[tuple[str, list[_Atom]]] | None = None
    matched: list[tuple[int, str]] = []
    for kind, path, names in files:
        if path.startswith(head) and path.endswith(tail):
            pattern = pattern or _components(glob)
            if _all_match(pattern, names):
                matched.append((kind, path))
    return matched


def glob_matches(glob: str, path: str) -> bool:
    """Whether the shell's glob (`*`, `?`, `[...]`; none matches a `/`) matches `path`, component by component.
    Each component is matched greedily, going back only to its last `*`: at most the product of the two lengths in
    steps, whatever the glob. (A backtracking regex of the glob took minutes on a typed name of 53 `*` and a
    letter, from a red-team review: the whole delivery's alerts waited on it.)"""
    return _all_match(_components(glob), path.split("/"))


_Atom = str | frozenset[str] | tuple[frozenset[str]]


def _components(glob: str) -> list[tuple[str, list[_Atom]]]:
    """Each component of a glob, as typed and as atoms (`_atoms`)."""
    return [(part, _atoms(part) if "[" in part else list(part)) for part in _STARS.sub("*", glob).split("/")]


def _all_match(pattern: list[tuple[str, list[_Atom]]], names: Sequence[str]) -> bool:
    return len(pattern) == len(names) and all(map(_component_matches, pattern, names))


def _atoms(glob: str) -> list[_Atom]:
    """A glob component as one atom per character it matches: a literal character, `*`, `?` (as str), a bracket
    expression as the set of characters it takes (a frozenset) or, negated (`[!…]`, `[^…]`), refuses (a
    1-tuple). A `[` with no closing `]` is a literal, as in the shell."""
    atoms: list[_Atom] = []
    index = 0
    while index < len(glob):
        end = _bracket_end(glob, index) if glob[index] == "[" else -1
        if end < 0:
            atoms.append(glob[index])
            index += 1
            continue
        body, negated = glob[index + 1 : end], False
        if body[:1] in ("!", "^"):
            body, negated = body[1:], True
        members: set[str] = set()
        at = 0
        while at < len(body):
            if body.startswith("[:", at) and (close := body.find(":]", at + 2)) >= 0:
                members.update(_POSIX_CLASSES.get(body[at + 2 : close], ""))
                at = close + 2
            elif at + 2 < len(body) and body[at + 1] == "-":
                first, last = ord(body[at]), ord(body[at + 2])
                members.update(map(chr, range(first, min(last, first + 128) + 1)))
                at += 3
            else:
                members.add(body[at])
                at += 1
        atoms.append((frozenset(members),) if negated else frozenset(members))
        index = end + 1
    return atoms


_POSIX_CLASSES: Final = {
    "alpha": string.ascii_letters,
    "digit": string.digits,
    "alnum": string.ascii_letters + string.digits,
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "xdigit": string.hexdigits,
    "punct": string.punctuation,
    "space": " \t\n\r\f\v",
    "blank": " \t",
    "word": string.ascii_letters + string.digits + "_",
}


def _bracket_end(glob: str, start: int) -> int:
    """Where the bracket expression opened at `start` ends (its `]`), or -1: a `]` first in it (after `!` or `^`)
    is a member, and so is anything inside a POSIX class (`[[:alpha:]]`)."""
    at = start + 1
    if glob[at : at + 1] in ("!", "^"):
        at += 1
    if glob[at : at + 1] == "]":
        at += 1
    while at < len(glob):
        if glob.startswith("[:", at) and (close := glob.find(":]", at + 2)) >= 0:
            at = close + 2
        elif glob[at] == "]":
            return at
        else:
            at += 1
    return -1


def _atom_matches(atom: _Atom, char: str) -> bool:
    if isinstance(atom, str):
        return atom in ("?", char)
    if isinstance(atom, frozenset):
        return char in atom
    return char not in atom[0]


def _component_matches(component: tuple[str, list[_Atom]], name: str) -> bool:
    glob, atoms = component
    if name.startswith(".") and not glob.startswith("."):
        return False  # a leading dot is matched only by a dot typed first
    at = char = 0  # where the glob and the name are
    star = -1  # the glob's last `*` seen, and where in the name its match ends so far
    star_end = 0
    while char < len(name):
        if at < len(atoms) and atoms[at] == "*":
            star, star_end = at, char
            at += 1
        elif at < len(atoms) and _atom_matches(atoms[at], name[char]):
            at += 1
            char += 1
        elif star >= 0:  # the last `*` takes one more character, and the rest is matched again after it
            star_end += 1
            at, char = star + 1, star_end
        else:
            return False
    return all(atom == "*" for atom in atoms[at:])
