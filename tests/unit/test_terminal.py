"""Terminal clean-up and command rebuilding, on the agent's real output and its rough edges."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sessionguard.session import terminal
from sessionguard.session.records import SessionEvent, group_by_session, read_input
from sessionguard.session.terminal import (
    Command,
    SessionRebuilder,
    TranscriptLine,
    begins_at_a_prompt,
    clean_terminal_text,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
UBUNTU = "ubuntu@ip-10-0-2-15:~$ "
BASH = "[ec2-user@ip-10-0-1-23 ~]$ "
CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


def stream(name: str) -> dict[str, list[SessionEvent]]:
    text = (EVENTS / name).read_bytes().decode("utf-8")
    return group_by_session(item for item in read_input(text, name) if isinstance(item, SessionEvent))


def rebuild(*events: list[str]) -> list[TranscriptLine | Command]:
    """Feed each list as one event, then flush."""
    rebuilder = SessionRebuilder()
    items: list[TranscriptLine | Command] = []
    for lines in events:
        items += rebuilder.feed(lines)
    return items + rebuilder.flush()


def commands(items: list[Any]) -> list[str]:
    return [item.text for item in items if isinstance(item, Command)]


def output(items: list[Any]) -> list[str]:
    return [item.text for item in items if isinstance(item, TranscriptLine) and item.kind == "output"]


# --- clean_terminal_text ---------------------------------------------------------------------------------------


def test_plain_text_is_returned_as_is() -> None:
    line = "drwxr-xr-x 4 root     root      39 Nov 26 11:58 .."

    assert clean_terminal_text(line) is line


def test_osc_title_and_bel_before_the_prompt_are_removed() -> None:
    raw = "\x1b]0;ssm-user@ip-10-0-1-23:~\x07[ssm-user@ip-10-0-1-23 ~]$ ls -la"

    assert clean_terminal_text(raw) == "[ssm-user@ip-10-0-1-23 ~]$ ls -la"


def test_osc_ended_by_string_terminator_is_removed() -> None:
    assert clean_terminal_text("\x1b]2;title\x1b\\$ id") == "$ id"


def test_backspace_alone_moves_left_and_the_next_character_overwrites() -> None:
    assert clean_terminal_text("ab\bc") == "ac"
    assert clean_terminal_text("sudo systemctl stauts\b\b\b\btatus x") == "sudo systemctl sttatus x"


def test_backspace_space_backspace_erases() -> None:
    assert clean_terminal_text("whoamo\b \bi") == "whoami"
    assert clean_terminal_text("rm -rf /tmp/xyz\b \b\b \b") == "rm -rf /tmp/x"


def test_readline_backspace_and_erase_to_end_of_line_from_the_typescript() -> None:
    raw = "[u@h ~]$ sudo systemctl stauts\b\x1b[K\b\x1b[K\b\x1b[K\b\x1b[Ktatus amazon-ssm-agent\r"

    assert clean_terminal_text(raw) == "[u@h ~]$ sudo systemctl sttatus amazon-ssm-agent"


def test_mid_line_editing_sequences_are_replayed() -> None:
    assert clean_terminal_text("abcd\b\b\x1b[P") == "abd"  # delete character
    assert clean_terminal_text("ac\b\x1b[@b") == "abc"  # insert blank, then type over it
    assert clean_terminal_text("abc\x1b[2Dx\x1b[Cy") == "axcy"  # cursor left 2, overwrite, right 1
    assert clean_terminal_text("abc\x1b[2K") == ""  # erase the whole line


def test_colour_and_mode_sequences_are_removed() -> None:
    assert clean_terminal_text("\x1b[?1034hsh-4.2$ bash\r") == "sh-4.2$ bash"
    assert (
        clean_terminal_text("\x1b[1;32m\u25cf\x1b[0m amazon-ssm-agent.service\r") == "\u25cf amazon-ssm-agent.service"
    )
    assert clean_terminal_text("\x1b(Bx\x1b=y") == "xy"


def test_carriage_return_redraws_from_the_start_of_the_line() -> None:
    assert clean_terminal_text("10%\r55%\r100%") == "100%"
    assert clean_terminal_text("abc\rX") == "Xbc"


def test_other_controls_are_removed_and_tabs_kept() -> None:
    assert clean_terminal_text("a\x00b\x07c\x7fd\x85e\x9bf\tg") == "abcdef\tg"


def test_damaged_utf8_is_tolerated() -> None:
    assert clean_terminal_text("caf\ufffd") == "caf\ufffd"  # the agent dropped a byte 0x80-0x9F
    cleaned = clean_terminal_text("caf\udcc3\udca9 \x07")  # surrogateescape-decoded bytes
    assert cleaned == "caf\ufffd\ufffd "
    cleaned.encode("utf-8")


def test_an_unterminated_title_sequence_does_not_hide_what_follows() -> None:
    assert clean_terminal_text("\x1b]0;rm -rf /") == "]0;rm -rf /"


def test_a_huge_count_in_a_sequence_does_not_allocate_a_huge_line() -> None:
    assert len(clean_terminal_text("x\x1b[99999@y\x1b[99999C")) <= 2 * terminal._MAX_COUNT


def test_a_line_with_thousands_of_controls_keeps_all_its_text() -> None:
    hostile = "ab\b" * 3000 + "\x1b[" * 2000 + "\u0085\udc80"

    cleaned = clean_terminal_text(hostile)

    assert cleaned.count("ab") == 3000
    assert not CONTROLS.search(cleaned)


@given(
    st.text(alphabet=st.sampled_from(list("ab \t\b\r\n\x00\x07\x1b[]0;KPCD@?\\\x85\x9b\ufffd\udc80")) | st.characters())
)
def test_cleaning_never_raises_and_leaves_no_control_but_tab(raw: str) -> None:
    cleaned = clean_terminal_text(raw)

    assert not CONTROLS.search(cleaned)
    cleaned.encode("utf-8")


@given(st.text(alphabet=st.sampled_from(list("ab \t\b\r\x1b[K2P@;\x07"))))
def test_cleaning_is_idempotent(raw: str) -> None:
    cleaned = clean_terminal_text(raw)

    assert clean_terminal_text(cleaned) == cleaned


def _unbounded_backtracking_repeats(node: Any) -> list[str]:
    """Greedy or lazy repeats that may run more than once: the only places `re` can backtrack into."""
    found = []
    items = node.data if isinstance(node, sre_parser.SubPattern) else node
    for op, av in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT") and av[1] > 1:
            found.append(f"{name}{{{av[0]},{av[1]}}}")
        for child in av if isinstance(av, (list, tuple)) else ():
            if isinstance(child, sre_parser.SubPattern):
                found += _unbounded_backtracking_repeats(child)
            elif isinstance(child, list) and child and isinstance(child[0], sre_parser.SubPattern):
                for branch in child:
                    found += _unbounded_backtracking_repeats(branch)
    return found


def _module_patterns() -> list[re.Pattern[str]]:
    patterns = [value for value in vars(terminal).values() if isinstance(value, re.Pattern)]
    return patterns + list(terminal._QUOTE_REST.values())


@pytest.mark.parametrize("pattern", _module_patterns(), ids=lambda pattern: pattern.pattern[:30])
def test_every_regex_repeat_is_possessive_so_matching_stays_linear(pattern: re.Pattern[str]) -> None:
    assert _unbounded_backtracking_repeats(sre_parser.parse(pattern.pattern, pattern.flags)) == []


# --- commands and output from the samples --------------------------------------------------------------------


def test_sample_stream_is_rebuilt_into_its_commands() -> None:
    [events] = stream("session-stream.jsonl").values()
    items = rebuild(*[list(event.lines) for event in events])

    rebuilt = [(c.text, c.prompt, c.user_hint) for c in items if isinstance(c, Command)]

    user, root = "[ssm-user@ip-10-0-1-23 ~]$", "[root@ip-10-0-1-23 ~]#"
    assert rebuilt == [
        ("bash", "sh-4.2$", ""),
        ("ls -la", user, "ssm-user"),
        ("sudo systemctl sttatus amazon-ssm-agent", user, "ssm-user"),  # the keystrokes say sttatus
        ("whoami", user, "ssm-user"),
        ("sudo -i", user, "ssm-user"),
        ("cd /var/log", root, "root"),
        ("tail -n 2 secure", "[root@ip-10-0-1-23 log]#", "root"),
        ("journalctl -u amazon-ssm-agent --no-pager | tail -n 3", "[root@ip-10-0-1-23 log]#", "root"),
        ("cd", "[root@ip-10-0-1-23 log]#", "root"),
        ("export APP_DB_PASSWORD='example-only-Xq3'", root, "root"),
        ("psql -h db.internal -U app -c 'select 1'", root, "root"),
        ("cat > /etc/app/app.conf <<'EOF'\nlog_level=info\nworkers=4\nEOF", root, "root"),
        ("exit", root, "root"),
        ("exit", user, "ssm-user"),
        ("exit", "sh-4.2$", ""),
    ]


def test_output_continuing_in_the_next_event_belongs_to_its_command() -> None:
    [events] = stream("session-stream.jsonl").values()
    items = rebuild(*[list(event.lines) for event in events])

    start = next(i for i, item in enumerate(items) if isinstance(item, Command) and "journalctl" in item.text)
    following = items[start + 1 : start + 4]

    assert [(item.kind, item.text.split()[-1]) for item in following if isinstance(item, TranscriptLine)] == [
        ("output", "v3.3.1142.0"),
        ("output", "minutes"),
        ("output", "Starting"),
    ]


def test_each_command_comes_right_after_its_last_line() -> None:
    items = rebuild(["sh-4.2$ cat <<EOF", "> x", "> EOF", "x"])

    assert [type(item).__name__ for item in items] == [
        "TranscriptLine",
        "TranscriptLine",
        "TranscriptLine",
        "Command",
        "TranscriptLine",
    ]
    assert [(item.text, item.prompt) for item in items[:3] if isinstance(item, TranscriptLine)] == [
        ("cat <<EOF", "sh-4.2$"),
        ("x", ""),
        ("EOF", ""),
    ]


def test_typescript_gives_the_same_commands_as_the_stream() -> None:
    [events] = stream("transcript-jane.roe-0b7e9d1c4a2f8e6d5.log").values()

    items = rebuild(list(events[0].lines))

    assert commands(items) == ["bash", "ls -la", "sudo systemctl sttatus amazon-ssm-agent", "exit", "exit"]
    assert "\u25cf amazon-ssm-agent.service - amazon-ssm-agent" in output(items)


def test_rough_edge_sessions_are_rebuilt() -> None:
    sessions = stream("session-stream-rough-edges.jsonl")
    ubuntu, zsh = (rebuild(*[list(e.lines) for e in events]) for events in sessions.values())

    assert commands(ubuntu) == [
        "bash",
        "tar czf /tmp/backup.tgz \\\n/etc/app \\\n/var/lib/app",
        'echo "first\nsecond"',
        "cat <<-END > /tmp/motd\nhello\n\tworld\n  END",
        "sudo systemctl restart nginx",
        "curl -s http://169.254.169.254/latest/api/token",
        "history -c",
        "ls -la /srv",
        "sudo su -",
        "id",
        "exit",
        "exit",
        "exit",
    ]
    listing = output(ubuntu).index("total 12")
    assert output(ubuntu)[listing : listing + 3] == ["total 12", "50% done", "caf\ufffd cr\ufffdme"]
    assert commands(zsh) == ["uptime", "zsh", "df -h /", 'psql <<"SQL"\nselect 1;\nSQL', "exit", "exit"]
    assert "Use% Mounted on" in output(zsh)


# --- prompts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "prompt", "user"),
    [
        ("sh-4.2$ ls", "sh-4.2$", ""),
        ("sh-5.2$ ls", "sh-5.2$", ""),
        ("sh-4.2# ls", "sh-4.2#", ""),
        ("bash-5.2# ls", "bash-5.2#", ""),
        ("[ec2-user@ip-10-0-1-23 ~]$ ls", "[ec2-user@ip-10-0-1-23 ~]$", "ec2-user"),
        ("[root@ip-10-0-1-23 log]# ls", "[root@ip-10-0-1-23 log]#", "root"),
        ("ubuntu@ip-10-0-2-15:~$ ls", "ubuntu@ip-10-0-2-15:~$", "ubuntu"),
        ("root@ip-10-0-2-15:/var/log# ls", "root@ip-10-0-2-15:/var/log#", "root"),
        ("ec2-user@ip-10-0-3-7 ~ % ls", "ec2-user@ip-10-0-3-7 ~ %", "ec2-user"),
        ("ip-10-0-3-7% ls", "ip-10-0-3-7%", ""),  # zsh's default; trusted at the session start
        ("$ ls", "$", ""),  # dash, Ubuntu's sh; trusted at the session start
    ],
)
def test_prompts_session_manager_users_meet_are_recognised(line: str, prompt: str, user: str) -> None:
    assert rebuild([line]) == [TranscriptLine("command", "ls", prompt), Command("ls", prompt, user)]


@pytest.mark.parametrize(
    "line",
    ["50% done", "total 12", "# /etc/fstab: static file system information.", "Use% Mounted on", "$ make", "#", "%"],
)
def test_ordinary_output_is_not_taken_for_a_command(line: str) -> None:
    items = rebuild([BASH + "cat notes.txt", line])

    assert commands(items) == ["cat notes.txt"]
    assert output(items) == [line]


def test_the_prompt_change_after_sudo_i_gives_the_new_user() -> None:
    items = rebuild([BASH + "sudo -i", "Last login: Wed Nov 26 11:58:01 UTC 2026", "[root@ip-10-0-1-23 ~]# id"])

    assert [(c.text, c.user_hint) for c in items if isinstance(c, Command)] == [("sudo -i", "ec2-user"), ("id", "root")]


def test_a_bare_root_prompt_is_learned_after_su_and_recognised_later() -> None:
    items = rebuild(["$ su -", "Password:"], ["# id", "uid=0(root) gid=0(root)", "# whoami", "root"])

    assert commands(items) == ["su -", "id", "whoami"]


def test_a_bare_prompt_is_not_learned_from_the_output_of_an_ordinary_command() -> None:
    items = rebuild([BASH + "sudo cat /etc/fstab", "#", "# /etc/fstab", "UUID=1234 / xfs defaults 0 0"])

    assert commands(items) == ["sudo cat /etc/fstab"]


def test_a_prompt_after_output_without_a_final_newline_is_found() -> None:
    items = rebuild([UBUNTU + "ls"], [UBUNTU + "curl -s http://localhost/health", '{"ok":true}' + UBUNTU + "id"])

    assert commands(items) == ["ls", "curl -s http://localhost/health", "id"]
    assert output(items) == ['{"ok":true}']


@pytest.mark.parametrize(
    ("setting", "prompt"),
    [
        ("PS1='> '", "> "),
        ('export PS1="hacker: "', "hacker: "),
        ("PS1=x", "x"),
        ("PS1='\\$ '", "$ "),  # bash's \$: `$` for this user
        ('export PS1="$ "', "$ "),
        ("cd /tmp; PS1='] '; ls", "] "),
        ("PS1='\\[\\e[32m\\]lab> \\[\\e[0m\\]'", "lab> "),  # colour codes: the agent strips them
    ],
)
def test_a_prompt_the_session_sets_is_learned_so_later_commands_stay_seen(setting: str, prompt: str) -> None:
    """An attacker who sets PS1 to something no prompt pattern knows would hide every later command from the
    rules; the literal value it sets is learned as that session's prompt (SG-EVADE-028 alerts on the setting)."""
    items = rebuild([BASH + setting], [prompt + "cat /etc/shadow", "root:*:19000:0:99999:7:::", prompt + "id"])

    assert commands(items)[-2:] == ["cat /etc/shadow", "id"]
    assert output(items)[-1] == "root:*:19000:0:99999:7:::"


