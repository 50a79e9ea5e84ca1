"""Trim the built layer's botocore data to the services botocore-services.txt lists (run by this directory's Makefile
on the layer `sam build` made; not shipped).

    python3.13 trim_botocore.py BUILT_LAYER/python/botocore/data

Every other service's directory is removed, and endpoints.json keeps, in each partition, only the endpoints of the
listed services (keyed by each one's endpointPrefix, which its service-2.json names): the partitions, their regions
and defaults stay whole. botocore reads all 1.2 MB of endpoints.json and lists every service directory (twice) when
a cold start makes its first client: ~30 ms of the session alert function's start (docs/performance.md, "Starting a
function"), and ~25 MB of the layer. tests/infra/test_layer_botocore.py makes each listed client from the trimmed
data and from botocore's own, and compares the endpoints, regions and signing names they resolve.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path
from typing import Any

SERVICES_FILE = Path(__file__).with_name("botocore-services.txt")


def listed_services(path: Path = SERVICES_FILE) -> set[str]:
    """The service names botocore-services.txt lists (one per line, `#` comments)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.split("#")[0].strip() for line in lines} - {""}


def endpoint_prefix(service: Path) -> str:
    """The endpointPrefix of a service's newest API version (the key endpoints.json files its endpoints under)."""
    newest = max(version for version in service.iterdir() if version.is_dir())
    for name, opener in (("service-2.json", open), ("service-2.json.gz", gzip.open)):
        if (newest / name).is_file():
            with opener(newest / name, "rt", encoding="utf-8") as model:
                return str(json.load(model)["metadata"]["endpointPrefix"])
    raise FileNotFoundError(f"{newest}: no service-2.json")


def trimmed_endpoints(endpoints: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """endpoints.json with each partition's services cut to `prefixes`; everything else as it was."""
    partitions = [
        {**partition, "services": {key: value for key, value in partition["services"].items() if key in prefixes}}
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def trim(data: Path, services: set[str]) -> None:
    """Remove from botocore's `data` directory every service not in `services`, and their endpoints."""
    missing = sorted(service for service in services if not (data / service).is_dir())
    if missing:
        raise SystemExit(f"{data}: botocore has no data for {', '.join(missing)} (botocore-services.txt)")
    for entry in data.iterdir():
        if entry.is_dir() and entry.name not in services:
            shutil.rmtree(entry)
    write_trimmed_endpoints(data, services, data / "endpoints.json")


def write_trimmed_endpoints(data: Path, services: set[str], target: Path) -> None:
    """Write to `target` the endpoints.json of botocore's `data` directory cut to the endpoints of `services`."""
    prefixes = {endpoint_prefix(data / service) for service in services}
    endpoints = json.loads((data / "endpoints.json").read_text(encoding="utf-8"))
    target.write_text(json.dumps(trimmed_endpoints(endpoints, prefixes)), encoding="utf-8")


def link_trimmed(source: Path, target: Path, services: set[str]) -> None:
    """At `target`, botocore as the layer ships it, made of links into the installed botocore at `source` (for the
    bench and the tests, which run the dev venv's botocore): its code and shared data files, the data of
    `services`, and endpoints.json cut as `trim` cuts it (written, not linked)."""
    target.mkdir()
    for entry in source.iterdir():
        if entry.name != "data":
            (target / entry.name).symlink_to(entry)
    data = target / "data"
    data.mkdir()
    for entry in (source / "data").iterdir():
        if entry.name == "endpoints.json":
            write_trimmed_endpoints(source / "data", services, data / entry.name)
        elif not entry.is_dir() or entry.name in services:
            (data / entry.name).symlink_to(entry)


if __name__ == "__main__":
    trim(Path(sys.argv[1]), listed_services())
