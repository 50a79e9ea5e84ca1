"""How well masking holds on secrets SessionGuard's authors did not write: gitleaks' samples, and trufflehog's.

Each sample of evaluation/corpus/gitleaks/samples.jsonl (made by evaluation.gitleaks_samples) is
placed in sessions the way the SSM Agent streams them, one session per placement:

- typed:   `export NAME_KEY=<secret>` for a bare token, else the sample itself after the prompt (a
           further line after bash's continuation prompt `> ` if bash reads it as part of the
           command still open, else after the prompt again: `bash -n` decides);
- printed: `cat app.env`, then the sample as output lines;
- header:  `curl -H "Authorization: Bearer <secret>" https://api.example.com/v1/me`, bare tokens only.

All sessions go through `sessionguard scan --transcript` in-process, in one run. A true positive leaks
when its secret appears anywhere in that session's output, or, for a secret longer than 16
characters, any 12-character window of it does; a secret of several lines (a private key) is checked
line by line, its BEGIN/END lines left out. Markers are taken out of the output first: they name a
kind, which may share a window with a token's public prefix (aws-amazon-bedrock-api-key-… and
`bedrock-api-key-…`), and reveal nothing of the value.

A negative sample is a string the source says is no secret: a false positive of one gitleaks rule that
no other gitleaks rule calls a secret (the cloudflare rules' false positives are each other's keys, so
gitleaks, run with all its rules, reports them). Printed as output, it is over-masked when its
session's output holds any `[MASKED:` marker (`over_masking`). The same count over all of gitleaks'
false positives is `over_masking_all_samples`, and each over-masked one is given its reason
(`over_masking_reasons`): another gitleaks rule calls it a secret; its own rule does, and it is a
false positive only for its file name (a path condition, which session text cannot meet; these stay
negatives); or gitleaks finds no secret in it at all. So is a line of ordinary output (git SHAs, AMI
ids, UUIDs, checksums, base64 images: `benign_lines`).

A second corpus is counted the same way, leaks only: trufflehog's detector tests
(evaluation/corpus/trufflehog/samples.jsonl, made by evaluation.trufflehog_samples; AGPL-3.0 data, used here
and by the tests only). Its negatives are inputs a detector's own regex must not match, often still
secret-shaped, so it gives no over-masking figure. Its figures are under "trufflehog".

    python -m evaluation.masking          # a table on stderr, the figures as JSON on stdout
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import random
import re
import string
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessionguard import cli

CORPUS = Path(__file__).parent / "corpus" / "gitleaks"
SAMPLES = CORPUS / "samples.jsonl"
TRUFFLEHOG_SAMPLES = Path(__file__).parent / "corpus" / "trufflehog" / "samples.jsonl"
# What a corpus without negatives reports (see trufflehog_figures).
LEAK_FIGURES = ("source", "placements", "all", "bare_printed", "rules", "rules_leaking", "leaks_by_rule")
PROMPT = "[root@ip-10-0-0-9 ~]# "
CONTINUATION_PROMPT = "> "
MARKER = "[MASKED:"
WINDOW = 12  # a secret longer than LONG leaks if any WINDOW characters of it are seen
LONG = 16
PLACEMENTS = ("typed", "printed", "header")
# A marker names a kind and reveals nothing; taken out before windows are compared, so that a kind named like a
# token's public prefix (aws-amazon-bedrock-api-key-… for `bedrock-api-key-…`) is not counted as its leak.
MARKERS = re.compile(r"\[MASKED:[a-z0-9-]+\]")


@dataclass(frozen=True)
class Case:
    """One session: a sample in one placement."""

    session_id: str
    rule: str
    template: str
    placement: str  # typed | printed | header | fp | benign
    lines: tuple[str, ...]
    secrets: tuple[str, ...]
    flagged: bool = False  # a false positive that another gitleaks rule calls a secret
    path_only: bool = False  # a false positive only for its file name: its own rule finds a secret in the text


def load_samples(path: Path = SAMPLES) -> list[dict[str, Any]]:
    with path.open() as lines:
        return [json.loads(line) for line in lines]


def write_samples(corpus: Path, records: Iterable[dict[str, Any]], licence: str) -> None:
    """A corpus folder as the sample extractors write it (gitleaks_samples, trufflehog_samples): samples.jsonl, one
    record a line as load_samples reads it, and the source's LICENSE."""
    corpus.mkdir(parents=True, exist_ok=True)
    with (corpus / "samples.jsonl").open("w") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    (corpus / "LICENSE").write_text(licence)