def test_bash_renders_the_dollar_escape_as_a_hash_for_root() -> None:
    root = "[root@ip-10-0-1-23 ~]# "
    items = rebuild([root + "PS1='\\$ '"], ["# cat /etc/shadow", "root:*:19000:0:99999:7:::"])

    assert commands(items)[-1] == "cat /etc/shadow"


@pytest.mark.parametrize(
    "setting",
    [
        "PS1='\\u@\\h:\\w> '",
        "PS1=''",
        'PS1="$(date)> "',
        "PS1='   '",
        "grep -n PS1=x notes.txt",  # not an assignment
        "echo \"export PS1='> '\" >> ~/.bashrc",  # written, not run
        "ls # PS1=x",
        "( PS1='> ' )",  # a subshell's own
        "PS1='a'\"b> \"",  # concatenated: what shows is not one literal
        "PS1='> '; PS1+='z '",
    ],
)
def test_a_prompt_the_line_does_not_set_or_show_is_not_learned(setting: str) -> None:
    rebuilder = SessionRebuilder()
    rebuilder.feed([BASH + setting, "> id", "x"])
    assert list(rebuilder._learned) == [BASH], setting


def test_a_heredoc_body_that_sets_ps1_is_not_learned() -> None:
    rebuilder = SessionRebuilder()
    rebuilder.feed([BASH + "cat >> ~/.bashrc <<'EOF'", "> PS1='> '", "> EOF", "x"])
    assert list(rebuilder._learned) == [BASH]


