"""Each handler imports with nothing but what Lambda gives it: the sessionguard layer and the python3.13 runtime.

The dev venv holds far more than the layer ships (aws-xray-sdk came in with the dev tools), so a handler can pass
every other test and still fail to import in Lambda. Here each handler is imported in a fresh isolated interpreter
whose path holds only its function directory, the sessionguard package, the distributions pinned in
layers/sessionguard/requirements.txt and the packages the Lambda runtime provides, each taken from the venv (the
host's builds of the same versions, since the layer's own are aarch64).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.infra.stack import ROOT

LAYER = ROOT / "layers" / "sessionguard"
REQUIREMENTS = LAYER / "requirements.txt"
# What the Lambda python3.13 runtime ships besides the standard library: the AWS SDK and what it needs.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)")


def pinned() -> dict[str, str]:
    """{distribution: version} of the layer's requirements file."""
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def top_level_names(distribution: str) -> set[str]:
    """The importable top-level modules and packages a distribution installed."""
    names = set()
    for file in metadata.distribution(distribution).files or ():
        first = file.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__", "bin"):
            continue
        names.add(first.removesuffix(".py") if len(file.parts) == 1 else first)
    return names


@pytest.fixture(scope="module")
def lambda_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that looks like /opt/python plus the runtime's packages, made of links into the venv."""
    root = tmp_path_factory.mktemp("lambda-path")
    site = Path(metadata.distribution("boto3").locate_file(""))
    (root / "sessionguard").symlink_to(LAYER / "sessionguard")
    for distribution in [*pinned(), *RUNTIME_PROVIDED]:
        for name in top_level_names(distribution):
            for candidate in (site / name, *site.glob(f"{name}.*")):
                if candidate.exists() and not (root / candidate.name).exists():
                    (root / candidate.name).symlink_to(candidate)
    return root


def test_the_layer_pins_what_the_venv_runs() -> None:
    """The versions tested are the versions shipped."""
    for distribution, version in pinned().items():
        assert metadata.version(distribution) == version, distribution


@pytest.mark.parametrize("handler", HANDLERS, ids=[path.parent.name for path in HANDLERS])
def test_handler_imports_with_only_the_layer_and_the_runtime(handler: Path, lambda_path: Path) -> None:
    code = (
        "import importlib.util, sys\n"
        f"sys.path[:0] = [{str(handler.parent)!r}, {str(lambda_path)!r}]\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(handler)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "sessionguard",
        "POWERTOOLS_METRICS_NAMESPACE": "SessionGuard",
    }
    # -I: no user site, no PYTHON* variables, no script directory; -S: no site-packages, so only the paths above.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
