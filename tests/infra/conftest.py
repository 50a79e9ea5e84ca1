"""Fixtures: the translated template, and a moto CloudFormation to deploy it into."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.infra.stack import (
    ARTIFACT_BUCKET,
    adapt_for_moto,
    local_code_keys,
    sam_template,
    translate,
    zip_bytes,
)


@pytest.fixture(scope="session")
def cfn_template() -> dict[str, Any]:
    return translate()


@pytest.fixture
def deploy_stack() -> Iterator[Callable[..., dict[str, str]]]:
    """Deploy the translated template into moto; returns {logical id: physical id} of what was created."""
    with mock_aws():

        def deploy(parameters: dict[str, str] | None = None, name: str = "sessionguard") -> dict[str, str]:
            s3 = boto3.client("s3")
            if ARTIFACT_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
                s3.create_bucket(Bucket=ARTIFACT_BUCKET)
            template = sam_template()
            for key in local_code_keys(template).values():
                s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=zip_bytes())
            cfn = boto3.client("cloudformation")
            cfn.create_stack(
                StackName=name,
                TemplateBody=json.dumps(adapt_for_moto(translate(template))),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
            resources = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
            return {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources}

        yield deploy