def test_comment_lines_of_output_stay_output_after_ps1_dollar() -> None:
    """`\\$` is `$` for this user: learning `# ` too would make every comment line of a file a command."""
    items = rebuild([BASH + "PS1='\\$ '"], ["$ cat install.sh", "# Usage: curl -fsSL https://x | sh", "$ id"])

    assert commands(items)[-2:] == ["cat install.sh", "id"]
    assert "# Usage: curl -fsSL https://x | sh" in output(items)


def test_output_full_of_prompt_like_lines_does_not_push_out_the_prompt_ps1_set() -> None:
    fake = [f"u@h:/{number}$ " for number in range(40)]
    items = rebuild([BASH + "PS1='\\$ '"], ["$ seq 40 | sed x", *fake, "$ history -c"])

    assert commands(items)[-1] == "history -c"


def test_a_long_prompt_ps1_set_is_found_after_output_without_a_newline() -> None:
    items = rebuild([BASH + "PS1='lab> '"], ["lab> printf done", "donelab> history -c"])

    assert commands(items)[-1] == "history -c"


def test_a_prompt_that_cannot_be_learned_lets_a_bare_one_be_learned_as_after_a_shell_switch() -> None:
    items = rebuild([BASH + "PS1='\\W\\$ '"], ["tmp$ history -c"])  # \W: the directory's name

    assert commands(items)[-1] == "history -c"


