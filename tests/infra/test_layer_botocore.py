"""The layer ships botocore's data only for the services layers/sessionguard/botocore-services.txt lists, and that
list holds every service the layer and the functions make a client of.

A client of a service whose data the layer lacks fails with UnknownServiceError in Lambda only (the dev venv has
all of botocore), so the list is checked three ways: against every client the code makes (read from its syntax:
`.client("…")` on any receiver, `LazyClient("…")`, and the Powertools utilities that make their own), against
botocore's own services, and against the built layer, where each listed client is made and an unlisted one fails.
The layer's endpoints.json is cut to those services' endpoints too (layers/sessionguard/trim_botocore.py): each
client the built layer makes resolves the endpoint, region and signing that botocore's whole data resolves.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import trim_botocore  # layers/sessionguard, on the venv's path (the editable install)

from tests.infra.stack import ROOT
from tests.infra.test_layer_dependencies import BUILT_LAYER, built_distributions

# botocore's data as the dev venv has it: whole.
VENV_DATA = Path(str(metadata.distribution("botocore").locate_file("botocore"))) / "data"
SOURCES = [
    *sorted((ROOT / "layers" / "sessionguard" / "sessionguard").rglob("*.py")),
    *(ROOT / "functions").glob("*/app.py"),
]
# Powertools utilities that make a client of their own when given none, and its service: called as a module's
# attribute (`parameters.get_secret`) or imported by name.
POWERTOOLS_SERVICES = {
    "get_secret": "secretsmanager",
    "get_secrets_by_name": "secretsmanager",
    "SecretsProvider": "secretsmanager",
    "get_parameter": "ssm",
    "get_parameters": "ssm",
    "get_parameters_by_name": "ssm",
    "SSMProvider": "ssm",
    "get_app_config": "appconfigdata",
    "AppConfigProvider": "appconfigdata",
    "DynamoDBProvider": "dynamodb",
    "DynamoDBPersistenceLayer": "dynamodb",
    "S3Object": "s3",
}
# Every adapter makes its clients with `aws_client("…")` (LazyClient with `aws_client(self.service, …)`, its
# services then the LazyClient("…") names), which calls `sdk_session().create_client(service, …)`.
LAZY_CLIENT_MAKER = "layers/sessionguard/sessionguard/adapters/aws.py"
# Listed though no code of ours names them: botocore's own credential providers call STS (an assumed role, a web
# identity token) when the environment asks for them, and the X-Ray SDK's recorder makes a sampling client for its
# daemon at import outside Lambda (test_layer_dependencies imports each handler that way).
LISTED_FOR_LIBRARIES = {"sts", "xray"}


def listed() -> set[str]:
    return trim_botocore.listed_services()


# Methods that make a client (or a resource, which makes one) of the service named by their first argument, on any
# receiver: boto3, a boto3 or botocore session.
CLIENT_MAKERS = {"client", "resource", "create_client"}


def _client_service(call: ast.Call) -> str | None:
    """The service of a client-making call: None for any other call; "" when it is not a string literal."""
    function = call.func
    if isinstance(function, ast.Subscript):  # LazyClient[SNSClient]("sns")
        function = function.value
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    if name in POWERTOOLS_SERVICES:
        return POWERTOOLS_SERVICES[name]
    if not (name in CLIENT_MAKERS and isinstance(function, ast.Attribute)) and name not in {"LazyClient", "aws_client"}:
        return None
    first = call.args[0] if call.args else None
    if first is None:  # service_name=... as a keyword
        first = next((k.value for k in call.keywords if k.arg == "service_name"), None)
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def clients_made() -> dict[str, list[str]]:
    """{service: [file:line, ...]} of every client the layer's package and the functions make."""
    made: dict[str, list[str]] = {}
    for source in SOURCES:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (service := _client_service(node)) is not None:
                maker_argument = ast.unparse(node.args[0]) if node.args else ""
                if not service and source == ROOT / LAZY_CLIENT_MAKER and maker_argument in {"self.service", "service"}:
                    continue
                made.setdefault(service, []).append(f"{source.relative_to(ROOT)}:{node.lineno}")
    return made


def test_every_client_the_code_makes_names_its_service_literally() -> None:
    """A service computed at run time could not be checked against the list."""
    assert "" not in clients_made(), clients_made().get("")


def test_the_list_is_every_service_the_code_makes_a_client_of() -> None:
    made = clients_made()
    assert {"logs", "dynamodb", "sns", "secretsmanager"} <= set(made)  # the scan reads what it should
    assert listed() - LISTED_FOR_LIBRARIES == set(made), {
        "made, not listed": sorted(set(made) - listed()),
        "listed, not made": sorted(listed() - LISTED_FOR_LIBRARIES - set(made)),
    }


def test_every_listed_service_is_one_of_botocores() -> None:
    assert sorted(service for service in listed() if not (VENV_DATA / service).is_dir()) == []


def test_the_built_layer_ships_the_listed_services_data_only() -> None:
    built_distributions()  # fails with the reason when the build is missing or stale
    shipped = {entry.name for entry in (BUILT_LAYER / "botocore" / "data").iterdir() if entry.is_dir()}
    assert shipped == listed()