def variable_name(rule: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in rule).upper() + "_KEY"


def is_bare(sample: dict[str, Any]) -> bool:
    return len(sample["secrets"]) == 1 and sample["line"].strip() == sample["secrets"][0]


def typed_lines(sample: dict[str, Any]) -> tuple[str, ...]:
    """Each line after the prompt, or after bash's continuation prompt `> ` when bash reads it as part of
    the command still open (an open quote, block, heredoc, a trailing backslash), as EVALUATION.md types
    commands; `bash -n` decides."""
    if is_bare(sample):
        return (f"{PROMPT}export {variable_name(sample['rule'])}={sample['secrets'][0]}",)
    lines = sample["line"].split("\n")
    typed = [PROMPT + lines[0]]
    for index in range(1, len(lines)):
        still_open = command_is_open("\n".join(lines[:index]))
        typed.append((CONTINUATION_PROMPT if still_open else PROMPT) + lines[index])
    return tuple(typed)


OPEN_COMMAND_ERRORS = ("unexpected EOF", "unexpected end of file", "delimited by end-of-file")


@functools.cache
def command_is_open(text: str) -> bool:
    """Whether bash reads `text` as a command not yet complete (`bash -n`: parsed, never run)."""
    result = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True, check=False)  # noqa: S603, S607
    return any(error in result.stderr for error in OPEN_COMMAND_ERRORS)


def printed_lines(text: str) -> tuple[str, ...]:
    return (f"{PROMPT}cat app.env", *text.split("\n"))


def build_cases(samples: Iterable[dict[str, Any]], benign: Iterable[str] = ()) -> list[Case]:
    cases: list[Case] = []
    for number, sample in enumerate(samples):
        rule, template, secrets = sample["rule"], sample["template"], tuple(sample["secrets"])
        base = f"gitleaks-{number}"
        if sample["kind"] == "fp":
            flagged, path_only = bool(sample.get("flagged_by")), bool(sample.get("path_only"))
            lines = printed_lines(sample["line"])
            cases.append(Case(f"{base}-fp", rule, template, "fp", lines, (), flagged, path_only))
            continue
        if not secrets:  # gitleaks' regex finds nothing to look for in it: not countable
            continue
        cases.append(Case(f"{base}-typed", rule, template, "typed", typed_lines(sample), secrets))
        cases.append(Case(f"{base}-printed", rule, template, "printed", printed_lines(sample["line"]), secrets))
        if is_bare(sample):
            header = f'{PROMPT}curl -H "Authorization: Bearer {secrets[0]}" https://api.example.com/v1/me'
            cases.append(Case(f"{base}-header", rule, template, "header", (header,), secrets))
    for number, line in enumerate(benign):
        cases.append(Case(f"benign-{number}", "benign", "benign", "benign", printed_lines(line), ()))
    return cases


def stream_events(cases: Iterable[Case]) -> Iterator[str]:
    """One streamed event per case, as the agent writes them (events/session-stream.jsonl)."""
    for case in cases:
        event = {
            "eventVersion": "1.0",
            "eventTime": "2026-11-26T12:00:01Z",
            "awsRegion": "eu-west-1",
            "target": {"id": "i-0a1b2c3d4e5f60718"},
            "userIdentity": {"arn": "arn:aws:sts::111122223333:assumed-role/PlatformAdmin/jane.roe"},
            "runAsUser": "root",
            "sessionId": case.session_id,
            "sessionData": [*case.lines, PROMPT],
        }
        yield json.dumps(event)