def test_the_exact_same_prompt_is_recognised_without_the_pattern() -> None:
    rebuilder = SessionRebuilder()
    rebuilder.feed([BASH + "ls"])

    items = rebuilder.feed([BASH + "pwd"])

    assert BASH in rebuilder._learned
    assert commands(items) == ["pwd"]


# --- continuations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "body", "end"),
    [
        ("cat <<EOF > /tmp/a", ["> a=1"], "> EOF"),
        ("cat <<-EOF > /tmp/a", ["> a=1"], ">     EOF"),  # the agent turned the tab before EOF into spaces
        ("cat <<'EOF' > /tmp/a", ["> a=$1"], "> EOF"),
        ('psql << "END"', ["> select 'it''s';"], "> END"),
        ("cat <<EOF | sh", ["> echo 'unclosed"], "> EOF"),  # quotes in a body are not shell syntax
    ],
)
def test_heredoc_bodies_belong_to_their_command(first: str, body: list[str], end: str) -> None:
    items = rebuild([BASH + first, *body, end, BASH + "ls"])

    assert commands(items) == ["\n".join([first, *(line[2:] for line in body), end[2:]]), "ls"]


def test_a_heredoc_split_across_events_is_one_command() -> None:
    items = rebuild([BASH + "tee /tmp/x <<EOF", "> one"], ["> two"], ["> EOF", "one", "two"])

    assert commands(items) == ["tee /tmp/x <<EOF\none\ntwo\nEOF"]
    assert output(items) == ["one", "two"]


