"""The layer is what layers/sessionguard/requirements.txt says, and each handler imports with nothing else.

The built layer (`make build`, which `make test` runs before pytest) must hold exactly the pinned distributions:
`sam build` installs requirements with their dependencies, so anything unpinned would float into the layer.

The dev venv holds far more than the layer ships, so a handler can pass every other test and still fail to import
in Lambda. Here each handler is imported in a fresh isolated interpreter whose path holds only its function
directory, the sessionguard package and the distributions pinned in the requirements file (the AWS SDK included:
the layer ships it, botocore with only the data the layer keeps), each taken from the venv (the host's builds of
the same versions, since the layer's are aarch64), both outside Lambda's environment and inside it
(LAMBDA_TASK_ROOT set: the X-Ray SDK then samples locally instead of making its sampling client).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import trim_botocore  # layers/sessionguard, on the venv's path (the editable install)

from tests.infra.stack import ROOT

LAYER = ROOT / "layers" / "sessionguard"
REQUIREMENTS = LAYER / "requirements.txt"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "SessionGuardLayer" / "python"
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


def canonical(distribution: str) -> str:
    """A distribution name as packaging normalizes it (PEP 503): PyYAML, pyyaml and py_yaml are one name."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


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
    # botocore as the layer ships it: the data of the services botocore-services.txt lists only.
    trim_botocore.link_trimmed(site / "botocore", root / "botocore", trim_botocore.listed_services())
    for distribution in pinned():
        for name in top_level_names(distribution):
            for candidate in (site / name, *site.glob(f"{name}.*")):
                if candidate.exists() and not (root / candidate.name).exists():
                    (root / candidate.name).symlink_to(candidate)
    return root


def test_the_layer_pins_what_the_venv_runs() -> None:
    """The versions tested are the versions shipped."""
    for distribution, version in pinned().items():
        assert metadata.version(distribution) == version, distribution


@pytest.mark.parametrize("in_lambda", [False, True], ids=["outside-lambda", "in-lambda"])
@pytest.mark.parametrize("handler", HANDLERS, ids=[path.parent.name for path in HANDLERS])
def test_handler_imports_with_only_the_layer_and_the_runtime(
    handler: Path, lambda_path: Path, in_lambda: bool, tmp_path: Path
) -> None:
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
        **({"LAMBDA_TASK_ROOT": str(tmp_path)} if in_lambda else {}),
    }
    # -I: no user site, no PYTHON* variables, no script directory; -S: no site-packages, so only the paths above.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def built_distributions() -> dict[str, metadata.Distribution]:
    """{canonical name: distribution} of what `sam build` put into the layer."""
    if not BUILT_LAYER.is_dir():
        pytest.fail(f"{BUILT_LAYER.relative_to(ROOT)} is missing: run `make build` first (`make test` does)")
    if (BUILT_LAYER / "requirements.txt").read_bytes() != REQUIREMENTS.read_bytes():
        pytest.fail("the built layer comes from another requirements.txt: run `make build` again")
    found = metadata.distributions(path=[str(BUILT_LAYER)])
    return {canonical(d.metadata["Name"]): d for d in found}


def test_the_built_layer_holds_exactly_the_pinned_distributions() -> None:
    built = {name: d.version for name, d in built_distributions().items()}
    assert built == {canonical(name): version for name, version in pinned().items()}


def test_everything_in_the_built_layer_belongs_to_a_pinned_distribution_or_to_sessionguard() -> None:
    """Nothing that came in outside a distribution's RECORD (a vendored copy, a leftover of an older build)."""
    owned = {"sessionguard", "requirements.txt", "__pycache__"}  # __pycache__: six.py's and typing_extensions.py's
    for distribution in built_distributions().values():
        owned |= {file.parts[0] for file in distribution.files or ()}
    assert sorted(entry.name for entry in BUILT_LAYER.iterdir() if entry.name not in owned) == []


def test_every_module_in_the_built_layer_ships_compiled_for_python_3_13_unchecked() -> None:
    """Lambda mounts the layer read-only: a module without its .pyc is compiled from source on every cold start
    (`import boto3` ~470 ms instead of ~150 ms). An unchecked-hash .pyc (PEP 552 flags = 1) is used whatever
    modification times the deployment zip keeps."""
    built_distributions()  # fails with the reason when the build is missing or stale
    tag = sys.implementation.cache_tag
    assert tag == "cpython-313"
    missing, checked = [], []
    for source in BUILT_LAYER.rglob("*.py"):
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if not compiled.is_file():
            missing.append(str(source.relative_to(BUILT_LAYER)))
        elif int.from_bytes(compiled.read_bytes()[4:8], "little") != 1:
            checked.append(str(compiled.relative_to(BUILT_LAYER)))
    assert not missing, missing[:20]
    assert not checked, checked[:20]
