"""tokens.json is tokens.yaml as JSON (masking/tokens.py reads it to skip PyYAML at a cold start): fresh, the same
document, and ignored for the YAML as soon as the YAML changes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from sessionguard.masking import tokens
from sessionguard.masking.tokens import PREBUILT_SUFFIX, TOKENS_FILE, token_shapes, write_prebuilt

from tests.support import REPO

PREBUILT = TOKENS_FILE.with_suffix(PREBUILT_SUFFIX)


def test_the_committed_json_is_made_from_the_current_yaml(tmp_path: Path) -> None:
    """Remake it with `python -m sessionguard.masking.tokens` after editing tokens.yaml."""
    copy = Path(shutil.copy(TOKENS_FILE, tmp_path / TOKENS_FILE.name))
    assert write_prebuilt(copy).read_text(encoding="utf-8") == PREBUILT.read_text(encoding="utf-8")


def test_the_json_holds_the_yaml_document() -> None:
    document = yaml.safe_load(TOKENS_FILE.read_text(encoding="utf-8"))
    assert json.loads(PREBUILT.read_text(encoding="utf-8"))["document"] == document
    assert tokens._document(TOKENS_FILE) == document


def test_a_stale_or_broken_json_is_ignored_for_the_yaml(tmp_path: Path) -> None:
    copy = Path(shutil.copy(TOKENS_FILE, tmp_path / TOKENS_FILE.name))
    write_prebuilt(copy)
    edited = TOKENS_FILE.read_text(encoding="utf-8").replace(
        "kind: aws-session-token", "kind: aws-session-token\n  source: x", 1
    )
    copy.write_text(edited, encoding="utf-8")  # the JSON no longer matches
    assert tokens._document(copy) == yaml.safe_load(edited)
    copy.with_suffix(PREBUILT_SUFFIX).write_text("{", encoding="utf-8")
    assert tokens._document(copy) == yaml.safe_load(edited)
    assert [shape.rule.kind for shape in token_shapes(copy)] == [shape.rule.kind for shape in token_shapes()]


def test_loading_the_masker_imports_no_yaml() -> None:
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO / 'layers' / 'sessionguard')!r}]\n"
        "from sessionguard.masking.masker import mask_secrets\n"
        "from sessionguard.rules import RulePack\n"
        "RulePack.load().match('ls -la')\n"
        "mask_secrets('sh-4.2$ ls -la')\n"
        "print('yaml' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"
