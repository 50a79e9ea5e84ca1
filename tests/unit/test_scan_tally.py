"""`sessionguard scan`'s summary lists the alerts that sorting them all by severity would list first, though it keeps
only those (archive/rendering.py's AlertTally), whether one process counted them or workers each counted a share."""

from __future__ import annotations

import random

import pytest
from sessionguard.archive.rendering import TOP_ALERTS, AlertTally
from sessionguard.session.engine import CommandAlert
from sessionguard.severity import Severity


def _alert(session: int, number: int, severity: Severity) -> CommandAlert:
    return CommandAlert(f"s{session}", "i-1", "arn", f"SG-{number}", "t", severity, (), "", "cmd", "")


def _sessions(seed: int) -> list[list[CommandAlert]]:
    draw = random.Random(seed)  # noqa: S311 - test data, drawn the same each run
    weights = [8, 6, 3, 2, 1] if seed % 2 else [1, 2, 3, 6, 8]  # mostly low, or mostly critical
    return [
        [_alert(session, n, draw.choices(list(Severity), weights)[0]) for n in range(draw.randrange(0, 9))]
        for session in range(draw.randrange(1, 60))
    ]


@pytest.mark.parametrize("seed", range(40))
def test_the_tally_lists_what_a_stable_sort_of_every_alert_by_severity_lists(seed: int) -> None:
    sessions = _sessions(seed)
    written = [alert for alerts in sessions for alert in alerts]
    expected = sorted(written, key=lambda alert: -alert.severity)[:TOP_ALERTS]

    alone = AlertTally()
    for alerts in sessions:
        alone.add(alerts)
    shares = [AlertTally(), AlertTally(), AlertTally()]  # workers, each with some of the sessions, in output order
    for group, alerts in enumerate(sessions):
        shares[(group * 7 + seed) % 3].add(alerts, group)
    merged = AlertTally()
    for share in shares:
        merged.merge(share)
    merged.add([_alert(99, 0, Severity.CRITICAL)])  # then an archive's alerts, after every file's

    assert alone.count == len(written)
    assert alone.top == expected
    assert merged.count == len(written) + 1
    assert merged.top == sorted([*written, _alert(99, 0, Severity.CRITICAL)], key=lambda a: -a.severity)[:TOP_ALERTS]
