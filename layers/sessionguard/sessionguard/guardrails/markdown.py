"""The guardrails table in docs/guardrails.md, generated from guardrails.yaml so the docs cannot drift from the data."""

from __future__ import annotations

import sys
from pathlib import Path

from sessionguard.guardrails.catalog import GUARDRAILS
from sessionguard.guardrails.model import Guardrail
from sessionguard.rules.markdown import replace_table

TABLE_START = "<!-- guardrails-table:start (generated: python -m sessionguard.guardrails docs/guardrails.md) -->"
TABLE_END = "<!-- guardrails-table:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row(guardrail: Guardrail) -> str:
    names = ", ".join(f"`{name}`" for name in guardrail.event_names)
    event = f"`{guardrail.event_source}` {names}" + (" (S3 data event)" if guardrail.data_event else "")
    cells = (
        guardrail.id,
        _cell(guardrail.title),
        str(guardrail.severity),
        event,
        _cell(guardrail.condition),
        "yes" if guardrail.stack_may_change else "no",
        ", ".join(guardrail.techniques),
    )
    return "| " + " | ".join(cells) + " |"


def render_markdown_table(guardrails: tuple[Guardrail, ...] = GUARDRAILS) -> str:
    """One row per guardrail in file order: id, title, severity, the CloudTrail event, the condition in words,
    whether CloudFormation may make the call, ATT&CK techniques."""
    lines = [
        "| ID | Guardrail | Severity | CloudTrail event (`eventSource` `eventName`) | Condition | CloudFormation "
        "| MITRE ATT&CK |",
        "|---|---|---|---|---|---|---|",
        *(_row(guardrail) for guardrail in guardrails),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated table of the given markdown file(s) from guardrails.yaml."""
    table = render_markdown_table()
    for name in argv if argv is not None else sys.argv[1:]:
        path = Path(name)
        path.write_text(
            replace_table(path.read_text(encoding="utf-8"), table, TABLE_START, TABLE_END), encoding="utf-8"
        )
    return 0
