"""The rules reference table in docs/rules.md, generated from the pack so the docs cannot drift from the YAML."""

from __future__ import annotations

import sys
from pathlib import Path

from sessionguard.rules.pack import RulePack

TABLE_START = "<!-- rules-table:start (generated: python -m sessionguard.rules docs/rules.md) -->"
TABLE_END = "<!-- rules-table:end -->"


def render_markdown_table(pack: RulePack) -> str:
    """One row per rule in pack order: id, title, platform (the sessions it judges), severity, ATT&CK links."""
    lines = ["| ID | Title | Platform | Severity | ATT&CK |", "|---|---|---|---|---|"]
    for rule in pack.rules:
        techniques = ", ".join(f"[{technique}]({_attack_url(technique)})" for technique in rule.techniques)
        title = rule.title.replace("|", "\\|")
        lines.append(f"| `{rule.id}` | {title} | {rule.platform} | {rule.severity} | {techniques} |")
    return "\n".join(lines) + "\n"


def replace_table(document: str, table: str, start_marker: str = TABLE_START, end_marker: str = TABLE_END) -> str:
    """The document with the text between the table markers replaced by `table`."""
    start = document.index(start_marker) + len(start_marker)
    end = document.index(end_marker)
    return document[:start] + "\n" + table + document[end:]


def _attack_url(technique: str) -> str:
    return "https://attack.mitre.org/techniques/" + technique.replace(".", "/") + "/"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated table of the given markdown file(s) from the default pack."""
    table = render_markdown_table(RulePack.load())
    for name in argv if argv is not None else sys.argv[1:]:
        path = Path(name)
        path.write_text(replace_table(path.read_text(encoding="utf-8"), table), encoding="utf-8")
    return 0
