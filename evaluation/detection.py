"""Detection measured on the corpus: every case typed into its own session, every session scanned in one run of the
real `sessionguard scan --min-severity info`, alerts counted per case.

Recall: a risky case counts as caught when its session has any alert (any severity), and "medium+" when one of them
is medium or above. Noise: a benign case with an alert at medium or above. Rates are per case. Cases the curation
marks `dual_use` (evaluation/curation.py) count neither as risky nor as benign, whatever their source.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessionguard import cli

from evaluation.typist import PROMPT, stream_event, typed

CORPUS = Path(__file__).parent / "corpus"
MEDIUM_AND_ABOVE = {"medium", "high", "critical"}


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    risky: bool
    lines: tuple[str, ...]
    techniques: tuple[str, ...] = ()
    function: str = ""
    context: str = ""
    dual_use: str = ""

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Case:
        return cls(
            id=record["id"],
            source=record["source"],
            risky=bool(record["risky"]),
            lines=tuple(record["lines"]),
            techniques=tuple(record.get("techniques", ())),
            function=record.get("function", ""),
            context=record.get("context", ""),
            dual_use=record.get("dual_use", ""),
        )


def load_cases(corpus: Path = CORPUS) -> list[Case]:
    """Every case of every source folder (cases.jsonl), in a fixed order."""
    cases: list[Case] = []
    for path in sorted(corpus.glob("*/cases.jsonl")):
        with path.open(encoding="utf-8") as lines:
            cases.extend(Case.from_json(json.loads(line)) for line in lines if line.strip())
    return cases


def session_events(cases: Sequence[Case]) -> Iterator[dict[str, Any]]:
    """One streamed event per case, its lines typed after the prompt and a prompt after the last command."""
    for index, case in enumerate(cases):
        yield stream_event(session_id(index), [*typed(case.lines), PROMPT])


def session_id(index: int) -> str:
    return f"eval-{index:06d}"


@dataclass
class Alerts:
    """Alerts of one session: (rule id, severity) in the order raised."""

    raised: list[tuple[str, str]] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.raised)

    @property
    def medium(self) -> bool:
        return any(severity in MEDIUM_AND_ABOVE for _, severity in self.raised)

    def medium_rules(self) -> set[str]:
        return {rule for rule, severity in self.raised if severity in MEDIUM_AND_ABOVE}


def scan(cases: Sequence[Case]) -> list[Alerts]:
    """Runs the sessionguard CLI once, in this process, over all cases' sessions; alerts per case."""
    return scan_sessions(session_events(cases), [session_id(index) for index in range(len(cases))])


def scan_sessions(events: Iterable[dict[str, Any]], session_ids: Sequence[str]) -> list[Alerts]:
    """`sessionguard scan --min-severity info` run once, in this process, over the streamed events; the alerts of
    each session in `session_ids`, in that order."""
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "sessions.jsonl"
        with stream.open("w", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(event, ensure_ascii=False) + "\n")
        stdout, stderr = io.StringIO(), io.StringIO()
        status = cli.main(["scan", "--min-severity", "info", str(stream)], stdout=stdout, stderr=stderr)
    if status != 0:
        raise RuntimeError(f"sessionguard scan exited {status}: {stderr.getvalue()[:2000]}")
    by_session: dict[str, Alerts] = defaultdict(Alerts)
    for line in stdout.getvalue().splitlines():
        record = json.loads(line)
        if record.get("type") == "alert":
            by_session[record["session_id"]].raised.append((record["rule_id"], record["severity"]))
    return [by_session[session] for session in session_ids]


@dataclass
class Tally:
    """Caught counts of a group of risky cases."""

    cases: int = 0
    any: int = 0
    medium: int = 0

    def add(self, alerts: Alerts) -> None:
        self.cases += 1
        self.any += alerts.any
        self.medium += alerts.medium

    def to_json(self) -> dict[str, Any]:
        return {"cases": self.cases, "any": _rate(self.any, self.cases), "medium": _rate(self.medium, self.cases)}


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


