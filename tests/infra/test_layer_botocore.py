"""The layer ships botocore's data only for the services layers/sessionguard/botocore-services.txt lists, and that
list holds every service the layer and the functions make a client of.

A client of a service whose data the layer lacks fails with UnknownServiceError in Lambda only (the dev venv has
all of botocore), so the list is checked three ways: against every client the code makes (read from its syntax:
`boto3.client("…")`, `LazyClient("…")` and the Powertools Parameters call that reads the Slack secret), against
botocore's own services, and against the built layer, where each listed client is made and an unlisted one fails.
The layer's endpoints.json is cut to those services' endpoints too (layers/sessionguard/trim_botocore.py): each
client the built layer makes resolves the endpoint, region and signing that botocore's whole data resolves.
"""

from __future__ import annotations

import ast
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

SERVICES_FILE = ROOT / "layers" / "sessionguard" / "botocore-services.txt"
SOURCES = [
    *sorted((ROOT / "layers" / "sessionguard" / "sessionguard").rglob("*.py")),
    *(ROOT / "functions").glob("*/app.py"),
]
# Powertools Parameters functions the code calls, and the service each reads with.
PARAMETERS_SERVICES = {"get_secret": "secretsmanager", "get_parameter": "ssm", "get_parameters": "ssm"}
# LazyClient makes its clients with `boto3.client(self.service, …)`: its services are the LazyClient("…") names.
LAZY_CLIENT_MAKER = "layers/sessionguard/sessionguard/adapters/aws.py"
# Listed though no code of ours names them: botocore's own credential providers call STS (an assumed role, a web
# identity token) when the environment asks for them, and the X-Ray SDK's recorder makes a sampling client for its
# daemon at import outside Lambda (test_layer_dependencies imports each handler that way).
LISTED_FOR_LIBRARIES = {"sts", "xray"}


def listed() -> set[str]:
    return trim_botocore.listed_services(SERVICES_FILE)


# Methods that make a client (or a resource, which makes one) of the service named by their first argument, on any
# receiver: boto3, a boto3 or botocore session.
CLIENT_MAKERS = {"client", "resource", "create_client"}


def _client_service(call: ast.Call) -> str | None:
    """The service of a client-making call: None for any other call; "" when it is not a string literal."""
    function = call.func
    if isinstance(function, ast.Subscript):  # LazyClient[SNSClient]("sns")
        function = function.value
    if isinstance(function, ast.Attribute):
        receiver = function.value.id if isinstance(function.value, ast.Name) else ""
        if receiver == "parameters" and function.attr in PARAMETERS_SERVICES:
            return PARAMETERS_SERVICES[function.attr]
        if function.attr not in CLIENT_MAKERS:
            return None
    elif not (isinstance(function, ast.Name) and function.id == "LazyClient"):
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
                if not service and source == ROOT / LAZY_CLIENT_MAKER and ast.unparse(node.args[0]) == "self.service":
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
    data = Path(str(metadata.distribution("botocore").locate_file("botocore"))) / "data"
    assert sorted(service for service in listed() if not (data / service).is_dir()) == []


def test_the_built_layer_ships_the_listed_services_data_only() -> None:
    built_distributions()  # fails with the reason when the build is missing or stale
    shipped = {entry.name for entry in (BUILT_LAYER / "botocore" / "data").iterdir() if entry.is_dir()}
    assert shipped == listed()


# Where each client is made: a region of each partition whose endpoints differ (China's and GovCloud's DNS
# suffixes and signing regions, IAM's and STS's global endpoints).
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1")
_MAKE_CLIENTS = """
import json, sys
import botocore.session
from botocore.exceptions import UnknownServiceError
session = botocore.session.get_session()
resolved = {}
for service in json.loads(sys.argv[1]):
    for region in json.loads(sys.argv[2]):
        client = session.create_client(service, region_name=region)
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


def _make_clients(path: list[str]) -> dict[str, Any]:
    """Make every listed client in each of REGIONS in an interpreter whose path is `path` (-I -S: nothing else)."""
    code = f"import sys\nsys.path[:0] = {path!r}\n{_MAKE_CLIENTS}"
    env = {"PATH": os.environ.get("PATH", ""), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    arguments = [json.dumps(sorted(listed())), json.dumps(REGIONS)]
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


def test_the_built_layer_makes_every_listed_client_as_botocore_whole_does_and_no_other() -> None:
    built_distributions()  # fails with the reason when the build is missing or stale
    venv_botocore = Path(str(metadata.distribution("botocore").locate_file("")))
    layer, whole = _make_clients([str(BUILT_LAYER)]), _make_clients([str(venv_botocore)])
    assert layer["from"].startswith(str(BUILT_LAYER))
    assert not whole["from"].startswith(str(BUILT_LAYER))
    assert layer["unlisted"] == "UnknownServiceError"
    assert whole["unlisted"] == "made"
    assert len(layer["resolved"]) == len(listed()) * len(REGIONS)
    assert layer["resolved"] == whole["resolved"]
    assert layer["resolved"]["stepfunctions cn-north-1"][0] == "https://states.cn-north-1.amazonaws.com.cn"


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
    assert _client_service(_call('parameters.get_secret("arn")')) == "secretsmanager"


def _call(line: str) -> ast.Call:
    call = ast.parse(line, mode="eval").body
    assert isinstance(call, ast.Call)
    return call
