"""Windows detection measured on evaluation/corpus/windows: every case typed into its own Windows session as the SSM
Agent streams it (a PowerShell transcript: the header event, then each input after the prompt with its later lines
bare), every session scanned in one run of the real `sessionguard scan --min-severity info`.

Recall and noise are counted as for Linux (evaluation/detection.py): a risky case is caught when its session has any
alert, "medium+" when one is medium or above; a benign case with an alert at medium or above is noise.

    python -m evaluation.windows [--missed N]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sessionguard.session.powershell_syntax import input_is_complete

from evaluation.detection import Alerts, Case, Report, load_cases, render, scan_sessions

CORPUS = Path(__file__).parent / "corpus" / "windows"
PROMPT = "PS C:\\Windows\\system32> "
# The transcript header PowerShell writes when the session's shell starts (docs/session-format.md).
HEADER = (
    "\ufeff**********************",
    "Windows PowerShell transcript start",
    "Start time: 20261126120000",
    "Username: EC2AMAZ-EVAL\\ssm-user",
    "RunAs User: EC2AMAZ-EVAL\\ssm-user",
    "Configuration Name: ",
    "Machine: EC2AMAZ-EVAL (Microsoft Windows NT 10.0.20348.0)",
    "Host Application: C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "Process ID: 4188",
    "PSVersion: 5.1.20348.2849",
    "PSEdition: Desktop",
    "**********************",
)
_EVENT: dict[str, Any] = {
    "eventVersion": "1.0",
    "eventTime": "2026-11-26T12:00:00Z",
    "awsRegion": "eu-west-1",
    "target": {"id": "i-0e7a1b2c3d4e5f607"},
    "userIdentity": {"arn": "arn:aws:sts::111122223333:assumed-role/PlatformAdmin/eval"},
    "runAsUser": "ssm-user",
}


def transcript_lines(lines: Sequence[str]) -> list[str]:
    """The transcript lines of `lines` typed one input after another: an input takes the following lines while
    PowerShell would ask for more (`>> `), and the transcript writes it as the prompt, its first line, then the
    rest bare."""
    shown: list[str] = []
    group: list[str] = []
    for line in lines:
        group.append(line)
        if input_is_complete("\n".join(group)):
            shown += [PROMPT + group[0], *group[1:]]
            group = []
    if group:
        shown += [PROMPT + group[0], *group[1:]]
    return shown


def session_events(cases: Sequence[Case]) -> Iterator[dict[str, Any]]:
    """Per case: the header event, then one event with its inputs."""
    for index, case in enumerate(cases):
        session = {**_EVENT, "sessionId": session_id(index)}
        yield {**session, "sessionData": list(HEADER)}
        yield {**session, "sessionData": transcript_lines(case.lines)}


def session_id(index: int) -> str:
    return f"win-eval-{index:06d}"


def scan(cases: Sequence[Case]) -> list[Alerts]:
    """The sessionguard CLI run once, in this process, over every case's session; alerts per case."""
    return scan_sessions(session_events(cases), [session_id(index) for index in range(len(cases))])


def evaluate(cases: Sequence[Case]) -> Report:
    """Recall per source and technique, and noise, as evaluation.detection counts them."""
    report = Report()
    for case, alerts in zip(cases, scan(cases), strict=True):
        if not case.risky:
            if case.dual_use:
                report.dual_use.append((case, alerts))
                continue
            report.benign += 1
            report.benign_by_source[case.source] += 1
            if noisy := alerts.medium_rules():
                report.noisy.append((case, noisy))
                report.noise_by_rule.update(noisy)
            continue
        report.overall.add(alerts)
        report.by_source[case.source].add(alerts)
        if case.function:
            report.by_function[case.function].add(alerts)
        for technique in case.techniques:
            report.by_technique[technique].add(alerts)
        if not alerts.any:
            report.missed.append(case)
    return report


def main(show_missed: int = 0) -> dict[str, Any]:
    report = evaluate(load_cases(CORPUS))
    print("Windows sessions")
    for line in render(report, show_missed=show_missed):
        print(line.replace("GTFOBins by function", "LOLBAS by category"))
    summary = report.summary()
    summary["lolbas_categories"] = summary.pop("gtfobins_functions")
    summary.pop("gtfobins_contexts")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m evaluation.windows", description="Windows detection benchmark")
    parser.add_argument("--missed", type=int, default=0, metavar="N", help="also list the first N missed risky cases")
    figures = main(show_missed=parser.parse_args().missed)
    print(json.dumps({"windows": figures}, sort_keys=True))