@functools.cache
def _regions() -> list[str]:
    """Every region of every partition botocore knows (endpoints.json, whole, from the venv), and one per partition
    that it does not know yet (resolved from the partition's pattern)."""
    endpoints = json.loads((VENV_DATA / "endpoints.json").read_text(encoding="utf-8"))
    known = [region for partition in endpoints["partitions"] for region in partition["regions"]]
    unknown = ["us-east-9", "cn-north-9", "us-gov-east-9"]
    return sorted(set(known)) + unknown


# Where each client is made: every region, plain and with FIPS endpoints (China's and GovCloud's DNS suffixes and
# signing regions, IAM's and STS's global endpoints, the ISO partitions...). A client botocore cannot make there
# (no FIPS endpoint) is recorded by its error's type, which must be the same from both.
SETTINGS = {"plain": {}, "fips": {"AWS_USE_FIPS_ENDPOINT": "true"}}
_MAKE_CLIENTS = """
import json, sys
import botocore.session
from botocore.exceptions import UnknownServiceError
session = botocore.session.get_session()
resolved = {}
for service in json.loads(sys.argv[1]):
    for region in json.loads(sys.argv[2]):
        try:
            client = session.create_client(service, region_name=region)
        except Exception as error:
            resolved[f"{service} {region}"] = ["error", type(error).__name__]
            continue
        signer = client._request_signer
        resolved[f"{service} {region}"] = [
            client.meta.endpoint_url, client.meta.region_name, signer.signing_name, signer.region_name
        ]
try:
    session.create_client("athena", region_name="us-east-1")
    unlisted = "made"
except UnknownServiceError:
    unlisted = "UnknownServiceError"
print(json.dumps({"resolved": resolved, "unlisted": unlisted, "from": botocore.__file__}))
"""


def _make_clients(path: list[str], setting: dict[str, str]) -> dict[str, Any]:
    """Make every listed client in every region, in an interpreter whose path is `path` (-I -S: nothing else)."""
    code = f"import sys\nsys.path[:0] = {path!r}\n{_MAKE_CLIENTS}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **setting,
    }
    arguments = [json.dumps(sorted(listed())), json.dumps(_regions())]
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    made: dict[str, Any] = json.loads(result.stdout)
    return made


@pytest.mark.parametrize("setting", SETTINGS.values(), ids=SETTINGS.keys())
def test_the_built_layer_makes_every_listed_client_as_botocore_whole_does_and_no_other(setting: dict[str, str]) -> None:
    built_distributions()  # fails with the reason when the build is missing or stale
    venv_botocore = Path(str(metadata.distribution("botocore").locate_file("")))
    layer, whole = _make_clients([str(BUILT_LAYER)], setting), _make_clients([str(venv_botocore)], setting)
    assert layer["from"].startswith(str(BUILT_LAYER))
    assert not whole["from"].startswith(str(BUILT_LAYER))
    assert layer["unlisted"] == "UnknownServiceError"
    assert whole["unlisted"] == "made"
    assert len(layer["resolved"]) == len(listed()) * len(_regions())
    differences = {
        key: (value, whole["resolved"].get(key))
        for key, value in layer["resolved"].items()
        if whole["resolved"].get(key) != value
    }
    assert differences == {}
    made = [key for key, value in layer["resolved"].items() if value[0] != "error"]
    assert len(made) > len(layer["resolved"]) // 2  # most of them are clients, not errors
    if not setting:
        assert layer["resolved"]["stepfunctions cn-north-1"][0] == "https://states.cn-north-1.amazonaws.com.cn"
        assert layer["resolved"]["iam us-east-1"][3] == "us-east-1"


@pytest.mark.parametrize(
    "line",
    [
        'LazyClient("sqs")',
        'LazyClient[SQSClient]("sqs")',
        'boto3.client("sqs")',
        'boto3.Session(profile_name=profile).client("sqs")',
        'session.create_client(service_name="sqs")',
        'boto3.resource("sqs")',
    ],
)
def test_the_scan_reads_each_way_a_client_is_made(line: str) -> None:
    assert _client_service(_call(line)) == "sqs"


@pytest.mark.parametrize("line", ["boto3.client(name)", "session.client(service_name=name)"])
def test_the_scan_flags_a_service_it_cannot_read(line: str) -> None:
    assert _client_service(_call(line)) == ""


def test_the_scan_passes_other_calls_by() -> None:
    assert _client_service(_call("http.client.HTTPSConnection(host)")) is None
    assert _client_service(_call("client_for(name)")) is None


@pytest.mark.parametrize(
    ("line", "service"),
    [
        ('parameters.get_secret("arn")', "secretsmanager"),
        ('get_secret("arn")', "secretsmanager"),
        ("get_app_config(name, environment)", "appconfigdata"),
        ("DynamoDBPersistenceLayer(table_name=name)", "dynamodb"),
    ],
)
def test_the_scan_reads_powertools_utilities_that_make_their_own_client(line: str, service: str) -> None:
    assert _client_service(_call(line)) == service


def _call(line: str) -> ast.Call:
    call = ast.parse(line, mode="eval").body
    assert isinstance(call, ast.Call)
    return call
