"""Arguments expanded as the shell would (sessionguard.session.shell_paths): the file a command reaches, however it
was spelled, is in a segment the rules see."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionguard.rules import RulePack
from sessionguard.session.shell import normalize_command
from sessionguard.session.shell_paths import Expansions, canonical, changed_directory, glob_matches, resolved_arguments


def segments(text: str) -> tuple[str, ...]:
    return normalize_command(text).segments


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return RulePack.load()


@pytest.mark.parametrize(
    ("typed", "expanded"),
    [
        ("cat /etc/sha*", "cat /etc/shadow /etc/shadow-"),
        ("cat /etc/shado?", "cat /etc/shadow"),
        ("cat /e??/shadow", "cat /etc/shadow"),
        ("cat /etc/s[h]adow", "cat /etc/shadow"),
        ("cat /etc/s[!x]adow", "cat /etc/shadow"),
        ("cat /etc/[r-t]hadow", "cat /etc/shadow"),
        ("cat /etc/s[[:alpha:]]adow", "cat /etc/shadow"),
        ("cat /etc/./shadow", "cat /etc/shadow"),
        ("cat //etc//shadow", "cat /etc/shadow"),
        ("cat /tmp/../etc/shadow", "cat /etc/shadow"),
        ("cat /../../etc/shadow", "cat /etc/shadow"),
        ("X=/etc; cat $X/shadow", "cat /etc/shadow"),
        ("export X=/etc; cat $X/shadow", "cat /etc/shadow"),
        ("X=/etc; X+=/shadow; cat $X", "cat /etc/shadow"),
        ("X=/ETC/SHADOW; cat ${X,,}", "cat /etc/shadow"),
        ("X=/etc/shXdow; cat ${X/X/a}", "cat /etc/shadow"),
        ("cat ${D:-/etc}/shadow", "cat /etc/shadow"),
        ("d=/etc; f=shadow; cat ${d}/$f", "cat /etc/shadow"),
        ("cat ${HOME:0:1}etc${HOME:0:1}shadow", "cat /etc/shadow"),
        ("cd /etc && cat shadow", "cat /etc/shadow"),
        ("cd /etc/ssh; cat ../shadow", "cat /etc/shadow"),
        ("cd /etc/ssh; cd ..; cat shadow", "cat /etc/shadow"),
        ("pushd /etc >/dev/null; cat shadow", "cat /etc/shadow"),
        ("cd / && cat etc/shadow", "cat /etc/shadow"),
        ("cd /etc && dd if=shadow of=/tmp/x", "dd if=/etc/shadow of=/tmp/x"),
        ("cd /var/log && : > wtmp", ": > /var/log/wtmp"),
        ("cat /etc/{shadow,passwd}", "cat /etc/shadow /etc/passwd"),
        ("cat /etc/{s,x}ha{d,y}ow", "cat /etc/shadow /etc/shayow /etc/xhadow /etc/xhayow"),
        ("cat /etc/{p..s}hadow", "cat /etc/phadow /etc/qhadow /etc/rhadow /etc/shadow"),
        ("cp ~/.ssh/id_{rsa,ed25519} /tmp/", "cp ~/.ssh/id_rsa ~/.ssh/id_ed25519 /tmp/"),
        ("dd if=/etc//shadow of=/tmp/x", "dd if=/etc/shadow of=/tmp/x"),
        ("cat /root/.aws/cred*", "cat /root/.aws/credentials"),
        ("cat ~/.aws/*", "cat ~/.aws/credentials ~/.aws/config"),
        ("cat $HOME/.aws/c*s", "cat $HOME/.aws/credentials"),
        ("cat ~ubuntu/.ssh/id_r*", "cat ~ubuntu/.ssh/id_rsa"),
        ("cat /home/*/.aws/cred*", "cat /home/user/.aws/credentials"),
        ("cat /home/alice/.ss?/id_rsa", "cat /home/alice/.ssh/id_rsa"),
        (
            "cat ~/.ssh/id_*",
            "cat ~/.ssh/id_rsa ~/.ssh/id_ed25519 ~/.ssh/id_ecdsa ~/.ssh/id_dsa ~/.ssh/id_ecdsa_sk ~/.ssh/id_ed25519_sk",
        ),
        ("sudo cat /etc/sha*", "cat /etc/shadow /etc/shadow-"),
        ("cat /proc/*/root/etc/shadow", "cat /etc/shadow"),
        ("cd ${HOME}/.aws && cat credentials", "cat ~/.aws/credentials"),
        ("cd /etc && cat ~+/shadow", "cat /etc/shadow"),
    ],
)
def test_arguments_are_expanded_into_a_segment_of_their_own(typed: str, expanded: str) -> None:
    found = segments(typed)
    assert expanded in found
    assert len(found) > 1, "the command as typed stays a segment"


def test_the_wrapped_segment_and_the_whole_line_are_expanded_too() -> None:
    normalized = normalize_command("echo 'x ALL=(ALL) NOPASSWD:ALL' | sudo tee -a /etc/sudoe*")
    assert "sudo tee -a /etc/sudoers" in normalized.segments
    assert "echo x ALL=(ALL) NOPASSWD:ALL | tee -a /etc/sudoers" in normalized.inner


@pytest.mark.parametrize(
    "typed",
    [
        "cat /etc/sha*",
        "cat /e??/shadow",
        "cat /etc/s[h]adow",
        "X=/etc; cat $X/shadow",
        "cat ${HOME:0:1}etc${HOME:0:1}shadow",
        "cd /etc && cat shadow",
        "cat //etc/./shadow",
        "cat /etc/{shadow,passwd}",
    ],
)
def test_the_rules_see_the_file_however_it_was_spelled(pack: RulePack, typed: str) -> None:
    assert "SG-CRED-001" in {match.rule.id for match in pack.match(typed)}


@pytest.mark.parametrize(
    "typed",
    [
        "cat /etc/*",  # a directory's files: more than three sensitive ones
        "grep -r error /etc/*",
        "chmod 600 ~/.ssh/*",
        "ls /srv/app/*.log",  # matches none
        "rm -rf /tmp/build-*",
        "curl https://example.com//a/./b",  # a URL is not a path
        "echo $PATH",
        "ls ~/*history",  # `*` does not match a leading dot
    ],
)
def test_what_names_no_single_sensitive_file_adds_nothing(typed: str) -> None:
    assert len(segments(typed)) == 1


def test_an_unknown_variable_stays_as_typed() -> None:
    assert resolved_arguments(["cat", "$SECRET_DIR/x"], {}, "", Expansions()) is None
    assert resolved_arguments(["cat", "$d/x"], {"d": "/etc"}, "", Expansions()) == ["cat", "/etc/x"]


def test_relative_paths_need_a_cd_and_skip_what_names_no_file() -> None:
    def resolve(*words: str) -> list[str] | None:
        return resolved_arguments(list(words), {}, "/etc", Expansions())

    assert resolved_arguments(["cat", "shadow"], {}, "", Expansions()) is None
    # grep's pattern, options, numbers and modes stay; files and `if=`-style values are resolved.
    assert resolve("grep", "-r", "root", "shadow", "--file=x") == ["grep", "-r", "root", "/etc/shadow", "--file=/etc/x"]
    assert resolve("truncate", "-s", "0", "wtmp") == ["truncate", "-s", "0", "/etc/wtmp"]
    assert resolve("chmod", "u+x", "640", "x") == ["chmod", "u+x", "640", "/etc/x"]
    assert resolve("rm", "-rf", "..") is None  # rm refuses `..`; a directory alone is no file
    # Commands that take words, not files; their redirections are still files.
    assert resolve("man", "shadow") is None
    assert resolve("echo", "x", ">>", "sudoers") == ["echo", "x", ">>", "/etc/sudoers"]
    # A here-document's delimiter and a descriptor are no files.
    assert resolve("cat", "<<", "EOF") is None
    assert resolve("cat", "2>&", "1") is None
    # A pattern a program matches is no file, quoted or not.
    assert resolve("tar", "--exclude", "/etc/ssh/ssh_host_*", "-czf", "/b.tgz", "/") is None
    # grep's pattern is still the first word that is no option nor an option's pattern.
    assert resolve("grep", "-r", "--include", "*.conf", "shadow", ".") is None
    assert resolved_arguments(["find", "/", "-name", "/etc/sha*"], {}, "", Expansions()) is None


def test_a_cd_is_followed_as_the_shell_would() -> None:
    def after(*commands: str) -> str:
        directory = ""
        for command in commands:
            directory = changed_directory(command.split(), directory, {})
        return directory

    assert after("cd /etc/ssh", "cd ..") == "/etc"
    assert after("cd /", "cd etc") == "/etc"
    assert after("cd /etc", "cd") == "~"  # home
    assert after("cd /etc", "cd -") == ""  # back where the line does not say
    assert after("pushd /etc > /dev/null") == "/etc"
    assert after("cd -P /etc") == "/etc"
    assert after("cd x") == ""  # relative to a directory the line does not say
    assert after("cd /etc", "popd") == ""


def test_globs_of_two_kinds_of_file_or_too_many_stay() -> None:
    for typed in ("cat /var/log/*.log", "cat ~/.*rc", "cat ~/.ssh/*", "cat /etc/*", "cat ~/.bash*"):
        assert len(segments(typed)) == 1, typed


@pytest.mark.parametrize(
    ("path", "resolved"),
    [
        ("/etc/./shadow", "/etc/shadow"),
        ("//etc//shadow", "/etc/shadow"),
        ("/tmp/./", "/tmp/"),
        ("/../etc", "/etc"),
        ("a/../../b", "../b"),
        ("./x", "x"),
        (".", "."),
        ("/", "/"),
    ],
)
def test_canonical_paths(path: str, resolved: str) -> None:
    assert canonical(path) == resolved


def _glob_as_regex(glob: str) -> str:
    """The shell's `*`, `?` and bracket expressions as a regex (none matches `/`, and a name's leading dot must be
    typed): what glob_matches must agree with."""
    out: list[str] = []
    index = 0
    while index < len(glob):
        char = glob[index]
        end = glob.find("]", index + (3 if glob[index + 1 : index + 2] in ("!", "^") else 2)) if char == "[" else -1
        if end >= 0 and "/" in glob[index:end]:
            end = -1  # a bracket expression never spans a `/`: its `[` is a literal
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif end >= 0:
            body = glob[index + 1 : end]
            negated = body[:1] in ("!", "^")
            members = re.escape(body[1:] if negated else body).replace("\\-", "-")
            out.append(f"[{'^' if negated else ''}{members}]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _hidden_name_typed_first(glob: str, path: str) -> bool:
    return all(
        not name.startswith(".") or part.startswith(".")
        for part, name in zip(glob.split("/"), path.split("/"), strict=False)
    )


@settings(max_examples=500, deadline=None)
@given(glob=st.text(alphabet="ab./*?[]!", max_size=10), path=st.text(alphabet="ab./", max_size=10))
def test_glob_matching_agrees_with_the_globs_regex(glob: str, path: str) -> None:
    expected = re.fullmatch(_glob_as_regex(glob), path) is not None and _hidden_name_typed_first(glob, path)
    assert glob_matches(glob, path) == expected


def test_hostile_globs_and_braces_stay_cheap() -> None:
    """Caps, not timing: the words, items and globs looked at are bounded, whatever the line."""
    globs = ["/etc/sha*"] * 1000  # each names two files; 256 words are looked at and they add 256 words at most
    resolved = resolved_arguments(["cat", *globs], {}, "", Expansions()) or []
    assert 1 + 1000 < len(resolved) <= 1 + 1000 + 256
    braces = ["/etc/{" + ",".join(["sha*"] * 1000) + "}"] * 64
    resolved = resolved_arguments(["cat", *braces], {}, "", Expansions()) or []
    assert len(resolved) <= 1 + 64 + 2 * 256
    expansions = Expansions()
    expansions.globs = 0  # the line's globs are spent: no more are matched
    assert resolved_arguments(["cat", "/etc/sha*"], {}, "", expansions) is None
    assert glob_matches("[" * 300 + "*", "shadow") is False
    assert resolved_arguments(["cat", "/etc/{a..zz}"], {}, "", Expansions()) is None  # no sequence of two letters