@dataclass
class Report:
    overall: Tally = field(default_factory=Tally)
    by_source: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_function: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_context: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_technique: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    benign: int = 0
    benign_by_source: Counter[str] = field(default_factory=Counter)
    noisy: list[tuple[Case, set[str]]] = field(default_factory=list)
    noise_by_rule: Counter[str] = field(default_factory=Counter)
    missed: list[Case] = field(default_factory=list)
    dual_use: list[tuple[Case, Alerts]] = field(default_factory=list)

    @property
    def noise(self) -> float:
        return self.benign and len(self.noisy) / self.benign

    def summary(self) -> dict[str, Any]:
        """The figures the JSON line and the ratchet carry."""
        return {
            "risky_cases": self.overall.cases,
            "recall_any": _rate(self.overall.any, self.overall.cases),
            "recall_medium": _rate(self.overall.medium, self.overall.cases),
            "benign_cases": self.benign,
            "noise_medium_cases": len(self.noisy),
            "noise_medium": round(self.noise, 5),
            "by_source": {name: tally.to_json() for name, tally in sorted(self.by_source.items())},
            "gtfobins_functions": {name: tally.to_json() for name, tally in sorted(self.by_function.items())},
            "gtfobins_contexts": {name: tally.to_json() for name, tally in sorted(self.by_context.items())},
            "noise_by_rule": dict(self.noise_by_rule.most_common()),
            "dual_use_cases": len(self.dual_use),
        }


def evaluate(cases: Sequence[Case]) -> Report:
    report = Report()
    for case, alerts in zip(cases, scan(cases), strict=True):
        if case.dual_use:
            report.dual_use.append((case, alerts))
        elif case.risky:
            report.overall.add(alerts)
            report.by_source[case.source].add(alerts)
            for technique in case.techniques:
                report.by_technique[technique].add(alerts)
            if case.function:
                report.by_function[case.function].add(alerts)
                report.by_context[case.context].add(alerts)
            if not alerts.any:
                report.missed.append(case)
        else:
            report.benign += 1
            report.benign_by_source[case.source] += 1
            if rules := alerts.medium_rules():
                report.noisy.append((case, rules))
                report.noise_by_rule.update(rules)
    return report


def _table(title: str, rows: Iterable[tuple[str, Tally]]) -> list[str]:
    lines = [f"{title:<34} {'cases':>6} {'any':>7} {'medium+':>8}"]
    lines += [
        f"  {name:<32} {t.cases:>6} {t.any / t.cases:>7.1%} {t.medium / t.cases:>8.1%}" for name, t in rows if t.cases
    ]
    return lines


def render(report: Report, *, show_missed: int = 0) -> list[str]:
    """The human part of the output (every line before the JSON line)."""
    lines = _table("recall by source", [("ALL", report.overall), *sorted(report.by_source.items())])
    lines += _table("GTFOBins by function", sorted(report.by_function.items()))
    lines += _table("GTFOBins by context", sorted(report.by_context.items()))
    lines += _table("recall by ATT&CK technique", sorted(report.by_technique.items()))
    lines.append(
        f"noise (medium+ on benign cases): {len(report.noisy)}/{report.benign} = {report.noise:.3%}  "
        + ", ".join(f"{source} {count}" for source, count in sorted(report.benign_by_source.items()))
    )
    lines += [f"  {rule:<14} {count}" for rule, count in report.noise_by_rule.most_common()]
    lines.append("benign cases alerting medium+ (for triage):")
    lines += [
        f"  {case.id}  [{','.join(sorted(rules))}]  {' ⏎ '.join(case.lines)[:150]}" for case, rules in report.noisy
    ]
    for risky in (False, True):
        listed = [alerts for case, alerts in report.dual_use if case.risky == risky]
        if risky and not listed:
            continue
        what = "risky-source cases not risky when typed" if risky else "dual-use examples in benign sources"
        lines.append(
            f"{what} (neither noise nor risky): {sum(alerts.any for alerts in listed)}/{len(listed)} any, "
            f"{sum(alerts.medium for alerts in listed)} medium+"
        )
    if show_missed:
        lines.append(f"missed risky cases (first {show_missed} of {len(report.missed)}):")
        lines += [f"  {case.id}  {' ⏎ '.join(case.lines)[:150]}" for case in report.missed[:show_missed]]
    return lines


def main(show_missed: int = 0) -> dict[str, Any]:
    report = evaluate(load_cases())
    for line in render(report, show_missed=show_missed):
        print(line)
    return report.summary()