def test_two_heredocs_on_one_line_read_both_bodies() -> None:
    items = rebuild([BASH + "paste <<A <<B", "> 1", "> A", "> 2", "> B", "1\t2"])

    assert commands(items) == ["paste <<A <<B\n1\nA\n2\nB"]


def test_a_here_string_is_not_a_heredoc() -> None:
    items = rebuild([BASH + "grep x <<<abc", "> quoted reply"])

    assert commands(items) == ["grep x <<<abc"]
    assert output(items) == ["> quoted reply"]


def test_a_trailing_backslash_joins_the_next_line() -> None:
    items = rebuild([BASH + "aws s3 cp \\"], ["> s3://bucket/key \\", "> ."], ["download: s3://bucket/key"])

    assert commands(items) == ["aws s3 cp \\\ns3://bucket/key \\\n."]


@pytest.mark.parametrize(
    "lines",
    [
        ["echo 'one", "> two'"],
        ['echo "one \\" still', '> two"'],
        ["echo $'a\\'b", "> c'"],
        ["x=$(date", "> )"],
        ["ls |", "> wc -l"],
        ["true &&", "> id"],
        ["for i in 1 2; do", "> echo $i", "> done"],
        ["if true", "> then id", "> fi"],
        ["f() {", "> id", "> }"],
    ],
)
def test_ps2_lines_complete_an_unfinished_command(lines: list[str]) -> None:
    items = rebuild([BASH + lines[0], *lines[1:], "output"])

    assert commands(items) == ["\n".join([lines[0], *(line[2:] for line in lines[1:])])]
    assert output(items) == ["output"]


