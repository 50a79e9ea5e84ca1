"""template.yaml as `sam deploy` hands it to CloudFormation, and shaped for the emulator's CloudFormation.

`sam deploy` zips each local CodeUri/ContentUri, uploads it, rewrites the property to the s3:// URI and lets
CloudFormation run the AWS::Serverless transform. `translate` does the same offline with samtranslator (the
library `sam` itself uses), inlining DefinitionUri the way `sam package` does. tests/infra deploys the result into
moto too, with placeholder code; the demo uploads the real code (`code_zip`).
"""

from __future__ import annotations

import copy
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
ARTIFACT_BUCKET = "sessionguard-artifacts"

# Where `sam deploy` uploads local code: SAM rewrites these properties to s3:// URIs before translation.
LOCAL_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
# Left out of code zips, as `sam build` leaves them out.
_NOT_CODE = {"__pycache__", ".pytest_cache", ".mypy_cache"}


class _NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs only for policies named by bare name; we name none."""

    def load(self) -> dict[str, str]:
        return {}


def sam_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml_parse(path.read_text())  # type: ignore[no-any-return]


def local_code_keys(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> S3 key for each resource whose code is a local path."""
    keys = {}
    for logical_id, resource in template["Resources"].items():
        prop = LOCAL_CODE_PROPERTIES.get(resource["Type"])
        if prop and isinstance(resource["Properties"].get(prop), str):
            keys[logical_id] = f"{logical_id}.zip"
    return keys


def local_code_paths(template: dict[str, Any]) -> dict[str, Path]:
    """Logical id -> local directory (functions, layers) or file (state machine definitions) of its code."""
    paths = {}
    for logical_id in local_code_keys(template):
        resource = template["Resources"][logical_id]
        paths[logical_id] = ROOT / resource["Properties"][LOCAL_CODE_PROPERTIES[resource["Type"]]]
    return paths


def translate(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """SAM -> CloudFormation, with local code replaced by the S3 placeholders `sam deploy` would upload."""
    template = copy.deepcopy(template or sam_template())
    for logical_id, key in local_code_keys(template).items():
        resource = template["Resources"][logical_id]
        prop = LOCAL_CODE_PROPERTIES[resource["Type"]]
        if resource["Type"] == "AWS::Serverless::StateMachine":
            definition = (ROOT / resource["Properties"].pop(prop)).read_text()
            resource["Properties"]["Definition"] = json.loads(definition)
        else:
            resource["Properties"][prop] = f"s3://{ARTIFACT_BUCKET}/{key}"
    # The translator asks boto3 for a region to fill AWS::Region; tests and the demo run in us-east-1.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return translated


def custom_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"].startswith("Custom::")}


def adapt_for_moto(template: dict[str, Any]) -> dict[str, Any]:
    """Work around where moto's CloudFormation differs from AWS's, and nowhere else.

    - moto 5.2.5 reads AWS::KMS::Key Tags in the KMS API shape (TagKey/TagValue); CloudFormation uses Key/Value.
    - moto invokes a custom resource's function in Docker, which these machines lack, and then waits forever for
      its answer; custom resources are left out here. tests/functional tests their handlers; the demo invokes
      them itself (demo.deploy).
    """
    template = copy.deepcopy(template)
    for name in custom_resources(template):
        del template["Resources"][name]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::KMS::Key" and "Tags" in resource["Properties"]:
            resource["Properties"]["Tags"] = [
                {"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in resource["Properties"]["Tags"]
            ]
    return template


def code_zip(path: Path) -> bytes:
    """A directory zipped as `sam deploy` uploads it (a file is zipped alone)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if path.is_file():
            archive.write(path, path.name)
        for file in sorted(path.rglob("*")) if path.is_dir() else []:
            if file.is_file() and not _NOT_CODE.intersection(file.relative_to(path).parts) and file.suffix != ".pyc":
                archive.write(file, file.relative_to(path).as_posix())
    return buffer.getvalue()


def zip_bytes() -> bytes:
    """Placeholder code for deployments that never run it (tests/infra)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()