def scan_sessions(cases: list[Case]) -> dict[str, str]:
    """Session id -> every string `sessionguard scan --transcript` wrote for it, joined by newlines."""
    stdin = io.StringIO("\n".join(stream_events(cases)) + "\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    cli.main(["scan", "--transcript", "--min-severity", "info", "-"], stdin=stdin, stdout=stdout, stderr=stderr)
    output: dict[str, list[str]] = defaultdict(list)
    for line in stdout.getvalue().splitlines():
        record = json.loads(line)
        output[record["session_id"]].extend(strings_in(record))
    return {session: "\n".join(texts) for session, texts in output.items()}


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def secret_parts(secret: str) -> list[str]:
    """A secret of several lines is looked for line by line, without its BEGIN/END armour."""
    lines = [line.strip() for line in secret.split("\n")]
    return [line for line in lines if line and "-----BEGIN" not in line and "-----END" not in line]


def leaked(secret: str, output: str) -> bool:
    for part in secret_parts(secret):
        if part in output:
            return True
        if len(part) > LONG and any(part[i : i + WINDOW] in output for i in range(len(part) - WINDOW + 1)):
            return True
    return False


# Why an over-masked false positive may be a secret after all, as gitleaks' own rules judge its text.
OVER_MASKING_REASONS = (
    "another gitleaks rule calls it a secret",
    "its own rule does, but for the file name",
    "gitleaks finds no secret in it",
)


def over_masking_reason(case: Case) -> str:
    return OVER_MASKING_REASONS[0 if case.flagged else 1 if case.path_only else 2]


def rate(part: int, whole: int) -> dict[str, Any]:
    return {"cases": whole, "count": part, "percent": round(100 * part / whole, 2) if whole else 0.0}


def benign_lines(seed: int = 7) -> list[str]:
    """Ordinary output that must stay readable: ids, hashes, digests, host and pod names, encoded images (one
    case each; a case may hold several lines, as a base64 dump does). The last few are random ids that a
    shape test cannot tell from a credential when printed alone (CloudFront request ids, S3 version ids):
    they measure what masking bare tokens costs."""
    rng = random.Random(seed)  # noqa: S311 - sample data
    cases: list[str] = []
    alphabet = string.ascii_letters + string.digits
    for number in range(30):
        data = f"benign-{seed}-{number}".encode()
        sha1 = hashlib.sha1(data).hexdigest()  # noqa: S324 - shaped like a git SHA, not security
        md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum, not security
        sha256 = hashlib.sha256(data).hexdigest()
        ident = uuid.UUID(int=rng.getrandbits(128), version=4)
        image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(60, 400))).decode()
        suffix = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(10))
        cases += [
            sha1,  # git rev-parse HEAD
            f"{sha1[:7]} Fix the retry of lost ledger writes",  # git log --oneline
            f"commit {sha1}",
            f"{sha256}  release-{number}.tar.gz",  # sha256sum
            f"{md5}  /etc/app/config-{number}.yml",
            f"sha256:{sha256}",  # docker image id
            sha256[:12],  # docker ps -q
            f"ami-{sha1[:17]}",
            f"i-{sha1[-17:]}",
            str(ident),
            f"RequestId: {ident}",
            f"1-{md5[:8]}-{sha1[:24]}",  # X-Ray trace id
            "data:image/png;base64," + image,
            "\n".join(image[i : i + 76] for i in range(0, len(image), 76)),  # base64 logo.png
            f"sha512-{base64.b64encode(hashlib.sha512(data).digest()).decode()}",  # npm integrity
            f"vol-{sha1[:17]}   gp3   100   available",
            f"/var/lib/docker/overlay2/{sha256}/merged",
            f"ip-10-0-{number}-{number * 7 % 250}.eu-west-1.compute.internal",
            f"nginx-deployment-{suffix}-{suffix[:5]}",  # kubectl get pods -o name, without pod/
            f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/app:v1.{number}.0",
            f"2026-11-{number % 28 + 1:02d}T12:{number:02d}:01Z",
        ]
    for _ in range(5):  # random ids printed alone: a credential's shape
        cases.append("".join(rng.choice(alphabet) for _ in range(56)) + "==")  # CloudFront request id
        cases.append("".join(rng.choice(alphabet + "._") for _ in range(32)))  # S3 object version id
    return cases