@pytest.mark.parametrize(
    "command",
    [
        "echo hi # it's a comment",
        "for i in 1 2; do echo $i; done",
        "echo if then",
        "echo {a,b} ${HOME} $(date) `id`",
        "find . -name '*.log' -exec rm {} \\;",
        "echo \\'",
        "case $x in a) id;; esac",
    ],
)
def test_complete_commands_are_emitted_at_once(command: str) -> None:
    rebuilder = SessionRebuilder()

    assert commands(rebuilder.feed([BASH + command])) == [command]


def test_a_quoted_reply_after_a_complete_command_stays_output() -> None:
    items = rebuild([BASH + "cat reply.txt", "> I agree", "> with you"])

    assert output(items) == ["> I agree", "> with you"]


def test_a_new_prompt_ends_an_unfinished_command() -> None:
    items = rebuild([BASH + "cat <<EOF", "> half", "> ^C", BASH + "id"])

    assert commands(items) == ["cat <<EOF\nhalf\n^C", "id"]


def test_flush_emits_the_command_still_waiting_for_its_end() -> None:
    rebuilder = SessionRebuilder()
    items = rebuilder.feed([BASH + "cat <<EOF", "> partial"])

    assert commands(items) == []
    assert commands(rebuilder.flush()) == ["cat <<EOF\npartial"]
    assert rebuilder.flush() == []


