"""Detection rules as data: the default pack (the *.yaml files here), user rule files and the allow-list.

File format, matching semantics and the table of default rules: docs/rules.md.
"""

from sessionguard.rules.loader import parse_document
from sessionguard.rules.markdown import render_markdown_table
from sessionguard.rules.model import AllowEntry, Rule, RuleError, RuleMatch
from sessionguard.rules.pack import DEFAULT_RULES_DIR, RulePack

__all__ = [
    "DEFAULT_RULES_DIR",
    "AllowEntry",
    "Rule",
    "RuleError",
    "RuleMatch",
    "RulePack",
    "parse_document",
    "render_markdown_table",
]
