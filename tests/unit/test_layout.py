"""The package's layout is enforced, not described: where I/O may happen, how big a module may grow, what sits at
the top. docs/architecture.md's code map explains the packages.

- Only `sessionguard.adapters` (and the handlers in functions/) may import boto3, botocore, urllib.request or
  Powertools Idempotency: ruff's banned-api rule (TID251) in pyproject.toml says so, and `make lint` runs ruff.
  The test runs ruff with the project's configuration on the same import placed inside and outside adapters/.
- The pure packages import without loading boto3 at all.
- No module over 900 lines; at most six modules directly in sessionguard/; every package says what it owns.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "sessionguard" / "sessionguard"
RUFF = Path(sys.executable).with_name("ruff")
MAX_MODULE_LINES = 900
MAX_TOP_LEVEL_MODULES = 6
BANNED = [
    "import boto3",
    "from botocore.exceptions import ClientError",
    "import urllib.request",
    "from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig",
]
PURE = [
    "sessionguard.session.engine",
    "sessionguard.masking.masker",
    "sessionguard.rules",
    "sessionguard.guardrails.matching",
    "sessionguard.alerting.formatting",
    "sessionguard.alerting.noise",
    "sessionguard.enrollment.decisions",
]


def banned_api_findings(source: str, path: str) -> list[str]:
    """ruff's TID251 findings for `source` as if it were the file at `path` (repository-relative), with the
    project's configuration and per-file ignores."""
    result = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--select", "TID251", "--output-format", "json", "--stdin-filename", path],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    return [finding["code"] for finding in json.loads(result.stdout)]


@pytest.mark.parametrize("source", BANNED)
@pytest.mark.parametrize(
    "path",
    [
        "layers/sessionguard/sessionguard/session/new_module.py",
        "layers/sessionguard/sessionguard/alerting/new_module.py",
        "layers/sessionguard/sessionguard/new_module.py",
    ],
)
def test_lint_fails_on_io_imports_outside_adapters(source: str, path: str) -> None:
    assert banned_api_findings(source + "\n", path) == ["TID251"]


@pytest.mark.parametrize("source", BANNED)
@pytest.mark.parametrize(
    "path", ["layers/sessionguard/sessionguard/adapters/new_service.py", "functions/new_function/app.py"]
)
def test_adapters_and_handlers_may_import_them(source: str, path: str) -> None:
    assert banned_api_findings(source + "\n", path) == []


def test_the_pure_packages_import_without_boto3() -> None:
    code = (
        f"import sys\nfor name in {PURE!r}: __import__(name)\nprint(sorted({{'boto3', 'botocore'}} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_no_module_is_over_900_lines() -> None:
    sizes = {path.relative_to(PACKAGE).as_posix(): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


def test_at_most_six_modules_sit_at_the_top() -> None:
    assert len(list(PACKAGE.glob("*.py"))) <= MAX_TOP_LEVEL_MODULES


@pytest.mark.parametrize("package", sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")))
def test_every_package_says_what_it_owns(package: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
    assert docstring
    assert len(docstring) > 60, package