def test_enter_on_an_empty_prompt_is_no_command() -> None:
    items = rebuild([BASH.rstrip(), BASH])

    assert commands(items) == []
    assert [item.kind for item in items if isinstance(item, TranscriptLine)] == ["command", "command"]


def test_an_overlong_command_line_is_still_one_command_and_can_continue() -> None:
    long_line = "echo " + "'a' " * 5000 + "\\"

    items = rebuild([BASH + long_line, "> done"])

    assert commands(items) == [long_line + "\ndone"]


def test_a_line_holding_several_lines_is_split() -> None:
    items = rebuild([BASH + "id\nuid=0(root)"])

    assert commands(items) == ["id"]
    assert output(items) == ["uid=0(root)"]


# --- the model -----------------------------------------------------------------------------------------------


def test_transcript_lines_are_frozen_values_however_they_were_built() -> None:
    [line] = SessionRebuilder().feed(["plain output"])

    assert line == TranscriptLine("output", "plain output")
    assert hash(line) == hash(TranscriptLine("output", "plain output"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.text = "changed"  # type: ignore[misc]


@given(st.lists(st.text(alphabet=st.sampled_from(list("ab$#%> <-'\"\\|&;(){}`\b\x1b[K\r\n\x07")) | st.characters())))
def test_the_rebuilder_never_raises_on_arbitrary_lines(lines: list[str]) -> None:
    rebuilder = SessionRebuilder()
    items = rebuilder.feed(lines) + rebuilder.feed(lines[::-1]) + rebuilder.flush()

    for item in items:
        assert not CONTROLS.search(item.text.replace("\n", ""))


@given(st.lists(st.sampled_from([BASH + "cat <<EOF", "> x", "> EOF", "$ id", "out", "> ", "sh-4.2$ ls \\", ""])))
def test_every_command_line_ends_up_in_exactly_one_command(lines: list[str]) -> None:
    rebuilder = SessionRebuilder()
    items = rebuilder.feed(lines) + rebuilder.flush()

    command_lines = [item for item in items if isinstance(item, TranscriptLine) and item.kind == "command"]
    joined = "\n".join(c.text for c in items if isinstance(c, Command))
    assert all(line.text in joined for line in command_lines if line.text.strip())


def test_fixture_stream_is_valid_json_lines() -> None:
    for line in (EVENTS / "session-stream-rough-edges.jsonl").read_text(encoding="utf-8").splitlines():
        assert isinstance(json.loads(line)["sessionData"], list)


def test_a_session_visiting_many_directories_keeps_recognising_prompts() -> None:
    lines = [f"[root@ip-10-0-1-23 dir{n}]# cd /dir{n + 1}" for n in range(100)]
    lines += ["[root@ip-10-0-1-23 dir0]# id", "uid=0(root)", "[root@ip-10-0-1-23 dir99]# ls"]

    items = rebuild(lines)

    assert len(commands(items)) == 102
    assert output(items) == ["uid=0(root)"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("sh-4.2$ whoami", True),
        ("sh-5.2# ", True),
        ("[ssm-user@ip-10-0-1-23 ~]$ ls", True),
        ("\x1b]0;ssm-user@ip-10-0-1-23:~\x07[ssm-user@ip-10-0-1-23 ~]$ ls", True),
        ("ubuntu@ip-10-0-1-5:~$ df -h", True),
        ("ec2-user@ip-10-0-1-7 ~ % ls", True),
        ("> | sudo bash", False),  # PS2: a command is pending
        ("$ ls", False),  # dash's prompt is only trusted once learned
        ("total 12", False),
        ("MIIEowIBAAKCAQEA7", False),
        ("", False),
    ],
)
def test_begins_at_a_prompt_only_for_the_strong_prompts(line: str, expected: bool) -> None:
    assert begins_at_a_prompt(line) is expected