def evaluate(samples: list[dict[str, Any]] | None = None, source: str = "gitleaks") -> dict[str, Any]:
    samples = load_samples() if samples is None else samples
    cases = build_cases(samples, benign_lines())
    started = time.perf_counter()
    output = scan_sessions(cases)
    seconds = time.perf_counter() - started
    placed: Counter[str] = Counter()
    leaks: Counter[str] = Counter()
    rule_cases: Counter[str] = Counter()
    rule_leaks: Counter[str] = Counter()
    template_leaks: Counter[str] = Counter()
    bare_printed, bare_printed_leaks = 0, 0
    negatives, negatives_masked = 0, 0  # false positives no gitleaks rule calls a secret
    leaked_examples: list[dict[str, str]] = []
    over_masked: list[str] = []
    reasons: Counter[str] = Counter()
    for case in cases:
        text = output.get(case.session_id, "")
        if case.placement in {"fp", "benign"}:
            placed[case.placement] += 1
            negatives += case.placement == "fp" and not case.flagged
            if MARKER in text:
                leaks[case.placement] += 1
                negatives_masked += case.placement == "fp" and not case.flagged
                if case.placement == "fp":
                    reasons[over_masking_reason(case)] += 1
                over_masked.append(f"{case.rule}: {case.lines[1:]}"[:200])
            continue
        placed[case.placement] += 1
        rule_cases[case.rule] += 1
        bare = case.template == "bare" or (len(case.lines) == 2 and case.lines[1].strip() == case.secrets[0])
        if case.placement == "printed" and bare:
            bare_printed += 1
        if any(leaked(secret, MARKERS.sub("\0", text)) for secret in case.secrets):
            leaks[case.placement] += 1
            rule_leaks[case.rule] += 1
            template_leaks[f"{case.placement}: {case.template}"] += 1
            if case.placement == "printed" and bare:
                bare_printed_leaks += 1
            if len(leaked_examples) < 2000:
                leaked_examples.append({"rule": case.rule, "placement": case.placement, "template": case.template})
    total = sum(placed[p] for p in PLACEMENTS)
    total_leaks = sum(leaks[p] for p in PLACEMENTS)
    return {
        "source": source,
        "placements": {p: rate(leaks[p], placed[p]) for p in PLACEMENTS},
        "all": rate(total_leaks, total),
        "bare_printed": rate(bare_printed_leaks, bare_printed),
        "rules": len(rule_cases),
        "rules_leaking": len(rule_leaks),
        "leaks_by_rule": dict(sorted(rule_leaks.items(), key=lambda item: (-item[1], item[0]))),
        "leaks_by_template": dict(sorted(template_leaks.items(), key=lambda item: (-item[1], item[0]))),
        "over_masking": rate(negatives_masked, negatives),
        "over_masking_all_samples": rate(leaks["fp"], placed["fp"]),
        "over_masking_reasons": {reason: reasons[reason] for reason in OVER_MASKING_REASONS},
        "benign_masked": rate(leaks["benign"], placed["benign"]),
        "over_masked_examples": over_masked[:50],
        "scan_seconds": round(seconds, 2),
    }


def trufflehog_figures() -> dict[str, Any]:
    """The leak figures on trufflehog's detector tests (no over-masking figures: see the module docstring)."""
    figures = evaluate(load_samples(TRUFFLEHOG_SAMPLES), source="trufflehog")
    return {key: figures[key] for key in LEAK_FIGURES}


def print_report(figures: dict[str, Any], out: Any = sys.stderr) -> None:
    print(
        f"Masking on {figures['source']}'s samples (leaked = secret or a 12-character window of it in the output)",
        file=out,
    )
    print(f"  {'placement':<22} {'leaked':>7} {'of':>7} {'%':>7}", file=out)
    for name, figure in [*figures["placements"].items(), ("all", figures["all"])]:
        print(f"  {name:<22} {figure['count']:>7} {figure['cases']:>7} {figure['percent']:>7}", file=out)
    bare = figures["bare_printed"]
    print(f"  {'bare token printed':<22} {bare['count']:>7} {bare['cases']:>7} {bare['percent']:>7}", file=out)
    print(f"  rules leaking at least once: {figures['rules_leaking']} of {figures['rules']}", file=out)
    if "over_masking" not in figures:  # a corpus without negatives
        return
    for label, key in (
        ("negatives masked (false positives no gitleaks rule flags)", "over_masking"),
        ("all gitleaks false positives masked", "over_masking_all_samples"),
        ("benign output masked", "benign_masked"),
    ):
        figure = figures[key]
        print(f"  {label}: {figure['count']} of {figure['cases']} ({figure['percent']} %)", file=out)
        if key == "over_masking_all_samples":
            for reason, count in figures["over_masking_reasons"].items():
                print(f"    {count:>5}  {reason}", file=out)
    print("  leaks by rule (top 25):", file=out)
    for rule, count in list(figures["leaks_by_rule"].items())[:25]:
        print(f"    {count:>5}  {rule}", file=out)
    print("  leaks by placement and template (top 25):", file=out)
    for template, count in list(figures["leaks_by_template"].items())[:25]:
        print(f"    {count:>5}  {template}", file=out)


def main() -> dict[str, Any]:
    """The masking figures (make eval merges them under "masking"), trufflehog's under "trufflehog"; prints the
    tables to stderr."""
    figures = evaluate()
    print_report(figures)
    figures["trufflehog"] = trufflehog_figures()
    print_report(figures["trufflehog"])
    return figures


if __name__ == "__main__":
    print(json.dumps(main()))
